//! What the sidecar keeps per rule set besides the guard itself: each
//! resource's metric handles (made once per rule set, so a request touches
//! atomics only, never a label map) and the list of rule ids the metrics
//! collector reads from the guard at scrape time. Rebuilt and swapped with
//! every rule set.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use seawall_guard::RuleSet;

use crate::metrics::{Metrics, ResourceMetrics, UNMATCHED};

/// The per-rule-set catalogue.
#[derive(Debug)]
pub(crate) struct Catalog {
    by_name: HashMap<Box<str>, Arc<ResourceMetrics>>,
    unmatched: Arc<ResourceMetrics>,
    /// (resource, rule id, kind) of every rule, for the metrics collector.
    pub(crate) rules: Vec<(String, String, &'static str)>,
}

impl Catalog {
    pub(crate) fn build(rules: &RuleSet, metrics: &Metrics) -> Self {
        let mut by_name = HashMap::new();
        let mut ids = Vec::new();
        for r in &rules.resources {
            let first = ids.len();
            let mut add = |id: &str, kind| ids.push((r.name.clone(), id.to_owned(), kind));
            r.switches.iter().for_each(|s| add(&s.id, "switch"));
            r.flow.iter().for_each(|f| add(&f.id, "flow"));
            r.hot_params.iter().for_each(|h| add(&h.id, "hot_param"));
            r.breakers.iter().for_each(|b| add(&b.id, "breaker"));
            r.faults.iter().for_each(|f| add(&f.id, "fault"));
            let own: Vec<(&str, &'static str)> = ids[first..]
                .iter()
                .map(|(_, id, kind)| (id.as_str(), *kind))
                .collect();
            by_name.insert(
                Box::from(r.name.as_str()),
                Arc::new(metrics.resource(&r.name, &own)),
            );
        }
        Self {
            by_name,
            unmatched: Arc::new(metrics.resource(UNMATCHED, &[])),
            rules: ids,
        }
    }

    /// Removes from `metrics` the series of resources and rules this
    /// catalogue has and `next` has not.
    pub(crate) fn forget_gone(&self, next: &Catalog, metrics: &Metrics) {
        let gone_resources: Vec<&str> = self
            .by_name
            .keys()
            .filter(|r| !next.by_name.contains_key(*r))
            .map(|r| &**r)
            .collect();
        let next_rules: HashSet<(&str, &str)> = next
            .rules
            .iter()
            .map(|(r, id, _)| (r.as_str(), id.as_str()))
            .collect();
        let next_kinds: HashSet<(&str, &str, &str)> = next
            .rules
            .iter()
            .map(|(r, id, kind)| (r.as_str(), id.as_str(), *kind))
            .collect();
        let gone_rules: Vec<(&str, &str, &'static str)> = self
            .rules
            .iter()
            .filter(|(r, id, kind)| !next_kinds.contains(&(r.as_str(), id.as_str(), *kind)))
            .map(|(r, id, kind)| (r.as_str(), id.as_str(), *kind))
            .collect();
        metrics.forget(&gone_resources, &gone_rules, &next_rules);
    }

    /// The metric handles of a resource (`None`: the request matched none).
    pub(crate) fn metrics(&self, resource: Option<&str>) -> Arc<ResourceMetrics> {
        resource
            .and_then(|r| self.by_name.get(r))
            .map_or_else(|| Arc::clone(&self.unmatched), Arc::clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_rule_and_counts_unknown_resources_as_unmatched() {
        let rules = RuleSet::from_yaml(
            "version: 1\nresources:\n  - name: a\n    flow: [{id: a-qps, count: 1}]\n    breakers: [{id: a-br, strategy: error_count, threshold: 1, open_ms: 10}]\n  - name: b\n    switches: [{id: b-sw}]\n",
        )
        .expect("valid");
        let metrics = Metrics::new();
        let c = Catalog::build(&rules, &metrics);
        let kinds: Vec<(&str, &str)> = c.rules.iter().map(|(_, id, k)| (id.as_str(), *k)).collect();
        assert_eq!(
            kinds,
            [("a-qps", "flow"), ("a-br", "breaker"), ("b-sw", "switch")]
        );
        c.metrics(Some("a")).in_flight.inc();
        c.metrics(Some("zzz")).in_flight.inc();
        c.metrics(None).in_flight.inc();
        let text = metrics.encode().expect("encodes");
        assert!(
            text.contains("seawall_sidecar_in_flight{resource=\"a\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("seawall_sidecar_in_flight{resource=\"unmatched\"} 2"),
            "{text}"
        );
    }
}
