//! Incidents as the store keeps them: the incident (the control plane's
//! `seawall_respond::incident::Incident`, JSON) and its paging
//! (`seawall_respond::escalation::Escalation`, JSON, or none) with a
//! version for optimistic updates. The store does not read either state:
//! it keeps the status, severity, dedup key and the time the next page is
//! due beside them, so the database can refuse a second unresolved
//! incident for one alert target and the paging loop can ask only for
//! what is due.
//!
//! Why a version: the paging loop, an acknowledging responder and an
//! alert joining the incident can all update one incident; each names
//! the version it read, and an update from a stale read is refused
//! ([`crate::StoreError::Conflict`]) — the paging loop records a page this
//! way before sending it, so two loops (or a restart) never page one step
//! twice.

use serde::{Deserialize, Serialize};

use crate::Millis;

/// One stored incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredIncident {
    /// Store id (the incident's number in the API).
    pub id: i64,
    /// Event it belongs to.
    pub event_id: i64,
    /// Status name (`open`, `acknowledged`, `mitigated`, `resolved`).
    pub status: String,
    /// Severity name (`P1` … `P4`).
    pub severity: String,
    /// What deduplicates it (an alert's target), if anything.
    pub dedup_key: Option<String>,
    /// The incident, JSON.
    pub state: String,
    /// Its escalation, JSON, if anybody is paged.
    pub escalation: Option<String>,
    /// When the next page is due, if one is.
    pub next_page_ms: Option<Millis>,
    /// 1 when created, one more with every update.
    pub version: i64,
    /// Creation time.
    pub created_ms: Millis,
    /// Last update time.
    pub updated_ms: Millis,
}

/// An incident to store, or an incident's new state (with the audit
/// entry that says what happened: `incident.acknowledged`,
/// `incident.resolved`, `incident.paged`, `incident.updated`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentWrite {
    /// Status name.
    pub status: String,
    /// Severity name.
    pub severity: String,
    /// Dedup key (ignored by an update: it never changes).
    pub dedup_key: Option<String>,
    /// The incident, JSON.
    pub state: String,
    /// The escalation, JSON.
    pub escalation: Option<String>,
    /// When the next page is due.
    pub next_page_ms: Option<Millis>,
    /// The audit action (creation is always `incident.opened`).
    pub action: String,
    /// The audit detail.
    pub detail: serde_json::Value,
}
