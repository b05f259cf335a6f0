//! `seawall plan guard`: the rule set derived from the example plans
//! (insta snapshot of the carnival's), parsed back by the guard, with
//! measured capacities and the safety factor, and its input errors.

use std::path::PathBuf;
use std::process::Command;

use seawall_guard::RuleSet;
use seawall_guard::rules::{Resource, Strategy};

/// Workspace root: commands run there so paths in output are relative.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Exit code, stdout, stderr.
fn seawall(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("run seawall");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}

fn ok(args: &[&str]) -> String {
    let (code, stdout, stderr) = seawall(args);
    assert_eq!(code, 0, "seawall {args:?}\nstderr:\n{stderr}");
    assert_eq!(stderr, "", "seawall {args:?}");
    stdout
}

fn resource<'a>(rules: &'a RuleSet, name: &str) -> &'a Resource {
    rules
        .resources
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("resource `{name}`"))
}

const CARNIVAL: &str = "examples/carnival/plan.yaml";
const MINIMAL: &str = "examples/minimal/plan.yaml";

#[test]
fn carnival_rules_snapshot_and_parse_back() {
    let yaml = ok(&["plan", "guard", CARNIVAL]);
    insta::assert_snapshot!("guard_carnival_yaml", yaml);
    let rules = RuleSet::from_yaml(&yaml).expect("the output is a valid rule document");

    // Explicit rate limits are used as they are; routes follow the entries.
    let home = resource(&rules, "home");
    assert_eq!(home.flow[0].id, "home.qps");
    assert_eq!(home.flow[0].count, 9000.0);
    assert_eq!(home.routes[0].method.as_deref(), Some("GET"));
    assert_eq!(home.routes[0].path, "/api/home");
    assert_eq!(resource(&rules, "call-car").flow[0].count, 300.0);

    // Edges: breakers, timeouts, fallbacks and isolation quotas.
    let coupon = resource(&rules, "order-svc->coupon-svc");
    assert_eq!(coupon.timeout_ms, Some(100));
    assert_eq!(coupon.breakers[0].strategy, Strategy::ErrorRatio);
    assert_eq!(coupon.breakers[0].threshold, 0.3);
    assert_eq!(coupon.breakers[0].min_requests, 50);
    assert_eq!(coupon.breakers[0].open_ms, 10_000);
    assert_eq!(coupon.switches[0].id, "order-svc->coupon-svc.degrade");
    assert!(!coupon.switches[0].on);
    assert!(coupon.switches[0].fallback.body.contains("without coupon"));
    assert_eq!(coupon.flow[0].count, 1200.0);

    // JSON is the same document.
    let json = ok(&["plan", "guard", CARNIVAL, "--format", "json"]);
    assert_eq!(RuleSet::from_json(&json).expect("valid JSON rules"), rules);
}

#[test]
fn without_a_rate_limit_the_limit_is_capacity_times_safety() {
    // The minimal plan's checkout has no rate_limit; its bottleneck
    // (checkout-svc, 2 × 40 QPS) declares 80 QPS.
    let rules = |args: &[&str]| RuleSet::from_yaml(&ok(args)).expect("valid rules");
    let limit = |r: &RuleSet| resource(r, "checkout").flow[0].count;
    assert_eq!(limit(&rules(&["plan", "guard", MINIMAL])), 72.0);
    assert_eq!(
        limit(&rules(&["plan", "guard", MINIMAL, "--safety", "0.5"])),
        40.0
    );
    assert_eq!(
        limit(&rules(&["plan", "guard", MINIMAL, "--safety", "1"])),
        80.0
    );

    // Measured capacity wins over the declared one.
    let dir = std::env::temp_dir().join(format!("seawall-guard-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let results = dir.join("run.json");
    std::fs::write(
        &results,
        r#"{"schema": "seawall.run/v1", "entries": [{"id": "checkout", "knee_qps": 200}], "services": []}"#,
    )
    .expect("write results");
    let path = results.to_str().expect("utf-8 path");
    let yaml = ok(&["plan", "guard", MINIMAL, "--results", path]);
    assert!(yaml.contains("Measured capacities from"), "{yaml}");
    assert!(
        yaml.contains("checkout: 180.0 QPS = ⌊capacity 200.0 × 0.9⌋"),
        "{yaml}"
    );
    assert_eq!(limit(&RuleSet::from_yaml(&yaml).expect("valid")), 180.0);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_inputs_exit_2_or_1_and_print_no_rules() {
    for safety in ["0", "1.5", "-1", "NaN"] {
        let flag = format!("--safety={safety}");
        let (code, stdout, stderr) = seawall(&["plan", "guard", MINIMAL, &flag]);
        assert_eq!(code, 2, "--safety {safety}");
        assert_eq!(stdout, "");
        assert!(stderr.contains("--safety"), "{stderr}");
    }
    let (code, stdout, stderr) = seawall(&["plan", "guard", "no/such/plan.yaml"]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(stderr.contains("no/such/plan.yaml"), "{stderr}");
    let (code, stdout, _) = seawall(&["plan", "guard", "crates/cli/tests/fixtures/invalid.yaml"]);
    assert_eq!((code, stdout.as_str()), (1, ""));
    let (code, stdout, stderr) =
        seawall(&["plan", "guard", MINIMAL, "--results", "no/such/run.json"]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(stderr.contains("no/such/run.json"), "{stderr}");
}

#[test]
fn partners_carry_their_shadow_safety() {
    let rules = RuleSet::from_yaml(&ok(&["plan", "guard", CARNIVAL])).expect("valid rules");
    // sms-partner sends real SMS: tagged calls are refused; pay-gateway has
    // a sandbox merchant id (pay-partner): tagged calls may go.
    let sms: Vec<&Resource> = rules
        .resources
        .iter()
        .filter(|r| r.name.ends_with("->sms-partner"))
        .collect();
    assert!(!sms.is_empty(), "an edge to sms-partner");
    assert!(sms.iter().all(|r| r.shadow_safe == Some(false)));
    let pay: Vec<&Resource> = rules
        .resources
        .iter()
        .filter(|r| r.name.ends_with("->pay-partner"))
        .collect();
    assert!(!pay.is_empty(), "an edge to pay-partner");
    assert!(pay.iter().all(|r| r.shadow_safe == Some(true)));
    // Calls between our own services say nothing (the upstream's policy holds).
    assert_eq!(resource(&rules, "order-svc->coupon-svc").shadow_safe, None);
}

#[test]
fn one_service_gets_its_entries_edges_and_gray_release() {
    let all = RuleSet::from_yaml(&ok(&["plan", "guard", CARNIVAL])).expect("valid rules");
    let json = ok(&[
        "plan",
        "guard",
        CARNIVAL,
        "--service",
        "order-svc",
        "-f",
        "json",
    ]);
    let order = RuleSet::from_json(&json).expect("valid JSON rules");
    // Exactly the whole set's resources of order-svc: the entry it serves
    // (create-order) and its outgoing edges, unchanged, and the catch-all
    // limited by create-order's limit instead of the plan's largest.
    let expected: Vec<&Resource> = all
        .resources
        .iter()
        .filter(|r| r.name == "create-order" || r.name.starts_with("order-svc->"))
        .collect();
    assert!(expected.len() > 1, "create-order and order-svc's edges");
    let (catch_all, own): (Vec<&Resource>, Vec<&Resource>) = order
        .resources
        .iter()
        .partition(|r| r.name == seawall_guard::derive::CATCH_ALL);
    assert_eq!(own, expected);
    assert_eq!(catch_all.len(), 1, "the catch-all");
    assert_eq!(
        catch_all[0].flow[0].count,
        resource(&all, "create-order").flow[0].count
    );
    assert!(order.gray.is_none(), "order-svc has no gray release");
    assert!(
        order
            .resources
            .iter()
            .all(|r| !r.name.starts_with("coupon-svc->"))
    );

    // coupon-svc carries the plan's gray release.
    let coupon = RuleSet::from_json(&ok(&[
        "plan",
        "guard",
        CARNIVAL,
        "--service",
        "coupon-svc",
        "-f",
        "json",
    ]))
    .expect("valid JSON rules");
    let gray = coupon.gray.as_ref().expect("coupon-page-v2 gray rule");
    assert_eq!(gray.id, "gray.coupon-page-v2");
    assert_eq!(gray.user_header, "x-user-id");
    assert_eq!(
        gray.whitelist,
        ["10000001", "10000002", "10000003", "10000017", "10000042"]
    );

    let (code, stdout, stderr) = seawall(&["plan", "guard", CARNIVAL, "--service", "nope-svc"]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(
        stderr.contains("nope-svc") && stderr.contains("not a service"),
        "{stderr}"
    );
}
