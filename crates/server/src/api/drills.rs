//! Drills of emergency plans: start one (its fault injected with a lease),
//! read them with their steps judged, finish one with what the rehearsal
//! saw, and the global stop. The handlers only decode, check the role and
//! answer; the judging is in [`crate::service::drills`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
pub use seawall_api::drills::{Drill, DrillList, DrillStep, FinishDrill, StartDrill};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, READERS, RESPONDERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, JsonBody};
use crate::openapi::{AuthErrors, BodyErrors};
use crate::service::drills;
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_drill, plan_drills))
        .routes(routes!(event_drills))
        .routes(routes!(get_drill))
        .routes(routes!(finish_drill))
        .routes(routes!(stop_drills))
}

/// Start a drill of an emergency plan of the event's latest plan (admin,
/// commander, oncall): its `drill.fault` is injected at once — a guard
/// fault on tagged traffic with a lease that ends it by itself, or, for a
/// simulator fault, recorded for the client to set.
#[utoipa::path(post, path = "/events/{slug}/emergency-plans/{id}/drills", tag = "emergency",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("id" = String, Path, description = "Emergency plan id")),
    request_body = StartDrill,
    responses(
        (status = 201, description = "Started: the fault is injected", body = Drill),
        (status = 404, description = "No such event, plan or emergency plan", body = ErrorBody),
        (status = 409, description = "A drill of this plan is running, or the fault's service \
            has no guard rules", body = ErrorBody),
        (status = 422, description = "The emergency plan has no `drill` section, or the \
            scenario is unknown", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn start_drill(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, id)): ApiPath<(String, String)>,
    JsonBody(req): JsonBody<StartDrill>,
) -> Result<(StatusCode, Json<Drill>), ApiError> {
    auth.require(RESPONDERS)?;
    let drill = drills::start(&state, auth.actor(), &slug, &id, &req).await?;
    Ok((StatusCode::CREATED, Json(drill)))
}

/// An emergency plan's drills, oldest first.
#[utoipa::path(get, path = "/events/{slug}/emergency-plans/{id}/drills", tag = "emergency",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("id" = String, Path, description = "Emergency plan id")),
    responses(
        (status = 200, description = "Oldest first", body = DrillList),
        (status = 404, description = "No such event, plan or emergency plan", body = ErrorBody),
        AuthErrors))]
async fn plan_drills(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, id)): ApiPath<(String, String)>,
) -> Result<Json<DrillList>, ApiError> {
    auth.require(READERS)?;
    Ok(Json(drills::list(&state, &slug, Some(&id)).await?))
}

/// Every drill of the event, oldest first.
#[utoipa::path(get, path = "/events/{slug}/drills", tag = "emergency",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    responses(
        (status = 200, description = "Oldest first", body = DrillList),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors))]
async fn event_drills(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<DrillList>, ApiError> {
    auth.require(READERS)?;
    Ok(Json(drills::list(&state, &slug, None).await?))
}

/// One drill, its steps judged now (a running drill whose lease has
/// passed ends as failed).
#[utoipa::path(get, path = "/events/{slug}/drills/{n}", tag = "emergency",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Drill number")),
    responses(
        (status = 200, description = "The drill", body = Drill),
        (status = 404, description = "No such event or drill", body = ErrorBody),
        AuthErrors))]
async fn get_drill(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
) -> Result<Json<Drill>, ApiError> {
    auth.require(READERS)?;
    Ok(Json(drills::get(&state, &slug, n).await?))
}

/// Finish a drill with what the rehearsal saw (whether the SLO held): the
/// steps are judged, the fault removed and the verdict recorded.
#[utoipa::path(post, path = "/events/{slug}/drills/{n}/finish", tag = "emergency",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Drill number")),
    request_body = FinishDrill,
    responses(
        (status = 200, description = "The verdict", body = Drill),
        (status = 404, description = "No such event or drill", body = ErrorBody),
        (status = 409, description = "The drill is finished already", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn finish_drill(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
    JsonBody(req): JsonBody<FinishDrill>,
) -> Result<Json<Drill>, ApiError> {
    auth.require(RESPONDERS)?;
    Ok(Json(
        drills::finish(&state, auth.actor(), &slug, n, &req).await?,
    ))
}

/// The global stop: end every running drill of the event and remove their
/// faults.
#[utoipa::path(post, path = "/events/{slug}/drills/stop", tag = "emergency",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    responses(
        (status = 200, description = "The drills stopped", body = DrillList),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors))]
async fn stop_drills(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<DrillList>, ApiError> {
    auth.require(RESPONDERS)?;
    Ok(Json(drills::stop(&state, auth.actor(), &slug).await?))
}
