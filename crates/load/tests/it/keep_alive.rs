//! HTTP/1.1 keep-alive against a hand-written loopback server that closes
//! a connection after it has idled a short while, as servers do after
//! their idle timeout: `seawall load` and a scenario run count no error
//! for a connection the server closed while it waited in the pool. And a
//! data-row value with CR/LF never reaches the wire as a header.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use seawall_load::{DataSet, JourneySpec, LoadConfig, LoadProfile, TestTag, rehearse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::scenario::{entry, scenario, step};

/// What the server saw.
#[derive(Debug, Default)]
struct Seen {
    accepted: AtomicU64,
    requests: AtomicU64,
    /// Requests carrying a header named `x-injected`.
    injected: AtomicU64,
}

/// A keep-alive server: every request gets `200 ok` without
/// `Connection: close`; a connection idle for `idle_close` is closed.
async fn closing_server(idle_close: Duration) -> (SocketAddr, Arc<Seen>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let seen = Arc::new(Seen::default());
    let counts = Arc::clone(&seen);
    tokio::spawn(async move {
        // Bounded by the test: the runtime ends with it.
        while let Ok((mut stream, _)) = listener.accept().await {
            counts.accepted.fetch_add(1, Ordering::Relaxed);
            let counts = Arc::clone(&counts);
            tokio::spawn(async move {
                let mut pending = Vec::new();
                // Bounded: every pass reads bytes or ends the connection.
                loop {
                    let mut chunk = [0u8; 4096];
                    match tokio::time::timeout(idle_close, stream.read(&mut chunk)).await {
                        Ok(Ok(n)) if n > 0 => pending.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                    // Bounded: every pass takes one complete head.
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
                        pending.drain(..end + 4);
                        counts.requests.fetch_add(1, Ordering::Relaxed);
                        if head.lines().any(|l| l.starts_with("x-injected")) {
                            counts.injected.fetch_add(1, Ordering::Relaxed);
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

fn load(seen: &Seen) -> (u64, u64, u64) {
    (
        seen.accepted.load(Ordering::Relaxed),
        seen.requests.load(Ordering::Relaxed),
        seen.injected.load(Ordering::Relaxed),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_counts_no_error_for_connections_closed_idle() {
    // An arrival every 200 ms; the server closes after 60 ms of idle, so
    // every connection in the pool is dead by the next arrival.
    let (addr, seen) = closing_server(Duration::from_millis(60)).await;
    let mut c = LoadConfig::new(format!("http://{addr}/ping"));
    c.rate = Some(5.0);
    c.duration = Duration::from_millis(1500);
    c.connections = 4;
    c.timeout = Duration::from_secs(2);
    c.tag = Some(TestTag::new("run-ka"));
    let s = seawall_load::run(&c, |_| {}).await.expect("run starts");
    let (accepted, requests, _) = load(&seen);
    assert!(s.requests >= 6, "{s:?}");
    assert_eq!(s.errors.total, 0, "{:?}", s.errors);
    assert_eq!(s.ok, s.requests);
    assert_eq!(
        requests, s.requests,
        "every request reached the server once"
    );
    assert!(accepted >= s.requests - 1, "{accepted} connections");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_steps_count_no_error_for_connections_closed_idle() {
    let (addr, seen) = closing_server(Duration::from_millis(60)).await;
    let mut sc = scenario(
        addr,
        vec![entry("home", 5.0, None)],
        vec![JourneySpec {
            id: "visit".to_owned(),
            rate: 5.0,
            steps: vec![step(0, "GET", "/home")],
        }],
    );
    sc.load = LoadProfile::Fixed {
        multiple: 1.0,
        duration: Duration::from_millis(1500),
    };
    sc.connections = 4;
    let r = rehearse(&sc, |_| {}).await.expect("run");
    let (_, requests, _) = load(&seen);
    assert!(r.requests >= 6, "{}", r.requests);
    assert_eq!(r.errors, 0, "{:?}", r.entries);
    assert_eq!(
        requests, r.requests,
        "every request reached the server once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_row_values_with_crlf_never_become_headers() {
    let (addr, seen) = closing_server(Duration::from_secs(5)).await;
    let csv =
        "user,path\r\n\"u-1\r\nx-injected: 1\",ok\r\nu-2,\"a\r\nx-injected: 1\r\n\"\r\nu-3,ok\r\n";
    let mut sc = scenario(
        addr,
        vec![entry("home", 15.0, None), entry("user", 15.0, None)],
        vec![JourneySpec {
            id: "visit".to_owned(),
            rate: 15.0,
            steps: vec![step(0, "GET", "/home/{{path}}"), {
                let mut s = step(1, "POST", "/user");
                s.headers.push(("x-user".to_owned(), "{{user}}".to_owned()));
                s.body = Some("{\"user\": \"{{user}}\"}".to_owned());
                s
            }],
        }],
    );
    sc.data = vec![DataSet::parse_csv("users", "users.csv", csv).expect("csv")];
    sc.load = LoadProfile::Fixed {
        multiple: 1.0,
        duration: Duration::from_millis(1000),
    };
    let r = rehearse(&sc, |_| {}).await.expect("run");
    let (_, requests, injected) = load(&seen);
    assert_eq!(injected, 0, "a CR/LF value made a header");
    // Rows cycle u-1 (bad header), u-2 (bad path), u-3 (fine): the bad
    // steps fail before anything is written, the rest are answered.
    let home = r.entries.iter().find(|e| e.id == "home").expect("home");
    let user = r.entries.iter().find(|e| e.id == "user").expect("user");
    assert!(
        home.errors.body >= 4 && user.errors.body >= 4,
        "{:?}",
        r.entries
    );
    assert_eq!(home.errors.total, home.errors.body);
    assert_eq!(user.errors.total, user.errors.body);
    assert_eq!(requests, home.ok + user.ok, "only valid requests were sent");
    assert!(user.ok >= 4, "{:?}", r.entries);
}
