//! Acceptance tests of the open model (issue 3), against in-process axum
//! servers on 127.0.0.1:
//!
//! - rate accuracy within 1 % at 2,000 rps over 10 s, counted both at the
//!   server and in the summary, with every request carrying the test tag;
//! - a 1 s stall of a server running at half its capacity shows in p90, p99
//!   and p99.9 as a queueing model of that server predicts (coordinated
//!   omission handled), while the closed loop at the same rate hides it.
//!
//! These are correctness tests, not benchmarks: each run lasts 10 s (they
//! run in parallel under nextest), and the tolerances leave room for a
//! loaded 2-core machine while still failing if the scheduler thinned the
//! rate or measured latency from the actual instead of the intended send.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use seawall_load::{LoadConfig, Summary, TestTag};
use tokio::sync::Semaphore;
use tokio::time::Instant;

const RUN_ID: &str = "accept-7";

/// A server with a known capacity: `workers` requests are served at once,
/// each taking `service`; the others wait in FIFO order. During `stall`
/// no request starts service.
#[derive(Debug, Clone)]
struct Server {
    requests: Arc<AtomicU64>,
    tagged: Arc<AtomicU64>,
    workers: Arc<Semaphore>,
    service: Duration,
    stall: Option<(Instant, Instant)>,
}

impl Server {
    fn new(workers: usize, service: Duration) -> Self {
        Self {
            requests: Arc::default(),
            tagged: Arc::default(),
            workers: Arc::new(Semaphore::new(workers)),
            service,
            stall: None,
        }
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn tagged(&self) -> u64 {
        self.tagged.load(Ordering::Relaxed)
    }
}

/// Both parts of the tag: the header and the W3C baggage member.
fn is_tagged(headers: &HeaderMap) -> bool {
    let header = headers.get("x-seawall-test").is_some_and(|v| v == RUN_ID);
    let member = format!("seawall-test={RUN_ID}");
    let baggage = headers
        .get("baggage")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|m| m.trim() == member));
    header && baggage
}

async fn handle(State(s): State<Server>, headers: HeaderMap) -> &'static str {
    s.requests.fetch_add(1, Ordering::Relaxed);
    if is_tagged(&headers) {
        s.tagged.fetch_add(1, Ordering::Relaxed);
    }
    // Tokio's semaphore is fair: waiting requests are served in order.
    let Ok(_worker) = s.workers.acquire().await else {
        return "closed";
    };
    if let Some((from, to)) = s.stall {
        let now = Instant::now();
        if now >= from && now < to {
            tokio::time::sleep_until(to).await;
        }
    }
    if !s.service.is_zero() {
        tokio::time::sleep(s.service).await;
    }
    "ok"
}

async fn serve(server: Server) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let app = Router::new().route("/", get(handle)).with_state(server);
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    addr
}

fn config(addr: SocketAddr, rate: Option<f64>, seconds: u64, connections: usize) -> LoadConfig {
    let mut c = LoadConfig::new(format!("http://{addr}/"));
    c.rate = rate;
    c.duration = Duration::from_secs(seconds);
    c.connections = connections;
    c.timeout = Duration::from_secs(5);
    c.tag = Some(TestTag::new(RUN_ID));
    c
}

async fn run(c: &LoadConfig) -> Summary {
    seawall_load::run(c, |_| {}).await.expect("run starts")
}

fn within(actual: f64, expected: f64, tolerance: f64) -> bool {
    (actual - expected).abs() <= expected * tolerance
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_within_one_percent_at_2000_rps_for_10_s_and_every_request_tagged() {
    let server = Server::new(1024, Duration::ZERO);
    let addr = serve(server.clone()).await;
    // A generous cap: a scheduling hiccup of the loaded machine must not
    // turn into dropped arrivals (arrivals already due are issued back to
    // back, so a 0.5 s freeze of the process means 1,000 at once).
    let s = run(&config(addr, Some(2000.0), 10, 1024)).await;

    // Nothing dropped in the normal case; a freeze longer than the cap
    // covers may drop a few, never enough to reach the 1 % bound.
    assert!(s.dropped <= 50, "{s:#?}");
    assert_eq!(s.errors.total, 0, "{:?}", s.errors);
    assert!(within(s.requests as f64, 20_000.0, 0.01), "{s:#?}");
    assert!(within(s.duration_s, 10.0, 0.01), "{s:#?}");
    assert!(within(s.achieved_rps, 2000.0, 0.01), "{s:#?}");
    // The server counted the same requests, each with both tags.
    assert!(within(server.requests() as f64, 20_000.0, 0.01));
    assert_eq!(server.requests(), s.requests);
    assert_eq!(server.tagged(), s.requests);
    // The per-second series adds up, and no second fell far behind.
    let per_second: u64 = s.intervals.iter().map(|i| i.requests).sum();
    assert_eq!(per_second, s.requests);
    for i in s.intervals.iter().take(9).skip(1) {
        assert!(i.requests >= 1000, "second {} thinned: {s:#?}", i.t_s);
    }
}

/// Latencies of a queueing model of [`Server`]: arrival `k` at `k / rate`,
/// `workers` FIFO servers of `service` each, no service starting inside
/// `[stall_from, stall_to)`. Returns the latencies in seconds, sorted.
fn model(
    rate: f64,
    seconds: f64,
    workers: usize,
    service: f64,
    stall_from: f64,
    stall_to: f64,
) -> Vec<f64> {
    let mut free = vec![0.0_f64; workers];
    let mut latencies = Vec::new();
    let n = (rate * seconds).round() as usize;
    for k in 0..n {
        let arrival = k as f64 / rate;
        let (i, earliest) = free
            .iter()
            .copied()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("at least one worker");
        let mut start = arrival.max(earliest);
        if start >= stall_from && start < stall_to {
            start = stall_to;
        }
        free[i] = start + service;
        latencies.push(free[i] - arrival);
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}

fn quantile_ms(sorted: &[f64], q: f64) -> f64 {
    let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index] * 1000.0
}

/// The server has 2 workers of 10 ms: a capacity of 200 rps. The open model
/// offers half of it, 100 rps for 10 s, and the server stalls for 1 s at
/// 4 s. About 100 arrivals queue during the stall and the backlog drains
/// at 200 − 100 rps for about another second, so the model predicts p90
/// ≈ 0.5 s, p99 ≈ 0.95 s and p99.9 ≈ 1 s, against ~10 ms without a stall.
/// The closed loop on one connection offers about the same rate but waits
/// for each response: only one of its ~1,000 requests sees the stall, its
/// p99 stays near the service time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_second_stall_at_half_capacity_shows_as_predicted_and_closed_loop_hides_it() {
    let service = Duration::from_millis(10);
    let (rate, seconds) = (100.0, 10);
    let predicted = model(rate, seconds as f64, 2, service.as_secs_f64(), 4.0, 5.0);
    let p = |q| quantile_ms(&predicted, q);
    let (p50, p90, p99, p999) = (p(0.5), p(0.9), p(0.99), p(0.999));
    // The model's own figures, so a change to it cannot pass silently.
    assert!(p50 < 20.0 && (400.0..600.0).contains(&p90), "{p50} {p90}");
    assert!(p99 > 900.0 && p999 > 980.0 && p999 < 1020.0, "{p99} {p999}");

    let mut server = Server::new(2, service);
    let start = Instant::now();
    server.stall = Some((
        start + Duration::from_secs(4),
        start + Duration::from_secs(5),
    ));
    let addr = serve(server.clone()).await;
    // Enough connections for the whole backlog: nothing may be dropped.
    let open = run(&config(addr, Some(rate), seconds, 400)).await;
    assert_eq!(open.dropped, 0, "{open:#?}");
    assert_eq!(open.errors.total, 0, "{open:#?}");
    assert!(within(open.requests as f64, 1000.0, 0.01), "{open:#?}");
    let l = open.latency_ms;
    // Lower bounds: the stall and the drain are wall-clock facts, a slow
    // machine only adds to them. Upper bounds: generous, yet they fail if
    // the latency were measured from anything but the intended time plus
    // queueing (e.g. summed twice).
    assert!(l.p50 < 150.0, "median stays near the service time: {l:?}");
    assert!(
        l.p90 >= 0.6 * p90 && l.p90 <= p90 + 500.0,
        "p90 {l:?} vs {p90}"
    );
    assert!(
        l.p99 >= 0.9 * p99 && l.p99 <= p99 + 500.0,
        "p99 {l:?} vs {p99}"
    );
    assert!(l.p999 >= 0.9 * p999 && l.p999 <= p999 + 500.0, "{l:?}");
    // The seconds during and after the stall carry it, the others do not.
    let second = |t| open.intervals.iter().find(|i| i.t_s == t).expect("second");
    assert!(second(5).latency_ms.max >= 900.0, "{open:#?}");
    assert!(second(2).latency_ms.p99 < 400.0, "{open:#?}");

    // Closed loop against a fresh server with the same stall.
    let mut server = Server::new(2, service);
    let start = Instant::now();
    server.stall = Some((
        start + Duration::from_secs(4),
        start + Duration::from_secs(5),
    ));
    let addr = serve(server).await;
    let closed = run(&config(addr, None, seconds, 1)).await;
    assert_eq!(closed.errors.total, 0, "{closed:#?}");
    let c = closed.latency_ms;
    assert!(c.max >= 900.0, "the closed loop did meet the stall: {c:?}");
    assert!(c.p99 < 100.0, "and hid it from p99: {c:?}");
    assert!(l.p99 > 5.0 * c.p99, "open {l:?} vs closed {c:?}");
}
