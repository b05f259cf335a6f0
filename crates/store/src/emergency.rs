//! Emergency-plan runs as the store keeps them: the run's state (the
//! control plane's `seawall_respond::run::Run`, JSON) with a version for
//! optimistic updates. The store does not read the state: it keeps the
//! status and whether the run is finished beside it, so the control plane
//! can list what a restart must recover and the database can refuse a
//! second unfinished run of the same plan.
//!
//! Why a version: the driver, an approving commander and a rollback can
//! all update one run; each names the version it read, and an update from
//! a stale read is refused ([`crate::StoreError::Conflict`]) instead of
//! silently overwriting the other's change.
//!
//! Beside runs, the episodes of metric triggers ([`TriggerEpisode`]): since
//! when a plan's metric condition has held and whether the episode started
//! a run. Stored so that a restart in the middle of a `for` window keeps
//! the episode's start, and so that a trigger fires once per episode even
//! across restarts or with two control planes on one database: only the
//! one update that claims the episode ([`crate::Store::claim_trigger`])
//! starts a run. They are observations, not changes, so not audited (the
//! run a claim starts is).

use serde::{Deserialize, Serialize};

use crate::Millis;

/// One stored emergency-plan run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyRun {
    /// Store id (the run's number in the API).
    pub id: i64,
    /// Event it belongs to.
    pub event_id: i64,
    /// The emergency plan's id in the event's plan.
    pub plan_id: String,
    /// The plan version the run executes.
    pub plan_version: i64,
    /// The run's status name (`running`, `rolled_back`, …).
    pub status: String,
    /// Whether the status is final.
    pub finished: bool,
    /// The run's state, JSON.
    pub state: String,
    /// 1 when created, one more with every update.
    pub version: i64,
    /// Who asked (a token's name, or `trigger:<alert>`).
    pub requested_by: String,
    /// Creation time.
    pub created_ms: Millis,
    /// Last update time.
    pub updated_ms: Millis,
}

/// A run to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEmergencyRun {
    /// The emergency plan's id.
    pub plan_id: String,
    /// The plan version the run executes.
    pub plan_version: i64,
    /// Status name.
    pub status: String,
    /// Whether the status is final.
    pub finished: bool,
    /// The state, JSON.
    pub state: String,
    /// Who asked.
    pub requested_by: String,
}

/// A run's new state, with the audit entry that says what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyRunUpdate {
    /// Status name.
    pub status: String,
    /// Whether the status is final.
    pub finished: bool,
    /// The state, JSON.
    pub state: String,
    /// The audit action (`emergency.run.approved`, `emergency.step.started`, …).
    pub action: String,
    /// The audit detail.
    pub detail: serde_json::Value,
}

/// An episode of a metric-triggered emergency plan: its condition has held
/// since `since_ms`; `started` once the episode started a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerEpisode {
    /// Event it belongs to.
    pub event_id: i64,
    /// The emergency plan's id.
    pub plan_id: String,
    /// Since when the condition has held.
    pub since_ms: Millis,
    /// Whether this episode started a run.
    pub started: bool,
}
