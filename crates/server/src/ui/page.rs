//! How a page answers: a template rendered to HTML, or an error shown as
//! an HTML page. Its own module so the chrome and the session, which
//! every page uses, need nothing from `ui`'s root (the server's modules
//! form a DAG: `.ci/module-dag.sh`).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::error::ApiError;

/// Render a template into an HTML answer.
pub fn render<T: Template>(page: &T) -> Result<Html<String>, UiError> {
    page.render()
        .map(Html)
        .map_err(|e| UiError(ApiError::Internal(format!("rendering a page failed: {e}"))))
}

/// An error shown as an HTML page with the API error's status and message.
#[derive(Debug)]
pub struct UiError(pub ApiError);

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        UiError(e)
    }
}

impl From<seawall_store::StoreError> for UiError {
    fn from(e: seawall_store::StoreError) -> Self {
        UiError(e.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: String,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if status.is_server_error() {
            tracing::error!(error = %self.0, "ui page failed");
        }
        let page = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message: self.0.to_string(),
        };
        let mut response = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, "error page failed").into_response();
            }
        };
        if let ApiError::TooManyRequests {
            retry_after_secs, ..
        } = &self.0
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        response
    }
}
