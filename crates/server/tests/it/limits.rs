//! Application-level limits over real HTTP: writes per token (429 with
//! `Retry-After`, the bucket refilled on the test's clock), caps on free
//! text (422 `too_long` naming the field and the cap, declared as
//! `maxLength` in the OpenAPI document), and the bound on active freeze
//! exceptions per event. A refused request stores nothing.

use crate::common;

use std::num::NonZeroU32;

use common::{TestServer, code, event_with_plan};
use http::{StatusCode, header};
use seawall_server::state::Limits;
use seawall_store::Role;
use serde_json::{Value, json};

fn small_write_rate(s: seawall_server::AppState) -> seawall_server::AppState {
    s.with_limits(Limits {
        write_rate: NonZeroU32::MIN,
        write_burst: NonZeroU32::new(3).expect("3"),
        ..Limits::default()
    })
}

fn few_exceptions(s: seawall_server::AppState) -> seawall_server::AppState {
    s.with_limits(Limits {
        max_active_exceptions: 3,
        ..Limits::default()
    })
}

async fn audit_len(server: &TestServer) -> usize {
    let page: Value = server
        .admin()
        .get("/api/v1/audit?limit=10000")
        .await
        .json()
        .expect("json");
    page["entries"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn writes_past_the_token_rate_get_429_with_retry_after_and_store_nothing() {
    let server = TestServer::start_tweaked(small_write_rate).await;
    let commander = server.token("lin-wei", Role::Commander, None).await;
    let api = server.api(Some(&commander));
    for i in 0..3 {
        let r = api
            .post(
                "/api/v1/events",
                &json!({"slug": format!("e{i}"), "name": "E"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
    let before = audit_len(&server).await;
    let r = api
        .post("/api/v1/events", &json!({"slug": "e3", "name": "E"}))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert_eq!(code(&r), "too_many_requests");
    assert_eq!(r.headers[header::RETRY_AFTER], "1");
    assert!(r.text().contains("lin-wei"), "{}", r.text());
    assert_eq!(audit_len(&server).await, before, "nothing stored");
    let r = server.admin().get("/api/v1/events/e3").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Reads are not counted; other tokens have their own bucket.
    assert_eq!(api.get("/api/v1/events").await.status, StatusCode::OK);
    let r = server
        .admin()
        .post("/api/v1/events", &json!({"slug": "a1", "name": "A"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // A UI form post counts against the same token.
    let ui = server.ui_login(&commander).await;
    let r = ui.post_form("/ui/theme", &[("theme", "dark")]).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text());
    assert_eq!(r.headers[header::RETRY_AFTER], "1");
    // A second later the bucket holds one write again.
    server.clock.advance(1_000);
    let r = api
        .post("/api/v1/events", &json!({"slug": "e3", "name": "E"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = api
        .post("/api/v1/events", &json!({"slug": "e4", "name": "E"}))
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn free_text_over_its_cap_is_refused_naming_the_field_and_the_cap() {
    let server = TestServer::start().await;
    event_with_plan(&server, "e").await;
    let admin = server.admin();
    let exception = |services: Value, reason: String| {
        json!({"services": services, "kinds": ["release"],
            "start": "2026-09-30T00:00:00Z", "end": "2026-10-01T00:00:00Z", "reason": reason})
    };
    let long = |n: usize| "ü".repeat(n);
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "/api/v1/events/e/exceptions",
            exception(json!(["order-api"]), long(2_001)),
            "`reason`",
            "2000",
        ),
        (
            "/api/v1/events/e/exceptions",
            exception(json!(vec!["order-*"; 101]), "hotfix".into()),
            "`services`",
            "100",
        ),
        (
            "/api/v1/events/e/exceptions",
            exception(json!([long(201)]), "hotfix".into()),
            "`services[]`",
            "200",
        ),
        (
            "/api/v1/gate/check",
            json!({"service": "order-api", "kind": "release", "change_ref": long(201)}),
            "`change_ref`",
            "200",
        ),
        (
            "/api/v1/gate/check",
            json!({"service": "order-api", "kind": "release", "actor": long(201)}),
            "`actor`",
            "200",
        ),
        (
            "/api/v1/events/e/plans",
            json!({"file_name": long(201), "text": common::PLAN}),
            "`file_name`",
            "200",
        ),
    ];
    let before = audit_len(&server).await;
    for (path, body, field, cap) in &cases {
        let r = admin.post(path, body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path} {field}");
        assert_eq!(code(&r), "too_long", "{path} {field}");
        let text = r.text();
        assert!(text.contains(field) && text.contains(cap), "{text}");
    }
    // The rules' note, through PUT.
    let body = json!({"rules": {"version": 1}, "note": long(2_001)});
    let r = admin
        .checked(
            http::Method::PUT,
            "/api/v1/guard/services/order-api/rules",
            Some((
                "application/json",
                serde_json::to_vec(&body).expect("json").into(),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("`note`"), "{}", r.text());
    assert_eq!(audit_len(&server).await, before, "nothing stored");

    // A decision's note: the exception stays pending.
    let requester = server.token("zhou", Role::Oncall, None).await;
    let r = server
        .api(Some(&requester))
        .post(
            "/api/v1/events/e/exceptions",
            &exception(json!(["order-api"]), long(2_000)),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "exactly the cap is fine");
    let id = r.json::<Value>().expect("json")["id"].as_i64().expect("id");
    let r = admin
        .post(
            &format!("/api/v1/exceptions/{id}/approve"),
            &json!({"note": long(2_001)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("`note`"), "{}", r.text());
    let e: Value = admin
        .get(&format!("/api/v1/exceptions/{id}"))
        .await
        .json()
        .expect("json");
    assert_eq!(e["status"], "pending");
    let changes: Value = admin
        .get("/api/v1/gate/changes")
        .await
        .json()
        .expect("json");
    assert_eq!(changes["changes"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn the_openapi_document_declares_the_caps() {
    let doc = serde_json::to_value(seawall_server::api::openapi()).expect("json");
    let schemas = &doc["components"]["schemas"];
    let max_length = |schema: &str, field: &str| -> Option<u64> {
        schemas[schema]["properties"][field]["maxLength"].as_u64()
    };
    assert_eq!(max_length("RequestException", "reason"), Some(2_000));
    assert_eq!(
        schemas["RequestException"]["properties"]["services"]["maxItems"].as_u64(),
        Some(100)
    );
    assert_eq!(max_length("Decide", "note"), Some(2_000));
    assert_eq!(max_length("Adjust", "note"), Some(2_000));
    assert_eq!(max_length("GateCheck", "change_ref"), Some(200));
    assert_eq!(max_length("GateCheck", "actor"), Some(200));
    assert_eq!(max_length("PushPlan", "file_name"), Some(200));
    assert_eq!(max_length("Applied", "instance"), Some(200));
}

#[tokio::test]
async fn active_exceptions_per_event_are_bounded() {
    let server = TestServer::start_tweaked(few_exceptions).await;
    event_with_plan(&server, "e").await;
    let body = json!({"services": ["order-api"], "kinds": ["release"],
        "start": "2026-09-30T00:00:00Z", "end": "2026-10-01T00:00:00Z", "reason": "hotfix"});
    let oncall = server.token("zhou", Role::Oncall, None).await;
    let api = server.api(Some(&oncall));
    let mut ids = Vec::new();
    for _ in 0..3 {
        let r = api.post("/api/v1/events/e/exceptions", &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        ids.push(r.json::<Value>().expect("json")["id"].as_i64().expect("id"));
    }
    let before = audit_len(&server).await;
    let r = api.post("/api/v1/events/e/exceptions", &body).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(code(&r), "too_many_exceptions");
    assert!(r.text().contains("3 active"), "{}", r.text());
    assert_eq!(audit_len(&server).await, before, "nothing stored");
    // A rejected one no longer counts.
    let r = server
        .admin()
        .post(&format!("/api/v1/exceptions/{}/reject", ids[0]), &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = api.post("/api/v1/events/e/exceptions", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    // Another event has its own bound.
    event_with_plan(&server, "f").await;
    let r = api.post("/api/v1/events/f/exceptions", &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}
