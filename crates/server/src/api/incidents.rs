//! Incidents and on-call paging: open one by hand, list and read them
//! (timeline and paging), acknowledge, give roles, take notes, post
//! status updates, change the severity, mitigate and resolve. The handlers only
//! decode, check the role and answer; the rules and the pager are in
//! [`crate::service::incidents`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
pub use seawall_api::incidents::{
    AddNote, AssignRole, ChangeSeverity, Incident, IncidentList, MitigateIncident, OpenIncident,
    PageSent, Paging, PostUpdate, ResolveIncident, RoleHolder, StatusUpdate, TimelineEntry,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, READERS, RESPONDERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, JsonBody};
use crate::openapi::{AuthErrors, BodyErrors};
use crate::service::incidents;
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open_incident, list_incidents))
        .routes(routes!(get_incident))
        .routes(routes!(ack_incident))
        .routes(routes!(resolve_incident))
        .routes(routes!(assign_incident_role))
        .routes(routes!(add_incident_note))
        .routes(routes!(post_incident_update))
        .routes(routes!(change_incident_severity))
        .routes(routes!(mitigate_incident))
}

/// Open an incident by hand (admin, commander, oncall); the on-call of
/// its business line (or of every line) is paged on the plan's first
/// on-call channel until somebody acknowledges.
#[utoipa::path(post, path = "/events/{slug}/incidents", tag = "incidents",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    request_body = OpenIncident,
    responses(
        (status = 201, description = "Opened", body = Incident),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn open_incident(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    JsonBody(req): JsonBody<OpenIncident>,
) -> Result<(StatusCode, Json<Incident>), ApiError> {
    auth.require(RESPONDERS)?;
    let opened = incidents::open(&state, auth.actor(), &slug, &req).await?;
    Ok((StatusCode::CREATED, Json(opened)))
}

/// The event's incidents, oldest first.
#[utoipa::path(get, path = "/events/{slug}/incidents", tag = "incidents",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    responses(
        (status = 200, description = "Oldest first", body = IncidentList),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors))]
async fn list_incidents(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<IncidentList>, ApiError> {
    auth.require(READERS)?;
    Ok(Json(incidents::list(&state, &slug).await?))
}

/// One incident: its timeline and paging.
#[utoipa::path(get, path = "/events/{slug}/incidents/{n}", tag = "incidents",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Incident number")),
    responses(
        (status = 200, description = "The incident", body = Incident),
        (status = 404, description = "No such event or incident", body = ErrorBody),
        AuthErrors))]
async fn get_incident(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
) -> Result<Json<Incident>, ApiError> {
    auth.require(READERS)?;
    Ok(Json(incidents::get(&state, &slug, n).await?))
}

/// Acknowledge an incident: its paging stops.
#[utoipa::path(post, path = "/events/{slug}/incidents/{n}/ack", tag = "incidents",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Incident number")),
    responses(
        (status = 200, description = "Acknowledged", body = Incident),
        (status = 404, description = "No such event or incident", body = ErrorBody),
        (status = 409, description = "Acknowledged already, or resolved", body = ErrorBody),
        AuthErrors))]
async fn ack_incident(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
) -> Result<Json<Incident>, ApiError> {
    auth.require(RESPONDERS)?;
    Ok(Json(
        incidents::acknowledge(&state, auth.actor(), &slug, n).await?,
    ))
}

/// Resolve an incident (its paging stops; an alert on its target opens a
/// new one).
#[utoipa::path(post, path = "/events/{slug}/incidents/{n}/resolve", tag = "incidents",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Incident number")),
    request_body = ResolveIncident,
    responses(
        (status = 200, description = "Resolved", body = Incident),
        (status = 404, description = "No such event or incident", body = ErrorBody),
        (status = 409, description = "Resolved already", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn resolve_incident(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
    JsonBody(req): JsonBody<ResolveIncident>,
) -> Result<Json<Incident>, ApiError> {
    auth.require(RESPONDERS)?;
    Ok(Json(
        incidents::resolve(&state, auth.actor(), &slug, n, req.text.as_deref()).await?,
    ))
}

/// Give a role (commander, scribe, liaison) to one of the plan's people;
/// giving it again moves it.
#[utoipa::path(post, path = "/events/{slug}/incidents/{n}/roles", tag = "incidents",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Incident number")),
    request_body = AssignRole,
    responses(
        (status = 200, description = "Given", body = Incident),
        (status = 404, description = "No such event or incident", body = ErrorBody),
        (status = 409, description = "Resolved, the person has the role already, or `version` is stale", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn assign_incident_role(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
    JsonBody(req): JsonBody<AssignRole>,
) -> Result<Json<Incident>, ApiError> {
    auth.require(RESPONDERS)?;
    Ok(Json(
        incidents::changes::assign_role(&state, auth.actor(), &slug, n, &req).await?,
    ))
}

/// Add a note to the timeline (taken after resolution too).
#[utoipa::path(post, path = "/events/{slug}/incidents/{n}/notes", tag = "incidents",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Incident number")),
    request_body = AddNote,
    responses(
        (status = 200, description = "Noted", body = Incident),
        (status = 404, description = "No such event or incident", body = ErrorBody),
        (status = 409, description = "`version` is stale", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn add_incident_note(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
    JsonBody(req): JsonBody<AddNote>,
) -> Result<Json<Incident>, ApiError> {
    auth.require(RESPONDERS)?;
    Ok(Json(
        incidents::changes::add_note(&state, auth.actor(), &slug, n, &req).await?,
    ))
}

/// Post a public status update (investigating, identified, mitigated,
/// monitoring).
#[utoipa::path(post, path = "/events/{slug}/incidents/{n}/updates", tag = "incidents",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Incident number")),
    request_body = PostUpdate,
    responses(
        (status = 200, description = "Posted", body = Incident),
        (status = 404, description = "No such event or incident", body = ErrorBody),
        (status = 409, description = "Resolved, or `version` is stale", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn post_incident_update(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
    JsonBody(req): JsonBody<PostUpdate>,
) -> Result<Json<Incident>, ApiError> {
    auth.require(RESPONDERS)?;
    Ok(Json(
        incidents::changes::post_update(&state, auth.actor(), &slug, n, &req).await?,
    ))
}

/// Change the severity.
#[utoipa::path(post, path = "/events/{slug}/incidents/{n}/severity", tag = "incidents",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Incident number")),
    request_body = ChangeSeverity,
    responses(
        (status = 200, description = "Changed", body = Incident),
        (status = 404, description = "No such event or incident", body = ErrorBody),
        (status = 409, description = "Resolved, the same severity, or `version` is stale", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn change_incident_severity(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
    JsonBody(req): JsonBody<ChangeSeverity>,
) -> Result<Json<Incident>, ApiError> {
    auth.require(RESPONDERS)?;
    Ok(Json(
        incidents::changes::change_severity(&state, auth.actor(), &slug, n, &req).await?,
    ))
}

/// Mark the incident mitigated (an unacknowledged one is acknowledged
/// too: its paging stops).
#[utoipa::path(post, path = "/events/{slug}/incidents/{n}/mitigate", tag = "incidents",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
        ("n" = i64, Path, description = "Incident number")),
    request_body = MitigateIncident,
    responses(
        (status = 200, description = "Mitigated", body = Incident),
        (status = 404, description = "No such event or incident", body = ErrorBody),
        (status = 409, description = "Mitigated or resolved already, or `version` is stale", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn mitigate_incident(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, n)): ApiPath<(String, i64)>,
    JsonBody(req): JsonBody<MitigateIncident>,
) -> Result<Json<Incident>, ApiError> {
    auth.require(RESPONDERS)?;
    Ok(Json(
        incidents::changes::mitigate(&state, auth.actor(), &slug, n, &req).await?,
    ))
}
