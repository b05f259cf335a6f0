//! The per-channel queue: a pure state machine, time passed in, no IO.
//!
//! Providers throttle robots (DingTalk and WeCom: 20 messages a minute), so
//! each channel has a [`Budget`] of messages per sliding window, and the
//! queue decides what goes out and when:
//!
//! - a **page** is sent alone, before anything else on its channel, as soon
//!   as the window has a free slot; a slice of every window
//!   ([`ChannelConfig::page_reserve`]) is kept for pages, so tickets sent
//!   earlier never use the slots a page needs (as long as pages stay within
//!   the reserve);
//! - **tickets and info** go alone while their share of the window lasts;
//!   when more are waiting than there are slots, all of them (up to
//!   `max_digest`) go as **one digest** message in one slot;
//! - a batch that **fails** (the sender's retries exhausted) moves each of
//!   its messages to the next channel of that message's route, and every
//!   [`Outcome`] says which channel delivered it (alone or in which digest)
//!   and which channels failed with what error, for the incident timeline.
//!
//! Every message ends in exactly one outcome. The driver around it
//! ([`crate::driver`]) does the sending and the sleeping.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::message::{Message, Severity};
use crate::render::Provider;

/// At most `messages` messages per sliding `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budget {
    /// Messages per window (at least 1).
    pub messages: u32,
    /// The window.
    pub window: Duration,
}

impl Budget {
    /// The provider's documented limit: DingTalk and WeCom 20 a minute,
    /// Lark 100 a minute, Slack about one a second (60 a minute); 60 a
    /// minute for Seawall's webhook.
    pub fn for_provider(provider: Provider) -> Self {
        let messages = match provider {
            Provider::DingTalk | Provider::WeCom => 20,
            Provider::Lark => 100,
            Provider::Slack | Provider::Webhook => 60,
        };
        Self {
            messages,
            window: Duration::from_secs(60),
        }
    }
}

/// One channel's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelConfig {
    /// Messages per window.
    pub budget: Budget,
    /// Slots per window only pages may use (less than the budget, so
    /// tickets always have one).
    pub page_reserve: u32,
}

impl ChannelConfig {
    /// `budget` with a quarter of it (rounded up) kept for pages.
    pub fn new(budget: Budget) -> Self {
        let messages = budget.messages.max(1);
        Self {
            budget: Budget { messages, ..budget },
            page_reserve: messages.div_ceil(4).min(messages - 1),
        }
    }

    /// The provider's budget ([`Budget::for_provider`]).
    pub fn for_provider(provider: Provider) -> Self {
        Self::new(Budget::for_provider(provider))
    }

    fn ticket_cap(&self) -> usize {
        let cap = self
            .budget
            .messages
            .saturating_sub(self.page_reserve)
            .max(1);
        usize::try_from(cap).unwrap_or(usize::MAX)
    }

    fn total_cap(&self) -> usize {
        usize::try_from(self.budget.messages.max(1)).unwrap_or(usize::MAX)
    }
}

/// A submitted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MessageId(pub u64);

/// One message handed to a channel (a message alone or a digest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BatchId(pub u64);

/// What to send now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// Its id, for [`Dispatcher::complete`].
    pub id: BatchId,
    /// The channel.
    pub channel: String,
    /// The messages it carries, oldest first (one, or a digest's).
    pub messages: Vec<MessageId>,
    /// The message to send: the one message, or the digest of them all.
    pub message: Message,
}

impl Batch {
    /// Whether it is a digest of several messages.
    pub fn is_digest(&self) -> bool {
        self.messages.len() > 1
    }
}

/// A channel that failed a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The channel.
    pub channel: String,
    /// Its error (the sender's, or "unknown channel").
    pub error: String,
}

/// How a message ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A channel took it.
    Delivered {
        /// The message.
        id: MessageId,
        /// The channel that took it.
        channel: String,
        /// The digest it went in, if it did not go alone.
        digest: Option<BatchId>,
        /// Channels that failed it first, in order.
        failures: Vec<Failure>,
    },
    /// Every channel of its route failed it.
    Failed {
        /// The message.
        id: MessageId,
        /// Each channel's failure, in route order.
        failures: Vec<Failure>,
    },
}

impl Outcome {
    /// The message.
    pub fn id(&self) -> MessageId {
        match self {
            Outcome::Delivered { id, .. } | Outcome::Failed { id, .. } => *id,
        }
    }
}

#[derive(Debug)]
struct Item {
    message: Message,
    route: Vec<String>,
    hop: usize,
    failures: Vec<Failure>,
}

#[derive(Debug)]
struct ChannelState {
    config: ChannelConfig,
    /// Send times in the current window, oldest first, and whether each
    /// was a page.
    sent: VecDeque<(Duration, bool)>,
    pages: VecDeque<MessageId>,
    others: VecDeque<MessageId>,
}

impl ChannelState {
    fn prune(&mut self, now: Duration) {
        let window = self.config.budget.window;
        while self.sent.front().is_some_and(|(t, _)| *t + window <= now) {
            self.sent.pop_front();
        }
    }

    fn tickets_in_window(&self) -> usize {
        self.sent.iter().filter(|(_, page)| !page).count()
    }

    /// Slots tickets may use now.
    fn ticket_slots(&self) -> usize {
        let total = self.config.total_cap().saturating_sub(self.sent.len());
        let tickets = self
            .config
            .ticket_cap()
            .saturating_sub(self.tickets_in_window());
        total.min(tickets)
    }
}

/// The queues of every channel.
#[derive(Debug)]
pub struct Dispatcher {
    channels: BTreeMap<String, ChannelState>,
    items: HashMap<MessageId, Item>,
    in_flight: HashMap<BatchId, (String, Vec<MessageId>)>,
    outcomes: Vec<Outcome>,
    max_digest: usize,
    next_message: u64,
    next_batch: u64,
}

impl Dispatcher {
    /// Queues for `channels` (id and limits); a digest carries at most
    /// `max_digest` messages (at least 2).
    pub fn new(
        channels: impl IntoIterator<Item = (String, ChannelConfig)>,
        max_digest: usize,
    ) -> Self {
        Self {
            channels: channels
                .into_iter()
                .map(|(id, config)| {
                    let state = ChannelState {
                        config,
                        sent: VecDeque::new(),
                        pages: VecDeque::new(),
                        others: VecDeque::new(),
                    };
                    (id, state)
                })
                .collect(),
            items: HashMap::new(),
            in_flight: HashMap::new(),
            outcomes: Vec::new(),
            max_digest: max_digest.max(2),
            next_message: 0,
            next_batch: 0,
        }
    }

    /// Queues `message` for the first channel of `route`, then the next
    /// ones should it fail there. A route naming no known channel fails
    /// the message at once.
    pub fn submit(&mut self, message: Message, route: Vec<String>) -> MessageId {
        let id = MessageId(self.next_message);
        self.next_message += 1;
        let item = Item {
            message,
            route,
            hop: 0,
            failures: Vec::new(),
        };
        self.items.insert(id, item);
        self.enqueue(id);
        id
    }

    /// Puts `id` on the queue of its route's current channel (skipping
    /// unknown channels), or ends it as failed.
    fn enqueue(&mut self, id: MessageId) {
        let Some(item) = self.items.get_mut(&id) else {
            return;
        };
        while let Some(channel) = item.route.get(item.hop) {
            if let Some(state) = self.channels.get_mut(channel) {
                if item.message.severity == Severity::Page {
                    state.pages.push_back(id);
                } else {
                    state.others.push_back(id);
                }
                return;
            }
            item.failures.push(Failure {
                channel: channel.clone(),
                error: "unknown channel".to_owned(),
            });
            item.hop += 1;
        }
        if let Some(item) = self.items.remove(&id) {
            self.outcomes.push(Outcome::Failed {
                id,
                failures: item.failures,
            });
        }
    }

    /// What to send at `now`: pages first, alone, while the window has
    /// room; then tickets alone, or one digest when more wait than their
    /// share of the window has room for.
    pub fn poll(&mut self, now: Duration) -> Vec<Batch> {
        let mut batches = Vec::new();
        let ids: Vec<String> = self.channels.keys().cloned().collect();
        for channel in ids {
            let mut groups: Vec<Vec<MessageId>> = Vec::new();
            if let Some(state) = self.channels.get_mut(&channel) {
                state.prune(now);
                while state.sent.len() < state.config.total_cap() {
                    let Some(id) = state.pages.pop_front() else {
                        break;
                    };
                    state.sent.push_back((now, true));
                    groups.push(vec![id]);
                }
                // Nothing of lower severity goes while a page waits.
                let slots = state.ticket_slots();
                if state.pages.is_empty() && slots > 0 && !state.others.is_empty() {
                    if state.others.len() <= slots {
                        while let Some(id) = state.others.pop_front() {
                            state.sent.push_back((now, false));
                            groups.push(vec![id]);
                        }
                    } else {
                        let n = state.others.len().min(self.max_digest);
                        state.sent.push_back((now, false));
                        groups.push(state.others.drain(..n).collect());
                    }
                }
            }
            for messages in groups {
                batches.push(self.batch(&channel, messages));
            }
        }
        batches
    }

    fn batch(&mut self, channel: &str, messages: Vec<MessageId>) -> Batch {
        let id = BatchId(self.next_batch);
        self.next_batch += 1;
        let found: Vec<&Message> = messages
            .iter()
            .filter_map(|m| self.items.get(m).map(|i| &i.message))
            .collect();
        let message = match found.as_slice() {
            [one] => (*one).clone(),
            many => Message::digest(many),
        };
        self.in_flight
            .insert(id, (channel.to_owned(), messages.clone()));
        Batch {
            id,
            channel: channel.to_owned(),
            messages,
            message,
        }
    }

    /// The sender's answer for `batch`: delivered, or the error after its
    /// retries (each message moves on to its route's next channel).
    pub fn complete(&mut self, batch: BatchId, result: Result<(), String>) {
        let Some((channel, messages)) = self.in_flight.remove(&batch) else {
            return;
        };
        let digest = (messages.len() > 1).then_some(batch);
        for id in messages {
            match &result {
                Ok(()) => {
                    if let Some(item) = self.items.remove(&id) {
                        self.outcomes.push(Outcome::Delivered {
                            id,
                            channel: channel.clone(),
                            digest,
                            failures: item.failures,
                        });
                    }
                }
                Err(error) => {
                    if let Some(item) = self.items.get_mut(&id) {
                        item.failures.push(Failure {
                            channel: channel.clone(),
                            error: error.clone(),
                        });
                        item.hop += 1;
                    }
                    self.enqueue(id);
                }
            }
        }
    }

    /// When [`Dispatcher::poll`] may next have something to send (a slot
    /// frees on a channel with messages waiting); `None` when nothing
    /// waits.
    pub fn next_wake(&self) -> Option<Duration> {
        let window_of = |s: &ChannelState, t: Duration| t + s.config.budget.window;
        self.channels
            .values()
            .filter_map(|s| {
                let oldest = s.sent.front().map(|(t, _)| window_of(s, *t));
                if !s.pages.is_empty() {
                    return oldest;
                }
                if s.others.is_empty() {
                    return None;
                }
                let full = s.sent.len() >= s.config.total_cap();
                let tickets_full = s.tickets_in_window() >= s.config.ticket_cap();
                let oldest_ticket = s
                    .sent
                    .iter()
                    .find(|(_, page)| !page)
                    .map(|(t, _)| window_of(s, *t));
                match (full, tickets_full) {
                    (true, true) => oldest.max(oldest_ticket),
                    (true, false) => oldest,
                    (false, true) => oldest_ticket,
                    (false, false) => oldest,
                }
            })
            .min()
    }

    /// Outcomes since the last call, in the order they ended.
    pub fn drain_outcomes(&mut self) -> Vec<Outcome> {
        std::mem::take(&mut self.outcomes)
    }

    /// Messages not yet ended (queued or in flight).
    pub fn unfinished(&self) -> usize {
        self.items.len()
    }

    /// Batches handed out and not completed.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Pages and other messages waiting on `channel`.
    pub fn waiting(&self, channel: &str) -> (usize, usize) {
        self.channels
            .get(channel)
            .map_or((0, 0), |s| (s.pages.len(), s.others.len()))
    }

    /// Messages sent on `channel` in the window ending at `now` (as of the
    /// last poll).
    pub fn sent_in_window(&self, channel: &str, now: Duration) -> usize {
        self.channels.get(channel).map_or(0, |s| {
            let window = s.config.budget.window;
            s.sent.iter().filter(|(t, _)| *t + window > now).count()
        })
    }

    /// The limits of `channel`.
    pub fn config(&self, channel: &str) -> Option<ChannelConfig> {
        self.channels.get(channel).map(|s| s.config)
    }
}
