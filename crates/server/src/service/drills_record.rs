//! Drills as the store records them, read back: the record of a stored
//! drill, the finished ones of an event, and a passed one as one of the
//! plan's own `drills` entries.
//!
//! Why a module of its own: the plan analyses (`service::plans`) add the
//! recorded drills to the plan they analyse, and `service::drills` uses
//! `service::plans` to find the plan a drill drills; this leaf, importing
//! neither, keeps the two free of an import cycle.

use seawall_api::drills::Drill;
use seawall_plan::Plan;
use seawall_store::StoredDrill;

use crate::error::ApiError;
use crate::state::AppState;

/// A stored drill's record, with the row's id, version and status.
pub(crate) fn view(stored: &StoredDrill) -> Result<Drill, ApiError> {
    let mut d: Drill = serde_json::from_str(&stored.state).map_err(|e| {
        ApiError::Internal(format!(
            "drill {} has a record this server cannot read: {e}",
            stored.id
        ))
    })?;
    d.id = stored.id;
    d.version = stored.version;
    d.status.clone_from(&stored.status);
    Ok(d)
}

/// Finished drills recorded in the store, oldest first, with the
/// emergency plan each drilled.
pub(crate) async fn recorded(state: &AppState, event_id: i64) -> Result<Vec<Drill>, ApiError> {
    let mut out = Vec::new();
    for stored in state.store.drills(event_id).await? {
        if stored.finished {
            out.push(view(&stored)?);
        }
    }
    Ok(out)
}

/// A recorded drill as one of the plan's own `drills` entries.
pub fn as_plan_drill(d: &Drill) -> Option<seawall_plan::model::Drill> {
    let at_time = jiff::Timestamp::from_millisecond(d.ended_ms.unwrap_or(d.started_ms)).ok()?;
    Some(seawall_plan::model::Drill {
        at_time,
        minutes: d.total_ms.map(|ms| ms as f64 / 60_000.0),
        passed: d.status == "passed",
        notes: Some(format!("drill {} recorded by Seawall ({})", d.id, d.status)),
        at: seawall_plan::At::default(),
    })
}

/// `plan` with the event's passed drills from the store added to each
/// emergency plan's `drills`: the plan analyses are pure, so this is how a
/// recorded drill clears L012 "never drilled" and counts in readiness.
/// The plan itself is returned (not copied) when nothing was recorded.
pub(crate) async fn with_recorded(
    state: &AppState,
    event_id: i64,
    plan: std::sync::Arc<Plan>,
) -> Result<std::sync::Arc<Plan>, ApiError> {
    let passed: Vec<Drill> = recorded(state, event_id)
        .await?
        .into_iter()
        .filter(|d| d.status == "passed" && plan.emergency_plans.contains_key(&d.plan_id))
        .collect();
    if passed.is_empty() {
        return Ok(plan);
    }
    let mut merged = (*plan).clone();
    for d in &passed {
        if let (Some(ep), Some(drill)) =
            (merged.emergency_plans.get_mut(&d.plan_id), as_plan_drill(d))
        {
            ep.drills.push(drill);
        }
    }
    Ok(std::sync::Arc::new(merged))
}
