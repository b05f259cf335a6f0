//! From [`Input`] to [`Review`]: each section by the rule `docs/review.md`
//! states for it. The plan is parsed here (pure) so that every
//! recommendation can point at the line it would change.

use std::collections::BTreeMap;

use seawall_monitor::alert::{Change, Severity, plan_alerts};
use seawall_monitor::live::planned_conversions;
use seawall_monitor::sample::TargetKind;
use seawall_plan::Plan;
use seawall_plan::capacity::{self, Measured};
use seawall_plan::diag::At;
use seawall_plan::model::Slo;
use seawall_plan::targets::decompose;
use seawall_respond::incident::mean_ms;
use seawall_respond::run::{RunStatus, StepStatus};

use crate::formula::{
    PEAK_WINDOW_MS, Timed, absolute_ms, bounds, breaks, compliance, finest, mean, mean_rate, peak,
    peak_window, ratio, step_ms, utilisation_target, value,
};
use crate::input::{Input, LowerBound};
use crate::model::*;

/// An estimate off by more than this share is a recommendation (R1).
pub const ESTIMATE_TOLERANCE: f64 = 0.2;
/// A partner under this share of points within its SLA is a
/// recommendation (R6).
pub const SLA_COMPLIANCE_GOAL: f64 = 0.99;
/// Changes this long before an incident opened are listed with it.
pub const CHANGE_LOOKBACK_MS: i64 = 60 * 60 * 1000;
/// A page this long before an SLO break still covers it.
pub const PAGE_GRACE_MS: i64 = 10 * 60 * 1000;

/// Everything the sections share: the parsed plan and the telemetry by
/// target, cut to the window.
struct Ctx<'a> {
    input: &'a Input,
    plan: Option<Plan>,
    window: Option<Span>,
    series: BTreeMap<(TargetKind, String), Vec<Timed>>,
}

impl Ctx<'_> {
    fn points(&self, kind: TargetKind, id: &str) -> &[Timed] {
        self.series
            .get(&(kind, id.to_owned()))
            .map_or(&[], Vec::as_slice)
    }

    fn line(&self, at: &At, key: Option<&str>) -> Option<String> {
        let plan = self.plan.as_ref()?;
        let loc = match key {
            Some(k) => at.field(k),
            None => at.location(),
        };
        let file = self
            .input
            .plan
            .as_ref()
            .map_or(plan.file.as_str(), |p| p.file_name.as_str());
        // A section the file does not have has no line: the file alone
        // (the change is to add it).
        Some(if loc.line == 0 {
            file.to_owned()
        } else {
            format!("{file}:{}", loc.line)
        })
    }

    fn slo(&self, kind: TargetKind, id: &str) -> Option<Slo> {
        let plan = self.plan.as_ref()?;
        let slo = match kind {
            TargetKind::Entry => plan.entries.get(id)?.slo,
            TargetKind::Service => plan.services.get(id)?.slo,
            TargetKind::Partner => plan.partners.get(id)?.sla,
            _ => None,
        }?;
        bounds(&slo).then_some(slo)
    }
}

/// The review of one event.
pub fn review(input: &Input) -> Review {
    let mut notes = Vec::new();
    let plan = match &input.plan {
        None => {
            notes.push("no plan was pushed for this event: targets, knees and recommendations are left out".to_owned());
            None
        }
        Some(p) => match seawall_plan::parse(&p.text, &p.file_name) {
            Ok(plan) => Some(plan),
            Err(d) => {
                notes.push(format!(
                    "plan version {} does not parse ({} problems): targets and recommendations are left out",
                    p.version,
                    d.0.len()
                ));
                None
            }
        },
    };
    let all: Vec<(TargetKind, &str, Timed)> = input
        .series
        .iter()
        .flat_map(|s| {
            s.points.iter().map(move |p| {
                (
                    s.kind,
                    s.id.as_str(),
                    Timed {
                        tier: s.tier,
                        at_ms: absolute_ms(input.created_ms, p.t_s),
                        point: *p,
                    },
                )
            })
        })
        .collect();
    let (window, window_source) = window(plan.as_ref(), &all);
    if window.is_none() {
        notes.push("no telemetry is stored for this event: actual numbers are left out".to_owned());
    }
    let mut series: BTreeMap<(TargetKind, String), Vec<Timed>> = BTreeMap::new();
    for (kind, id, t) in all {
        if window.is_some_and(|w| t.at_ms >= w.from_ms && t.at_ms <= w.to_ms) {
            series.entry((kind, id.to_owned())).or_default().push(t);
        }
    }
    let ctx = Ctx {
        input,
        plan,
        window,
        series,
    };
    let (entries, services) = targets(&ctx);
    let alerts = alerts(&ctx);
    let incidents = incidents(&ctx);
    let mut review = Review {
        schema_version: SCHEMA_VERSION.to_owned(),
        event: input.slug.clone(),
        name: input.name.clone(),
        plan_version: input.plan.as_ref().map(|p| p.version),
        plan_file: input.plan.as_ref().map(|p| p.file_name.clone()),
        window,
        window_source: window_source.to_owned(),
        rehearsal_runs: input.rehearsal.runs.clone(),
        entries,
        services,
        funnel: funnel(&ctx),
        partners: partners(&ctx),
        alerts,
        emergency: emergency(&ctx),
        change_control: change_control(&ctx),
        incidents,
        oncall: oncall(&ctx),
        recommendations: Vec::new(),
        comparison: None,
        notes,
    };
    review.recommendations = recommendations(&ctx, &review);
    review
}

/// The plan's `peak` phase when some telemetry falls in it, else the span
/// of all telemetry (`None` without telemetry).
fn window(plan: Option<&Plan>, all: &[(TargetKind, &str, Timed)]) -> (Option<Span>, &'static str) {
    if let Some(w) = plan.and_then(|p| p.event.phases.get("peak")) {
        let span = Span {
            from_ms: w.start.as_millisecond(),
            to_ms: w.end.as_millisecond(),
        };
        if all
            .iter()
            .any(|(_, _, t)| t.at_ms >= span.from_ms && t.at_ms <= span.to_ms)
        {
            return (Some(span), "peak phase");
        }
    }
    let from = all.iter().map(|(_, _, t)| t.at_ms).min();
    let to = all
        .iter()
        .map(|(_, _, t)| t.at_ms.saturating_add(step_ms(t.tier) - 1))
        .max();
    match (from, to) {
        (Some(from_ms), Some(to_ms)) => (Some(Span { from_ms, to_ms }), "all telemetry"),
        _ => (None, "no telemetry"),
    }
}

fn targets(ctx: &Ctx<'_>) -> (Vec<TargetReview>, Vec<TargetReview>) {
    let Some(plan) = ctx.plan.as_ref() else {
        return (Vec::new(), Vec::new());
    };
    let bound_services = partly_bound_services(ctx, plan);
    let measured = Measured {
        entries: ctx.input.rehearsal.entry_knees.iter().cloned().collect(),
        // A service some of whose entries were rehearsed only to a lower
        // bound keeps its declared capacity: its measured figure sums the
        // knees of the others and would understate it.
        services_per_instance: ctx
            .input
            .rehearsal
            .service_per_instance
            .iter()
            .filter(|(s, _)| !bound_services.iter().any(|b| &b.entry == s))
            .cloned()
            .collect(),
        source: None,
    };
    let targets = decompose(plan);
    let table = capacity::table(plan, &targets, &measured);
    let goal = utilisation_target(plan.capacity.headroom);
    let row = |kind: TargetKind,
               id: &str,
               r: Option<&capacity::Row>,
               knee: Option<f64>,
               bound: Option<&LowerBound>,
               at: &At| {
        let points = ctx.points(kind, id);
        let top = peak(points);
        let peak_qps = top.and_then(|t| value(t.point.qps_max));
        // Only points wholly inside the window: the one its end cuts
        // (still filling when the review is read right after the peak)
        // would count part of its width as the whole.
        let whole: Vec<Timed> = points
            .iter()
            .filter(|t| {
                ctx.window
                    .as_ref()
                    .is_none_or(|w| t.at_ms + step_ms(t.tier) <= w.to_ms)
            })
            .copied()
            .collect();
        let minute = peak_window(&whole, PEAK_WINDOW_MS);
        let p99 = top.and_then(|t| value(t.point.p99_ms));
        let err = top.and_then(|t| value(t.point.error_rate));
        let slo = ctx.slo(kind, id);
        let saturated = slo.is_some_and(|s| breaks(p99, err, &s));
        let capacity_qps = r.and_then(|r| r.capacity_qps);
        let utilisation = ratio(peak_qps, capacity_qps);
        TargetReview {
            id: id.to_owned(),
            target_qps: r.map(|r| r.target_qps),
            knee_qps: knee,
            lower_bound_qps: bound.map(|b| b.qps),
            lower_bound_scenario: bound.map(|b| b.scenario.clone()),
            capacity_qps,
            capacity_source: r
                .map_or("unknown", |r| source_name(r.capacity_source))
                .to_owned(),
            peak_qps,
            peak_at_ms: top.map(|t| t.at_ms),
            peak_minute_qps: minute.map(|m| m.1),
            peak_minute_from_ms: minute.map(|m| m.0),
            p99_ms_at_peak: p99,
            error_rate_at_peak: err,
            utilisation,
            utilisation_target: goal,
            within_headroom: utilisation.map(|u| u <= goal),
            estimate_error: ratio(peak_qps, r.map(|r| r.target_qps)),
            saturated,
            capacity_vs_knee: if saturated {
                ratio(peak_qps, knee)
            } else {
                None
            },
            capacity_vs_lower_bound: if saturated {
                ratio(peak_qps, bound.map(|b| b.qps))
            } else {
                None
            },
            slo_broken_points: slo.map_or(0, |s| broken(&finest(points), &s).len() as u32),
            plan_line: ctx.line(at, None),
            series: ctx.window.map_or_else(Vec::new, |w| {
                finest(points)
                    .iter()
                    .filter_map(|t| {
                        let v = value(t.point.qps_max)?;
                        Some(((t.at_ms - w.from_ms) as f64 / 1000.0, v))
                    })
                    .collect()
            }),
        }
    };
    let knee_of = |id: &str| ctx.input.rehearsal.knee(id);
    let entries = plan
        .entries
        .iter()
        .map(|(id, e)| {
            // A knee and a lower bound of the same entry: the knee (the
            // capacity table counts on it too).
            let knee = knee_of(id);
            let bound = knee
                .is_none()
                .then(|| ctx.input.rehearsal.lower_bound(id))
                .flatten();
            row(TargetKind::Entry, id, table.entry(id), knee, bound, &e.at)
        })
        .collect();
    let services = plan
        .services
        .iter()
        .map(|(id, s)| {
            let bound = bound_services.iter().find(|b| &b.entry == id);
            let per = ctx
                .input
                .rehearsal
                .service_per_instance
                .iter()
                .rev()
                .find(|(x, _)| x == id)
                .map(|(_, c)| *c);
            let knee = per
                .filter(|_| bound.is_none())
                .map(|c| c * f64::from(s.instances.unwrap_or(1)));
            row(
                TargetKind::Service,
                id,
                table.service(id),
                knee,
                bound,
                &s.at,
            )
        })
        .collect();
    (entries, services)
}

/// Services some of whose entries were rehearsed only to a lower bound
/// (generator-bound), each with its own lower bound (`entry` is the
/// service's id): `Σ over its entries of the knee, or the lower bound
/// where the rehearsal was generator-bound` (an entry with neither counts
/// 0). The sum of the other entries' knees alone — what a rehearsal's
/// `services[].capacity_per_instance` holds — would read as the service's
/// capacity while only part of it was measured; this is at most the
/// capacity, never read as a knee.
fn partly_bound_services(ctx: &Ctx<'_>, plan: &Plan) -> Vec<LowerBound> {
    let rehearsal = &ctx.input.rehearsal;
    let knee_of = |id: &str| rehearsal.knee(id);
    let mut out = Vec::new();
    for id in plan.services.keys() {
        let served: Vec<&String> = plan
            .entries
            .iter()
            .filter(|(_, e)| &e.service == id)
            .map(|(e, _)| e)
            .collect();
        let Some(first) = served
            .iter()
            .filter(|e| knee_of(e).is_none())
            .find_map(|e| rehearsal.lower_bound(e))
        else {
            continue;
        };
        let qps = served
            .iter()
            .map(|e| {
                knee_of(e)
                    .or_else(|| rehearsal.lower_bound(e).map(|b| b.qps))
                    .unwrap_or(0.0)
            })
            .sum();
        out.push(LowerBound {
            entry: id.clone(),
            qps,
            run: first.run,
            scenario: first.scenario.clone(),
        });
    }
    out
}

fn source_name(s: capacity::CapacitySource) -> &'static str {
    match s {
        capacity::CapacitySource::Declared => "declared",
        capacity::CapacitySource::Measured => "measured",
        capacity::CapacitySource::Unknown => "unknown",
    }
}

/// The points of `points` that break `slo`.
fn broken(points: &[Timed], slo: &Slo) -> Vec<Timed> {
    points
        .iter()
        .filter(|t| breaks(value(t.point.p99_ms), value(t.point.error_rate), slo))
        .copied()
        .collect()
}

fn funnel(ctx: &Ctx<'_>) -> Vec<FunnelReview> {
    let Some(plan) = ctx.plan.as_ref() else {
        return Vec::new();
    };
    let steps = &plan.monitoring.funnel;
    steps
        .iter()
        .zip(planned_conversions(plan))
        .enumerate()
        .map(|(k, (step, planned))| {
            let rate = mean_rate(&finest(ctx.points(TargetKind::FunnelStep, &step.name)));
            let previous = k
                .checked_sub(1)
                .and_then(|p| steps.get(p))
                .and_then(|p| mean_rate(&finest(ctx.points(TargetKind::FunnelStep, &p.name))));
            let actual = ratio(rate, previous);
            FunnelReview {
                step: step.name.clone(),
                planned,
                actual,
                ratio: ratio(actual, planned),
            }
        })
        .collect()
}

fn partners(ctx: &Ctx<'_>) -> Vec<PartnerReview> {
    let Some(plan) = ctx.plan.as_ref() else {
        return Vec::new();
    };
    plan.partners
        .iter()
        .map(|(id, p)| {
            let points = finest(ctx.points(TargetKind::Partner, id));
            let sla = p.sla.unwrap_or_default();
            let (n, share) = compliance(&points, &sla);
            let worst = |f: fn(&Timed) -> f32| {
                points
                    .iter()
                    .filter_map(|t| value(f(t)))
                    .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
            };
            PartnerReview {
                id: id.clone(),
                sla_p99_ms: sla.p99_ms,
                sla_error_rate: sla.error_rate,
                points: n,
                compliance: share,
                worst_p99_ms: worst(|t| t.point.p99_ms),
                worst_error_rate: worst(|t| t.point.error_rate),
                plan_line: ctx.line(&p.at, Some("sla")),
            }
        })
        .collect()
}

fn alerts(ctx: &Ctx<'_>) -> AlertsReview {
    let transitions = &ctx.input.transitions;
    let end_ms = ctx.window.map_or(i64::MAX, |w| w.to_ms);
    let mut rules: Vec<AlertReview> = Vec::new();
    let mut delays: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (i, t) in transitions.iter().enumerate() {
        let at = i64::try_from(t.at_ms).unwrap_or(i64::MAX);
        let idx = match rules.iter().position(|r| r.rule == t.rule) {
            Some(i) => i,
            None => {
                rules.push(AlertReview {
                    rule: t.rule.clone(),
                    target: format!("{}:{}", t.target.kind.as_str(), t.target.id),
                    signal: t.signal.as_str().to_owned(),
                    severity: t.severity.as_str().to_owned(),
                    ..AlertReview::default()
                });
                rules.len() - 1
            }
        };
        if t.change != Change::Fired {
            continue;
        }
        let Some(r) = rules.get_mut(idx) else {
            continue;
        };
        r.fired += 1;
        r.first_fired_ms.get_or_insert(at);
        // The crossing: this rule's last pending transition since its
        // previous resolution or cancellation (none: it fired at once).
        let crossing = transitions[..i]
            .iter()
            .rev()
            .filter(|p| p.rule == t.rule)
            .take_while(|p| p.change == Change::Pending)
            .last()
            .map_or(t.at_ms, |p| p.at_ms);
        delays
            .entry(t.rule.clone())
            .or_default()
            .push(t.at_ms.saturating_sub(crossing) as f64);
        // The firing lasts until the rule's next resolution, or the window's end.
        let until = transitions[i + 1..]
            .iter()
            .find(|p| p.rule == t.rule && p.change == Change::Resolved)
            .map_or(end_ms, |p| i64::try_from(p.at_ms).unwrap_or(i64::MAX));
        if let Some(slo) = ctx.slo(t.target.kind, &t.target.id) {
            let points = finest(ctx.points(t.target.kind, &t.target.id));
            let hit = points.iter().any(|p| {
                p.at_ms.saturating_add(step_ms(p.tier)) > at
                    && p.at_ms <= until
                    && breaks(value(p.point.p99_ms), value(p.point.error_rate), &slo)
            });
            if hit {
                r.with_impact += 1;
            } else {
                r.noise += 1;
            }
        }
    }
    for r in &mut rules {
        r.crossing_to_fire_ms = delays.get(&r.rule).and_then(|d| mean(d.iter().copied()));
    }
    let fired = rules.iter().map(|r| r.fired).sum();
    let noise = rules.iter().map(|r| r.noise).sum();
    let mut misses = Vec::new();
    let never_fired = ctx
        .plan
        .as_ref()
        .map(|plan| {
            plan_alerts(plan)
                .into_iter()
                .filter(|a| !rules.iter().any(|r| r.rule == a.id && r.fired > 0))
                .map(|a| a.id)
                .collect()
        })
        .unwrap_or_default();
    for ((kind, id), points) in &ctx.series {
        let (kind, id) = (*kind, id.as_str());
        let Some(slo) = ctx.slo(kind, id) else {
            continue;
        };
        let bad = broken(&finest(points), &slo);
        let Some(first) = bad.first() else {
            continue;
        };
        let last = bad
            .last()
            .map_or(first.at_ms, |b| b.at_ms + step_ms(b.tier));
        let paged = transitions.iter().any(|t| {
            let at = i64::try_from(t.at_ms).unwrap_or(i64::MAX);
            t.change == Change::Fired
                && t.severity == Severity::Page
                && t.target.kind == kind
                && t.target.id == id
                && at >= first.at_ms.saturating_sub(PAGE_GRACE_MS)
                && at <= last
        });
        if !paged {
            misses.push(Miss {
                target: format!("{}:{id}", kind.as_str()),
                from_ms: first.at_ms,
                points: bad.len() as u32,
            });
        }
    }
    AlertsReview {
        rules,
        fired,
        noise,
        misses,
        never_fired,
    }
}

fn emergency(ctx: &Ctx<'_>) -> Vec<EmergencyReview> {
    ctx.input
        .emergency_runs
        .iter()
        .map(|e| {
            let run = &e.run;
            let duration_ms = run.duration_ms();
            let expected_ms = run.expected_minutes.map(|m| m * 60_000.0);
            EmergencyReview {
                id: e.id,
                plan: run.plan_id.clone(),
                status: run.status.as_str().to_owned(),
                requested_by: run.requested_by.clone(),
                requested_ms: run.requested_ms,
                approvals: run.approvals.iter().map(|a| a.by.clone()).collect(),
                time_to_approval_ms: run
                    .approvals
                    .iter()
                    .map(|a| a.at_ms)
                    .max()
                    .map(|a| a - run.requested_ms),
                actions: run
                    .steps
                    .iter()
                    .map(|s| ActionReview {
                        kind: s.kind.clone(),
                        target: s.target.clone(),
                        status: step_name(s.status).to_owned(),
                        duration_ms: s.started_ms.zip(s.ended_ms).map(|(a, b)| b - a),
                    })
                    .collect(),
                duration_ms,
                expected_minutes: run.expected_minutes,
                run_vs_expected: ratio(duration_ms.map(|d| d as f64), expected_ms),
                within_expected: run.within_expected(),
                rolled_back: matches!(run.status, RunStatus::RolledBack | RunStatus::RollingBack)
                    || run.steps.iter().any(|s| {
                        matches!(
                            s.status,
                            StepStatus::RolledBack | StepStatus::RollbackFailed
                        )
                    }),
                plan_line: ctx
                    .plan
                    .as_ref()
                    .and_then(|p| p.emergency_plans.get(&run.plan_id))
                    .and_then(|p| ctx.line(&p.at, Some("expected_minutes"))),
            }
        })
        .collect()
}

fn step_name(s: StepStatus) -> &'static str {
    match s {
        StepStatus::Pending => "pending",
        StepStatus::Running => "running",
        StepStatus::Succeeded => "succeeded",
        StepStatus::Failed => "failed",
        StepStatus::Skipped => "skipped",
        StepStatus::Unknown => "unknown",
        StepStatus::RolledBack => "rolled_back",
        StepStatus::RollbackFailed => "rollback_failed",
        StepStatus::Undoing => "undoing",
        StepStatus::UndoUnknown => "undo_unknown",
    }
}

fn change_control(ctx: &Ctx<'_>) -> ChangeControl {
    let input = ctx.input;
    let in_freeze: Vec<_> = input
        .changes
        .iter()
        .filter(|c| c.window.is_some())
        .collect();
    let in_window = |at: i64| ctx.window.is_none_or(|w| at >= w.from_ms && at <= w.to_ms);
    let mut before_incidents = Vec::new();
    for i in &input.incidents {
        let Some(opened) = i.incident.timeline.first().map(|e| e.at_ms) else {
            continue;
        };
        let near = |at: i64| at <= opened && opened - at <= CHANGE_LOOKBACK_MS;
        let minutes = |at: i64| (opened - at) as f64 / 60_000.0;
        for c in input.changes.iter().filter(|c| c.allowed && near(c.at_ms)) {
            before_incidents.push(ChangeNearIncident {
                incident: i.id,
                change: format!("gate: {} {} ({})", c.kind, c.service, c.change_ref),
                minutes_before: minutes(c.at_ms),
            });
        }
        for r in input.rule_changes.iter().filter(|r| near(r.at_ms)) {
            before_incidents.push(ChangeNearIncident {
                incident: i.id,
                change: format!("rules: {} v{} ({})", r.service, r.version, r.source),
                minutes_before: minutes(r.at_ms),
            });
        }
    }
    let count = |f: &dyn Fn(&&crate::input::ExceptionInput) -> bool| {
        input.exceptions.iter().filter(f).count() as u32
    };
    ChangeControl {
        decisions_in_freeze: in_freeze.len() as u32,
        refused_in_freeze: in_freeze.iter().filter(|c| !c.allowed).count() as u32,
        allowed_by_exception: in_freeze
            .iter()
            .filter(|c| c.allowed && c.exception_id.is_some())
            .count() as u32,
        exceptions_requested: count(&|_| true),
        exceptions_approved: count(&|e| e.status == "approved"),
        exceptions_rejected: count(&|e| e.status == "rejected"),
        rule_changes: input
            .rule_changes
            .iter()
            .filter(|r| in_window(r.at_ms))
            .count() as u32,
        before_incidents,
    }
}

fn incidents(ctx: &Ctx<'_>) -> IncidentsReview {
    let list: Vec<IncidentReview> = ctx
        .input
        .incidents
        .iter()
        .map(|i| {
            let inc = &i.incident;
            IncidentReview {
                id: i.id,
                title: inc.title.clone(),
                severity: inc.severity.as_str().to_owned(),
                status: inc.status.as_str().to_owned(),
                opened_ms: inc.timeline.first().map(|e| e.at_ms),
                time_to_ack_ms: inc.time_to_ack_ms(),
                time_to_resolve_ms: inc.time_to_resolve_ms(),
                timeline: inc
                    .timeline
                    .iter()
                    .map(|e| TimelineEntry {
                        at_ms: e.at_ms,
                        kind: serde_json::to_value(e.kind)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        actor: e.actor.clone(),
                        text: e.text.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    IncidentsReview {
        mtta_ms: mean_ms(list.iter().map(|i| i.time_to_ack_ms)),
        mttr_ms: mean_ms(list.iter().map(|i| i.time_to_resolve_ms)),
        list,
    }
}

fn oncall(ctx: &Ctx<'_>) -> OncallReview {
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    let mut pages = 0u32;
    for i in &ctx.input.incidents {
        if let Some(e) = &i.escalation {
            pages += e.sent.len() as u32;
            for (p, n) in e.pages_per_person() {
                *counts.entry(p).or_default() += n as u32;
            }
        }
    }
    let mut pages_per_person: Vec<(String, u32)> = counts.into_iter().collect();
    pages_per_person.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    OncallReview {
        shifts: ctx.plan.as_ref().map_or(0, |p| p.oncall.rota.len() as u32),
        gaps: ctx
            .plan
            .as_ref()
            .map(|p| {
                seawall_plan::oncall::gaps(p)
                    .into_iter()
                    .map(|g| format!("{} {}: {} – {}", g.line, g.window, g.start, g.end))
                    .collect()
            })
            .unwrap_or_default(),
        pages_per_person,
        pages,
    }
}

/// The recommendations, rule by rule (`docs/review.md#recommendations`).
fn recommendations(ctx: &Ctx<'_>, r: &Review) -> Vec<Recommendation> {
    let Some(plan) = ctx.plan.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let pct = |x: f64| format!("{:.0} %", x * 100.0);
    for e in &r.entries {
        if let Some(err) = e.estimate_error
            && (err - 1.0).abs() > ESTIMATE_TOLERANCE
        {
            out.push(Recommendation {
                rule: "R1".into(),
                why: format!(
                    "entry `{}` peaked at {} of its target (estimate off by more than {})",
                    e.id,
                    pct(err),
                    pct(ESTIMATE_TOLERANCE)
                ),
                change: "revise the goals, journey shares or conversions that give this entry its target".into(),
                plan_line: e.plan_line.clone(),
            });
        }
    }
    for s in &r.services {
        if s.within_headroom == Some(false) {
            let at = plan.services.get(&s.id).map(|x| &x.at);
            out.push(Recommendation {
                rule: "R2".into(),
                why: format!(
                    "service `{}` ran at {} of its capacity at the peak, above the {} the headroom allows",
                    s.id,
                    pct(s.utilisation.unwrap_or_default()),
                    pct(s.utilisation_target)
                ),
                change: "raise `instances` (or the capacity per instance) for next time".into(),
                plan_line: at.and_then(|a| ctx.line(a, Some("instances"))),
            });
        }
    }
    for t in r.entries.iter().chain(&r.services) {
        if let Some(c) = t.capacity_vs_knee
            && c < 1.0
        {
            out.push(Recommendation {
                rule: "R3".into(),
                why: format!(
                    "`{}` broke its SLO at {} of its rehearsed knee: the rehearsal overstated its capacity",
                    t.id,
                    pct(c)
                ),
                change: "rehearse again closer to production and lower the capacity the plan counts on".into(),
                plan_line: t.plan_line.clone(),
            });
        }
    }
    for t in &r.entries {
        if let Some(c) = t.capacity_vs_lower_bound
            && c < 1.0
        {
            out.push(Recommendation {
                rule: "R3".into(),
                why: format!(
                    "`{}` broke its SLO at {} of the rate its generator-bound rehearsal saw it hold: the rehearsal overstated its capacity",
                    t.id,
                    pct(c)
                ),
                change: "rehearse again closer to production and lower the capacity the plan counts on".into(),
                plan_line: t.plan_line.clone(),
            });
        }
    }
    for e in &r.emergency {
        if e.within_expected == Some(false) {
            out.push(Recommendation {
                rule: "R4".into(),
                why: format!(
                    "emergency plan `{}` (run {}) took {} of its expected time",
                    e.plan,
                    e.id,
                    pct(e.run_vs_expected.unwrap_or_default())
                ),
                change: "make the plan faster or raise `expected_minutes` to what it takes".into(),
                plan_line: e.plan_line.clone(),
            });
        }
        if e.rolled_back {
            out.push(Recommendation {
                rule: "R5".into(),
                why: format!("emergency plan `{}` (run {}) was rolled back", e.plan, e.id),
                change: "check its actions and trigger; drill it before the next event".into(),
                plan_line: e.plan_line.clone(),
            });
        }
    }
    for p in &r.partners {
        if let Some(c) = p.compliance
            && c < SLA_COMPLIANCE_GOAL
        {
            out.push(Recommendation {
                rule: "R6".into(),
                why: format!(
                    "partner `{}` was within its SLA for {} of the peak (goal {})",
                    p.id,
                    pct(c),
                    pct(SLA_COMPLIANCE_GOAL)
                ),
                change: "agree a higher quota with the partner or give it a fallback".into(),
                plan_line: p.plan_line.clone(),
            });
        }
    }
    // Without telemetry nothing could have fired: no R7 then.
    let watched = if ctx.window.is_some() {
        r.alerts.never_fired.as_slice()
    } else {
        &[]
    };
    for id in watched {
        let at = plan.monitoring.alerts.get(id).map(|a| &a.at);
        out.push(Recommendation {
            rule: "R7".into(),
            why: format!("plan alert `{id}` never fired"),
            change: "check its threshold against the peak's numbers, or drop it".into(),
            plan_line: at.and_then(|a| ctx.line(a, Some("above"))),
        });
    }
    for a in r
        .alerts
        .rules
        .iter()
        .filter(|a| a.noise > 0 && a.with_impact == 0)
    {
        let at = plan.monitoring.alerts.get(&a.rule).map(|x| &x.at);
        out.push(Recommendation {
            rule: "R8".into(),
            why: format!(
                "alert `{}` fired {} times without SLO impact (noise)",
                a.rule, a.noise
            ),
            change: "raise its threshold or hold it longer (`for`)".into(),
            plan_line: at
                .and_then(|x| ctx.line(x, Some("above")))
                .or_else(|| ctx.line(&plan.capacity.at, Some("warn_level"))),
        });
    }
    for m in &r.alerts.misses {
        out.push(Recommendation {
            rule: "R9".into(),
            why: format!("`{}` broke its SLO and nobody was paged (a miss)", m.target),
            change: "add a page-severity alert on it".into(),
            plan_line: ctx.line(&plan.monitoring.at, Some("alerts")),
        });
    }
    if !r.oncall.gaps.is_empty() {
        out.push(Recommendation {
            rule: "R10".into(),
            why: format!(
                "{} stretches of the peak or freeze had no primary on call",
                r.oncall.gaps.len()
            ),
            change: "add shifts to the rota".into(),
            plan_line: ctx.line(&plan.oncall.at, Some("rota")),
        });
    }
    let ack_ms = plan.oncall.ack_timeout_seconds * 1000.0;
    if let Some(mtta) = r.incidents.mtta_ms
        && mtta > ack_ms
    {
        out.push(Recommendation {
            rule: "R11".into(),
            why: format!(
                "incidents were acknowledged after {:.0} s on average, over the {:.0} s acknowledgement timeout",
                mtta / 1000.0,
                ack_ms / 1000.0
            ),
            change: "check the on-call channels reach people, or shorten the rota's shifts".into(),
            plan_line: ctx.line(&plan.oncall.at, Some("ack_timeout")),
        });
    }
    for t in &r.entries {
        let (Some(b), Some(scenario)) = (t.lower_bound_qps, t.lower_bound_scenario.as_deref())
        else {
            continue;
        };
        let at = plan.rehearsals.get(scenario).map(|x| &x.at);
        out.push(Recommendation {
            rule: "R12".into(),
            why: format!(
                "entry `{}` was rehearsed only to a lower bound (≥ {} qps, generator-bound): its knee is unknown",
                t.id,
                crate::text::num(Some(b))
            ),
            change: format!(
                "rehearse scenario `{scenario}` again with more generators (agents) until the entry breaks its SLO"
            ),
            plan_line: at
                .and_then(|a| ctx.line(a, None))
                .or_else(|| t.plan_line.clone()),
        });
    }
    out
}

/// `now` compared with an `earlier` event's review.
pub fn compare(now: &Review, earlier: &Review) -> Comparison {
    let within = |r: &Review| {
        r.emergency
            .iter()
            .filter(|e| e.within_expected == Some(true))
            .count() as u32
    };
    Comparison {
        earlier: earlier.event.clone(),
        entries: now
            .entries
            .iter()
            .filter_map(|e| {
                let then = earlier.entries.iter().find(|x| x.id == e.id)?;
                Some(CompareEntry {
                    id: e.id.clone(),
                    peak_qps: (e.peak_qps, then.peak_qps),
                    estimate_error: (e.estimate_error, then.estimate_error),
                    growth: ratio(e.peak_qps, then.peak_qps),
                })
            })
            .collect(),
        fired: (now.alerts.fired, earlier.alerts.fired),
        noise: (now.alerts.noise, earlier.alerts.noise),
        misses: (
            now.alerts.misses.len() as u32,
            earlier.alerts.misses.len() as u32,
        ),
        incidents: (
            now.incidents.list.len() as u32,
            earlier.incidents.list.len() as u32,
        ),
        mtta_ms: (now.incidents.mtta_ms, earlier.incidents.mtta_ms),
        mttr_ms: (now.incidents.mttr_ms, earlier.incidents.mttr_ms),
        runs_within_expected: (within(now), within(earlier)),
    }
}
