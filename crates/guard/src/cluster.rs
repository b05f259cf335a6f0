//! Cluster-wide flow quotas (`scope: cluster`): one limit shared by every
//! sidecar of a service, with no single token server.
//!
//! Why here, and why this way: the guard decides on the hot path and must
//! not do IO, so a cluster rule's state is a local balance of tokens that
//! somebody else (the sidecar's lease loop) leases in batches from the
//! control plane's shared bucket and deposits with
//! [`crate::Guard::cluster_grant`]. Each admission takes one token. Tokens
//! expire with their lease; a sidecar that stops hearing from the control
//! plane — it says so with [`crate::Guard::cluster_offline`], or its lease
//! runs out by a whole lease period without renewal — falls back to
//! enforcing `count ÷ live instances` on its own sliding window, the live
//! instances being the last count the control plane gave. The fallback
//! window also counts what leased tokens admitted in the last second, so
//! switching over never admits a second's worth on top.
//!
//! The arithmetic both sides share is pure and lives here so it is tested
//! once (property tests in `tests/it/cluster.rs`): the control plane's
//! bucket ([`Bucket`]), how many tokens a sidecar asks for ([`batch`]) and
//! the fallback share ([`fallback_share`]).

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::window::Window;

const SECOND: u64 = 1_000_000_000;

/// The bucket's depth in seconds of the limit: what a burst after a quiet
/// spell may take at once.
pub const BURST_SECONDS: f64 = 0.2;

/// The control plane's shared bucket of one cluster rule: refilled at the
/// rule's `count` tokens per second up to [`BURST_SECONDS`] of it. Stored
/// by the control plane (one row per service and rule), so every replica on
/// the same database leases from the same bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Tokens left (0 ≤ tokens ≤ depth).
    pub tokens: f64,
    /// When `tokens` was last brought up to date, ms since the Unix epoch.
    pub updated_ms: i64,
}

impl Bucket {
    /// A new bucket at `now_ms`: full.
    pub fn new(rate: f64, now_ms: i64) -> Self {
        Self {
            tokens: depth(rate),
            updated_ms: now_ms,
        }
    }

    /// Refills for the time since the last update at `rate` per second,
    /// up to [`depth`]`(rate)` (a clock that went back refills nothing).
    pub fn refill(&mut self, rate: f64, now_ms: i64) {
        let rate = if rate.is_finite() { rate.max(0.0) } else { 0.0 };
        let elapsed = now_ms.saturating_sub(self.updated_ms).max(0) as f64 / 1000.0;
        let tokens = if self.tokens.is_finite() {
            self.tokens.max(0.0)
        } else {
            0.0
        };
        self.tokens = (tokens + elapsed * rate).min(depth(rate));
        self.updated_ms = self.updated_ms.max(now_ms);
    }

    /// Whole tokens in the bucket.
    pub fn available(&self) -> u64 {
        if self.tokens.is_finite() && self.tokens >= 1.0 {
            self.tokens.floor() as u64
        } else {
            0
        }
    }

    /// Takes `n` tokens out (never below zero).
    pub fn spend(&mut self, n: u64) {
        self.tokens = (self.tokens - n as f64).max(0.0);
    }

    /// [`Bucket::refill`], then takes what it can of `asked` whole tokens;
    /// returns the tokens granted.
    pub fn take(&mut self, rate: f64, now_ms: i64, asked: u64) -> u64 {
        self.refill(rate, now_ms);
        let granted = asked.min(self.available());
        self.spend(granted);
        granted
    }
}

/// The bucket's depth for a rate: [`BURST_SECONDS`] of it, at least one
/// token (a rate below 5/s still admits).
pub fn depth(rate: f64) -> f64 {
    if rate > 0.0 && rate.is_finite() {
        (rate * BURST_SECONDS).max(1.0)
    } else {
        0.0
    }
}

/// Demand is measured on a one-second window of ten buckets, which holds
/// between 0.9 and 1 s of requests, and traffic moves; a sidecar asks for
/// and reports this much more than it measured.
pub const HEADROOM: f64 = 1.25;

/// The demand a sidecar reports with a lease: the requests offered in the
/// last second with [`HEADROOM`], so the fair shares computed from it do
/// not pin a light sidecar below what it is sent.
pub fn reported_demand(offered_qps: u64) -> f64 {
    offered_qps as f64 * HEADROOM
}

/// How many tokens to ask for: enough for `demand_qps` (requests offered
/// per second, recently) over the next `period` and a quarter more, less
/// the `held` tokens still unused; never more than `count` a second's worth.
pub fn batch(demand_qps: f64, count: f64, period: Duration, held: i64) -> u64 {
    let secs = period.as_secs_f64();
    let demand = if demand_qps.is_finite() {
        demand_qps.max(0.0)
    } else {
        0.0
    };
    let cap = if count.is_finite() {
        count.max(0.0) * secs.max(1.0)
    } else {
        0.0
    };
    let want = (demand * secs * HEADROOM).ceil().min(cap);
    let want = if want.is_finite() { want as i64 } else { 0 };
    u64::try_from(want.saturating_sub(held.max(0))).unwrap_or(0)
}

/// One instance's max-min fair share of `rate` tokens per second, given
/// every live instance's recent demand (`demands`, this one's included as
/// `mine`): instances asking less than an equal split get what they ask,
/// the rest split what is left equally; when all together ask for less
/// than `rate`, the surplus is split equally on top. The control plane
/// caps a grant at this share times the time since the instance's last
/// lease, so a heavy sidecar cannot starve a light one however the
/// requests interleave: each instance has a credit [`Bucket`] refilled at
/// its share, and a grant spends it.
pub fn fair_share(rate: f64, demands: &[f64], mine: f64) -> f64 {
    let clean = |d: f64| if d.is_finite() { d.max(0.0) } else { 0.0 };
    let rate = clean(rate);
    let mine = clean(mine);
    let mut sorted: Vec<f64> = demands.iter().map(|d| clean(*d)).collect();
    if sorted.is_empty() {
        return rate;
    }
    sorted.sort_by(f64::total_cmp);
    let total: f64 = sorted.iter().sum();
    let n = sorted.len() as f64;
    if total <= rate {
        return mine + (rate - total) / n;
    }
    let mut left = rate;
    for (i, d) in sorted.iter().enumerate() {
        let level = left / (sorted.len() - i) as f64;
        if *d >= level {
            return mine.min(level);
        }
        left -= d;
    }
    mine
}

/// Each instance's share of `count` when the control plane cannot be
/// reached: `count ÷ instances` (at least one instance), so `instances`
/// sidecars together stay at or below `count`.
pub fn fallback_share(count: f64, instances: u32) -> f64 {
    count / f64::from(instances.max(1))
}

/// Where a cluster rule's admissions come from now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterMode {
    /// Tokens leased from the control plane.
    Leased,
    /// `count ÷ live instances` on this guard's own window: the control
    /// plane cannot be reached, its lease ran out, or none was granted yet.
    Fallback,
}

impl ClusterMode {
    /// `leased` or `fallback`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterMode::Leased => "leased",
            ClusterMode::Fallback => "fallback",
        }
    }
}

/// What one cluster rule looks like now (`Guard::cluster_quotas`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClusterQuota {
    /// Rule id.
    pub rule_id: String,
    /// The resource it is on.
    pub resource: String,
    /// The service-wide limit (requests per second).
    pub count: f64,
    /// Leased or fallback.
    pub mode: ClusterMode,
    /// Leased tokens left (negative: taken by racing checks, repaid from
    /// the next grant; zero once the lease has expired).
    pub tokens: i64,
    /// Requests that reached the rule in the last second (the demand the
    /// next batch is sized from).
    pub offered_qps: u64,
    /// Requests the rule admitted in the last second.
    pub passed_qps: u64,
    /// Live instances of the service, as last heard.
    pub instances: u32,
    /// This guard's limit in fallback: `count ÷ instances`.
    pub fallback_qps: f64,
    /// Tokens granted since the rule was created.
    pub granted: u64,
}

/// What a guard knows about its service's cluster, shared by every cluster
/// rule it holds (one sidecar guards one service).
#[derive(Debug)]
pub(crate) struct ClusterLink {
    /// Live instances of the service, as the control plane last said (≥ 1).
    pub(crate) instances: AtomicU32,
    /// Set while the control plane cannot be reached.
    pub(crate) offline: AtomicBool,
}

impl ClusterLink {
    pub(crate) fn new() -> Self {
        Self {
            instances: AtomicU32::new(1),
            offline: AtomicBool::new(false),
        }
    }
}

/// One cluster rule's local state.
#[derive(Debug)]
pub(crate) struct ClusterState {
    /// Leased tokens left.
    tokens: AtomicI64,
    /// Clock nanos when the lease ends (0: never leased).
    expires: AtomicU64,
    /// The lease's length, nanos (how long after expiry the rule still
    /// waits for a renewal before falling back by itself).
    ttl: AtomicU64,
    /// Requests that reached the rule.
    offered: Window<1>,
    granted: AtomicU64,
}

impl ClusterState {
    pub(crate) fn new() -> Self {
        Self {
            tokens: AtomicI64::new(0),
            expires: AtomicU64::new(0),
            ttl: AtomicU64::new(0),
            offered: Window::new(10, SECOND),
            granted: AtomicU64::new(0),
        }
    }

    pub(crate) fn mode(&self, link: &ClusterLink, now: u64) -> ClusterMode {
        let expires = self.expires.load(Ordering::Acquire);
        let grace = self.ttl.load(Ordering::Relaxed);
        if expires == 0
            || link.offline.load(Ordering::Acquire)
            || now > expires.saturating_add(grace)
        {
            ClusterMode::Fallback
        } else {
            ClusterMode::Leased
        }
    }

    /// Whether `acquire` more may pass; `passed` is what the rule's window
    /// admitted in the last second, `scale` the test-traffic reserve.
    #[inline]
    pub(crate) fn admits(
        &self,
        link: &ClusterLink,
        count: f64,
        passed: u64,
        now: u64,
        acquire: u64,
        scale: f64,
    ) -> bool {
        self.offered.add(now, 0, acquire);
        match self.mode(link, now) {
            ClusterMode::Leased => {
                now <= self.expires.load(Ordering::Acquire)
                    && self.tokens.load(Ordering::Acquire) >= acquire as i64
            }
            ClusterMode::Fallback => {
                let share = fallback_share(count, link.instances.load(Ordering::Acquire));
                (passed + acquire) as f64 <= share * scale
            }
        }
    }

    /// Records an admission: takes its tokens while leased.
    #[inline]
    pub(crate) fn commit(&self, link: &ClusterLink, now: u64, acquire: u64) {
        if self.mode(link, now) == ClusterMode::Leased {
            self.tokens
                .fetch_sub(i64::try_from(acquire).unwrap_or(i64::MAX), Ordering::AcqRel);
        }
    }

    /// Deposits a grant of `tokens` valid for `ttl` from `now`: unused
    /// tokens of an expired lease are dropped, a debt is kept.
    pub(crate) fn grant(&self, now: u64, tokens: u64, ttl: Duration) {
        let ttl = u64::try_from(ttl.as_nanos()).unwrap_or(u64::MAX);
        let add = i64::try_from(tokens).unwrap_or(i64::MAX);
        let expired = now > self.expires.load(Ordering::Acquire);
        let _ = self
            .tokens
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                let kept = if expired { held.min(0) } else { held };
                Some(kept.saturating_add(add))
            });
        self.ttl.store(ttl, Ordering::Relaxed);
        self.expires
            .store(now.saturating_add(ttl).max(1), Ordering::Release);
        self.granted.fetch_add(tokens, Ordering::Relaxed);
    }

    /// Leased tokens usable now.
    pub(crate) fn tokens(&self, now: u64) -> i64 {
        let held = self.tokens.load(Ordering::Acquire);
        if now > self.expires.load(Ordering::Acquire) {
            held.min(0)
        } else {
            held
        }
    }

    pub(crate) fn offered_qps(&self, now: u64) -> u64 {
        self.offered.sum(now, 0)
    }

    pub(crate) fn granted(&self) -> u64 {
        self.granted.load(Ordering::Relaxed)
    }
}
