//! History memory over a simulated 24-hour event.

use seawall_monitor::Metrics;
use seawall_monitor::history::{
    POINT_BYTES, POINTS_PER_SERIES, SERIES_BYTES, SQLITE_BYTES_PER_POINT, Series, TIERS,
};

#[test]
fn a_day_of_a_thousand_series_stays_within_the_documented_bound() {
    const SERIES: usize = 1_000;
    const DAY_MS: u64 = 24 * 3_600_000;
    let origin = 1_759_190_400_000;
    let mut all: Vec<Series> = (0..SERIES).map(|_| Series::new(origin)).collect();
    let before: usize = all.iter().map(Series::heap_bytes).sum();
    // Time compressed: one sample per series every 10 s of event time.
    let mut t = origin;
    while t < origin + DAY_MS {
        for (i, s) in all.iter_mut().enumerate() {
            let x = ((t / 10_000) as usize + i) % 97;
            s.push(
                t,
                &Metrics {
                    qps: Some(x as f64),
                    p99_ms: Some(50.0 + x as f64),
                    error_rate: Some(0.001),
                },
            );
        }
        t += 10_000;
    }
    let after: usize = all.iter().map(Series::heap_bytes).sum();
    assert_eq!(before, after, "memory is fixed when a series is made");
    assert!(
        after <= SERIES * SERIES_BYTES,
        "{after} > {}",
        SERIES * SERIES_BYTES
    );
    // Every ring is full after a day except the 48-hour one.
    let s = &all[0];
    assert_eq!(s.points(0).len(), TIERS[0].1);
    assert_eq!(s.points(1).len(), TIERS[1].1);
    assert_eq!(s.points(2).len(), 24 * 12 - 1);
    let p = s.points(0);
    assert!(
        p.windows(2).all(|w| w[1].t_s == w[0].t_s + 10),
        "10 s points in order"
    );
    assert_eq!(p.last().map(|p| p.t_s), Some(24 * 3_600 - 20));
    // The store's bound: a day with 1,000 series under 100 MB in SQLite.
    let held: usize = all
        .iter()
        .map(|s| (0..TIERS.len()).map(|k| s.points(k).len()).sum::<usize>())
        .sum();
    assert!(held <= SERIES * POINTS_PER_SERIES);
    assert!(held * SQLITE_BYTES_PER_POINT < 100_000_000, "{held} points");
    const { assert!(SQLITE_BYTES_PER_POINT >= 2 * POINT_BYTES) };
}

#[test]
fn the_live_view_feeds_the_history() {
    use seawall_monitor::history::History;
    use seawall_monitor::sample::TargetKind;
    use seawall_monitor::{Config, Evaluator, Reading};
    use seawall_plan::capacity::Measured;

    let plan = crate::common::carnival();
    let mut ev = Evaluator::new(&plan, &Measured::default(), Config::default());
    let mut history = History::new(0);
    let mut readings = crate::common::at_share(&plan, 0.5);
    readings.services.insert(
        "map-svc".into(),
        Reading::Failed {
            error: "down".into(),
        },
    );
    for i in 0..=6u64 {
        ev.evaluate(&readings, i * 5_000).live.record(&mut history);
    }
    let targets = plan.entries.len() + plan.services.len() - 1
        + plan.partners.len()
        + plan.monitoring.funnel.len();
    assert_eq!(history.len(), targets, "a failed source records nothing");
    assert!(history.get(TargetKind::Service, "map-svc").is_none());
    let home = history.get(TargetKind::Entry, "home").expect("home");
    let p = home.points(0);
    assert_eq!(
        (p.len(), p[0].samples, p[1].samples, p[2].samples),
        (3, 2, 2, 2)
    );
    assert!(history.heap_bytes() <= history.len() * SERIES_BYTES);
}
