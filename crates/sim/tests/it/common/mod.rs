//! Helpers shared by the simulator's tests: plans from text, and a small
//! HTTP client for loopback requests.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use seawall_plan::Plan;

/// A small plan whose numbers the tests compute by hand.
///
/// buy (POST /api/buy on shop, capacity 2 × 100 = 200):
/// - shop → stock strong, 2 calls; shop → recs weak; recs → stock strong;
///   shop → pay (partner, quota 500) strong with 1 retry; shop → sms
///   (partner, not shadow_safe) weak.
/// - calls reaching stock per buy: 2 + 1 × 1 = 3 → 300 / 3 = 100 QPS;
///   shop 200; pay 500 → knee 100, bottleneck stock.
pub const SMALL: &str = r#"
event: {name: sim test}
entries:
  buy: {service: shop, method: POST, path: /api/buy, slo: {p99_ms: 300, error_rate: 0.01}}
  item: {service: shop, method: GET, path: "/api/items/{id}"}
  stock-check: {service: stock, method: GET, path: /api/stock}
  nowhere: {service: recs}
services:
  shop:
    instances: 2
    capacity_per_instance: 100
    latency_ms: 5
    timeout_ms: 1000
    dependencies:
      - {to: stock, strength: strong, calls: 2, timeout_ms: 300}
      - {to: recs, strength: weak, timeout_ms: 100, fallback: "no recommendations"}
      - {to: pay, strength: strong, timeout_ms: 400, retries: 1}
      - {to: sms, strength: weak, timeout_ms: 200, fallback: "push instead"}
  stock:
    instances: 1
    capacity_per_instance: 300
    latency_ms: 2
    timeout_ms: 200
  recs:
    instances: 1
    capacity_per_instance: 50
    latency_ms: 3
    dependencies:
      - {to: stock, strength: strong, timeout_ms: 100}
partners:
  pay: {sla: {p99_ms: 20, error_rate: 0.001}, fallback: "wallet", quota_qps: 500, shadow_safe: true}
  sms: {sla: {p99_ms: 10}, fallback: "push", shadow_safe: false}
"#;

pub fn plan(src: &str) -> Plan {
    match seawall_plan::parse(src, "plan.yaml") {
        Ok(p) => p,
        Err(d) => panic!("test plan is invalid: {d:?}"),
    }
}

pub fn carnival() -> Plan {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/carnival/plan.yaml"
    );
    let src = std::fs::read_to_string(path).expect("carnival plan");
    match seawall_plan::parse(&src, "plan.yaml") {
        Ok(p) => p,
        Err(d) => panic!("carnival plan is invalid: {d:?}"),
    }
}

/// One HTTP exchange: status and JSON body (Null when not JSON).
pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, serde_json::Value) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    let resp = client.request(req).await.expect("response");
    let status = resp.status();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

pub async fn get(url: &str) -> (StatusCode, serde_json::Value) {
    send(Method::GET, url, &[], "").await
}

pub async fn post(url: &str, headers: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    send(Method::POST, url, headers, "{}").await
}
