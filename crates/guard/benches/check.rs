//! Nanoseconds per `Guard::check` on the pass and block paths, with one
//! resource and with 1,000 resources (each with a QPS rule and a breaker);
//! per `Guard::evaluate` (route matching, hot-parameter lookup, the whole
//! request-level path); beside governor's GCRA limiter on the same clock
//! source (`Instant`); per `canonical_path` (the request path made
//! canonical: the borrowed fast path and the rebuilding slow path).
//!
//! `cargo bench -p seawall-guard --bench check`

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use std::num::NonZeroU32;

use criterion::{Criterion, criterion_group, criterion_main};
use seawall_guard::{
    Clock, CoarseClock, Decision, Guard, MonotonicClock, Outcome, RequestParts, RuleSet,
};

/// `n` resources `res-0000`…, each with a QPS rule of `count` and an
/// error-ratio breaker.
fn rules(n: usize, count: f64) -> RuleSet {
    let mut yaml = String::from("version: 1\nresources:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  - name: res-{i:04}\n    flow:\n      - id: qps-{i:04}\n        count: {count}\n    breakers:\n      - id: brk-{i:04}\n        strategy: error_ratio\n        threshold: 0.5\n        min_requests: 100\n        open_ms: 10000\n"
        ));
    }
    RuleSet::from_yaml(&yaml).expect("bench rules are valid")
}

fn run<C: Clock>(c: &mut Criterion, clock_name: &str, make: impl Fn() -> C) {
    let mut group = c.benchmark_group(format!("guard-check/{clock_name}"));
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    for n in [1usize, 1000] {
        let names: Vec<String> = (0..n).map(|i| format!("res-{i:04}")).collect();

        // Pass path: the limit is never reached; check, then finish the
        // permit (which feeds the breaker).
        let guard = Guard::with_clock(rules(n, 1e12), make()).expect("guard");
        let mut i = 0usize;
        group.bench_function(format!("pass+finish/{n}-resources"), |b| {
            b.iter(|| {
                i = (i + 1) % n;
                match guard.check(black_box(&names[i]), None) {
                    Decision::Pass(p) => guard.finish(p, Outcome::Ok),
                    other => panic!("expected a pass, got {other:?}"),
                }
            })
        });

        // Pass path, check only (the permit is dropped unfinished).
        let mut i = 0usize;
        group.bench_function(format!("pass/{n}-resources"), |b| {
            b.iter(|| {
                i = (i + 1) % n;
                black_box(guard.check(black_box(&names[i]), None))
            })
        });

        // Block path: a limit of 0 blocks every call.
        let guard = Guard::with_clock(rules(n, 0.0), make()).expect("guard");
        let mut i = 0usize;
        group.bench_function(format!("block/{n}-resources"), |b| {
            b.iter(|| {
                i = (i + 1) % n;
                black_box(guard.check(black_box(&names[i]), None))
            })
        });
    }
    // Two threads checking the same resource (shared counters, shared
    // rule-set lock): time per check, summed over both threads' wall time.
    let guard = Guard::with_clock(rules(1, 1e12), make()).expect("guard");
    group.bench_function("pass/1-resource-2-threads", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..iters / 2 {
                            drop(black_box(guard.check(black_box("res-0000"), None)));
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    // Two threads, each checking its own resource: nothing shared but the
    // rule set, so the figure shows what reading the rule set costs under
    // concurrency (perfect scaling halves the single-thread figure).
    let guard = Guard::with_clock(rules(2, 1e12), make()).expect("guard");
    group.bench_function("pass/2-resources-2-threads", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            std::thread::scope(|s| {
                for name in ["res-0000", "res-0001"] {
                    let guard = &guard;
                    s.spawn(move || {
                        for _ in 0..iters / 2 {
                            drop(black_box(guard.check(black_box(name), None)));
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

/// `n` routed resources `/api/res-NNNN/{id}`, each with a QPS rule of
/// `count`; the first also has a hot-parameter rule on query `sku`.
fn routed(n: usize, count: f64) -> RuleSet {
    let mut yaml = String::from("version: 1\nresources:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  - name: res-{i:04}\n    routes: [{{ method: GET, path: '/api/res-{i:04}/{{id}}' }}, {{ method: POST, path: /api/res-{i:04} }}]\n    flow: [{{ id: qps-{i:04}, count: {count} }}]\n"
        ));
        if i == 0 {
            yaml.push_str(&format!(
                "    hot_params: [{{ id: hot, source: query, name: sku, count: {count}, top_k: 1000 }}]\n"
            ));
        }
    }
    RuleSet::from_yaml(&yaml).expect("bench rules are valid")
}

fn request_level(c: &mut Criterion) {
    let mut group = c.benchmark_group("guard-evaluate/monotonic-clock");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in [1usize, 1000] {
        let guard = Guard::new(routed(n, 1e12)).expect("guard");
        let paths: Vec<String> = (0..n).map(|i| format!("/api/res-{i:04}/42")).collect();
        let mut i = 0usize;
        // Route matching plus the pass path of a QPS rule.
        group.bench_function(format!("route+pass/{n}-resources"), |b| {
            b.iter(|| {
                i = (i + 1) % n;
                let req = RequestParts::new("GET", black_box(&paths[i]));
                black_box(guard.evaluate(&req))
            })
        });
    }
    // Hot-parameter lookup: 500 distinct values, all tracked.
    let guard = Guard::new(routed(1, 1e12)).expect("guard");
    let queries: Vec<String> = (0..500).map(|v| format!("sku={v}")).collect();
    let mut i = 0usize;
    group.bench_function("route+hot-param+pass/500-values", |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            let req =
                RequestParts::new("GET", "/api/res-0000/1").with_query(black_box(&queries[i]));
            black_box(guard.evaluate(&req))
        })
    });
    // A value stream larger than top_k: every miss evicts.
    let mut v = 0u64;
    group.bench_function("route+hot-param+pass/evicting", |b| {
        b.iter(|| {
            v += 1;
            let q = format!("sku={v}");
            let req = RequestParts::new("GET", "/api/res-0000/1").with_query(&q);
            black_box(guard.evaluate(&req))
        })
    });
    group.finish();
}

/// governor's direct (unkeyed) GCRA limiter, the same shapes as above.
fn governor(c: &mut Criterion) {
    use governor::{Quota, RateLimiter};
    let mut group = c.benchmark_group("governor/direct");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let max = NonZeroU32::MAX;
    let pass = RateLimiter::direct(Quota::per_second(max));
    group.bench_function("pass", |b| b.iter(|| black_box(pass.check())));
    let one = NonZeroU32::MIN;
    let block = RateLimiter::direct(Quota::per_hour(one));
    let _ = block.check();
    group.bench_function("block", |b| b.iter(|| black_box(block.check())));
    group.bench_function("pass-2-threads", |b| {
        b.iter_custom(|iters| {
            let start = std::time::Instant::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..iters / 2 {
                            black_box(pass.check()).ok();
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    run(c, "monotonic-clock", MonotonicClock::new);
    run(c, "coarse-clock", || {
        CoarseClock::new(Duration::from_millis(1)).expect("clock thread")
    });
    // A resource without rules: lookup only, no clock read.
    let guard = Guard::new(rules(1, 1e12)).expect("guard");
    c.bench_function("guard-check/unprotected-resource", |b| {
        b.iter(|| black_box(guard.check(black_box("other"), None)))
    });
}

/// `canonical_path` on an already-canonical path (the common case: one
/// pass, borrowed), on paths that need rebuilding, and on one it refuses.
fn canonical(c: &mut Criterion) {
    let mut group = c.benchmark_group("canonical-path");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    for (name, path) in [
        ("canonical-short", "/api/orders"),
        (
            "canonical-long",
            "/api/v2/catalogue/items/1234567/reviews/recent",
        ),
        ("escaped", "/api/%6Frders/%c3%a9t%C3%A9"),
        ("dot-segments", "/api/x/./y/../../orders//;jsessionid=1"),
        ("refused", "/api%2Forders"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let _ = black_box(seawall_guard::canonical_path(black_box(path)));
            })
        });
    }
    group.bench_function("query-value/plain", |b| {
        b.iter(|| black_box(seawall_guard::decode_query_value(black_box("12345"))))
    });
    group.bench_function("query-value/escaped", |b| {
        b.iter(|| black_box(seawall_guard::decode_query_value(black_box("%31%32+3%34"))))
    });
    group.finish();
}

criterion_group!(benches, bench, request_level, governor, canonical);
criterion_main!(benches);
