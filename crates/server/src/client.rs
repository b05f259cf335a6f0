//! A small HTTP/1.1 client for the API, on hyper's connection-level
//! client: one connection per request, a deadline on each. The CLI
//! (`seawall push`, `token`, `audit verify`, `gate check`) and the tests
//! use it; only `http://` servers (put TLS in front with a proxy).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ErrorBody;

/// Why a request got no HTTP answer, or an answer that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server URL cannot be used.
    #[error("server URL {url:?}: {reason}")]
    Url {
        /// What was given.
        url: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// No connection.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// host:port.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The exchange failed.
    #[error("request to {url} failed: {message}")]
    Http {
        /// Full URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// No answer within the deadline.
    #[error("{url} did not answer within {secs} s")]
    Timeout {
        /// Full URL.
        url: String,
        /// Deadline.
        secs: u64,
    },
    /// The answer is not the JSON expected.
    #[error("{url} answered {status} with a body that is not the expected JSON: {message}")]
    Body {
        /// Full URL.
        url: String,
        /// Status.
        status: u16,
        /// Parser's message.
        message: String,
    },
    /// The request could not be built (bad header value).
    #[error("cannot build the request: {0}")]
    Build(String),
}

/// An answer: status, headers, body.
#[derive(Debug, Clone)]
pub struct Response {
    /// Full URL asked.
    pub url: String,
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Response {
    /// The body as JSON of type `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_slice(&self.body).map_err(|e| ClientError::Body {
            url: self.url.clone(),
            status: self.status.as_u16(),
            message: e.to_string(),
        })
    }

    /// The API error in the body, if it is one.
    pub fn error(&self) -> Option<ErrorBody> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client for one server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    authority: String,
    token: Option<String>,
    timeout: Duration,
}

impl Client {
    /// A client for `http://host:port[/prefix]`.
    pub fn new(server: &str) -> Result<Self, ClientError> {
        let bad = |reason: &str| ClientError::Url {
            url: server.to_owned(),
            reason: reason.to_owned(),
        };
        let uri: Uri = server
            .parse()
            .map_err(|_| bad("not a URL; give http://HOST:PORT"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https is not supported by this client yet; reach the server over http \
                     (e.g. through a local tunnel or proxy)",
                ));
            }
            _ => return Err(bad("give http://HOST:PORT")),
        }
        let Some(authority) = uri.authority() else {
            return Err(bad("no host; give http://HOST:PORT"));
        };
        let authority = if authority.port().is_some() {
            authority.as_str().to_owned()
        } else {
            format!("{}:80", authority.host())
        };
        let base = server.trim_end_matches('/').to_owned();
        Ok(Self {
            base,
            authority,
            token: None,
            timeout: Duration::from_secs(30),
        })
    }

    /// Send `Authorization: Bearer <token>` with every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Each request's deadline (default 30 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path` (path from the server root, e.g. `/api/v1/events`).
    pub async fn get(&self, path: &str) -> Result<Response, ClientError> {
        self.send(Method::GET, path, None).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Response, ClientError> {
        self.send(Method::DELETE, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<Response, ClientError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Build(e.to_string()))?;
        self.send(
            Method::POST,
            path,
            Some(("application/json", Bytes::from(bytes))),
        )
        .await
    }

    /// `POST path` with a JSON document sent exactly as given (a stored
    /// document such as `run.json` keeps its bytes and hash).
    pub async fn post_json_text(&self, path: &str, text: String) -> Result<Response, ClientError> {
        self.send(
            Method::POST,
            path,
            Some(("application/json", Bytes::from(text))),
        )
        .await
    }

    /// Any request: an optional body with its content type.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Bytes)>,
    ) -> Result<Response, ClientError> {
        let mut headers = Vec::new();
        if let Some(token) = &self.token {
            headers.push((header::AUTHORIZATION, format!("Bearer {token}")));
        }
        if let Some((content_type, _)) = &body {
            headers.push((header::CONTENT_TYPE, (*content_type).to_owned()));
        }
        self.send_raw(
            method,
            path,
            &headers,
            body.map(|(_, b)| b).unwrap_or_default(),
        )
        .await
    }

    /// A request with exactly these headers (plus Host), for tests of bad
    /// input: no token unless one is among `headers`.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(header::HeaderName, String)],
        body: Bytes,
    ) -> Result<Response, ClientError> {
        let url = format!("{}{path}", self.base);
        let uri: Uri = url
            .parse()
            .map_err(|_| ClientError::Build(format!("bad path {path:?}")))?;
        let mut request = Request::builder()
            .method(method)
            .uri(uri.path_and_query().map_or("/", |p| p.as_str()))
            .header(header::HOST, &self.authority);
        for (name, value) in headers {
            let value =
                HeaderValue::from_str(value).map_err(|e| ClientError::Build(e.to_string()))?;
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| ClientError::Build(e.to_string()))?;
        let exchange = async {
            let stream = tokio::net::TcpStream::connect(&self.authority)
                .await
                .map_err(|source| ClientError::Connect {
                    addr: self.authority.clone(),
                    source,
                })?;
            let http = |e: hyper::Error| ClientError::Http {
                url: url.clone(),
                message: e.to_string(),
            };
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(http)?;
            let driver = tokio::spawn(conn);
            let response = sender.send_request(request).await.map_err(http)?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(http)?.to_bytes();
            driver.abort();
            Ok(Response {
                url: url.clone(),
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ClientError::Timeout {
                url,
                secs: self.timeout.as_secs(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls() {
        assert!(Client::new("http://127.0.0.1:7878").is_ok());
        assert_eq!(
            Client::new("http://127.0.0.1:7878/").expect("ok").base(),
            "http://127.0.0.1:7878"
        );
        assert_eq!(
            Client::new("http://example").expect("ok").authority,
            "example:80"
        );
        for bad in ["https://x:1", "ftp://x", "127.0.0.1:7878", "", "http://"] {
            assert!(Client::new(bad).is_err(), "{bad}");
        }
    }
}
