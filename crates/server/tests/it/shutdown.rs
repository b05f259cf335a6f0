//! Graceful shutdown: a request under way when shutdown begins is answered
//! in full, the server then returns, and nothing listens any more.

use crate::common;

use std::time::Duration;

use common::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn a_request_under_way_finishes_then_the_server_stops() {
    let mut server = TestServer::start().await;
    let addr = server.base.trim_start_matches("http://").to_owned();

    // Half a request: the head and part of the body.
    let body = br#"{"slug": "late", "name": "Sent across shutdown"}"#;
    let (first, rest) = body.split_at(10);
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        server.admin,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(first).await.expect("first part");
    // Let the server start on it.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let state = server.state.clone();
    let stopped = server.begin_stop();
    // Long polls are told at once.
    tokio::time::timeout(Duration::from_secs(5), state.shutting_down())
        .await
        .expect("shutting_down resolves");
    stream.write_all(rest).await.expect("rest of the body");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered within 10 s")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("\"slug\":\"late\""), "{answer}");

    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("stops within 10 s")
        .expect("task")
        .expect("clean stop");
    assert!(
        tokio::net::TcpStream::connect(&addr).await.is_err(),
        "nothing listens after shutdown"
    );

    // The change made during the drain is stored.
    let event = server.state.store.event("late").await.expect("store");
    assert!(event.is_some());
}

#[tokio::test]
async fn the_drain_is_bounded() {
    let mut server = TestServer::start_with_drain(Duration::from_millis(300)).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    // A request whose body never comes.
    let mut stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/events HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: 100\r\n\r\n{{",
        server.admin
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = std::time::Instant::now();
    let stopped = server.begin_stop();
    tokio::time::timeout(Duration::from_secs(10), stopped)
        .await
        .expect("stops although a request hangs")
        .expect("task")
        .expect("clean stop");
    // Generous bound for a loaded machine; without the drain bound it
    // would wait for the body forever.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
}
