//! Request smuggling: a corpus of raw requests whose framing is ambiguous,
//! odd or split across two messages, each sent over real TCP to a real
//! sidecar in front of a loopback upstream that records every request it
//! receives (with its raw bytes). The invariant: **one admission is exactly
//! one upstream request, with the method and path the guard decided on** —
//! or the sidecar refuses (400/431) and the upstream sees nothing. The rules
//! block `/admin`, so a second request hidden in a first one's body would
//! show up at the upstream as `/admin` without the guard having seen it.
//!
//! The fast path must answer every ambiguous vector with a refusal;
//! hyper's path (`fast_path = false`) may read some of them one way, but
//! never forwards more than the request the guard judged.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::start_sidecar;

/// Blocks `/admin` (and anything under it) for every method.
pub(crate) const BLOCK_ADMIN: &str = "version: 1\nresources:\n  - name: admin\n    routes: [{path: /admin/*}]\n    flow:\n      - {id: no-admin, count: 0}\n";

/// A request the upstream received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    /// The target as received.
    pub(crate) target: String,
    pub(crate) body: Vec<u8>,
    /// The whole message as received.
    pub(crate) raw: Vec<u8>,
}

/// A loopback upstream that parses requests strictly enough to see what a
/// typical server would (httparse, `Content-Length` or chunked), records
/// each, and answers `200` with `x-upstream: 1`. Bytes it cannot parse are
/// recorded too (method `<garbage>`), and the connection closed.
pub(crate) struct Recorder {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Arc<Mutex<Vec<Recorded>>>,
    open: Arc<AtomicUsize>,
}

impl Recorder {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let open = Arc::new(AtomicUsize::new(0));
        let (s, o) = (Arc::clone(&seen), Arc::clone(&open));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                o.fetch_add(1, Ordering::SeqCst);
                let (s, o) = (Arc::clone(&s), Arc::clone(&o));
                tokio::spawn(async move {
                    serve_recorded(stream, &s).await;
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { addr, seen, open }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What the upstream received, once every connection to it has closed
    /// (so nothing is still on its way).
    pub(crate) async fn settled(&self) -> Vec<Recorded> {
        for _ in 0..500 {
            if self.open.load(Ordering::SeqCst) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            self.open.load(Ordering::SeqCst),
            0,
            "the upstream's connections close within 5 s of the sidecar's end"
        );
        self.seen.lock().expect("lock").clone()
    }
}

async fn serve_recorded(mut stream: TcpStream, seen: &Mutex<Vec<Recorded>>) {
    let mut buf = Vec::new();
    loop {
        let (len, method, target, framing) = loop {
            let mut h = [httparse::EMPTY_HEADER; 128];
            let mut req = httparse::Request::new(&mut h);
            match req.parse(&buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let chunked = req.headers.iter().any(|h| {
                        h.name.eq_ignore_ascii_case("transfer-encoding")
                            && String::from_utf8_lossy(h.value)
                                .to_ascii_lowercase()
                                .contains("chunked")
                    });
                    let length = req
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
                    let framing = match (chunked, length) {
                        (true, _) => None,
                        (false, n) => Some(n.unwrap_or(0usize)),
                    };
                    break (
                        len,
                        req.method.unwrap_or("").to_owned(),
                        req.path.unwrap_or("").to_owned(),
                        framing,
                    );
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => {
                    garbage(seen, &buf);
                    return;
                }
            }
            if !read_more(&mut stream, &mut buf).await {
                if !buf.is_empty() {
                    garbage(seen, &buf);
                }
                return;
            }
        };
        let body_end = match framing {
            Some(n) => {
                while buf.len() < len + n {
                    if !read_more(&mut stream, &mut buf).await {
                        return;
                    }
                }
                let body = buf[len..len + n].to_vec();
                (len + n, body)
            }
            None => {
                let mut at = len;
                let mut body = Vec::new();
                loop {
                    let line_end = loop {
                        if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                            break at + i;
                        }
                        if !read_more(&mut stream, &mut buf).await {
                            return;
                        }
                    };
                    let line = String::from_utf8_lossy(&buf[at..line_end]).into_owned();
                    let Ok(size) =
                        usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                    else {
                        garbage(seen, &buf);
                        return;
                    };
                    if size == 0 {
                        // Trailer lines up to the blank one.
                        let mut t = line_end + 2;
                        loop {
                            let e = loop {
                                if let Some(i) = buf[t..].windows(2).position(|w| w == b"\r\n") {
                                    break t + i;
                                }
                                if !read_more(&mut stream, &mut buf).await {
                                    return;
                                }
                            };
                            if e == t {
                                break;
                            }
                            t = e + 2;
                        }
                        break (t + 2, body);
                    }
                    while buf.len() < line_end + 2 + size + 2 {
                        if !read_more(&mut stream, &mut buf).await {
                            return;
                        }
                    }
                    body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
                    at = line_end + 2 + size + 2;
                }
            }
        };
        let (end, body) = body_end;
        let raw: Vec<u8> = buf.drain(..end).collect();
        seen.lock().expect("lock").push(Recorded {
            method: method.clone(),
            target: target.clone(),
            body,
            raw,
        });
        let text = format!("{method} {target}");
        let answer = format!(
            "HTTP/1.1 200 OK\r\nx-upstream: 1\r\ncontent-length: {}\r\n\r\n{text}",
            text.len()
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

fn garbage(seen: &Mutex<Vec<Recorded>>, buf: &[u8]) {
    seen.lock().expect("lock").push(Recorded {
        method: "<garbage>".into(),
        target: String::from_utf8_lossy(buf).into_owned(),
        body: Vec::new(),
        raw: buf.to_vec(),
    });
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 8192];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

/// A response the client got: its status and whether the upstream made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) from_upstream: bool,
}

/// Sends `bytes` on a new connection and reads responses until `want`
/// have come or the sidecar closes the connection (hyper's server drops a
/// half-closed connection's requests, so the client does not half-close).
pub(crate) async fn exchange(addr: SocketAddr, bytes: &[u8], want: usize) -> Vec<Answer> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    // The sidecar may answer and close before all is written (a refusal).
    let _ = stream.write_all(bytes).await;
    let mut buf = Vec::new();
    let mut answers = Vec::new();
    let read_all = async {
        let mut chunk = [0u8; 8192];
        loop {
            while let Some((len, answer)) = parse_answer(&buf) {
                buf.drain(..len);
                if let Some(a) = answer {
                    answers.push(a);
                }
            }
            if answers.len() >= want {
                break;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .expect("the sidecar answers within 10 s");
    assert!(
        buf.is_empty(),
        "not a whole response: {:?}",
        String::from_utf8_lossy(&buf)
    );
    answers
}

/// The first whole response in `buf`: its length and, unless interim, the
/// answer.
fn parse_answer(buf: &[u8]) -> Option<(usize, Option<Answer>)> {
    let mut h = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut h);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return None,
        Err(e) => panic!("not a response ({e}): {:?}", String::from_utf8_lossy(buf)),
    };
    let status = resp.code.expect("status");
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
    };
    let interim = (100..200).contains(&status);
    let length: usize = if interim || status == 204 || status == 304 {
        0
    } else {
        header("content-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "a response without a length: {:?}",
                    String::from_utf8_lossy(buf)
                )
            })
    };
    if buf.len() < len + length {
        return None;
    }
    let answer = (!interim).then(|| Answer {
        status,
        from_upstream: header("x-upstream").is_some(),
    });
    Some((len + length, answer))
}

/// What a vector must come to.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Unambiguous: both paths forward exactly these (method, target,
    /// body) and the client gets their answers; the other requests in it
    /// (this many) are blocked by the guard.
    Forward(&'static [(&'static str, &'static str, &'static str)], usize),
    /// Ambiguous or malformed: the fast path answers this status and
    /// forwards nothing; hyper's path forwards at most the first request,
    /// never a hidden one.
    Refuse(u16),
}

/// The request hidden in bodies: blocked by the rules.
const HIDDEN: &str = "GET /admin/x HTTP/1.1\r\nHost: a\r\n\r\n";

/// One vector: a name, the raw bytes, what it must come to.
fn corpus() -> Vec<(&'static str, Vec<u8>, Expect)> {
    let hl = HIDDEN.len();
    let hidden_chunk = format!("{hl:x}\r\n{HIDDEN}\r\n0\r\n\r\n");
    let v = |s: String| s.into_bytes();
    use Expect::*;
    vec![
        (
            "Connection names Content-Length (the issue's exploit)",
            v(format!(
                "GET /p HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\nContent-Length: {hl}\r\n\r\n{HIDDEN}"
            )),
            Forward(&[("GET", "/p", HIDDEN)], 0),
        ),
        (
            "Connection names content-length among others, POST",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, x-a, content-length\r\nx-a: 1\r\nContent-Length: {hl}\r\n\r\n{HIDDEN}"
            )),
            Forward(&[("POST", "/p", HIDDEN)], 0),
        ),
        (
            "Connection names Transfer-Encoding",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n{hidden_chunk}"
            )),
            Forward(&[("POST", "/p", HIDDEN)], 0),
        ),
        (
            "Connection names Content-Length in HTTP/1.0 (hyper's path)",
            v(format!(
                "POST /p HTTP/1.0\r\nHost: a\r\nConnection: content-length\r\nContent-Length: {hl}\r\n\r\n{HIDDEN}"
            )),
            Forward(&[("POST", "/p", HIDDEN)], 0),
        ),
        (
            "Connection names Content-Length with Expect (hyper's path)",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nConnection: content-length\r\nContent-Length: {hl}\r\n\r\n{HIDDEN}"
            )),
            Forward(&[("POST", "/p", HIDDEN)], 0),
        ),
        (
            "a pipelined request is judged: /admin blocked",
            v(format!(
                "GET /p HTTP/1.1\r\nHost: a\r\n\r\n{HIDDEN}GET /q HTTP/1.1\r\nHost: a\r\n\r\n"
            )),
            Forward(&[("GET", "/p", ""), ("GET", "/q", "")], 1),
        ),
        (
            "a body shorter than the bytes sent: the rest is a judged request",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello{HIDDEN}"
            )),
            Forward(&[("POST", "/p", "hello")], 1),
        ),
        (
            "chunk extensions are dropped, the body kept",
            v("POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b;c=\"d;e\"\r\nhello\r\n0;x\r\n\r\n".into()),
            Forward(&[("POST", "/p", "hello")], 0),
        ),
        (
            "absolute-form target (hyper's path) for an allowed path",
            v("GET http://a/p HTTP/1.1\r\nHost: a\r\n\r\n".into()),
            Forward(&[("GET", "/p", "")], 0),
        ),
        (
            "absolute-form target for a blocked path is blocked",
            v("GET http://a/admin/x HTTP/1.1\r\nHost: a\r\n\r\n".into()),
            Forward(&[], 1),
        ),
        (
            "Upgrade: h2c with a body (hyper's path)",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings, Content-Length\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: {hl}\r\n\r\n{HIDDEN}"
            )),
            Forward(&[("POST", "/p", HIDDEN)], 0),
        ),
        // Both framings, duplicates, lists.
        (
            "CL then TE",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "TE then CL",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: {}\r\n\r\n{hidden_chunk}",
                hidden_chunk.len()
            )),
            Refuse(400),
        ),
        (
            "two different Content-Lengths",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nContent-Length: {hl}\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "two equal Content-Lengths",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: {hl}\r\nContent-Length: {hl}\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "a Content-Length list",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: {hl}, {hl}\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "a signed Content-Length",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: +{hl}\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "a hex Content-Length",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 0x{hl:x}\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "TE gzip, chunked",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n{hidden_chunk}"
            )),
            Refuse(400),
        ),
        (
            "TE chunked, gzip (not ending in chunked)",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n{hidden_chunk}"
            )),
            Refuse(400),
        ),
        (
            "TE chunked, chunked",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n{hidden_chunk}"
            )),
            Refuse(400),
        ),
        (
            "two TE lines",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n{hidden_chunk}"
            )),
            Refuse(400),
        ),
        (
            "TE with a vertical tab",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x0bchunked\r\nContent-Length: 0\r\n\r\n{hidden_chunk}"
            )),
            Refuse(400),
        ),
        (
            "TE in HTTP/1.0",
            v(format!(
                "POST /p HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{hidden_chunk}"
            )),
            Refuse(400),
        ),
        // Header syntax.
        (
            "obs-fold continuing Transfer-Encoding",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n chunked\r\nContent-Length: {hl}\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "whitespace before the colon",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\nContent-Length: 0\r\n\r\n{hidden_chunk}"
            )),
            Refuse(400),
        ),
        (
            "a bare LF ending the head",
            v(format!(
                "GET /p HTTP/1.1\nHost: a\nContent-Length: {hl}\n\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "a bare LF hiding a Content-Length line",
            v(format!(
                "GET /p HTTP/1.1\r\nHost: a\r\nX-A: 1\nContent-Length: {hl}\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "a bare CR",
            v(format!(
                "GET /p HTTP/1.1\r\nHost: a\rContent-Length: {hl}\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "NUL in a header value",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nX-A: 1\0\r\nContent-Length: {hl}\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "two Hosts",
            v(format!("GET /p HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n{HIDDEN}")),
            Refuse(400),
        ),
        (
            "too many header fields",
            v(format!(
                "GET /p HTTP/1.1\r\nHost: a\r\n{}\r\n",
                (0..120).map(|i| format!("x-{i}: 1\r\n")).collect::<String>()
            )),
            Refuse(431),
        ),
        // Chunked syntax.
        (
            "chunk size garbage",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "chunk size with junk after it",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n{:x} x\r\n{HIDDEN}\r\n0\r\n\r\n",
                hl
            )),
            Refuse(400),
        ),
        (
            "a chunk size that overflows",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "a signed chunk size",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "a chunk extension with a bare LF",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x\nhello\r\n0\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "chunk data longer than its size",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "a chunk ended by a bare LF",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        (
            "an obs-folded trailer",
            v(format!(
                "POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nx-a: 1\r\n folded\r\n\r\n{HIDDEN}"
            )),
            Refuse(400),
        ),
        // Request lines and targets.
        (
            "HTTP/0.9 request line",
            v(format!("GET /p\r\n\r\n{HIDDEN}")),
            Refuse(400),
        ),
        (
            "two spaces in the request line",
            v(format!("GET  /p HTTP/1.1\r\nHost: a\r\n\r\n{HIDDEN}")),
            Refuse(400),
        ),
        (
            "a request line with a fourth word",
            v(format!("GET /p HTTP/1.1 x\r\nHost: a\r\n\r\n{HIDDEN}")),
            Refuse(400),
        ),
        (
            "an unknown version",
            v(format!("GET /p HTTP/1.2\r\nHost: a\r\n\r\n{HIDDEN}")),
            Refuse(400),
        ),
        (
            "a target in no known form",
            v(format!("GET admin/x HTTP/1.1\r\nHost: a\r\n\r\n{HIDDEN}")),
            Refuse(400),
        ),
        (
            "a fragment in the target",
            v(format!("GET /p#/admin/x HTTP/1.1\r\nHost: a\r\n\r\n{HIDDEN}")),
            Refuse(400),
        ),
    ]
}

/// Runs every vector against one path; returns the failures.
async fn run_corpus(fast: bool) -> Vec<String> {
    let mut failures = Vec::new();
    for (name, bytes, expect) in corpus() {
        let upstream = Recorder::start().await;
        let sc = start_sidecar(&upstream.url(), BLOCK_ADMIN, |c| c.fast_path = fast).await;
        let want = match expect {
            Expect::Forward(list, blocked) => list.len() + blocked,
            Expect::Refuse(_) => 1,
        };
        let answers = exchange(sc.addr, &bytes, want).await;
        sc.shutdown().await;
        let seen = upstream.settled().await;
        let got: Vec<(String, String, String)> = seen
            .iter()
            .map(|r| {
                (
                    r.method.clone(),
                    r.target.clone(),
                    String::from_utf8_lossy(&r.body).into_owned(),
                )
            })
            .collect();
        let mut fail = |why: String| failures.push(format!("[fast {fast}] {name}: {why}"));
        // The invariant, whatever the vector.
        if seen
            .iter()
            .any(|r| r.target.contains("admin") || r.method == "<garbage>")
        {
            fail(format!(
                "a request the guard did not judge reached the upstream: {got:?}"
            ));
        }
        let upstream_answers = answers.iter().filter(|a| a.from_upstream).count();
        if upstream_answers != seen.len() {
            fail(format!(
                "{} upstream request(s) for {upstream_answers} admission(s) answered: {got:?}, {answers:?}",
                seen.len()
            ));
        }
        match expect {
            Expect::Forward(want, blocked) => {
                let blocked_answers = answers.iter().filter(|a| a.status == 429).count();
                if blocked_answers != blocked {
                    fail(format!(
                        "{blocked_answers} blocked, want {blocked}: {answers:?}"
                    ));
                }
                let want: Vec<(String, String, String)> = want
                    .iter()
                    .map(|(m, t, b)| ((*m).to_owned(), (*t).to_owned(), (*b).to_owned()))
                    .collect();
                if got != want {
                    fail(format!("forwarded {got:?}, want {want:?}"));
                }
                if answers.iter().any(|a| a.status == 400) {
                    fail(format!("refused: {answers:?}"));
                }
            }
            Expect::Refuse(status) if fast => {
                if !seen.is_empty() {
                    fail(format!("forwarded {got:?}, want nothing"));
                }
                if answers.iter().map(|a| a.status).collect::<Vec<_>>() != [status] {
                    fail(format!("answered {answers:?}, want one {status}"));
                }
            }
            Expect::Refuse(_) => {
                // hyper's path may read it one way, as one request.
                if seen.len() > 1 || seen.iter().any(|r| r.target != "/p") {
                    fail(format!("forwarded {got:?}, want at most the first request"));
                }
            }
        }
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_has_enough_vectors() {
    assert!(corpus().len() >= 25, "{}", corpus().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_admission_is_one_upstream_request_on_the_fast_path() {
    let failures = run_corpus(true).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_admission_is_one_upstream_request_on_hypers_path() {
    let failures = run_corpus(false).await;
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The harness sees a smuggled request: what the old fast path forwarded
/// for the exploit (the length dropped, the body relayed), sent
/// straight to the recording upstream, arrives as two requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recorder_sees_a_request_hidden_in_a_body() {
    let upstream = Recorder::start().await;
    let mut s = TcpStream::connect(upstream.addr).await.expect("connect");
    let old = format!("GET /p HTTP/1.1\r\nHost: a\r\n\r\n{HIDDEN}");
    s.write_all(old.as_bytes()).await.expect("write");
    s.shutdown().await.expect("shutdown");
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink).await;
    drop(s);
    let seen = upstream.settled().await;
    let targets: Vec<&str> = seen.iter().map(|r| r.target.as_str()).collect();
    assert_eq!(targets, ["/p", "/admin/x"]);
}

/// An upstream that answers the n-th request it reads (on any connection)
/// with `script[n]` as raw bytes (the last one again past the end).
async fn scripted_upstream(script: Vec<&'static [u8]>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let script = Arc::new(script);
    let served = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (script, served) = (Arc::clone(&script), Arc::clone(&served));
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    let end = loop {
                        let mut h = [httparse::EMPTY_HEADER; 64];
                        let mut req = httparse::Request::new(&mut h);
                        if let Ok(httparse::Status::Complete(len)) = req.parse(&buf) {
                            break len;
                        }
                        if !read_more(&mut s, &mut buf).await {
                            return;
                        }
                    };
                    buf.drain(..end);
                    let n = served.fetch_add(1, Ordering::SeqCst);
                    let answer = script[n.min(script.len() - 1)];
                    if s.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// Reads one response (status, body; `None` once the connection is closed)
/// off a client connection, bodies framed by length or chunks.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(u16, Vec<u8>)> {
    loop {
        let mut h = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut h);
        if let Ok(httparse::Status::Complete(len)) = resp.parse(buf) {
            let status = resp.code.expect("status");
            let header = |name: &str| {
                resp.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned())
            };
            let chunked = header("transfer-encoding").is_some();
            let length: Option<usize> = header("content-length").and_then(|v| v.parse().ok());
            assert!(
                !(chunked && length.is_some()),
                "both framings to the client"
            );
            let mut at = len;
            let mut body = Vec::new();
            if chunked {
                loop {
                    let line = loop {
                        if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
                            break at + i;
                        }
                        if !read_more(stream, buf).await {
                            return None;
                        }
                    };
                    let size = usize::from_str_radix(
                        std::str::from_utf8(&buf[at..line]).expect("size"),
                        16,
                    )
                    .expect("hex");
                    while buf.len() < line + 2 + size + 2 {
                        if !read_more(stream, buf).await {
                            return None;
                        }
                    }
                    body.extend_from_slice(&buf[line + 2..line + 2 + size]);
                    at = line + 2 + size + 2;
                    if size == 0 {
                        break;
                    }
                }
            } else {
                let n = length.expect("a length");
                while buf.len() < len + n {
                    if !read_more(stream, buf).await {
                        return None;
                    }
                }
                body.extend_from_slice(&buf[len..len + n]);
                at = len + n;
            }
            buf.drain(..at);
            return Some((status, body));
        }
        if !read_more(stream, buf).await {
            return None;
        }
    }
}

/// A malicious (or broken) upstream cannot desynchronise the client's
/// connection: its framing is rewritten as parsed (a length it names in
/// `Connection` still reaches the client), ambiguous framing is a 502,
/// and bytes it sends past a response never answer the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstreams_framing_cannot_desynchronise_the_client() {
    let cases: [(&str, &'static [u8]); 4] = [
        (
            "Connection names the length",
            b"HTTP/1.1 200 OK\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhello",
        ),
        (
            "both framings",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected",
        ),
        (
            "bytes past the body",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected",
        ),
        (
            "a chunk extension hiding a response",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x\r\nhello\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ninjected",
        ),
    ];
    for fast in crate::common::PATHS {
        for (name, first) in cases {
            let upstream = scripted_upstream(vec![
                first,
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecond",
            ])
            .await;
            let sc = start_sidecar(
                &format!("http://{upstream}"),
                "version: 1\nresources: []\n",
                |c| c.fast_path = fast,
            )
            .await;
            let mut s = TcpStream::connect(sc.addr).await.expect("connect");
            let mut buf = Vec::new();
            s.write_all(b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .expect("write");
            let one =
                tokio::time::timeout(Duration::from_secs(10), read_response(&mut s, &mut buf))
                    .await
                    .expect("answered");
            let (status, body) = one.unwrap_or_else(|| panic!("fast {fast}: {name}: no response"));
            if status == 200 {
                // `Transfer-Encoding` wins over a length (hyper's reading
                // of "both framings"; the fast path answers 502).
                let want: &[u8] = if name == "both framings" {
                    b""
                } else {
                    b"hello"
                };
                assert_eq!(body, want, "fast {fast}: {name}");
            } else {
                assert_eq!(status, 502, "fast {fast}: {name}");
            }
            // The next request on the same connection gets its own answer
            // (or the connection was closed with the first one).
            if s.write_all(b"GET /two HTTP/1.1\r\nHost: a\r\n\r\n")
                .await
                .is_ok()
                && let Some((status, body)) =
                    tokio::time::timeout(Duration::from_secs(10), read_response(&mut s, &mut buf))
                        .await
                        .expect("answered")
            {
                assert_eq!(
                    (status, body.as_slice()),
                    (200, &b"second"[..]),
                    "fast {fast}: {name}"
                );
            }
        }
    }
}

/// A refused request's client still sending its body gets the 400 (the
/// sidecar reads and drops the rest before closing, rather than resetting
/// the connection under the answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_reaches_a_client_still_sending() {
    let upstream = Recorder::start().await;
    let sc = start_sidecar(&upstream.url(), BLOCK_ADMIN, |_| {}).await;
    let s = TcpStream::connect(sc.addr).await.expect("connect");
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        let head = b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 300000\r\nTransfer-Encoding: chunked\r\n\r\n";
        let _ = w.write_all(head).await;
        let chunk = vec![b'x'; 10_000];
        for _ in 0..30 {
            if w.write_all(&chunk).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let _ = w.shutdown().await;
    });
    // The client reads only once it has sent everything.
    let _ = writer.await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), r.read_to_end(&mut got))
        .await
        .expect("the sidecar closes the connection");
    assert!(read.is_ok(), "closed cleanly, not reset: {read:?}");
    assert!(
        got.starts_with(b"HTTP/1.1 400 "),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
    sc.shutdown().await;
    assert!(upstream.settled().await.is_empty());
}
