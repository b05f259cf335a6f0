//! Differential test of request boundaries: structured-random byte streams
//! (pipelined requests with every framing, odd headers, odd line endings,
//! a byte sometimes flipped) go once through a real sidecar (fast path,
//! real TCP, a recording upstream) and once through hyper's own HTTP/1
//! server parser (`hyper::server::conn::http1` over a tokio duplex). Both
//! must find the same requests — method, target (the sidecar forwards the
//! canonical path) and body bytes, in order — or the sidecar refuses
//! (400/431), having forwarded only a prefix of what hyper found. A
//! sidecar that accepted more than hyper, or cut a message elsewhere, is
//! the parser disagreement request smuggling lives on.
//!
//! Bounded: `SEAWALL_FUZZ_CASES` cases (256 by default).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::start_sidecar;
use crate::smuggling::Recorder;

const PASS_THROUGH: &str = "version: 1\nresources: []\n";

/// One request as found: method, target, body.
type Found = (String, String, Vec<u8>);

/// The requests hyper's server finds in `bytes` (each with its body read
/// whole), in order.
async fn hyper_finds(bytes: &[u8]) -> Vec<Found> {
    let found: Arc<Mutex<Vec<Found>>> = Arc::new(Mutex::new(Vec::new()));
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let rec = Arc::clone(&found);
    let served = tokio::spawn(async move {
        let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let rec = Arc::clone(&rec);
            async move {
                let method = req.method().as_str().to_owned();
                let target = req
                    .uri()
                    .path_and_query()
                    .map_or_else(|| req.uri().to_string(), |pq| pq.as_str().to_owned());
                if let Ok(body) = req.into_body().collect().await {
                    rec.lock()
                        .expect("lock")
                        .push((method, target, body.to_bytes().to_vec()));
                }
                Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(Bytes::from(
                    "ok",
                ))))
            }
        });
        // Half-close: the whole stream is written and the write side shut,
        // and every request in it is still served.
        let _ = http1::Builder::new()
            .half_close(true)
            .serve_connection(TokioIo::new(server), svc)
            .await;
    });
    let _ = client.write_all(bytes).await;
    let _ = client.shutdown().await;
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), client.read_to_end(&mut sink)).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), served).await;
    found.lock().expect("lock").clone()
}

/// The target the sidecar forwards for one hyper found: origin-form, the
/// path made canonical, `*` for `OPTIONS` only (`None`: the sidecar
/// refuses it).
fn expected_target(method: &str, target: &str) -> Option<String> {
    if target == "*" {
        return (method == "OPTIONS").then(|| target.to_owned());
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let path = seawall_guard::canonical_path(path).ok()?;
    Some(match query {
        Some(q) => format!("{path}?{q}"),
        None => path.into_owned(),
    })
}

/// What the sidecar made of `bytes`: the requests its upstream received,
/// and whether it refused something.
async fn sidecar_finds(bytes: &[u8], hyper_count: usize) -> (Vec<Found>, bool) {
    let upstream = Recorder::start().await;
    let sc = start_sidecar(&upstream.url(), PASS_THROUGH, |c| {
        c.drain_timeout = Duration::from_millis(200);
    })
    .await;
    let mut stream = TcpStream::connect(sc.addr).await.expect("connect");
    let _ = stream.write_all(bytes).await;
    let mut buf = Vec::new();
    let mut answered = 0;
    let mut refused = false;
    // Read the answers to what hyper found (fewer if the sidecar refuses
    // or closes first), then half-close and read to the end.
    let read = async {
        let mut chunk = [0u8; 8192];
        let mut ended = false;
        loop {
            while let Some((len, status)) = answer(&buf) {
                buf.drain(..len);
                if status == 400 || status == 431 {
                    refused = true;
                } else if status >= 200 {
                    answered += 1;
                }
            }
            if refused || ended {
                break;
            }
            if answered >= hyper_count {
                let _ = stream.shutdown().await;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => ended = true,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the sidecar answers or ends the connection within 10 s");
    drop(stream);
    sc.shutdown().await;
    let seen = upstream
        .settled()
        .await
        .into_iter()
        .map(|r| (r.method, r.target, r.body))
        .collect();
    (seen, refused)
}

/// The first whole response in `buf`: its length and status.
fn answer(buf: &[u8]) -> Option<(usize, u16)> {
    let mut h = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut h);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return None,
        Err(e) => panic!("not a response ({e}): {:?}", String::from_utf8_lossy(buf)),
    };
    let status = resp.code.expect("status");
    let length: usize = resp
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
        .unwrap_or(0);
    (buf.len() >= len + length).then_some((len + length, status))
}

/// Checks one stream; `Err` describes a disagreement.
///
/// Walking hyper's requests in order, each forwardable one must be the
/// sidecar's next upstream request; one whose target the sidecar refuses
/// (no canonical path, `*` for another method than `OPTIONS`) is skipped;
/// once a forwardable one is missing, the sidecar must have refused
/// (400/431) and sent nothing more. Nothing may be left over.
async fn compare(bytes: &[u8]) -> Result<(), String> {
    let hyper = hyper_finds(bytes).await;
    let (sidecar, refused) = sidecar_finds(bytes, hyper.len()).await;
    let show = |v: &[Found]| {
        v.iter()
            .map(|(m, t, b)| format!("{m} {t} {:?}", String::from_utf8_lossy(b)))
            .collect::<Vec<_>>()
    };
    let fail = |why: &str| {
        Err(format!(
            "{why}\nstream {:?}\nhyper found   {:?}\nsidecar sent  {:?} (refused: {refused})",
            String::from_utf8_lossy(bytes),
            show(&hyper),
            show(&sidecar)
        ))
    };
    let mut next = sidecar.iter();
    let mut pending = next.next();
    for (m, t, b) in &hyper {
        let Some(t) = expected_target(m, t) else {
            continue;
        };
        let want = (m.clone(), t, b.clone());
        if pending == Some(&want) {
            pending = next.next();
        } else if refused {
            break;
        } else {
            return fail("a request hyper found is missing and nothing was refused");
        }
    }
    if pending.is_some() {
        return fail("the sidecar sent a request hyper did not find (or another order)");
    }
    Ok(())
}

/// A request of the stream.
fn request() -> impl Strategy<Value = Vec<u8>> {
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]);
    let target = prop_oneof![
        8 => prop::sample::select(vec!["/", "/p", "/a/b?q=1", "/p?x=%41", "/a/./b", "//p", "/%70"]),
        1 => prop::sample::select(vec!["/%2F", "/p#f", "http://a/p", "*", "p", "/\u{e9}", "/a b"]),
    ];
    let version = prop_oneof![9 => Just("HTTP/1.1"), 1 => Just("HTTP/1.0")];
    let extra = prop::collection::vec(
        prop::sample::select(vec![
            "Host: a",
            "Host: b",
            "x-a: 1",
            "Connection: keep-alive",
            "Connection: Content-Length",
            "Connection: transfer-encoding, x-a",
            "TE: trailers",
            "Accept: */*",
            "X-Empty:",
            "x-b: \u{80}",
        ]),
        0..3,
    );
    // 0 none, 1 exact length, 2 length too short, 3 length too long,
    // 4 chunked, 5 chunked with extensions and a trailer, 6 both, 7 two
    // lengths, 8 a coding list, 9 a length of 0 with bytes after.
    let framing = prop_oneof![
        3 => Just(0u8),
        3 => Just(1u8),
        1 => Just(2u8),
        1 => Just(3u8),
        3 => Just(4u8),
        1 => Just(5u8),
        1 => Just(6u8),
        1 => Just(7u8),
        1 => Just(8u8),
        1 => Just(9u8),
    ];
    let body = prop::collection::vec(any::<u8>(), 0..24);
    let eol = prop_oneof![30 => Just("\r\n"), 1 => Just("\n")];
    (method, target, version, extra, framing, body, eol).prop_map(
        |(m, t, v, extra, framing, body, eol)| {
            let mut head = format!("{m} {t} {v}{eol}Host: h{eol}");
            for h in extra {
                head.push_str(h);
                head.push_str(eol);
            }
            let chunked = |ext: bool| {
                let mut out = Vec::new();
                for piece in body.chunks(7) {
                    let e = if ext { ";e=1" } else { "" };
                    out.extend_from_slice(format!("{:x}{e}\r\n", piece.len()).as_bytes());
                    out.extend_from_slice(piece);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(if ext {
                    b"0\r\nx-t: 1\r\n\r\n"
                } else {
                    b"0\r\n\r\n"
                });
                out
            };
            let n = body.len();
            let (lines, payload): (String, Vec<u8>) = match framing {
                0 => (String::new(), Vec::new()),
                1 => (format!("Content-Length: {n}{eol}"), body.clone()),
                2 => (format!("Content-Length: {}{eol}", n / 2), body.clone()),
                3 => (format!("Content-Length: {}{eol}", n + 3), body.clone()),
                4 => (format!("Transfer-Encoding: chunked{eol}"), chunked(false)),
                5 => (format!("Transfer-Encoding: chunked{eol}"), chunked(true)),
                6 => (
                    format!("Content-Length: {n}{eol}Transfer-Encoding: chunked{eol}"),
                    chunked(false),
                ),
                7 => (
                    format!("Content-Length: {n}{eol}Content-Length: {n}{eol}"),
                    body.clone(),
                ),
                8 => (
                    format!("Transfer-Encoding: gzip, chunked{eol}"),
                    chunked(false),
                ),
                _ => (format!("Content-Length: 0{eol}"), body.clone()),
            };
            let mut out = head.into_bytes();
            out.extend_from_slice(lines.as_bytes());
            out.extend_from_slice(eol.as_bytes());
            out.extend_from_slice(&payload);
            out
        },
    )
}

/// A stream: one to three requests, sometimes a byte flipped.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(request(), 1..4),
        prop::option::weighted(0.25, (any::<usize>(), any::<u8>())),
    )
        .prop_map(|(requests, flip)| {
            let mut bytes = requests.concat();
            if let Some((at, b)) = flip {
                let i = at % bytes.len();
                bytes[i] = b;
            }
            bytes
        })
}

fn config() -> ProptestConfig {
    let cases = std::env::var("SEAWALL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

#[test]
fn the_sidecar_and_hyper_find_the_same_requests_or_the_sidecar_refuses() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    proptest!(config(), |(bytes in stream())| {
        let checked = rt.block_on(compare(&bytes));
        prop_assert!(checked.is_ok(), "{}", checked.err().unwrap_or_default());
    });
}

/// Streams that once disagreed, or nearly: kept as regressions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_streams_agree() {
    for bytes in [
        &b"GET /p HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\nhelloGET /q HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;e=1\r\nabc\r\n0\r\nx-t: 1\r\n\r\nGET /q HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /p HTTP/1.0\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
        b"GET http://a/p?x HTTP/1.1\r\nHost: a\r\n\r\n",
        // Found by the property: on hyper's path (after an absolute-form
        // hand-off) a chunked GET body was dropped by hyper's client.
        b"GET http://a/p HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n\0\r\n0\r\n\r\n",
        // Found by the property: `*` for another method than OPTIONS was
        // forwarded on hyper's path (refused on the fast path).
        b"GET http://a/p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nDELETE * HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        // Found by the property: on hyper's path a target hyper reads as
        // the authority form (`p`) was forwarded as `/` (refused on the
        // fast path).
        b"GET http://a/p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nPOST p HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET http://a/p HTTP/1.1\r\nHost: h\r\n\r\nGET a:80 HTTP/1.1\r\nHost: h\r\n\r\n",
    ] {
        if let Err(e) = compare(bytes).await {
            panic!("{e}");
        }
    }
}
