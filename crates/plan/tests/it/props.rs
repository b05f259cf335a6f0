//! Properties of the plan analyses over generated plans, and of the parser
//! over arbitrary input.

use proptest::prelude::*;
use seawall_plan::Plan;
use seawall_plan::capacity::{self, Measured};
use seawall_plan::generate::{self, Spec};
use seawall_plan::model::GoalSource;
use seawall_plan::targets::{self, Targets};

/// Small generated plans of every shape.
fn plans() -> impl Strategy<Value = Plan> {
    (
        1usize..60,
        0usize..240,
        0usize..12,
        0usize..6,
        0usize..4,
        1usize..6,
        any::<u64>(),
    )
        .prop_map(
            |(services, edges, entries, journeys, partners, layers, seed)| {
                generate::plan(&Spec {
                    services,
                    edges,
                    entries,
                    journeys,
                    partners,
                    layers,
                    seed,
                })
            },
        )
}

/// Set the given totals (`gmv`, `dau`) of a generated plan.
fn with_totals(plan: &Plan, gmv: f64, dau: f64) -> Plan {
    let mut p = plan.clone();
    for (id, goal) in p.goals.iter_mut() {
        match id.as_str() {
            "gmv" => goal.source = GoalSource::Total(gmv),
            "dau" => goal.source = GoalSource::Total(dau),
            _ => {}
        }
    }
    p
}

/// Every target number of a decomposition, flattened in a fixed order.
fn numbers(t: &Targets) -> Vec<f64> {
    let mut v = Vec::new();
    v.extend(t.goals.iter().flat_map(|g| [g.total, g.rate]));
    for j in &t.journeys {
        v.extend(j.steps.iter().flat_map(|s| [s.rate, s.qps]));
        v.extend(j.online_users);
    }
    v.extend(t.entries.iter().map(|e| e.target_qps));
    for s in &t.services {
        v.push(s.target_qps);
        v.extend(s.in_flight);
    }
    v.extend(t.partners.iter().map(|p| p.target_qps));
    v
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Scaling one goal's total by k scales everything derived from it by k,
    /// and contributions of different goals add up.
    #[test]
    fn decomposition_is_linear_in_goal_totals(
        plan in plans(),
        gmv in 0.0f64..1e9,
        dau in 0.0f64..1e8,
        k in 0.0f64..50.0,
    ) {
        let only_gmv = numbers(&targets::decompose(&with_totals(&plan, gmv, 0.0)));
        let scaled_gmv = numbers(&targets::decompose(&with_totals(&plan, gmv * k, 0.0)));
        let only_dau = numbers(&targets::decompose(&with_totals(&plan, 0.0, dau)));
        let both = numbers(&targets::decompose(&with_totals(&plan, gmv, dau)));
        prop_assert_eq!(only_gmv.len(), scaled_gmv.len());
        prop_assert_eq!(only_gmv.len(), both.len());
        for (a, b) in only_gmv.iter().zip(&scaled_gmv) {
            prop_assert!(close(a * k, *b), "{} × {} != {}", a, k, b);
        }
        for ((a, b), c) in only_gmv.iter().zip(&only_dau).zip(&both) {
            prop_assert!(close(a + b, *c), "{} + {} != {}", a, b, c);
        }
    }

    /// A service's target is at least the sum of its own entries' targets.
    #[test]
    fn services_carry_their_entries(plan in plans()) {
        let t = targets::decompose(&plan);
        for s in &t.services {
            let own: f64 = t
                .entries
                .iter()
                .filter(|e| e.service == s.id)
                .map(|e| e.target_qps)
                .sum();
            prop_assert!(s.target_qps >= own - 1e-9 * own.max(1.0),
                "{}: {} < {}", s.id, s.target_qps, own);
        }
    }

    /// Raising goal totals never lowers any water level.
    #[test]
    fn water_levels_rise_with_targets(
        plan in plans(),
        gmv in 0.0f64..1e9,
        dau in 0.0f64..1e8,
        k in 1.0f64..20.0,
    ) {
        let levels = |p: &Plan| {
            let t = capacity::table(p, &targets::decompose(p), &Measured::default());
            t.entries
                .iter()
                .chain(&t.services)
                .chain(&t.partners)
                .map(|r| (r.id.clone(), r.water_level, r.capacity_qps, r.bottleneck.clone()))
                .collect::<Vec<_>>()
        };
        let low = levels(&with_totals(&plan, gmv, dau));
        let high = levels(&with_totals(&plan, gmv * k, dau * k));
        prop_assert_eq!(low.len(), high.len());
        for (a, b) in low.iter().zip(&high) {
            prop_assert_eq!(&a.0, &b.0);
            // Capacity does not depend on targets.
            prop_assert_eq!(a.2, b.2);
            prop_assert_eq!(&a.3, &b.3);
            match (a.1, b.1) {
                (Some(x), Some(y)) => prop_assert!(y >= x * (1.0 - 1e-12), "{}: {} > {}", a.0, x, y),
                (x, y) => prop_assert_eq!(x.is_some(), y.is_some()),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Scaling the carnival plan by any factor keeps every water level and
    /// instance count and multiplies every target by the factor.
    #[test]
    fn scaling_keeps_water_levels(factor in 0.001f64..50.0) {
        let text = crate::common::CARNIVAL;
        let scaled = seawall_plan::scale::scale(text, "plan.yaml", factor).expect("scaled");
        let table = |t: &str| {
            let p = seawall_plan::parse(t, "plan.yaml").expect("plan");
            let targets = targets::decompose(&p);
            capacity::table(&p, &targets, &Measured::default())
        };
        let (a, b) = (table(text), table(&scaled));
        for (x, y) in a.entries.iter().chain(&a.services).zip(b.entries.iter().chain(&b.services)) {
            prop_assert!(close(y.target_qps, x.target_qps * factor), "{}", x.id);
            prop_assert!(close(y.water_level.unwrap_or(0.0), x.water_level.unwrap_or(0.0)), "{}", x.id);
            prop_assert_eq!(x.needs_scaling, y.needs_scaling);
            prop_assert_eq!(x.status, y.status);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// The parser never panics on arbitrary bytes.
    #[test]
    fn parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let s = String::from_utf8_lossy(&bytes);
        let _ = seawall_plan::parse(&s, "fuzz.yaml");
    }

    /// The parser never panics on arbitrary strings.
    #[test]
    fn parse_never_panics_on_strings(s in any::<String>()) {
        let _ = seawall_plan::parse(&s, "fuzz.yaml");
    }

    /// The parser never panics on YAML-shaped text built from plan keys.
    #[test]
    fn parse_never_panics_on_yamlish(tokens in prop::collection::vec(yaml_token(), 0..80)) {
        let s: String = tokens.concat();
        let _ = seawall_plan::parse(&s, "fuzz.yaml");
    }
}

/// Fragments of plan YAML: keys, scalars, indentation and flow syntax.
fn yaml_token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "event:",
        "name:",
        "timezone:",
        "Asia/Shanghai",
        "phases:",
        "peak:",
        "start:",
        "end:",
        "\"2026-09-30T10:00\"",
        "goals:",
        "gmv:",
        "orders:",
        "total:",
        "from:",
        "goal:",
        "ratio:",
        "traffic:",
        "journeys:",
        "ride:",
        "steps:",
        "entry:",
        "conversion:",
        "calls:",
        "anchor:",
        "share:",
        "entries:",
        "service:",
        "burst:",
        "services:",
        "dependencies:",
        "to:",
        "strength:",
        "strong",
        "weak",
        "partners:",
        "capacity:",
        "headroom:",
        "freeze:",
        "windows:",
        "oncall:",
        "rota:",
        "emergency_plans:",
        "trigger:",
        "actions:",
        "kind:",
        "rehearsals:",
        "rate:",
        "1.2x",
        "10m",
        "0",
        "1",
        "-1",
        "0.5",
        "1e309",
        ".nan",
        "~",
        "null",
        "true",
        "[]",
        "{}",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        " ",
        "  ",
        "    ",
        "\n",
        "\n  ",
        "\n    ",
        "- ",
        "&a ",
        "*a",
        "!!str ",
        "#",
        "'",
        "\"",
        "|\n",
        ">\n",
        "---\n",
        "...\n",
        "\t",
        "\u{feff}",
        "é",
        "<<: ",
    ])
}

/// The DESIGN.md sketch, through the parser, gives the hand-computed numbers.
#[test]
fn design_sketch_from_yaml() {
    let src = r#"
event: {name: "930 Holiday Carnival", timezone: Asia/Shanghai}
goals:
  gmv:    {total: 50000000}
  orders: {from: {goal: gmv, ratio: 0.04}, peak_hour_share: 0.15, peak_factor: 2.0}
  dau:    {total: 8000000}
traffic:
  peak_hour_share: 0.12
  peak_factor: 3.0
  journeys:
    ride:
      goal: orders
      share: 0.8
      anchor: create-order
      session_seconds: 240
      steps:
        - {entry: home}
        - {entry: scan-unlock, conversion: 0.6}
        - {entry: create-order, conversion: 0.9}
        - {entry: pay, conversion: 0.95, calls: 2}
entries:
  home: {service: order-api, current_qps: 100}
  scan-unlock: {service: order-api}
  create-order: {service: order-api, method: POST, path: /api/orders, burst: 1.0, current_qps: 800, rate_limit: 4000}
  pay: {service: order-api}
services:
  order-api:
    tier: frontend
    instances: 20
    capacity_per_instance: 250
    latency_ms: 40
    timeout_ms: 1000
    dependencies:
      - {to: coupon-svc, strength: weak, calls: 1, timeout_ms: 100, retries: 0, fallback: "order without coupon"}
      - {to: pay-gateway, strength: strong, calls: 1, timeout_ms: 800, retries: 1, breaker: {error_ratio: 0.5}}
  coupon-svc: {instances: 2, capacity_per_instance: 100}
partners:
  pay-gateway: {sla: {p99_ms: 500, error_rate: 0.001}, fallback: "queue and retry", quota_qps: 1000}
capacity: {headroom: 0.3, warn_level: 0.7, critical_level: 0.9}
"#;
    let plan = match seawall_plan::parse(src, "sketch.yaml") {
        Ok(plan) => plan,
        Err(diags) => panic!("sketch does not parse: {diags:?}"),
    };
    let t = targets::decompose(&plan);
    let orders = t.goals.iter().find(|g| g.id == "orders").expect("orders");
    // 2,000,000 × 0.15 / 3600 × 2 = 166.67/s
    assert!(close(orders.rate, 500.0 / 3.0), "{}", orders.rate);
    // r: home 246.91, scan-unlock 148.15, create-order 133.33, pay 126.67 (× 2 calls)
    let all = 20000.0 / 81.0 + 4000.0 / 27.0 + 400.0 / 3.0 + 760.0 / 3.0;
    let order_api = t.service("order-api").expect("order-api");
    assert!(close(order_api, all), "{order_api} != {all}");
    assert!(close(t.service("coupon-svc").expect("coupon"), all));
    assert!(close(t.partner("pay-gateway").expect("pay-gateway"), all));
    let online = t.journeys[0].online_users.expect("session_seconds");
    assert!(close(online, 4_800_000.0 / 81.0), "{online}");

    let table = capacity::table(&plan, &t, &Measured::default());
    let home = table.entry("home").expect("home");
    // order-api 5000; pay-gateway quota 1000 over a strong edge; coupon-svc is weak.
    assert_eq!(home.bottleneck.as_deref(), Some("pay-gateway"));
    assert_eq!(home.capacity_qps, Some(1000.0));
    let svc = table.service("order-api").expect("order-api");
    assert_eq!(svc.capacity_qps, Some(5000.0));
    // current: 100 + 800 over 5000
    assert!(close(svc.current_level.expect("current"), 0.18));
    let coupon = table.service("coupon-svc").expect("coupon");
    // 782.72 / 200 → critical; ceil(782.72 × 1.3 / 100) = ceil(10.18) = 11
    assert_eq!(coupon.status, capacity::Status::Critical);
    assert_eq!(coupon.instances_needed, Some(11));
}
