//! The pager (`docs/respond.md#paging`): the background task that pages
//! whatever escalation step is due and hands each page to the plan's
//! on-call channels through seawall-notify.
//!
//! Why a module of its own: the incident model and its store writes live
//! in the parent; this is the part that talks to the outside (channels,
//! their fallbacks, signed acknowledgement links), kept apart so that it
//! can change without touching the incident rules.

use std::sync::Arc;
use std::time::Duration;

use seawall_notify::{Message, MessageId, Outcome};
use seawall_respond::incident::{EntryKind, Severity};
use seawall_store::Ctx;
use serde_json::json;

use super::{PAGER, change, current_plan, decode, kind_name, write};
use crate::error::ApiError;
use crate::state::AppState;

pub mod queues;

pub use queues::{LINK_KEY_FILE, LINK_KEY_MIN, LINK_TTL_MS, check_key};

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
    msg.ack_url = match ack_url(state, event_id, id, people) {
        Ok(url) => url,
        Err(e) => {
            tracing::warn!(incident = id, "the page goes without its ack link: {e}");
            None
        }
    };
    let queue = state.page_queues().for_plan(event_id, &plan);
    if queue.route.is_empty() {
        return Ok(queue.with_unusable(Outcome::Failed {
            id: MessageId(0),
            failures: Vec::new(),
        }));
    }
    queue.page(msg).await
}

/// What a signed link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    /// Acknowledge incident `n`.
    Ack,
    /// Approve emergency run `n` as the commander the link names.
    Approve,
}

impl LinkKind {
    fn as_str(self) -> &'static str {
        match self {
            LinkKind::Ack => "ack",
            LinkKind::Approve => "approve",
        }
    }
}

/// A signed link's contents: `{kind}.{event}.{n}.{person}.{expiry}.{tag}`,
/// the tag HMAC-SHA256 (key: the link key) over `seawall-link-v1:` and
/// everything before it. Person ids are plan ids (letters, digits, `-`,
/// `_`); an ack link names the paged people joined by `+`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// What it does.
    pub kind: LinkKind,
    /// The event's id.
    pub event_id: i64,
    /// The incident (ack) or run (approve) number.
    pub n: i64,
    /// Who it was sent to.
    pub person: String,
    /// When it stops working, Unix seconds.
    pub expires_secs: i64,
}

/// Why a link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a link this server makes.
    #[error("this is not a Seawall link")]
    Malformed,
    /// The tag does not match: changed, or signed with another key.
    #[error("this link's signature does not match (changed, or from another server)")]
    Forged,
    /// Past its expiry.
    #[error("this link expired")]
    Expired,
}

impl Link {
    fn signed_part(&self) -> String {
        format!(
            "{}.{}.{}.{}.{}",
            self.kind.as_str(),
            self.event_id,
            self.n,
            self.person,
            self.expires_secs
        )
    }

    /// The token: the fields and their tag.
    pub fn sign(&self, key: &[u8]) -> String {
        let part = self.signed_part();
        let tag = seawall_notify::sign::hmac_hex(key, format!("seawall-link-v1:{part}").as_bytes());
        format!("{part}.{tag}")
    }

    /// Reads `token` signed with `key`, at `now_ms`.
    pub fn verify(key: &[u8], token: &str, now_ms: i64) -> Result<Link, LinkError> {
        if token.len() > 512 {
            return Err(LinkError::Malformed);
        }
        let (part, tag) = token.rsplit_once('.').ok_or(LinkError::Malformed)?;
        if !seawall_notify::sign::verify_hmac_hex(
            key,
            format!("seawall-link-v1:{part}").as_bytes(),
            tag,
        ) {
            return Err(LinkError::Forged);
        }
        let fields: Vec<&str> = part.split('.').collect();
        let [kind, event, n, person, expires] = fields[..] else {
            return Err(LinkError::Malformed);
        };
        let kind = match kind {
            "ack" => LinkKind::Ack,
            "approve" => LinkKind::Approve,
            _ => return Err(LinkError::Malformed),
        };
        let number = |t: &str| t.parse::<i64>().map_err(|_| LinkError::Malformed);
        let link = Link {
            kind,
            event_id: number(event)?,
            n: number(n)?,
            person: person.to_owned(),
            expires_secs: number(expires)?,
        };
        if now_ms / 1000 >= link.expires_secs {
            return Err(LinkError::Expired);
        }
        Ok(link)
    }
}

/// Whether `id` may go into a link (plan ids do).
fn linkable(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The URL of a signed link, or none without a public URL.
pub(crate) fn link_url(state: &AppState, link: &Link) -> Result<Option<String>, ApiError> {
    let queues = state.page_queues();
    let Some(base) = queues.public_url() else {
        return Ok(None);
    };
    let key = queues.key(state.data_dir())?;
    Ok(Some(format!("{base}/ack/{}", link.sign(key))))
}

/// The ack link of a page of incident `n` to `people`.
fn ack_url(
    state: &AppState,
    event_id: i64,
    n: i64,
    people: &[String],
) -> Result<Option<String>, ApiError> {
    let people: Vec<&str> = people
        .iter()
        .map(String::as_str)
        .filter(|p| linkable(p))
        .collect();
    let link = Link {
        kind: LinkKind::Ack,
        event_id,
        n,
        person: people.join("+"),
        expires_secs: (state.now() + LINK_TTL_MS) / 1000,
    };
    link_url(state, &link)
}

/// What a link's confirm page shows.
#[derive(Debug, Clone)]
pub struct LinkView {
    /// The link.
    pub link: Link,
    /// The event's slug.
    pub slug: String,
    /// The incident's title.
    pub title: String,
    /// The incident's status.
    pub status: String,
}

/// Reads `token`; a refused one is audited (`link.refused`, with why)
/// and answered 403.
async fn checked(state: &AppState, token: &str) -> Result<Link, ApiError> {
    let key = state.page_queues().key(state.data_dir())?.to_vec();
    match Link::verify(&key, token, state.now()) {
        Ok(link) => Ok(link),
        Err(e) => Err(refuse(state, &e.to_string(), token).await),
    }
}

async fn refuse(state: &AppState, why: &str, token: &str) -> ApiError {
    // The token's fields without its tag: what was tried, not a credential.
    let tried = token.rsplit_once('.').map_or("", |(part, _)| part);
    let audit = seawall_store::NewAudit {
        action: "link.refused".to_owned(),
        target: "link".to_owned(),
        detail: json!({"why": why, "link": tried.chars().take(200).collect::<String>()}),
    };
    if let Err(e) = state
        .store
        .append_audit(&Ctx::new("link", state.now()), &audit)
        .await
    {
        tracing::warn!("a refused link was not audited: {e}");
    }
    ApiError::Forbidden {
        message: why.to_owned(),
        allowed: Vec::new(),
    }
}

/// The incident a verified ack link names, checked to be of the link's
/// event (a link cannot be moved to another event's incident).
async fn linked_incident(
    state: &AppState,
    link: &Link,
    token: &str,
) -> Result<(String, super::Loaded), ApiError> {
    let found = match state.store.incident(link.n).await? {
        Some(stored) if stored.event_id == link.event_id => Some(stored),
        _ => None,
    };
    let Some(stored) = found else {
        return Err(refuse(state, "this link names no incident of its event", token).await);
    };
    let slug = state
        .store
        .events()
        .await?
        .into_iter()
        .find(|e| e.id == link.event_id)
        .map(|e| e.slug)
        .ok_or_else(|| ApiError::not_found(format!("event {}", link.event_id)))?;
    Ok((slug, decode(stored)?))
}

/// What the ack link `token` would do (the confirm page): nothing changes.
pub(crate) async fn open_link(state: &AppState, token: &str) -> Result<LinkView, ApiError> {
    let link = checked(state, token).await?;
    if link.kind != LinkKind::Ack {
        return Err(refuse(state, "this link does not acknowledge an incident", token).await);
    }
    let (slug, l) = linked_incident(state, &link, token).await?;
    Ok(LinkView {
        slug,
        title: l.incident.title.clone(),
        status: l.incident.status.as_str().to_owned(),
        link,
    })
}

/// Follow the ack link `token` (its POST): the incident is acknowledged
/// by `link:` and the paged people the link names.
pub(crate) async fn follow_link(state: &AppState, token: &str) -> Result<LinkView, ApiError> {
    let view = open_link(state, token).await?;
    let actor = if view.link.person.is_empty() {
        "link".to_owned()
    } else {
        format!("link:{}", view.link.person)
    };
    let i = super::acknowledge(state, &actor, &view.slug, view.link.n).await?;
    Ok(LinkView {
        status: i.status,
        ..view
    })
}

/// A press of a page's Acknowledge button in Slack: the request's
/// `X-Slack-Request-Timestamp`, `X-Slack-Signature` and raw body. The
/// signing secret is the `secret_env` of a Slack channel of the plan of
/// the incident the button names (a Slack app's signing secret; incoming
/// webhooks themselves are unsigned); the request must be signed with it
/// within five minutes of now (seawall-notify's `verify_ack`). The
/// incident is acknowledged by `slack:` and the user's name. A refused
/// request is audited (`im.refused`) and answered 401.
pub(crate) async fn slack_ack(
    state: &AppState,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(i64, String, String), ApiError> {
    let refuse_im = |why: String| async move {
        let audit = seawall_store::NewAudit {
            action: "im.refused".to_owned(),
            target: "slack".to_owned(),
            detail: json!({"why": why}),
        };
        if let Err(e) = state
            .store
            .append_audit(&Ctx::new("slack", state.now()), &audit)
            .await
        {
            tracing::warn!("a refused Slack request was not audited: {e}");
        }
        ApiError::Unauthorized {
            code: "unauthorized",
            message: why,
        }
    };
    // Read (unverified) only to find whose secret signs it.
    let claimed = match seawall_notify::slack::parse_ack(body) {
        Ok(a) => a,
        Err(e) => return Err(refuse_im(e.to_string()).await),
    };
    let Some(stored) = (match claimed.incident_id.parse::<i64>() {
        Ok(n) => state.store.incident(n).await?,
        Err(_) => None,
    }) else {
        return Err(refuse_im(format!("no incident `{}`", claimed.incident_id)).await);
    };
    let event = state
        .store
        .events()
        .await?
        .into_iter()
        .find(|e| e.id == stored.event_id)
        .ok_or_else(|| ApiError::not_found(format!("event {}", stored.event_id)))?;
    let Some(plan) = current_plan(state, &event).await? else {
        return Err(refuse_im(format!("event `{}` has no plan", event.slug)).await);
    };
    let secrets: Vec<seawall_notify::Secret> = plan
        .oncall
        .channels
        .iter()
        .filter(|c| c.kind == "slack")
        .filter_map(|c| seawall_notify::Channel::from_plan(c, &|n| std::env::var(n).ok()).ok())
        .filter_map(|c| c.secret)
        .collect();
    if secrets.is_empty() {
        return Err(refuse_im(format!(
            "event `{}` has no Slack channel with a signing secret (secret_env)",
            event.slug
        ))
        .await);
    }
    let request = seawall_notify::sign::Signed {
        timestamp,
        signature,
        body,
    };
    let now_secs = state.now() / 1000;
    let mut last = String::new();
    let mut pressed = None;
    for secret in &secrets {
        match seawall_notify::slack::verify_ack(secret.expose(), request, now_secs) {
            Ok(a) => {
                pressed = Some(a);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let Some(pressed) = pressed else {
        return Err(refuse_im(last).await);
    };
    let who = pressed.user_name.as_deref().unwrap_or(&pressed.user_id);
    let actor = format!("slack:{who}");
    let i = super::acknowledge(state, &actor, &event.slug, stored.id).await?;
    Ok((stored.id, actor, i.status))
}

/// Run `n` of event `event_id` waits for approval: the plan's on-call
/// channels get one message naming, for each commander of emergency plan
/// `plan_id` but the requester (the guarantee group and the plan's
/// owner), a signed `approve` link of their own, which shows the run and
/// leads to its page (the approval is made there, with the commander's own
/// session: the message goes to a group). Nothing is sent without a public URL, for a
/// dry run, or when the plan needs no approval. Sent in the background;
/// failures are logged.
#[allow(clippy::too_many_arguments)]
pub(crate) fn ask_approval(
    state: &AppState,
    event_id: i64,
    slug: &str,
    plan: Arc<seawall_plan::Plan>,
    plan_id: &str,
    n: i64,
    requested_by: &str,
    dry_run: bool,
) {
    let Some(ep) = plan.emergency_plans.get(plan_id) else {
        return;
    };
    if dry_run {
        return;
    }
    if ep.approval == seawall_plan::model::Approval::None || plan.oncall.channels.is_empty() {
        return;
    }
    let mut commanders: Vec<&str> = Vec::new();
    for p in plan
        .organization
        .guarantee_group
        .iter()
        .map(String::as_str)
        .chain(ep.owner.as_deref())
    {
        if p != requested_by && linkable(p) && !commanders.contains(&p) {
            commanders.push(p);
        }
    }
    let expires_secs = (state.now() + LINK_TTL_MS) / 1000;
    let mut lines = Vec::new();
    for person in &commanders {
        let link = Link {
            kind: LinkKind::Approve,
            event_id,
            n,
            person: (*person).to_owned(),
            expires_secs,
        };
        match link_url(state, &link) {
            Ok(Some(url)) => {
                let name = plan
                    .people
                    .get(*person)
                    .map_or(*person, |p| p.name.as_str());
                lines.push(format!("Approve as {name}: {url}"));
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(run = n, "no approval links: {e}");
                return;
            }
        }
    }
    if lines.is_empty() {
        return;
    }
    let msg = Message::new(
        seawall_notify::Severity::Page,
        format!("[approval] emergency plan {plan_id}, run {n}"),
        format!(
            "Run {n} of emergency plan {plan_id} ({slug}), requested by {requested_by}, waits for approval ({}).\n{}",
            ep.approval.as_str(),
            lines.join("\n")
        ),
    );
    let queue = state.page_queues().for_plan(event_id, &plan);
    tokio::spawn(async move {
        match queue.page(msg).await {
            Ok(Outcome::Delivered { channel, .. }) => {
                tracing::info!(run = n, %channel, "approval links sent");
            }
            Ok(Outcome::Failed { failures, .. }) => {
                tracing::warn!(run = n, ?failures, "approval links not sent");
            }
            Err(e) => tracing::warn!(run = n, "approval links not sent: {e}"),
        }
    });
}

/// A verified `approve` link and the slug of its event (the caller checks
/// the run is of that event).
pub(crate) async fn open_approve_link(
    state: &AppState,
    token: &str,
) -> Result<(Link, String), ApiError> {
    let link = checked(state, token).await?;
    if link.kind != LinkKind::Approve {
        return Err(refuse(state, "this link does not approve a run", token).await);
    }
    let slug = state
        .store
        .events()
        .await?
        .into_iter()
        .find(|e| e.id == link.event_id)
        .map(|e| e.slug);
    match slug {
        Some(slug) => Ok((link, slug)),
        None => Err(refuse(state, "this link names no event", token).await),
    }
}

/// The kind of link `token` claims to be (before it is verified): which
/// page shows it.
pub(crate) fn link_kind(token: &str) -> Option<LinkKind> {
    match token.split('.').next()? {
        "ack" => Some(LinkKind::Ack),
        "approve" => Some(LinkKind::Approve),
        _ => None,
    }
}
