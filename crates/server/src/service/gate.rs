//! The change gate's question asked and recorded (`check`), and what the
//! gate, the exceptions and the pages share: an event's current plan
//! parsed once, stored exceptions in the gate's terms, and times. The
//! gate's records are written by [`super::gate_writer`].
//!
//! A burst of pipelines asks the gate a thousand times a second, and
//! between two changes every check would read the same events, plan
//! versions and exceptions. [`GateCache`] (`service::gate_cache`) keeps
//! those reads (`cached_events` makes them) and drops
//! them all when this replica changes anything the gate depends on (every
//! such change calls [`AppState::notify_change`]; the cache compares
//! [`AppState::change_generation`]), and at the latest after
//! [`GATE_CACHE_AGE`], so a change made through another replica on the
//! same database is in this replica's answers within that. Exceptions are
//! kept with their times and judged at each check's instant, so an
//! exception that expires is refused from its end on, cached or not.

use std::sync::Arc;

use jiff::Timestamp;
pub use seawall_api::gate::{GateAnswer, GateCheck, GateWindow};
use seawall_plan::Plan;
use seawall_plan::gate::FreezeException;
use seawall_store::{Millis, NewChangeRecord, Role};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::service::events;
use crate::service::gate_cache::EventReads;
pub use crate::service::gate_cache::{GATE_CACHE_AGE, GateCache};
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

/// The events a check asks about (`asked`, or every event) with their
/// current plans and exceptions: from [`GateCache`] unless this replica
/// changed something since, or its reads are older than
/// [`GATE_CACHE_AGE`].
pub(crate) async fn cached_events(
    state: &AppState,
    asked: Option<&str>,
) -> Result<Vec<(seawall_store::Event, Arc<EventReads>)>, ApiError> {
    let cache = state.gate_cache();
    let mut cached = cache.current(|| state.change_generation()).await;
    let events = match asked {
        Some(slug) => match cached.by_slug.get(slug) {
            Some(event) => vec![event.clone()],
            None => {
                cache.count(1);
                let event = events::find(state, slug).await?;
                cached.by_slug.insert(slug.to_owned(), event.clone());
                vec![event]
            }
        },
        None => match &cached.all {
            Some(all) => all.clone(),
            None => {
                cache.count(1);
                let all = state.store.events().await?;
                cached.all = Some(all.clone());
                all
            }
        },
    };
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        let reads = match cached.events.get(&event.id) {
            Some(reads) => Arc::clone(reads),
            None => {
                cache.count(2);
                let plan = current_plan(state, &event).await?;
                let exceptions = state
                    .store
                    .exceptions(event.id)
                    .await?
                    .iter()
                    .map(to_gate_exception)
                    .collect::<Result<Vec<_>, _>>()?;
                let reads = Arc::new(EventReads { plan, exceptions });
                cached.events.insert(event.id, Arc::clone(&reads));
                reads
            }
        };
        out.push((event, reads));
    }
    Ok(out)
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
    let events = cached_events(state, asked).await?;
    let now_ms = state.now();
    let now = ts(now_ms)?;
    let kind = ask.kind;
    // The first event whose plan freezes the change decides; with none,
    // the first event with a plan (or none) is named.
    let mut decided: Option<(seawall_store::Event, i64, seawall_plan::gate::GateDecision)> = None;
    let mut known = false;
    for (event, reads) in events {
        let Some((version, plan)) = &reads.plan else {
            continue;
        };
        let version = *version;
        known |= plan.services.contains_key(service);
        let decision = seawall_plan::gate::gate(plan, service, kind, now, &reads.exceptions);
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
    // A change record changes nothing the gate or the rule polls read, so
    // it does not call `notify_change` (that would drop the gate's cache
    // on every check).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::exceptions::{RequestException, decide, request_exception};
    use crate::state::ManualClock;
    use seawall_api::ChangeKind;
    use seawall_store::{Ctx, NewEvent, NewPlanVersion, NewToken, StoreSpec};

    /// 2026-10-24T18:00:00Z.
    const T0: Millis = 1_792_864_800_000;

    fn plan(frozen: bool) -> String {
        let freeze = if frozen {
            "freeze:\n  windows:\n    sale:\n      start: \"2026-10-24T17:00\"\n      end: \"2026-10-25T04:00\"\n"
        } else {
            ""
        };
        format!(
            "event: {{name: Sale, timezone: UTC}}
organization:
  business_lines:
    bike: {{name: Bike, services: [order-api]}}
goals:
  orders: {{total: 360000, peak_hour_share: 0.1, peak_factor: 1.0}}
traffic:
  journeys:
    ride:
      goal: orders
      steps:
        - {{entry: create-order}}
entries:
  create-order: {{service: order-api, method: POST, path: /api/orders}}
services:
  order-api: {{line: bike, tier: frontend, instances: 2, capacity_per_instance: 10}}
{freeze}"
        )
    }

    /// Two replicas (each with its own cache) on one database, on one
    /// hand-set clock, with event `sale` and a commander.
    async fn replicas() -> (
        tempfile::TempDir,
        ManualClock,
        AppState,
        AppState,
        Auth,
        Auth,
        i64,
    ) {
        let dir = tempfile::tempdir().expect("dir");
        let store = seawall_store::open(&StoreSpec::Sqlite(dir.path().join("s.db")))
            .await
            .expect("store");
        let clock = ManualClock::new(T0);
        let a = AppState::new(Arc::clone(&store), dir.path()).with_clock(clock.clock());
        let b = AppState::new(store, dir.path()).with_clock(clock.clock());
        let ctx = Ctx::new("setup", T0);
        let mut auths = Vec::new();
        for (name, role) in [("lin", Role::Commander), ("zhou", Role::Oncall)] {
            let token = a
                .store
                .create_token(
                    &ctx,
                    &NewToken {
                        name: name.into(),
                        role,
                        business_line: None,
                        secret_sha256: seawall_store::sha256_hex(name.as_bytes()),
                        expires_ms: None,
                        service: None,
                        event: None,
                    },
                )
                .await
                .expect("token");
            auths.push(crate::auth::Auth::from_token(&a, token).expect("auth"));
        }
        let oncall = auths.pop().expect("on-call");
        let auth = auths.pop().expect("commander");
        let event = a
            .store
            .create_event(
                &ctx,
                &NewEvent {
                    slug: "sale".into(),
                    name: "Sale".into(),
                },
            )
            .await
            .expect("event");
        (dir, clock, a, b, auth, oncall, event.id)
    }

    /// A plan push as the API makes it (stored, then the change signal).
    async fn push(state: &AppState, event: i64, frozen: bool) {
        state
            .store
            .push_plan(
                &state.ctx("lin"),
                event,
                &NewPlanVersion {
                    file_name: "plan.yaml".into(),
                    text: plan(frozen),
                },
            )
            .await
            .expect("plan");
        state.notify_change();
    }

    async fn allowed(state: &AppState, auth: &Auth) -> bool {
        let ask = GateCheck {
            service: "order-api".into(),
            kind: ChangeKind::Release,
            actor: None,
            change_ref: None,
            event: Some("sale".into()),
        };
        check(state, auth, &ask).await.expect("check").allowed
    }

    /// Between changes the gate reads nothing; every change through the
    /// replica shows in its very next answer; an approved exception stops
    /// letting changes through at its end with nothing else changing; a
    /// change through another replica shows there within GATE_CACHE_AGE.
    #[tokio::test]
    async fn answers_come_from_the_cache_and_follow_every_change() {
        let (_dir, clock, a, b, auth, oncall, event) = replicas().await;
        // No plan yet: allowed. A frozen plan pushed: refused at once.
        assert!(allowed(&a, &auth).await);
        push(&a, event, true).await;
        assert!(!allowed(&a, &auth).await, "the push shows at once");
        let reads = a.gate_cache().reads();
        for _ in 0..50 {
            assert!(!allowed(&a, &auth).await);
        }
        assert_eq!(a.gate_cache().reads(), reads, "no reads between changes");

        // An exception: pending refuses, approved lets through at once.
        let req = RequestException {
            services: vec!["order-api".into()],
            kinds: vec![ChangeKind::Release],
            start: "2026-10-24T18:00:00Z".into(),
            end: "2026-10-24T19:00:00Z".into(),
            reason: "hotfix".into(),
        };
        let e = request_exception(&a, &oncall, "sale", &req)
            .await
            .expect("request");
        assert!(!allowed(&a, &auth).await, "pending");
        assert!(!allowed(&b, &auth).await, "pending, on the other replica");
        decide(a.clone(), auth.clone(), e.id, true, None)
            .await
            .expect("approve");
        assert!(allowed(&a, &auth).await, "approved: through at once");

        // Expiry is the exception's end, not a change: refused from then on.
        clock.set(T0 + 3_600_000 - 1);
        assert!(allowed(&a, &auth).await, "a millisecond before its end");
        clock.set(T0 + 3_600_000);
        assert!(!allowed(&a, &auth).await, "at its end");
        clock.set(T0);

        // The other replica learns the approval within GATE_CACHE_AGE.
        tokio::time::sleep(GATE_CACHE_AGE).await;
        assert!(allowed(&b, &auth).await, "approved, on the other replica");

        // A plan without the freeze, then with it again: at once each time.
        push(&a, event, false).await;
        assert!(allowed(&a, &auth).await, "unfrozen at once");
        push(&a, event, true).await;
        assert!(
            allowed(&a, &auth).await,
            "frozen, the approved exception still applies"
        );
        clock.set(T0 + 3_600_000);
        assert!(!allowed(&a, &auth).await, "frozen, the exception expired");
    }
}
