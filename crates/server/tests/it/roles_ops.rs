//! The role matrix of the change-control and guard areas (gate, freeze
//! exceptions, calendar exports, guard rules): every endpoint with every
//! role (allowed → its success status, denied → 403 naming the roles), with
//! no token and with a wrong one (401). Checked against the OpenAPI
//! document, so a new endpoint in these areas cannot go untested. (The
//! other areas' matrix is in `roles.rs`.)

use crate::common;

use std::collections::BTreeSet;

use common::{TestServer, check_role_answer, documented_operations, event_with_plan};
use http::{Method, StatusCode};
use seawall_server::client::Response;
use seawall_store::Role;
use serde_json::{Value, json};

const AREAS: [&str; 4] = ["gate", "exceptions", "exports", "guard"];

const READERS: &[Role] = &[
    Role::Admin,
    Role::Commander,
    Role::Pm,
    Role::Oncall,
    Role::Viewer,
];
const PLANNERS: &[Role] = &[Role::Admin, Role::Commander];
const ASKERS: &[Role] = &[
    Role::Admin,
    Role::Commander,
    Role::Pm,
    Role::Oncall,
    Role::Ci,
];
const REQUESTERS: &[Role] = &[Role::Admin, Role::Commander, Role::Pm, Role::Oncall];
/// Readers and the service's own sidecar (the matrix's sidecar token is
/// scoped to `order-api`, the service these calls name).
const FOLLOWERS: &[Role] = &[
    Role::Admin,
    Role::Commander,
    Role::Pm,
    Role::Oncall,
    Role::Viewer,
    Role::Sidecar,
];
const DECIDERS: &[Role] = &[Role::Admin, Role::Commander];
/// Who reads a whitelist's ids: the service's own sidecar and the
/// planners who upload them (the ids are people's).
const WHITELIST_FOLLOWERS: &[Role] = &[Role::Admin, Role::Commander, Role::Sidecar];
/// Who leases cluster quota tokens: the service's own sidecar, and admin.
const LEASERS: &[Role] = &[Role::Admin, Role::Sidecar];

/// What a call does.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// A GET of this concrete path answered with JSON.
    Get(&'static str),
    /// A GET of this concrete path answered with another content type.
    GetText(&'static str),
    Ask,
    Request,
    Approve,
    Reject,
    Derive,
    Adjust,
    Poll,
    Applied,
    Upload,
    WhitelistPoll,
    Lease,
}

/// (method, OpenAPI template, operation, roles allowed, success status).
const MATRIX: &[(&str, &str, Op, &[Role], u16)] = &[
    ("post", "/api/v1/gate/check", Op::Ask, ASKERS, 200),
    (
        "get",
        "/api/v1/gate/changes",
        Op::Get("/api/v1/gate/changes"),
        READERS,
        200,
    ),
    (
        "post",
        "/api/v1/events/{slug}/exceptions",
        Op::Request,
        REQUESTERS,
        201,
    ),
    (
        "get",
        "/api/v1/events/{slug}/exceptions",
        Op::Get("/api/v1/events/e/exceptions"),
        READERS,
        200,
    ),
    (
        "get",
        "/api/v1/exceptions/{id}",
        Op::Get("/api/v1/exceptions/1"),
        READERS,
        200,
    ),
    (
        "post",
        "/api/v1/exceptions/{id}/approve",
        Op::Approve,
        DECIDERS,
        200,
    ),
    (
        "post",
        "/api/v1/exceptions/{id}/reject",
        Op::Reject,
        DECIDERS,
        200,
    ),
    (
        "get",
        "/api/v1/events/{slug}/freeze.ics",
        Op::GetText("/api/v1/events/e/freeze.ics"),
        READERS,
        200,
    ),
    (
        "get",
        "/api/v1/events/{slug}/freeze/gitlab",
        Op::Get("/api/v1/events/e/freeze/gitlab"),
        READERS,
        200,
    ),
    (
        "get",
        "/api/v1/events/{slug}/freeze/argocd",
        Op::GetText("/api/v1/events/e/freeze/argocd"),
        READERS,
        200,
    ),
    (
        "post",
        "/api/v1/events/{slug}/guard/derive",
        Op::Derive,
        PLANNERS,
        200,
    ),
    (
        "put",
        "/api/v1/guard/services/{service}/rules",
        Op::Adjust,
        PLANNERS,
        201,
    ),
    ("get", "/api/v1/guard/rules", Op::Poll, FOLLOWERS, 200),
    ("post", "/api/v1/guard/applied", Op::Applied, FOLLOWERS, 204),
    (
        "get",
        "/api/v1/guard/services",
        Op::Get("/api/v1/guard/services"),
        READERS,
        200,
    ),
    (
        "get",
        "/api/v1/guard/services/{service}/versions",
        Op::Get("/api/v1/guard/services/order-api/versions"),
        READERS,
        200,
    ),
    (
        "get",
        "/api/v1/guard/services/{service}/versions/{version}",
        Op::Get("/api/v1/guard/services/order-api/versions/1"),
        READERS,
        200,
    ),
    (
        "get",
        "/api/v1/guard/services/{service}/sidecars",
        Op::Get("/api/v1/guard/services/order-api/sidecars"),
        READERS,
        200,
    ),
    // The upload before the poll: the poll then finds a set (200).
    (
        "put",
        "/api/v1/guard/services/{service}/whitelist",
        Op::Upload,
        PLANNERS,
        201,
    ),
    (
        "get",
        "/api/v1/guard/whitelist",
        Op::WhitelistPoll,
        WHITELIST_FOLLOWERS,
        200,
    ),
    (
        "get",
        "/api/v1/guard/services/{service}/whitelists",
        Op::Get("/api/v1/guard/services/order-api/whitelists"),
        READERS,
        200,
    ),
    ("post", "/api/v1/guard/lease", Op::Lease, LEASERS, 200),
];

const EXCEPTION: &str = r#"{"services": ["order-api"], "kinds": ["release"],
    "start": "2026-09-30T00:00:00Z", "end": "2026-10-01T00:00:00Z", "reason": "hotfix"}"#;

/// A fresh pending exception, requested by an on-call token of its own
/// (nobody approves their own request); its id.
async fn pending(server: &TestServer) -> i64 {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let requester = server
        .token(&format!("requester-{n}"), Role::Oncall, None)
        .await;
    let body: Value = serde_json::from_str(EXCEPTION).expect("json");
    let r = server
        .api(Some(&requester))
        .post("/api/v1/events/e/exceptions", &body)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json::<Value>().expect("json")["id"].as_i64().expect("id")
}

async fn call(server: &TestServer, token: Option<&str>, op: Op) -> Response {
    let api = server.api(token);
    let unchecked = |method: Method, path: String, body: Option<Value>| {
        let client = api.client.clone();
        async move {
            client
                .send(
                    method,
                    &path,
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
    };
    match op {
        Op::Get(path) => api.get(path).await,
        Op::GetText(path) => unchecked(Method::GET, path.to_owned(), None).await,
        Op::Ask => {
            api.post(
                "/api/v1/gate/check",
                &json!({"service": "order-api", "kind": "release"}),
            )
            .await
        }
        Op::Request => {
            let body: Value = serde_json::from_str(EXCEPTION).expect("json");
            api.post("/api/v1/events/e/exceptions", &body).await
        }
        Op::Approve | Op::Reject => {
            let id = pending(server).await;
            let verb = if matches!(op, Op::Approve) {
                "approve"
            } else {
                "reject"
            };
            api.post(&format!("/api/v1/exceptions/{id}/{verb}"), &json!({}))
                .await
        }
        Op::Derive => api.post("/api/v1/events/e/guard/derive", &json!({})).await,
        Op::Adjust => {
            let body = json!({"rules": {"version": 1}, "note": "matrix"});
            api.checked(
                Method::PUT,
                "/api/v1/guard/services/order-api/rules",
                Some((
                    "application/json",
                    serde_json::to_vec(&body).expect("json").into(),
                )),
            )
            .await
        }
        Op::Poll => {
            unchecked(
                Method::GET,
                "/api/v1/guard/rules?service=order-api&since=0&wait=0".into(),
                None,
            )
            .await
        }
        Op::Applied => {
            unchecked(
                Method::POST,
                "/api/v1/guard/applied".into(),
                Some(json!({"service": "order-api", "instance": "m", "version": 1})),
            )
            .await
        }
        Op::Upload => api
            .client
            .send(
                Method::PUT,
                "/api/v1/guard/services/order-api/whitelist",
                Some(("text/plain", bytes::Bytes::from_static(b"1001\n1002\n"))),
            )
            .await
            .expect("request"),
        Op::WhitelistPoll => {
            unchecked(
                Method::GET,
                "/api/v1/guard/whitelist?service=order-api&since=0&wait=0".into(),
                None,
            )
            .await
        }
        Op::Lease => {
            unchecked(
                Method::POST,
                "/api/v1/guard/lease".into(),
                Some(json!({"service": "order-api", "instance": "m", "asks": []})),
            )
            .await
        }
    }
}

#[tokio::test]
async fn every_endpoint_with_every_role() {
    let server = TestServer::start().await;
    server.clock.set(common::T0);
    event_with_plan(&server, "e").await;
    pending(&server).await;
    let r = server
        .admin()
        .post("/api/v1/events/e/guard/derive", &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());

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

    for &(method, template, op, allowed, ok) in MATRIX {
        for (role, secret) in &tokens {
            let r = call(&server, Some(secret), op).await;
            check_role_answer(&r, &format!("{method} {template}"), *role, allowed, ok);
        }
        for token in [
            None,
            Some("sw_0000000000000000000000000000000000000000000000000000000000000000"),
        ] {
            let r = call(&server, token, op).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {template} with {token:?}"
            );
        }
    }

    // Refused calls changed nothing: the gate recorded only the askers'
    // questions, exceptions only the requesters' and the admin's.
    let changes: Value = server
        .admin()
        .get("/api/v1/gate/changes")
        .await
        .json()
        .expect("json");
    assert_eq!(
        changes["changes"].as_array().map(Vec::len),
        Some(ASKERS.len())
    );
    let versions: Value = server
        .admin()
        .get("/api/v1/guard/services/order-api/versions")
        .await
        .json()
        .expect("json");
    // The first derivation, then one adjustment per planner (derivations
    // after an adjustment store the derived rules again).
    let sources: Vec<&str> = versions["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["source"].as_str().expect("source"))
        .collect();
    assert_eq!(
        sources.iter().filter(|s| **s == "adjusted").count(),
        PLANNERS.len()
    );
}

#[tokio::test]
async fn the_matrix_covers_every_documented_operation_of_these_areas() {
    let documented = documented_operations(&AREAS);
    let tested: BTreeSet<String> = MATRIX.iter().map(|(m, t, ..)| format!("{m} {t}")).collect();
    assert_eq!(documented, tested);
}
