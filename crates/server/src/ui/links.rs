//! The link graph (`/ui/events/{slug}/links`): the plan's dependency graph
//! drawn on the server as one SVG (entries → services by depth → partners,
//! see [`super::svg::link_graph`]) with nodes coloured by the water-level
//! table and marked with their open link findings, beside the findings list
//! (the API's `/plan/links`) linking to the plan line each one is about.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Html;
use axum::routing::get;
use seawall_plan::Plan;
use seawall_plan::capacity::{CapacityTable, Status};
use seawall_plan::links::Finding;
use seawall_plan::model::Strength;

use super::svg::{GraphEdge, Markup, Node, NodeKind, link_graph, percent, status_name};
use super::targets::current;
use super::{Chrome, Nav, Session, UiError, render};
use crate::auth::READERS;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/events/{slug}/links", get(page))
}

/// The node a finding's YAML path is about (`services.order-svc.…` →
/// service `order-svc`), if any.
pub fn node_of(path: &str) -> Option<(NodeKind, &str)> {
    for (prefix, kind) in [
        ("entries.", NodeKind::Entry),
        ("services.", NodeKind::Service),
        ("partners.", NodeKind::Partner),
    ] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let id = rest.split(['.', '[']).next().unwrap_or(rest);
            return (!id.is_empty()).then_some((kind, id));
        }
    }
    None
}

/// Each service's depth: 0 when no service calls it, else one more than
/// its deepest caller (longest path), by Kahn's algorithm. Services on a
/// cycle (a valid plan has none) stay at the depth reached so far.
pub fn depths(plan: &Plan) -> Vec<usize> {
    let n = plan.services.len();
    let mut indegree = vec![0usize; n];
    let mut callees: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, s) in plan.services.values().enumerate() {
        for d in &s.dependencies {
            if let Some(j) = plan.services.get_index_of(&d.to)
                && j != i
            {
                callees[i].push(j);
                indegree[j] += 1;
            }
        }
    }
    let mut depth = vec![0usize; n];
    let mut queue: std::collections::VecDeque<usize> =
        (0..n).filter(|&i| indegree[i] == 0).collect();
    while let Some(i) = queue.pop_front() {
        for &j in &callees[i] {
            depth[j] = depth[j].max(depth[i] + 1);
            indegree[j] -= 1;
            if indegree[j] == 0 {
                queue.push_back(j);
            }
        }
    }
    depth
}

/// The graph's nodes and edges from the plan, the water-level table and
/// the findings.
pub fn graph(
    plan: &Plan,
    table: &CapacityTable,
    findings: &[Finding],
    slug: &str,
) -> (Vec<Node>, Vec<GraphEdge>) {
    let mut open: HashMap<(&'static str, &str), (usize, &'static str)> = HashMap::new();
    for f in findings.iter().filter(|f| f.accepted.is_none()) {
        if let Some((kind, id)) = node_of(&f.location.path) {
            let e = open.entry((kind.as_str(), id)).or_insert((0, "info"));
            e.0 += 1;
            let sev = f.severity.as_str();
            if sev == "error" || (sev == "warning" && e.1 == "info") {
                e.1 = sev;
            }
        }
    }
    let depth = depths(plan);
    let service_layers = depth.iter().max().map_or(0, |d| d + 1);
    let mut nodes = Vec::new();
    let mut index: HashMap<(&'static str, &str), usize> = HashMap::new();
    let mut add = |kind: NodeKind, id: &str, layer: usize, detail: String, status: Status| {
        let (count, worst) = open
            .get(&(kind.as_str(), id))
            .copied()
            .unwrap_or((0, "info"));
        let mut tooltip = format!("{} {id}\n{detail}", kind.as_str());
        if count > 0 {
            tooltip.push_str(&format!("\n{count} open finding(s)"));
        }
        nodes.push(Node {
            id: id.to_owned(),
            kind,
            layer,
            status: status_name(status),
            findings: count,
            worst,
            href: format!("/ui/events/{slug}/targets#{}-{id}", kind.as_str()),
            tooltip,
        });
        nodes.len() - 1
    };
    let level = |rows: &[seawall_plan::capacity::Row], id: &str| {
        rows.iter().find(|r| r.id == id).map_or_else(
            || ("no capacity row".to_owned(), Status::Unknown),
            |r| (format!("water level {}", percent(r.water_level)), r.status),
        )
    };
    for id in plan.entries.keys() {
        let (d, st) = level(&table.entries, id);
        let i = add(NodeKind::Entry, id, 0, d, st);
        index.insert(("entry", id.as_str()), i);
    }
    for (k, id) in plan.services.keys().enumerate() {
        let (d, st) = level(&table.services, id);
        let i = add(NodeKind::Service, id, 1 + depth[k], d, st);
        index.insert(("service", id.as_str()), i);
    }
    for id in plan.partners.keys() {
        let (d, st) = level(&table.partners, id);
        let i = add(NodeKind::Partner, id, 1 + service_layers, d, st);
        index.insert(("partner", id.as_str()), i);
    }
    let mut edges = Vec::new();
    for (id, e) in &plan.entries {
        if let (Some(&from), Some(&to)) = (
            index.get(&("entry", id.as_str())),
            index.get(&("service", e.service.as_str())),
        ) {
            edges.push(GraphEdge {
                from,
                to,
                weak: false,
            });
        }
    }
    for (id, s) in &plan.services {
        let Some(&from) = index.get(&("service", id.as_str())) else {
            continue;
        };
        for d in &s.dependencies {
            let to = index
                .get(&("service", d.to.as_str()))
                .or_else(|| index.get(&("partner", d.to.as_str())));
            if let Some(&to) = to {
                edges.push(GraphEdge {
                    from,
                    to,
                    weak: d.strength == Strength::Weak,
                });
            }
        }
    }
    (nodes, edges)
}

/// A finding as the list shows it.
pub struct FindingView {
    /// Rule id.
    pub rule: &'static str,
    /// `error`, `warning`, `info`.
    pub severity: &'static str,
    /// Message.
    pub message: String,
    /// Fix.
    pub fix: String,
    /// `file:line:col`.
    pub location: String,
    /// YAML path.
    pub path: String,
    /// Link to the plan line.
    pub href: String,
    /// Accepted with this reason.
    pub accepted: Option<String>,
}

#[derive(Template)]
#[template(path = "links.html")]
struct LinksPage {
    chrome: Chrome,
    has_plan: bool,
    version: i64,
    svg: Markup,
    nodes: usize,
    edges: usize,
    findings: Vec<FindingView>,
    open: usize,
}

async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let (chrome, _) = Chrome::event(&state, &session, &slug, Nav::Links).await?;
    let Some(an) = current(&state, &slug).await? else {
        return render(&LinksPage {
            chrome,
            has_plan: false,
            version: 0,
            svg: Markup::default(),
            nodes: 0,
            edges: 0,
            findings: Vec::new(),
            open: 0,
        });
    };
    let plan = an.plan();
    let (nodes, edges) = graph(plan, &an.table, &an.findings, &slug);
    let svg = link_graph(&nodes, &edges);
    let findings: Vec<FindingView> = an
        .findings
        .iter()
        .map(|f| FindingView {
            rule: f.rule,
            severity: f.severity.as_str(),
            message: f.message.clone(),
            fix: f.fix.clone(),
            location: format!("{}:{}:{}", plan.file, f.location.line, f.location.column),
            path: f.location.path.clone(),
            href: format!("/ui/events/{slug}/plan#L{}", f.location.line),
            accepted: f.accepted.clone(),
        })
        .collect();
    render(&LinksPage {
        chrome,
        has_plan: true,
        version: an.a.version,
        svg,
        nodes: nodes.len(),
        edges: edges.len(),
        open: findings.iter().filter(|f| f.accepted.is_none()).count(),
        findings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_paths_name_their_node() {
        assert_eq!(
            node_of("services.ride-svc.dependencies[1].timeout_ms"),
            Some((NodeKind::Service, "ride-svc"))
        );
        assert_eq!(node_of("entries.home"), Some((NodeKind::Entry, "home")));
        assert_eq!(
            node_of("partners.sms.sla"),
            Some((NodeKind::Partner, "sms"))
        );
        assert_eq!(node_of("emergency_plans.x"), None);
        assert_eq!(node_of("services."), None);
    }

    #[test]
    fn on_the_carnival_the_ordering_crosses_less_than_plan_order() {
        use super::super::svg::{crossings, order_layers};
        use seawall_plan::{capacity, links, targets};
        let plan = seawall_plan::parse(
            include_str!("../../../../examples/carnival/plan.yaml"),
            "plan.yaml",
        )
        .expect("the carnival is valid");
        let t = targets::decompose(&plan);
        let table = capacity::table(&plan, &t, &capacity::Measured::default());
        let findings = links::analyze(&plan, &t, &table);
        let (nodes, edges) = graph(&plan, &table, &findings, "c");
        assert_eq!(
            nodes.len(),
            plan.entries.len() + plan.services.len() + plan.partners.len()
        );
        let layers = nodes.iter().map(|n| n.layer).max().map_or(0, |l| l + 1);
        let mut plan_order = vec![Vec::new(); layers];
        for (i, n) in nodes.iter().enumerate() {
            plan_order[n.layer].push(i);
        }
        let before = crossings(&plan_order, &edges, nodes.len());
        let after = crossings(&order_layers(&nodes, &edges), &edges, nodes.len());
        assert!(
            after < before,
            "{after} crossings after ordering, {before} before"
        );
        // Findings mark their nodes: ride-svc has the L003 and L010 errors.
        let ride = nodes.iter().find(|n| n.id == "ride-svc").expect("ride-svc");
        assert_eq!((ride.findings, ride.worst), (2, "error"));
        // Weak edges are the plan's weak dependencies.
        let weak = edges.iter().filter(|e| e.weak).count();
        let declared = plan
            .services
            .values()
            .flat_map(|s| &s.dependencies)
            .filter(|d| d.strength == Strength::Weak)
            .count();
        assert_eq!(weak, declared);
    }

    #[test]
    fn depth_is_the_longest_path_from_a_root() {
        let plan = seawall_plan::parse(
            "event: {name: d}\nservices:\n  a: {dependencies: [{to: b}, {to: c}]}\n  b: {dependencies: [{to: c}]}\n  c: {}\n",
            "p.yaml",
        )
        .expect("valid plan");
        assert_eq!(depths(&plan), vec![0, 1, 2]);
    }
}
