//! Incidents and on-call paging (`docs/respond.md#incidents`,
//! `#paging`): an incident opened by hand or by a page-severity alert
//! (one per alert target while unresolved: a second page alert on the
//! same target joins it), a timeline that writes itself (alerts firing and
//! resolving, pages, acknowledgement, resolution), and the paging of the
//! affected business line's on-call until somebody acknowledges.
//!
//! Why here: the rules are `seawall_respond`'s — `incident::Incident` (the
//! timeline, status changes, time to acknowledge and resolve) and
//! `escalation` (`responders` from the rota, `Escalation`: when the next
//! page is due, tiers cycling) —; this module stores both after every
//! change (the store refuses an update from a stale read) and sends the
//! pages through seawall-notify. A page is recorded in the store before it
//! is handed to the channel, so a restart (or a second replica) resumes
//! from the stored escalation and never pages one step twice: the worst a
//! crash between the two does is a recorded page that never went out,
//! and the timeline of an incident whose page was lost that way shows
//! `paged` without `page sent`.

pub use seawall_api::incidents::{
    Incident as IncidentView, IncidentList, OpenIncident, PageSent, Paging, ResolveIncident,
    RoleHolder, StatusUpdate, TimelineEntry,
};
use seawall_monitor::alert::{Change, Severity as AlertSeverity};
use seawall_plan::Plan;
use seawall_respond::escalation::{Escalation, Policy, Timestamp, Wait, responders};
use seawall_respond::incident::{EntryKind, Incident, IncidentError, Severity, Status};
use seawall_store::{Ctx, Event, IncidentWrite, StoredIncident};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::cap;
use crate::service::{events, plans};
use crate::state::AppState;

pub(crate) mod changes;
pub(crate) mod hooks;
pub mod pager;

/// The actor of changes the paging loop makes.
pub const PAGER: &str = "pager";
/// The actor of timeline entries from alerts.
const MONITORING: &str = "monitoring";
/// Attempts of a read-modify-write that lost to another writer.
const ATTEMPTS: usize = 8;
/// Caps on request texts.
const TITLE_MAX: usize = 200;
/// The resolution text's cap.
const TEXT_MAX: usize = 2_000;

/// An incident and its escalation, decoded.
struct Loaded {
    stored: StoredIncident,
    incident: Incident,
    escalation: Option<Escalation>,
}

fn decode(stored: StoredIncident) -> Result<Loaded, ApiError> {
    let bad = |e: serde_json::Error| {
        ApiError::Internal(format!(
            "incident {} has a state this server cannot read: {e}",
            stored.id
        ))
    };
    let incident: Incident = serde_json::from_str(&stored.state).map_err(bad)?;
    let escalation = match &stored.escalation {
        Some(text) => Some(serde_json::from_str(text).map_err(bad)?),
        None => None,
    };
    Ok(Loaded {
        stored,
        incident,
        escalation,
    })
}

/// When the next page is due: never once resolved, acknowledged or out
/// of rounds.
fn next_page(incident: &Incident, escalation: Option<&Escalation>) -> Option<i64> {
    if incident.status == Status::Resolved {
        return None;
    }
    match escalation?.wait() {
        Wait::Until(t) => Some(t),
        Wait::Acked | Wait::Exhausted | Wait::Nobody => None,
    }
}

fn write(
    incident: &Incident,
    escalation: Option<&Escalation>,
    action: &str,
    detail: Value,
) -> Result<IncidentWrite, ApiError> {
    let ser =
        |e: serde_json::Error| ApiError::Internal(format!("cannot serialise an incident: {e}"));
    Ok(IncidentWrite {
        status: incident.status.as_str().to_owned(),
        severity: incident.severity.as_str().to_owned(),
        dedup_key: incident.dedup_key.clone(),
        state: serde_json::to_string(incident).map_err(ser)?,
        escalation: escalation
            .map(serde_json::to_string)
            .transpose()
            .map_err(ser)?,
        next_page_ms: next_page(incident, escalation),
        action: action.to_owned(),
        detail,
    })
}

fn kind_name(kind: EntryKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The API's view of an incident, its times to be shown in time zone `tz`.
fn view(l: &Loaded, tz: &str) -> IncidentView {
    let i = &l.incident;
    IncidentView {
        id: l.stored.id,
        title: i.title.clone(),
        severity: i.severity.as_str().to_owned(),
        status: i.status.as_str().to_owned(),
        dedup_key: i.dedup_key.clone(),
        line: i.line.clone(),
        version: l.stored.version,
        opened_ms: l.stored.created_ms,
        time_to_ack_ms: i.time_to_ack_ms(),
        time_to_resolve_ms: i.time_to_resolve_ms(),
        roles: i
            .roles
            .iter()
            .map(|(role, person)| RoleHolder {
                role: role.as_str().to_owned(),
                person: person.clone(),
            })
            .collect(),
        updates: i
            .updates
            .iter()
            .map(|u| StatusUpdate {
                at_ms: u.at_ms,
                status: u.status.as_str().to_owned(),
                by: u.by.clone(),
                text: u.text.clone(),
            })
            .collect(),
        timeline: i
            .timeline
            .iter()
            .map(|e| TimelineEntry {
                at_ms: e.at_ms,
                kind: kind_name(e.kind),
                actor: e.actor.clone(),
                text: e.text.clone(),
            })
            .collect(),
        paging: l.escalation.as_ref().map(|e| Paging {
            ack_timeout_ms: e.policy.ack_timeout_ms,
            max_rounds: e.policy.max_rounds,
            sent: e
                .sent
                .iter()
                .map(|s| {
                    let level = e.levels.get(s.level);
                    PageSent {
                        step: s.step,
                        tier: level.map_or("", |l| l.tier.as_str()).to_owned(),
                        people: level.map(|l| l.people.clone()).unwrap_or_default(),
                        round: s.round,
                        at_ms: s.at_ms,
                    }
                })
                .collect(),
            next_page_ms: l.stored.next_page_ms,
            acknowledged_by: e.ack.as_ref().map(|a| a.by.clone()),
        }),
        timezone: tz.to_owned(),
    }
}

/// The time zone of the plan `plan` (`UTC` without one): the views carry
/// it so that every client shows an incident's times as the UI does.
fn zone(plan: Option<&Plan>) -> &str {
    plan.map_or("UTC", |p| p.event.timezone.as_str())
}

/// The time zone of event `slug`'s current plan (`UTC` without one).
pub(super) async fn zone_of(state: &AppState, slug: &str) -> Result<String, ApiError> {
    let event = events::find(state, slug).await?;
    Ok(zone(current_plan(state, &event).await?.as_deref()).to_owned())
}

/// The escalation for an incident of `line` opened now, from the plan's
/// rota and `oncall` keys; none when nobody is on call or the plan has no
/// channel to page on.
fn escalation_for(plan: &Plan, line: Option<&str>, now_ms: i64) -> Option<Escalation> {
    if plan.oncall.channels.is_empty() {
        return None;
    }
    let at = Timestamp::from_millisecond(now_ms).ok()?;
    let levels = responders(plan, line, at);
    if levels.is_empty() {
        return None;
    }
    let policy = Policy {
        ack_timeout_ms: (plan.oncall.ack_timeout_seconds * 1000.0).round() as i64,
        max_rounds: plan.oncall.escalation_rounds,
    };
    match Escalation::open(now_ms, policy, levels) {
        Ok(e) => Some(e),
        Err(e) => {
            tracing::warn!("no paging for the incident: {e}");
            None
        }
    }
}

/// The event's current plan, if it has one.
async fn current_plan(
    state: &AppState,
    event: &Event,
) -> Result<Option<std::sync::Arc<Plan>>, ApiError> {
    match state.store.plan_version(event.id, None).await? {
        Some(stored) => Ok(Some(plans::parsed(state, &event.slug, &stored)?)),
        None => Ok(None),
    }
}

/// Store a new incident (its paging from the plan's rota for its line)
/// and wake the pager.
async fn create(
    state: &AppState,
    ctx: &Ctx,
    event: &Event,
    plan: Option<&Plan>,
    incident: Incident,
) -> Result<Loaded, ApiError> {
    let escalation = plan.and_then(|p| escalation_for(p, incident.line.as_deref(), ctx.at_ms));
    let w = write(
        &incident,
        escalation.as_ref(),
        "incident.opened",
        json!({"title": incident.title, "line": incident.line}),
    )?;
    let stored = state.store.create_incident(ctx, event.id, &w).await?;
    tracing::info!(event = %event.slug, incident = stored.id, severity = incident.severity.as_str(), "incident opened");
    state.wake_pager();
    Ok(Loaded {
        stored,
        incident,
        escalation,
    })
}

/// Open an incident of event `slug` by hand; the on-call is paged.
pub(crate) async fn open(
    state: &AppState,
    actor: &str,
    slug: &str,
    req: &OpenIncident,
) -> Result<IncidentView, ApiError> {
    cap("title", &req.title, TITLE_MAX)?;
    if req.title.trim().is_empty() {
        return Err(ApiError::Unprocessable {
            code: "invalid_body",
            message: "title: an incident needs a title".into(),
            details: None,
        });
    }
    let severity = match &req.severity {
        None => Severity::P2,
        Some(s) => Severity::parse(s).ok_or_else(|| ApiError::Unprocessable {
            code: "invalid_body",
            message: format!("severity: `{s}` is not one of P1, P2, P3, P4"),
            details: None,
        })?,
    };
    let event = events::find(state, slug).await?;
    let plan = current_plan(state, &event).await?;
    if let (Some(line), Some(p)) = (&req.line, &plan)
        && !p.organization.business_lines.contains_key(line)
    {
        return Err(ApiError::Unprocessable {
            code: "unknown_line",
            message: format!("line: `{line}` is not a business line of the plan"),
            details: None,
        });
    }
    let ctx = state.ctx(actor);
    let incident = Incident::open(
        req.title.trim(),
        severity,
        actor,
        None,
        req.line.clone(),
        ctx.at_ms,
    );
    let l = create(state, &ctx, &event, plan.as_deref(), incident).await?;
    Ok(view(&l, zone(plan.as_deref())))
}

/// Incident `n` of event `slug`, or 404.
async fn find(state: &AppState, slug: &str, n: i64) -> Result<Loaded, ApiError> {
    let event = events::find(state, slug).await?;
    match state.store.incident(n).await? {
        Some(stored) if stored.event_id == event.id => decode(stored),
        _ => Err(ApiError::not_found(format!(
            "incident {n} of event `{slug}`"
        ))),
    }
}

/// One incident of event `slug`.
pub(crate) async fn get(state: &AppState, slug: &str, n: i64) -> Result<IncidentView, ApiError> {
    let l = find(state, slug, n).await?;
    Ok(view(&l, &zone_of(state, slug).await?))
}

/// Event `slug`'s incidents, oldest first.
pub(crate) async fn list(state: &AppState, slug: &str) -> Result<IncidentList, ApiError> {
    let event = events::find(state, slug).await?;
    let timezone = zone(current_plan(state, &event).await?.as_deref()).to_owned();
    let mut incidents = Vec::new();
    for stored in state.store.incidents(event.id).await? {
        incidents.push(view(&decode(stored)?, &timezone));
    }
    Ok(IncidentList {
        incidents,
        timezone,
    })
}

/// Change incident `id` with `f` (which says the audit action and
/// detail), from a fresh read each time another writer got there first.
async fn change(
    state: &AppState,
    ctx: &Ctx,
    id: i64,
    f: impl Fn(&mut Incident, &mut Option<Escalation>) -> Result<(&'static str, Value), ApiError>,
) -> Result<Loaded, ApiError> {
    for _ in 0..ATTEMPTS {
        let Some(stored) = state.store.incident(id).await? else {
            return Err(ApiError::not_found(format!("incident {id}")));
        };
        let mut l = decode(stored)?;
        let (action, detail) = f(&mut l.incident, &mut l.escalation)?;
        let w = write(&l.incident, l.escalation.as_ref(), action, detail)?;
        match state
            .store
            .update_incident(ctx, id, l.stored.version, &w)
            .await
        {
            Ok(stored) => {
                l.stored = stored;
                return Ok(l);
            }
            Err(seawall_store::StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Conflict(format!(
        "incident {id} kept changing; try again"
    )))
}

fn refused(e: IncidentError) -> ApiError {
    ApiError::Conflict(e.to_string())
}

/// `actor` acknowledges incident `n`: the paging stops.
pub(crate) async fn acknowledge(
    state: &AppState,
    actor: &str,
    slug: &str,
    n: i64,
) -> Result<IncidentView, ApiError> {
    find(state, slug, n).await?;
    let ctx = state.ctx(actor);
    let l = change(state, &ctx, n, |incident, escalation| {
        incident.acknowledge(actor, ctx.at_ms).map_err(refused)?;
        if let Some(e) = escalation {
            // Already acknowledged there means the incident was too,
            // which `Incident::acknowledge` refused above.
            let _ = e.acknowledge(actor, ctx.at_ms);
        }
        Ok(("incident.acknowledged", json!({"by": actor})))
    })
    .await?;
    Ok(view(&l, &zone_of(state, slug).await?))
}

/// `actor` resolves incident `n` (its paging stops).
pub(crate) async fn resolve(
    state: &AppState,
    actor: &str,
    slug: &str,
    n: i64,
    text: Option<&str>,
) -> Result<IncidentView, ApiError> {
    if let Some(t) = text {
        cap("text", t, TEXT_MAX)?;
    }
    find(state, slug, n).await?;
    let ctx = state.ctx(actor);
    let said = text
        .filter(|t| !t.trim().is_empty())
        .map_or_else(|| format!("resolved by {actor}"), str::to_owned);
    let l = change(state, &ctx, n, |incident, _| {
        incident.resolve(actor, ctx.at_ms, &said).map_err(refused)?;
        Ok(("incident.resolved", json!({"by": actor})))
    })
    .await?;
    Ok(view(&l, &zone_of(state, slug).await?))
}

/// The business line of an alert's target: an entry's service's, a
/// service's own; none for anything else (the rota for every line).
fn line_of(plan: &Plan, kind: seawall_monitor::sample::TargetKind, id: &str) -> Option<String> {
    use seawall_monitor::sample::TargetKind;
    let service = match kind {
        TargetKind::Entry => plan.entries.get(id).map(|e| e.service.as_str())?,
        TargetKind::Service => id,
        _ => return None,
    };
    plan.services.get(service)?.line.clone()
}

/// After a monitoring tick: a page-severity alert that fired opens an
/// incident for its target, or joins the unresolved one; every alert
/// that fired or resolved is written into the event's unresolved
/// incidents' timelines.
pub(crate) async fn on_transitions(
    state: &AppState,
    event: &Event,
    plan: &Plan,
    transitions: &[seawall_monitor::Transition],
) {
    if let Err(e) = transitions_into_incidents(state, event, plan, transitions).await {
        tracing::warn!(event = %event.slug, "incidents not updated from alerts: {e}");
    }
}

async fn transitions_into_incidents(
    state: &AppState,
    event: &Event,
    plan: &Plan,
    transitions: &[seawall_monitor::Transition],
) -> Result<(), ApiError> {
    for t in transitions {
        let kind = match t.change {
            Change::Fired => EntryKind::AlertFired,
            Change::Resolved => EntryKind::AlertResolved,
            _ => continue,
        };
        let key = format!("{}:{}", t.target.kind.as_str(), t.target.id);
        let text = format!(
            "alert {} {} on {key} ({} {:.3}, threshold {:.3})",
            t.rule,
            if kind == EntryKind::AlertFired {
                "fired"
            } else {
                "resolved"
            },
            t.signal.as_str(),
            t.value,
            t.threshold
        );
        let ctx = Ctx::new(MONITORING, state.now());
        let open: Vec<StoredIncident> = state
            .store
            .incidents(event.id)
            .await?
            .into_iter()
            .filter(|i| i.status != Status::Resolved.as_str())
            .collect();
        let opens_one = kind == EntryKind::AlertFired
            && t.severity == AlertSeverity::Page
            && !open
                .iter()
                .any(|i| i.dedup_key.as_deref() == Some(key.as_str()));
        if opens_one {
            let mut incident = Incident::open(
                &format!("{} on {key}", t.rule),
                Severity::P1,
                MONITORING,
                Some(key.clone()),
                line_of(plan, t.target.kind, &t.target.id),
                ctx.at_ms,
            );
            incident.record(ctx.at_ms, kind, MONITORING, text.clone());
            match create(state, &ctx, event, Some(plan), incident).await {
                Ok(l) => {
                    tracing::info!(event = %event.slug, incident = l.stored.id, alert = %t.rule, "incident opened by a page alert");
                }
                // Another replica opened it meanwhile; it has the alert.
                Err(ApiError::Conflict(m)) => tracing::info!(event = %event.slug, "{m}"),
                Err(e) => return Err(e),
            }
        }
        for i in open {
            change(state, &ctx, i.id, |incident, _| {
                incident.record(ctx.at_ms, kind, MONITORING, text.clone());
                Ok((
                    "incident.updated",
                    json!({"alert": t.rule, "change": kind_name(kind)}),
                ))
            })
            .await?;
        }
    }
    Ok(())
}

/// An emergency-plan run of event `event_id` changed: `text` goes into
/// the timeline of each of the event's unresolved incidents (`PlanRun`
/// for the run, `PlanStep` for one of its actions). Failures are logged:
/// the run goes on either way.
pub(crate) async fn on_run(state: &AppState, event_id: i64, kind: EntryKind, text: &str) {
    record_open(state, event_id, kind, "emergency", text, None).await;
}

/// An entry that may say again what an earlier one said (a pipeline
/// asking the gate about the same change every few seconds): it is left
/// out of an incident whose timeline has an entry of the same kind by the
/// same actor ending in `tail` younger than `within_ms`.
pub(super) struct Repeat<'a> {
    /// The part of the text that makes it the same (the gate's reason).
    pub tail: &'a str,
    /// How long an entry stands for its repeats.
    pub within_ms: i64,
}

/// Whether incident `stored` already says it (see [`Repeat`]).
fn said_lately(
    stored: &StoredIncident,
    kind: EntryKind,
    actor: &str,
    repeat: &Repeat<'_>,
    now_ms: i64,
) -> bool {
    serde_json::from_str::<Incident>(&stored.state).is_ok_and(|i| {
        i.timeline.iter().rev().any(|e| {
            e.kind == kind
                && e.actor == actor
                && e.text.ends_with(repeat.tail)
                && now_ms - e.at_ms < repeat.within_ms
        })
    })
}

/// Write `text` (by `actor`, as `kind`) into the timeline of each of
/// event `event_id`'s unresolved incidents; the number written. Failures
/// are logged: what is recorded (a run, a gate decision, an exception, a
/// rule change) stands either way.
async fn record_open(
    state: &AppState,
    event_id: i64,
    kind: EntryKind,
    actor: &str,
    text: &str,
    repeat: Option<&Repeat<'_>>,
) -> usize {
    let now = state.now();
    let open: Vec<i64> = match state.store.incidents(event_id).await {
        Ok(all) => all
            .into_iter()
            .filter(|i| i.status != Status::Resolved.as_str())
            .filter(|i| repeat.is_none_or(|r| !said_lately(i, kind, actor, r, now)))
            .map(|i| i.id)
            .collect(),
        Err(e) => {
            tracing::warn!(event_id, "incidents not told ({}): {e}", kind_name(kind));
            return 0;
        }
    };
    let ctx = Ctx::new(actor, now);
    let mut written = 0;
    for id in open {
        let recorded = change(state, &ctx, id, |incident, _| {
            incident.record(ctx.at_ms, kind, actor, text);
            Ok((
                "incident.updated",
                json!({"entry": kind_name(kind), "text": text}),
            ))
        })
        .await;
        match recorded {
            Ok(_) => written += 1,
            Err(e) => tracing::warn!(
                incident = id,
                "not written into the timeline ({}): {e}",
                kind_name(kind)
            ),
        }
    }
    written
}
