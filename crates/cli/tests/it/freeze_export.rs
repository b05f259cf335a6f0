//! `seawall plan freeze` with `--exceptions` and `--export`: the gate's
//! answer with approved exceptions, the calendar exports (snapshots, parsed
//! back), `--out` written whole, and bad inputs exiting 2.

use std::path::PathBuf;

use crate::common;
use common::{ok, seawall};

const CARNIVAL: &str = "examples/carnival/plan.yaml";
const EXCEPTIONS: &str = "crates/cli/tests/fixtures/exceptions.yaml";

/// A fresh scratch directory under the target dir.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("freeze-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn approved_exception_lets_its_change_through() {
    let args = [
        "plan",
        "freeze",
        CARNIVAL,
        "-s",
        "order-svc",
        "-k",
        "release",
        "--at",
        "2026-09-30T11:00",
        "--exceptions",
        EXCEPTIONS,
    ];
    let text = ok(&args);
    insta::assert_snapshot!("freeze_with_exception", text);
    let mut json_args = args.to_vec();
    json_args.extend(["-f", "json"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&json_args)).expect("JSON");
    assert_eq!(v["allowed"], true);
    assert_eq!(v["frozen"], true);
    assert_eq!(v["exception"], "EX-7");
    // The pending one does not: the reason says so.
    let out = ok(&[
        "plan",
        "freeze",
        CARNIVAL,
        "-s",
        "pay-gateway",
        "-k",
        "config",
        "--at",
        "2026-09-30T11:00",
        "--exceptions",
        EXCEPTIONS,
        "-f",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["allowed"], false);
    assert!(v["exception"].is_null());
    let reason = v["reason"].as_str().expect("reason");
    assert!(
        reason.contains("`EX-8`") && reason.contains("pending"),
        "{reason}"
    );
}

#[test]
fn ical_export() {
    let args = [
        "plan",
        "freeze",
        CARNIVAL,
        "--export",
        "ical",
        "--at",
        "2026-09-01T08:00",
        "--exceptions",
        EXCEPTIONS,
    ];
    let text = ok(&args);
    assert!(text.starts_with("BEGIN:VCALENDAR\r\n") && text.ends_with("END:VCALENDAR\r\n"));
    assert!(text.split_terminator("\r\n").all(|l| l.len() <= 75));
    assert!(
        text.contains("\r\nDTSTAMP:20260901T000000Z\r\n"),
        "--at is the DTSTAMP"
    );
    // The approved exception is in the feed, the pending one is not.
    assert!(text.contains("SUMMARY:Freeze exception: EX-7 (order-*)"));
    assert!(!text.contains("EX-8"));
    insta::assert_snapshot!("freeze_export_ical", text.replace("\r\n", "\n"));
}

#[test]
fn gitlab_and_argocd_exports() {
    let gitlab = ok(&[
        "plan", "freeze", CARNIVAL, "--export", "gitlab", "-k", "config",
    ]);
    let periods: Vec<serde_json::Value> = serde_json::from_str(&gitlab).expect("JSON list");
    assert_eq!(periods.len(), 2);
    insta::assert_snapshot!("freeze_export_gitlab_config", gitlab);
    // A service outside pay-*/coupon-* only sees the carnival window.
    let order = ok(&[
        "plan",
        "freeze",
        CARNIVAL,
        "--export",
        "gitlab",
        "-k",
        "config",
        "-s",
        "order-svc",
    ]);
    let periods: Vec<serde_json::Value> = serde_json::from_str(&order).expect("JSON list");
    assert_eq!(periods.len(), 1);
    let argo = ok(&["plan", "freeze", CARNIVAL, "--export", "argocd"]);
    assert!(argo.contains("syncWindows:\n  #"), "{argo}");
    insta::assert_snapshot!("freeze_export_argocd", argo);
}

#[test]
fn out_writes_the_whole_file() {
    let dir = scratch("out");
    let path = dir.join("carnival.ics");
    let p = path.to_str().expect("utf-8 path");
    let stdout = ok(&[
        "plan",
        "freeze",
        CARNIVAL,
        "--export",
        "ical",
        "--at",
        "2026-09-01T08:00",
        "--out",
        p,
    ]);
    assert_eq!(stdout, "");
    let written = std::fs::read_to_string(&path).expect("written");
    let printed = ok(&[
        "plan",
        "freeze",
        CARNIVAL,
        "--export",
        "ical",
        "--at",
        "2026-09-01T08:00",
    ]);
    assert_eq!(written, printed);
    let leftovers: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
}

#[test]
fn bad_inputs_exit_2() {
    let dir = scratch("bad");
    let missing = dir.join("no/such/dir/x.json");
    let run = seawall(&[
        "plan",
        "freeze",
        CARNIVAL,
        "--export",
        "gitlab",
        "--out",
        missing.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("does not exist"), "{}", run.stderr);
    assert!(!missing.exists());
    // --out without --export, an unknown export, no --service without --export.
    assert_eq!(
        seawall(&[
            "plan",
            "freeze",
            CARNIVAL,
            "-s",
            "order-svc",
            "-k",
            "ops",
            "--out",
            "x"
        ])
        .code,
        2
    );
    assert_eq!(
        seawall(&["plan", "freeze", CARNIVAL, "--export", "outlook"]).code,
        2
    );
    assert_eq!(seawall(&["plan", "freeze", CARNIVAL, "-k", "ops"]).code, 2);
    // A broken exceptions file: its line and column, nothing on stdout.
    let bad = dir.join("ex.yaml");
    std::fs::write(&bad, "- id: X\n  services: [a]\n  kinds: [deploy]\n").expect("write");
    let run = seawall(&[
        "plan",
        "freeze",
        CARNIVAL,
        "-s",
        "order-svc",
        "-k",
        "ops",
        "--exceptions",
        bad.to_str().expect("utf-8"),
    ]);
    assert_eq!(run.code, 2);
    assert_eq!(run.stdout, "");
    assert!(
        run.stderr
            .contains("ex.yaml:3:10: unknown change kind `deploy`"),
        "{}",
        run.stderr
    );
    let run = seawall(&[
        "plan",
        "freeze",
        CARNIVAL,
        "--export",
        "ical",
        "--exceptions",
        "crates/cli/tests/fixtures/none.yaml",
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read exceptions file"),
        "{}",
        run.stderr
    );
    let run = seawall(&[
        "plan", "freeze", CARNIVAL, "--export", "ical", "--at", "someday",
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("invalid --at"), "{}", run.stderr);
}

#[test]
fn exception_naming_an_unknown_service_warns() {
    let dir = scratch("typo");
    let path = dir.join("ex.yaml");
    let src = std::fs::read_to_string(common::root().join(EXCEPTIONS)).expect("fixture");
    std::fs::write(&path, src.replace("\"order-*\"", "order-sv")).expect("write");
    let run = seawall(&[
        "plan",
        "freeze",
        CARNIVAL,
        "-s",
        "order-svc",
        "-k",
        "release",
        "--at",
        "2026-09-30T11:00",
        "--exceptions",
        path.to_str().expect("utf-8"),
        "-f",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("exception `EX-7` names service `order-sv`, which is not in the plan"),
        "{}",
        run.stderr
    );
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["allowed"], false);
}
