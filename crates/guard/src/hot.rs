//! Hot-parameter limits: a QPS limit per value of one header or query
//! parameter, for the hottest values only, in bounded memory.
//!
//! The tracked values live in a fixed number of slots (`top_k`, split over
//! up to 16 shards by hash so threads rarely meet on one lock). Each slot
//! keeps a one-second sliding window of the value's admitted and offered
//! calls. When a new value arrives at a full shard, the slot with the fewest
//! offered calls in the last second is reused, and — as in the space-saving
//! top-K algorithm — the newcomer inherits that count as a ranking estimate
//! (for one second), so a value that keeps arriving climbs the ranking
//! instead of being evicted by a stream of one-off values. The estimate only
//! ranks; a value is limited by its own admitted count, never by inherited
//! counts, so eviction can let a cold value through but never blocks one
//! wrongly. Values named in `exceptions` have permanent slots of their own.
//!
//! Values are counted as the upstream reads them (query values
//! percent-decoded, see [`query_param`](crate::query_param)), and a value
//! longer than [`MAX_KEY_BYTES`](crate::flow::MAX_KEY_BYTES) is stored
//! shortened with a keyed hash ([`bounded_key`]), so a slot costs a bounded
//! number of bytes whatever the client sends.

use std::collections::HashMap;
use std::hash::RandomState;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::flow::{QPS_BUCKETS, SECOND, bounded_key};
use crate::fx::FxBuild;
use crate::rules::HotParamRule;
use crate::window::Window;

/// Counter fields of a slot's window.
const ADMITTED: usize = 0;
const OFFERED: usize = 1;

/// The most shards a rule's table is split into.
const MAX_SHARDS: usize = 16;

/// One tracked value.
#[derive(Debug)]
pub(crate) struct Slot {
    window: Window<2>,
    inherited: u64,
    inherited_at: u64,
}

impl Slot {
    fn new(inherited: u64, now: u64) -> Self {
        Self {
            window: Window::new(QPS_BUCKETS, SECOND),
            inherited,
            inherited_at: now,
        }
    }

    /// The ranking estimate: offered calls in the last second, plus the
    /// inherited count while it is less than a second old.
    fn estimate(&self, now: u64) -> u64 {
        let inherited = if now.saturating_sub(self.inherited_at) < SECOND {
            self.inherited
        } else {
            0
        };
        self.window.sum(now, OFFERED) + inherited
    }

    /// Records an admission.
    #[inline]
    pub(crate) fn commit(&self, now: u64, acquire: u64) {
        self.window.add(now, ADMITTED, acquire);
    }
}

type Shard = HashMap<Box<str>, Arc<Slot>, FxBuild>;

/// A hot-parameter rule with its value table.
#[derive(Debug)]
pub(crate) struct HotParamState {
    pub(crate) rule: HotParamRule,
    pub(crate) id: Arc<str>,
    /// Lower-cased header name, or the query parameter name.
    pub(crate) key: String,
    shards: Box<[RwLock<Shard>]>,
    per_shard: usize,
    exceptions: HashMap<Box<str>, (f64, Arc<Slot>), FxBuild>,
    /// Keys the hash of long values (random per rule).
    key_hasher: RandomState,
    pub(crate) blocked: AtomicU64,
    pub(crate) would_block: AtomicU64,
    pub(crate) evictions: AtomicU64,
}

/// The outcome of checking one value.
pub(crate) enum HotCheck {
    /// Under its limit: admit (commit the slot once the call is admitted).
    Pass(Arc<Slot>),
    /// Over its limit.
    Block,
}

impl HotParamState {
    pub(crate) fn new(rule: HotParamRule) -> Self {
        let top_k = rule.top_k.max(1);
        let shards = if top_k >= 4 * MAX_SHARDS {
            MAX_SHARDS
        } else {
            1
        };
        let per_shard = top_k.div_ceil(shards);
        let exceptions = rule
            .exceptions
            .iter()
            .map(|(v, c)| (Box::from(v.as_str()), (*c, Arc::new(Slot::new(0, 0)))))
            .collect();
        let key = match rule.source {
            crate::rules::ParamSource::Header => rule.name.to_ascii_lowercase(),
            crate::rules::ParamSource::Query => rule.name.clone(),
        };
        Self {
            id: Arc::from(rule.id.as_str()),
            key,
            shards: (0..shards).map(|_| RwLock::new(Shard::default())).collect(),
            per_shard,
            exceptions,
            key_hasher: RandomState::new(),
            rule,
            blocked: AtomicU64::new(0),
            would_block: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// Values tracked now (exceptions not counted).
    pub(crate) fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Checks a call of `acquire` units carrying `value`; `scale` (≤ 1)
    /// shrinks the limit (test traffic's reserve).
    #[inline]
    pub(crate) fn check(&self, value: &str, now: u64, acquire: u64, scale: f64) -> HotCheck {
        let (limit, slot) = match self.exceptions.get(value) {
            Some((limit, slot)) => (*limit, Arc::clone(slot)),
            None => (self.rule.count, self.slot(value, now)),
        };
        slot.window.add(now, OFFERED, acquire);
        if (slot.window.sum(now, ADMITTED) + acquire) as f64 > limit * scale {
            HotCheck::Block
        } else {
            HotCheck::Pass(slot)
        }
    }

    fn slot(&self, value: &str, now: u64) -> Arc<Slot> {
        let value = bounded_key(value, &self.key_hasher);
        let value: &str = &value;
        let shard = if self.shards.len() == 1 {
            &self.shards[0]
        } else {
            let h = crate::whitelist::sticky_hash(value.as_bytes());
            &self.shards[(h % self.shards.len() as u64) as usize]
        };
        if let Some(s) = shard.read().unwrap_or_else(|e| e.into_inner()).get(value) {
            return Arc::clone(s);
        }
        let mut map = shard.write().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = map.get(value) {
            return Arc::clone(s);
        }
        let mut inherited = 0;
        if map.len() >= self.per_shard {
            let victim = map
                .iter()
                .map(|(k, s)| (s.estimate(now), k))
                .min_by_key(|(e, _)| *e)
                .map(|(e, k)| (e, k.clone()));
            if let Some((estimate, key)) = victim {
                map.remove(&key);
                inherited = estimate;
                self.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        let slot = Arc::new(Slot::new(inherited, now));
        map.insert(value.into(), Arc::clone(&slot));
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::ParamSource;

    fn rule(count: f64, top_k: usize) -> HotParamRule {
        HotParamRule {
            id: "hot".into(),
            source: ParamSource::Query,
            name: "sku".into(),
            count,
            top_k,
            exceptions: [("vip".to_owned(), 5.0)].into_iter().collect(),
            dry_run: false,
        }
    }

    fn admit(h: &HotParamState, v: &str, now: u64) -> bool {
        match h.check(v, now, 1, 1.0) {
            HotCheck::Pass(s) => {
                s.commit(now, 1);
                true
            }
            HotCheck::Block => false,
        }
    }

    #[test]
    fn limits_each_value_and_honours_exceptions() {
        let h = HotParamState::new(rule(2.0, 100));
        let now = 10 * SECOND;
        assert!(admit(&h, "a", now));
        assert!(admit(&h, "a", now));
        assert!(!admit(&h, "a", now));
        assert!(admit(&h, "b", now));
        let vip = (0..10).filter(|_| admit(&h, "vip", now)).count();
        assert_eq!(vip, 5);
        assert!(admit(&h, "a", now + SECOND));
    }

    #[test]
    fn memory_is_bounded_and_a_hot_value_survives_a_stream_of_cold_ones() {
        let h = HotParamState::new(rule(50.0, 8));
        let now = 10 * SECOND;
        let mut hot_admitted = 0;
        for i in 0..1000 {
            if admit(&h, "hot", now) {
                hot_admitted += 1;
            }
            admit(&h, &format!("cold-{i}"), now);
            assert!(h.tracked() <= 8);
        }
        assert_eq!(
            hot_admitted, 50,
            "the hot value kept its slot and its limit"
        );
    }
}
