//! The guard: the current rule snapshot, the check path, permits, and the
//! atomic swap that keeps the state of unchanged rules.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;

use crate::breaker::{Admit, Breaker, BreakerEvent, BreakerState, EventLog};
use crate::clock::{Clock, MonotonicClock};
use crate::cluster::{ClusterLink, ClusterQuota};
use crate::decision::{Blocked, BreakerSet, Decision, Fallback, Outcome, Permit};
use crate::flow::{FlowRuleState, Verdict as FlowVerdict};
use crate::fx::FxMap;
use crate::gray::Gray;
use crate::hot::{HotCheck, HotParamState};
use crate::request::{
    Fault, FaultAction, RequestMeta, Upstream, Verdict, baggage_has, unique_query_param,
};
use crate::route::Router;
use crate::rules::{
    FallbackResponse, FaultRule, FlowRule, OriginMatch, ParamSource, RuleSet, SwitchRule,
};
use crate::whitelist::Whitelist;
use crate::{BlockReason, GuardError};

/// How many breaker state changes the guard keeps until they are drained.
const EVENT_LOG_CAPACITY: usize = 4096;

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
struct FaultState {
    rule: FaultRule,
    id: Arc<str>,
    action: FaultAction,
    /// Eligible admitted calls seen.
    seen: AtomicU64,
    injected: AtomicU64,
}

impl FaultState {
    fn new(rule: FaultRule) -> Self {
        let action = match (rule.abort_status, rule.delay_ms) {
            (Some(status), _) => FaultAction::Abort(status),
            (None, ms) => FaultAction::Delay(Duration::from_millis(ms.unwrap_or(0))),
        };
        Self {
            id: Arc::from(rule.id.as_str()),
            action,
            rule,
            seen: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        }
    }

    /// Whether the next eligible call gets the fault: exactly `percent` of
    /// eligible calls, evenly spread (call n is picked when
    /// ⌊(n+1)·p⌋ > ⌊n·p⌋, p in basis points / 10,000).
    #[inline]
    fn pick(&self) -> bool {
        let bp = (self.rule.percent * 100.0).round() as u64;
        if bp == 0 {
            return false;
        }
        let n = self.seen.fetch_add(1, Ordering::Relaxed);
        let hit = (n.wrapping_add(1)).wrapping_mul(bp) / 10_000 > n.wrapping_mul(bp) / 10_000;
        if hit {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }
}

/// The test-traffic quota of one resource.
#[derive(Debug)]
struct TestQuota {
    count: f64,
    state: Arc<FlowRuleState>,
}

#[derive(Debug)]
struct ResourceState {
    name: Arc<str>,
    switches: Vec<Arc<SwitchState>>,
    flows: Vec<Arc<FlowRuleState>>,
    hot: Vec<Arc<HotParamState>>,
    breakers: Vec<Arc<Breaker>>,
    faults: Vec<Arc<FaultState>>,
    test_quota: Option<Arc<TestQuota>>,
    timeout: Option<Duration>,
    shadow_safe: Option<bool>,
    /// Origins named by this resource's flow rules (for `origin: other`).
    named_origins: Vec<String>,
    /// What a permit holds to feed the breakers at `finish`: empty without
    /// breakers, else [`PERMIT_HANDLES`] identical handles.
    permit_handles: Box<[Arc<BreakerSet>]>,
}

/// How many handles to a resource's breakers permits share out (threads
/// take them round-robin, see [`handle_stripe`]).
const PERMIT_HANDLES: usize = 4;

/// This thread's handle index: threads are numbered round-robin as they
/// first check, so two threads use different handles.
#[inline]
fn handle_stripe() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % PERMIT_HANDLES;
    }
    STRIPE.with(|s| *s)
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
    Hot(Arc<HotParamState>),
    Fault(Arc<FaultState>),
}

/// A request being evaluated.
struct ReqCtx<'a, M: ?Sized> {
    req: &'a M,
    test: bool,
    policies: &'a Policies,
}

/// The request-level policies of a snapshot (header names lower-cased).
#[derive(Debug)]
struct Policies {
    origin_header: String,
    test_header: String,
    test_baggage_key: String,
    test_id: Arc<str>,
    /// Test traffic's share of every limit: 1 − reserve.
    test_scale: f64,
    primary_shadow_safe: bool,
    gray_shadow_safe: bool,
    gray: Option<Gray>,
    /// The test header as sent upstream on shadow gray requests.
    tag_header: Arc<str>,
}

#[derive(Debug)]
struct Snapshot {
    rules: RuleSet,
    resources: FxMap<Box<str>, Arc<ResourceState>>,
    by_id: HashMap<String, RuleRef>,
    router: Router,
    /// Route targets: index → resource.
    routed: Vec<Arc<ResourceState>>,
    policies: Policies,
}

impl Snapshot {
    fn build(
        rules: RuleSet,
        old: Option<&Snapshot>,
        log: &Arc<EventLog>,
        whitelist: Option<Arc<Whitelist>>,
    ) -> (Self, SwapReport) {
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
                    let ids = ids.chain(r.hot_params.iter().map(|h| h.id.as_str()));
                    let ids = ids.chain(r.faults.iter().map(|f| f.id.as_str()));
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
            let mut hot = Vec::new();
            for h in &r.hot_params {
                let kept = match previous(&h.id, Some(&r.name)) {
                    Some(RuleRef::Hot(st)) if st.rule == *h => Some(st),
                    _ => None,
                };
                let st = reuse_or_new(kept, &h.id, &mut report, || HotParamState::new(h.clone()));
                by_id.insert(h.id.clone(), RuleRef::Hot(Arc::clone(&st)));
                hot.push(st);
            }
            let mut faults = Vec::new();
            for f in &r.faults {
                let kept = match previous(&f.id, Some(&r.name)) {
                    Some(RuleRef::Fault(st)) if st.rule == *f => Some(st),
                    _ => None,
                };
                let st = reuse_or_new(kept, &f.id, &mut report, || FaultState::new(f.clone()));
                by_id.insert(f.id.clone(), RuleRef::Fault(Arc::clone(&st)));
                faults.push(st);
            }
            let test_quota = r.test_qps.or(rules.test_traffic.qps).map(|count| {
                let old_quota = old
                    .and_then(|o| o.resources.get(r.name.as_str()))
                    .and_then(|o| o.test_quota.as_ref())
                    .filter(|q| q.count == count && *q.state.id == *rules.test_traffic.id);
                match old_quota {
                    Some(q) => Arc::clone(q),
                    None => Arc::new(TestQuota {
                        count,
                        state: Arc::new(FlowRuleState::new(FlowRule::qps(
                            &rules.test_traffic.id,
                            count,
                        ))),
                    }),
                }
            });
            let named_origins = r
                .flow
                .iter()
                .filter_map(|f| match &f.origin {
                    OriginMatch::Named(n) => Some(n.clone()),
                    _ => None,
                })
                .collect();
            let permit_handles = if breakers.is_empty() {
                Box::default()
            } else {
                (0..PERMIT_HANDLES)
                    .map(|_| Arc::new(BreakerSet(breakers.clone())))
                    .collect()
            };
            resources.insert(
                Box::from(r.name.as_str()),
                Arc::new(ResourceState {
                    name: Arc::from(r.name.as_str()),
                    switches,
                    flows,
                    hot,
                    breakers,
                    faults,
                    test_quota,
                    timeout: r.timeout_ms.map(Duration::from_millis),
                    shadow_safe: r.shadow_safe,
                    named_origins,
                    permit_handles,
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
        let mut routed = Vec::new();
        let mut pairs = Vec::new();
        for r in &rules.resources {
            if let Some(st) = resources.get(r.name.as_str()) {
                for route in &r.routes {
                    pairs.push((route, routed.len()));
                    routed.push(Arc::clone(st));
                }
            }
        }
        let router = Router::new(pairs);
        let policies = Policies {
            origin_header: rules.settings.origin_header.to_ascii_lowercase(),
            test_header: rules.settings.test_header.to_ascii_lowercase(),
            test_baggage_key: rules.settings.test_baggage_key.clone(),
            test_id: Arc::from(rules.test_traffic.id.as_str()),
            test_scale: 1.0 - rules.test_traffic.reserve,
            primary_shadow_safe: rules.upstreams.primary.shadow_safe,
            gray_shadow_safe: rules.upstreams.gray.shadow_safe,
            gray: rules.gray.as_ref().map(|g| Gray::new(g, whitelist)),
            tag_header: Arc::from(rules.settings.test_header.to_ascii_lowercase()),
        };
        (
            Self {
                rules,
                resources,
                by_id,
                router,
                routed,
                policies,
            },
            report,
        )
    }
}

/// Whether `req` carries the test tag: a non-empty test header, or the
/// baggage member with a non-empty value.
fn is_test<M: RequestMeta + ?Sized>(p: &Policies, req: &M) -> bool {
    req.header(&p.test_header)
        .is_some_and(|v| !v.trim().is_empty())
        || req
            .header("baggage")
            .is_some_and(|b| baggage_has(b, &p.test_baggage_key))
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
    /// Hot-parameter rules: values tracked now; per-caller (`per_origin`)
    /// flow rules: callers with a quota of their own now.
    pub tracked_values: Option<u64>,
    /// Fault rules: faults injected.
    pub injected: u64,
}

/// The snapshot in force, with a generation number that every swap bumps.
///
/// A check must not write to a cache line other threads also write (an
/// `RwLock` read, or cloning an `Arc`, is such a write), or two threads
/// checking at once slow each other down. So each thread keeps its own
/// `Arc` of the snapshot it last used, tagged with the guard's id and the
/// generation; a check reads the generation (a load from a line that only
/// swaps write) and, when it matches, uses the thread's copy. Only the
/// first check of a thread after a swap takes the lock.
///
/// A swap stores the snapshot and bumps the generation under the write
/// lock, so a check sees the old set or the new one, never a mix, and every
/// check that starts after `swap` returns sees the new one. A thread's copy
/// of a replaced snapshot is released at its next check (of any guard) or
/// when the thread ends.
#[derive(Debug)]
struct Current {
    /// Unique per guard in the process (never reused).
    id: usize,
    generation: AtomicU64,
    /// The snapshot and its generation.
    slot: RwLock<(u64, Arc<Snapshot>)>,
}

/// A thread's copy of the snapshot it last used.
struct CachedSnapshot {
    guard: usize,
    generation: u64,
    snap: Arc<Snapshot>,
}

thread_local! {
    static CACHED: RefCell<Option<CachedSnapshot>> = const { RefCell::new(None) };
}

impl Current {
    fn new(snap: Snapshot) -> Self {
        static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            slot: RwLock::new((0, Arc::new(snap))),
        }
    }

    /// The snapshot and its generation, from the lock.
    fn load_with_generation(&self) -> (u64, Arc<Snapshot>) {
        let slot = self.slot.read().unwrap_or_else(|e| e.into_inner());
        (slot.0, Arc::clone(&slot.1))
    }

    /// The snapshot in force (through the lock: for the slow paths).
    fn load(&self) -> Arc<Snapshot> {
        self.load_with_generation().1
    }

    /// Installs `snap` as the snapshot in force.
    fn store(&self, snap: Snapshot) {
        let mut slot = self.slot.write().unwrap_or_else(|e| e.into_inner());
        let generation = slot.0.wrapping_add(1);
        *slot = (generation, Arc::new(snap));
        self.generation.store(generation, Ordering::Release);
    }

    /// Runs `f` on the snapshot in force, from this thread's copy when it
    /// is current.
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&Snapshot) -> R) -> R {
        let generation = self.generation.load(Ordering::Acquire);
        let mut f = Some(f);
        let cached = CACHED.try_with(|cell| {
            // Fast path: this thread's copy is current (a shared borrow, so
            // a check made from inside `f` also works).
            if let Ok(c) = cell.try_borrow()
                && let Some(c) = c.as_ref()
                && c.guard == self.id
                && c.generation == generation
            {
                return f.take().map(|f| f(&c.snap));
            }
            // Refresh the copy, unless it is borrowed further up the stack.
            let (generation, snap) = self.load_with_generation();
            if let Ok(mut c) = cell.try_borrow_mut() {
                *c = Some(CachedSnapshot {
                    guard: self.id,
                    generation,
                    snap: Arc::clone(&snap),
                });
            }
            f.take().map(|f| f(&snap))
        });
        match (cached, f) {
            (Ok(Some(r)), _) => r,
            // The thread-local is being destroyed: go through the lock.
            (_, Some(f)) => f(&self.load()),
            (_, None) => unreachable!("`f` ran, so the closure returned its result"),
        }
    }
}

/// The decision core: holds the rule set in force and answers checks.
///
/// Cheap to share between threads (`&Guard` is enough; wrap it in an `Arc`
/// to own it from several places). Time comes from the clock `C`.
#[derive(Debug)]
pub struct Guard<C: Clock = MonotonicClock> {
    /// The snapshot in force, read through a per-thread cache.
    current: Current,
    /// Serialises swaps, so each builds on the snapshot it replaces; holds
    /// the distributed whitelist, which every snapshot built is given.
    swapping: std::sync::Mutex<Option<Arc<Whitelist>>>,
    clock: C,
    log: Arc<EventLog>,
    /// What this guard knows of its service's cluster (`scope: cluster`).
    cluster: ClusterLink,
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
        let (snap, _) = Snapshot::build(rules, None, &log, None);
        Ok(Self {
            current: Current::new(snap),
            swapping: std::sync::Mutex::new(None),
            clock,
            log,
            cluster: ClusterLink::new(),
        })
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load()
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
        // Build the new snapshot (a large gray whitelist takes a while)
        // without holding up checks, then swap the pointer atomically.
        let whitelist = self.swapping.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.snapshot();
        let (snap, report) = Snapshot::build(rules, Some(&old), &self.log, whitelist.clone());
        self.current.store(snap);
        Ok(report)
    }

    /// Installs `whitelist` as the gray rule's distributed whitelist (ids in
    /// it go to gray, like the rule's own `whitelist`), atomically, through
    /// the same swap as a rule set: the rules in force are rebuilt around it
    /// and keep their state. It stays across rule swaps until replaced;
    /// without a gray rule it routes nothing.
    pub fn install_whitelist(&self, whitelist: Arc<Whitelist>) {
        let mut slot = self.swapping.lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some(whitelist);
        let old = self.snapshot();
        let (snap, _) = Snapshot::build(old.rules.clone(), Some(&old), &self.log, slot.clone());
        self.current.store(snap);
    }

    /// The distributed whitelist in force, if one was installed.
    pub fn whitelist(&self) -> Option<Arc<Whitelist>> {
        self.swapping
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Checks one call to `resource` from `origin` (the caller's name, if known).
    #[inline]
    pub fn check(&self, resource: &str, origin: Option<&str>) -> Decision {
        self.check_n(resource, origin, 1)
    }

    /// Checks a call that counts `acquire` units (usually 1).
    pub fn check_n(&self, resource: &str, origin: Option<&str>, acquire: u32) -> Decision {
        let acquire = u64::from(acquire);
        self.current.with(|snap| {
            let Some(res) = snap.resources.get(resource) else {
                return Decision::Pass(Permit::empty(acquire, 0));
            };
            self.check_in::<crate::RequestParts<'static>>(res, origin, acquire, None, 1.0)
        })
    }

    /// The check path for one resource; `req` gives hot-parameter values
    /// (none without a request), `scale` shrinks limits for test traffic.
    #[inline]
    fn check_in<M: RequestMeta + ?Sized>(
        &self,
        res: &Arc<ResourceState>,
        origin: Option<&str>,
        acquire: u64,
        req: Option<ReqCtx<'_, M>>,
        scale: f64,
    ) -> Decision {
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
            let counter = f.counter(origin, now);
            let verdict = match &f.cluster {
                Some(cl) => {
                    let passed = counter.get().pass_qps(now);
                    if cl.admits(&self.cluster, f.rule.count, passed, now, acquire, scale) {
                        FlowVerdict::Pass
                    } else {
                        FlowVerdict::Block(BlockReason::QpsLimit)
                    }
                }
                None => counter.get().check(&f.rule, now, acquire, scale),
            };
            match verdict {
                FlowVerdict::Pass => {}
                FlowVerdict::Wait(w) => wait = wait.max(w),
                FlowVerdict::Block(reason) => {
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

        // 2b. Test traffic's own quota.
        let test_quota = match &req {
            Some(ctx) if ctx.test => res.test_quota.as_ref().map(|q| (q, ctx.policies)),
            _ => None,
        };
        if let Some((q, p)) = test_quota {
            let c = q.state.shared();
            if let FlowVerdict::Block(_) = c.check(&q.state.rule, now, acquire, 1.0) {
                q.state.blocked.fetch_add(1, Ordering::Relaxed);
                return Decision::Block(Blocked {
                    rule_id: Arc::clone(&p.test_id),
                    reason: BlockReason::TestQuota,
                });
            }
        }

        // 2c. Hot parameters.
        // The first passed value's slot inline, the others (a resource with
        // several hot-parameter rules) in a vector: no allocation for one rule.
        let mut first_slot = None;
        let mut more_slots = Vec::new();
        if let Some(ctx) = &req {
            let req = ctx.req;
            for h in &res.hot {
                let value = match h.rule.source {
                    ParamSource::Header => req.header(&h.key).map(std::borrow::Cow::Borrowed),
                    ParamSource::Query => {
                        match req.query().map(|q| unique_query_param(q, &h.key)) {
                            None | Some(Ok(None)) => None,
                            Some(Ok(Some(v))) => Some(v),
                            Some(Err(())) if h.rule.dry_run => {
                                h.would_block.fetch_add(1, Ordering::Relaxed);
                                None
                            }
                            Some(Err(())) => {
                                h.blocked.fetch_add(1, Ordering::Relaxed);
                                return Decision::Block(Blocked {
                                    rule_id: Arc::clone(&h.id),
                                    reason: BlockReason::AmbiguousParam,
                                });
                            }
                        }
                    }
                };
                let Some(value) = value else { continue };
                match h.check(&value, now, acquire, scale) {
                    HotCheck::Pass(slot) if first_slot.is_none() => first_slot = Some(slot),
                    HotCheck::Pass(slot) => more_slots.push(slot),
                    HotCheck::Block if h.rule.dry_run => {
                        h.would_block.fetch_add(1, Ordering::Relaxed);
                    }
                    HotCheck::Block => {
                        h.blocked.fetch_add(1, Ordering::Relaxed);
                        return Decision::Block(Blocked {
                            rule_id: Arc::clone(&h.id),
                            reason: BlockReason::HotParam,
                        });
                    }
                }
            }
        }

        // 3. Circuit breakers.
        let mut permit = Permit::empty(acquire, now);
        if !res.permit_handles.is_empty() {
            let i = handle_stripe();
            permit.breakers = res.permit_handles.get(i).map(Arc::clone);
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
            let counter = f.counter(origin, now);
            counter.get().commit(&f.rule, now, acquire);
            if let Some(cl) = &f.cluster {
                cl.commit(&self.cluster, now, acquire);
            }
            if f.rule.grade == crate::rules::Grade::Concurrency {
                permit.concurrency.push(counter.to_arc());
            }
        }
        if let Some((q, _)) = test_quota {
            q.state.shared().commit(&q.state.rule, now, acquire);
        }
        if let Some(first) = &first_slot {
            first.commit(now, acquire);
            for slot in &more_slots {
                slot.commit(now, acquire);
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

    /// Evaluates one request: matches its route to a resource, reads the
    /// caller (origin header), test tag and user id, picks the upstream
    /// (gray routing), refuses test traffic bound for an upstream that is not
    /// shadow-safe, runs the resource's rules (switches, flow, test quota,
    /// hot parameters, breakers), and picks a fault to inject. See
    /// [`Verdict`] for what to do with the answer.
    ///
    /// A request that matches no route gets only the global policies (gray
    /// routing, test-traffic safety) and passes otherwise.
    pub fn evaluate<M: RequestMeta + ?Sized>(&self, req: &M) -> Verdict {
        self.current.with(|snap| {
            // Routes match the canonical path (the sidecar and the tower
            // layer refuse a path without one before evaluating, and pass
            // the canonical one, which comes back borrowed here).
            let raw = req.path();
            let canonical = if req.path_is_canonical() {
                Ok(std::borrow::Cow::Borrowed(raw))
            } else {
                crate::canon::canonical_path(raw)
            };
            let path = canonical.as_deref().unwrap_or(raw);
            let res = snap
                .router
                .find(req.method(), path)
                .and_then(|i| snap.routed.get(i));
            self.evaluate_in(snap, res, req)
        })
    }

    /// Like [`evaluate`](Self::evaluate), but for the resource the embedding
    /// code names (routes are not consulted). An unknown name gets only the
    /// global policies, with `resource` set to `None`.
    pub fn evaluate_as<M: RequestMeta + ?Sized>(&self, resource: &str, req: &M) -> Verdict {
        self.current.with(|snap| {
            let res = snap.resources.get(resource);
            self.evaluate_in(snap, res, req)
        })
    }

    /// Whether `req` carries the test tag (header or baggage member), by the
    /// rule set in force.
    pub fn is_test<M: RequestMeta + ?Sized>(&self, req: &M) -> bool {
        self.current.with(|snap| is_test(&snap.policies, req))
    }

    fn evaluate_in<M: RequestMeta + ?Sized>(
        &self,
        snap: &Snapshot,
        res: Option<&Arc<ResourceState>>,
        req: &M,
    ) -> Verdict {
        let p = &snap.policies;
        let mut test = is_test(p, req);
        let origin = req.header(&p.origin_header);
        let gray = p.gray.as_ref().and_then(|g| {
            g.decide(req.header(&g.user_header), |n| req.header(n))
                .map(|why| (why, Arc::clone(&g.id)))
        });
        // A shadow-isolated gray request is test traffic from here on, and
        // carries the tag upstream.
        let tag_upstream = match &p.gray {
            Some(g) if g.shadow && gray.is_some() && !test => {
                test = true;
                Some(Arc::clone(&p.tag_header))
            }
            _ => None,
        };
        let upstream = if gray.is_some() {
            Upstream::Gray
        } else {
            Upstream::Primary
        };
        let (gray, gray_rule) = match gray {
            Some((why, id)) => (Some(why), Some(id)),
            None => (None, None),
        };
        let mut verdict = Verdict {
            resource: res.map(|r| Arc::clone(&r.name)),
            decision: Decision::Pass(Permit::empty(1, 0)),
            upstream,
            gray,
            gray_rule,
            test,
            tag_upstream,
            fault: None,
            timeout: res.and_then(|r| r.timeout),
        };
        if test {
            let upstream_safe = match upstream {
                Upstream::Primary => p.primary_shadow_safe,
                Upstream::Gray => p.gray_shadow_safe,
            };
            if !res.and_then(|r| r.shadow_safe).unwrap_or(upstream_safe) {
                verdict.decision = Decision::Block(Blocked {
                    rule_id: Arc::clone(&p.test_id),
                    reason: BlockReason::NotShadowSafe,
                });
                return verdict;
            }
        }
        let Some(res) = res else {
            return verdict;
        };
        let ctx = ReqCtx {
            req,
            test,
            policies: p,
        };
        let scale = if test { p.test_scale } else { 1.0 };
        verdict.decision = self.check_in(res, origin, 1, Some(ctx), scale);
        if verdict.decision.is_admitted() {
            verdict.fault = res
                .faults
                .iter()
                .filter(|f| test || f.rule.force)
                .filter(|f| {
                    f.rule
                        .expires_at_ms
                        .is_none_or(|end| self.clock.unix_millis() < end)
                })
                .find(|f| f.pick())
                .map(|f| Fault {
                    rule_id: Arc::clone(&f.id),
                    action: f.action,
                });
        }
        verdict
    }

    /// Reports how an admitted call ended: releases its concurrency slots and
    /// feeds the resource's breakers (response time is measured from the
    /// check to now).
    pub fn finish(&self, mut permit: Permit, outcome: Outcome) {
        let now = self.clock.now_nanos();
        let rt = now.saturating_sub(permit.started);
        if let Some(set) = &permit.breakers {
            for (i, b) in set.0.iter().enumerate() {
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

    /// The `scope: cluster` flow rules in force and their state, by rule id.
    pub fn cluster_quotas(&self) -> Vec<ClusterQuota> {
        let now = self.clock.now_nanos();
        let instances = self.cluster.instances.load(Ordering::Acquire);
        let snap = self.snapshot();
        let mut out = Vec::new();
        for res in snap.resources.values() {
            for f in &res.flows {
                let Some(cl) = &f.cluster else { continue };
                out.push(ClusterQuota {
                    rule_id: f.rule.id.clone(),
                    resource: res.name.to_string(),
                    count: f.rule.count,
                    mode: cl.mode(&self.cluster, now),
                    tokens: cl.tokens(now),
                    offered_qps: cl.offered_qps(now),
                    passed_qps: f.shared().pass_qps(now),
                    instances,
                    fallback_qps: crate::cluster::fallback_share(f.rule.count, instances),
                    granted: cl.granted(),
                });
            }
        }
        out.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
        out
    }

    /// Deposits `tokens` leased from the control plane for cluster rule
    /// `rule_id`, valid for `ttl` from now, and marks the control plane
    /// reachable. False when no such cluster rule is in force (the grant
    /// is dropped).
    pub fn cluster_grant(&self, rule_id: &str, tokens: u64, ttl: Duration) -> bool {
        let now = self.clock.now_nanos();
        let snap = self.snapshot();
        let Some(RuleRef::Flow(f)) = snap.by_id.get(rule_id) else {
            return false;
        };
        let Some(cl) = &f.cluster else { return false };
        cl.grant(now, tokens, ttl);
        self.cluster.offline.store(false, Ordering::Release);
        true
    }

    /// Sets the live instances of the service (from the control plane;
    /// at least 1): each one's fallback share is `count ÷ instances`.
    pub fn set_cluster_instances(&self, instances: u32) {
        self.cluster
            .instances
            .store(instances.max(1), Ordering::Release);
    }

    /// Marks the control plane unreachable (true): every cluster rule
    /// falls back to `count ÷ live instances` until the next grant.
    pub fn cluster_offline(&self, offline: bool) {
        self.cluster.offline.store(offline, Ordering::Release);
    }

    /// Whether cluster rules are in fallback because the control plane
    /// was marked unreachable.
    pub fn is_cluster_offline(&self) -> bool {
        self.cluster.offline.load(Ordering::Acquire)
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
            tracked_values: None,
            injected: 0,
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
                    tracked_values: f.tracked().map(|n| n as u64),
                    ..empty
                }
            }
            RuleRef::Breaker(b) => RuleStats {
                blocked: b.blocked.load(Ordering::Relaxed),
                would_block: b.would_block.load(Ordering::Relaxed),
                breaker: Some(b.state()),
                ..empty
            },
            RuleRef::Hot(h) => RuleStats {
                blocked: h.blocked.load(Ordering::Relaxed),
                would_block: h.would_block.load(Ordering::Relaxed),
                tracked_values: Some(h.tracked() as u64),
                ..empty
            },
            RuleRef::Fault(f) => RuleStats {
                injected: f.injected.load(Ordering::Relaxed),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;

    fn limit(count: u32) -> RuleSet {
        RuleSet::from_yaml(&format!(
            "version: {count}\nresources:\n  - name: r\n    flow:\n      - id: q{count}\n        count: {count}\n"
        ))
        .expect("valid rules")
    }

    /// Admitted calls out of `n` (permits dropped).
    fn admitted<C: Clock>(g: &Guard<C>, n: usize) -> usize {
        (0..n).filter(|_| g.check("r", None).is_admitted()).count()
    }

    #[test]
    fn a_thread_sees_a_swap_made_by_another_thread_at_its_next_check() {
        let g = Guard::with_clock(limit(1), ManualClock::new()).expect("guard");
        // This thread caches the first snapshot.
        assert_eq!(admitted(&g, 3), 1);
        std::thread::scope(|s| {
            s.spawn(|| g.swap(limit(5)).expect("swap"));
        });
        // New rule id, fresh counters: five more pass.
        assert_eq!(admitted(&g, 10), 5);
        assert_eq!(g.check("r", None).rule_id(), Some("q5"));
        // And a thread that never checked before sees the same rule set.
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(g.check("r", None).rule_id(), Some("q5")));
        });
    }

    #[test]
    fn guards_used_in_turn_on_one_thread_keep_their_own_rules() {
        let a = Guard::with_clock(limit(2), ManualClock::new()).expect("guard");
        let b = Guard::with_clock(limit(4), ManualClock::new()).expect("guard");
        let mut passed = (0, 0);
        for _ in 0..10 {
            passed.0 += usize::from(a.check("r", None).is_admitted());
            passed.1 += usize::from(b.check("r", None).is_admitted());
        }
        assert_eq!(passed, (2, 4));
        assert_eq!(a.check("r", None).rule_id(), Some("q2"));
        assert_eq!(b.check("r", None).rule_id(), Some("q4"));
    }

    #[test]
    fn threads_checking_at_once_share_one_quota_within_the_race_of_check_then_record() {
        let g = Guard::with_clock(limit(1000), ManualClock::new()).expect("guard");
        let passed: usize = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4).map(|_| s.spawn(|| admitted(&g, 600))).collect();
            hs.into_iter().map(|h| h.join().expect("thread")).sum()
        });
        // A QPS check reads the window, then records (as in Sentinel): each
        // of the other three threads may be between the two when the limit
        // is reached, so at most three calls over it.
        assert!((1000..=1003).contains(&passed), "{passed} admitted");
    }

    #[test]
    fn every_hot_parameter_rule_records_its_value() {
        let rules = RuleSet::from_yaml(
            "version: 1\nresources:\n  - name: r\n    routes: [{ path: /r }]\n    hot_params:\n      - { id: by-sku, source: query, name: sku, count: 5 }\n      - { id: by-user, source: header, name: x-user, count: 2 }\n      - { id: by-shop, source: header, name: x-shop, count: 3 }\n",
        )
        .expect("valid rules");
        let g = Guard::with_clock(rules, ManualClock::new()).expect("guard");
        let headers = [("x-user", "u1"), ("x-shop", "s1")];
        let req = crate::RequestParts::new("GET", "/r")
            .with_query("sku=1")
            .with_headers(&headers);
        let reasons: Vec<String> = (0..4)
            .map(|_| g.evaluate(&req).reason().to_owned())
            .collect();
        // Two admissions count against every rule's value: the third call is
        // over by-user's 2; by-shop then still has room for one more.
        assert_eq!(reasons[..2], ["pass", "pass"]);
        assert_eq!(reasons[2], "by-user");
        let other_user = [("x-user", "u2"), ("x-shop", "s1")];
        let req = crate::RequestParts::new("GET", "/r")
            .with_query("sku=1")
            .with_headers(&other_user);
        assert_eq!(g.evaluate(&req).reason(), "pass");
        assert_eq!(g.evaluate(&req).reason(), "by-shop");
    }

    #[test]
    fn permits_from_several_threads_feed_the_same_breaker() {
        let rules = RuleSet::from_yaml(
            "version: 1\nresources:\n  - name: r\n    breakers:\n      - id: b\n        strategy: error_count\n        threshold: 3\n        min_requests: 1\n        open_ms: 1000\n",
        )
        .expect("valid rules");
        let g = Guard::with_clock(rules, ManualClock::new()).expect("guard");
        // Two errors from each of two threads (four handles, one breaker).
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..2 {
                        match g.check("r", None) {
                            Decision::Pass(p) => g.finish(p, Outcome::Error),
                            other => panic!("expected a pass, got {other:?}"),
                        }
                    }
                });
            }
        });
        assert_eq!(g.breaker_state("b"), Some(BreakerState::Open));
    }
}
