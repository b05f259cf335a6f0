//! The built-in scrape connects only to admin addresses a sidecar may
//! name (`service::monitoring::admission`): its own address as the
//! control plane sees the connection, or one in a `--scrape-allow`
//! network, never link-local ones. Real HTTP on loopback: the reports go
//! through the server's listener, the scrape to listeners that count the
//! connections they get.

use crate::common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{TestServer, event_with};
use http::{Method, StatusCode};
use seawall_server::AppState;
use seawall_server::service::monitoring::{self, MonitorOptions};
use seawall_sidecar::PeerNet;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn by_hand(state: AppState) -> AppState {
    state.with_monitoring(MonitorOptions {
        scrape_interval: Duration::from_secs(1),
        ..MonitorOptions::default()
    })
}

fn allowing_127_0_0_2(state: AppState) -> AppState {
    state.with_monitoring(MonitorOptions {
        scrape_interval: Duration::from_secs(1),
        scrape_allow: vec![PeerNet::parse("127.0.0.2/32").expect("cidr")],
        ..MonitorOptions::default()
    })
}

/// A stand-in admin port on `ip` answering every connection with an
/// empty `/metrics` page; the count is of connections accepted.
async fn counting(ip: &str) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((ip.parse::<IpAddr>().expect("ip"), 0))
        .await
        .expect("bind a loopback address");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\n\
                          content-length: 0\r\nconnection: close\r\n\r\n",
                    )
                    .await;
            });
        }
    });
    (addr, count)
}

/// Report `instance` of order-api with `admin_addr`, as its sidecar
/// token, over the server's real listener (from 127.0.0.1).
async fn report(server: &TestServer, token: &str, instance: &str, admin_addr: &str) {
    let body = json!({"service": "order-api", "instance": instance, "version": 0,
                      "admin_addr": admin_addr});
    let r = server
        .api(Some(token))
        .client
        .send(
            Method::POST,
            "/api/v1/guard/applied",
            Some((
                "application/json",
                serde_json::to_vec(&body).expect("json").into(),
            )),
        )
        .await
        .expect("the report is answered");
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text());
}

/// The admin address stored for `instance`.
async fn stored(server: &TestServer, instance: &str) -> Option<String> {
    server
        .state
        .store
        .sidecar_reports("order-api")
        .await
        .expect("reports")
        .into_iter()
        .find(|r| r.instance == instance)
        .expect("the report is stored")
        .admin_addr
}

async fn tick(server: &TestServer) {
    server.clock.advance(1_000);
    monitoring::tick(&server.state, server.clock.now())
        .await
        .expect("tick");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidecar_token_cannot_point_the_scrape_at_metadata_or_another_host() {
    let server = TestServer::start_tweaked(by_hand).await;
    event_with(&server, "live", "Live", common::PLAN).await;
    let token = server
        .token("sidecar", seawall_store::Role::Sidecar, Some("order-api"))
        .await;
    let (own, own_hits) = counting("127.0.0.1").await;
    let (other, other_hits) = counting("127.0.0.2").await;

    report(&server, &token, "pod-meta", "169.254.169.254:80").await;
    report(&server, &token, "pod-v6", "[fe80::1]:9901").await;
    report(&server, &token, "pod-other", &other.to_string()).await;
    report(
        &server,
        &token,
        "pod-name",
        &format!("localhost:{}", own.port()),
    )
    .await;
    report(&server, &token, "pod-own", &own.to_string()).await;

    // The reports are recorded (the sidecars keep following), their
    // refused addresses are not.
    for instance in ["pod-meta", "pod-v6", "pod-other", "pod-name"] {
        assert_eq!(stored(&server, instance).await, None, "{instance}");
    }
    assert_eq!(stored(&server, "pod-own").await, Some(own.to_string()));

    // Each refusal is audited with the address, the peer and the reason.
    let audit = server.state.store.audit(0, 1_000).await.expect("audit");
    let refused: Vec<serde_json::Value> = audit
        .iter()
        .filter(|e| e.action == "sidecar.admin_addr_refused")
        .map(|e| serde_json::from_str(&e.detail).expect("detail json"))
        .collect();
    assert_eq!(refused.len(), 4, "{refused:?}");
    let meta = refused
        .iter()
        .find(|d| d["instance"] == "pod-meta")
        .expect("the metadata refusal");
    assert_eq!(meta["admin_addr"], "169.254.169.254:80");
    assert_eq!(meta["peer"], "127.0.0.1");
    assert!(
        meta["reason"]
            .as_str()
            .expect("reason")
            .contains("link-local"),
        "{meta}"
    );
    let other_refusal = refused
        .iter()
        .find(|d| d["instance"] == "pod-other")
        .expect("the other host's refusal");
    assert!(
        other_refusal["reason"]
            .as_str()
            .expect("reason")
            .contains("not the reporting connection's address 127.0.0.1"),
        "{other_refusal}"
    );

    // The scrape reaches the sidecar's own address and nothing else.
    tick(&server).await;
    tick(&server).await;
    assert!(
        own_hits.load(Ordering::SeqCst) >= 1,
        "its own address is scraped"
    );
    assert_eq!(other_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_network_admits_another_hosts_address_and_still_refuses_metadata() {
    let server = TestServer::start_tweaked(allowing_127_0_0_2).await;
    event_with(&server, "live", "Live", common::PLAN).await;
    let token = server
        .token("sidecar", seawall_store::Role::Sidecar, Some("order-api"))
        .await;
    let (behind_nat, hits) = counting("127.0.0.2").await;
    report(&server, &token, "pod-nat", &behind_nat.to_string()).await;
    report(&server, &token, "pod-meta", "169.254.169.254:80").await;
    assert_eq!(
        stored(&server, "pod-nat").await,
        Some(behind_nat.to_string())
    );
    assert_eq!(stored(&server, "pod-meta").await, None);
    tick(&server).await;
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}
