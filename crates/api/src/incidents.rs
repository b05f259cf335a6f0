//! Incidents and on-call paging: open one by hand (page-severity alerts
//! open them by themselves), list and read them with their timeline and
//! paging, acknowledge, give roles, take notes, post status updates,
//! change the severity, mitigate and resolve (`docs/respond.md#incidents`).
//!
//! Every change but acknowledging may name the `version` it was decided
//! on: a change made on a stale read is refused (409) and stores nothing.

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

/// `POST /events/{slug}/incidents/{n}/roles`: give a role to one of the
/// plan's people (giving it again moves it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AssignRole {
    /// `commander`, `scribe` or `liaison`.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^(commander|scribe|liaison)$"))]
    pub role: String,
    /// A person id of the event's plan (`people:`).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, pattern = r"\S")
    )]
    pub person: String,
    /// The incident's version this was decided on (409 when stale).
    #[serde(default)]
    pub version: Option<i64>,
}

/// `POST /events/{slug}/incidents/{n}/notes`: a note for the timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddNote {
    /// The note (at most 2,000 characters, not blank).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 2000, pattern = r"\S")
    )]
    pub text: String,
    /// The incident's version this was decided on (409 when stale).
    #[serde(default)]
    pub version: Option<i64>,
}

/// `POST /events/{slug}/incidents/{n}/updates`: a public status update.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PostUpdate {
    /// `investigating`, `identified`, `mitigated` or `monitoring`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^(investigating|identified|mitigated|monitoring)$")
    )]
    pub status: String,
    /// What the world is told (at most 2,000 characters, not blank).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 2000, pattern = r"\S")
    )]
    pub text: String,
    /// The incident's version this was decided on (409 when stale).
    #[serde(default)]
    pub version: Option<i64>,
}

/// `POST /events/{slug}/incidents/{n}/severity`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangeSeverity {
    /// `P1` … `P4`.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[Pp][1-4]$"))]
    pub severity: String,
    /// The incident's version this was decided on (409 when stale).
    #[serde(default)]
    pub version: Option<i64>,
}

/// `POST /events/{slug}/incidents/{n}/mitigate`: the fix is in, watching
/// (an unacknowledged incident is acknowledged too: its paging stops).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MitigateIncident {
    /// What was done (at most 2,000 characters).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 2000))]
    pub text: Option<String>,
    /// The incident's version this was decided on (409 when stale).
    #[serde(default)]
    pub version: Option<i64>,
}

/// A role and who holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RoleHolder {
    /// `commander`, `scribe` or `liaison`.
    pub role: String,
    /// The person id.
    pub person: String,
}

/// A public status update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StatusUpdate {
    /// When, ms.
    pub at_ms: i64,
    /// `investigating`, `identified`, `mitigated` or `monitoring`.
    pub status: String,
    /// Who posted it.
    pub by: String,
    /// The text.
    pub text: String,
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TimelineEntry {
    /// When, ms since the Unix epoch (UTC).
    pub at_ms: i64,
    /// `opened`, `alert_fired`, `alert_resolved`, `paged`, `page_failed`,
    /// `escalated`, `acknowledged`, `plan_run`, `plan_step`, `gate`,
    /// `rule_change`, `status_update`, `note`, `role_assigned`,
    /// `severity_changed`, `mitigated`, `resolved`.
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
    /// Roles given (one person per role).
    pub roles: Vec<RoleHolder>,
    /// Public status updates, oldest first.
    pub updates: Vec<StatusUpdate>,
    /// The timeline, in time order (notes are its `note` entries).
    pub timeline: Vec<TimelineEntry>,
    /// Its paging, if anybody is on call for it.
    pub paging: Option<Paging>,
    /// The event's time zone (IANA, the current plan's `event.timezone`;
    /// `UTC` without a plan), in which the UI and the CLI show its times.
    #[serde(default = "utc")]
    pub timezone: String,
}

fn utc() -> String {
    "UTC".to_owned()
}

/// An event's incidents, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IncidentList {
    /// The incidents.
    pub incidents: Vec<Incident>,
    /// The event's time zone, as [`Incident::timezone`].
    #[serde(default = "utc")]
    pub timezone: String,
}
