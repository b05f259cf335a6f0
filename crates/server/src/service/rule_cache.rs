//! Every service's latest guard rules in memory, as the sidecars' long
//! poll (`service::rules`) serves them.
//!
//! Thousands of sidecars follow a service, so the long poll never reads
//! the store per poll: [`RuleCache`] keeps each service's latest rules. A
//! version stored through this replica is put into the cache by the
//! request that stored it (no read at all) and wakes every waiting poll.
//! A version stored through another replica on the same database is found
//! by one version query ([`Store::rule_services`], every service's latest
//! version number) made at most once per [`RECHECK`] by whichever waiting
//! poll wakes first, shared by all the others; the new body is then read
//! once and every poll of that service wakes. So a change costs each
//! replica at most one read however many sidecars follow it, and the
//! replicas' caches agree within [`RECHECK`]. It needs only the store, so
//! [`crate::state::AppState`] holds it without depending on the rest of
//! the service layer.
//!
//! [`Store::rule_services`]: seawall_store::Store::rule_services

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use seawall_api::rules::Rules;
use seawall_store::RuleVersion;
use serde_json::Value;

use crate::error::ApiError;

/// How often the cache asks the store for versions stored by another
/// replica (they reach this replica's sidecars within this).
pub const RECHECK: Duration = Duration::from_secs(1);

/// Every service's latest rules as the long poll serves them, shared by
/// all the polls of one replica (see the module documentation).
#[derive(Debug)]
pub struct RuleCache {
    cached: tokio::sync::Mutex<Cached>,
    /// Bumped when a service's latest version moves: waiting polls wake.
    moved: tokio::sync::watch::Sender<u64>,
    version_queries: AtomicU64,
    body_reads: AtomicU64,
}

/// What the cache knows, and since when.
#[derive(Debug, Default)]
struct Cached {
    /// Latest version per service that has rules (from the last version
    /// query and this replica's own writes; never moves backwards).
    versions: HashMap<String, i64>,
    /// Served rules of the services polled so far, at most one per entry
    /// of `versions` (so bounded by the services stored).
    bodies: HashMap<String, Arc<Rules>>,
    /// When `versions` was last read from the store.
    checked: Option<tokio::time::Instant>,
}

impl Default for RuleCache {
    fn default() -> Self {
        RuleCache {
            cached: tokio::sync::Mutex::default(),
            moved: tokio::sync::watch::channel(0).0,
            version_queries: AtomicU64::new(0),
            body_reads: AtomicU64::new(0),
        }
    }
}

/// Store reads the cache has made: `(version queries, rule bodies)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheReads {
    /// Every service's latest version number, one query for all services.
    pub version_queries: u64,
    /// One service's latest rule document.
    pub body_reads: u64,
}

impl RuleCache {
    /// The store reads made so far (what the tests count).
    pub fn reads(&self) -> CacheReads {
        CacheReads {
            version_queries: self.version_queries.load(Ordering::Relaxed),
            body_reads: self.body_reads.load(Ordering::Relaxed),
        }
    }

    /// `service`'s latest rules: from memory while the version query is
    /// younger than [`RECHECK`], else after one (shared by every caller
    /// meanwhile); the body is read only when its version moved.
    pub(crate) async fn latest(
        &self,
        store: &dyn seawall_store::Store,
        service: &str,
    ) -> Result<Option<Arc<Rules>>, ApiError> {
        self.latest_after(store, service, 0).await
    }

    /// Like [`RuleCache::latest`], but when the cache knows no version of
    /// `service` as new as `seen` (a sidecar that got it from another
    /// replica), the store is asked at once rather than within
    /// [`RECHECK`]: a poll never answers with an older version than the
    /// one its sidecar names while the store has that one.
    pub(crate) async fn latest_after(
        &self,
        store: &dyn seawall_store::Store,
        service: &str,
        seen: i64,
    ) -> Result<Option<Arc<Rules>>, ApiError> {
        let mut cached = self.cached.lock().await;
        let behind = cached.versions.get(service).copied().unwrap_or(0) < seen;
        let stale = behind || cached.checked.is_none_or(|at| at.elapsed() >= RECHECK);
        if stale {
            self.version_queries.fetch_add(1, Ordering::Relaxed);
            let found = store.rule_services().await?;
            cached.checked = Some(tokio::time::Instant::now());
            let mut moved = false;
            for (name, version) in found {
                let known = cached.versions.entry(name).or_insert(0);
                if version > *known {
                    *known = version;
                    moved = true;
                }
            }
            if moved {
                self.moved.send_modify(|n| *n += 1);
            }
        }
        let Some(&version) = cached.versions.get(service) else {
            return Ok(None);
        };
        if let Some(body) = cached.bodies.get(service).filter(|b| b.version >= version) {
            return Ok(Some(Arc::clone(body)));
        }
        self.body_reads.fetch_add(1, Ordering::Relaxed);
        let Some(stored) = store.rules(service, None).await? else {
            return Ok(None);
        };
        let body = Arc::new(served(stored)?);
        if body.version > version {
            cached.versions.insert(service.to_owned(), body.version);
        }
        cached.bodies.insert(service.to_owned(), Arc::clone(&body));
        Ok(Some(body))
    }

    /// A version this replica just stored: served from now on without a
    /// read, and every waiting poll of its service wakes.
    pub(crate) async fn stored(&self, version: &RuleVersion) -> Result<(), ApiError> {
        let body = Arc::new(served(version.clone())?);
        let mut cached = self.cached.lock().await;
        let known = cached.versions.entry(body.service.clone()).or_insert(0);
        if body.version < *known {
            return Ok(());
        }
        *known = body.version;
        cached.bodies.insert(body.service.clone(), body);
        drop(cached);
        self.moved.send_modify(|n| *n += 1);
        Ok(())
    }

    /// A receiver that wakes when some service's latest version moves.
    pub(crate) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.moved.subscribe()
    }

    /// How many receivers of [`RuleCache::subscribe`] there are: the
    /// waiting polls (what the tests wait for).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.moved.receiver_count()
    }
}

/// The stored document with its `version` set to the stored version.
pub(crate) fn served(v: RuleVersion) -> Result<Rules, ApiError> {
    let mut rules: Value = serde_json::from_str(&v.document).map_err(|e| {
        ApiError::Internal(format!(
            "stored rules {} v{} are not JSON: {e}",
            v.service, v.version
        ))
    })?;
    if let Some(obj) = rules.as_object_mut() {
        obj.insert("version".into(), Value::from(v.version));
    }
    Ok(Rules {
        service: v.service,
        version: v.version,
        sha256: v.sha256,
        source: v.source.as_str().to_owned(),
        plan_version: v.plan_version,
        note: v.note,
        created_ms: v.created_ms,
        created_by: v.created_by,
        rules,
    })
}
