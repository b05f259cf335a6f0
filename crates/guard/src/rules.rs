//! The rule document: a versioned set of resources and their rules, read from
//! YAML or JSON. The schema is documented in `docs/guard-rules.md`.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::GuardError;

/// Maximum number of circuit breakers on one resource.
pub const MAX_BREAKERS_PER_RESOURCE: usize = 64;

/// A complete, versioned rule set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Version of the document; publishers increase it with every change.
    pub version: u64,
    /// The protected resources, each with its rules.
    #[serde(default)]
    pub resources: Vec<Resource>,
}

/// One protected resource (an API, a route, a downstream call) and its rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// The resource's name, as the embedding code passes it to
    /// [`Guard::check`](crate::Guard::check).
    pub name: String,
    /// Degradation switches, checked first.
    #[serde(default)]
    pub switches: Vec<SwitchRule>,
    /// Flow rules (QPS or concurrency limits), checked in order after the switches.
    #[serde(default)]
    pub flow: Vec<FlowRule>,
    /// Circuit breakers, checked last.
    #[serde(default)]
    pub breakers: Vec<BreakerRule>,
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
    #[serde(default)]
    pub grade: Grade,
    /// The limit: requests per second, or requests in flight.
    pub count: f64,
    /// Behaviour above the limit (QPS only; concurrency always rejects).
    #[serde(default)]
    pub behavior: Behavior,
    /// Warm-up period in seconds (`warm_up`).
    #[serde(default = "default_warm_up_secs")]
    pub warm_up_secs: u64,
    /// Cold factor: the rate at the start of warm-up is `count / cold_factor` (`warm_up`, > 1).
    #[serde(default = "default_cold_factor")]
    pub cold_factor: f64,
    /// Longest a request may be asked to wait, in milliseconds (`pace`).
    #[serde(default = "default_max_queueing_ms")]
    pub max_queueing_ms: u64,
    /// Which callers the rule applies to.
    #[serde(default)]
    pub origin: OriginMatch,
    /// Give every caller its own quota of `count` instead of one shared quota.
    #[serde(default)]
    pub per_origin: bool,
    /// With `per_origin`, at most this many callers get a quota of their own;
    /// later ones share one overflow quota.
    #[serde(default = "default_max_origins")]
    pub max_origins: usize,
    /// Count what the rule would block, but let it pass.
    #[serde(default)]
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
    #[serde(default)]
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
    #[serde(default)]
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
                .chain(r.breakers.iter().map(|b| b.id.as_str()));
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
        }
        Ok(())
    }
}

fn invalid(rule: &str, message: impl Into<String>) -> GuardError {
    GuardError::Invalid {
        rule: rule.to_owned(),
        message: message.into(),
    }
}

impl FlowRule {
    fn validate(&self) -> Result<(), GuardError> {
        if !self.count.is_finite() || self.count < 0.0 {
            return Err(invalid(&self.id, "`count` must be a finite number ≥ 0"));
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
