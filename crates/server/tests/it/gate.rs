//! The change gate and freeze exceptions through the API, on the server's
//! (hand-set) clock: window edges in a time zone across the autumn DST
//! change, exceptions letting exactly their scope through, who may ask,
//! request and decide, and every decision recorded and audited.

use crate::common;

use common::{TestServer, code};
use http::StatusCode;
use jiff::Timestamp;
use seawall_store::Role;
use serde_json::{Value, json};

/// Berlin time; the `autumn` window spans the night clocks go back
/// (2026-10-25 03:00 CEST → 02:00 CET): 22:00 CEST = 20:00Z to 04:00 CET = 03:00Z.
const PLAN: &str = "\
event: {name: Herbst Sale, timezone: Europe/Berlin}
organization:
  business_lines:
    bike: {name: Bike, services: [order-api]}
    pay: {name: Payments, services: [pay-gateway, payroll]}
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
  pay-gateway: {line: pay, tier: backend, instances: 2, capacity_per_instance: 10}
  payroll: {line: pay, tier: backend, instances: 1, capacity_per_instance: 10}
freeze:
  windows:
    autumn:
      start: \"2026-10-24T22:00\"
      end: \"2026-10-25T04:00\"
      reason: \"sale night\"
";

fn ms(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<Timestamp>()
        .expect("test time")
        .as_millisecond()
}

async fn setup() -> TestServer {
    let server = TestServer::start().await;
    let admin = server.admin();
    let r = admin
        .post(
            "/api/v1/events",
            &json!({"slug": "herbst", "name": "Herbst"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = admin
        .post(
            "/api/v1/events/herbst/plans",
            &json!({"file_name": "plan.yaml", "text": PLAN}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    server
}

async fn ask(server: &TestServer, token: &str, service: &str, kind: &str) -> (StatusCode, Value) {
    let r = server
        .api(Some(token))
        .post(
            "/api/v1/gate/check",
            &json!({"service": service, "kind": kind, "actor": "gitlab-ci", "change_ref": "!42"}),
        )
        .await;
    (r.status, r.json().unwrap_or(Value::Null))
}

#[tokio::test]
async fn window_edges_across_the_dst_change() {
    let server = setup().await;
    let ci = server.token("pipeline", Role::Ci, Some("herbst")).await;
    let cases = [
        ("2026-10-24T19:59:59.999Z", true),
        ("2026-10-24T20:00:00Z", false),
        // 02:30 local happens twice this night; both are inside.
        ("2026-10-25T00:30:00Z", false),
        ("2026-10-25T01:30:00Z", false),
        ("2026-10-25T02:59:59.999Z", false),
        ("2026-10-25T03:00:00Z", true),
    ];
    for (at, allowed) in cases {
        server.clock.set(ms(at));
        let (status, answer) = ask(&server, &ci, "order-api", "release").await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["allowed"], allowed, "{at}: {answer}");
        assert_eq!(answer["frozen"], !allowed, "{at}");
        assert_eq!(answer["at_ms"], ms(at));
        if allowed {
            assert!(answer["window"].is_null());
        } else {
            assert_eq!(answer["window"]["id"], "autumn");
            assert_eq!(answer["window"]["start"], "2026-10-24T20:00:00Z");
            assert_eq!(answer["window"]["end"], "2026-10-25T03:00:00Z");
            assert_eq!(answer["next_free"], "2026-10-25T03:00:00Z");
            assert_eq!(answer["event"], "herbst");
            let reason = answer["reason"].as_str().expect("reason");
            assert!(reason.contains("autumn"), "{reason}");
        }
    }

    // Every answer was recorded, newest first; refused ones can be listed.
    let list: Value = server
        .admin()
        .get("/api/v1/gate/changes?service=order-api")
        .await
        .json()
        .expect("json");
    let changes = list["changes"].as_array().expect("changes");
    assert_eq!(changes.len(), cases.len());
    assert_eq!(changes[0]["at_ms"], ms("2026-10-25T03:00:00Z"));
    assert_eq!(changes[0]["actor"], "gitlab-ci");
    assert_eq!(changes[0]["change_ref"], "!42");
    let refused: Value = server
        .admin()
        .get("/api/v1/gate/changes?allowed=false&limit=2")
        .await
        .json()
        .expect("json");
    let refused = refused["changes"].as_array().expect("changes");
    assert_eq!(refused.len(), 2);
    assert!(
        refused
            .iter()
            .all(|c| c["allowed"] == false && c["window"] == "autumn")
    );

    // And audited.
    let audit: Value = server
        .admin()
        .get("/api/v1/audit")
        .await
        .json()
        .expect("json");
    let checks = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "gate.check")
        .count();
    assert_eq!(checks, cases.len());
}

#[tokio::test]
async fn an_exception_lets_exactly_its_scope_through() {
    let server = setup().await;
    server.clock.set(ms("2026-10-24T18:00:00Z"));
    let ci = server.token("pipeline", Role::Ci, Some("herbst")).await;
    let commander = server.token("lin-wei", Role::Commander, None).await;
    let oncall = server.token("zhou-hao", Role::Oncall, None).await;

    // Requested by on-call: pay-* releases between 21:00Z and 22:00Z.
    let r = server
        .api(Some(&oncall))
        .post(
            "/api/v1/events/herbst/exceptions",
            &json!({
                "services": ["pay-*"],
                "kinds": ["release"],
                "start": "2026-10-24T23:00:00+02:00",
                "end": "2026-10-25T00:00:00+02:00",
                "reason": "hotfix for double charges"
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let e: Value = r.json().expect("json");
    let id = e["id"].as_i64().expect("id");
    assert_eq!(e["status"], "pending");
    assert_eq!(e["state"], "pending");
    assert_eq!(e["start"], "2026-10-24T21:00:00Z");
    assert_eq!(e["requested_by"], "zhou-hao");

    // Pending: nothing gets through, and the reason says one is pending.
    server.clock.set(ms("2026-10-24T21:30:00Z"));
    let (_, a) = ask(&server, &ci, "pay-gateway", "release").await;
    assert_eq!(a["allowed"], false, "{a}");

    // Only commanders decide.
    let approve = format!("/api/v1/exceptions/{id}/approve");
    let r = server
        .api(Some(&oncall))
        .post(&approve, &json!({"note": "me"}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = server
        .api(Some(&commander))
        .post(&approve, &json!({"note": "go, with a rollback ready"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let e: Value = r.json().expect("json");
    assert_eq!(e["status"], "approved");
    assert_eq!(e["state"], "active");
    assert_eq!(e["decided_by"], "lin-wei");
    let r = server
        .api(Some(&commander))
        .post(&approve, &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "decided twice");

    // Exactly its scope: the service glob, the kind, its window.
    let (_, a) = ask(&server, &ci, "pay-gateway", "release").await;
    assert_eq!(a["allowed"], true, "{a}");
    assert_eq!(a["frozen"], true);
    assert_eq!(a["exception"], id);
    for (service, kind) in [
        ("pay-gateway", "config"),
        ("payroll", "release"),
        ("order-api", "release"),
    ] {
        let (_, a) = ask(&server, &ci, service, kind).await;
        assert_eq!(a["allowed"], false, "{service} {kind}: {a}");
        assert!(a["exception"].is_null());
    }
    server.clock.set(ms("2026-10-24T20:59:59.999Z"));
    let (_, a) = ask(&server, &ci, "pay-gateway", "release").await;
    assert_eq!(a["allowed"], false, "before its window: {a}");
    server.clock.set(ms("2026-10-24T22:00:00Z"));
    let (_, a) = ask(&server, &ci, "pay-gateway", "release").await;
    assert_eq!(a["allowed"], false, "at its end: {a}");
    let e: Value = server
        .admin()
        .get(&format!("/api/v1/exceptions/{id}"))
        .await
        .json()
        .expect("json");
    assert_eq!(e["state"], "expired");

    // Approving after the end, rejecting, and the list for the review.
    let r = server
        .api(Some(&oncall))
        .post(
            "/api/v1/events/herbst/exceptions",
            &json!({"services": ["order-api"], "kinds": ["ops"],
                    "start": "2026-10-24T21:00:00Z", "end": "2026-10-24T21:30:00Z",
                    "reason": "scale out"}),
        )
        .await;
    let late: Value = r.json().expect("json");
    let r = server
        .api(Some(&commander))
        .post(
            &format!("/api/v1/exceptions/{}/approve", late["id"]),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let r = server
        .api(Some(&commander))
        .post(
            &format!("/api/v1/exceptions/{}/reject", late["id"]),
            &json!({"note": "too late"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let list: Value = server
        .api(Some(&oncall))
        .get("/api/v1/events/herbst/exceptions")
        .await
        .json()
        .expect("json");
    let states: Vec<&str> = list["exceptions"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["state"].as_str().expect("state"))
        .collect();
    assert_eq!(states, ["expired", "rejected"]);
}

#[tokio::test]
async fn who_may_ask_request_and_what_is_refused() {
    let server = setup().await;
    server.clock.set(ms("2026-10-24T21:00:00Z"));
    let viewer = server.token("screen", Role::Viewer, None).await;
    let ci = server.token("pipeline", Role::Ci, Some("herbst")).await;
    let bike_pm = server.token("chen-jie", Role::Pm, Some("bike")).await;

    // Viewers do not ask the gate; nothing is recorded for them.
    let (status, _) = ask(&server, &viewer, "order-api", "release").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = ask(&server, "sw_not-a-token", "order-api", "release").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, a) = ask(&server, &bike_pm, "order-api", "ops").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(a["allowed"], false);
    let all: Value = server
        .admin()
        .get("/api/v1/gate/changes")
        .await
        .json()
        .expect("json");
    assert_eq!(all["changes"].as_array().expect("changes").len(), 1);
    // ci only asks the gate.
    let r = server.api(Some(&ci)).get("/api/v1/gate/changes").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let request = |services: Value| {
        json!({"services": services, "kinds": ["release"],
               "start": "2026-10-24T21:00:00Z", "end": "2026-10-24T22:00:00Z",
               "reason": "fix"})
    };
    let path = "/api/v1/events/herbst/exceptions";
    // A pm asks for their own line's services only.
    let r = server
        .api(Some(&bike_pm))
        .post(path, &request(json!(["order-api"])))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    for other in [json!(["pay-gateway"]), json!(["*"]), json!(["nothing-*"])] {
        let r = server
            .api(Some(&bike_pm))
            .post(path, &request(other.clone()))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{other}: {}", r.text());
    }
    for who in [&ci, &viewer] {
        let r = server
            .api(Some(who))
            .post(path, &request(json!(["order-api"])))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }

    // Bad requests: each a clear 4xx, nothing stored.
    let admin = server.admin();
    let bad = [
        (
            json!({"services": [], "kinds": ["release"], "start": "2026-10-24T21:00:00Z",
                "end": "2026-10-24T22:00:00Z", "reason": "x"}),
            "invalid_exception",
        ),
        (
            json!({"services": ["a"], "kinds": [], "start": "2026-10-24T21:00:00Z",
                "end": "2026-10-24T22:00:00Z", "reason": "x"}),
            "invalid_exception",
        ),
        (
            json!({"services": ["a"], "kinds": ["release"], "start": "2026-10-24T22:00:00Z",
                "end": "2026-10-24T21:00:00Z", "reason": "x"}),
            "invalid_exception",
        ),
        (
            json!({"services": ["a"], "kinds": ["release"], "start": "2026-10-24T21:00:00Z",
                "end": "2026-10-24T22:00:00Z", "reason": " "}),
            "invalid_exception",
        ),
        (
            json!({"services": ["a"], "kinds": ["release"], "start": "2026-10-24 21:00",
                "end": "2026-10-24T22:00:00Z", "reason": "x"}),
            "invalid_time",
        ),
    ];
    for (body, expected) in bad {
        let r = admin.post(path, &body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(code(&r), expected, "{body}");
    }
    let r = admin
        .post(
            path,
            &json!({"services": ["a"], "kinds": ["deploy"], "start": "2026-10-24T21:00:00Z",
                    "end": "2026-10-24T22:00:00Z", "reason": "x"}),
        )
        .await;
    assert!(r.status.is_client_error(), "unknown kind");
    let r = admin
        .post(
            "/api/v1/gate/check",
            &json!({"service": "order-api", "kind": "release", "force": true}),
        )
        .await;
    assert!(r.status.is_client_error(), "unknown field");
    let r = admin
        .post(
            "/api/v1/gate/check",
            &json!({"service": " ", "kind": "release"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = admin
        .post(
            "/api/v1/gate/check",
            &json!({"service": "order-api", "kind": "release", "event": "nope"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = admin
        .post("/api/v1/exceptions/9999/approve", &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let list: Value = admin.get(path).await.json().expect("json");
    assert_eq!(list["exceptions"].as_array().expect("list").len(), 1);
    let all: Value = admin
        .get("/api/v1/gate/changes")
        .await
        .json()
        .expect("json");
    assert_eq!(all["changes"].as_array().expect("changes").len(), 1);
}

#[tokio::test]
async fn without_any_plan_the_gate_allows_and_says_why() {
    let server = TestServer::start().await;
    let r = server
        .admin()
        .post(
            "/api/v1/events",
            &json!({"slug": "herbst", "name": "Herbst"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let ci = server.token("pipeline", Role::Ci, Some("herbst")).await;
    let (status, a) = ask(&server, &ci, "order-api", "release").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(a["allowed"], true);
    assert!(a["event"].is_null());
    assert!(a["reason"].as_str().expect("reason").contains("no event"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_checks_are_each_recorded_and_audited_in_order() {
    // Checks arriving together are committed together (group commit);
    // each still gets its own record and audit entry, and the chain holds.
    let server = setup().await;
    server.clock.set(ms("2026-10-24T21:00:00Z"));
    let ci = server.token("pipeline", Role::Ci, Some("herbst")).await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let api = server.api(Some(&ci));
        tasks.push(tokio::spawn(async move {
            let r = api
                .post(
                    "/api/v1/gate/check",
                    &json!({"service": "order-api", "kind": "release", "change_ref": format!("job-{i}")}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            r.json::<Value>().expect("json")["record"]
                .as_i64()
                .expect("record id")
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.expect("task"));
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 60, "every check has its own record");
    let all: Value = server
        .admin()
        .get("/api/v1/gate/changes?limit=1000")
        .await
        .json()
        .expect("json");
    let refs: std::collections::BTreeSet<String> = all["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["change_ref"].as_str().expect("ref").to_owned())
        .collect();
    assert_eq!(refs.len(), 60);
    let audit: Value = server
        .admin()
        .get("/api/v1/audit?limit=1000")
        .await
        .json()
        .expect("json");
    let entries: Vec<seawall_store::AuditEntry> =
        serde_json::from_value(audit["entries"].clone()).expect("entries");
    seawall_store::audit::verify(&entries).expect("the chain holds");
    assert_eq!(
        entries.iter().filter(|e| e.action == "gate.check").count(),
        60
    );
}

/// The gate answers from what it read until something it depends on
/// changes: repeated checks read nothing, and a plan pushed through the
/// API decides the very next check, freezing or unfreezing.
#[tokio::test]
async fn checks_between_changes_read_nothing_and_a_push_decides_the_next() {
    let server = setup().await;
    server.clock.set(ms("2026-10-24T21:00:00Z"));
    let ci = server.token("pipeline", Role::Ci, Some("herbst")).await;
    let (_, a) = ask(&server, &ci, "order-api", "release").await;
    assert_eq!(a["allowed"], false, "{a}");
    let reads = server.state.gate_cache().reads();
    for _ in 0..20 {
        let (_, a) = ask(&server, &ci, "order-api", "release").await;
        assert_eq!(a["allowed"], false, "{a}");
    }
    assert_eq!(
        server.state.gate_cache().reads(),
        reads,
        "no reads between changes"
    );

    let unfrozen = &PLAN[..PLAN.find("freeze:").expect("the plan has a freeze")];
    for (text, allowed, version) in [(unfrozen, true, 2), (PLAN, false, 3)] {
        let r = server
            .admin()
            .post(
                "/api/v1/events/herbst/plans",
                &json!({"file_name": "plan.yaml", "text": text}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let (_, a) = ask(&server, &ci, "order-api", "release").await;
        assert_eq!(a["allowed"], allowed, "right after plan v{version}: {a}");
        assert_eq!(a["plan_version"], version, "{a}");
    }
}
