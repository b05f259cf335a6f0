//! The input of an evaluation tick: one [`Reading`] per target.
//!
//! A metric source either produced values, has produced none for a while
//! (stale) or failed with an error. These are three different things on the
//! event day, so they are three variants: a failed source is never read as
//! zero traffic, and a stale one never as "all fine".

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The kind of thing a reading or alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A system entry point.
    Entry,
    /// A service.
    Service,
    /// An external partner.
    Partner,
    /// A step of the business funnel (by name).
    FunnelStep,
    /// The value of a plan alert's own `query` (by alert id).
    Query,
}

impl TargetKind {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Entry => "entry",
            TargetKind::Service => "service",
            TargetKind::Partner => "partner",
            TargetKind::FunnelStep => "funnel_step",
            TargetKind::Query => "query",
        }
    }
}

/// The values a source gave for one target at one tick. Absent fields were
/// not asked for or not answered; a funnel step or query only has `qps`
/// (its rate or value).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Metrics {
    /// Request (or event) rate per second.
    pub qps: Option<f64>,
    /// 99th-percentile latency in milliseconds.
    pub p99_ms: Option<f64>,
    /// Error ratio in [0, 1].
    pub error_rate: Option<f64>,
}

/// What the source said about one target at one tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Reading {
    /// Fresh values.
    Value(Metrics),
    /// No fresh value since `since_ms` (the time of the last good value).
    Stale {
        /// Milliseconds of the last good value.
        since_ms: u64,
    },
    /// The source answered with an error (rejected query, unreachable host…).
    Failed {
        /// The source's error text, shown as is.
        error: String,
    },
}

impl Reading {
    /// The fresh values, if any.
    pub fn metrics(&self) -> Option<&Metrics> {
        match self {
            Reading::Value(m) => Some(m),
            Reading::Stale { .. } | Reading::Failed { .. } => None,
        }
    }
}

/// One tick's readings, by target id within each kind. A target without a
/// reading is `missing` in the live view (the source was not asked).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Readings {
    /// Entries by id.
    pub entries: HashMap<String, Reading>,
    /// Services by id.
    pub services: HashMap<String, Reading>,
    /// Partners by id.
    pub partners: HashMap<String, Reading>,
    /// Funnel steps by name (`qps` is the step's rate).
    pub funnel: HashMap<String, Reading>,
    /// Values of plan alerts with `metric: query`, by alert id (`qps` is the value).
    pub queries: HashMap<String, Reading>,
}

impl Readings {
    /// The readings of one kind.
    pub fn of(&self, kind: TargetKind) -> &HashMap<String, Reading> {
        match kind {
            TargetKind::Entry => &self.entries,
            TargetKind::Service => &self.services,
            TargetKind::Partner => &self.partners,
            TargetKind::FunnelStep => &self.funnel,
            TargetKind::Query => &self.queries,
        }
    }

    /// The reading of one target.
    pub fn get(&self, kind: TargetKind, id: &str) -> Option<&Reading> {
        self.of(kind).get(id)
    }
}

/// A finite, non-negative number, or `None` (NaN, infinities and negative
/// rates are not measurements).
pub fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite() && *x >= 0.0)
}
