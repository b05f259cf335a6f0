//! The freeze-calendar exports over real HTTP: `freeze.ics`,
//! `freeze/gitlab` and `freeze/argocd` of an event's current plan. Each
//! answer's content type and body (the iCal feed's structure and its
//! events, including approved exceptions only; the GitLab and Argo CD
//! texts equal to `seawall_plan::export`'s for the same plan, service and
//! kind), the role matrix (every role but ci), 404 for an unknown event
//! and for an event without a plan, bad query parameters, and the OpenAPI
//! document's description of the three operations.

use crate::common;

use common::{T0, TestServer, code};
use http::{StatusCode, header};
use seawall_plan::export;
use seawall_plan::model::ChangeKind as PlanKind;
use seawall_server::client::Response;
use seawall_store::{ChangeKind, Ctx, NewException, Role};
use serde_json::{Value, json};

/// Two phases and three freeze windows (UTC), two services.
const PLAN: &str = "\
event:
  name: Export Carnival
  timezone: UTC
  phases:
    freeze: {start: \"2026-09-28T00:00\", end: \"2026-10-02T00:00\"}
    peak: {start: \"2026-09-30T10:00\", end: \"2026-09-30T14:00\"}
organization:
  business_lines:
    bike: {name: Bike, services: [order-api, pay-api]}
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
  order-api: {line: bike, tier: frontend, instances: 2, capacity_per_instance: 10}
  pay-api: {line: bike, tier: backend, instances: 2, capacity_per_instance: 10}
freeze:
  windows:
    carnival:
      start: \"2026-09-28T00:00\"
      end: \"2026-10-02T00:00\"
      kinds: [release]
      reason: \"carnival release freeze\"
    pay-config:
      start: \"2026-09-29T12:00\"
      end: \"2026-09-30T12:30\"
      kinds: [config]
      services: [\"pay-*\"]
    peak-ops:
      start: \"2026-09-30T10:00\"
      end: \"2026-09-30T14:00\"
      kinds: [ops, release]
      reason: \"hands off during the peak\"
";

const PHASES: usize = 2;
const WINDOWS: usize = 3;

/// The plan as the library reads it.
fn plan() -> seawall_plan::Plan {
    seawall_plan::parse(PLAN, "plan.yaml").expect("the test plan is valid")
}

/// Create event `slug` and push [`PLAN`].
async fn event(server: &TestServer, slug: &str, with_plan: bool) {
    let admin = server.admin();
    let r = admin
        .post(
            "/api/v1/events",
            &json!({"slug": slug, "name": "Export test"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    if with_plan {
        let r = admin
            .post(
                &format!("/api/v1/events/{slug}/plans"),
                &json!({"file_name": "plan.yaml", "text": PLAN}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    }
}

/// A GET with `token` that does not check the body against a JSON schema
/// (the iCal and YAML answers are not JSON).
async fn raw_get(server: &TestServer, token: &str, path: &str) -> Response {
    server
        .api(Some(token))
        .client
        .get(path)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn content_type(r: &Response) -> &str {
    r.headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn plan_version(r: &Response) -> &str {
    r.headers
        .get("x-seawall-plan-version")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Unfold the feed's content lines (RFC 5545 §3.1), checking that every
/// line ends in CRLF and none is longer than 75 octets.
fn ical_lines(body: &str) -> Vec<String> {
    assert!(body.ends_with("\r\n"), "the feed ends with CRLF");
    let physical: Vec<&str> = body[..body.len() - 2].split("\r\n").collect();
    let mut lines: Vec<String> = Vec::new();
    for line in physical {
        assert!(!line.contains('\n'), "bare LF in {line:?}");
        assert!(!line.contains('\r'), "bare CR in {line:?}");
        assert!(line.len() <= 75, "line longer than 75 octets: {line:?}");
        match (line.strip_prefix(' '), lines.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => lines.push(line.to_owned()),
        }
    }
    lines
}

fn count(lines: &[String], exact: &str) -> usize {
    lines.iter().filter(|l| *l == exact).count()
}

/// Store an exception for `slug`'s event and, when `approve` is given,
/// decide it.
async fn exception(server: &TestServer, slug: &str, reason: &str, approve: Option<bool>) -> i64 {
    let store = &server.state.store;
    let event = store
        .event(slug)
        .await
        .expect("store")
        .expect("the event exists");
    let ctx = Ctx::new("lin-wei", T0);
    let e = store
        .request_exception(
            &ctx,
            event.id,
            &NewException {
                services: vec!["order-*".into()],
                kinds: vec![ChangeKind::Release],
                starts_ms: T0 + 30 * 60_000,
                ends_ms: T0 + 120 * 60_000,
                reason: reason.into(),
            },
        )
        .await
        .expect("request");
    if let Some(approve) = approve {
        store
            .decide_exception(&ctx, e.id, approve, Some("decided in the test"))
            .await
            .expect("decide");
    }
    e.id
}

#[tokio::test]
async fn ical_feed_has_phases_windows_and_approved_exceptions_only() {
    let server = TestServer::start().await;
    event(&server, "carnival", true).await;
    let path = "/api/v1/events/carnival/freeze.ics";

    // Without exceptions: exactly the library's feed at the server's time.
    let r = raw_get(&server, &server.admin, path).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(content_type(&r), "text/calendar; charset=utf-8");
    assert_eq!(plan_version(&r), "1");
    let t0 = jiff::Timestamp::from_millisecond(T0).expect("T0");
    assert_eq!(r.text(), export::ical(&plan(), &[], t0));

    // One approved, one pending, one rejected exception: only the approved
    // one becomes an event.
    let approved = exception(&server, "carnival", "hotfix: order timeout", Some(true)).await;
    exception(&server, "carnival", "pending refactor", None).await;
    exception(&server, "carnival", "rejected cleanup", Some(false)).await;
    let r = raw_get(&server, &server.admin, path).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let body = r.text();
    let lines = ical_lines(&body);
    assert_eq!(lines.first().map(String::as_str), Some("BEGIN:VCALENDAR"));
    assert_eq!(lines.last().map(String::as_str), Some("END:VCALENDAR"));
    assert_eq!(count(&lines, "BEGIN:VCALENDAR"), 1);
    assert_eq!(count(&lines, "END:VCALENDAR"), 1);
    assert_eq!(count(&lines, "VERSION:2.0"), 1);
    let events = PHASES + WINDOWS + 1;
    assert_eq!(count(&lines, "BEGIN:VEVENT"), events, "{body}");
    assert_eq!(count(&lines, "END:VEVENT"), events, "{body}");
    // Every event is stamped with the server's (hand-set) clock.
    assert_eq!(count(&lines, "DTSTAMP:20260930T020000Z"), events, "{body}");
    // The windows with their UTC instants; the exception with its reason
    // and window (T0 + 30 min to T0 + 2 h).
    assert!(
        lines.iter().any(|l| l == "DTSTART:20260929T120000Z"),
        "{body}"
    );
    assert!(
        lines.iter().any(|l| l == "DTEND:20260930T123000Z"),
        "{body}"
    );
    assert!(
        lines.iter().any(|l| l == "DTSTART:20260930T023000Z"),
        "{body}"
    );
    assert!(
        lines.iter().any(|l| l == "DTEND:20260930T040000Z"),
        "{body}"
    );
    let unfolded = lines.join("\n");
    assert!(unfolded.contains("hotfix: order timeout"), "{body}");
    assert!(unfolded.contains("Approved by lin-wei."), "{body}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with(&format!("UID:exception-{approved}-")))
            .count(),
        1,
        "the approved exception's UID names its id: {body}"
    );
    assert_eq!(
        count(&lines, "CATEGORIES:freeze-exception,release"),
        1,
        "{body}"
    );
    assert!(!unfolded.contains("pending refactor"), "{body}");
    assert!(!unfolded.contains("rejected cleanup"), "{body}");

    // A later plan version is what the feed follows.
    let second = PLAN.replace("hands off during the peak", "peak: no changes");
    let r = server
        .admin()
        .post(
            "/api/v1/events/carnival/plans",
            &json!({"file_name": "plan.yaml", "text": second}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = raw_get(&server, &server.admin, path).await;
    assert_eq!(plan_version(&r), "2");
    assert!(r.text().contains("peak: no changes"), "{}", r.text());
    assert!(!r.text().contains("hands off during the peak"));
}

#[tokio::test]
async fn gitlab_periods_follow_service_and_kind() {
    let server = TestServer::start().await;
    event(&server, "carnival", true).await;
    let plan = plan();
    let cases: &[(&str, Option<&str>, PlanKind, usize)] = &[
        ("", None, PlanKind::Release, 2),
        (
            "?service=order-api",
            Some("order-api"),
            PlanKind::Release,
            2,
        ),
        (
            "?service=pay-api&kind=config",
            Some("pay-api"),
            PlanKind::Config,
            1,
        ),
        (
            "?service=order-api&kind=config",
            Some("order-api"),
            PlanKind::Config,
            0,
        ),
        ("?kind=ops", None, PlanKind::Ops, 1),
    ];
    for (query, service, kind, n) in cases {
        let path = format!("/api/v1/events/carnival/freeze/gitlab{query}");
        // The checked client validates the JSON against the OpenAPI schema.
        let r = server.admin().get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        assert_eq!(content_type(&r), "application/json", "{path}");
        assert_eq!(plan_version(&r), "1");
        assert_eq!(
            r.text(),
            export::gitlab_freeze_periods(&plan, *service, *kind),
            "{path}"
        );
        let periods: Vec<Value> = r.json().expect("a JSON list");
        assert_eq!(periods.len(), *n, "{path}: {}", r.text());
        for p in &periods {
            assert_eq!(p["cron_timezone"], "UTC", "{path}");
        }
    }
    // The carnival window: 2026-09-28T00:00Z to 2026-10-02T00:00Z.
    let r = server
        .admin()
        .get("/api/v1/events/carnival/freeze/gitlab?service=order-api")
        .await;
    let periods: Vec<Value> = r.json().expect("json");
    assert_eq!(periods[0]["freeze_start"], "0 0 28 9 *");
    assert_eq!(periods[0]["freeze_end"], "0 0 2 10 *");
}

#[tokio::test]
async fn argocd_windows_follow_service_and_kind() {
    let server = TestServer::start().await;
    event(&server, "carnival", true).await;
    let plan = plan();
    let cases: &[(&str, Option<&str>, PlanKind, usize)] = &[
        ("", None, PlanKind::Release, 2),
        (
            "?service=pay-api&kind=config",
            Some("pay-api"),
            PlanKind::Config,
            1,
        ),
        (
            "?service=order-api&kind=config",
            Some("order-api"),
            PlanKind::Config,
            0,
        ),
    ];
    for (query, service, kind, n) in cases {
        let path = format!("/api/v1/events/carnival/freeze/argocd{query}");
        let r = raw_get(&server, &server.admin, &path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text());
        assert_eq!(content_type(&r), "application/yaml", "{path}");
        assert_eq!(plan_version(&r), "1");
        let body = r.text();
        assert_eq!(
            body,
            export::argocd_sync_windows(&plan, *service, *kind),
            "{path}"
        );
        let denies = body.lines().filter(|l| l.trim() == "- kind: deny").count();
        assert_eq!(denies, *n, "{path}: {body}");
        if *n == 0 {
            assert!(body.contains("syncWindows: []"), "{body}");
        }
    }
    let r = raw_get(
        &server,
        &server.admin,
        "/api/v1/events/carnival/freeze/argocd?service=pay-api&kind=config",
    )
    .await;
    let body = r.text();
    assert!(body.contains("schedule: \"0 12 29 9 *\""), "{body}");
    assert!(body.contains("duration: 24h30m"), "{body}");
    assert!(body.contains("- \"pay-*\""), "{body}");
}

#[tokio::test]
async fn every_role_but_ci_may_read_the_exports() {
    let server = TestServer::start().await;
    event(&server, "carnival", true).await;
    let paths = [
        "/api/v1/events/carnival/freeze.ics",
        "/api/v1/events/carnival/freeze/gitlab",
        "/api/v1/events/carnival/freeze/argocd",
    ];
    for role in Role::ALL {
        let line = match role {
            Role::Pm => Some("bike"),
            Role::Ci => Some("carnival"),
            Role::Sidecar => Some("order-api"),
            _ => None,
        };
        let token = server
            .token(&format!("t-{}", role.as_str()), role, line)
            .await;
        for path in paths {
            let r = raw_get(&server, &token, path).await;
            if matches!(role, Role::Ci | Role::Sidecar) {
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{path} as {}",
                    role.as_str()
                );
                // Errors are JSON in the documented shape.
                let r = server.api(Some(&token)).get(path).await;
                assert_eq!(code(&r), "forbidden");
                let v: Value = r.json().expect("json");
                assert!(
                    v["error"]["details"]["allowed_roles"]
                        .as_array()
                        .is_some_and(|a| !a.contains(&json!("ci"))
                            && !a.contains(&json!("sidecar"))
                            && a.contains(&json!("viewer"))),
                    "{v}"
                );
            } else {
                assert_eq!(r.status, StatusCode::OK, "{path} as {}", role.as_str());
            }
        }
    }
    for path in paths {
        let r = server.api(None).get(path).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        let r = server.api(Some("sw_not-a-token")).get(path).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

#[tokio::test]
async fn unknown_event_and_event_without_plan_are_404() {
    let server = TestServer::start().await;
    event(&server, "empty", false).await;
    for suffix in ["freeze.ics", "freeze/gitlab", "freeze/argocd"] {
        let r = server
            .admin()
            .get(&format!("/api/v1/events/nope/{suffix}"))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{suffix}");
        assert_eq!(code(&r), "not_found");
        assert!(r.text().contains("event `nope`"), "{}", r.text());

        let r = server
            .admin()
            .get(&format!("/api/v1/events/empty/{suffix}"))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{suffix}");
        let v: Value = r.json().expect("json");
        let message = v["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains("event `empty` has no plan yet") && message.contains("push one"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn bad_query_parameters_are_400() {
    let server = TestServer::start().await;
    event(&server, "carnival", true).await;
    let long = "s".repeat(201);
    for query in [
        "kind=deploy".to_owned(),
        "kind=".to_owned(),
        "colour=red".to_owned(),
        format!("service={long}"),
    ] {
        for area in ["gitlab", "argocd"] {
            let path = format!("/api/v1/events/carnival/freeze/{area}?{query}");
            let r = server.admin().get(&path).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.text());
            assert_eq!(code(&r), "invalid_query", "{path}");
        }
    }
    // A blank service is no filter.
    let r = server
        .admin()
        .get("/api/v1/events/carnival/freeze/gitlab?service=")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        r.text(),
        export::gitlab_freeze_periods(&plan(), None, PlanKind::Release)
    );
}

#[tokio::test]
async fn openapi_describes_the_exports() {
    let server = TestServer::start().await;
    let doc = &server.openapi;
    let expect = [
        (
            "/api/v1/events/{slug}/freeze.ics",
            "text/calendar; charset=utf-8",
        ),
        ("/api/v1/events/{slug}/freeze/gitlab", "application/json"),
        ("/api/v1/events/{slug}/freeze/argocd", "application/yaml"),
    ];
    for (path, content_type) in expect {
        let op = &doc["paths"][path]["get"];
        assert!(op.is_object(), "{path} is documented");
        assert_eq!(op["tags"], json!(["exports"]), "{path}");
        assert!(op["security"].is_array(), "{path} needs a token");
        assert!(
            op["responses"]["200"]["content"][content_type].is_object(),
            "{path}: 200 as {content_type}: {}",
            op["responses"]["200"]
        );
        for status in ["401", "403", "404"] {
            assert!(op["responses"][status].is_object(), "{path} lists {status}");
        }
    }
}
