//! The live view of the carnival plan with fixed readings.

use seawall_monitor::eval::SourceState;
use seawall_monitor::{Config, Evaluator, Reading};
use seawall_plan::capacity::{Measured, Status};

use crate::common::{at_share, carnival, row, value};

#[test]
fn carnival_live_view_snapshot() {
    let plan = carnival();
    let mut ev = Evaluator::new(&plan, &Measured::default(), Config::default());
    let mut readings = at_share(&plan, 0.9);
    // One service over target, one failed, one stale, one missing.
    readings
        .services
        .insert("coupon-svc".into(), value(9_000.0, 150.0, 0.004));
    readings.services.insert(
        "map-svc".into(),
        Reading::Failed {
            error: "bad_data: parse error at char 5".into(),
        },
    );
    readings.services.insert(
        "risk-svc".into(),
        Reading::Stale {
            since_ms: 1_759_200_000_000,
        },
    );
    readings.services.remove("user-svc");
    readings
        .partners
        .insert("pay-partner".into(), value(100.0, 900.0, 0.0005));
    let out = ev.evaluate(&readings, 1_759_200_005_000);
    insta::assert_json_snapshot!("carnival_live", out.live);
}

#[test]
fn a_failed_or_stale_source_is_never_zero() {
    let plan = carnival();
    let mut ev = Evaluator::new(&plan, &Measured::default(), Config::default());
    let mut readings = at_share(&plan, 0.5);
    readings.entries.insert(
        "home".into(),
        Reading::Failed {
            error: "connection refused".into(),
        },
    );
    readings
        .entries
        .insert("pay".into(), Reading::Stale { since_ms: 10 });
    let out = ev.evaluate(&readings, 20_000);
    let home = row(&out.live.entries, "home");
    assert_eq!(home.source, SourceState::Failed);
    assert_eq!(home.error.as_deref(), Some("connection refused"));
    assert_eq!(
        (home.qps, home.water_level, home.status),
        (None, None, Status::Unknown)
    );
    assert!(
        home.capacity_qps.is_some(),
        "the plan's capacity still shows"
    );
    let pay = row(&out.live.entries, "pay");
    assert_eq!(
        (pay.source, pay.updated_at, pay.qps),
        (SourceState::Stale, Some(10), None)
    );
    // Nothing fires on a source that says nothing.
    assert!(
        out.transitions
            .iter()
            .all(|t| t.target.id != "home" && t.target.id != "pay")
    );
}

#[test]
fn rising_traffic_gives_a_time_to_critical() {
    let plan = carnival();
    let mut ev = Evaluator::new(&plan, &Measured::default(), Config::default());
    let mut last = None;
    for i in 0..10u64 {
        let out = ev.evaluate(&at_share(&plan, 0.4 + 0.02 * i as f64), i * 5_000);
        last = out.live.entries.into_iter().find(|r| r.id == "home");
    }
    let home = last.expect("home");
    let level = home.water_level.expect("level");
    let ttc = home.time_to_critical_s.expect("rising");
    // The level rises linearly; the fitted slope reaches 0.9 where the line does.
    let per_second = level / (0.4 + 0.18) * 0.02 / 5.0;
    assert!(
        (ttc - (plan.capacity.critical_level - level) / per_second).abs() < 1e-6,
        "{ttc}"
    );
    let traffic = home.traffic_ratio.expect("target");
    assert!((traffic - 0.58).abs() < 1e-9);
    // Flat traffic: no time to critical.
    let mut ev = Evaluator::new(&plan, &Measured::default(), Config::default());
    for i in 0..10u64 {
        let out = ev.evaluate(&at_share(&plan, 0.5), i * 5_000);
        let home = row(&out.live.entries, "home");
        assert_eq!(home.time_to_critical_s, None);
    }
}

#[test]
fn funnel_conversion_against_the_plan() {
    // A funnel whose steps name journey entries gets the journeys' conversions.
    let yaml = crate::common::CARNIVAL.replace(
        "- {name: coupon exposure, query: 'sum(rate(carnival_coupon_exposures_total[1m]))'}",
        "- {name: scan-unlock, query: 'sum(rate(x[1m]))'}\n    - {name: create-order, query: 'sum(rate(y[1m]))'}\n    - {name: pay, query: 'sum(rate(z[1m]))'}",
    );
    let plan = seawall_plan::parse(&yaml, "plan.yaml").expect("parses");
    let planned = seawall_monitor::live::planned_conversions(&plan);
    assert_eq!(&planned[..3], &[None, Some(0.8), Some(0.95)]);
    let rules = seawall_monitor::derive_alerts(&plan);
    assert!(rules.iter().any(|r| r.id == "funnel_step:pay:drop"));
    let mut ev = Evaluator::new(&plan, &Measured::default(), Config::default());
    let mut readings = at_share(&plan, 0.5);
    readings
        .funnel
        .insert("scan-unlock".into(), crate::common::rate(700.0));
    readings
        .funnel
        .insert("create-order".into(), crate::common::rate(560.0));
    // Redemption collapses while HTTP answers 200: pay converts at 0.3 instead of 0.95.
    readings
        .funnel
        .insert("pay".into(), crate::common::rate(168.0));
    let mut fired = Vec::new();
    for i in 0..=60u64 {
        fired.extend(ev.evaluate(&readings, i * 5_000).transitions);
    }
    let out = ev.evaluate(&readings, 305_000);
    let pay = &out.live.funnel[2];
    assert_eq!(
        (pay.conversion, pay.planned_conversion, pay.status),
        (Some(0.3), Some(0.95), Status::Critical)
    );
    assert!(out.live.funnel[1].status == Status::Ok);
    assert!(
        fired.iter().any(|t| t.rule == "funnel_step:pay:drop"
            && t.change == seawall_monitor::alert::Change::Fired),
        "{fired:?}"
    );
}
