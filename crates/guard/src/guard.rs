//! The guard: the current rule snapshot, the check path, permits, and the
//! atomic swap that keeps the state of unchanged rules.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;

use crate::breaker::{Admit, Breaker, BreakerEvent, BreakerState, EventLog};
use crate::clock::{Clock, MonotonicClock};
use crate::flow::{FlowCounter, FlowRuleState, Verdict};
use crate::rules::{FallbackResponse, OriginMatch, RuleSet, SwitchRule};
use crate::{BlockReason, GuardError};

/// How many breaker state changes the guard keeps until they are drained.
const EVENT_LOG_CAPACITY: usize = 4096;

/// A small, fast hasher for resource names (FxHash's multiply-rotate).
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The answer to one check.
#[derive(Debug)]
#[must_use = "a passed call holds a permit; finish it with `Guard::finish`"]
pub enum Decision {
    /// Go ahead; report the outcome with [`Guard::finish`].
    Pass(Permit),
    /// Go ahead after waiting `wait` (pace-with-queue); report the outcome
    /// with [`Guard::finish`].
    Wait {
        /// How long the caller should wait before calling upstream.
        wait: Duration,
        /// The admission.
        permit: Permit,
    },
    /// Refused by a rule.
    Block(Blocked),
    /// A degradation switch is on: answer with its fallback, do not call upstream.
    Fallback(Fallback),
}

impl Decision {
    /// The id of the rule that blocked or degraded the call, if any.
    pub fn rule_id(&self) -> Option<&str> {
        match self {
            Decision::Block(b) => Some(&b.rule_id),
            Decision::Fallback(f) => Some(&f.rule_id),
            Decision::Pass(_) | Decision::Wait { .. } => None,
        }
    }

    /// Whether the call may go ahead (now or after a wait).
    pub fn is_admitted(&self) -> bool {
        matches!(self, Decision::Pass(_) | Decision::Wait { .. })
    }
}

/// A call refused by a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The rule that refused it.
    pub rule_id: Arc<str>,
    /// Why.
    pub reason: BlockReason,
}

/// A call answered by a degradation switch's fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The switch that is on.
    pub rule_id: Arc<str>,
    /// The response to serve.
    pub response: Arc<FallbackResponse>,
}

/// How an admitted call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Success.
    Ok,
    /// Failure (an error response, an exception, a timeout).
    Error,
}

/// An admitted call. Hand it back with [`Guard::finish`] so concurrency
/// limits are released and breakers learn the outcome; dropping it releases
/// the concurrency slots only (and an unfinished half-open probe re-opens its
/// breaker).
#[derive(Debug)]
pub struct Permit {
    resource: Option<Arc<ResourceState>>,
    concurrency: Vec<Arc<FlowCounter>>,
    acquire: u64,
    probes: u64,
    started: u64,
}

impl Permit {
    fn empty(acquire: u64, started: u64) -> Self {
        Self {
            resource: None,
            concurrency: Vec::new(),
            acquire,
            probes: 0,
            started,
        }
    }

    /// Whether this call is a half-open breaker's probe.
    pub fn is_probe(&self) -> bool {
        self.probes != 0
    }

    fn abandon_probes(&mut self, now: u64) {
        if self.probes == 0 {
            return;
        }
        if let Some(res) = &self.resource {
            for (i, b) in res.breakers.iter().enumerate() {
                if self.probes & (1 << i) != 0 {
                    b.abandon_probe(now);
                }
            }
        }
        self.probes = 0;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        for c in &self.concurrency {
            c.release(self.acquire);
        }
        let started = self.started;
        self.abandon_probes(started);
    }
}

#[derive(Debug)]
struct SwitchState {
    rule: SwitchRule,
    id: Arc<str>,
    on: AtomicBool,
    response: Arc<FallbackResponse>,
    would_block: AtomicU64,
    served: AtomicU64,
}

#[derive(Debug)]
struct ResourceState {
    switches: Vec<Arc<SwitchState>>,
    flows: Vec<Arc<FlowRuleState>>,
    breakers: Vec<Arc<Breaker>>,
    /// Origins named by this resource's flow rules (for `origin: other`).
    named_origins: Vec<String>,
    needs_resource_in_permit: bool,
}

impl ResourceState {
    #[inline]
    fn applies(&self, m: &OriginMatch, origin: Option<&str>) -> bool {
        match m {
            OriginMatch::Default => true,
            OriginMatch::Named(n) => origin == Some(n.as_str()),
            OriginMatch::Other => {
                origin.is_some_and(|o| !o.is_empty() && !self.named_origins.iter().any(|n| n == o))
            }
        }
    }
}

#[derive(Debug, Clone)]
enum RuleRef {
    Switch(Arc<SwitchState>),
    Flow(Arc<FlowRuleState>),
    Breaker(Arc<Breaker>),
}

#[derive(Debug)]
struct Snapshot {
    rules: RuleSet,
    resources: FxMap<Box<str>, Arc<ResourceState>>,
    by_id: HashMap<String, RuleRef>,
}

impl Snapshot {
    fn build(rules: RuleSet, old: Option<&Snapshot>, log: &Arc<EventLog>) -> (Self, SwapReport) {
        let mut report = SwapReport {
            version: rules.version,
            ..SwapReport::default()
        };
        let mut resources = FxMap::default();
        let mut by_id = HashMap::new();
        let owners = old.map(|o| {
            o.rules
                .resources
                .iter()
                .flat_map(|r| {
                    let ids = r.flow.iter().map(|f| f.id.as_str());
                    let ids = ids.chain(r.breakers.iter().map(|b| b.id.as_str()));
                    ids.map(move |id| (id, r.name.as_str()))
                })
                .collect::<HashMap<&str, &str>>()
        });
        // The old rule `id` if it sat on `resource` (switches may move).
        let previous = |id: &str, resource: Option<&str>| {
            let owner = owners.as_ref().and_then(|o| o.get(id).copied());
            match resource {
                Some(res) if owner != Some(res) => None,
                _ => old.and_then(|o| o.by_id.get(id)),
            }
        };
        for r in &rules.resources {
            let mut switches = Vec::new();
            for s in &r.switches {
                let kept = match previous(&s.id, None) {
                    Some(RuleRef::Switch(st)) if st.rule == *s => Some(st),
                    _ => None,
                };
                let st = reuse_or_new(kept, &s.id, &mut report, || SwitchState {
                    id: Arc::from(s.id.as_str()),
                    on: AtomicBool::new(s.on),
                    response: Arc::new(s.fallback.clone()),
                    rule: s.clone(),
                    would_block: AtomicU64::new(0),
                    served: AtomicU64::new(0),
                });
                by_id.insert(s.id.clone(), RuleRef::Switch(Arc::clone(&st)));
                switches.push(st);
            }
            let mut flows = Vec::new();
            for f in &r.flow {
                let kept = match previous(&f.id, Some(&r.name)) {
                    Some(RuleRef::Flow(st)) if st.rule == *f => Some(st),
                    _ => None,
                };
                let st = reuse_or_new(kept, &f.id, &mut report, || FlowRuleState::new(f.clone()));
                by_id.insert(f.id.clone(), RuleRef::Flow(Arc::clone(&st)));
                flows.push(st);
            }
            let mut breakers = Vec::new();
            for b in &r.breakers {
                let kept = match previous(&b.id, Some(&r.name)) {
                    Some(RuleRef::Breaker(st)) if st.rule == *b => Some(st),
                    _ => None,
                };
                let st = reuse_or_new(kept, &b.id, &mut report, || {
                    Breaker::new(b.clone(), &r.name, Arc::clone(log))
                });
                by_id.insert(b.id.clone(), RuleRef::Breaker(Arc::clone(&st)));
                breakers.push(st);
            }
            let named_origins = r
                .flow
                .iter()
                .filter_map(|f| match &f.origin {
                    OriginMatch::Named(n) => Some(n.clone()),
                    _ => None,
                })
                .collect();
            let needs_resource_in_permit = !breakers.is_empty();
            resources.insert(
                Box::from(r.name.as_str()),
                Arc::new(ResourceState {
                    switches,
                    flows,
                    breakers,
                    named_origins,
                    needs_resource_in_permit,
                }),
            );
        }
        if let Some(old) = old {
            let mut removed: Vec<String> = old
                .by_id
                .keys()
                .filter(|id| !by_id.contains_key(id.as_str()))
                .cloned()
                .collect();
            removed.sort();
            report.removed = removed;
        }
        (
            Self {
                rules,
                resources,
                by_id,
            },
            report,
        )
    }
}

/// The kept state of an unchanged rule, or fresh state; noted in `report`.
fn reuse_or_new<T>(
    kept: Option<&Arc<T>>,
    id: &str,
    report: &mut SwapReport,
    make: impl FnOnce() -> T,
) -> Arc<T> {
    match kept {
        Some(st) => {
            report.kept.push(id.to_owned());
            Arc::clone(st)
        }
        None => {
            report.fresh.push(id.to_owned());
            Arc::new(make())
        }
    }
}

/// What a rule-set swap did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SwapReport {
    /// Version of the rule set now in force.
    pub version: u64,
    /// Rules unchanged (same id, same parameters): counters and state kept.
    pub kept: Vec<String>,
    /// Rules new or changed: counters and state start afresh.
    pub fresh: Vec<String>,
    /// Rules no longer present.
    pub removed: Vec<String>,
}

/// Counters of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleStats {
    /// Calls the rule blocked (or answered with a fallback).
    pub blocked: u64,
    /// Calls a dry-run rule would have blocked but let pass.
    pub would_block: u64,
    /// Flow rules: calls admitted in the last second (the shared quota's).
    pub pass_qps: u64,
    /// Flow rules: calls in flight (the shared quota's).
    pub in_flight: u64,
    /// Breakers: current state.
    pub breaker: Option<BreakerState>,
    /// Switches: whether on.
    pub switch_on: Option<bool>,
}

/// The decision core: holds the rule set in force and answers checks.
///
/// Cheap to share between threads (`&Guard` is enough; wrap it in an `Arc`
/// to own it from several places). Time comes from the clock `C`.
#[derive(Debug)]
pub struct Guard<C: Clock = MonotonicClock> {
    current: RwLock<Arc<Snapshot>>,
    clock: C,
    log: Arc<EventLog>,
}

impl Guard<MonotonicClock> {
    /// A guard on the process's monotonic clock.
    pub fn new(rules: RuleSet) -> Result<Self, GuardError> {
        Self::with_clock(rules, MonotonicClock::new())
    }
}

impl<C: Clock> Guard<C> {
    /// A guard reading time from `clock`.
    pub fn with_clock(rules: RuleSet, clock: C) -> Result<Self, GuardError> {
        rules.validate()?;
        let log = Arc::new(EventLog::new(EVENT_LOG_CAPACITY));
        let (snap, _) = Snapshot::build(rules, None, &log);
        Ok(Self {
            current: RwLock::new(Arc::new(snap)),
            clock,
            log,
        })
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The rule set in force.
    pub fn rules(&self) -> RuleSet {
        self.snapshot().rules.clone()
    }

    /// Replaces the rule set atomically: a check sees either the old or the
    /// new set. Rules with the same id and the same parameters (on the same
    /// resource) keep their counters and breaker or switch state; the others
    /// start afresh. An invalid set changes nothing.
    pub fn swap(&self, rules: RuleSet) -> Result<SwapReport, GuardError> {
        rules.validate()?;
        let mut w = self.current.write().unwrap_or_else(|e| e.into_inner());
        let (snap, report) = Snapshot::build(rules, Some(&w), &self.log);
        *w = Arc::new(snap);
        Ok(report)
    }

    /// Checks one call to `resource` from `origin` (the caller's name, if known).
    #[inline]
    pub fn check(&self, resource: &str, origin: Option<&str>) -> Decision {
        self.check_n(resource, origin, 1)
    }

    /// Checks a call that counts `acquire` units (usually 1).
    pub fn check_n(&self, resource: &str, origin: Option<&str>, acquire: u32) -> Decision {
        let acquire = u64::from(acquire);
        let snap = self.current.read().unwrap_or_else(|e| e.into_inner());
        let Some(res) = snap.resources.get(resource) else {
            return Decision::Pass(Permit::empty(acquire, 0));
        };
        let now = self.clock.now_nanos();

        // 1. Degradation switches.
        for s in &res.switches {
            if s.on.load(Ordering::Acquire) {
                if s.rule.dry_run {
                    s.would_block.fetch_add(1, Ordering::Relaxed);
                } else {
                    s.served.fetch_add(1, Ordering::Relaxed);
                    return Decision::Fallback(Fallback {
                        rule_id: Arc::clone(&s.id),
                        response: Arc::clone(&s.response),
                    });
                }
            }
        }

        // 2. Flow rules: check all before recording anything.
        let mut wait = 0u64;
        for f in &res.flows {
            if !res.applies(&f.rule.origin, origin) {
                continue;
            }
            let counter = f.counter(origin);
            match counter.get().check(&f.rule, now, acquire) {
                Verdict::Pass => {}
                Verdict::Wait(w) => wait = wait.max(w),
                Verdict::Block(reason) => {
                    if f.rule.dry_run {
                        f.would_block.fetch_add(1, Ordering::Relaxed);
                    } else {
                        f.blocked.fetch_add(1, Ordering::Relaxed);
                        return Decision::Block(Blocked {
                            rule_id: Arc::clone(&f.id),
                            reason,
                        });
                    }
                }
            }
        }

        // 3. Circuit breakers.
        let mut permit = Permit::empty(acquire, now);
        if res.needs_resource_in_permit {
            permit.resource = Some(Arc::clone(res));
        }
        for (i, b) in res.breakers.iter().enumerate() {
            match b.admit(now) {
                Admit::Pass => {}
                Admit::Probe => permit.probes |= 1 << i,
                Admit::Blocked => {
                    if b.rule.dry_run {
                        b.would_block.fetch_add(1, Ordering::Relaxed);
                    } else {
                        b.blocked.fetch_add(1, Ordering::Relaxed);
                        permit.abandon_probes(now);
                        return Decision::Block(Blocked {
                            rule_id: Arc::clone(&b.id),
                            reason: BlockReason::CircuitOpen,
                        });
                    }
                }
            }
        }

        // 4. Admitted: record it in every applicable quota.
        for f in &res.flows {
            if !res.applies(&f.rule.origin, origin) {
                continue;
            }
            let counter = f.counter(origin);
            counter.get().commit(&f.rule, now, acquire);
            if f.rule.grade == crate::rules::Grade::Concurrency {
                permit.concurrency.push(counter.to_arc());
            }
        }
        if wait > 0 {
            Decision::Wait {
                wait: Duration::from_nanos(wait),
                permit,
            }
        } else {
            Decision::Pass(permit)
        }
    }

    /// Reports how an admitted call ended: releases its concurrency slots and
    /// feeds the resource's breakers (response time is measured from the
    /// check to now).
    pub fn finish(&self, mut permit: Permit, outcome: Outcome) {
        let now = self.clock.now_nanos();
        let rt = now.saturating_sub(permit.started);
        if let Some(res) = &permit.resource {
            for (i, b) in res.breakers.iter().enumerate() {
                b.complete(
                    now,
                    rt,
                    outcome == Outcome::Error,
                    permit.probes & (1 << i) != 0,
                );
            }
        }
        permit.probes = 0;
    }

    /// Turns a degradation switch on or off.
    pub fn set_switch(&self, id: &str, on: bool) -> Result<(), GuardError> {
        match self.snapshot().by_id.get(id) {
            Some(RuleRef::Switch(s)) => {
                s.on.store(on, Ordering::Release);
                Ok(())
            }
            _ => Err(GuardError::UnknownSwitch(id.to_owned())),
        }
    }

    /// The counters of rule `id`, if it is in force.
    pub fn stats(&self, id: &str) -> Option<RuleStats> {
        let now = self.clock.now_nanos();
        let empty = RuleStats {
            blocked: 0,
            would_block: 0,
            pass_qps: 0,
            in_flight: 0,
            breaker: None,
            switch_on: None,
        };
        Some(match self.snapshot().by_id.get(id)? {
            RuleRef::Switch(s) => RuleStats {
                blocked: s.served.load(Ordering::Relaxed),
                would_block: s.would_block.load(Ordering::Relaxed),
                switch_on: Some(s.on.load(Ordering::Acquire)),
                ..empty
            },
            RuleRef::Flow(f) => {
                let c = f.shared();
                RuleStats {
                    blocked: f.blocked.load(Ordering::Relaxed),
                    would_block: f.would_block.load(Ordering::Relaxed),
                    pass_qps: c.pass_qps(now),
                    in_flight: c.in_flight(),
                    ..empty
                }
            }
            RuleRef::Breaker(b) => RuleStats {
                blocked: b.blocked.load(Ordering::Relaxed),
                would_block: b.would_block.load(Ordering::Relaxed),
                breaker: Some(b.state()),
                ..empty
            },
        })
    }

    /// The state of breaker `id`, if it is in force.
    pub fn breaker_state(&self, id: &str) -> Option<BreakerState> {
        match self.snapshot().by_id.get(id)? {
            RuleRef::Breaker(b) => Some(b.state()),
            _ => None,
        }
    }

    /// Takes the breaker state changes recorded since the last call (at most
    /// the latest 4,096), oldest first.
    pub fn drain_events(&self) -> Vec<BreakerEvent> {
        self.log.drain()
    }
}
