//! Plan versions.

use serde::{Deserialize, Serialize};

/// A plan version without its text. (Not `deny_unknown_fields`: it is
/// flattened into [`PlanVersion`].)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanVersionInfo {
    /// Event id.
    pub event_id: i64,
    /// 1, 2, … per event.
    pub version: i64,
    /// Lower-case hex SHA-256 of the text.
    pub sha256: String,
    /// File name it was pushed as (diagnostics name it).
    pub file_name: String,
    /// Push time, ms since the Unix epoch (UTC).
    pub created_ms: i64,
    /// Pusher.
    pub created_by: String,
}

/// A plan version with its text, exactly as pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanVersion {
    /// Everything but the text.
    #[serde(flatten)]
    pub info: PlanVersionInfo,
    /// The YAML.
    pub text: String,
}

/// A plan to push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PushPlan {
    /// File name the diagnostics name (default `plan.yaml`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub file_name: Option<String>,
    /// The plan's YAML text.
    pub text: String,
}

/// An event's plan versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlanVersionList {
    /// Oldest first.
    pub versions: Vec<PlanVersionInfo>,
}

/// Which version to analyse.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct VersionQuery {
    /// Plan version (default: the latest).
    #[serde(default)]
    pub version: Option<i64>,
}
