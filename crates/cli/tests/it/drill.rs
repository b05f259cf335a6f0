//! `seawall drill` as a user runs it, against a real `seawall serve` child
//! and the simulator: the drill sets the simulator's switch (with the
//! lease as TTL), runs the tagged rehearsal, sees the plan's run (started
//! by a commander while it runs) take effect, and passes because the SLO
//! broke as the plan expects — exit 0 and JUnit XML with one passing case
//! per step; a drill nobody answers fails with exit 1 and failures in the
//! XML; `seawall drill stop` is the global stop.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use seawall_sim::{Sim, SimOptions};
use serde_json::Value;

use crate::common::serve::{Serve, TempDir};
use crate::live::{ok, run};

const EVENT: &str = "d15";

fn plan(hook: &str, secret: &str) -> String {
    format!(
        "event: {{name: Drill, timezone: UTC}}
people:
  sun-li: {{name: Sun Li}}
organization:
  guarantee_group: [sun-li]
goals:
  orders: {{total: 360000, peak_hour_share: 0.1, peak_factor: 1.0}}
traffic:
  journeys:
    ride:
      goal: orders
      steps:
        - {{entry: create-order}}
entries:
  create-order: {{service: order-api, method: POST, path: /api/orders,
    slo: {{p99_ms: 2000, error_rate: 0.01}}}}
services:
  order-api: {{tier: frontend, instances: 2, capacity_per_instance: 200}}
rehearsals:
  peak: {{mix: {{ride: 1.0}}, rate: 1.0x, duration: 10s}}
emergency:
  allow_hosts: [\"127.0.0.1\"]
emergency_plans:
  shed:
    phase: during
    trigger: manual
    actions:
      - {{kind: webhook, url: \"{hook}\", secret_env: \"file:{secret}\", retries: 0}}
    owner: sun-li
    expected_minutes: 1
    drill:
      fault: {{sim: order-api, kind: fail, ratio: 1}}
      expect: break
      scenario: peak
      lease: 1m
"
    )
}

/// A webhook receiver on loopback answering 200 to every request.
fn receiver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut conn = conn;
            let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 16 << 10];
            let _ = conn.read(&mut buf);
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    format!("http://{addr}/hook")
}

/// A commander's thread: once a drill of `shed` runs, start the plan.
fn commander(url: String, token: String) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let started = Instant::now();
        while !drills(&url, &token)
            .iter()
            .any(|d| d["status"] == "running")
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no drill started"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        ok(
            &url,
            &token,
            &["emergency", "run", "shed", "--event", EVENT],
        );
    })
}

/// The event's drills, through the typed client.
fn drills(url: &str, token: &str) -> Vec<Value> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = seawall_api::Client::new(url)
        .expect("client")
        .with_token(token);
    rt.block_on(client.get(&format!("/api/v1/events/{EVENT}/drills")))
        .expect("drills")
        .json::<Value>()
        .expect("json")["drills"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn a_drill_from_the_cli_passes_fails_and_stops() {
    let dir = TempDir::new("drill");
    let data = dir.0.join("data");
    let server = Serve::start(&data, &[]);
    let admin = std::fs::read_to_string(data.join("admin-token")).expect("admin token");
    let admin = admin.trim().to_owned();
    let secret = dir.0.join("hook-secret");
    std::fs::write(&secret, "drill-hook-secret").expect("secret");
    let text = plan(&receiver(), secret.to_str().expect("utf-8"));
    let path = dir.0.join("plan.yaml");
    std::fs::write(&path, &text).expect("plan");
    let path = path.to_str().expect("utf-8").to_owned();
    ok(
        &server.url,
        &admin,
        &["push", &path, "--event", EVENT, "--create"],
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let parsed = seawall_plan::parse(&text, "plan.yaml").expect("valid plan");
    let sim = runtime
        .block_on(Sim::start(&parsed, SimOptions::default()))
        .expect("sim");
    let base = format!("http://{}", sim.gateway());
    let junit = dir.0.join("drill.xml");
    let junit_arg = junit.to_str().expect("utf-8").to_owned();

    // Passed: the fault broke the SLO as expected, the run took effect.
    let commanding = commander(server.url.clone(), admin.clone());
    let o = run(
        &server.url,
        &admin,
        &[
            "drill",
            "shed",
            "--event",
            EVENT,
            "--base-url",
            &base,
            "--duration",
            "2s",
            "--wait",
            "20s",
            "--junit",
            &junit_arg,
            "-f",
            "json",
        ],
    );
    commanding.join().expect("commander");
    let stderr = String::from_utf8_lossy(&o.stderr);
    let d: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(o.status.code(), Some(0), "{d:#}\n{stderr}");
    assert_eq!(d["status"], "passed", "{d:#}");
    assert_eq!(d["slo_held"], false, "the fault broke the SLO: {d:#}");
    let statuses: Vec<&str> = d["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["status"].as_str())
        .collect();
    assert_eq!(statuses, ["passed"; 5]);
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(xml.contains("tests=\"6\" failures=\"0\""), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 6, "{xml}");
    let counters = sim.counters();
    let order = counters.get("order-api").expect("order-api");
    assert!(order.injected > 0, "the simulator's switch was set");

    // Failed: nobody runs the plan this time; exit 1, failures in the XML.
    let o = run(
        &server.url,
        &admin,
        &[
            "drill",
            "shed",
            "--event",
            EVENT,
            "--base-url",
            &base,
            "--duration",
            "1s",
            "--wait",
            "1s",
            "--junit",
            &junit_arg,
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("FAILED") && out.contains("detected"), "{out}");
    let xml = std::fs::read_to_string(&junit).expect("junit");
    assert!(
        xml.contains("<failure message=\"detected did not happen"),
        "{xml}"
    );

    // Usage: a drill needs --base-url; the global stop needs none.
    let o = run(&server.url, &admin, &["drill", "shed", "--event", EVENT]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--base-url"));
    let stopped = ok(&server.url, &admin, &["drill", "stop", "--event", EVENT]);
    assert!(stopped.contains("Drills stopped in d15: 0"), "{stopped}");
    runtime.block_on(sim.shutdown());
    server.stop();
}
