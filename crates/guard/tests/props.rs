//! Property tests of the QPS limiter.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use seawall_guard::{Decision, Guard, ManualClock, RuleSet};
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
}
