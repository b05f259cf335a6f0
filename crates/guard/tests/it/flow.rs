//! Flow control on a manual clock: reject, warm-up, pace-with-queue,
//! concurrency, per-caller quotas.

use crate::common;

use std::time::Duration;

use common::{call, guard};
use seawall_guard::{BlockReason, Decision, Outcome};

const SEC: u64 = 1_000_000_000;

/// Offers `rate` requests per second, evenly spaced, for `secs` seconds and
/// returns how many were admitted in each second.
fn offer(
    g: &common::TestGuard,
    clock: &seawall_guard::ManualClock,
    rate: u64,
    secs: u64,
) -> Vec<u64> {
    let start = clock.elapsed();
    let mut admitted = vec![0u64; secs as usize];
    for i in 0..rate * secs {
        let at = start + Duration::from_nanos(i * SEC / rate);
        clock.set(at);
        if call(g, "api", None, Outcome::Ok) {
            admitted[(i / rate) as usize] += 1;
        }
    }
    clock.set(start + Duration::from_secs(secs));
    admitted
}

#[test]
fn qps_limit_admits_the_limit_each_second_under_triple_load() {
    let (g, clock) = guard(
        "version: 1\nresources:\n  - name: api\n    flow:\n      - id: api-qps\n        count: 1000\n",
    );
    let admitted = offer(&g, &clock, 3000, 10);
    for (s, n) in admitted.iter().enumerate() {
        assert!((980..=1020).contains(n), "second {s}: admitted {n}");
    }
    let stats = g.stats("api-qps").expect("rule exists");
    assert_eq!(stats.blocked, 30_000 - admitted.iter().sum::<u64>());
}

/// The documented warm-up model (docs/guard-rules.md), one step a second,
/// under a load that always exceeds the limit.
fn warm_up_model(count: f64, period: f64, cold: f64, secs: usize) -> Vec<u64> {
    let warning = ((period * count).floor() / (cold - 1.0)).floor();
    let max = warning + (2.0 * period * count / (1.0 + cold)).floor();
    let slope = (cold - 1.0) / count / (max - warning);
    let mut tokens = max;
    let mut previous = 0.0;
    let mut out = Vec::new();
    for k in 0..secs {
        if k > 0 {
            if tokens < warning || (tokens > warning && previous < count.floor() / cold) {
                tokens = (tokens + count).min(max);
            }
            tokens = (tokens - previous).max(0.0);
        }
        let allowed = if tokens >= warning {
            1.0 / ((tokens - warning) * slope + 1.0 / count)
        } else {
            count
        };
        let admitted = allowed.floor();
        out.push(admitted as u64);
        previous = admitted;
    }
    out
}

#[test]
fn warm_up_admits_the_documented_rising_curve() {
    let (g, clock) = guard(
        "version: 1\nresources:\n  - name: api\n    flow:\n      - id: api-warm\n        count: 1000\n        behavior: warm_up\n        warm_up_secs: 10\n        cold_factor: 3\n",
    );
    let admitted = offer(&g, &clock, 3000, 20);
    let model = warm_up_model(1000.0, 10.0, 3.0, 20);
    assert!(
        (330..=335).contains(&admitted[0]),
        "starts at count / cold_factor: {admitted:?}"
    );
    for (s, (got, want)) in admitted.iter().zip(&model).enumerate() {
        let tolerance = (*want as f64 * 0.02).max(2.0);
        assert!(
            (*got as f64 - *want as f64).abs() <= tolerance,
            "second {s}: admitted {got}, model {want}\nadmitted {admitted:?}\nmodel    {model:?}"
        );
    }
    assert!(
        admitted.windows(2).all(|w| w[1] + 2 >= w[0]),
        "rising: {admitted:?}"
    );
    assert!(admitted[19] >= 990, "reaches the limit: {admitted:?}");
    // Idle traffic cools the bucket down again.
    clock.advance(Duration::from_secs(60));
    let again = offer(&g, &clock, 3000, 1);
    assert!((330..=335).contains(&again[0]), "cold again: {again:?}");
}

#[test]
fn pace_spreads_a_burst_and_rejects_beyond_max_queueing_time() {
    let (g, clock) = guard(
        "version: 1\nresources:\n  - name: api\n    flow:\n      - id: api-pace\n        count: 100\n        behavior: pace\n        max_queueing_ms: 50\n",
    );
    let mut waits = Vec::new();
    for _ in 0..8 {
        match g.check("api", None) {
            Decision::Pass(p) => {
                waits.push(Some(Duration::ZERO));
                g.finish(p, Outcome::Ok);
            }
            Decision::Wait { wait, permit } => {
                waits.push(Some(wait));
                g.finish(permit, Outcome::Ok);
            }
            Decision::Block(b) => {
                assert_eq!(b.reason, BlockReason::QueueTooLong);
                assert_eq!(&*b.rule_id, "api-pace");
                waits.push(None);
            }
            Decision::Fallback(f) => panic!("unexpected fallback {f:?}"),
        }
    }
    let ms = |n| Some(Duration::from_millis(n));
    assert_eq!(
        waits,
        vec![ms(0), ms(10), ms(20), ms(30), ms(40), ms(50), None, None]
    );
    // Once the queue has drained, a request passes at once.
    clock.advance(Duration::from_millis(60));
    assert!(matches!(g.check("api", None), Decision::Pass(_)));
}

#[test]
fn concurrency_limit_counts_calls_in_flight() {
    let (g, _clock) = guard(
        "version: 1\nresources:\n  - name: api\n    flow:\n      - id: api-conc\n        grade: concurrency\n        count: 2\n",
    );
    let a = g.check("api", None);
    let b = g.check("api", None);
    assert!(a.is_admitted() && b.is_admitted());
    match g.check("api", None) {
        Decision::Block(b) => assert_eq!(b.reason, BlockReason::ConcurrencyLimit),
        other => panic!("expected a block, got {other:?}"),
    }
    assert_eq!(g.stats("api-conc").map(|s| s.in_flight), Some(2));
    if let Decision::Pass(p) = a {
        g.finish(p, Outcome::Ok);
    }
    assert!(call(&g, "api", None, Outcome::Ok));
    drop(b);
    assert_eq!(g.stats("api-conc").map(|s| s.in_flight), Some(0));
}

#[test]
fn per_origin_quota_holds_one_callers_flood_away_from_another() {
    let (g, clock) = guard(
        "version: 1\nresources:\n  - name: api\n    flow:\n      - id: api-per-caller\n        count: 100\n        per_origin: true\n",
    );
    let mut flood = 0;
    let mut quiet = 0;
    for i in 0..2_000u64 {
        clock.set(Duration::from_secs(1000) + Duration::from_nanos(i * SEC / 2_000));
        if call(&g, "api", Some("crawler"), Outcome::Ok) {
            flood += 1;
        }
        if i % 40 == 0 && call(&g, "api", Some("app"), Outcome::Ok) {
            quiet += 1;
        }
    }
    assert_eq!(flood, 100);
    assert_eq!(quiet, 50);
}

#[test]
fn named_and_other_origins() {
    let (g, _clock) = guard(
        "version: 1\nresources:\n  - name: api\n    flow:\n      - id: partner\n        count: 3\n        origin: partner-a\n      - id: others\n        count: 1\n        origin: other\n",
    );
    let admitted = |o: Option<&str>| (0..5).filter(|_| call(&g, "api", o, Outcome::Ok)).count();
    assert_eq!(admitted(Some("partner-a")), 3);
    assert_eq!(admitted(Some("partner-b")), 1);
    // `other` is shared by every unnamed caller; callers without a name are not "other".
    assert_eq!(admitted(Some("partner-c")), 0);
    assert_eq!(admitted(None), 5);
}

#[test]
fn unknown_resource_passes() {
    let (g, _clock) = guard("version: 1\nresources: []\n");
    assert!(call(&g, "anything", None, Outcome::Ok));
}
