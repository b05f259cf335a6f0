//! Freeze exceptions: a request to let a scoped set of changes through a
//! freeze for a while (`POST /events/{slug}/exceptions`), approved or
//! rejected by a commander (`POST /exceptions/{id}/approve|reject`), listed
//! with their state for the war room and the review.
//!
//! The rules of scope and life are `seawall_plan::gate::FreezeException`'s
//! (exceptions never widen: exactly their service globs, their kinds and
//! their own window; expiry follows from the end); the service layer
//! ([`crate::service::exceptions`], which the UI's forms call too) checks
//! who may ask and decide, and stores; this module is its HTTP face. A pm
//! may ask only for services of their own business line. Nobody approves their own request (separation of
//! duties; withdrawing it by a rejection is fine), free text is capped, and an event has at most
//! [`Limits::max_active_exceptions`](crate::state::Limits) active
//! exceptions (pending, or approved and not ended) so a flood of requests
//! cannot bury the ones that matter.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
pub use seawall_api::exceptions::{Decide, Exception, ExceptionList, RequestException};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::events;
use crate::auth::{Auth, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, JsonBody};
use crate::openapi::{AuthErrors, BodyErrors};
use crate::service::exceptions::{decide, load, request_exception, view, views};
use crate::service::gate::current_plan;
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request, list))
        .routes(routes!(get_one))
        .routes(routes!(approve))
        .routes(routes!(reject))
}

/// Request a freeze exception (pending until a commander decides).
#[utoipa::path(post, path = "/events/{slug}/exceptions", tag = "exceptions",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    request_body = RequestException,
    responses(
        (status = 201, description = "Requested (pending)", body = Exception),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors, BodyErrors,
        (status = 422, description = "No service, no kind, no reason, an empty window or a bad \
            time (invalid_exception, invalid_time), text over its cap (too_long), or the \
            event's active exceptions at their bound (too_many_exceptions)", body = ErrorBody)))]
async fn request(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    JsonBody(req): JsonBody<RequestException>,
) -> Result<(StatusCode, Json<Exception>), ApiError> {
    let e = request_exception(&state, &auth, &slug, &req).await?;
    Ok((StatusCode::CREATED, Json(e)))
}

/// An event's exceptions with their state now, oldest first.
#[utoipa::path(get, path = "/events/{slug}/exceptions", tag = "exceptions",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    responses(
        (status = 200, description = "Oldest first", body = ExceptionList),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors))]
async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<ExceptionList>, ApiError> {
    auth.require(READERS)?;
    let event = events::find(&state, &slug).await?;
    let plan = current_plan(&state, &event).await?.map(|(_, p)| p);
    let exceptions = views(&state, &event, plan.as_deref()).await?;
    Ok(Json(ExceptionList { exceptions }))
}

/// One exception with its state now.
#[utoipa::path(get, path = "/exceptions/{id}", tag = "exceptions", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Exception id")),
    responses(
        (status = 200, description = "The exception", body = Exception),
        (status = 404, description = "No such exception", body = ErrorBody),
        AuthErrors))]
async fn get_one(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Exception>, ApiError> {
    auth.require(READERS)?;
    let (e, event, plan) = load(&state, id).await?;
    Ok(Json(view(&state, &event.slug, plan.as_deref(), e).await?))
}

/// Approve a pending exception (commanders): it lets exactly its scope through in its window.
#[utoipa::path(post, path = "/exceptions/{id}/approve", tag = "exceptions",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Exception id")),
    request_body = Decide,
    responses(
        (status = 200, description = "Approved", body = Exception),
        (status = 403, description = "Not a decider, or the decider requested it", body = ErrorBody),
        (status = 404, description = "No such exception", body = ErrorBody),
        (status = 409, description = "Already decided, or its window has ended", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn approve(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    JsonBody(d): JsonBody<Decide>,
) -> Result<Json<Exception>, ApiError> {
    decide(state, auth, id, true, d.note).await.map(Json)
}

/// Reject a pending exception (commanders).
#[utoipa::path(post, path = "/exceptions/{id}/reject", tag = "exceptions",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "Exception id")),
    request_body = Decide,
    responses(
        (status = 200, description = "Rejected", body = Exception),
        (status = 404, description = "No such exception", body = ErrorBody),
        (status = 409, description = "Already decided", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn reject(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
    JsonBody(d): JsonBody<Decide>,
) -> Result<Json<Exception>, ApiError> {
    decide(state, auth, id, false, d.note).await.map(Json)
}
