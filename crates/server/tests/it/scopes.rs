//! Token expiry and the `sidecar` role over real HTTP: an expired token
//! is refused with 401 `token_expired`; a sidecar token reads its one
//! service's rules and reports the version applied there, and nothing
//! else (no plans, no audit log, no other service); its reports are
//! audited and bounded.

use crate::common;

use common::{TestServer, code, event_with_plan};
use http::{Method, StatusCode};
use seawall_server::state::Limits;
use seawall_store::Role;
use serde_json::{Value, json};

#[tokio::test]
async fn an_expired_token_is_refused_with_a_clear_401() {
    let server = TestServer::start().await;
    let admin = server.admin();
    for bad in [0, 59, 10 * 365 * 86_400 + 1] {
        let r = admin
            .post(
                "/api/v1/tokens",
                &json!({"name": "x", "role": "viewer", "expires_in_seconds": bad}),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(code(&r), "invalid_expiry");
    }
    let r = admin
        .post(
            "/api/v1/tokens",
            &json!({"name": "brief", "role": "viewer", "expires_in_seconds": 3600}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let created: Value = r.json().expect("json");
    assert_eq!(created["token"]["expires_ms"], common::T0 + 3_600_000);
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let api = server.api(Some(&secret));
    server.clock.advance(3_599_999);
    assert_eq!(api.get("/api/v1/events").await.status, StatusCode::OK);
    server.clock.advance(1);
    let r = api.get("/api/v1/events").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(code(&r), "token_expired");
    assert!(
        r.text().contains("token `brief` expired at 2026-"),
        "{}",
        r.text()
    );
    // The list shows when tokens expire.
    let list: Value = admin.get("/api/v1/tokens").await.json().expect("json");
    let brief = list["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["name"] == "brief")
        .expect("brief");
    assert_eq!(brief["expires_ms"], common::T0 + 3_600_000);
}

/// An event with a plan, derived rules for `order-api` and adjusted
/// rules for `pay-api`.
async fn two_services(server: &TestServer) {
    event_with_plan(server, "e").await;
    let admin = server.admin();
    let r = admin
        .post("/api/v1/events/e/guard/derive", &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = json!({"rules": {"version": 1}, "note": "pay"});
    let r = admin
        .checked(
            Method::PUT,
            "/api/v1/guard/services/pay-api/rules",
            Some((
                "application/json",
                serde_json::to_vec(&body).expect("json").into(),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

async fn raw(
    server: &TestServer,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> seawall_server::client::Response {
    server
        .api(Some(token))
        .client
        .send(
            method,
            path,
            body.map(|b| {
                (
                    "application/json",
                    serde_json::to_vec(&b).expect("json").into(),
                )
            }),
        )
        .await
        .expect("request")
}

#[tokio::test]
async fn a_sidecar_token_follows_only_its_service() {
    let server = TestServer::start().await;
    two_services(&server).await;
    let admin = server.admin();
    // Made only with a service.
    let r = admin
        .post("/api/v1/tokens", &json!({"name": "sc", "role": "sidecar"}))
        .await;
    assert_eq!(code(&r), "service_required");
    let r = admin
        .post(
            "/api/v1/tokens",
            &json!({"name": "v", "role": "viewer", "service": "order-api"}),
        )
        .await;
    assert_eq!(code(&r), "service_not_allowed");

    let sc = server
        .token("order-sidecar", Role::Sidecar, Some("order-api"))
        .await;
    // Its service's rules, and its reports.
    let r = raw(
        &server,
        &sc,
        Method::GET,
        "/api/v1/guard/rules?service=order-api&since=0&wait=0",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = raw(
        &server,
        &sc,
        Method::POST,
        "/api/v1/guard/applied",
        Some(json!({"service": "order-api", "instance": "pod-a", "version": 1})),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());

    // Nothing of another service.
    let r = raw(
        &server,
        &sc,
        Method::GET,
        "/api/v1/guard/rules?service=pay-api&since=0&wait=0",
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("sidecar token of service `order-api`"));
    let r = raw(
        &server,
        &sc,
        Method::POST,
        "/api/v1/guard/applied",
        Some(json!({"service": "pay-api", "instance": "pod-a", "version": 1})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());

    // Nothing else at all: plans (with people's phone numbers), the audit
    // log, events, other rule reads, the gate.
    for path in [
        "/api/v1/events",
        "/api/v1/events/e",
        "/api/v1/events/e/plan",
        "/api/v1/events/e/plans/1",
        "/api/v1/audit",
        "/api/v1/gate/changes",
        "/api/v1/events/e/exceptions",
        "/api/v1/guard/services",
        "/api/v1/guard/services/order-api/versions",
        "/api/v1/guard/services/order-api/versions/1",
        "/api/v1/guard/services/order-api/sidecars",
        "/api/v1/tokens",
    ] {
        let r = raw(&server, &sc, Method::GET, path, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "GET {path}");
    }
    let r = raw(
        &server,
        &sc,
        Method::POST,
        "/api/v1/gate/check",
        Some(json!({"service": "order-api", "kind": "release"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let me: Value = server
        .api(Some(&sc))
        .get("/api/v1/me")
        .await
        .json()
        .expect("json");
    assert_eq!(me["role"], "sidecar");

    // The report was audited, with the sidecar as the actor.
    let audit: Value = admin
        .get("/api/v1/audit?limit=1000")
        .await
        .json()
        .expect("json");
    let entry = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["action"] == "sidecar.applied")
        .expect("the report is audited")
        .clone();
    assert_eq!(entry["actor"], "order-sidecar");
    assert_eq!(entry["target"], "service:order-api");
    assert!(entry["detail"].as_str().expect("detail").contains("pod-a"));
}

fn two_sidecars(s: seawall_server::AppState) -> seawall_server::AppState {
    s.with_limits(Limits {
        max_sidecars_per_service: 2,
        ..Limits::default()
    })
}

#[tokio::test]
async fn applied_version_reports_are_bounded() {
    let server = TestServer::start_tweaked(two_sidecars).await;
    two_services(&server).await;
    let sc = server
        .token("order-sidecar", Role::Sidecar, Some("order-api"))
        .await;
    let report = |instance: String, version: i64| json!({"service": "order-api", "instance": instance, "version": version});
    let cases = [
        (report("x".repeat(201), 1), "invalid_instance"),
        (report("pod\u{7}".into(), 1), "invalid_instance"),
        (report("pod-a".into(), 2), "invalid_version"),
        (report("pod-a".into(), -1), "invalid_version"),
    ];
    for (body, expected) in cases {
        let r = raw(
            &server,
            &sc,
            Method::POST,
            "/api/v1/guard/applied",
            Some(body),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
        assert_eq!(code(&r), expected);
    }
    for instance in ["pod-a", "pod-b", "pod-a"] {
        let r = raw(
            &server,
            &sc,
            Method::POST,
            "/api/v1/guard/applied",
            Some(report(instance.into(), 1)),
        )
        .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
    }
    let r = raw(
        &server,
        &sc,
        Method::POST,
        "/api/v1/guard/applied",
        Some(report("pod-c".into(), 1)),
    )
    .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(r.text().contains("2 sidecar instances"), "{}", r.text());
    let list: Value = server
        .admin()
        .get("/api/v1/guard/services/order-api/sidecars")
        .await
        .json()
        .expect("json");
    assert_eq!(list["sidecars"].as_array().map(Vec::len), Some(2));
}
