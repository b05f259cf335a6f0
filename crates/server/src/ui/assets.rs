//! The UI's static files, embedded in the binary so the UI needs nothing
//! from a CDN: htmx (vendored, 0BSD, `assets/htmx.LICENSE`) and the one
//! stylesheet. Names carry a version so they can be cached for a long time.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

/// Path of the vendored htmx, as templates link it.
pub const HTMX: &str = "/ui/assets/htmx-2.0.11.min.js";
/// Path of the stylesheet, as templates link it.
pub const CSS: &str = "/ui/assets/seawall-1.css";

const HTMX_JS: &str = include_str!("../../assets/htmx-2.0.11.min.js");
const SEAWALL_CSS: &str = include_str!("../../assets/seawall.css");

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/assets/htmx-2.0.11.min.js",
            get(|| async { asset("text/javascript; charset=utf-8", HTMX_JS) }),
        )
        .route(
            "/assets/seawall-1.css",
            get(|| async { asset("text/css; charset=utf-8", SEAWALL_CSS) }),
        )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        body,
    )
        .into_response()
}
