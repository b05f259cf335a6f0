//! Nanoseconds per `Guard::check` on the pass and block paths, with one
//! resource and with 1,000 resources (each with a QPS rule and a breaker).
//!
//! `cargo bench -p seawall-guard --bench check`

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use seawall_guard::{Clock, CoarseClock, Decision, Guard, MonotonicClock, Outcome, RuleSet};

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

criterion_group!(benches, bench);
criterion_main!(benches);
