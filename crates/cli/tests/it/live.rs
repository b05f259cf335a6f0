//! `seawall live` and `seawall alerts` as a user runs them, against a real
//! `seawall serve --scrape-interval 1s` whose background monitor scrapes
//! real `/metrics` pages on 127.0.0.1: event `calm` reads a sidecar page
//! whose counter stands still (qps 0, every figure known), event `down`
//! a port nobody listens on (failed rows, then `source-down` firing at the
//! third tick). Tables (`--once`) and JSON are insta snapshots with times
//! and loopback ports redacted.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::serve::{Serve, TempDir};

/// A sidecar's `/metrics` page whose request counter stays at 100: two
/// scrapes give a rate of 0. Served by a thread until the test ends.
fn still_page() -> String {
    crate::common::page::sidecar_page(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(
        true,
    )))
}

/// A plan of one entry on a service of 20 QPS, scraping `target`.
fn plan(dir: &Path, name: &str, target: &str) -> PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    let text = format!(
        "event: {{name: {name}, timezone: UTC}}
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
monitoring:
  scrape: [\"{target}\"]
"
    );
    std::fs::write(&path, text).expect("write plan");
    path
}

pub(crate) fn run(url: &str, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args(args)
        .env("SEAWALL_SERVER", url)
        .env("SEAWALL_TOKEN", token)
        .env("NO_COLOR", "1")
        .env_remove("SEAWALL_DB")
        .output()
        .expect("run seawall")
}

/// Run and expect exit 0; stdout.
pub(crate) fn ok(url: &str, token: &str, args: &[&str]) -> String {
    let o = run(url, token, args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "seawall {args:?}: {stderr}");
    String::from_utf8(o.stdout).expect("utf-8")
}

/// `args`' JSON, polled until `done` holds (30 s at most).
fn wait_for(url: &str, token: &str, args: &[&str], done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let v: Value = serde_json::from_str(&ok(url, token, args)).expect("json");
        if done(&v) {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never reached: {args:?}: {v:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn redacted() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", "[time]");
    s.add_filter(r#""(at|updated_at|since)": \d+"#, "\"$1\": \"[ms]\"");
    s.add_filter(r"127\.0\.0\.1:\d+", "[addr]");
    // A source-down alert's value is the count of failed ticks so far,
    // which goes on growing while the snapshots are taken.
    s.add_filter(r"(source_down ┆ page +┆) +\d+ ┆", "$1 [n] ┆");
    s.add_filter(
        r#""value": \d+\.0,(\s+"threshold": 2\.5)"#,
        "\"value\": \"[n]\",$1",
    );
    s.set_prepend_module_to_snapshot(false);
    s
}

#[test]
fn live_and_alerts_against_a_real_server() {
    let dir = TempDir::new("live");
    let data = dir.0.join("data");
    let server = Serve::start(&data, &["--scrape-interval".into(), "1s".into()]);
    let url = server.url.clone();
    let admin = std::fs::read_to_string(data.join("admin-token")).expect("admin token");
    let admin = admin.trim();
    let page = still_page();
    // A port that was bound and let go: nobody listens on it.
    let dead = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .to_string();
    for (slug, target) in [("calm", page.as_str()), ("down", dead.as_str())] {
        let path = plan(&dir.0, slug, target);
        let path = path.to_str().expect("utf-8 path");
        ok(&url, admin, &["push", path, "--event", slug, "--create"]);
    }

    // calm: once two scrapes gave a rate, every figure is known and fixed.
    let live_json = ["live", "--event", "calm", "--format", "json"];
    wait_for(&url, admin, &live_json, |v| {
        v["entries"][0]["qps"].is_number() && v["services"][0]["qps"].is_number()
    });
    let settings = redacted();
    settings.bind(|| {
        insta::assert_snapshot!(
            "live_calm_table",
            ok(&url, admin, &["live", "--event", "calm", "--once"])
        );
        insta::assert_snapshot!("live_calm_json", ok(&url, admin, &live_json));
    });
    // Off a terminal, without --once, it prints one table and exits too.
    let piped = ok(&url, admin, &["live", "--event", "calm", "--every", "1s"]);
    assert!(piped.contains("create-order"), "{piped}");

    // down: source-down fires at the third tick.
    let alerts_json = ["alerts", "--event", "down", "--format", "json"];
    wait_for(&url, admin, &alerts_json, |v| {
        v["alerts"].as_array().is_some_and(|a| {
            a.iter()
                .any(|a| a["metric"] == "source_down" && a["state"] == "firing")
        })
    });
    settings.bind(|| {
        insta::assert_snapshot!(
            "alerts_down_table",
            ok(&url, admin, &["alerts", "--event", "down"])
        );
        insta::assert_snapshot!("alerts_down_json", ok(&url, admin, &alerts_json));
        insta::assert_snapshot!(
            "live_down_table",
            ok(&url, admin, &["live", "--event", "down", "--once"])
        );
    });

    // No such event: the server's 404, exit 2.
    let o = run(&url, admin, &["alerts", "--event", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope"));
    drop(server);
}

/// `pid`'s descendant named `seawall` (under `script`'s shell), if any.
fn seawall_under(pid: u32) -> Option<u32> {
    let out = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .ok()?;
    for child in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        let Ok(child) = child.parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{child}/comm")).unwrap_or_default();
        if comm.trim() == "seawall" {
            return Some(child);
        }
        if let Some(found) = seawall_under(child) {
            return Some(found);
        }
    }
    None
}

/// A child process killed and reaped on drop (a failed assertion leaves
/// nothing running).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn on_a_terminal_live_refreshes_until_ctrl_c() {
    let dir = TempDir::new("live-tty");
    let data = dir.0.join("data");
    let server = Serve::start(&data, &["--scrape-interval".into(), "1s".into()]);
    let admin = std::fs::read_to_string(data.join("admin-token")).expect("admin token");
    let admin = admin.trim();
    let page = still_page();
    let path = plan(&dir.0, "calm", &page);
    ok(
        &server.url,
        admin,
        &[
            "push",
            path.to_str().expect("utf-8"),
            "--event",
            "calm",
            "--create",
        ],
    );
    wait_for(
        &server.url,
        admin,
        &["live", "--event", "calm", "--format", "json"],
        |v| v["entries"][0]["qps"].is_number(),
    );
    // `script` gives the command a pseudo-terminal, as a user's shell does
    // (of a user's size: a new one has no columns).
    let command = format!(
        "stty cols 160 rows 40; exec {} live --event calm --every 200ms",
        env!("CARGO_BIN_EXE_seawall")
    );
    let child = Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env("SEAWALL_SERVER", &server.url)
        .env("SEAWALL_TOKEN", admin)
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let mut child = Reaped(child);
    let mut stdout = child.0.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0_u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    // Redraws, each clearing the screen first, until a tick's row shows.
    let mut seen = Vec::new();
    let started = Instant::now();
    let enough = |seen: &[u8]| {
        let text = String::from_utf8_lossy(seen);
        text.matches("Ctrl-C to quit").count() >= 3 && text.contains("create-order")
    };
    while !enough(&seen) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no three redraws with a row: {}",
            String::from_utf8_lossy(&seen)
        );
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.extend(chunk);
        }
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(
        text.contains("\x1b[H\x1b[2J"),
        "the screen is cleared: {text}"
    );
    assert!(text.contains("create-order"), "{text}");
    // Ctrl-C: SIGINT to the command, which exits 0 (script -e passes it on).
    let pid = seawall_under(child.0.id()).expect("seawall runs under script");
    let killed = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit after Ctrl-C: {status:?}");
    drop(server);
}
