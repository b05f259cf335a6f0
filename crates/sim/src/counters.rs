//! What each simulated service and partner has seen: requests, outcomes,
//! dependency trouble, and where writes landed (real store, shadow store,
//! or leaked to a partner that takes no test traffic).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::Fault;
use crate::topology::NodeKind;

/// Counters of one service or partner since start (or the last reset).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeCounters {
    /// Service or partner id.
    pub id: String,
    /// Service or partner.
    pub kind: NodeKind,
    /// Requests received (entries and dependency calls).
    pub requests: u64,
    /// Requests answered 200.
    pub ok: u64,
    /// Requests answered with an error (500 injected, 502 a strong
    /// dependency failed, 503 over capacity).
    pub errors: u64,
    /// Of `errors`: refused at once because the queue was full (503).
    pub rejected: u64,
    /// Of `errors`: failed by a `fail` fault (500).
    pub injected: u64,
    /// Dependency call attempts this node made that timed out.
    pub timeouts: u64,
    /// Dependency call attempts this node repeated after a failure.
    pub retries: u64,
    /// Weak dependencies that failed and whose fallback was used.
    pub fallbacks: u64,
    /// Writes (non-GET requests answered 200) of untagged traffic: the real store.
    pub real_writes: u64,
    /// Writes of test-tagged traffic: the shadow store (partners: only when
    /// `shadow_safe`).
    pub shadow_writes: u64,
    /// Partners that are not `shadow_safe`: test-tagged requests that
    /// reached them anyway (each one a real side effect of test traffic).
    pub leaks: u64,
    /// The drill switch now in force.
    pub fault: Fault,
}

/// Requests one entry received since start (or the last reset): what a
/// review's per-entry rates can be checked against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryCounters {
    /// Entry id.
    pub id: String,
    /// Requests that matched the entry's method and path, whatever their
    /// answer (tagged or not).
    pub requests: u64,
}

/// Counters of every service and partner, services first, in plan order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// One row per service, then per partner.
    pub nodes: Vec<NodeCounters>,
    /// One row per entry, in plan order.
    #[serde(default)]
    pub entries: Vec<EntryCounters>,
}

impl Counters {
    /// The row of one service or partner.
    pub fn get(&self, id: &str) -> Option<&NodeCounters> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// Requests one entry received.
    pub fn entry(&self, id: &str) -> Option<u64> {
        self.entries.iter().find(|e| e.id == id).map(|e| e.requests)
    }

    /// Sum of `real_writes` over every node.
    pub fn real_writes(&self) -> u64 {
        self.nodes.iter().map(|n| n.real_writes).sum()
    }

    /// Sum of `shadow_writes` over every node.
    pub fn shadow_writes(&self) -> u64 {
        self.nodes.iter().map(|n| n.shadow_writes).sum()
    }

    /// Sum of `leaks` over every partner.
    pub fn leaks(&self) -> u64 {
        self.nodes.iter().map(|n| n.leaks).sum()
    }
}

/// The live counters of one node.
#[derive(Debug, Default)]
pub(crate) struct Cells {
    pub requests: AtomicU64,
    pub ok: AtomicU64,
    pub errors: AtomicU64,
    pub rejected: AtomicU64,
    pub injected: AtomicU64,
    pub timeouts: AtomicU64,
    pub retries: AtomicU64,
    pub fallbacks: AtomicU64,
    pub real_writes: AtomicU64,
    pub shadow_writes: AtomicU64,
    pub leaks: AtomicU64,
}

/// Add one.
pub(crate) fn bump(cell: &AtomicU64) {
    cell.fetch_add(1, Ordering::Relaxed);
}

impl Cells {
    fn all(&self) -> [&AtomicU64; 11] {
        [
            &self.requests,
            &self.ok,
            &self.errors,
            &self.rejected,
            &self.injected,
            &self.timeouts,
            &self.retries,
            &self.fallbacks,
            &self.real_writes,
            &self.shadow_writes,
            &self.leaks,
        ]
    }

    pub fn snapshot(&self, id: &str, kind: NodeKind, fault: Fault) -> NodeCounters {
        let [
            requests,
            ok,
            errors,
            rejected,
            injected,
            timeouts,
            retries,
            fallbacks,
            real_writes,
            shadow_writes,
            leaks,
        ] = self.all().map(|c| c.load(Ordering::Relaxed));
        NodeCounters {
            id: id.to_owned(),
            kind,
            requests,
            ok,
            errors,
            rejected,
            injected,
            timeouts,
            retries,
            fallbacks,
            real_writes,
            shadow_writes,
            leaks,
            fault,
        }
    }

    pub fn reset(&self) {
        for c in self.all() {
            c.store(0, Ordering::Relaxed);
        }
    }
}
