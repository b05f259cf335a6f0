//! The freeze calendar for the tools people already use, from an event's
//! current plan: `GET /events/{slug}/freeze.ics` (an iCal feed a calendar
//! subscribes to, with the event's approved exceptions),
//! `GET /events/{slug}/freeze/gitlab` (GitLab freeze periods) and
//! `GET /events/{slug}/freeze/argocd` (Argo CD `syncWindows`). Every role
//! but ci may read them.
//!
//! The text is `seawall_plan::export`'s, byte for byte what `seawall plan
//! freeze --export` writes for the same plan, so the formats and their
//! limits are documented once (docs/change-gate.md#exports); this module
//! only finds the plan and the exceptions and sets the content type.

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
pub use seawall_api::exports::{ExportQuery, FreezePeriod, SyncWindows};
use seawall_plan::Plan;
use seawall_plan::export;
use seawall_store::ChangeKind;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::{events, plans::PLAN_VERSION_HEADER};
use crate::auth::{Auth, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::openapi::AuthErrors;
use crate::service::gate::{current_plan, to_gate_exception, ts};
use crate::state::AppState;

/// Content type of the iCal feed.
pub const ICAL_CONTENT_TYPE: &str = "text/calendar; charset=utf-8";
/// Content type of the GitLab freeze periods.
pub const GITLAB_CONTENT_TYPE: &str = "application/json";
/// Content type of the Argo CD sync windows.
pub const ARGOCD_CONTENT_TYPE: &str = "application/yaml";

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(freeze_ics))
        .routes(routes!(freeze_gitlab))
        .routes(routes!(freeze_argocd))
}

/// The event's current plan and its version, or 404 naming what is missing.
async fn plan_of(
    state: &AppState,
    slug: &str,
) -> Result<(seawall_store::Event, i64, std::sync::Arc<Plan>), ApiError> {
    let event = events::find(state, slug).await?;
    match current_plan(state, &event).await? {
        Some((version, plan)) => Ok((event, version, plan)),
        None => Err(ApiError::NotFound(format!(
            "event `{slug}` has no plan yet, so it has no freeze calendar; push one \
             (seawall push PLAN.yaml --event {slug})"
        ))),
    }
}

/// A text answer with its content type and the plan version it came from.
fn text(content_type: &'static str, version: i64, body: String) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&version.to_string()) {
        headers.insert(HeaderName::from_static(PLAN_VERSION_HEADER), v);
    }
    response
}

/// The `service` filter: `None` when absent or blank, 400 when too long.
fn service_filter(q: &ExportQuery) -> Result<Option<&str>, ApiError> {
    match q.service.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) if s.len() > 200 => Err(ApiError::bad_request(
            "invalid_query",
            "`service` must be a service id of at most 200 characters",
        )),
        Some(s) => Ok(Some(s)),
    }
}

/// An export of the windows that freeze `kind` changes to `service`.
async fn filtered(
    state: &AppState,
    slug: &str,
    q: &ExportQuery,
    content_type: &'static str,
    render: fn(&Plan, Option<&str>, ChangeKind) -> String,
) -> Result<Response, ApiError> {
    let service = service_filter(q)?;
    let kind = q.kind.unwrap_or(ChangeKind::Release);
    let (_, version, plan) = plan_of(state, slug).await?;
    Ok(text(content_type, version, render(&plan, service, kind)))
}

/// The freeze calendar as an iCal feed (RFC 5545).
///
/// One `VEVENT` per phase, per freeze window and per approved freeze
/// exception of the event; `DTSTAMP` is the server's time.
#[utoipa::path(get, path = "/events/{slug}/freeze.ics", tag = "exports",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    responses(
        (status = 200, description = "The iCal feed: phases, freeze windows and approved \
            exceptions (docs/change-gate.md#ical-rfc-5545)",
            content_type = "text/calendar; charset=utf-8", body = String,
            headers(("x-seawall-plan-version" = i64, description = "Plan version exported"))),
        (status = 404, description = "No such event, or it has no plan yet", body = ErrorBody),
        AuthErrors))]
async fn freeze_ics(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
) -> Result<Response, ApiError> {
    auth.require(READERS)?;
    let (event, version, plan) = plan_of(&state, &slug).await?;
    let exceptions = state
        .store
        .exceptions(event.id)
        .await?
        .iter()
        .map(to_gate_exception)
        .collect::<Result<Vec<_>, _>>()?;
    let now = ts(state.now())?;
    Ok(text(
        ICAL_CONTENT_TYPE,
        version,
        export::ical(&plan, &exceptions, now),
    ))
}

/// GitLab freeze periods for the event's windows.
///
/// A JSON list in the shape of GitLab's Freeze Periods API, one object per
/// window that freezes `kind` changes to `service`. Crons are in UTC and
/// repeat yearly: delete the periods after the event.
#[utoipa::path(get, path = "/events/{slug}/freeze/gitlab", tag = "exports",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"), ExportQuery),
    responses(
        (status = 200, description = "`[{freeze_start, freeze_end, cron_timezone}]` \
            (docs/change-gate.md#gitlab-freeze-periods)",
            content_type = "application/json", body = Vec<FreezePeriod>,
            headers(("x-seawall-plan-version" = i64, description = "Plan version exported"))),
        (status = 404, description = "No such event, or it has no plan yet", body = ErrorBody),
        AuthErrors))]
async fn freeze_gitlab(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    auth.require(READERS)?;
    filtered(
        &state,
        &slug,
        &q,
        GITLAB_CONTENT_TYPE,
        export::gitlab_freeze_periods,
    )
    .await
}

/// Argo CD sync windows for the event's windows.
///
/// A `syncWindows:` list to paste under an AppProject's `spec`, one `deny`
/// window per plan window that freezes `kind` changes to `service`. Crons
/// are in UTC and repeat yearly: remove them after the event.
#[utoipa::path(get, path = "/events/{slug}/freeze/argocd", tag = "exports",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"), ExportQuery),
    responses(
        (status = 200, description = "`syncWindows:` YAML (docs/change-gate.md#argo-cd-sync-windows)",
            content_type = "application/yaml", body = SyncWindows,
            headers(("x-seawall-plan-version" = i64, description = "Plan version exported"))),
        (status = 404, description = "No such event, or it has no plan yet", body = ErrorBody),
        AuthErrors))]
async fn freeze_argocd(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    auth.require(READERS)?;
    filtered(
        &state,
        &slug,
        &q,
        ARGOCD_CONTENT_TYPE,
        export::argocd_sync_windows,
    )
    .await
}
