//! The link graph of the links page: a layered dependency diagram
//! (entries, services by depth, partners), laid out here — barycentre
//! ordering against crossings, columns of bounded height, edges routed
//! between the boxes — and drawn as one `<svg>`. Deterministic (same
//! input, same bytes), styled only by classes and presentation attributes.

use std::fmt::Write as _;

use crate::markup::{Element, Markup};

/// What a graph node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A system entry point.
    Entry,
    /// A service.
    Service,
    /// An external partner.
    Partner,
}

impl NodeKind {
    /// `entry`, `service`, `partner` (CSS classes, anchors).
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Entry => "entry",
            NodeKind::Service => "service",
            NodeKind::Partner => "partner",
        }
    }
}

/// One node of the link graph.
#[derive(Debug, Clone)]
pub struct Node {
    /// Entry, service or partner id.
    pub id: String,
    /// Kind.
    pub kind: NodeKind,
    /// Column (0: entries; services by depth; partners last).
    pub layer: usize,
    /// Water-level status as its CSS name (`ok`, `warn`, `critical`,
    /// `unknown`): the node's colour class and its `data-status`.
    pub status: &'static str,
    /// Open findings on the node and the worst one's CSS severity.
    pub findings: usize,
    /// `error`, `warning` or `info` when `findings > 0`.
    pub worst: &'static str,
    /// Link target.
    pub href: String,
    /// Tooltip text (`<title>`), lines separated by `\n`.
    pub tooltip: String,
}

/// A directed edge between two nodes (indices into the node list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphEdge {
    /// Caller.
    pub from: usize,
    /// Callee.
    pub to: usize,
    /// Weak dependency (dashed).
    pub weak: bool,
}

/// Node box width.
const NODE_W: usize = 170;
/// Node box height.
const NODE_H: usize = 30;
/// Vertical gap between nodes.
const GAP_Y: usize = 14;
/// Horizontal gap between columns (room for the edges).
const GAP_X: usize = 80;
/// Margin around the drawing.
const MARGIN: usize = 16;
/// Most nodes stacked in one column; a bigger layer wraps into more
/// columns, so hundreds of services stay a bounded height (the page
/// scrolls sideways).
pub const MAX_ROWS: usize = 30;
/// Drawings up to this wide shrink to fit the page (class `fit`); wider
/// ones keep their size and the page scrolls them.
const FIT_WIDTH: usize = 1600;
/// Longest label drawn inside a node (the tooltip has the full id).
const LABEL_CHARS: usize = 21;

/// Sweeps of the barycentre heuristic: down (by callers), up (by
/// callees), down.
const SWEEPS: usize = 3;

/// Order each layer to reduce edge crossings: alternately from the left
/// by the barycentre of a node's callers (their mean position in the
/// layers before) and from the right by that of its callees; a node
/// without neighbours on that side keeps its place, ties keep the order
/// they had. Deterministic. Returns the nodes of each layer, top to
/// bottom.
pub fn order_layers(nodes: &[Node], edges: &[GraphEdge]) -> Vec<Vec<usize>> {
    let layers = nodes.iter().map(|n| n.layer + 1).max().unwrap_or(0);
    let mut by_layer: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for (i, n) in nodes.iter().enumerate() {
        by_layer[n.layer].push(i);
    }
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for e in edges {
        if e.from < nodes.len() && e.to < nodes.len() && nodes[e.from].layer < nodes[e.to].layer {
            parents[e.to].push(e.from);
            children[e.from].push(e.to);
        }
    }
    let mut pos: Vec<f64> = vec![0.0; nodes.len()];
    for layer in &by_layer {
        for (k, &i) in layer.iter().enumerate() {
            pos[i] = k as f64;
        }
    }
    for sweep in 0..SWEEPS {
        let (order, neighbours): (Vec<usize>, &[Vec<usize>]) = if sweep % 2 == 0 {
            ((1..layers).collect(), &parents)
        } else {
            ((0..layers.saturating_sub(1)).rev().collect(), &children)
        };
        for l in order {
            let layer = &mut by_layer[l];
            let mut keyed: Vec<(f64, usize)> = layer
                .iter()
                .map(|&i| {
                    let ns = &neighbours[i];
                    let bary = if ns.is_empty() {
                        pos[i]
                    } else {
                        ns.iter().map(|&n| pos[n]).sum::<f64>() / ns.len() as f64
                    };
                    (bary, i)
                })
                .collect();
            // Stable: equal keys keep their current order.
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            *layer = keyed.into_iter().map(|(_, i)| i).collect();
            for (k, &i) in layer.iter().enumerate() {
                pos[i] = k as f64;
            }
        }
    }
    by_layer
}

/// Where everything goes: node corners, the drawing's size, and the
/// columns (left x and rows used) that edges must not cut through.
struct Placement {
    /// Top-left corner of each node.
    at: Vec<(usize, usize)>,
    /// Index into `columns` of each node.
    column_of: Vec<usize>,
    /// Every column of boxes, left to right: left x and rows used.
    columns: Vec<(usize, usize)>,
    width: usize,
    height: usize,
}

/// Node positions, column by column.
fn place(layers: &[Vec<usize>], n: usize) -> Placement {
    let mut p = Placement {
        at: vec![(0, 0); n],
        column_of: vec![0; n],
        columns: Vec::new(),
        width: 0,
        height: 0,
    };
    let mut x = MARGIN;
    for layer in layers {
        if layer.is_empty() {
            continue;
        }
        let first = p.columns.len();
        for chunk in layer.chunks(MAX_ROWS) {
            p.columns.push((x, chunk.len()));
            x += NODE_W + GAP_X / 2;
        }
        for (k, &i) in layer.iter().enumerate() {
            let (col, row) = (k / MAX_ROWS, k % MAX_ROWS);
            p.at[i] = (p.columns[first + col].0, MARGIN + row * (NODE_H + GAP_Y));
            p.column_of[i] = first + col;
        }
        p.height = p.height.max(layer.len().min(MAX_ROWS) * (NODE_H + GAP_Y));
        x += GAP_X / 2;
    }
    p.width = x + MARGIN;
    p.height += 2 * MARGIN;
    p
}

/// The y of the gap between rows of a column nearest to `y` (below its
/// last box anything is free).
fn gap_near(y: f64, rows: usize) -> usize {
    let pitch = (NODE_H + GAP_Y) as f64;
    let last_bottom = (MARGIN + rows * (NODE_H + GAP_Y)) as f64;
    if y >= last_bottom {
        return y.round() as usize;
    }
    let r = ((y - MARGIN as f64 + GAP_Y as f64 / 2.0) / pitch)
        .round()
        .clamp(0.0, rows as f64);
    MARGIN + (r as usize) * (NODE_H + GAP_Y) - GAP_Y / 2
}

/// A cubic curve from `(px, py)` to `(x, y)`, horizontal at both ends.
fn curve_to(d: &mut String, x: usize, y: usize, px: usize, py: usize) {
    let dx = x.saturating_sub(px).max(20) / 2;
    let _ = write!(d, " C{},{py} {},{y} {x},{y}", px + dx, x.saturating_sub(dx));
}

/// The SVG path of an edge: curves with horizontal ends between columns,
/// and straight through the gap between two boxes of every column it
/// passes, so no edge runs under a box.
fn edge_path(p: &Placement, from: usize, to: usize) -> String {
    let ((x1, y1), (x2, y2)) = (p.at[from], p.at[to]);
    let (sx, sy) = (x1 + NODE_W, y1 + NODE_H / 2);
    let (tx, ty) = (x2, y2 + NODE_H / 2);
    let (c0, c1) = (p.column_of[from], p.column_of[to]);
    let mut d = format!("M{sx},{sy}");
    let (mut px, mut py) = (sx, sy);
    let span = (tx as f64 - sx as f64).max(1.0);
    for &(cx, rows) in p.columns.iter().take(c1).skip(c0 + 1) {
        let t = (cx as f64 + NODE_W as f64 / 2.0 - sx as f64) / span;
        let y = gap_near(sy as f64 + t * (ty as f64 - sy as f64), rows);
        curve_to(&mut d, cx, y, px, py);
        let _ = write!(d, " L{},{y}", cx + NODE_W);
        (px, py) = (cx + NODE_W, y);
    }
    curve_to(&mut d, tx, ty, px, py);
    d
}

/// Count the pairs of edges between the same two layers that cross: how
/// readable an ordering is (the tests compare orderings with it; quadratic
/// in the edges, so not for pages).
pub fn crossings(layers: &[Vec<usize>], edges: &[GraphEdge], n: usize) -> usize {
    let mut pos = vec![0usize; n];
    let mut layer_of = vec![0usize; n];
    for (l, layer) in layers.iter().enumerate() {
        for (k, &i) in layer.iter().enumerate() {
            pos[i] = k;
            layer_of[i] = l;
        }
    }
    let valid: Vec<&GraphEdge> = edges.iter().filter(|e| e.from < n && e.to < n).collect();
    let mut count = 0;
    for (a, e) in valid.iter().enumerate() {
        for f in &valid[a + 1..] {
            let same_span =
                layer_of[e.from] == layer_of[f.from] && layer_of[e.to] == layer_of[f.to];
            if same_span
                && (pos[e.from] as i64 - pos[f.from] as i64) * (pos[e.to] as i64 - pos[f.to] as i64)
                    < 0
            {
                count += 1;
            }
        }
    }
    count
}

fn label(id: &str) -> String {
    if id.chars().count() <= LABEL_CHARS {
        return id.to_owned();
    }
    let mut s: String = id.chars().take(LABEL_CHARS - 1).collect();
    s.push('…');
    s
}

/// The link graph as one `<svg>`: columns of nodes (entries, services by
/// depth, partners), edges as curves with arrowheads — strong solid, weak
/// dashed — nodes coloured by water-level status, a ring with the count on
/// nodes with open findings, a `<title>` tooltip and a link on every node.
pub fn link_graph(nodes: &[Node], edges: &[GraphEdge]) -> Markup {
    let layers = order_layers(nodes, edges);
    let p = place(&layers, nodes.len());
    let (width, height) = (p.width, p.height);
    let mut s = Element::new("svg")
        .attr("id", "link-graph")
        .attr(
            "class",
            if width <= FIT_WIDTH {
                "link-graph fit"
            } else {
                "link-graph"
            },
        )
        .attr("width", width)
        .attr("height", height)
        .attr("viewBox", format!("0 0 {width} {height}"))
        .attr("role", "img")
        .attr(
            "aria-label",
            format!(
                "Dependency graph: {} nodes, {} edges",
                nodes.len(),
                edges.len()
            ),
        )
        .child(
            Element::new("defs").child(
                Element::new("marker")
                    .attr("id", "arrow")
                    .attr("viewBox", "0 0 10 10")
                    .attr("refX", 10)
                    .attr("refY", 5)
                    .attr("markerWidth", 7)
                    .attr("markerHeight", 7)
                    .attr("orient", "auto")
                    .child(
                        Element::new("path")
                            .attr("class", "arrowhead")
                            .attr("d", "M0,0 L10,5 L0,10 z"),
                    ),
            ),
        );
    let mut g = Element::pair("g").attr("class", "edges");
    for e in edges {
        if e.from >= nodes.len() || e.to >= nodes.len() {
            continue;
        }
        g.push(
            Element::new("path")
                .attr("class", if e.weak { "edge weak" } else { "edge strong" })
                .attr("data-from", &nodes[e.from].id)
                .attr("data-to", &nodes[e.to].id)
                .attr("d", edge_path(&p, e.from, e.to))
                .attr("fill", "none")
                .attr("stroke-width", "1.4")
                .attr_opt("stroke-dasharray", e.weak.then_some("6 4"))
                .attr("marker-end", "url(#arrow)"),
        );
    }
    s.push(g);
    let mut g = Element::pair("g").attr("class", "nodes");
    for layer in &layers {
        for &i in layer {
            let n = &nodes[i];
            let (x, y) = p.at[i];
            let kind = n.kind.as_str();
            let rx = match n.kind {
                NodeKind::Entry => 15,
                NodeKind::Service => 4,
                NodeKind::Partner => 0,
            };
            let mut a = Element::new("a")
                .attr("href", &n.href)
                .attr("id", format!("node-{kind}-{}", n.id))
                .attr("data-node", format!("{kind}:{}", n.id))
                .attr("data-status", n.status)
                .title(n.tooltip.as_str())
                .child(
                    Element::new("rect")
                        .attr("class", format!("node {kind} node-{}", n.status))
                        .attr("x", x)
                        .attr("y", y)
                        .attr("width", NODE_W)
                        .attr("height", NODE_H)
                        .attr("rx", rx)
                        .attr("stroke-width", "1.5"),
                )
                .child(
                    Element::new("text")
                        .attr("x", x + 10)
                        .attr("y", y + NODE_H / 2 + 4)
                        .text(label(&n.id)),
                );
            if n.findings > 0 {
                let (cx, cy) = (x + NODE_W, y);
                a.push(
                    Element::new("circle")
                        .attr("class", format!("finding-ring ring-{}", n.worst))
                        .attr("cx", cx)
                        .attr("cy", cy)
                        .attr("r", 9)
                        .attr("stroke-width", "2.5"),
                );
                a.push(
                    Element::new("text")
                        .attr("class", "finding-count")
                        .attr("x", cx)
                        .attr("y", cy + 4)
                        .attr("text-anchor", "middle")
                        .text(n.findings.to_string()),
                );
            }
            g.push(a);
        }
    }
    s.push(g);
    s.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: usize, to: usize) -> GraphEdge {
        GraphEdge {
            from,
            to,
            weak: false,
        }
    }

    fn node(id: &str, layer: usize) -> Node {
        Node {
            id: id.to_owned(),
            kind: if layer == 0 {
                NodeKind::Entry
            } else {
                NodeKind::Service
            },
            layer,
            status: "ok",
            findings: 0,
            worst: "info",
            href: format!("#{id}"),
            tooltip: id.to_owned(),
        }
    }

    #[test]
    fn barycentre_ordering_removes_a_crossing() {
        // a → y, b → x: in input order the two edges cross.
        let nodes = vec![node("a", 0), node("b", 0), node("x", 1), node("y", 1)];
        let edges = vec![
            edge(0, 3),
            GraphEdge {
                from: 1,
                to: 2,
                weak: true,
            },
        ];
        let input_order = vec![vec![0, 1], vec![2, 3]];
        assert_eq!(crossings(&input_order, &edges, nodes.len()), 1);
        let ordered = order_layers(&nodes, &edges);
        assert_eq!(crossings(&ordered, &edges, nodes.len()), 0, "{ordered:?}");
    }

    #[test]
    fn the_drawing_is_deterministic_and_marks_what_it_should() {
        let mut nodes = vec![node("home", 0), node("home-bff", 1), node("map<svc>", 2)];
        nodes[2].findings = 2;
        nodes[2].worst = "error";
        nodes[2].status = "critical";
        let edges = vec![
            edge(0, 1),
            GraphEdge {
                from: 1,
                to: 2,
                weak: true,
            },
        ];
        let a = link_graph(&nodes, &edges);
        assert_eq!(a, link_graph(&nodes, &edges));
        assert_eq!(a.matches("<path class=\"edge").count(), 2);
        assert_eq!(a.matches("stroke-dasharray").count(), 1);
        assert!(a.contains("map&#60;svc&#62;"));
        assert!(a.contains(r#"class="finding-ring ring-error""#));
        assert!(a.contains(r#"data-status="critical""#));
        assert!(!a.contains("style="));
    }

    #[test]
    fn an_edge_that_skips_a_column_passes_between_its_boxes() {
        // e → a → b and e → b: e → b crosses a's column.
        let nodes = vec![node("e", 0), node("a", 1), node("b", 2), node("c", 1)];
        let edges = vec![edge(0, 1), edge(1, 2), edge(0, 3), edge(0, 2)];
        let layers = order_layers(&nodes, &edges);
        let p = place(&layers, nodes.len());
        let d = edge_path(&p, 0, 2);
        let (cx, rows) = p.columns[1];
        let through = format!(" L{},", cx + NODE_W);
        let at = d.find(&through).expect("a straight run through the column");
        let y: usize = d[at + through.len()..]
            .split(' ')
            .next()
            .and_then(|y| y.parse().ok())
            .expect("y");
        for r in 0..rows {
            let top = MARGIN + r * (NODE_H + GAP_Y);
            assert!(y < top || y > top + NODE_H, "y {y} cuts box row {r}: {d}");
        }
        // Neighbouring columns get a plain curve.
        assert!(!edge_path(&p, 0, 1).contains(" L"));
        assert_eq!(gap_near(10_000.0, 2), 10_000, "below the boxes all is free");
    }

    #[test]
    fn big_layers_wrap_into_columns_of_bounded_height() {
        let mut nodes = vec![node("e", 0)];
        let mut edges = Vec::new();
        for k in 0..500 {
            nodes.push(node(&format!("svc-{k}"), 1));
            edges.push(edge(0, k + 1));
        }
        let layers = order_layers(&nodes, &edges);
        let Placement { width, height, .. } = place(&layers, nodes.len());
        assert!(
            height <= MAX_ROWS * (NODE_H + GAP_Y) + 2 * MARGIN,
            "{height}"
        );
        assert!(width > 17 * NODE_W, "500 nodes need 17 columns: {width}");
        assert_eq!(
            label("a-very-long-service-name-indeed"),
            "a-very-long-service-…"
        );
    }
}
