//! The plan analyses of `/events/{slug}/plan/{targets,capacity,links,readiness}`:
//! the documents `seawall plan targets|capacity|links|readiness --format
//! json` print, as types a client decodes and the OpenAPI document
//! declares field by field.
//!
//! Why here and not in `seawall-plan`: the plan's analysis types are built
//! for computing (borrowed rule ids, timestamps, no `Deserialize`); these
//! are their wire shape. The server answers with the plan's own
//! serialization, and its tests hold that shape to these types
//! (`deny_unknown_fields` everywhere, and every answer validated against
//! the document), so the two cannot drift apart unnoticed.

use serde::{Deserialize, Serialize};

/// Every target of a plan (`plan targets`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Targets {
    /// Per goal: total and peak rate.
    pub goals: Vec<GoalTarget>,
    /// Per journey: step rates and online users.
    pub journeys: Vec<JourneyTarget>,
    /// Per entry target QPS, in plan order.
    pub entries: Vec<EntryTarget>,
    /// Per service target QPS, in plan order.
    pub services: Vec<ServiceTarget>,
    /// Per partner target QPS, in plan order.
    pub partners: Vec<PartnerTarget>,
}

/// A goal's total over the event day and its peak rate per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GoalTarget {
    /// Goal id.
    pub id: String,
    /// Total over the event day.
    pub total: f64,
    /// Peak-hour share used.
    pub peak_hour_share: f64,
    /// Peak factor used.
    pub peak_factor: f64,
    /// Peak rate in units per second.
    pub rate: f64,
}

/// A journey's step rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JourneyTarget {
    /// Journey id.
    pub id: String,
    /// Goal id.
    pub goal: String,
    /// Step rates in order.
    pub steps: Vec<StepTarget>,
    /// First step's rate × `session_seconds`, when that is given.
    pub online_users: Option<f64>,
}

/// One journey step's rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StepTarget {
    /// Entry id.
    pub entry: String,
    /// Users per second reaching the step.
    pub rate: f64,
    /// Requests per visit.
    pub calls: f64,
    /// Requests per second to the entry from this step.
    pub qps: f64,
}

/// An entry's target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EntryTarget {
    /// Entry id.
    pub id: String,
    /// Service id.
    pub service: String,
    /// Burst × Σ step rate × calls.
    pub target_qps: f64,
}

/// A service's target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceTarget {
    /// Service id.
    pub id: String,
    /// Entries' targets plus callers' targets × calls.
    pub target_qps: f64,
    /// Target × `latency_ms` / 1000, when `latency_ms` is given.
    pub in_flight: Option<f64>,
}

/// A partner's target (what the event's services send it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PartnerTarget {
    /// Partner id.
    pub id: String,
    /// Σ callers' targets × calls.
    pub target_qps: f64,
}

/// Capacity water levels (`plan capacity`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CapacityTable {
    /// Entries in plan order.
    pub entries: Vec<CapacityRow>,
    /// Services in plan order.
    pub services: Vec<CapacityRow>,
    /// Partners with a quota or traffic, in plan order.
    pub partners: Vec<CapacityRow>,
}

/// One row of the capacity table (entry, service or partner).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CapacityRow {
    /// Entry, service or partner id.
    pub id: String,
    /// Target QPS.
    pub target_qps: f64,
    /// Capacity QPS (for entries: the bottleneck's effective capacity).
    pub capacity_qps: Option<f64>,
    /// Where the capacity comes from.
    pub capacity_source: CapacitySource,
    /// Target / capacity.
    pub water_level: Option<f64>,
    /// Target × (1 + headroom).
    pub required_qps: f64,
    /// Required above capacity.
    pub needs_scaling: bool,
    /// Instances now (services).
    pub instances: Option<u32>,
    /// Instances needed for the required QPS (services; for entries, of the
    /// bottleneck service).
    pub instances_needed: Option<u32>,
    /// Current QPS / capacity.
    pub current_level: Option<f64>,
    /// Status by water level.
    pub status: WaterStatus,
    /// Entries: the bottleneck service (or partner); otherwise none.
    pub bottleneck: Option<String>,
}

/// Where a capacity figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CapacitySource {
    /// Instances × capacity per instance, from the plan.
    Declared,
    /// From rehearsal results.
    Measured,
    /// Not known.
    Unknown,
}

/// A water level's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum WaterStatus {
    /// Below `warn_level`.
    Ok,
    /// From `warn_level` up to `critical_level`.
    Warn,
    /// Above `critical_level`.
    Critical,
    /// Capacity unknown.
    Unknown,
}

/// Link risks (`plan links`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinksReport {
    /// Every finding, most severe first.
    pub findings: Vec<LinkFinding>,
}

/// One link-analysis finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinkFinding {
    /// Stable rule id, `L001` … `L015`.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^L[0-9]{3}$"))]
    pub rule: String,
    /// How bad it is (unchanged when accepted).
    pub severity: Severity,
    /// One line with the concrete numbers.
    pub message: String,
    /// Where in the plan to fix it.
    pub location: PlanLocation,
    /// One line saying what to change.
    pub fix: String,
    /// The reason from `links.accept` when the risk is consciously accepted.
    pub accepted: Option<String>,
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocking.
    Error,
    /// Should be fixed before the event.
    Warning,
    /// Worth knowing.
    Info,
}

/// Where a plan item lives: its YAML path, line and column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PlanLocation {
    /// Dotted YAML path from the document root.
    pub path: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// The readiness scorecard (`plan readiness`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    /// Go only when every line and the event row are go.
    pub go: bool,
    /// One row per business line, in plan order (or the pseudo line `all`
    /// when the plan has none).
    pub lines: Vec<LineReadiness>,
    /// What belongs to no business line (row `event`).
    pub event: LineReadiness,
    /// Every no-go reason of every row, prefixed with the row id.
    pub reasons: Vec<String>,
}

/// Readiness of one business line (or of the event-wide row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LineReadiness {
    /// Business line id, `all` or `event`.
    pub line: String,
    /// Display name.
    pub name: String,
    /// No error finding, no critical water level, no scaling need and no
    /// on-call gap in the peak phase.
    pub go: bool,
    /// Σ target QPS of the row's entries.
    pub target_qps: f64,
    /// Link findings attributed to the row.
    pub findings: FindingCounts,
    /// Services of the row that need scaling.
    pub scaling: Vec<ScalingNeed>,
    /// Entries and services of the row at a critical water level.
    pub critical: Vec<CriticalLevel>,
    /// Drill coverage of the row's emergency plans.
    pub emergency_plans: DrillCoverage,
    /// Stretches of peak and freeze windows without a primary on call.
    pub coverage_gaps: Vec<CoverageGap>,
    /// Why the row is no-go (empty when go).
    pub reasons: Vec<String>,
}

/// Finding counts by severity; accepted findings are counted apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FindingCounts {
    /// Errors not accepted.
    pub error: u64,
    /// Warnings not accepted.
    pub warning: u64,
    /// Infos not accepted.
    pub info: u64,
    /// Accepted findings of any severity.
    pub accepted: u64,
}

/// A service whose required capacity exceeds its capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ScalingNeed {
    /// Service id.
    pub service: String,
    /// Target QPS.
    pub target_qps: f64,
    /// Capacity QPS, when known.
    pub capacity_qps: Option<f64>,
    /// Instances now.
    pub instances: Option<u32>,
    /// Instances needed for the target plus headroom.
    pub instances_needed: Option<u32>,
}

/// An entry or service at a critical water level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CriticalLevel {
    /// `entry` or `service`.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^(entry|service)$"))]
    pub kind: String,
    /// Entry or service id.
    pub id: String,
    /// Target over capacity.
    pub water_level: Option<f64>,
}

/// How many of a row's emergency plans were drilled successfully.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DrillCoverage {
    /// Plans with at least one passed drill.
    pub drilled: u64,
    /// All plans of the row.
    pub total: u64,
    /// Plans without a passed drill, in plan order.
    pub undrilled: Vec<String>,
}

/// A stretch of a watched window in which a line has no primary on call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CoverageGap {
    /// Business line id (`all` when the plan has no business lines).
    pub line: String,
    /// `peak`, `freeze` or the id of a `freeze.windows` window.
    pub window: String,
    /// Inclusive start (RFC 3339, UTC).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub start: String,
    /// Exclusive end (RFC 3339, UTC).
    #[cfg_attr(feature = "openapi", schema(format = DateTime))]
    pub end: String,
}
