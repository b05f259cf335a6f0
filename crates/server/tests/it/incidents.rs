//! Incidents and on-call paging with real parts: a real server over SQLite
//! on loopback, its real paging loop (a 1 s tick on tokio's clock, "now"
//! from the `ManualClock`), a page-severity alert made by the real
//! monitoring tick (a Prometheus stand-in refusing order-api's query:
//! `source-down`, severity page), and a DingTalk robot stand-in on
//! loopback that checks each request's signature and records the mobiles
//! it mentions. Waits are bounded (20 s only catches "never happens");
//! "no further page" is decided by calling the pager at a later time and
//! seeing it record nothing, not by timing.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use seawall_api::incidents::{Incident, OpenIncident};
use seawall_server::client::Client;
use seawall_server::service::incidents::pager::page_due;
use seawall_server::service::monitoring::{self, MonitorOptions};
use seawall_server::{AppState, ManualClock, Server, ServerError};
use serde_json::{Value, json};

use crate::common::{self, T0};
use crate::monitoring::fake_prometheus_refusing;

const SLUG: &str = "carnival";
const SECRET: &str = "SEC-incident-test-secret";
/// Bound of every wait for something that must happen.
const LIMIT: Duration = Duration::from_secs(20);

/// The plan: order-api in line bike; chen-jie primary and zhou-hao
/// secondary of bike at T0, lin-wei the guarantee group; a 1 s
/// `ack_timeout` (the shortest allowed); a DingTalk war room at `robot`
/// signed with the secret in `secret_file`; order-api's p99 from a query
/// the Prometheus stand-in refuses while told to.
fn plan(robot: SocketAddr, secret_file: &std::path::Path, prometheus: SocketAddr) -> String {
    format!(
        "\
event: {{name: Test Carnival, timezone: UTC}}
people:
  chen-jie: {{name: Chen Jie, phone: \"13800000001\"}}
  zhou-hao: {{name: Zhou Hao, phone: \"13800000002\"}}
  lin-wei: {{name: Lin Wei, phone: \"13800000003\"}}
organization:
  guarantee_group: [lin-wei]
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
  ack_timeout: 1s
  rota:
    - {{lines: [bike], start: \"2026-09-30T00:00\", end: \"2026-09-30T20:00\", primary: chen-jie, secondary: zhou-hao}}
  channels:
    war-room:
      kind: dingtalk
      webhook: \"http://{robot}/robot/send?access_token=tok\"
      secret_env: \"file:{}\"
emergency:
  allow_hosts: [\"127.0.0.1\"]
emergency_plans:
  limit-orders:
    phase: during
    trigger: manual
    actions:
      - {{kind: rate_limit, entry: create-order, qps: 5}}
    expected_minutes: 2
monitoring:
  prometheus: {{url: \"http://{prometheus}\"}}
  queries:
    order-api: {{p99_ms: \"sum(many_to_many_metric)\"}}
",
        secret_file.display()
    )
}

/// What the robot stand-in received: the mobiles of each correctly
/// signed message and its text; badly signed requests are counted apart.
#[derive(Default)]
struct Robot {
    pages: Vec<(Vec<String>, String)>,
    bad: usize,
}

/// A DingTalk custom robot on loopback: `POST /robot/send` with
/// `access_token`, `timestamp` (ms) and `sign` in the query; the sign must
/// be the URL-encoded base64 HMAC-SHA256 with the secret as key over
/// `timestamp + "\n" + secret` (seawall-notify's tests pin that function to
/// independently computed vectors). Answers `errcode: 0` as DingTalk does.
async fn robot() -> (SocketAddr, Arc<Mutex<Robot>>) {
    let got = Arc::new(Mutex::new(Robot::default()));
    let seen = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/robot/send",
        axum::routing::post(
            move |uri: axum::http::Uri, axum::Json(body): axum::Json<Value>| async move {
                let query = uri.query().unwrap_or("");
                let param = |name: &str| {
                    query
                        .split('&')
                        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                        .map(str::to_owned)
                };
                let signed = match (param("access_token"), param("timestamp"), param("sign")) {
                    (Some(token), Some(ts), Some(sign)) => {
                        token == "tok"
                            && ts.parse::<i64>().is_ok_and(|t| {
                                seawall_notify::sign::dingtalk_sign_encoded(SECRET, t) == sign
                            })
                    }
                    _ => false,
                };
                let mut g = seen.lock().expect("lock");
                if !signed {
                    g.bad += 1;
                    return axum::Json(json!({"errcode": 310000, "errmsg": "sign not match"}));
                }
                let mobiles = body["at"]["atMobiles"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|m| m.as_str().map(str::to_owned))
                    .collect();
                g.pages.push((mobiles, body.to_string()));
                axum::Json(json!({"errcode": 0, "errmsg": "ok"}))
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, got)
}

/// A running server over the SQLite file in `dir`, on `clock`.
struct Running {
    state: AppState,
    admin: Client,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.serving.await;
    }
}

async fn start(dir: &std::path::Path, clock: &ManualClock) -> Running {
    let spec = seawall_store::StoreSpec::Sqlite(dir.join("seawall.db"));
    let store = seawall_store::open(&spec).await.expect("store");
    let state = AppState::new(store, dir)
        .with_clock(clock.clock())
        .with_monitoring(MonitorOptions {
            scrape_interval: Duration::from_secs(1),
            ..MonitorOptions::default()
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = Server::with_state(listener, state.clone())
        .await
        .expect("server");
    let base = format!("http://{}", server.local_addr().expect("addr"));
    let token = std::fs::read_to_string(dir.join("admin-token"))
        .expect("admin-token")
        .trim()
        .to_owned();
    let admin = Client::new(&base).expect("client").with_token(&token);
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    Running {
        state,
        admin,
        stop,
        serving,
    }
}

/// The event with the plan.
async fn setup(admin: &Client, text: &str) {
    let r = admin
        .post_json("/api/v1/events", &json!({"slug": SLUG, "name": "Carnival"}))
        .await
        .expect("event");
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = admin
        .post_json(
            &format!("/api/v1/events/{SLUG}/plans"),
            &json!({"file_name": "plan.yaml", "text": text}),
        )
        .await
        .expect("plan");
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

/// Waits (at most [`LIMIT`]) until `done` holds of what the robot got.
async fn until_robot(got: &Arc<Mutex<Robot>>, what: &str, done: impl Fn(&Robot) -> bool) {
    let started = Instant::now();
    loop {
        {
            let g = got.lock().expect("lock");
            if done(&g) {
                return;
            }
            assert!(
                started.elapsed() < LIMIT,
                "{what} within {LIMIT:?}: got {:?}, {} badly signed",
                g.pages.iter().map(|p| &p.0).collect::<Vec<_>>(),
                g.bad
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most [`LIMIT`]) until incident `n` satisfies `done`.
async fn until_incident(admin: &Client, n: i64, done: impl Fn(&Incident) -> bool) -> Incident {
    let started = Instant::now();
    loop {
        let i = admin.incident(SLUG, n).await.expect("incident");
        if done(&i) {
            return i;
        }
        assert!(started.elapsed() < LIMIT, "incident {n}: {i:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn kinds(i: &Incident) -> Vec<&str> {
    i.timeline.iter().map(|e| e.kind.as_str()).collect()
}

fn mobiles(got: &Arc<Mutex<Robot>>) -> Vec<Vec<String>> {
    got.lock()
        .expect("lock")
        .pages
        .iter()
        .map(|p| p.0.clone())
        .collect()
}

async fn tick(state: &AppState, clock: &ManualClock) {
    clock.advance(1_000);
    monitoring::tick(state, clock.now()).await.expect("tick");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_alert_opens_an_incident_that_pages_escalates_stops_at_ack_and_resolves() {
    let dir = common::TempDir::new();
    let secret_file = dir.path().join("dingtalk-secret");
    std::fs::write(&secret_file, SECRET).expect("secret");
    let (robot_addr, got) = robot().await;
    let refuse = Arc::new(AtomicBool::new(true));
    let prometheus = fake_prometheus_refusing(Arc::clone(&refuse)).await;
    let clock = ManualClock::new(T0);
    let server = start(dir.path(), &clock).await;
    let admin = &server.admin;
    setup(admin, &plan(robot_addr, &secret_file, prometheus)).await;

    // order-api's query is refused: source-down (severity page) fires at
    // the third tick and opens an incident for its target.
    tick(&server.state, &clock).await;
    tick(&server.state, &clock).await;
    let firing = Instant::now();
    tick(&server.state, &clock).await;
    let list = admin.incidents(SLUG).await.expect("list");
    assert_eq!(list.incidents.len(), 1, "{list:#?}");
    let opened = &list.incidents[0];
    assert_eq!(opened.dedup_key.as_deref(), Some("service:order-api"));
    assert_eq!(opened.line.as_deref(), Some("bike"));
    assert_eq!(opened.severity, "P1");
    assert_eq!(kinds(opened)[..2], ["opened", "alert_fired"]);
    let n = opened.id;

    // The primary is paged within a tick, on the signed channel, with the
    // incident's number in the message.
    until_robot(&got, "the primary's page", |r| r.pages.len() == 1).await;
    // Printed, not asserted: from the tick that fires the alert to the
    // signed page at the robot (provider latency: loopback).
    eprintln!(
        "alert firing to the first page delivered: {} ms",
        firing.elapsed().as_millis()
    );
    assert_eq!(mobiles(&got), [vec!["13800000001".to_owned()]]);
    let text = got.lock().expect("lock").pages[0].1.clone();
    assert!(text.contains(&format!("Incident {n} of {SLUG}")), "{text}");
    let i = until_incident(admin, n, |i| {
        i.timeline.iter().any(|e| e.text.starts_with("page sent"))
    })
    .await;
    let paging = i.paging.as_ref().expect("paging");
    assert_eq!(paging.sent.len(), 1);
    assert_eq!(paging.sent[0].tier, "primary");
    assert_eq!(paging.ack_timeout_ms, 1_000);
    assert_eq!(paging.next_page_ms, Some(paging.sent[0].at_ms + 1_000));

    // Nobody acknowledges: after ack_timeout the secondary is paged.
    clock.advance(1_000);
    until_robot(&got, "the secondary's page", |r| r.pages.len() == 2).await;
    assert_eq!(mobiles(&got)[1], ["13800000002"]);
    let i = until_incident(admin, n, |i| {
        i.paging.as_ref().is_some_and(|p| p.sent.len() == 2)
    })
    .await;
    assert!(kinds(&i).contains(&"escalated"), "{:?}", kinds(&i));

    // Acknowledged: nothing is due any more, however late it gets.
    let acked = admin.ack_incident(SLUG, n).await.expect("ack");
    assert_eq!(acked.status, "acknowledged");
    assert!(acked.time_to_ack_ms.is_some());
    assert_eq!(acked.paging.as_ref().and_then(|p| p.next_page_ms), None);
    let again = admin
        .post_json(
            &format!("/api/v1/events/{SLUG}/incidents/{n}/ack"),
            &json!({}),
        )
        .await
        .expect("answer");
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());
    clock.advance(60_000);
    assert_eq!(page_due(&server.state).await.expect("pager"), 0);
    assert_eq!(mobiles(&got).len(), 2);

    // The alert resolves, then fires again on the same target: the
    // incident gets both, and no second incident opens.
    refuse.store(false, Ordering::SeqCst);
    tick(&server.state, &clock).await;
    refuse.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        tick(&server.state, &clock).await;
    }
    let list = admin.incidents(SLUG).await.expect("list");
    assert_eq!(list.incidents.len(), 1, "joined, not opened: {list:#?}");
    let k = kinds(&list.incidents[0]);
    assert_eq!(
        k.iter().filter(|k| **k == "alert_fired").count(),
        2,
        "{k:?}"
    );
    assert!(k.contains(&"alert_resolved"), "{k:?}");

    // An emergency-plan run (a dry run) is written into the timeline: its
    // request and its action.
    admin
        .start_emergency_run(SLUG, "limit-orders", true)
        .await
        .expect("dry run");
    let i = until_incident(admin, n, |i| kinds(i).contains(&"plan_step")).await;
    assert!(
        i.timeline
            .iter()
            .any(|e| e.kind == "plan_run" && e.text.contains("limit-orders")),
        "{:#?}",
        i.timeline
    );

    // Resolved: with its time to resolve; resolving twice is refused.
    let done = admin
        .resolve_incident(SLUG, n, Some("query fixed"))
        .await
        .expect("resolve");
    assert_eq!(done.status, "resolved");
    assert!(done.time_to_resolve_ms.is_some());
    assert_eq!(
        done.timeline.last().map(|e| e.text.as_str()),
        Some("query fixed")
    );
    let again = admin
        .post_json(
            &format!("/api/v1/events/{SLUG}/incidents/{n}/resolve"),
            &json!({}),
        )
        .await
        .expect("answer");
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text());

    // Every change is audited.
    let audit: Value = admin
        .get("/api/v1/audit?limit=1000")
        .await
        .expect("audit")
        .json()
        .expect("json");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["target"] == format!("incident:{n}"))
        .filter_map(|e| e["action"].as_str())
        .collect();
    for a in [
        "incident.opened",
        "incident.paged",
        "incident.acknowledged",
        "incident.resolved",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert_eq!(
        actions.iter().filter(|a| **a == "incident.paged").count(),
        2
    );
    assert_eq!(got.lock().expect("lock").bad, 0);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_escalation_resumes_without_paging_a_step_twice() {
    let dir = common::TempDir::new();
    let secret_file = dir.path().join("dingtalk-secret");
    std::fs::write(&secret_file, SECRET).expect("secret");
    let (robot_addr, got) = robot().await;
    let prometheus = fake_prometheus_refusing(Arc::new(AtomicBool::new(false))).await;
    let clock = ManualClock::new(T0);
    let server = start(dir.path(), &clock).await;
    setup(&server.admin, &plan(robot_addr, &secret_file, prometheus)).await;

    // Opened by hand for line bike: the primary is paged.
    let opened = server
        .admin
        .open_incident(
            SLUG,
            &OpenIncident {
                title: "orders fail".into(),
                severity: Some("P2".into()),
                line: Some("bike".into()),
            },
        )
        .await
        .expect("open");
    let n = opened.id;
    until_robot(&got, "the primary's page", |r| r.pages.len() == 1).await;
    until_incident(&server.admin, n, |i| {
        i.timeline.iter().any(|e| e.text.starts_with("page sent"))
    })
    .await;

    // The server stops and a new one starts on the same file, at the same
    // time: the primary's page is stored as sent, so nothing is due.
    server.stop().await;
    let server = start(dir.path(), &clock).await;
    assert_eq!(page_due(&server.state).await.expect("pager"), 0);
    assert_eq!(mobiles(&got).len(), 1, "the primary is not paged again");

    // After ack_timeout the new server pages the secondary, once.
    clock.advance(1_000);
    until_robot(&got, "the secondary's page", |r| r.pages.len() == 2).await;
    assert_eq!(
        mobiles(&got),
        [
            vec!["13800000001".to_owned()],
            vec!["13800000002".to_owned()]
        ]
    );
    assert_eq!(page_due(&server.state).await.expect("pager"), 0);
    let i = until_incident(&server.admin, n, |i| {
        i.timeline
            .iter()
            .filter(|e| e.text.starts_with("page sent"))
            .count()
            == 2
    })
    .await;
    let sent = &i.paging.as_ref().expect("paging").sent;
    let steps: Vec<(u32, &str)> = sent.iter().map(|s| (s.step, s.tier.as_str())).collect();
    assert_eq!(steps, [(0, "primary"), (1, "secondary")]);

    // A second restart in the middle of the secondary's wait, then the
    // guarantee group is next — paged exactly once as well.
    server.stop().await;
    let server = start(dir.path(), &clock).await;
    clock.advance(1_000);
    until_robot(&got, "the guarantee group's page", |r| r.pages.len() == 3).await;
    assert_eq!(mobiles(&got)[2], ["13800000003"]);
    assert_eq!(page_due(&server.state).await.expect("pager"), 0);
    assert_eq!(got.lock().expect("lock").bad, 0);
    server.stop().await;
}
