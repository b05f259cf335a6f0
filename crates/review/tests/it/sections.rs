//! The fixed event's review, number by number (worked out by hand from
//! `fixture.rs` with the formulas of docs/review.md), and its three
//! renderings pinned by snapshots.

use seawall_review::{compare, review, to_html, to_json, to_markdown};

use crate::fixture::{T0, input};

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn entries_and_services_compare_estimate_rehearsal_and_actual() {
    let r = review(&input());
    assert_eq!(r.schema_version, "seawall.review/v1");
    assert_eq!(r.window_source, "peak phase");
    let browse = &r.entries[0];
    assert_eq!(browse.id, "browse");
    // rate(visits) = 3,600,000 × 0.1 ÷ 3600 = 100 QPS at the journey's first step.
    assert!(close(browse.target_qps, 100.0), "{browse:?}");
    assert!(close(browse.peak_qps, 130.0));
    assert_eq!(browse.peak_at_ms, Some(T0 + 30_000));
    assert!(close(browse.estimate_error, 1.3));
    assert!(close(browse.knee_qps, 150.0));
    assert!(!browse.saturated);
    assert_eq!(browse.slo_broken_points, 1, "the 2 % errors at 40 s");

    let checkout = &r.entries[1];
    assert!(close(checkout.target_qps, 10.0));
    assert!(close(checkout.peak_qps, 9.0));
    assert!(close(checkout.p99_ms_at_peak, 350.0));
    assert!(checkout.saturated, "p99 350 > SLO 300 at the peak");
    assert!(close(checkout.capacity_vs_knee, 0.75), "9 ÷ 12");

    let shop = &r.services[0];
    assert!(close(shop.knee_qps, 100.0), "50 per instance × 2");
    assert!(close(shop.utilisation, 1.39), "139 ÷ 100");
    assert!(close(Some(shop.utilisation_target), 1.0 / 1.3));
    assert_eq!(shop.within_headroom, Some(false));
    assert_eq!(shop.plan_line.as_deref(), Some("plan.yaml:27"));
}

#[test]
fn funnel_partners_alerts_runs_incidents() {
    let r = review(&input());
    assert!(close(r.funnel[1].planned, 0.1));
    assert!(close(r.funnel[1].actual, 0.08));
    assert!(close(r.funnel[1].ratio, 0.8));
    assert_eq!(r.partners[0].points, 6);
    assert!(close(r.partners[0].compliance, 5.0 / 6.0));

    let a = &r.alerts;
    assert_eq!((a.fired, a.noise), (2, 1));
    let p99 = a
        .rules
        .iter()
        .find(|x| x.rule == "checkout-p99")
        .expect("rule");
    assert!(close(p99.crossing_to_fire_ms, 10_000.0));
    assert_eq!((p99.with_impact, p99.noise), (1, 0));
    let misses: Vec<&str> = a.misses.iter().map(|m| m.target.as_str()).collect();
    assert_eq!(misses, ["entry:browse", "partner:pay"]);
    assert_eq!(a.never_fired, ["browse-errors"]);

    let e = &r.emergency[0];
    assert_eq!(e.duration_ms, Some(180_000));
    assert!(close(e.run_vs_expected, 1.5));
    assert_eq!(e.within_expected, Some(false));
    assert_eq!(e.time_to_approval_ms, Some(10_000));

    let c = &r.change_control;
    assert_eq!(
        (
            c.decisions_in_freeze,
            c.refused_in_freeze,
            c.allowed_by_exception
        ),
        (2, 1, 1)
    );
    assert_eq!(c.rule_changes, 1);
    assert_eq!(c.before_incidents.len(), 1);
    assert!(close(Some(c.before_incidents[0].minutes_before), 20.5));

    assert!(close(r.incidents.mtta_ms, 60_000.0));
    assert!(close(r.incidents.mttr_ms, 270_000.0));
    assert_eq!(r.oncall.pages_per_person, [("lin".to_owned(), 1)]);
    assert!(r.oncall.gaps.is_empty());

    let rules: Vec<&str> = r.recommendations.iter().map(|x| x.rule.as_str()).collect();
    assert_eq!(
        rules,
        ["R1", "R2", "R3", "R4", "R6", "R7", "R8", "R9", "R9"]
    );
    assert!(r.recommendations.iter().all(|x| {
        x.plan_line
            .as_deref()
            .is_some_and(|l| l.starts_with("plan.yaml:"))
    }));
}

#[test]
fn a_review_without_plan_or_telemetry_says_so() {
    let mut i = input();
    i.plan = None;
    i.series.clear();
    let r = review(&i);
    assert!(r.entries.is_empty() && r.recommendations.is_empty());
    assert_eq!(r.window, None);
    assert_eq!(r.notes.len(), 2, "{:?}", r.notes);
    assert!(to_markdown(&r).contains("no telemetry"));
}

#[test]
fn comparison_with_an_earlier_event() {
    let now = review(&input());
    let mut earlier_input = input();
    earlier_input.slug = "double11-2025".into();
    for s in &mut earlier_input.series {
        for p in &mut s.points {
            p.qps_max /= 2.0;
        }
    }
    let mut r = now.clone();
    r.comparison = Some(compare(&now, &review(&earlier_input)));
    let c = r.comparison.as_ref().expect("comparison");
    assert_eq!(c.earlier, "double11-2025");
    assert!(close(c.entries[0].growth, 2.0));
    assert!(to_markdown(&r).contains("## Comparison"));
}

#[test]
fn renderings_are_pinned() {
    let r = review(&input());
    insta::assert_snapshot!("review_json", to_json(&r));
    insta::assert_snapshot!("review_markdown", to_markdown(&r));
    let html = to_html(&r);
    for banned in [
        "<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import",
    ] {
        assert!(!html.contains(banned), "{banned} in the review");
    }
    assert!(html.contains("<svg") && html.contains("@page { size: A4"));
    assert!(html.starts_with("<!DOCTYPE html>"));
    let back: seawall_review::Review = serde_json::from_str(&to_json(&r)).expect("reads back");
    assert_eq!(back, r);
}

#[test]
fn stored_text_is_escaped_in_every_rendering() {
    let mut i = input();
    i.incidents[0].incident.title = "<script>alert(1)</script> | `x` & \"y\"".into();
    let r = review(&i);
    let html = to_html(&r);
    assert!(
        !html.contains("<script"),
        "markup from the store reached the page"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("<code>x</code>"), "a code span");
    let md = to_markdown(&r);
    assert!(
        md.contains("\\| `x`"),
        "a pipe inside a cell is escaped: {md}"
    );
}

#[test]
fn a_section_the_plan_lacks_is_pointed_at_by_file_alone() {
    let mut i = input();
    let plan = i.plan.as_mut().expect("plan");
    // No `monitoring:` section: the misses' R9 can only name the file.
    let start = plan.text.find("monitoring:").expect("monitoring");
    let end = plan.text.find("oncall:").expect("oncall");
    plan.text.replace_range(start..end, "");
    let r = review(&i);
    let r9: Vec<_> = r
        .recommendations
        .iter()
        .filter(|x| x.rule == "R9")
        .collect();
    assert!(!r9.is_empty(), "{:?}", r.recommendations);
    assert!(
        r9.iter()
            .all(|x| x.plan_line.as_deref() == Some("plan.yaml")),
        "{r9:?}"
    );
}

/// The fixture with both entries rehearsed by a generator-bound run of
/// scenario `peak` (appended to the plan): browse held 120 qps,
/// checkout 8, neither broke for the system's sake.
fn generator_bound() -> seawall_review::input::Input {
    let mut i = input();
    if let Some(p) = i.plan.as_mut() {
        p.text.push_str(
            "rehearsals:\n  peak:\n    mix: {shop: 1}\n    rate: \"1x\"\n    duration: 1m\n",
        );
    }
    i.rehearsal.entry_knees.clear();
    i.rehearsal.add_run(seawall_review::input::RunFigures {
        run: 8,
        scenario: "peak".into(),
        knees: Vec::new(),
        lower_bounds: vec![("browse".into(), 120.0), ("checkout".into(), 8.0)],
        services: Vec::new(),
    });
    i
}

#[test]
fn a_generator_bound_rehearsal_is_a_lower_bound_never_a_knee() {
    let i = generator_bound();
    let line = i
        .plan
        .as_ref()
        // The scenario's mapping starts at its first key.
        .and_then(|p| p.text.lines().position(|l| l == "    mix: {shop: 1}"))
        .map(|n| format!("plan.yaml:{}", n + 1));
    let r = review(&i);
    let browse = &r.entries[0];
    assert_eq!(browse.knee_qps, None, "{browse:?}");
    assert!(close(browse.lower_bound_qps, 120.0));
    assert_eq!(browse.lower_bound_scenario.as_deref(), Some("peak"));
    assert_eq!(browse.capacity_vs_lower_bound, None, "not saturated");
    let checkout = &r.entries[1];
    assert_eq!(checkout.knee_qps, None);
    assert_eq!(checkout.capacity_vs_knee, None, "no knee to compare with");
    assert!(
        close(checkout.capacity_vs_lower_bound, 1.125),
        "saturated at 9 ≥ the bound 8: {checkout:?}"
    );
    // No "the rehearsal overstated" (R3) from a bound the peak exceeded;
    // R12 for each, pointing at the scenario's line.
    let rules: Vec<(&str, Option<&str>)> = r
        .recommendations
        .iter()
        .map(|x| (x.rule.as_str(), x.plan_line.as_deref()))
        .collect();
    assert!(!rules.iter().any(|(rule, _)| *rule == "R3"), "{rules:?}");
    let r12: Vec<_> = r
        .recommendations
        .iter()
        .filter(|x| x.rule == "R12")
        .collect();
    assert_eq!(r12.len(), 2, "{rules:?}");
    assert!(
        r12[0].why.contains("≥ 120 qps, generator-bound"),
        "{:?}",
        r12[0]
    );
    assert!(
        r12[0]
            .change
            .contains("scenario `peak` again with more generators")
    );
    assert!(line.is_some());
    assert!(r12.iter().all(|x| x.plan_line == line), "{r12:?}");

    // The renderings show a bound, never a knee.
    let md = to_markdown(&r);
    assert!(md.contains("≥ 120, generator-bound"), "{md}");
    assert!(md.contains("≥ 8, generator-bound"), "{md}");
    assert!(md.contains("112.5 % of the lower bound"), "{md}");
    assert!(md.contains(
        "Generator-bound (rehearsed only to a lower bound, knee unknown): browse, checkout."
    ));
    let html = to_html(&r);
    assert!(html.contains("≥ 120, generator-bound") || html.contains("&ge; 120, generator-bound"));
    assert!(
        html.contains("a lower bound, not a knee"),
        "the chart's bar says so"
    );
    let json: serde_json::Value = serde_json::from_str(&to_json(&r)).expect("json");
    assert_eq!(json["entries"][0]["knee_qps"], serde_json::Value::Null);
    assert_eq!(json["entries"][0]["lower_bound_qps"], 120.0);

    // A saturated peak below the bound: the rehearsal overstated it (R3).
    let mut low = generator_bound();
    low.rehearsal.add_run(seawall_review::input::RunFigures {
        run: 9,
        scenario: "peak".into(),
        lower_bounds: vec![("checkout".into(), 12.0)],
        ..Default::default()
    });
    let r = review(&low);
    assert!(close(r.entries[1].capacity_vs_lower_bound, 0.75), "9 ÷ 12");
    let r3: Vec<_> = r
        .recommendations
        .iter()
        .filter(|x| x.rule == "R3")
        .collect();
    assert_eq!(r3.len(), 1, "{:?}", r.recommendations);
    assert!(
        r3[0].why.contains("generator-bound rehearsal"),
        "{:?}",
        r3[0]
    );
}

/// A service one of whose entries was rehearsed only to a lower bound:
/// the service's capacity is a lower bound too (its entries' knees plus
/// the bound), never the partial sum of the others' knees as a knee, and
/// the plan keeps counting on its declared capacity.
#[test]
fn a_service_with_a_generator_bound_entry_has_a_lower_bound_not_a_partial_sum() {
    let mut i = generator_bound();
    // browse reached its knee (100 qps); checkout only a bound (8 qps):
    // the run's service figure sums browse's knee alone (100 / 2
    // instances).
    i.rehearsal.add_run(seawall_review::input::RunFigures {
        run: 9,
        scenario: "peak".into(),
        knees: vec![("browse".into(), 100.0)],
        lower_bounds: Vec::new(),
        services: vec![("shop".into(), 50.0)],
    });
    let r = review(&i);
    let shop = &r.services[0];
    assert_eq!(shop.id, "shop");
    assert_eq!(shop.knee_qps, None, "a partial sum is no knee: {shop:?}");
    assert!(close(shop.lower_bound_qps, 108.0), "100 + 8: {shop:?}");
    assert_eq!(shop.capacity_source, "declared");
    assert!(close(shop.capacity_qps, 80.0), "2 × 40 declared: {shop:?}");
    let md = to_markdown(&r);
    assert!(md.contains("≥ 108, generator-bound"), "{md}");

    // Every entry measured: the service's figure is its knee again.
    i.rehearsal.add_run(seawall_review::input::RunFigures {
        run: 10,
        scenario: "peak".into(),
        knees: vec![("checkout".into(), 10.0)],
        lower_bounds: Vec::new(),
        services: vec![("shop".into(), 55.0)],
    });
    let r = review(&i);
    let shop = &r.services[0];
    assert!(close(shop.knee_qps, 110.0), "{shop:?}");
    assert_eq!(shop.lower_bound_qps, None);
    assert_eq!(shop.capacity_source, "measured");
}
