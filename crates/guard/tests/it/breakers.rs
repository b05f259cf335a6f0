//! Circuit breakers, degradation switches and dry-run on a manual clock.

use crate::common;

use std::time::Duration;

use common::{call, guard};
use seawall_guard::{BlockReason, BreakerState, Decision, GuardError, Outcome};

const ERROR_RATIO: &str = "version: 1
resources:
  - name: api
    breakers:
      - id: api-errors
        strategy: error_ratio
        threshold: 0.5
        min_requests: 10
        stat_window_ms: 1000
        open_ms: 5000
";

fn states(g: &common::TestGuard) -> Vec<(BreakerState, BreakerState)> {
    g.drain_events()
        .into_iter()
        .map(|e| (e.from, e.to))
        .collect()
}

#[test]
fn error_ratio_breaker_opens_probes_once_and_closes() {
    use BreakerState::{Closed, HalfOpen, Open};
    let (g, clock) = guard(ERROR_RATIO);
    // Below min_requests nothing trips, even at 100 % errors.
    for _ in 0..9 {
        assert!(call(&g, "api", None, Outcome::Error));
    }
    assert_eq!(g.breaker_state("api-errors"), Some(Closed));
    assert!(call(&g, "api", None, Outcome::Error));
    assert_eq!(g.breaker_state("api-errors"), Some(Open));
    let opened = g.drain_events();
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0].value, Some(1.0));
    assert_eq!(opened[0].rule_id, "api-errors");

    // Open: everything is rejected until the open period ends.
    clock.advance(Duration::from_millis(4_999));
    match g.check("api", None) {
        Decision::Block(b) => {
            assert_eq!(&*b.rule_id, "api-errors");
            assert_eq!(b.reason, BlockReason::CircuitOpen);
        }
        other => panic!("expected a block, got {other:?}"),
    }

    // Half-open: exactly one probe; a failed probe re-opens.
    clock.advance(Duration::from_millis(1));
    let probe = match g.check("api", None) {
        Decision::Pass(p) => p,
        other => panic!("expected the probe, got {other:?}"),
    };
    assert!(probe.is_probe());
    assert_eq!(g.breaker_state("api-errors"), Some(HalfOpen));
    for _ in 0..5 {
        assert!(!call(&g, "api", None, Outcome::Ok), "only one probe");
    }
    g.finish(probe, Outcome::Error);
    assert_eq!(g.breaker_state("api-errors"), Some(Open));
    assert!(!call(&g, "api", None, Outcome::Ok));

    // Next period: a successful probe closes, and traffic flows.
    clock.advance(Duration::from_secs(5));
    assert!(call(&g, "api", None, Outcome::Ok));
    assert_eq!(g.breaker_state("api-errors"), Some(Closed));
    for _ in 0..20 {
        assert!(call(&g, "api", None, Outcome::Ok));
    }
    assert_eq!(
        states(&g),
        vec![
            (Open, HalfOpen),
            (HalfOpen, Open),
            (Open, HalfOpen),
            (HalfOpen, Closed)
        ]
    );
    assert_eq!(g.stats("api-errors").map(|s| s.blocked), Some(7));
}

#[test]
fn ratio_below_threshold_keeps_the_breaker_closed() {
    let (g, clock) = guard(ERROR_RATIO);
    for i in 0..100 {
        let outcome = if i % 2 == 1 {
            Outcome::Error
        } else {
            Outcome::Ok
        };
        assert!(call(&g, "api", None, outcome));
    }
    assert_eq!(g.breaker_state("api-errors"), Some(BreakerState::Closed));
    // The statistic window rolls: old errors do not count.
    clock.advance(Duration::from_secs(2));
    for _ in 0..9 {
        assert!(call(&g, "api", None, Outcome::Error));
    }
    assert_eq!(g.breaker_state("api-errors"), Some(BreakerState::Closed));
}

#[test]
fn abandoned_probe_reopens() {
    let (g, clock) = guard(ERROR_RATIO);
    for _ in 0..10 {
        call(&g, "api", None, Outcome::Error);
    }
    clock.advance(Duration::from_secs(5));
    let probe = g.check("api", None);
    assert!(probe.is_admitted());
    drop(probe);
    assert_eq!(g.breaker_state("api-errors"), Some(BreakerState::Open));
}

#[test]
fn slow_ratio_and_error_count_breakers() {
    let (g, clock) = guard(
        "version: 1
resources:
  - name: slow
    breakers:
      - id: slow-calls
        strategy: slow_ratio
        threshold: 0.5
        slow_rt_ms: 100
        min_requests: 4
        open_ms: 1000
  - name: count
    breakers:
      - id: error-count
        strategy: error_count
        threshold: 3
        min_requests: 1
        open_ms: 1000
",
    );
    for slow in [true, true, false, true] {
        let d = g.check("slow", None);
        let Decision::Pass(p) = d else {
            panic!("expected a pass, got {d:?}")
        };
        clock.advance(Duration::from_millis(if slow { 150 } else { 10 }));
        g.finish(p, Outcome::Ok);
    }
    assert_eq!(g.breaker_state("slow-calls"), Some(BreakerState::Open));

    for _ in 0..3 {
        assert!(call(&g, "count", None, Outcome::Error));
    }
    assert_eq!(g.breaker_state("error-count"), Some(BreakerState::Closed));
    assert!(call(&g, "count", None, Outcome::Error));
    assert_eq!(g.breaker_state("error-count"), Some(BreakerState::Open));
}

#[test]
fn switch_serves_the_fallback() {
    let (g, _clock) = guard(
        "version: 1
resources:
  - name: api
    switches:
      - id: api-degrade
        fallback:
          status: 200
          body: '{\"items\":[]}'
          headers: { content-type: application/json }
    flow:
      - id: api-qps
        count: 1
",
    );
    assert!(call(&g, "api", None, Outcome::Ok));
    g.set_switch("api-degrade", true).expect("switch exists");
    match g.check("api", None) {
        Decision::Fallback(f) => {
            assert_eq!(&*f.rule_id, "api-degrade");
            assert_eq!(f.response.status, 200);
            assert_eq!(f.response.body, "{\"items\":[]}");
            assert_eq!(
                f.response.headers.get("content-type").map(String::as_str),
                Some("application/json")
            );
        }
        other => panic!("expected the fallback, got {other:?}"),
    }
    g.set_switch("api-degrade", false).expect("switch exists");
    assert_eq!(g.check("api", None).rule_id(), Some("api-qps"));
    assert_eq!(
        g.set_switch("nope", true),
        Err(GuardError::UnknownSwitch("nope".into()))
    );
}

#[test]
fn dry_run_never_blocks_but_counts() {
    let (g, clock) = guard(
        "version: 1
resources:
  - name: api
    switches:
      - id: api-degrade
        on: true
        dry_run: true
    flow:
      - id: api-qps
        count: 5
        dry_run: true
    breakers:
      - id: api-errors
        strategy: error_count
        threshold: 0
        min_requests: 1
        open_ms: 60000
        dry_run: true
",
    );
    for _ in 0..20 {
        assert!(call(&g, "api", None, Outcome::Error));
    }
    clock.advance(Duration::from_millis(1));
    let q = g.stats("api-qps").expect("rule");
    assert_eq!((q.blocked, q.would_block), (0, 15));
    assert_eq!(q.pass_qps, 20);
    let s = g.stats("api-degrade").expect("rule");
    assert_eq!((s.blocked, s.would_block), (0, 20));
    let b = g.stats("api-errors").expect("rule");
    assert_eq!(b.breaker, Some(BreakerState::Open));
    assert_eq!((b.blocked, b.would_block), (0, 19));
}
