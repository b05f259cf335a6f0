//! The tower layer in front of axum services: refusals with reason headers,
//! fallbacks, pace waits, timeouts and outcomes fed to breakers (tokio time
//! paused), and one run over real HTTP on 127.0.0.1.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Extension;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use common::{TestGuard, guard};
use http_body_util::BodyExt;
use seawall_guard::BreakerState;
use seawall_guard::tower::{GuardInfo, GuardLayer, KIND_HEADER, RULE_HEADER};
use tower::Service;

/// Whether `/fail` fails (only one test uses it).
static FAILING: AtomicBool = AtomicBool::new(true);

/// An app with `/ok`, `/fail` (500 while `FAILING`), `/slow` (sleeps 1 s) and `/info`
/// (echoes the guard's info) behind the layer.
fn app(g: &Arc<TestGuard>) -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/fail",
            get(|| async {
                if FAILING.load(Ordering::SeqCst) {
                    (StatusCode::INTERNAL_SERVER_ERROR, "boom")
                } else {
                    (StatusCode::OK, "recovered")
                }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                "slow"
            }),
        )
        .route(
            "/info",
            get(|Extension(info): Extension<GuardInfo>| async move {
                format!(
                    "{} {:?} {}",
                    info.resource.as_deref().unwrap_or("-"),
                    info.upstream,
                    info.test
                )
            }),
        )
        .layer(GuardLayer::new(Arc::clone(g)))
}

async fn send(
    app: &mut Router,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, String, String) {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Body::empty()).expect("request");
    let res = app.call(req).await.expect("infallible");
    let status = res.status();
    let rule = res
        .headers()
        .get(RULE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, rule, String::from_utf8_lossy(&body).into_owned())
}

const RULES: &str = "version: 1
upstreams: { gray: { shadow_safe: true } }
gray: { id: gray-vip, whitelist: ['7'] }
resources:
  - name: ok
    routes: [{ path: /ok }]
    switches:
      - id: ok-degrade
        fallback: { status: 200, body: cached, headers: { x-from: fallback } }
    flow: [{ id: ok-qps, count: 3 }]
  - name: fail
    routes: [{ path: /fail }]
    breakers:
      - { id: fail-errors, strategy: error_ratio, threshold: 0.5, min_requests: 4, open_ms: 5000 }
  - name: slow
    routes: [{ path: /slow }]
    timeout_ms: 200
    breakers:
      - { id: slow-timeouts, strategy: error_count, threshold: 1, min_requests: 1, open_ms: 5000 }
  - name: info
    routes: [{ path: /info }]
";

#[tokio::test]
async fn blocks_with_429_and_the_rule_then_serves_the_fallback() {
    let (g, _) = guard(RULES);
    let g = Arc::new(g);
    let mut app = app(&g);
    for _ in 0..3 {
        let (status, rule, body) = send(&mut app, "/ok", &[]).await;
        assert_eq!(
            (status, rule.as_str(), body.as_str()),
            (StatusCode::OK, "", "ok")
        );
    }
    let (status, rule, body) = send(&mut app, "/ok", &[]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(rule, "ok-qps");
    assert!(body.contains("qps_limit"), "{body}");

    g.set_switch("ok-degrade", true).expect("switch exists");
    let req = Request::get("/ok").body(Body::empty()).expect("request");
    let res = app.call(req).await.expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-from"], "fallback");
    assert_eq!(res.headers()[RULE_HEADER], "ok-degrade");
    assert_eq!(res.headers()[KIND_HEADER], "fallback");
    let body = res.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&body[..], b"cached");
}

#[tokio::test]
async fn server_errors_open_the_breaker_which_probes_once_and_closes() {
    let (g, clock) = guard(RULES);
    let g = Arc::new(g);
    let mut app = app(&g);
    for _ in 0..4 {
        let (status, ..) = send(&mut app, "/fail", &[]).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }
    assert_eq!(g.breaker_state("fail-errors"), Some(BreakerState::Open));
    let (status, rule, _) = send(&mut app, "/fail", &[]).await;
    assert_eq!(
        (status, rule.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "fail-errors")
    );
    // After the open period one probe goes through; it fails again → open.
    clock.advance(Duration::from_millis(5000));
    let (status, ..) = send(&mut app, "/fail", &[]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(g.breaker_state("fail-errors"), Some(BreakerState::Open));
    // The upstream recovers: the next probe succeeds and closes the breaker.
    FAILING.store(false, Ordering::SeqCst);
    let (status, rule, _) = send(&mut app, "/fail", &[]).await;
    assert_eq!(
        (status, rule.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "fail-errors")
    );
    clock.advance(Duration::from_millis(5000));
    let (status, _, body) = send(&mut app, "/fail", &[]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "recovered"));
    assert_eq!(g.breaker_state("fail-errors"), Some(BreakerState::Closed));
    for _ in 0..10 {
        assert_eq!(send(&mut app, "/fail", &[]).await.0, StatusCode::OK);
    }
}

#[tokio::test(start_paused = true)]
async fn a_timeout_answers_504_and_counts_as_an_error() {
    let (g, _) = guard(RULES);
    let g = Arc::new(g);
    let mut app = app(&g);
    let start = tokio::time::Instant::now();
    let (status, rule, _) = send(&mut app, "/slow", &[]).await;
    assert_eq!(
        (status, rule.as_str()),
        (StatusCode::GATEWAY_TIMEOUT, "timeout")
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(300),
        "{took:?}"
    );
    assert_eq!(g.breaker_state("slow-timeouts"), Some(BreakerState::Closed));
    let (status, ..) = send(&mut app, "/slow", &[]).await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(g.breaker_state("slow-timeouts"), Some(BreakerState::Open));
    let (status, rule, _) = send(&mut app, "/slow", &[]).await;
    assert_eq!(
        (status, rule.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "slow-timeouts")
    );
}

#[tokio::test(start_paused = true)]
async fn pace_spreads_a_burst_over_time() {
    let (g, _) = guard(
        "version: 1
resources:
  - name: ok
    routes: [{ path: /ok }]
    flow: [{ id: pace, count: 10, behavior: pace, max_queueing_ms: 450 }]
",
    );
    let g = Arc::new(g);
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let mut app = app(&g);
        tasks.push(tokio::spawn(async move {
            let (status, ..) = send(&mut app, "/ok", &[]).await;
            (status, start.elapsed())
        }));
    }
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.expect("task"));
    }
    let mut passed: Vec<u128> = done
        .iter()
        .filter(|(s, _)| *s == StatusCode::OK)
        .map(|(_, t)| t.as_millis())
        .collect();
    passed.sort_unstable();
    // 100 ms apart: 0, 100, 200, 300, 400; the sixth would wait 500 > 450.
    assert_eq!(passed, vec![0, 100, 200, 300, 400]);
    assert_eq!(
        done.iter()
            .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        1
    );
}

#[tokio::test]
async fn the_inner_service_learns_the_upstream_and_test_traffic_is_kept_off_primary() {
    let (g, _) = guard(RULES);
    let g = Arc::new(g);
    let mut app = app(&g);
    let (_, _, body) = send(&mut app, "/info", &[]).await;
    assert_eq!(body, "info Primary false");
    let (_, _, body) = send(&mut app, "/info", &[("x-user-id", "7")]).await;
    assert_eq!(body, "info Gray false");
    let tagged = [("x-seawall-test", "run-1"), ("x-user-id", "7")];
    let (_, _, body) = send(&mut app, "/info", &tagged).await;
    assert_eq!(body, "info Gray true");
    let (status, rule, _) = send(&mut app, "/info", &[("x-seawall-test", "run-1")]).await;
    assert_eq!(
        (status, rule.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "test-traffic")
    );
}

#[tokio::test]
async fn over_real_http_on_loopback() {
    let (g, _) = guard(RULES);
    let g = Arc::new(g);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(axum::serve(listener, app(&g)).into_future());

    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let req = Request::get(format!("http://{addr}/ok"))
            .header("host", addr.to_string())
            .body(http_body_util::Empty::<axum::body::Bytes>::new())
            .expect("request");
        let res = sender.send_request(req).await.expect("response");
        let rule = res
            .headers()
            .get(RULE_HEADER)
            .map(|v| v.to_str().unwrap_or("").to_owned());
        statuses.push((res.status().as_u16(), rule));
        res.into_body().collect().await.expect("body");
    }
    assert_eq!(statuses.iter().filter(|(s, _)| *s == 200).count(), 3);
    assert!(
        statuses
            .iter()
            .filter(|(s, _)| *s != 200)
            .all(|(s, r)| *s == 429 && r.as_deref() == Some("ok-qps")),
        "{statuses:?}"
    );
    server.abort();
}
