//! `monitoring.templates` at plan check: placeholders (E071) at their
//! line and column, per-id queries over templates, and (with the `promql`
//! feature) E070 pointing into the query whatever its quoting style.

use seawall_plan::model::QueryKind;

const MINIMAL: &str = include_str!("../../../../examples/minimal/plan.yaml");

/// The minimal plan with `monitoring` appended; the first appended line's
/// number.
fn with_monitoring(monitoring: &str) -> (String, usize) {
    let first = MINIMAL.lines().count() + 1;
    (format!("{MINIMAL}{monitoring}"), first)
}

fn diags(src: &str) -> Vec<seawall_plan::Diagnostic> {
    match seawall_plan::parse(src, "plan.yaml") {
        Ok(_) => Vec::new(),
        Err(d) => d.0,
    }
}

#[test]
fn templates_apply_per_kind_below_per_id_queries() {
    let (src, _) = with_monitoring(
        "monitoring:\n  queries:\n    checkout: {qps: 'own{e=\"{entry}\"}'}\n  templates:\n    entry: {qps: 'a{e=\"{entry}\"}', p99_ms: 'b{e=\"{entry}\"}'}\n    service: {error_rate: 'c{s=\"{service}\"}'}\n",
    );
    let plan = seawall_plan::parse(&src, "plan.yaml").expect("valid");
    let m = &plan.monitoring;
    assert_eq!(
        m.written(QueryKind::Entry, "checkout"),
        [Some("own{e=\"{entry}\"}"), Some("b{e=\"{entry}\"}"), None]
    );
    assert_eq!(
        m.written(QueryKind::Service, "shop"),
        [None, None, Some("c{s=\"{service}\"}")]
    );
    assert_eq!(m.written(QueryKind::Partner, "any"), [None, None, None]);
    assert!(!m.defaults_apply());
    assert!(m.covers(QueryKind::Entry, "checkout"));
    assert!(!m.covers(QueryKind::Partner, "any"));
}

#[test]
fn an_unknown_placeholder_is_e071_at_its_position() {
    let (src, first) = with_monitoring(
        "monitoring:\n  templates:\n    entry:\n      qps: 'sum(rate(x{resource=\"{entyr}\"}[1m]))'\n",
    );
    let d = diags(&src);
    let e = d.iter().find(|d| d.code == "E071").expect("E071");
    assert_eq!(e.line as usize, first + 3, "{e}");
    // `      qps: '` is 12 characters; `{entyr}` is 21 into the query.
    assert_eq!(e.column, 13 + 21, "{e}");
    assert_eq!(e.path, "monitoring.templates.entry.qps");
    assert!(e.message.contains("`{entyr}`"), "{e}");
    assert!(
        e.help
            .as_deref()
            .is_some_and(|h| h.contains("did you mean `{entry}`")),
        "{e}"
    );
}

#[test]
fn a_placeholder_of_another_kind_is_e071() {
    let (src, first) = with_monitoring(
        "monitoring:\n  templates:\n    service:\n      qps: \"up{entry=\\\"{entry}\\\"}\"\n  queries:\n    checkout: {error_rate: 'x{s=\"{service}\"}'}\n",
    );
    let d = diags(&src);
    let e071: Vec<_> = d.iter().filter(|d| d.code == "E071").collect();
    assert_eq!(e071.len(), 2, "{d:#?}");
    // In a double-quoted scalar, `\"` is two characters of the file.
    assert_eq!(
        (e071[0].line as usize, e071[0].column),
        (first + 3, 13 + 11),
        "{}",
        e071[0]
    );
    assert!(
        e071[0].message.contains("filled in for {service}"),
        "{}",
        e071[0]
    );
    assert_eq!(e071[1].line as usize, first + 5, "{}", e071[1]);
    assert_eq!(e071[1].path, "monitoring.queries.checkout.error_rate");
}

#[cfg(feature = "promql")]
mod promql {
    use super::*;

    fn e070(monitoring: &str) -> (usize, u32, String) {
        let (src, first) = with_monitoring(monitoring);
        let d = diags(&src);
        let e = d
            .iter()
            .find(|d| d.code == "E070")
            .unwrap_or_else(|| panic!("no E070: {d:#?}"));
        (e.line as usize - first, e.column, e.message.clone())
    }

    #[test]
    fn e070_points_into_the_query_in_every_quoting_style() {
        // Plain: the `(` of `sum` is left open, column 12 + 3.
        let (l, c, m) =
            e070("monitoring:\n  funnel:\n    - name: a\n      query: sum(rate(x[1m])\n");
        assert_eq!((l, c), (3, 17), "{m}");
        assert!(m.contains("unclosed left parenthesis"), "{m}");
        // Single-quoted, a doubled quote before the error.
        let (l, c, _) =
            e070("monitoring:\n  funnel:\n    - name: a\n      query: 'x{a=''b''} $'\n");
        assert_eq!((l, c), (3, 26));
        // Double-quoted, escapes before the error.
        let (l, c, _) =
            e070("monitoring:\n  funnel:\n    - name: a\n      query: \"x{a=\\\"b\\\"} $\"\n");
        assert_eq!((l, c), (3, 26));
        // Literal block: the error on the block's second line.
        let (l, c, _) = e070(
            "monitoring:\n  alerts:\n    a:\n      target: checkout\n      metric: query\n      above: 1\n      query: |\n        sum(\n          x) )\n",
        );
        assert_eq!((l, c), (8, 14));
        // Folded block.
        let (l, c, _) = e070(
            "monitoring:\n  queries:\n    checkout:\n      qps: >-\n        sum(x)\n        ) + 1\n",
        );
        assert_eq!((l, c), (5, 9));
    }

    #[test]
    fn a_grammar_error_points_at_the_query_start() {
        let (l, c, m) = e070("monitoring:\n  queries:\n    checkout: {qps: 'sum(x) +'}\n");
        assert_eq!((l, c), (2, 22), "{m}");
    }

    #[test]
    fn a_template_that_breaks_for_one_id_names_it() {
        let src = MINIMAL
            .replace("  checkout:\n", "  9lives:\n")
            .replace("{entry: checkout}", "{entry: 9lives}");
        let src = format!(
            "{src}monitoring:\n  templates:\n    entry: {{qps: 'sum(rate({{entry}}_total[1m]))'}}\n"
        );
        let d = diags(&src);
        let e = d
            .iter()
            .find(|d| d.code == "E070")
            .unwrap_or_else(|| panic!("{d:#?}"));
        assert!(e.message.contains("filled in for `9lives`"), "{e}");
        assert_eq!(e.path, "monitoring.templates.entry.qps");
    }
}
