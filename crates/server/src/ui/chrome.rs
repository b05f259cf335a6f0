//! What every page around its content shows: the event, the navigation to
//! the event's pages, who is logged in with which role, the theme switch
//! and logout. Also the event list at `/ui/`, the UI's start page.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;

use super::assets;
use super::page::{UiError, render};
use super::session::{Session, Theme};
use crate::auth::READERS;
use crate::service::events;
use crate::state::AppState;

/// The event list at `/ui/` (outside the `/ui` nest: a nested `/` only
/// answers `/ui`).
pub(super) fn start_page() -> Router<AppState> {
    Router::new().route("/ui/", get(event_list))
}

/// Which page of an event is shown (the highlighted navigation item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// The event list (no event).
    Events,
    /// `/ui/events/{slug}`.
    Overview,
    /// `…/targets`.
    Targets,
    /// `…/live`.
    Live,
    /// `…/links`.
    Links,
    /// `…/rehearsals`.
    Rehearsals,
    /// `…/agents`.
    Agents,
    /// `…/change`.
    Change,
    /// `…/oncall`.
    Oncall,
    /// `…/emergency`.
    Emergency,
    /// `…/incidents`.
    Incidents,
    /// `…/review`.
    Review,
    /// `…/plan`.
    Plan,
}

impl Nav {
    /// The event pages in navigation order.
    pub const PAGES: [Nav; 12] = [
        Nav::Overview,
        Nav::Targets,
        Nav::Live,
        Nav::Links,
        Nav::Rehearsals,
        Nav::Agents,
        Nav::Change,
        Nav::Oncall,
        Nav::Emergency,
        Nav::Incidents,
        Nav::Review,
        Nav::Plan,
    ];

    /// The page's name in the navigation and the title.
    pub fn label(self) -> &'static str {
        match self {
            Nav::Events => "Events",
            Nav::Overview => "Overview",
            Nav::Targets => "Targets & water levels",
            Nav::Live => "Live",
            Nav::Links => "Link graph",
            Nav::Rehearsals => "Rehearsals",
            Nav::Agents => "Agents",
            Nav::Change => "Change control",
            Nav::Oncall => "On-call",
            Nav::Emergency => "Emergency plans",
            Nav::Incidents => "Incidents",
            Nav::Review => "Review",
            Nav::Plan => "Plan",
        }
    }

    /// The page's path segment after `/ui/events/{slug}`.
    pub fn segment(self) -> &'static str {
        match self {
            Nav::Events | Nav::Overview => "",
            Nav::Targets => "/targets",
            Nav::Live => "/live",
            Nav::Links => "/links",
            Nav::Rehearsals => "/rehearsals",
            Nav::Agents => "/agents",
            Nav::Change => "/change",
            Nav::Oncall => "/oncall",
            Nav::Emergency => "/emergency",
            Nav::Incidents => "/incidents",
            Nav::Review => "/review",
            Nav::Plan => "/plan",
        }
    }
}

/// An event as the navigation names it.
#[derive(Debug, Clone)]
pub struct EventRef {
    /// Slug (in URLs).
    pub slug: String,
    /// Display name.
    pub name: String,
}

/// A navigation link.
#[derive(Debug, Clone)]
pub struct NavLink {
    /// Text.
    pub label: &'static str,
    /// Target.
    pub href: String,
    /// The page shown now.
    pub active: bool,
}

/// Everything `base.html` needs.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The page title (also the `<h1>`).
    pub title: String,
    /// The page shown.
    pub nav: Nav,
    /// The event, on event pages.
    pub event: Option<EventRef>,
    /// The event's page links (empty on the event list).
    pub links: Vec<NavLink>,
    /// Token name of the user.
    pub who: String,
    /// The user's role.
    pub role: &'static str,
    /// A pm's business line.
    pub line: Option<String>,
    /// CSRF token for this page's forms.
    pub csrf: String,
    /// Colour scheme.
    pub theme: Theme,
    /// This page's path and query (forms come back here).
    pub path: String,
    /// Path of htmx.
    pub htmx: &'static str,
    /// Path of the stylesheet.
    pub css: &'static str,
    /// Server time of rendering, ms since the epoch (for countdowns).
    pub now_ms: i64,
    /// Seconds between two polls of live values: the monitor's tick.
    pub live_every_s: u64,
}

impl Chrome {
    /// The chrome of a page that belongs to no event.
    pub fn global(state: &AppState, session: &Session, title: &str) -> Chrome {
        Chrome {
            title: title.to_owned(),
            nav: Nav::Events,
            event: None,
            links: Vec::new(),
            who: session.auth.token.name.clone(),
            role: session.auth.role().as_str(),
            line: session.auth.token.business_line.clone(),
            csrf: session.csrf.clone(),
            theme: session.theme,
            path: session.path.clone(),
            htmx: assets::HTMX,
            css: assets::CSS,
            now_ms: state.now(),
            live_every_s: state.monitor().options().interval().as_secs().max(1),
        }
    }

    /// The chrome of one of event `slug`'s pages, and the event (404 page
    /// if there is none).
    pub async fn event(
        state: &AppState,
        session: &Session,
        slug: &str,
        nav: Nav,
    ) -> Result<(Chrome, seawall_store::Event), UiError> {
        let event = events::find(state, slug).await?;
        let mut chrome = Chrome::global(state, session, nav.label());
        chrome.nav = nav;
        chrome.links = Nav::PAGES
            .iter()
            .map(|&p| NavLink {
                label: p.label(),
                href: format!("/ui/events/{}{}", event.slug, p.segment()),
                active: p == nav,
            })
            .collect();
        chrome.event = Some(EventRef {
            slug: event.slug.clone(),
            name: event.name.clone(),
        });
        Ok((chrome, event))
    }

    /// The URL of one of this event's pages (`""` on the event list).
    pub fn href(&self, nav: Nav) -> String {
        self.event
            .as_ref()
            .map(|e| format!("/ui/events/{}{}", e.slug, nav.segment()))
            .unwrap_or_default()
    }

    /// Whether the user may change plans, runs and rules and decide
    /// exceptions (admin, commander): pages hide such buttons otherwise.
    pub fn is_commander(&self) -> bool {
        matches!(self.role, "admin" | "commander")
    }
}

/// `ms` since the epoch as local time in time zone `tz` (IANA), like
/// `2026-11-11 20:00 CST`; UTC if `tz` is unknown.
pub fn fmt_ms(ms: impl std::borrow::Borrow<i64>, tz: &str) -> String {
    fmt_zoned(*ms.borrow(), tz, "%Y-%m-%d %H:%M %Z")
}

/// As [`fmt_ms`], with seconds (`2026-11-11 20:00:05 CST`): the monitor's
/// ticks.
pub fn fmt_ms_seconds(ms: i64, tz: &str) -> String {
    fmt_zoned(ms, tz, "%Y-%m-%d %H:%M:%S %Z")
}

fn fmt_zoned(ms: i64, tz: &str, format: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
        return format!("{ms} ms");
    };
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    ts.to_zoned_datetime(zone).strftime(format).to_string()
}

/// A duration in ms as `3d 4h`, `2h 05m`, `12m`, `40s`.
pub fn fmt_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventList {
    chrome: Chrome,
    events: Vec<(EventRef, String)>,
}

async fn event_list(
    State(state): State<AppState>,
    session: Session,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let chrome = Chrome::global(&state, &session, "Events");
    let events = state
        .store
        .events()
        .await?
        .into_iter()
        .map(|e| {
            (
                EventRef {
                    slug: e.slug,
                    name: e.name,
                },
                fmt_ms(e.created_ms, "UTC"),
            )
        })
        .collect();
    render(&EventList { chrome, events })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_countdown() {
        assert_eq!(fmt_duration(40_000), "40s");
        assert_eq!(fmt_duration(12 * 60_000), "12m");
        assert_eq!(fmt_duration(2 * 3_600_000 + 5 * 60_000), "2h 05m");
        assert_eq!(fmt_duration(3 * 86_400_000 + 4 * 3_600_000), "3d 4h");
        assert_eq!(fmt_duration(-5), "0s");
    }

    #[test]
    fn times_are_shown_in_the_event_zone() {
        // 2026-11-11T12:00:00Z is 20:00 in Shanghai.
        let ms = 1_794_398_400_000;
        assert_eq!(fmt_ms(ms, "Asia/Shanghai"), "2026-11-11 20:00 CST");
        assert_eq!(fmt_ms(ms, "No/Such_Zone"), "2026-11-11 12:00 UTC");
    }
}
