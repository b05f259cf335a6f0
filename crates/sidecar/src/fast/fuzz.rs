//! Fuzzing the fast path's codec on stable Rust (proptest): request heads
//! (raw bytes, and heads built from a grammar with the framing and syntax
//! tricks of request smuggling mixed in), response heads, and chunked
//! bodies (valid ones built from chunks, then mutated and split anywhere).
//! Nothing may panic, and what the codec accepts must come out the other
//! side unambiguous: the upstream head parses as exactly one request whose
//! only framing header is the one parsed, with no bare LF; a chunked body
//! decodes the same however it is split, and its re-encoding decodes to
//! itself.
//!
//! The number of cases is bounded (`SEAWALL_FUZZ_CASES`, default 256 per
//! target) so CI runs them on every push; run longer locally with e.g.
//! `SEAWALL_FUZZ_CASES=100000 cargo nextest run -p seawall-sidecar fuzz`.
//! Inputs that once broke an invariant are kept in the `regression_*`
//! tests and checked on every run.

use std::mem::MaybeUninit;

use proptest::prelude::*;

use super::codec::{self, BadChunk, Framing, MAX_HEADERS, Parsed, ParsedResponse, Remaining};
use crate::headers::ClientAddr;

fn cases(default: u32) -> u32 {
    std::env::var("SEAWALL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(256),
        // Crashers are kept by hand as regression tests, not in files.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Parses `raw` as a request head; when the fast path takes it, checks the
/// head written upstream. Returns whether it was taken.
fn check_request(raw: &[u8]) -> bool {
    let mut h = [MaybeUninit::uninit(); MAX_HEADERS];
    let head = match codec::parse_request(raw, &mut h) {
        Parsed::Head(head) => head,
        Parsed::Refused(r) => {
            assert!(r.status == 400 || r.status == 431, "{r:?}");
            assert!(!r.why.is_empty());
            return false;
        }
        Parsed::Partial | Parsed::Unusual => return false,
    };
    assert!(head.len <= raw.len());
    // The line-end check agrees with a scan of every byte.
    let taken = &raw[..head.len];
    assert!(
        !memchr::memchr_iter(b'\n', taken).any(|i| i == 0 || taken[i - 1] != b'\r'),
        "a bare LF taken: {:?}",
        String::from_utf8_lossy(taken)
    );
    let client = ClientAddr::new("10.0.0.1".parse().expect("ip"));
    for base in ["", "/base"] {
        let mut out = Vec::new();
        codec::upstream_head(&head, base, "up:80", &client, &mut out);
        check_upstream_head(&out, head.framing, head.method);
    }
    true
}

/// The head written upstream: one whole request head, CRLF only, the
/// framing header exactly the parsed framing.
fn check_upstream_head(out: &[u8], framing: Framing, method: &str) {
    for (i, b) in out.iter().enumerate() {
        if *b == b'\n' {
            assert!(i > 0 && out[i - 1] == b'\r', "bare LF in {out:?}");
        }
    }
    let mut h = [httparse::EMPTY_HEADER; 256];
    let mut req = httparse::Request::new(&mut h);
    let len = match req.parse(out) {
        Ok(httparse::Status::Complete(len)) => len,
        other => panic!("{other:?}: {}", String::from_utf8_lossy(out)),
    };
    assert_eq!(len, out.len(), "one head, nothing after it");
    assert_eq!(req.method, Some(method));
    assert_eq!(req.version, Some(1));
    let lengths: Vec<&[u8]> = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| h.value)
        .collect();
    let codings: Vec<&[u8]> = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
        .map(|h| h.value)
        .collect();
    match framing {
        Framing::Chunked => {
            assert!(lengths.is_empty());
            assert_eq!(codings, [&b"chunked"[..]]);
        }
        Framing::Length(n) => {
            assert!(codings.is_empty());
            assert_eq!(lengths, [n.to_string().as_bytes()]);
        }
        Framing::Empty => {
            assert!(codings.is_empty());
            assert!(lengths.is_empty() || lengths == [&b"0"[..]], "{lengths:?}");
        }
        Framing::Close => panic!("a request delimited by close"),
    }
    let hosts = req
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("host"))
        .count();
    assert_eq!(hosts, 1, "{}", String::from_utf8_lossy(out));
}

/// Parses `raw` as a response head; a head the codec relays must come out
/// one whole response head with the parsed framing.
fn check_response(raw: &[u8], head_request: bool, close: bool) {
    let mut out = Vec::new();
    let Ok(ParsedResponse::Head(head)) = codec::parse_response(raw, head_request, close, &mut out)
    else {
        return;
    };
    assert!(head.len <= raw.len());
    let mut h = [httparse::EMPTY_HEADER; 256];
    let mut resp = httparse::Response::new(&mut h);
    let len = match resp.parse(&out) {
        Ok(httparse::Status::Complete(len)) => len,
        other => panic!("{other:?}: {}", String::from_utf8_lossy(&out)),
    };
    assert_eq!(len, out.len());
    assert!(
        !out.windows(2)
            .enumerate()
            .any(|(i, w)| w[1] == b'\n' && w[0] != b'\r' && i > 0)
    );
    let framing: Vec<(String, String)> = resp
        .headers
        .iter()
        .filter(|h| {
            h.name.eq_ignore_ascii_case("content-length")
                || h.name.eq_ignore_ascii_case("transfer-encoding")
        })
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    match head.framing {
        Framing::Chunked | Framing::Close => {
            assert_eq!(framing, [("transfer-encoding".into(), "chunked".into())]);
        }
        Framing::Length(n) => {
            assert_eq!(framing, [("content-length".into(), n.to_string())]);
        }
        Framing::Empty => assert!(framing.len() <= 1, "{framing:?}"),
    }
}

/// Decodes a chunked body fed in pieces cut at `cuts` (offsets): the
/// bytes consumed and the re-encoded body, or the error.
fn decode(body: &[u8], cuts: &[usize]) -> Result<(usize, Vec<u8>), BadChunk> {
    let mut r = Remaining::of(Framing::Chunked);
    let mut out = Vec::new();
    let mut at = 0;
    let mut ends: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    ends.push(body.len());
    ends.sort_unstable();
    for end in ends {
        while at < end && !r.is_done() {
            let used = r.take(&body[at..end], &mut out)?;
            assert!(used <= end - at);
            if used == 0 {
                break;
            }
            at += used;
        }
    }
    if r.is_done() {
        Ok((at, out))
    } else {
        Err(BadChunk)
    }
}

/// The data of a re-encoded (canonical) chunked body.
fn data_of(encoded: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut at = 0;
    loop {
        let line = encoded[at..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("size line");
        let size = usize::from_str_radix(
            std::str::from_utf8(&encoded[at..at + line]).expect("hex"),
            16,
        )
        .expect("plain hex size");
        at += line + 2;
        if size == 0 {
            return data;
        }
        data.extend_from_slice(&encoded[at..at + size]);
        at += size + 2;
    }
}

/// Mostly `common`, sometimes `odd`.
fn mostly(
    common: Vec<&'static str>,
    odd: Vec<&'static str>,
) -> impl Strategy<Value = &'static str> + Clone {
    prop_oneof![
        6 => prop::sample::select(common),
        1 => prop::sample::select(odd),
    ]
}

/// A request head from a grammar that mixes the ordinary with the tricks
/// of request smuggling.
fn request_head() -> impl Strategy<Value = Vec<u8>> {
    let method = mostly(
        vec!["GET", "POST", "PUT", "HEAD"],
        vec!["get", "CONNECT", "G@T", ""],
    );
    let target = mostly(
        vec!["/", "/p", "/p?q=1", "//p", "/a/../p", "/%70"],
        vec![
            "/%2F",
            "/%zz",
            "*",
            "http://a/p",
            "p",
            "/p#f",
            "/p q",
            "/\u{e9}",
        ],
    );
    let version = mostly(
        vec!["HTTP/1.1"],
        vec!["HTTP/1.0", "HTTP/1.2", "HTTP/2.0", "http/1.1", ""],
    );
    let header = mostly(
        vec![
            "Host: a",
            "Content-Length: 5",
            "Content-Length: 0",
            "Content-Length: 05",
            "Transfer-Encoding: chunked",
            "Transfer-Encoding: Chunked ",
            "Connection: close",
            "Connection: keep-alive, Content-Length",
            "Connection: Transfer-Encoding, Host, x-a",
            "TE: trailers",
            "x-a: 1",
            "X-Forwarded-For: 1.2.3.4",
            "Forwarded: for=1.2.3.4",
            "x-b: \u{80}\u{ff}",
        ],
        vec![
            "Host: b",
            "Content-Length: +5",
            "Content-Length: 5, 5",
            "Content-Length: 18446744073709551616",
            "Content-Length:",
            "Transfer-Encoding: gzip, chunked",
            "Transfer-Encoding: chunked, chunked",
            "Transfer-Encoding: identity",
            "Transfer-Encoding : chunked",
            " chunked",
            "\tx",
            "Connection: upgrade",
            "Upgrade: websocket",
            "Expect: 100-continue",
            "Bad Name: 1",
            "x-c: a\u{0}b",
        ],
    );
    let eol = prop_oneof![
        30 => Just("\r\n"),
        1 => prop::sample::select(vec!["\n", "\r", "\r\r\n"]),
    ];
    (
        method,
        target,
        version,
        prop::collection::vec((header, eol.clone()), 0..6),
        eol.clone(),
        eol,
    )
        .prop_map(|(m, t, v, headers, line_end, blank)| {
            let mut s = format!("{m} {t} {v}{line_end}");
            for (h, e) in headers {
                s.push_str(h);
                s.push_str(e);
            }
            s.push_str(blank);
            s.into_bytes()
        })
}

/// A valid chunked body: its chunks, with extensions and trailers, and the
/// data they carry.
fn chunked_body() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    let ext = prop::sample::select(vec!["", ";a", ";a=b", ";a=\"b;c\"", " ;x", "\t;y=1"]);
    let size_style = prop::sample::select(vec![0u8, 1, 2]);
    let trailer = prop::sample::select(vec!["", "x-sum: 1\r\n", "a: b\r\nc: \r\n"]);
    (
        prop::collection::vec(
            (prop::collection::vec(any::<u8>(), 1..40), ext, size_style),
            0..6,
        ),
        trailer,
    )
        .prop_map(|(chunks, trailer)| {
            let mut body = Vec::new();
            let mut data = Vec::new();
            for (c, ext, style) in chunks {
                let size = match style {
                    0 => format!("{:x}", c.len()),
                    1 => format!("{:X}", c.len()),
                    _ => format!("00{:x}", c.len()),
                };
                body.extend_from_slice(format!("{size}{ext}\r\n").as_bytes());
                body.extend_from_slice(&c);
                body.extend_from_slice(b"\r\n");
                data.extend_from_slice(&c);
            }
            body.extend_from_slice(b"0\r\n");
            body.extend_from_slice(trailer.as_bytes());
            body.extend_from_slice(b"\r\n");
            (body, data)
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn request_heads_from_raw_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..512)) {
        check_request(&raw);
    }

    #[test]
    fn request_heads_from_the_grammar_come_out_unambiguous(
        raw in request_head(),
        extra in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        check_request(&raw);
        let mut more = raw.clone();
        more.extend_from_slice(&extra);
        check_request(&more);
    }

    #[test]
    fn mutated_request_heads_never_panic(
        raw in request_head(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let mut raw = raw;
        for (at, b) in flips {
            if !raw.is_empty() {
                let i = at % raw.len();
                raw[i] = b;
            }
        }
        check_request(&raw);
    }

    #[test]
    fn response_heads_never_panic(
        raw in prop::collection::vec(any::<u8>(), 0..512),
        head_request in any::<bool>(),
        close in any::<bool>(),
    ) {
        check_response(&raw, head_request, close);
    }

    #[test]
    fn response_heads_from_the_grammar_come_out_unambiguous(
        status in prop::sample::select(vec!["100", "101", "200", "204", "304", "404", "999"]),
        headers in prop::collection::vec(prop::sample::select(vec![
            "Content-Length: 3", "Content-Length: 4", "Content-Length: 0", "Content-Length: x",
            "Transfer-Encoding: chunked", "Transfer-Encoding: gzip", "Connection: close",
            "Connection: content-length", "Connection: transfer-encoding, x-a", "x-a: 1",
            "Date: d", "Keep-Alive: 5",
        ]), 0..6),
        version in prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0"]),
        head_request in any::<bool>(),
        close in any::<bool>(),
    ) {
        let mut raw = format!("{version} {status} X\r\n");
        for h in headers {
            raw.push_str(h);
            raw.push_str("\r\n");
        }
        raw.push_str("\r\n");
        check_response(raw.as_bytes(), head_request, close);
    }

    #[test]
    fn valid_chunked_bodies_decode_to_their_data_however_split(
        (body, data) in chunked_body(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
        after in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut stream = body.clone();
        stream.extend_from_slice(&after);
        let (used, encoded) = decode(&stream, &cuts).expect("valid");
        prop_assert_eq!(used, body.len());
        prop_assert_eq!(data_of(&encoded), data);
        // The re-encoding is canonical: decoding it gives it back.
        let (again_used, again) = decode(&encoded, &[]).expect("re-encoded is valid");
        prop_assert_eq!(again_used, encoded.len());
        prop_assert_eq!(again, encoded);
    }

    #[test]
    fn mutated_chunked_bodies_never_panic_and_do_not_depend_on_the_split(
        (body, _) in chunked_body(),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut body = body;
        for (at, b) in flips {
            let i = at % body.len();
            body[i] = b;
        }
        let whole = decode(&body, &[]);
        let split = decode(&body, &cuts);
        prop_assert_eq!(&whole, &split);
        if let Ok((_, encoded)) = whole {
            let (_, again) = decode(&encoded, &[]).expect("re-encoded is valid");
            prop_assert_eq!(again, encoded);
        }
    }

    #[test]
    fn chunked_bodies_from_raw_bytes_never_panic(
        raw in prop::collection::vec(any::<u8>(), 0..256),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        prop_assert_eq!(decode(&raw, &[]), decode(&raw, &cuts));
    }
}

/// The grammar reaches both sides: heads the fast path takes and heads it
/// refuses (else the properties above would check little).
#[test]
fn the_grammar_reaches_the_fast_path_and_its_refusals() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = request_head();
    let (mut taken, mut refused) = (0, 0);
    for _ in 0..2000 {
        let raw = strategy.new_tree(&mut runner).expect("value").current();
        let mut h = [MaybeUninit::uninit(); MAX_HEADERS];
        match codec::parse_request(&raw, &mut h) {
            Parsed::Head(_) => taken += 1,
            Parsed::Refused(_) => refused += 1,
            _ => {}
        }
        check_request(&raw);
    }
    assert!(
        taken >= 20 && refused >= 20,
        "taken {taken}, refused {refused}"
    );
}

/// Inputs kept as regressions: the smuggling of issue 12 and its
/// neighbours, each checked for an unambiguous upstream head (or a
/// refusal).
#[test]
fn regression_inputs() {
    for (raw, taken) in [
        // `Connection` naming the framing headers.
        (&b"GET /p HTTP/1.1\r\nConnection: Content-Length\r\nContent-Length: 5\r\n\r\n"[..], true),
        (b"POST /p HTTP/1.1\r\nConnection: transfer-encoding, host\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", true),
        // A bare LF once copied as a rewritten line.
        (b"GET /p HTTP/1.1\r\nA: 1\nB: 2\r\n\r\n", false),
        // Leading blank lines (httparse skips them).
        (b"\r\n\r\nGET /p HTTP/1.1\r\n\r\n", true),
        (b"\n\nGET /p HTTP/1.1\r\n\r\n", false),
        (b"GET /p HTTP/1.1\r\nContent-Length: 0000000000000000005\r\n\r\n", true),
        (b"GET /p HTTP/1.1\r\nContent-Length: 00000000000000000005\r\n\r\n", false),
    ] {
        assert_eq!(check_request(raw), taken, "{}", String::from_utf8_lossy(raw));
    }
    for body in [
        &b"0\r\n\r\n"[..],
        b"1;\r\nx\r\n0\r\n\r\n",
        b"f\r\n0123456789abcde\r\n0\r\nt: \r\n\r\n",
    ] {
        let (_, encoded) = decode(body, &[1, 2, 3]).expect("valid");
        assert_eq!(decode(&encoded, &[]).expect("valid").1, encoded);
    }
}

/// What the framing checks cost on a typical head: parse and rewrite per
/// request, and the parts this hardening added. Not a gate (timing is
/// machine-dependent); run with
/// `cargo test --release -p seawall-sidecar --lib codec_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, run by hand"]
fn codec_cost() {
    use std::hint::black_box;
    use std::time::Instant;
    let raw = b"GET /api/orders/123?expand=items HTTP/1.1\r\nHost: shop.example\r\n\
        User-Agent: wrk/4.2\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n\
        x-caller: checkout\r\nx-request-id: 5b1e0c9a-7d3f-4d6e-9a51-0c2b1f3e8d77\r\n\r\n";
    let client = ClientAddr::new("10.0.0.1".parse().expect("ip"));
    let mut out = Vec::with_capacity(1024);
    let n = 1_000_000u32;
    let time = |name: &str, f: &mut dyn FnMut()| {
        for _ in 0..10_000 {
            f();
        }
        let start = Instant::now();
        for _ in 0..n {
            f();
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(n);
        eprintln!("{name:<40} {ns:>7.1} ns");
    };
    time("parse_request + upstream_head", &mut || {
        let mut h = [MaybeUninit::uninit(); MAX_HEADERS];
        if let Parsed::Head(head) = codec::parse_request(black_box(raw), &mut h) {
            codec::upstream_head(&head, "", "up:80", &client, &mut out);
        }
        black_box(&out);
    });
    time("  of which: canonical_path", &mut || {
        black_box(seawall_guard::canonical_path(black_box("/api/orders/123")).is_ok());
    });
    time("  of which: fragment scan", &mut || {
        black_box(memchr::memchr(
            b'#',
            black_box(b"/api/orders/123?expand=items"),
        ));
    });
}
