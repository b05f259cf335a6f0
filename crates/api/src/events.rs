//! Events: what plan versions, runs and exceptions belong to.

use serde::{Deserialize, Serialize};

/// An event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Store id.
    pub id: i64,
    /// Unique short name used in URLs.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Creation time, ms since the Unix epoch (UTC).
    pub created_ms: i64,
    /// Creator (token name).
    pub created_by: String,
}

/// A new event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewEvent {
    /// Short name: 1–63 lower-case letters, digits and `-`, starting with
    /// a letter or digit (`double11-2026`).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 63,
            pattern = r"^[a-z0-9][a-z0-9-]{0,62}$"
        )
    )]
    pub slug: String,
    /// Display name (1–200 characters).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, pattern = r"\S")
    )]
    pub name: String,
}

/// Every event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventList {
    /// Oldest first.
    pub events: Vec<Event>,
}
