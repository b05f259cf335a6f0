//! Shared helpers of the sidecar's loopback tests: a real upstream (axum on
//! 127.0.0.1), a sidecar on an ephemeral port with its rules in a temporary
//! file, a hyper client, and the admin API.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Version};
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use seawall_sidecar::{Config, ShutdownReport, Sidecar};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The body type of test requests.
pub type TestBody = BoxBody<Bytes, Infallible>;

/// The test client.
pub type TestClient = Client<HttpConnector, TestBody>;

/// A body fed chunk by chunk through a channel.
#[derive(Debug)]
pub struct ChannelBody(pub mpsc::Receiver<Bytes>);

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|c| c.map(|b| Ok(Frame::data(b))))
    }
}

/// A body and the sender that feeds it.
pub fn channel_body() -> (mpsc::Sender<Bytes>, ChannelBody) {
    let (tx, rx) = mpsc::channel(4);
    (tx, ChannelBody(rx))
}

/// FNV-1a 64 over a stream of chunks (independent of chunk boundaries).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(pub u64);

impl Fnv {
    pub fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    pub fn update(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Deterministic test data: chunk `i` of `size` bytes.
pub fn pattern_chunk(i: usize, size: usize) -> Bytes {
    let seed = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    Bytes::from(
        (0..size)
            .map(|j| (seed.wrapping_add(j as u64).wrapping_mul(31) >> 3) as u8)
            .collect::<Vec<u8>>(),
    )
}

/// Serves `app` on 127.0.0.1 (HTTP/1.1 and h2c); returns its address.
pub async fn serve_upstream(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let addr = listener.local_addr().expect("upstream addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// A port nothing listens on (bound, then released).
pub async fn closed_port() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    addr
}

/// Both ways an HTTP/1.1 request can go: the fast path, then hyper's.
pub const PATHS: [bool; 2] = [true, false];

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A fresh temporary directory for one test.
pub fn temp_dir() -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "seawall-sidecar-test-{}-{n}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Writes the rules file atomically (write a sibling, rename over).
pub fn write_rules(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).expect("write rules");
    std::fs::rename(&tmp, path).expect("rename rules");
}

/// A running sidecar.
pub struct Running {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub rules_path: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<ShutdownReport>>,
}

impl Running {
    /// `http://addr/path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `http://admin/path`.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// Starts a graceful shutdown and waits for it.
    pub async fn shutdown(mut self) -> ShutdownReport {
        self.begin_shutdown();
        self.finished().await
    }

    /// Starts a graceful shutdown without waiting.
    pub fn begin_shutdown(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    /// Waits for the run to end.
    pub async fn finished(&mut self) -> ShutdownReport {
        self.task
            .take()
            .expect("not yet awaited")
            .await
            .expect("sidecar task")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Starts a sidecar in front of `upstream` with `rules` (YAML), admin on an
/// ephemeral port, rules polled every 50 ms; `tweak` adjusts the config.
pub async fn start_sidecar(
    upstream: &str,
    rules: &str,
    tweak: impl FnOnce(&mut Config),
) -> Running {
    let dir = temp_dir();
    let rules_path = dir.join("rules.yaml");
    write_rules(&rules_path, rules);
    let mut config =
        Config::new("127.0.0.1:0".parse().expect("addr"), upstream, &rules_path).expect("config");
    config.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
    config.reload_interval = Duration::from_millis(50);
    config.upstream_timeout = Duration::from_secs(10);
    tweak(&mut config);
    let sidecar = Sidecar::bind(config).await.expect("sidecar starts");
    let addr = sidecar.local_addr().expect("addr");
    let admin = sidecar.admin_addr().expect("admin addr");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(sidecar.run(async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        admin,
        rules_path,
        stop: Some(tx),
        task: Some(task),
    }
}

/// An HTTP/1.1 keep-alive client (or h2c with `http2`).
pub fn client(http2: bool) -> TestClient {
    Client::builder(TokioExecutor::new())
        .http2_only(http2)
        .build(HttpConnector::new())
}

/// A request with an empty body.
pub fn request(url: &str) -> http::request::Builder {
    Request::get(url)
}

/// Finishes a request builder with a full body.
pub fn body(b: http::request::Builder, bytes: impl Into<Bytes>) -> Request<TestBody> {
    b.body(Full::new(bytes.into()).boxed()).expect("request")
}

/// A response read whole.
#[derive(Debug)]
pub struct Got {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: String,
}

impl Got {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends a request and reads the whole response.
pub async fn send(client: &TestClient, req: Request<TestBody>) -> Got {
    let resp: Response<_> = client.request(req).await.expect("response");
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.expect("body").to_bytes();
    Got {
        status: parts.status,
        version: parts.version,
        headers: parts.headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// GET with an empty body.
pub async fn fetch(client: &TestClient, url: &str) -> Got {
    send(client, body(request(url), Bytes::new())).await
}

/// PUT `text` to `url`.
pub async fn put(client: &TestClient, url: &str, text: &str) -> Got {
    send(client, body(Request::put(url), text.to_owned())).await
}

/// The value of the sample `name{labels…}` in a Prometheus text exposition.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let (have, value) = match rest.strip_prefix('{') {
            Some(r) => r.split_once("} ")?,
            None => ("", rest.strip_prefix(' ')?),
        };
        let have: Vec<&str> = have.split(',').collect();
        labels
            .iter()
            .all(|(k, v)| have.contains(&format!("{k}=\"{v}\"").as_str()))
            .then(|| value.split_whitespace().next()?.parse().ok())
            .flatten()
    })
}

/// Polls `check` every 20 ms until it is true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (up to 10 s) until the sidecar has `n` unmatched requests in
/// flight, as its metrics say.
pub async fn in_flight(sc: &Running, n: f64) -> bool {
    eventually(Duration::from_secs(10), || async {
        let m = fetch(&client(false), &sc.admin_url("/metrics")).await.body;
        sample(
            &m,
            "seawall_sidecar_in_flight",
            &[("resource", "unmatched")],
        ) == Some(n)
    })
    .await
}
