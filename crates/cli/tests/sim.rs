//! `seawall sim` end to end: the built binary serves the carnival plan's
//! simulated system on loopback, answers an entry and the control
//! endpoints, and stops cleanly on SIGTERM; bad flags exit 2 and an invalid
//! plan exits 1 with its location.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

const CARNIVAL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/carnival/plan.yaml"
);

fn seawall() -> Command {
    Command::new(env!("CARGO_BIN_EXE_seawall"))
}

/// One HTTP/1.1 request with `Connection: close`; the status and body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn serves_the_plan_and_stops_on_sigterm() {
    let mut child = seawall()
        .args([
            "sim", CARNIVAL, "--scale", "0.05", "--seed", "7", "--format", "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // The ground truth is printed first (pretty JSON ending with a `}` line).
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut json = String::new();
    loop {
        let mut line = String::new();
        if out.read_line(&mut line).expect("read") == 0 {
            break;
        }
        json.push_str(&line);
        if line == "}\n" {
            break;
        }
    }
    let truth: serde_json::Value = serde_json::from_str(&json).expect("truth json");
    assert_eq!(truth["scale"], 0.05);
    assert_eq!(truth["seed"], 7);
    let order = truth["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["id"] == "create-order"))
        .expect("create-order")
        .clone();
    assert_eq!(order["knee_qps"], 64.0);
    assert_eq!(order["bottleneck"], "order-svc");
    let node = |id: &str| -> SocketAddr {
        truth["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["id"] == id))
            .and_then(|n| n["addr"].as_str())
            .and_then(|a| a.parse().ok())
            .expect("node addr")
    };

    let (status, body) = http(node("order-svc"), "POST", "/api/orders", "{}");
    assert_eq!(status, 200, "{body}");
    // The gateway answers every entry; a GET entry writes nothing.
    let gateway: SocketAddr = truth["gateway"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("gateway");
    let (status, body) = http(gateway, "GET", "/api/home", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("home-bff"), "{body}");
    let (status, body) = http(
        node("risk-svc"),
        "PUT",
        "/_sim/fault",
        r#"{"target": "coupon-svc", "fault": {"kind": "fail", "ratio": 1}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(node("order-svc"), "POST", "/api/orders", "{}");
    assert_eq!(status, 200, "the weak coupon-svc falls back: {body}");
    assert!(body.contains("coupon-svc"), "{body}");
    let (status, body) = http(node("home-bff"), "GET", "/_sim/counters", "");
    assert_eq!(status, 200);
    let counters: serde_json::Value = serde_json::from_str(&body).expect("counters");
    let order_svc = counters["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["id"] == "order-svc"))
        .expect("order-svc")
        .clone();
    assert_eq!(order_svc["requests"], 2);
    assert_eq!(order_svc["fallbacks"], 1);
    assert_eq!(order_svc["real_writes"], 2);

    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn bad_flags_exit_2_and_an_invalid_plan_exits_1() {
    for args in [
        vec!["--scale", "0"],
        vec!["--scale", "abc"],
        vec!["--scale", "5000"],
        vec!["--listen-base", "nope"],
        vec!["--seed", "x1"],
    ] {
        let out = seawall()
            .arg("sim")
            .arg(CARNIVAL)
            .args(&args)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(args[0]), "{args:?}: {stderr}");
    }
    let out = seawall()
        .args(["sim", "/nonexistent/plan.yaml"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));

    let dir = std::env::temp_dir().join(format!("seawall-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let bad = dir.join("plan.yaml");
    std::fs::write(
        &bad,
        "event: {name: x}\nservices:\n  a: {instances: many}\n",
    )
    .expect("write");
    let out = seawall().arg("sim").arg(&bad).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("plan.yaml:3:"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
