//! Gray-release whitelists on the control plane: uploads (text, one id per
//! line) stored as numbered versions per service, and the long poll by
//! which sidecars follow them in seawall-guard's compact binary form
//! (`whitelist::Delta`: the whole set, or the change from the version the
//! sidecar has).

use serde::{Deserialize, Serialize};

/// Content type of an upload: one id per line.
pub const UPLOAD_CONTENT_TYPE: &str = "text/plain";

/// Content type of the long poll's answer (seawall-guard's wire form).
pub const SET_CONTENT_TYPE: &str = "application/vnd.seawall.whitelist";

/// One stored version, without its keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WhitelistInfo {
    /// Service whose sidecars route by it.
    pub service: String,
    /// Version (1, 2, … per service).
    pub version: i64,
    /// Distinct ids.
    pub count: i64,
    /// Size of the stored set in bytes.
    pub bytes: i64,
    /// SHA-256 of the stored set.
    pub sha256: String,
    /// Why this version.
    pub note: String,
    /// Creation time, ms since the Unix epoch (UTC).
    pub created_ms: i64,
    /// Creator.
    pub created_by: String,
}

/// A service's versions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct WhitelistHistory {
    /// Service.
    pub service: String,
    /// Oldest first.
    pub versions: Vec<WhitelistInfo>,
}

/// An upload's query.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct UploadQuery {
    /// Why this version (at most 2,000 characters).
    #[serde(default)]
    pub note: Option<String>,
}

/// The long poll's question.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct WhitelistPollQuery {
    /// Service whose whitelist to follow.
    #[cfg_attr(
        feature = "openapi",
        param(min_length = 1, max_length = 200, pattern = r"^[^/]+$")
    )]
    pub service: String,
    /// The version the caller has (0: none); the answer comes when the
    /// latest differs, as the change from it when the server still has it.
    #[serde(default)]
    pub since: i64,
    /// Longest wait in seconds (default 30, at most 60; 0 answers at once).
    #[serde(default)]
    pub wait: Option<u64>,
}

/// The long poll's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhitelistPoll {
    /// A newer version, in the wire form (`whitelist::Delta::decode`).
    Set(bytes::Bytes),
    /// Nothing newer within the wait (or no whitelist at all).
    Unchanged,
}
