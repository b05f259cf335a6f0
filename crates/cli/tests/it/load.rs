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

/// A scratch directory under the target dir, fresh for each test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn load_writes_the_result_file_and_a_self_contained_report() {
    let (addr, seen) = serve();
    let dir = scratch("load-out");
    let out = dir.join("run.json");
    let report = dir.join("run.html");
    let url = format!("http://{addr}/ping?x=1");
    let status = seawall(&[
        "load",
        &url,
        "-r",
        "100",
        "-d",
        "1500ms",
        "-c",
        "8",
        "--run-id",
        "cli-out",
        "--out",
        out.to_str().expect("utf-8 path"),
        "--report",
        report.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(status.status.code(), Some(0), "{status:?}");

    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("run.json written")).expect("JSON");
    assert_eq!(run["schema"], "seawall.run/v1");
    assert_eq!(run["run_id"], "cli-out");
    assert_eq!(run["scenario"], "load");
    assert_eq!(run["arrivals"], "constant");
    assert_eq!(run["outcome"], "completed");
    let requests = run["requests"].as_u64().expect("requests");
    assert_eq!(requests, seen.requests.load(Ordering::Relaxed));
    assert!((145..=155).contains(&requests), "{run:#}");
    let entry = &run["entries"][0];
    assert_eq!(entry["id"], "GET /ping?x=1");
    assert_eq!(entry["target_qps"], 100.0);
    let series = entry["series"].as_array().expect("series");
    let per_second: u64 = series.iter().filter_map(|p| p["rate"].as_u64()).sum();
    assert_eq!(per_second, requests);
    assert!(run["started"].as_str().is_some_and(|s| s.ends_with('Z')));

    let html = std::fs::read_to_string(&report).expect("report written");
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 3, "rate, latency, histogram");
    for banned in ["<script", "<link", "src=", "href="] {
        assert!(!html.contains(banned), "{banned}");
    }
    assert!(html.contains("cli-out"));
    // Nothing but the two files: the temporary files were renamed.
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    names.sort();
    assert_eq!(names, ["run.html", "run.json"]);
}

#[test]
fn unwritable_outputs_and_bad_metrics_addresses_fail_before_any_traffic() {
    let (addr, seen) = serve();
    let url = format!("http://{addr}/");
    let dir = scratch("load-bad-out");
    let missing = dir.join("no/such/dir/run.json");
    let out = seawall(&[
        "load",
        &url,
        "-d",
        "1s",
        "--out",
        missing.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no/such/dir"), "{stderr}");

    let out = seawall(&[
        "load",
        &url,
        "-d",
        "1s",
        "--report",
        dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2), "a directory: {out:?}");

    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = taken.local_addr().expect("addr").to_string();
    let out = seawall(&["load", &url, "-d", "1s", "--metrics-listen", &taken]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains(&taken));

    let out = seawall(&["load", &url, "--metrics-listen", "not-an-address"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(seen.requests.load(Ordering::Relaxed), 0, "nothing was sent");
    assert!(std::fs::read_dir(&dir).expect("dir").next().is_none());
}

#[test]
fn metrics_are_scraped_over_loopback_during_a_run() {
    use std::process::Stdio;

    let (addr, _) = serve();
    let url = format!("http://{addr}/");
    let child = Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args([
            "load", &url, "-r", "50", "-d", "3s", "-c", "4", "--run-id", "cli-m",
        ])
        .args(["--metrics-listen", "127.0.0.1:0", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn seawall");
    let (page, done) = scrape_during(child);
    assert_eq!(done.status.code(), Some(0));

    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("seawall_load_run{run_id=\"cli-m\"} 1"),
        "{page}"
    );
    let ok = page
        .lines()
        .find(|l| l.starts_with("seawall_load_requests_total{entry=\"GET /\",outcome=\"ok\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("ok counter");
    assert!(
        (80..=110).contains(&ok),
        "two seconds at 50 rps: {ok}\n{page}"
    );
    assert!(
        page.contains("seawall_load_latency_seconds_bucket"),
        "{page}"
    );
    let summary: serde_json::Value = serde_json::from_slice(&done.stdout).expect("summary");
    assert!(summary["requests"].as_u64().expect("requests") > ok);
}

/// The smallest plan with a rehearsal: 100 orders/s at ×1, one step.
const PLAN: &str = r#"
event: {name: "report and metrics", timezone: UTC}
goals:
  orders: {total: 3600000}
traffic:
  journeys:
    buy:
      goal: orders
      steps:
        - {entry: home}
entries:
  home: {service: web, path: /home, slo: {p99_ms: 500, error_rate: 0.01}}
services:
  web: {instances: 2, capacity_per_instance: 100}
rehearsals:
  fixed:
    mix: {buy: 1}
    rate: "0.3x"
    duration: 3s
"#;

#[test]
fn rehearse_writes_a_report_and_serves_metrics() {
    use std::process::Stdio;

    let (addr, seen) = serve();
    let dir = scratch("rehearse-report");
    std::fs::write(dir.join("plan.yaml"), PLAN).expect("plan");
    let report = dir.join("run.html");
    let child = Command::new(env!("CARGO_BIN_EXE_seawall"))
        .arg("rehearse")
        .arg(dir.join("plan.yaml"))
        .args([
            "--scenario",
            "fixed",
            "--base-url",
            &format!("http://{addr}"),
        ])
        .args([
            "--run-id",
            "rh-m",
            "--metrics-listen",
            "127.0.0.1:0",
            "--json",
        ])
        .arg("--report")
        .arg(&report)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn seawall");
    let (page, done) = scrape_during(child);
    assert_eq!(done.status.code(), Some(0), "{done:?}");

    assert!(
        page.contains("seawall_load_run{run_id=\"rh-m\"} 1"),
        "{page}"
    );
    let ok = page
        .lines()
        .find(|l| l.starts_with("seawall_load_requests_total{entry=\"home\",outcome=\"ok\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("ok counter");
    // 30 journeys a second, two seconds complete at the scrape.
    assert!((45..=75).contains(&ok), "{ok}\n{page}");
    assert!(
        page.contains("seawall_load_latency_seconds_count{entry=\"home\"}"),
        "{page}"
    );
    assert!(
        !page.contains("seawall_load_in_flight"),
        "not known for a scenario"
    );

    let html = std::fs::read_to_string(&report).expect("report written");
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "rate and latency; no histogram in a run result"
    );
    assert!(html.contains("<td>home</td>"), "the entry row");
    assert!(html.contains("rh-m"));
    for banned in ["<script", "<link", "src=", "href="] {
        assert!(!html.contains(banned), "{banned}");
    }
    let result: serde_json::Value = serde_json::from_slice(&done.stdout).expect("result JSON");
    assert_eq!(
        result["requests"].as_u64(),
        Some(seen.requests.load(Ordering::Relaxed))
    );
}

/// For a `seawall … --metrics-listen 127.0.0.1:0` child: read the bound
/// address from its first stderr line, scrape `/metrics` 2.3 s later
/// (after the progress ticks at 1 s and 2 s), and wait for it to end.
fn scrape_during(mut child: std::process::Child) -> (String, std::process::Output) {
    use std::io::Read;

    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("metrics line");
    let metrics = line
        .trim()
        .strip_prefix("metrics: http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("unexpected stderr: {line}"))
        .to_owned();
    std::thread::sleep(std::time::Duration::from_millis(2300));
    let mut stream = TcpStream::connect(&metrics).expect("connect to metrics");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nhost: {metrics}\r\nconnection: close\r\n\r\n"
    )
    .expect("request");
    let mut page = String::new();
    stream.read_to_string(&mut page).expect("response");
    let done = child.wait_with_output().expect("seawall ends");
    (page, done)
}
