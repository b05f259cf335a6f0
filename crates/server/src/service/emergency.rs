//! Emergency plans that execute: a run of an event's emergency plan,
//! started by hand or by its alert, approved by commanders, driven one
//! action at a time by a background task, rolled back in reverse, and
//! recovered after a restart (`docs/respond.md#emergency-plans-that-execute`).
//!
//! Why here: the rules of a run (approvals, one action at a time, dry run,
//! rollback order, what a restart found) are `seawall_respond::run::Run`'s;
//! this module only stores its state before and after every transition
//! (the store refuses an update from a stale read) and performs the
//! actions through the control plane's real interfaces — guard rule
//! versions for `rate_limit`, `degrade` and `fallback` (sidecars follow them
//! through the long poll, woken by [`AppState::notify_change`]), and
//! seawall-notify for `notify`. An action's start is stored before the
//! executor touches anything, so a restart knows it may have.
//!
//! Rule changes are targeted: an action changes one flow limit or switch
//! in the service's latest rules and stores a new version (source
//! `emergency`); its rollback restores that one value in the then-latest
//! rules as another new version, so history is never rewritten and a
//! commander's unrelated adjustment in between survives.

use std::sync::Arc;

pub use seawall_api::emergency::{EmergencyRun, EmergencyRunList, RunApproval, RunStep, StartRun};
use seawall_guard::RuleSet;
use seawall_guard::rules::{Grade, OriginMatch};
use seawall_plan::Plan;
use seawall_plan::model::{Action, AlertMetric, EmergencyPlan, Trigger};

pub use crate::service::triggers::Holding;
use seawall_respond::run::{Approval, Outcome, Run, RunError, RunStatus, Step, StepStatus};
use seawall_store::{
    Ctx, EmergencyRun as Stored, EmergencyRunUpdate, Event, NewEmergencyRun, NewRuleVersion,
    RuleSource, StoreError,
};
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::service::{events, plans, rules};
use crate::state::AppState;

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
        Action::Webhook { url, .. } => (Some(redact(url).to_owned()), false),
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
    let name = |v: &dyn erased::Named| v.name();
    EmergencyRun {
        id: stored.id,
        plan_id: stored.plan_id.clone(),
        plan_version: stored.plan_version,
        version: stored.version,
        status: run.status.as_str().to_owned(),
        dry_run: run.dry_run,
        requested_by: run.requested_by.clone(),
        requested_ms: run.requested_ms,
        approval: name(&run.approval),
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
                status: name(&s.status),
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

/// Snake-case names of the run's enums, as serde writes them.
mod erased {
    pub(super) trait Named {
        fn name(&self) -> String;
    }
    impl<T: serde::Serialize> Named for T {
        fn name(&self) -> String {
            match serde_json::to_value(self) {
                Ok(serde_json::Value::String(s)) => s,
                Ok(other) => other.to_string(),
                Err(_) => String::new(),
            }
        }
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
    Ok(state
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
        .await?)
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
    spawn_drive(state, stored.id);
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

fn spawn_drive(state: &AppState, id: i64) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = drive(&state, id).await {
            tracing::warn!(run = id, "emergency run stopped: {e}");
        }
    });
}

/// The actor recorded for what the driver does.
const DRIVER: &str = "emergency-runner";

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
        let ctx = state.ctx(DRIVER);
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
                        let x = Exec {
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
                let error = match (ep.actions.get(i), run.steps.get(i)) {
                    (Some(action), Some(step)) => {
                        let note = action_note("rollback of ", &stored, i, action);
                        let x = Exec {
                            state,
                            plan: &plan,
                            note: &note,
                            dry_run: false,
                        };
                        x.undo(action, step).await.err()
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

/// What to check about an action a restart interrupted.
fn what_to_check(step: &Step) -> String {
    let target = step.target.as_deref().unwrap_or("?");
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

/// On start: every unfinished run whose action was running is marked
/// unknown (with what to check) and waits for a commander; runs that were
/// running between actions, or rolling back, are driven on.
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
                &state.ctx(DRIVER),
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

/// The background task: recover once at start.
pub(crate) async fn run(state: AppState) {
    match recover(&state).await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(
            runs = n,
            "emergency runs need a commander after the restart"
        ),
        Err(e) => tracing::error!("recovering emergency runs failed: {e}"),
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
    for id in state.emergency_holding().due(event.id, plan, now_ms, value) {
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

/// One action's executor context. A dry run computes the effect (the
/// before and after it would write) and changes nothing.
struct Exec<'a> {
    state: &'a AppState,
    plan: &'a Plan,
    note: &'a str,
    dry_run: bool,
}

impl Exec<'_> {
    async fn perform(&self, action: &Action) -> Outcome {
        let done = match action {
            Action::RateLimit { entry, qps } => self.rate_limit(entry, *qps).await,
            Action::Degrade { service, switch } => self.degrade(service, switch).await,
            Action::Fallback { target } => self.fallback(target).await,
            Action::Notify { channel, message } => self.notify(channel, message.as_deref()).await,
            Action::Scale { service, instances } => self.scale(service, *instances).await,
            Action::CacheWarmup { urls, rate, .. } => self.cache_warmup(urls, *rate).await,
            Action::Webhook {
                url,
                method,
                body,
                secret_env,
                timeout_seconds,
                retries,
            } => {
                let call = WebhookCall {
                    url,
                    method,
                    body: body.as_deref(),
                    secret_env: secret_env.as_deref(),
                    timeout_seconds: *timeout_seconds,
                    retries: *retries,
                };
                self.webhook(&call).await
            }
        };
        match done {
            Ok((before, after)) => Outcome::Done {
                before: Some(before),
                after: Some(after),
            },
            Err(error) => Outcome::Failed { error },
        }
    }

    async fn undo(&self, action: &Action, step: &Step) -> Result<(), String> {
        let Some(before) = step
            .before
            .as_ref()
            .filter(|_| step.status == StepStatus::Succeeded)
        else {
            return Err(format!(
                "nothing was captured for this action (it is {}): check `{}` by hand",
                erased::Named::name(&step.status),
                step.target.as_deref().unwrap_or("?")
            ));
        };
        match action {
            Action::RateLimit { .. } => {
                let service = text(before, "service")?;
                let rule = text(before, "rule")?;
                let qps = before.get("qps").and_then(Value::as_f64);
                self.change(&service, |rules| set_flow(rules, &rule, qps))
                    .await
                    .map(|_| ())
            }
            Action::Degrade { .. } | Action::Fallback { .. } => {
                let list = before
                    .get("switches")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for s in list.iter().rev() {
                    let service = text(s, "service")?;
                    let switch = text(s, "switch")?;
                    let on = s.get("on").and_then(Value::as_bool);
                    self.change(&service, |rules| set_switch(rules, &switch, on))
                        .await?;
                }
                Ok(())
            }
            Action::Scale { service, .. } => {
                let replicas = before
                    .get("replicas")
                    .and_then(Value::as_i64)
                    .and_then(|r| u32::try_from(r).ok())
                    .ok_or("the captured state has no `replicas`")?;
                self.scale(service, replicas).await.map(|_| ())
            }
            other => Err(format!("`{}` cannot be undone", other.kind())),
        }
    }

    /// The latest rules of `service` changed by `edit`, stored as a new
    /// version unless this is a dry run: (version before, version after —
    /// `None` for a dry run).
    async fn change(
        &self,
        service: &str,
        edit: impl FnOnce(&mut RuleSet) -> Result<(), String>,
    ) -> Result<(i64, Option<i64>), String> {
        let latest = self
            .state
            .store
            .rules(service, None)
            .await
            .map_err(|e| format!("reading `{service}`'s rules: {e}"))?
            .ok_or_else(|| {
                format!(
                    "service `{service}` has no guard rules yet; derive them first (seawall rules \
                     derive) so its sidecars follow the control plane"
                )
            })?;
        let mut rules = RuleSet::from_json(&latest.document)
            .map_err(|e| format!("`{service}`'s rules v{} are not valid: {e}", latest.version))?;
        edit(&mut rules)
            .map_err(|e| format!("{e} (in `{service}`'s rules v{})", latest.version))?;
        rules
            .validate()
            .map_err(|e| format!("the changed rules of `{service}` are not valid: {e}"))?;
        if self.dry_run {
            return Ok((latest.version, None));
        }
        let document = rules::document(rules).map_err(|e| e.to_string())?;
        let stored = self
            .state
            .store
            .put_rules(
                &self.state.ctx(DRIVER),
                &NewRuleVersion {
                    service: service.to_owned(),
                    document,
                    source: RuleSource::Emergency,
                    plan_version: None,
                    note: self.note.to_owned(),
                },
            )
            .await
            .map_err(|e: StoreError| format!("storing `{service}`'s rules: {e}"))?;
        self.state.notify_change();
        Ok((latest.version, Some(stored.version)))
    }

    async fn rate_limit(&self, entry: &str, qps: f64) -> Result<(Value, Value), String> {
        let service = self
            .plan
            .entries
            .get(entry)
            .map(|e| e.service.clone())
            .ok_or_else(|| format!("`{entry}` is not an entry of the plan"))?;
        if !(qps.is_finite() && qps >= 0.0) {
            return Err(format!("qps {qps} is not a limit (give a number ≥ 0)"));
        }
        let mut found: Option<(String, Option<f64>)> = None;
        let (was, now) = self
            .change(&service, |rules| {
                let r = rules
                    .resources
                    .iter_mut()
                    .find(|r| r.name == entry)
                    .ok_or_else(|| format!("no resource `{entry}`"))?;
                let flow = r.flow.iter_mut().find(|f| {
                    f.grade == Grade::Qps && f.origin == OriginMatch::Default && !f.per_origin
                });
                match flow {
                    Some(f) => {
                        found = Some((f.id.clone(), Some(f.count)));
                        f.count = qps;
                    }
                    None => {
                        let id = format!("{entry}.emergency-qps");
                        let rule = serde_json::from_value(json!({"id": id, "count": qps}))
                            .map_err(|e| format!("a flow rule: {e}"))?;
                        r.flow.push(rule);
                        found = Some((id, None));
                    }
                }
                Ok(())
            })
            .await?;
        let (rule, old) = found.unwrap_or_default();
        Ok((
            json!({"service": service, "version": was, "rule": rule, "qps": old}),
            json!({"service": service, "version": now, "rule": rule, "qps": qps}),
        ))
    }

    async fn degrade(&self, service: &str, switch: &str) -> Result<(Value, Value), String> {
        if !self.plan.services.contains_key(service) {
            return Err(format!("`{service}` is not a service of the plan"));
        }
        let mut id = String::new();
        let mut old = None;
        let (was, now) = self
            .change(service, |rules| {
                let mut names = Vec::new();
                for r in &mut rules.resources {
                    for s in &mut r.switches {
                        if s.id == switch
                            || s.id == format!("{switch}.degrade")
                            || (r.name == switch && id.is_empty())
                        {
                            id = s.id.clone();
                            old = Some(s.on);
                            s.on = true;
                            return Ok(());
                        }
                        names.push(s.id.clone());
                    }
                }
                Err(format!(
                    "no switch `{switch}` (switches: {})",
                    if names.is_empty() {
                        "none".to_owned()
                    } else {
                        names.join(", ")
                    }
                ))
            })
            .await?;
        let one = |version: Option<i64>, on: Option<bool>| json!({"switches": [{"service": service, "version": version, "switch": id, "on": on}]});
        Ok((one(Some(was), old), one(now, Some(true))))
    }

    async fn fallback(&self, target: &str) -> Result<(Value, Value), String> {
        let callers: Vec<String> = self
            .plan
            .services
            .iter()
            .filter(|(_, s)| s.dependencies.iter().any(|d| d.to == target))
            .map(|(id, _)| id.clone())
            .collect();
        if callers.is_empty() {
            return Err(format!("no service of the plan depends on `{target}`"));
        }
        let (mut before, mut after) = (Vec::new(), Vec::new());
        for caller in callers {
            let resource = format!("{caller}->{target}");
            let mut id = String::new();
            let mut old = None;
            let done = self
                .change(&caller, |rules| {
                    let r = match rules.resources.iter_mut().position(|r| r.name == resource) {
                        Some(i) => rules.resources.get_mut(i),
                        None => {
                            let r = serde_json::from_value(json!({"name": resource}))
                                .map_err(|e| format!("a resource: {e}"))?;
                            rules.resources.push(r);
                            rules.resources.last_mut()
                        }
                    }
                    .ok_or("no resource")?;
                    if let Some(s) = r.switches.iter_mut().find(|s| s.id.ends_with(".degrade")) {
                        id = s.id.clone();
                        old = Some(s.on);
                        s.on = true;
                    } else {
                        id = format!("{resource}.fallback");
                        let s = serde_json::from_value(json!({"id": id, "on": true}))
                            .map_err(|e| format!("a switch: {e}"))?;
                        r.switches.push(s);
                    }
                    Ok(())
                })
                .await;
            let (was, now) = match done {
                Ok(v) => v,
                Err(e) => {
                    // Undo what this action changed for earlier callers.
                    if !self.dry_run {
                        let partial = json!({"switches": before});
                        let step = Step {
                            kind: "fallback".into(),
                            target: Some(target.to_owned()),
                            status: StepStatus::Succeeded,
                            started_ms: None,
                            ended_ms: None,
                            before: Some(partial),
                            after: None,
                            error: None,
                            reversible: true,
                        };
                        let action = Action::Fallback {
                            target: target.to_owned(),
                        };
                        if let Err(u) = self.undo(&action, &step).await {
                            return Err(format!(
                                "{e}; undoing the callers done so far failed: {u}"
                            ));
                        }
                    }
                    return Err(e);
                }
            };
            before.push(json!({"service": caller, "version": was, "switch": id, "on": old}));
            after.push(json!({"service": caller, "version": now, "switch": id, "on": true}));
        }
        Ok((json!({"switches": before}), json!({"switches": after})))
    }

    async fn notify(&self, channel: &str, message: Option<&str>) -> Result<(Value, Value), String> {
        let ch = self
            .plan
            .oncall
            .channels
            .iter()
            .find(|c| c.id == channel)
            .ok_or_else(|| format!("`{channel}` is not a channel of the plan's oncall"))?;
        let text = message.unwrap_or("An emergency plan is running").to_owned();
        let before = json!({"channel": channel});
        if self.dry_run {
            return Ok((before, json!({"channel": channel, "would_send": text})));
        }
        let resolved = seawall_notify::Channel::from_plan(ch, &|name| std::env::var(name).ok())
            .map_err(|e| format!("channel `{channel}`: {e}"))?;
        let msg = seawall_notify::Message::new(
            seawall_notify::Severity::Page,
            format!("Emergency plan: {}", self.note),
            text.clone(),
        );
        let sender = seawall_notify::Sender::new(seawall_notify::RetryPolicy::default());
        let delivery = sender
            .send(&resolved, &msg)
            .await
            .map_err(|e| format!("channel `{channel}`: {e}"))?;
        Ok((
            before,
            json!({"channel": channel, "sent": text, "attempts": delivery.attempts}),
        ))
    }
}

/// How long a `scale` waits for `status.replicas` to reach the target.
const SCALE_WAIT: std::time::Duration = std::time::Duration::from_secs(300);
/// How often it reads the deployment's scale while waiting.
const SCALE_POLL: std::time::Duration = std::time::Duration::from_millis(500);

impl Exec<'_> {
    /// Scale `service`'s deployment (the plan's `services.<id>.kubernetes`)
    /// to `instances` through the scale subresource and wait for it; a dry
    /// run reads the replicas and changes nothing.
    async fn scale(&self, service: &str, instances: u32) -> Result<(Value, Value), String> {
        let k = self
            .plan
            .services
            .get(service)
            .ok_or_else(|| format!("`{service}` is not a service of the plan"))?
            .kubernetes
            .as_ref()
            .ok_or_else(|| {
                format!(
                    "service `{service}` names no deployment: give services.{service}.kubernetes \
                     {{namespace, deployment}} in the plan"
                )
            })?;
        let kube = self.state.kube().ok_or_else(|| {
            "not configured: this server has no Kubernetes connection; start seawall serve with \
             --kubeconfig PATH or --kube-in-cluster"
                .to_owned()
        })?;
        let (ns, dep) = (k.namespace.as_str(), k.deployment.as_str());
        let target = i32::try_from(instances)
            .map_err(|_| format!("{instances} replicas is more than Kubernetes takes"))?;
        let at = |replicas: i32| json!({"namespace": ns, "deployment": dep, "replicas": replicas});
        if self.dry_run {
            let now = kube
                .get_scale(ns, dep)
                .await
                .map_err(|e| format!("reading {ns}/{dep}: {e}"))?;
            let mut after = at(target);
            after["no_op"] = json!(now.spec.replicas == target);
            return Ok((at(now.spec.replicas), after));
        }
        let out = kube
            .scale(ns, dep, target, SCALE_WAIT, SCALE_POLL)
            .await
            .map_err(|e| format!("scaling {ns}/{dep}: {e}"))?;
        if !out.converged {
            return Err(format!(
                "{ns}/{dep} was set from {} to {target} replicas, but status.replicas is {} after \
                 {:.0?}{}: check the deployment (it is not scaled back)",
                out.before,
                out.after,
                out.elapsed,
                out.wait_error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
        let mut after = at(out.after);
        after["no_op"] = json!(out.no_op);
        after["seconds"] = json!(out.elapsed.as_secs_f64());
        Ok((at(out.before), after))
    }
}

/// A `webhook` action's fields.
struct WebhookCall<'a> {
    url: &'a str,
    method: &'a str,
    body: Option<&'a str>,
    secret_env: Option<&'a str>,
    timeout_seconds: f64,
    retries: u32,
}

/// The header that tags a cache warm-up request with its run.
pub const WARMUP_HEADER: &str = "x-seawall-warmup";

impl Exec<'_> {
    /// Refuses a URL whose host is, or resolves to, a loopback,
    /// link-local or metadata address the plan's `emergency.allow_hosts`
    /// does not list (plan check refused the written host already; this
    /// checks every address the name resolves to now, before connecting).
    async fn check_host(&self, url: &str) -> Result<(), String> {
        use seawall_plan::outbound::{self, Host};
        let shown = redact(url);
        let host = outbound::url_host(url).map_err(|e| format!("{shown}: {e}"))?;
        let allow: Vec<outbound::Allow> = self
            .plan
            .emergency
            .allow_hosts
            .iter()
            .filter_map(|a| outbound::parse_allow(a).ok())
            .collect();
        let judge = |h: &Host| match outbound::refused(h) {
            Some(why) if !outbound::allowed(h, &allow) => Err(format!(
                "{shown}: its host is {why} ({h:?}); list it in emergency.allow_hosts if this \
                 is meant"
            )),
            _ => Ok(()),
        };
        judge(&host)?;
        if let Host::Name(name) = &host
            && !outbound::allowed(&host, &allow)
        {
            let found = tokio::net::lookup_host((name.as_str(), 0))
                .await
                .map_err(|e| format!("{shown}: cannot resolve `{name}`: {e}"))?;
            for addr in found {
                judge(&Host::Ip(addr.ip()))?;
            }
        }
        Ok(())
    }

    /// GETs of `urls`, `rate` a second at most, each tagged with
    /// [`WARMUP_HEADER`]; every one must answer 2xx.
    async fn cache_warmup(&self, urls: &[String], rate: f64) -> Result<(Value, Value), String> {
        if !(rate.is_finite() && rate > 0.0) {
            return Err(format!(
                "rate {rate} is not a rate (give requests per second > 0)"
            ));
        }
        let shown: Vec<&str> = urls.iter().map(|u| redact(u)).collect();
        let before = json!({"urls": shown, "rate": rate});
        for url in urls {
            self.check_host(url).await?;
        }
        if self.dry_run {
            return Ok((before, json!({"would_fetch": urls.len(), "rate": rate})));
        }
        let gap = std::time::Duration::from_secs_f64(1.0 / rate.min(1000.0));
        let mut next = tokio::time::Instant::now();
        let mut failed = Vec::new();
        for (url, shown) in urls.iter().zip(&shown) {
            tokio::time::sleep_until(next).await;
            next += gap;
            let answer = match split_url(url) {
                None => Err("not an http(s) URL with a host".to_owned()),
                Some((base, path)) => match seawall_api::Client::new(&base) {
                    Err(e) => Err(e.to_string()),
                    Ok(client) => client
                        .with_timeout(std::time::Duration::from_secs(10))
                        .send_raw(
                            http::Method::GET,
                            &path,
                            &[(
                                http::HeaderName::from_static(WARMUP_HEADER),
                                self.note.to_owned(),
                            )],
                            bytes::Bytes::new(),
                        )
                        .await
                        .map_err(|e| e.to_string())
                        .and_then(|r| {
                            if r.status.is_success() {
                                Ok(())
                            } else {
                                Err(format!("answered {}", r.status))
                            }
                        }),
                },
            };
            if let Err(e) = answer {
                failed.push(format!("{shown}: {e}"));
            }
        }
        if !failed.is_empty() {
            return Err(format!(
                "{} of {} warm-up requests failed: {}",
                failed.len(),
                urls.len(),
                failed.join("; ")
            ));
        }
        Ok((before, json!({"fetched": urls.len(), "rate": rate})))
    }

    /// A signed POST (Seawall's webhook: `X-Seawall-Signature`, the body
    /// in the message's text) with the action's timeout and retries.
    async fn webhook(&self, call: &WebhookCall<'_>) -> Result<(Value, Value), String> {
        let shown = redact(call.url);
        if !call.method.eq_ignore_ascii_case("POST") {
            return Err(format!(
                "webhook {shown}: only POST is supported (the request is signed), not {}",
                call.method
            ));
        }
        let secret_env = call.secret_env.ok_or_else(|| {
            format!("webhook {shown}: give `secret_env` (its requests are signed with it)")
        })?;
        self.check_host(call.url).await?;
        let text = call.body.unwrap_or("").to_owned();
        let before = json!({"url": shown});
        if self.dry_run {
            return Ok((before, json!({"url": shown, "would_send": text})));
        }
        let channel = seawall_plan::model::Channel {
            id: "webhook".to_owned(),
            kind: "webhook".to_owned(),
            webhook: Some(call.url.to_owned()),
            secret_env: Some(secret_env.to_owned()),
            ..Default::default()
        };
        let resolved =
            seawall_notify::Channel::from_plan(&channel, &|name| std::env::var(name).ok())
                .map_err(|e| format!("webhook {shown}: {e}"))?;
        let policy = seawall_notify::RetryPolicy {
            attempts: call.retries.saturating_add(1),
            timeout: std::time::Duration::from_secs_f64(call.timeout_seconds.clamp(0.1, 300.0)),
            ..Default::default()
        };
        let msg = seawall_notify::Message::new(
            seawall_notify::Severity::Page,
            format!("Emergency plan: {}", self.note),
            text.clone(),
        );
        let delivery = seawall_notify::Sender::new(policy)
            .send(&resolved, &msg)
            .await
            .map_err(|e| format!("webhook {shown}: {e}"))?;
        Ok((
            before,
            json!({"url": shown, "sent": text, "attempts": delivery.attempts}),
        ))
    }
}

/// `scheme://authority` and the path (with its query) of an http(s) URL.
fn split_url(url: &str) -> Option<(String, String)> {
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri
        .scheme_str()
        .filter(|s| matches!(*s, "http" | "https"))?;
    let authority = uri.authority()?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Some((format!("{scheme}://{authority}"), path.to_owned()))
}

fn text(v: &Value, key: &str) -> Result<String, String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| format!("the captured state has no `{key}`"))
}

/// Set flow rule `rule`'s limit back to `qps`, or remove it (`None`: the
/// action added it).
fn set_flow(rules: &mut RuleSet, rule: &str, qps: Option<f64>) -> Result<(), String> {
    let lists = rules.resources.iter_mut().map(|r| &mut r.flow);
    restore(lists, rule, |f| &f.id, qps, |f, q| f.count = q)
        .ok_or_else(|| format!("flow rule `{rule}` is gone"))
}

/// Set switch `id` back to `on`, or remove it (`None`: the action added it).
fn set_switch(rules: &mut RuleSet, id: &str, on: Option<bool>) -> Result<(), String> {
    let lists = rules.resources.iter_mut().map(|r| &mut r.switches);
    restore(lists, id, |s| &s.id, on, |s, on| s.on = on)
        .ok_or_else(|| format!("switch `{id}` is gone"))
}

/// The rule with id `id` in one of `lists`: `set` to `value`, or removed
/// when there is none. `None` when no list has it.
fn restore<'a, T: 'a, V>(
    lists: impl Iterator<Item = &'a mut Vec<T>>,
    id: &str,
    id_of: impl Fn(&T) -> &str,
    value: Option<V>,
    set: impl FnOnce(&mut T, V),
) -> Option<()> {
    for list in lists {
        if let Some(i) = list.iter().position(|x| id_of(x) == id) {
            match (value, list.get_mut(i)) {
                (Some(v), Some(x)) => set(x, v),
                _ => {
                    list.remove(i);
                }
            }
            return Some(());
        }
    }
    None
}

/// A URL without its query (where credentials live).
fn redact(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
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

    #[tokio::test]
    async fn a_firing_alert_starts_the_plans_it_triggers_once() {
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

    #[test]
    fn a_metric_trigger_starts_once_per_episode_after_its_for() {
        let plan = seawall_plan::parse(PLAN, "plan.yaml").expect("the plan parses");
        let h = Holding::default();
        let level = |v: f64| {
            move |t: &str, m: AlertMetric| {
                (t == "create-order" && m == AlertMetric::WaterLevel).then_some(v)
            }
        };
        assert!(h.due(1, &plan, 0, level(0.9)).is_empty(), "starts holding");
        assert!(h.due(1, &plan, 29_999, level(0.9)).is_empty());
        assert_eq!(h.due(1, &plan, 30_000, level(0.9)), ["limit-on-level"]);
        assert!(
            h.due(1, &plan, 60_000, level(0.9)).is_empty(),
            "once an episode"
        );
        assert!(
            h.due(1, &plan, 61_000, level(0.85)).is_empty(),
            "not above: ends"
        );
        assert!(
            h.due(1, &plan, 62_000, level(0.9)).is_empty(),
            "a new one waits"
        );
        assert_eq!(h.due(1, &plan, 92_000, level(0.9)), ["limit-on-level"]);
        assert!(h.due(2, &plan, 0, |_, _| None).is_empty(), "no reading");
        assert!(h.due(2, &plan, 90_000, |_, _| None).is_empty());
    }
}
