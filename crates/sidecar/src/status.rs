//! What the sidecar tells about its rules (`GET /status`): a module of its
//! own, below the proxy's shared state that holds it and the reloader
//! that updates it, so neither has to import the other for it.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// What the admin API tells about the rules file.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RulesStatus {
    /// The rules file.
    pub(crate) path: String,
    /// Version of the document in force.
    pub(crate) version: u64,
    /// When it was loaded (Unix seconds).
    pub(crate) loaded_at: u64,
    /// Why the file on disk is not in force, if it is not.
    pub(crate) last_error: Option<String>,
    /// When that was found (Unix seconds).
    pub(crate) last_error_at: Option<u64>,
    #[serde(skip)]
    pub(crate) in_force_hash: u64,
    #[serde(skip)]
    pub(crate) bad_hash: Option<u64>,
}

impl RulesStatus {
    pub(crate) fn new(path: &Path, version: u64, hash: u64) -> Self {
        Self {
            path: path.display().to_string(),
            version,
            loaded_at: unix_now(),
            last_error: None,
            last_error_at: None,
            in_force_hash: hash,
            bad_hash: None,
        }
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What the sidecar tells about its cluster quotas (`GET /status`,
/// `cluster`): whether the control plane's leases reach it, and the last
/// failure. The quotas themselves are read from the guard.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct ClusterStatus {
    /// When the last lease was granted (Unix seconds).
    pub(crate) last_lease_at: Option<u64>,
    /// Why the last lease failed, while leases fail.
    pub(crate) last_error: Option<String>,
    /// When that was (Unix seconds).
    pub(crate) last_error_at: Option<u64>,
}
