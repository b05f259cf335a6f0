//! `gray.releases.<id>.whitelist_file`: a file that cannot be read is
//! reported at the plan's key (E095), a bad id at its own line and column
//! in the whitelist file (E096); good files pass.

use seawall_plan::whitelist::check_files;

const PLAN: &str = "event: {name: demo, timezone: Asia/Shanghai}
services:
  api: {instances: 2, capacity_per_instance: 100}
gray:
  releases:
    beta:
      feature: f
      service: api
      whitelist_file: staff.txt
      isolation: shadow
";

#[test]
fn whitelist_files_are_judged_with_locations() {
    let plan = seawall_plan::parse(PLAN, "plan.yaml").expect("valid plan");
    let release = &plan.gray.releases["beta"];
    assert_eq!(release.whitelist_file.as_deref(), Some("staff.txt"));

    let good = check_files(&plan, "plan.yaml", |name| {
        assert_eq!(name, "staff.txt");
        Ok("# staff\n10000001\nalice\n".to_owned())
    });
    assert!(good.is_empty(), "{good:?}");

    let missing = check_files(&plan, "plan.yaml", |_| Err("No such file".to_owned()));
    assert_eq!(missing.len(), 1);
    let d = &missing[0];
    assert_eq!((d.code, d.file.as_str()), ("E095", "plan.yaml"));
    assert_eq!((d.line, d.column), (9, 23), "{d}");
    assert_eq!(d.path, "gray.releases.beta.whitelist_file");
    assert!(d.message.contains("staff.txt") && d.message.contains("No such file"));

    let bad = check_files(&plan, "plan.yaml", |_| {
        Ok("1\n2\n3\n  bob smith\n".to_owned())
    });
    assert_eq!(bad.len(), 1);
    let d = &bad[0];
    assert_eq!((d.code, d.file.as_str()), ("E096", "staff.txt"));
    assert_eq!((d.line, d.column), (4, 6), "{d}");
    assert_eq!(
        d.to_string().lines().next(),
        Some("staff.txt:4:6: error[E096]: not a user id: a space inside an id (one id per line)")
    );
}
