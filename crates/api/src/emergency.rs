//! Emergency-plan runs: start one (or a dry run), approve it, roll it back,
//! resume it after a restart left an action unknown, and read what each
//! action did (`docs/respond.md#emergency-plans-that-execute`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /events/{slug}/emergency-plans/{id}/runs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// Show each action's effect and change nothing (needs no approval).
    #[serde(default)]
    pub dry_run: bool,
}

/// An approval given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunApproval {
    /// The commander (a token's name: a person id of the plan).
    pub by: String,
    /// When, ms since the Unix epoch (UTC).
    pub at_ms: i64,
}

/// One action of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunStep {
    /// The action's kind (`rate_limit`, `degrade`, `fallback`, `notify`, …).
    pub kind: String,
    /// What it works on (entry, service, partner, channel), if anything.
    pub target: Option<String>,
    /// `pending`, `running`, `succeeded`, `failed`, `skipped`, `unknown`,
    /// `undoing`, `undo_unknown` (a restart interrupted its undo),
    /// `rolled_back` or `rollback_failed`.
    pub status: String,
    /// When it started, ms.
    pub started_ms: Option<i64>,
    /// When it ended, ms.
    pub ended_ms: Option<i64>,
    /// What it found before changing anything (what rollback restores).
    pub before: Option<Value>,
    /// What it left (for a dry run: what it would leave).
    pub after: Option<Value>,
    /// The error, or (when unknown) what to check.
    pub error: Option<String>,
    /// Whether rollback can undo it.
    pub reversible: bool,
}

/// One run of an emergency plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EmergencyRun {
    /// The run's number.
    pub id: i64,
    /// The emergency plan's id.
    pub plan_id: String,
    /// The plan version it executes.
    pub plan_version: i64,
    /// Its store version (grows with every change).
    pub version: i64,
    /// `awaiting_approval`, `running`, `needs_attention`, `succeeded`,
    /// `failed`, `rolling_back`, `rolled_back` or `cancelled`.
    pub status: String,
    /// A dry run changes nothing.
    pub dry_run: bool,
    /// Who asked (a token's name, or `trigger:<alert>`).
    pub requested_by: String,
    /// When, ms.
    pub requested_ms: i64,
    /// Approvals needed: `none`, `one` or `two`.
    pub approval: String,
    /// Approvals given.
    pub approvals: Vec<RunApproval>,
    /// The actions, in the plan's order.
    pub steps: Vec<RunStep>,
    /// From the first action's start to the last action's end, ms.
    pub duration_ms: Option<i64>,
    /// The plan's expected duration.
    pub expected_minutes: Option<f64>,
    /// Whether it ran within `expected_minutes` (once final).
    pub within_expected: Option<bool>,
    /// Last change, ms.
    pub updated_ms: i64,
}

/// Runs, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EmergencyRunList {
    /// Oldest first.
    pub runs: Vec<EmergencyRun>,
}
