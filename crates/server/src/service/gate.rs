//! What the gate, the exceptions and the pages share: an event's current
//! plan parsed once, stored exceptions in the gate's terms, and times. The
//! gate's records are written by [`super::gate_writer`].

use std::sync::Arc;

use jiff::Timestamp;
use seawall_plan::Plan;
use seawall_plan::gate::FreezeException;
use seawall_store::Millis;

use crate::error::ApiError;
use crate::state::AppState;

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
