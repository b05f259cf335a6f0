//! `GET /audit?after=&limit=`: the hash-chained audit log, in pages, for
//! reading and for `seawall audit verify` (which re-hashes every entry on
//! the client's side; the server's word is not taken for it).

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::openapi::AuthErrors;
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 1000;
/// Largest page size.
pub const MAX_LIMIT: u32 = 10_000;

/// One audit entry, exactly as stored and hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

impl From<seawall_store::AuditEntry> for AuditEntry {
    fn from(e: seawall_store::AuditEntry) -> Self {
        Self {
            seq: e.seq,
            at_ms: e.at_ms,
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

impl From<AuditEntry> for seawall_store::AuditEntry {
    fn from(e: AuditEntry) -> Self {
        Self {
            seq: e.seq,
            at_ms: e.at_ms,
            actor: e.actor,
            action: e.action,
            target: e.target,
            detail: e.detail,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// Which page.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries with `seq` greater than this (default 0: from the start).
    #[serde(default)]
    pub after: i64,
    /// At most this many (default 1000, at most 10000).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// A page of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditPage {
    /// In `seq` order.
    pub entries: Vec<AuditEntry>,
    /// `after` for the next page; `null` when this page is the last.
    pub next_after: Option<i64>,
}

/// A page of the audit log.
#[utoipa::path(get, path = "/audit", tag = "audit", security(("bearer" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 400, description = "Bad query", body = ErrorBody),
        AuthErrors))]
async fn list_audit(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    auth.require(READERS)?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1–{MAX_LIMIT}"),
        ));
    }
    if q.after < 0 {
        return Err(ApiError::bad_request("invalid_query", "after must be ≥ 0"));
    }
    let entries = state.store.audit(q.after, limit).await?;
    let next_after = if entries.len() == limit as usize {
        entries.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(AuditPage {
        entries: entries.into_iter().map(AuditEntry::from).collect(),
        next_after,
    }))
}
