//! Ground truth: knees and bottlenecks computed by hand, on the carnival
//! plan and on a small plan where weak calls load a shared service; the
//! truth is served over HTTP too.

use crate::common;

use common::{SMALL, carnival, get, plan};
use seawall_plan::capacity::{Measured, table};
use seawall_plan::targets::decompose;
use seawall_sim::{NodeKind, Sim, SimOptions, Truth};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[tokio::test]
async fn small_plan_knees_count_weak_calls_into_shared_services() {
    let sim = Sim::start(&plan(SMALL), SimOptions::default())
        .await
        .expect("start");
    let t = sim.truth();
    let buy = t.entry("buy").expect("buy");
    // stock: 300 QPS / (2 direct + 1 through the weak recs) = 100.
    assert!(close(buy.knee_qps.expect("knee"), 100.0), "{buy:?}");
    assert_eq!(buy.bottleneck.as_deref(), Some("stock"));
    assert!(close(buy.bottleneck_calls.expect("calls"), 3.0));
    assert_eq!(buy.method, "POST");
    assert_eq!(buy.service, "shop");
    let item = t.entry("item").expect("item");
    assert_eq!(item.knee_qps, buy.knee_qps, "same service, same tree");
    let url = item.url.as_deref().expect("url");
    assert!(url.ends_with("/api/items/1"), "{url}");
    // stock alone: 300.
    let stock = t.entry("stock-check").expect("stock-check");
    assert!(close(stock.knee_qps.expect("knee"), 300.0));
    assert_eq!(stock.bottleneck.as_deref(), Some("stock"));
    // An entry without a path is not served, but its knee is known: recs
    // 50, stock 300 / 1.
    let nowhere = t.entry("nowhere").expect("nowhere");
    assert_eq!(nowhere.url, None);
    assert!(close(nowhere.knee_qps.expect("knee"), 50.0));
    assert_eq!(nowhere.bottleneck.as_deref(), Some("recs"));

    // Nodes: services then partners, in plan order, scaled capacities.
    let ids: Vec<&str> = t.nodes.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, ["shop", "stock", "recs", "pay", "sms"]);
    let shop = t.node("shop").expect("shop");
    assert_eq!(shop.capacity_qps, Some(200.0));
    assert_eq!(shop.kind, NodeKind::Service);
    assert_eq!(shop.queue_limit_ms, 1000.0);
    assert_eq!(shop.shadow_safe, None);
    assert_eq!(t.node("stock").expect("stock").queue_limit_ms, 200.0);
    let pay = t.node("pay").expect("pay");
    assert_eq!(
        (pay.kind, pay.capacity_qps),
        (NodeKind::Partner, Some(500.0))
    );
    assert_eq!(pay.latency_ms, 20.0);
    assert_eq!(pay.shadow_safe, Some(true));
    let sms = t.node("sms").expect("sms");
    assert_eq!((sms.capacity_qps, sms.shadow_safe), (None, Some(false)));
    // Each node on its own port; addr() agrees.
    assert_eq!(sim.addr("shop"), Some(shop.addr));
    assert_eq!(sim.addr("nope"), None);
    let mut ports: Vec<u16> = t.nodes.iter().map(|n| n.addr.port()).collect();
    ports.push(t.gateway.port());
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 6, "every node and the gateway on its own port");
    assert_eq!(sim.gateway(), t.gateway);
    assert_eq!(
        item.gateway_url.as_deref(),
        Some(format!("http://{}/api/items/1", t.gateway).as_str())
    );
    assert_eq!(nowhere.gateway_url, None);
    sim.shutdown().await;
}

#[tokio::test]
async fn scale_multiplies_capacities_and_knees() {
    let opts = SimOptions {
        scale: 0.25,
        seed: 9,
        ..SimOptions::default()
    };
    let sim = Sim::start(&plan(SMALL), opts).await.expect("start");
    let t = sim.truth();
    assert_eq!((t.scale, t.seed), (0.25, 9));
    assert!(close(
        t.entry("buy").and_then(|e| e.knee_qps).expect("knee"),
        25.0
    ));
    assert_eq!(t.node("shop").and_then(|n| n.capacity_qps), Some(50.0));
    assert_eq!(t.node("pay").and_then(|n| n.capacity_qps), Some(125.0));
    sim.shutdown().await;
}

/// On the carnival plan every entry's bottleneck is its own service (hand
/// computed below), and the knees equal the plan's water-level table
/// scaled.
#[tokio::test]
async fn carnival_knees_by_hand_and_as_the_capacity_table_says() {
    let plan = carnival();
    let scale = 0.05;
    let sim = Sim::start(
        &plan,
        SimOptions {
            scale,
            ..SimOptions::default()
        },
    )
    .await
    .expect("start");
    let t = sim.truth();
    // instances × capacity_per_instance × 0.05 of each entry's service;
    // e.g. home: home-bff 40 × 250 = 10,000 vs user-svc 18,000 / 1.2
    // (one direct call, 0.2 through the weak coupon-svc) = 15,000.
    let expected = [
        ("home", "home-bff", 500.0),
        ("scan-unlock", "unlock-svc", 60.0),
        ("ebike-unlock", "ebike-svc", 30.0),
        ("coupon-grab", "coupon-svc", 336.0),
        ("create-order", "order-svc", 64.0),
        ("pay", "pay-gateway", 80.0),
        ("call-car", "ride-svc", 16.0),
    ];
    assert_eq!(t.entries.len(), expected.len());
    let capacity = table(&plan, &decompose(&plan), &Measured::default());
    for (id, bottleneck, knee) in expected {
        let e = t.entry(id).expect(id);
        assert!(close(e.knee_qps.expect("knee"), knee), "{id}: {e:?}");
        assert_eq!(e.bottleneck.as_deref(), Some(bottleneck), "{id}");
        let row = capacity.entry(id).expect("row");
        assert!(
            close(row.capacity_qps.expect("capacity") * scale, knee),
            "{id}: table {row:?}"
        );
        assert_eq!(row.bottleneck.as_deref(), Some(bottleneck));
    }
    assert_eq!(t.nodes.len(), plan.services.len() + plan.partners.len());
    assert_eq!(
        t.node("pay-partner").and_then(|n| n.capacity_qps),
        Some(100.0)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn truth_and_counters_over_http_match_the_library() {
    let sim = Sim::start(&plan(SMALL), SimOptions::default())
        .await
        .expect("start");
    for node in &sim.truth().nodes {
        let (status, body) = get(&format!("http://{}/_sim/truth", node.addr)).await;
        assert_eq!(status, 200);
        let truth: Truth = serde_json::from_value(body).expect("truth json");
        assert_eq!(&truth, sim.truth());
    }
    let (status, body) = get(&format!(
        "http://{}/_sim/counters",
        sim.truth().nodes[2].addr
    ))
    .await;
    assert_eq!(status, 200);
    let counters: seawall_sim::Counters = serde_json::from_value(body).expect("counters json");
    assert_eq!(counters, sim.counters());
    sim.shutdown().await;
}

/// Loaded together, entries sharing a service saturate it sooner: buy
/// (3 calls to stock each) and stock-check (1) at 50 and 60 QPS put 210
/// QPS on stock (capacity 300), so the mix can grow 300 / 210 ≈ 1.43×.
#[tokio::test]
async fn mix_knees_sum_the_load_of_every_entry() {
    let sim = Sim::start(&plan(SMALL), SimOptions::default())
        .await
        .expect("start");
    let mix = sim
        .mix_knees(&[("buy", 50.0), ("stock-check", 60.0)])
        .expect("mix");
    assert_eq!(mix.len(), 2);
    let m = 300.0 / 210.0;
    assert_eq!(mix[0].id, "buy");
    assert!(close(mix[0].multiple.expect("multiple"), m), "{mix:?}");
    assert!(close(mix[0].knee_qps.expect("knee"), 50.0 * m));
    assert_eq!(mix[0].bottleneck.as_deref(), Some("stock"));
    assert!(close(mix[1].knee_qps.expect("knee"), 60.0 * m));
    // Alone, the mix knee is the entry's own knee.
    let alone = sim.mix_knees(&[("buy", 10.0)]).expect("alone");
    assert!(close(alone[0].knee_qps.expect("knee"), 100.0), "{alone:?}");
    // The same entry twice counts with the sum of its rates.
    let twice = sim.mix_knees(&[("buy", 5.0), ("buy", 5.0)]).expect("twice");
    assert!(close(twice[0].multiple.expect("multiple"), 10.0));
    // recs is weak for buy: a mix that saturates recs leaves buy's knee to stock.
    let weak = sim
        .mix_knees(&[("buy", 10.0), ("nowhere", 45.0)])
        .expect("weak");
    assert_eq!(weak[0].bottleneck.as_deref(), Some("stock"));
    assert_eq!(weak[1].bottleneck.as_deref(), Some("recs"));

    let err = sim.mix_knees(&[("buyy", 1.0)]).expect_err("unknown");
    assert!(
        err.to_string().contains("`buyy`") && err.to_string().contains("buy, item"),
        "{err}"
    );
    for rate in [-1.0, f64::NAN, f64::INFINITY] {
        let err = sim.mix_knees(&[("buy", rate)]).expect_err("rate");
        assert!(err.to_string().contains("rate"), "{err}");
    }
    sim.shutdown().await;
}

/// At the carnival plan's targets the mix's first saturated node on each
/// strong tree is the one with the highest water level: risk-svc (target
/// 7,895 of 11,000) for most, user-svc (12,000 of 18,000) for home,
/// coupon-svc for the grab, ride-svc (300 of 320) for call-car.
#[tokio::test]
async fn carnival_mix_at_the_targets_saturates_the_highest_water_level() {
    let plan = carnival();
    let scale = 0.05;
    let sim = Sim::start(
        &plan,
        SimOptions {
            scale,
            ..SimOptions::default()
        },
    )
    .await
    .expect("start");
    let targets = decompose(&plan);
    let rates: Vec<(&str, f64)> = targets
        .entries
        .iter()
        .map(|e| (e.id.as_str(), e.target_qps * scale))
        .collect();
    let mix = sim.mix_knees(&rates).expect("mix");
    let row = |id: &str| mix.iter().find(|m| m.id == id).expect(id).clone();
    let risk = 11_000.0 / 7_895.0;
    for (id, bottleneck, multiple) in [
        ("home", "user-svc", 18_000.0 / 12_000.0),
        ("scan-unlock", "risk-svc", risk),
        ("ebike-unlock", "risk-svc", risk),
        // coupon-svc: 3,000 grabs + 1,150 from home (weak, 0.2) + 800 from
        // orders (weak) = 4,950 of 6,720.
        ("coupon-grab", "coupon-svc", 6_720.0 / 4_950.0),
        ("create-order", "risk-svc", risk),
        ("pay", "risk-svc", risk),
        ("call-car", "ride-svc", 320.0 / 300.0),
    ] {
        let r = row(id);
        assert_eq!(r.bottleneck.as_deref(), Some(bottleneck), "{r:?}");
        let got = r.multiple.expect("multiple");
        assert!(
            (got - multiple).abs() < 1e-6 * multiple,
            "{id}: {got} vs {multiple}"
        );
    }
    sim.shutdown().await;
}
