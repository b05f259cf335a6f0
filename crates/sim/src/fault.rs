//! Drill switches: make a service or partner slow or failing.
//!
//! A fault is set per service or partner and applies to every request it
//! receives from then on (entries and dependency calls alike), so a drill
//! can show what a slow or broken dependency does to its callers.

use serde::{Deserialize, Serialize};

use crate::SimError;

/// Longest extra latency a `slow` fault may add, in milliseconds.
pub const MAX_SLOW_MS: f64 = 60_000.0;

/// A drill switch on one service or partner.
///
/// JSON (the `fault` of `PUT /_sim/fault`): `{"kind": "none"}`,
/// `{"kind": "slow", "ms": 300}`, `{"kind": "fail", "ratio": 1.0}`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Fault {
    /// Normal behaviour.
    #[default]
    None,
    /// Every request takes `ms` milliseconds longer (it still uses capacity
    /// as usual).
    Slow {
        /// Added latency in milliseconds, 0 to 60,000.
        ms: f64,
    },
    /// This share of requests fails at once with 500 (sampled with the
    /// seeded generator, before admission: failed requests use no capacity).
    Fail {
        /// Share of requests that fail, 0 to 1.
        ratio: f64,
    },
}

impl Fault {
    /// Check the numbers: `ms` in 0..=60,000, `ratio` in 0..=1.
    pub fn validate(&self) -> Result<(), SimError> {
        match *self {
            Fault::None => Ok(()),
            Fault::Slow { ms } if (0.0..=MAX_SLOW_MS).contains(&ms) => Ok(()),
            Fault::Slow { ms } => Err(SimError::InvalidFault(format!(
                "slow ms {ms} is not in 0..={MAX_SLOW_MS}; give the added latency in milliseconds"
            ))),
            Fault::Fail { ratio } if (0.0..=1.0).contains(&ratio) => Ok(()),
            Fault::Fail { ratio } => Err(SimError::InvalidFault(format!(
                "fail ratio {ratio} is not in 0..=1; give the share of requests that fail"
            ))),
        }
    }

    /// Extra latency this fault adds, in milliseconds.
    pub(crate) fn slow_ms(&self) -> f64 {
        match *self {
            Fault::Slow { ms } => ms,
            _ => 0.0,
        }
    }

    /// Whether a request with uniform draw `u` in [0, 1) fails.
    pub(crate) fn fails(&self, u: f64) -> bool {
        matches!(*self, Fault::Fail { ratio } if u < ratio)
    }
}

/// The body of `PUT /_sim/fault`: `{"target": "coupon-svc", "fault": {"kind": "fail", "ratio": 1}}`,
/// optionally with `"ttl_ms": 60000`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// Service or partner id.
    pub target: String,
    /// The switch to set.
    pub fault: Fault,
    /// How long the switch lasts, in milliseconds; after it the node is
    /// normal again by itself (a drill's lease). Absent: until changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shapes() {
        let f: Fault = serde_json::from_str(r#"{"kind":"slow","ms":250}"#).expect("slow");
        assert_eq!(f, Fault::Slow { ms: 250.0 });
        let f: Fault = serde_json::from_str(r#"{"kind":"fail","ratio":0.5}"#).expect("fail");
        assert_eq!(f, Fault::Fail { ratio: 0.5 });
        let f: Fault = serde_json::from_str(r#"{"kind":"none"}"#).expect("none");
        assert_eq!(f, Fault::None);
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"slow","ms":1,"extra":2}"#).is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"explode"}"#).is_err());
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"slow"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&Fault::Fail { ratio: 1.0 }).expect("json"),
            r#"{"kind":"fail","ratio":1.0}"#
        );
    }

    #[test]
    fn ranges() {
        assert!(Fault::Slow { ms: 0.0 }.validate().is_ok());
        assert!(Fault::Slow { ms: -1.0 }.validate().is_err());
        assert!(Fault::Slow { ms: f64::NAN }.validate().is_err());
        assert!(Fault::Slow { ms: 60_001.0 }.validate().is_err());
        assert!(Fault::Fail { ratio: 1.0 }.validate().is_ok());
        assert!(Fault::Fail { ratio: 1.5 }.validate().is_err());
        assert!(
            Fault::Fail {
                ratio: f64::INFINITY
            }
            .validate()
            .is_err()
        );
        assert!(Fault::Fail { ratio: 0.5 }.fails(0.49));
        assert!(!Fault::Fail { ratio: 0.5 }.fails(0.5));
        assert!(!Fault::None.fails(0.0));
    }
}
