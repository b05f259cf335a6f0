//! Guard rule distribution end to end: rules derived from the plan and
//! measured capacity, adjusted by a commander, versioned; the long poll;
//! and a real sidecar (`seawall_sidecar` with `--control`) in front of a
//! real upstream following a change within a second, reporting what it
//! applied, keeping its rules while the control plane is down and picking
//! up the next version after a restart.

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{TestServer, code, event_with_plan, run_json};
use http::{Method, StatusCode};
use seawall_server::client::Client;
use seawall_sidecar::{Config, Control, Sidecar};
use seawall_store::Role;
use serde_json::{Value, json};

/// The rules a commander sets: create-order limited to `count` QPS.
fn limit(count: f64) -> Value {
    json!({
        "version": 1,
        "resources": [{
            "name": "create-order",
            "routes": [{"method": "POST", "path": "/api/orders"}],
            "flow": [{"id": "create-order.qps", "count": count}]
        }]
    })
}

async fn put_rules(server: &TestServer, token: &str, count: f64) -> (StatusCode, Value) {
    let body = json!({"rules": limit(count), "note": format!("limit {count}")});
    let r = server
        .api(Some(token))
        .checked(
            Method::PUT,
            "/api/v1/guard/services/order-api/rules",
            Some((
                "application/json",
                serde_json::to_vec(&body).expect("json").into(),
            )),
        )
        .await;
    (r.status, r.json().unwrap_or(Value::Null))
}

#[tokio::test]
async fn derive_versions_and_long_poll() {
    let server = TestServer::start().await;
    event_with_plan(&server, "carnival").await;
    let admin = server.admin();

    // Derived from the declared capacity: 2 × 10 QPS × 0.9.
    let r = admin
        .post("/api/v1/events/carnival/guard/derive", &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let d: Value = r.json().expect("json");
    assert_eq!(d["measured"], "none");
    assert_eq!(
        d["services"],
        json!([{"service": "order-api", "version": 1, "changed": true}])
    );
    let v1: Value = admin
        .get("/api/v1/guard/services/order-api/versions/1")
        .await
        .json()
        .expect("json");
    assert_eq!(v1["rules"]["version"], 1);
    assert_eq!(v1["source"], "derived");
    let flow = &v1["rules"]["resources"][0]["flow"][0];
    assert_eq!(flow["id"], "create-order.qps");
    assert_eq!(flow["count"], 18.0);

    // Same plan, same runs: nothing new. A measured knee changes the limit.
    let d: Value = admin
        .post("/api/v1/events/carnival/guard/derive", &json!({}))
        .await
        .json()
        .expect("json");
    assert_eq!(d["services"][0]["changed"], false);
    let r = admin
        .post_raw(
            "/api/v1/events/carnival/runs",
            "application/json",
            run_json(50.0, 30.0),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let d: Value = admin
        .post(
            "/api/v1/events/carnival/guard/derive",
            &json!({"safety": 0.5}),
        )
        .await
        .json()
        .expect("json");
    assert_eq!(d["services"][0]["version"], 2);
    assert_ne!(d["measured"], "none");
    let v2: Value = admin
        .get("/api/v1/guard/services/order-api/versions/2")
        .await
        .json()
        .expect("json");
    assert_eq!(v2["rules"]["resources"][0]["flow"][0]["count"], 25.0);
    assert!(v2["note"].as_str().expect("note").contains("safety 0.5"));

    // The long poll: at once when `since` differs, 304 after `wait`, and
    // woken by a new version.
    let viewer = server.token("screen", Role::Viewer, None).await;
    let client = Client::new(&server.base)
        .expect("client")
        .with_token(&viewer)
        .with_timeout(Duration::from_secs(30));
    let r = client
        .get("/api/v1/guard/rules?service=order-api&since=0&wait=0")
        .await
        .expect("poll");
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json::<Value>().expect("json")["version"], 2);
    let r = client
        .get("/api/v1/guard/rules?service=order-api&since=2&wait=1")
        .await
        .expect("poll");
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    let r = client
        .get("/api/v1/guard/rules?service=no-such&since=0&wait=0")
        .await
        .expect("poll");
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);

    let waiting = {
        let client = client.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let r = client
                .get("/api/v1/guard/rules?service=order-api&since=2&wait=30")
                .await
                .expect("poll");
            (r, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, stored) = put_rules(&server, &server.admin, 7.0).await;
    assert_eq!(status, StatusCode::CREATED, "{stored}");
    assert_eq!(stored["version"], 3);
    assert_eq!(stored["source"], "adjusted");
    let (r, waited) = waiting.await.expect("task");
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json::<Value>().expect("json")["version"], 3);
    assert!(
        waited < Duration::from_secs(10),
        "woken, not timed out: {waited:?}"
    );

    let h: Value = admin
        .get("/api/v1/guard/services/order-api/versions")
        .await
        .json()
        .expect("json");
    let sources: Vec<&str> = h["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["source"].as_str().expect("source"))
        .collect();
    assert_eq!(sources, ["derived", "derived", "adjusted"]);

    // Every change is in the audit log.
    let audit: Value = admin.get("/api/v1/audit").await.json().expect("json");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("rules."))
        .collect();
    assert_eq!(actions, ["rules.derive", "rules.derive", "rules.adjust"]);
}

#[tokio::test]
async fn bad_rules_and_roles_change_nothing() {
    let server = TestServer::start().await;
    event_with_plan(&server, "carnival").await;
    let (status, _) = put_rules(&server, &server.admin, 5.0).await;
    assert_eq!(status, StatusCode::CREATED);
    let admin = server.admin();
    let put = |body: Value| {
        let api = server.admin();
        async move {
            api.checked(
                Method::PUT,
                "/api/v1/guard/services/order-api/rules",
                Some((
                    "application/json",
                    serde_json::to_vec(&body).expect("json").into(),
                )),
            )
            .await
        }
    };
    // A rule the guard refuses, an unknown field, no note.
    let bad_rule =
        json!({"rules": {"version": 1, "resources": [{"name": "a", "flows": []}]}, "note": "x"});
    let r = put(bad_rule).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&r), "invalid_rules");
    let r = put(json!({"rules": limit(1.0), "note": "x", "force": true})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = put(json!({"rules": limit(1.0), "note": "  "})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&r), "invalid_note");
    let r = admin
        .post(
            "/api/v1/events/carnival/guard/derive",
            &json!({"safety": 1.5}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&r), "invalid_safety");
    let r = admin
        .post("/api/v1/events/no-such/guard/derive", &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Roles: viewers read and poll but do not change; ci only asks the gate.
    let viewer = server.token("screen", Role::Viewer, None).await;
    let ci = server.token("pipeline", Role::Ci, Some("carnival")).await;
    let (status, _) = put_rules(&server, &viewer, 9.0).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let r = server
        .api(Some(&viewer))
        .post("/api/v1/events/carnival/guard/derive", &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = server
        .api(Some(&ci))
        .get("/api/v1/guard/services/order-api/versions")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = server
        .api(Some(&viewer))
        .get("/api/v1/guard/services/order-api/versions")
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let h: Value = r.json().expect("json");
    assert_eq!(h["versions"].as_array().expect("versions").len(), 1);
    let r = server.api(None).get("/api/v1/guard/services").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

pub(crate) async fn upstream() -> SocketAddr {
    let app = axum::Router::new().fallback(|| async { "ok" });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// The sidecar's rule version in force (admin `/status`).
pub(crate) async fn applied_version(admin: SocketAddr) -> Option<u64> {
    let r = Client::new(&format!("http://{admin}"))
        .ok()?
        .get("/status")
        .await
        .ok()?;
    let v: Value = r.json().ok()?;
    v["rules"]["version"].as_u64().or(v["version"].as_u64())
}

/// The sidecar's `seawall_sidecar_rules_reload_errors_total` (0 when the
/// admin port does not answer).
async fn reload_errors(admin: SocketAddr) -> u64 {
    sidecar_counter(admin, "seawall_sidecar_rules_reload_errors_total").await
}

/// One of the sidecar's counters (0 when the admin port does not answer).
async fn sidecar_counter(admin: SocketAddr, name: &str) -> u64 {
    let Ok(client) = Client::new(&format!("http://{admin}")) else {
        return 0;
    };
    let Ok(r) = client.get("/metrics").await else {
        return 0;
    };
    String::from_utf8_lossy(&r.body)
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Waits until the sidecar shows `version`; how long that took.
pub(crate) async fn until_applied(admin: SocketAddr, version: u64, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if applied_version(admin).await == Some(version) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "the sidecar did not apply version {version} within {limit:?} (has {:?})",
            applied_version(admin).await
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn post_order(proxy: SocketAddr) -> StatusCode {
    Client::new(&format!("http://{proxy}"))
        .expect("client")
        .send(
            Method::POST,
            "/api/orders",
            Some(("application/json", "{}".into())),
        )
        .await
        .expect("request through the sidecar")
        .status
}

/// A server of our own over a SQLite file in `dir`, on `addr`: the
/// restart below needs the same address and database.
pub(crate) async fn start_server(
    dir: &std::path::Path,
    addr: SocketAddr,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), seawall_server::ServerError>>,
) {
    start_server_with(dir, addr, None).await
}

/// [`start_server`], scaling through `kube` if given.
pub(crate) async fn start_server_with(
    dir: &std::path::Path,
    addr: SocketAddr,
    kube: Option<seawall_kube::KubeClient>,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), seawall_server::ServerError>>,
) {
    let store = seawall_store::open(&seawall_store::StoreSpec::Sqlite(dir.join("seawall.db")))
        .await
        .expect("open store");
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    let mut state = seawall_server::AppState::new(store, dir);
    if let Some(kube) = kube {
        state = state.with_kube(kube);
    }
    let server = seawall_server::Server::with_state(listener, state)
        .await
        .expect("server");
    let addr = server.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    (addr, tx, handle)
}

pub(crate) async fn put_as(base: &str, token: &str, count: f64, note: &str) -> StatusCode {
    put_doc(base, token, limit(count), note).await
}

async fn put_doc(base: &str, token: &str, rules: Value, note: &str) -> StatusCode {
    let body = json!({"rules": rules, "note": note});
    let r = Client::new(base)
        .expect("client")
        .with_token(token)
        .send(
            Method::PUT,
            "/api/v1/guard/services/order-api/rules",
            Some((
                "application/json",
                serde_json::to_vec(&body).expect("json").into(),
            )),
        )
        .await
        .expect("put");
    r.status
}

/// A following sidecar in front of a fresh upstream, started (the start
/// primes its rules from the control plane); its proxy and admin addresses
/// and how to stop it.
pub(crate) struct Following {
    pub(crate) proxy: SocketAddr,
    pub(crate) admin: SocketAddr,
    pub(crate) stop: tokio::sync::oneshot::Sender<()>,
    pub(crate) running: tokio::task::JoinHandle<seawall_sidecar::ShutdownReport>,
}

pub(crate) async fn follow(
    base: &str,
    token: &str,
    instance: &str,
    rules_path: &std::path::Path,
) -> Following {
    let up = upstream().await;
    let mut config = Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        &format!("http://{up}"),
        rules_path,
    )
    .expect("config");
    config.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
    config.control = Some(Control::new(base, "order-api", token, instance).expect("control"));
    let sidecar = Sidecar::bind(config).await.expect("the sidecar starts");
    let proxy = sidecar.local_addr().expect("addr");
    let admin = sidecar.admin_addr().expect("admin");
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sidecar.run(async move {
        let _ = stop_rx.await;
    }));
    Following {
        proxy,
        admin,
        stop,
        running,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_follows_within_a_second_and_survives_a_restart() {
    let dir = common::TempDir::new();
    let (addr, stop_server, serving) =
        start_server(dir.path(), "127.0.0.1:0".parse().expect("addr")).await;
    let base = format!("http://{addr}");
    let admin_token = std::fs::read_to_string(dir.path().join("admin-token"))
        .expect("the first start writes admin-token")
        .trim()
        .to_owned();
    let admin = Client::new(&base).expect("client").with_token(&admin_token);
    let r = admin
        .post_json(
            "/api/v1/tokens",
            // The least a sidecar needs: its own service's rules.
            &json!({"name": "sidecar", "role": "sidecar", "service": "order-api"}),
        )
        .await
        .expect("token");
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let reader = r.json::<Value>().expect("json")["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    assert_eq!(
        put_as(&base, &admin_token, 1000.0, "open").await,
        StatusCode::CREATED
    );

    let Following {
        proxy,
        admin: sidecar_admin,
        stop: stop_sidecar,
        running,
    } = follow(
        &base,
        &reader,
        "test-1",
        &dir.path().join("sidecar-rules.json"),
    )
    .await;
    // Primed at start from the control plane.
    assert_eq!(applied_version(sidecar_admin).await, Some(1));
    assert_eq!(post_order(proxy).await, StatusCode::OK);

    // A change is in force within a second.
    assert_eq!(
        put_as(&base, &admin_token, 0.0, "close").await,
        StatusCode::CREATED
    );
    let took = until_applied(sidecar_admin, 2, Duration::from_secs(10)).await;
    assert!(took < Duration::from_secs(1), "applied after {took:?}");
    assert_eq!(post_order(proxy).await, StatusCode::TOO_MANY_REQUESTS);

    // It reports what it applied.
    let started = Instant::now();
    loop {
        let s: Value = admin
            .get("/api/v1/guard/services/order-api/sidecars")
            .await
            .expect("sidecars")
            .json()
            .expect("json");
        if s["sidecars"][0]["applied_version"] == 2 {
            assert_eq!(s["sidecars"][0]["instance"], "test-1");
            assert_eq!(s["sidecars"][0]["lagging"], false);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no report: {s}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // The control plane goes away: the rules in force stay. Waited for by
    // its signal (the sidecar's control-error counter moves once a poll
    // failed), not for a while.
    let failed_before =
        sidecar_counter(sidecar_admin, "seawall_sidecar_control_errors_total").await;
    let _ = stop_server.send(());
    serving.await.expect("task").expect("clean stop");
    let started = Instant::now();
    while sidecar_counter(sidecar_admin, "seawall_sidecar_control_errors_total").await
        <= failed_before
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the sidecar never noticed the control plane was gone"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(applied_version(sidecar_admin).await, Some(2));
    assert_eq!(post_order(proxy).await, StatusCode::TOO_MANY_REQUESTS);

    // Back on the same address and database: the next version arrives.
    let (_, stop_server, serving) = start_server(dir.path(), addr).await;
    assert_eq!(
        put_as(&base, &admin_token, 1000.0, "after the restart").await,
        StatusCode::CREATED
    );
    // Its retries back off to at most 5 s while the server is away.
    until_applied(sidecar_admin, 3, Duration::from_secs(15)).await;
    assert_eq!(post_order(proxy).await, StatusCode::OK);

    let _ = stop_sidecar.send(());
    let _ = running.await;
    let _ = stop_server.send(());
    let _ = serving.await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_the_sidecar_cannot_use_never_replaces_its_rules() {
    let dir = common::TempDir::new();
    let (addr, stop_server, serving) =
        start_server(dir.path(), "127.0.0.1:0".parse().expect("addr")).await;
    let base = format!("http://{addr}");
    let admin_token = std::fs::read_to_string(dir.path().join("admin-token"))
        .expect("admin-token")
        .trim()
        .to_owned();
    // Gray routing needs a gray upstream, which this sidecar has not got.
    let mut gray = limit(1000.0);
    gray["gray"] = json!({"id": "gray.v2", "whitelist": ["42"]});
    assert_eq!(
        put_doc(&base, &admin_token, gray.clone(), "gray").await,
        StatusCode::CREATED
    );

    let rules_path = dir.path().join("rules.json");
    // It starts (with no rules: everything passes) instead of failing.
    let Following {
        proxy,
        admin: sidecar_admin,
        stop: stop_sidecar,
        running,
    } = follow(&base, &admin_token, "test-2", &rules_path).await;
    assert_eq!(applied_version(sidecar_admin).await, Some(0));
    assert_eq!(post_order(proxy).await, StatusCode::OK);

    // A usable version comes in; a later unusable one is refused and the
    // file keeps the usable one.
    assert_eq!(
        put_as(&base, &admin_token, 0.0, "close").await,
        StatusCode::CREATED
    );
    until_applied(sidecar_admin, 2, Duration::from_secs(10)).await;
    let refused_before = reload_errors(sidecar_admin).await;
    assert_eq!(
        put_doc(&base, &admin_token, gray, "gray again").await,
        StatusCode::CREATED
    );
    // Wait for the sidecar to have fetched version 3 and refused it (its
    // reload-error counter moves), not for a while: then nothing changed.
    let started = Instant::now();
    while reload_errors(sidecar_admin).await <= refused_before {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the sidecar never refused version 3"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(applied_version(sidecar_admin).await, Some(2));
    assert_eq!(post_order(proxy).await, StatusCode::TOO_MANY_REQUESTS);
    let kept: Value =
        serde_json::from_str(&std::fs::read_to_string(&rules_path).expect("rules file"))
            .expect("JSON rules");
    assert_eq!(kept["version"], 2);
    assert!(kept.get("gray").is_none());

    let _ = stop_sidecar.send(());
    let _ = running.await;
    let _ = stop_server.send(());
    let _ = serving.await;
}
