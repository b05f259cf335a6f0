//! Plan versions of an event and their analyses.
//!
//! `POST /events/{slug}/plans` (admin, commander) validates the YAML with
//! `seawall-plan` exactly like `seawall plan check` — an invalid plan is
//! refused with 422 `invalid_plan` and the same diagnostics as
//! `plan check --format json` in `details`, and nothing is stored — and
//! appends a version that keeps its text and SHA-256. A `pm` may not push:
//! a plan is one document for every line, and the plan's own
//! `organization` is what says which line owns what.
//!
//! Reading (every role but ci): the versions, one version's text, and the
//! analyses of the current (or `?version=`) plan — `targets`, `links`,
//! `capacity`, `readiness` — as the CLI's `--format json` prints them,
//! with the event's stored runs as measured capacity (`plan capacity
//! --results`), for capacity and for the links and readiness built on it.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use seawall_api::analyses::{CapacityTable, LinksReport, Readiness, Targets};
pub use seawall_api::plans::{
    PlanVersion, PlanVersionInfo, PlanVersionList, PushPlan, VersionQuery,
};
use seawall_plan::{capacity, links, readiness, targets};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::events;
use crate::auth::{Auth, PLANNERS, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::openapi::{AuthErrors, BodyErrors};
use crate::service::plans::{Analysed, analysed, stored};
pub use crate::service::plans::{InvalidPlan, validate, validate_off_thread};
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(push_plan, list_plans))
        .routes(routes!(get_plan_version))
        .routes(routes!(current_plan))
        .routes(routes!(plan_targets))
        .routes(routes!(plan_links))
        .routes(routes!(plan_capacity))
        .routes(routes!(plan_readiness))
}

/// Response header: the plan version an analysis was computed from.
pub const PLAN_VERSION_HEADER: &str = "x-seawall-plan-version";
/// Response header: the runs used as measured capacity (`runs 3, 5`), or
/// `none`.
pub const MEASURED_HEADER: &str = "x-seawall-measured";

fn with_headers(a: &Analysed, body: impl Serialize) -> Response {
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&a.version.to_string()) {
        headers.insert(HeaderName::from_static(PLAN_VERSION_HEADER), v);
    }
    let measured = a.measured.source.as_deref().unwrap_or("none");
    if let Ok(v) = HeaderValue::from_str(measured) {
        headers.insert(HeaderName::from_static(MEASURED_HEADER), v);
    }
    response
}

/// Push a plan version.
#[utoipa::path(post, path = "/events/{slug}/plans", tag = "plans", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    request_body = PushPlan,
    responses(
        (status = 201, description = "Stored as the next version", body = PlanVersionInfo),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors, BodyErrors,
        (status = 422, description = "Invalid plan (code invalid_plan; details holds `plan check \
            --format json`'s document: valid false, diagnostics with code, file, line, column, \
            message, help), or unknown fields / wrong types", body = ErrorBody)))]
async fn push_plan(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    JsonBody(push): JsonBody<PushPlan>,
) -> Result<(StatusCode, Json<PlanVersionInfo>), ApiError> {
    auth.require(PLANNERS)?;
    if let Some(f) = &push.file_name {
        crate::extract::cap("file_name", f, crate::state::MAX_NAME_CHARS)?;
    }
    let event = events::find(&state, &slug).await?;
    let file_name = push
        .file_name
        .filter(|f| !f.trim().is_empty())
        .unwrap_or_else(|| "plan.yaml".to_owned());
    validate_off_thread(&push.text, &file_name).await?;
    let version = state
        .store
        .push_plan(
            &auth.ctx(&state),
            event.id,
            &seawall_store::NewPlanVersion {
                file_name,
                text: push.text,
            },
        )
        .await?;
    state.notify_change();
    Ok((StatusCode::CREATED, Json(version.info.into())))
}

/// An event's plan versions (without text).
#[utoipa::path(get, path = "/events/{slug}/plans", tag = "plans", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    responses(
        (status = 200, description = "Versions, oldest first", body = PlanVersionList),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors))]
async fn list_plans(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<PlanVersionList>, ApiError> {
    auth.require(READERS)?;
    let event = events::find(&state, &slug).await?;
    let versions = state.store.plan_versions(event.id).await?;
    Ok(Json(PlanVersionList {
        versions: versions.into_iter().map(PlanVersionInfo::from).collect(),
    }))
}

/// One plan version with its text.
#[utoipa::path(get, path = "/events/{slug}/plans/{version}", tag = "plans",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"),
           ("version" = i64, Path, description = "Plan version")),
    responses(
        (status = 200, description = "The version", body = PlanVersion),
        (status = 404, description = "No such event or version", body = ErrorBody),
        AuthErrors))]
async fn get_plan_version(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, version)): ApiPath<(String, i64)>,
) -> Result<Json<PlanVersion>, ApiError> {
    auth.require(READERS)?;
    let (_, plan) = stored(&state, &slug, Some(version)).await?;
    Ok(Json(PlanVersion {
        info: plan.info.into(),
        text: plan.text,
    }))
}

/// The current (latest) plan version with its text.
#[utoipa::path(get, path = "/events/{slug}/plan", tag = "plans", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    responses(
        (status = 200, description = "The latest version", body = PlanVersion),
        (status = 404, description = "No such event, or no plan yet", body = ErrorBody),
        AuthErrors))]
async fn current_plan(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<PlanVersion>, ApiError> {
    auth.require(READERS)?;
    let (_, plan) = stored(&state, &slug, None).await?;
    Ok(Json(PlanVersion {
        info: plan.info.into(),
        text: plan.text,
    }))
}

/// The answer of one analysis: the reader check, the analysed plan (404s
/// as [`analysed`] gives them), `compute`'s document with the version and
/// measured-capacity headers. The four analyses differ only in `compute`
/// and in the schema they declare.
async fn analysis<T: Serialize>(
    state: &AppState,
    auth: &Auth,
    slug: &str,
    version: Option<i64>,
    compute: impl FnOnce(&Analysed) -> T,
) -> Result<Response, ApiError> {
    auth.require(READERS)?;
    let a = analysed(state, slug, version).await?;
    Ok(with_headers(&a, compute(&a)))
}

/// Targets: `seawall plan targets --format json`.
#[utoipa::path(get, path = "/events/{slug}/plan/targets", tag = "plans",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"), VersionQuery),
    responses(
        (status = 200, description = "As `seawall plan targets --format json` prints it (docs/cli.md)",
            body = Targets, headers(("x-seawall-plan-version" = i64, description = "Plan version analysed"))),
        (status = 404, description = "No such event, version, or no plan yet", body = ErrorBody),
        AuthErrors))]
async fn plan_targets(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Response, ApiError> {
    analysis(&state, &auth, &slug, q.version, |a| {
        targets::decompose(&a.plan)
    })
    .await
}

/// `{"findings": [...]}` as `plan links --format json` prints it.
#[derive(Serialize)]
struct Findings {
    findings: Vec<links::Finding>,
}

/// Link risks: `seawall plan links --format json`.
#[utoipa::path(get, path = "/events/{slug}/plan/links", tag = "plans", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"), VersionQuery),
    responses(
        (status = 200, description = "`{\"findings\": [...]}` as `seawall plan links --format json` \
            prints it, with the stored runs as measured capacity",
            body = LinksReport, headers(
                ("x-seawall-plan-version" = i64, description = "Plan version analysed"),
                ("x-seawall-measured" = String, description = "Runs used as measured capacity, or none"))),
        (status = 404, description = "No such event, version, or no plan yet", body = ErrorBody),
        AuthErrors))]
async fn plan_links(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Response, ApiError> {
    analysis(&state, &auth, &slug, q.version, |a| {
        let t = targets::decompose(&a.plan);
        let table = capacity::table(&a.plan, &t, &a.measured);
        Findings {
            findings: links::analyze(&a.plan, &t, &table),
        }
    })
    .await
}

/// Capacity water levels: `seawall plan capacity --format json`.
#[utoipa::path(get, path = "/events/{slug}/plan/capacity", tag = "plans",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"), VersionQuery),
    responses(
        (status = 200, description = "As `seawall plan capacity --results … --format json` prints \
            it, with the event's stored runs as the results (a later run's figure wins)",
            body = CapacityTable, headers(
                ("x-seawall-plan-version" = i64, description = "Plan version analysed"),
                ("x-seawall-measured" = String, description = "Runs used as measured capacity, or none"))),
        (status = 404, description = "No such event, version, or no plan yet", body = ErrorBody),
        AuthErrors))]
async fn plan_capacity(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Response, ApiError> {
    analysis(&state, &auth, &slug, q.version, |a| {
        let t = targets::decompose(&a.plan);
        capacity::table(&a.plan, &t, &a.measured)
    })
    .await
}

/// Readiness scorecard: `seawall plan readiness --format json`.
#[utoipa::path(get, path = "/events/{slug}/plan/readiness", tag = "plans",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"), VersionQuery),
    responses(
        (status = 200, description = "As `seawall plan readiness --format json` prints it, with \
            the stored runs as measured capacity",
            body = Readiness, headers(
                ("x-seawall-plan-version" = i64, description = "Plan version analysed"),
                ("x-seawall-measured" = String, description = "Runs used as measured capacity, or none"))),
        (status = 404, description = "No such event, version, or no plan yet", body = ErrorBody),
        AuthErrors))]
async fn plan_readiness(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Response, ApiError> {
    analysis(&state, &auth, &slug, q.version, |a| {
        let t = targets::decompose(&a.plan);
        let table = capacity::table(&a.plan, &t, &a.measured);
        let findings = links::analyze(&a.plan, &t, &table);
        readiness::scorecard(&a.plan, &t, &table, &findings)
    })
    .await
}
