//! The review's arithmetic, one small function per formula of
//! `docs/review.md`, separate from the gathering so property tests can
//! feed them any numbers: none of them panics, and none returns `NaN` or
//! an infinity (a number that cannot be computed is `None`).

use seawall_monitor::history::{Point, TIERS};
use seawall_plan::model::Slo;

/// `a ÷ b` when both are finite and `b > 0`, and the result is finite.
pub fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let (a, b) = (a?, b?);
    let r = a / b;
    (a.is_finite() && b.is_finite() && b > 0.0 && r.is_finite()).then_some(r)
}

/// The highest utilisation that keeps the plan's headroom:
/// `1 ÷ (1 + headroom)` (a negative or non-finite headroom counts as 0).
pub fn utilisation_target(headroom: f64) -> f64 {
    let h = if headroom.is_finite() && headroom > 0.0 {
        headroom
    } else {
        0.0
    };
    1.0 / (1.0 + h)
}

/// A stored `f32`, `None` for `NaN` or an infinity.
pub fn value(v: f32) -> Option<f64> {
    v.is_finite().then_some(f64::from(v))
}

/// Whether a point's p99 or error ratio is above the SLO's bound (a
/// missing value or bound breaks nothing).
pub fn breaks(p99_ms: Option<f64>, error_rate: Option<f64>, slo: &Slo) -> bool {
    let over = |v: Option<f64>, bound: Option<f64>| matches!((v, bound), (Some(v), Some(b)) if b.is_finite() && v > b);
    over(p99_ms, slo.p99_ms) || over(error_rate, slo.error_rate)
}

/// Whether an SLO bounds anything.
pub fn bounds(slo: &Slo) -> bool {
    slo.p99_ms.is_some_and(f64::is_finite) || slo.error_rate.is_some_and(f64::is_finite)
}

/// A point of one tier with its absolute start (ms).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timed {
    /// Tier (0 is the finest).
    pub tier: u8,
    /// Absolute start, ms.
    pub at_ms: i64,
    /// The point.
    pub point: Point,
}

/// A point's start in ms: `origin + t_s × 1000`.
pub fn absolute_ms(origin_ms: i64, t_s: u32) -> i64 {
    origin_ms.saturating_add(i64::from(t_s).saturating_mul(1000))
}

/// A tier's point width in ms (10 s for an unknown tier).
pub fn step_ms(tier: u8) -> i64 {
    let s = TIERS.get(usize::from(tier)).map_or(10, |t| t.0);
    i64::from(s) * 1000
}

/// The peak among `points`: the highest `qps_max`; a tie goes to the
/// finer tier, then the earlier point. `None` when no point has a rate.
pub fn peak(points: &[Timed]) -> Option<Timed> {
    points
        .iter()
        .filter(|t| value(t.point.qps_max).is_some())
        .copied()
        .reduce(|best, t| {
            let (b, v) = (best.point.qps_max, t.point.qps_max);
            if v > b || (v == b && (t.tier, t.at_ms) < (best.tier, best.at_ms)) {
                t
            } else {
                best
            }
        })
}

/// Width of the window of [`peak_window`] in the review: one minute.
pub const PEAK_WINDOW_MS: i64 = 60_000;

/// The highest mean rate over `window_ms` of consecutive points of the
/// finest tier (six 10 s points for a minute; one point when a point is
/// as wide or wider): `(start ms, mean_rate)` to 0.001 qps, each point's
/// mean weighted by the ticks it holds, over windows whose points
/// follow each other without a gap and all have a rate. `None` with too
/// few points.
///
/// Why beside the one-tick peak: a tick's rate is the increase of the
/// sources' counters since the tick before, so the ticks of a window
/// cover it shifted by up to one tick, and a one-tick rate at a few
/// requests a second moves by 20 % with one request. Over a minute the
/// shift is at most one tick of traffic in sixty at each end, so this
/// figure can be held to another count of the same minute (the
/// simulator's, in the end-to-end test) within a few percent.
pub fn peak_window(points: &[Timed], window_ms: i64) -> Option<(i64, f64)> {
    let fine = finest(points);
    let step = step_ms(fine.first()?.tier).max(1);
    let n = usize::try_from((window_ms / step).max(1)).ok()?;
    let mut best: Option<(i64, f64)> = None;
    for w in fine.windows(n) {
        let gapless = w.windows(2).all(|p| p[1].at_ms - p[0].at_ms == step);
        if !gapless || w.iter().any(|t| value(t.point.qps_avg).is_none()) {
            continue;
        }
        // Milli-qps: the points hold four significant digits (f32), and
        // a short decimal reads back from the JSON exactly.
        let Some(mean) = mean_rate(w).map(|m| (m * 1000.0).round() / 1000.0) else {
            continue;
        };
        if best.is_none_or(|(_, b)| mean > b) {
            best = Some((w[0].at_ms, mean));
        }
    }
    best
}

/// The finest tier among `points` and its points, oldest first (so a
/// stretch is counted once, not once per tier).
pub fn finest(points: &[Timed]) -> Vec<Timed> {
    let Some(tier) = points.iter().map(|t| t.tier).min() else {
        return Vec::new();
    };
    let mut out: Vec<Timed> = points.iter().filter(|t| t.tier == tier).copied().collect();
    out.sort_by_key(|t| t.at_ms);
    out
}

/// Share of `points` (those with a p99 or an error ratio) within `sla`:
/// `within ÷ with a reading`. `None` without an SLA bound or readings.
pub fn compliance(points: &[Timed], sla: &Slo) -> (u32, Option<f64>) {
    let read: Vec<&Timed> = points
        .iter()
        .filter(|t| value(t.point.p99_ms).is_some() || value(t.point.error_rate).is_some())
        .collect();
    let n = u32::try_from(read.len()).unwrap_or(u32::MAX);
    if !bounds(sla) || read.is_empty() {
        return (n, None);
    }
    let ok = read
        .iter()
        .filter(|t| !breaks(value(t.point.p99_ms), value(t.point.error_rate), sla))
        .count();
    (n, ratio(Some(ok as f64), Some(read.len() as f64)))
}

/// Traffic-weighted mean rate of `points`: `Σ qps_avg × samples ÷ Σ samples`.
pub fn mean_rate(points: &[Timed]) -> Option<f64> {
    let (sum, n) = points
        .iter()
        .filter_map(|t| value(t.point.qps_avg).map(|v| (v, f64::from(t.point.samples.max(1)))))
        .fold((0.0, 0.0), |(s, n), (v, w)| (s + v * w, n + w));
    ratio(Some(sum), Some(n))
}

/// Arithmetic mean of some values; `None` for none.
pub fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    ratio(Some(sum), Some(n as f64))
}
