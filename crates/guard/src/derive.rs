//! A rule set derived from a guarantee plan (feature `plan`), printed by
//! `seawall plan guard`: the plan already says what each entry can take and
//! how each dependency may fail, so the first rule set need not be written
//! by hand. The derivation is documented in docs/guard-rules.md.

use std::collections::{BTreeMap, HashSet};

use seawall_plan::Plan;
use seawall_plan::capacity::CapacityTable;
use seawall_plan::model::{Edge, Entry};

use crate::GuardError;
use crate::rules::{
    BreakerRule, FallbackResponse, FlowRule, Grade, Resource, Route, RuleSet, Strategy, SwitchRule,
};

/// The default safety factor: an entry without an explicit `rate_limit` is
/// limited to 90 % of its bottleneck capacity, leaving 10 % for measurement
/// error and the traffic admitted while a sliding window turns over.
pub const DEFAULT_SAFETY: f64 = 0.9;

/// Longest a request waits in a derived entry limit's pace queue, in ms.
///
/// Entry limits pace (Sentinel's rate limiter) instead of counting a
/// one-second window: a window that starts empty — the first second of a
/// flash sale — admits its whole quota in a few milliseconds, and the
/// service behind gets a second's work at once. Pacing admits one request
/// every `1 / limit` seconds; a short queue absorbs arrival jitter so the
/// admitted rate still reaches the limit, and everything above is refused
/// at once (`queue_too_long`).
pub const ENTRY_PACE_MS: u64 = 50;

/// Name of the derived catch-all resource: routed by `/*` for any method,
/// so a request no entry's route matches (a path the plan does not name, or
/// an entry's path with another method) still meets a limit instead of
/// passing unlimited.
pub const CATCH_ALL: &str = "unrouted";

/// Open period of a derived breaker whose plan breaker gives none, in seconds.
pub const DEFAULT_OPEN_SECONDS: f64 = 10.0;

/// Where a derived entry limit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// The entry's explicit `rate_limit`.
    RateLimit,
    /// Bottleneck capacity (measured or declared) × safety factor.
    Capacity,
    /// Neither: no flow rule.
    None,
}

/// One entry's derived limit, for display next to the rule set.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EntryLimit {
    /// Entry id (= resource name).
    pub entry: String,
    /// The limit in QPS, if any.
    pub qps: Option<f64>,
    /// Where it comes from.
    pub source: LimitSource,
    /// The capacity it was derived from, if any.
    pub capacity_qps: Option<f64>,
}

/// A derived rule set and how each entry's limit was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    /// The rule set (valid: it passed [`RuleSet::validate`]).
    pub rules: RuleSet,
    /// Per entry, in plan order.
    pub limits: Vec<EntryLimit>,
}

/// Derives a rule set from `plan` and its capacity table (which holds
/// measured capacities when the caller passed rehearsal results).
///
/// - one resource per entry, named by the entry id, routed by its method
///   and path; a QPS flow rule `<entry>.qps` of the explicit `rate_limit`,
///   else ⌊bottleneck capacity × `safety`⌋; the timeout is the serving
///   service's `timeout_ms`;
/// - a catch-all resource [`CATCH_ALL`] (route `/*`, any method) with a
///   pace rule `unrouted.qps` of the largest entry limit (for one service's
///   subset, [`for_service`], the largest of that service's entries), when
///   some entry has a limit and neither the name nor the route is taken;
/// - one resource per dependency edge, named `<caller>-><callee>` (for the
///   caller's outgoing calls; no routes): the edge's `timeout_ms`; one
///   breaker per measure of its `breaker`; a degradation switch (off) when
///   it has a `fallback`; flow rules for its `isolation` quota.
///
/// `safety` must be in (0, 1].
pub fn from_plan(plan: &Plan, table: &CapacityTable, safety: f64) -> Result<Derived, GuardError> {
    if !(safety > 0.0 && safety <= 1.0) {
        return Err(GuardError::Invalid {
            rule: String::new(),
            message: format!("the safety factor must be in (0, 1], not {safety}"),
        });
    }
    let mut resources = Vec::new();
    let mut limits = Vec::new();
    let mut routes_taken = HashSet::new();
    for (id, entry) in &plan.entries {
        let (resource, limit) = entry_resource(plan, table, id, entry, safety, &mut routes_taken);
        resources.push(resource);
        limits.push(limit);
    }
    let largest = limits.iter().filter_map(|l| l.qps).reduce(f64::max);
    if let Some(count) = largest
        && !plan.entries.contains_key(CATCH_ALL)
        && catch_all_route_key().is_some_and(|k| routes_taken.insert(k))
    {
        resources.push(catch_all(count));
    }
    let mut names: HashSet<String> = resources.iter().map(|r| r.name.clone()).collect();
    for (caller, service) in &plan.services {
        for edge in &service.dependencies {
            let name = format!("{caller}->{}", edge.to);
            if !names.insert(name.clone()) {
                continue;
            }
            let partner_shadow_safe = plan.partners.get(&edge.to).map(|p| p.shadow_safe);
            if let Some(r) = edge_resource(name, edge, partner_shadow_safe) {
                resources.push(r);
            }
        }
    }
    let rules = RuleSet {
        version: 1,
        settings: Default::default(),
        upstreams: Default::default(),
        gray: None,
        test_traffic: Default::default(),
        resources,
    };
    rules.validate()?;
    Ok(Derived { rules, limits })
}

fn entry_resource(
    plan: &Plan,
    table: &CapacityTable,
    id: &str,
    entry: &Entry,
    safety: f64,
    routes_taken: &mut HashSet<String>,
) -> (Resource, EntryLimit) {
    let capacity = table.entry(id).and_then(|r| r.capacity_qps);
    let (qps, source) = match (entry.rate_limit, capacity) {
        (Some(l), _) => (Some(l), LimitSource::RateLimit),
        (None, Some(c)) if c.is_finite() => ((c * safety).floor().into(), LimitSource::Capacity),
        _ => (None, LimitSource::None),
    };
    let flow: Vec<FlowRule> = qps
        .map(|count| FlowRule {
            behavior: crate::rules::Behavior::Pace,
            max_queueing_ms: ENTRY_PACE_MS,
            ..FlowRule::qps(&format!("{id}.qps"), count)
        })
        .into_iter()
        .collect();
    let mut routes = Vec::new();
    if let Some(path) = &entry.path {
        let route = Route {
            method: Some(entry.method_or_default().as_str().to_owned()),
            path: path.clone(),
        };
        // A path the guard cannot route, or one another entry already
        // routes, leaves the resource reachable by name only.
        if crate::route::validate_route(&route).is_ok()
            && crate::route::route_key(&route).is_some_and(|k| routes_taken.insert(k))
        {
            routes.push(route);
        }
    }
    let timeout_ms = plan
        .services
        .get(&entry.service)
        .and_then(|s| s.timeout_ms)
        .and_then(millis);
    let resource = Resource {
        name: id.to_owned(),
        routes,
        timeout_ms,
        shadow_safe: None,
        test_qps: None,
        switches: Vec::new(),
        flow,
        hot_params: Vec::new(),
        breakers: Vec::new(),
        faults: Vec::new(),
    };
    let limit = EntryLimit {
        entry: id.to_owned(),
        qps,
        source,
        capacity_qps: capacity,
    };
    (resource, limit)
}

fn catch_all_route() -> Route {
    Route {
        method: None,
        path: "/*".to_owned(),
    }
}

fn catch_all_route_key() -> Option<String> {
    crate::route::route_key(&catch_all_route())
}

/// The catch-all resource with a limit of `count` QPS, paced as entries are.
fn catch_all(count: f64) -> Resource {
    Resource {
        name: CATCH_ALL.to_owned(),
        routes: vec![catch_all_route()],
        timeout_ms: None,
        shadow_safe: None,
        test_qps: None,
        switches: Vec::new(),
        flow: vec![FlowRule {
            behavior: crate::rules::Behavior::Pace,
            max_queueing_ms: ENTRY_PACE_MS,
            ..FlowRule::qps(&format!("{CATCH_ALL}.qps"), count)
        }],
        hot_params: Vec::new(),
        breakers: Vec::new(),
        faults: Vec::new(),
    }
}

/// Whole milliseconds ≥ 1 of a plan duration, if it is usable.
fn millis(ms: f64) -> Option<u64> {
    (ms.is_finite() && ms >= 1.0).then(|| ms.round() as u64)
}

fn edge_resource(name: String, edge: &Edge, partner_shadow_safe: Option<bool>) -> Option<Resource> {
    let mut breakers = Vec::new();
    if let Some(b) = &edge.breaker {
        let open_ms = millis(b.open_seconds.unwrap_or(DEFAULT_OPEN_SECONDS) * 1000.0).unwrap_or(1);
        let min_requests = b
            .min_requests
            .filter(|m| m.is_finite() && *m >= 0.0)
            .map_or(5, |m| m.round() as u64);
        let slow_rt_ms = b
            .slow_ms
            .and_then(millis)
            .or(edge.timeout_ms.and_then(millis))
            .unwrap_or(1000);
        let measures = [
            (Strategy::ErrorRatio, "error-ratio", b.error_ratio),
            (Strategy::ErrorCount, "error-count", b.error_count),
            (Strategy::SlowRatio, "slow-ratio", b.slow_ratio),
        ];
        for (strategy, tag, threshold) in measures {
            let Some(threshold) = threshold.filter(|t| t.is_finite() && *t >= 0.0) else {
                continue;
            };
            let threshold = if strategy == Strategy::ErrorCount {
                threshold
            } else {
                threshold.min(1.0)
            };
            breakers.push(BreakerRule {
                id: format!("{name}.{tag}"),
                strategy,
                threshold,
                slow_rt_ms,
                min_requests,
                stat_window_ms: 1000,
                open_ms,
                dry_run: false,
            });
        }
    }
    let switches: Vec<SwitchRule> = edge
        .fallback
        .as_ref()
        .map(|text| SwitchRule {
            id: format!("{name}.degrade"),
            on: false,
            fallback: FallbackResponse {
                status: 200,
                body: text.clone(),
                headers: BTreeMap::from([(
                    "content-type".to_owned(),
                    "text/plain; charset=utf-8".to_owned(),
                )]),
            },
            dry_run: false,
        })
        .into_iter()
        .collect();
    let mut flow = Vec::new();
    if let Some(iso) = &edge.isolation {
        if let Some(q) = iso.qps.filter(|q| q.is_finite() && *q >= 0.0) {
            flow.push(FlowRule::qps(&format!("{name}.isolation-qps"), q));
        }
        if let Some(c) = iso.concurrency.filter(|c| c.is_finite() && *c >= 0.0) {
            flow.push(FlowRule {
                grade: Grade::Concurrency,
                ..FlowRule::qps(&format!("{name}.isolation-concurrency"), c)
            });
        }
    }
    let timeout_ms = edge.timeout_ms.and_then(millis);
    // A call to a partner carries the partner's word on test traffic: one
    // that is not shadow-safe refuses tagged calls (rule L011's risk).
    if breakers.is_empty()
        && flow.is_empty()
        && switches.is_empty()
        && timeout_ms.is_none()
        && partner_shadow_safe.is_none()
    {
        return None;
    }
    Some(Resource {
        name,
        routes: Vec::new(),
        timeout_ms,
        shadow_safe: partner_shadow_safe,
        test_qps: None,
        switches,
        flow,
        hot_params: Vec::new(),
        breakers,
        faults: Vec::new(),
    })
}

/// The part of a plan-wide rule set that one service's sidecars apply:
/// the resources of the entries `service` serves and of its outgoing
/// dependency edges (`service-><callee>`), the plan-wide settings and
/// test-traffic policy, the catch-all resource (its limit the largest of
/// the service's entry limits; left out when the service serves no entry
/// with a limit), and a gray rule from the plan's gray releases of
/// `service` (whitelists united, the largest percent; their user-id
/// header, `x-user-id` by default). A gray rule needs a sidecar started
/// with `--gray-upstream`. The version is kept; the control plane numbers
/// versions per service.
///
/// Errors when `service` is not a service of the plan, or when its gray
/// releases disagree on the user-id header.
pub fn for_service(plan: &Plan, rules: &RuleSet, service: &str) -> Result<RuleSet, GuardError> {
    if !plan.services.contains_key(service) {
        return Err(GuardError::Invalid {
            rule: String::new(),
            message: format!("`{service}` is not a service of the plan"),
        });
    }
    let edge_prefix = format!("{service}->");
    let mut resources: Vec<Resource> = rules
        .resources
        .iter()
        .filter(|r| {
            r.name != CATCH_ALL
                && plan.entries.get(&r.name).map_or_else(
                    || r.name.starts_with(&edge_prefix),
                    |e| e.service == service,
                )
        })
        .cloned()
        .collect();
    // The catch-all, if the whole set has one, limited by this service's
    // own entries.
    let service_largest = resources
        .iter()
        .filter(|r| plan.entries.contains_key(&r.name))
        .flat_map(|r| r.flow.iter())
        .filter(|f| f.grade == Grade::Qps)
        .map(|f| f.count)
        .reduce(f64::max);
    if let (Some(count), Some(whole)) = (
        service_largest,
        rules
            .resources
            .iter()
            .find(|r| r.name == CATCH_ALL && !plan.entries.contains_key(CATCH_ALL)),
    ) {
        let mut r = whole.clone();
        for f in &mut r.flow {
            f.count = count;
        }
        resources.push(r);
    }
    let mut gray: Option<crate::rules::GrayRule> = None;
    for (id, release) in plan
        .gray
        .releases
        .iter()
        .filter(|(_, g)| g.service == service)
    {
        let header = release
            .header
            .clone()
            .unwrap_or_else(|| "x-user-id".to_owned());
        match &mut gray {
            None => {
                gray = Some(crate::rules::GrayRule {
                    id: format!("gray.{id}"),
                    user_header: header,
                    whitelist: release.whitelist.clone(),
                    percent: release.percent,
                    headers: Vec::new(),
                    isolation: isolation(release.isolation),
                });
            }
            Some(g) => {
                if !g.user_header.eq_ignore_ascii_case(&header) {
                    return Err(GuardError::Invalid {
                        rule: format!("gray.{id}"),
                        message: format!(
                            "gray releases of `{service}` read the user id from different headers \
                             (`{}` and `{header}`); one sidecar routes by one header",
                            g.user_header
                        ),
                    });
                }
                g.id.push('+');
                g.id.push_str(id);
                g.whitelist.extend(release.whitelist.iter().cloned());
                g.percent = g.percent.max(release.percent);
                // Shadow wins: one release that must not touch real data
                // makes the service's gray traffic shadow traffic.
                if release.isolation == seawall_plan::model::GrayIsolation::Shadow {
                    g.isolation = crate::rules::GrayIsolation::Shadow;
                }
            }
        }
    }
    if let Some(g) = &mut gray {
        g.whitelist.sort();
        g.whitelist.dedup();
    }
    let mut upstreams = rules.upstreams.clone();
    if gray
        .as_ref()
        .is_some_and(|g| g.isolation == crate::rules::GrayIsolation::Shadow)
    {
        // The plan says the gray deployment writes to shadow data.
        upstreams.gray.shadow_safe = true;
    }
    let subset = RuleSet {
        version: rules.version,
        settings: rules.settings.clone(),
        upstreams,
        gray,
        test_traffic: rules.test_traffic.clone(),
        resources,
    };
    subset.validate()?;
    Ok(subset)
}

/// The guard's name for a gray release's isolation.
fn isolation(i: seawall_plan::model::GrayIsolation) -> crate::rules::GrayIsolation {
    match i {
        seawall_plan::model::GrayIsolation::None => crate::rules::GrayIsolation::None,
        seawall_plan::model::GrayIsolation::Shadow => crate::rules::GrayIsolation::Shadow,
    }
}
