//! The event day: an event's alerts and its live view, as the control
//! plane's monitor evaluated them at its latest tick
//! ([`crate::service::monitoring`], which does the work; this module is
//! its HTTP face). Read by the roles that read an event.

use axum::Json;
use axum::extract::State;
pub use seawall_api::monitoring::{
    Alert, AlertList, AlertSeverity, AlertState, AlertTarget, LiveRow, LiveStatus, LiveView,
    SourceState, TargetKind,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiPath;
use crate::openapi::AuthErrors;
use crate::service::events::find;
use crate::service::monitoring::{alert_list, current, live_view};
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(alerts))
        .routes(routes!(live))
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
