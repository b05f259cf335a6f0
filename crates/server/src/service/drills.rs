//! Drills of emergency plans (`docs/respond.md#drills`): inject the plan's
//! `drill.fault` during a tagged rehearsal, then judge what happened, step
//! by step — the fault injected, the trigger fired (detect), the run
//! approved (decide), its actions applied (take effect), the SLO held or
//! broke as the plan expects — each with its time, and the whole against
//! the plan's `expected_minutes`.
//!
//! Why judged from the store: every step is something the control plane
//! already records (alert transitions, emergency runs with their approvals
//! and steps), so a drill reads them instead of being told, and needs no
//! hook in the alerting or the run driver. The one thing only the traffic
//! knows — whether the SLO held — is reported by whoever ran the rehearsal
//! (`seawall drill`) when it finishes the drill.
//!
//! Why a lease: a guard fault is a rule version with `expires_at_ms`, which
//! the sidecars honour by their own clock, so a fault ends even if the
//! control plane dies mid-drill; finishing, stopping or an expired lease
//! also removes the rule (another version). A simulator fault is set by
//! the client with the same lease as its TTL.

use seawall_api::emergency::EmergencyRun;
use seawall_guard::RuleSet;
use seawall_guard::rules::FaultRule;
use seawall_plan::Plan;
use seawall_plan::model::{
    DrillFault, DrillSpec, EmergencyPlan, FaultTarget, SimFaultKind, Trigger,
};
use seawall_store::{DrillWrite, Event, StoredDrill};
use serde_json::{Value, json};

pub use seawall_api::drills::{Drill, DrillList, DrillStep, FinishDrill, StartDrill};

use crate::error::ApiError;
pub(crate) use crate::service::drills_record::{as_plan_drill, view};
use crate::service::emergency::{self, RuleChange, change_rules};
use crate::service::{events, plans};
use crate::state::AppState;

/// The actor of what a drill does by itself (an expired lease).
const LEASE: &str = "drill-lease";

/// The guard fault rule id of drill `n`.
pub fn rule_id(n: i64) -> String {
    format!("drill.{n}")
}

/// The names of a drill's steps, in order.
pub const STEPS: [&str; 5] = [
    "fault_injected",
    "detected",
    "decided",
    "took_effect",
    "slo",
];

/// The services (and for an entry, the one resource) a guard fault goes to.
fn fault_targets(plan: &Plan, target: &FaultTarget) -> Result<(String, Option<String>), ApiError> {
    match target {
        FaultTarget::Entry(e) => plan
            .entries
            .get(e)
            .map(|entry| (entry.service.clone(), Some(e.clone())))
            .ok_or_else(|| ApiError::not_found(format!("entry `{e}` of the drill's fault"))),
        FaultTarget::Service(s) => Ok((s.clone(), None)),
    }
}

/// The fault as the drill record shows it (before injection: no versions).
fn fault_json(spec: &DrillSpec, lease_ms: i64) -> Value {
    match &spec.fault {
        DrillFault::Guard {
            target,
            delay_ms,
            abort_status,
            percent,
        } => {
            let (key, id) = match target {
                FaultTarget::Entry(e) => ("entry", e),
                FaultTarget::Service(s) => ("service", s),
            };
            json!({"kind": "guard", key: id, "delay_ms": delay_ms, "abort_status": abort_status,
                "percent": percent, "rules": []})
        }
        DrillFault::Sim { node, kind } => {
            let fault = match kind {
                SimFaultKind::Slow { ms } => json!({"kind": "slow", "ms": ms}),
                SimFaultKind::Fail { ratio } => json!({"kind": "fail", "ratio": ratio}),
            };
            json!({"kind": "sim", "node": node, "fault": fault, "ttl_ms": lease_ms})
        }
    }
}

/// Adds drill `n`'s fault to `resource` (every resource when `None`).
fn add_fault(rules: &mut RuleSet, resource: Option<&str>, fault: &FaultRule) -> Result<(), String> {
    let mut added = 0;
    for r in &mut rules.resources {
        if resource.is_none_or(|name| r.name == name) {
            r.faults.retain(|f| f.id != fault.id);
            r.faults.push(fault.clone());
            added += 1;
        }
    }
    match (added, resource) {
        (0, Some(name)) => Err(format!("no resource `{name}`")),
        (0, None) => Err("no resources".to_owned()),
        _ => Ok(()),
    }
}

fn write(d: &Drill, action: &str, detail: Value) -> Result<DrillWrite, ApiError> {
    Ok(DrillWrite {
        plan_id: d.plan_id.clone(),
        status: d.status.clone(),
        finished: d.is_finished(),
        state: serde_json::to_string(d)
            .map_err(|e| ApiError::Internal(format!("cannot serialise a drill: {e}")))?,
        action: action.to_owned(),
        detail,
    })
}

/// Start a drill of emergency plan `plan_id` of event `slug`'s latest plan:
/// refuse (storing nothing) an unknown plan, a plan without `drill`, an
/// unknown scenario, a fault on a service without guard rules, or a plan
/// with a running drill; then store the drill and inject its fault.
pub(crate) async fn start(
    state: &AppState,
    requested_by: &str,
    slug: &str,
    plan_id: &str,
    req: &StartDrill,
) -> Result<Drill, ApiError> {
    let (event, stored_plan) = plans::stored(state, slug, None).await?;
    let plan = plans::parsed(state, slug, &stored_plan)?;
    let version = stored_plan.info.version;
    let ep = plan.emergency_plans.get(plan_id).ok_or_else(|| {
        ApiError::NotFound(format!(
            "emergency plan `{plan_id}` not found in plan version {version} of event `{slug}`"
        ))
    })?;
    let spec = ep.drill.as_ref().ok_or_else(|| {
        ApiError::unprocessable(
            "no_drill",
            format!(
                "emergency plan `{plan_id}` has no `drill` section: add `drill: {{fault: …, \
                 expect: hold}}` to it to say what a drill injects"
            ),
        )
    })?;
    let scenario = req.scenario.clone().or_else(|| spec.scenario.clone());
    if let Some(sc) = &scenario
        && !plan.rehearsals.contains_key(sc)
    {
        return Err(ApiError::unprocessable(
            "unknown_scenario",
            format!("`{sc}` is not a rehearsal scenario of plan version {version}"),
        ));
    }
    let target = match &spec.fault {
        DrillFault::Guard { target, .. } => {
            let (service, resource) = fault_targets(&plan, target)?;
            let has = state.store.rules(&service, None).await?.is_some_and(|r| {
                RuleSet::from_json(&r.document).is_ok_and(|rules| {
                    rules
                        .resources
                        .iter()
                        .any(|x| resource.as_deref().is_none_or(|name| x.name == name))
                })
            });
            if !has {
                return Err(ApiError::Conflict(format!(
                    "service `{service}` has no guard rules{} to put the fault in; derive them \
                     first (seawall rules derive)",
                    resource
                        .as_deref()
                        .map(|r| format!(" with resource `{r}`"))
                        .unwrap_or_default()
                )));
            }
            Some((service, resource))
        }
        DrillFault::Sim { .. } => None,
    };
    let now = state.now();
    let lease_ms = (spec.lease_seconds * 1000.0).round() as i64;
    let mut d = Drill {
        id: 0,
        plan_id: plan_id.to_owned(),
        plan_version: version,
        status: "running".to_owned(),
        requested_by: requested_by.to_owned(),
        scenario,
        expect: spec.expect.as_str().to_owned(),
        fault: fault_json(spec, lease_ms),
        started_ms: now,
        lease_until_ms: now.saturating_add(lease_ms),
        ended_ms: None,
        run: None,
        steps: Vec::new(),
        total_ms: None,
        expected_minutes: ep.expected_minutes,
        within_expected: None,
        slo_held: None,
        note: None,
        version: 0,
    };
    let detail =
        json!({"fault": d.fault, "lease_until_ms": d.lease_until_ms, "scenario": d.scenario});
    let stored = state
        .store
        .create_drill(
            &state.ctx(requested_by),
            event.id,
            &write(&d, "drill.started", detail)?,
        )
        .await?;
    d.id = stored.id;
    let Some((service, resource)) = target else {
        tracing::info!(event = %slug, plan = plan_id, drill = d.id, "drill started (simulator fault, set by the client)");
        return judge_and_save(state, &event, &plan, stored, d, None).await;
    };
    let DrillFault::Guard {
        delay_ms,
        abort_status,
        percent,
        ..
    } = &spec.fault
    else {
        return Err(ApiError::Internal("a guard fault changed its kind".into()));
    };
    let rule = FaultRule {
        id: rule_id(d.id),
        percent: *percent,
        delay_ms: *delay_ms,
        abort_status: *abort_status,
        force: false,
        expires_at_ms: u64::try_from(d.lease_until_ms).ok(),
    };
    let note = format!(
        "drill {} of emergency plan {plan_id}: fault injected until {}",
        d.id, d.lease_until_ms
    );
    let change = RuleChange {
        actor: requested_by,
        note: &note,
        dry_run: false,
    };
    let injected = change_rules(state, &change, &service, |rules| {
        add_fault(rules, resource.as_deref(), &rule)
    })
    .await;
    match injected {
        Ok((_, version)) => {
            if let Some(rules) = d.fault.get_mut("rules").and_then(Value::as_array_mut) {
                rules.push(json!({"service": service, "rule": rule.id, "version": version}));
            }
            tracing::info!(event = %slug, plan = plan_id, drill = d.id, service = %service, "drill fault injected");
            judge_and_save(state, &event, &plan, stored, d, None).await
        }
        Err(e) => {
            d.status = "failed".to_owned();
            d.ended_ms = Some(state.now());
            d.note = Some(format!("the fault could not be injected: {e}"));
            let w = write(&d, "drill.failed", json!({"error": e}))?;
            state
                .store
                .update_drill(&state.ctx(requested_by), d.id, stored.version, &w)
                .await?;
            Err(ApiError::Conflict(format!(
                "drill {} failed: the fault could not be injected: {e}",
                d.id
            )))
        }
    }
}

/// Judge `d`'s steps now and store the record (audit `drill.judged`, or
/// `action` when the drill ends).
async fn judge_and_save(
    state: &AppState,
    event: &Event,
    plan: &Plan,
    stored: StoredDrill,
    mut d: Drill,
    end: Option<(&str, &str, String)>,
) -> Result<Drill, ApiError> {
    let ep = plan.emergency_plans.get(&d.plan_id);
    judge(state, event, ep, &mut d).await?;
    let (actor, action) = match &end {
        Some((actor, action, note)) => {
            d.ended_ms = Some(state.now());
            d.status = verdict(&d, action);
            d.note = Some(match d.note.take() {
                Some(n) if !n.is_empty() => format!("{n}; {note}"),
                _ => note.clone(),
            });
            remove_fault(state, &mut d, actor).await;
            (*actor, *action)
        }
        None => (d.requested_by.as_str(), "drill.fault_injected"),
    };
    let detail = json!({
        "steps": d.steps.iter().map(|s| json!({"name": s.name, "status": s.status, "after_ms": s.after_ms})).collect::<Vec<_>>(),
        "total_ms": d.total_ms,
    });
    let w = write(&d, action, detail)?;
    let actor = actor.to_owned();
    let saved = state
        .store
        .update_drill(&state.ctx(&actor), stored.id, stored.version, &w)
        .await?;
    view(&saved)
}

/// The final status: `stopped` for a global stop, else `passed` when every
/// step passed within the expected time, `failed` otherwise.
fn verdict(d: &Drill, action: &str) -> String {
    if action == "drill.stopped" {
        return "stopped".to_owned();
    }
    let all = d.steps.iter().all(|s| s.status == "passed");
    if all && d.within_expected != Some(false) {
        "passed".to_owned()
    } else {
        "failed".to_owned()
    }
}

fn step(
    name: &str,
    started_ms: i64,
    at: Option<i64>,
    ok: Option<bool>,
    detail: String,
) -> DrillStep {
    let status = match ok {
        Some(true) => "passed",
        Some(false) => "failed",
        None => "pending",
    };
    DrillStep {
        name: name.to_owned(),
        status: status.to_owned(),
        at_ms: at,
        after_ms: at.map(|t| t - started_ms),
        detail,
    }
}

/// Judge a running drill's steps from what the store recorded since its
/// fault was injected: the trigger's alert, the plan's first real run
/// after it, that run's approvals and actions, and the reported SLO.
async fn judge(
    state: &AppState,
    event: &Event,
    ep: Option<&EmergencyPlan>,
    d: &mut Drill,
) -> Result<(), ApiError> {
    let t0 = d.started_ms;
    let run: Option<EmergencyRun> = emergency::list(state, &event.slug, None)
        .await?
        .runs
        .into_iter()
        .find(|r| r.plan_id == d.plan_id && !r.dry_run && r.requested_ms >= t0);
    d.run = run.as_ref().map(|r| r.id);
    let alert = match ep.and_then(|ep| ep.trigger.as_ref()) {
        Some(Trigger::Alert(rule)) => Some(rule.clone()),
        _ => None,
    };
    let fired = match &alert {
        Some(rule) => state
            .store
            .alert_transitions(event.id, 0, 10_000)
            .await?
            .into_iter()
            .map(|t| t.transition)
            .find(|t| {
                t.rule == *rule
                    && t.change == seawall_monitor::alert::Change::Fired
                    && i64::try_from(t.at_ms).is_ok_and(|at| at >= t0)
            })
            .and_then(|t| i64::try_from(t.at_ms).ok()),
        None => None,
    };
    let mut steps = vec![step(
        STEPS[0],
        t0,
        Some(t0),
        Some(true),
        match d.fault.get("kind").and_then(Value::as_str) {
            Some("sim") => {
                "the simulator's drill switch, set by the client with the lease as its TTL"
                    .to_owned()
            }
            _ => format!(
                "guard fault `{}` on tagged traffic, lease until {}",
                rule_id(d.id),
                d.lease_until_ms
            ),
        },
    )];
    steps.push(match (&alert, fired, &run) {
        (Some(rule), Some(at), _) => step(
            STEPS[1],
            t0,
            Some(at),
            Some(true),
            format!("alert {rule} fired"),
        ),
        (Some(rule), None, _) => step(
            STEPS[1],
            t0,
            None,
            None,
            format!("waiting for alert {rule} to fire"),
        ),
        (None, _, Some(r)) => step(
            STEPS[1],
            t0,
            Some(r.requested_ms),
            Some(true),
            format!("run {} requested by {}", r.id, r.requested_by),
        ),
        (None, _, None) => step(
            STEPS[1],
            t0,
            None,
            None,
            "waiting for the plan's trigger to start a run".to_owned(),
        ),
    });
    steps.push(match &run {
        None => step(STEPS[2], t0, None, None, "no run yet".to_owned()),
        Some(r) if r.status == "cancelled" => step(
            STEPS[2],
            t0,
            None,
            Some(false),
            format!("run {} was cancelled", r.id),
        ),
        Some(r) if r.approval == "none" => step(
            STEPS[2],
            t0,
            Some(r.requested_ms),
            Some(true),
            "no approval needed".to_owned(),
        ),
        Some(r) if r.status == "awaiting_approval" => step(
            STEPS[2],
            t0,
            None,
            None,
            format!(
                "run {} waits for approval ({} given)",
                r.id,
                r.approvals.len()
            ),
        ),
        Some(r) => {
            let by: Vec<&str> = r.approvals.iter().map(|a| a.by.as_str()).collect();
            let at = r
                .approvals
                .iter()
                .map(|a| a.at_ms)
                .max()
                .unwrap_or(r.requested_ms);
            step(
                STEPS[2],
                t0,
                Some(at),
                Some(true),
                format!("approved by {}", by.join(", ")),
            )
        }
    });
    steps.push(match &run {
        None => step(STEPS[3], t0, None, None, "no run yet".to_owned()),
        Some(r) if r.status == "succeeded" => {
            let at = r
                .steps
                .iter()
                .filter_map(|s| s.ended_ms)
                .max()
                .unwrap_or(r.updated_ms);
            step(
                STEPS[3],
                t0,
                Some(at),
                Some(true),
                format!("run {}: {} action(s) applied", r.id, r.steps.len()),
            )
        }
        Some(r)
            if matches!(
                r.status.as_str(),
                "failed" | "rolled_back" | "rollback_failed" | "cancelled" | "rolling_back"
            ) =>
        {
            let errors: Vec<&str> = r.steps.iter().filter_map(|s| s.error.as_deref()).collect();
            step(
                STEPS[3],
                t0,
                None,
                Some(false),
                format!(
                    "run {} {}{}",
                    r.id,
                    r.status,
                    if errors.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", errors.join("; "))
                    }
                ),
            )
        }
        Some(r) => step(
            STEPS[3],
            t0,
            None,
            None,
            format!("run {} is {}", r.id, r.status),
        ),
    });
    steps.push(match d.slo_held {
        None => step(
            STEPS[4],
            t0,
            None,
            None,
            format!(
                "waiting for the rehearsal's report (expected: SLO {})",
                d.expect
            ),
        ),
        Some(held) => {
            let expected = (d.expect == "hold") == held;
            let said = if held { "held" } else { "broke" };
            step(
                STEPS[4],
                t0,
                d.ended_ms.or(Some(state.now())),
                Some(expected),
                format!("the SLO {said}; the plan expects it to {}", d.expect),
            )
        }
    });
    d.total_ms = steps[3].after_ms;
    d.within_expected = match (d.total_ms, d.expected_minutes) {
        (Some(t), Some(m)) => Some(t as f64 <= m * 60_000.0),
        _ => None,
    };
    d.steps = steps;
    Ok(())
}

/// Remove a guard fault's rule from each service it went to (a new rule
/// version); what fails is noted on the drill (the lease still ends it).
async fn remove_fault(state: &AppState, d: &mut Drill, actor: &str) {
    let id = rule_id(d.id);
    let services: Vec<String> = d
        .fault
        .get("rules")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("service").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let note = format!("drill {}: fault removed", d.id);
    for service in services {
        let change = RuleChange {
            actor,
            note: &note,
            dry_run: false,
        };
        let removed = change_rules(state, &change, &service, |rules| {
            for r in &mut rules.resources {
                r.faults.retain(|f| f.id != id);
            }
            Ok(())
        })
        .await;
        if let Err(e) = removed {
            tracing::warn!(drill = d.id, service = %service, "drill fault not removed (its lease still ends it): {e}");
            let n = d.note.get_or_insert_with(String::new);
            n.push_str(&format!(
                "; the fault was not removed from `{service}` ({e}); its lease ends it"
            ));
        }
    }
}

/// Drill `n` of event `slug`, or 404.
async fn find(state: &AppState, slug: &str, n: i64) -> Result<(Event, StoredDrill), ApiError> {
    let event = events::find(state, slug).await?;
    match state.store.drill(n).await? {
        Some(stored) if stored.event_id == event.id => Ok((event, stored)),
        _ => Err(ApiError::not_found(format!("drill {n} of event `{slug}`"))),
    }
}

/// The plan version a drill drills.
async fn plan_of(
    state: &AppState,
    slug: &str,
    d: &Drill,
) -> Result<std::sync::Arc<Plan>, ApiError> {
    let (_, stored) = plans::stored(state, slug, Some(d.plan_version)).await?;
    plans::parsed(state, slug, &stored)
}

/// A running drill judged now; one whose lease has passed ends as failed
/// (the rehearsal never reported), its fault removed.
async fn current(state: &AppState, event: &Event, stored: StoredDrill) -> Result<Drill, ApiError> {
    let d = view(&stored)?;
    if d.is_finished() {
        return Ok(d);
    }
    let plan = plan_of(state, &event.slug, &d).await?;
    let end = (state.now() >= d.lease_until_ms).then(|| {
        (
            LEASE,
            "drill.expired",
            "the fault's lease ended before the rehearsal reported".to_owned(),
        )
    });
    if end.is_none() {
        let mut d = d;
        judge(state, event, plan.emergency_plans.get(&d.plan_id), &mut d).await?;
        return Ok(d);
    }
    let id = stored.id;
    match judge_and_save(state, event, &plan, stored, d, end).await {
        Err(ApiError::Conflict(_)) => match state.store.drill(id).await? {
            Some(s) => view(&s),
            None => Err(ApiError::not_found(format!("drill {id}"))),
        },
        other => other,
    }
}

/// One drill of event `slug`, judged now.
pub(crate) async fn get(state: &AppState, slug: &str, n: i64) -> Result<Drill, ApiError> {
    let (event, stored) = find(state, slug, n).await?;
    current(state, &event, stored).await
}

/// Event `slug`'s drills, oldest first; only plan `plan_id`'s if given
/// (404 if the latest plan has no such emergency plan).
pub(crate) async fn list(
    state: &AppState,
    slug: &str,
    plan_id: Option<&str>,
) -> Result<DrillList, ApiError> {
    let event = events::find(state, slug).await?;
    if let Some(id) = plan_id {
        let (_, stored) = plans::stored(state, slug, None).await?;
        if !plans::parsed(state, slug, &stored)?
            .emergency_plans
            .contains_key(id)
        {
            return Err(ApiError::NotFound(format!(
                "emergency plan `{id}` not found in plan version {} of event `{slug}`",
                stored.info.version
            )));
        }
    }
    let mut drills = Vec::new();
    for stored in state.store.drills(event.id).await? {
        if plan_id.is_some_and(|id| id != stored.plan_id) {
            continue;
        }
        drills.push(current(state, &event, stored).await?);
    }
    Ok(DrillList { drills })
}

/// Finish drill `n` with what the rehearsal saw: judge every step, remove
/// the fault and record the verdict. 409 if it is finished already.
pub(crate) async fn finish(
    state: &AppState,
    actor: &str,
    slug: &str,
    n: i64,
    req: &FinishDrill,
) -> Result<Drill, ApiError> {
    let (event, stored) = find(state, slug, n).await?;
    let mut d = view(&stored)?;
    if d.is_finished() {
        return Err(ApiError::Conflict(format!(
            "drill {n} is finished ({})",
            d.status
        )));
    }
    d.slo_held = Some(req.slo_held);
    d.note = req.note.clone();
    let plan = plan_of(state, slug, &d).await?;
    let end = (actor, "drill.finished", format!("finished by {actor}"));
    judge_and_save(state, &event, &plan, stored, d, Some(end)).await
}

/// The global stop: end every running drill of event `slug` (status
/// `stopped`) and remove their faults. The drills stopped.
pub(crate) async fn stop(state: &AppState, actor: &str, slug: &str) -> Result<DrillList, ApiError> {
    let event = events::find(state, slug).await?;
    let mut drills = Vec::new();
    for stored in state.store.drills(event.id).await? {
        if stored.finished {
            continue;
        }
        let d = view(&stored)?;
        let plan = plan_of(state, slug, &d).await?;
        let end = (actor, "drill.stopped", format!("stopped by {actor}"));
        drills.push(judge_and_save(state, &event, &plan, stored, d, Some(end)).await?);
    }
    tracing::info!(event = %slug, stopped = drills.len(), "drills stopped");
    Ok(DrillList { drills })
}
