//! What the store keeps of the event day: alert transitions and states,
//! and the compact telemetry history (`docs/monitoring.md#control-plane`).
//!
//! The evaluator's own types (`seawall-monitor`'s `Transition`, `Snapshot`
//! and history `Point`) are stored as they are, so nothing converts
//! between the evaluator and the store. A history point is stored as 26
//! bytes (its values, little-endian) in a fixed slot of its tier: a series
//! never holds more than [`seawall_monitor::history::POINTS_PER_SERIES`]
//! rows, and a point costs at most [`SQLITE_BYTES_PER_POINT`] bytes of
//! SQLite file (measured by the behaviour suite).

use serde::{Deserialize, Serialize};

use seawall_monitor::Transition;
use seawall_monitor::history::{Point, TIERS};
use seawall_monitor::sample::TargetKind;

use crate::StoreError;

pub use seawall_monitor::history::SQLITE_BYTES_PER_POINT;

/// Bytes of a stored point's value: `t_s` (u32), `samples` (u16) and five `f32`.
pub const POINT_BLOB_BYTES: usize = 4 + 2 + 5 * 4;

/// One stored alert transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredTransition {
    /// Store id, increasing.
    pub id: i64,
    /// Event it belongs to.
    pub event_id: i64,
    /// The evaluator's transition.
    pub transition: Transition,
}

/// One telemetry point of one series to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPoint {
    /// Kind of the target.
    pub kind: TargetKind,
    /// Target id (entry, service, partner id or funnel step name).
    pub target: String,
    /// Tier: 0 (10 s), 1 (1 min) or 2 (5 min).
    pub tier: u8,
    /// The point.
    pub point: Point,
}

impl HistoryPoint {
    /// The point's slot in its tier, or `None` for a tier that does not exist.
    pub fn slot(&self) -> Option<i32> {
        let (step, len) = TIERS.get(usize::from(self.tier)).copied()?;
        let len = u32::try_from(len).ok()?;
        i32::try_from((self.point.t_s / step) % len).ok()
    }
}

/// A point's stored bytes.
pub fn encode_point(p: &Point) -> Vec<u8> {
    let mut out = Vec::with_capacity(POINT_BLOB_BYTES);
    out.extend_from_slice(&p.t_s.to_le_bytes());
    out.extend_from_slice(&p.samples.to_le_bytes());
    for v in [p.qps_min, p.qps_avg, p.qps_max, p.p99_ms, p.error_rate] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// A point from its stored bytes.
pub fn decode_point(bytes: &[u8]) -> Result<Point, StoreError> {
    let bad = || {
        StoreError::Corrupt(format!(
            "a history point has {} bytes, not {POINT_BLOB_BYTES}",
            bytes.len()
        ))
    };
    if bytes.len() != POINT_BLOB_BYTES {
        return Err(bad());
    }
    let u32_at = |i: usize| -> Result<u32, StoreError> {
        let b: [u8; 4] = bytes
            .get(i..i + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(bad)?;
        Ok(u32::from_le_bytes(b))
    };
    let samples: [u8; 2] = bytes
        .get(4..6)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(bad)?;
    let f = |k: usize| u32_at(6 + 4 * k).map(f32::from_bits);
    Ok(Point {
        t_s: u32_at(0)?,
        samples: u16::from_le_bytes(samples),
        qps_min: f(0)?,
        qps_avg: f(1)?,
        qps_max: f(2)?,
        p99_ms: f(3)?,
        error_rate: f(4)?,
    })
}

/// JSON text of a stored value.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn to_json<T: Serialize>(value: &T, what: &str) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Corrupt(format!("cannot store {what}: {e}")))
}

/// A stored value from its JSON text.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what} is not valid: {e}")))
}

/// The audit action of a transition: `alert.pending`, `alert.fired`, …
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn action(t: &Transition) -> &'static str {
    use seawall_monitor::alert::Change;
    match t.change {
        Change::Pending => "alert.pending",
        Change::Fired => "alert.fired",
        Change::Resolved => "alert.resolved",
        Change::Cancelled => "alert.cancelled",
    }
}

/// The time of a transition as stored (saturating).
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn at_ms(t: &Transition) -> crate::Millis {
    crate::Millis::try_from(t.at_ms).unwrap_or(crate::Millis::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_round_trip_bit_for_bit() {
        let p = Point {
            t_s: 86_390,
            samples: 2,
            qps_min: 1.5,
            qps_avg: f32::NAN,
            qps_max: f32::INFINITY,
            p99_ms: 0.25,
            error_rate: 0.0,
        };
        let bytes = encode_point(&p);
        assert_eq!(bytes.len(), POINT_BLOB_BYTES);
        let back = decode_point(&bytes).expect("decodes");
        assert_eq!(encode_point(&back), bytes);
        assert!(back.qps_avg.is_nan());
        assert!(decode_point(&bytes[1..]).is_err());
    }

    #[test]
    fn slots_wrap_per_tier() {
        let at = |tier, t_s| HistoryPoint {
            kind: TargetKind::Entry,
            target: "home".into(),
            tier,
            point: Point {
                t_s,
                ..Point::sample(0, &Default::default())
            },
        };
        assert_eq!(at(0, 0).slot(), Some(0));
        assert_eq!(at(0, 3_600).slot(), Some(0), "360 points of 10 s");
        assert_eq!(at(0, 3_610).slot(), Some(1));
        assert_eq!(at(1, 120).slot(), Some(2));
        assert_eq!(at(2, 300 * 577).slot(), Some(1));
        assert_eq!(at(3, 0).slot(), None);
    }
}
