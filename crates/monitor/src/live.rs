//! Live formulas: water level, traffic against target, time to critical,
//! partner health against the SLA and funnel conversion against the plan.
//!
//! They are plain functions of numbers so the evaluator, the generated
//! Prometheus rules and the tests share one definition of each. Status is
//! the plan's own [`Status`] under the plan's own thresholds
//! ([`status_of`]): a live water level and a planned one mean the same thing.

use seawall_plan::Plan;
pub use seawall_plan::capacity::{Status, status_of};
use seawall_plan::model::{CapacityPolicy, Slo};

use crate::sample::finite;

/// Live water level `qps ÷ capacity`: `None` when either is unknown or not
/// a number; with a zero capacity any traffic is infinitely over and none
/// is level 0 (the plan's convention).
pub fn water_level(qps: Option<f64>, capacity: Option<f64>) -> Option<f64> {
    let qps = finite(qps)?;
    let capacity = finite(capacity)?;
    if capacity > 0.0 {
        Some(qps / capacity)
    } else if qps > 0.0 {
        Some(f64::INFINITY)
    } else {
        Some(0.0)
    }
}

/// Traffic against target, `qps ÷ target_qps` ("1.3× the planned peak");
/// `None` without a positive target.
pub fn traffic_ratio(qps: Option<f64>, target_qps: f64) -> Option<f64> {
    let qps = finite(qps)?;
    (target_qps.is_finite() && target_qps > 0.0).then(|| qps / target_qps)
}

/// Fewest points a trend is fitted on.
pub const MIN_TREND_POINTS: usize = 3;

/// Least-squares slope (units per second) of `(t_ms, value)` points, with
/// non-finite values skipped; `None` with fewer than [`MIN_TREND_POINTS`]
/// usable points or no spread in time. Two passes around the means, so a
/// constant series has a slope of exactly zero.
pub fn slope_per_second<I>(points: I) -> Option<f64>
where
    I: IntoIterator<Item = (u64, f64)>,
    I::IntoIter: Clone,
{
    let points = points.into_iter().filter(|(_, y)| y.is_finite());
    // Times relative to the first point, in seconds, keep the sums small.
    let t0 = points.clone().next()?.0;
    let x = |t: u64| (t as f64 - t0 as f64) / 1000.0;
    let (mut n, mut sx, mut sy) = (0usize, 0.0f64, 0.0f64);
    for (t, y) in points.clone() {
        n += 1;
        sx += x(t);
        sy += y;
    }
    if n < MIN_TREND_POINTS {
        return None;
    }
    let (mx, my) = (sx / n as f64, sy / n as f64);
    let (mut sxx, mut sxy) = (0.0f64, 0.0f64);
    for (t, y) in points {
        let dx = x(t) - mx;
        sxx += dx * dx;
        sxy += dx * (y - my);
    }
    if !(sxx.is_finite() && sxx > 0.0) {
        return None;
    }
    let slope = sxy / sxx;
    slope.is_finite().then_some(slope)
}

/// Seconds until the water level reaches `critical` at the fitted slope:
/// `(critical − current) ÷ slope`; `Some(0)` when already above; `None`
/// when the trend is flat or falling, or unknown.
pub fn time_to_critical(current: Option<f64>, slope: Option<f64>, critical: f64) -> Option<f64> {
    let current = current.filter(|c| !c.is_nan())?;
    if current > critical {
        return Some(0.0);
    }
    let slope = slope.filter(|s| s.is_finite() && *s > 0.0)?;
    let seconds = (critical - current) / slope;
    seconds.is_finite().then_some(seconds)
}

/// The worse of a partner's latency and error ratios against its SLA
/// (`p99 ÷ sla.p99_ms`, `error_rate ÷ sla.error_rate`); `None` without an
/// SLA bound that has a reading.
pub fn sla_ratio(p99_ms: Option<f64>, error_rate: Option<f64>, sla: Option<&Slo>) -> Option<f64> {
    let sla = sla?;
    let ratio = |v: Option<f64>, bound: Option<f64>| match (finite(v), bound) {
        (Some(v), Some(b)) if b > 0.0 => Some(v / b),
        (Some(v), Some(_)) => Some(if v > 0.0 { f64::INFINITY } else { 0.0 }),
        _ => None,
    };
    match (ratio(p99_ms, sla.p99_ms), ratio(error_rate, sla.error_rate)) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Status of an SLA ratio: `critical` above 1 (the SLA is breached),
/// `warn` from the plan's `warn_level` of the SLA, else `ok`.
pub fn sla_status(ratio: Option<f64>, policy: &CapacityPolicy) -> Status {
    match ratio {
        Some(r) if r.is_nan() => Status::Unknown,
        Some(r) if r > 1.0 => Status::Critical,
        Some(r) if r >= policy.warn_level => Status::Warn,
        Some(_) => Status::Ok,
        None => Status::Unknown,
    }
}

/// Conversion of a funnel step, `rate ÷ previous step's rate`; `None` for
/// the first step, without traffic before it, or on non-numbers.
pub fn conversion(rate: Option<f64>, previous: Option<f64>) -> Option<f64> {
    let rate = finite(rate)?;
    let previous = finite(previous)?;
    (previous > 0.0).then(|| rate / previous)
}

/// Below this share of the planned conversion a funnel step is `critical`
/// (and the derived funnel-drop alert fires).
pub const FUNNEL_DROP: f64 = 0.5;
/// Below this share of the planned conversion a funnel step is `warn`.
pub const FUNNEL_WARN: f64 = 0.8;

/// Status of a funnel step's conversion against the planned one.
pub fn funnel_status(conversion: Option<f64>, planned: Option<f64>) -> Status {
    match (conversion, planned) {
        (Some(c), Some(p)) if p > 0.0 && c.is_finite() => {
            let share = c / p;
            if share < FUNNEL_DROP {
                Status::Critical
            } else if share < FUNNEL_WARN {
                Status::Warn
            } else {
                Status::Ok
            }
        }
        _ => Status::Unknown,
    }
}

/// The conversion the plan's journeys assume for each funnel step, in
/// funnel order (`None` for the first step and where the plan says nothing).
///
/// The plan's funnel steps are named queries, and its conversions are
/// written on journey steps (`conversion`: the share of the previous step's
/// users reaching this one). A funnel step is tied to a journey step when
/// its `name` is that step's entry id; its planned conversion is then the
/// product of the journey's conversions from the previous funnel step's
/// entry (exclusive) to its own (inclusive), taken from the first journey
/// that has both in that order. Steps whose names are not entries (the
/// carnival's `coupon redeemed`) have no planned conversion: their live
/// conversion is shown, and no funnel-drop alert is derived for them.
pub fn planned_conversions(plan: &Plan) -> Vec<Option<f64>> {
    let steps = &plan.monitoring.funnel;
    let mut out = Vec::with_capacity(steps.len());
    for (k, step) in steps.iter().enumerate() {
        if k == 0 {
            out.push(None);
            continue;
        }
        let previous = &steps[k - 1].name;
        let planned = plan.traffic.journeys.values().find_map(|j| {
            let from = j.steps.iter().position(|s| &s.entry == previous)?;
            let to = j.steps.iter().position(|s| s.entry == step.name)?;
            (to > from).then(|| {
                j.steps[from + 1..=to]
                    .iter()
                    .map(|s| s.conversion)
                    .product::<f64>()
            })
        });
        out.push(planned.filter(|p| p.is_finite() && *p > 0.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn water_level_handles_bad_numbers() {
        assert_eq!(water_level(Some(50.0), Some(100.0)), Some(0.5));
        assert_eq!(water_level(Some(f64::NAN), Some(100.0)), None);
        assert_eq!(water_level(Some(1.0), Some(f64::INFINITY)), None);
        assert_eq!(water_level(Some(1.0), Some(0.0)), Some(f64::INFINITY));
        assert_eq!(water_level(Some(0.0), Some(0.0)), Some(0.0));
        assert_eq!(water_level(None, Some(1.0)), None);
    }

    #[test]
    fn slope_fits_a_line_and_refuses_too_few_points() {
        let pts = (0..10).map(|i| (1_000 * i as u64, 0.5 + 0.01 * i as f64));
        let s = slope_per_second(pts).expect("slope");
        assert!((s - 0.01).abs() < 1e-9);
        assert_eq!(slope_per_second([(0, 1.0), (1_000, 2.0)]), None);
        assert_eq!(slope_per_second([(5, 1.0), (5, 2.0), (5, 3.0)]), None);
        assert_eq!(slope_per_second(std::iter::empty()), None);
    }

    #[test]
    fn time_to_critical_only_on_a_rising_trend() {
        let t = time_to_critical(Some(0.5), Some(0.01), 0.9).expect("rising");
        assert!((t - 40.0).abs() < 1e-9);
        assert_eq!(time_to_critical(Some(0.5), Some(0.0), 0.9), None);
        assert_eq!(time_to_critical(Some(0.5), Some(-0.1), 0.9), None);
        assert_eq!(time_to_critical(Some(0.95), None, 0.9), Some(0.0));
        assert_eq!(time_to_critical(None, Some(1.0), 0.9), None);
    }

    #[test]
    fn sla_ratio_takes_the_worse_bound() {
        let sla = Slo {
            p99_ms: Some(200.0),
            error_rate: Some(0.01),
        };
        assert_eq!(sla_ratio(Some(100.0), Some(0.02), Some(&sla)), Some(2.0));
        assert_eq!(sla_ratio(Some(300.0), None, Some(&sla)), Some(1.5));
        assert_eq!(sla_ratio(Some(300.0), None, None), None);
        assert_eq!(sla_ratio(Some(f64::NAN), None, Some(&sla)), None);
    }

    #[test]
    fn funnel_status_against_plan() {
        assert_eq!(funnel_status(Some(0.4), Some(0.8)), Status::Warn);
        assert_eq!(funnel_status(Some(0.3), Some(0.8)), Status::Critical);
        assert_eq!(funnel_status(Some(0.8), Some(0.8)), Status::Ok);
        assert_eq!(funnel_status(Some(0.8), None), Status::Unknown);
        assert_eq!(conversion(Some(1.0), Some(0.0)), None);
    }
}
