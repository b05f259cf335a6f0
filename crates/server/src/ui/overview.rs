//! The event overview (`/ui/events/{slug}`), the war room's home screen:
//! the current phase and a countdown to the next boundary, the readiness
//! scorecard per business line (the same scorecard as the API's
//! `/plan/readiness`), what is frozen now (the plan's windows and active
//! exceptions, as the gate sees them), and who is on call now. Each card
//! links to the page with the details.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use jiff::Timestamp;
use seawall_plan::gate::ExceptionState;
use seawall_plan::model::PHASES;
use seawall_plan::oncall::{self, PersonRef};
use seawall_plan::readiness::{self, LineReadiness};
use seawall_plan::{Plan, freeze};

use super::chrome::{fmt_duration, fmt_ms};
use super::targets::{current, qps};
use super::{Chrome, Nav, Session, UiError, render};
use crate::auth::READERS;
use crate::service::gate::{to_gate_exception, ts};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/events/{slug}", get(page))
}

/// One phase of the event on the timeline.
pub struct PhaseView {
    /// Phase name.
    pub name: String,
    /// Start, event time.
    pub start: String,
    /// End, event time.
    pub end: String,
    /// `past`, `current` or `future`.
    pub state: &'static str,
}

/// The next phase boundary.
pub struct Boundary {
    /// `peak starts`, `freeze ends`.
    pub what: String,
    /// When, event time.
    pub when: String,
    /// When, ms since the epoch.
    pub at_ms: i64,
    /// Time left (`2h 05m`).
    pub left: String,
}

/// A business line's readiness card.
pub struct LineCard {
    /// Line id (`event` for the event-wide row).
    pub line: String,
    /// Display name.
    pub name: String,
    /// Go / no-go.
    pub go: bool,
    /// Target QPS through the line's entries.
    pub target: String,
    /// Open findings by severity, and accepted ones.
    pub error: usize,
    /// Warnings.
    pub warning: usize,
    /// Infos.
    pub info: usize,
    /// Accepted risks.
    pub accepted: usize,
    /// Services to scale: `ride-svc 8 → 10`.
    pub scaling: Vec<String>,
    /// Rows above the critical water level.
    pub critical: Vec<String>,
    /// Why no-go.
    pub reasons: Vec<String>,
    /// The line's rows on the targets page (none for the event-wide row).
    pub href: Option<String>,
}

fn card(r: &LineReadiness, slug: &str) -> LineCard {
    LineCard {
        href: (r.line != readiness::EVENT_ROW && r.line != oncall::ALL_LINES).then(|| {
            format!(
                "/ui/events/{slug}/targets?line={}",
                super::targets::urlencoding(&r.line)
            )
        }),
        line: r.line.clone(),
        name: r.name.clone(),
        go: r.go,
        target: qps(r.target_qps),
        error: r.findings.error,
        warning: r.findings.warning,
        info: r.findings.info,
        accepted: r.findings.accepted,
        scaling: r
            .scaling
            .iter()
            .map(|s| match (s.instances, s.instances_needed) {
                (Some(now), Some(need)) => format!("{} {now} → {need} instances", s.service),
                (None, Some(need)) => format!("{} → {need} instances", s.service),
                _ => s.service.clone(),
            })
            .collect(),
        critical: r
            .critical
            .iter()
            .map(|c| format!("{} {}", c.kind, c.id))
            .collect(),
        reasons: r.reasons.clone(),
    }
}

/// A freeze window or exception in force now.
pub struct FrozenView {
    /// Window id.
    pub id: String,
    /// Service globs.
    pub services: String,
    /// Change kinds.
    pub kinds: String,
    /// Until, event time.
    pub until: String,
    /// Time left.
    pub left: String,
    /// Why.
    pub reason: Option<String>,
}

/// Who is on call for a line now.
pub struct DutyView {
    /// Line id.
    pub line: String,
    /// Line name.
    pub name: String,
    /// Primary (name, contact).
    pub primary: Option<(String, String)>,
    /// Secondary (name, contact).
    pub secondary: Option<(String, String)>,
}

fn person(p: &PersonRef) -> (String, String) {
    let contact = p
        .phone
        .clone()
        .or_else(|| p.im.iter().next().map(|(k, v)| format!("{k}: {v}")))
        .or_else(|| p.email.clone())
        .unwrap_or_default();
    (p.name.clone(), contact)
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    has_plan: bool,
    slug: String,
    plan_name: String,
    tz: String,
    version: i64,
    now: String,
    phase: Option<String>,
    next: Option<Boundary>,
    phases: Vec<PhaseView>,
    go: bool,
    lines: Vec<LineCard>,
    event_row: Option<LineCard>,
    frozen: Vec<FrozenView>,
    exceptions: Vec<FrozenView>,
    pending: usize,
    oncall: Vec<DutyView>,
    findings: usize,
    scaling: usize,
}

/// The phases containing `now` (plan order; the most specific, shortest,
/// first), the next boundary after `now`, and the timeline.
fn phases(
    plan: &Plan,
    now: Timestamp,
) -> (Option<String>, Option<(String, Timestamp)>, Vec<PhaseView>) {
    let tz = plan.event.timezone.as_str();
    let ms = |t: Timestamp| fmt_ms(t.as_millisecond(), tz);
    let mut current: Vec<(&String, i128)> = Vec::new();
    let mut next: Option<(String, Timestamp)> = None;
    let mut views = Vec::new();
    let mut names: Vec<&String> = plan.event.phases.keys().collect();
    // Known phases in their natural order, then any others in plan order.
    names.sort_by_key(|n| PHASES.iter().position(|p| p == n).unwrap_or(PHASES.len()));
    for name in names {
        let Some(w) = plan.event.phases.get(name) else {
            continue;
        };
        let state = if w.contains(now) {
            current.push((name, (w.end.as_nanosecond() - w.start.as_nanosecond())));
            "current"
        } else if w.end <= now {
            "past"
        } else {
            "future"
        };
        for (t, what) in [(w.start, "starts"), (w.end, "ends")] {
            if t > now && next.as_ref().is_none_or(|(_, n)| t < *n) {
                next = Some((format!("{name} {what}"), t));
            }
        }
        views.push(PhaseView {
            name: name.clone(),
            start: ms(w.start),
            end: ms(w.end),
            state,
        });
    }
    current.sort_by_key(|(_, len)| *len);
    let phase = (!current.is_empty()).then(|| {
        current
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(" · ")
    });
    (phase, next, views)
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let (mut chrome, event) = Chrome::event(&state, &session, &slug, Nav::Overview).await?;
    chrome.title = format!("Overview · {}", event.name);
    let now_ms = state.now();
    let Some(an) = current(&state, &slug).await? else {
        return render(&OverviewPage {
            chrome,
            has_plan: false,
            slug,
            plan_name: event.name,
            tz: "UTC".into(),
            version: 0,
            now: fmt_ms(now_ms, "UTC"),
            phase: None,
            next: None,
            phases: Vec::new(),
            go: false,
            lines: Vec::new(),
            event_row: None,
            frozen: Vec::new(),
            exceptions: Vec::new(),
            pending: 0,
            oncall: Vec::new(),
            findings: 0,
            scaling: 0,
        });
    };
    let plan = an.plan().clone();
    let tz = plan.event.timezone.clone();
    let now = ts(now_ms)?;
    let (phase, next, phase_views) = phases(&plan, now);
    let card_data = readiness::scorecard(&plan, &an.targets, &an.table, &an.findings);

    let left = |t: Timestamp| fmt_duration(t.as_millisecond() - now_ms);
    let frozen = freeze::calendar(&plan)
        .into_iter()
        .filter(|w| w.start <= now && now < w.end)
        .map(|w| FrozenView {
            id: w.id,
            services: w.services.join(", "),
            kinds: w.kinds.join(", "),
            until: fmt_ms(w.end.as_millisecond(), &tz),
            left: left(w.end),
            reason: w.reason,
        })
        .collect();
    let mut exceptions = Vec::new();
    let mut pending = 0;
    for e in state.store.exceptions(event.id).await? {
        let g = to_gate_exception(&e)?;
        match g.state_at(now) {
            ExceptionState::Active => exceptions.push(FrozenView {
                id: g.id.clone(),
                services: g.services.join(", "),
                kinds: g
                    .kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                until: fmt_ms(g.end.as_millisecond(), &tz),
                left: left(g.end),
                reason: Some(g.reason.clone()),
            }),
            ExceptionState::Pending => pending += 1,
            _ => {}
        }
    }
    let oncall = oncall::on_call(&plan, now)
        .into_iter()
        .map(|d| DutyView {
            line: d.line,
            name: d.line_name,
            primary: d.primary.as_ref().map(person),
            secondary: d.secondary.as_ref().map(person),
        })
        .collect();
    let lines = card_data.lines.iter().map(|l| card(l, &slug)).collect();
    let event_row = Some(card(&card_data.event, &slug));
    let findings = an.findings.iter().filter(|f| f.accepted.is_none()).count();
    let scaling = an.table.services.iter().filter(|r| r.needs_scaling).count();
    render(&OverviewPage {
        chrome,
        has_plan: true,
        slug,
        plan_name: plan.event.name.clone(),
        version: an.a.version,
        now: fmt_ms(now_ms, &tz),
        phase,
        next: next.map(|(what, t)| Boundary {
            what,
            when: fmt_ms(t.as_millisecond(), &tz),
            at_ms: t.as_millisecond(),
            left: left(t),
        }),
        phases: phase_views,
        go: card_data.go,
        lines,
        event_row,
        frozen,
        exceptions,
        pending,
        oncall,
        findings,
        scaling,
        tz,
    })
}
