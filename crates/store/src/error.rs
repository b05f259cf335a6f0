//! Errors of the store: what a caller can act on (not found, conflict, a
//! bad database URL) apart from the database's own failures.

/// An error from the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row the operation needs does not exist.
    #[error("{what} not found")]
    NotFound {
        /// What was looked for (`event 7`, `exception 3`).
        what: String,
    },
    /// A unique name is taken, or a state change is not allowed from the
    /// current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The `--db` value is not a database URL Seawall can use.
    #[error("unsupported database {spec:?}: {reason}")]
    Spec {
        /// What was given.
        spec: String,
        /// Why it cannot be used and what to give instead.
        reason: String,
    },
    /// The data directory cannot be created or used.
    #[error("data directory {path}")]
    DataDir {
        /// The directory.
        path: String,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The database server cannot be reached (refused, unknown host, no
    /// answer within the connect timeout, authentication failed).
    #[error(
        "cannot connect to {target}: {reason}; check that the server runs and the URL's host, port, user and password"
    )]
    Connect {
        /// The URL, without its password.
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// Applying the backend's migrations failed.
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A stored value cannot be read back (a role or kind name the code does
    /// not know, bad JSON): the database was edited by hand or by a newer
    /// Seawall.
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
}
