//! `GET /api/v1/events/{slug}/review` over real HTTP against a real server
//! whose store was seeded with a plan, a rehearsal run with knees, 10 s
//! telemetry points, an alert that went pending and fired, a finished
//! emergency-plan run and a resolved incident: the review's numbers
//! (actual peak and when, estimate error, time to fire, MTTA and MTTR,
//! run against expected), the three renderings, the comparison with
//! another event, the refusals, and the UI's Review page.

use seawall_api::review::ReviewFormat;
use seawall_monitor::Transition;
use seawall_monitor::alert::{Change, Severity, Signal, Snapshot, State, Target};
use seawall_monitor::history::Point;
use seawall_monitor::sample::TargetKind;
use seawall_respond::incident::{Incident, Severity as Sev};
use seawall_respond::run::{Approval, Run, RunStatus, StepStatus};
use seawall_review::Review;
use seawall_server::client::{Client, ClientError};
use seawall_store::{Ctx, HistoryPoint, IncidentWrite, NewEmergencyRun, Role};

use crate::common::{TestServer, event_with_plan, upload_run};

fn point(t_s: u32, qps: f32) -> HistoryPoint {
    HistoryPoint {
        kind: TargetKind::Entry,
        target: "create-order".into(),
        tier: 0,
        point: Point {
            t_s,
            samples: 1,
            qps_min: qps,
            qps_avg: qps,
            qps_max: qps,
            p99_ms: 40.0 + qps,
            error_rate: 0.001,
        },
    }
}

fn transition(change: Change, at_ms: i64) -> Transition {
    let at = at_ms as u64;
    Transition {
        rule: "create-order-traffic".into(),
        target: Target::new(TargetKind::Entry, "create-order"),
        signal: Signal::TrafficRatio,
        severity: Severity::Warn,
        change,
        state: match change {
            Change::Pending => State::Pending { since_ms: at },
            _ => State::Firing {
                since_ms: at,
                fired_ms: at,
            },
        },
        at_ms: at,
        value: 1.2,
        threshold: 1.2,
        inhibited_by: None,
    }
}

/// The event `rv`, seeded; its creation time.
async fn seeded(server: &TestServer) -> i64 {
    event_with_plan(server, "rv").await;
    upload_run(server, "rv").await; // create-order's knee 8, order-api 4 per instance
    let store = &server.state.store;
    let event = store.event("rv").await.expect("read").expect("event");
    let t0 = event.created_ms;
    let ctx = |s: i64| Ctx::new("test", t0 + s * 1000);
    store
        .put_history(event.id, &[point(0, 9.0), point(10, 13.0), point(20, 11.0)])
        .await
        .expect("history");
    store
        .record_alerts(
            &ctx(10),
            event.id,
            &[
                transition(Change::Pending, t0 + 10_000),
                transition(Change::Fired, t0 + 25_000),
            ],
            &Snapshot::default(),
        )
        .await
        .expect("alerts");

    let mut run = Run::new(
        "shed",
        "trigger:create-order-traffic",
        t0 + 30_000,
        false,
        Approval::None,
        [(
            "rate_limit".to_owned(),
            Some("create-order".to_owned()),
            true,
        )],
        Some(2.0),
    );
    run.steps[0].status = StepStatus::Succeeded;
    run.steps[0].started_ms = Some(t0 + 30_000);
    run.steps[0].ended_ms = Some(t0 + 120_000);
    run.status = RunStatus::Succeeded;
    store
        .create_emergency_run(
            &ctx(30),
            event.id,
            &NewEmergencyRun {
                plan_id: "shed".into(),
                plan_version: 1,
                status: "succeeded".into(),
                finished: true,
                state: serde_json::to_string(&run).expect("json"),
                requested_by: "trigger:create-order-traffic".into(),
            },
        )
        .await
        .expect("run");

    let mut incident = Incident::open(
        "create-order over target",
        Sev::P2,
        "monitor",
        Some("entry:create-order".into()),
        None,
        t0 + 25_000,
    );
    incident.acknowledge("lin", t0 + 70_000).expect("ack");
    incident
        .resolve("lin", t0 + 625_000, "limit holds")
        .expect("resolve");
    store
        .create_incident(
            &ctx(25),
            event.id,
            &IncidentWrite {
                status: "resolved".into(),
                severity: "P2".into(),
                dedup_key: Some("entry:create-order".into()),
                state: serde_json::to_string(&incident).expect("json"),
                escalation: None,
                next_page_ms: None,
                action: "incident.opened".into(),
                detail: serde_json::json!({}),
            },
        )
        .await
        .expect("incident");
    t0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_compares_estimate_rehearsal_and_actual_from_the_store() {
    let server = TestServer::start().await;
    let t0 = seeded(&server).await;
    event_with_plan(&server, "rv-2025").await;
    let token = server.token("reader", Role::Viewer, None).await;
    let client = Client::new(&server.base)
        .expect("client")
        .with_token(token.clone());

    let json = client
        .review("rv", ReviewFormat::Json, Some("rv-2025"))
        .await
        .expect("the review");
    let r: Review = serde_json::from_str(&json).expect("a seawall.review/v1 document");
    assert_eq!(r.schema_version, "seawall.review/v1");
    assert_eq!(r.rehearsal_runs.len(), 1);
    let e = &r.entries[0];
    assert_eq!(e.id, "create-order");
    // target(create-order) = 360,000 × 0.1 ÷ 3600 = 10 QPS; the peak is the 13 at 10 s.
    assert_eq!(e.target_qps, Some(10.0));
    assert_eq!(e.peak_qps, Some(13.0));
    assert_eq!(e.peak_at_ms, Some(t0 + 10_000));
    assert_eq!(e.knee_qps, Some(8.0));
    let err = e.estimate_error.expect("estimate error");
    assert!((err - 1.3).abs() < 1e-6, "{err}");
    assert_eq!(r.services[0].knee_qps, Some(8.0), "4 per instance × 2");

    let a = &r.alerts.rules[0];
    assert_eq!((a.fired, a.crossing_to_fire_ms), (1, Some(15_000.0)));
    assert_eq!(r.incidents.mtta_ms, Some(45_000.0));
    assert_eq!(r.incidents.mttr_ms, Some(600_000.0));
    let run = &r.emergency[0];
    assert_eq!(run.duration_ms, Some(90_000));
    assert_eq!(run.run_vs_expected, Some(0.75));
    assert_eq!(run.within_expected, Some(true));
    assert!(
        r.recommendations.iter().any(|x| x.rule == "R1"),
        "{:?}",
        r.recommendations
    );
    let c = r.comparison.as_ref().expect("compared");
    assert_eq!(c.earlier, "rv-2025");
    assert_eq!(c.incidents, (1, 0));

    let md = client
        .review("rv", ReviewFormat::Markdown, None)
        .await
        .expect("markdown");
    assert!(
        md.starts_with("# Review of Test") && md.contains("| create-order | 10 | 8 |"),
        "{md}"
    );
    let html = client
        .review("rv", ReviewFormat::Html, None)
        .await
        .expect("html");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg"));
    for banned in ["<script", "<link", "src=", "href=", "url("] {
        assert!(!html.contains(banned), "{banned}");
    }
    let raw = client
        .get("/api/v1/events/rv/review?format=html")
        .await
        .expect("answer");
    assert_eq!(
        raw.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/html; charset=utf-8")
    );

    for (slug, compare, status, code) in [
        ("nope", None, 404, "not_found"),
        ("rv", Some("nope"), 404, "not_found"),
        ("rv", Some("Not-A-Slug"), 400, "invalid_query"),
    ] {
        match client.review(slug, ReviewFormat::Json, compare).await {
            Err(ClientError::Api {
                status: s, code: c, ..
            }) => {
                assert_eq!(
                    (s, c.as_deref()),
                    (status, Some(code)),
                    "{slug} {compare:?}"
                )
            }
            other => panic!("{slug} {compare:?}: {other:?}"),
        }
    }
    let bad = client
        .get("/api/v1/events/rv/review?format=pdf")
        .await
        .expect("answer");
    assert_eq!(bad.status.as_u16(), 400, "{}", bad.text());

    let ui = server.ui_login(&token).await;
    let page = ui.get("/ui/events/rv/review?compare=rv-2025").await;
    assert_eq!(page.status.as_u16(), 200);
    let text = page.text();
    for part in [
        "Recommendations",
        "create-order",
        "review-comparison",
        "review-entries-chart",
        "/review/download?format=html",
    ] {
        assert!(text.contains(part), "{part} not on the page");
    }
    let file = ui
        .get("/ui/events/rv/review/download?format=markdown")
        .await;
    assert_eq!(file.status.as_u16(), 200);
    assert_eq!(file.text(), md, "the page's download is the API's Markdown");
    server.stop().await.expect("stops");
}

/// A later run whose search was generator-bound (`knee_qps: null`,
/// `lower_bound_qps`): the review shows the entry's rehearsed capacity as
/// a lower bound, never as a knee, and recommends rehearsing it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generator_bound_run_reaches_the_review_as_a_lower_bound() {
    let server = TestServer::start().await;
    event_with_plan(&server, "gb").await;
    upload_run(&server, "gb").await; // a knee of 8 first
    let bound = serde_json::json!({
        "schema": "seawall.run/v1",
        "scenario": "capacity-search",
        "entries": [{"id": "create-order", "knee_qps": null, "lower_bound_qps": 971.0}],
        "search": {"generator_bound": true},
    })
    .to_string();
    let r = server
        .admin()
        .post_raw("/api/v1/events/gb/runs", "application/json", bound)
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    let client = &server.admin().client;
    let json = client
        .review("gb", ReviewFormat::Json, None)
        .await
        .expect("the review");
    let r: Review = serde_json::from_str(&json).expect("a review");
    assert_eq!(r.rehearsal_runs.len(), 2);
    let e = &r.entries[0];
    assert_eq!(e.id, "create-order");
    assert_eq!(
        e.knee_qps, None,
        "the later, generator-bound run wins: {e:?}"
    );
    assert_eq!(e.lower_bound_qps, Some(971.0));
    assert_eq!(e.lower_bound_scenario.as_deref(), Some("capacity-search"));
    assert!(
        r.recommendations
            .iter()
            .any(|x| x.rule == "R12" && x.why.contains("≥ 971 qps, generator-bound")),
        "{:?}",
        r.recommendations
    );
    let md = client
        .review("gb", ReviewFormat::Markdown, None)
        .await
        .expect("markdown");
    assert!(md.contains("≥ 971, generator-bound"), "{md}");
}
