//! One evaluator among control-plane replicas (`docs/scale-out.md`, "The
//! control plane at scale"): every replica serves the API, but only the
//! elected one runs the background evaluator — monitoring ticks (alert
//! transitions, incidents opened by alerts, metric triggers, Alertmanager
//! pushes), paging and escalation, emergency-run recovery and drives, and
//! drill expiry.
//!
//! Why: each of those writes something that must happen once (an alert
//! transition, a page, an action's start). With SQLite there is one
//! process and it always evaluates. With PostgreSQL the replicas elect the
//! evaluator with a session-level advisory lock on a connection of its own
//! ([`seawall_store::election`]): `elect` runs one round every
//! [`ROUND`] — the leader checks its session still answers and holds the
//! lock (bounded by [`ROUND_TIMEOUT`]), the others try to take it. A
//! killed replica's session ends with its socket, so another replica leads
//! within about one round; a replica whose session fails or stalls stops
//! at once (`evaluate` drops every evaluator task when the role goes to
//! standby), and its writes are refused by the store's fence if it was
//! paused past that point.
//!
//! What a new leader does first: it forgets every in-memory evaluator, so
//! alert states are restored from the store (a firing alert neither lost
//! nor fired again); it recovers emergency runs (an action the old leader
//! had started becomes `unknown`, for a commander); and it pages what the
//! stored escalations say is due (a page recorded by the old leader is
//! never sent again: it is recorded before it is sent, from the version
//! read).

use std::time::Duration;

use seawall_store::election::{PgElection, fenced};

use crate::service::monitoring::registry::Role;
use crate::state::AppState;

/// Time between two election rounds.
pub const ROUND: Duration = Duration::from_secs(1);

/// Longest one round may take (connect, check or take the lock, wait for
/// the writers' lock once): past it the session is dropped and the
/// replica stops evaluating.
pub const ROUND_TIMEOUT: Duration = Duration::from_secs(3);

/// The role's name for `/readyz` and the logs.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Leader(_) => "leader",
        Role::Standby => "standby",
    }
}

/// Who this replica is in its audit records (`evaluator.elected`,
/// `evaluator.lost`): its host name (a pod's name on Kubernetes) and the
/// port it serves on, so two replicas on one host differ too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// `host:port`, the audit records' target (`replica:host:port`).
    pub id: String,
    /// The host name.
    pub host: String,
    /// The process id.
    pub pid: u32,
}

impl Replica {
    /// This process, serving on `port`.
    pub fn here(port: u16) -> Self {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
            .unwrap_or_else(|| "localhost".to_owned());
        Self {
            id: format!("{host}:{port}"),
            host,
            pid: std::process::id(),
        }
    }
}

/// The audit records' actor.
const ACTOR: &str = "evaluator";

/// The election loop (PostgreSQL; the caller made the role elected, so it
/// starts as standby): one round every
/// [`ROUND`], the role changed (and logged) when the round says so; on
/// shutdown the lock is let go, so another replica takes over at once.
/// Each term won and each term ended is an audit record
/// (`evaluator.elected`, written fenced by the new term's session, so a
/// stale leader cannot claim a term; `evaluator.lost`, unfenced, since the
/// fence is gone by then) and moves the counters `/metrics` shows.
pub(crate) async fn elect(state: AppState, mut election: PgElection, replica: Replica) {
    let leadership = state.monitor().leadership();
    let mut tick = tokio::time::interval(ROUND);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.shutting_down() => {
                let term = leadership.terms();
                let started_ms = leadership.term_start_ms();
                if leadership.set(Role::Standby, state.now()) {
                    tracing::warn!(term, "this replica stopped evaluating: it shuts down");
                    let reason = "the replica shut down and let the lock go";
                    record_lost(&state, &replica, term, started_ms, reason).await;
                }
                election.release().await;
                return;
            }
        }
        let (role, reason) = match election.round(ROUND_TIMEOUT).await {
            Ok(Some(fence)) => (Role::Leader(Some(fence)), String::new()),
            Ok(None) => (
                Role::Standby,
                "another replica holds the evaluator lock".to_owned(),
            ),
            Err(e) => {
                if leadership.is_leader() {
                    tracing::warn!("evaluator election session failed: {e}");
                } else {
                    tracing::debug!("evaluator election: {e}");
                }
                (Role::Standby, format!("the election session failed: {e}"))
            }
        };
        let before = leadership.role();
        let started_ms = leadership.term_start_ms();
        let now = state.now();
        if !leadership.set(role, now) {
            continue;
        }
        if matches!(before, Role::Leader(_)) {
            let term = leadership.lost_term();
            tracing::warn!(
                term,
                changes = leadership.changes(),
                "this replica stopped evaluating: {reason}"
            );
            record_lost(&state, &replica, term, started_ms, &reason).await;
        }
        if let Role::Leader(fence) = role {
            let term = leadership.won_term(now);
            tracing::warn!(
                session = fence.map(|f| f.pid),
                term,
                changes = leadership.changes(),
                "this replica is now the evaluator (alerts, paging, emergency runs, drills)"
            );
            let detail = serde_json::json!({
                "replica": replica.id,
                "host": replica.host,
                "pid": replica.pid,
                "term": term,
                "session": fence.map(|f| f.pid),
                "started_ms": now,
            });
            record(&state, &replica, "evaluator.elected", fence, detail).await;
        }
    }
}

/// `evaluator.lost` for this replica's term `term`.
async fn record_lost(
    state: &AppState,
    replica: &Replica,
    term: u64,
    started_ms: Option<i64>,
    reason: &str,
) {
    let detail = serde_json::json!({
        "replica": replica.id,
        "host": replica.host,
        "pid": replica.pid,
        "term": term,
        "started_ms": started_ms,
        "ended_ms": state.now(),
        "reason": reason,
    });
    record(state, replica, "evaluator.lost", None, detail).await;
}

/// Append one audit record about a term, fenced by `fence` when given,
/// bounded by [`ROUND_TIMEOUT`] so a stalled database cannot hold the
/// election up; a record that cannot be written is logged.
async fn record(
    state: &AppState,
    replica: &Replica,
    action: &'static str,
    fence: Option<seawall_store::election::Fence>,
    detail: serde_json::Value,
) {
    let audit = seawall_store::NewAudit {
        action: action.to_owned(),
        target: format!("replica:{}", replica.id),
        detail,
    };
    let ctx = seawall_store::Ctx::new(ACTOR, state.now());
    let write = fenced(fence, state.store.append_audit(&ctx, &audit));
    match tokio::time::timeout(ROUND_TIMEOUT, write).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(action, "the evaluator's audit record was not written: {e}"),
        Err(_) => tracing::warn!(
            action,
            "the evaluator's audit record was not written within {ROUND_TIMEOUT:?}"
        ),
    }
}

/// The one term of a process that always evaluates (SQLite, no
/// election): counted from `now_ms` for `/metrics`. It is not an audit
/// record: the process leads for its whole life, no term is ever lost to
/// another, and a record at every start would be noise in the log.
pub(crate) fn sole_term(state: &AppState) {
    let leadership = state.monitor().leadership();
    if !leadership.is_elected() && leadership.terms() == 0 {
        leadership.won_term(state.now());
    }
}

/// The evaluator: while this replica leads, the background loops run with
/// their writes fenced by the election session; when it stops leading
/// they are dropped at once, and they start again, from the store, if it
/// leads again. Returns on shutdown.
pub(crate) async fn evaluate(state: AppState) {
    let leadership = state.monitor().leadership();
    let mut roles = leadership.subscribe();
    let mut first_term = true;
    loop {
        let fence = loop {
            if let Role::Leader(fence) = *roles.borrow_and_update() {
                break fence;
            }
            tokio::select! {
                changed = roles.changed() => if changed.is_err() { return },
                () = state.shutting_down() => return,
            }
        };
        // A later term starts from the store, never from what this replica
        // kept before another one moved on. The first term has nothing
        // to forget: a replica that never led kept no evaluator (a
        // standby reads alerts into a scratch map), and one that always
        // leads (SQLite) may already have ticked or restored from the
        // store, which forgetting would throw away under a tick.
        if !std::mem::take(&mut first_term) {
            state.monitor().forget().await;
        }
        let loops = async {
            let monitoring = async {
                if state.monitor().options().background {
                    crate::service::monitoring::run(state.clone()).await;
                }
            };
            tokio::join!(
                monitoring,
                crate::service::emergency::run(state.clone()),
                crate::service::incidents::pager::run(state.clone()),
                crate::service::drills::run(state.clone()),
            );
        };
        tokio::select! {
            () = fenced(fence, loops) => return,
            () = leadership.lost() => {
                state.monitor().forget().await;
            }
        }
    }
}
