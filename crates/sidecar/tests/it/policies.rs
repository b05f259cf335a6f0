//! The guard's request-level policies through the proxy, on loopback:
//! gray routing to the gray upstream, tagged test traffic kept away from an
//! upstream that is not shadow-safe, fault injection, per-resource
//! timeouts and hot-parameter limits.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use common::*;

/// An upstream that answers its own name and counts its calls.
async fn named_upstream(name: &'static str) -> (String, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&calls);
    let app = Router::new()
        .route(
            "/slow/{ms}",
            get(|Path(ms): Path<u64>| async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                "slow"
            }),
        )
        .fallback(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { name }
        });
    (format!("http://{}", serve_upstream(app).await), calls)
}

async fn get_with(c: &TestClient, url: &str, headers: &[(&str, &str)]) -> Got {
    let mut b = request(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    send(c, body(b, Bytes::new())).await
}

const GRAY: &str = r#"version: 1
upstreams:
  primary: {shadow_safe: false}
  gray: {shadow_safe: true}
gray:
  id: gray-618
  user_header: x-user-id
  whitelist: ["10001", "10002", "alice"]
resources:
  - name: orders
    routes: [{path: "/api/orders/*"}]
  - name: sandbox
    routes: [{path: "/sandbox"}]
    shadow_safe: true
"#;

/// A sidecar with the `GRAY` rules in front of a primary and a gray upstream.
async fn gray_setup() -> (Running, Arc<AtomicU64>, Arc<AtomicU64>) {
    let (primary, primary_calls) = named_upstream("primary").await;
    let (gray, gray_calls) = named_upstream("gray").await;
    let sc = start_sidecar(&primary, GRAY, |c| {
        c.gray_upstream = Some(seawall_sidecar::Upstream::parse(&gray).expect("gray url"));
    })
    .await;
    (sc, primary_calls, gray_calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gray_routing_sends_exactly_the_whitelisted_users_to_gray() {
    let (sc, primary_calls, gray_calls) = gray_setup().await;
    let c = client(false);
    let url = sc.url("/api/orders/7");
    for (user, want) in [
        ("10001", "gray"),
        ("10002", "gray"),
        ("alice", "gray"),
        ("10003", "primary"),
        ("1000", "primary"),
        ("bob", "primary"),
        ("", "primary"),
    ] {
        let got = get_with(&c, &url, &[("x-user-id", user)]).await;
        assert_eq!(got.status, StatusCode::OK, "user {user:?}");
        assert_eq!(got.body, want, "user {user:?}");
    }
    assert_eq!(get_with(&c, &url, &[]).await.body, "primary");
    assert_eq!(gray_calls.load(Ordering::SeqCst), 3);
    assert_eq!(primary_calls.load(Ordering::SeqCst), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tagged_test_traffic_never_reaches_a_non_shadow_safe_upstream() {
    let (sc, primary_calls, gray_calls) = gray_setup().await;
    let c = client(false);
    let orders = sc.url("/api/orders/7");
    for tag in [
        [("x-seawall-test", "run-1"), ("x-other", "")],
        [("baggage", "k=v, seawall-test=run-1"), ("x-other", "")],
    ] {
        let got = get_with(&c, &orders, &tag).await;
        assert_eq!(got.status, StatusCode::SERVICE_UNAVAILABLE, "{tag:?}");
        assert_eq!(got.header("x-seawall-reason"), Some("test-traffic"));
        assert!(got.body.contains("not_shadow_safe"), "{}", got.body);
    }
    assert_eq!(
        primary_calls.load(Ordering::SeqCst),
        0,
        "tagged traffic reached primary"
    );
    // Tagged traffic may go where it is safe: a shadow-safe resource, or the
    // (shadow-safe) gray upstream.
    let got = get_with(&c, &sc.url("/sandbox"), &[("x-seawall-test", "run-1")]).await;
    assert_eq!((got.status, got.body.as_str()), (StatusCode::OK, "primary"));
    let got = get_with(
        &c,
        &orders,
        &[("x-seawall-test", "run-1"), ("x-user-id", "alice")],
    )
    .await;
    assert_eq!((got.status, got.body.as_str()), (StatusCode::OK, "gray"));
    assert_eq!(gray_calls.load(Ordering::SeqCst), 1);
    // Untagged traffic is not affected.
    assert_eq!(get_with(&c, &orders, &[]).await.status, StatusCode::OK);
    assert_eq!(primary_calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_abort_or_delay_and_resource_timeouts_apply() {
    let (primary, calls) = named_upstream("primary").await;
    let rules = r#"version: 1
upstreams: {primary: {shadow_safe: true}}
resources:
  - name: abort
    routes: [{path: /abort}]
    faults: [{id: drill-fail, percent: 100, abort_status: 503}]
  - name: delay
    routes: [{path: /delay}]
    faults: [{id: drill-slow, percent: 100, delay_ms: 300, force: true}]
  - name: slow
    routes: [{path: "/slow/{ms}"}]
    timeout_ms: 250
"#;
    let sc = start_sidecar(&primary, rules, |_| {}).await;
    let c = client(false);

    // Abort: tagged traffic only (no `force`).
    let got = get_with(&c, &sc.url("/abort"), &[("x-seawall-test", "drill")]).await;
    assert_eq!(got.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(got.header("x-seawall-reason"), Some("drill-fail"));
    assert_eq!(got.header("x-seawall-reason-kind"), Some("fault"));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        0,
        "an aborted request never calls upstream"
    );
    let got = get_with(&c, &sc.url("/abort"), &[]).await;
    assert_eq!((got.status, got.body.as_str()), (StatusCode::OK, "primary"));

    // Delay, forced: every request waits 300 ms before the upstream call.
    let t = Instant::now();
    let got = get_with(&c, &sc.url("/delay"), &[]).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(
        t.elapsed() >= Duration::from_millis(290),
        "{:?}",
        t.elapsed()
    );

    // The resource's timeout (250 ms) overrides the sidecar's (10 s).
    let t = Instant::now();
    let got = get_with(&c, &sc.url("/slow/3000"), &[]).await;
    assert_eq!(got.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(got.body.contains("250 ms"), "{}", got.body);
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(
        get_with(&c, &sc.url("/slow/10"), &[]).await.status,
        StatusCode::OK
    );

    let metrics = fetch(&c, &sc.admin_url("/metrics")).await.body;
    assert_eq!(
        sample(
            &metrics,
            "seawall_sidecar_requests_total",
            &[("resource", "abort"), ("result", "fault")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "seawall_guard_rule_faults_injected_total",
            &[("rule", "drill-slow")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &metrics,
            "seawall_sidecar_requests_total",
            &[("resource", "slow"), ("result", "timeout")]
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_parameter_limits_per_value() {
    let (primary, _) = named_upstream("primary").await;
    let rules = r#"version: 1
resources:
  - name: item
    routes: [{method: GET, path: /item}]
    hot_params:
      - {id: hot-sku, source: query, name: sku, count: 2, exceptions: {"vip": 100}}
"#;
    // The guard's clock stands still: every request in one window.
    let clock = seawall_guard::CoarseClock::manual();
    let sc = start_sidecar(&primary, rules, |c| c.clock = Some(clock.clone())).await;
    let c = client(false);
    let mut hot = Vec::new();
    for _ in 0..5 {
        hot.push(fetch(&c, &sc.url("/item?sku=42")).await);
    }
    let others = [
        fetch(&c, &sc.url("/item?sku=43")).await.status,
        fetch(&c, &sc.url("/item?sku=vip")).await.status,
        fetch(&c, &sc.url("/item?sku=vip")).await.status,
        fetch(&c, &sc.url("/item?sku=vip")).await.status,
    ];
    let blocked: Vec<&Got> = hot
        .iter()
        .filter(|g| g.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(!blocked.is_empty());
    assert!(
        blocked
            .iter()
            .all(|g| g.header("x-seawall-reason") == Some("hot-sku"))
    );
    assert_eq!(blocked.len(), 3);
    assert_eq!(
        others,
        [StatusCode::OK; 4],
        "other values keep their own limit"
    );
}
