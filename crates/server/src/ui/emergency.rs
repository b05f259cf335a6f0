//! The emergency manual at `/ui/events/{slug}/emergency`: every emergency
//! plan of the current plan version — trigger, actions, impact, owner,
//! expected minutes and drills — grouped by phase (before, during, after
//! the event), each with an anchor (`#plan-<id>`) to paste into the war
//! room's IM group. Plans never drilled are flagged: nobody knows whether
//! they work or how long they take.
//!
//! Each plan has Run and Dry run buttons, and the page lists the event's
//! runs with each action's status and Approve / Roll back / Resume /
//! Cancel where they apply. A run a restart left waiting for a commander
//! shows, above its buttons, each step whose outcome is unknown and what
//! to check; after an interrupted undo the buttons read "Mark the undo
//! done" and "Apply the undo again", because that is what Resume and Roll
//! back then do. The buttons post forms to handlers that call
//! `service::emergency` — the same roles, approvals and audited store
//! changes as the JSON API; buttons a user may not use are hidden, and the
//! server refuses them anyway.
//!
//! Drills: a plan with a `drill` section has a Drill button
//! (`service::drills::start`, its fault injected with a lease); the page
//! lists the event's drills with each step's verdict and a Stop all drills
//! button (the global stop). Drills recorded in the store appear among the
//! plan's drills beside the YAML's, and a passed one counts as drilled.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use seawall_plan::model::{Action, EmergencyPlan, Plan, PlanPhase, Trigger};
use seawall_plan::oncall;

use super::chart::fmt_num;
use super::chrome::fmt_ms;
use super::{Chrome, Form, Nav, Session, UiError, render};
use crate::auth::{PLANNERS, READERS, RESPONDERS};
use crate::error::ApiError;
use crate::service::drills::{self, Drill, StartDrill};
use crate::service::emergency::{self, Decision, EmergencyRun};
use crate::service::gate::current_plan;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{slug}/emergency", get(page))
        .route("/events/{slug}/emergency/{id}/run", post(start))
        .route("/events/{slug}/emergency/runs/{n}/{what}", post(decide))
        .route("/events/{slug}/emergency/{id}/drill", post(start_drill))
        .route("/events/{slug}/emergency/drills/stop", post(stop_drills))
}

/// One run as the page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    /// The run.
    pub run: EmergencyRun,
    /// Approvals given and needed (`1/2`).
    pub approvals: String,
    /// Buttons this user may press, in order.
    pub buttons: Vec<RunButton>,
    /// For a run a restart left waiting for a commander: each step whose
    /// outcome is unknown, with what to check before pressing a button.
    pub attention: Vec<Attention>,
    /// Whether a restart interrupted an undo (`undo_unknown`): the
    /// buttons then decide about the undo, not about the actions.
    pub interrupted_undo: bool,
}

/// A decision button on a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunButton {
    /// The decision it posts: `approve`, `rollback`, `resume`, `cancel`
    /// (also the button's id prefix).
    pub what: &'static str,
    /// Its label.
    pub label: &'static str,
    /// What pressing it does, in words, where the label alone could
    /// mislead.
    pub explain: Option<&'static str>,
}

/// A step whose outcome a restart left unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct Attention {
    /// The step's number, from 1.
    pub step: usize,
    /// Its kind.
    pub kind: String,
    /// What it works on.
    pub target: Option<String>,
    /// `unknown` (the action was in flight) or `undo_unknown` (its undo was).
    pub status: String,
    /// What to check (the run's `error` for that step).
    pub check: String,
}

/// What Resume and Roll back mean depends on what the restart
/// interrupted: after an interrupted action, Resume goes on with the
/// actions left and Roll back undoes what the run did; after an
/// interrupted undo (`undo_unknown`), Resume counts the undo as done and
/// goes on rolling back the rest, and Roll back applies that undo again
/// (`seawall_respond::run::Run::resume` / `begin_rollback`). The labels
/// say so, so that nobody re-applies an undo meaning to "resume".
fn attention_buttons(interrupted_undo: bool) -> Vec<RunButton> {
    if interrupted_undo {
        vec![
            RunButton {
                what: "resume",
                label: "Mark the undo done",
                explain: Some(
                    "You checked that the interrupted undo took effect: it counts as \
                     rolled back and the rollback continues with the rest. Nothing is \
                     applied again.",
                ),
            },
            RunButton {
                what: "rollback",
                label: "Apply the undo again",
                explain: Some(
                    "The interrupted undo did not take effect: it is applied again, \
                     then the rollback continues with the rest.",
                ),
            },
        ]
    } else {
        vec![
            RunButton {
                what: "resume",
                label: "Resume",
                explain: Some(
                    "You checked the action whose outcome is unknown: the run goes on \
                     with the actions left. Nothing is applied again.",
                ),
            },
            RunButton {
                what: "rollback",
                label: "Roll back",
                explain: Some(
                    "Undo what the run did, the action whose outcome is unknown \
                     included, last first.",
                ),
            },
        ]
    }
}

fn button(what: &'static str, label: &'static str) -> RunButton {
    RunButton {
        what,
        label,
        explain: None,
    }
}

fn run_row(run: EmergencyRun, responder: bool, planner: bool) -> RunRow {
    let needed = match run.approval.as_str() {
        "one" => 1,
        "two" => 2,
        _ => 0,
    };
    let acted = run.steps.iter().any(|s| s.status != "pending");
    let interrupted_undo =
        run.status == "needs_attention" && run.steps.iter().any(|s| s.status == "undo_unknown");
    let buttons = match run.status.as_str() {
        "awaiting_approval" => {
            let mut b = Vec::new();
            if planner {
                b.push(button("approve", "Approve"));
            }
            if responder {
                b.push(button("cancel", "Cancel"));
            }
            b
        }
        "running" if !acted && responder => vec![button("cancel", "Cancel")],
        "needs_attention" if responder => attention_buttons(interrupted_undo),
        "succeeded" | "failed" if responder && !run.dry_run => {
            vec![button("rollback", "Roll back")]
        }
        _ => Vec::new(),
    };
    let attention = if run.status == "needs_attention" {
        run.steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.status == "unknown" || s.status == "undo_unknown")
            .map(|(i, s)| Attention {
                step: i + 1,
                kind: s.kind.clone(),
                target: s.target.clone(),
                status: s.status.clone(),
                check: s.error.clone().unwrap_or_default(),
            })
            .collect()
    } else {
        Vec::new()
    };
    RunRow {
        approvals: format!("{}/{needed}", run.approvals.len()),
        run,
        buttons,
        attention,
        interrupted_undo,
    }
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
    /// Whether the plan says how to drill it (`drill`).
    pub drillable: bool,
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
        drillable: p.drill.is_some(),
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
    runs: Vec<RunRow>,
    drills: Vec<Drill>,
    can_run: bool,
    notice: Option<String>,
}

/// A run just started or decided (a notice).
#[derive(Debug, Default, serde::Deserialize)]
pub struct EmergencyQuery {
    /// The run's number.
    pub run: Option<i64>,
    /// A drill just started.
    pub drill: Option<i64>,
    /// How many drills the global stop ended.
    pub stopped: Option<usize>,
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    Query(q): Query<EmergencyQuery>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let (chrome, event) = Chrome::event(&state, &session, &slug, Nav::Emergency).await?;
    let current = current_plan(&state, &event).await?;
    let mut drills = drills::list(&state, &slug, None).await?.drills;
    let (version, groups) = match &current {
        Some((v, plan)) => (*v, groups(&with_drills(plan, &drills))),
        None => (0, Vec::new()),
    };
    drills.reverse();
    drills.truncate(RUNS_SHOWN);
    let all = groups.iter().flat_map(|g| &g.plans);
    let responder = session.auth.require(RESPONDERS).is_ok();
    let planner = session.auth.require(PLANNERS).is_ok();
    let mut runs: Vec<RunRow> = emergency::list(&state, &slug, None)
        .await?
        .runs
        .into_iter()
        .rev()
        .map(|r| run_row(r, responder, planner))
        .collect();
    runs.truncate(RUNS_SHOWN);
    render(&EmergencyPage {
        chrome,
        has_plan: current.is_some(),
        version,
        never_drilled: all.clone().filter(|p| p.drills.is_empty()).count(),
        total: all.count(),
        groups,
        runs,
        drills,
        can_run: responder,
        notice: match (q.run, q.drill, q.stopped) {
            (Some(n), _, _) => Some(format!("Run {n}: see its actions below.")),
            (_, Some(n), _) => Some(format!(
                "Drill {n}: its fault is injected; see its steps below."
            )),
            (_, _, Some(n)) => Some(format!("{n} drill(s) stopped, their faults removed.")),
            _ => None,
        },
    })
}

/// `plan` with the drills recorded in the store among each emergency
/// plan's own, for the cards: those with a verdict (passed or failed); a
/// stopped drill judged nothing and is only in the Drills table.
fn with_drills(plan: &Plan, recorded: &[Drill]) -> Plan {
    let mut plan = plan.clone();
    for d in recorded
        .iter()
        .filter(|d| matches!(d.status.as_str(), "passed" | "failed"))
    {
        if let (Some(ep), Some(drill)) = (
            plan.emergency_plans.get_mut(&d.plan_id),
            drills::as_plan_drill(d),
        ) {
            ep.drills.push(drill);
        }
    }
    plan
}

async fn start_drill(
    State(state): State<AppState>,
    session: Session,
    Path((slug, id)): Path<(String, String)>,
    Form(form): Form<DecideForm>,
) -> Result<Response, UiError> {
    session.check_csrf(form.csrf.as_deref())?;
    session.auth.require(RESPONDERS)?;
    let d = drills::start(
        &state,
        session.auth.actor(),
        &slug,
        &id,
        &StartDrill::default(),
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/ui/events/{slug}/emergency?drill={}#drill-{}",
        d.id, d.id
    ))
    .into_response())
}

async fn stop_drills(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    Form(form): Form<DecideForm>,
) -> Result<Response, UiError> {
    session.check_csrf(form.csrf.as_deref())?;
    session.auth.require(RESPONDERS)?;
    let stopped = drills::stop(&state, session.auth.actor(), &slug).await?;
    Ok(Redirect::to(&format!(
        "/ui/events/{slug}/emergency?stopped={}#drills",
        stopped.drills.len()
    ))
    .into_response())
}

/// How many runs the page lists, newest first.
pub const RUNS_SHOWN: usize = 50;

/// The Run / Dry run form.
#[derive(Debug, serde::Deserialize)]
struct RunForm {
    csrf: Option<String>,
    dry_run: Option<String>,
}

async fn start(
    State(state): State<AppState>,
    session: Session,
    Path((slug, id)): Path<(String, String)>,
    Form(form): Form<RunForm>,
) -> Result<Response, UiError> {
    session.check_csrf(form.csrf.as_deref())?;
    session.auth.require(RESPONDERS)?;
    let dry_run = form
        .dry_run
        .is_some_and(|v| v == "1" || v == "on" || v == "true");
    let run = emergency::start(&state, session.auth.actor(), &slug, &id, dry_run).await?;
    Ok(Redirect::to(&format!(
        "/ui/events/{slug}/emergency?run={}#run-{}",
        run.id, run.id
    ))
    .into_response())
}

/// A decision's form: the CSRF token only.
#[derive(Debug, serde::Deserialize)]
struct DecideForm {
    csrf: Option<String>,
}

async fn decide(
    State(state): State<AppState>,
    session: Session,
    Path((slug, n, what)): Path<(String, String, String)>,
    Form(form): Form<DecideForm>,
) -> Result<Response, UiError> {
    session.check_csrf(form.csrf.as_deref())?;
    let decision = match what.as_str() {
        "approve" => Decision::Approve,
        "rollback" => Decision::Rollback,
        "resume" => Decision::Resume,
        "cancel" => Decision::Cancel,
        _ => {
            return Err(UiError(ApiError::NotFound(format!(
                "`{what}` is not a decision on a run (approve, rollback, resume, cancel)"
            ))));
        }
    };
    session.auth.require(if decision == Decision::Approve {
        PLANNERS
    } else {
        RESPONDERS
    })?;
    let n: i64 = n
        .parse()
        .map_err(|_| UiError(ApiError::not_found(format!("emergency run `{n}`"))))?;
    emergency::decide(&state, &session.auth, &slug, n, decision).await?;
    Ok(Redirect::to(&format!("/ui/events/{slug}/emergency?run={n}#run-{n}")).into_response())
}
