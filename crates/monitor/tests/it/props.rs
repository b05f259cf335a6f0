//! The evaluator never panics on what sources send, and a failed source
//! never counts as traffic.

use proptest::prelude::*;
use seawall_monitor::{Config, Evaluator, Metrics, Reading, Readings};
use seawall_plan::capacity::Measured;

use crate::common::carnival;

fn number() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        Just(Some(f64::NAN)),
        Just(Some(f64::INFINITY)),
        Just(Some(f64::NEG_INFINITY)),
        Just(Some(-1.0)),
        Just(Some(0.0)),
        Just(Some(f64::MAX)),
        (0.0..1e5f64).prop_map(Some),
    ]
}

fn reading() -> impl Strategy<Value = Reading> {
    prop_oneof![
        (number(), number(), number()).prop_map(|(qps, p99_ms, error_rate)| Reading::Value(
            Metrics {
                qps,
                p99_ms,
                error_rate
            }
        )),
        any::<u64>().prop_map(|since_ms| Reading::Stale { since_ms }),
        ".{0,20}".prop_map(|error| Reading::Failed { error }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_readings_at_any_times_evaluate(
        ticks in prop::collection::vec((prop::collection::vec(reading(), 24), any::<u64>()), 1..12),
        scrape in 0..10_000u64,
    ) {
        let plan = carnival();
        let config = Config { scrape_interval_ms: scrape, ..Config::default() };
        let mut ev = Evaluator::new(&plan, &Measured::default(), config);
        let ids: Vec<(usize, String)> = plan.entries.keys().map(|k| (0, k.clone()))
            .chain(plan.services.keys().map(|k| (1, k.clone())))
            .chain(plan.partners.keys().map(|k| (2, k.clone())))
            .chain(plan.monitoring.funnel.iter().map(|s| (3, s.name.clone())))
            .chain(plan.monitoring.alerts.keys().map(|k| (4, k.clone())))
            .collect();
        for (values, now) in ticks {
            let mut r = Readings::default();
            for ((kind, id), reading) in ids.iter().zip(values) {
                let map = match kind {
                    0 => &mut r.entries,
                    1 => &mut r.services,
                    2 => &mut r.partners,
                    3 => &mut r.funnel,
                    _ => &mut r.queries,
                };
                map.insert(id.clone(), reading);
            }
            let out = ev.evaluate(&r, now);
            for row in out.live.entries.iter().chain(&out.live.services).chain(&out.live.partners) {
                let fresh = matches!(r.entries.get(&row.id).or(r.services.get(&row.id)).or(r.partners.get(&row.id)), Some(Reading::Value(_)));
                if !fresh {
                    prop_assert_eq!(row.qps, None);
                }
                if let Some(q) = row.qps {
                    prop_assert!(q.is_finite() && q >= 0.0);
                }
            }
            prop_assert!(serde_json::to_string(&out).is_ok());
            let snapshot = serde_json::to_string(&ev.alert_snapshot()).expect("snapshot");
            prop_assert!(!snapshot.is_empty());
        }
    }
}
