//! Emergency-plan runs: approvals, one action at a time, failure, dry
//! runs, rollback, and a restart in the middle.

use proptest::prelude::*;
use seawall_respond::run::{Approval, Outcome, Run, RunError, RunStatus, StepStatus};
use serde_json::json;

fn steps() -> Vec<(String, Option<String>, bool)> {
    vec![
        ("rate_limit".into(), Some("coupon-grab".into()), true),
        ("degrade".into(), Some("coupon-svc".into()), true),
        ("notify".into(), Some("war-room".into()), false),
    ]
}

fn done(before: i64, after: i64) -> Outcome {
    Outcome::Done {
        before: Some(json!({"qps": before})),
        after: Some(json!({"qps": after})),
    }
}

#[test]
fn two_approvals_from_two_commanders_other_than_the_requester() {
    let mut r = Run::new(
        "coupon-rate-limit",
        "sun-li",
        0,
        false,
        Approval::Two,
        steps(),
        Some(2.0),
    );
    assert_eq!(r.status, RunStatus::AwaitingApproval);
    assert_eq!(r.next(), None, "nothing runs before approval");
    assert_eq!(
        r.start(0, 1),
        Err(RunError::WrongStatus {
            status: "awaiting_approval",
            what: "starting an action"
        })
    );
    assert_eq!(
        r.approve("sun-li", true, 1),
        Err(RunError::SelfApproval("sun-li".into()))
    );
    assert_eq!(
        r.approve("guo-tao", false, 1),
        Err(RunError::NotCommander("guo-tao".into()))
    );
    r.approve("lin-wei", true, 2).expect("first approval");
    assert_eq!(r.status, RunStatus::AwaitingApproval);
    assert_eq!(
        r.approve("lin-wei", true, 3),
        Err(RunError::SecondApprovalBySamePerson("lin-wei".into()))
    );
    r.approve("zhao-min", true, 4).expect("second approval");
    assert_eq!(r.status, RunStatus::Running);
    assert_eq!(r.next(), Some(0));
    assert_eq!(r.approvals.len(), 2);
}

#[test]
fn actions_run_in_order_and_the_run_is_timed_against_the_plan() {
    let mut r = Run::new("p", "sun-li", 0, false, Approval::None, steps(), Some(2.0));
    assert_eq!(
        r.start(1, 0),
        Err(RunError::WrongStep {
            expected: 0,
            got: 1
        })
    );
    r.start(0, 1_000).expect("start");
    assert_eq!(r.next(), None, "one action at a time");
    r.finish(0, done(2500, 1000), 2_000).expect("finish");
    for i in 1..3 {
        r.start(i, 2_000 + i as i64 * 1000).expect("start");
        r.finish(i, done(0, 1), 2_500 + i as i64 * 1000)
            .expect("finish");
    }
    assert_eq!(r.status, RunStatus::Succeeded);
    assert_eq!(r.duration_ms(), Some(3_500));
    assert_eq!(r.within_expected(), Some(true));
    assert_eq!(r.steps[0].before, Some(json!({"qps": 2500})));
    let mut slow = Run::new(
        "p",
        "a",
        0,
        false,
        Approval::None,
        steps().into_iter().take(1),
        Some(0.01),
    );
    slow.start(0, 0).expect("start");
    slow.finish(0, done(1, 2), 600_001).expect("finish");
    assert_eq!(
        slow.within_expected(),
        Some(false),
        "10 minutes against 0.6 s"
    );
}

#[test]
fn a_failure_skips_the_rest_and_rollback_undoes_what_succeeded_last_first() {
    let mut r = Run::new(
        "p",
        "sun-li",
        0,
        false,
        Approval::None,
        vec![
            ("rate_limit".into(), Some("a".into()), true),
            ("notify".into(), None, false),
            ("degrade".into(), Some("b".into()), true),
            ("scale".into(), Some("c".into()), true),
        ],
        None,
    );
    for i in 0..3 {
        r.start(i, i as i64).expect("start");
        r.finish(i, done(0, 1), i as i64).expect("finish");
    }
    r.start(3, 10).expect("start");
    r.finish(
        3,
        Outcome::Failed {
            error: "403 Forbidden".into(),
        },
        11,
    )
    .expect("finish");
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.steps[3].error.as_deref(), Some("403 Forbidden"));
    let order = r.begin_rollback().expect("rollback");
    assert_eq!(
        order,
        vec![2, 0],
        "the failed scale and the message are not undone"
    );
    assert_eq!(
        r.rolled_back(0, None),
        Err(RunError::WrongStep {
            expected: 2,
            got: 0
        })
    );
    r.rolled_back(2, None).expect("undo degrade");
    assert_eq!(r.status, RunStatus::RollingBack);
    r.rolled_back(0, Some("sidecars did not confirm".into()))
        .expect("undo limit");
    assert_eq!(r.status, RunStatus::RolledBack);
    assert_eq!(r.steps[0].status, StepStatus::RollbackFailed);
    assert_eq!(r.steps[2].status, StepStatus::RolledBack);
}

#[test]
fn a_dry_run_needs_no_approval_and_cannot_be_rolled_back() {
    let mut r = Run::new("p", "sun-li", 0, true, Approval::Two, steps(), None);
    assert_eq!(r.status, RunStatus::Running);
    for i in 0..3 {
        r.start(i, 0).expect("start");
        r.finish(i, done(0, 0), 0).expect("finish");
    }
    assert!(r.begin_rollback().is_err());
}

#[test]
fn a_restart_mid_action_marks_it_unknown_and_waits_for_a_commander() {
    let mut r = Run::new("p", "sun-li", 0, false, Approval::None, steps(), None);
    r.start(0, 0).expect("start");
    r.finish(0, done(1, 2), 1).expect("finish");
    r.start(1, 2).expect("start");
    let stored = serde_json::to_string(&r).expect("serialise");
    let mut back: Run = serde_json::from_str(&stored).expect("deserialise");
    assert_eq!(back, r);
    let marked = back.recover(|s| {
        format!(
            "check switch {} on its service",
            s.target.as_deref().unwrap_or("?")
        )
    });
    assert_eq!(marked, vec![1]);
    assert_eq!(back.status, RunStatus::NeedsAttention);
    assert_eq!(back.steps[1].status, StepStatus::Unknown);
    assert_eq!(
        back.steps[1].error.as_deref(),
        Some("check switch coupon-svc on its service")
    );
    assert_eq!(back.next(), None, "nothing more runs on its own");
    back.resume().expect("a commander goes on");
    assert_eq!(back.next(), Some(2));
    // Or rolls back: the unknown action is undone too (undoing is safe).
    let mut other: Run = serde_json::from_str(&stored).expect("deserialise");
    other.recover(|_| String::new());
    assert_eq!(other.begin_rollback().expect("rollback"), vec![1, 0]);
}

/// A run that ran all three actions and is rolling back, with the undo of
/// the degrade (step 1) started when the server stopped.
fn interrupted_mid_undo() -> Run {
    let mut r = Run::new("p", "sun-li", 0, false, Approval::None, steps(), None);
    for i in 0..3 {
        r.start(i, i as i64).expect("start");
        r.finish(i, done(1, 2), i as i64).expect("finish");
    }
    assert_eq!(r.begin_rollback().expect("rollback"), vec![1, 0]);
    assert_eq!(
        r.begin_undo(0),
        Err(RunError::WrongStep {
            expected: 1,
            got: 0
        })
    );
    r.begin_undo(1).expect("undo started");
    assert_eq!(r.steps[1].status, StepStatus::Undoing);
    assert!(
        r.begin_undo(1).is_err(),
        "an undo in progress is not started twice"
    );
    let stored = serde_json::to_string(&r).expect("serialise");
    serde_json::from_str(&stored).expect("deserialise")
}

#[test]
fn a_restart_mid_undo_marks_it_unknown_and_never_reapplies_it_by_itself() {
    let mut r = interrupted_mid_undo();
    let marked = r.recover(|s| {
        assert_eq!(
            s.status,
            StepStatus::Undoing,
            "the check sees what was in flight"
        );
        format!(
            "check {}: before {:?}",
            s.target.as_deref().unwrap_or("?"),
            s.before
        )
    });
    assert_eq!(marked, vec![1]);
    assert_eq!(r.status, RunStatus::NeedsAttention);
    assert_eq!(r.steps[1].status, StepStatus::UndoUnknown);
    assert_eq!(
        r.steps[1].error.as_deref(),
        Some("check coupon-svc: before Some(Object {\"qps\": Number(1)})")
    );
    assert_eq!(
        r.steps[1].before,
        Some(json!({"qps": 1})),
        "the capture is kept"
    );
    assert_eq!(r.steps[1].after, Some(json!({"qps": 2})));
    assert_eq!(r.next(), None);
    assert!(
        r.rolled_back(1, None).is_err(),
        "no driver records the undo until a commander decides"
    );
    // Mark done: the commander saw the value restored; the rollback goes
    // on with the rate limit only.
    let mut done_by_hand = r.clone();
    done_by_hand.resume().expect("mark done");
    assert_eq!(done_by_hand.status, RunStatus::RollingBack);
    assert_eq!(done_by_hand.steps[1].status, StepStatus::RolledBack);
    assert_eq!(done_by_hand.rollback_order(), vec![0]);
    done_by_hand.begin_undo(0).expect("undo the limit");
    done_by_hand.rolled_back(0, None).expect("undone");
    assert_eq!(done_by_hand.status, RunStatus::RolledBack);
    // Resume the rollback: the unknown undo is applied again, by that
    // decision, then the rest.
    let mut again = r;
    assert_eq!(again.begin_rollback().expect("resume rollback"), vec![1, 0]);
    again.begin_undo(1).expect("undo again");
    again.rolled_back(1, None).expect("undone");
    assert_eq!(again.rollback_order(), vec![0]);
}

#[test]
fn a_restart_between_undos_leaves_nothing_unknown() {
    let mut r = interrupted_mid_undo();
    r.rolled_back(1, None).expect("the degrade is undone");
    assert!(r.recover(|_| String::new()).is_empty());
    assert_eq!(r.status, RunStatus::RollingBack, "a driver goes on");
    assert_eq!(r.rollback_order(), vec![0]);
}

#[test]
fn a_rollback_with_nothing_to_undo_is_rolled_back_at_once() {
    // Only the message ran (and failed the run after it): nothing can be
    // undone, so the run does not wait for an undo that never comes.
    let mut r = Run::new("p", "a", 0, false, Approval::None, steps(), None);
    r.steps.swap(0, 2);
    r.start(0, 0).expect("start");
    r.finish(0, done(0, 0), 1).expect("finish");
    r.start(1, 1).expect("start");
    r.finish(1, Outcome::Failed { error: "no".into() }, 2)
        .expect("finish");
    assert_eq!(r.begin_rollback().expect("rollback"), Vec::<usize>::new());
    assert_eq!(r.status, RunStatus::RolledBack);
}

#[test]
fn cancel_only_before_the_first_action() {
    let mut r = Run::new("p", "a", 0, false, Approval::One, steps(), None);
    r.cancel().expect("cancel");
    assert_eq!(r.status, RunStatus::Cancelled);
    assert!(r.steps.iter().all(|s| s.status == StepStatus::Skipped));
    let mut s = Run::new("p", "a", 0, false, Approval::None, steps(), None);
    s.start(0, 0).expect("start");
    assert!(s.cancel().is_err());
}

proptest! {
    /// Any sequence of calls keeps the invariants: at most one action
    /// running; nothing started before enough approvals; no action after a
    /// failed one starts; a final run has no running or pending action, and
    /// no undo in flight or unknown.
    #[test]
    fn any_call_sequence_keeps_the_invariants(
        approval in prop_oneof![Just(Approval::None), Just(Approval::One), Just(Approval::Two)],
        calls in proptest::collection::vec((0u8..8, 0usize..4, any::<bool>()), 0..60),
    ) {
        let people = ["req", "c1", "c2", "x"];
        let mut r = Run::new("p", "req", 0, false, approval, vec![
            ("a".into(), None, true), ("b".into(), None, false),
            ("c".into(), None, true), ("d".into(), None, true),
        ], Some(1.0));
        for (t, (op, i, ok)) in calls.into_iter().enumerate() {
            let now = t as i64;
            let _ = match op {
                0 => r.approve(people[i], i != 3, now),
                1 => r.start(i, now),
                2 => r.finish(i, if ok { done(0, 1) } else { Outcome::Failed { error: "x".into() } }, now),
                3 => { r.recover(|_| "check".into()); Ok(()) }
                4 => r.resume(),
                5 => r.begin_rollback().map(|_| ()),
                6 => r.begin_undo(i),
                _ => r.rolled_back(i, (!ok).then(|| "y".into())),
            };
            let running = r.steps.iter().filter(|s| s.status == StepStatus::Running).count();
            prop_assert!(running <= 1);
            let started = r.steps.iter().any(|s| s.started_ms.is_some());
            if started {
                prop_assert!(r.approvals.len() >= approval.needed());
                prop_assert!(r.approvals.iter().all(|a| a.by != "req" && a.by != "x"));
            }
            if let Some(f) = r.steps.iter().position(|s| s.status == StepStatus::Failed) {
                prop_assert!(r.steps[f + 1..].iter().all(|s| s.started_ms.is_none()));
            }
            // At most one undo in flight, and only while rolling back; a
            // final run has none in flight or unknown.
            let undoing = r.steps.iter().filter(|s| s.status == StepStatus::Undoing).count();
            prop_assert!(undoing <= 1);
            prop_assert!(undoing == 0 || r.status == RunStatus::RollingBack);
            if r.status.is_final() {
                prop_assert!(r.steps.iter().all(|s| !matches!(s.status, StepStatus::Running | StepStatus::Pending | StepStatus::Undoing | StepStatus::UndoUnknown)));
            }
        }
    }
}
