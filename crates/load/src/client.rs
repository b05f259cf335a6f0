//! Connection pool: HTTP/1.1 keep-alive connections (one request in
//! flight each) or one shared HTTP/2 connection on hyper 1's low-level
//! client API. HTTP/1.1 skips hyper: a request is serialised into bytes
//! (once for `seawall load`'s fixed request and for a scenario step without
//! variables, into a reused buffer otherwise) and each exchange is a write
//! and a read on a raw connection with an in-place `httparse` parse (see
//! `Raw`); the response body is kept only when a step extracts from it.
//! HTTP/2 goes through hyper (`Pool::fetch`).
//!
//! Keep-alive connections die quietly: servers close them after an idle
//! timeout (Apache and Node 5 s, Seawall's server 10 s, nginx 75 s), and a
//! request written as the close arrives meets EOF or a reset. As mature
//! clients do (undici's 4 s keep-alive, Go's retry of requests on reused
//! connections), a connection idle longer than [`IDLE_BOUND`] is dropped
//! instead of reused, and a request on a reused connection that ends before
//! any byte of the response is sent once more on a fresh connection —
//! neither is counted as an error. A fresh connection's failure is never
//! retried.
//!
//! The cap on concurrent requests is the runner's semaphore; the pool
//! itself only keeps idle connections and opens new ones.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http2;
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::config::{HttpVersion, Target};
use crate::stats::ErrorClass;

type Body = Full<Bytes>;

/// Longest a keep-alive connection may sit idle in the pool and still be
/// reused: below the common server idle timeouts (5 s for Apache and
/// Node, 10 s for Seawall's server), as undici's default of 4 s is.
pub(crate) const IDLE_BOUND: Duration = Duration::from_secs(4);

/// Keep-alive connections and how to make more.
#[derive(Debug)]
pub(crate) struct Pool {
    addr: SocketAddr,
    http: HttpVersion,
    timeout: Duration,
    /// Idle connections older than this are dropped, not reused.
    idle_bound: Duration,
    /// The fixed request of [`Pool::send`], serialised on first use.
    wire: std::sync::OnceLock<Vec<u8>>,
    /// Idle HTTP/1.1 connections, most recently used last.
    raw_idle: Mutex<Vec<Raw>>,
    /// The shared HTTP/2 connection, opened on first use and reopened
    /// when it closes.
    h2: tokio::sync::Mutex<Option<http2::SendRequest<Body>>>,
}

impl Pool {
    pub(crate) fn new(addr: SocketAddr, http: HttpVersion, timeout: Duration) -> Self {
        Self {
            addr,
            http,
            timeout,
            idle_bound: IDLE_BOUND,
            wire: std::sync::OnceLock::new(),
            raw_idle: Mutex::new(Vec::new()),
            h2: tokio::sync::Mutex::new(None),
        }
    }

    /// The same pool with another idle bound (tests use short ones).
    #[cfg(test)]
    pub(crate) fn with_idle_bound(mut self, bound: Duration) -> Self {
        self.idle_bound = bound;
        self
    }

    /// Send one request and read the whole response within the timeout.
    /// `Ok` carries the status of a complete response. Every call must pass
    /// the same `target` (HTTP/1.1 serialises it once, on the first call).
    pub(crate) async fn send(&self, target: &Target) -> Result<StatusCode, ErrorClass> {
        match self.http {
            HttpVersion::Http1 => {
                let wire = self.wire.get_or_init(|| serialise(target));
                let head = target.method == Method::HEAD;
                self.exchange(wire, head, None).await
            }
            // h2c is not the fast path: hyper's client, body read whole.
            HttpVersion::Http2 => self
                .within_timeout(self.h2_exchange(build(target)))
                .await
                .map(|(status, _)| status),
        }
    }

    /// Exchange one serialised HTTP/1.1 request (see [`write_request`]) on
    /// a keep-alive connection within the timeout; `head` for a HEAD
    /// request. The response body is appended to `body` when given (after
    /// clearing it), else skipped. `Ok` carries the status of a complete
    /// response.
    pub(crate) async fn exchange(
        &self,
        request: &[u8],
        head: bool,
        mut body: Option<&mut Vec<u8>>,
    ) -> Result<StatusCode, ErrorClass> {
        self.within_timeout(async {
            let (mut conn, reused) = match self.take_raw() {
                Some(conn) => (conn, true),
                None => (Raw::connect(self.addr).await?, false),
            };
            let mut answer = conn.exchange(request, head, body.as_deref_mut()).await;
            if reused && answer == Err(Failure::Unanswered) {
                // The server closed the idle connection as the request
                // went out: it never reached the application. Once more on
                // a fresh connection, whose failure stands.
                conn = Raw::connect(self.addr).await?;
                answer = conn.exchange(request, head, body).await;
            }
            let (status, reusable) = answer.map_err(Failure::class)?;
            if reusable {
                conn.idle_since = Instant::now();
                self.raw_idle
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(conn);
            }
            Ok(status)
        })
        .await
    }

    /// The most recently used idle connection, unless it idled past the
    /// bound (then it and every older one are dropped: the stack is in
    /// order of use).
    fn take_raw(&self) -> Option<Raw> {
        let conn = {
            let mut idle = self.raw_idle.lock().unwrap_or_else(|e| e.into_inner());
            let conn = idle.pop()?;
            if conn.idle_since.elapsed() < self.idle_bound {
                return Some(conn);
            }
            std::mem::take(&mut *idle)
        };
        // Closed outside the lock.
        drop(conn);
        None
    }

    /// `exchange`'s result, or a timeout error once the pool's timeout passes.
    async fn within_timeout<T>(
        &self,
        exchange: impl Future<Output = Result<T, ErrorClass>>,
    ) -> Result<T, ErrorClass> {
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(ErrorClass::Timeout))
    }

    async fn h2_sender(&self) -> Result<http2::SendRequest<Body>, ErrorClass> {
        let mut shared = self.h2.lock().await;
        if let Some(sender) = shared.as_ref()
            && !sender.is_closed()
        {
            return Ok(sender.clone());
        }
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|_| ErrorClass::Connect)?;
        // Small requests must not wait for Nagle's algorithm.
        stream.set_nodelay(true).map_err(|_| ErrorClass::Connect)?;
        let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|_| ErrorClass::Connect)?;
        // The connection task ends when the sender is dropped or the peer
        // closes; its error surfaces on the sender, so it is ignored here.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        *shared = Some(sender.clone());
        Ok(sender)
    }

    async fn h2_exchange(&self, request: Request<Body>) -> Result<(StatusCode, Bytes), ErrorClass> {
        let mut sender = self.h2_sender().await?;
        sender.ready().await.map_err(|_| ErrorClass::Io)?;
        read_all(sender.send_request(request)).await
    }
}

/// A request target from a rendered path (or an absolute URI for h2c).
/// `http`'s parser drops a fragment without checking it, so control
/// characters are refused anywhere first: a data row or an extracted value
/// cannot carry a CR or LF behind a `#` either.
pub(crate) fn target(rendered: &str) -> Option<Uri> {
    if rendered.bytes().any(|b| b.is_ascii_control()) {
        return None;
    }
    rendered.parse().ok()
}

/// The request for one arrival, from the checked template.
fn build(target: &Target) -> Request<Body> {
    request(
        target.method.clone(),
        target.uri.clone(),
        target.headers.clone(),
        target.body.clone(),
    )
}

/// A request from its parts.
fn request(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Request<Body> {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    request
}

// ---- Scenario runs on HTTP/2: arbitrary requests whose response body is kept. ----

impl Pool {
    /// Send one request built from its parts over HTTP/2 and return the
    /// status and the whole response body, within the timeout (scenario
    /// steps extract values from the body). HTTP/1.1 pools serialise the
    /// request and exchange it raw, as [`Pool::exchange`] does.
    pub(crate) async fn fetch(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), ErrorClass> {
        match self.http {
            HttpVersion::Http1 => {
                let mut wire = Vec::new();
                write_request(&mut wire, &method, &uri, &headers, &body);
                let mut kept = Vec::new();
                let status = self
                    .exchange(&wire, method == Method::HEAD, Some(&mut kept))
                    .await?;
                Ok((status, Bytes::from(kept)))
            }
            HttpVersion::Http2 => {
                self.within_timeout(self.h2_exchange(request(method, uri, headers, body)))
                    .await
            }
        }
    }
}

/// Await the response head, then read and keep the whole body.
async fn read_all(
    response: impl Future<Output = hyper::Result<Response<Incoming>>>,
) -> Result<(StatusCode, Bytes), ErrorClass> {
    let response = response.await.map_err(|_| ErrorClass::Io)?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|_| ErrorClass::Body)?;
    Ok((status, body.to_bytes()))
}

// ---- HTTP/1.1: serialised requests on raw keep-alive connections. ----

/// Largest response head accepted (bytes).
const MAX_HEAD: usize = 64 * 1024;
/// Most response headers parsed.
const MAX_HEADERS: usize = 64;

/// A keep-alive HTTP/1.1 connection driven directly: the request is
/// written as pre-serialised bytes, the response head parsed in place with
/// `httparse`, and the body consumed from a reused buffer, kept only when
/// the caller asks. No per-request allocation, no connection task, no
/// channels.
#[derive(Debug)]
pub(crate) struct Raw {
    stream: TcpStream,
    /// Read buffer; `buf[..len]` holds unread bytes of the response.
    buf: Vec<u8>,
    /// When the connection last went back to the pool.
    idle_since: Instant,
}

/// Why an exchange failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The connection ended (EOF, reset, broken pipe) before any byte of
    /// the response: on a reused connection, the server closed it idle.
    Unanswered,
    /// Any other failure, by its class.
    Failed(ErrorClass),
}

impl Failure {
    /// The error class counted: an unanswered request is an I/O error.
    pub(crate) fn class(self) -> ErrorClass {
        match self {
            Failure::Unanswered => ErrorClass::Io,
            Failure::Failed(class) => class,
        }
    }
}

impl From<ErrorClass> for Failure {
    fn from(class: ErrorClass) -> Self {
        Failure::Failed(class)
    }
}

/// How the response body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// No body (HEAD, 1xx, 204, 304).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the server closes the connection.
    Close,
}

impl Raw {
    pub(crate) async fn connect(addr: SocketAddr) -> Result<Self, ErrorClass> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|_| ErrorClass::Connect)?;
        stream.set_nodelay(true).map_err(|_| ErrorClass::Connect)?;
        Ok(Self {
            stream,
            buf: Vec::with_capacity(8 * 1024),
            idle_since: Instant::now(),
        })
    }

    /// Read more bytes into the buffer; `Ok(0)` is end of stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(8 * 1024);
        }
        self.stream.read_buf(&mut self.buf).await
    }

    /// Send `request` and read the whole response, appending its body to
    /// `keep` when given (after clearing it). Returns its status and
    /// whether the connection can carry another request.
    pub(crate) async fn exchange(
        &mut self,
        request: &[u8],
        head: bool,
        mut keep: Option<&mut Vec<u8>>,
    ) -> Result<(StatusCode, bool), Failure> {
        if let Some(keep) = keep.as_deref_mut() {
            keep.clear();
        }
        // Nothing of the response can have come yet: a failed write is
        // an unanswered request.
        self.stream
            .write_all(request)
            .await
            .map_err(|_| Failure::Unanswered)?;
        self.buf.clear();
        let mut answered = false;
        // Bounded: each pass consumes a complete 1xx head or reads more
        // bytes (at most MAX_HEAD of them per head).
        loop {
            let parsed = parse_head(&self.buf, head)?;
            let Some((used, code, framing, close)) = parsed else {
                if self.buf.len() > MAX_HEAD {
                    return Err(ErrorClass::Io.into());
                }
                match self.fill().await {
                    Ok(n) if n > 0 => answered = true,
                    _ if !answered => return Err(Failure::Unanswered),
                    _ => return Err(ErrorClass::Io.into()),
                }
                continue;
            };
            self.consume(used);
            if (100..200).contains(&code) {
                // Informational (100 Continue, 103 Early Hints): the real
                // response follows.
                continue;
            }
            let status = StatusCode::from_u16(code).map_err(|_| ErrorClass::Io)?;
            let clean = self.body(framing, keep).await?;
            return Ok((status, clean && !close && framing != Framing::Close));
        }
    }

    /// Drop the first `n` buffered bytes.
    fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.copy_within(n.., 0);
        self.buf.truncate(self.buf.len() - n);
    }

    /// Consume the body, appending it to `keep` when given. `Ok(true)`
    /// when it ended exactly where the response did (no stray bytes), so
    /// the connection is reusable.
    async fn body(
        &mut self,
        framing: Framing,
        mut keep: Option<&mut Vec<u8>>,
    ) -> Result<bool, ErrorClass> {
        match framing {
            Framing::None => Ok(self.buf.is_empty()),
            Framing::Length(mut left) => {
                // Bounded by the length: every pass consumes read bytes.
                loop {
                    let have = self.buf.len() as u64;
                    if let Some(keep) = keep.as_deref_mut() {
                        let take = usize::try_from(left.min(have)).unwrap_or(usize::MAX);
                        keep.extend_from_slice(self.buf.get(..take).unwrap_or_default());
                    }
                    if have >= left {
                        return Ok(have == left);
                    }
                    left -= have;
                    self.buf.clear();
                    if self.fill().await.map_err(|_| ErrorClass::Body)? == 0 {
                        return Err(ErrorClass::Body);
                    }
                }
            }
            Framing::Chunked => {
                let mut state = Chunked::Size;
                // Bounded by the body: every pass consumes or reads bytes.
                loop {
                    let used = state.advance(&self.buf, keep.as_deref_mut())?;
                    self.consume(used);
                    if state == Chunked::Done {
                        return Ok(self.buf.is_empty());
                    }
                    if self.buf.len() > MAX_HEAD {
                        return Err(ErrorClass::Body);
                    }
                    if self.fill().await.map_err(|_| ErrorClass::Body)? == 0 {
                        return Err(ErrorClass::Body);
                    }
                }
            }
            Framing::Close => {
                // Bounded by the server closing (or the caller's deadline).
                loop {
                    if let Some(keep) = keep.as_deref_mut() {
                        keep.extend_from_slice(&self.buf);
                    }
                    self.buf.clear();
                    if self.fill().await.map_err(|_| ErrorClass::Body)? == 0 {
                        return Ok(false);
                    }
                }
            }
        }
    }
}

/// Parse a response head at the start of `buf`: `None` if incomplete,
/// else (head length, status code, body framing, `Connection: close`).
fn parse_head(buf: &[u8], head: bool) -> Result<Option<(usize, u16, Framing, bool)>, ErrorClass> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let used = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(ErrorClass::Io),
    };
    let code = response.code.ok_or(ErrorClass::Io)?;
    let mut length = None;
    let mut chunked = false;
    let mut close = response.version == Some(0);
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(h.value).map_err(|_| ErrorClass::Io)?;
            length = Some(text.trim().parse::<u64>().map_err(|_| ErrorClass::Io)?);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = ends_chunked(h.value);
        } else if h.name.eq_ignore_ascii_case("connection") {
            let value = h.value;
            if value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
            {
                close = true;
            } else if value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"keep-alive"))
            {
                close = false;
            }
        }
    }
    let framing = if head || (100..200).contains(&code) || code == 204 || code == 304 {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        Framing::Length(n)
    } else {
        Framing::Close
    };
    Ok(Some((used, code, framing, close)))
}

/// Where a chunked body decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunked {
    /// Expecting a size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailer,
    /// The body is complete.
    Done,
}

impl Chunked {
    /// Consume as much of `buf` as possible, appending chunk data to
    /// `keep` when given; returns the bytes consumed. Incomplete lines are
    /// left in `buf` for the next call.
    fn advance(&mut self, buf: &[u8], mut keep: Option<&mut Vec<u8>>) -> Result<usize, ErrorClass> {
        let mut at = 0;
        // Bounded by `buf`: every pass consumes bytes or returns.
        loop {
            let rest = buf.get(at..).unwrap_or_default();
            match *self {
                Chunked::Done => return Ok(at),
                Chunked::Size | Chunked::Trailer => {
                    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if rest.len() > 4096 {
                            return Err(ErrorClass::Body);
                        }
                        return Ok(at);
                    };
                    let line = rest.get(..end).unwrap_or_default();
                    at += end + 2;
                    if *self == Chunked::Trailer {
                        if line.is_empty() {
                            *self = Chunked::Done;
                        }
                        continue;
                    }
                    let hex = line.split(|&b| b == b';').next().unwrap_or_default();
                    let hex =
                        std::str::from_utf8(hex.trim_ascii()).map_err(|_| ErrorClass::Body)?;
                    let size = u64::from_str_radix(hex, 16).map_err(|_| ErrorClass::Body)?;
                    *self = if size == 0 {
                        Chunked::Trailer
                    } else {
                        Chunked::Data(size)
                    };
                }
                Chunked::Data(left) => {
                    if rest.is_empty() {
                        return Ok(at);
                    }
                    let take = left.min(rest.len() as u64);
                    if let Some(keep) = keep.as_deref_mut() {
                        keep.extend_from_slice(rest.get(..take as usize).unwrap_or_default());
                    }
                    at += take as usize;
                    *self = if take == left {
                        Chunked::DataEnd
                    } else {
                        Chunked::Data(left - take)
                    };
                }
                Chunked::DataEnd => {
                    if rest.len() < 2 {
                        return Ok(at);
                    }
                    if rest.get(..2) != Some(b"\r\n".as_slice()) {
                        return Err(ErrorClass::Body);
                    }
                    at += 2;
                    *self = Chunked::Size;
                }
            }
        }
    }
}

/// The request of `target` as HTTP/1.1 bytes: request line, headers, body.
pub(crate) fn serialise(target: &Target) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + target.body.len());
    write_request(
        &mut out,
        &target.method,
        &target.uri,
        &target.headers,
        &target.body,
    );
    out
}

/// Append an HTTP/1.1 request to `out`, framed as hyper's HTTP/1.1 client
/// frames it: the request line (the URI as hyper writes it), every header
/// in the map's order, then the body. A `Transfer-Encoding` header is
/// dropped when there is no body; with a body it makes the body one chunk
/// (`chunked` appended when the header does not end with it), and any
/// `Content-Length` goes. Otherwise the body is sent as it is (the caller
/// sets `Content-Length`).
///
/// Every byte comes from `http`'s types: a method is a token, a URI has
/// no spaces or control characters, a header name is a token and a value
/// has no CR, LF or NUL, so nothing a data row or an extracted value puts
/// in a path or a header can end a line or add a header.
pub(crate) fn write_request(
    out: &mut Vec<u8>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) {
    use std::io::Write as _;
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    // `Uri`'s display is hyper's request target; writing to a Vec fails
    // only when memory does.
    let _ = write!(out, "{uri}");
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let te = headers.get_all(header::TRANSFER_ENCODING);
    let chunked = !body.is_empty() && te.iter().next().is_some();
    let repair = chunked
        && !te
            .iter()
            .next_back()
            .is_some_and(|v| ends_chunked(v.as_bytes()));
    let mut te_left = te.iter().count();
    for (name, value) in headers {
        let mut suffix: &[u8] = b"";
        if name == header::TRANSFER_ENCODING {
            if body.is_empty() {
                continue;
            }
            te_left -= 1;
            if te_left == 0 && repair {
                suffix = b", chunked";
            }
        } else if chunked && name == header::CONTENT_LENGTH {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(suffix);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if chunked {
        let _ = write!(out, "{:X}\r\n", body.len());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n0\r\n\r\n");
    } else {
        out.extend_from_slice(body);
    }
}

/// Whether a `Transfer-Encoding` value's last coding is `chunked`.
fn ends_chunked(value: &[u8]) -> bool {
    value
        .rsplit(|&b| b == b',')
        .next()
        .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn heads_and_framing() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
        assert_eq!(
            parse_head(ok, false),
            Ok(Some((38, 200, Framing::Length(5), false)))
        );
        assert_eq!(parse_head(&ok[..20], false), Ok(None));
        let head = parse_head(ok, true).expect("valid").expect("complete");
        assert_eq!(head.2, Framing::None, "HEAD has no body");
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(
            parse_head(chunked, false)
                .expect("valid")
                .expect("complete")
                .2,
            Framing::Chunked
        );
        let close = b"HTTP/1.1 500 Oops\r\nConnection: close\r\n\r\n";
        assert_eq!(
            parse_head(close, false).expect("valid").expect("complete"),
            (close.len(), 500, Framing::Close, true)
        );
        let old = b"HTTP/1.0 204 No Content\r\n\r\n";
        assert_eq!(
            parse_head(old, false).expect("valid").expect("complete"),
            (old.len(), 204, Framing::None, true)
        );
        let keep = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        assert!(!parse_head(keep, false).expect("valid").expect("complete").3);
        assert_eq!(
            parse_head(b"HTTP/1.1 2x0 OK\r\n\r\n", false),
            Err(ErrorClass::Io)
        );
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false),
            Err(ErrorClass::Io)
        );
    }

    #[test]
    fn chunked_bodies_decode_in_any_split() {
        let body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\n";
        // Feed the body in every possible two-part split.
        for cut in 0..=body.len() {
            let mut state = Chunked::Size;
            let mut pending = body[..cut].to_vec();
            let used = state.advance(&pending, None).expect("valid so far");
            pending.drain(..used);
            pending.extend_from_slice(&body[cut..]);
            let used = state.advance(&pending, None).expect("valid");
            assert_eq!(state, Chunked::Done, "cut at {cut}");
            assert_eq!(used, pending.len(), "cut at {cut}");
        }
        let mut state = Chunked::Size;
        assert_eq!(state.advance(b"zz\r\n", None), Err(ErrorClass::Body));
        let mut state = Chunked::Size;
        assert_eq!(state.advance(b"2\r\nabXY", None), Err(ErrorClass::Body));
    }

    /// A server that answers each request on one connection with the next
    /// scripted reply, written in the given pieces, then closes.
    async fn scripted(replies: Vec<Vec<&'static [u8]>>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            for reply in replies {
                let mut request = Vec::new();
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let mut chunk = [0u8; 1024];
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                for piece in reply {
                    if stream.write_all(piece).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        });
        addr
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";

    #[tokio::test]
    async fn keep_alive_exchanges_with_split_heads_and_bodies() {
        let addr = scripted(vec![
            vec![
                b"HTTP/1.1 200 OK\r\nContent-Le",
                b"ngth: 5\r\n\r\nhe",
                b"llo",
            ],
            vec![
                b"HTTP/1.1 100 Continue\r\n\r\n",
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            ],
            vec![
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
                b"c\r\n0\r\n",
                b"\r\n",
            ],
            vec![b"HTTP/1.1 204 No Content\r\n\r\n"],
            vec![b"HTTP/1.1 503 Busy\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno"],
        ])
        .await;
        let mut conn = Raw::connect(addr).await.expect("connect");
        let ok = StatusCode::OK;
        assert_eq!(conn.exchange(GET, false, None).await, Ok((ok, true)));
        assert_eq!(
            conn.exchange(GET, false, None).await,
            Ok((StatusCode::NOT_FOUND, true))
        );
        assert_eq!(conn.exchange(GET, false, None).await, Ok((ok, true)));
        assert_eq!(
            conn.exchange(GET, false, None).await,
            Ok((StatusCode::NO_CONTENT, true))
        );
        assert_eq!(
            conn.exchange(GET, false, None).await,
            Ok((StatusCode::SERVICE_UNAVAILABLE, false)),
            "Connection: close"
        );
    }

    #[tokio::test]
    async fn bodies_until_close_stray_bytes_and_truncation() {
        let addr = scripted(vec![vec![b"HTTP/1.1 200 OK\r\n\r\nuntil the end"]]).await;
        let mut conn = Raw::connect(addr).await.expect("connect");
        assert_eq!(
            conn.exchange(GET, false, None).await,
            Ok((StatusCode::OK, false))
        );

        let addr = scripted(vec![vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab",
        ]])
        .await;
        let mut conn = Raw::connect(addr).await.expect("connect");
        assert_eq!(
            conn.exchange(GET, false, None).await,
            Ok((StatusCode::OK, false)),
            "a stray byte makes the connection unusable"
        );

        let addr = scripted(vec![vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        ]])
        .await;
        let mut conn = Raw::connect(addr).await.expect("connect");
        assert_eq!(
            conn.exchange(GET, false, None).await,
            Err(Failure::Failed(ErrorClass::Body))
        );

        let addr = scripted(vec![vec![b"HTTP/1.1 200 OK\r\nContent-"]]).await;
        let mut conn = Raw::connect(addr).await.expect("connect");
        assert_eq!(
            conn.exchange(GET, false, None).await,
            Err(Failure::Failed(ErrorClass::Io))
        );

        let addr = scripted(vec![vec![b"SMTP ready\r\n\r\n"]]).await;
        let mut conn = Raw::connect(addr).await.expect("connect");
        assert_eq!(
            conn.exchange(GET, false, None).await,
            Err(Failure::Failed(ErrorClass::Io))
        );

        let addr = scripted(vec![vec![b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"]]).await;
        let mut conn = Raw::connect(addr).await.expect("connect");
        assert_eq!(
            conn.exchange(b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\n", true, None)
                .await,
            Ok((StatusCode::OK, true)),
            "a HEAD response has no body whatever its length says"
        );
    }

    #[test]
    fn requests_serialise_once_with_every_header() {
        let mut config = crate::LoadConfig::new("http://127.0.0.1:8080/a?b=1");
        config.method = "POST".into();
        config.body = Some(b"{}".to_vec());
        config.headers.push(("x-a".into(), "1".into()));
        config.headers.push(("x-a".into(), "2".into()));
        config.tag = Some(crate::TestTag::new("t-1"));
        let target = config.prepare().expect("valid");
        let wire = String::from_utf8(serialise(&target)).expect("utf-8");
        assert!(wire.starts_with("POST /a?b=1 HTTP/1.1\r\n"), "{wire}");
        for line in [
            "x-a: 1\r\n",
            "x-a: 2\r\n",
            "host: 127.0.0.1:8080\r\n",
            "x-seawall-test: t-1\r\n",
            "baggage: seawall-test=t-1\r\n",
            "content-length: 2\r\n",
        ] {
            assert!(wire.contains(line), "{line:?} in {wire}");
        }
        assert!(wire.ends_with("\r\n\r\n{}"), "{wire}");
    }

    /// `request` as hyper's HTTP/1.1 client writes it.
    async fn hyper_wire(request: Request<Body>, want: usize) -> Vec<u8> {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(client))
                .await
                .expect("handshake");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        tokio::spawn(async move {
            let _ = sender.send_request(request).await;
        });
        let mut wire = vec![0u8; want];
        tokio::time::timeout(Duration::from_secs(5), server.read_exact(&mut wire))
            .await
            .expect("hyper writes within 5 s")
            .expect("read");
        let mut more = [0u8; 64];
        let extra = tokio::time::timeout(Duration::from_millis(50), server.read(&mut more)).await;
        assert!(extra.is_err(), "hyper wrote more: {extra:?}");
        wire
    }

    #[tokio::test]
    async fn requests_are_framed_as_hyper_frames_them() {
        let header = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (n, v) in pairs {
                map.append(*n, hyper::header::HeaderValue::from_static(v));
            }
            map
        };
        let cases: Vec<(Method, &str, HeaderMap, &'static [u8])> = vec![
            (
                Method::GET,
                "/a?b=1",
                header(&[("host", "x"), ("x-a", "1"), ("x-a", "2")]),
                b"",
            ),
            (
                Method::POST,
                "/p",
                header(&[("host", "x"), ("content-length", "2")]),
                b"{}",
            ),
            (
                Method::POST,
                "/p",
                header(&[("host", "x"), ("content-length", "0")]),
                b"",
            ),
            (Method::HEAD, "*", header(&[("host", "x")]), b""),
            (
                Method::GET,
                "http://h:1/abs?q",
                header(&[("host", "h:1")]),
                b"",
            ),
            (
                Method::PUT,
                "/te",
                header(&[
                    ("transfer-encoding", "gzip"),
                    ("content-length", "3"),
                    ("host", "x"),
                ]),
                b"abc",
            ),
            (
                Method::PUT,
                "/te",
                header(&[("transfer-encoding", "chunked"), ("host", "x")]),
                b"0123456789abcdefghij",
            ),
            (
                Method::DELETE,
                "/te",
                header(&[("transfer-encoding", "chunked"), ("host", "x")]),
                b"",
            ),
        ];
        for (method, uri, headers, body) in cases {
            let uri: Uri = uri.parse().expect("uri");
            let mut ours = Vec::new();
            write_request(&mut ours, &method, &uri, &headers, body);
            let theirs = hyper_wire(
                request(
                    method.clone(),
                    uri.clone(),
                    headers,
                    Bytes::from_static(body),
                ),
                ours.len(),
            )
            .await;
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&theirs),
                "{method} {uri}"
            );
        }
    }

    proptest::proptest! {
        /// Whatever a data row or an extracted value holds, a path or a
        /// header value that `http` accepts serialises to exactly one
        /// request line, the headers given and nothing else: CR and LF
        /// never reach the wire to start a header or a request.
        #[test]
        fn values_cannot_inject_headers(
            path in "/[ -~\r\n\t\u{80}-\u{10ffff}]{0,24}",
            value in "[ -~\r\n\t\u{0}\u{7f}\u{80}-\u{10ffff}]{0,24}",
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..32),
        ) {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, hyper::header::HeaderValue::from_static("x"));
            let breaks = |s: &str| s.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0));
            let (Some(uri), Ok(v)) = (
                target(&path),
                hyper::header::HeaderValue::from_str(&value),
            ) else {
                // Refused: the step fails before anything is written.
                return Ok(());
            };
            proptest::prop_assert!(!breaks(&path) && !breaks(&value), "{path:?} {value:?} accepted");
            headers.insert("x-user", v);
            if !body.is_empty() {
                headers.insert(header::CONTENT_LENGTH, body.len().into());
            }
            let mut wire = Vec::new();
            write_request(&mut wire, &Method::POST, &uri, &headers, &body);
            let mut parsed = [httparse::EMPTY_HEADER; 8];
            let mut req = httparse::Request::new(&mut parsed);
            let used = match req.parse(&wire) {
                Ok(httparse::Status::Complete(n)) => n,
                other => return Err(proptest::test_runner::TestCaseError::fail(format!("{other:?} for {:?}", String::from_utf8_lossy(&wire)))),
            };
            let target = uri.to_string();
            proptest::prop_assert_eq!(req.path, Some(target.as_str()));
            let names: Vec<&str> = req.headers.iter().map(|h| h.name).collect();
            let want: Vec<&str> = headers.keys().map(|n| n.as_str()).collect();
            proptest::prop_assert_eq!(names, want);
            let user = req.headers.iter().find(|h| h.name == "x-user").map(|h| h.value);
            proptest::prop_assert_eq!(user, Some(value.trim_matches(|c| c == ' ' || c == '\t').as_bytes()));
            proptest::prop_assert_eq!(&wire[used..], &body[..]);
        }
    }

    #[test]
    fn crlf_in_a_value_is_refused_before_the_wire() {
        assert!(hyper::header::HeaderValue::from_str("u-1\r\nx-admin: 1").is_err());
        assert!(hyper::header::HeaderValue::from_str("u-1\nx-admin: 1").is_err());
        assert!("/a\r\nx-admin: 1".parse::<Uri>().is_err());
        assert!("/a HTTP/1.1\r\n\r\nGET /b".parse::<Uri>().is_err());
        // `http` drops a fragment unchecked; the step's parser does not.
        assert!("/#\n".parse::<Uri>().is_ok());
        assert!(target("/#\n").is_none());
        assert!(target("/a#b\r\nx-admin: 1").is_none());
        assert!(target("/a?b=1#c").is_some());
    }

    #[tokio::test]
    async fn bodies_are_kept_when_asked_in_every_framing() {
        let addr = scripted(vec![
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe", b"llo"],
            vec![
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
                b"c\r\n2;x=1\r\nde\r\n0\r\n\r\n",
            ],
            vec![b"HTTP/1.1 200 OK\r\n\r\nuntil", b" the end"],
        ])
        .await;
        let mut conn = Raw::connect(addr).await.expect("connect");
        let mut body = b"stale".to_vec();
        let ok = StatusCode::OK;
        assert_eq!(
            conn.exchange(GET, false, Some(&mut body)).await,
            Ok((ok, true))
        );
        assert_eq!(body, b"hello");
        assert_eq!(
            conn.exchange(GET, false, Some(&mut body)).await,
            Ok((ok, true))
        );
        assert_eq!(body, b"abcde");
        assert_eq!(
            conn.exchange(GET, false, Some(&mut body)).await,
            Ok((ok, false))
        );
        assert_eq!(body, b"until the end");
    }

    /// What a keep-alive server saw: connections accepted, requests read.
    #[derive(Debug, Default)]
    struct Seen {
        accepted: std::sync::atomic::AtomicU64,
        requests: std::sync::atomic::AtomicU64,
    }

    /// A keep-alive server that answers `200 ok` (never `Connection:
    /// close`) and closes a connection once it has been idle for
    /// `idle_close`; with `answer: false` it closes at once on a request
    /// without answering.
    async fn keep_alive_server(idle_close: Duration, answer: bool) -> (SocketAddr, Arc<Seen>) {
        use std::sync::atomic::Ordering::Relaxed;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Seen::default());
        let counts = Arc::clone(&seen);
        tokio::spawn(async move {
            // Bounded by the test: the runtime ends with it.
            while let Ok((mut stream, _)) = listener.accept().await {
                counts.accepted.fetch_add(1, Relaxed);
                let counts = Arc::clone(&counts);
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    // Bounded: every pass reads bytes or ends the connection.
                    loop {
                        let mut chunk = [0u8; 1024];
                        let read = tokio::time::timeout(idle_close, stream.read(&mut chunk)).await;
                        match read {
                            Ok(Ok(n)) if n > 0 => request.extend_from_slice(&chunk[..n]),
                            _ => return,
                        }
                        if request.windows(4).any(|w| w == b"\r\n\r\n") {
                            request.clear();
                            counts.requests.fetch_add(1, Relaxed);
                            if !answer {
                                return;
                            }
                            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                            if stream.write_all(reply).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, seen)
    }

    fn counts(seen: &Seen) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (seen.accepted.load(Relaxed), seen.requests.load(Relaxed))
    }

    #[tokio::test]
    async fn a_request_on_a_connection_the_server_closed_idle_is_sent_again() {
        let (addr, seen) = keep_alive_server(Duration::from_millis(50), true).await;
        let pool = Pool::new(addr, HttpVersion::Http1, Duration::from_secs(5));
        for round in 0..3 {
            assert_eq!(
                pool.exchange(GET, false, None).await,
                Ok(StatusCode::OK),
                "round {round}"
            );
            // The server closes the connection while it idles in the pool.
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        assert_eq!(
            counts(&seen),
            (3, 3),
            "one fresh connection per request, each answered"
        );
    }

    #[tokio::test]
    async fn a_fresh_connections_failure_is_never_retried() {
        let (addr, seen) = keep_alive_server(Duration::from_secs(5), false).await;
        let pool = Pool::new(addr, HttpVersion::Http1, Duration::from_secs(5));
        assert_eq!(pool.exchange(GET, false, None).await, Err(ErrorClass::Io));
        assert_eq!(counts(&seen), (1, 1));
    }

    #[tokio::test]
    async fn a_reused_connection_answered_then_cut_is_not_retried() {
        // The first reply keeps the connection, the second is cut short:
        // the request reached the server, so its failure counts.
        let addr = scripted(vec![
            vec![b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
            vec![b"HTTP/1.1 200 OK\r\nContent-Le"],
        ])
        .await;
        let pool = Pool::new(addr, HttpVersion::Http1, Duration::from_secs(5));
        assert_eq!(pool.exchange(GET, false, None).await, Ok(StatusCode::OK));
        assert_eq!(pool.exchange(GET, false, None).await, Err(ErrorClass::Io));
    }

    #[tokio::test]
    async fn connections_idle_past_the_bound_are_not_reused() {
        let (addr, seen) = keep_alive_server(Duration::from_secs(5), true).await;
        let pool = Pool::new(addr, HttpVersion::Http1, Duration::from_secs(5))
            .with_idle_bound(Duration::from_millis(100));
        assert_eq!(pool.exchange(GET, false, None).await, Ok(StatusCode::OK));
        assert_eq!(pool.exchange(GET, false, None).await, Ok(StatusCode::OK));
        assert_eq!(counts(&seen), (1, 2), "reused within the bound");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(pool.exchange(GET, false, None).await, Ok(StatusCode::OK));
        assert_eq!(counts(&seen), (2, 3), "a fresh connection after the bound");
        assert!(
            IDLE_BOUND < Duration::from_secs(5),
            "below common server idle timeouts"
        );
    }
}
