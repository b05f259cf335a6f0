//! The event day in the control plane, with real parts: a real sidecar
//! (`--control`, so it registers its admin address) in front of a real
//! upstream on 127.0.0.1, real requests through it, and monitoring ticks
//! driven by hand at the `ManualClock`'s times (no timer is waited for).

use crate::common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TestServer, event_with};
use http::{Method, StatusCode};
use seawall_api::monitoring::{AlertSeverity, AlertState};
use seawall_monitor::alert::Change;
use seawall_server::client::Client;
use seawall_server::service::monitoring::{self, MonitorOptions};
use seawall_server::{AppState, ManualClock, Server};
use seawall_sidecar::{Config, Control, Sidecar};
use seawall_store::Role;
use serde_json::json;

/// One second between ticks (the shortest interval the server takes).
const TICK_MS: i64 = 1_000;

fn by_hand(state: AppState) -> AppState {
    state.with_monitoring(MonitorOptions {
        scrape_interval: Duration::from_millis(u64::try_from(TICK_MS).unwrap_or(1_000)),
        ..MonitorOptions::default()
    })
}

/// A running sidecar following the control plane, on a runtime of its
/// own: stopping it drops the runtime and every connection with it, as
/// the end of its process would (a keep-alive connection to its admin
/// port would otherwise go on answering).
struct Following {
    proxy: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Following {
    /// Stop it and wait until its runtime is gone.
    async fn kill(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .expect("join")
                .expect("the sidecar's thread ends");
        }
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The event `live` with the test plan, rules for order-api a commander
/// set (create-order, 1,000 QPS: nothing is refused), and a sidecar of
/// order-api following the control plane, its report (with its admin
/// address) stored.
async fn live_event(server: &TestServer) -> Following {
    event_with(server, "live", "Live", common::PLAN).await;
    let admin = server.admin();
    let rules = json!({
        "version": 1,
        "resources": [{
            "name": "create-order",
            "routes": [{"method": "POST", "path": "/api/orders"}],
            "flow": [{"id": "create-order.qps", "count": 1000.0}]
        }]
    });
    let r = admin
        .checked(
            Method::PUT,
            "/api/v1/guard/services/order-api/rules",
            Some((
                "application/json",
                serde_json::to_vec(&json!({"rules": rules, "note": "open"}))
                    .expect("json")
                    .into(),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let token = server
        .token("sidecar", seawall_store::Role::Sidecar, Some("order-api"))
        .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        &format!("http://{}", crate::rules::upstream().await),
        dir.path().join("rules.json"),
    )
    .expect("config");
    config.admin_listen = Some("127.0.0.1:0".parse().expect("addr"));
    config.control =
        Some(Control::new(&server.base, "order-api", token, "pod-1").expect("control"));
    let (addrs_tx, addrs_rx) = tokio::sync::oneshot::channel();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let sidecar = Sidecar::bind(config).await.expect("the sidecar starts");
            let addrs = (
                sidecar.local_addr().expect("addr"),
                sidecar.admin_addr().expect("admin"),
            );
            let _ = addrs_tx.send(addrs);
            tokio::select! {
                _ = sidecar.run(std::future::pending::<()>()) => {}
                _ = stop_rx => {}
            }
        });
    });
    let (proxy, admin_addr) = addrs_rx.await.expect("the sidecar is bound");
    // Its first report carries its admin address: waited for by its
    // arrival in the store, at most 10 s.
    let started = Instant::now();
    loop {
        let reports = server
            .state
            .store
            .sidecar_reports("order-api")
            .await
            .expect("reports");
        if let Some(r) = reports.first()
            && r.applied_version == 1
        {
            assert_eq!(r.admin_addr, Some(admin_addr.to_string()));
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no report");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Following {
        proxy,
        stop: Some(stop),
        thread: Some(thread),
        _dir: dir,
    }
}

async fn post_orders(proxy: SocketAddr, n: usize) {
    let client = Client::new(&format!("http://{proxy}")).expect("client");
    for _ in 0..n {
        let r = client
            .send(
                Method::POST,
                "/api/orders",
                Some(("application/json", "{}".into())),
            )
            .await
            .expect("request through the sidecar");
        assert_eq!(r.status, StatusCode::OK);
    }
}

/// One tick at the clock's time plus `TICK_MS`.
async fn tick(state: &AppState, clock: &ManualClock) {
    clock.advance(TICK_MS);
    monitoring::tick(state, clock.now()).await.expect("tick");
}

/// The live row `id`.
fn row<'a>(rows: &'a [seawall_monitor::LiveRow], id: &str) -> &'a seawall_monitor::LiveRow {
    rows.iter().find(|r| r.id == id).expect("a live row")
}

async fn live_id(state: &AppState) -> i64 {
    state
        .store
        .event("live")
        .await
        .expect("event")
        .expect("live")
        .id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_sidecar_is_scraped_and_its_entry_has_a_live_water_level() {
    let server = TestServer::start_tweaked(by_hand).await;
    let sidecar = live_event(&server).await;
    let state = &server.state;
    tick(state, &server.clock).await;
    post_orders(sidecar.proxy, 30).await;
    tick(state, &server.clock).await;

    let id = live_id(state).await;
    let p = state.monitor().published(id).expect("published");
    let entry = row(&p.live.entries, "create-order");
    let qps = entry.qps.expect("a qps from two scrapes");
    assert!(qps > 0.0, "{entry:?}");
    let capacity = entry.capacity_qps.expect("declared capacity");
    let level = entry.water_level.expect("a water level");
    assert!(
        (level - qps / capacity).abs() < 1e-9,
        "{level} = {qps} / {capacity}"
    );
    assert_eq!(entry.error_rate, Some(0.0));
    assert!(entry.p99_ms.is_some());
    assert_eq!(
        serde_json::to_value(entry.source).expect("json"),
        json!("ok")
    );
    // The service is the sum of the entries it serves.
    let service = row(&p.live.services, "order-api");
    assert_eq!(service.qps, Some(qps));
    // History points are stored for the review.
    let points = state
        .store
        .history(
            id,
            seawall_monitor::sample::TargetKind::Entry,
            "create-order",
            0,
        )
        .await
        .expect("history");
    assert_eq!(points.len(), 1);
    assert!((f64::from(points[0].qps_max) - qps).abs() < 1e-3 * qps.max(1.0));

    // The API says the same, in the documented shape (`get` checks the
    // answer against the served OpenAPI document), and the typed client
    // reads it.
    let r = server.admin().get("/api/v1/events/live/live").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v: serde_json::Value = r.json().expect("json");
    let api_entry = &v["entries"][0];
    assert_eq!(api_entry["id"], "create-order");
    assert_eq!(api_entry["qps"], json!(qps));
    assert_eq!(api_entry["water_level"], json!(level));
    assert_eq!(api_entry["source"], "ok");
    // Its status is the plan's verdict on that level (the real rate of
    // 30 requests sent at once is far above 20 QPS: critical).
    let expected = if level > 0.9 {
        "critical"
    } else if level >= 0.7 {
        "warn"
    } else {
        "ok"
    };
    assert_eq!(api_entry["status"], expected);
    assert_eq!(api_entry["updated_at"], json!(server.clock.now()));
    assert_eq!(
        api_entry["sla_ratio"],
        serde_json::Value::Null,
        "not a partner"
    );
    assert_eq!(v["at"], json!(server.clock.now()));
    let typed = Client::new(&server.base)
        .expect("client")
        .with_token(&server.admin)
        .live("live")
        .await
        .expect("live");
    assert_eq!(typed.entries[0].water_level, Some(level));
    assert_eq!(typed.services[0].qps, Some(qps));
    let alerts = server.admin().get("/api/v1/events/live/alerts").await;
    assert_eq!(alerts.status, StatusCode::OK, "{}", alerts.text());
    drop(sidecar);
}

#[tokio::test]
async fn alerts_and_live_are_read_by_the_readers_of_an_event() {
    let server = TestServer::start_tweaked(by_hand).await;
    event_with(&server, "live", "Live", common::PLAN).await;
    // Before any tick: an empty view, no alerts.
    let r = server.admin().get("/api/v1/events/live/live").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v: serde_json::Value = r.json().expect("json");
    assert_eq!(v["at"], serde_json::Value::Null);
    assert_eq!(v["entries"], json!([]));
    let r = server.admin().get("/api/v1/events/nope/alerts").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let readers = [
        Role::Admin,
        Role::Commander,
        Role::Pm,
        Role::Oncall,
        Role::Viewer,
    ];
    for role in Role::ALL {
        let scope = match role {
            Role::Pm => Some("bike"),
            Role::Ci => Some("live"),
            Role::Sidecar => Some("order-api"),
            _ => None,
        };
        let secret = server
            .token(&format!("as-{}", role.as_str()), role, scope)
            .await;
        for path in ["/api/v1/events/live/alerts", "/api/v1/events/live/live"] {
            let r = server.api(Some(&secret)).get(path).await;
            common::check_role_answer(&r, &format!("GET {path}"), role, &readers, 200);
        }
    }
    for path in ["/api/v1/events/live/alerts", "/api/v1/events/live/live"] {
        let r = server.api(None).get(path).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_sidecar_is_stale_then_source_down_and_a_restart_keeps_it_firing() {
    let mut server = TestServer::start_tweaked(by_hand).await;
    let sidecar = live_event(&server).await;
    let state = server.state.clone();
    tick(&state, &server.clock).await;
    post_orders(sidecar.proxy, 5).await;
    tick(&state, &server.clock).await;
    let last_good = server.clock.now();
    let id = live_id(&state).await;

    // The sidecar goes away: its rows are stale (not zero), with the error.
    sidecar.kill().await;
    let rule = "entry:create-order:source-down";
    let mut fired = Vec::new();
    for n in 1..=3 {
        tick(&state, &server.clock).await;
        let p = state.monitor().published(id).expect("published");
        let entry = row(&p.live.entries, "create-order");
        assert_eq!(
            serde_json::to_value(entry.source).expect("json"),
            json!("stale")
        );
        assert_eq!((entry.qps, entry.water_level), (None, None), "never zero");
        assert_eq!(
            entry.updated_at,
            Some(u64::try_from(last_good).expect("ms"))
        );
        let error = p
            .errors
            .get(&(
                seawall_monitor::sample::TargetKind::Entry,
                "create-order".into(),
            ))
            .expect("the scrape's error");
        assert!(error.contains("/metrics"), "{error}");
        let firing = p.alerts.iter().any(|a| a.id == rule && a.state == "firing");
        assert_eq!(firing, n == 3, "source-down fires at the third tick");
        fired = state
            .store
            .alert_transitions(id, 0, 100)
            .await
            .expect("transitions")
            .into_iter()
            .filter(|t| t.transition.rule == rule)
            .collect();
    }
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].transition.change, Change::Fired);
    let fired_at = i64::try_from(fired[0].transition.at_ms).expect("ms");
    assert_eq!(fired_at, server.clock.now());
    let audited = state.store.audit(0, 10_000).await.expect("audit");
    assert!(
        audited
            .iter()
            .any(|a| a.action == "alert.fired" && a.detail.contains(rule) && a.actor == "monitor")
    );
    seawall_store::audit::verify(&audited).expect("the chain verifies");

    // A restart on the same SQLite data: the alert is firing at once
    // (restored), stays firing while the sidecar stays down, and no
    // second `fired` transition is stored.
    let handle = server.begin_stop();
    handle.await.expect("task").expect("stops");
    let store = seawall_store::open(&seawall_store::StoreSpec::Sqlite(
        server.dir.path().join("seawall.db"),
    ))
    .await
    .expect("reopen");
    let clock = ManualClock::new(server.clock.now());
    let again = by_hand(AppState::new(store, server.dir.path()).with_clock(clock.clock()));
    let (base, stop) = serve(again.clone()).await;
    let event = again
        .store
        .event("live")
        .await
        .expect("event")
        .expect("live");
    let before = monitoring::current(&again, &event).await.expect("current");
    assert!(
        before
            .alerts
            .iter()
            .any(|a| a.id == rule && a.state == "firing"),
        "restored before any tick"
    );
    for _ in 0..4 {
        tick(&again, &clock).await;
    }
    let p = again.monitor().published(event.id).expect("published");
    assert!(p.alerts.iter().any(|a| a.id == rule && a.state == "firing"));
    let transitions: Vec<_> = again
        .store
        .alert_transitions(event.id, 0, 100)
        .await
        .expect("transitions")
        .into_iter()
        .filter(|t| t.transition.rule == rule)
        .collect();
    assert_eq!(
        transitions.len(),
        1,
        "no second transition: {transitions:?}"
    );
    // Through the API of the restarted server.
    let alerts = Client::new(&base)
        .expect("client")
        .with_token(&server.admin)
        .alerts("live")
        .await
        .expect("alerts");
    let down = alerts
        .alerts
        .iter()
        .find(|a| a.id == rule)
        .expect("source-down listed");
    assert_eq!(down.state, AlertState::Firing);
    assert_eq!(down.severity, AlertSeverity::Page);
    assert_eq!(down.metric, "source_down");
    assert_eq!(down.since, Some(fired_at));
    assert_eq!(down.target.id, "create-order");
    let _ = stop.send(());
}

/// Serves `state` on a fresh loopback port; its base URL and a stop switch.
async fn serve(state: AppState) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = Server::with_state(listener, state).await.expect("server");
    let base = format!("http://{}", server.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async move {
        let _ = rx.await;
    }));
    (base, tx)
}

/// A stand-in for Prometheus' query API: create-order's default qps
/// template answers 12, a query with `many_to_many` is refused as
/// Prometheus refuses one (422 `execution`), anything else matches no
/// series.
async fn fake_prometheus() -> SocketAddr {
    fake_prometheus_refusing(Arc::new(AtomicBool::new(true))).await
}

/// [`fake_prometheus`], refusing `many_to_many` only while `refuse` is set.
pub(crate) async fn fake_prometheus_refusing(refuse: Arc<AtomicBool>) -> SocketAddr {
    async fn query(
        axum::extract::State(refuse): axum::extract::State<Arc<AtomicBool>>,
        axum::Form(form): axum::Form<std::collections::HashMap<String, String>>,
    ) -> (StatusCode, axum::Json<serde_json::Value>) {
        let q = form.get("query").cloned().unwrap_or_default();
        if q.contains("many_to_many") && refuse.load(Ordering::SeqCst) {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({
                    "status": "error",
                    "errorType": "execution",
                    "error": "found duplicate series for the match group; many-to-many matching not allowed"
                })),
            );
        }
        let t = form
            .get("time")
            .and_then(|t| t.parse::<f64>().ok())
            .unwrap_or(0.0);
        let result = if q
            .starts_with("sum(rate(seawall_sidecar_requests_total{resource=\"create-order\"}[")
        {
            json!([{"metric": {}, "value": [t, "12"]}])
        } else {
            json!([])
        };
        (
            StatusCode::OK,
            axum::Json(
                json!({"status": "success", "data": {"resultType": "vector", "result": result}}),
            ),
        )
    }
    let app = axum::Router::new()
        .route("/api/v1/query", axum::routing::post(query))
        .with_state(refuse);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn prometheus_feeds_the_live_view_and_a_rejected_query_shows_its_error() {
    let server = TestServer::start_tweaked(by_hand).await;
    let prometheus = fake_prometheus().await;
    let plan = format!(
        "{}monitoring:\n  prometheus: {{url: \"http://{prometheus}\"}}\n  queries:\n    \
         order-api: {{p99_ms: \"sum(many_to_many_metric)\"}}\n",
        common::PLAN
    );
    event_with(&server, "prom", "Prom", &plan).await;
    tick(&server.state, &server.clock).await;
    let v: serde_json::Value = server
        .admin()
        .get("/api/v1/events/prom/live")
        .await
        .json()
        .expect("json");
    let entry = &v["entries"][0];
    assert_eq!(entry["id"], "create-order");
    assert_eq!(entry["qps"], json!(12.0));
    assert_eq!(
        entry["water_level"],
        json!(12.0 / entry["capacity_qps"].as_f64().expect("capacity"))
    );
    assert_eq!(entry["source"], "ok");
    assert_eq!(
        entry["p99_ms"],
        serde_json::Value::Null,
        "no series: no data, not 0"
    );
    // The service's rejected query: failed with Prometheus' own words.
    let service = &v["services"][0];
    assert_eq!(service["source"], "failed");
    assert_eq!(service["qps"], serde_json::Value::Null);
    let error = service["error"].as_str().expect("error text");
    assert!(
        error.contains("422") && error.contains("many-to-many"),
        "{error}"
    );
}

/// A stand-in for Alertmanager's `POST /api/v2/alerts` that checks each
/// body against the API's `postableAlerts` (an array of objects with
/// `labels` — string values, `alertname` among them — and optional
/// string `annotations`, RFC 3339 `startsAt`/`endsAt` and `generatorURL`,
/// nothing else): 400 for a body that is not, else 200 and the body kept.
async fn fake_alertmanager(received: Arc<Mutex<Vec<serde_json::Value>>>) -> String {
    fn strings(v: &serde_json::Value) -> bool {
        v.as_object()
            .is_some_and(|o| o.values().all(serde_json::Value::is_string))
    }
    fn postable(a: &serde_json::Value) -> Result<(), String> {
        let o = a.as_object().ok_or("not an object")?;
        for key in o.keys() {
            if ![
                "labels",
                "annotations",
                "startsAt",
                "endsAt",
                "generatorURL",
            ]
            .contains(&key.as_str())
            {
                return Err(format!("unknown field {key}"));
            }
        }
        let labels = o.get("labels").ok_or("no labels")?;
        if !strings(labels) || labels.get("alertname").is_none() {
            return Err("labels must be strings with an alertname".into());
        }
        if o.get("annotations").is_some_and(|a| !strings(a)) {
            return Err("annotations must be strings".into());
        }
        for time in ["startsAt", "endsAt"] {
            if let Some(t) = o.get(time) {
                let text = t.as_str().ok_or("a time must be a string")?;
                text.parse::<jiff::Timestamp>()
                    .map_err(|e| format!("{time} {text}: {e}"))?;
            }
        }
        Ok(())
    }
    async fn alerts(
        axum::extract::State(received): axum::extract::State<Arc<Mutex<Vec<serde_json::Value>>>>,
        body: axum::Json<serde_json::Value>,
    ) -> (StatusCode, String) {
        let Some(list) = body.0.as_array() else {
            return (StatusCode::BAD_REQUEST, "not an array".into());
        };
        if let Err(e) = list.iter().try_for_each(postable) {
            return (StatusCode::BAD_REQUEST, e);
        }
        received.lock().expect("lock").push(body.0.clone());
        (StatusCode::OK, String::new())
    }
    let app = axum::Router::new()
        .route("/api/v2/alerts", axum::routing::post(alerts))
        .with_state(received);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .expect("time")
        .to_string()
}

#[tokio::test]
async fn firing_alerts_are_pushed_to_alertmanager_again_while_firing_and_resolved() {
    let received = Arc::new(Mutex::new(Vec::new()));
    let am = fake_alertmanager(Arc::clone(&received)).await;
    let refuse = Arc::new(AtomicBool::new(true));
    let prometheus = fake_prometheus_refusing(Arc::clone(&refuse)).await;
    let server = TestServer::start_tweaked(by_hand).await;
    let state = server.state.clone().with_monitoring(MonitorOptions {
        scrape_interval: Duration::from_secs(1),
        alertmanager: Some(am),
        ..MonitorOptions::default()
    });
    let plan = format!(
        "{}monitoring:\n  prometheus: {{url: \"http://{prometheus}\"}}\n  queries:\n    \
         order-api: {{p99_ms: \"sum(many_to_many_metric)\"}}\n",
        common::PLAN
    );
    event_with(&server, "am", "Alertmanager", &plan).await;
    let sent = || received.lock().expect("lock").clone();
    // order-api's query is refused: source-down fires at the third tick.
    tick(&state, &server.clock).await;
    tick(&state, &server.clock).await;
    assert!(sent().is_empty(), "nothing fires, nothing is sent");
    tick(&state, &server.clock).await;
    let fired_at = server.clock.now();
    let first = sent();
    assert_eq!(first.len(), 1, "{first:?}");
    let alert = &first[0][0];
    assert_eq!(
        alert["labels"]["alertname"],
        "service:order-api:source-down"
    );
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["labels"]["event"], "am");
    assert_eq!(alert["labels"]["target"], "order-api");
    assert_eq!(alert["startsAt"], json!(rfc3339(fired_at)));
    assert_eq!(
        alert["endsAt"],
        json!(rfc3339(fired_at + 240_000)),
        "four minutes ahead"
    );
    // Not again at the next tick; again a minute later, same start.
    tick(&state, &server.clock).await;
    assert_eq!(sent().len(), 1);
    server.clock.advance(59_000);
    tick(&state, &server.clock).await;
    let again = sent();
    assert_eq!(again.len(), 2);
    assert_eq!(again[1][0]["labels"], alert["labels"]);
    assert_eq!(again[1][0]["startsAt"], alert["startsAt"]);
    // The query is answered again: resolved, sent once with its end.
    refuse.store(false, Ordering::SeqCst);
    tick(&state, &server.clock).await;
    let resolved_at = server.clock.now();
    let last = sent();
    assert_eq!(last.len(), 3);
    assert_eq!(
        last[2][0]["labels"]["alertname"],
        "service:order-api:source-down"
    );
    assert_eq!(last[2][0]["endsAt"], json!(rfc3339(resolved_at)));
    tick(&state, &server.clock).await;
    assert_eq!(sent().len(), 3, "nothing more to say");
}
