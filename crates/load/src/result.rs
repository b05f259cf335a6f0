//! The result of a scenario run (`seawall rehearse --out run.json`): one
//! serialisable value, schema `seawall.run/v1`, that the CLI writes, the
//! HTML report and Prometheus output render, and `seawall plan capacity
//! --results` reads back. Field names are an interface: they only grow.
//!
//! The schema is documented in `docs/rehearse.md`, section "Result file".

use serde::{Deserialize, Serialize};

use crate::stats::{ErrorCounts, Latency};

/// Schema name and version of [`RunResult`].
pub const RUN_SCHEMA: &str = "seawall.run/v1";

/// Everything a scenario run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Always [`RUN_SCHEMA`].
    pub schema: String,
    /// The test tag's run id (`None` when the run was untagged).
    pub run_id: Option<String>,
    /// Scenario id (the key under the plan's `rehearsals`).
    pub scenario: String,
    /// Plan file the scenario came from (filled in by the CLI).
    #[serde(default)]
    pub plan: Option<String>,
    /// Base URL every step's path was appended to.
    pub base_url: String,
    /// Wall-clock start, RFC 3339 in UTC (`2026-09-30T10:00:00.123Z`).
    pub started: String,
    /// Wall-clock end, RFC 3339 in UTC.
    pub finished: String,
    /// Seconds from the start until the last arrival was issued (or the abort).
    pub duration_s: f64,
    /// How the rate was driven.
    pub mode: RunMode,
    /// Arrival spacing: `constant` or `poisson`.
    pub arrivals: String,
    /// Test-tag header and baggage key used (`None` when untagged).
    pub tag: Option<TagInfo>,
    /// How the run ended.
    pub outcome: Outcome,
    /// Why the run was aborted (the guard event that stopped it), if it was.
    pub abort: Option<GuardEvent>,
    /// Requests completed over all entries.
    pub requests: u64,
    /// Failed requests over all entries.
    pub errors: u64,
    /// Dropped arrivals and steps over all entries.
    pub dropped: u64,
    /// Per journey of the mix, in mix order.
    pub journeys: Vec<JourneyResult>,
    /// Per entry reached by the mix, in plan order.
    pub entries: Vec<EntryResult>,
    /// Per service: capacity per instance implied by its entries' knees
    /// (capacity search only; computed by the CLI from the plan's instances).
    #[serde(default)]
    pub services: Vec<ServiceResult>,
    /// Every guard that broke, in time order (an abort, or a search step cut short).
    pub guard_events: Vec<GuardEvent>,
    /// Capacity search steps and outcome (search runs only).
    pub search: Option<SearchResult>,
    /// A run across rehearsal agents: whether every agent's share was
    /// measured, and each agent's part (`None` for a run of one process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetResult>,
}

/// How a run across rehearsal agents went, agent by agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetResult {
    /// `complete` (every agent reported to the end) or `partial` (an agent
    /// went silent: its share after `last_second` is missing).
    pub status: String,
    /// Agents that took part.
    pub agents: u32,
    /// One per agent, by share index.
    pub breakdown: Vec<AgentResult>,
}

/// One agent's part of a run across agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentResult {
    /// The agent's name (`--name`, the host name by default).
    pub name: String,
    /// Its share: the arrivals whose index ≡ `index` (mod `count`).
    pub index: u32,
    /// Agents sharing the arrivals.
    pub count: u32,
    /// `finished`, or `silent` (no word for longer than the silence limit).
    pub status: String,
    /// The last second (since the start) it reported, if any.
    pub last_second: Option<u64>,
    /// Requests it completed (as streamed).
    pub requests: u64,
    /// Of those, failures.
    pub errors: u64,
    /// Arrivals it dropped.
    pub dropped: u64,
    /// `requests / duration_s` of the run.
    pub achieved_rps: f64,
    /// Its own generator check per search step (search runs).
    #[serde(default)]
    pub generator_bound_steps: u32,
    /// Per entry, in scenario order: its own latency histogram over the
    /// run (HdrHistogram V2, deflate-compressed, base64), as it recorded
    /// it, for checking the merge (empty for a silent agent).
    #[serde(default)]
    pub latency_hdr: Vec<String>,
}

/// How the rate of a run was driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    /// One rate for the whole duration.
    Fixed,
    /// Linear ramps between stage rates.
    Stages,
    /// Capacity search: step up, bisect, hold.
    Search,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Ran to the end and every judged entry held its SLO.
    Completed,
    /// Ran to the end, but at least one entry broke its SLO over the run
    /// (fixed and staged runs) or the search found no rate that held.
    SloFailed,
    /// A guard broke and the run was stopped early.
    Aborted,
}

/// Tag names of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagInfo {
    /// Header carrying the run id.
    pub header: String,
    /// W3C `baggage` key carrying the run id.
    pub baggage_key: String,
}

/// One journey of the mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JourneyResult {
    /// Journey id.
    pub id: String,
    /// Journey arrivals per second at rate multiple 1.
    pub base_rate: f64,
    /// Fraction of arrivals that take this journey.
    pub share: f64,
    /// Arrivals that took this journey.
    pub arrivals: u64,
    /// How many of those reached each step (index = step), the first step
    /// included; a walk stops at a failed conversion, an error or a drop.
    pub reached: Vec<u64>,
}

/// An entry's objective and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SloSpec {
    /// 99th-percentile latency bound in milliseconds.
    pub p99_ms: Option<f64>,
    /// Error-rate bound in [0, 1].
    pub error_rate: Option<f64>,
}

/// Measurements of one entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryResult {
    /// Entry id.
    pub id: String,
    /// Service id serving the entry (filled in by the CLI; empty otherwise).
    #[serde(default)]
    pub service: String,
    /// The plan's target for the entry (decomposition, rate multiple 1).
    pub target_qps: f64,
    /// Requests per second the scenario intended for this entry, averaged
    /// over the run (expected value from journey rates, conversions, calls).
    pub intended_qps: f64,
    /// Requests completed (responses of any status plus failures).
    pub requests: u64,
    /// Responses with a status below 400 whose extraction succeeded.
    pub ok: u64,
    /// `requests / duration_s`.
    pub achieved_rps: f64,
    /// Steps that found the connection cap reached (never sent).
    pub dropped: u64,
    /// Failed requests by class (`body` includes failed extraction).
    pub errors: ErrorCounts,
    /// Latency of every response, from the intended send time.
    pub latency_ms: Latency,
    /// The SLO the entry is judged by (the plan entry's, else the scenario's guards).
    pub slo: Option<SloSpec>,
    /// `entry`, `guards`, or `none`: where `slo` came from.
    pub slo_source: String,
    /// Whether the SLO held over the whole run (`None` when there is none to judge).
    pub slo_held: Option<bool>,
    /// Capacity search: the highest achieved rate at which the SLO held,
    /// when a higher rate broke it (this entry is a knee the search found).
    pub knee_qps: Option<f64>,
    /// Capacity search: the highest achieved rate at which the SLO held,
    /// whether or not a higher rate broke it (a lower bound of capacity).
    pub held_qps: Option<f64>,
    /// Capacity search: set instead of `knee_qps` when the entry broke only
    /// where the generator was the limit (or the search's knee was
    /// generator-bound): the entry's capacity is at least this, its knee
    /// unmeasured ("≥ 971 QPS, generator-bound").
    #[serde(default)]
    pub lower_bound_qps: Option<f64>,
    /// Per-second series.
    pub series: Vec<SecondPoint>,
}

/// One second of one entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecondPoint {
    /// Seconds since the start (covers `[t_s, t_s + 1)`).
    pub t_s: u64,
    /// Requests completed in the second.
    pub rate: u64,
    /// Of those, failures.
    pub errors: u64,
    /// Steps dropped in the second.
    pub dropped: u64,
    /// Median latency (ms) of the second.
    pub p50: f64,
    /// 99th-percentile latency (ms) of the second.
    pub p99: f64,
}

/// A guard that broke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardEvent {
    /// Seconds since the start of the run.
    pub t_s: f64,
    /// Entry id.
    pub entry: String,
    /// `error_rate` or `p99_ms`.
    pub guard: String,
    /// Measured value over the window.
    pub value: f64,
    /// The threshold it exceeded.
    pub threshold: f64,
    /// Length of the window judged, in seconds.
    pub window_s: f64,
    /// Requests in the window.
    pub requests: u64,
    /// `abort` (the run stopped) or `step_failed` (a search step was cut short).
    pub action: String,
    /// One line for people: which guard, entry, value, threshold.
    pub message: String,
}

/// Capacity search outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Every step run, in order.
    pub steps: Vec<SearchStep>,
    /// Highest rate multiple at which every judged entry held its SLO,
    /// when a higher one broke because of the system (`None` when the
    /// break was the generator's: see `lower_bound_multiple`).
    pub knee_multiple: Option<f64>,
    /// Highest multiple that held when the lowest multiple that broke was
    /// a generator-bound step: the knee is at least this, unmeasured.
    #[serde(default)]
    pub lower_bound_multiple: Option<f64>,
    /// Whether the lowest multiple that broke was generator-bound (the
    /// generator, not the system, was the limit).
    #[serde(default)]
    pub generator_bound: bool,
    /// Lowest rate multiple at which some entry broke its SLO.
    pub broken_multiple: Option<f64>,
    /// Whether holding at the knee for the hold time confirmed it.
    pub confirmed: bool,
    /// Entries whose SLO broke at `broken_multiple` (the bottlenecks).
    pub bottlenecks: Vec<String>,
    /// Why the search stopped, for people.
    pub stopped: String,
}

/// One step of a capacity search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchStep {
    /// `step` (stepping up), `bisect`, or `hold` (confirming the knee).
    pub kind: String,
    /// Rate multiple of the plan's targets.
    pub multiple: f64,
    /// Seconds since the start of the run when the step began.
    pub start_s: f64,
    /// How long it ran (shorter than configured when a guard cut it short).
    pub duration_s: f64,
    /// Whether every judged entry held its SLO.
    pub held: bool,
    /// Per entry during the step.
    pub entries: Vec<StepEntry>,
    /// Whether the generator kept up during the step (`None` in files
    /// written before it was measured).
    #[serde(default)]
    pub generator: Option<GeneratorCheck>,
}

/// Whether the generator, not the system, was the limit during a search
/// step, and the measurements behind the judgement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratorCheck {
    /// Generator-bound: the step's break (if it broke) says nothing about
    /// the system.
    pub bound: bool,
    /// One sentence per sign found, for people (empty when not bound).
    pub reasons: Vec<String>,
    /// Process CPU over the step as a share of `cores` (`None`: unknown on
    /// this platform).
    pub cpu_share: Option<f64>,
    /// Cores the generator could use.
    pub cores: u64,
    /// Its cgroup's CPU quota in cores where that is below `cores` (a
    /// pod's `limits.cpu`): `cpu_share` is of this (`None`: no quota, or
    /// a file written before quotas were read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<f64>,
    /// Share of sends that started later than `lag_limit_ms`.
    pub late_share: f64,
    /// The lag limit (ms).
    pub lag_limit_ms: f64,
    /// Largest lag of a send (ms) behind its intended time.
    pub max_lag_ms: f64,
    /// Arrivals and steps dropped at the connection cap.
    pub dropped: u64,
    /// The connection cap.
    pub connections: u64,
    /// Connections the step's rate needs at the SLO's latency (Little's law).
    pub needed_connections: f64,
}

/// One entry during one search step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepEntry {
    /// Entry id.
    pub id: String,
    /// Requests completed per second during the step.
    pub achieved_rps: f64,
    /// Failed / completed during the step.
    pub error_rate: f64,
    /// 99th-percentile latency (ms) during the step.
    pub p99_ms: f64,
    /// Whether its SLO held (`None`: no SLO to judge).
    pub held: Option<bool>,
}

/// Capacity a service showed in a capacity search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceResult {
    /// Service id.
    pub id: String,
    /// Instances from the plan.
    pub instances: u32,
    /// Sum of its entries' knees (QPS the service took at the knee).
    pub knee_qps: f64,
    /// `knee_qps / instances`.
    pub capacity_per_instance: f64,
}

/// `unix_ms` as RFC 3339 in UTC with milliseconds (`1970-01-01T00:00:00.000Z`;
/// a time past jiff's range, year 9999, reads as its last millisecond).
pub(crate) fn rfc3339_utc(unix_ms: u64) -> String {
    let ms = i64::try_from(unix_ms).unwrap_or(i64::MAX);
    let at = jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::MAX);
    at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_timestamps() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
        // 2026-09-30T10:00:00.123Z
        assert_eq!(rfc3339_utc(1_790_762_400_123), "2026-09-30T10:00:00.123Z");
        // leap day
        assert_eq!(rfc3339_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
