//! Guard rules: derivation, adjustment, distribution to sidecars (the long poll) and their reports.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A rule set version as served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Service.
    pub service: String,
    /// Version (1, 2, … per service); also the document's `version`.
    pub version: i64,
    /// SHA-256 of the stored document.
    pub sha256: String,
    /// `derived` or `adjusted`.
    pub source: String,
    /// Plan version it was derived from.
    pub plan_version: Option<i64>,
    /// Why this version.
    pub note: String,
    /// Creation time, ms since the Unix epoch (UTC).
    pub created_ms: i64,
    /// Creator.
    pub created_by: String,
    /// The rule document (seawall-guard's schema, docs/guard-rules.md).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rules: Value,
}

/// A version without its document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RulesInfo {
    /// Version.
    pub version: i64,
    /// SHA-256 of the stored document.
    pub sha256: String,
    /// `derived` or `adjusted`.
    pub source: String,
    /// Plan version it was derived from.
    pub plan_version: Option<i64>,
    /// Why.
    pub note: String,
    /// Creation time, ms since the Unix epoch (UTC).
    pub created_ms: i64,
    /// Creator.
    pub created_by: String,
}

/// A service's versions, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RulesHistory {
    /// Service.
    pub service: String,
    /// Oldest first.
    pub versions: Vec<RulesInfo>,
}

/// What a derivation did for one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Derived {
    /// Service.
    pub service: String,
    /// Its latest version after the derivation.
    pub version: i64,
    /// Whether a new version was stored (false: same rules as the latest).
    pub changed: bool,
}

/// The outcome of a derivation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeriveResult {
    /// Plan version derived from.
    pub plan_version: i64,
    /// Which runs gave measured capacities (`none`: declared ones).
    pub measured: String,
    /// Per service of the plan, in plan order.
    pub services: Vec<Derived>,
}

/// Derivation settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeriveRequest {
    /// Share of an entry's bottleneck capacity its limit allows when the
    /// entry has no explicit `rate_limit` (0 < safety ≤ 1; default 0.9).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(exclusive_minimum = 0, maximum = 1))]
    pub safety: Option<f64>,
}

/// A commander's rule set for one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Adjust {
    /// The rule document (its `version` is replaced by the stored one).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub rules: Value,
    /// Why (kept with the version, shown in the review).
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 2000, pattern = r"\S")
    )]
    pub note: String,
}

/// The long poll's question.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct PollQuery {
    /// Service whose rules to follow.
    #[cfg_attr(
        feature = "openapi",
        param(min_length = 1, max_length = 200, pattern = r"^[^/]+$")
    )]
    pub service: String,
    /// The version in force at the caller (0: none); the answer comes when
    /// the latest differs.
    #[serde(default)]
    pub since: i64,
    /// Longest wait in seconds (default 30, at most 60; 0 answers at once).
    #[serde(default)]
    pub wait: Option<u64>,
}

/// A sidecar's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Applied {
    /// Service it guards.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, pattern = r"^[^/]+$")
    )]
    pub service: String,
    /// Its name (unique per service).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\u0000-\u001f\u007f]+$"
        )
    )]
    pub instance: String,
    /// Rule version in force there (0: none yet; at most the latest).
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub version: i64,
    /// Its admin address, `host:port` (serving `/metrics`): a target of
    /// the control plane's built-in scrape. Absent: none (not scraped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 3,
            max_length = 200,
            pattern = r"^[A-Za-z0-9.:\[\]_-]+:[0-9]{1,5}$"
        )
    )]
    pub admin_addr: Option<String>,
}

/// A sidecar and what it applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    /// Its name.
    pub instance: String,
    /// Version in force there.
    pub applied_version: i64,
    /// Last report, ms since the Unix epoch (UTC).
    pub reported_ms: i64,
    /// Whether it is behind the latest version.
    pub lagging: bool,
}

/// A service's sidecars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SidecarList {
    /// Service.
    pub service: String,
    /// Latest version (0: none yet).
    pub latest_version: i64,
    /// By instance.
    pub sidecars: Vec<Sidecar>,
}

/// Services with rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceList {
    /// By name.
    pub services: Vec<ServiceRules>,
}

/// A service's latest version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ServiceRules {
    /// Service.
    pub service: String,
    /// Latest version.
    pub latest_version: i64,
}

/// A sidecar's lease of tokens for its service's `scope: cluster` flow
/// rules (docs/scale-out.md#cluster-wide-guard-quotas).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LeaseRequest {
    /// Service it guards.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, pattern = r"^[^/]+$")
    )]
    pub service: String,
    /// Its name (unique per service).
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 200,
            pattern = r"^[^\u0000-\u001f\u007f]+$"
        )
    )]
    pub instance: String,
    /// One ask per cluster rule (at most 64).
    #[cfg_attr(feature = "openapi", schema(max_items = 64))]
    pub asks: Vec<LeaseAsk>,
}

/// Tokens asked for one cluster rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LeaseAsk {
    /// The flow rule's id.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub rule_id: String,
    /// Tokens wanted (at most 1,000,000,000).
    #[cfg_attr(feature = "openapi", schema(maximum = 1_000_000_000))]
    pub tokens: u64,
    /// Requests offered to the rule per second here, recently (the fair
    /// shares are computed from every instance's demand).
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 1_000_000_000))]
    pub demand: f64,
}

/// What a lease granted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Lease {
    /// Service.
    pub service: String,
    /// The rule version whose limits were applied (0: none).
    pub version: i64,
    /// How long the granted tokens may be used, in milliseconds.
    pub ttl_ms: u64,
    /// Instances of the service that leased recently (this one included):
    /// each one's fallback share is `count ÷ instances`.
    pub instances: u32,
    /// One grant per ask, in order.
    pub grants: Vec<LeaseGrant>,
}

/// Tokens granted for one cluster rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LeaseGrant {
    /// The flow rule's id.
    pub rule_id: String,
    /// Tokens granted.
    pub tokens: u64,
    /// The rule's service-wide limit in the version applied (absent: not a
    /// `scope: cluster` rule there, nothing granted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<f64>,
}
