//! The Review page at `/ui/events/{slug}/review` (`?compare=E2` adds the
//! comparison with an earlier event): the post-event review's sections as
//! tables, and its three renderings to download
//! (`/ui/events/{slug}/review/download?format=json|markdown|html`).
//!
//! The numbers are `crate::service::review`'s, the same the API and
//! `seawall review` give; the page lays out `seawall_review::text::sections`,
//! which the Markdown and HTML renderings lay out too, so the page and the
//! files show the same cells. The standalone HTML carries its own inline
//! stylesheet, which this UI's Content-Security-Policy would block, so it
//! is offered as a download rather than shown inside the page.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use seawall_api::review::ReviewFormat;
use serde::Deserialize;

use super::{Chrome, Nav, Session, UiError, render};
use crate::auth::READERS;
use crate::error::ApiError;
use crate::service::events::find;
use crate::service::review::review_of;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{slug}/review", get(page))
        .route("/events/{slug}/review/download", get(download))
}

/// The page's query.
#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    /// An earlier event to compare with.
    #[serde(default)]
    compare: Option<String>,
    /// The download's format.
    #[serde(default)]
    format: Option<ReviewFormat>,
}

/// One table of a section.
#[derive(Debug, Clone)]
struct TableView {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

/// One section.
#[derive(Debug, Clone)]
struct SectionView {
    id: &'static str,
    title: &'static str,
    lines: Vec<String>,
    tables: Vec<TableView>,
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    chrome: Chrome,
    slug: String,
    compare: Option<String>,
    sections: Vec<SectionView>,
    /// The entries' target, knee and peak as bars.
    chart: Option<super::chart::Markup>,
}

/// The earlier event named by `compare` (blank: none).
async fn earlier(
    state: &AppState,
    compare: Option<&str>,
) -> Result<Option<seawall_store::Event>, ApiError> {
    match compare.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => Ok(Some(find(state, c).await?)),
        None => Ok(None),
    }
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let (chrome, event) = Chrome::event(&state, &session, &slug, Nav::Review).await?;
    let earlier = earlier(&state, q.compare.as_deref()).await?;
    let review = review_of(&state, &event, earlier.as_ref()).await?;
    let chart = seawall_review::entries_chart(&review);
    let sections = seawall_review::text::sections(&review)
        .into_iter()
        .map(|s| SectionView {
            id: s.id,
            title: s.title,
            lines: s.lines,
            tables: s
                .tables
                .into_iter()
                .map(|(header, rows)| TableView { header, rows })
                .collect(),
        })
        .collect();
    render(&ReviewPage {
        chrome,
        slug: event.slug,
        compare: earlier.map(|e| e.slug),
        sections,
        chart,
    })
}

async fn download(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, UiError> {
    session.auth.require(READERS)?;
    let event = find(&state, &slug).await?;
    let earlier = earlier(&state, q.compare.as_deref()).await?;
    let review = review_of(&state, &event, earlier.as_ref()).await?;
    let format = q.format.unwrap_or_default();
    let (body, ext) = match format {
        ReviewFormat::Json => (seawall_review::to_json(&review), "json"),
        ReviewFormat::Markdown => (seawall_review::to_markdown(&review), "md"),
        ReviewFormat::Html => (seawall_review::to_html(&review), "html"),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    // The slug is `[a-z0-9-]` (events are created so), safe in a header.
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"review-{}.{ext}\"",
        event.slug
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
