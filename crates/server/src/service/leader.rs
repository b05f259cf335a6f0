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

/// The election loop (PostgreSQL; the caller made the role elected, so it
/// starts as standby): one round every
/// [`ROUND`], the role changed (and logged) when the round says so; on
/// shutdown the lock is let go, so another replica takes over at once.
pub(crate) async fn elect(state: AppState, mut election: PgElection) {
    let leadership = state.monitor().leadership();
    let mut tick = tokio::time::interval(ROUND);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.shutting_down() => {
                leadership.set(Role::Standby, state.now());
                election.release().await;
                return;
            }
        }
        let role = match election.round(ROUND_TIMEOUT).await {
            Ok(Some(fence)) => Role::Leader(Some(fence)),
            Ok(None) => Role::Standby,
            Err(e) => {
                if leadership.is_leader() {
                    tracing::warn!("evaluator election session failed: {e}");
                } else {
                    tracing::debug!("evaluator election: {e}");
                }
                Role::Standby
            }
        };
        if leadership.set(role, state.now()) {
            match role {
                Role::Leader(fence) => tracing::warn!(
                    session = fence.map(|f| f.pid),
                    changes = leadership.changes(),
                    "this replica is now the evaluator (alerts, paging, emergency runs, drills)"
                ),
                Role::Standby => tracing::warn!(
                    changes = leadership.changes(),
                    "this replica stopped evaluating: another replica leads"
                ),
            }
        }
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
