//! A real stack on 127.0.0.1: an axum upstream, a seawall sidecar in front
//! of it with its admin port (and `/metrics`), and a client that sends a
//! known number of requests through the sidecar.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use seawall_sidecar::{Config, Sidecar};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Two resources: `pay` (the upstream answers 200) and `boom` (500).
pub const RULES: &str = "version: 1\nresources:\n  - name: pay\n    routes: [{path: /pay}]\n  - name: boom\n    routes: [{path: /boom}]\n";

/// A running upstream and sidecar.
pub struct Stack {
    pub proxy: SocketAddr,
    pub admin: SocketAddr,
    client: Client<HttpConnector, Empty<Bytes>>,
    _dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
    task: JoinHandle<seawall_sidecar::ShutdownReport>,
    upstream: JoinHandle<()>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.task.abort();
        self.upstream.abort();
    }
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(RULES).await
    }

    /// A stack whose sidecar has the rule document `rules` (YAML).
    pub async fn start_with(rules_yaml: &str) -> Self {
        Self::start_tweaked(rules_yaml, |_| {}).await
    }

    /// A stack with `rules_yaml`, its sidecar's config adjusted by `tweak`.
    pub async fn start_tweaked(rules_yaml: &str, tweak: impl FnOnce(&mut Config)) -> Self {
        let app = Router::new()
            .route("/pay", get(|| async { "paid" }))
            .route(
                "/boom",
                get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
            )
            .route("/page", get(|| async { "<html>not metrics</html>\n" }))
            .fallback(|| async { "ok" });
        let (up, upstream) = serve(app).await;
        let dir = tempfile::tempdir().expect("temp dir");
        let rules = dir.path().join("rules.yaml");
        std::fs::write(&rules, rules_yaml).expect("write rules");
        let mut config = Config::new(
            "127.0.0.1:0".parse().expect("addr"),
            &format!("http://{up}"),
            &rules,
        )
        .expect("config");
        config.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
        tweak(&mut config);
        let sidecar = Sidecar::bind(config).await.expect("sidecar starts");
        let proxy = sidecar.local_addr().expect("proxy addr");
        let admin = sidecar.admin_addr().expect("admin addr");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(sidecar.run(async move {
            let _ = rx.await;
        }));
        Self {
            proxy,
            admin,
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
            _dir: dir,
            _stop: tx,
            task,
            upstream,
        }
    }

    /// Sends one GET through the sidecar; its status.
    pub async fn get(&self, path: &str) -> u16 {
        let uri: http::Uri = format!("http://{}{path}", self.proxy).parse().expect("uri");
        let resp = tokio::time::timeout(Duration::from_secs(10), self.client.get(uri))
            .await
            .expect("answer in time")
            .expect("answer");
        let status = resp.status().as_u16();
        let _ = resp.into_body().collect().await;
        status
    }

    /// Sends `n` GETs of `path` one after the other, each answered.
    pub async fn send(&self, path: &str, n: usize, want: u16) {
        for _ in 0..n {
            assert_eq!(self.get(path).await, want, "{path}");
        }
    }

    /// The sidecar's `/metrics` target.
    pub fn target(&self) -> seawall_scrape::Target {
        seawall_scrape::Target::parse(&self.admin.to_string()).expect("target")
    }
}

/// Serves `app` on an ephemeral loopback port.
pub async fn serve(app: Router) -> (SocketAddr, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Reads a request head (up to its blank line) from a hand-made test
/// server's connection; false when the peer went away first.
pub async fn read_head<R: tokio::io::AsyncRead + Unpin>(conn: &mut R) -> bool {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    true
}
