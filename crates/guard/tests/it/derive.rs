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
