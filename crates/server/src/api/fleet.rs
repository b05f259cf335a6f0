//! Rehearsal agents and runs across them (`/fleet/…`): agents register
//! and long-poll for work, stream their seconds, send search steps and
//! their end; `seawall rehearse --agents N` starts a run, waits for it and
//! may abort it. Admin, commander and ci tokens (what a Job of agents
//! carries); viewers and sidecars are refused. The logic is
//! [`crate::service::fleet`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
pub use seawall_api::fleet::{
    AbortRun, Agent, AgentEnd, AgentList, AgentSecond, Assignment, Control, FleetRun,
    RegisterAgent, RunAgent, Seconds, StartFleetRun, StepReport, StepVerdict, WaitQuery,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, PLANNERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::openapi::{AuthErrors, BodyErrors};
use crate::service::fleet::{self as service, AGENT_ROLES};
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register, list))
        .routes(routes!(work))
        .routes(routes!(start))
        .routes(routes!(get_run))
        .routes(routes!(abort))
        .routes(routes!(seconds))
        .routes(routes!(control))
        .routes(routes!(step))
        .routes(routes!(end))
}

/// An agent registers (`seawall agent`); one of the same name is replaced.
#[utoipa::path(post, path = "/fleet/agents", tag = "fleet", security(("bearer" = [])),
    request_body = RegisterAgent,
    responses(
        (status = 201, description = "Registered", body = Agent),
        (status = 409, description = "Too many agents", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn register(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(req): JsonBody<RegisterAgent>,
) -> Result<(StatusCode, Json<Agent>), ApiError> {
    auth.require(AGENT_ROLES)?;
    let agent = service::register(&state, auth.token.id, &req)?;
    Ok((StatusCode::CREATED, Json(agent)))
}

/// Every agent known to this control plane.
#[utoipa::path(get, path = "/fleet/agents", tag = "fleet", security(("bearer" = [])),
    responses((status = 200, description = "The agents", body = AgentList), AuthErrors))]
async fn list(State(state): State<AppState>, auth: Auth) -> Result<Json<AgentList>, ApiError> {
    auth.require(AGENT_ROLES)?;
    Ok(Json(service::list(&state)))
}

/// An agent's long poll for work (also its heartbeat).
#[utoipa::path(get, path = "/fleet/agents/{id}/work", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Agent id"), WaitQuery),
    responses(
        (status = 200, description = "The agent's share of a run", body = Assignment),
        (status = 204, description = "No work within `wait`"),
        (status = 404, description = "No such agent (register again)", body = ErrorBody),
        AuthErrors))]
async fn work(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Result<Response, ApiError> {
    auth.require(AGENT_ROLES)?;
    Ok(
        match service::work(&state, auth.token.id, &id, q.wait).await? {
            Some(a) => Json(a).into_response(),
            None => StatusCode::NO_CONTENT.into_response(),
        },
    )
}

/// Run a scenario across live idle agents (`seawall rehearse --agents N`).
#[utoipa::path(post, path = "/fleet/runs", tag = "fleet", security(("bearer" = [])),
    request_body = StartFleetRun,
    responses(
        (status = 201, description = "Started: every agent has its share and the start", body = FleetRun),
        (status = 409, description = "Fewer live idle agents than asked for", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn start(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(req): JsonBody<StartFleetRun>,
) -> Result<(StatusCode, Json<FleetRun>), ApiError> {
    // The scenario names the target, the rate and whether the load is
    // tagged: a planner aims the agents; a `ci` token only runs one.
    auth.require(PLANNERS)?;
    Ok((StatusCode::CREATED, Json(service::start(&state, &req)?)))
}

/// A run across agents; with `wait`, answered once it is over (or after the wait).
#[utoipa::path(get, path = "/fleet/runs/{id}", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id"), WaitQuery),
    responses(
        (status = 200, description = "The run, with its merged result once over", body = FleetRun),
        (status = 404, description = "No such run", body = ErrorBody),
        AuthErrors))]
async fn get_run(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Result<Json<FleetRun>, ApiError> {
    auth.require(AGENT_ROLES)?;
    Ok(Json(service::get(&state, &id, q.wait).await?))
}

/// An operator stops every agent of the run (within a second).
#[utoipa::path(post, path = "/fleet/runs/{id}/abort", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id")),
    request_body = AbortRun,
    responses(
        (status = 200, description = "Stopping", body = FleetRun),
        (status = 404, description = "No such run", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn abort(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    JsonBody(req): JsonBody<AbortRun>,
) -> Result<Json<FleetRun>, ApiError> {
    auth.require(AGENT_ROLES)?;
    Ok(Json(service::abort(
        &state,
        &auth.token.name,
        &id,
        &req.reason,
    )?))
}

/// An agent's closed seconds (one HDR snapshot per entry per second).
#[utoipa::path(post, path = "/fleet/runs/{id}/seconds", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id")),
    request_body = Seconds,
    responses(
        (status = 200, description = "Merged; whether to stop", body = Control),
        (status = 404, description = "No such run or agent", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn seconds(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    JsonBody(req): JsonBody<Seconds>,
) -> Result<Json<Control>, ApiError> {
    auth.require(AGENT_ROLES)?;
    Ok(Json(service::seconds(&state, auth.token.id, &id, &req)?))
}

/// An agent's control long poll: answered at once when the run is stopped.
#[utoipa::path(get, path = "/fleet/runs/{id}/control", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id"), WaitQuery),
    responses(
        (status = 200, description = "Whether to stop", body = Control),
        (status = 404, description = "No such run", body = ErrorBody),
        AuthErrors))]
async fn control(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Result<Json<Control>, ApiError> {
    auth.require(AGENT_ROLES)?;
    Ok(Json(service::control(&state, &id, q.wait).await?))
}

/// An agent's search step; answered with the verdict over every agent.
#[utoipa::path(post, path = "/fleet/runs/{id}/steps", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id")),
    request_body = StepReport,
    responses(
        (status = 200, description = "The step judged on the merged view", body = StepVerdict),
        (status = 404, description = "No such run or agent", body = ErrorBody),
        (status = 503, description = "Not every agent sent the step in time", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn step(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    JsonBody(req): JsonBody<StepReport>,
) -> Result<Json<StepVerdict>, ApiError> {
    auth.require(AGENT_ROLES)?;
    Ok(Json(service::step(&state, auth.token.id, &id, &req).await?))
}

/// An agent's own result at its end.
#[utoipa::path(post, path = "/fleet/runs/{id}/end", tag = "fleet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Run id")),
    request_body = AgentEnd,
    responses(
        (status = 204, description = "Recorded"),
        (status = 404, description = "No such run or agent", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn end(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    JsonBody(req): JsonBody<AgentEnd>,
) -> Result<StatusCode, ApiError> {
    auth.require(AGENT_ROLES)?;
    service::end(&state, auth.token.id, &id, &req)?;
    Ok(StatusCode::NO_CONTENT)
}
