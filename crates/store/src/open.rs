//! Choosing and opening a backend from `--db` / `--data-dir`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{Result, Store, StoreError};

/// Which database to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// A SQLite file (created with its directory on first start).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://user:pass@host:port/db`).
    Postgres(String),
}

impl StoreSpec {
    /// From `--db` (if given) and `--data-dir`: no `--db` means
    /// `<data-dir>/seawall.db`; `sqlite://PATH` or `sqlite:PATH` a SQLite
    /// file; `postgres://…` / `postgresql://…` PostgreSQL.
    pub fn from_args(db: Option<&str>, data_dir: &Path) -> Result<StoreSpec> {
        let Some(db) = db else {
            return Ok(StoreSpec::Sqlite(data_dir.join("seawall.db")));
        };
        if db.starts_with("postgres://") || db.starts_with("postgresql://") {
            return Ok(StoreSpec::Postgres(db.to_owned()));
        }
        if let Some(path) = db
            .strip_prefix("sqlite://")
            .or_else(|| db.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StoreError::Spec {
                    spec: db.to_owned(),
                    reason: "the SQLite URL names no file; give sqlite://PATH".to_owned(),
                });
            }
            return Ok(StoreSpec::Sqlite(PathBuf::from(path)));
        }
        Err(StoreError::Spec {
            spec: db.to_owned(),
            reason: "give postgres://USER:PASSWORD@HOST:PORT/DB or sqlite://PATH, \
                     or leave --db out for <data-dir>/seawall.db"
                .to_owned(),
        })
    }
}

/// Open the store `spec` names, applying its backend's migrations.
pub async fn open(spec: &StoreSpec) -> Result<Arc<dyn Store>> {
    match spec {
        #[cfg(feature = "sqlite")]
        StoreSpec::Sqlite(path) => Ok(Arc::new(crate::sqlite::SqliteStore::open(path).await?)),
        #[cfg(feature = "postgres")]
        StoreSpec::Postgres(url) => Ok(Arc::new(crate::postgres::PgStore::open(url).await?)),
        #[allow(unreachable_patterns)]
        other => Err(StoreError::Spec {
            spec: format!("{other:?}"),
            reason: "this build of Seawall has no backend for it (cargo feature off)".to_owned(),
        }),
    }
}
