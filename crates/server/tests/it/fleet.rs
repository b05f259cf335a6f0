//! Rehearsal agents on the control plane (`/fleet/…`): who may be an
//! agent (admin, commander, ci — never a viewer or a sidecar), an agent id
//! used by another token, a run that asks for more agents than are idle,
//! shares and the agreed start handed out, and an operator's abort
//! answered on every agent's control long poll at once. The run itself,
//! with real agents and load, is the CLI's `agents` test.

use std::time::{Duration, Instant};

use http::StatusCode;
use seawall_load::{
    EntrySpec, GuardSpec, HttpVersion, JourneySpec, LoadProfile, Scenario, StepSpec, TestTag,
};
use seawall_store::Role;
use serde_json::{Value, json};

use crate::common::{TestServer, event_with_plan};

fn scenario() -> Scenario {
    Scenario {
        name: "fleet".to_owned(),
        base_url: "http://127.0.0.1:9".to_owned(),
        entries: vec![EntrySpec {
            id: "home".to_owned(),
            target_qps: 10.0,
            slo: None,
            slo_source: "none".to_owned(),
        }],
        journeys: vec![JourneySpec {
            id: "j".to_owned(),
            rate: 10.0,
            steps: vec![StepSpec {
                entry: 0,
                method: "GET".to_owned(),
                path: "/home".to_owned(),
                body: None,
                headers: Vec::new(),
                conversion: 1.0,
                calls: 1.0,
                think: Duration::ZERO,
                extract: Vec::new(),
            }],
        }],
        load: LoadProfile::Fixed {
            multiple: 1.0,
            duration: Duration::from_secs(2),
        },
        arrivals: seawall_load::Arrivals::Constant,
        guards: GuardSpec::default(),
        data: Vec::new(),
        tag: Some(TestTag::new("fleet-1")),
        untagged: false,
        connections: 10,
        timeout: Duration::from_secs(1),
        http: HttpVersion::Http1,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_are_planners_or_ci_and_a_run_hands_out_shares_and_stops_them() {
    let server = TestServer::start().await;
    event_with_plan(&server, "e").await;
    let register = |name: &'static str| json!({"name": name, "index": null});

    // Viewers and sidecars may not be agents.
    for (role, scope) in [(Role::Viewer, None), (Role::Sidecar, Some("order-api"))] {
        let token = server
            .token(&format!("t-{}", role.as_str()), role, scope)
            .await;
        let r = server
            .api(Some(&token))
            .post("/api/v1/fleet/agents", &register("nope"))
            .await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "{}: {}",
            role.as_str(),
            r.text()
        );
    }
    // A ci token may (what a Job of agents carries); so may the admin.
    let ci = server.token("agents-ci", Role::Ci, Some("e")).await;
    let ci = server.api(Some(&ci));
    let a0: Value = {
        let r = ci
            .post("/api/v1/fleet/agents", &json!({"name": "a0", "index": 0}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json().expect("json")
    };
    let admin = server.admin();
    let a1: Value = admin
        .post("/api/v1/fleet/agents", &json!({"name": "a1", "index": 1}))
        .await
        .json()
        .expect("json");
    let (id0, id1) = (
        a0["id"].as_str().expect("id").to_owned(),
        a1["id"].as_str().expect("id").to_owned(),
    );
    // Another token cannot poll for an agent it did not register.
    let r = admin
        .get(&format!("/api/v1/fleet/agents/{id0}/work?wait=0"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // Nothing to do yet.
    let r = ci
        .client
        .get(&format!("/api/v1/fleet/agents/{id0}/work?wait=0"))
        .await
        .expect("answer");
    assert_eq!(r.status, StatusCode::NO_CONTENT);

    // Three agents asked for, two idle: refused, nothing started.
    let body = json!({"scenario": serde_json::to_value(scenario()).expect("json"), "agents": 3});
    let r = admin.post("/api/v1/fleet/runs", &body).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());

    let body = json!({"scenario": serde_json::to_value(scenario()).expect("json"), "agents": 2});
    // A ci token registers agents but does not aim them: the scenario
    // names the target, the rate and whether the load is tagged, which
    // only a planner decides. Refused, and nothing taken: both agents
    // stay idle for the admin's run below.
    let r = ci.post("/api/v1/fleet/runs", &body).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = admin.post("/api/v1/fleet/runs", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let run: Value = r.json().expect("json");
    let run_id = run["id"].as_str().expect("id").to_owned();
    assert_eq!(run["status"], "running");
    let w0: Value = ci
        .get(&format!("/api/v1/fleet/agents/{id0}/work?wait=1"))
        .await
        .json()
        .expect("json");
    let w1: Value = admin
        .get(&format!("/api/v1/fleet/agents/{id1}/work?wait=1"))
        .await
        .json()
        .expect("json");
    // Shares in Job-index order, one agreed start.
    assert_eq!(
        (w0["index"].as_u64(), w1["index"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(w0["count"], 2);
    assert_eq!(w0["start_at_ms"], w1["start_at_ms"]);
    assert_eq!(w0["run"], run_id.as_str());
    assert_eq!(w0["scenario"]["name"], "fleet");

    // An abort answers a waiting control poll at once.
    let poll = {
        let ci = ci.clone();
        let path = format!("/api/v1/fleet/runs/{run_id}/control?wait=10");
        tokio::spawn(async move {
            let asked = Instant::now();
            let r = ci.get(&path).await;
            (asked.elapsed(), r)
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = admin
        .post(
            &format!("/api/v1/fleet/runs/{run_id}/abort"),
            &json!({"reason": "enough"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let (took, r) = poll.await.expect("join");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let c: Value = r.json().expect("json");
    assert!(
        c["stop"].as_str().is_some_and(|s| s.contains("enough")),
        "{c}"
    );
    // A viewer cannot read or abort runs either.
    let viewer = server.token("v2", Role::Viewer, None).await;
    let r = server
        .api(Some(&viewer))
        .get(&format!("/api/v1/fleet/runs/{run_id}"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
