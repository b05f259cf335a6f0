//! Liveness and readiness.

use serde::{Deserialize, Serialize};

/// Liveness and readiness answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// `ok`, or `unavailable` when the database does not answer.
    pub status: String,
    /// Database backend (`sqlite`, `postgres`); readiness only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Why not ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether this replica runs the background evaluator (alerts,
    /// paging, emergency runs, drills): `leader`, or `standby` while
    /// another replica on the same PostgreSQL does; readiness only. A
    /// SQLite server is always `leader`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluator: Option<String>,
    /// How many times this replica's evaluator role changed since it
    /// started (elected on PostgreSQL); readiness only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluator_changes: Option<u64>,
}
