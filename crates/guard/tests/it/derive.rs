//! Rule sets derived from a plan carry a catch-all resource: a request no
//! entry's route matches still meets a limit.

use seawall_guard::derive::{self, CATCH_ALL};
use seawall_guard::{Guard, ManualClock, RequestParts};
use seawall_plan::capacity::{self, Measured};
use seawall_plan::targets;
use std::sync::Arc;

const CARNIVAL: &str = include_str!("../../../../examples/carnival/plan.yaml");

fn derived() -> (seawall_plan::Plan, derive::Derived) {
    let plan = seawall_plan::parse(CARNIVAL, "plan.yaml").expect("carnival plan parses");
    let table = capacity::table(&plan, &targets::decompose(&plan), &Measured::default());
    let d = derive::from_plan(&plan, &table, derive::DEFAULT_SAFETY).expect("derives");
    (plan, d)
}

#[test]
fn the_whole_set_has_a_catch_all_limited_by_the_largest_entry() {
    let (_, d) = derived();
    let largest = d.limits.iter().filter_map(|l| l.qps).fold(0.0, f64::max);
    let r = d
        .rules
        .resources
        .iter()
        .find(|r| r.name == CATCH_ALL)
        .expect("a catch-all resource");
    assert_eq!(r.routes.len(), 1);
    assert_eq!(r.routes[0].path, "/*");
    assert_eq!(r.routes[0].method, None);
    assert_eq!(r.flow[0].count, largest);

    let guard = Guard::with_clock(d.rules.clone(), Arc::new(ManualClock::new())).expect("guard");
    let route = |m: &str, p: &str| {
        let v = guard.evaluate(&RequestParts::new(m, p));
        v.resource.as_deref().map(str::to_owned)
    };
    // Entries keep their routes; anything else meets the catch-all.
    assert_eq!(
        route("POST", "/api/orders").as_deref(),
        Some("create-order")
    );
    assert_eq!(route("GET", "/api/orders").as_deref(), Some(CATCH_ALL));
    assert_eq!(route("GET", "/admin/export").as_deref(), Some(CATCH_ALL));
    assert_eq!(route("GET", "/").as_deref(), Some(CATCH_ALL));
}

#[test]
fn a_service_subset_limits_its_catch_all_by_its_own_entries() {
    let (plan, d) = derived();
    let order = derive::for_service(&plan, &d.rules, "order-svc").expect("subset");
    let entry = d
        .limits
        .iter()
        .find(|l| l.entry == "create-order")
        .and_then(|l| l.qps)
        .expect("create-order has a limit");
    let r = order
        .resources
        .iter()
        .find(|r| r.name == CATCH_ALL)
        .expect("catch-all in the subset");
    assert_eq!(r.flow[0].count, entry);
    // A service that serves no entry gets none.
    let served: std::collections::HashSet<&str> =
        plan.entries.values().map(|e| e.service.as_str()).collect();
    let backend = plan
        .services
        .keys()
        .find(|s| !served.contains(s.as_str()))
        .expect("a service without entries");
    let sub = derive::for_service(&plan, &d.rules, backend).expect("subset");
    assert!(sub.resources.iter().all(|r| r.name != CATCH_ALL));
}

proptest::proptest! {
    /// A derived pace queue is 50 ms where that holds at least
    /// `ENTRY_PACE_SLOTS` slots, otherwise that many slots (rounded up to
    /// the millisecond), never beyond `ENTRY_PACE_MAX_MS`.
    #[test]
    fn a_derived_pace_queue_holds_its_slots_within_bounds(count in 0.01f64..1.0e7) {
        let ms = derive::entry_pace_ms(count) as f64;
        let slots = derive::ENTRY_PACE_SLOTS * 1000.0 / count;
        proptest::prop_assert!(ms >= derive::ENTRY_PACE_MS as f64);
        proptest::prop_assert!(ms <= derive::ENTRY_PACE_MAX_MS as f64);
        if ms < derive::ENTRY_PACE_MAX_MS as f64 {
            proptest::prop_assert!(ms >= slots, "{ms} ms holds fewer than the slots ({slots} ms)");
        }
        if ms > derive::ENTRY_PACE_MS as f64 {
            proptest::prop_assert!(ms < slots + 1.0, "{ms} ms is longer than the slots need ({slots} ms)");
        }
    }
}

/// At a low limit (60 QPS, a slot of 16.7 ms) the derived queue lets
/// eight users who click at the same instant as a ninth wait their turn
/// behind it instead of refusing the fourth, and refuses the tenth.
#[test]
fn a_low_derived_limit_queues_a_burst_of_eight() {
    let count = 60.0;
    let ms = derive::entry_pace_ms(count);
    assert_eq!(ms, 134);
    let yaml = format!(
        "version: 1\nresources:\n  - name: api\n    flow:\n      - id: p\n        count: {count}\n        behavior: pace\n        max_queueing_ms: {ms}\n"
    );
    let rules = seawall_guard::RuleSet::from_yaml(&yaml).expect("valid");
    let clock = Arc::new(ManualClock::new());
    let g = Guard::with_clock(rules, Arc::clone(&clock)).expect("guard");
    let mut admitted = 0;
    let mut refused = 0;
    for _ in 0..10 {
        match g.check("api", None) {
            seawall_guard::Decision::Pass(_) | seawall_guard::Decision::Wait { .. } => {
                admitted += 1
            }
            _ => refused += 1,
        }
    }
    assert_eq!(
        (admitted, refused),
        (9, 1),
        "one request now and eight waiting, the tenth refused"
    );
    assert_eq!(derive::entry_pace_ms(1500.0), derive::ENTRY_PACE_MS);
    assert_eq!(derive::entry_pace_ms(1.0), derive::ENTRY_PACE_MAX_MS);
}
