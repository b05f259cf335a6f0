//! The ground truth a simulation reports: what each node can take and what
//! each entry's knee is, at the scaled figures the servers really use.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::topology::{Knee, NodeKind, Topology};

/// Ground truth of a running simulation (also `GET /_sim/truth`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// The seed of the random draws.
    pub seed: u64,
    /// The factor every capacity and partner quota was multiplied by.
    pub scale: f64,
    /// Where the gateway listens: every entry at one address.
    pub gateway: SocketAddr,
    /// Services in plan order, then partners in plan order.
    pub nodes: Vec<NodeTruth>,
    /// Entries in plan order.
    pub entries: Vec<EntryTruth>,
}

/// What one simulated service or partner is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeTruth {
    /// Service or partner id.
    pub id: String,
    /// Service or partner.
    pub kind: NodeKind,
    /// Where its server listens.
    pub addr: SocketAddr,
    /// Scaled capacity in requests per second (services: `instances ×
    /// capacity_per_instance × scale`; partners: `quota_qps × scale`);
    /// absent: unlimited.
    pub capacity_qps: Option<f64>,
    /// Services: mean service time (`latency_ms`, each request drawn
    /// uniformly from 0.8× to 1.2×); partners: SLA p99 (drawn from 0.5× to 1×).
    pub latency_ms: f64,
    /// A request that would queue longer than this is refused with 503
    /// (services: `timeout_ms`, else 1,000; partners: 1,000).
    pub queue_limit_ms: f64,
    /// Partners: whether they take test traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_safe: Option<bool>,
}

/// One entry's ground truth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryTruth {
    /// Entry id.
    pub id: String,
    /// Service that answers it.
    pub service: String,
    /// HTTP method.
    pub method: String,
    /// Path pattern, if the plan gives one (without one the entry is not served).
    pub path: Option<String>,
    /// `http://addr/path` at the service's own server, with each `{param}`
    /// segment filled with `1`.
    pub url: Option<String>,
    /// The same path at the gateway.
    pub gateway_url: Option<String>,
    /// The entry's capacity when it is loaded alone: the smallest
    /// `capacity(x) / calls(x)` over the services and partners `x` on its
    /// strong call tree; absent when none of them has a capacity.
    pub knee_qps: Option<f64>,
    /// The `x` that sets `knee_qps`.
    pub bottleneck: Option<String>,
    /// Requests reaching the bottleneck per request to the entry (over
    /// strong and weak edges).
    pub bottleneck_calls: Option<f64>,
}

/// One entry's knee when several entries are loaded together
/// ([`Sim::mix_knees`](crate::Sim::mix_knees)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixKnee {
    /// Entry id.
    pub id: String,
    /// The entry's rate in the mix, as given (QPS).
    pub rate_qps: f64,
    /// How far the whole mix can be multiplied before the first node on
    /// this entry's strong call tree reaches its capacity; absent when none
    /// of them has a capacity (or the mix sends them nothing).
    pub multiple: Option<f64>,
    /// `multiple × rate_qps`: the entry's rate at its knee in this mix.
    pub knee_qps: Option<f64>,
    /// The node that saturates first.
    pub bottleneck: Option<String>,
}

impl Truth {
    /// The row of one entry.
    pub fn entry(&self, id: &str) -> Option<&EntryTruth> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// The row of one service or partner.
    pub fn node(&self, id: &str) -> Option<&NodeTruth> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub(crate) fn build(
        topo: &Topology,
        knees: &[Option<Knee>],
        addrs: &[SocketAddr],
        seed: u64,
        scale: f64,
    ) -> Truth {
        // One address per node, then the gateway's.
        let gateway = addrs
            .get(topo.nodes.len())
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let nodes = topo
            .nodes
            .iter()
            .zip(addrs)
            .map(|(n, &addr)| NodeTruth {
                id: n.id.clone(),
                kind: n.kind,
                addr,
                capacity_qps: n.capacity,
                latency_ms: n.latency_ms,
                queue_limit_ms: n.queue_limit.as_secs_f64() * 1000.0,
                shadow_safe: (n.kind == NodeKind::Partner).then_some(n.shadow_safe),
            })
            .collect();
        let entries = topo
            .entries
            .iter()
            .zip(knees)
            .map(|((id, node, method, path), knee)| {
                let addr = addrs.get(*node);
                EntryTruth {
                    id: id.clone(),
                    service: topo.nodes[*node].id.clone(),
                    method: method.clone(),
                    path: path.clone(),
                    url: path
                        .as_deref()
                        .zip(addr)
                        .map(|(p, a)| format!("http://{a}{}", fill_params(p))),
                    gateway_url: path
                        .as_deref()
                        .map(|p| format!("http://{gateway}{}", fill_params(p))),
                    knee_qps: knee.map(|k| k.qps),
                    bottleneck: knee.map(|k| topo.nodes[k.node].id.clone()),
                    bottleneck_calls: knee.map(|k| k.calls),
                }
            })
            .collect();
        Truth {
            seed,
            scale,
            gateway,
            nodes,
            entries,
        }
    }
}

/// `/api/orders/{id}` → `/api/orders/1`; a path without a leading slash gets one.
fn fill_params(path: &str) -> String {
    let filled: Vec<&str> = path
        .split('/')
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                "1"
            } else {
                s
            }
        })
        .collect();
    let joined = filled.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn params_are_filled() {
        assert_eq!(super::fill_params("/api/orders/{id}"), "/api/orders/1");
        assert_eq!(super::fill_params("api/x"), "/api/x");
        assert_eq!(super::fill_params("/"), "/");
    }
}
