//! Cluster-wide quotas (`scope: cluster`) on a manual clock: three guards
//! leasing from one shared bucket hold the service-wide limit; with the
//! control plane gone each falls back to `count ÷ instances`; leases
//! expire; and property tests of the lease arithmetic.

use crate::common;

use std::time::Duration;

use common::{TestGuard, call, guard};
use proptest::prelude::*;
use seawall_guard::cluster::{Bucket, batch, depth, fair_share, fallback_share, reported_demand};
use seawall_guard::{ClusterMode, ManualClock, Outcome, RuleSet};

const RULES: &str = "version: 1\nresources:\n  - name: api\n    flow:\n      - id: api-cluster\n        count: 900\n        scope: cluster\n";
const LEASE_EVERY: Duration = Duration::from_millis(100);
const TTL: Duration = Duration::from_millis(500);

/// Three sidecars' guards on one clock, offered 2,000 / 500 / 100 QPS.
struct Fleet {
    guards: Vec<TestGuard>,
    clock: std::sync::Arc<ManualClock>,
    rates: [u64; 3],
}

fn fleet() -> Fleet {
    let (a, clock) = guard(RULES);
    let rules = RuleSet::from_yaml(RULES).expect("rules");
    let b = seawall_guard::Guard::with_clock(rules.clone(), std::sync::Arc::clone(&clock))
        .expect("guard");
    let c = seawall_guard::Guard::with_clock(rules, std::sync::Arc::clone(&clock)).expect("guard");
    Fleet {
        guards: vec![a, b, c],
        clock,
        rates: [2000, 500, 100],
    }
}

/// Runs the fleet for `secs` seconds in 1 ms steps: each guard gets its
/// offered requests spread evenly, and every [`LEASE_EVERY`] (unless
/// `offline`) leases from `bucket` what its demand asks. Returns the
/// admitted requests per second per guard.
fn run(f: &Fleet, bucket: &mut Bucket, secs: u64, offline: bool) -> Vec<[u64; 3]> {
    let start = f.clock.elapsed();
    let mut out = vec![[0u64; 3]; secs as usize];
    let mut sent = [0u64; 3];
    for ms in 0..secs * 1000 {
        let at = start + Duration::from_millis(ms);
        f.clock.set(at);
        if !offline && ms % LEASE_EVERY.as_millis() as u64 == 0 {
            // What the control plane knows: every instance's demand.
            let demands: Vec<f64> = f
                .guards
                .iter()
                .map(|g| reported_demand(g.cluster_quotas()[0].offered_qps))
                .collect();
            for (g, mine) in f.guards.iter().zip(&demands) {
                let q = &g.cluster_quotas()[0];
                let ask = batch(q.offered_qps as f64, q.count, LEASE_EVERY, q.tokens);
                let now_ms = i64::try_from(at.as_millis()).expect("ms");
                let cap = fair_share(q.count, &demands, *mine) * LEASE_EVERY.as_secs_f64();
                let got = bucket.take(q.count, now_ms, ask.min(cap.ceil() as u64));
                assert!(g.cluster_grant("api-cluster", got, TTL));
                g.set_cluster_instances(3);
            }
        }
        for (i, g) in f.guards.iter().enumerate() {
            let due = (ms + 1) * f.rates[i] / 1000;
            while sent[i] < due {
                sent[i] += 1;
                if call(g, "api", None, Outcome::Ok) {
                    out[(ms / 1000) as usize][i] += 1;
                }
            }
        }
    }
    f.clock.set(start + Duration::from_secs(secs));
    out
}

#[test]
fn three_guards_share_the_limit_and_fall_back_to_a_third_each() {
    let f = fleet();
    let mut bucket = Bucket::new(900.0, 1_000_000);
    let leased = run(&f, &mut bucket, 6, false);
    for (s, per) in leased.iter().enumerate().skip(1) {
        let total: u64 = per.iter().sum();
        assert!(
            (873..=927).contains(&total),
            "second {s}: {per:?} admitted {total}, want 900 ± 3 %"
        );
        if s > 1 {
            assert!(
                per[2] >= 95,
                "second {s}: the light sidecar starved: {per:?}"
            );
        }
    }
    for g in &f.guards {
        assert_eq!(g.cluster_quotas()[0].mode, ClusterMode::Leased);
    }
    // The control plane goes away: each says so and enforces 900 ÷ 3,
    // and the window that still holds leased admissions counts.
    for g in &f.guards {
        g.cluster_offline(true);
    }
    let fallback = run(&f, &mut bucket, 4, true);
    for (s, per) in fallback.iter().enumerate() {
        let total: u64 = per.iter().sum();
        assert!(
            total <= 900,
            "fallback second {s}: {per:?} admitted {total}"
        );
        assert!(
            per.iter().all(|n| *n <= 300),
            "fallback second {s}: {per:?}"
        );
    }
    let last: u64 = fallback[3].iter().sum();
    assert_eq!(
        last,
        300 + 300 + 100,
        "the steady fallback: {:?}",
        fallback[3]
    );
    for g in &f.guards {
        let q = &g.cluster_quotas()[0];
        assert_eq!(q.mode, ClusterMode::Fallback);
        assert_eq!(q.instances, 3);
        assert!((q.fallback_qps - 300.0).abs() < 1e-9);
    }
}

#[test]
fn a_lease_expires_and_an_unrenewed_rule_falls_back_by_itself() {
    let (g, clock) = guard(RULES);
    g.set_cluster_instances(3);
    // Never leased: the fallback share.
    assert_eq!(g.cluster_quotas()[0].mode, ClusterMode::Fallback);
    assert!(g.cluster_grant("api-cluster", 5, TTL));
    assert!(!g.cluster_grant("no-such-rule", 5, TTL));
    let admitted = (0..10)
        .filter(|_| call(&g, "api", None, Outcome::Ok))
        .count();
    assert_eq!(admitted, 5, "exactly the leased tokens");
    assert!(g.cluster_grant("api-cluster", 5, TTL));
    // Past the lease: its tokens are gone, nothing passes until renewed…
    clock.advance(TTL + Duration::from_millis(1));
    assert_eq!(g.cluster_quotas()[0].tokens, 0);
    assert_eq!(g.cluster_quotas()[0].mode, ClusterMode::Leased);
    assert!(!call(&g, "api", None, Outcome::Ok));
    // …and a whole lease later without renewal, the share of 900 ÷ 3.
    clock.advance(TTL);
    assert_eq!(g.cluster_quotas()[0].mode, ClusterMode::Fallback);
    clock.advance(Duration::from_secs(1));
    let admitted = (0..1000)
        .filter(|_| call(&g, "api", None, Outcome::Ok))
        .count();
    assert_eq!(admitted, 300);
    // A grant after an expired lease keeps no old tokens.
    assert!(g.cluster_grant("api-cluster", 7, TTL));
    assert_eq!(g.cluster_quotas()[0].tokens, 7);
}

#[test]
fn cluster_scope_needs_a_plain_qps_rule() {
    for extra in [
        "        grade: concurrency\n",
        "        behavior: pace\n",
        "        per_origin: true\n",
    ] {
        let yaml = format!("{RULES}{extra}");
        let e = RuleSet::from_yaml(&yaml).and_then(|r| r.validate().map(|()| r));
        assert!(e.is_err(), "{extra} was accepted");
    }
    let ok = RuleSet::from_yaml(RULES).expect("valid");
    let json = serde_json::to_string(&ok).expect("json");
    assert!(json.contains("\"scope\":\"cluster\""), "{json}");
}

proptest! {
    /// Whatever is asked and whenever, a bucket never grants more than its
    /// depth plus the rate times the time elapsed, and stays within
    /// 0..=depth.
    #[test]
    fn a_bucket_never_grants_beyond_its_rate(
        rate in 1.0f64..100_000.0,
        steps in proptest::collection::vec((0i64..400, 0u64..50_000), 1..60),
    ) {
        let start = 1_000_000i64;
        let mut b = Bucket::new(rate, start);
        let mut now = start;
        let mut granted = 0u64;
        for (dt, asked) in steps {
            now += dt;
            let got = b.take(rate, now, asked);
            prop_assert!(got <= asked);
            granted += got;
            prop_assert!(b.tokens >= 0.0 && b.tokens <= depth(rate) + 1e-9);
            let bound = depth(rate) + rate * (now - start) as f64 / 1000.0;
            prop_assert!(granted as f64 <= bound + 1e-6, "granted {granted} > {bound}");
        }
    }

    /// A clock that goes back refills nothing.
    #[test]
    fn a_bucket_refills_nothing_backwards(rate in 1.0f64..10_000.0, back in 1i64..100_000) {
        let mut b = Bucket::new(rate, 1_000_000);
        let all = b.take(rate, 1_000_000, u64::MAX);
        prop_assert_eq!(all as f64, depth(rate).floor());
        prop_assert_eq!(b.take(rate, 1_000_000 - back, u64::MAX), 0);
    }

    /// Fair shares never add up to more than the rate, and nobody gets
    /// more than they ask while others are short.
    #[test]
    fn fair_shares_add_up_to_the_rate(
        rate in 0.0f64..1e6,
        demands in proptest::collection::vec(0.0f64..1e6, 1..20),
    ) {
        let shares: Vec<f64> = demands.iter().map(|d| fair_share(rate, &demands, *d)).collect();
        let sum: f64 = shares.iter().sum();
        prop_assert!(sum <= rate * (1.0 + 1e-9) + 1e-6, "{sum} > {rate}");
        let total: f64 = demands.iter().sum();
        if total > rate {
            for (s, d) in shares.iter().zip(&demands) {
                prop_assert!(*s <= d + 1e-9);
            }
            prop_assert!(sum >= rate * (1.0 - 1e-9) - 1e-6, "{sum} < {rate}");
        }
    }

    /// `instances` sidecars at their fallback share stay within the limit.
    #[test]
    fn fallback_shares_add_up_to_at_most_the_limit(count in 0.0f64..1e7, n in 0u32..10_000) {
        let share = fallback_share(count, n);
        prop_assert!(share * f64::from(n.max(1)) <= count * (1.0 + 1e-12));
        prop_assert!(share >= 0.0);
    }

    /// A batch covers the demand over the period, never more than the
    /// period's worth of the limit, and nothing while enough is held.
    #[test]
    fn a_batch_follows_demand(
        demand in 0.0f64..1e6,
        count in 0.0f64..1e6,
        period_ms in 1u64..5000,
        held in -1000i64..100_000,
    ) {
        let period = Duration::from_millis(period_ms);
        let secs = period.as_secs_f64();
        let got = batch(demand, count, period, held);
        prop_assert!(got as f64 <= count * secs.max(1.0) + 1.0);
        let want = (demand * secs * 1.25).ceil().min(count * secs.max(1.0));
        if held as f64 >= want {
            prop_assert_eq!(got, 0);
        } else {
            prop_assert!(got as f64 + held.max(0) as f64 >= want - 1.0);
        }
    }
}
