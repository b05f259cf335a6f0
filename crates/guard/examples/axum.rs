//! An axum app guarded by `GuardLayer`: routes in the rule document map
//! requests to resources; the layer limits, degrades, times out and routes
//! to gray; the handlers see the guard's decision in `GuardInfo`.
//!
//! ```sh
//! cargo run -p seawall-guard --features tower --example axum [RULES.yaml] [ADDR]
//! curl -i localhost:3000/api/orders/1                         # passes
//! curl -i -X POST localhost:3000/api/orders                   # 5/s, then 429
//! curl -i -H 'x-user-id: 10001' localhost:3000/api/orders/1   # "upstream": "gray"
//! curl -i -X POST localhost:3000/admin/switch/order-degrade/on
//! curl -i -X POST localhost:3000/api/orders                   # the fallback
//! curl -i localhost:3000/api/slow                             # 504 after 200 ms
//! ```

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json};
use seawall_guard::tower::{GuardInfo, GuardLayer};
use seawall_guard::{Guard, RuleSet};

/// Used when no rules file is given.
const RULES: &str = r#"
version: 1
gray:
  id: gray-staff
  whitelist: ["10001", "10002"]
resources:
  - name: order.create
    routes: [{ method: POST, path: /api/orders }]
    switches:
      - id: order-degrade
        fallback: { status: 202, body: '{"queued":true}', headers: { content-type: application/json } }
    flow:
      - { id: order-create-qps, count: 5 }
  - name: order.get
    routes: [{ method: GET, path: "/api/orders/{id}" }]
    timeout_ms: 500
    hot_params:
      - { id: order-get-hot-user, source: header, name: x-user-id, count: 3 }
  - name: slow
    routes: [{ path: /api/slow }]
    timeout_ms: 200
"#;

fn describe(info: Option<Extension<GuardInfo>>) -> Json<serde_json::Value> {
    let info = info.map(|Extension(i)| i);
    Json(serde_json::json!({
        "resource": info.as_ref().and_then(|i| i.resource.as_deref().map(str::to_owned)),
        "upstream": info.as_ref().map(|i| i.upstream),
        "test": info.as_ref().is_some_and(|i| i.test),
    }))
}

async fn order(info: Option<Extension<GuardInfo>>) -> Json<serde_json::Value> {
    describe(info)
}

async fn slow(info: Option<Extension<GuardInfo>>) -> Json<serde_json::Value> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    describe(info)
}

async fn switch(
    State(guard): State<Arc<Guard>>,
    Path((id, on)): Path<(String, String)>,
) -> (StatusCode, String) {
    let on = on == "on";
    match guard.set_switch(&id, on) {
        Ok(()) => (
            StatusCode::OK,
            format!("switch {id} is now {}\n", if on { "on" } else { "off" }),
        ),
        Err(e) => (StatusCode::NOT_FOUND, format!("{e}\n")),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rules = match args.next() {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            RuleSet::from_yaml(&text).map_err(|e| format!("{path}: {e}"))?
        }
        None => RuleSet::from_yaml(RULES)?,
    };
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let guard = Arc::new(Guard::new(rules)?);

    let api = Router::new()
        .route("/api/orders", post(order))
        .route("/api/orders/{id}", get(order))
        .route("/api/slow", get(slow))
        .layer(GuardLayer::new(Arc::clone(&guard)));
    let app = Router::new()
        .route("/admin/switch/{id}/{on}", post(switch))
        .with_state(guard)
        .merge(api);

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("guarded example app on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}
