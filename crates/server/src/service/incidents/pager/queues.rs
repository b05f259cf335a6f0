//! The queues pages go through and the link key, kept apart from the
//! pager because the server's state holds them: this module reads
//! nothing of the state (the server's modules form a DAG), only
//! seawall-notify's driver, the plan's channels and the data directory.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use seawall_notify::{Failure, Message, MessageId, Notifier, Outcome};
use seawall_plan::Plan;
use tokio::sync::{mpsc, oneshot};

use crate::error::ApiError;

/// How hard a page tries one channel before it falls back to the next:
/// twice, a quarter second apart, each attempt bounded by 5 s, and a
/// `Retry-After` over 2 s counts as a failure there — a page is better
/// early on the second channel than late on the first.
fn page_policy() -> seawall_notify::RetryPolicy {
    seawall_notify::RetryPolicy {
        attempts: 2,
        timeout: Duration::from_secs(5),
        backoff: Duration::from_millis(250),
        max_backoff: Duration::from_secs(1),
        max_retry_after: Duration::from_secs(2),
    }
}

/// The queues pages go through: one seawall-notify driver per event,
/// made for the channels of the event's current plan (a plan whose
/// channels change gets a new one; the old one finishes what it holds and
/// ends). Each driver keeps its channels' budgets and sends pages ahead of
/// anything else, and a message a channel fails moves to the plan's next
/// channel.
#[derive(Default)]
pub(crate) struct Queues {
    by_event: std::sync::Mutex<HashMap<i64, Arc<Queue>>>,
    /// Where the server is reached from outside (`seawall serve
    /// --public-url`); without it pages carry no link.
    public_url: std::sync::OnceLock<String>,
    /// The key links are signed with (`--ack-key-file`, or made in the
    /// data directory on first use).
    link_key: std::sync::OnceLock<Vec<u8>>,
}

/// One event's driver.
pub(crate) struct Queue {
    /// What the driver was made from (channel kinds, URLs and secret
    /// references, allowed hosts).
    made_from: String,
    notifier: Notifier,
    /// The plan's channels that cannot be used, with why (an unresolvable
    /// secret reference), in plan order.
    unusable: Vec<Failure>,
    /// The usable channels, in plan order: every page's route.
    pub(crate) route: Vec<String>,
    ended: Arc<std::sync::Mutex<HashMap<MessageId, Slot>>>,
}

/// A message's outcome, or who waits for it.
enum Slot {
    Waiting(oneshot::Sender<Outcome>),
    Ended(Outcome),
}

impl Queues {
    /// Pages carry signed links to `public_url` (the server's address as
    /// people's browsers reach it, no trailing `/`), signed with `key`
    /// when given (several replicas must share one), else with the key
    /// kept in the data directory. Set once, before serving.
    pub(crate) fn set_links(&self, public_url: Option<String>, key: Option<Vec<u8>>) {
        if let Some(url) = public_url {
            let _ = self.public_url.set(url.trim_end_matches('/').to_owned());
        }
        if let Some(key) = key {
            let _ = self.link_key.set(key);
        }
    }

    /// The link key: the one set, else the data directory's `ack-key`
    /// (made on first use: 32 random bytes in hex, mode 0600).
    pub(crate) fn key(&self, data_dir: &std::path::Path) -> Result<&[u8], ApiError> {
        if let Some(k) = self.link_key.get() {
            return Ok(k);
        }
        let key = load_or_make_key(&data_dir.join(LINK_KEY_FILE))?;
        Ok(self.link_key.get_or_init(|| key))
    }

    /// The public URL, if set.
    pub(crate) fn public_url(&self) -> Option<&str> {
        self.public_url.get().map(String::as_str)
    }

    /// The driver for `event_id` with `plan`'s channels, started if the
    /// plan's channels differ from the running one's.
    pub(crate) fn for_plan(&self, event_id: i64, plan: &Plan) -> Arc<Queue> {
        let made_from = format!(
            "{:?}|{:?}",
            plan.oncall
                .channels
                .iter()
                .map(|c| (&c.id, &c.kind, &c.webhook, &c.secret_env))
                .collect::<Vec<_>>(),
            plan.emergency.allow_hosts
        );
        let mut by_event = self
            .by_event
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(q) = by_event.get(&event_id)
            && q.made_from == made_from
        {
            return Arc::clone(q);
        }
        let q = Arc::new(Queue::start(plan, made_from));
        by_event.insert(event_id, Arc::clone(&q));
        q
    }
}

impl Queue {
    fn start(plan: &Plan, made_from: String) -> Self {
        let mut channels = Vec::new();
        let mut unusable = Vec::new();
        for ch in &plan.oncall.channels {
            match seawall_notify::Channel::from_plan(ch, &|name| std::env::var(name).ok()) {
                Ok(c) => channels.push(c),
                Err(e) => unusable.push(Failure {
                    channel: ch.id.clone(),
                    error: e.to_string(),
                }),
            }
        }
        let route = channels.iter().map(|c| c.id.clone()).collect();
        // The plan check refused loopback and metadata hosts as written
        // (E080); the sender checks what each name resolves to now.
        let allow = seawall_plan::outbound::allow_list(&plan.emergency.allow_hosts);
        let sender = seawall_notify::Sender::new(page_policy()).with_host_check(allow);
        let (tx, mut rx) = mpsc::channel::<Outcome>(256);
        let (notifier, _driver) =
            seawall_notify::driver::spawn(channels, HashMap::new(), sender, tx);
        let ended: Arc<std::sync::Mutex<HashMap<MessageId, Slot>>> = Arc::default();
        let slots = Arc::clone(&ended);
        tokio::spawn(async move {
            while let Some(outcome) = rx.recv().await {
                let mut slots = slots
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match slots.remove(&outcome.id()) {
                    Some(Slot::Waiting(tx)) => {
                        let _ = tx.send(outcome);
                    }
                    _ => {
                        slots.insert(outcome.id(), Slot::Ended(outcome));
                    }
                }
            }
        });
        Self {
            made_from,
            notifier,
            unusable,
            route,
            ended,
        }
    }

    /// Queue `message` on the route and wait for its outcome (the
    /// unusable channels are counted as failed first).
    pub(crate) async fn page(&self, message: Message) -> Result<Outcome, String> {
        let id = self
            .notifier
            .submit(message, self.route.clone())
            .await
            .map_err(|e| e.to_string())?;
        let rx = {
            let mut slots = self
                .ended
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(Slot::Ended(outcome)) = slots.remove(&id) {
                return Ok(self.with_unusable(outcome));
            }
            let (tx, rx) = oneshot::channel();
            slots.insert(id, Slot::Waiting(tx));
            rx
        };
        let outcome = rx.await.map_err(|_| "the page queue stopped".to_owned())?;
        Ok(self.with_unusable(outcome))
    }

    pub(crate) fn with_unusable(&self, mut outcome: Outcome) -> Outcome {
        if self.unusable.is_empty() {
            return outcome;
        }
        let failures = match &mut outcome {
            Outcome::Delivered { failures, .. } | Outcome::Failed { failures, .. } => failures,
        };
        let mut all = self.unusable.clone();
        all.append(failures);
        *failures = all;
        outcome
    }
}

/// The file in the data directory holding the link key.
pub const LINK_KEY_FILE: &str = "ack-key";
/// How long a link in a page works: a day.
pub const LINK_TTL_MS: i64 = 24 * 3600 * 1000;
/// Shortest key accepted from `--ack-key-file`, in bytes.
pub const LINK_KEY_MIN: usize = 32;

fn load_or_make_key(path: &std::path::Path) -> Result<Vec<u8>, ApiError> {
    let internal = |what: &str, e: std::io::Error| {
        ApiError::Internal(format!("{what} the link key {}: {e}", path.display()))
    };
    match std::fs::read_to_string(path) {
        Ok(text) => return check_key(text.trim().as_bytes().to_vec()),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(internal("cannot read", e));
        }
        Err(_) => {}
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("no randomness for the link key: {e}")))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut f) => {
            std::io::Write::write_all(&mut f, hex.as_bytes())
                .map_err(|e| internal("cannot write", e))?;
            Ok(hex.into_bytes())
        }
        // Another task made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read_to_string(path)
            .map_err(|e| internal("cannot read", e))
            .and_then(|t| check_key(t.trim().as_bytes().to_vec())),
        Err(e) => Err(internal("cannot create", e)),
    }
}

/// A link key must be at least [`LINK_KEY_MIN`] bytes.
pub fn check_key(key: Vec<u8>) -> Result<Vec<u8>, ApiError> {
    if key.len() < LINK_KEY_MIN {
        return Err(ApiError::Internal(format!(
            "the link key is {} bytes; give at least {LINK_KEY_MIN}",
            key.len()
        )));
    }
    Ok(key)
}
