//! The simulated system's shape, built once from the plan, and its ground
//! truth.
//!
//! Every service and partner becomes a node with a scaled capacity, a
//! latency and (for services) outgoing edges and entry routes. The ground
//! truth is computed from the same numbers the servers use, so a rehearsal
//! that measures the simulated system can be checked against it.

use std::collections::HashMap;
use std::time::Duration;

use seawall_plan::Plan;
use seawall_plan::graph::Graph;
use seawall_plan::model::Strength;
use serde::{Deserialize, Serialize};

use crate::SimError;

/// Queue bound of a service without `timeout_ms`, and of every partner.
pub const DEFAULT_QUEUE_LIMIT_MS: f64 = 1000.0;
/// Call timeout of an edge without `timeout_ms` (a missing timeout is
/// "wait long", bounded so nothing hangs).
pub const DEFAULT_CALL_TIMEOUT_MS: f64 = 10_000.0;
/// Retries per call are capped here (a plan may ask for more; L004 flags it).
pub const MAX_RETRIES: u32 = 10;
/// Calls per request on one edge are capped here.
pub const MAX_CALLS: f64 = 100.0;

/// Whether a node is one of the plan's services or partners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    /// A service of the plan.
    Service,
    /// An external partner.
    Partner,
}

/// One dependency edge, resolved to a node index.
#[derive(Debug, Clone)]
pub(crate) struct EdgeSpec {
    pub to: usize,
    pub strong: bool,
    pub calls: f64,
    pub timeout: Duration,
    pub attempts: u32,
}

/// One path segment of an entry route.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Segment {
    Literal(String),
    /// `{name}`: any one segment.
    Param,
}

/// An entry answered by a service.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    /// Index into the plan's entries.
    pub entry: usize,
    pub method: hyper::Method,
    pub segments: Vec<Segment>,
}

impl Route {
    /// Whether the route's path pattern matches `path` (query stripped).
    pub fn matches(&self, path: &str) -> bool {
        let mut parts = split(path);
        for seg in &self.segments {
            match (seg, parts.next()) {
                (Segment::Literal(l), Some(p)) if l == p => {}
                (Segment::Param, Some(p)) if !p.is_empty() => {}
                _ => return false,
            }
        }
        parts.next().is_none()
    }
}

/// A path pattern's segments: `{name}` and any segment with a `{{var}}`
/// template match any one segment.
fn segments(path: &str) -> Vec<Segment> {
    split(path)
        .map(|s| {
            if (s.starts_with('{') && s.ends_with('}')) || s.contains("{{") {
                Segment::Param
            } else {
                Segment::Literal(s.to_owned())
            }
        })
        .collect()
}

/// Add a route for entry `ei` at `path` to `node` (once), refusing paths
/// under the reserved `/_sim/` prefix.
fn add_route(
    node: &mut NodeSpec,
    ei: usize,
    eid: &str,
    method: &str,
    path: &str,
) -> Result<(), SimError> {
    let segments = segments(path);
    if segments.first() == Some(&Segment::Literal("_sim".to_owned())) {
        return Err(SimError::ReservedPath {
            entry: eid.to_owned(),
            path: path.to_owned(),
        });
    }
    let method = hyper::Method::from_bytes(method.as_bytes())
        .map_err(|_| SimError::Plan(format!("entry `{eid}`: bad method {method}")))?;
    let route = Route {
        entry: ei,
        method,
        segments,
    };
    if !node
        .routes
        .iter()
        .any(|r| r.entry == ei && r.segments == route.segments)
    {
        node.routes.push(route);
    }
    Ok(())
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
}

/// A simulated service or partner.
#[derive(Debug, Clone)]
pub(crate) struct NodeSpec {
    pub id: String,
    pub kind: NodeKind,
    /// Scaled capacity in requests per second; `None` is unlimited.
    pub capacity: Option<f64>,
    /// Services: mean service time (`latency_ms`); partners: SLA p99.
    pub latency_ms: f64,
    /// A request that would wait longer than this in the queue is refused.
    pub queue_limit: Duration,
    /// Partners: whether tagged traffic is acceptable.
    pub shadow_safe: bool,
    pub edges: Vec<EdgeSpec>,
    pub routes: Vec<Route>,
}

/// An entry's knee: the QPS its bottleneck allows, which node that is, and
/// how many requests reach it per request to the entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Knee {
    pub qps: f64,
    pub node: usize,
    pub calls: f64,
}

/// The whole simulated system.
#[derive(Debug, Clone)]
pub(crate) struct Topology {
    /// Services in plan order, then partners in plan order.
    pub nodes: Vec<NodeSpec>,
    pub index: HashMap<String, usize>,
    /// Entry ids, methods and paths in plan order: (id, service node, method, path).
    pub entries: Vec<(String, usize, String, Option<String>)>,
    /// Per entry: JSON pointers that journeys extract from its answers.
    pub extracts: Vec<Vec<String>>,
}

/// `ms` as a duration, clamped to 1 µs ..= 1 hour (NaN → `fallback`).
pub(crate) fn millis(ms: f64, fallback: f64) -> Duration {
    let ms = if ms.is_finite() { ms } else { fallback };
    Duration::from_secs_f64((ms / 1000.0).clamp(0.000_001, 3600.0))
}

fn scaled(capacity: Option<f64>, scale: f64) -> Option<f64> {
    capacity.map(|c| {
        if c.is_finite() {
            (c * scale).max(0.0)
        } else {
            f64::MAX
        }
    })
}

impl Topology {
    pub fn build(plan: &Plan, scale: f64) -> Result<Self, SimError> {
        let services = plan.services.len();
        let mut index = HashMap::new();
        for (i, id) in plan.services.keys().chain(plan.partners.keys()).enumerate() {
            if index.insert(id.clone(), i).is_some() {
                return Err(SimError::Plan(format!(
                    "`{id}` is both a service and a partner; rename one"
                )));
            }
        }
        let mut nodes = Vec::with_capacity(services + plan.partners.len());
        for (id, s) in &plan.services {
            let capacity = match (s.instances, s.capacity_per_instance) {
                (Some(n), Some(c)) => scaled(Some(f64::from(n) * c), scale),
                _ => None,
            };
            let mut edges = Vec::with_capacity(s.dependencies.len());
            for e in &s.dependencies {
                let Some(&to) = index.get(&e.to) else {
                    return Err(SimError::Plan(format!(
                        "service `{id}` depends on unknown `{}`",
                        e.to
                    )));
                };
                let calls = if e.calls.is_finite() {
                    e.calls.clamp(0.0, MAX_CALLS)
                } else {
                    0.0
                };
                edges.push(EdgeSpec {
                    to,
                    strong: e.strength == Strength::Strong,
                    calls,
                    timeout: millis(
                        e.timeout_ms.unwrap_or(DEFAULT_CALL_TIMEOUT_MS),
                        DEFAULT_CALL_TIMEOUT_MS,
                    ),
                    attempts: e.retries.min(MAX_RETRIES) + 1,
                });
            }
            nodes.push(NodeSpec {
                id: id.clone(),
                kind: NodeKind::Service,
                capacity,
                latency_ms: s
                    .latency_ms
                    .filter(|l| l.is_finite())
                    .unwrap_or(0.0)
                    .max(0.0),
                queue_limit: millis(
                    s.timeout_ms.unwrap_or(DEFAULT_QUEUE_LIMIT_MS),
                    DEFAULT_QUEUE_LIMIT_MS,
                ),
                shadow_safe: false,
                edges,
                routes: Vec::new(),
            });
        }
        for (id, p) in &plan.partners {
            nodes.push(NodeSpec {
                id: id.clone(),
                kind: NodeKind::Partner,
                capacity: scaled(p.quota_qps, scale),
                latency_ms: p
                    .sla
                    .and_then(|s| s.p99_ms)
                    .filter(|l| l.is_finite())
                    .unwrap_or(0.0)
                    .max(0.0),
                queue_limit: millis(DEFAULT_QUEUE_LIMIT_MS, DEFAULT_QUEUE_LIMIT_MS),
                shadow_safe: p.shadow_safe,
                edges: Vec::new(),
                routes: Vec::new(),
            });
        }
        let mut entries = Vec::with_capacity(plan.entries.len());
        let mut extracts: Vec<Vec<String>> = vec![Vec::new(); plan.entries.len()];
        for (ei, (eid, e)) in plan.entries.iter().enumerate() {
            let Some(&node) = index.get(&e.service).filter(|&&n| n < services) else {
                return Err(SimError::Plan(format!(
                    "entry `{eid}` is served by unknown service `{}`",
                    e.service
                )));
            };
            let method = e.method_or_default().as_str();
            let path = e.path.as_deref().map(|p| p.split('?').next().unwrap_or(p));
            if let Some(path) = path {
                add_route(&mut nodes[node], ei, eid, method, path)?;
            }
            entries.push((
                eid.clone(),
                node,
                method.to_owned(),
                path.map(str::to_owned),
            ));
        }
        // Journey steps may call an entry at a templated path of their own
        // (`/api/pay/{{order_id}}`) and extract values from its answer: the
        // entry answers there too, and its answers carry those values.
        for step in plan.traffic.journeys.values().flat_map(|j| &j.steps) {
            let Some(ei) = plan.entries.get_index_of(&step.entry) else {
                continue;
            };
            let (eid, node, method, _) = &entries[ei];
            if let Some(path) = &step.path {
                let path = path.split('?').next().unwrap_or(path);
                add_route(&mut nodes[*node], ei, eid, method, path)?;
            }
            for pointer in step.extract.values() {
                if !extracts[ei].contains(pointer) {
                    extracts[ei].push(pointer.clone());
                }
            }
        }
        Ok(Topology {
            nodes,
            index,
            entries,
            extracts,
        })
    }

    /// What each entry's requests reach (in plan order).
    ///
    /// `calls(x)` sums, over every path from the entry's service to `x`
    /// (strong and weak edges alike: weak calls use capacity too), the
    /// product of the edges' `calls`; `strong(x)` says whether `x` is
    /// reachable over strong edges only (its failure fails the entry).
    pub fn reach(&self, plan: &Plan) -> Result<Vec<Reach>, SimError> {
        let graph = Graph::new(&plan.services);
        let order = graph
            .topo_order()
            .map_err(|cycle| SimError::Plan(format!("dependency cycle {}", cycle.join(" → "))))?;
        let n = self.nodes.len();
        let mut memo: HashMap<usize, Reach> = HashMap::new();
        let mut out = Vec::with_capacity(self.entries.len());
        for (_, start, _, _) in &self.entries {
            let reach = memo.entry(*start).or_insert_with(|| {
                let mut calls = vec![0.0_f64; n];
                let mut strong = vec![false; n];
                calls[*start] = 1.0;
                strong[*start] = true;
                // Callers before callees: a node's total is final when visited.
                for &v in &order {
                    let (m, s) = (calls[v], strong[v]);
                    if m == 0.0 && !s {
                        continue;
                    }
                    for e in &self.nodes[v].edges {
                        calls[e.to] += m * e.calls;
                        strong[e.to] |= s && e.strong;
                    }
                }
                Reach { calls, strong }
            });
            out.push(reach.clone());
        }
        Ok(out)
    }

    /// The entry's tightest node: the smallest `capacity(x) / load[x]` over
    /// the nodes on its strong call tree with a capacity and some load, and
    /// that `x` (the first in plan order on a tie).
    pub fn tightest(&self, reach: &Reach, load: &[f64]) -> Option<(f64, usize)> {
        let mut best: Option<(f64, usize)> = None;
        for (x, node) in self.nodes.iter().enumerate() {
            let (Some(cap), Some(true), Some(&l)) =
                (node.capacity, reach.strong.get(x).copied(), load.get(x))
            else {
                continue;
            };
            if l.is_nan() || l <= 0.0 {
                continue;
            }
            let ratio = cap / l;
            if best.is_none_or(|b| ratio < b.0) {
                best = Some((ratio, x));
            }
        }
        best
    }

    /// Ground truth per entry loaded alone: the knee is
    /// `min capacity(x) / calls(x)` over its strong call tree.
    pub fn knees(&self, reach: &[Reach]) -> Vec<Option<Knee>> {
        reach
            .iter()
            .map(|r| {
                self.tightest(r, &r.calls).map(|(qps, node)| Knee {
                    qps,
                    node,
                    calls: r.calls[node],
                })
            })
            .collect()
    }
}

/// What one entry's requests reach: calls per entry request at every node,
/// and which nodes are on its strong call tree.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reach {
    pub calls: Vec<f64>,
    pub strong: Vec<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> Route {
        Route {
            entry: 0,
            method: hyper::Method::GET,
            segments: segments(path),
        }
    }

    #[test]
    fn routes_match_segments_and_params() {
        let r = route("/api/orders/{id}");
        assert!(r.matches("/api/orders/42"));
        assert!(r.matches("/api/orders/42/"));
        assert!(!r.matches("/api/orders"));
        assert!(!r.matches("/api/orders/42/items"));
        assert!(!r.matches("/api/order/42"));
        let templated = route("/api/pay/{{order_id}}/x-{{n}}");
        assert!(templated.matches("/api/pay/42/x-7"));
        assert!(!templated.matches("/api/pay/42"));
        let root = route("/");
        assert!(root.matches("/"));
        assert!(!root.matches("/x"));
    }

    #[test]
    fn millis_never_panics() {
        assert_eq!(millis(f64::NAN, 5.0), Duration::from_millis(5));
        assert_eq!(millis(-3.0, 5.0), Duration::from_micros(1));
        assert_eq!(millis(f64::INFINITY, 7.0), Duration::from_millis(7));
        assert_eq!(millis(1e30, 5.0), Duration::from_secs(3600));
    }
}
