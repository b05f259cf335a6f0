//! The change gate: `POST /gate/check` answers "may this change go ahead
//! now?" from the events' current plans (freeze windows) and their approved
//! freeze exceptions, and records the answer as a change record either way;
//! `GET /gate/changes` lists the records for the review.
//!
//! The answer itself is `seawall_plan::gate::gate`, a pure function tested
//! across window edges, time zones and DST; the service layer
//! (`service::gate::check`) finds the plans and exceptions, asks
//! at the server's time and records; this module is its HTTP face. The
//! question is asked
//! when the deploying job runs, not when its pipeline was created
//! (docs/change-gate.md).
//!
//! A `ci` token is bound to one event: its questions are about that
//! event's plan only, and a question naming another event is refused (403).
//! A service that no consulted plan knows is allowed as before (no window
//! can name it) but the answer says so (`unknown_service`, and a sentence
//! in `reason`): it is usually a typo or a service missing from the plan.

use axum::Json;
use axum::extract::State;
pub use seawall_api::gate::{
    ChangeList, ChangeQuery, ChangeRecord, GateAnswer, GateCheck, GateWindow,
};
use seawall_store::ChangeFilter;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::events;
use crate::auth::{Auth, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, JsonBody};
use crate::openapi::{AuthErrors, BodyErrors};
use crate::service;
pub use crate::service::gate::GATE_ASKERS;
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check))
        .routes(routes!(changes))
}

/// Ask the gate.
#[utoipa::path(post, path = "/gate/check", tag = "gate", security(("bearer" = [])),
    request_body = GateCheck,
    responses(
        (status = 200, description = "The decision (allowed or not), recorded", body = GateAnswer),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 422, description = "A service name, actor, change_ref or event over its cap \
            (invalid_service, too_long)", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn check(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(ask): JsonBody<GateCheck>,
) -> Result<Json<GateAnswer>, ApiError> {
    auth.require(GATE_ASKERS)?;
    service::gate::check(&state, &auth, &ask).await.map(Json)
}

/// Most decisions one `GET /gate/changes` answers (`limit`'s maximum, as
/// its schema declares).
pub const MAX_CHANGES: u32 = 10_000;

/// `limit` of `GET /gate/changes`: default 100, 1 to [`MAX_CHANGES`]
/// (outside it 400 `invalid_query`, as the document declares).
fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=MAX_CHANGES).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1–{MAX_CHANGES}"),
        )),
    }
}

/// Recorded gate decisions, newest first.
#[utoipa::path(get, path = "/gate/changes", tag = "gate", security(("bearer" = [])),
    params(ChangeQuery),
    responses(
        (status = 200, description = "Recorded decisions, newest first", body = ChangeList),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors))]
async fn changes(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ChangeQuery>,
) -> Result<Json<ChangeList>, ApiError> {
    auth.require(READERS)?;
    let event_id = match &q.event {
        Some(slug) => Some(events::find(&state, slug).await?.id),
        None => None,
    };
    let filter = ChangeFilter {
        event_id,
        service: q.service,
        since_ms: q.since_ms,
        allowed: q.allowed,
        limit: Some(page_limit(q.limit)?),
    };
    let changes = state.store.changes(&filter).await?;
    Ok(Json(ChangeList {
        changes: changes.into_iter().map(ChangeRecord::from).collect(),
    }))
}
