//! The capacity water-level table: target vs capacity per entry and service.
//!
//! Formulas: `docs/plan-reference.md#capacity-water-levels`.

use std::collections::HashMap;

use indexmap::IndexMap;
use serde::Serialize;

use crate::graph::Graph;
use crate::model::{CapacityPolicy, Plan, Service, Strength};
use crate::targets::{Targets, service_order};

/// Capacities measured by a rehearsal; they win over declared ones.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measured {
    /// Measured capacity (knee) of an entry in QPS, by entry id.
    pub entries: IndexMap<String, f64>,
    /// Measured capacity per instance of a service in QPS, by service id.
    pub services_per_instance: IndexMap<String, f64>,
    /// Where the measurements come from (run id or file), for display.
    pub source: Option<String>,
}

/// Water-level status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Below `warn_level`.
    Ok,
    /// From `warn_level` up to `critical_level`.
    Warn,
    /// Above `critical_level`.
    Critical,
    /// Capacity unknown.
    Unknown,
}

/// Where a capacity figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CapacitySource {
    /// `instances × capacity_per_instance` from the plan.
    Declared,
    /// From rehearsal results.
    Measured,
    /// Not known.
    Unknown,
}

/// One row of the table (entry, service or partner).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Entry, service or partner id.
    pub id: String,
    /// Target QPS.
    pub target_qps: f64,
    /// Capacity QPS (for entries: the bottleneck's effective capacity).
    pub capacity_qps: Option<f64>,
    /// Where the capacity comes from.
    pub capacity_source: CapacitySource,
    /// `target / capacity`.
    pub water_level: Option<f64>,
    /// `target × (1 + headroom)`.
    pub required_qps: f64,
    /// `required > capacity`.
    pub needs_scaling: bool,
    /// Instances now (services).
    pub instances: Option<u32>,
    /// `ceil(required / capacity_per_instance)` (services; for entries, of the bottleneck service).
    pub instances_needed: Option<u32>,
    /// `current_qps / capacity`.
    pub current_level: Option<f64>,
    /// Status by water level.
    pub status: Status,
    /// Entries: id of the bottleneck service (or partner); services: none.
    pub bottleneck: Option<String>,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct CapacityTable {
    /// Entries in plan order.
    pub entries: Vec<Row>,
    /// Services in plan order.
    pub services: Vec<Row>,
    /// Partners with a quota or traffic, in plan order.
    pub partners: Vec<Row>,
}

impl CapacityTable {
    /// Row of an entry.
    pub fn entry(&self, id: &str) -> Option<&Row> {
        self.entries.iter().find(|r| r.id == id)
    }
    /// Row of a service.
    pub fn service(&self, id: &str) -> Option<&Row> {
        self.services.iter().find(|r| r.id == id)
    }
}

/// Status of a water level under the plan's thresholds: `ok` below
/// `warn_level`, `warn` from `warn_level` up to and including
/// `critical_level`, `critical` above; `unknown` without a level.
pub fn status_of(level: Option<f64>, policy: &CapacityPolicy) -> Status {
    match level {
        Some(l) if l.is_nan() => Status::Unknown,
        Some(l) if l < policy.warn_level => Status::Ok,
        Some(l) if l <= policy.critical_level => Status::Warn,
        Some(_) => Status::Critical,
        None => Status::Unknown,
    }
}

/// `ceil(required / per_instance)`, saturating; `None` without a positive
/// per-instance capacity.
fn instances_for(required: f64, per_instance: Option<f64>) -> Option<u32> {
    match per_instance {
        // `as` saturates (and maps NaN to 0): never panics.
        Some(c) if c > 0.0 => Some((required / c).ceil() as u32),
        _ => None,
    }
}

/// `numerator / capacity`, when the capacity is known and positive.
fn level(numerator: f64, capacity: Option<f64>) -> Option<f64> {
    match capacity {
        Some(c) if c > 0.0 => Some(numerator / c),
        // Zero capacity: any traffic is infinitely over, none is fine.
        Some(_) if numerator > 0.0 => Some(f64::INFINITY),
        Some(_) => Some(0.0),
        None => None,
    }
}

/// A service's capacity as the table sees it.
#[derive(Debug, Clone, Copy)]
struct ServiceCapacity {
    per_instance: Option<f64>,
    capacity: Option<f64>,
    source: CapacitySource,
}

fn service_capacity(id: &str, service: &Service, measured: &Measured) -> ServiceCapacity {
    let (per_instance, source) = match measured.services_per_instance.get(id) {
        Some(&m) => (Some(m), CapacitySource::Measured),
        None => (service.capacity_per_instance, CapacitySource::Declared),
    };
    match (service.instances, per_instance) {
        (Some(n), Some(c)) => ServiceCapacity {
            per_instance,
            capacity: Some(f64::from(n) * c),
            source,
        },
        _ => ServiceCapacity {
            per_instance,
            capacity: None,
            source: CapacitySource::Unknown,
        },
    }
}

/// A bound on the QPS an entry can sustain, set by one service or partner.
#[derive(Debug, Clone, Copy)]
enum Limiter {
    /// Service index.
    Service(usize),
    /// Partner index.
    Partner(usize),
}

/// The tightest bound reachable over strong edges from one service.
#[derive(Debug, Clone, Copy)]
struct Bound {
    /// Entry QPS the limiter sustains: `capacity / multiplier`.
    qps: f64,
    /// Requests reaching the limiter per request to the entry.
    multiplier: f64,
    limiter: Limiter,
}

/// Callee of a strong edge, by index.
#[derive(Debug, Clone, Copy)]
enum Callee {
    /// Service index.
    Service(usize),
    /// Partner index.
    Partner(usize),
}

/// Finds, for a start service, every service and partner reachable over
/// strong edges with its per-request call multiplier (the sum over strong
/// paths of the product of `calls`), and the smallest `capacity / multiplier`.
///
/// Strong edges are resolved to indices once; scratch arrays are reused
/// between starts and only touched entries are reset, so each start costs
/// O(reachable edges + k log k) for k reachable services.
struct BoundFinder<'a> {
    caps: &'a [ServiceCapacity],
    /// Quota of each partner.
    quotas: Vec<Option<f64>>,
    /// Strong edges of each service: callee and calls.
    strong: Vec<Vec<(Callee, f64)>>,
    /// Position of each service in the caller-first order.
    position: Vec<usize>,
    /// Scratch: multiplier per service (0 when untouched).
    mult: Vec<f64>,
    /// Scratch: whether a service was reached.
    reached: Vec<bool>,
    /// Scratch: multiplier per partner.
    partner_mult: Vec<f64>,
    /// Scratch: whether a partner was reached.
    partner_reached: Vec<bool>,
}

impl<'a> BoundFinder<'a> {
    fn new(plan: &Plan, graph: &Graph<'_>, caps: &'a [ServiceCapacity]) -> Self {
        let n = graph.ids.len();
        let mut position = vec![0; n];
        for (pos, v) in service_order(graph).into_iter().enumerate() {
            position[v] = pos;
        }
        let strong = plan
            .services
            .values()
            .map(|s| {
                s.dependencies
                    .iter()
                    .filter(|e| e.strength == Strength::Strong)
                    .filter_map(|e| {
                        let callee = match graph.index.get(e.to.as_str()) {
                            Some(&to) => Callee::Service(to),
                            None => Callee::Partner(plan.partners.get_index_of(e.to.as_str())?),
                        };
                        Some((callee, e.calls))
                    })
                    .collect()
            })
            .collect();
        let partners = plan.partners.len();
        BoundFinder {
            caps,
            quotas: plan.partners.values().map(|p| p.quota_qps).collect(),
            strong,
            position,
            mult: vec![0.0; n],
            reached: vec![false; n],
            partner_mult: vec![0.0; partners],
            partner_reached: vec![false; partners],
        }
    }

    fn bound(&mut self, start: usize) -> Option<Bound> {
        // Services and partners reachable over strong edges.
        let mut touched = vec![start];
        let mut partners = Vec::new();
        self.reached[start] = true;
        let mut head = 0;
        while head < touched.len() {
            let v = touched[head];
            head += 1;
            for &(callee, _) in &self.strong[v] {
                match callee {
                    Callee::Service(to) if !self.reached[to] => {
                        self.reached[to] = true;
                        touched.push(to);
                    }
                    Callee::Partner(p) if !self.partner_reached[p] => {
                        self.partner_reached[p] = true;
                        partners.push(p);
                    }
                    _ => {}
                }
            }
        }
        // Multipliers in caller-first order.
        touched.sort_unstable_by_key(|&v| self.position[v]);
        self.mult[start] = 1.0;
        let mut best: Option<Bound> = None;
        for &v in &touched {
            let m = self.mult[v];
            if let Some(cap) = self.caps.get(v).and_then(|c| c.capacity) {
                consider(&mut best, cap, m, Limiter::Service(v));
            }
            for &(callee, calls) in &self.strong[v] {
                match callee {
                    // Self-loops and back edges of a cycle are ignored.
                    Callee::Service(to) if self.position[to] > self.position[v] => {
                        self.mult[to] += m * calls;
                    }
                    Callee::Service(_) => {}
                    Callee::Partner(p) => self.partner_mult[p] += m * calls,
                }
            }
        }
        partners.sort_unstable();
        for &p in &partners {
            if let Some(quota) = self.quotas[p] {
                consider(&mut best, quota, self.partner_mult[p], Limiter::Partner(p));
            }
            self.partner_mult[p] = 0.0;
            self.partner_reached[p] = false;
        }
        for &v in &touched {
            self.mult[v] = 0.0;
            self.reached[v] = false;
        }
        best
    }
}

/// Keep the smaller of `best` and `capacity / multiplier` (first wins ties;
/// a zero multiplier sets no bound).
fn consider(best: &mut Option<Bound>, capacity: f64, multiplier: f64, limiter: Limiter) {
    if multiplier.is_nan() || multiplier <= 0.0 {
        return;
    }
    let qps = capacity / multiplier;
    if best.is_none_or(|b| qps < b.qps) {
        *best = Some(Bound {
            qps,
            multiplier,
            limiter,
        });
    }
}

/// Build the water-level table.
///
/// Services: `capacity = instances × capacity_per_instance` (a measured
/// per-instance capacity wins), `water_level = target / capacity`,
/// `required = target × (1 + headroom)`, `instances_needed =
/// ceil(required / capacity_per_instance)`, current level from the
/// `current_qps` of the service's entries. Entries: the capacity is the
/// smallest `capacity(x) / multiplier(x)` over the entry's service and every
/// service or quota-bearing partner `x` reachable over strong edges, where
/// `multiplier(x)` sums the products of `calls` over the strong paths to `x`;
/// that `x` is the `bottleneck`, and `instances`/`instances_needed` are the
/// bottleneck service's (for the entry's required QPS × multiplier). A
/// measured entry knee overrides the capacity. Partners with a quota or
/// traffic get rows with `capacity = quota_qps`.
pub fn table(plan: &Plan, targets: &Targets, measured: &Measured) -> CapacityTable {
    let policy = &plan.capacity;
    let graph = Graph::new(&plan.services);
    let entry_targets: HashMap<&str, f64> = targets
        .entries
        .iter()
        .map(|e| (e.id.as_str(), e.target_qps))
        .collect();
    let service_targets: HashMap<&str, f64> = targets
        .services
        .iter()
        .map(|s| (s.id.as_str(), s.target_qps))
        .collect();
    let partner_targets: HashMap<&str, f64> = targets
        .partners
        .iter()
        .map(|p| (p.id.as_str(), p.target_qps))
        .collect();

    let caps: Vec<ServiceCapacity> = plan
        .services
        .iter()
        .map(|(id, s)| service_capacity(id, s, measured))
        .collect();

    // Current QPS per service: the sum of its entries' current_qps.
    let mut current: Vec<Option<f64>> = vec![None; plan.services.len()];
    for entry in plan.entries.values() {
        if let (Some(&s), Some(q)) = (graph.index.get(entry.service.as_str()), entry.current_qps) {
            current[s] = Some(current[s].unwrap_or(0.0) + q);
        }
    }

    let services = plan
        .services
        .iter()
        .enumerate()
        .map(|(v, (id, service))| {
            let target = service_targets.get(id.as_str()).copied().unwrap_or(0.0);
            let cap = caps[v];
            let required = target * (1.0 + policy.headroom);
            let water_level = level(target, cap.capacity);
            Row {
                id: id.clone(),
                target_qps: target,
                capacity_qps: cap.capacity,
                capacity_source: cap.source,
                water_level,
                required_qps: required,
                needs_scaling: cap.capacity.is_some_and(|c| required > c),
                instances: service.instances,
                instances_needed: instances_for(required, cap.per_instance),
                current_level: current[v].and_then(|q| level(q, cap.capacity)),
                status: status_of(water_level, policy),
                bottleneck: None,
            }
        })
        .collect();

    let mut finder = BoundFinder::new(plan, &graph, &caps);
    let mut memo: HashMap<usize, Option<Bound>> = HashMap::new();
    let entries = plan
        .entries
        .iter()
        .map(|(id, entry)| {
            let target = entry_targets.get(id.as_str()).copied().unwrap_or(0.0);
            let required = target * (1.0 + policy.headroom);
            let bound = graph
                .index
                .get(entry.service.as_str())
                .and_then(|&s| *memo.entry(s).or_insert_with(|| finder.bound(s)));
            let (mut capacity, mut source) = match bound {
                Some(b) => (
                    Some(b.qps),
                    match b.limiter {
                        Limiter::Service(v) => caps[v].source,
                        Limiter::Partner(_) => CapacitySource::Declared,
                    },
                ),
                None => (None, CapacitySource::Unknown),
            };
            if let Some(&knee) = measured.entries.get(id.as_str()) {
                capacity = Some(knee);
                source = CapacitySource::Measured;
            }
            let (bottleneck, instances, instances_needed) = match bound {
                Some(Bound {
                    multiplier,
                    limiter: Limiter::Service(v),
                    ..
                }) => (
                    Some(graph.ids[v].to_string()),
                    plan.services.get_index(v).and_then(|(_, s)| s.instances),
                    instances_for(required * multiplier, caps[v].per_instance),
                ),
                Some(Bound {
                    limiter: Limiter::Partner(p),
                    ..
                }) => (
                    plan.partners.get_index(p).map(|(pid, _)| pid.clone()),
                    None,
                    None,
                ),
                None => (None, None, None),
            };
            let water_level = level(target, capacity);
            Row {
                id: id.clone(),
                target_qps: target,
                capacity_qps: capacity,
                capacity_source: source,
                water_level,
                required_qps: required,
                needs_scaling: capacity.is_some_and(|c| required > c),
                instances,
                instances_needed,
                current_level: entry.current_qps.and_then(|q| level(q, capacity)),
                status: status_of(water_level, policy),
                bottleneck,
            }
        })
        .collect();

    let partners = plan
        .partners
        .iter()
        .filter_map(|(id, partner)| {
            let target = partner_targets.get(id.as_str()).copied().unwrap_or(0.0);
            if partner.quota_qps.is_none() && target <= 0.0 {
                return None;
            }
            let capacity = partner.quota_qps;
            let required = target * (1.0 + policy.headroom);
            let water_level = level(target, capacity);
            Some(Row {
                id: id.clone(),
                target_qps: target,
                capacity_qps: capacity,
                capacity_source: if capacity.is_some() {
                    CapacitySource::Declared
                } else {
                    CapacitySource::Unknown
                },
                water_level,
                required_qps: required,
                needs_scaling: capacity.is_some_and(|c| required > c),
                instances: None,
                instances_needed: None,
                current_level: None,
                status: status_of(water_level, policy),
                bottleneck: None,
            })
        })
        .collect();

    CapacityTable {
        entries,
        services,
        partners,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Strength::{Strong, Weak};
    use crate::targets::decompose;
    use crate::targets::tests::{close, dep, entry, service, sketch};

    macro_rules! assert_close {
        ($a:expr, $b:expr) => {{
            let (a, b): (f64, f64) = ($a, $b);
            assert!(close(a, b), "{} = {a}, expected {b}", stringify!($a));
        }};
    }

    fn sketch_table(measured: &Measured) -> CapacityTable {
        let plan = sketch();
        table(&plan, &decompose(&plan), measured)
    }

    const GATEWAY: f64 = 20000.0 / 81.0 + 4000.0 / 27.0; // 395.06
    const ORDER_API: f64 = 400.0 / 3.0 + 380.0; // 513.33
    const USER: f64 = GATEWAY * 2.0 + ORDER_API; // 1303.46

    #[test]
    fn service_rows() {
        let t = sketch_table(&Measured::default());
        let ids: Vec<&str> = t.services.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            ["db", "user-svc", "order-api", "gateway", "coupon-svc"]
        );

        // gateway: 4 × 200 = 800; 395.06 / 800 = 0.49; current 150 / 800
        let gw = t.service("gateway").expect("gateway");
        assert_eq!(gw.capacity_qps, Some(800.0));
        assert_eq!(gw.capacity_source, CapacitySource::Declared);
        assert_close!(gw.water_level.expect("level"), GATEWAY / 800.0);
        assert_close!(gw.current_level.expect("current"), 0.1875);
        assert_eq!(gw.status, Status::Ok);
        assert!(!gw.needs_scaling);
        // ceil(395.06 × 1.3 / 200) = ceil(2.57) = 3
        assert_eq!(gw.instances_needed, Some(3));
        assert_eq!(gw.instances, Some(4));

        // user-svc: 1303.46 / 1500 = 0.87 → warn; required 1694.49 > 1500
        let us = t.service("user-svc").expect("user-svc");
        assert_close!(us.water_level.expect("level"), USER / 1500.0);
        assert_close!(us.required_qps, USER * 1.3);
        assert_eq!(us.status, Status::Warn);
        assert!(us.needs_scaling);
        assert_eq!(us.instances_needed, Some(12));
        assert_eq!(us.current_level, None);

        // db: 3910.37 / 4000 = 0.98 → critical; ceil(5083.48 / 1000) = 6
        let db = t.service("db").expect("db");
        assert_close!(db.water_level.expect("level"), USER * 3.0 / 4000.0);
        assert_eq!(db.status, Status::Critical);
        assert_eq!(db.instances_needed, Some(6));

        // order-api: current 80 / 5000
        let oa = t.service("order-api").expect("order-api");
        assert_close!(oa.current_level.expect("current"), 0.016);
        assert_eq!(oa.bottleneck, None);

        let coupon = t.service("coupon-svc").expect("coupon");
        assert_eq!(coupon.capacity_qps, None);
        assert_eq!(coupon.capacity_source, CapacitySource::Unknown);
        assert_eq!(coupon.status, Status::Unknown);
        assert_eq!(coupon.water_level, None);
        assert!(!coupon.needs_scaling);
        assert_eq!(coupon.instances_needed, None);
    }

    #[test]
    fn entry_bottlenecks_follow_strong_edges() {
        let t = sketch_table(&Measured::default());
        // home on gateway: gateway 800/1, user-svc 1500/2 = 750, db 4000/6 = 666.67
        let home = t.entry("home").expect("home");
        assert_eq!(home.bottleneck.as_deref(), Some("db"));
        assert_close!(home.capacity_qps.expect("cap"), 4000.0 / 6.0);
        assert_close!(
            home.water_level.expect("level"),
            (20000.0 / 81.0) / (4000.0 / 6.0)
        );
        assert_close!(home.current_level.expect("current"), 100.0 / (4000.0 / 6.0));
        assert_eq!(home.status, Status::Ok);
        assert_eq!(home.instances, Some(4));
        // db must carry 246.91 × 1.3 × 6 = 1925.9 → 2 instances
        assert_eq!(home.instances_needed, Some(2));
        // create-order on order-api: 5000, user-svc 1500, db 1333.33,
        // pay-gateway quota 600 (coupon-svc is weak and ignored)
        let co = t.entry("create-order").expect("create-order");
        assert_eq!(co.bottleneck.as_deref(), Some("pay-gateway"));
        assert_close!(co.capacity_qps.expect("cap"), 600.0);
        assert_eq!(co.capacity_source, CapacitySource::Declared);
        assert_eq!(co.instances_needed, None);
        let pay = t.entry("pay").expect("pay");
        assert_eq!(pay.current_level, None);
        assert_close!(pay.water_level.expect("level"), 380.0 / 600.0);
    }

    #[test]
    fn measured_capacity_wins() {
        let mut measured = Measured::default();
        measured
            .services_per_instance
            .insert("db".to_string(), 2000.0);
        measured.entries.insert("create-order".to_string(), 450.0);
        let t = sketch_table(&measured);
        let db = t.service("db").expect("db");
        assert_eq!(db.capacity_qps, Some(8000.0));
        assert_eq!(db.capacity_source, CapacitySource::Measured);
        // ceil(5083.48 / 2000) = 3
        assert_eq!(db.instances_needed, Some(3));
        // home: db now 8000/6 = 1333; user-svc 750 is the bottleneck
        let home = t.entry("home").expect("home");
        assert_eq!(home.bottleneck.as_deref(), Some("user-svc"));
        assert_close!(home.capacity_qps.expect("cap"), 750.0);
        assert_eq!(home.capacity_source, CapacitySource::Declared);
        // user-svc must carry 246.91 × 1.3 × 2 = 641.98 → 5 instances of 150
        assert_eq!(home.instances_needed, Some(5));
        let co = t.entry("create-order").expect("create-order");
        assert_eq!(co.capacity_qps, Some(450.0));
        assert_eq!(co.capacity_source, CapacitySource::Measured);
        assert_close!(co.water_level.expect("level"), (400.0 / 3.0) / 450.0);
    }

    #[test]
    fn partner_rows() {
        let t = sketch_table(&Measured::default());
        // sms has neither quota nor traffic
        let ids: Vec<&str> = t.partners.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["pay-gateway"]);
        let pg = &t.partners[0];
        assert_eq!(pg.capacity_qps, Some(600.0));
        assert_close!(pg.water_level.expect("level"), ORDER_API / 600.0);
        assert_eq!(pg.status, Status::Warn);
        assert!(pg.needs_scaling);
    }

    #[test]
    fn multipliers_sum_over_paths() {
        // a → b ×2, a → c ×1, b → d ×1, c → d ×3: d sees 2 + 3 = 5 calls per request.
        let mut plan = Plan::default();
        plan.services.insert(
            "a".to_string(),
            service(
                Some(1),
                Some(10_000.0),
                vec![
                    dep("b", Strong, 2.0),
                    dep("c", Strong, 1.0),
                    dep("w", Weak, 100.0),
                ],
            ),
        );
        plan.services.insert(
            "b".to_string(),
            service(Some(1), Some(10_000.0), vec![dep("d", Strong, 1.0)]),
        );
        plan.services.insert(
            "c".to_string(),
            service(Some(1), Some(10_000.0), vec![dep("d", Strong, 3.0)]),
        );
        plan.services
            .insert("d".to_string(), service(Some(2), Some(500.0), vec![]));
        plan.services
            .insert("w".to_string(), service(Some(1), Some(1.0), vec![]));
        plan.entries.insert("e".to_string(), entry("a", 1.0, None));
        let targets = Targets {
            entries: vec![crate::targets::EntryTarget {
                id: "e".to_string(),
                service: "a".to_string(),
                target_qps: 100.0,
            }],
            ..Targets::default()
        };
        let t = table(&plan, &targets, &Measured::default());
        let e = t.entry("e").expect("e");
        assert_eq!(e.bottleneck.as_deref(), Some("d"));
        assert_close!(e.capacity_qps.expect("cap"), 200.0);
        assert_close!(e.water_level.expect("level"), 0.5);
        // d carries 100 × 1.3 × 5 = 650 → 2 instances of 500
        assert_eq!(e.instances_needed, Some(2));
        assert_eq!(e.status, Status::Ok);
    }

    #[test]
    fn status_thresholds() {
        let p = CapacityPolicy::default();
        assert_eq!(status_of(Some(0.0), &p), Status::Ok);
        assert_eq!(status_of(Some(0.69), &p), Status::Ok);
        assert_eq!(status_of(Some(0.7), &p), Status::Warn);
        assert_eq!(status_of(Some(0.9), &p), Status::Warn);
        assert_eq!(status_of(Some(0.9001), &p), Status::Critical);
        assert_eq!(status_of(Some(f64::INFINITY), &p), Status::Critical);
        assert_eq!(status_of(Some(f64::NAN), &p), Status::Unknown);
        assert_eq!(status_of(None, &p), Status::Unknown);
    }

    #[test]
    fn zero_capacity_and_cycles_do_not_panic() {
        let mut plan = sketch();
        if let Some(db) = plan.services.get_mut("db") {
            db.instances = Some(0);
        }
        let t = table(&plan, &decompose(&plan), &Measured::default());
        let db = t.service("db").expect("db");
        assert_eq!(db.capacity_qps, Some(0.0));
        assert_eq!(db.status, Status::Critical);
        assert!(db.needs_scaling);
        let home = t.entry("home").expect("home");
        assert_eq!(home.bottleneck.as_deref(), Some("db"));
        assert_eq!(home.capacity_qps, Some(0.0));
        assert_eq!(home.status, Status::Critical);

        // A cycle (rejected by validation) still gives a full table.
        if let Some(db) = plan.services.get_mut("db") {
            db.dependencies.push(dep("user-svc", Strong, 1.0));
        }
        let t = table(&plan, &decompose(&plan), &Measured::default());
        assert_eq!(t.services.len(), 5);
        assert_eq!(t.entries.len(), 4);
        let empty = table(&Plan::default(), &Targets::default(), &Measured::default());
        assert_eq!(empty, CapacityTable::default());
    }
}
