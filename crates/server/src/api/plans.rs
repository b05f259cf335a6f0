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
pub use seawall_api::plans::{
    PlanVersion, PlanVersionInfo, PlanVersionList, PushPlan, VersionQuery,
};
use seawall_plan::{Diagnostic, Plan, capacity, links, readiness, targets};
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{events, runs};
use crate::auth::{Auth, PLANNERS, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::openapi::{AuthErrors, BodyErrors};
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

/// `details` of a 422 `invalid_plan`: `seawall plan check --format json`'s
/// document for an invalid plan.
#[derive(Debug, Clone, Serialize)]
pub struct InvalidPlan<'a> {
    /// Always false.
    pub valid: bool,
    /// Every problem, in file order.
    pub diagnostics: &'a [Diagnostic],
}

/// Parse and validate a plan: the plan, or 422 `invalid_plan` with its
/// diagnostics.
pub fn validate(text: &str, file_name: &str) -> Result<Plan, ApiError> {
    seawall_plan::parse(text, file_name).map_err(|diagnostics| {
        let n = diagnostics.0.len();
        let details = serde_json::to_value(InvalidPlan {
            valid: false,
            diagnostics: &diagnostics.0,
        })
        .ok();
        let first = diagnostics
            .0
            .first()
            .map(|d| format!("; first: {d}"))
            .unwrap_or_default();
        ApiError::Unprocessable {
            code: "invalid_plan",
            message: format!(
                "`{file_name}` is not a valid plan: {n} problem{}{first}",
                if n == 1 { "" } else { "s" }
            ),
            details,
        }
    })
}

/// [`validate`] on tokio's blocking pool. A plan of 10,000 services takes
/// about half a second to parse; on an async worker that would stall every
/// other request the worker serves (sidecars' long polls, gate checks).
pub async fn validate_off_thread(text: &str, file_name: &str) -> Result<Plan, ApiError> {
    let (text, file_name) = (text.to_owned(), file_name.to_owned());
    tokio::task::spawn_blocking(move || validate(&text, &file_name))
        .await
        .map_err(|e| ApiError::Internal(format!("validating the plan stopped: {e}")))?
}

/// The stored plan version (`None`: latest) of an event, or 404.
async fn stored(
    state: &AppState,
    slug: &str,
    version: Option<i64>,
) -> Result<(seawall_store::Event, seawall_store::PlanVersion), ApiError> {
    let event = events::find(state, slug).await?;
    match state.store.plan_version(event.id, version).await? {
        Some(plan) => Ok((event, plan)),
        None => Err(match version {
            Some(v) => ApiError::not_found(format!("plan version {v} of event `{slug}`")),
            None => ApiError::NotFound(format!(
                "event `{slug}` has no plan yet; push one (seawall push PLAN.yaml --event {slug})"
            )),
        }),
    }
}

/// Everything an analysis needs.
pub(crate) struct Analysed {
    /// Plan version analysed.
    pub(crate) version: i64,
    /// The parsed plan.
    pub(crate) plan: std::sync::Arc<Plan>,
    /// Measured capacity from the event's runs.
    pub(crate) measured: capacity::Measured,
}

/// A stored plan version parsed once ([`AppState::cached_plan`], keyed by
/// file name and SHA-256). Stored plans were valid when pushed; one that
/// no longer parses means the database was edited or this server is older
/// than the plan.
pub(crate) fn parsed(
    state: &AppState,
    slug: &str,
    stored: &seawall_store::PlanVersion,
) -> Result<std::sync::Arc<Plan>, ApiError> {
    let key = format!("{}\n{}", stored.info.file_name, stored.info.sha256);
    state.cached_plan(&key, || {
        seawall_plan::parse(&stored.text, &stored.info.file_name).map_err(|d| {
            ApiError::Internal(format!(
                "stored plan version {} of `{slug}` no longer parses ({} problems)",
                stored.info.version,
                d.0.len()
            ))
        })
    })
}

/// An event's plan version (`None`: latest) with the event's runs as
/// measured capacity, or 404.
pub(crate) async fn analysed(
    state: &AppState,
    slug: &str,
    version: Option<i64>,
) -> Result<Analysed, ApiError> {
    let (event, stored) = stored(state, slug, version).await?;
    let plan = parsed(state, slug, &stored)?;
    let docs = runs::stored_docs(state, event.id).await?;
    let measured = runs::measured(&docs, &plan);
    Ok(Analysed {
        version: stored.info.version,
        plan,
        measured,
    })
}

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

/// Targets: `seawall plan targets --format json`.
#[utoipa::path(get, path = "/events/{slug}/plan/targets", tag = "plans",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"), VersionQuery),
    responses(
        (status = 200, description = "As `seawall plan targets --format json` prints it (docs/cli.md)",
            body = Object, headers(("x-seawall-plan-version" = i64, description = "Plan version analysed"))),
        (status = 404, description = "No such event, version, or no plan yet", body = ErrorBody),
        AuthErrors))]
async fn plan_targets(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> Result<Response, ApiError> {
    auth.require(READERS)?;
    let a = analysed(&state, &slug, q.version).await?;
    let t = targets::decompose(&a.plan);
    Ok(with_headers(&a, &t))
}

/// `{"findings": [...]}` as `plan links --format json` prints it.
#[derive(Serialize)]
struct LinksReport<'a> {
    findings: &'a [links::Finding],
}

/// Link risks: `seawall plan links --format json`.
#[utoipa::path(get, path = "/events/{slug}/plan/links", tag = "plans", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"), VersionQuery),
    responses(
        (status = 200, description = "`{\"findings\": [...]}` as `seawall plan links --format json` \
            prints it, with the stored runs as measured capacity",
            body = Object, headers(
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
    auth.require(READERS)?;
    let a = analysed(&state, &slug, q.version).await?;
    let t = targets::decompose(&a.plan);
    let table = capacity::table(&a.plan, &t, &a.measured);
    let findings = links::analyze(&a.plan, &t, &table);
    Ok(with_headers(
        &a,
        LinksReport {
            findings: &findings,
        },
    ))
}

/// Capacity water levels: `seawall plan capacity --format json`.
#[utoipa::path(get, path = "/events/{slug}/plan/capacity", tag = "plans",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"), VersionQuery),
    responses(
        (status = 200, description = "As `seawall plan capacity --results … --format json` prints \
            it, with the event's stored runs as the results (a later run's figure wins)",
            body = Object, headers(
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
    auth.require(READERS)?;
    let a = analysed(&state, &slug, q.version).await?;
    let t = targets::decompose(&a.plan);
    let table = capacity::table(&a.plan, &t, &a.measured);
    Ok(with_headers(&a, &table))
}

/// Readiness scorecard: `seawall plan readiness --format json`.
#[utoipa::path(get, path = "/events/{slug}/plan/readiness", tag = "plans",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"), VersionQuery),
    responses(
        (status = 200, description = "As `seawall plan readiness --format json` prints it, with \
            the stored runs as measured capacity",
            body = Object, headers(
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
    auth.require(READERS)?;
    let a = analysed(&state, &slug, q.version).await?;
    let t = targets::decompose(&a.plan);
    let table = capacity::table(&a.plan, &t, &a.measured);
    let findings = links::analyze(&a.plan, &t, &table);
    let card = readiness::scorecard(&a.plan, &t, &table, &findings);
    Ok(with_headers(&a, &card))
}
