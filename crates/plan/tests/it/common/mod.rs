//! Helpers shared by the integration tests.

use jiff::Timestamp;
use seawall_plan::Plan;

/// An RFC 3339 instant.
pub fn ts(s: &str) -> Timestamp {
    s.parse().expect("RFC 3339 test instant")
}

/// A plan that must be valid.
pub fn plan(src: &str) -> Plan {
    match seawall_plan::parse(src, "test.yaml") {
        Ok(p) => p,
        Err(d) => panic!("test plan is invalid: {d:?}"),
    }
}

/// The flagship example plan's text.
pub const CARNIVAL: &str = include_str!("../../../../../examples/carnival/plan.yaml");

/// The flagship example plan.
pub fn carnival() -> Plan {
    plan(CARNIVAL)
}
