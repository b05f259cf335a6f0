//! `GET /audit?after=&limit=`: the hash-chained audit log, in pages, for
//! reading and for `seawall audit verify` (which re-hashes every entry on
//! the client's side; the server's word is not taken for it).

use axum::Json;
use axum::extract::State;
pub use seawall_api::audit::{AuditEntry, AuditPage, AuditQuery};
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
