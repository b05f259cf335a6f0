//! The request path: route to a resource, ask the guard, then refuse, serve
//! a fallback, or forward to the upstream with the body streamed both ways;
//! the outcome goes back to the guard (breakers, concurrency) when the
//! response body ends.

use std::convert::Infallible;
use std::net::IpAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Version};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use seawall_guard::{
    CoarseClock, Decision, FaultAction, Guard, Permit, RequestMeta, RuleSet,
    Upstream as GuardUpstream,
};

use crate::catalog::Catalog;
use crate::config::{Config, Upstream};
use crate::headers;
use crate::metrics::{Metrics, Outcome, ResourceMetrics, RuleStatsSource};
use crate::pool::{Lent, Origin, Pool, UpstreamError};
use crate::raw_pool::RawPool;
use crate::status::{ClusterStatus, RulesStatus};
use crate::trust::{self, Believed, BelievedCell, PeerNet, Screen, UntrustedHeaders};

/// The header that names the rule behind a refusal, a fallback or a fault.
pub const REASON_HEADER: &str = "x-seawall-reason";

/// The header that says what kind of answer the sidecar made itself: the
/// guard's block reason (`qps_limit`, `circuit_open`, …), `fallback`,
/// `fault`, `timeout` (504) or `bad_gateway` (502). Same as the tower layer.
pub const KIND_HEADER: &str = "x-seawall-reason-kind";

/// The test tag's value on gray requests under `isolation: shadow`.
pub(crate) const GRAY_TAG: &str = "gray";

/// State shared by every connection, the admin API and the reloader.
#[derive(Debug)]
pub(crate) struct Shared {
    guard: Guard<CoarseClock>,
    catalog: RwLock<Arc<Catalog>>,
    pub(crate) metrics: Metrics,
    /// The HTTP/2 upstream client (unused for HTTP/1.1 upstreams).
    client: Client<HttpConnector, Incoming>,
    upstream: Upstream,
    gray: Option<Upstream>,
    /// HTTP/1.1 connections to the primary and the gray upstream.
    pool: Arc<Pool>,
    gray_pool: Option<Arc<Pool>>,
    upstream_timeout: Duration,
    upstream_http2: bool,
    /// The fast path's connections to the primary and the gray upstream.
    pub(crate) raw: RawPool,
    pub(crate) gray_raw: Option<RawPool>,
    /// Plain HTTP/1.1 clients take the fast path (`Config::fast_path`, and
    /// an HTTP/1.1 upstream).
    pub(crate) fast_path: bool,
    pub(crate) rules_path: PathBuf,
    pub(crate) status: Mutex<RulesStatus>,
    /// The cluster quotas' leases (`lease`), for `/status`.
    pub(crate) cluster: Mutex<ClusterStatus>,
    /// Peers whose identity headers are believed, and what others get.
    trusted_peers: Vec<PeerNet>,
    untrusted_headers: UntrustedHeaders,
    /// The headers believed under the rules in force.
    believed: BelievedCell,
    /// Client connections' time limits (`Config`).
    pub(crate) header_read_timeout: Duration,
    pub(crate) keepalive_timeout: Duration,
    /// The admin API's token and whether `/metrics` is open without it.
    pub(crate) admin_token: Option<String>,
    pub(crate) admin_open_metrics: bool,
}

impl Shared {
    /// Builds the shared state around a guard for `rules` (already validated).
    pub(crate) fn new(
        config: &Config,
        guard: Guard<CoarseClock>,
        rules: &RuleSet,
        status: RulesStatus,
    ) -> Arc<Self> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.connect_timeout));
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(config.max_idle_per_upstream)
            .http2_only(config.upstream_http2)
            .timer(TokioTimer::new())
            .build(connector);
        let idle_timeout = Duration::from_secs(90);
        // Each upstream has hyper's pool (hyper's path) and the fast path's.
        let pools_for = |u: &Upstream| {
            let origin = Origin::new(u, config.connect_timeout);
            let max = config.max_idle_per_upstream;
            (
                Pool::new(origin.clone(), idle_timeout, max),
                RawPool::new(origin, idle_timeout, max),
            )
        };
        let (pool, raw) = pools_for(&config.upstream);
        let (gray_pool, gray_raw) = config.gray_upstream.as_ref().map(pools_for).unzip();
        Arc::new_cyclic(|weak| {
            let mut metrics = Metrics::new();
            metrics.register_guard(weak.clone() as std::sync::Weak<dyn RuleStatsSource>);
            metrics
                .rules_version
                .set(i64::try_from(rules.version).unwrap_or(i64::MAX));
            metrics.rules_file_ok.set(1);
            let catalog = Catalog::build(rules, &metrics);
            Self {
                guard,
                catalog: RwLock::new(Arc::new(catalog)),
                metrics,
                client,
                pool,
                gray_pool,
                upstream: config.upstream.clone(),
                gray: config.gray_upstream.clone(),
                upstream_timeout: config.upstream_timeout,
                upstream_http2: config.upstream_http2,
                raw,
                gray_raw,
                fast_path: config.fast_path && !config.upstream_http2,
                rules_path: config.rules_path.clone(),
                status: Mutex::new(status),
                cluster: Mutex::new(ClusterStatus::default()),
                trusted_peers: config.trusted_peers.clone(),
                untrusted_headers: config.untrusted_headers,
                believed: BelievedCell::new(Believed::of(rules)),
                header_read_timeout: config.header_read_timeout,
                keepalive_timeout: config.keepalive_timeout,
                admin_token: config.admin_token.clone().filter(|t| !t.is_empty()),
                admin_open_metrics: config.admin_open_metrics,
            }
        })
    }

    /// The guard.
    pub(crate) fn guard(&self) -> &Guard<CoarseClock> {
        &self.guard
    }

    /// The upstream (primary or gray) and its fast-path pool.
    pub(crate) fn upstream(&self, gray: bool) -> (&Upstream, &RawPool) {
        match (gray, &self.gray, &self.gray_raw) {
            (true, Some(g), Some(p)) => (g, p),
            _ => (&self.upstream, &self.raw),
        }
    }

    /// Whether a gray upstream is configured.
    pub(crate) fn has_gray(&self) -> bool {
        self.gray.is_some()
    }

    /// The catalogue of the rule set in force.
    pub(crate) fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.catalog.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Swaps the guard's rules, then the catalogue (a request evaluated in
    /// between is counted under the old catalogue, or as unmatched).
    pub(crate) fn swap(
        &self,
        rules: RuleSet,
    ) -> Result<seawall_guard::SwapReport, seawall_guard::GuardError> {
        let catalog = Catalog::build(&rules, &self.metrics);
        let believed = Believed::of(&rules);
        let version = rules.version;
        let report = self.guard.swap(rules)?;
        self.believed.store(believed);
        let catalog = Arc::new(catalog);
        let old = std::mem::replace(
            &mut *self.catalog.write().unwrap_or_else(|e| e.into_inner()),
            Arc::clone(&catalog),
        );
        old.forget_gone(&catalog, &self.metrics);
        self.metrics
            .rules_version
            .set(i64::try_from(version).unwrap_or(i64::MAX));
        Ok(report)
    }
}

impl RuleStatsSource for Shared {
    fn rule_stats(&self) -> Vec<(String, String, &'static str, seawall_guard::RuleStats)> {
        let catalog = self.catalog();
        catalog
            .rules
            .iter()
            .filter_map(|(res, id, kind)| {
                self.guard
                    .stats(id)
                    .map(|s| (res.clone(), id.clone(), *kind, s))
            })
            .collect()
    }
}

/// The request as the guard's request-level API reads it.
struct Meta<'a, B>(&'a Request<B>);

impl<B> RequestMeta for Meta<'_, B> {
    fn method(&self) -> &str {
        self.0.method().as_str()
    }
    fn path(&self) -> &str {
        self.0.uri().path()
    }
    fn query(&self) -> Option<&str> {
        self.0.uri().query()
    }
    fn header(&self, name: &str) -> Option<&str> {
        let headers = self.0.headers();
        // A short map is scanned (names are stored in lower case): cheaper
        // than parsing `name` into a header name and hashing it.
        let value = if headers.len() <= 12 {
            headers
                .iter()
                .find(|(k, _)| k.as_str().eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        } else {
            headers.get(name)
        };
        value.and_then(|v| v.to_str().ok())
    }
}

/// What every request of one client connection shares: the sidecar's state
/// and the client's forwarding-header values (made once per connection).
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) shared: Arc<Shared>,
    pub(crate) client: headers::ClientAddr,
    /// The peer is in `trusted_peers`: its identity headers are believed.
    trusted: bool,
}

impl Connection {
    pub(crate) fn new(shared: Arc<Shared>, client: IpAddr) -> Arc<Self> {
        let trusted = trust::trusted(&shared.trusted_peers, client);
        Arc::new(Self {
            shared,
            client: headers::ClientAddr::new(client),
            trusted,
        })
    }

    /// How a request's header lines stand against the headers believed
    /// only from trusted peers (the fast path's check: it leaves a request
    /// to strip to hyper's path).
    pub(crate) fn screen<'a>(&self, headers: impl Iterator<Item = (&'a str, &'a [u8])>) -> Screen {
        self.screen_lengths(u64::MAX, headers)
    }

    /// [`screen`](Self::screen) for a request whose header names have
    /// `lengths` (bit `min(len, 63)` per name, as the fast path's codec
    /// collects them): skipped when no believed name has such a length.
    pub(crate) fn screen_lengths<'a>(
        &self,
        lengths: u64,
        headers: impl Iterator<Item = (&'a str, &'a [u8])>,
    ) -> Screen {
        if !self.shared.believed.may_carry(lengths) {
            return Screen::Pass;
        }
        let mode = self.shared.untrusted_headers;
        self.shared
            .believed
            .with(|b| b.screen(headers, self.trusted, mode))
    }

    /// hyper's path: strips what an untrusted peer may not say, or gives
    /// the refusal to answer.
    fn screen_map(&self, headers: &mut http::HeaderMap) -> Option<Response<ProxyBody>> {
        let screen = self.screen(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
        if screen == Screen::Strip {
            self.shared.believed.with(|b| b.strip(headers));
        }
        refusal(&screen)
    }
}

/// What the guard made of a request.
pub(crate) enum Decided {
    /// The sidecar answers itself (refusal, fallback, fault, no gray upstream).
    Answer(Response<ProxyBody>),
    /// Forward it.
    Forward(Forward),
}

/// An admitted request on its way to an upstream.
pub(crate) struct Forward {
    /// Its accounting, settled when dropped.
    pub(crate) call: Call,
    /// To the gray upstream rather than the primary.
    pub(crate) gray: bool,
    /// The test header to add upstream (`x-seawall-test: gray`): a gray
    /// request under `isolation: shadow` is shadow traffic. A valid header
    /// name (checked in [`decide`]).
    pub(crate) tag: Option<Arc<str>>,
    /// Longest wait for the response head.
    pub(crate) timeout: Duration,
    /// An injected delay, spent inside the timeout.
    pub(crate) delay: Option<Duration>,
}

/// Asks the guard about a request and settles what does not go upstream, in
/// the order `Verdict` documents: the decision (a `Wait` is slept here),
/// then a fault. Shared by hyper's path and the fast path.
pub(crate) async fn decide<M: RequestMeta + ?Sized>(
    shared: &Arc<Shared>,
    req: &M,
    started: Instant,
) -> Decided {
    let verdict = shared.guard.evaluate(req);
    let metrics = shared.catalog().metrics(verdict.resource.as_deref());
    let permit = match verdict.decision {
        Decision::Pass(p) => p,
        Decision::Wait { wait, permit } => {
            tokio::time::sleep(wait).await;
            permit
        }
        Decision::Block(b) => {
            let reason = b.reason.as_str();
            metrics.blocked(&shared.metrics, &b.rule_id, reason);
            metrics.count(Outcome::Blocked);
            let status =
                StatusCode::from_u16(b.reason.status()).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            let body = format!("blocked by rule `{}` ({reason})\n", b.rule_id);
            return Decided::Answer(text_response(status, body, Some(&b.rule_id), reason));
        }
        Decision::Fallback(f) => {
            metrics.blocked(&shared.metrics, &f.rule_id, "fallback");
            metrics.count(Outcome::Fallback);
            return Decided::Answer(fallback_response(&f));
        }
    };
    metrics.passed();
    let mut delay = None;
    if let Some(fault) = verdict.fault {
        match fault.action {
            FaultAction::Delay(d) => delay = Some(d),
            FaultAction::Abort(code) => {
                // Dropped, not finished: an injected failure does not feed the breakers.
                drop(permit);
                metrics.blocked(&shared.metrics, &fault.rule_id, "fault_abort");
                metrics.count(Outcome::Fault);
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
                let body = format!("fault injected by rule `{}`\n", fault.rule_id);
                return Decided::Answer(text_response(status, body, Some(&fault.rule_id), "fault"));
            }
        }
    }
    let gray = match verdict.upstream {
        GuardUpstream::Primary => false,
        GuardUpstream::Gray if shared.gray.is_some() => true,
        GuardUpstream::Gray => {
            metrics.count(Outcome::BadGateway);
            return Decided::Answer(text_response(
                StatusCode::BAD_GATEWAY,
                "gray-routed, but the sidecar has no gray upstream\n".into(),
                verdict.gray_rule.as_deref(),
                "bad_gateway",
            ));
        }
    };
    let timeout = verdict.timeout.unwrap_or(shared.upstream_timeout);
    let tag = verdict
        .tag_upstream
        .filter(|name| HeaderName::from_bytes(name.as_bytes()).is_ok());
    metrics.in_flight.inc();
    Decided::Forward(Forward {
        call: Call {
            shared: Arc::clone(shared),
            metrics,
            permit: Some(permit),
            started,
            error: false,
            conn: None,
            ended: false,
        },
        gray,
        tag,
        timeout,
        delay,
    })
}

/// The answer to a path that has no canonical form (400, `bad_path`, the
/// error's name as the kind), on either path.
pub(crate) fn bad_path(e: seawall_guard::PathError) -> Response<ProxyBody> {
    text_response(
        StatusCode::BAD_REQUEST,
        format!("bad request path: {e}\n"),
        Some("bad_path"),
        e.as_str(),
    )
}

/// Rewrites the request's path to its canonical form (the guard matches
/// it and the upstream gets it, the query as it came); the refusal when it
/// has none. The asterisk form has no path to canonicalise (and is for
/// `OPTIONS` only, as on the fast path), nor has an authority (`CONNECT`).
fn canonicalise<B>(req: &mut Request<B>) -> Option<Response<ProxyBody>> {
    // The authority form (`host:port`, or a bare word hyper reads as one)
    // is CONNECT's; for any other method it has no path to judge, and
    // forwarding it as `/` would send a request the guard never saw.
    if req.uri().scheme().is_none()
        && req.uri().authority().is_some()
        && req.method() != http::Method::CONNECT
    {
        return Some(text_response(
            StatusCode::BAD_REQUEST,
            "Bad Request: the authority form is for CONNECT only\n".into(),
            None,
            "bad_request",
        ));
    }
    let path = req.uri().path();
    if path == "*" && req.method() != http::Method::OPTIONS {
        return Some(text_response(
            StatusCode::BAD_REQUEST,
            "Bad Request: the asterisk form is for OPTIONS only\n".into(),
            None,
            "bad_request",
        ));
    }
    if !path.starts_with('/') {
        return None;
    }
    let canonical = match seawall_guard::canonical_path(path) {
        Ok(std::borrow::Cow::Borrowed(_)) => return None,
        Ok(std::borrow::Cow::Owned(c)) => c,
        Err(e) => return Some(bad_path(e)),
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
            None
        }
        None => Some(text_response(
            StatusCode::BAD_REQUEST,
            "bad request path\n".into(),
            Some("bad_path"),
            "bad_path",
        )),
    }
}

/// Handles one proxied request on hyper's path: [`decide`], then the
/// upstream call under the timeout.
pub(crate) async fn handle(
    conn: Arc<Connection>,
    mut req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let started = Instant::now();
    let shared = &conn.shared;
    if let Some(why) = headers::ambiguous_framing(req.headers()) {
        // Never forwarded; the connection ends with the answer.
        let mut resp = text_response(
            StatusCode::BAD_REQUEST,
            format!("Bad Request: {why}\n"),
            None,
            "bad_request",
        );
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(resp);
    }
    if let Some(refused) = canonicalise(&mut req) {
        return Ok(refused);
    }
    if let Some(refused) = conn.screen_map(req.headers_mut()) {
        return Ok(refused);
    }
    let Forward {
        mut call,
        gray,
        tag,
        timeout,
        delay,
    } = match decide(shared, &Meta(&req), started).await {
        Decided::Answer(resp) => return Ok(resp),
        Decided::Forward(f) => f,
    };
    let (upstream, pool) = match (gray, &shared.gray, &shared.gray_pool) {
        (true, Some(g), Some(p)) => (g, p),
        _ => (&shared.upstream, &shared.pool),
    };

    let (mut parts, body) = req.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers, true);
    if let Some(name) = tag.and_then(|n| HeaderName::from_bytes(n.as_bytes()).ok()) {
        parts
            .headers
            .insert(name, HeaderValue::from_static(GRAY_TAG));
    }
    if !shared.upstream_http2 && !body.is_end_stream() && body.size_hint().exact().is_none() {
        // The body as parsed goes on chunked: hyper's client would send a
        // GET's (HEAD's) body of unknown length as no body at all.
        parts.headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
    }
    headers::add_forwarded(&mut parts.headers, &conn.client);
    if !parts.headers.contains_key(header::HOST)
        && let Some(a) = parts.uri.authority()
        && let Ok(v) = HeaderValue::from_str(a.as_str())
    {
        parts.headers.insert(header::HOST, v);
    }
    let http2 = shared.upstream_http2;
    if http2 {
        if let Some(host) = parts.headers.remove(header::HOST) {
            parts
                .headers
                .insert(HeaderName::from_static("x-forwarded-host"), host);
        }
    } else if !parts.headers.contains_key(header::HOST)
        && let Ok(v) = HeaderValue::from_str(upstream.authority())
    {
        parts.headers.insert(header::HOST, v);
    }
    let target = if http2 {
        upstream.uri_for(parts.uri.path_and_query())
    } else {
        upstream.origin_form(parts.uri.path_and_query())
    };
    parts.uri = match target {
        Ok(uri) => uri,
        Err(_) => {
            call.metrics.count(Outcome::BadGateway);
            return Ok(text_response(
                StatusCode::BAD_REQUEST,
                "the request target cannot be forwarded\n".into(),
                None,
                "bad_request",
            ));
        }
    };
    parts.version = Version::HTTP_11;
    let req = Request::from_parts(parts, body);
    let delayed = async {
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if http2 {
            match shared.client.request(req).await {
                Ok(resp) => Ok((resp, None)),
                Err(e) => Err(UpstreamError::Legacy(e)),
            }
        } else {
            let (resp, lent) = pool.send(req, started).await?;
            Ok((resp, Some(lent)))
        }
    };
    match tokio::time::timeout(timeout, delayed).await {
        Err(_) => {
            call.error = true;
            call.metrics.count(Outcome::Timeout);
            Ok(text_response(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "the upstream did not answer within {} ms\n",
                    timeout.as_millis()
                ),
                None,
                "timeout",
            ))
        }
        Ok(Err(e)) => {
            call.error = true;
            call.metrics.count(Outcome::BadGateway);
            let what = if e.is_connect() {
                "cannot connect to the upstream"
            } else {
                "the upstream broke the exchange"
            };
            Ok(text_response(
                StatusCode::BAD_GATEWAY,
                format!("{what}: {e}\n"),
                None,
                "bad_gateway",
            ))
        }
        Ok(Ok((resp, lent))) => {
            call.conn = lent.map(|l| (Arc::clone(pool), l));
            let (mut parts, body) = resp.into_parts();
            headers::strip_hop_by_hop(&mut parts.headers, false);
            if parts.status.is_server_error() {
                call.error = true;
                call.metrics.count(Outcome::Upstream5xx);
            } else {
                call.metrics.count(Outcome::Ok);
            }
            // An empty body is settled now: hyper may never poll it.
            let call = if body.is_end_stream() {
                call.ended = true;
                drop(call);
                None
            } else {
                Some(call)
            };
            Ok(Response::from_parts(
                parts,
                ProxyBody {
                    kind: Kind::Upstream { body, call },
                },
            ))
        }
    }
}

/// The answer to a request [`Believed::screen`](trust::Believed::screen) refused.
pub(crate) fn refusal(screen: &Screen) -> Option<Response<ProxyBody>> {
    match screen {
        Screen::Pass | Screen::Strip => None,
        Screen::Duplicate(n) => Some(text_response(
            StatusCode::BAD_REQUEST,
            format!("header `{n}` appears more than once; send it once\n"),
            None,
            "duplicate_header",
        )),
        Screen::Untrusted(n) => Some(text_response(
            StatusCode::FORBIDDEN,
            format!(
                "header `{n}` is only accepted from trusted peers (the sidecar's trusted_peers)\n"
            ),
            None,
            "untrusted_header",
        )),
    }
}

/// A short plain-text response made by the sidecar itself.
pub(crate) fn text_response(
    status: StatusCode,
    body: String,
    rule: Option<&str>,
    kind: &'static str,
) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(Bytes::from(body)));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Some(v) = rule.and_then(|r| HeaderValue::from_str(r).ok()) {
        h.insert(HeaderName::from_static(REASON_HEADER), v);
    }
    h.insert(
        HeaderName::from_static(KIND_HEADER),
        HeaderValue::from_static(kind),
    );
    resp
}

/// The fallback response of a switch that is on.
fn fallback_response(f: &seawall_guard::Fallback) -> Response<ProxyBody> {
    let spec = &f.response;
    let mut resp = Response::new(ProxyBody::full(Bytes::from(spec.body.clone())));
    *resp.status_mut() =
        StatusCode::from_u16(spec.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let h = resp.headers_mut();
    for (k, v) in &spec.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.append(k, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&f.rule_id) {
        h.insert(HeaderName::from_static(REASON_HEADER), v);
    }
    h.insert(
        HeaderName::from_static(KIND_HEADER),
        HeaderValue::from_static("fallback"),
    );
    resp
}

/// One admitted, forwarded request's accounting, settled when it drops: the
/// guard learns the outcome (concurrency slots, breakers), the latency is
/// observed and the in-flight gauge falls.
#[derive(Debug)]
pub(crate) struct Call {
    shared: Arc<Shared>,
    pub(crate) metrics: Arc<ResourceMetrics>,
    permit: Option<Permit>,
    started: Instant,
    /// The exchange failed (counts against the breakers).
    pub(crate) error: bool,
    /// The pooled upstream connection, given back if the body `ended`.
    conn: Option<(Arc<Pool>, Lent)>,
    /// The response body was read to its end without error.
    pub(crate) ended: bool,
}

impl Drop for Call {
    fn drop(&mut self) {
        if let Some((pool, lent)) = self.conn.take()
            && self.ended
            && !self.error
        {
            pool.put(lent);
        }
        if let Some(p) = self.permit.take() {
            let outcome = if self.error {
                seawall_guard::Outcome::Error
            } else {
                seawall_guard::Outcome::Ok
            };
            self.shared.guard.finish(p, outcome);
        }
        self.metrics.in_flight.dec();
        self.metrics
            .latency
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// The body of every response the proxy sends: the upstream's, streamed
/// frame by frame, or a small one the sidecar made.
#[derive(Debug)]
pub struct ProxyBody {
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Full(Option<Bytes>),
    Upstream {
        body: Incoming,
        /// Settled when the body ends, fails, or is dropped.
        call: Option<Call>,
    },
}

impl ProxyBody {
    fn full(bytes: Bytes) -> Self {
        Self {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// The bytes of a body the sidecar made (`None` for an upstream's).
    pub(crate) fn full_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Full(b) => Some(b.as_deref().unwrap_or_default()),
            Kind::Upstream { .. } => None,
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match &mut self.get_mut().kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Upstream { body, call } => {
                let frame = ready!(Pin::new(&mut *body).poll_frame(cx));
                match &frame {
                    Some(Ok(_)) if !body.is_end_stream() => {}
                    Some(Err(_)) => {
                        if let Some(c) = call.as_mut() {
                            c.error = true;
                        }
                        *call = None;
                    }
                    _ => {
                        if let Some(c) = call.as_mut() {
                            c.ended = true;
                        }
                        *call = None;
                    }
                }
                Poll::Ready(frame)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Upstream { body, .. } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Upstream { body, .. } => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_finds_headers_whatever_the_case_and_the_map_size() {
        for extra in [0, 20] {
            let mut b = Request::get("/p?q=1")
                .header("x-user", "u1")
                .header("x-user", "u2");
            for i in 0..extra {
                b = b.header(format!("x-filler-{i}"), "f");
            }
            b = b.header("baggage", "seawall-test=1");
            let req = b.body(()).expect("request");
            let m = Meta(&req);
            assert_eq!(m.header("x-user"), Some("u1"), "{extra} extra headers");
            assert_eq!(m.header("X-User"), Some("u1"), "{extra} extra headers");
            assert_eq!(m.header("Baggage"), Some("seawall-test=1"));
            assert_eq!(m.header("x-absent"), None);
            assert_eq!(
                (m.method(), m.path(), m.query()),
                ("GET", "/p", Some("q=1"))
            );
        }
    }
}
