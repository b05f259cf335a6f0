//! The post-event review (`docs/review.md`): everything the store holds
//! of an event, gathered into a `seawall_review::Input`, and the review
//! computed from it — for the API (`GET /events/{slug}/review`) and the
//! UI's Review page alike.
//!
//! Why only the store: the review must be reproducible after the event,
//! from any replica, without a Prometheus or the sidecars still running;
//! it reads the same records the audit log vouches for. Nothing here
//! computes a number: `seawall-review` does, as a pure function.

use seawall_monitor::sample::TargetKind;
use seawall_review::input::{
    ChangeInput, EmergencyRunInput, ExceptionInput, IncidentInput, Input, PlanInput, Rehearsal,
    RuleChangeInput, RunFigures, SeriesInput,
};
use seawall_review::{Review, compare, review};
use seawall_store::{ChangeFilter, Event};

use crate::error::ApiError;
use crate::service::runs::stored_docs;
use crate::state::AppState;

/// Alert transitions read per store call.
const TRANSITION_PAGE: u32 = 10_000;
/// Most alert transitions a review reads (a day of a busy event is far
/// fewer); more are left out.
const MAX_TRANSITIONS: usize = 200_000;
/// Most gate decisions a review reads (the store's own cap).
const MAX_CHANGES: u32 = 10_000;

/// A stored JSON state this server wrote, read back.
fn decode<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text)
        .map_err(|e| ApiError::Internal(format!("{what} has a state this server cannot read: {e}")))
}

/// Everything the store holds of `event` that the review reads.
pub async fn gather(state: &AppState, event: &Event) -> Result<Input, ApiError> {
    let store = &state.store;
    let stored_plan = store.plan_version(event.id, None).await?;
    let plan = stored_plan
        .as_ref()
        .and_then(|p| seawall_plan::parse(&p.text, &p.info.file_name).ok());

    let mut rehearsal = Rehearsal::default();
    for (id, doc) in stored_docs(state, event.id).await? {
        rehearsal.add_run(RunFigures {
            run: id,
            knees: doc
                .entries
                .iter()
                .filter_map(|e| e.knee_qps.map(|k| (e.id.clone(), k)))
                .collect(),
            // A generator-bound search's rate is a lower bound, never a
            // knee: passed on as such.
            lower_bounds: doc
                .entries
                .iter()
                .filter(|e| e.knee_qps.is_none())
                .filter_map(|e| e.lower_bound_qps.map(|b| (e.id.clone(), b)))
                .collect(),
            services: doc
                .services
                .iter()
                .map(|s| (s.id.clone(), s.capacity_per_instance))
                .collect(),
            scenario: doc.scenario,
        });
    }

    // The series the plan names, at every tier the store keeps.
    let mut targets: Vec<(TargetKind, String)> = Vec::new();
    if let Some(plan) = &plan {
        targets.extend(plan.entries.keys().map(|k| (TargetKind::Entry, k.clone())));
        targets.extend(
            plan.services
                .keys()
                .map(|k| (TargetKind::Service, k.clone())),
        );
        targets.extend(
            plan.partners
                .keys()
                .map(|k| (TargetKind::Partner, k.clone())),
        );
        targets.extend(
            plan.monitoring
                .funnel
                .iter()
                .map(|s| (TargetKind::FunnelStep, s.name.clone())),
        );
    }
    let mut series = Vec::new();
    for (kind, id) in &targets {
        for tier in 0..3u8 {
            let points = store.history(event.id, *kind, id, tier).await?;
            if !points.is_empty() {
                series.push(SeriesInput {
                    kind: *kind,
                    id: id.clone(),
                    tier,
                    points,
                });
            }
        }
    }

    let mut transitions = Vec::new();
    let mut after = 0;
    loop {
        let page = store
            .alert_transitions(event.id, after, TRANSITION_PAGE)
            .await?;
        let full = page.len() == TRANSITION_PAGE as usize;
        after = page.last().map_or(after, |t| t.id);
        transitions.extend(page.into_iter().map(|t| t.transition));
        if !full || transitions.len() >= MAX_TRANSITIONS {
            break;
        }
    }

    let mut emergency_runs = Vec::new();
    for r in store.emergency_runs(event.id).await? {
        emergency_runs.push(EmergencyRunInput {
            id: r.id,
            run: decode(&format!("emergency run {}", r.id), &r.state)?,
        });
    }
    let mut incidents = Vec::new();
    for i in store.incidents(event.id).await? {
        let what = format!("incident {}", i.id);
        incidents.push(IncidentInput {
            id: i.id,
            incident: decode(&what, &i.state)?,
            escalation: match &i.escalation {
                Some(text) => Some(decode(&what, text)?),
                None => None,
            },
        });
    }
    let changes = store
        .changes(&ChangeFilter {
            event_id: Some(event.id),
            limit: Some(MAX_CHANGES),
            ..ChangeFilter::default()
        })
        .await?
        .into_iter()
        .map(|c| ChangeInput {
            id: c.id,
            at_ms: c.at_ms,
            service: c.service,
            kind: c.kind.as_str().to_owned(),
            change_ref: c.change_ref,
            actor: c.actor,
            allowed: c.allowed,
            window: c.window,
            exception_id: c.exception_id,
        })
        .collect();
    let exceptions = store
        .exceptions(event.id)
        .await?
        .into_iter()
        .map(|e| ExceptionInput {
            id: e.id,
            status: e.status.as_str().to_owned(),
            services: e.services,
            starts_ms: e.starts_ms,
            ends_ms: e.ends_ms,
            requested_by: e.requested_by,
            decided_by: e.decided_by,
        })
        .collect();
    let mut rule_changes = Vec::new();
    if let Some(plan) = &plan {
        for service in plan.services.keys() {
            for r in store.rule_history(service).await? {
                rule_changes.push(RuleChangeInput {
                    service: r.service,
                    version: r.version,
                    source: r.source.as_str().to_owned(),
                    at_ms: r.created_ms,
                    by: r.created_by,
                    note: r.note,
                });
            }
        }
        rule_changes.sort_by_key(|r| r.at_ms);
    }

    Ok(Input {
        slug: event.slug.clone(),
        name: event.name.clone(),
        created_ms: event.created_ms,
        plan: stored_plan.map(|p| PlanInput {
            version: p.info.version,
            file_name: p.info.file_name,
            text: p.text,
        }),
        rehearsal,
        series,
        transitions,
        emergency_runs,
        incidents,
        changes,
        exceptions,
        rule_changes,
    })
}

/// The review of `event`, compared with `earlier` when given.
pub async fn review_of(
    state: &AppState,
    event: &Event,
    earlier: Option<&Event>,
) -> Result<Review, ApiError> {
    let mut r = review(&gather(state, event).await?);
    if let Some(earlier) = earlier {
        let then = review(&gather(state, earlier).await?);
        r.comparison = Some(compare(&r, &then));
    }
    tracing::debug!(event = %event.slug, recommendations = r.recommendations.len(), "review computed");
    Ok(r)
}
