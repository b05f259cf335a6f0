//! What the control plane holds of rehearsal agents and runs across them:
//! the agents, each run's parts, merged view, stop, search-step barriers
//! and result, and the rules that need no request — who is live, who went
//! silent, when a run is over, when a step is judged. A module of its own
//! (no `crate::state` import) so [`crate::state::AppState`] can hold a
//! [`Fleet`] while [`crate::service::fleet`] reads it through the state.

use std::collections::BTreeMap;
use std::sync::Mutex;

use seawall_api::fleet::{Agent, Assignment, FleetRun, RunAgent};
use seawall_load::Scenario;
use seawall_load::fleet::{
    AgentFinal, AgentPart, LocalStep, MergedStep, Merger, Share, merge_results, merge_step,
};
use seawall_load::result::GuardEvent;
use seawall_store::Millis;
use tokio::sync::watch;

use crate::error::ApiError;

/// An agent heard from within this is live (its work poll waits at most
/// 20 s).
pub const LIVE_MS: Millis = 25_000;
/// A running agent not heard from for this long is silent.
pub const SILENT_MS: Millis = 3_000;

/// The fleet's state on this replica.
#[derive(Debug)]
pub struct Fleet {
    pub(crate) inner: Mutex<Inner>,
    pub(crate) changed: watch::Sender<u64>,
}

impl Default for Fleet {
    fn default() -> Self {
        Self {
            inner: Mutex::default(),
            changed: watch::channel(0).0,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub(crate) next_agent: u64,
    pub(crate) next_run: u64,
    pub(crate) agents: BTreeMap<String, AgentRec>,
    pub(crate) runs: BTreeMap<String, RunRec>,
}

#[derive(Debug)]
pub(crate) struct AgentRec {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) index: Option<u32>,
    pub(crate) token: i64,
    pub(crate) last_seen_ms: Millis,
    pub(crate) run: Option<String>,
    pub(crate) pending: Option<Assignment>,
}

#[derive(Debug)]
pub(crate) struct Part {
    pub(crate) agent: String,
    pub(crate) name: String,
    pub(crate) share: Share,
    pub(crate) heard_ms: Millis,
    pub(crate) silent: bool,
    pub(crate) end: Option<AgentFinal>,
}

#[derive(Debug)]
pub(crate) struct RunRec {
    pub(crate) id: String,
    pub(crate) seq: u64,
    pub(crate) scenario: Scenario,
    pub(crate) start_at_ms: Millis,
    pub(crate) parts: Vec<Part>,
    pub(crate) merger: Merger,
    pub(crate) stop: Option<GuardEvent>,
    pub(crate) steps: BTreeMap<usize, Barrier>,
    pub(crate) merged_steps: Vec<MergedStep>,
    pub(crate) result: Option<serde_json::Value>,
    pub(crate) status: String,
    /// Started from an event's Agents page: whose Rehearsals keep its
    /// result ([`crate::service::fleet_keep`]).
    pub(crate) origin: Option<Origin>,
}

/// The event a run started from the UI belongs to, and what became of
/// its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    /// The event's slug.
    pub(crate) slug: String,
    /// The stored run's id, once kept.
    pub(crate) kept: Option<i64>,
    /// Why the result could not be kept.
    pub(crate) error: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Barrier {
    pub(crate) locals: BTreeMap<u32, (String, LocalStep)>,
    pub(crate) merged: Option<MergedStep>,
}

impl Fleet {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn bump(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }
}

impl AgentRec {
    pub(crate) fn view(&self, now: Millis) -> Agent {
        Agent {
            id: self.id.clone(),
            name: self.name.clone(),
            index: self.index,
            status: if self.run.is_some() {
                "busy"
            } else if now - self.last_seen_ms <= LIVE_MS {
                "idle"
            } else {
                "silent"
            }
            .to_owned(),
            run: self.run.clone(),
            last_seen_ms: self.last_seen_ms,
        }
    }
}

impl RunRec {
    pub(crate) fn view(&self) -> FleetRun {
        FleetRun {
            id: self.id.clone(),
            scenario: self.scenario.name.clone(),
            status: self.status.clone(),
            stop: self.stop.as_ref().map(|s| s.message.clone()),
            start_at_ms: self.start_at_ms,
            requests: self.merger.requests(),
            agents: self
                .parts
                .iter()
                .map(|p| RunAgent {
                    id: p.agent.clone(),
                    name: p.name.clone(),
                    index: p.share.index,
                    status: if p.end.is_some() {
                        "finished"
                    } else if p.silent {
                        "silent"
                    } else {
                        "running"
                    }
                    .to_owned(),
                    last_second: self.merger.streamed(p.share.index).last_second,
                })
                .collect(),
            result: self.result.clone(),
        }
    }

    pub(crate) fn part_of(&mut self, agent: &str) -> Result<&mut Part, ApiError> {
        self.parts
            .iter_mut()
            .find(|p| p.agent == agent)
            .ok_or_else(|| ApiError::NotFound(format!("agent {agent} is not in run {}", self.id)))
    }

    /// Mark agents silent, finish the run when every agent ended or went
    /// silent. Returns whether anything changed.
    pub(crate) fn tick(&mut self, now: Millis) -> bool {
        if self.result.is_some() {
            return false;
        }
        let mut changed = false;
        for p in &mut self.parts {
            let since = p.heard_ms.max(self.start_at_ms);
            if p.end.is_none() && !p.silent && now - since > SILENT_MS {
                tracing::warn!(run = %self.id, agent = %p.agent, "rehearsal agent went silent");
                p.silent = true;
                changed = true;
            }
        }
        if self.parts.iter().all(|p| p.end.is_some() || p.silent) {
            let parts: Vec<AgentPart> = self
                .parts
                .iter()
                .map(|p| AgentPart {
                    name: p.name.clone(),
                    share: p.share,
                    end: p.end.clone(),
                })
                .collect();
            let result = merge_results(
                &self.scenario,
                &self.merger,
                &parts,
                &self.merged_steps,
                self.stop.clone(),
            );
            self.status = result
                .fleet
                .as_ref()
                .map_or("complete", |f| f.status.as_str())
                .to_owned();
            self.result = serde_json::to_value(&result).ok();
            changed = true;
        }
        changed
    }

    /// Judge step `k` once every agent still running has sent it.
    pub(crate) fn try_merge_step(&mut self, k: usize) -> Option<MergedStep> {
        let live: Vec<u32> = self
            .parts
            .iter()
            .filter(|p| !p.silent && p.end.is_none())
            .map(|p| p.share.index)
            .collect();
        let barrier = self.steps.entry(k).or_default();
        if barrier.merged.is_none() && live.iter().all(|i| barrier.locals.contains_key(i)) {
            let locals: Vec<(String, LocalStep)> = barrier.locals.values().cloned().collect();
            let merged = merge_step(&self.scenario, &locals);
            barrier.merged = Some(merged.clone());
            // Steps come in order; the result takes them by position.
            if self.merged_steps.len() == k {
                self.merged_steps.push(merged);
            }
        }
        barrier.merged.clone()
    }
}
