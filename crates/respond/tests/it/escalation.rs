//! Who is paged when: the rota's tiers, pacing from the recorded page, a
//! restart that never pages twice, acknowledgement.

use proptest::prelude::*;
use seawall_respond::escalation::{
    Escalation, EscalationError, Level, Policy, Tier, Timestamp, Wait, responders,
};

const MIN: i64 = 60_000;

fn plan() -> seawall_plan::Plan {
    seawall_plan::parse(
        r#"
event:
  name: carnival
  timezone: UTC
people:
  ann: {name: Ann}
  bob: {name: Bob}
  cat: {name: Cat}
  dan: {name: Dan}
  eve: {name: Eve}
organization:
  guarantee_group: [eve, ann]
  business_lines:
    bike: {name: Bike, tech_pm: cat}
oncall:
  rota:
    - {start: "2026-09-30T00:00", end: "2026-10-01T00:00", primary: ann, secondary: bob}
    - {lines: [bike], start: "2026-09-30T08:00", end: "2026-09-30T20:00", primary: cat, secondary: dan}
"#,
        "plan.yaml",
    )
    .expect("plan parses")
}

fn at(t: &str) -> Timestamp {
    t.parse().expect("timestamp")
}

fn tiers(levels: &[Level]) -> Vec<(Tier, Vec<&str>)> {
    levels
        .iter()
        .map(|l| (l.tier, l.people.iter().map(String::as_str).collect()))
        .collect()
}

#[test]
fn the_lines_own_shift_wins_and_nobody_is_paged_twice_in_one_round() {
    let p = plan();
    let peak = at("2026-09-30T10:00:00Z");
    assert_eq!(
        tiers(&responders(&p, Some("bike"), peak)),
        vec![
            (Tier::Primary, vec!["cat"]),
            (Tier::Secondary, vec!["dan"]),
            (Tier::GuaranteeGroup, vec!["eve", "ann"]),
        ]
    );
    // Another line (or none) gets the shift for every line; ann is its
    // primary, so the group tier leaves her out.
    assert_eq!(
        tiers(&responders(&p, Some("ride"), peak)),
        vec![
            (Tier::Primary, vec!["ann"]),
            (Tier::Secondary, vec!["bob"]),
            (Tier::GuaranteeGroup, vec!["eve"]),
        ]
    );
    // Outside the line's shift the general one applies.
    assert_eq!(
        tiers(&responders(&p, Some("bike"), at("2026-09-30T21:00:00Z")))[0],
        (Tier::Primary, vec!["ann"])
    );
    // Outside every shift: the guarantee group alone.
    assert_eq!(
        tiers(&responders(&p, None, at("2026-10-02T00:00:00Z"))),
        vec![(Tier::GuaranteeGroup, vec!["eve", "ann"])]
    );
}

fn levels() -> Vec<Level> {
    vec![
        Level {
            tier: Tier::Primary,
            people: vec!["cat".into()],
        },
        Level {
            tier: Tier::Secondary,
            people: vec!["dan".into()],
        },
        Level {
            tier: Tier::GuaranteeGroup,
            people: vec!["eve".into(), "ann".into()],
        },
    ]
}

#[test]
fn pages_escalate_every_ack_timeout_and_stop_at_the_ack() {
    let policy = Policy {
        ack_timeout_ms: 5 * MIN,
        max_rounds: None,
    };
    let mut e = Escalation::open(0, policy, levels()).expect("open");
    let first = e.due(0).expect("the primary at once");
    assert_eq!(
        (first.step, first.tier, first.people.clone()),
        (0, Tier::Primary, vec!["cat".to_owned()])
    );
    // Asking again without recording changes nothing.
    assert_eq!(e.due(1), Some(first.clone()));
    e.record(&first, 0).expect("record");
    assert_eq!(
        e.due(5 * MIN - 1),
        None,
        "the primary has the whole ack timeout"
    );
    assert_eq!(e.wait(), Wait::Until(5 * MIN));
    let second = e.due(5 * MIN).expect("the secondary");
    assert_eq!(second.tier, Tier::Secondary);
    e.record(&second, 5 * MIN).expect("record");
    let third = e.due(10 * MIN).expect("the group");
    assert_eq!(third.tier, Tier::GuaranteeGroup);
    e.record(&third, 10 * MIN).expect("record");
    // Round again until somebody answers.
    let again = e.due(15 * MIN).expect("round 2");
    assert_eq!((again.tier, again.round), (Tier::Primary, 1));
    e.acknowledge("dan", 16 * MIN).expect("ack");
    assert_eq!(e.due(60 * MIN), None);
    assert_eq!(e.wait(), Wait::Acked);
    assert_eq!(e.time_to_ack_ms(), Some(16 * MIN));
    assert_eq!(
        e.acknowledge("cat", 17 * MIN),
        Err(EscalationError::AlreadyAcked { by: "dan".into() })
    );
    assert_eq!(
        e.pages_per_person(),
        vec![
            ("cat".into(), 1),
            ("dan".into(), 1),
            ("eve".into(), 1),
            ("ann".into(), 1)
        ]
    );
}

#[test]
fn after_a_restart_the_stored_state_pages_once_and_paces_from_the_recorded_page() {
    let policy = Policy {
        ack_timeout_ms: 5 * MIN,
        max_rounds: None,
    };
    let mut e = Escalation::open(0, policy, levels()).expect("open");
    let first = e.due(0).expect("due");
    e.record(&first, 0).expect("record");
    // The control plane stores the state and dies; it comes back at 12 min.
    let stored = serde_json::to_string(&e).expect("serialise");
    let mut back: Escalation = serde_json::from_str(&stored).expect("deserialise");
    assert_eq!(back, e);
    // One page is due (the secondary), not two.
    let due = back.due(12 * MIN).expect("the secondary");
    assert_eq!(due.tier, Tier::Secondary);
    back.record(&due, 12 * MIN).expect("record");
    assert_eq!(back.due(12 * MIN), None, "nothing else at the same instant");
    // The secondary gets a full ack timeout from when it was paged.
    assert_eq!(back.wait(), Wait::Until(17 * MIN));
    // Recording the same step again (a retried request) is refused.
    assert_eq!(
        back.record(&due, 12 * MIN),
        Err(EscalationError::OutOfOrder {
            expected: 2,
            got: 1
        })
    );
}

#[test]
fn bounded_rounds_exhaust_and_nobody_to_page_says_so() {
    let policy = Policy {
        ack_timeout_ms: MIN,
        max_rounds: Some(1),
    };
    let mut e = Escalation::open(0, policy, levels()).expect("open");
    for t in 0..3 {
        let d = e.due(t * MIN).expect("due");
        e.record(&d, t * MIN).expect("record");
    }
    assert_eq!(e.wait(), Wait::Exhausted);
    assert_eq!(e.due(100 * MIN), None);
    let none = Escalation::open(0, Policy::default(), Vec::new()).expect("open");
    assert_eq!(none.wait(), Wait::Nobody);
    assert_eq!(none.due(0), None);
    assert_eq!(
        Escalation::open(
            0,
            Policy {
                ack_timeout_ms: 999,
                max_rounds: None
            },
            levels()
        ),
        Err(EscalationError::BadTimeout(999))
    );
}

proptest! {
    /// Whatever the ticks (irregular, with long gaps like a restart), each
    /// step is paged once, in order, tiers cycling, and never sooner than
    /// the ack timeout after the previous page.
    #[test]
    fn pages_are_paced_ordered_and_never_repeated(
        timeout_s in 1i64..600,
        gaps in proptest::collection::vec(0i64..2_000_000, 1..80),
        ack_at in proptest::option::of(0usize..80),
    ) {
        let policy = Policy { ack_timeout_ms: timeout_s * 1000, max_rounds: None };
        let mut e = Escalation::open(0, policy, levels()).expect("open");
        let mut now = 0i64;
        for (i, gap) in gaps.iter().enumerate() {
            now += gap;
            if ack_at == Some(i) {
                e.acknowledge("someone", now).expect("first ack");
            }
            if let Some(d) = e.due(now) {
                e.record(&d, now).expect("record what is due");
            }
        }
        for (k, s) in e.sent.iter().enumerate() {
            prop_assert_eq!(s.step as usize, k);
            prop_assert_eq!(s.level, k % 3);
            if k > 0 {
                prop_assert!(s.at_ms - e.sent[k - 1].at_ms >= timeout_s * 1000);
            }
            if let Some(a) = &e.ack {
                prop_assert!(s.at_ms <= a.at_ms);
            }
        }
    }
}
