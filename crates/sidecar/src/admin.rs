//! The admin API on its own port: Prometheus `/metrics`, the rule document
//! in force (`GET /rules`), the rules file's status (`GET /status`),
//! degradation switches (`PUT`/`POST /switches/{id}` with `on` or `off`),
//! and `/healthz`. Plain HTTP/1.1. It listens on loopback unless given a
//! token (`Config::admin_token`): with one, every endpoint but `/healthz`
//! (and `/metrics` when `admin_open_metrics` says so) wants
//! `Authorization: Bearer <token>` and answers 401 without it. Heads must
//! arrive within the header-read timeout and at most [`MAX_CONNECTIONS`]
//! connections are served at once (more are closed), so a stuck or
//! flooding client cannot hold the port that turns switches.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::proxy::Shared;

/// Most admin connections open at once (scrapers and operators are few).
pub(crate) const MAX_CONNECTIONS: usize = 64;

/// Serves the admin API until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.header_read_timeout.min(shared.keepalive_timeout));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("admin: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let shared = Arc::clone(&shared);
        let builder = builder.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(authorized(&shared, req).await) }
            });
            // A broken admin connection concerns nobody else.
            let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
            drop(slot);
        });
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let body = serde_json::to_string_pretty(value).unwrap_or_default() + "\n";
    respond(status, "application/json", body)
}

fn error(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "error": message }))
}

/// Whether `a` and `b` are equal, in a time that does not depend on where
/// they differ (their lengths aside).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the token (when there is one) before [`route`].
async fn authorized(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    let open = path == "/healthz" || (path == "/metrics" && shared.admin_open_metrics);
    if let Some(token) = shared.admin_token.as_deref().filter(|_| !open) {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "this admin API wants `Authorization: Bearer <token>` (the sidecar's admin token)",
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"seawall-sidecar\""),
            );
            return r;
        }
    }
    route(shared, req).await
}

async fn route(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    match (method, path.as_str()) {
        (Method::GET, "/healthz") => respond(StatusCode::OK, "text/plain", "ok\n".into()),
        (Method::GET, "/metrics") => match shared.metrics.encode() {
            Ok(text) => respond(
                StatusCode::OK,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            ),
            Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode metrics"),
        },
        (Method::GET, "/rules") => rules(shared),
        (Method::GET, "/status") => {
            let st = shared
                .status
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let mut body = serde_json::to_value(st).unwrap_or_default();
            let quotas = shared.guard().cluster_quotas();
            if !quotas.is_empty() {
                let leases = shared
                    .cluster
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let mut cluster = serde_json::to_value(leases).unwrap_or_default();
                cluster["control"] = if shared.guard().is_cluster_offline() {
                    "unreachable".into()
                } else {
                    "reachable".into()
                };
                cluster["quotas"] = serde_json::to_value(quotas).unwrap_or_default();
                body["cluster"] = cluster;
            }
            json(StatusCode::OK, &body)
        }
        (Method::PUT | Method::POST, p) if p.starts_with("/switches/") => {
            let id = &p["/switches/".len()..];
            switch(shared, id, req).await
        }
        (_, "/healthz" | "/metrics" | "/rules" | "/status") => {
            error(StatusCode::METHOD_NOT_ALLOWED, "use GET")
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "no such endpoint; try /metrics, /rules, /status, /switches/{id}, /healthz",
        ),
    }
}

/// The rule document in force as JSON, switches showing their current position.
fn rules(shared: &Shared) -> Response<Full<Bytes>> {
    let guard = shared.guard();
    let mut doc = guard.rules();
    for r in &mut doc.resources {
        for s in &mut r.switches {
            if let Some(on) = guard.stats(&s.id).and_then(|st| st.switch_on) {
                s.on = on;
            }
        }
    }
    match serde_json::to_value(&doc) {
        Ok(v) => json(StatusCode::OK, &v),
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the rules"),
    }
}

/// Flips a switch: the body is `on`/`off` (or `true`/`false`, or JSON `{"on": …}`).
async fn switch(shared: &Shared, id: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let body = match Limited::new(req.into_body(), 1024).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return error(StatusCode::BAD_REQUEST, "body too large or unreadable"),
    };
    let text = String::from_utf8_lossy(&body);
    let on = match text.trim() {
        "on" | "true" | "1" => true,
        "off" | "false" | "0" => false,
        other => match serde_json::from_str::<serde_json::Value>(other)
            .ok()
            .and_then(|v| v.get("on").and_then(serde_json::Value::as_bool))
        {
            Some(on) => on,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "send `on` or `off` (or {\"on\": true|false}) as the body",
                );
            }
        },
    };
    match shared.guard().set_switch(id, on) {
        Ok(()) => {
            tracing::info!(
                "admin: switch `{id}` turned {}",
                if on { "on" } else { "off" }
            );
            json(StatusCode::OK, &serde_json::json!({ "id": id, "on": on }))
        }
        Err(e) => error(StatusCode::NOT_FOUND, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_tokens_whole() {
        assert!(same(b"s3cret", b"s3cret"));
        assert!(!same(b"s3cret", b"s3creT"));
        assert!(!same(b"s3cret", b"s3cre"));
        assert!(!same(b"", b"x"));
        assert!(same(b"", b""));
    }
}
