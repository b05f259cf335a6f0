//! Drills against a real server on loopback over SQLite and a real sidecar
//! following it: a drill's fault reaches the sidecar and hits tagged
//! traffic only; finishing records each step's verdict and removes the
//! fault; the global stop ends running drills; with the control plane
//! stopped, the fault's lease ends it at the sidecar by itself; bad input
//! is refused with a clear error and stores nothing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::StatusCode;
use seawall_api::drills::{FinishDrill, StartDrill};
use seawall_server::client::Client;
use seawall_store::Role;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common;
use crate::rules::{Following, follow, start_server, until_applied};

const SLUG: &str = "drills";

/// The fault's status: distinct from every status the guard refuses with.
const FAULT: u16 = 418;

const PLAN: &str = "\
event: {name: Drills, timezone: UTC}
people:
  sun-li: {name: Sun Li}
organization:
  guarantee_group: [sun-li]
goals:
  orders: {total: 360000, peak_hour_share: 0.1, peak_factor: 1.0}
traffic:
  journeys:
    ride:
      goal: orders
      steps:
        - {entry: create-order}
entries:
  create-order: {service: order-api, method: POST, path: /api/orders}
services:
  order-api: {tier: frontend, instances: 2, capacity_per_instance: 10}
rehearsals:
  peak: {mix: {ride: 1.0}, rate: 1.0x, duration: 10s}
emergency_plans:
  limit-orders:
    phase: during
    trigger: manual
    actions:
      - {kind: rate_limit, entry: create-order, qps: 500}
    owner: sun-li
    expected_minutes: 2
    drill:
      fault: {entry: create-order, abort_status: 418}
      expect: hold
      scenario: peak
      lease: 4s
  undrilled:
    phase: during
    trigger: manual
    actions:
      - {kind: rate_limit, entry: create-order, qps: 400}
    owner: sun-li
    expected_minutes: 2
";

/// One order through the sidecar, tagged as test traffic or not; its status.
async fn order(proxy: SocketAddr, tagged: bool) -> u16 {
    let mut s = tokio::net::TcpStream::connect(proxy)
        .await
        .expect("connect");
    let tag = if tagged {
        "x-seawall-test: drill\r\n"
    } else {
        ""
    };
    let req = format!(
        "POST /api/orders HTTP/1.1\r\nhost: shop\r\n{tag}content-type: application/json\r\n\
         content-length: 2\r\nconnection: close\r\n\r\n{{}}"
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Waits until a tagged order is (or is no longer) faulted.
async fn until_faulted(proxy: SocketAddr, faulted: bool, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if (order(proxy, true).await == FAULT) == faulted {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "tagged orders were not {}faulted within {limit:?}",
            if faulted { "" } else { "un" }
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn drill_audit(client: &Client) -> Vec<String> {
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
        .filter(|a| a.starts_with("drill."))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_faults_tagged_traffic_is_judged_stopped_and_its_lease_ends_it() {
    let dir = common::TempDir::new();
    let (addr, stop_server, serving) =
        start_server(dir.path(), "127.0.0.1:0".parse().expect("addr")).await;
    let base = format!("http://{addr}");
    let token = std::fs::read_to_string(dir.path().join("admin-token"))
        .expect("admin-token")
        .trim()
        .to_owned();
    let admin = Client::new(&base).expect("client").with_token(&token);
    for (path, body) in [
        (
            "/api/v1/events".to_owned(),
            json!({"slug": SLUG, "name": "Drills"}),
        ),
        (
            format!("/api/v1/events/{SLUG}/plans"),
            json!({"file_name": "plan.yaml", "text": PLAN}),
        ),
    ] {
        let r = admin.post_json(&path, &body).await.expect("setup");
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
    let rules = json!({"rules": {
        "version": 1,
        "upstreams": {"primary": {"shadow_safe": true}},
        "resources": [{
            "name": "create-order",
            "routes": [{"method": "POST", "path": "/api/orders"}],
            "flow": [{"id": "create-order.qps", "count": 1000}]
        }]}, "note": "open"});
    let r = admin
        .send(
            http::Method::PUT,
            "/api/v1/guard/services/order-api/rules",
            Some((
                "application/json",
                serde_json::to_vec(&rules).expect("json").into(),
            )),
        )
        .await
        .expect("rules");
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
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
    let Following {
        proxy,
        admin: sidecar_admin,
        stop: stop_sidecar,
        running,
    } = follow(&base, &sidecar_token, "d-1", &dir.path().join("rules.json")).await;
    until_applied(sidecar_admin, 1, Duration::from_secs(10)).await;
    assert_eq!(order(proxy, true).await, 200);

    // Bad input: refused, clearly, and nothing stored.
    let err = admin
        .start_drill(SLUG, "no-such-plan", &StartDrill::default())
        .await
        .expect_err("unknown plan");
    assert!(err.to_string().contains("no-such-plan"), "{err}");
    let err = admin
        .start_drill(SLUG, "undrilled", &StartDrill::default())
        .await
        .expect_err("no drill section");
    assert!(err.to_string().contains("no `drill` section"), "{err}");
    let err = admin
        .start_drill(
            SLUG,
            "limit-orders",
            &StartDrill {
                scenario: Some("peek".into()),
            },
        )
        .await
        .expect_err("unknown scenario");
    assert!(err.to_string().contains("peek"), "{err}");
    let r = admin
        .get(&format!("/api/v1/events/{SLUG}/drills"))
        .await
        .expect("list");
    assert_eq!(r.json::<Value>().expect("json")["drills"], json!([]));
    assert!(drill_audit(&admin).await.is_empty());

    // A drill: the fault reaches the sidecar (rule version 2) and hits
    // tagged orders only.
    let d = admin
        .start_drill(SLUG, "limit-orders", &StartDrill::default())
        .await
        .expect("drill");
    assert_eq!(
        (d.status.as_str(), d.scenario.as_deref(), d.expect.as_str()),
        ("running", Some("peak"), "hold")
    );
    assert_eq!(d.lease_until_ms - d.started_ms, 4_000);
    until_applied(sidecar_admin, 2, Duration::from_secs(10)).await;
    until_faulted(proxy, true, Duration::from_secs(3)).await;
    assert_eq!(
        order(proxy, false).await,
        200,
        "real traffic is never faulted"
    );
    let err = admin
        .start_drill(SLUG, "limit-orders", &StartDrill::default())
        .await
        .expect_err("one running drill per plan");
    assert!(err.to_string().contains("still running"), "{err}");

    // The plan runs (by hand: its trigger is manual); the drill sees the
    // run's request, decision and effect.
    let run = admin
        .start_emergency_run(SLUG, "limit-orders", false)
        .await
        .expect("run");
    let started = Instant::now();
    let seen = loop {
        let seen = admin.drill(SLUG, d.id).await.expect("drill");
        if seen.steps.get(3).is_some_and(|s| s.status != "pending") {
            break seen;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{seen:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(seen.run, Some(run.id));
    let names: Vec<&str> = seen.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fault_injected",
            "detected",
            "decided",
            "took_effect",
            "slo"
        ]
    );
    let statuses: Vec<&str> = seen.steps.iter().map(|s| s.status.as_str()).collect();
    assert_eq!(
        statuses,
        ["passed", "passed", "passed", "passed", "pending"]
    );
    assert!(
        seen.steps
            .iter()
            .take(4)
            .all(|s| s.after_ms.is_some_and(|a| a >= 0))
    );

    // Finished with the rehearsal's report: passed, within 2 minutes, and
    // the fault removed (rule version 4 after the run's 3).
    let done = admin
        .finish_drill(
            SLUG,
            d.id,
            &FinishDrill {
                slo_held: true,
                note: Some("rehearsal peak completed".into()),
            },
        )
        .await
        .expect("finish");
    assert_eq!(done.status, "passed", "{done:#?}");
    assert_eq!(done.within_expected, Some(true));
    assert_eq!(done.steps[4].status, "passed");
    until_applied(sidecar_admin, 4, Duration::from_secs(10)).await;
    until_faulted(proxy, false, Duration::from_secs(3)).await;
    let err = admin
        .finish_drill(SLUG, d.id, &FinishDrill::default())
        .await
        .expect_err("finished already");
    assert!(err.to_string().contains("finished"), "{err}");

    // The passed drill clears L012 for its plan, not for the other.
    let links: Value = admin
        .get(&format!("/api/v1/events/{SLUG}/plan/links"))
        .await
        .expect("links")
        .json()
        .expect("json");
    let l012: Vec<String> = links["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == "L012")
        .map(|f| f["message"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(l012.iter().any(|m| m.contains("undrilled")), "{l012:?}");
    assert!(!l012.iter().any(|m| m.contains("limit-orders")), "{l012:?}");

    // The global stop ends a running drill and removes its fault.
    let second = admin
        .start_drill(SLUG, "limit-orders", &StartDrill::default())
        .await
        .expect("second drill");
    until_applied(sidecar_admin, 5, Duration::from_secs(10)).await;
    until_faulted(proxy, true, Duration::from_secs(3)).await;
    let stopped = admin.stop_drills(SLUG).await.expect("stop");
    let ids: Vec<(i64, &str)> = stopped
        .drills
        .iter()
        .map(|d| (d.id, d.status.as_str()))
        .collect();
    assert_eq!(ids, [(second.id, "stopped")]);
    until_applied(sidecar_admin, 6, Duration::from_secs(10)).await;
    until_faulted(proxy, false, Duration::from_secs(3)).await;
    assert!(
        admin
            .stop_drills(SLUG)
            .await
            .expect("stop")
            .drills
            .is_empty()
    );

    // A third drill, then the control plane goes away: the sidecar drops
    // the fault when its lease ends, by itself.
    let third = admin
        .start_drill(SLUG, "limit-orders", &StartDrill::default())
        .await
        .expect("third drill");
    until_applied(sidecar_admin, 7, Duration::from_secs(10)).await;
    until_faulted(proxy, true, Duration::from_secs(3)).await;
    assert_eq!(
        drill_audit(&admin).await,
        [
            "drill.started",
            "drill.fault_injected",
            "drill.finished",
            "drill.started",
            "drill.fault_injected",
            "drill.stopped",
            "drill.started",
            "drill.fault_injected",
        ]
    );
    let _ = stop_server.send(());
    let _ = serving.await;
    until_faulted(proxy, false, Duration::from_secs(10)).await;
    assert_eq!(applied_after_stop(sidecar_admin).await, Some(7));
    let _ = stop_sidecar.send(());
    let _ = running.await;

    // Back up, the control plane finds the lease over: the drill failed
    // (the rehearsal never reported) and its rule is removed.
    let (addr, stop_server, serving) =
        start_server(dir.path(), "127.0.0.1:0".parse().expect("addr")).await;
    let admin = Client::new(&format!("http://{addr}"))
        .expect("client")
        .with_token(&token);
    // Nobody reads the drill: the control plane's own sweep records it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while drill_audit(&admin).await.last().map(String::as_str) != Some("drill.expired") {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the expired drill was not ended by the sweep: {:?}",
            drill_audit(&admin).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let expired = admin.drill(SLUG, third.id).await.expect("drill");
    assert_eq!(expired.status, "failed", "{expired:#?}");
    assert!(
        expired
            .note
            .as_deref()
            .is_some_and(|n| n.contains("lease ended")),
        "{expired:#?}"
    );
    assert_eq!(
        drill_audit(&admin).await.last().map(String::as_str),
        Some("drill.expired")
    );
    let rules: Value = admin
        .get("/api/v1/guard/services/order-api/versions/8")
        .await
        .expect("rules")
        .json()
        .expect("json");
    assert!(
        rules["note"]
            .as_str()
            .is_some_and(|n| n.contains("fault removed")),
        "{rules}"
    );
    assert!(rules["rules"]["resources"].is_array(), "{rules}");
    assert!(!rules["rules"].to_string().contains("drill."), "{rules}");
    let _ = stop_server.send(());
    let _ = serving.await;
}

/// The sidecar still runs version 7: nobody removed the fault rule.
async fn applied_after_stop(admin: SocketAddr) -> Option<u64> {
    crate::rules::applied_version(admin).await
}

#[tokio::test]
async fn the_ui_drills_and_stops_through_the_same_rules() {
    let server = common::TestServer::start().await;
    common::event_with(&server, SLUG, "Drills", PLAN).await;
    let rules = json!({"rules": {
        "version": 1,
        "upstreams": {"primary": {"shadow_safe": true}},
        "resources": [{"name": "create-order",
            "routes": [{"method": "POST", "path": "/api/orders"}]}]}, "note": "open"});
    let r = server
        .admin()
        .client
        .send(
            http::Method::PUT,
            "/api/v1/guard/services/order-api/rules",
            Some((
                "application/json",
                serde_json::to_vec(&rules).expect("json").into(),
            )),
        )
        .await
        .expect("rules");
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let sun = server
        .ui_login(&server.token("sun-li", Role::Commander, None).await)
        .await;
    let viewer = server
        .ui_login(&server.token("vera", Role::Viewer, None).await)
        .await;
    let page = format!("/ui/events/{SLUG}/emergency");
    let html = sun.get(&page).await.text();
    assert!(html.contains("id=\"drill-limit-orders\""), "{html}");
    assert!(
        !html.contains("id=\"drill-undrilled\""),
        "no drill section, no button"
    );
    assert!(html.contains("id=\"no-drills\""));
    assert!(!viewer.get(&page).await.text().contains("id=\"drill-form-"));
    let drill_form = format!("/ui/events/{SLUG}/emergency/limit-orders/drill");
    assert_eq!(
        viewer.post_form(&drill_form, &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        sun.post_form_exact(&drill_form, &[]).await.status,
        StatusCode::FORBIDDEN,
        "no CSRF token, no drill"
    );
    let r = sun.post_form(&drill_form, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let html = sun.get(&page).await.text();
    assert!(html.contains("data-status=\"running\""), "{html}");
    assert!(html.contains("id=\"stop-drills\""));
    let r = sun
        .post_form(&format!("/ui/events/{SLUG}/emergency/drills/stop"), &[])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let html = sun.get(&page).await.text();
    assert!(html.contains("data-status=\"stopped\""), "{html}");
    assert!(
        !html.contains("recorded by Seawall (stopped)"),
        "a stopped drill judged nothing: not among the plan's drills"
    );
    // A drill with a verdict (failed: the plan never ran) is recorded
    // among the plan's drills, beside the YAML's.
    let r = sun.post_form(&drill_form, &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let done = server
        .admin()
        .client
        .finish_drill(
            SLUG,
            2,
            &FinishDrill {
                slo_held: true,
                note: None,
            },
        )
        .await
        .expect("finish");
    assert_eq!(done.status, "failed", "{done:#?}");
    let html = sun.get(&page).await.text();
    let card = html
        .split("id=\"plan-limit-orders\"")
        .nth(1)
        .and_then(|rest| rest.split("</article>").next())
        .unwrap_or_default();
    assert!(
        card.contains("drill 2 recorded by Seawall (failed)"),
        "{card}"
    );
}
