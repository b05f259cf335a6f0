//! Incidents: transitions, a timeline in time order, MTTA and MTTR.

use seawall_respond::incident::{
    EntryKind, Incident, IncidentError, Role, Severity, Status, UpdateStatus, mean_ms,
};

#[test]
fn the_timeline_orders_itself_and_gives_mtta_and_mttr() {
    let mut i = Incident::open(
        "coupon-grab water level critical",
        Severity::P2,
        "alert:coupon-grab-water",
        Some("coupon-grab".into()),
        Some("payments".into()),
        1_000,
    );
    i.record(
        1_000,
        EntryKind::AlertFired,
        "alert:coupon-grab-water",
        "water level 0.91 > 0.85",
    );
    i.record(
        61_000,
        EntryKind::Paged,
        "escalation",
        "paged sun-li (primary) on war-room",
    );
    // Recorded late, placed by its time.
    i.record(
        31_000,
        EntryKind::PlanRun,
        "run:7",
        "coupon-rate-limit started",
    );
    i.acknowledge("sun-li", 121_000).expect("ack");
    assert_eq!(
        i.acknowledge("guo-tao", 122_000),
        Err(IncidentError::AlreadyAcked("sun-li".into()))
    );
    i.assign(Role::Commander, "lin-wei", "sun-li", 130_000)
        .expect("assign");
    i.assign(Role::Commander, "zhao-min", "lin-wei", 140_000)
        .expect("move");
    assert_eq!(i.roles, vec![(Role::Commander, "zhao-min".into())]);
    i.mitigate("sun-li", 300_000, "limit in; water level 0.78")
        .expect("mitigate");
    i.resolve("sun-li", 601_000, "traffic back under the warn level")
        .expect("resolve");
    assert_eq!(i.status, Status::Resolved);
    assert_eq!(i.time_to_ack_ms(), Some(120_000));
    assert_eq!(i.time_to_resolve_ms(), Some(600_000));
    let times: Vec<i64> = i.timeline.iter().map(|e| e.at_ms).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    assert_eq!(i.timeline[2].kind, EntryKind::PlanRun);
    assert_eq!(i.resolve("x", 700_000, ""), Err(IncidentError::Resolved));
    assert_eq!(i.acknowledge("x", 700_000), Err(IncidentError::Resolved));
}

#[test]
fn resolved_unacknowledged_counts_its_resolution_as_the_ack_and_means_skip_the_open() {
    let mut a = Incident::open("a", Severity::P4, "lin-wei", None, None, 0);
    a.resolve("lin-wei", 10_000, "false alarm")
        .expect("resolve");
    assert_eq!(a.time_to_ack_ms(), Some(10_000));
    let b = Incident::open("b", Severity::P3, "lin-wei", None, None, 0);
    assert_eq!(b.time_to_resolve_ms(), None);
    assert_eq!(
        mean_ms([a.time_to_resolve_ms(), b.time_to_resolve_ms()]),
        Some(10_000.0)
    );
    assert_eq!(mean_ms([None, None]), None);
    assert_eq!(Severity::parse("p1"), Some(Severity::P1));
    assert_eq!(Severity::parse("P5"), None);
}

#[test]
fn roles_updates_notes_and_severity_are_refused_once_resolved_and_when_unchanged() {
    let mut i = Incident::open("checkout slow", Severity::P3, "lin-wei", None, None, 0);
    i.assign(Role::Scribe, "guo-tao", "lin-wei", 1_000)
        .expect("scribe");
    assert!(matches!(
        i.assign(Role::Scribe, "guo-tao", "lin-wei", 2_000),
        Err(IncidentError::Unchanged(_))
    ));
    assert_eq!(i.holder(Role::Scribe), Some("guo-tao"));
    assert_eq!(i.holder(Role::Commander), None);
    i.set_severity(Severity::P1, "lin-wei", 3_000)
        .expect("raise");
    assert!(matches!(
        i.set_severity(Severity::P1, "lin-wei", 4_000),
        Err(IncidentError::Unchanged(_))
    ));
    i.post_update(UpdateStatus::Identified, "guo-tao", 5_000, "a slow index")
        .expect("update");
    i.note("guo-tao", 6_000, "index rebuilt on the replica first");
    // Mitigating an unacknowledged incident acknowledges it first.
    i.mitigate("lin-wei", 7_000, "index rebuilt")
        .expect("mitigate");
    assert_eq!(i.time_to_ack_ms(), Some(7_000));
    assert!(matches!(
        i.mitigate("lin-wei", 7_500, "again"),
        Err(IncidentError::Unchanged(_))
    ));
    i.resolve("lin-wei", 8_000, "done").expect("resolve");
    let before = i.clone();
    assert_eq!(
        i.post_update(UpdateStatus::Monitoring, "guo-tao", 9_000, "x"),
        Err(IncidentError::Resolved)
    );
    assert_eq!(
        i.assign(Role::Liaison, "sun-li", "lin-wei", 9_000),
        Err(IncidentError::Resolved)
    );
    assert_eq!(
        i.set_severity(Severity::P4, "lin-wei", 9_000),
        Err(IncidentError::Resolved)
    );
    assert_eq!(i, before, "a refused change changes nothing");
    // The review's notes are still taken.
    i.note("guo-tao", 10_000, "review: add the index check to the plan");
    assert_eq!(i.notes().count(), 2);
    assert_eq!(i.updates.len(), 1);
    assert_eq!(i.updates[0].status.as_str(), "identified");
    assert_eq!(i.severity, Severity::P1);
    for r in Role::ALL {
        assert_eq!(Role::parse(r.as_str()), Some(r));
    }
    for u in UpdateStatus::ALL {
        assert_eq!(UpdateStatus::parse(u.as_str()), Some(u));
    }
    assert_eq!(UpdateStatus::parse("resolved"), None);
}

#[test]
fn an_incident_stored_before_updates_existed_still_reads() {
    let i = Incident::open("old", Severity::P2, "lin-wei", None, None, 0);
    let mut v = serde_json::to_value(&i).expect("json");
    v.as_object_mut().expect("object").remove("updates");
    let back: Incident = serde_json::from_value(v).expect("reads");
    assert_eq!(back, i);
}

/// One responder action, for the property test.
#[derive(Debug, Clone)]
enum Op {
    Ack,
    Assign(usize, usize),
    Note,
    Update(usize),
    Severity(usize),
    Mitigate,
    Resolve,
    Record(i64),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        Just(Op::Ack),
        (0usize..3, 0usize..3).prop_map(|(r, p)| Op::Assign(r, p)),
        Just(Op::Note),
        (0usize..4).prop_map(Op::Update),
        (0usize..4).prop_map(Op::Severity),
        Just(Op::Mitigate),
        Just(Op::Resolve),
        (-5_000i64..5_000).prop_map(Op::Record),
    ]
}

proptest::proptest! {
    /// Any sequence of actions: a refused one changes nothing, an accepted
    /// one adds entries; the timeline stays in time order; once resolved
    /// only notes and recorded entries are taken; at most one holder per
    /// role; the time to acknowledge never exceeds the time to resolve.
    #[test]
    fn any_sequence_of_actions_keeps_the_incident_consistent(
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let people = ["lin-wei", "guo-tao", "sun-li"];
        let severities = [Severity::P1, Severity::P2, Severity::P3, Severity::P4];
        let mut i = Incident::open("x", Severity::P2, "lin-wei", None, None, 0);
        let mut now = 0;
        for op in ops {
            now += 1_000;
            let before = i.clone();
            let resolved = i.status == Status::Resolved;
            let r = match op {
                Op::Ack => i.acknowledge("guo-tao", now),
                Op::Assign(r, p) => i.assign(Role::ALL[r], people[p], "lin-wei", now),
                Op::Note => {
                    i.note("guo-tao", now, "a note");
                    Ok(())
                }
                Op::Update(s) => i.post_update(UpdateStatus::ALL[s], "sun-li", now, "text"),
                Op::Severity(s) => i.set_severity(severities[s], "lin-wei", now),
                Op::Mitigate => i.mitigate("lin-wei", now, "limit in"),
                Op::Resolve => i.resolve("lin-wei", now, "done"),
                Op::Record(back) => {
                    i.record(now + back, EntryKind::RuleChange, "admin", "rules");
                    Ok(())
                }
            };
            match r {
                Err(_) => proptest::prop_assert_eq!(&i, &before),
                Ok(()) => {
                    proptest::prop_assert!(i.timeline.len() > before.timeline.len());
                    if resolved {
                        proptest::prop_assert!(matches!(op, Op::Note | Op::Record(_)), "{op:?} after resolution");
                    }
                }
            }
            proptest::prop_assert!(i.timeline.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
            for r in Role::ALL {
                proptest::prop_assert!(i.roles.iter().filter(|(x, _)| *x == r).count() <= 1);
            }
            if let (Some(a), Some(z)) = (i.time_to_ack_ms(), i.time_to_resolve_ms()) {
                proptest::prop_assert!(a <= z);
            }
        }
    }
}
