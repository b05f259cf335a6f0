//! The HTTP/1.1 fast path. hyper's server and client are general: each
//! request crosses two HTTP/1 dispatchers, is parsed into header maps,
//! re-encoded, and handed through a channel to the task that owns the
//! upstream connection. For the common case — an HTTP/1.1 client, an
//! HTTP/1.1 upstream, ordinary heads — the sidecar does the exchange in the
//! connection's own task instead: the request head is parsed in place
//! (`httparse`), judged by the guard and rewritten into one buffer, the
//! upstream connection is a plain pooled TCP stream, and bodies are relayed
//! as they arrive (never buffered whole).
//!
//! Anything unusual but valid — an HTTP/2 preface, HTTP/1.0, `Upgrade`,
//! `CONNECT`, `Expect`, an absolute-form target — goes to hyper's server
//! with the bytes already read replayed ([`rewind::Rewind`]), at a request
//! boundary, so it is served exactly as before. A malformed or oversized
//! head, or one whose framing could be read two ways, is answered 400 (431)
//! here and the connection closed: it is never forwarded, and never handed
//! to hyper, which might read it another way (see `codec`'s framing rule).

mod codec;
#[cfg(test)]
mod fuzz;
mod rewind;

use std::mem::MaybeUninit;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, BytesMut};
use http::StatusCode;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use self::codec::{Framing, Parsed, ParsedResponse, Remaining, ResponseHead};
pub(crate) use self::rewind::Rewind;
use crate::metrics::Outcome;
use crate::proxy::{self, Call, Connection, Decided, Forward, ProxyBody};
pub(crate) use crate::raw_pool::RawPool;
use crate::raw_pool::UpConn;
use crate::trust::Screen;

/// Initial read buffer of a client connection.
const BUF: usize = 16 * 1024;

/// Room made for a read when the buffer is short of it.
const READ_ROOM: usize = 64 * 1024;

/// A body piece larger than this is written on its own rather than copied
/// behind the bytes waiting to be written.
const COALESCE: usize = 16 * 1024;

/// How many idle upstream connections a request tries before a new one
/// (each may turn out closed by the upstream).
const REUSE_TRIES: usize = 3;

/// What serving the buffer's next request came to.
enum Step {
    /// Served; the connection goes on.
    Next,
    /// Served (or not), and the connection ends.
    Close,
    /// The head is not all here yet.
    NeedMore,
    /// Leave the connection to hyper from this request on.
    Handoff,
}

/// How a fast-path connection ended.
#[derive(Debug)]
pub(crate) enum End {
    /// Closed (by either side, or after an answer that ends it).
    Closed,
    /// Leave it to hyper: these bytes were read and not used.
    Handoff(BytesMut),
}

/// One client connection on the fast path.
struct Client {
    stream: TcpStream,
    conn: Arc<Connection>,
    /// Bytes read from the client and not yet used.
    buf: BytesMut,
    /// The upstream request head (and body bytes sent with it).
    up_head: Vec<u8>,
    /// The client response head (and body bytes sent with it).
    down_head: Vec<u8>,
    drain: watch::Receiver<bool>,
    /// The connection's one timer for the header-read and keep-alive
    /// deadlines, armed once and moved only when it fires early or a
    /// deadline comes before it: arming a timer for every read would cost
    /// every keep-alive request a timer-wheel insert and removal.
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

/// A request head handled: what to do next.
enum Prepared {
    /// Answer with `down_head` (a complete response the sidecar made).
    Answer,
    /// Forward, with the head in `up_head`.
    Forward {
        fwd: Forward,
        head_request: bool,
        /// Idempotent and without a body: may be resent on another
        /// connection if a reused one turns out closed.
        retryable: bool,
    },
}

/// What a request head said about the exchange, besides the answer.
struct RequestInfo {
    head_len: usize,
    framing: Framing,
    close: bool,
}

/// Why an exchange with the upstream failed.
#[derive(Debug)]
enum UpError {
    Connect(std::io::Error),
    /// The connection broke or closed; `received` says whether any of a
    /// response had arrived.
    Io {
        error: std::io::Error,
        received: bool,
    },
    Bad(String),
    /// The client's request body broke off or was malformed.
    ClientBody,
}

impl std::fmt::Display for UpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(e) | Self::Io { error: e, .. } => write!(f, "{e}"),
            Self::Bad(m) => f.write_str(m),
            Self::ClientBody => f.write_str("the request body broke off or is malformed"),
        }
    }
}

/// A body relay failed on one side.
#[derive(Debug)]
enum RelayError {
    Read,
    Write,
    Malformed,
}

fn closed_early() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "connection closed before the message ended",
    )
}

/// Serves one client connection: the fast path while requests are plain
/// HTTP/1.1, then (if one is not) hyper with the unused bytes replayed.
pub(crate) async fn serve(
    stream: TcpStream,
    conn: Arc<Connection>,
    drain: watch::Receiver<bool>,
    hyper: Arc<crate::conn::HyperServer>,
) {
    let mut client = Client {
        stream,
        buf: BytesMut::with_capacity(BUF),
        up_head: Vec::with_capacity(1024),
        down_head: Vec::with_capacity(1024),
        timer: Box::pin(tokio::time::sleep(conn.shared.header_read_timeout)),
        conn,
        drain,
    };
    if let End::Handoff(bytes) = client.run().await {
        let Client {
            stream,
            conn,
            drain,
            ..
        } = client;
        hyper
            .serve(Rewind::new(bytes.freeze(), stream), conn, drain)
            .await;
    }
}

impl Client {
    /// Whether a graceful shutdown has begun.
    fn draining(&self) -> bool {
        // Connections subscribe before a shutdown begins (the accept loop
        // stops first), so a change is the shutdown.
        self.drain.has_changed().unwrap_or(true)
    }

    async fn run(&mut self) -> End {
        // When the head in the buffer began (for its time limit): a new
        // connection's first head is timed from the start.
        let mut first_byte = Some(tokio::time::Instant::now());
        loop {
            match self.one().await {
                Step::Next => first_byte = None,
                Step::Close => return End::Closed,
                Step::Handoff => return End::Handoff(std::mem::take(&mut self.buf)),
                Step::NeedMore => match self.read_more(&mut first_byte).await {
                    Ok(true) => {}
                    Ok(false) => return End::Closed,
                    // A connection that never sent a byte: closed.
                    Err(()) if self.buf.is_empty() => return End::Closed,
                    // A head that never ends (a slowloris): 408, closed.
                    Err(()) => {
                        let timeout = b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
                        crate::conn::answer_and_close(&mut self.stream, timeout).await;
                        return End::Closed;
                    }
                },
            }
        }
    }

    /// Reads more of a request head: `Ok(false)` when the connection ends
    /// (or a shutdown begins while it is idle, or it stays idle past the
    /// keep-alive timeout), `Err` for a head that takes longer than the
    /// header-read timeout.
    async fn read_more(
        &mut self,
        first_byte: &mut Option<tokio::time::Instant>,
    ) -> Result<bool, ()> {
        let empty = self.buf.is_empty();
        if empty && self.draining() {
            return Ok(false);
        }
        self.buf.reserve(BUF);
        let shared = &self.conn.shared;
        let (deadline, idle) = match *first_byte {
            None if empty => (tokio::time::Instant::now() + shared.keepalive_timeout, true),
            _ => (
                *first_byte.get_or_insert_with(tokio::time::Instant::now)
                    + shared.header_read_timeout,
                false,
            ),
        };
        if deadline < self.timer.deadline() {
            self.timer.as_mut().reset(deadline);
        }
        // Biased: a read that is ready is taken before the timer is looked at.
        let read = loop {
            tokio::select! {
                biased;
                r = self.stream.read_buf(&mut self.buf) => break r,
                _ = self.drain.changed(), if empty => return Ok(false),
                () = &mut self.timer => {
                    if tokio::time::Instant::now() >= deadline {
                        return if idle { Ok(false) } else { Err(()) };
                    }
                    // Armed for an earlier deadline that has moved on.
                    self.timer.as_mut().reset(deadline);
                }
            }
        };
        match read {
            Ok(0) | Err(_) => Ok(false),
            Ok(_) => {
                first_byte.get_or_insert_with(tokio::time::Instant::now);
                Ok(true)
            }
        }
    }

    /// Serves the request whose head is in the buffer, if it is all there.
    async fn one(&mut self) -> Step {
        if self.buf.is_empty() {
            return Step::NeedMore;
        }
        let started = Instant::now();
        let (prepared, info) = {
            let mut h = [MaybeUninit::uninit(); codec::MAX_HEADERS];
            let head = match codec::parse_request(&self.buf, &mut h) {
                Parsed::Head(head) => head,
                Parsed::Partial => return Step::NeedMore,
                Parsed::Unusual => return Step::Handoff,
                Parsed::Refused(r) => {
                    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST);
                    let text = format!("{}: {}\n", status.canonical_reason().unwrap_or(""), r.why);
                    let resp = proxy::text_response(status, text, None, "bad_request");
                    made(&resp, true, &mut self.down_head);
                    // Not a reset under the answer: what the client still
                    // sends is read and dropped for a moment.
                    crate::conn::answer_and_close(&mut self.stream, &self.down_head).await;
                    return Step::Close;
                }
            };
            if let Some(e) = head.bad_path {
                // No canonical path: answered here, the connection kept.
                made(&proxy::bad_path(e), head.close, &mut self.down_head);
                let (len, framing, close) = (head.len, head.framing, head.close);
                self.buf.advance(len);
                let mut body = Remaining::of(framing);
                let go_on = self.answer(&mut body, close).await;
                return if go_on { Step::Next } else { Step::Close };
            }
            // Identity headers from an untrusted peer: hyper's path strips them.
            let screen = self.conn.screen_lengths(
                head.name_lengths(),
                head.headers.iter().map(|h| (h.name, h.value)),
            );
            if screen == Screen::Strip {
                return Step::Handoff;
            }
            let refused = proxy::refusal(&screen);
            let info = RequestInfo {
                head_len: head.len,
                framing: head.framing,
                close: head.close || refused.is_some(),
            };
            let shared = &self.conn.shared;
            let decided = match refused {
                Some(resp) => Decided::Answer(resp),
                None => proxy::decide(shared, &head, started).await,
            };
            let prepared = match decided {
                Decided::Answer(resp) => {
                    made(&resp, info.close, &mut self.down_head);
                    Prepared::Answer
                }
                Decided::Forward(fwd) => {
                    let (upstream, _) = shared.upstream(fwd.gray);
                    codec::upstream_head(
                        &head,
                        upstream.base(),
                        upstream.authority(),
                        &self.conn.client,
                        &mut self.up_head,
                    );
                    if let Some(name) = &fwd.tag {
                        // Before the blank line that ends the head.
                        self.up_head.truncate(self.up_head.len().saturating_sub(2));
                        self.up_head.extend_from_slice(name.as_bytes());
                        self.up_head.extend_from_slice(b": ");
                        self.up_head.extend_from_slice(proxy::GRAY_TAG.as_bytes());
                        self.up_head.extend_from_slice(b"\r\n\r\n");
                    }
                    Prepared::Forward {
                        fwd,
                        head_request: head.method == "HEAD",
                        retryable: head.framing == Framing::Empty
                            && matches!(
                                head.method,
                                "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE"
                            ),
                    }
                }
            };
            (prepared, info)
        };
        self.buf.advance(info.head_len);
        let mut body = Remaining::of(info.framing);
        let go_on = match prepared {
            Prepared::Answer => self.answer(&mut body, info.close).await,
            Prepared::Forward {
                fwd,
                head_request,
                retryable,
            } => {
                self.forward(fwd, &mut body, info.close, head_request, retryable)
                    .await
            }
        };
        if go_on { Step::Next } else { Step::Close }
    }

    /// Sends the answer in `down_head`, after discarding the request body
    /// if it is all here already; otherwise the connection closes after it.
    async fn answer(&mut self, body: &mut Remaining, close: bool) -> bool {
        let mut rest = body.clone();
        let mut discarded = Vec::new();
        let complete = rest.take(&self.buf, &mut discarded).is_ok() && rest.is_done();
        let close = close || !complete || self.draining();
        if close {
            mark_close(&mut self.down_head);
        } else {
            discarded.clear();
            let _ = body
                .take(&self.buf, &mut discarded)
                .map(|n| self.buf.advance(n));
        }
        let ok = self.stream.write_all(&self.down_head).await.is_ok();
        if close {
            let _ = self.stream.shutdown().await;
        }
        ok && !close
    }

    /// A sidecar-made error answer for a forwarded request.
    async fn fail(
        &mut self,
        call: &mut Call,
        body: &mut Remaining,
        status: StatusCode,
        text: String,
        kind: &'static str,
        close: bool,
    ) -> bool {
        let resp = proxy::text_response(status, text, None, kind);
        made(&resp, close, &mut self.down_head);
        call.error = kind != "bad_request";
        call.metrics.count(if kind == "timeout" {
            Outcome::Timeout
        } else {
            Outcome::BadGateway
        });
        self.answer(body, close).await
    }

    /// Forwards one request and relays the response; `true` to go on.
    async fn forward(
        &mut self,
        fwd: Forward,
        body: &mut Remaining,
        close: bool,
        head_request: bool,
        retryable: bool,
    ) -> bool {
        let Forward {
            mut call,
            gray,
            timeout,
            delay,
            ..
        } = fwd;
        let shared = Arc::clone(&self.conn.shared);
        let (_, pool) = shared.upstream(gray);
        let close = close || self.draining();
        let exchange = async {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            self.exchange(pool, body, retryable, head_request, close)
                .await
        };
        let (mut up, head, sent) = match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(x)) => x,
            Err(_) => {
                let text = format!(
                    "the upstream did not answer within {} ms\n",
                    timeout.as_millis()
                );
                let close = close || !body.is_done();
                return self
                    .fail(
                        &mut call,
                        body,
                        StatusCode::GATEWAY_TIMEOUT,
                        text,
                        "timeout",
                        close,
                    )
                    .await;
            }
            Ok(Err(UpError::ClientBody)) => {
                let text = "the request body broke off or is malformed\n".to_owned();
                return self
                    .fail(
                        &mut call,
                        body,
                        StatusCode::BAD_REQUEST,
                        text,
                        "bad_request",
                        true,
                    )
                    .await;
            }
            Ok(Err(e)) => {
                let what = if matches!(e, UpError::Connect(_)) {
                    "cannot connect to the upstream"
                } else {
                    "the upstream broke the exchange"
                };
                let close = close || !body.is_done();
                return self
                    .fail(
                        &mut call,
                        body,
                        StatusCode::BAD_GATEWAY,
                        format!("{what}: {e}\n"),
                        "bad_gateway",
                        close,
                    )
                    .await;
            }
        };
        // Answered before the request body was all sent: the rest of it
        // is unread, so this connection ends with the response.
        let close = close || !sent || self.draining();
        if close {
            mark_close(&mut self.down_head);
        }
        if head.status >= 500 {
            call.error = true;
            call.metrics.count(Outcome::Upstream5xx);
        } else {
            call.metrics.count(Outcome::Ok);
        }
        up.buf.advance(head.len);
        let mut down = Remaining::of(head.framing);
        let wrap = head.framing == Framing::Close;
        let relayed = relay(
            &mut up.stream,
            &mut up.buf,
            &mut self.stream,
            &mut down,
            wrap,
            &mut self.down_head,
        )
        .await;
        let go_on = match relayed {
            Ok(()) => {
                call.ended = true;
                if sent && !head.upstream_close {
                    pool.put(up);
                }
                !close
            }
            Err(RelayError::Read | RelayError::Malformed) => {
                call.error = true;
                false
            }
            Err(RelayError::Write) => false,
        };
        drop(call);
        if close {
            let _ = self.stream.shutdown().await;
        }
        go_on
    }

    /// Sends the request (head in `up_head`, body from the client) on a
    /// pooled or new connection and reads the response head into
    /// `down_head`. Returns the connection, the head, and whether the whole
    /// request body was sent.
    async fn exchange(
        &mut self,
        pool: &RawPool,
        body: &mut Remaining,
        retryable: bool,
        head_request: bool,
        close: bool,
    ) -> Result<(UpConn, ResponseHead, bool), UpError> {
        if !body.is_done() {
            // Body bytes already here go out with the head (a chunked
            // body's re-encoded).
            let raw = body.is_raw();
            let n = body
                .take(&self.buf, &mut self.up_head)
                .map_err(|_| UpError::ClientBody)?;
            if raw {
                self.up_head.extend_from_slice(&self.buf[..n]);
            }
            self.buf.advance(n);
        }
        let mut tries = 0;
        loop {
            let mut up = match (tries < REUSE_TRIES)
                .then(|| pool.take(Instant::now()))
                .flatten()
            {
                Some(c) => c,
                None => pool.connect().await.map_err(UpError::Connect)?,
            };
            tries += 1;
            let reused = up.reused;
            match self.send(&mut up, body, head_request, close).await {
                Ok((head, sent)) => return Ok((up, head, sent)),
                // A kept-alive connection the upstream had closed: nothing
                // was answered, and the request can be sent again.
                Err(UpError::Io {
                    received: false, ..
                }) if reused && retryable => {}
                Err(e) => return Err(e),
            }
        }
    }

    async fn send(
        &mut self,
        up: &mut UpConn,
        body: &mut Remaining,
        head_request: bool,
        close: bool,
    ) -> Result<(ResponseHead, bool), UpError> {
        let io = |error| UpError::Io {
            error,
            received: false,
        };
        let UpConn { stream, buf, .. } = up;
        let (mut ur, mut uw) = stream.split();
        if body.is_done() {
            uw.write_all(&self.up_head).await.map_err(io)?;
            let head = read_head(&mut ur, buf, head_request, close, &mut self.down_head).await?;
            return Ok((head, true));
        }
        uw.write_all(&self.up_head).await.map_err(io)?;
        let mut none = Vec::new();
        let mut sending = std::pin::pin!(relay(
            &mut self.stream,
            &mut self.buf,
            &mut uw,
            body,
            false,
            &mut none,
        ));
        let first = tokio::select! {
            biased;
            s = &mut sending => Ok(s),
            h = read_head(&mut ur, buf, head_request, close, &mut self.down_head) => Err(h),
        };
        match first {
            Ok(Ok(())) => {}
            Ok(Err(RelayError::Read | RelayError::Malformed)) => return Err(UpError::ClientBody),
            // The upstream stopped reading: it may have answered.
            Ok(Err(RelayError::Write)) => {
                let head = read_head(&mut ur, buf, head_request, true, &mut self.down_head).await?;
                return Ok((head, false));
            }
            Err(head) => return head.map(|h| (h, false)),
        }
        let head = read_head(&mut ur, buf, head_request, close, &mut self.down_head).await?;
        Ok((head, true))
    }
}

/// Writes a response the sidecar made into `out`.
fn made(resp: &http::Response<ProxyBody>, close: bool, out: &mut Vec<u8>) {
    let body = resp.body().full_bytes().unwrap_or_default();
    codec::made_response(resp, body, close, out);
}

/// Adds `connection: close` to a complete response head in `head` (whose
/// body, if any, follows the blank line) unless it has one.
fn mark_close(head: &mut Vec<u8>) {
    let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") else {
        return;
    };
    if head[..end].ends_with(b"\r\nconnection: close") {
        return;
    }
    head.splice(end + 2..end + 2, b"connection: close\r\n".iter().copied());
}

/// Reads the upstream's response head (skipping interim ones) and writes
/// the client's head into `out`. Cancel-safe: everything read stays in
/// `buf`.
async fn read_head<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    head_request: bool,
    close: bool,
    out: &mut Vec<u8>,
) -> Result<ResponseHead, UpError> {
    let mut received = !buf.is_empty();
    loop {
        if !buf.is_empty() {
            match codec::parse_response(buf, head_request, close, out) {
                Ok(ParsedResponse::Head(h)) => return Ok(h),
                Ok(ParsedResponse::Interim(n)) => {
                    buf.advance(n);
                    continue;
                }
                Ok(ParsedResponse::Partial) => {}
                Err(e) => return Err(UpError::Bad(e.0)),
            }
        }
        buf.reserve(BUF);
        match r.read_buf(buf).await {
            Ok(0) => {
                return Err(UpError::Io {
                    error: closed_early(),
                    received,
                });
            }
            Ok(_) => received = true,
            Err(error) => return Err(UpError::Io { error, received }),
        }
    }
}

/// Relays a body from `r` to `w`: the bytes of it already in `rbuf` first,
/// then as they are read. `pending` (a head, usually) is written with the
/// first piece, in one write. `wrap` re-frames the body as chunks (for a
/// body delimited by the sender's close); a chunked body is re-encoded.
/// Leaves in `rbuf` what follows the body.
async fn relay<R, W>(
    r: &mut R,
    rbuf: &mut BytesMut,
    w: &mut W,
    body: &mut Remaining,
    wrap: bool,
    pending: &mut Vec<u8>,
) -> Result<(), RelayError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    loop {
        if !rbuf.is_empty() && !body.is_done() && !body.is_raw() {
            let n = body
                .take(rbuf, pending)
                .map_err(|_| RelayError::Malformed)?;
            rbuf.advance(n);
        } else if !rbuf.is_empty() && !body.is_done() {
            let n = body
                .take(rbuf, pending)
                .map_err(|_| RelayError::Malformed)?;
            if n > 0 {
                if wrap {
                    pending.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                    pending.extend_from_slice(&rbuf[..n]);
                    pending.extend_from_slice(b"\r\n");
                } else if pending.len() + n <= COALESCE {
                    pending.extend_from_slice(&rbuf[..n]);
                } else {
                    if !pending.is_empty() {
                        w.write_all(pending).await.map_err(|_| RelayError::Write)?;
                        pending.clear();
                    }
                    w.write_all(&rbuf[..n])
                        .await
                        .map_err(|_| RelayError::Write)?;
                }
                rbuf.advance(n);
            }
        }
        if body.is_done() && wrap {
            pending.extend_from_slice(b"0\r\n\r\n");
        }
        if !pending.is_empty() {
            w.write_all(pending).await.map_err(|_| RelayError::Write)?;
            pending.clear();
        }
        if body.is_done() {
            return Ok(());
        }
        if rbuf.capacity() - rbuf.len() < BUF {
            rbuf.reserve(READ_ROOM);
        }
        match r.read_buf(rbuf).await {
            Ok(0) if *body == Remaining::Close => *body = Remaining::Done,
            Ok(0) => return Err(RelayError::Read),
            Ok(_) => {}
            Err(_) => return Err(RelayError::Read),
        }
    }
}
