//! Change control at `/ui/events/{slug}/change`: the freeze calendar (an
//! SVG time line of the plan's freeze windows and the exceptions through
//! them, in the event's time zone, "now" marked), what is frozen right
//! now, the gate's recent decisions, and the freeze exceptions with
//! Approve / Reject for commanders and a request form for those who may
//! ask.
//!
//! Deciding and requesting go through the service layer the JSON API
//! calls too (`service::exceptions::decide` and `request_exception`): the same roles,
//! pm scope, plan-crate rules (409 when already decided or past its end)
//! and audited store change. The buttons are hidden from users who may
//! not use them, and the server refuses them anyway.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use seawall_plan::freeze;
use seawall_plan::model::Plan;
use seawall_store::{ChangeFilter, ChangeKind};
use serde::Deserialize;

use super::chart::{Band, Bar, Markup, Row, Timeline};
use super::chrome::{fmt_duration, fmt_ms};
use super::{Chrome, Form, Nav, Session, UiError, render};
use crate::auth::READERS;
use crate::error::ApiError;
use crate::service::exceptions::{self, Exception, REQUESTERS, RequestException};
use crate::service::gate::current_plan;
use crate::state::AppState;

/// How many recent gate decisions the page lists.
pub const DECISIONS: u32 = 50;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{slug}/change", get(page))
        .route("/events/{slug}/change/exceptions", post(request))
        .route(
            "/events/{slug}/change/exceptions/{id}/approve",
            post(approve),
        )
        .route("/events/{slug}/change/exceptions/{id}/reject", post(reject))
}

/// Filters of the decisions table (query parameters).
#[derive(Debug, Default, Deserialize)]
pub struct ChangeQuery {
    /// Only this service's decisions.
    pub service: Option<String>,
    /// `allowed` or `refused`.
    pub decision: Option<String>,
    /// An exception just decided (a notice).
    pub decided: Option<String>,
    /// An exception just requested (a notice).
    pub requested: Option<String>,
}

/// A freeze window active now.
#[derive(Debug, Clone, PartialEq)]
pub struct FrozenNow {
    /// Window id.
    pub id: String,
    /// Service globs.
    pub services: String,
    /// Change kinds.
    pub kinds: String,
    /// End, event zone.
    pub until: String,
    /// Time left.
    pub left: String,
    /// Why.
    pub reason: String,
}

/// A gate decision as a table row.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRow {
    /// Record id.
    pub id: i64,
    /// When, event zone.
    pub when: String,
    /// Service.
    pub service: String,
    /// Kind.
    pub kind: &'static str,
    /// Who asked.
    pub actor: String,
    /// Change reference.
    pub change_ref: String,
    /// Allowed.
    pub allowed: bool,
    /// Why.
    pub reason: String,
    /// Freeze window.
    pub window: String,
    /// Exception that let it through.
    pub exception: Option<i64>,
}

/// An exception as a table row.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionRow {
    /// The API's view.
    pub e: Exception,
    /// Window start, event zone.
    pub from: String,
    /// Window end, event zone.
    pub until: String,
    /// When requested, event zone.
    pub requested: String,
    /// When decided, event zone.
    pub decided: Option<String>,
    /// Whether approve/reject buttons belong on it (still pending).
    pub open: bool,
}

/// The freeze calendar: one row per freeze window (services · kinds),
/// one per exception that is not rejected, the event's phases shaded,
/// "now" marked. `None` when there is nothing to draw.
pub fn freeze_timeline(plan: &Plan, exceptions: &[Exception], now: i64) -> Option<Timeline> {
    let tz = plan.event.timezone.clone();
    let windows = freeze::calendar(plan);
    let mut rows: Vec<Row> = windows
        .iter()
        .map(|w| {
            let (s, e) = (w.start.as_millisecond(), w.end.as_millisecond());
            let active = s <= now && now < e;
            Row {
                label: format!("{} · {}", w.services.join(", "), w.kinds.join(", ")),
                data: w.id.clone(),
                bars: vec![Bar {
                    start: s,
                    end: e,
                    class: if active { "fill-critical" } else { "fill-warn" },
                    label: format!("{}: {}", w.id, w.kinds.join(", ")),
                    title: format!(
                        "{}: {} frozen for {}, {} – {}{}",
                        w.id,
                        w.kinds.join(", "),
                        w.services.join(", "),
                        fmt_ms(s, &tz),
                        fmt_ms(e, &tz),
                        w.reason
                            .as_deref()
                            .map(|r| format!(" — {r}"))
                            .unwrap_or_default()
                    ),
                    data: w.id.clone(),
                    thin: false,
                }],
            }
        })
        .collect();
    for e in exceptions.iter().filter(|e| e.status != "rejected") {
        let (Ok(s), Ok(end)) = (
            e.start.parse::<jiff::Timestamp>(),
            e.end.parse::<jiff::Timestamp>(),
        ) else {
            continue;
        };
        let kinds: Vec<&str> = e.kinds.iter().map(|k| k.as_str()).collect();
        let (s, end) = (s.as_millisecond(), end.as_millisecond());
        rows.push(Row {
            label: format!("exception #{} {}", e.id, e.services.join(", ")),
            data: format!("exception-{}", e.id),
            bars: vec![Bar {
                start: s,
                end,
                class: match e.state.as_str() {
                    "active" | "scheduled" => "fill-ok",
                    "pending" => "fill-info",
                    _ => "fill-track",
                },
                label: format!("#{} {}", e.id, e.state),
                title: format!(
                    "exception #{} ({}): {} for {}, {} – {}: {}",
                    e.id,
                    e.state,
                    kinds.join(", "),
                    e.services.join(", "),
                    fmt_ms(s, &tz),
                    fmt_ms(end, &tz),
                    e.reason
                ),
                data: format!("exception-{}", e.id),
                thin: false,
            }],
        });
    }
    let mut spans: Vec<(i64, i64)> = rows
        .iter()
        .flat_map(|r| &r.bars)
        .map(|b| (b.start, b.end))
        .collect();
    for p in ["freeze", "peak"] {
        if let Some(w) = plan.event.phases.get(p) {
            spans.push((w.start.as_millisecond(), w.end.as_millisecond()));
        }
    }
    let start = spans.iter().map(|s| s.0).min()?;
    let end = spans.iter().map(|s| s.1).max()?;
    let pad = ((end - start) / 20).max(3_600_000);
    let bands = plan
        .event
        .phases
        .iter()
        .map(|(name, w)| Band {
            start: w.start.as_millisecond(),
            end: w.end.as_millisecond(),
            label: name.clone(),
        })
        .collect();
    Some(Timeline {
        id: "freeze-calendar".into(),
        title: "Freeze calendar".into(),
        tz,
        start: start - pad,
        end: end + pad,
        rows,
        bands,
        now: Some(now),
    })
}

/// The windows freezing something at `now`.
pub fn frozen_now(plan: &Plan, now: i64) -> Vec<FrozenNow> {
    let tz = plan.event.timezone.as_str();
    freeze::calendar(plan)
        .into_iter()
        .filter(|w| w.start.as_millisecond() <= now && now < w.end.as_millisecond())
        .map(|w| FrozenNow {
            services: w.services.join(", "),
            kinds: w.kinds.join(", "),
            until: fmt_ms(w.end.as_millisecond(), tz),
            left: fmt_duration(w.end.as_millisecond() - now),
            reason: w.reason.unwrap_or_default(),
            id: w.id,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "change.html")]
struct ChangePage {
    chrome: Chrome,
    has_plan: bool,
    version: i64,
    now: String,
    tz: String,
    timeline: Option<Markup>,
    frozen: Vec<FrozenNow>,
    decisions: Vec<DecisionRow>,
    service: String,
    decision: String,
    exceptions: Vec<ExceptionRow>,
    can_decide: bool,
    can_request: bool,
    notice: Option<String>,
}

fn bad_query(message: String) -> UiError {
    UiError(ApiError::bad_request("bad_query", message))
}

fn parse_id(text: &str, what: &str) -> Result<i64, UiError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            bad_query(format!(
                "{what} {text:?} is not a number; ids are whole numbers like 3"
            ))
        })
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    query: Result<Query<ChangeQuery>, QueryRejection>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let Query(q) = query.map_err(|e| bad_query(format!("bad query: {}", e.body_text())))?;
    let allowed = match q.decision.as_deref().map(str::trim) {
        None | Some("" | "all") => None,
        Some("allowed") => Some(true),
        Some("refused") => Some(false),
        Some(other) => {
            return Err(bad_query(format!(
                "decision={other:?} is not a filter; use allowed, refused or all"
            )));
        }
    };
    let service = q
        .service
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let notice = match (&q.decided, &q.requested) {
        (Some(id), _) => Some(format!(
            "Exception #{} decided; the gate applies it at once.",
            parse_id(id, "decided")?
        )),
        (None, Some(id)) => Some(format!(
            "Exception #{} requested; a commander decides it here.",
            parse_id(id, "requested")?
        )),
        _ => None,
    };
    let (chrome, event) = Chrome::event(&state, &session, &slug, Nav::Change).await?;
    let now = state.now();
    let current = current_plan(&state, &event).await?;
    let plan = current.as_ref().map(|(_, p)| p.as_ref());
    let tz = plan.map_or("UTC", |p| p.event.timezone.as_str()).to_owned();
    let views = exceptions::views(&state, &event, plan).await?;
    let decisions = state
        .store
        .changes(&ChangeFilter {
            event_id: Some(event.id),
            service: service.clone(),
            since_ms: None,
            allowed,
            limit: Some(DECISIONS),
        })
        .await?
        .into_iter()
        .map(|c| DecisionRow {
            id: c.id,
            when: fmt_ms(c.at_ms, &tz),
            service: c.service,
            kind: c.kind.as_str(),
            actor: c.actor,
            change_ref: c.change_ref,
            allowed: c.allowed,
            reason: c.reason,
            window: c.window.unwrap_or_default(),
            exception: c.exception_id,
        })
        .collect();
    let timeline = plan.and_then(|p| freeze_timeline(p, &views, now).map(|t| t.svg()));
    let frozen = plan.map(|p| frozen_now(p, now)).unwrap_or_default();
    let exceptions = views
        .into_iter()
        .rev()
        .map(|e| ExceptionRow {
            from: e
                .start
                .parse::<jiff::Timestamp>()
                .map_or_else(|_| e.start.clone(), |t| fmt_ms(t.as_millisecond(), &tz)),
            until: e
                .end
                .parse::<jiff::Timestamp>()
                .map_or_else(|_| e.end.clone(), |t| fmt_ms(t.as_millisecond(), &tz)),
            requested: fmt_ms(e.requested_ms, &tz),
            decided: e.decided_ms.map(|ms| fmt_ms(ms, &tz)),
            open: e.status == "pending",
            e,
        })
        .collect();
    let can_decide = chrome.is_commander();
    let can_request = REQUESTERS.contains(&session.auth.role());
    render(&ChangePage {
        chrome,
        has_plan: current.is_some(),
        version: current.as_ref().map_or(0, |(v, _)| *v),
        now: fmt_ms(now, &tz),
        tz,
        timeline,
        frozen,
        decisions,
        service: service.unwrap_or_default(),
        decision: q.decision.unwrap_or_default(),
        exceptions,
        can_decide,
        can_request,
        notice,
    })
}

/// The Approve / Reject form.
#[derive(Debug, Deserialize)]
struct DecideForm {
    csrf: Option<String>,
    note: Option<String>,
}

async fn decide(
    state: AppState,
    session: Session,
    slug: String,
    id: String,
    form: DecideForm,
    approve: bool,
) -> Result<Response, UiError> {
    session.check_csrf(form.csrf.as_deref())?;
    session.auth.require(exceptions::DECIDERS)?;
    let id = parse_id(&id, "exception id")?;
    let event = crate::service::events::find(&state, &slug).await?;
    // Only this event's exceptions are decided from this event's page.
    match state.store.exception(id).await? {
        Some(e) if e.event_id == event.id => {}
        _ => {
            return Err(UiError(ApiError::not_found(format!(
                "exception {id} of event `{slug}`"
            ))));
        }
    }
    exceptions::decide(state, session.auth.clone(), id, approve, form.note).await?;
    Ok(Redirect::to(&format!(
        "/ui/events/{}/change?decided={id}#exception-{id}",
        event.slug
    ))
    .into_response())
}

async fn approve(
    State(state): State<AppState>,
    session: Session,
    Path((slug, id)): Path<(String, String)>,
    Form(form): Form<DecideForm>,
) -> Result<Response, UiError> {
    decide(state, session, slug, id, form, true).await
}

async fn reject(
    State(state): State<AppState>,
    session: Session,
    Path((slug, id)): Path<(String, String)>,
    Form(form): Form<DecideForm>,
) -> Result<Response, UiError> {
    decide(state, session, slug, id, form, false).await
}

/// The request form: service globs (comma or space separated), one kind,
/// the window as plan times in the event's zone, the reason.
#[derive(Debug, Deserialize)]
struct RequestForm {
    csrf: Option<String>,
    services: String,
    kind: String,
    start: String,
    end: String,
    reason: String,
}

async fn request(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    Form(form): Form<RequestForm>,
) -> Result<Response, UiError> {
    session.check_csrf(form.csrf.as_deref())?;
    session.auth.require(REQUESTERS)?;
    let event = crate::service::events::find(&state, &slug).await?;
    let tz = current_plan(&state, &event)
        .await?
        .map_or(jiff::tz::TimeZone::UTC, |(_, p)| p.event.tz.clone());
    let kind = ChangeKind::parse(form.kind.trim()).ok_or_else(|| {
        UiError(ApiError::unprocessable(
            "invalid_exception",
            format!(
                "kind {:?} is not a change kind; choose release, config or ops",
                form.kind
            ),
        ))
    })?;
    let time = |field: &str, text: &str| {
        seawall_plan::time::parse_time(text.trim(), &tz)
            .map(|t| t.to_string())
            .map_err(|e| {
                UiError(ApiError::unprocessable(
                    "invalid_time",
                    format!(
                        "`{field}` {text:?} is not a time like 2026-09-30T11:00 \
                         (the event's zone) or RFC 3339: {e}"
                    ),
                ))
            })
    };
    let req = RequestException {
        services: form
            .services
            .split([',', ' '])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        kinds: vec![kind],
        start: time("start", &form.start)?,
        end: time("end", &form.end)?,
        reason: form.reason,
    };
    let e = exceptions::request_exception(&state, &session.auth, &slug, &req).await?;
    Ok(Redirect::to(&format!(
        "/ui/events/{}/change?requested={}#exception-{}",
        event.slug, e.id, e.id
    ))
    .into_response())
}
