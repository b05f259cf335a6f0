//! The scenario runner: journey arrivals on the open model, each walking
//! its steps (conversions, calls, think time, templates, extraction),
//! per-entry statistics, guards checked five times a second, and the three
//! ways to drive the rate — fixed, stages, capacity search.
//!
//! Journey arrivals happen at intended times (constant or Poisson over the
//! rate profile) and are never delayed. A step that finds the connection
//! cap reached is dropped and ends its walk. A later step's intended send
//! time is the previous response's completion plus the step's think time,
//! so think time is honoured and latency of every request is still
//! measured from the time it was meant to be sent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{StatusCode, Uri};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::HttpVersion;
use crate::LoadError;
use crate::arrivals::Arrivals;
use crate::client::{Pool, write_request};
use crate::data::DataSet;
use crate::fleet::{EntryCounts, Hooks, LocalStep, Share, stop_event};
use crate::ramp::{Profile, ProfileArrivals};
use crate::result::{
    EntryResult, GeneratorCheck, GuardEvent, JourneyResult, Outcome, RUN_SCHEMA, RunMode,
    RunResult, SearchResult, SearchStep, SecondPoint, SloSpec, StepEntry, TagInfo, rfc3339_utc,
    unix_ms_now,
};
use crate::scenario::{CStep, Compiled, GuardSpec, LoadProfile, Scenario};
use crate::search::{Next, Search, Verdict};
use crate::stats::{ErrorClass, Mode, Progress, Recorder, View};

/// How often guards are checked (an abort follows a broken guard within
/// this, plus the time to notice responses).
const GUARD_PERIOD: Duration = Duration::from_millis(200);
/// A guard or SLO judges a window only once it holds this many requests,
/// so one early failure is not a 100 % error rate.
pub const MIN_JUDGED_REQUESTS: u64 = 10;

/// A once-a-second view of a scenario run.
#[derive(Debug, Clone, PartialEq)]
pub struct RehearseProgress {
    /// Time since the start.
    pub elapsed: Duration,
    /// Intended rate multiple now.
    pub multiple: f64,
    /// What is running: `fixed`, `stages`, or a search step (`step ×1.25`).
    pub phase: String,
    /// Requests completed in the last whole second, all entries.
    pub last_second: u64,
    /// Highest per-entry p99 (ms) of the last whole second.
    pub p99_ms: f64,
    /// Requests completed so far.
    pub requests: u64,
    /// Failures so far.
    pub errors: u64,
    /// Dropped steps so far.
    pub dropped: u64,
    /// Per entry, in the scenario's order: its id and its own view (the
    /// last whole second, totals so far, latency buckets).
    pub entries: Vec<(String, Progress)>,
}

/// Run a scenario and return its result.
///
/// Everything is checked (and the host resolved) before the first request:
/// an `Err` means nothing was sent. A broken guard stops the run and the
/// result says so (`outcome: aborted`, `abort`); requests in flight are
/// awaited up to the timeout.
///
/// Must be called inside a tokio runtime with time and IO; one thread is
/// enough (`seawall rehearse` on one core runs on a current-thread runtime,
/// as `seawall load` does).
pub async fn rehearse<F>(scenario: &Scenario, on_progress: F) -> Result<RunResult, LoadError>
where
    F: FnMut(&RehearseProgress),
{
    rehearse_with(scenario, &Hooks::default(), on_progress).await
}

/// Run a scenario as one rehearsal agent of several ([`crate::fleet`]):
/// only `hooks.share` of the arrivals, from `hooks.start_at`, streaming
/// every closed second, stopping when `hooks.stop` says so, and (in a
/// capacity search) taking each step's verdict from `hooks.judge`. With
/// default hooks this is [`rehearse`].
pub async fn rehearse_with<F>(
    scenario: &Scenario,
    hooks: &Hooks,
    mut on_progress: F,
) -> Result<RunResult, LoadError>
where
    F: FnMut(&RehearseProgress),
{
    let compiled = scenario.compile()?;
    if let Some(share) = hooks.share {
        share.check()?;
    }
    let addr = crate::config::resolve(&compiled.host_port).await?;
    if let Some(at) = hooks.start_at {
        // The agreed start: at most a minute ahead (the control plane
        // picks a few seconds).
        let wait = at
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
            .min(Duration::from_secs(60));
        tokio::time::sleep(wait).await;
    }
    let started_ms = unix_ms_now();
    let start = Instant::now();
    let shared = Arc::new(Shared::new(scenario, compiled, addr, start, hooks)?);
    let mut ctl = Controller {
        shared: Arc::clone(&shared),
        scenario,
        hooks,
        start,
        next_progress: start + Duration::from_secs(1),
        events: Vec::new(),
    };
    let driven = ctl.drive(&mut on_progress).await;
    let aborted = ctl.events.iter().any(|e| e.action == "abort");
    wind_down(scenario, &shared, aborted).await;
    let events = std::mem::take(&mut ctl.events);
    let result = run_result(scenario, &shared, driven, events, started_ms);
    // The last (partial) second closed by `run_result`.
    ctl.stream_closed();
    if hooks.seconds.is_some() {
        let totals = (0..scenario.entries.len())
            .map(|i| crate::fleet::encode(shared.record(i).total_histogram()))
            .collect();
        *hooks.totals.lock().unwrap_or_else(|e| e.into_inner()) = totals;
    }
    Ok(result)
}

/// What driving the load profile gave: the mode, how long arrivals were
/// issued, ∫ multiple dt over that time, and a search's steps and verdict.
struct Driven {
    mode: RunMode,
    issued: Duration,
    multiple_seconds: f64,
    search: Option<(Vec<SearchStep>, crate::search::Verdict)>,
}

impl Shared {
    /// The run's shared state: one recorder per entry (keeping the guard
    /// window), the connection pool and slots, the counters.
    fn new(
        scenario: &Scenario,
        compiled: Compiled,
        addr: std::net::SocketAddr,
        start: Instant,
        hooks: &Hooks,
    ) -> Result<Self, LoadError> {
        let highest = scenario
            .timeout
            .saturating_mul(2)
            .saturating_add(Duration::from_secs(1));
        let window_s = scenario.guards.window.as_secs_f64().ceil().max(1.0) as usize;
        let mut recorders = Vec::with_capacity(scenario.entries.len());
        for _ in &scenario.entries {
            let mut r = Recorder::new(start, highest).map_err(|e| LoadError::InvalidSetting {
                setting: "timeout",
                reason: e.to_string(),
            })?;
            r.keep_window(window_s);
            if hooks.seconds.is_some() {
                r.keep_closed();
            }
            recorders.push(Mutex::new(r));
        }
        let mut headers = compiled.headers.clone();
        if scenario.http == HttpVersion::Http2 {
            headers.remove(header::HOST);
        }
        let wires = compiled
            .journeys
            .iter()
            .map(|j| {
                j.steps
                    .iter()
                    .map(|step| static_wire(&compiled, &headers, scenario.http, step))
                    .collect()
            })
            .collect();
        Ok(Shared {
            share: hooks.share,
            journey_arrivals: compiled
                .journeys
                .iter()
                .map(|_| AtomicU64::new(0))
                .collect(),
            reached: counters(&compiled),
            decided: counters(&compiled),
            visits: counters(&compiled),
            headers,
            wires,
            c: compiled,
            pool: Pool::new(addr, scenario.http, scenario.timeout),
            slots: Arc::new(Semaphore::new(scenario.connections)),
            recorders,
            data: scenario.data.clone(),
            stopped: AtomicBool::new(false),
            seq: AtomicU64::new(0),
            http: scenario.http,
            step_started: AtomicU64::new(0),
            active: AtomicU64::new(0),
            lag_limit: crate::generator::Limits::default().lag_limit(tightest_p99_ms(scenario)),
            sends: AtomicU64::new(0),
            late: AtomicU64::new(0),
            max_lag_us: AtomicU64::new(0),
        })
    }
}

impl Controller<'_> {
    /// Runs the scenario's load profile: a fixed multiple, stages, or a
    /// capacity search.
    async fn drive<F: FnMut(&RehearseProgress)>(&mut self, on_progress: &mut F) -> Driven {
        let scenario = self.scenario;
        let base_rate = self.shared.c.base_rate;
        match &scenario.load {
            LoadProfile::Fixed { multiple, duration } => {
                let profile = Profile::flat(multiple * base_rate, duration.as_secs_f64());
                let (issued, _) = self
                    .phase(
                        &profile,
                        scenario.arrivals,
                        "fixed",
                        Judge::Abort,
                        on_progress,
                    )
                    .await;
                Driven {
                    mode: RunMode::Fixed,
                    issued,
                    multiple_seconds: multiple * issued.as_secs_f64(),
                    search: None,
                }
            }
            LoadProfile::Stages(stages) => {
                let pieces: Vec<(f64, f64)> = stages
                    .iter()
                    .map(|(m, d)| (m * base_rate, d.as_secs_f64()))
                    .collect();
                let profile = Profile::stages(&pieces);
                let (issued, _) = self
                    .phase(
                        &profile,
                        scenario.arrivals,
                        "stages",
                        Judge::Abort,
                        on_progress,
                    )
                    .await;
                // ∫ multiple dt up to the end (or the abort).
                let area = area_until(&profile, issued.as_secs_f64()) / base_rate;
                Driven {
                    mode: RunMode::Stages,
                    issued,
                    multiple_seconds: area,
                    search: None,
                }
            }
            LoadProfile::Search(spec) => {
                let (steps, verdict, area) = self.search(spec, on_progress).await;
                Driven {
                    mode: RunMode::Search,
                    issued: self.start.elapsed(),
                    multiple_seconds: area,
                    search: Some((steps, verdict)),
                }
            }
        }
    }
}

/// After a normal end, walks under way finish their journeys (so every
/// arrival's steps are sent and per-entry counts follow the plan), within
/// the grace period; after an abort they stop at once. Then walks stop
/// before their next step and requests in flight are awaited.
async fn wind_down(scenario: &Scenario, shared: &Shared, aborted: bool) {
    let grace = scenario.timeout.saturating_add(Duration::from_secs(1));
    if !aborted {
        let deadline = Instant::now() + grace;
        // Bounded by the deadline.
        while shared.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    shared.stopped.store(true, Ordering::SeqCst);
    let all = u32::try_from(scenario.connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(grace, shared.slots.acquire_many(all)).await;
}

/// The run's result document: per-entry and per-journey numbers, the
/// search's steps, the outcome (aborted, SLO failed, completed).
fn run_result(
    scenario: &Scenario,
    shared: &Shared,
    driven: Driven,
    events: Vec<GuardEvent>,
    started_ms: u64,
) -> RunResult {
    let duration_s = driven.issued.as_secs_f64();
    let mean_multiple = if duration_s > 0.0 {
        driven.multiple_seconds / duration_s
    } else {
        0.0
    };
    let abort = events.iter().find(|e| e.action == "abort").cloned();
    let mut entries = entry_results(scenario, shared, driven.mode, driven.issued, mean_multiple);
    let search = driven
        .search
        .map(|(steps, verdict)| search_result(steps, verdict, &mut entries));
    let outcome = outcome(abort.is_some(), search.as_ref(), &entries);
    let journeys = journey_results(scenario, shared);
    RunResult {
        schema: RUN_SCHEMA.to_owned(),
        run_id: shared.c.run_id.clone(),
        scenario: scenario.name.clone(),
        plan: None,
        base_url: scenario.base_url.clone(),
        started: rfc3339_utc(started_ms),
        finished: rfc3339_utc(unix_ms_now()),
        duration_s,
        mode: driven.mode,
        arrivals: match scenario.arrivals {
            Arrivals::Constant => "constant".to_owned(),
            Arrivals::Poisson { .. } => "poisson".to_owned(),
        },
        tag: match (&scenario.tag, scenario.untagged) {
            (Some(t), false) => Some(TagInfo {
                header: t.header.clone(),
                baggage_key: t.baggage_key.clone(),
            }),
            _ => None,
        },
        outcome,
        abort,
        requests: entries.iter().map(|e| e.requests).sum(),
        errors: entries.iter().map(|e| e.errors.total).sum(),
        dropped: entries.iter().map(|e| e.dropped).sum(),
        journeys,
        entries,
        services: Vec::new(),
        guard_events: events,
        search,
        fleet: None,
    }
}

/// How a run ended: aborted, else SLO failed (a search with neither a
/// knee nor a lower bound, or an entry whose SLO broke), else completed.
pub(crate) fn outcome(
    aborted: bool,
    search: Option<&SearchResult>,
    entries: &[EntryResult],
) -> Outcome {
    let failed = match search {
        Some(s) => s.knee_multiple.is_none() && s.lower_bound_multiple.is_none(),
        None => entries.iter().any(|e| e.slo_held == Some(false)),
    };
    if aborted {
        Outcome::Aborted
    } else if failed {
        Outcome::SloFailed
    } else {
        Outcome::Completed
    }
}

/// Each entry's numbers over the whole run, its SLO judged (not in a search,
/// whose steps judge it).
fn entry_results(
    scenario: &Scenario,
    shared: &Shared,
    mode: RunMode,
    issued: Duration,
    mean_multiple: f64,
) -> Vec<EntryResult> {
    let mut entries = Vec::with_capacity(scenario.entries.len());
    for (i, spec) in scenario.entries.iter().enumerate() {
        let summary = shared
            .record(i)
            .finish(Mode::Open, None, shared.c.run_id.clone(), issued);
        let view = View {
            requests: summary.requests,
            errors: summary.errors.total,
            dropped: summary.dropped,
            p99_ms: summary.latency_ms.p99,
        };
        entries.push(EntryResult {
            id: spec.id.clone(),
            service: String::new(),
            target_qps: spec.target_qps,
            intended_qps: shared.c.entry_rate[i] * mean_multiple,
            requests: summary.requests,
            ok: summary.ok,
            achieved_rps: summary.achieved_rps,
            dropped: summary.dropped,
            errors: summary.errors,
            latency_ms: summary.latency_ms,
            slo: spec.slo,
            slo_source: spec.slo_source.clone(),
            slo_held: if mode == RunMode::Search {
                None
            } else {
                spec.slo.and_then(|slo| judge_slo(&slo, &view))
            },
            knee_qps: None,
            held_qps: None,
            lower_bound_qps: None,
            series: summary
                .intervals
                .iter()
                .map(|s| SecondPoint {
                    t_s: s.t_s,
                    rate: s.requests,
                    errors: s.errors,
                    dropped: s.dropped,
                    p50: s.latency_ms.p50,
                    p99: s.latency_ms.p99,
                })
                .collect(),
        });
    }
    entries
}

/// The search's steps and verdict, each entry's held rate and knee (an
/// entry that broke at some step is a bottleneck). An entry's knee needs a
/// break the system made: when the search's verdict is generator-bound, or
/// the entry broke only at generator-bound steps, its held rate is a lower
/// bound instead.
pub(crate) fn search_result(
    steps: Vec<SearchStep>,
    verdict: Verdict,
    entries: &mut [EntryResult],
) -> SearchResult {
    let mut bottlenecks = Vec::new();
    for (i, entry) in entries.iter_mut().enumerate() {
        let held = steps
            .iter()
            .filter(|s| s.entries[i].held == Some(true))
            .map(|s| s.entries[i].achieved_rps)
            .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
        let broke = |honest: bool| {
            steps.iter().any(|s| {
                s.entries[i].held == Some(false)
                    && (!honest || !s.generator.as_ref().is_some_and(|g| g.bound))
            })
        };
        entry.held_qps = held;
        if broke(true) && !verdict.generator_bound {
            entry.knee_qps = held;
            bottlenecks.push(entry.id.clone());
        } else if broke(false) {
            entry.lower_bound_qps = held;
        }
    }
    let mut stopped = verdict.stopped;
    if verdict.generator_bound
        && let Some(reasons) = steps
            .iter()
            .filter(|s| !s.held && Some(s.multiple) == verdict.broken)
            .find_map(|s| s.generator.as_ref().filter(|g| g.bound))
            .map(|g| g.reasons.join("; "))
    {
        stopped = format!("{stopped} (the generator {reasons})");
    }
    let (knee_multiple, lower_bound_multiple) = if verdict.generator_bound {
        (None, verdict.knee)
    } else {
        (verdict.knee, None)
    };
    SearchResult {
        steps,
        knee_multiple,
        lower_bound_multiple,
        generator_bound: verdict.generator_bound,
        broken_multiple: verdict.broken,
        confirmed: verdict.confirmed,
        bottlenecks,
        stopped,
    }
}

/// Each journey's share, arrivals and how far its walks got.
fn journey_results(scenario: &Scenario, shared: &Shared) -> Vec<JourneyResult> {
    scenario
        .journeys
        .iter()
        .enumerate()
        .map(|(j, spec)| JourneyResult {
            id: spec.id.clone(),
            base_rate: spec.rate,
            share: spec.rate / shared.c.base_rate,
            arrivals: shared.journey_arrivals[j].load(Ordering::Relaxed),
            reached: shared.reached[j]
                .iter()
                .map(|r| r.load(Ordering::Relaxed))
                .collect(),
        })
        .collect()
}

/// `∫₀ᵗ rate` of a profile.
fn area_until(profile: &Profile, t: f64) -> f64 {
    let mut area = 0.0;
    let mut start = 0.0;
    for p in &profile.pieces {
        if t <= start {
            break;
        }
        let tau = (t - start).min(p.seconds);
        let end_rate = p.from + (p.to - p.from) * (tau / p.seconds);
        area += (p.from + end_rate) / 2.0 * tau;
        start += p.seconds;
    }
    area
}

/// The tightest p99 bound of the scenario (entry SLOs and guards), in ms.
fn tightest_p99_ms(scenario: &Scenario) -> Option<f64> {
    scenario
        .entries
        .iter()
        .filter_map(|e| e.slo.and_then(|s| s.p99_ms))
        .chain(scenario.guards.p99_ms)
        .filter(|ms| ms.is_finite() && *ms > 0.0)
        .fold(None, |m: Option<f64>, ms| Some(m.map_or(ms, |m| m.min(ms))))
}

/// Whether `view` holds `slo`; `None` when there is nothing to judge
/// (no bound, or fewer than [`MIN_JUDGED_REQUESTS`] requests).
pub(crate) fn judge_slo(slo: &SloSpec, view: &View) -> Option<bool> {
    if view.requests < MIN_JUDGED_REQUESTS || (slo.error_rate.is_none() && slo.p99_ms.is_none()) {
        return None;
    }
    let errors_ok = slo.error_rate.is_none_or(|max| view.error_rate() <= max);
    let p99_ok = slo.p99_ms.is_none_or(|max| view.p99_ms <= max);
    Some(errors_ok && p99_ok)
}

/// The first guard `view` breaks: `(guard, value, threshold)`.
pub(crate) fn broken_guard(guards: &GuardSpec, view: &View) -> Option<(&'static str, f64, f64)> {
    if view.requests < MIN_JUDGED_REQUESTS {
        return None;
    }
    if let Some(max) = guards.error_rate
        && view.error_rate() > max
    {
        return Some(("error_rate", view.error_rate(), max));
    }
    if let Some(max) = guards.p99_ms
        && view.p99_ms > max
    {
        return Some(("p99_ms", view.p99_ms, max));
    }
    None
}

/// What a broken guard does in a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Judge {
    /// Stop the run (fixed and staged runs), windowed over `guards.window`.
    Abort,
    /// End the search step as failed, judged over the step so far.
    FailStep,
}

/// Drives phases, checks guards, reports progress.
struct Controller<'a> {
    shared: Arc<Shared>,
    scenario: &'a Scenario,
    hooks: &'a Hooks,
    start: Instant,
    next_progress: Instant,
    events: Vec<GuardEvent>,
}

impl Controller<'_> {
    /// Issue `profile` from now; return how long it ran and which entry
    /// broke a guard, if one did.
    async fn phase<F: FnMut(&RehearseProgress)>(
        &mut self,
        profile: &Profile,
        arrivals: Arrivals,
        label: &str,
        judge: Judge,
        on_progress: &mut F,
    ) -> (Duration, Option<usize>) {
        // On the timer's grid, as every generator starts (see `timer_grid`).
        let phase_start = crate::timer_grid::on_timer_grid(Instant::now());
        let mut issuing = tokio::spawn(issue(
            Arc::clone(&self.shared),
            profile.arrivals(arrivals),
            phase_start,
            // At most a year: stages are checked to 7 days each.
            phase_start
                + Duration::try_from_secs_f64(profile.seconds().clamp(0.0, 3.2e7))
                    .unwrap_or_default(),
        ));
        let base = self.shared.c.base_rate;
        let mut tick = phase_start + GUARD_PERIOD;
        // Bounded: the issuer ends at the profile's end (or is aborted).
        loop {
            if tokio::time::timeout_at(tick, &mut issuing).await.is_ok() {
                return (phase_start.elapsed(), None);
            }
            let now = Instant::now();
            if let Some(reason) = self.hooks.stop.reason() {
                self.events
                    .push(stop_event((now - self.start).as_secs_f64(), &reason));
                stop_issuing(&mut issuing).await;
                return (phase_start.elapsed(), None);
            }
            // An agent's run is guarded by the control plane on the merged
            // view; a search step is still judged here and then merged.
            let local = judge == Judge::FailStep || self.hooks.seconds.is_none();
            if local && let Some(entry) = self.check_guards(now, judge) {
                stop_issuing(&mut issuing).await;
                return (phase_start.elapsed(), Some(entry));
            }
            if now >= self.next_progress {
                let multiple = profile.rate_at((now - phase_start).as_secs_f64()) / base;
                on_progress(&self.progress(now, multiple, label));
                self.stream_closed();
                self.next_progress += Duration::from_secs(1);
            }
            tick += GUARD_PERIOD;
        }
    }

    /// Check every entry's guards; record and return the first broken one.
    fn check_guards(&mut self, now: Instant, judge: Judge) -> Option<usize> {
        let guards = &self.scenario.guards;
        if guards.error_rate.is_none() && guards.p99_ms.is_none() {
            return None;
        }
        let window_s = guards.window.as_secs_f64().ceil().max(1.0) as usize;
        for i in 0..self.scenario.entries.len() {
            let (view, window) = {
                let mut r = self.shared.record(i);
                match judge {
                    Judge::Abort => (
                        r.window_view(now, window_s),
                        (window_s as f64).min((now - self.start).as_secs_f64()),
                    ),
                    Judge::FailStep => (r.phase_view(), 0.0),
                }
            };
            if let Some((guard, value, threshold)) = broken_guard(guards, &view) {
                let entry = &self.scenario.entries[i].id;
                let t_s = (now - self.start).as_secs_f64();
                let (action, what) = match judge {
                    Judge::Abort => ("abort", "run aborted"),
                    Judge::FailStep => ("step_failed", "search step failed"),
                };
                let window_s = if judge == Judge::FailStep {
                    (now - self.step_start(now)).as_secs_f64()
                } else {
                    window
                };
                let shown = if guard == "error_rate" {
                    format!("{:.4}", value)
                } else {
                    format!("{value:.1} ms")
                };
                self.events.push(GuardEvent {
                    t_s,
                    entry: entry.clone(),
                    guard: guard.to_owned(),
                    value,
                    threshold,
                    window_s,
                    requests: view.requests,
                    action: action.to_owned(),
                    message: format!(
                        "guard {guard} broken on entry `{entry}`: {shown} over the last {window_s:.1} s ({} requests) exceeds {threshold}; {what} at {t_s:.1} s",
                        view.requests
                    ),
                });
                return Some(i);
            }
        }
        None
    }

    /// Send every second closed since the last call to the control plane
    /// (rehearsal agents only).
    fn stream_closed(&self) {
        let Some(tx) = &self.hooks.seconds else {
            return;
        };
        let mut batch = Vec::new();
        for i in 0..self.scenario.entries.len() {
            let closed = self.shared.record(i).take_closed();
            for c in closed {
                batch.push(crate::fleet::EntrySecond {
                    entry: i,
                    t_s: c.t_s,
                    requests: c.requests,
                    errors: c.errors,
                    dropped: c.dropped,
                    hdr: crate::fleet::encode(&c.histogram),
                });
            }
        }
        if !batch.is_empty() {
            // The receiver gone means the agent is shutting down.
            let _ = tx.send(batch);
        }
    }

    /// This agent's measurements of the search step just run, for the
    /// control plane to merge with the other agents'.
    fn local_step(
        &self,
        index: usize,
        multiple: f64,
        ran_s: f64,
        broken: Option<usize>,
        generator: &GeneratorCheck,
    ) -> LocalStep {
        let entries = (0..self.scenario.entries.len())
            .map(|i| {
                let r = self.shared.record(i);
                let view = r.phase_view();
                EntryCounts {
                    requests: view.requests,
                    errors: view.errors,
                    dropped: view.dropped,
                    hdr: r
                        .phase_histogram()
                        .map(crate::fleet::encode)
                        .unwrap_or_default(),
                }
            })
            .collect();
        LocalStep {
            index,
            multiple,
            ran_s,
            broken_entry: broken,
            generator: generator.clone(),
            entries,
        }
    }

    /// Start of the current search step (kept on the shared state).
    fn step_start(&self, now: Instant) -> Instant {
        let since = self.shared.step_started.load(Ordering::Relaxed);
        self.start + Duration::from_millis(since).min(now - self.start)
    }

    fn progress(&self, now: Instant, multiple: f64, label: &str) -> RehearseProgress {
        let mut p = RehearseProgress {
            elapsed: now - self.start,
            multiple,
            phase: label.to_owned(),
            last_second: 0,
            p99_ms: 0.0,
            requests: 0,
            errors: 0,
            dropped: 0,
            entries: Vec::with_capacity(self.scenario.entries.len()),
        };
        for (i, spec) in self.scenario.entries.iter().enumerate() {
            let e = self.shared.record(i).progress(now, Duration::ZERO);
            p.last_second += e.last.requests;
            p.p99_ms = p.p99_ms.max(e.last.latency_ms.p99);
            p.requests += e.requests;
            p.errors += e.errors;
            p.dropped += e.dropped;
            p.entries.push((spec.id.clone(), e));
        }
        p
    }

    /// Whether the generator was the limit during the search step just
    /// run at `multiple` for `ran` (CPU read at its start: `cpu_before`).
    fn generator_check(
        &self,
        multiple: f64,
        ran: Duration,
        cpu_before: Option<Duration>,
    ) -> GeneratorCheck {
        let cores = crate::generator::cores();
        let cpu_quota = crate::generator::cpu_quota().filter(|q| *q < cores as f64);
        let cpu_share = crate::generator::cpu_share(
            cpu_before,
            crate::generator::process_cpu(),
            ran,
            crate::generator::usable(cores, cpu_quota),
        );
        let timeout_ms = self.scenario.timeout.as_secs_f64() * 1000.0;
        let needed_connections: f64 = self
            .scenario
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let p99_ms = e.slo.and_then(|s| s.p99_ms).unwrap_or(timeout_ms);
                self.shared.c.entry_rate[i] * multiple * p99_ms / 1000.0
            })
            .sum();
        let dropped = (0..self.scenario.entries.len())
            .map(|i| self.shared.record(i).phase_view().dropped)
            .sum();
        let measured = crate::generator::Measured {
            sends: self.shared.sends.load(Ordering::Relaxed),
            late: self.shared.late.load(Ordering::Relaxed),
            lag_limit_ms: self.shared.lag_limit.as_secs_f64() * 1000.0,
            max_lag_ms: self.shared.max_lag_us.load(Ordering::Relaxed) as f64 / 1000.0,
            dropped,
            connections: self.scenario.connections as u64,
            needed_connections,
            cpu_share,
            cores,
            cpu_quota,
        };
        crate::generator::judge(&crate::generator::Limits::default(), &measured)
    }

    /// Capacity search; returns the steps, the verdict and `∫ multiple dt`.
    async fn search<F: FnMut(&RehearseProgress)>(
        &mut self,
        spec: &crate::scenario::SearchSpec,
        on_progress: &mut F,
    ) -> (Vec<SearchStep>, crate::search::Verdict, f64) {
        let mut search = Search::new(spec.start, spec.step, spec.max);
        let mut next = search.first();
        let mut steps = Vec::new();
        let mut area = 0.0;
        let base = self.shared.c.base_rate;
        // Bounded: `Search` ends after a bounded number of steps.
        let verdict = loop {
            let (kind, multiple) = match next {
                Next::Run { kind, multiple } => (kind, multiple),
                Next::Done(v) => break v,
            };
            for i in 0..self.scenario.entries.len() {
                self.shared.record(i).start_phase();
            }
            self.shared.sends.store(0, Ordering::Relaxed);
            self.shared.late.store(0, Ordering::Relaxed);
            self.shared.max_lag_us.store(0, Ordering::Relaxed);
            let cpu_before = crate::generator::process_cpu();
            let step_start = Instant::now();
            self.shared.step_started.store(
                u64::try_from((step_start - self.start).as_millis()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            let seconds = match kind {
                crate::search::Kind::Hold => spec.hold,
                _ => spec.step_duration,
            }
            .as_secs_f64();
            let arrivals = match self.scenario.arrivals {
                Arrivals::Poisson { seed } => Arrivals::Poisson {
                    seed: seed.wrapping_add(steps.len() as u64),
                },
                a => a,
            };
            let label = format!("{} ×{:.3}", kind.as_str(), multiple);
            let profile = Profile::flat(multiple * base, seconds);
            let (ran, guard_entry) = self
                .phase(&profile, arrivals, &label, Judge::FailStep, on_progress)
                .await;
            let ran_s = ran.as_secs_f64().max(1e-3);
            area += multiple * ran_s.min(seconds);
            let entries: Vec<StepEntry> = self
                .scenario
                .entries
                .iter()
                .enumerate()
                .map(|(i, spec)| {
                    let view = self.shared.record(i).phase_view();
                    let held = if guard_entry == Some(i) {
                        Some(false)
                    } else {
                        spec.slo.and_then(|slo| judge_slo(&slo, &view))
                    };
                    StepEntry {
                        id: spec.id.clone(),
                        achieved_rps: view.requests as f64 / ran_s,
                        error_rate: view.error_rate(),
                        p99_ms: view.p99_ms,
                        held,
                    }
                })
                .collect();
            let mut held = guard_entry.is_none() && entries.iter().all(|e| e.held != Some(false));
            let mut generator = self.generator_check(multiple, ran, cpu_before);
            let mut entries = entries;
            if let Some(reason) = self.hooks.stop.reason() {
                break Verdict {
                    knee: None,
                    broken: None,
                    confirmed: false,
                    generator_bound: false,
                    stopped: format!("stopped: {reason}"),
                };
            }
            if let Some(judge) = &self.hooks.judge {
                let local = self.local_step(steps.len(), multiple, ran_s, guard_entry, &generator);
                if let Some(merged) = judge.judge(local).await {
                    held = merged.held;
                    generator = merged.generator;
                    entries = merged.entries;
                }
            }
            let generator_bound = generator.bound;
            steps.push(SearchStep {
                kind: kind.as_str().to_owned(),
                multiple,
                start_s: (step_start - self.start).as_secs_f64(),
                duration_s: ran.as_secs_f64(),
                held,
                entries,
                generator: Some(generator),
            });
            next = search.next_step(held, generator_bound);
            if !held && !spec.cooldown.is_zero() && matches!(next, Next::Run { .. }) {
                // Requests still queued from the broken step finish (and
                // are recorded in its phase) before the next one starts.
                tokio::time::sleep(spec.cooldown).await;
            }
        };
        (steps, verdict, area)
    }
}

/// What the issuer, the walks and the controller share.
struct Shared {
    c: Compiled,
    /// This agent's share of the arrivals (`None`: all of them).
    share: Option<Share>,
    headers: hyper::HeaderMap,
    /// Per journey and step, the request of a step without variables,
    /// serialised once (HTTP/1.1).
    wires: Vec<Vec<Option<Vec<u8>>>>,
    pool: Pool,
    slots: Arc<Semaphore>,
    recorders: Vec<Mutex<Recorder>>,
    data: Vec<DataSet>,
    /// Set at the end: walks stop before their next step.
    stopped: AtomicBool,
    /// Journey arrivals so far (the data-row index).
    seq: AtomicU64,
    http: HttpVersion,
    journey_arrivals: Vec<AtomicU64>,
    /// Walks that reached each step of each journey.
    reached: Vec<Vec<AtomicU64>>,
    /// Conversion decisions taken per step (error diffusion).
    decided: Vec<Vec<AtomicU64>>,
    /// Visits per step, for the number of calls (error diffusion).
    visits: Vec<Vec<AtomicU64>>,
    /// Walks under way (counted by the issuer, uncounted when they end).
    active: AtomicU64,
    /// Milliseconds from the start to the current search step.
    step_started: AtomicU64,
    /// A send that starts later than this after its intended time is late
    /// (the generator fell behind its schedule).
    lag_limit: Duration,
    /// Sends begun in the current search step.
    sends: AtomicU64,
    /// Of those, late ones.
    late: AtomicU64,
    /// Largest lag in the current search step (µs).
    max_lag_us: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    fn record(&self, entry: usize) -> std::sync::MutexGuard<'_, Recorder> {
        self.recorders[entry]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Count a send and how late it starts behind its intended time.
    fn note_lag(&self, intended: Instant) {
        let lag = Instant::now().saturating_duration_since(intended);
        self.sends.fetch_add(1, Ordering::Relaxed);
        if lag > self.lag_limit {
            self.late.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
        self.max_lag_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The variables a walk starts with: one row of every data set.
    fn row_vars(&self, seq: u64) -> HashMap<String, String> {
        let mut vars = HashMap::new();
        for d in &self.data {
            let n = d.rows.len().max(1) as u64;
            let Some(row) = d.rows.get((seq % n) as usize) else {
                continue;
            };
            for (c, v) in d.columns.iter().zip(row) {
                vars.insert(format!("{}.{c}", d.name), v.clone());
                vars.insert(c.clone(), v.clone());
            }
        }
        vars
    }

    /// Send one request of `step` (`wire`: its request pre-serialised, for
    /// a step without variables on HTTP/1.1); on success return its
    /// completion time. Every outcome is recorded on the step's entry;
    /// `Err` ends the walk.
    async fn send(
        &self,
        step: &CStep,
        wire: Option<&[u8]>,
        vars: &mut HashMap<String, String>,
        bufs: &mut Buffers,
        intended: Instant,
    ) -> Result<Instant, ()> {
        let request = match (wire, self.http) {
            (Some(wire), _) => Request::Wire(wire),
            (None, http) => {
                let Some((uri, headers, body)) = self.render(step, vars) else {
                    self.record(step.entry)
                        .failure(Instant::now(), ErrorClass::Body);
                    return Err(());
                };
                if http == HttpVersion::Http1 {
                    bufs.request.clear();
                    write_request(&mut bufs.request, &step.method, &uri, &headers, &body);
                    Request::Wire(&bufs.request)
                } else {
                    Request::Parts(uri, headers, body)
                }
            }
        };
        self.note_lag(intended);
        let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() else {
            self.record(step.entry).drop_arrival(intended);
            return Err(());
        };
        // The body is kept only for extraction.
        let keep = !step.extract.is_empty();
        let result = match request {
            Request::Wire(wire) => {
                let head = step.method == hyper::Method::HEAD;
                let body = keep.then_some(&mut bufs.body);
                self.pool.exchange(wire, head, body).await
            }
            Request::Parts(uri, headers, body) => {
                let fetched = self
                    .pool
                    .fetch(step.method.clone(), uri, headers, body)
                    .await;
                fetched.map(|(status, bytes)| {
                    if keep {
                        bufs.body.clear();
                        bufs.body.extend_from_slice(&bytes);
                    }
                    status
                })
            }
        };
        drop(permit);
        let done = Instant::now();
        let status = match result {
            Ok(status) => status,
            Err(class) => {
                self.record(step.entry).failure(done, class);
                return Err(());
            }
        };
        let class = status_class(status).or_else(|| {
            extract(&bufs.body, &step.extract, vars)
                .err()
                .map(|()| ErrorClass::Body)
        });
        self.record(step.entry).response(intended, done, class);
        match class {
            Some(_) => Err(()),
            None => Ok(done),
        }
    }

    /// The request of a step with `vars` filled in; `None` when a value
    /// does not make a valid URI or header.
    fn render(
        &self,
        step: &CStep,
        vars: &HashMap<String, String>,
    ) -> Option<(Uri, hyper::HeaderMap, Bytes)> {
        render(&self.c, &self.headers, self.http, step, vars)
    }
}

/// The request of `step` with `vars` filled in, carrying `headers` (those
/// of every request); `None` when a value does not make a valid URI or
/// header (`http`'s types refuse spaces and control characters, CR and LF
/// among them, so a value cannot smuggle a header or a second request).
fn render(
    c: &Compiled,
    headers: &hyper::HeaderMap,
    http: HttpVersion,
    step: &CStep,
    vars: &HashMap<String, String>,
) -> Option<(Uri, hyper::HeaderMap, Bytes)> {
    let path = step.path.render(vars).ok()?;
    let uri = match http {
        HttpVersion::Http1 => crate::client::target(&format!("{}{path}", c.prefix))?,
        HttpVersion::Http2 => {
            crate::client::target(&format!("http://{}{}{path}", c.authority, c.prefix))?
        }
    };
    let mut headers = headers.clone();
    for (name, value) in &step.headers {
        let v = HeaderValue::from_str(&value.render(vars).ok()?).ok()?;
        headers.append(name.clone(), v);
    }
    let body = match &step.body {
        Some(t) => Bytes::from(t.render(vars).ok()?),
        None => Bytes::new(),
    };
    if !body.is_empty() {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    Some((uri, headers, body))
}

/// The HTTP/1.1 request of a step without variables, serialised once;
/// `None` for a step with variables, on HTTP/2, or when the step's
/// request is invalid (every send then fails as it would have).
fn static_wire(
    c: &Compiled,
    headers: &hyper::HeaderMap,
    http: HttpVersion,
    step: &CStep,
) -> Option<Vec<u8>> {
    let fixed = step.path.is_static()
        && step.headers.iter().all(|(_, v)| v.is_static())
        && step.body.as_ref().is_none_or(|b| b.is_static());
    if http != HttpVersion::Http1 || !fixed {
        return None;
    }
    let (uri, headers, body) = render(c, headers, http, step, &HashMap::new())?;
    let mut wire = Vec::new();
    write_request(&mut wire, &step.method, &uri, &headers, &body);
    Some(wire)
}

/// A step's request as it goes out.
enum Request<'a> {
    /// Serialised HTTP/1.1 bytes.
    Wire(&'a [u8]),
    /// For hyper's HTTP/2 client.
    Parts(Uri, hyper::HeaderMap, Bytes),
}

/// A walk's reused buffers: the serialised request of a step with
/// variables, and the response body of a step that extracts from it.
#[derive(Debug, Default)]
struct Buffers {
    request: Vec<u8>,
    body: Vec<u8>,
}

fn status_class(status: StatusCode) -> Option<ErrorClass> {
    if status.is_client_error() {
        Some(ErrorClass::Status4xx)
    } else if status.is_server_error() {
        Some(ErrorClass::Status5xx)
    } else {
        None
    }
}

/// Take `(name, JSON pointer)` values from a JSON body into `vars`.
/// Strings are taken as they are, numbers and booleans as written, objects
/// and arrays as JSON text; a missing value or `null` is a failure.
fn extract(
    body: &[u8],
    list: &[(String, String)],
    vars: &mut HashMap<String, String>,
) -> Result<(), ()> {
    if list.is_empty() {
        return Ok(());
    }
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|_| ())?;
    for (name, pointer) in list {
        let value = match json.pointer(pointer) {
            None | Some(serde_json::Value::Null) => return Err(()),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        vars.insert(name.clone(), value);
    }
    Ok(())
}

/// Stop the issuer: it is aborted at its next await (a sleep between
/// arrivals), so no arrival is half-issued, and awaited.
async fn stop_issuing(issuing: &mut tokio::task::JoinHandle<()>) {
    issuing.abort();
    let _ = issuing.await;
}

/// Issue journey arrivals at their intended times until `end`; stopped
/// early by aborting its task ([`stop_issuing`]). Like `seawall load`'s
/// issuer it only sleeps between arrivals: nothing else is registered per
/// arrival, so the scenario engine wakes as often as `seawall load` does.
async fn issue(shared: Arc<Shared>, offsets: ProfileArrivals, start: Instant, end: Instant) {
    // Smooth weighted round robin: every arrival adds each journey's
    // weight to its credit and takes the journey with the most credit,
    // which pays the total back. Shares are exact to within one arrival.
    let weights: Vec<f64> = shared.c.journeys.iter().map(|j| j.rate).collect();
    let total = shared.c.base_rate;
    let mut credit = vec![0.0; weights.len()];
    // Bounded: offsets increase and stop at the profile's end.
    for (k, offset) in offsets.enumerate() {
        let intended = start + offset;
        if intended >= end {
            break;
        }
        if !shared.share.is_none_or(|s| s.takes(k as u64)) {
            // Another agent's arrival: the mix and the data rows advance
            // as if it were issued here, so the shares add up to the run.
            pick(&mut credit, &weights, total);
            shared.seq.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if intended > Instant::now() {
            tokio::time::sleep_until(intended).await;
        }
        let journey = pick(&mut credit, &weights, total);
        let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
        shared.journey_arrivals[journey].fetch_add(1, Ordering::Relaxed);
        shared.active.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(walk(Arc::clone(&shared), journey, intended, seq));
    }
    tokio::time::sleep_until(end).await;
}

/// Smooth weighted round robin: add every weight to its credit, take the
/// index with the most credit (the first on ties) and charge it `total`
/// (`Σ weights`). Over any `n` picks, index `j` is taken `n·w_j/total`
/// times to within one.
pub(crate) fn pick(credit: &mut [f64], weights: &[f64], total: f64) -> usize {
    let mut best = 0;
    for (j, w) in weights.iter().enumerate() {
        credit[j] += w;
        if credit[j] > credit[best] {
            best = j;
        }
    }
    if let Some(c) = credit.get_mut(best) {
        *c -= total;
    }
    best
}

/// Counts a walk as under way until it is dropped, however it ends.
struct Active(Arc<Shared>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One counter per step of every journey.
fn counters(c: &Compiled) -> Vec<Vec<AtomicU64>> {
    c.journeys
        .iter()
        .map(|j| j.steps.iter().map(|_| AtomicU64::new(0)).collect())
        .collect()
}

/// Error diffusion: how many units the `n`-th draw of a fraction `f`
/// takes, so that draws `0..k` take `⌊k·f⌋` in all — exact ratios without
/// randomness (`f = 0.6` lets 3 of every 5 visitors continue; `f = 2.5`
/// makes 2, 3, 2, 3, … calls).
pub(crate) fn diffuse(n: u64, f: f64) -> u64 {
    let next = ((n + 1) as f64 * f).floor();
    let now = (n as f64 * f).floor();
    (next - now).max(0.0) as u64
}

/// One user's walk through a journey.
async fn walk(shared: Arc<Shared>, journey: usize, arrival: Instant, seq: u64) {
    let _active = Active(Arc::clone(&shared));
    let mut vars = shared.row_vars(seq);
    let mut bufs = Buffers::default();
    let mut intended = arrival;
    let Some(j) = shared.c.journeys.get(journey) else {
        return;
    };
    let wires = shared.wires.get(journey);
    for (i, step) in j.steps.iter().enumerate() {
        if i > 0 {
            let n = shared.decided[journey][i].fetch_add(1, Ordering::Relaxed);
            if diffuse(n, step.conversion) == 0 {
                return;
            }
        }
        if !step.think.is_zero() {
            intended += step.think;
            tokio::time::sleep_until(intended).await;
        }
        if shared.stopped() {
            return;
        }
        shared.reached[journey][i].fetch_add(1, Ordering::Relaxed);
        let visit = shared.visits[journey][i].fetch_add(1, Ordering::Relaxed);
        for _ in 0..diffuse(visit, step.calls) {
            if shared.stopped() {
                return;
            }
            let wire = wires.and_then(|w| w.get(i)).and_then(|w| w.as_deref());
            match shared
                .send(step, wire, &mut vars, &mut bufs, intended)
                .await
            {
                Ok(done) => intended = done,
                Err(()) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_by_json_pointer() {
        let mut vars = HashMap::new();
        let body =
            br#"{"data": {"order_id": "o-1", "n": 3, "ok": true, "tags": [1, 2], "none": null}}"#;
        let list = |p: &str| vec![("v".to_owned(), p.to_owned())];
        assert!(extract(body, &list("/data/order_id"), &mut vars).is_ok());
        assert_eq!(vars["v"], "o-1");
        assert!(extract(body, &list("/data/n"), &mut vars).is_ok());
        assert_eq!(vars["v"], "3");
        assert!(extract(body, &list("/data/tags"), &mut vars).is_ok());
        assert_eq!(vars["v"], "[1,2]");
        assert!(extract(body, &list("/data/none"), &mut vars).is_err());
        assert!(extract(body, &list("/data/missing"), &mut vars).is_err());
        assert!(extract(b"not json", &list("/a"), &mut vars).is_err());
        assert!(extract(b"not json", &[], &mut vars).is_ok());
    }

    #[test]
    fn guards_and_slos_need_enough_requests() {
        let guards = GuardSpec {
            error_rate: Some(0.01),
            p99_ms: Some(100.0),
            window: Duration::from_secs(5),
        };
        let few = View {
            requests: MIN_JUDGED_REQUESTS - 1,
            errors: MIN_JUDGED_REQUESTS - 1,
            dropped: 0,
            p99_ms: 1000.0,
        };
        assert_eq!(broken_guard(&guards, &few), None);
        let errors = View {
            requests: 100,
            errors: 2,
            ..few
        };
        assert_eq!(
            broken_guard(&guards, &errors),
            Some(("error_rate", 0.02, 0.01))
        );
        let slow = View {
            requests: 100,
            errors: 0,
            dropped: 0,
            p99_ms: 150.0,
        };
        assert_eq!(broken_guard(&guards, &slow), Some(("p99_ms", 150.0, 100.0)));
        let slo = SloSpec {
            p99_ms: Some(200.0),
            error_rate: None,
        };
        assert_eq!(judge_slo(&slo, &slow), Some(true));
        assert_eq!(judge_slo(&slo, &few), None);
        let none = SloSpec {
            p99_ms: None,
            error_rate: None,
        };
        assert_eq!(judge_slo(&none, &slow), None);
    }

    proptest::proptest! {
        /// The mix: any weights, any number of arrivals — every journey's
        /// share is exact to within one arrival.
        #[test]
        fn weighted_round_robin_is_exact(
            weights in proptest::collection::vec(0.0f64..100.0, 1..6),
            n in 1usize..3000,
        ) {
            let total: f64 = weights.iter().sum();
            proptest::prop_assume!(total > 0.0);
            let mut credit = vec![0.0; weights.len()];
            let mut counts = vec![0usize; weights.len()];
            for _ in 0..n {
                counts[pick(&mut credit, &weights, total)] += 1;
            }
            for (c, w) in counts.iter().zip(&weights) {
                let want = n as f64 * w / total;
                proptest::prop_assert!((*c as f64 - want).abs() <= 1.0 + 1e-6, "{counts:?} for {weights:?}");
            }
        }

        /// Conversions and calls: `k` draws of a fraction `f` take `⌊k·f⌋`.
        #[test]
        fn diffusion_sums_to_the_floor(f in 0.0f64..5.0, k in 0u64..5000) {
            let taken: u64 = (0..k).map(|n| diffuse(n, f)).sum();
            proptest::prop_assert_eq!(taken, (k as f64 * f).floor() as u64);
        }
    }

    #[test]
    fn diffusion_takes_exact_shares() {
        let taken: u64 = (0..1000).map(|n| diffuse(n, 0.6)).sum();
        assert_eq!(taken, 600);
        let calls: Vec<u64> = (0..4).map(|n| diffuse(n, 2.5)).collect();
        assert_eq!(calls, [2, 3, 2, 3]);
        assert!((0..100).all(|n| diffuse(n, 1.0) == 1 && diffuse(n, 0.0) == 0));
    }

    /// An entry's measured numbers before the search fills in its knee.
    fn entry(id: &str) -> EntryResult {
        EntryResult {
            id: id.to_owned(),
            service: String::new(),
            target_qps: 100.0,
            intended_qps: 100.0,
            requests: 0,
            ok: 0,
            achieved_rps: 0.0,
            dropped: 0,
            errors: Default::default(),
            latency_ms: Default::default(),
            slo: None,
            slo_source: "entry".to_owned(),
            slo_held: None,
            knee_qps: None,
            held_qps: None,
            lower_bound_qps: None,
            series: Vec::new(),
        }
    }

    /// A step at `multiple`: per entry whether it held (at `rps`), and
    /// whether the generator was the limit.
    fn search_step(multiple: f64, held: &[(bool, f64)], bound: bool) -> SearchStep {
        SearchStep {
            kind: "step".to_owned(),
            multiple,
            start_s: 0.0,
            duration_s: 1.0,
            held: held.iter().all(|(h, _)| *h),
            entries: held
                .iter()
                .enumerate()
                .map(|(i, &(h, rps))| StepEntry {
                    id: format!("e{i}"),
                    achieved_rps: rps,
                    error_rate: 0.0,
                    p99_ms: 1.0,
                    held: Some(h),
                })
                .collect(),
            generator: Some(GeneratorCheck {
                bound,
                reasons: if bound {
                    vec!["fell behind its schedule".to_owned()]
                } else {
                    Vec::new()
                },
                cpu_share: None,
                cores: 1,
                cpu_quota: None,
                late_share: 0.0,
                lag_limit_ms: 10.0,
                max_lag_ms: 0.0,
                dropped: 0,
                connections: 1,
                needed_connections: 0.0,
            }),
        }
    }

    #[test]
    fn a_knee_needs_a_break_the_system_made() {
        // e0 breaks at ×2 (the system), e1 only at ×3 where the generator
        // was the limit: e0 has a knee, e1 a lower bound.
        let steps = vec![
            search_step(1.0, &[(true, 100.0), (true, 50.0)], false),
            search_step(2.0, &[(false, 190.0), (true, 100.0)], false),
            search_step(3.0, &[(false, 200.0), (false, 140.0)], true),
        ];
        let verdict = Verdict {
            knee: Some(1.0),
            broken: Some(2.0),
            confirmed: false,
            generator_bound: false,
            stopped: "s".to_owned(),
        };
        let mut entries = vec![entry("e0"), entry("e1")];
        let r = search_result(steps.clone(), verdict.clone(), &mut entries);
        assert_eq!(r.knee_multiple, Some(1.0));
        assert_eq!(r.lower_bound_multiple, None);
        assert_eq!(r.bottlenecks, ["e0"]);
        assert_eq!(
            (entries[0].knee_qps, entries[0].lower_bound_qps),
            (Some(100.0), None)
        );
        assert_eq!(
            (entries[1].knee_qps, entries[1].lower_bound_qps),
            (None, Some(100.0))
        );
        // The search's lowest break was the generator's: no knee anywhere,
        // and `stopped` names the sign.
        let verdict = Verdict {
            knee: Some(2.0),
            broken: Some(3.0),
            generator_bound: true,
            ..verdict
        };
        let steps = vec![
            search_step(1.0, &[(true, 100.0)], false),
            search_step(2.0, &[(true, 200.0)], false),
            search_step(3.0, &[(false, 250.0)], true),
        ];
        let mut entries = vec![entry("e0")];
        let r = search_result(steps, verdict, &mut entries);
        assert_eq!((r.knee_multiple, r.lower_bound_multiple), (None, Some(2.0)));
        assert!(r.generator_bound && r.bottlenecks.is_empty());
        assert_eq!(
            (entries[0].knee_qps, entries[0].lower_bound_qps),
            (None, Some(200.0))
        );
        assert!(
            r.stopped
                .ends_with("(the generator fell behind its schedule)"),
            "{}",
            r.stopped
        );
    }

    #[test]
    fn area_until_integrates_ramps() {
        let p = Profile::stages(&[(100.0, 10.0), (100.0, 5.0)]);
        assert!((area_until(&p, 10.0) - 500.0).abs() < 1e-9);
        assert!((area_until(&p, 5.0) - 125.0).abs() < 1e-9);
        assert!((area_until(&p, 15.0) - 1000.0).abs() < 1e-9);
        assert!((area_until(&p, 99.0) - 1000.0).abs() < 1e-9);
    }
}
