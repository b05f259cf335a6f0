//! Freeze exceptions.

use serde::{Deserialize, Serialize};

use crate::ChangeKind;

/// A request to let changes through a freeze.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RequestException {
    /// Service globs it covers (`pay-*` covers `pay-gateway`, not `payroll`):
    /// at most 100, each at most 200 characters.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::service_globs))]
    pub services: Vec<String>,
    /// Change kinds it covers.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::change_kinds, example = json!(["release"])))]
    pub kinds: Vec<ChangeKind>,
    /// Start of its own window, inclusive (RFC 3339 with an offset).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub start: String,
    /// End of its own window, exclusive (RFC 3339 with an offset).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub end: String,
    /// Why the change cannot wait for the freeze to end.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 2000, pattern = r"\S")
    )]
    pub reason: String,
}

/// A decision's note.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Decide {
    /// Why (shown in the review).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub note: Option<String>,
}

/// A freeze exception and its state now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Exception {
    /// Id.
    pub id: i64,
    /// Event slug.
    pub event: String,
    /// Service globs.
    pub services: Vec<String>,
    /// Change kinds.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub kinds: Vec<ChangeKind>,
    /// Window start, inclusive (RFC 3339 UTC).
    pub start: String,
    /// Window end, exclusive (RFC 3339 UTC).
    pub end: String,
    /// Why.
    pub reason: String,
    /// Requester (token name).
    pub requested_by: String,
    /// Request time, ms since the Unix epoch (UTC).
    pub requested_ms: i64,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    /// State now: `pending`, `scheduled`, `active`, `rejected` or `expired`.
    pub state: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When, ms since the Unix epoch (UTC).
    pub decided_ms: Option<i64>,
    /// The decider's note.
    pub decision_note: Option<String>,
    /// Literal service names (no glob characters) the current plan does
    /// not have: probably typos; such an entry lets nothing through.
    pub unknown_services: Vec<String>,
}

/// An event's exceptions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExceptionList {
    /// Oldest first.
    pub exceptions: Vec<Exception>,
}
