//! Events: `POST /events` (admin, commander), `GET /events` and
//! `GET /events/{slug}` (every role but ci). An event is what plan
//! versions, runs and exceptions belong to; its slug names it in URLs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
pub use seawall_api::events::{Event, EventList, NewEvent};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, PLANNERS, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, JsonBody};
use crate::openapi::{AuthErrors, BodyErrors};
use crate::state::AppState;

/// Found by the service layer; here for the handlers that name it `events::find`.
pub use crate::service::events::find;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_event, list_events))
        .routes(routes!(get_event))
}

/// Check a slug: the URL-safe short name of an event.
pub fn check_slug(slug: &str) -> Result<(), ApiError> {
    let ok = !slug.is_empty()
        && slug.len() <= 63
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && slug.bytes().next().is_some_and(|b| b != b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_slug",
            format!(
                "slug {slug:?} is not allowed: use 1–63 lower-case letters, digits and `-`, \
                 starting with a letter or digit (e.g. `double11-2026`)"
            ),
        ))
    }
}

/// Create an event.
#[utoipa::path(post, path = "/events", tag = "events", security(("bearer" = [])),
    request_body = NewEvent,
    responses(
        (status = 201, description = "Created", body = Event),
        (status = 409, description = "The slug is taken", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn create_event(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(new): JsonBody<NewEvent>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    auth.require(PLANNERS)?;
    check_slug(&new.slug)?;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::unprocessable(
            "invalid_name",
            "the event's name must have 1–200 characters",
        ));
    }
    let event = state
        .store
        .create_event(
            &auth.ctx(&state),
            &seawall_store::NewEvent {
                slug: new.slug,
                name: name.to_owned(),
            },
        )
        .await?;
    state.notify_change();
    Ok((StatusCode::CREATED, Json(event.into())))
}

/// Every event, oldest first.
#[utoipa::path(get, path = "/events", tag = "events", security(("bearer" = [])),
    responses((status = 200, description = "Every event", body = EventList), AuthErrors))]
async fn list_events(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<EventList>, ApiError> {
    auth.require(READERS)?;
    let events = state.store.events().await?;
    Ok(Json(EventList {
        events: events.into_iter().map(Event::from).collect(),
    }))
}

/// One event.
#[utoipa::path(get, path = "/events/{slug}", tag = "events", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    responses(
        (status = 200, description = "The event", body = Event),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors))]
async fn get_event(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<Event>, ApiError> {
    auth.require(READERS)?;
    Ok(Json(find(&state, &slug).await?.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(check_slug("double11-2026").is_ok());
        assert!(check_slug("a").is_ok());
        assert!(check_slug("").is_err());
        assert!(check_slug("-a").is_err());
        assert!(check_slug("Double11").is_err());
        assert!(check_slug("a/b").is_err());
        assert!(check_slug(&"a".repeat(64)).is_err());
    }
}
