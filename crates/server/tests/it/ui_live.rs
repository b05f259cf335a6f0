//! The Live page, the live fragment the overview and targets pages poll,
//! and war-room mode, over real HTTP against a real server whose monitor
//! scrapes a real `/metrics` page on 127.0.0.1 (a counter that grows by
//! 600 requests a scrape), ticks driven by hand at the `ManualClock`'s
//! times.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{TestServer, UiSession};
use http::StatusCode;
use seawall_server::AppState;
use seawall_server::service::monitoring::{self, MonitorOptions};
use seawall_server::ui::CSP;
use seawall_store::Role;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn by_hand(state: AppState) -> AppState {
    state.with_monitoring(MonitorOptions {
        scrape_interval: Duration::from_secs(1),
        ..MonitorOptions::default()
    })
}

/// A `/metrics` page of a sidecar serving create-order: its request
/// counter grows by 600 at every scrape. Returns its `host:port`.
pub(crate) async fn metrics_page() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let hits = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
            tokio::spawn(async move {
                let mut buf = vec![0_u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => seen.extend_from_slice(&buf[..k]),
                    }
                }
                let body = format!(
                    "# TYPE seawall_sidecar_requests_total counter\n\
                     seawall_sidecar_requests_total{{resource=\"create-order\",result=\"ok\"}} {}\n",
                    n * 600
                );
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(body.as_bytes()).await;
            });
        }
    });
    addr.to_string()
}

/// A server holding event `live` whose plan scrapes [`metrics_page`],
/// ticked three times ten seconds apart (two history points of the
/// 10-second tier: the first tick has no rate yet), and a viewer's UI
/// session.
async fn live_server() -> (TestServer, UiSession) {
    live_server_in("UTC").await
}

/// [`live_server`] with the event in time zone `tz`.
pub(crate) async fn live_server_in(tz: &str) -> (TestServer, UiSession) {
    let server = TestServer::start_tweaked(by_hand).await;
    let target = metrics_page().await;
    let plan = format!("{}monitoring:\n  scrape: [\"{target}\"]\n", common::PLAN)
        .replace("timezone: UTC", &format!("timezone: {tz}"));
    common::event_with(&server, "live", "Live", &plan).await;
    for _ in 0..3 {
        server.clock.advance(10_000);
        monitoring::tick(&server.state, server.clock.now())
            .await
            .expect("tick");
    }
    let token = server.token("ming", Role::Viewer, None).await;
    let ui = server.ui_login(&token).await;
    (server, ui)
}

async fn page(ui: &UiSession, path: &str) -> String {
    let r = ui.get(path).await;
    assert_eq!(r.status, StatusCode::OK, "GET {path}: {}", r.text());
    assert_eq!(
        r.headers
            .get(http::header::CONTENT_SECURITY_POLICY)
            .and_then(|v| v.to_str().ok()),
        Some(CSP),
        "GET {path} keeps the strict CSP"
    );
    r.text()
}

/// The HTML from the element holding `marker` to the end of its `</tag>`.
fn part<'a>(html: &'a str, marker: &str, tag: &str) -> &'a str {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {html}"));
    let end = html[start..]
        .find(&format!("</{tag}>"))
        .map_or(html.len(), |e| start + e);
    &html[start..end]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_shows_live_values_sparklines_and_alerts() {
    let (server, ui) = live_server().await;
    let html = page(&ui, "/ui/events/live/live").await;
    // In the navigation, after the targets page.
    assert!(
        html.contains(r#"<a href="/ui/events/live/live" aria-current="page">Live</a>"#),
        "{html}"
    );
    let entry = part(&html, r#"id="live-entry-create-order""#, "tr");
    assert!(entry.contains(r#"data-source="ok""#), "{entry}");
    // 600 requests between scrapes a few milliseconds apart: far over a
    // capacity of 20 qps, critical.
    assert!(entry.contains(r#"data-status="critical""#), "{entry}");
    assert!(entry.contains(r#"<svg class="sparkline""#), "{entry}");
    assert!(entry.contains(r#"class="ref-capacity""#), "{entry}");
    assert!(
        entry.contains("<polyline"),
        "three ticks draw a line: {entry}"
    );
    let qps = part(entry, r#"class="num qps">"#, "td");
    assert!(qps.chars().any(|c| c.is_ascii_digit()), "{qps}");
    // The water-level alert is on the list with its state, and its
    // transition in the history.
    let alerts = part(&html, r#"id="alert-list""#, "table");
    assert!(
        alerts.contains(r#"data-alert="entry:create-order:water-critical""#),
        "{alerts}"
    );
    let history = part(&html, r#"id="alert-history""#, "ol");
    assert!(
        history.contains(r#"data-rule="entry:create-order:water-critical""#),
        "{history}"
    );
    assert!(html.contains(r#"id="live-services""#));
    // The board polls itself at the tick.
    assert!(html.contains(r#"hx-trigger="every 1s""#), "{html}");
    assert!(!html.contains("<script>") && !html.contains("style=\""));
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_and_fragment_tell_times_in_the_event_s_time_zone() {
    let (server, ui) = live_server_in("Asia/Shanghai").await;
    let at = jiff::Timestamp::from_millisecond(server.clock.now()).expect("time");
    let local = at
        .to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Shanghai").expect("zone"))
        .strftime("%Y-%m-%d %H:%M:%S %Z")
        .to_string();
    let utc = at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    assert!(local.ends_with(" CST"), "{local}");
    for path in ["/ui/events/live/live", "/ui/events/live/live/now"] {
        let html = page(&ui, path).await;
        assert!(
            html.contains(&local),
            "{path} names the tick {local}: {html}"
        );
        assert!(!html.contains(&utc), "{path} shows no UTC time: {html}");
    }
    // The alert history's transitions too: the water-level alert went
    // pending at a tick eight hours ahead of UTC.
    let html = page(&ui, "/ui/events/live/live").await;
    let history = part(&html, r#"id="alert-history""#, "ol");
    assert!(history.contains(" CST"), "{history}");
    assert!(!history.contains(" UTC"), "{history}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_and_targets_poll_the_live_fragment_and_wall_mode_is_the_war_room() {
    let (server, ui) = live_server().await;
    for path in ["/ui/events/live", "/ui/events/live/targets"] {
        let html = page(&ui, path).await;
        let strip = part(&html, r#"id="live-now""#, "section");
        assert!(
            strip.contains(r#"hx-get="/ui/events/live/live/now""#)
                && strip.contains(r#"hx-trigger="load, every 1s""#),
            "{path}: {strip}"
        );
    }
    let fragment = page(&ui, "/ui/events/live/live/now").await;
    assert!(!fragment.contains("<html"), "a fragment: {fragment}");
    let row = part(&fragment, r#"data-live-entry="create-order""#, "tr");
    assert!(row.contains(r#"data-status="critical""#), "{row}");
    assert!(fragment.contains(r#"data-live-service="order-api""#));
    assert!(fragment.contains(r#"id="live-firing""#) || fragment.contains("Latest tick"));

    let wall = page(&ui, "/ui/events/live/live?wall=1").await;
    assert!(wall.contains(r#"class="theme-warroom""#), "war room");
    assert!(wall.contains(r#"class="live wall""#));
    assert!(wall.contains(r#"hx-get="/ui/events/live/live?wall=1""#));
    let r = ui.get("/ui/events/live/live?wall=yes").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_any_tick_the_live_page_says_so() {
    let server = TestServer::start_tweaked(by_hand).await;
    common::event_with_plan(&server, "quiet").await;
    let token = server.token("ming", Role::Viewer, None).await;
    let ui = server.ui_login(&token).await;
    let html = page(&ui, "/ui/events/quiet/live").await;
    assert!(html.contains("No tick yet"), "{html}");
    assert!(html.contains(r#"id="no-alerts""#));
    let fragment = page(&ui, "/ui/events/quiet/live/now").await;
    assert!(fragment.contains(r#"id="live-none""#), "{fragment}");
    let r = ui.get("/ui/events/nope/live").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
