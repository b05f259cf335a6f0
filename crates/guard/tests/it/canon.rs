//! Path canonicalisation in the guard: rules match the canonical path
//! whatever the spelling, the tower layer forwards the canonical path and
//! answers 400 for a path that has none (also over real HTTP on loopback).

use crate::common;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, Uri};
use axum::routing::get;
use common::guard;
use http_body_util::BodyExt;
use seawall_guard::tower::{BAD_PATH_RULE, GuardLayer, GuardService, KIND_HEADER, RULE_HEADER};
use seawall_guard::{Decision, Outcome, RequestParts};
use tower::{Layer, Service};

const RULES: &str = "version: 1
resources:
  - name: orders
    routes: [{ path: /api/orders }]
    flow: [{ id: orders-qps, count: 3 }]
";

/// The spellings of `/api/orders` the issue names, and more.
const SPELLINGS: &[&str] = &[
    "/api/%6Frders",
    "/api/./orders",
    "/api/x/../orders",
    "/api/orders;x",
    "//api/orders",
    "/api/%2e/orders",
    "/api/x/..;y/orders",
    "/api//orders",
];

#[test]
fn every_spelling_matches_the_rule_on_the_canonical_path() {
    for raw in SPELLINGS {
        let (g, _clock) = guard(RULES);
        let v = g.evaluate(&RequestParts::new("GET", raw));
        assert_eq!(v.resource.as_deref(), Some("orders"), "{raw}");
    }
}

type App = GuardService<Router, Arc<seawall_guard::ManualClock>>;

/// An app echoing the path and query it receives, behind the layer. The
/// layer wraps the whole router (not `Router::layer`, which runs after
/// routing), so the router routes the canonical path.
fn app(g: &Arc<common::TestGuard>) -> App {
    let router = Router::new().route(
        "/api/orders",
        get(|uri: Uri| async move { uri.to_string() }),
    );
    GuardLayer::new(Arc::clone(g)).layer(router)
}

async fn send(app: &mut App, target: &str) -> (StatusCode, String, String, String) {
    let req = Request::get(target).body(Body::empty()).expect("request");
    let res = app.call(req).await.expect("infallible");
    let status = res.status();
    let header = |n: &str| {
        res.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (rule, kind) = (header(RULE_HEADER), header(KIND_HEADER));
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (
        status,
        rule,
        kind,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

/// Every spelling reaches the handler as `/api/orders` and counts against
/// the rule on it: 3 pass, the rest are refused by `orders-qps`. Before,
/// they missed the rule (and the handler).
#[tokio::test]
async fn the_layer_forwards_the_canonical_path_and_limits_every_spelling() {
    let (g, _clock) = guard(RULES);
    let g = Arc::new(g);
    let mut app = app(&g);
    let mut passed = 0;
    for raw in SPELLINGS {
        let (status, rule, _, body) = send(&mut app, &format!("{raw}?sku=1")).await;
        if status == StatusCode::OK {
            assert_eq!(body, "/api/orders?sku=1", "{raw}");
            passed += 1;
        } else {
            assert_eq!(
                (status, rule.as_str()),
                (StatusCode::TOO_MANY_REQUESTS, "orders-qps"),
                "{raw}"
            );
        }
    }
    assert_eq!(passed, 3);
}

#[tokio::test]
async fn paths_without_a_canonical_form_are_refused_with_400() {
    let (g, _clock) = guard(RULES);
    let g = Arc::new(g);
    let mut app = app(&g);
    for (raw, kind) in [
        ("/api%2Forders", "encoded_slash"),
        ("/api/orders%00", "nul"),
        ("/api/%ff", "invalid_utf8"),
        ("/api/%5C/orders", "backslash"),
        ("/api/%0d%0a", "control"),
    ] {
        let (status, rule, k, _) = send(&mut app, raw).await;
        assert_eq!(
            (status, rule.as_str(), k.as_str()),
            (StatusCode::BAD_REQUEST, BAD_PATH_RULE, kind),
            "{raw}"
        );
    }
    // Nothing was counted.
    assert_eq!(g.stats("orders-qps").map(|s| s.pass_qps), Some(0));
}

/// A request the guard admits is counted once, on the canonical path, also
/// with a `Decision::Pass` the embedder finishes itself.
#[test]
fn evaluate_counts_spellings_against_one_quota() {
    let (g, _clock) = guard(RULES);
    let mut admitted = 0;
    for raw in ["/api/orders", "/api/%6frders", "/api/orders/."] {
        let v = g.evaluate(&RequestParts::new("GET", raw));
        if let Decision::Pass(p) = v.decision {
            g.finish(p, Outcome::Ok);
            admitted += 1;
        }
    }
    assert_eq!(admitted, 3);
    let v = g.evaluate(&RequestParts::new("GET", "/api;v=2/orders"));
    assert_eq!(v.rule_id(), Some("orders-qps"));
}

/// Over real HTTP: hyper's server hands the layer the raw target; the app
/// sees the canonical path, and an encoded `/` is answered 400.
#[tokio::test]
async fn over_real_http_on_loopback() {
    let (g, _clock) = guard(RULES);
    let g = Arc::new(g);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let make = axum::ServiceExt::<Request<Body>>::into_make_service(app(&g));
    let server = tokio::spawn(axum::serve(listener, make).into_future());
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut got = Vec::new();
    for target in ["/api/x/../%6Frders;jsessionid=1?a=b", "/api%2forders"] {
        let req = Request::get(target)
            .header("host", addr.to_string())
            .body(http_body_util::Empty::<axum::body::Bytes>::new())
            .expect("request");
        let res = sender.send_request(req).await.expect("response");
        let status = res.status().as_u16();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        got.push((status, String::from_utf8_lossy(&body).into_owned()));
    }
    assert_eq!(got[0], (200, "/api/orders?a=b".to_owned()));
    assert_eq!(got[1].0, 400, "{got:?}");
    server.abort();
}
