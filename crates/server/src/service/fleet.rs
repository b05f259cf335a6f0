//! Rehearsal agents and runs across them (`docs/scale-out.md`,
//! "Rehearsal agents").
//!
//! Why in memory: a run across agents lives seconds to minutes, its state
//! is a merged histogram per entry that changes every second per agent,
//! and what outlives it is its one `seawall.run/v1` result, which the
//! client writes (and may upload as any run). Agents, runs and merges are
//! held by this replica; agents and the `rehearse` client reach the same
//! control plane URL.
//!
//! The rules: an agent is live while it polls (heard from within
//! [`LIVE_MS`]); a run takes N live idle agents (those with a Job index
//! first, by index), gives agent `i` the share `i of N` and a start
//! [`START_DELAY_MS`] ahead; streamed seconds are merged exactly
//! ([`seawall_load::fleet::Merger`]) and, outside a capacity search, the
//! scenario's guards are judged on the merged window after each batch —
//! a broken guard or an operator's abort sets the run's stop, which every
//! agent's control long poll answers at once. A running agent not heard
//! from for [`SILENT_MS`] is silent: the run goes on without it and ends
//! `partial`, its share and last second named in the result.

use std::collections::BTreeMap;
use std::time::Duration;

use seawall_api::fleet::{
    Agent, AgentEnd, AgentList, Assignment, Control, FleetRun, RegisterAgent, Seconds,
    StartFleetRun, StepReport, StepVerdict,
};
use seawall_load::Scenario;
use seawall_load::fleet::{AgentFinal, EntrySecond, LocalStep, Merger, Share};
use seawall_load::result::GuardEvent;
use seawall_store::Millis;

use crate::error::ApiError;
use crate::service::fleet_registry::{AgentRec, Part, RunRec};
pub use crate::service::fleet_registry::{Fleet, LIVE_MS, SILENT_MS};
use crate::state::AppState;

/// The agreed start is this far ahead of the run's creation.
pub const START_DELAY_MS: Millis = 1_500;
/// Longest wait of a long poll or a step barrier.
const MAX_WAIT: Duration = Duration::from_secs(20);
/// How often a waiting request looks again (and notices silence).
const RECHECK: Duration = Duration::from_millis(100);
/// An idle agent not heard from for this long is forgotten.
const FORGET_MS: Millis = 10 * 60_000;
/// Agents known at once; one more registering is refused.
const MAX_AGENTS: usize = 10_000;
/// Finished runs kept for reading.
const KEEP_FINISHED: usize = 20;

/// Who may run agents and runs across them: the planners and `ci` tokens
/// (what a Kubernetes Job of agents carries). Viewers and sidecars may not.
pub const AGENT_ROLES: &[seawall_store::Role] = &[
    seawall_store::Role::Admin,
    seawall_store::Role::Commander,
    seawall_store::Role::Ci,
];

fn wait_of(wait: Option<u64>) -> Duration {
    Duration::from_secs(wait.unwrap_or(0)).min(MAX_WAIT)
}

/// Tick every run (silence, ends); wake waiters when something changed.
fn tick_all(state: &AppState) {
    let fleet = state.fleet();
    let now = state.now();
    let mut changed = false;
    {
        let mut guard = fleet.lock();
        let inner = &mut *guard;
        let mut freed = Vec::new();
        for run in inner.runs.values_mut() {
            if run.tick(now) {
                changed = true;
                freed.extend(run.parts.iter().map(|p| (p.agent.clone(), run.id.clone())));
            }
        }
        for (agent, run) in freed {
            if let Some(a) = inner.agents.get_mut(&agent)
                && a.run.as_deref() == Some(run.as_str())
                && inner_run_over(&inner.runs, &run)
            {
                a.run = None;
            }
        }
        // Keep the latest finished runs only.
        let finished: Vec<(u64, String)> = inner
            .runs
            .values()
            .filter(|r| r.result.is_some())
            .map(|r| (r.seq, r.id.clone()))
            .collect();
        if finished.len() > KEEP_FINISHED {
            let mut finished = finished;
            finished.sort();
            for (_, id) in finished.iter().take(finished.len() - KEEP_FINISHED) {
                inner.runs.remove(id);
            }
        }
    }
    if changed {
        fleet.bump();
    }
}

fn inner_run_over(runs: &BTreeMap<String, RunRec>, id: &str) -> bool {
    runs.get(id).is_none_or(|r| r.result.is_some())
}

/// Wait up to `wait` for `ready` to give an answer, re-checking on every
/// change and every [`RECHECK`].
async fn wait_for<T>(
    state: &AppState,
    wait: Duration,
    mut ready: impl FnMut(&AppState) -> Result<Option<T>, ApiError>,
) -> Result<Option<T>, ApiError> {
    let mut rx = state.fleet().changed.subscribe();
    let deadline = tokio::time::Instant::now() + wait;
    // Bounded by the deadline.
    loop {
        tick_all(state);
        if let Some(answer) = ready(state)? {
            return Ok(Some(answer));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let _ = tokio::time::timeout(RECHECK.min(deadline - now), rx.changed()).await;
    }
}

/// An agent registers (replacing one of the same name).
pub fn register(state: &AppState, token: i64, req: &RegisterAgent) -> Result<Agent, ApiError> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "invalid_name",
            "an agent's name is 1 to 200 characters without control characters",
        ));
    }
    let now = state.now();
    let fleet = state.fleet();
    let agent = {
        let mut inner = fleet.lock();
        // Same name: a restarted agent. Gone for long and idle: forgotten
        // (a Job's pods get new names every time).
        inner.agents.retain(|_, a| {
            a.name != name && (a.run.is_some() || now - a.last_seen_ms <= FORGET_MS)
        });
        if inner.agents.len() >= MAX_AGENTS {
            return Err(ApiError::Conflict(format!(
                "{MAX_AGENTS} agents are registered; no more are taken"
            )));
        }
        inner.next_agent += 1;
        let id = format!("a-{}", inner.next_agent);
        let rec = AgentRec {
            id: id.clone(),
            name: name.to_owned(),
            index: req.index,
            token,
            last_seen_ms: now,
            run: None,
            pending: None,
        };
        let view = rec.view(now);
        inner.agents.insert(id, rec);
        view
    };
    tracing::info!(agent = %agent.id, name = %agent.name, "rehearsal agent registered");
    fleet.bump();
    Ok(agent)
}

/// Every agent.
pub fn list(state: &AppState) -> AgentList {
    let now = state.now();
    AgentList {
        agents: state
            .fleet()
            .lock()
            .agents
            .values()
            .map(|a| a.view(now))
            .collect(),
    }
}

/// The agent `id`, seen now; only the token that registered it may act
/// for it.
fn touch(state: &AppState, token: i64, id: &str) -> Result<(), ApiError> {
    let now = state.now();
    let mut inner = state.fleet().lock();
    let a = inner
        .agents
        .get_mut(id)
        .ok_or_else(|| ApiError::NotFound(format!("no agent {id}; register again")))?;
    if a.token != token {
        return Err(ApiError::Forbidden {
            message: format!("agent {id} was registered with another token"),
            allowed: Vec::new(),
        });
    }
    a.last_seen_ms = now;
    Ok(())
}

/// An agent's long poll for work.
pub async fn work(
    state: &AppState,
    token: i64,
    id: &str,
    wait: Option<u64>,
) -> Result<Option<Assignment>, ApiError> {
    touch(state, token, id)?;
    wait_for(state, wait_of(wait), |state| {
        let now = state.now();
        let mut inner = state.fleet().lock();
        let a = inner
            .agents
            .get_mut(id)
            .ok_or_else(|| ApiError::NotFound(format!("no agent {id}; register again")))?;
        a.last_seen_ms = now;
        Ok(a.pending.take())
    })
    .await
}

/// Start a run across `req.agents` live idle agents.
pub fn start(state: &AppState, req: &StartFleetRun) -> Result<FleetRun, ApiError> {
    let scenario: Scenario = serde_json::from_value(req.scenario.clone())
        .map_err(|e| ApiError::unprocessable("invalid_scenario", format!("not a scenario: {e}")))?;
    if req.agents == 0 {
        return Err(ApiError::unprocessable(
            "invalid_agents",
            "a run needs at least one agent",
        ));
    }
    let now = state.now();
    let fleet = state.fleet();
    let view = {
        let mut inner = fleet.lock();
        let mut idle: Vec<&AgentRec> = inner
            .agents
            .values()
            .filter(|a| a.run.is_none() && now - a.last_seen_ms <= LIVE_MS)
            .collect();
        idle.sort_by_key(|a| (a.index.is_none(), a.index, a.id.len(), a.id.clone()));
        if idle.len() < req.agents as usize {
            return Err(ApiError::Conflict(format!(
                "{} live idle agents, the run asks for {}; start more agents (seawall agent) or ask for fewer",
                idle.len(),
                req.agents
            )));
        }
        let chosen: Vec<(String, String)> = idle
            .iter()
            .take(req.agents as usize)
            .map(|a| (a.id.clone(), a.name.clone()))
            .collect();
        inner.next_run += 1;
        let seq = inner.next_run;
        let id = format!("f-{seq}");
        let start_at_ms = now + START_DELAY_MS;
        let mut parts = Vec::with_capacity(chosen.len());
        for (i, (agent, name)) in chosen.into_iter().enumerate() {
            let share = Share {
                index: i as u32,
                count: req.agents,
            };
            if let Some(a) = inner.agents.get_mut(&agent) {
                a.run = Some(id.clone());
                a.pending = Some(Assignment {
                    run: id.clone(),
                    index: share.index,
                    count: share.count,
                    start_at_ms,
                    scenario: req.scenario.clone(),
                });
            }
            parts.push(Part {
                agent,
                name,
                share,
                heard_ms: now,
                silent: false,
                end: None,
            });
        }
        let run = RunRec {
            id: id.clone(),
            seq,
            merger: Merger::new(&scenario),
            scenario,
            start_at_ms,
            parts,
            stop: None,
            steps: BTreeMap::new(),
            merged_steps: Vec::new(),
            result: None,
            status: "running".to_owned(),
            origin: None,
        };
        let view = run.view();
        inner.runs.insert(id, run);
        view
    };
    tracing::info!(run = %view.id, agents = req.agents, "run across agents started");
    fleet.bump();
    Ok(view)
}

fn with_run<T>(
    state: &AppState,
    id: &str,
    f: impl FnOnce(&mut RunRec) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut inner = state.fleet().lock();
    let run = inner
        .runs
        .get_mut(id)
        .ok_or_else(|| ApiError::NotFound(format!("no run {id} across agents")))?;
    f(run)
}

/// A run; with `wait`, once it is over or after the wait.
pub async fn get(state: &AppState, id: &str, wait: Option<u64>) -> Result<FleetRun, ApiError> {
    tick_all(state);
    let now_view = with_run(state, id, |r| Ok(r.view()))?;
    if now_view.result.is_some() {
        return Ok(now_view);
    }
    let over = wait_for(state, wait_of(wait), |state| {
        with_run(state, id, |r| Ok(r.result.is_some().then(|| r.view())))
    })
    .await?;
    match over {
        Some(v) => Ok(v),
        None => with_run(state, id, |r| Ok(r.view())),
    }
}

/// An operator stops every agent of the run.
pub fn abort(state: &AppState, actor: &str, id: &str, reason: &str) -> Result<FleetRun, ApiError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::unprocessable(
            "invalid_reason",
            "say why the run is aborted, in at most 500 characters",
        ));
    }
    let view = with_run(state, id, |r| {
        if r.stop.is_none() && r.result.is_none() {
            let t_s = (state.now() - r.start_at_ms).max(0) as f64 / 1000.0;
            r.stop = Some(GuardEvent {
                t_s,
                entry: String::new(),
                guard: "operator".to_owned(),
                value: 0.0,
                threshold: 0.0,
                window_s: 0.0,
                requests: 0,
                action: "abort".to_owned(),
                message: format!("aborted by {actor} at {t_s:.1} s: {reason}"),
            });
        }
        Ok(r.view())
    })?;
    tracing::warn!(run = %id, %actor, "run across agents aborted by an operator");
    state.fleet().bump();
    Ok(view)
}

fn control_of(r: &RunRec) -> Control {
    Control {
        stop: r.stop.as_ref().map(|s| s.message.clone()),
    }
}

/// An agent's closed seconds: merged, and (outside a search) the guards
/// judged on the merged window.
pub fn seconds(
    state: &AppState,
    token: i64,
    run: &str,
    req: &Seconds,
) -> Result<Control, ApiError> {
    touch(state, token, &req.agent)?;
    let now = state.now();
    let (control, stopped) = with_run(state, run, |r| {
        let index = {
            let part = r.part_of(&req.agent)?;
            part.heard_ms = now;
            part.share.index
        };
        let batch: Vec<EntrySecond> = req
            .seconds
            .iter()
            .map(|s| EntrySecond {
                entry: s.entry as usize,
                t_s: s.t_s,
                requests: s.requests,
                errors: s.errors,
                dropped: s.dropped,
                hdr: s.hdr.clone(),
            })
            .collect();
        r.merger
            .add_all(index, &batch)
            .map_err(|e| ApiError::unprocessable("invalid_second", e.to_string()))?;
        let search = matches!(r.scenario.load, seawall_load::LoadProfile::Search(_));
        let mut stopped = false;
        if !search
            && r.stop.is_none()
            && let Some(event) = r.merger.broken_guard(&r.scenario)
        {
            tracing::warn!(run = %r.id, "{}", event.message);
            r.stop = Some(event);
            stopped = true;
        }
        Ok((control_of(r), stopped))
    })?;
    if stopped {
        state.fleet().bump();
    }
    Ok(control)
}

/// An agent's control long poll: answers at once when the run is stopped.
pub async fn control(state: &AppState, run: &str, wait: Option<u64>) -> Result<Control, ApiError> {
    let stopped = wait_for(state, wait_of(wait), |state| {
        with_run(state, run, |r| Ok(r.stop.is_some().then(|| control_of(r))))
    })
    .await?;
    match stopped {
        Some(c) => Ok(c),
        None => with_run(state, run, |r| Ok(control_of(r))),
    }
}

/// An agent's search step; answers the verdict over every agent once all
/// still running have sent theirs.
pub async fn step(
    state: &AppState,
    token: i64,
    run: &str,
    req: &StepReport,
) -> Result<StepVerdict, ApiError> {
    touch(state, token, &req.agent)?;
    let local: LocalStep = serde_json::from_value(req.step.clone())
        .map_err(|e| ApiError::unprocessable("invalid_step", format!("not a search step: {e}")))?;
    let k = local.index;
    let now = state.now();
    with_run(state, run, |r| {
        let (index, name) = {
            let part = r.part_of(&req.agent)?;
            part.heard_ms = now;
            (part.share.index, part.name.clone())
        };
        r.steps
            .entry(k)
            .or_default()
            .locals
            .insert(index, (name, local));
        Ok(())
    })?;
    state.fleet().bump();
    let agent = req.agent.clone();
    let merged = wait_for(state, MAX_WAIT, |state| {
        let now = state.now();
        with_run(state, run, |r| {
            // Waiting at the barrier is being heard from.
            if let Ok(p) = r.part_of(&agent) {
                p.heard_ms = now;
            }
            Ok(r.try_merge_step(k))
        })
    })
    .await?;
    let merged = merged.ok_or_else(|| {
        ApiError::Unavailable(format!(
            "step {k} of run {run}: not every agent sent it within {} s",
            MAX_WAIT.as_secs()
        ))
    })?;
    state.fleet().bump();
    Ok(StepVerdict {
        merged: serde_json::to_value(&merged)
            .map_err(|e| ApiError::Unavailable(format!("cannot encode the step: {e}")))?,
    })
}

/// An agent's own result: its part is over.
pub fn end(state: &AppState, token: i64, run: &str, req: &AgentEnd) -> Result<(), ApiError> {
    touch(state, token, &req.agent)?;
    let result: seawall_load::RunResult =
        serde_json::from_value(req.result.clone()).map_err(|e| {
            ApiError::unprocessable("invalid_run", format!("not a seawall.run/v1 result: {e}"))
        })?;
    let now = state.now();
    with_run(state, run, |r| {
        let part = r.part_of(&req.agent)?;
        part.heard_ms = now;
        part.end = Some(AgentFinal {
            result,
            latency_hdr: req.latency_hdr.clone(),
        });
        Ok(())
    })?;
    {
        let mut inner = state.fleet().lock();
        if let Some(a) = inner.agents.get_mut(&req.agent)
            && a.run.as_deref() == Some(run)
        {
            a.run = None;
        }
    }
    tick_all(state);
    state.fleet().bump();
    Ok(())
}
