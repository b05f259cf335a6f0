//! The event day: an event's alerts (`GET /events/{slug}/alerts`) and its
//! live view (`GET /events/{slug}/live`), as the control plane's monitor
//! evaluated them at its latest tick (`docs/monitoring.md#control-plane`).
//!
//! Numbers that do not apply to a row, or that its source did not give,
//! are null — a failed or stale source is never a zero. Times are
//! milliseconds since the Unix epoch (UTC).

use serde::{Deserialize, Serialize};

/// What an alert or a live row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// An entry point.
    Entry,
    /// A service.
    Service,
    /// An external partner.
    Partner,
    /// A step of the business funnel.
    FunnelStep,
    /// A plan alert's own query.
    Query,
}

/// An alert's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlertTarget {
    /// Its kind.
    pub kind: TargetKind,
    /// Entry, service or partner id, funnel step name or alert id.
    pub id: String,
}

/// An alert's severity (`page` and `critical` silence `ticket` and
/// `warn` on the same target).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AlertSeverity {
    /// Wake someone up.
    Page,
    /// Look at it today.
    Ticket,
    /// A warning level.
    Warn,
    /// A critical level.
    Critical,
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds, not yet for its for-duration.
    Pending,
    /// Firing.
    Firing,
    /// Fired, then went back past its resolve threshold.
    Resolved,
}

/// One alert rule that is pending, firing or resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Rule id (`entry:create-order:water-critical`, a plan alert's id, …).
    pub id: String,
    /// What it watches.
    pub target: AlertTarget,
    /// The signal (`water_level`, `qps`, `p99_ms`, `error_rate`,
    /// `traffic_ratio`, `burn_rate`, `funnel_conversion`, `source_down`, `query`).
    pub metric: String,
    /// Severity.
    pub severity: AlertSeverity,
    /// State.
    pub state: AlertState,
    /// Its last value (null: none yet, or not a finite number).
    pub value: Option<f64>,
    /// The threshold it fires past.
    pub threshold: f64,
    /// Since when the state holds: pending since, fired at, resolved at.
    pub since: Option<i64>,
    /// Rule id of a firing alert that silences this one.
    pub inhibited_by: Option<String>,
}

/// An event's alerts, in rule order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlertList {
    /// Pending, firing and resolved alerts.
    pub alerts: Vec<Alert>,
}

/// A live row's status against the plan's water levels (or SLA, or
/// planned conversion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LiveStatus {
    /// Below the warn level.
    Ok,
    /// Between warn and critical.
    Warn,
    /// Above critical.
    Critical,
    /// No value to judge.
    Unknown,
}

/// Where a live row's numbers come from at this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SourceState {
    /// Fresh values.
    Ok,
    /// Nothing fresh since `updated_at` (its source stopped answering).
    Stale,
    /// The source answered with an error (`error`).
    Failed,
    /// The source was not asked (nothing reads this row).
    Missing,
}

/// One entry, service, partner or funnel step at the latest tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LiveRow {
    /// Entry, service or partner id, or funnel step name.
    pub id: String,
    /// Requests (or, for a funnel step, events) per second.
    pub qps: Option<f64>,
    /// Capacity: measured when rehearsal results exist, else declared
    /// (a partner's quota).
    pub capacity_qps: Option<f64>,
    /// `qps ÷ capacity_qps`.
    pub water_level: Option<f64>,
    /// 99th-percentile latency, milliseconds.
    pub p99_ms: Option<f64>,
    /// Errors over requests.
    pub error_rate: Option<f64>,
    /// Status.
    pub status: LiveStatus,
    /// Where the numbers come from.
    pub source: SourceState,
    /// The source's error text (stale or failed rows).
    pub error: Option<String>,
    /// Time of the values (a stale row: of its last good values).
    pub updated_at: Option<i64>,
    /// The plan's peak target.
    pub target_qps: Option<f64>,
    /// `qps ÷ target_qps`.
    pub traffic_ratio: Option<f64>,
    /// Seconds until the critical level at the current trend.
    pub time_to_critical_s: Option<f64>,
    /// Highest burn-rate pair value (entries and services with an SLO).
    pub burn_rate: Option<f64>,
    /// Partners: worst ratio to their SLA.
    pub sla_ratio: Option<f64>,
    /// Funnel steps: rate over the previous step's.
    pub conversion: Option<f64>,
    /// Funnel steps: the conversion the plan's journeys assume.
    pub planned_conversion: Option<f64>,
}

/// An event's live view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LiveView {
    /// Time of the tick (null: none evaluated yet).
    pub at: Option<i64>,
    /// Entries, in plan order.
    pub entries: Vec<LiveRow>,
    /// Services, in plan order.
    pub services: Vec<LiveRow>,
    /// Partners, in plan order.
    pub partners: Vec<LiveRow>,
    /// Funnel steps, in order.
    pub funnel: Vec<LiveRow>,
}
