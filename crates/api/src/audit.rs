//! The hash-chained audit log.

use serde::{Deserialize, Serialize};

/// One audit entry, exactly as stored and hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// 1, 2, … without gaps.
    pub seq: i64,
    /// When, ms since the Unix epoch (UTC).
    pub at_ms: i64,
    /// Who (token name, or `bootstrap`).
    pub actor: String,
    /// What, dotted (`plan.push`, `gate.check`, `token.create`, …).
    pub action: String,
    /// On what (`event:double11`, `token:7`, …).
    pub target: String,
    /// Details as compact JSON text, hashed exactly as stored.
    pub detail: String,
    /// The previous entry's hash (64 zeros for the first).
    pub prev_hash: String,
    /// This entry's hash: lower-case hex SHA-256 (docs/control-plane.md).
    pub hash: String,
}

/// Which page.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct AuditQuery {
    /// Entries with `seq` greater than this (default 0: from the start).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 0))]
    pub after: i64,
    /// At most this many (default 1000, at most 10000).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 1, maximum = 10_000))]
    pub limit: Option<u32>,
}

/// A page of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditPage {
    /// In `seq` order.
    pub entries: Vec<AuditEntry>,
    /// `after` for the next page; `null` when this page is the last.
    pub next_after: Option<i64>,
}
