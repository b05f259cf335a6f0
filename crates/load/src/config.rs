//! What to send, how fast, and how it is tagged; checked once before the
//! first request into a [`Target`].

use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Bytes;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Uri};

use crate::LoadError;
use crate::arrivals::Arrivals;

/// Highest accepted rate (requests per second).
const MAX_RATE: f64 = 10_000_000.0;
/// Highest accepted connection cap.
const MAX_CONNECTIONS: usize = 100_000;
/// Longest accepted run or timeout.
const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The test-traffic tag sent on every request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TestTag {
    /// The run id: the tag's value.
    pub run_id: String,
    /// Header that carries the run id (default `x-seawall-test`).
    pub header: String,
    /// Key of the W3C `baggage` member (default `seawall-test`).
    pub baggage_key: String,
}

impl TestTag {
    /// A tag with the default header and baggage key.
    pub fn new(run_id: impl Into<String>) -> Self {
        Self {
            run_id: run_id.into(),
            header: "x-seawall-test".to_owned(),
            baggage_key: "seawall-test".to_owned(),
        }
    }

    /// A fresh run id from the clock and the process id, e.g.
    /// `sw-19abc0de12f-3e8`: unique enough to find one run in logs.
    pub fn generate() -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        Self::new(format!("sw-{millis:x}-{:x}", std::process::id()))
    }
}

/// HTTP protocol of the connection pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpVersion {
    /// HTTP/1.1 with keep-alive: one request in flight per connection.
    #[default]
    Http1,
    /// HTTP/2 with prior knowledge (h2c): one connection, many streams.
    Http2,
}

/// An ad-hoc load test of one URL.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Target, `http://host[:port]/path?query`.
    pub url: String,
    /// HTTP method (default `GET`).
    pub method: String,
    /// Extra request headers, in order. A `baggage` header given here gets
    /// the test tag appended as one more member.
    pub headers: Vec<(String, String)>,
    /// Request body (sent with every request).
    pub body: Option<Vec<u8>>,
    /// Open model: intended arrivals per second. `None` is the closed loop:
    /// `connections` workers send back to back as fast as the server answers.
    pub rate: Option<f64>,
    /// Spacing of open-model arrivals.
    pub arrivals: Arrivals,
    /// How long arrivals are issued (requests in flight at the end are then
    /// awaited, up to `timeout`).
    pub duration: Duration,
    /// Connection cap: with HTTP/1.1 at most this many connections (each
    /// one request at a time); with HTTP/2 at most this many streams in
    /// flight. An open-model arrival that finds the cap reached is dropped.
    pub connections: usize,
    /// Per-request deadline, from the start of the send (connect included).
    pub timeout: Duration,
    /// Test tag; required unless `untagged` is set.
    pub tag: Option<TestTag>,
    /// Send without a tag (and without complaint when `tag` is `None`).
    pub untagged: bool,
    /// Protocol.
    pub http: HttpVersion,
}

impl LoadConfig {
    /// Defaults: `GET`, closed loop, 10 s, 50 connections, 10 s timeout,
    /// no tag yet (set one or `untagged`), HTTP/1.1.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            method: "GET".to_owned(),
            headers: Vec::new(),
            body: None,
            rate: None,
            arrivals: Arrivals::Constant,
            duration: Duration::from_secs(10),
            connections: 50,
            timeout: Duration::from_secs(10),
            tag: None,
            untagged: false,
            http: HttpVersion::Http1,
        }
    }

    /// Check every setting and prepare the request template.
    pub(crate) fn prepare(&self) -> Result<Target, LoadError> {
        let tag = match (&self.tag, self.untagged) {
            (_, true) => None,
            (Some(tag), false) => Some(tag),
            (None, false) => return Err(LoadError::Untagged),
        };
        if let Some(rate) = self.rate
            && !(rate > 0.0 && rate <= MAX_RATE)
        {
            return Err(invalid(
                "rate",
                format!("{rate} is not in (0, {MAX_RATE}] requests per second"),
            ));
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return Err(invalid("duration", "must be positive and at most 7 days"));
        }
        if self.timeout.is_zero() || self.timeout > MAX_DURATION {
            return Err(invalid("timeout", "must be positive and at most 7 days"));
        }
        if self.connections == 0 || self.connections > MAX_CONNECTIONS {
            return Err(invalid(
                "connections",
                format!("{} is not in 1..={MAX_CONNECTIONS}", self.connections),
            ));
        }
        let method = Method::from_bytes(self.method.as_bytes())
            .map_err(|_| LoadError::InvalidMethod(self.method.clone()))?;
        let uri: Uri = self.url.parse().map_err(|e| LoadError::InvalidUrl {
            url: self.url.clone(),
            reason: format!("{e}"),
        })?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => return Err(LoadError::UnsupportedScheme(other.to_owned())),
            None => return Err(bad_url(&self.url, "missing scheme (http://)")),
        }
        let Some(authority) = uri.authority().cloned() else {
            return Err(bad_url(&self.url, "missing host"));
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let host_port = (host.to_owned(), authority.port_u16().unwrap_or(80));

        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad_header(name, e))?;
            let v = HeaderValue::from_str(value).map_err(|e| bad_header(name, e))?;
            headers.append(n, v);
        }
        if !headers.contains_key(header::HOST) {
            let v = HeaderValue::from_str(authority.as_str()).map_err(|e| bad_header("host", e))?;
            headers.insert(header::HOST, v);
        }
        if let Some(tag) = tag {
            apply_tag(&mut headers, tag)?;
        }
        let body = Bytes::from(self.body.clone().unwrap_or_default());
        if !body.is_empty() && !headers.contains_key(header::CONTENT_LENGTH) {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        // HTTP/1.1 sends the origin form with a Host header; HTTP/2 needs
        // the absolute form for its :scheme and :authority.
        let request_uri = match self.http {
            HttpVersion::Http1 => uri
                .path_and_query()
                .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone())),
            HttpVersion::Http2 => uri.clone(),
        };
        if self.http == HttpVersion::Http2 {
            headers.remove(header::HOST);
        }
        Ok(Target {
            host_port,
            addr: None,
            method,
            uri: request_uri,
            headers,
            body,
            run_id: tag.map(|t| t.run_id.clone()),
        })
    }
}

/// Resolve `(host, port)` once, before the first request; the first
/// address wins.
pub(crate) async fn resolve((host, port): &(String, u16)) -> Result<SocketAddr, LoadError> {
    let not_found = || std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    tokio::net::lookup_host((host.as_str(), *port))
        .await
        .map_err(|source| LoadError::Resolve {
            host: format!("{host}:{port}"),
            source,
        })?
        .next()
        .ok_or_else(|| LoadError::Resolve {
            host: format!("{host}:{port}"),
            source: not_found(),
        })
}

/// Write the tag header and the baggage member into `headers`.
fn apply_tag(headers: &mut HeaderMap, tag: &TestTag) -> Result<(), LoadError> {
    let name =
        HeaderName::from_bytes(tag.header.as_bytes()).map_err(|e| bad_header(&tag.header, e))?;
    let value = HeaderValue::from_str(&tag.run_id).map_err(|e| bad_header(&tag.header, e))?;
    if tag.baggage_key.is_empty() || tag.run_id.is_empty() {
        return Err(invalid("tag", "run id and baggage key must not be empty"));
    }
    headers.insert(name, value);
    let member = format!("{}={}", tag.baggage_key, tag.run_id);
    let baggage = match headers.get(header::HeaderName::from_static("baggage")) {
        Some(existing) => {
            let existing = existing.to_str().map_err(|e| bad_header("baggage", e))?;
            format!("{existing},{member}")
        }
        None => member,
    };
    let baggage = HeaderValue::from_str(&baggage).map_err(|e| bad_header("baggage", e))?;
    headers.insert(HeaderName::from_static("baggage"), baggage);
    Ok(())
}

fn invalid(setting: &'static str, reason: impl Into<String>) -> LoadError {
    LoadError::InvalidSetting {
        setting,
        reason: reason.into(),
    }
}

fn bad_url(url: &str, reason: &str) -> LoadError {
    LoadError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    }
}

fn bad_header(name: &str, e: impl std::fmt::Display) -> LoadError {
    LoadError::InvalidHeader {
        name: name.to_owned(),
        reason: e.to_string(),
    }
}

/// A checked request template and where to send it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Host and port as given, for the resolver.
    pub host_port: (String, u16),
    /// Resolved address (filled in by the runner).
    pub addr: Option<SocketAddr>,
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub run_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(url: &str) -> LoadConfig {
        let mut c = LoadConfig::new(url);
        c.tag = Some(TestTag::new("r1"));
        c
    }

    #[test]
    fn refuses_untagged() {
        let c = LoadConfig::new("http://127.0.0.1:1/");
        assert!(matches!(c.prepare(), Err(LoadError::Untagged)));
        let mut c = c;
        c.untagged = true;
        let t = c.prepare().expect("untagged allowed");
        assert!(t.headers.get("x-seawall-test").is_none());
        assert!(t.run_id.is_none());
    }

    #[test]
    fn tags_and_appends_to_existing_baggage() {
        let mut c = tagged("http://127.0.0.1:8080/a?b=1");
        c.headers.push(("baggage".into(), "user=x".into()));
        let t = c.prepare().expect("valid");
        assert_eq!(t.headers["x-seawall-test"], "r1");
        assert_eq!(t.headers["baggage"], "user=x,seawall-test=r1");
        assert_eq!(t.headers["host"], "127.0.0.1:8080");
        assert_eq!(t.uri, "/a?b=1");
        assert_eq!(t.host_port, ("127.0.0.1".to_owned(), 8080));
    }

    #[test]
    fn rejects_bad_settings() {
        let mut c = tagged("https://127.0.0.1/");
        assert!(matches!(c.prepare(), Err(LoadError::UnsupportedScheme(_))));
        c.url = "127.0.0.1:80".into();
        assert!(c.prepare().is_err());
        c.url = "http://127.0.0.1/".into();
        c.rate = Some(0.0);
        assert!(matches!(
            c.prepare(),
            Err(LoadError::InvalidSetting {
                setting: "rate",
                ..
            })
        ));
        c.rate = Some(f64::NAN);
        assert!(c.prepare().is_err());
        c.rate = None;
        c.connections = 0;
        assert!(c.prepare().is_err());
        c.connections = 1;
        c.method = "GE T".into();
        assert!(matches!(c.prepare(), Err(LoadError::InvalidMethod(_))));
        c.method = "POST".into();
        c.headers.push(("bad header".into(), "v".into()));
        assert!(matches!(c.prepare(), Err(LoadError::InvalidHeader { .. })));
    }
}
