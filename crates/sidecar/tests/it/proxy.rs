//! The proxy against real upstream servers on 127.0.0.1: headers both ways,
//! HTTP/2 on either side, streaming and 32 MiB bodies, an upstream that is
//! down (502) or slow (504). Each HTTP/1.1 test runs on the fast path and
//! on hyper's path (`Config::fast_path`).

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::{Path, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use bytes::Bytes;
use common::*;
use http_body_util::BodyExt;
use tokio::sync::Notify;

const PASS_THROUGH: &str = "version: 1\nresources: []\n";

/// What the upstream saw, as text: the request line, then `name: value` lines.
async fn echo(req: Request) -> String {
    let mut out = format!(
        "{} {} {:?}\n",
        req.method(),
        req.uri().path_and_query().map_or("/", |p| p.as_str()),
        req.version()
    );
    for (k, v) in req.headers() {
        out.push_str(&format!("{}: {}\n", k, v.to_str().unwrap_or("?")));
    }
    out
}

/// Answers with hop-by-hop headers that must not reach the client.
async fn hop_headers() -> Response {
    Response::builder()
        .header("connection", "x-up-secret")
        .header("x-up-secret", "1")
        .header("keep-alive", "timeout=5")
        .header("proxy-authenticate", "Basic")
        .header("x-up-kept", "yes")
        .body(AxumBody::from("hop"))
        .expect("response")
}

/// Hashes the request body as it streams in: `"<len> <fnv>"`.
async fn upload(req: Request) -> String {
    let mut body = req.into_body();
    let (mut len, mut h) = (0usize, Fnv::new());
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("frame").into_data() {
            len += data.len();
            h.update(&data);
        }
    }
    format!("{len} {:x}", h.0)
}

const CHUNK: usize = 64 * 1024;
const CHUNKS: usize = 512; // 32 MiB

/// 32 MiB produced chunk by chunk.
async fn download() -> Response {
    let (tx, rx) = channel_body();
    tokio::spawn(async move {
        for i in 0..CHUNKS {
            if tx.send(pattern_chunk(i, CHUNK)).await.is_err() {
                return;
            }
        }
    });
    Response::new(AxumBody::new(rx))
}

async fn slow(Path(ms): Path<u64>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "slow"
}

async fn status(Path(code): Path<u16>) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT)
}

fn app(gate: Arc<Notify>) -> Router {
    Router::new()
        .route("/echo", any(echo))
        .route("/hop", get(hop_headers))
        .route("/upload", post(upload))
        .route("/download", get(download))
        .route("/slow/{ms}", get(slow))
        .route("/status/{code}", get(status))
        .route(
            "/stream",
            get(move || {
                let gate = Arc::clone(&gate);
                async move {
                    let (tx, rx) = channel_body();
                    tokio::spawn(async move {
                        let _ = tx.send(Bytes::from_static(b"first;")).await;
                        // The last chunk is produced only once the test has
                        // seen the first one through the proxy.
                        gate.notified().await;
                        let _ = tx.send(Bytes::from_static(b"last")).await;
                    });
                    Response::new(AxumBody::new(rx)).into_response()
                }
            }),
        )
}

/// A sidecar (on the fast path or hyper's) in front of [`app`].
async fn setup(fast: bool) -> (Running, Arc<Notify>) {
    let gate = Arc::new(Notify::new());
    let up = serve_upstream(app(Arc::clone(&gate))).await;
    let sc = start_sidecar(&format!("http://{up}"), PASS_THROUGH, |c| {
        c.fast_path = fast
    })
    .await;
    (sc, gate)
}

fn seen_header<'a>(echo: &'a str, name: &str) -> Vec<&'a str> {
    echo.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxies_method_path_query_headers_and_body() {
    for fast in PATHS {
        eprintln!("fast path: {fast}");
        let (sc, _) = setup(fast).await;
        let c = client(false);
        let req = http::Request::post(sc.url("/echo?a=1&b=two"))
            .header("host", "shop.example")
            .header("x-custom", "kept")
            .header("x-forwarded-for", "203.0.113.9")
            .header("connection", "x-hop")
            .header("x-hop", "gone")
            .header("keep-alive", "timeout=5")
            .header("proxy-authorization", "Basic Zm9v")
            .header("te", "gzip, trailers");
        let got = send(&c, body(req, "payload")).await;
        assert_eq!(got.status, StatusCode::OK);
        let echo = got.body;
        assert!(
            echo.starts_with("POST /echo?a=1&b=two HTTP/1.1\n"),
            "{echo}"
        );
        assert_eq!(seen_header(&echo, "host"), ["shop.example"]);
        assert_eq!(seen_header(&echo, "x-custom"), ["kept"]);
        assert_eq!(
            seen_header(&echo, "x-forwarded-for"),
            ["203.0.113.9, 127.0.0.1"]
        );
        assert_eq!(seen_header(&echo, "x-forwarded-proto"), ["http"]);
        assert_eq!(
            seen_header(&echo, "forwarded"),
            ["for=127.0.0.1;proto=http"]
        );
        assert_eq!(seen_header(&echo, "te"), ["trailers"]);
        for gone in ["x-hop", "keep-alive", "proxy-authorization"] {
            assert!(
                seen_header(&echo, gone).is_empty(),
                "{gone} reached upstream:\n{echo}"
            );
        }
        assert_eq!(seen_header(&echo, "content-length"), ["7"]);
        // The connection header the upstream got is hyper's own, if any.
        assert!(
            seen_header(&echo, "connection")
                .iter()
                .all(|v| *v == "keep-alive")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strips_hop_by_hop_headers_from_responses() {
    for fast in PATHS {
        eprintln!("fast path: {fast}");
        let (sc, _) = setup(fast).await;
        let got = fetch(&client(false), &sc.url("/hop")).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.body, "hop");
        assert_eq!(got.header("x-up-kept"), Some("yes"));
        for gone in ["x-up-secret", "keep-alive", "proxy-authenticate"] {
            assert!(got.header(gone).is_none(), "{gone} reached the client");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_clients_and_http2_upstreams() {
    let (sc, _) = setup(true).await;
    let got = fetch(&client(true), &sc.url("/echo")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.version, http::Version::HTTP_2);
    assert!(got.body.starts_with("GET /echo HTTP/1.1\n"), "{}", got.body);
    // HTTP/2 has no Host header: the client's :authority becomes Host.
    assert_eq!(
        seen_header(&got.body, "host"),
        [sc.addr.to_string().as_str()]
    );

    let up = serve_upstream(app(Arc::new(Notify::new()))).await;
    let h2 = start_sidecar(&format!("http://{up}"), PASS_THROUGH, |c| {
        c.upstream_http2 = true
    })
    .await;
    let got = send(
        &client(false),
        body(
            request(&h2.url("/echo")).header("host", "shop.example"),
            Bytes::new(),
        ),
    )
    .await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.body.starts_with("GET /echo HTTP/2.0\n"), "{}", got.body);
    assert_eq!(seen_header(&got.body, "x-forwarded-host"), ["shop.example"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_a_chunked_response_incrementally() {
    for fast in PATHS {
        eprintln!("fast path: {fast}");
        let (sc, gate) = setup(fast).await;
        let resp = client(false)
            .request(body(request(&sc.url("/stream")), Bytes::new()))
            .await
            .expect("response head");
        let mut body = resp.into_body();
        let first = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("the first chunk arrives before the last one is produced")
            .expect("a frame")
            .expect("data");
        assert_eq!(
            first.into_data().expect("data"),
            Bytes::from_static(b"first;")
        );
        gate.notify_one();
        let rest = body.collect().await.expect("rest").to_bytes();
        assert_eq!(rest, Bytes::from_static(b"last"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_32_mib_both_ways() {
    for fast in PATHS {
        eprintln!("fast path: {fast}");
        let (sc, _) = setup(fast).await;
        let c = client(false);

        // Upload: sent chunk by chunk, hashed by the upstream as it arrives.
        let (tx, rx) = channel_body();
        let mut want = Fnv::new();
        for i in 0..CHUNKS {
            want.update(&pattern_chunk(i, CHUNK));
        }
        tokio::spawn(async move {
            for i in 0..CHUNKS {
                if tx.send(pattern_chunk(i, CHUNK)).await.is_err() {
                    return;
                }
            }
        });
        let req = http::Request::post(sc.url("/upload"))
            .body(rx.boxed())
            .expect("request");
        let got = send(&c, req).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.body, format!("{} {:x}", CHUNK * CHUNKS, want.0));

        // Download: hashed here as it arrives.
        let resp = c
            .request(body(request(&sc.url("/download")), Bytes::new()))
            .await
            .expect("response");
        let mut body = resp.into_body();
        let (mut len, mut h) = (0usize, Fnv::new());
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("frame").into_data() {
                len += data.len();
                h.update(&data);
            }
        }
        assert_eq!(len, CHUNK * CHUNKS);
        assert_eq!(h.0, want.0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_is_502() {
    for fast in PATHS {
        eprintln!("fast path: {fast}");
        let port = closed_port().await;
        let sc = start_sidecar(&format!("http://{port}"), PASS_THROUGH, |c| {
            c.fast_path = fast
        })
        .await;
        let got = fetch(&client(false), &sc.url("/anything")).await;
        assert_eq!(got.status, StatusCode::BAD_GATEWAY);
        assert!(
            got.body.contains("cannot connect to the upstream"),
            "{}",
            got.body
        );
        let metrics = fetch(&client(false), &sc.admin_url("/metrics")).await.body;
        assert_eq!(
            sample(
                &metrics,
                "seawall_sidecar_requests_total",
                &[("resource", "unmatched"), ("result", "bad_gateway")]
            ),
            Some(1.0)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_upstream_is_504_after_the_timeout() {
    for fast in PATHS {
        eprintln!("fast path: {fast}");
        let up = serve_upstream(app(Arc::new(Notify::new()))).await;
        let sc = start_sidecar(&format!("http://{up}"), PASS_THROUGH, |c| {
            c.upstream_timeout = Duration::from_millis(300);
            c.fast_path = fast;
        })
        .await;
        let c = client(false);
        let t = Instant::now();
        let got = fetch(&c, &sc.url("/slow/5000")).await;
        let took = t.elapsed();
        assert_eq!(got.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(got.header("x-seawall-reason-kind"), Some("timeout"));
        assert!(got.body.contains("300 ms"), "{}", got.body);
        assert!(
            took >= Duration::from_millis(290),
            "answered after {took:?}"
        );
        assert!(took < Duration::from_secs(4), "answered after {took:?}");
        // Within the timeout, a slow answer gets through.
        assert_eq!(fetch(&c, &sc.url("/slow/20")).await.status, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_status_codes_pass_through() {
    for fast in PATHS {
        eprintln!("fast path: {fast}");
        let (sc, _) = setup(fast).await;
        let c = client(false);
        for code in [201u16, 404, 500, 503] {
            let got = fetch(&c, &sc.url(&format!("/status/{code}"))).await;
            assert_eq!(got.status.as_u16(), code);
            assert!(got.header("x-seawall-reason").is_none());
            assert!(got.header("x-seawall-reason-kind").is_none());
        }
        let metrics = fetch(&c, &sc.admin_url("/metrics")).await.body;
        let count = |result| {
            sample(
                &metrics,
                "seawall_sidecar_requests_total",
                &[("resource", "unmatched"), ("result", result)],
            )
        };
        assert_eq!(count("ok"), Some(2.0));
        assert_eq!(count("upstream_5xx"), Some(2.0));
    }
}

/// A config for `rules` in front of a closed port.
fn config_for(rules: &std::path::Path) -> seawall_sidecar::Config {
    seawall_sidecar::Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        "http://127.0.0.1:1",
        rules,
    )
    .expect("config")
}

/// Why `Sidecar::bind` refused `config`.
async fn bind_error(config: seawall_sidecar::Config) -> String {
    seawall_sidecar::Sidecar::bind(config)
        .await
        .expect_err("bind must fail")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_config_is_refused_before_listening() {
    let dir = temp_dir();
    let rules = dir.join("rules.yaml");
    write_rules(
        &rules,
        "version: 1\nresources:\n  - name: a\n    flow: [{id: x, count: -1}]\n",
    );
    let e = bind_error(config_for(&rules)).await;
    assert!(e.contains(&rules.display().to_string()), "{e}");
    assert!(e.contains("count"), "{e}");

    let e = bind_error(config_for(&dir.join("missing.yaml"))).await;
    assert!(e.contains("missing.yaml"), "{e}");

    // Gray routing without a gray upstream is refused.
    write_rules(&rules, "version: 1\ngray: {id: gray-1, percent: 10}\n");
    let e = bind_error(config_for(&rules)).await;
    assert!(e.contains("--gray-upstream"), "{e}");
    assert!(e.contains("gray-1"), "{e}");
    let mut config = config_for(&rules);
    config.gray_upstream =
        Some(seawall_sidecar::Upstream::parse("http://127.0.0.1:2").expect("url"));
    assert!(seawall_sidecar::Sidecar::bind(config).await.is_ok());
}

/// An upstream (plain hyper, HTTP/1.1) that counts the connections it
/// accepted and answers `conn N`; with `close`, every answer ends its
/// connection (`Connection: close`).
async fn counting_upstream(close: bool) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            let svc = hyper::service::service_fn(move |_req| async move {
                let mut resp = http::Response::new(http_body_util::Full::new(Bytes::from(
                    format!("conn {n}"),
                )));
                if close {
                    resp.headers_mut()
                        .insert("connection", http::HeaderValue::from_static("close"));
                }
                Ok::<_, std::convert::Infallible>(resp)
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc),
            );
        }
    });
    (addr, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reuses_upstream_connections_across_requests() {
    for fast in PATHS {
        eprintln!("fast path: {fast}");
        let (up, accepted) = counting_upstream(false).await;
        let sc = start_sidecar(&format!("http://{up}"), PASS_THROUGH, |c| {
            c.fast_path = fast
        })
        .await;
        let c = client(false);
        for _ in 0..20 {
            let got = fetch(&c, &sc.url("/r")).await;
            assert_eq!(got.status, StatusCode::OK);
            assert!(got.body.starts_with("conn "), "{}", got.body);
        }
        // One connection carries them all (a second may open while the first
        // is being given back); one per request would mean no pooling.
        let n = accepted.load(Ordering::SeqCst);
        assert!(
            (1..=2).contains(&n),
            "{n} upstream connections for 20 requests"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_closing_every_connection_is_no_error() {
    for fast in PATHS {
        eprintln!("fast path: {fast}");
        let (up, accepted) = counting_upstream(true).await;
        let sc = start_sidecar(&format!("http://{up}"), PASS_THROUGH, |c| {
            c.fast_path = fast
        })
        .await;
        let c = client(false);
        for i in 1..=10 {
            let got = fetch(&c, &sc.url("/r")).await;
            assert_eq!(got.status, StatusCode::OK, "request {i}: {}", got.body);
            assert_eq!(got.body, format!("conn {i}"));
            assert!(got.header("connection").is_none());
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 10);
    }
}
