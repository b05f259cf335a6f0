//! Each chart kind draws the shapes its data asks for, where it asks.

use seawall_chart::graph::{GraphEdge, Node, NodeKind, link_graph};
use seawall_chart::line::{LineChart, Point, Series};
use seawall_chart::markup::{Entities, render_nodes};
use seawall_chart::standalone::{Bar, Line, bar_chart, line_chart};
use seawall_chart::timeline::{self, Timeline};

fn points(n: usize) -> Vec<Point> {
    (0..n)
        .map(|i| Point {
            x: i as f64,
            y: (i * i) as f64,
            title: format!("p{i}"),
        })
        .collect()
}

#[test]
fn a_line_chart_has_a_line_per_series_and_a_circle_per_point() {
    let mut c = LineChart::new("c", "t", "x", "y");
    for (k, n) in [4, 1, 0, 7].into_iter().enumerate() {
        c.series.push(Series {
            name: format!("s{k}"),
            color: k,
            dashed: k == 3,
            dots: false,
            points: points(n),
        });
    }
    let svg = c.svg();
    // A line needs two points; every point takes a hover circle.
    assert_eq!(svg.matches("<polyline").count(), 2, "{}", svg.as_str());
    assert_eq!(svg.matches("<circle").count(), 12);
    assert_eq!(svg.matches(r#"class="legend""#).count(), 4);
    // The dashed series is dashed in the plot and in the legend.
    assert_eq!(svg.matches(r#"stroke-dasharray="5 4""#).count(), 2);
    // The last point (x 6, y 36) sits at the right edge, nine tenths up
    // the y axis (ticks 0–40, pixels 202 down to 26).
    assert!(svg.contains(r#"cx="624.0" cy="43.6""#), "{}", svg.as_str());
}

#[test]
fn standalone_bars_are_proportional_and_ordered() {
    let bars: Vec<Bar> = [10.0, 40.0, 20.0]
        .into_iter()
        .enumerate()
        .map(|(i, v)| Bar {
            label: format!("b{i}"),
            title: format!("{v}"),
            value: v,
        })
        .collect();
    let html = render_nodes(&bar_chart(&bars, "n", "x"), Entities::Named);
    let heights: Vec<f64> = html
        .split("height=\"")
        .skip(2) // the <svg>'s own height
        .filter_map(|s| s.split('"').next()?.parse().ok())
        .collect();
    assert_eq!(heights.len(), 3, "{}", html.as_str());
    // 40 reaches the axis top (nice 50 → 40/50 of the plot, 212 px high).
    assert_eq!(heights, vec![42.4, 169.6, 84.8]);
    let at = |s: &str| html.find(s).expect(s);
    assert!(at(">b0<") < at(">b1<") && at(">b1<") < at(">b2<"));
    // An empty line chart is a note, not an empty drawing.
    let none = render_nodes(&line_chart(&[], "ms"), Entities::Named);
    assert!(none.contains("No data.") && !none.contains("<svg"));
    let one = render_nodes(
        &line_chart(
            &[Line {
                name: "a".into(),
                points: vec![(0.0, 1.0), (1.0, 2.0)],
                dashed: true,
            }],
            "ms",
        ),
        Entities::Named,
    );
    assert_eq!(one.matches("<polyline").count(), 1);
    assert!(
        one.contains(r#"<p class="legend"><span><i style="background:#1f77b4"></i>a</span></p>"#)
    );
}

#[test]
fn a_timeline_draws_the_bars_inside_its_window() {
    let hour = 3_600_000;
    let t = Timeline {
        id: "t".into(),
        title: "rota".into(),
        tz: "UTC".into(),
        start: 0,
        end: 24 * hour,
        rows: (0..3)
            .map(|r| timeline::Row {
                label: format!("row {r}"),
                data: format!("r{r}"),
                bars: (0..2)
                    .map(|b| timeline::Bar {
                        start: (r * 6 + b * 12) * hour,
                        end: (r * 6 + b * 12 + 4) * hour,
                        class: "fill-info",
                        label: "on call".into(),
                        title: format!("{r}/{b}"),
                        data: format!("{r}-{b}"),
                        thin: false,
                    })
                    .collect(),
            })
            .collect(),
        bands: Vec::new(),
        now: None,
    };
    let svg = t.svg();
    assert_eq!(svg.matches(r#"class="row""#).count(), 3);
    assert_eq!(svg.matches("data-bar=").count(), 6);
    // The first 12 hours hold the bars that start before noon (rows 0
    // and 1); row 2 stays, empty.
    let zoom = t.window("zoom", 0, 12 * hour).svg();
    assert_eq!(zoom.matches("data-bar=").count(), 2, "{}", zoom.as_str());
    assert_eq!(zoom.matches(r#"class="row""#).count(), 3);
    assert!(!zoom.contains("now"));
}

#[test]
fn a_link_graph_puts_callees_right_of_callers() {
    let node = |id: &str, layer| Node {
        id: id.into(),
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
        tooltip: id.into(),
    };
    let nodes = vec![node("entry", 0), node("bff", 1), node("db", 2)];
    let edges = [
        GraphEdge {
            from: 0,
            to: 1,
            weak: false,
        },
        GraphEdge {
            from: 1,
            to: 2,
            weak: false,
        },
        GraphEdge {
            from: 2,
            to: 9,
            weak: false,
        }, // dangling: not drawn
    ];
    let svg = link_graph(&nodes, &edges);
    assert_eq!(svg.matches(r#"<path class="edge"#).count(), 2);
    // The x of the box (`<rect … x="…"`) inside a node's link.
    let x_of = |node: &str| -> usize {
        let at = svg.find(&format!("data-node=\"{node}\"")).expect(node);
        let rect = &svg[at..][svg[at..].find("<rect").expect("rect")..];
        let x = rect.split(" x=\"").nth(1).expect("x");
        x.split('"')
            .next()
            .and_then(|v| v.parse().ok())
            .expect("number")
    };
    assert!(x_of("entry:entry") < x_of("service:bff"));
    assert!(x_of("service:bff") < x_of("service:db"));
}
