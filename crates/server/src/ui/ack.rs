//! The signed links of IM messages (`/ack/{token}`, outside `/ui`: the
//! address is in an IM message and must work without a session): a
//! page's link that acknowledges its incident, and a commander's link
//! that approves an emergency run as that commander. `GET` shows what the
//! link would do and a button; only the `POST` the button sends acts —
//! IM clients fetch links to preview them, and a preview must not stop
//! the paging or approve a run. The token is the credential (an HMAC over
//! kind, event, number, person and expiry;
//! `service::incidents::pager::Link`), so there is no session and no CSRF
//! token; a forged, changed, expired or misplaced token is answered 403
//! and audited. An approval counts only for the commander the link names,
//! through the same `service::emergency::decide` the API uses (so
//! self-approval and non-commanders are refused as there).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use seawall_store::{Role, Token};

use crate::auth::Auth;
use crate::service::emergency::{self, Decision};
use crate::service::incidents::pager::{self, LinkKind};
use crate::state::AppState;
use crate::ui::page::{UiError, render};

/// `GET` and `POST /ack/{token}`.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/ack/{token}", get(confirm).post(act))
        .layer(axum::middleware::map_response(super::security_headers))
}

#[derive(Template)]
#[template(path = "ack.html")]
struct LinkPage {
    heading: String,
    subject: String,
    slug: String,
    status: String,
    person_label: &'static str,
    person: String,
    done: bool,
    button: &'static str,
    done_text: String,
    open_href: String,
}

async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Html<String>, UiError> {
    page(&state, &token, false).await
}

async fn act(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Html<String>, UiError> {
    page(&state, &token, true).await
}

async fn page(state: &AppState, token: &str, act: bool) -> Result<Html<String>, UiError> {
    if pager::link_kind(token) == Some(LinkKind::Approve) {
        return approve_page(state, token, act).await;
    }
    let view = if act {
        pager::follow_link(state, token).await?
    } else {
        pager::open_link(state, token).await?
    };
    let n = view.link.n;
    render(&LinkPage {
        heading: if act {
            format!("Incident {n} acknowledged")
        } else {
            format!("Acknowledge incident {n}?")
        },
        subject: view.title,
        open_href: format!("/ui/events/{}/incidents/{n}", view.slug),
        slug: view.slug,
        status: view.status,
        person_label: "Paged",
        person: view.link.person.replace('+', ", "),
        done: act,
        button: "Acknowledge",
        done_text: "The paging stopped.".to_owned(),
    })
}

/// An approve link: the run must be of the link's event; the approval is
/// the commander's the link names.
async fn approve_page(state: &AppState, token: &str, act: bool) -> Result<Html<String>, UiError> {
    let (link, slug) = pager::open_approve_link(state, token).await?;
    let n = link.n;
    let run = if act {
        let commander = Auth {
            token: Token {
                id: 0,
                name: link.person.clone(),
                role: Role::Commander,
                business_line: None,
                created_ms: state.now(),
                created_by: "link".to_owned(),
                revoked_ms: None,
                expires_ms: None,
                service: None,
                event: None,
            },
        };
        emergency::decide(state, &commander, &slug, n, Decision::Approve).await?
    } else {
        emergency::get(state, &slug, n).await?
    };
    render(&LinkPage {
        heading: if act {
            format!("Run {n} approved")
        } else {
            format!("Approve run {n}?")
        },
        subject: format!(
            "emergency plan {}, requested by {}, approval {} ({} so far)",
            run.plan_id,
            run.requested_by,
            run.approval,
            run.approvals.len()
        ),
        open_href: format!("/ui/events/{slug}/emergency"),
        slug,
        status: run.status,
        person_label: "Approving as",
        person: link.person,
        done: act,
        button: "Approve",
        done_text: "Your approval is recorded.".to_owned(),
    })
}
