//! Trusted peers, timeouts and connection limits over real sockets, on the
//! fast path and on hyper's: identity headers from a peer outside
//! `trusted_peers` (a client bound to 127.0.0.2 while only 127.0.0.1/32 is
//! trusted) reach neither the guard nor the upstream, duplicates are
//! refused, a slowloris is cut off after the header-read timeout, an idle
//! keep-alive connection after the keep-alive timeout, the connection past
//! the cap gets 503, and the admin API wants its token.
//!
//! Timeouts are short and real (a few hundred ms): the sockets are real, so
//! tokio's paused clock would not hold. Every assertion runs on every
//! machine: a bound is only ever "not before the timeout" (timers never
//! fire early) and "within a generous limit".

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use common::*;
use seawall_sidecar::{Config, PeerNet, Sidecar, SidecarError, UntrustedHeaders};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// An upstream that answers `NAME` then the headers it got, one per line.
async fn echo_upstream(name: &'static str) -> String {
    let app = Router::new().fallback(move |headers: HeaderMap| async move {
        let mut out = format!("{name}\n");
        for (k, v) in &headers {
            out.push_str(&format!("{k}: {}\n", v.to_str().unwrap_or("?")));
        }
        out
    });
    format!("http://{}", serve_upstream(app).await)
}

const RULES: &str = r#"version: 1
upstreams:
  primary: {shadow_safe: false}
  gray: {shadow_safe: true}
gray:
  id: gray-618
  user_header: x-user-id
  whitelist: ["alice"]
  headers: [{name: x-canary, value: "1"}]
resources:
  - name: orders
    routes: [{path: "/api/orders/*"}]
"#;

/// A sidecar with `RULES`, a primary and a gray echo upstream, trusting
/// 127.0.0.1 only.
async fn trusting_localhost(fast_path: bool, mode: UntrustedHeaders) -> Running {
    let primary = echo_upstream("primary").await;
    let gray = echo_upstream("gray").await;
    start_sidecar(&primary, RULES, |c| {
        c.fast_path = fast_path;
        c.gray_upstream = Some(seawall_sidecar::Upstream::parse(&gray).expect("gray url"));
        c.trusted_peers = vec![PeerNet::parse("127.0.0.1/32").expect("net")];
        c.untrusted_headers = mode;
    })
    .await
}

/// A connection to `to` from the loopback address `from`.
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{from}:0").parse().expect("addr"))
        .expect("bind the client address");
    socket.connect(to).await.expect("connect")
}

/// Sends `GET path` with `headers` and `Connection: close` from `from`,
/// and reads the whole answer: (status, body-and-headers text).
async fn get_from(
    from: &str,
    to: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut s = connect_from(from, to).await;
    let mut req = format!("GET {path} HTTP/1.1\r\nhost: sidecar\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answered within 10 s")
        .expect("read");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

/// The value of header `name` in the echo part of a response (the
/// upstream's view), if it got one.
fn upstream_saw<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peers_identity_headers_reach_neither_the_guard_nor_the_upstream() {
    for fast in PATHS {
        let sc = trusting_localhost(fast, UntrustedHeaders::Strip).await;
        let spoofed = [
            ("x-seawall-test", "run-1"),
            ("x-seawall-origin", "checkout"),
            ("x-user-id", "alice"),
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "admin.example"),
            ("x-real-ip", "203.0.113.7"),
            ("forwarded", "for=203.0.113.7"),
            ("baggage", "k=v,seawall-test=run-1"),
        ];
        // From the trusted peer the guard believes the tag: tagged traffic
        // never reaches the primary, which is not shadow-safe.
        let (status, text) = get_from("127.0.0.1", sc.addr, "/api/orders/1", &[spoofed[0]]).await;
        assert_eq!(status, 503, "fast={fast}: {text}");
        assert!(text.contains("not_shadow_safe"), "fast={fast}: {text}");
        // ... and the gray rule's user header.
        let (status, text) = get_from("127.0.0.1", sc.addr, "/api/orders/1", &[spoofed[2]]).await;
        assert_eq!(status, 200, "fast={fast}: {text}");
        assert_eq!(upstream_saw(&text, "x-user-id"), Some("alice"));
        assert!(text.contains("\r\n\r\ngray\n"), "fast={fast}: {text}");

        // From an untrusted peer none of it is believed or passed on.
        let (status, text) = get_from("127.0.0.2", sc.addr, "/api/orders/1", &spoofed).await;
        assert_eq!(status, 200, "fast={fast}: the tag was believed: {text}");
        assert!(
            text.contains("\r\n\r\nprimary\n"),
            "fast={fast}: gray-routed: {text}"
        );
        for (name, _) in &spoofed[..3] {
            assert_eq!(
                upstream_saw(&text, name),
                None,
                "fast={fast}: {name} passed: {text}"
            );
        }
        assert_eq!(
            upstream_saw(&text, "x-forwarded-for"),
            Some("127.0.0.2"),
            "{text}"
        );
        assert_eq!(
            upstream_saw(&text, "x-forwarded-proto"),
            Some("http"),
            "{text}"
        );
        assert_eq!(upstream_saw(&text, "x-forwarded-host"), None, "{text}");
        assert_eq!(upstream_saw(&text, "x-real-ip"), None, "{text}");
        assert_eq!(
            upstream_saw(&text, "forwarded"),
            Some("for=127.0.0.2;proto=http"),
            "{text}"
        );
        assert_eq!(upstream_saw(&text, "baggage"), Some("k=v"), "{text}");
        // The gray rule's header match is not believed either.
        let (status, text) =
            get_from("127.0.0.2", sc.addr, "/api/orders/1", &[("x-canary", "1")]).await;
        assert_eq!(status, 200, "{text}");
        assert!(text.contains("\r\n\r\nprimary\n"), "fast={fast}: {text}");
        assert_eq!(upstream_saw(&text, "x-canary"), None, "{text}");
        // Ordinary headers pass untouched.
        let (_, text) = get_from("127.0.0.2", sc.addr, "/x", &[("x-app", "7")]).await;
        assert_eq!(upstream_saw(&text, "x-app"), Some("7"), "{text}");
        sc.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuse_mode_answers_403_and_duplicates_get_400_from_anyone() {
    for fast in PATHS {
        let sc = trusting_localhost(fast, UntrustedHeaders::Refuse).await;
        let (status, text) = get_from(
            "127.0.0.2",
            sc.addr,
            "/api/orders/1",
            &[("x-seawall-origin", "a")],
        )
        .await;
        assert_eq!(status, 403, "fast={fast}: {text}");
        assert!(text.contains("x-seawall-origin"), "{text}");
        assert!(text.contains("untrusted_header"), "{text}");
        let (status, text) = get_from("127.0.0.2", sc.addr, "/api/orders/1", &[]).await;
        assert_eq!(status, 200, "fast={fast}: {text}");
        for from in ["127.0.0.1", "127.0.0.2"] {
            for dup in [
                [("x-seawall-origin", "a"), ("X-Seawall-Origin", "b")],
                [("x-user-id", "bob"), ("x-user-id", "alice")],
                [("x-seawall-test", ""), ("x-seawall-test", "1")],
            ] {
                let (status, text) = get_from(from, sc.addr, "/api/orders/1", &dup).await;
                assert_eq!(status, 400, "fast={fast} from {from} {dup:?}: {text}");
                assert!(text.contains("duplicate_header"), "{text}");
            }
        }
        // A list header may come in several lines from a trusted peer.
        let two = [
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-for", "10.0.0.2"),
        ];
        let (status, text) = get_from("127.0.0.1", sc.addr, "/x", &two).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(
            upstream_saw(&text, "x-forwarded-for"),
            Some("10.0.0.1, 10.0.0.2, 127.0.0.1"),
            "{text}"
        );
        sc.shutdown().await;
    }
}

#[test]
fn the_defaults_trust_loopback_only_and_keep_the_admin_api_off_the_network() {
    let c = Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        "http://127.0.0.1:1",
        "r.yaml",
    )
    .expect("config");
    let lo: Vec<String> = c.trusted_peers.iter().map(ToString::to_string).collect();
    assert_eq!(lo, ["127.0.0.0/8", "::1/128"]);
    assert_eq!(c.untrusted_headers, UntrustedHeaders::Strip);
    assert_eq!(c.admin_listen, None);
    assert_eq!(c.admin_token, None);
    assert!(!c.admin_open_metrics);
    assert_eq!(c.header_read_timeout, Duration::from_secs(10));
    assert_eq!(c.keepalive_timeout, Duration::from_secs(75));
    assert_eq!(c.max_connections, 10_000);
    assert!(seawall_sidecar::ADMIN_LOOPBACK.is_loopback());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_will_not_listen_off_loopback_without_a_token() {
    let dir = temp_dir();
    let rules = dir.join("rules.yaml");
    write_rules(&rules, "version: 1\n");
    let mut config = Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        "http://127.0.0.1:1",
        &rules,
    )
    .expect("config");
    config.admin_listen = Some("0.0.0.0:0".parse().expect("addr"));
    match Sidecar::bind(config.clone()).await {
        Err(SidecarError::AdminExposed { addr }) => assert!(addr.ip().is_unspecified()),
        other => panic!("bound the admin API on 0.0.0.0 without a token: {other:?}"),
    }
    config.admin_token = Some(String::new());
    assert!(
        matches!(
            Sidecar::bind(config.clone()).await,
            Err(SidecarError::AdminExposed { .. })
        ),
        "an empty token is no token"
    );
    config.admin_token = Some("s3cret".into());
    let sidecar = Sidecar::bind(config).await.expect("with a token it may");
    assert!(sidecar.admin_addr().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_wants_its_token() {
    let up = echo_upstream("primary").await;
    let rules = "version: 1\nresources:\n  - name: r\n    routes: [{path: /r}]\n    switches: [{id: sw, fallback: {status: 503, body: off}}]\n";
    for open_metrics in [false, true] {
        let sc = start_sidecar(&up, rules, |c| {
            c.admin_token = Some("s3cret".into());
            c.admin_open_metrics = open_metrics;
        })
        .await;
        let c = client(false);
        let with = |path: &str, token: Option<&str>| {
            let mut b = request(&sc.admin_url(path));
            if let Some(t) = token {
                b = b.header("authorization", format!("Bearer {t}"));
            }
            body(b, bytes::Bytes::new())
        };
        for path in ["/rules", "/status"] {
            let got = send(&c, with(path, None)).await;
            assert_eq!(got.status, 401, "{path}: {}", got.body);
            assert!(got.header("www-authenticate").is_some());
            assert_eq!(send(&c, with(path, Some("wrong"))).await.status, 401);
            assert_eq!(send(&c, with(path, Some("s3cret"))).await.status, 200);
            let lower = request(&sc.admin_url(path)).header("authorization", "bearer s3cret");
            assert_eq!(send(&c, body(lower, bytes::Bytes::new())).await.status, 200);
            let basic = request(&sc.admin_url(path)).header("authorization", "Basic s3cret");
            assert_eq!(send(&c, body(basic, bytes::Bytes::new())).await.status, 401);
        }
        let flip = |token: Option<&str>| {
            let mut b = http::Request::put(sc.admin_url("/switches/sw"));
            if let Some(t) = token {
                b = b.header("authorization", format!("Bearer {t}"));
            }
            body(b, "on")
        };
        assert_eq!(send(&c, flip(None)).await.status, 401);
        assert_eq!(
            fetch(&c, &sc.url("/r")).await.status,
            200,
            "the switch flipped"
        );
        assert_eq!(send(&c, flip(Some("s3cret"))).await.status, 200);
        assert_eq!(fetch(&c, &sc.url("/r")).await.status, 503);
        assert_eq!(fetch(&c, &sc.admin_url("/healthz")).await.status, 200);
        let metrics = fetch(&c, &sc.admin_url("/metrics")).await.status;
        assert_eq!(metrics, if open_metrics { 200 } else { 401 });
        assert_eq!(send(&c, with("/metrics", Some("s3cret"))).await.status, 200);
        sc.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_is_cut_off_after_the_header_read_timeout() {
    let up = echo_upstream("primary").await;
    let limit = Duration::from_millis(400);
    for fast in PATHS {
        let sc = start_sidecar(&up, "version: 1\n", |c| {
            c.fast_path = fast;
            c.header_read_timeout = limit;
        })
        .await;
        for (what, target) in [("proxy", sc.addr), ("admin", sc.admin)] {
            let s = TcpStream::connect(target).await.expect("connect");
            let (mut r, mut w) = s.into_split();
            let started = Instant::now();
            w.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
                .await
                .expect("write");
            // A header byte every 50 ms (for at most 10 s): the head never
            // ends, but bytes keep coming.
            let drip = tokio::spawn(async move {
                for _ in 0..200 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    if w.write_all(b"x").await.is_err() {
                        return;
                    }
                }
            });
            let mut got = Vec::new();
            let closed =
                tokio::time::timeout(Duration::from_secs(10), r.read_to_end(&mut got)).await;
            drip.abort();
            assert!(
                closed.is_ok(),
                "fast={fast} {what}: a slow head kept the connection 10 s"
            );
            let took = started.elapsed();
            assert!(
                took >= limit,
                "fast={fast} {what}: closed after {took:?}, before the timeout"
            );
            let text = String::from_utf8_lossy(&got);
            assert!(
                !text.contains(" 200 ") && !text.contains("primary"),
                "fast={fast} {what}: the request was served: {text}"
            );
            if fast && what == "proxy" {
                assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
            }
        }
        sc.shutdown().await;
    }
}

/// One `GET /` on `s`, kept alive: reads the response head and its body
/// (`content-length` bytes).
async fn one_keepalive_request(s: &mut TcpStream) -> String {
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .expect("a content-length");
            if body.len() >= len {
                return text;
            }
        }
        let n = tokio::time::timeout(deadline - Instant::now(), s.read(&mut buf))
            .await
            .expect("answered within 10 s")
            .expect("read");
        assert!(n > 0, "closed before answering: {text}");
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keepalive_connection_is_closed_after_the_keepalive_timeout() {
    let up = echo_upstream("primary").await;
    let idle = Duration::from_millis(400);
    for fast in PATHS {
        let sc = start_sidecar(&up, "version: 1\n", |c| {
            c.fast_path = fast;
            c.keepalive_timeout = idle;
        })
        .await;
        let mut s = TcpStream::connect(sc.addr).await.expect("connect");
        // Two requests on the connection: it is kept alive between them.
        for _ in 0..2 {
            let text = one_keepalive_request(&mut s).await;
            assert!(text.starts_with("HTTP/1.1 200 "), "fast={fast}: {text}");
        }
        let started = Instant::now();
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
        assert!(
            closed.is_ok(),
            "fast={fast}: an idle connection stayed open 10 s"
        );
        let took = started.elapsed();
        assert!(
            took >= idle - Duration::from_millis(50),
            "fast={fast}: closed after {took:?}"
        );
        assert!(
            rest.is_empty(),
            "fast={fast}: {:?}",
            String::from_utf8_lossy(&rest)
        );
        sc.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_past_the_cap_gets_503_and_a_freed_slot_is_used_again() {
    let up = echo_upstream("primary").await;
    for fast in PATHS {
        let sc = start_sidecar(&up, "version: 1\n", |c| {
            c.fast_path = fast;
            c.max_connections = 2;
        })
        .await;
        let mut open = Vec::new();
        for _ in 0..2 {
            let mut s = TcpStream::connect(sc.addr).await.expect("connect");
            let text = one_keepalive_request(&mut s).await;
            assert!(text.starts_with("HTTP/1.1 200 "), "fast={fast}: {text}");
            open.push(s);
        }
        // The third is answered at once, without a request, and closed.
        let mut third = TcpStream::connect(sc.addr).await.expect("connect");
        let mut got = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), third.read_to_end(&mut got))
            .await
            .expect("closed within 10 s")
            .expect("read");
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 503 "), "fast={fast}: {text}");
        assert!(text.contains("connection: close"), "{text}");
        assert!(text.contains("too many open connections"), "{text}");
        // The open ones still work.
        let text = one_keepalive_request(&mut open[0]).await;
        assert!(text.starts_with("HTTP/1.1 200 "), "fast={fast}: {text}");
        // Close one: its slot serves a new connection (once the sidecar
        // has seen the close).
        drop(open.pop());
        let served = eventually(Duration::from_secs(10), || async {
            let Ok(mut s) = TcpStream::connect(sc.addr).await else {
                return false;
            };
            if s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .await
                .is_err()
            {
                return false;
            }
            let mut got = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got)).await;
            got.starts_with(b"HTTP/1.1 200 ")
        })
        .await;
        assert!(served, "fast={fast}: the freed slot was not used again");
        let m = fetch(&client(false), &sc.admin_url("/metrics")).await.body;
        let refused = sample(&m, "seawall_sidecar_connections_refused_total", &[]).unwrap_or(0.0);
        assert!(refused >= 1.0, "fast={fast}: {refused}");
        sc.shutdown().await;
    }
}

/// Answers every request itself (a switch that is on), so the paused-clock
/// test needs no upstream socket whose traffic the clock would race.
const LOCAL_ANSWER: &str = r#"version: 1
resources:
  - name: all
    routes: [{path: "/*"}, {path: "/"}]
    switches: [{id: local, on: true, fallback: {status: 200, body: local}}]
"#;

/// The default timeouts themselves, on tokio's paused clock: it jumps to the
/// next timer whenever every task waits, so 10 s and 75 s pass at once
/// and are measured exactly.
#[tokio::test(start_paused = true)]
async fn the_default_timeouts_hold_on_a_paused_clock() {
    for fast in PATHS {
        let sc = start_sidecar("http://127.0.0.1:9", LOCAL_ANSWER, |c| {
            c.fast_path = fast;
            c.reload_interval = Duration::from_secs(3600);
            c.header_read_timeout = seawall_sidecar::DEFAULT_HEADER_READ_TIMEOUT;
            c.keepalive_timeout = seawall_sidecar::DEFAULT_KEEPALIVE_TIMEOUT;
        })
        .await;
        // Half a head, then nothing: closed after the header-read timeout.
        let mut s = TcpStream::connect(sc.addr).await.expect("connect");
        let started = tokio::time::Instant::now();
        s.write_all(b"GET / HTTP/1.1\r\nhost:")
            .await
            .expect("write");
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got).await;
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(10) && took < Duration::from_secs(11),
            "fast={fast}: half a head closed after {took:?}"
        );
        // A served keep-alive connection left idle: closed after the
        // keep-alive timeout (hyper's path: its head timer, 10 s).
        let mut s = TcpStream::connect(sc.addr).await.expect("connect");
        let text = one_keepalive_request(&mut s).await;
        assert!(text.starts_with("HTTP/1.1 200 "), "fast={fast}: {text}");
        assert!(text.ends_with("local"), "fast={fast}: {text}");
        let started = tokio::time::Instant::now();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
        let took = started.elapsed();
        let want = if fast { 75 } else { 10 };
        assert!(
            took >= Duration::from_secs(want) && took < Duration::from_secs(want + 1),
            "fast={fast}: idle connection closed after {took:?}, want {want} s"
        );
        assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
        sc.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_port_serves_at_most_64_connections() {
    let up = echo_upstream("primary").await;
    let sc = start_sidecar(&up, "version: 1\n", |_| {}).await;
    let mut open = Vec::new();
    for _ in 0..64 {
        let mut s = TcpStream::connect(sc.admin).await.expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 512];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
            .await
            .expect("answered")
            .expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200 "));
        open.push(s);
    }
    let mut extra = TcpStream::connect(sc.admin).await.expect("connect");
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), extra.read_to_end(&mut got)).await;
    assert!(read.is_ok(), "the 65th admin connection was kept open");
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    // A closed one frees its place.
    drop(open.pop());
    let served = eventually(Duration::from_secs(10), || async {
        let c = client(false);
        let req = body(request(&sc.admin_url("/healthz")), bytes::Bytes::new());
        c.request(req).await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(served);
    sc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_after_the_keepalive_timeout() {
    let up = echo_upstream("primary").await;
    let idle = Duration::from_millis(400);
    let sc = start_sidecar(&up, "version: 1\n", |c| c.keepalive_timeout = idle).await;
    // A request over h2c first: the connection is in use, then idle.
    let c = client(true);
    assert_eq!(fetch(&c, &sc.url("/x")).await.status, 200);
    // A raw h2c connection: the preface and an empty SETTINGS frame, then
    // nothing. The sidecar answers with its SETTINGS, then (idle) GOAWAY
    // and a close.
    let mut s = TcpStream::connect(sc.addr).await.expect("connect");
    let started = Instant::now();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("write");
    // Read frames, answering PINGs as a client does (a graceful HTTP/2
    // shutdown waits for a PING's answer before its last GOAWAY), until
    // the sidecar closes.
    let mut got: Vec<u8> = Vec::new();
    let mut types = Vec::new();
    let exchange = async {
        let mut buf = [0u8; 4096];
        loop {
            while got.len() >= 9 {
                let len =
                    (usize::from(got[0]) << 16) | (usize::from(got[1]) << 8) | usize::from(got[2]);
                if got.len() < 9 + len {
                    break;
                }
                let (kind, flags) = (got[3], got[4]);
                types.push(kind);
                if kind == 6 && flags & 1 == 0 && len == 8 {
                    let mut ack = vec![0, 0, 8, 6, 1, 0, 0, 0, 0];
                    ack.extend_from_slice(&got[9..17]);
                    let _ = s.write_all(&ack).await;
                }
                got.drain(..9 + len);
            }
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    let closed = tokio::time::timeout(Duration::from_secs(10), exchange).await;
    assert!(
        closed.is_ok(),
        "an idle HTTP/2 connection stayed open 10 s: frames {types:?}"
    );
    let took = started.elapsed();
    assert!(
        took >= idle - Duration::from_millis(50),
        "closed after {took:?}"
    );
    // A GOAWAY (frame type 7) said why.
    assert!(types.contains(&7), "no GOAWAY among frames {types:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_parameter_header_sent_twice_is_refused() {
    let up = echo_upstream("primary").await;
    let rules = "version: 1\nresources:\n  - name: items\n    routes: [{path: /items}]\n    hot_params: [{id: hot-item, source: header, name: x-item, count: 1000}]\n";
    for fast in PATHS {
        let sc = start_sidecar(&up, rules, |c| c.fast_path = fast).await;
        // Anyone may send it once (it is not an identity header) ...
        let (status, text) = get_from("127.0.0.2", sc.addr, "/items", &[("x-item", "7")]).await;
        assert_eq!(status, 200, "fast={fast}: {text}");
        assert_eq!(upstream_saw(&text, "x-item"), Some("7"), "{text}");
        // ... but twice the guard would count one value and the upstream
        // might serve the other.
        let two = [("x-item", "7"), ("x-item", "8")];
        let (status, text) = get_from("127.0.0.1", sc.addr, "/items", &two).await;
        assert_eq!(status, 400, "fast={fast}: {text}");
        assert!(text.contains("x-item"), "{text}");
        sc.shutdown().await;
    }
}
