//! The change gate across window edges, time zones and DST, and the scope
//! of freeze exceptions (including a property: an exception never lets a
//! change through outside its scope).

use jiff::SignedDuration;
use proptest::prelude::*;
use seawall_plan::gate::{
    self, ExceptionError, ExceptionState, ExceptionStatus, FreezeException, gate, gate_job,
};
use seawall_plan::model::ChangeKind::{self, Config, Ops, Release};

use crate::common;
use common::{carnival, plan, ts};

const NS: SignedDuration = SignedDuration::from_nanos(1);

/// An approved exception.
fn approved(
    id: &str,
    services: &[&str],
    kinds: &[ChangeKind],
    start: &str,
    end: &str,
) -> FreezeException {
    FreezeException::request(
        id,
        services.iter().map(|s| s.to_string()).collect(),
        kinds.to_vec(),
        ts(start),
        ts(end),
        "hotfix for a payment timeout",
    )
    .expect("valid exception")
    .decide(
        true,
        "lin-wei",
        ts(start) - SignedDuration::from_hours(1),
        None,
    )
    .expect("approvable")
}

// ------------------------------------------------------------ window edges

#[test]
fn frozen_exactly_at_start_free_exactly_at_end() {
    let p = carnival();
    // carnival: 2026-09-28T00:00 to 2026-10-02T00:00 in Asia/Shanghai (+08:00).
    let start = ts("2026-09-27T16:00:00Z");
    let end = ts("2026-10-01T16:00:00Z");
    let d = gate(&p, "order-svc", Release, start, &[]);
    assert!(!d.allowed && d.frozen, "{d:?}");
    assert_eq!(d.window.as_ref().map(|w| w.id.as_str()), Some("carnival"));
    assert_eq!(d.next_free, Some(end));
    assert!(
        d.reason.contains("window `carnival`") && d.reason.contains("2026-10-02T00:00:00+08:00"),
        "{}",
        d.reason
    );
    assert!(gate(&p, "order-svc", Release, start - NS, &[]).allowed);
    assert!(!gate(&p, "order-svc", Release, end - NS, &[]).allowed);
    let after = gate(&p, "order-svc", Release, end, &[]);
    assert!(after.allowed && !after.frozen && after.window.is_none());
    assert_eq!(after.next_free, Some(end));
    assert!(
        after.reason.contains("no freeze window"),
        "{}",
        after.reason
    );
}

#[test]
fn adjacent_windows_chain_and_kinds_filter() {
    let p = carnival();
    // payments-config [09-25, 09-28) is adjacent to carnival [09-28, 10-02).
    let d = gate(
        &p,
        "pay-gateway",
        Config,
        ts("2026-09-26T00:00:00+08:00"),
        &[],
    );
    assert!(!d.allowed);
    assert_eq!(
        d.window.as_ref().map(|w| w.id.as_str()),
        Some("payments-config")
    );
    assert_eq!(d.next_free, Some(ts("2026-10-02T00:00:00+08:00")));
    // The same instant for a release, or for a service outside `pay-*`/`coupon-*`: free.
    assert!(
        gate(
            &p,
            "pay-gateway",
            Release,
            ts("2026-09-26T00:00:00+08:00"),
            &[]
        )
        .allowed
    );
    assert!(
        gate(
            &p,
            "order-svc",
            Config,
            ts("2026-09-26T00:00:00+08:00"),
            &[]
        )
        .allowed
    );
}

#[test]
fn overlapping_windows_are_all_named() {
    let p = plan(
        "event: {name: t}\nfreeze:\n  windows:\n    a: {start: \"2026-01-01T00:00\", end: \"2026-01-03T00:00\"}\n    b: {start: \"2026-01-02T00:00\", end: \"2026-01-05T00:00\", services: [\"x-*\"]}\n    c: {start: \"2026-01-05T00:00\", end: \"2026-01-06T00:00\", kinds: [ops]}\n",
    );
    let d = gate(&p, "x-1", Release, ts("2026-01-02T12:00:00Z"), &[]);
    let ids: Vec<&str> = d.windows.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    assert!(d.reason.contains("and by `b`"), "{}", d.reason);
    // c does not freeze releases, so the release is free at b's end.
    assert_eq!(d.next_free, Some(ts("2026-01-05T00:00:00Z")));
    let ops = gate(&p, "x-1", Ops, ts("2026-01-02T12:00:00Z"), &[]);
    assert_eq!(ops.next_free, Some(ts("2026-01-06T00:00:00Z")));
}

// ------------------------------------------------------------ time zones and DST

#[test]
fn berlin_window_across_spring_forward() {
    // Europe/Berlin goes from +01:00 to +02:00 at 2026-03-29 02:00 local.
    let p = plan(
        "event: {name: t, timezone: Europe/Berlin}\nfreeze:\n  windows:\n    w: {start: \"2026-03-28T12:00\", end: \"2026-03-30T12:00\"}\n",
    );
    let w = &p.freeze.windows["w"].window;
    assert_eq!(w.start, ts("2026-03-28T11:00:00Z"));
    assert_eq!(w.end, ts("2026-03-30T10:00:00Z"));
    assert_eq!(
        w.end.duration_since(w.start),
        SignedDuration::from_hours(47)
    );
    assert!(!gate(&p, "s", Ops, w.start, &[]).allowed);
    assert!(gate(&p, "s", Ops, w.start - NS, &[]).allowed);
    assert!(!gate(&p, "s", Ops, w.end - NS, &[]).allowed);
    assert!(gate(&p, "s", Ops, w.end, &[]).allowed);
    // The reason speaks the event's zone, with each side's own offset.
    let d = gate(&p, "s", Ops, w.start, &[]);
    assert!(
        d.reason
            .contains("2026-03-28T12:00:00+01:00 to 2026-03-30T12:00:00+02:00"),
        "{}",
        d.reason
    );
}

#[test]
fn new_york_window_across_fall_back_covers_both_one_thirties() {
    // America/New_York repeats 01:00–02:00 on 2026-11-01 (EDT, then EST).
    let p = plan(
        "event: {name: t, timezone: America/New_York}\nfreeze:\n  windows:\n    w: {start: \"2026-11-01T00:00\", end: \"2026-11-01T03:00\"}\n",
    );
    let w = &p.freeze.windows["w"].window;
    assert_eq!(w.start, ts("2026-11-01T04:00:00Z"));
    assert_eq!(w.end, ts("2026-11-01T08:00:00Z"));
    assert!(!gate(&p, "s", Release, ts("2026-11-01T01:30:00-04:00"), &[]).allowed);
    assert!(!gate(&p, "s", Release, ts("2026-11-01T01:30:00-05:00"), &[]).allowed);
    assert!(gate(&p, "s", Release, ts("2026-11-01T03:00:00-05:00"), &[]).allowed);
}

#[test]
fn nonexistent_local_start_moves_forward_by_the_gap() {
    // 02:30 does not exist in Berlin on 2026-03-29; the plan's time parsing
    // takes it as 03:30 CEST (jiff's "compatible" strategy, as RFC 5545 does).
    let p = plan(
        "event: {name: t, timezone: Europe/Berlin}\nfreeze:\n  windows:\n    w: {start: \"2026-03-29T02:30\", end: \"2026-03-29T06:00\"}\n",
    );
    let w = &p.freeze.windows["w"].window;
    assert_eq!(w.start, ts("2026-03-29T01:30:00Z"));
    assert!(gate(&p, "s", Release, ts("2026-03-29T01:29:59Z"), &[]).allowed);
    assert!(!gate(&p, "s", Release, ts("2026-03-29T01:30:00Z"), &[]).allowed);
}

#[test]
fn ambiguous_local_start_takes_the_earlier_instant() {
    // 02:30 happens twice in Berlin on 2026-10-25; a plan time without an
    // offset means the first (CEST, +02:00); an explicit offset picks either.
    let p = plan(
        "event: {name: t, timezone: Europe/Berlin}\nfreeze:\n  windows:\n    first: {start: \"2026-10-25T02:30\", end: \"2026-10-25T06:00\"}\n    second: {start: \"2026-10-25T02:30:00+01:00\", end: \"2026-10-25T06:00\", services: [\"late*\"]}\n",
    );
    assert_eq!(
        p.freeze.windows["first"].window.start,
        ts("2026-10-25T00:30:00Z")
    );
    assert_eq!(
        p.freeze.windows["second"].window.start,
        ts("2026-10-25T01:30:00Z")
    );
    assert!(!gate(&p, "s", Release, ts("2026-10-25T00:30:00Z"), &[]).allowed);
    assert!(
        gate(&p, "late", Release, ts("2026-10-25T00:30:00Z"), &[])
            .windows
            .len()
            == 1
    );
    let late = gate(&p, "late", Release, ts("2026-10-25T01:30:00Z"), &[]);
    assert_eq!(late.windows.len(), 2);
}

// ------------------------------------------------------------ exceptions

#[test]
fn approved_exception_lets_exactly_its_scope_through() {
    let p = carnival();
    let e = approved(
        "EX-1",
        &["pay-*"],
        &[Release, Config],
        "2026-09-30T11:00:00+08:00",
        "2026-09-30T12:00:00+08:00",
    );
    let at = ts("2026-09-30T11:30:00+08:00");
    let ok = gate(&p, "pay-gateway", Release, at, std::slice::from_ref(&e));
    assert!(ok.allowed && ok.frozen, "{ok:?}");
    assert_eq!(ok.exception.as_deref(), Some("EX-1"));
    assert!(ok.reason.contains("exception `EX-1`"), "{}", ok.reason);
    // Another kind, another service, a look-alike name: still frozen.
    let ex = std::slice::from_ref(&e);
    assert!(!gate(&p, "pay-gateway", Ops, at, ex).allowed);
    assert!(!gate(&p, "order-svc", Release, at, ex).allowed);
    assert!(!gate(&p, "payroll", Release, at, ex).allowed);
    assert!(!gate(&p, "Pay-gateway", Release, at, ex).allowed);
    // Its own window's edges: from its start, not at its end.
    let s = ts("2026-09-30T11:00:00+08:00");
    let end = ts("2026-09-30T12:00:00+08:00");
    assert!(!gate(&p, "pay-gateway", Release, s - NS, ex).allowed);
    assert!(gate(&p, "pay-gateway", Release, s, ex).allowed);
    assert!(gate(&p, "pay-gateway", Release, end - NS, ex).allowed);
    let expired = gate(&p, "pay-gateway", Release, end, ex);
    assert!(!expired.allowed && expired.exception.is_none());
    assert_eq!(e.state_at(end), ExceptionState::Expired);
    assert_eq!(e.state_at(s), ExceptionState::Active);
    assert_eq!(e.state_at(s - NS), ExceptionState::Scheduled);
}

#[test]
fn pending_rejected_and_invalid_exceptions_never_let_through() {
    let p = carnival();
    let at = ts("2026-09-30T11:30:00+08:00");
    let pending = FreezeException::request(
        "EX-P",
        vec!["*".into()],
        ChangeKind::ALL.to_vec(),
        ts("2026-09-30T00:00:00+08:00"),
        ts("2026-10-01T00:00:00+08:00"),
        "needed",
    )
    .expect("valid");
    let d = gate(&p, "order-svc", Release, at, std::slice::from_ref(&pending));
    assert!(!d.allowed);
    assert!(
        d.reason.contains("`EX-P`") && d.reason.contains("pending"),
        "{}",
        d.reason
    );
    assert_eq!(pending.state_at(at), ExceptionState::Pending);

    let rejected = pending
        .decide(false, "zhao-min", at, Some("wait for Monday".into()))
        .expect("reject");
    assert_eq!(rejected.status, ExceptionStatus::Rejected);
    assert!(
        !gate(
            &p,
            "order-svc",
            Release,
            at,
            std::slice::from_ref(&rejected)
        )
        .allowed
    );
    assert_eq!(rejected.state_at(at), ExceptionState::Rejected);

    // Empty scopes cover nothing, even approved (a file can hold such a thing).
    let mut empty = approved(
        "EX-E",
        &["*"],
        &[Release],
        "2026-09-30T00:00:00+08:00",
        "2026-10-01T00:00:00+08:00",
    );
    empty.services.clear();
    assert!(!gate(&p, "order-svc", Release, at, std::slice::from_ref(&empty)).allowed);
    empty.services = vec!["*".into()];
    empty.kinds.clear();
    assert!(!gate(&p, "order-svc", Release, at, std::slice::from_ref(&empty)).allowed);
}

#[test]
fn literal_globs_naming_no_service_are_reported() {
    let p = carnival();
    let e = approved(
        "EX-T",
        &["order-sv", "pay-*", "order-svc", "typo?"],
        &[Release],
        "2026-09-30T00:00:00Z",
        "2026-09-30T01:00:00Z",
    );
    assert_eq!(e.unknown_services(&p), ["order-sv"]);
}

#[test]
fn exceptions_do_not_matter_outside_a_freeze() {
    let p = carnival();
    let e = approved(
        "EX-1",
        &["*"],
        &[Release],
        "2026-09-01T00:00:00Z",
        "2026-09-02T00:00:00Z",
    );
    let d = gate(&p, "order-svc", Release, ts("2026-09-01T12:00:00Z"), &[e]);
    assert!(d.allowed && !d.frozen && d.exception.is_none());
}

#[test]
fn first_applicable_exception_in_order_is_named() {
    let p = carnival();
    let at = ts("2026-09-30T11:30:00+08:00");
    let a = approved(
        "A",
        &["order-*"],
        &[Release],
        "2026-09-30T00:00:00+08:00",
        "2026-10-01T00:00:00+08:00",
    );
    let b = approved(
        "B",
        &["*"],
        &[Release],
        "2026-09-30T00:00:00+08:00",
        "2026-10-01T00:00:00+08:00",
    );
    let d = gate(&p, "order-svc", Release, at, &[a.clone(), b.clone()]);
    assert_eq!(d.exception.as_deref(), Some("A"));
    let d = gate(&p, "order-svc", Release, at, &[b, a]);
    assert_eq!(d.exception.as_deref(), Some("B"));
}

#[test]
fn decisions_follow_the_life_cycle() {
    let start = ts("2026-09-30T00:00:00Z");
    let end = ts("2026-09-30T06:00:00Z");
    let e =
        FreezeException::request("X", vec!["a".into()], vec![Ops], start, end, "r").expect("valid");
    let ok = e.decide(true, "lin-wei", start, None).expect("approve");
    assert_eq!(ok.status, ExceptionStatus::Approved);
    assert_eq!(ok.decided_by.as_deref(), Some("lin-wei"));
    assert_eq!(ok.decided_at, Some(start));
    assert!(matches!(
        ok.decide(false, "zhao-min", start, None),
        Err(ExceptionError::AlreadyDecided {
            status: "approved",
            ..
        })
    ));
    assert!(matches!(
        e.decide(true, "lin-wei", end, None),
        Err(ExceptionError::Expired { .. })
    ));
    assert!(matches!(
        e.decide(true, " ", start, None),
        Err(ExceptionError::NoDecider { .. })
    ));
    // Rejecting after expiry is fine: it lets nothing through either way.
    assert!(e.decide(false, "lin-wei", end, None).is_ok());
}

#[test]
fn requests_are_validated() {
    let (s, e) = (ts("2026-09-30T00:00:00Z"), ts("2026-09-30T06:00:00Z"));
    let req = |id: &str, services: Vec<String>, kinds: Vec<ChangeKind>, s, e, reason: &str| {
        FreezeException::request(id, services, kinds, s, e, reason)
    };
    assert_eq!(
        req("", vec!["a".into()], vec![Ops], s, e, "r"),
        Err(ExceptionError::EmptyId)
    );
    assert!(matches!(
        req("x", vec![], vec![Ops], s, e, "r"),
        Err(ExceptionError::NoServices { .. })
    ));
    assert!(matches!(
        req("x", vec!["".into()], vec![Ops], s, e, "r"),
        Err(ExceptionError::NoServices { .. })
    ));
    assert!(matches!(
        req("x", vec!["a".into()], vec![], s, e, "r"),
        Err(ExceptionError::NoKinds { .. })
    ));
    assert!(matches!(
        req("x", vec!["a".into()], vec![Ops], s, e, "  "),
        Err(ExceptionError::EmptyReason { .. })
    ));
    let err = req("x", vec!["a".into()], vec![Ops], e, s, "r").expect_err("reversed");
    assert!(matches!(err, ExceptionError::EmptyWindow { .. }));
    assert!(err.to_string().contains("end must be later"), "{err}");
    assert!(matches!(
        req("x", vec!["a".into()], vec![Ops], s, s, "r"),
        Err(ExceptionError::EmptyWindow { .. })
    ));
}

// ------------------------------------------------------------ pipelines created before the freeze

#[test]
fn the_job_is_checked_when_it_runs() {
    let p = carnival();
    let created = ts("2026-09-27T23:50:00+08:00");
    let runs = ts("2026-09-28T00:10:00+08:00");
    let d = gate_job(&p, "order-svc", Release, created, runs, &[]);
    assert!(!d.allowed);
    assert!(d.reason.contains("before the freeze"), "{}", d.reason);
    // Created inside the freeze, run after it: allowed.
    let d = gate_job(
        &p,
        "order-svc",
        Release,
        ts("2026-10-01T23:00:00+08:00"),
        ts("2026-10-02T00:00:00+08:00"),
        &[],
    );
    assert!(d.allowed);
    // Created and run inside the freeze: refused, no note about creation.
    let d = gate_job(
        &p,
        "order-svc",
        Release,
        runs,
        runs + SignedDuration::from_mins(5),
        &[],
    );
    assert!(!d.allowed && !d.reason.contains("before the freeze"));
}

// ------------------------------------------------------------ serialization and files

#[test]
fn decisions_and_exceptions_serialize_for_the_api() {
    let p = carnival();
    let e = approved(
        "EX-1",
        &["pay-*"],
        &[Release],
        "2026-09-30T00:00:00Z",
        "2026-09-30T06:00:00Z",
    );
    let d = gate(
        &p,
        "pay-gateway",
        Release,
        ts("2026-09-30T01:00:00Z"),
        std::slice::from_ref(&e),
    );
    let v = serde_json::to_value(&d).expect("json");
    assert_eq!(v["allowed"], true);
    assert_eq!(v["kind"], "release");
    assert_eq!(v["exception"], "EX-1");
    assert_eq!(v["window"]["id"], "carnival");
    assert_eq!(v["window"]["start"], "2026-09-27T16:00:00Z");
    assert_eq!(v["next_free"], "2026-10-01T16:00:00Z");
    let text = serde_json::to_string(&e).expect("json");
    assert!(
        text.contains("\"kinds\":[\"release\"]") && text.contains("\"status\":\"approved\""),
        "{text}"
    );
    let back: FreezeException = serde_json::from_str(&text).expect("round trip");
    assert_eq!(back, e);
    // A client (`seawall gate check`) reads the decision back.
    let back: gate::GateDecision = serde_json::from_value(v).expect("decision round trip");
    assert_eq!(back, d);
}

const FILE: &str = "\
- id: EX-1
  services: [pay-*]
  kinds: [release, config]
  start: \"2026-09-30T11:00:00+08:00\"
  end: \"2026-09-30T12:00:00+08:00\"
  reason: \"hotfix: payment timeout\"
  status: approved
  decided_by: lin-wei
- id: EX-2
  services: [\"*\"]
  kinds: [ops]
  start: \"2026-09-30T00:00:00Z\"
  end: \"2026-10-01T00:00:00Z\"
  reason: scale out the coupon cache
  status: pending
";

#[test]
fn exceptions_files_are_read() {
    let ex = gate::parse_exceptions(FILE, "ex.yaml").expect("valid file");
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0].start, ts("2026-09-30T03:00:00Z"));
    assert_eq!(ex[0].kinds, [Release, Config]);
    assert_eq!(ex[1].status, ExceptionStatus::Pending);
    assert_eq!(gate::parse_exceptions("", "ex.yaml"), Ok(vec![]));
    // JSON is YAML too.
    let json = serde_json::to_string(&ex).expect("json");
    assert_eq!(
        gate::parse_exceptions(&json, "ex.json").expect("json file"),
        ex
    );
}

#[test]
fn bad_exceptions_files_point_at_the_problem() {
    let cases: &[(&str, &str, &str)] = &[
        ("not a list", "{id: x}\n", "list of exceptions"),
        (
            "unknown kind",
            &FILE.replace("[release, config]", "[release, deploy]"),
            "unknown change kind `deploy`",
        ),
        (
            "bad time",
            &FILE.replace("\"2026-09-30T00:00:00Z\"", "\"tomorrow\""),
            "not an instant",
        ),
        (
            "local time",
            &FILE.replace("\"2026-09-30T00:00:00Z\"", "\"2026-09-30T00:00\""),
            "with an offset",
        ),
        (
            "unknown field",
            &FILE.replace("  decided_by: lin-wei", "  approver: lin-wei"),
            "approver",
        ),
        (
            "missing field",
            &FILE.replace("  status: pending\n", ""),
            "status",
        ),
        (
            "bad status",
            &FILE.replace("status: pending", "status: maybe"),
            "maybe",
        ),
    ];
    for (what, src, needle) in cases {
        let err = gate::parse_exceptions(src, "ex.yaml").expect_err(what);
        let text = err.to_string();
        assert!(text.starts_with("ex.yaml:"), "{what}: {text}");
        assert!(text.contains(needle), "{what}: {text}");
        assert!(
            matches!(err, ExceptionError::Syntax { line, .. } if line > 0),
            "{what}: {err:?}"
        );
    }
    let reversed = FILE.replace(
        "end: \"2026-10-01T00:00:00Z\"",
        "end: \"2026-09-29T00:00:00Z\"",
    );
    let err = gate::parse_exceptions(&reversed, "ex.yaml").expect_err("reversed");
    assert!(
        matches!(
            &err,
            ExceptionError::Invalid {
                line: 9,
                column: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("ex.yaml:9:3: exception `EX-2` ends"),
        "{err}"
    );
    let dup = FILE.replace("id: EX-2", "id: EX-1");
    let err = gate::parse_exceptions(&dup, "ex.yaml").expect_err("duplicate");
    assert_eq!(
        err.to_string(),
        "ex.yaml:9:3: a second exception has id `EX-1`; ids must be unique"
    );
    let empty = FILE.replace("kinds: [ops]", "kinds: []");
    let err = gate::parse_exceptions(&empty, "ex.yaml").expect_err("no kinds");
    assert!(err.to_string().contains("covers no change kind"), "{err}");
}

// ------------------------------------------------------------ property

fn glob() -> impl Strategy<Value = String> {
    prop::string::string_regex("[ab*?-]{0,4}").expect("regex")
}

fn name() -> impl Strategy<Value = String> {
    prop::string::string_regex("[ab-]{0,4}").expect("regex")
}

fn kind() -> impl Strategy<Value = ChangeKind> {
    prop::sample::select(ChangeKind::ALL.to_vec())
}

fn status() -> impl Strategy<Value = ExceptionStatus> {
    prop::sample::select(vec![
        ExceptionStatus::Pending,
        ExceptionStatus::Approved,
        ExceptionStatus::Rejected,
    ])
}

proptest! {
    /// Under a freeze of everything, a change is allowed exactly when some
    /// approved exception's globs match the service, its kinds hold the kind
    /// and its window holds the instant: never outside that scope.
    #[test]
    fn exceptions_never_widen(
        specs in prop::collection::vec(
            (prop::collection::vec(glob(), 0..3), prop::collection::vec(kind(), 0..3), 0i64..100, 0i64..100, status()),
            0..4,
        ),
        service in name(),
        k in kind(),
        minute in -10i64..110,
    ) {
        let p = plan("event: {name: t}\nfreeze:\n  windows:\n    all: {start: \"2000-01-01T00:00\", end: \"2100-01-01T00:00\"}\n");
        let base = ts("2026-09-30T00:00:00Z");
        let at = base + SignedDuration::from_mins(minute);
        let exceptions: Vec<FreezeException> = specs
            .iter()
            .enumerate()
            .map(|(i, (services, kinds, a, b, status))| FreezeException {
                id: format!("e{i}"),
                services: services.clone(),
                kinds: kinds.clone(),
                start: base + SignedDuration::from_mins(*a),
                end: base + SignedDuration::from_mins(*b),
                reason: "r".into(),
                status: *status,
                requested_by: None,
                change_ref: None,
                decided_by: None,
                decided_at: None,
                decision_note: None,
            })
            .collect();
        let d = gate(&p, &service, k, at, &exceptions);
        prop_assert!(d.frozen);
        let in_scope = |e: &FreezeException| {
            e.status == ExceptionStatus::Approved
                && e.start <= at
                && at < e.end
                && e.kinds.contains(&k)
                && e.services.iter().any(|g| seawall_plan::freeze::matches_glob(g, &service))
        };
        prop_assert_eq!(d.allowed, exceptions.iter().any(in_scope));
        if let Some(id) = &d.exception {
            let e = exceptions.iter().find(|e| &e.id == id).expect("named exception exists");
            prop_assert!(in_scope(e));
        } else {
            prop_assert!(!d.allowed);
        }
    }
}
