//! The signed links of IM messages (`/ack/{token}`, outside `/ui`: the
//! address is in an IM message and must work without a session): a
//! page's link that acknowledges its incident, and a commander's link
//! to an emergency run waiting for approval. `GET` shows what the
//! link would do and a button; only the `POST` the button sends acts —
//! IM clients fetch links to preview them, and a preview must not stop
//! the paging. The token is the credential of an acknowledgement (an HMAC
//! over kind, event, number, person and expiry;
//! `service::incidents::pager::Link`), so there is no session and no CSRF
//! token; a forged, changed, expired or misplaced token is answered 403
//! and audited. An approve link is no credential: it shows the run and
//! leads to its page, where the commander approves with their own session
//! (`approve_page` says why).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;

use crate::service::emergency;
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
        return approve_page(state, token).await;
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

/// An approve link: the run must be of the link's event. It shows the run
/// and sends the commander to the run's page, where the approval is made
/// with the commander's own session: the message with the links goes to a
/// group, so a link is no credential for an approval — anyone in the
/// group, the requester included, could otherwise follow every
/// commander's link and meet `approval: two` alone.
async fn approve_page(state: &AppState, token: &str) -> Result<Html<String>, UiError> {
    let (link, slug) = pager::open_approve_link(state, token).await?;
    let n = link.n;
    emergency::may_approve(state, &slug, n, &link.person).await?;
    let run = emergency::get(state, &slug, n).await?;
    render(&LinkPage {
        heading: format!("Approve run {n}?"),
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
        person_label: "For",
        person: link.person,
        done: true,
        button: "Approve",
        done_text: "An approval counts only from the commander's own session: log in as \
                    that commander and approve the run on its page."
            .to_owned(),
    })
}
