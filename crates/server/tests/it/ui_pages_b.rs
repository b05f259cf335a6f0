//! The war room's Rehearsals, Change control, On-call and Emergency plans
//! pages over real HTTP against a real server holding the carnival plan
//! (`examples/carnival/plan.yaml`), with the clock at fixed instants:
//! content, role behaviour, CSRF, and bad input.

use crate::common;

use common::{CARNIVAL, T0, TestServer, UiSession};
use http::{StatusCode, header};
use seawall_server::client::Response;
use seawall_store::{ExceptionStatus, Role};
use serde_json::{Value, json};

/// `T0` (2026-09-30T10:00 Beijing, the peak's start) plus `hours`.
fn at(hours: i64) -> i64 {
    T0 + hours * 3_600_000
}

/// A server with event `carnival` holding the carnival plan.
async fn carnival() -> TestServer {
    let server = TestServer::start().await;
    common::event_with(&server, "carnival", "930 Holiday Carnival", CARNIVAL).await;
    server
}

async fn login(server: &TestServer, name: &str, role: Role, line: Option<&str>) -> UiSession {
    let token = server.token(name, role, line).await;
    server.ui_login(&token).await
}

/// GET a page that must be 200, its HTML.
async fn page(ui: &UiSession, path: &str) -> String {
    let r = ui.get(path).await;
    assert_eq!(r.status, StatusCode::OK, "GET {path}: {}", r.text());
    r.text()
}

/// The HTML between the element with `id="<id>"` and the end of the
/// surrounding `</tag>` (the first one after it).
fn element<'a>(html: &'a str, id: &str, tag: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element id={id}"));
    let end = html[start..]
        .find(&format!("</{tag}>"))
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

/// The `<tr …data-…>` row of a table section holding `marker`.
fn row<'a>(html: &'a str, marker: &str) -> &'a str {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no row with {marker}"));
    let end = html[start..]
        .find("</tr>")
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

fn plan() -> seawall_plan::Plan {
    seawall_plan::parse(CARNIVAL, "plan.yaml").expect("carnival plan is valid")
}

fn ts(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).expect("ms")
}

// ------------------------------------------------------------------ on-call

#[tokio::test]
async fn oncall_shows_who_is_on_duty_now_and_the_gaps() {
    let server = carnival().await;
    let ui = login(&server, "vera", Role::Viewer, None).await;
    let html = page(&ui, "/ui/events/carnival/oncall").await;
    assert!(
        html.contains("2026-09-30 10:00 CST"),
        "now in the event zone"
    );
    // At the peak's start each line has its own people (the plan's rota).
    let now = element(&html, "on-call-now", "div");
    let duties = seawall_plan::oncall::on_call(&plan(), ts(T0));
    assert_eq!(duties.len(), 4);
    for d in &duties {
        let card = &now[now
            .find(&format!("data-line=\"{}\"", d.line))
            .expect("line card")..];
        let card = &card[..card.find("</section>").expect("end")];
        let primary = d.primary.as_ref().expect("covered at T0");
        assert!(
            card.contains(&format!("data-person=\"{}\"", primary.id))
                && card.contains(&primary.name),
            "{}: {card}",
            d.line
        );
        let phone = primary
            .phone
            .as_deref()
            .expect("carnival people have phones");
        assert!(card.contains(phone), "contact handle of {}", primary.name);
        let secondary = d.secondary.as_ref().expect("secondary");
        assert!(card.contains(&secondary.name));
    }
    assert!(now.contains("Chen Jie") && now.contains("Sun Li") && now.contains("Guo Tao"));
    assert!(!html.contains("id=\"uncovered-now\""));

    // The rota time line marks now; its rows are the business lines.
    let svg = element(&html, "rota", "svg");
    assert!(svg.contains("id=\"rota-now\""));
    // The zoom around now: the peak-day shifts, cut to 04:00–04:00.
    let today = element(&html, "rota-today", "svg");
    assert!(today.contains("id=\"rota-today-now\"") && today.contains("Chen Jie / Zhou Hao"));
    assert!(
        today.contains(">09-30 06:00<"),
        "ticks in the event zone: {today}"
    );
    for line in ["bike", "ebike", "ride", "payments"] {
        assert!(svg.contains(&format!("data-row=\"{line}\"")), "{line}");
    }
    // Gaps: the plan's analysis, one table row each (2026-10-01 02:00–08:00).
    let gaps = seawall_plan::oncall::gaps(&plan());
    assert!(!gaps.is_empty());
    let table = element(&html, "coverage-gaps", "table");
    assert_eq!(table.matches("<tr class=\"critical\"").count(), gaps.len());
    assert!(table.contains("2026-10-01 02:00 CST") && table.contains("2026-10-01 08:00 CST"));
    assert!(table.contains("6h 00m"));
    assert_eq!(svg.matches("data-bar=\"gap-").count(), gaps.len());
    // Channels without their webhook URLs (they hold tokens).
    let channels = element(&html, "channels", "table");
    assert!(channels.contains("[930 Carnival] War Room"));
    assert!(!html.contains("open.feishu.cn") && !html.contains("access_token"));

    // In the gap nobody is primary, and the page says so.
    server.clock.set(at(17)); // 2026-10-01T03:00 Beijing
    // Hours later the session has ended (idle expiry): log in again.
    let ui = login(&server, "vera-again", Role::Viewer, None).await;
    let html = page(&ui, "/ui/events/carnival/oncall").await;
    assert!(html.contains("id=\"uncovered-now\""), "gap now");
    assert!(element(&html, "uncovered-now", "p").contains("4 business line(s)"));
    assert!(element(&html, "coverage-gaps", "table").contains("badge critical\">now"));
}

// --------------------------------------------------------------- emergency

#[tokio::test]
async fn emergency_manual_is_grouped_by_phase_with_anchors() {
    let server = carnival().await;
    let ui = login(&server, "vera", Role::Viewer, None).await;
    let html = page(&ui, "/ui/events/carnival/emergency").await;
    let plan = plan();
    // Phases in order pre, during, post; each plan in its phase, with an anchor.
    let (pre, during, post) = (
        html.find("id=\"phase-pre\"").expect("pre"),
        html.find("id=\"phase-during\"").expect("during"),
        html.find("id=\"phase-post\"").expect("post"),
    );
    assert!(pre < during && during < post);
    for (id, p) in &plan.emergency_plans {
        let pos = html
            .find(&format!("id=\"plan-{id}\""))
            .unwrap_or_else(|| panic!("anchor for {id}"));
        let group = match p.phase.as_str() {
            "pre" => pos > pre && pos < during,
            "during" => pos > during && pos < post,
            _ => pos > post,
        };
        assert!(group, "{id} is under its phase {}", p.phase.as_str());
    }
    // Never drilled is flagged; the count matches the plan.
    let never = plan
        .emergency_plans
        .values()
        .filter(|p| p.drills.is_empty())
        .count();
    assert_eq!(never, 1);
    let warm = element(&html, "plan-cache-warmup", "article");
    assert!(warm.contains("never drilled"));
    assert!(element(&html, "never-drilled-count", "span").contains("1 never drilled"));
    // Trigger, actions, owner (by name), expected minutes, last drill.
    let grab = element(&html, "plan-coupon-rate-limit", "article");
    assert!(
        grab.contains("water_level of coupon-grab above 0.85 for 30s"),
        "{grab}"
    );
    assert!(grab.contains("coupon-grab limited to 2500 QPS"));
    assert!(grab.contains("Sun Li") && grab.contains("2 min"));
    let pay = element(&html, "plan-pay-fallback", "article");
    assert!(
        pay.contains("2026-09-22 14:00 CST"),
        "last drill is the newest"
    );
    assert!(pay.contains("badge critical\">failed") && pay.contains("badge ok\">passed"));
    let cs = element(&html, "plan-cs-notice", "article");
    assert!(cs.contains("POST https://cs.example.com/api/announcements"));
}

// ---------------------------------------------------------- change control

async fn ask_gate(server: &TestServer, service: &str) -> Value {
    let r = server
        .admin()
        .post(
            "/api/v1/gate/check",
            &json!({"service": service, "kind": "release", "actor": "gitlab-ci",
                    "change_ref": "!930", "event": "carnival"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json().expect("json")
}

#[tokio::test]
async fn change_control_shows_the_freeze_and_the_gate_decisions() {
    let server = carnival().await;
    let ui = login(&server, "vera", Role::Viewer, None).await;
    let answer = ask_gate(&server, "order-svc").await;
    assert_eq!(answer["allowed"], false);
    let html = page(&ui, "/ui/events/carnival/change").await;
    // What is frozen now: exactly the windows of the plan's calendar holding at T0.
    let frozen: Vec<_> = seawall_plan::freeze::calendar(&plan())
        .into_iter()
        .filter(|w| w.start <= ts(T0) && ts(T0) < w.end)
        .collect();
    assert_eq!(frozen.len(), 1);
    let table = element(&html, "frozen-now", "table");
    assert!(table.contains("data-window=\"carnival\""));
    assert!(!table.contains("payments-config"));
    assert!(table.contains("2026-10-02 00:00 CST") && table.contains("1d 14h"));
    // The calendar: every window a row, now marked, the holding one red.
    let svg = element(&html, "freeze-calendar", "svg");
    assert!(svg.contains("id=\"freeze-calendar-now\""));
    assert!(svg.contains("data-row=\"payments-config\"") && svg.contains("data-row=\"carnival\""));
    assert!(svg.contains("class=\"fill-critical\""));
    assert!(svg.contains("data-band=\"peak\""));
    // The decision just recorded.
    let decisions = element(&html, "decisions", "table");
    let rec = row(decisions, &format!("data-record=\"{}\"", answer["record"]));
    assert!(rec.contains("data-allowed=\"false\"") && rec.contains("order-svc"));
    assert!(rec.contains("gitlab-ci") && rec.contains("!930") && rec.contains("frozen"));
    assert!(rec.contains("2026-09-30 10:00 CST"));
    // Filters.
    let html = page(&ui, "/ui/events/carnival/change?decision=allowed").await;
    assert!(html.contains("id=\"decisions-none\""));
    let html = page(
        &ui,
        "/ui/events/carnival/change?decision=refused&service=order-svc",
    )
    .await;
    assert!(html.contains("data-allowed=\"false\""));
    let html = page(&ui, "/ui/events/carnival/change?service=pay-gateway").await;
    assert!(html.contains("id=\"decisions-none\""));
    let r = ui.get("/ui/events/carnival/change?decision=maybe").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text().contains("allowed, refused or all"));

    // Outside the freeze nothing is frozen.
    server.clock.set(at(24 * 5));
    // Days later the session has ended (idle expiry): log in again.
    let ui = login(&server, "vera-again", Role::Viewer, None).await;
    let html = page(&ui, "/ui/events/carnival/change").await;
    assert!(html.contains("id=\"frozen-now-none\""));
}

/// The exception's status in the store.
async fn status(server: &TestServer, id: i64) -> ExceptionStatus {
    server
        .state
        .store
        .exception(id)
        .await
        .expect("store")
        .expect("exception")
        .status
}

fn location(r: &Response) -> String {
    r.headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn exceptions_requested_by_a_pm_and_decided_by_a_commander() {
    let server = carnival().await;
    let pm = login(&server, "sun", Role::Pm, Some("payments")).await;
    let commander = login(&server, "lin", Role::Commander, None).await;
    let viewer = login(&server, "vera", Role::Viewer, None).await;

    // A pm asks through the form, within their line, in the event's zone.
    let form = [
        ("services", "pay-gateway"),
        ("kind", "config"),
        ("start", "2026-09-30T11:00"),
        ("end", "2026-09-30T12:00"),
        ("reason", "hotfix for the partner's new certificate"),
    ];
    let r = pm
        .post_form("/ui/events/carnival/change/exceptions", &form)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let stored = server.state.store.exceptions(1).await.expect("store");
    assert_eq!(stored.len(), 1);
    let id = stored[0].id;
    assert_eq!(
        location(&r),
        format!("/ui/events/carnival/change?requested={id}#exception-{id}")
    );
    assert_eq!(stored[0].starts_ms, at(1), "11:00 Beijing");
    assert_eq!(stored[0].ends_ms, at(2));
    assert_eq!(stored[0].requested_by, "sun");
    // Outside the pm's line: refused by the API's rule, nothing stored.
    let mut other = form;
    other[0] = ("services", "ride-svc");
    let r = pm
        .post_form("/ui/events/carnival/change/exceptions", &other)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut bad_time = form;
    bad_time[2] = ("start", "tomorrow");
    let r = pm
        .post_form("/ui/events/carnival/change/exceptions", &bad_time)
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text().contains("2026-09-30T11:00"),
        "says what a time looks like"
    );
    // A viewer may not ask at all.
    let r = viewer
        .post_form("/ui/events/carnival/change/exceptions", &form)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        server.state.store.exceptions(1).await.expect("store").len(),
        1
    );

    // The commander sees the buttons, the viewer and the pm do not.
    let approve_id = format!("id=\"approve-{id}\"");
    let html = page(
        &commander,
        &format!("/ui/events/carnival/change?requested={id}"),
    )
    .await;
    assert!(html.contains(&approve_id) && html.contains(&format!("id=\"reject-{id}\"")));
    assert!(html.contains(&format!("Exception #{id} requested")));
    let ex = row(&html, &format!("id=\"exception-{id}\""));
    assert!(ex.contains("data-status=\"pending\"") && ex.contains("pay-gateway"));
    assert!(ex.contains("2026-09-30 11:00 CST"));
    assert!(
        element(&html, "freeze-calendar", "svg").contains(&format!("data-row=\"exception-{id}\""))
    );
    for who in [&viewer, &pm] {
        let html = page(who, "/ui/events/carnival/change").await;
        assert!(!html.contains(&approve_id));
        assert!(html.contains(&format!("id=\"exception-{id}\"")));
    }

    let approve = format!("/ui/events/carnival/change/exceptions/{id}/approve");
    // A viewer's POST is refused and changes nothing.
    let r = viewer.post_form(&approve, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(status(&server, id).await, ExceptionStatus::Pending);
    // No CSRF token, or a wrong one: refused, nothing changed.
    let r = commander.post_form_exact(&approve, &[("note", "ok")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("CSRF"));
    let r = commander
        .post_form_exact(&approve, &[("csrf", "0000")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(status(&server, id).await, ExceptionStatus::Pending);
    // Bad ids.
    let r = commander
        .post_form("/ui/events/carnival/change/exceptions/abc/approve", &[])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = commander
        .post_form("/ui/events/carnival/change/exceptions/999/approve", &[])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The commander approves: the store says approved, with an audit entry.
    let r = commander.post_form(&approve, &[("note", "go ahead")]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(
        location(&r),
        format!("/ui/events/carnival/change?decided={id}#exception-{id}")
    );
    let e = server
        .state
        .store
        .exception(id)
        .await
        .expect("store")
        .expect("exception");
    assert_eq!(e.status, ExceptionStatus::Approved);
    assert_eq!(e.decided_by.as_deref(), Some("lin"));
    assert_eq!(e.decision_note.as_deref(), Some("go ahead"));
    let audit = server.state.store.audit(0, 1000).await.expect("audit");
    let entry = audit
        .iter()
        .find(|a| a.action == "exception.approve")
        .expect("an audit entry for the approval");
    assert_eq!(entry.actor, "lin");
    let html = page(&commander, "/ui/events/carnival/change").await;
    let ex = row(&html, &format!("id=\"exception-{id}\""));
    assert!(ex.contains("data-status=\"approved\"") && ex.contains("approved by lin"));
    assert!(
        !html.contains(&approve_id),
        "no buttons on a decided exception"
    );

    // Deciding twice: a 409 page that says why; nothing changes.
    let r = commander
        .post_form(
            &format!("/ui/events/carnival/change/exceptions/{id}/reject"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(r.text().contains("id=\"error-message\""));
    assert_eq!(status(&server, id).await, ExceptionStatus::Approved);

    // An exception of another event is not decided from this event's page.
    let admin = server.admin();
    let r = admin
        .post("/api/v1/events", &json!({"slug": "other", "name": "Other"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = admin
        .post(
            "/api/v1/events/other/exceptions",
            &json!({"services": ["x"], "kinds": ["release"], "start": "2026-09-30T11:00:00+08:00",
                    "end": "2026-09-30T12:00:00+08:00", "reason": "r"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let other_id = r.json::<Value>().expect("json")["id"].as_i64().expect("id");
    let r = commander
        .post_form(
            &format!("/ui/events/carnival/change/exceptions/{other_id}/approve"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(status(&server, other_id).await, ExceptionStatus::Pending);
}

#[tokio::test]
async fn approving_after_the_end_is_a_conflict() {
    let server = carnival().await;
    let commander = login(&server, "lin", Role::Commander, None).await;
    let r = commander
        .post_form(
            "/ui/events/carnival/change/exceptions",
            &[
                ("services", "order-svc"),
                ("kind", "release"),
                ("start", "2026-09-30T11:00"),
                ("end", "2026-09-30T12:00"),
                ("reason", "late"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let id = server.state.store.exceptions(1).await.expect("store")[0].id;
    server.clock.set(at(3)); // 13:00, after its end
    // Hours later lin's session has ended (idle expiry), and nobody
    // approves their own request: another commander tries.
    let commander = login(&server, "ana", Role::Commander, None).await;
    let html = page(&commander, "/ui/events/carnival/change").await;
    assert!(row(&html, &format!("id=\"exception-{id}\"")).contains("data-state=\"expired\""));
    let r = commander
        .post_form(
            &format!("/ui/events/carnival/change/exceptions/{id}/approve"),
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(status(&server, id).await, ExceptionStatus::Pending);
}

// -------------------------------------------------------------- rehearsals

/// A run document shaped like `seawall rehearse --out`: two entries with
/// per-second series and a capacity search with knees.
fn run_doc(knee_home: f64, knee_grab: f64, p99: f64, errors: u64) -> String {
    let series = |base: u64, p99: f64| -> Vec<Value> {
        (0..10)
            .map(|t| {
                json!({"t_s": t, "rate": base + t * 10, "errors": 0, "dropped": 0,
                            "p50": p99 / 4.0, "p99": p99 + t as f64})
            })
            .collect()
    };
    let entry = |id: &str, knee: f64, base: u64, achieved: f64| {
        json!({"id": id, "service": "svc", "target_qps": 100.0, "intended_qps": 120.0,
               "requests": 1000, "ok": 1000 - errors, "achieved_rps": achieved, "dropped": 0,
               "errors": {"total": errors, "connect": 0, "timeout": 0, "io": 0,
                          "status_4xx": 0, "status_5xx": errors, "body": 0},
               "latency_ms": {"p50": 10.0, "p90": 20.0, "p99": p99, "p999": 90.0, "max": 100.0, "mean": 12.0},
               "slo": {"p99_ms": 300.0, "error_rate": 0.001}, "slo_source": "entry", "slo_held": true,
               "knee_qps": knee, "held_qps": knee, "series": series(base, p99)})
    };
    let step = |multiple: f64, held: bool| {
        json!({"kind": "step", "multiple": multiple, "start_s": multiple * 10.0, "duration_s": 5.0,
               "held": held, "entries": [
                   {"id": "home", "achieved_rps": knee_home * multiple, "error_rate": 0.0, "p99_ms": p99, "held": held},
                   {"id": "coupon-grab", "achieved_rps": knee_grab * multiple, "error_rate": 0.0, "p99_ms": p99, "held": true}]})
    };
    json!({
        "schema": "seawall.run/v1", "run_id": "r-1", "scenario": "capacity-search",
        "base_url": "http://127.0.0.1:1", "started": "2026-09-20T06:00:00.000Z",
        "finished": "2026-09-20T06:10:00.000Z", "duration_s": 600.0, "mode": "search",
        "arrivals": "constant", "tag": null, "outcome": "completed", "abort": null,
        "requests": 2000, "errors": errors * 2, "dropped": 0, "journeys": [],
        "entries": [entry("home", knee_home, 100, knee_home), entry("coupon-grab", knee_grab, 50, knee_grab)],
        "services": [], "guard_events": [],
        "search": {"steps": [step(1.0, true), step(1.5, false)], "knee_multiple": 1.0,
                   "broken_multiple": 1.5, "confirmed": true, "bottlenecks": ["home"],
                   "stopped": "bisected to 2 %"}
    })
    .to_string()
}

async fn upload(server: &TestServer, slug: &str, doc: String) -> i64 {
    let r = server
        .admin()
        .post_raw(
            &format!("/api/v1/events/{slug}/runs"),
            "application/json",
            doc,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    r.json::<Value>().expect("json")["id"].as_i64().expect("id")
}

#[tokio::test]
async fn rehearsals_list_chart_and_compare_runs() {
    let server = carnival().await;
    let ui = login(&server, "vera", Role::Viewer, None).await;
    let html = page(&ui, "/ui/events/carnival/rehearsals").await;
    assert!(html.contains("id=\"no-runs\"") && html.contains("seawall rehearse"));

    let a = upload(&server, "carnival", run_doc(100.0, 50.0, 200.0, 0)).await;
    let b = upload(&server, "carnival", run_doc(120.0, 40.0, 150.0, 10)).await;
    let html = page(&ui, "/ui/events/carnival/rehearsals").await;
    let runs = element(&html, "runs", "table");
    let (pa, pb) = (
        runs.find(&format!("data-run=\"{a}\"")).expect("a"),
        runs.find(&format!("data-run=\"{b}\"")).expect("b"),
    );
    assert!(pb < pa, "newest first");
    let rb = row(runs, &format!("data-run=\"{b}\""));
    assert!(rb.contains("capacity-search") && rb.contains("600 s") && rb.contains(">2000<"));
    assert!(rb.contains("1 %"), "20 errors of 2000 requests: {rb}");
    assert!(rb.contains("home <strong>120 /s</strong>"));
    assert!(
        rb.contains("2026-09-20 14:00 CST"),
        "started, in the event zone"
    );

    // One run: the rate chart has one line per entry and each knee marked,
    // the latency charts p50 and p99, the search chart the steps.
    let html = page(&ui, &format!("/ui/events/carnival/rehearsals/{a}")).await;
    let rate = element(&html, "rate-chart", "svg");
    assert!(rate.contains("data-series=\"home\"") && rate.contains("data-series=\"coupon-grab\""));
    assert!(rate.contains("data-marker=\"knee home 100 /s\""));
    assert!(
        rate.contains("<title>home at 3 s: 130 req/s</title>"),
        "tooltips on points"
    );
    assert!(rate.contains("requests/s") && rate.contains("time since start (s)"));
    let lat = element(&html, "latency-home", "svg");
    assert!(lat.contains("data-series=\"p50\"") && lat.contains("data-series=\"p99\""));
    assert!(lat.contains("data-marker=\"SLO p99 300 ms\""));
    assert!(lat.contains("<title>p99 at 2 s: 202 ms</title>"));
    let search = element(&html, "search-chart", "svg");
    assert!(
        search.contains("data-marker=\"knee 1×\"") && search.contains("data-marker=\"broke 1.5×\"")
    );
    assert!(search.contains("data-marker=\"knee coupon-grab 50 /s\""));
    assert!(search.contains("broken"), "the broken step's tooltip");
    assert!(
        element(&html, "search-steps", "table").contains("badge critical\">broken</span> home")
    );
    let entries = element(&html, "run-entries", "table");
    assert!(
        row(entries, "data-entry=\"home\"").contains("<td class=\"num\">20</td>"),
        "p90"
    );
    for svg in [rate, lat, search] {
        assert!(!svg.contains("NaN") && !svg.contains("style="));
    }

    // Compare: B − A per entry with the change in percent.
    let html = page(
        &ui,
        &format!("/ui/events/carnival/rehearsals/compare?a={a}&b={b}"),
    )
    .await;
    let table = element(&html, "comparison", "table");
    let home = row(table, "data-entry=\"home\"");
    assert!(home.contains(">100<") && home.contains(">120<"));
    assert!(
        home.contains("num ok\">+20<") && home.contains("num ok\">+20 %<"),
        "{home}"
    );
    assert!(
        home.contains("num ok\">-50<") && home.contains("-25 %"),
        "p99 200 → 150: {home}"
    );
    assert!(
        home.contains("num critical\">+1<"),
        "error rate 0 → 1 %: {home}"
    );
    let grab = row(table, "data-entry=\"coupon-grab\"");
    assert!(
        grab.contains("num critical\">-10<") && grab.contains("-20 %"),
        "{grab}"
    );
    let overlay = element(&html, "compare-rate-home", "svg");
    assert!(overlay.contains(&format!("data-series=\"run {a}\"")));
    assert!(overlay.contains(&format!("data-series=\"run {b}\"")));
    assert!(overlay.contains("stroke-dasharray=\"5 4\""), "B dashed");
}

#[tokio::test]
async fn rehearsal_pages_refuse_bad_ids() {
    let server = carnival().await;
    common::event_with_plan(&server, "other").await;
    common::upload_run(&server, "other").await; // run 1, of `other`
    let mine = upload(&server, "carnival", common::run_json(8.0, 4.0)).await;
    let ui = login(&server, "vera", Role::Viewer, None).await;
    for (path, code) in [
        (
            "/ui/events/carnival/rehearsals/1".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/ui/events/carnival/rehearsals/999".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            "/ui/events/carnival/rehearsals/abc".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ui/events/carnival/rehearsals/-3".to_owned(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "/ui/events/nope/rehearsals".to_owned(),
            StatusCode::NOT_FOUND,
        ),
        (
            format!("/ui/events/carnival/rehearsals/compare?a={mine}"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/ui/events/carnival/rehearsals/compare?a=x&b={mine}"),
            StatusCode::BAD_REQUEST,
        ),
        (
            format!("/ui/events/carnival/rehearsals/compare?a=1&b={mine}"),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = ui.get(&path).await;
        assert_eq!(r.status, code, "{path}: {}", r.text());
        assert!(
            r.text().contains("id=\"error-message\""),
            "an HTML error page for {path}"
        );
    }
    // A minimal document (no series) still shows, with an empty state.
    let html = page(&ui, &format!("/ui/events/carnival/rehearsals/{mine}")).await;
    assert!(html.contains("id=\"no-series\""));
    assert!(row(&html, "data-entry=\"create-order\"").contains("<strong>8</strong>"));
}

#[tokio::test]
async fn pages_without_a_plan_say_what_to_do() {
    let server = TestServer::start().await;
    let r = server
        .admin()
        .post("/api/v1/events", &json!({"slug": "empty", "name": "Empty"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let ui = login(&server, "vera", Role::Viewer, None).await;
    for p in ["oncall", "emergency", "change"] {
        let html = page(&ui, &format!("/ui/events/empty/{p}")).await;
        assert!(
            html.contains("id=\"no-plan\"") && html.contains("seawall push"),
            "{p}"
        );
    }
    let html = page(&ui, "/ui/events/empty/rehearsals").await;
    assert!(html.contains("id=\"no-runs\""));
}
