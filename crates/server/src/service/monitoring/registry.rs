//! What the control plane's monitor keeps between ticks: its options, the
//! evaluator and source memory of each watched event, and the latest tick
//! of each, which the API and the pages read (`AppState` holds one).
//!
//! A module of its own so the state can hold the monitor without
//! importing the tick, which needs the state (the server's modules form a
//! DAG, `.ci/module-dag.sh`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use seawall_monitor::alert::AlertView;
use seawall_monitor::history::History;
use seawall_monitor::{Evaluator, LiveView};
use seawall_plan::Plan;
use seawall_scrape::PromClient;
use seawall_scrape::scrape::{Board, ScrapeOptions, Scraper};
use seawall_store::election::Fence;

use super::sources::Errors;

/// Default time between two ticks (scrape and evaluation).
pub const DEFAULT_SCRAPE_INTERVAL: Duration = seawall_scrape::scrape::DEFAULT_INTERVAL;
/// Shortest time between two ticks; shorter is raised to it.
pub const MIN_SCRAPE_INTERVAL: Duration = seawall_scrape::scrape::MIN_INTERVAL;
/// The actor of the monitor's changes in the audit log.
pub const ACTOR: &str = "monitor";

/// How the control plane watches events.
#[derive(Debug, Clone)]
pub struct MonitorOptions {
    /// Time between two ticks (default 5 s, at least 1 s).
    pub scrape_interval: Duration,
    /// Sent as `Authorization: Bearer …` to sidecars' admin `/metrics`
    /// (sidecars started with `--admin-token`).
    pub scrape_token: Option<String>,
    /// Whether [`crate::Server::run`] runs the tick loop. `Server::bind`
    /// (what `seawall serve` uses) turns it on; servers made from a state
    /// (tests) call [`tick`](super::tick) themselves.
    pub background: bool,
    /// Alertmanager to push alerts to (`POST {url}/api/v2/alerts`;
    /// `service::monitoring::alertmanager`); `None`: no push.
    pub alertmanager: Option<String>,
    /// Networks whose addresses sidecars may report as their admin
    /// address although they are not the reporting connection's address
    /// (`--scrape-allow`; [`super::admission`]).
    pub scrape_allow: Vec<seawall_sidecar::PeerNet>,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        Self {
            scrape_interval: DEFAULT_SCRAPE_INTERVAL,
            scrape_token: None,
            background: false,
            alertmanager: None,
            scrape_allow: Vec::new(),
        }
    }
}

impl MonitorOptions {
    /// The interval in force: at least [`MIN_SCRAPE_INTERVAL`].
    pub fn interval(&self) -> Duration {
        self.scrape_interval.max(MIN_SCRAPE_INTERVAL)
    }
}

/// What the API and the pages read of one event: its latest tick.
#[derive(Debug, Clone)]
pub struct Published {
    /// The live view.
    pub live: LiveView,
    /// Error texts of stale and failed rows.
    pub errors: Errors,
    /// Pending, firing and resolved alerts.
    pub alerts: Vec<AlertView>,
}

/// Which stored inputs an evaluator was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Inputs {
    pub(crate) plan_version: i64,
    pub(crate) runs: Vec<i64>,
}

/// One event's evaluator and its sources' memory.
pub(crate) struct EventMonitor {
    pub(crate) inputs: Inputs,
    pub(crate) plan: Arc<Plan>,
    pub(crate) evaluator: Evaluator,
    pub(crate) history: History,
    pub(crate) board: Board,
    /// Clock time of each target's last good round.
    pub(crate) last_good_ms: HashMap<String, u64>,
    pub(crate) prometheus: Option<Result<PromClient, String>>,
    /// Alerts sent to Alertmanager: rule id → (fired at, last sent at).
    pub(crate) pushed: HashMap<String, (u64, u64)>,
}

/// The monitor of every event, shared by the loop and the readers.
pub struct Monitor {
    pub(crate) options: MonitorOptions,
    pub(crate) scraper: Scraper,
    /// Held through a tick: ticks never overlap.
    pub(crate) engines: tokio::sync::Mutex<HashMap<i64, EventMonitor>>,
    published: std::sync::RwLock<HashMap<i64, Arc<Published>>>,
    leadership: Leadership,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("scrape_interval", &self.options.scrape_interval)
            .field("background", &self.options.background)
            .finish_non_exhaustive()
    }
}

impl Monitor {
    /// A monitor with these options and nothing evaluated yet.
    pub fn new(options: MonitorOptions) -> Self {
        let scraper = Scraper::new(ScrapeOptions {
            bearer_token: options.scrape_token.clone(),
            ..ScrapeOptions::default()
        });
        Self {
            options,
            scraper,
            engines: tokio::sync::Mutex::default(),
            published: std::sync::RwLock::default(),
            leadership: Leadership::default(),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &MonitorOptions {
        &self.options
    }

    /// The latest tick of event `event_id`, if one was evaluated.
    pub fn published(&self, event_id: i64) -> Option<Arc<Published>> {
        self.published
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&event_id)
            .cloned()
    }

    pub(crate) fn publish(&self, event_id: i64, p: Published) {
        self.published
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(event_id, Arc::new(p));
    }

    /// Whether this replica runs the evaluator (`service::leader`).
    pub fn leadership(&self) -> &Leadership {
        &self.leadership
    }

    /// Drop every evaluator and published tick: the next tick (or read)
    /// restores the alert states from the store, as after a restart. Done
    /// when this replica starts or stops evaluating, so a replica never
    /// goes on from alert states another replica has moved past.
    pub(crate) async fn forget(&self) {
        self.engines.lock().await.clear();
        self.published
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }
}

/// Whether this replica evaluates (alerts, paging and escalation,
/// emergency runs, drill expiry) or another one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// This replica evaluates; its evaluator's writes are fenced by the
    /// election session's [`Fence`] (none on SQLite: one process, always
    /// the evaluator).
    Leader(Option<Fence>),
    /// Another replica evaluates, or none has been elected yet.
    Standby,
}

/// This replica's [`Role`], watched by the evaluator, and how often it
/// changed. A new one leads with no fence: without an election (SQLite,
/// tests) the process is always the evaluator.
#[derive(Debug)]
pub struct Leadership {
    role: tokio::sync::watch::Sender<Role>,
    elected: std::sync::atomic::AtomicBool,
    changes: std::sync::atomic::AtomicU64,
    since_ms: std::sync::atomic::AtomicI64,
    terms: std::sync::atomic::AtomicU64,
    lost: std::sync::atomic::AtomicU64,
    term_start_ms: std::sync::atomic::AtomicI64,
    driving: std::sync::Mutex<HashMap<i64, usize>>,
}

impl Default for Leadership {
    fn default() -> Self {
        Self {
            role: tokio::sync::watch::channel(Role::Leader(None)).0,
            elected: std::sync::atomic::AtomicBool::new(false),
            changes: std::sync::atomic::AtomicU64::new(0),
            since_ms: std::sync::atomic::AtomicI64::new(0),
            terms: std::sync::atomic::AtomicU64::new(0),
            lost: std::sync::atomic::AtomicU64::new(0),
            term_start_ms: std::sync::atomic::AtomicI64::new(0),
            driving: std::sync::Mutex::default(),
        }
    }
}

impl Leadership {
    /// The role now.
    pub fn role(&self) -> Role {
        *self.role.borrow()
    }

    /// Whether this replica evaluates now.
    pub fn is_leader(&self) -> bool {
        matches!(self.role(), Role::Leader(_))
    }

    /// Whether the role is elected (PostgreSQL) rather than always
    /// `leader` (SQLite).
    pub fn is_elected(&self) -> bool {
        self.elected.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many times the role changed since the start.
    pub fn changes(&self) -> u64 {
        self.changes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When the role last changed (server clock, ms; 0: never).
    pub fn since_ms(&self) -> i64 {
        self.since_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Terms this replica won as the evaluator since it started (the one
    /// term of a process that always leads counts once).
    pub fn terms(&self) -> u64 {
        self.terms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Terms this replica lost to the election (its session failed, or
    /// another replica holds the lock): every later write of such a term
    /// is refused by the store's fence. A replica that lets go on
    /// shutdown does not count it.
    pub fn lost_terms(&self) -> u64 {
        self.lost.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When this replica's current term started (server clock, ms; `None`
    /// while standby or before the first term).
    pub fn term_start_ms(&self) -> Option<i64> {
        let at = self
            .term_start_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        (self.is_leader() && self.terms() > 0).then_some(at)
    }

    /// A term won at `now_ms`: its number on this replica (1, 2, …).
    pub(crate) fn won_term(&self, now_ms: i64) -> u64 {
        self.term_start_ms
            .store(now_ms, std::sync::atomic::Ordering::Relaxed);
        self.terms
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }

    /// The current term lost to the election: its number.
    pub(crate) fn lost_term(&self) -> u64 {
        self.lost.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.terms()
    }

    /// Make the role elected, starting as standby.
    pub(crate) fn start_election(&self) {
        self.elected
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.role.send_replace(Role::Standby);
    }

    /// Set the role at `now_ms`; whether it changed.
    pub(crate) fn set(&self, role: Role, now_ms: i64) -> bool {
        if self.role.send_replace(role) == role {
            return false;
        }
        self.changes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.since_ms
            .store(now_ms, std::sync::atomic::Ordering::Relaxed);
        true
    }

    /// A receiver of role changes.
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<Role> {
        self.role.subscribe()
    }

    /// Resolves once this replica no longer evaluates.
    pub(crate) async fn lost(&self) {
        let mut rx = self.role.subscribe();
        let _ = rx.wait_for(|r| *r == Role::Standby).await;
    }

    /// A drive of emergency run `id` started on this replica
    /// ([`Leadership::done_driving`] when it ends).
    pub(crate) fn start_driving(&self, id: i64) {
        *self
            .driving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(id)
            .or_default() += 1;
    }

    /// A drive of run `id` ended.
    pub(crate) fn done_driving(&self, id: i64) {
        let mut driving = self
            .driving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = driving.get_mut(&id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                driving.remove(&id);
            }
        }
    }

    /// Whether a drive of run `id` is under way on this replica.
    pub(crate) fn is_driving(&self, id: i64) -> bool {
        self.driving
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains_key(&id)
    }
}
