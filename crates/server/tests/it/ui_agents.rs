//! The Agents page (`/ui/events/{slug}/agents`) over real HTTP against a
//! real server holding the carnival plan: readers see the agents and the
//! runs but no form; only a planner starts a run (a viewer or ci post is
//! 403 and starts nothing, a post without the CSRF token is refused); bad
//! input is shown on the page and starts nothing; a run started from the
//! page is stopped by its Abort button (every agent's control long poll
//! answers) and its merged result is kept as one of the event's runs,
//! listed on the Rehearsals page. The agent here speaks the agents' API
//! by hand; the CLI's `agents` tests run real `seawall agent` processes.

use std::time::{Duration, Instant};

use http::{StatusCode, header};
use seawall_store::Role;
use serde_json::{Value, json};

use crate::common::{self, CARNIVAL, TestServer, UiSession};

const PAGE: &str = "/ui/events/carnival/agents";

async fn carnival() -> TestServer {
    let server = TestServer::start().await;
    common::event_with(&server, "carnival", "930 Holiday Carnival", CARNIVAL).await;
    server
}

async fn login(server: &TestServer, name: &str, role: Role, scope: Option<&str>) -> UiSession {
    let token = server.token(name, role, scope).await;
    server.ui_login(&token).await
}

/// Register an agent with the admin token; its id.
async fn register(server: &TestServer, name: &str, index: u32) -> String {
    let r = server
        .admin()
        .post(
            "/api/v1/fleet/agents",
            &json!({"name": name, "index": index}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let agent: Value = r.json().expect("json");
    agent["id"].as_str().expect("id").to_owned()
}

/// The agents' statuses and the number of runs on the replica.
async fn fleet_state(server: &TestServer) -> Vec<String> {
    let list: Value = server
        .admin()
        .get("/api/v1/fleet/agents")
        .await
        .json()
        .expect("json");
    list["agents"]
        .as_array()
        .expect("agents")
        .iter()
        .map(|a| a["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn start_fields<'a>(
    scenario: &'a str,
    base_url: &'a str,
    agents: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("scenario", scenario),
        ("base_url", base_url),
        ("agents", agents),
        ("duration", "2s"),
        ("run_id", "ui-run"),
    ]
}

#[tokio::test]
async fn readers_see_the_agents_without_the_form() {
    let server = carnival().await;
    register(&server, "agent-0", 0).await;
    let viewer = login(&server, "vera", Role::Viewer, None).await;
    let r = viewer.get(PAGE).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let html = r.text();
    assert!(html.contains("<h1>Agents"), "title");
    assert!(
        html.contains("href=\"/ui/events/carnival/agents\""),
        "the navigation links the page"
    );
    let row = &html[html.find("data-agent=").expect("agent row")..];
    let row = &row[..row.find("</tr>").expect("row end")];
    assert!(
        row.contains("agent-0") && row.contains("data-status=\"idle\"") && row.contains(">0<"),
        "{row}"
    );
    assert!(html.contains("id=\"no-fleet-runs\""));
    assert!(!html.contains("id=\"start-form\""), "no form for a viewer");
    assert!(html.contains("hx-trigger=\"every 2s\""), "live-ish");

    let admin = login(&server, "ada", Role::Admin, None).await;
    let html = admin.get(PAGE).await.text();
    assert!(html.contains("id=\"start-form\""), "the admin's form");
    assert!(
        html.contains("<option selected>mix-1.2x</option>"),
        "{html}"
    );
    assert!(html.contains("<option>capacity-search</option>"));
}

#[tokio::test]
async fn only_planners_start_runs_and_bad_input_starts_nothing() {
    let server = carnival().await;
    register(&server, "agent-0", 0).await;
    let fields = start_fields("mix-1.2x", "http://127.0.0.1:9", "1");

    // A viewer and a ci token (which the API refuses too): 403, nothing.
    for (name, role, scope) in [
        ("vera", Role::Viewer, None),
        ("pipeline", Role::Ci, Some("carnival")),
    ] {
        let ui = login(&server, name, role, scope).await;
        let r = ui.post_form(PAGE, &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{name}: {}", r.text());
    }
    // An admin without the CSRF token, or with another session's: refused.
    let admin = login(&server, "ada", Role::Admin, None).await;
    let other = login(&server, "bob", Role::Commander, None).await;
    let r = admin.post_form_exact(PAGE, &fields).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert!(r.text().contains("CSRF"), "{}", r.text());
    let mut stale = vec![("csrf", other.csrf.as_str())];
    stale.extend_from_slice(&fields);
    let r = admin.post_form_exact(PAGE, &stale).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    assert_eq!(fleet_state(&server).await, ["idle"], "nothing started");

    // Bad input: the reason on the page, the form as typed, nothing started.
    for (fields, status, says) in [
        (
            start_fields("mix-1.2x", "http://127.0.0.1:9", "2"),
            StatusCode::CONFLICT,
            "1 live idle agents, the run asks for 2",
        ),
        (
            start_fields("nope", "http://127.0.0.1:9", "1"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "no scenario `nope` in plan v1; its scenarios are: mix-1.2x, capacity-search",
        ),
        (
            start_fields("mix-1.2x", "ftp://127.0.0.1:9", "1"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "base URL `ftp://127.0.0.1:9` is not http://",
        ),
        (
            start_fields("mix-1.2x", "http://127.0.0.1:9", "none"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "agents: a whole number of agents",
        ),
        (
            start_fields("mix-1.2x", "http://127.0.0.1:9", "0"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "a run takes 1 to 1000 agents",
        ),
    ] {
        let r = admin.post_form(PAGE, &fields).await;
        assert_eq!(r.status, status, "{says}: {}", r.text());
        let html = r.text();
        let error = &html[html.find("id=\"start-error\"").expect("error shown")..];
        let error = &error[..error.find("</p>").expect("end")];
        let error = error.replace("&#96;", "`").replace("&#x60;", "`");
        assert!(error.contains(says), "{says}: {error}");
        assert!(html.contains("id=\"start-form\""), "the form again");
        assert!(html.contains("value=\"ui-run\""), "as typed");
    }
    assert_eq!(fleet_state(&server).await, ["idle"], "nothing started");
    let html = admin.get(PAGE).await.text();
    assert!(html.contains("id=\"no-fleet-runs\""));
}

#[tokio::test]
async fn a_run_started_from_the_page_is_aborted_there_and_its_result_kept() {
    let server = carnival().await;
    let agent = register(&server, "agent-0", 0).await;
    let commander = login(&server, "lin", Role::Commander, None).await;
    let r = commander
        .post_form(PAGE, &start_fields("mix-1.2x", "http://127.0.0.1:9", "1"))
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(r.headers[header::LOCATION], format!("{PAGE}?started=f-1"));
    assert_eq!(fleet_state(&server).await, ["busy"]);

    // The agent takes its share: the plan's scenario, as the form set it.
    let admin = server.admin();
    let work: Value = admin
        .get(&format!("/api/v1/fleet/agents/{agent}/work?wait=1"))
        .await
        .json()
        .expect("json");
    assert_eq!(work["run"], "f-1");
    assert_eq!(
        (work["index"].as_u64(), work["count"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(work["scenario"]["name"], "mix-1.2x");
    assert_eq!(work["scenario"]["base_url"], "http://127.0.0.1:9");
    assert_eq!(work["scenario"]["tag"]["run_id"], "ui-run");

    // Everybody sees it run; the commander has its Abort button.
    let viewer = login(&server, "vera", Role::Viewer, None).await;
    let html = viewer.get(&format!("{PAGE}?started=f-1")).await.text();
    assert!(html.contains("Run f-1 started"), "notice");
    assert!(
        html.contains("data-run=\"f-1\" data-status=\"running\""),
        "{html}"
    );
    assert!(html.contains("data-part=\"agent-0\""));
    assert!(!html.contains("id=\"abort-f-1\""), "no button for a viewer");
    let r = viewer
        .post_form(&format!("{PAGE}/runs/f-1/abort"), &[("reason", "no")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let r = commander
        .post_form_exact(&format!("{PAGE}/runs/f-1/abort"), &[("reason", "no csrf")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text());
    let control: Value = admin
        .get("/api/v1/fleet/runs/f-1/control?wait=0")
        .await
        .json()
        .expect("json");
    assert_eq!(
        control["stop"],
        Value::Null,
        "not stopped by the refused posts"
    );
    assert!(
        commander
            .get(PAGE)
            .await
            .text()
            .contains("id=\"abort-f-1\""),
        "the commander's button"
    );

    // Abort: the agent's control long poll answers at once.
    let poll = {
        let admin = server.admin();
        tokio::spawn(async move {
            let began = Instant::now();
            let c: Value = admin
                .get("/api/v1/fleet/runs/f-1/control?wait=10")
                .await
                .json()
                .expect("json");
            (c, began.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = commander
        .post_form(
            &format!("{PAGE}/runs/f-1/abort"),
            &[("reason", "the payment team asked")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let (control, waited) = poll.await.expect("poll");
    let stop = control["stop"].as_str().expect("stopped");
    assert!(
        stop.contains("aborted by lin") && stop.contains("the payment team asked"),
        "{stop}"
    );
    assert!(
        waited < Duration::from_secs(2),
        "answered at once: {waited:?}"
    );

    // The agent stops without a word: silent, the run ends `partial`,
    // and the control plane keeps its merged result for the event.
    server.clock.advance(10_000);
    let deadline = Instant::now() + Duration::from_secs(10);
    let runs = loop {
        let runs: Value = admin
            .get("/api/v1/events/carnival/runs")
            .await
            .json()
            .expect("json");
        if runs["runs"].as_array().is_some_and(|r| !r.is_empty()) {
            break runs;
        }
        assert!(Instant::now() < deadline, "the result was never kept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let info = &runs["runs"][0];
    assert_eq!(info["scenario"], "mix-1.2x");
    assert_eq!(info["uploaded_by"], "lin");
    assert_eq!(info["plan_version"], 1);
    let id = info["id"].as_i64().expect("id");
    let stored: Value = admin
        .get(&format!("/api/v1/events/carnival/runs/{id}"))
        .await
        .json()
        .expect("json");
    let doc: Value = serde_json::from_str(stored["json"].as_str().expect("doc")).expect("run");
    assert_eq!(doc["schema"], "seawall.run/v1");
    assert_eq!(doc["plan"], "plan v1");
    assert_eq!(doc["fleet"]["status"], "partial", "{doc}");
    assert_eq!(doc["outcome"], "aborted", "{doc}");

    // Listed on the Rehearsals page; the Agents page links it.
    let html = viewer.get("/ui/events/carnival/rehearsals").await.text();
    assert!(html.contains(&format!("data-run=\"{id}\"")), "{html}");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let html = viewer.get(PAGE).await.text();
        if html.contains(&format!("data-kept=\"{id}\"")) {
            assert!(
                html.contains("data-run=\"f-1\" data-status=\"partial\""),
                "{html}"
            );
            assert!(html.contains(&format!("/ui/events/carnival/rehearsals/{id}")));
            break;
        }
        assert!(Instant::now() < deadline, "{html}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        fleet_state(&server).await,
        ["idle"],
        "free for the next run"
    );
}
