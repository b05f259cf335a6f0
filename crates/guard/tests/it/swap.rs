//! Atomic rule swaps keep the state of unchanged rules.

use crate::common;

use std::time::Duration;

use common::{call, guard};
use seawall_guard::{BreakerState, GuardError, Outcome, RuleSet};

const BEFORE: &str = "version: 1
resources:
  - name: kept
    flow:
      - id: kept-qps
        count: 10
    breakers:
      - id: kept-errors
        strategy: error_count
        threshold: 0
        min_requests: 1
        open_ms: 60000
  - name: changed
    flow:
      - id: changed-qps
        count: 10
  - name: gone
    flow:
      - id: gone-qps
        count: 1
";

/// BEFORE with `changed-qps` raised to 20, `gone` replaced by `new`.
fn after() -> RuleSet {
    let yaml = BEFORE
        .replace("version: 1", "version: 2")
        .replace(
            "id: changed-qps\n        count: 10",
            "id: changed-qps\n        count: 20",
        )
        .replace(
            "name: gone\n    flow:\n      - id: gone-qps",
            "name: new\n    flow:\n      - id: new-qps",
        );
    RuleSet::from_yaml(&yaml).expect("valid")
}

#[test]
fn swap_keeps_unchanged_counters_and_resets_changed_ones() {
    let (g, clock) = guard(BEFORE);
    for _ in 0..10 {
        assert!(call(&g, "kept", None, Outcome::Ok));
        assert!(call(&g, "changed", None, Outcome::Ok));
    }
    assert!(!call(&g, "kept", None, Outcome::Ok));
    assert!(!call(&g, "changed", None, Outcome::Ok));

    let report = g.swap(after()).expect("swap");
    assert_eq!(report.version, 2);
    assert_eq!(report.kept, vec!["kept-qps", "kept-errors"]);
    assert_eq!(report.fresh, vec!["changed-qps", "new-qps"]);
    assert_eq!(report.removed, vec!["gone-qps"]);
    assert_eq!(g.rules().version, 2);

    // Unchanged: the same second's admissions still count, and so do the totals.
    assert!(!call(&g, "kept", None, Outcome::Ok));
    let kept = g.stats("kept-qps").expect("rule");
    assert_eq!((kept.pass_qps, kept.blocked), (10, 2));
    // Changed: a fresh window with the new limit.
    let fresh = (0..30)
        .filter(|_| call(&g, "changed", None, Outcome::Ok))
        .count();
    assert_eq!(fresh, 20);
    assert_eq!(g.stats("changed-qps").map(|s| s.blocked), Some(10));
    assert!(g.stats("gone-qps").is_none());
    clock.advance(Duration::from_secs(1));
    assert!(call(&g, "kept", None, Outcome::Ok));
}

#[test]
fn swap_keeps_breaker_state_and_an_invalid_set_changes_nothing() {
    let (g, clock) = guard(BEFORE);
    clock.advance(Duration::from_secs(2));
    assert!(call(&g, "kept", None, Outcome::Error));
    assert_eq!(g.breaker_state("kept-errors"), Some(BreakerState::Open));
    g.swap(after()).expect("swap");
    assert_eq!(g.breaker_state("kept-errors"), Some(BreakerState::Open));
    assert!(!call(&g, "kept", None, Outcome::Ok));

    let mut bad = after();
    bad.version = 3;
    bad.resources[1].flow[0].id = "kept-qps".into();
    assert_eq!(
        g.swap(bad),
        Err(GuardError::DuplicateRule("kept-qps".into()))
    );
    assert_eq!(g.rules().version, 2);

    // Changing a breaker's parameters resets it.
    let mut changed = after();
    changed.version = 4;
    changed.resources[0].breakers[0].open_ms = 1000;
    g.swap(changed).expect("swap");
    assert_eq!(g.breaker_state("kept-errors"), Some(BreakerState::Closed));
}

#[test]
fn swap_keeps_a_flipped_switch_and_per_caller_quotas() {
    let doc = "version: 1
resources:
  - name: api
    switches:
      - id: api-degrade
    flow:
      - id: api-per-caller
        count: 2
        per_origin: true
";
    let (g, _clock) = guard(doc);
    g.set_switch("api-degrade", true).expect("switch");
    g.swap(RuleSet::from_yaml(&doc.replace("version: 1", "version: 2")).expect("valid"))
        .expect("swap");
    assert_eq!(g.check("api", Some("a")).rule_id(), Some("api-degrade"));
    g.set_switch("api-degrade", false).expect("switch");
    assert!(call(&g, "api", Some("a"), Outcome::Ok));
    assert!(call(&g, "api", Some("a"), Outcome::Ok));
    g.swap(RuleSet::from_yaml(&doc.replace("version: 1", "version: 3")).expect("valid"))
        .expect("swap");
    assert!(
        !call(&g, "api", Some("a"), Outcome::Ok),
        "caller a's quota is kept"
    );
    assert!(call(&g, "api", Some("b"), Outcome::Ok));
}
