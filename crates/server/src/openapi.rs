//! The OpenAPI document's frame: title, version, the bearer security
//! scheme and the shared error schema. Paths and their schemas come from
//! each handler's `#[utoipa::path]` through the router (`api::app`).

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};

/// The document's fixed part.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Seawall control plane",
        description = "Events, plan versions and their analyses, rehearsal results, \
                       API tokens and the hash-chained audit log. Every error is \
                       `{\"error\": {\"code\", \"message\", \"details\"}}`; see docs/control-plane.md.",
        license(name = "Apache-2.0"),
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness, readiness, this document"),
        (name = "events", description = "Events: the unit plans belong to"),
        (name = "plans", description = "Plan versions and their analyses"),
        (name = "runs", description = "Rehearsal results (run.json)"),
        (name = "tokens", description = "API tokens and roles"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "gate", description = "The change gate and its recorded decisions"),
        (name = "exceptions", description = "Freeze exceptions: request, approve, reject"),
        (name = "guard", description = "Guard rules: derived, adjusted, versioned, followed by sidecars"),
        (name = "exports", description = "The freeze calendar as iCal, GitLab freeze periods and Argo CD sync windows"),
        (name = "monitoring", description = "The event day: alerts and the live view"),
        (name = "emergency", description = "Emergency plans that execute: runs, approvals, rollback"),
        (name = "incidents", description = "Incidents with timelines, on-call paging and escalation"),
        (name = "review", description = "The post-event review: estimate, rehearsal and actual compared"),
        (name = "fleet", description = "Rehearsal agents and scenario runs across them"),
    )
)]
pub struct ApiDoc;

/// Name of the security scheme handlers list in `security(...)`.
pub const BEARER: &str = "bearer";

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sw_<64 hex digits>")
                    .description(Some(
                        "An API token: `Authorization: Bearer sw_…` (seawall token create)",
                    ))
                    .build(),
            ),
        );
        // Slack's interactive requests (`/im/slack/actions`) carry no
        // token: Slack signs them with the app's signing secret.
        components.add_security_scheme(
            SLACK_SIGNATURE,
            SecurityScheme::ApiKey(utoipa::openapi::security::ApiKey::Header(
                utoipa::openapi::security::ApiKeyValue::with_description(
                    "X-Slack-Signature",
                    "`v0=` + hex(HMAC-SHA256(signing secret, `v0:{X-Slack-Request-Timestamp}:{body}`)), within 5 minutes",
                ),
            )),
        );
    }
}

/// Name of the security scheme of Slack's signed requests.
pub const SLACK_SIGNATURE: &str = "slack_signature";

/// The error answers every authenticated endpoint can give: list it in a
/// handler's `responses(...)` after its own answers.
#[derive(utoipa::IntoResponses)]
pub enum AuthErrors {
    /// A path or query parameter cannot be read.
    #[response(
        status = 400,
        description = "A path or query parameter cannot be read (invalid_path, invalid_query), \
                       or a JSON body is malformed"
    )]
    BadRequest(ErrorBody),
    /// No token, an unknown one, a revoked one or an expired one.
    #[response(
        status = 401,
        description = "No token, or an unknown, revoked (token_revoked) or expired \
                       (token_expired) one"
    )]
    Unauthorized(ErrorBody),
    /// The token's role may not do this.
    #[response(status = 403, description = "The token's role may not do this")]
    Forbidden(ErrorBody),
    /// Writes only: the token's write rate is used up.
    #[response(
        status = 429,
        description = "Writes (POST, PUT, PATCH, DELETE) only: the token made more writes than \
                       its rate allows (too_many_requests); `Retry-After` says when to try again",
        headers(("Retry-After" = u64, description = "Seconds until the next write is allowed"))
    )]
    TooManyRequests(ErrorBody),
}

/// The error answers of an endpoint that takes a JSON body.
#[derive(utoipa::IntoResponses)]
pub enum BodyErrors {
    /// Malformed JSON (with line and column).
    #[response(status = 400, description = "Malformed JSON (details: line, column)")]
    Malformed(ErrorBody),
    /// Larger than the server's body limit.
    #[response(
        status = 413,
        description = "The body is larger than the server accepts"
    )]
    TooLarge(ErrorBody),
    /// Not `application/json`.
    #[response(status = 415, description = "The body is not application/json")]
    NotJson(ErrorBody),
    /// Unknown fields, wrong types or values the endpoint cannot accept.
    #[response(
        status = 422,
        description = "Unknown fields, wrong types, invalid values"
    )]
    Invalid(ErrorBody),
}
