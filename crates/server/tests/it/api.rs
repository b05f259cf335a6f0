//! The API end to end over real HTTP on 127.0.0.1: events, plan versions
//! and their analyses, runs as measured capacity, tokens, the audit log,
//! bootstrap — on SQLite, and the core flow on PostgreSQL too.

use crate::common;

use common::{PLAN, T0, TestServer, code, event_with_plan, run_json};
use http::StatusCode;
use seawall_store::Role;
use serde_json::{Value, json};

/// Everything a control plane does with an event, checked step by step.
async fn core_flow(server: &TestServer) {
    let admin = server.admin();

    // Health and readiness.
    let r = admin.get("/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = admin.get("/readyz").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let ready: Value = r.json().expect("json");
    assert_eq!(
        ready["evaluator"], "leader",
        "a server without an election always evaluates"
    );

    // Events.
    let r = admin
        .post(
            "/api/v1/events",
            &json!({"slug": "carnival-2026", "name": "Carnival"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let event: Value = r.json().expect("json");
    assert_eq!(event["slug"], "carnival-2026");
    assert_eq!(event["created_ms"], T0);
    assert_eq!(event["created_by"], "admin");
    let r = admin
        .post(
            "/api/v1/events",
            &json!({"slug": "carnival-2026", "name": "Again"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(code(&r), "conflict");
    let r = admin.get("/api/v1/events").await;
    let list: Value = r.json().expect("json");
    assert_eq!(list["events"].as_array().map(Vec::len), Some(1));
    let r = admin.get("/api/v1/events/carnival-2026").await;
    assert_eq!(r.status, StatusCode::OK);
    let r = admin.get("/api/v1/events/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // No plan yet.
    let r = admin.get("/api/v1/events/carnival-2026/plan").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("no plan yet"), "{}", r.text());

    // Push two versions; the text and hash are kept.
    server.clock.advance(1000);
    let r = admin
        .post(
            "/api/v1/events/carnival-2026/plans",
            &json!({"file_name": "carnival.yaml", "text": PLAN}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let v1: Value = r.json().expect("json");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["sha256"], seawall_store::sha256_hex(PLAN.as_bytes()));
    assert_eq!(v1["file_name"], "carnival.yaml");
    assert_eq!(v1["created_ms"], T0 + 1000);
    let plan2 = PLAN.replace("instances: 2", "instances: 3");
    let r = admin
        .post(
            "/api/v1/events/carnival-2026/plans",
            &json!({"text": plan2}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let v2: Value = r.json().expect("json");
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["file_name"], "plan.yaml");
    let r = admin.get("/api/v1/events/carnival-2026/plans").await;
    let versions: Value = r.json().expect("json");
    assert_eq!(versions["versions"].as_array().map(Vec::len), Some(2));
    let r = admin.get("/api/v1/events/carnival-2026/plans/1").await;
    let got: Value = r.json().expect("json");
    assert_eq!(got["text"], PLAN);
    let r = admin.get("/api/v1/events/carnival-2026/plan").await;
    let current: Value = r.json().expect("json");
    assert_eq!(current["version"], 2);
    assert_eq!(current["text"], plan2.as_str());
    let r = admin.get("/api/v1/events/carnival-2026/plans/9").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Analyses are the library's, as the CLI prints them.
    let plan = seawall_plan::parse(&plan2, "plan.yaml").expect("valid");
    let targets = seawall_plan::targets::decompose(&plan);
    let r = admin.get("/api/v1/events/carnival-2026/plan/targets").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["x-seawall-plan-version"], "2");
    let got: Value = r.json().expect("json");
    assert_eq!(got, serde_json::to_value(&targets).expect("json"));
    let r = admin
        .get("/api/v1/events/carnival-2026/plan/capacity?version=1")
        .await;
    assert_eq!(r.headers["x-seawall-plan-version"], "1");
    assert_eq!(r.headers["x-seawall-measured"], "none");
    let got: Value = r.json().expect("json");
    assert_eq!(got["entries"][0]["capacity_qps"], 20.0);
    assert_eq!(got["entries"][0]["capacity_source"], "declared");
    for analysis in ["links", "readiness"] {
        let r = admin
            .get(&format!("/api/v1/events/carnival-2026/plan/{analysis}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{analysis}: {}", r.text());
    }
    let r = admin.get("/api/v1/events/carnival-2026/plan/links").await;
    let links: Value = r.json().expect("json");
    assert!(links["findings"].is_array());

    // A run becomes measured capacity; a later one wins.
    let r = admin
        .post_raw(
            "/api/v1/events/carnival-2026/runs",
            "application/json",
            run_json(8.0, 4.0),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let run1: Value = r.json().expect("json");
    assert_eq!(run1["plan_version"], 2);
    assert_eq!(run1["scenario"], "capacity-search");
    assert_eq!(
        run1["sha256"],
        seawall_store::sha256_hex(run_json(8.0, 4.0).as_bytes())
    );
    let r = admin
        .get("/api/v1/events/carnival-2026/plan/capacity")
        .await;
    let got: Value = r.json().expect("json");
    assert_eq!(got["entries"][0]["capacity_source"], "measured");
    assert_eq!(got["entries"][0]["capacity_qps"], 8.0);
    assert_eq!(got["services"][0]["capacity_qps"], 12.0, "3 instances × 4");
    let id1 = run1["id"].as_i64().expect("id");
    assert_eq!(
        r.headers["x-seawall-measured"],
        format!("runs {id1}").as_str()
    );
    let r = admin
        .post_raw(
            "/api/v1/events/carnival-2026/runs",
            "application/json",
            run_json(9.0, 5.0),
        )
        .await;
    let run2: Value = r.json().expect("json");
    let r = admin
        .get("/api/v1/events/carnival-2026/plan/capacity")
        .await;
    let got: Value = r.json().expect("json");
    assert_eq!(got["entries"][0]["capacity_qps"], 9.0);
    let r = admin.get("/api/v1/events/carnival-2026/runs").await;
    let runs: Value = r.json().expect("json");
    assert_eq!(runs["runs"].as_array().map(Vec::len), Some(2));
    let r = admin
        .get(&format!("/api/v1/events/carnival-2026/runs/{}", run2["id"]))
        .await;
    let got: Value = r.json().expect("json");
    assert_eq!(got["json"], run_json(9.0, 5.0));
    let r = admin.get("/api/v1/events/carnival-2026/runs/999").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Tokens: made, listed (no secrets), used, revoked.
    let secret = server.token("viewer-1", Role::Viewer, None).await;
    let viewer = server.api(Some(&secret));
    let r = viewer.get("/api/v1/me").await;
    let me: Value = r.json().expect("json");
    assert_eq!(me["name"], "viewer-1");
    assert_eq!(me["role"], "viewer");
    let r = admin.get("/api/v1/tokens").await;
    assert!(!r.text().contains(&secret));
    let tokens: Value = r.json().expect("json");
    let id = tokens["tokens"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["name"] == "viewer-1"))
        .and_then(|t| t["id"].as_i64())
        .expect("listed");
    let r = admin.delete(&format!("/api/v1/tokens/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let revoked: Value = r.json().expect("json");
    assert!(revoked["revoked_ms"].is_i64());
    let r = viewer.get("/api/v1/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&r), "token_revoked");

    // The audit log holds every change, in order, and verifies.
    let r = admin.get("/api/v1/audit?limit=3").await;
    let page: Value = r.json().expect("json");
    assert_eq!(page["entries"].as_array().map(Vec::len), Some(3));
    assert_eq!(page["next_after"], 3);
    let entries = seawall_server::verify::fetch_all(&admin.client)
        .await
        .expect("audit");
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "token.create",
            "event.create",
            "plan.push",
            "plan.push",
            "run.upload",
            "run.upload",
            "token.create",
            "token.revoke"
        ]
    );
    let head = seawall_store::audit::verify(&entries).expect("intact");
    assert_eq!(head.entries, 8);
}

#[tokio::test]
async fn core_flow_on_sqlite() {
    let server = TestServer::start().await;
    core_flow(&server).await;
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn core_flow_on_postgres() {
    let pg = seawall_store::testing::TempPostgres::start().expect(
        "PostgreSQL for the server's tests (apt-get install postgresql; .ci/run installs it)",
    );
    let url = pg.create_database().expect("database");
    let server = TestServer::start_with(common::Db::Postgres(url), None).await;
    core_flow(&server).await;
    server.stop().await.expect("clean stop");
}

#[tokio::test]
async fn bootstrap_token_is_made_once_and_kept_private() {
    let server = TestServer::start().await;
    let path = server.dir.path().join("admin-token");
    let text = std::fs::read_to_string(&path).expect("admin-token written");
    assert_eq!(text.trim(), server.admin);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let r = server.api(Some(text.trim())).get("/api/v1/me").await;
    let me: Value = r.json().expect("json");
    assert_eq!(me["role"], "admin");

    // A second start over the same store makes nothing and prints nothing.
    let again = seawall_server::bootstrap::ensure_admin(&server.state)
        .await
        .expect("second start");
    assert!(again.is_none());
    assert_eq!(
        std::fs::read_to_string(&path).expect("still there").trim(),
        server.admin
    );
    let r = server.admin().get("/api/v1/tokens").await;
    let tokens: Value = r.json().expect("json");
    assert_eq!(tokens["tokens"].as_array().map(Vec::len), Some(1));
    // The audit names the bootstrap.
    let r = server.admin().get("/api/v1/audit").await;
    let page: Value = r.json().expect("json");
    assert_eq!(page["entries"][0]["actor"], "bootstrap");
    assert_eq!(page["entries"][0]["action"], "token.create");
    assert!(!r.text().contains(&server.admin), "no secret in the audit");
}

#[tokio::test]
async fn the_last_admin_token_cannot_be_revoked() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let r = admin.get("/api/v1/me").await;
    let me: Value = r.json().expect("json");
    let r = admin.delete(&format!("/api/v1/tokens/{}", me["id"])).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text().contains("last admin token"), "{}", r.text());
    // With a second admin it can.
    let other = server.token("admin-2", Role::Admin, None).await;
    let r = server
        .api(Some(&other))
        .delete(&format!("/api/v1/tokens/{}", me["id"]))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = admin.get("/api/v1/me").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = server.admin().delete("/api/v1/tokens/12345").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = server
        .api(Some(&other))
        .delete("/api/v1/tokens/12345")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pm_tokens_need_a_business_line_and_others_refuse_one() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let r = admin
        .post("/api/v1/tokens", &json!({"name": "pm", "role": "pm"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&r), "business_line_required");
    let r = admin
        .post(
            "/api/v1/tokens",
            &json!({"name": "v", "role": "viewer", "business_line": "bike"}),
        )
        .await;
    assert_eq!(code(&r), "business_line_not_allowed");
    let r = admin
        .post(
            "/api/v1/tokens",
            &json!({"name": "pm", "role": "pm", "business_line": "bike"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let created: Value = r.json().expect("json");
    assert_eq!(created["token"]["business_line"], "bike");
    let r = admin
        .post("/api/v1/tokens", &json!({"name": "pm", "role": "viewer"}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = admin
        .post("/api/v1/tokens", &json!({"name": "x", "role": "root"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = admin
        .post("/api/v1/tokens", &json!({"name": "a b", "role": "viewer"}))
        .await;
    assert_eq!(code(&r), "invalid_name");
}

#[tokio::test]
async fn analyses_of_an_event_without_runs_match_the_cli_library() {
    let server = TestServer::start().await;
    event_with_plan(&server, "e").await;
    let plan = seawall_plan::parse(PLAN, "plan.yaml").expect("valid");
    let targets = seawall_plan::targets::decompose(&plan);
    let table = seawall_plan::capacity::table(
        &plan,
        &targets,
        &seawall_plan::capacity::Measured::default(),
    );
    let findings = seawall_plan::links::analyze(&plan, &targets, &table);
    let card = seawall_plan::readiness::scorecard(&plan, &targets, &table, &findings);
    let admin = server.admin();
    let r = admin.get("/api/v1/events/e/plan/capacity").await;
    assert_eq!(
        r.json::<Value>().expect("json"),
        serde_json::to_value(&table).expect("json")
    );
    let r = admin.get("/api/v1/events/e/plan/links").await;
    assert_eq!(
        r.json::<Value>().expect("json"),
        json!({"findings": serde_json::to_value(&findings).expect("json")})
    );
    let r = admin.get("/api/v1/events/e/plan/readiness").await;
    assert_eq!(
        r.json::<Value>().expect("json"),
        serde_json::to_value(&card).expect("json")
    );
}

#[tokio::test]
async fn audit_paging_and_its_bad_queries() {
    let server = TestServer::start().await;
    let admin = server.admin();
    for i in 0..5 {
        let r = admin
            .post(
                "/api/v1/events",
                &json!({"slug": format!("e{i}"), "name": "E"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let r = admin.get("/api/v1/audit?after=2&limit=2").await;
    let page: Value = r.json().expect("json");
    let seqs: Vec<i64> = page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["seq"].as_i64())
        .collect();
    assert_eq!(seqs, [3, 4]);
    assert_eq!(page["next_after"], 4);
    let r = admin.get("/api/v1/audit?after=4&limit=10").await;
    let page: Value = r.json().expect("json");
    assert_eq!(page["entries"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["next_after"], Value::Null);
    for bad in ["limit=0", "limit=10001", "after=-1", "after=x", "limt=3"] {
        let r = admin.get(&format!("/api/v1/audit?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
        assert_eq!(code(&r), "invalid_query", "{bad}");
    }
}

#[tokio::test]
async fn a_temporary_file_left_by_a_dead_start_does_not_stop_the_bootstrap() {
    let dir = common::TempDir::new();
    let stale = dir
        .path()
        .join(format!(".admin-token.{}.tmp", std::process::id()));
    std::fs::write(&stale, "sw_stale\n").expect("stale file");
    let store = seawall_store::open(&seawall_store::StoreSpec::Sqlite(
        dir.path().join("seawall.db"),
    ))
    .await
    .expect("store");
    let server = TestServer::start_on(store, dir, None).await;
    assert!(!stale.exists(), "the temporary file became admin-token");
    let written = std::fs::read_to_string(server.dir.path().join("admin-token")).expect("written");
    assert_eq!(written.trim(), server.admin);
}
