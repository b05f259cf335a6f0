//! Decoding the located YAML tree into a [`Plan`], section by section.
//!
//! Each section decoder reads its keys through [`Cx`], which records every
//! problem and carries on; cross-references, sums and cycles are checked
//! afterwards by `validate`, once every section is known.

use indexmap::IndexMap;

use crate::decode::{Cx, Obj, item_path};
use crate::diag::{At, Diagnostic, Diagnostics};
use crate::model::*;
use crate::node::{Kind, Node, SyntaxError, parse_yaml};

const TOP: &[&str] = &[
    "event",
    "people",
    "organization",
    "goals",
    "traffic",
    "entries",
    "services",
    "partners",
    "capacity",
    "links",
    "monitoring",
    "freeze",
    "gray",
    "oncall",
    "emergency",
    "emergency_plans",
    "rehearsals",
];

/// Parse and validate a plan. `file` is used in diagnostics and locations
/// only; nothing is read from disk.
///
/// Returns the plan, or every problem found, sorted by line and column.
pub fn parse(src: &str, file: &str) -> Result<Plan, Diagnostics> {
    let mut cx = Cx::new(file);
    let root = match parse_yaml(src) {
        Ok(root) => root,
        Err(SyntaxError {
            loc,
            message,
            limit: Some(limit),
        }) => {
            cx.error(
                "E003",
                "",
                loc,
                format!(
                    "the plan exceeds the parser's limit `{}` = {} ({}){}{}",
                    limit.name(),
                    limit.value(),
                    limit.counts(),
                    if message.is_empty() { "" } else { ": " },
                    message
                ),
                Some(limit.help().to_string()),
            );
            return Err(Diagnostics(cx.diags));
        }
        Err(e) => {
            cx.error(
                "E001",
                "",
                e.loc,
                format!("YAML syntax error: {}", e.message),
                Some(
                    "fix the YAML syntax at this position (indentation, quotes, brackets)"
                        .to_string(),
                ),
            );
            return Err(Diagnostics(cx.diags));
        }
    };
    if !matches!(root.kind, Kind::Map(_)) {
        cx.error(
            "E002",
            "",
            root.loc,
            format!(
                "a plan must be a map of sections, found {}",
                root.kind.describe()
            ),
            Some(
                "start the file with `event:` and the other sections as top-level keys".to_string(),
            ),
        );
        return Err(Diagnostics(cx.diags));
    }
    let mut plan = Plan {
        file: file.to_string(),
        ..Plan::default()
    };
    let Some(top) = cx.obj(&root, "", TOP) else {
        return Err(Diagnostics(cx.diags));
    };
    // The event first: its time zone is needed to read every other time.
    match top.get("event") {
        Some(n) => plan.event = event(&mut cx, n),
        None => cx.error(
            "E011",
            "event",
            root.loc,
            "the plan has no `event` section",
            Some("add `event: {name: \"…\", timezone: Asia/Shanghai}`".to_string()),
        ),
    }
    if let Some(n) = top.get("people") {
        plan.people = named(&mut cx, n, "people", person);
    }
    if let Some(n) = top.get("organization") {
        plan.organization = organization(&mut cx, n);
    }
    if let Some(n) = top.get("goals") {
        plan.goals = named(&mut cx, n, "goals", goal);
    }
    if let Some(n) = top.get("traffic") {
        plan.traffic = traffic(&mut cx, n);
    }
    if let Some(n) = top.get("entries") {
        plan.entries = named(&mut cx, n, "entries", entry);
    }
    if let Some(n) = top.get("services") {
        plan.services = named(&mut cx, n, "services", service);
        kubernetes_defaults(&mut cx, &mut plan.services);
    }
    if let Some(n) = top.get("partners") {
        plan.partners = named(&mut cx, n, "partners", partner);
    }
    if let Some(n) = top.get("capacity") {
        plan.capacity = capacity(&mut cx, n);
    }
    if let Some(n) = top.get("links") {
        plan.links = links(&mut cx, n);
    }
    if let Some(n) = top.get("monitoring") {
        plan.monitoring = monitoring(&mut cx, n);
    }
    if let Some(n) = top.get("freeze") {
        plan.freeze = freeze(&mut cx, n);
    }
    if let Some(n) = top.get("gray") {
        plan.gray = gray(&mut cx, n);
    }
    if let Some(n) = top.get("oncall") {
        plan.oncall = oncall(&mut cx, n);
    }
    if let Some(n) = top.get("emergency") {
        plan.emergency = emergency(&mut cx, n);
    }
    if let Some(n) = top.get("emergency_plans") {
        plan.emergency_plans = named(&mut cx, n, "emergency_plans", emergency_plan);
    }
    if let Some(n) = top.get("rehearsals") {
        plan.rehearsals = named(&mut cx, n, "rehearsals", scenario);
    }
    crate::validate::validate(&plan, &mut cx);
    crate::query::check(&plan, src, &mut cx);
    #[cfg(feature = "promql")]
    crate::promql::check(&plan, src, &mut cx);
    if cx.diags.is_empty() {
        Ok(plan)
    } else {
        let mut diags: Vec<Diagnostic> = cx.diags;
        diags.sort_by(|a, b| (a.line, a.column, a.code).cmp(&(b.line, b.column, b.code)));
        diags.dedup();
        Err(Diagnostics(diags))
    }
}

/// Decode a named collection with `f(cx, node, path)`.
fn named<T>(
    cx: &mut Cx,
    node: &Node,
    path: &str,
    f: impl Fn(&mut Cx, &Node, &str) -> Option<T>,
) -> IndexMap<String, T> {
    let mut out = IndexMap::new();
    for (id, n) in cx.named(node, path) {
        cx.declared
            .entry(path.to_string())
            .or_default()
            .insert(id.clone());
        let p = item_path(path, &id);
        if let Some(v) = f(cx, n, &p) {
            out.insert(id, v);
        }
    }
    out
}

fn opt_string(cx: &mut Cx, o: &Obj<'_>, key: &str) -> Option<String> {
    o.with(cx, key, |cx, n, p| cx.string(n, p))
}

fn req_string(cx: &mut Cx, o: &Obj<'_>, key: &str, what: &str) -> Option<String> {
    let n = o.req(cx, key, what)?;
    let s = cx.string(n, &o.path(key))?;
    if s.trim().is_empty() {
        cx.error(
            "E011",
            &o.path(key),
            n.loc,
            format!("`{}` is empty", o.path(key)),
            Some(format!("write {what}")),
        );
        return None;
    }
    Some(s)
}

fn window(cx: &mut Cx, node: &Node, path: &str) -> Option<Window> {
    let o = cx.obj(node, path, &["start", "end"])?;
    inline_window(cx, &o, path)
}

/// A window written inline (`start`/`end` keys among others).
fn inline_window(cx: &mut Cx, o: &Obj<'_>, path: &str) -> Option<Window> {
    let start = o.req(cx, "start", "a time such as \"2026-09-30T10:00\"");
    let end = o.req(cx, "end", "a time such as \"2026-09-30T14:00\"");
    let start = start.and_then(|n| cx.time(n, &o.path("start")));
    let end_t = end.and_then(|n| cx.time(n, &o.path("end")));
    let (start, end_t) = (start?, end_t?);
    if end_t <= start {
        cx.error(
            "E041",
            &o.path("end"),
            end.map_or(o.loc, |n| n.loc),
            format!(
                "`{path}` ends ({}) before or when it starts ({})",
                crate::time::format_time(end_t, &cx.tz),
                crate::time::format_time(start, &cx.tz)
            ),
            Some("make `end` later than `start`".to_string()),
        );
        return None;
    }
    Some(Window {
        start,
        end: end_t,
        at: o.at(),
    })
}

fn event(cx: &mut Cx, node: &Node) -> Event {
    let mut ev = Event::default();
    let Some(o) = cx.obj(node, "event", &["name", "timezone", "phases"]) else {
        return ev;
    };
    ev.at = o.at();
    if let Some(name) = req_string(cx, &o, "name", "the event's name") {
        ev.name = name;
    }
    if let Some(n) = o.get("timezone")
        && let Some(tz) = cx.string(n, "event.timezone")
    {
        match crate::time::zone(&tz) {
            Some(zone) => {
                cx.tz = zone.clone();
                ev.tz = zone;
                ev.timezone = tz;
            }
            None => cx.error(
                "E042",
                "event.timezone",
                n.loc,
                format!("unknown time zone `{tz}`"),
                Some("use an IANA name such as Asia/Shanghai, Europe/Berlin or UTC".to_string()),
            ),
        }
    }
    if let Some(n) = o.get("phases") {
        for (id, pn) in cx.named(n, "event.phases") {
            let p = item_path("event.phases", &id);
            if let Some(w) = window(cx, pn, &p) {
                ev.phases.insert(id, w);
            }
        }
    }
    ev
}

fn person(cx: &mut Cx, node: &Node, path: &str) -> Option<Person> {
    // A bare string is a name.
    if let Kind::Str(s) = &node.kind {
        return Some(Person {
            name: s.clone(),
            at: crate::diag::At {
                path: path.to_string(),
                loc: node.loc,
                fields: Vec::new(),
            },
            ..Person::default()
        });
    }
    let o = cx.obj(node, path, &["name", "phone", "email", "im"])?;
    let name = req_string(cx, &o, "name", "the person's name");
    let phone = opt_string(cx, &o, "phone");
    let email = opt_string(cx, &o, "email");
    let mut im = IndexMap::new();
    if let Some(n) = o.get("im") {
        for (k, v) in cx.named(n, &o.path("im")) {
            if let Some(h) = cx.string(v, &item_path(&o.path("im"), &k)) {
                im.insert(k, h);
            }
        }
    }
    Some(Person {
        name: name?,
        phone,
        email,
        im,
        at: o.at(),
    })
}

fn organization(cx: &mut Cx, node: &Node) -> Organization {
    let mut org = Organization::default();
    let Some(o) = cx.obj(node, "organization", &["guarantee_group", "business_lines"]) else {
        return org;
    };
    org.at = o.at();
    if let Some(n) = o.get("guarantee_group") {
        org.guarantee_group = cx.strings(n, "organization.guarantee_group");
    }
    if let Some(n) = o.get("business_lines") {
        org.business_lines = named(cx, n, "organization.business_lines", |cx, n, p| {
            let o = cx.obj(n, p, &["name", "tech_pm", "services"])?;
            Some(BusinessLine {
                name: opt_string(cx, &o, "name").unwrap_or_default(),
                tech_pm: opt_string(cx, &o, "tech_pm"),
                services: o
                    .with(cx, "services", |cx, n, p| Some(cx.strings(n, p)))
                    .unwrap_or_default(),
                at: o.at(),
            })
        });
    }
    org
}

fn goal(cx: &mut Cx, node: &Node, path: &str) -> Option<Goal> {
    let o = cx.obj(
        node,
        path,
        &[
            "name",
            "unit",
            "total",
            "from",
            "peak_hour_share",
            "peak_factor",
        ],
    )?;
    let total = o.with(cx, "total", |cx, n, p| cx.positive(n, p));
    let from = o.with(cx, "from", |cx, n, p| {
        let f = cx.obj(n, p, &["goal", "ratio"])?;
        let goal = req_string(cx, &f, "goal", "the id of the source goal");
        let ratio = f
            .req(cx, "ratio", "the multiplier, e.g. 0.04")
            .and_then(|n| cx.positive(n, &f.path("ratio")));
        Some(GoalSource::From {
            goal: goal?,
            ratio: ratio?,
        })
    });
    let source = match (o.get("total"), o.get("from")) {
        (Some(_), Some(_)) => {
            cx.error(
                "E052",
                path,
                o.loc,
                format!("goal `{path}` has both `total` and `from`"),
                Some("keep one: a given `total`, or `from: {goal, ratio}`".to_string()),
            );
            None
        }
        (None, None) => {
            cx.error(
                "E052",
                path,
                o.loc,
                format!("goal `{path}` has neither `total` nor `from`"),
                Some(
                    "add `total: <count over the event day>` or `from: {goal: <id>, ratio: <x>}`"
                        .to_string(),
                ),
            );
            None
        }
        (Some(_), None) => total.map(GoalSource::Total),
        (None, Some(_)) => from,
    };
    let peak_hour_share = o.with(cx, "peak_hour_share", |cx, n, p| cx.fraction(n, p));
    let peak_factor = o.with(cx, "peak_factor", |cx, n, p| cx.positive(n, p));
    Some(Goal {
        name: opt_string(cx, &o, "name"),
        unit: opt_string(cx, &o, "unit"),
        source: source?,
        peak_hour_share,
        peak_factor,
        at: o.at(),
    })
}

fn traffic(cx: &mut Cx, node: &Node) -> Traffic {
    let mut t = Traffic::default();
    let Some(o) = cx.obj(
        node,
        "traffic",
        &["peak_hour_share", "peak_factor", "journeys"],
    ) else {
        return t;
    };
    t.at = o.at();
    if let Some(v) = o.with(cx, "peak_hour_share", |cx, n, p| cx.fraction(n, p)) {
        t.peak_hour_share = v;
    }
    if let Some(v) = o.with(cx, "peak_factor", |cx, n, p| cx.positive(n, p)) {
        t.peak_factor = v;
    }
    if let Some(n) = o.get("journeys") {
        t.journeys = named(cx, n, "traffic.journeys", journey);
    }
    t
}

fn journey(cx: &mut Cx, node: &Node, path: &str) -> Option<Journey> {
    let o = cx.obj(
        node,
        path,
        &["goal", "share", "anchor", "session_seconds", "steps"],
    )?;
    let goal = req_string(
        cx,
        &o,
        "goal",
        "the id of the goal that drives this journey",
    );
    let share = o.with(cx, "share", |cx, n, p| cx.fraction(n, p));
    let session_seconds = o.with(cx, "session_seconds", |cx, n, p| cx.positive(n, p));
    let mut steps = Vec::new();
    let mut ok = true;
    if let Some(n) = o.req(cx, "steps", "a list of `{entry: <id>}` steps") {
        let items = cx.list(n, &o.path("steps"));
        if items.is_empty() {
            cx.error(
                "E011",
                &o.path("steps"),
                n.loc,
                format!("journey `{path}` has no steps"),
                Some("list at least one step: `- {entry: home}`".to_string()),
            );
            ok = false;
        }
        for (i, sn) in items.iter().enumerate() {
            let sp = format!("{}[{i}]", o.path("steps"));
            match step(cx, sn, &sp, i == 0) {
                Some(s) => steps.push(s),
                None => ok = false,
            }
        }
    } else {
        ok = false;
    }
    let anchor = match o.get("anchor") {
        Some(n) => {
            let name = cx.string(n, &o.path("anchor"));
            match name {
                Some(name) => match steps.iter().position(|s| s.entry == name) {
                    Some(i) => Some(i),
                    None => {
                        if ok {
                            let help = match crate::decode::did_you_mean(
                                &name,
                                steps.iter().map(|s| s.entry.as_str()),
                            ) {
                                Some(s) => format!(
                                    "did you mean `{s}`? the anchor names the entry of one of the steps"
                                ),
                                None => "the anchor names the entry of one of the journey's steps"
                                    .to_string(),
                            };
                            cx.error(
                                "E060",
                                &o.path("anchor"),
                                n.loc,
                                format!("anchor `{name}` is not a step of journey `{path}`"),
                                Some(help),
                            );
                        }
                        None
                    }
                },
                None => None,
            }
        }
        None => Some(0),
    };
    // A journey with a broken step is kept (without that step) so that its
    // other references are still checked; the plan is invalid either way.
    let anchor = if ok { anchor } else { anchor.or(Some(0)) };
    if steps.is_empty() {
        return None;
    }
    Some(Journey {
        goal: goal?,
        share: share.unwrap_or(1.0),
        anchor: anchor?,
        session_seconds,
        steps,
        at: o.at(),
    })
}

fn step(cx: &mut Cx, node: &Node, path: &str, first: bool) -> Option<Step> {
    let o = cx.obj(
        node,
        path,
        &[
            "entry",
            "conversion",
            "calls",
            "think_seconds",
            "path",
            "body",
            "headers",
            "extract",
        ],
    )?;
    let entry = req_string(cx, &o, "entry", "the id of an entry");
    let conversion = match o.get("conversion") {
        Some(n) if first => {
            cx.error(
                "E061",
                &o.path("conversion"),
                n.loc,
                "the first step of a journey has no conversion",
                Some("remove `conversion` from the first step; conversions say what fraction of the previous step's users reach a step".to_string()),
            );
            None
        }
        Some(n) => cx.fraction(n, &o.path("conversion")),
        None => Some(1.0),
    };
    let calls = match o.get("calls") {
        Some(n) => cx.positive(n, &o.path("calls")),
        None => Some(1.0),
    };
    let think_seconds = o
        .with(cx, "think_seconds", |cx, n, p| cx.non_negative(n, p))
        .unwrap_or(0.0);
    let headers = string_map(cx, &o, "headers");
    let extract = string_map(cx, &o, "extract");
    Some(Step {
        entry: entry?,
        conversion: conversion?,
        calls: calls?,
        think_seconds,
        path: opt_string(cx, &o, "path"),
        body: opt_string(cx, &o, "body"),
        headers,
        extract,
        at: o.at(),
    })
}

fn string_map(cx: &mut Cx, o: &Obj<'_>, key: &str) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    if let Some(n) = o.get(key) {
        let p = o.path(key);
        for (k, v) in cx.named(n, &p) {
            if let Some(s) = cx.string(v, &item_path(&p, &k)) {
                out.insert(k, s);
            }
        }
    }
    out
}

fn slo(cx: &mut Cx, node: &Node, path: &str) -> Option<Slo> {
    let o = cx.obj(node, path, &["p99_ms", "error_rate"])?;
    Some(Slo {
        p99_ms: o.with(cx, "p99_ms", |cx, n, p| cx.positive(n, p)),
        error_rate: o.with(cx, "error_rate", |cx, n, p| cx.unit(n, p)),
    })
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
const METHOD_VALUES: [Method; 7] = [
    Method::Get,
    Method::Post,
    Method::Put,
    Method::Patch,
    Method::Delete,
    Method::Head,
    Method::Options,
];

fn entry(cx: &mut Cx, node: &Node, path: &str) -> Option<Entry> {
    let o = cx.obj(
        node,
        path,
        &[
            "name",
            "service",
            "method",
            "path",
            "slo",
            "burst",
            "current_qps",
            "rate_limit",
        ],
    )?;
    let service = req_string(
        cx,
        &o,
        "service",
        "the id of the service that serves this entry",
    );
    let method = o
        .with(cx, "method", |cx, n, p| cx.choice(n, p, &METHODS))
        .map(|i| METHOD_VALUES[i]);
    let path_s = opt_string(cx, &o, "path");
    if let (Some(p), Some(n)) = (&path_s, o.get("path"))
        && !p.starts_with('/')
    {
        cx.error(
            "E013",
            &o.path("path"),
            n.loc,
            format!("entry path `{p}` does not start with `/`"),
            Some(format!("write `/{p}`")),
        );
    }
    let burst = match o.get("burst") {
        Some(n) => cx.positive(n, &o.path("burst")),
        None => Some(1.0),
    };
    Some(Entry {
        name: opt_string(cx, &o, "name"),
        service: service?,
        method,
        path: path_s,
        slo: o.with(cx, "slo", slo),
        burst: burst?,
        current_qps: o.with(cx, "current_qps", |cx, n, p| cx.non_negative(n, p)),
        rate_limit: o.with(cx, "rate_limit", |cx, n, p| cx.positive(n, p)),
        at: o.at(),
    })
}

fn service(cx: &mut Cx, node: &Node, path: &str) -> Option<Service> {
    let o = cx.obj(
        node,
        path,
        &[
            "name",
            "line",
            "tier",
            "instances",
            "capacity_per_instance",
            "max_concurrency",
            "latency_ms",
            "timeout_ms",
            "slo",
            "dependencies",
            "kubernetes",
        ],
    )?;
    let tier = o
        .with(cx, "tier", |cx, n, p| {
            cx.choice(n, p, &["frontend", "midend", "backend"])
        })
        .map(|i| [Tier::Frontend, Tier::Midend, Tier::Backend][i])
        .unwrap_or_default();
    let instances = o.with(cx, "instances", |cx, n, p| {
        let v = cx.count(n, p)?;
        if v == 0 {
            cx.error(
                "E030",
                p,
                n.loc,
                format!("`{p}` must be at least 1"),
                Some("a service in the plan runs at least one instance".to_string()),
            );
            return None;
        }
        Some(v)
    });
    let mut deps = Vec::new();
    if let Some(n) = o.get("dependencies") {
        let dp = o.path("dependencies");
        for (i, en) in cx.list(n, &dp).iter().enumerate() {
            if let Some(e) = edge(cx, en, &format!("{dp}[{i}]")) {
                deps.push(e);
            }
        }
    }
    Some(Service {
        name: opt_string(cx, &o, "name"),
        line: opt_string(cx, &o, "line"),
        tier,
        instances,
        capacity_per_instance: o.with(cx, "capacity_per_instance", |cx, n, p| cx.positive(n, p)),
        max_concurrency: o.with(cx, "max_concurrency", |cx, n, p| cx.positive(n, p)),
        latency_ms: o.with(cx, "latency_ms", |cx, n, p| cx.positive(n, p)),
        timeout_ms: o.with(cx, "timeout_ms", |cx, n, p| cx.positive(n, p)),
        slo: o.with(cx, "slo", slo),
        dependencies: deps,
        kubernetes: o.with(cx, "kubernetes", kubernetes),
        at: o.at(),
    })
}

/// `services.<id>.kubernetes`; an absent `deployment` is left empty and
/// filled in with the service id by [`kubernetes_defaults`].
fn kubernetes(cx: &mut Cx, node: &Node, path: &str) -> Option<Kubernetes> {
    let o = cx.obj(node, path, &["namespace", "deployment"])?;
    let label = |cx: &mut Cx, key: &str| {
        let n = o.get(key)?;
        let p = o.path(key);
        let v = cx.string(n, &p)?;
        dns_label(cx, &v, &p, n.loc).then_some(v)
    };
    let namespace = label(cx, "namespace");
    let deployment = label(cx, "deployment");
    if o.get("namespace").is_none() {
        o.req(
            cx,
            "namespace",
            "the Kubernetes namespace of the service's deployment",
        );
    }
    Some(Kubernetes {
        namespace: namespace?,
        deployment: if o.get("deployment").is_some() {
            deployment?
        } else {
            String::new()
        },
        at: o.at(),
    })
}

/// Reports E013 unless `name` is a DNS-1123 label; returns whether it is.
fn dns_label(cx: &mut Cx, name: &str, path: &str, loc: crate::diag::Loc) -> bool {
    if crate::outbound::is_dns1123_label(name) {
        return true;
    }
    cx.error(
        "E013",
        path,
        loc,
        format!("`{name}` is not a Kubernetes name (a DNS-1123 label)"),
        Some("write 1–63 lower-case letters, digits or `-`, starting and ending with a letter or digit, e.g. `ride-svc`".to_string()),
    );
    false
}

/// Fills in each `kubernetes.deployment` left out with its service id,
/// which must then be a valid name itself.
fn kubernetes_defaults(cx: &mut Cx, services: &mut IndexMap<String, Service>) {
    for (id, s) in services.iter_mut() {
        if let Some(k) = &mut s.kubernetes
            && k.deployment.is_empty()
        {
            let at = k.at.location();
            if dns_label(cx, id, &at.path, crate::diag::Loc::new(at.line, at.column)) {
                k.deployment = id.clone();
            } else {
                s.kubernetes = None;
            }
        }
    }
}

fn edge(cx: &mut Cx, node: &Node, path: &str) -> Option<Edge> {
    // A bare string is a strong edge with defaults.
    if let Kind::Str(s) = &node.kind {
        return Some(Edge {
            to: s.clone(),
            calls: 1.0,
            at: crate::diag::At {
                path: path.to_string(),
                loc: node.loc,
                fields: Vec::new(),
            },
            ..Edge::default()
        });
    }
    let o = cx.obj(
        node,
        path,
        &[
            "to",
            "strength",
            "calls",
            "timeout_ms",
            "retries",
            "fallback",
            "breaker",
            "isolation",
        ],
    )?;
    let to = req_string(cx, &o, "to", "the id of a service or partner");
    let strength = o
        .with(cx, "strength", |cx, n, p| {
            cx.choice(n, p, &["strong", "weak"])
        })
        .map(|i| [Strength::Strong, Strength::Weak][i])
        .unwrap_or_default();
    let calls = match o.get("calls") {
        Some(n) => cx.positive(n, &o.path("calls")),
        None => Some(1.0),
    };
    let breaker = o.with(cx, "breaker", |cx, n, p| {
        let b = cx.obj(
            n,
            p,
            &[
                "error_ratio",
                "error_count",
                "slow_ratio",
                "slow_ms",
                "min_requests",
                "open_seconds",
            ],
        )?;
        Some(Breaker {
            error_ratio: b.with(cx, "error_ratio", |cx, n, p| cx.fraction(n, p)),
            error_count: b.with(cx, "error_count", |cx, n, p| cx.positive(n, p)),
            slow_ratio: b.with(cx, "slow_ratio", |cx, n, p| cx.fraction(n, p)),
            slow_ms: b.with(cx, "slow_ms", |cx, n, p| cx.positive(n, p)),
            min_requests: b.with(cx, "min_requests", |cx, n, p| cx.positive(n, p)),
            open_seconds: b.with(cx, "open_seconds", |cx, n, p| cx.positive(n, p)),
        })
    });
    let isolation = o.with(cx, "isolation", |cx, n, p| {
        let b = cx.obj(n, p, &["qps", "concurrency"])?;
        Some(Isolation {
            qps: b.with(cx, "qps", |cx, n, p| cx.positive(n, p)),
            concurrency: b.with(cx, "concurrency", |cx, n, p| cx.positive(n, p)),
        })
    });
    Some(Edge {
        to: to?,
        strength,
        calls: calls?,
        timeout_ms: o.with(cx, "timeout_ms", |cx, n, p| cx.positive(n, p)),
        retries: o
            .with(cx, "retries", |cx, n, p| cx.count(n, p))
            .unwrap_or(0),
        fallback: opt_string(cx, &o, "fallback"),
        breaker,
        isolation,
        at: o.at(),
    })
}

fn partner(cx: &mut Cx, node: &Node, path: &str) -> Option<Partner> {
    let o = cx.obj(
        node,
        path,
        &[
            "name",
            "sla",
            "fallback",
            "quota_qps",
            "shadow_safe",
            "contacts",
        ],
    )?;
    Some(Partner {
        name: opt_string(cx, &o, "name"),
        sla: o.with(cx, "sla", slo),
        fallback: opt_string(cx, &o, "fallback"),
        quota_qps: o.with(cx, "quota_qps", |cx, n, p| cx.positive(n, p)),
        shadow_safe: o
            .with(cx, "shadow_safe", |cx, n, p| cx.boolean(n, p))
            .unwrap_or(false),
        contacts: o
            .with(cx, "contacts", |cx, n, p| Some(cx.strings(n, p)))
            .unwrap_or_default(),
        at: o.at(),
    })
}

fn capacity(cx: &mut Cx, node: &Node) -> CapacityPolicy {
    let mut c = CapacityPolicy::default();
    let Some(o) = cx.obj(
        node,
        "capacity",
        &["headroom", "warn_level", "critical_level"],
    ) else {
        return c;
    };
    c.at = o.at();
    if let Some(v) = o.with(cx, "headroom", |cx, n, p| cx.non_negative(n, p)) {
        c.headroom = v;
    }
    if let Some(v) = o.with(cx, "warn_level", |cx, n, p| cx.positive(n, p)) {
        c.warn_level = v;
    }
    if let Some(v) = o.with(cx, "critical_level", |cx, n, p| cx.positive(n, p)) {
        c.critical_level = v;
    }
    if c.warn_level > c.critical_level {
        cx.error(
            "E031",
            "capacity.warn_level",
            o.get("warn_level").map_or(o.loc, |n| n.loc),
            format!(
                "`capacity.warn_level` ({}) is above `capacity.critical_level` ({})",
                c.warn_level, c.critical_level
            ),
            Some("the warn level must not exceed the critical level".to_string()),
        );
    }
    c
}

fn links(cx: &mut Cx, node: &Node) -> LinkPolicy {
    let mut l = LinkPolicy::default();
    let Some(o) = cx.obj(node, "links", &["max_retry_amplification", "accept"]) else {
        return l;
    };
    l.at = o.at();
    if let Some(v) = o.with(cx, "max_retry_amplification", |cx, n, p| cx.positive(n, p)) {
        l.max_retry_amplification = v;
    }
    if let Some(n) = o.get("accept") {
        let p = o.path("accept");
        for (i, an) in cx.list(n, &p).iter().enumerate() {
            let ap = format!("{p}[{i}]");
            let Some(a) = cx.obj(an, &ap, &["rule", "path", "reason"]) else {
                continue;
            };
            let rule = req_string(cx, &a, "rule", "a rule id such as L008");
            if let (Some(r), Some(rn)) = (&rule, a.get("rule"))
                && !(r.len() == 4
                    && r.starts_with('L')
                    && r[1..].parse::<u32>().is_ok_and(|n| (1..=14).contains(&n)))
            {
                cx.error(
                    "E013",
                    &a.path("rule"),
                    rn.loc,
                    format!("`{r}` is not a link rule id"),
                    Some("use one of L001 … L015".to_string()),
                );
                continue;
            }
            let path = req_string(
                cx,
                &a,
                "path",
                "the YAML path the acceptance covers, e.g. services.user-svc",
            );
            let reason = req_string(cx, &a, "reason", "why the risk is accepted and by whom");
            if let (Some(rule), Some(path), Some(reason)) = (rule, path, reason) {
                l.accept.push(Acceptance {
                    rule,
                    path,
                    reason,
                    at: a.at(),
                });
            }
        }
    }
    l
}

const METRICS: [&str; 5] = ["water_level", "qps", "p99_ms", "error_rate", "query"];
const METRIC_VALUES: [AlertMetric; 5] = [
    AlertMetric::WaterLevel,
    AlertMetric::Qps,
    AlertMetric::P99Ms,
    AlertMetric::ErrorRate,
    AlertMetric::Query,
];

/// One set of figure queries (`monitoring.queries.<id>` or a template).
fn queries(cx: &mut Cx, n: &Node, p: &str) -> Option<Queries> {
    let q = cx.obj(n, p, &["qps", "p99_ms", "error_rate"])?;
    Some(Queries {
        qps: opt_string(cx, &q, "qps"),
        p99_ms: opt_string(cx, &q, "p99_ms"),
        error_rate: opt_string(cx, &q, "error_rate"),
        at: q.at(),
    })
}

fn monitoring(cx: &mut Cx, node: &Node) -> Monitoring {
    let mut m = Monitoring::default();
    let Some(o) = cx.obj(
        node,
        "monitoring",
        &[
            "prometheus",
            "scrape",
            "queries",
            "templates",
            "funnel",
            "alerts",
        ],
    ) else {
        return m;
    };
    m.at = o.at();
    m.prometheus_url = o.with(cx, "prometheus", |cx, n, p| {
        let po = cx.obj(n, p, &["url"])?;
        let url = req_string(
            cx,
            &po,
            "url",
            "the Prometheus base URL, e.g. http://127.0.0.1:9090",
        )?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            cx.error(
                "E013",
                &po.path("url"),
                po.get("url").map_or(po.loc, |n| n.loc),
                format!("`{url}` is not an http(s) URL"),
                Some("write e.g. http://prometheus:9090".to_string()),
            );
            return None;
        }
        Some(url)
    });
    m.scrape = o
        .with(cx, "scrape", |cx, n, p| Some(cx.strings(n, p)))
        .unwrap_or_default();
    if let Some(n) = o.get("queries") {
        m.queries = named(cx, n, "monitoring.queries", queries);
    }
    if let Some(n) = o.get("templates") {
        let p = o.path("templates");
        if let Some(t) = cx.obj(n, &p, &["entry", "service", "partner"]) {
            m.templates = Templates {
                entry: t.with(cx, "entry", queries),
                service: t.with(cx, "service", queries),
                partner: t.with(cx, "partner", queries),
            };
        }
    }
    if let Some(n) = o.get("funnel") {
        let p = o.path("funnel");
        for (i, fnode) in cx.list(n, &p).iter().enumerate() {
            let fp = format!("{p}[{i}]");
            let Some(f) = cx.obj(fnode, &fp, &["name", "query"]) else {
                continue;
            };
            let name = req_string(cx, &f, "name", "the funnel step's name");
            let query = req_string(
                cx,
                &f,
                "query",
                "a PromQL expression giving the step's rate",
            );
            if let (Some(name), Some(query)) = (name, query) {
                m.funnel.push(FunnelStep {
                    name,
                    query,
                    at: f.at(),
                });
            }
        }
    }
    if let Some(n) = o.get("alerts") {
        m.alerts = named(cx, n, "monitoring.alerts", |cx, n, p| {
            let a = cx.obj(
                n,
                p,
                &["target", "metric", "above", "for", "query", "severity"],
            )?;
            let target = req_string(cx, &a, "target", "the id of an entry, service or partner");
            let metric = a
                .req(
                    cx,
                    "metric",
                    "one of water_level, qps, p99_ms, error_rate, query",
                )
                .and_then(|n| cx.choice(n, &a.path("metric"), &METRICS))
                .map(|i| METRIC_VALUES[i]);
            let above = a
                .req(cx, "above", "the threshold")
                .and_then(|n| cx.num(n, &a.path("above")));
            let query = opt_string(cx, &a, "query");
            if metric == Some(AlertMetric::Query) && query.is_none() {
                cx.error(
                    "E011",
                    p,
                    a.loc,
                    format!("alert `{p}` has metric `query` but no `query`"),
                    Some("add `query: <PromQL>`".to_string()),
                );
            }
            Some(Alert {
                target: target?,
                metric: metric?,
                above: above?,
                for_seconds: a
                    .with(cx, "for", |cx, n, p| cx.duration(n, p))
                    .unwrap_or(0.0),
                query,
                severity: opt_string(cx, &a, "severity"),
                at: a.at(),
            })
        });
    }
    m
}

fn kinds(cx: &mut Cx, node: &Node, path: &str) -> Vec<ChangeKind> {
    let names = cx.strings(node, path);
    let mut out = Vec::new();
    let items: Vec<&Node> = match &node.kind {
        Kind::Seq(s) => s.iter().collect(),
        _ => vec![node],
    };
    for (i, name) in names.iter().enumerate() {
        match ChangeKind::parse(&name.to_ascii_lowercase()) {
            Some(k) => out.push(k),
            None => {
                let loc = items.get(i).map_or(node.loc, |n| n.loc);
                let help = match crate::decode::did_you_mean(name, ["release", "config", "ops"]) {
                    Some(s) => format!("did you mean `{s}`? (one of: release, config, ops)"),
                    None => "use release, config or ops".to_string(),
                };
                cx.error(
                    "E013",
                    &format!("{path}[{i}]"),
                    loc,
                    format!("`{name}` is not a change kind"),
                    Some(help),
                );
            }
        }
    }
    out
}

fn freeze(cx: &mut Cx, node: &Node) -> Freeze {
    let mut f = Freeze::default();
    let Some(o) = cx.obj(node, "freeze", &["windows", "approvers"]) else {
        return f;
    };
    f.at = o.at();
    if let Some(n) = o.get("windows") {
        f.windows = named(cx, n, "freeze.windows", |cx, n, p| {
            let w = cx.obj(n, p, &["start", "end", "kinds", "services", "reason"])?;
            let window = inline_window(cx, &w, p);
            let kinds = w
                .with(cx, "kinds", |cx, n, p| Some(kinds(cx, n, p)))
                .unwrap_or_default();
            Some(FreezeWindow {
                window: window?,
                kinds,
                services: w
                    .with(cx, "services", |cx, n, p| Some(cx.strings(n, p)))
                    .unwrap_or_default(),
                reason: opt_string(cx, &w, "reason"),
                at: w.at(),
            })
        });
    }
    f.approvers = o
        .with(cx, "approvers", |cx, n, p| Some(cx.strings(n, p)))
        .unwrap_or_default();
    f
}

fn gray(cx: &mut Cx, node: &Node) -> Gray {
    let mut g = Gray::default();
    let Some(o) = cx.obj(node, "gray", &["releases"]) else {
        return g;
    };
    g.at = o.at();
    if let Some(n) = o.get("releases") {
        g.releases = named(cx, n, "gray.releases", |cx, n, p| {
            let r = cx.obj(
                n,
                p,
                &[
                    "feature",
                    "service",
                    "whitelist",
                    "whitelist_file",
                    "header",
                    "percent",
                    "isolation",
                    "window",
                ],
            )?;
            let feature = req_string(cx, &r, "feature", "the feature being released");
            let service = req_string(
                cx,
                &r,
                "service",
                "the id of the service that serves the feature",
            );
            let percent = r.with(cx, "percent", |cx, n, p| {
                let v = cx.num(n, p)?;
                if !(0.0..=100.0).contains(&v) {
                    cx.error(
                        "E031",
                        p,
                        n.loc,
                        format!("`{p}` must be between 0 and 100, found {v}"),
                        Some("write a percentage such as 5".to_string()),
                    );
                    return None;
                }
                Some(v)
            });
            let isolation = r
                .with(cx, "isolation", |cx, n, p| {
                    cx.choice(n, p, &["none", "shadow"])
                })
                .map(|i| [GrayIsolation::None, GrayIsolation::Shadow][i])
                .unwrap_or_default();
            Some(GrayRelease {
                feature: feature?,
                service: service?,
                whitelist: r
                    .with(cx, "whitelist", |cx, n, p| Some(cx.strings(n, p)))
                    .unwrap_or_default(),
                whitelist_file: opt_string(cx, &r, "whitelist_file"),
                header: opt_string(cx, &r, "header"),
                percent: percent.unwrap_or(0.0),
                isolation,
                window: r.with(cx, "window", window),
                at: r.at(),
            })
        });
    }
    g
}

fn oncall(cx: &mut Cx, node: &Node) -> Oncall {
    let mut oc = Oncall::default();
    let Some(o) = cx.obj(
        node,
        "oncall",
        &["rota", "channels", "ack_timeout", "escalation_rounds"],
    ) else {
        return oc;
    };
    oc.at = o.at();
    if let Some(t) = checked(cx, &o, "ack_timeout", Cx::duration, |p, v| {
        (v < MIN_ACK_TIMEOUT_SECONDS).then(|| Refusal {
            code: "E030",
            message: format!("`{p}` must be at least 1 s, found {v} s"),
            help: "write how long a page waits for an acknowledgement before the next person is paged, e.g. `5m`",
        })
    }) {
        oc.ack_timeout_seconds = t;
    }
    oc.escalation_rounds = checked(cx, &o, "escalation_rounds", Cx::count, |p, v| {
        (v == 0).then(|| Refusal {
            code: "E030",
            message: format!("`{p}` must be at least 1"),
            help: "leave `escalation_rounds` out to page until someone acknowledges",
        })
    });
    if let Some(n) = o.get("rota") {
        let p = o.path("rota");
        for (i, sn) in cx.list(n, &p).iter().enumerate() {
            let sp = format!("{p}[{i}]");
            let Some(s) = cx.obj(sn, &sp, &["lines", "start", "end", "primary", "secondary"])
            else {
                continue;
            };
            let window = inline_window(cx, &s, &sp);
            let primary = req_string(cx, &s, "primary", "the id of the person on first call");
            let lines = s
                .with(cx, "lines", |cx, n, p| Some(cx.strings(n, p)))
                .unwrap_or_default();
            let secondary = opt_string(cx, &s, "secondary");
            if let (Some(window), Some(primary)) = (window, primary) {
                oc.rota.push(Shift {
                    lines,
                    window,
                    primary,
                    secondary,
                    at: s.at(),
                });
            }
        }
    }
    if let Some(n) = o.get("channels") {
        for (id, cn) in cx.named(n, "oncall.channels") {
            let cp = item_path("oncall.channels", &id);
            let Some(c) = cx.obj(cn, &cp, &["kind", "group", "webhook", "secret_env"]) else {
                continue;
            };
            let kind = c
                .req(cx, "kind", "one of lark, dingtalk, wecom, slack, webhook")
                .and_then(|n| {
                    cx.choice(
                        n,
                        &c.path("kind"),
                        &["lark", "dingtalk", "wecom", "slack", "webhook"],
                    )
                })
                .map(|i| ["lark", "dingtalk", "wecom", "slack", "webhook"][i].to_string());
            let webhook = opt_string(cx, &c, "webhook");
            if let (Some(url), Some(n)) = (&webhook, c.get("webhook"))
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                cx.error(
                    "E013",
                    &c.path("webhook"),
                    n.loc,
                    format!("`{url}` is not an http(s) URL"),
                    Some("paste the webhook URL of the IM group's bot".to_string()),
                );
            }
            let secret_env = secret_ref(cx, &c, "secret_env");
            if let Some(kind) = kind {
                oc.channels.push(Channel {
                    id,
                    kind,
                    group: opt_string(cx, &c, "group"),
                    webhook,
                    secret_env,
                    at: c.at(),
                });
            }
        }
    }
    oc
}

/// Why a value that decoded is still refused.
struct Refusal {
    code: &'static str,
    message: String,
    help: &'static str,
}

/// The optional `key` read with `read`, then refused (and `None`) when
/// `refuse(path, value)` says why, at the value's location.
fn checked<T: Copy>(
    cx: &mut Cx,
    o: &Obj<'_>,
    key: &str,
    read: impl FnOnce(&mut Cx, &Node, &str) -> Option<T>,
    refuse: impl FnOnce(&str, T) -> Option<Refusal>,
) -> Option<T> {
    let n = o.get(key)?;
    let p = o.path(key);
    let v = read(cx, n, &p)?;
    match refuse(&p, v) {
        Some(r) => {
            cx.error(r.code, &p, n.loc, r.message, Some(r.help.to_string()));
            None
        }
        None => Some(v),
    }
}

/// An optional secret reference (`NAME`, `$NAME`, `${NAME}`, `file:/path`,
/// as `seawall-notify` reads them); anything else may be a secret pasted in
/// clear and is E081, without repeating the value.
fn secret_ref(cx: &mut Cx, o: &Obj<'_>, key: &str) -> Option<String> {
    let v = opt_string(cx, o, key)?;
    if crate::outbound::is_secret_reference(&v) {
        return Some(v);
    }
    let p = o.path(key);
    cx.error(
        "E081",
        &p,
        o.get(key).map_or(o.loc, |n| n.loc),
        format!("`{p}` is not a secret reference; a secret must not be written in the plan"),
        Some("name the environment variable that holds it (`SEAWALL_HOOK_SECRET`, upper case) or a file (`file:/run/secrets/hook`), and rotate the secret if it was real".to_string()),
    );
    None
}

/// `emergency`: plan-wide settings of emergency actions.
fn emergency(cx: &mut Cx, node: &Node) -> EmergencyPolicy {
    let mut e = EmergencyPolicy::default();
    let Some(o) = cx.obj(node, "emergency", &["allow_hosts"]) else {
        return e;
    };
    e.at = o.at();
    if let Some(n) = o.get("allow_hosts") {
        let p = o.path("allow_hosts");
        for (i, hn) in cx.list(n, &p).iter().enumerate() {
            let hp = format!("{p}[{i}]");
            let Some(h) = cx.string(hn, &hp) else {
                continue;
            };
            match crate::outbound::parse_allow(&h) {
                Ok(_) => e.allow_hosts.push(h),
                Err(why) => cx.error(
                    "E013",
                    &hp,
                    hn.loc,
                    format!("`{h}` is not a host name, IP address or CIDR range: {why}"),
                    Some(
                        "write e.g. `warm.internal.example.com`, `127.0.0.1` or `10.0.0.0/8`"
                            .to_string(),
                    ),
                ),
            }
        }
    }
    e
}

fn trigger(cx: &mut Cx, node: &Node, path: &str) -> Option<Trigger> {
    if let Kind::Str(s) = &node.kind {
        if s.eq_ignore_ascii_case("manual") {
            return Some(Trigger::Manual);
        }
        cx.error(
            "E013",
            path,
            node.loc,
            format!("`{s}` is not a trigger"),
            Some("write `manual`, `{alert: <alert id>}` or `{target: <id>, metric: water_level, above: 0.9, for: 1m}`".to_string()),
        );
        return None;
    }
    let o = cx.obj(node, path, TRIGGER_KEYS)?;
    if let Some(n) = o.get("alert") {
        return cx.string(n, &o.path("alert")).map(Trigger::Alert);
    }
    let target = req_string(cx, &o, "target", "the id of an entry, service or partner");
    let metric = o
        .req(cx, "metric", "one of water_level, qps, p99_ms, error_rate")
        .and_then(|n| cx.choice(n, &o.path("metric"), &METRICS[..4]))
        .map(|i| METRIC_VALUES[i]);
    let above = o
        .req(cx, "above", "the threshold")
        .and_then(|n| cx.num(n, &o.path("above")));
    Some(Trigger::Metric {
        target: target?,
        metric: metric?,
        above: above?,
        for_seconds: o
            .with(cx, "for", |cx, n, p| cx.duration(n, p))
            .unwrap_or(0.0),
    })
}

const TRIGGER_KEYS: &[&str] = &["alert", "target", "metric", "above", "for"];

const ACTIONS: [&str; 7] = [
    "scale",
    "rate_limit",
    "degrade",
    "cache_warmup",
    "fallback",
    "notify",
    "webhook",
];

/// One action and where it is written.
fn action(cx: &mut Cx, node: &Node, path: &str) -> Option<(Action, At)> {
    let o = cx.obj(
        node,
        path,
        &[
            "kind",
            "service",
            "instances",
            "entry",
            "qps",
            "switch",
            "keys",
            "target",
            "channel",
            "message",
            "url",
            "method",
            "body",
            "urls",
            "rate",
            "secret_env",
            "timeout",
            "retries",
        ],
    )?;
    let kind = o
        .req(
            cx,
            "kind",
            "one of scale, rate_limit, degrade, cache_warmup, fallback, notify, webhook",
        )
        .and_then(|n| cx.choice(n, &o.path("kind"), &ACTIONS))?;
    let svc = |cx: &mut Cx| req_string(cx, &o, "service", "the id of a service");
    // Each URL's own location, as `urls[i]`, so a refused host is pointed at.
    let mut at = o.at();
    let a = match ACTIONS[kind] {
        "scale" => {
            let service = svc(cx);
            let instances = o
                .req(cx, "instances", "the instance count to scale to")
                .and_then(|n| cx.count(n, &o.path("instances")));
            Action::Scale {
                service: service?,
                instances: instances?,
            }
        }
        "rate_limit" => {
            let entry = req_string(cx, &o, "entry", "the id of an entry");
            let qps = o
                .req(cx, "qps", "the limit in QPS")
                .and_then(|n| cx.positive(n, &o.path("qps")));
            Action::RateLimit {
                entry: entry?,
                qps: qps?,
            }
        }
        "degrade" => {
            let service = svc(cx);
            let switch = req_string(cx, &o, "switch", "the name of the degradation switch");
            Action::Degrade {
                service: service?,
                switch: switch?,
            }
        }
        "cache_warmup" => {
            let service = svc(cx);
            let mut urls = Vec::new();
            if let Some(n) = o.get("urls") {
                let p = o.path("urls");
                for (i, un) in cx.list(n, &p).iter().enumerate() {
                    let up = format!("{p}[{i}]");
                    at.fields.push((format!("urls[{i}]"), un.loc));
                    if let Some(u) = cx.string(un, &up) {
                        if let Err(why) = crate::outbound::url_host(&u) {
                            bad_url(cx, &up, un.loc, &u, &why);
                        }
                        urls.push(u);
                    }
                }
            }
            let rate = checked(cx, &o, "rate", Cx::positive, |p, v| {
                (v > MAX_WARMUP_RATE).then(|| Refusal {
                    code: "E031",
                    message: format!("`{p}` must be at most {MAX_WARMUP_RATE} requests per second, found {v}"),
                    help: "warm at a rate the service can take beside live traffic; 1000 per second at most",
                })
            })
            .unwrap_or(DEFAULT_WARMUP_RATE);
            Action::CacheWarmup {
                service: service?,
                keys: opt_string(cx, &o, "keys"),
                urls,
                rate,
            }
        }
        "fallback" => Action::Fallback {
            target: req_string(
                cx,
                &o,
                "target",
                "the id of the service or partner to fall back from",
            )?,
        },
        "notify" => Action::Notify {
            channel: req_string(cx, &o, "channel", "the id of an on-call channel")?,
            message: opt_string(cx, &o, "message"),
        },
        _ => {
            let url = req_string(cx, &o, "url", "the URL to call");
            if let (Some(u), Some(n)) = (&url, o.get("url"))
                && let Err(why) = crate::outbound::url_host(u)
            {
                bad_url(cx, &o.path("url"), n.loc, u, &why);
            }
            let timeout_seconds = checked(cx, &o, "timeout", Cx::duration, |p, v| {
                (v <= 0.0).then(|| Refusal {
                    code: "E030",
                    message: format!("`{p}` must be greater than 0"),
                    help: "write how long one attempt may take, e.g. `5s`",
                })
            })
            .unwrap_or(DEFAULT_WEBHOOK_TIMEOUT_SECONDS);
            let retries = checked(cx, &o, "retries", Cx::count, |p, v| {
                (v > MAX_WEBHOOK_RETRIES).then(|| Refusal {
                    code: "E031",
                    message: format!("`{p}` must be from 0 to {MAX_WEBHOOK_RETRIES}, found {v}"),
                    help: "retries back off between attempts; more than 5 outlast an emergency",
                })
            })
            .unwrap_or(DEFAULT_WEBHOOK_RETRIES);
            Action::Webhook {
                url: url?,
                method: opt_string(cx, &o, "method").unwrap_or_else(|| "POST".to_string()),
                body: opt_string(cx, &o, "body"),
                secret_env: secret_ref(cx, &o, "secret_env"),
                timeout_seconds,
                retries,
            }
        }
    };
    Some((a, at))
}

/// E013 for a URL an action cannot call.
fn bad_url(cx: &mut Cx, path: &str, loc: crate::diag::Loc, url: &str, why: &str) {
    cx.error(
        "E013",
        path,
        loc,
        format!("`{url}` {why}"),
        Some("write an absolute URL such as `https://warm.example.com/cache/coupons`".to_string()),
    );
}

fn emergency_plan(cx: &mut Cx, node: &Node, path: &str) -> Option<EmergencyPlan> {
    let o = cx.obj(
        node,
        path,
        &[
            "name",
            "phase",
            "line",
            "trigger",
            "actions",
            "impact",
            "owner",
            "expected_minutes",
            "approval",
            "drills",
            "drill",
        ],
    )?;
    let phase = o
        .req(cx, "phase", "one of pre, during, post")
        .and_then(|n| cx.choice(n, &o.path("phase"), &["pre", "during", "post"]))
        .map(|i| [PlanPhase::Pre, PlanPhase::During, PlanPhase::Post][i]);
    let mut actions = Vec::new();
    let mut action_at = Vec::new();
    if let Some(n) = o.get("actions") {
        let p = o.path("actions");
        for (i, an) in cx.list(n, &p).iter().enumerate() {
            if let Some((a, at)) = action(cx, an, &format!("{p}[{i}]")) {
                actions.push(a);
                action_at.push(at);
            }
        }
    }
    let trigger_at = o
        .get("trigger")
        .filter(|n| matches!(n.kind, Kind::Map(_)))
        .and_then(|n| cx.obj(n, &o.path("trigger"), TRIGGER_KEYS))
        .map(|t| t.at());
    let mut drills = Vec::new();
    if let Some(n) = o.get("drills") {
        let p = o.path("drills");
        for (i, dn) in cx.list(n, &p).iter().enumerate() {
            let dp = format!("{p}[{i}]");
            let Some(d) = cx.obj(dn, &dp, &["at", "minutes", "passed", "notes"]) else {
                continue;
            };
            let at_time = d
                .req(cx, "at", "when the drill ran")
                .and_then(|n| cx.time(n, &d.path("at")));
            let minutes = d.with(cx, "minutes", |cx, n, p| cx.non_negative(n, p));
            let passed = d
                .with(cx, "passed", |cx, n, p| cx.boolean(n, p))
                .unwrap_or(true);
            if let Some(at_time) = at_time {
                drills.push(Drill {
                    at_time,
                    minutes,
                    passed,
                    notes: opt_string(cx, &d, "notes"),
                    at: d.at(),
                });
            }
        }
    }
    Some(EmergencyPlan {
        name: opt_string(cx, &o, "name"),
        phase: phase?,
        line: opt_string(cx, &o, "line"),
        trigger: o.with(cx, "trigger", trigger),
        actions,
        action_at,
        trigger_at,
        impact: opt_string(cx, &o, "impact"),
        owner: opt_string(cx, &o, "owner"),
        expected_minutes: o.with(cx, "expected_minutes", |cx, n, p| cx.positive(n, p)),
        approval: o
            .with(cx, "approval", |cx, n, p| {
                cx.choice(n, p, &Approval::ALL.map(Approval::as_str))
            })
            .map(|i| Approval::ALL[i])
            .unwrap_or_default(),
        drills,
        drill: o.with(cx, "drill", drill_spec),
        at: o.at(),
    })
}

/// `emergency_plans.<id>.drill`: `{fault, expect, scenario, lease}`.
fn drill_spec(cx: &mut Cx, node: &Node, path: &str) -> Option<DrillSpec> {
    let o = cx.obj(node, path, &["fault", "expect", "scenario", "lease"])?;
    let expect = o
        .with(cx, "expect", |cx, n, p| {
            cx.choice(n, p, &DrillExpect::ALL.map(DrillExpect::as_str))
        })
        .map(|i| DrillExpect::ALL[i]);
    let lease_seconds = match o.get("lease") {
        None => Some(DEFAULT_DRILL_LEASE_SECONDS),
        Some(n) => {
            let p = o.path("lease");
            cx.duration(n, &p).and_then(|s| {
                if s > 0.0 && s <= MAX_DRILL_LEASE_SECONDS {
                    Some(s)
                } else {
                    cx.error(
                        "E031",
                        &p,
                        n.loc,
                        format!("`{p}` must be more than 0 and at most 1h, found {s} s"),
                        Some("a fault's lease is short: write e.g. `lease: 10m`".to_string()),
                    );
                    None
                }
            })
        }
    };
    let fault_node = o.req(cx, "fault", "the fault to inject: {entry|service|sim: …}")?;
    let fp = o.path("fault");
    let f = cx.obj(
        fault_node,
        &fp,
        &[
            "entry",
            "service",
            "sim",
            "delay_ms",
            "abort_status",
            "percent",
            "kind",
            "ms",
            "ratio",
        ],
    )?;
    let named: Vec<&str> = ["entry", "service", "sim"]
        .into_iter()
        .filter(|k| f.get(k).is_some())
        .collect();
    if named.len() != 1 {
        let (code, msg) = if named.is_empty() {
            ("E011", format!("`{fp}` names no target"))
        } else {
            (
                "E013",
                format!("`{fp}` names {} targets: {}", named.len(), named.join(", ")),
            )
        };
        cx.error(
            code,
            &fp,
            f.loc,
            msg,
            Some(
                "name exactly one of `entry` or `service` (the guard's fault on tagged traffic) \
                 or `sim` (the simulator's drill switch)"
                    .to_string(),
            ),
        );
        return None;
    }
    let fault = if named[0] == "sim" {
        let node = req_string(cx, &f, "sim", "a service or partner id")?;
        let kind = f
            .req(cx, "kind", "slow or fail")
            .and_then(|n| cx.choice(n, &f.path("kind"), &["slow", "fail"]))?;
        let kind = if kind == 0 {
            let ms = f
                .req(cx, "ms", "the added latency in milliseconds")
                .and_then(|n| cx.non_negative(n, &f.path("ms")))?;
            SimFaultKind::Slow { ms }
        } else {
            let ratio = f
                .req(cx, "ratio", "the share of requests that fail, 0 to 1")
                .and_then(|n| cx.unit(n, &f.path("ratio")))?;
            SimFaultKind::Fail { ratio }
        };
        DrillFault::Sim { node, kind }
    } else {
        let id = req_string(cx, &f, named[0], "an id")?;
        let target = if named[0] == "entry" {
            FaultTarget::Entry(id)
        } else {
            FaultTarget::Service(id)
        };
        let delay_ms = f
            .with(cx, "delay_ms", |cx, n, p| cx.non_negative(n, p))
            .map(|v| v.round() as u64);
        let abort_status = f.with(cx, "abort_status", |cx, n, p| {
            let v = cx.num(n, p)?;
            if v.fract() == 0.0 && (100.0..=599.0).contains(&v) {
                Some(v as u16)
            } else {
                cx.error(
                    "E031",
                    p,
                    n.loc,
                    format!("`{p}` must be an HTTP status (100–599), found {v}"),
                    Some("write e.g. `abort_status: 503`".to_string()),
                );
                None
            }
        });
        let percent = f.with(cx, "percent", |cx, n, p| {
            let v = cx.num(n, p)?;
            if v > 0.0 && v <= 100.0 {
                Some(v)
            } else {
                cx.error(
                    "E031",
                    p,
                    n.loc,
                    format!("`{p}` must be more than 0 and at most 100, found {v}"),
                    Some(
                        "write the share of tagged requests to fault, e.g. `percent: 50`"
                            .to_string(),
                    ),
                );
                None
            }
        });
        if f.get("delay_ms").is_some() && f.get("abort_status").is_some() {
            cx.error(
                "E013",
                &fp,
                f.loc,
                format!("`{fp}` has both `delay_ms` and `abort_status`"),
                Some(
                    "a fault either delays (`delay_ms`) or fails (`abort_status`): keep one"
                        .to_string(),
                ),
            );
            return None;
        }
        if delay_ms.is_none() && abort_status.is_none() {
            if f.get("delay_ms").is_none() && f.get("abort_status").is_none() {
                cx.error(
                    "E011",
                    &fp,
                    f.loc,
                    format!("`{fp}` has neither `delay_ms` nor `abort_status`"),
                    Some("add `delay_ms: 300` (slow) or `abort_status: 503` (failing)".to_string()),
                );
            }
            return None;
        }
        DrillFault::Guard {
            target,
            delay_ms,
            abort_status,
            percent: match f.get("percent") {
                Some(_) => percent?,
                None => 100.0,
            },
        }
    };
    Some(DrillSpec {
        fault,
        expect: match o.get("expect") {
            Some(_) => expect?,
            None => DrillExpect::Hold,
        },
        scenario: opt_string(cx, &o, "scenario"),
        lease_seconds: lease_seconds?,
        at: o.at(),
        fault_at: f.at(),
    })
}

fn rate_spec(cx: &mut Cx, node: &Node, path: &str) -> Option<RateSpec> {
    if let Kind::Str(s) = &node.kind {
        let t = s.trim();
        if let Some(m) = t.strip_suffix(['x', 'X'])
            && let Ok(v) = m.trim().parse::<f64>()
            && v.is_finite()
            && v > 0.0
        {
            return Some(RateSpec::TargetMultiple(v));
        }
        cx.error(
            "E013",
            path,
            node.loc,
            format!("`{s}` is not a rate"),
            Some("write a multiple of the plan's targets such as \"1.2x\", or journeys per second as a number".to_string()),
        );
        return None;
    }
    cx.positive(node, path).map(RateSpec::PerSecond)
}

fn scenario(cx: &mut Cx, node: &Node, path: &str) -> Option<Scenario> {
    let o = cx.obj(
        node,
        path,
        &[
            "mix", "rate", "search", "stages", "duration", "arrival", "guards", "tag", "data",
            "drills",
        ],
    )?;
    let mut mix = IndexMap::new();
    if let Some(n) = o.req(
        cx,
        "mix",
        "journey weights, e.g. `{ride: 0.8, coupon: 0.2}`",
    ) {
        let mp = o.path("mix");
        for (id, wn) in cx.named(n, &mp) {
            if let Some(w) = cx.positive(wn, &item_path(&mp, &id)) {
                mix.insert(id, w);
            }
        }
    }
    let rate = o.with(cx, "rate", rate_spec);
    let search = o.with(cx, "search", |cx, n, p| {
        let s = cx.obj(
            n,
            p,
            &["start", "step", "max", "step_duration", "hold", "cooldown"],
        )?;
        let start = s
            .with(cx, "start", |cx, n, p| cx.positive(n, p))
            .unwrap_or(0.5);
        let step = s
            .with(cx, "step", |cx, n, p| cx.positive(n, p))
            .unwrap_or(0.25);
        let max = s
            .with(cx, "max", |cx, n, p| cx.positive(n, p))
            .unwrap_or(3.0);
        if max < start {
            cx.error(
                "E031",
                &s.path("max"),
                s.get("max").map_or(s.loc, |n| n.loc),
                format!("search `max` ({max}) is below `start` ({start})"),
                Some("make `max` at least `start`".to_string()),
            );
            return None;
        }
        Some(Search {
            start,
            step,
            max,
            step_seconds: s
                .with(cx, "step_duration", |cx, n, p| cx.duration(n, p))
                .unwrap_or(30.0),
            hold_seconds: s
                .with(cx, "hold", |cx, n, p| cx.duration(n, p))
                .unwrap_or(60.0),
            cooldown_seconds: s
                .with(cx, "cooldown", |cx, n, p| cx.duration(n, p))
                .unwrap_or(0.0),
        })
    });
    let mut stages = Vec::new();
    if let Some(n) = o.get("stages") {
        let p = o.path("stages");
        for (i, sn) in cx.list(n, &p).iter().enumerate() {
            let sp = format!("{p}[{i}]");
            let Some(s) = cx.obj(sn, &sp, &["rate", "duration"]) else {
                continue;
            };
            let rate = s
                .req(cx, "rate", "the rate at the end of the stage")
                .and_then(|n| rate_spec(cx, n, &s.path("rate")));
            let secs = s
                .req(cx, "duration", "the stage's length, e.g. 2m")
                .and_then(|n| cx.duration(n, &s.path("duration")));
            if let (Some(rate), Some(seconds)) = (rate, secs) {
                stages.push(Stage { rate, seconds });
            }
        }
    }
    if rate.is_none()
        && search.is_none()
        && stages.is_empty()
        && o.get("rate").is_none()
        && o.get("search").is_none()
        && o.get("stages").is_none()
    {
        cx.error(
            "E011",
            path,
            o.loc,
            format!("scenario `{path}` has no `rate`, `search` or `stages`"),
            Some(
                "add `rate: \"1.0x\"` for a fixed rate, or `search: {}` to find capacity"
                    .to_string(),
            ),
        );
    }
    let arrival = o
        .with(cx, "arrival", |cx, n, p| {
            cx.choice(n, p, &["constant", "poisson"])
        })
        .map(|i| [Arrival::Constant, Arrival::Poisson][i])
        .unwrap_or_default();
    let guards = o
        .with(cx, "guards", |cx, n, p| {
            let g = cx.obj(n, p, &["error_rate", "p99_ms", "window"])?;
            Some(Guards {
                error_rate: g.with(cx, "error_rate", |cx, n, p| cx.unit(n, p)),
                p99_ms: g.with(cx, "p99_ms", |cx, n, p| cx.positive(n, p)),
                window_seconds: g
                    .with(cx, "window", |cx, n, p| cx.duration(n, p))
                    .unwrap_or(10.0),
            })
        })
        .unwrap_or(Guards {
            window_seconds: 10.0,
            ..Guards::default()
        });
    let tag = o
        .with(cx, "tag", |cx, n, p| {
            let t = cx.obj(n, p, &["header", "baggage"])?;
            let d = Tag::default();
            Some(Tag {
                header: opt_string(cx, &t, "header").unwrap_or(d.header),
                baggage_key: opt_string(cx, &t, "baggage").unwrap_or(d.baggage_key),
            })
        })
        .unwrap_or_default();
    let data = string_map(cx, &o, "data");
    Some(Scenario {
        mix,
        rate,
        search,
        stages,
        duration_seconds: o.with(cx, "duration", |cx, n, p| cx.duration(n, p)),
        arrival,
        guards,
        tag,
        data,
        drills: o
            .with(cx, "drills", |cx, n, p| Some(cx.strings(n, p)))
            .unwrap_or_default(),
        at: o.at(),
    })
}
