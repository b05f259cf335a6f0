//! What the change gate read between changes: the events, each event's
//! current plan and its exceptions in the gate's terms (`service::gate`
//! makes the reads, `cached_events`). Dropped whole when the change
//! generation moves (every change through this replica that the gate
//! depends on calls `AppState::notify_change`) and after
//! [`GATE_CACHE_AGE`] whatever happens, so a change through another
//! replica on the same database is in this replica's answers within
//! that. It holds only data, so [`crate::state::AppState`] holds it
//! without depending on the rest of the service layer.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use seawall_plan::Plan;
use seawall_plan::gate::FreezeException;

/// The longest the gate answers from reads made before a change through
/// another replica (changes through this one drop the cache at once).
pub const GATE_CACHE_AGE: Duration = Duration::from_secs(1);

/// The gate's reads between changes (see the module documentation).
#[derive(Debug, Default)]
pub struct GateCache {
    cached: tokio::sync::Mutex<GateReads>,
    reads: AtomicU64,
}

/// What the gate read, under which change generation and since when.
#[derive(Debug, Default)]
pub(crate) struct GateReads {
    generation: u64,
    since: Option<tokio::time::Instant>,
    /// Every event, when a check named none.
    pub all: Option<Vec<seawall_store::Event>>,
    /// Events found by slug (bounded by the stored events).
    pub by_slug: HashMap<String, seawall_store::Event>,
    /// Per event id: its current plan and its exceptions.
    pub events: HashMap<i64, Arc<EventReads>>,
}

/// An event's current plan (version and parsed plan) and its exceptions
/// in the gate's terms, as the gate reads them.
#[derive(Debug)]
pub(crate) struct EventReads {
    pub plan: Option<(i64, Arc<Plan>)>,
    pub exceptions: Vec<FreezeException>,
}

impl GateCache {
    /// Store reads made to fill the cache (what the tests count).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Count `n` store reads made to fill the cache.
    pub(crate) fn count(&self, n: u64) {
        self.reads.fetch_add(n, Ordering::Relaxed);
    }

    /// The reads, held (one filler at a time: checks arriving meanwhile
    /// wait for its reads instead of making their own), emptied first when
    /// `generation()` (read under the lock, before any read of the store:
    /// a change stored while we read bumps it again) moved or they are
    /// older than [`GATE_CACHE_AGE`].
    pub(crate) async fn current(
        &self,
        generation: impl FnOnce() -> u64,
    ) -> tokio::sync::MutexGuard<'_, GateReads> {
        let mut cached = self.cached.lock().await;
        let generation = generation();
        if cached.generation != generation
            || cached.since.is_none_or(|at| at.elapsed() >= GATE_CACHE_AGE)
        {
            *cached = GateReads {
                generation,
                since: Some(tokio::time::Instant::now()),
                ..GateReads::default()
            };
        }
        cached
    }
}
