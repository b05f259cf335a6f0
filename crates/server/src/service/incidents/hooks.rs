//! The timeline writes itself from the rest of the control plane: change
//! gate decisions in a freeze, freeze exceptions requested and decided,
//! and guard rule changes made outside emergency runs (derived from the
//! plan or adjusted by a commander) go into the timelines of the affected
//! event's unresolved incidents.
//!
//! Why hooks that never fail their caller: the gate's answer, the
//! exception and the rule version are what the caller asked for; an
//! incident that could not be told is logged, and the change stands. The
//! callers stay one line each (`incidents::hooks::on_gate(…)`), so the gate,
//! exception and rules code does not learn about incidents.

use seawall_respond::incident::EntryKind;

use super::{Repeat, record_open};
use crate::state::AppState;

/// How long a gate decision in the timeline stands for the same decision
/// asked again by the same token (a pipeline retrying every few seconds
/// would otherwise bury the timeline; every check still has its change
/// record).
pub const GATE_REPEAT_MS: i64 = 10 * 60 * 1000;

/// The change gate decided about a change during a freeze of event
/// `event_id` (refused, or let through by an exception): `gate record
/// <n>: <reason>` by the asking token, unless the incident has that
/// decision by that token from the last [`GATE_REPEAT_MS`].
pub(crate) async fn on_gate(
    state: &AppState,
    event_id: i64,
    actor: &str,
    record: i64,
    reason: &str,
) {
    let text = format!("gate record {record}: {reason}");
    let tail = format!(": {reason}");
    let repeat = Repeat {
        tail: &tail,
        within_ms: GATE_REPEAT_MS,
    };
    record_open(
        state,
        event_id,
        EntryKind::Gate,
        actor,
        &text,
        Some(&repeat),
    )
    .await;
}

/// A freeze exception of event `event_id` was requested or decided.
pub(crate) async fn on_exception(state: &AppState, event_id: i64, actor: &str, text: &str) {
    record_open(state, event_id, EntryKind::Gate, actor, text, None).await;
}

/// Guard rules were derived from event `event_id`'s plan.
pub(crate) async fn on_rules_derived(state: &AppState, event_id: i64, actor: &str, text: &str) {
    record_open(state, event_id, EntryKind::RuleChange, actor, text, None).await;
}

/// A commander adjusted `service`'s guard rules: every event whose
/// current plan has the service is told.
pub(crate) async fn on_rules_adjusted(state: &AppState, service: &str, actor: &str, text: &str) {
    let events = match state.store.events().await {
        Ok(events) => events,
        Err(e) => {
            tracing::warn!("incidents not told of a rule change: {e}");
            return;
        }
    };
    for event in events {
        let has = match super::current_plan(state, &event).await {
            Ok(plan) => plan.is_some_and(|p| p.services.contains_key(service)),
            Err(e) => {
                tracing::warn!(event = %event.slug, "incidents not told of a rule change: {e}");
                false
            }
        };
        if has {
            record_open(state, event.id, EntryKind::RuleChange, actor, text, None).await;
        }
    }
}
