//! The exported Prometheus rules, promtool tests, Grafana dashboard and
//! Alertmanager skeleton: checked by Debian's `promtool` (missing fails,
//! never skips), the evaluator agreeing with every generated case, the
//! dashboard against Grafana's dashboard schema, and snapshots.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use seawall_monitor::export::{ALERTS_FILE, Case, Model};
use seawall_monitor::sample::TargetKind;
use seawall_monitor::{Config, Evaluator, Reading, Readings};
use seawall_plan::Plan;
use seawall_plan::capacity::Measured;

use crate::common::carnival;

const MINIMAL: &str = include_str!("../../../../examples/minimal/plan.yaml");

fn minimal() -> Plan {
    seawall_plan::parse(MINIMAL, "plan.yaml").expect("minimal parses")
}

fn model(plan: &Plan) -> Model {
    Model::new(plan, &Measured::default(), Config::default())
}

/// Debian's promtool; a missing one fails the test with what to install.
fn promtool() -> &'static str {
    let path = "/usr/bin/promtool";
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install Debian's `prometheus` package (apt-get install prometheus; .ci/run does)"
    );
    path
}

/// Run promtool with `args` in `dir`; its output on failure.
fn run_promtool(dir: &Path, args: &[&str]) {
    let out = Command::new(promtool())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn promtool_checks_and_tests(plan: &Plan) {
    let m = model(plan);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join(ALERTS_FILE),
        m.alert_rules().expect("rules"),
    )
    .expect("write");
    std::fs::write(
        dir.path().join("seawall-alerts.test.yml"),
        m.promtool_tests().expect("tests"),
    )
    .expect("write");
    run_promtool(dir.path(), &["check", "rules", ALERTS_FILE]);
    run_promtool(dir.path(), &["test", "rules", "seawall-alerts.test.yml"]);
}

#[test]
fn promtool_accepts_and_passes_the_minimal_plans_rules() {
    promtool_checks_and_tests(&minimal());
}

#[test]
fn promtool_accepts_and_passes_the_carnivals_rules() {
    promtool_checks_and_tests(&carnival());
}

/// The readings of one kind of target.
fn of_kind(readings: &mut Readings, kind: TargetKind) -> &mut HashMap<String, Reading> {
    match kind {
        TargetKind::Entry => &mut readings.entries,
        TargetKind::Service => &mut readings.services,
        TargetKind::Partner => &mut readings.partners,
        TargetKind::FunnelStep => &mut readings.funnel,
        TargetKind::Query => &mut readings.queries,
    }
}

/// Feed the evaluator a case's constant inputs every scrape interval up to
/// its evaluation time (a source-down case: its target failing); whether
/// the case's rule is firing then.
fn evaluator_fires(plan: &Plan, case: &Case) -> bool {
    let config = Config::default();
    let step = config.scrape_interval_ms;
    let mut ev = Evaluator::new(plan, &Measured::default(), config);
    let rule = &case.alert.rule;
    let mut readings = Readings::default();
    for i in &case.inputs {
        of_kind(&mut readings, i.kind).insert(i.id.clone(), Reading::Value(i.metrics));
    }
    if case.inputs.is_empty() {
        let failed = Reading::Failed {
            error: "connection refused".into(),
        };
        of_kind(&mut readings, rule.target.kind).insert(rule.target.id.clone(), failed);
    }
    let mut t = 0;
    while t <= case.eval_ms {
        ev.evaluate(&readings, t);
        t += step;
    }
    ev.alerts(false)
        .iter()
        .any(|a| a.id == rule.id && a.state == "firing")
}

/// The differential test: on every generated promtool case (which promtool
/// passes, above), the built-in evaluator agrees on fire / no-fire.
fn evaluator_agrees_with_every_case(plan: &Plan) -> usize {
    let cases = model(plan).cases();
    let disagree: Vec<String> = cases
        .iter()
        .filter(|c| evaluator_fires(plan, c) != c.fires)
        .map(|c| format!("{} (expected fires = {})", c.alert.rule.id, c.fires))
        .collect();
    assert!(
        disagree.is_empty(),
        "the evaluator disagrees on: {disagree:#?}"
    );
    cases.len()
}

#[test]
fn the_evaluator_agrees_with_the_generated_cases() {
    let minimal = evaluator_agrees_with_every_case(&minimal());
    let carnival = evaluator_agrees_with_every_case(&carnival());
    assert!(minimal >= 20, "{minimal} cases for the minimal plan");
    assert!(carnival >= 200, "{carnival} cases for the carnival");
}

#[test]
fn every_alert_has_a_fire_and_a_quiet_case() {
    for plan in [minimal(), carnival()] {
        let m = model(&plan);
        for a in m.alerts() {
            let of = |fires| {
                m.cases()
                    .iter()
                    .filter(|c| c.alert.rule.id == a.rule.id && c.fires == fires)
                    .count()
            };
            assert_eq!(of(false), 1, "{}: one quiet case", a.rule.id);
            assert_eq!(of(true), 1, "{}: one fire case", a.rule.id);
        }
    }
}

fn dashboard_errors(dashboard: &serde_json::Value) -> Vec<String> {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../data/grafana-dashboard.schema.json"))
            .expect("the vendored schema is JSON");
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .expect("the vendored schema compiles");
    validator
        .iter_errors(dashboard)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_dashboard_follows_grafanas_dashboard_schema() {
    for plan in [minimal(), carnival()] {
        let text = model(&plan)
            .grafana_dashboard(&plan.event.name)
            .expect("dashboard");
        let dashboard: serde_json::Value = serde_json::from_str(&text).expect("JSON");
        let errors = dashboard_errors(&dashboard);
        assert!(errors.is_empty(), "{errors:#?}");
        for panel in dashboard["panels"].as_array().expect("panels") {
            assert_eq!(panel["datasource"]["uid"], "seawall-prometheus");
        }
    }
    // The schema is not a formality: a broken dashboard fails it.
    let mut broken: serde_json::Value =
        serde_json::from_str(&model(&minimal()).grafana_dashboard("x").expect("dashboard"))
            .expect("JSON");
    broken["graphTooltip"] = serde_json::json!(7);
    broken["panels"][0]["gridPos"]["w"] = serde_json::json!(30);
    assert_eq!(
        dashboard_errors(&broken).len(),
        2,
        "{:#?}",
        dashboard_errors(&broken)
    );
}

#[test]
fn the_minimal_plans_exports_are_stable() {
    let m = model(&minimal());
    insta::assert_snapshot!("minimal_alerts_rules", m.alert_rules().expect("rules"));
    insta::assert_snapshot!("minimal_promtool_tests", m.promtool_tests().expect("tests"));
    insta::assert_snapshot!(
        "minimal_alertmanager",
        m.alertmanager().expect("alertmanager")
    );
    let (datasources, dashboards) = m.grafana_provisioning().expect("provisioning");
    insta::assert_snapshot!("minimal_grafana_datasources", datasources);
    insta::assert_snapshot!("minimal_grafana_dashboards", dashboards);
    insta::assert_snapshot!(
        "minimal_grafana_dashboard",
        m.grafana_dashboard("Minimal flash sale")
            .expect("dashboard")
    );
}
