//! Honest knees over real HTTP on loopback: a capacity search whose
//! generator is the limit reports a lower bound, never a knee; a search
//! against the simulator whose declared capacity is 3× the truth, or a
//! third of it, finds the knee within 5 %. Wall-clock sensitive: runs
//! alone under nextest (.config/nextest.toml, with every seawall-load
//! integration test); short steps keep each search under half a minute.

use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use seawall_load::result::{RunResult, SloSpec};
use seawall_load::{GuardSpec, JourneySpec, LoadProfile, SearchSpec, rehearse};
use seawall_sim::{Sim, SimOptions};

use crate::scenario::{entry, scenario, serve_apart, step};

/// Steps of a search, one line each, for failure messages.
fn steps(r: &RunResult) -> String {
    r.search
        .iter()
        .flat_map(|s| &s.steps)
        .map(|st| {
            let g = st.generator.as_ref();
            format!(
                "{} ×{:.3} {:.2}s held {} rps {:.0} p99 {:.1} ms; generator {} cpu {:?} late {:.3} max lag {:.1} ms {}",
                st.kind,
                st.multiple,
                st.duration_s,
                st.held,
                st.entries.first().map_or(0.0, |e| e.achieved_rps),
                st.entries.first().map_or(0.0, |e| e.p99_ms),
                g.is_some_and(|g| g.bound),
                g.and_then(|g| g.cpu_share),
                g.map_or(0.0, |g| g.late_share),
                g.map_or(0.0, |g| g.max_lag_ms),
                g.map(|g| g.reasons.join("; ")).unwrap_or_default(),
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A server that answers at once, on its own thread, against a generator
/// confined to one thread (a current-thread runtime: one core at most) and
/// deliberately throttled: another task on that thread takes it away for
/// 6 ms at every turn of the scheduler (a blocking sleep, as if the core
/// were busy elsewhere), so the generator runs out long before the server
/// does. The search must say so — a lower bound, with the generator-bound
/// steps named — and never report a knee.
#[tokio::test(flavor = "current_thread")]
async fn a_generator_bound_search_reports_a_lower_bound_never_a_knee() {
    let addr = serve_apart(Router::new().route("/fast", get(|| async { "ok" })));
    let j = JourneySpec {
        id: "j".to_owned(),
        rate: 1000.0,
        steps: vec![step(0, "GET", "/fast")],
    };
    let slo = SloSpec {
        p99_ms: Some(50.0),
        error_rate: Some(0.01),
    };
    let mut s = scenario(addr, vec![entry("fast", 1000.0, Some(slo))], vec![j]);
    s.connections = 2000;
    s.guards = GuardSpec {
        error_rate: Some(0.01),
        p99_ms: Some(50.0),
        window: Duration::from_secs(1),
    };
    s.load = LoadProfile::Search(SearchSpec {
        start: 1.0,
        step: 1.0,
        max: 64.0,
        step_duration: Duration::from_millis(700),
        hold: Duration::from_millis(700),
        cooldown: Duration::from_millis(300),
    });
    let throttle = tokio::spawn(async {
        // Bounded: aborted when the search ends.
        loop {
            std::thread::sleep(Duration::from_millis(6));
            tokio::task::yield_now().await;
        }
    });
    let began = Instant::now();
    let r = rehearse(&s, |_| {}).await.expect("run");
    let took = began.elapsed();
    throttle.abort();
    let search = r.search.as_ref().expect("search result");
    let trace = steps(&r);
    eprintln!("generator-bound search: {took:.1?}\n{trace}");
    assert!(search.generator_bound, "not generator-bound:\n{trace}");
    assert_eq!(search.knee_multiple, None, "{trace}");
    assert_eq!(r.entries[0].knee_qps, None, "{trace}");
    assert!(search.bottlenecks.is_empty(), "{trace}");
    let lower = search.lower_bound_multiple.expect("a lower bound");
    let lower_qps = r.entries[0].lower_bound_qps.expect("entry lower bound");
    assert!(
        lower >= 0.5 && lower_qps >= 450.0,
        "{lower} {lower_qps}\n{trace}"
    );
    // The lowest multiple that broke was a step the generator limited,
    // and it says why.
    let broken = search.broken_multiple.expect("a step broke");
    let at = search
        .steps
        .iter()
        .find(|st| !st.held && (st.multiple - broken).abs() < 1e-9)
        .expect("the broken step");
    let check = at.generator.as_ref().expect("generator check");
    assert!(check.bound && !check.reasons.is_empty(), "{trace}");
    assert!(
        search.stopped.contains("generator was the limit")
            && search.stopped.contains("(the generator "),
        "{}",
        search.stopped
    );
    // Every step up to the lower bound held and was measured.
    assert!(search.steps.len() <= 16 + 8 + 6 + 2, "{trace}");
}

/// One entry, `order`, served by `api` (3 instances × 50 = 150 QPS, 10 ms
/// service time): its true knee is 150 QPS.
const PLAN: &str = r#"
event: {name: honest knee}
entries:
  order: {service: api, method: GET, path: /api/order, slo: {p99_ms: 40, error_rate: 0.01}}
services:
  api:
    instances: 3
    capacity_per_instance: 50
    latency_ms: 10
    timeout_ms: 1000
"#;

/// Search `order` on the simulator as `seawall demo` does — multiples of
/// a declared capacity, from ×0.8 by 0.1 — with a declared capacity of
/// `declared_over_truth` × the truth; the knee, the step count and the time.
async fn search_declared(declared_over_truth: f64) -> (f64, f64, usize, Duration) {
    let plan = match seawall_plan::parse(PLAN, "plan.yaml") {
        Ok(p) => p,
        Err(d) => panic!("test plan is invalid: {d:?}"),
    };
    let sim = Sim::start(&plan, SimOptions::default())
        .await
        .expect("simulator");
    let truth = sim.truth().entry("order").expect("order").clone();
    let knee = truth.knee_qps.expect("true knee");
    let url = truth.url.expect("url");
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("simulator address");
    let declared = knee * declared_over_truth;
    let j = JourneySpec {
        id: "j".to_owned(),
        rate: declared,
        steps: vec![step(0, "GET", "/api/order")],
    };
    let slo = SloSpec {
        p99_ms: Some(40.0),
        error_rate: Some(0.01),
    };
    let mut s = scenario(addr, vec![entry("order", declared, Some(slo))], vec![j]);
    s.connections = 400;
    s.guards = GuardSpec {
        error_rate: Some(0.01),
        p99_ms: Some(40.0),
        window: Duration::from_secs(1),
    };
    s.load = LoadProfile::Search(SearchSpec {
        start: 0.8,
        step: 0.1,
        max: 5.0,
        step_duration: Duration::from_secs(1),
        hold: Duration::from_secs(1),
        cooldown: Duration::from_millis(1200),
    });
    let began = Instant::now();
    let r = rehearse(&s, |_| {}).await.expect("run");
    let took = began.elapsed();
    sim.shutdown().await;
    let search = r.search.as_ref().expect("search");
    let trace = steps(&r);
    eprintln!("declared {declared_over_truth}× the truth: {took:.1?}\n{trace}");
    assert!(!search.generator_bound, "{trace}");
    let found = r.entries[0].knee_qps.expect(&trace);
    (found, knee, search.steps.len(), took)
}

/// A declared capacity three times the truth: the search starts far above
/// the knee, steps down with doubling increments and bisects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_three_times_the_truth_finds_the_knee_within_5_percent() {
    let (found, truth, steps, took) = search_declared(3.0).await;
    eprintln!("knee {found:.1} vs truth {truth:.1}: {steps} steps, {took:.1?}");
    assert!(
        (found - truth).abs() / truth <= 0.05,
        "knee {found:.1} vs truth {truth:.1}"
    );
    assert!(steps <= 1 + 8 + 6 + 2, "{steps} steps");
}

/// A declared capacity a third of the truth: the search starts far below
/// the knee, steps up with doubling increments and bisects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_a_third_of_the_truth_finds_the_knee_within_5_percent() {
    let (found, truth, steps, took) = search_declared(1.0 / 3.0).await;
    eprintln!("knee {found:.1} vs truth {truth:.1}: {steps} steps, {took:.1?}");
    assert!(
        (found - truth).abs() / truth <= 0.05,
        "knee {found:.1} vs truth {truth:.1}"
    );
    assert!(steps <= 16 + 6 + 2, "{steps} steps");
}
