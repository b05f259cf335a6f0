//! The engine against in-process axum servers on 127.0.0.1: rate
//! accuracy, tagging, coordinated omission, dropped arrivals, refusal to
//! run untagged. Each run is bounded to a few seconds.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::any;
use seawall_load::{LoadConfig, LoadError, Summary, TestTag};
use tokio::time::Instant;

/// What the test server saw.
#[derive(Debug, Default)]
struct Seen {
    requests: AtomicU64,
    tagged: AtomicU64,
}

/// How the test server behaves.
#[derive(Debug, Clone)]
struct Behaviour {
    seen: Arc<Seen>,
    /// Every request arriving in `[from, to)` is held until `to`.
    stall: Option<(Instant, Instant)>,
    /// Every request is held this long.
    delay: Duration,
    status: StatusCode,
}

impl Behaviour {
    fn new() -> Self {
        Self {
            seen: Arc::default(),
            stall: None,
            delay: Duration::ZERO,
            status: StatusCode::OK,
        }
    }
}

async fn handle(State(b): State<Behaviour>, headers: HeaderMap) -> StatusCode {
    b.seen.requests.fetch_add(1, Ordering::Relaxed);
    let tag_ok = headers.get("x-seawall-test").is_some_and(|v| v == "run-42");
    let baggage_ok = headers
        .get("baggage")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|m| m.trim() == "seawall-test=run-42"));
    if tag_ok && baggage_ok {
        b.seen.tagged.fetch_add(1, Ordering::Relaxed);
    }
    if let Some((from, to)) = b.stall {
        let now = Instant::now();
        if now >= from && now < to {
            tokio::time::sleep_until(to).await;
        }
    }
    if !b.delay.is_zero() {
        tokio::time::sleep(b.delay).await;
    }
    b.status
}

/// Serve `behaviour` on an ephemeral loopback port.
async fn serve(behaviour: Behaviour) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let app = Router::new()
        .route("/", any(handle))
        .route("/{*rest}", any(handle))
        .with_state(behaviour);
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    addr
}

fn config(addr: SocketAddr, rate: Option<f64>, seconds: f64) -> LoadConfig {
    let mut c = LoadConfig::new(format!("http://{addr}/ping"));
    c.rate = rate;
    c.duration = Duration::from_secs_f64(seconds);
    c.connections = 64;
    c.timeout = Duration::from_secs(2);
    c.tag = Some(TestTag::new("run-42"));
    c
}

async fn run(c: &LoadConfig) -> Summary {
    seawall_load::run(c, |_| {}).await.expect("run starts")
}

fn within(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= expected * tolerance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_rate_is_accurate_and_every_request_is_tagged() {
    let behaviour = Behaviour::new();
    let seen = Arc::clone(&behaviour.seen);
    let addr = serve(behaviour).await;
    let s = run(&config(addr, Some(1000.0), 2.0)).await;

    assert!(within(s.requests as f64, 2000.0, 0.02), "{s:#?}");
    assert!(within(s.achieved_rps, 1000.0, 0.02), "{s:#?}");
    assert!(within(s.duration_s, 2.0, 0.02), "{s:#?}");
    assert_eq!(s.dropped, 0);
    assert_eq!(s.errors.total, 0, "{:?}", s.errors);
    assert_eq!(s.ok, s.requests);
    assert_eq!(s.run_id.as_deref(), Some("run-42"));
    assert!(s.latency_ms.p50 > 0.0 && s.latency_ms.p50 < 50.0, "{s:#?}");
    assert_eq!(seen.requests.load(Ordering::Relaxed), s.requests);
    assert_eq!(seen.tagged.load(Ordering::Relaxed), s.requests);
    // Intervals: one per second, adding up to the total.
    let per_second: u64 = s.intervals.iter().map(|i| i.requests).sum();
    assert_eq!(per_second, s.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poisson_arrivals_average_the_rate() {
    let addr = serve(Behaviour::new()).await;
    let mut c = config(addr, Some(500.0), 2.0);
    c.arrivals = seawall_load::Arrivals::Poisson { seed: 1 };
    let s = run(&c).await;
    assert!(within(s.achieved_rps, 500.0, 0.1), "{s:#?}");
    assert_eq!(s.errors.total, 0);
}

/// A 500 ms stall of the whole server at 200 rps: about 100 arrivals wait
/// for it, so p99 of ~400 requests sits near the stall's length. A
/// closed-loop client on one connection sees the stall once and hides it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stall_shows_in_p99_and_closed_loop_hides_it() {
    let start = Instant::now();
    let mut behaviour = Behaviour::new();
    behaviour.stall = Some((
        start + Duration::from_millis(700),
        start + Duration::from_millis(1200),
    ));
    let addr = serve(behaviour).await;
    let mut c = config(addr, Some(200.0), 2.0);
    c.connections = 256;
    let open = run(&c).await;
    assert!(open.latency_ms.p99 >= 400.0, "open model: {open:#?}");
    assert!(open.latency_ms.max >= 450.0, "open model: {open:#?}");
    assert_eq!(open.dropped, 0);

    let start = Instant::now();
    let mut behaviour = Behaviour::new();
    behaviour.stall = Some((
        start + Duration::from_millis(300),
        start + Duration::from_millis(800),
    ));
    behaviour.delay = Duration::from_millis(2);
    let addr = serve(behaviour).await;
    let mut c = config(addr, None, 1.5);
    c.connections = 1;
    let closed = run(&c).await;
    assert!(closed.latency_ms.max >= 400.0, "closed loop: {closed:#?}");
    assert!(
        closed.latency_ms.p99 < 100.0,
        "closed loop hides the stall: {closed:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_beyond_the_connection_cap_are_dropped_not_delayed() {
    let mut behaviour = Behaviour::new();
    behaviour.delay = Duration::from_millis(1500);
    let seen = Arc::clone(&behaviour.seen);
    let addr = serve(behaviour).await;
    let mut c = config(addr, Some(100.0), 1.0);
    c.connections = 5;
    let s = run(&c).await;
    // 100 arrivals, 5 slots held for 1.5 s: 5 sent, 95 dropped.
    assert_eq!(s.requests, 5, "{s:#?}");
    assert_eq!(s.dropped, 95, "{s:#?}");
    assert_eq!(seen.requests.load(Ordering::Relaxed), 5);
    assert!(s.latency_ms.p50 >= 1400.0, "{s:#?}");
    let dropped: u64 = s.intervals.iter().map(|i| i.dropped).sum();
    assert_eq!(dropped, 95);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_run_untagged_and_sends_nothing() {
    let behaviour = Behaviour::new();
    let seen = Arc::clone(&behaviour.seen);
    let addr = serve(behaviour).await;
    let mut c = config(addr, Some(100.0), 0.5);
    c.tag = None;
    let err = seawall_load::run(&c, |_| {}).await.expect_err("untagged");
    assert!(matches!(err, LoadError::Untagged));
    assert_eq!(seen.requests.load(Ordering::Relaxed), 0);

    c.untagged = true;
    let s = run(&c).await;
    assert_eq!(s.run_id, None);
    assert!(s.requests > 0);
    assert_eq!(seen.tagged.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_classified() {
    let mut behaviour = Behaviour::new();
    behaviour.status = StatusCode::SERVICE_UNAVAILABLE;
    let addr = serve(behaviour).await;
    let s = run(&config(addr, Some(100.0), 0.5)).await;
    assert_eq!(s.errors.status_5xx, s.requests);
    assert_eq!(s.ok, 0);

    let mut slow = Behaviour::new();
    slow.delay = Duration::from_millis(800);
    let addr = serve(slow).await;
    let mut c = config(addr, Some(20.0), 0.5);
    c.timeout = Duration::from_millis(200);
    let s = run(&c).await;
    assert_eq!(s.errors.timeout, s.requests, "{s:#?}");

    // Nothing listens on the port of a listener that was just closed.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
        .local_addr()
        .expect("addr");
    let s = run(&config(closed, Some(50.0), 0.3)).await;
    assert_eq!(s.errors.connect, s.requests, "{s:#?}");
    assert!(s.requests > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_and_progress() {
    let mut behaviour = Behaviour::new();
    behaviour.delay = Duration::from_millis(1);
    let addr = serve(behaviour).await;
    let mut c = config(addr, None, 1.5);
    c.connections = 4;
    let mut ticks = Vec::new();
    let s = seawall_load::run(&c, |p| ticks.push(p.clone()))
        .await
        .expect("run");
    assert!(s.requests > 100, "{s:#?}");
    assert_eq!(s.errors.total, 0);
    assert_eq!(s.target_rps, None);
    assert_eq!(ticks.len(), 1, "one progress report per full second");
    assert!(ticks[0].last.requests > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_multiplexes_on_one_connection() {
    let behaviour = Behaviour::new();
    let seen = Arc::clone(&behaviour.seen);
    let addr = serve(behaviour).await;
    let mut c = config(addr, Some(500.0), 1.0);
    c.http = seawall_load::HttpVersion::Http2;
    let s = run(&c).await;
    assert!(within(s.requests as f64, 500.0, 0.02), "{s:#?}");
    assert_eq!(s.errors.total, 0, "{s:#?}");
    assert_eq!(seen.tagged.load(Ordering::Relaxed), s.requests);
}
