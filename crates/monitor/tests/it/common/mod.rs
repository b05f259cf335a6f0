//! The carnival plan and fixed readings for it.

use seawall_monitor::{Metrics, Reading, Readings};
use seawall_plan::Plan;

/// The flagship plan.
pub const CARNIVAL: &str = include_str!("../../../../../examples/carnival/plan.yaml");

/// The carnival plan, parsed.
pub fn carnival() -> Plan {
    seawall_plan::parse(CARNIVAL, "plan.yaml").expect("carnival parses")
}

/// A fresh reading.
pub fn value(qps: f64, p99_ms: f64, error_rate: f64) -> Reading {
    Reading::Value(Metrics {
        qps: Some(qps),
        p99_ms: Some(p99_ms),
        error_rate: Some(error_rate),
    })
}

/// A funnel rate.
pub fn rate(qps: f64) -> Reading {
    Reading::Value(Metrics {
        qps: Some(qps),
        ..Metrics::default()
    })
}

/// Every entry, service and partner of the plan at `share` of its target
/// (fixed p99 and error rate), funnel steps at fixed rates.
pub fn at_share(plan: &Plan, share: f64) -> Readings {
    let t = seawall_plan::targets::decompose(plan);
    let mut r = Readings::default();
    for e in &t.entries {
        r.entries
            .insert(e.id.clone(), value(e.target_qps * share, 120.0, 0.0005));
    }
    for s in &t.services {
        r.services
            .insert(s.id.clone(), value(s.target_qps * share, 80.0, 0.0002));
    }
    for p in &t.partners {
        r.partners
            .insert(p.id.clone(), value(p.target_qps * share, 300.0, 0.0));
    }
    for (k, step) in plan.monitoring.funnel.iter().enumerate() {
        r.funnel
            .insert(step.name.clone(), rate(1000.0 / (k + 1) as f64));
    }
    r
}

/// The row of `id` in one list of the live view.
pub fn row<'a>(rows: &'a [seawall_monitor::LiveRow], id: &str) -> &'a seawall_monitor::LiveRow {
    rows.iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no row {id}"))
}
