//! The one error shape of the API. Every failure a handler or an extractor
//! can produce becomes `{"error": {"code", "message", "details"}}` with the
//! right status, so clients branch on a stable snake_case `code` and show
//! the `message` (which says what to do) to people.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use seawall_api::error::{ErrorBody, ErrorDetail};
use seawall_store::{Role, StoreError};
use serde_json::Value;

/// An API error: a status, a stable code, a message and optional details.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 400: the request cannot be read (malformed JSON, bad path or query).
    #[error("{message}")]
    BadRequest {
        /// Stable code.
        code: &'static str,
        /// What is wrong.
        message: String,
        /// Specifics (line and column).
        details: Option<Value>,
    },
    /// 401: no token, an unknown token or a revoked one.
    #[error("{message}")]
    Unauthorized {
        /// Stable code (`unauthorized`, `token_revoked`).
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// 403: the token's role may not do this.
    #[error("{message}")]
    Forbidden {
        /// What is refused and why.
        message: String,
        /// Roles that may.
        allowed: Vec<Role>,
    },
    /// 404: the thing named in the path does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 405: the path exists, the method does not.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: a name is taken or the state does not allow the change.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than the server accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 415: the body is not `application/json`.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: well-formed JSON with values the endpoint cannot accept
    /// (unknown fields, wrong types, an invalid plan or run).
    #[error("{message}")]
    Unprocessable {
        /// Stable code.
        code: &'static str,
        /// What is wrong.
        message: String,
        /// Specifics (a plan's diagnostics).
        details: Option<Value>,
    },
    /// 429: the token made more writes than its rate allows.
    #[error("{message}")]
    TooManyRequests {
        /// What is refused and when to try again.
        message: String,
        /// Seconds until the next write is allowed (`Retry-After`).
        retry_after_secs: u64,
    },
    /// 503: the database does not answer.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a failure on the server's side.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// 400 with a code and message.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// 422 with a code and message.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// 422 `too_long`: free text `field` is longer than `max` characters.
    pub fn too_long(field: &str, max: usize, got: usize) -> Self {
        ApiError::Unprocessable {
            code: "too_long",
            message: format!(
                "`{field}` is {got} characters long; at most {max} are accepted — shorten it"
            ),
            details: Some(serde_json::json!({"field": field, "max_chars": max})),
        }
    }

    /// 404 for `what` (`event "double11"`).
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::Unauthorized { code, .. }
            | ApiError::Unprocessable { code, .. } => code,
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The body this error is sent as.
    pub fn body(&self) -> ErrorBody {
        let details = match self {
            ApiError::BadRequest { details, .. } | ApiError::Unprocessable { details, .. } => {
                details.clone()
            }
            ApiError::Forbidden { allowed, .. } => Some(serde_json::json!({
                "allowed_roles": allowed.iter().map(|r| r.as_str()).collect::<Vec<_>>()
            })),
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => Some(serde_json::json!({"retry_after_seconds": retry_after_secs})),
            _ => None,
        };
        ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
                details,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(code = self.code(), error = %self, "request failed");
        }
        let mut response = (status, Json(self.body())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"seawall\""),
            );
        }
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        } = &self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => ApiError::NotFound(format!("{what} not found")),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            other => {
                // The whole chain, once: each message says its own part.
                let mut text = other.to_string();
                let mut cause = std::error::Error::source(&other);
                while let Some(c) = cause {
                    text.push_str(": ");
                    text.push_str(&c.to_string());
                    cause = c.source();
                }
                ApiError::Internal(text)
            }
        }
    }
}
