//! `seawall rehearse` end to end: the built binary runs a plan's scenario
//! against an in-process axum server on 127.0.0.1 that checks what reaches
//! it (the tag with the plan's names, CSV values, extracted ids). Also the
//! result file, `plan capacity --results` reading it back, exit codes, and
//! input errors that stop the run before any request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};

const PLAN: &str = r#"
event: {name: "CLI rehearsal", timezone: UTC}
goals:
  orders: {total: 3600000}          # 3.6e6 x 0.1 / 3600 x 1 = 100 orders/s
traffic:
  journeys:
    buy:
      goal: orders
      steps:
        - {entry: home}
        - entry: order
          conversion: 0.5
          body: '{"user": "{{user_id}}"}'
          extract: {order_id: /data/order_id}
        - {entry: pay, path: "/pay/{{order_id}}", headers: {x-user: "{{users.user_id}}"}}
entries:
  home: {service: web, path: /home, slo: {p99_ms: 500, error_rate: 0.01}}
  order: {service: shop, method: POST, path: /orders, slo: {p99_ms: 500, error_rate: 0.01}}
  pay: {service: shop, method: POST, path: /pay, slo: {p99_ms: 500, error_rate: 0.01}}
services:
  web: {instances: 2, capacity_per_instance: 100}
  shop: {instances: 4, capacity_per_instance: 30}
rehearsals:
  fixed:
    mix: {buy: 1}
    rate: "1.5x"
    duration: 2s
    guards: {error_rate: 0.05, window: 2s}
    tag: {header: x-drill, baggage: drill}
    data: {users: users.csv}
  search:
    mix: {buy: 1}
    search: {start: 1.0, step: 0.5, max: 2.0, step_duration: 2s, hold: 2s}
    data: {users: users.csv}
"#;

/// What the shop saw, and how it behaves.
#[derive(Default)]
struct Shop {
    home: AtomicU64,
    order: AtomicU64,
    pay: AtomicU64,
    /// Requests without the plan's tag names and the run id.
    untagged: AtomicU64,
    /// Orders without a CSV user, or payments for an unknown order or user.
    wrong: AtomicU64,
    issued: Mutex<HashMap<String, String>>,
    next: AtomicU64,
    /// Fail every `home` with 500 from this instant on.
    fail_from: Mutex<Option<Instant>>,
    /// Accept at most this many `home` requests in any second (503 beyond).
    limit: Option<usize>,
    /// When the accepted `home` requests of the last second arrived.
    accepted: Mutex<std::collections::VecDeque<Instant>>,
}

fn check_tag(s: &Shop, h: &HeaderMap) {
    let ok = h.get("x-drill").is_some_and(|v| v == "cli-run")
        && h.get("baggage").is_some_and(|v| v == "drill=cli-run");
    if !ok {
        s.untagged.fetch_add(1, Ordering::Relaxed);
    }
}

async fn home(State(s): State<Arc<Shop>>, h: HeaderMap) -> StatusCode {
    check_tag(&s, &h);
    s.home.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    if s.fail_from.lock().expect("lock").is_some_and(|t| now >= t) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    if let Some(limit) = s.limit {
        let mut a = s.accepted.lock().expect("lock");
        while a
            .front()
            .is_some_and(|&t| now - t >= Duration::from_secs(1))
        {
            a.pop_front();
        }
        if a.len() >= limit {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
        a.push_back(now);
    }
    StatusCode::OK
}

async fn order(State(s): State<Arc<Shop>>, h: HeaderMap, body: Bytes) -> String {
    check_tag(&s, &h);
    s.order.fetch_add(1, Ordering::Relaxed);
    let user = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["user"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if user != "u-1" && user != "u-2" {
        s.wrong.fetch_add(1, Ordering::Relaxed);
    }
    let id = format!("o{}", s.next.fetch_add(1, Ordering::Relaxed));
    s.issued.lock().expect("lock").insert(id.clone(), user);
    serde_json::json!({"data": {"order_id": id}}).to_string()
}

async fn pay(
    State(s): State<Arc<Shop>>,
    UrlPath(id): UrlPath<String>,
    h: HeaderMap,
) -> &'static str {
    check_tag(&s, &h);
    s.pay.fetch_add(1, Ordering::Relaxed);
    let user = h.get("x-user").and_then(|v| v.to_str().ok()).unwrap_or("");
    if s.issued.lock().expect("lock").get(&id).map(String::as_str) != Some(user) {
        s.wrong.fetch_add(1, Ordering::Relaxed);
    }
    "paid"
}

async fn serve(shop: Arc<Shop>) -> SocketAddr {
    let app = Router::new()
        .route("/home", get(home))
        .route("/orders", post(order))
        .route("/pay/{id}", post(pay))
        .with_state(shop);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    addr
}

/// A fresh directory with the plan and `users.csv`.
fn workdir(name: &str, csv: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("seawall-rehearse-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("plan.yaml"), PLAN).expect("plan");
    std::fs::write(dir.join("users.csv"), csv).expect("csv");
    dir
}

async fn seawall(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_seawall"))
            .args(&args)
            .env("NO_COLOR", "1")
            .output()
            .expect("run seawall")
    })
    .await
    .expect("join")
}

fn args(dir: &Path, addr: SocketAddr, scenario: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "rehearse",
        dir.join("plan.yaml").to_str().expect("utf-8 path"),
        "--scenario",
        scenario,
        "--base-url",
        &format!("http://{addr}"),
        "--run-id",
        "cli-run",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    v.extend(extra.iter().map(|s| (*s).to_owned()));
    v
}

/// Run `scenario` with `--out DIR/run.json`; the output and the file's path.
async fn rehearse_out(
    dir: &Path,
    addr: SocketAddr,
    scenario: &str,
    extra: &[&str],
) -> (Output, PathBuf) {
    let out_path = dir.join("run.json");
    let mut v = args(dir, addr, scenario, extra);
    v.push("--out".to_owned());
    v.push(out_path.to_str().expect("utf-8 path").to_owned());
    (seawall(v).await, out_path)
}

/// `seawall plan capacity DIR/plan.yaml --results FILE --format json`.
async fn plan_capacity(dir: &Path, results: &Path) -> Output {
    let path = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
    seawall(vec![
        "plan".into(),
        "capacity".into(),
        path(&dir.join("plan.yaml")),
        "--results".into(),
        path(results),
        "--format".into(),
        "json".into(),
    ])
    .await
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("result file");
    serde_json::from_str(&text).expect("JSON result")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_run_follows_the_plan_and_writes_the_result() {
    let shop = Arc::new(Shop::default());
    let addr = serve(Arc::clone(&shop)).await;
    let dir = workdir("fixed", "user_id\nu-1\nu-2\n");
    let (out, out_path) = rehearse_out(&dir, addr, "fixed", &[]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "", "quiet when stderr is not a terminal");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Rehearse: fixed"), "{stdout}");
    assert_eq!(shop.untagged.load(Ordering::Relaxed), 0);
    assert_eq!(shop.wrong.load(Ordering::Relaxed), 0);

    // 1.5 × targets (home 100, order 50, pay 50) for 2 s, counted at the server.
    for (name, n, target) in [
        ("home", &shop.home, 100.0),
        ("order", &shop.order, 50.0),
        ("pay", &shop.pay, 50.0),
    ] {
        let per_s = n.load(Ordering::Relaxed) as f64 / 2.0;
        let want = 1.5 * target;
        assert!(
            (per_s - want).abs() / want < 0.05,
            "{name}: {per_s}/s at the server, want {want}"
        );
    }
    let r = read_json(&out_path);
    assert_eq!(r["schema"], "seawall.run/v1");
    assert_eq!(r["run_id"], "cli-run");
    assert_eq!(r["scenario"], "fixed");
    assert_eq!(r["mode"], "fixed");
    assert_eq!(r["outcome"], "completed");
    assert_eq!(r["tag"]["header"], "x-drill");
    assert!(r["plan"].as_str().is_some_and(|p| p.ends_with("plan.yaml")));
    let ids: Vec<&str> = r["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["home", "order", "pay"]);
    assert_eq!(r["entries"][1]["service"], "shop");
    assert_eq!(r["entries"][0]["target_qps"], 100.0);
    assert_eq!(r["entries"][0]["slo_held"], true);
    assert_eq!(r["entries"][0]["slo_source"], "entry");
    assert!(
        r["entries"][0]["series"]
            .as_array()
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(
        r["entries"][0]["requests"].as_u64(),
        Some(shop.home.load(Ordering::Relaxed))
    );
    // no knee in a fixed run: plan capacity reads the file and keeps declared capacities
    let cap = plan_capacity(&dir, &out_path).await;
    assert_eq!(
        cap.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&cap.stderr)
    );

    // --json prints the same document
    let out = seawall(args(&dir, addr, "fixed", &["--json", "--duration", "1s"])).await;
    assert_eq!(out.status.code(), Some(0));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(r["schema"], "seawall.run/v1");
    assert!((r["duration_s"].as_f64().expect("duration") - 1.0).abs() < 0.2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_guard_exits_1_and_still_writes_the_result() {
    let shop = Arc::new(Shop::default());
    *shop.fail_from.lock().expect("lock") = Some(Instant::now() + Duration::from_millis(700));
    let addr = serve(Arc::clone(&shop)).await;
    let dir = workdir("guard", "user_id\nu-1\n");
    let (out, out_path) = rehearse_out(&dir, addr, "fixed", &["--duration", "10s"]).await;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ABORTED") && stdout.contains("`home`"),
        "{stdout}"
    );
    let r = read_json(&out_path);
    assert_eq!(r["outcome"], "aborted");
    assert_eq!(r["abort"]["entry"], "home");
    assert_eq!(r["abort"]["guard"], "error_rate");
    assert!(r["duration_s"].as_f64().expect("duration") < 3.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_search_reports_knees_that_plan_capacity_uses() {
    // home breaks above 150/s (target 100/s: knee near ×1.5)
    let shop = Arc::new(Shop {
        limit: Some(150),
        ..Shop::default()
    });
    let addr = serve(Arc::clone(&shop)).await;
    let dir = workdir("search", "user_id\nu-1\nu-2\n");
    let (out, out_path) = rehearse_out(&dir, addr, "search", &[]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = read_json(&out_path);
    assert_eq!(r["mode"], "search");
    let knee = r["entries"][0]["knee_qps"]
        .as_f64()
        .expect("home has a knee");
    assert!((knee - 150.0).abs() / 150.0 < 0.05, "knee {knee}");
    assert_eq!(r["search"]["bottlenecks"][0], "home");
    // web: 2 instances → capacity per instance = knee / 2
    assert_eq!(r["services"][0]["id"], "web");
    let per = r["services"][0]["capacity_per_instance"]
        .as_f64()
        .expect("per instance");
    assert!((per - knee / 2.0).abs() < 1e-9);
    let cap = plan_capacity(&dir, &out_path).await;
    assert_eq!(
        cap.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&cap.stderr)
    );
    let table: serde_json::Value = serde_json::from_slice(&cap.stdout).expect("JSON");
    let text = table.to_string();
    assert!(text.contains(r#""capacity_source":"measured""#), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_errors_exit_2_before_any_request() {
    let shop = Arc::new(Shop::default());
    let addr = serve(Arc::clone(&shop)).await;

    // A CSV row with too many fields: file:line:column, nothing sent.
    let dir = workdir("badcsv", "user_id\nu-1\nu-2,extra\n");
    let out = seawall(args(&dir, addr, "fixed", &[])).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("users.csv:3:1:"), "{stderr}");

    // An unknown scenario lists the plan's scenarios.
    let out = seawall(args(&dir, addr, "nope", &[])).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("no scenario `nope`") && stderr.contains("fixed, search"),
        "{stderr}"
    );

    // --duration does not apply to a search; an unwritable --out is refused.
    let dir = workdir("usage", "user_id\nu-1\n");
    let out = seawall(args(&dir, addr, "search", &["--duration", "1s"])).await;
    assert_eq!(out.status.code(), Some(2));
    let out = seawall(args(
        &dir,
        addr,
        "fixed",
        &["--out", "/nonexistent/dir/run.json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    let out = seawall(args(&dir, addr, "fixed", &["--rate-multiple", "-2"])).await;
    assert_eq!(out.status.code(), Some(2));

    let total = shop.home.load(Ordering::Relaxed)
        + shop.order.load(Ordering::Relaxed)
        + shop.pay.load(Ordering::Relaxed);
    assert_eq!(total, 0, "requests were sent despite input errors");
}

/// On the flagship plan, whose `mix-1.2x` scenario mixes all four journeys
/// (one of them through an entry with `burst: 2`), the rate each entry is
/// sent is its decomposed target × the multiple: journey rates from the
/// first steps' decomposed rates, calls × burst. A tiny multiple against a
/// closed loopback port keeps the run harmless; its guard aborts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intended_rates_follow_the_carnival_decomposition() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let plan = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/carnival/plan.yaml"
    );
    let out = seawall(vec![
        "rehearse".into(),
        plan.into(),
        "--scenario".into(),
        "mix-1.2x".into(),
        "--base-url".into(),
        format!("http://{closed}"),
        "--rate-multiple".into(),
        "0.005".into(),
        "--duration".into(),
        "1s".into(),
        "--json".into(),
    ])
    .await;
    // connection refused → errors → the error-rate guard aborts: exit 1
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let entries = r["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 7);
    let (mut home, mut grab) = (false, false);
    for e in entries {
        let target = e["target_qps"].as_f64().expect("target");
        let intended = e["intended_qps"].as_f64().expect("intended");
        assert!(target > 0.0);
        assert!(
            (intended - 0.005 * target).abs() < 1e-9 * target,
            "{}: intended {intended} for target {target}",
            e["id"]
        );
        home |= e["id"] == "home";
        grab |= e["id"] == "coupon-grab";
    }
    assert!(home && grab);
    assert_eq!(r["outcome"], "aborted");
    assert!(r["entries"][0]["errors"]["connect"].as_u64() > Some(0));
}

/// `--untagged` sends without the tag, and the result says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untagged_runs_only_when_asked() {
    let shop = Arc::new(Shop::default());
    let addr = serve(Arc::clone(&shop)).await;
    let dir = workdir("untagged", "user_id\nu-1\n");
    let mut a = args(&dir, addr, "fixed", &["--duration", "1s", "--json"]);
    // --run-id conflicts with --untagged
    a.retain(|x| x != "--run-id" && x != "cli-run");
    a.push("--untagged".to_owned());
    let out = seawall(a).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(r["tag"].is_null() && r["run_id"].is_null(), "{r:#}");
    let home = shop.home.load(Ordering::Relaxed);
    assert!(home > 0);
    assert_eq!(
        shop.untagged.load(Ordering::Relaxed),
        home + shop.order.load(Ordering::Relaxed) + shop.pay.load(Ordering::Relaxed)
    );
}
