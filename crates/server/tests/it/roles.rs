//! The role matrix: every endpoint of the events, plans, runs, tokens,
//! audit and health areas, called with every role (allowed → 2xx, denied
//! → 403 naming the roles), with no token and with a wrong one (401 with
//! `WWW-Authenticate`). The gate, exception, export and rules areas have
//! their own matrices beside their tests. The list below is checked
//! against the OpenAPI document, so a new endpoint in these areas cannot
//! go untested.

use crate::common;

use std::collections::BTreeSet;

use common::{
    TestServer, check_role_answer, code, documented_operations, event_with_plan, run_json,
    upload_run,
};
use http::{StatusCode, header};
use seawall_store::Role;
use serde_json::{Value, json};

const AREAS: [&str; 6] = ["health", "events", "plans", "runs", "tokens", "audit"];

const READERS: &[Role] = &[
    Role::Admin,
    Role::Commander,
    Role::Pm,
    Role::Oncall,
    Role::Viewer,
];
const PLANNERS: &[Role] = &[Role::Admin, Role::Commander];
const ADMINS: &[Role] = &[Role::Admin];

/// What a call does.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// A GET of this concrete path.
    Get(&'static str),
    CreateEvent,
    PushPlan,
    UploadRun,
    CreateToken,
    RevokeToken,
}

/// (method, OpenAPI template, operation, roles allowed, success status).
const MATRIX: &[(&str, &str, Op, &[Role], u16)] = &[
    ("get", "/api/v1/me", Op::Get("/api/v1/me"), &Role::ALL, 200),
    (
        "get",
        "/api/v1/events",
        Op::Get("/api/v1/events"),
        READERS,
        200,
    ),
    ("post", "/api/v1/events", Op::CreateEvent, PLANNERS, 201),
    (
        "get",
        "/api/v1/events/{slug}",
        Op::Get("/api/v1/events/e"),
        READERS,
        200,
    ),
    (
        "post",
        "/api/v1/events/{slug}/plans",
        Op::PushPlan,
        PLANNERS,
        201,
    ),
    (
        "get",
        "/api/v1/events/{slug}/plans",
        Op::Get("/api/v1/events/e/plans"),
        READERS,
        200,
    ),
    (
        "get",
        "/api/v1/events/{slug}/plans/{version}",
        Op::Get("/api/v1/events/e/plans/1"),
        READERS,
        200,
    ),
    (
        "get",
        "/api/v1/events/{slug}/plan",
        Op::Get("/api/v1/events/e/plan"),
        READERS,
        200,
    ),
    (
        "get",
        "/api/v1/events/{slug}/plan/targets",
        Op::Get("/api/v1/events/e/plan/targets"),
        READERS,
        200,
    ),
    (
        "get",
        "/api/v1/events/{slug}/plan/links",
        Op::Get("/api/v1/events/e/plan/links"),
        READERS,
        200,
    ),
    (
        "get",
        "/api/v1/events/{slug}/plan/capacity",
        Op::Get("/api/v1/events/e/plan/capacity"),
        READERS,
        200,
    ),
    (
        "get",
        "/api/v1/events/{slug}/plan/readiness",
        Op::Get("/api/v1/events/e/plan/readiness"),
        READERS,
        200,
    ),
    (
        "post",
        "/api/v1/events/{slug}/runs",
        Op::UploadRun,
        PLANNERS,
        201,
    ),
    (
        "get",
        "/api/v1/events/{slug}/runs",
        Op::Get("/api/v1/events/e/runs"),
        READERS,
        200,
    ),
    (
        "get",
        "/api/v1/events/{slug}/runs/{id}",
        Op::Get("/api/v1/events/e/runs/1"),
        READERS,
        200,
    ),
    ("post", "/api/v1/tokens", Op::CreateToken, ADMINS, 201),
    (
        "get",
        "/api/v1/tokens",
        Op::Get("/api/v1/tokens"),
        ADMINS,
        200,
    ),
    (
        "delete",
        "/api/v1/tokens/{id}",
        Op::RevokeToken,
        ADMINS,
        200,
    ),
    (
        "get",
        "/api/v1/audit",
        Op::Get("/api/v1/audit"),
        READERS,
        200,
    ),
];

/// Endpoints anyone may call without a token.
const PUBLIC: &[&str] = &["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"];

async fn call(
    server: &TestServer,
    token: Option<&str>,
    op: Op,
    n: &mut u32,
) -> seawall_server::client::Response {
    *n += 1;
    let api = server.api(token);
    match op {
        Op::Get(path) => api.get(path).await,
        Op::CreateEvent => {
            api.post(
                "/api/v1/events",
                &json!({"slug": format!("ev-{n}"), "name": "E"}),
            )
            .await
        }
        Op::PushPlan => {
            api.post("/api/v1/events/e/plans", &json!({"text": common::PLAN}))
                .await
        }
        Op::UploadRun => {
            api.post_raw(
                "/api/v1/events/e/runs",
                "application/json",
                run_json(8.0, 4.0),
            )
            .await
        }
        Op::CreateToken => {
            api.post(
                "/api/v1/tokens",
                &json!({"name": format!("made-{n}"), "role": "viewer"}),
            )
            .await
        }
        Op::RevokeToken => {
            // A fresh token to revoke each time, made by the admin.
            let r = server
                .admin()
                .post(
                    "/api/v1/tokens",
                    &json!({"name": format!("victim-{n}"), "role": "viewer"}),
                )
                .await;
            let made: Value = r.json().expect("json");
            let id = made["token"]["id"].as_i64().expect("id");
            api.delete(&format!("/api/v1/tokens/{id}")).await
        }
    }
}

#[tokio::test]
async fn every_endpoint_with_every_role() {
    let server = TestServer::start().await;
    event_with_plan(&server, "e").await;
    upload_run(&server, "e").await;

    let mut tokens = Vec::new();
    for role in Role::ALL {
        let line = match role {
            Role::Pm => Some("bike"),
            Role::Ci => Some("e"),
            Role::Sidecar => Some("order-api"),
            _ => None,
        };
        let secret = server
            .token(&format!("as-{}", role.as_str()), role, line)
            .await;
        tokens.push((role, secret));
    }

    let mut n = 0;
    for &(method, template, op, allowed, ok) in MATRIX {
        for (role, secret) in &tokens {
            let r = call(&server, Some(secret), op, &mut n).await;
            check_role_answer(&r, &format!("{method} {template}"), *role, allowed, ok);
        }
        // No token, and a token that was never issued.
        for token in [
            None,
            Some("sw_0000000000000000000000000000000000000000000000000000000000000000"),
            Some("not-a-token"),
        ] {
            let r = call(&server, token, op, &mut n).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {template} with {token:?}"
            );
            assert_eq!(code(&r), "unauthorized");
            assert_eq!(
                r.headers
                    .get(header::WWW_AUTHENTICATE)
                    .map(|v| v.as_bytes()),
                Some(&b"Bearer realm=\"seawall\""[..])
            );
        }
    }

    // Denied calls changed nothing: only the admin's and the commander's
    // events exist besides `e`.
    let r = server.admin().get("/api/v1/events").await;
    let events: Value = r.json().expect("json");
    assert_eq!(events["events"].as_array().map(Vec::len), Some(3));

    // Public endpoints answer without a token.
    for path in PUBLIC {
        let r = server.api(None).get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn the_matrix_covers_every_documented_operation_of_these_areas() {
    let documented = documented_operations(&AREAS);
    let mut tested: BTreeSet<String> = MATRIX.iter().map(|(m, t, ..)| format!("{m} {t}")).collect();
    tested.extend(PUBLIC.iter().map(|p| format!("get {p}")));
    assert_eq!(documented, tested);
}
