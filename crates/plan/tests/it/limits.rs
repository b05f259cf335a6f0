//! The reader's limits (`seawall_plan::limits`): sized so the largest plans
//! Seawall is built for parse, while alias bombs, deep nesting and oversized
//! files are refused with E003 naming the limit, its value and what to do.

use seawall_plan::generate::{self, Spec};
use seawall_plan::limits::{self, Limit};
use seawall_plan::{Diagnostic, capacity, links, readiness, targets};

/// The single E003 diagnostic of `src`, which must be refused.
fn refused(src: &str) -> Diagnostic {
    let diags = seawall_plan::parse(src, "big.yaml").expect_err("refused");
    assert_eq!(diags.0.len(), 1, "{}", diags.render());
    let d = diags.0.into_iter().next().expect("one diagnostic");
    assert_eq!(d.code, "E003", "{d}");
    assert!(d.line >= 1 && d.column >= 1, "{d}");
    d
}

/// `d` names `limit` and its value and says where to read about limits.
fn names(d: &Diagnostic, limit: Limit) {
    let text = d.to_string();
    assert!(
        text.contains(&format!("`{}` = {}", limit.name(), limit.value())),
        "{text}"
    );
    assert!(
        d.help
            .as_deref()
            .is_some_and(|h| h.contains("docs/plan-reference.md#parser-limits")),
        "{text}"
    );
}

#[test]
fn a_plan_of_ten_thousand_services_and_fifty_thousand_edges_parses_and_validates() {
    let spec = Spec::sized(10_000, 50_000);
    let text = generate::yaml(&spec);
    assert!(
        (3_500_000..6_000_000).contains(&text.len()),
        "{} bytes",
        text.len()
    );
    let plan = match seawall_plan::parse(&text, "big.yaml") {
        Ok(plan) => plan,
        Err(d) => panic!("{}", d.render()),
    };
    assert_eq!(plan.services.len(), 10_000);
    let edges: usize = plan
        .services
        .values()
        .flat_map(|s| &s.dependencies)
        .filter(|e| plan.services.contains_key(&e.to))
        .count();
    assert_eq!(edges, 50_000);
    assert_eq!(plan.entries.len(), 1_000);
    assert!(!plan.emergency_plans.is_empty() && !plan.oncall.rota.is_empty());
    // Readiness runs every analysis on it.
    let t = targets::decompose(&plan);
    let table = capacity::table(&plan, &t, &capacity::Measured::default());
    let findings = links::analyze(&plan, &t, &table);
    let card = readiness::scorecard(&plan, &t, &table, &findings);
    assert_eq!(card.lines.len(), 10);
    assert!(card.lines.iter().all(|l| l.target_qps > 0.0));
}

#[test]
fn the_generated_yaml_is_deterministic_and_valid_at_small_sizes() {
    for (services, edges) in [(0, 0), (1, 0), (3, 5), (50, 200), (1_500, 6_000)] {
        let spec = Spec::sized(services, edges);
        let a = generate::yaml(&spec);
        assert_eq!(a, generate::yaml(&spec));
        if let Err(d) = seawall_plan::parse(&a, "gen.yaml") {
            panic!("{services}/{edges}:\n{}", d.render());
        }
    }
}

#[test]
fn billion_laughs_is_refused_naming_the_alias_expansion_limit() {
    let mut src = String::from(
        "event: {name: lol}\nlol0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        src.push_str(&format!(
            "lol{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    let d = refused(&src);
    names(&d, Limit::AliasExpansion);
    assert!(d.line >= 3, "points into the aliases: {d}");
}

#[test]
fn deep_flow_nesting_is_refused_naming_the_depth_limit() {
    let depth = 200;
    let src = format!(
        "event: {{name: deep}}\nx: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let d = refused(&src);
    names(&d, Limit::Depth);
    assert_eq!(d.line, 2, "{d}");
}

#[test]
fn deep_block_nesting_is_refused_naming_the_depth_limit() {
    let mut src = String::from("event: {name: deep}\n");
    for level in 0..limits::MAX_DEPTH + 5 {
        src.push_str(&"  ".repeat(level));
        src.push_str("k:\n");
    }
    let d = refused(&src);
    names(&d, Limit::Depth);
    assert!(d.line > limits::MAX_DEPTH as u32 / 2, "{d}");
}

#[test]
fn nesting_within_the_limit_is_a_schema_error_not_e003() {
    // 20 levels deep: read, then refused by the schema (unknown key), not by
    // the reader.
    let src = format!(
        "event: {{name: x}}\nx: {}{}\n",
        "[".repeat(20),
        "]".repeat(20)
    );
    let diags = seawall_plan::parse(&src, "p.yaml").expect_err("unknown key");
    assert!(
        diags.0.iter().all(|d| d.code != "E003"),
        "{}",
        diags.render()
    );
}

#[test]
fn too_many_values_are_refused_naming_the_node_limit() {
    let n = limits::MAX_NODES + 10;
    let mut src = String::with_capacity(2 * n + 64);
    src.push_str("event: {name: many}\nx: [");
    for _ in 0..n {
        src.push_str("1,");
    }
    src.push_str("]\n");
    assert!(src.len() < limits::MAX_BYTES);
    let d = refused(&src);
    names(&d, Limit::Nodes);
    assert_eq!(d.line, 2, "{d}");
}

#[test]
fn a_file_over_the_byte_limit_is_refused_with_the_line_where_it_crosses() {
    let line = "# padding padding padding padding padding padding padding padding\n";
    let lines = limits::MAX_BYTES / line.len() + 10;
    let mut src = String::from("event: {name: big}\n");
    for _ in 0..lines {
        src.push_str(line);
    }
    let d = refused(&src);
    names(&d, Limit::Bytes);
    let expected = 1 + (limits::MAX_BYTES - "event: {name: big}\n".len()) / line.len() + 1;
    assert_eq!(d.line as usize, expected, "{d}");
    assert!(d.message.contains(&format!("{} bytes", src.len())), "{d}");
}

#[test]
fn shared_defaults_through_many_aliases_are_read() {
    // One block of edge defaults merged into 300 edges: the kind of sharing
    // a real plan does, well within every limit.
    let mut src = String::from(
        "event: {name: shared}\nx-defaults: &edge {strength: strong, timeout_ms: 200}\nservices:\n  sink: {}\n",
    );
    for i in 0..300 {
        src.push_str(&format!(
            "  s{i}:\n    dependencies:\n      - {{<<: *edge, to: sink}}\n"
        ));
    }
    let diags = seawall_plan::parse(&src, "p.yaml").expect_err("x-defaults is unknown");
    assert!(
        diags.0.iter().all(|d| d.code == "E010"),
        "{}",
        diags.render()
    );
}
