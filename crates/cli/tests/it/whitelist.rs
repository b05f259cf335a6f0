//! `seawall plan check` and `seawall whitelist push` judge whitelist files
//! before anything is sent: an unreadable file is E095 at the plan's key,
//! a bad id E096 at its own line and column; exit 1.

use crate::common::seawall;

const PLAN: &str = "event: {name: demo, timezone: Asia/Shanghai}
services:
  api: {instances: 2, capacity_per_instance: 100}
gray:
  releases:
    beta:
      feature: f
      service: api
      whitelist_file: staff.txt
";

#[test]
fn whitelist_files_are_judged_before_anything_is_sent() {
    let dir = tempfile::tempdir().expect("dir");
    let plan = dir.path().join("plan.yaml");
    std::fs::write(&plan, PLAN).expect("write plan");
    let plan = plan.to_str().expect("utf-8 path");

    let missing = seawall(&["plan", "check", plan]);
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(
        missing
            .stderr
            .contains(":9:23: error[E095]: cannot read whitelist file `staff.txt`"),
        "{}",
        missing.stderr
    );

    std::fs::write(dir.path().join("staff.txt"), "# staff\n42\nalice\n").expect("write");
    let good = seawall(&["plan", "check", plan]);
    assert_eq!(good.code, 0, "{}", good.stderr);

    std::fs::write(dir.path().join("staff.txt"), "42\nbob smith\n").expect("write");
    let bad = seawall(&["plan", "check", plan]);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(
        bad.stderr
            .contains("staff.txt:2:4: error[E096]: not a user id: a space inside an id"),
        "{}",
        bad.stderr
    );
    // `whitelist push` refuses it the same way, before contacting anybody
    // (nothing listens on this port).
    let push = seawall(&[
        "whitelist",
        "push",
        "--service",
        "api",
        "--plan",
        plan,
        "--server",
        "http://127.0.0.1:9",
        "--token",
        "sw_x",
    ]);
    assert_eq!(push.code, 1, "{}", push.stderr);
    assert!(push.stderr.contains("error[E096]"), "{}", push.stderr);
}
