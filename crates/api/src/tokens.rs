//! API tokens and their roles.

use serde::{Deserialize, Serialize};

/// A token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RoleName {
    /// Everything, including tokens.
    Admin,
    /// The guarantee group: events, plans, runs, exception decisions.
    Commander,
    /// A business line's technical PM (scoped to `business_line`).
    Pm,
    /// On-call staff.
    Oncall,
    /// Reads only.
    Viewer,
    /// CI/CD pipelines: the change gate only, for the event it is bound to.
    Ci,
    /// A guard sidecar: its service's rules and applied-version reports only.
    Sidecar,
}

/// An API token, never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// Store id (what `DELETE /tokens/{id}` takes).
    pub id: i64,
    /// Unique name: the actor recorded for the token's changes.
    pub name: String,
    /// What it may do.
    pub role: RoleName,
    /// The business line a `pm` token is scoped to.
    pub business_line: Option<String>,
    /// Creation time, ms since the Unix epoch (UTC).
    pub created_ms: i64,
    /// Creator.
    pub created_by: String,
    /// When it was revoked.
    pub revoked_ms: Option<i64>,
    /// When it expires, ms since the Unix epoch (UTC); `null`: never.
    #[serde(default)]
    pub expires_ms: Option<i64>,
    /// The service a `sidecar` token is scoped to.
    #[serde(default)]
    pub service: Option<String>,
    /// The event (slug) a `ci` token is bound to.
    #[serde(default)]
    pub event: Option<String>,
}

/// A token to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Unique name, 1–64 of `A–Z a–z 0–9 . _ - @` (`ci-payments`, `ana@ops`).
    #[cfg_attr(feature = "openapi", schema(max_length = 64))]
    pub name: String,
    /// Role.
    pub role: RoleName,
    /// Business line id of the plan: required for `pm`, refused otherwise.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub business_line: Option<String>,
    /// The token expires this many seconds after it is made (60 s to 10
    /// years); left out, it never expires.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(minimum = 60, maximum = 315_360_000))]
    pub expires_in_seconds: Option<u64>,
    /// The one service a `sidecar` token may follow and report for:
    /// required for `sidecar`, refused otherwise.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub service: Option<String>,
    /// The event (slug) a `ci` token asks the gate about: required for
    /// `ci`, refused otherwise.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 200))]
    pub event: Option<String>,
}

/// A token just made, with its secret: shown this once, never again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreatedToken {
    /// The token.
    pub token: Token,
    /// The secret (`sw_` and 64 hex digits) to send as `Authorization: Bearer …`.
    pub secret: String,
}

/// Every token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenList {
    /// Oldest first, revoked ones included.
    pub tokens: Vec<Token>,
}
