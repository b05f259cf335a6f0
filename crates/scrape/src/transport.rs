//! The HTTP exchange both sources share: hyper-util's pooled client over
//! hyper 1 (the workspace's stack), a bearer token when configured, and a
//! failure as one line of text with its causes, since that text is what a
//! failed source shows.

use std::time::Duration;

use http::{Request, header};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// A keep-alive client whose connects give up after `connect_timeout`.
pub(crate) fn client<B>(connect_timeout: Duration) -> Client<HttpConnector, B>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
{
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect_timeout));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(2)
        .build(connector)
}

/// Adds `Authorization: Bearer …` when there is a token.
pub(crate) fn bearer(
    request: http::request::Builder,
    token: Option<&str>,
) -> http::request::Builder {
    match token {
        Some(t) => request.header(header::AUTHORIZATION, format!("Bearer {t}")),
        None => request,
    }
}

/// Sends `request`; a failure (building it included) as text.
pub(crate) async fn send<B>(
    client: &Client<HttpConnector, B>,
    request: Result<Request<B>, http::Error>,
) -> Result<http::Response<Incoming>, String>
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let request = request.map_err(|e| e.to_string())?;
    client.request(request).await.map_err(|e| error_chain(&e))
}

/// An error and its sources on one line (hyper's "client error (Connect)"
/// says nothing without the OS error under it).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
