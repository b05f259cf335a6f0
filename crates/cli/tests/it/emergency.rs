//! `seawall emergency` as a user runs it, against a real `seawall serve`
//! child: a dry run shows the message it would send and sends nothing; a
//! real run whose message hangs at a silent receiver is killed with the
//! server (SIGKILL, no drain), and after the restart `runs` shows it
//! waiting for a commander with the action unknown, and `resume` ends it.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::serve::{Serve, TempDir};
use crate::live::{ok, run};

/// A Slack webhook on loopback that accepts connections and never
/// answers (held by a thread until the test ends).
fn silent_receiver() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    addr
}

fn plan(dir: &Path, hook: &str) -> String {
    let path = dir.join("plan.yaml");
    let text = format!(
        "event: {{name: Carnival, timezone: UTC}}
organization:
  business_lines:
    bike: {{name: Bike, services: [order-api]}}
goals:
  orders: {{total: 360000, peak_hour_share: 0.1, peak_factor: 1.0}}
traffic:
  journeys:
    ride:
      goal: orders
      steps:
        - {{entry: create-order}}
entries:
  create-order: {{service: order-api, method: POST, path: /api/orders}}
services:
  order-api: {{line: bike, tier: frontend, instances: 2, capacity_per_instance: 10}}
oncall:
  channels:
    war-room: {{kind: slack, webhook: \"http://{hook}/hook\"}}
emergency:
  allow_hosts: [\"127.0.0.1\"]
emergency_plans:
  tell-the-room:
    phase: during
    trigger: manual
    actions:
      - {{kind: notify, channel: war-room, message: \"orders limited\"}}
    expected_minutes: 1
"
    );
    std::fs::write(&path, text).expect("write plan");
    path.to_str().expect("utf-8 path").to_owned()
}

fn json(url: &str, token: &str, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.extend(["--format", "json"]);
    serde_json::from_str(&ok(url, token, &args)).expect("json")
}

/// The event's runs, polled until `done` holds (30 s at most).
fn runs_until(url: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let v = json(url, token, &["emergency", "runs", "--event", "d11"]);
        if done(&v) {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never reached: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_dry_run_crash_and_resume_from_the_cli() {
    let dir = TempDir::new("emergency");
    let data = dir.0.join("data");
    let mut server = Serve::start(&data, &[]);
    let admin = std::fs::read_to_string(data.join("admin-token")).expect("admin token");
    let admin = admin.trim();
    let path = plan(&dir.0, &silent_receiver());
    ok(
        &server.url,
        admin,
        &["push", &path, "--event", "d11", "--create"],
    );

    // A dry run: the message it would send, nothing sent.
    let dry = json(
        &server.url,
        admin,
        &[
            "emergency",
            "run",
            "tell-the-room",
            "--event",
            "d11",
            "--dry-run",
        ],
    );
    assert_eq!(dry["dry_run"], true);
    let v = runs_until(&server.url, admin, |v| {
        v["runs"][0]["status"] == "succeeded"
    });
    assert_eq!(
        v["runs"][0]["steps"][0]["after"]["would_send"],
        "orders limited"
    );

    // A real run hangs at the receiver; the server is killed mid-action.
    let table = ok(
        &server.url,
        admin,
        &["emergency", "run", "tell-the-room", "--event", "d11"],
    );
    assert!(table.contains("notify"), "{table}");
    runs_until(&server.url, admin, |v| {
        v["runs"][1]["steps"][0]["status"] == "running"
    });
    server.kill();

    let server = Serve::start(&data, &[]);
    let v = runs_until(&server.url, admin, |v| {
        v["runs"][1]["status"] == "needs_attention"
    });
    let step = &v["runs"][1]["steps"][0];
    assert_eq!(step["status"], "unknown");
    assert!(
        step["error"]
            .as_str()
            .is_some_and(|e| e.contains("war-room")),
        "{step}"
    );
    let n = v["runs"][1]["id"].as_i64().expect("id").to_string();
    let resumed = json(
        &server.url,
        admin,
        &["emergency", "resume", &n, "--event", "d11"],
    );
    assert_eq!(resumed["status"], "succeeded", "{resumed:#}");
    // A run that waits for nobody cannot be approved.
    let o = run(
        &server.url,
        admin,
        &["emergency", "approve", &n, "--event", "d11"],
    );
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("not possible now"), "{stderr}");
    server.stop();
}

#[test]
fn serve_scales_through_the_kubeconfig_it_is_given() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let fake = runtime
        .block_on(seawall_kube::testing::FakeApiServer::start())
        .expect("fake API server");
    fake.add_deployment("shop", "order-api", 2);
    let dir = TempDir::new("kube");
    let kubeconfig = dir.0.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1
kind: Config
clusters: [{{name: fake, cluster: {{server: \"{}\"}}}}]
users: [{{name: seawall, user: {{token: {}}}}}]
contexts: [{{name: test, context: {{cluster: fake, user: seawall}}}}]
current-context: test
",
            fake.url(),
            seawall_kube::testing::TOKEN
        ),
    )
    .expect("kubeconfig");
    // One it cannot read is refused before anything is served.
    let data = dir.0.join("data");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args(["serve", "--listen", "127.0.0.1:0", "--kubeconfig"])
        .arg(dir.0.join("missing"))
        .arg("--data-dir")
        .arg(&data)
        .env_remove("SEAWALL_DB")
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("missing"), "{stderr}");

    let server = Serve::start(&data, &["--kubeconfig".into(), kubeconfig.into()]);
    let admin = std::fs::read_to_string(data.join("admin-token")).expect("admin token");
    let admin = admin.trim();
    let path = plan(&dir.0, "127.0.0.1:9");
    let text = std::fs::read_to_string(&path).expect("plan").replace(
        "capacity_per_instance: 10}",
        "capacity_per_instance: 10, kubernetes: {namespace: shop}}",
    ) + "  scale-out:\n    phase: pre\n    trigger: manual\n    actions:\n      - {kind: scale, service: order-api, instances: 5}\n";
    std::fs::write(&path, text).expect("plan");
    ok(
        &server.url,
        admin,
        &["push", &path, "--event", "d11", "--create"],
    );
    ok(
        &server.url,
        admin,
        &["emergency", "run", "scale-out", "--event", "d11"],
    );
    let v = runs_until(&server.url, admin, |v| {
        matches!(
            v["runs"][0]["status"].as_str(),
            Some("succeeded" | "failed")
        )
    });
    assert_eq!(v["runs"][0]["status"], "succeeded", "{v:#}");
    let d = fake.deployment("shop", "order-api").expect("deployment");
    assert_eq!((d.spec, d.status), (5, 5));
    server.stop();
}
