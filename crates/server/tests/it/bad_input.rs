//! Bad input gets a clear 4xx with a machine-readable error and stores
//! nothing: malformed JSON, unknown fields, wrong content types, bodies
//! over the limit (declared or chunked), invalid plans and runs, bad
//! paths, queries, tokens, routes and methods.

use crate::common;

use bytes::Bytes;
use common::{Db, PLAN, TestServer, code, event_with_plan};
use http::{Method, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How many audit entries, events and plan versions of `e` exist.
async fn stored(server: &TestServer) -> (usize, usize, usize) {
    let admin = server.admin();
    let audit: Value = admin.get("/api/v1/audit").await.json().expect("json");
    let events: Value = admin.get("/api/v1/events").await.json().expect("json");
    let plans: Value = admin
        .get("/api/v1/events/e/plans")
        .await
        .json()
        .expect("json");
    let len = |v: &Value| v.as_array().map_or(0, Vec::len);
    (
        len(&audit["entries"]),
        len(&events["events"]),
        len(&plans["versions"]),
    )
}

#[tokio::test]
async fn malformed_unknown_and_mistyped_bodies() {
    let server = TestServer::start().await;
    event_with_plan(&server, "e").await;
    let before = stored(&server).await;
    let admin = server.admin();

    let r = admin
        .post_raw(
            "/api/v1/events",
            "application/json",
            "{\n  \"slug\": \"x\",\n  \"name\": }",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&r), "malformed_json");
    let v: Value = r.json().expect("json");
    assert_eq!(v["error"]["details"], json!({"line": 3, "column": 11}));

    let r = admin
        .post_raw("/api/v1/events", "application/json", "")
        .await;
    assert_eq!(code(&r), "malformed_json");
    assert!(r.text().contains("empty"), "{}", r.text());

    let r = admin
        .post(
            "/api/v1/events",
            &json!({"slug": "x", "name": "X", "owner": "me"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&r), "unknown_field");
    assert!(r.text().contains("owner"), "{}", r.text());

    let r = admin
        .post("/api/v1/events", &json!({"slug": 7, "name": "X"}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(&r), "invalid_body");

    let r = admin
        .post(
            "/api/v1/events",
            &json!({"slug": "Not A Slug", "name": "X"}),
        )
        .await;
    assert_eq!(code(&r), "invalid_slug");
    let r = admin
        .post("/api/v1/events", &json!({"slug": "ok", "name": "  "}))
        .await;
    assert_eq!(code(&r), "invalid_name");

    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let r = admin
            .post_raw("/api/v1/events", content_type, r#"{"slug":"x","name":"X"}"#)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        assert_eq!(code(&r), "unsupported_media_type");
    }
    let r = admin
        .client
        .send_raw(
            Method::POST,
            "/api/v1/events",
            &[(header::AUTHORIZATION, format!("Bearer {}", server.admin))],
            Bytes::from_static(br#"{"slug":"x","name":"X"}"#),
        )
        .await
        .expect("answer");
    common::check_response(&admin.openapi, &Method::POST, "/api/v1/events", &r);
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(r.text().contains("no Content-Type"), "{}", r.text());

    let r = admin
        .post(
            "/api/v1/events/e/plans",
            &json!({"text": PLAN, "yaml": PLAN}),
        )
        .await;
    assert_eq!(code(&r), "unknown_field");

    assert_eq!(stored(&server).await, before, "nothing stored");
}

#[tokio::test]
async fn invalid_plans_get_plan_checks_diagnostics_and_are_not_stored() {
    let server = TestServer::start().await;
    event_with_plan(&server, "e").await;
    let before = stored(&server).await;
    let bad = PLAN
        .replace("name: Test Carnival", "nmae: Test Carnival")
        .replace("service: order-api", "service: ordr-api");
    let r = server
        .admin()
        .post(
            "/api/v1/events/e/plans",
            &json!({"file_name": "bad.yaml", "text": bad}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text());
    assert_eq!(code(&r), "invalid_plan");
    let v: Value = r.json().expect("json");
    let diagnostics = seawall_plan::parse(&bad, "bad.yaml").expect_err("invalid");
    // Exactly `seawall plan check --format json`'s document.
    assert_eq!(
        v["error"]["details"],
        json!({"valid": false, "diagnostics": serde_json::to_value(&diagnostics.0).expect("json")})
    );
    let first = &v["error"]["details"]["diagnostics"][0];
    assert_eq!(first["file"], "bad.yaml");
    assert_eq!(first["line"], 1);
    assert!(first["column"].as_u64().is_some());
    assert!(first["code"].as_str().is_some_and(|c| c.starts_with('E')));
    let message = v["error"]["message"].as_str().expect("message");
    assert!(message.contains("bad.yaml"), "{message}");
    assert!(
        message.contains(&format!("{} problems", diagnostics.0.len())),
        "{message}"
    );
    assert!(diagnostics.0.len() >= 2);

    // Not YAML at all.
    let r = server
        .admin()
        .post(
            "/api/v1/events/e/plans",
            &json!({"text": "event: [unclosed"}),
        )
        .await;
    assert_eq!(code(&r), "invalid_plan");

    // No such event: 404 before anything else.
    let r = server
        .admin()
        .post("/api/v1/events/nope/plans", &json!({"text": PLAN}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    assert_eq!(stored(&server).await, before, "nothing stored");
}

#[tokio::test]
async fn invalid_runs_are_refused_and_not_stored() {
    let server = TestServer::start().await;
    event_with_plan(&server, "e").await;
    let before = stored(&server).await;
    let admin = server.admin();
    for (body, status, expected) in [
        (
            r#"{"schema": "seawall.run/v2", "scenario": "s"}"#,
            422,
            "invalid_run",
        ),
        (r#"{"scenario": "s"}"#, 422, "invalid_run"),
        (
            r#"{"schema": "seawall.run/v1", "scenario": "s", "entries": [{"id": "x", "knee_qps": -3}]}"#,
            422,
            "invalid_run",
        ),
        (
            r#"{"schema": "seawall.run/v1", "scenario": "s", "services": [{"id": "x", "capacity_per_instance": 0}]}"#,
            422,
            "invalid_run",
        ),
        (r#"{"schema": "seawall.run/v1", "#, 400, "malformed_json"),
        ("[1, 2]", 422, "invalid_run"),
    ] {
        let r = admin
            .post_raw("/api/v1/events/e/runs", "application/json", body)
            .await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text());
        assert_eq!(code(&r), expected, "{body}");
    }
    let runs: Value = admin
        .get("/api/v1/events/e/runs")
        .await
        .json()
        .expect("json");
    assert_eq!(runs["runs"], json!([]));
    assert_eq!(stored(&server).await, before, "nothing stored");
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_whole() {
    let server = TestServer::start_with(Db::Sqlite, Some(4096)).await;
    let admin = server.admin();
    let r = admin
        .post("/api/v1/events", &json!({"slug": "e", "name": "E"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let before = stored(&server).await;

    // Declared by Content-Length.
    let big = format!("{PLAN}\n# {}\n", "x".repeat(8000));
    let r = admin
        .post("/api/v1/events/e/plans", &json!({"text": big}))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code(&r), "payload_too_large");
    assert!(r.text().contains("4096"), "{}", r.text());

    // Chunked, with no length declared: cut off at the limit.
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let body = serde_json::to_vec(&json!({"text": big})).expect("json");
    let mut request = format!(
        "POST /api/v1/events/e/plans HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        server.admin
    )
    .into_bytes();
    for chunk in body.chunks(1000) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(&request).await.expect("write");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("answer within 10 s");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");

    assert_eq!(stored(&server).await, before, "nothing stored");
}

#[tokio::test]
async fn bad_paths_routes_methods_and_authorization_headers() {
    let server = TestServer::start().await;
    let admin = server.admin();

    let r = admin.delete("/api/v1/tokens/abc").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&r), "invalid_path");

    let r = admin.get("/api/v1/nothing-here").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(code(&r), "not_found");

    let r = admin.delete("/api/v1/events").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(code(&r), "method_not_allowed");

    let r = admin.get("/api/v1/events/e/plan/capacity?version=x").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(code(&r), "invalid_query");

    for value in [
        format!("Basic {}", server.admin),
        server.admin.clone(),
        "Bearer".to_owned(),
        format!("Bearer {}x", server.admin),
    ] {
        let r = admin
            .client
            .send_raw(
                Method::GET,
                "/api/v1/me",
                &[(header::AUTHORIZATION, value.clone())],
                Bytes::new(),
            )
            .await
            .expect("answer");
        common::check_response(&admin.openapi, &Method::GET, "/api/v1/me", &r);
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{value}");
        assert_eq!(code(&r), "unauthorized", "{value}");
    }
    // The scheme is case-insensitive.
    let r = admin
        .client
        .send_raw(
            Method::GET,
            "/api/v1/me",
            &[(header::AUTHORIZATION, format!("bearer {}", server.admin))],
            Bytes::new(),
        )
        .await
        .expect("answer");
    assert_eq!(r.status, StatusCode::OK);
}
