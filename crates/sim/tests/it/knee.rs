//! The capacity model's knee under real load: an open-model load from
//! seawall-load at 0.8× an entry's ground-truth knee stays inside its SLO,
//! at 1.5× it breaks — for an entry limited by its own service and for one
//! limited by a dependency called twice per request. Wall-clock sensitive:
//! runs alone under nextest (.config/nextest.toml); small capacities and
//! generous margins keep it robust on a loaded 2-core machine.

use crate::common;

use std::time::Duration;

use common::plan;
use seawall_load::{LoadConfig, Summary, TestTag};
use seawall_sim::{Sim, SimOptions};

/// `order`: api 3 × 50 = 150 QPS (db 1,000 is far away) → knee 150 at api.
/// `report`: front 1,000 QPS, but back (300 QPS) is called twice per
/// request → knee 150 at back.
const KNEE: &str = r#"
event: {name: knee test}
entries:
  order: {service: api, method: POST, path: /api/order, slo: {p99_ms: 200, error_rate: 0.01}}
  report: {service: front, method: GET, path: /api/report, slo: {p99_ms: 200, error_rate: 0.01}}
services:
  api:
    instances: 3
    capacity_per_instance: 50
    latency_ms: 20
    timeout_ms: 1000
    dependencies:
      - {to: db, strength: strong, timeout_ms: 300}
  db:
    instances: 10
    capacity_per_instance: 100
    latency_ms: 5
  front:
    instances: 10
    capacity_per_instance: 100
    latency_ms: 10
    timeout_ms: 1000
    dependencies:
      - {to: back, strength: strong, calls: 2, timeout_ms: 1000}
  back:
    instances: 3
    capacity_per_instance: 100
    latency_ms: 5
    timeout_ms: 1000
"#;

async fn load(url: &str, method: &str, rate: f64) -> Summary {
    let mut config = LoadConfig::new(url);
    config.method = method.to_owned();
    config.rate = Some(rate);
    config.duration = Duration::from_secs(3);
    config.connections = 400;
    config.timeout = Duration::from_secs(5);
    config.tag = Some(TestTag::new("knee-test"));
    seawall_load::run(&config, |_| {}).await.expect("load run")
}

fn error_ratio(s: &Summary) -> f64 {
    (s.errors.total + s.dropped) as f64 / s.requests.max(1) as f64
}

async fn knee_holds(sim: &Sim, entry: &str, method: &str, bottleneck: &str) {
    let truth = sim.truth().entry(entry).expect("entry").clone();
    assert_eq!(truth.bottleneck.as_deref(), Some(bottleneck));
    let knee = truth.knee_qps.expect("knee");
    assert!((knee - 150.0).abs() < 1e-9, "{entry}: knee {knee}");
    let url = truth.url.expect("url");

    let below = load(&url, method, 0.8 * knee).await;
    assert!(
        below.latency_ms.p99 <= 200.0 && error_ratio(&below) <= 0.01,
        "{entry} at 0.8× knee broke its SLO: p99 {} ms, errors {:?}, dropped {}",
        below.latency_ms.p99,
        below.errors,
        below.dropped
    );
    assert!(
        below.requests >= 300,
        "{entry}: only {} requests",
        below.requests
    );

    let above = load(&url, method, 1.5 * knee).await;
    for (label, s) in [("0.8×", &below), ("1.5×", &above)] {
        eprintln!(
            "{entry} at {label} knee: {} requests, p50 {} ms, p99 {} ms, errors {}, dropped {}",
            s.requests, s.latency_ms.p50, s.latency_ms.p99, s.errors.total, s.dropped
        );
    }
    assert!(
        above.latency_ms.p99 > 200.0 || error_ratio(&above) > 0.01,
        "{entry} at 1.5× knee kept its SLO: p99 {} ms, errors {:?}",
        above.latency_ms.p99,
        above.errors
    );
    // The bottleneck is what refused or queued: it (or its caller's
    // timeouts) is where the trouble shows.
    let c = sim.counters();
    let b = c.get(bottleneck).expect("bottleneck counters");
    assert!(b.requests > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knee_of_an_entry_limited_by_its_own_service() {
    let sim = Sim::start(&plan(KNEE), SimOptions::default())
        .await
        .expect("start");
    knee_holds(&sim, "order", "POST", "api").await;
    let c = sim.counters();
    let api = c.get("api").expect("api");
    assert!(api.rejected > 0 || api.ok > 0);
    // Every request was tagged: writes only in the shadow store.
    assert_eq!(c.real_writes(), 0, "{c:?}");
    assert_eq!(api.shadow_writes, api.ok);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knee_of_an_entry_limited_by_a_dependency_called_twice() {
    let sim = Sim::start(&plan(KNEE), SimOptions::default())
        .await
        .expect("start");
    knee_holds(&sim, "report", "GET", "back").await;
    let c = sim.counters();
    // front refused nothing itself: the failures came from back.
    assert_eq!(c.get("front").map(|f| f.rejected), Some(0), "{c:?}");
    assert!(
        c.get("back")
            .is_some_and(|b| b.rejected > 0 || b.requests > 0)
    );
    // GET: no writes at all.
    assert_eq!(c.real_writes() + c.shadow_writes(), 0);
    sim.shutdown().await;
}
