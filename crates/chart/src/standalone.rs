//! Charts for a self-contained HTML document (the load report): colours as
//! SVG presentation attributes rather than stylesheet classes, the legend
//! as an HTML paragraph, a line break after each shape so the file diffs
//! as text. Each chart is a list of [`Node`]s the document places where it
//! wants them.

use crate::markup::{Element, Node, f1};
use crate::scale::{nice_top, number};

/// A named line of `(seconds since start, value)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// Legend label.
    pub name: String,
    /// Points in increasing time.
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (a target rather than a measurement).
    pub dashed: bool,
}

/// One bar of a [`bar_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Label under the bar.
    pub label: String,
    /// Tooltip (`<title>`).
    pub title: String,
    /// Height in data units (≥ 0).
    pub value: f64,
}

/// Line colours, in legend order (repeat after the last).
const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 36.0;

fn newline() -> Node {
    Node::Text("\n".to_owned())
}

/// A line chart of `series` over time (seconds since start), y from 0, with
/// `unit` on the y axis and the legend below; a "No data." paragraph when
/// there is no point.
pub fn line_chart(series: &[Line], unit: &str) -> Vec<Node> {
    let points = series.iter().flat_map(|s| s.points.iter());
    let (x_max, y_max) = points.fold((0.0_f64, 0.0_f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
    if series.iter().all(|s| s.points.is_empty()) {
        return vec![
            Element::new("p")
                .attr("class", "none")
                .text("No data.")
                .into(),
            newline(),
        ];
    }
    // At least 5 s wide, so the five x ticks fall on whole seconds.
    let x_top = nice_top(x_max.max(5.0));
    let y_top = nice_top(y_max.max(f64::MIN_POSITIVE));
    let sx = |x: f64| LEFT + x / x_top * (WIDTH - LEFT - RIGHT);
    let sy = |y: f64| HEIGHT - BOTTOM - y / y_top * (HEIGHT - TOP - BOTTOM);
    let mut svg = open_svg();
    axes(&mut svg, unit, |i| {
        (sy(y_top * f64::from(i) / 5.0), y_top * f64::from(i) / 5.0)
    });
    for i in 0..=5 {
        let x = x_top * f64::from(i) / 5.0;
        svg.push(label(sx(x), HEIGHT - BOTTOM + 14.0, number(x)));
        svg.push_text("\n");
    }
    svg.push(label(
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 4.0,
        "seconds since start",
    ));
    svg.push_text("\n");
    for (i, s) in series.iter().enumerate() {
        if s.points.is_empty() {
            continue;
        }
        let points: Vec<String> = s
            .points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        svg.push(
            Element::new("polyline")
                .attr("fill", "none")
                .attr("stroke", PALETTE[i % PALETTE.len()])
                .attr("stroke-width", "1.5")
                .attr_opt("stroke-dasharray", s.dashed.then_some("6 4"))
                .attr("points", points.join(" "))
                .title(s.name.as_str()),
        );
        svg.push_text("\n");
    }
    let legend = Element::new("p")
        .attr("class", "legend")
        .children(series.iter().enumerate().map(|(i, s)| {
            Element::new("span")
                .child(Element::pair("i").attr(
                    "style",
                    format!("background:{}", PALETTE[i % PALETTE.len()]),
                ))
                .text(s.name.as_str())
                .into()
        }));
    vec![svg.into(), newline(), legend.into(), newline()]
}

/// Bars of equal width in the order given, each labelled under it, y from
/// 0 with `unit` on the y axis and `x_label` under the bars.
pub fn bar_chart(bars: &[Bar], unit: &str, x_label: &str) -> Vec<Node> {
    let y_max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    let y_top = nice_top(y_max.max(1.0));
    let sy = |y: f64| HEIGHT - BOTTOM - y / y_top * (HEIGHT - TOP - BOTTOM);
    let slot = (WIDTH - LEFT - RIGHT) / bars.len().max(1) as f64;
    let mut svg = open_svg();
    axes(&mut svg, unit, |i| {
        (sy(y_top * f64::from(i) / 5.0), y_top * f64::from(i) / 5.0)
    });
    for (i, b) in bars.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        let top = sy(b.value);
        svg.push(
            Element::new("rect")
                .attr("x", f1(x + 1.0))
                .attr("y", f1(top))
                .attr("width", f1((slot - 2.0).max(1.0)))
                .attr("height", f1((HEIGHT - BOTTOM - top).max(0.0)))
                .attr("fill", PALETTE[0])
                .title(b.title.as_str()),
        );
        svg.push(label(
            x + slot / 2.0,
            HEIGHT - BOTTOM + 14.0,
            b.label.as_str(),
        ));
        svg.push_text("\n");
    }
    svg.push(label((LEFT + WIDTH - RIGHT) / 2.0, HEIGHT - 4.0, x_label));
    svg.push_text("\n");
    vec![svg.into(), newline()]
}

fn open_svg() -> Element {
    Element::new("svg")
        .attr("width", WIDTH)
        .attr("height", HEIGHT)
        .attr("viewBox", format!("0 0 {WIDTH} {HEIGHT}"))
        .attr("role", "img")
        .text("\n")
}

/// A centred `<text>` at `(x, y)`.
fn label(x: f64, y: f64, text: impl Into<String>) -> Element {
    Element::new("text")
        .attr("x", f1(x))
        .attr("y", f1(y))
        .attr("text-anchor", "middle")
        .text(text)
}

/// The y axis with six labelled grid lines (five steps); `tick(i)` is `(y pixel, value)`.
fn axes(svg: &mut Element, unit: &str, tick: impl Fn(i32) -> (f64, f64)) {
    for i in 0..=5 {
        let (y, value) = tick(i);
        svg.push(
            Element::new("line")
                .attr("x1", LEFT)
                .attr("x2", f1(WIDTH - RIGHT))
                .attr("y1", f1(y))
                .attr("y2", f1(y))
                .attr("stroke", "#e4e4e4"),
        );
        svg.push(
            Element::new("text")
                .attr("x", f1(LEFT - 6.0))
                .attr("y", f1(y + 4.0))
                .attr("text-anchor", "end")
                .text(number(value)),
        );
        svg.push_text("\n");
    }
    let mid = f1((TOP + HEIGHT - BOTTOM) / 2.0);
    svg.push(
        Element::new("text")
            .attr("x", 12)
            .attr("y", &mid)
            .attr("transform", format!("rotate(-90 12 {mid})"))
            .attr("text-anchor", "middle")
            .text(unit),
    );
    svg.push_text("\n");
}
