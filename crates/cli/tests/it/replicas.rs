//! Three `seawall serve` replicas (the real binary, separate processes)
//! on one PostgreSQL database elect one evaluator. A scrape target goes
//! down, `source_down` fires on the evaluator, the incident it opens pages
//! the primary over a webhook on loopback; the evaluator is SIGKILLed
//! before the page's acknowledgement timeout. Another replica must lead
//! within 10 s, escalate to the guarantee group and, when the target comes
//! back, resolve the alert — and nothing may happen twice: one `fired` and
//! one `resolved` transition, one page per escalation step, stored and
//! received.

use std::ffi::OsString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use seawall_monitor::alert::Change;
use seawall_server::client::Client;
use seawall_store::Store;
use serde_json::{Value, json};

use crate::common::serve::{Serve, TempDir};

/// How long the first page waits for an acknowledgement.
const ACK_TIMEOUT_S: u64 = 4;

/// The failover bound the issue sets.
const FAILOVER: Duration = Duration::from_secs(10);

/// A webhook receiver on loopback: every page's body, in arrival order.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| async move {
            let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
            seen.lock().expect("lock").push(v);
            axum::http::StatusCode::OK
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

/// `days` since 1970-01-01 as (year, month, day) (the civil calendar).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The plan: one entry, the target scraped, chen-jie on call from
/// yesterday to tomorrow (UTC) with lin-wei the guarantee group, one
/// webhook channel, one round of escalation.
fn plan(target: &str, hook: &str, secret: &std::path::Path) -> String {
    let today = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
        / 86_400;
    let day = |d: i64| {
        let (y, m, d) = civil(d);
        format!("{y:04}-{m:02}-{d:02}")
    };
    format!(
        "\
event: {{name: Replicas, timezone: UTC}}
people:
  chen-jie: {{name: Chen Jie, phone: \"13800000001\"}}
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
monitoring:
  scrape: [\"{target}\"]
oncall:
  ack_timeout: {ACK_TIMEOUT_S}s
  escalation_rounds: 1
  rota:
    - {{start: \"{from}T00:00\", end: \"{to}T23:00\", primary: chen-jie}}
  channels:
    war-room: {{kind: webhook, webhook: \"{hook}\", secret_env: \"file:{secret}\"}}
emergency:
  allow_hosts: [\"127.0.0.1\"]
",
        from = day(today - 1),
        to = day(today + 1),
        secret = secret.display(),
    )
}

/// A replica's `/readyz` (`None` if it does not answer).
async fn ready(url: &str) -> Option<Value> {
    let client = Client::new(url).ok()?.with_timeout(Duration::from_secs(2));
    client.get("/readyz").await.ok()?.json().ok()
}

/// Polls `probe` every 100 ms until it gives `Some` (`limit` at most).
async fn within<T, F, Fut>(limit: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(started.elapsed() < limit, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A replica's `/metrics`: `(seawall_evaluator_leader,
/// seawall_evaluator_terms_total)`.
async fn election_metrics(url: &str) -> (f64, f64) {
    let client = Client::new(url)
        .expect("client")
        .with_timeout(Duration::from_secs(2));
    let text = client.get("/metrics").await.expect("/metrics").text();
    let sample = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics: {text}"))
    };
    (
        sample("seawall_evaluator_leader"),
        sample("seawall_evaluator_terms_total"),
    )
}

/// Which of `urls` says it is the evaluator (the first, if several).
async fn leader_of(urls: &[String]) -> Option<usize> {
    for (i, url) in urls.iter().enumerate() {
        if ready(url).await.is_some_and(|r| r["evaluator"] == "leader") {
            return Some(i);
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evaluator_killed_mid_event_another_replica_goes_on_and_nothing_fires_twice() {
    let pg = seawall_store::testing::TempPostgres::start().expect("PostgreSQL");
    let db = pg.create_database().expect("database");
    let dir = TempDir::new("replicas");
    let extra = [
        OsString::from("--db"),
        OsString::from(&db),
        OsString::from("--scrape-interval"),
        OsString::from("1s"),
    ];
    let up = Arc::new(AtomicBool::new(false));
    let target = crate::common::page::sidecar_page(Arc::clone(&up));
    let (hook, pages) = receiver().await;
    let secret = dir.0.join("webhook-secret");
    std::fs::write(&secret, "SEC-replicas-test-secret").expect("write the secret");

    // The first replica is elected alone; two more stand by.
    let mut replicas = vec![Serve::start(&dir.0.join("a"), &extra)];
    let token = std::fs::read_to_string(dir.0.join("a").join("admin-token"))
        .expect("admin-token written on the first start");
    let token = token.trim().to_owned();
    within(FAILOVER, "the first replica leads", || async {
        ready(&replicas[0].url)
            .await
            .filter(|r| r["evaluator"] == "leader")
    })
    .await;
    replicas.push(Serve::start(&dir.0.join("b"), &extra));
    replicas.push(Serve::start(&dir.0.join("c"), &extra));
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    for url in &urls[1..] {
        let r = ready(url).await.expect("a replica answers /readyz");
        assert_eq!(r["evaluator"], "standby", "{r}");
        assert_eq!(r["backend"], "postgres");
    }

    // The event and its plan, through a standby replica.
    let client = Client::new(&urls[2]).expect("client").with_token(&token);
    let r = client
        .post_json(
            "/api/v1/events",
            &json!({"slug": "replicas", "name": "Replicas"}),
        )
        .await
        .expect("create the event");
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    let r = client
        .post_json(
            "/api/v1/events/replicas/plans",
            &json!({"file_name": "plan.yaml", "text": plan(&target, &hook, &secret)}),
        )
        .await
        .expect("push the plan");
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());

    // source_down fires at the third failed scrape, on the entry and on
    // its service; each opens an incident, which pages the primary at
    // once.
    within(
        Duration::from_secs(30),
        "the primary is paged twice",
        || async { (pages.lock().expect("lock").len() >= 2).then_some(()) },
    )
    .await;
    let leader = leader_of(&urls).await.expect("a leader");
    assert_eq!(leader, 0, "the first replica evaluates");

    // Mid-event: the evaluator dies before the pages' acknowledgement
    // timeout. (A page is recorded before it is sent, so it is sent at
    // most once: one recorded by a replica killed before sending it would
    // be lost, never sent twice. The kill comes after both were received.)
    let killed = Instant::now();
    replicas[0].kill();
    let next = within(FAILOVER, "another replica leads", || leader_of(&urls[1..])).await + 1;
    let failover = killed.elapsed();
    // Both incidents escalate to the guarantee group: four pages in all.
    within(FAILOVER, "the escalation pages on", || async {
        (pages.lock().expect("lock").len() >= 4).then_some(())
    })
    .await;
    let escalation_after_kill = killed.elapsed();
    assert!(
        escalation_after_kill < FAILOVER,
        "{escalation_after_kill:?}"
    );

    // Alerts go on from the new evaluator: the target comes back and
    // source_down resolves.
    up.store(true, Ordering::SeqCst);
    let store = seawall_store::postgres::PgStore::open(&db)
        .await
        .expect("open the database");
    let event = store
        .events()
        .await
        .expect("events")
        .into_iter()
        .find(|e| e.slug == "replicas")
        .expect("the event");
    let resolved = |t: &[seawall_store::StoredTransition]| {
        t.iter()
            .filter(|t| t.transition.change == Change::Resolved)
            .count()
    };
    let transitions = within(Duration::from_secs(20), "source_down resolves", || async {
        let t = store
            .alert_transitions(event.id, 0, 10_000)
            .await
            .expect("transitions");
        (resolved(&t) >= 2).then_some(t)
    })
    .await;
    // Two more election rounds and scrape ticks: nothing more may come.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let transitions = {
        let again = store
            .alert_transitions(event.id, 0, 10_000)
            .await
            .expect("transitions");
        assert_eq!(again.len(), transitions.len(), "{again:#?}");
        again
    };
    let rules: std::collections::BTreeSet<&str> = transitions
        .iter()
        .map(|t| t.transition.rule.as_str())
        .collect();
    assert_eq!(
        rules.into_iter().collect::<Vec<_>>(),
        [
            "entry:create-order:source-down",
            "service:order-api:source-down"
        ]
    );
    for rule in [
        "entry:create-order:source-down",
        "service:order-api:source-down",
    ] {
        let count = |change: Change| {
            transitions
                .iter()
                .filter(|t| t.transition.rule == rule && t.transition.change == change)
                .count()
        };
        assert_eq!(count(Change::Fired), 1, "{rule}: {transitions:#?}");
        assert_eq!(count(Change::Resolved), 1, "{rule}: {transitions:#?}");
    }

    // One incident per alert, each escalation step stored and received
    // once.
    let client = Client::new(&urls[next]).expect("client").with_token(&token);
    let list: Value = client
        .get("/api/v1/events/replicas/incidents")
        .await
        .expect("incidents")
        .json()
        .expect("json");
    let incidents = list["incidents"].as_array().expect("incidents");
    assert_eq!(incidents.len(), 2, "{list:#}");
    for incident in incidents {
        let entries: Vec<(&str, &str)> = incident["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .filter_map(|e| Some((e["kind"].as_str()?, e["text"].as_str()?)))
            .collect();
        let n = |kind: &str, text: &str| {
            entries
                .iter()
                .filter(|(k, t)| *k == kind && t.starts_with(text))
                .count()
        };
        assert_eq!(n("paged", "paging primary"), 1, "{incident:#}");
        assert_eq!(n("escalated", "no acknowledgement"), 1, "{incident:#}");
        assert_eq!(n("page_failed", ""), 0, "{incident:#}");
        // The first page's delivery is recorded after it is sent: the
        // kill may come in between. The escalation's always is.
        let delivered = n("paged", "page sent via");
        assert!((1..=2).contains(&delivered), "{incident:#}");
        let steps: Vec<i64> = incident["paging"]["sent"]
            .as_array()
            .expect("sent")
            .iter()
            .filter_map(|s| s["step"].as_i64())
            .collect();
        assert_eq!(steps, [0, 1], "{incident:#}");
    }
    assert_eq!(
        pages.lock().expect("lock").len(),
        4,
        "one delivery per page"
    );

    let r = ready(&urls[next]).await.expect("the new leader answers");
    assert_eq!(r["evaluator"], "leader");
    assert!(r["evaluator_changes"].as_u64() >= Some(1), "{r}");

    // The election as an operator sees it: the new leader's gauge is 1 and
    // it won a term, the other standby's is 0; the audit log holds the
    // killed replica's term and the new one's (a SIGKILLed replica writes
    // no `evaluator.lost`: the next `evaluator.elected` ends its term).
    let (leads, terms) = election_metrics(&urls[next]).await;
    assert_eq!(leads, 1.0);
    assert!(terms >= 1.0, "{terms}");
    let (leads, _) = election_metrics(&urls[3 - next]).await;
    assert_eq!(leads, 0.0);
    let r = client
        .get("/api/v1/audit?limit=10000")
        .await
        .expect("audit");
    let audit: Value = r.json().expect("json");
    let elected: Vec<String> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "evaluator.elected")
        .filter_map(|e| e["target"].as_str().map(str::to_owned))
        .collect();
    let port = |url: &str| url[url.rfind(':').expect("port")..].to_owned();
    assert!(
        elected
            .first()
            .is_some_and(|t| t.ends_with(&port(&urls[0]))),
        "the first term is the first replica's: {elected:?}"
    );
    assert!(
        elected
            .last()
            .is_some_and(|t| t.ends_with(&port(&urls[next]))),
        "the last term is the new leader's: {elected:?}"
    );
    store.close().await;
    eprintln!(
        "replicas: evaluator killed; replica {next} led after {failover:?}, \
         escalation page {escalation_after_kill:?} after the kill"
    );
}
