//! The pager (`docs/respond.md#paging`): the background task that pages
//! whatever escalation step is due and hands each page to the plan's
//! on-call channels through seawall-notify.
//!
//! Why a module of its own: the incident model and its store writes live
//! in the parent; this is the part that talks to the outside (channels,
//! their fallbacks, signed acknowledgement links), kept apart so that it
//! can change without touching the incident rules.

use std::time::Duration;

use seawall_respond::incident::{EntryKind, Severity};
use seawall_store::Ctx;
use serde_json::json;

use super::{PAGER, change, current_plan, decode, kind_name, write};
use crate::error::ApiError;
use crate::state::AppState;

/// How often the paging loop looks for due pages (it is also woken when
/// an incident opens).
const PAGE_TICK: Duration = Duration::from_secs(1);

/// The background task: page whatever is due, every [`PAGE_TICK`] and
/// whenever an incident opens, until the server shuts down.
pub(crate) async fn run(state: AppState) {
    let mut tick = tokio::time::interval(PAGE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.pager_woken() => {}
            () = state.shutting_down() => return,
        }
        if let Err(e) = page_due(&state).await {
            tracing::warn!("paging failed: {e}");
        }
    }
}

/// Record and send every page due now. Each page is stored (the
/// escalation's `record`, from the version read) before it is handed to
/// the channel; a page another pager recorded first is skipped.
pub async fn page_due(state: &AppState) -> Result<usize, ApiError> {
    let now = state.now();
    let mut sent = 0;
    for stored in state.store.due_incidents(now).await? {
        let mut l = decode(stored)?;
        let Some(mut escalation) = l.escalation.take() else {
            continue;
        };
        let Some(due) = escalation.due(now) else {
            continue;
        };
        if escalation.record(&due, now).is_err() {
            continue;
        }
        let who = due.people.join(", ");
        let (kind, text) = if due.step == 0 {
            (
                EntryKind::Paged,
                format!("paging {} {who}", due.tier.as_str()),
            )
        } else {
            (
                EntryKind::Escalated,
                format!(
                    "no acknowledgement: paging {} {who} (round {})",
                    due.tier.as_str(),
                    due.round + 1
                ),
            )
        };
        l.incident.record(now, kind, PAGER, text);
        let w = write(
            &l.incident,
            Some(&escalation),
            "incident.paged",
            json!({"step": due.step, "tier": due.tier.as_str(), "people": due.people, "round": due.round}),
        )?;
        let ctx = Ctx::new(PAGER, now);
        match state
            .store
            .update_incident(&ctx, l.stored.id, l.stored.version, &w)
            .await
        {
            Ok(_) => {}
            Err(seawall_store::StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
        sent += 1;
        let state = state.clone();
        let (id, event_id, title, severity) = (
            l.stored.id,
            l.stored.event_id,
            l.incident.title.clone(),
            l.incident.severity,
        );
        tokio::spawn(async move {
            let outcome = send_page(&state, event_id, id, &title, severity, &due.people).await;
            let at = state.now();
            let ctx = Ctx::new(PAGER, at);
            let (kind, text) = match &outcome {
                Ok(channel) => (EntryKind::Paged, format!("page sent to {who} on {channel}")),
                Err(e) => (EntryKind::PageFailed, format!("page to {who} failed: {e}")),
            };
            if outcome.is_err() {
                tracing::warn!(incident = id, "page failed: {text}");
            }
            let recorded = change(&state, &ctx, id, |incident, _| {
                incident.record(at, kind, PAGER, text.clone());
                Ok(("incident.updated", json!({"page": kind_name(kind)})))
            })
            .await;
            if let Err(e) = recorded {
                tracing::warn!(incident = id, "the page's outcome was not recorded: {e}");
            }
        });
    }
    Ok(sent)
}

/// Send a page about incident `id` to the plan's first on-call channel,
/// mentioning the paged people's phones; the channel's id, or why not.
async fn send_page(
    state: &AppState,
    event_id: i64,
    id: i64,
    title: &str,
    severity: Severity,
    people: &[String],
) -> Result<String, String> {
    let event = state
        .store
        .events()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|e| e.id == event_id)
        .ok_or_else(|| format!("event {event_id} is gone"))?;
    let plan = current_plan(state, &event)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("event `{}` has no plan", event.slug))?;
    let ch = plan
        .oncall
        .channels
        .first()
        .ok_or_else(|| "the plan has no on-call channel".to_owned())?;
    let channel = seawall_notify::Channel::from_plan(ch, &|name| std::env::var(name).ok())
        .map_err(|e| format!("channel `{}`: {e}", ch.id))?;
    let names: Vec<&str> = people
        .iter()
        .map(|p| plan.people.get(p).map_or(p.as_str(), |x| x.name.as_str()))
        .collect();
    let mut msg = seawall_notify::Message::new(
        seawall_notify::Severity::Page,
        format!("[{}] {title}", severity.as_str()),
        format!(
            "Incident {id} of {}: {title}\nPaging {}. Acknowledge: seawall incident ack {id} --event {}",
            event.slug,
            names.join(", "),
            event.slug
        ),
    );
    msg.mentions = people
        .iter()
        .filter_map(|p| plan.people.get(p)?.phone.clone())
        .map(seawall_notify::Mention::Mobile)
        .collect();
    msg.incident_id = Some(id.to_string());
    seawall_notify::Sender::new(seawall_notify::RetryPolicy::default())
        .send(&channel, &msg)
        .await
        .map_err(|e| format!("channel `{}`: {e}", ch.id))?;
    Ok(ch.id.clone())
}
