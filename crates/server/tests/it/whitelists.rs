//! Gray-release whitelists over real HTTP: an upload stored as the next
//! version and listed; bad ids (with their line and column), a wrong
//! content type and an oversized note refused with nothing stored; the
//! long poll answers the whole set, then the change from the version the
//! sidecar has, and a sidecar token follows only its own service.

use bytes::Bytes;
use seawall_api::ClientError;
use seawall_api::whitelists::WhitelistPoll;
use seawall_guard::whitelist::{Delta, Whitelist};
use seawall_store::Role;

use crate::common::TestServer;

fn api_code(e: &ClientError) -> (u16, Option<&str>) {
    match e {
        ClientError::Api { status, code, .. } => (*status, code.as_deref()),
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_versioned_judged_and_followed_as_deltas() {
    let server = TestServer::start().await;
    let admin = server.admin().client;
    let ids: String = (1..=5000u64).map(|i| format!("{i}\n")).collect();
    let v1 = admin
        .upload_whitelist(
            "shop",
            Bytes::from(format!("# staff\n{ids}alice\n")),
            Some("staff"),
        )
        .await
        .expect("upload");
    assert_eq!((v1.version, v1.count, v1.note.as_str()), (1, 5001, "staff"));

    // Refused uploads store nothing.
    let bad = admin
        .upload_whitelist("shop", Bytes::from_static(b"1\n2\n  bob smith\n"), None)
        .await
        .expect_err("a space inside an id");
    assert_eq!(api_code(&bad), (422, Some("invalid_whitelist")));
    if let ClientError::Api { details, .. } = &bad {
        assert_eq!(details, &Some(serde_json::json!({"line": 3, "column": 6})));
    }
    let not_text = admin
        .client_send_json_whitelist("shop")
        .await
        .expect_err("JSON is not a whitelist");
    assert_eq!(api_code(&not_text).0, 415);
    let long_note = "n".repeat(2001);
    let e = admin
        .upload_whitelist("shop", Bytes::from_static(b"1\n"), Some(&long_note))
        .await
        .expect_err("note too long");
    assert_eq!(api_code(&e), (422, Some("too_long")));
    let history = admin.whitelist_history("shop").await.expect("history");
    assert_eq!(history.versions, vec![v1.clone()]);

    // The first poll gets the whole set.
    let sidecar = server
        .token("shop-sidecar", Role::Sidecar, Some("shop"))
        .await;
    let follower = server.api(Some(&sidecar)).client;
    let WhitelistPoll::Set(bytes) = follower.guard_whitelist("shop", 0, 0).await.expect("poll")
    else {
        panic!("a whitelist exists");
    };
    let full = Delta::decode(&bytes).expect("wire form");
    assert_eq!((full.base, full.version, full.count), (0, 1, 5001));
    let have = Whitelist::default().apply(&full).expect("applies");
    assert!(have.contains("4999") && have.contains("alice") && !have.contains("5001"));
    assert_eq!(
        follower.guard_whitelist("shop", 1, 0).await.expect("poll"),
        WhitelistPoll::Unchanged
    );

    // A new version arrives as the change from the one the sidecar has.
    let v2 = admin
        .upload_whitelist("shop", Bytes::from(format!("{ids}5001\n")), None)
        .await
        .expect("upload");
    assert_eq!(v2.version, 2);
    let WhitelistPoll::Set(bytes) = follower.guard_whitelist("shop", 1, 0).await.expect("poll")
    else {
        panic!("version 2 is newer");
    };
    let delta = Delta::decode(&bytes).expect("wire form");
    assert_eq!((delta.base, delta.version), (1, 2));
    assert_eq!((delta.added.len(), delta.removed.len()), (1, 1));
    let now = have.apply(&delta).expect("applies");
    assert!(now.contains("5001") && !now.contains("alice"));
    assert!(
        bytes.len() < 100,
        "a delta of two ids is small: {} bytes",
        bytes.len()
    );

    // A sidecar follows its own service only, and cannot upload.
    let e = follower
        .guard_whitelist("pay", 0, 0)
        .await
        .expect_err("other service");
    assert_eq!(api_code(&e).0, 403);
    let e = follower
        .upload_whitelist("shop", Bytes::from_static(b"1\n"), None)
        .await
        .expect_err("sidecars do not upload");
    assert_eq!(api_code(&e).0, 403);

    // The ids are people's: only the service's sidecars and the planners
    // who upload them read the set; readers see its versions alone.
    for role in [Role::Viewer, Role::Oncall] {
        let token = server
            .token(&format!("reader-{}", role.as_str()), role, None)
            .await;
        let reader = server.api(Some(&token)).client;
        let e = reader
            .guard_whitelist("shop", 0, 0)
            .await
            .expect_err("readers do not read the ids");
        assert_eq!(api_code(&e).0, 403, "{role:?}");
        let history = reader.whitelist_history("shop").await.expect("versions");
        assert_eq!(history.versions.len(), 2, "{role:?}");
    }
    server.stop().await.expect("stop");
}

/// The JSON upload a confused client might send.
trait SendJson {
    async fn client_send_json_whitelist(&self, service: &str) -> Result<(), ClientError>;
}

impl SendJson for seawall_api::Client {
    async fn client_send_json_whitelist(&self, service: &str) -> Result<(), ClientError> {
        self.send(
            http::Method::PUT,
            &format!("/api/v1/guard/services/{service}/whitelist"),
            Some(("application/json", Bytes::from_static(b"[\"1\"]"))),
        )
        .await?
        .expect_empty(201)
    }
}

/// An upstream that says who it is and the test tag it got.
async fn named_upstream(name: &'static str) -> std::net::SocketAddr {
    let app = axum::Router::new().fallback(move |headers: http::HeaderMap| async move {
        let tag = headers
            .get("x-seawall-test")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned();
        format!("{name} {tag}")
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

/// What the sidecar's upstream answered for user `user`.
async fn routed(proxy: std::net::SocketAddr, user: &str) -> String {
    let r = seawall_api::Client::new(&format!("http://{proxy}"))
        .expect("client")
        .send_raw(
            http::Method::GET,
            "/",
            &[(http::HeaderName::from_static("x-user-id"), user.to_owned())],
            Bytes::new(),
        )
        .await
        .expect("through the sidecar");
    r.text()
}

/// Waits (bounded) until user `user` is answered `want`; how long it took.
async fn until_routed(
    proxy: std::net::SocketAddr,
    user: &str,
    want: &str,
    limit: std::time::Duration,
) -> std::time::Duration {
    let started = std::time::Instant::now();
    loop {
        let got = routed(proxy, user).await;
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "user {user}: {got:?}, not {want:?}, after {limit:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_following_sidecar_routes_the_new_versions_ids_to_gray_as_shadow_traffic() {
    use std::time::Duration;
    let server = TestServer::start().await;
    let admin = server.admin().client;
    let rules = serde_json::json!({"rules": {
        "version": 1,
        "upstreams": {"gray": {"shadow_safe": true}},
        "gray": {"id": "gray.beta", "isolation": "shadow"},
        "resources": []}, "note": "gray release"});
    admin
        .send(
            http::Method::PUT,
            "/api/v1/guard/services/order-api/rules",
            Some(("application/json", Bytes::from(rules.to_string()))),
        )
        .await
        .expect("put rules")
        .expect::<serde_json::Value>(201)
        .expect("the rules are stored");
    let first: String = (1..=2000u64).map(|i| format!("{i}\n")).collect();
    admin
        .upload_whitelist("order-api", Bytes::from(first), None)
        .await
        .expect("v1");

    let token = server
        .token("order-sidecar", Role::Sidecar, Some("order-api"))
        .await;
    let (primary, gray) = (
        named_upstream("primary").await,
        named_upstream("gray").await,
    );
    let dir = crate::common::TempDir::new();
    let mut config = seawall_sidecar::Config::new(
        "127.0.0.1:0".parse().expect("addr"),
        &format!("http://{primary}"),
        dir.path().join("rules.json"),
    )
    .expect("config");
    config.gray_upstream =
        Some(seawall_sidecar::Upstream::parse(&format!("http://{gray}")).expect("gray url"));
    config.control = Some(
        seawall_sidecar::Control::new(&server.base, "order-api", &token, "sc-1").expect("control"),
    );
    let sidecar = seawall_sidecar::Sidecar::bind(config)
        .await
        .expect("the sidecar starts");
    let proxy = sidecar.local_addr().expect("addr");
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(sidecar.run(async move {
        let _ = stop_rx.await;
    }));

    // Version 1 arrives: a listed user goes to gray, tagged as shadow
    // traffic; an unlisted one to the primary, untagged.
    until_routed(proxy, "1500", "gray gray", Duration::from_secs(10)).await;
    assert_eq!(routed(proxy, "3000").await, "primary -");
    assert_eq!(routed(proxy, "").await, "primary -");

    // Version 2 replaces the set: followed within two seconds.
    let second: String = (2001..=4000u64).map(|i| format!("{i}\n")).collect();
    admin
        .upload_whitelist("order-api", Bytes::from(second), None)
        .await
        .expect("v2");
    let took = until_routed(proxy, "3000", "gray gray", Duration::from_secs(2)).await;
    assert_eq!(routed(proxy, "1500").await, "primary -");
    assert!(took < Duration::from_secs(2), "{took:?}");

    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), running).await;
    server.stop().await.expect("stop");
}
