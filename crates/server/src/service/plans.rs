//! Plans as the API and the UI both read and check them: a pushed text
//! validated (off the async workers), a stored version parsed once (the
//! plan cache is [`AppState::cached_plan`]), and what every analysis
//! starts from — the plan version with the event's runs as measured
//! capacity.

use std::sync::Arc;

use seawall_plan::capacity::CapacityTable;
use seawall_plan::links::Finding;
use seawall_plan::targets::Targets;
use seawall_plan::{Diagnostic, Plan, capacity, links, targets};
use serde::Serialize;

use crate::error::ApiError;
use crate::service::{events, runs};
use crate::state::AppState;

/// `details` of a 422 `invalid_plan`: `seawall plan check --format json`'s
/// document for an invalid plan.
#[derive(Debug, Clone, Serialize)]
pub struct InvalidPlan<'a> {
    /// Always false.
    pub valid: bool,
    /// Every problem, in file order.
    pub diagnostics: &'a [Diagnostic],
}

/// Parse and validate a plan: the plan, or 422 `invalid_plan` with its
/// diagnostics.
pub fn validate(text: &str, file_name: &str) -> Result<Plan, ApiError> {
    seawall_plan::parse(text, file_name).map_err(|diagnostics| {
        let n = diagnostics.0.len();
        let details = serde_json::to_value(InvalidPlan {
            valid: false,
            diagnostics: &diagnostics.0,
        })
        .ok();
        let first = diagnostics
            .0
            .first()
            .map(|d| format!("; first: {d}"))
            .unwrap_or_default();
        ApiError::Unprocessable {
            code: "invalid_plan",
            message: format!(
                "`{file_name}` is not a valid plan: {n} problem{}{first}",
                if n == 1 { "" } else { "s" }
            ),
            details,
        }
    })
}

/// [`validate`] on tokio's blocking pool. A plan of 10,000 services takes
/// about half a second to parse; on an async worker that would stall every
/// other request the worker serves (sidecars' long polls, gate checks).
pub async fn validate_off_thread(text: &str, file_name: &str) -> Result<Plan, ApiError> {
    let (text, file_name) = (text.to_owned(), file_name.to_owned());
    tokio::task::spawn_blocking(move || validate(&text, &file_name))
        .await
        .map_err(|e| ApiError::Internal(format!("validating the plan stopped: {e}")))?
}

/// The stored plan version (`None`: latest) of an event, or 404.
pub(crate) async fn stored(
    state: &AppState,
    slug: &str,
    version: Option<i64>,
) -> Result<(seawall_store::Event, seawall_store::PlanVersion), ApiError> {
    let event = events::find(state, slug).await?;
    match state.store.plan_version(event.id, version).await? {
        Some(plan) => Ok((event, plan)),
        None => Err(match version {
            Some(v) => ApiError::not_found(format!("plan version {v} of event `{slug}`")),
            None => ApiError::NotFound(format!(
                "event `{slug}` has no plan yet; push one (seawall push PLAN.yaml --event {slug})"
            )),
        }),
    }
}

/// Everything an analysis needs.
pub(crate) struct Analysed {
    /// Plan version analysed.
    pub(crate) version: i64,
    /// The parsed plan.
    pub(crate) plan: std::sync::Arc<Plan>,
    /// Measured capacity from the event's runs.
    pub(crate) measured: capacity::Measured,
}

/// An event's plan version (`None`: latest) with the event's runs as
/// measured capacity, or 404.
pub(crate) async fn analysed(
    state: &AppState,
    slug: &str,
    version: Option<i64>,
) -> Result<Analysed, ApiError> {
    let (event, stored) = stored(state, slug, version).await?;
    let plan = parsed(state, slug, &stored)?;
    let plan = crate::service::drills_record::with_recorded(state, event.id, plan).await?;
    let docs = runs::stored_docs(state, event.id).await?;
    let measured = runs::measured(&docs, &plan);
    Ok(Analysed {
        version: stored.info.version,
        plan,
        measured,
    })
}

/// An analysed plan with every analysis the pages show, computed by the
/// same functions, in the same order, as the API's `/plan/*` answers:
/// targets, then the water-level table, then the link findings.
pub(crate) struct Analyses {
    /// The plan, its version and the measured capacity.
    pub(crate) a: Analysed,
    /// Target decomposition.
    pub(crate) targets: Targets,
    /// Water-level table.
    pub(crate) table: CapacityTable,
    /// Link findings.
    pub(crate) findings: Vec<Finding>,
}

impl Analyses {
    /// Every analysis of `a`.
    pub(crate) fn of(a: Analysed) -> Analyses {
        let targets = targets::decompose(&a.plan);
        let table = capacity::table(&a.plan, &targets, &a.measured);
        let findings = links::analyze(&a.plan, &targets, &table);
        Analyses {
            a,
            targets,
            table,
            findings,
        }
    }

    /// The plan analysed.
    pub(crate) fn plan(&self) -> &Arc<Plan> {
        &self.a.plan
    }
}

/// A stored plan version parsed once ([`AppState::cached_plan`], keyed by
/// file name and SHA-256). Stored plans were valid when pushed; one that
/// no longer parses means the database was edited or this server is older
/// than the plan.
pub(crate) fn parsed(
    state: &AppState,
    slug: &str,
    stored: &seawall_store::PlanVersion,
) -> Result<std::sync::Arc<Plan>, ApiError> {
    let key = format!("{}\n{}", stored.info.file_name, stored.info.sha256);
    state.cached_plan(&key, || {
        seawall_plan::parse(&stored.text, &stored.info.file_name).map_err(|d| {
            ApiError::Internal(format!(
                "stored plan version {} of `{slug}` no longer parses ({} problems)",
                stored.info.version,
                d.0.len()
            ))
        })
    })
}
