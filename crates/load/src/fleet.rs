//! Rehearsal agents: one scenario run by several generator processes as
//! one run.
//!
//! Why here: the engine alone knows what an arrival, a second and a search
//! step are, so both halves of a run across agents live beside it. On an
//! agent, [`Hooks`] make [`crate::rehearse::rehearse_with`] take only its
//! [`Share`] of the arrivals (agent `i` of `n` issues the arrivals whose
//! index within each phase is ≡ `i` mod `n`; the others only advance the
//! mix and the data rows, so the shares add up to exactly the arrivals one
//! process would issue), start at the agreed instant, stream every closed
//! second of every entry as an HDR histogram ([`encode`]: HdrHistogram's
//! V2 format, deflate-compressed, base64), stop when told, and take each
//! search step's verdict from the control plane. On the control plane,
//! [`Merger`] adds the streamed histograms — addition of counts at the
//! same precision, so the merged percentiles are those of the union of
//! every agent's samples, never an average of percentiles — judges the
//! scenario's guards on the merged window, merges search steps
//! ([`merge_step`]) and builds the one `seawall.run/v1` result
//! ([`merge_results`]).
//!
//! Memory stays flat: the merger keeps one total histogram per entry and
//! the histograms of the last guard window, folding older seconds into
//! a per-second summary.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use crate::LoadError;
use crate::result::{
    AgentResult, EntryResult, FleetResult, GeneratorCheck, GuardEvent, RunMode, RunResult,
    SecondPoint, StepEntry,
};
use crate::scenario::Scenario;
use crate::stats::{Latency, View};

/// Agent `index` of `count`: the arrivals whose index ≡ `index` (mod `count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    /// This agent's index, `0..count`.
    pub index: u32,
    /// Agents sharing the run.
    pub count: u32,
}

impl Share {
    /// Whether arrival `k` (its index within the phase) is this agent's.
    pub fn takes(&self, k: u64) -> bool {
        self.count <= 1 || k % u64::from(self.count) == u64::from(self.index)
    }

    pub(crate) fn check(&self) -> Result<(), LoadError> {
        if self.count == 0 || self.index >= self.count {
            return Err(LoadError::InvalidSetting {
                setting: "share",
                reason: format!(
                    "agent index {} is not below the agent count {}",
                    self.index, self.count
                ),
            });
        }
        Ok(())
    }
}

/// A stop signal the control plane sets (a broken guard on the merged
/// view, an operator's abort); the run notices it within one guard period
/// (200 ms).
#[derive(Debug, Clone, Default)]
pub struct Stop {
    set: Arc<AtomicBool>,
    reason: Arc<Mutex<Option<String>>>,
}

impl Stop {
    /// Stop the run, saying why (the first reason is kept).
    pub fn stop(&self, reason: &str) {
        let mut r = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some(reason.to_owned());
        }
        self.set.store(true, Ordering::SeqCst);
    }

    /// Why the run was stopped, once it was.
    pub fn reason(&self) -> Option<String> {
        if !self.set.load(Ordering::SeqCst) {
            return None;
        }
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// One closed second of one entry, as an agent streams it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntrySecond {
    /// Index of the entry in the scenario.
    pub entry: usize,
    /// Seconds since the start: the second `[t_s, t_s + 1)`.
    pub t_s: u64,
    /// Requests completed in it.
    pub requests: u64,
    /// Of those, failures.
    pub errors: u64,
    /// Arrivals dropped in it.
    pub dropped: u64,
    /// Its latency histogram ([`encode`]).
    pub hdr: String,
}

/// An entry's counts and histogram over a search step on one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryCounts {
    /// Requests completed.
    pub requests: u64,
    /// Of those, failures.
    pub errors: u64,
    /// Arrivals dropped.
    pub dropped: u64,
    /// Latency histogram ([`encode`]).
    pub hdr: String,
}

/// One agent's measurements of a search step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalStep {
    /// The step's number, from 0.
    pub index: usize,
    /// Its rate multiple.
    pub multiple: f64,
    /// How long it ran here (seconds).
    pub ran_s: f64,
    /// The entry whose guard cut the step short here, if one did.
    pub broken_entry: Option<usize>,
    /// Whether this agent kept up.
    pub generator: GeneratorCheck,
    /// Per entry, in scenario order.
    pub entries: Vec<EntryCounts>,
}

/// A search step judged on the merged view: what every agent continues
/// the search with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedStep {
    /// Whether every judged entry held.
    pub held: bool,
    /// Generator-bound when any agent was (reasons name the agent).
    pub generator: GeneratorCheck,
    /// Per entry over all agents.
    pub entries: Vec<StepEntry>,
}

/// What a search step's verdict comes from on an agent.
pub type StepFuture = Pin<Box<dyn Future<Output = Option<MergedStep>> + Send>>;

/// The control plane's verdict on a search step; `None` keeps the local
/// one (the control plane did not answer).
pub trait StepJudge: Send + Sync {
    /// Send this agent's step and wait for the merged verdict.
    fn judge(&self, step: LocalStep) -> StepFuture;
}

/// How a run is one agent's part of a run across agents. The default is
/// a run of its own.
#[derive(Clone, Default)]
pub struct Hooks {
    /// This agent's share of the arrivals.
    pub share: Option<Share>,
    /// The agreed start instant.
    pub start_at: Option<std::time::SystemTime>,
    /// Stopped by the control plane.
    pub stop: Stop,
    /// Where closed seconds go, in batches (once a second). Set, the run's
    /// abort guards are left to the control plane.
    pub seconds: Option<tokio::sync::mpsc::UnboundedSender<Vec<EntrySecond>>>,
    /// Each search step's verdict on the merged view.
    pub judge: Option<Arc<dyn StepJudge>>,
    /// Filled at the end of a streaming run: per entry, the latency
    /// histogram over the whole run ([`encode`]).
    pub totals: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("share", &self.share)
            .field("start_at", &self.start_at)
            .field("stop", &self.stop)
            .finish_non_exhaustive()
    }
}

/// The guard event an agent records when the control plane stops it.
pub(crate) fn stop_event(t_s: f64, reason: &str) -> GuardEvent {
    GuardEvent {
        t_s,
        entry: String::new(),
        guard: "control_plane".to_owned(),
        value: 0.0,
        threshold: 0.0,
        window_s: 0.0,
        requests: 0,
        action: "abort".to_owned(),
        message: format!("stopped by the control plane at {t_s:.1} s: {reason}"),
    }
}

/// Why a streamed histogram cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Not base64.
    #[error("histogram is not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// Not an HdrHistogram V2 (deflate) histogram.
    #[error("histogram cannot be read: {0}")]
    Histogram(String),
    /// An entry index outside the scenario.
    #[error("entry {0} is not in the scenario")]
    Entry(usize),
}

/// A histogram as streamed: HdrHistogram V2, deflate-compressed, base64.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    // Writing to a Vec fails only on a histogram the V2 format cannot
    // hold, which the recorder's bounds rule out; an empty string then
    // decodes as an error on the control plane, not as zero samples.
    if V2DeflateSerializer::new().serialize(h, &mut bytes).is_err() {
        return String::new();
    }
    STANDARD.encode(bytes)
}

/// A streamed histogram back.
pub fn decode(text: &str) -> Result<Histogram<u64>, FleetError> {
    let bytes = STANDARD.decode(text)?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| FleetError::Histogram(format!("{e:?}")))
}

/// `a += b`, growing `a` when `b` reaches further (never losing a count).
fn add(a: &mut Option<Histogram<u64>>, b: &Histogram<u64>) {
    match a {
        Some(h) => {
            h.auto(true);
            // With auto-resize on, adding cannot fail for lack of range.
            let _ = h.add(b);
        }
        None => *a = Some(b.clone()),
    }
}

fn p99_ms(h: Option<&Histogram<u64>>) -> f64 {
    match h {
        Some(h) if !h.is_empty() => h.value_at_quantile(0.99) as f64 / 1000.0,
        _ => 0.0,
    }
}

fn latency(h: Option<&Histogram<u64>>) -> Latency {
    h.map_or_else(Latency::default, Latency::of)
}

/// One merged second of one entry.
#[derive(Debug, Clone, Default)]
struct Second {
    requests: u64,
    errors: u64,
    dropped: u64,
    /// Dropped once the second leaves the guard window (its summary stays).
    histogram: Option<Histogram<u64>>,
    p50: f64,
    p99: f64,
}

/// One entry's merged view.
#[derive(Debug, Clone, Default)]
struct EntryMerge {
    total: Option<Histogram<u64>>,
    seconds: BTreeMap<u64, Second>,
    requests: u64,
    errors: u64,
    dropped: u64,
}

/// What one agent streamed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Streamed {
    /// Requests.
    pub requests: u64,
    /// Failures.
    pub errors: u64,
    /// Dropped arrivals.
    pub dropped: u64,
    /// The latest second it reported.
    pub last_second: Option<u64>,
}

/// The control plane's merged view of a run across agents.
#[derive(Debug, Clone)]
pub struct Merger {
    entries: Vec<EntryMerge>,
    ids: Vec<String>,
    window_s: u64,
    latest: u64,
    agents: BTreeMap<u32, Streamed>,
}

impl Merger {
    /// An empty view of `scenario`'s entries.
    pub fn new(scenario: &Scenario) -> Self {
        Self {
            entries: vec![EntryMerge::default(); scenario.entries.len()],
            ids: scenario.entries.iter().map(|e| e.id.clone()).collect(),
            window_s: scenario.guards.window.as_secs_f64().ceil().max(1.0) as u64,
            latest: 0,
            agents: BTreeMap::new(),
        }
    }

    /// Add one agent's batch of seconds, all or nothing: every histogram
    /// is decoded and every entry checked before any is added.
    pub fn add_all(&mut self, agent: u32, seconds: &[EntrySecond]) -> Result<(), FleetError> {
        let mut decoded = Vec::with_capacity(seconds.len());
        for s in seconds {
            if s.entry >= self.entries.len() {
                return Err(FleetError::Entry(s.entry));
            }
            decoded.push(decode(&s.hdr)?);
        }
        for (s, h) in seconds.iter().zip(&decoded) {
            self.add_decoded(agent, s, h)?;
        }
        Ok(())
    }

    /// Add one agent's second (histogram addition: exact).
    pub fn add(&mut self, agent: u32, s: &EntrySecond) -> Result<(), FleetError> {
        let h = decode(&s.hdr)?;
        self.add_decoded(agent, s, &h)
    }

    fn add_decoded(
        &mut self,
        agent: u32,
        s: &EntrySecond,
        h: &Histogram<u64>,
    ) -> Result<(), FleetError> {
        let window = self.window_s;
        let e = self
            .entries
            .get_mut(s.entry)
            .ok_or(FleetError::Entry(s.entry))?;
        add(&mut e.total, h);
        e.requests += s.requests;
        e.errors += s.errors;
        e.dropped += s.dropped;
        let second = e.seconds.entry(s.t_s).or_default();
        second.requests += s.requests;
        second.errors += s.errors;
        second.dropped += s.dropped;
        add(&mut second.histogram, h);
        if let Some(h) = &second.histogram {
            second.p50 = if h.is_empty() {
                0.0
            } else {
                h.value_at_quantile(0.5) as f64 / 1000.0
            };
            second.p99 = p99_ms(Some(h));
        }
        // Seconds out of every window stop holding a histogram (seconds
        // come in order, give or take a late agent: the few just behind).
        let keep_from = s.t_s.saturating_sub(window + 2);
        for (_, old) in e.seconds.range_mut(keep_from.saturating_sub(8)..keep_from) {
            old.histogram = None;
        }
        self.latest = self.latest.max(s.t_s);
        let a = self.agents.entry(agent).or_default();
        a.requests += s.requests;
        a.errors += s.errors;
        a.dropped += s.dropped;
        a.last_second = Some(a.last_second.map_or(s.t_s, |l| l.max(s.t_s)));
        Ok(())
    }

    /// What each agent (by share index) streamed.
    pub fn streamed(&self, agent: u32) -> Streamed {
        self.agents.get(&agent).copied().unwrap_or_default()
    }

    /// Requests merged so far over all entries.
    pub fn requests(&self) -> u64 {
        self.entries.iter().map(|e| e.requests).sum()
    }

    /// The merged p99 (ms) of entry `i` over the whole run.
    pub fn p99_ms(&self, i: usize) -> f64 {
        p99_ms(self.entries.get(i).and_then(|e| e.total.as_ref()))
    }

    /// The first guard the merged window (the latest `window` seconds)
    /// breaks, as the guard event that stops the run.
    pub fn broken_guard(&self, scenario: &Scenario) -> Option<GuardEvent> {
        let from = (self.latest + 1).saturating_sub(self.window_s);
        for (i, e) in self.entries.iter().enumerate() {
            let mut view = View::default();
            let mut merged: Option<Histogram<u64>> = None;
            for (_, s) in e.seconds.range(from..) {
                view.requests += s.requests;
                view.errors += s.errors;
                view.dropped += s.dropped;
                if let Some(h) = &s.histogram {
                    add(&mut merged, h);
                }
            }
            view.p99_ms = p99_ms(merged.as_ref());
            if let Some((guard, value, threshold)) =
                crate::rehearse::broken_guard(&scenario.guards, &view)
            {
                let entry = self.ids.get(i).cloned().unwrap_or_default();
                let t_s = (self.latest + 1) as f64;
                let window_s = (self.latest + 1 - from) as f64;
                return Some(GuardEvent {
                    t_s,
                    entry: entry.clone(),
                    guard: guard.to_owned(),
                    value,
                    threshold,
                    window_s,
                    requests: view.requests,
                    action: "abort".to_owned(),
                    message: format!(
                        "guard {guard} broken on entry `{entry}` over every agent: {value:.4} over the last {window_s:.0} s ({} requests) exceeds {threshold}; run aborted on every agent at {t_s:.0} s",
                        view.requests
                    ),
                });
            }
        }
        None
    }
}

/// A search step over every agent's measurements: counts and histograms
/// added, each entry's SLO and the guards judged on the sums,
/// generator-bound when any agent was.
pub fn merge_step(scenario: &Scenario, locals: &[(String, LocalStep)]) -> MergedStep {
    let ran_s = locals.iter().map(|(_, l)| l.ran_s).fold(1e-3_f64, f64::max);
    let mut entries = Vec::with_capacity(scenario.entries.len());
    let mut held = true;
    for (i, spec) in scenario.entries.iter().enumerate() {
        let mut view = View::default();
        let mut merged: Option<Histogram<u64>> = None;
        let mut broken_here = false;
        for (_, l) in locals {
            if let Some(c) = l.entries.get(i) {
                view.requests += c.requests;
                view.errors += c.errors;
                view.dropped += c.dropped;
                if let Ok(h) = decode(&c.hdr) {
                    add(&mut merged, &h);
                }
            }
            broken_here |= l.broken_entry == Some(i);
        }
        view.p99_ms = p99_ms(merged.as_ref());
        let guard_broken = crate::rehearse::broken_guard(&scenario.guards, &view).is_some();
        let entry_held = if broken_here || guard_broken {
            Some(false)
        } else {
            spec.slo
                .and_then(|slo| crate::rehearse::judge_slo(&slo, &view))
        };
        held &= entry_held != Some(false);
        entries.push(StepEntry {
            id: spec.id.clone(),
            achieved_rps: view.requests as f64 / ran_s,
            error_rate: view.error_rate(),
            p99_ms: view.p99_ms,
            held: entry_held,
        });
    }
    let mut generator = locals
        .first()
        .map(|(_, l)| l.generator.clone())
        .unwrap_or_else(|| GeneratorCheck {
            bound: false,
            reasons: Vec::new(),
            cpu_share: None,
            cores: 0,
            cpu_quota: None,
            late_share: 0.0,
            lag_limit_ms: 0.0,
            max_lag_ms: 0.0,
            dropped: 0,
            connections: 0,
            needed_connections: 0.0,
        });
    generator.reasons.clear();
    generator.bound = false;
    generator.dropped = 0;
    generator.connections = 0;
    generator.cores = 0;
    // The fleet's CPU where any agent has a quota: each agent's usable
    // CPU, added.
    let (mut usable, mut quota_seen) = (0.0, false);
    for (name, l) in locals {
        let g = &l.generator;
        generator.bound |= g.bound;
        generator
            .reasons
            .extend(g.reasons.iter().map(|r| format!("agent {name}: {r}")));
        generator.cpu_share = match (generator.cpu_share, g.cpu_share) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        generator.cores += g.cores;
        usable += crate::generator::usable(g.cores, g.cpu_quota);
        quota_seen |= g.cpu_quota.is_some();
        generator.late_share = generator.late_share.max(g.late_share);
        generator.max_lag_ms = generator.max_lag_ms.max(g.max_lag_ms);
        generator.dropped += g.dropped;
        generator.connections += g.connections;
        generator.needed_connections = generator.needed_connections.max(g.needed_connections);
    }
    generator.cpu_quota = quota_seen.then_some(usable);
    MergedStep {
        held,
        generator,
        entries,
    }
}

/// What one agent sent at its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentFinal {
    /// Its own result over its share.
    pub result: RunResult,
    /// Per entry, its own latency histogram over the run ([`encode`]).
    pub latency_hdr: Vec<String>,
}

/// An agent of the run as the control plane knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentPart {
    /// Its name.
    pub name: String,
    /// Its share.
    pub share: Share,
    /// Its end, when it reported one (`None`: it went silent).
    pub end: Option<AgentFinal>,
}

/// The one `seawall.run/v1` result of a run across agents: entries,
/// series and percentiles from the merged stream, journeys summed, the
/// search's steps as judged on the merged view, the stop (a broken guard
/// or an operator's abort) and each agent's part. `partial` when an agent
/// went silent before its end.
pub fn merge_results(
    scenario: &Scenario,
    merger: &Merger,
    parts: &[AgentPart],
    steps: &[MergedStep],
    stop: Option<GuardEvent>,
) -> RunResult {
    let finals: Vec<&AgentFinal> = parts.iter().filter_map(|p| p.end.as_ref()).collect();
    let template = finals.first().map(|f| &f.result);
    let duration_s = finals
        .iter()
        .map(|f| f.result.duration_s)
        .fold(0.0_f64, f64::max);
    let duration_s = if duration_s > 0.0 {
        duration_s
    } else {
        merger.latest as f64 + 1.0
    };
    let mode = match &scenario.load {
        crate::scenario::LoadProfile::Fixed { .. } => RunMode::Fixed,
        crate::scenario::LoadProfile::Stages(_) => RunMode::Stages,
        crate::scenario::LoadProfile::Search(_) => RunMode::Search,
    };
    let mut entries: Vec<EntryResult> = Vec::with_capacity(scenario.entries.len());
    for (i, spec) in scenario.entries.iter().enumerate() {
        let e = &merger.entries[i];
        let mut errors = crate::stats::ErrorCounts::default();
        for f in &finals {
            if let Some(fe) = f.result.entries.get(i) {
                errors.connect += fe.errors.connect;
                errors.timeout += fe.errors.timeout;
                errors.io += fe.errors.io;
                errors.status_4xx += fe.errors.status_4xx;
                errors.status_5xx += fe.errors.status_5xx;
                errors.body += fe.errors.body;
            }
        }
        errors.total = e.errors;
        let view = View {
            requests: e.requests,
            errors: e.errors,
            dropped: e.dropped,
            p99_ms: p99_ms(e.total.as_ref()),
        };
        let intended_qps = template
            .and_then(|t| t.entries.get(i))
            .map_or(0.0, |t| t.intended_qps);
        entries.push(EntryResult {
            id: spec.id.clone(),
            service: String::new(),
            target_qps: spec.target_qps,
            intended_qps,
            requests: e.requests,
            ok: e.requests.saturating_sub(e.errors),
            achieved_rps: e.requests as f64 / duration_s,
            dropped: e.dropped,
            errors,
            latency_ms: latency(e.total.as_ref()),
            slo: spec.slo,
            slo_source: spec.slo_source.clone(),
            slo_held: if mode == RunMode::Search {
                None
            } else {
                spec.slo
                    .and_then(|slo| crate::rehearse::judge_slo(&slo, &view))
            },
            knee_qps: None,
            held_qps: None,
            lower_bound_qps: None,
            series: e
                .seconds
                .iter()
                .map(|(t, s)| SecondPoint {
                    t_s: *t,
                    rate: s.requests,
                    errors: s.errors,
                    dropped: s.dropped,
                    p50: s.p50,
                    p99: s.p99,
                })
                .collect(),
        });
    }
    let search = template.and_then(|t| t.search.clone()).map(|local| {
        let mut merged_steps = local.steps.clone();
        for (s, m) in merged_steps.iter_mut().zip(steps) {
            s.held = m.held;
            s.entries = m.entries.clone();
            s.generator = Some(m.generator.clone());
        }
        let verdict = crate::search::Verdict {
            knee: local.knee_multiple.or(local.lower_bound_multiple),
            broken: local.broken_multiple,
            confirmed: local.confirmed,
            generator_bound: local.generator_bound,
            stopped: local.stopped.clone(),
        };
        crate::rehearse::search_result(merged_steps, verdict, &mut entries)
    });
    let silent: Vec<&AgentPart> = parts.iter().filter(|p| p.end.is_none()).collect();
    let outcome = crate::rehearse::outcome(stop.is_some(), search.as_ref(), &entries);
    let mut journeys = template.map(|t| t.journeys.clone()).unwrap_or_default();
    for j in &mut journeys {
        j.arrivals = 0;
        j.reached.iter_mut().for_each(|r| *r = 0);
    }
    for f in &finals {
        for (j, fj) in journeys.iter_mut().zip(&f.result.journeys) {
            j.arrivals += fj.arrivals;
            for (r, fr) in j.reached.iter_mut().zip(&fj.reached) {
                *r += fr;
            }
        }
    }
    let mut guard_events: Vec<GuardEvent> = template
        .map(|t| {
            t.guard_events
                .iter()
                .filter(|g| g.guard != "control_plane")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    guard_events.extend(stop.clone());
    let count = parts.len() as u32;
    let breakdown = parts
        .iter()
        .map(|p| {
            let streamed = merger.streamed(p.share.index);
            AgentResult {
                name: p.name.clone(),
                index: p.share.index,
                count: p.share.count,
                status: if p.end.is_some() {
                    "finished"
                } else {
                    "silent"
                }
                .to_owned(),
                last_second: streamed.last_second,
                requests: streamed.requests,
                errors: streamed.errors,
                dropped: streamed.dropped,
                achieved_rps: streamed.requests as f64 / duration_s,
                generator_bound_steps: p
                    .end
                    .as_ref()
                    .and_then(|f| f.result.search.as_ref())
                    .map_or(0, |s| {
                        s.steps
                            .iter()
                            .filter(|st| st.generator.as_ref().is_some_and(|g| g.bound))
                            .count() as u32
                    }),
                latency_hdr: p
                    .end
                    .as_ref()
                    .map(|f| f.latency_hdr.clone())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let started = finals
        .iter()
        .map(|f| f.result.started.clone())
        .min()
        .unwrap_or_default();
    let finished = finals
        .iter()
        .map(|f| f.result.finished.clone())
        .max()
        .unwrap_or_default();
    RunResult {
        schema: crate::result::RUN_SCHEMA.to_owned(),
        run_id: scenario.tag.as_ref().map(|t| t.run_id.clone()),
        scenario: scenario.name.clone(),
        plan: None,
        base_url: scenario.base_url.clone(),
        started,
        finished,
        duration_s,
        mode,
        arrivals: match scenario.arrivals {
            crate::Arrivals::Constant => "constant".to_owned(),
            crate::Arrivals::Poisson { .. } => "poisson".to_owned(),
        },
        tag: template.and_then(|t| t.tag.clone()),
        outcome,
        abort: stop,
        requests: entries.iter().map(|e| e.requests).sum(),
        errors: entries.iter().map(|e| e.errors.total).sum(),
        dropped: entries.iter().map(|e| e.dropped).sum(),
        journeys,
        entries,
        services: Vec::new(),
        guard_events,
        search,
        fleet: Some(FleetResult {
            status: if silent.is_empty() {
                "complete"
            } else {
                "partial"
            }
            .to_owned(),
            agents: count,
            breakdown,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: &[u64]) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 11_000_000, crate::stats::SIGFIG).expect("h");
        for v in values {
            h.saturating_record(*v);
        }
        h
    }

    /// What merging costs per agent-second: one second of one entry at
    /// 5,000 requests with latencies from 0.2 ms to 2 s, decoded and added
    /// 2,000 times (`bash bench/agents.sh` runs it in release).
    #[test]
    #[ignore = "a benchmark: bench/agents.sh"]
    fn merge_cost_per_agent_second() {
        let values: Vec<u64> = (0..5000u64)
            .map(|k| 200 + (k * k * 79) % 2_000_000)
            .collect();
        let text = encode(&histogram(&values));
        let mut merger = Merger {
            entries: vec![EntryMerge::default()],
            ids: vec!["e".into()],
            window_s: 10,
            latest: 0,
            agents: BTreeMap::new(),
        };
        let n = 2000u64;
        let started = std::time::Instant::now();
        for k in 0..n {
            let second = EntrySecond {
                entry: 0,
                t_s: k / 20,
                requests: 5000,
                errors: 0,
                dropped: 0,
                hdr: text.clone(),
            };
            merger.add((k % 20) as u32, &second).expect("merge");
        }
        let per = started.elapsed().as_secs_f64() / n as f64;
        assert_eq!(merger.requests(), 5000 * n);
        println!(
            "merge: {:.1} µs per agent-second ({} bytes streamed per entry-second)",
            per * 1e6,
            text.len()
        );
    }

    #[test]
    fn shares_are_disjoint_and_cover_every_arrival() {
        let shares: Vec<Share> = (0..4).map(|index| Share { index, count: 4 }).collect();
        for k in 0..1000u64 {
            assert_eq!(
                shares.iter().filter(|s| s.takes(k)).count(),
                1,
                "arrival {k}"
            );
        }
        assert!(Share { index: 4, count: 4 }.check().is_err());
        assert!(Share { index: 0, count: 0 }.check().is_err());
    }

    #[test]
    fn streamed_histograms_merge_exactly() {
        // Four agents' seconds, merged: the p99 is the union's p99 at the
        // same precision, not an average of the four p99s.
        let agents: Vec<Vec<u64>> = (0..4u64)
            .map(|a| {
                (0..500u64)
                    .map(|k| 1000 + a * 7919 + k * k * (a + 1))
                    .collect()
            })
            .collect();
        let scenario_entries = 1;
        let mut merger = Merger {
            entries: vec![EntryMerge::default(); scenario_entries],
            ids: vec!["e".into()],
            window_s: 10,
            latest: 0,
            agents: BTreeMap::new(),
        };
        let mut union = histogram(&[]);
        for (a, values) in agents.iter().enumerate() {
            let h = histogram(values);
            union.add(&h).expect("add");
            let text = encode(&h);
            assert!(!text.is_empty());
            merger
                .add(
                    a as u32,
                    &EntrySecond {
                        entry: 0,
                        t_s: 0,
                        requests: values.len() as u64,
                        errors: 0,
                        dropped: 0,
                        hdr: text,
                    },
                )
                .expect("merge");
        }
        assert_eq!(
            merger.p99_ms(0),
            union.value_at_quantile(0.99) as f64 / 1000.0
        );
        assert_eq!(merger.requests(), 2000);
        assert!(decode("not base64!").is_err());
    }
}
