//! `GET /me`: the calling token (any role, ci included), so a client can
//! check its token and see its role before doing anything.

use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::tokens::Token;
use crate::auth::{ANYONE, Auth};
use crate::error::ApiError;
use crate::openapi::AuthErrors;
use crate::state::AppState;

/// The area's routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// The calling token.
#[utoipa::path(get, path = "/me", tag = "tokens", security(("bearer" = [])),
    responses((status = 200, description = "The calling token", body = Token), AuthErrors))]
async fn me(auth: Auth) -> Result<Json<Token>, ApiError> {
    auth.require(ANYONE)?;
    Ok(Json(auth.token.into()))
}
