//! What the gate, the exceptions and the pages share: the gate's
//! group-commit writer (every change record the gate makes goes through one
//! task, so a burst of checks costs one durable flush), an event's current
//! plan parsed once, stored exceptions in the gate's terms, and times.

use std::sync::Arc;

use jiff::Timestamp;
use seawall_plan::Plan;
use seawall_plan::gate::FreezeException;
use seawall_store::{Millis, NewChangeRecord};

use crate::error::ApiError;
use crate::state::AppState;

/// The gate's change records go through one writer task that commits
/// whatever has queued up while the previous transaction was in flight as
/// one transaction (group commit): one durable flush for many checks, the
/// audit chain unchanged (each record keeps its own entry, in order). At
/// low load a batch is a single check, so nothing waits for company.
#[derive(Debug, Clone)]
pub struct Writer {
    tx: tokio::sync::mpsc::Sender<Pending>,
}

/// A record waiting for the writer, and where its answer goes.
#[derive(Debug)]
struct Pending {
    ctx: seawall_store::Ctx,
    new: NewChangeRecord,
    reply: tokio::sync::oneshot::Sender<Result<seawall_store::ChangeRecord, ApiError>>,
}

/// Most records in one transaction.
const BATCH: usize = 256;

impl Writer {
    /// Start the writer task over `store` (it ends when the last handle
    /// is dropped).
    pub fn start(store: Arc<dyn seawall_store::Store>) -> Writer {
        let (tx, rx) = tokio::sync::mpsc::channel(4 * BATCH);
        tokio::spawn(write_batches(store, rx));
        Writer { tx }
    }

    /// Record one decision; resolves when its transaction has committed.
    pub async fn record(
        &self,
        ctx: seawall_store::Ctx,
        new: NewChangeRecord,
    ) -> Result<seawall_store::ChangeRecord, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx
            .send(Pending { ctx, new, reply })
            .await
            .map_err(|_| ApiError::Unavailable("the gate's writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| ApiError::Internal("the gate's writer dropped a record".into()))?
    }
}

async fn write_batches(
    store: Arc<dyn seawall_store::Store>,
    mut rx: tokio::sync::mpsc::Receiver<Pending>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let items: Vec<(seawall_store::Ctx, NewChangeRecord)> = batch
            .iter()
            .map(|p| (p.ctx.clone(), p.new.clone()))
            .collect();
        match store.record_changes(&items).await {
            Ok(results) => {
                for (p, r) in batch.drain(..).zip(results) {
                    let _ = p.reply.send(r.map_err(ApiError::from));
                }
            }
            Err(e) => {
                let e = ApiError::from(e);
                for p in batch.drain(..) {
                    let _ = p.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

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
