//! Synthetic plans for benchmarks and property tests.
//!
//! [`plan`] builds a [`Plan`] directly (no YAML) with a chosen number of
//! services and service-to-service edges. The dependency graph is acyclic by
//! construction: services are split into layers of consecutive indices and
//! edges only go from a lower layer to a higher one (so from lower to higher
//! index, and paths are at most `layers - 1` edges long, as in real systems).
//! Everything is drawn from a small linear congruential generator, so the
//! same [`Spec`] always gives the same plan.

use indexmap::IndexMap;

use crate::model::{
    Edge, Entry, Goal, GoalSource, Journey, Partner, Plan, Service, Step, Strength, Tier,
};

/// Size and seed of a generated plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Number of services.
    pub services: usize,
    /// Number of service-to-service dependency edges.
    pub edges: usize,
    /// Number of entries (on services of the first layer).
    pub entries: usize,
    /// Number of journeys (3 to 6 steps each).
    pub journeys: usize,
    /// Number of partners (called by services of the last layer).
    pub partners: usize,
    /// Number of service layers (edges go from a layer to a later one).
    pub layers: usize,
    /// Seed of the generator.
    pub seed: u64,
}

impl Spec {
    /// A spec with `services` services and `edges` edges and the other
    /// counts scaled from them (an entry per 10 services, a journey per 100,
    /// a partner per 100; 8 layers).
    pub fn sized(services: usize, edges: usize) -> Self {
        Spec {
            services,
            edges,
            entries: (services / 10).max(1),
            journeys: (services / 100).max(1),
            partners: (services / 100).max(1),
            layers: 8,
            seed: 0x5ea_3a11,
        }
    }
}

/// A small deterministic pseudo-random generator (64-bit LCG, Knuth's MMIX
/// constants; the high bits are used).
#[derive(Debug, Clone)]
pub struct Lcg(u64);

impl Lcg {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Lcg(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 32) as u32
    }

    /// A uniform index in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        ((u64::from(self.next_u32()) * n as u64) >> 32) as usize
    }

    /// A uniform number in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * f64::from(self.next_u32()) / 4_294_967_296.0
    }
}

/// A plan with `services` services and `edges` edges ([`Spec::sized`]).
pub fn sized(services: usize, edges: usize) -> Plan {
    plan(&Spec::sized(services, edges))
}

/// Build the plan described by `spec`.
pub fn plan(spec: &Spec) -> Plan {
    let mut rng = Lcg::new(spec.seed);
    let n = spec.services;
    let layers = spec.layers.max(1);
    // Layer of service i is i * layers / n; start index of each layer.
    let layer_of = |i: usize| i * layers / n.max(1);
    let layer_start = |l: usize| (l * n).div_ceil(layers);

    let mut plan = Plan {
        file: "generated.yaml".to_string(),
        ..Plan::default()
    };
    plan.event.name = format!("generated {n} services / {} edges", spec.edges);
    plan.traffic.peak_hour_share = 0.12;
    plan.traffic.peak_factor = 3.0;

    // Goals.
    plan.goals.insert(
        "gmv".to_string(),
        Goal {
            source: GoalSource::Total(50_000_000.0),
            ..Goal::default()
        },
    );
    plan.goals.insert(
        "orders".to_string(),
        Goal {
            source: GoalSource::From {
                goal: "gmv".to_string(),
                ratio: 0.04,
            },
            peak_hour_share: Some(0.15),
            peak_factor: Some(2.0),
            ..Goal::default()
        },
    );
    plan.goals.insert(
        "dau".to_string(),
        Goal {
            source: GoalSource::Total(8_000_000.0),
            ..Goal::default()
        },
    );

    // Services.
    let ids: Vec<String> = (0..n).map(|i| format!("svc-{i}")).collect();
    let mut services: Vec<Service> = (0..n)
        .map(|i| {
            let layer = layer_of(i);
            Service {
                tier: if layer == 0 {
                    Tier::Frontend
                } else if layer + 1 < layers {
                    Tier::Midend
                } else {
                    Tier::Backend
                },
                instances: Some(2 + rng.below(40) as u32),
                capacity_per_instance: Some(rng.range(100.0, 2000.0).round()),
                latency_ms: Some(rng.range(2.0, 80.0).round()),
                timeout_ms: Some(1000.0),
                ..Service::default()
            }
        })
        .collect();

    // Service-to-service edges, from a layer to a later one.
    let last_start = layer_start(layers - 1).min(n);
    if last_start > 0 {
        for _ in 0..spec.edges {
            let from = rng.below(last_start);
            let lo = layer_start(layer_of(from) + 1).min(n);
            if lo >= n {
                continue;
            }
            let to = lo + rng.below(n - lo);
            services[from]
                .dependencies
                .push(edge(&mut rng, ids[to].clone()));
        }
    }

    // Partners, called by services of the last layer.
    let partner_ids: Vec<String> = (0..spec.partners).map(|i| format!("partner-{i}")).collect();
    for (i, id) in partner_ids.iter().enumerate() {
        plan.partners.insert(
            id.clone(),
            Partner {
                quota_qps: (i % 2 == 0).then(|| rng.range(1e5, 1e7).round()),
                fallback: Some("queue and retry".to_string()),
                ..Partner::default()
            },
        );
        for _ in 0..3 {
            if last_start < n {
                let from = last_start + rng.below(n - last_start);
                services[from].dependencies.push(edge(&mut rng, id.clone()));
            }
        }
    }
    plan.services = ids.iter().cloned().zip(services).collect();

    // Entries, on the first layer.
    let first_layer = layer_start(1).clamp(1, n.max(1));
    let entry_ids: Vec<String> = (0..spec.entries).map(|i| format!("entry-{i}")).collect();
    if n > 0 {
        for id in &entry_ids {
            let service = ids[rng.below(first_layer)].clone();
            plan.entries.insert(
                id.clone(),
                Entry {
                    service,
                    path: Some(format!("/api/{id}")),
                    burst: if rng.below(10) == 0 { 2.0 } else { 1.0 },
                    current_qps: Some(rng.range(1.0, 500.0).round()),
                    rate_limit: Some(rng.range(1000.0, 100_000.0).round()),
                    ..Entry::default()
                },
            );
        }
    }

    // Journeys over the entries; shares of one goal sum to 1.
    let goals = ["orders", "dau"];
    let mut journeys: IndexMap<String, Journey> = IndexMap::new();
    if !entry_ids.is_empty() {
        let per_goal = spec.journeys.div_ceil(goals.len()).max(1) as f64;
        for j in 0..spec.journeys {
            let len = 3 + rng.below(4);
            let steps = (0..len)
                .map(|k| Step {
                    entry: entry_ids[rng.below(entry_ids.len())].clone(),
                    conversion: if k == 0 { 1.0 } else { rng.range(0.5, 1.0) },
                    calls: if rng.below(5) == 0 { 2.0 } else { 1.0 },
                    ..Step::default()
                })
                .collect();
            journeys.insert(
                format!("journey-{j}"),
                Journey {
                    goal: goals[j % goals.len()].to_string(),
                    share: 1.0 / per_goal,
                    anchor: rng.below(len),
                    session_seconds: Some(rng.range(60.0, 600.0).round()),
                    steps,
                    ..Journey::default()
                },
            );
        }
    }
    plan.traffic.journeys = journeys;
    plan
}

/// A random edge to `to`: 3 in 4 strong, 1 in 5 with two calls.
fn edge(rng: &mut Lcg, to: String) -> Edge {
    let strong = rng.below(4) != 0;
    Edge {
        to,
        strength: if strong {
            Strength::Strong
        } else {
            Strength::Weak
        },
        calls: if rng.below(5) == 0 { 2.0 } else { 1.0 },
        timeout_ms: Some(200.0),
        retries: 0,
        fallback: (!strong).then(|| "skip".to_string()),
        ..Edge::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Graph;

    #[test]
    fn sizes_and_acyclic() {
        let p = sized(1000, 5000);
        assert_eq!(p.services.len(), 1000);
        let service_edges: usize = p
            .services
            .values()
            .flat_map(|s| &s.dependencies)
            .filter(|e| p.services.contains_key(&e.to))
            .count();
        assert_eq!(service_edges, 5000);
        assert_eq!(p.entries.len(), 100);
        assert_eq!(p.traffic.journeys.len(), 10);
        for (i, s) in p.services.values().enumerate() {
            for e in &s.dependencies {
                if let Some(j) = p.services.get_index_of(&e.to) {
                    assert!(j > i, "edge {i} -> {j}");
                }
            }
        }
        assert!(Graph::new(&p.services).topo_order().is_ok());
    }

    #[test]
    fn deterministic() {
        let a = sized(200, 800);
        let b = sized(200, 800);
        let deps = |p: &Plan| {
            p.services
                .values()
                .flat_map(|s| s.dependencies.iter().map(|e| (e.to.clone(), e.calls)))
                .collect::<Vec<_>>()
        };
        assert_eq!(deps(&a), deps(&b));
    }

    #[test]
    fn tiny_sizes_do_not_panic() {
        for n in 0..5 {
            for m in 0..5 {
                let _ = sized(n, m);
            }
        }
    }
}
