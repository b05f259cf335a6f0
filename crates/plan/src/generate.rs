//! Synthetic plans for benchmarks and property tests.
//!
//! [`plan`] builds a [`Plan`] directly (no YAML) with a chosen number of
//! services and service-to-service edges; [`yaml`] writes a complete plan
//! file of that size, so the parser's limits and whole-process commands
//! (`seawall plan readiness`) can be measured on a realistic large plan. The dependency graph is acyclic by
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

/// The plan described by `spec` written as a complete YAML file, as a team
/// would write it by hand: every section a readiness run looks at (people,
/// business lines, goals and journeys, entries, services with their
/// dependency edges, partners, capacity and link policy, monitoring, a
/// freeze window, an on-call rota, emergency plans with drills and a
/// rehearsal), so `seawall plan readiness` runs every analysis on it.
///
/// Deterministic: the same spec always gives the same text. The graph is
/// layered and acyclic as in [`plan`]; service `i` belongs to business line
/// `i mod lines`, with `services / 1000` (at least 1) lines. A 10,000-service,
/// 50,000-edge spec ([`Spec::sized`]) gives about 4 MB of YAML.
pub fn yaml(spec: &Spec) -> String {
    use std::fmt::Write as _;

    let mut rng = Lcg::new(spec.seed);
    let n = spec.services;
    let layers = spec.layers.max(1);
    let layer_of = |i: usize| i * layers / n.max(1);
    let layer_start = |l: usize| (l * n).div_ceil(layers);
    let lines = (n / 1000).max(1);
    // Lines interleave, so every line owns services of every layer (and
    // so entries and traffic).
    let line_of = |i: usize| i % lines;
    // About 70 bytes per edge and 150 per service.
    let mut out = String::with_capacity(200 * n + 80 * spec.edges + 4096);
    // `write!` into a String cannot fail; the results are ignored below.
    let w = &mut out;

    let _ = writeln!(
        w,
        "# Generated plan: {n} services, {} edges, seed {:#x} (seawall_plan::generate::yaml).",
        spec.edges, spec.seed
    );
    let _ = writeln!(w, "event:");
    let _ = writeln!(
        w,
        "  name: \"generated {n} services / {} edges\"",
        spec.edges
    );
    let _ = writeln!(w, "  timezone: Asia/Shanghai");
    let _ = writeln!(w, "  phases:");
    let _ = writeln!(
        w,
        "    rehearsal: {{start: \"2026-09-07T00:00\", end: \"2026-09-25T00:00\"}}"
    );
    let _ = writeln!(
        w,
        "    freeze: {{start: \"2026-09-28T00:00\", end: \"2026-10-02T00:00\"}}"
    );
    let _ = writeln!(
        w,
        "    peak: {{start: \"2026-09-30T10:00\", end: \"2026-09-30T14:00\"}}"
    );

    // People: two commanders, a PM per line, two SREs.
    let people = 4 + lines;
    let _ = writeln!(w, "people:");
    for p in 0..people {
        let _ = writeln!(
            w,
            "  person-{p}: {{name: \"Person {p}\", phone: \"+86 130 0000 {p:04}\", email: person-{p}@example.com}}"
        );
    }
    let _ = writeln!(w, "organization:");
    let _ = writeln!(w, "  guarantee_group: [person-0, person-1]");
    let _ = writeln!(w, "  business_lines:");
    for l in 0..lines {
        let _ = writeln!(
            w,
            "    line-{l}: {{name: \"Line {l}\", tech_pm: person-{}}}",
            4 + l
        );
    }

    let _ = writeln!(w, "goals:");
    let _ = writeln!(w, "  gmv: {{name: GMV, unit: yuan, total: 50000000}}");
    let _ = writeln!(
        w,
        "  orders: {{unit: orders, from: {{goal: gmv, ratio: 0.04}}, peak_hour_share: 0.15, peak_factor: 2.0}}"
    );
    let _ = writeln!(w, "  dau: {{unit: users, total: 8000000}}");

    // Journeys over the entries; shares of one goal sum to 1.
    let entries = if n == 0 { 0 } else { spec.entries };
    let goals = ["orders", "dau"];
    let _ = writeln!(w, "traffic:");
    let _ = writeln!(w, "  peak_hour_share: 0.12");
    let _ = writeln!(w, "  peak_factor: 3.0");
    let journeys = if entries == 0 { 0 } else { spec.journeys };
    if journeys > 0 {
        let _ = writeln!(w, "  journeys:");
    }
    let per_goal = journeys.div_ceil(goals.len()).max(1) as f64;
    for j in 0..journeys {
        let len = 3 + rng.below(4);
        let steps: Vec<usize> = (0..len).map(|_| rng.below(entries)).collect();
        let _ = writeln!(w, "    journey-{j}:");
        let _ = writeln!(w, "      goal: {}", goals[j % goals.len()]);
        let _ = writeln!(w, "      share: {}", 1.0 / per_goal);
        let _ = writeln!(w, "      anchor: entry-{}", steps[rng.below(len)]);
        let _ = writeln!(
            w,
            "      session_seconds: {}",
            rng.range(60.0, 600.0).round()
        );
        let _ = writeln!(w, "      steps:");
        for (k, e) in steps.iter().enumerate() {
            let calls = if rng.below(5) == 0 { ", calls: 2" } else { "" };
            if k == 0 {
                let _ = writeln!(w, "        - {{entry: entry-{e}{calls}}}");
            } else {
                let conversion = (rng.range(0.5, 1.0) * 100.0).round() / 100.0;
                let _ = writeln!(
                    w,
                    "        - {{entry: entry-{e}, conversion: {conversion}{calls}}}"
                );
            }
        }
    }

    // Entries, on services of the first layer.
    let first_layer = layer_start(1).clamp(1, n.max(1));
    if entries > 0 {
        let _ = writeln!(w, "entries:");
    }
    for e in 0..entries {
        let service = rng.below(first_layer);
        let burst = if rng.below(10) == 0 { ", burst: 2" } else { "" };
        let method = if e % 3 == 0 { "POST" } else { "GET" };
        let _ = writeln!(
            w,
            "  entry-{e}: {{service: svc-{service}, method: {method}, path: /api/entry-{e}, slo: {{p99_ms: 500, error_rate: 0.001}}{burst}, current_qps: {}, rate_limit: {}}}",
            rng.range(1.0, 500.0).round(),
            rng.range(1000.0, 100_000.0).round()
        );
    }

    // Service-to-service edges, from a layer to a later one, drawn first so
    // each service's list can be written in one go.
    let mut deps: Vec<Vec<String>> = vec![Vec::new(); n];
    let last_start = layer_start(layers - 1).min(n);
    if last_start > 0 {
        for _ in 0..spec.edges {
            let from = rng.below(last_start);
            let lo = layer_start(layer_of(from) + 1).min(n);
            if lo >= n {
                continue;
            }
            let to = lo + rng.below(n - lo);
            deps[from].push(yaml_edge(&mut rng, &format!("svc-{to}")));
        }
    }
    for p in 0..spec.partners {
        for _ in 0..3 {
            if last_start < n {
                let from = last_start + rng.below(n - last_start);
                deps[from].push(yaml_edge(&mut rng, &format!("partner-{p}")));
            }
        }
    }
    if n > 0 {
        let _ = writeln!(w, "services:");
    }
    for (i, edges) in deps.iter().enumerate() {
        let layer = layer_of(i);
        let tier = if layer == 0 {
            "frontend"
        } else if layer + 1 < layers {
            "midend"
        } else {
            "backend"
        };
        let _ = writeln!(w, "  svc-{i}:");
        let _ = writeln!(w, "    line: line-{}", line_of(i));
        let _ = writeln!(w, "    tier: {tier}");
        let _ = writeln!(w, "    instances: {}", 2 + rng.below(40));
        let _ = writeln!(
            w,
            "    capacity_per_instance: {}",
            rng.range(100.0, 2000.0).round()
        );
        let _ = writeln!(w, "    latency_ms: {}", rng.range(2.0, 80.0).round());
        let _ = writeln!(w, "    timeout_ms: 1000");
        if i < lines {
            // The services the emergency plans below scale say where they
            // run (no L015).
            let _ = writeln!(w, "    kubernetes: {{namespace: line-{}}}", line_of(i));
        }
        if !edges.is_empty() {
            let _ = writeln!(w, "    dependencies:");
            for e in edges {
                let _ = writeln!(w, "      - {e}");
            }
        }
    }

    if spec.partners > 0 {
        let _ = writeln!(w, "partners:");
    }
    for p in 0..spec.partners {
        let quota = if p % 2 == 0 {
            format!(", quota_qps: {}", rng.range(1e5, 1e7).round())
        } else {
            String::new()
        };
        let _ = writeln!(
            w,
            "  partner-{p}: {{sla: {{p99_ms: 800, error_rate: 0.01}}, fallback: \"queue and retry\"{quota}, shadow_safe: true, contacts: [person-2]}}"
        );
    }

    let _ = writeln!(
        w,
        "capacity: {{headroom: 0.3, warn_level: 0.7, critical_level: 0.9}}"
    );
    let _ = writeln!(w, "links: {{max_retry_amplification: 3}}");
    if entries > 0 {
        let _ = writeln!(w, "monitoring:");
        let _ = writeln!(w, "  prometheus: {{url: \"http://127.0.0.1:9090\"}}");
        let _ = writeln!(w, "  alerts:");
        for e in 0..entries {
            let _ = writeln!(
                w,
                "    entry-{e}-water: {{target: entry-{e}, metric: water_level, above: 0.8, for: 1m, severity: page}}"
            );
        }
    }
    let _ = writeln!(w, "freeze:");
    let _ = writeln!(w, "  windows:");
    let _ = writeln!(
        w,
        "    event: {{start: \"2026-09-28T00:00\", end: \"2026-10-02T00:00\", kinds: [release, config, ops], services: [\"*\"], reason: \"generated event freeze\"}}"
    );
    let _ = writeln!(w, "  approvers: [person-0, person-1]");
    let _ = writeln!(w, "oncall:");
    let _ = writeln!(w, "  rota:");
    let _ = writeln!(
        w,
        "    - {{start: \"2026-09-25T00:00\", end: \"2026-10-09T00:00\", primary: person-2, secondary: person-3}}"
    );
    let _ = writeln!(w, "  channels:");
    let _ = writeln!(
        w,
        "    war-room: {{kind: lark, group: \"War Room\", webhook: \"https://open.feishu.cn/open-apis/bot/v2/hook/00000000\"}}"
    );
    if n > 0 {
        let _ = writeln!(w, "emergency_plans:");
        for l in 0..lines.min(n) {
            let _ = writeln!(w, "  scale-out-{l}:");
            let _ = writeln!(w, "    name: \"Scale out line {l}\"");
            let _ = writeln!(w, "    phase: pre");
            let _ = writeln!(w, "    line: line-{l}");
            let _ = writeln!(w, "    trigger: manual");
            let _ = writeln!(w, "    actions:");
            let _ = writeln!(
                w,
                "      - {{kind: scale, service: svc-{l}, instances: 50}}"
            );
            let _ = writeln!(
                w,
                "      - {{kind: notify, channel: war-room, message: \"line {l} scaled out\"}}"
            );
            let _ = writeln!(w, "    impact: \"none for users\"");
            let _ = writeln!(w, "    owner: person-{}", 4 + l);
            let _ = writeln!(w, "    expected_minutes: 20");
            let _ = writeln!(w, "    drills:");
            let _ = writeln!(
                w,
                "      - {{at: \"2026-09-15T15:00\", minutes: 18, passed: true}}"
            );
        }
    }
    if journeys > 0 {
        let _ = writeln!(w, "rehearsals:");
        let _ = writeln!(w, "  mix:");
        let mix: Vec<String> = (0..journeys.min(4))
            .map(|j| format!("journey-{j}: 0.25"))
            .collect();
        let _ = writeln!(w, "    mix: {{{}}}", mix.join(", "));
        let _ = writeln!(w, "    rate: \"1.2x\"");
        let _ = writeln!(w, "    duration: 10m");
        let _ = writeln!(
            w,
            "    guards: {{error_rate: 0.01, p99_ms: 1500, window: 10s}}"
        );
    }
    out
}

/// A random dependency edge to `to` in flow style: 3 in 4 strong, 1 in 5
/// with two calls, weak edges with a fallback.
fn yaml_edge(rng: &mut Lcg, to: &str) -> String {
    let strong = rng.below(4) != 0;
    let calls = if rng.below(5) == 0 { ", calls: 2" } else { "" };
    if strong {
        format!("{{to: {to}, strength: strong{calls}, timeout_ms: 200}}")
    } else {
        format!("{{to: {to}, strength: weak{calls}, timeout_ms: 200, fallback: skip}}")
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
    fn scaled_services_say_where_they_run() {
        let text = yaml(&Spec::sized(3000, 6000));
        let p = crate::parse(&text, "gen.yaml").expect("a valid generated plan");
        assert_eq!(p.emergency_plans.len(), 3);
        let targets = crate::targets::decompose(&p);
        let table = crate::capacity::table(&p, &targets, &Default::default());
        let l015: Vec<_> = crate::links::analyze(&p, &targets, &table)
            .into_iter()
            .filter(|f| f.rule == "L015")
            .collect();
        assert!(l015.is_empty(), "{l015:?}");
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
