//! Per-caller state under a client that picks a new caller name for every
//! request: bounded key length, idle eviction, a bounded table, and the
//! process's resident memory after a million distinct callers (checked
//! directly on the decision core, on the manual clock).

use crate::common;

use std::time::Duration;

use common::{call, guard};
use seawall_guard::{Decision, Outcome};

const SEC: u64 = 1_000_000_000;

/// The process's resident set size in KiB (Linux `/proc/self/status`).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn tracked(g: &common::TestGuard, rule: &str) -> u64 {
    g.stats(rule)
        .and_then(|s| s.tracked_values)
        .expect("per-caller rule stats")
}

/// The resident-memory growth allowed for a million callers through one
/// per-caller rule with the default `max_origins` (10 000): the table at its
/// cap is about 4 MB; docs/security.md quotes this bound and the measured
/// figure.
const RSS_BOUND_KIB: u64 = 24 * 1024;

/// One million distinct callers, 10 µs apart (10 s on the guard's clock):
/// the first 10 000 send 8 KiB names (a client filling the table with big
/// keys), the rest short ones. The table never holds more than
/// `max_origins` callers, long names are stored shortened, idle callers
/// are evicted so late callers get quotas of their own again, and resident
/// memory grows by less than [`RSS_BOUND_KIB`]. Before the bounds, the
/// 10 000 long names alone kept ~80 MB and every caller after them shared
/// the overflow quota for ever.
#[test]
fn one_million_distinct_callers_keep_memory_bounded() {
    let (g, clock) = guard(
        "version: 1\nresources:\n  - name: api\n    flow:\n      - { id: per-caller, count: 5, per_origin: true }\n",
    );
    let start = Duration::from_secs(1000);
    let before = rss_kib();
    let mut long = "x".repeat(8 * 1024);
    let mut short = String::with_capacity(32);
    let mut max_tracked = 0;
    let mut admitted = 0u64;
    for i in 0..1_000_000u64 {
        clock.set(start + Duration::from_nanos(i * 10_000));
        let name: &str = if i < 10_000 {
            let tag = format!("{i:08}");
            long.replace_range(..8, &tag);
            &long
        } else {
            short.clear();
            use std::fmt::Write;
            let _ = write!(short, "caller-{i}");
            &short
        };
        if call(&g, "api", Some(name), Outcome::Ok) {
            admitted += 1;
        }
        if i % 1_000 == 0 {
            let t = tracked(&g, "per-caller");
            assert!(t <= 10_000, "{t} callers tracked after {i}");
            max_tracked = max_tracked.max(t);
        }
    }
    let grown = rss_kib().saturating_sub(before);
    eprintln!("1 000 000 callers: resident memory +{grown} KiB, at most {max_tracked} tracked");
    assert!(max_tracked >= 9_000, "the table was used: {max_tracked}");
    // Every caller sends once and passes while it has a quota of its own.
    // The table fills in 0.1 s; its callers are idle 5 s later and a sweep
    // (at most one a second while full) frees their places for the next
    // 10 000 — two generations in 10 s, plus the overflow quota's 5/s.
    // Without eviction only the first generation ever had quotas.
    assert!(admitted >= 19_000, "{admitted} admitted");
    assert!(
        grown < RSS_BOUND_KIB,
        "resident memory grew by {grown} KiB (bound {RSS_BOUND_KIB} KiB)"
    );
}

/// A full table of callers who went quiet gives its places up: after the
/// idle time a newcomer has a quota of its own, and the quiet callers are
/// gone. Before, the first `max_origins` callers kept their places for ever
/// and every later caller shared one overflow quota.
#[test]
fn idle_callers_give_their_place_up() {
    let (g, clock) = guard(
        "version: 1\nresources:\n  - name: api\n    flow:\n      - { id: per-caller, count: 2, per_origin: true, max_origins: 100 }\n",
    );
    for i in 0..100 {
        assert!(call(&g, "api", Some(&format!("early-{i}")), Outcome::Ok));
    }
    assert_eq!(tracked(&g, "per-caller"), 100);
    // The table is full of callers active just now: newcomers share the
    // overflow quota (2/s between them).
    let late: Vec<bool> = (0..4)
        .map(|i| call(&g, "api", Some(&format!("late-{i}")), Outcome::Ok))
        .collect();
    assert_eq!(late, [true, true, false, false]);
    assert_eq!(tracked(&g, "per-caller"), 100);

    clock.advance(Duration::from_secs(6));
    // One early caller is still active; the other 99 are idle.
    assert!(call(&g, "api", Some("early-0"), Outcome::Ok));
    clock.advance(Duration::from_secs(1));
    let fresh: Vec<bool> = (0..3)
        .map(|_| call(&g, "api", Some("newcomer"), Outcome::Ok))
        .collect();
    assert_eq!(fresh, [true, true, false], "a quota of its own: 2/s");
    assert_eq!(tracked(&g, "per-caller"), 2, "early-0 and newcomer");
    assert!(call(&g, "api", Some("early-0"), Outcome::Ok));
}

/// Names longer than 128 bytes are stored shortened with a keyed hash: the
/// same long name is one caller, two long names with a common 1000-byte
/// prefix are two callers.
#[test]
fn long_caller_names_are_distinct_and_bounded() {
    let (g, _clock) = guard(
        "version: 1\nresources:\n  - name: api\n    flow:\n      - { id: per-caller, count: 1, per_origin: true }\n",
    );
    let prefix = "p".repeat(1000);
    let a = format!("{prefix}-a");
    let b = format!("{prefix}-b");
    assert!(call(&g, "api", Some(&a), Outcome::Ok));
    assert!(!call(&g, "api", Some(&a), Outcome::Ok), "same caller");
    assert!(call(&g, "api", Some(&b), Outcome::Ok), "another caller");
    assert_eq!(tracked(&g, "per-caller"), 2);
}

/// A caller holding a concurrency permit keeps its quota however long the
/// call takes: evicting it would forget the call in flight.
#[test]
fn a_caller_with_a_call_in_flight_is_not_evicted() {
    let (g, clock) = guard(
        "version: 1\nresources:\n  - name: api\n    flow:\n      - { id: per-caller, grade: concurrency, count: 1, per_origin: true, max_origins: 4 }\n",
    );
    let held = match g.check("api", Some("slow")) {
        Decision::Pass(p) => p,
        other => panic!("expected a pass, got {other:?}"),
    };
    clock.advance(Duration::from_secs(60));
    for i in 0..10 {
        assert!(call(&g, "api", Some(&format!("other-{i}")), Outcome::Ok));
        clock.advance(Duration::from_nanos(SEC));
    }
    assert!(
        !call(&g, "api", Some("slow"), Outcome::Ok),
        "its call is still in flight"
    );
    g.finish(held, Outcome::Ok);
    assert!(call(&g, "api", Some("slow"), Outcome::Ok));
}

/// A hot-parameter value is counted as the upstream reads it: percent-
/// decoded, `+` a space, and the parameter's name decoded too.
#[test]
fn hot_parameter_values_are_decoded_before_they_are_counted() {
    use seawall_guard::RequestParts;
    let (g, _clock) = guard(
        "version: 1\nresources:\n  - name: item\n    routes: [{ path: /item }]\n    hot_params: [{ id: hot-sku, source: query, name: sku, count: 2 }]\n",
    );
    let admitted = |q: &str| {
        let v = g.evaluate(&RequestParts::new("GET", "/item").with_query(q));
        let ok = v.decision.is_admitted();
        if let Decision::Pass(p) = v.decision {
            g.finish(p, Outcome::Ok);
        }
        ok
    };
    assert!(admitted("sku=12"));
    assert!(admitted("sku=%31%32"));
    assert!(!admitted("s%6Bu=1%32"), "the same value, third call");
    assert!(admitted("sku=a+b"));
    assert!(admitted("sku=a%20b"));
    assert!(!admitted("sku=a b"), "`+`, `%20` and a space are one value");
    assert!(admitted("sku=13"));
}

/// Long hot-parameter values are stored shortened but still limited each.
#[test]
fn long_hot_parameter_values_are_limited_in_bounded_slots() {
    use seawall_guard::RequestParts;
    let (g, _clock) = guard(
        "version: 1\nresources:\n  - name: item\n    routes: [{ path: /item }]\n    hot_params: [{ id: hot-sku, source: header, name: x-sku, count: 1, top_k: 8 }]\n",
    );
    let prefix = "s".repeat(4000);
    let admitted = |v: &str| {
        let headers = [("x-sku", v)];
        let r = g.evaluate(&RequestParts::new("GET", "/item").with_headers(&headers));
        let ok = r.decision.is_admitted();
        if let Decision::Pass(p) = r.decision {
            g.finish(p, Outcome::Ok);
        }
        ok
    };
    let a = format!("{prefix}a");
    assert!(admitted(&a));
    assert!(!admitted(&a), "the same long value is limited");
    assert!(admitted(&format!("{prefix}b")), "another long value");
}

/// A hot parameter sent twice (`?sku=a&sku=hot`) is refused with 400: the
/// guard would count one value while the upstream may serve the other, so
/// a limited value could be reached by putting a fresh one beside it.
#[test]
fn a_hot_query_parameter_sent_twice_is_refused() {
    use seawall_guard::{BlockReason, RequestParts};
    let (g, _clock) = guard(
        "version: 1\nresources:\n  - name: item\n    routes: [{ path: /item }]\n    hot_params: [{ id: hot-sku, source: query, name: sku, count: 1 }]\n",
    );
    let decide = |q: &str| {
        let v = g.evaluate(&RequestParts::new("GET", "/item").with_query(q));
        match v.decision {
            Decision::Pass(p) => {
                g.finish(p, Outcome::Ok);
                None
            }
            Decision::Block(b) => Some((b.reason, b.reason.status())),
            _ => panic!("unexpected decision"),
        }
    };
    assert_eq!(decide("sku=hot"), None);
    assert_eq!(
        decide("sku=hot"),
        Some((BlockReason::HotParam, 429)),
        "the value is at its limit"
    );
    for q in [
        "sku=fresh&sku=hot",
        "sku=hot&sku=fresh",
        "s%6Bu=x&sku=hot",
        "sku&sku=hot",
    ] {
        assert_eq!(
            decide(q),
            Some((BlockReason::AmbiguousParam, 400)),
            "{q} names sku twice"
        );
    }
    assert_eq!(
        decide("sku=other&other=hot"),
        None,
        "another parameter is fine"
    );
    assert_eq!(BlockReason::AmbiguousParam.as_str(), "ambiguous_param");
}
