//! What a review is computed from: a plain copy of what the control
//! plane's store holds for one event, gathered by the server
//! (`crates/server/src/service/review.rs`).
//!
//! Why a copy rather than the store: the review is a pure function of
//! these values (no IO, no clock), so every number in it can be tested
//! with a fixed input and snapshotted. The types the evaluator and the
//! responders already use (`seawall-monitor`'s history points and alert
//! transitions, `seawall-respond`'s runs, incidents and escalations) are
//! taken as they are; the store's own records (gate decisions, exceptions,
//! rule versions) are copied into small structs here because the store
//! crate carries a database driver this crate must not depend on.

use serde::{Deserialize, Serialize};

use seawall_monitor::Transition;
use seawall_monitor::history::Point;
use seawall_monitor::sample::TargetKind;
use seawall_respond::escalation::Escalation;
use seawall_respond::incident::Incident;
use seawall_respond::run::Run;

/// Everything the store holds of one event that a review reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Event slug.
    pub slug: String,
    /// Event display name.
    pub name: String,
    /// Event creation time (ms): the origin of the telemetry history's
    /// `t_s`.
    pub created_ms: i64,
    /// The plan version the review reads (the latest), if any was pushed.
    pub plan: Option<PlanInput>,
    /// Measured capacities from the event's rehearsal runs.
    pub rehearsal: Rehearsal,
    /// Stored telemetry series, every tier.
    pub series: Vec<SeriesInput>,
    /// Alert transitions, oldest first.
    pub transitions: Vec<Transition>,
    /// Emergency-plan runs, oldest first.
    pub emergency_runs: Vec<EmergencyRunInput>,
    /// Incidents, oldest first.
    pub incidents: Vec<IncidentInput>,
    /// Gate decisions of the event, any order.
    pub changes: Vec<ChangeInput>,
    /// Freeze exceptions of the event, oldest first.
    pub exceptions: Vec<ExceptionInput>,
    /// Guard rule versions of the plan's services, oldest first.
    pub rule_changes: Vec<RuleChangeInput>,
}

/// One stored plan version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanInput {
    /// Version number.
    pub version: i64,
    /// File name it was pushed from (the recommendations' `file:line`).
    pub file_name: String,
    /// The YAML text as pushed.
    pub text: String,
}

/// Measured capacities from the event's rehearsal runs (a later run's
/// figure replaces an earlier one's, as `plan capacity --results` reads
/// them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rehearsal {
    /// Run ids the figures come from.
    pub runs: Vec<i64>,
    /// Knee (QPS) per entry id.
    pub entry_knees: Vec<(String, f64)>,
    /// Measured capacity per instance (QPS) per service id.
    pub service_per_instance: Vec<(String, f64)>,
}

/// One stored telemetry series at one tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesInput {
    /// Kind of target.
    pub kind: TargetKind,
    /// Target id.
    pub id: String,
    /// Tier (0: 10 s, 1: 1 min, 2: 5 min).
    pub tier: u8,
    /// Points, oldest first.
    pub points: Vec<Point>,
}

/// One emergency-plan run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmergencyRunInput {
    /// Store id.
    pub id: i64,
    /// The run's state.
    pub run: Run,
}

/// One incident with its paging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentInput {
    /// Store id.
    pub id: i64,
    /// The incident.
    pub incident: Incident,
    /// Its escalation, if anybody was paged.
    pub escalation: Option<Escalation>,
}

/// One gate decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeInput {
    /// Store id.
    pub id: i64,
    /// Decision time (ms).
    pub at_ms: i64,
    /// Service asked about.
    pub service: String,
    /// Change kind name (`deploy`, `config`, …).
    pub kind: String,
    /// The change's reference.
    pub change_ref: String,
    /// Who asked.
    pub actor: String,
    /// Whether it was let through.
    pub allowed: bool,
    /// The freeze window involved, if any.
    pub window: Option<String>,
    /// The exception that let it through.
    pub exception_id: Option<i64>,
}

/// One freeze exception.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionInput {
    /// Store id.
    pub id: i64,
    /// Status name (`pending`, `approved`, `rejected`).
    pub status: String,
    /// Service globs.
    pub services: Vec<String>,
    /// Window start (ms).
    pub starts_ms: i64,
    /// Window end (ms).
    pub ends_ms: i64,
    /// Who asked.
    pub requested_by: String,
    /// Who decided.
    pub decided_by: Option<String>,
}

/// One guard rule version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleChangeInput {
    /// Service.
    pub service: String,
    /// Version.
    pub version: i64,
    /// Source name (`derived`, `adjusted`, `emergency`).
    pub source: String,
    /// Creation time (ms).
    pub at_ms: i64,
    /// Creator.
    pub by: String,
    /// Why.
    pub note: String,
}
