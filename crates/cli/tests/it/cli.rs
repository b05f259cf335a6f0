//! End-to-end tests of the `seawall` binary: every `plan` verb on the
//! example plans, as tables and JSON (insta snapshots), and exit codes.
//!
//! Snapshots live in `tests/snapshots/`. After an intended change, review
//! and accept them with `cargo insta review` (or `INSTA_UPDATE=always cargo
//! test -p seawall` and `git diff`). In CI (`CI=true`) a mismatch fails.

use std::path::PathBuf;
use std::process::Command;

/// Workspace root: commands run there so paths in output are relative.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Output of one run.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn seawall(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("run seawall");
    Run {
        code: out.status.code().expect("exit code"),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// Run and expect exit 0 with nothing on stderr.
fn ok(args: &[&str]) -> String {
    let run = seawall(args);
    assert_eq!(run.code, 0, "seawall {args:?}\nstderr:\n{}", run.stderr);
    assert_eq!(run.stderr, "", "seawall {args:?}");
    run.stdout
}

/// Parse JSON output.
fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("valid JSON")
}

const CARNIVAL: &str = "examples/carnival/plan.yaml";
const MINIMAL: &str = "examples/minimal/plan.yaml";
/// Inside the carnival's freeze and peak (event time zone, Asia/Shanghai).
const PEAK: &str = "2026-09-30T11:00";

// ---------------------------------------------------------------- check

#[test]
fn check_summarises_valid_plans() {
    insta::assert_snapshot!("carnival_check", ok(&["plan", "check", CARNIVAL]));
    insta::assert_snapshot!("minimal_check", ok(&["plan", "check", MINIMAL]));
    insta::assert_snapshot!(
        "minimal_check_json",
        ok(&["plan", "check", MINIMAL, "--format", "json"])
    );
}

#[test]
fn invalid_plan_exits_1_with_graphical_diagnostics() {
    let run = seawall(&["plan", "check", "crates/cli/tests/fixtures/invalid.yaml"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    insta::assert_snapshot!("invalid_check_stderr", run.stderr);
}

#[test]
fn invalid_plan_as_json_lists_diagnostics() {
    for verb in ["check", "targets", "capacity", "links", "readiness"] {
        let run = seawall(&[
            "plan",
            verb,
            "crates/cli/tests/fixtures/invalid.yaml",
            "--format",
            "json",
        ]);
        assert_eq!(run.code, 1, "plan {verb}: {}", run.stderr);
        let v = json(&run.stdout);
        assert_eq!(v["valid"], false, "plan {verb}");
        let diags = v["diagnostics"].as_array().expect("diagnostics");
        assert!(!diags.is_empty(), "plan {verb}");
        for d in diags {
            assert!(d["code"].as_str().is_some_and(|c| c.starts_with('E')));
            assert!(d["line"].as_u64().is_some_and(|l| l > 0));
            assert!(d["column"].as_u64().is_some_and(|c| c > 0));
        }
    }
}

// ---------------------------------------------------------------- input and usage errors

#[test]
fn missing_file_exits_2_naming_the_path() {
    let run = seawall(&["plan", "check", "no/such/plan.yaml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no/such/plan.yaml"), "{}", run.stderr);
    assert_eq!(run.stdout, "");
}

#[test]
fn bad_flag_exits_2() {
    assert_eq!(seawall(&["plan", "check", MINIMAL, "--bogus"]).code, 2);
    assert_eq!(
        seawall(&["plan", "check", MINIMAL, "--format", "xml"]).code,
        2
    );
    assert_eq!(seawall(&["plan", "nonsense", MINIMAL]).code, 2);
    assert_eq!(
        seawall(&["plan", "freeze", MINIMAL, "--kind", "release"]).code,
        2
    );
    assert_eq!(
        seawall(&[
            "plan",
            "freeze",
            CARNIVAL,
            "-s",
            "order-svc",
            "-k",
            "deploy"
        ])
        .code,
        2
    );
}

#[test]
fn bad_time_exits_2() {
    let run = seawall(&["plan", "oncall", CARNIVAL, "--at", "tomorrow"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--at"), "{}", run.stderr);
}

#[test]
fn help_and_version_exit_0() {
    assert_eq!(seawall(&["--help"]).code, 0);
    assert_eq!(seawall(&["plan", "--help"]).code, 0);
    assert_eq!(seawall(&["--version"]).code, 0);
}

// ---------------------------------------------------------------- targets

#[test]
fn targets() {
    insta::assert_snapshot!("carnival_targets", ok(&["plan", "targets", CARNIVAL]));
    insta::assert_snapshot!(
        "carnival_targets_json",
        ok(&["plan", "targets", CARNIVAL, "-f", "json"])
    );
    insta::assert_snapshot!("minimal_targets", ok(&["plan", "targets", MINIMAL]));
    insta::assert_snapshot!(
        "minimal_targets_json",
        ok(&["plan", "targets", MINIMAL, "-f", "json"])
    );
}

#[test]
fn targets_json_shape() {
    let v = json(&ok(&["plan", "targets", MINIMAL, "-f", "json"]));
    for key in ["goals", "journeys", "entries", "services", "partners"] {
        assert!(v[key].is_array(), "{key}");
    }
    // Hand-computed in examples/minimal/plan.yaml.
    assert_eq!(v["entries"][0]["id"], "checkout");
    assert_eq!(v["entries"][0]["service"], "shop");
    assert_eq!(v["entries"][0]["target_qps"], 40.0);
    assert_eq!(v["services"][0]["in_flight"], 2.0);
}

// ---------------------------------------------------------------- capacity

#[test]
fn capacity() {
    insta::assert_snapshot!("carnival_capacity", ok(&["plan", "capacity", CARNIVAL]));
    insta::assert_snapshot!(
        "carnival_capacity_json",
        ok(&["plan", "capacity", CARNIVAL, "-f", "json"])
    );
    insta::assert_snapshot!(
        "carnival_capacity_markdown",
        ok(&["plan", "capacity", CARNIVAL, "-f", "markdown"])
    );
    insta::assert_snapshot!("minimal_capacity", ok(&["plan", "capacity", MINIMAL]));
    insta::assert_snapshot!(
        "minimal_capacity_json",
        ok(&["plan", "capacity", MINIMAL, "-f", "json"])
    );
}

#[test]
fn capacity_with_rehearsal_results() {
    let args = [
        "plan",
        "capacity",
        CARNIVAL,
        "--results",
        "crates/cli/tests/fixtures/run.json",
    ];
    insta::assert_snapshot!("carnival_capacity_measured", ok(&args));
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let v = json(&ok(&json_args));
    let rows = v["entries"].as_array().expect("entries");
    let call_car = rows
        .iter()
        .find(|r| r["id"] == "call-car")
        .expect("call-car row");
    assert_eq!(call_car["capacity_source"], "measured");
}

/// A search the generator limited measured only a lower bound: the entry
/// keeps its declared capacity (2 × 40 = 80 QPS) and the page says why.
#[test]
fn capacity_keeps_the_declared_capacity_of_a_generator_bound_entry() {
    let dir = std::env::temp_dir().join(format!("seawall-cli-gen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("run.json");
    std::fs::write(
        &path,
        r#"{"schema": "seawall.run/v1", "entries": [{"id": "checkout", "knee_qps": null, "lower_bound_qps": 71.5}], "services": []}"#,
    )
    .expect("write");
    let path = path.to_str().expect("utf-8 path");
    let page = ok(&["plan", "capacity", MINIMAL, "--results", path]);
    assert!(
        page.contains("entry `checkout`: measured ≥ 71.5 qps, generator-bound")
            && page.contains("its declared capacity is kept"),
        "{page}"
    );
    let run = seawall(&["plan", "capacity", MINIMAL, "--results", path, "-f", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("note: entry `checkout`: measured ≥ 71.5 qps, generator-bound"),
        "{}",
        run.stderr
    );
    let v = json(&run.stdout);
    let row = &v["entries"][0];
    assert_eq!(row["capacity_source"], "declared");
    assert_eq!(row["capacity_qps"], 80.0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn capacity_rejects_a_foreign_results_file() {
    let dir = std::env::temp_dir().join(format!("seawall-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("run.json");
    std::fs::write(&path, r#"{"schema": "k6/summary", "entries": []}"#).expect("write");
    let run = seawall(&[
        "plan",
        "capacity",
        MINIMAL,
        "--results",
        path.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("seawall.run/v1"), "{}", run.stderr);
    let run = seawall(&["plan", "capacity", MINIMAL, "--results", "no/such/run.json"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no/such/run.json"), "{}", run.stderr);
    std::fs::remove_dir_all(&dir).ok();
}

// ---------------------------------------------------------------- links

#[test]
fn links() {
    // The carnival plan carries deliberate error-severity risks: exit 1.
    let run = seawall(&["plan", "links", CARNIVAL]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    insta::assert_snapshot!("carnival_links", run.stdout);
    let run = seawall(&["plan", "links", CARNIVAL, "-f", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    insta::assert_snapshot!("carnival_links_json", run.stdout);
    let v = json(&run.stdout);
    for f in v["findings"].as_array().expect("findings") {
        for key in ["rule", "severity", "message", "location", "fix", "accepted"] {
            assert!(f.get(key).is_some(), "finding without {key}: {f}");
        }
    }

    insta::assert_snapshot!("minimal_links", ok(&["plan", "links", MINIMAL]));
    insta::assert_snapshot!(
        "minimal_links_json",
        ok(&["plan", "links", MINIMAL, "-f", "json"])
    );
}

#[test]
fn accepted_errors_do_not_block() {
    let plan = "crates/cli/tests/fixtures/accepted.yaml";
    let text = ok(&["plan", "links", plan]);
    assert!(text.contains("Accepted risks"), "{text}");
    insta::assert_snapshot!("accepted_links", text);
    let v = json(&ok(&["plan", "links", plan, "-f", "json"]));
    let findings = v["findings"].as_array().expect("findings");
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "L003" && f["severity"] == "error")
    );
    assert!(findings.iter().all(|f| f["accepted"].is_string()));
}

// ---------------------------------------------------------------- freeze

#[test]
fn freeze_during_the_window_is_frozen() {
    let args = [
        "plan",
        "freeze",
        CARNIVAL,
        "--service",
        "order-svc",
        "--kind",
        "release",
        "--at",
        PEAK,
    ];
    let text = ok(&args);
    assert!(text.contains("FROZEN"), "{text}");
    insta::assert_snapshot!("carnival_freeze_frozen", text);
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json"]);
    let out = ok(&json_args);
    assert_eq!(json(&out)["frozen"], true);
    insta::assert_snapshot!("carnival_freeze_frozen_json", out);
}

#[test]
fn freeze_outside_the_window_is_free() {
    let text = ok(&[
        "plan",
        "freeze",
        CARNIVAL,
        "-s",
        "order-svc",
        "-k",
        "config",
        "--at",
        "2026-09-10T12:00:00+08:00",
    ]);
    assert!(text.contains("not frozen"), "{text}");
    insta::assert_snapshot!("carnival_freeze_free", text);
    let out = ok(&[
        "plan",
        "freeze",
        MINIMAL,
        "-s",
        "shop",
        "-k",
        "ops",
        "--at",
        "2026-01-01T00:00",
        "-f",
        "json",
    ]);
    assert_eq!(json(&out)["frozen"], false);
}

// ---------------------------------------------------------------- oncall

#[test]
fn oncall() {
    insta::assert_snapshot!(
        "carnival_oncall",
        ok(&["plan", "oncall", CARNIVAL, "--at", PEAK])
    );
    insta::assert_snapshot!(
        "carnival_oncall_json",
        ok(&["plan", "oncall", CARNIVAL, "--at", PEAK, "-f", "json"])
    );
    insta::assert_snapshot!(
        "minimal_oncall",
        ok(&["plan", "oncall", MINIMAL, "--at", "2026-01-01T00:00"])
    );
}

// ---------------------------------------------------------------- readiness

#[test]
fn readiness() {
    // A no-go is a result, not a failure: exit 0.
    let text = ok(&["plan", "readiness", CARNIVAL]);
    insta::assert_snapshot!("carnival_readiness", text);
    let out = ok(&["plan", "readiness", CARNIVAL, "-f", "json"]);
    assert!(json(&out)["go"].is_boolean());
    insta::assert_snapshot!("carnival_readiness_json", out);
    insta::assert_snapshot!(
        "carnival_readiness_markdown",
        ok(&["plan", "readiness", CARNIVAL, "-f", "markdown"])
    );
    insta::assert_snapshot!("minimal_readiness", ok(&["plan", "readiness", MINIMAL]));
    insta::assert_snapshot!(
        "minimal_readiness_json",
        ok(&["plan", "readiness", MINIMAL, "-f", "json"])
    );
}
