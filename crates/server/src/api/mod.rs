//! The router: one module per area under `/api/v1`, plus `/healthz`,
//! `/readyz`, `/metrics` and `/api/v1/openapi.json`. Each area's `router()` returns a
//! `utoipa_axum` [`OpenApiRouter`], so a route cannot be served without
//! being in the OpenAPI document.

pub mod audit;
pub mod drills;
pub mod emergency;
pub mod events;
pub mod exceptions;
pub mod exports;
pub mod fleet;
pub mod gate;
pub mod im;
pub mod incidents;
pub mod me;
pub mod metrics;
pub mod monitoring;
pub mod plans;
pub mod review;
pub mod rules;
pub mod runs;
pub mod tokens;
pub mod whitelists;

pub use seawall_api::health::Health;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use utoipa::OpenApi as _;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::openapi::ApiDoc;
use crate::state::AppState;

/// Every area's routes under `/api/v1`, with their OpenAPI paths.
pub fn v1() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(me::router())
        .merge(events::router())
        .merge(plans::router())
        .merge(runs::router())
        .merge(tokens::router())
        .merge(audit::router())
        // ---- the lead's areas: one `.merge(<area>::router())` line each ----
        .merge(gate::router())
        .merge(exceptions::router())
        .merge(exports::router())
        .merge(rules::router())
        .merge(whitelists::router())
        .merge(monitoring::router())
        .merge(emergency::router())
        .merge(drills::router())
        .merge(incidents::router())
        .merge(im::router())
        .merge(review::router())
        .merge(fleet::router())
    // ---- end of the lead's areas ----
}

/// Every route with its OpenAPI path.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi_json))
        .nest("/api/v1", v1())
}

/// The OpenAPI document the server serves at `/api/v1/openapi.json`.
pub fn openapi() -> OpenApi {
    routes().into_openapi()
}

/// The whole application and its OpenAPI document: the API's routes and
/// `pages`, the web UI's routes, which the crate root passes in (the API
/// never imports the UI; ARCHITECTURE.md, "server"), under the same
/// fallbacks and request log.
pub fn app(state: AppState, pages: axum::Router<AppState>) -> (axum::Router, OpenApi) {
    let (router, openapi) = routes().split_for_parts();
    let router = router
        .merge(pages)
        .layer(Extension(Arc::new(openapi.clone())))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(crate::log::request))
        .with_state(state);
    (router, openapi)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; the API is described at /api/v1/openapi.json".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed(
        "this endpoint does not take that method; see /api/v1/openapi.json".into(),
    )
}

/// Liveness: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is up", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        backend: None,
        reason: None,
        evaluator: None,
        evaluator_changes: None,
    })
}

/// This document: OpenAPI 3.1, every route the server serves.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json",
        body = Object)))]
async fn openapi_json(Extension(document): Extension<Arc<OpenApi>>) -> Json<OpenApi> {
    Json(document.as_ref().clone())
}

/// Readiness: the database answers; and whether this replica runs the
/// evaluator (`evaluator`: `leader` or `standby`).
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "The database does not answer", body = Health)))]
async fn readyz(State(state): State<AppState>) -> Response {
    let backend = Some(state.store.backend().to_owned());
    let leadership = state.monitor().leadership();
    let evaluator = Some(crate::service::leader::role_name(leadership.role()).to_owned());
    let evaluator_changes = Some(leadership.changes());
    match state.store.ping().await {
        Ok(()) => Json(Health {
            status: "ok".into(),
            backend,
            reason: None,
            evaluator,
            evaluator_changes,
        })
        .into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "unavailable".into(),
                backend,
                reason: Some(e.to_string()),
                evaluator,
                evaluator_changes,
            }),
        )
            .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_api_operation_needs_a_bearer_token() {
        let doc = openapi();
        let json = serde_json::to_value(&doc).expect("json");
        let paths = json["paths"].as_object().expect("paths");
        assert!(paths.contains_key("/api/v1/events/{slug}/plan/capacity"));
        for (path, item) in paths {
            for (method, op) in item.as_object().expect("item") {
                let public = matches!(
                    path.as_str(),
                    "/healthz" | "/readyz" | "/metrics" | "/api/v1/openapi.json"
                );
                let secured = op.get("security").is_some();
                assert_eq!(secured, !public, "{method} {path}");
            }
        }
        assert!(json["components"]["securitySchemes"]["bearer"].is_object());
    }
}
