//! Rehearsal results (`run.json`).

use serde::{Deserialize, Serialize};

/// A stored rehearsal result, without its document. (Not
/// `deny_unknown_fields`: it is flattened into [`Run`].)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunInfo {
    /// Store id.
    pub id: i64,
    /// Event id.
    pub event_id: i64,
    /// Plan version current at upload, if the event had one.
    pub plan_version: Option<i64>,
    /// Scenario name from the run.
    pub scenario: String,
    /// Lower-case hex SHA-256 of the document as uploaded.
    pub sha256: String,
    /// Upload time, ms since the Unix epoch (UTC).
    pub uploaded_ms: i64,
    /// Uploader.
    pub uploaded_by: String,
}

/// A stored rehearsal result with its document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Run {
    /// Everything but the document.
    #[serde(flatten)]
    pub info: RunInfo,
    /// The `run.json` text exactly as uploaded (its SHA-256 is `sha256`).
    pub json: String,
}

/// An event's runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunList {
    /// Oldest first.
    pub runs: Vec<RunInfo>,
}
