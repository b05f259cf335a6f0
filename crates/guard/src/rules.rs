//! The rule document: a versioned set of resources and their rules, read from
//! YAML or JSON. The schema is documented in `docs/guard-rules.md`.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::GuardError;
pub use crate::route::Route;

/// Maximum number of circuit breakers on one resource.
pub const MAX_BREAKERS_PER_RESOURCE: usize = 64;

/// A complete, versioned rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Version of the document; publishers increase it with every change.
    pub version: u64,
    /// Where request-level facts (caller, test tag, user id) come from.
    #[serde(default, skip_serializing_if = "is_default")]
    pub settings: Settings,
    /// Properties of the upstreams a request can be sent to.
    #[serde(default, skip_serializing_if = "is_default")]
    pub upstreams: Upstreams,
    /// Gray routing: which requests go to the gray upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gray: Option<GrayRule>,
    /// How tagged test traffic is treated.
    #[serde(default, skip_serializing_if = "is_default")]
    pub test_traffic: TestTrafficPolicy,
    /// The protected resources, each with its rules.
    #[serde(default)]
    pub resources: Vec<Resource>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Header names and baggage keys the request-level API
/// ([`Guard::evaluate`](crate::Guard::evaluate)) reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Header naming the caller (the origin of per-caller quotas).
    #[serde(default = "default_origin_header")]
    pub origin_header: String,
    /// Header whose presence (non-empty value) tags a request as test traffic.
    #[serde(default = "default_test_header")]
    pub test_header: String,
    /// Member of the W3C `baggage` header that tags a request as test traffic.
    #[serde(default = "default_test_baggage_key")]
    pub test_baggage_key: String,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            origin_header: default_origin_header(),
            test_header: default_test_header(),
            test_baggage_key: default_test_baggage_key(),
        }
    }
}

/// The two upstreams of a guarded service: the primary and the gray one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstreams {
    /// The primary upstream.
    #[serde(default)]
    pub primary: UpstreamPolicy,
    /// The gray upstream.
    #[serde(default)]
    pub gray: UpstreamPolicy,
}

/// What an upstream accepts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamPolicy {
    /// The upstream keeps test traffic apart (shadow tables, mocked
    /// partners): tagged requests may reach it. Default `false`: tagged
    /// requests are refused.
    #[serde(default)]
    pub shadow_safe: bool,
}

/// Gray routing: a request goes to the gray upstream if its user id is on the
/// whitelist, or its user id falls in the percent bucket, or it matches a
/// header rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrayRule {
    /// Rule id, reported with every gray routing decision.
    pub id: String,
    /// Header carrying the user id.
    #[serde(default = "default_user_header")]
    pub user_header: String,
    /// User ids sent to gray. Decimal ids are kept exactly; others by a
    /// 64-bit hash (see docs/guard-rules.md).
    #[serde(default)]
    pub whitelist: Vec<String>,
    /// Share of users (0–100) sent to gray by a sticky hash of their id.
    #[serde(default)]
    pub percent: f64,
    /// Requests with any of these header values go to gray.
    #[serde(default)]
    pub headers: Vec<HeaderMatch>,
    /// Data isolation of gray traffic: `shadow` makes every gray-routed
    /// request test traffic — tagged upstream, held to the gray upstream's
    /// shadow safety and the test quota — so gray users never consume real
    /// rewards.
    #[serde(default, skip_serializing_if = "GrayIsolation::is_none")]
    pub isolation: GrayIsolation,
}

/// Data isolation of gray traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrayIsolation {
    /// Gray traffic shares real data.
    #[default]
    None,
    /// Gray traffic is shadow traffic: it carries the test tag.
    Shadow,
}

impl GrayIsolation {
    /// Whether this is [`GrayIsolation::None`].
    pub fn is_none(&self) -> bool {
        *self == GrayIsolation::None
    }
}

/// A header that must have exactly this value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name (case-insensitive).
    pub name: String,
    /// Exact value.
    pub value: String,
}

/// How tagged test traffic is treated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestTrafficPolicy {
    /// Rule id reported when test traffic is refused.
    #[serde(default = "default_test_id")]
    pub id: String,
    /// Default QPS quota of test traffic per resource (a resource's
    /// `test_qps` overrides it); none: no quota of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qps: Option<f64>,
    /// Share (0–1) of every QPS and concurrency limit kept for real traffic:
    /// test traffic is admitted only while usage + its request ≤
    /// limit × (1 − reserve).
    #[serde(default = "default_reserve")]
    pub reserve: f64,
}

impl Default for TestTrafficPolicy {
    fn default() -> Self {
        Self {
            id: default_test_id(),
            qps: None,
            reserve: default_reserve(),
        }
    }
}

/// Where a hot parameter's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamSource {
    /// A request header.
    Header,
    /// A query-string parameter.
    Query,
}

/// Hot-parameter limit: per-value QPS limits for the hottest values of one
/// header or query parameter (Sentinel's `ParamFlowRule`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotParamRule {
    /// Stable rule id, unique in the document.
    pub id: String,
    /// Header or query parameter.
    pub source: ParamSource,
    /// Its name.
    pub name: String,
    /// QPS limit for each value.
    pub count: f64,
    /// How many distinct values are tracked at once (memory bound).
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    /// Values with a limit of their own instead of `count`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exceptions: BTreeMap<String, f64>,
    /// Count what the rule would block, but let it pass.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// Fault injection for drills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Stable rule id, unique in the document.
    pub id: String,
    /// Share (0–100) of eligible admitted requests that get the fault.
    pub percent: f64,
    /// Delay the request by this many milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Answer with this status instead of calling upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_status: Option<u16>,
    /// Also inject into real (untagged) traffic.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// The fault's lease: from this instant (Unix milliseconds, by the
    /// guard's [`Clock::unix_millis`](crate::clock::Clock::unix_millis))
    /// on, the guard injects nothing for this rule, whether or not the
    /// control plane ever removes it (a drill's fault ends by itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
}

/// One protected resource (an API, a route, a downstream call) and its rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// The resource's name, as the embedding code passes it to
    /// [`Guard::check`](crate::Guard::check).
    pub name: String,
    /// Routes that select this resource in
    /// [`Guard::evaluate`](crate::Guard::evaluate).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// Timeout for a call, in milliseconds (returned in the verdict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Overrides the upstreams' `shadow_safe` for this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_safe: Option<bool>,
    /// Test-traffic QPS quota of this resource (overrides `test_traffic.qps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_qps: Option<f64>,
    /// Degradation switches, checked first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub switches: Vec<SwitchRule>,
    /// Flow rules (QPS or concurrency limits), checked in order after the switches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flow: Vec<FlowRule>,
    /// Hot-parameter limits, checked after the flow rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hot_params: Vec<HotParamRule>,
    /// Circuit breakers, checked last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub breakers: Vec<BreakerRule>,
    /// Fault injection for drills, applied to admitted calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultRule>,
}

/// What a flow rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    /// Requests admitted per second (sliding window).
    #[default]
    Qps,
    /// Requests in flight (admitted and not yet finished).
    Concurrency,
}

/// Whose traffic a flow rule's `count` limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// This guard's own traffic (every sidecar enforces `count` by itself).
    #[default]
    Local,
    /// Every sidecar of the service together: tokens are leased from the
    /// control plane's shared bucket (docs/scale-out.md), and without it
    /// each sidecar enforces `count ÷ live instances`.
    Cluster,
}

/// What a QPS flow rule does with traffic above its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Behavior {
    /// Block what exceeds the limit.
    #[default]
    Reject,
    /// Start at `count / cold_factor` and ramp up to `count` over the
    /// warm-up period (token-bucket warm-up curve).
    WarmUp,
    /// Space requests evenly at `1 / count` seconds; a request that would
    /// wait longer than `max_queueing_ms` is blocked.
    Pace,
}

/// Which callers a flow rule applies to (Sentinel's `limitApp`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OriginMatch {
    /// Every caller.
    #[default]
    Default,
    /// Callers not named by another rule of the same resource.
    Other,
    /// Exactly this caller.
    #[serde(untagged)]
    Named(String),
}

/// A flow-control rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowRule {
    /// Stable rule id, unique in the document; reported with every block.
    pub id: String,
    /// QPS or concurrency.
    #[serde(default, skip_serializing_if = "is_default")]
    pub grade: Grade,
    /// The limit: requests per second, or requests in flight.
    pub count: f64,
    /// Behaviour above the limit (QPS only; concurrency always rejects).
    #[serde(default, skip_serializing_if = "is_default")]
    pub behavior: Behavior,
    /// Warm-up period in seconds (`warm_up`).
    #[serde(
        default = "default_warm_up_secs",
        skip_serializing_if = "is_default_warm_up_secs"
    )]
    pub warm_up_secs: u64,
    /// Cold factor: the rate at the start of warm-up is `count / cold_factor` (`warm_up`, > 1).
    #[serde(
        default = "default_cold_factor",
        skip_serializing_if = "is_default_cold_factor"
    )]
    pub cold_factor: f64,
    /// Longest a request may be asked to wait, in milliseconds (`pace`).
    #[serde(
        default = "default_max_queueing_ms",
        skip_serializing_if = "is_default_max_queueing_ms"
    )]
    pub max_queueing_ms: u64,
    /// Which callers the rule applies to.
    #[serde(default, skip_serializing_if = "is_default")]
    pub origin: OriginMatch,
    /// Give every caller its own quota of `count` instead of one shared quota.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub per_origin: bool,
    /// With `per_origin`, at most this many callers (≤ [`MAX_ORIGINS`]) get
    /// a quota of their own; a caller idle for 5 s gives its place up, and a
    /// newcomer finding every place taken shares one overflow quota.
    #[serde(
        default = "default_max_origins",
        skip_serializing_if = "is_default_max_origins"
    )]
    pub max_origins: usize,
    /// `local` (this guard's traffic) or `cluster` (all sidecars of the
    /// service share `count`; QPS `reject` rules without `per_origin` only).
    #[serde(default, skip_serializing_if = "is_default")]
    pub scope: Scope,
    /// Count what the rule would block, but let it pass.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// What a circuit breaker measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Share of calls slower than `slow_rt_ms` exceeds `threshold` (0–1).
    SlowRatio,
    /// Share of failed calls exceeds `threshold` (0–1).
    ErrorRatio,
    /// Number of failed calls in the window exceeds `threshold`.
    ErrorCount,
}

/// A circuit-breaker rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakerRule {
    /// Stable rule id, unique in the document.
    pub id: String,
    /// What is measured.
    pub strategy: Strategy,
    /// Ratio (0–1) or error count above which the breaker opens.
    pub threshold: f64,
    /// A call slower than this (milliseconds) is slow (`slow_ratio`).
    #[serde(default = "default_slow_rt_ms")]
    pub slow_rt_ms: u64,
    /// The breaker does not open on fewer calls than this in the window.
    #[serde(default = "default_min_requests")]
    pub min_requests: u64,
    /// Length of the statistic window in milliseconds.
    #[serde(default = "default_stat_window_ms")]
    pub stat_window_ms: u64,
    /// How long the breaker stays open before letting one probe through, in milliseconds.
    pub open_ms: u64,
    /// Count what the breaker would block, but let it pass.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// A degradation switch: when on, the resource answers with the fallback
/// response instead of calling its upstream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchRule {
    /// Stable rule id, unique in the document; used to flip the switch.
    pub id: String,
    /// Initial position.
    #[serde(default)]
    pub on: bool,
    /// What to answer while on.
    #[serde(default)]
    pub fallback: FallbackResponse,
    /// Count what would fall back, but let it pass.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

/// A canned response served instead of calling upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackResponse {
    /// HTTP status code.
    #[serde(default = "default_status")]
    pub status: u16,
    /// Response body.
    #[serde(default)]
    pub body: String,
    /// Response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

impl Default for FallbackResponse {
    fn default() -> Self {
        Self {
            status: default_status(),
            body: String::new(),
            headers: BTreeMap::new(),
        }
    }
}

fn default_warm_up_secs() -> u64 {
    10
}
fn is_default_warm_up_secs(v: &u64) -> bool {
    *v == default_warm_up_secs()
}
fn is_default_cold_factor(v: &f64) -> bool {
    *v == default_cold_factor()
}
fn is_default_max_queueing_ms(v: &u64) -> bool {
    *v == default_max_queueing_ms()
}
fn is_default_max_origins(v: &usize) -> bool {
    *v == default_max_origins()
}
fn default_cold_factor() -> f64 {
    3.0
}
fn default_max_queueing_ms() -> u64 {
    500
}
fn default_max_origins() -> usize {
    10_000
}
fn default_slow_rt_ms() -> u64 {
    1_000
}
fn default_min_requests() -> u64 {
    5
}
fn default_stat_window_ms() -> u64 {
    1_000
}
fn default_status() -> u16 {
    503
}
fn default_origin_header() -> String {
    "x-seawall-origin".into()
}
fn default_test_header() -> String {
    "x-seawall-test".into()
}
fn default_test_baggage_key() -> String {
    "seawall-test".into()
}
fn default_user_header() -> String {
    "x-user-id".into()
}
fn default_test_id() -> String {
    "test-traffic".into()
}
fn default_reserve() -> f64 {
    0.2
}
fn default_top_k() -> usize {
    1000
}

impl RuleSet {
    /// Parses and validates a YAML document.
    pub fn from_yaml(src: &str) -> Result<Self, GuardError> {
        let set: Self =
            serde_saphyr::from_str(src).map_err(|e| GuardError::Syntax(e.to_string()))?;
        set.validate()?;
        Ok(set)
    }

    /// Parses and validates a JSON document.
    pub fn from_json(src: &str) -> Result<Self, GuardError> {
        let set: Self = serde_json::from_str(src).map_err(|e| GuardError::Syntax(e.to_string()))?;
        set.validate()?;
        Ok(set)
    }

    /// Checks what the types cannot: unique names and ids, ranges, and
    /// combinations that make no sense.
    pub fn validate(&self) -> Result<(), GuardError> {
        let mut names = HashSet::new();
        let mut ids = HashSet::new();
        let mut routes = HashSet::new();
        self.validate_policies(&mut ids)?;
        for r in &self.resources {
            if r.name.is_empty() {
                return Err(GuardError::Invalid {
                    rule: String::new(),
                    message: "a resource has an empty name".into(),
                });
            }
            if !names.insert(r.name.as_str()) {
                return Err(GuardError::DuplicateResource(r.name.clone()));
            }
            let all_ids = r
                .switches
                .iter()
                .map(|s| s.id.as_str())
                .chain(r.flow.iter().map(|f| f.id.as_str()))
                .chain(r.hot_params.iter().map(|h| h.id.as_str()))
                .chain(r.breakers.iter().map(|b| b.id.as_str()))
                .chain(r.faults.iter().map(|f| f.id.as_str()));
            for id in all_ids {
                if id.is_empty() {
                    return Err(GuardError::Invalid {
                        rule: String::new(),
                        message: format!("a rule of resource `{}` has an empty id", r.name),
                    });
                }
                if !ids.insert(id) {
                    return Err(GuardError::DuplicateRule(id.to_owned()));
                }
            }
            for s in &r.switches {
                s.validate()?;
            }
            for f in &r.flow {
                f.validate()?;
            }
            if r.breakers.len() > MAX_BREAKERS_PER_RESOURCE {
                return Err(GuardError::Invalid {
                    rule: r.breakers[MAX_BREAKERS_PER_RESOURCE].id.clone(),
                    message: format!(
                        "resource `{}` has more than {MAX_BREAKERS_PER_RESOURCE} breakers",
                        r.name
                    ),
                });
            }
            for b in &r.breakers {
                b.validate()?;
            }
            for h in &r.hot_params {
                h.validate()?;
            }
            for f in &r.faults {
                f.validate()?;
            }
            r.validate_request_level(&mut routes)?;
        }
        Ok(())
    }

    /// Settings, upstreams, gray routing and the test-traffic policy.
    fn validate_policies<'a>(&'a self, ids: &mut HashSet<&'a str>) -> Result<(), GuardError> {
        let s = &self.settings;
        for (key, v) in [
            ("settings.origin_header", &s.origin_header),
            ("settings.test_header", &s.test_header),
            ("settings.test_baggage_key", &s.test_baggage_key),
        ] {
            if !is_token(v) {
                return Err(invalid(
                    "",
                    format!("`{key}` must be a header name, not `{v}`"),
                ));
            }
        }
        let t = &self.test_traffic;
        if t.id.is_empty() {
            return Err(invalid("", "`test_traffic.id` must not be empty"));
        }
        ids.insert(t.id.as_str());
        if !(0.0..=1.0).contains(&t.reserve) {
            return Err(invalid(&t.id, "`reserve` must be between 0 and 1"));
        }
        if let Some(q) = t.qps
            && (!q.is_finite() || q < 0.0)
        {
            return Err(invalid(&t.id, "`qps` must be a finite number ≥ 0"));
        }
        if let Some(g) = &self.gray {
            if g.id.is_empty() {
                return Err(invalid("", "`gray.id` must not be empty"));
            }
            if !ids.insert(g.id.as_str()) {
                return Err(GuardError::DuplicateRule(g.id.clone()));
            }
            if !is_token(&g.user_header) {
                return Err(invalid(&g.id, "`user_header` must be a header name"));
            }
            if !(0.0..=100.0).contains(&g.percent) {
                return Err(invalid(&g.id, "`percent` must be between 0 and 100"));
            }
            if let Some(h) = g.headers.iter().find(|h| !is_token(&h.name)) {
                return Err(invalid(
                    &g.id,
                    format!("`headers`: `{}` is not a header name", h.name),
                ));
            }
        }
        Ok(())
    }
}

/// A non-empty HTTP token (header names, baggage keys).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Resource {
    fn validate_request_level(&self, routes: &mut HashSet<String>) -> Result<(), GuardError> {
        for route in &self.routes {
            crate::route::validate_route(route)
                .map_err(|m| crate::route::route_error(&self.name, m))?;
            if let Some(key) = crate::route::route_key(route)
                && !routes.insert(key)
            {
                return Err(crate::route::route_error(
                    &self.name,
                    format!(
                        "route `{} {}` is already taken by another route",
                        route.method.as_deref().unwrap_or("*"),
                        route.path
                    ),
                ));
            }
        }
        if self.timeout_ms == Some(0) {
            return Err(crate::route::route_error(
                &self.name,
                "`timeout_ms` must be ≥ 1".into(),
            ));
        }
        if let Some(q) = self.test_qps
            && (!q.is_finite() || q < 0.0)
        {
            return Err(crate::route::route_error(
                &self.name,
                "`test_qps` must be a finite number ≥ 0".into(),
            ));
        }
        Ok(())
    }
}

/// Most callers a `per_origin` flow rule may track (`max_origins`); each
/// costs about 650 bytes of resident memory (docs/security.md).
pub const MAX_ORIGINS: usize = 1_000_000;

/// Most values a hot-parameter rule may track.
pub const MAX_TOP_K: usize = 1_000_000;

impl HotParamRule {
    fn validate(&self) -> Result<(), GuardError> {
        if !self.count.is_finite() || self.count < 0.0 {
            return Err(invalid(&self.id, "`count` must be a finite number ≥ 0"));
        }
        if self.name.is_empty() || (self.source == ParamSource::Header && !is_token(&self.name)) {
            return Err(invalid(
                &self.id,
                "`name` must be a header or query parameter name",
            ));
        }
        if self.top_k == 0 || self.top_k > MAX_TOP_K {
            return Err(invalid(&self.id, format!("`top_k` must be 1–{MAX_TOP_K}")));
        }
        if let Some((v, _)) = self
            .exceptions
            .iter()
            .find(|(_, c)| !c.is_finite() || **c < 0.0)
        {
            return Err(invalid(
                &self.id,
                format!("exception `{v}`: the limit must be a finite number ≥ 0"),
            ));
        }
        Ok(())
    }
}

impl FaultRule {
    fn validate(&self) -> Result<(), GuardError> {
        if !(0.0..=100.0).contains(&self.percent) {
            return Err(invalid(&self.id, "`percent` must be between 0 and 100"));
        }
        match (self.delay_ms, self.abort_status) {
            (Some(_), None) => Ok(()),
            (None, Some(s)) if (100..=599).contains(&s) => Ok(()),
            (None, Some(_)) => Err(invalid(&self.id, "`abort_status` must be 100–599")),
            _ => Err(invalid(
                &self.id,
                "give exactly one of `delay_ms` and `abort_status`",
            )),
        }
    }
}

fn invalid(rule: &str, message: impl Into<String>) -> GuardError {
    GuardError::Invalid {
        rule: rule.to_owned(),
        message: message.into(),
    }
}

impl FlowRule {
    /// A plain QPS reject rule (used for the test-traffic quotas).
    pub(crate) fn qps(id: &str, count: f64) -> Self {
        Self {
            id: id.to_owned(),
            grade: Grade::Qps,
            count,
            behavior: Behavior::Reject,
            warm_up_secs: default_warm_up_secs(),
            cold_factor: default_cold_factor(),
            max_queueing_ms: default_max_queueing_ms(),
            origin: OriginMatch::Default,
            per_origin: false,
            max_origins: default_max_origins(),
            scope: Scope::Local,
            dry_run: false,
        }
    }

    fn validate(&self) -> Result<(), GuardError> {
        if !self.count.is_finite() || self.count < 0.0 {
            return Err(invalid(&self.id, "`count` must be a finite number ≥ 0"));
        }
        if self.scope == Scope::Cluster
            && (self.grade != Grade::Qps || self.behavior != Behavior::Reject || self.per_origin)
        {
            return Err(invalid(
                &self.id,
                "`scope: cluster` needs `grade: qps`, `behavior: reject` and no `per_origin`",
            ));
        }
        if self.grade == Grade::Concurrency && self.behavior != Behavior::Reject {
            return Err(invalid(
                &self.id,
                "`behavior` other than `reject` needs `grade: qps`",
            ));
        }
        if self.behavior == Behavior::WarmUp {
            if !self.cold_factor.is_finite() || self.cold_factor <= 1.0 {
                return Err(invalid(&self.id, "`cold_factor` must be > 1"));
            }
            if self.warm_up_secs == 0 {
                return Err(invalid(&self.id, "`warm_up_secs` must be ≥ 1"));
            }
        }
        if let OriginMatch::Named(n) = &self.origin
            && n.is_empty()
        {
            return Err(invalid(&self.id, "`origin` must not be empty"));
        }
        if self.max_origins > MAX_ORIGINS {
            return Err(invalid(
                &self.id,
                format!("`max_origins` must be at most {MAX_ORIGINS}"),
            ));
        }
        Ok(())
    }
}

impl SwitchRule {
    fn validate(&self) -> Result<(), GuardError> {
        let f = &self.fallback;
        if !(100..=599).contains(&f.status) {
            return Err(invalid(&self.id, "`fallback.status` must be 100–599"));
        }
        for (name, value) in &f.headers {
            if !is_token(name) {
                return Err(invalid(
                    &self.id,
                    format!("`fallback.headers`: `{name}` is not a header name"),
                ));
            }
            if !value.chars().all(|c| c == '\t' || (' '..='~').contains(&c)) {
                return Err(invalid(
                    &self.id,
                    format!("`fallback.headers.{name}`: a header value must be printable ASCII"),
                ));
            }
        }
        Ok(())
    }
}

impl BreakerRule {
    fn validate(&self) -> Result<(), GuardError> {
        if !self.threshold.is_finite() || self.threshold < 0.0 {
            return Err(invalid(&self.id, "`threshold` must be a finite number ≥ 0"));
        }
        if self.strategy != Strategy::ErrorCount && self.threshold > 1.0 {
            return Err(invalid(
                &self.id,
                "a ratio `threshold` must be between 0 and 1",
            ));
        }
        if self.stat_window_ms == 0 {
            return Err(invalid(&self.id, "`stat_window_ms` must be ≥ 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"
version: 7
resources:
  - name: order.create
    switches:
      - id: order-degrade
        fallback: { status: 200, body: '{"queued":true}', headers: { content-type: application/json } }
    flow:
      - id: order-qps
        count: 1000
      - id: order-partner
        count: 50
        origin: partner-a
      - id: order-others
        count: 10
        origin: other
        per_origin: true
      - id: order-warm
        count: 500
        behavior: warm_up
        warm_up_secs: 5
      - id: order-pace
        count: 100
        behavior: pace
        max_queueing_ms: 200
        dry_run: true
    breakers:
      - id: inventory-errors
        strategy: error_ratio
        threshold: 0.5
        min_requests: 20
        open_ms: 10000
"#;

    #[test]
    fn parses_yaml() {
        let set = RuleSet::from_yaml(DOC).expect("valid");
        assert_eq!(set.version, 7);
        let r = &set.resources[0];
        assert_eq!(r.switches[0].fallback.status, 200);
        assert_eq!(r.flow[1].origin, OriginMatch::Named("partner-a".into()));
        assert_eq!(r.flow[2].origin, OriginMatch::Other);
        assert!(r.flow[2].per_origin);
        assert_eq!(r.flow[3].behavior, Behavior::WarmUp);
        assert_eq!(r.flow[3].cold_factor, 3.0);
        assert!(r.flow[4].dry_run);
        assert_eq!(r.breakers[0].strategy, Strategy::ErrorRatio);
        assert_eq!(r.breakers[0].stat_window_ms, 1000);
    }

    #[test]
    fn json_round_trip() {
        let set = RuleSet::from_yaml(DOC).expect("valid");
        let json = serde_json::to_string(&set).expect("serialises");
        assert_eq!(RuleSet::from_json(&json).expect("valid"), set);
    }

    #[test]
    fn rejects_bad_documents() {
        let dup = "version: 1\nresources:\n  - name: a\n    flow: [{id: x, count: 1}]\n  - name: b\n    flow: [{id: x, count: 1}]\n";
        assert!(matches!(
            RuleSet::from_yaml(dup),
            Err(GuardError::DuplicateRule(id)) if id == "x"
        ));
        let bad = "version: 1\nresources:\n  - name: a\n    flow: [{id: x, count: 1, behavior: pace, grade: concurrency}]\n";
        assert!(
            matches!(RuleSet::from_yaml(bad), Err(GuardError::Invalid { rule, .. }) if rule == "x")
        );
        let ratio = "version: 1\nresources:\n  - name: a\n    breakers: [{id: b, strategy: error_ratio, threshold: 2, open_ms: 1}]\n";
        assert!(matches!(
            RuleSet::from_yaml(ratio),
            Err(GuardError::Invalid { .. })
        ));
        let unknown = "version: 1\nresources:\n  - name: a\n    flows: []\n";
        assert!(matches!(
            RuleSet::from_yaml(unknown),
            Err(GuardError::Syntax(_))
        ));
        assert!(matches!(
            RuleSet::from_json("{"),
            Err(GuardError::Syntax(_))
        ));
    }
}
