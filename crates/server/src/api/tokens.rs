//! API tokens (admin only): `POST /tokens` makes one and shows its secret
//! once, `GET /tokens` lists them (never a secret), `DELETE /tokens/{id}`
//! revokes one (and ends its UI sessions). Only the secret's SHA-256 is
//! stored. A token may expire (`expires_in_seconds`); a `sidecar` token is
//! scoped to one service and a `ci` token bound to one event, so neither
//! can be used beyond what its holder needs.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
pub use seawall_api::tokens::{CreatedToken, NewToken, Token, TokenList};
use seawall_store::Role;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{ADMINS, Auth, new_secret, secret_hash};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, JsonBody};
use crate::openapi::{AuthErrors, BodyErrors};
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
}

/// Shortest token lifetime `expires_in_seconds` accepts.
pub const MIN_EXPIRY_SECONDS: u64 = 60;
/// Longest token lifetime `expires_in_seconds` accepts (10 years).
pub const MAX_EXPIRY_SECONDS: u64 = 10 * 365 * 86_400;

/// Check a token's name.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_name",
            format!("token name {name:?} is not allowed: use 1–64 of A–Z a–z 0–9 . _ - @"),
        ))
    }
}

/// Make a token; its secret is in this answer only.
#[utoipa::path(post, path = "/tokens", tag = "tokens", security(("bearer" = [])),
    request_body = NewToken,
    responses(
        (status = 201, description = "Created; the secret is shown this once", body = CreatedToken),
        (status = 409, description = "The name is taken", body = ErrorBody),
        AuthErrors, BodyErrors))]
async fn create_token(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(new): JsonBody<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    auth.require(ADMINS)?;
    check_name(&new.name)?;
    let role = new.role;
    if let Some(line) = &new.business_line {
        crate::extract::cap("business_line", line, crate::state::MAX_NAME_CHARS)?;
    }
    let business_line = match (role, new.business_line) {
        (Role::Pm, Some(line)) if !line.trim().is_empty() => Some(line.trim().to_owned()),
        (Role::Pm, _) => {
            return Err(ApiError::unprocessable(
                "business_line_required",
                "a pm token is scoped to one business line: give `business_line` (an id from \
                 the plan's organization.business_lines)",
            ));
        }
        (_, Some(_)) => {
            return Err(ApiError::unprocessable(
                "business_line_not_allowed",
                format!(
                    "only pm tokens have a business line; leave `business_line` out for role {}",
                    role.as_str()
                ),
            ));
        }
        (_, None) => None,
    };
    let service = match (role, new.service.as_deref().map(str::trim)) {
        (Role::Sidecar, Some(service)) => {
            crate::api::rules::check_service(service)?;
            Some(service.to_owned())
        }
        (Role::Sidecar, None) => {
            return Err(ApiError::unprocessable(
                "service_required",
                "a sidecar token is scoped to one service: give `service` (the service its \
                 sidecars guard)",
            ));
        }
        (_, Some(_)) => {
            return Err(ApiError::unprocessable(
                "service_not_allowed",
                format!(
                    "only sidecar tokens have a service; leave `service` out for role {}",
                    role.as_str()
                ),
            ));
        }
        (_, None) => None,
    };
    let event = match (role, new.event.as_deref().map(str::trim)) {
        (Role::Ci, Some(slug)) => {
            if state.store.event(slug).await?.is_none() {
                return Err(ApiError::unprocessable(
                    "unknown_event",
                    format!(
                        "there is no event `{slug}` to bind the ci token to; create it first \
                         or check the slug (GET /api/v1/events)"
                    ),
                ));
            }
            Some(slug.to_owned())
        }
        (Role::Ci, None) => {
            return Err(ApiError::unprocessable(
                "event_required",
                "a ci token is bound to one event: give `event` (the slug of the event whose \
                 freeze windows its pipelines obey)",
            ));
        }
        (_, Some(_)) => {
            return Err(ApiError::unprocessable(
                "event_not_allowed",
                format!(
                    "only ci tokens are bound to an event; leave `event` out for role {}",
                    role.as_str()
                ),
            ));
        }
        (_, None) => None,
    };
    let expires_ms = match new.expires_in_seconds {
        None => None,
        Some(secs) if (MIN_EXPIRY_SECONDS..=MAX_EXPIRY_SECONDS).contains(&secs) => Some(
            state
                .now()
                .saturating_add(i64::try_from(secs * 1000).unwrap_or(i64::MAX)),
        ),
        Some(secs) => {
            return Err(ApiError::unprocessable(
                "invalid_expiry",
                format!(
                    "`expires_in_seconds` {secs} is out of range: give {MIN_EXPIRY_SECONDS} s \
                     to {MAX_EXPIRY_SECONDS} s (10 years), or leave it out for a token that \
                     does not expire"
                ),
            ));
        }
    };
    let secret = new_secret()?;
    let token = state
        .store
        .create_token(
            &auth.ctx(&state),
            &seawall_store::NewToken {
                name: new.name,
                role,
                business_line,
                secret_sha256: secret_hash(&secret),
                expires_ms,
                service,
                event,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: token.into(),
            secret,
        }),
    ))
}

/// Every token, oldest first (never a secret).
#[utoipa::path(get, path = "/tokens", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, description = "Every token", body = TokenList), AuthErrors))]
async fn list_tokens(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<TokenList>, ApiError> {
    auth.require(ADMINS)?;
    let tokens = state.store.tokens().await?;
    Ok(Json(TokenList {
        tokens: tokens.into_iter().map(Token::from).collect(),
    }))
}

/// Revoke a token: it authenticates nothing from now on and its UI
/// sessions end. The last unrevoked admin token cannot be revoked (nobody
/// could make tokens).
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = i64, Path, description = "Token id")),
    responses(
        (status = 200, description = "Revoked (revoking twice keeps the first time)", body = Token),
        (status = 404, description = "No such token", body = ErrorBody),
        (status = 409, description = "The last admin token", body = ErrorBody),
        AuthErrors))]
async fn revoke_token(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Token>, ApiError> {
    auth.require(ADMINS)?;
    let tokens = state.store.tokens().await?;
    let Some(target) = tokens.iter().find(|t| t.id == id) else {
        return Err(ApiError::not_found(format!("token {id}")));
    };
    let live_admins = tokens
        .iter()
        .filter(|t| t.role == Role::Admin && t.revoked_ms.is_none())
        .count();
    if target.role == Role::Admin && target.revoked_ms.is_none() && live_admins <= 1 {
        return Err(ApiError::Conflict(format!(
            "token `{}` is the last admin token; make another admin token before revoking it",
            target.name
        )));
    }
    let token = state.store.revoke_token(&auth.ctx(&state), id).await?;
    Ok(Json(token.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("ci-payments").is_ok());
        assert!(check_name("ana@ops.example").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("has space").is_err());
        assert!(check_name(&"x".repeat(65)).is_err());
    }
}
