//! The signed acknowledgement link of a page (`/ack/{token}`, outside
//! `/ui`: the address is in an IM message and must work without a
//! session). `GET` shows what the link would do and a button; only the
//! `POST` the button sends acknowledges — IM clients fetch links to
//! preview them, and a preview must not stop the paging. The token is the
//! credential (an HMAC over event, incident, people and expiry;
//! `service::incidents::pager::Link`), so there is no session and no CSRF
//! token; a forged, changed, expired or misplaced token is answered 403
//! and audited.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;

use crate::service::incidents::pager::{self, LinkView};
use crate::state::AppState;
use crate::ui::page::{UiError, render};

/// `GET` and `POST /ack/{token}`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/ack/{token}", get(confirm).post(acknowledge))
        .layer(axum::middleware::map_response(super::security_headers))
}

#[derive(Template)]
#[template(path = "ack.html")]
struct AckPage {
    done: bool,
    n: i64,
    slug: String,
    title: String,
    status: String,
    person: String,
}

fn page(view: LinkView, done: bool) -> Result<Html<String>, UiError> {
    render(&AckPage {
        done,
        n: view.link.n,
        slug: view.slug,
        title: view.title,
        status: view.status,
        person: view.link.person.replace('+', ", "),
    })
}

async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Html<String>, UiError> {
    page(pager::open_link(&state, &token).await?, false)
}

async fn acknowledge(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Html<String>, UiError> {
    page(pager::follow_link(&state, &token).await?, true)
}
