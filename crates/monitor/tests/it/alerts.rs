//! Alerts from the plan: derived rules, firing, persistence across a restart.

use seawall_monitor::alert::{Change, Snapshot, State};
use seawall_monitor::sample::TargetKind;
use seawall_monitor::{Config, Evaluator, Severity, derive_alerts};
use seawall_plan::capacity::Measured;

use crate::common::{at_share, carnival, value};

#[test]
fn derived_alerts_cover_every_entry_and_service() {
    let plan = carnival();
    let rules = derive_alerts(&plan);
    for (kind, ids) in [
        (TargetKind::Entry, plan.entries.keys().collect::<Vec<_>>()),
        (TargetKind::Service, plan.services.keys().collect()),
    ] {
        for id in ids {
            for what in ["water-warn", "water-critical", "traffic"] {
                let rid = format!("{}:{id}:{what}", kind.as_str());
                assert!(rules.iter().any(|r| r.id == rid), "{rid}");
            }
        }
    }
    let warn = rules
        .iter()
        .find(|r| r.id == "entry:home:water-warn")
        .expect("warn");
    assert_eq!(
        (warn.threshold, warn.severity, warn.for_ms),
        (plan.capacity.warn_level, Severity::Warn, 60_000)
    );
    let crit = rules
        .iter()
        .find(|r| r.id == "service:coupon-svc:water-critical")
        .expect("critical");
    assert_eq!(
        (crit.threshold, crit.severity),
        (plan.capacity.critical_level, Severity::Critical)
    );
    assert!(
        rules
            .iter()
            .any(|r| r.id == "entry:pay:burn-0" && r.severity == Severity::Page)
    );
    assert!(
        rules
            .iter()
            .any(|r| r.id == "entry:pay:burn-3" && r.severity == Severity::Ticket)
    );
    assert!(rules.iter().any(|r| r.id == "partner:pay-partner:sla-p99"));
    assert!(
        rules
            .iter()
            .any(|r| r.id == "partner:sms-partner:sla-errors")
    );
    let traffic = rules
        .iter()
        .find(|r| r.id == "entry:home:traffic")
        .expect("traffic");
    assert_eq!(traffic.threshold, 1.2);
}

#[test]
fn water_level_fires_after_its_for_duration_and_critical_silences_warn() {
    let plan = carnival();
    let mut ev = Evaluator::new(&plan, &Measured::default(), Config::default());
    let mut all = Vec::new();
    // Every target at 2× target: home's level is 1.15, above critical.
    for i in 0..=13u64 {
        all.extend(ev.evaluate(&at_share(&plan, 2.0), i * 5_000).transitions);
    }
    let fired = |id: &str| {
        all.iter()
            .find(|t| t.rule == id && t.change == Change::Fired)
    };
    let crit = fired("entry:home:water-critical").expect("critical fired");
    assert_eq!(crit.at_ms, 30_000, "30 s for-duration");
    let warn = fired("entry:home:water-warn").expect("warn fired");
    assert_eq!(warn.at_ms, 60_000, "1 m for-duration");
    assert_eq!(
        warn.inhibited_by.as_deref(),
        Some("entry:home:water-critical")
    );
    let traffic = fired("entry:home:traffic").expect("traffic over 1.2× target");
    assert_eq!(
        traffic.inhibited_by.as_deref(),
        Some("entry:home:water-critical")
    );
    // The plan's own alert fires too.
    assert!(fired("coupon-grab-water").is_some());
    let listed = ev.alerts(false);
    assert!(
        listed
            .iter()
            .any(|a| a.id == "entry:home:water-critical" && a.state == "firing")
    );
}

#[test]
fn a_restart_neither_loses_nor_refires_a_firing_alert() {
    let plan = carnival();
    let mut ev = Evaluator::new(&plan, &Measured::default(), Config::default());
    let mut readings = at_share(&plan, 0.5);
    readings
        .entries
        .insert("home".into(), value(1e9, 100.0, 0.0));
    let mut fired = 0;
    for i in 0..=12u64 {
        fired += ev
            .evaluate(&readings, i * 5_000)
            .transitions
            .iter()
            .filter(|t| t.rule == "entry:home:water-critical" && t.change == Change::Fired)
            .count();
    }
    assert_eq!(fired, 1);
    // Persist mid-firing as the store would (JSON), then start afresh.
    let saved = serde_json::to_string(&ev.alert_snapshot()).expect("serializes");
    let restored: Snapshot = serde_json::from_str(&saved).expect("deserializes");
    assert!(matches!(
        restored.rules["entry:home:water-critical"].state,
        State::Firing {
            since_ms: 0,
            fired_ms: 30_000
        }
    ));
    let mut ev = Evaluator::new(&plan, &Measured::default(), Config::default());
    ev.restore_alerts(&restored);
    let mut after = Vec::new();
    for i in 13..=30u64 {
        after.extend(ev.evaluate(&readings, i * 5_000).transitions);
    }
    assert!(
        !after.iter().any(|t| t.rule == "entry:home:water-critical"),
        "no second transition for a firing alert: {after:?}"
    );
    assert!(
        ev.alerts(false)
            .iter()
            .any(|a| a.id == "entry:home:water-critical" && a.since == Some(30_000))
    );
    // And it resolves once the level falls below the hysteresis level.
    let calm = at_share(&plan, 0.1);
    let t = ev.evaluate(&calm, 200_000).transitions;
    assert!(
        t.iter()
            .any(|t| t.rule == "entry:home:water-critical" && t.change == Change::Resolved)
    );
}

#[test]
fn burn_rate_pages_on_an_error_storm_at_a_one_second_scrape() {
    let plan = carnival();
    let config = Config {
        scrape_interval_ms: 1_000,
        min_requests: 10.0,
        ..Config::default()
    };
    let mut ev = Evaluator::new(&plan, &Measured::default(), config);
    // The carnival's peak is 4 h: 1 h → 20 s, 5 m → 1.7 s (refused, < 4 s); 6 h → 2 m, 30 m → 10 s.
    let windows = ev.burn_windows();
    assert!(windows[0].is_err());
    assert_eq!(
        windows[1].as_ref().map(|w| (w.long_ms, w.short_ms)),
        Ok((120_000, 10_000))
    );
    let mut readings = at_share(&plan, 0.5);
    // pay's budget is 0.001; 2 % errors burn 20× > 6×.
    readings
        .entries
        .insert("pay".into(), value(400.0, 100.0, 0.02));
    let mut all = Vec::new();
    for i in 1..=130u64 {
        all.extend(ev.evaluate(&readings, i * 1_000).transitions);
    }
    let page = all
        .iter()
        .find(|t| t.rule == "entry:pay:burn-1" && t.change == Change::Fired)
        .expect("pages");
    assert!((page.value - 20.0).abs() < 1e-6, "{}", page.value);
    assert!(
        !all.iter().any(|t| t.rule == "entry:pay:burn-0"),
        "a refused pair never fires"
    );
    assert!(
        !all.iter().any(|t| t.rule.starts_with("entry:home:burn")),
        "home is within budget"
    );
}

#[test]
fn an_unreachable_source_raises_source_down_after_three_intervals() {
    let plan = carnival();
    let mut ev = Evaluator::new(&plan, &Measured::default(), Config::default());
    let mut readings = at_share(&plan, 0.5);
    readings.services.insert(
        "risk-svc".into(),
        seawall_monitor::Reading::Failed {
            error: "connect: connection refused".into(),
        },
    );
    let down = |t: &seawall_monitor::Transition| t.rule == "service:risk-svc:source-down";
    let mut at = Vec::new();
    for i in 1..=4u64 {
        at.extend(
            ev.evaluate(&readings, i * 5_000)
                .transitions
                .into_iter()
                .filter(down),
        );
    }
    assert_eq!(at.len(), 1, "{at:?}");
    assert_eq!(
        (at[0].change, at[0].at_ms, at[0].value),
        (Change::Fired, 15_000, 3.0)
    );
    let t = ev.evaluate(&at_share(&plan, 0.5), 25_000).transitions;
    let back: Vec<_> = t.iter().filter(|t| down(t)).collect();
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].change, Change::Resolved);
}

#[test]
fn a_restart_keeps_source_down_firing_while_the_source_stays_down() {
    let plan = carnival();
    let mut readings = at_share(&plan, 0.5);
    readings.services.insert(
        "risk-svc".into(),
        seawall_monitor::Reading::Failed {
            error: "connect: connection refused".into(),
        },
    );
    let down = |t: &seawall_monitor::Transition| t.rule == "service:risk-svc:source-down";
    let mut ev = Evaluator::new(&plan, &Measured::default(), Config::default());
    let fired: Vec<_> = (1..=3u64)
        .flat_map(|i| ev.evaluate(&readings, i * 5_000).transitions)
        .filter(down)
        .collect();
    assert_eq!(fired.len(), 1);
    // A restart: a new evaluator from the stored states; the source is
    // still down, so the alert neither resolves nor fires a second time.
    let saved = serde_json::to_string(&ev.alert_snapshot()).expect("serializes");
    let restored: Snapshot = serde_json::from_str(&saved).expect("deserializes");
    let mut ev = Evaluator::new(&plan, &Measured::default(), Config::default());
    ev.restore_alerts(&restored);
    let after: Vec<_> = (4..=8u64)
        .flat_map(|i| ev.evaluate(&readings, i * 5_000).transitions)
        .filter(down)
        .collect();
    assert!(after.is_empty(), "{after:?}");
    assert!(
        ev.alerts(false)
            .iter()
            .any(|a| a.id == "service:risk-svc:source-down" && a.state == "firing")
    );
    // Back up: it resolves at once.
    let t = ev.evaluate(&at_share(&plan, 0.5), 50_000).transitions;
    assert!(t.iter().any(|t| down(t) && t.change == Change::Resolved));
}
