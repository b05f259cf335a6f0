//! The event day: an event's alerts (`GET /events/{slug}/alerts`) and its
//! live view (`GET /events/{slug}/live`), as the control plane's monitor
//! evaluated them at its latest tick (`docs/monitoring.md#control-plane`),
//! and the telemetry history it stored (`GET /events/{slug}/history`).
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

/// The width of a stored history point: the three tiers the store keeps
/// (10-second points for the last hour, 1-minute points for the last 6
/// hours, 5-minute points for the last 48 hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum HistoryResolution {
    /// 10-second points (the last hour).
    #[serde(rename = "10s")]
    TenSeconds,
    /// 1-minute points (the last 6 hours).
    #[serde(rename = "1m")]
    OneMinute,
    /// 5-minute points (the last 48 hours).
    #[serde(rename = "5m")]
    FiveMinutes,
}

impl HistoryResolution {
    /// As written in the query (`10s`, `1m`, `5m`).
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryResolution::TenSeconds => "10s",
            HistoryResolution::OneMinute => "1m",
            HistoryResolution::FiveMinutes => "5m",
        }
    }

    /// Width of a point in seconds.
    pub fn step_s(self) -> u32 {
        match self {
            HistoryResolution::TenSeconds => 10,
            HistoryResolution::OneMinute => 60,
            HistoryResolution::FiveMinutes => 300,
        }
    }
}

/// Which stored series, at which resolution, over which time range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct HistoryQuery {
    /// `<kind>:<id>`: `entry:create-order`, `service:order-api`,
    /// `partner:alipay`, `funnel_step:redeem`.
    #[cfg_attr(
        feature = "openapi",
        param(
            min_length = 3,
            max_length = 300,
            pattern = r"^(entry|service|partner|funnel_step):.+$"
        )
    )]
    pub series: String,
    /// Point width: `10s`, `1m` or `5m`.
    #[cfg_attr(feature = "openapi", param(inline))]
    pub resolution: HistoryResolution,
    /// Points starting at or after this time (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 0))]
    pub from: Option<i64>,
    /// Points starting at or before this time (ms since the epoch; not
    /// before `from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", param(minimum = 0))]
    pub to: Option<i64>,
}

/// One stored point: the aggregate of the ticks inside it. Values a
/// source did not give are null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HistoryPoint {
    /// Start of the point (ms since the epoch); it covers the
    /// resolution's width from there.
    pub t: i64,
    /// Ticks merged into it.
    pub samples: u32,
    /// Lowest rate (requests, or funnel events, per second).
    pub qps_min: Option<f64>,
    /// Mean rate, weighted by ticks.
    pub qps_avg: Option<f64>,
    /// Highest rate.
    pub qps_max: Option<f64>,
    /// Highest p99 latency reading inside the point, milliseconds (an
    /// upper bound of the interval's p99: percentiles do not average).
    pub p99_ms: Option<f64>,
    /// Errors over requests, traffic-weighted.
    pub error_rate: Option<f64>,
}

/// A stored series over a time range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct History {
    /// The series asked for (`entry:create-order`).
    pub series: String,
    /// Its kind.
    pub kind: TargetKind,
    /// Its entry, service or partner id, or funnel step.
    pub id: String,
    /// The point width.
    pub resolution: HistoryResolution,
    /// The point width in seconds.
    pub step_s: u32,
    /// The points, oldest first.
    pub points: Vec<HistoryPoint>,
}
