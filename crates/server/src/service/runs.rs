//! Rehearsal runs as the analyses read them: `run.json`'s checked parts
//! and the measured capacity an event's runs add up to.

use seawall_plan::Plan;
use seawall_plan::capacity::Measured;
use serde::Deserialize;

use crate::error::ApiError;
use crate::extract;
use crate::state::AppState;

/// Schema id of the results document.
pub const RUN_SCHEMA: &str = "seawall.run/v1";

/// The parts of `run.json` the control plane reads (other fields are kept
/// in the stored text, not read).
#[derive(Debug, Clone, Deserialize)]
pub struct RunDoc {
    /// Must be [`RUN_SCHEMA`].
    pub schema: String,
    /// Scenario name.
    pub scenario: String,
    /// Per-entry results.
    #[serde(default)]
    pub entries: Vec<RunEntry>,
    /// Per-service results.
    #[serde(default)]
    pub services: Vec<RunService>,
}

/// An entry's result: its knee, if the run found one.
#[derive(Debug, Clone, Deserialize)]
pub struct RunEntry {
    /// Entry id.
    pub id: String,
    /// Measured capacity in QPS; `null` or absent when no knee was found.
    #[serde(default)]
    pub knee_qps: Option<f64>,
    /// When the search was generator-bound (the generator, not the
    /// system, was the limit): the rate the entry held, a lower bound of
    /// its capacity and never a knee; `null` or absent otherwise.
    #[serde(default)]
    pub lower_bound_qps: Option<f64>,
}

/// A service's measured capacity per instance.
#[derive(Debug, Clone, Deserialize)]
pub struct RunService {
    /// Service id.
    pub id: String,
    /// QPS per instance.
    pub capacity_per_instance: f64,
}

fn invalid_run(message: String) -> ApiError {
    ApiError::unprocessable("invalid_run", message)
}

/// Read and check a `run.json`: the schema id, knees ≥ 0 and capacities
/// per instance > 0, all finite (the checks of `plan capacity --results`).
pub fn check(text: &str) -> Result<RunDoc, ApiError> {
    let doc: RunDoc = extract::parse(text.as_bytes()).map_err(|e| match e {
        ApiError::Unprocessable {
            message, details, ..
        } => ApiError::Unprocessable {
            code: "invalid_run",
            message: format!("not a {RUN_SCHEMA} results document: {message}"),
            details,
        },
        other => other,
    })?;
    if doc.schema != RUN_SCHEMA {
        return Err(invalid_run(format!(
            "the document has schema `{}`; this server reads `{RUN_SCHEMA}` (seawall rehearse --out)",
            doc.schema
        )));
    }
    if doc.scenario.trim().is_empty() {
        return Err(invalid_run("the run names no scenario".into()));
    }
    crate::extract::cap("scenario", &doc.scenario, crate::state::MAX_NAME_CHARS)?;
    for e in &doc.entries {
        for (field, v) in [
            ("knee_qps", e.knee_qps),
            ("lower_bound_qps", e.lower_bound_qps),
        ] {
            if let Some(v) = v
                && !(v.is_finite() && v >= 0.0)
            {
                return Err(invalid_run(format!(
                    "entry `{}` has {field} {v}; it must be a number ≥ 0",
                    e.id
                )));
            }
        }
    }
    for s in &doc.services {
        if !(s.capacity_per_instance.is_finite() && s.capacity_per_instance > 0.0) {
            return Err(invalid_run(format!(
                "service `{}` has capacity_per_instance {}; it must be a number > 0",
                s.id, s.capacity_per_instance
            )));
        }
    }
    Ok(doc)
}

/// Keep a `seawall.run/v1` document as one of the event's runs: checked
/// ([`check`]), stored as sent with the event's current plan version
/// (audit `run.upload` by `ctx`'s actor), and the change announced. What
/// `POST /events/{slug}/runs` does with an upload, and what the control
/// plane does with the merged result of a run across agents started from
/// the UI, where no client is left to upload it.
pub async fn keep(
    state: &AppState,
    ctx: &seawall_store::Ctx,
    event: &seawall_store::Event,
    text: String,
) -> Result<seawall_store::RunInfo, ApiError> {
    let doc = check(&text)?;
    let plan_version = state
        .store
        .plan_version(event.id, None)
        .await?
        .map(|p| p.info.version);
    let info = state
        .store
        .add_run(
            ctx,
            event.id,
            &seawall_store::NewRun {
                plan_version,
                scenario: doc.scenario,
                json: text,
            },
        )
        .await?;
    state.notify_change();
    Ok(info)
}

/// Measured capacity from an event's runs, oldest first: a later run's
/// figure for an entry or service replaces an earlier one's; ids the plan
/// does not know are left out. `source` names the runs used.
pub fn measured(runs: &[(i64, RunDoc)], plan: &Plan) -> Measured {
    let mut measured = Measured::default();
    let mut used = Vec::new();
    for (id, doc) in runs {
        let mut any = false;
        for e in &doc.entries {
            if let Some(knee) = e.knee_qps
                && plan.entries.contains_key(&e.id)
            {
                measured.entries.insert(e.id.clone(), knee);
                any = true;
            }
        }
        for s in &doc.services {
            if plan.services.contains_key(&s.id) {
                measured
                    .services_per_instance
                    .insert(s.id.clone(), s.capacity_per_instance);
                any = true;
            }
        }
        if any {
            used.push(id.to_string());
        }
    }
    if !used.is_empty() {
        measured.source = Some(format!("runs {}", used.join(", ")));
    }
    measured
}

/// Every stored run of an event, read back (oldest first).
pub async fn stored_docs(state: &AppState, event_id: i64) -> Result<Vec<(i64, RunDoc)>, ApiError> {
    let mut docs = Vec::new();
    for info in state.store.runs(event_id).await? {
        let Some(run) = state.store.run(info.id).await? else {
            continue;
        };
        let doc = check(&run.json).map_err(|e| {
            ApiError::Internal(format!("stored run {} cannot be read: {e}", info.id))
        })?;
        docs.push((info.id, doc));
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_like_plan_capacity_results() {
        let ok = r#"{"schema":"seawall.run/v1","scenario":"s","entries":[{"id":"a","knee_qps":10}],
                    "services":[{"id":"b","capacity_per_instance":5}],"extra":1}"#;
        let doc = check(ok).expect("valid");
        assert_eq!(doc.entries[0].knee_qps, Some(10.0));

        for (bad, code) in [
            (
                r#"{"schema":"seawall.run/v2","scenario":"s"}"#,
                "invalid_run",
            ),
            (r#"{"schema":"seawall.run/v1"}"#, "invalid_run"),
            (
                r#"{"schema":"seawall.run/v1","scenario":"s","entries":[{"id":"a","lower_bound_qps":-1}]}"#,
                "invalid_run",
            ),
            (
                r#"{"schema":"seawall.run/v1","scenario":"s","entries":[{"id":"a","knee_qps":-1}]}"#,
                "invalid_run",
            ),
            (
                r#"{"schema":"seawall.run/v1","scenario":"s","services":[{"id":"a","capacity_per_instance":0}]}"#,
                "invalid_run",
            ),
            (r#"{"schema": "#, "malformed_json"),
        ] {
            let e = check(bad).expect_err(bad);
            assert_eq!(e.code(), code, "{bad}: {e}");
        }
    }
}
