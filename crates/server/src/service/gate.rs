//! The change gate's question asked and recorded (`check`), and what the
//! gate, the exceptions and the pages share: an event's current plan
//! parsed once, stored exceptions in the gate's terms, and times. The
//! gate's records are written by [`super::gate_writer`].

use std::sync::Arc;

use jiff::Timestamp;
pub use seawall_api::gate::{GateAnswer, GateCheck, GateWindow};
use seawall_plan::Plan;
use seawall_plan::gate::FreezeException;
use seawall_store::{Millis, NewChangeRecord, Role};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::service::events;
use crate::state::AppState;

/// Roles that may ask the gate: everyone who changes production (pipelines
/// with `ci` tokens, on-call staff for ops actions), not viewers.
pub const GATE_ASKERS: &[Role] = &[
    Role::Admin,
    Role::Commander,
    Role::Pm,
    Role::Oncall,
    Role::Ci,
];

/// Milliseconds to a timestamp (500 for a value out of jiff's range: the
/// store never holds one, the check is for hand-edited rows).
pub(crate) fn ts(ms: Millis) -> Result<Timestamp, ApiError> {
    Timestamp::from_millisecond(ms)
        .map_err(|e| ApiError::Internal(format!("time {ms} ms is out of range: {e}")))
}

/// RFC 3339 UTC text of a timestamp.
pub(crate) fn rfc3339(t: Timestamp) -> String {
    t.to_string()
}

/// An event's current plan version, parsed (once per stored version:
/// `service::plans::parsed`), if it has one. The gate answers every
/// pipeline's question from it, and parsing it each time would cost more
/// than the rest of the check.
pub(crate) async fn current_plan(
    state: &AppState,
    event: &seawall_store::Event,
) -> Result<Option<(i64, Arc<Plan>)>, ApiError> {
    let Some(stored) = state.store.plan_version(event.id, None).await? else {
        return Ok(None);
    };
    let plan = crate::service::plans::parsed(state, &event.slug, &stored)?;
    Ok(Some((stored.info.version, plan)))
}

/// A stored exception in the gate's terms (its id as text).
pub(crate) fn to_gate_exception(
    e: &seawall_store::FreezeException,
) -> Result<FreezeException, ApiError> {
    Ok(FreezeException {
        id: e.id.to_string(),
        services: e.services.clone(),
        kinds: e.kinds.clone(),
        start: ts(e.starts_ms)?,
        end: ts(e.ends_ms)?,
        reason: e.reason.clone(),
        status: e.status,
        requested_by: Some(e.requested_by.clone()),
        change_ref: None,
        decided_by: e.decided_by.clone(),
        decided_at: e.decided_ms.map(ts).transpose()?,
        decision_note: e.decision_note.clone(),
    })
}

/// Ask the gate as `auth` (one of [`GATE_ASKERS`]; a `ci` token only about
/// its own event) and record the answer through the gate's writer: the
/// first event whose current plan freezes the change decides, with its
/// approved exceptions, at the server's time.
pub(crate) async fn check(
    state: &AppState,
    auth: &Auth,
    ask: &GateCheck,
) -> Result<GateAnswer, ApiError> {
    let service = ask.service.trim();
    if service.is_empty() || service.len() > 200 {
        return Err(ApiError::unprocessable(
            "invalid_service",
            "`service` must name a service (1–200 characters)",
        ));
    }
    for (field, text) in [
        ("actor", &ask.actor),
        ("change_ref", &ask.change_ref),
        ("event", &ask.event),
    ] {
        if let Some(text) = text {
            crate::extract::cap(field, text, crate::state::MAX_REF_CHARS)?;
        }
    }
    if auth.bound_event() == Some("") {
        return Err(ApiError::Forbidden {
            message: format!(
                "token `{}` is a ci token bound to no event (made before ci tokens were bound); \
                 make a new one with `seawall token create NAME --role ci --event SLUG`",
                auth.actor()
            ),
            allowed: GATE_ASKERS.to_vec(),
        });
    }
    let asked = match (auth.bound_event(), ask.event.as_deref()) {
        (Some(bound), Some(other)) if other != bound => {
            return Err(ApiError::Forbidden {
                message: format!(
                    "token `{}` is bound to event `{bound}`; it cannot ask the gate about \
                     event `{other}` (make a ci token for that event)",
                    auth.actor()
                ),
                allowed: GATE_ASKERS
                    .iter()
                    .copied()
                    .filter(|r| *r != Role::Ci)
                    .collect(),
            });
        }
        (Some(bound), _) => Some(bound),
        (None, asked) => asked,
    };
    let events = match asked {
        Some(slug) => vec![events::find(state, slug).await?],
        None => state.store.events().await?,
    };
    let now_ms = state.now();
    let now = ts(now_ms)?;
    let kind = ask.kind;
    // The first event whose plan freezes the change decides; with none,
    // the first event with a plan (or none) is named.
    let mut decided: Option<(seawall_store::Event, i64, seawall_plan::gate::GateDecision)> = None;
    let mut known = false;
    for event in events {
        let Some((version, plan)) = current_plan(state, &event).await? else {
            continue;
        };
        known |= plan.services.contains_key(service);
        let exceptions = state
            .store
            .exceptions(event.id)
            .await?
            .iter()
            .map(to_gate_exception)
            .collect::<Result<Vec<_>, _>>()?;
        let decision = seawall_plan::gate::gate(&plan, service, kind, now, &exceptions);
        let replaces = match &decided {
            None => true,
            Some((_, _, d)) => d.allowed && !decision.allowed,
        };
        if replaces {
            decided = Some((event, version, decision));
        }
    }
    let actor = ask
        .actor
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .unwrap_or(auth.actor())
        .to_owned();
    let change_ref = ask.change_ref.clone().unwrap_or_default();
    let (event, plan_version, allowed, frozen, mut reason, window, exception, next_free) =
        match &decided {
            Some((event, version, d)) => (
                Some(event.clone()),
                Some(*version),
                d.allowed,
                d.frozen,
                d.reason.clone(),
                d.window.as_ref().map(|w| GateWindow {
                    id: w.id.clone(),
                    start: rfc3339(w.start),
                    end: rfc3339(w.end),
                    reason: w.reason.clone(),
                }),
                d.exception.as_deref().and_then(|id| id.parse::<i64>().ok()),
                d.next_free.map(rfc3339),
            ),
            None => (
                None,
                None,
                true,
                false,
                format!(
                    "{} change to `{service}` allowed: no event has a plan that freezes it",
                    ask.kind.as_str()
                ),
                None,
                None,
                Some(rfc3339(now)),
            ),
        };
    if !known {
        reason.push_str(&format!(
            "; note: no plan{} has a service `{service}` — check the name, or add the service \
             to the plan so its freeze windows apply",
            asked
                .map(|e| format!(" of event `{e}`"))
                .unwrap_or_default()
        ));
    }
    let record = state
        .gate_writer()
        .record(
            seawall_store::Ctx::new(auth.actor(), now_ms),
            NewChangeRecord {
                event_id: event.as_ref().map(|e| e.id),
                service: service.to_owned(),
                kind: ask.kind,
                actor,
                change_ref,
                allowed,
                reason: reason.clone(),
                window: window.as_ref().map(|w| w.id.clone()),
                exception_id: exception,
            },
        )
        .await?;
    state.notify_change();
    if let (Some(e), true) = (&event, frozen) {
        crate::service::incidents::hooks::on_gate(state, e.id, auth.actor(), record.id, &reason)
            .await;
    }
    Ok(GateAnswer {
        allowed,
        frozen,
        reason,
        window,
        exception,
        next_free,
        event: event.map(|e| e.slug),
        plan_version,
        unknown_service: !known,
        record: record.id,
        at_ms: now_ms,
    })
}
