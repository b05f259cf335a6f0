//! `GET /events/{slug}/review?format=json|markdown|html&compare=E2`: the
//! post-event review (docs/review.md), computed from what the store holds
//! by `crate::service::review` and rendered by `seawall-review`. Every
//! role that reads may fetch it.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
pub use seawall_api::review::{ReviewDocument, ReviewFormat, ReviewQuery};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::openapi::AuthErrors;
use crate::service::events::find;
use crate::service::review::review_of;
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(review))
}

/// Whether a slug could name an event (the pattern events are created with).
fn valid_slug(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The event's post-event review: per entry and service the planned
/// target, rehearsed knee and actual peak; funnel, partners, alerts,
/// emergency runs, change control, incidents, on-call; recommendations
/// each by a stated rule with the plan line to change; and, with
/// `compare`, the same numbers of an earlier event.
#[utoipa::path(get, path = "/events/{slug}/review", tag = "review",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"), ReviewQuery),
    responses(
        (status = 200, description = "The review (docs/review.md): JSON with `schema_version` \
            `seawall.review/v1`, Markdown, or one self-contained HTML page",
            content(
                (ReviewDocument = "application/json"),
                (String = "text/markdown; charset=utf-8"),
                (String = "text/html; charset=utf-8"))),
        (status = 400, description = "A format other than json, markdown or html, or a \
            `compare` that is not an event slug (invalid_query)", body = ErrorBody),
        (status = 404, description = "No such event, or no such event to compare with",
            body = ErrorBody),
        AuthErrors))]
async fn review(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    ApiQuery(q): ApiQuery<ReviewQuery>,
) -> Result<Response, ApiError> {
    auth.require(READERS)?;
    if let Some(c) = &q.compare
        && !valid_slug(c)
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`compare` must be an event slug: 1–63 lower-case letters, digits and `-`",
        ));
    }
    let event = find(&state, &slug).await?;
    let earlier = match &q.compare {
        Some(c) => Some(find(&state, c).await?),
        None => None,
    };
    let r = review_of(&state, &event, earlier.as_ref()).await?;
    let format = q.format.unwrap_or_default();
    let body = match format {
        ReviewFormat::Json => seawall_review::to_json(&r),
        ReviewFormat::Markdown => seawall_review::to_markdown(&r),
        ReviewFormat::Html => seawall_review::to_html(&r),
    };
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::valid_slug;

    #[test]
    fn slugs_as_events_are_created() {
        for ok in ["a", "double11-2026", "0-x"] {
            assert!(valid_slug(ok), "{ok}");
        }
        for bad in ["", "-a", "A", "a_b", "a b", &"a".repeat(64)] {
            assert!(!valid_slug(bad), "{bad}");
        }
    }
}
