//! The war-room pages Overview, Targets & water levels, Link graph and Plan
//! over real HTTP against a real server: snapshots of the water-level table
//! and the link graph on the carnival plan, the numbers the pages show
//! against the API's answers, sorting and filtering, measured capacity from
//! an uploaded run, and plan upload (valid, invalid, roles, CSRF).

use crate::common;

use bytes::Bytes;
use common::{CARNIVAL, TestServer, UiSession, event_with_plan, upload_run};
use http::{Method, StatusCode, header};
use seawall_server::client::Response;
use seawall_store::Role;
use serde_json::{Value, json};

/// A server with event `carnival` holding the carnival plan, and the
/// admin's UI session.
async fn carnival() -> (TestServer, UiSession) {
    let server = TestServer::start().await;
    common::event_with(&server, "carnival", "930 Carnival", CARNIVAL).await;
    let ui = server.ui_login(&server.admin).await;
    (server, ui)
}

/// GET a page that must answer 200; its HTML.
async fn page(ui: &UiSession, path: &str) -> String {
    let r = ui.get(path).await;
    assert_eq!(r.status, StatusCode::OK, "GET {path}: {}", r.text());
    r.text()
}

/// The element starting at `start` up to and including the first `end`
/// after it.
fn cut<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let a = html
        .find(start)
        .unwrap_or_else(|| panic!("no {start} in {html}"));
    let b = html[a..].find(end).expect("element end") + a + end.len();
    &html[a..b]
}

/// The value of attribute `attr` in every tag that has it, in page order.
fn attr_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .filter_map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest.find('"').map(|j| rest[..j].to_owned())
        })
        .collect()
}

/// The `<tr>` of row `data-<kind>="<id>"`.
fn row<'a>(html: &'a str, kind: &str, id: &str) -> &'a str {
    cut(html, &format!("data-{kind}=\"{id}\""), "</tr>")
}

fn capacity_attr(row: &str) -> String {
    attr_values(row, "data-capacity")
        .into_iter()
        .next()
        .expect("data-capacity")
}

async fn api_json(server: &TestServer, path: &str) -> Value {
    let r = server.admin().get(path).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    r.json().expect("json")
}

async fn versions(server: &TestServer, slug: &str) -> usize {
    let v = api_json(server, &format!("/api/v1/events/{slug}/plans")).await;
    v["versions"].as_array().expect("versions").len()
}

/// POST a multipart upload form.
async fn post_multipart(
    ui: &UiSession,
    path: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, &[u8])>,
) -> Response {
    let boundary = "----seawall-test-boundary-7d1f";
    let mut body: Vec<u8> = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some((name, data)) = file {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/yaml\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    ui.client
        .send_raw(
            Method::POST,
            path,
            &[
                (header::COOKIE, ui.cookie.clone()),
                (
                    header::CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                ),
            ],
            Bytes::from(body),
        )
        .await
        .expect("POST multipart")
}

#[tokio::test]
async fn water_level_table_snapshot() {
    let (_server, ui) = carnival().await;
    let html = page(&ui, "/ui/events/carnival/targets").await;
    let table = cut(
        &html,
        "<table class=\"data water-levels\" id=\"water-levels\"",
        "</table>",
    );
    insta::assert_snapshot!("carnival_water_levels", table);
}

#[tokio::test]
async fn link_graph_snapshot() {
    let (_server, ui) = carnival().await;
    let html = page(&ui, "/ui/events/carnival/links").await;
    let svg = cut(&html, "<svg id=\"link-graph\"", "</svg>");
    insta::assert_snapshot!("carnival_link_graph", svg);
}

#[tokio::test]
async fn targets_show_the_api_numbers_with_status_and_bottleneck() {
    let (server, ui) = carnival().await;
    let html = page(&ui, "/ui/events/carnival/targets").await;
    let api = api_json(&server, "/api/v1/events/carnival/plan/capacity").await;
    // Every entry and service row carries the API's capacity and status.
    for (kind, list) in [("entry", "entries"), ("service", "services")] {
        let rows = api[list].as_array().expect("rows");
        assert!(!rows.is_empty());
        for r in rows {
            let id = r["id"].as_str().expect("id");
            let tr = row(&html, kind, id);
            let cap = r["capacity_qps"]
                .as_f64()
                .map(|c| c.to_string())
                .unwrap_or_default();
            assert_eq!(capacity_attr(tr), cap, "{kind} {id}");
            let status = r["status"].as_str().expect("status");
            assert!(tr.contains(&format!("data-status=\"{status}\"")), "{tr}");
        }
    }
    // The carnival's hand-computed figures (plan comments).
    let home = row(&html, "entry", "home");
    assert!(
        home.contains("5,750 <span class=\"unit\">qps</span>"),
        "{home}"
    );
    assert!(home.contains("57.5 %"), "{home}");
    assert!(home.contains(">declared<"), "{home}");
    let ride = row(&html, "service", "ride-svc");
    assert!(
        ride.contains("93.8 %") && ride.contains("class=\"critical\""),
        "{ride}"
    );
    assert!(
        ride.contains("class=\"fill-critical\""),
        "gauge coloured: {ride}"
    );
    let call_car = row(&html, "entry", "call-car");
    assert!(
        call_car.contains("href=\"#service-ride-svc\""),
        "bottleneck: {call_car}"
    );
    // Sorting by water level, descending: the API's levels in order.
    let html = page(&ui, "/ui/events/carnival/targets?sort=water_level&dir=desc").await;
    let table = cut(&html, "id=\"water-levels\"", "</table>");
    let ids = attr_values(table, "data-entry");
    let level = |id: &str| {
        api["entries"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["id"] == id))
            .and_then(|r| r["water_level"].as_f64())
            .unwrap_or(-1.0)
    };
    assert_eq!(ids.len(), api["entries"].as_array().map_or(0, Vec::len));
    for w in ids.windows(2) {
        assert!(level(&w[0]) >= level(&w[1]), "{ids:?}");
    }
    assert!(table.contains("aria-sort=\"descending\""), "{table}");
    assert!(
        table.contains("sort=water_level&#38;dir=asc"),
        "the header toggles"
    );
    // Ascending is the reverse order (no ties in the carnival's levels).
    let html = page(&ui, "/ui/events/carnival/targets?sort=water_level&dir=asc").await;
    let mut asc = attr_values(cut(&html, "id=\"water-levels\"", "</table>"), "data-entry");
    asc.reverse();
    assert_eq!(asc, ids);
}

#[tokio::test]
async fn the_line_filter_keeps_that_lines_rows() {
    let (_server, ui) = carnival().await;
    let html = page(&ui, "/ui/events/carnival/targets?line=ride").await;
    let entries = attr_values(cut(&html, "id=\"water-levels\"", "</table>"), "data-entry");
    assert_eq!(entries, ["call-car"]);
    let services = attr_values(
        cut(&html, "id=\"service-levels\"", "</table>"),
        "data-service",
    );
    assert!(services.contains(&"ride-svc".to_owned()), "{services:?}");
    assert!(!services.contains(&"home-bff".to_owned()), "{services:?}");
    assert!(
        html.contains("<option value=\"ride\" selected>"),
        "select keeps the line"
    );
    // The filter survives sorting links.
    assert!(html.contains("&#38;line=ride"));
    let all = page(&ui, "/ui/events/carnival/targets").await;
    assert!(attr_values(&all, "data-entry").len() > entries.len());
}

#[tokio::test]
async fn bad_target_queries_get_a_clear_400_page() {
    let (_server, ui) = carnival().await;
    for (q, needle) in [
        ("sort=nope", "cannot sort by `nope`"),
        ("dir=up", "neither asc nor desc"),
        ("line=trains", "no business line `trains`"),
    ] {
        let r = ui.get(&format!("/ui/events/carnival/targets?{q}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(r.text().contains(needle), "{q}: {}", r.text());
    }
    let r = ui.get("/ui/events/nope/targets").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn measured_capacity_from_an_uploaded_run_replaces_the_declared() {
    let server = TestServer::start().await;
    event_with_plan(&server, "t").await;
    let ui = server.ui_login(&server.admin).await;
    let before = page(&ui, "/ui/events/t/targets").await;
    // 2 instances × 10 declared.
    assert_eq!(capacity_attr(row(&before, "entry", "create-order")), "20");
    assert!(before.contains("declared capacity only"));
    upload_run(&server, "t").await;
    let after = page(&ui, "/ui/events/t/targets").await;
    let api = api_json(&server, "/api/v1/events/t/plan/capacity").await;
    let measured = api["entries"][0]["capacity_qps"]
        .as_f64()
        .expect("capacity");
    assert_eq!(
        capacity_attr(row(&after, "entry", "create-order")),
        measured.to_string()
    );
    assert_eq!(measured, 8.0, "the run's knee");
    let tr = row(&after, "entry", "create-order");
    assert!(tr.contains(">runs 1<"), "{tr}");
    assert!(after.contains("measured capacity from <strong id=\"measured-source\">runs 1"));
}

#[tokio::test]
async fn overview_shows_phase_readiness_freeze_and_oncall() {
    let (server, ui) = carnival().await;
    let html = page(&ui, "/ui/events/carnival").await;
    // T0 is 10:00 Beijing time on peak day: peak (inside the freeze) for 4 h.
    assert!(
        html.contains("id=\"current-phase\">peak · freeze<"),
        "{html}"
    );
    assert!(
        html.contains("4h 00m</span> until <strong>peak ends</strong>"),
        "{html}"
    );
    // Readiness per line, as the API's scorecard says.
    let card = api_json(&server, "/api/v1/events/carnival/plan/readiness").await;
    for l in card["lines"].as_array().expect("lines") {
        let id = l["line"].as_str().expect("line");
        let go = l["go"].as_bool().expect("go");
        let section = cut(&html, &format!("data-line=\"{id}\" data-go="), "</section>");
        assert!(section.contains(&format!("data-go=\"{go}\"")), "{section}");
        let errors = l["findings"]["error"].as_u64().expect("errors");
        assert!(section.contains(&format!(">{errors} error")), "{section}");
    }
    let ride = cut(&html, "data-line=\"ride\" data-go=", "</section>");
    assert!(
        ride.contains("href=\"/ui/events/carnival/targets?line=ride\""),
        "a line card links to its rows: {ride}"
    );
    assert!(
        ride.contains("NO-GO") && ride.contains("ride-svc"),
        "{ride}"
    );
    assert!(html.contains("id=\"verdict\">NO-GO<"));
    // Frozen now: the carnival window, not the payments one (ended).
    let frozen = cut(&html, "id=\"frozen-now\"", "</section>");
    assert!(frozen.contains("data-window=\"carnival\""), "{frozen}");
    assert!(!frozen.contains("payments-config"), "{frozen}");
    assert!(frozen.contains("2026-10-02 00:00 CST"), "{frozen}");
    // On call now: each line's own people on peak day.
    let oncall = cut(&html, "id=\"oncall-now\"", "</section>");
    for (line, who) in [
        ("bike", "Chen Jie"),
        ("ride", "Liu Yang"),
        ("payments", "Sun Li"),
    ] {
        let tr = cut(oncall, &format!("data-line=\"{line}\""), "</tr>");
        assert!(tr.contains(who), "{tr}");
    }
    // The war-room screen refreshes itself (htmx polls the same page and
    // swaps the live part).
    let live = cut(&html, "<div id=\"overview-live\"", ">");
    assert!(live.contains("hx-get=\"/ui/events/carnival\""), "{live}");
    assert!(live.contains("hx-trigger=\"every 30s\""), "{live}");
    // Every card links to its page.
    for p in ["targets", "links", "change", "oncall", "plan"] {
        assert!(
            html.contains(&format!("href=\"/ui/events/carnival/{p}")),
            "{p}"
        );
    }
    // An hour before the freeze ends, only the freeze is left.
    server.clock.set(T_END_MINUS_HOUR);
    // Days later the session has ended (idle expiry): log in again.
    let ui = server.ui_login(&server.admin).await;
    let later = page(&ui, "/ui/events/carnival").await;
    assert!(later.contains("id=\"current-phase\">freeze<"), "{later}");
    assert!(later.contains("1h 00m</span> until <strong>freeze ends</strong>"));
}

/// 2026-10-01T23:00 Beijing time (15:00 UTC).
const T_END_MINUS_HOUR: i64 = 1_790_866_800_000;

#[tokio::test]
async fn pages_of_an_event_without_a_plan_say_how_to_push_one() {
    let server = TestServer::start().await;
    let r = server
        .admin()
        .post("/api/v1/events", &json!({"slug": "empty", "name": "Empty"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let viewer = server.token("vera", Role::Viewer, None).await;
    let ui = server.ui_login(&viewer).await;
    for p in ["", "/targets", "/links", "/plan"] {
        let html = page(&ui, &format!("/ui/events/empty{p}")).await;
        assert!(html.contains("id=\"no-plan\""), "{p}: {html}");
        assert!(html.contains("seawall push PLAN.yaml --event empty"), "{p}");
        assert!(
            !html.contains("id=\"upload-form\""),
            "viewer sees no upload"
        );
    }
}

#[tokio::test]
async fn findings_link_to_their_plan_line() {
    let (server, ui) = carnival().await;
    let html = page(&ui, "/ui/events/carnival/links").await;
    let api = api_json(&server, "/api/v1/events/carnival/plan/links").await;
    let findings = api["findings"].as_array().expect("findings");
    assert_eq!(attr_values(&html, "data-rule").len(), findings.len());
    let l003 = findings
        .iter()
        .find(|f| f["rule"] == "L003")
        .expect("the carnival has an L003");
    let line = l003["location"]["line"].as_u64().expect("line");
    let col = l003["location"]["column"].as_u64().expect("column");
    assert!(html.contains(&format!(
        "<a href=\"/ui/events/carnival/plan#L{line}\" class=\"plan-loc\">plan.yaml:{line}:{col}</a>"
    )));
    // The graph marks ride-svc (L003 is on its edge) and map-svc's weak edge is dashed.
    let svg = cut(&html, "<svg id=\"link-graph\"", "</svg>");
    let ride = cut(
        svg,
        "<a href=\"/ui/events/carnival/targets#service-ride-svc\" id=\"node-service-ride-svc\"",
        "</a>",
    );
    assert!(ride.contains("finding-ring ring-error"), "{ride}");
    let weak = cut(svg, "data-from=\"home-bff\" data-to=\"map-svc\"", "/>");
    assert!(weak.contains("stroke-dasharray"), "{weak}");
    // …and the plan page has that line.
    let plan = page(&ui, "/ui/events/carnival/plan").await;
    let tr = cut(&plan, &format!("<tr id=\"L{line}\">"), "</tr>");
    let text_line = CARNIVAL.lines().nth(line as usize - 1).expect("line");
    let first_word = text_line.trim().split(' ').next().expect("word");
    assert!(tr.contains(first_word), "{tr} vs {text_line}");
}

#[tokio::test]
async fn the_plan_page_shows_the_version_its_text_and_history() {
    let (server, ui) = carnival().await;
    let html = page(&ui, "/ui/events/carnival/plan").await;
    let v = api_json(&server, "/api/v1/events/carnival/plan").await;
    assert!(html.contains(v["sha256"].as_str().expect("sha")));
    assert!(html.contains("data-version=\"1\""));
    let lines = CARNIVAL.lines().count();
    assert!(html.contains(&format!("<tr id=\"L{lines}\">")));
    assert!(!html.contains(&format!("<tr id=\"L{}\">", lines + 1)));
    assert!(html.contains("id=\"upload-form\""), "admins may upload");
    assert!(html.contains("enctype=\"multipart/form-data\""));
}

#[tokio::test]
async fn a_valid_upload_stores_a_new_version_and_shows_it() {
    let (server, ui) = carnival().await;
    let changed = CARNIVAL.replace("instances: 40", "instances: 48");
    assert_ne!(changed, CARNIVAL);
    // The textarea alternative (url-encoded).
    let r = ui
        .post_form(
            "/ui/events/carnival/plan",
            &[("text", changed.as_str()), ("file_name", "carnival.yaml")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    assert_eq!(
        r.headers[header::LOCATION],
        "/ui/events/carnival/plan?pushed=2"
    );
    let html = page(&ui, "/ui/events/carnival/plan?pushed=2").await;
    assert!(html.contains("Plan version 2 stored."));
    assert!(html.contains("data-version=\"2\""));
    assert!(html.contains("instances: 48"));
    assert_eq!(versions(&server, "carnival").await, 2);
    // The file input (multipart) wins over the textarea.
    let third = changed.replace("instances: 48", "instances: 50");
    let r = post_multipart(
        &ui,
        "/ui/events/carnival/plan",
        &[
            ("csrf", ui.csrf.as_str()),
            ("text", "ignored"),
            ("file_name", ""),
        ],
        Some(("dir/third.yaml", third.as_bytes())),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let v = api_json(&server, "/api/v1/events/carnival/plan").await;
    assert_eq!(v["version"], 3);
    assert_eq!(v["file_name"], "third.yaml");
    assert_eq!(v["text"].as_str(), Some(third.as_str()));
    // The diff between 1 and 2 shows the one changed line.
    let diff = page(&ui, "/ui/events/carnival/plan/diff?from=1&to=2").await;
    assert!(diff.contains("id=\"diff-added\">+1<"), "{diff}");
    assert!(diff.contains("id=\"diff-removed\">−1<"), "{diff}");
    assert!(diff.contains("<tr class=\"del\">") && diff.contains("-    instances: 40"));
    assert!(diff.contains("+    instances: 48"));
    let same = page(&ui, "/ui/events/carnival/plan/diff?from=2&to=2").await;
    assert!(same.contains("id=\"no-changes\""));
    // An old version is still readable, marked old.
    let old = page(&ui, "/ui/events/carnival/plan/versions/1").await;
    assert!(old.contains("instances: 40") && old.contains(">old<"));
}

#[tokio::test]
async fn an_invalid_upload_shows_its_diagnostics_and_stores_nothing() {
    let (server, ui) = carnival().await;
    let broken = CARNIVAL.replacen("    instances: 40", "    instances: many", 1);
    let line = broken
        .lines()
        .position(|l| l.contains("instances: many"))
        .expect("line")
        + 1;
    let r = post_multipart(
        &ui,
        "/ui/events/carnival/plan",
        &[("csrf", ui.csrf.as_str())],
        Some(("carnival.yaml", broken.as_bytes())),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text();
    let diags = cut(&html, "id=\"diagnostics\"", "</ul>");
    assert!(diags.contains(&format!("carnival.yaml:{line}:")), "{diags}");
    assert!(
        diags.contains("instances: many"),
        "the offending line: {diags}"
    );
    assert!(diags.contains("data-code=\"E"), "{diags}");
    assert!(html.contains("id=\"upload-error\""));
    assert!(html.contains("is not a valid plan"));
    // The text comes back for fixing; nothing is stored.
    assert!(cut(&html, "<textarea", "</textarea>").contains("instances: many"));
    assert_eq!(versions(&server, "carnival").await, 1);
    // Empty and non-UTF-8 uploads are refused the same way.
    let r = ui
        .post_form("/ui/events/carnival/plan", &[("text", "  ")])
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("nothing to upload"));
    let r = post_multipart(
        &ui,
        "/ui/events/carnival/plan",
        &[("csrf", ui.csrf.as_str())],
        Some(("p.yaml", &[0xff, 0xfe, 0x00, 0x41])),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().contains("not UTF-8"));
    assert_eq!(versions(&server, "carnival").await, 1);
}

#[tokio::test]
async fn viewers_see_no_upload_form_and_their_post_is_refused() {
    let (server, _) = carnival().await;
    let viewer = server.token("vera", Role::Viewer, None).await;
    let ui = server.ui_login(&viewer).await;
    let html = page(&ui, "/ui/events/carnival/plan").await;
    assert!(!html.contains("id=\"upload-form\""));
    assert!(!html.contains("Upload a new version"));
    let r = ui
        .post_form("/ui/events/carnival/plan", &[("text", CARNIVAL)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let pm = server.token("pat", Role::Pm, Some("bike")).await;
    let r = server
        .ui_login(&pm)
        .await
        .post_form("/ui/events/carnival/plan", &[("text", CARNIVAL)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(versions(&server, "carnival").await, 1);
}

#[tokio::test]
async fn an_upload_without_the_csrf_token_is_refused() {
    let (server, ui) = carnival().await;
    let r = ui
        .post_form_exact("/ui/events/carnival/plan", &[("text", CARNIVAL)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.text().contains("CSRF"));
    let r = ui
        .post_form_exact(
            "/ui/events/carnival/plan",
            &[("csrf", "0000"), ("text", CARNIVAL)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = post_multipart(&ui, "/ui/events/carnival/plan", &[("text", CARNIVAL)], None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(versions(&server, "carnival").await, 1);
}

#[tokio::test]
async fn unknown_versions_and_bad_diff_params_get_4xx_pages() {
    let (_server, ui) = carnival().await;
    for (path, status, needle) in [
        (
            "/ui/events/carnival/plan/versions/9",
            404,
            "no plan version 9",
        ),
        (
            "/ui/events/carnival/plan/versions/x",
            400,
            "`x` is not a plan version",
        ),
        (
            "/ui/events/carnival/plan/versions/0",
            400,
            "not a plan version",
        ),
        ("/ui/events/carnival/plan/diff", 400, "needs two versions"),
        (
            "/ui/events/carnival/plan/diff?from=1",
            400,
            "needs two versions",
        ),
        ("/ui/events/carnival/plan/diff?from=a&to=1", 400, "from `a`"),
        (
            "/ui/events/carnival/plan/diff?from=1&to=7",
            404,
            "no plan version 7",
        ),
        ("/ui/events/carnival/plan?pushed=x", 400, "bad query"),
        ("/ui/events/nope/plan", 404, "nope"),
    ] {
        let r = ui.get(path).await;
        assert_eq!(r.status.as_u16(), status, "{path}: {}", r.text());
        assert!(r.text().contains(needle), "{path}: {}", r.text());
        assert!(
            r.text().contains("id=\"error-message\""),
            "an HTML error page"
        );
    }
}

/// A layered plan: `layers` × `width` services, each calling two services
/// of the next layer (one strong, one weak), and one entry per first-layer
/// service.
fn big_plan(layers: usize, width: usize) -> String {
    let mut y = String::from("event: {name: Big, timezone: UTC}\nentries:\n");
    for i in 0..width {
        y.push_str(&format!("  e{i}: {{service: s0-{i}, path: /e{i}}}\n"));
    }
    y.push_str("services:\n");
    for l in 0..layers {
        for i in 0..width {
            y.push_str(&format!(
                "  s{l}-{i}: {{instances: 2, capacity_per_instance: 100, timeout_ms: 1000"
            ));
            if l + 1 < layers {
                let (a, b) = ((i * 7) % width, (i * 13 + 5) % width);
                y.push_str(&format!(
                    ", dependencies: [{{to: s{n}-{a}, timeout_ms: 100}}, {{to: s{n}-{b}, strength: weak, timeout_ms: 100, fallback: skip}}]",
                    n = l + 1
                ));
            }
            y.push_str("}\n");
        }
    }
    y
}

#[tokio::test]
async fn a_plan_with_hundreds_of_services_renders_with_bounded_height() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let r = admin
        .post("/api/v1/events", &json!({"slug": "big", "name": "Big"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let (layers, width) = (6, 60);
    let r = admin
        .post(
            "/api/v1/events/big/plans",
            &json!({"file_name": "big.yaml", "text": big_plan(layers, width)}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let ui = server.ui_login(&server.admin).await;
    let html = page(&ui, "/ui/events/big/links").await;
    let svg = cut(&html, "<svg id=\"link-graph\"", "</svg>");
    let nodes = width + layers * width;
    assert!(svg.contains(&format!("{nodes} nodes")), "{}", &svg[..300]);
    assert_eq!(svg.matches("<a href=").count(), nodes, "every node links");
    let size = |attr: &str| -> usize {
        attr_values(&svg[..300], attr)
            .first()
            .and_then(|v| v.parse().ok())
            .expect("size")
    };
    // 60 per layer wrap into two columns of 30: the height stays bounded,
    // the width grows and the page scrolls it instead of shrinking it.
    assert!(size("height") <= 30 * 44 + 32, "height {}", size("height"));
    assert!(
        size("width") > 2 * (layers + 1) * 170,
        "width {}",
        size("width")
    );
    assert!(svg.starts_with("<svg id=\"link-graph\" class=\"link-graph\" "));
    let targets = page(&ui, "/ui/events/big/targets").await;
    assert_eq!(attr_values(&targets, "data-service").len(), layers * width);
}
