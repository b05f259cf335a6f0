//! The event day on screen: the Live page (`/ui/events/{slug}/live`) with
//! every entry's qps as a sparkline against its capacity and target, the
//! alerts with their state and transitions, the funnel and the partners'
//! health; and the small live fragment (`…/live/now`) the overview and
//! targets pages poll, so their live values follow the monitor's tick.
//!
//! Why a fragment polled by htmx and not server-sent events: the monitor
//! publishes once per tick, so a poll at the tick shows every value as
//! soon as an open stream would, needs no connection held per screen, and
//! keeps the Content-Security-Policy as strict as every other page (htmx is
//! already vendored; no inline script).
//!
//! Numbers come from the monitor's latest tick
//! (`service::monitoring::current`), sparklines from the stored history,
//! transitions from the store — the same sources as the JSON API's
//! `/live` and `/alerts`. `?wall=1` is war-room mode (dark, large type)
//! for this page whatever the user's theme, for a screen on the wall.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use axum::routing::get;
use seawall_chart::sparkline::{Reference, sparkline};
use seawall_monitor::LiveRow;
use seawall_monitor::alert::Change;
use seawall_monitor::eval::SourceState;
use seawall_monitor::sample::TargetKind;
use seawall_store::Event;
use serde::Deserialize;

use super::chrome::{fmt_duration, fmt_ms, fmt_ms_seconds};

use super::session::Theme;
use super::svg::{Markup, percent, status_name};
use super::targets::{bad, qps, query};
use super::{Chrome, Nav, Session, UiError, render};
use crate::auth::READERS;
use crate::service::gate::current_plan;
use crate::service::monitoring;
use crate::state::AppState;

/// Transitions the page lists, newest first.
const HISTORY_SHOWN: usize = 50;
/// Transitions read from the store for that list (the store caps at 10,000).
const HISTORY_READ: u32 = 10_000;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{slug}/live", get(page))
        .route("/events/{slug}/live/now", get(now))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LiveQuery {
    wall: Option<String>,
}

/// One live row as the tables show it.
pub struct Shown {
    /// Entry, service or partner id, or funnel step.
    pub id: String,
    /// `entry`, `service`, `partner`, `funnel`.
    pub kind: &'static str,
    /// Rate (qps, or events per second for a funnel step).
    pub qps: String,
    /// Capacity.
    pub capacity: String,
    /// Target (planned peak) qps.
    pub target: String,
    /// Water level as a percentage.
    pub level: String,
    /// p99 in ms.
    pub p99: String,
    /// Error rate as a percentage.
    pub errors: String,
    /// CSS status name.
    pub status: &'static str,
    /// `ok`, `stale`, `failed`, `missing`.
    pub source: &'static str,
    /// The source's error, for stale and failed rows.
    pub error: Option<String>,
    /// Conversion and planned conversion (funnel steps).
    pub conversion: String,
    /// Sparkline of qps against capacity and target (entries).
    pub spark: Option<Markup>,
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), qps)
}

fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |r| percent(Some(r)))
}

fn source_name(s: SourceState) -> &'static str {
    match s {
        SourceState::Ok => "ok",
        SourceState::Stale => "stale",
        SourceState::Failed => "failed",
        SourceState::Missing => "missing",
    }
}

fn shown(kind: TargetKind, r: &LiveRow, p: &monitoring::Published) -> Shown {
    let error = r
        .error
        .clone()
        .or_else(|| p.errors.get(&(kind, r.id.clone())).cloned())
        .filter(|_| matches!(r.source, SourceState::Stale | SourceState::Failed));
    Shown {
        id: r.id.clone(),
        kind: match kind {
            TargetKind::FunnelStep => "funnel",
            k => k.as_str(),
        },
        qps: num(r.qps),
        capacity: num(r.capacity_qps),
        target: num(r.target_qps),
        level: percent(r.water_level),
        p99: r
            .p99_ms
            .map_or_else(|| "—".to_owned(), |v| format!("{v:.0}")),
        errors: ratio(r.error_rate),
        status: status_name(r.status),
        source: source_name(r.source),
        error,
        conversion: match (r.conversion, r.planned_conversion) {
            (None, None) => "—".to_owned(),
            (c, planned) => format!("{} (plan {})", ratio(c), ratio(planned)),
        },
        spark: None,
    }
}

/// One alert as the list shows it.
pub struct AlertShown {
    /// Rule id.
    pub id: String,
    /// `entry create-order`.
    pub target: String,
    /// Signal.
    pub metric: &'static str,
    /// Severity.
    pub severity: &'static str,
    /// `pending`, `firing`, `resolved`.
    pub state: &'static str,
    /// Last value.
    pub value: String,
    /// Threshold.
    pub threshold: String,
    /// Since when (event time zone), and for how long.
    pub since: String,
    /// A firing alert that silences it.
    pub inhibited_by: Option<String>,
}

/// One stored transition.
pub struct TransitionShown {
    /// When.
    pub at: String,
    /// Rule id.
    pub rule: String,
    /// `pending`, `fired`, `resolved`, `cancelled`.
    pub change: &'static str,
    /// The value that caused it.
    pub value: String,
}

/// A tick's time with seconds in the event's time zone `tz`
/// (`2026-09-30 10:00:05 CST`).
fn clock(ms: u64, tz: &str) -> String {
    i64::try_from(ms).map_or_else(|_| String::new(), |ms| fmt_ms_seconds(ms, tz))
}

/// The event's time zone (its current plan's; UTC without a plan).
async fn zone(state: &AppState, event: &Event) -> Result<String, UiError> {
    Ok(current_plan(state, event)
        .await?
        .map_or_else(|| "UTC".to_owned(), |(_, plan)| plan.event.timezone.clone()))
}

fn change_name(c: Change) -> &'static str {
    match c {
        Change::Pending => "pending",
        Change::Fired => "fired",
        Change::Resolved => "resolved",
        Change::Cancelled => "cancelled",
    }
}

/// An alert's value or threshold in its signal's unit: water levels and
/// error rates as percentages (`118,518.4 %`, `70.0 %`), others as numbers.
fn value_of(metric: &str, v: f64) -> String {
    match metric {
        "water_level" | "error_rate" if v.is_finite() => format!("{} %", qps(v * 100.0)),
        _ => value(v),
    }
}

fn value(v: f64) -> String {
    if v.is_infinite() {
        "∞".to_owned()
    } else if v.abs() < 10.0 {
        // Up to three decimals, trailing zeros dropped (`2.5`, `3`).
        let text = format!("{v:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        qps(v)
    }
}

#[derive(Template)]
#[template(path = "live.html")]
struct LivePage {
    chrome: Chrome,
    wall: bool,
    self_href: String,
    at: Option<String>,
    entries: Vec<Shown>,
    services: Vec<Shown>,
    partners: Vec<Shown>,
    funnel: Vec<Shown>,
    alerts: Vec<AlertShown>,
    history: Vec<TransitionShown>,
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    q: Result<Query<LiveQuery>, QueryRejection>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let q = query(q)?;
    let wall = match q.wall.as_deref() {
        None | Some("" | "0") => false,
        Some("1") => true,
        Some(other) => return Err(bad(format!("wall `{other}` is neither 1 nor 0"))),
    };
    let (mut chrome, event) = Chrome::event(&state, &session, &slug, Nav::Live).await?;
    if wall {
        chrome.theme = Theme::Warroom;
    }
    let p = monitoring::current(&state, &event).await?;
    let tz = zone(&state, &event).await?;
    let tz = tz.as_str();
    let mut entries: Vec<Shown> = Vec::new();
    for r in &p.live.entries {
        let mut row = shown(TargetKind::Entry, r, &p);
        let points = state
            .store
            .history(event.id, TargetKind::Entry, &r.id, 0)
            .await?;
        let series: Vec<(f64, f64)> = points
            .iter()
            .map(|pt| (f64::from(pt.t_s), f64::from(pt.qps_avg)))
            .collect();
        let refs = [
            Reference {
                class: "ref-capacity",
                value: r.capacity_qps.unwrap_or(f64::NAN),
            },
            Reference {
                class: "ref-target",
                value: r.target_qps.unwrap_or(f64::NAN),
            },
        ];
        row.spark = Some(sparkline(
            &series,
            &refs,
            &format!("{} qps against capacity and target", r.id),
        ));
        entries.push(row);
    }
    let rows = |kind, rows: &[LiveRow]| -> Vec<Shown> {
        rows.iter().map(|r| shown(kind, r, &p)).collect()
    };
    let now = state.now();
    let alerts = p
        .alerts
        .iter()
        .map(|a| AlertShown {
            id: a.id.clone(),
            target: format!("{} {}", a.target.kind.as_str(), a.target.id),
            metric: a.metric,
            severity: a.severity.as_str(),
            state: a.state,
            value: a
                .value
                .map_or_else(|| "—".to_owned(), |v| value_of(a.metric, v)),
            threshold: value_of(a.metric, a.threshold),
            since: a
                .since
                .and_then(|t| i64::try_from(t).ok())
                .map_or_else(String::new, |t| {
                    format!("{} ({} ago)", fmt_ms(t, tz), fmt_duration(now - t))
                }),
            inhibited_by: a.inhibited_by.clone(),
        })
        .collect();
    let stored = state
        .store
        .alert_transitions(event.id, 0, HISTORY_READ)
        .await?;
    let history = stored
        .iter()
        .rev()
        .take(HISTORY_SHOWN)
        .map(|t| TransitionShown {
            at: clock(t.transition.at_ms, tz),
            rule: t.transition.rule.clone(),
            change: change_name(t.transition.change),
            value: value_of(t.transition.signal.as_str(), t.transition.value),
        })
        .collect();
    let self_href = format!(
        "{}{}",
        chrome.href(Nav::Live),
        if wall { "?wall=1" } else { "" }
    );
    render(&LivePage {
        wall,
        self_href,
        at: (p.live.at_ms > 0).then(|| clock(p.live.at_ms, tz)),
        services: rows(TargetKind::Service, &p.live.services),
        partners: rows(TargetKind::Partner, &p.live.partners),
        funnel: rows(TargetKind::FunnelStep, &p.live.funnel),
        entries,
        alerts,
        history,
        chrome,
    })
}

#[derive(Template)]
#[template(path = "live_now.html")]
struct LiveNow {
    live_href: String,
    at: Option<String>,
    rows: Vec<Shown>,
    firing: usize,
}

/// The live values of entries and services at the latest tick, as an HTML
/// fragment (no page around it) for the overview and targets pages.
async fn now(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let (chrome, event) = Chrome::event(&state, &session, &slug, Nav::Live).await?;
    let p = monitoring::current(&state, &event).await?;
    let tz = zone(&state, &event).await?;
    let rows = p
        .live
        .entries
        .iter()
        .map(|r| shown(TargetKind::Entry, r, &p))
        .chain(
            p.live
                .services
                .iter()
                .map(|r| shown(TargetKind::Service, r, &p)),
        )
        .collect();
    render(&LiveNow {
        live_href: chrome.href(Nav::Live),
        at: (p.live.at_ms > 0).then(|| clock(p.live.at_ms, &tz)),
        rows,
        firing: p.alerts.iter().filter(|a| a.state == "firing").count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_values_read_in_their_signal_s_unit() {
        assert_eq!(value_of("water_level", 0.7), "70 %");
        assert_eq!(value_of("water_level", 1185.184), "118,518.4 %");
        assert_eq!(value_of("error_rate", 0.025), "2.5 %");
        assert_eq!(value_of("water_level", f64::INFINITY), "∞");
        assert_eq!(value_of("source_down", 3.0), "3");
        assert_eq!(value_of("source_down", 2.5), "2.5");
        assert_eq!(value_of("traffic_ratio", 1.2), "1.2");
        assert_eq!(value_of("qps", 12_345.0), "12,345");
    }
}
