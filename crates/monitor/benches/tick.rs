//! One evaluation tick of 1,000 entries and 1,000 services with at least
//! 10 alert rules each (`docs/benchmarks.md#monitoring-evaluation-tick`): readings
//! for every target, water levels, trends, burn rates over the four
//! workbook pairs and 22,000 alert rules stepped.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use seawall_monitor::alert::{Direction, Signal, Target};
use seawall_monitor::sample::TargetKind;
use seawall_monitor::{AlertRule, Config, Evaluator, Metrics, Reading, Readings, Severity};
use seawall_plan::capacity::Measured;
use seawall_plan::generate::{Spec, plan};
use seawall_plan::model::Slo;

fn tick(c: &mut Criterion) {
    let spec = Spec {
        entries: 1_000,
        ..Spec::sized(1_000, 3_000)
    };
    let mut plan = plan(&spec);
    let slo = Some(Slo {
        p99_ms: Some(500.0),
        error_rate: Some(0.001),
    });
    plan.entries.values_mut().for_each(|e| e.slo = slo);
    plan.services.values_mut().for_each(|s| s.slo = slo);
    // Eight derived rules per target (water warn and critical, traffic, four
    // burn pairs, source down) plus three plan-style ones: 11 each.
    let mut rules = seawall_monitor::derive_alerts(&plan);
    for (kind, ids) in [
        (
            TargetKind::Entry,
            plan.entries.keys().cloned().collect::<Vec<_>>(),
        ),
        (TargetKind::Service, plan.services.keys().cloned().collect()),
    ] {
        for id in ids {
            for (signal, above) in [
                (Signal::P99Ms, 500.0),
                (Signal::ErrorRate, 0.01),
                (Signal::Qps, 1e6),
            ] {
                rules.push(
                    AlertRule::new(
                        format!("{id}-{}", signal.as_str()),
                        Target::new(kind, id.clone()),
                        signal,
                        Direction::Above,
                        above,
                        Severity::Page,
                    )
                    .held_for(60_000),
                );
            }
        }
    }
    let per_target = rules.len() as f64 / (plan.entries.len() + plan.services.len()) as f64;
    assert!(per_target >= 10.0, "{per_target} rules per target");
    let config = Config {
        scrape_interval_ms: 1_000,
        min_requests: 10.0,
        ..Config::default()
    };
    let mut ev = Evaluator::with_rules(&plan, &Measured::default(), config, rules);
    let reading = |i: usize| {
        Reading::Value(Metrics {
            qps: Some(100.0 + (i % 50) as f64),
            p99_ms: Some(120.0),
            error_rate: Some(0.002),
        })
    };
    let readings = Readings {
        entries: plan
            .entries
            .keys()
            .enumerate()
            .map(|(i, id)| (id.clone(), reading(i)))
            .collect(),
        services: plan
            .services
            .keys()
            .enumerate()
            .map(|(i, id)| (id.clone(), reading(i)))
            .collect(),
        ..Readings::default()
    };
    // Fill the trends and burn windows first: a tick in the steady state.
    let mut now = 0u64;
    for _ in 0..600 {
        now += 1_000;
        ev.evaluate(&readings, now);
    }
    let mut group = c.benchmark_group("monitor");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function("tick-1000-entries-1000-services-10-rules-each", |b| {
        b.iter(|| {
            now += 1_000;
            black_box(ev.evaluate(black_box(&readings), now))
        })
    });
    group.finish();
}

criterion_group!(benches, tick);
criterion_main!(benches);
