//! Drills of emergency plans as the store keeps them: the control plane's
//! drill record (JSON) with a version for optimistic updates, and beside it
//! the status and whether the drill is finished, so the database can
//! refuse a second unfinished drill of the same plan and a global stop can
//! find every running one.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// One stored drill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDrill {
    /// Store id (the drill's number in the API).
    pub id: i64,
    /// Event it belongs to.
    pub event_id: i64,
    /// The emergency plan's id in the event's plan.
    pub plan_id: String,
    /// Status name (`running`, `passed`, `failed`, `stopped`).
    pub status: String,
    /// Whether the status is final.
    pub finished: bool,
    /// The drill record, JSON.
    pub state: String,
    /// 1 when created, one more with every update.
    pub version: i64,
    /// Creation time.
    pub created_ms: Millis,
    /// Last update time.
    pub updated_ms: Millis,
}

/// A drill to store, or its new state, with the audit entry that says what
/// happened (`drill.started`, `drill.finished`, `drill.stopped`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillWrite {
    /// The emergency plan's id (ignored by an update).
    pub plan_id: String,
    /// Status name.
    pub status: String,
    /// Whether the status is final.
    pub finished: bool,
    /// The drill record, JSON.
    pub state: String,
    /// The audit action.
    pub action: String,
    /// The audit detail.
    pub detail: serde_json::Value,
}
