//! Electing the one evaluator among control-plane replicas, and fencing
//! its writes.
//!
//! Several `seawall serve` replicas may share one PostgreSQL database; the
//! API is served by all of them, but the background evaluator (monitoring
//! ticks, paging and escalation, emergency-run drives and recovery, drill
//! expiry) must run on exactly one. It is whoever holds the session-level
//! advisory lock [`EVALUATOR_LOCK`] on a connection of its own
//! ([`PgElection`]): PostgreSQL releases the lock the moment that session
//! ends (the process killed, the connection closed, or the server's TCP
//! keep-alive giving up on a host that vanished), and another replica's
//! next `pg_try_advisory_lock` takes it. SQLite is one process on one
//! file: there the process is always the evaluator.
//!
//! Why a fence too: a leader can be paused (a long GC-free stall, a
//! stopped VM, a partition) after it checked it still leads, and write on
//! waking after another replica took over. Every write the evaluator
//! makes runs inside [`fenced`]: PostgreSQL's write transaction, after
//! taking the writers' lock, checks in `pg_locks` that the evaluator lock
//! is still granted to the election session this replica holds, and
//! refuses the write ([`crate::StoreError::Conflict`]) if not. A new leader,
//! before it evaluates anything, waits once for the writers' lock
//! ([`PgElection::round`]), so every write of the old leader either
//! committed before the new one read anything or is refused.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// Evaluator writes this process refused because their fence no longer
/// held (see [`refused_writes`]).
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// How many evaluator writes this process's store refused since it
/// started because the term they were fenced by was lost (a paused or cut
/// off leader writing after another replica took over): the control
/// plane's `seawall_evaluator_fenced_writes_total`. One process is one
/// replica, so the count is process-wide.
pub fn refused_writes() -> u64 {
    REFUSED.load(Ordering::Relaxed)
}

/// A leader's proof, carried by its evaluator's tasks: the PostgreSQL
/// backend process id of the election session that holds
/// [`EVALUATOR_LOCK`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    /// `pg_backend_pid()` of the election session.
    pub pid: i32,
}

tokio::task_local! {
    static FENCE: Fence;
}

/// Run `work` with its store writes fenced by `fence` (none: unfenced, as
/// on SQLite where the process is always the evaluator).
pub async fn fenced<F: Future>(fence: Option<Fence>, work: F) -> F::Output {
    match fence {
        Some(f) => FENCE.scope(f, work).await,
        None => work.await,
    }
}

/// The fence of the task running now, if it runs inside [`fenced`] (to
/// carry it into a task it spawns).
pub fn current_fence() -> Option<Fence> {
    FENCE.try_with(|f| *f).ok()
}

/// The session-level advisory lock key of the evaluator (`"evaluat"` in
/// ASCII, as a number; `pg_locks` shows it as `classid` 6649441 / `objid`
/// 1819631988 on the leader's election session).
pub const EVALUATOR_LOCK: i64 = 0x0065_7661_6c75_6174;

/// `pg_locks`' `classid` and `objid` of a bigint advisory key.
#[cfg(feature = "postgres")]
fn lock_ids(key: i64) -> (i64, i64) {
    (key >> 32, key & 0xffff_ffff)
}

#[cfg(feature = "postgres")]
pub use pg::PgElection;

#[cfg(feature = "postgres")]
pub(crate) use pg::check_fence;

#[cfg(feature = "postgres")]
mod pg {
    use std::str::FromStr;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use sqlx::postgres::{PgConnectOptions, PgConnection};
    use sqlx::{Connection, Executor};

    use super::{EVALUATOR_LOCK, Fence, lock_ids};
    use crate::StoreError;

    /// Whether the election session `pid` holds the evaluator lock, asked
    /// inside a write transaction holding the writers' lock.
    const HELD_BY: &str = "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
         AND granted AND pid = $1 AND classid::bigint = $2 AND objid::bigint = $3 \
         AND objsubid = 1)";

    /// Refuse a write of the current task if it is fenced by an election
    /// session that no longer holds the evaluator lock (module docs).
    pub(crate) async fn check_fence(conn: &mut PgConnection) -> crate::Result<()> {
        let Some(fence) = super::current_fence() else {
            return Ok(());
        };
        let (classid, objid) = lock_ids(EVALUATOR_LOCK);
        let held: bool = sqlx::query_scalar(HELD_BY)
            .bind(fence.pid)
            .bind(classid)
            .bind(objid)
            .fetch_one(&mut *conn)
            .await?;
        if held {
            Ok(())
        } else {
            super::REFUSED.fetch_add(1, Ordering::Relaxed);
            Err(StoreError::Conflict(
                "this replica is no longer the evaluator: its write is refused".to_owned(),
            ))
        }
    }

    /// One replica's candidacy: a connection of its own, holding
    /// [`EVALUATOR_LOCK`] while it leads.
    #[derive(Debug)]
    pub struct PgElection {
        options: PgConnectOptions,
        target: String,
        conn: Option<PgConnection>,
        fence: Option<Fence>,
    }

    impl PgElection {
        /// A candidate on the database `url` (not connected yet).
        pub fn new(url: &str) -> crate::Result<Self> {
            let options = PgConnectOptions::from_str(url).map_err(|e| StoreError::Spec {
                spec: crate::postgres::redact(url),
                reason: format!("not a PostgreSQL URL ({e})"),
            })?;
            // The server gives up on a vanished replica's session (and so
            // frees the lock) within about 5 s of silence.
            let options = options.options([
                ("tcp_keepalives_idle", "2"),
                ("tcp_keepalives_interval", "1"),
                ("tcp_keepalives_count", "3"),
                ("application_name", "seawall-evaluator"),
            ]);
            Ok(Self {
                options,
                target: crate::postgres::redact(url),
                conn: None,
                fence: None,
            })
        }

        /// The fence of the session while it leads.
        pub fn fence(&self) -> Option<Fence> {
            self.fence
        }

        /// One round, bounded by `timeout`: while leading, check that the
        /// session answers and still holds the lock; otherwise connect if
        /// needed and try to take it (on success, wait once for the
        /// writers' lock, so the old leader's writes are all committed or
        /// refused). The fence while leading after the round. On an error
        /// (or no answer in time) the connection is dropped, and the lock,
        /// if held, goes with it: the replica no longer leads.
        pub async fn round(&mut self, timeout: Duration) -> crate::Result<Option<Fence>> {
            let outcome = match tokio::time::timeout(timeout, self.step()).await {
                Ok(outcome) => outcome,
                Err(_) => Err(StoreError::Connect {
                    target: self.target.clone(),
                    reason: format!(
                        "the evaluator election session gave no answer within {timeout:?}"
                    ),
                }),
            };
            match outcome {
                Ok(fence) => {
                    self.fence = fence;
                    Ok(fence)
                }
                Err(e) => {
                    self.drop_session();
                    Err(e)
                }
            }
        }

        fn drop_session(&mut self) {
            self.fence = None;
            // Dropped, not closed politely: a stuck server must not hold
            // the replica up. The server ends the session (and frees the
            // lock) when it notices the socket closed.
            self.conn = None;
        }

        async fn step(&mut self) -> crate::Result<Option<Fence>> {
            if self.conn.is_none() {
                self.conn = Some(PgConnection::connect_with(&self.options).await?);
            }
            let Some(conn) = self.conn.as_mut() else {
                return Ok(None);
            };
            let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                .fetch_one(&mut *conn)
                .await?;
            if self.fence.is_some() {
                let (classid, objid) = lock_ids(EVALUATOR_LOCK);
                let held: bool = sqlx::query_scalar(HELD_BY)
                    .bind(pid)
                    .bind(classid)
                    .bind(objid)
                    .fetch_one(&mut *conn)
                    .await?;
                return Ok(held.then_some(Fence { pid }));
            }
            let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(EVALUATOR_LOCK)
                .fetch_one(&mut *conn)
                .await?;
            if !taken {
                return Ok(None);
            }
            let mut tx = conn.begin().await?;
            tx.execute(
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(crate::postgres::WRITE_LOCK),
            )
            .await?;
            tx.commit().await?;
            Ok(Some(Fence { pid }))
        }

        /// Let the lock go (on shutdown), so another replica takes over at
        /// its next round.
        pub async fn release(&mut self) {
            self.fence = None;
            if let Some(conn) = self.conn.take() {
                let _ = conn.close().await;
            }
        }
    }
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use std::time::Duration;

    use super::{PgElection, fenced};
    use crate::testing::TempPostgres;
    use crate::{Ctx, NewEvent, Store, StoreError};

    fn event(slug: &str) -> NewEvent {
        NewEvent {
            slug: slug.to_owned(),
            name: slug.to_owned(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_leader_at_a_time_and_a_deposed_leader_cannot_write() {
        let pg = TempPostgres::start().expect("PostgreSQL");
        let url = pg.create_database().expect("database");
        let store = crate::postgres::PgStore::open(&url).await.expect("open");
        let limit = Duration::from_secs(10);
        let mut a = PgElection::new(&url).expect("a");
        let mut b = PgElection::new(&url).expect("b");

        let fence_a = a.round(limit).await.expect("round").expect("a leads");
        assert_eq!(b.round(limit).await.expect("round"), None, "b waits");
        // A leader's keep-alive round keeps the lead.
        assert_eq!(a.round(limit).await.expect("round"), Some(fence_a));
        let ctx = Ctx::new("monitoring", 1);
        fenced(Some(fence_a), store.create_event(&ctx, &event("a1")))
            .await
            .expect("the leader writes");

        // a's session ends (a killed replica's does): b takes over, and a
        // write still fenced by a's session is refused.
        a.release().await;
        // The server ends a's session a moment after the close: b's next
        // rounds take the lock (bounded).
        let mut fence_b = None;
        for _ in 0..50 {
            fence_b = b.round(limit).await.expect("round");
            if fence_b.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let fence_b = fence_b.expect("b leads within 5 s of a's release");
        assert_ne!(fence_a, fence_b);
        let before = super::refused_writes();
        let refused = fenced(Some(fence_a), store.create_event(&ctx, &event("a2"))).await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{refused:?}"
        );
        assert_eq!(
            super::refused_writes(),
            before + 1,
            "the refusal is counted"
        );
        fenced(Some(fence_b), store.create_event(&ctx, &event("b1")))
            .await
            .expect("the new leader writes");
        // Unfenced writes (the API's) go on whoever leads.
        store
            .create_event(&ctx, &event("api"))
            .await
            .expect("an unfenced write");
        let slugs: Vec<String> = store
            .events()
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.slug)
            .collect();
        assert_eq!(slugs, ["a1", "b1", "api"]);
        // a, back, does not take the lock from b.
        assert_eq!(a.round(limit).await.expect("round"), None);
        store.close().await;
    }
}
