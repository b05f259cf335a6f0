//! The pager (`docs/respond.md#paging`): the background task that pages
//! whatever escalation step is due and hands each page to the plan's
//! on-call channels through seawall-notify.
//!
//! Why a module of its own: the incident model and its store writes live
//! in the parent; this is the part that talks to the outside (channels,
//! their fallbacks, signed acknowledgement links), kept apart so that it
//! can change without touching the incident rules.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use seawall_notify::{Failure, Message, MessageId, Notifier, Outcome};
use seawall_plan::Plan;
use seawall_respond::incident::{EntryKind, Severity};
use seawall_store::Ctx;
use serde_json::json;
use tokio::sync::{mpsc, oneshot};

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
            let entries = timeline_of(&outcome, &who);
            if !matches!(outcome, Ok(Outcome::Delivered { .. })) {
                tracing::warn!(incident = id, "page failed on every channel: {entries:?}");
            }
            let recorded = change(&state, &ctx, id, |incident, _| {
                for (kind, text) in &entries {
                    incident.record(at, *kind, PAGER, text.clone());
                }
                let last = entries.last().map_or(EntryKind::PageFailed, |e| e.0);
                Ok(("incident.updated", json!({"page": kind_name(last)})))
            })
            .await;
            if let Err(e) = recorded {
                tracing::warn!(incident = id, "the page's outcome was not recorded: {e}");
            }
        });
    }
    Ok(sent)
}

/// What a page's outcome writes into the timeline: each channel that
/// failed it (`page_failed on X: why, fell back to Y`), then `page sent
/// via Y to who`, or that every channel failed.
fn timeline_of(outcome: &Result<Outcome, String>, who: &str) -> Vec<(EntryKind, String)> {
    let (failures, delivered) = match outcome {
        Err(e) => {
            return vec![(EntryKind::PageFailed, format!("page to {who} failed: {e}"))];
        }
        Ok(Outcome::Delivered {
            channel, failures, ..
        }) => (failures, Some(channel)),
        Ok(Outcome::Failed { failures, .. }) => (failures, None),
    };
    let mut entries = Vec::new();
    for (n, f) in failures.iter().enumerate() {
        let next = failures
            .get(n + 1)
            .map(|g| &g.channel)
            .or(delivered)
            .map_or_else(String::new, |c| format!(", fell back to {c}"));
        entries.push((
            EntryKind::PageFailed,
            format!("page_failed on {}: {}{next}", f.channel, f.error),
        ));
    }
    match delivered {
        Some(channel) => entries.push((
            EntryKind::Paged,
            format!("page sent via {channel} to {who}"),
        )),
        None => entries.push((
            EntryKind::PageFailed,
            format!("page to {who} failed on every on-call channel"),
        )),
    }
    entries
}

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
}

/// One event's driver.
struct Queue {
    /// What the driver was made from (channel kinds, URLs and secret
    /// references, allowed hosts).
    made_from: String,
    notifier: Notifier,
    /// The plan's channels that cannot be used, with why (an unresolvable
    /// secret reference), in plan order.
    unusable: Vec<Failure>,
    /// The usable channels, in plan order: every page's route.
    route: Vec<String>,
    ended: Arc<std::sync::Mutex<HashMap<MessageId, Slot>>>,
}

/// A message's outcome, or who waits for it.
enum Slot {
    Waiting(oneshot::Sender<Outcome>),
    Ended(Outcome),
}

impl Queues {
    /// The driver for `event_id` with `plan`'s channels, started if the
    /// plan's channels differ from the running one's.
    fn for_plan(&self, event_id: i64, plan: &Plan) -> Arc<Queue> {
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
        let allow = plan
            .emergency
            .allow_hosts
            .iter()
            .filter_map(|h| seawall_plan::outbound::parse_allow(h).ok())
            .collect();
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
    async fn page(&self, message: Message) -> Result<Outcome, String> {
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

    fn with_unusable(&self, mut outcome: Outcome) -> Outcome {
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

/// Send a page about incident `id` through the event's queue: to the
/// plan's first on-call channel, falling back to the next ones in plan
/// order, mentioning the paged people's phones; how it ended, or why it
/// could not be queued.
async fn send_page(
    state: &AppState,
    event_id: i64,
    id: i64,
    title: &str,
    severity: Severity,
    people: &[String],
) -> Result<Outcome, String> {
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
    if plan.oncall.channels.is_empty() {
        return Err("the plan has no on-call channel".to_owned());
    }
    let names: Vec<&str> = people
        .iter()
        .map(|p| plan.people.get(p).map_or(p.as_str(), |x| x.name.as_str()))
        .collect();
    let mut msg = Message::new(
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
    let queue = state.page_queues().for_plan(event_id, &plan);
    if queue.route.is_empty() {
        return Ok(queue.with_unusable(Outcome::Failed {
            id: MessageId(0),
            failures: Vec::new(),
        }));
    }
    queue.page(msg).await
}
