//! IM platforms calling back: Slack's interactive requests (a page's
//! Acknowledge button). No bearer token: Slack signs each request with the
//! app's signing secret, which the service layer checks
//! (`service::incidents::pager::slack_ack`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
pub use seawall_api::im::ImAck;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorBody};
use crate::service::incidents::pager;
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(slack_actions))
}

/// Slack's request URL for interactivity: a signed press of a page's
/// Acknowledge button (`X-Slack-Request-Timestamp`, `X-Slack-Signature`
/// over `v0:{timestamp}:{body}` with the signing secret of a Slack channel
/// of the incident's plan, within five minutes) acknowledges the incident.
#[utoipa::path(post, path = "/im/slack/actions", tag = "incidents",
    security(("slack_signature" = [])),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Slack's `payload=<JSON>` (a `block_actions` interaction)"),
    responses(
        (status = 200, description = "Acknowledged", body = ImAck),
        (status = 401, description = "Not signed by the plan's Slack app, too old, or not an Acknowledge press", body = ErrorBody),
        (status = 409, description = "Already acknowledged or resolved", body = ErrorBody)))]
async fn slack_actions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ImAck>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (incident, acknowledged_by, status) = pager::slack_ack(
        &state,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        &body,
    )
    .await?;
    Ok(Json(ImAck {
        incident,
        acknowledged_by,
        status,
    }))
}
