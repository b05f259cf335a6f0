//! Cross-section checks on a decoded plan: references that must resolve,
//! sums that must stay in range, and cycles that must not exist. They run
//! after decoding so that every reference can be checked against every
//! section, whatever the order of the file.

use std::collections::{HashMap, HashSet};

use crate::decode::{Cx, did_you_mean};
use crate::diag::{Loc, Location};
use crate::graph::Graph;
use crate::model::{
    Action, DrillFault, DrillSpec, FaultTarget, GoalSource, Plan, Strength, Trigger,
};
use crate::outbound;

fn dangling<'a>(
    cx: &mut Cx,
    at: &Location,
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'a str> + Clone,
) {
    let help = match did_you_mean(name, known.clone()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => {
            let list: Vec<&str> = known.take(8).collect();
            if list.is_empty() {
                format!("define {what} `{name}` first")
            } else {
                format!("define {what} `{name}`, or use one of: {}", list.join(", "))
            }
        }
    };
    cx.error(
        "E020",
        &at.path,
        Loc::new(at.line, at.column),
        format!("`{}` names unknown {what} `{name}`", at.path),
        Some(help),
    );
}

/// Whether `name` was written in the collection that holds `what`, even if
/// that item failed to decode (its own diagnostics say why).
fn declared(cx: &Cx, what: &str, name: &str) -> bool {
    let collection = match what {
        "person" => "people",
        "business line" => "organization.business_lines",
        "service" => "services",
        "partner" => "partners",
        "goal" => "goals",
        "entry" => "entries",
        "journey" => "traffic.journeys",
        "alert" => "monitoring.alerts",
        "emergency plan" => "emergency_plans",
        _ => return false,
    };
    cx.declared
        .get(collection)
        .is_some_and(|ids| ids.contains(name))
}

macro_rules! check {
    ($cx:expr, $at:expr, $what:expr, $name:expr, $map:expr) => {
        if !$map.contains_key($name.as_str()) && !declared($cx, $what, &$name) {
            dangling($cx, &$at, $what, &$name, $map.keys().map(String::as_str));
        }
    };
}

/// Run every cross-section check, appending diagnostics to `cx`, one
/// section of the plan after another.
pub(crate) fn validate(plan: &Plan, cx: &mut Cx) {
    organization(plan, cx);
    goals(plan, cx);
    journeys(plan, cx);
    services(plan, cx);
    monitoring(plan, cx);
    freeze_gray_oncall(plan, cx);
    emergency_plans(plan, cx);
    rehearsals(plan, cx);
}

/// Whether `id` names an entry, a service or a partner.
fn target_known(plan: &Plan, id: &str) -> bool {
    plan.entries.contains_key(id)
        || plan.services.contains_key(id)
        || plan.partners.contains_key(id)
}

/// Every entry, service and partner id (for "did you mean").
fn all_targets(plan: &Plan) -> impl Iterator<Item = &str> + Clone {
    plan.entries
        .keys()
        .chain(plan.services.keys())
        .chain(plan.partners.keys())
        .map(String::as_str)
}

/// The guarantee group and business lines name people and services.
fn organization(plan: &Plan, cx: &mut Cx) {
    let people = &plan.people;
    let lines = &plan.organization.business_lines;
    let services = &plan.services;
    for p in &plan.organization.guarantee_group {
        check!(
            cx,
            plan.organization.at.field("guarantee_group"),
            "person",
            p,
            people
        );
    }
    for line in lines.values() {
        if let Some(pm) = &line.tech_pm {
            check!(cx, line.at.field("tech_pm"), "person", pm, people);
        }
        for s in &line.services {
            check!(cx, line.at.field("services"), "service", s, services);
        }
    }
}

/// Goals: `from` references and cycles.
fn goals(plan: &Plan, cx: &mut Cx) {
    // Goals: `from` references and cycles.
    for (id, g) in &plan.goals {
        if let GoalSource::From { goal, .. } = &g.source {
            check!(cx, g.at.field("from"), "goal", goal, plan.goals);
            // Follow the chain; a revisit is a cycle.
            let mut seen = vec![id.as_str()];
            let mut cur = goal.as_str();
            while let Some(next) = plan.goals.get(cur) {
                if seen.contains(&cur) {
                    // Report each cycle once, at its first goal in file order.
                    let first = seen
                        .iter()
                        .filter_map(|g| plan.goals.get_index_of(*g))
                        .min();
                    if cur == id && first == plan.goals.get_index_of(id.as_str()) {
                        seen.push(cur);
                        cx.error(
                            "E051",
                            &g.at.field("from").path,
                            g.at.field("from").loc_of(),
                            format!(
                                "goals derive from each other in a cycle: {}",
                                seen.join(" → ")
                            ),
                            Some("give one goal of the cycle a `total`".to_string()),
                        );
                    }
                    break;
                }
                seen.push(cur);
                match &next.source {
                    GoalSource::From { goal, .. } => cur = goal,
                    GoalSource::Total(_) => break,
                }
            }
        }
    }
}

/// Journeys: their goals and entries, share sums per goal.
fn journeys(plan: &Plan, cx: &mut Cx) {
    let entries = &plan.entries;
    // Journeys.
    let mut shares: HashMap<&str, (f64, Vec<&str>)> = HashMap::new();
    for (jid, j) in &plan.traffic.journeys {
        check!(cx, j.at.field("goal"), "goal", j.goal, plan.goals);
        let e = shares.entry(j.goal.as_str()).or_default();
        e.0 += j.share;
        e.1.push(jid);
        for s in &j.steps {
            check!(cx, s.at.field("entry"), "entry", s.entry, entries);
        }
    }
    for (gid, (sum, journeys)) in &shares {
        if *sum > 1.0 + 1e-9
            && let Some(last) = journeys.last().and_then(|j| plan.traffic.journeys.get(*j))
        {
            let at = last.at.field("share");
            cx.error(
                "E032",
                &at.path,
                at.loc_of(),
                format!(
                    "journeys of goal `{gid}` ({}) have shares summing to {sum:.3}, above 1",
                    journeys.join(", ")
                ),
                Some("a journey's share is the fraction of the goal's units that take it; lower the shares so they sum to at most 1".to_string()),
            );
        }
    }
}

/// Entries, services and partners: references, names used twice, the dependency cycle.
fn services(plan: &Plan, cx: &mut Cx) {
    let lines = &plan.organization.business_lines;
    let services = &plan.services;
    let entries = &plan.entries;
    let partners = &plan.partners;
    for e in entries.values() {
        check!(cx, e.at.field("service"), "service", e.service, services);
    }

    for s in services.values() {
        if let Some(line) = &s.line
            && !lines.is_empty()
        {
            check!(cx, s.at.field("line"), "business line", line, lines);
        }
        for d in &s.dependencies {
            if !services.contains_key(d.to.as_str())
                && !partners.contains_key(d.to.as_str())
                && !declared(cx, "service", &d.to)
                && !declared(cx, "partner", &d.to)
            {
                dangling(
                    cx,
                    &d.at.field("to"),
                    "service or partner",
                    &d.to,
                    services.keys().chain(partners.keys()).map(String::as_str),
                );
            }
        }
    }
    for id in partners.keys() {
        if services.contains_key(id) {
            let at = partners[id].at.location();
            cx.error(
                "E020",
                &at.path,
                at.loc_of(),
                format!("`{id}` is both a service and a partner"),
                Some("rename one of them; dependency edges name either".to_string()),
            );
        }
    }
    if let Err(cycle) = Graph::new(services).topo_order() {
        let first = cycle.first().and_then(|id| services.get(id.as_str()));
        let at = first
            .and_then(|s| {
                let next = cycle.get(1)?;
                s.dependencies
                    .iter()
                    .find(|d| &d.to == next)
                    .map(|d| d.at.field("to"))
            })
            .or_else(|| first.map(|s| s.at.location()))
            .unwrap_or_default();
        cx.error(
            "E050",
            &at.path,
            at.loc_of(),
            format!("services depend on each other in a cycle: {}", cycle.join(" → ")),
            Some("break the cycle: one of these calls must go (or become asynchronous and leave the plan)".to_string()),
        );
    }
}

/// Monitoring queries and alerts name entries, services or partners.
fn monitoring(plan: &Plan, cx: &mut Cx) {
    let services = &plan.services;
    let entries = &plan.entries;
    for (id, q) in &plan.monitoring.queries {
        if !entries.contains_key(id) && !services.contains_key(id) {
            dangling(
                cx,
                &q.at.location(),
                "entry or service",
                id,
                entries.keys().chain(services.keys()).map(String::as_str),
            );
        }
    }
    for a in plan.monitoring.alerts.values() {
        if !target_known(plan, &a.target) {
            dangling(
                cx,
                &a.at.field("target"),
                "entry, service or partner",
                &a.target,
                all_targets(plan),
            );
        }
    }
}

/// Freeze approvers and windows, gray releases, the on-call rota.
fn freeze_gray_oncall(plan: &Plan, cx: &mut Cx) {
    let people = &plan.people;
    let lines = &plan.organization.business_lines;
    let services = &plan.services;
    for p in &plan.freeze.approvers {
        check!(cx, plan.freeze.at.field("approvers"), "person", p, people);
    }
    for w in plan.freeze.windows.values() {
        for g in &w.services {
            if !g.contains(['*', '?']) {
                check!(cx, w.at.field("services"), "service", g, services);
            }
        }
    }
    for r in plan.gray.releases.values() {
        check!(cx, r.at.field("service"), "service", r.service, services);
    }
    for s in &plan.oncall.rota {
        for l in &s.lines {
            check!(cx, s.at.field("lines"), "business line", l, lines);
        }
        check!(cx, s.at.field("primary"), "person", s.primary, people);
        if let Some(p) = &s.secondary {
            check!(cx, s.at.field("secondary"), "person", p, people);
        }
    }
}

/// Emergency plans: owners, triggers, and what each action names (at the
/// action's own key), fallbacks that exist, and the hosts actions may call.
fn emergency_plans(plan: &Plan, cx: &mut Cx) {
    let people = &plan.people;
    let lines = &plan.organization.business_lines;
    let services = &plan.services;
    let entries = &plan.entries;
    let partners = &plan.partners;
    let channels: HashSet<&str> = plan.oncall.channels.iter().map(|c| c.id.as_str()).collect();
    let allow = outbound::allow_list(&plan.emergency.allow_hosts);
    for ch in &plan.oncall.channels {
        if let Some(url) = &ch.webhook {
            guard_channel_host(cx, &ch.at.field("webhook"), &ch.id, url, &allow);
        }
    }
    for ep in plan.emergency_plans.values() {
        if let Some(l) = &ep.line {
            check!(cx, ep.at.field("line"), "business line", l, lines);
        }
        if let Some(o) = &ep.owner {
            check!(cx, ep.at.field("owner"), "person", o, people);
        }
        let trigger_at = |key: &str| match &ep.trigger_at {
            Some(t) if t.has(key) => t.field(key),
            _ => ep.at.field("trigger"),
        };
        match &ep.trigger {
            Some(Trigger::Alert(a)) => {
                check!(cx, trigger_at("alert"), "alert", a, plan.monitoring.alerts)
            }
            Some(Trigger::Metric { target, .. }) if !target_known(plan, target) => {
                dangling(
                    cx,
                    &trigger_at("target"),
                    "entry, service or partner",
                    target,
                    all_targets(plan),
                );
            }
            _ => {}
        }
        if let Some(d) = &ep.drill {
            drill(plan, cx, d);
        }
        for (i, a) in ep.actions.iter().enumerate() {
            let action_at = ep.action_at.get(i);
            let at = |key: &str| match action_at {
                Some(a) => a.field(key),
                None => ep.at.field("actions"),
            };
            match a {
                Action::Scale { service, .. } | Action::Degrade { service, .. } => {
                    check!(cx, at("service"), "service", service, services);
                }
                Action::CacheWarmup { service, urls, .. } => {
                    check!(cx, at("service"), "service", service, services);
                    for (j, u) in urls.iter().enumerate() {
                        guard_host(cx, &at(&format!("urls[{j}]")), u, &allow);
                    }
                }
                Action::Webhook { url, .. } => guard_host(cx, &at("url"), url, &allow),
                Action::RateLimit { entry, .. } => {
                    check!(cx, at("entry"), "entry", entry, entries);
                }
                Action::Fallback { target } => {
                    if !services.contains_key(target)
                        && !partners.contains_key(target)
                        && !declared(cx, "service", target)
                        && !declared(cx, "partner", target)
                    {
                        dangling(
                            cx,
                            &at("target"),
                            "service or partner",
                            target,
                            services.keys().chain(partners.keys()).map(String::as_str),
                        );
                    } else if !has_fallback(plan, target) {
                        let loc = at("target");
                        cx.error(
                            "E021",
                            &loc.path,
                            loc.loc_of(),
                            format!("`{}` falls back from `{target}`, but nothing in the plan declares a fallback for it", loc.path),
                            Some(format!("write what callers do without it: `fallback: \"…\"` on the partner, or on a dependency edge `to: {target}` (or make that edge `strength: weak`)")),
                        );
                    }
                }
                Action::Notify { channel, .. } => {
                    if !channels.contains(channel.as_str()) {
                        let loc = at("channel");
                        let known: Vec<&str> =
                            plan.oncall.channels.iter().map(|c| c.id.as_str()).collect();
                        let help = match did_you_mean(channel, known.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None if known.is_empty() => format!(
                                "declare it under `oncall.channels.{channel}` with `kind` and `webhook`"
                            ),
                            None => format!(
                                "declare it under `oncall.channels`, or use one of: {}",
                                known.join(", ")
                            ),
                        };
                        cx.error(
                            "E020",
                            &loc.path,
                            loc.loc_of(),
                            format!("`{}` names unknown on-call channel `{channel}`", loc.path),
                            Some(help),
                        );
                    }
                }
            }
        }
    }
}

/// Whether callers of `target` have somewhere to go: the partner's own
/// `fallback`, or a dependency edge into it that is weak or has a
/// `fallback`.
fn has_fallback(plan: &Plan, target: &str) -> bool {
    plan.partners
        .get(target)
        .is_some_and(|p| p.fallback.is_some())
        || plan.services.values().any(|s| {
            s.dependencies
                .iter()
                .any(|d| d.to == target && (d.fallback.is_some() || d.strength == Strength::Weak))
        })
}

/// E080 when an action's URL points at loopback, link-local or a metadata
/// address that `emergency.allow_hosts` does not list (malformed URLs got
/// E013 while decoding).
fn guard_host(cx: &mut Cx, at: &Location, url: &str, allow: &[outbound::Allow]) {
    let Ok(host) = outbound::url_host(url) else {
        return;
    };
    if let Some(why) = outbound::refused(&host)
        && !outbound::allowed(&host, allow)
    {
        cx.error(
            "E080",
            &at.path,
            at.loc_of(),
            format!("`{url}` calls {host}, which is {why}; Seawall does not call such hosts unless the plan allows them"),
            Some(format!("point the action at the service's own address, or, if this host is really meant, list it: `emergency: {{allow_hosts: [\"{host}\"]}}`")),
        );
    }
}

/// E080 when an on-call channel's written webhook points at loopback,
/// link-local or a metadata address that `emergency.allow_hosts` does not
/// list: pages are requests the control plane makes, like actions' (a
/// name resolving to such an address is refused by the pager before it
/// connects).
fn guard_channel_host(cx: &mut Cx, at: &Location, id: &str, url: &str, allow: &[outbound::Allow]) {
    let Ok(host) = outbound::url_host(url) else {
        return;
    };
    if let Some(why) = outbound::refused(&host)
        && !outbound::allowed(&host, allow)
    {
        cx.error(
            "E080",
            &at.path,
            at.loc_of(),
            format!("on-call channel `{id}` posts to {host}, which is {why}; Seawall does not call such hosts unless the plan allows them"),
            Some(format!("give the IM provider's webhook URL, or, if this host is really meant (a relay), list it: `emergency: {{allow_hosts: [\"{host}\"]}}`")),
        );
    }
}

/// A drill's fault target and scenario must exist.
fn drill(plan: &Plan, cx: &mut Cx, d: &DrillSpec) {
    match &d.fault {
        DrillFault::Guard {
            target: FaultTarget::Entry(e),
            ..
        } => check!(cx, d.fault_at.field("entry"), "entry", e, plan.entries),
        DrillFault::Guard {
            target: FaultTarget::Service(s),
            ..
        } => check!(cx, d.fault_at.field("service"), "service", s, plan.services),
        DrillFault::Sim { node, .. } => {
            if !plan.services.contains_key(node) && !plan.partners.contains_key(node) {
                dangling(
                    cx,
                    &d.fault_at.field("sim"),
                    "service or partner",
                    node,
                    plan.services
                        .keys()
                        .chain(plan.partners.keys())
                        .map(String::as_str),
                );
            }
        }
    }
    if let Some(sc) = &d.scenario {
        check!(cx, d.at.field("scenario"), "rehearsal", sc, plan.rehearsals);
    }
}

/// Rehearsals: their journeys and drills.
fn rehearsals(plan: &Plan, cx: &mut Cx) {
    for sc in plan.rehearsals.values() {
        for j in sc.mix.keys() {
            check!(cx, sc.at.field("mix"), "journey", j, plan.traffic.journeys);
        }
        for d in &sc.drills {
            check!(
                cx,
                sc.at.field("drills"),
                "emergency plan",
                d,
                plan.emergency_plans
            );
        }
    }
}

impl Location {
    fn loc_of(&self) -> Loc {
        Loc::new(self.line, self.column)
    }
}
