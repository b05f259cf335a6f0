//! The PostgreSQL backend (`--db postgres://…`), for several control-plane
//! replicas sharing one database. Every write transaction first takes one
//! transaction-scoped advisory lock, so writers on any replica are
//! serialized: two can never read the same audit head (the chain cannot
//! fork) nor assign the same version. Reads take no lock. A writer waits
//! for the lock at most as long as the connect timeout, and a session that
//! sits idle inside a transaction (holding the lock) is ended by the
//! server after [`IDLE_IN_TRANSACTION`], so one stuck replica cannot stop
//! every write for long.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// How long opening waits for the server before giving up with an error,
/// and how long a write waits for another writer's transaction.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server lets a session sit idle inside a transaction.
pub const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(60);

/// The advisory lock key writers hold (`"seawall"` in ASCII, as a number;
/// `pg_locks` shows it as `classid` 7562593 / `objid` 2002873452 while a
/// write runs).
pub const WRITE_LOCK: i64 = 0x0073_6561_7761_6c6c;

/// Connections in the pool.
const POOL_SIZE: u32 = 8;

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    const BACKEND: &'static str = "postgres";

    /// Connect to `url` and apply the migrations, giving up after
    /// [`CONNECT_TIMEOUT`] if the server does not answer.
    pub async fn open(url: &str) -> crate::Result<Self> {
        Self::open_with_timeout(url, CONNECT_TIMEOUT).await
    }

    /// [`PgStore::open`] with another timeout (for connecting, and for a
    /// write waiting for another writer).
    pub async fn open_with_timeout(url: &str, timeout: Duration) -> crate::Result<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|e| crate::StoreError::Spec {
            spec: redact(url),
            reason: format!(
                "not a PostgreSQL URL ({e}); give postgres://USER:PASSWORD@HOST:PORT/DB"
            ),
        })?;
        let options = options.options([
            ("lock_timeout", format!("{}ms", timeout.as_millis().max(1))),
            (
                "idle_in_transaction_session_timeout",
                format!("{}ms", IDLE_IN_TRANSACTION.as_millis()),
            ),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(timeout)
            .connect_with(options)
            .await
            .map_err(|e| crate::StoreError::Connect {
                target: redact(url),
                reason: match e {
                    sqlx::Error::PoolTimedOut => format!("no answer within {timeout:?}"),
                    other => other.to_string(),
                },
            })?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for tests and tools that read the tables directly.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Close every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(&self) -> crate::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(WRITE_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split_once(':').map_or(user_info, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

crate::sql::sql_store!(PgStore, sqlx::Postgres);

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://sea:s3cr@t@db:5432/x?sslmode=require"),
            "postgres://sea:***@db:5432/x?sslmode=require"
        );
        assert_eq!(super::redact("postgres://db/x"), "postgres://db/x");
    }
}
