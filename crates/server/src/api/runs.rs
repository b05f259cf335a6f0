//! Rehearsal results: `POST /events/{slug}/runs` takes a `run.json`
//! (`seawall.run/v1`, as `seawall rehearse --out` writes it; admin,
//! commander), checked the way `seawall plan capacity --results` reads it
//! and stored exactly as sent; `GET` lists and reads them (every role but
//! ci). The plan analyses use the stored runs as measured capacity
//! ([`crate::service::runs::measured`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
pub use seawall_api::runs::{Run, RunInfo, RunList};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::events;
use crate::auth::{Auth, PLANNERS, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, RawJson};
use crate::openapi::{AuthErrors, BodyErrors};
use crate::state::AppState;

/// A run's document as the service layer reads it; `check` is also
/// `seawall push`'s local check before an upload.
pub use crate::service::runs::{RUN_SCHEMA, RunDoc, RunEntry, RunService, check};

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_run, list_runs))
        .routes(routes!(get_run))
}

/// Upload a rehearsal result (`run.json`, the body as is).
#[utoipa::path(post, path = "/events/{slug}/runs", tag = "runs", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    request_body(content = Object, content_type = "application/json",
        description = "A seawall.run/v1 document (seawall rehearse --out run.json)"),
    responses(
        (status = 201, description = "Stored", body = RunInfo),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors, BodyErrors,
        (status = 422, description = "Not a seawall.run/v1 document, or a knee or capacity out \
            of range (code invalid_run)", body = ErrorBody)))]
async fn upload_run(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    RawJson(text): RawJson,
) -> Result<(StatusCode, Json<RunInfo>), ApiError> {
    auth.require(PLANNERS)?;
    let event = events::find(&state, &slug).await?;
    let info = crate::service::runs::keep(&state, &auth.ctx(&state), &event, text).await?;
    Ok((StatusCode::CREATED, Json(info.into())))
}

/// An event's runs, oldest first.
#[utoipa::path(get, path = "/events/{slug}/runs", tag = "runs", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    responses(
        (status = 200, description = "The event's runs", body = RunList),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors))]
async fn list_runs(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<RunList>, ApiError> {
    auth.require(READERS)?;
    let event = events::find(&state, &slug).await?;
    let runs = state.store.runs(event.id).await?;
    Ok(Json(RunList {
        runs: runs.into_iter().map(RunInfo::from).collect(),
    }))
}

/// One run with its document.
#[utoipa::path(get, path = "/events/{slug}/runs/{id}", tag = "runs", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"), ("id" = i64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = Run),
        (status = 404, description = "No such event or run", body = ErrorBody),
        AuthErrors))]
async fn get_run(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<Json<Run>, ApiError> {
    auth.require(READERS)?;
    let event = events::find(&state, &slug).await?;
    match state.store.run(id).await? {
        Some(run) if run.info.event_id == event.id => Ok(Json(Run {
            info: run.info.into(),
            json: run.json,
        })),
        _ => Err(ApiError::not_found(format!("run {id} of event `{slug}`"))),
    }
}
