//! The HTTP/1.1 fast path byte by byte, with a raw TCP client (so framing,
//! pipelining and connection reuse are seen exactly): pipelined requests,
//! chunked bodies both ways, a response delimited by the upstream's close,
//! HEAD/204/304, a bad head (400), connections handed to hyper mid-way
//! (HTTP/1.0, `Expect: 100-continue`), a pooled upstream connection the
//! upstream closed, and a graceful drain. Where it matters, hyper's path
//! (`fast_path = false`) must answer the same.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{any, get};
use bytes::Bytes;
use common::*;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PASS_THROUGH: &str = "version: 1\nresources: []\n";

/// One response read off a raw connection.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A raw HTTP/1.1 client connection with its read buffer.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: std::net::SocketAddr) -> Self {
        Self {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads more; `false` at the end of the stream.
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
            .await
            .expect("the sidecar answers within 10 s")
            .expect("read");
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    /// Reads one response (`head`: to a HEAD request, so no body).
    async fn response(&mut self, head: bool) -> Raw {
        let (len, status, headers) = loop {
            let mut h = [httparse::EMPTY_HEADER; 64];
            let mut r = httparse::Response::new(&mut h);
            if let httparse::Status::Complete(len) = r.parse(&self.buf).expect("a valid head") {
                let headers: Vec<(String, String)> = r
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_owned(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                break (len, r.code.expect("status"), headers);
            }
            assert!(self.fill().await, "closed before a response head");
        };
        self.buf.drain(..len);
        let mut raw = Raw {
            status,
            headers,
            body: Vec::new(),
        };
        if head || status == 204 || status == 304 || (100..200).contains(&status) {
            return raw;
        }
        if raw
            .header("transfer-encoding")
            .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let line_end = loop {
                    if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    assert!(self.fill().await, "closed inside a chunked body");
                };
                let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
                let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                    .expect("chunk size");
                while self.buf.len() < line_end + 2 + size + 2 {
                    assert!(self.fill().await, "closed inside a chunk");
                }
                if size == 0 {
                    // No trailers in these tests: the blank line ends it.
                    self.buf.drain(..line_end + 4);
                    return raw;
                }
                raw.body
                    .extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
                self.buf.drain(..line_end + 2 + size + 2);
            }
        }
        let len: usize = raw
            .header("content-length")
            .map(|v| v.parse().expect("length"))
            .unwrap_or_else(|| panic!("no framing in {raw:?}"));
        while self.buf.len() < len {
            assert!(self.fill().await, "closed inside a body");
        }
        raw.body = self.buf.drain(..len).collect();
        raw
    }

    /// Whether the sidecar closed the connection (nothing more arrives).
    async fn closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill().await
    }
}

/// The upstream: echoes the request line and body; fixed statuses.
fn app() -> Router {
    Router::new()
        .route(
            "/echo",
            any(|req: Request| async move {
                let head = format!(
                    "{} {} te={:?} ",
                    req.method(),
                    req.uri(),
                    req.headers().get("transfer-encoding")
                );
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                format!("{head}{}", String::from_utf8_lossy(&body))
            }),
        )
        .route("/204", get(|| async { StatusCode::NO_CONTENT }))
        .route(
            "/304",
            get(|| async {
                Response::builder()
                    .status(304)
                    .header("etag", "\"v1\"")
                    .body(AxumBody::empty())
                    .expect("response")
            }),
        )
        .route("/text", get(|| async { "some text" }))
        .route(
            "/chunks",
            get(|| async {
                let (tx, rx) = channel_body();
                tokio::spawn(async move {
                    for part in ["one,", "two,", "three"] {
                        let _ = tx.send(Bytes::from_static(part.as_bytes())).await;
                    }
                });
                Response::new(AxumBody::new(rx))
            }),
        )
}

async fn sidecar(fast: bool) -> Running {
    let up = serve_upstream(app()).await;
    start_sidecar(&format!("http://{up}"), PASS_THROUGH, |c| {
        c.fast_path = fast
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    for fast in PATHS {
        let sc = sidecar(fast).await;
        let mut c = Conn::open(sc.addr).await;
        c.send(
            b"GET /echo?n=1 HTTP/1.1\r\nHost: a\r\n\r\n\
              POST /echo?n=2 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody\
              GET /echo?n=3 HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .await;
        for (n, want) in [
            (1, "GET /echo?n=1 te=None "),
            (2, "POST /echo?n=2 te=None body"),
            (3, "GET /echo?n=3 te=None "),
        ] {
            let r = c.response(false).await;
            assert_eq!(r.status, 200, "fast {fast}, request {n}");
            assert_eq!(r.text(), want, "fast {fast}, request {n}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_bodies_pass_both_ways() {
    for fast in PATHS {
        let sc = sidecar(fast).await;
        let mut c = Conn::open(sc.addr).await;
        // Split mid-chunk, with an extension: the sidecar must find the end.
        c.send(b"PUT /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhel")
            .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        c.send(b"lo\r\n6\r\n world\r\n0\r\n\r\n").await;
        let r = c.response(false).await;
        assert_eq!(r.status, 200, "fast {fast}");
        assert_eq!(
            r.text(),
            "PUT /echo te=Some(\"chunked\") hello world",
            "fast {fast}"
        );
        // A streamed (chunked) response on the same connection.
        c.send(b"GET /chunks HTTP/1.1\r\nHost: a\r\n\r\n").await;
        let r = c.response(false).await;
        assert_eq!(
            r.header("transfer-encoding"),
            Some("chunked"),
            "fast {fast}"
        );
        assert_eq!(r.text(), "one,two,three", "fast {fast}");
        // A malformed chunked body: refused, and the connection ends (the
        // fast path blames the client, 400; hyper's fails the upstream
        // exchange, 502).
        c.send(b"PUT /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
            .await;
        let r = c.response(false).await;
        assert_eq!(r.status, if fast { 400 } else { 502 }, "fast {fast}");
        assert!(c.closed().await, "fast {fast}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_204_and_304_have_no_body_and_keep_the_connection() {
    for fast in PATHS {
        let sc = sidecar(fast).await;
        let mut c = Conn::open(sc.addr).await;
        c.send(b"HEAD /text HTTP/1.1\r\nHost: a\r\n\r\n").await;
        let r = c.response(true).await;
        assert_eq!(r.status, 200, "fast {fast}");
        assert_eq!(r.header("content-length"), Some("9"), "fast {fast}");
        c.send(b"GET /204 HTTP/1.1\r\nHost: a\r\n\r\nGET /304 HTTP/1.1\r\nHost: a\r\n\r\n")
            .await;
        assert_eq!(c.response(false).await.status, 204, "fast {fast}");
        let r = c.response(false).await;
        assert_eq!(r.status, 304, "fast {fast}");
        assert_eq!(r.header("etag"), Some("\"v1\""), "fast {fast}");
        // Had any of those carried a body, this would not parse.
        c.send(b"GET /text HTTP/1.1\r\nHost: a\r\n\r\n").await;
        let r = c.response(false).await;
        assert_eq!(r.text(), "some text", "fast {fast}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_request_head_gets_400() {
    for fast in PATHS {
        let sc = sidecar(fast).await;
        for bad in [
            &b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"[..],
            b"GET /\x01 HTTP/1.1\r\n\r\n",
            b"NOT HTTP AT ALL\r\n\r\n",
            // A length that is not plain digits is never forwarded.
            b"PUT /echo HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\nx",
        ] {
            let mut c = Conn::open(sc.addr).await;
            c.send(bad).await;
            let r = c.response(false).await;
            assert_eq!(r.status, 400, "fast {fast}: {bad:?}");
        }
        // The sidecar is fine afterwards.
        let got = fetch(&client(false), &sc.url("/text")).await;
        assert_eq!(got.body, "some text");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusual_requests_go_to_hyper_mid_connection() {
    let sc = sidecar(true).await;
    let mut c = Conn::open(sc.addr).await;
    // A fast-path request, then an HTTP/1.0 one pipelined behind it.
    c.send(b"GET /echo?n=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /echo?n=2 HTTP/1.0\r\n\r\n")
        .await;
    assert_eq!(c.response(false).await.text(), "GET /echo?n=1 te=None ");
    let r = c.response(false).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "GET /echo?n=2 te=None ");

    // Expect: 100-continue is hyper's: 100 first, then the answer.
    let mut c = Conn::open(sc.addr).await;
    c.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        .await;
    assert_eq!(c.response(false).await.status, 100);
    c.send(b"ok").await;
    let r = c.response(false).await;
    assert_eq!(r.text(), "POST /echo te=None ok");
}

/// An upstream that answers the first request of each connection
/// (keep-alive, with `body` and no length if `until_close`, then closing)
/// and closes a connection without answering when a second request comes.
async fn one_shot_upstream(until_close: bool) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                }
                let answer = if until_close {
                    format!("HTTP/1.1 200 OK\r\n\r\nconn {n} until close")
                } else {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nconn {n}")
                };
                let _ = s.write_all(answer.as_bytes()).await;
                if until_close {
                    return;
                }
                // The next request on this connection is never answered.
                let _ = s.read(&mut chunk).await;
            });
        }
    });
    (addr, accepted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_delimited_by_close_is_rechunked_for_the_client() {
    for fast in PATHS {
        let (up, accepted) = one_shot_upstream(true).await;
        let sc = start_sidecar(&format!("http://{up}"), PASS_THROUGH, |c| {
            c.fast_path = fast
        })
        .await;
        let mut c = Conn::open(sc.addr).await;
        for i in 1..=2 {
            c.send(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n").await;
            let r = c.response(false).await;
            assert_eq!(r.status, 200, "fast {fast}");
            assert_eq!(r.text(), format!("conn {i} until close"), "fast {fast}");
            assert_eq!(
                r.header("transfer-encoding"),
                Some("chunked"),
                "fast {fast}"
            );
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_connection_the_upstream_closed_is_retried_only_when_safe() {
    let (up, accepted) = one_shot_upstream(false).await;
    let sc = start_sidecar(&format!("http://{up}"), PASS_THROUGH, |_| {}).await;
    let mut c = Conn::open(sc.addr).await;
    c.send(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(c.response(false).await.text(), "conn 1");
    // The pooled connection takes this GET and closes unanswered: a GET
    // with no body is sent again, on a new connection.
    c.send(b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n").await;
    let r = c.response(false).await;
    assert_eq!((r.status, r.text()), (200, "conn 2".to_owned()));
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    // A POST is not: the upstream may have acted on it.
    c.send(b"POST /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx")
        .await;
    let r = c.response(false).await;
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(r.header("x-seawall-reason-kind"), Some("bad_gateway"));
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_closes_idle_connections_and_finishes_open_requests() {
    for fast in PATHS {
        let up = serve_upstream(Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(800)).await;
                "finished"
            }),
        ))
        .await;
        let mut sc = start_sidecar(&format!("http://{up}"), PASS_THROUGH, |c| {
            c.fast_path = fast;
            c.drain_timeout = Duration::from_secs(20);
        })
        .await;
        let mut idle = Conn::open(sc.addr).await;
        idle.send(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n").await;
        assert_eq!(idle.response(false).await.text(), "finished");
        let mut busy = Conn::open(sc.addr).await;
        busy.send(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n").await;
        assert!(in_flight(&sc, 1.0).await, "fast {fast}: never in flight");
        sc.begin_shutdown();
        let r = busy.response(false).await;
        assert_eq!(
            (r.status, r.text()),
            (200, "finished".to_owned()),
            "fast {fast}"
        );
        assert_eq!(r.header("connection"), Some("close"), "fast {fast}");
        assert!(busy.closed().await, "fast {fast}");
        assert!(idle.closed().await, "fast {fast}");
        let report = sc.finished().await;
        assert!(report.drained, "fast {fast}: {report:?}");
        assert_eq!(report.open_connections, 2, "fast {fast}");
    }
}
