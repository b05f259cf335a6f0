//! Compact telemetry history per target, for the live sparklines and the
//! post-event review.
//!
//! A series keeps three rings of fixed size — 10 s points for the last
//! hour, 1 min points for the last 6 hours, 5 min points for the last 48
//! hours — so its memory is fixed when it is created and a day-long event
//! with a thousand series cannot grow. A [`Point`] is 28 bytes (`f32`
//! values: four significant digits are plenty for a chart or a review).
//!
//! **p99 of a point.** Sources report a p99 already (over their own rate
//! window); percentiles of percentiles cannot be computed from them, so a
//! point's `p99_ms` is the **maximum** of the p99 readings inside it (an
//! upper bound of the true p99 of the interval, never an underestimate),
//! and downsampling keeps the maximum too. `error_rate` is traffic-weighted
//! (`Σ qps·error_rate ÷ Σ qps`), like the burn ratios.

use serde::{Deserialize, Serialize};

use std::collections::BTreeMap;

use crate::sample::{Metrics, TargetKind, finite};

/// One aggregated point. Missing values are `NaN` (serialized as null).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Start of the point, in seconds since the series' origin.
    pub t_s: u32,
    /// Samples merged into it.
    pub samples: u16,
    /// Lowest rate.
    #[serde(deserialize_with = "null_is_nan")]
    pub qps_min: f32,
    /// Mean rate (weighted by samples).
    #[serde(deserialize_with = "null_is_nan")]
    pub qps_avg: f32,
    /// Highest rate.
    #[serde(deserialize_with = "null_is_nan")]
    pub qps_max: f32,
    /// Highest p99 latency reading (see the module docs).
    #[serde(deserialize_with = "null_is_nan")]
    pub p99_ms: f32,
    /// Traffic-weighted error ratio.
    #[serde(deserialize_with = "null_is_nan")]
    pub error_rate: f32,
}

/// Size of a [`Point`] in memory, in bytes.
pub const POINT_BYTES: usize = 28;
/// Point width and count of each ring: 10 s × 360 (1 h), 60 s × 360 (6 h),
/// 300 s × 576 (48 h).
pub const TIERS: [(u32, usize); 3] = [(10, 360), (60, 360), (300, 576)];
/// Points one series holds at most.
pub const POINTS_PER_SERIES: usize = 360 + 360 + 576;
/// Upper bound of a series' memory, in bytes: its rings, three open points
/// and the struct itself (checked by a test against `size_of`).
pub const SERIES_BYTES: usize = POINTS_PER_SERIES * POINT_BYTES + 512;
/// Budget of one point stored in SQLite, in bytes: the 28 bytes of values
/// plus series id, record header, cell pointer and B-tree slack. With it
/// `POINTS_PER_SERIES × 1,000 series × 64 B = 83 MB`, under the 100 MB a
/// 24-hour event with 1,000 series may take.
pub const SQLITE_BYTES_PER_POINT: usize = 64;

/// JSON has no `NaN`: serde_json writes it as null, and null reads back
/// as `NaN`.
fn null_is_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
    Ok(Option::<f32>::deserialize(d)?.unwrap_or(f32::NAN))
}

fn nan_if_none(v: Option<f64>) -> f32 {
    v.map_or(f32::NAN, |x| x as f32)
}

impl Point {
    /// A point of one sample at `t_s`.
    pub fn sample(t_s: u32, m: &Metrics) -> Point {
        let qps = nan_if_none(finite(m.qps));
        Point {
            t_s,
            samples: 1,
            qps_min: qps,
            qps_avg: qps,
            qps_max: qps,
            p99_ms: nan_if_none(finite(m.p99_ms)),
            error_rate: nan_if_none(finite(m.error_rate).map(|r| r.min(1.0))),
        }
    }

    /// Merge `other` into this point (keeps this point's time).
    pub fn merge(&mut self, other: &Point) {
        let (a, b) = (f32::from(self.samples), f32::from(other.samples));
        self.qps_min = self.qps_min.min(other.qps_min);
        self.qps_max = self.qps_max.max(other.qps_max);
        self.p99_ms = self.p99_ms.max(other.p99_ms);
        let weighted = |x: f32, wx: f32, y: f32, wy: f32| match (x.is_nan(), y.is_nan()) {
            (true, _) => y,
            (_, true) => x,
            _ if wx + wy > 0.0 => (x * wx + y * wy) / (wx + wy),
            _ => (x + y) / 2.0,
        };
        // Error ratios weigh by traffic (a NaN or zero rate falls back to samples).
        let traffic = |avg: f32, n: f32| {
            if avg.is_finite() && avg > 0.0 {
                avg * n
            } else {
                0.0
            }
        };
        let (ta, tb) = (traffic(self.qps_avg, a), traffic(other.qps_avg, b));
        self.error_rate = if ta + tb > 0.0 {
            weighted(self.error_rate, ta, other.error_rate, tb)
        } else {
            weighted(self.error_rate, a, other.error_rate, b)
        };
        self.qps_avg = weighted(self.qps_avg, a, other.qps_avg, b);
        self.samples = self.samples.saturating_add(other.samples);
    }
}

/// A fixed-size ring of points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Ring {
    points: Vec<Point>,
    capacity: usize,
    /// Index of the oldest point once full.
    head: usize,
}

impl Ring {
    fn new(capacity: usize) -> Self {
        Ring {
            points: Vec::with_capacity(capacity),
            capacity,
            head: 0,
        }
    }

    fn push(&mut self, p: Point) {
        if self.points.len() < self.capacity {
            self.points.push(p);
        } else if let Some(slot) = self.points.get_mut(self.head) {
            *slot = p;
            self.head = (self.head + 1) % self.capacity;
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Point> {
        let (newer, older) = self.points.split_at(self.head.min(self.points.len()));
        older.iter().chain(newer)
    }
}

/// One tier: its ring and the point being filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tier {
    step_s: u32,
    ring: Ring,
    open: Option<Point>,
}

/// The history of one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    origin_ms: u64,
    last_ms: Option<u64>,
    tiers: Vec<Tier>,
}

impl Series {
    /// An empty series whose times count from `origin_ms` (the event's start).
    pub fn new(origin_ms: u64) -> Self {
        Series {
            origin_ms,
            last_ms: None,
            tiers: TIERS
                .iter()
                .map(|&(step_s, n)| Tier {
                    step_s,
                    ring: Ring::new(n),
                    open: None,
                })
                .collect(),
        }
    }

    /// Add a sample at `at_ms`. Samples before the origin, going back in
    /// time, beyond ~136 years or without any finite value are ignored.
    pub fn push(&mut self, at_ms: u64, m: &Metrics) {
        if at_ms < self.origin_ms || self.last_ms.is_some_and(|l| at_ms < l) {
            return;
        }
        if finite(m.qps).is_none() && finite(m.p99_ms).is_none() && finite(m.error_rate).is_none() {
            return;
        }
        let Ok(t_s) = u32::try_from((at_ms - self.origin_ms) / 1000) else {
            return;
        };
        self.last_ms = Some(at_ms);
        self.feed(0, Point::sample(t_s, m));
    }

    /// Merge `p` into tier `k`'s open point, closing it (and cascading to
    /// the next tier) when `p` starts a new one.
    fn feed(&mut self, k: usize, mut p: Point) {
        let Some(tier) = self.tiers.get_mut(k) else {
            return;
        };
        let start = p.t_s - p.t_s % tier.step_s;
        p.t_s = start;
        match &mut tier.open {
            Some(open) if open.t_s == start => open.merge(&p),
            slot => {
                let closed = slot.replace(p);
                if let Some(closed) = closed {
                    tier.ring.push(closed);
                    self.feed(k + 1, closed);
                }
            }
        }
    }

    /// Closed points of tier `k` (0: 10 s, 1: 1 min, 2: 5 min), oldest first.
    pub fn points(&self, k: usize) -> Vec<Point> {
        self.tiers
            .get(k)
            .map(|t| t.ring.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The point being filled in tier `k`.
    pub fn open(&self, k: usize) -> Option<Point> {
        self.tiers.get(k).and_then(|t| t.open)
    }

    /// Bytes the series holds (struct, tier headers and ring allocations).
    pub fn heap_bytes(&self) -> usize {
        size_of::<Series>()
            + self.tiers.capacity() * size_of::<Tier>()
            + self
                .tiers
                .iter()
                .map(|t| t.ring.points.capacity() * size_of::<Point>())
                .sum::<usize>()
    }
}

/// The series of every target of an event, keyed by kind and id (the
/// plan's targets: their number is fixed by the plan, so is the memory).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct History {
    origin_ms: u64,
    series: BTreeMap<(TargetKind, String), Series>,
}

impl History {
    /// An empty history whose times count from `origin_ms`.
    pub fn new(origin_ms: u64) -> Self {
        History {
            origin_ms,
            series: BTreeMap::new(),
        }
    }

    /// Add a target's sample at `at_ms` (its series is made on first use).
    pub fn push(&mut self, kind: TargetKind, id: &str, at_ms: u64, m: &Metrics) {
        match self.series.get_mut(&(kind, id.to_owned())) {
            Some(s) => s.push(at_ms, m),
            None => {
                let mut s = Series::new(self.origin_ms);
                s.push(at_ms, m);
                self.series.insert((kind, id.to_owned()), s);
            }
        }
    }

    /// A target's series.
    pub fn get(&self, kind: TargetKind, id: &str) -> Option<&Series> {
        self.series.get(&(kind, id.to_owned()))
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether there is no series.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Bytes held by the series (keys aside).
    pub fn heap_bytes(&self) -> usize {
        self.series.values().map(Series::heap_bytes).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(qps: f64, p99: f64, err: f64) -> Metrics {
        Metrics {
            qps: Some(qps),
            p99_ms: Some(p99),
            error_rate: Some(err),
        }
    }

    #[test]
    fn point_is_as_documented() {
        assert_eq!(size_of::<Point>(), POINT_BYTES);
        let s = Series::new(0);
        assert!(
            s.heap_bytes() <= SERIES_BYTES,
            "{} > {SERIES_BYTES}",
            s.heap_bytes()
        );
    }

    #[test]
    fn ten_second_points_aggregate_samples() {
        let mut s = Series::new(1_000);
        s.push(1_000, &m(100.0, 50.0, 0.0));
        s.push(6_000, &m(300.0, 80.0, 0.1));
        s.push(11_000, &m(1.0, 1.0, 0.0));
        let p = s.points(0);
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].t_s, p[0].samples), (0, 2));
        assert_eq!(
            (p[0].qps_min, p[0].qps_avg, p[0].qps_max),
            (100.0, 200.0, 300.0)
        );
        assert_eq!(p[0].p99_ms, 80.0);
        // 300 × 0.1 / (100 + 300)
        assert!((p[0].error_rate - 0.075).abs() < 1e-6);
        s.push(500, &m(1.0, 1.0, 0.0));
        s.push(
            12_000,
            &Metrics {
                qps: Some(f64::NAN),
                p99_ms: None,
                error_rate: Some(f64::INFINITY),
            },
        );
        assert_eq!(s.open(0).map(|p| p.samples), Some(1));
        // Through JSON (NaN is written as null and read back as NaN).
        s.push(
            21_000,
            &Metrics {
                p99_ms: Some(5.0),
                ..Metrics::default()
            },
        );
        let json = serde_json::to_string(&s).expect("serializes");
        let back: Series = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back.points(0), s.points(0));
        let open = back.open(0).expect("open");
        assert!(open.qps_avg.is_nan() && open.error_rate.is_nan());
        assert_eq!(open.p99_ms, 5.0);
    }
}
