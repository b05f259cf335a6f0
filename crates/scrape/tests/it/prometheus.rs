//! The Prometheus source against Debian's real `prometheus` binary on
//! 127.0.0.1, scraping a real sidecar every second; and the client's
//! headers and failures against real sockets.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::post;
use seawall_scrape::scrape::{ScrapeOptions, Scraper};
use seawall_scrape::templates::{Rates, Subject, queries_for};
use seawall_scrape::{PromClient, PromConfig, PromError, QueryData};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use crate::common::{Stack, free_port, serve};

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// A Prometheus process; killed when dropped.
struct Prometheus {
    url: String,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts Prometheus scraping `admin` every second and waits (at most
    /// 30 s) for `/-/ready`.
    async fn start(admin: std::net::SocketAddr) -> Self {
        assert!(
            Path::new(PROMETHEUS).exists(),
            "{PROMETHEUS} is missing: install Debian's `prometheus` package \
             (`apt-get install prometheus`; .ci/run installs it)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: sidecar\n    static_configs:\n      \
                 - targets: ['{admin}']\n        labels: {{service: pay-svc}}\n"
            ),
        )
        .expect("write config");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start prometheus");
        let me = Self {
            url: format!("http://127.0.0.1:{port}"),
            _child: child,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
                && get_status(port, "/-/ready").await == Some(200);
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 30 s; its log: {}",
                std::fs::read_to_string(me._dir.path().join("prometheus.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        me
    }

    fn client(&self) -> PromClient {
        PromClient::new(PromConfig::new(&self.url)).expect("client")
    }
}

/// A plain GET's status (None when there is no answer).
async fn get_status(port: u16, path: &str) -> Option<u16> {
    use http_body_util::{BodyExt, Empty};
    let client: hyper_util::client::legacy::Client<_, Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let uri: http::Uri = format!("http://127.0.0.1:{port}{path}").parse().ok()?;
    let resp = tokio::time::timeout(Duration::from_secs(2), client.get(uri))
        .await
        .ok()?
        .ok()?;
    let status = resp.status().as_u16();
    let _ = BodyExt::collect(resp.into_body()).await;
    Some(status)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Waits (bounded) until Prometheus has `query` with at least one series.
async fn wait_for_series(prom: &PromClient, query: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = prom.query(query, None).await
            && matches!(&r.data, QueryData::Vector(v) if !v.is_empty())
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {query} in Prometheus within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_scrape_and_prometheus_give_the_same_qps() {
    let stack = Arc::new(Stack::start().await);
    stack.send("/pay", 1, 200).await;
    let prometheus = Prometheus::start(stack.admin).await;
    let prom = prometheus.client();
    wait_for_series(&prom, "seawall_sidecar_requests_total{resource=\"pay\"}").await;

    // Steady traffic: 100 requests a second for 9 s, one in five to the
    // resource whose upstream answers 500.
    const RATE: u64 = 100;
    let load = {
        let stack = Arc::clone(&stack);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
            let mut inflight = tokio::task::JoinSet::new();
            for i in 0..RATE * 9 {
                tick.tick().await;
                let stack = Arc::clone(&stack);
                let path = if i % 5 == 4 { "/boom" } else { "/pay" };
                inflight.spawn(async move { stack.get(path).await });
                while inflight.len() > 64 {
                    let _ = inflight.join_next().await;
                }
            }
            while inflight.join_next().await.is_some() {}
        })
    };
    // Built-in: two scrapes 6 s apart in the middle of the traffic.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let scraper = Scraper::new(ScrapeOptions::default());
    let target = stack.target();
    let t0 = Instant::now();
    let before = scraper.scrape(&target).await.expect("scrape before");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after = scraper.scrape(&target).await.expect("scrape after");
    let t1 = Instant::now();
    let at = unix_now();
    let secs = (t1 - t0).as_secs_f64();
    let builtin = Rates::between(&before, &after, secs, &[("resource", "pay")])
        .expect("window")
        .figures();
    let builtin_qps = builtin.qps.expect("qps");
    let builtin_errors = Rates::between(&before, &after, secs, &[])
        .expect("window")
        .figures()
        .error_rate
        .expect("traffic");

    // Prometheus: the default template over the same 6 s.
    let queries = queries_for(Subject::Entry, "pay", [None, None, None]).expect("queries");
    let query = queries.qps.replace("[1m]", "[6s]");
    let answer = prom.query(&query, Some(at)).await.expect("query");
    let prom_qps = answer.single_value().expect("one series");
    load.await.expect("load");

    let diff = (prom_qps - builtin_qps).abs() / builtin_qps;
    assert!(
        diff < 0.05,
        "built-in {builtin_qps:.2} qps vs Prometheus {prom_qps:.2} qps ({:.1} % apart)",
        diff * 100.0
    );
    assert!(builtin_qps > RATE as f64 * 0.4, "{builtin_qps}");
    eprintln!(
        "same traffic: built-in {builtin_qps:.2} qps, Prometheus {prom_qps:.2} qps ({:.2} % apart)",
        diff * 100.0
    );

    // The other defaults run on real Prometheus and give numbers too.
    let over_6s = |q: &str| {
        let q = q.replace("[1m]", "[6s]");
        let prom = &prom;
        async move {
            prom.query(&q, Some(at))
                .await
                .expect("query")
                .single_value()
        }
    };
    let p99 = over_6s(&queries.p99_ms).await.expect("p99");
    assert!(p99 > 0.0 && p99.is_finite(), "{p99}");
    // The sidecar makes every result's series up front: with traffic and
    // no error, the ratio is a real zero.
    assert_eq!(over_6s(&queries.error_rate).await, Some(0.0));
    // By service (the target label the scrape configuration gave): both
    // resources, and the traffic-weighted error rate of both sources.
    let by_service = queries_for(Subject::Service, "pay-svc", [None, None, None]).expect("q");
    let svc = over_6s(&by_service.qps).await.expect("service qps");
    assert!(svc >= prom_qps * 1.2, "{svc} > {prom_qps}");
    let prom_errors = over_6s(&by_service.error_rate).await.expect("error rate");
    let apart = (prom_errors - builtin_errors).abs() / builtin_errors;
    eprintln!(
        "same traffic: error rate built-in {builtin_errors:.4}, Prometheus {prom_errors:.4} ({:.2} % apart)",
        apart * 100.0
    );
    assert!(apart < 0.05, "{builtin_errors} vs {prom_errors}");
    assert!((builtin_errors - 0.2).abs() < 0.02, "{builtin_errors}");

    // A funnel step's or query alert's PromQL over the same two pages
    // (`seawall_scrape::eval`) against Prometheus on the same query.
    #[cfg(feature = "promql")]
    {
        let pages = [seawall_scrape::eval::PagePair {
            instance: target.name(),
            before: &before,
            after: &after,
            seconds: secs,
        }];
        let requests = "seawall_sidecar_requests_total";
        for q in [
            format!("sum(rate({requests}{{resource=\"pay\"}}[6s]))"),
            format!(
                "sum(rate({requests}{{result=~\"upstream_5xx|timeout\"}}[6s])) / sum(rate({requests}[6s]))"
            ),
            format!("sum(increase({requests}{{resource!~\"pa\"}}[6s])) / 6"),
        ] {
            let ours = seawall_scrape::eval::evaluate(&q, &pages)
                .expect("supported")
                .expect("data");
            let theirs = prom
                .query(&q, Some(at))
                .await
                .expect("query")
                .single_value()
                .expect("one series");
            let apart = (ours - theirs).abs() / theirs;
            eprintln!(
                "{q}: built-in {ours:.4}, Prometheus {theirs:.4} ({:.2} % apart)",
                apart * 100.0
            );
            assert!(apart < 0.05, "{q}: {ours} vs {theirs}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_errors_keep_their_text() {
    let stack = Stack::start().await;
    stack.send("/pay", 1, 200).await;
    stack.send("/boom", 1, 500).await;
    let prometheus = Prometheus::start(stack.admin).await;
    let prom = prometheus.client();

    let e = prom
        .query("sum(rate(", None)
        .await
        .expect_err("syntax error");
    match &e {
        PromError::Api {
            status,
            error_type,
            error,
        } => {
            assert_eq!(*status, 400);
            assert_eq!(error_type, "bad_data");
            assert!(error.contains("parse error"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("400 bad_data"), "{e}");

    // Many-to-many matching fails at execution: 422.
    wait_for_series(&prom, "seawall_sidecar_requests_total").await;
    let e = prom
        .query(
            "seawall_sidecar_requests_total + on() seawall_sidecar_requests_total",
            None,
        )
        .await
        .expect_err("execution error");
    assert!(
        matches!(&e, PromError::Api { status: 422, error_type, .. } if error_type == "execution"),
        "{e:?}"
    );

    // A scalar and a string come back typed.
    let r = prom
        .query("scalar(vector(1.5))", None)
        .await
        .expect("scalar");
    assert_eq!(r.single_value(), Some(1.5));
    let r = prom.query("1/0", None).await.expect("inf");
    assert_eq!(r.single_value(), Some(f64::INFINITY));
    let r = prom.query("0/0", None).await.expect("nan");
    assert!(r.single_value().is_some_and(f64::is_nan));
    let r = prom.query("\"hi\"", None).await.expect("string");
    assert!(matches!(r.data, QueryData::String { ref value, .. } if value == "hi"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_sends_token_and_tenant_and_reports_unreachable_and_slow_servers() {
    let seen: Arc<Mutex<Vec<(HeaderMap, String)>>> = Arc::default();
    let app = {
        let seen = Arc::clone(&seen);
        Router::new().route(
            "/prom/api/v1/query",
            post(move |headers: HeaderMap, body: String| {
                let seen = Arc::clone(&seen);
                async move {
                    let slow = body.contains("slow");
                    if let Ok(mut s) = seen.lock() {
                        s.push((headers, body));
                    }
                    if slow {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    (
                        [("content-type", "application/json")],
                        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"42"]}]},"warnings":["w"]}"#,
                    )
                }
            }),
        )
    };
    let (addr, server) = serve(app).await;
    let mut config = PromConfig::new(format!("http://{addr}/prom"));
    config.bearer_token = Some("s3cret".into());
    config.org_id = Some("tenant-1".into());
    config.timeout = Duration::from_millis(500);
    let client = PromClient::new(config).expect("client");
    let r = client
        .query("sum(rate(x{a=\"b c&d\"}[1m]))", Some(1_700_000_000.0))
        .await
        .expect("answer");
    assert_eq!(r.single_value(), Some(42.0));
    assert_eq!(r.warnings, ["w"]);
    {
        let seen = seen.lock().expect("lock");
        let (headers, body) = &seen[0];
        assert_eq!(headers["authorization"], "Bearer s3cret");
        assert_eq!(headers["x-scope-orgid"], "tenant-1");
        assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
        let form: Vec<(String, String)> = url_decode(body);
        assert!(
            form.contains(&("query".into(), "sum(rate(x{a=\"b c&d\"}[1m]))".into())),
            "{form:?}"
        );
        assert!(
            form.contains(&("time".into(), "1700000000.000".into())),
            "{form:?}"
        );
    }
    let started = std::time::Instant::now();
    let e = client.query("slow", None).await.expect_err("timeout");
    assert!(matches!(e, PromError::Timeout { ms: 500, .. }), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    server.abort();

    let gone = PromClient::new(PromConfig::new(format!("http://127.0.0.1:{}", free_port())))
        .expect("client");
    let e = gone.query("up", None).await.expect_err("unreachable");
    assert!(matches!(e, PromError::Http { .. }), "{e:?}");
    assert!(e.to_string().contains("onnect"), "{e}");
}

fn url_decode(body: &str) -> Vec<(String, String)> {
    body.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| {
            let v = percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned();
            (k.to_owned(), v)
        })
        .collect()
}

/// A CA and a server certificate for 127.0.0.1 it signed: (CA PEM,
/// server chain, server key).
fn pki() -> (
    String,
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::new()).expect("CA params");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "scrape test CA");
    let ca_cert = ca.self_signed(&ca_key).expect("CA certificate");
    let issuer = rcgen::Issuer::new(ca, &ca_key);
    let key = rcgen::KeyPair::generate().expect("server key");
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .expect("server params")
        .signed_by(&key, &issuer)
        .expect("server certificate");
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
    (ca_cert.pem(), vec![cert.der().clone()], key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_prometheus_is_checked_against_the_ca_file() {
    use tokio::io::AsyncWriteExt;

    let (ca_pem, chain, key) = pki();
    let config = rustls::ServerConfig::builder_with_provider(seawall_api::client::ring_provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if !crate::common::read_head(&mut tls).await {
                    return;
                }
                let body =
                    r#"{"status":"success","data":{"resultType":"scalar","result":[1,"7"]}}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).expect("write CA");

    let mut config = PromConfig::new(format!("https://{addr}"));
    config.ca_file = Some(ca);
    let r = PromClient::new(config)
        .expect("client")
        .query("up", None)
        .await
        .expect("answer over TLS");
    assert_eq!(r.single_value(), Some(7.0));

    // Without the CA the certificate is not trusted: the error says so.
    let e = PromClient::new(PromConfig::new(format!("https://{addr}")))
        .expect("client")
        .query("up", None)
        .await
        .expect_err("untrusted");
    assert!(matches!(e, PromError::Http { .. }), "{e:?}");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    server.abort();
}
