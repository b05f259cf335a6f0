//! The request-level API: `Guard::evaluate` on routes, callers, gray
//! routing, test traffic, hot parameters, faults and timeouts.

use crate::common;

use std::time::Duration;

use common::guard;
use seawall_guard::{
    BlockReason, Decision, FaultAction, GrayReason, GuardError, RequestParts, RuleSet, Upstream,
    Verdict,
};

/// Whether the verdict admits the request.
fn admitted(v: &Verdict) -> bool {
    v.decision.is_admitted()
}

const ROUTES: &str = "version: 1
resources:
  - name: order.get
    routes:
      - { method: GET, path: '/api/orders/{id}' }
    timeout_ms: 800
  - name: order.create
    routes:
      - { method: POST, path: /api/orders }
    flow:
      - { id: create-qps, count: 2 }
  - name: api.other
    routes:
      - { path: '/api/*' }
";

#[test]
fn routes_pick_the_resource_and_its_timeout() {
    let (g, _) = guard(ROUTES);
    let v = g.evaluate(&RequestParts::new("GET", "/api/orders/42"));
    assert_eq!(v.resource.as_deref(), Some("order.get"));
    assert_eq!(v.timeout, Some(Duration::from_millis(800)));
    assert_eq!(v.upstream, Upstream::Primary);
    assert!(!v.test);
    assert_eq!(v.reason(), "pass");

    let v = g.evaluate(&RequestParts::new("DELETE", "/api/orders/42"));
    assert_eq!(v.resource.as_deref(), Some("api.other"));
    assert_eq!(v.timeout, None);

    let v = g.evaluate(&RequestParts::new("GET", "/health"));
    assert_eq!(v.resource, None);
    assert!(admitted(&v));

    let post = RequestParts::new("POST", "/api/orders");
    assert!(admitted(&g.evaluate(&post)));
    assert!(admitted(&g.evaluate(&post)));
    let v = g.evaluate(&post);
    assert_eq!(v.reason(), "create-qps");
    assert!(matches!(
        v.decision,
        Decision::Block(ref b) if b.reason == BlockReason::QpsLimit
    ));
    // The same resource by name.
    assert_eq!(
        g.evaluate_as("order.create", &RequestParts::new("GET", "/x"))
            .rule_id(),
        Some("create-qps")
    );
}

#[test]
fn the_origin_header_keeps_one_callers_flood_from_anothers_share() {
    let (g, _) = guard(
        "version: 1
settings: { origin_header: x-caller }
resources:
  - name: r
    routes: [{ path: /r }]
    flow:
      - { id: per-caller, count: 10, per_origin: true }
",
    );
    let a = [("X-Caller", "app-a")];
    let b = [("x-caller", "app-b")];
    let req_a = RequestParts::new("GET", "/r").with_headers(&a);
    let req_b = RequestParts::new("GET", "/r").with_headers(&b);
    let flood = (0..1000).filter(|_| admitted(&g.evaluate(&req_a))).count();
    assert_eq!(flood, 10);
    let share = (0..10).filter(|_| admitted(&g.evaluate(&req_b))).count();
    assert_eq!(share, 10, "app-b keeps its whole share");
}

#[test]
fn gray_routing_sends_exactly_the_whitelisted_ids() {
    let whitelist: Vec<String> = (0..20_000u64)
        .filter(|i| i % 7 == 3)
        .map(|i| i.to_string())
        .chain(["alice".to_owned(), "carol".to_owned()])
        .collect();
    let rules = format!(
        "version: 1\ngray:\n  id: gray-users\n  whitelist: [{}]\nresources: []\n",
        whitelist.join(", ")
    );
    let (g, _) = guard(&rules);
    for id in (0..20_000u64)
        .map(|i| i.to_string())
        .chain(["alice", "bob", "carol", "dave", ""].map(String::from))
    {
        let h = [("x-user-id", id.as_str())];
        let v = g.evaluate(&RequestParts::new("GET", "/").with_headers(&h));
        let listed = whitelist.contains(&id);
        assert_eq!(v.upstream == Upstream::Gray, listed, "user `{id}`");
        if listed {
            assert_eq!(v.gray, Some(GrayReason::Whitelist));
            assert_eq!(v.gray_rule.as_deref(), Some("gray-users"));
        } else {
            assert_eq!(v.gray, None);
        }
    }
    // No user id: primary.
    assert_eq!(
        g.evaluate(&RequestParts::new("GET", "/")).upstream,
        Upstream::Primary
    );
}

#[test]
fn gray_percent_is_sticky_and_header_rules_match_exactly() {
    let (g, _) = guard(
        "version: 1
gray:
  id: gray
  user_header: x-uid
  percent: 10
  headers: [{ name: X-Canary, value: 'yes' }]
resources: []
",
    );
    let mut gray = 0;
    for i in 0..10_000 {
        let id = format!("user-{i}");
        let h = [("x-uid", id.as_str())];
        let req = RequestParts::new("GET", "/").with_headers(&h);
        let first = g.evaluate(&req).upstream;
        assert_eq!(g.evaluate(&req).upstream, first, "sticky");
        assert_eq!(
            first == Upstream::Gray,
            seawall_guard::gray_bucket(&id) < 1000
        );
        gray += usize::from(first == Upstream::Gray);
    }
    assert!((900..=1100).contains(&gray), "about 10%: {gray}");
    let yes = [("x-canary", "yes")];
    let no = [("x-canary", "YES")];
    let v = g.evaluate(&RequestParts::new("GET", "/").with_headers(&yes));
    assert_eq!(
        (v.upstream, v.gray),
        (Upstream::Gray, Some(GrayReason::Header))
    );
    let v = g.evaluate(&RequestParts::new("GET", "/").with_headers(&no));
    assert_eq!(v.upstream, Upstream::Primary);
}

#[test]
fn tagged_traffic_never_reaches_an_upstream_that_is_not_shadow_safe() {
    let (g, _) = guard(
        "version: 1
upstreams:
  gray: { shadow_safe: true }
gray: { id: gray, percent: 50 }
resources:
  - name: pay
    routes: [{ path: '/pay/*' }]
    shadow_safe: false
  - name: order
    routes: [{ path: '/order/*' }]
",
    );
    let mut reached = [0usize; 2];
    for i in 0..2000 {
        let id = i.to_string();
        let tags: &[(&str, &str)] = match i % 4 {
            0 => &[],
            1 => &[("x-seawall-test", "run-1")],
            2 => &[("baggage", "user=x, seawall-test=run-1;p=1")],
            _ => &[("baggage", "seawall-test=")],
        };
        let tagged = matches!(i % 4, 1 | 2);
        for path in ["/pay/1", "/order/1", "/elsewhere"] {
            let mut headers = tags.to_vec();
            headers.push(("x-user-id", &id));
            let v = g.evaluate(&RequestParts::new("GET", path).with_headers(&headers));
            assert_eq!(v.test, tagged);
            if !tagged {
                assert!(admitted(&v));
                continue;
            }
            if admitted(&v) {
                assert_eq!(
                    v.upstream,
                    Upstream::Gray,
                    "{path}: only gray is shadow-safe"
                );
                assert_ne!(path, "/pay/1", "pay is never shadow-safe");
                reached[0] += 1;
            } else {
                assert_eq!(v.rule_id(), Some("test-traffic"));
                assert!(matches!(
                    v.decision,
                    Decision::Block(ref b) if b.reason == BlockReason::NotShadowSafe
                ));
                reached[1] += 1;
            }
        }
    }
    assert!(reached[0] > 0 && reached[1] > 0, "{reached:?}");
}

#[test]
fn test_traffic_has_its_own_quota_and_is_shed_first() {
    let (g, clock) = guard(
        "version: 1
upstreams: { primary: { shadow_safe: true } }
test_traffic: { reserve: 0.2 }
resources:
  - name: r
    routes: [{ path: /r }]
    flow: [{ id: r-qps, count: 100 }]
  - name: q
    routes: [{ path: /q }]
    test_qps: 5
",
    );
    let tag = [("x-seawall-test", "run")];
    let test = RequestParts::new("GET", "/r").with_headers(&tag);
    let real = RequestParts::new("GET", "/r");
    // Test traffic alone gets at most limit × (1 − reserve).
    assert_eq!(
        (0..500).filter(|_| admitted(&g.evaluate(&test))).count(),
        80
    );
    // Real traffic still finds the reserve.
    assert_eq!(
        (0..500).filter(|_| admitted(&g.evaluate(&real))).count(),
        20
    );
    clock.advance(Duration::from_secs(1));
    // Real traffic first: once it uses 80, test traffic gets nothing.
    assert_eq!((0..80).filter(|_| admitted(&g.evaluate(&real))).count(), 80);
    assert_eq!((0..50).filter(|_| admitted(&g.evaluate(&test))).count(), 0);
    assert_eq!((0..50).filter(|_| admitted(&g.evaluate(&real))).count(), 20);

    // Own quota.
    let test_q = RequestParts::new("GET", "/q").with_headers(&tag);
    let v: Vec<Verdict> = (0..20).map(|_| g.evaluate(&test_q)).collect();
    assert_eq!(v.iter().filter(|v| admitted(v)).count(), 5);
    assert!(v.iter().filter(|v| !admitted(v)).all(|v| matches!(
        v.decision,
        Decision::Block(ref b) if b.reason == BlockReason::TestQuota && &*b.rule_id == "test-traffic"
    )));
    drop(v);
    let real_q = RequestParts::new("GET", "/q");
    assert_eq!(
        (0..20).filter(|_| admitted(&g.evaluate(&real_q))).count(),
        20
    );
}

#[test]
fn hot_parameters_limit_each_value_with_exceptions() {
    let (g, clock) = guard(
        "version: 1
resources:
  - name: item
    routes: [{ method: GET, path: /item }]
    hot_params:
      - id: hot-sku
        source: query
        name: sku
        count: 3
        exceptions: { '42': 10 }
      - id: hot-shop
        source: header
        name: X-Shop
        count: 5
",
    );
    let admitted_of = |q: &str, h: &[(&str, &str)], n: usize| {
        let req = RequestParts::new("GET", "/item")
            .with_query(q)
            .with_headers(h);
        (0..n).filter(|_| admitted(&g.evaluate(&req))).count()
    };
    assert_eq!(admitted_of("a=1&sku=7", &[], 10), 3);
    assert_eq!(admitted_of("sku=8", &[], 10), 3);
    assert_eq!(admitted_of("sku=42", &[], 20), 10);
    assert_eq!(admitted_of("other=1", &[], 20), 20, "no value: no limit");
    assert_eq!(admitted_of("x", &[("x-shop", "s1")], 20), 5);
    let v = g.evaluate(&RequestParts::new("GET", "/item").with_query("sku=7"));
    assert_eq!(v.rule_id(), Some("hot-sku"));
    assert_eq!(g.stats("hot-sku").map(|s| s.blocked), Some(7 + 7 + 10 + 1));
    clock.advance(Duration::from_secs(1));
    assert_eq!(admitted_of("sku=7", &[], 10), 3, "a new second");
}

#[test]
fn faults_hit_the_given_share_of_test_traffic_only_unless_forced() {
    let (g, _) = guard(
        "version: 1
upstreams: { primary: { shadow_safe: true } }
resources:
  - name: drill
    routes: [{ path: /drill }]
    faults:
      - { id: drill-abort, percent: 10, abort_status: 503 }
      - { id: drill-delay, percent: 50, delay_ms: 200 }
  - name: forced
    routes: [{ path: /forced }]
    faults:
      - { id: forced-delay, percent: 25, delay_ms: 5, force: true }
",
    );
    let tag = [("x-seawall-test", "drill")];
    let mut aborts = 0;
    let mut delays = 0;
    for _ in 0..1000 {
        let v = g.evaluate(&RequestParts::new("GET", "/drill").with_headers(&tag));
        match v.fault.map(|f| f.action) {
            Some(FaultAction::Abort(503)) => aborts += 1,
            Some(FaultAction::Delay(d)) => {
                assert_eq!(d, Duration::from_millis(200));
                delays += 1;
            }
            other => assert_eq!(other, None),
        }
    }
    assert_eq!(aborts, 100);
    // The delay rule sees only the calls the abort rule passed over.
    assert_eq!(delays, 450);
    let real = (0..1000)
        .filter(|_| {
            g.evaluate(&RequestParts::new("GET", "/drill"))
                .fault
                .is_some()
        })
        .count();
    assert_eq!(real, 0);
    let forced = (0..1000)
        .filter(|_| {
            g.evaluate(&RequestParts::new("GET", "/forced"))
                .fault
                .is_some()
        })
        .count();
    assert_eq!(forced, 250);
    assert_eq!(g.stats("drill-abort").map(|s| s.injected), Some(100));
}

#[test]
fn a_fault_lease_ends_by_the_guards_own_clock() {
    // The manual clock starts at 1,000 s after the epoch: the lease ends
    // at 1,005 s, and nothing but the clock moves in between.
    let (g, clock) = guard(
        "version: 1
upstreams: { primary: { shadow_safe: true } }
resources:
  - name: drill
    routes: [{ path: /drill }]
    faults:
      - { id: leased, percent: 100, abort_status: 503, expires_at_ms: 1005000 }
",
    );
    let tag = [("x-seawall-test", "drill")];
    let faulted = || {
        g.evaluate(&RequestParts::new("GET", "/drill").with_headers(&tag))
            .fault
            .map(|f| f.action)
    };
    assert_eq!(faulted(), Some(FaultAction::Abort(503)));
    assert_eq!(
        g.evaluate(&RequestParts::new("GET", "/drill")).fault,
        None,
        "untagged traffic never gets the fault"
    );
    clock.advance(Duration::from_millis(4_999));
    assert_eq!(
        faulted(),
        Some(FaultAction::Abort(503)),
        "1 ms before the end"
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(faulted(), None, "the lease ended");
    clock.advance(Duration::from_secs(60));
    assert_eq!(faulted(), None);
    assert_eq!(g.stats("leased").map(|s| s.injected), Some(2));
}

#[test]
fn bad_request_level_rules_are_refused_and_change_nothing() {
    let (g, _) = guard(ROUTES);
    let bad = [
        (
            "version: 2\nresources:\n  - name: a\n    routes: [{ path: 'no-slash' }]\n",
            "start with `/`",
        ),
        (
            "version: 2\nresources:\n  - name: a\n    routes: [{ path: '/a/*/b' }]\n",
            "last segment",
        ),
        (
            "version: 2\nresources:\n  - name: a\n    routes: [{ path: '/a/{id}' }]\n  - name: b\n    routes: [{ path: '/a/{x}' }]\n",
            "already taken",
        ),
        ("version: 2\ngray: { id: g, percent: 101 }\n", "percent"),
        ("version: 2\ntest_traffic: { reserve: 1.5 }\n", "reserve"),
        (
            "version: 2\nresources:\n  - name: a\n    faults: [{ id: f, percent: 5 }]\n",
            "exactly one",
        ),
        (
            "version: 2\nresources:\n  - name: a\n    faults: [{ id: f, percent: 5, abort_status: 999 }]\n",
            "100–599",
        ),
        (
            "version: 2\nresources:\n  - name: a\n    hot_params: [{ id: h, source: query, name: q, count: 1, top_k: 0 }]\n",
            "top_k",
        ),
        (
            "version: 2\nresources:\n  - name: a\n    timeout_ms: 0\n",
            "timeout_ms",
        ),
        (
            "version: 2\nsettings: { origin_header: 'x bad' }\n",
            "header name",
        ),
        (
            "version: 2\nresources:\n  - name: a\n    switches: [{ id: s, fallback: { status: 1000 } }]\n",
            "100–599",
        ),
        (
            "version: 2\nresources:\n  - name: a\n    switches: [{ id: s, fallback: { headers: { 'bad name': x } } }]\n",
            "header name",
        ),
        (
            "version: 2\nresources:\n  - name: a\n    switches: [{ id: s, fallback: { headers: { x-a: \"caf\u{e9}\" } } }]\n",
            "printable ASCII",
        ),
        (
            "version: 2\ngray: { id: g, percent: 5 }\nresources:\n  - name: a\n    flow: [{ id: g, count: 1 }]\n",
            "more than once",
        ),
    ];
    for (doc, expected) in bad {
        let err = RuleSet::from_yaml(doc).expect_err(doc);
        assert!(err.to_string().contains(expected), "{doc}: {err}");
    }
    // A document that parses but fails validation is refused by swap too.
    let mut set = RuleSet::from_yaml(ROUTES).expect("valid");
    set.version = 9;
    set.resources[0].routes[0].path = "orders".into();
    assert!(matches!(g.swap(set), Err(GuardError::Invalid { .. })));
    assert_eq!(g.rules().version, 1);
    let v = g.evaluate(&RequestParts::new("GET", "/api/orders/1"));
    assert_eq!(v.resource.as_deref(), Some("order.get"));
}

#[test]
fn a_swap_keeps_hot_parameter_and_test_quota_counters() {
    let doc = "version: 1
upstreams: { primary: { shadow_safe: true } }
resources:
  - name: item
    routes: [{ path: /item }]
    test_qps: 4
    hot_params: [{ id: hot, source: query, name: sku, count: 2 }]
";
    let (g, _) = guard(doc);
    let req = RequestParts::new("GET", "/item").with_query("sku=1");
    let tag = [("x-seawall-test", "t")];
    let test = RequestParts::new("GET", "/item").with_headers(&tag);
    assert_eq!((0..5).filter(|_| admitted(&g.evaluate(&req))).count(), 2);
    assert_eq!((0..5).filter(|_| admitted(&g.evaluate(&test))).count(), 4);
    let report = g
        .swap(RuleSet::from_yaml(&doc.replace("version: 1", "version: 2")).expect("valid"))
        .expect("swap");
    assert_eq!(report.kept, vec!["hot".to_owned()]);
    assert_eq!((0..5).filter(|_| admitted(&g.evaluate(&req))).count(), 0);
    assert_eq!((0..5).filter(|_| admitted(&g.evaluate(&test))).count(), 0);
}

#[test]
fn under_a_test_flood_real_traffic_keeps_the_reserve_and_the_total_holds() {
    // 1,000 QPS limit, 20 % reserve; 3,000 QPS of tagged traffic and 300 QPS
    // of real traffic offered, interleaved, for 10 s. Without the reserve the
    // flood would take nearly every slot freed by the sliding window.
    let (g, clock) = guard(
        "version: 1
upstreams: { primary: { shadow_safe: true } }
resources:
  - name: r
    routes: [{ path: /r }]
    flow: [{ id: r-qps, count: 1000 }]
",
    );
    let tag = [("x-seawall-test", "flood")];
    let test = RequestParts::new("GET", "/r").with_headers(&tag);
    let real = RequestParts::new("GET", "/r");
    for second in 0..10 {
        let (mut test_in, mut real_in) = (0u32, 0u32);
        for ms in 0..1000u32 {
            for _ in 0..3 {
                test_in += u32::from(admitted(&g.evaluate(&test)));
            }
            if ms % 10 < 3 {
                real_in += u32::from(admitted(&g.evaluate(&real)));
            }
            clock.advance(Duration::from_millis(1));
        }
        assert!(test_in + real_in <= 1000, "second {second}: over the limit");
        assert!(
            test_in <= 800,
            "second {second}: test traffic took {test_in}"
        );
        assert!(
            test_in >= 400,
            "second {second}: test traffic starved: {test_in}"
        );
        if second > 0 {
            assert_eq!(real_in, 300, "second {second}: real traffic refused");
        }
    }
}
