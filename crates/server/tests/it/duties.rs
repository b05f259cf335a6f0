//! Separation of duties over real HTTP: nobody approves their own freeze
//! exception, a `ci` token asks the gate only about the event it is bound
//! to, and a gate check for a service no plan knows says so.

use crate::common;

use common::{TestServer, code, event_with_plan};
use http::StatusCode;
use seawall_store::Role;
use serde_json::{Value, json};

const EXCEPTION: &str = r#"{"services": ["order-api"], "kinds": ["release"],
    "start": "2026-09-30T00:00:00Z", "end": "2026-10-01T00:00:00Z", "reason": "hotfix"}"#;

#[tokio::test]
async fn nobody_approves_their_own_exception() {
    let server = TestServer::start().await;
    event_with_plan(&server, "e").await;
    let lin = server.token("lin-wei", Role::Commander, None).await;
    let ana = server.token("ana", Role::Commander, None).await;
    let body: Value = serde_json::from_str(EXCEPTION).expect("json");
    let r = server
        .api(Some(&lin))
        .post("/api/v1/events/e/exceptions", &body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json::<Value>().expect("json")["id"].as_i64().expect("id");

    let r = server
        .api(Some(&lin))
        .post(&format!("/api/v1/exceptions/{id}/approve"), &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(code(&r), "forbidden");
    assert!(
        r.text().contains("nobody approves their own request"),
        "{}",
        r.text()
    );
    let e: Value = server
        .admin()
        .get(&format!("/api/v1/exceptions/{id}"))
        .await
        .json()
        .expect("json");
    assert_eq!(e["status"], "pending", "nothing stored");

    let r = server
        .api(Some(&ana))
        .post(&format!("/api/v1/exceptions/{id}/approve"), &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let e: Value = r.json().expect("json");
    assert_eq!(e["decided_by"], "ana");

    // Withdrawing one's own request (rejecting it) is allowed.
    let r = server
        .api(Some(&lin))
        .post("/api/v1/events/e/exceptions", &body)
        .await;
    let id = r.json::<Value>().expect("json")["id"].as_i64().expect("id");
    let r = server
        .api(Some(&lin))
        .post(&format!("/api/v1/exceptions/{id}/reject"), &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn a_ci_token_is_bound_to_its_event() {
    let server = TestServer::start().await;
    event_with_plan(&server, "spring").await;
    event_with_plan(&server, "autumn").await;
    let admin = server.admin();

    // Made only with an event that exists.
    let r = admin
        .post("/api/v1/tokens", &json!({"name": "ci", "role": "ci"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&r), "event_required");
    let r = admin
        .post(
            "/api/v1/tokens",
            &json!({"name": "ci", "role": "ci", "event": "winter"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&r), "unknown_event");
    let r = admin
        .post(
            "/api/v1/tokens",
            &json!({"name": "v", "role": "viewer", "event": "spring"}),
        )
        .await;
    assert_eq!(code(&r), "event_not_allowed");

    let ci = server.token("pipeline", Role::Ci, Some("spring")).await;
    let api = server.api(Some(&ci));
    let r = api
        .post(
            "/api/v1/gate/check",
            &json!({"service": "order-api", "kind": "release", "event": "autumn"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.text().contains("is bound to event `spring`"),
        "{}",
        r.text()
    );
    // Without an event, the bound one answers; naming it is fine too.
    for body in [
        json!({"service": "order-api", "kind": "release"}),
        json!({"service": "order-api", "kind": "release", "event": "spring"}),
    ] {
        let r = api.post("/api/v1/gate/check", &body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json::<Value>().expect("json")["event"], "spring");
    }
    // The refused question was not recorded.
    let changes: Value = admin
        .get("/api/v1/gate/changes")
        .await
        .json()
        .expect("json");
    assert_eq!(changes["changes"].as_array().map(Vec::len), Some(2));
    // A ci token from before the binding (no event in the store) is
    // refused with what to do, never let loose on every event.
    let legacy = "sw_1111111111111111111111111111111111111111111111111111111111111111";
    server
        .state
        .store
        .create_token(
            &server.state.ctx("admin"),
            &seawall_store::NewToken {
                name: "old-pipeline".into(),
                role: Role::Ci,
                business_line: None,
                secret_sha256: seawall_store::sha256_hex(legacy.as_bytes()),
                expires_ms: None,
                service: None,
                event: None,
            },
        )
        .await
        .expect("store");
    let r = server
        .api(Some(legacy))
        .post(
            "/api/v1/gate/check",
            &json!({"service": "order-api", "kind": "release"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("bound to no event"), "{}", r.text());
    // Other roles still ask about any event.
    let r = admin
        .post(
            "/api/v1/gate/check",
            &json!({"service": "order-api", "kind": "release", "event": "autumn"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
}

#[tokio::test]
async fn a_check_for_a_service_no_plan_knows_says_so() {
    let server = TestServer::start().await;
    event_with_plan(&server, "e").await;
    let ci = server.token("pipeline", Role::Ci, Some("e")).await;
    let api = server.api(Some(&ci));
    let r = api
        .post(
            "/api/v1/gate/check",
            &json!({"service": "ordr-api", "kind": "release"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let a: Value = r.json().expect("json");
    assert_eq!(a["unknown_service"], true);
    let reason = a["reason"].as_str().expect("reason");
    assert!(
        reason.contains("no plan of event `e` has a service `ordr-api`"),
        "{reason}"
    );
    // The recorded decision keeps the note.
    let changes: Value = server
        .admin()
        .get("/api/v1/gate/changes")
        .await
        .json()
        .expect("json");
    assert!(
        changes["changes"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("ordr-api")),
        "{changes}"
    );
    let r = api
        .post(
            "/api/v1/gate/check",
            &json!({"service": "order-api", "kind": "release"}),
        )
        .await;
    let a: Value = r.json().expect("json");
    assert_eq!(a["unknown_service"], false);
    assert!(!a["reason"].as_str().expect("reason").contains("no plan"));
}
