//! Prometheus metrics (prometheus-client): the sidecar's own counters per
//! resource, plus a collector that reads the guard's per-rule counters and
//! breaker states at scrape time, so nothing is counted twice.
//!
//! Per-resource handles are created once per rule set (see `catalog.rs`),
//! so the request path touches atomics only, never a label map.

use std::collections::HashSet;
use std::sync::{Mutex, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use seawall_guard::BreakerState;

/// How a request ended, as the `result` label says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The upstream answered with a status below 500.
    Ok,
    /// The upstream answered with a 5xx.
    Upstream5xx,
    /// A rule blocked the request (429 or 503).
    Blocked,
    /// A degradation switch answered with its fallback.
    Fallback,
    /// The upstream could not be reached or broke the exchange (502).
    BadGateway,
    /// The upstream's response head did not come in time (504).
    Timeout,
    /// A fault rule answered instead of the upstream (drills).
    Fault,
}

const OUTCOMES: [(Outcome, &str); 7] = [
    (Outcome::Ok, "ok"),
    (Outcome::Upstream5xx, "upstream_5xx"),
    (Outcome::Blocked, "blocked"),
    (Outcome::Fallback, "fallback"),
    (Outcome::BadGateway, "bad_gateway"),
    (Outcome::Timeout, "timeout"),
    (Outcome::Fault, "fault"),
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    resource: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PassLabels {
    resource: String,
    rule: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BlockLabels {
    resource: String,
    rule: String,
    reason: String,
}

/// The label a request that matches no resource gets.
pub(crate) const UNMATCHED: &str = "unmatched";

/// The registry and the sidecar's own metric families.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    in_flight: Family<ResourceLabels, Gauge>,
    latency: Family<ResourceLabels, Histogram, fn() -> Histogram>,
    blocked: Family<BlockLabels, Counter>,
    /// The label sets `blocked` has made, so a reload can remove them.
    blocked_seen: Mutex<HashSet<BlockLabels>>,
    passed: Family<PassLabels, Counter>,
    /// Version of the rule document in force.
    pub(crate) rules_version: Gauge,
    /// Rules-file loads that succeeded.
    pub(crate) reloads_ok: Counter,
    /// Rules-file loads that failed (the old rules stayed in force).
    pub(crate) reloads_failed: Counter,
    /// 1 when the rules file on disk is the one in force, 0 after a failed load.
    pub(crate) rules_file_ok: Gauge,
    /// Client connections answered 503 because `max_connections` were open.
    pub(crate) connections_refused: Counter,
    /// Steps of following the control plane that failed (unreachable,
    /// refused, or a version this sidecar cannot use).
    pub(crate) control_errors: Counter,
    /// Cluster quotas: 1 per rule while it falls back to `count ÷ live
    /// instances` (the control plane cannot be reached), 0 while leased.
    pub(crate) cluster_fallback: Family<ClusterRuleLabels, Gauge>,
    /// Cluster quotas: tokens leased per rule.
    pub(crate) cluster_granted: Family<ClusterRuleLabels, Counter>,
    /// Cluster quotas: live instances of the service, as last heard.
    pub(crate) cluster_instances: Gauge,
    /// Cluster quotas: leases that failed.
    pub(crate) cluster_lease_errors: Counter,
}

/// A cluster rule's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ClusterRuleLabels {
    pub(crate) rule: String,
}

/// One resource's metric handles (clones share the registry's atomics).
#[derive(Debug)]
pub(crate) struct ResourceMetrics {
    results: [Counter; OUTCOMES.len()],
    /// Requests of the resource in flight (admitted and not finished).
    pub(crate) in_flight: Gauge,
    /// Seconds from arrival to the end of the response body, proxied requests only.
    pub(crate) latency: Histogram,
    /// The passed counter of each of the resource's rules.
    passed: Vec<Counter>,
    /// The resource's name, for the blocked series made on first use.
    resource: Box<str>,
    /// Handles of `seawall_sidecar_blocked_total` by (rule, reason), made
    /// the first time the rule set blocks with them (so /metrics shows
    /// only series that happened) and then reused: a refusal touches no
    /// label map, allocates nothing and takes no lock but this read lock.
    /// At most the rule set's rules times the reasons.
    blocked: RwLock<Vec<(Box<str>, &'static str, Counter)>>,
}

impl ResourceMetrics {
    /// Counts a request every rule of the resource let pass.
    pub(crate) fn passed(&self) {
        for c in &self.passed {
            c.inc();
        }
    }

    /// Counts a request `rule` refused or degraded for `reason` (the
    /// guard's block reason, `fallback` or `fault_abort`).
    pub(crate) fn blocked(&self, metrics: &Metrics, rule: &str, reason: &'static str) {
        let known = |handles: &[(Box<str>, &'static str, Counter)]| {
            handles
                .iter()
                .find(|(r, why, _)| *why == reason && **r == *rule)
                .map(|(_, _, c)| c.clone())
        };
        let cached = known(&self.blocked.read().unwrap_or_else(|e| e.into_inner()));
        let counter = cached.unwrap_or_else(|| {
            let mut handles = self.blocked.write().unwrap_or_else(|e| e.into_inner());
            known(&handles).unwrap_or_else(|| {
                let c = metrics.blocked_counter(&self.resource, rule, reason);
                handles.push((Box::from(rule), reason, c.clone()));
                c
            })
        });
        counter.inc();
    }

    /// Counts one request with its outcome.
    pub(crate) fn count(&self, outcome: Outcome) {
        if let Some(i) = OUTCOMES.iter().position(|(o, _)| *o == outcome) {
            self.results[i].inc();
        }
    }
}

fn latency_histogram() -> Histogram {
    // 100 µs … ~52 s, doubling.
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("seawall");
        let requests = Family::<RequestLabels, Counter>::default();
        let in_flight = Family::<ResourceLabels, Gauge>::default();
        let latency = Family::<ResourceLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let blocked = Family::<BlockLabels, Counter>::default();
        let passed = Family::<PassLabels, Counter>::default();
        let rules_version = Gauge::default();
        let reloads_ok = Counter::default();
        let reloads_failed = Counter::default();
        let control_errors = Counter::default();
        let cluster_fallback = Family::<ClusterRuleLabels, Gauge>::default();
        let cluster_granted = Family::<ClusterRuleLabels, Counter>::default();
        let cluster_instances = Gauge::default();
        let cluster_lease_errors = Counter::default();
        let rules_file_ok = Gauge::default();
        let connections_refused = Counter::default();
        registry.register(
            "sidecar_requests",
            "Requests by resource and result (ok, upstream_5xx, blocked, fallback, bad_gateway, timeout, fault)",
            requests.clone(),
        );
        registry.register(
            "sidecar_in_flight",
            "Requests in flight per resource",
            in_flight.clone(),
        );
        registry.register(
            "sidecar_request_duration_seconds",
            "Time from arrival to the end of the response body of proxied requests, per resource",
            latency.clone(),
        );
        registry.register(
            "sidecar_blocked",
            "Requests refused or answered by a fallback, by resource, rule and reason",
            blocked.clone(),
        );
        registry.register(
            "guard_rule_passed",
            "Calls of the rule's resource that every rule of it let pass (beside guard_rule_blocked)",
            passed.clone(),
        );
        registry.register(
            "sidecar_rules_version",
            "Version of the rule document in force",
            rules_version.clone(),
        );
        registry.register(
            "sidecar_rules_reloads",
            "Rules-file loads that succeeded",
            reloads_ok.clone(),
        );
        registry.register(
            "sidecar_rules_reload_errors",
            "Rules-file loads that failed; the last good rules stayed in force",
            reloads_failed.clone(),
        );
        registry.register(
            "sidecar_control_errors",
            "Steps of following the control plane that failed (unreachable, refused, or a version this sidecar cannot use); the rules in force stayed",
            control_errors.clone(),
        );
        registry.register(
            "sidecar_cluster_fallback",
            "1 while a scope: cluster rule falls back to count / live instances on this sidecar's own window (the control plane cannot be reached), 0 while its tokens are leased",
            cluster_fallback.clone(),
        );
        registry.register(
            "sidecar_cluster_tokens_granted",
            "Tokens of scope: cluster rules leased from the control plane, per rule",
            cluster_granted.clone(),
        );
        registry.register(
            "sidecar_cluster_instances",
            "Live sidecar instances of the service, as the control plane last said (the fallback divides by it)",
            cluster_instances.clone(),
        );
        registry.register(
            "sidecar_cluster_lease_errors",
            "Leases of cluster quota tokens that failed (each one puts the cluster rules in fallback)",
            cluster_lease_errors.clone(),
        );
        registry.register(
            "sidecar_rules_file_ok",
            "1 when the rules file on disk is in force, 0 when its last load failed",
            rules_file_ok.clone(),
        );
        registry.register(
            "sidecar_connections_refused",
            "Client connections answered 503 and closed because max_connections were open",
            connections_refused.clone(),
        );
        Self {
            registry,
            requests,
            in_flight,
            latency,
            blocked,
            blocked_seen: Mutex::new(HashSet::new()),
            passed,
            rules_version,
            reloads_ok,
            reloads_failed,
            control_errors,
            cluster_fallback,
            cluster_granted,
            cluster_instances,
            cluster_lease_errors,
            rules_file_ok,
            connections_refused,
        }
    }

    /// The handles of `resource` whose rules are `rules` (id, kind),
    /// created on first use.
    pub(crate) fn resource(
        &self,
        resource: &str,
        rules: &[(&str, &'static str)],
    ) -> ResourceMetrics {
        let labels = ResourceLabels {
            resource: resource.to_owned(),
        };
        ResourceMetrics {
            passed: rules
                .iter()
                .map(|(rule, kind)| {
                    self.passed.get_or_create_owned(&PassLabels {
                        resource: resource.to_owned(),
                        rule: (*rule).to_owned(),
                        kind,
                    })
                })
                .collect(),
            results: OUTCOMES.map(|(_, result)| {
                self.requests.get_or_create_owned(&RequestLabels {
                    resource: resource.to_owned(),
                    result,
                })
            }),
            in_flight: self.in_flight.get_or_create_owned(&labels),
            latency: self.latency.get_or_create_owned(&labels),
            resource: Box::from(resource),
            blocked: RwLock::new(Vec::new()),
        }
    }

    /// Counts a request a rule refused or degraded.
    #[cfg(test)]
    pub(crate) fn blocked(&self, resource: &str, rule: &str, reason: &str) {
        self.blocked_counter(resource, rule, reason).inc();
    }

    /// The handle of a `seawall_sidecar_blocked_total` series, remembered
    /// so that a reload can remove it.
    fn blocked_counter(&self, resource: &str, rule: &str, reason: &str) -> Counter {
        let labels = BlockLabels {
            resource: resource.to_owned(),
            rule: rule.to_owned(),
            reason: reason.to_owned(),
        };
        let counter = self.blocked.get_or_create_owned(&labels);
        let mut seen = self.blocked_seen.lock().unwrap_or_else(|e| e.into_inner());
        if !seen.contains(&labels) {
            seen.insert(labels);
        }
        counter
    }

    /// Removes the series of resources and rules that `rules` no longer
    /// has (after a reload), so `/metrics` shows no stale ones.
    /// `resources` lists the resources that remain.
    pub(crate) fn forget(
        &self,
        gone_resources: &[&str],
        gone_rules: &[(&str, &str, &'static str)],
        rules: &HashSet<(&str, &str)>,
    ) {
        for r in gone_resources {
            let resource = (*r).to_owned();
            for (_, result) in OUTCOMES {
                self.requests.remove(&RequestLabels {
                    resource: resource.clone(),
                    result,
                });
            }
            let labels = ResourceLabels { resource };
            self.in_flight.remove(&labels);
            self.latency.remove(&labels);
        }
        for (resource, rule, kind) in gone_rules {
            self.passed.remove(&PassLabels {
                resource: (*resource).to_owned(),
                rule: (*rule).to_owned(),
                kind,
            });
        }
        let mut seen = self.blocked_seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|l| {
            let keep = rules.contains(&(l.resource.as_str(), l.rule.as_str()));
            if !keep {
                self.blocked.remove(l);
            }
            keep
        });
    }

    /// Registers the guard collector (once, at start).
    pub(crate) fn register_guard(&mut self, shared: std::sync::Weak<dyn RuleStatsSource>) {
        self.registry
            .register_collector(Box::new(GuardCollector { shared }));
    }

    /// The text exposition (OpenMetrics).
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// What the guard collector reads at scrape time: each rule of the rules
/// in force with its resource, kind and counters. The proxy's shared state
/// provides it; a trait keeps this module below the proxy.
pub(crate) trait RuleStatsSource: std::fmt::Debug + Send + Sync {
    /// `(resource, rule id, kind, stats)` of every rule in force.
    fn rule_stats(&self) -> Vec<(String, String, &'static str, seawall_guard::RuleStats)>;
}

/// Reads the guard's rule counters at scrape time.
#[derive(Debug)]
struct GuardCollector {
    shared: std::sync::Weak<dyn RuleStatsSource>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    resource: String,
    rule: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    resource: String,
    rule: String,
    state: &'static str,
}

impl Collector for GuardCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let Some(shared) = self.shared.upgrade() else {
            return Ok(());
        };
        let stats = shared.rule_stats();

        let mut family = |name: &str,
                          help: &str,
                          counter: bool,
                          pick: &dyn Fn(&str, &seawall_guard::RuleStats) -> Option<u64>|
         -> Result<(), std::fmt::Error> {
            let ty = if counter {
                ConstCounter::new(0u64).metric_type()
            } else {
                ConstGauge::new(0i64).metric_type()
            };
            let mut m = encoder.encode_descriptor(name, help, None, ty)?;
            for (res, id, kind, s) in &stats {
                let Some(v) = pick(kind, s) else { continue };
                let labels = RuleLabels {
                    resource: (*res).clone(),
                    rule: (*id).clone(),
                    kind,
                };
                let fe = m.encode_family(&labels)?;
                if counter {
                    ConstCounter::new(v).encode(fe)?;
                } else {
                    ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX)).encode(fe)?;
                }
            }
            Ok(())
        };
        family(
            "guard_rule_blocked",
            "Calls a rule blocked (switches: answered with the fallback)",
            true,
            &|_, s| Some(s.blocked),
        )?;
        family(
            "guard_rule_would_block",
            "Calls a dry-run rule would have blocked",
            true,
            &|_, s| Some(s.would_block),
        )?;
        family(
            "guard_rule_pass_qps",
            "Flow rules: calls admitted in the last second",
            false,
            &|kind, s| (kind == "flow").then_some(s.pass_qps),
        )?;
        family(
            "guard_rule_in_flight",
            "Flow rules: calls in flight",
            false,
            &|kind, s| (kind == "flow").then_some(s.in_flight),
        )?;
        family(
            "guard_rule_tracked_values",
            "Hot-parameter and per-caller rules: values or callers tracked now",
            false,
            &|_, s| s.tracked_values,
        )?;
        family(
            "guard_rule_faults_injected",
            "Fault rules: faults injected",
            true,
            &|kind, s| (kind == "fault").then_some(s.injected),
        )?;
        family(
            "guard_switch_on",
            "Degradation switches: 1 when on",
            false,
            &|_, s| s.switch_on.map(u64::from),
        )?;

        let mut m = encoder.encode_descriptor(
            "guard_breaker_state",
            "Circuit breakers: 1 for the current state",
            None,
            ConstGauge::new(0i64).metric_type(),
        )?;
        for (res, id, _, s) in &stats {
            let Some(state) = s.breaker else { continue };
            for (st, name) in [
                (BreakerState::Closed, "closed"),
                (BreakerState::Open, "open"),
                (BreakerState::HalfOpen, "half_open"),
            ] {
                let labels = StateLabels {
                    resource: (*res).clone(),
                    rule: (*id).clone(),
                    state: name,
                };
                ConstGauge::new(i64::from(state == st)).encode(m.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_resource_and_encodes() {
        let m = Metrics::new();
        let r = m.resource("order.create", &[("order-qps", "flow")]);
        r.passed();
        r.count(Outcome::Ok);
        r.count(Outcome::Ok);
        r.count(Outcome::Blocked);
        r.latency.observe(0.002);
        m.blocked("order.create", "order-qps", "qps_limit");
        let text = m.encode().expect("encodes");
        for line in [
            "seawall_sidecar_requests_total{resource=\"order.create\",result=\"ok\"} 2",
            "seawall_sidecar_requests_total{resource=\"order.create\",result=\"blocked\"} 1",
            "seawall_sidecar_blocked_total{resource=\"order.create\",rule=\"order-qps\",reason=\"qps_limit\"} 1",
            "seawall_sidecar_request_duration_seconds_count{resource=\"order.create\"} 1",
            "seawall_guard_rule_passed_total{resource=\"order.create\",rule=\"order-qps\",kind=\"flow\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
        assert!(text.trim_end().ends_with("# EOF"));
    }

    /// A refusal's series is made on its first use and its handle reused;
    /// a reload that drops the rule removes the series.
    #[test]
    fn blocked_handles_are_made_once_per_rule_and_reason() {
        let m = Metrics::new();
        let r = m.resource("cart", &[("cart-qps", "flow")]);
        let line = |reason: &str, n: u32| {
            format!(
                "seawall_sidecar_blocked_total{{resource=\"cart\",rule=\"cart-qps\",reason=\"{reason}\"}} {n}"
            )
        };
        let text = m.encode().expect("encodes");
        assert!(!text.contains("seawall_sidecar_blocked_total{"), "{text}");
        for _ in 0..3 {
            r.blocked(&m, "cart-qps", "qps_limit");
        }
        r.blocked(&m, "cart-qps", "fallback");
        let handles = r.blocked.read().expect("lock").len();
        assert_eq!(handles, 2);
        let text = m.encode().expect("encodes");
        for want in [line("qps_limit", 3), line("fallback", 1)] {
            assert!(
                text.lines().any(|l| l == want),
                "{want} missing from\n{text}"
            );
        }
        m.forget(&["cart"], &[("cart", "cart-qps", "flow")], &HashSet::new());
        let text = m.encode().expect("encodes");
        assert!(!text.contains("seawall_sidecar_blocked_total{"), "{text}");
    }
}
