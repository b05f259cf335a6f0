//! Line charts for the web UI: rate and latency over time, capacity-search
//! steps, with axes, ticks, units, a legend, reference lines and a
//! tooltip on every point. Styled by the classes of the server's
//! `assets/seawall.css` (`series-N`, `stroke-*`, `grid-line`, `axis`),
//! never `style=""` (the UI's CSP forbids it).

use crate::markup::{Element, Markup, f1, line};
use crate::scale::{Scale, fmt_num, nice_ticks};

/// One point of a series, with the tooltip shown on hover.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// X value in data units.
    pub x: f64,
    /// Y value in data units.
    pub y: f64,
    /// `<title>` text.
    pub title: String,
}

/// A named line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Colour: the `series-N` class (N modulo 5).
    pub color: usize,
    /// Drawn dashed (the second run of a comparison).
    pub dashed: bool,
    /// Whether each point gets a dot (sparse data such as search steps).
    pub dots: bool,
    /// Points in drawing order.
    pub points: Vec<Point>,
}

/// A horizontal or vertical reference line with a label (a knee, an SLO).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Vertical (at an x value) or horizontal (at a y value).
    pub vertical: bool,
    /// Position in data units.
    pub at: f64,
    /// Label.
    pub label: String,
    /// Colour class (`stroke-critical`, `stroke-ok`, …).
    pub class: &'static str,
}

/// A line chart with axes, ticks, units, a legend and tooltips.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// `id` of the `<svg>` (stable, for tests and links).
    pub id: String,
    /// Accessible title.
    pub title: String,
    /// X axis label with unit, like `time since start (s)`.
    pub x_label: String,
    /// Y axis label with unit, like `requests/s`.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Reference lines.
    pub markers: Vec<Marker>,
    /// Start the y axis at zero (rates) rather than at the data's minimum.
    pub y_from_zero: bool,
}

const W: f64 = 640.0;
const H: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 58.0;

impl LineChart {
    /// A chart without series yet.
    pub fn new(id: &str, title: &str, x_label: &str, y_label: &str) -> LineChart {
        LineChart {
            id: id.to_owned(),
            title: title.to_owned(),
            x_label: x_label.to_owned(),
            y_label: y_label.to_owned(),
            series: Vec::new(),
            markers: Vec::new(),
            y_from_zero: true,
        }
    }

    fn extent(&self, vertical: bool) -> (f64, f64) {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        let values = self
            .series
            .iter()
            .flat_map(|s| &s.points)
            .map(|p| if vertical { p.y } else { p.x })
            .chain(
                self.markers
                    .iter()
                    .filter(|m| m.vertical != vertical)
                    .map(|m| m.at),
            )
            .filter(|v| v.is_finite());
        for v in values {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo > hi { (0.0, 1.0) } else { (lo, hi) }
    }

    /// Whether the chart has any point to draw.
    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.points.is_empty())
    }

    /// The chart as an `<svg>` element.
    pub fn svg(&self) -> Markup {
        let (x_lo, x_hi) = self.extent(false);
        let (mut y_lo, y_hi) = self.extent(true);
        if self.y_from_zero {
            y_lo = y_lo.min(0.0);
        }
        let xt = nice_ticks(x_lo, x_hi, 6);
        let yt = nice_ticks(y_lo, y_hi, 5);
        let (x0, x1) = (xt[0], xt[xt.len() - 1]);
        let (y0, y1) = (yt[0], yt[yt.len() - 1]);
        let sx = Scale::new(x0, x1, LEFT, W - RIGHT);
        let sy = Scale::new(y0, y1, H - BOTTOM, TOP);
        // Legend under the x label, wrapping onto more lines as needed.
        let mut legend = Vec::new();
        let (mut lx, mut ly) = (LEFT, H - 8.0);
        for se in &self.series {
            let width = 40.0 + 7.5 * se.name.chars().count() as f64;
            if lx + width > W - RIGHT && lx > LEFT {
                lx = LEFT;
                ly += 16.0;
            }
            legend.push((lx, ly));
            lx += width;
        }
        let height = ly + 8.0;
        let mut s = Element::new("svg")
            .attr("id", &self.id)
            .attr("class", "chart")
            .attr("viewBox", format!("0 0 {W} {height}"))
            .attr("role", "img")
            .attr("aria-label", &self.title)
            .title(self.title.as_str());
        // Grid and y ticks.
        for &t in &yt {
            let y = sy.map(t);
            s.push(line("grid-line", LEFT, f1(y), f1(W - RIGHT), f1(y), "1"));
            s.push(label(f1(LEFT - 4.0), f1(y + 4.0), "end", fmt_num(t)));
        }
        for &t in &xt {
            let x = sx.map(t);
            s.push(line(
                "axis",
                f1(x),
                f1(H - BOTTOM),
                f1(x),
                f1(H - BOTTOM + 4.0),
                "1",
            ));
            s.push(label(f1(x), f1(H - BOTTOM + 16.0), "middle", fmt_num(t)));
        }
        s.push(line(
            "axis",
            LEFT,
            f1(H - BOTTOM),
            f1(W - RIGHT),
            f1(H - BOTTOM),
            "1",
        ));
        s.push(line("axis", LEFT, TOP, LEFT, f1(H - BOTTOM), "1"));
        s.push(
            Element::new("text")
                .attr("class", "muted")
                .attr("x", f1((LEFT + W - RIGHT) / 2.0))
                .attr("y", f1(H - BOTTOM + 32.0))
                .attr("text-anchor", "middle")
                .text(&self.x_label),
        );
        s.push(
            Element::new("text")
                .attr("class", "muted")
                .attr("x", 4)
                .attr("y", f1(TOP - 12.0))
                .attr("text-anchor", "start")
                .text(&self.y_label),
        );
        let mut horizontal = 0;
        for m in &self.markers {
            let (xa, ya, xb, yb, tx, ty, anchor) = if m.vertical {
                let x = sx.map(m.at);
                // Labels of lines in the right half go to their left.
                if x > (LEFT + W - RIGHT) / 2.0 {
                    (x, TOP, x, H - BOTTOM, x - 3.0, TOP + 10.0, "end")
                } else {
                    (x, TOP, x, H - BOTTOM, x + 3.0, TOP + 10.0, "start")
                }
            } else {
                let y = sy.map(m.at);
                horizontal += 1;
                // Alternate right and left so labels of close lines do not
                // cover each other.
                if horizontal % 2 == 1 {
                    (LEFT, y, W - RIGHT, y, W - RIGHT - 2.0, y - 3.0, "end")
                } else {
                    (LEFT, y, W - RIGHT, y, LEFT + 4.0, y - 3.0, "start")
                }
            };
            s.push(
                Element::new("g")
                    .attr("class", "marker")
                    .attr("data-marker", &m.label)
                    .title(m.label.as_str())
                    .child(
                        Element::new("line")
                            .attr("class", m.class)
                            .attr("x1", f1(xa))
                            .attr("y1", f1(ya))
                            .attr("x2", f1(xb))
                            .attr("y2", f1(yb))
                            .attr("stroke-width", "1.5")
                            .attr("stroke-dasharray", "6 3"),
                    )
                    .child(label(f1(tx), f1(ty), anchor, &m.label)),
            );
        }
        for se in &self.series {
            let class = format!("series-{}", se.color % 5);
            let pts: Vec<String> = se
                .points
                .iter()
                .map(|p| format!("{:.1},{:.1}", sx.map(p.x), sy.map(p.y)))
                .collect();
            let mut g = Element::pair("g")
                .attr("class", "series")
                .attr("data-series", &se.name);
            if pts.len() > 1 {
                g.push(
                    Element::new("polyline")
                        .attr("class", &class)
                        .attr("fill", "none")
                        .attr("stroke-width", "2")
                        .attr_opt("stroke-dasharray", se.dashed.then_some("5 4"))
                        .attr("points", pts.join(" ")),
                );
            }
            let r = if se.dots || se.points.len() == 1 {
                3.5
            } else {
                2.0
            };
            for p in &se.points {
                // Transparent unless a dot (filled by `circle.dot` in the
                // stylesheet); the circle still takes the hover for its tooltip.
                g.push(
                    Element::new("circle")
                        .attr(
                            "class",
                            format!("{class}{}", if se.dots { " dot" } else { "" }),
                        )
                        .attr("cx", f1(sx.map(p.x)))
                        .attr("cy", f1(sy.map(p.y)))
                        .attr("r", r)
                        .attr("fill", "transparent")
                        .attr("stroke-width", "1.5")
                        .title(p.title.as_str()),
                );
            }
            s.push(g);
        }
        for (se, (lx, ly)) in self.series.iter().zip(legend) {
            s.push(
                Element::new("g")
                    .attr("class", "legend")
                    .child(
                        Element::new("line")
                            .attr("class", format!("series-{}", se.color % 5))
                            .attr("x1", f1(lx))
                            .attr("y1", f1(ly - 4.0))
                            .attr("x2", f1(lx + 18.0))
                            .attr("y2", f1(ly - 4.0))
                            .attr("stroke-width", "3")
                            .attr_opt("stroke-dasharray", se.dashed.then_some("5 4")),
                    )
                    .child(
                        Element::new("text")
                            .attr("x", f1(lx + 22.0))
                            .attr("y", f1(ly))
                            .text(se.name.as_str()),
                    ),
            );
        }
        s.render()
    }
}

/// A `<text>` at a point with an anchor.
fn label(
    x: impl std::fmt::Display,
    y: impl std::fmt::Display,
    anchor: &'static str,
    text: impl Into<String>,
) -> Element {
    Element::new("text")
        .attr("x", x)
        .attr("y", y)
        .attr("text-anchor", anchor)
        .text(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    fn chart_of(points: &[(f64, f64)]) -> LineChart {
        let mut c = LineChart::new("c", "A <chart>", "time (s)", "requests/s");
        c.series.push(Series {
            name: "home".into(),
            color: 0,
            dashed: false,
            dots: false,
            points: points
                .iter()
                .map(|&(x, y)| Point {
                    x,
                    y,
                    title: format!("{} s: {} req/s", fmt_num(x), fmt_num(y)),
                })
                .collect(),
        });
        c
    }

    #[test]
    fn line_chart_has_axes_legend_and_tooltips() {
        let mut c = chart_of(&[(0.0, 100.0), (1.0, 200.0), (2.0, 150.0)]);
        c.markers.push(Marker {
            vertical: false,
            at: 180.0,
            label: "knee 180/s".into(),
            class: "stroke-critical",
        });
        let svg = c.svg();
        assert!(svg.starts_with(r#"<svg id="c""#));
        assert!(svg.contains("A &#60;chart&#62;"), "title escaped");
        assert!(svg.contains("<title>1 s: 200 req/s</title>"), "{svg}");
        assert!(svg.contains(r#"data-series="home""#));
        assert!(svg.contains("requests/s") && svg.contains("time (s)"));
        assert!(svg.contains(r#"data-marker="knee 180/s""#));
        assert!(svg.contains("<polyline"));
        // y ticks 0…200 include 200 as a label.
        assert!(svg.contains(">200</text>"));
        assert!(!svg.contains("style="));
    }

    #[test]
    fn charts_never_contain_nan() {
        let mut rng = Rng(42);
        for _ in 0..500 {
            let n = (rng.next() % 6) as usize;
            let pts: Vec<(f64, f64)> = (0..n).map(|_| (rng.wild(), rng.wild())).collect();
            let mut c = chart_of(&pts);
            c.markers.push(Marker {
                vertical: rng.next().is_multiple_of(2),
                at: rng.wild(),
                label: "m".into(),
                class: "stroke-ok",
            });
            let svg = c.svg();
            assert!(
                !svg.contains("NaN") && !svg.contains("inf"),
                "{pts:?}: {svg}"
            );
        }
        let empty = LineChart::new("e", "empty", "x", "y");
        assert!(empty.is_empty());
        assert!(!empty.svg().contains("NaN"));
    }
}
