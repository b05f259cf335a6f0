//! The web UI's login, session cookie, CSRF and security headers, over
//! real HTTP against a real server.

use crate::common;

use common::{TestServer, UiSession};
use http::{Method, StatusCode, header};
use seawall_server::client::{Client, Response};
use seawall_store::Role;

fn text(r: &seawall_server::client::Response) -> String {
    r.text()
}

/// POST the login form with `body` as it is.
async fn login_form(client: &Client, body: String) -> Response {
    client
        .send_raw(
            Method::POST,
            "/ui/login",
            &[(
                header::CONTENT_TYPE,
                "application/x-www-form-urlencoded".into(),
            )],
            body.into(),
        )
        .await
        .expect("login")
}

#[tokio::test]
async fn login_sets_a_strict_http_only_cookie_and_lands_on_next() {
    let server = TestServer::start().await;
    let viewer = server.token("vera", Role::Viewer, None).await;
    let client = server.api(None).client;
    let r = login_form(&client, format!("token={viewer}&next=%2Fui%2Fevents%2Fx")).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers[header::LOCATION], "/ui/events/x");
    let cookie = r.headers[header::SET_COOKIE].to_str().expect("ascii");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=43200"] {
        assert!(cookie.contains(part), "{cookie} lacks {part}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http must not mark it Secure"
    );

    // The event list needs the session and names the user and role.
    let ui = server.ui_login(&viewer).await;
    let page = ui.get("/ui/").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = text(&page);
    assert!(html.contains("vera"), "{html}");
    assert!(html.contains("viewer"));
    assert!(html.contains("No event yet"));
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("csp");
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert_eq!(page.headers[header::X_FRAME_OPTIONS], "DENY");
    // Not no-referrer: with it browsers send `Origin: null` on form posts,
    // which the same-origin check must refuse.
    assert_eq!(page.headers[header::REFERRER_POLICY], "same-origin");
}

#[tokio::test]
async fn a_bad_token_stays_on_the_login_page_with_the_reason() {
    let server = TestServer::start().await;
    let client = server.api(None).client;
    for (token, needle) in [("nope", "start with `sw_`"), ("sw_0000", "unknown token")] {
        let r = login_form(&client, format!("token={token}")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.headers.get(header::SET_COOKIE).is_none());
        assert!(text(&r).contains(needle), "{}", text(&r));
    }
    // A form without the token field is a 400 page, not a crash.
    let r = login_form(&client, "next=%2Fui%2F".into()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(text(&r).contains("token"));
}

#[tokio::test]
async fn pages_without_a_session_redirect_to_login_and_come_back() {
    let server = TestServer::start().await;
    let client = server.api(None).client;
    let r = client.get("/ui/?line=ride&sort=a%20b").await.expect("get");
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers[header::LOCATION],
        "/ui/login?next=/ui/%3Fline%3Dride%26sort%3Da%2520b"
    );
    // htmx requests get HX-Redirect instead of a login page swapped in.
    let r = client
        .send_raw(
            Method::GET,
            "/ui/",
            &[(http::HeaderName::from_static("hx-request"), "true".into())],
            Default::default(),
        )
        .await
        .expect("get");
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers["hx-redirect"], "/ui/login?next=/ui/");
    // The root goes to the UI; the login page and assets need no session.
    let r = client.get("/").await.expect("get");
    assert_eq!(r.headers[header::LOCATION], "/ui/");
    let r = client.get("/ui/login").await.expect("get");
    assert_eq!(r.status, StatusCode::OK);
    assert!(text(&r).contains("API token"));
    let r = client
        .get("/ui/assets/htmx-2.0.11.min.js")
        .await
        .expect("get");
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.len() > 40_000);
    let r = client.get("/ui/assets/seawall-1.css").await.expect("get");
    assert!(text(&r).contains("theme-warroom"));
}

#[tokio::test]
async fn revoking_the_token_ends_its_sessions() {
    let server = TestServer::start().await;
    let viewer = server.token("vera", Role::Viewer, None).await;
    let ui = server.ui_login(&viewer).await;
    assert_eq!(ui.get("/ui/").await.status, StatusCode::OK);
    let tokens: serde_json::Value = server
        .admin()
        .get("/api/v1/tokens")
        .await
        .json()
        .expect("json");
    let id = tokens["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["name"] == "vera")
        .expect("vera")["id"]
        .as_i64()
        .expect("id");
    let r = server.admin().delete(&format!("/api/v1/tokens/{id}")).await;
    assert!(r.status.is_success(), "{}", r.text());
    let r = ui.get("/ui/").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        r.headers[header::LOCATION],
        "/ui/login?next=/ui/&why=revoked"
    );
}

#[tokio::test]
async fn forms_need_the_session_csrf_token_and_the_same_origin() {
    let server = TestServer::start().await;
    let viewer = server.token("vera", Role::Viewer, None).await;
    let ui = server.ui_login(&viewer).await;
    // Missing or wrong CSRF token: 403, no cookie change.
    for fields in [
        vec![("theme", "dark")],
        vec![("csrf", "00"), ("theme", "dark")],
    ] {
        let r = ui.post_form_exact("/ui/theme", &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{fields:?}");
        assert!(r.headers.get(header::SET_COOKIE).is_none());
        assert!(text(&r).contains("CSRF"));
    }
    // Another session's token is refused too.
    let other = server.token("otto", Role::Viewer, None).await;
    let other = server.ui_login(&other).await;
    let r = ui
        .post_form_exact("/ui/theme", &[("csrf", &other.csrf), ("theme", "dark")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The right one sets the theme and comes back.
    let r = ui
        .post_form("/ui/theme", &[("theme", "warroom"), ("next", "/ui/")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let set = r.headers[header::SET_COOKIE].to_str().expect("ascii");
    assert!(set.starts_with("seawall_theme=warroom;"), "{set}");
    let themed = UiSession {
        cookie: format!("{}; seawall_theme=warroom", ui.cookie),
        ..ui.clone()
    };
    assert!(text(&themed.get("/ui/").await).contains("class=\"theme-warroom\""));
    // A cross-site form post is refused before the handler runs.
    let r = ui
        .client
        .send_raw(
            Method::POST,
            "/ui/theme",
            &[
                (header::COOKIE, ui.cookie.clone()),
                (
                    header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded".into(),
                ),
                (header::ORIGIN, "https://evil.example".into()),
            ],
            format!("csrf={}&theme=dark", ui.csrf).into(),
        )
        .await
        .expect("post");
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(text(&r).contains("Origin"));
    // Logout clears the cookie.
    let r = ui.post_form("/ui/logout", &[]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.headers[header::SET_COOKIE]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn unknown_pages_and_events_are_html_404s() {
    let server = TestServer::start().await;
    let ui = server.ui_login(&server.admin).await;
    let r = ui.get("/ui/no/such/page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
    assert!(text(&r).contains("no such page"));
}
