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
            point: point((t_s, q, p99, err, samples)),
        })
}

/// A point of one rate (min, mean and max alike), p99, error ratio and
/// sample count.
fn point((t_s, q, p99, err, samples): (u32, f32, f32, f32, u16)) -> Point {
    Point {
        t_s,
        samples,
        qps_min: q,
        qps_avg: q,
        qps_max: q,
        p99_ms: p99,
        error_rate: err,
    }
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

mod whole {
    use proptest::prelude::*;
    use seawall_monitor::Transition;
    use seawall_monitor::alert::{Change, Severity, Signal, State, Target};
    use seawall_monitor::sample::TargetKind;
    use seawall_review::input::SeriesInput;
    use seawall_review::{review, to_html, to_json, to_markdown};

    use crate::fixture::{T0, input};

    fn kind() -> impl Strategy<Value = TargetKind> {
        prop_oneof![
            Just(TargetKind::Entry),
            Just(TargetKind::Service),
            Just(TargetKind::Partner),
            Just(TargetKind::FunnelStep),
        ]
    }

    fn id() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("browse".to_owned()),
            Just("checkout".to_owned()),
            Just("shop".to_owned()),
            Just("pay".to_owned()),
            Just("ghost".to_owned()),
        ]
    }

    fn num() -> impl Strategy<Value = f32> {
        prop_oneof![
            Just(f32::NAN),
            Just(f32::INFINITY),
            Just(-5.0f32),
            0.0f32..2000.0
        ]
    }

    fn series() -> impl Strategy<Value = SeriesInput> {
        (
            kind(),
            id(),
            0u8..4,
            proptest::collection::vec((0u32..200_000, num(), num(), num(), 0u16..3), 0..30),
        )
            .prop_map(|(kind, id, tier, points)| SeriesInput {
                kind,
                id,
                tier,
                points: points.into_iter().map(super::point).collect(),
            })
    }

    fn transition() -> impl Strategy<Value = Transition> {
        (
            prop_oneof![Just("a"), Just("checkout-p99"), Just("b")],
            kind(),
            id(),
            prop_oneof![
                Just(Change::Pending),
                Just(Change::Fired),
                Just(Change::Resolved),
                Just(Change::Cancelled)
            ],
            prop_oneof![Just(Severity::Page), Just(Severity::Warn)],
            0u64..400_000_000,
        )
            .prop_map(|(rule, kind, id, change, severity, dt)| {
                let at_ms = T0 as u64 + dt;
                Transition {
                    rule: rule.into(),
                    target: Target::new(kind, id),
                    signal: Signal::Qps,
                    severity,
                    change,
                    state: State::Inactive,
                    at_ms,
                    value: 1.0,
                    threshold: 1.0,
                    inhibited_by: None,
                }
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Any stored telemetry and transitions: no panic, every number
        /// finite or null (the JSON reads back), every
        /// recommendation with its rule and plan line.
        #[test]
        fn any_store_contents_give_a_review(
            s in proptest::collection::vec(series(), 0..8),
            t in proptest::collection::vec(transition(), 0..20),
        ) {
            let mut i = input();
            i.series = s;
            i.transitions = t;
            let r = review(&i);
            let json = to_json(&r);
            // A NaN or infinity would be written as null, which a
            // non-optional number refuses: reading back proves none.
            let back: Result<seawall_review::Review, _> = serde_json::from_str(&json);
            prop_assert!(back.is_ok(), "{:?}", back.err());
            for rec in &r.recommendations {
                prop_assert!(rec.rule.starts_with('R'));
                prop_assert!(rec.plan_line.as_deref().is_some_and(|l| l.starts_with("plan.yaml:")));
            }
            prop_assert!(!to_html(&r).contains("NaN"));
            prop_assert!(!to_markdown(&r).contains("NaN"));
        }
    }
}
