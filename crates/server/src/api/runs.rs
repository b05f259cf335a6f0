//! Rehearsal results: `POST /events/{slug}/runs` takes a `run.json`
//! (`seawall.run/v1`, as `seawall rehearse --out` writes it; admin,
//! commander), checked the way `seawall plan capacity --results` reads it
//! and stored exactly as sent; `GET` lists and reads them (every role but
//! ci). The plan analyses use the stored runs as measured capacity
//! ([`measured`]).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
pub use seawall_api::runs::{Run, RunInfo, RunList};
use seawall_plan::Plan;
use seawall_plan::capacity::Measured;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::events;
use crate::auth::{Auth, PLANNERS, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{self, ApiPath, RawJson};
use crate::openapi::{AuthErrors, BodyErrors};
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload_run, list_runs))
        .routes(routes!(get_run))
}

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
        if let Some(knee) = e.knee_qps
            && !(knee.is_finite() && knee >= 0.0)
        {
            return Err(invalid_run(format!(
                "entry `{}` has knee_qps {knee}; it must be a number ≥ 0",
                e.id
            )));
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

/// Upload a rehearsal result (`run.json`, the body as is).
#[utoipa::path(post, path = "/events/{slug}/runs", tag = "runs", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    request_body(content = Object, content_type = "application/json",
        description = "A seawall.run/v1 document (seawall rehearse --out run.json)"),
    responses(
        (status = 201, description = "Stored", body = RunInfo),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors, BodyErrors,
        (status = 422, description = "Not a seawall.run/v1 document, or a knee or capacity out \
            of range (code invalid_run)", body = ErrorBody)))]
async fn upload_run(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    RawJson(text): RawJson,
) -> Result<(StatusCode, Json<RunInfo>), ApiError> {
    auth.require(PLANNERS)?;
    let event = events::find(&state, &slug).await?;
    let doc = check(&text)?;
    let plan_version = state
        .store
        .plan_version(event.id, None)
        .await?
        .map(|p| p.info.version);
    let info = state
        .store
        .add_run(
            &auth.ctx(&state),
            event.id,
            &seawall_store::NewRun {
                plan_version,
                scenario: doc.scenario,
                json: text,
            },
        )
        .await?;
    state.notify_change();
    Ok((StatusCode::CREATED, Json(info.into())))
}

/// An event's runs, oldest first.
#[utoipa::path(get, path = "/events/{slug}/runs", tag = "runs", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    responses(
        (status = 200, description = "The event's runs", body = RunList),
        (status = 404, description = "No such event", body = ErrorBody),
        AuthErrors))]
async fn list_runs(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<RunList>, ApiError> {
    auth.require(READERS)?;
    let event = events::find(&state, &slug).await?;
    let runs = state.store.runs(event.id).await?;
    Ok(Json(RunList {
        runs: runs.into_iter().map(RunInfo::from).collect(),
    }))
}

/// One run with its document.
#[utoipa::path(get, path = "/events/{slug}/runs/{id}", tag = "runs", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug"), ("id" = i64, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = Run),
        (status = 404, description = "No such event or run", body = ErrorBody),
        AuthErrors))]
async fn get_run(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((slug, id)): ApiPath<(String, i64)>,
) -> Result<Json<Run>, ApiError> {
    auth.require(READERS)?;
    let event = events::find(&state, &slug).await?;
    match state.store.run(id).await? {
        Some(run) if run.info.event_id == event.id => Ok(Json(Run {
            info: run.info.into(),
            json: run.json,
        })),
        _ => Err(ApiError::not_found(format!("run {id} of event `{slug}`"))),
    }
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
