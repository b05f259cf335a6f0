//! Property tests of the burn-rate arithmetic.

use proptest::prelude::*;
use seawall_monitor::burn::{BurnSeries, BurnWindow, Counts, Urgency};

const PAIR: BurnWindow = BurnWindow {
    long_ms: 60_000,
    short_ms: 10_000,
    factor: 1.0,
    urgency: Urgency::Page,
};

fn series(points: &[(f64, f64)]) -> BurnSeries {
    let mut s = BurnSeries::new(PAIR.long_ms, 1_000);
    for (i, &(requests, errors)) in points.iter().enumerate() {
        s.push(Counts {
            at_ms: (i as u64 + 1) * 1_000,
            requests,
            errors,
        });
    }
    s
}

fn now(points: &[(f64, f64)]) -> u64 {
    points.len() as u64 * 1_000
}

fn odd() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-1.0),
        0.0..1e6f64
    ]
}

proptest! {
    #[test]
    fn never_fires_on_zero_traffic(errors in prop::collection::vec(odd(), 0..80), budget in 1e-6..1.0f64) {
        let points: Vec<(f64, f64)> = errors.iter().map(|&e| (0.0, e)).collect();
        let s = series(&points);
        prop_assert!(!s.fires(now(&points), &PAIR, budget, 0.0));
        prop_assert_eq!(s.error_ratio(now(&points), PAIR.long_ms, 0.0), None);
    }

    #[test]
    fn never_fires_on_nan(points in prop::collection::vec((odd(), odd()), 0..80), budget in odd()) {
        let s = series(&points);
        if let Some(r) = s.pair_rate(now(&points), &PAIR, budget, 1.0) {
            prop_assert!(r.is_finite());
        }
        let nan = series(&points.iter().map(|_| (f64::NAN, f64::NAN)).collect::<Vec<_>>());
        prop_assert!(!nan.fires(now(&points), &PAIR, 0.001, 0.0));
        prop_assert!(!series(&points).fires(now(&points), &PAIR, f64::NAN, 0.0));
    }

    #[test]
    fn ratio_is_sum_of_errors_over_sum_of_requests(
        points in prop::collection::vec((0.0..1e4f64, 0.0..1.0f64), 1..80),
        window in 1_000..90_000u64,
    ) {
        let points: Vec<(f64, f64)> = points.iter().map(|&(r, share)| (r, r * share)).collect();
        let s = series(&points);
        let t = now(&points);
        let kept = points.iter().enumerate().filter(|(i, _)| {
            let at = (*i as u64 + 1) * 1_000;
            at > t.saturating_sub(window.min(PAIR.long_ms)) && at + PAIR.long_ms > t
        });
        let (req, err) = kept.fold((0.0, 0.0), |(a, b), (_, &(r, e))| (a + r, b + e));
        match s.error_ratio(t, window.min(PAIR.long_ms), 1.0) {
            Some(ratio) => prop_assert!((ratio - err / req).abs() <= 1e-9 * (1.0 + ratio)),
            None => prop_assert!(req < 1.0),
        }
    }

    #[test]
    fn monotone_in_error_count(
        points in prop::collection::vec((1.0..1e4f64, 0.0..0.5f64), 1..80),
        k in 0usize..80,
        extra in 0.0..0.5f64,
    ) {
        let base: Vec<(f64, f64)> = points.iter().map(|&(r, share)| (r, r * share)).collect();
        let mut more = base.clone();
        let k = k % more.len();
        more[k].1 += more[k].0 * extra;
        let t = now(&base);
        let a = series(&base).pair_rate(t, &PAIR, 0.01, 1.0);
        let b = series(&more).pair_rate(t, &PAIR, 0.01, 1.0);
        match (a, b) {
            (Some(a), Some(b)) => prop_assert!(b >= a - 1e-12),
            (a, b) => prop_assert_eq!(a.is_some(), b.is_some()),
        }
        if series(&base).fires(t, &PAIR, 0.01, 1.0) {
            prop_assert!(series(&more).fires(t, &PAIR, 0.01, 1.0));
        }
    }
}
