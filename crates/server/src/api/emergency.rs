//! Emergency plans that execute: start a run (or a dry run) of an event's
//! emergency plan, list and read runs, and a commander's approve, rollback
//! and resume. The handlers only decode, check the role and answer; the
//! run's rules and the executors are in [`crate::service::emergency`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
pub use seawall_api::emergency::{EmergencyRun, EmergencyRunList, RunApproval, RunStep, StartRun};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, PLANNERS, READERS, RESPONDERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, JsonBody};
use crate::openapi::{AuthErrors, BodyErrors};
use crate::service::emergency::{self, Decision};
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_run, plan_runs))
        .routes(routes!(event_runs))
        .routes(routes!(get_run))
        .routes(routes!(approve))
        .routes(routes!(rollback))
        .routes(routes!(resume))
        .routes(routes!(cancel))
}

/// Start a run of an emergency plan of the event's latest plan (admin,
/// commander, oncall). A dry run shows each action's effect and changes
/// nothing; a plan that needs approval waits for commanders.
#[utoipa::path(post, path = "/events/{slug}/emergency-plans/{id}/runs", tag = "emergency",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("id" = String, Path, description = "Emergency plan id")),
    request_body = StartRun,
    responses(
        (status = 202, description = "Started (or waiting for approval)", body = EmergencyRun),
        (status = 404, description = "No such event, plan or emergency plan", body = ErrorBody),
        (status = 409, description = "A run of this emergency plan is not finished", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn start_run(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, id)): ApiPath<(String, String)>,
    JsonBody(req): JsonBody<StartRun>,
) -> Result<(StatusCode, Json<EmergencyRun>), ApiError> {
    auth.require(RESPONDERS)?;
    let run = emergency::start(&state, auth.actor(), &slug, &id, req.dry_run).await?;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// An emergency plan's runs, oldest first.
#[utoipa::path(get, path = "/events/{slug}/emergency-plans/{id}/runs", tag = "emergency",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("id" = String, Path, description = "Emergency plan id")),
    responses(
        (status = 200, description = "Oldest first", body = EmergencyRunList),
        (status = 404, description = "No such event, plan or emergency plan", body = ErrorBody),
        AuthErrors))]
async fn plan_runs(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, id)): ApiPath<(String, String)>,
) -> Result<Json<EmergencyRunList>, ApiError> {
    auth.require(READERS)?;
    Ok(Json(emergency::list(&state, &slug, Some(&id)).await?))
}

/// Every emergency-plan run of the event, oldest first.
#[utoipa::path(get, path = "/events/{slug}/emergency-runs", tag = "emergency",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    responses(
        (status = 200, description = "Oldest first", body = EmergencyRunList),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors))]
async fn event_runs(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<EmergencyRunList>, ApiError> {
    auth.require(READERS)?;
    Ok(Json(emergency::list(&state, &slug, None).await?))
}

/// One run: each action's start, end, result, error, before and after.
#[utoipa::path(get, path = "/events/{slug}/emergency-runs/{n}", tag = "emergency",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Run number")),
    responses(
        (status = 200, description = "The run", body = EmergencyRun),
        (status = 404, description = "No such event or run", body = ErrorBody),
        AuthErrors))]
async fn get_run(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
) -> Result<Json<EmergencyRun>, ApiError> {
    auth.require(READERS)?;
    Ok(Json(emergency::get(&state, &slug, n).await?))
}

/// Approve a run (a commander of the plan — the guarantee group or its
/// owner — other than the requester; two different ones for `two`).
#[utoipa::path(post, path = "/events/{slug}/emergency-runs/{n}/approve", tag = "emergency",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Run number")),
    responses(
        (status = 200, description = "Approved", body = EmergencyRun),
        (status = 403, description = "Not a commander of the plan, or the requester", body = ErrorBody),
        (status = 404, description = "No such event or run", body = ErrorBody),
        (status = 409, description = "Not awaiting approval, approved by this commander already, \
            or changed meanwhile", body = ErrorBody),
        AuthErrors))]
async fn approve(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
) -> Result<Json<EmergencyRun>, ApiError> {
    auth.require(PLANNERS)?;
    Ok(Json(
        emergency::decide(&state, &auth, &slug, n, Decision::Approve).await?,
    ))
}

/// Roll a run back: undo what succeeded (or is unknown), last first.
#[utoipa::path(post, path = "/events/{slug}/emergency-runs/{n}/rollback", tag = "emergency",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Run number")),
    responses(
        (status = 200, description = "Rolling back", body = EmergencyRun),
        (status = 404, description = "No such event or run", body = ErrorBody),
        (status = 409, description = "A dry run, running, or already rolled back", body = ErrorBody),
        AuthErrors))]
async fn rollback(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
) -> Result<Json<EmergencyRun>, ApiError> {
    auth.require(RESPONDERS)?;
    Ok(Json(
        emergency::decide(&state, &auth, &slug, n, Decision::Rollback).await?,
    ))
}

/// Go on with a run a restart interrupted, once its unknown actions are checked.
#[utoipa::path(post, path = "/events/{slug}/emergency-runs/{n}/resume", tag = "emergency",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Run number")),
    responses(
        (status = 200, description = "Resumed", body = EmergencyRun),
        (status = 404, description = "No such event or run", body = ErrorBody),
        (status = 409, description = "Not waiting for a commander", body = ErrorBody),
        AuthErrors))]
async fn resume(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
) -> Result<Json<EmergencyRun>, ApiError> {
    auth.require(RESPONDERS)?;
    Ok(Json(
        emergency::decide(&state, &auth, &slug, n, Decision::Resume).await?,
    ))
}

/// Cancel a run that has not started an action (one waiting for approval):
/// the plan may run again.
#[utoipa::path(post, path = "/events/{slug}/emergency-runs/{n}/cancel", tag = "emergency",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Run number")),
    responses(
        (status = 200, description = "Cancelled", body = EmergencyRun),
        (status = 404, description = "No such event or run", body = ErrorBody),
        (status = 409, description = "An action has started, or the run is over", body = ErrorBody),
        AuthErrors))]
async fn cancel(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
) -> Result<Json<EmergencyRun>, ApiError> {
    auth.require(RESPONDERS)?;
    Ok(Json(
        emergency::decide(&state, &auth, &slug, n, Decision::Cancel).await?,
    ))
}
