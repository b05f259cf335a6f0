//! The change gate: `POST /gate/check` answers "may this change go ahead
//! now?" from the events' current plans (freeze windows) and their approved
//! freeze exceptions, and records the answer as a change record either way;
//! `GET /gate/changes` lists the records for the review.
//!
//! The answer itself is `seawall_plan::gate::gate`, a pure function tested
//! across window edges, time zones and DST; this module finds the plans and
//! exceptions, asks at the server's time and records. The question is asked
//! when the deploying job runs, not when its pipeline was created
//! (docs/change-gate.md).
//!
//! A `ci` token is bound to one event: its questions are about that
//! event's plan only, and a question naming another event is refused (403).
//! A service that no consulted plan knows is allowed as before (no window
//! can name it) but the answer says so (`unknown_service`, and a sentence
//! in `reason`): it is usually a typo or a service missing from the plan.

use axum::Json;
use axum::extract::State;
pub use seawall_api::gate::{
    ChangeList, ChangeQuery, ChangeRecord, GateAnswer, GateCheck, GateWindow,
};
use seawall_store::{ChangeFilter, NewChangeRecord, Role};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::events;
use crate::auth::{Auth, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, JsonBody};
use crate::openapi::{AuthErrors, BodyErrors};
pub(crate) use crate::service::gate::{current_plan, rfc3339, to_gate_exception, ts};
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

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check))
        .routes(routes!(changes))
}

/// Ask the gate.
#[utoipa::path(post, path = "/gate/check", tag = "gate", security(("bearer" = [])),
    request_body = GateCheck,
    responses(
        (status = 200, description = "The decision (allowed or not), recorded", body = GateAnswer),
        (status = 404, description = "No such event", body = ErrorBody),
        (status = 422, description = "A service name, actor, change_ref or event over its cap \
            (invalid_service, too_long)", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn check(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(ask): JsonBody<GateCheck>,
) -> Result<Json<GateAnswer>, ApiError> {
    auth.require(GATE_ASKERS)?;
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
        Some(slug) => vec![events::find(&state, slug).await?],
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
        let Some((version, plan)) = current_plan(&state, &event).await? else {
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
    Ok(Json(GateAnswer {
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
    }))
}

/// Most decisions one `GET /gate/changes` answers (`limit`'s maximum, as
/// its schema declares).
pub const MAX_CHANGES: u32 = 10_000;

/// `limit` of `GET /gate/changes`: default 100, 1 to [`MAX_CHANGES`]
/// (outside it 400 `invalid_query`, as the document declares).
fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(100),
        Some(n) if (1..=MAX_CHANGES).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request(
            "invalid_query",
            format!("limit must be 1–{MAX_CHANGES}"),
        )),
    }
}

/// Recorded gate decisions, newest first.
#[utoipa::path(get, path = "/gate/changes", tag = "gate", security(("bearer" = [])),
    params(ChangeQuery),
    responses(
        (status = 200, description = "Recorded decisions, newest first", body = ChangeList),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors))]
async fn changes(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ChangeQuery>,
) -> Result<Json<ChangeList>, ApiError> {
    auth.require(READERS)?;
    let event_id = match &q.event {
        Some(slug) => Some(events::find(&state, slug).await?.id),
        None => None,
    };
    let filter = ChangeFilter {
        event_id,
        service: q.service,
        since_ms: q.since_ms,
        allowed: q.allowed,
        limit: Some(page_limit(q.limit)?),
    };
    let changes = state.store.changes(&filter).await?;
    Ok(Json(ChangeList {
        changes: changes.into_iter().map(ChangeRecord::from).collect(),
    }))
}
