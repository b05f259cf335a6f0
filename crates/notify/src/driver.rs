//! The thin async loop around [`Dispatcher`]: it stamps submissions with
//! the monotonic clock, hands each batch to the [`Sender`] on a task of
//! its own (a page never waits for a slow digest), feeds the answers back,
//! sleeps until the next budget slot, and passes every [`Outcome`] on.
//! All decisions are the dispatcher's; this module only moves data.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::message::Message;
use crate::queue::{BatchId, ChannelConfig, Dispatcher, MessageId, Outcome};
use crate::render::Channel;
use crate::sender::Sender;

/// Messages a digest carries at most.
pub const MAX_DIGEST: usize = 50;

/// The queue is gone (its loop ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the notification queue has stopped")]
pub struct Stopped;

/// Submits messages to the running queue. Dropping every `Notifier` lets
/// the loop finish what is queued, then end.
#[derive(Debug, Clone)]
pub struct Notifier {
    submit: mpsc::Sender<Submission>,
}

type Submission = (Message, Vec<String>, oneshot::Sender<MessageId>);

impl Notifier {
    /// Queues `message` for the channels of `route`, in order of
    /// fallback; its id is the one its [`Outcome`] will carry.
    pub async fn submit(&self, message: Message, route: Vec<String>) -> Result<MessageId, Stopped> {
        let (tx, rx) = oneshot::channel();
        self.submit
            .send((message, route, tx))
            .await
            .map_err(|_| Stopped)?;
        rx.await.map_err(|_| Stopped)
    }
}

/// Starts the queue for `channels`, each with its limits (`configs`;
/// a channel without one gets its provider's, [`ChannelConfig::for_provider`]).
/// Outcomes go to `outcomes`, in the order messages end.
pub fn spawn(
    channels: Vec<Channel>,
    configs: HashMap<String, ChannelConfig>,
    sender: Sender,
    outcomes: mpsc::Sender<Outcome>,
) -> (Notifier, JoinHandle<()>) {
    let dispatcher = Dispatcher::new(
        channels.iter().map(|c| {
            let config = configs
                .get(&c.id)
                .copied()
                .unwrap_or_else(|| ChannelConfig::for_provider(c.provider));
            (c.id.clone(), config)
        }),
        MAX_DIGEST,
    );
    let channels: HashMap<String, Arc<Channel>> = channels
        .into_iter()
        .map(|c| (c.id.clone(), Arc::new(c)))
        .collect();
    let (submit, submissions) = mpsc::channel(1024);
    let task = tokio::spawn(run(dispatcher, channels, sender, submissions, outcomes));
    (Notifier { submit }, task)
}

async fn run(
    mut dispatcher: Dispatcher,
    channels: HashMap<String, Arc<Channel>>,
    sender: Sender,
    mut submissions: mpsc::Receiver<Submission>,
    outcomes: mpsc::Sender<Outcome>,
) {
    let start = Instant::now();
    let (done, mut answers) = mpsc::unbounded_channel::<(BatchId, Result<(), String>)>();
    let mut open = true;
    loop {
        let now = start.elapsed();
        for batch in dispatcher.poll(now) {
            let done = done.clone();
            let sender = sender.clone();
            let channel = channels.get(&batch.channel).cloned();
            tracing::debug!(
                channel = %batch.channel,
                messages = batch.messages.len(),
                digest = batch.is_digest(),
                "handing a message to its channel"
            );
            tokio::spawn(async move {
                let result = match channel {
                    Some(channel) => sender
                        .send(&channel, &batch.message)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    None => Err("unknown channel".to_owned()),
                };
                let _ = done.send((batch.id, result));
            });
        }
        for outcome in dispatcher.drain_outcomes() {
            if let Outcome::Failed { id, failures } = &outcome {
                tracing::warn!(
                    message = id.0,
                    channels = failures.len(),
                    "message failed on every channel"
                );
            }
            if outcomes.send(outcome).await.is_err() {
                tracing::debug!("nobody reads the outcomes any more");
            }
        }
        if !open && dispatcher.unfinished() == 0 {
            return;
        }
        let wake = dispatcher.next_wake().map(|at| start + at);
        tokio::select! {
            submission = submissions.recv(), if open => match submission {
                Some((message, route, reply)) => {
                    let _ = reply.send(dispatcher.submit(message, route));
                }
                None => open = false,
            },
            Some((batch, result)) = answers.recv() => dispatcher.complete(batch, result),
            () = sleep_until(wake) => {}
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
