//! The simulated servers: one hyper HTTP/1.1 server per service and
//! partner, the capacity and latency model, dependency calls over loopback,
//! the test tag, and the `/_sim/` control endpoints.
//!
//! Capacity model: a node of capacity C is a FIFO server of rate C. A
//! request arriving at `now` starts at `max(now, last_start + 1/C)`; when
//! that start is further away than the node's queue limit it is refused at
//! once (503), otherwise it answers at `start + service time` (tokio
//! timers, no busy waiting) after its dependency calls. Below C there is no
//! queue and latency stays at the service time; above C the queue grows
//! until requests are refused, so the knee sits at C.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::counters::{Cells, Counters, EntryCounters, bump};
use crate::fault::{Fault, FaultRequest};
use crate::rng::Rng;
use crate::topology::{NodeKind, NodeSpec, Reach, Topology, millis};
use crate::{MixKnee, SimError, Truth};

/// Path of dependency calls between simulated nodes.
pub const CALL_PATH: &str = "/_sim/call";
/// Name of the gateway in error answers.
const GATEWAY: &str = "gateway";
/// Header naming the calling node on dependency calls.
pub const CALLER_HEADER: &str = "x-seawall-sim-caller";
/// Largest request body read (larger ones are refused with 413).
const MAX_BODY: usize = 1 << 20;
/// How long in-flight requests may take to finish at shutdown.
const DRAIN: Duration = Duration::from_secs(2);

type Body = Full<Bytes>;

/// Test-tag names recognised on requests.
#[derive(Debug, Clone)]
pub(crate) struct TagNames {
    pub headers: Vec<HeaderName>,
    pub baggage_keys: Vec<String>,
}

impl TagNames {
    /// The tag headers to forward when the request is test-tagged.
    fn of(&self, headers: &HeaderMap) -> Option<HeaderMap> {
        let mut tagged = false;
        let mut forward = HeaderMap::new();
        for name in &self.headers {
            for v in headers.get_all(name) {
                tagged |= !v.as_bytes().iter().all(u8::is_ascii_whitespace);
                forward.append(name.clone(), v.clone());
            }
        }
        for v in headers.get_all(header::HeaderName::from_static("baggage")) {
            tagged |= v.to_str().is_ok_and(|s| baggage_has(s, &self.baggage_keys));
            forward.append(HeaderName::from_static("baggage"), v.clone());
        }
        tagged.then_some(forward)
    }
}

/// Whether a W3C baggage header has a non-empty member with one of `keys`.
fn baggage_has(value: &str, keys: &[String]) -> bool {
    value.split(',').any(|member| {
        let kv = member.split(';').next().unwrap_or_default();
        kv.split_once('=')
            .is_some_and(|(k, v)| keys.iter().any(|key| key == k.trim()) && !v.trim().is_empty())
    })
}

/// Live state of one node.
#[derive(Debug)]
pub(crate) struct NodeState {
    /// Arrival number of the next request (keys its random stream).
    seq: AtomicU64,
    /// Start of the latest admitted request (the FIFO server's clock).
    last_start: Mutex<Option<Instant>>,
    /// The drill switch and, when it has a TTL, the instant it ends.
    fault: Mutex<(Fault, Option<Instant>)>,
    cells: Cells,
    /// Per edge: requests that have used it (spreads fractional calls).
    edge_seq: Vec<AtomicU64>,
    /// This node's id as a header value, when it is a valid one.
    caller: Option<HeaderValue>,
}

impl NodeState {
    /// The switch in force: `none` once its TTL has passed.
    fn fault(&self) -> Fault {
        match *self.fault.lock().unwrap_or_else(PoisonError::into_inner) {
            (_, Some(end)) if Instant::now() >= end => Fault::None,
            (fault, _) => fault,
        }
    }
}

/// Everything the servers share.
pub(crate) struct World {
    pub topo: Topology,
    /// What each entry reaches, in plan order.
    reach: Vec<Reach>,
    nodes: Vec<NodeState>,
    /// Requests received per entry, in plan order.
    entry_requests: Vec<AtomicU64>,
    call_uris: Vec<Uri>,
    /// Calls of one node to another sent through a proxy instead (an
    /// egress sidecar): `(from, to)` → the URI to call.
    via: Mutex<Vec<((usize, usize), Uri)>>,
    pub truth: Truth,
    truth_json: Bytes,
    seed: u64,
    tags: TagNames,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl World {
    pub fn new(topo: Topology, reach: Vec<Reach>, truth: Truth, tags: TagNames) -> Self {
        let nodes = topo
            .nodes
            .iter()
            .map(|n| NodeState {
                seq: AtomicU64::new(0),
                last_start: Mutex::new(None),
                fault: Mutex::new((Fault::None, None)),
                cells: Cells::default(),
                edge_seq: n.edges.iter().map(|_| AtomicU64::new(0)).collect(),
                caller: HeaderValue::from_str(&n.id).ok(),
            })
            .collect();
        let call_uris = truth
            .nodes
            .iter()
            .map(|n| {
                format!("http://{}{CALL_PATH}", n.addr)
                    .parse()
                    .unwrap_or_else(|_| Uri::from_static("http://127.0.0.1/_sim/call"))
            })
            .collect();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let truth_json = Bytes::from(serde_json::to_vec_pretty(&truth).unwrap_or_default());
        let topo_entries = topo.entries.len();
        World {
            seed: truth.seed,
            topo,
            reach,
            nodes,
            entry_requests: (0..topo_entries).map(|_| AtomicU64::new(0)).collect(),
            call_uris,
            via: Mutex::new(Vec::new()),
            truth,
            truth_json,
            tags,
            client,
        }
    }

    pub fn counters(&self) -> Counters {
        Counters {
            nodes: self
                .topo
                .nodes
                .iter()
                .zip(&self.nodes)
                .map(|(spec, state)| state.cells.snapshot(&spec.id, spec.kind, state.fault()))
                .collect(),
            entries: self
                .topo
                .entries
                .iter()
                .zip(&self.entry_requests)
                .map(|(e, n)| EntryCounters {
                    id: e.0.clone(),
                    requests: n.load(Ordering::Relaxed),
                })
                .collect(),
        }
    }

    pub fn mix_knees(&self, rates: &[(&str, f64)]) -> Result<Vec<MixKnee>, SimError> {
        let entries = &self.topo.entries;
        let mut load = vec![0.0_f64; self.topo.nodes.len()];
        let mut given = Vec::with_capacity(rates.len());
        for &(entry, rate) in rates {
            let Some(i) = entries.iter().position(|e| e.0 == entry) else {
                return Err(SimError::UnknownEntry {
                    entry: entry.to_owned(),
                    known: entries
                        .iter()
                        .map(|e| e.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            if !(rate.is_finite() && rate >= 0.0) {
                return Err(SimError::InvalidRate {
                    entry: entry.to_owned(),
                    rate,
                });
            }
            for (l, c) in load.iter_mut().zip(&self.reach[i].calls) {
                *l += rate * c;
            }
            given.push((i, rate));
        }
        Ok(given
            .into_iter()
            .map(|(i, rate)| {
                let tight = self.topo.tightest(&self.reach[i], &load);
                MixKnee {
                    id: entries[i].0.clone(),
                    rate_qps: rate,
                    multiple: tight.map(|t| t.0),
                    knee_qps: tight.map(|t| t.0 * rate),
                    bottleneck: tight.map(|t| self.topo.nodes[t.1].id.clone()),
                }
            })
            .collect())
    }

    pub fn reset_counters(&self) {
        for n in &self.nodes {
            n.cells.reset();
        }
        for e in &self.entry_requests {
            e.store(0, Ordering::Relaxed);
        }
    }

    /// The index of service or partner `id`, or which ids exist.
    fn node_index(&self, id: &str) -> Result<usize, SimError> {
        self.topo
            .index
            .get(id)
            .copied()
            .ok_or_else(|| SimError::UnknownTarget {
                target: id.to_owned(),
                known: self
                    .topo
                    .nodes
                    .iter()
                    .map(|n| n.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Send `caller`'s calls to `target` through `proxy` (same path and
    /// headers), e.g. a guard sidecar in front of the target; `None` sends
    /// them straight to the target again.
    pub fn route_via(
        &self,
        caller: &str,
        target: &str,
        proxy: Option<SocketAddr>,
    ) -> Result<(), SimError> {
        let edge = (self.node_index(caller)?, self.node_index(target)?);
        let mut via = self.via.lock().unwrap_or_else(PoisonError::into_inner);
        via.retain(|(e, _)| *e != edge);
        if let Some(proxy) = proxy {
            let uri = format!("http://{proxy}{CALL_PATH}")
                .parse()
                .map_err(|e| SimError::InvalidFault(format!("proxy address {proxy}: {e}")))?;
            via.push((edge, uri));
        }
        Ok(())
    }

    pub fn set_fault(
        &self,
        target: &str,
        fault: Fault,
        ttl: Option<Duration>,
    ) -> Result<(), SimError> {
        fault.validate()?;
        let i = self.node_index(target)?;
        *self.nodes[i]
            .fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner) =
            (fault, ttl.and_then(|t| Instant::now().checked_add(t)));
        Ok(())
    }
}

/// Accept connections for one node (`None`: the gateway) until `stop`
/// turns true, then drain.
pub(crate) async fn serve(
    world: Arc<World>,
    node: Option<usize>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors or similar: back off briefly.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let world = world.clone();
                let svc = hyper::service::service_fn(move |req| handle(world.clone(), node, req));
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc);
                let watched = graceful.watch(conn);
                conns.spawn(async move {
                    let _ = watched.await;
                });
                while conns.try_join_next().is_some() {}
            }
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    break;
                }
            }
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
    conns.abort_all();
    while conns.join_next().await.is_some() {}
}

/// Route a request: dependency calls, control endpoints, then the entries
/// of this node (the gateway: of every service, in plan order).
async fn handle(
    world: Arc<World>,
    node: Option<usize>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path();
    let me = node.map_or(GATEWAY, |n| world.topo.nodes[n].id.as_str());
    if path == CALL_PATH {
        return Ok(match node {
            Some(n) => receive(&world, n, None, req).await,
            None => error(
                StatusCode::NOT_FOUND,
                me,
                "the gateway answers entries only; dependency calls go to a node",
            ),
        });
    }
    if path == "/_sim" || path.starts_with("/_sim/") {
        return Ok(control(&world, req).await);
    }
    let nodes = match node {
        Some(n) => n..n + 1,
        None => 0..world.topo.nodes.len(),
    };
    let mut wrong_method = false;
    for n in nodes {
        for route in world.topo.nodes[n]
            .routes
            .iter()
            .filter(|r| r.matches(path))
        {
            if route.method == req.method() {
                let entry = route.entry;
                if let Some(count) = world.entry_requests.get(entry) {
                    bump(count);
                }
                return Ok(receive(&world, n, Some(entry), req).await);
            }
            wrong_method = true;
        }
    }
    Ok(if wrong_method {
        error(
            StatusCode::METHOD_NOT_ALLOWED,
            me,
            "method not allowed on this entry",
        )
    } else if node.is_some() {
        error(
            StatusCode::NOT_FOUND,
            me,
            "no entry of this service has this path",
        )
    } else {
        error(
            StatusCode::NOT_FOUND,
            me,
            "no entry of the plan has this path",
        )
    })
}

/// Read the body, find the tag, then do the work.
async fn receive(
    world: &Arc<World>,
    node: usize,
    entry: Option<usize>,
    req: Request<Incoming>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    if Limited::new(body, MAX_BODY).collect().await.is_err() {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &world.topo.nodes[node].id,
            "request body unreadable or over 1 MiB",
        );
    }
    let tag = world.tags.of(&parts.headers);
    work(world, node, entry, &parts.method, tag).await
}

/// The answer of a simulated node.
#[derive(Serialize)]
struct Answer<'a> {
    node: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    entry: Option<&'a str>,
    /// Drawn service time (plus a `slow` fault), in milliseconds.
    work_ms: f64,
    /// Time spent queued for capacity, in milliseconds.
    queue_ms: f64,
    tagged: bool,
    /// Weak dependencies whose fallback was used.
    fallbacks: Vec<&'a str>,
}

fn service_ms(spec: &NodeSpec, u: f64) -> f64 {
    match spec.kind {
        NodeKind::Service => spec.latency_ms * (0.8 + 0.4 * u),
        NodeKind::Partner => spec.latency_ms * (0.5 + 0.5 * u),
    }
}

/// Admit a request to the node's FIFO server: its start time, or `None`
/// when it would queue past the limit.
fn admit(spec: &NodeSpec, state: &NodeState, now: Instant) -> Option<Instant> {
    let Some(capacity) = spec.capacity else {
        return Some(now);
    };
    if capacity <= 0.0 {
        return None;
    }
    let slot = Duration::from_secs_f64((1.0 / capacity).min(3600.0));
    let mut last = state
        .last_start
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let start = match *last {
        Some(prev) => (prev + slot).max(now),
        None => now,
    };
    if start - now > spec.queue_limit {
        return None;
    }
    *last = Some(start);
    Some(start)
}

async fn work(
    world: &Arc<World>,
    node: usize,
    entry: Option<usize>,
    method: &Method,
    tag: Option<HeaderMap>,
) -> Response<Body> {
    let spec = &world.topo.nodes[node];
    let state = &world.nodes[node];
    let cells = &state.cells;
    bump(&cells.requests);
    let tagged = tag.is_some();
    if tagged && spec.kind == NodeKind::Partner && !spec.shadow_safe {
        bump(&cells.leaks);
    }
    let seq = state.seq.fetch_add(1, Ordering::Relaxed);
    let mut rng = Rng::new(world.seed, node, seq);
    let (jitter, draw) = (rng.next_f64(), rng.next_f64());
    let fault = state.fault();
    if fault.fails(draw) {
        bump(&cells.errors);
        bump(&cells.injected);
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &spec.id,
            "injected failure (drill)",
        );
    }
    let now = Instant::now();
    let Some(start) = admit(spec, state, now) else {
        bump(&cells.errors);
        bump(&cells.rejected);
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            &spec.id,
            "over capacity: the queue is full",
        );
    };
    let work_ms = service_ms(spec, jitter) + fault.slow_ms();
    if work_ms > 0.0 {
        tokio::time::sleep_until(start + millis(work_ms, 0.0)).await;
    } else if start > now {
        tokio::time::sleep_until(start).await;
    }
    let fallbacks = match call_dependencies(world, node, method, tag.as_ref()).await {
        Ok(f) => f,
        Err(failed) => {
            bump(&cells.errors);
            return error(
                StatusCode::BAD_GATEWAY,
                &spec.id,
                &format!("strong dependency `{}` failed", world.topo.nodes[failed].id),
            );
        }
    };
    bump(&cells.ok);
    if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        if !tagged {
            bump(&cells.real_writes);
        } else if spec.kind == NodeKind::Service || spec.shadow_safe {
            bump(&cells.shadow_writes);
        }
    }
    let answer = Answer {
        node: &spec.id,
        entry: entry
            .and_then(|e| world.topo.entries.get(e))
            .map(|e| e.0.as_str()),
        work_ms: (work_ms * 1000.0).round() / 1000.0,
        queue_ms: ((start - now).as_secs_f64() * 1e6).round() / 1000.0,
        tagged,
        fallbacks: fallbacks
            .iter()
            .map(|&i| world.topo.nodes[i].id.as_str())
            .collect(),
    };
    let extracts = entry.and_then(|e| world.topo.extracts.get(e));
    let body = match extracts {
        Some(pointers) if !pointers.is_empty() => {
            // Values the plan's journeys extract from this entry's answer
            // (e.g. an order id): the request's arrival number there.
            let mut value = serde_json::to_value(&answer).unwrap_or_default();
            for pointer in pointers {
                set_pointer(
                    &mut value,
                    pointer,
                    serde_json::Value::from(seq.to_string()),
                );
            }
            serde_json::to_vec(&value)
        }
        _ => serde_json::to_vec(&answer),
    };
    json(StatusCode::OK, body.unwrap_or_default())
}

/// Put `value` at a JSON pointer (RFC 6901), creating objects on the way;
/// a pointer that runs into a value that is not an object is skipped, and
/// an existing value is kept.
fn set_pointer(root: &mut serde_json::Value, pointer: &str, value: serde_json::Value) {
    let Some(rest) = pointer.strip_prefix('/') else {
        return;
    };
    let tokens: Vec<String> = rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut current = root;
    for (k, token) in tokens.iter().enumerate() {
        let serde_json::Value::Object(map) = current else {
            return;
        };
        if k + 1 == tokens.len() {
            map.entry(token.clone()).or_insert(value);
            return;
        }
        current = map
            .entry(token.clone())
            .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
    }
}

/// Calls a request makes on an edge of `calls` per request: the `k`-th
/// request makes `floor((k+1)·calls) − floor(k·calls)`, so fractional calls
/// are spread evenly and deterministically.
fn calls_for(k: u64, calls: f64) -> u32 {
    let k = k as f64;
    // The difference is taken in f64 (exact up to 2^53), so long runs never
    // saturate; `calls` is at most MAX_CALLS.
    (((k + 1.0) * calls).floor() - (k * calls).floor()).max(0.0) as u32
}

/// Run every edge (concurrently); the weak ones that fell back, or the
/// first strong one that failed.
async fn call_dependencies(
    world: &Arc<World>,
    node: usize,
    method: &Method,
    tag: Option<&HeaderMap>,
) -> Result<Vec<usize>, usize> {
    let spec = &world.topo.nodes[node];
    let state = &world.nodes[node];
    let active: Vec<(usize, u32)> = spec
        .edges
        .iter()
        .enumerate()
        .filter_map(|(i, e)| {
            let k = state.edge_seq[i].fetch_add(1, Ordering::Relaxed);
            let n = calls_for(k, e.calls);
            (n > 0).then_some((i, n))
        })
        .collect();
    let called: Vec<usize> = active.iter().map(|a| a.0).collect();
    let mut results: Vec<(usize, bool)> = Vec::with_capacity(active.len());
    if let [(edge, calls)] = active[..] {
        results.push((edge, run_edge(world, node, edge, calls, method, tag).await));
    } else if !active.is_empty() {
        let mut set = JoinSet::new();
        for (edge, calls) in active {
            let (world, method, tag) = (world.clone(), method.clone(), tag.cloned());
            set.spawn(async move {
                (
                    edge,
                    run_edge(&world, node, edge, calls, &method, tag.as_ref()).await,
                )
            });
        }
        while let Some(done) = set.join_next().await {
            if let Ok(r) = done {
                results.push(r);
            }
        }
    }
    let mut fallbacks = Vec::new();
    let mut strong_failure = None;
    for &edge in &called {
        // An edge whose task died (it never panics) counts as failed.
        if results.iter().any(|r| r.0 == edge && r.1) {
            continue;
        }
        let e = &spec.edges[edge];
        if e.strong {
            strong_failure.get_or_insert(e.to);
        } else {
            bump(&state.cells.fallbacks);
            fallbacks.push(e.to);
        }
    }
    match strong_failure {
        Some(f) => Err(f),
        None => Ok(fallbacks),
    }
}

/// `calls` sequential calls on one edge, each with its retries; true when
/// every call succeeded.
async fn run_edge(
    world: &World,
    node: usize,
    edge: usize,
    calls: u32,
    method: &Method,
    tag: Option<&HeaderMap>,
) -> bool {
    let e = &world.topo.nodes[node].edges[edge];
    let cells = &world.nodes[node].cells;
    for _ in 0..calls {
        let mut ok = false;
        for attempt in 0..e.attempts {
            if attempt > 0 {
                bump(&cells.retries);
            }
            match tokio::time::timeout(e.timeout, call(world, node, e.to, method, tag)).await {
                Ok(true) => {
                    ok = true;
                    break;
                }
                Ok(false) => {}
                Err(_) => bump(&cells.timeouts),
            }
        }
        if !ok {
            return false;
        }
    }
    true
}

/// One HTTP call to another node; true on a 2xx answer.
async fn call(
    world: &World,
    from: usize,
    to: usize,
    method: &Method,
    tag: Option<&HeaderMap>,
) -> bool {
    let mut req = Request::new(Empty::<Bytes>::new());
    *req.method_mut() = method.clone();
    *req.uri_mut() = world
        .via
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|(edge, _)| *edge == (from, to))
        .map_or_else(|| world.call_uris[to].clone(), |(_, uri)| uri.clone());
    if let Some(tag) = tag {
        req.headers_mut().extend(tag.clone());
    }
    if let Some(caller) = &world.nodes[from].caller {
        req.headers_mut().insert(CALLER_HEADER, caller.clone());
    }
    match world.client.request(req).await {
        Ok(resp) => {
            let ok = resp.status().is_success();
            ok && resp.into_body().collect().await.is_ok()
        }
        Err(_) => false,
    }
}

/// `GET /_sim/truth`, `GET /_sim/counters`, `PUT /_sim/fault`, `POST /_sim/reset`.
async fn control(world: &World, req: Request<Incoming>) -> Response<Body> {
    const ME: &str = "sim";
    let path = req.uri().path().to_owned();
    match (req.method().clone(), path.as_str()) {
        (Method::GET, "/_sim/truth") => json(StatusCode::OK, world.truth_json.to_vec()),
        (Method::GET, "/_sim/counters") => json(
            StatusCode::OK,
            serde_json::to_vec_pretty(&world.counters()).unwrap_or_default(),
        ),
        (Method::POST, "/_sim/reset") => {
            world.reset_counters();
            json(
                StatusCode::OK,
                serde_json::to_vec_pretty(&world.counters()).unwrap_or_default(),
            )
        }
        (Method::PUT, "/_sim/fault") => {
            let body = match Limited::new(req.into_body(), 64 << 10).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => {
                    return error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        ME,
                        "body unreadable or over 64 KiB",
                    );
                }
            };
            let request: FaultRequest = match serde_json::from_slice(&body) {
                Ok(r) => r,
                Err(e) => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        ME,
                        &format!(
                            "invalid fault request at line {}, column {}: {e}; expected \
                             {{\"target\": \"<service or partner>\", \"fault\": {{\"kind\": \
                             \"none\" | \"slow\" (with \"ms\") | \"fail\" (with \"ratio\")}}}}",
                            e.line(),
                            e.column()
                        ),
                    );
                }
            };
            let ttl = request.ttl_ms.map(Duration::from_millis);
            match world.set_fault(&request.target, request.fault, ttl) {
                Ok(()) => json(
                    StatusCode::OK,
                    serde_json::to_vec(&request).unwrap_or_default(),
                ),
                Err(e @ SimError::UnknownTarget { .. }) => {
                    error(StatusCode::NOT_FOUND, ME, &e.to_string())
                }
                Err(e) => error(StatusCode::BAD_REQUEST, ME, &e.to_string()),
            }
        }
        (_, "/_sim/truth" | "/_sim/counters" | "/_sim/fault" | "/_sim/reset") => error(
            StatusCode::METHOD_NOT_ALLOWED,
            ME,
            "use GET /_sim/truth, GET /_sim/counters, PUT /_sim/fault, POST /_sim/reset",
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            ME,
            "unknown control endpoint; use GET /_sim/truth, GET /_sim/counters, PUT \
             /_sim/fault, POST /_sim/reset",
        ),
    }
}

fn json(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn error(status: StatusCode, node: &str, message: &str) -> Response<Body> {
    #[derive(Serialize)]
    struct Error<'a> {
        node: &'a str,
        error: &'a str,
    }
    json(
        status,
        serde_json::to_vec(&Error {
            node,
            error: message,
        })
        .unwrap_or_default(),
    )
}

/// Bind one listener per node, then the gateway's: consecutive ports from
/// `base` (port 0: each its own ephemeral port).
pub(crate) async fn bind(
    topo: &Topology,
    base: SocketAddr,
) -> Result<Vec<(TcpListener, SocketAddr)>, SimError> {
    let ids: Vec<&str> = topo
        .nodes
        .iter()
        .map(|n| n.id.as_str())
        .chain([GATEWAY])
        .collect();
    let count = u32::try_from(ids.len()).unwrap_or(u32::MAX);
    if base.port() != 0 && u32::from(base.port()) + count - 1 > 65_535 {
        return Err(SimError::PortRange { base, count });
    }
    let mut out = Vec::with_capacity(ids.len());
    for (i, id) in ids.into_iter().enumerate() {
        let mut addr = base;
        if base.port() != 0 {
            // Checked above: fits in u16.
            addr.set_port(base.port().saturating_add(i as u16));
        }
        let bind_error = |source| SimError::Bind {
            id: id.to_owned(),
            addr,
            source,
        };
        let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        out.push((listener, local));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractional_calls_spread_evenly() {
        let total: u32 = (0..1000).map(|k| calls_for(k, 0.2)).sum();
        assert_eq!(total, 200);
        let total: u32 = (0..1000).map(|k| calls_for(k, 2.5)).sum();
        assert_eq!(total, 2500);
        assert!((0..100).all(|k| calls_for(k, 1.0) == 1));
        assert!((0..100).all(|k| calls_for(k, 0.0) == 0));
        // Never more than one apart from the mean.
        assert!((0..1000).all(|k| (2..=3).contains(&calls_for(k, 2.5))));
        // Still right after billions of requests.
        let late: u32 = (0..1000).map(|k| calls_for(5_000_000_000 + k, 0.2)).sum();
        assert_eq!(late, 200);
    }

    fn node(capacity: Option<f64>, queue_ms: f64) -> (NodeSpec, NodeState) {
        let spec = NodeSpec {
            id: "n".to_owned(),
            kind: NodeKind::Service,
            capacity,
            latency_ms: 10.0,
            queue_limit: millis(queue_ms, 0.0),
            shadow_safe: false,
            edges: Vec::new(),
            routes: Vec::new(),
        };
        let state = NodeState {
            seq: AtomicU64::new(0),
            last_start: Mutex::new(None),
            fault: Mutex::new((Fault::None, None)),
            cells: Cells::default(),
            edge_seq: Vec::new(),
            caller: None,
        };
        (spec, state)
    }

    /// A burst at one instant is served at 1/C intervals up to the queue
    /// limit, the rest refused; spaced arrivals at the capacity never queue;
    /// the queue drains with time.
    #[tokio::test(start_paused = true)]
    async fn admission_is_a_fifo_server_of_rate_capacity() {
        let (spec, state) = node(Some(10.0), 1000.0);
        let t0 = Instant::now();
        let starts: Vec<Option<Instant>> = (0..15).map(|_| admit(&spec, &state, t0)).collect();
        let admitted: Vec<Duration> = starts.iter().flatten().map(|s| *s - t0).collect();
        // Starts 0, 100, …, 1000 ms: 11 admitted, 4 refused.
        assert_eq!(admitted.len(), 11, "{admitted:?}");
        for (i, d) in admitted.iter().enumerate() {
            let want = Duration::from_millis(100 * i as u64);
            assert!(d.abs_diff(want) < Duration::from_micros(10), "{i}: {d:?}");
        }
        assert!(starts[11..].iter().all(Option::is_none));
        // 1.5 s later the queue is empty again.
        tokio::time::advance(Duration::from_millis(1500)).await;
        let now = Instant::now();
        assert_eq!(admit(&spec, &state, now), Some(now));

        // Arrivals exactly 1/C apart never wait; twice as fast, the wait
        // grows by 1/(2C) per arrival.
        let (spec, state) = node(Some(100.0), 1000.0);
        for _ in 0..50 {
            let now = Instant::now();
            assert_eq!(admit(&spec, &state, now), Some(now));
            tokio::time::advance(Duration::from_millis(10)).await;
        }
        let mut last_wait = Duration::ZERO;
        for _ in 0..50 {
            let now = Instant::now();
            let wait = admit(&spec, &state, now).expect("admitted") - now;
            assert!(wait >= last_wait, "{wait:?} < {last_wait:?}");
            last_wait = wait;
            tokio::time::advance(Duration::from_millis(5)).await;
        }
        assert!(
            last_wait.abs_diff(Duration::from_millis(245)) < Duration::from_millis(6),
            "{last_wait:?}"
        );

        // Unlimited: never waits; zero capacity: refuses everything.
        let (spec, state) = node(None, 1000.0);
        assert!((0..1000).all(|_| admit(&spec, &state, t0) == Some(t0)));
        let (spec, state) = node(Some(0.0), 1000.0);
        assert_eq!(admit(&spec, &state, t0), None);
    }

    #[test]
    fn pointers_are_set_without_clobbering() {
        let mut v = serde_json::json!({"node": "a"});
        set_pointer(&mut v, "/data/order_id", serde_json::json!("7"));
        set_pointer(&mut v, "/data/a~1b", serde_json::json!("8"));
        set_pointer(&mut v, "/node/x", serde_json::json!("9"));
        set_pointer(&mut v, "/node", serde_json::json!("10"));
        set_pointer(&mut v, "", serde_json::json!("11"));
        assert_eq!(
            v,
            serde_json::json!({"node": "a", "data": {"order_id": "7", "a/b": "8"}})
        );
        assert_eq!(v.pointer("/data/order_id"), Some(&serde_json::json!("7")));
    }

    #[test]
    fn baggage_members() {
        let keys = vec!["seawall-test".to_owned()];
        assert!(baggage_has("seawall-test=run-1", &keys));
        assert!(baggage_has("a=b, seawall-test = run-1;prop=x", &keys));
        assert!(!baggage_has("seawall-test=", &keys));
        assert!(!baggage_has("other=run-1", &keys));
        assert!(!baggage_has("seawall-testx=1", &keys));
    }
}
