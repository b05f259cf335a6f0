//! Cluster-quota leases over real HTTP: who may lease (a sidecar token of
//! the service, or admin — never a sidecar token of another service, nor a
//! viewer), the limits taken from the stored rules, not the sidecar, and
//! leases left out of the per-token write rate; two replicas on one
//! PostgreSQL leasing from one bucket; and three real sidecars
//! on loopback holding one cluster limit, then falling back when the
//! control plane stops.

use crate::common;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::TestServer;
use http::{Method, StatusCode};
use seawall_server::state::Limits;
use seawall_store::Role;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn few_writes(s: seawall_server::AppState) -> seawall_server::AppState {
    s.with_limits(Limits {
        write_rate: NonZeroU32::MIN,
        write_burst: NonZeroU32::MIN.saturating_add(5),
        ..Limits::default()
    })
}

async fn send(server: &TestServer, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
    let r = server
        .api(Some(token))
        .client
        .send(
            Method::POST,
            path,
            Some((
                "application/json",
                serde_json::to_vec(&body).expect("json").into(),
            )),
        )
        .await
        .expect("request");
    (r.status, r.json().unwrap_or(Value::Null))
}

/// Stores `rules` as order-api's next version.
async fn put_rules(admin: &seawall_server::client::Client, rules: Value) {
    let body = json!({"rules": rules, "note": "one limit for every sidecar"});
    let r = admin
        .send(
            Method::PUT,
            "/api/v1/guard/services/order-api/rules",
            Some((
                "application/json",
                serde_json::to_vec(&body).expect("json").into(),
            )),
        )
        .await
        .expect("put");
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
}

fn ask(service: &str, instance: &str) -> Value {
    json!({"service": service, "instance": instance, "asks": [
        {"rule_id": "orders.cluster", "tokens": 1000, "demand": 2000.0},
        {"rule_id": "orders.local", "tokens": 5, "demand": 5.0},
    ]})
}

#[tokio::test]
async fn only_the_services_sidecars_and_admin_lease() {
    let server = TestServer::start_tweaked(few_writes).await;
    let rules = json!({
        "version": 1,
        "resources": [{
            "name": "orders",
            "routes": [{"path": "/api/orders"}],
            "flow": [
                {"id": "orders.cluster", "count": 900, "scope": "cluster"},
                {"id": "orders.local", "count": 50}
            ]
        }]
    });
    let admin = server.admin();
    put_rules(&admin.client, rules).await;
    let order = server
        .token("order-sidecar", Role::Sidecar, Some("order-api"))
        .await;
    let pay = server
        .token("pay-sidecar", Role::Sidecar, Some("pay-api"))
        .await;
    let viewer = server.token("watcher", Role::Viewer, None).await;

    // The service's own sidecar: the bucket's depth (0.2 s of 900), the
    // count from the stored rules; a local rule is not leased.
    let (status, lease) = send(
        &server,
        &order,
        "/api/v1/guard/lease",
        ask("order-api", "pod-a"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{lease}");
    assert_eq!(lease["version"], 1);
    assert_eq!(lease["ttl_ms"], 500);
    assert_eq!(lease["instances"], 1);
    assert_eq!(lease["grants"][0]["tokens"], 180);
    assert_eq!(lease["grants"][0]["count"], 900.0);
    assert_eq!(lease["grants"][1]["tokens"], 0);
    assert!(lease["grants"][1].get("count").is_none(), "{lease}");

    // Another service's sidecar token is refused, for this service's
    // bucket and whatever it claims; so is a viewer.
    let (status, body) = send(
        &server,
        &pay,
        "/api/v1/guard/lease",
        ask("order-api", "pod-x"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = send(
        &server,
        &viewer,
        "/api/v1/guard/lease",
        ask("order-api", "pod-v"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The refused ones counted as no instance.
    let (status, lease) = send(
        &server,
        &server.admin,
        "/api/v1/guard/lease",
        ask("order-api", "pod-b"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{lease}");
    assert_eq!(lease["instances"], 2);

    // Leases do not use up the token's writes (a burst of 6 here)…
    for i in 0..10 {
        let (status, body) = send(
            &server,
            &order,
            "/api/v1/guard/lease",
            ask("order-api", "pod-a"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "lease {i}: {body}");
    }
    // …and bad asks are refused.
    let mut bad = ask("order-api", "pod-a");
    bad["asks"][0]["demand"] = json!(-1.0);
    let (status, _) = send(&server, &order, "/api/v1/guard/lease", bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = send(&server, &order, "/api/v1/guard/lease", ask("order-api", "")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// `rate` requests a second to `proxy` over `conns` keep-alive
/// connections, each request at its due time from `t0` (or at once when
/// late) until `secs` have passed; counts the admitted (200) and all sent
/// per 100 ms slot of their due time.
async fn offer(
    proxy: SocketAddr,
    rate: u64,
    conns: u64,
    t0: Instant,
    secs: u64,
) -> (Vec<u64>, u64) {
    let slots = (secs * 10) as usize;
    let admitted: Arc<Vec<AtomicU64>> = Arc::new((0..slots).map(|_| AtomicU64::new(0)).collect());
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..conns {
        let admitted = Arc::clone(&admitted);
        let sent = Arc::clone(&sent);
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(proxy).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let mut buf = Vec::with_capacity(4096);
            for k in 0.. {
                let n = k * conns + c;
                let due = Duration::from_nanos(n * 1_000_000_000 / rate);
                if due >= Duration::from_secs(secs) {
                    break;
                }
                tokio::time::sleep_until((t0 + due).into()).await;
                stream
                    .write_all(b"GET /api/orders HTTP/1.1\r\nhost: orders\r\n\r\n")
                    .await
                    .expect("send");
                let status = read_response(&mut stream, &mut buf).await;
                sent.fetch_add(1, Ordering::Relaxed);
                if status == 200 {
                    let slot = (due.as_millis() / 100) as usize;
                    admitted[slot].fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    (
        admitted.iter().map(|a| a.load(Ordering::Relaxed)).collect(),
        sent.load(Ordering::Relaxed),
    )
}

/// Reads one response (head and a `content-length` body); its status.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> u16 {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let status: u16 = head
                .get(9..12)
                .and_then(|s| s.parse().ok())
                .expect("a status line");
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let whole = end + 4 + length;
            if buf.len() >= whole {
                buf.drain(..whole);
                return status;
            }
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("an answer within 5 s")
            .expect("read");
        assert!(n > 0, "the sidecar closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn status_of(admin: SocketAddr) -> Value {
    let r = seawall_server::client::Client::new(&format!("http://{admin}"))
        .expect("client")
        .get("/status")
        .await
        .expect("status");
    r.json().expect("json")
}

async fn metric(admin: SocketAddr, line_start: &str) -> Option<f64> {
    let r = seawall_server::client::Client::new(&format!("http://{admin}"))
        .expect("client")
        .get("/metrics")
        .await
        .expect("metrics");
    String::from_utf8_lossy(&r.body)
        .lines()
        .find_map(|l| l.strip_prefix(line_start)?.trim().parse().ok())
}

/// The test: three sidecars under one cluster limit of 900 QPS,
/// offered 2,000 / 500 / 100: 900 ± 3 % admitted in total; then the
/// control plane stops, and in every second after that the total stays
/// at or below 900 (each falls back to 900 ÷ 3, and says so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_sidecars_hold_a_cluster_limit_and_fall_back_when_the_control_plane_stops() {
    let dir = common::TempDir::new();
    let (addr, stop_server, serving) =
        crate::rules::start_server(dir.path(), "127.0.0.1:0".parse().expect("addr")).await;
    let base = format!("http://{addr}");
    let admin_token = std::fs::read_to_string(dir.path().join("admin-token"))
        .expect("admin-token")
        .trim()
        .to_owned();
    let admin = seawall_server::client::Client::new(&base)
        .expect("client")
        .with_token(&admin_token);
    let rules = json!({"version": 1, "resources": [{
        "name": "orders",
        "routes": [{"path": "/api/orders"}],
        "flow": [{"id": "orders.cluster", "count": 900, "scope": "cluster"}]
    }]});
    put_rules(&admin, rules).await;
    let r = admin
        .post_json(
            "/api/v1/tokens",
            &json!({"name": "orders-sidecar", "role": "sidecar", "service": "order-api"}),
        )
        .await
        .expect("token");
    let token = r.json::<Value>().expect("json")["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let mut sidecars = Vec::new();
    for i in 1..=3 {
        let path = dir.path().join(format!("rules-{i}.json"));
        sidecars.push(crate::rules::follow(&base, &token, &format!("pod-{i}"), &path).await);
    }
    // Every sidecar leasing, and knowing of the other two.
    let ready = Instant::now();
    for s in &sidecars {
        loop {
            let st = status_of(s.admin).await;
            let q = &st["cluster"]["quotas"][0];
            if q["mode"] == "leased" && q["instances"] == 3 {
                break;
            }
            assert!(
                ready.elapsed() < Duration::from_secs(10),
                "not leasing: {st}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // 10 s of traffic: 2 s to settle, 6 s measured (the bucket keeps up
    // to half its 0.2 s in stock, ±90 tokens, ±15 a second over 6 s), the
    // control plane stopped at 8 s, 2 s measured after that.
    let t0 = Instant::now() + Duration::from_millis(50);
    let plan = [(2000, 16), (500, 4), (100, 1)];
    let senders: Vec<_> = sidecars
        .iter()
        .zip(plan)
        .map(|(s, (rate, conns))| tokio::spawn(offer(s.proxy, rate, conns, t0, 10)))
        .collect();
    tokio::time::sleep_until((t0 + Duration::from_secs(8)).into()).await;
    let _ = stop_server.send(());
    let mut per = Vec::new();
    for s in senders {
        per.push(s.await.expect("offer"));
    }
    let sum = |from: usize, to: usize| -> u64 {
        per.iter()
            .map(|(slots, _)| slots[from..to].iter().sum::<u64>())
            .sum()
    };
    let leased = sum(20, 80) as f64 / 6.0;
    let sent: Vec<u64> = per.iter().map(|(_, s)| *s).collect();
    let split: Vec<u64> = per
        .iter()
        .map(|(slots, _)| slots[20..80].iter().sum::<u64>() / 6)
        .collect();
    eprintln!("leased: {leased:.1}/s admitted (per sidecar {split:?}/s), sent {sent:?} in 10 s");
    assert!(
        (873.0..=927.0).contains(&leased),
        "admitted {leased:.1}/s in total under a cluster limit of 900 (per sidecar {split:?}/s)"
    );
    // With the control plane gone: every second-long window after the
    // stop, in 100 ms steps, at or below the limit.
    for from in 80..=90 {
        let total = sum(from, from + 10);
        assert!(
            total <= 900,
            "{total} admitted in the second from {:.1} s, after the control plane stopped",
            from as f64 / 10.0
        );
    }
    let fallback = sum(90, 100);
    eprintln!("fallback: {fallback}/s admitted in the last second");
    // And each sidecar says so.
    for s in &sidecars {
        let st = status_of(s.admin).await;
        assert_eq!(st["cluster"]["control"], "unreachable", "{st}");
        assert_eq!(st["cluster"]["quotas"][0]["mode"], "fallback", "{st}");
        assert_eq!(st["cluster"]["quotas"][0]["fallback_qps"], 300.0, "{st}");
        assert!(st["cluster"]["last_error"].is_string(), "{st}");
        assert_eq!(
            metric(
                s.admin,
                "seawall_sidecar_cluster_fallback{rule=\"orders.cluster\"}"
            )
            .await,
            Some(1.0)
        );
    }
    for s in sidecars {
        let _ = s.stop.send(());
        let _ = s.running.await;
    }
    let _ = serving.await;
}

/// Two replicas on one PostgreSQL lease from one bucket: what a sidecar
/// took through one is gone for a sidecar asking the other, and both count
/// the same live instances. No token server: either replica answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_postgres_lease_from_one_bucket() {
    let pg = seawall_store::testing::TempPostgres::start().expect(
        "PostgreSQL for the server's tests (apt-get install postgresql; .ci/run installs it)",
    );
    let url = pg.create_database().expect("database");
    let first = TestServer::start_with(common::Db::Postgres(url.clone()), None).await;
    put_rules(
        &first.admin().client,
        json!({"version": 1, "resources": [{
            "name": "orders",
            "routes": [{"path": "/api/orders"}],
            "flow": [{"id": "orders.cluster", "count": 900, "scope": "cluster"}]
        }]}),
    )
    .await;
    let token = first
        .token("order-sidecar", Role::Sidecar, Some("order-api"))
        .await;
    // The second replica: same database, its own process state and clock.
    let dir = common::TempDir::new();
    let store = seawall_store::open(&seawall_store::StoreSpec::Postgres(url))
        .await
        .expect("open the same database");
    let clock = seawall_server::ManualClock::new(common::T0);
    let state = seawall_server::AppState::new(store, dir.path()).with_clock(clock.clock());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let second = seawall_server::Server::with_state(listener, state)
        .await
        .expect("server");
    let second_base = format!("http://{}", second.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(second.run(async move {
        let _ = stopped.await;
    }));
    let lease = |base: String, instance: &'static str| {
        let token = token.clone();
        async move {
            let r = seawall_server::client::Client::new(&base)
                .expect("client")
                .with_token(&token)
                .post_json("/api/v1/guard/lease", &ask("order-api", instance))
                .await
                .expect("lease");
            assert_eq!(r.status, StatusCode::OK, "{}", r.text());
            r.json::<Value>().expect("json")
        }
    };
    // Both clocks stand at T0: the first lease drains the bucket's 180…
    let a = lease(first.base.clone(), "pod-a").await;
    assert_eq!(a["grants"][0]["tokens"], 180);
    // …and the other replica finds it empty, and counts two instances.
    let b = lease(second_base.clone(), "pod-b").await;
    assert_eq!(b["grants"][0]["tokens"], 0, "{b}");
    assert_eq!(b["instances"], 2);
    // 100 ms later on the second replica's clock the bucket has 90 again,
    // and pod-b's credit (its fair share is 450 a second, half of 900: a
    // new instance starts with 0.2 s of it) takes them all.
    clock.advance(100);
    let b = lease(second_base.clone(), "pod-b").await;
    assert_eq!(b["grants"][0]["tokens"], 90, "{b}");
    // The first replica's clock is still at T0: nothing refilled there.
    let a = lease(first.base.clone(), "pod-a").await;
    assert_eq!(a["grants"][0]["tokens"], 0, "{a}");
    let _ = stop.send(());
    let _ = serving.await;
}
