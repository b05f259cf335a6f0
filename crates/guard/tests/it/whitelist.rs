//! Distributed whitelists: the compact set against a `HashSet` (property
//! tests), versions shipped as deltas, the set installed into a running
//! guard, and gray requests under `isolation: shadow` carried as test
//! traffic.

use std::collections::HashSet;
use std::sync::Arc;

use proptest::prelude::*;
use seawall_guard::whitelist::{Delta, Whitelist};
use seawall_guard::{BlockReason, Decision, GrayReason, RequestParts, Upstream};

use crate::common::guard;

/// Ids as real lists hold them: small and large numbers, leading zeros,
/// words.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..2_000).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        (0u64..50).prop_map(|n| format!("0{n}")),
        "[a-z][a-z0-9_.-]{0,12}",
    ]
}

/// The set's canonical form of an id (a decimal id is its number).
fn canon(id: &str) -> String {
    match id.parse::<u64>() {
        Ok(n) if id.bytes().all(|b| b.is_ascii_digit()) => n.to_string(),
        _ => id.to_owned(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Membership equals a `HashSet`'s, for listed ids and others.
    #[test]
    fn membership_equals_a_hash_set(
        listed in proptest::collection::vec(id(), 0..1500),
        probes in proptest::collection::vec(id(), 0..500),
    ) {
        let set = Whitelist::from_ids(1, listed.iter().map(String::as_str));
        let reference: HashSet<String> = listed.iter().map(|s| canon(s)).collect();
        prop_assert_eq!(set.len(), reference.len());
        for p in listed.iter().chain(&probes) {
            prop_assert_eq!(set.contains(p), reference.contains(&canon(p)), "id `{}`", p);
        }
    }

    /// A delta between any two versions, through the wire form, turns the
    /// old set into exactly the new one.
    #[test]
    fn a_delta_leads_to_the_new_set(
        old in proptest::collection::vec(id(), 0..1000),
        new in proptest::collection::vec(id(), 0..1000),
    ) {
        let a = Whitelist::from_ids(4, old.iter().map(String::as_str));
        let b = Whitelist::from_ids(5, new.iter().map(String::as_str));
        let wire = b.delta_from(&a).encode();
        let delta = Delta::decode(&wire).expect("decodes");
        prop_assert_eq!(a.apply(&delta).expect("applies"), b.clone());
        let whole = Delta::decode(&b.full().encode()).expect("decodes");
        prop_assert_eq!(Whitelist::default().apply(&whole).expect("applies"), b);
    }

    /// No byte string makes the decoder panic or promise more than it holds.
    #[test]
    fn any_bytes_decode_or_are_refused(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Delta::decode(&bytes);
        let mut framed = b"SWL1".to_vec();
        framed.extend_from_slice(&bytes);
        if let Ok(d) = Delta::decode(&framed) {
            let _ = Whitelist::default().apply(&d);
        }
    }
}

fn gray_to(g: &seawall_guard::Guard<impl seawall_guard::Clock>, user: &str) -> bool {
    let h = [("x-user-id", user)];
    let v = g.evaluate(&RequestParts::new("GET", "/").with_headers(&h));
    if v.upstream == Upstream::Gray {
        assert_eq!(v.gray, Some(GrayReason::Whitelist), "user `{user}`");
    }
    v.upstream == Upstream::Gray
}

#[test]
fn an_installed_whitelist_routes_its_ids_and_survives_rule_swaps() {
    let (g, _) = guard("version: 1\ngray:\n  id: gray.beta\n  whitelist: ['7']\nresources: []\n");
    assert!(gray_to(&g, "7") && !gray_to(&g, "1001"));
    let ids: Vec<String> = (1000..3000u64).map(|i| i.to_string()).collect();
    g.install_whitelist(Arc::new(Whitelist::from_ids(
        1,
        ids.iter().map(String::as_str),
    )));
    assert_eq!(g.whitelist().map(|w| w.version()), Some(1));
    assert!(gray_to(&g, "7"), "the inline whitelist still counts");
    assert!(gray_to(&g, "1001") && gray_to(&g, "2999"));
    assert!(!gray_to(&g, "3000") && !gray_to(&g, "999"));
    // A rule swap keeps the installed set.
    g.swap(
        seawall_guard::RuleSet::from_yaml("version: 2\ngray:\n  id: gray.beta\nresources: []\n")
            .expect("valid"),
    )
    .expect("swaps");
    assert!(!gray_to(&g, "7") && gray_to(&g, "1001"));
    // A new version replaces it whole.
    g.install_whitelist(Arc::new(Whitelist::from_ids(2, ["3000"])));
    assert!(gray_to(&g, "3000") && !gray_to(&g, "1001"));
}

#[test]
fn a_whitelist_without_a_gray_rule_routes_nothing() {
    let (g, _) = guard("version: 1\nresources: []\n");
    g.install_whitelist(Arc::new(Whitelist::from_ids(1, ["42"])));
    assert!(!gray_to(&g, "42"));
}

#[test]
fn shadow_isolated_gray_requests_are_test_traffic_tagged_upstream() {
    let rules = "version: 1
upstreams:
  gray: { shadow_safe: true }
gray:
  id: gray.beta
  whitelist: ['42']
  isolation: shadow
resources: []
";
    let (g, _) = guard(rules);
    let h = [("x-user-id", "42")];
    let v = g.evaluate(&RequestParts::new("GET", "/").with_headers(&h));
    assert_eq!(v.upstream, Upstream::Gray);
    assert!(v.test, "gray under shadow isolation is test traffic");
    assert_eq!(v.tag_upstream.as_deref(), Some("x-seawall-test"));
    assert!(v.decision.is_admitted());
    // Not gray: real traffic, nothing added.
    let h = [("x-user-id", "43")];
    let v = g.evaluate(&RequestParts::new("GET", "/").with_headers(&h));
    assert!(!v.test && v.tag_upstream.is_none());
    // Already tagged: nothing to add.
    let h = [("x-user-id", "42"), ("x-seawall-test", "drill")];
    let v = g.evaluate(&RequestParts::new("GET", "/").with_headers(&h));
    assert!(v.test && v.tag_upstream.is_none());
    // Without isolation gray traffic stays real traffic.
    let (plain, _) = guard("version: 1\ngray:\n  id: g\n  whitelist: ['42']\nresources: []\n");
    let h = [("x-user-id", "42")];
    let v = plain.evaluate(&RequestParts::new("GET", "/").with_headers(&h));
    assert!(!v.test && v.tag_upstream.is_none());
    // A gray upstream that is not shadow-safe refuses shadow gray users
    // rather than letting them touch real data.
    let unsafe_rules = rules.replace("shadow_safe: true", "shadow_safe: false");
    let (g, _) = guard(&unsafe_rules);
    let h = [("x-user-id", "42")];
    let v = g.evaluate(&RequestParts::new("GET", "/").with_headers(&h));
    assert!(matches!(
        v.decision,
        Decision::Block(ref b) if b.reason == BlockReason::NotShadowSafe
    ));
}
