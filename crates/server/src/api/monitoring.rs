//! The event day: an event's alerts and its live view, as the control
//! plane's monitor evaluated them at its latest tick, and its stored
//! telemetry history
//! ([`crate::service::monitoring`], which does the work; this module is
//! its HTTP face). Read by the roles that read an event.

use axum::Json;
use axum::extract::State;
pub use seawall_api::monitoring::{
    Alert, AlertList, AlertSeverity, AlertState, AlertTarget, History, HistoryPoint, HistoryQuery,
    HistoryResolution, LiveRow, LiveStatus, LiveView, SourceState, TargetKind,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::openapi::AuthErrors;
use crate::service::events::find;
use crate::service::monitoring::{alert_list, current, history, live_view};
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(alerts))
        .routes(routes!(live))
        .routes(routes!(history_of))
}

/// The event's pending, firing and resolved alerts (before the first tick
/// after a start: as stored).
#[utoipa::path(get, path = "/events/{slug}/alerts", tag = "monitoring",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    responses(
        (status = 200, description = "In rule order", body = AlertList),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors))]
async fn alerts(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<AlertList>, ApiError> {
    auth.require(READERS)?;
    let event = find(&state, &slug).await?;
    Ok(Json(alert_list(&*current(&state, &event).await?)))
}

/// The event's live view: entries, services, partners and funnel steps
/// (empty with `at` null before the first tick).
#[utoipa::path(get, path = "/events/{slug}/live", tag = "monitoring",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    responses(
        (status = 200, description = "The latest tick", body = LiveView),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors))]
async fn live(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<LiveView>, ApiError> {
    auth.require(READERS)?;
    let event = find(&state, &slug).await?;
    Ok(Json(live_view(&*current(&state, &event).await?)))
}

/// One stored telemetry series of the event (an entry, service, partner
/// or funnel step) at a resolution: its points with min/avg/max rate, the
/// highest p99 and the traffic-weighted error rate, oldest first, as kept
/// for the review (10-second points for the last hour, 1-minute for 6
/// hours, 5-minute for 48 hours).
#[utoipa::path(get, path = "/events/{slug}/history", tag = "monitoring",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"), HistoryQuery),
    responses(
        (status = 200, description = "The stored points between `from` and `to`", body = History),
        (status = 400, description = "A missing or malformed parameter, a resolution other \
            than 10s, 1m or 5m (invalid_query)", body = ErrorBody),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 422, description = "A series that is not `<kind>:<id>` (invalid_series) or \
            that names nothing the plan or the store has (unknown_series); a negative time or \
            `from` after `to` (invalid_range)", body = ErrorBody),
        AuthErrors))]
async fn history_of(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<History>, ApiError> {
    auth.require(READERS)?;
    let event = find(&state, &slug).await?;
    Ok(Json(history(&state, &event, &q).await?))
}
