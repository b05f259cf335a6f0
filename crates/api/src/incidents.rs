//! Incidents and on-call paging: open one by hand (page-severity alerts
//! open them by themselves), list and read them with their timeline and
//! paging, acknowledge and resolve (`docs/respond.md#incidents`).

use serde::{Deserialize, Serialize};

/// `POST /events/{slug}/incidents`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OpenIncident {
    /// What is wrong (at most 200 characters).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, pattern = r"\S")
    )]
    pub title: String,
    /// `P1` … `P4` (default `P2`).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[Pp][1-4]$"))]
    pub severity: Option<String>,
    /// The business line whose on-call rota is paged (default: the rota
    /// for every line).
    #[serde(default)]
    pub line: Option<String>,
}

/// `POST /events/{slug}/incidents/{n}/resolve`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResolveIncident {
    /// What ended it (at most 2,000 characters).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub text: Option<String>,
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TimelineEntry {
    /// When, ms since the Unix epoch (UTC).
    pub at_ms: i64,
    /// `opened`, `alert_fired`, `alert_resolved`, `paged`, `page_failed`,
    /// `escalated`, `acknowledged`, `resolved`, …
    pub kind: String,
    /// Who (a token's name, `monitoring`, `pager`).
    pub actor: String,
    /// What happened.
    pub text: String,
}

/// A page sent (recorded before it was handed to the channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PageSent {
    /// 0 for the first page, one more for each after it.
    pub step: u32,
    /// `primary`, `secondary` or `guarantee_group`.
    pub tier: String,
    /// The people paged (person ids of the plan).
    pub people: Vec<String>,
    /// Round through the tiers, from 0.
    pub round: u32,
    /// When it was recorded, ms.
    pub at_ms: i64,
}

/// An incident's paging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// A page waits this long for an acknowledgement before the next tier.
    pub ack_timeout_ms: i64,
    /// Rounds through the tiers before paging stops (none: until acknowledged).
    pub max_rounds: Option<u32>,
    /// Pages sent, in order.
    pub sent: Vec<PageSent>,
    /// When the next page is due, if one is.
    pub next_page_ms: Option<i64>,
    /// Who acknowledged, if anybody.
    pub acknowledged_by: Option<String>,
}

/// One incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// The incident's number.
    pub id: i64,
    /// What is wrong.
    pub title: String,
    /// `P1` … `P4`.
    pub severity: String,
    /// `open`, `acknowledged`, `mitigated` or `resolved`.
    pub status: String,
    /// What deduplicates it (`<kind>:<id>` of an alert's target).
    pub dedup_key: Option<String>,
    /// The business line paged for.
    pub line: Option<String>,
    /// Its store version (grows with every change).
    pub version: i64,
    /// When it was opened, ms.
    pub opened_ms: i64,
    /// Time to acknowledge, ms.
    pub time_to_ack_ms: Option<i64>,
    /// Time to resolve, ms.
    pub time_to_resolve_ms: Option<i64>,
    /// The timeline, in time order.
    pub timeline: Vec<TimelineEntry>,
    /// Its paging, if anybody is on call for it.
    pub paging: Option<Paging>,
}

/// An event's incidents, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IncidentList {
    /// The incidents.
    pub incidents: Vec<Incident>,
}
