//! Guard rule distribution. The server derives each service's rule set from
//! an event's current plan and measured capacity (`POST
//! /events/{slug}/guard/derive`, as `seawall plan guard --service` does), a
//! commander adjusts one (`PUT /guard/services/{service}/rules`); every
//! change is a new version per service, stored and audited — nothing lives
//! only in memory, the complaint Sentinel's dashboard users have.
//!
//! Sidecars follow with a long poll (`GET /guard/rules?service=S&since=V`):
//! it answers at once when the latest version differs from `since` (also a
//! lower one, after a restore), else when a new version is stored — on this
//! replica at once, on another one within a second (the poll re-reads the
//! store every second) — else with 304 after `wait` seconds. They report
//! what they applied (`POST /guard/applied`), so the war room sees which
//! sidecars lag. A `sidecar` token may do exactly these two things, for
//! its own service; its reports are audited and bounded (the instance
//! name's length, a version that exists, a number of instances per
//! service, and the token's write rate).
//!
//! For `scope: cluster` flow rules, sidecars lease batches of tokens
//! (`POST /guard/lease`) from the service's shared buckets in the store
//! (`service::quota`): the same `sidecar` token, for its own service only.

use std::net::SocketAddr;

use axum::Extension;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
pub use seawall_api::rules::{
    Adjust, Applied, DeriveRequest, DeriveResult, Derived, Lease, LeaseAsk, LeaseGrant,
    LeaseRequest, PollQuery, Rules, RulesHistory, RulesInfo, ServiceList, ServiceRules, Sidecar,
    SidecarList,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, FOLLOWERS, PLANNERS, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::openapi::{AuthErrors, BodyErrors};
pub use crate::service::rules::MAX_WAIT_SECONDS;
pub(crate) use crate::service::rules::check_service;
use crate::service::rules::{adjust_rules, derive, info, record_applied, served, wait_for_rules};
use crate::state::AppState;
use seawall_api::tokens::Role;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(derive_rules))
        .routes(routes!(adjust))
        .routes(routes!(poll))
        .routes(routes!(applied))
        .routes(routes!(lease))
        .routes(routes!(services))
        .routes(routes!(versions))
        .routes(routes!(version))
        .routes(routes!(sidecars))
}

/// Derive every service's rules from the event's current plan and runs.
#[utoipa::path(post, path = "/events/{slug}/guard/derive", tag = "guard",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    request_body = DeriveRequest,
    responses(
        (status = 200, description = "Per service: its latest version and whether it changed",
            body = DeriveResult),
        (status = 404, description = "No such event, or it has no plan", body = ErrorBody),
        AuthErrors, BodyErrors,
        (status = 422, description = "A safety factor outside (0, 1], or rules the guard \
            refuses (invalid_rules)", body = ErrorBody)))]
async fn derive_rules(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    JsonBody(req): JsonBody<DeriveRequest>,
) -> Result<Json<DeriveResult>, ApiError> {
    auth.require(PLANNERS)?;
    let result = derive(&state, &auth, &slug, req.safety).await?;
    Ok(Json(result))
}

/// Store a commander's rule set for a service as its next version.
#[utoipa::path(put, path = "/guard/services/{service}/rules", tag = "guard",
    security(("bearer" = [])),
    params(("service" = String, Path, description = "Service")),
    request_body = Adjust,
    responses(
        (status = 201, description = "Stored as the next version", body = Rules),
        AuthErrors, BodyErrors,
        (status = 422, description = "Rules the guard refuses (invalid_rules), or no note",
            body = ErrorBody)))]
async fn adjust(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(service): ApiPath<String>,
    JsonBody(req): JsonBody<Adjust>,
) -> Result<(StatusCode, Json<Rules>), ApiError> {
    auth.require(PLANNERS)?;
    let stored = adjust_rules(&state, &auth, service, &req).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Long poll for a service's rules (sidecars: `seawall sidecar --control`).
#[utoipa::path(get, path = "/guard/rules", tag = "guard", security(("bearer" = [])),
    params(PollQuery),
    responses(
        (status = 200, description = "The latest version (it differs from `since`)", body = Rules),
        (status = 304, description = "Nothing newer within `wait`"),
        (status = 422, description = "`service` is not a service name (invalid_service)",
            body = ErrorBody),
        AuthErrors))]
async fn poll(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PollQuery>,
) -> Result<Response, ApiError> {
    auth.require_service(FOLLOWERS, &q.service)?;
    Ok(match wait_for_rules(&state, &q).await? {
        Some(rules) => Json(rules).into_response(),
        None => StatusCode::NOT_MODIFIED.into_response(),
    })
}

/// A sidecar reports the version in force there.
#[utoipa::path(post, path = "/guard/applied", tag = "guard", security(("bearer" = [])),
    request_body = Applied,
    responses(
        (status = 204, description = "Recorded (and audited)"),
        (status = 409, description = "A new instance past the per-service bound", body = ErrorBody),
        (status = 422, description = "A bad instance name or a version that does not exist",
            body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn applied(
    State(state): State<AppState>,
    auth: Auth,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    JsonBody(a): JsonBody<Applied>,
) -> Result<StatusCode, ApiError> {
    auth.require_service(FOLLOWERS, &a.service)?;
    let peer = peer.map(|Extension(ConnectInfo(addr))| addr.ip());
    record_applied(&state, &auth, peer, a).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A sidecar leases tokens for its service's `scope: cluster` flow rules.
#[utoipa::path(post, path = "/guard/lease", tag = "guard", security(("bearer" = [])),
    request_body = LeaseRequest,
    responses(
        (status = 200, description = "Tokens granted per rule, their lifetime and the live \
            instances of the service", body = Lease),
        (status = 422, description = "A bad instance name or ask", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn lease(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(req): JsonBody<LeaseRequest>,
) -> Result<Json<Lease>, ApiError> {
    auth.require_service(&[Role::Admin, Role::Sidecar], &req.service)?;
    Ok(Json(crate::service::quota::lease(&state, req).await?))
}

/// Services with rules and their latest versions.
#[utoipa::path(get, path = "/guard/services", tag = "guard", security(("bearer" = [])),
    responses((status = 200, description = "By name", body = ServiceList), AuthErrors))]
async fn services(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<ServiceList>, ApiError> {
    auth.require(READERS)?;
    let services = state
        .store
        .rule_services()
        .await?
        .into_iter()
        .map(|(service, latest_version)| ServiceRules {
            service,
            latest_version,
        })
        .collect();
    Ok(Json(ServiceList { services }))
}

/// A service's rule versions, oldest first, without documents.
#[utoipa::path(get, path = "/guard/services/{service}/versions", tag = "guard",
    security(("bearer" = [])),
    params(("service" = String, Path, description = "Service")),
    responses(
        (status = 200, description = "Oldest first", body = RulesHistory),
        (status = 404, description = "The service has no rules", body = ErrorBody),
        AuthErrors))]
async fn versions(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(service): ApiPath<String>,
) -> Result<Json<RulesHistory>, ApiError> {
    auth.require(READERS)?;
    let history = state.store.rule_history(&service).await?;
    if history.is_empty() {
        return Err(ApiError::not_found(format!("rules of `{service}`")));
    }
    Ok(Json(RulesHistory {
        service,
        versions: history.iter().map(info).collect(),
    }))
}

/// One version of a service's rules.
#[utoipa::path(get, path = "/guard/services/{service}/versions/{version}", tag = "guard",
    security(("bearer" = [])),
    params(("service" = String, Path, description = "Service"),
        ("version" = i64, Path, description = "Version")),
    responses(
        (status = 200, description = "The version", body = Rules),
        (status = 404, description = "No such version", body = ErrorBody),
        AuthErrors))]
async fn version(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((service, version)): ApiPath<(String, i64)>,
) -> Result<Json<Rules>, ApiError> {
    auth.require(READERS)?;
    let v = state
        .store
        .rules(&service, Some(version))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("version {version} of `{service}`'s rules")))?;
    Ok(Json(served(v)?))
}

/// A service's sidecars and what they applied.
#[utoipa::path(get, path = "/guard/services/{service}/sidecars", tag = "guard",
    security(("bearer" = [])),
    params(("service" = String, Path, description = "Service")),
    responses((status = 200, description = "By instance", body = SidecarList), AuthErrors))]
async fn sidecars(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(service): ApiPath<String>,
) -> Result<Json<SidecarList>, ApiError> {
    auth.require(READERS)?;
    let latest_version = state
        .store
        .rules(&service, None)
        .await?
        .map_or(0, |v| v.version);
    let sidecars = state
        .store
        .sidecar_reports(&service)
        .await?
        .into_iter()
        .map(|r| Sidecar {
            lagging: r.applied_version < latest_version,
            instance: r.instance,
            applied_version: r.applied_version,
            reported_ms: r.reported_ms,
        })
        .collect();
    Ok(Json(SidecarList {
        service,
        latest_version,
        sidecars,
    }))
}
