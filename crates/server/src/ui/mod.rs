//! The war-room web UI under `/ui`: server-rendered HTML (askama templates
//! in `crates/server/templates`), vendored htmx and one stylesheet embedded
//! in the binary, charts and graphs as inline SVG drawn here. Nothing is
//! fetched from anywhere but this server, so it works offline in a war room.
//!
//! # Writing a page
//!
//! One module per page, each with `pub(crate) fn router() -> Router<AppState>`
//! merged in [`router`] with one line. A page handler:
//!
//! ```ignore
//! #[derive(Template)]
//! #[template(path = "targets.html")]        // `{% extends "base.html" %}`
//! struct TargetsPage { chrome: Chrome, /* what the page shows */ }
//!
//! async fn targets(
//!     State(state): State<AppState>,
//!     session: Session,                      // redirect to the login page unless logged in
//!     Path(slug): Path<String>,
//! ) -> Result<Html<String>, UiError> {
//!     session.auth.require(READERS)?;        // a 403 page naming the roles
//!     let chrome = Chrome::event(&state, &session, &slug, Nav::Targets).await?;
//!     render(&TargetsPage { chrome })
//! }
//! ```
//!
//! Rules the pages keep:
//! - Every handler takes [`Session`] and calls `session.auth.require(…)`
//!   (the API's role sets in [`crate::auth`]) before anything else.
//! - Forms that change something are `POST` with the hidden `csrf` field
//!   (`{{ chrome.csrf }}`); their handlers take a [`Form`] and call
//!   [`Session::check_csrf`] first. htmx requests send the token in the
//!   `x-csrf-token` header, which `base.html` sets for the whole page.
//! - Data comes from the service layer the JSON API uses too
//!   ([`crate::service`]: `service::events::find`,
//!   `service::plans::analysed`, the store): one source of truth for every
//!   number. A page never imports `crate::api` (the `layering` test
//!   checks it).
//! - No inline `<script>`, no `style="…"` attributes, no external URLs: the
//!   Content-Security-Policy forbids them and the browser test checks it.
//!   SVG presentation attributes (`fill`, `stroke`, `width`) and CSS
//!   classes from `assets/seawall.css` do the styling.
//! - Every page has a stable URL under `/ui/events/{slug}/…` that can be
//!   pasted into the IM group; filters and sorting are query parameters.

mod ack;
mod agents;
mod assets;
mod change;
pub mod chart;
pub mod chrome;
mod emergency;
mod incidents;
mod links;
mod live;
mod oncall;
mod overview;
mod page;
mod plan;
mod rehearsals;
mod review;
pub mod session;
pub mod svg;
mod targets;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Redirect, Response};

pub use chrome::{Chrome, Nav};
pub use page::{UiError, render};
pub use session::{Form, Session};

use crate::error::ApiError;
use crate::state::AppState;

/// Every route of the UI: the start redirects ([`start`]) and the pages
/// under `/ui` ([`router`]). The crate root hands them to the
/// application beside the API's.
pub fn routes() -> Router<AppState> {
    start().merge(ack::router()).nest("/ui", router())
}

/// The UI's pages, nested under `/ui` by [`routes`].
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(session::router())
        .merge(assets::router())
        // ---- one `.merge(<page>::router())` line per page ----
        .merge(emergency::router())
        .merge(incidents::router())
        .merge(review::router())
        .merge(change::router())
        .merge(oncall::router())
        .merge(rehearsals::router())
        .merge(agents::router())
        .merge(overview::router())
        .merge(targets::router())
        .merge(live::router())
        .merge(links::router())
        .merge(plan::router())
        // ---- end of pages ----
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
}

/// `/` and `/ui` go to the UI's start page, the event list.
pub fn start() -> Router<AppState> {
    let to_start = || async { Redirect::to("/ui/") };
    chrome::start_page()
        .route("/", axum::routing::get(to_start))
        .route("/ui", axum::routing::get(to_start))
        .layer(axum::middleware::map_response(security_headers))
}

/// The Content-Security-Policy of every UI answer: only this server's own
/// scripts, styles, images and forms; no frames; no inline script or style.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
    frame-ancestors 'none'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn not_found() -> UiError {
    UiError(ApiError::NotFound(
        "no such page; start from the event list at /ui/".into(),
    ))
}
