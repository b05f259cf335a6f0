//! The SQLite backend, the default: one file in the data directory, in
//! WAL mode so readers never wait for the writer. Writers take the write
//! lock when they begin (`BEGIN IMMEDIATE`), so two of them can never read
//! the same audit head; waiting writers retry for up to
//! [`BUSY_TIMEOUT`].

use std::path::Path;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// How long a writer waits for another writer's transaction to finish.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the pool (readers share them; one writes at a time).
const POOL_SIZE: u32 = 4;

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    const BACKEND: &'static str = "sqlite";

    /// Open the database file at `path`, creating it (mode 0600) and its
    /// directory on first start, and apply the migrations.
    pub async fn open(path: &Path) -> crate::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| crate::StoreError::DataDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        create_private(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_SIZE)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The pool, for tests and tools that read the tables directly.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Close every connection (the WAL is checkpointed by the last one).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(&self) -> crate::Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Create the database file readable by its owner only, if it does not
/// exist yet (SQLite gives its WAL files the same mode).
fn create_private(path: &Path) -> crate::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(crate::StoreError::DataDir {
            path: path.display().to_string(),
            source,
        }),
    }
}

crate::sql::sql_store!(SqliteStore, sqlx::Sqlite);
