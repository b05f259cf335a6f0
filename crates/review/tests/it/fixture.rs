//! A fixed event: a plan with two entries, a service, a partner, a
//! two-step funnel, two plan alerts and an emergency plan; a minute of
//! telemetry at 10 s; alert transitions; one emergency run; one incident.
//! The expected numbers are worked out by hand in `sections.rs`.

use seawall_monitor::Transition;
use seawall_monitor::alert::{Change, Severity, Signal, State, Target};
use seawall_monitor::history::Point;
use seawall_monitor::sample::TargetKind;
use seawall_respond::escalation::{Ack, Escalation, Level, Policy, Sent, Tier};
use seawall_respond::incident::{EntryKind, Incident, Severity as Sev};
use seawall_respond::run::{Approval, Approved, Run, RunStatus, StepStatus};
use seawall_review::input::*;

/// 2026-11-11T00:00:00Z: the event's creation and the peak's start.
pub const T0: i64 = 1_794_355_200_000;

pub const PLAN: &str = r#"event:
  name: "Singles' Day"
  timezone: UTC
  phases:
    peak: {start: "2026-11-11T00:00", end: "2026-11-11T01:00"}
people:
  lin: {name: Lin}
goals:
  visits: {total: 3600000}
traffic:
  journeys:
    shop:
      goal: visits
      steps:
        - {entry: browse}
        - {entry: checkout, conversion: 0.1}
entries:
  browse:
    service: shop
    slo: {p99_ms: 200, error_rate: 0.01}
  checkout:
    service: shop
    method: POST
    slo: {p99_ms: 300, error_rate: 0.001}
services:
  shop:
    instances: 2
    capacity_per_instance: 40
    slo: {p99_ms: 400, error_rate: 0.01}
partners:
  pay:
    sla: {p99_ms: 500, error_rate: 0.01}
capacity:
  headroom: 0.3
monitoring:
  funnel:
    - {name: browse, query: 'sum(rate(browse_total[1m]))'}
    - {name: checkout, query: 'sum(rate(checkout_total[1m]))'}
  alerts:
    checkout-p99: {target: checkout, metric: p99_ms, above: 300, for: 10s, severity: page}
    browse-errors: {target: browse, metric: error_rate, above: 0.05, for: 1m, severity: page}
oncall:
  rota:
    - {start: "2026-11-10T00:00", end: "2026-11-12T00:00", primary: lin}
emergency_plans:
  shed:
    phase: during
    trigger: manual
    actions:
      - {kind: rate_limit, entry: checkout, qps: 8}
    expected_minutes: 2
"#;

fn point(t_s: u32, qps: f32, p99: f32, err: f32) -> Point {
    Point {
        t_s,
        samples: 1,
        qps_min: qps,
        qps_avg: qps,
        qps_max: qps,
        p99_ms: p99,
        error_rate: err,
    }
}

fn series(kind: TargetKind, id: &str, points: Vec<Point>) -> SeriesInput {
    SeriesInput {
        kind,
        id: id.into(),
        tier: 0,
        points,
    }
}

fn transition(
    rule: &str,
    kind: TargetKind,
    id: &str,
    signal: Signal,
    severity: Severity,
    change: Change,
    at_s: i64,
) -> Transition {
    let at_ms = (T0 + at_s * 1000) as u64;
    Transition {
        rule: rule.into(),
        target: Target::new(kind, id),
        signal,
        severity,
        change,
        state: match change {
            Change::Pending => State::Pending { since_ms: at_ms },
            Change::Fired => State::Firing {
                since_ms: at_ms,
                fired_ms: at_ms,
            },
            Change::Resolved => State::Resolved { at_ms },
            Change::Cancelled => State::Inactive,
        },
        at_ms,
        value: 1.0,
        threshold: 1.0,
        inhibited_by: None,
    }
}

fn ms(s: i64) -> i64 {
    T0 + s * 1000
}

/// The fixed event.
pub fn input() -> Input {
    let p = |t: u32, q: f32| point(t, q, 100.0, 0.0);
    let mut run = Run::new(
        "shed",
        "trigger:checkout-p99",
        ms(35),
        false,
        Approval::One,
        [("rate_limit".to_owned(), Some("checkout".to_owned()), true)],
        Some(2.0),
    );
    run.approvals.push(Approved {
        by: "lin".into(),
        at_ms: ms(45),
    });
    run.steps[0].status = StepStatus::Succeeded;
    run.steps[0].started_ms = Some(ms(45));
    run.steps[0].ended_ms = Some(ms(45 + 180));
    run.status = RunStatus::Succeeded;

    let mut incident = Incident::open(
        "checkout p99",
        Sev::P2,
        "monitor",
        Some("entry:checkout".into()),
        None,
        ms(30),
    );
    incident.record(ms(31), EntryKind::Paged, "pager", "paged lin");
    incident.acknowledge("lin", ms(90)).expect("acknowledges");
    incident
        .resolve("lin", ms(300), "limit holds")
        .expect("resolves");
    let escalation = Escalation {
        opened_ms: ms(30),
        policy: Policy::default(),
        levels: vec![Level {
            tier: Tier::Primary,
            people: vec!["lin".into()],
        }],
        sent: vec![Sent {
            step: 0,
            level: 0,
            round: 0,
            at_ms: ms(31),
        }],
        ack: Some(Ack {
            by: "lin".into(),
            at_ms: ms(90),
        }),
    };

    Input {
        slug: "double11".into(),
        name: "Singles' Day".into(),
        created_ms: T0,
        plan: Some(PlanInput {
            version: 3,
            file_name: "plan.yaml".into(),
            text: PLAN.into(),
        }),
        rehearsal: Rehearsal {
            runs: vec![7],
            entry_knees: vec![("browse".into(), 150.0), ("checkout".into(), 12.0)],
            service_per_instance: vec![("shop".into(), 50.0)],
            entry_lower_bounds: Vec::new(),
        },
        series: vec![
            series(
                TargetKind::Entry,
                "browse",
                vec![
                    p(0, 80.0),
                    p(10, 100.0),
                    p(20, 120.0),
                    p(30, 130.0),
                    point(40, 110.0, 150.0, 0.02),
                    p(50, 90.0),
                ],
            ),
            series(
                TargetKind::Entry,
                "checkout",
                vec![
                    p(0, 6.0),
                    p(10, 8.0),
                    point(20, 9.0, 350.0, 0.0),
                    point(30, 8.5, 320.0, 0.0),
                    p(40, 8.0),
                    p(50, 7.0),
                ],
            ),
            series(
                TargetKind::Service,
                "shop",
                vec![
                    p(0, 86.0),
                    p(10, 108.0),
                    p(20, 129.0),
                    p(30, 139.0),
                    p(40, 118.0),
                    p(50, 97.0),
                ],
            ),
            series(
                TargetKind::Partner,
                "pay",
                vec![
                    p(0, 6.0),
                    p(10, 8.0),
                    point(20, 9.0, 800.0, 0.0),
                    p(30, 8.0),
                    p(40, 8.0),
                    p(50, 7.0),
                ],
            ),
            series(
                TargetKind::FunnelStep,
                "browse",
                vec![p(0, 100.0), p(10, 100.0)],
            ),
            series(
                TargetKind::FunnelStep,
                "checkout",
                vec![p(0, 8.0), p(10, 8.0)],
            ),
        ],
        transitions: vec![
            transition(
                "checkout-p99",
                TargetKind::Entry,
                "checkout",
                Signal::P99Ms,
                Severity::Page,
                Change::Pending,
                20,
            ),
            transition(
                "checkout-p99",
                TargetKind::Entry,
                "checkout",
                Signal::P99Ms,
                Severity::Page,
                Change::Fired,
                30,
            ),
            transition(
                "shop-water-warn",
                TargetKind::Service,
                "shop",
                Signal::WaterLevel,
                Severity::Warn,
                Change::Fired,
                30,
            ),
            transition(
                "checkout-p99",
                TargetKind::Entry,
                "checkout",
                Signal::P99Ms,
                Severity::Page,
                Change::Resolved,
                50,
            ),
            transition(
                "shop-water-warn",
                TargetKind::Service,
                "shop",
                Signal::WaterLevel,
                Severity::Warn,
                Change::Resolved,
                50,
            ),
        ],
        emergency_runs: vec![EmergencyRunInput { id: 1, run }],
        incidents: vec![IncidentInput {
            id: 1,
            incident,
            escalation: Some(escalation),
        }],
        changes: vec![
            ChangeInput {
                id: 1,
                at_ms: ms(-1200),
                service: "shop".into(),
                kind: "deploy".into(),
                change_ref: "MR-1".into(),
                actor: "ci".into(),
                allowed: true,
                window: Some("peak-freeze".into()),
                exception_id: Some(1),
            },
            ChangeInput {
                id: 2,
                at_ms: ms(-600),
                service: "shop".into(),
                kind: "config".into(),
                change_ref: "MR-2".into(),
                actor: "ci".into(),
                allowed: false,
                window: Some("peak-freeze".into()),
                exception_id: None,
            },
        ],
        exceptions: vec![ExceptionInput {
            id: 1,
            status: "approved".into(),
            services: vec!["shop".into()],
            starts_ms: ms(-3600),
            ends_ms: ms(0),
            requested_by: "dev".into(),
            decided_by: Some("lin".into()),
        }],
        rule_changes: vec![RuleChangeInput {
            service: "shop".into(),
            version: 2,
            source: "emergency".into(),
            at_ms: ms(45),
            by: "trigger:checkout-p99".into(),
            note: "shed".into(),
        }],
    }
}
