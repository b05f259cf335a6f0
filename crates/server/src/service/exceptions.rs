//! Freeze exceptions as the API and the UI both request, decide and show
//! them: who may ask and decide, a pm's scope, the caps on free text, the
//! bound on active exceptions per event, the plan crate's rules, and the
//! store's audited change.

pub use seawall_api::exceptions::{Exception, RequestException};
use seawall_plan::gate::{ExceptionError, ExceptionState, FreezeException as GateException};
use seawall_store::{NewException, Role};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::service::events;
use crate::service::gate::{current_plan, rfc3339, to_gate_exception, ts};
use crate::state::AppState;

/// Roles that may request an exception (a pm only for their own line).
pub const REQUESTERS: &[Role] = &[Role::Admin, Role::Commander, Role::Pm, Role::Oncall];
/// Roles that may approve or reject: the guarantee group.
pub const DECIDERS: &[Role] = &[Role::Admin, Role::Commander];

fn state_name(s: ExceptionState) -> &'static str {
    match s {
        ExceptionState::Pending => "pending",
        ExceptionState::Scheduled => "scheduled",
        ExceptionState::Active => "active",
        ExceptionState::Rejected => "rejected",
        ExceptionState::Expired => "expired",
    }
}

/// The API view of a stored exception at the state's time.
pub(crate) async fn view(
    state: &AppState,
    slug: &str,
    plan: Option<&seawall_plan::Plan>,
    e: seawall_store::FreezeException,
) -> Result<Exception, ApiError> {
    let gate = to_gate_exception(&e)?;
    let now = ts(state.now())?;
    let unknown_services = plan
        .map(|p| {
            gate.unknown_services(p)
                .into_iter()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Ok(Exception {
        id: e.id,
        event: slug.to_owned(),
        services: e.services,
        kinds: e.kinds,
        start: rfc3339(gate.start),
        end: rfc3339(gate.end),
        reason: e.reason,
        requested_by: e.requested_by,
        requested_ms: e.requested_ms,
        status: e.status.as_str().to_owned(),
        state: state_name(gate.state_at(now)).to_owned(),
        decided_by: e.decided_by,
        decided_ms: e.decided_ms,
        decision_note: e.decision_note,
        unknown_services,
    })
}

fn parse_time(field: &str, text: &str) -> Result<jiff::Timestamp, ApiError> {
    text.trim().parse::<jiff::Timestamp>().map_err(|e| {
        ApiError::unprocessable(
            "invalid_time",
            format!(
                "`{field}` {text:?} is not an RFC 3339 time with an offset \
                 (e.g. 2026-11-11T02:00:00+08:00): {e}"
            ),
        )
    })
}

fn invalid(e: &ExceptionError) -> ApiError {
    ApiError::unprocessable("invalid_exception", e.to_string())
}

/// A pm may ask only for services of their line: every glob must match at
/// least one service of the plan and only services of that line.
fn check_pm_scope(
    auth: &Auth,
    plan: Option<&seawall_plan::Plan>,
    globs: &[String],
) -> Result<(), ApiError> {
    if auth.role() != Role::Pm {
        return Ok(());
    }
    let Some(plan) = plan else {
        return Err(ApiError::Forbidden {
            message: "the event has no plan yet, so no service can be shown to belong to \
                      your business line; ask a commander"
                .into(),
            allowed: DECIDERS.to_vec(),
        });
    };
    for glob in globs {
        let mut matched = false;
        for (id, service) in &plan.services {
            if seawall_plan::freeze::matches_glob(glob, id) {
                matched = true;
                // A service of no line belongs to no pm.
                auth.require_line(service.line.as_deref().unwrap_or(""))?;
            }
        }
        if !matched {
            return Err(ApiError::Forbidden {
                message: format!(
                    "`{glob}` matches no service of the plan, so it cannot be shown to belong \
                     to your business line; name your services or ask a commander"
                ),
                allowed: DECIDERS.to_vec(),
            });
        }
    }
    Ok(())
}

/// Request an exception for event `slug` as `auth` (the API's and the
/// UI's one path: role, pm scope, the plan crate's checks, the store).
pub(crate) async fn request_exception(
    state: &AppState,
    auth: &Auth,
    slug: &str,
    req: &RequestException,
) -> Result<Exception, ApiError> {
    auth.require(REQUESTERS)?;
    check_text(req)?;
    let event = events::find(state, slug).await?;
    let start = parse_time("start", &req.start)?;
    let end = parse_time("end", &req.end)?;
    let services: Vec<String> = req.services.iter().map(|s| s.trim().to_owned()).collect();
    GateException::request(
        "new",
        services.clone(),
        req.kinds.clone(),
        start,
        end,
        req.reason.trim(),
    )
    .map_err(|e| invalid(&e))?;
    let plan = current_plan(state, &event).await?.map(|(_, p)| p);
    check_pm_scope(auth, plan.as_deref(), &services)?;
    let mut kinds = req.kinds.clone();
    kinds.sort_by_key(|k| k.as_str());
    kinds.dedup();
    // Counted and stored under one lock, so the bound holds on this replica.
    let _one_at_a_time = state.exception_requests().lock().await;
    let now = state.now();
    let active = state
        .store
        .exceptions(event.id)
        .await?
        .iter()
        .filter(|e| match e.status {
            seawall_store::ExceptionStatus::Pending => true,
            seawall_store::ExceptionStatus::Approved => e.ends_ms > now,
            seawall_store::ExceptionStatus::Rejected => false,
        })
        .count();
    let max = state.limits().max_active_exceptions;
    if active >= max {
        return Err(ApiError::Unprocessable {
            code: "too_many_exceptions",
            message: format!(
                "event `{slug}` has {active} active freeze exceptions (pending, or approved and \
                 not ended), the most it may have ({max}); decide or let some end before \
                 asking for more"
            ),
            details: Some(serde_json::json!({"active": active, "max": max})),
        });
    }
    let stored = state
        .store
        .request_exception(
            &auth.ctx(state),
            event.id,
            &NewException {
                services,
                kinds,
                starts_ms: start.as_millisecond(),
                ends_ms: end.as_millisecond(),
                reason: req.reason.trim().to_owned(),
            },
        )
        .await?;
    state.notify_change();
    let said = format!(
        "freeze exception {} requested by {} for {} ({}): {}",
        stored.id,
        auth.actor(),
        stored.services.join(", "),
        stored
            .kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        stored.reason
    );
    crate::service::incidents::hooks::on_exception(state, event.id, auth.actor(), &said).await;
    view(state, slug, plan.as_deref(), stored).await
}

/// Refuse (422 `too_long`) a request whose free text is over its caps.
fn check_text(req: &RequestException) -> Result<(), ApiError> {
    use crate::state::{MAX_GLOB_CHARS, MAX_GLOBS, MAX_REASON_CHARS};
    crate::extract::cap("reason", &req.reason, MAX_REASON_CHARS)?;
    if req.services.len() > MAX_GLOBS {
        return Err(ApiError::Unprocessable {
            code: "too_long",
            message: format!(
                "`services` has {} globs; at most {MAX_GLOBS} are accepted — use wider globs \
                 or several requests",
                req.services.len()
            ),
            details: Some(serde_json::json!({"field": "services", "max_items": MAX_GLOBS})),
        });
    }
    for glob in &req.services {
        crate::extract::cap("services[]", glob, MAX_GLOB_CHARS)?;
    }
    crate::extract::cap("start", &req.start, 64)?;
    crate::extract::cap("end", &req.end, 64)
}

/// An event's exceptions with their state now, oldest first.
pub(crate) async fn views(
    state: &AppState,
    event: &seawall_store::Event,
    plan: Option<&seawall_plan::Plan>,
) -> Result<Vec<Exception>, ApiError> {
    let mut exceptions = Vec::new();
    for e in state.store.exceptions(event.id).await? {
        exceptions.push(view(state, &event.slug, plan, e).await?);
    }
    Ok(exceptions)
}

/// The stored exception, its event and the event's plan, or 404.
pub(crate) async fn load(
    state: &AppState,
    id: i64,
) -> Result<
    (
        seawall_store::FreezeException,
        seawall_store::Event,
        Option<std::sync::Arc<seawall_plan::Plan>>,
    ),
    ApiError,
> {
    let e = state
        .store
        .exception(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("exception {id}")))?;
    let event = state
        .store
        .events()
        .await?
        .into_iter()
        .find(|ev| ev.id == e.event_id)
        .ok_or_else(|| ApiError::Internal(format!("exception {id} has no event")))?;
    let plan = current_plan(state, &event).await?.map(|(_, p)| p);
    Ok((e, event, plan))
}

/// Approve or reject exception `id` as `auth` (the API's and the UI's one
/// path): deciders only, the plan crate's rules (409 when already decided
/// or approved after its end), the store's audited change.
pub(crate) async fn decide(
    state: AppState,
    auth: Auth,
    id: i64,
    approve: bool,
    note: Option<String>,
) -> Result<Exception, ApiError> {
    auth.require(DECIDERS)?;
    if let Some(note) = &note {
        crate::extract::cap("note", note, crate::state::MAX_NOTE_CHARS)?;
    }
    let (e, event, plan) = load(&state, id).await?;
    // Withdrawing one's own request (a rejection) is fine; approving it is not.
    if approve && e.requested_by == auth.actor() {
        return Err(ApiError::Forbidden {
            message: format!(
                "exception {id} was requested by `{}`, the token approving it; nobody approves \
                 their own request — ask another commander",
                e.requested_by
            ),
            allowed: DECIDERS.to_vec(),
        });
    }
    let now = ts(state.now())?;
    let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    // The plan crate's rules: only a pending one, never approved after its end.
    to_gate_exception(&e)?
        .decide(approve, auth.actor(), now, note.clone())
        .map_err(|err| match err {
            ExceptionError::AlreadyDecided { .. } | ExceptionError::Expired { .. } => {
                ApiError::Conflict(err.to_string())
            }
            other => invalid(&other),
        })?;
    let decided = state
        .store
        .decide_exception(&auth.ctx(&state), id, approve, note.as_deref())
        .await?;
    state.notify_change();
    let said = format!(
        "freeze exception {id} {} by {}{}",
        if approve { "approved" } else { "rejected" },
        auth.actor(),
        note.as_deref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default()
    );
    crate::service::incidents::hooks::on_exception(&state, event.id, auth.actor(), &said).await;
    view(&state, &event.slug, plan.as_deref(), decided).await
}
