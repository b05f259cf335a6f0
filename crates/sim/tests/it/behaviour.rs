//! What simulated requests do, over real HTTP on loopback: routing,
//! dependencies with fallbacks and retries, drills, the test tag and
//! isolation counters, determinism, and clear errors for bad input.

use crate::common;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use common::{SMALL, get, plan, post, send};
use hyper::Method;
use seawall_sim::{Fault, Sim, SimError, SimOptions};

async fn small() -> Sim {
    Sim::start(&plan(SMALL), SimOptions::default())
        .await
        .expect("start")
}

fn url(sim: &Sim, entry: &str) -> String {
    sim.entry_url(entry).expect("entry url").to_owned()
}

#[tokio::test]
async fn entries_answer_at_their_paths_and_methods_only() {
    let sim = small().await;
    let (status, body) = post(&url(&sim, "buy"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["node"], "shop");
    assert_eq!(body["entry"], "buy");
    assert_eq!(body["tagged"], false);
    assert_eq!(body["fallbacks"], serde_json::json!([]));
    let (status, body) = get(&format!(
        "{}abc-42",
        url(&sim, "item").trim_end_matches('1')
    ))
    .await;
    assert_eq!(
        (status.as_u16(), &body["entry"]),
        (200, &serde_json::json!("item"))
    );
    let shop = sim.addr("shop").expect("shop");
    let (status, body) = get(&format!("http://{shop}/api/buy")).await;
    assert_eq!(status, 405, "{body}");
    let (status, body) = get(&format!("http://{shop}/api/nope")).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("no entry"))
    );
    // stock-check is on stock, not on shop.
    assert_eq!(get(&format!("http://{shop}/api/stock")).await.0, 404);
    let (status, body) = get(&format!("http://{shop}/_sim/nothing")).await;
    assert_eq!(status, 404);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("GET /_sim/truth"))
    );
    assert_eq!(
        send(
            Method::DELETE,
            &format!("http://{shop}/_sim/truth"),
            &[],
            ""
        )
        .await
        .0,
        405
    );

    // One buy: shop 1, stock 2 + 1 (through recs), recs 1, pay 1, sms 1.
    let c = sim.counters();
    let requests = |id: &str| c.get(id).map(|n| n.requests);
    assert_eq!(requests("shop"), Some(2));
    assert_eq!(requests("stock"), Some(6));
    assert_eq!(requests("recs"), Some(2));
    assert_eq!(requests("pay"), Some(2));
    assert_eq!(requests("sms"), Some(2));
    assert!(c.nodes.iter().all(|n| n.errors == 0), "{c:?}");
    sim.shutdown().await;
}

/// The gateway answers every entry at one address, each handled by its
/// service (same counters, same capacity) as on the service's own server.
#[tokio::test]
async fn the_gateway_answers_every_entry() {
    let sim = small().await;
    let gw = sim.gateway();
    assert!(sim.truth().nodes.iter().all(|n| n.addr != gw));
    let buy = sim.truth().entry("buy").and_then(|e| e.gateway_url.clone());
    assert_eq!(buy, Some(format!("http://{gw}/api/buy")));
    let (status, body) = post(&format!("http://{gw}/api/buy"), &[]).await;
    assert_eq!(
        (status.as_u16(), &body["node"]),
        (200, &serde_json::json!("shop"))
    );
    let (status, body) = get(&format!("http://{gw}/api/stock")).await;
    assert_eq!(
        (status.as_u16(), &body["node"]),
        (200, &serde_json::json!("stock"))
    );
    assert_eq!(get(&format!("http://{gw}/api/items/9")).await.0, 200);
    assert_eq!(get(&format!("http://{gw}/api/buy")).await.0, 405);
    let (status, body) = get(&format!("http://{gw}/api/none")).await;
    assert_eq!(status, 404);
    assert_eq!(body["node"], "gateway");
    assert_eq!(get(&format!("http://{gw}/_sim/call")).await.0, 404);
    assert_eq!(get(&format!("http://{gw}/_sim/truth")).await.0, 200);
    let c = sim.counters();
    // shop: buy 1 + item 1; stock: 3 per shop request (2 direct, 1 through
    // recs) + 1 stock-check.
    assert_eq!(c.get("shop").map(|n| n.requests), Some(2));
    assert_eq!(c.get("stock").map(|n| n.requests), Some(7));
    sim.shutdown().await;
}

/// Journey steps that call an entry at a templated path of their own, and
/// extract values from its answer, work: the carnival's bike ride extracts
/// `/data/order_id` from create-order and pays at `/api/pay/{{order_id}}`.
#[tokio::test]
async fn journey_paths_and_extracted_values_are_served() {
    let sim = Sim::start(
        &common::carnival(),
        SimOptions {
            scale: 0.05,
            ..SimOptions::default()
        },
    )
    .await
    .expect("start");
    let gw = sim.gateway();
    let (status, body) = post(&format!("http://{gw}/api/orders"), &[]).await;
    assert_eq!(status, 200, "{body}");
    let id = body
        .pointer("/data/order_id")
        .and_then(|v| v.as_str())
        .expect("order id")
        .to_owned();
    let (status, body) = post(&format!("http://{gw}/api/pay/{id}"), &[]).await;
    assert_eq!(
        (status.as_u16(), &body["entry"]),
        (200, &serde_json::json!("pay"))
    );
    // The entry's own path still answers; answers of other entries carry no data.
    assert_eq!(post(&format!("http://{gw}/api/pay"), &[]).await.0, 200);
    let (_, body) = get(&format!("http://{gw}/api/home")).await;
    assert_eq!(body.get("data"), None);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_failing_weak_dependency_falls_back_and_a_strong_one_fails_the_entry() {
    let sim = small().await;
    let buy = url(&sim, "buy");
    sim.set_fault("recs", Fault::Fail { ratio: 1.0 })
        .expect("fault");
    for _ in 0..5 {
        let (status, body) = post(&buy, &[]).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["fallbacks"], serde_json::json!(["recs"]));
    }
    let c = sim.counters();
    let shop = c.get("shop").expect("shop");
    assert_eq!((shop.ok, shop.errors, shop.fallbacks), (5, 0, 5));
    let recs = c.get("recs").expect("recs");
    assert_eq!((recs.requests, recs.errors, recs.injected), (5, 5, 5));
    assert_eq!(recs.fault, Fault::Fail { ratio: 1.0 });

    // A slow weak dependency: the edge times out after 100 ms, the entry
    // still answers, with the fallback.
    sim.reset_counters();
    sim.set_fault("recs", Fault::Slow { ms: 5000.0 })
        .expect("fault");
    let started = std::time::Instant::now();
    let (status, body) = post(&buy, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["fallbacks"], serde_json::json!(["recs"]));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "waited for the slow weak call"
    );
    let shop = sim.counters().get("shop").cloned().expect("shop");
    assert_eq!((shop.timeouts, shop.fallbacks), (1, 1));

    // A strong dependency failing fails the entry with 502, after its
    // retry (pay has retries: 1, so two attempts reach it).
    sim.set_fault("recs", Fault::None).expect("clear");
    sim.reset_counters();
    sim.set_fault("pay", Fault::Fail { ratio: 1.0 })
        .expect("fault");
    for _ in 0..3 {
        let (status, body) = post(&buy, &[]).await;
        assert_eq!(status, 502, "{body}");
        assert!(
            body["error"].as_str().is_some_and(|e| e.contains("`pay`")),
            "{body}"
        );
    }
    let c = sim.counters();
    let shop = c.get("shop").expect("shop");
    assert_eq!((shop.ok, shop.errors, shop.retries), (0, 3, 3));
    assert_eq!(c.get("pay").map(|p| p.requests), Some(6));
    // A failed request writes nothing at shop (its dependencies that
    // answered did write).
    assert_eq!(shop.real_writes, 0);
    assert_eq!(c.get("stock").map(|s| s.real_writes), Some(9));

    // Cleared: back to normal.
    sim.set_fault("pay", Fault::None).expect("clear");
    assert_eq!(post(&buy, &[]).await.0, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_half_failing_strong_dependency_is_masked_by_its_retry_sometimes() {
    let sim = small().await;
    sim.set_fault("pay", Fault::Fail { ratio: 0.5 })
        .expect("fault");
    let buy = url(&sim, "buy");
    let mut ok = 0;
    for _ in 0..40 {
        if post(&buy, &[]).await.0 == 200 {
            ok += 1;
        }
    }
    // P(success) = 1 − 0.5² = 0.75 per request: 30 of 40 expected.
    assert!((20..=38).contains(&ok), "{ok} of 40 succeeded");
    let c = sim.counters();
    let shop = c.get("shop").expect("shop");
    assert_eq!(shop.ok, ok);
    assert!(shop.retries > 0 && shop.retries < 40, "{shop:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn tagged_writes_land_in_the_shadow_store_and_leaks_are_counted() {
    let sim = small().await;
    let buy = url(&sim, "buy");
    for _ in 0..3 {
        assert_eq!(post(&buy, &[("x-seawall-test", "run-1")]).await.0, 200);
    }
    let (status, body) = post(&buy, &[("baggage", "user=7, seawall-test=run-2")]).await;
    assert_eq!(
        (status.as_u16(), &body["tagged"]),
        (200, &serde_json::json!(true))
    );
    let c = sim.counters();
    assert_eq!(c.real_writes(), 0, "{c:?}");
    // 4 buys: shop 4, stock 12, recs 4, pay 4 (shadow_safe); sms is not
    // shadow_safe: 4 leaks, no shadow writes.
    let shadow = |id: &str| c.get(id).map(|n| n.shadow_writes);
    assert_eq!(
        [
            shadow("shop"),
            shadow("stock"),
            shadow("recs"),
            shadow("pay"),
            shadow("sms")
        ],
        [Some(4), Some(12), Some(4), Some(4), Some(0)]
    );
    assert_eq!(c.get("sms").map(|n| n.leaks), Some(4));
    assert_eq!(c.leaks(), 4);

    // Untagged writes go to the real store and leak nothing: per buy shop
    // 1, stock 3, recs 1, pay 1, sms 1.
    sim.reset_counters();
    assert_eq!(post(&buy, &[("baggage", "seawall-test=")]).await.0, 200);
    assert_eq!(post(&buy, &[("x-seawall-test", "  ")]).await.0, 200);
    let c = sim.counters();
    assert_eq!(
        (c.real_writes(), c.shadow_writes(), c.leaks()),
        (2 * 7, 0, 0)
    );

    // Reads write nothing, tagged or not.
    sim.reset_counters();
    let item = url(&sim, "item");
    assert_eq!(
        send(Method::GET, &item, &[("x-seawall-test", "r")], "")
            .await
            .0,
        200
    );
    assert_eq!(get(&item).await.0, 200);
    let c = sim.counters();
    assert_eq!((c.real_writes(), c.shadow_writes()), (0, 0));
    assert_eq!(c.leaks(), 1, "a tagged read reaching sms is still a leak");
    sim.shutdown().await;
}

/// A rehearsal's own tag header and baggage key are recognised too.
#[tokio::test]
async fn a_rehearsal_tag_counts_as_the_tag() {
    let src = format!(
        "{SMALL}
goals: {{sales: {{total: 1000}}}}
traffic: {{journeys: {{shopping: {{goal: sales, steps: [{{entry: buy}}]}}}}}}
rehearsals:
  r1: {{mix: {{shopping: 1}}, rate: 10, duration: 10s, tag: {{header: x-drill, baggage: drill}}}}
"
    );
    let sim = Sim::start(&plan(&src), SimOptions::default())
        .await
        .expect("start");
    let buy = url(&sim, "buy");
    assert_eq!(post(&buy, &[("x-drill", "d1")]).await.0, 200);
    assert_eq!(post(&buy, &[("baggage", "drill=d2")]).await.0, 200);
    assert_eq!(post(&buy, &[("x-seawall-test", "d3")]).await.0, 200);
    let c = sim.counters();
    assert_eq!(
        (c.real_writes(), c.get("shop").map(|s| s.shadow_writes)),
        (0, Some(3))
    );
    assert_eq!(post(&buy, &[("x-other", "d4")]).await.0, 200);
    assert_eq!(sim.counters().get("shop").map(|s| s.real_writes), Some(1));
    sim.shutdown().await;
}

/// The same seed and the same requests give the same answers (service
/// times, which requests fail, which fall back); another seed does not.
/// Timeouts are long here, so only the seeded draws decide.
#[tokio::test]
async fn answers_are_deterministic_for_a_seed() {
    const PLAN: &str = r#"
event: {name: determinism}
entries:
  go: {service: a, method: POST, path: /go}
services:
  a:
    latency_ms: 3
    dependencies:
      - {to: b, strength: weak, timeout_ms: 10000, fallback: skip}
  b: {latency_ms: 1}
"#;
    async fn run(seed: u64) -> Vec<(u16, String)> {
        let sim = Sim::start(
            &plan(PLAN),
            SimOptions {
                seed,
                ..SimOptions::default()
            },
        )
        .await
        .expect("start");
        sim.set_fault("b", Fault::Fail { ratio: 0.5 })
            .expect("fault");
        sim.set_fault("a", Fault::Fail { ratio: 0.2 })
            .expect("fault");
        let go = url(&sim, "go");
        let mut answers = Vec::new();
        for _ in 0..30 {
            let (status, body) = post(&go, &[]).await;
            let work = if status == 200 {
                format!("{} {}", body["work_ms"], body["fallbacks"])
            } else {
                String::new()
            };
            answers.push((status.as_u16(), work));
        }
        sim.shutdown().await;
        answers
    }
    let a = run(42).await;
    assert!(
        a.iter().any(|x| x.0 == 500) && a.iter().any(|x| x.0 == 200),
        "{a:?}"
    );
    assert!(a.iter().any(|x| x.1.contains("\"b\"")), "{a:?}");
    assert!(a.iter().any(|x| x.1.ends_with("[]")), "{a:?}");
    assert_eq!(a, run(42).await);
    assert_ne!(a, run(43).await);
}

#[tokio::test]
async fn bad_fault_requests_get_clear_errors() {
    let sim = small().await;
    let err = sim
        .set_fault("payy", Fault::Fail { ratio: 1.0 })
        .expect_err("unknown");
    assert!(matches!(err, SimError::UnknownTarget { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("`payy`") && msg.contains("shop, stock, recs, pay, sms"),
        "{msg}"
    );
    let err = sim
        .set_fault("pay", Fault::Fail { ratio: 2.0 })
        .expect_err("ratio");
    assert!(err.to_string().contains("0..=1"), "{err}");
    assert!(sim.set_fault("pay", Fault::Slow { ms: -5.0 }).is_err());
    assert_eq!(
        sim.counters().get("pay").map(|p| p.fault),
        Some(Fault::None)
    );

    // Over HTTP, on any server.
    let fault_url = format!("http://{}/_sim/fault", sim.addr("stock").expect("addr"));
    let put = |body: &'static str| {
        let fault_url = fault_url.clone();
        async move { send(Method::PUT, &fault_url, &[], body).await }
    };
    let (status, body) = put(r#"{"target":"recs","fault":{"kind":"slow","ms":50}}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        sim.counters().get("recs").map(|r| r.fault),
        Some(Fault::Slow { ms: 50.0 })
    );
    let (status, body) = put(r#"{"target":"nope","fault":{"kind":"none"}}"#).await;
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("`nope`")),
        "{body}"
    );
    let (status, body) = put(r#"{"target":"recs","fault":{"kind":"fail","ratio":7}}"#).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().is_some_and(|e| e.contains("ratio")),
        "{body}"
    );
    let (status, body) = put("{\"target\":\"recs\",\n \"fault\": {\"kind\":\"explode\"}}").await;
    assert_eq!(status, 400);
    let e = body["error"].as_str().unwrap_or_default();
    assert!(e.contains("line 2") && e.contains("explode"), "{e}");
    let (status, _) = put(r#"{"target":"recs"}"#).await;
    assert_eq!(status, 400);
    let (status, _) = put("not json").await;
    assert_eq!(status, 400);
    assert_eq!(send(Method::GET, &fault_url, &[], "").await.0, 405);
    // Nothing above changed the slow fault.
    assert_eq!(
        sim.counters().get("recs").map(|r| r.fault),
        Some(Fault::Slow { ms: 50.0 })
    );

    // A switch with a TTL ends by itself (a drill's lease): one of a
    // minute is in force, one of 1 ms is gone after 20 ms with nobody
    // clearing it.
    let (status, body) =
        put(r#"{"target":"pay","fault":{"kind":"fail","ratio":1},"ttl_ms":60000}"#).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ttl_ms"], 60000);
    assert_eq!(
        sim.counters().get("pay").map(|p| p.fault),
        Some(Fault::Fail { ratio: 1.0 })
    );
    let (status, _) = put(r#"{"target":"pay","fault":{"kind":"fail","ratio":1},"ttl_ms":1}"#).await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(
        sim.counters().get("pay").map(|p| p.fault),
        Some(Fault::None)
    );
    sim.set_fault_for(
        "sms",
        Fault::Slow { ms: 5.0 },
        std::time::Duration::from_millis(1),
    )
    .expect("ttl");
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(
        sim.counters().get("sms").map(|p| p.fault),
        Some(Fault::None)
    );

    // POST /_sim/reset zeroes the counters.
    let _ = post(&url(&sim, "buy"), &[]).await;
    let reset = format!("http://{}/_sim/reset", sim.addr("shop").expect("addr"));
    let (status, body) = post(&reset, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["nodes"][0]["requests"], 0);
    assert_eq!(sim.counters().get("shop").map(|s| s.requests), Some(0));
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_options_and_plans_are_refused_before_anything_starts() {
    let p = plan(SMALL);
    for scale in [0.0, -1.0, f64::NAN, 1001.0] {
        let err = Sim::start(
            &p,
            SimOptions {
                scale,
                ..SimOptions::default()
            },
        )
        .await
        .expect_err("scale");
        assert!(err.to_string().contains("invalid scale"), "{err}");
    }
    let base = SocketAddr::from((Ipv4Addr::LOCALHOST, 65_533));
    let err = Sim::start(
        &p,
        SimOptions {
            listen_base: Some(base),
            ..SimOptions::default()
        },
    )
    .await
    .expect_err("ports");
    // 5 nodes and the gateway.
    assert!(err.to_string().contains("65533..=65538"), "{err}");

    // A taken port names the node that could not bind it.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let err = Sim::start(
        &p,
        SimOptions {
            listen_base: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
            ..SimOptions::default()
        },
    )
    .await
    .expect_err("taken");
    assert!(
        matches!(&err, SimError::Bind { id, .. } if id == "shop"),
        "{err}"
    );

    let reserved = SMALL.replace("path: /api/stock", "path: /_sim/stock");
    let err = Sim::start(&plan(&reserved), SimOptions::default())
        .await
        .expect_err("reserved");
    assert!(err.to_string().contains("`stock-check`"), "{err}");
}

#[tokio::test]
async fn listen_base_gives_consecutive_ports_in_plan_order() {
    let p = plan(SMALL);
    // Try a few bases: another process may hold one of the ports.
    let first = 20_000 + (std::process::id() % 20_000) as u16;
    for attempt in 0..10u16 {
        let base = SocketAddr::from((Ipv4Addr::LOCALHOST, first + attempt * 97));
        let Ok(sim) = Sim::start(
            &p,
            SimOptions {
                listen_base: Some(base),
                ..SimOptions::default()
            },
        )
        .await
        else {
            continue;
        };
        let ports: Vec<u16> = sim.truth().nodes.iter().map(|n| n.addr.port()).collect();
        let expected: Vec<u16> = (0..5).map(|i| base.port() + i).collect();
        assert_eq!(ports, expected);
        assert_eq!(sim.gateway().port(), base.port() + 5);
        assert_eq!(post(&url(&sim, "buy"), &[]).await.0, 200);
        sim.shutdown().await;
        return;
    }
    panic!("no free run of 5 ports found");
}

#[tokio::test]
async fn shutdown_stops_every_server() {
    let sim = small().await;
    let addrs: Vec<SocketAddr> = sim.truth().nodes.iter().map(|n| n.addr).collect();
    sim.shutdown().await;
    for addr in addrs {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{addr} still accepts"
        );
    }
}

/// A stand-in for a guard sidecar in front of a partner: it answers every
/// request with 200 itself (a fallback switch that is on) and counts them.
async fn answering_proxy() -> (SocketAddr, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0_u8; 1024];
                // Bounded: a connection carries at most 1,000 requests here.
                for _ in 0..1000 {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf
                        .windows(4)
                        .position(|w| w == b"\r\n\r\n")
                        .map_or(buf.len(), |p| p + 4);
                    buf.drain(..end);
                    counter.fetch_add(1, Ordering::Relaxed);
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}";
                    if conn.write_all(answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn an_edge_routed_through_a_proxy_reaches_the_proxy_not_the_target() {
    use std::sync::atomic::Ordering;
    let sim = small().await;
    let buy = url(&sim, "buy");
    let (proxy, seen) = answering_proxy().await;
    sim.set_fault("pay", Fault::Fail { ratio: 1.0 })
        .expect("fault");
    // Through the proxy: shop's calls to the failing pay never reach it.
    sim.route_via("shop", "pay", Some(proxy)).expect("route");
    for _ in 0..3 {
        let (status, body) = post(&buy, &[]).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(seen.load(Ordering::Relaxed), 3);
    assert_eq!(sim.counters().get("pay").map(|p| p.requests), Some(0));
    // Straight to pay again: its failure fails the entry.
    sim.route_via("shop", "pay", None).expect("route");
    let (status, body) = post(&buy, &[]).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(seen.load(Ordering::Relaxed), 3);
    assert!(matches!(
        sim.route_via("nope", "pay", Some(proxy)),
        Err(SimError::UnknownTarget { .. })
    ));
    sim.shutdown().await;
}

#[tokio::test]
async fn each_entry_counts_the_requests_it_received() {
    let sim = small().await;
    for _ in 0..3 {
        let (status, body) = post(&url(&sim, "buy"), &[("x-seawall-test", "t1")]).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = get(&url(&sim, "item")).await;
    assert_eq!(status, 200, "{body}");
    // A wrong method matches no entry and is not counted.
    let shop = sim.addr("shop").expect("shop");
    let (status, _) = get(&format!("http://{shop}/api/buy")).await;
    assert_eq!(status, 405);
    let c = sim.counters();
    assert_eq!(c.entry("buy"), Some(3), "{c:?}");
    assert_eq!(c.entry("item"), Some(1), "{c:?}");
    assert_eq!(c.entry("stock-check"), Some(0), "{c:?}");
    assert_eq!(c.entry("nope"), None);
    // Buy's dependency calls count on their nodes, not as entries.
    assert!(c.get("stock").expect("stock").requests >= 6, "{c:?}");
    // The same counters over the HTTP API, and reset with the others.
    let gateway = sim.gateway();
    let (status, body) = get(&format!("http://{gateway}/_sim/counters")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["entries"][0],
        serde_json::json!({"id": "buy", "requests": 3})
    );
    sim.reset_counters();
    assert_eq!(sim.counters().entry("buy"), Some(0));
}
