//! Guard rule distribution. The server derives each service's rule set from
//! an event's current plan and measured capacity (`POST
//! /events/{slug}/guard/derive`, as `seawall plan guard --service` does), a
//! commander adjusts one (`PUT /guard/services/{service}/rules`); every
//! change is a new version per service, stored and audited — nothing lives
//! only in memory, the complaint Sentinel's dashboard users have.
//!
//! Sidecars follow with a long poll (`GET /guard/rules?service=S&since=V`):
//! it answers at once when the latest version differs from `since` (also a
//! lower one, after a restore), else when a new version is stored — on this
//! replica at once, on another one within a second (the poll re-reads the
//! store every second) — else with 304 after `wait` seconds. They report
//! what they applied (`POST /guard/applied`), so the war room sees which
//! sidecars lag. A `sidecar` token may do exactly these two things, for
//! its own service; its reports are audited and bounded (the instance
//! name's length, a version that exists, a number of instances per
//! service, and the token's write rate).

pub use seawall_api::rules::{
    Adjust, Applied, DeriveRequest, DeriveResult, Derived, PollQuery, Rules, RulesHistory,
    RulesInfo, ServiceList, ServiceRules, Sidecar, SidecarList,
};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use seawall_guard::RuleSet;
use seawall_guard::derive;
use seawall_plan::{capacity, targets};
use seawall_store::{NewRuleVersion, RuleSource, RuleVersion, SidecarReport};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, FOLLOWERS, PLANNERS, READERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::openapi::{AuthErrors, BodyErrors};
use crate::service::plans;
use crate::state::AppState;

/// Longest long poll, in seconds.
pub const MAX_WAIT_SECONDS: u64 = 60;

/// How often a waiting poll re-reads the store (versions stored by another
/// replica reach its sidecars within this).
const RECHECK: Duration = Duration::from_secs(1);

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(derive_rules))
        .routes(routes!(adjust))
        .routes(routes!(poll))
        .routes(routes!(applied))
        .routes(routes!(services))
        .routes(routes!(versions))
        .routes(routes!(version))
        .routes(routes!(sidecars))
}

fn info(v: &RuleVersion) -> RulesInfo {
    RulesInfo {
        version: v.version,
        sha256: v.sha256.clone(),
        source: v.source.as_str().to_owned(),
        plan_version: v.plan_version,
        note: v.note.clone(),
        created_ms: v.created_ms,
        created_by: v.created_by.clone(),
    }
}

/// The stored document with its `version` set to the stored version.
fn served(v: RuleVersion) -> Result<Rules, ApiError> {
    let mut rules: Value = serde_json::from_str(&v.document).map_err(|e| {
        ApiError::Internal(format!(
            "stored rules {} v{} are not JSON: {e}",
            v.service, v.version
        ))
    })?;
    if let Some(obj) = rules.as_object_mut() {
        obj.insert("version".into(), Value::from(v.version));
    }
    Ok(Rules {
        service: v.service,
        version: v.version,
        sha256: v.sha256,
        source: v.source.as_str().to_owned(),
        plan_version: v.plan_version,
        note: v.note,
        created_ms: v.created_ms,
        created_by: v.created_by,
        rules,
    })
}

/// The document as stored: the rule set as JSON with version 0 (the store
/// numbers versions), so equal rules give equal text.
fn document(mut rules: RuleSet) -> Result<String, ApiError> {
    rules.version = 0;
    serde_json::to_string(&rules)
        .map_err(|e| ApiError::Internal(format!("cannot serialise rules: {e}")))
}

pub(crate) fn check_service(service: &str) -> Result<(), ApiError> {
    let ok = !service.is_empty()
        && service.len() <= 200
        && !service.chars().any(|c| c.is_control() || c == '/');
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_service",
            format!("service {service:?} is not a service name (1–200 characters, no `/`)"),
        ))
    }
}

/// Derive every service's rules from the event's current plan and runs.
#[utoipa::path(post, path = "/events/{slug}/guard/derive", tag = "guard",
    security(("bearer" = [])),
    params(("slug" = String, Path, description = "Event slug")),
    request_body = DeriveRequest,
    responses(
        (status = 200, description = "Per service: its latest version and whether it changed",
            body = DeriveResult),
        (status = 404, description = "No such event, or it has no plan", body = ErrorBody),
        AuthErrors, BodyErrors,
        (status = 422, description = "A safety factor outside (0, 1], or rules the guard \
            refuses (invalid_rules)", body = ErrorBody)))]
async fn derive_rules(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(slug): ApiPath<String>,
    JsonBody(req): JsonBody<DeriveRequest>,
) -> Result<Json<DeriveResult>, ApiError> {
    auth.require(PLANNERS)?;
    let safety = req.safety.unwrap_or(derive::DEFAULT_SAFETY);
    if !(safety > 0.0 && safety <= 1.0) {
        return Err(ApiError::unprocessable(
            "invalid_safety",
            format!("safety {safety} is out of range: give a factor above 0 and at most 1"),
        ));
    }
    let plans::Analysed {
        version: plan_version,
        plan,
        measured,
    } = plans::analysed(&state, &slug, None).await?;
    let table = capacity::table(&plan, &targets::decompose(&plan), &measured);
    let whole = derive::from_plan(&plan, &table, safety)
        .map_err(|e| ApiError::unprocessable("invalid_rules", e.to_string()))?;
    let source = measured.source.clone().unwrap_or_else(|| "none".to_owned());
    let ctx = auth.ctx(&state);
    let mut out = Vec::new();
    for service in plan.services.keys() {
        let rules = derive::for_service(&plan, &whole.rules, service)
            .map_err(|e| ApiError::unprocessable("invalid_rules", format!("{service}: {e}")))?;
        let doc = document(rules)?;
        let latest = state.store.rules(service, None).await?;
        if let Some(l) = latest.as_ref().filter(|l| l.document == doc) {
            out.push(Derived {
                service: service.clone(),
                version: l.version,
                changed: false,
            });
            continue;
        }
        let stored = state
            .store
            .put_rules(
                &ctx,
                &NewRuleVersion {
                    service: service.clone(),
                    document: doc,
                    source: RuleSource::Derived,
                    plan_version: Some(plan_version),
                    note: format!(
                        "derived from {slug} plan v{plan_version}, safety {safety}, measured: {source}"
                    ),
                },
            )
            .await?;
        out.push(Derived {
            service: service.clone(),
            version: stored.version,
            changed: true,
        });
    }
    state.notify_change();
    Ok(Json(DeriveResult {
        plan_version,
        measured: source,
        services: out,
    }))
}

/// Store a commander's rule set for a service as its next version.
#[utoipa::path(put, path = "/guard/services/{service}/rules", tag = "guard",
    security(("bearer" = [])),
    params(("service" = String, Path, description = "Service")),
    request_body = Adjust,
    responses(
        (status = 201, description = "Stored as the next version", body = Rules),
        AuthErrors, BodyErrors,
        (status = 422, description = "Rules the guard refuses (invalid_rules), or no note",
            body = ErrorBody)))]
async fn adjust(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(service): ApiPath<String>,
    JsonBody(req): JsonBody<Adjust>,
) -> Result<(StatusCode, Json<Rules>), ApiError> {
    auth.require(PLANNERS)?;
    check_service(&service)?;
    crate::extract::cap("note", &req.note, crate::state::MAX_NOTE_CHARS)?;
    let note = req.note.trim();
    if note.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_note",
            "say why the rules change in `note`; it is kept with the version for the review",
        ));
    }
    let rules = RuleSet::from_json(&req.rules.to_string()).map_err(|e| {
        ApiError::unprocessable(
            "invalid_rules",
            format!("the rules are not a valid rule document (docs/guard-rules.md): {e}"),
        )
    })?;
    let stored = state
        .store
        .put_rules(
            &auth.ctx(&state),
            &NewRuleVersion {
                service,
                document: document(rules)?,
                source: RuleSource::Adjusted,
                plan_version: None,
                note: note.to_owned(),
            },
        )
        .await?;
    state.notify_change();
    Ok((StatusCode::CREATED, Json(served(stored)?)))
}

/// Long poll for a service's rules (sidecars: `seawall sidecar --control`).
#[utoipa::path(get, path = "/guard/rules", tag = "guard", security(("bearer" = [])),
    params(PollQuery),
    responses(
        (status = 200, description = "The latest version (it differs from `since`)", body = Rules),
        (status = 304, description = "Nothing newer within `wait`"),
        (status = 422, description = "`service` is not a service name (invalid_service)",
            body = ErrorBody),
        AuthErrors))]
async fn poll(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PollQuery>,
) -> Result<Response, ApiError> {
    auth.require_service(FOLLOWERS, &q.service)?;
    check_service(&q.service)?;
    let wait = Duration::from_secs(q.wait.unwrap_or(30).min(MAX_WAIT_SECONDS));
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = state.subscribe_changes();
    loop {
        // Subscribed before reading: a version stored after the read wakes us.
        changes.borrow_and_update();
        if let Some(latest) = state.store.rules(&q.service, None).await?
            && latest.version != q.since
        {
            return Ok(Json(served(latest)?).into_response());
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(StatusCode::NOT_MODIFIED.into_response());
        }
        let nap = (deadline - now).min(RECHECK);
        tokio::select! {
            _ = changes.changed() => {}
            () = tokio::time::sleep(nap) => {}
            () = state.shutting_down() => return Ok(StatusCode::NOT_MODIFIED.into_response()),
        }
    }
}

/// A sidecar reports the version in force there.
#[utoipa::path(post, path = "/guard/applied", tag = "guard", security(("bearer" = [])),
    request_body = Applied,
    responses(
        (status = 204, description = "Recorded (and audited)"),
        (status = 409, description = "A new instance past the per-service bound", body = ErrorBody),
        (status = 422, description = "A bad instance name or a version that does not exist",
            body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn applied(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(a): JsonBody<Applied>,
) -> Result<StatusCode, ApiError> {
    auth.require_service(FOLLOWERS, &a.service)?;
    check_service(&a.service)?;
    let instance = a.instance.trim();
    if instance.is_empty() || instance.len() > 200 || instance.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "invalid_instance",
            "`instance` must name the sidecar (1–200 characters, no control characters)",
        ));
    }
    let latest = state
        .store
        .rules(&a.service, None)
        .await?
        .map_or(0, |v| v.version);
    if a.version < 0 || a.version > latest {
        return Err(ApiError::unprocessable(
            "invalid_version",
            format!(
                "`version` {} is not a version of `{}`'s rules (0 to {latest})",
                a.version, a.service
            ),
        ));
    }
    let known = state.store.sidecar_reports(&a.service).await?;
    let max = state.limits().max_sidecars_per_service;
    if known.len() >= max && !known.iter().any(|r| r.instance == instance) {
        return Err(ApiError::Conflict(format!(
            "service `{}` has {} sidecar instances reporting already, the most this server \
             keeps; reuse instance names (--instance) or raise the limit",
            a.service,
            known.len()
        )));
    }
    state
        .store
        .report_applied(
            &auth.ctx(&state),
            &SidecarReport {
                service: a.service,
                instance: instance.to_owned(),
                applied_version: a.version,
                reported_ms: state.now(),
            },
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Services with rules and their latest versions.
#[utoipa::path(get, path = "/guard/services", tag = "guard", security(("bearer" = [])),
    responses((status = 200, description = "By name", body = ServiceList), AuthErrors))]
async fn services(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<ServiceList>, ApiError> {
    auth.require(READERS)?;
    let services = state
        .store
        .rule_services()
        .await?
        .into_iter()
        .map(|(service, latest_version)| ServiceRules {
            service,
            latest_version,
        })
        .collect();
    Ok(Json(ServiceList { services }))
}

/// A service's rule versions, oldest first, without documents.
#[utoipa::path(get, path = "/guard/services/{service}/versions", tag = "guard",
    security(("bearer" = [])),
    params(("service" = String, Path, description = "Service")),
    responses(
        (status = 200, description = "Oldest first", body = RulesHistory),
        (status = 404, description = "The service has no rules", body = ErrorBody),
        AuthErrors))]
async fn versions(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(service): ApiPath<String>,
) -> Result<Json<RulesHistory>, ApiError> {
    auth.require(READERS)?;
    let history = state.store.rule_history(&service).await?;
    if history.is_empty() {
        return Err(ApiError::not_found(format!("rules of `{service}`")));
    }
    Ok(Json(RulesHistory {
        service,
        versions: history.iter().map(info).collect(),
    }))
}

/// One version of a service's rules.
#[utoipa::path(get, path = "/guard/services/{service}/versions/{version}", tag = "guard",
    security(("bearer" = [])),
    params(("service" = String, Path, description = "Service"),
        ("version" = i64, Path, description = "Version")),
    responses(
        (status = 200, description = "The version", body = Rules),
        (status = 404, description = "No such version", body = ErrorBody),
        AuthErrors))]
async fn version(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath((service, version)): ApiPath<(String, i64)>,
) -> Result<Json<Rules>, ApiError> {
    auth.require(READERS)?;
    let v = state
        .store
        .rules(&service, Some(version))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("version {version} of `{service}`'s rules")))?;
    Ok(Json(served(v)?))
}

/// A service's sidecars and what they applied.
#[utoipa::path(get, path = "/guard/services/{service}/sidecars", tag = "guard",
    security(("bearer" = [])),
    params(("service" = String, Path, description = "Service")),
    responses((status = 200, description = "By instance", body = SidecarList), AuthErrors))]
async fn sidecars(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(service): ApiPath<String>,
) -> Result<Json<SidecarList>, ApiError> {
    auth.require(READERS)?;
    let latest_version = state
        .store
        .rules(&service, None)
        .await?
        .map_or(0, |v| v.version);
    let sidecars = state
        .store
        .sidecar_reports(&service)
        .await?
        .into_iter()
        .map(|r| Sidecar {
            lagging: r.applied_version < latest_version,
            instance: r.instance,
            applied_version: r.applied_version,
            reported_ms: r.reported_ms,
        })
        .collect();
    Ok(Json(SidecarList {
        service,
        latest_version,
        sidecars,
    }))
}
