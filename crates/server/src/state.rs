//! What every handler shares: the store, the clock, the data directory,
//! the body limit and two signals (something changed; shutting down).
//!
//! The store never reads the clock, so the server does, through
//! [`AppState::now`]: tests replace the clock to fix or steer time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use seawall_store::{Ctx, Millis, Store};
use tokio::sync::watch;

/// The time source: milliseconds since the Unix epoch, UTC.
pub type Clock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    })
}

/// A clock tests set and move by hand.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `at_ms`.
    pub fn new(at_ms: Millis) -> Self {
        Self(Arc::new(AtomicI64::new(at_ms)))
    }

    /// Set the time.
    pub fn set(&self, at_ms: Millis) {
        self.0.store(at_ms, Ordering::SeqCst);
    }

    /// Move the time forward.
    pub fn advance(&self, ms: Millis) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// The time now.
    pub fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }

    /// This clock as the server's [`Clock`].
    pub fn clock(&self) -> Clock {
        let me = self.clone();
        Arc::new(move || me.now())
    }
}

/// Default largest request body: 8 MiB (a plan of thousands of services).
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// Shared state of the server, cheap to clone (everything behind `Arc`).
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Arc<dyn Store>,
    clock: Clock,
    data_dir: Arc<PathBuf>,
    body_limit: usize,
    changes: Arc<watch::Sender<u64>>,
    shutdown: Arc<watch::Sender<bool>>,
    plans: Arc<std::sync::Mutex<PlanCache>>,
    gate_writer: Arc<std::sync::OnceLock<crate::api::gate::Writer>>,
}

/// Parsed plans by key, least recently used first.
type PlanCache = Vec<(String, Arc<seawall_plan::Plan>)>;

/// How many parsed plans [`AppState::cached_plan`] keeps.
pub const PLAN_CACHE: usize = 16;

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store.backend())
            .field("data_dir", &self.data_dir)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `store`, with the system clock and the default body limit.
    pub fn new(store: Arc<dyn Store>, data_dir: impl Into<PathBuf>) -> Self {
        Self {
            store,
            clock: system_clock(),
            data_dir: Arc::new(data_dir.into()),
            body_limit: DEFAULT_BODY_LIMIT,
            changes: Arc::new(watch::channel(0).0),
            shutdown: Arc::new(watch::channel(false).0),
            plans: Arc::default(),
            gate_writer: Arc::default(),
        }
    }

    /// The gate's group-commit writer, started on first use (inside the
    /// server's runtime).
    pub(crate) fn gate_writer(&self) -> &crate::api::gate::Writer {
        self.gate_writer
            .get_or_init(|| crate::api::gate::Writer::start(Arc::clone(&self.store)))
    }

    /// Replace the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Replace the largest accepted request body, in bytes.
    pub fn with_body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The time now, from the state's clock.
    pub fn now(&self) -> Millis {
        (self.clock)()
    }

    /// A store context for a change by `actor`, now.
    pub fn ctx(&self, actor: &str) -> Ctx {
        Ctx::new(actor, self.now())
    }

    /// The data directory (`admin-token`, the SQLite file).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The largest accepted request body, in bytes.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// Tell long polls that something they may watch changed (rules,
    /// exceptions, plans): bumps a generation number.
    pub fn notify_change(&self) {
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// A receiver of [`AppState::notify_change`]: `changed().await` wakes
    /// on the next change (none is missed between two awaits).
    pub fn subscribe_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Resolves once the server begins to shut down: long polls answer
    /// early so graceful shutdown is not held up by them.
    pub async fn shutting_down(&self) {
        let mut rx = self.shutdown.subscribe();
        // An error means the sender is gone: the server is gone too.
        let _ = rx.wait_for(|down| *down).await;
    }

    /// A stored plan text parsed once: the parsed plan for `key` (the
    /// version's file name and SHA-256) from the cache, or `parse()`'s,
    /// kept for the next request (the last [`PLAN_CACHE`] used). Stored
    /// versions never change, so an entry is never stale.
    pub fn cached_plan<E>(
        &self,
        key: &str,
        parse: impl FnOnce() -> Result<seawall_plan::Plan, E>,
    ) -> Result<Arc<seawall_plan::Plan>, E> {
        if let Ok(mut cache) = self.plans.lock()
            && let Some(i) = cache.iter().position(|(k, _)| k == key)
        {
            let hit = cache.remove(i);
            let plan = hit.1.clone();
            cache.push(hit);
            return Ok(plan);
        }
        let plan = Arc::new(parse()?);
        if let Ok(mut cache) = self.plans.lock() {
            if cache.len() >= PLAN_CACHE {
                cache.remove(0);
            }
            cache.push((key.to_owned(), plan.clone()));
        }
        Ok(plan)
    }

    /// Mark the server as shutting down (wakes [`AppState::shutting_down`]).
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str) -> Result<seawall_plan::Plan, ()> {
        seawall_plan::parse(&format!("event: {{name: {name}}}\n"), "plan.yaml").map_err(|_| ())
    }

    #[tokio::test]
    async fn parsed_plans_are_kept_per_key_and_the_oldest_leaves_first() {
        let dir = std::env::temp_dir().join(format!("seawall-state-{}", std::process::id()));
        let store = seawall_store::open(&seawall_store::StoreSpec::Sqlite(dir.join("s.db")))
            .await
            .expect("store");
        let state = AppState::new(store, &dir);
        let a = state.cached_plan("a", || plan("a")).expect("parsed");
        let again = state
            .cached_plan("a", || -> Result<_, ()> { panic!("parsed twice") })
            .expect("cached");
        assert!(Arc::ptr_eq(&a, &again));
        assert_eq!(again.event.name, "a");
        // An error is not kept.
        assert!(state.cached_plan("bad", || Err::<_, ()>(())).is_err());
        assert!(state.cached_plan("bad", || plan("b")).is_ok());
        for i in 0..PLAN_CACHE {
            state
                .cached_plan(&format!("k{i}"), || plan("x"))
                .expect("parsed");
        }
        let mut parsed = false;
        state
            .cached_plan("a", || {
                parsed = true;
                plan("a")
            })
            .expect("parsed");
        assert!(parsed, "the least recently used entry left");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
