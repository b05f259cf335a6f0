//! Fixtures shared by the modules: channels with the documented test
//! secret and a page with every field.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use seawall_notify::{
    Channel, Mention, Message, Provider, RetryPolicy, Secret, Sender, Severity, Style,
};

/// The secret of every vector in `docs/respond.md`.
pub const SECRET: &str = "SEC0123456789abcdef";
/// 2023-11-14T22:13:20Z, the vectors' time, in milliseconds.
pub const NOW_MS: i64 = 1_700_000_000_000;
/// Lark's sign for `SECRET` at 1700000000 s (Python `hmac`, `openssl`).
pub const LARK_SIGN: &str = "PiO7POLlSx/DM2qf8Dy/XCWeJK3exVnevp5G99LEN2M=";
/// DingTalk's URL-encoded sign for `SECRET` at 1700000000000 ms.
pub const DINGTALK_SIGN_ENCODED: &str = "TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D";

/// A channel of `provider` at `url`, signed with [`SECRET`].
pub fn channel(id: &str, provider: Provider, url: &str) -> Channel {
    Channel {
        id: id.to_owned(),
        provider,
        url: Secret::new(url),
        secret: Some(Secret::new(SECRET)),
        style: Style::Rich,
    }
}

/// A page with mentions, an ack link and ids.
pub fn page() -> Message {
    Message {
        title: "Checkout p99 over 800 ms".to_owned(),
        text: "checkout p99 is 1.2 s for 3 min".to_owned(),
        severity: Severity::Page,
        mentions: vec![
            Mention::Mobile("13800000000".to_owned()),
            Mention::UserId("ou_abc".to_owned()),
        ],
        ack_url: Some("https://seawall.example/ack/INC-7?sig=x".to_owned()),
        incident_id: Some("INC-7".to_owned()),
        alert_id: Some("checkout-p99".to_owned()),
    }
}

/// A request a fake receiver got.
#[derive(Debug, Clone)]
pub struct Captured {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    /// Headers.
    pub headers: http::HeaderMap,
    /// Raw body.
    pub body: Vec<u8>,
}

impl Captured {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What a fake receiver answers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(&'static str, &'static str)>,
    /// Body.
    pub body: &'static str,
    /// Wait before answering.
    pub delay: Duration,
}

impl Reply {
    /// `status` with `body`, at once.
    pub fn new(status: u16, body: &'static str) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
            delay: Duration::ZERO,
        }
    }
}

struct Shared {
    replies: Vec<Reply>,
    requests: Mutex<Vec<Captured>>,
}

/// A fake provider on 127.0.0.1: records every request and answers with
/// `replies` in turn (the last one again once they run out).
pub struct Fake {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Fake {
    /// Starts a receiver on a free loopback port.
    pub async fn start(replies: Vec<Reply>) -> Fake {
        let shared = Arc::new(Shared {
            replies,
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake {
            base: format!("http://{addr}"),
            shared,
            task,
        }
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Captured> {
        self.shared.requests.lock().expect("lock").clone()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let reply = {
        let mut requests = shared.requests.lock().expect("lock");
        requests.push(Captured {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            body,
        });
        let i = (requests.len() - 1).min(shared.replies.len().saturating_sub(1));
        shared.replies.get(i).cloned()
    };
    let reply = reply.unwrap_or_else(|| Reply::new(200, ""));
    tokio::time::sleep(reply.delay).await;
    let mut response = axum::response::Response::new(axum::body::Body::from(reply.body));
    *response.status_mut() = http::StatusCode::from_u16(reply.status).expect("status");
    for (name, value) in reply.headers {
        response
            .headers_mut()
            .insert(name, http::HeaderValue::from_static(value));
    }
    response
}

/// A sender with the vectors' clock and quick retries.
pub fn sender(attempts: u32) -> Sender {
    Sender::new(RetryPolicy {
        attempts,
        timeout: Duration::from_millis(500),
        backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(80),
        max_retry_after: Duration::from_secs(2),
    })
    .with_clock(Arc::new(|| NOW_MS))
}
