//! The readiness scorecard: is each business line — and the event — ready to go?
//!
//! The guarantee group decides go / no-go from one page; this module folds
//! link findings, the water-level table, emergency-plan drills and on-call
//! coverage into that page, with a written reason for every no-go.
//!
//! Attribution: a finding, service, entry or emergency plan belongs to the
//! business lines that own it (a service's `line` plus every business line
//! that lists it under `services`; an entry through its service; an
//! emergency plan through its `line`). What belongs to no line — partners,
//! monitoring, the event itself, services without a line — goes to a
//! separate **event** row ([`Readiness::event`]) rather than being copied
//! into every line, so counts add up. The event row can say no-go on its
//! own, and the overall verdict is go only when every line *and* the event
//! row are go. Emergency plans without a line count towards every line's
//! drill coverage (and are also shown on the event row). When the plan has
//! no business lines, one pseudo line [`oncall::ALL_LINES`] owns everything
//! that is not event-wide.

use serde::Serialize;

use crate::capacity::{CapacityTable, Row, Status};
use crate::diag::Severity;
use crate::links::Finding;
use crate::model::Plan;
use crate::oncall::{self, ALL_LINES, CoverageGap};
use crate::targets::Targets;
use crate::time::format_time;

/// Id of the event-wide row.
pub const EVENT_ROW: &str = "event";

/// The whole scorecard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Readiness {
    /// Go only when every line and the event row are go.
    pub go: bool,
    /// One row per business line, in plan order (or the pseudo line
    /// [`ALL_LINES`] when the plan has none).
    pub lines: Vec<LineReadiness>,
    /// What belongs to no business line (id [`EVENT_ROW`]).
    pub event: LineReadiness,
    /// Every no-go reason of every row, prefixed with the row id.
    pub reasons: Vec<String>,
}

/// Readiness of one business line (or of the event-wide row).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineReadiness {
    /// Business line id, [`ALL_LINES`] or [`EVENT_ROW`].
    pub line: String,
    /// Display name.
    pub name: String,
    /// No error finding, no critical water level, no scaling need and no
    /// on-call gap in the peak phase.
    pub go: bool,
    /// Σ target QPS of the row's entries.
    pub target_qps: f64,
    /// Link findings attributed to the row.
    pub findings: FindingCounts,
    /// Services of the row that need scaling.
    pub scaling: Vec<ScalingNeed>,
    /// Entries and services of the row at a critical water level.
    pub critical: Vec<CriticalLevel>,
    /// Drill coverage of the row's emergency plans.
    pub emergency_plans: DrillCoverage,
    /// Stretches of peak, freeze and freeze windows without a primary on call.
    pub coverage_gaps: Vec<CoverageGap>,
    /// Why the row is no-go (empty when go).
    pub reasons: Vec<String>,
}

/// Finding counts by severity; accepted findings are counted apart.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct FindingCounts {
    /// Non-accepted errors.
    pub error: usize,
    /// Non-accepted warnings.
    pub warning: usize,
    /// Non-accepted infos.
    pub info: usize,
    /// Accepted findings of any severity (not counted above).
    pub accepted: usize,
}

/// A service whose required capacity exceeds its capacity.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScalingNeed {
    /// Service id.
    pub service: String,
    /// Target QPS.
    pub target_qps: f64,
    /// Capacity QPS, when known.
    pub capacity_qps: Option<f64>,
    /// Instances now.
    pub instances: Option<u32>,
    /// Instances needed for target plus headroom.
    pub instances_needed: Option<u32>,
}

/// An entry or service at a critical water level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriticalLevel {
    /// `entry` or `service`.
    pub kind: &'static str,
    /// Entry or service id.
    pub id: String,
    /// Target over capacity.
    pub water_level: Option<f64>,
}

/// How many of a row's emergency plans were drilled successfully.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct DrillCoverage {
    /// Plans with at least one passed drill.
    pub drilled: usize,
    /// All plans of the row.
    pub total: usize,
    /// Ids of plans without a passed drill, in plan order.
    pub undrilled: Vec<String>,
}

/// Build the scorecard from the plan and its analyses.
pub fn scorecard(
    plan: &Plan,
    targets: &Targets,
    table: &CapacityTable,
    findings: &[Finding],
) -> Readiness {
    let gaps = oncall::gaps(plan);
    let mut rows: Vec<LineReadiness> = oncall::lines(plan)
        .into_iter()
        .map(|(id, name)| empty_row(id, name))
        .collect();
    let mut event = empty_row(EVENT_ROW.to_string(), "Event-wide".to_string());
    let mut error_refs: Vec<Vec<String>> = vec![Vec::new(); rows.len() + 1];

    // Target QPS through each entry's service.
    for e in &targets.entries {
        for_rows(
            &service_lines(plan, &e.service),
            &mut rows,
            &mut event,
            |r| {
                r.target_qps += e.target_qps;
            },
        );
    }

    // Findings.
    for f in findings {
        let owners = lines_of_path(plan, &f.location.path);
        for slot in slots(&rows, &owners) {
            let event_slot = rows.len();
            let (row, refs) = match slot {
                Some(i) => (&mut rows[i], &mut error_refs[i]),
                None => (&mut event, &mut error_refs[event_slot]),
            };
            if f.accepted.is_some() {
                row.findings.accepted += 1;
                continue;
            }
            match f.severity {
                Severity::Error => {
                    row.findings.error += 1;
                    refs.push(format!("{} at {}", f.rule, f.location.path));
                }
                Severity::Warning => row.findings.warning += 1,
                Severity::Info => row.findings.info += 1,
            }
        }
    }

    // Scaling needs and critical levels of services.
    for r in &table.services {
        let owners = service_lines(plan, &r.id);
        for_rows(&owners, &mut rows, &mut event, |row| {
            if r.needs_scaling {
                row.scaling.push(scaling_need(r));
            }
            if r.status == Status::Critical {
                row.critical.push(critical("service", r));
            }
        });
    }
    // Critical levels of entries.
    for r in &table.entries {
        let owners = plan
            .entries
            .get(&r.id)
            .map(|e| service_lines(plan, &e.service))
            .unwrap_or_default();
        for_rows(&owners, &mut rows, &mut event, |row| {
            if r.status == Status::Critical {
                row.critical.push(critical("entry", r));
            }
        });
    }

    // Emergency plans: plans without a line count for every line (and show on
    // the event row).
    for (id, ep) in &plan.emergency_plans {
        let drilled = ep.drills.iter().any(|d| d.passed);
        let count = |c: &mut DrillCoverage| {
            c.total += 1;
            if drilled {
                c.drilled += 1;
            } else {
                c.undrilled.push(id.clone());
            }
        };
        match ep.line.as_deref() {
            None => {
                rows.iter_mut().for_each(|r| count(&mut r.emergency_plans));
                count(&mut event.emergency_plans);
            }
            Some(line) => {
                for_rows(&known_lines(plan, [line]), &mut rows, &mut event, |r| {
                    count(&mut r.emergency_plans)
                });
            }
        }
    }

    // On-call gaps (lines only; gaps are computed per line).
    for g in gaps {
        if let Some(row) = rows.iter_mut().find(|r| r.line == g.line) {
            row.coverage_gaps.push(g);
        }
    }

    // Verdicts.
    let event_slot = rows.len();
    for (i, row) in rows.iter_mut().enumerate() {
        judge(row, &error_refs[i], plan);
    }
    judge(&mut event, &error_refs[event_slot], plan);

    let mut reasons = Vec::new();
    for row in rows.iter().chain(std::iter::once(&event)) {
        for r in &row.reasons {
            reasons.push(format!("{}: {r}", row.line));
        }
    }
    Readiness {
        go: rows.iter().all(|r| r.go) && event.go,
        lines: rows,
        event,
        reasons,
    }
}

/// The business lines a plan item at YAML `path` belongs to; empty when it
/// is event-wide.
///
/// `entries.<id>…` → the entry's service's lines; `services.<id>…` → the
/// service's lines; `emergency_plans.<id>…` → the plan's line;
/// `organization.business_lines.<id>…` → that line. With no business lines,
/// everything but the event-wide remainder belongs to [`ALL_LINES`].
pub fn lines_of_path(plan: &Plan, path: &str) -> Vec<String> {
    if let Some(id) = item_in(path, "entries", &plan.entries) {
        return plan
            .entries
            .get(id)
            .map(|e| service_lines(plan, &e.service))
            .unwrap_or_default();
    }
    if let Some(id) = item_in(path, "services", &plan.services) {
        return service_lines(plan, id);
    }
    if let Some(id) = item_in(path, "emergency_plans", &plan.emergency_plans) {
        return match plan.emergency_plans.get(id).and_then(|p| p.line.as_ref()) {
            Some(line) => known_lines(plan, [line.as_str()]),
            None => Vec::new(),
        };
    }
    let lines = &plan.organization.business_lines;
    if let Some(id) = item_in(path, "organization.business_lines", lines) {
        return vec![id.clone()];
    }
    Vec::new()
}

/// The business lines that own service `id`: its `line` plus every line
/// listing it under `services` (only lines the plan defines), in plan order
/// of the lines; `[ALL_LINES]` when the plan has no business lines.
pub fn service_lines(plan: &Plan, id: &str) -> Vec<String> {
    if plan.organization.business_lines.is_empty() {
        return vec![ALL_LINES.to_string()];
    }
    let own = plan.services.get(id).and_then(|s| s.line.as_deref());
    plan.organization
        .business_lines
        .iter()
        .filter(|(lid, l)| own == Some(lid.as_str()) || l.services.iter().any(|s| s == id))
        .map(|(lid, _)| lid.clone())
        .collect()
}

/// The ids among `ids` that name defined business lines (or `[ALL_LINES]`
/// when the plan has none).
fn known_lines<'a>(plan: &Plan, ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let lines = &plan.organization.business_lines;
    if lines.is_empty() {
        return vec![ALL_LINES.to_string()];
    }
    ids.into_iter()
        .filter(|id| lines.contains_key(*id))
        .map(str::to_string)
        .collect()
}

/// The id of the item of collection `section` that `path` points into, as
/// paths are written by the decoder: `section.id…`, or `section["id"]…` for
/// ids with dots or spaces. A direct lookup, so attributing many findings
/// stays linear.
fn item_in<'a, V>(
    path: &str,
    section: &str,
    items: &'a indexmap::IndexMap<String, V>,
) -> Option<&'a String> {
    let rest = path.strip_prefix(section)?;
    let id = if let Some(quoted) = rest.strip_prefix("[\"") {
        &quoted[..quoted.find("\"]")?]
    } else {
        let plain = rest.strip_prefix('.')?;
        &plain[..plain.find(['.', '[']).unwrap_or(plain.len())]
    };
    items.get_key_value(id).map(|(k, _)| k)
}

fn empty_row(line: String, name: String) -> LineReadiness {
    LineReadiness {
        line,
        name,
        go: true,
        target_qps: 0.0,
        findings: FindingCounts::default(),
        scaling: Vec::new(),
        critical: Vec::new(),
        emergency_plans: DrillCoverage::default(),
        coverage_gaps: Vec::new(),
        reasons: Vec::new(),
    }
}

/// Row indices for `owners`: `None` stands for the event row.
fn slots(rows: &[LineReadiness], owners: &[String]) -> Vec<Option<usize>> {
    let found: Vec<Option<usize>> = owners
        .iter()
        .filter_map(|o| rows.iter().position(|r| &r.line == o))
        .map(Some)
        .collect();
    if found.is_empty() { vec![None] } else { found }
}

/// Apply `f` to the rows of `owners`, or to the event row when none.
fn for_rows(
    owners: &[String],
    rows: &mut [LineReadiness],
    event: &mut LineReadiness,
    mut f: impl FnMut(&mut LineReadiness),
) {
    for slot in slots(rows, owners) {
        match slot {
            Some(i) => f(&mut rows[i]),
            None => f(event),
        }
    }
}

fn scaling_need(r: &Row) -> ScalingNeed {
    ScalingNeed {
        service: r.id.clone(),
        target_qps: r.target_qps,
        capacity_qps: r.capacity_qps,
        instances: r.instances,
        instances_needed: r.instances_needed,
    }
}

fn critical(kind: &'static str, r: &Row) -> CriticalLevel {
    CriticalLevel {
        kind,
        id: r.id.clone(),
        water_level: r.water_level,
    }
}

/// Set `go` and write the reasons of a row.
fn judge(row: &mut LineReadiness, error_refs: &[String], plan: &Plan) {
    let mut reasons = Vec::new();
    if row.findings.error > 0 {
        reasons.push(format!(
            "{} error finding(s): {}",
            row.findings.error,
            error_refs.join(", ")
        ));
    }
    for c in &row.critical {
        let level = c
            .water_level
            .map(|l| format!("{:.0}%", l * 100.0))
            .unwrap_or_else(|| "unknown".to_string());
        reasons.push(format!(
            "critical water level: {} {} at {level} (critical above {:.0}%)",
            c.kind,
            c.id,
            plan.capacity.critical_level * 100.0
        ));
    }
    for s in &row.scaling {
        reasons.push(format!(
            "service {} needs scaling: {} → {} instances",
            s.service,
            count_text(s.instances),
            count_text(s.instances_needed)
        ));
    }
    for g in row.coverage_gaps.iter().filter(|g| g.window == "peak") {
        reasons.push(format!(
            "no primary on call during peak from {} to {}",
            format_time(g.start, &plan.event.tz),
            format_time(g.end, &plan.event.tz)
        ));
    }
    row.go = reasons.is_empty();
    row.reasons = reasons;
}

fn count_text(n: Option<u32>) -> String {
    n.map(|n| n.to_string()).unwrap_or_else(|| "?".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capacity::CapacitySource;
    use crate::diag::Location;
    use crate::model::{
        Approval, BusinessLine, Drill, EmergencyPlan, Entry, PlanPhase, Service, Shift, Window,
    };
    use crate::targets::EntryTarget;
    use crate::time::parse_time;
    use jiff::Timestamp;
    use jiff::tz::TimeZone;

    fn t(s: &str) -> Timestamp {
        parse_time(s, &TimeZone::UTC).expect("test time")
    }

    fn w(start: &str, end: &str) -> Window {
        Window {
            start: t(start),
            end: t(end),
            at: Default::default(),
        }
    }

    fn row(id: &str, level: f64, status: Status, needs_scaling: bool) -> Row {
        Row {
            id: id.to_string(),
            target_qps: level * 1000.0,
            capacity_qps: Some(1000.0),
            capacity_source: CapacitySource::Declared,
            water_level: Some(level),
            required_qps: level * 1300.0,
            needs_scaling,
            instances: Some(4),
            instances_needed: Some(if needs_scaling { 6 } else { 4 }),
            current_level: None,
            status,
            bottleneck: None,
        }
    }

    fn finding(rule: &'static str, severity: Severity, path: &str, accepted: bool) -> Finding {
        Finding {
            rule,
            severity,
            message: format!("{rule} finding"),
            location: Location {
                path: path.to_string(),
                line: 1,
                column: 1,
            },
            fix: "fix it".to_string(),
            accepted: accepted.then(|| "known".to_string()),
        }
    }

    fn eplan(line: Option<&str>, passed: Option<bool>) -> EmergencyPlan {
        EmergencyPlan {
            name: None,
            phase: PlanPhase::During,
            line: line.map(str::to_string),
            trigger: None,
            actions: vec![],
            impact: None,
            owner: None,
            expected_minutes: None,
            approval: Approval::None,
            action_at: Vec::new(),
            trigger_at: None,
            drills: passed
                .map(|p| Drill {
                    at_time: t("2026-09-20T10:00"),
                    minutes: Some(5.0),
                    passed: p,
                    notes: None,
                    at: Default::default(),
                })
                .into_iter()
                .collect(),
            drill: None,
            at: Default::default(),
        }
    }

    /// Two lines: bike (order-api) and food (menu-svc, also lists user-svc);
    /// user-svc is owned by food only through its `services` list; pay-svc
    /// belongs to no line.
    fn plan() -> Plan {
        let mut plan = Plan::default();
        plan.organization.business_lines.insert(
            "bike".into(),
            BusinessLine {
                name: "Bike".into(),
                ..Default::default()
            },
        );
        plan.organization.business_lines.insert(
            "food".into(),
            BusinessLine {
                name: "Food".into(),
                services: vec!["user-svc".into()],
                ..Default::default()
            },
        );
        for (id, line) in [
            ("order-api", Some("bike")),
            ("menu-svc", Some("food")),
            ("user-svc", Some("bike")),
            ("pay-svc", None),
            ("v1.legacy", Some("food")),
        ] {
            plan.services.insert(
                id.into(),
                Service {
                    line: line.map(str::to_string),
                    ..Default::default()
                },
            );
        }
        for (id, svc) in [
            ("create-order", "order-api"),
            ("menu", "menu-svc"),
            ("pay", "pay-svc"),
        ] {
            plan.entries.insert(
                id.into(),
                Entry {
                    service: svc.into(),
                    ..Default::default()
                },
            );
        }
        plan.event
            .phases
            .insert("peak".into(), w("2026-09-30T10:00", "2026-09-30T14:00"));
        plan.oncall.rota = vec![Shift {
            lines: vec![],
            window: w("2026-09-30T00:00", "2026-10-01T00:00"),
            primary: "ann".into(),
            secondary: None,
            at: Default::default(),
        }];
        plan
    }

    fn targets() -> Targets {
        Targets {
            entries: [
                ("create-order", "order-api", 100.0),
                ("menu", "menu-svc", 50.0),
                ("pay", "pay-svc", 20.0),
            ]
            .into_iter()
            .map(|(id, service, q)| EntryTarget {
                id: id.into(),
                service: service.into(),
                target_qps: q,
            })
            .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn attribution_by_path() {
        let plan = plan();
        assert_eq!(lines_of_path(&plan, "entries.create-order.slo"), ["bike"]);
        assert_eq!(lines_of_path(&plan, "services.order-api"), ["bike"]);
        assert_eq!(
            lines_of_path(&plan, "services.user-svc.dependencies[0].timeout_ms"),
            ["bike", "food"]
        );
        assert_eq!(
            lines_of_path(&plan, "services[\"v1.legacy\"].timeout_ms"),
            ["food"]
        );
        assert!(lines_of_path(&plan, "services.pay-svc").is_empty());
        // A prefix of an id is not the id.
        assert!(lines_of_path(&plan, "services.order-api-v2").is_empty());
        assert!(lines_of_path(&plan, "partners.pay-gateway").is_empty());
        assert_eq!(
            lines_of_path(&plan, "organization.business_lines.food.tech_pm"),
            ["food"]
        );
    }

    #[test]
    fn all_go() {
        let plan = plan();
        let table = CapacityTable {
            services: vec![row("order-api", 0.5, Status::Ok, false)],
            entries: vec![row("create-order", 0.5, Status::Ok, false)],
            partners: vec![],
        };
        let findings = vec![
            finding("L005", Severity::Warning, "entries.create-order", false),
            finding(
                "L001",
                Severity::Error,
                "services.order-api.dependencies[0]",
                true,
            ),
        ];
        let r = scorecard(&plan, &targets(), &table, &findings);
        assert!(r.go, "{:?}", r.reasons);
        assert!(r.reasons.is_empty());
        assert_eq!(r.lines.len(), 2);
        let bike = &r.lines[0];
        assert_eq!(bike.target_qps, 100.0);
        assert_eq!(
            bike.findings,
            FindingCounts {
                error: 0,
                warning: 1,
                info: 0,
                accepted: 1
            }
        );
        assert_eq!(r.lines[1].target_qps, 50.0);
        assert_eq!(r.event.target_qps, 20.0);
    }

    #[test]
    fn no_go_reasons() {
        let mut plan = plan();
        // Peak is uncovered for food from 12:00.
        plan.oncall.rota[0].lines = vec!["bike".into()];
        plan.oncall.rota.push(Shift {
            lines: vec!["food".into()],
            window: w("2026-09-30T00:00", "2026-09-30T12:00"),
            primary: "bob".into(),
            secondary: None,
            at: Default::default(),
        });
        plan.emergency_plans
            .insert("bike-limit".into(), eplan(Some("bike"), Some(true)));
        plan.emergency_plans
            .insert("bike-degrade".into(), eplan(Some("bike"), Some(false)));
        plan.emergency_plans
            .insert("global".into(), eplan(None, None));
        let table = CapacityTable {
            services: vec![
                row("order-api", 1.2, Status::Critical, true),
                row("menu-svc", 0.8, Status::Warn, false),
                row("pay-svc", 0.6, Status::Ok, true),
            ],
            entries: vec![row("create-order", 1.2, Status::Critical, true)],
            partners: vec![],
        };
        let findings = vec![
            finding(
                "L001",
                Severity::Error,
                "services.order-api.dependencies[0]",
                false,
            ),
            finding("L006", Severity::Error, "partners.pay-gateway", false),
            finding("L012", Severity::Info, "emergency_plans.global", false),
        ];
        let r = scorecard(&plan, &targets(), &table, &findings);
        assert!(!r.go);

        let bike = &r.lines[0];
        assert!(!bike.go);
        assert_eq!(bike.findings.error, 1);
        assert_eq!(bike.scaling.len(), 1);
        assert_eq!(bike.scaling[0].instances_needed, Some(6));
        let crit: Vec<(&str, &str)> = bike
            .critical
            .iter()
            .map(|c| (c.kind, c.id.as_str()))
            .collect();
        assert_eq!(crit, [("service", "order-api"), ("entry", "create-order")]);
        assert_eq!(
            bike.emergency_plans,
            DrillCoverage {
                drilled: 1,
                total: 3,
                undrilled: vec!["bike-degrade".into(), "global".into()]
            }
        );
        assert!(bike.coverage_gaps.is_empty());
        assert_eq!(bike.reasons.len(), 4, "{:?}", bike.reasons);
        assert!(bike.reasons[0].contains("L001 at services.order-api.dependencies[0]"));
        assert!(
            bike.reasons
                .iter()
                .any(|s| s.contains("order-api needs scaling: 4 → 6"))
        );
        assert!(
            bike.reasons
                .iter()
                .any(|s| s.contains("service order-api at 120%"))
        );

        let food = &r.lines[1];
        assert!(!food.go);
        assert_eq!(food.findings, FindingCounts::default());
        assert_eq!(food.emergency_plans.total, 1);
        assert_eq!(food.coverage_gaps.len(), 1);
        assert_eq!(
            food.reasons,
            [
                "no primary on call during peak from 2026-09-30T12:00:00+00:00 to 2026-09-30T14:00:00+00:00"
            ]
        );

        let event = &r.event;
        assert!(!event.go);
        assert_eq!(event.findings.error, 1);
        assert_eq!(event.findings.info, 1);
        assert_eq!(event.scaling.len(), 1);
        assert_eq!(event.scaling[0].service, "pay-svc");
        assert_eq!(event.emergency_plans.total, 1);

        assert!(
            r.reasons
                .iter()
                .any(|s| s.starts_with("bike: 1 error finding(s)"))
        );
        assert!(r.reasons.iter().any(|s| s.starts_with("food: no primary")));
        assert!(
            r.reasons
                .iter()
                .any(|s| s.starts_with("event: 1 error finding(s): L006 at partners.pay-gateway"))
        );
        let json = serde_json::to_value(&r).expect("json");
        assert_eq!(json["go"], false);
        assert_eq!(json["lines"][1]["coverage_gaps"][0]["window"], "peak");
    }

    #[test]
    fn freeze_gaps_do_not_block() {
        let mut plan = plan();
        plan.event
            .phases
            .insert("freeze".into(), w("2026-09-29T00:00", "2026-10-01T00:00"));
        let r = scorecard(&plan, &targets(), &CapacityTable::default(), &[]);
        assert!(r.go);
        assert_eq!(r.lines[0].coverage_gaps.len(), 1);
        assert_eq!(r.lines[0].coverage_gaps[0].window, "freeze");
    }

    #[test]
    fn pseudo_line_without_business_lines() {
        let mut plan = plan();
        plan.organization.business_lines.clear();
        let table = CapacityTable {
            services: vec![row("pay-svc", 0.95, Status::Critical, true)],
            entries: vec![],
            partners: vec![],
        };
        let findings = vec![
            finding("L001", Severity::Warning, "services.pay-svc", false),
            finding("L006", Severity::Warning, "partners.pay-gateway", false),
        ];
        let r = scorecard(&plan, &targets(), &table, &findings);
        assert_eq!(r.lines.len(), 1);
        let all = &r.lines[0];
        assert_eq!(all.line, ALL_LINES);
        assert_eq!(all.target_qps, 170.0);
        assert_eq!(all.findings.warning, 1);
        assert_eq!(all.scaling.len(), 1);
        assert!(!all.go);
        assert_eq!(r.event.findings.warning, 1);
        assert!(r.event.go);
        assert!(!r.go);
    }
}
