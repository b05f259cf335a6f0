//! A tower 0.5 [`Layer`] over the decision core (feature `tower`), so any
//! tower/axum/hyper service can be guarded without touching its code.
//!
//! The request path is first made canonical ([`canonical_path`]): a path
//! with no canonical form (an encoded `/`, a NUL, escapes that are not
//! UTF-8, …) is answered 400 with `x-seawall-reason: bad_path`, and one
//! spelt otherwise (`/api/%6Frders`, `/api/x/../orders`, `//api/orders;v=1`)
//! is rewritten, so the rules and the inner service see the same path.
//!
//! Every request is evaluated with [`Guard::evaluate`] (or
//! [`Guard::evaluate_as`] with [`GuardLayer::for_resource`]); the layer then
//! answers refusals itself (429 or 503, the fallback response, an injected
//! abort) with the deciding rule in the `x-seawall-reason` header (as the sidecar), waits out
//! pace and injected delays, applies the resource's timeout (504 when it
//! expires), and reports the outcome to the breakers: a 5xx response, an
//! error of the inner service or a timeout is an error; slowness is measured
//! by the guard itself from the evaluation to the response head.
//!
//! This module is the only place the crate uses an async runtime (tokio's
//! timer); the core stays runtime-free.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};

use crate::canon::canonical_path;
use crate::clock::{Clock, MonotonicClock};
use crate::decision::{Decision, Outcome};
use crate::guard::Guard;
use crate::request::{FaultAction, Upstream, Verdict};

/// Response header naming the rule that decided a refused, degraded, aborted
/// or timed-out request (the same header the sidecar sets).
pub const RULE_HEADER: &str = "x-seawall-reason";
/// Response header with the kind of decision (`qps_limit`, `circuit_open`,
/// …, `fallback`, `fault`, `timeout`).
pub const KIND_HEADER: &str = "x-seawall-reason-kind";
/// The rule id reported for a timeout.
pub const TIMEOUT_RULE: &str = "timeout";
/// The rule id reported for a path refused because it has no canonical form
/// (the kind header names the [`PathError`](crate::PathError)).
pub const BAD_PATH_RULE: &str = "bad_path";

/// Rewrites the request's path to its canonical form; the refusal (400)
/// when it has none.
fn canonicalise<B, R: From<String>>(req: &mut Request<B>) -> Result<(), Response<R>> {
    let path = req.uri().path();
    // The asterisk form (`OPTIONS *`) has no path to canonicalise.
    if path == "*" {
        return Ok(());
    }
    let canonical = match canonical_path(path) {
        Ok(Cow::Borrowed(_)) => return Ok(()),
        Ok(Cow::Owned(c)) => c,
        Err(e) => {
            let body = format!("bad request path: {e}\n");
            return Err(local(400, body, BAD_PATH_RULE, e.as_str(), &[]));
        }
    };
    let target = match req.uri().query() {
        Some(q) => format!("{canonical}?{q}"),
        None => canonical,
    };
    let mut parts = req.uri().clone().into_parts();
    let rebuilt = http::uri::PathAndQuery::try_from(target)
        .ok()
        .and_then(|pq| {
            parts.path_and_query = Some(pq);
            http::Uri::from_parts(parts).ok()
        });
    match rebuilt {
        Some(uri) => {
            *req.uri_mut() = uri;
            Ok(())
        }
        None => Err(local(
            400,
            "bad request path\n".into(),
            BAD_PATH_RULE,
            "bad_path",
            &[],
        )),
    }
}

/// What the layer decided for a request it passed on, inserted into the
/// request's extensions for the inner service (a proxy reads `upstream` to
/// pick its backend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardInfo {
    /// The matched resource.
    pub resource: Option<Arc<str>>,
    /// Primary or gray.
    pub upstream: Upstream,
    /// Whether the request is tagged test traffic.
    pub test: bool,
}

/// Guards the wrapped service with a shared [`Guard`].
#[derive(Debug)]
pub struct GuardLayer<C: Clock = MonotonicClock> {
    guard: Arc<Guard<C>>,
    resource: Option<Arc<str>>,
}

impl<C: Clock> Clone for GuardLayer<C> {
    fn clone(&self) -> Self {
        Self {
            guard: Arc::clone(&self.guard),
            resource: self.resource.clone(),
        }
    }
}

impl<C: Clock> GuardLayer<C> {
    /// Resources are found by the rule set's routes.
    pub fn new(guard: Arc<Guard<C>>) -> Self {
        Self {
            guard,
            resource: None,
        }
    }

    /// Every request is a call to `resource` (routes are not consulted).
    pub fn for_resource(guard: Arc<Guard<C>>, resource: &str) -> Self {
        Self {
            guard,
            resource: Some(Arc::from(resource)),
        }
    }
}

impl<S, C: Clock> Layer<S> for GuardLayer<C> {
    type Service = GuardService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            inner,
            guard: Arc::clone(&self.guard),
            resource: self.resource.clone(),
        }
    }
}

/// The service [`GuardLayer`] produces.
#[derive(Debug)]
pub struct GuardService<S, C: Clock = MonotonicClock> {
    inner: S,
    guard: Arc<Guard<C>>,
    resource: Option<Arc<str>>,
}

impl<S: Clone, C: Clock> Clone for GuardService<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            guard: Arc::clone(&self.guard),
            resource: self.resource.clone(),
        }
    }
}

/// A response the layer makes itself.
fn local<B: From<String>>(
    status: u16,
    body: String,
    rule: &str,
    reason: &str,
    headers: &[(&str, &str)],
) -> Response<B> {
    let mut res = Response::new(B::from(body));
    *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let h = res.headers_mut();
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            h.insert(n, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(rule) {
        h.insert(RULE_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(reason) {
        h.insert(KIND_HEADER, v);
    }
    res
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, C, ReqBody, ResBody> Service<Request<ReqBody>> for GuardService<S, C>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    C: Clock + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        if let Err(res) = canonicalise(&mut req) {
            return Box::pin(async move { Ok(res) });
        }
        let verdict = match &self.resource {
            Some(name) => self.guard.evaluate_as(name, &req),
            None => self.guard.evaluate(&req),
        };
        let Verdict {
            resource,
            decision,
            upstream,
            test,
            fault,
            timeout,
            ..
        } = verdict;
        let (wait, permit) = match decision {
            Decision::Pass(p) => (None, p),
            Decision::Wait { wait, permit } => (Some(wait), permit),
            Decision::Block(b) => {
                let body = format!(
                    "blocked by guard rule `{}` ({})\n",
                    b.rule_id,
                    b.reason.as_str()
                );
                let res = local(b.reason.status(), body, &b.rule_id, b.reason.as_str(), &[]);
                return Box::pin(async move { Ok(res) });
            }
            Decision::Fallback(f) => {
                let headers: Vec<(&str, &str)> = f
                    .response
                    .headers
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let res = local(
                    f.response.status,
                    f.response.body.clone(),
                    &f.rule_id,
                    "fallback",
                    &headers,
                );
                return Box::pin(async move { Ok(res) });
            }
        };
        let mut delay = None;
        if let Some(f) = fault {
            match f.action {
                FaultAction::Abort(status) => {
                    drop(permit);
                    let body = format!("aborted by fault rule `{}`\n", f.rule_id);
                    let res = local(status, body, &f.rule_id, "fault", &[]);
                    return Box::pin(async move { Ok(res) });
                }
                FaultAction::Delay(d) => delay = Some(d),
            }
        }
        req.extensions_mut().insert(GuardInfo {
            resource,
            upstream,
            test,
        });
        // The clone that was polled ready handles this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = Arc::clone(&self.guard);
        Box::pin(async move {
            // A pace rule's wait comes before the call and its deadline; an
            // injected delay plays a slow upstream, so it counts against it.
            if let Some(w) = wait.filter(|w| !w.is_zero()) {
                tokio::time::sleep(w).await;
            }
            let call = async move {
                if let Some(d) = delay.filter(|d| !d.is_zero()) {
                    tokio::time::sleep(d).await;
                }
                inner.call(req).await
            };
            let result = match timeout {
                Some(t) => match tokio::time::timeout(t, call).await {
                    Ok(r) => r,
                    Err(_) => {
                        guard.finish(permit, Outcome::Error);
                        let body = format!("upstream timed out after {} ms\n", t.as_millis());
                        return Ok(local(504, body, TIMEOUT_RULE, "timeout", &[]));
                    }
                },
                None => call.await,
            };
            let outcome = match &result {
                Ok(res) if res.status().is_server_error() => Outcome::Error,
                Ok(_) => Outcome::Ok,
                Err(_) => Outcome::Error,
            };
            guard.finish(permit, outcome);
            result
        })
    }
}
