//! Emergency plans that execute: a run of an event's emergency plan,
//! started by hand or by its alert, approved by commanders, driven one
//! action at a time by a background task, rolled back in reverse, and
//! recovered after a restart (`docs/respond.md#emergency-plans-that-execute`).
//!
//! Why here: the rules of a run (approvals, one action at a time, dry run,
//! rollback order, what a restart found) are `seawall_respond::run::Run`'s;
//! this module only stores its state before and after every transition
//! (the store refuses an update from a stale read) and performs the
//! actions through the control plane's real interfaces (`exec`: guard
//! rule versions for `rate_limit`, `degrade` and `fallback` — sidecars
//! follow them through the long poll, woken by
//! [`AppState::notify_change`] —, seawall-notify for `notify` and
//! `webhook`, GETs for `cache_warmup`, seawall-kube for `scale`). An
//! action's start is stored before the executor touches anything, so a
//! restart knows it may have; so is an undo's (`undoing`).
//!
//! A restart re-applies nothing by itself: an action or an undo it found
//! in flight becomes `unknown` / `undo_unknown` with what to check (for an
//! undo: the captured before and after, and which system holds the
//! value), and the run waits for a commander — resume (after an undo: mark
//! it done) or roll back (after an undo: apply it again). Rule changes get
//! no exception although setting a value is idempotent by value: nothing
//! proves that nobody set that value since the undo started, and applying
//! it again would overwrite their change.
//!
//! With several replicas, only the elected evaluator (`service::leader`)
//! drives runs and recovers them: a decision taken through another replica
//! is stored there and picked up by the evaluator within a second; a
//! drive stops at once when its replica stops leading, and its writes are
//! fenced (`seawall_store::election`).
//!
//! Rule changes are targeted: an action changes one flow limit or switch
//! in the service's latest rules and stores a new version (source
//! `emergency`); its rollback restores that one value in the then-latest
//! rules as another new version, so history is never rewritten and a
//! commander's unrelated adjustment in between survives.

use std::sync::Arc;

pub use seawall_api::emergency::{EmergencyRun, EmergencyRunList, RunApproval, RunStep, StartRun};
use seawall_plan::Plan;
use seawall_plan::model::{Action, AlertMetric, EmergencyPlan, Trigger};
use seawall_respond::incident::EntryKind;
use seawall_respond::run::{Approval, Outcome, Run, RunError, RunStatus, Step, StepStatus};
use seawall_store::{Ctx, EmergencyRun as Stored, EmergencyRunUpdate, Event, NewEmergencyRun};
use serde_json::{Value, json};

pub use self::exec::WARMUP_HEADER;
pub(crate) use self::exec::{RuleChange, change_rules};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::service::monitoring::registry::Role;
pub use crate::service::triggers::Holding;
use crate::service::{events, incidents, plans};
use crate::state::AppState;
use seawall_store::election::fenced;

mod exec;

/// The most actions one drive performs before it re-reads everything
/// (a bound on the loop; a plan has far fewer).
const MAX_DRIVE_STEPS: usize = 1_000;

/// Approvals a plan needs: its `approval: none | one | two`.
pub(crate) fn approval_of(plan: &EmergencyPlan) -> Approval {
    plan.approval
}

/// Whether `person` is a commander of emergency plan `ep`: the guarantee
/// group or the plan's owner (a token's name is the person id).
fn is_commander(plan: &Plan, ep: &EmergencyPlan, person: &str) -> bool {
    plan.organization
        .guarantee_group
        .iter()
        .any(|p| p == person)
        || ep.owner.as_deref() == Some(person)
}

/// What an action is, for its step: kind, target, whether rollback undoes it.
fn step_of(action: &Action) -> (String, Option<String>, bool) {
    let (target, reversible) = match action {
        Action::RateLimit { entry, .. } => (Some(entry.clone()), true),
        Action::Degrade { service, .. } => (Some(service.clone()), true),
        Action::Fallback { target } => (Some(target.clone()), true),
        Action::Scale { service, .. } => (Some(service.clone()), true),
        Action::CacheWarmup { service, .. } => (Some(service.clone()), false),
        Action::Notify { channel, .. } => (Some(channel.clone()), false),
        Action::Webhook { url, .. } => (Some(exec::redact(url).to_owned()), false),
    };
    (action.kind().to_owned(), target, reversible)
}

/// A stored run's state.
fn decode(stored: &Stored) -> Result<Run, ApiError> {
    serde_json::from_str(&stored.state).map_err(|e| {
        ApiError::Internal(format!(
            "emergency run {} has a state this server cannot read: {e}",
            stored.id
        ))
    })
}

/// The API's view of a run.
pub(crate) fn view(stored: &Stored, run: &Run) -> EmergencyRun {
    EmergencyRun {
        id: stored.id,
        plan_id: stored.plan_id.clone(),
        plan_version: stored.plan_version,
        version: stored.version,
        status: run.status.as_str().to_owned(),
        dry_run: run.dry_run,
        requested_by: run.requested_by.clone(),
        requested_ms: run.requested_ms,
        approval: exec::name(&run.approval),
        approvals: run
            .approvals
            .iter()
            .map(|a| RunApproval {
                by: a.by.clone(),
                at_ms: a.at_ms,
            })
            .collect(),
        steps: run
            .steps
            .iter()
            .map(|s| RunStep {
                kind: s.kind.clone(),
                target: s.target.clone(),
                status: exec::name(&s.status),
                started_ms: s.started_ms,
                ended_ms: s.ended_ms,
                before: s.before.clone(),
                after: s.after.clone(),
                error: s.error.clone(),
                reversible: s.reversible,
            })
            .collect(),
        duration_ms: run.duration_ms(),
        expected_minutes: run.expected_minutes,
        within_expected: run.within_expected(),
        updated_ms: stored.updated_ms,
    }
}

/// Store `run` over `stored` (which must still be current), with audit
/// `action` and `detail`.
async fn save(
    state: &AppState,
    ctx: &Ctx,
    stored: &Stored,
    run: &Run,
    action: &str,
    detail: Value,
) -> Result<Stored, ApiError> {
    let text = serde_json::to_string(run)
        .map_err(|e| ApiError::Internal(format!("cannot serialise an emergency run: {e}")))?;
    let mut detail = detail;
    if let Some(obj) = detail.as_object_mut() {
        obj.insert("plan_id".into(), json!(stored.plan_id));
    }
    let kind = if action.starts_with("emergency.step.") {
        EntryKind::PlanStep
    } else {
        EntryKind::PlanRun
    };
    let said = format!(
        "emergency plan {} run {}: {} ({})",
        stored.plan_id,
        stored.id,
        action.trim_start_matches("emergency."),
        run.status.as_str()
    );
    let saved = state
        .store
        .update_emergency_run(
            ctx,
            stored.id,
            stored.version,
            &EmergencyRunUpdate {
                status: run.status.as_str().to_owned(),
                finished: run.status.is_final(),
                state: text,
                action: action.to_owned(),
                detail,
            },
        )
        .await?;
    incidents::on_run(state, stored.event_id, kind, &said).await;
    Ok(saved)
}

/// The plan version a run executes, and the emergency plan in it.
async fn plan_of(
    state: &AppState,
    event: &Event,
    version: Option<i64>,
    plan_id: &str,
) -> Result<(i64, Arc<Plan>), ApiError> {
    let (_, stored) = plans::stored(state, &event.slug, version).await?;
    let plan = plans::parsed(state, &event.slug, &stored)?;
    if !plan.emergency_plans.contains_key(plan_id) {
        return Err(ApiError::NotFound(format!(
            "emergency plan `{plan_id}` not found in plan version {} of event `{}`",
            stored.info.version, event.slug
        )));
    }
    Ok((stored.info.version, plan))
}

fn emergency<'p>(plan: &'p Plan, plan_id: &str) -> Result<&'p EmergencyPlan, ApiError> {
    plan.emergency_plans
        .get(plan_id)
        .ok_or_else(|| ApiError::not_found(format!("emergency plan `{plan_id}`")))
}

/// Start a run (or a dry run) of emergency plan `plan_id` of event
/// `slug`'s latest plan, requested by `requested_by`; the driver starts
/// at once.
pub(crate) async fn start(
    state: &AppState,
    requested_by: &str,
    slug: &str,
    plan_id: &str,
    dry_run: bool,
) -> Result<EmergencyRun, ApiError> {
    let event = events::find(state, slug).await?;
    start_in(state, &event, requested_by, plan_id, dry_run).await
}

async fn start_in(
    state: &AppState,
    event: &Event,
    requested_by: &str,
    plan_id: &str,
    dry_run: bool,
) -> Result<EmergencyRun, ApiError> {
    let (plan_version, plan) = plan_of(state, event, None, plan_id).await?;
    let ep = emergency(&plan, plan_id)?;
    let now = state.now();
    let run = Run::new(
        plan_id,
        requested_by,
        now,
        dry_run,
        approval_of(ep),
        ep.actions.iter().map(step_of),
        ep.expected_minutes,
    );
    let text = serde_json::to_string(&run)
        .map_err(|e| ApiError::Internal(format!("cannot serialise an emergency run: {e}")))?;
    let stored = state
        .store
        .create_emergency_run(
            &state.ctx(requested_by),
            event.id,
            &NewEmergencyRun {
                plan_id: plan_id.to_owned(),
                plan_version,
                status: run.status.as_str().to_owned(),
                finished: run.status.is_final(),
                state: text,
                requested_by: requested_by.to_owned(),
            },
        )
        .await?;
    tracing::info!(event = %event.slug, plan = plan_id, run = stored.id, dry_run, "emergency run requested");
    let text = format!(
        "emergency plan {plan_id} run {} requested by {requested_by}{}",
        stored.id,
        if dry_run { " (dry run)" } else { "" }
    );
    incidents::on_run(state, event.id, EntryKind::PlanRun, &text).await;
    spawn_drive(state, stored.id);
    incidents::pager::ask_approval(
        state,
        event.id,
        &event.slug,
        Arc::clone(&plan),
        plan_id,
        stored.id,
        requested_by,
        dry_run,
    );
    Ok(view(&stored, &run))
}

/// Run `n` of event `slug`, or 404.
async fn find(state: &AppState, slug: &str, n: i64) -> Result<(Event, Stored, Run), ApiError> {
    let event = events::find(state, slug).await?;
    match state.store.emergency_run(n).await? {
        Some(stored) if stored.event_id == event.id => {
            let run = decode(&stored)?;
            Ok((event, stored, run))
        }
        _ => Err(ApiError::not_found(format!(
            "emergency run {n} of event `{slug}`"
        ))),
    }
}

/// One run of event `slug`.
pub(crate) async fn get(state: &AppState, slug: &str, n: i64) -> Result<EmergencyRun, ApiError> {
    let (_, stored, run) = find(state, slug, n).await?;
    Ok(view(&stored, &run))
}

/// Event `slug`'s runs, oldest first; only plan `plan_id`'s if given (404
/// if the latest plan has no such emergency plan).
pub(crate) async fn list(
    state: &AppState,
    slug: &str,
    plan_id: Option<&str>,
) -> Result<EmergencyRunList, ApiError> {
    let event = events::find(state, slug).await?;
    if let Some(id) = plan_id {
        plan_of(state, &event, None, id).await?;
    }
    let mut runs = Vec::new();
    for stored in state.store.emergency_runs(event.id).await? {
        if plan_id.is_some_and(|id| id != stored.plan_id) {
            continue;
        }
        let run = decode(&stored)?;
        runs.push(view(&stored, &run));
    }
    Ok(EmergencyRunList { runs })
}

fn refused(e: RunError) -> ApiError {
    match e {
        RunError::NotCommander(_) | RunError::SelfApproval(_) => ApiError::Forbidden {
            message: e.to_string(),
            allowed: Vec::new(),
        },
        other => ApiError::Conflict(other.to_string()),
    }
}

/// What a commander does to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Approve it.
    Approve,
    /// Roll back what it did.
    Rollback,
    /// Go on after a restart left an action unknown.
    Resume,
    /// Cancel a run that has not started an action.
    Cancel,
}

/// Whether `who` could approve run `n` of event `slug` now (a commander of
/// the plan, not the requester, not yet approved), changing nothing: the
/// same checks as [`decide`]'s approval, on a copy never stored.
pub(crate) async fn may_approve(
    state: &AppState,
    slug: &str,
    n: i64,
    who: &str,
) -> Result<(), ApiError> {
    let (event, stored, mut run) = find(state, slug, n).await?;
    let (_, plan) = plan_of(state, &event, Some(stored.plan_version), &stored.plan_id).await?;
    let ep = emergency(&plan, &stored.plan_id)?;
    let commander = is_commander(&plan, ep, who);
    run.approve(who, commander, state.now()).map_err(refused)
}

/// `auth` approves, rolls back or resumes run `n` of event `slug`; the
/// driver goes on at once.
pub(crate) async fn decide(
    state: &AppState,
    auth: &Auth,
    slug: &str,
    n: i64,
    decision: Decision,
) -> Result<EmergencyRun, ApiError> {
    let (event, stored, mut run) = find(state, slug, n).await?;
    let who = auth.actor().to_owned();
    let (action, detail) = match decision {
        Decision::Approve => {
            let (_, plan) =
                plan_of(state, &event, Some(stored.plan_version), &stored.plan_id).await?;
            let ep = emergency(&plan, &stored.plan_id)?;
            let commander = is_commander(&plan, ep, &who);
            run.approve(&who, commander, state.now()).map_err(refused)?;
            (
                "emergency.run.approved",
                json!({"by": who, "approvals": run.approvals.len()}),
            )
        }
        Decision::Rollback => {
            let order = run.begin_rollback().map_err(refused)?;
            ("emergency.run.rolling_back", json!({"undo": order}))
        }
        Decision::Resume => {
            run.resume().map_err(refused)?;
            ("emergency.run.resumed", json!({}))
        }
        Decision::Cancel => {
            run.cancel().map_err(refused)?;
            ("emergency.run.cancelled", json!({}))
        }
    };
    let saved = save(state, &auth.ctx(state), &stored, &run, action, detail).await?;
    spawn_drive(state, saved.id);
    Ok(view(&saved, &run))
}

/// Drive run `id` in a task of its own, if this replica is the evaluator
/// (`service::leader`): its writes fenced by the election session, and
/// the drive dropped at once if the replica stops leading. On another
/// replica it does nothing: the evaluator picks the run up within
/// [`PICK_UP`].
fn spawn_drive(state: &AppState, id: i64) {
    let leadership = state.monitor().leadership();
    let Role::Leader(fence) = leadership.role() else {
        tracing::debug!(run = id, "emergency run left to the evaluator replica");
        return;
    };
    leadership.start_driving(id);
    let state = state.clone();
    tokio::spawn(async move {
        let leadership = state.monitor().leadership();
        tokio::select! {
            driven = fenced(fence, drive(&state, id)) => {
                if let Err(e) = driven {
                    tracing::warn!(run = id, "emergency run stopped: {e}");
                }
            }
            () = leadership.lost() => {
                tracing::warn!(run = id, "emergency run left: this replica stopped evaluating");
            }
        }
        leadership.done_driving(id);
    });
}

/// How often the evaluator looks for runs to drive that a person moved on
/// through another replica (approved, resumed, rolled back).
const PICK_UP: std::time::Duration = std::time::Duration::from_secs(1);

/// Drive run `id` until it waits for a person or is final: start the next
/// action (stored first), perform it, record its outcome; or undo the next
/// action of a rollback. A stale read (another driver, a commander) ends
/// this drive; whoever changed the run drives it on.
pub(crate) async fn drive(state: &AppState, id: i64) -> Result<(), ApiError> {
    for _ in 0..MAX_DRIVE_STEPS {
        let Some(stored) = state.store.emergency_run(id).await? else {
            return Ok(());
        };
        let mut run = decode(&stored)?;
        let Some(event) = state
            .store
            .events()
            .await?
            .into_iter()
            .find(|e| e.id == stored.event_id)
        else {
            return Ok(());
        };
        let (_, plan) = plan_of(state, &event, Some(stored.plan_version), &stored.plan_id).await?;
        let ep = emergency(&plan, &stored.plan_id)?;
        let ctx = state.ctx(exec::DRIVER);
        match run.status {
            RunStatus::Running => {
                let Some(i) = run.next() else {
                    return Ok(());
                };
                run.start(i, state.now()).map_err(refused)?;
                let stored = match save(
                    state,
                    &ctx,
                    &stored,
                    &run,
                    "emergency.step.started",
                    json!({"step": i, "kind": step_kind(&run, i), "dry_run": run.dry_run}),
                )
                .await
                {
                    Ok(s) => s,
                    Err(ApiError::Conflict(_)) => return Ok(()),
                    Err(e) => return Err(e),
                };
                let outcome = match ep.actions.get(i) {
                    Some(action) => {
                        let note = action_note("", &stored, i, action);
                        let x = exec::Exec {
                            state,
                            plan: &plan,
                            note: &note,
                            dry_run: run.dry_run,
                        };
                        // A shutdown does not wait for an action: the
                        // step stays `running` in the store, and the
                        // restart marks it unknown (what a crash does).
                        tokio::select! {
                            outcome = x.perform(action) => outcome,
                            () = state.shutting_down() => return Ok(()),
                        }
                    }
                    None => Outcome::Failed {
                        error: format!(
                            "plan version {} has no action {}",
                            stored.plan_version,
                            i + 1
                        ),
                    },
                };
                let failed = match &outcome {
                    Outcome::Failed { error } => Some(error.clone()),
                    Outcome::Done { .. } => None,
                };
                run.finish(i, outcome, state.now()).map_err(refused)?;
                save(
                    state,
                    &ctx,
                    &stored,
                    &run,
                    "emergency.step.finished",
                    json!({"step": i, "kind": step_kind(&run, i), "error": failed}),
                )
                .await?;
            }
            RunStatus::RollingBack => {
                let Some(&i) = run.rollback_order().first() else {
                    return Ok(());
                };
                if run.steps.get(i).map(|s| s.status) == Some(StepStatus::Undoing) {
                    // Another drive is undoing it (a restart found none:
                    // recovery marks an interrupted undo unknown).
                    return Ok(());
                }
                // The undo's start is stored before anything is touched,
                // so a restart knows it may have taken effect and never
                // re-applies it by itself.
                run.begin_undo(i).map_err(refused)?;
                let stored = match save(
                    state,
                    &ctx,
                    &stored,
                    &run,
                    "emergency.step.undo_started",
                    json!({"step": i, "kind": step_kind(&run, i)}),
                )
                .await
                {
                    Ok(s) => s,
                    Err(ApiError::Conflict(_)) => return Ok(()),
                    Err(e) => return Err(e),
                };
                let error = match (ep.actions.get(i), run.steps.get(i)) {
                    (Some(action), Some(step)) => {
                        let note = action_note("rollback of ", &stored, i, action);
                        let x = exec::Exec {
                            state,
                            plan: &plan,
                            note: &note,
                            dry_run: false,
                        };
                        // As for an action: a shutdown leaves the undo
                        // `undoing` in the store, and the restart marks it
                        // `undo_unknown`.
                        tokio::select! {
                            done = x.undo(action, step) => done.err(),
                            () = state.shutting_down() => return Ok(()),
                        }
                    }
                    _ => Some(format!(
                        "plan version {} has no action {}",
                        stored.plan_version,
                        i + 1
                    )),
                };
                run.rolled_back(i, error.clone()).map_err(refused)?;
                let action = if run.status == RunStatus::RolledBack {
                    "emergency.run.rolled_back"
                } else {
                    "emergency.step.rolled_back"
                };
                save(
                    state,
                    &ctx,
                    &stored,
                    &run,
                    action,
                    json!({"step": i, "kind": step_kind(&run, i), "error": error}),
                )
                .await?;
            }
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// What a rule version's note and a message say an action is.
fn action_note(what: &str, stored: &Stored, i: usize, action: &Action) -> String {
    format!(
        "{what}emergency plan {} run {}, action {} ({})",
        stored.plan_id,
        stored.id,
        i + 1,
        action.kind()
    )
}

fn step_kind(run: &Run, i: usize) -> String {
    run.steps.get(i).map(|s| s.kind.clone()).unwrap_or_default()
}

/// What to check about an action (or its undo) a restart interrupted.
fn what_to_check(step: &Step) -> String {
    let target = step.target.as_deref().unwrap_or("?");
    if step.status == StepStatus::Undoing {
        return undo_to_check(step, target);
    }
    match step.kind.as_str() {
        "rate_limit" | "degrade" | "fallback" => format!(
            "the server stopped while this action ran: it may have stored a new guard rule \
             version for `{target}`; compare the service's latest rules (GET \
             /api/v1/guard/services/{{service}}/versions) with the action, then resume \
             or roll back"
        ),
        "notify" => format!(
            "the server stopped while this action ran: the message to channel `{target}` may \
             have been sent; look in the channel, then resume or roll back"
        ),
        kind => format!(
            "the server stopped while this action ran: check whether `{kind}` on `{target}` \
             took effect, then resume or roll back"
        ),
    }
}

/// What to check about an undo a restart interrupted: which system holds
/// the value, what the action captured before (what the undo restores) and
/// what it left; the commander resumes the rollback (the undo is applied
/// again) or marks it done (resume).
fn undo_to_check(step: &Step, target: &str) -> String {
    let shown = |v: &Option<Value>| {
        v.as_ref()
            .map_or_else(|| "nothing".to_owned(), Value::to_string)
    };
    let place = match step.kind.as_str() {
        "rate_limit" | "degrade" | "fallback" => format!(
            "the latest guard rules of the service of `{target}` (GET \
             /api/v1/guard/services/{{service}}/versions): a version with the note \
             \"rollback of …\" may have been stored"
        ),
        "scale" => format!(
            "the replicas of `{target}`'s deployment (kubectl get deployment, or the \
             scale subresource)"
        ),
        kind => format!("whether the undo of `{kind}` on `{target}` took effect"),
    };
    format!(
        "the server stopped while this action was being undone, and the undo is not applied \
         again by itself: check {place}; before the action: {}; after it: {}. If it holds the \
         value before, resume (marks the undo done); if it still holds the value after, roll \
         back (applies the undo again)",
        shown(&step.before),
        shown(&step.after)
    )
}

/// On start: every unfinished run whose action or undo was running is
/// marked unknown (with what to check) and waits for a commander; runs
/// that were running between actions, or rolling back between undos, are
/// driven on (nothing of theirs was in flight).
pub(crate) async fn recover(state: &AppState) -> Result<usize, ApiError> {
    let mut marked_runs = 0;
    for stored in state.store.unfinished_emergency_runs().await? {
        let mut run = decode(&stored)?;
        let marked = run.recover(what_to_check);
        if !marked.is_empty() {
            marked_runs += 1;
            tracing::warn!(run = stored.id, plan = %stored.plan_id, ?marked, "emergency run interrupted: actions marked unknown");
            save(
                state,
                &state.ctx(exec::DRIVER),
                &stored,
                &run,
                "emergency.run.recovered",
                json!({"unknown": marked}),
            )
            .await?;
        } else if matches!(run.status, RunStatus::Running | RunStatus::RollingBack) {
            spawn_drive(state, stored.id);
        }
    }
    Ok(marked_runs)
}

/// The background task of the evaluator: recover once when it starts
/// (a restart, or this replica just elected), then every [`PICK_UP`]
/// drive the runs that wait for no person (a decision taken through
/// another replica), until shutdown.
pub(crate) async fn run(state: AppState) {
    match recover(&state).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            runs = n,
            "emergency runs need a commander after the restart"
        ),
        Err(e) => tracing::error!("recovering emergency runs failed: {e}"),
    }
    let mut tick = tokio::time::interval(PICK_UP);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.shutting_down() => return,
        }
        match state.store.unfinished_emergency_runs().await {
            Ok(runs) => {
                for stored in runs {
                    let moving = [RunStatus::Running, RunStatus::RollingBack]
                        .iter()
                        .any(|s| s.as_str() == stored.status);
                    if moving && !state.monitor().leadership().is_driving(stored.id) {
                        spawn_drive(&state, stored.id);
                    }
                }
            }
            Err(e) => tracing::warn!("looking for emergency runs to drive failed: {e}"),
        }
    }
}

/// Alerts that fired start the emergency plans whose trigger names them
/// (`trigger: {alert: ID}`), requested by `trigger:<alert>`; a plan with an
/// unfinished run is not started again.
pub(crate) async fn on_transitions(
    state: &AppState,
    event: &Event,
    plan: &Plan,
    transitions: &[seawall_monitor::Transition],
) {
    for t in transitions {
        if t.change != seawall_monitor::alert::Change::Fired {
            continue;
        }
        for (id, ep) in &plan.emergency_plans {
            if !matches!(&ep.trigger, Some(Trigger::Alert(a)) if *a == t.rule) {
                continue;
            }
            let by = format!("trigger:{}", t.rule);
            match start_in(state, event, &by, id, false).await {
                Ok(r) => {
                    tracing::info!(event = %event.slug, plan = %id, run = r.id, alert = %t.rule, "emergency plan started by its alert")
                }
                Err(ApiError::Conflict(m)) => {
                    tracing::info!(event = %event.slug, plan = %id, "not started again: {m}")
                }
                Err(e) => {
                    tracing::warn!(event = %event.slug, plan = %id, "emergency plan not started by its alert: {e}")
                }
            }
        }
    }
}

/// After a monitoring tick: start the emergency plans whose metric trigger
/// has held for its `for` (once per episode), requested by
/// `trigger:<target>:<metric>`.
pub(crate) async fn on_readings(
    state: &AppState,
    event: &Event,
    plan: &Plan,
    live: &seawall_monitor::LiveView,
    now_ms: u64,
) {
    let value = |target: &str, metric: AlertMetric| {
        let row = [&live.entries, &live.services, &live.partners]
            .into_iter()
            .flatten()
            .find(|r| r.id == target)?;
        match metric {
            AlertMetric::WaterLevel => row.water_level,
            AlertMetric::Qps => row.qps,
            AlertMetric::P99Ms => row.p99_ms,
            AlertMetric::ErrorRate => row.error_rate,
            AlertMetric::Query => None,
        }
    };
    let due = state
        .emergency_holding()
        .due(state.store.as_ref(), event.id, plan, now_ms, value)
        .await;
    for id in due {
        let by = match plan
            .emergency_plans
            .get(&id)
            .and_then(|ep| ep.trigger.as_ref())
        {
            Some(Trigger::Metric { target, metric, .. }) => {
                format!("trigger:{target}:{}", metric.as_str())
            }
            _ => "trigger:metric".to_owned(),
        };
        match start_in(state, event, &by, &id, false).await {
            Ok(r) => {
                tracing::info!(event = %event.slug, plan = %id, run = r.id, "emergency plan started by its metric trigger")
            }
            Err(ApiError::Conflict(m)) => {
                tracing::info!(event = %event.slug, plan = %id, "not started again: {m}")
            }
            Err(e) => {
                tracing::warn!(event = %event.slug, plan = %id, "emergency plan not started by its metric trigger: {e}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use seawall_monitor::alert::{Change, Severity, Signal, State, Target};
    use seawall_monitor::sample::TargetKind;
    use seawall_store::{Ctx, NewEvent, NewPlanVersion};

    use super::*;

    const PLAN: &str = "\
event: {name: T, timezone: UTC}
people:
  lin-wei: {name: Lin Wei}
organization:
  guarantee_group: [lin-wei]
  business_lines:
    bike: {name: Bike, services: [order-api]}
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
  order-api: {line: bike, tier: frontend, instances: 2, capacity_per_instance: 10}
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
  limit-on-level:
    phase: during
    trigger: {target: create-order, metric: water_level, above: 0.85, for: 30s}
    actions:
      - {kind: rate_limit, entry: create-order, qps: 6}
    owner: lin-wei
    expected_minutes: 2
";

    fn fired(rule: &str, change: Change) -> seawall_monitor::Transition {
        seawall_monitor::Transition {
            rule: rule.into(),
            target: Target::new(TargetKind::Entry, "create-order"),
            signal: Signal::WaterLevel,
            severity: Severity::Critical,
            change,
            state: State::Firing {
                since_ms: 1,
                fired_ms: 1,
            },
            at_ms: 1,
            value: 0.95,
            threshold: 0.9,
            inhibited_by: None,
        }
    }

    /// A state on a fresh SQLite store with event `d11` and [`PLAN`].
    async fn with_plan() -> (tempfile::TempDir, AppState, Event) {
        let dir = tempfile::tempdir().expect("dir");
        let store = seawall_store::open(&seawall_store::StoreSpec::Sqlite(dir.path().join("s.db")))
            .await
            .expect("store");
        let state = AppState::new(store, dir.path());
        let ctx = Ctx::new("ana", 1);
        let event = state
            .store
            .create_event(
                &ctx,
                &NewEvent {
                    slug: "d11".into(),
                    name: "D11".into(),
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
        (dir, state, event)
    }

    #[tokio::test]
    async fn a_firing_alert_starts_the_plans_it_triggers_once() {
        let (_dir, state, event) = with_plan().await;
        let plan = seawall_plan::parse(PLAN, "plan.yaml").expect("the plan parses");
        // Pending, resolved and other alerts start nothing.
        on_transitions(
            &state,
            &event,
            &plan,
            &[
                fired("orders-hot", Change::Pending),
                fired("other", Change::Fired),
            ],
        )
        .await;
        assert!(
            state
                .store
                .emergency_runs(event.id)
                .await
                .expect("runs")
                .is_empty()
        );
        // Firing: one run, requested by the trigger, waiting for approval;
        // firing again while it is unfinished starts no second one.
        for _ in 0..2 {
            on_transitions(&state, &event, &plan, &[fired("orders-hot", Change::Fired)]).await;
        }
        let runs = state.store.emergency_runs(event.id).await.expect("runs");
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].plan_id, "limit-orders");
        assert_eq!(runs[0].requested_by, "trigger:orders-hot");
        assert_eq!(runs[0].status, "awaiting_approval");
    }

    /// Two replicas on one store: a run started through the standby is
    /// not driven there; the evaluator drives it when it starts (its
    /// recovery), and one started through the standby while it runs is
    /// picked up within a second.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_started_through_a_standby_is_driven_by_the_evaluator() {
        let (dir, leader, _event) = with_plan().await;
        let standby = AppState::new(std::sync::Arc::clone(&leader.store), dir.path());
        standby.monitor().leadership().start_election();
        // The step's outcome is the action's (this store has no rules for
        // the service, so the dry run's rate limit fails): what matters is
        // who drives the run to a final status.
        let finished = |id: i64| {
            let store = std::sync::Arc::clone(&leader.store);
            async move {
                for _ in 0..50 {
                    let stored = store.emergency_run(id).await.expect("read").expect("run");
                    if stored.finished {
                        return Some(stored.status);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                None
            }
        };

        let first = start(&standby, "ana", "d11", "limit-on-level", true)
            .await
            .expect("a dry run starts through the standby");
        assert_eq!(first.status, "running");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let stored = leader
            .store
            .emergency_run(first.id)
            .await
            .expect("read")
            .expect("run");
        assert_eq!(stored.status, "running", "the standby drives nothing");
        assert_eq!(
            decode(&stored).expect("decode").steps[0].status,
            StepStatus::Pending
        );

        let evaluator = tokio::spawn(run(leader.clone()));
        let status = finished(first.id).await;
        assert!(
            matches!(status.as_deref(), Some("succeeded" | "failed")),
            "driven by the evaluator's recovery within 5 s: {status:?}"
        );
        let second = start(&standby, "ana", "d11", "limit-on-level", true)
            .await
            .expect("a second dry run through the standby");
        let status = finished(second.id).await;
        assert!(
            matches!(status.as_deref(), Some("succeeded" | "failed")),
            "picked up by the running evaluator within 5 s: {status:?}"
        );
        evaluator.abort();
    }

    /// A run stored by a server that stopped in the middle of undoing its
    /// rate limit: recovery marks the undo `undo_unknown` with the
    /// captured values and where to look, stores no rule version (nothing
    /// is re-applied) and leaves the run to a commander.
    #[tokio::test]
    async fn a_restart_mid_undo_marks_it_unknown_and_reapplies_nothing() {
        let (_dir, state, event) = with_plan().await;
        let ctx = Ctx::new("ana", 1);
        let mut run = Run::new(
            "limit-on-level",
            "ana",
            1,
            false,
            Approval::None,
            [(
                "rate_limit".to_owned(),
                Some("create-order".to_owned()),
                true,
            )],
            Some(2.0),
        );
        run.start(0, 2).expect("start");
        let before =
            json!({"service": "order-api", "version": 4, "rule": "create-order.qps", "qps": 20.0});
        let after =
            json!({"service": "order-api", "version": 5, "rule": "create-order.qps", "qps": 6.0});
        let done = Outcome::Done {
            before: Some(before.clone()),
            after: Some(after),
        };
        run.finish(0, done, 3).expect("finish");
        run.begin_rollback().expect("rollback");
        run.begin_undo(0).expect("undo started");
        let stored = state
            .store
            .create_emergency_run(
                &ctx,
                event.id,
                &NewEmergencyRun {
                    plan_id: "limit-on-level".into(),
                    plan_version: 1,
                    status: run.status.as_str().into(),
                    finished: false,
                    state: serde_json::to_string(&run).expect("state"),
                    requested_by: "ana".into(),
                },
            )
            .await
            .expect("stored");
        assert_eq!(stored.status, "rolling_back");

        assert_eq!(recover(&state).await.expect("recover"), 1);
        // Nothing is driven: a drive now, or later, finds a run waiting.
        drive(&state, stored.id).await.expect("drive");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let after_restart = state
            .store
            .emergency_run(stored.id)
            .await
            .expect("read")
            .expect("run");
        assert_eq!(after_restart.status, "needs_attention");
        let back = decode(&after_restart).expect("decode");
        assert_eq!(back.steps[0].status, StepStatus::UndoUnknown);
        assert_eq!(back.steps[0].before, Some(before));
        let check = back.steps[0].error.as_deref().unwrap_or("");
        for part in [
            "being undone",
            "guard rules",
            "create-order",
            "\"qps\":20.0",
            "\"qps\":6.0",
            "resume",
            "roll back",
        ] {
            assert!(check.contains(part), "{part} in {check}");
        }
        assert!(
            state
                .store
                .rule_history("order-api")
                .await
                .expect("history")
                .is_empty(),
            "no rule version stored: the undo was not re-applied"
        );
        let audit: Vec<String> = state
            .store
            .audit(0, 100)
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert!(
            audit.iter().any(|a| a == "emergency.run.recovered"),
            "{audit:?}"
        );
        assert!(
            !audit.iter().any(|a| a == "emergency.step.rolled_back"),
            "{audit:?}"
        );
        // A second start recovers nothing more.
        assert_eq!(recover(&state).await.expect("recover"), 0);
    }

    fn level(v: f64) -> impl Fn(&str, AlertMetric) -> Option<f64> {
        move |t: &str, m: AlertMetric| {
            (t == "create-order" && m == AlertMetric::WaterLevel).then_some(v)
        }
    }

    /// A `notify` action's channel whose name resolves to loopback now
    /// (plan check saw only the name: what DNS rebinding does) is refused
    /// before connecting, as the pager's channels are.
    #[tokio::test]
    async fn a_notify_action_to_a_name_resolving_to_loopback_is_refused_before_connecting() {
        let (_dir, state, _event) = with_plan().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut plan = seawall_plan::parse(PLAN, "plan.yaml").expect("the plan parses");
        plan.oncall.channels.push(seawall_plan::model::Channel {
            id: "war-room".into(),
            kind: "wecom".into(),
            group: None,
            webhook: Some(format!(
                "http://localhost:{port}/cgi-bin/webhook/send?key=k"
            )),
            secret_env: None,
            at: plan.event.at.clone(),
        });
        let x = exec::Exec {
            state: &state,
            plan: &plan,
            note: "test",
            dry_run: false,
        };
        let outcome = x
            .perform(&seawall_plan::model::Action::Notify {
                channel: "war-room".into(),
                message: Some("hello".into()),
            })
            .await;
        match &outcome {
            Outcome::Failed { error } => assert!(error.contains("loopback"), "{error}"),
            other => panic!("a loopback channel must be refused: {other:?}"),
        }
        let accepted =
            tokio::time::timeout(std::time::Duration::from_millis(200), listener.accept()).await;
        assert!(
            accepted.is_err(),
            "nothing may connect to the loopback receiver"
        );
    }

    #[tokio::test]
    async fn a_metric_trigger_starts_once_per_episode_after_its_for() {
        let (_dir, state, event) = with_plan().await;
        let s = state.store.as_ref();
        let e = event.id;
        let plan = seawall_plan::parse(PLAN, "plan.yaml").expect("the plan parses");
        let h = Holding::default();
        assert!(
            h.due(s, e, &plan, 0, level(0.9)).await.is_empty(),
            "starts holding"
        );
        assert!(h.due(s, e, &plan, 29_999, level(0.9)).await.is_empty());
        assert_eq!(
            h.due(s, e, &plan, 30_000, level(0.9)).await,
            ["limit-on-level"]
        );
        assert!(
            h.due(s, e, &plan, 60_000, level(0.9)).await.is_empty(),
            "once an episode"
        );
        assert!(
            h.due(s, e, &plan, 61_000, level(0.85)).await.is_empty(),
            "not above: ends"
        );
        assert!(
            h.due(s, e, &plan, 62_000, level(0.9)).await.is_empty(),
            "a new one waits"
        );
        assert_eq!(
            h.due(s, e, &plan, 92_000, level(0.9)).await,
            ["limit-on-level"]
        );
        assert!(
            h.due(s, e + 1, &plan, 0, |_, _| None).await.is_empty(),
            "no reading"
        );
        assert!(h.due(s, e + 1, &plan, 90_000, |_, _| None).await.is_empty());
    }

    /// Two control planes on one SQLite file, each with its own memory (a
    /// restart is a new one): a restart in the middle of the `for` window
    /// keeps the episode's start, and the episode fires once in all.
    #[tokio::test]
    async fn a_restart_mid_for_keeps_the_episode_and_it_fires_once() {
        let (dir, state, event) = with_plan().await;
        let first = state.store.as_ref();
        let e = event.id;
        let plan = seawall_plan::parse(PLAN, "plan.yaml").expect("the plan parses");
        let before = Holding::default();
        assert!(before.due(first, e, &plan, 0, level(0.9)).await.is_empty());
        assert!(
            before
                .due(first, e, &plan, 20_000, level(0.9))
                .await
                .is_empty()
        );
        // The restarted server: its own store handle and an empty memory.
        let reopened =
            seawall_store::open(&seawall_store::StoreSpec::Sqlite(dir.path().join("s.db")))
                .await
                .expect("the same file");
        let after = Holding::default();
        assert_eq!(
            after
                .due(reopened.as_ref(), e, &plan, 30_000, level(0.9))
                .await,
            ["limit-on-level"],
            "30 s after the episode began, not 30 s after the restart"
        );
        assert!(
            before
                .due(first, e, &plan, 31_000, level(0.9))
                .await
                .is_empty(),
            "the other server does not fire it again"
        );
        let again = Holding::default();
        assert!(
            again
                .due(reopened.as_ref(), e, &plan, 45_000, level(0.9))
                .await
                .is_empty(),
            "nor does a second restart"
        );
        // The condition ends; a new episode is judged from its own start,
        // by whichever server sees it.
        assert!(
            after
                .due(reopened.as_ref(), e, &plan, 46_000, level(0.5))
                .await
                .is_empty()
        );
        assert!(
            again
                .due(reopened.as_ref(), e, &plan, 47_000, level(0.9))
                .await
                .is_empty()
        );
        assert!(
            before
                .due(first, e, &plan, 76_999, level(0.9))
                .await
                .is_empty()
        );
        assert_eq!(
            before.due(first, e, &plan, 77_000, level(0.9)).await,
            ["limit-on-level"]
        );
        assert!(
            again
                .due(reopened.as_ref(), e, &plan, 78_000, level(0.9))
                .await
                .is_empty()
        );
    }
}
