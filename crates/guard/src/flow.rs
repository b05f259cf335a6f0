//! Flow control: one quota's counters ([`FlowCounter`]) and a rule's state
//! with its per-caller quotas ([`FlowRuleState`]).
//!
//! Per-caller (`per_origin`) quotas are keyed by a header the client
//! chooses, so the table must survive a client that sends a new name with
//! every request. It is bounded three ways (docs/security.md):
//! - a key longer than [`MAX_KEY_BYTES`] is stored as its first 64 bytes and
//!   a keyed hash ([`bounded_key`]), so a name costs at most ~90 bytes;
//! - a caller not seen for [`IDLE_NANOS`] (or twice the rule's
//!   `max_queueing_ms`, if longer) and holding no permit is evicted; the
//!   table is swept when a new caller arrives and the last sweep is that
//!   old, or when the table is full and the last sweep is a second old;
//! - at most `max_origins` callers are tracked; a newcomer finding the table
//!   full of active callers counts against the rule's one overflow quota
//!   until a sweep frees a place.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::cluster::ClusterState;
use crate::rules::{Behavior, FlowRule, Grade, Scope};
use crate::window::Window;

pub(crate) const SECOND: u64 = 1_000_000_000;
/// Buckets of the one-second QPS window (100 ms each).
pub(crate) const QPS_BUCKETS: usize = 10;

/// Longest caller name or hot-parameter value kept as it is, in bytes;
/// longer ones are shortened by [`bounded_key`].
pub const MAX_KEY_BYTES: usize = 128;
/// A per-caller quota unused this long is evicted (five QPS windows).
pub const IDLE_NANOS: u64 = 5 * SECOND;
/// A full per-caller table is swept at most this often.
const FULL_SWEEP_NANOS: u64 = SECOND;

/// `key` itself when it is at most [`MAX_KEY_BYTES`] long, else its first
/// 64 bytes (at a character boundary), `#` and a 64-bit SipHash of the whole
/// key under `hasher`'s random per-rule key: distinct long keys stay
/// distinct, a client cannot forge a collision with someone else's key, and
/// a stored key is at most 81 bytes.
pub(crate) fn bounded_key<'a>(key: &'a str, hasher: &RandomState) -> Cow<'a, str> {
    if key.len() <= MAX_KEY_BYTES {
        return Cow::Borrowed(key);
    }
    let mut cut = 64;
    while !key.is_char_boundary(cut) {
        cut -= 1;
    }
    let h = hasher.hash_one(key.as_bytes());
    Cow::Owned(format!("{}#{h:016x}", &key[..cut]))
}

/// Outcome of checking one quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Admit now.
    Pass,
    /// Admit after waiting this many nanoseconds (pace).
    Wait(u64),
    /// Do not admit.
    Block(crate::BlockReason),
}

/// Token-bucket warm-up parameters derived from a rule (see docs/guard-rules.md).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WarmUpCurve {
    pub(crate) count: f64,
    pub(crate) cold_factor: f64,
    pub(crate) warning_token: u64,
    pub(crate) max_token: u64,
    pub(crate) slope: f64,
}

impl WarmUpCurve {
    pub(crate) fn new(count: f64, warm_up_secs: u64, cold_factor: f64) -> Self {
        let period = warm_up_secs as f64;
        let warning_token = ((period * count).floor() / (cold_factor - 1.0)) as u64;
        // Saturating: a huge count or period (a valid document may give
        // both) must not overflow (found by the rules fuzz target).
        let max_token =
            warning_token.saturating_add((2.0 * period * count / (1.0 + cold_factor)) as u64);
        let span = (max_token - warning_token).max(1) as f64;
        let slope = (cold_factor - 1.0) / count.max(f64::MIN_POSITIVE) / span;
        Self {
            count,
            cold_factor,
            warning_token,
            max_token,
            slope,
        }
    }

    /// The admitted rate while `tokens` are stored.
    pub(crate) fn allowed_qps(&self, tokens: u64) -> f64 {
        if tokens >= self.warning_token {
            let above = (tokens - self.warning_token) as f64;
            next_up(1.0 / (above * self.slope + 1.0 / self.count))
        } else {
            self.count
        }
    }

    /// Tokens after a refill of `elapsed_nanos` (`None`: never filled)
    /// given the previous second's admitted requests.
    pub(crate) fn cool_down(&self, tokens: u64, elapsed_nanos: Option<u64>, previous: u64) -> u64 {
        let refill = |t: u64| -> u64 {
            match elapsed_nanos {
                None => self.max_token,
                Some(e) => {
                    let add = e as f64 * self.count / SECOND as f64;
                    (t as f64 + add).min(self.max_token as f64) as u64
                }
            }
        };
        let cold_rate = self.count.floor() / self.cold_factor;
        if tokens < self.warning_token
            || (tokens > self.warning_token && (previous as f64) < cold_rate)
        {
            refill(tokens)
        } else {
            tokens
        }
    }
}

fn next_up(x: f64) -> f64 {
    if x.is_finite() && x >= 0.0 {
        f64::from_bits(x.to_bits() + 1)
    } else {
        x
    }
}

#[derive(Debug)]
struct WarmUp {
    curve: WarmUpCurve,
    stored_tokens: AtomicU64,
    /// Start of the second of the last refill; `u64::MAX`: never.
    last_filled: AtomicU64,
    /// Admitted per whole second, two seconds: for "the previous second".
    seconds: Window<1>,
}

impl WarmUp {
    fn sync(&self, now: u64) {
        let second = now - now % SECOND;
        let last = self.last_filled.load(Ordering::Acquire);
        if last != u64::MAX && second <= last {
            return;
        }
        let previous = self.seconds.previous(now, 0);
        let old = self.stored_tokens.load(Ordering::Acquire);
        let elapsed = (last != u64::MAX).then(|| second - last);
        let new = self.curve.cool_down(old, elapsed, previous);
        if self
            .last_filled
            .compare_exchange(last, second, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.stored_tokens
                .store(new.saturating_sub(previous), Ordering::Release);
        }
    }
}

/// The counters of one quota: the whole rule's, or one caller's.
#[derive(Debug)]
pub(crate) struct FlowCounter {
    /// Admitted requests, one-second sliding window.
    window: Window<1>,
    in_flight: AtomicU64,
    warm: Option<WarmUp>,
    /// Pace: when the last admitted request is due, in clock nanoseconds.
    latest_passed: AtomicI64,
    /// Per-caller quotas: when the caller was last seen (for eviction).
    last_used: AtomicU64,
}

impl FlowCounter {
    pub(crate) fn new(rule: &FlowRule) -> Self {
        let warm =
            (rule.behavior == Behavior::WarmUp && rule.grade == Grade::Qps).then(|| WarmUp {
                curve: WarmUpCurve::new(rule.count, rule.warm_up_secs, rule.cold_factor),
                stored_tokens: AtomicU64::new(0),
                last_filled: AtomicU64::new(u64::MAX),
                seconds: Window::new(2, 2 * SECOND),
            });
        Self {
            window: Window::new(QPS_BUCKETS, SECOND),
            in_flight: AtomicU64::new(0),
            warm,
            latest_passed: AtomicI64::new(i64::MIN / 4),
            last_used: AtomicU64::new(0),
        }
    }

    /// Admitted requests in the last second.
    pub(crate) fn pass_qps(&self, now: u64) -> u64 {
        self.window.sum(now, 0)
    }

    /// Requests in flight.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Checks without recording an admission (pace reserves its slot here).
    #[inline]
    /// `scale` (≤ 1) shrinks the limit: test traffic's reserve (1 for real traffic).
    pub(crate) fn check(&self, rule: &FlowRule, now: u64, acquire: u64, scale: f64) -> Verdict {
        use crate::BlockReason as R;
        let n = acquire as f64;
        match (rule.grade, rule.behavior) {
            (Grade::Concurrency, _) => {
                if self.in_flight.load(Ordering::Acquire) as f64 + n > rule.count * scale {
                    Verdict::Block(R::ConcurrencyLimit)
                } else {
                    Verdict::Pass
                }
            }
            (Grade::Qps, Behavior::Reject) => {
                if self.window.sum(now, 0) as f64 + n > rule.count * scale {
                    Verdict::Block(R::QpsLimit)
                } else {
                    Verdict::Pass
                }
            }
            (Grade::Qps, Behavior::WarmUp) => {
                let Some(w) = &self.warm else {
                    return Verdict::Pass;
                };
                w.sync(now);
                let allowed = w.curve.allowed_qps(w.stored_tokens.load(Ordering::Acquire));
                if self.window.sum(now, 0) as f64 + n <= allowed * scale {
                    Verdict::Pass
                } else {
                    Verdict::Block(R::WarmingUp)
                }
            }
            (Grade::Qps, Behavior::Pace) => self.pace(rule, now, acquire, scale),
        }
    }

    fn pace(&self, rule: &FlowRule, now: u64, acquire: u64, scale: f64) -> Verdict {
        if acquire == 0 {
            return Verdict::Pass;
        }
        if rule.count <= 0.0 {
            return Verdict::Block(crate::BlockReason::QpsLimit);
        }
        let now = i64::try_from(now).unwrap_or(i64::MAX);
        let cost = ((acquire as f64) * SECOND as f64 / rule.count).round() as i64;
        let max_wait =
            i64::try_from(rule.max_queueing_ms.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        let max_wait = if scale < 1.0 {
            (max_wait as f64 * scale) as i64
        } else {
            max_wait
        };
        let latest = self.latest_passed.load(Ordering::Acquire);
        if latest.saturating_add(cost) <= now {
            // Idle long enough: pass at once (a racing thread may do the same,
            // as in Sentinel; the next request queues behind the later one).
            self.latest_passed.fetch_max(now, Ordering::AcqRel);
            return Verdict::Pass;
        }
        if latest.saturating_add(cost) - now > max_wait {
            return Verdict::Block(crate::BlockReason::QueueTooLong);
        }
        let due = self
            .latest_passed
            .fetch_add(cost, Ordering::AcqRel)
            .saturating_add(cost);
        let wait = due.saturating_sub(now);
        if wait > max_wait {
            self.latest_passed.fetch_sub(cost, Ordering::AcqRel);
            return Verdict::Block(crate::BlockReason::QueueTooLong);
        }
        if wait > 0 {
            Verdict::Wait(wait as u64)
        } else {
            Verdict::Pass
        }
    }

    /// Records an admission.
    #[inline]
    pub(crate) fn commit(&self, rule: &FlowRule, now: u64, acquire: u64) {
        match rule.grade {
            Grade::Concurrency => {
                self.in_flight.fetch_add(acquire, Ordering::AcqRel);
            }
            Grade::Qps => {
                self.window.add(now, 0, acquire);
                if let Some(w) = &self.warm {
                    w.seconds.add(now, 0, acquire);
                }
            }
        }
    }

    /// Ends an admission of a concurrency rule.
    pub(crate) fn release(&self, acquire: u64) {
        let _ = self
            .in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some(v.saturating_sub(acquire))
            });
    }
}

/// A flow rule with its quotas and counters.
#[derive(Debug)]
pub(crate) struct FlowRuleState {
    pub(crate) rule: FlowRule,
    pub(crate) id: Arc<str>,
    shared: Arc<FlowCounter>,
    origins: Option<RwLock<HashMap<Box<str>, Arc<FlowCounter>>>>,
    overflow: Option<Arc<FlowCounter>>,
    /// Keys the hash of long caller names (random per rule).
    key_hasher: RandomState,
    /// Clock time of the last sweep of `origins`.
    last_sweep: AtomicU64,
    /// A caller idle longer than this is evicted.
    idle_nanos: u64,
    pub(crate) blocked: AtomicU64,
    pub(crate) would_block: AtomicU64,
    /// Callers evicted from `origins`.
    pub(crate) evictions: AtomicU64,
    /// A `scope: cluster` rule's leased tokens and demand.
    pub(crate) cluster: Option<ClusterState>,
}

impl FlowRuleState {
    pub(crate) fn new(rule: FlowRule) -> Self {
        let per_origin = rule.per_origin;
        let cluster = (rule.scope == Scope::Cluster).then(ClusterState::new);
        Self {
            id: Arc::from(rule.id.as_str()),
            shared: Arc::new(FlowCounter::new(&rule)),
            origins: per_origin.then(|| RwLock::new(HashMap::new())),
            overflow: per_origin.then(|| Arc::new(FlowCounter::new(&rule))),
            key_hasher: RandomState::new(),
            last_sweep: AtomicU64::new(0),
            idle_nanos: IDLE_NANOS.max(rule.max_queueing_ms.saturating_mul(2_000_000)),
            rule,
            blocked: AtomicU64::new(0),
            would_block: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            cluster,
        }
    }

    /// Callers with a quota of their own now (`None`: not a per-caller rule).
    pub(crate) fn tracked(&self) -> Option<usize> {
        self.origins
            .as_ref()
            .map(|m| m.read().unwrap_or_else(|e| e.into_inner()).len())
    }

    /// The rule's shared quota (unused by `per_origin` rules except as a fallback).
    pub(crate) fn shared(&self) -> &FlowCounter {
        &self.shared
    }

    /// The quota a call from `origin` at clock time `now` counts against.
    #[inline]
    pub(crate) fn counter(&self, origin: Option<&str>, now: u64) -> CounterRef<'_> {
        let Some(map) = &self.origins else {
            return CounterRef::Shared(&self.shared);
        };
        let key = bounded_key(origin.unwrap_or(""), &self.key_hasher);
        let key: &str = &key;
        {
            let read = map.read().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = read.get(key) {
                c.last_used.store(now, Ordering::Relaxed);
                return CounterRef::Origin(Arc::clone(c));
            }
        }
        let mut write = map.write().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = write.get(key) {
            c.last_used.store(now, Ordering::Relaxed);
            return CounterRef::Origin(Arc::clone(c));
        }
        let since = now.saturating_sub(self.last_sweep.load(Ordering::Relaxed));
        let full = write.len() >= self.rule.max_origins;
        if since >= self.idle_nanos || (full && since >= FULL_SWEEP_NANOS) {
            self.last_sweep.store(now, Ordering::Relaxed);
            let before = write.len();
            let idle = self.idle_nanos;
            // A quota held by a permit (a concurrency rule's call in
            // flight) stays: a fresh one would forget the call.
            write.retain(|_, c| {
                Arc::strong_count(c) > 1
                    || now.saturating_sub(c.last_used.load(Ordering::Relaxed)) <= idle
            });
            let evicted = before - write.len();
            self.evictions.fetch_add(evicted as u64, Ordering::Relaxed);
        }
        if write.len() >= self.rule.max_origins {
            return match &self.overflow {
                Some(o) => CounterRef::Origin(Arc::clone(o)),
                None => CounterRef::Shared(&self.shared),
            };
        }
        let c = Arc::new(FlowCounter::new(&self.rule));
        c.last_used.store(now, Ordering::Relaxed);
        write.insert(key.into(), Arc::clone(&c));
        CounterRef::Origin(c)
    }
}

/// A quota, borrowed from the rule or owned from the per-caller map.
pub(crate) enum CounterRef<'a> {
    Shared(&'a Arc<FlowCounter>),
    Origin(Arc<FlowCounter>),
}

impl CounterRef<'_> {
    pub(crate) fn get(&self) -> &FlowCounter {
        match self {
            CounterRef::Shared(c) => c,
            CounterRef::Origin(c) => c,
        }
    }

    pub(crate) fn to_arc(&self) -> Arc<FlowCounter> {
        match self {
            CounterRef::Shared(c) => Arc::clone(c),
            CounterRef::Origin(c) => Arc::clone(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_curve_starts_cold_and_ends_at_count() {
        let c = WarmUpCurve::new(1000.0, 10, 3.0);
        assert_eq!(c.warning_token, 5000);
        assert_eq!(c.max_token, 10_000);
        assert!((c.allowed_qps(c.max_token) - 1000.0 / 3.0).abs() < 1e-6);
        assert!((c.allowed_qps(c.warning_token) - 1000.0).abs() < 1e-6);
        assert_eq!(c.allowed_qps(0), 1000.0);
        assert_eq!(c.cool_down(0, None, 0), 10_000);
    }
}
