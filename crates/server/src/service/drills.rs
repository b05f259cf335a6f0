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

/// The prefix of drill `n`'s guard fault rule ids: each resource it
/// faults gets `drill.<n>.<resource>` (rule ids are unique in a document).
pub fn rule_id(n: i64) -> String {
    format!("drill.{n}")
}

/// Whether guard rule `id` is one of drill `n`'s faults.
fn is_drill_rule(id: &str, n: i64) -> bool {
    id.strip_prefix(&rule_id(n))
        .is_some_and(|rest| rest.starts_with('.'))
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

/// Adds `fault` to `resource` (every resource when `None`), its id
/// suffixed with each resource's name.
fn add_fault(rules: &mut RuleSet, resource: Option<&str>, fault: &FaultRule) -> Result<(), String> {
    let mut added = 0;
    for r in &mut rules.resources {
        if resource.is_none_or(|name| r.name == name) {
            let id = format!("{}.{}", fault.id, r.name);
            r.faults.retain(|f| f.id != id);
            r.faults.push(FaultRule {
                id,
                ..fault.clone()
            });
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
                rules.push(json!({"service": service, "rules": format!("{}.*", rule.id), "version": version}));
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
    let metric = matches!(
        ep.and_then(|ep| ep.trigger.as_ref()),
        Some(Trigger::Metric { .. })
    );
    let alert = match ep.and_then(|ep| ep.trigger.as_ref()) {
        Some(Trigger::Alert(rule)) => Some(rule.clone()),
        _ => None,
    };
    let fired = match &alert {
        Some(rule) => first_fired(state, event.id, rule, t0).await?,
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
        // A metric trigger detects when it starts the run itself; a
        // manual plan's detection is a person asking for the run.
        (None, _, Some(r)) if !metric || r.requested_by.starts_with("trigger:") => step(
            STEPS[1],
            t0,
            Some(r.requested_ms),
            Some(true),
            format!("run {} requested by {}", r.id, r.requested_by),
        ),
        (None, _, _) => step(
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

/// Transitions read per page, and pages read at most, when looking for
/// the trigger's alert (a bound on one judgement: 500,000 transitions).
const TRANSITION_PAGE: u32 = 10_000;
const TRANSITION_PAGES: usize = 50;

/// When alert `rule` of event `event_id` first fired at or after `t0` (ms).
async fn first_fired(
    state: &AppState,
    event_id: i64,
    rule: &str,
    t0: i64,
) -> Result<Option<i64>, ApiError> {
    let mut after = 0;
    for _ in 0..TRANSITION_PAGES {
        let page = state
            .store
            .alert_transitions(event_id, after, TRANSITION_PAGE)
            .await?;
        let Some(last) = page.last() else {
            return Ok(None);
        };
        after = last.id;
        let found = page.iter().map(|t| &t.transition).find_map(|t| {
            let at = i64::try_from(t.at_ms).ok()?;
            (t.rule == rule && t.change == seawall_monitor::alert::Change::Fired && at >= t0)
                .then_some(at)
        });
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// Remove a guard fault's rule from each service it went to (a new rule
/// version); what fails is noted on the drill (the lease still ends it).
async fn remove_fault(state: &AppState, d: &mut Drill, actor: &str) {
    let n = d.id;
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
                r.faults.retain(|f| !is_drill_rule(&f.id, n));
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

/// How often [`run`] ends drills whose lease has passed.
const SWEEP: std::time::Duration = std::time::Duration::from_secs(2);

/// The background task: a drill whose lease has passed is recorded as
/// failed within [`SWEEP`] whether or not anybody reads it (its fault is
/// already gone at the sidecars, by their own clock), until shutdown.
pub(crate) async fn run(state: AppState) {
    let mut tick = tokio::time::interval(SWEEP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.shutting_down() => return,
        }
        if let Err(e) = expire_due(&state).await {
            tracing::warn!("ending expired drills failed: {e}");
        }
    }
}

/// End every running drill, of every event, whose lease has passed (as
/// reading it would). The number ended.
pub async fn expire_due(state: &AppState) -> Result<usize, ApiError> {
    let now = state.now();
    let mut ended = 0;
    for event in state.store.events().await? {
        for stored in state.store.drills(event.id).await? {
            if stored.finished {
                continue;
            }
            let due = match view(&stored) {
                Ok(d) => now >= d.lease_until_ms,
                Err(e) => {
                    tracing::warn!(drill = stored.id, "unreadable drill record: {e}");
                    false
                }
            };
            if due && current(state, &event, stored).await?.is_finished() {
                ended += 1;
            }
        }
    }
    Ok(ended)
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

#[cfg(test)]
mod tests {
    use seawall_monitor::alert::{Change, Severity, Signal, Snapshot, State, Target};
    use seawall_monitor::sample::TargetKind;
    use seawall_store::{Ctx, NewEvent, NewPlanVersion, NewRuleVersion, RuleSource};

    use super::*;
    use crate::state::ManualClock;

    const PLAN: &str = "\
event: {name: T, timezone: UTC}
people:
  lin-wei: {name: Lin Wei}
organization:
  guarantee_group: [lin-wei]
goals:
  orders: {total: 360000, peak_hour_share: 0.1, peak_factor: 1.0}
traffic:
  journeys:
    ride:
      goal: orders
      steps:
        - {entry: create-order}
entries:
  create-order: {service: order-api, method: POST, path: /api/orders}
services:
  order-api: {tier: frontend, instances: 2, capacity_per_instance: 10}
monitoring:
  alerts:
    orders-hot: {target: create-order, metric: water_level, above: 0.9, for: 30s}
emergency_plans:
  limit-orders:
    phase: during
    trigger: {alert: orders-hot}
    approval: one
    actions:
      - {kind: rate_limit, entry: create-order, qps: 5}
    owner: lin-wei
    expected_minutes: 2
    drill:
      fault: {service: order-api, delay_ms: 300, percent: 50}
      expect: break
";

    fn transition(change: Change, at_ms: u64) -> seawall_monitor::Transition {
        seawall_monitor::Transition {
            rule: "orders-hot".into(),
            target: Target::new(TargetKind::Entry, "create-order"),
            signal: Signal::WaterLevel,
            severity: Severity::Critical,
            change,
            state: State::Firing {
                since_ms: at_ms,
                fired_ms: at_ms,
            },
            at_ms,
            value: 0.95,
            threshold: 0.9,
            inhibited_by: None,
        }
    }

    /// An alert-triggered plan that needs approval: detection is the
    /// alert firing after the injection (not one before it), the decision
    /// waits for a commander, and a stop ends the drill with the fault's
    /// rule removed from every resource of the service.
    #[tokio::test]
    async fn detection_is_the_alert_after_the_injection_and_the_decision_waits() {
        let dir = tempfile::tempdir().expect("dir");
        let store = seawall_store::open(&seawall_store::StoreSpec::Sqlite(dir.path().join("s.db")))
            .await
            .expect("store");
        let clock = ManualClock::new(1_000_000);
        let state = AppState::new(store, dir.path()).with_clock(clock.clock());
        let ctx = Ctx::new("ana", 1);
        let event = state
            .store
            .create_event(
                &ctx,
                &NewEvent {
                    slug: "d15".into(),
                    name: "D15".into(),
                },
            )
            .await
            .expect("event");
        state
            .store
            .push_plan(
                &ctx,
                event.id,
                &NewPlanVersion {
                    file_name: "plan.yaml".into(),
                    text: PLAN.into(),
                },
            )
            .await
            .expect("plan");
        let rules = r#"{"version":1,"resources":[{"name":"create-order"},{"name":"list-orders"}]}"#;
        state
            .store
            .put_rules(
                &ctx,
                &NewRuleVersion {
                    service: "order-api".into(),
                    document: rules.into(),
                    source: RuleSource::Adjusted,
                    plan_version: None,
                    note: "open".into(),
                },
            )
            .await
            .expect("rules");
        // An alert that fired before the drill is not its detection.
        state
            .store
            .record_alerts(
                &ctx,
                event.id,
                &[transition(Change::Fired, 999_000)],
                &Snapshot::default(),
            )
            .await
            .expect("alerts");
        let d = start(
            &state,
            "lin-wei",
            "d15",
            "limit-orders",
            &StartDrill::default(),
        )
        .await
        .expect("drill");
        assert_eq!(d.lease_until_ms, 1_000_000 + 600_000, "the default lease");
        assert_eq!(d.steps[1].status, "pending", "{:#?}", d.steps);
        let v2 = state
            .store
            .rules("order-api", None)
            .await
            .expect("rules")
            .expect("v2");
        let doc = RuleSet::from_json(&v2.document).expect("rules");
        assert!(doc.resources.iter().all(|r| r.faults.len() == 1
            && r.faults[0].id == format!("drill.{}.{}", d.id, r.name)
            && r.faults[0].expires_at_ms == Some(1_600_000)
            && r.faults[0].delay_ms == Some(300)
            && !r.faults[0].force));

        clock.set(1_000_500);
        let plan = seawall_plan::parse(PLAN, "plan.yaml").expect("plan");
        let fired = transition(Change::Fired, 1_000_500);
        state
            .store
            .record_alerts(
                &ctx,
                event.id,
                std::slice::from_ref(&fired),
                &Snapshot::default(),
            )
            .await
            .expect("alerts");
        emergency::on_transitions(&state, &event, &plan, &[fired]).await;
        let seen = get(&state, "d15", d.id).await.expect("drill");
        assert_eq!(seen.steps[1].status, "passed", "{:#?}", seen.steps);
        assert_eq!(seen.steps[1].after_ms, Some(500));
        assert!(seen.steps[1].detail.contains("orders-hot"));
        assert_eq!(seen.steps[2].status, "pending");
        assert!(
            seen.steps[2].detail.contains("waits for approval"),
            "{:#?}",
            seen.steps
        );

        clock.set(1_002_000);
        let stopped = stop(&state, "lin-wei", "d15").await.expect("stop");
        assert_eq!(stopped.drills.len(), 1);
        assert_eq!(stopped.drills[0].status, "stopped");
        assert_eq!(stopped.drills[0].ended_ms, Some(1_002_000));
        let v3 = state
            .store
            .rules("order-api", None)
            .await
            .expect("rules")
            .expect("v3");
        assert_eq!(v3.version, 3);
        let doc = RuleSet::from_json(&v3.document).expect("rules");
        assert!(doc.resources.iter().all(|r| r.faults.is_empty()));
        // A stopped drill clears nothing: readiness counts passed ones only.
        let recorded = crate::service::drills_record::with_recorded(
            &state,
            event.id,
            std::sync::Arc::new(plan),
        )
        .await
        .expect("merged");
        assert!(recorded.emergency_plans["limit-orders"].drills.is_empty());
    }
}
