//! The change gate: a question, its answer, the recorded decisions.

use serde::{Deserialize, Serialize};

use crate::ChangeKind;

/// A change about to happen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GateCheck {
    /// Service id (as in the plan).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, pattern = r"\S")
    )]
    pub service: String,
    /// `release`, `config` or `ops`.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::schema::change_kind, example = "release"))]
    pub kind: ChangeKind,
    /// Who makes the change (the pipeline's user); defaults to the token's name.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub actor: Option<String>,
    /// The change's reference: merge request, commit, ticket.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub change_ref: Option<String>,
    /// Only this event's plan decides; default: every event with a plan
    /// (frozen if any of them freezes the change). A `ci` token always asks
    /// about the event it is bound to; naming another one is refused.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub event: Option<String>,
}

/// A freeze window named in a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GateWindow {
    /// Window id in the plan.
    pub id: String,
    /// Start, inclusive (RFC 3339 UTC).
    pub start: String,
    /// End, exclusive (RFC 3339 UTC).
    pub end: String,
    /// Why the window exists.
    pub reason: Option<String>,
}

/// The gate's answer (also stored as a change record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GateAnswer {
    /// Whether the change may go ahead now.
    pub allowed: bool,
    /// Whether a freeze window covers it (also true when an exception let it through).
    pub frozen: bool,
    /// One sentence: the window and until when, or the exception that let it through.
    pub reason: String,
    /// The window that froze it (or that the exception overrode).
    pub window: Option<GateWindow>,
    /// Id of the approved exception that let it through.
    pub exception: Option<i64>,
    /// When the freeze on this change ends, exceptions aside (RFC 3339 UTC).
    pub next_free: Option<String>,
    /// The event whose plan decided, if any.
    pub event: Option<String>,
    /// Plan version that decided.
    pub plan_version: Option<i64>,
    /// True when no plan consulted has this service (a typo, or a service
    /// missing from the plan): nothing can freeze it, so it is allowed,
    /// and `reason` says so.
    #[serde(default)]
    pub unknown_service: bool,
    /// Id of the change record.
    pub record: i64,
    /// Decision time, ms since the Unix epoch (UTC).
    pub at_ms: i64,
}

/// A recorded gate decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeRecord {
    /// Record id.
    pub id: i64,
    /// Decision time, ms since the Unix epoch (UTC).
    pub at_ms: i64,
    /// Event whose plan decided.
    pub event_id: Option<i64>,
    /// Service.
    pub service: String,
    /// `release`, `config` or `ops`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: ChangeKind,
    /// Who asked.
    pub actor: String,
    /// The change's reference.
    pub change_ref: String,
    /// Whether it was let through.
    pub allowed: bool,
    /// Why.
    pub reason: String,
    /// The freeze window involved.
    pub window: Option<String>,
    /// The exception that let it through.
    pub exception_id: Option<i64>,
}

/// Recorded decisions, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeList {
    /// Newest first.
    pub changes: Vec<ChangeRecord>,
}

/// Which records to list.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ChangeQuery {
    /// Only this event's (slug).
    #[serde(default)]
    pub event: Option<String>,
    /// Only this service's.
    #[serde(default)]
    pub service: Option<String>,
    /// Only decisions at or after this time (ms since the Unix epoch).
    #[serde(default)]
    pub since_ms: Option<i64>,
    /// Only allowed (`true`) or refused (`false`) ones.
    #[serde(default)]
    pub allowed: Option<bool>,
    /// At most this many (default 100, at most 10,000).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 10_000))]
    pub limit: Option<u32>,
}
