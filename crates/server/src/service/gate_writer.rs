//! The gate's group-commit writer: every change record the gate makes goes
//! through one task, so a burst of checks costs one durable flush. It
//! needs only the store, so [`crate::state::AppState`] can hold it without
//! the state depending on the rest of the service layer.

use std::sync::Arc;

use seawall_store::NewChangeRecord;

use crate::error::ApiError;

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
