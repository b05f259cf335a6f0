//! HTTPS end to end, with a CA and certificates made at run time (rcgen):
//! the API flow (an event, a plan pushed, a gate check) through the
//! client with `--ca`, a sidecar following the control plane over TLS,
//! and the refusals — a client trusting another CA, a certificate for
//! another name, plain HTTP to the TLS port — each with a clear error.

use crate::common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use seawall_server::client::{Client, ClientError};
use seawall_server::{AppState, Server, ServerError, TlsConfig};
use seawall_sidecar::{Config, Control, Sidecar};
use serde_json::{Value, json};

/// A CA and a server certificate it signed, as PEM files in a directory.
pub struct Pki {
    /// The CA's certificate.
    pub ca: PathBuf,
    /// The server's certificate chain and key.
    pub tls: TlsConfig,
}

impl Pki {
    /// A CA named `ca_name` and a certificate for `names` (DNS names or IP
    /// addresses) it signed, written under `dir` with `tag` in the names.
    pub fn new(dir: &Path, tag: &str, ca_name: &str, names: &[&str]) -> Pki {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca = rcgen::CertificateParams::new(Vec::new()).expect("CA params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, ca_name);
        let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
        let issuer = rcgen::Issuer::new(ca, &ca_key);
        let key = rcgen::KeyPair::generate().expect("server key");
        let params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .expect("server params");
        let cert = params.signed_by(&key, &issuer).expect("server certificate");
        let write = |name: &str, text: String| {
            let path = dir.join(format!("{tag}-{name}"));
            std::fs::write(&path, text).expect("write PEM");
            path
        };
        Pki {
            ca: write("ca.pem", ca_cert.pem()),
            tls: TlsConfig {
                cert: write("server.pem", cert.pem()),
                key: write("server.key", key.serialize_pem()),
            },
        }
    }
}

/// An HTTPS server over SQLite in `dir`: its address, the admin token, a
/// stop switch and the task.
async fn start_tls(
    dir: &Path,
    tls: &TlsConfig,
) -> (
    SocketAddr,
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), ServerError>>,
) {
    start_tls_with(dir, tls, seawall_server::TransportLimits::default()).await
}

async fn start_tls_with(
    dir: &Path,
    tls: &TlsConfig,
    limits: seawall_server::TransportLimits,
) -> (
    SocketAddr,
    String,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), ServerError>>,
) {
    let store = seawall_store::open(&seawall_store::StoreSpec::Sqlite(dir.join("seawall.db")))
        .await
        .expect("open store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = Server::with_state(listener, AppState::new(store, dir))
        .await
        .expect("server")
        .with_tls(tls)
        .expect("the certificate and key load")
        .with_transport(limits);
    assert!(server.is_tls());
    let admin = server
        .bootstrap_token()
        .expect("first start")
        .secret
        .clone();
    let addr = server.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    (addr, admin, stop, running)
}

fn rules(count: f64, note: &str) -> Value {
    json!({
        "rules": {
            "version": 1,
            "resources": [{
                "name": "create-order",
                "routes": [{"method": "POST", "path": "/api/orders"}],
                "flow": [{"id": "create-order.qps", "count": count}]
            }]
        },
        "note": note,
    })
}

async fn put_rules(client: &Client, count: f64, note: &str) {
    let body = serde_json::to_vec(&rules(count, note)).expect("json");
    let r = client
        .send(
            Method::PUT,
            "/api/v1/guard/services/order-api/rules",
            Some(("application/json", body.into())),
        )
        .await
        .expect("put rules over TLS");
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

/// Waits until the control plane has `instance`'s report of `version`.
async fn until_reported(client: &Client, instance: &str, version: u64) {
    let started = Instant::now();
    loop {
        let r = client
            .get("/api/v1/guard/services/order-api/sidecars")
            .await
            .expect("sidecars");
        let v: Value = r.json().expect("json");
        let reported = v["sidecars"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["instance"] == instance && s["applied_version"] == version);
        if reported {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no report of version {version} from {instance}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_and_a_following_sidecar_work_over_tls() {
    let dir = common::TempDir::new();
    let pki = Pki::new(
        dir.path(),
        "good",
        "seawall test CA",
        &["localhost", "127.0.0.1"],
    );
    let (addr, admin_token, stop, running) = start_tls(dir.path(), &pki.tls).await;
    let base = format!("https://localhost:{}", addr.port());
    let admin = Client::new_with_ca(&base, Some(&pki.ca))
        .expect("client")
        .with_token(&admin_token);

    // The API flow: an event, a plan pushed, a gate check.
    let r = admin
        .post_json(
            "/api/v1/events",
            &json!({"slug": "carnival", "name": "Carnival"}),
        )
        .await
        .expect("create the event over TLS");
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = admin
        .post_json(
            "/api/v1/events/carnival/plans",
            &json!({"file_name": "plan.yaml", "text": common::CARNIVAL}),
        )
        .await
        .expect("push a plan over TLS");
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = admin
        .post_json(
            "/api/v1/gate/check",
            &json!({"service": "order-svc", "kind": "release", "actor": "ci", "change_ref": "!1"}),
        )
        .await
        .expect("gate check over TLS");
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let answer: Value = r.json().expect("json");
    assert!(answer["allowed"].is_boolean(), "{answer}");

    // The same server by address: the certificate names 127.0.0.1 too.
    let by_ip = Client::new_with_ca(&format!("https://{addr}"), Some(&pki.ca))
        .expect("client")
        .get("/healthz")
        .await
        .expect("healthz by address");
    assert_eq!(by_ip.status, StatusCode::OK);

    // A sidecar following over TLS: primed at start, then each new
    // version applied and reported back.
    put_rules(&admin, 1000.0, "open").await;
    let mut config = Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        "http://127.0.0.1:9",
        dir.path().join("sidecar-rules.json"),
    )
    .expect("config");
    let control = Control::new_with_ca(&base, "order-api", &admin_token, "tls-1", Some(&pki.ca))
        .expect("an https control plane");
    assert!(control.is_tls());
    config.control = Some(control);
    let sidecar = Sidecar::bind(config).await.expect("the sidecar starts");
    let (stop_sidecar, sidecar_stopped) = tokio::sync::oneshot::channel::<()>();
    let sidecar = tokio::spawn(sidecar.run(async move {
        let _ = sidecar_stopped.await;
    }));
    until_reported(&admin, "tls-1", 1).await;
    put_rules(&admin, 0.0, "close").await;
    until_reported(&admin, "tls-1", 2).await;
    let kept = std::fs::read_to_string(dir.path().join("sidecar-rules.json")).expect("rules file");
    assert!(kept.contains("\"version\": 2"), "{kept}");
    let _ = stop_sidecar.send(());
    tokio::time::timeout(Duration::from_secs(15), sidecar)
        .await
        .expect("the sidecar stops")
        .expect("task");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("the server stops")
        .expect("task")
        .expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_or_misnamed_certificates_and_plain_http_are_refused() {
    let dir = common::TempDir::new();
    let pki = Pki::new(dir.path(), "good", "seawall test CA", &["localhost"]);
    let other = Pki::new(dir.path(), "other", "another CA", &["localhost"]);
    let (addr, admin_token, stop, running) = start_tls(dir.path(), &pki.tls).await;
    let port = addr.port();

    // A client trusting another CA: a TLS error saying to pass --ca.
    let err = Client::new_with_ca(&format!("https://localhost:{port}"), Some(&other.ca))
        .expect("client")
        .with_token(&admin_token)
        .get("/api/v1/events")
        .await
        .expect_err("another CA");
    let ClientError::Tls { message, .. } = &err else {
        panic!("not a TLS error: {err}");
    };
    assert!(message.contains("--ca"), "{message}");

    // The right CA, but a name the certificate does not carry.
    let err = Client::new_with_ca(&format!("https://127.0.0.1:{port}"), Some(&pki.ca))
        .expect("client")
        .get("/healthz")
        .await
        .expect_err("a name the certificate is not for");
    assert!(
        matches!(&err, ClientError::Tls { message, .. } if message.contains("host name")),
        "{err}"
    );

    // Plain HTTP to the TLS port gets no API answer.
    let plain = Client::new(&format!("http://localhost:{port}"))
        .expect("client")
        .with_timeout(Duration::from_secs(10))
        .get("/healthz")
        .await;
    match plain {
        Ok(r) => assert_ne!(
            r.status,
            StatusCode::OK,
            "plain HTTP served on the TLS port"
        ),
        // The TLS alert is not HTTP: the error says to try https.
        Err(e) if e.to_string().contains("invalid HTTP") => {
            assert!(e.to_string().contains("give https://"), "{e}");
        }
        Err(_) => {}
    }

    // A certificate file that is not one: the server does not start.
    let broken = TlsConfig {
        cert: pki.ca.with_file_name("missing.pem"),
        key: pki.tls.key.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let store = seawall_store::open(&seawall_store::StoreSpec::Sqlite(
        dir.path().join("seawall.db"),
    ))
    .await
    .expect("store");
    let err = Server::with_state(listener, AppState::new(store, dir.path()))
        .await
        .expect("server")
        .with_tls(&broken)
        .expect_err("no certificate file");
    assert!(err.to_string().contains("missing.pem"), "{err}");
    // A key that does not go with the certificate.
    let mismatched = TlsConfig {
        cert: pki.tls.cert.clone(),
        key: other.tls.key.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let store = seawall_store::open(&seawall_store::StoreSpec::Sqlite(
        dir.path().join("seawall.db"),
    ))
    .await
    .expect("store");
    let err = Server::with_state(listener, AppState::new(store, dir.path()))
        .await
        .expect("server")
        .with_tls(&mismatched)
        .expect_err("a key from another certificate");
    assert!(err.to_string().contains("does not go with"), "{err}");

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("the server stops")
        .expect("task")
        .expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_connections_are_held_to_the_header_timeout_and_the_cap() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = common::TempDir::new();
    let pki = Pki::new(dir.path(), "good", "seawall test CA", &["localhost"]);
    let limits = seawall_server::TransportLimits {
        header_timeout: Duration::from_millis(500),
        max_connections: 2,
        ..seawall_server::TransportLimits::default()
    };
    let (addr, _admin, stop, running) = start_tls_with(dir.path(), &pki.tls, limits).await;

    // A client that opens a connection and never starts the handshake,
    // and one that stops halfway through its ClientHello, are closed after
    // the header timeout.
    let mut silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut half = tokio::net::TcpStream::connect(addr).await.expect("connect");
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .expect("the start of a ClientHello");
    let started = Instant::now();
    for s in [&mut silent, &mut half] {
        let mut buf = [0u8; 256];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "an unfinished handshake was not closed");
    }
    assert!(started.elapsed() >= Duration::from_millis(400));

    // With both slots held, a third connection is closed without a
    // handshake; a served client gets in once a slot is free.
    // (The server lets go of a slot just after closing its socket.)
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for s in &mut held {
        let mut buf = [0u8; 16];
        let open = tokio::time::timeout(Duration::from_millis(50), s.read(&mut buf)).await;
        assert!(open.is_err(), "a connection within the cap was closed");
    }
    let err = Client::new_with_ca(&format!("https://localhost:{}", addr.port()), Some(&pki.ca))
        .expect("client")
        .get("/healthz")
        .await
        .expect_err("over the cap");
    assert!(
        matches!(err, ClientError::Tls { .. } | ClientError::Http { .. }),
        "{err}"
    );
    drop(held);
    let started = Instant::now();
    loop {
        let r = Client::new_with_ca(&format!("https://localhost:{}", addr.port()), Some(&pki.ca))
            .expect("client")
            .get("/healthz")
            .await;
        if r.as_ref().is_ok_and(|r| r.status == StatusCode::OK) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "{r:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(15), running)
        .await
        .expect("the server stops")
        .expect("task")
        .expect("clean stop");
}
