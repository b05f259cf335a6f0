//! The war-room UI in real headless Chromium: log in through the form,
//! open every page of an event with the carnival plan, the role-aware
//! actions, the theme switch, a phone-sized window — and no request to
//! anywhere but the control plane, checked by a recording proxy.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`bash .ci/run` installs
//! them); without them every test fails saying how to install them.
//! Screenshots go to `target/ui-screenshots/` (their paths are printed).

use std::time::{Duration, Instant};

use seawall_api::ChangeKind;
use seawall_api::exceptions::RequestException;
use seawall_api::incidents::{AssignRole, OpenIncident, PostUpdate};
use seawall_e2e::{BROWSER_OWN_HOSTS, Browser, ControlPlane, MetricsPage, RecordingProxy, Size};
use seawall_store::Role;
use serde_json::{Value, json};
use tokio::sync::{Mutex, MutexGuard};

/// One browser at a time, even under `cargo test`'s parallel threads: a
/// 2-core machine runs one Chromium well and several badly.
static ONE_BROWSER: Mutex<()> = Mutex::const_new(());

/// The event every test uses.
const SLUG: &str = "carnival";

/// A control plane with the carnival event, the recording proxy, and a
/// browser (not logged in). Dropped browser first.
struct Scene {
    browser: Browser,
    proxy: RecordingProxy,
    server: ControlPlane,
    _turn: MutexGuard<'static, ()>,
}

/// [`scene`] with two rehearsal runs uploaded and an exception pending:
/// every page has something to show.
async fn rich_scene(size: Size) -> (Scene, i64, i64) {
    let s = scene(size).await;
    let first = upload_run(&s.server, run_doc(9_000.0)).await;
    let second = upload_run(&s.server, run_doc(9_500.0)).await;
    pending_exception(&s).await;
    (s, first, second)
}

async fn scene(size: Size) -> Scene {
    let turn = ONE_BROWSER.lock().await;
    let server = ControlPlane::start().await.expect("control plane");
    server.carnival(SLUG).await.expect("carnival event");
    let proxy = RecordingProxy::start().await.expect("recording proxy");
    let browser = Browser::start(&server.base, server.port, &proxy, size)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Scene {
        browser,
        proxy,
        server,
        _turn: turn,
    }
}

impl Scene {
    /// A token with `role`, logged in through the login form.
    async fn login(&self, name: &str, role: Role) -> String {
        let token = self.server.token(name, role, None).await.expect("token");
        let landed = self.browser.login(&token).await.expect("login");
        assert_eq!(landed, "/ui/", "the login form lands on the event list");
        token
    }

    /// A token with `role`, its session cookie given to the browser
    /// directly (for tests whose subject is not the login form); the
    /// browser is on the event list.
    async fn session(&self, name: &str, role: Role) -> String {
        let token = self.server.token(name, role, None).await.expect("token");
        let id = self.server.session(&token).await.expect("login");
        self.browser.set_session(&id).await.expect("session");
        self.browser.goto("/ui/").await.expect("event list");
        let who = self.browser.text("header.top .who").await.expect("who");
        assert!(who.contains(name), "logged in as {name}: {who}");
        token
    }

    /// Assert page scripts cannot read the session cookie (HttpOnly).
    async fn assert_cookie_hidden(&self) {
        let cookies = self
            .browser
            .js("return document.cookie;", vec![])
            .await
            .expect("js");
        assert!(
            !cookies.as_str().unwrap_or("").contains("seawall_session"),
            "{cookies}"
        );
    }

    /// Assert the page shown loaded nothing from elsewhere and logged no
    /// CSP violation or script error.
    async fn assert_clean(&self, what: &str) {
        let problems = self.browser.problems().await.expect("page problems");
        assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
    }

    /// Assert the recording proxy saw no request from a page (Chromium's
    /// own background calls are listed but allowed).
    fn assert_no_external_request(&self) {
        let own: Vec<String> = self
            .proxy
            .seen()
            .into_iter()
            .filter(|l| BROWSER_OWN_HOSTS.contains(&seawall_e2e::host_of(l)))
            .collect();
        if !own.is_empty() {
            eprintln!(
                "Chromium's own background requests (allowed):\n{}",
                own.join("\n")
            );
        }
        let seen = self.proxy.seen_from_pages();
        assert!(
            seen.is_empty(),
            "requests went past the control plane:\n{}",
            seen.join("\n")
        );
    }

    /// Open an event page, check its heading and that it is clean.
    async fn open(&self, page: &str, heading: &str) {
        let path = format!("/ui/events/{SLUG}{page}");
        self.browser.goto(&path).await.expect("goto");
        let h1 = self.browser.text("main h1").await.expect("h1");
        assert!(
            h1 == heading || h1.starts_with(&format!("{heading} · ")),
            "{path}: heading {h1:?}, not {heading:?}"
        );
        // The vendored htmx loaded (from this server, under the CSP).
        let htmx = self
            .browser
            .js("return typeof window.htmx;", vec![])
            .await
            .expect("js");
        assert_eq!(htmx, "object", "{path}: htmx did not load");
        self.assert_clean(&path).await;
    }

    /// `POST path` from inside the page (same origin, the session's cookie
    /// and CSRF token, as a script on the page could): status and text.
    async fn post_from_page(&self, path: &str, fields: &[(&str, &str)]) -> (u64, String) {
        let fields: Value = fields.iter().map(|(k, v)| json!([k, v])).collect();
        let v = self
            .browser
            .client()
            .execute_async(
                "const [path, fields, done] = arguments; \
                 const csrf = JSON.parse(document.body.getAttribute('hx-headers'))['x-csrf-token']; \
                 const body = new URLSearchParams([['csrf', csrf]].concat(fields)); \
                 fetch(path, {method: 'POST', body, credentials: 'same-origin', redirect: 'manual'}) \
                   .then(async r => done([r.status, await r.text()])) \
                   .catch(e => done([0, String(e)]));",
                vec![json!(path), fields],
            )
            .await
            .expect("fetch from the page");
        (
            v[0].as_u64().unwrap_or(0),
            v[1].as_str().unwrap_or("").to_owned(),
        )
    }

    async fn close(self) {
        let Scene {
            browser, server, ..
        } = self;
        browser.close().await.expect("close the browser");
        server.stop().await.expect("stop the server");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_the_ui_asks_to_log_in() {
    let s = scene(Size::DESKTOP).await;
    let b = &s.browser;
    for path in ["/ui/", &format!("/ui/events/{SLUG}/targets?line=bike")] {
        b.goto(path).await.expect("goto");
        let landed = b.path().await.expect("path");
        assert!(landed.starts_with("/ui/login?next="), "{path} → {landed}");
        assert!(b.exists("form input#token").await.expect("find"));
        s.assert_clean("login page").await;
    }
    b.screenshot("login")
        .await
        .map(|p| eprintln!("screenshot: {}", p.display()))
        .expect("screenshot");
    s.assert_no_external_request();
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_through_the_form_and_out_again() {
    let s = scene(Size::DESKTOP).await;
    let b = &s.browser;

    // A wrong token stays on the form with the server's reason.
    let err = b.login("sw_0000").await.expect_err("a bad token");
    assert!(err.to_string().contains("unknown token"), "{err}");

    s.login("vera", Role::Viewer).await;
    assert_eq!(b.text("main h1").await.expect("h1"), "Events");
    let who = b.text("header.top .who").await.expect("who");
    assert!(who.contains("vera") && who.contains("viewer"), "{who}");
    s.assert_clean("event list").await;

    s.assert_cookie_hidden().await;

    // Logging out ends the session.
    b.click_and_wait("form.logout button")
        .await
        .expect("logout");
    assert_eq!(b.path().await.expect("path"), "/ui/login?why=logout");
    b.goto("/ui/").await.expect("goto");
    assert!(b.path().await.expect("path").starts_with("/ui/login"));
    s.assert_no_external_request();
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_list_names_the_user_and_links_the_event() {
    let s = scene(Size::DESKTOP).await;
    let b = &s.browser;
    s.session("vera", Role::Viewer).await;
    assert_eq!(b.text("main h1").await.expect("h1"), "Events");
    let who = b.text("header.top .who").await.expect("who");
    assert!(who.contains("vera") && who.contains("viewer"), "{who}");
    let link = b
        .find(&format!("ul.event-list a[href='/ui/events/{SLUG}']"))
        .await
        .expect("the carnival event is listed");
    assert_eq!(link.text().await.expect("text"), "930 Holiday Carnival");
    b.screenshot("events")
        .await
        .map(|p| eprintln!("screenshot: {}", p.display()))
        .expect("screenshot");
    s.assert_clean("event list").await;
    s.assert_cookie_hidden().await;
    s.assert_no_external_request();
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_war_room_theme_switch_sticks() {
    let s = scene(Size::DESKTOP).await;
    let b = &s.browser;
    s.login("lin-wei", Role::Commander).await;
    let theme = || async {
        let v = b
            .js(
                "return [document.documentElement.className, \
                 getComputedStyle(document.body).backgroundColor, \
                 getComputedStyle(document.body).fontSize];",
                vec![],
            )
            .await
            .expect("js");
        (
            v[0].as_str().unwrap_or("").to_owned(),
            v[1].as_str().unwrap_or("").to_owned(),
            v[2].as_str().unwrap_or("").to_owned(),
        )
    };
    b.click_and_wait("form.theme-switch button[value=light]")
        .await
        .expect("light");
    let (class, light_bg, light_font) = theme().await;
    assert_eq!(class, "theme-light");
    assert_eq!(b.path().await.expect("path"), "/ui/", "back where it was");

    b.click_and_wait("form.theme-switch button[value=warroom]")
        .await
        .expect("war room");
    let (class, bg, font) = theme().await;
    assert_eq!(class, "theme-warroom");
    assert_eq!(bg, "rgb(0, 0, 0)", "war-room mode is black");
    assert_ne!(bg, light_bg);
    let px = |f: &str| f.trim_end_matches("px").parse::<f64>().unwrap_or(0.0);
    assert!(
        px(&font) > px(&light_font),
        "war-room type is larger: {font} vs {light_font}"
    );

    // The choice is a cookie: it survives a new page load.
    b.goto("/ui/").await.expect("goto");
    assert_eq!(theme().await.0, "theme-warroom");
    s.assert_clean("war-room event list").await;
    s.assert_no_external_request();
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_sized_window_does_not_scroll_sideways() {
    let s = scene(Size::PHONE).await;
    let b = &s.browser;
    b.goto("/ui/login").await.expect("goto");
    let (scroll, inner) = b.widths().await.expect("widths");
    assert_eq!(inner, 390, "a phone-sized viewport");
    assert!(scroll <= inner, "login page overflows: {scroll} > {inner}");
    s.session("vera", Role::Viewer).await;
    let (scroll, inner) = b.widths().await.expect("widths");
    assert!(scroll <= inner, "event list overflows: {scroll} > {inner}");
    b.screenshot("phone-events")
        .await
        .map(|p| eprintln!("screenshot: {}", p.display()))
        .expect("screenshot");
    s.assert_clean("phone event list").await;
    s.assert_no_external_request();
    s.close().await;
}

/// The proxy and the console checks catch what they are there to catch:
/// a request to another host (even another loopback address) reaches the
/// proxy, and an image from elsewhere is a logged CSP violation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checks_catch_external_requests_and_csp_violations() {
    let s = scene(Size::DESKTOP).await;
    let b = &s.browser;
    s.session("vera", Role::Viewer).await;
    s.assert_clean("event list").await;
    s.assert_no_external_request();

    // A page's image from another origin is refused by the CSP, and the
    // console check reports it.
    b.js(
        "const i = document.createElement('img'); \
         i.src = 'http://example.invalid/pixel.png'; \
         document.body.appendChild(i); return null;",
        vec![],
    )
    .await
    .expect("js");
    let started = Instant::now();
    let problems = loop {
        let p = b.problems().await.expect("problems");
        if !p.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("CSP violation") && p.contains("example.invalid")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p == "names a URL of another origin: http://example.invalid/pixel.png"),
        "{problems:?}"
    );

    // Navigating elsewhere goes through the proxy, which records it.
    let _ = b.goto_url("http://example.invalid/").await;
    // The control plane's port on another loopback address is another
    // host: only 127.0.0.1:<port> itself is reached directly.
    let other = format!("http://127.0.0.2:{}/elsewhere", s.server.port);
    let _ = b.goto_url(&other).await;
    let seen = s.proxy.seen();
    assert!(
        seen.iter()
            .any(|l| l.starts_with("GET http://example.invalid/ ")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|l| l.starts_with(&format!("GET {other} "))),
        "another loopback address is not exempt: {seen:?}"
    );
    s.close().await;
}

/// A page of the event and what must be on it.
struct Page {
    /// The path after `/ui/events/{slug}`.
    path: &'static str,
    /// Its `<h1>` (before " · event name").
    heading: &'static str,
    /// Its screenshot's name.
    name: &'static str,
    /// CSS selectors of the stable ids and data attributes the template
    /// promises, each with text it must contain ("" for presence only).
    needs: &'static [(&'static str, &'static str)],
}

/// Every page of the event, with content from the carnival plan.
const PAGES: &[Page] = &[
    Page {
        path: "",
        heading: "Overview",
        name: "overview",
        needs: &[
            ("#verdict", "NO-GO"),
            ("#readiness .line-card[data-line=bike]", "Bike sharing"),
            ("#readiness .line-card[data-line=ride]", "Ride-hailing"),
            ("#countdown", "until"),
            ("#frozen-now", ""),
            ("#oncall-now tr[data-line=bike]", ""),
        ],
    },
    Page {
        path: "/targets",
        heading: "Targets & water levels",
        name: "targets",
        needs: &[
            ("#water-levels tr[data-entry=home]", "App home page"),
            ("#water-levels tr[data-entry=home] svg", ""),
            ("#service-levels tr[data-service=ride-svc]", "ride-svc"),
            ("#partner-levels", ""),
        ],
    },
    Page {
        path: "/live",
        heading: "Live",
        name: "live",
        needs: &[("#live-at", "No tick yet"), ("#no-alerts", "")],
    },
    Page {
        path: "/links",
        heading: "Link graph",
        name: "links",
        needs: &[("#graph svg", ""), ("#findings li[data-rule=L013]", "L013")],
    },
    Page {
        path: "/rehearsals",
        heading: "Rehearsals",
        name: "rehearsals",
        needs: &[("#runs", "capacity-search")],
    },
    Page {
        path: "/agents",
        heading: "Agents",
        name: "agents",
        needs: &[("#no-agents", "seawall agent"), ("#no-fleet-runs", "")],
    },
    Page {
        path: "/change",
        heading: "Change control",
        name: "change",
        needs: &[
            ("#frozen-now", ""),
            ("#freeze-timeline svg", ""),
            ("#exceptions tr[data-exception]", "ride-svc"),
        ],
    },
    Page {
        path: "/oncall",
        heading: "On-call",
        name: "oncall",
        needs: &[
            ("#on-call-now", ""),
            ("#rota-timeline svg", ""),
            ("#coverage-gaps", ""),
        ],
    },
    Page {
        path: "/emergency",
        heading: "Emergency plans",
        name: "emergency",
        needs: &[
            ("#phase-pre", ""),
            ("#plan-scale-out", "Capacity expansion before the peak"),
        ],
    },
    Page {
        path: "/incidents",
        heading: "Incidents",
        name: "incidents",
        needs: &[("#incidents-summary", "MTTA"), ("#no-incidents", "")],
    },
    Page {
        path: "/review",
        heading: "Review",
        name: "review",
        needs: &[
            ("#review-entries", "home"),
            ("#review-entries-chart svg", ""),
            ("#review-recommendations", "Recommendations"),
            ("#review-downloads", "HTML"),
        ],
    },
    Page {
        path: "/plan",
        heading: "Plan",
        name: "plan",
        needs: &[
            ("#version-meta", "plan.yaml"),
            ("#plan-yaml", "930 Holiday Carnival"),
            ("#history tr[data-version='1']", ""),
        ],
    },
];

/// A rehearsal result shaped like `seawall rehearse --out`: two entries of
/// the carnival (their plan targets) with per-second series and a capacity
/// search that holds at 1.0× the knee and breaks at 1.5×. The figures
/// agree with each other (counts are summed from the series, percentiles
/// rise), so the screenshots look like a real run.
fn run_doc(knee_home: f64) -> String {
    // 10 s offered at 1.0× the knee, then 10 s offered at 1.5× of which
    // 1.4× is served: p99 climbs past the SLO and 2 % fail.
    let series = |knee: f64| -> Vec<Value> {
        (0..20)
            .map(|t| {
                let over = t >= 10;
                let rate = if over { knee * 1.4 } else { knee };
                let p99 = if over { 600.0 + 30.0 * f64::from(t - 10) } else { 160.0 + f64::from(t) };
                json!({"t_s": t, "rate": rate.round() as u64, "errors": if over { (rate * 0.02).round() as u64 } else { 0 },
                       "dropped": 0, "p50": if over { 90.0 } else { 12.0 }, "p99": p99})
            })
            .collect()
    };
    // The sum of one field over per-second points or entries.
    let total =
        |items: &[Value], field: &dyn Fn(&Value) -> u64| items.iter().map(field).sum::<u64>();
    let entry = |id: &str, service: &str, target: f64, knee: f64| {
        let seconds = series(knee);
        let requests = total(&seconds, &|p| p["rate"].as_u64().unwrap_or(0));
        let errors = total(&seconds, &|p| p["errors"].as_u64().unwrap_or(0));
        json!({"id": id, "service": service, "target_qps": target, "intended_qps": knee * 1.5,
               "requests": requests, "ok": requests - errors, "achieved_rps": knee, "dropped": 0,
               "errors": {"total": errors, "connect": 0, "timeout": errors, "io": 0,
                          "status_4xx": 0, "status_5xx": 0, "body": 0},
               "latency_ms": {"p50": 14.0, "p90": 60.0, "p99": 180.0, "p999": 620.0, "max": 910.0, "mean": 31.0},
               "slo": {"p99_ms": 300.0, "error_rate": 0.001}, "slo_source": "entry", "slo_held": true,
               "knee_qps": knee, "held_qps": knee, "series": seconds})
    };
    let entries = [
        entry("home", "home-bff", 5_750.0, knee_home),
        entry("coupon-grab", "coupon-svc", 3_000.0, 4_200.0),
    ];
    let requests = total(&entries, &|e| e["requests"].as_u64().unwrap_or(0));
    let errors = total(&entries, &|e| e["errors"]["total"].as_u64().unwrap_or(0));
    json!({
        "schema": "seawall.run/v1", "run_id": "r-e2e", "scenario": "capacity-search",
        "base_url": "http://127.0.0.1:1", "started": "2026-09-20T06:00:00.000Z",
        "finished": "2026-09-20T06:00:20.000Z", "duration_s": 20.0, "mode": "search",
        "arrivals": "constant", "tag": null, "outcome": "completed", "abort": null,
        "requests": requests, "errors": errors, "dropped": 0, "journeys": [],
        "entries": entries,
        "services": [], "guard_events": [],
        "search": {"steps": [
            {"kind": "step", "multiple": 1.0, "start_s": 0.0, "duration_s": 10.0, "held": true,
             "entries": [{"id": "home", "achieved_rps": knee_home, "error_rate": 0.0, "p99_ms": 170.0, "held": true}]},
            {"kind": "step", "multiple": 1.5, "start_s": 10.0, "duration_s": 10.0, "held": false,
             "entries": [{"id": "home", "achieved_rps": knee_home * 1.4, "error_rate": 0.02, "p99_ms": 900.0, "held": false}]}],
            "knee_multiple": 1.0, "broken_multiple": 1.5, "confirmed": true,
            "bottlenecks": ["home"], "stopped": "bisected to 2 %"}
    })
    .to_string()
}

/// Upload a run as the admin; its id.
async fn upload_run(server: &ControlPlane, doc: String) -> i64 {
    server
        .api(&server.admin)
        .expect("client")
        .upload_run(SLUG, doc)
        .await
        .expect("upload run (201)")
        .id
}

/// Open every page and check `PAGES` on it; screenshots named
/// `<prefix><name>`.
async fn tour(s: &Scene, prefix: &str) {
    for Page {
        path: page,
        heading,
        name,
        needs,
    } in PAGES
    {
        s.open(page, heading).await;
        for (css, text) in *needs {
            let found = s
                .browser
                .find_all(css)
                .await
                .expect("find")
                .into_iter()
                .next()
                .unwrap_or_else(|| panic!("{page:?}: nothing matches {css}"));
            let shown = found.text().await.expect("text");
            assert!(
                shown.contains(text),
                "{page:?} {css}: {shown:?} lacks {text:?}"
            );
        }
        s.browser
            .screenshot(&format!("{prefix}{name}"))
            .await
            .map(|p| eprintln!("screenshot: {}", p.display()))
            .expect("screenshot");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_shows_its_content_and_reaches_nothing_outside() {
    let (s, first, second) = rich_scene(Size::DESKTOP).await;
    let b = &s.browser;
    s.session("vera", Role::Viewer).await;
    s.assert_clean("event list").await;
    b.screenshot("events")
        .await
        .map(|p| eprintln!("screenshot: {}", p.display()))
        .expect("screenshot");
    tour(&s, "").await;

    // A run's charts and two runs compared.
    b.goto(&format!("/ui/events/{SLUG}/rehearsals/{first}"))
        .await
        .expect("goto");
    b.find("#rate-chart").await.expect("the run's rate chart");
    s.assert_clean("a run").await;
    b.screenshot("rehearsal-run")
        .await
        .map(|p| eprintln!("screenshot: {}", p.display()))
        .expect("screenshot");
    b.goto(&format!(
        "/ui/events/{SLUG}/rehearsals/compare?a={first}&b={second}"
    ))
    .await
    .expect("goto");
    s.assert_clean("two runs compared").await;
    b.screenshot("rehearsal-compare")
        .await
        .map(|p| eprintln!("screenshot: {}", p.display()))
        .expect("screenshot");

    // An incident with a commander, a status update and a note: its page.
    let admin = s.server.api(&s.server.admin).expect("client");
    let incident = admin
        .open_incident(
            SLUG,
            &OpenIncident {
                title: "Bike orders failing".into(),
                severity: Some("P1".into()),
                line: Some("bike".into()),
            },
        )
        .await
        .expect("incident");
    let n = incident.id;
    admin
        .assign_incident_role(
            SLUG,
            n,
            &AssignRole {
                role: "commander".into(),
                person: "lin-wei".into(),
                version: None,
            },
        )
        .await
        .expect("role");
    admin
        .post_incident_update(
            SLUG,
            n,
            &PostUpdate {
                status: "identified".into(),
                text: "Bike orders fail at checkout; cause found.".into(),
                version: None,
            },
        )
        .await
        .expect("update");
    b.goto(&format!("/ui/events/{SLUG}/incidents/{n}"))
        .await
        .expect("goto");
    s.assert_clean("an incident").await;
    let roles = b.text("#roles").await.expect("roles");
    assert!(roles.contains("Lin Wei"), "{roles}");
    let timeline = b.text("#timeline").await.expect("timeline");
    assert!(timeline.contains("role_assigned"), "{timeline}");
    b.screenshot("incident")
        .await
        .map(|p| eprintln!("screenshot: {}", p.display()))
        .expect("screenshot");

    // Every navigation link leads to a page of this event.
    b.goto(&format!("/ui/events/{SLUG}")).await.expect("goto");
    let mut hrefs = Vec::new();
    for a in b.find_all("nav.main a").await.expect("nav") {
        hrefs.push(a.attr("href").await.expect("href").unwrap_or_default());
    }
    let expected: Vec<String> = PAGES
        .iter()
        .map(|p| format!("/ui/events/{SLUG}{}", p.path))
        .collect();
    assert_eq!(hrefs, expected, "the navigation names every page, in order");
    s.assert_no_external_request();
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn war_room_mode_renders_every_page() {
    let (s, ..) = rich_scene(Size::DESKTOP).await;
    s.session("lin-wei", Role::Commander).await;
    // The theme is a cookie the switch sets; set it as the switch would.
    s.browser
        .set_cookie("seawall_theme", "warroom", false)
        .await
        .expect("theme cookie");
    s.browser.goto("/ui/").await.expect("goto");
    let class = s
        .browser
        .js("return document.documentElement.className;", vec![])
        .await
        .expect("js");
    assert_eq!(class, "theme-warroom");
    tour(&s, "warroom-").await;
    s.assert_no_external_request();
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_the_overview_fits_the_screen() {
    let (s, ..) = rich_scene(Size::PHONE).await;
    s.session("vera", Role::Viewer).await;
    let mut overflowing = Vec::new();
    let phone = u64::from(Size::PHONE.width);
    for Page {
        path: page,
        heading,
        name,
        ..
    } in PAGES
    {
        s.open(page, heading).await;
        // Compared with the phone's width, not innerWidth: a mobile
        // viewport grows to fit content that is too wide.
        let (scroll, _) = s.browser.widths().await.expect("widths");
        if scroll > phone {
            let culprits = s.browser.wider_than(phone).await.expect("culprits");
            overflowing.push(format!(
                "{heading}: {scroll} px wide; reaching past {phone} px: {}",
                culprits.join(", ")
            ));
        }
        if page.is_empty() {
            assert!(
                scroll <= phone,
                "the overview is wider than a {phone} px phone: {overflowing:?}"
            );
        }
        s.browser
            .screenshot(&format!("phone-{name}"))
            .await
            .map(|p| eprintln!("screenshot: {}", p.display()))
            .expect("screenshot");
    }
    if !overflowing.is_empty() {
        eprintln!(
            "pages wider than a 390 px phone (tables scroll inside .table-wrap; this is the page itself):\n{}",
            overflowing.join("\n")
        );
    }
    s.assert_no_external_request();
    s.close().await;
}

/// An exception requested through the API, pending.
async fn pending_exception(s: &Scene) -> i64 {
    let oncall = s
        .server
        .token("zhou-hao", Role::Oncall, None)
        .await
        .expect("token");
    let request = RequestException {
        services: vec!["ride-svc".to_owned()],
        kinds: vec![ChangeKind::Release],
        start: "2026-09-30T11:00:00+08:00".to_owned(),
        end: "2026-09-30T12:00:00+08:00".to_owned(),
        reason: "hotfix for double charges".to_owned(),
    };
    let e = s
        .server
        .api(&oncall)
        .expect("client")
        .request_exception(SLUG, &request)
        .await
        .expect("request an exception");
    assert_eq!(e.status, "pending");
    e.id
}

async fn exception_status(s: &Scene, id: i64) -> String {
    s.server
        .api(&s.server.admin)
        .expect("client")
        .exception(id)
        .await
        .expect("get exception (200)")
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_approve_button_and_cannot_approve() {
    let s = scene(Size::DESKTOP).await;
    let id = pending_exception(&s).await;
    s.session("vera", Role::Viewer).await;
    s.open("/change", "Change control").await;
    let row = s
        .browser
        .find(&format!("#exception-{id}"))
        .await
        .expect("the request is listed");
    assert!(row.text().await.expect("text").contains("pending"));
    assert!(
        !s.browser
            .exists(&format!("#approve-{id}, #reject-{id}"))
            .await
            .expect("find"),
        "a viewer sees no approve or reject button"
    );
    // A script on the page posting the approve form (same origin, the
    // session's cookie and CSRF token) is refused for the role.
    let (status, text) = s
        .post_from_page(
            &format!("/ui/events/{SLUG}/change/exceptions/{id}/approve"),
            &[],
        )
        .await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("commander"), "refused for the role: {text}");
    assert_eq!(exception_status(&s, id).await, "pending", "nothing changed");
    s.assert_no_external_request();
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commander_approves_an_exception_with_its_button() {
    let s = scene(Size::DESKTOP).await;
    let id = pending_exception(&s).await;
    s.login("lin-wei", Role::Commander).await;
    s.open("/change", "Change control").await;
    s.browser
        .click_and_wait(&format!("#approve-{id}"))
        .await
        .expect("approve");
    let row = s
        .browser
        .text(&format!("#exception-{id}"))
        .await
        .expect("the request is listed");
    assert!(
        row.contains("approved") || row.contains("active") || row.contains("scheduled"),
        "{row}"
    );
    assert!(
        !s.browser
            .exists(&format!("#approve-{id}"))
            .await
            .expect("find")
    );
    assert_eq!(exception_status(&s, id).await, "approved");
    s.assert_clean("change control after approving").await;
    s.assert_no_external_request();
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_plan_upload_shows_its_diagnostics() {
    let s = scene(Size::DESKTOP).await;
    s.login("lin-wei", Role::Commander).await;
    s.open("/plan", "Plan").await;
    let bad = "event: {name: Broken, timezone: Mars/Olympus}\nservices:\n  a: {line: nowhere}\n";
    s.browser
        .js(
            "document.getElementById('upload').open = true;              document.getElementById('plan-text').value = arguments[0]; return null;",
            vec![json!(bad)],
        )
        .await
        .expect("fill the form");
    s.browser
        .find("#plan-file-name")
        .await
        .expect("file name")
        .send_keys("broken.yaml")
        .await
        .expect("type");
    s.browser
        .click_and_wait("#upload-submit")
        .await
        .expect("upload");
    let diagnostics = s.browser.text("#diagnostics").await.expect("diagnostics");
    // The unknown time zone: its stable code, file, line and column.
    assert!(
        diagnostics.contains("E042") && diagnostics.contains("Mars/Olympus"),
        "{diagnostics}"
    );
    assert!(
        diagnostics.contains("broken.yaml:1:33"),
        "the line and column are named: {diagnostics}"
    );
    let codes = s
        .browser
        .find_all("#diagnostics li[data-code]")
        .await
        .expect("codes");
    assert!(!codes.is_empty());
    for c in codes {
        let code = c.attr("data-code").await.expect("attr").unwrap_or_default();
        assert!(code.starts_with('E'), "{code}");
    }
    s.browser
        .screenshot("plan-invalid-upload")
        .await
        .map(|p| eprintln!("screenshot: {}", p.display()))
        .expect("screenshot");
    // Nothing was stored: still version 1.
    let history = s
        .server
        .api(&s.server.admin)
        .expect("client")
        .plan_versions(SLUG)
        .await
        .expect("versions");
    assert_eq!(history.versions.len(), 1, "{history:?}");
    s.assert_clean("plan page with diagnostics").await;
    s.assert_no_external_request();
    s.close().await;
}

/// Dropping a browser without closing it (as a panicking test does) leaves
/// no chromedriver or Chromium process behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_browser_leaves_no_process_behind() {
    let s = scene(Size::DESKTOP).await;
    s.session("vera", Role::Viewer).await;
    let group = s.browser.process_group();
    let running = seawall_e2e::live_processes_in_group(group);
    assert!(
        running.len() >= 2,
        "chromedriver and Chromium run in group {group}: {running:?}"
    );
    let Scene {
        browser, server, ..
    } = s;
    drop(browser);
    let started = Instant::now();
    loop {
        let left = seawall_e2e::live_processes_in_group(group);
        if left.is_empty() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still running after drop: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await.expect("stop the server");
}

/// A plan of one entry on a service of 20 QPS whose monitor scrapes
/// `target` (a [`MetricsPage`]).
fn live_plan(target: &str) -> String {
    format!(
        "event: {{name: Live, timezone: UTC}}
organization:
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
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_shows_the_ticks_values_and_alerts() {
    let s = scene(Size::DESKTOP).await;
    // 600 requests between two scrapes milliseconds apart: far over the
    // entry's 20 QPS, so its water level is critical and alerts.
    let metrics = MetricsPage::start("create-order", 600)
        .await
        .expect("metrics page");
    s.server
        .event("live", "Live", &live_plan(&metrics.addr))
        .await
        .expect("live event");
    for _ in 0..3 {
        s.server.tick(10_000).await.expect("tick");
    }
    s.session("lin-wei", Role::Commander).await;
    let b = &s.browser;
    b.goto("/ui/events/live/live").await.expect("goto");
    s.assert_clean("the Live page").await;
    let row = b.find("#live-entry-create-order").await.expect("entry row");
    assert_eq!(
        row.attr("data-status").await.expect("status").as_deref(),
        Some("critical")
    );
    assert_eq!(
        row.attr("data-source").await.expect("source").as_deref(),
        Some("ok")
    );
    let qps = b
        .text("#live-entry-create-order td.qps")
        .await
        .expect("qps");
    assert!(qps.chars().any(|c| c.is_ascii_digit()), "a live qps: {qps}");
    assert!(
        b.exists("#live-entry-create-order svg.sparkline polyline")
            .await
            .expect("sparkline"),
        "a sparkline of the ticks"
    );
    let alerts = b.text("#alert-list").await.expect("alert list");
    assert!(
        alerts.contains("entry:create-order:water-critical"),
        "{alerts}"
    );
    let history = b.text("#alert-history").await.expect("history");
    assert!(history.contains("water-critical"), "{history}");
    b.screenshot("live")
        .await
        .map(|p| eprintln!("screenshot: {}", p.display()))
        .expect("screenshot");

    // The overview polls the live fragment with htmx: its row arrives.
    b.goto("/ui/events/live").await.expect("overview");
    let started = Instant::now();
    while !b
        .exists("#live-now tr[data-live-entry=create-order]")
        .await
        .expect("exists")
    {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the live fragment never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.assert_clean("the overview with its live fragment").await;

    // War-room mode: dark, large type.
    b.goto("/ui/events/live/live?wall=1").await.expect("wall");
    assert!(
        b.exists("html.theme-warroom .live.wall")
            .await
            .expect("wall")
    );
    s.assert_clean("war-room mode").await;
    b.screenshot("live-wall")
        .await
        .map(|p| eprintln!("screenshot: {}", p.display()))
        .expect("screenshot");
    s.assert_no_external_request();
    s.close().await;
}

/// The review's standalone HTML (what `seawall review --format html`
/// writes) opened from a file: it renders with its own inline CSS and
/// SVG, logs no problem, and asks nothing of any server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_review_html_opens_offline_and_requests_nothing() {
    let (s, _, _) = rich_scene(Size::DESKTOP).await;
    let token = s.session("vera", Role::Viewer).await;
    let html = s
        .server
        .api(&token)
        .expect("client")
        .review(SLUG, seawall_api::review::ReviewFormat::Html, None)
        .await
        .expect("the review");
    let dir = seawall_e2e::screenshot_dir();
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let file = dir.join("review.html");
    std::fs::write(&file, &html).expect("write the review");
    s.proxy.clear();
    s.browser
        .goto_url(&format!("file://{}", file.display()))
        .await
        .expect("open the file");
    let h1 = s.browser.text("h1").await.expect("h1");
    assert!(h1.starts_with("Review of"), "{h1}");
    assert!(s.browser.exists("#entries").await.expect("entries"));
    assert!(s.browser.exists("svg").await.expect("an inline chart"));
    // The page's own file, and nothing else loaded or named.
    let loaded = s.browser.resources().await.expect("resources");
    assert_eq!(loaded.len(), 1, "the review loaded {loaded:?}");
    let named = s.browser.linked_urls().await.expect("urls");
    assert!(named.is_empty(), "the review names {named:?}");
    for entry in s.browser.console().await.expect("console") {
        assert!(
            !entry.is_csp_violation() && !entry.is_script_error(),
            "{}",
            entry.message
        );
    }
    s.browser
        .screenshot("review-html")
        .await
        .map(|p| eprintln!("screenshot: {}", p.display()))
        .expect("screenshot");
    s.assert_no_external_request();
    s.close().await;
}
