//! Gray-release whitelists (docs/scale-out.md): a commander uploads a
//! service's whitelist as text (`PUT /guard/services/{service}/whitelist`),
//! readers list its versions, and sidecars follow it with a long poll
//! (`GET /guard/whitelist?service=S&since=V`) answered in seawall-guard's
//! compact binary form. A `sidecar` token may follow its own service's
//! whitelist and nothing else here.

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use seawall_api::whitelists::{
    UploadQuery, WhitelistHistory, WhitelistInfo, WhitelistPollQuery,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, PLANNERS, READERS, WHITELIST_FOLLOWERS};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use crate::openapi::AuthErrors;
use crate::service::whitelists::{history, upload, wait_for_whitelist};
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_whitelist))
        .routes(routes!(versions))
        .routes(routes!(poll))
}

/// Store a service's gray-release whitelist as its next version.
#[utoipa::path(put, path = "/guard/services/{service}/whitelist", tag = "guard",
    security(("bearer" = [])),
    params(("service" = String, Path, description = "Service"), UploadQuery),
    request_body(content = String, content_type = "text/plain",
        description = "One user id per line (visible ASCII, at most 256 bytes); blank lines \
                       and lines starting with `#` are skipped"),
    responses(
        (status = 201, description = "Stored as the next version", body = WhitelistInfo),
        (status = 400, description = "The body cannot be read", body = ErrorBody),
        (status = 413, description = "Larger than 128 MiB", body = ErrorBody),
        (status = 415, description = "Not `text/plain`", body = ErrorBody),
        (status = 422, description = "A bad id (its line and column in `details`), more than \
            ten million ids, a note over 2,000 characters or a bad service name \
            (invalid_whitelist, too_long, invalid_service)", body = ErrorBody),
        AuthErrors))]
async fn put_whitelist(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(service): ApiPath<String>,
    ApiQuery(q): ApiQuery<UploadQuery>,
    req: Request,
) -> Result<(StatusCode, Json<WhitelistInfo>), ApiError> {
    auth.require(PLANNERS)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Body = req.into_body();
    let stored = upload(
        &state,
        &auth,
        service,
        content_type.as_deref(),
        body,
        q.note,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// A service's whitelist versions, oldest first.
#[utoipa::path(get, path = "/guard/services/{service}/whitelists", tag = "guard",
    security(("bearer" = [])),
    params(("service" = String, Path, description = "Service")),
    responses(
        (status = 200, description = "Oldest first (empty: none uploaded)", body = WhitelistHistory),
        (status = 422, description = "A bad service name (invalid_service)", body = ErrorBody),
        AuthErrors))]
async fn versions(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(service): ApiPath<String>,
) -> Result<Json<WhitelistHistory>, ApiError> {
    auth.require(READERS)?;
    let versions = history(&state, &service).await?;
    Ok(Json(WhitelistHistory { service, versions }))
}

/// Long poll for a service's whitelist (sidecars: `seawall sidecar --control`);
/// the service's sidecars, admins and commanders only: the ids are people's.
#[utoipa::path(get, path = "/guard/whitelist", tag = "guard", security(("bearer" = [])),
    params(WhitelistPollQuery),
    responses(
        (status = 200, description = "The latest version (it differs from `since`): the change \
            from `since` or the whole set, in seawall-guard's wire form (`SWL1`); its version \
            also in `x-seawall-whitelist-version`",
            content_type = "application/vnd.seawall.whitelist", body = String),
        (status = 304, description = "Nothing newer within `wait` (or no whitelist)"),
        (status = 422, description = "`service` is not a service name (invalid_service)",
            body = ErrorBody),
        AuthErrors))]
async fn poll(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<WhitelistPollQuery>,
) -> Result<Response, ApiError> {
    auth.require_service(WHITELIST_FOLLOWERS, &q.service)?;
    Ok(match wait_for_whitelist(&state, &q).await? {
        Some((version, bytes)) => {
            let mut response = bytes.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(seawall_api::whitelists::SET_CONTENT_TYPE),
            );
            if let Ok(v) = HeaderValue::from_str(&version.to_string()) {
                headers.insert("x-seawall-whitelist-version", v);
            }
            response
        }
        None => StatusCode::NOT_MODIFIED.into_response(),
    })
}
