//! The review as a value: every section of `docs/review.md`, serialisable
//! as the JSON document (`schema_version` [`SCHEMA_VERSION`]). Numbers that
//! could not be computed (no telemetry, no target, no SLO) are `None`
//! (JSON null), never a made-up zero.

use serde::{Deserialize, Serialize};

/// Schema id of the JSON document.
pub const SCHEMA_VERSION: &str = "seawall.review/v1";

/// One event's post-event review.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Review {
    /// [`SCHEMA_VERSION`].
    pub schema_version: String,
    /// Event slug.
    pub event: String,
    /// Event display name.
    pub name: String,
    /// Plan version read, if any.
    pub plan_version: Option<i64>,
    /// Plan file name.
    pub plan_file: Option<String>,
    /// The stretch the review calls "the peak" (ms, inclusive): the plan's
    /// `peak` phase when telemetry falls in it, else all telemetry.
    pub window: Option<Span>,
    /// Where the window comes from: `peak phase`, `all telemetry`.
    pub window_source: String,
    /// Rehearsal runs the knees come from.
    pub rehearsal_runs: Vec<i64>,
    /// Entries, plan order.
    pub entries: Vec<TargetReview>,
    /// Services, plan order.
    pub services: Vec<TargetReview>,
    /// Funnel steps, plan order.
    pub funnel: Vec<FunnelReview>,
    /// Partners, plan order.
    pub partners: Vec<PartnerReview>,
    /// Alerts.
    pub alerts: AlertsReview,
    /// Emergency-plan runs, oldest first.
    pub emergency: Vec<EmergencyReview>,
    /// Change control.
    pub change_control: ChangeControl,
    /// Incidents.
    pub incidents: IncidentsReview,
    /// On-call.
    pub oncall: OncallReview,
    /// Recommendations, by rule then plan order.
    pub recommendations: Vec<Recommendation>,
    /// Comparison with an earlier event, when asked for.
    pub comparison: Option<Comparison>,
    /// What the review could not read (no plan, no telemetry, …).
    pub notes: Vec<String>,
}

/// A time span (ms, inclusive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    /// Start.
    pub from_ms: i64,
    /// End.
    pub to_ms: i64,
}

/// One entry or service: estimate, rehearsal and actual.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetReview {
    /// Entry or service id.
    pub id: String,
    /// Planned target QPS.
    pub target_qps: Option<f64>,
    /// Rehearsed knee: an entry's measured knee; a service's measured
    /// capacity per instance × instances. Never set for an entry whose
    /// latest rehearsal was generator-bound, nor for a service serving
    /// such an entry (see `lower_bound_qps`).
    pub knee_qps: Option<f64>,
    /// An entry whose latest rehearsal was generator-bound (the generator,
    /// not the system, was the limit): the rate it held, a lower bound of
    /// its capacity ("≥ 971, generator-bound"), never a knee. A service
    /// serving such an entry: the sum of its entries' knees and lower
    /// bounds, a lower bound too (its capacity stays the declared one).
    #[serde(default)]
    pub lower_bound_qps: Option<f64>,
    /// The rehearsal scenario that reported the lower bound.
    #[serde(default)]
    pub lower_bound_scenario: Option<String>,
    /// Capacity the plan counts on (measured when rehearsed, else
    /// declared; an entry's is its bottleneck's).
    pub capacity_qps: Option<f64>,
    /// `measured`, `declared` or `unknown`.
    pub capacity_source: String,
    /// Highest QPS seen in the window.
    pub peak_qps: Option<f64>,
    /// When (start of the point that saw it, ms).
    pub peak_at_ms: Option<i64>,
    /// Highest mean rate over one minute of the finest tier's points
    /// (`formula::peak_window`): less jumpy than `peak_qps` at low rates,
    /// and comparable with a count of the same minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_minute_qps: Option<f64>,
    /// Start of that minute (ms); it ends 60 s later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_minute_from_ms: Option<i64>,
    /// p99 latency (ms) of the peak's point.
    pub p99_ms_at_peak: Option<f64>,
    /// Error ratio of the peak's point.
    pub error_rate_at_peak: Option<f64>,
    /// `peak ÷ capacity`.
    pub utilisation: Option<f64>,
    /// Highest utilisation that keeps the plan's headroom: `1 ÷ (1 + headroom)`.
    pub utilisation_target: f64,
    /// `utilisation ≤ utilisation_target`.
    pub within_headroom: Option<bool>,
    /// `peak ÷ target`.
    pub estimate_error: Option<f64>,
    /// The SLO (p99 or error ratio) was broken at the peak's point.
    pub saturated: bool,
    /// When saturated: `peak ÷ knee` (below 1: the system gave out before
    /// the rehearsed knee).
    pub capacity_vs_knee: Option<f64>,
    /// When saturated and rehearsed only to a lower bound: `peak ÷ lower
    /// bound` (below 1: it gave out below what the rehearsal saw it hold;
    /// 1 or above: the actual capacity is about the peak, above the bound).
    #[serde(default)]
    pub capacity_vs_lower_bound: Option<f64>,
    /// Points of the window whose values broke the SLO.
    pub slo_broken_points: u32,
    /// Where the plan declares it (`file:line`).
    pub plan_line: Option<String>,
    /// The actual rate over the window: `[seconds since the window's
    /// start, qps_max]` per point of the finest tier stored, oldest first.
    #[serde(default)]
    pub series: Vec<(f64, f64)>,
}

/// One funnel step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FunnelReview {
    /// Step name.
    pub step: String,
    /// The conversion the plan's journeys assume (from the previous step).
    pub planned: Option<f64>,
    /// Mean rate of this step ÷ mean rate of the previous one over the window.
    pub actual: Option<f64>,
    /// `actual ÷ planned`.
    pub ratio: Option<f64>,
}

/// One partner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PartnerReview {
    /// Partner id.
    pub id: String,
    /// SLA p99 bound (ms).
    pub sla_p99_ms: Option<f64>,
    /// SLA error-ratio bound.
    pub sla_error_rate: Option<f64>,
    /// Points of the window with a reading.
    pub points: u32,
    /// Share of those points within the SLA (none without an SLA or points).
    pub compliance: Option<f64>,
    /// Worst p99 seen (ms).
    pub worst_p99_ms: Option<f64>,
    /// Worst error ratio seen.
    pub worst_error_rate: Option<f64>,
    /// Where the plan declares it.
    pub plan_line: Option<String>,
}

/// The alerts section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertsReview {
    /// Every rule that went pending or fired, by first transition.
    pub rules: Vec<AlertReview>,
    /// Firings in all.
    pub fired: u32,
    /// Firings without SLO impact.
    pub noise: u32,
    /// Targets whose SLO broke with no page-severity alert firing on them.
    pub misses: Vec<Miss>,
    /// Plan alerts (`monitoring.alerts`) that never fired.
    pub never_fired: Vec<String>,
}

/// One alert rule's firings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertReview {
    /// Rule id.
    pub rule: String,
    /// `kind:id` of its target.
    pub target: String,
    /// Signal name.
    pub signal: String,
    /// Severity name.
    pub severity: String,
    /// Times it fired.
    pub fired: u32,
    /// First firing (ms).
    pub first_fired_ms: Option<i64>,
    /// Mean time from threshold crossing (its pending transition) to
    /// firing (ms).
    pub crossing_to_fire_ms: Option<f64>,
    /// Firings during which the target's SLO held throughout.
    pub noise: u32,
    /// Firings during which the target's SLO broke.
    pub with_impact: u32,
}

/// An SLO broken with no page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Miss {
    /// `kind:id`.
    pub target: String,
    /// First point that broke the SLO (ms).
    pub from_ms: i64,
    /// Points that broke it.
    pub points: u32,
}

/// One emergency-plan run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmergencyReview {
    /// Store id.
    pub id: i64,
    /// Emergency plan id.
    pub plan: String,
    /// Final or current status.
    pub status: String,
    /// Who asked.
    pub requested_by: String,
    /// When (ms).
    pub requested_ms: i64,
    /// Approvals given (`by`).
    pub approvals: Vec<String>,
    /// Request to last approval (ms).
    pub time_to_approval_ms: Option<i64>,
    /// Each action: kind, target, status, duration (ms).
    pub actions: Vec<ActionReview>,
    /// First action start to last action end (ms).
    pub duration_ms: Option<i64>,
    /// The plan's `expected_minutes`.
    pub expected_minutes: Option<f64>,
    /// `duration ÷ expected`.
    pub run_vs_expected: Option<f64>,
    /// Whether it finished within the expected time.
    pub within_expected: Option<bool>,
    /// Whether it was rolled back (wholly or partly).
    pub rolled_back: bool,
    /// Where the plan declares the emergency plan.
    pub plan_line: Option<String>,
}

/// One action of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionReview {
    /// Action kind.
    pub kind: String,
    /// Its target.
    pub target: Option<String>,
    /// Status name.
    pub status: String,
    /// End − start (ms).
    pub duration_ms: Option<i64>,
}

/// The change-control section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeControl {
    /// Gate decisions taken inside a freeze window.
    pub decisions_in_freeze: u32,
    /// Of those, refused.
    pub refused_in_freeze: u32,
    /// Of those, let through by an exception.
    pub allowed_by_exception: u32,
    /// Exceptions requested, approved, rejected.
    pub exceptions_requested: u32,
    /// Approved exceptions.
    pub exceptions_approved: u32,
    /// Rejected exceptions.
    pub exceptions_rejected: u32,
    /// Guard rule versions written during the window.
    pub rule_changes: u32,
    /// Changes (allowed gate decisions, rule versions) in the hour before
    /// each incident opened.
    pub before_incidents: Vec<ChangeNearIncident>,
}

/// A change close before an incident.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChangeNearIncident {
    /// Incident id.
    pub incident: i64,
    /// What changed (`gate: deploy order (MR-1)`, `rules: order v3 (adjusted)`).
    pub change: String,
    /// Minutes from the change to the incident's opening.
    pub minutes_before: f64,
}

/// The incidents section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentsReview {
    /// Every incident, oldest first.
    pub list: Vec<IncidentReview>,
    /// Mean time to acknowledge (ms).
    pub mtta_ms: Option<f64>,
    /// Mean time to resolve (ms).
    pub mttr_ms: Option<f64>,
}

/// One incident.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentReview {
    /// Store id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Severity name.
    pub severity: String,
    /// Status name.
    pub status: String,
    /// Opened (ms).
    pub opened_ms: Option<i64>,
    /// Time to acknowledge (ms).
    pub time_to_ack_ms: Option<i64>,
    /// Time to resolve (ms).
    pub time_to_resolve_ms: Option<i64>,
    /// The timeline: time, kind, actor, text.
    pub timeline: Vec<TimelineEntry>,
}

/// One timeline entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// When (ms).
    pub at_ms: i64,
    /// Kind name (snake case).
    pub kind: String,
    /// Who.
    pub actor: String,
    /// What.
    pub text: String,
}

/// The on-call section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OncallReview {
    /// Shifts in the plan's rota.
    #[serde(default)]
    pub shifts: u32,
    /// Stretches of the peak and freeze that no shift's primary covered.
    pub gaps: Vec<String>,
    /// Pages per person, most first.
    pub pages_per_person: Vec<(String, u32)>,
    /// Pages sent in all.
    pub pages: u32,
}

/// A recommendation by a stated rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Rule id (`R1` …, `docs/review.md#recommendations`).
    pub rule: String,
    /// What the rule says.
    pub why: String,
    /// What to change for next time.
    pub change: String,
    /// Where (`file:line`).
    pub plan_line: Option<String>,
}

/// The comparison with an earlier event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The earlier event's slug.
    pub earlier: String,
    /// Entries present in both: peak and estimate error then and now.
    pub entries: Vec<CompareEntry>,
    /// Firings now and then.
    pub fired: (u32, u32),
    /// Noise now and then.
    pub noise: (u32, u32),
    /// Misses now and then.
    pub misses: (u32, u32),
    /// Incidents now and then.
    pub incidents: (u32, u32),
    /// MTTA now and then (ms).
    pub mtta_ms: (Option<f64>, Option<f64>),
    /// MTTR now and then (ms).
    pub mttr_ms: (Option<f64>, Option<f64>),
    /// Emergency runs within their expected time, now and then.
    pub runs_within_expected: (u32, u32),
}

/// One entry in both events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompareEntry {
    /// Entry id.
    pub id: String,
    /// Peak QPS now and then.
    pub peak_qps: (Option<f64>, Option<f64>),
    /// Estimate error now and then.
    pub estimate_error: (Option<f64>, Option<f64>),
    /// `peak now ÷ peak then`.
    pub growth: Option<f64>,
}
