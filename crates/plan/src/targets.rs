//! Target decomposition: business goals → QPS per journey step, entry and service.
//!
//! Formulas: `docs/plan-reference.md#target-decomposition`.

use serde::Serialize;

use crate::model::Plan;

/// All targets of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Targets {
    /// Per goal: total and peak rate.
    pub goals: Vec<GoalTarget>,
    /// Per journey: step rates and online users.
    pub journeys: Vec<JourneyTarget>,
    /// Per entry target QPS, in plan order.
    pub entries: Vec<EntryTarget>,
    /// Per service target QPS, in plan order.
    pub services: Vec<ServiceTarget>,
    /// Per partner target QPS, in plan order.
    pub partners: Vec<PartnerTarget>,
}

/// A goal's total over the event day and its peak rate per second.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoalTarget {
    /// Goal id.
    pub id: String,
    /// `total(g)`.
    pub total: f64,
    /// Peak-hour share used.
    pub peak_hour_share: f64,
    /// Peak factor used.
    pub peak_factor: f64,
    /// `rate(g)` in units per second.
    pub rate: f64,
}

/// A journey's step rates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JourneyTarget {
    /// Journey id.
    pub id: String,
    /// Goal id.
    pub goal: String,
    /// Step rates in order.
    pub steps: Vec<StepTarget>,
    /// `r[first] × session_seconds`, when `session_seconds` is given.
    pub online_users: Option<f64>,
}

/// One step's rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepTarget {
    /// Entry id.
    pub entry: String,
    /// `r[i]`: users per second reaching the step.
    pub rate: f64,
    /// Requests per visit.
    pub calls: f64,
    /// `r[i] × calls[i]`: requests per second to the entry from this step.
    pub qps: f64,
}

/// An entry's target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryTarget {
    /// Entry id.
    pub id: String,
    /// Service id.
    pub service: String,
    /// `burst × Σ r[i] × calls[i]`.
    pub target_qps: f64,
}

/// A service's target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceTarget {
    /// Service id.
    pub id: String,
    /// Entries' targets plus callers' targets × calls.
    pub target_qps: f64,
    /// `target × latency_ms / 1000`, when `latency_ms` is given.
    pub in_flight: Option<f64>,
}

/// A partner's target (what our services send it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartnerTarget {
    /// Partner id.
    pub id: String,
    /// Σ callers' targets × calls.
    pub target_qps: f64,
}

impl Targets {
    /// Target of an entry by id.
    pub fn entry(&self, id: &str) -> Option<f64> {
        self.entries.iter().find(|e| e.id == id).map(|e| e.target_qps)
    }
    /// Target of a service by id.
    pub fn service(&self, id: &str) -> Option<f64> {
        self.services.iter().find(|s| s.id == id).map(|s| s.target_qps)
    }
    /// Target of a partner by id.
    pub fn partner(&self, id: &str) -> Option<f64> {
        self.partners.iter().find(|s| s.id == id).map(|s| s.target_qps)
    }
}

/// Decompose the plan's goals into targets.
pub fn decompose(plan: &Plan) -> Targets {
    let _ = plan;
    Targets::default()
}
