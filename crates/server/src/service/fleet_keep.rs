//! Runs across agents started for an event from its Agents page
//! (`/ui/events/{slug}/agents`).
//!
//! Why here and not in the page: `seawall rehearse --agents N` builds the
//! scenario from a plan file, starts the run, waits and writes the merged
//! `seawall.run/v1`; a run started from a browser has no such client, so
//! the control plane plays its part. The scenario comes from the event's
//! current plan (the same `seawall_load::from_plan` the CLI uses), the
//! run starts through [`fleet::start`] (the same rules as
//! `POST /fleet/runs`), and a task on this replica waits for the merged
//! result, completes it with what the plan knows (services, capacity per
//! instance, as the CLI does) and keeps it with [`runs::keep`] — what
//! `POST /events/{slug}/runs` does with an upload — so it appears on the
//! event's Rehearsals page. The capacity search needs nothing more: its
//! steps are already judged on the merged view ([`fleet::step`]).
//!
//! A scenario reading CSV data files is refused: the files would be read
//! relative to the server's working directory, which a plan author must
//! not be able to name.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use seawall_api::fleet::{FleetRun, StartFleetRun};
use seawall_load::from_plan::ScenarioOptions;
use seawall_plan::Plan;

use crate::error::ApiError;
use crate::service::fleet_registry::Origin;
use crate::service::gate::current_plan;
use crate::service::{events, fleet, runs};
use crate::state::AppState;

/// Most agents one run from the page may ask for.
pub const MAX_AGENTS: u32 = 1_000;
/// Longest run the page starts at a fixed rate.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// Longest per-request timeout.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Most connections per agent.
const MAX_CONNECTIONS: usize = 100_000;

/// A run across agents of one of the event's plan scenarios: N and the
/// options of `seawall rehearse` (`options.scenario` is a key under the
/// current plan's `rehearsals`).
#[derive(Debug, Clone)]
pub struct EventRun {
    /// Agents to run it across.
    pub agents: u32,
    /// The scenario and how to run it, as the CLI's flags give them.
    pub options: ScenarioOptions,
}

/// What the page shows of a run across agents beyond the API's view.
#[derive(Debug, Clone)]
pub struct RunPanel {
    /// The API's view of the run.
    pub run: FleetRun,
    /// Seconds merged so far (the latest second any agent streamed, + 1).
    pub seconds: u64,
    /// Merged p99 so far per entry, ms.
    pub p99_ms: Vec<(String, f64)>,
    /// The event whose page started it.
    pub event: Option<String>,
    /// Its stored result's id on that event, once kept.
    pub kept: Option<i64>,
    /// Why its result could not be kept.
    pub keep_error: Option<String>,
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::unprocessable(code, message)
}

/// `http://host[:port][/prefix]` or https, nothing else.
fn check_base_url(url: &str) -> Result<(), ApiError> {
    let refuse = || {
        bad(
            "invalid_base_url",
            format!(
                "base URL `{url}` is not http://host[:port][/prefix] or https://…; every step's path is appended to it"
            ),
        )
    };
    let uri: http::Uri = url.parse().map_err(|_| refuse())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let host_ok = uri.host().is_some_and(|h| !h.is_empty());
    if !scheme_ok || !host_ok || uri.query().is_some() || url.chars().count() > 2_000 {
        return Err(refuse());
    }
    Ok(())
}

/// Check `req` against the plan and turn it into the engine's scenario.
fn scenario(plan: &Plan, version: i64, run: &EventRun) -> Result<seawall_load::Scenario, ApiError> {
    let req = &run.options;
    let Some(sc) = plan.rehearsals.get(&req.scenario) else {
        let names: Vec<&str> = plan.rehearsals.keys().map(String::as_str).collect();
        return Err(bad(
            "unknown_scenario",
            if names.is_empty() {
                format!(
                    "no scenario `{}`: plan v{version} has no `rehearsals`",
                    req.scenario
                )
            } else {
                format!(
                    "no scenario `{}` in plan v{version}; its scenarios are: {}",
                    req.scenario,
                    names.join(", ")
                )
            },
        ));
    };
    if !sc.data.is_empty() {
        return Err(bad(
            "invalid_scenario",
            format!(
                "scenario `{}` reads CSV data files, which the control plane does not hold; run it with `seawall rehearse --agents N` next to the files",
                req.scenario
            ),
        ));
    }
    check_base_url(req.base_url.trim())?;
    if run.agents == 0 || run.agents > MAX_AGENTS {
        return Err(bad(
            "invalid_agents",
            format!("a run takes 1 to {MAX_AGENTS} agents"),
        ));
    }
    if let Some(x) = req.rate_multiple
        && !(x.is_finite() && x > 0.0 && x <= 1_000.0)
    {
        return Err(bad(
            "invalid_rate_multiple",
            "the rate multiple is a number above 0 and at most 1000",
        ));
    }
    if let Some(d) = req.duration
        && (d.is_zero() || d > MAX_DURATION)
    {
        return Err(bad(
            "invalid_duration",
            "the duration is above 0 s and at most 24 h",
        ));
    }
    if req.timeout.is_zero() || req.timeout > MAX_TIMEOUT {
        return Err(bad(
            "invalid_timeout",
            "the timeout is above 0 s and at most 600 s",
        ));
    }
    if req.connections == 0 || req.connections > MAX_CONNECTIONS {
        return Err(bad(
            "invalid_connections",
            format!("connections are 1 to {MAX_CONNECTIONS}"),
        ));
    }
    if let Some(id) = &req.run_id
        && (id.is_empty()
            || id.chars().count() > 100
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
    {
        return Err(bad(
            "invalid_run_id",
            "a run id is 1 to 100 letters, digits, `-`, `_` or `.`",
        ));
    }
    let mut opts = req.clone();
    opts.base_url = opts.base_url.trim().to_owned();
    seawall_load::from_plan::scenario(plan, Path::new(&format!("plan v{version}")), &opts)
        .map_err(|e| bad("invalid_scenario", e.to_string()))
}

/// Start `req` across agents for event `slug` as `actor`; its merged
/// result is kept as one of the event's runs when it ends. Nothing is
/// started when the request is refused.
pub async fn start(
    state: &AppState,
    actor: &str,
    slug: &str,
    req: &EventRun,
) -> Result<FleetRun, ApiError> {
    let event = events::find(state, slug).await?;
    let Some((version, plan)) = current_plan(state, &event).await? else {
        return Err(bad(
            "no_plan",
            format!("event `{slug}` has no plan yet; push one first (seawall push)"),
        ));
    };
    let scenario = scenario(&plan, version, req)?;
    let start = StartFleetRun {
        scenario: serde_json::to_value(&scenario)
            .map_err(|e| ApiError::Internal(format!("cannot encode the scenario: {e}")))?,
        agents: req.agents,
    };
    let run = fleet::start(state, &start)?;
    {
        let mut inner = state.fleet().lock();
        if let Some(r) = inner.runs.get_mut(&run.id) {
            r.origin = Some(Origin {
                slug: event.slug.clone(),
                kept: None,
                error: None,
            });
        }
    }
    tracing::info!(run = %run.id, event = %event.slug, %actor, "run across agents started from the UI");
    tokio::spawn(keep_when_over(
        state.clone(),
        run.id.clone(),
        event,
        plan,
        version,
        actor.to_owned(),
    ));
    Ok(run)
}

/// Wait for run `id`'s merged result and keep it as one of `event`'s runs.
async fn keep_when_over(
    state: AppState,
    id: String,
    event: seawall_store::Event,
    plan: Arc<Plan>,
    version: i64,
    actor: String,
) {
    // Bounded by the run: it ends when every agent ended or went silent
    // (`SILENT_MS` without a word); each wait is at most 20 s.
    let result = loop {
        match fleet::get(&state, &id, Some(20)).await {
            Ok(run) => {
                if let Some(result) = run.result {
                    break result;
                }
            }
            Err(e) => {
                tracing::warn!(run = %id, error = %e, "a run across agents was lost before its result was kept");
                return;
            }
        }
    };
    let kept = keep_result(&state, &event, &plan, version, &actor, result).await;
    match &kept {
        Ok(stored) => {
            tracing::info!(run = %id, event = %event.slug, stored, "merged result kept")
        }
        Err(e) => {
            tracing::error!(run = %id, event = %event.slug, error = %e, "merged result not kept")
        }
    }
    {
        let mut inner = state.fleet().lock();
        if let Some(origin) = inner.runs.get_mut(&id).and_then(|r| r.origin.as_mut()) {
            match kept {
                Ok(stored) => origin.kept = Some(stored),
                Err(e) => origin.error = Some(e.to_string()),
            }
        }
    }
    state.fleet().bump();
}

async fn keep_result(
    state: &AppState,
    event: &seawall_store::Event,
    plan: &Plan,
    version: i64,
    actor: &str,
    result: serde_json::Value,
) -> Result<i64, ApiError> {
    let mut result: seawall_load::RunResult = serde_json::from_value(result)
        .map_err(|e| ApiError::Internal(format!("the merged result is not a run: {e}")))?;
    seawall_load::from_plan::complete(&mut result, plan, &format!("plan v{version}"));
    let mut text = serde_json::to_string_pretty(&result)
        .map_err(|e| ApiError::Internal(format!("cannot encode the merged result: {e}")))?;
    text.push('\n');
    let info = runs::keep(state, &state.ctx(actor), event, text).await?;
    Ok(info.id)
}

/// Every run across agents on this replica, newest first, with what the
/// page shows of each.
pub fn panels(state: &AppState) -> Vec<RunPanel> {
    let inner = state.fleet().lock();
    let mut panels: Vec<(u64, RunPanel)> = inner
        .runs
        .values()
        .map(|r| {
            let run = r.view();
            let seconds = run
                .agents
                .iter()
                .filter_map(|a| a.last_second)
                .max()
                .map_or(0, |s| s + 1);
            let p99_ms = r
                .scenario
                .entries
                .iter()
                .enumerate()
                .map(|(i, e)| (e.id.clone(), r.merger.p99_ms(i)))
                .collect();
            let origin = r.origin.as_ref();
            (
                r.seq,
                RunPanel {
                    run,
                    seconds,
                    p99_ms,
                    event: origin.map(|o| o.slug.clone()),
                    kept: origin.and_then(|o| o.kept),
                    keep_error: origin.and_then(|o| o.error.clone()),
                },
            )
        })
        .collect();
    panels.sort_by_key(|p| std::cmp::Reverse(p.0));
    panels.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_http_with_a_host() {
        for ok in [
            "http://127.0.0.1:8080",
            "https://shop.example/api",
            "http://[::1]:9",
        ] {
            assert!(check_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "127.0.0.1:8080",
            "ftp://host/",
            "http://",
            "not a url",
            "http://host/?q=1",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
    }
}
