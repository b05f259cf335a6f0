//! `seawall plan monitoring --export …` on the example plans: the files
//! Debian's `promtool` checks and whose generated tests it passes (a
//! missing promtool fails, never skips), a snapshot of the minimal plan's
//! recording rules, Alertmanager's `amtool check-config` on the
//! Alertmanager skeleton, and bad PromQL in a plan as an E070 diagnostic with
//! its line and column.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;
use common::{ok, seawall};

/// A fresh scratch directory under the target dir.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("monitoring-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Run Debian's `tool` (from `package`) with `args` in `dir`; a missing
/// tool fails the test, naming the package.
fn real_tool(tool: &str, package: &str, dir: &Path, args: &[&str]) -> String {
    let path = format!("/usr/bin/{tool}");
    assert!(
        Path::new(&path).exists(),
        "{path} is missing: install Debian's `{package}` package (apt-get install {package}; .ci/run does)"
    );
    let out = Command::new(&path)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the tool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{tool} {args:?} failed:\n{text}");
    text
}

fn promtool(dir: &Path, args: &[&str]) -> String {
    real_tool("promtool", "prometheus", dir, args)
}

fn export(plan: &str, what: &str, dir: &Path) -> String {
    ok(&[
        "plan",
        "monitoring",
        plan,
        "--export",
        what,
        "--out",
        dir.to_str().expect("utf-8 path"),
    ])
}

fn promtool_passes(plan: &str, name: &str) {
    let dir = scratch(name);
    let listed = export(plan, "prometheus-rules", &dir);
    assert!(listed.contains("seawall-sources.rules.yml"), "{listed}");
    export(plan, "promtool-tests", &dir);
    let checked = promtool(
        &dir,
        &[
            "check",
            "rules",
            "seawall-sources.rules.yml",
            "seawall-alerts.rules.yml",
        ],
    );
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&dir, &["test", "rules", "seawall-alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn promtool_checks_and_tests_the_minimal_plans_export() {
    promtool_passes("examples/minimal/plan.yaml", "minimal");
}

#[test]
fn promtool_checks_and_tests_the_carnivals_export() {
    promtool_passes("examples/carnival/plan.yaml", "carnival");
}

#[test]
fn every_export_writes_its_files() {
    let dir = scratch("all");
    for what in ["grafana", "alertmanager"] {
        export("examples/minimal/plan.yaml", what, &dir);
    }
    for file in [
        "seawall-dashboard.json",
        "provisioning/datasources/seawall.yaml",
        "provisioning/dashboards/seawall.yaml",
        "alertmanager.yml",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).expect(file);
        assert!(!text.is_empty(), "{file}");
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("seawall-dashboard.json")).expect("dashboard"),
    )
    .expect("JSON");
    assert_eq!(
        dashboard["panels"][0]["datasource"]["uid"],
        "seawall-prometheus"
    );
    let checked = real_tool(
        "amtool",
        "prometheus-alertmanager",
        &dir,
        &["check-config", "alertmanager.yml"],
    );
    assert!(
        checked.contains("SUCCESS") && checked.contains("2 inhibit rules"),
        "{checked}"
    );
    let sources = scratch("sources");
    export("examples/minimal/plan.yaml", "prometheus-rules", &sources);
    insta::assert_snapshot!(
        "monitoring_minimal_sources_rules",
        std::fs::read_to_string(sources.join("seawall-sources.rules.yml")).expect("sources")
    );
}

#[test]
fn bad_promql_is_a_diagnostic_with_line_and_column() {
    let dir = scratch("bad");
    let plan = dir.join("plan.yaml");
    let src = std::fs::read_to_string(common::root().join("examples/minimal/plan.yaml"))
        .expect("minimal plan");
    let src = format!(
        "{src}\nmonitoring:\n  queries:\n    checkout:\n      qps: 'sum(rate(http_requests_total{{entry=\"checkout\"}}[1m])'\n"
    );
    let line = src.lines().count();
    std::fs::write(&plan, &src).expect("write plan");
    let run = seawall(&["plan", "check", plan.to_str().expect("utf-8"), "-f", "json"]);
    assert_eq!(
        run.code, 1,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    let d = &v["diagnostics"][0];
    assert_eq!(d["code"], "E070", "{v:#}");
    assert_eq!(d["line"], line, "{v:#}");
    // `      qps: '` is 12 characters: the query starts at column 13, and
    // the parenthesis left open is `sum(`'s, three characters in.
    assert_eq!(d["column"], 16, "{v:#}");
    assert_eq!(d["path"], "monitoring.queries.checkout.qps", "{v:#}");
    assert!(
        d["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("PromQL does not parse")),
        "{v:#}"
    );
    // The human form names file, line and column.
    let text = seawall(&["plan", "check", plan.to_str().expect("utf-8")]);
    assert!(
        text.stderr.contains(&format!(":{line}:16"))
            || text.stdout.contains(&format!(":{line}:16")),
        "{}\n{}",
        text.stdout,
        text.stderr
    );
}
