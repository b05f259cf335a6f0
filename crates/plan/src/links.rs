//! Link analysis: the risks a plan shows along its dependency graph.
//!
//! [`analyze`] checks the fifteen stable rules L001–L015 of
//! `docs/plan-reference.md#link-analysis` (listed in [`RULES`]) and returns
//! one [`Finding`] per risk, each with the rule id, a severity, the plan
//! location to fix, a one-line message with the concrete numbers and a
//! one-line fix. Risks the plan accepts (`links.accept`) stay in the output
//! marked [`Finding::accepted`].
//!
//! Every rule runs in time linear in the plan (path rules keep small
//! per-service summaries instead of enumerating paths), so plans with tens of
//! thousands of services and edges are analysed in milliseconds.

use std::collections::{HashMap, HashSet, VecDeque};

/// A half-open time interval `[start, end)`.
type Interval = (jiff::Timestamp, jiff::Timestamp);
use serde::Serialize;

use crate::capacity::{CapacitySource, CapacityTable, Row};
use crate::diag::{Location, Severity};
use crate::graph::Graph;
use crate::model::{Action, Edge, Plan, QueryKind, Slo, Strength, Trigger, Window};
use crate::targets::Targets;

/// The link-analysis rules: id, default severity and title.
///
/// Some rules vary the severity by case: L005 is `info` for services, L009
/// is `warning` for a service reached only through weak edges, and L013 is
/// `warning` for freeze windows.
pub const RULES: [(&str, Severity, &str); 15] = [
    (
        "L001",
        Severity::Error,
        "strong dependency without timeout_ms",
    ),
    (
        "L002",
        Severity::Warning,
        "weak dependency without fallback and without breaker",
    ),
    (
        "L003",
        Severity::Error,
        "timeout budget inversion: edge timeout_ms × (retries + 1) ≥ the caller's own timeout_ms",
    ),
    (
        "L004",
        Severity::Warning,
        "retry amplification along a path above the limit",
    ),
    (
        "L005",
        Severity::Warning,
        "entry or service with no SLO, no monitoring query or no alert",
    ),
    (
        "L006",
        Severity::Warning,
        "partner without fallback or without SLA",
    ),
    (
        "L007",
        Severity::Error,
        "hotspot entry without a rate limit and without an emergency plan",
    ),
    (
        "L008",
        Severity::Warning,
        "shared service without per-caller isolation",
    ),
    (
        "L009",
        Severity::Error,
        "single instance on a strong path (single point of failure)",
    ),
    (
        "L010",
        Severity::Error,
        "bottleneck: water level above critical_level on a strong path",
    ),
    (
        "L011",
        Severity::Warning,
        "test traffic can reach a partner that is not shadow_safe",
    ),
    (
        "L012",
        Severity::Warning,
        "emergency plan without owner, trigger or expected_minutes, or never drilled",
    ),
    (
        "L013",
        Severity::Error,
        "peak or freeze window not fully covered by the on-call rota",
    ),
    (
        "L014",
        Severity::Warning,
        "rate limit above measured capacity",
    ),
    (
        "L015",
        Severity::Warning,
        "scale action on a service without a Kubernetes deployment",
    ),
];

/// The [`RULES`] row of a rule id (`L001` … `L015`), if it exists.
pub fn rule(id: &str) -> Option<(&'static str, Severity, &'static str)> {
    RULES.iter().copied().find(|(r, _, _)| *r == id)
}

/// One link-analysis finding.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable rule id, `L001` … `L015`.
    pub rule: &'static str,
    /// How bad it is (unchanged when accepted).
    pub severity: Severity,
    /// One line with the concrete numbers.
    pub message: String,
    /// Where in the plan to fix it.
    pub location: Location,
    /// One line saying what to change.
    pub fix: String,
    /// The reason from `links.accept` when the risk is consciously accepted.
    pub accepted: Option<String>,
}

/// Check every link rule on a plan.
///
/// `targets` and `table` are the plan's [`crate::targets::decompose`] and
/// [`crate::capacity::table`] results (L010 and L014 read the table's rows;
/// rows that are absent simply produce no finding). Findings are sorted by
/// rule, then line, then column. Path rules that need a topological order
/// (L004) are skipped when the dependency graph has a cycle (the validator
/// reports it); no input makes this function panic.
pub fn analyze(plan: &Plan, targets: &Targets, table: &CapacityTable) -> Vec<Finding> {
    let cx = Cx::new(plan, targets, table);
    let mut out = Vec::new();
    cx.edge_rules(&mut out);
    cx.retry_amplification(&mut out);
    cx.observability(&mut out);
    cx.partner_rules(&mut out);
    cx.hotspots(&mut out);
    cx.shared_services(&mut out);
    cx.single_instances(&mut out);
    cx.bottlenecks(&mut out);
    cx.test_traffic(&mut out);
    cx.emergency_plans(&mut out);
    cx.oncall_coverage(&mut out);
    cx.rate_limits(&mut out);
    cx.scale_targets(&mut out);
    for f in &mut out {
        if let Some(a) = plan.links.accept.iter().find(|a| {
            a.rule.eq_ignore_ascii_case(f.rule) && path_has_prefix(&f.location.path, &a.path)
        }) {
            f.accepted = Some(a.reason.clone());
        }
    }
    out.sort_by(|a, b| {
        (a.rule, a.location.line, a.location.column).cmp(&(
            b.rule,
            b.location.line,
            b.location.column,
        ))
    });
    out
}

/// Whether the YAML path `path` lies at or under `prefix` (segment-wise:
/// `services.a` covers `services.a.timeout_ms` and `services.a[0]` but not
/// `services.ab`; an empty prefix covers everything).
fn path_has_prefix(path: &str, prefix: &str) -> bool {
    if prefix.is_empty() || path == prefix {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.starts_with('.') || rest.starts_with('[') || prefix.ends_with('.'),
        None => false,
    }
}

/// A service reached by a breadth-first search from the entries.
#[derive(Debug, Clone, Copy)]
struct Reached {
    /// The caller it was first reached from (`None` at an entry's service).
    caller: Option<usize>,
    /// Index in `plan.entries` of the entry the path starts at.
    entry: usize,
    /// Edges from the entry's service.
    hops: u32,
}

/// One retry product at a service, for L004, and how it was reached.
#[derive(Debug, Clone, Copy)]
struct Amp {
    /// Product of `retries + 1` along the path.
    product: u64,
    /// `(caller, edge index, product at the caller)`; `None` at an entry's service.
    from: Option<(usize, usize, u64)>,
    /// Index in `plan.entries` of the entry the path starts at.
    entry: usize,
    /// Edges from the entry's service.
    hops: u32,
}

/// Paths of up to this many services are named in full; longer ones show
/// the entry's service, how many are left out, and the last [`PATH_TAIL`].
const PATH_SHOWN: usize = 8;
/// Services shown at the end of a shortened path.
const PATH_TAIL: usize = 5;

/// Most distinct retry products kept per service (only reached by absurd
/// `max_retry_amplification` limits).
const MAX_PRODUCTS: usize = 4096;

/// Shared, precomputed views of the plan.
struct Cx<'p> {
    plan: &'p Plan,
    graph: Graph<'p>,
    /// Per entry: the index of its service, when it exists.
    entry_service: Vec<Option<usize>>,
    /// Per service: indices of the entries it serves.
    entries_of: Vec<Vec<usize>>,
    /// Per service: its business line.
    line_of: Vec<Option<&'p str>>,
    /// BFS tree from the entries' services over every edge.
    reach_all: Vec<Option<Reached>>,
    /// BFS tree from the entries' services over strong edges.
    reach_strong: Vec<Option<Reached>>,
    entry_targets: HashMap<&'p str, f64>,
    entry_rows: HashMap<&'p str, &'p Row>,
    service_rows: HashMap<&'p str, &'p Row>,
    partner_rows: HashMap<&'p str, &'p Row>,
}

impl<'p> Cx<'p> {
    fn new(plan: &'p Plan, targets: &'p Targets, table: &'p CapacityTable) -> Self {
        let graph = Graph::new(&plan.services);
        let n = graph.ids.len();
        let mut entries_of = vec![Vec::new(); n];
        let entry_service: Vec<Option<usize>> = plan
            .entries
            .values()
            .enumerate()
            .map(|(ei, e)| {
                let s = graph.index.get(e.service.as_str()).copied();
                if let Some(s) = s {
                    entries_of[s].push(ei);
                }
                s
            })
            .collect();
        let mut listed: HashMap<&str, &str> = HashMap::new();
        for (lid, line) in &plan.organization.business_lines {
            for s in &line.services {
                listed.entry(s.as_str()).or_insert(lid.as_str());
            }
        }
        let line_of = plan
            .services
            .iter()
            .map(|(id, s)| {
                s.line
                    .as_deref()
                    .or_else(|| listed.get(id.as_str()).copied())
            })
            .collect();
        let rows = |rows: &'p [Row]| -> HashMap<&'p str, &'p Row> {
            let mut m = HashMap::with_capacity(rows.len());
            for r in rows {
                m.entry(r.id.as_str()).or_insert(r);
            }
            m
        };
        let mut cx = Cx {
            plan,
            graph,
            entry_service,
            entries_of,
            line_of,
            reach_all: Vec::new(),
            reach_strong: Vec::new(),
            entry_targets: targets
                .entries
                .iter()
                .map(|e| (e.id.as_str(), e.target_qps))
                .collect(),
            entry_rows: rows(&table.entries),
            service_rows: rows(&table.services),
            partner_rows: rows(&table.partners),
        };
        cx.reach_all = cx.reach(false);
        cx.reach_strong = cx.reach(true);
        cx
    }

    fn service_edges(&self, u: usize) -> &'p [Edge] {
        self.plan
            .services
            .get_index(u)
            .map_or(&[], |(_, s)| s.dependencies.as_slice())
    }

    /// Breadth-first search from every entry's service (in entry order);
    /// works on cyclic graphs too.
    fn reach(&self, strong_only: bool) -> Vec<Option<Reached>> {
        let mut tree: Vec<Option<Reached>> = vec![None; self.graph.ids.len()];
        let mut queue = VecDeque::new();
        for (ei, s) in self.entry_service.iter().enumerate() {
            if let Some(s) = *s
                && tree[s].is_none()
            {
                tree[s] = Some(Reached {
                    caller: None,
                    entry: ei,
                    hops: 0,
                });
                queue.push_back(s);
            }
        }
        while let Some(u) = queue.pop_front() {
            let Some(r) = tree[u] else { continue };
            let edges = self.service_edges(u);
            for &(v, e) in &self.graph.out[u] {
                let strong = edges.get(e).is_some_and(|e| e.strength == Strength::Strong);
                if (strong || !strong_only) && tree[v].is_none() {
                    tree[v] = Some(Reached {
                        caller: Some(u),
                        entry: r.entry,
                        hops: r.hops.saturating_add(1),
                    });
                    queue.push_back(v);
                }
            }
        }
        tree
    }

    /// `entry e → a → b → u` along a BFS tree (shortened when long).
    fn path_to(&self, tree: &[Option<Reached>], u: usize) -> String {
        let Some(r) = tree.get(u).copied().flatten() else {
            return self.graph.ids[u].to_string();
        };
        let total = r.hops as usize + 1;
        let want = if total <= PATH_SHOWN {
            total
        } else {
            PATH_TAIL
        };
        let mut nodes = vec![self.graph.ids[u]];
        let mut cur = r;
        while nodes.len() < want {
            let Some(c) = cur.caller else { break };
            nodes.push(self.graph.ids[c]);
            match tree.get(c).copied().flatten() {
                Some(next) => cur = next,
                None => break,
            }
        }
        nodes.reverse();
        self.render_path(r.entry, total, &nodes)
    }

    /// `entry e → first → … (k more) → tail…` for a path of `total`
    /// services ending with `tail`.
    fn render_path(&self, entry: usize, total: usize, tail: &[&str]) -> String {
        let mut s = String::new();
        let entry = self.plan.entries.get_index(entry);
        if let Some((eid, _)) = entry {
            s.push_str("entry ");
            s.push_str(eid);
            s.push_str(" → ");
        }
        if total > tail.len() {
            if let Some((_, e)) = entry {
                s.push_str(&e.service);
                s.push_str(" → ");
            }
            let skipped = total - tail.len() - 1;
            if skipped > 0 {
                s.push_str(&format!("… ({skipped} more) → "));
            }
        }
        s.push_str(&tail.join(" → "));
        s
    }

    /// L001 strong edge without timeout, L002 weak edge without fallback or
    /// breaker, L003 timeout budget inversion.
    fn edge_rules(&self, out: &mut Vec<Finding>) {
        for (sid, s) in &self.plan.services {
            for e in &s.dependencies {
                let name = format!("{sid} → {}", e.to);
                if e.strength == Strength::Strong && e.timeout_ms.is_none() {
                    let fix = match s.timeout_ms {
                        Some(t) => format!(
                            "set timeout_ms on the edge, with timeout_ms × (retries + 1) below {sid}'s own {} ms",
                            num(t)
                        ),
                        None => "set timeout_ms on the edge, a little above the callee's p99"
                            .to_string(),
                    };
                    out.push(finding(
                        "L001",
                        Severity::Error,
                        format!(
                            "strong dependency {name} has no timeout_ms: a hanging {} hangs {sid}",
                            e.to
                        ),
                        e.at.location(),
                        fix,
                    ));
                }
                if e.strength == Strength::Weak && e.fallback.is_none() && e.breaker.is_none() {
                    out.push(finding(
                        "L002",
                        Severity::Warning,
                        format!(
                            "weak dependency {name} has neither fallback nor breaker: its failure still fails or slows {sid}"
                        ),
                        e.at.location(),
                        format!(
                            "add `fallback: \"…\"` (what {sid} does without {}) or a `breaker: {{error_ratio: 0.5}}`",
                            e.to
                        ),
                    ));
                }
                if let (Some(t), Some(own)) = (e.timeout_ms, s.timeout_ms) {
                    let attempts = f64::from(e.retries) + 1.0;
                    let total = t * attempts;
                    if total >= own {
                        out.push(finding(
                            "L003",
                            Severity::Error,
                            format!(
                                "{name} may wait {} ms × {} attempt(s) = {} ms, not below {sid}'s own timeout_ms {} ms: {sid} times out before its call does",
                                num(t),
                                num(attempts),
                                num(total),
                                num(own)
                            ),
                            e.at.field("timeout_ms"),
                            format!(
                                "lower the edge timeout_ms below {} ms or cut retries so timeout_ms × (retries + 1) < {} ms",
                                num(own / attempts),
                                num(own)
                            ),
                        ));
                    }
                }
            }
        }
    }

    /// L004: the product of `retries + 1` along a path from an entry's
    /// service above `links.max_retry_amplification`, reported at the edge
    /// where some path first crosses the limit.
    ///
    /// Per service the set of distinct products (≤ the limit) of paths that
    /// reach it is kept, so an edge is reported exactly when some path
    /// crosses the limit on it, whatever other paths do.
    fn retry_amplification(&self, out: &mut Vec<Finding>) {
        let Ok(order) = self.graph.topo_order() else {
            return;
        };
        let limit = self.plan.links.max_retry_amplification;
        if limit.is_nan() {
            return;
        }
        let mut sets: Vec<Vec<Amp>> = vec![Vec::new(); self.graph.ids.len()];
        for (ei, s) in self.entry_service.iter().enumerate() {
            if let Some(set) = s.and_then(|s| sets.get_mut(s))
                && set.is_empty()
            {
                set.push(Amp {
                    product: 1,
                    from: None,
                    entry: ei,
                    hops: 0,
                });
            }
        }
        for &u in &order {
            if sets[u].is_empty() {
                continue;
            }
            for (ei, e) in self.service_edges(u).iter().enumerate() {
                let factor = u64::from(e.retries) + 1;
                let callee = self.graph.index.get(e.to.as_str()).copied();
                let mut worst: Option<u64> = None;
                let mut next = Vec::new();
                for a in &sets[u] {
                    let q = a.product.saturating_mul(factor);
                    if q as f64 > limit {
                        worst = worst.max(Some(a.product));
                    } else if callee.is_some() {
                        next.push(Amp {
                            product: q,
                            from: Some((u, ei, a.product)),
                            entry: a.entry,
                            hops: a.hops.saturating_add(1),
                        });
                    }
                }
                if let Some(p) = worst {
                    let (path, factors) = self.amplification_path(&sets, u, p);
                    let total = p.saturating_mul(factor);
                    let attempts = match factors {
                        Some(f) => format!(
                            " (attempts {})",
                            f.iter()
                                .chain(std::iter::once(&factor))
                                .map(u64::to_string)
                                .collect::<Vec<_>>()
                                .join(" × ")
                        ),
                        None => String::new(),
                    };
                    out.push(finding(
                        "L004",
                        Severity::Warning,
                        format!(
                            "retries multiply to {total}× (limit {}) on {path} → {}{attempts}",
                            num(limit),
                            e.to
                        ),
                        e.at.field("retries"),
                        format!(
                            "retry at one layer only: lower retries on {} → {} or upstream so the product stays ≤ {}",
                            self.graph.ids[u],
                            e.to,
                            num(limit)
                        ),
                    ));
                }
                if let Some(v) = callee {
                    if v == u {
                        continue;
                    }
                    for a in next {
                        let set = &mut sets[v];
                        if set.len() < MAX_PRODUCTS && !set.iter().any(|b| b.product == a.product) {
                            set.push(a);
                        }
                    }
                }
            }
        }
    }

    /// The path behind product `p` at service `u` (shortened when long) and,
    /// when shown in full, the attempts of each edge on it.
    fn amplification_path(
        &self,
        sets: &[Vec<Amp>],
        u: usize,
        p: u64,
    ) -> (String, Option<Vec<u64>>) {
        let find = |v: usize, product: u64| {
            sets.get(v)
                .and_then(|s| s.iter().find(|a| a.product == product))
                .copied()
        };
        let Some(start) = find(u, p) else {
            return (self.graph.ids[u].to_string(), None);
        };
        let total = start.hops as usize + 1;
        let full = total <= PATH_SHOWN;
        let want = if full { total } else { PATH_TAIL };
        let mut nodes = vec![self.graph.ids[u]];
        let mut factors = Vec::new();
        let mut cur = start;
        while nodes.len() < want {
            let Some((from, edge, product)) = cur.from else {
                break;
            };
            let retries = self.service_edges(from).get(edge).map_or(0, |e| e.retries);
            factors.push(u64::from(retries) + 1);
            nodes.push(self.graph.ids[from]);
            match find(from, product) {
                Some(a) => cur = a,
                None => break,
            }
        }
        nodes.reverse();
        factors.reverse();
        (
            self.render_path(start.entry, total, &nodes),
            full.then_some(factors),
        )
    }

    /// L005: entries and services without SLO, monitoring query or alert.
    fn observability(&self, out: &mut Vec<Finding>) {
        let m = &self.plan.monitoring;
        let alerted: HashSet<&str> = m.alerts.values().map(|a| a.target.as_str()).collect();
        let check = |kind: QueryKind,
                     id: &str,
                     slo: Option<&Slo>,
                     alert: bool,
                     severity: Severity,
                     location: Location,
                     out: &mut Vec<Finding>| {
            let mut missing = Vec::new();
            let mut fixes = Vec::new();
            if !slo.is_some_and(|s| s.p99_ms.is_some() || s.error_rate.is_some()) {
                missing.push("no SLO");
                fixes.push("add `slo: {p99_ms, error_rate}`".to_string());
            }
            if !m.covers(kind, id) {
                missing.push("no monitoring query");
                fixes.push(format!(
                    "add `monitoring.queries.{id}` or `monitoring.templates.{kind}` with qps/p99_ms/error_rate PromQL, or a metric source (`monitoring.prometheus.url` or `monitoring.scrape`) for the sidecar defaults",
                    kind = kind.as_str()
                ));
            }
            if !alert {
                missing.push("no alert");
                fixes.push(format!(
                    "add an alert in `monitoring.alerts` with `target: {id}`"
                ));
            }
            if !missing.is_empty() {
                out.push(finding(
                    "L005",
                    severity,
                    format!("{} {id} has {}", kind.as_str(), list_and(&missing)),
                    location,
                    fixes.join("; "),
                ));
            }
        };
        for (id, e) in &self.plan.entries {
            check(
                QueryKind::Entry,
                id,
                e.slo.as_ref(),
                alerted.contains(id.as_str()),
                Severity::Warning,
                e.at.location(),
                out,
            );
        }
        for (u, (id, s)) in self.plan.services.iter().enumerate() {
            let alert = alerted.contains(id.as_str())
                || self.entries_of.get(u).is_some_and(|es| {
                    es.iter().any(|&ei| {
                        self.plan
                            .entries
                            .get_index(ei)
                            .is_some_and(|(eid, _)| alerted.contains(eid.as_str()))
                    })
                });
            check(
                QueryKind::Service,
                id,
                s.slo.as_ref(),
                alert,
                Severity::Info,
                s.at.location(),
                out,
            );
        }
    }

    /// L006: partners without fallback or SLA.
    fn partner_rules(&self, out: &mut Vec<Finding>) {
        for (id, p) in &self.plan.partners {
            let mut missing = Vec::new();
            let mut fixes = Vec::new();
            if p.fallback.is_none() {
                missing.push("no fallback");
                fixes.push(format!(
                    "add `fallback: \"…\"` (what we do when {id} fails)"
                ));
            }
            if !p
                .sla
                .is_some_and(|s| s.p99_ms.is_some() || s.error_rate.is_some())
            {
                missing.push("no SLA");
                fixes.push("add `sla: {p99_ms, error_rate}` from the contract".to_string());
            }
            if !missing.is_empty() {
                out.push(finding(
                    "L006",
                    Severity::Warning,
                    format!("partner {id} has {}", list_and(&missing)),
                    p.at.location(),
                    fixes.join("; "),
                ));
            }
        }
    }

    /// L007: hotspot entries (burst > 1) with neither a rate limit nor an
    /// emergency plan acting on them.
    fn hotspots(&self, out: &mut Vec<Finding>) {
        let mut covered: HashSet<&str> = HashSet::new();
        for ep in self.plan.emergency_plans.values() {
            covered.extend(ep.actions.iter().filter_map(|a| a.target()));
            match &ep.trigger {
                Some(Trigger::Metric { target, .. }) => {
                    covered.insert(target.as_str());
                }
                Some(Trigger::Alert(a)) => {
                    if let Some(alert) = self.plan.monitoring.alerts.get(a) {
                        covered.insert(alert.target.as_str());
                    }
                }
                Some(Trigger::Manual) | None => {}
            }
        }
        for (id, e) in &self.plan.entries {
            if e.burst > 1.0 && e.rate_limit.is_none() && !covered.contains(id.as_str()) {
                let target = match self.entry_targets.get(id.as_str()) {
                    Some(t) => format!(" (target {} QPS including the burst)", num(*t)),
                    None => String::new(),
                };
                out.push(finding(
                    "L007",
                    Severity::Error,
                    format!(
                        "hotspot entry {id} (burst {}×){target} has no rate_limit and no emergency plan acting on it",
                        num(e.burst)
                    ),
                    e.at.field("burst"),
                    format!(
                        "set `rate_limit` on {id} (at most its capacity) or add an emergency plan with `{{kind: rate_limit, entry: {id}}}`"
                    ),
                ));
            }
        }
    }

    /// L008: services called from two or more business lines whose incoming
    /// edges from other lines lack `isolation`.
    fn shared_services(&self, out: &mut Vec<Finding>) {
        let n = self.graph.ids.len();
        let mut incoming: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
        for (u, outs) in self.graph.out.iter().enumerate() {
            for &(v, e) in outs {
                incoming[v].push((u, e));
            }
        }
        for (v, (id, s)) in self.plan.services.iter().enumerate() {
            let own = self.line_of.get(v).copied().flatten();
            let mut lines: Vec<&str> = incoming[v]
                .iter()
                .filter_map(|&(u, _)| self.line_of.get(u).copied().flatten())
                .collect();
            if let Some(own) = own
                && !self.entries_of[v].is_empty()
            {
                lines.push(own);
            }
            lines.sort_unstable();
            lines.dedup();
            if lines.len() < 2 {
                continue;
            }
            let bare: Vec<String> = incoming[v]
                .iter()
                .filter(|&&(u, e)| {
                    let line = self.line_of.get(u).copied().flatten();
                    line.is_some()
                        && line != own
                        && self
                            .service_edges(u)
                            .get(e)
                            .is_some_and(|e| e.isolation.is_none())
                })
                .map(|&(u, _)| format!("{} → {id}", self.graph.ids[u]))
                .collect();
            if bare.is_empty() {
                continue;
            }
            let shown = list_some(&bare, 5);
            out.push(finding(
                "L008",
                Severity::Warning,
                format!(
                    "shared service {id} is called from lines {}; edges from other lines without isolation: {shown}",
                    lines.join(", ")
                ),
                s.at.location(),
                format!(
                    "add `isolation: {{qps: …}}` on {shown} so one line cannot starve the others at {id}"
                ),
            ));
        }
    }

    /// L009: single-instance services reached from an entry (error on a
    /// strong path, warning when only weak edges reach them).
    fn single_instances(&self, out: &mut Vec<Finding>) {
        for (u, (id, s)) in self.plan.services.iter().enumerate() {
            if s.instances != Some(1) {
                continue;
            }
            let (severity, path, how) = if self.reach_strong.get(u).is_some_and(Option::is_some) {
                (
                    Severity::Error,
                    self.path_to(&self.reach_strong, u),
                    "on the strong path",
                )
            } else if self.reach_all.get(u).is_some_and(Option::is_some) {
                (
                    Severity::Warning,
                    self.path_to(&self.reach_all, u),
                    "reachable (through weak edges) on",
                )
            } else {
                continue;
            };
            out.push(finding(
                "L009",
                severity,
                format!("service {id} runs a single instance {how} {path}: one crash fails it"),
                s.at.field("instances"),
                format!(
                    "run {id} on at least 2 instances (in different zones), or make the edge to it weak with a fallback"
                ),
            ));
        }
    }

    /// L010: services and partners on a strong path whose water level is
    /// above `critical_level`, and entries over it through a bottleneck not
    /// reported already.
    fn bottlenecks(&self, out: &mut Vec<Finding>) {
        let critical = self.plan.capacity.critical_level;
        let over = |r: &Row| r.water_level.is_some_and(|l| l > critical);
        let mut reported: HashSet<&str> = HashSet::new();
        for (u, (id, s)) in self.plan.services.iter().enumerate() {
            if !self.reach_strong.get(u).is_some_and(Option::is_some) {
                continue;
            }
            let Some(row) = self.service_rows.get(id.as_str()).copied() else {
                continue;
            };
            if !over(row) {
                continue;
            }
            reported.insert(id.as_str());
            let scale = match row.instances_needed {
                Some(k) => format!("scale {id} to at least {k} instances"),
                None => format!("add capacity to {id}"),
            };
            out.push(finding(
                "L010",
                Severity::Error,
                format!(
                    "service {id} water level {} above critical {} ({}) on strong path {}",
                    level(row.water_level),
                    num(critical),
                    load(row),
                    self.path_to(&self.reach_strong, u)
                ),
                s.at.field("instances"),
                format!("{scale}, or rate-limit or degrade the entries that reach it"),
            ));
        }
        // Partners called over a strong edge from a strongly reached service.
        let mut partner_via: HashMap<&str, usize> = HashMap::new();
        for u in 0..self.graph.ids.len() {
            if !self.reach_strong.get(u).is_some_and(Option::is_some) {
                continue;
            }
            for e in self.service_edges(u) {
                if e.strength == Strength::Strong && self.plan.partners.contains_key(&e.to) {
                    partner_via.entry(e.to.as_str()).or_insert(u);
                }
            }
        }
        for (id, p) in &self.plan.partners {
            let Some(&u) = partner_via.get(id.as_str()) else {
                continue;
            };
            let Some(row) = self.partner_rows.get(id.as_str()).copied() else {
                continue;
            };
            if !over(row) {
                continue;
            }
            reported.insert(id.as_str());
            out.push(finding(
                "L010",
                Severity::Error,
                format!(
                    "partner {id} water level {} above critical {} ({}) on strong path {} → {id}",
                    level(row.water_level),
                    num(critical),
                    load(row),
                    self.path_to(&self.reach_strong, u)
                ),
                p.at.field("quota_qps"),
                format!(
                    "raise the quota with {id}, or make the call weak with a fallback / cache so it no longer bounds the entries"
                ),
            ));
        }
        for (id, e) in &self.plan.entries {
            let Some(row) = self.entry_rows.get(id.as_str()).copied() else {
                continue;
            };
            if !over(row)
                || row
                    .bottleneck
                    .as_deref()
                    .is_some_and(|b| reported.contains(b))
            {
                continue;
            }
            let via = match &row.bottleneck {
                Some(b) => format!(", bottleneck {b}"),
                None => String::new(),
            };
            out.push(finding(
                "L010",
                Severity::Error,
                format!(
                    "entry {id} water level {} above critical {} ({}{via})",
                    level(row.water_level),
                    num(critical),
                    load(row)
                ),
                e.at.location(),
                match &row.bottleneck {
                    Some(b) => format!(
                        "add capacity to {b}, or cut {id}'s traffic with a rate limit or degradation"
                    ),
                    None => format!(
                        "add capacity behind {id}, or cut its traffic with a rate limit or degradation"
                    ),
                },
            ));
        }
    }

    /// L011: edges from services that entry traffic reaches to partners
    /// that are not `shadow_safe`.
    fn test_traffic(&self, out: &mut Vec<Finding>) {
        for (u, (sid, _)) in self.plan.services.iter().enumerate() {
            if !self.reach_all.get(u).is_some_and(Option::is_some) {
                continue;
            }
            for e in self.service_edges(u) {
                let Some(p) = self.plan.partners.get(&e.to) else {
                    continue;
                };
                if p.shadow_safe {
                    continue;
                }
                out.push(finding(
                    "L011",
                    Severity::Warning,
                    format!(
                        "test traffic can reach partner {}, which is not shadow_safe, over {} → {}",
                        e.to,
                        self.path_to(&self.reach_all, u),
                        e.to
                    ),
                    e.at.location(),
                    format!(
                        "confirm with {} that it accepts tagged test traffic and set `shadow_safe: true`, or stub / fall back test traffic on {sid} → {}",
                        e.to, e.to
                    ),
                ));
            }
        }
    }

    /// L012: emergency plans missing owner, trigger or expected time, or
    /// never drilled.
    fn emergency_plans(&self, out: &mut Vec<Finding>) {
        for (id, ep) in &self.plan.emergency_plans {
            let mut missing = Vec::new();
            let mut fixes = Vec::new();
            if ep.owner.is_none() {
                missing.push("no owner");
                fixes.push("name an `owner`");
            }
            if ep.trigger.is_none() {
                missing.push("no trigger");
                fixes.push("write a `trigger` (manual, an alert or a metric condition)");
            }
            if ep.expected_minutes.is_none() {
                missing.push("no expected_minutes");
                fixes.push("state `expected_minutes`");
            }
            let scheduled;
            if ep.drills.is_empty() {
                missing.push("no drills");
                fixes.push(
                    match self
                        .plan
                        .rehearsals
                        .iter()
                        .find(|(_, r)| r.drills.iter().any(|d| d == id))
                    {
                        Some((rid, _)) => {
                            scheduled =
                                format!("record the drill run in rehearsal {rid} under `drills`");
                            scheduled.as_str()
                        }
                        None => "drill it in a rehearsal and record it under `drills`",
                    },
                );
            }
            if !missing.is_empty() {
                out.push(finding(
                    "L012",
                    Severity::Warning,
                    format!("emergency plan {id} has {}", list_and(&missing)),
                    ep.at.location(),
                    fixes.join("; "),
                ));
            }
        }
    }

    /// L013: the peak phase (error), the freeze phase and freeze windows
    /// (warning) not covered by the on-call rota, per business line.
    fn oncall_coverage(&self, out: &mut Vec<Finding>) {
        let plan = self.plan;
        let mut windows: Vec<(String, Severity, &Window, Location)> = Vec::new();
        if let Some(w) = plan.event.phases.get("peak") {
            windows.push((
                "peak phase".to_string(),
                Severity::Error,
                w,
                w.at.location(),
            ));
        }
        if let Some(w) = plan.event.phases.get("freeze") {
            windows.push((
                "freeze phase".to_string(),
                Severity::Warning,
                w,
                w.at.location(),
            ));
        }
        for (id, fw) in &plan.freeze.windows {
            windows.push((
                format!("freeze window {id}"),
                Severity::Warning,
                &fw.window,
                fw.at.location(),
            ));
        }
        // `oncall::lines` gives the pseudo line `all` when the plan has none;
        // findings then name no line.
        let lines: Vec<Option<String>> = crate::oncall::lines(plan)
            .into_iter()
            .map(|(id, _)| (id != crate::oncall::ALL_LINES).then_some(id))
            .collect();
        let tz = &plan.event.tz;
        // A freeze window that repeats another window's span is checked once.
        let mut seen: Vec<Interval> = Vec::new();
        for (what, severity, w, location) in windows {
            if seen.contains(&(w.start, w.end)) {
                continue;
            }
            seen.push((w.start, w.end));
            // Lines with the same gaps make one finding.
            let mut groups: Vec<(Vec<Interval>, Vec<&str>)> = Vec::new();
            for line in &lines {
                let line_id = line.as_deref().unwrap_or(crate::oncall::ALL_LINES);
                let shifts: Vec<_> = plan
                    .oncall
                    .rota
                    .iter()
                    .filter(|s| crate::oncall::covers(s, line_id))
                    .map(|s| (s.window.start, s.window.end))
                    .collect();
                let gaps = crate::oncall::uncovered(w.start, w.end, &shifts);
                if gaps.is_empty() {
                    continue;
                }
                match groups.iter_mut().find(|(g, _)| *g == gaps) {
                    Some((_, ls)) => ls.extend(line.as_deref()),
                    None => groups.push((gaps, line.as_deref().into_iter().collect())),
                }
            }
            for (gaps, group_lines) in groups {
                let total: i64 = gaps
                    .iter()
                    .map(|(a, b)| b.as_second().saturating_sub(a.as_second()))
                    .sum();
                let shown: Vec<String> = gaps
                    .iter()
                    .map(|&(a, b)| {
                        format!(
                            "{} – {}",
                            crate::time::format_time(a, tz),
                            crate::time::format_time(b, tz)
                        )
                    })
                    .collect();
                let who = match group_lines.as_slice() {
                    [] => String::new(),
                    [l] => format!(" for line {l}"),
                    ls => format!(" for lines {}", ls.join(", ")),
                };
                let shown = list_some(&shown, 3);
                out.push(finding(
                    "L013",
                    severity,
                    format!(
                        "{what} has no on-call{who} for {} in {} gap(s): {shown}",
                        span(total),
                        gaps.len()
                    ),
                    location.clone(),
                    format!("add `oncall.rota` shifts{who} covering {shown}"),
                ));
            }
        }
    }

    /// L015: `scale` actions on services that say nothing of where they run
    /// in Kubernetes: the run cannot execute them.
    fn scale_targets(&self, out: &mut Vec<Finding>) {
        for (id, ep) in &self.plan.emergency_plans {
            for (i, a) in ep.actions.iter().enumerate() {
                let Action::Scale { service, instances } = a else {
                    continue;
                };
                let Some(s) = self.plan.services.get(service) else {
                    continue;
                };
                if s.kubernetes.is_some() {
                    continue;
                }
                let location = ep
                    .action_at
                    .get(i)
                    .map_or_else(|| ep.at.field("actions"), |at| at.field("service"));
                out.push(finding(
                    "L015",
                    Severity::Warning,
                    format!(
                        "emergency plan {id} scales {service} to {instances} instances, but {service} has no `kubernetes` deployment: the action cannot execute"
                    ),
                    location,
                    format!(
                        "add `kubernetes: {{namespace: <namespace>, deployment: {service}}}` to services.{service}"
                    ),
                ));
            }
        }
    }

    /// L014: entry rate limits above the entry's effective capacity.
    fn rate_limits(&self, out: &mut Vec<Finding>) {
        for (id, e) in &self.plan.entries {
            let Some(limit) = e.rate_limit else {
                continue;
            };
            let Some(row) = self.entry_rows.get(id.as_str()).copied() else {
                continue;
            };
            let Some(cap) = row.capacity_qps else {
                continue;
            };
            let source = match row.capacity_source {
                CapacitySource::Measured => "measured",
                CapacitySource::Declared => "declared",
                CapacitySource::Unknown => continue,
            };
            if limit <= cap {
                continue;
            }
            let via = match &row.bottleneck {
                Some(b) => format!(", bottleneck {b}"),
                None => String::new(),
            };
            let safe = cap * self.plan.capacity.critical_level;
            out.push(finding(
                "L014",
                Severity::Warning,
                format!(
                    "entry {id} rate_limit {} QPS is above its {source} capacity {} QPS{via}: the limit protects nothing",
                    num(limit),
                    num(cap)
                ),
                e.at.field("rate_limit"),
                format!(
                    "lower rate_limit to at most {} QPS (e.g. {} = capacity × critical_level), or add capacity first",
                    num(cap),
                    num(safe)
                ),
            ));
        }
    }
}

fn finding(
    rule: &'static str,
    severity: Severity,
    message: String,
    location: Location,
    fix: String,
) -> Finding {
    Finding {
        rule,
        severity,
        message,
        location,
        fix,
        accepted: None,
    }
}

/// A number for messages: integers without decimals, others with up to two.
fn num(x: f64) -> String {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.0}")
    } else if x.is_finite() {
        let s = format!("{x:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        x.to_string()
    }
}

/// A water level for messages.
fn level(l: Option<f64>) -> String {
    match l {
        Some(l) if l.is_finite() => format!("{l:.2}"),
        Some(l) => l.to_string(),
        None => "unknown".to_string(),
    }
}

/// `target N QPS vs declared capacity M QPS`.
fn load(r: &Row) -> String {
    let source = match r.capacity_source {
        CapacitySource::Measured => "measured ",
        CapacitySource::Declared => "declared ",
        CapacitySource::Unknown => "",
    };
    match r.capacity_qps {
        Some(c) => format!(
            "target {} QPS vs {source}capacity {} QPS",
            num(r.target_qps),
            num(c)
        ),
        None => format!("target {} QPS", num(r.target_qps)),
    }
}

/// `a`, `a and b`, `a, b and c`.
fn list_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The first `max` items joined by `, `, then `and N more`.
fn list_some(items: &[String], max: usize) -> String {
    if items.len() <= max {
        items.join(", ")
    } else {
        format!("{} and {} more", items[..max].join(", "), items.len() - max)
    }
}

/// Seconds as `2h 30m`, `45m`, `30s`.
fn span(secs: i64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h}h"));
    }
    if m > 0 {
        parts.push(format!("{m}m"));
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s}s"));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use indexmap::IndexMap;

    use super::*;
    use crate::capacity::Status;
    use crate::diag::{At, Loc};
    use crate::model::{
        Acceptance, Action, Alert, AlertMetric, Approval, Breaker, BusinessLine, Drill,
        EmergencyPlan, Entry, FreezeWindow, Isolation, Kubernetes, Monitoring, Partner, PlanPhase,
        Queries, Service, Shift,
    };

    fn at(path: &str, line: u32, fields: &[&str]) -> At {
        At {
            path: path.to_string(),
            loc: Loc::new(line, 3),
            fields: fields
                .iter()
                .zip(10u32..)
                .map(|(f, c)| (f.to_string(), Loc::new(line, c)))
                .collect(),
        }
    }

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().expect("timestamp")
    }

    fn window(path: &str, line: u32, start: &str, end: &str) -> Window {
        Window {
            start: ts(start),
            end: ts(end),
            at: at(path, line, &["start", "end"]),
        }
    }

    fn slo() -> Option<Slo> {
        Some(Slo {
            p99_ms: Some(300.0),
            error_rate: Some(0.001),
        })
    }

    /// A robust edge: timeout, no retries, fallback and breaker.
    fn edge(from: &str, i: usize, to: &str, strength: Strength, line: u32) -> Edge {
        Edge {
            to: to.to_string(),
            strength,
            calls: 1.0,
            timeout_ms: Some(100.0),
            retries: 0,
            fallback: Some("skip".to_string()),
            breaker: Some(Breaker::default()),
            isolation: None,
            at: at(
                &format!("services.{from}.dependencies[{i}]"),
                line,
                &["to", "timeout_ms", "retries"],
            ),
        }
    }

    fn service(id: &str, line: Option<&str>, instances: u32, at_line: u32) -> Service {
        Service {
            line: line.map(str::to_string),
            instances: Some(instances),
            capacity_per_instance: Some(100.0),
            timeout_ms: Some(1000.0),
            slo: slo(),
            at: at(
                &format!("services.{id}"),
                at_line,
                &["line", "instances", "timeout_ms"],
            ),
            ..Service::default()
        }
    }

    fn queries() -> Queries {
        Queries {
            qps: Some("sum(rate(x[1m]))".to_string()),
            ..Queries::default()
        }
    }

    fn alert(target: &str) -> Alert {
        Alert {
            target: target.to_string(),
            metric: AlertMetric::ErrorRate,
            above: 0.01,
            for_seconds: 60.0,
            query: None,
            severity: None,
            at: At::default(),
        }
    }

    fn shift(lines: &[&str], start: &str, end: &str) -> Shift {
        Shift {
            lines: lines.iter().map(|l| l.to_string()).collect(),
            window: window("oncall.rota[0]", 90, start, end),
            primary: "ann".to_string(),
            secondary: None,
            at: At::default(),
        }
    }

    fn complete_plan() -> EmergencyPlan {
        EmergencyPlan {
            name: None,
            phase: PlanPhase::During,
            line: None,
            trigger: Some(Trigger::Manual),
            actions: vec![Action::Scale {
                service: "db".to_string(),
                instances: 6,
            }],
            impact: None,
            owner: Some("ann".to_string()),
            expected_minutes: Some(5.0),
            approval: Approval::None,
            action_at: Vec::new(),
            trigger_at: None,
            drills: vec![Drill {
                at_time: ts("2026-09-20T10:00:00Z"),
                minutes: Some(4.0),
                passed: true,
                notes: None,
                at: At::default(),
            }],
            drill: None,
            at: at("emergency_plans.scale-db", 80, &["owner"]),
        }
    }

    /// A plan with no finding at all: entry `home` on `web`, which calls
    /// `db` (strong) and partner `pay` (weak); everything guarded.
    fn clean() -> Plan {
        let mut plan = Plan::default();
        plan.organization.business_lines.insert(
            "bike".to_string(),
            BusinessLine {
                name: "Bike".to_string(),
                ..BusinessLine::default()
            },
        );
        plan.entries.insert(
            "home".to_string(),
            Entry {
                service: "web".to_string(),
                slo: slo(),
                burst: 1.0,
                rate_limit: Some(1000.0),
                at: at("entries.home", 10, &["service", "burst", "rate_limit"]),
                ..Entry::default()
            },
        );
        let mut web = service("web", Some("bike"), 2, 20);
        web.dependencies = vec![
            edge("web", 0, "db", Strength::Strong, 25),
            edge("web", 1, "pay", Strength::Weak, 26),
        ];
        plan.services.insert("web".to_string(), web);
        let mut db = service("db", Some("bike"), 3, 30);
        db.kubernetes = Some(Kubernetes {
            namespace: "shop".to_string(),
            deployment: "db".to_string(),
            at: At::default(),
        });
        plan.services.insert("db".to_string(), db);
        plan.partners.insert(
            "pay".to_string(),
            Partner {
                sla: slo(),
                fallback: Some("queue".to_string()),
                shadow_safe: true,
                at: at("partners.pay", 40, &["sla", "shadow_safe", "quota_qps"]),
                ..Partner::default()
            },
        );
        for id in ["home", "web", "db"] {
            plan.monitoring.queries.insert(id.to_string(), queries());
        }
        // `web` has no alert of its own: the one on its entry counts.
        plan.monitoring
            .alerts
            .insert("home-errors".to_string(), alert("home"));
        plan.monitoring
            .alerts
            .insert("db-errors".to_string(), alert("db"));
        plan.emergency_plans
            .insert("scale-db".to_string(), complete_plan());
        plan.event.phases.insert(
            "freeze".to_string(),
            window(
                "event.phases.freeze",
                3,
                "2026-09-28T00:00:00Z",
                "2026-10-02T00:00:00Z",
            ),
        );
        plan.event.phases.insert(
            "peak".to_string(),
            window(
                "event.phases.peak",
                4,
                "2026-09-30T02:00:00Z",
                "2026-09-30T06:00:00Z",
            ),
        );
        plan.freeze.windows.insert(
            "golden-week".to_string(),
            FreezeWindow {
                window: window(
                    "freeze.windows.golden-week",
                    60,
                    "2026-09-29T00:00:00Z",
                    "2026-10-01T00:00:00Z",
                ),
                kinds: Vec::new(),
                services: Vec::new(),
                reason: None,
                at: at("freeze.windows.golden-week", 60, &["start", "end"]),
            },
        );
        plan.oncall.rota = vec![shift(&[], "2026-09-27T00:00:00Z", "2026-10-03T00:00:00Z")];
        plan
    }

    fn run(plan: &Plan) -> Vec<Finding> {
        analyze(plan, &Targets::default(), &CapacityTable::default())
    }

    fn of(findings: &[Finding], rule: &str) -> Vec<Finding> {
        findings
            .iter()
            .filter(|f| f.rule == rule)
            .cloned()
            .collect()
    }

    fn svc_mut<'a>(plan: &'a mut Plan, id: &str) -> &'a mut Service {
        plan.services.get_mut(id).expect("service")
    }

    fn row(id: &str, target: f64, capacity: f64, source: CapacitySource) -> Row {
        Row {
            id: id.to_string(),
            target_qps: target,
            capacity_qps: Some(capacity),
            capacity_source: source,
            water_level: Some(target / capacity),
            required_qps: target * 1.3,
            needs_scaling: target * 1.3 > capacity,
            instances: Some(3),
            instances_needed: Some(5),
            current_level: None,
            status: Status::Ok,
            bottleneck: None,
        }
    }

    #[test]
    fn clean_plan_has_no_findings() {
        let findings = run(&clean());
        assert!(findings.is_empty(), "{findings:#?}");
    }

    #[test]
    fn rules_table_is_complete() {
        for (i, (id, _, title)) in RULES.iter().enumerate() {
            assert_eq!(*id, format!("L{:03}", i + 1));
            assert!(!title.is_empty());
        }
        assert_eq!(rule("L009").map(|r| r.1), Some(Severity::Error));
        assert_eq!(rule("L015").map(|r| r.1), Some(Severity::Warning));
        assert!(rule("L016").is_none());
    }

    #[test]
    fn l001_strong_edge_without_timeout() {
        let mut plan = clean();
        svc_mut(&mut plan, "web").dependencies[0].timeout_ms = None;
        let f = of(&run(&plan), "L001");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].location.path, "services.web.dependencies[0]");
        assert_eq!(f[0].location.line, 25);
        assert!(f[0].message.contains("web → db"), "{}", f[0].message);
        assert!(f[0].fix.contains("1000 ms"), "{}", f[0].fix);
    }

    #[test]
    fn l001_ignores_weak_edges() {
        let mut plan = clean();
        svc_mut(&mut plan, "web").dependencies[1].timeout_ms = None;
        assert!(of(&run(&plan), "L001").is_empty());
    }

    #[test]
    fn l002_weak_edge_without_fallback_or_breaker() {
        let mut plan = clean();
        let e = &mut svc_mut(&mut plan, "web").dependencies[1];
        e.fallback = None;
        e.breaker = None;
        let f = of(&run(&plan), "L002");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].location.path, "services.web.dependencies[1]");
    }

    #[test]
    fn l002_breaker_alone_is_enough() {
        let mut plan = clean();
        svc_mut(&mut plan, "web").dependencies[1].fallback = None;
        assert!(of(&run(&plan), "L002").is_empty());
        // Strong edges without fallback are not L002's business.
        let mut plan = clean();
        let e = &mut svc_mut(&mut plan, "web").dependencies[0];
        e.fallback = None;
        e.breaker = None;
        assert!(of(&run(&plan), "L002").is_empty());
    }

    #[test]
    fn l003_timeout_budget_inversion() {
        let mut plan = clean();
        let e = &mut svc_mut(&mut plan, "web").dependencies[0];
        e.timeout_ms = Some(500.0);
        e.retries = 1;
        let f = of(&run(&plan), "L003");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(
            f[0].location.path,
            "services.web.dependencies[0].timeout_ms"
        );
        assert_eq!((f[0].location.line, f[0].location.column), (25, 11));
        assert!(
            f[0].message.contains("500 ms × 2 attempt(s) = 1000 ms"),
            "{}",
            f[0].message
        );
        assert!(f[0].fix.contains("below 500 ms"), "{}", f[0].fix);
    }

    #[test]
    fn l003_within_budget() {
        let mut plan = clean();
        let e = &mut svc_mut(&mut plan, "web").dependencies[0];
        e.timeout_ms = Some(400.0);
        e.retries = 1;
        assert!(of(&run(&plan), "L003").is_empty());
    }

    /// `web →(×2) db →(×2) cache`.
    fn retry_chain() -> Plan {
        let mut plan = clean();
        svc_mut(&mut plan, "web").dependencies[0].retries = 1;
        let mut cache = service("cache", Some("bike"), 2, 35);
        cache.slo = slo();
        plan.services.insert("cache".to_string(), cache);
        let mut e = edge("db", 0, "cache", Strength::Strong, 31);
        e.retries = 1;
        svc_mut(&mut plan, "db").dependencies.push(e);
        plan
    }

    #[test]
    fn l004_retry_amplification() {
        let plan = retry_chain();
        let f = of(&run(&plan), "L004");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].location.path, "services.db.dependencies[0].retries");
        assert!(
            f[0].message
                .contains("4× (limit 3) on entry home → web → db → cache (attempts 2 × 2)"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn l004_within_the_limit() {
        let mut plan = retry_chain();
        plan.links.max_retry_amplification = 4.0;
        assert!(of(&run(&plan), "L004").is_empty());
        let mut plan = retry_chain();
        svc_mut(&mut plan, "db").dependencies[0].retries = 0;
        assert!(of(&run(&plan), "L004").is_empty());
    }

    #[test]
    fn l004_reports_each_edge_once_where_the_limit_is_first_crossed() {
        // web →(×4) db is over on its own; db →(×2) cache is over through
        // web → db, but that path crossed already. A second entry straight
        // on db makes db → cache the first crossing for no path (1 × 2 ≤ 3).
        let mut plan = retry_chain();
        svc_mut(&mut plan, "web").dependencies[0].retries = 3;
        let mut second = plan.entries["home"].clone();
        second.service = "web".to_string();
        plan.entries.insert("home2".to_string(), second);
        let f = of(&run(&plan), "L004");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].location.path, "services.web.dependencies[0].retries");
        // A shorter path with a small product crosses at db → cache.
        let mut plan = retry_chain();
        svc_mut(&mut plan, "web").dependencies[0].retries = 0;
        let mut web_cache = edge("web", 2, "cache", Strength::Strong, 27);
        web_cache.retries = 0;
        svc_mut(&mut plan, "web").dependencies.push(web_cache);
        let mut side = edge("web", 3, "side", Strength::Strong, 28);
        side.retries = 1;
        svc_mut(&mut plan, "web").dependencies.push(side);
        let mut side_svc = service("side", Some("bike"), 2, 36);
        let mut side_db = edge("side", 0, "db", Strength::Strong, 37);
        side_db.retries = 0;
        side_svc.dependencies.push(side_db);
        plan.services.insert("side".to_string(), side_svc);
        svc_mut(&mut plan, "db").dependencies[0].retries = 1;
        // Paths to db: web → db (1), web → side → db (2); db → cache ×2
        // crosses 3 on the second.
        let f = of(&run(&plan), "L004");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].location.path, "services.db.dependencies[0].retries");
        assert!(
            f[0].message.contains("web → side → db → cache"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn l005_missing_slo_query_alert() {
        let mut plan = clean();
        plan.monitoring.alerts.shift_remove("home-errors");
        plan.monitoring.queries.shift_remove("db");
        svc_mut(&mut plan, "db").slo = None;
        let f = of(&run(&plan), "L005");
        let entry = f
            .iter()
            .find(|f| f.location.path == "entries.home")
            .expect("entry finding");
        assert_eq!(entry.severity, Severity::Warning);
        assert_eq!(entry.message, "entry home has no alert");
        // Without the entry's alert, `web` has none either.
        let web = f
            .iter()
            .find(|f| f.location.path == "services.web")
            .expect("web finding");
        assert_eq!(web.severity, Severity::Info);
        assert_eq!(web.message, "service web has no alert");
        let db = f
            .iter()
            .find(|f| f.location.path == "services.db")
            .expect("db finding");
        assert_eq!(db.message, "service db has no SLO and no monitoring query");
        assert_eq!(f.len(), 3, "{f:#?}");
    }

    #[test]
    fn l005_plan_template_covers_every_id_of_its_kind() {
        let mut plan = clean();
        plan.monitoring.queries.clear();
        let f = of(&run(&plan), "L005");
        assert_eq!(f.len(), 3, "{f:#?}");
        assert!(
            f.iter()
                .all(|f| f.message.ends_with("has no monitoring query"))
        );
        assert!(
            f[0].fix.contains("`monitoring.templates.entry`"),
            "{}",
            f[0].fix
        );
        // A service template covers the services, not the entry.
        plan.monitoring.templates.service = Some(queries());
        let f = of(&run(&plan), "L005");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].message, "entry home has no monitoring query");
        plan.monitoring.templates.entry = Some(Queries {
            error_rate: Some("x{e=\"{entry}\"}".to_string()),
            ..Queries::default()
        });
        assert!(of(&run(&plan), "L005").is_empty());
        // A template set with no figure covers nothing.
        plan.monitoring.templates.entry = Some(Queries::default());
        assert_eq!(of(&run(&plan), "L005").len(), 1);
    }

    #[test]
    fn l005_defaults_apply_with_a_metric_source_only() {
        let mut plan = clean();
        plan.monitoring.queries.clear();
        // Alerts but no source: the defaults are not counted.
        assert_eq!(of(&run(&plan), "L005").len(), 3);
        plan.monitoring.scrape = vec!["127.0.0.1:9901".to_string()];
        assert!(of(&run(&plan), "L005").is_empty());
        plan.monitoring.scrape.clear();
        plan.monitoring.prometheus_url = Some("http://127.0.0.1:9090".to_string());
        assert!(of(&run(&plan), "L005").is_empty());
        // With no monitoring section at all, the rule still fires.
        let mut bare = clean();
        bare.monitoring = Monitoring::default();
        let f = of(&run(&bare), "L005");
        assert_eq!(f.len(), 3, "{f:#?}");
        assert!(
            f.iter().all(|f| f.message.contains("no monitoring query")),
            "{f:#?}"
        );
    }

    #[test]
    fn l005_entry_alert_covers_its_service() {
        let plan = clean();
        assert!(!plan.monitoring.alerts.values().any(|a| a.target == "web"));
        assert!(of(&run(&plan), "L005").is_empty());
    }

    #[test]
    fn l006_partner_without_sla_or_fallback() {
        let mut plan = clean();
        let p = plan.partners.get_mut("pay").expect("partner");
        p.sla = None;
        p.fallback = None;
        let f = of(&run(&plan), "L006");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].message, "partner pay has no fallback and no SLA");
        assert_eq!(f[0].location.path, "partners.pay");
    }

    #[test]
    fn l006_complete_partner() {
        let mut plan = clean();
        plan.partners.get_mut("pay").expect("partner").sla = Some(Slo {
            p99_ms: Some(500.0),
            error_rate: None,
        });
        assert!(of(&run(&plan), "L006").is_empty());
    }

    fn hotspot() -> Plan {
        let mut plan = clean();
        let e = plan.entries.get_mut("home").expect("entry");
        e.burst = 3.0;
        e.rate_limit = None;
        plan
    }

    #[test]
    fn l007_hotspot_without_protection() {
        let f = of(&run(&hotspot()), "L007");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].location.path, "entries.home.burst");
        assert!(f[0].message.contains("burst 3×"), "{}", f[0].message);
    }

    #[test]
    fn l007_rate_limit_or_plan_protects() {
        // A burst of 1 is no hotspot.
        let mut plan = hotspot();
        plan.entries.get_mut("home").expect("entry").burst = 1.0;
        assert!(of(&run(&plan), "L007").is_empty());
        // A rate limit.
        let mut plan = hotspot();
        plan.entries.get_mut("home").expect("entry").rate_limit = Some(500.0);
        assert!(of(&run(&plan), "L007").is_empty());
        // A plan that rate-limits it.
        let mut plan = hotspot();
        let ep = plan.emergency_plans.get_mut("scale-db").expect("plan");
        ep.actions.push(Action::RateLimit {
            entry: "home".to_string(),
            qps: 500.0,
        });
        assert!(of(&run(&plan), "L007").is_empty());
        // A plan triggered by a metric on it.
        let mut plan = hotspot();
        let ep = plan.emergency_plans.get_mut("scale-db").expect("plan");
        ep.trigger = Some(Trigger::Metric {
            target: "home".to_string(),
            metric: AlertMetric::Qps,
            above: 900.0,
            for_seconds: 30.0,
        });
        assert!(of(&run(&plan), "L007").is_empty());
    }

    /// `coupon-api` (line coupon) also calls `db` (line bike).
    fn shared() -> Plan {
        let mut plan = clean();
        plan.organization.business_lines.insert(
            "coupon".to_string(),
            BusinessLine {
                name: "Coupon".to_string(),
                ..BusinessLine::default()
            },
        );
        let mut api = service("coupon-api", Some("coupon"), 2, 50);
        api.dependencies
            .push(edge("coupon-api", 0, "db", Strength::Strong, 51));
        plan.services.insert("coupon-api".to_string(), api);
        plan.monitoring
            .queries
            .insert("coupon-api".to_string(), queries());
        plan.monitoring
            .alerts
            .insert("c".to_string(), alert("coupon-api"));
        plan
    }

    #[test]
    fn l008_shared_service_without_isolation() {
        let f = of(&run(&shared()), "L008");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].location.path, "services.db");
        assert!(
            f[0].message.contains("lines bike, coupon") && f[0].message.contains("coupon-api → db"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn l008_isolated_or_single_line() {
        let mut plan = shared();
        svc_mut(&mut plan, "coupon-api").dependencies[0].isolation = Some(Isolation {
            qps: Some(200.0),
            concurrency: None,
        });
        assert!(of(&run(&plan), "L008").is_empty());
        // Same line: not shared.
        let mut plan = shared();
        svc_mut(&mut plan, "coupon-api").line = Some("bike".to_string());
        assert!(of(&run(&plan), "L008").is_empty());
    }

    #[test]
    fn l008_line_from_business_line_services() {
        // `coupon-api` has no `line` but is listed by the coupon line.
        let mut plan = shared();
        svc_mut(&mut plan, "coupon-api").line = None;
        plan.organization
            .business_lines
            .get_mut("coupon")
            .expect("line")
            .services
            .push("coupon-api".to_string());
        assert_eq!(of(&run(&plan), "L008").len(), 1);
    }

    #[test]
    fn l009_single_instance_on_strong_path() {
        let mut plan = clean();
        svc_mut(&mut plan, "db").instances = Some(1);
        let f = of(&run(&plan), "L009");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].location.path, "services.db.instances");
        assert!(
            f[0].message.contains("entry home → web → db"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn l009_weak_or_unreached() {
        let mut plan = clean();
        svc_mut(&mut plan, "db").instances = Some(1);
        svc_mut(&mut plan, "web").dependencies[0].strength = Strength::Weak;
        let f = of(&run(&plan), "L009");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
        // No entry reaches it: nothing.
        let mut plan = clean();
        plan.services
            .insert("batch".to_string(), service("batch", Some("bike"), 1, 70));
        plan.monitoring
            .queries
            .insert("batch".to_string(), queries());
        plan.monitoring
            .alerts
            .insert("b".to_string(), alert("batch"));
        assert!(run(&plan).is_empty());
    }

    #[test]
    fn l010_bottleneck_on_strong_path() {
        let plan = clean();
        let table = CapacityTable {
            services: vec![
                row("web", 100.0, 200.0, CapacitySource::Declared),
                row("db", 285.0, 300.0, CapacitySource::Declared),
            ],
            ..CapacityTable::default()
        };
        let f = of(&analyze(&plan, &Targets::default(), &table), "L010");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].location.path, "services.db.instances");
        assert!(
            f[0].message.contains("water level 0.95 above critical 0.9")
                && f[0].message.contains("entry home → web → db"),
            "{}",
            f[0].message
        );
        assert!(f[0].fix.contains("at least 5 instances"), "{}", f[0].fix);
    }

    #[test]
    fn l010_below_critical_or_off_strong_paths() {
        let table = CapacityTable {
            services: vec![row("db", 255.0, 300.0, CapacitySource::Declared)],
            ..CapacityTable::default()
        };
        assert!(of(&analyze(&clean(), &Targets::default(), &table), "L010").is_empty());
        let mut plan = clean();
        svc_mut(&mut plan, "web").dependencies[0].strength = Strength::Weak;
        let table = CapacityTable {
            services: vec![row("db", 600.0, 300.0, CapacitySource::Declared)],
            ..CapacityTable::default()
        };
        assert!(of(&analyze(&plan, &Targets::default(), &table), "L010").is_empty());
    }

    #[test]
    fn l010_entry_over_a_measured_knee() {
        let mut r = row("home", 950.0, 1000.0, CapacitySource::Measured);
        r.bottleneck = Some("web".to_string());
        let table = CapacityTable {
            entries: vec![r],
            ..CapacityTable::default()
        };
        let f = of(&analyze(&clean(), &Targets::default(), &table), "L010");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].location.path, "entries.home");
        assert!(
            f[0].message.contains("measured capacity 1000 QPS"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn l011_test_traffic_to_unsafe_partner() {
        let mut plan = clean();
        plan.partners.get_mut("pay").expect("partner").shadow_safe = false;
        let f = of(&run(&plan), "L011");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].location.path, "services.web.dependencies[1]");
        assert!(
            f[0].message.contains("entry home → web → pay"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn l011_unreached_partner() {
        let mut plan = clean();
        plan.partners.get_mut("pay").expect("partner").shadow_safe = false;
        svc_mut(&mut plan, "web").dependencies.pop();
        let mut batch = service("batch", Some("bike"), 2, 70);
        batch
            .dependencies
            .push(edge("batch", 0, "pay", Strength::Weak, 71));
        plan.services.insert("batch".to_string(), batch);
        assert!(of(&run(&plan), "L011").is_empty());
    }

    #[test]
    fn l012_incomplete_emergency_plan() {
        let mut plan = clean();
        let ep = plan.emergency_plans.get_mut("scale-db").expect("plan");
        ep.owner = None;
        ep.drills.clear();
        let f = of(&run(&plan), "L012");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(
            f[0].message,
            "emergency plan scale-db has no owner and no drills"
        );
        assert_eq!(f[0].location.path, "emergency_plans.scale-db");
    }

    #[test]
    fn l012_points_at_the_rehearsal_that_drills_it() {
        let mut plan = clean();
        plan.emergency_plans
            .get_mut("scale-db")
            .expect("plan")
            .drills
            .clear();
        plan.rehearsals.insert(
            "dress".to_string(),
            crate::model::Scenario {
                drills: vec!["scale-db".to_string()],
                ..crate::model::Scenario::default()
            },
        );
        let f = of(&run(&plan), "L012");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(f[0].fix.contains("rehearsal dress"), "{}", f[0].fix);
    }

    #[test]
    fn l012_complete_plan() {
        assert!(of(&run(&clean()), "L012").is_empty());
    }

    #[test]
    fn l015_scale_without_kubernetes() {
        assert!(of(&run(&clean()), "L015").is_empty());
        let mut plan = clean();
        svc_mut(&mut plan, "db").kubernetes = None;
        let f = of(&run(&plan), "L015");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.contains("cannot execute"), "{}", f[0].message);
        assert!(f[0].fix.contains("kubernetes"), "{}", f[0].fix);
    }

    #[test]
    fn l013_gaps_in_the_rota() {
        let mut plan = clean();
        plan.organization
            .business_lines
            .insert("coupon".to_string(), BusinessLine::default());
        // Bike is covered all along; coupon only 02:00–04:00 on the peak day.
        plan.oncall.rota = vec![
            shift(&["bike"], "2026-09-27T00:00:00Z", "2026-10-03T00:00:00Z"),
            shift(&["coupon"], "2026-09-30T02:00:00Z", "2026-09-30T04:00:00Z"),
        ];
        let f = of(&run(&plan), "L013");
        let peak: Vec<_> = f
            .iter()
            .filter(|f| f.location.path == "event.phases.peak")
            .collect();
        assert_eq!(peak.len(), 1, "{f:#?}");
        assert_eq!(peak[0].severity, Severity::Error);
        assert!(
            peak[0]
                .message
                .contains("for line coupon for 2h in 1 gap(s)")
                && peak[0]
                    .message
                    .contains("2026-09-30T04:00:00+00:00 – 2026-09-30T06:00:00+00:00"),
            "{}",
            peak[0].message
        );
        let freeze: Vec<_> = f
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .collect();
        // Freeze phase and the golden-week window, coupon only.
        assert_eq!(freeze.len(), 2, "{f:#?}");
        assert!(freeze.iter().all(|f| f.message.contains("line coupon")));
        assert!(
            freeze[0].message.contains("2 gap(s)"),
            "{}",
            freeze[0].message
        );
    }

    #[test]
    fn l013_without_lines_or_rota() {
        let mut plan = clean();
        plan.organization.business_lines.clear();
        assert!(of(&run(&plan), "L013").is_empty());
        plan.oncall.rota.clear();
        let f = of(&run(&plan), "L013");
        assert_eq!(f.len(), 3, "{f:#?}");
        assert!(f.iter().all(|f| !f.message.contains("line")));
    }

    #[test]
    fn l014_rate_limit_above_capacity() {
        let mut r = row("home", 500.0, 800.0, CapacitySource::Measured);
        r.bottleneck = Some("db".to_string());
        let table = CapacityTable {
            entries: vec![r],
            ..CapacityTable::default()
        };
        let f = of(&analyze(&clean(), &Targets::default(), &table), "L014");
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(f[0].location.path, "entries.home.rate_limit");
        assert!(
            f[0].message.contains(
                "rate_limit 1000 QPS is above its measured capacity 800 QPS, bottleneck db"
            ),
            "{}",
            f[0].message
        );
        assert!(f[0].fix.contains("720"), "{}", f[0].fix);
    }

    #[test]
    fn l014_limit_within_capacity() {
        let table = CapacityTable {
            entries: vec![row("home", 500.0, 1200.0, CapacitySource::Declared)],
            ..CapacityTable::default()
        };
        assert!(of(&analyze(&clean(), &Targets::default(), &table), "L014").is_empty());
    }

    #[test]
    fn acceptances_mark_but_keep_findings() {
        let mut plan = clean();
        plan.partners.get_mut("pay").expect("partner").shadow_safe = false;
        plan.links.accept.push(Acceptance {
            rule: "L011".to_string(),
            path: "services.we".to_string(),
            reason: "no".to_string(),
            at: At::default(),
        });
        let f = of(&run(&plan), "L011");
        assert_eq!(f[0].accepted, None, "prefixes match whole segments");
        plan.links.accept.push(Acceptance {
            rule: "L011".to_string(),
            path: "services.web".to_string(),
            reason: "pay sandbox confirmed by Ann".to_string(),
            at: At::default(),
        });
        let f = of(&run(&plan), "L011");
        assert_eq!(
            f[0].accepted.as_deref(),
            Some("pay sandbox confirmed by Ann")
        );
        assert_eq!(f[0].severity, Severity::Warning);
        // Another rule at the same place is not accepted.
        plan.partners.get_mut("pay").expect("partner").sla = None;
        svc_mut(&mut plan, "web").dependencies[0].timeout_ms = None;
        let all = run(&plan);
        assert!(of(&all, "L001")[0].accepted.is_none());
    }

    #[test]
    fn output_is_sorted_by_rule_and_position() {
        let mut plan = shared();
        plan.partners.get_mut("pay").expect("partner").shadow_safe = false;
        svc_mut(&mut plan, "db").instances = Some(1);
        svc_mut(&mut plan, "web").dependencies[0].timeout_ms = None;
        plan.monitoring.alerts.clear();
        let f = run(&plan);
        assert!(f.len() > 5);
        let keys: Vec<_> = f
            .iter()
            .map(|f| (f.rule, f.location.line, f.location.column))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn cycles_skip_path_rules_without_panicking() {
        let mut plan = retry_chain();
        let mut back = edge("cache", 0, "web", Strength::Strong, 36);
        back.retries = 2;
        svc_mut(&mut plan, "cache").dependencies.push(back);
        svc_mut(&mut plan, "cache").instances = Some(1);
        let f = run(&plan);
        assert!(of(&f, "L004").is_empty());
        assert_eq!(of(&f, "L009").len(), 1, "{f:#?}");
    }

    #[test]
    fn path_prefixes() {
        assert!(path_has_prefix("services.a.timeout_ms", "services.a"));
        assert!(path_has_prefix(
            "services.a.dependencies[0]",
            "services.a.dependencies"
        ));
        assert!(path_has_prefix("services.a", "services.a"));
        assert!(path_has_prefix("services.a", ""));
        assert!(!path_has_prefix("services.ab", "services.a"));
    }

    /// `web → c0 → c1 → … → c{n-1}`, single instances, retries 1 on the last edge.
    fn chain(n: usize) -> Plan {
        let mut plan = clean();
        svc_mut(&mut plan, "web")
            .dependencies
            .push(edge("web", 2, "c0", Strength::Strong, 27));
        for i in 0..n {
            let id = format!("c{i}");
            let mut s = service(&id, Some("bike"), 1, 100 + i as u32);
            if i + 1 < n {
                let mut e = edge(
                    &id,
                    0,
                    &format!("c{}", i + 1),
                    Strength::Strong,
                    100 + i as u32,
                );
                e.retries = u32::from(i + 2 >= n);
                s.dependencies.push(e);
            }
            plan.services.insert(id, s);
        }
        plan
    }

    #[test]
    fn long_paths_are_shortened() {
        let mut plan = chain(12);
        plan.links.max_retry_amplification = 1.0;
        let f = run(&plan);
        let deep = of(&f, "L009")
            .into_iter()
            .find(|f| f.location.path == "services.c11.instances")
            .expect("c11");
        assert!(
            deep.message
                .contains("entry home → web → … (7 more) → c7 → c8 → c9 → c10 → c11:"),
            "{}",
            deep.message
        );
        let short = of(&f, "L009")
            .into_iter()
            .find(|f| f.location.path == "services.c2.instances")
            .expect("c2");
        assert!(
            short.message.contains("entry home → web → c0 → c1 → c2:"),
            "{}",
            short.message
        );
        let amp = of(&f, "L004");
        assert_eq!(amp.len(), 1, "{amp:#?}");
        assert!(
            amp[0].message.contains(
                "2× (limit 1) on entry home → web → … (6 more) → c6 → c7 → c8 → c9 → c10 → c11"
            ),
            "{}",
            amp[0].message
        );
    }

    #[test]
    fn deep_chains_stay_linear() {
        let plan = chain(10_000);
        let start = Instant::now();
        let f = run(&plan);
        let elapsed = start.elapsed();
        assert_eq!(of(&f, "L009").len(), 10_000);
        assert!(elapsed.as_secs_f64() < 10.0, "took {elapsed:?}");
        eprintln!("chain: {} findings in {elapsed:?}", f.len());

        // A time bound alone lets a quadratic walk through (10,000 deep is
        // fast either way): a chain 4× as deep must cost about 4× (linear),
        // not 16× (quadratic). Best of five, the sizes interleaved, so a
        // busy machine slows both alike; the bound, 8×, sits between.
        let (small, large) = (chain(4_000), chain(16_000));
        let time = |plan: &Plan| {
            let start = Instant::now();
            let f = run(plan);
            (start.elapsed().as_secs_f64(), of(&f, "L009").len())
        };
        let (mut best_small, mut best_large) = (f64::MAX, f64::MAX);
        for _ in 0..5 {
            let (s, n) = time(&small);
            assert_eq!(n, 4_000);
            let (l, n) = time(&large);
            assert_eq!(n, 16_000);
            best_small = best_small.min(s);
            best_large = best_large.min(l);
        }
        let ratio = best_large / best_small;
        eprintln!("chain: 4× deeper costs {ratio:.1}× ({best_small:.3} s → {best_large:.3} s)");
        assert!(
            ratio < 8.0,
            "a chain 4× deeper took {ratio:.1}× as long ({best_small:.3} s → {best_large:.3} s): not linear"
        );
    }

    /// 10 000 services in layers, 50 000 edges, 1 000 entries.
    fn big_plan() -> Plan {
        let n = 10_000usize;
        let mut plan = Plan::default();
        for line in 0..10 {
            plan.organization
                .business_lines
                .insert(format!("line{line}"), BusinessLine::default());
        }
        let mut services = IndexMap::with_capacity(n);
        for i in 0..n {
            let id = format!("s{i}");
            let mut s = service(
                &id,
                Some(&format!("line{}", i % 10)),
                1 + (i % 3) as u32,
                i as u32,
            );
            for k in 1..=5usize {
                let to = i + k * 7 + (i % 13);
                if to < n {
                    let mut e = edge(
                        &id,
                        k - 1,
                        &format!("s{to}"),
                        if k % 2 == 0 {
                            Strength::Weak
                        } else {
                            Strength::Strong
                        },
                        i as u32,
                    );
                    e.retries = u32::from(k == 1 && i % 4 == 0);
                    s.dependencies.push(e);
                } else {
                    s.dependencies
                        .push(edge(&id, k - 1, "pay", Strength::Strong, i as u32));
                }
            }
            services.insert(id, s);
        }
        plan.services = services;
        plan.partners.insert("pay".to_string(), Partner::default());
        for i in 0..1000 {
            plan.entries.insert(
                format!("e{i}"),
                Entry {
                    service: format!("s{}", i * 3),
                    burst: 2.0,
                    ..Entry::default()
                },
            );
        }
        plan
    }

    #[test]
    fn large_plans_are_fast() {
        let plan = big_plan();
        let edges: usize = plan.services.values().map(|s| s.dependencies.len()).sum();
        assert_eq!(edges, 50_000);
        let table = CapacityTable {
            services: plan
                .services
                .keys()
                .map(|id| row(id, 95.0, 100.0, CapacitySource::Declared))
                .collect(),
            ..CapacityTable::default()
        };
        let start = Instant::now();
        let f = analyze(&plan, &Targets::default(), &table);
        let elapsed = start.elapsed();
        assert!(!of(&f, "L004").is_empty());
        assert!(!of(&f, "L009").is_empty());
        assert!(!of(&f, "L010").is_empty());
        // Generous for unoptimised builds on a busy machine; release runs
        // take a few tens of milliseconds.
        assert!(elapsed.as_secs_f64() < 10.0, "took {elapsed:?}");
        eprintln!("{} findings in {elapsed:?}", f.len());
    }
}
