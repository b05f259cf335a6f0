//! `seawall sim` end to end: the built binary serves the carnival plan's
//! simulated system on loopback, answers an entry and the control
//! endpoints, and stops cleanly on SIGTERM; bad flags exit 2 and an invalid
//! plan exits 1 with its location.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
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

/// Start `seawall sim` with `args` (plus `--format json`); the child and
/// the ground truth it printed first (pretty JSON ending with a `}` line).
fn start(args: &[&str]) -> (Child, serde_json::Value) {
    let mut child = seawall()
        .arg("sim")
        .args(args)
        .args(["--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
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
    let truth = serde_json::from_str(&json).expect("truth json");
    (child, truth)
}

/// SIGTERM, then the exit code.
fn stop(mut child: Child) -> Option<i32> {
    // The shell's builtin `kill`: no procps needed.
    let term = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status()
        .expect("kill");
    assert!(term.success());
    child.wait().expect("wait").code()
}

#[test]
fn serves_the_plan_and_stops_on_sigterm() {
    let (child, truth) = start(&[CARNIVAL, "--scale", "0.05", "--seed", "7"]);
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

    assert_eq!(stop(child), Some(0));
}

/// `seawall rehearse` walks the carnival journeys through the sim's
/// gateway: templated paths (`/api/pay/{{order_id}}`) and extracted ids
/// work, every entry gets traffic, every write of the tagged run lands in
/// the shadow store, and the SMS partner (not shadow_safe, link rule L011)
/// counts the leaks.
#[test]
fn a_rehearsal_runs_through_the_gateway_with_writes_in_the_shadow_store() {
    let src = std::fs::read_to_string(CARNIVAL).expect("plan");
    let dir = std::env::temp_dir().join(format!("seawall-sim-rehearse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let plan = dir.join("plan.yaml");
    // A short, light scenario: 1 % of the targets for 4 s.
    let quick = "  quick:\n    mix: {bike-ride: 0.5, ebike-ride: 0.2, ride-hailing: 0.1, coupon-grab: 0.2}\n    rate: \"0.01x\"\n    duration: 4s\n";
    assert!(
        src.trim_end().ends_with('}'),
        "rehearsals is the plan's last section"
    );
    std::fs::write(&plan, format!("{}\n{quick}", src.trim_end())).expect("write plan");
    let plan_s = plan.to_str().expect("utf-8");
    let (child, truth) = start(&[plan_s, "--scale", "0.05"]);
    let gateway = truth["gateway"].as_str().expect("gateway").to_owned();
    let out_file = dir.join("run.json");
    let out = seawall()
        .args(["rehearse", plan_s, "--scenario", "quick", "--base-url"])
        .arg(format!("http://{gateway}"))
        .arg("--out")
        .arg(&out_file)
        .output()
        .expect("rehearse");
    let (status, body) = http(gateway.parse().expect("addr"), "GET", "/_sim/counters", "");
    assert_eq!(stop(child), Some(0));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).expect("run.json")).expect("json");
    let entries = run["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 7);
    for e in entries {
        assert!(e["requests"].as_u64().is_some_and(|n| n > 0), "{e}");
    }
    assert_eq!(status, 200);
    let counters: serde_json::Value = serde_json::from_str(&body).expect("counters");
    let nodes = counters["nodes"].as_array().expect("nodes");
    let sum = |key: &str| nodes.iter().filter_map(|n| n[key].as_u64()).sum::<u64>();
    assert_eq!(sum("real_writes"), 0, "{body}");
    assert!(sum("shadow_writes") > 0, "{body}");
    let sms = nodes
        .iter()
        .find(|n| n["id"] == "sms-partner")
        .expect("sms");
    assert!(sms["leaks"].as_u64().is_some_and(|n| n > 0), "{sms}");
    assert_eq!(sms["leaks"], sms["requests"]);
    let pay = nodes
        .iter()
        .find(|n| n["id"] == "pay-gateway")
        .expect("pay");
    assert!(pay["ok"].as_u64().is_some_and(|n| n > 0), "{pay}");
    let _ = std::fs::remove_dir_all(&dir);
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
