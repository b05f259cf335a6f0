//! The water-level gauge of the targets page: a track, a bar coloured by
//! status and ticks at the plan's warn and critical levels.

use crate::markup::{Element, Markup};

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
/// (`fill-ok` / `fill-warn` / `fill-critical`: `status` is the CSS status
/// name), and ticks at the plan's warn and critical levels. The percentage
/// is text beside it in the page.
pub fn gauge(level: Option<f64>, status: &'static str, warn: f64, critical: f64) -> Markup {
    let label = match level {
        Some(_) => format!("water level {}", percent(level)),
        None => "water level unknown".to_owned(),
    };
    let mut s = Element::new("svg")
        .attr("class", "gauge")
        .attr("width", GAUGE_W)
        .attr("height", 14)
        .attr("viewBox", format!("0 0 {GAUGE_W} 14"))
        .attr("role", "img")
        .attr("aria-label", label)
        .child(
            Element::new("rect")
                .attr("class", "fill-track")
                .attr("x", 0)
                .attr("y", 3)
                .attr("width", GAUGE_W)
                .attr("height", 8)
                .attr("rx", 2),
        );
    if let Some(l) = level.filter(|l| !l.is_nan()) {
        s.push(
            Element::new("rect")
                .attr("class", format!("fill-{status}"))
                .attr("x", 0)
                .attr("y", 3)
                .attr("width", gauge_x(l))
                .attr("height", 8)
                .attr("rx", 2),
        );
    }
    for (class, at) in [("tick-warn", warn), ("tick-critical", critical)] {
        if at.is_finite() && at > 0.0 {
            let x = gauge_x(at);
            s.push(
                Element::new("line")
                    .attr("class", class)
                    .attr("x1", x)
                    .attr("y1", 0)
                    .attr("x2", x)
                    .attr("y2", 14)
                    .attr("stroke-width", "1.5"),
            );
        }
    }
    s.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_and_gauges() {
        assert_eq!(percent(Some(0.575)), "57.5 %");
        assert_eq!(percent(None), "—");
        assert_eq!(percent(Some(f64::INFINITY)), "∞ %");
        let g = gauge(Some(0.9375), "critical", 0.7, 0.9);
        assert!(g.contains(r#"class="fill-critical""#), "{g}");
        assert!(
            g.contains(r#"width="90""#),
            "93.75 % of 1.25 is 90 units: {g}"
        );
        assert!(g.contains(r#"x1="67.2""#), "warn tick at 70 %: {g}");
        // Over-full and unknown levels do not overflow or draw a bar.
        assert!(
            gauge(Some(9.0), "critical", 0.7, 0.9)
                .contains(r#"width="120" height="8" rx="2"/><line"#)
        );
        assert!(!gauge(None, "unknown", 0.7, 0.9).contains("fill-unknown"));
    }
}
