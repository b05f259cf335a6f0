//! Emergency plans that execute, against a real server on loopback over
//! SQLite: a `rate_limit` run reaches a real sidecar following the control
//! plane in front of a real upstream within a second (its admitted rate,
//! measured with a bounded burst, drops) and rollback restores it; a dry
//! run changes no rule version; a restart in the middle of an action marks
//! it unknown with what to check, and one in the middle of an undo marks
//! the undo unknown without applying it again; bad input fails clearly.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use seawall_api::emergency::EmergencyRun;
use seawall_server::client::Client;
use seawall_store::Role;
use serde_json::{Value, json};

use crate::common::{self, TestServer};
use crate::rules::{
    Following, applied_version, follow, put_as, start_server, start_server_with, until_applied,
};

const SLUG: &str = "carnival";

/// The test plan: one entry, a dependency with a fallback, a war-room
/// channel at `hook` (a Slack incoming webhook on loopback), and the
/// emergency plans the tests run.
fn plan(hook: &str) -> String {
    format!(
        "\
event: {{name: Test Carnival, timezone: UTC}}
people:
  lin-wei: {{name: Lin Wei}}
  zhao-min: {{name: Zhao Min}}
  sun-li: {{name: Sun Li}}
organization:
  guarantee_group: [lin-wei, zhao-min]
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
  order-api: {{line: bike, tier: frontend, instances: 2, capacity_per_instance: 10,
    kubernetes: {{namespace: shop, deployment: order-api}}}}
oncall:
  channels:
    war-room: {{kind: slack, webhook: \"{hook}\"}}
emergency:
  allow_hosts: [\"127.0.0.1\"]
emergency_plans:
  order-rate-limit:
    name: Limit orders
    phase: during
    trigger: manual
    actions:
      - {{kind: rate_limit, entry: create-order, qps: 5}}
    owner: sun-li
    expected_minutes: 2
  order-degrade:
    phase: during
    trigger: manual
    actions:
      - {{kind: rate_limit, entry: create-order, qps: 7}}
      - {{kind: degrade, service: order-api, switch: no-such-switch}}
    owner: sun-li
    expected_minutes: 2
  order-two-approvals:
    phase: during
    trigger: manual
    approval: two
    actions:
      - {{kind: rate_limit, entry: create-order, qps: 9}}
    owner: sun-li
    expected_minutes: 2
  scale-out:
    phase: pre
    trigger: manual
    actions:
      - {{kind: scale, service: order-api, instances: 6}}
    expected_minutes: 5
  tell-the-room:
    phase: during
    trigger: manual
    actions:
      - {{kind: notify, channel: war-room, message: \"orders limited\"}}
    owner: sun-li
    expected_minutes: 1
"
    )
}

/// A run, polled until `done` says so (at most `limit`).
async fn until(
    client: &Client,
    n: i64,
    limit: Duration,
    done: impl Fn(&EmergencyRun) -> bool,
) -> EmergencyRun {
    let started = Instant::now();
    loop {
        let run = client.emergency_run(SLUG, n).await.expect("run");
        if done(&run) {
            return run;
        }
        assert!(
            started.elapsed() < limit,
            "run {n} did not get there within {limit:?}: {run:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn final_status(r: &EmergencyRun) -> bool {
    matches!(
        r.status.as_str(),
        "succeeded" | "failed" | "rolled_back" | "cancelled"
    )
}

/// How many of `n` back-to-back orders through the sidecar were admitted.
async fn admitted(proxy: SocketAddr, n: usize) -> usize {
    let client = Client::new(&format!("http://{proxy}")).expect("client");
    let mut ok = 0;
    for _ in 0..n {
        let r = client
            .send(
                Method::POST,
                "/api/orders",
                Some(("application/json", "{}".into())),
            )
            .await
            .expect("request through the sidecar");
        if r.status == StatusCode::OK {
            ok += 1;
        }
    }
    ok
}

async fn setup(admin: &Client, hook: &str) {
    let r = admin
        .post_json("/api/v1/events", &json!({"slug": SLUG, "name": "Carnival"}))
        .await
        .expect("event");
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = admin
        .post_json(
            &format!("/api/v1/events/{SLUG}/plans"),
            &json!({"file_name": "plan.yaml", "text": plan(hook)}),
        )
        .await
        .expect("plan");
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

/// The audit log's `emergency.*` actions, in order.
async fn emergency_audit(client: &Client) -> Vec<String> {
    let audit: Value = client
        .get("/api/v1/audit?limit=1000")
        .await
        .expect("audit")
        .json()
        .expect("json");
    audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("emergency."))
        .map(str::to_owned)
        .collect()
}

/// Each of `actions` is in the audit log.
async fn audited(client: &Client, actions: &[&str]) {
    let found = emergency_audit(client).await;
    for a in actions {
        assert!(found.iter().any(|x| x == a), "{a} in {found:?}");
    }
}

fn admin_secret(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("admin-token"))
        .expect("the first start writes admin-token")
        .trim()
        .to_owned()
}

/// A server of our own over SQLite in `dir` with the test plan, the
/// order-api rules at 1000 QPS, and a sidecar token for order-api.
struct Served {
    base: String,
    admin: Client,
    sidecar_token: String,
    stop_server: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<Result<(), seawall_server::ServerError>>,
}

async fn served_with_open_rules(dir: &std::path::Path) -> Served {
    let (addr, stop_server, serving) =
        start_server(dir, "127.0.0.1:0".parse().expect("addr")).await;
    let base = format!("http://{addr}");
    let token = admin_secret(dir);
    let admin = Client::new(&base).expect("client").with_token(&token);
    setup(&admin, "http://127.0.0.1:9/unused").await;
    assert_eq!(
        put_as(&base, &token, 1000.0, "open").await,
        StatusCode::CREATED
    );
    let r = admin
        .post_json(
            "/api/v1/tokens",
            &json!({"name": "sidecar", "role": "sidecar", "service": "order-api"}),
        )
        .await
        .expect("token");
    let sidecar_token = r.json::<Value>().expect("json")["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    Served {
        base,
        admin,
        sidecar_token,
        stop_server,
        serving,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_run_reaches_a_following_sidecar_and_rolls_back() {
    let dir = common::TempDir::new();
    let Served {
        base,
        admin,
        sidecar_token,
        stop_server,
        serving,
    } = served_with_open_rules(dir.path()).await;
    let Following {
        proxy,
        admin: sidecar_admin,
        stop: stop_sidecar,
        running,
    } = follow(
        &base,
        &sidecar_token,
        "test-1",
        &dir.path().join("rules.json"),
    )
    .await;
    assert_eq!(applied_version(sidecar_admin).await, Some(1));
    assert_eq!(
        admitted(proxy, 40).await,
        40,
        "1000 QPS admits a burst of 40"
    );

    // A dry run shows the effect and changes no rule version.
    let dry = admin
        .start_emergency_run(SLUG, "order-rate-limit", true)
        .await
        .expect("dry run");
    let dry = until(&admin, dry.id, Duration::from_secs(10), final_status).await;
    assert_eq!(dry.status, "succeeded", "{dry:#?}");
    assert_eq!(dry.steps[0].before.as_ref().expect("before")["qps"], 1000.0);
    assert_eq!(dry.steps[0].after.as_ref().expect("after")["qps"], 5.0);
    assert_eq!(
        dry.steps[0].after.as_ref().expect("after")["version"],
        Value::Null
    );
    let latest = admin
        .get("/api/v1/guard/services/order-api/versions")
        .await
        .expect("versions");
    assert_eq!(
        latest.json::<Value>().expect("json")["versions"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "a dry run stores nothing"
    );
    let r = admin.emergency_run_action(SLUG, dry.id, "rollback").await;
    assert!(r.is_err(), "a dry run has nothing to roll back");

    // The run: the sidecar applies the new version within a second and
    // admits about 5 of a burst of 40.
    let asked = Instant::now();
    let run = admin
        .start_emergency_run(SLUG, "order-rate-limit", false)
        .await
        .expect("run");
    assert_eq!(run.requested_by, "admin");
    let took = until_applied(sidecar_admin, 2, Duration::from_secs(10)).await;
    let applied_ms = asked.elapsed().as_millis();
    // The "within a second" is measured (18 ms here; see
    // docs/benchmarks.md); the bound only catches a rule that never
    // arrives, never a busy machine.
    assert!(took < Duration::from_secs(10), "applied after {took:?}");
    let run = until(&admin, run.id, Duration::from_secs(10), final_status).await;
    assert_eq!(run.status, "succeeded", "{run:#?}");
    let step = &run.steps[0];
    assert_eq!(step.before.as_ref().expect("before")["version"], 1);
    assert_eq!(step.after.as_ref().expect("after")["version"], 2);
    assert_eq!(run.within_expected, Some(true));
    let burst = admitted(proxy, 40).await;
    assert!((1..=8).contains(&burst), "5 QPS admitted {burst} of 40");
    eprintln!("run -> sidecar applied in {applied_ms} ms; limited burst admitted {burst}/40");

    // Rollback stores the previous limit as a new version.
    let back = admin
        .emergency_run_action(SLUG, run.id, "rollback")
        .await
        .expect("rollback");
    let back = until(&admin, back.id, Duration::from_secs(10), final_status).await;
    assert_eq!(back.status, "rolled_back", "{back:#?}");
    assert_eq!(back.steps[0].status, "rolled_back");
    until_applied(sidecar_admin, 3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(admitted(proxy, 40).await, 40, "rollback restores 1000 QPS");
    let history: Value = admin
        .get("/api/v1/guard/services/order-api/versions")
        .await
        .expect("history")
        .json()
        .expect("json");
    let versions = history["versions"].as_array().expect("versions");
    assert_eq!(versions.len(), 3, "{history}");
    assert_eq!(versions[1]["source"], "emergency");
    assert_eq!(versions[2]["source"], "emergency");
    assert_eq!(
        versions[0]["sha256"], versions[2]["sha256"],
        "the same rules again"
    );

    // Every transition is audited.
    audited(
        &admin,
        &[
            "emergency.run.requested",
            "emergency.step.started",
            "emergency.step.finished",
            "emergency.run.rolling_back",
            "emergency.run.rolled_back",
        ],
    )
    .await;

    let _ = stop_sidecar.send(());
    let _ = running.await;
    let _ = stop_server.send(());
    let _ = serving.await;
}

#[tokio::test]
async fn bad_input_fails_clearly() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let client = &admin.client;
    common::event_with(&server, SLUG, "Carnival", &plan("http://127.0.0.1:9/x")).await;
    // An unknown emergency plan.
    let r = admin
        .post(
            &format!("/api/v1/events/{SLUG}/emergency-plans/no-such-plan/runs"),
            &json!({"dry_run": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text());
    assert!(r.text().contains("no-such-plan"), "{}", r.text());
    let r = admin
        .get(&format!("/api/v1/events/{SLUG}/emergency-runs/999"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // No rules yet: the action fails and says what to do.
    let run = client
        .start_emergency_run(SLUG, "order-rate-limit", false)
        .await
        .expect("run");
    let run = until(client, run.id, Duration::from_secs(10), final_status).await;
    assert_eq!(run.status, "failed");
    let error = run.steps[0].error.as_deref().unwrap_or("");
    assert!(error.contains("no guard rules yet"), "{error}");

    // A switch the rules do not have: the action fails naming it, after
    // the rate limit before it succeeded; rollback undoes that one.
    assert_eq!(
        put_as(&server.base, &server.admin, 100.0, "open").await,
        StatusCode::CREATED
    );
    let run = client
        .start_emergency_run(SLUG, "order-degrade", false)
        .await
        .expect("run");
    let run = until(client, run.id, Duration::from_secs(10), final_status).await;
    assert_eq!(run.status, "failed", "{run:#?}");
    assert_eq!(run.steps[0].status, "succeeded");
    let error = run.steps[1].error.as_deref().unwrap_or("");
    assert!(error.contains("no switch `no-such-switch`"), "{error}");
    let back = client
        .emergency_run_action(SLUG, run.id, "rollback")
        .await
        .expect("rollback");
    let back = until(client, back.id, Duration::from_secs(10), final_status).await;
    assert_eq!(back.status, "rolled_back", "{back:#?}");
    let latest: Value = admin
        .get("/api/v1/guard/services/order-api/versions/3")
        .await
        .json()
        .expect("json");
    assert_eq!(latest["version"], 3, "{latest}");
    assert_eq!(latest["rules"]["resources"][0]["flow"][0]["count"], 100.0);
    // Resuming a run that waits for nobody is a conflict.
    let r = admin
        .post(
            &format!("/api/v1/events/{SLUG}/emergency-runs/{}/resume", run.id),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
}

/// A Slack webhook on loopback that accepts connections and never answers.
async fn silent_receiver() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_action_marks_it_unknown_with_what_to_check() {
    let dir = common::TempDir::new();
    let hook = silent_receiver().await;
    let (addr, stop_server, serving) =
        start_server(dir.path(), "127.0.0.1:0".parse().expect("addr")).await;
    let base = format!("http://{addr}");
    let token = admin_secret(dir.path());
    let admin = Client::new(&base).expect("client").with_token(&token);
    setup(&admin, &format!("http://{hook}/hook")).await;
    let run = admin
        .start_emergency_run(SLUG, "tell-the-room", false)
        .await
        .expect("run");
    let running = until(&admin, run.id, Duration::from_secs(10), |r| {
        r.steps[0].status == "running"
    })
    .await;
    assert_eq!(running.status, "running");
    // Another run of the same plan while this one is unfinished: refused.
    let again = admin
        .post_json(
            &format!("/api/v1/events/{SLUG}/emergency-plans/tell-the-room/runs"),
            &json!({"dry_run": false}),
        )
        .await
        .expect("answer");
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());

    // The server stops in the middle of the message and starts again.
    let _ = stop_server.send(());
    let _ = serving.await;
    let (addr, stop_server, serving) = start_server(dir.path(), addr).await;
    let admin = Client::new(&format!("http://{addr}"))
        .expect("client")
        .with_token(&token);
    let recovered = until(&admin, run.id, Duration::from_secs(10), |r| {
        r.status == "needs_attention"
    })
    .await;
    assert_eq!(recovered.steps[0].status, "unknown");
    let check = recovered.steps[0].error.as_deref().unwrap_or("");
    assert!(check.contains("channel `war-room`"), "{check}");
    // The page shows what to check, and Resume / Roll back in their
    // meaning after an interrupted action.
    let ui = common::ui_login_at(&format!("http://{addr}"), &token).await;
    let html = ui.get(&format!("/ui/events/{SLUG}/emergency")).await.text();
    let n = run.id;
    for part in [
        format!("id=\"attention-{n}\""),
        "data-status=\"unknown\"".to_owned(),
        "channel `war-room`".to_owned(),
        format!("id=\"resume-{n}\""),
        ">Resume</button>".to_owned(),
        ">Roll back</button>".to_owned(),
        format!("id=\"explain-resume-{n}\">You checked the action whose outcome is unknown"),
    ] {
        assert!(html.contains(&part), "{part} in {html}");
    }
    assert!(!html.contains("Mark the undo done"), "{html}");
    // A commander rolls back: a message cannot be unsent, so nothing is
    // undone and the run is rolled back at once.
    let back = admin
        .emergency_run_action(SLUG, run.id, "rollback")
        .await
        .expect("rollback");
    assert_eq!(back.status, "rolled_back", "{back:#?}");
    let actions = emergency_audit(&admin).await;
    assert!(
        actions.iter().any(|a| a == "emergency.run.recovered"),
        "{actions:?}"
    );
    let _ = stop_server.send(());
    let _ = serving.await;
}

#[tokio::test]
async fn two_commanders_other_than_the_requester_approve_before_anything_runs() {
    let server = TestServer::start().await;
    let admin = server.admin();
    common::event_with(&server, SLUG, "Carnival", &plan("http://127.0.0.1:9/x")).await;
    assert_eq!(
        put_as(&server.base, &server.admin, 100.0, "open").await,
        StatusCode::CREATED
    );
    // People are tokens named by their person id.
    let person = |name: &'static str, role: Role| {
        let server = &server;
        async move { server.api(Some(&server.token(name, role, None).await)) }
    };
    let sun = person("sun-li", Role::Commander).await;
    let lin = person("lin-wei", Role::Commander).await;
    let zhao = person("zhao-min", Role::Commander).await;
    let stranger = person("stranger", Role::Commander).await;
    let oncall = person("wu-qing", Role::Oncall).await;

    let run = sun
        .client
        .start_emergency_run(SLUG, "order-two-approvals", false)
        .await
        .expect("run");
    assert_eq!(
        (run.status.as_str(), run.approval.as_str()),
        ("awaiting_approval", "two")
    );
    let approve = |who: &common::Api| {
        let c = who.clone();
        async move {
            c.post(
                &format!("/api/v1/events/{SLUG}/emergency-runs/{}/approve", run.id),
                &json!({}),
            )
            .await
        }
    };
    // The requester, someone who is no commander of the plan, and an
    // oncall token are refused, with a sentence saying why.
    let r = approve(&sun).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(
        r.text()
            .contains("requested this run and cannot approve it"),
        "{}",
        r.text()
    );
    let r = approve(&stranger).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("not a commander"), "{}", r.text());
    let r = approve(&oncall).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    // One approval: still waiting, nothing ran, no version stored.
    let r = approve(&lin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = approve(&lin).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    assert!(
        r.text().contains("approved this run already"),
        "{}",
        r.text()
    );
    let waiting = admin.client.emergency_run(SLUG, run.id).await.expect("run");
    assert_eq!(waiting.status, "awaiting_approval");
    assert_eq!(waiting.steps[0].status, "pending");
    let versions: Value = admin
        .get("/api/v1/guard/services/order-api/versions")
        .await
        .json()
        .expect("json");
    assert_eq!(versions["versions"].as_array().map(Vec::len), Some(1));
    // The second commander: it runs.
    let r = approve(&zhao).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let done = until(&admin.client, run.id, Duration::from_secs(10), final_status).await;
    assert_eq!(done.status, "succeeded", "{done:#?}");
    let by: Vec<&str> = done.approvals.iter().map(|a| a.by.as_str()).collect();
    assert_eq!(by, ["lin-wei", "zhao-min"]);
    assert_eq!(done.steps[0].after.as_ref().expect("after")["qps"], 9.0);
    let actions = emergency_audit(&admin.client).await;
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "emergency.run.approved")
            .count(),
        2,
        "{actions:?}"
    );
    // A run waiting for approval blocks the next one until cancelled.
    let waiting = sun
        .client
        .start_emergency_run(SLUG, "order-two-approvals", false)
        .await
        .expect("run");
    assert!(
        sun.client
            .start_emergency_run(SLUG, "order-two-approvals", false)
            .await
            .is_err()
    );
    let cancelled = oncall
        .client
        .emergency_run_action(SLUG, waiting.id, "cancel")
        .await
        .expect("cancel");
    assert_eq!(cancelled.status, "cancelled");
    assert_eq!(cancelled.steps[0].status, "skipped");
    let r = lin
        .post(
            &format!(
                "/api/v1/events/{SLUG}/emergency-runs/{}/approve",
                waiting.id
            ),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    let r = admin
        .post(
            &format!("/api/v1/events/{SLUG}/emergency-runs/{}/cancel", done.id),
            &json!({}),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "a run that acted cannot be cancelled"
    );
    // A dry run of the same plan needs no approval.
    let dry = oncall
        .client
        .start_emergency_run(SLUG, "order-two-approvals", true)
        .await
        .expect("dry run");
    assert_eq!(dry.status, "running");
}

/// What the loopback receiver got: the webhook's signed requests and the
/// warm-up GETs (path, tag header, when).
#[derive(Default)]
struct Received {
    hooks: Vec<(Option<String>, Option<String>, Vec<u8>)>,
    warms: Vec<(String, Option<String>, Instant)>,
}

async fn receiver() -> (SocketAddr, std::sync::Arc<std::sync::Mutex<Received>>) {
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Uri};
    let got = std::sync::Arc::new(std::sync::Mutex::new(Received::default()));
    let header =
        |h: &HeaderMap, name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (hooks, warms) = (got.clone(), got.clone());
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(move |h: HeaderMap, body: Bytes| async move {
                if let Ok(mut g) = hooks.lock() {
                    g.hooks.push((
                        header(&h, "x-seawall-timestamp"),
                        header(&h, "x-seawall-signature"),
                        body.to_vec(),
                    ));
                }
                "ok"
            }),
        )
        .fallback(move |h: HeaderMap, uri: Uri| async move {
            if let Ok(mut g) = warms.lock() {
                g.warms.push((
                    uri.path().to_owned(),
                    header(&h, "x-seawall-warmup"),
                    Instant::now(),
                ));
            }
            "warm"
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, got)
}

#[tokio::test]
async fn a_webhook_is_signed_and_a_cache_warmup_fetches_at_its_rate() {
    let (at, got) = receiver().await;
    let dir = common::TempDir::new();
    let secret_file = dir.path().join("hook-secret");
    std::fs::write(&secret_file, "whsec-test-0123456789").expect("secret");
    let text = plan("http://127.0.0.1:9/x").replace(
        "  tell-the-room:\n",
        &format!(
            "  call-and-warm:
    phase: pre
    trigger: manual
    actions:
      - {{kind: cache_warmup, service: order-api, rate: 20, urls: [\"http://{at}/warm/a\", \"http://{at}/warm/b?x=1\", \"http://{at}/warm/c\"]}}
      - {{kind: webhook, url: \"http://{at}/hook\", body: \"orders limited\", secret_env: \"file:{}\", retries: 0}}
    expected_minutes: 1
  tell-the-room:\n",
            secret_file.display()
        ),
    );
    let server = TestServer::start().await;
    let admin = server.admin();
    common::event_with(&server, SLUG, "Carnival", &text).await;

    // The dry run fetches and sends nothing.
    let dry = admin
        .client
        .start_emergency_run(SLUG, "call-and-warm", true)
        .await
        .expect("dry run");
    let dry = until(&admin.client, dry.id, Duration::from_secs(10), final_status).await;
    assert_eq!(dry.status, "succeeded", "{dry:#?}");
    assert_eq!(
        dry.steps[0].after.as_ref().expect("after")["would_fetch"],
        3
    );
    assert_eq!(
        dry.steps[1].after.as_ref().expect("after")["would_send"],
        "orders limited"
    );
    {
        let g = got.lock().expect("lock");
        assert!(g.hooks.is_empty() && g.warms.is_empty());
    }

    let run = admin
        .client
        .start_emergency_run(SLUG, "call-and-warm", false)
        .await
        .expect("run");
    let run = until(&admin.client, run.id, Duration::from_secs(20), final_status).await;
    assert_eq!(run.status, "succeeded", "{run:#?}");
    assert!(!run.steps[0].reversible && !run.steps[1].reversible);
    let g = got.lock().expect("lock");
    let paths: Vec<&str> = g.warms.iter().map(|w| w.0.as_str()).collect();
    assert_eq!(paths, ["/warm/a", "/warm/b", "/warm/c"]);
    assert!(
        g.warms
            .iter()
            .all(|w| w.1.as_deref().is_some_and(|t| t.contains("call-and-warm"))),
        "every warm-up request is tagged with its run"
    );
    // 20 a second: three requests span at least two gaps of 50 ms.
    let span = g.warms[2].2 - g.warms[0].2;
    assert!(span >= Duration::from_millis(95), "{span:?}");
    // The webhook: one signed POST whose signature checks with the secret.
    assert_eq!(g.hooks.len(), 1);
    let (ts, sig, body) = &g.hooks[0];
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs(),
    )
    .expect("secs");
    seawall_notify::sign::verify_webhook(
        "whsec-test-0123456789",
        seawall_notify::sign::Signed {
            timestamp: ts.as_deref(),
            signature: sig.as_deref(),
            body,
        },
        now,
    )
    .expect("the signature checks");
    assert!(
        String::from_utf8_lossy(body).contains("orders limited"),
        "{}",
        String::from_utf8_lossy(body)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_goes_through_the_scale_subresource_and_rolls_back() {
    let (fake, kube) = fake_kube().await;
    let dir = common::TempDir::new();
    let (addr, stop, serving) = start_server_with(
        dir.path(),
        "127.0.0.1:0".parse().expect("addr"),
        Some(kube()),
    )
    .await;
    let base = format!("http://{addr}");
    let admin = Client::new(&base)
        .expect("client")
        .with_token(admin_secret(dir.path()));
    setup(&admin, "http://127.0.0.1:9/x").await;

    let replicas = || {
        fake.deployment("shop", "order-api")
            .map(|d| (d.spec, d.status))
    };
    let dry = admin
        .start_emergency_run(SLUG, "scale-out", true)
        .await
        .expect("dry run");
    let dry = until(&admin, dry.id, Duration::from_secs(10), final_status).await;
    assert_eq!(dry.status, "succeeded", "{dry:#?}");
    assert_eq!(dry.steps[0].before.as_ref().expect("before")["replicas"], 2);
    assert_eq!(dry.steps[0].after.as_ref().expect("after")["replicas"], 6);
    assert_eq!(replicas(), Some((2, 2)), "a dry run changes nothing");

    let run = admin
        .start_emergency_run(SLUG, "scale-out", false)
        .await
        .expect("run");
    let run = until(&admin, run.id, Duration::from_secs(30), final_status).await;
    assert_eq!(run.status, "succeeded", "{run:#?}");
    assert_eq!(run.steps[0].after.as_ref().expect("after")["replicas"], 6);
    assert_eq!(run.steps[0].after.as_ref().expect("after")["no_op"], false);
    assert_eq!(replicas(), Some((6, 6)));
    // Already there: a recorded no-op.
    let again = admin
        .start_emergency_run(SLUG, "scale-out", false)
        .await
        .expect("run");
    let again = until(&admin, again.id, Duration::from_secs(30), final_status).await;
    assert_eq!(again.steps[0].after.as_ref().expect("after")["no_op"], true);
    // Rollback scales back to what the first run found.
    let back = admin
        .emergency_run_action(SLUG, run.id, "rollback")
        .await
        .expect("rollback");
    let back = until(&admin, back.id, Duration::from_secs(30), final_status).await;
    assert_eq!(back.status, "rolled_back", "{back:#?}");
    assert_eq!(replicas(), Some((2, 2)));
    let _ = stop.send(());
    let _ = serving.await;

    // A server without a Kubernetes connection says so.
    let plain = TestServer::start().await;
    common::event_with(&plain, SLUG, "Carnival", &plan("http://127.0.0.1:9/x")).await;
    let client = &plain.admin().client;
    let run = client
        .start_emergency_run(SLUG, "scale-out", false)
        .await
        .expect("run");
    let run = until(client, run.id, Duration::from_secs(10), final_status).await;
    let error = run.steps[0].error.as_deref().unwrap_or("");
    assert!(error.starts_with("not configured"), "{error}");
    assert!(error.contains("--kubeconfig"), "{error}");
}

/// How many of the service's sidecars report `version` applied.
async fn reporting(admin: &Client, version: i64) -> usize {
    let r: Value = admin
        .get("/api/v1/guard/services/order-api/sidecars")
        .await
        .expect("sidecars")
        .json()
        .expect("json");
    r["sidecars"].as_array().map_or(0, |s| {
        s.iter().filter(|s| s["applied_version"] == version).count()
    })
}

/// From "run" to a `rate_limit` applied at 100 following sidecars (each
/// reports the version it applied to the control plane, which the test
/// reads). The time is printed and recorded in docs/benchmarks.md against
/// the 2 s; the bound here only catches sidecars that never get
/// the version, since a test must not fail on a busy machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_reaches_100_following_sidecars() {
    const SIDECARS: usize = 100;
    let dir = common::TempDir::new();
    let Served {
        base,
        admin,
        sidecar_token,
        stop_server,
        serving,
    } = served_with_open_rules(dir.path()).await;
    let mut fleet = Vec::new();
    for i in 0..SIDECARS {
        let name = format!("s-{i}");
        let path = dir.path().join(format!("{name}.json"));
        fleet.push(follow(&base, &sidecar_token, &name, &path).await);
    }
    let started = Instant::now();
    while reporting(&admin, 1).await < SIDECARS {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the fleet did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let asked = Instant::now();
    admin
        .start_emergency_run(SLUG, "order-rate-limit", false)
        .await
        .expect("run");
    while reporting(&admin, 2).await < SIDECARS {
        assert!(
            asked.elapsed() < Duration::from_secs(30),
            "{} of {SIDECARS} sidecars applied the run's version after {:?}",
            reporting(&admin, 2).await,
            asked.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "run -> rate_limit applied at {SIDECARS} following sidecars in {} ms",
        asked.elapsed().as_millis()
    );
    for f in fleet {
        let _ = f.stop.send(());
        let _ = f.running.await;
    }
    let _ = stop_server.send(());
    let _ = serving.await;
}

#[tokio::test]
async fn the_ui_runs_dry_runs_and_approves_through_the_same_rules() {
    let server = TestServer::start().await;
    common::event_with(&server, SLUG, "Carnival", &plan("http://127.0.0.1:9/x")).await;
    assert_eq!(
        put_as(&server.base, &server.admin, 100.0, "open").await,
        StatusCode::CREATED
    );
    let login = |name: &'static str, role: Role| {
        let server = &server;
        async move { server.ui_login(&server.token(name, role, None).await).await }
    };
    let sun = login("sun-li", Role::Commander).await;
    let lin = login("lin-wei", Role::Commander).await;
    let viewer = login("vera", Role::Viewer).await;
    let page = "/ui/events/carnival/emergency";

    let html = sun.get(page).await.text();
    assert!(html.contains("id=\"run-order-rate-limit\""), "{html}");
    assert!(html.contains("id=\"no-runs\""));
    let html = viewer.get(page).await.text();
    assert!(
        !html.contains("id=\"run-form-"),
        "a viewer gets no Run button"
    );
    let r = viewer
        .post_form("/ui/events/carnival/emergency/order-rate-limit/run", &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // A dry run from the page.
    let r = sun
        .post_form(
            "/ui/events/carnival/emergency/order-rate-limit/run",
            &[("dry_run", "1")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let client = &server.admin().client;
    let dry = until(client, 1, Duration::from_secs(10), final_status).await;
    assert!(dry.dry_run && dry.status == "succeeded", "{dry:#?}");
    // A run that needs two approvals: the requester sees no Approve
    // button's effect (refused), another commander approves.
    let r = sun
        .post_form("/ui/events/carnival/emergency/order-two-approvals/run", &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let html = lin.get(page).await.text();
    assert!(html.contains("id=\"approve-2\""), "{html}");
    assert!(html.contains("data-status=\"awaiting_approval\""));
    let r = sun
        .post_form("/ui/events/carnival/emergency/runs/2/approve", &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = lin
        .post_form("/ui/events/carnival/emergency/runs/2/approve", &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let run = client.emergency_run(SLUG, 2).await.expect("run");
    assert_eq!(run.approvals.len(), 1);
    // Cancelled from the page; a form without its CSRF token changes nothing.
    let r = lin
        .post_form_exact("/ui/events/carnival/emergency/runs/2/cancel", &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = lin
        .post_form("/ui/events/carnival/emergency/runs/2/cancel", &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let html = lin.get(page).await.text();
    assert!(html.contains("data-status=\"cancelled\""), "{html}");
}

/// A fake Kubernetes API server with `shop/order-api` at 2 replicas, and
/// a client of it.
async fn fake_kube() -> (
    seawall_kube::testing::FakeApiServer,
    impl Fn() -> seawall_kube::KubeClient,
) {
    use seawall_kube::testing::{FakeApiServer, TOKEN};
    let fake = FakeApiServer::start().await.expect("fake API server");
    fake.add_deployment("shop", "order-api", 2);
    let credentials = seawall_kube::Credentials {
        server: fake.url(),
        ca: seawall_kube::CaSource::System,
        token: seawall_kube::TokenSource::Inline(seawall_kube::Token::new(TOKEN)),
        namespace: None,
        origin: "test".into(),
    };
    let kube = move || seawall_kube::KubeClient::new(&credentials).expect("client");
    (fake, kube)
}

/// A restart while a rollback's undo is in flight (the scale back was
/// patched, its wait for `status.replicas` had not ended): the undo is
/// marked `undo_unknown` with the captured replicas and where to look,
/// nothing is patched again after the restart, and the commander's
/// resume marks it done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_rollback_marks_the_undo_unknown_and_reapplies_nothing() {
    let (fake, kube) = fake_kube().await;
    let dir = common::TempDir::new();
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let (addr, stop, serving) = start_server_with(dir.path(), any, Some(kube())).await;
    let admin = Client::new(&format!("http://{addr}"))
        .expect("client")
        .with_token(admin_secret(dir.path()));
    setup(&admin, "http://127.0.0.1:9/x").await;
    let run = admin
        .start_emergency_run(SLUG, "scale-out", false)
        .await
        .expect("run");
    let run = until(&admin, run.id, Duration::from_secs(30), final_status).await;
    assert_eq!(run.status, "succeeded", "{run:#?}");

    // From now on the deployment never reports the new replicas, so the
    // undo's wait does not end: the server stops in the middle of it.
    fake.follow_after(None);
    let patches = || {
        fake.requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count()
    };
    let before_rollback = patches();
    admin
        .emergency_run_action(SLUG, run.id, "rollback")
        .await
        .expect("rollback");
    let undoing = until(&admin, run.id, Duration::from_secs(10), |r| {
        r.steps[0].status == "undoing"
    })
    .await;
    assert_eq!(undoing.status, "rolling_back");
    let deadline = Instant::now() + Duration::from_secs(10);
    while patches() == before_rollback {
        assert!(
            Instant::now() < deadline,
            "the undo never patched the scale"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let patched = patches();
    assert_eq!(
        fake.deployment("shop", "order-api")
            .map(|d| (d.spec, d.status)),
        Some((2, 6))
    );
    let _ = stop.send(());
    let _ = serving.await;

    let (addr, stop, serving) = start_server_with(dir.path(), addr, Some(kube())).await;
    let admin = Client::new(&format!("http://{addr}"))
        .expect("client")
        .with_token(admin_secret(dir.path()));
    let recovered = until(&admin, run.id, Duration::from_secs(10), |r| {
        r.status == "needs_attention"
    })
    .await;
    assert_eq!(recovered.steps[0].status, "undo_unknown", "{recovered:#?}");
    let check = recovered.steps[0].error.as_deref().unwrap_or("");
    for part in [
        "being undone",
        "replicas of `order-api`",
        "\"replicas\":2",
        "\"replicas\":6",
    ] {
        assert!(check.contains(part), "{part} in {check}");
    }
    // Nothing is applied again by itself.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(patches(), patched, "no PATCH after the restart");
    assert_eq!(
        admin.emergency_run(SLUG, run.id).await.expect("run").status,
        "needs_attention"
    );
    // The page says what each button does after an interrupted undo, and
    // shows what to check above them.
    let ui = common::ui_login_at(&format!("http://{addr}"), &admin_secret(dir.path())).await;
    let html = ui.get(&format!("/ui/events/{SLUG}/emergency")).await.text();
    let n = run.id;
    for part in [
        format!("id=\"attention-{n}\""),
        "interrupted this run's rollback".to_owned(),
        "data-status=\"undo_unknown\"".to_owned(),
        "replicas of `order-api`".to_owned(),
        format!("id=\"resume-{n}\""),
        ">Mark the undo done</button>".to_owned(),
        format!("id=\"rollback-{n}\""),
        ">Apply the undo again</button>".to_owned(),
        format!("id=\"explain-resume-{n}\">You checked that the interrupted undo took effect"),
        format!(
            "id=\"explain-rollback-{n}\">The interrupted undo did not take effect: it is applied again"
        ),
    ] {
        assert!(html.contains(&part), "{part} in {html}");
    }
    assert!(!html.contains(">Resume</button>"), "{html}");
    // The commander sees spec 2 and marks the undo done.
    let done = admin
        .emergency_run_action(SLUG, run.id, "resume")
        .await
        .expect("resume");
    assert_eq!(done.status, "rolled_back", "{done:#?}");
    assert_eq!(done.steps[0].status, "rolled_back");
    assert_eq!(patches(), patched, "marking done patches nothing");
    audited(
        &admin,
        &[
            "emergency.step.undo_started",
            "emergency.run.recovered",
            "emergency.run.resumed",
        ],
    )
    .await;
    let _ = stop.send(());
    let _ = serving.await;
}
