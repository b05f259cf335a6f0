//! The emergency manual at `/ui/events/{slug}/emergency`: every emergency
//! plan of the current plan version — trigger, actions, impact, owner,
//! expected minutes and drills — grouped by phase (before, during, after
//! the event), each with an anchor (`#plan-<id>`) to paste into the war
//! room's IM group. Plans never drilled are flagged: nobody knows whether
//! they work or how long they take.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use seawall_plan::model::{Action, EmergencyPlan, Plan, PlanPhase, Trigger};
use seawall_plan::oncall;

use super::chart::fmt_num;
use super::chrome::fmt_ms;
use super::{Chrome, Nav, Session, UiError, render};
use crate::auth::READERS;
use crate::service::gate::current_plan;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/events/{slug}/emergency", get(page))
}

/// One action as the manual shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRow {
    /// `scale`, `rate_limit`, …
    pub kind: &'static str,
    /// Its parameters in words.
    pub what: String,
}

/// One drill.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillRow {
    /// When, in the event's time zone.
    pub when: String,
    /// How long it took.
    pub minutes: Option<String>,
    /// Took longer than the plan expects.
    pub slow: bool,
    /// Whether it worked.
    pub passed: bool,
    /// Notes.
    pub notes: String,
}

/// One emergency plan as a card of the manual.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanCard {
    /// Plan id (the anchor is `plan-<id>`).
    pub id: String,
    /// Display name (the id when it has none).
    pub name: String,
    /// Business line, if any.
    pub line: Option<String>,
    /// The trigger in words (`None`: not written).
    pub trigger: Option<String>,
    /// Whether a person starts it.
    pub manual: bool,
    /// Actions in order.
    pub actions: Vec<ActionRow>,
    /// Business impact.
    pub impact: Option<String>,
    /// Owner's name.
    pub owner: Option<String>,
    /// How to reach the owner.
    pub owner_contact: String,
    /// Expected minutes.
    pub expected: Option<String>,
    /// Drills, oldest first.
    pub drills: Vec<DrillRow>,
    /// The last drill's time.
    pub last_drilled: Option<String>,
    /// Whether the last drill passed.
    pub last_passed: bool,
}

/// Plans of one phase.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseGroup {
    /// `pre`, `during`, `post`.
    pub phase: &'static str,
    /// Heading.
    pub title: &'static str,
    /// Plans in plan order.
    pub plans: Vec<PlanCard>,
}

/// How to reach a person: phone, else the first IM handle, else e-mail
/// (the order `seawall plan oncall` uses).
pub fn contact(p: &oncall::PersonRef) -> String {
    if let Some(phone) = &p.phone {
        return phone.clone();
    }
    if let Some((platform, handle)) = p.im.iter().next() {
        return format!("{platform}: {handle}");
    }
    p.email.clone().unwrap_or_default()
}

/// A URL without its query and fragment (webhook URLs carry tokens there).
pub fn url_without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

fn trigger_text(t: &Trigger) -> String {
    match t {
        Trigger::Manual => "manual: a person on the war room decides".to_owned(),
        Trigger::Metric {
            target,
            metric,
            above,
            for_seconds,
        } => format!(
            "{} of {target} above {} for {}s",
            metric.as_str(),
            fmt_num(*above),
            fmt_num(*for_seconds)
        ),
        Trigger::Alert(name) => format!("alert {name}"),
    }
}

fn action_row(a: &Action) -> ActionRow {
    let what = match a {
        Action::Scale { service, instances } => format!("{service} → {instances} instances"),
        Action::RateLimit { entry, qps } => format!("{entry} limited to {} QPS", fmt_num(*qps)),
        Action::Degrade { service, switch } => format!("{service}: switch {switch} on"),
        Action::CacheWarmup { service, keys, .. } => match keys {
            Some(k) => format!("{service}: {k}"),
            None => service.clone(),
        },
        Action::Fallback { target } => format!("{target} → its fallback"),
        Action::Notify { channel, message } => match message {
            Some(m) => format!("{channel}: “{m}”"),
            None => channel.clone(),
        },
        Action::Webhook { url, method, .. } => format!("{method} {}", url_without_query(url)),
    };
    ActionRow {
        kind: a.kind(),
        what,
    }
}

/// A plan as a card, times in zone `tz`.
pub fn card(plan: &Plan, id: &str, p: &EmergencyPlan) -> PlanCard {
    let tz = &plan.event.timezone;
    let mut drills: Vec<DrillRow> = p
        .drills
        .iter()
        .map(|d| DrillRow {
            when: fmt_ms(d.at_time.as_millisecond(), tz),
            minutes: d.minutes.map(fmt_num),
            slow: matches!((d.minutes, p.expected_minutes), (Some(m), Some(e)) if m > e),
            passed: d.passed,
            notes: d.notes.clone().unwrap_or_default(),
        })
        .collect();
    let mut order: Vec<usize> = (0..p.drills.len()).collect();
    order.sort_by_key(|&i| p.drills[i].at_time);
    drills = order.iter().map(|&i| drills[i].clone()).collect();
    let last = order.last().map(|&i| &p.drills[i]);
    let owner = p.owner.as_deref().map(|o| oncall::person(plan, o));
    PlanCard {
        id: id.to_owned(),
        name: p.name.clone().unwrap_or_else(|| id.to_owned()),
        line: p.line.clone(),
        trigger: p.trigger.as_ref().map(trigger_text),
        manual: matches!(p.trigger, Some(Trigger::Manual)),
        actions: p.actions.iter().map(action_row).collect(),
        impact: p.impact.clone(),
        owner_contact: owner.as_ref().map(contact).unwrap_or_default(),
        owner: owner.map(|o| o.name),
        expected: p.expected_minutes.map(fmt_num),
        drills,
        last_drilled: last.map(|d| fmt_ms(d.at_time.as_millisecond(), tz)),
        last_passed: last.is_some_and(|d| d.passed),
    }
}

/// The plan's emergency plans grouped by phase (empty phases left out).
pub fn groups(plan: &Plan) -> Vec<PhaseGroup> {
    [
        (PlanPhase::Pre, "Before the event"),
        (PlanPhase::During, "During the event"),
        (PlanPhase::Post, "After the event"),
    ]
    .into_iter()
    .map(|(phase, title)| PhaseGroup {
        phase: phase.as_str(),
        title,
        plans: plan
            .emergency_plans
            .iter()
            .filter(|(_, p)| p.phase == phase)
            .map(|(id, p)| card(plan, id, p))
            .collect(),
    })
    .filter(|g| !g.plans.is_empty())
    .collect()
}

#[derive(Template)]
#[template(path = "emergency.html")]
struct EmergencyPage {
    chrome: Chrome,
    has_plan: bool,
    version: i64,
    groups: Vec<PhaseGroup>,
    never_drilled: usize,
    total: usize,
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let (chrome, event) = Chrome::event(&state, &session, &slug, Nav::Emergency).await?;
    let current = current_plan(&state, &event).await?;
    let (version, groups) = match &current {
        Some((v, plan)) => (*v, groups(plan)),
        None => (0, Vec::new()),
    };
    let all = groups.iter().flat_map(|g| &g.plans);
    render(&EmergencyPage {
        chrome,
        has_plan: current.is_some(),
        version,
        never_drilled: all.clone().filter(|p| p.drills.is_empty()).count(),
        total: all.count(),
        groups,
    })
}
