//! The one error shape of the API: `{"error": {"code", "message", "details"}}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and for people (`message`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    /// Stable snake_case code (`unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `malformed_json`, `invalid_body`, `unknown_field`,
    /// `payload_too_large`, `unsupported_media_type`, `invalid_plan`,
    /// `invalid_run`, `method_not_allowed`, `too_many_requests`,
    /// `too_long`, `too_many_exceptions`, `token_expired`, `unavailable`,
    /// `internal`).
    pub code: String,
    /// What is wrong and what to do, in a sentence.
    pub message: String,
    /// Machine-readable specifics: line and column of malformed JSON, the
    /// roles an endpoint needs, a plan's diagnostics. `null` when none.
    #[cfg_attr(feature = "openapi", schema(value_type = Object, nullable = true))]
    pub details: Option<Value>,
}
