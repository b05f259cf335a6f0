//! Property tests of the QPS limiter, hot-parameter limits and gray
//! bucketing.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use seawall_guard::{Decision, Guard, ManualClock, RequestParts, RuleSet, Upstream, gray_bucket};
use std::sync::Arc;

const BUCKET: u64 = 100_000_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the arrival pattern, no one-second window (any 10
    /// consecutive 100 ms buckets) admits more than the limit.
    #[test]
    fn admitted_per_window_never_exceeds_the_limit(
        limit in 1u32..60,
        arrivals in proptest::collection::vec((0u64..80_000_000, 1u32..4), 1..1500),
    ) {
        let yaml = format!("version: 1\nresources:\n  - name: api\n    flow:\n      - id: q\n        count: {limit}\n");
        let rules = RuleSet::from_yaml(&yaml).expect("valid");
        let clock = Arc::new(ManualClock::new());
        let g = Guard::with_clock(rules, Arc::clone(&clock)).expect("guard");
        let mut per_bucket: BTreeMap<u64, u64> = BTreeMap::new();
        for (gap, acquire) in arrivals {
            clock.advance(Duration::from_nanos(gap));
            if let Decision::Pass(p) = g.check_n("api", None, acquire) {
                drop(p);
                *per_bucket.entry(clock.elapsed().as_nanos() as u64 / BUCKET).or_default() += u64::from(acquire);
            }
        }
        let last = per_bucket.keys().next_back().copied().unwrap_or(0);
        for start in 0..=last {
            let sum: u64 = per_bucket.range(start..start + 10).map(|(_, n)| n).sum();
            prop_assert!(sum <= u64::from(limit), "window from bucket {start}: {sum} > {limit}");
        }
    }

    /// Pace never admits two requests closer than 1 / count apart (waits included)
    /// and never asks for a wait above max_queueing_ms.
    #[test]
    fn pace_spacing(
        count in 1u32..200,
        max_queue_ms in 0u64..300,
        gaps in proptest::collection::vec(0u64..20_000_000, 1..300),
    ) {
        let yaml = format!("version: 1\nresources:\n  - name: api\n    flow:\n      - id: p\n        count: {count}\n        behavior: pace\n        max_queueing_ms: {max_queue_ms}\n");
        let rules = RuleSet::from_yaml(&yaml).expect("valid");
        let clock = Arc::new(ManualClock::new());
        let g = Guard::with_clock(rules, Arc::clone(&clock)).expect("guard");
        let cost = (1e9 / f64::from(count)).round() as u64;
        let mut last_due: Option<u64> = None;
        for gap in gaps {
            clock.advance(Duration::from_nanos(gap));
            let now = clock.elapsed().as_nanos() as u64;
            let due = match g.check("api", None) {
                Decision::Pass(_) => now,
                Decision::Wait { wait, .. } => {
                    prop_assert!(wait <= Duration::from_millis(max_queue_ms));
                    now + wait.as_nanos() as u64
                }
                _ => continue,
            };
            if let Some(prev) = last_due {
                prop_assert!(due >= prev + cost, "due {due} < previous {prev} + {cost}");
            }
            last_due = Some(due);
        }
    }

    /// Whatever the mix of values (no more than `top_k`, so none is
    /// evicted), no value is admitted more than its limit in any one-second
    /// window, and an exception's limit replaces the default.
    #[test]
    fn hot_parameter_limits_hold_per_value(
        count in 1u32..20,
        vip in 0u32..40,
        arrivals in proptest::collection::vec((0u64..60_000_000, 0usize..12), 1..1500),
    ) {
        let yaml = format!(
            "version: 1\nresources:\n  - name: api\n    routes: [{{ path: /api }}]\n    hot_params: [{{ id: h, source: query, name: v, count: {count}, top_k: 12, exceptions: {{ v0: {vip} }} }}]\n"
        );
        let rules = RuleSet::from_yaml(&yaml).expect("valid");
        let clock = Arc::new(ManualClock::new());
        let g = Guard::with_clock(rules, Arc::clone(&clock)).expect("guard");
        let mut per_bucket: BTreeMap<(usize, u64), u64> = BTreeMap::new();
        for (gap, value) in arrivals {
            clock.advance(Duration::from_nanos(gap));
            let q = format!("v=v{value}");
            let v = g.evaluate(&RequestParts::new("GET", "/api").with_query(&q));
            if v.decision.is_admitted() {
                *per_bucket.entry((value, clock.elapsed().as_nanos() as u64 / BUCKET)).or_default() += 1;
            }
        }
        for value in 0..12 {
            let limit = if value == 0 { u64::from(vip) } else { u64::from(count) };
            let last = per_bucket.range((value, 0)..(value + 1, 0)).next_back().map_or(0, |((_, b), _)| *b);
            for start in 0..=last {
                let sum: u64 = per_bucket.range((value, start)..(value, start + 10)).map(|(_, n)| n).sum();
                prop_assert!(sum <= limit, "value v{value}, window from bucket {start}: {sum} > {limit}");
            }
        }
    }

    /// However many distinct values arrive, the rule tracks at most `top_k`
    /// (rounded up to whole shards) of them.
    #[test]
    fn hot_parameter_memory_is_bounded(
        top_k in 1usize..200,
        values in proptest::collection::vec(0u32..5000, 1..3000),
    ) {
        let yaml = format!(
            "version: 1\nresources:\n  - name: api\n    routes: [{{ path: /api }}]\n    hot_params: [{{ id: h, source: header, name: x-v, count: 5, top_k: {top_k} }}]\n"
        );
        let g = Guard::with_clock(RuleSet::from_yaml(&yaml).expect("valid"), Arc::new(ManualClock::new())).expect("guard");
        let bound = if top_k >= 64 { top_k.div_ceil(16) * 16 } else { top_k } as u64;
        for v in values {
            let value = v.to_string();
            let h = [("x-v", value.as_str())];
            drop(g.evaluate(&RequestParts::new("GET", "/api").with_headers(&h)));
        }
        let tracked = g.stats("h").and_then(|s| s.tracked_values).expect("hot rule stats");
        prop_assert!(tracked <= bound, "{tracked} > {bound}");
    }

    /// Gray by percent is sticky and monotone: a user in at p% is in at any
    /// q ≥ p; the guard routes exactly the users whose bucket is below
    /// p × 100.
    #[test]
    fn gray_percent_is_sticky_and_monotone(
        ids in proptest::collection::vec("[a-z0-9-]{1,24}", 1..200),
        p in 0.0f64..100.0,
        extra in 0.0f64..50.0,
    ) {
        let q = (p + extra).min(100.0);
        let guard_at = |pct: f64| {
            let yaml = format!("version: 1\ngray: {{ id: g, percent: {pct} }}\n");
            Guard::with_clock(RuleSet::from_yaml(&yaml).expect("valid"), Arc::new(ManualClock::new())).expect("guard")
        };
        let (gp, gq) = (guard_at(p), guard_at(q));
        for id in &ids {
            let h = [("x-user-id", id.as_str())];
            let req = RequestParts::new("GET", "/").with_headers(&h);
            let in_p = gp.evaluate(&req).upstream == Upstream::Gray;
            prop_assert_eq!(in_p, gp.evaluate(&req).upstream == Upstream::Gray);
            prop_assert_eq!(in_p, (gray_bucket(id) as f64) < (p * 100.0).round());
            if in_p {
                prop_assert_eq!(gq.evaluate(&req).upstream, Upstream::Gray);
            }
        }
    }

    /// The share of users in a p% gray is p%, within sampling error.
    #[test]
    fn gray_percent_share_matches(p in 1u32..100, seed in any::<u64>()) {
        let n = 4000u64;
        let inside = (0..n)
            .filter(|i| gray_bucket(&format!("u{}", seed.wrapping_add(*i))) < u64::from(p) * 100)
            .count() as f64;
        let share = inside / n as f64;
        // Five standard deviations of a binomial share at most 0.04.
        prop_assert!((share - f64::from(p) / 100.0).abs() < 0.04, "{share} vs {p}%");
    }

    /// The whitelist holds exactly its ids (numeric ones exactly, others by hash).
    #[test]
    fn gray_whitelist_is_exact(
        listed in proptest::collection::btree_set(0u64..100_000, 0..300),
        names in proptest::collection::btree_set("[a-z]{1,8}", 0..50),
        probes in proptest::collection::vec(0u64..100_000, 1..300),
        name_probes in proptest::collection::vec("[a-z]{1,8}", 1..50),
    ) {
        let ids: Vec<String> = listed.iter().map(u64::to_string).chain(names.iter().cloned()).collect();
        let yaml = format!("version: 1\ngray: {{ id: g, whitelist: [{}] }}\n", ids.iter().map(|i| format!("'{i}'")).collect::<Vec<_>>().join(", "));
        let g = Guard::with_clock(RuleSet::from_yaml(&yaml).expect("valid"), Arc::new(ManualClock::new())).expect("guard");
        for id in probes.iter().map(u64::to_string).chain(name_probes) {
            let h = [("x-user-id", id.as_str())];
            let gray = g.evaluate(&RequestParts::new("GET", "/").with_headers(&h)).upstream == Upstream::Gray;
            let expected = id.parse::<u64>().map_or_else(|_| names.contains(&id), |n| listed.contains(&n));
            prop_assert_eq!(gray, expected, "id {}", id);
        }
    }
}
