//! Any string in a text node or an attribute value comes out escaped: it
//! cannot open or close a tag, end an attribute or start an entity of its
//! own — checked on the builder and on every chart kind.

use proptest::prelude::*;
use seawall_chart::graph::{GraphEdge, Node, NodeKind, link_graph};
use seawall_chart::line::{LineChart, Marker, Point, Series};
use seawall_chart::markup::{Element, Entities, render_nodes};
use seawall_chart::standalone::{Bar, Line, bar_chart, line_chart};
use seawall_chart::timeline::{self, Timeline};

/// The elements the charts draw; anything else in the output was injected.
const ELEMENTS: [&str; 17] = [
    "svg", "g", "line", "text", "title", "rect", "circle", "polyline", "path", "a", "defs",
    "marker", "p", "span", "i", "e", "x",
];

/// Whether `s` at `at` starts an entity this crate writes.
fn entity_at(s: &str, at: usize) -> bool {
    [
        "&#38;", "&#60;", "&#62;", "&#34;", "&#39;", "&amp;", "&lt;", "&gt;", "&quot;",
    ]
    .iter()
    .any(|e| s[at..].starts_with(e))
}

/// Scan markup: every tag is a known element with `name="value"`
/// attributes; no value or text holds `<`, `>` or `"`, and every `&` starts
/// an escape. Returns the first problem.
fn check(markup: &str) -> Result<(), String> {
    let b = markup.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'<' => {
                i += 1;
                if b.get(i) == Some(&b'/') {
                    i += 1;
                }
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
                    i += 1;
                }
                let name = &markup[start..i];
                if !ELEMENTS.contains(&name) {
                    return Err(format!("element {name:?} at {start}"));
                }
                // Attributes up to `>` or `/>`.
                loop {
                    match b.get(i) {
                        Some(b'>') => {
                            i += 1;
                            break;
                        }
                        Some(b'/') if b.get(i + 1) == Some(&b'>') => {
                            i += 2;
                            break;
                        }
                        Some(b' ') => {
                            i += 1;
                            let at = i;
                            while i < b.len() && b[i] != b'=' {
                                if !(b[i].is_ascii_alphanumeric() || b[i] == b'-' || b[i] == b':') {
                                    return Err(format!("attribute name at {at}"));
                                }
                                i += 1;
                            }
                            if b.get(i + 1) != Some(&b'"') {
                                return Err(format!("unquoted attribute at {at}"));
                            }
                            i += 2;
                            while i < b.len() && b[i] != b'"' {
                                if b[i] == b'<' || b[i] == b'>' {
                                    return Err(format!("{:?} in a value at {i}", b[i] as char));
                                }
                                if b[i] == b'&' && !entity_at(markup, i) {
                                    return Err(format!("bare & in a value at {i}"));
                                }
                                i += 1;
                            }
                            i += 1;
                        }
                        _ => return Err(format!("tag {name:?} malformed at {i}")),
                    }
                }
            }
            b'>' | b'"' => return Err(format!("{:?} in text at {i}", b[i] as char)),
            b'&' if !entity_at(markup, i) => return Err(format!("bare & in text at {i}")),
            _ => i += 1,
        }
    }
    Ok(())
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[<>&\"' a-z/=]{0,24}",
        Just("\"><script>alert(1)</script>".to_owned()),
        Just("&amp;&#60;".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn builder_escapes_text_and_attributes(s in any_text(), t in any_text()) {
        for entities in [Entities::Numeric, Entities::Named] {
            let m = Element::new("e")
                .attr("a", &s)
                .text(t.as_str())
                .child(Element::new("x").attr("b", &t).text(s.as_str()))
                .render_with(entities);
            prop_assert!(check(&m).is_ok(), "{:?}: {}", check(&m), m.as_str());
            // Nothing but the two elements and their closing tags.
            prop_assert_eq!(m.matches('<').count(), 4);
        }
    }

    #[test]
    fn charts_escape_every_label(a in any_text(), b in any_text(), c in any_text()) {
        let mut chart = LineChart::new(&a, &b, &c, &a);
        chart.series.push(Series {
            name: b.clone(),
            color: 1,
            dashed: true,
            dots: true,
            points: vec![
                Point { x: 0.0, y: 1.0, title: c.clone() },
                Point { x: 1.0, y: 2.0, title: a.clone() },
            ],
        });
        chart.markers.push(Marker { vertical: true, at: 0.5, label: c.clone(), class: "stroke-ok" });
        let line = chart.svg();
        prop_assert!(check(&line).is_ok(), "{:?}", check(&line));

        let tl = Timeline {
            id: a.clone(),
            title: b.clone(),
            tz: c.clone(),
            start: 0,
            end: 86_400_000,
            rows: vec![timeline::Row {
                label: a.clone(),
                data: b.clone(),
                bars: vec![timeline::Bar {
                    start: 0,
                    end: 43_200_000,
                    class: "fill-info",
                    label: c.clone(),
                    title: a.clone(),
                    data: b.clone(),
                    thin: false,
                }],
            }],
            bands: vec![timeline::Band { start: 0, end: 3_600_000, label: c.clone() }],
            now: Some(1),
        };
        let tl = tl.svg();
        prop_assert!(check(&tl).is_ok(), "{:?}", check(&tl));

        let nodes = vec![
            Node { id: a.clone(), kind: NodeKind::Entry, layer: 0, status: "ok", findings: 1,
                   worst: "error", href: b.clone(), tooltip: c.clone() },
            Node { id: c.clone(), kind: NodeKind::Service, layer: 1, status: "warn", findings: 0,
                   worst: "info", href: a.clone(), tooltip: b.clone() },
        ];
        let graph = link_graph(&nodes, &[GraphEdge { from: 0, to: 1, weak: true }]);
        prop_assert!(check(&graph).is_ok(), "{:?}", check(&graph));

        let report = render_nodes(
            &[
                line_chart(&[Line { name: a.clone(), points: vec![(0.0, 1.0)], dashed: false }], &b),
                bar_chart(&[Bar { label: b.clone(), title: c.clone(), value: 3.0 }], &a, &c),
            ]
            .concat(),
            Entities::Named,
        );
        prop_assert!(check(&report).is_ok(), "{:?}", check(&report));
    }
}

#[test]
fn the_checker_catches_injection() {
    assert!(check(r#"<svg a="1"><text>x</text></svg>"#).is_ok());
    assert!(check(r#"<svg a="1"><script>x</script></svg>"#).is_err());
    assert!(
        check(r#"<svg a="1" onload="x">"#).is_ok(),
        "a name is not input"
    );
    assert!(check(r#"<svg a="x"y">"#).is_err());
    assert!(check("<text>a & b</text>").is_err());
    assert!(check("<text>a > b</text>").is_err());
}
