//! What responders do to an incident through the API — roles from the
//! plan's people, notes, public status updates, severity, mitigate — and
//! what writes itself into its timeline from the rest of the control plane
//! (gate decisions in a freeze, freeze exceptions, guard rule changes), on
//! a real server over SQLite on loopback with the hand-set clock. Every
//! refusal is checked to store nothing: the incident read back after it is
//! the incident read before it, version and all.

use http::{Method, StatusCode};
use jiff::Timestamp;
use seawall_api::incidents::{
    AddNote, AssignRole, ChangeSeverity, Incident, MitigateIncident, OpenIncident, PostUpdate,
};
use seawall_server::client::ClientError;
use seawall_store::Role;
use serde_json::{Value, json};

use crate::common::{self, TestServer};

const SLUG: &str = "sale";

/// Three people; a freeze window 08:00–20:00 Shanghai time (00:00Z–12:00Z); no
/// on-call channel, so nobody is paged.
pub(crate) const PLAN: &str = "\
event: {name: Autumn Sale, timezone: Asia/Shanghai}
people:
  lin-wei: {name: Lin Wei, phone: \"13800000003\"}
  guo-tao: {name: Guo Tao}
  sun-li: {name: Sun Li}
organization:
  guarantee_group: [lin-wei]
  business_lines:
    bike: {name: Bike, services: [order-api]}
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
freeze:
  windows:
    sale-day:
      start: \"2026-09-30T08:00\"
      end: \"2026-09-30T20:00\"
      reason: \"sale day\"
";

fn ms(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<Timestamp>()
        .expect("test time")
        .as_millisecond()
}

async fn setup() -> TestServer {
    let server = TestServer::start().await;
    common::event_with(&server, SLUG, "Autumn Sale", PLAN).await;
    server
}

async fn open(server: &TestServer, title: &str) -> Incident {
    server
        .admin()
        .client
        .open_incident(
            SLUG,
            &OpenIncident {
                title: title.into(),
                severity: Some("P3".into()),
                line: None,
            },
        )
        .await
        .expect("open")
}

/// The status and error code of a refused typed call.
fn refusal<T: std::fmt::Debug>(r: Result<T, ClientError>) -> (u16, String) {
    match r {
        Err(ClientError::Api {
            status,
            code,
            message,
            ..
        }) => (status, format!("{} {message}", code.unwrap_or_default())),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn kinds(i: &Incident) -> Vec<&str> {
    i.timeline.iter().map(|e| e.kind.as_str()).collect()
}

#[tokio::test]
async fn roles_notes_updates_severity_and_mitigate_with_every_refusal_storing_nothing() {
    changes_and_refusals(&setup().await).await;
}

#[tokio::test]
async fn roles_notes_updates_severity_and_mitigate_on_postgres() {
    let pg = seawall_store::testing::TempPostgres::start().expect(
        "PostgreSQL for the server's tests (apt-get install postgresql; .ci/run installs it)",
    );
    let url = pg.create_database().expect("database");
    let server = TestServer::start_with(common::Db::Postgres(url), None).await;
    common::event_with(&server, SLUG, "Autumn Sale", PLAN).await;
    changes_and_refusals(&server).await;
    server.stop().await.expect("clean stop");
}

async fn changes_and_refusals(server: &TestServer) {
    let api = server.admin().client;
    let n = open(server, "checkout slow").await.id;
    let read = || async { api.incident(SLUG, n).await.expect("read") };

    // A role for one of the plan's people; moved when given again.
    let role = |role: &str, person: &str, version: Option<i64>| AssignRole {
        role: role.into(),
        person: person.into(),
        version,
    };
    let i = api
        .assign_incident_role(SLUG, n, &role("commander", "guo-tao", Some(1)))
        .await
        .expect("commander");
    assert_eq!(i.roles.len(), 1);
    assert_eq!(
        (i.roles[0].role.as_str(), i.roles[0].person.as_str()),
        ("commander", "guo-tao")
    );
    let i = api
        .assign_incident_role(SLUG, n, &role("commander", "lin-wei", None))
        .await
        .expect("moved");
    assert_eq!(i.roles[0].person, "lin-wei");
    api.assign_incident_role(SLUG, n, &role("scribe", "guo-tao", None))
        .await
        .expect("scribe");

    // Refusals, each storing nothing.
    let before = read().await;
    let (status, said) = refusal(
        api.assign_incident_role(SLUG, n, &role("liaison", "nobody", None))
            .await,
    );
    assert_eq!(status, 422);
    assert!(
        said.starts_with("unknown_person") && said.contains("`nobody`") && said.contains("people"),
        "{said}"
    );
    let (status, said) = refusal(
        api.assign_incident_role(SLUG, n, &role("boss", "sun-li", None))
            .await,
    );
    assert_eq!(
        (status, said.starts_with("invalid_body")),
        (422, true),
        "{said}"
    );
    let (status, said) = refusal(
        api.assign_incident_role(SLUG, n, &role("commander", "lin-wei", None))
            .await,
    );
    assert_eq!(status, 409, "the same person again: {said}");
    let note = |text: &str, version: Option<i64>| AddNote {
        text: text.into(),
        version,
    };
    let (status, said) = refusal(api.add_incident_note(SLUG, n, &note("  \n ", None)).await);
    assert_eq!(
        (status, said.starts_with("invalid_body")),
        (422, true),
        "{said}"
    );
    let (status, said) = refusal(
        api.add_incident_note(SLUG, n, &note(&"x".repeat(2_001), None))
            .await,
    );
    assert_eq!(
        (status, said.starts_with("too_long")),
        (422, true),
        "{said}"
    );
    let update = |status: &str, text: &str, version: Option<i64>| PostUpdate {
        status: status.into(),
        text: text.into(),
        version,
    };
    let (status, said) = refusal(
        api.post_incident_update(SLUG, n, &update("fixed", "all good", None))
            .await,
    );
    assert_eq!(
        (status, said.starts_with("invalid_body")),
        (422, true),
        "{said}"
    );
    let (status, _) = refusal(
        api.post_incident_update(SLUG, n, &update("identified", "", None))
            .await,
    );
    assert_eq!(status, 422);
    let severity = |s: &str, version: Option<i64>| ChangeSeverity {
        severity: s.into(),
        version,
    };
    let (status, _) = refusal(
        api.change_incident_severity(SLUG, n, &severity("P5", None))
            .await,
    );
    assert_eq!(status, 422);
    let (status, _) = refusal(
        api.change_incident_severity(SLUG, n, &severity("P3", None))
            .await,
    );
    assert_eq!(status, 409, "the same severity");
    // A stale version: decided on what the incident was before.
    let (status, said) = refusal(
        api.add_incident_note(SLUG, n, &note("on an old read", Some(before.version - 1)))
            .await,
    );
    assert_eq!(status, 409);
    assert!(
        said.contains(&format!("version {}", before.version)),
        "{said}"
    );
    let (status, _) = refusal(
        api.add_incident_note(SLUG, 999_999, &note("nowhere", None))
            .await,
    );
    assert_eq!(status, 404);
    assert_eq!(read().await, before, "refusals store nothing");

    // Accepted, on the current version.
    let i = api
        .add_incident_note(
            SLUG,
            n,
            &note("index rebuild started", Some(before.version)),
        )
        .await
        .expect("note");
    assert_eq!(i.version, before.version + 1);
    let i = api
        .post_incident_update(
            SLUG,
            n,
            &update(
                "identified",
                "Checkout is slow; cause found.",
                Some(i.version),
            ),
        )
        .await
        .expect("update");
    assert_eq!(i.updates.len(), 1);
    assert_eq!(
        (
            i.updates[0].status.as_str(),
            i.updates[0].text.as_str(),
            i.updates[0].by.as_str()
        ),
        ("identified", "Checkout is slow; cause found.", "admin")
    );
    let i = api
        .change_incident_severity(SLUG, n, &severity("p1", None))
        .await
        .expect("severity");
    assert_eq!(i.severity, "P1");
    assert_eq!(i.status, "open");
    let i = api
        .mitigate_incident(
            SLUG,
            n,
            &MitigateIncident {
                text: Some("rate limit on create-order".into()),
                version: None,
            },
        )
        .await
        .expect("mitigate");
    assert_eq!(i.status, "mitigated");
    assert!(i.time_to_ack_ms.is_some(), "mitigating acknowledges");
    assert_eq!(
        kinds(&i)[1..],
        [
            "role_assigned",
            "role_assigned",
            "role_assigned",
            "note",
            "status_update",
            "severity_changed",
            "acknowledged",
            "mitigated"
        ]
    );
    let (status, _) = refusal(
        api.mitigate_incident(SLUG, n, &MitigateIncident::default())
            .await,
    );
    assert_eq!(status, 409, "mitigated already");

    // Resolved: updates, roles, severity and mitigate are refused and
    // store nothing; a note for the review is still taken.
    api.resolve_incident(SLUG, n, Some("fixed"))
        .await
        .expect("resolve");
    let resolved = read().await;
    for r in [
        refusal(
            api.post_incident_update(SLUG, n, &update("monitoring", "watching", None))
                .await,
        ),
        refusal(
            api.assign_incident_role(SLUG, n, &role("liaison", "sun-li", None))
                .await,
        ),
        refusal(
            api.change_incident_severity(SLUG, n, &severity("P2", None))
                .await,
        ),
        refusal(
            api.mitigate_incident(SLUG, n, &MitigateIncident::default())
                .await,
        ),
    ] {
        assert_eq!(r.0, 409, "{}", r.1);
        assert!(r.1.contains("resolved"), "{}", r.1);
    }
    assert_eq!(read().await, resolved, "refusals store nothing");
    let i = api
        .add_incident_note(SLUG, n, &note("review: add an index check", None))
        .await
        .expect("a note after resolution");
    assert_eq!(kinds(&i).last(), Some(&"note"));

    // Audited.
    let audit: Value = server
        .admin()
        .get("/api/v1/audit?limit=1000")
        .await
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
        "incident.role_assigned",
        "incident.note",
        "incident.status_update",
        "incident.severity_changed",
        "incident.mitigated",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

#[tokio::test]
async fn responders_change_incidents_and_sidecar_ci_and_viewer_tokens_are_refused() {
    let server = setup().await;
    let n = open(&server, "payments errors").await.id;
    let base = format!("/api/v1/events/{SLUG}/incidents/{n}");
    let changes = [
        ("roles", json!({"role": "liaison", "person": "sun-li"})),
        ("notes", json!({"text": "a note"})),
        (
            "updates",
            json!({"status": "investigating", "text": "looking"}),
        ),
        ("severity", json!({"severity": "P2"})),
        ("mitigate", json!({"text": "limited"})),
    ];
    let before = server.admin().get(&base).await.text();
    for (name, role, scope) in [
        ("side", Role::Sidecar, Some("order-api")),
        ("pipeline", Role::Ci, Some(SLUG)),
        ("watcher", Role::Viewer, None),
    ] {
        let token = server.token(name, role, scope).await;
        for (what, body) in &changes {
            let r = server
                .api(Some(&token))
                .post(&format!("{base}/{what}"), body)
                .await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{name} {what}: {}",
                r.text()
            );
        }
    }
    assert_eq!(
        server.admin().get(&base).await.text(),
        before,
        "nothing stored"
    );
    let oncall = server.token("zhou-hao", Role::Oncall, None).await;
    let commander = server.token("lin-wei", Role::Commander, None).await;
    for (i, (what, body)) in changes.iter().enumerate() {
        let token = if i % 2 == 0 { &oncall } else { &commander };
        let r = server
            .api(Some(token))
            .post(&format!("{base}/{what}"), body)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{what}: {}", r.text());
    }
    let i: Incident = server.admin().get(&base).await.json().expect("json");
    assert_eq!(i.status, "mitigated");
    assert_eq!(i.severity, "P2");
    let by: Vec<&str> = i.timeline.iter().map(|e| e.actor.as_str()).collect();
    assert!(
        by.contains(&"zhou-hao") && by.contains(&"lin-wei"),
        "{by:?}"
    );
}

#[tokio::test]
async fn gate_decisions_exceptions_and_rule_changes_write_themselves_into_open_incidents() {
    let server = setup().await;
    let admin = server.admin();
    // An incident resolved before any of it hears nothing.
    let old = open(&server, "yesterday's").await.id;
    admin
        .client
        .resolve_incident(SLUG, old, None)
        .await
        .expect("resolve");
    let n = open(&server, "orders failing").await.id;
    let ci = server.token("pipeline", Role::Ci, Some(SLUG)).await;
    let commander = server.token("lin-wei", Role::Commander, None).await;
    let ask = || async {
        let r = server
            .api(Some(&ci))
            .post(
                "/api/v1/gate/check",
                &json!({"service": "order-api", "kind": "release", "actor": "gitlab-ci", "change_ref": "!42"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        r.json::<Value>().expect("json")
    };
    let entries = |i: &Incident, kind: &str| -> Vec<String> {
        i.timeline
            .iter()
            .filter(|e| e.kind == kind)
            .map(|e| format!("{} | {}", e.actor, e.text))
            .collect()
    };

    // Outside the freeze: allowed, and not the incident's business.
    server.clock.set(ms("2026-09-29T23:00:00Z"));
    assert_eq!(ask().await["allowed"], true);
    let i = admin.client.incident(SLUG, n).await.expect("read");
    assert!(entries(&i, "gate").is_empty(), "{:?}", kinds(&i));

    // In the freeze: refused, on the timeline.
    server.clock.set(ms("2026-09-30T09:00:00Z"));
    let a = ask().await;
    assert_eq!(a["allowed"], false);
    let i = admin.client.incident(SLUG, n).await.expect("read");
    let gate = entries(&i, "gate");
    assert_eq!(gate.len(), 1, "{gate:?}");
    assert!(
        gate[0].starts_with("pipeline | gate record ") && gate[0].contains("order-api"),
        "{gate:?}"
    );
    // The pipeline asking again about the same change: its record is
    // kept, the timeline says it once per 10 minutes.
    server.clock.set(ms("2026-09-30T09:09:59Z"));
    assert_eq!(ask().await["allowed"], false);
    let i = admin.client.incident(SLUG, n).await.expect("read");
    assert_eq!(entries(&i, "gate").len(), 1, "{:?}", entries(&i, "gate"));
    server.clock.set(ms("2026-09-30T09:10:00Z"));
    assert_eq!(ask().await["allowed"], false);
    let i = admin.client.incident(SLUG, n).await.expect("read");
    assert_eq!(entries(&i, "gate").len(), 2, "{:?}", entries(&i, "gate"));

    // An exception requested and approved; then the change is let through.
    let r = admin
        .post(
            &format!("/api/v1/events/{SLUG}/exceptions"),
            &json!({"services": ["order-api"], "kinds": ["release"],
                "start": "2026-09-30T09:00:00Z", "end": "2026-09-30T10:00:00Z",
                "reason": "hotfix for failing orders"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id = r.json::<Value>().expect("json")["id"].as_i64().expect("id");
    let r = server
        .api(Some(&commander))
        .post(
            &format!("/api/v1/exceptions/{id}/approve"),
            &json!({"note": "go"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(ask().await["allowed"], true);
    let i = admin.client.incident(SLUG, n).await.expect("read");
    let gate = entries(&i, "gate");
    assert_eq!(gate.len(), 5, "{gate:?}");
    assert!(
        gate[2].starts_with(&format!(
            "admin | freeze exception {id} requested by admin for order-api (release): hotfix"
        )),
        "{gate:?}"
    );
    assert_eq!(
        gate[3],
        format!("lin-wei | freeze exception {id} approved by lin-wei: go")
    );
    assert!(
        gate[4].starts_with("pipeline | gate record ")
            && gate[4]
                .contains("release change to `order-api` allowed: frozen by window `sale-day`")
            && gate[4].contains(&format!("let through by approved exception `{id}`")),
        "{gate:?}"
    );
    // A rejected one says so too.
    let r = admin
        .post(
            &format!("/api/v1/events/{SLUG}/exceptions"),
            &json!({"services": ["order-api"], "kinds": ["config"],
                "start": "2026-09-30T10:00:00Z", "end": "2026-09-30T11:00:00Z",
                "reason": "a config change"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let id2 = r.json::<Value>().expect("json")["id"].as_i64().expect("id");
    let r = server
        .api(Some(&commander))
        .post(
            &format!("/api/v1/exceptions/{id2}/reject"),
            &json!({"note": "not today"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let i = admin.client.incident(SLUG, n).await.expect("read");
    let gate = entries(&i, "gate");
    assert_eq!(
        gate[6],
        format!("lin-wei | freeze exception {id2} rejected by lin-wei: not today"),
        "{gate:?}"
    );

    // Guard rules: adjusted by a commander, and derived from the plan.
    let body = json!({"rules": {"version": 1, "resources": [{
        "name": "create-order",
        "routes": [{"method": "POST", "path": "/api/orders"}],
        "flow": [{"id": "create-order.qps", "count": 5.0}]}]},
        "note": "hold orders at 5/s"});
    let r = server
        .api(Some(&commander))
        .checked(
            Method::PUT,
            "/api/v1/guard/services/order-api/rules",
            Some((
                "application/json",
                serde_json::to_vec(&body).expect("json").into(),
            )),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let r = admin
        .post(&format!("/api/v1/events/{SLUG}/guard/derive"), &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let i = admin.client.incident(SLUG, n).await.expect("read");
    let rules = entries(&i, "rule_change");
    assert_eq!(
        rules,
        [
            "lin-wei | guard rules of order-api adjusted to v1: hold orders at 5/s".to_owned(),
            "admin | guard rules derived from plan v1 (safety 0.9): order-api v2".to_owned(),
        ]
    );
    // The resolved one heard none of it.
    let old = admin.client.incident(SLUG, old).await.expect("read");
    assert_eq!(kinds(&old), ["opened", "resolved"]);
}

#[tokio::test]
async fn the_incident_pages_show_the_timeline_in_the_event_zone_and_their_forms_work() {
    let server = setup().await;
    let login = |name: &'static str, role: Role| {
        let server = &server;
        async move { server.ui_login(&server.token(name, role, None).await).await }
    };
    let oncall = login("zhou-hao", Role::Oncall).await;
    let viewer = login("vera", Role::Viewer).await;
    let list = format!("/ui/events/{SLUG}/incidents");

    let html = oncall.get(&list).await.text();
    assert!(html.contains("id=\"no-incidents\""), "{html}");
    assert!(
        html.contains(&format!("href=\"/ui/events/{SLUG}/incidents\"")),
        "in the navigation"
    );
    assert!(
        !viewer
            .get(&list)
            .await
            .text()
            .contains("id=\"open-submit\"")
    );
    let r = viewer.post_form(&list, &[("title", "from a viewer")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Opened from the list page: 02:00Z is 10:00 in Shanghai.
    let r = oncall
        .post_form(
            &list,
            &[
                ("title", "orders failing"),
                ("severity", "P1"),
                ("line", "bike"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let page = format!("{list}/1");
    let html = oncall.get(&page).await.text();
    assert!(html.contains("2026-09-30 10:00:00 CST"), "{html}");
    assert!(html.contains("id=\"ack\""), "{html}");
    let form = |what: &str| format!("{page}/{what}");

    // Every form, as the page posts it (with the version it showed).
    for (what, fields) in [
        ("ack", vec![]),
        (
            "role",
            vec![
                ("role", "commander"),
                ("person", "lin-wei"),
                ("version", "2"),
            ],
        ),
        ("note", vec![("text", "index rebuild started")]),
        (
            "update",
            vec![
                ("status", "identified"),
                ("text", "Orders fail; cause found."),
                ("version", "4"),
            ],
        ),
        ("severity", vec![("severity", "P2"), ("version", "5")]),
        ("mitigate", vec![("text", "limit in"), ("version", "6")]),
    ] {
        let r = oncall.post_form(&form(what), &fields).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{what}: {}", r.text());
    }
    // A form from a page that is out of date changes nothing.
    let r = oncall
        .post_form(
            &form("role"),
            &[("role", "scribe"), ("person", "guo-tao"), ("version", "2")],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text());
    // Nor does one without its CSRF token, or a viewer's.
    let r = oncall
        .post_form_exact(&form("note"), &[("text", "no token")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = viewer
        .post_form(&form("note"), &[("text", "a viewer")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let html = oncall.get(&page).await.text();
    for needle in [
        "id=\"status\">mitigated<",
        "id=\"severity\">P2<",
        "data-role=\"commander\">Lin Wei",
        "Orders fail; cause found.",
        "index rebuild started",
        "data-kind=\"role_assigned\"",
        "data-kind=\"mitigated\"",
        "(Asia/Shanghai)",
    ] {
        assert!(html.contains(needle), "{needle} in {html}");
    }
    assert!(!html.contains("no token") && !html.contains("a viewer"));
    let r = oncall
        .post_form(&form("resolve"), &[("text", "fixed")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let html = oncall.get(&list).await.text();
    assert!(html.contains("data-status=\"resolved\""), "{html}");
    assert!(
        html.contains("Lin Wei"),
        "the commander in the list: {html}"
    );
    assert!(html.contains("id=\"mttr\">0s<"), "{html}");
    let r = oncall.get(&format!("{list}/99")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
