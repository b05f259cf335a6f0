//! Benchmarks of the plan analyses on a generated plan of 10,000 services
//! and 50,000 edges: target decomposition, the capacity table, the link
//! analysis, and everything `seawall plan readiness` computes.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use seawall_plan::capacity::{self, Measured};
use seawall_plan::generate;
use seawall_plan::{links, readiness, targets};

fn analyses(c: &mut Criterion) {
    let plan = generate::sized(10_000, 50_000);
    let measured = Measured::default();
    let targets = targets::decompose(&plan);

    let mut group = c.benchmark_group("plan-10k-services-50k-edges");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("decompose", |b| {
        b.iter(|| targets::decompose(black_box(&plan)))
    });
    group.bench_function("table", |b| {
        b.iter(|| capacity::table(black_box(&plan), black_box(&targets), &measured))
    });
    group.bench_function("decompose+table", |b| {
        b.iter(|| {
            let t = targets::decompose(black_box(&plan));
            capacity::table(&plan, &t, &measured)
        })
    });
    let table = capacity::table(&plan, &targets, &measured);
    group.bench_function("links", |b| {
        b.iter(|| links::analyze(black_box(&plan), &targets, &table))
    });
    group.bench_function("all (readiness)", |b| {
        b.iter(|| {
            let t = targets::decompose(black_box(&plan));
            let table = capacity::table(&plan, &t, &measured);
            let findings = links::analyze(&plan, &t, &table);
            readiness::scorecard(&plan, &t, &table, &findings)
        })
    });
    group.finish();
}

criterion_group!(benches, analyses);
criterion_main!(benches);
