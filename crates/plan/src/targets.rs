//! Target decomposition: business goals → QPS per journey step, entry and service.
//!
//! Formulas: `docs/plan-reference.md#target-decomposition`.

use serde::Serialize;

use crate::graph::Graph;
use crate::model::{GoalSource, Journey, Plan};

/// All targets of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoalTarget {
    /// Goal id.
    pub id: String,
    /// `total(g)`.
    pub total: f64,
    /// Peak-hour share used.
    pub peak_hour_share: f64,
    /// Peak factor used.
    pub peak_factor: f64,
    /// `rate(g)` in units per second.
    pub rate: f64,
}

/// A journey's step rates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JourneyTarget {
    /// Journey id.
    pub id: String,
    /// Goal id.
    pub goal: String,
    /// Step rates in order.
    pub steps: Vec<StepTarget>,
    /// `r[first] × session_seconds`, when `session_seconds` is given.
    pub online_users: Option<f64>,
}

/// One step's rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepTarget {
    /// Entry id.
    pub entry: String,
    /// `r[i]`: users per second reaching the step.
    pub rate: f64,
    /// Requests per visit.
    pub calls: f64,
    /// `r[i] × calls[i]`: requests per second to the entry from this step.
    pub qps: f64,
}

/// An entry's target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntryTarget {
    /// Entry id.
    pub id: String,
    /// Service id.
    pub service: String,
    /// `burst × Σ r[i] × calls[i]`.
    pub target_qps: f64,
}

/// A service's target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceTarget {
    /// Service id.
    pub id: String,
    /// Entries' targets plus callers' targets × calls.
    pub target_qps: f64,
    /// `target × latency_ms / 1000`, when `latency_ms` is given.
    pub in_flight: Option<f64>,
}

/// A partner's target (what our services send it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartnerTarget {
    /// Partner id.
    pub id: String,
    /// Σ callers' targets × calls.
    pub target_qps: f64,
}

impl Targets {
    /// Target of an entry by id.
    pub fn entry(&self, id: &str) -> Option<f64> {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .map(|e| e.target_qps)
    }
    /// Target of a service by id.
    pub fn service(&self, id: &str) -> Option<f64> {
        self.services
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.target_qps)
    }
    /// Target of a partner by id.
    pub fn partner(&self, id: &str) -> Option<f64> {
        self.partners
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.target_qps)
    }
}

/// Service indices in an order where every caller comes before its callees.
///
/// Uses [`Graph::topo_order`]; on a dependency cycle (which validation
/// rejects) it falls back to Kahn's algorithm and appends the services left
/// on or behind the cycle in plan order, so analyses still return what they
/// can without looping or panicking.
pub(crate) fn service_order(graph: &Graph<'_>) -> Vec<usize> {
    if let Ok(order) = graph.topo_order() {
        return order;
    }
    let n = graph.ids.len();
    let mut indegree = vec![0usize; n];
    for out in &graph.out {
        for &(to, _) in out {
            indegree[to] += 1;
        }
    }
    let mut order: Vec<usize> = (0..n).filter(|&v| indegree[v] == 0).collect();
    let mut head = 0;
    while head < order.len() {
        let v = order[head];
        head += 1;
        for &(to, _) in &graph.out[v] {
            indegree[to] -= 1;
            if indegree[to] == 0 {
                order.push(to);
            }
        }
    }
    let mut placed = vec![false; n];
    for &v in &order {
        placed[v] = true;
    }
    order.extend((0..n).filter(|&v| !placed[v]));
    order
}

/// Resolve every goal's total (following `from` chains), or `None` when a
/// chain ends in a missing goal or loops.
fn goal_totals(plan: &Plan) -> Vec<Option<f64>> {
    let n = plan.goals.len();
    // 0: not visited, 1: being resolved, 2: done.
    let mut state = vec![0u8; n];
    let mut totals: Vec<Option<f64>> = vec![None; n];
    for start in 0..n {
        if state[start] == 2 {
            continue;
        }
        // Walk the chain down to a resolved goal, a given total or a dead end.
        let mut chain = Vec::new();
        let mut cur = start;
        let mut base: Option<f64> = loop {
            if state[cur] == 2 {
                break totals[cur];
            }
            if state[cur] == 1 {
                break None; // `from` cycle
            }
            state[cur] = 1;
            chain.push(cur);
            match plan.goals.get_index(cur).map(|(_, g)| &g.source) {
                Some(GoalSource::Total(t)) => break Some(*t),
                Some(GoalSource::From { goal, .. }) => match plan.goals.get_index_of(goal.as_str())
                {
                    Some(next) => cur = next,
                    None => break None,
                },
                None => break None,
            }
        };
        // Unwind: the last goal of the chain is the one whose source gave `base`
        // (when it has a total) or whose source resolved to `base`.
        while let Some(g) = chain.pop() {
            let value = match plan.goals.get_index(g).map(|(_, goal)| &goal.source) {
                Some(GoalSource::Total(t)) => Some(*t),
                Some(GoalSource::From { ratio, .. }) => base.map(|b| b * ratio),
                None => None,
            };
            totals[g] = value;
            state[g] = 2;
            base = value;
        }
    }
    totals
}

/// Step rates of one journey given its goal's rate.
fn step_rates(journey: &Journey, goal_rate: f64) -> Vec<f64> {
    let len = journey.steps.len();
    let mut r = vec![0.0; len];
    if len == 0 {
        return r;
    }
    let anchor = if journey.anchor < len {
        journey.anchor
    } else {
        0
    };
    r[anchor] = goal_rate * journey.share;
    for i in anchor + 1..len {
        r[i] = r[i - 1] * journey.steps[i].conversion;
    }
    for i in (0..anchor).rev() {
        let conversion = journey.steps[i + 1].conversion;
        r[i] = if conversion > 0.0 {
            r[i + 1] / conversion
        } else {
            0.0
        };
    }
    r
}

/// Decompose the plan's goals into targets.
///
/// Goals whose total cannot be resolved (a `from` naming a missing goal) and
/// journeys of such goals are left out; steps naming unknown entries still
/// get rates but add to no entry; edges to unknown ids add to nothing. Runs
/// in time linear in the size of the plan.
pub fn decompose(plan: &Plan) -> Targets {
    let traffic = &plan.traffic;

    // Goals.
    let totals = goal_totals(plan);
    let mut goal_rates: Vec<Option<f64>> = vec![None; plan.goals.len()];
    let mut goals = Vec::with_capacity(plan.goals.len());
    for (i, (id, goal)) in plan.goals.iter().enumerate() {
        let Some(total) = totals[i] else { continue };
        let peak_hour_share = goal.peak_hour_share.unwrap_or(traffic.peak_hour_share);
        let peak_factor = goal.peak_factor.unwrap_or(traffic.peak_factor);
        let rate = total * peak_hour_share / 3600.0 * peak_factor;
        goal_rates[i] = Some(rate);
        goals.push(GoalTarget {
            id: id.clone(),
            total,
            peak_hour_share,
            peak_factor,
            rate,
        });
    }

    // Journeys and the entry sums they feed.
    let mut entry_sum = vec![0.0; plan.entries.len()];
    let mut journeys = Vec::with_capacity(traffic.journeys.len());
    for (id, journey) in &traffic.journeys {
        let Some(goal_rate) = plan
            .goals
            .get_index_of(journey.goal.as_str())
            .and_then(|g| goal_rates[g])
        else {
            continue;
        };
        let rates = step_rates(journey, goal_rate);
        let steps: Vec<StepTarget> = journey
            .steps
            .iter()
            .zip(&rates)
            .map(|(step, &rate)| {
                let qps = rate * step.calls;
                if let Some(e) = plan.entries.get_index_of(step.entry.as_str()) {
                    entry_sum[e] += qps;
                }
                StepTarget {
                    entry: step.entry.clone(),
                    rate,
                    calls: step.calls,
                    qps,
                }
            })
            .collect();
        let online_users = match (journey.session_seconds, rates.first()) {
            (Some(session), Some(first)) => Some(first * session),
            _ => None,
        };
        journeys.push(JourneyTarget {
            id: id.clone(),
            goal: journey.goal.clone(),
            steps,
            online_users,
        });
    }

    // Entries, and their targets as the base of their services.
    let graph = Graph::new(&plan.services);
    let mut service_qps = vec![0.0; plan.services.len()];
    let mut entries = Vec::with_capacity(plan.entries.len());
    for ((id, entry), sum) in plan.entries.iter().zip(&entry_sum) {
        let target_qps = entry.burst * sum;
        if let Some(&s) = graph.index.get(entry.service.as_str()) {
            service_qps[s] += target_qps;
        }
        entries.push(EntryTarget {
            id: id.clone(),
            service: entry.service.clone(),
            target_qps,
        });
    }

    // Services, callers before callees; then partners.
    for v in service_order(&graph) {
        let from = service_qps[v];
        for &(to, edge) in &graph.out[v] {
            if let Some((_, service)) = plan.services.get_index(v)
                && let Some(e) = service.dependencies.get(edge)
            {
                service_qps[to] += from * e.calls;
            }
        }
    }
    let mut partner_qps = vec![0.0; plan.partners.len()];
    for (v, service) in plan.services.values().enumerate() {
        for edge in &service.dependencies {
            if graph.index.contains_key(edge.to.as_str()) {
                continue;
            }
            if let Some(p) = plan.partners.get_index_of(edge.to.as_str()) {
                partner_qps[p] += service_qps[v] * edge.calls;
            }
        }
    }

    let services = plan
        .services
        .iter()
        .zip(&service_qps)
        .map(|((id, service), &target_qps)| ServiceTarget {
            id: id.clone(),
            target_qps,
            in_flight: service.latency_ms.map(|ms| target_qps * ms / 1000.0),
        })
        .collect();
    let partners = plan
        .partners
        .keys()
        .zip(&partner_qps)
        .map(|(id, &target_qps)| PartnerTarget {
            id: id.clone(),
            target_qps,
        })
        .collect();

    Targets {
        goals,
        journeys,
        entries,
        services,
        partners,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{Edge, Entry, Goal, Partner, Service, Step, Strength, Traffic};
    use indexmap::IndexMap;

    pub(crate) fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    macro_rules! assert_close {
        ($a:expr, $b:expr) => {{
            let (a, b): (f64, f64) = ($a, $b);
            assert!(close(a, b), "{} = {a}, expected {b}", stringify!($a));
        }};
    }

    pub(crate) fn step(entry: &str, conversion: f64, calls: f64) -> Step {
        Step {
            entry: entry.to_string(),
            conversion,
            calls,
            ..Step::default()
        }
    }

    pub(crate) fn entry(service: &str, burst: f64, current: Option<f64>) -> Entry {
        Entry {
            service: service.to_string(),
            burst,
            current_qps: current,
            ..Entry::default()
        }
    }

    pub(crate) fn dep(to: &str, strength: Strength, calls: f64) -> Edge {
        Edge {
            to: to.to_string(),
            strength,
            calls,
            ..Edge::default()
        }
    }

    pub(crate) fn service(instances: Option<u32>, cpi: Option<f64>, deps: Vec<Edge>) -> Service {
        Service {
            instances,
            capacity_per_instance: cpi,
            dependencies: deps,
            ..Service::default()
        }
    }

    fn map<T>(items: Vec<(&str, T)>) -> IndexMap<String, T> {
        items.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// The DESIGN.md sketch, extended with a few services:
    ///
    /// ```text
    /// entries: home, scan-unlock → gateway; create-order, pay (burst 1.5) → order-api
    /// gateway   → user-svc ×2 (strong)
    /// order-api → user-svc ×1 (strong), coupon-svc (weak), pay-gateway (partner, strong)
    /// user-svc  → db ×3 (strong)
    /// ```
    pub(crate) fn sketch() -> Plan {
        use Strength::{Strong, Weak};
        Plan {
            goals: map(vec![
                (
                    "gmv",
                    Goal {
                        source: GoalSource::Total(50_000_000.0),
                        ..Goal::default()
                    },
                ),
                (
                    "orders",
                    Goal {
                        source: GoalSource::From {
                            goal: "gmv".to_string(),
                            ratio: 0.04,
                        },
                        peak_hour_share: Some(0.15),
                        peak_factor: Some(2.0),
                        ..Goal::default()
                    },
                ),
                (
                    "dau",
                    Goal {
                        source: GoalSource::Total(8_000_000.0),
                        ..Goal::default()
                    },
                ),
            ]),
            traffic: Traffic {
                peak_hour_share: 0.12,
                peak_factor: 3.0,
                journeys: map(vec![(
                    "ride",
                    Journey {
                        goal: "orders".to_string(),
                        share: 0.8,
                        anchor: 2,
                        session_seconds: Some(240.0),
                        steps: vec![
                            step("home", 1.0, 1.0),
                            step("scan-unlock", 0.6, 1.0),
                            step("create-order", 0.9, 1.0),
                            step("pay", 0.95, 2.0),
                        ],
                        ..Journey::default()
                    },
                )]),
                ..Traffic::default()
            },
            entries: map(vec![
                ("home", entry("gateway", 1.0, Some(100.0))),
                ("scan-unlock", entry("gateway", 1.0, Some(50.0))),
                ("create-order", entry("order-api", 1.0, Some(80.0))),
                ("pay", entry("order-api", 1.5, None)),
            ]),
            // Plan order differs from call order on purpose.
            services: map(vec![
                ("db", service(Some(4), Some(1000.0), vec![])),
                (
                    "user-svc",
                    service(Some(10), Some(150.0), vec![dep("db", Strong, 3.0)]),
                ),
                (
                    "order-api",
                    Service {
                        latency_ms: Some(40.0),
                        ..service(
                            Some(20),
                            Some(250.0),
                            vec![
                                dep("user-svc", Strong, 1.0),
                                dep("coupon-svc", Weak, 1.0),
                                dep("pay-gateway", Strong, 1.0),
                            ],
                        )
                    },
                ),
                (
                    "gateway",
                    service(Some(4), Some(200.0), vec![dep("user-svc", Strong, 2.0)]),
                ),
                ("coupon-svc", service(None, None, vec![])),
            ]),
            partners: map(vec![
                (
                    "pay-gateway",
                    Partner {
                        quota_qps: Some(600.0),
                        ..Partner::default()
                    },
                ),
                ("sms", Partner::default()),
            ]),
            ..Plan::default()
        }
    }

    #[test]
    fn goals_resolve_from_chains() {
        let t = decompose(&sketch());
        let ids: Vec<&str> = t.goals.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["gmv", "orders", "dau"]);
        let orders = &t.goals[1];
        assert_close!(orders.total, 2_000_000.0);
        assert_close!(orders.peak_hour_share, 0.15);
        assert_close!(orders.peak_factor, 2.0);
        // 2,000,000 × 0.15 / 3600 × 2 = 166.67/s
        assert_close!(orders.rate, 500.0 / 3.0);
        // Traffic defaults: 8,000,000 × 0.12 / 3600 × 3 = 800/s
        assert_close!(t.goals[2].rate, 800.0);
        assert_close!(t.goals[0].rate, 50_000_000.0 * 0.12 / 3600.0 * 3.0);
    }

    #[test]
    fn journey_steps_around_the_anchor() {
        let t = decompose(&sketch());
        let ride = &t.journeys[0];
        assert_eq!(ride.goal, "orders");
        let rates: Vec<f64> = ride.steps.iter().map(|s| s.rate).collect();
        // r[2] = 166.67 × 0.8; after: × 0.95; before: ÷ 0.9, ÷ 0.6
        assert_close!(rates[2], 400.0 / 3.0);
        assert_close!(rates[3], 380.0 / 3.0);
        assert_close!(rates[1], 4000.0 / 27.0);
        assert_close!(rates[0], 20000.0 / 81.0);
        assert_close!(ride.steps[3].qps, 760.0 / 3.0);
        // Little's law: 246.91 × 240 s
        assert_close!(
            ride.online_users.expect("session given"),
            4_800_000.0 / 81.0
        );
    }

    #[test]
    fn entries_services_and_partners() {
        let t = decompose(&sketch());
        let entries: Vec<&str> = t.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(entries, ["home", "scan-unlock", "create-order", "pay"]);
        assert_close!(t.entry("home").expect("home"), 20000.0 / 81.0);
        assert_close!(t.entry("create-order").expect("co"), 400.0 / 3.0);
        // burst 1.5 × 126.67 × 2 calls
        assert_close!(t.entry("pay").expect("pay"), 380.0);

        let services: Vec<&str> = t.services.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            services,
            ["db", "user-svc", "order-api", "gateway", "coupon-svc"]
        );
        let gateway = 20000.0 / 81.0 + 4000.0 / 27.0; // 395.06
        let order_api = 400.0 / 3.0 + 380.0; // 513.33
        let user = gateway * 2.0 + order_api; // 1303.46
        assert_close!(t.service("gateway").expect("gw"), gateway);
        assert_close!(t.service("order-api").expect("oa"), order_api);
        assert_close!(t.service("user-svc").expect("us"), user);
        assert_close!(t.service("db").expect("db"), user * 3.0);
        assert_close!(t.service("coupon-svc").expect("coupon"), order_api);
        assert_close!(t.partner("pay-gateway").expect("pg"), order_api);
        assert_close!(t.partner("sms").expect("sms"), 0.0);
        // In flight: 513.33 × 40 ms
        assert_close!(t.services[2].in_flight.expect("latency"), order_api * 0.04);
        assert_eq!(t.services[0].in_flight, None);
    }

    #[test]
    fn default_anchor_and_defaults() {
        let mut plan = sketch();
        plan.traffic.journeys.insert(
            "browse".to_string(),
            Journey {
                goal: "dau".to_string(),
                share: 0.5,
                anchor: 0,
                steps: vec![step("home", 1.0, 3.0), step("create-order", 0.01, 1.0)],
                ..Journey::default()
            },
        );
        let t = decompose(&plan);
        let browse = &t.journeys[1];
        assert_close!(browse.steps[0].rate, 400.0);
        assert_close!(browse.steps[0].qps, 1200.0);
        assert_close!(browse.steps[1].rate, 4.0);
        assert_eq!(browse.online_users, None);
        assert_close!(t.entry("home").expect("home"), 20000.0 / 81.0 + 1200.0);
        assert_close!(t.entry("create-order").expect("co"), 400.0 / 3.0 + 4.0);
    }

    #[test]
    fn missing_references_are_skipped() {
        let mut plan = sketch();
        plan.goals.insert(
            "ghost".to_string(),
            Goal {
                source: GoalSource::From {
                    goal: "nowhere".to_string(),
                    ratio: 2.0,
                },
                ..Goal::default()
            },
        );
        plan.traffic.journeys.insert(
            "lost".to_string(),
            Journey {
                goal: "ghost".to_string(),
                share: 1.0,
                anchor: 7,
                steps: vec![step("nope", 1.0, 1.0)],
                ..Journey::default()
            },
        );
        plan.traffic.journeys.insert(
            "odd".to_string(),
            Journey {
                goal: "dau".to_string(),
                share: 1.0,
                anchor: 7, // out of range: treated as the first step
                steps: vec![step("nope", 1.0, 1.0), step("home", 0.0, 1.0)],
                ..Journey::default()
            },
        );
        plan.entries
            .insert("orphan".to_string(), entry("no-such-service", 1.0, None));
        let t = decompose(&plan);
        assert!(t.goals.iter().all(|g| g.id != "ghost"));
        assert!(t.journeys.iter().all(|j| j.id != "lost"));
        let odd = t.journeys.iter().find(|j| j.id == "odd").expect("odd");
        assert_close!(odd.steps[0].rate, 800.0);
        assert_close!(odd.steps[1].rate, 0.0);
        assert_close!(t.entry("orphan").expect("orphan"), 0.0);
    }

    #[test]
    fn cycles_do_not_panic() {
        let mut plan = sketch();
        plan.goals.insert(
            "a".to_string(),
            Goal {
                source: GoalSource::From {
                    goal: "b".to_string(),
                    ratio: 1.0,
                },
                ..Goal::default()
            },
        );
        plan.goals.insert(
            "b".to_string(),
            Goal {
                source: GoalSource::From {
                    goal: "a".to_string(),
                    ratio: 1.0,
                },
                ..Goal::default()
            },
        );
        if let Some(db) = plan.services.get_mut("db") {
            db.dependencies.push(dep("user-svc", Strength::Strong, 1.0));
        }
        let t = decompose(&plan);
        assert_eq!(t.goals.len(), 3);
        assert_eq!(t.services.len(), 5);
        // Gateway is upstream of the cycle and still exact.
        assert_close!(
            t.service("gateway").expect("gw"),
            20000.0 / 81.0 + 4000.0 / 27.0
        );
    }

    #[test]
    fn empty_plan() {
        let t = decompose(&Plan::default());
        assert_eq!(t, Targets::default());
    }
}
