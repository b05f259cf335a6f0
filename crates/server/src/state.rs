//! What every handler shares: the store, the clock, the data directory,
//! the body limit, the application-level [`Limits`] (write rate per token,
//! free-text caps, sessions) with the per-token rate limiter, and two
//! signals (something changed; shutting down).
//!
//! The store never reads the clock, so the server does, through
//! [`AppState::now`]: tests replace the clock to fix or steer time.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

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

/// Default sustained writes per second per token.
pub const DEFAULT_WRITE_RATE: u32 = 20;
/// Default burst of writes per token (the bucket's size).
pub const DEFAULT_WRITE_BURST: u32 = 500;
/// Default most active (pending, or approved and not yet ended) freeze
/// exceptions per event.
pub const DEFAULT_MAX_ACTIVE_EXCEPTIONS: usize = 100;
/// Default most sidecar instances reported per service.
pub const DEFAULT_MAX_SIDECARS_PER_SERVICE: usize = 2_000;
/// Default idle expiry of a UI session.
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// Default absolute expiry of a UI session.
pub const DEFAULT_SESSION_MAX: Duration = Duration::from_secs(12 * 3600);

/// Longest `reason` (freeze exceptions, gate answers' requests), in characters.
pub const MAX_REASON_CHARS: usize = 2_000;
/// Longest `note` (exception decisions, rule adjustments), in characters.
pub const MAX_NOTE_CHARS: usize = 2_000;
/// Longest `change_ref` and `actor` of a gate check, in characters.
pub const MAX_REF_CHARS: usize = 200;
/// Longest service glob or service name, in characters.
pub const MAX_GLOB_CHARS: usize = 200;
/// Most service globs in one freeze exception.
pub const MAX_GLOBS: usize = 100;
/// Longest event name, plan file name or run scenario, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The application-level limits (`docs/security.md`, "Control plane:
/// roles, sessions and limits"). Transport limits (timeouts, connection
/// cap) are the accept loop's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sustained writes (POST, PUT, PATCH, DELETE) per second per token;
    /// more are answered 429 with `Retry-After`.
    pub write_rate: NonZeroU32,
    /// Writes a token may make at once before the rate applies.
    pub write_burst: NonZeroU32,
    /// Active freeze exceptions per event; one more is refused (409).
    pub max_active_exceptions: usize,
    /// Sidecar instances reported per service; a new one past it is
    /// refused (409).
    pub max_sidecars_per_service: usize,
    /// A UI session unused for this long ends.
    pub session_idle: Duration,
    /// A UI session ends this long after login, used or not.
    pub session_max: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            write_rate: NonZeroU32::new(DEFAULT_WRITE_RATE).unwrap_or(NonZeroU32::MIN),
            write_burst: NonZeroU32::new(DEFAULT_WRITE_BURST).unwrap_or(NonZeroU32::MIN),
            max_active_exceptions: DEFAULT_MAX_ACTIVE_EXCEPTIONS,
            max_sidecars_per_service: DEFAULT_MAX_SIDECARS_PER_SERVICE,
            session_idle: DEFAULT_SESSION_IDLE,
            session_max: DEFAULT_SESSION_MAX,
        }
    }
}

/// The server's [`Clock`] as the rate limiter's: time since the epoch,
/// never going back (a clock set back — by an operator, by NTP, by a
/// test — holds the limiter's time until it passes the latest reading, so
/// it can neither refill nor empty a bucket out of turn).
#[derive(Clone)]
struct LimiterClock {
    clock: Clock,
    latest: Arc<std::sync::atomic::AtomicU64>,
}

impl LimiterClock {
    fn new(clock: &Clock) -> Self {
        Self {
            clock: Arc::clone(clock),
            latest: Arc::default(),
        }
    }
}

impl governor::clock::Clock for LimiterClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        let now = u64::try_from((self.clock)()).unwrap_or(0);
        let latest = self.latest.fetch_max(now, Ordering::SeqCst).max(now);
        Duration::from_millis(latest)
    }
}

/// Writes per token: a token bucket per token id, on the server's clock
/// (tests steer it). Keys are token ids, so its size is bounded by the
/// number of tokens.
type WriteLimiter =
    RateLimiter<i64, DefaultKeyedStateStore<i64>, LimiterClock, NoOpMiddleware<Duration>>;

fn write_limiter(limits: &Limits, clock: &Clock) -> WriteLimiter {
    RateLimiter::new(
        Quota::per_second(limits.write_rate).allow_burst(limits.write_burst),
        DefaultKeyedStateStore::default(),
        LimiterClock::new(clock),
    )
}

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
    gate_writer: Arc<std::sync::OnceLock<crate::service::gate_writer::Writer>>,
    limits: Limits,
    writes: Arc<WriteLimiter>,
    secure_cookies: bool,
    exception_requests: Arc<tokio::sync::Mutex<()>>,
    monitor: Arc<crate::service::monitoring::registry::Monitor>,
    kube: Option<Arc<seawall_kube::KubeClient>>,
    fleet: Arc<crate::service::fleet_registry::Fleet>,
    emergency_holding: Arc<crate::service::triggers::Holding>,
    pager: Arc<tokio::sync::Notify>,
    page_queues: Arc<crate::service::incidents::pager::queues::Queues>,
    rule_cache: Arc<crate::service::rule_cache::RuleCache>,
    gate_cache: Arc<crate::service::gate_cache::GateCache>,
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
            .field("limits", &self.limits)
            .field("secure_cookies", &self.secure_cookies)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `store`, with the system clock and the default body limit.
    pub fn new(store: Arc<dyn Store>, data_dir: impl Into<PathBuf>) -> Self {
        let clock = system_clock();
        Self {
            store,
            writes: Arc::new(write_limiter(&Limits::default(), &clock)),
            clock,
            data_dir: Arc::new(data_dir.into()),
            body_limit: DEFAULT_BODY_LIMIT,
            changes: Arc::new(watch::channel(0).0),
            shutdown: Arc::new(watch::channel(false).0),
            plans: Arc::default(),
            gate_writer: Arc::default(),
            limits: Limits::default(),
            secure_cookies: false,
            exception_requests: Arc::default(),
            monitor: Arc::new(crate::service::monitoring::registry::Monitor::new(
                crate::service::monitoring::registry::MonitorOptions::default(),
            )),
            kube: None,
            fleet: Arc::default(),
            emergency_holding: Arc::default(),
            pager: Arc::default(),
            page_queues: Arc::default(),
            rule_cache: Arc::default(),
            gate_cache: Arc::default(),
        }
    }

    /// Wake the paging loop (`service::incidents::pager::run`): an incident
    /// opened, its first page is due now.
    pub(crate) fn wake_pager(&self) {
        self.pager.notify_one();
    }

    /// Resolves when [`AppState::wake_pager`] was called (a call while
    /// nobody waits is kept for the next wait).
    pub(crate) async fn pager_woken(&self) {
        self.pager.notified().await;
    }

    /// Pages carry signed acknowledgement links to `public_url` (how
    /// people's browsers reach this server), signed with `key` (at least
    /// 32 bytes; replicas must share it) or, without one, with the key
    /// kept in the data directory's `ack-key`.
    pub fn with_links(self, public_url: Option<String>, key: Option<Vec<u8>>) -> Self {
        self.page_queues.set_links(public_url, key);
        self
    }

    /// The per-event queues pages go through (`service::incidents::pager`).
    pub(crate) fn fleet(&self) -> &crate::service::fleet_registry::Fleet {
        &self.fleet
    }

    pub(crate) fn page_queues(&self) -> &crate::service::incidents::pager::queues::Queues {
        &self.page_queues
    }

    /// Which metric-triggered emergency plans' conditions hold
    /// (`service::emergency::on_readings`).
    pub(crate) fn emergency_holding(&self) -> &crate::service::triggers::Holding {
        &self.emergency_holding
    }

    /// Scale deployments through this Kubernetes API server (the
    /// emergency `scale` action; without one it fails `not configured`).
    pub fn with_kube(mut self, client: seawall_kube::KubeClient) -> Self {
        self.kube = Some(Arc::new(client));
        self
    }

    /// The Kubernetes API client, if the server has one.
    pub fn kube(&self) -> Option<&seawall_kube::KubeClient> {
        self.kube.as_deref()
    }

    /// Watch events with these options (scrape interval, the sidecars'
    /// admin token, whether the tick loop runs); nothing evaluated so far
    /// is kept.
    pub fn with_monitoring(
        mut self,
        options: crate::service::monitoring::registry::MonitorOptions,
    ) -> Self {
        self.monitor = Arc::new(crate::service::monitoring::registry::Monitor::new(options));
        self
    }

    /// The event-day monitor (`service::monitoring`).
    pub fn monitor(&self) -> &crate::service::monitoring::registry::Monitor {
        &self.monitor
    }

    /// Replace the application-level limits (and start the write rate
    /// limiter afresh).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.writes = Arc::new(write_limiter(&limits, &self.clock));
        self.limits = limits;
        self
    }

    /// The application-level limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Mark UI session cookies `Secure` (set when the server speaks TLS;
    /// also set per request behind a proxy that says `X-Forwarded-Proto:
    /// https`).
    pub fn with_secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// Whether session cookies are always `Secure`.
    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies
    }

    /// Count one write by token `token_id`: `Err(wait)` when its bucket is
    /// empty, with how long until the next write is allowed.
    pub fn check_write(&self, token_id: i64) -> Result<(), Duration> {
        match self.writes.check_key(&token_id) {
            Ok(()) => Ok(()),
            Err(not_until) => {
                Err(not_until.wait_time_from(governor::clock::Clock::now(self.writes.clock())))
            }
        }
    }

    /// Serializes freeze-exception requests on this replica, so the
    /// per-event bound is checked and kept in one step.
    pub(crate) fn exception_requests(&self) -> &tokio::sync::Mutex<()> {
        &self.exception_requests
    }

    /// The gate's group-commit writer, started on first use (inside the
    /// server's runtime).
    pub(crate) fn gate_writer(&self) -> &crate::service::gate_writer::Writer {
        self.gate_writer
            .get_or_init(|| crate::service::gate_writer::Writer::start(Arc::clone(&self.store)))
    }

    /// Replace the clock (tests); the write rate limiter follows it.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.writes = Arc::new(write_limiter(&self.limits, &clock));
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

    /// How many times [`AppState::notify_change`] was called: what the
    /// gate's cache compares to know its reads are still current.
    pub fn change_generation(&self) -> u64 {
        *self.changes.borrow()
    }

    /// The latest rules per service as the long poll serves them
    /// (`service::rule_cache`).
    pub fn rule_cache(&self) -> &crate::service::rule_cache::RuleCache {
        &self.rule_cache
    }

    /// The gate's reads between changes (`service::gate_cache`).
    pub fn gate_cache(&self) -> &crate::service::gate_cache::GateCache {
        &self.gate_cache
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

impl crate::Server {
    /// Serve with these application-level limits instead of the defaults.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.state = self.state.with_limits(limits);
        self
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
