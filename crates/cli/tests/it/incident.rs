//! `seawall incident` as a user runs it, against a real `seawall serve`
//! child: an incident opened through the API is listed, shown with its
//! timeline, acknowledged and resolved from the terminal; acknowledging a
//! resolved one is refused with the server's reason and exit 2. Times
//! are shown in the event's time zone (the plan's), as in the UI.

use serde_json::Value;

use crate::common::serve::{Serve, TempDir};
use crate::live::{ok, run};

const PLAN: &str = "event: {name: Carnival, timezone: Asia/Shanghai}
organization:
  business_lines:
    bike: {name: Bike, services: [order-api]}
goals:
  orders: {total: 360000, peak_hour_share: 0.1, peak_factor: 1.0}
traffic:
  journeys:
    ride:
      goal: orders
      steps:
        - {entry: create-order}
entries:
  create-order: {service: order-api, method: POST, path: /api/orders}
services:
  order-api: {line: bike, tier: frontend, instances: 2, capacity_per_instance: 10}
";

fn json(url: &str, token: &str, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["--format", "json"]);
    serde_json::from_str(&ok(url, token, &args)).expect("json")
}

#[test]
fn list_show_ack_and_resolve_from_the_cli() {
    let dir = TempDir::new("incident");
    let data = dir.0.join("data");
    let server = Serve::start(&data, &[]);
    let admin = std::fs::read_to_string(data.join("admin-token")).expect("admin token");
    let admin = admin.trim();
    let path = dir.0.join("plan.yaml");
    std::fs::write(&path, PLAN).expect("write plan");
    let path = path.to_str().expect("utf-8 path");
    ok(
        &server.url,
        admin,
        &["push", path, "--event", "d11", "--create"],
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let client = seawall_api::client::Client::new(&server.url)
        .expect("client")
        .with_token(admin);
    let opened = runtime
        .block_on(client.open_incident(
            "d11",
            &seawall_api::incidents::OpenIncident {
                title: "orders fail".into(),
                severity: Some("P1".into()),
                line: None,
            },
        ))
        .expect("open");
    let n = opened.id.to_string();

    let list = json(&server.url, admin, &["incident", "list", "--event", "d11"]);
    assert_eq!(list["incidents"][0]["title"], "orders fail");
    assert_eq!(list["incidents"][0]["status"], "open");
    let table = ok(
        &server.url,
        admin,
        &["incident", "show", &n, "--event", "d11"],
    );
    assert!(table.contains("orders fail"), "{table}");
    assert!(table.contains("opened"), "{table}");
    // Times in the event's time zone, as the UI shows them.
    assert_eq!(list["timezone"], "Asia/Shanghai");
    assert!(table.contains("Times in Asia/Shanghai."), "{table}");
    assert!(table.contains(" CST "), "{table}");
    assert!(!table.contains("UTC"), "{table}");
    let listed = ok(&server.url, admin, &["incident", "list", "--event", "d11"]);
    assert!(listed.contains(" CST "), "{listed}");

    let acked = json(
        &server.url,
        admin,
        &["incident", "ack", &n, "--event", "d11"],
    );
    assert_eq!(acked["status"], "acknowledged");
    let resolved = json(
        &server.url,
        admin,
        &[
            "incident",
            "resolve",
            &n,
            "--event",
            "d11",
            "--text",
            "rolled back",
        ],
    );
    assert_eq!(resolved["status"], "resolved");
    let last = resolved["timeline"]
        .as_array()
        .and_then(|t| t.last())
        .cloned()
        .unwrap_or_default();
    assert_eq!(last["text"], "rolled back");

    let o = run(
        &server.url,
        admin,
        &["incident", "ack", &n, "--event", "d11"],
    );
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("resolved"), "{stderr}");
    server.stop();
}

#[test]
fn open_role_note_update_severity_and_mitigate_from_the_cli() {
    let dir = TempDir::new("incident-changes");
    let data = dir.0.join("data");
    let server = Serve::start(&data, &[]);
    let admin = std::fs::read_to_string(data.join("admin-token")).expect("admin token");
    let admin = admin.trim();
    let path = dir.0.join("plan.yaml");
    let plan = PLAN.replace(
        "organization:",
        "people:\n  lin-wei: {name: Lin Wei}\norganization:",
    );
    std::fs::write(&path, plan).expect("write plan");
    let path = path.to_str().expect("utf-8 path");
    ok(
        &server.url,
        admin,
        &["push", path, "--event", "d12", "--create"],
    );
    let u = &server.url;
    let at = ["--event", "d12"];
    let with = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(at.iter())
            .map(|s| (*s).to_owned())
            .collect()
    };
    let call = |args: &[&str]| {
        let args = with(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        json(u, admin, &args)
    };

    let opened = call(&["incident", "open", "orders fail", "--severity", "P2"]);
    assert_eq!(opened["severity"], "P2");
    let n = opened["id"].to_string();
    let i = call(&[
        "incident",
        "role",
        &n,
        "commander",
        "lin-wei",
        "--if-version",
        "1",
    ]);
    assert_eq!(i["roles"][0]["person"], "lin-wei");
    let i = call(&["incident", "note", &n, "rollback prepared"]);
    assert_eq!(
        i["timeline"]
            .as_array()
            .and_then(|t| t.last())
            .map(|e| e["kind"].clone()),
        Some("note".into())
    );
    let i = call(&[
        "incident",
        "update",
        &n,
        "identified",
        "Orders fail; cause found.",
    ]);
    assert_eq!(i["updates"][0]["status"], "identified");
    let i = call(&["incident", "severity", &n, "P1"]);
    assert_eq!(i["severity"], "P1");
    let i = call(&["incident", "mitigate", &n, "--text", "rolled back"]);
    assert_eq!(i["status"], "mitigated");
    let table = ok(
        u,
        admin,
        &with(&["incident", "show", &n])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(
        table.contains("commander: lin-wei") && table.contains("Orders fail; cause found."),
        "{table}"
    );

    // Refused with the server's reason and exit 2: a person not in the
    // plan, and a change decided on an old version.
    for (args, says) in [
        (vec!["incident", "role", &n, "scribe", "nobody"], "nobody"),
        (
            vec!["incident", "note", &n, "late", "--if-version", "1"],
            "version",
        ),
    ] {
        let args = with(&args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(u, admin, &args);
        assert_eq!(o.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains(says), "{stderr}");
    }
    server.stop();
}
