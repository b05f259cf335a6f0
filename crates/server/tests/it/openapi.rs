//! The OpenAPI document and what is served agree: every documented
//! operation is routed (never the router's 404 or 405), and undocumented
//! paths get the JSON 404. (Every JSON answer of every test is validated
//! against its schema by the harness, `common::check_response`.)

use crate::common;

use common::TestServer;
use http::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn every_documented_operation_is_served() {
    let server = TestServer::start().await;
    let doc = server.openapi.clone();
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let admin = server.admin();
    let mut count = 0;
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let path = template
                .split('/')
                .map(|s| if s.starts_with('{') { "1" } else { s })
                .collect::<Vec<_>>()
                .join("/");
            let method: Method = method.to_ascii_uppercase().parse().expect("method");
            let body = (method == Method::POST).then(|| ("application/json", "{}".into()));
            let r = admin.checked(method.clone(), &path, body).await;
            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            assert_ne!(
                r.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {template}"
            );
            let fallback = v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no such endpoint"));
            assert!(
                !fallback,
                "{method} {template} is documented but not routed"
            );
            assert!(op["responses"].is_object(), "{method} {template}");
            count += 1;
        }
    }
    assert!(count >= 20, "{count} operations");
}

#[tokio::test]
async fn the_served_document_is_the_libraries() {
    let server = TestServer::start().await;
    let built = serde_json::to_value(seawall_server::api::openapi()).expect("json");
    assert_eq!(*server.openapi, built);
    let r = server.api(None).get("/api/v1/no/such/thing").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
