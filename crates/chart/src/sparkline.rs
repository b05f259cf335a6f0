//! The Live page's sparklines: one small line of a value over time (an
//! entry's qps) against flat reference levels (its capacity and its
//! target), with no axes — the numbers are in the table beside it. A
//! reference above the line's top still shows: the vertical scale covers
//! the highest of the points and the references.

use crate::markup::{Element, Markup};
use crate::scale::{Scale, fin};

/// Width of a sparkline in SVG units.
pub const WIDTH: f64 = 160.0;
/// Height of a sparkline in SVG units.
pub const HEIGHT: f64 = 32.0;

/// A flat level drawn across the sparkline.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// CSS class of the line (`ref-capacity`, `ref-target`).
    pub class: &'static str,
    /// The level, in the points' unit; non-finite or negative levels are
    /// not drawn.
    pub value: f64,
}

fn round1(v: f64) -> f64 {
    (fin(v) * 10.0).round() / 10.0
}

/// A sparkline of `points` (`(time, value)`, oldest first; non-finite
/// values are skipped) with `refs` as dashed flat lines. `label` is the
/// accessible name. Fewer than two points draw the frame and the
/// references only.
pub fn sparkline(points: &[(f64, f64)], refs: &[Reference], label: &str) -> Markup {
    let pts: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(t, v)| t.is_finite() && v.is_finite())
        .collect();
    let refs: Vec<&Reference> = refs
        .iter()
        .filter(|r| r.value.is_finite() && r.value >= 0.0)
        .collect();
    let top = pts
        .iter()
        .map(|p| p.1)
        .chain(refs.iter().map(|r| r.value))
        .fold(0.0_f64, f64::max);
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    let (t0, t1) = match (pts.first(), pts.last()) {
        (Some(a), Some(b)) => (a.0, b.0),
        _ => (0.0, 1.0),
    };
    let x = Scale::new(t0, t1, 1.0, WIDTH - 1.0);
    let y = Scale::new(0.0, top, HEIGHT - 1.0, 1.0);
    let mut s = Element::new("svg")
        .attr("class", "sparkline")
        .attr("width", WIDTH)
        .attr("height", HEIGHT)
        .attr("viewBox", format!("0 0 {WIDTH} {HEIGHT}"))
        .attr("role", "img")
        .attr("aria-label", label)
        .child(
            Element::new("rect")
                .attr("class", "fill-track")
                .attr("x", 0)
                .attr("y", 0)
                .attr("width", WIDTH)
                .attr("height", HEIGHT),
        );
    for r in &refs {
        let at = round1(y.map(r.value));
        s.push(
            Element::new("line")
                .attr("class", r.class)
                .attr("x1", 0)
                .attr("y1", at)
                .attr("x2", WIDTH)
                .attr("y2", at)
                .attr("stroke-width", "1")
                .attr("stroke-dasharray", "3 2"),
        );
    }
    if pts.len() >= 2 {
        let coords: Vec<String> = pts
            .iter()
            .map(|&(t, v)| format!("{:.1},{:.1}", x.map(t), y.map(v)))
            .collect();
        s.push(
            Element::new("polyline")
                .attr("class", "spark")
                .attr("fill", "none")
                .attr("stroke-width", "1.5")
                .attr("points", coords.join(" ")),
        );
    }
    if let Some(&(t, v)) = pts.last() {
        s.push(
            Element::new("circle")
                .attr("class", "spark-last")
                .attr("cx", round1(x.map(t)))
                .attr("cy", round1(y.map(v)))
                .attr("r", 2),
        );
    }
    s.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_scales_to_the_highest_of_points_and_references() {
        let refs = [
            Reference {
                class: "ref-capacity",
                value: 100.0,
            },
            Reference {
                class: "ref-target",
                value: f64::NAN,
            },
        ];
        let svg = sparkline(&[(0.0, 0.0), (10.0, 50.0), (20.0, f64::NAN)], &refs, "qps");
        let s = svg.as_str();
        // Top is 110: capacity 100 sits 100/110 of the way up 30 units.
        assert!(s.contains(r#"class="ref-capacity" x1="0" y1="3.7""#), "{s}");
        assert!(
            !s.contains("ref-target"),
            "a NaN reference is not drawn: {s}"
        );
        assert!(s.contains(r#"points="1.0,31.0 159.0,17.4""#), "{s}");
        assert!(!s.contains("NaN") && !s.contains("inf"), "{s}");
        // One point: no line, its dot only.
        let one = sparkline(&[(5.0, 1.0)], &[], "x");
        assert!(!one.contains("<polyline") && one.contains("<circle"));
    }
}
