//! Server-side UI sessions over real HTTP: the cookie holds a random
//! session id (never the token) whose hash is kept in the store; sessions
//! end when idle, after their absolute lifetime, at logout (a copied
//! cookie is worthless afterwards), and when their token is revoked or
//! expires; the cookie is `Secure` when the server speaks TLS. Time is the
//! test's ManualClock.

use crate::common;

use common::{TestServer, UiSession};
use http::{StatusCode, header};
use seawall_store::{Role, sha256_hex};
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;

/// The cookie's value (the session id).
fn session_id(ui: &UiSession) -> String {
    ui.cookie
        .split_once('=')
        .map(|(_, v)| v.to_owned())
        .expect("cookie value")
}

/// Where a request with an ended session is sent.
fn sent_to_login(r: &seawall_server::client::Response, why: &str) {
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let location = r.headers[header::LOCATION].to_str().expect("ascii");
    assert!(
        location.starts_with("/ui/login?") && location.ends_with(&format!("why={why}")),
        "{location}"
    );
}

async fn token_id(server: &TestServer, name: &str) -> i64 {
    let tokens: Value = server
        .admin()
        .get("/api/v1/tokens")
        .await
        .json()
        .expect("json");
    tokens["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["name"] == name)
        .expect("token")["id"]
        .as_i64()
        .expect("id")
}

#[tokio::test]
async fn the_cookie_holds_a_random_session_id_and_the_store_only_its_hash() {
    let server = TestServer::start().await;
    let viewer = server.token("vera", Role::Viewer, None).await;
    let a = server.ui_login(&viewer).await;
    let b = server.ui_login(&viewer).await;
    let (id_a, id_b) = (session_id(&a), session_id(&b));
    assert!(id_a.starts_with("sws_") && id_a.len() == 4 + 64, "{id_a}");
    assert_ne!(id_a, id_b, "every login is a new session");
    for id in [&id_a, &id_b] {
        assert!(!id.contains(&viewer) && !id.contains(&viewer[3..]));
    }
    let (stored, token) = server
        .state
        .store
        .session_by_hash(&sha256_hex(id_a.as_bytes()))
        .await
        .expect("store")
        .expect("the session is kept in the store");
    assert_eq!(token.name, "vera");
    assert_eq!(stored.created_ms, common::T0);
    assert_eq!(stored.expires_ms, common::T0 + 12 * 60 * MINUTE);
    assert_eq!(stored.idle_until_ms, common::T0 + 30 * MINUTE);
    assert!(
        server
            .state
            .store
            .session_by_hash(&id_a)
            .await
            .expect("store")
            .is_none(),
        "the id itself is not a key"
    );
    // The token itself is no longer a session cookie.
    let forged = UiSession {
        cookie: format!("seawall_session={viewer}"),
        ..a.clone()
    };
    sent_to_login(&forged.get("/ui/").await, "expired");
    assert_eq!(a.get("/ui/").await.status, StatusCode::OK);
    // The login and the logout are audited, never with the id.
    let r = a.post_form("/ui/logout", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let audit: Value = server
        .admin()
        .get("/api/v1/audit?limit=100")
        .await
        .json()
        .expect("json");
    let text = audit.to_string();
    assert!(text.contains("session.start") && text.contains("session.end"));
    assert!(!text.contains(&id_a) && !text.contains(&sha256_hex(id_a.as_bytes())));
}

#[tokio::test]
async fn logout_ends_the_session_on_the_server() {
    let server = TestServer::start().await;
    let viewer = server.token("vera", Role::Viewer, None).await;
    let ui = server.ui_login(&viewer).await;
    let other = server.ui_login(&viewer).await;
    assert_eq!(ui.get("/ui/").await.status, StatusCode::OK);
    let r = ui.post_form("/ui/logout", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    // A copy of the cookie kept after logout opens nothing.
    sent_to_login(&ui.get("/ui/").await, "expired");
    let r = ui.post_form("/ui/theme", &[("theme", "dark")]).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Only that session ended.
    assert_eq!(other.get("/ui/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_unused_session_ends_after_the_idle_time() {
    let server = TestServer::start().await;
    let viewer = server.token("vera", Role::Viewer, None).await;
    let ui = server.ui_login(&viewer).await;
    // Used every 20 minutes, it lives on past 30 minutes.
    for _ in 0..4 {
        server.clock.advance(20 * MINUTE);
        assert_eq!(ui.get("/ui/").await.status, StatusCode::OK);
    }
    // 30 minutes unused: ended.
    server.clock.advance(30 * MINUTE);
    sent_to_login(&ui.get("/ui/").await, "expired");
}

#[tokio::test]
async fn a_session_ends_after_its_absolute_lifetime_even_when_used() {
    let server = TestServer::start().await;
    let viewer = server.token("vera", Role::Viewer, None).await;
    let ui = server.ui_login(&viewer).await;
    // 11 h 50 min of use every 10 minutes.
    for _ in 0..71 {
        server.clock.advance(10 * MINUTE);
        assert_eq!(ui.get("/ui/").await.status, StatusCode::OK);
    }
    server.clock.advance(10 * MINUTE);
    sent_to_login(&ui.get("/ui/").await, "expired");
}

#[tokio::test]
async fn revoking_the_token_ends_its_sessions_in_the_store() {
    let server = TestServer::start().await;
    let viewer = server.token("vera", Role::Viewer, None).await;
    let ui = server.ui_login(&viewer).await;
    let hash = sha256_hex(session_id(&ui).as_bytes());
    let id = token_id(&server, "vera").await;
    server.clock.advance(MINUTE);
    let r = server.admin().delete(&format!("/api/v1/tokens/{id}")).await;
    assert!(r.status.is_success(), "{}", r.text());
    let (stored, _) = server
        .state
        .store
        .session_by_hash(&hash)
        .await
        .expect("store")
        .expect("kept until the next sweep");
    assert_eq!(
        stored.expires_ms,
        common::T0 + MINUTE,
        "the revocation ended the session in the store"
    );
    sent_to_login(&ui.get("/ui/").await, "revoked");
}

#[tokio::test]
async fn an_expired_token_ends_its_sessions() {
    let server = TestServer::start().await;
    let r = server
        .admin()
        .post(
            "/api/v1/tokens",
            &json!({"name": "brief", "role": "viewer", "expires_in_seconds": 600}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let secret = r.json::<Value>().expect("json")["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let ui = server.ui_login(&secret).await;
    server.clock.advance(9 * MINUTE);
    assert_eq!(ui.get("/ui/").await.status, StatusCode::OK);
    server.clock.advance(MINUTE);
    sent_to_login(&ui.get("/ui/").await, "expired");
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_server_speaks_tls() {
    let server = TestServer::start_tweaked(|s| s.with_secure_cookies(true)).await;
    let viewer = server.token("vera", Role::Viewer, None).await;
    let client = server.api(None).client;
    let r = client
        .send_raw(
            http::Method::POST,
            "/ui/login",
            &[(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded".into(),
            )],
            format!("token={viewer}").into(),
        )
        .await
        .expect("login");
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let cookie = r.headers[header::SET_COOKIE].to_str().expect("ascii");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
}

#[tokio::test]
async fn the_cookie_is_secure_on_a_real_https_server() {
    let dir = common::TempDir::new();
    let pki = crate::tls::Pki::new(
        dir.path(),
        "session",
        "seawall session test CA",
        &["localhost"],
    );
    let store = seawall_store::open(&seawall_store::StoreSpec::Sqlite(
        dir.path().join("seawall.db"),
    ))
    .await
    .expect("open store");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server = seawall_server::Server::with_state(
        listener,
        seawall_server::AppState::new(store, dir.path()),
    )
    .await
    .expect("server")
    .with_tls(&pki.tls)
    .expect("certificate and key");
    let admin = server
        .bootstrap_token()
        .expect("first start")
        .secret
        .clone();
    let port = server.local_addr().expect("addr").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    let client = seawall_server::client::Client::new_with_ca(
        &format!("https://localhost:{port}"),
        Some(&pki.ca),
    )
    .expect("client");
    let r = client
        .send_raw(
            http::Method::POST,
            "/ui/login",
            &[(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded".into(),
            )],
            format!("token={admin}").into(),
        )
        .await
        .expect("login over https");
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
    let cookie = r.headers[header::SET_COOKIE].to_str().expect("ascii");
    assert!(cookie.contains("; Secure"), "{cookie}");
    let _ = stop.send(());
    let _ = running.await;
}
