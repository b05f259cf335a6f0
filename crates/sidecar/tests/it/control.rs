//! The guard through the proxy, on loopback against real upstreams: rate
//! limits (429 with the rule), breakers (503, half-open probe, recovery),
//! degradation switches flipped on the admin port, hot reload that keeps
//! unchanged counters, a bad rules file that changes nothing, `/metrics`,
//! and a graceful shutdown that lets an in-flight request finish.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use common::*;

/// An upstream that counts its calls; `/flaky` fails while `failing` is set.
#[derive(Clone, Default)]
struct Upstream {
    calls: Arc<AtomicU64>,
    failing: Arc<AtomicBool>,
}

impl Upstream {
    async fn start(&self) -> String {
        let calls = Arc::clone(&self.calls);
        let calls2 = Arc::clone(&self.calls);
        let failing = Arc::clone(&self.failing);
        let app = Router::new()
            .route(
                "/flaky",
                get(move || {
                    let failing = failing.load(Ordering::SeqCst);
                    async move {
                        if failing {
                            (StatusCode::INTERNAL_SERVER_ERROR, "down")
                        } else {
                            (StatusCode::OK, "up")
                        }
                    }
                }),
            )
            .route(
                "/slow/{ms}",
                get(|Path(ms): Path<u64>| async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    "finished"
                }),
            )
            .fallback(move || {
                calls2.fetch_add(1, Ordering::SeqCst);
                async { "upstream" }
            });
        let _ = calls;
        format!("http://{}", serve_upstream(app).await)
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_the_rule() {
    let up = Upstream::default();
    let rules = "version: 1\nresources:\n  - name: limited\n    routes: [{method: GET, path: /limited}]\n    flow:\n      - {id: limited-qps, count: 3}\n";
    // The guard's clock stands still: all ten requests fall in one window
    // however slow the machine.
    let clock = seawall_guard::CoarseClock::manual();
    let sc = start_sidecar(&up.start().await, rules, |c| c.clock = Some(clock.clone())).await;
    let c = client(false);
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let got = fetch(&c, &sc.url("/limited")).await;
        if got.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(got.header("x-seawall-reason"), Some("limited-qps"));
            assert_eq!(got.header("x-seawall-reason-kind"), Some("qps_limit"));
            assert!(got.body.contains("qps_limit"), "{}", got.body);
        }
        statuses.push(got.status);
    }
    let passed = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let blocked = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(passed + blocked, 10, "{statuses:?}");
    // All inside one window: exactly the limit passed, in front.
    assert_eq!(passed, 3, "{statuses:?}");
    assert!(statuses[..3].iter().all(|s| *s == StatusCode::OK));
    assert!(blocked >= 1, "{statuses:?}");
    assert_eq!(
        up.calls(),
        passed as u64,
        "blocked requests never reach upstream"
    );
    // Other paths are not limited.
    assert_eq!(fetch(&c, &sc.url("/free")).await.status, StatusCode::OK);

    let metrics = fetch(&c, &sc.admin_url("/metrics")).await.body;
    assert_eq!(
        sample(
            &metrics,
            "seawall_sidecar_requests_total",
            &[("resource", "limited"), ("result", "blocked")]
        ),
        Some(blocked as f64)
    );
    assert_eq!(
        sample(
            &metrics,
            "seawall_sidecar_blocked_total",
            &[("rule", "limited-qps"), ("reason", "qps_limit")]
        ),
        Some(blocked as f64)
    );
    assert_eq!(
        sample(
            &metrics,
            "seawall_guard_rule_blocked_total",
            &[("rule", "limited-qps")]
        ),
        Some(blocked as f64)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_caller_quota_from_the_origin_header() {
    let up = Upstream::default();
    let rules = "version: 1\nresources:\n  - name: api\n    routes: [{path: /api}]\n    flow:\n      - {id: per-caller, count: 2, per_origin: true}\n";
    let clock = seawall_guard::CoarseClock::manual();
    let sc = start_sidecar(&up.start().await, rules, |c| c.clock = Some(clock.clone())).await;
    let c = client(false);
    let call = |who: &'static str| {
        let c = c.clone();
        let url = sc.url("/api");
        async move {
            send(
                &c,
                body(
                    request(&url).header("x-seawall-origin", who),
                    bytes::Bytes::new(),
                ),
            )
            .await
            .status
        }
    };
    let mut flood = Vec::new();
    for _ in 0..6 {
        flood.push(call("app-a").await);
    }
    let b = [call("app-b").await, call("app-b").await];
    // One window (the clock stands still): exactly app-a's quota passed.
    assert_eq!(
        flood.iter().filter(|s| **s == StatusCode::OK).count(),
        2,
        "{flood:?}"
    );
    assert!(flood.contains(&StatusCode::TOO_MANY_REQUESTS), "{flood:?}");
    assert_eq!(
        b,
        [StatusCode::OK, StatusCode::OK],
        "app-a's flood took app-b's share"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_on_5xx_then_probes_and_recovers() {
    let up = Upstream::default();
    up.failing.store(true, Ordering::SeqCst);
    let rules = "version: 1\nresources:\n  - name: flaky\n    routes: [{path: /flaky}]\n    breakers:\n      - {id: flaky-errors, strategy: error_ratio, threshold: 0.5, min_requests: 3, stat_window_ms: 60000, open_ms: 400}\n";
    let sc = start_sidecar(&up.start().await, rules, |_| {}).await;
    let c = client(false);
    let url = sc.url("/flaky");
    for _ in 0..3 {
        assert_eq!(
            fetch(&c, &url).await.status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    // Open: refused without calling upstream.
    let got = fetch(&c, &url).await;
    assert_eq!(got.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(got.header("x-seawall-reason"), Some("flaky-errors"));
    assert_eq!(got.header("x-seawall-reason-kind"), Some("circuit_open"));
    assert!(got.body.contains("circuit_open"), "{}", got.body);
    let metrics = fetch(&c, &sc.admin_url("/metrics")).await.body;
    assert_eq!(
        sample(
            &metrics,
            "seawall_guard_breaker_state",
            &[("rule", "flaky-errors"), ("state", "open")]
        ),
        Some(1.0)
    );

    // The upstream heals; after the open period one probe goes through and
    // its success closes the breaker.
    up.failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let probe = fetch(&c, &url).await;
    assert_eq!(probe.status, StatusCode::OK, "{}", probe.body);
    for _ in 0..5 {
        assert_eq!(fetch(&c, &url).await.status, StatusCode::OK);
    }
    let metrics = fetch(&c, &sc.admin_url("/metrics")).await.body;
    assert_eq!(
        sample(
            &metrics,
            "seawall_guard_breaker_state",
            &[("rule", "flaky-errors"), ("state", "closed")]
        ),
        Some(1.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_flipped_on_the_admin_port_serves_the_fallback() {
    let up = Upstream::default();
    let rules = r#"version: 1
resources:
  - name: coupons
    routes: [{method: GET, path: /coupons}]
    switches:
      - id: coupons-degrade
        fallback: {status: 200, body: '{"coupons":[]}', headers: {content-type: application/json}}
"#;
    let sc = start_sidecar(&up.start().await, rules, |_| {}).await;
    let c = client(false);
    assert_eq!(fetch(&c, &sc.url("/coupons")).await.body, "upstream");
    assert_eq!(up.calls(), 1);

    let flipped = put(&c, &sc.admin_url("/switches/coupons-degrade"), "on").await;
    assert_eq!(flipped.status, StatusCode::OK, "{}", flipped.body);
    let got = fetch(&c, &sc.url("/coupons")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, r#"{"coupons":[]}"#);
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.header("x-seawall-reason"), Some("coupons-degrade"));
    assert_eq!(got.header("x-seawall-reason-kind"), Some("fallback"));
    assert_eq!(up.calls(), 1, "a fallback never calls upstream");

    let rules_doc = fetch(&c, &sc.admin_url("/rules")).await;
    let doc: serde_json::Value = serde_json::from_str(&rules_doc.body).expect("JSON rules");
    assert_eq!(
        doc["resources"][0]["switches"][0]["on"],
        serde_json::Value::Bool(true)
    );

    let off = send(
        &c,
        body(
            http::Request::post(sc.admin_url("/switches/coupons-degrade")),
            r#"{"on": false}"#,
        ),
    )
    .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(fetch(&c, &sc.url("/coupons")).await.body, "upstream");
    assert_eq!(up.calls(), 2);

    assert_eq!(
        put(&c, &sc.admin_url("/switches/nope"), "on").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        put(&c, &sc.admin_url("/switches/coupons-degrade"), "maybe")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(fetch(&c, &sc.admin_url("/healthz")).await.body, "ok\n");
    assert_eq!(
        fetch(&c, &sc.admin_url("/nope")).await.status,
        StatusCode::NOT_FOUND
    );
}

async fn status_json(c: &TestClient, sc: &Running) -> serde_json::Value {
    serde_json::from_str(&fetch(c, &sc.admin_url("/status")).await.body).expect("status JSON")
}

/// Two resources; `r-qps` has `r_count`, `s-qps` stays the same.
fn reload_rules(version: u64, r_count: u32) -> String {
    format!(
        "version: {version}
resources:
  - name: r
    routes: [{{method: GET, path: /r}}]
    flow:
      - {{id: r-qps, count: {r_count}}}
  - name: s
    routes: [{{method: GET, path: /s}}]
    flow:
      - {{id: s-qps, count: 1}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_reload_applies_new_limits_keeps_unchanged_counters_and_survives_a_bad_file() {
    let up = Upstream::default();
    let sc = start_sidecar(&up.start().await, &reload_rules(1, 2), |_| {}).await;
    let c = client(false);
    let statuses = |path: &'static str, n: usize| {
        let c = c.clone();
        let url = sc.url(path);
        async move {
            let mut v = Vec::new();
            for _ in 0..n {
                v.push(fetch(&c, &url).await.status);
            }
            v
        }
    };
    let r1 = statuses("/r", 5).await;
    assert!(r1.contains(&StatusCode::TOO_MANY_REQUESTS), "{r1:?}");
    let s1 = statuses("/s", 3).await;
    let s_blocked = s1
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(s_blocked >= 1, "{s1:?}");

    write_rules(&sc.rules_path, &reload_rules(2, 1000));
    let reloaded = eventually(Duration::from_secs(10), || async {
        status_json(&c, &sc).await["version"] == 2
    })
    .await;
    assert!(reloaded, "version 2 never came into force");

    // The changed rule starts afresh with the new limit.
    let r2 = statuses("/r", 5).await;
    assert!(r2.iter().all(|s| *s == StatusCode::OK), "{r2:?}");
    // The unchanged rule kept its counters.
    let metrics = fetch(&c, &sc.admin_url("/metrics")).await.body;
    assert_eq!(
        sample(
            &metrics,
            "seawall_guard_rule_blocked_total",
            &[("rule", "s-qps")]
        ),
        Some(s_blocked as f64)
    );
    assert_eq!(
        sample(
            &metrics,
            "seawall_guard_rule_blocked_total",
            &[("rule", "r-qps")]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&metrics, "seawall_sidecar_rules_version", &[]),
        Some(2.0)
    );

    // A bad file: reported, and version 2 stays in force.
    write_rules(
        &sc.rules_path,
        "version: 3\nresources:\n  - name: r\n    flow:\n      - {id: r-qps, count: 0, colour: red}\n",
    );
    let reported = eventually(Duration::from_secs(10), || async {
        !status_json(&c, &sc).await["last_error"].is_null()
    })
    .await;
    assert!(reported, "the bad file was never reported");
    let st = status_json(&c, &sc).await;
    let err = st["last_error"].as_str().expect("error text");
    assert!(err.contains(&sc.rules_path.display().to_string()), "{err}");
    assert!(err.contains("colour"), "{err}");
    assert_eq!(st["version"], 2);
    let r3 = statuses("/r", 5).await;
    assert!(
        r3.iter().all(|s| *s == StatusCode::OK),
        "old rules must stay: {r3:?}"
    );
    let metrics = fetch(&c, &sc.admin_url("/metrics")).await.body;
    assert_eq!(
        sample(&metrics, "seawall_sidecar_rules_reload_errors_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&metrics, "seawall_sidecar_rules_file_ok", &[]),
        Some(0.0)
    );
    assert_eq!(
        sample(&metrics, "seawall_sidecar_rules_version", &[]),
        Some(2.0)
    );

    // A missing file is an error too, and changes nothing.
    std::fs::remove_file(&sc.rules_path).expect("remove");
    let missing = eventually(Duration::from_secs(10), || async {
        status_json(&c, &sc).await["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("No such file"))
    })
    .await;
    assert!(missing, "{}", status_json(&c, &sc).await);
    assert_eq!(status_json(&c, &sc).await["version"], 2);

    // Writing the good version back clears the error.
    write_rules(&sc.rules_path, &reload_rules(2, 1000));
    let cleared = eventually(Duration::from_secs(10), || async {
        status_json(&c, &sc).await["last_error"].is_null()
    })
    .await;
    assert!(cleared);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_and_show_counters() {
    let up = Upstream::default();
    let rules = "version: 7\nresources:\n  - name: all\n    routes: [{path: \"/*\"}]\n    flow:\n      - {id: all-qps, count: 100000, dry_run: true}\n      - {id: all-inflight, grade: concurrency, count: 1000}\n";
    let sc = start_sidecar(&up.start().await, rules, |_| {}).await;
    let c = client(false);
    for _ in 0..4 {
        assert_eq!(fetch(&c, &sc.url("/x")).await.status, StatusCode::OK);
    }
    let got = fetch(&c, &sc.admin_url("/metrics")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(
        got.header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text"))
    );
    let text = got.body;
    assert_eq!(text.lines().last(), Some("# EOF"));
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        assert!(value.parse::<f64>().is_ok(), "bad value in {line}");
        let name = series.split('{').next().unwrap_or_default();
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_'),
            "bad name in {line}"
        );
        assert_eq!(
            series.contains('{'),
            series.ends_with('}'),
            "bad labels in {line}"
        );
    }
    let ok = [("resource", "all"), ("result", "ok")];
    assert_eq!(
        sample(&text, "seawall_sidecar_requests_total", &ok),
        Some(4.0)
    );
    assert_eq!(
        sample(
            &text,
            "seawall_sidecar_request_duration_seconds_count",
            &[("resource", "all")]
        ),
        Some(4.0)
    );
    assert_eq!(
        sample(&text, "seawall_sidecar_in_flight", &[("resource", "all")]),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            "seawall_guard_rule_in_flight",
            &[("rule", "all-inflight")]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            "seawall_guard_rule_would_block_total",
            &[("rule", "all-qps")]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, "seawall_sidecar_rules_version", &[]),
        Some(7.0)
    );
    assert_eq!(
        sample(&text, "seawall_sidecar_rules_file_ok", &[]),
        Some(1.0)
    );
}

/// Waits until the sidecar has one unmatched request in flight.
async fn one_in_flight(sc: &Running) -> bool {
    in_flight(sc, 1.0).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_lets_an_in_flight_request_finish() {
    let up = Upstream::default();
    let mut sc = start_sidecar(&up.start().await, "version: 1\n", |c| {
        c.drain_timeout = Duration::from_secs(20);
    })
    .await;
    let c = client(false);
    let url = sc.url("/slow/800");
    let in_flight = tokio::spawn({
        let c = c.clone();
        async move { fetch(&c, &url).await }
    });
    // Wait until the request is in flight (the gauge says so).
    let started = one_in_flight(&sc).await;
    assert!(started);
    sc.begin_shutdown();
    let got = in_flight.await.expect("request task");
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, "finished");
    let report = sc.finished().await;
    assert!(report.drained, "{report:?}");
    assert!(report.open_connections >= 1, "{report:?}");
    // No longer accepting.
    assert!(tokio::net::TcpStream::connect(sc.addr).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_timeout_bounds_the_shutdown() {
    let up = Upstream::default();
    let mut sc = start_sidecar(&up.start().await, "version: 1\n", |c| {
        c.drain_timeout = Duration::from_millis(200);
    })
    .await;
    let url = sc.url("/slow/30000");
    let _stuck = tokio::spawn(async move {
        let c = client(false);
        c.request(body(request(&url), bytes::Bytes::new()))
            .await
            .map(|r| r.status())
    });
    let started = one_in_flight(&sc).await;
    assert!(started);
    let t = Instant::now();
    sc.begin_shutdown();
    let report = sc.finished().await;
    assert!(!report.drained);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_removes_the_series_of_removed_resources_and_counts_passes_per_rule() {
    let up = Upstream::default();
    let sc = start_sidecar(&up.start().await, &reload_rules(1, 1000), |_| {}).await;
    let c = client(false);
    for path in ["/r", "/r", "/r", "/s", "/s"] {
        fetch(&c, &sc.url(path)).await;
    }
    let metrics = fetch(&c, &sc.admin_url("/metrics")).await.body;
    let passed = |m: &str, rule| sample(m, "seawall_guard_rule_passed_total", &[("rule", rule)]);
    assert_eq!(passed(&metrics, "r-qps"), Some(3.0), "{metrics}");
    // `s-qps` allows one a second: one passed, one blocked.
    assert_eq!(passed(&metrics, "s-qps"), Some(1.0), "{metrics}");
    let blocked = sample(
        &metrics,
        "seawall_sidecar_blocked_total",
        &[("resource", "s"), ("rule", "s-qps")],
    );
    assert_eq!(blocked, Some(1.0), "{metrics}");

    // Version 2 has `r` only: every series of `s` leaves /metrics, `r`'s stay.
    write_rules(
        &sc.rules_path,
        "version: 2\nresources:\n  - name: r\n    routes: [{method: GET, path: /r}]\n    flow:\n      - {id: r-qps, count: 1000}\n",
    );
    let reloaded = eventually(Duration::from_secs(10), || async {
        status_json(&c, &sc).await["version"] == 2
    })
    .await;
    assert!(reloaded, "version 2 never came into force");
    fetch(&c, &sc.url("/r")).await;
    let metrics = fetch(&c, &sc.admin_url("/metrics")).await.body;
    let stale: Vec<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && (l.contains("resource=\"s\"") || l.contains("s-qps")))
        .collect();
    assert!(stale.is_empty(), "stale series: {stale:#?}");
    assert_eq!(passed(&metrics, "r-qps"), Some(4.0), "{metrics}");
    assert_eq!(
        sample(
            &metrics,
            "seawall_sidecar_requests_total",
            &[("resource", "r"), ("result", "ok")]
        ),
        Some(4.0)
    );
}
