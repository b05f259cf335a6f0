//! Paging latency benchmark (`bench/paging.sh`): from a page-severity
//! alert firing to the first page handed to the channel, over N alerts.
//!
//! Real parts: a real server over SQLite on 127.0.0.1 (its API and its
//! paging loop), the real monitoring tick (a Prometheus stand-in that
//! refuses order-api's query while told to, so `source-down` — severity
//! page — fires after three failed ticks), the pager's per-channel queue
//! and sender, and a receiver of Seawall's signed webhook on loopback that
//! stamps each page's arrival. Each round: queries refused, ticks until
//! the alert fires (the incident opens inside that tick), the time from
//! the start of that tick to the page's arrival is one sample; then the
//! incident is resolved through the API and the queries answer again
//! until the alert resolves. Provider latency is loopback's.
//!
//! Rounds start `--interval-ms` apart (1050: the webhook channel's budget
//! is 60 messages a minute; faster, pages past the budget wait for a slot
//! by design, which measures the budget, not the pager).
//!
//! Prints p50 / p90 / p99 / max in milliseconds and one JSON line
//! (`{"samples":…,"p50_ms":…}`) for the script. Bounded: at most 12 ticks
//! a round, 20 s a page.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use seawall_server::service::monitoring::{self, MonitorOptions};
use seawall_server::{AppState, ManualClock, Server};
use seawall_store::StoreSpec;
use serde_json::json;

/// 2026-09-30T02:00:00Z, inside the plan's rota.
const T0: i64 = 1_790_733_600_000;
const SLUG: &str = "bench";

fn plan(prometheus: &str, hook: &str, secret_file: &std::path::Path) -> String {
    format!(
        "\
event: {{name: Paging bench, timezone: UTC}}
people:
  chen-jie: {{name: Chen Jie, phone: \"13800000001\"}}
  lin-wei: {{name: Lin Wei, phone: \"13800000003\"}}
organization:
  guarantee_group: [lin-wei]
  business_lines:
    bike: {{name: Bike, services: [order-api]}}
goals:
  orders: {{total: 360000, peak_hour_share: 0.1, peak_factor: 1.0}}
traffic:
  journeys:
    ride:
      goal: orders
      steps:
        - {{entry: create-order}}
entries:
  create-order: {{service: order-api, method: POST, path: /api/orders}}
services:
  order-api: {{line: bike, tier: frontend, instances: 2, capacity_per_instance: 10}}
oncall:
  ack_timeout: 1h
  rota:
    - {{lines: [bike], start: \"2026-09-30T00:00\", end: \"2026-10-02T00:00\", primary: chen-jie}}
  channels:
    war-room:
      kind: webhook
      webhook: \"{hook}\"
      secret_env: \"file:{}\"
emergency:
  allow_hosts: [\"127.0.0.1\"]
monitoring:
  prometheus: {{url: \"{prometheus}\"}}
  queries:
    order-api: {{p99_ms: \"sum(many_to_many_metric)\"}}
",
        secret_file.display()
    )
}

/// A Prometheus stand-in refusing `many_to_many` queries while `refuse`.
async fn prometheus(refuse: Arc<AtomicBool>) -> String {
    async fn query(
        axum::extract::State(refuse): axum::extract::State<Arc<AtomicBool>>,
        axum::Form(form): axum::Form<std::collections::HashMap<String, String>>,
    ) -> (http::StatusCode, axum::Json<serde_json::Value>) {
        let q = form.get("query").cloned().unwrap_or_default();
        if q.contains("many_to_many") && refuse.load(Ordering::SeqCst) {
            return (
                http::StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(
                    json!({"status": "error", "errorType": "execution", "error": "refused"}),
                ),
            );
        }
        let t = form
            .get("time")
            .and_then(|t| t.parse::<f64>().ok())
            .unwrap_or(0.0);
        let result = if q.contains("many_to_many") {
            json!([{"metric": {}, "value": [t, "12"]}])
        } else {
            json!([])
        };
        (
            http::StatusCode::OK,
            axum::Json(
                json!({"status": "success", "data": {"resultType": "vector", "result": result}}),
            ),
        )
    }
    let app = axum::Router::new()
        .route("/api/v1/query", axum::routing::post(query))
        .with_state(refuse);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// The receiver: each page's incident id and arrival.
type Arrivals = Arc<Mutex<Vec<(String, Instant)>>>;

async fn receiver(got: Arrivals) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<serde_json::Value>| {
            let got = Arc::clone(&got);
            async move {
                let at = Instant::now();
                let id = body["incident_id"].as_str().unwrap_or_default().to_owned();
                got.lock().expect("lock").push((id, at));
                http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[i.clamp(1, sorted.len()) - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let arg = |name: &str, default: u64| -> u64 {
        std::env::args()
            .skip_while(|a| a != name)
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = usize::try_from(arg("--alerts", 200)).unwrap_or(200);
    // Seawall's webhook channel sends at most 60 messages a minute (the
    // queue's budget, `Budget::for_provider`): one round every 1.05 s
    // stays within it, so no page waits for a slot.
    let interval = Duration::from_millis(arg("--interval-ms", 1_050));
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_file = dir.path().join("hook-secret");
    std::fs::write(&secret_file, "bench-webhook-secret").expect("secret");
    let refuse = Arc::new(AtomicBool::new(false));
    let prom = prometheus(Arc::clone(&refuse)).await;
    let arrivals: Arrivals = Arc::default();
    let hook = receiver(Arc::clone(&arrivals)).await;

    let store = seawall_store::open(&StoreSpec::Sqlite(dir.path().join("seawall.db")))
        .await
        .expect("store");
    let clock = ManualClock::new(T0);
    let state = AppState::new(store, dir.path())
        .with_clock(clock.clock())
        .with_monitoring(MonitorOptions {
            scrape_interval: Duration::from_secs(1),
            background: false,
            ..MonitorOptions::default()
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = Server::with_state(listener, state.clone())
        .await
        .expect("server");
    let base = format!("http://{}", server.local_addr().expect("addr"));
    let token = std::fs::read_to_string(dir.path().join("admin-token"))
        .expect("admin-token")
        .trim()
        .to_owned();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let admin = seawall_server::client::Client::new(&base)
        .expect("client")
        .with_token(&token);
    let r = admin
        .post_json("/api/v1/events", &json!({"slug": SLUG, "name": "Bench"}))
        .await
        .expect("event");
    assert_eq!(r.status, http::StatusCode::CREATED, "{}", r.text());
    let r = admin
        .post_json(
            &format!("/api/v1/events/{SLUG}/plans"),
            &json!({"file_name": "plan.yaml", "text": plan(&prom, &hook, &secret_file)}),
        )
        .await
        .expect("plan");
    assert_eq!(r.status, http::StatusCode::CREATED, "{}", r.text());

    let tick = |state: AppState, clock: ManualClock| async move {
        clock.advance(1_000);
        monitoring::tick(&state, clock.now()).await.expect("tick");
    };
    // Healthy ticks first, so the source has been up.
    for _ in 0..3 {
        tick(state.clone(), clock.clone()).await;
    }
    let mut samples = Vec::with_capacity(n);
    let mut ticks_to_fire = Vec::with_capacity(n);
    let mut next = tokio::time::Instant::now();
    for round in 0..n {
        tokio::time::sleep_until(next).await;
        next += interval;
        refuse.store(true, Ordering::SeqCst);
        let before = admin
            .incidents(SLUG)
            .await
            .expect("incidents")
            .incidents
            .len();
        let mut fired = None;
        for t in 0..12 {
            let start = Instant::now();
            tick(state.clone(), clock.clone()).await;
            let list = admin.incidents(SLUG).await.expect("incidents").incidents;
            if list.len() > before {
                let opened = list.last().map(|i| i.id).expect("incident");
                fired = Some((opened, start));
                ticks_to_fire.push(t + 1);
                break;
            }
        }
        let (id, start) = fired.unwrap_or_else(|| panic!("round {round}: no incident opened"));
        let wanted = id.to_string();
        let waited = Instant::now();
        let arrived = loop {
            let found = arrivals
                .lock()
                .expect("lock")
                .iter()
                .find(|(i, _)| *i == wanted)
                .map(|(_, at)| *at);
            if let Some(at) = found {
                break at;
            }
            assert!(
                waited.elapsed() < Duration::from_secs(20),
                "round {round}: no page"
            );
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        samples.push(arrived.duration_since(start).as_secs_f64() * 1000.0);
        admin
            .resolve_incident(SLUG, id, None)
            .await
            .expect("resolve");
        refuse.store(false, Ordering::SeqCst);
        for _ in 0..2 {
            tick(state.clone(), clock.clone()).await;
        }
    }
    let _ = stop.send(());
    let _ = serving.await;

    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    let (p50, p90, p99) = (
        percentile(&sorted, 50.0),
        percentile(&sorted, 90.0),
        percentile(&sorted, 99.0),
    );
    let max = sorted.last().copied().unwrap_or(0.0);
    println!(
        "{} alerts: alert firing (start of the firing tick) to the page at the receiver: p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms",
        samples.len()
    );
    println!(
        "{}",
        json!({"samples": samples.len(), "p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "max_ms": max,
               "ticks_to_fire": ticks_to_fire.iter().max()})
    );
}
