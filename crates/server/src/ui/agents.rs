//! Rehearsal agents and runs across them at `/ui/events/{slug}/agents`:
//! the agents registered with this replica (name, Job index, idle /
//! running / silent, when last heard, current run), a form to run one of
//! the event's plan scenarios across N of them, and the runs on this
//! replica — status, each agent's share and progress, the merged seconds
//! and p99 so far, refreshed every two seconds with htmx, and an Abort
//! button.
//!
//! Why a page: a commander in the war room starts and stops a run across
//! the fleet without a terminal, and everybody sees it progress. Starting
//! and aborting take a planner (admin, commander), as `POST /fleet/runs`
//! does: the scenario names the target, the rate and whether the load is
//! tagged. The rules live in the service layer: the run starts through
//! `service::fleet_keep::start` (the scenario built from the current plan
//! as `seawall rehearse` builds it, then `service::fleet::start`), which
//! also keeps the merged `seawall.run/v1` as one of the event's runs when
//! it ends (no client is there to upload it), and the Abort button calls
//! `service::fleet::abort`, the API's abort.

use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use seawall_load::HttpVersion;
use seawall_load::from_plan::ScenarioOptions;
use serde::Deserialize;

use super::chrome::fmt_ms_seconds;
use super::{Chrome, Form, Nav, Session, UiError, render};
use crate::auth::{PLANNERS, READERS};
use crate::error::ApiError;
use crate::service::fleet;
use crate::service::fleet_keep::{self, EventRun, RunPanel};
use crate::service::gate::current_plan;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{slug}/agents", get(page).post(start))
        .route("/events/{slug}/agents/runs/{id}/abort", post(abort))
}

/// One agent as the table shows it.
#[derive(Debug, Clone)]
struct AgentRow {
    id: String,
    name: String,
    index: String,
    /// `idle`, `running` or `silent`.
    status: &'static str,
    status_class: &'static str,
    heard: String,
    ago: String,
    run: Option<String>,
}

/// One agent's part of a run.
#[derive(Debug, Clone)]
struct PartRow {
    name: String,
    share: String,
    status: String,
    status_class: &'static str,
    last_second: String,
}

/// One run across agents.
#[derive(Debug, Clone)]
struct RunRow {
    id: String,
    scenario: String,
    status: String,
    status_class: &'static str,
    running: bool,
    started: String,
    seconds: u64,
    requests: u64,
    p99: Vec<(String, String)>,
    stop: Option<String>,
    parts: Vec<PartRow>,
    /// The event whose page started it, and whether it is this one.
    event: Option<String>,
    this_event: bool,
    kept: Option<i64>,
    keep_error: Option<String>,
}

/// The start form's fields as typed (shown again after an error).
#[derive(Debug, Clone, Default, Deserialize)]
struct StartForm {
    csrf: Option<String>,
    #[serde(default)]
    scenario: String,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    agents: String,
    #[serde(default)]
    rate_multiple: String,
    #[serde(default)]
    duration: String,
    untagged: Option<String>,
    #[serde(default)]
    run_id: String,
    #[serde(default)]
    seed: String,
    #[serde(default)]
    connections: String,
    #[serde(default)]
    timeout: String,
    http2: Option<String>,
}

impl StartForm {
    fn defaults() -> StartForm {
        StartForm {
            agents: "1".to_owned(),
            seed: "1".to_owned(),
            connections: "256".to_owned(),
            timeout: "10".to_owned(),
            ..StartForm::default()
        }
    }
}

#[derive(Template)]
#[template(path = "agents.html")]
struct AgentsPage {
    chrome: Chrome,
    self_href: String,
    agents: Vec<AgentRow>,
    idle: usize,
    runs: Vec<RunRow>,
    can_start: bool,
    scenarios: Vec<String>,
    form: StartForm,
    untagged: bool,
    http2: bool,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct PageQuery {
    started: Option<String>,
    aborted: Option<String>,
}

/// A run id as this replica makes them (`f-<n>`), or nothing.
fn run_id(text: Option<&str>) -> Option<String> {
    text.filter(|t| {
        t.strip_prefix("f-").is_some_and(|n| {
            !n.is_empty() && n.len() <= 20 && n.bytes().all(|b| b.is_ascii_digit())
        })
    })
    .map(str::to_owned)
}

fn status_class(status: &str) -> &'static str {
    match status {
        "idle" | "complete" | "finished" => "ok",
        "running" => "info",
        "partial" | "silent" => "warn",
        "aborted" => "critical",
        _ => "neutral",
    }
}

/// Seconds since `ms` as `4 s ago`.
fn ago(now: i64, ms: i64) -> String {
    format!("{} s ago", (now - ms).max(0) / 1000)
}

fn run_row(p: RunPanel, slug: &str, tz: &str) -> RunRow {
    let count = p.run.agents.len();
    let running = p.run.result.is_none();
    RunRow {
        status_class: status_class(&p.run.status),
        status: p.run.status.clone(),
        running,
        started: fmt_ms_seconds(p.run.start_at_ms, tz),
        seconds: p.seconds,
        requests: p.run.requests,
        p99: p
            .p99_ms
            .iter()
            .map(|(entry, ms)| (entry.clone(), format!("{ms:.1} ms")))
            .collect(),
        stop: p.run.stop.clone(),
        parts: p
            .run
            .agents
            .iter()
            .map(|a| PartRow {
                name: a.name.clone(),
                share: format!("{} of {count}", a.index),
                status_class: status_class(&a.status),
                status: a.status.clone(),
                last_second: a
                    .last_second
                    .map_or_else(|| "–".to_owned(), |s| format!("{s} s")),
            })
            .collect(),
        this_event: p.event.as_deref() == Some(slug),
        event: p.event,
        kept: p.kept,
        keep_error: p.keep_error,
        id: p.run.id,
        scenario: p.run.scenario,
    }
}

/// The page, with `form` filled in and `error` shown.
async fn build(
    state: &AppState,
    session: &Session,
    slug: &str,
    form: StartForm,
    error: Option<String>,
    notice: Option<String>,
) -> Result<AgentsPage, UiError> {
    let (chrome, event) = Chrome::event(state, session, slug, Nav::Agents).await?;
    let plan = current_plan(state, &event).await?.map(|(_, p)| p);
    let tz = plan
        .as_ref()
        .map_or_else(|| "UTC".to_owned(), |p| p.event.timezone.clone());
    let now = state.now();
    let agents: Vec<AgentRow> = fleet::list(state)
        .agents
        .into_iter()
        .map(|a| {
            let status = match a.status.as_str() {
                "idle" => "idle",
                "busy" => "running",
                _ => "silent",
            };
            AgentRow {
                status_class: status_class(status),
                status,
                index: a.index.map_or_else(|| "–".to_owned(), |i| i.to_string()),
                heard: fmt_ms_seconds(a.last_seen_ms, &tz),
                ago: ago(now, a.last_seen_ms),
                run: a.run,
                id: a.id,
                name: a.name,
            }
        })
        .collect();
    let scenarios: Vec<String> = plan
        .as_ref()
        .map(|p| p.rehearsals.keys().cloned().collect())
        .unwrap_or_default();
    let mut form = form;
    if form.scenario.is_empty()
        && let Some(first) = scenarios.first()
    {
        form.scenario.clone_from(first);
    }
    Ok(AgentsPage {
        self_href: chrome.href(Nav::Agents),
        idle: agents.iter().filter(|a| a.status == "idle").count(),
        agents,
        runs: fleet_keep::panels(state)
            .into_iter()
            .map(|p| run_row(p, slug, &tz))
            .collect(),
        can_start: session.auth.require(PLANNERS).is_ok(),
        scenarios,
        untagged: form.untagged.is_some(),
        http2: form.http2.is_some(),
        form,
        error,
        notice,
        chrome,
    })
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let notice = match (run_id(q.started.as_deref()), run_id(q.aborted.as_deref())) {
        (Some(id), _) => Some(format!(
            "Run {id} started; its merged result will be kept on the Rehearsals page when it ends."
        )),
        (None, Some(id)) => Some(format!("Run {id}: every agent was told to stop.")),
        (None, None) => None,
    };
    let page = build(&state, &session, &slug, StartForm::defaults(), None, notice).await?;
    render(&page)
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::unprocessable("invalid_body", format!("{field}: {message}"))
}

/// A number field, or `default` when left empty.
fn number<T: std::str::FromStr>(
    text: &str,
    field: &str,
    default: T,
    message: &str,
) -> Result<T, ApiError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(default);
    }
    t.parse().map_err(|_| invalid(field, message))
}

/// Seconds as typed (`30`, `30s`, `2m`, `1.5`), or none when empty.
fn seconds(text: &str, field: &str) -> Result<Option<Duration>, ApiError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let (n, scale) = match t.strip_suffix('m') {
        Some(n) => (n, 60.0),
        None => (t.strip_suffix('s').unwrap_or(t), 1.0),
    };
    match n.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v * scale <= 86_400.0 => {
            Ok(Some(Duration::from_secs_f64(v * scale)))
        }
        _ => Err(invalid(
            field,
            "a number of seconds above 0 (30, 30s or 2m), at most 24 h",
        )),
    }
}

/// The form as the service's request.
fn event_run(form: &StartForm) -> Result<EventRun, ApiError> {
    let scenario = form.scenario.trim();
    if scenario.is_empty() {
        return Err(invalid("scenario", "choose one of the plan's scenarios"));
    }
    let agents: u32 = number(
        &form.agents,
        "agents",
        0,
        "a whole number of agents, 1 or more",
    )?;
    let rate_multiple = {
        let t = form.rate_multiple.trim();
        let t = t.strip_suffix(['x', 'X']).unwrap_or(t);
        if t.is_empty() {
            None
        } else {
            Some(t.parse::<f64>().map_err(|_| {
                invalid(
                    "rate multiple",
                    "a positive multiple of the targets like 1.2",
                )
            })?)
        }
    };
    let run_id = form.run_id.trim();
    Ok(EventRun {
        agents,
        options: ScenarioOptions {
            scenario: scenario.to_owned(),
            base_url: form.base_url.trim().to_owned(),
            rate_multiple,
            duration: seconds(&form.duration, "duration")?,
            untagged: form.untagged.is_some(),
            run_id: (!run_id.is_empty()).then(|| run_id.to_owned()),
            seed: number(&form.seed, "seed", 1, "a whole number")?,
            connections: number(
                &form.connections,
                "connections",
                256,
                "a whole number of connections per agent",
            )?,
            timeout: seconds(&form.timeout, "timeout")?.unwrap_or(Duration::from_secs(10)),
            http: if form.http2.is_some() {
                HttpVersion::Http2
            } else {
                HttpVersion::Http1
            },
        },
    })
}

/// The start form: a planner only; a refusal is shown on the page with
/// the form as typed, and nothing is started.
async fn start(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    Form(form): Form<StartForm>,
) -> Result<Response, UiError> {
    session.check_csrf(form.csrf.as_deref())?;
    session.auth.require(PLANNERS)?;
    let started = match event_run(&form) {
        Ok(req) => fleet_keep::start(&state, session.auth.actor(), &slug, &req).await,
        Err(e) => Err(e),
    };
    match started {
        Ok(run) => Ok(
            Redirect::to(&format!("/ui/events/{slug}/agents?started={}", run.id)).into_response(),
        ),
        // A missing event is the 404 page, not a form error.
        Err(e @ ApiError::NotFound(_)) => Err(UiError(e)),
        Err(e) => {
            let status = e.status();
            let page = build(&state, &session, &slug, form, Some(e.to_string()), None).await?;
            Ok((status, render(&page)?).into_response())
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct AbortForm {
    csrf: Option<String>,
    reason: Option<String>,
}

/// The Abort button: the API's abort, as the logged-in planner.
async fn abort(
    State(state): State<AppState>,
    session: Session,
    Path((slug, id)): Path<(String, String)>,
    Form(form): Form<AbortForm>,
) -> Result<Response, UiError> {
    session.check_csrf(form.csrf.as_deref())?;
    session.auth.require(PLANNERS)?;
    let reason = form
        .reason
        .filter(|r| !r.trim().is_empty())
        .unwrap_or_else(|| "aborted from the Agents page".to_owned());
    let run = fleet::abort(&state, session.auth.actor(), &id, &reason)?;
    Ok(Redirect::to(&format!("/ui/events/{slug}/agents?aborted={}", run.id)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_run_ids_are_echoed() {
        assert_eq!(run_id(Some("f-12")), Some("f-12".to_owned()));
        for bad in ["f-", "f-1x", "<b>", "g-1", ""] {
            assert_eq!(run_id(Some(bad)), None, "{bad}");
        }
    }

    #[test]
    fn the_form_reads_like_the_cli_flags() {
        let form = StartForm {
            scenario: " steady ".into(),
            base_url: "http://127.0.0.1:9".into(),
            agents: "2".into(),
            rate_multiple: "1.5x".into(),
            duration: "2m".into(),
            untagged: Some("on".into()),
            ..StartForm::defaults()
        };
        let run = event_run(&form).expect("valid");
        assert_eq!(run.agents, 2);
        let req = run.options;
        assert_eq!(req.scenario, "steady");
        assert_eq!(req.rate_multiple, Some(1.5));
        assert_eq!(req.duration, Some(Duration::from_secs(120)));
        assert!(req.untagged && req.http == HttpVersion::Http1);
        assert_eq!(req.timeout, Duration::from_secs(10));
        assert_eq!(req.connections, 256);
        for (field, bad) in [("agents", "two"), ("duration", "-1"), ("timeout", "0")] {
            let mut f = form.clone();
            match field {
                "agents" => f.agents = bad.into(),
                "duration" => f.duration = bad.into(),
                _ => f.timeout = bad.into(),
            }
            let e = event_run(&f).expect_err(field);
            assert!(e.to_string().contains(field), "{e}");
        }
    }
}
