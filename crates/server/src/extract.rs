//! Strict request extractors: their rejections are [`ApiError`]s, so a bad
//! body, path or query gets the API's JSON error shape instead of axum's
//! plain-text one.
//!
//! - [`JsonBody`]: `application/json` only (415 otherwise), at most the
//!   state's body limit (413), malformed JSON 400 with line and column,
//!   unknown fields and wrong types 422 (request types carry
//!   `#[serde(deny_unknown_fields)]`).
//! - [`RawJson`]: the same checks, the text kept exactly as sent (stored
//!   documents such as `run.json`).
//! - [`ApiPath`], [`ApiQuery`]: axum's `Path` and `Query` with JSON errors.
//! - [`cap`]: free text (reasons, notes, references, globs) longer than
//!   its documented cap is refused with 422 `too_long` naming the field and
//!   the cap, before anything is stored.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header;
use axum::http::request::Parts;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON request body deserialized strictly into `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

/// A JSON request body checked for syntax and kept as text.
#[derive(Debug, Clone)]
pub struct RawJson(pub String);

/// Path parameters with JSON errors.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

/// Query parameters with JSON errors.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = json_bytes(req, state.body_limit()).await?;
        parse(&bytes).map(JsonBody)
    }
}

impl FromRequest<AppState> for RawJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = json_bytes(req, state.body_limit()).await?;
        parse::<serde::de::IgnoredAny>(&bytes)?;
        // Valid JSON is valid UTF-8.
        String::from_utf8(bytes.to_vec())
            .map(RawJson)
            .map_err(|_| ApiError::bad_request("malformed_json", "the body is not UTF-8"))
    }
}

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))
    }
}

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}

/// The body of a JSON request, after the content type and size checks.
async fn json_bytes(req: Request, limit: usize) -> Result<Bytes, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_json(content_type) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "the body must be JSON: send `Content-Type: application/json` (got {})",
            if content_type.is_empty() {
                "no Content-Type".to_owned()
            } else {
                format!("`{content_type}`")
            }
        )));
    }
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the body is larger than this server accepts ({limit} bytes)"
        ))
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let body: Body = req.into_body();
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(ApiError::bad_request(
            "bad_body",
            format!("the body could not be read: {e}"),
        )),
    }
}

/// Refuse (422 `too_long`, naming `field` and `max`) free text longer than
/// `max` characters.
pub fn cap(field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    // Bytes bound characters from above: most texts are decided without counting.
    if text.len() <= max {
        return Ok(());
    }
    let chars = text.chars().count();
    if chars <= max {
        Ok(())
    } else {
        Err(ApiError::too_long(field, max, chars))
    }
}

/// `application/json`, `application/<x>+json`, with or without parameters.
fn is_json(content_type: &str) -> bool {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Deserialize JSON with the API's errors: syntax 400, values 422.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let details = Some(json!({"line": e.line(), "column": e.column()}));
        match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                let message = if bytes.iter().all(u8::is_ascii_whitespace) {
                    "the body is empty; send a JSON document".to_owned()
                } else {
                    format!("malformed JSON: {e}")
                };
                ApiError::BadRequest {
                    code: "malformed_json",
                    message,
                    details,
                }
            }
            serde_json::error::Category::Data | serde_json::error::Category::Io => {
                let text = e.to_string();
                let code = if text.starts_with("unknown field") {
                    "unknown_field"
                } else {
                    "invalid_body"
                };
                ApiError::Unprocessable {
                    code,
                    message: format!("invalid request body: {text}"),
                    details,
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Req {
        name: String,
    }

    #[test]
    fn free_text_is_capped_in_characters() {
        assert!(cap("reason", "ü".repeat(10).as_str(), 10).is_ok());
        let e = cap("reason", &"x".repeat(11), 10).expect_err("too long");
        assert_eq!(e.code(), "too_long");
        assert_eq!(e.status().as_u16(), 422);
        assert!(
            e.to_string().contains("`reason`") && e.to_string().contains("10"),
            "{e}"
        );
        assert_eq!(
            e.body().error.details,
            Some(json!({"field": "reason", "max_chars": 10}))
        );
    }

    #[test]
    fn json_content_types() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
        assert!(!is_json("application/jsonx"));
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = parse::<Req>(b"{\n  \"name\": }").expect_err("syntax");
        assert_eq!(e.code(), "malformed_json");
        assert_eq!(e.status().as_u16(), 400);
        let body = e.body();
        assert_eq!(body.error.details, Some(json!({"line": 2, "column": 11})));

        let e = parse::<Req>(br#"{"name": "a", "nmae": "b"}"#).expect_err("unknown");
        assert_eq!(e.code(), "unknown_field");
        assert_eq!(e.status().as_u16(), 422);
        assert!(e.to_string().contains("nmae"), "{e}");

        let e = parse::<Req>(br#"{"name": 3}"#).expect_err("type");
        assert_eq!(e.code(), "invalid_body");

        let e = parse::<Req>(b"  ").expect_err("empty");
        assert!(e.to_string().contains("empty"), "{e}");
    }
}
