//! `seawall load` end to end: the built binary against a tiny HTTP/1.1
//! keep-alive server on 127.0.0.1 (std threads, bounded connection count),
//! checking the JSON summary's shape, the tag on the wire, and exit codes.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Headers of the first request seen, and how many requests were answered.
#[derive(Default)]
struct Seen {
    first: Mutex<Vec<String>>,
    requests: AtomicU64,
}

/// Serve `200 ok` on up to 64 connections, then stop accepting.
fn serve() -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Seen::default());
    let shared = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64).flatten() {
            let seen = Arc::clone(&shared);
            std::thread::spawn(move || connection(stream, &seen));
        }
    });
    (addr, seen)
}

/// Answer GET requests (no bodies) until the client closes.
fn connection(stream: TcpStream, seen: &Seen) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut headers = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let trimmed = line.trim_end();
        if !trimmed.is_empty() {
            headers.push(trimmed.to_ascii_lowercase());
            continue;
        }
        if seen.requests.fetch_add(1, Ordering::Relaxed) == 0 {
            *seen.first.lock().expect("lock") = std::mem::take(&mut headers);
        }
        headers.clear();
        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
        if writer.write_all(reply).is_err() {
            return;
        }
    }
}

fn seawall(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run seawall")
}

#[test]
fn load_json_prints_the_summary() {
    let (addr, seen) = serve();
    let url = format!("http://{addr}/ping");
    let out = seawall(&[
        "load", &url, "-r", "200", "-d", "1s", "-c", "8", "--run-id", "cli-1", "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "", "quiet when stderr is not a terminal");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(s["schema"], "seawall.load/v1");
    assert_eq!(s["run_id"], "cli-1");
    assert_eq!(s["mode"], "open");
    assert_eq!(s["target_rps"], 200.0);
    let requests = s["requests"].as_u64().expect("requests");
    assert!((196..=204).contains(&requests), "{s:#}");
    assert_eq!(s["dropped"], 0);
    assert_eq!(s["errors"]["total"], 0);
    for key in [
        "connect",
        "timeout",
        "io",
        "status_4xx",
        "status_5xx",
        "body",
    ] {
        assert!(s["errors"][key].is_u64(), "errors.{key}");
    }
    assert!(s["duration_s"].as_f64().expect("duration_s") >= 1.0);
    assert!(s["achieved_rps"].as_f64().expect("achieved_rps") > 190.0);
    for key in ["p50", "p90", "p99", "p999", "max", "mean"] {
        assert!(s["latency_ms"][key].is_f64(), "latency_ms.{key}");
    }
    assert!(s["intervals"].as_array().is_some_and(|a| !a.is_empty()));
    assert_eq!(seen.requests.load(Ordering::Relaxed), requests);
    let first = seen.first.lock().expect("lock").clone();
    assert!(
        first.contains(&"x-seawall-test: cli-1".to_string()),
        "{first:?}"
    );
    assert!(
        first.contains(&"baggage: seawall-test=cli-1".to_string()),
        "{first:?}"
    );
}

#[test]
fn load_table_and_usage_errors() {
    let (addr, _) = serve();
    let url = format!("http://{addr}/");
    let out = seawall(&["load", &url, "-d", "300ms", "-c", "2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(stdout.contains("closed loop"), "{stdout}");
    assert!(stdout.contains("achieved rps"), "{stdout}");
    assert!(stdout.contains("p99.9"), "{stdout}");

    let out = seawall(&["load", "https://127.0.0.1:1/", "-d", "1s"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported scheme"));

    let out = seawall(&["load", &url, "-d", "ten"]);
    assert_eq!(out.status.code(), Some(2));

    let out = seawall(&["load", &url, "--untagged", "--run-id", "x"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--untagged conflicts with --run-id"
    );
}
