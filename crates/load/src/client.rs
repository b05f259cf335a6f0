//! Connection pool: HTTP/1.1 keep-alive connections (one request in
//! flight each) or one shared HTTP/2 connection on hyper 1's low-level
//! client API. `seawall load` sends one fixed request millions of times,
//! so its HTTP/1.1 path skips hyper: the request is serialised once and
//! each exchange is a write and a read on a raw connection with an
//! in-place `httparse` parse (see `Raw`); scenario steps, whose requests
//! and bodies vary, go through hyper (`Pool::fetch`).
//!
//! The cap on concurrent requests is the runner's semaphore; the pool
//! itself only keeps idle connections and opens new ones.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::{http1, http2};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::config::{HttpVersion, Target};
use crate::stats::ErrorClass;

type Body = Full<Bytes>;

/// Keep-alive connections and how to make more.
#[derive(Debug)]
pub(crate) struct Pool {
    addr: SocketAddr,
    http: HttpVersion,
    timeout: Duration,
    /// Idle HTTP/1.1 connections, most recently used last.
    idle: Mutex<Vec<http1::SendRequest<Body>>>,
    /// The fixed request of [`Pool::send`], serialised on first use.
    wire: std::sync::OnceLock<Vec<u8>>,
    /// Idle fast-path HTTP/1.1 connections, most recently used last.
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
            idle: Mutex::new(Vec::new()),
            wire: std::sync::OnceLock::new(),
            raw_idle: Mutex::new(Vec::new()),
            h2: tokio::sync::Mutex::new(None),
        }
    }

    /// Send one request and read the whole response within the timeout.
    /// `Ok` carries the status of a complete response. Every call must pass
    /// the same `target` (HTTP/1.1 serialises it once, on the first call).
    pub(crate) async fn send(&self, target: &Target) -> Result<StatusCode, ErrorClass> {
        let exchange = async {
            match self.http {
                HttpVersion::Http1 => self.send_raw(target).await,
                // h2c is not the fast path: hyper's client, body read whole.
                HttpVersion::Http2 => self
                    .fetch_exchange(build(target))
                    .await
                    .map(|(status, _)| status),
            }
        };
        self.within_timeout(exchange).await
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

    /// HTTP/1.1 on the fast path: pre-serialised request, raw keep-alive
    /// connections from their own idle stack.
    async fn send_raw(&self, target: &Target) -> Result<StatusCode, ErrorClass> {
        let wire = self.wire.get_or_init(|| serialise(target));
        let idle = {
            let mut idle = self.raw_idle.lock().unwrap_or_else(|e| e.into_inner());
            idle.pop()
        };
        let mut conn = match idle {
            Some(conn) => conn,
            None => Raw::connect(self.addr).await?,
        };
        let head = target.method == hyper::Method::HEAD;
        let (status, reusable) = conn.exchange(wire, head).await?;
        if reusable {
            self.raw_idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(conn);
        }
        Ok(status)
    }

    fn take_idle(&self) -> Option<http1::SendRequest<Body>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded by the number of idle connections; closed ones are dropped.
        while let Some(sender) = idle.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    fn put_idle(&self, sender: http1::SendRequest<Body>) {
        if !sender.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sender);
        }
    }

    async fn tcp(&self) -> Result<TokioIo<TcpStream>, ErrorClass> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|_| ErrorClass::Connect)?;
        // Small requests must not wait for Nagle's algorithm.
        stream.set_nodelay(true).map_err(|_| ErrorClass::Connect)?;
        Ok(TokioIo::new(stream))
    }

    async fn connect_h1(&self) -> Result<http1::SendRequest<Body>, ErrorClass> {
        let io = self.tcp().await?;
        let (sender, connection) = http1::handshake(io)
            .await
            .map_err(|_| ErrorClass::Connect)?;
        // The connection task ends when the sender is dropped or the peer
        // closes; its error surfaces on the sender, so it is ignored here.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    async fn h2_sender(&self) -> Result<http2::SendRequest<Body>, ErrorClass> {
        let mut shared = self.h2.lock().await;
        if let Some(sender) = shared.as_ref()
            && !sender.is_closed()
        {
            return Ok(sender.clone());
        }
        let io = self.tcp().await?;
        let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|_| ErrorClass::Connect)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        *shared = Some(sender.clone());
        Ok(sender)
    }
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
fn request(
    method: hyper::Method,
    uri: hyper::Uri,
    headers: hyper::HeaderMap,
    body: Bytes,
) -> Request<Body> {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    request
}

// ---- Scenario runs: arbitrary requests whose response body is kept. ----

impl Pool {
    /// Send one request built from its parts and return the status and the
    /// whole response body, within the timeout (scenario steps extract
    /// values from the body).
    pub(crate) async fn fetch(
        &self,
        method: hyper::Method,
        uri: hyper::Uri,
        headers: hyper::HeaderMap,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), ErrorClass> {
        self.within_timeout(self.fetch_exchange(request(method, uri, headers, body)))
            .await
    }

    async fn fetch_exchange(
        &self,
        request: Request<Body>,
    ) -> Result<(StatusCode, Bytes), ErrorClass> {
        match self.http {
            HttpVersion::Http1 => {
                let mut sender = match self.take_idle() {
                    Some(s) => s,
                    None => self.connect_h1().await?,
                };
                sender.ready().await.map_err(|_| ErrorClass::Io)?;
                let response = read_all(sender.send_request(request)).await?;
                self.put_idle(sender);
                Ok(response)
            }
            HttpVersion::Http2 => {
                let mut sender = self.h2_sender().await?;
                sender.ready().await.map_err(|_| ErrorClass::Io)?;
                read_all(sender.send_request(request)).await
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

// ---- `seawall load`'s HTTP/1.1 fast path: one fixed request, pre-serialised. ----

/// Largest response head accepted (bytes).
const MAX_HEAD: usize = 64 * 1024;
/// Most response headers parsed.
const MAX_HEADERS: usize = 64;

/// A keep-alive HTTP/1.1 connection driven directly: the request is
/// written as pre-serialised bytes, the response head parsed in place with
/// `httparse`, and the body consumed from a reused buffer without being
/// kept. No per-request allocation, no connection task, no channels.
#[derive(Debug)]
pub(crate) struct Raw {
    stream: TcpStream,
    /// Read buffer; `buf[..len]` holds unread bytes of the response.
    buf: Vec<u8>,
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
        })
    }

    /// Read more bytes into the buffer; `Ok(0)` is end of stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(8 * 1024);
        }
        self.stream.read_buf(&mut self.buf).await
    }

    /// Send `request` and read the whole response. Returns its status and
    /// whether the connection can carry another request.
    pub(crate) async fn exchange(
        &mut self,
        request: &[u8],
        head: bool,
    ) -> Result<(StatusCode, bool), ErrorClass> {
        self.stream
            .write_all(request)
            .await
            .map_err(|_| ErrorClass::Io)?;
        self.buf.clear();
        // Bounded: each pass consumes a complete 1xx head or reads more
        // bytes (at most MAX_HEAD of them per head).
        loop {
            let parsed = parse_head(&self.buf, head)?;
            let Some((used, code, framing, close)) = parsed else {
                if self.buf.len() > MAX_HEAD {
                    return Err(ErrorClass::Io);
                }
                if self.fill().await.map_err(|_| ErrorClass::Io)? == 0 {
                    return Err(ErrorClass::Io);
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
            let clean = self.body(framing).await?;
            return Ok((status, clean && !close && framing != Framing::Close));
        }
    }

    /// Drop the first `n` buffered bytes.
    fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.copy_within(n.., 0);
        self.buf.truncate(self.buf.len() - n);
    }

    /// Consume the body. `Ok(true)` when it ended exactly where the
    /// response did (no stray bytes), so the connection is reusable.
    async fn body(&mut self, framing: Framing) -> Result<bool, ErrorClass> {
        match framing {
            Framing::None => Ok(self.buf.is_empty()),
            Framing::Length(mut left) => {
                // Bounded by the length: every pass consumes read bytes.
                loop {
                    let have = self.buf.len() as u64;
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
                    let used = state.advance(&self.buf)?;
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
            chunked = h
                .value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
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
    /// Consume as much of `buf` as possible; returns the bytes consumed.
    /// Incomplete lines are left in `buf` for the next call.
    fn advance(&mut self, buf: &[u8]) -> Result<usize, ErrorClass> {
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
    out.extend_from_slice(target.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(
        target
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .as_bytes(),
    );
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in &target.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&target.body);
    out
}

#[cfg(test)]
mod tests {
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
            let used = state.advance(&pending).expect("valid so far");
            pending.drain(..used);
            pending.extend_from_slice(&body[cut..]);
            let used = state.advance(&pending).expect("valid");
            assert_eq!(state, Chunked::Done, "cut at {cut}");
            assert_eq!(used, pending.len(), "cut at {cut}");
        }
        let mut state = Chunked::Size;
        assert_eq!(state.advance(b"zz\r\n"), Err(ErrorClass::Body));
        let mut state = Chunked::Size;
        assert_eq!(state.advance(b"2\r\nabXY"), Err(ErrorClass::Body));
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
        assert_eq!(conn.exchange(GET, false).await, Ok((ok, true)));
        assert_eq!(
            conn.exchange(GET, false).await,
            Ok((StatusCode::NOT_FOUND, true))
        );
        assert_eq!(conn.exchange(GET, false).await, Ok((ok, true)));
        assert_eq!(
            conn.exchange(GET, false).await,
            Ok((StatusCode::NO_CONTENT, true))
        );
        assert_eq!(
            conn.exchange(GET, false).await,
            Ok((StatusCode::SERVICE_UNAVAILABLE, false)),
            "Connection: close"
        );
    }

    #[tokio::test]
    async fn bodies_until_close_stray_bytes_and_truncation() {
        let addr = scripted(vec![vec![b"HTTP/1.1 200 OK\r\n\r\nuntil the end"]]).await;
        let mut conn = Raw::connect(addr).await.expect("connect");
        assert_eq!(conn.exchange(GET, false).await, Ok((StatusCode::OK, false)));

        let addr = scripted(vec![vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab",
        ]])
        .await;
        let mut conn = Raw::connect(addr).await.expect("connect");
        assert_eq!(
            conn.exchange(GET, false).await,
            Ok((StatusCode::OK, false)),
            "a stray byte makes the connection unusable"
        );

        let addr = scripted(vec![vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        ]])
        .await;
        let mut conn = Raw::connect(addr).await.expect("connect");
        assert_eq!(conn.exchange(GET, false).await, Err(ErrorClass::Body));

        let addr = scripted(vec![vec![b"HTTP/1.1 200 OK\r\nContent-"]]).await;
        let mut conn = Raw::connect(addr).await.expect("connect");
        assert_eq!(conn.exchange(GET, false).await, Err(ErrorClass::Io));

        let addr = scripted(vec![vec![b"SMTP ready\r\n\r\n"]]).await;
        let mut conn = Raw::connect(addr).await.expect("connect");
        assert_eq!(conn.exchange(GET, false).await, Err(ErrorClass::Io));

        let addr = scripted(vec![vec![b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"]]).await;
        let mut conn = Raw::connect(addr).await.expect("connect");
        assert_eq!(
            conn.exchange(b"HEAD / HTTP/1.1\r\nhost: x\r\n\r\n", true)
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
}
