//! Fuzzing the rules-document parser on stable Rust (proptest): raw bytes,
//! mutated valid documents and structured documents with values at every
//! edge (NaN, infinities, negatives, huge integers, odd routes and names)
//! through `RuleSet::from_yaml`, `RuleSet::from_json` and, when accepted,
//! a guard built from the rules evaluating a few requests. Nothing may
//! panic; every refusal is a `GuardError` with a message.
//!
//! The number of cases is bounded (`SEAWALL_FUZZ_CASES`, default 256 per
//! target) so CI runs them on every push; run longer locally with e.g.
//! `SEAWALL_FUZZ_CASES=100000 cargo nextest run -p seawall-guard fuzz_rules`.
//! Inputs that once crashed the parser or the guard are kept in
//! [`REGRESSIONS`] and checked on every run.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use seawall_guard::{Decision, Guard, GuardError, ManualClock, Outcome, RequestParts, RuleSet};
use serde_json::{Value, json};

/// Inputs that crashed (or could crash) the parser or the guard built from
/// its output; each must be refused cleanly or work.
const REGRESSIONS: &[&str] = &[
    // A warm-up curve whose token counts overflow u64.
    "version: 1\nresources:\n  - name: a\n    flow: [{ id: w, count: 1.0e300, behavior: warm_up, warm_up_secs: 18446744073709551615 }]\n",
    // Huge windows and open periods.
    "version: 1\nresources:\n  - name: a\n    breakers: [{ id: b, strategy: error_count, threshold: 1, stat_window_ms: 18446744073709551615, open_ms: 18446744073709551615 }]\n",
    // Pace with a tiny and a huge count.
    "version: 1\nresources:\n  - name: a\n    flow: [{ id: p, count: 1.0e-300, behavior: pace, max_queueing_ms: 18446744073709551615 }]\n",
    "version: 1\nresources:\n  - name: a\n    flow: [{ id: p, count: 1.0e300, behavior: pace }]\n",
    // An alias bomb and deep nesting: refused, not expanded.
    "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n",
    "",
    "~",
    "version: -1",
    "version: 1\nresources: [{ name: a, routes: [{ path: '' }] }]",
    "version: 1\nresources: [{ name: a, routes: [{ path: '/{' }] }]",
    "version: 1\nresources: [{ name: a, timeout_ms: 18446744073709551615 }]",
    "version: 1\nresources: [{ name: a, faults: [{ id: f, percent: 100, delay_ms: 18446744073709551615 }] }]",
    "version: 1\nresources: [{ name: a, hot_params: [{ id: h, source: query, name: q, count: 1, top_k: 1000000 }] }]",
    "version: 1\nresources: [{ name: a, flow: [{ id: c, count: 1, per_origin: true, max_origins: 18446744073709551615 }] }]",
    "version: 1\ntest_traffic: { reserve: .nan }\n",
    "version: 1\ngray: { id: g, percent: .inf }\n",
];

fn cases(default: u32) -> u32 {
    std::env::var("SEAWALL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(256),
        // Crashers are kept by hand in REGRESSIONS, not in files.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A refusal must say something.
fn clean(e: &GuardError) {
    assert!(!e.to_string().trim().is_empty(), "empty error: {e:?}");
}

/// Parses `src` both ways; accepted rules build a guard that evaluates a
/// few requests (the clock moved far, so windows and pace wrap) without
/// panicking.
fn exercise(src: &str) {
    for parsed in [RuleSet::from_yaml(src), RuleSet::from_json(src)] {
        match parsed {
            Ok(rules) => run_guard(rules),
            Err(e) => clean(&e),
        }
    }
}

fn run_guard(rules: RuleSet) {
    let names: Vec<String> = rules.resources.iter().map(|r| r.name.clone()).collect();
    let clock = Arc::new(ManualClock::starting_at(Duration::from_secs(1000)));
    let guard = match Guard::with_clock(rules, Arc::clone(&clock)) {
        Ok(g) => g,
        Err(e) => return clean(&e),
    };
    let headers = [
        ("x-seawall-origin", "caller"),
        ("x-seawall-test", "1"),
        ("x-user-id", "42"),
        ("x-v", "hot"),
    ];
    for step in 0..4u64 {
        for name in names.iter().take(4) {
            if let Decision::Pass(p) | Decision::Wait { permit: p, .. } =
                guard.check(name, Some("caller"))
            {
                guard.finish(
                    p,
                    if step % 2 == 0 {
                        Outcome::Ok
                    } else {
                        Outcome::Error
                    },
                );
            }
        }
        for path in ["/", "/a", "/api/orders/7", "/%2e%2e/a;b"] {
            let v = guard.evaluate(
                &RequestParts::new("GET", path)
                    .with_headers(&headers)
                    .with_query("q=1&v=%31"),
            );
            if let Decision::Pass(p) | Decision::Wait { permit: p, .. } = v.decision {
                guard.finish(p, Outcome::Ok);
            }
        }
        clock.advance(Duration::from_millis(700 * (step + 1)));
    }
}

#[test]
fn regressions_are_refused_cleanly_or_work() {
    for src in REGRESSIONS {
        exercise(src);
    }
}

/// Deeply nested documents are refused (JSON's recursion limit, the YAML
/// reader's depth budget) without overflowing the stack.
#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    for depth in [200, 10_000, 100_000] {
        let flow = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        exercise(&flow);
        exercise(&format!("version: 1\nresources: {flow}\n"));
        let block: String = (0..depth.min(5_000))
            .map(|i| format!("{}- \n", " ".repeat(i)))
            .collect();
        exercise(&block);
        let map = format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
        exercise(&map);
    }
}

/// A number at the edges JSON and YAML can carry.
fn number() -> impl Strategy<Value = Value> {
    // Mostly in range, so most documents are accepted and reach the guard.
    prop_oneof![
        12 => (0u64..5).prop_map(Value::from),
        4 => (0.0f64..1.0).prop_map(Value::from),
        4 => (100u64..2000).prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        1 => Just(json!(0.5)),
        1 => Just(json!(1e300)),
        1 => Just(json!(-1)),
        1 => Just(json!(u64::MAX)),
    ]
}

fn name() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(json!("a")),
        1 => Just(json!("")),
        12 => "[a-z]{1,8}".prop_map(Value::from),
        1 => "[a-z{}*/ -]{0,8}".prop_map(Value::from),
        1 => any::<String>().prop_map(Value::from),
    ]
}

fn path() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("/")),
        Just(json!("/*")),
        Just(json!("/a/{id}")),
        Just(json!("/a/*/b")),
        Just(json!("a")),
        "/[a-z{}*]{0,6}(/[a-z{}*]{0,6}){0,3}".prop_map(Value::from),
    ]
}

fn maybe(v: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(v)
}

fn flow_rule() -> impl Strategy<Value = Value> {
    (
        name(),
        number(),
        maybe(prop_oneof![
            Just(json!("qps")),
            Just(json!("concurrency")),
            name()
        ]),
        maybe(prop_oneof![
            Just(json!("reject")),
            Just(json!("warm_up")),
            Just(json!("pace"))
        ]),
        (maybe(number()), maybe(number()), maybe(number())),
        (
            maybe(any::<bool>().prop_map(Value::from)),
            maybe(number()),
            maybe(name()),
        ),
    )
        .prop_map(
            |(id, count, grade, behavior, (wu, cf, mq), (po, mo, origin))| {
                let mut m = serde_json::Map::new();
                m.insert("id".into(), id);
                m.insert("count".into(), count);
                for (k, v) in [
                    ("grade", grade),
                    ("behavior", behavior),
                    ("warm_up_secs", wu),
                    ("cold_factor", cf),
                    ("max_queueing_ms", mq),
                    ("per_origin", po),
                    ("max_origins", mo),
                    ("origin", origin),
                ] {
                    if let Some(v) = v {
                        m.insert(k.into(), v);
                    }
                }
                Value::Object(m)
            },
        )
}

fn breaker_rule() -> impl Strategy<Value = Value> {
    (
        name(),
        prop_oneof![
            Just(json!("slow_ratio")),
            Just(json!("error_ratio")),
            Just(json!("error_count")),
            name()
        ],
        number(),
        (number(), number(), number(), number()),
    )
        .prop_map(|(id, strategy, threshold, (slow, min, window, open))| {
            json!({
                "id": id, "strategy": strategy, "threshold": threshold,
                "slow_rt_ms": slow, "min_requests": min, "stat_window_ms": window, "open_ms": open,
            })
        })
}

fn hot_rule() -> impl Strategy<Value = Value> {
    (
        name(),
        prop_oneof![Just(json!("query")), Just(json!("header")), name()],
        prop_oneof![Just(json!("v")), Just(json!("x-v")), name()],
        number(),
        maybe(number()),
        proptest::collection::btree_map("[a-z]{0,3}", number(), 0..3),
    )
        .prop_map(|(id, source, n, count, top_k, exceptions)| {
            let mut v = json!({"id": id, "source": source, "name": n, "count": count,
                "exceptions": exceptions});
            if let Some(k) = top_k {
                v["top_k"] = k;
            }
            v
        })
}

fn fault_rule() -> impl Strategy<Value = Value> {
    (
        name(),
        number(),
        maybe(number()),
        maybe(number()),
        any::<bool>(),
    )
        .prop_map(|(id, percent, delay, abort, force)| {
            let mut v = json!({"id": id, "percent": percent, "force": force});
            if let Some(d) = delay {
                v["delay_ms"] = d;
            }
            if let Some(a) = abort {
                v["abort_status"] = a;
            }
            v
        })
}

fn switch_rule() -> impl Strategy<Value = Value> {
    (name(), any::<bool>(), number(), name(), name()).prop_map(|(id, on, status, h, hv)| {
        let header = h.as_str().unwrap_or("x").to_owned();
        json!({"id": id, "on": on, "fallback": {"status": status, "body": "x", "headers": {header: hv}}})
    })
}

fn resource() -> impl Strategy<Value = Value> {
    (
        name(),
        proptest::collection::vec(
            (
                maybe(prop_oneof![Just(json!("GET")), Just(json!("*")), name()]),
                path(),
            ),
            0..3,
        ),
        (
            maybe(number()),
            maybe(any::<bool>().prop_map(Value::from)),
            maybe(number()),
        ),
        proptest::collection::vec(flow_rule(), 0..3),
        proptest::collection::vec(breaker_rule(), 0..2),
        proptest::collection::vec(hot_rule(), 0..2),
        proptest::collection::vec(fault_rule(), 0..2),
        proptest::collection::vec(switch_rule(), 0..2),
    )
        .prop_map(
            |(name, routes, (timeout, shadow, test_qps), flow, breakers, hot, faults, switches)| {
                let routes: Vec<Value> = routes
                    .into_iter()
                    .map(|(m, p)| match m {
                        Some(m) => json!({"method": m, "path": p}),
                        None => json!({"path": p}),
                    })
                    .collect();
                let mut r = json!({
                    "name": name, "routes": routes, "flow": flow, "breakers": breakers,
                    "hot_params": hot, "faults": faults, "switches": switches,
                });
                for (k, v) in [
                    ("timeout_ms", timeout),
                    ("shadow_safe", shadow),
                    ("test_qps", test_qps),
                ] {
                    if let Some(v) = v {
                        r[k] = v;
                    }
                }
                r
            },
        )
}

fn document() -> impl Strategy<Value = Value> {
    (
        prop_oneof![Just(json!(1)), number()],
        proptest::collection::vec(resource(), 0..4),
        proptest::option::of((name(), number(), proptest::collection::vec(name(), 0..3))),
        proptest::option::of((maybe(number()), number())),
    )
        .prop_map(|(version, resources, gray, test)| {
            let mut d = json!({"version": version, "resources": resources});
            if let Some((id, percent, whitelist)) = gray {
                d["gray"] = json!({"id": id, "percent": percent, "whitelist": whitelist});
            }
            if let Some((qps, reserve)) = test {
                d["test_traffic"] = json!({"reserve": reserve});
                if let Some(q) = qps {
                    d["test_traffic"]["qps"] = q;
                }
            }
            d
        })
}

/// The structured generator is worth its time only if many documents pass
/// validation and reach the guard: at least a tenth of them do (the rest
/// exercise the refusals).
#[test]
fn structured_documents_mostly_reach_the_guard() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = document();
    let mut accepted = 0;
    for _ in 0..200 {
        let doc = strategy
            .new_tree(&mut runner)
            .expect("a document")
            .current();
        if RuleSet::from_json(&doc.to_string()).is_ok() {
            accepted += 1;
        }
    }
    assert!(accepted >= 20, "{accepted} of 200 accepted");
}

/// A valid document to mutate.
const SEED: &str = "version: 1
settings: { origin_header: x-seawall-origin }
upstreams: { gray: { shadow_safe: true } }
gray: { id: staff, whitelist: ['42'], percent: 5 }
test_traffic: { qps: 10, reserve: 0.2 }
resources:
  - name: api
    routes: [{ method: GET, path: '/api/orders/{id}' }, { path: /api/* }]
    timeout_ms: 800
    switches: [{ id: deg, fallback: { status: 200, body: cached } }]
    flow:
      - { id: qps, count: 100, behavior: warm_up, warm_up_secs: 10 }
      - { id: per-caller, count: 5, per_origin: true, max_origins: 100 }
      - { id: pace, count: 50, behavior: pace, max_queueing_ms: 100 }
    hot_params: [{ id: hot, source: query, name: v, count: 2, top_k: 8, exceptions: { vip: 5 } }]
    breakers: [{ id: brk, strategy: error_ratio, threshold: 0.5, open_ms: 1000 }]
    faults: [{ id: f, percent: 50, delay_ms: 5 }]
";

proptest! {
    #![proptest_config(config())]

    /// Raw bytes (as text, lossily) never panic either parser.
    #[test]
    fn raw_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        exercise(&String::from_utf8_lossy(&bytes));
    }

    /// A valid document with bytes replaced, inserted or removed.
    #[test]
    fn mutated_documents_never_panic(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)
    ) {
        let mut doc = SEED.as_bytes().to_vec();
        for (at, byte, op) in edits {
            let i = at.index(doc.len().max(1)).min(doc.len());
            match op {
                0 if i < doc.len() => doc[i] = byte,
                1 => doc.insert(i, byte),
                _ if i < doc.len() => { doc.remove(i); }
                _ => {}
            }
        }
        exercise(&String::from_utf8_lossy(&doc));
    }

    /// Structured documents with values at every edge, as JSON and YAML
    /// (JSON is YAML): accepted ones build a working guard.
    #[test]
    fn structured_documents_never_panic(doc in document()) {
        let text = doc.to_string();
        exercise(&text);
        let pretty = serde_json::to_string_pretty(&doc).unwrap_or_default();
        if let Ok(rules) = RuleSet::from_json(&pretty) {
            // What the JSON parser accepts, the YAML parser (JSON is YAML)
            // accepts too, with the same resources (floats may differ in
            // the last place: the YAML reader rounds subnormals).
            let yaml = RuleSet::from_yaml(&pretty);
            prop_assert!(yaml.is_ok(), "{:?}", yaml);
            let names = |r: &RuleSet| r.resources.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
            prop_assert_eq!(yaml.map(|y| names(&y)).ok(), Some(names(&rules)));
        }
    }
}
