//! The accept loop's limits on real sockets: a slowloris client (headers
//! trickled, or nothing sent) is disconnected after the header timeout; a
//! connection over the cap is answered 503 at once and a slot freed is
//! used again; an ordinary request is cut at the request timeout while a
//! long poll outlives it, bounded by its own timeout.

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use seawall_server::{AppState, Server, ServerError, TransportLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Running {
    addr: SocketAddr,
    admin: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), ServerError>>>,
    _dir: common::TempDir,
}

impl Running {
    async fn start(limits: TransportLimits) -> Running {
        let dir = common::TempDir::new();
        let store = seawall_store::open(&seawall_store::StoreSpec::Sqlite(
            dir.path().join("seawall.db"),
        ))
        .await
        .expect("open store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let server = Server::with_state(listener, AppState::new(store, dir.path()))
            .await
            .expect("server")
            .with_transport(limits);
        let admin = server
            .bootstrap_token()
            .expect("first start")
            .secret
            .clone();
        let addr = server.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Running {
            addr,
            admin,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("running");
        tokio::time::timeout(Duration::from_secs(15), task)
            .await
            .expect("stops")
            .expect("task")
            .expect("clean stop");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// One request on a fresh connection (`connection: close`); the whole
/// answer as text, within 20 s.
async fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .expect("answered within 20 s")
        .expect("read");
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether the server has closed `s` (EOF or reset), reading what comes.
async fn closed_within(s: &mut TcpStream, bound: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_is_closed_after_the_header_timeout() {
    let limits = TransportLimits {
        header_timeout: Duration::from_millis(500),
        ..TransportLimits::default()
    };
    let server = Running::start(limits).await;

    // Headers trickled a byte every 100 ms, never finished.
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed = false;
    for byte in head.iter() {
        if slow.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        if closed_within(&mut slow, Duration::from_millis(100)).await {
            closed = true;
            break;
        }
    }
    let took = started.elapsed();
    assert!(closed, "the trickling client was never disconnected");
    assert!(
        took >= Duration::from_millis(400),
        "closed too early: {took:?}"
    );
    // Generous for a loaded machine; the old server allowed 30 s.
    assert!(took < Duration::from_secs(5), "closed after {took:?}");

    // A connection that sends nothing is closed too.
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await);
    assert!(started.elapsed() >= Duration::from_millis(400));

    // An HTTP/2 connection (prior knowledge) that opens and asks nothing.
    let mut h2 = TcpStream::connect(server.addr).await.expect("connect");
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .expect("preface and SETTINGS");
    let started = Instant::now();
    assert!(closed_within(&mut h2, Duration::from_secs(5)).await);
    assert!(started.elapsed() >= Duration::from_millis(400));

    // A keep-alive connection idle after its answer is closed as well.
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 512];
    let n = idle.read(&mut buf).await.expect("answer");
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );
    assert!(closed_within(&mut idle, Duration::from_secs(5)).await);

    // A prompt client is served as before.
    let answer = exchange(
        server.addr,
        "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_over_the_cap_is_answered_503_at_once() {
    let limits = TransportLimits {
        max_connections: 3,
        header_timeout: Duration::from_secs(30),
        ..TransportLimits::default()
    };
    let server = Running::start(limits).await;
    // Three connections hold every slot (open, nothing sent yet).
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    // Let the server accept them.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    let answer = exchange(
        server.addr,
        "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 503"), "over the cap: {answer}");
    assert!(answer.contains("retry-after: 1"), "{answer}");
    assert!(answer.contains("too many connections"), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "refused after {:?}",
        started.elapsed()
    );

    // A slot freed is used again.
    drop(held.pop());
    let started = Instant::now();
    loop {
        let answer = exchange(
            server.addr,
            "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        if answer.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the freed slot was not reused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(held);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_poll_outlives_the_request_timeout_but_not_its_own_bound() {
    let limits = TransportLimits {
        request_timeout: Duration::from_millis(500),
        long_poll_timeout: Duration::from_millis(2500),
        ..TransportLimits::default()
    };
    let server = Running::start(limits).await;
    let poll = |wait: u64| {
        format!(
            "GET /api/v1/guard/rules?service=quiet-svc&since=0&wait={wait} HTTP/1.1\r\n\
             host: x\r\nauthorization: Bearer {}\r\nconnection: close\r\n\r\n",
            server.admin
        )
    };

    // Waits its full second (twice the request timeout): 304.
    let started = Instant::now();
    let answer = exchange(server.addr, &poll(1)).await;
    assert!(answer.starts_with("HTTP/1.1 304"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(900));

    // Asks to wait 30 s: cut at the long-poll bound with 503.
    let started = Instant::now();
    let answer = exchange(server.addr, &poll(30)).await;
    let took = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("long poll"), "{answer}");
    assert!(took >= Duration::from_millis(2400), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");

    // An ordinary request whose body trickles in is cut at the request
    // timeout.
    let mut s = TcpStream::connect(server.addr).await.expect("connect");
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\nconnection: close\r\n\r\n{{",
        server.admin
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answered")
        .expect("read");
    let answer = String::from_utf8_lossy(&out);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"code\":\"unavailable\""), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected_after_the_send_timeout() {
    let limits = TransportLimits {
        send_timeout: Duration::from_secs(1),
        header_timeout: Duration::from_millis(300),
        ..TransportLimits::default()
    };
    let server = Running::start(limits).await;
    // A plan of 6 MB (a long comment): its answer outgrows any socket
    // buffer, so a client that does not read stalls the server's writes.
    let admin = seawall_server::client::Client::new(&format!("http://{}", server.addr))
        .expect("client")
        .with_token(&server.admin);
    let r = admin
        .post_json(
            "/api/v1/events",
            &serde_json::json!({"slug": "big", "name": "Big"}),
        )
        .await
        .expect("event");
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    let text = format!("{}\n# {}\n", common::CARNIVAL, "x".repeat(6 << 20));
    let r = admin
        .post_json(
            "/api/v1/events/big/plans",
            &serde_json::json!({"file_name": "plan.yaml", "text": text}),
        )
        .await
        .expect("push");
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    let request = format!(
        "GET /api/v1/events/big/plan HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         connection: close\r\n\r\n",
        server.admin
    );
    // A reader gets the whole answer.
    let whole = exchange(server.addr, &request).await;
    assert!(
        whole.starts_with("HTTP/1.1 200"),
        "{}",
        &whole[..whole.len().min(300)]
    );
    assert!(whole.len() > 6 << 20, "{} bytes", whole.len());

    // A client reading slowly but steadily (256 KiB every 10 ms; the
    // kernel wakes a blocked writer only when a third of its send buffer is
    // free, up to 1.3 MB here) gets it all: neither the send timeout nor the
    // header timeout (the answer is still going out after its request
    // ended) cuts it.
    let mut steady = TcpStream::connect(server.addr).await.expect("connect");
    steady.write_all(request.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    let started = Instant::now();
    loop {
        let n = tokio::time::timeout(Duration::from_secs(10), steady.read(&mut buf))
            .await
            .expect("bytes keep coming")
            .expect("read");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(got.len(), whole.len(), "a steady reader gets everything");
    assert!(
        started.elapsed() > Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );

    // A client with a small receive window that stops reading: after the
    // send timeout the server gives up on it.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .set_recv_buffer_size(4096)
        .expect("small receive buffer");
    let mut slow = socket.connect(server.addr).await.expect("connect");
    slow.write_all(request.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut got = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match slow.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the connection was not closed");
    assert!(
        got.len() < whole.len(),
        "the whole answer came ({} bytes): the send timeout did not cut it",
        got.len()
    );
    server.stop().await;
}
