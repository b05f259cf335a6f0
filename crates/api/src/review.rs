//! The post-event review (`GET /events/{slug}/review`): which rendering,
//! and which earlier event to compare with. The JSON rendering's fields
//! are `seawall-review`'s `Review` (schema `seawall.review/v1`, every field
//! in docs/review.md); this crate only names its envelope, so a client
//! can check the schema version without depending on the review crate.

use serde::{Deserialize, Serialize};

/// The review's JSON schema id.
pub const REVIEW_SCHEMA: &str = "seawall.review/v1";

/// Which rendering of the review.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ReviewFormat {
    /// The JSON document (`schema_version`).
    #[default]
    Json,
    /// Markdown, for a wiki.
    Markdown,
    /// One self-contained HTML page (inline CSS and SVG, prints on A4).
    Html,
}

impl ReviewFormat {
    /// As written in the query.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewFormat::Json => "json",
            ReviewFormat::Markdown => "markdown",
            ReviewFormat::Html => "html",
        }
    }

    /// The answer's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            ReviewFormat::Json => "application/json",
            ReviewFormat::Markdown => "text/markdown; charset=utf-8",
            ReviewFormat::Html => "text/html; charset=utf-8",
        }
    }
}

/// The review's query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct ReviewQuery {
    /// `json` (default), `markdown` or `html`.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(inline))]
    pub format: Option<ReviewFormat>,
    /// Slug of an earlier event to compare with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        param(
            min_length = 1,
            max_length = 63,
            pattern = r"^[a-z0-9][a-z0-9-]{0,62}$"
        )
    )]
    pub compare: Option<String>,
}

/// The JSON review's envelope: its schema id and event; the sections
/// that follow (entries, services, funnel, partners, alerts, emergency,
/// change_control, incidents, oncall, recommendations, comparison, notes)
/// are documented field by field in docs/review.md and read by a client
/// that knows them, ignored by one that does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReviewDocument {
    /// `seawall.review/v1`.
    pub schema_version: String,
    /// The event's slug.
    pub event: String,
}
