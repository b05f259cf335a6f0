//! Cluster quotas (`scope: cluster` flow rules): lease tokens from the
//! control plane every [`EVERY`] and hand them to the guard.
//!
//! Why a loop of its own beside `follow`: the guard must not do IO, so
//! somebody deposits the tokens its checks take; and a lease must not wait
//! behind a 30-second long poll. Each round asks, per cluster rule in
//! force, for the recent demand's worth of tokens for the next round
//! (`seawall_guard::cluster::batch`) and reports the demand, from which the
//! control plane computes fair shares. When a lease fails — the control
//! plane is down, slow past [`DEADLINE`], or refuses — the guard is told
//! at once (`Guard::cluster_offline`): every cluster rule falls back to
//! `count ÷ live instances`, the live instances being what the last lease
//! said, and `/metrics` and `/status` say so until a lease succeeds again.

use std::sync::Arc;
use std::time::Duration;

use seawall_api::rules::{LeaseAsk, LeaseRequest};
use seawall_guard::ClusterMode;
use seawall_guard::cluster::{batch, reported_demand};

use crate::control::{self, Control};
use crate::metrics::ClusterRuleLabels;
use crate::proxy::Shared;
use crate::status::unix_now;

/// How often a sidecar with cluster rules leases.
pub(crate) const EVERY: Duration = Duration::from_millis(100);
/// Longest wait for a lease before falling back.
const DEADLINE: Duration = Duration::from_secs(1);
/// How often a sidecar without cluster rules looks again.
const IDLE: Duration = Duration::from_millis(500);

/// Leases until the task is dropped.
pub(crate) async fn lease(shared: Arc<Shared>, control: Control) {
    let mut failing = false;
    let mut series: Vec<String> = Vec::new();
    loop {
        let guard = shared.guard();
        let quotas = guard.cluster_quotas();
        let ids: Vec<String> = quotas.iter().map(|q| q.rule_id.clone()).collect();
        if ids != series {
            // The rule set changed: no series of removed rules stay.
            shared.metrics.cluster_fallback.clear();
            shared.metrics.cluster_granted.clear();
            series = ids;
        }
        if quotas.is_empty() {
            tokio::time::sleep(IDLE).await;
            continue;
        }
        let request = LeaseRequest {
            service: control.service.clone(),
            instance: control.instance.clone(),
            asks: quotas
                .iter()
                .map(|q| LeaseAsk {
                    rule_id: q.rule_id.clone(),
                    // At least one: a granted lease keeps the rule leased
                    // while the sidecar is idle.
                    tokens: batch(q.offered_qps as f64, q.count, EVERY, q.tokens).max(1),
                    demand: reported_demand(q.offered_qps),
                })
                .collect(),
        };
        match control::lease(&control, &request, DEADLINE).await {
            Ok(lease) => {
                let ttl = Duration::from_millis(lease.ttl_ms);
                guard.set_cluster_instances(lease.instances);
                for g in lease.grants.iter().filter(|g| g.count.is_some()) {
                    if guard.cluster_grant(&g.rule_id, g.tokens, ttl) {
                        shared
                            .metrics
                            .cluster_granted
                            .get_or_create(&ClusterRuleLabels {
                                rule: g.rule_id.clone(),
                            })
                            .inc_by(g.tokens);
                    }
                }
                shared
                    .metrics
                    .cluster_instances
                    .set(i64::from(lease.instances));
                let mut st = shared.cluster.lock().unwrap_or_else(|e| e.into_inner());
                st.last_lease_at = Some(unix_now());
                st.last_error = None;
                st.last_error_at = None;
                if failing {
                    tracing::info!("cluster quotas: leasing from the control plane again");
                }
                failing = false;
            }
            Err(e) => {
                guard.cluster_offline(true);
                shared.metrics.cluster_lease_errors.inc();
                if !failing {
                    tracing::warn!(
                        "cluster quotas: {e}; falling back to each rule's count ÷ {} live instances",
                        guard.cluster_quotas().first().map_or(1, |q| q.instances)
                    );
                }
                let mut st = shared.cluster.lock().unwrap_or_else(|e| e.into_inner());
                st.last_error = Some(e);
                st.last_error_at = Some(unix_now());
                failing = true;
            }
        }
        for q in guard.cluster_quotas() {
            shared
                .metrics
                .cluster_fallback
                .get_or_create(&ClusterRuleLabels { rule: q.rule_id })
                .set(i64::from(q.mode == ClusterMode::Fallback));
        }
        tokio::time::sleep(EVERY).await;
    }
}
