//! Properties of the review's formulas: any input, no panic, no `NaN`
//! or infinity out, and the orderings the documentation promises.

use proptest::prelude::*;
use seawall_monitor::history::Point;
use seawall_plan::model::Slo;
use seawall_review::formula::*;

fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(-1.0f32),
        0.0f32..1e6,
    ]
}

fn any_point() -> impl Strategy<Value = Timed> {
    (
        0u8..3,
        0u32..100_000,
        any_f32(),
        any_f32(),
        any_f32(),
        0u16..5,
    )
        .prop_map(|(tier, t_s, q, p99, err, samples)| Timed {
            tier,
            at_ms: absolute_ms(1_000, t_s),
            point: Point {
                t_s,
                samples,
                qps_min: q,
                qps_avg: q,
                qps_max: q,
                p99_ms: p99,
                error_rate: err,
            },
        })
}

proptest! {
    #[test]
    fn ratio_is_finite_or_none(a in proptest::option::of(any::<f64>()), b in proptest::option::of(any::<f64>())) {
        if let Some(r) = ratio(a, b) {
            prop_assert!(r.is_finite());
            prop_assert!(b.is_some_and(|b| b > 0.0));
        }
    }

    #[test]
    fn utilisation_target_is_in_0_1(h in any::<f64>()) {
        let t = utilisation_target(h);
        prop_assert!(t > 0.0 && t <= 1.0, "{t}");
    }

    #[test]
    fn peak_is_the_highest_rate(points in proptest::collection::vec(any_point(), 0..40)) {
        match peak(&points) {
            None => prop_assert!(points.iter().all(|t| !t.point.qps_max.is_finite())),
            Some(top) => {
                prop_assert!(top.point.qps_max.is_finite());
                for t in &points {
                    if t.point.qps_max.is_finite() {
                        prop_assert!(t.point.qps_max <= top.point.qps_max);
                    }
                }
            }
        }
    }

    #[test]
    fn finest_keeps_one_tier_in_time_order(points in proptest::collection::vec(any_point(), 0..40)) {
        let f = finest(&points);
        prop_assert!(f.windows(2).all(|w| w[0].tier == w[1].tier && w[0].at_ms <= w[1].at_ms));
        if let Some(min) = points.iter().map(|t| t.tier).min() {
            prop_assert_eq!(f.len(), points.iter().filter(|t| t.tier == min).count());
        }
    }

    #[test]
    fn compliance_is_a_share(points in proptest::collection::vec(any_point(), 0..40),
                             p99 in proptest::option::of(0.0f64..1e4), err in proptest::option::of(0.0f64..1.0)) {
        let sla = Slo { p99_ms: p99, error_rate: err };
        let (n, share) = compliance(&points, &sla);
        prop_assert!(n as usize <= points.len());
        if let Some(s) = share {
            prop_assert!((0.0..=1.0).contains(&s));
        } else {
            prop_assert!(n == 0 || (p99.is_none() && err.is_none()));
        }
    }

    #[test]
    fn means_are_finite(points in proptest::collection::vec(any_point(), 0..40), xs in proptest::collection::vec(any::<f64>(), 0..20)) {
        prop_assert!(mean_rate(&points).is_none_or(f64::is_finite));
        prop_assert!(mean(xs).is_none_or(f64::is_finite));
    }
}

#[test]
fn breaking_needs_a_value_over_a_bound() {
    let slo = Slo {
        p99_ms: Some(300.0),
        error_rate: Some(0.01),
    };
    assert!(breaks(Some(301.0), None, &slo));
    assert!(breaks(None, Some(0.02), &slo));
    assert!(
        !breaks(Some(300.0), Some(0.01), &slo),
        "at the bound is within"
    );
    assert!(!breaks(Some(1e9), None, &Slo::default()));
}
