//! Cluster-wide guard quotas (`scope: cluster`, docs/scale-out.md): the
//! sidecars of a service lease batches of tokens for its cluster rules.
//!
//! Why in the store and not in this process: several replicas serve one
//! PostgreSQL, and a sidecar may reach any of them; the bucket of a rule is
//! a row every replica leases from in one write transaction, so there is no
//! token server to lose — a replica going away loses nothing, and when no
//! replica answers each sidecar falls back to `count ÷ live instances` by
//! itself. The limits come from the service's latest stored rules, never
//! from the sidecar, so a sidecar token cannot raise its own limit.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use seawall_api::rules::{Lease, LeaseGrant, LeaseRequest};
use seawall_store::{LeaseAsk, LeaseRound, RuleVersion};
use serde_json::Value;

use crate::error::ApiError;
use crate::service::rules::check_service;
use crate::state::AppState;

/// How long granted tokens may be used, in milliseconds.
pub const LEASE_TTL_MS: u64 = 500;
/// An instance that leased within this many milliseconds counts as live.
pub const LIVE_MS: i64 = 5_000;
/// Most asks in one lease.
const MAX_ASKS: usize = 64;
/// Most tokens or demand in one ask.
const MAX_TOKENS: u64 = 1_000_000_000;

/// A rule document's cluster limits (rule id → count), remembered by the
/// document's SHA-256 (a pure function of it, so replicas and tests may
/// share the memo); at most this many documents.
const MEMO: usize = 256;

type Limits = Arc<HashMap<String, f64>>;

fn memo() -> &'static Mutex<HashMap<String, Limits>> {
    static MEMO_MAP: OnceLock<Mutex<HashMap<String, Limits>>> = OnceLock::new();
    MEMO_MAP.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The `scope: cluster` flow rules of a stored version and their counts.
fn cluster_limits(v: &RuleVersion) -> Result<Limits, ApiError> {
    if let Some(known) = memo()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&v.sha256)
    {
        return Ok(Arc::clone(known));
    }
    let doc: Value = serde_json::from_str(&v.document).map_err(|e| {
        ApiError::Internal(format!(
            "stored rules {} v{} are not JSON: {e}",
            v.service, v.version
        ))
    })?;
    let mut limits = HashMap::new();
    let resources = doc["resources"].as_array().map_or(&[][..], Vec::as_slice);
    for flow in resources
        .iter()
        .filter_map(|r| r["flow"].as_array())
        .flatten()
    {
        if flow["scope"] == "cluster"
            && let (Some(id), Some(count)) = (flow["id"].as_str(), flow["count"].as_f64())
        {
            limits.insert(id.to_owned(), count);
        }
    }
    let limits = Arc::new(limits);
    let mut m = memo().lock().unwrap_or_else(|e| e.into_inner());
    if m.len() >= MEMO {
        m.clear();
    }
    m.insert(v.sha256.clone(), Arc::clone(&limits));
    Ok(limits)
}

fn check_request(req: &LeaseRequest) -> Result<(), ApiError> {
    check_service(&req.service)?;
    let instance = req.instance.trim();
    if instance.is_empty() || instance.len() > 200 || instance.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "invalid_instance",
            "`instance` must name the sidecar (1–200 characters, no control characters)",
        ));
    }
    if req.asks.len() > MAX_ASKS {
        return Err(ApiError::unprocessable(
            "invalid_asks",
            format!("at most {MAX_ASKS} asks in one lease"),
        ));
    }
    for a in &req.asks {
        let demand_ok = a.demand.is_finite() && (0.0..=MAX_TOKENS as f64).contains(&a.demand);
        if a.rule_id.is_empty() || a.rule_id.len() > 200 || a.tokens > MAX_TOKENS || !demand_ok {
            return Err(ApiError::unprocessable(
                "invalid_asks",
                format!(
                    "an ask names a rule (1–200 characters) and asks 0 to {MAX_TOKENS} tokens \
                     with a demand of 0 to {MAX_TOKENS} requests a second"
                ),
            ));
        }
    }
    Ok(())
}

/// Leases tokens for `req`'s asks from the service's shared buckets, with
/// the limits of the service's latest rules (an ask for a rule that is not
/// a cluster rule there is granted nothing).
pub(crate) async fn lease(state: &AppState, req: LeaseRequest) -> Result<Lease, ApiError> {
    check_request(&req)?;
    let latest = state.store.rules(&req.service, None).await?;
    let (version, limits) = match &latest {
        Some(v) => (v.version, cluster_limits(v)?),
        None => (0, Limits::default()),
    };
    let asks: Vec<LeaseAsk> = req
        .asks
        .iter()
        .filter_map(|a| {
            limits.get(&a.rule_id).map(|rate| LeaseAsk {
                rule_id: a.rule_id.clone(),
                rate: *rate,
                asked: a.tokens,
                demand: a.demand,
            })
        })
        .collect();
    let grant = state
        .store
        .lease_tokens(&LeaseRound {
            service: req.service.clone(),
            instance: req.instance.trim().to_owned(),
            now_ms: state.now(),
            live_ms: LIVE_MS,
            asks,
        })
        .await?;
    let mut granted = grant.granted.into_iter();
    let grants = req
        .asks
        .into_iter()
        .map(|a| {
            let count = limits.get(&a.rule_id).copied();
            let tokens = if count.is_some() {
                granted.next().unwrap_or(0)
            } else {
                0
            };
            LeaseGrant {
                rule_id: a.rule_id,
                tokens,
                count,
            }
        })
        .collect();
    Ok(Lease {
        service: req.service,
        version,
        ttl_ms: LEASE_TTL_MS,
        instances: grant.instances,
        grants,
    })
}
