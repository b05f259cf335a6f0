//! Inline SVG drawn on the server for the targets and link-graph pages: the
//! water-level gauge and the layered dependency diagram. Pure functions from
//! numbers to markup, deterministic (same input, same bytes) so the pages
//! can be snapshot-tested, styled only through classes in `seawall.css` and
//! SVG presentation attributes (the CSP forbids `style`).

use std::fmt::Write as _;

use seawall_plan::capacity::Status;

/// HTML/XML text and attribute escaping (askama's, the same the templates
/// use), for markup built here.
pub fn esc(s: &str) -> String {
    let Ok(safe) = askama::filters::escape(s, askama::filters::Html);
    safe.to_string()
}

/// The CSS status name of a water-level status (`ok`, `warn`, `critical`,
/// `unknown`).
pub fn status_name(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Warn => "warn",
        Status::Critical => "critical",
        Status::Unknown => "unknown",
    }
}

/// Water level shown as a percentage with one decimal (`57.5 %`), `—`
/// when unknown, `∞` when the capacity is zero.
pub fn percent(level: Option<f64>) -> String {
    match level {
        Some(l) if l.is_infinite() => "∞ %".to_owned(),
        Some(l) if l.is_finite() => format!("{:.1} %", l * 100.0),
        _ => "—".to_owned(),
    }
}

/// Width of the gauge in SVG units; a water level of [`GAUGE_FULL`] fills it.
const GAUGE_W: f64 = 120.0;
/// The water level that fills the gauge (levels above are drawn full).
const GAUGE_FULL: f64 = 1.25;

fn gauge_x(level: f64) -> f64 {
    (level.clamp(0.0, GAUGE_FULL) / GAUGE_FULL * GAUGE_W * 10.0).round() / 10.0
}

/// A horizontal water-level gauge: a track, a bar coloured by status
/// (`fill-ok` / `fill-warn` / `fill-critical`), and ticks at the plan's
/// warn and critical levels. The percentage is text beside it in the page.
pub fn gauge(level: Option<f64>, status: Status, warn: f64, critical: f64) -> String {
    let mut s = String::new();
    let label = match level {
        Some(_) => format!("water level {}", percent(level)),
        None => "water level unknown".to_owned(),
    };
    let _ = write!(
        s,
        r#"<svg class="gauge" width="{GAUGE_W}" height="14" viewBox="0 0 {GAUGE_W} 14" role="img" aria-label="{}">"#,
        esc(&label)
    );
    let _ = write!(
        s,
        r#"<rect class="fill-track" x="0" y="3" width="{GAUGE_W}" height="8" rx="2"/>"#
    );
    if let Some(l) = level.filter(|l| !l.is_nan()) {
        let _ = write!(
            s,
            r#"<rect class="fill-{}" x="0" y="3" width="{}" height="8" rx="2"/>"#,
            status_name(status),
            gauge_x(l)
        );
    }
    for (class, at) in [("tick-warn", warn), ("tick-critical", critical)] {
        if at.is_finite() && at > 0.0 {
            let x = gauge_x(at);
            let _ = write!(
                s,
                r#"<line class="{class}" x1="{x}" y1="0" x2="{x}" y2="14" stroke-width="1.5"/>"#
            );
        }
    }
    s.push_str("</svg>");
    s
}

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
    /// Water-level status.
    pub status: Status,
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
pub fn link_graph(nodes: &[Node], edges: &[GraphEdge]) -> String {
    let layers = order_layers(nodes, edges);
    let p = place(&layers, nodes.len());
    let (width, height) = (p.width, p.height);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg id="link-graph" class="link-graph{}" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="Dependency graph: {} nodes, {} edges">"#,
        if width <= FIT_WIDTH { " fit" } else { "" },
        nodes.len(),
        edges.len()
    );
    s.push_str(
        r#"<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path class="arrowhead" d="M0,0 L10,5 L0,10 z"/></marker></defs>"#,
    );
    s.push_str(r#"<g class="edges">"#);
    for e in edges {
        if e.from >= nodes.len() || e.to >= nodes.len() {
            continue;
        }
        let _ = write!(
            s,
            r#"<path class="edge {}" data-from="{}" data-to="{}" d="{}" fill="none" stroke-width="1.4"{} marker-end="url(#arrow)"/>"#,
            if e.weak { "weak" } else { "strong" },
            esc(&nodes[e.from].id),
            esc(&nodes[e.to].id),
            edge_path(&p, e.from, e.to),
            if e.weak {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            },
        );
    }
    s.push_str("</g>");
    s.push_str(r#"<g class="nodes">"#);
    for layer in &layers {
        for &i in layer {
            let n = &nodes[i];
            let (x, y) = p.at[i];
            let kind = n.kind.as_str();
            let _ = write!(
                s,
                r#"<a href="{}" id="node-{kind}-{}" data-node="{kind}:{}" data-status="{}"><title>{}</title>"#,
                esc(&n.href),
                esc(&n.id),
                esc(&n.id),
                status_name(n.status),
                esc(&n.tooltip)
            );
            let rx = match n.kind {
                NodeKind::Entry => 15,
                NodeKind::Service => 4,
                NodeKind::Partner => 0,
            };
            let _ = write!(
                s,
                r#"<rect class="node {kind} node-{}" x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="{rx}" stroke-width="1.5"/>"#,
                status_name(n.status)
            );
            let _ = write!(
                s,
                r#"<text x="{}" y="{}">{}</text>"#,
                x + 10,
                y + NODE_H / 2 + 4,
                esc(&label(&n.id))
            );
            if n.findings > 0 {
                let (cx, cy) = (x + NODE_W, y);
                let _ = write!(
                    s,
                    r#"<circle class="finding-ring ring-{}" cx="{cx}" cy="{cy}" r="9" stroke-width="2.5"/><text class="finding-count" x="{cx}" y="{}" text-anchor="middle">{}</text>"#,
                    n.worst,
                    cy + 4,
                    n.findings
                );
            }
            s.push_str("</a>");
        }
    }
    s.push_str("</g></svg>");
    s
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
            status: Status::Ok,
            findings: 0,
            worst: "info",
            href: format!("#{id}"),
            tooltip: id.to_owned(),
        }
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&#60;a href=&#34;x&#34;&#62;&#38;&#39;"
        );
    }

    #[test]
    fn percentages_and_gauges() {
        assert_eq!(percent(Some(0.575)), "57.5 %");
        assert_eq!(percent(None), "—");
        assert_eq!(percent(Some(f64::INFINITY)), "∞ %");
        let g = gauge(Some(0.9375), Status::Critical, 0.7, 0.9);
        assert!(g.contains(r#"class="fill-critical""#), "{g}");
        assert!(
            g.contains(r#"width="90""#),
            "93.75 % of 1.25 is 90 units: {g}"
        );
        assert!(g.contains(r#"x1="67.2""#), "warn tick at 70 %: {g}");
        // Over-full and unknown levels do not overflow or draw a bar.
        assert!(
            gauge(Some(9.0), Status::Critical, 0.7, 0.9)
                .contains(r#"width="120" height="8" rx="2"/><line"#)
        );
        assert!(!gauge(None, Status::Unknown, 0.7, 0.9).contains("fill-unknown"));
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
        nodes[2].status = Status::Critical;
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
