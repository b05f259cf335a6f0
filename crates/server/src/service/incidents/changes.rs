//! What responders do to an incident besides acknowledging and resolving:
//! give a role to one of the plan's people, take a note, post a public
//! status update, change the severity, mark it mitigated.
//!
//! Why one path for all of them ([`apply`]): each is a read-modify-write
//! of the stored incident through `seawall_respond`'s rules, and each may
//! name the version the responder decided on — a decision made on what
//! has changed since (somebody else moved the commander, resolved it) is
//! refused with 409 and stores nothing, rather than silently applied on
//! top. Without a version the change is retried on a fresh read, like
//! acknowledging.

use seawall_api::incidents::{AddNote, AssignRole, ChangeSeverity, MitigateIncident, PostUpdate};
use seawall_respond::escalation::Escalation;
use seawall_respond::incident::{Incident, Role, Severity, UpdateStatus};
use serde_json::{Value, json};

use super::{IncidentView, TEXT_MAX, change, current_plan, find, refused, view, write, zone_of};
use crate::error::ApiError;
use crate::extract::cap;
use crate::service::events;
use crate::state::AppState;

/// A refused body field (422 `invalid_body`).
fn invalid(field: &str, why: String) -> ApiError {
    ApiError::Unprocessable {
        code: "invalid_body",
        message: format!("{field}: {why}"),
        details: Some(json!({"field": field})),
    }
}

/// A text field that must say something, within [`TEXT_MAX`].
fn said(field: &str, text: &str) -> Result<String, ApiError> {
    cap(field, text, TEXT_MAX)?;
    let t = text.trim();
    if t.is_empty() {
        return Err(invalid(field, "empty: say something".into()));
    }
    Ok(t.to_owned())
}

/// The change `f` to incident `n` of event `slug` by `actor`, on the
/// version `expected` when given (409 when it is stale, nothing stored).
async fn apply(
    state: &AppState,
    actor: &str,
    slug: &str,
    n: i64,
    expected: Option<i64>,
    f: impl Fn(&mut Incident, &mut Option<Escalation>, i64) -> Result<(&'static str, Value), ApiError>,
) -> Result<IncidentView, ApiError> {
    let found = find(state, slug, n).await?;
    let tz = zone_of(state, slug).await?;
    let ctx = state.ctx(actor);
    let at = ctx.at_ms;
    let Some(version) = expected else {
        let l = change(state, &ctx, n, |i, e| f(i, e, at)).await?;
        return Ok(view(&l, &tz));
    };
    let stale = |now: i64| {
        ApiError::Conflict(format!(
            "incident {n} changed since version {version} (it is at version {now}); read it again and decide on what it says now"
        ))
    };
    if found.stored.version != version {
        return Err(stale(found.stored.version));
    }
    let mut l = found;
    let (action, detail) = f(&mut l.incident, &mut l.escalation, at)?;
    let w = write(&l.incident, l.escalation.as_ref(), action, detail)?;
    l.stored = match state.store.update_incident(&ctx, n, version, &w).await {
        Ok(stored) => stored,
        Err(seawall_store::StoreError::Conflict(_)) => return Err(stale(version + 1)),
        Err(e) => return Err(e.into()),
    };
    Ok(view(&l, &tz))
}

/// `actor` gives a role of incident `n` to `req.person`, who must be one
/// of the people of the event's current plan (422 `unknown_person`).
pub(crate) async fn assign_role(
    state: &AppState,
    actor: &str,
    slug: &str,
    n: i64,
    req: &AssignRole,
) -> Result<IncidentView, ApiError> {
    let role = Role::ALL
        .into_iter()
        .find(|r| r.as_str() == req.role)
        .ok_or_else(|| {
            invalid(
                "role",
                format!("`{}` is not one of commander, scribe, liaison", req.role),
            )
        })?;
    cap("person", &req.person, 200)?;
    let person = req.person.trim();
    if person.is_empty() {
        return Err(invalid("person", "empty: name a person of the plan".into()));
    }
    find(state, slug, n).await?;
    let event = events::find(state, slug).await?;
    let known = current_plan(state, &event)
        .await?
        .is_some_and(|p| p.people.contains_key(person));
    if !known {
        return Err(ApiError::Unprocessable {
            code: "unknown_person",
            message: format!(
                "person: `{person}` is not one of the people of event `{slug}`'s plan; roles go to the plan's `people`"
            ),
            details: Some(json!({"field": "person"})),
        });
    }
    apply(state, actor, slug, n, req.version, |incident, _, at| {
        incident.assign(role, person, actor, at).map_err(refused)?;
        Ok((
            "incident.role_assigned",
            json!({"role": role.as_str(), "person": person}),
        ))
    })
    .await
}

/// `actor` adds a note to incident `n`'s timeline (also once resolved:
/// the review's findings).
pub(crate) async fn add_note(
    state: &AppState,
    actor: &str,
    slug: &str,
    n: i64,
    req: &AddNote,
) -> Result<IncidentView, ApiError> {
    let text = said("text", &req.text)?;
    apply(state, actor, slug, n, req.version, |incident, _, at| {
        incident.note(actor, at, &text);
        Ok(("incident.note", json!({"chars": text.chars().count()})))
    })
    .await
}

/// `actor` posts a public status update on incident `n` (refused once
/// resolved).
pub(crate) async fn post_update(
    state: &AppState,
    actor: &str,
    slug: &str,
    n: i64,
    req: &PostUpdate,
) -> Result<IncidentView, ApiError> {
    let status = UpdateStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == req.status)
        .ok_or_else(|| {
            invalid(
                "status",
                format!(
                    "`{}` is not one of investigating, identified, mitigated, monitoring",
                    req.status
                ),
            )
        })?;
    let text = said("text", &req.text)?;
    apply(state, actor, slug, n, req.version, |incident, _, at| {
        incident
            .post_update(status, actor, at, &text)
            .map_err(refused)?;
        Ok((
            "incident.status_update",
            json!({"status": status.as_str(), "text": text}),
        ))
    })
    .await
}

/// `actor` changes incident `n`'s severity.
pub(crate) async fn change_severity(
    state: &AppState,
    actor: &str,
    slug: &str,
    n: i64,
    req: &ChangeSeverity,
) -> Result<IncidentView, ApiError> {
    let severity = Severity::parse(&req.severity).ok_or_else(|| {
        invalid(
            "severity",
            format!("`{}` is not one of P1, P2, P3, P4", req.severity),
        )
    })?;
    apply(state, actor, slug, n, req.version, |incident, _, at| {
        let was = incident.severity;
        incident
            .set_severity(severity, actor, at)
            .map_err(refused)?;
        Ok((
            "incident.severity_changed",
            json!({"from": was.as_str(), "to": severity.as_str()}),
        ))
    })
    .await
}

/// `actor` marks incident `n` mitigated; an unacknowledged one is
/// acknowledged by the same stroke, so its paging stops.
pub(crate) async fn mitigate(
    state: &AppState,
    actor: &str,
    slug: &str,
    n: i64,
    req: &MitigateIncident,
) -> Result<IncidentView, ApiError> {
    if let Some(t) = &req.text {
        cap("text", t, TEXT_MAX)?;
    }
    let text = req
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map_or_else(|| format!("mitigated by {actor}"), str::to_owned);
    apply(
        state,
        actor,
        slug,
        n,
        req.version,
        |incident, escalation, at| {
            incident.mitigate(actor, at, &text).map_err(refused)?;
            if let Some(e) = escalation {
                // Acknowledged there already is the usual case; either way the
                // paging is over.
                let _ = e.acknowledge(actor, at);
            }
            Ok(("incident.mitigated", json!({"by": actor})))
        },
    )
    .await
}
