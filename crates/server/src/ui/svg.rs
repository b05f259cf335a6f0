//! The targets page's water-level gauge and the links page's dependency
//! diagram, drawn by `seawall-chart` (which builds and escapes all chart
//! markup). What stays here is Seawall's side: a water-level [`Status`] as
//! the CSS status name the drawings and the stylesheet use.

use seawall_plan::capacity::Status;

pub use seawall_chart::Markup;
pub use seawall_chart::gauge::percent;
pub use seawall_chart::graph::{GraphEdge, Node, NodeKind, crossings, link_graph, order_layers};

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

/// A horizontal water-level gauge: a track, a bar coloured by status
/// (`fill-ok` / `fill-warn` / `fill-critical`), and ticks at the plan's
/// warn and critical levels. The percentage is text beside it in the page.
pub fn gauge(level: Option<f64>, status: Status, warn: f64, critical: f64) -> Markup {
    seawall_chart::gauge::gauge(level, status_name(status), warn, critical)
}
