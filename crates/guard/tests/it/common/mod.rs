//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use seawall_guard::{Decision, Guard, ManualClock, Outcome, RuleSet};

pub type TestGuard = Guard<Arc<ManualClock>>;

/// A guard on a manual clock starting at 1 000 s (well away from zero).
pub fn guard(yaml: &str) -> (TestGuard, Arc<ManualClock>) {
    let rules = RuleSet::from_yaml(yaml).expect("test rules are valid");
    let clock = Arc::new(ManualClock::starting_at(Duration::from_secs(1000)));
    let guard = Guard::with_clock(rules, Arc::clone(&clock)).expect("guard builds");
    (guard, clock)
}

/// Checks once and finishes an admitted call at once with `outcome`;
/// returns whether it was admitted.
pub fn call(g: &TestGuard, resource: &str, origin: Option<&str>, outcome: Outcome) -> bool {
    match g.check(resource, origin) {
        Decision::Pass(p) | Decision::Wait { permit: p, .. } => {
            g.finish(p, outcome);
            true
        }
        Decision::Block(_) | Decision::Fallback(_) => false,
    }
}
