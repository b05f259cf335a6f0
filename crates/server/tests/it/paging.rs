//! Pages through the per-channel queue with real parts: a real server over
//! SQLite on loopback, its paging loop, and two receivers of Seawall's
//! signed webhook on loopback — the plan's first on-call channel answers
//! 500, the second checks each request's `X-Seawall-Signature` and keeps
//! the page. The page must fall back to the second channel and the
//! timeline must say so. Waits are bounded (20 s only catches "never").

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use seawall_api::incidents::Incident;
use serde_json::{Value, json};

use crate::common::{self, TestServer};

const SLUG: &str = "paging";
const SECRET: &str = "SEC-paging-test-secret";
/// Bound of every wait for something that must happen.
const LIMIT: Duration = Duration::from_secs(20);

/// The plan: line bike with chen-jie primary; two on-call channels of
/// kind `webhook` (`first`, then `second`), both signed with the secret in
/// `secret_file`; `allow` is the `emergency.allow_hosts` list.
pub(crate) fn plan(
    first: &str,
    second: &str,
    secret_file: &std::path::Path,
    allow: &[&str],
) -> String {
    format!(
        "\
event: {{name: Paging, timezone: UTC}}
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
oncall:
  ack_timeout: 1m
  rota:
    - {{lines: [bike], start: \"2026-09-30T00:00\", end: \"2026-09-30T20:00\", primary: chen-jie}}
  channels:
    war-room:
      kind: webhook
      webhook: \"{first}\"
      secret_env: \"file:{file}\"
    backup-room:
      kind: webhook
      webhook: \"{second}\"
      secret_env: \"file:{file}\"
emergency:
  allow_hosts: {allow:?}
",
        file = secret_file.display()
    )
}

/// What a receiver got: each correctly signed body, and how many
/// requests were refused for their signature.
#[derive(Default)]
pub(crate) struct Got {
    pub bodies: Vec<Value>,
    pub bad: usize,
    pub requests: usize,
}

/// A receiver of Seawall's webhook on loopback: `POST /hook`, answering
/// `status` to a correctly signed request (401 to a badly signed one).
pub(crate) async fn receiver(status: u16) -> (SocketAddr, Arc<Mutex<Got>>) {
    let got = Arc::new(Mutex::new(Got::default()));
    let seen = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| async move {
                let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                let signed = seawall_notify::sign::verify_webhook(
                    SECRET,
                    seawall_notify::sign::Signed {
                        timestamp: h("x-seawall-timestamp"),
                        signature: h("x-seawall-signature"),
                        body: &body,
                    },
                    now,
                )
                .is_ok();
                let mut g = seen.lock().expect("lock");
                g.requests += 1;
                if !signed {
                    g.bad += 1;
                    return axum::http::StatusCode::UNAUTHORIZED;
                }
                if let Ok(v) = serde_json::from_slice(&body) {
                    g.bodies.push(v);
                }
                axum::http::StatusCode::from_u16(status)
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR)
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, got)
}

/// Opens an incident of line bike by hand (the primary is paged at once).
pub(crate) async fn open_incident(server: &TestServer) -> i64 {
    let r = server
        .admin()
        .post(
            &format!("/api/v1/events/{SLUG}/incidents"),
            &json!({"title": "checkout down", "line": "bike"}),
        )
        .await;
    assert_eq!(r.status, http::StatusCode::CREATED, "{}", r.text());
    let v: Value = r.json().expect("json");
    v["id"].as_i64().expect("id")
}

/// Waits (at most [`LIMIT`]) until incident `n` satisfies `done`.
pub(crate) async fn until_incident(
    server: &TestServer,
    n: i64,
    done: impl Fn(&Incident) -> bool,
) -> Incident {
    let started = Instant::now();
    loop {
        let r = server
            .admin()
            .get(&format!("/api/v1/events/{SLUG}/incidents/{n}"))
            .await;
        let i: Incident = r.json().expect("incident");
        if done(&i) {
            return i;
        }
        assert!(started.elapsed() < LIMIT, "incident {n}: {i:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The texts of the timeline.
pub(crate) fn texts(i: &Incident) -> Vec<&str> {
    i.timeline.iter().map(|e| e.text.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_the_first_channel_fails_falls_back_to_the_next_and_the_timeline_says_so() {
    let (broken, broken_got) = receiver(500).await;
    let (working, working_got) = receiver(200).await;
    let server = TestServer::start().await;
    let secret_file = server.dir.path().join("hook-secret");
    std::fs::write(&secret_file, SECRET).expect("secret");
    let text = plan(
        &format!("http://{broken}/hook"),
        &format!("http://{working}/hook"),
        &secret_file,
        &["127.0.0.1"],
    );
    common::event_with(&server, SLUG, "Paging", &text).await;
    let n = open_incident(&server).await;

    let i = until_incident(&server, n, |i| {
        i.timeline.iter().any(|e| e.text.starts_with("page sent"))
    })
    .await;
    let t = texts(&i);
    let failed = t
        .iter()
        .position(|e| e.starts_with("page_failed on war-room"))
        .unwrap_or_else(|| panic!("no page_failed on war-room: {t:#?}"));
    assert!(
        t[failed].ends_with(", fell back to backup-room"),
        "{}",
        t[failed]
    );
    assert!(
        t[failed].contains("500"),
        "the error is shown: {}",
        t[failed]
    );
    let sent = t
        .iter()
        .position(|e| e.starts_with("page sent via backup-room to chen-jie"))
        .unwrap_or_else(|| panic!("no page sent via backup-room: {t:#?}"));
    assert!(failed < sent, "{t:#?}");
    assert_eq!(
        i.timeline[failed].kind, "page_failed",
        "{:?}",
        i.timeline[failed]
    );

    let b = broken_got.lock().expect("lock");
    assert!(
        b.requests >= 1 && b.bad == 0,
        "the broken channel was tried, signed"
    );
    assert!(
        b.bodies.iter().all(|v| v["severity"] == "page"),
        "{:?}",
        b.bodies
    );
    drop(b);
    let w = working_got.lock().expect("lock");
    assert_eq!(w.bad, 0);
    assert_eq!(w.bodies.len(), 1, "one page, once: {:?}", w.bodies);
    assert_eq!(w.bodies[0]["severity"], "page", "{}", w.bodies[0]);
    assert_eq!(w.bodies[0]["incident_id"], n.to_string(), "{}", w.bodies[0]);
}

/// A channel's webhook is a request the control plane makes: one to
/// loopback or to the cloud metadata address is refused when the plan is
/// pushed (E080), unless `emergency.allow_hosts` lists the host.
#[tokio::test]
async fn a_channel_to_loopback_or_metadata_is_refused_unless_allowed() {
    let server = TestServer::start().await;
    let secret_file = server.dir.path().join("hook-secret");
    std::fs::write(&secret_file, SECRET).expect("secret");
    let admin = server.admin();
    let r = admin
        .post("/api/v1/events", &json!({"slug": SLUG, "name": "Paging"}))
        .await;
    assert_eq!(r.status, http::StatusCode::CREATED, "{}", r.text());
    let push = |text: String| {
        let admin = server.admin();
        async move {
            admin
                .post(
                    &format!("/api/v1/events/{SLUG}/plans"),
                    &json!({"file_name": "plan.yaml", "text": text}),
                )
                .await
        }
    };
    let good = "https://hooks.example.com/hook";
    for bad in [
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest/meta-data/",
    ] {
        let r = push(plan(good, bad, &secret_file, &[])).await;
        assert_eq!(
            r.status,
            http::StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text()
        );
        let body = r.text();
        assert!(
            body.contains("E080") && body.contains("backup-room"),
            "{body}"
        );
    }
    let r = push(plan(
        good,
        "http://127.0.0.1:9/hook",
        &secret_file,
        &["127.0.0.1"],
    ))
    .await;
    assert_eq!(r.status, http::StatusCode::CREATED, "{}", r.text());
}

/// The link key of [`with_links`].
const LINK_KEY: &[u8] = b"link-key-for-tests-0123456789abcdef";
/// The public URL of [`with_links`].
const PUBLIC: &str = "https://seawall.example";

fn with_links(state: seawall_server::AppState) -> seawall_server::AppState {
    state.with_links(Some(format!("{PUBLIC}/")), Some(LINK_KEY.to_vec()))
}

/// A plain (non-API) request to the server.
async fn plain(server: &TestServer, method: http::Method, path: &str) -> (u16, String) {
    let client = seawall_api::Client::new(&server.base).expect("client");
    let r = client
        .send_raw(method, path, &[], bytes::Bytes::new())
        .await
        .expect("request");
    (
        r.status.as_u16(),
        String::from_utf8_lossy(&r.body).into_owned(),
    )
}

/// A page carries a signed link: opening it (a link preview) changes
/// nothing, its button's POST acknowledges as the paged person; a changed,
/// forged, misplaced or expired link is refused (403) and audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_ack_link_confirms_on_get_acknowledges_on_post_and_refuses_tampering() {
    use seawall_server::service::incidents::pager::{Link, LinkKind};

    let (working, got) = receiver(200).await;
    let server = TestServer::start_tweaked(with_links).await;
    let secret_file = server.dir.path().join("hook-secret");
    std::fs::write(&secret_file, SECRET).expect("secret");
    let hook = format!("http://{working}/hook");
    let text = plan(&hook, &hook, &secret_file, &["127.0.0.1"]);
    common::event_with(&server, SLUG, "Paging", &text).await;
    let n = open_incident(&server).await;
    until_incident(&server, n, |i| {
        i.timeline.iter().any(|e| e.text.starts_with("page sent"))
    })
    .await;
    let url = {
        let g = got.lock().expect("lock");
        g.bodies[0]["ack_url"].as_str().expect("ack_url").to_owned()
    };
    let path = url.strip_prefix(PUBLIC).expect("the public URL");
    let token = path.strip_prefix("/ack/").expect("/ack/ path");
    let link = Link::verify(LINK_KEY, token, server.clock.now()).expect("a valid link");
    assert_eq!(
        (link.kind, link.n, link.person.as_str()),
        (LinkKind::Ack, n, "chen-jie")
    );

    // GET (what an IM's link preview does) changes nothing.
    let (status, html) = plain(&server, http::Method::GET, path).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("Acknowledge incident {n}?")),
        "{html}"
    );
    assert!(html.contains("<form method=\"post\""), "{html}");
    let i = until_incident(&server, n, |_| true).await;
    assert_eq!(i.status, "open", "a GET acknowledged: {i:#?}");

    // Tampered links: another incident number, a forged tag, a link of
    // another event signed with the right key, one signed with another key.
    let other_n = token.replacen(
        &format!("ack.{}.{n}.", link.event_id),
        &format!("ack.{}.{}.", link.event_id, n + 1),
        1,
    );
    assert_ne!(other_n, token);
    let mut forged = token.to_owned();
    let last = forged.pop().expect("tag");
    forged.push(if last == '0' { '1' } else { '0' });
    let misplaced = Link {
        event_id: link.event_id + 1,
        ..link.clone()
    }
    .sign(LINK_KEY);
    let other_key = link.sign(b"another-key-0123456789abcdef-0123456789");
    for (what, bad) in [
        ("another incident", other_n.as_str()),
        ("forged", forged.as_str()),
        ("another event", misplaced.as_str()),
        ("another key", other_key.as_str()),
        ("garbage", "not-a-link"),
    ] {
        for method in [http::Method::GET, http::Method::POST] {
            let (status, html) = plain(&server, method.clone(), &format!("/ack/{bad}")).await;
            assert_eq!(status, 403, "{what} {method}: {html}");
        }
    }
    let i = until_incident(&server, n, |_| true).await;
    assert_eq!(i.status, "open", "a refused link acknowledged: {i:#?}");

    // The button's POST acknowledges, as the paged person by link.
    let (status, html) = plain(&server, http::Method::POST, path).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains(&format!("Incident {n} acknowledged")),
        "{html}"
    );
    let i = until_incident(&server, n, |_| true).await;
    assert_eq!(i.status, "acknowledged", "{i:#?}");
    assert_eq!(
        i.paging.as_ref().and_then(|p| p.acknowledged_by.as_deref()),
        Some("link:chen-jie")
    );
    let (status, _) = plain(&server, http::Method::POST, path).await;
    assert_eq!(status, 409, "a second ack is a conflict");

    // A day later the link has expired.
    server
        .clock
        .advance(seawall_server::service::incidents::pager::LINK_TTL_MS);
    let (status, html) = plain(&server, http::Method::GET, path).await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("expired"), "{html}");

    // Every refusal is audited, with why, and without the tag.
    let audit = server.state.store.audit(0, 1_000).await.expect("audit");
    let refused: Vec<_> = audit
        .iter()
        .filter(|a| a.action == "link.refused")
        .collect();
    assert_eq!(refused.len(), 11, "{refused:#?}");
    let tag = &token[token.len() - 64..];
    assert!(
        refused.iter().all(|a| !a.detail.contains(tag)),
        "{refused:#?}"
    );
    assert!(
        refused.iter().any(|a| a.detail.contains("expired")),
        "{refused:#?}"
    );
}

/// The signing secret of the Slack app in [`slack_plan`].
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// [`plan`] with a Slack channel whose `secret_env` is the app's signing
/// secret (in `slack_file`).
fn slack_plan(hook: &str, secret_file: &std::path::Path, slack_file: &std::path::Path) -> String {
    plan(hook, hook, secret_file, &["127.0.0.1"]).replace(
        "    backup-room:\n",
        &format!(
            "    slack-room:\n      kind: slack\n      webhook: \"{hook}\"\n      secret_env: \"file:{}\"\n    backup-room:\n",
            slack_file.display()
        ),
    )
}

/// Slack's form body for a press of Acknowledge on incident `n` by `user`.
fn press(n: &str, user: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U0123", "username": user},
        "actions": [{"action_id": "seawall_ack", "value": n, "type": "button"}],
    });
    format!(
        "payload={}",
        percent_encoding::utf8_percent_encode(
            &payload.to_string(),
            percent_encoding::NON_ALPHANUMERIC
        )
    )
}

async fn post_slack(server: &TestServer, ts: i64, signature: &str, body: &str) -> (u16, Value) {
    let client = seawall_api::Client::new(&server.base).expect("client");
    let r = client
        .send_raw(
            http::Method::POST,
            "/api/v1/im/slack/actions",
            &[
                (
                    http::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded".to_owned(),
                ),
                (
                    http::HeaderName::from_static("x-slack-request-timestamp"),
                    ts.to_string(),
                ),
                (
                    http::HeaderName::from_static("x-slack-signature"),
                    signature.to_owned(),
                ),
            ],
            bytes::Bytes::from(body.to_owned()),
        )
        .await
        .expect("request");
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status.as_u16(), v)
}

/// A press of a page's Acknowledge button in Slack acknowledges the
/// incident when signed by the plan's Slack app within five minutes;
/// unsigned, badly signed, stale and other-app requests are refused (401)
/// and audited; the same press again is a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_slack_acknowledge_press_acknowledges_and_bad_ones_are_refused() {
    use seawall_notify::sign::slack_signature;

    let (working, _got) = receiver(200).await;
    let server = TestServer::start().await;
    let secret_file = server.dir.path().join("hook-secret");
    std::fs::write(&secret_file, SECRET).expect("secret");
    let slack_file = server.dir.path().join("slack-secret");
    std::fs::write(&slack_file, SLACK_SECRET).expect("secret");
    let text = slack_plan(&format!("http://{working}/hook"), &secret_file, &slack_file);
    common::event_with(&server, SLUG, "Paging", &text).await;
    let n = open_incident(&server).await;
    let body = press(&n.to_string(), "chen.jie");
    let now = server.clock.now() / 1000;

    let stale = now - 301;
    for (what, ts, sig) in [
        ("unsigned", now, String::new()),
        ("forged", now, format!("v0={}", "0".repeat(64))),
        (
            "another app",
            now,
            slack_signature("another-signing-secret", now, body.as_bytes()),
        ),
        (
            "stale",
            stale,
            slack_signature(SLACK_SECRET, stale, body.as_bytes()),
        ),
    ] {
        let (status, v) = post_slack(&server, ts, &sig, &body).await;
        assert_eq!(status, 401, "{what}: {v}");
    }
    let other = press("999", "chen.jie");
    let (status, v) = post_slack(
        &server,
        now,
        &slack_signature(SLACK_SECRET, now, other.as_bytes()),
        &other,
    )
    .await;
    assert_eq!(status, 401, "no such incident: {v}");
    let i = until_incident(&server, n, |_| true).await;
    assert_eq!(i.status, "open", "a refused press acknowledged: {i:#?}");

    let sig = slack_signature(SLACK_SECRET, now, body.as_bytes());
    let (status, v) = post_slack(&server, now, &sig, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v,
        json!({"incident": n, "acknowledged_by": "slack:chen.jie", "status": "acknowledged"})
    );
    let (status, v) = post_slack(&server, now, &sig, &body).await;
    assert_eq!(status, 409, "the same press again: {v}");

    let audit = server.state.store.audit(0, 1_000).await.expect("audit");
    let refused = audit.iter().filter(|a| a.action == "im.refused").count();
    assert_eq!(refused, 5);
    assert!(!audit.iter().any(|a| a.detail.contains(SLACK_SECRET)));
}

/// A run that needs approval sends each commander but the requester a
/// link of their own; neither opening (GET) nor following it (POST)
/// approves — everyone in the group sees every link — it leads to the
/// run's page; a link made for the requester or for somebody who is no
/// commander is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approve_link_leads_to_the_run_and_approves_nothing_by_itself() {
    use seawall_server::service::incidents::pager::{Link, LinkKind};

    let (working, got) = receiver(200).await;
    let server = TestServer::start_tweaked(with_links).await;
    let secret_file = server.dir.path().join("hook-secret");
    std::fs::write(&secret_file, SECRET).expect("secret");
    let hook = format!("http://{working}/hook");
    let text = plan(&hook, &hook, &secret_file, &["127.0.0.1"])
        .replace("people:\n", "people:\n  sun-li: {name: Sun Li}\n")
        + "emergency_plans:
  limit-orders:
    phase: during
    trigger: manual
    approval: one
    owner: sun-li
    actions:
      - {kind: rate_limit, entry: create-order, qps: 5}
    expected_minutes: 2
";
    common::event_with(&server, SLUG, "Paging", &text).await;
    // lin-wei (the guarantee group, a commander) asks for the run.
    let lin_wei = server
        .token("lin-wei", seawall_store::Role::Commander, None)
        .await;
    let r = server
        .api(Some(&lin_wei))
        .post(
            &format!("/api/v1/events/{SLUG}/emergency-plans/limit-orders/runs"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, http::StatusCode::ACCEPTED, "{}", r.text());
    let run: Value = r.json().expect("run");
    let n = run["id"].as_i64().expect("id");
    assert_eq!(run["status"], "awaiting_approval", "{run}");

    // The message names sun-li's link only (lin-wei asked).
    let started = Instant::now();
    let text = loop {
        let found = got.lock().expect("lock").bodies.iter().find_map(|b| {
            b["text"]
                .as_str()
                .filter(|t| t.contains("Approve as"))
                .map(str::to_owned)
        });
        if let Some(t) = found {
            break t;
        }
        assert!(started.elapsed() < LIMIT, "no approval message");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(text.contains("Approve as Sun Li: "), "{text}");
    assert!(!text.contains("Approve as Lin Wei"), "{text}");
    let url = text
        .lines()
        .find_map(|l| l.strip_prefix("Approve as Sun Li: "))
        .expect("sun-li's link");
    let path = url.strip_prefix(PUBLIC).expect("public URL");
    let token = path.strip_prefix("/ack/").expect("/ack/");
    let link = Link::verify(LINK_KEY, token, server.clock.now()).expect("valid");
    assert_eq!(
        (link.kind, link.n, link.person.as_str()),
        (LinkKind::Approve, n, "sun-li")
    );

    let run_status = || async {
        let r = server
            .admin()
            .get(&format!("/api/v1/events/{SLUG}/emergency-runs/{n}"))
            .await;
        let v: Value = r.json().expect("run");
        v
    };
    // Opening it approves nothing.
    let (status, html) = plain(&server, http::Method::GET, path).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("Approve run {n}?")), "{html}");
    assert_eq!(run_status().await["approvals"], json!([]));

    // Links made (with the right key) for the requester and for somebody
    // who is no commander count for nothing.
    for (who, why) in [
        ("lin-wei", "self-approval"),
        ("chen-jie", "not a commander"),
    ] {
        let forged = Link {
            person: who.to_owned(),
            ..link.clone()
        }
        .sign(LINK_KEY);
        let (status, html) = plain(&server, http::Method::POST, &format!("/ack/{forged}")).await;
        assert_eq!(status, 403, "{why}: {html}");
    }
    assert_eq!(run_status().await["approvals"], json!([]));

    // sun-li's own link approves nothing either: the message went to a
    // group, so anyone in it (lin-wei, who asked, too) could follow it. It
    // leads to the run's page, where sun-li approves with a session.
    let (status, html) = plain(&server, http::Method::POST, path).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&format!("Approve run {n}")), "{html}");
    assert!(html.contains("own session"), "{html}");
    assert!(
        html.contains(&format!("/ui/events/{SLUG}/emergency")),
        "{html}"
    );
    assert_eq!(run_status().await["approvals"], json!([]));
    let sun_li = server
        .token("sun-li", seawall_store::Role::Commander, None)
        .await;
    let r = server
        .api(Some(&sun_li))
        .post(
            &format!("/api/v1/events/{SLUG}/emergency-runs/{n}/approve"),
            &json!({}),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text());
    let v = run_status().await;
    assert_eq!(v["approvals"][0]["by"], "sun-li", "{v}");
    assert_ne!(v["status"], "awaiting_approval", "{v}");
}
