//! On-call evaluation: who is on duty for each business line, and where the
//! rota leaves the peak and freeze windows uncovered.
//!
//! The war room needs the first answer at any instant; rule L013 and the
//! readiness scorecard need the second before the event starts.

use indexmap::IndexMap;
use jiff::Timestamp;
use serde::Serialize;

use crate::freeze::serialize_ts;
use crate::model::{Plan, Shift};

/// Id of the pseudo line reported when the plan has no business lines.
pub const ALL_LINES: &str = "all";

/// Who is on call for one business line at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineDuty {
    /// Business line id ([`ALL_LINES`] when the plan has no business lines).
    pub line: String,
    /// The line's display name (its id when it has none).
    pub line_name: String,
    /// Index into `oncall.rota` of the shift on duty, if any.
    pub shift: Option<usize>,
    /// First call.
    pub primary: Option<PersonRef>,
    /// Second call.
    pub secondary: Option<PersonRef>,
}

/// A person with the handles to reach them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonRef {
    /// Person id.
    pub id: String,
    /// Display name (the id when the person is not in `people`).
    pub name: String,
    /// Phone number.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// IM handles by platform.
    pub im: IndexMap<String, String>,
}

/// A stretch of a watched window in which a line has no primary on call.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageGap {
    /// Business line id ([`ALL_LINES`] when the plan has no business lines).
    pub line: String,
    /// `peak`, `freeze` (event phases) or the id of a `freeze.windows` window.
    pub window: String,
    /// Inclusive start of the gap (RFC 3339 UTC).
    #[serde(serialize_with = "serialize_ts")]
    pub start: Timestamp,
    /// Exclusive end of the gap (RFC 3339 UTC).
    #[serde(serialize_with = "serialize_ts")]
    pub end: Timestamp,
}

/// The business lines on-call is evaluated for: `(id, display name)` in plan
/// order, or the single pseudo line [`ALL_LINES`] when there are none.
pub fn lines(plan: &Plan) -> Vec<(String, String)> {
    if plan.organization.business_lines.is_empty() {
        return vec![(ALL_LINES.to_string(), "All lines".to_string())];
    }
    plan.organization
        .business_lines
        .iter()
        .map(|(id, l)| {
            let name = if l.name.is_empty() {
                id.clone()
            } else {
                l.name.clone()
            };
            (id.clone(), name)
        })
        .collect()
}

/// Whether `shift` covers business line `line`. A shift with no `lines`
/// covers every line; every shift covers the pseudo line [`ALL_LINES`].
pub fn covers(shift: &Shift, line: &str) -> bool {
    line == ALL_LINES || shift.lines.is_empty() || shift.lines.iter().any(|l| l == line)
}

/// Who is on call at `at`, per business line in plan order.
///
/// When several shifts cover a line at `at`, a shift that names the line
/// wins over one that covers all lines; among equals the first in the rota
/// wins. Primary and secondary come from the same shift.
pub fn on_call(plan: &Plan, at: Timestamp) -> Vec<LineDuty> {
    lines(plan)
        .into_iter()
        .map(|(line, line_name)| {
            let chosen = shift_for(plan, &line, at);
            LineDuty {
                shift: chosen.map(|(i, _)| i),
                primary: chosen.map(|(_, s)| person(plan, &s.primary)),
                secondary: chosen
                    .and_then(|(_, s)| s.secondary.as_deref())
                    .map(|id| person(plan, id)),
                line,
                line_name,
            }
        })
        .collect()
}

/// The shift on duty for `line` at `at` and its index in the rota: a
/// shift that names the line wins over one that covers all lines; among
/// equals the first in the rota wins. For [`ALL_LINES`], the first shift
/// on duty.
pub fn shift_for<'a>(plan: &'a Plan, line: &str, at: Timestamp) -> Option<(usize, &'a Shift)> {
    let candidates = plan
        .oncall
        .rota
        .iter()
        .enumerate()
        .filter(|(_, s)| s.window.contains(at) && covers(s, line));
    candidates
        .clone()
        .find(|(_, s)| s.lines.iter().any(|l| l == line))
        .or_else(|| candidates.clone().next())
}

/// Resolve a person id against `people`; unknown ids keep the id as name.
pub fn person(plan: &Plan, id: &str) -> PersonRef {
    match plan.people.get(id) {
        Some(p) => PersonRef {
            id: id.to_string(),
            name: if p.name.is_empty() {
                id.to_string()
            } else {
                p.name.clone()
            },
            phone: p.phone.clone(),
            email: p.email.clone(),
            im: p.im.clone(),
        },
        None => PersonRef {
            id: id.to_string(),
            name: id.to_string(),
            phone: None,
            email: None,
            im: IndexMap::new(),
        },
    }
}

/// Every stretch of the `peak` and `freeze` event phases and of each
/// `freeze.windows` window that no shift's primary covers, per line.
///
/// Ordered by line (plan order), then window (`peak`, `freeze`, freeze
/// windows in plan order), then time. Phases the plan does not define are
/// skipped.
pub fn gaps(plan: &Plan) -> Vec<CoverageGap> {
    let mut watched: Vec<(String, Timestamp, Timestamp)> = Vec::new();
    for phase in ["peak", "freeze"] {
        if let Some(w) = plan.event.phases.get(phase) {
            watched.push((phase.to_string(), w.start, w.end));
        }
    }
    for (id, w) in &plan.freeze.windows {
        watched.push((id.clone(), w.window.start, w.window.end));
    }

    let mut out = Vec::new();
    for (line, _) in lines(plan) {
        let shifts: Vec<(Timestamp, Timestamp)> = plan
            .oncall
            .rota
            .iter()
            .filter(|s| covers(s, &line))
            .map(|s| (s.window.start, s.window.end))
            .collect();
        for (window, start, end) in &watched {
            for (gap_start, gap_end) in uncovered(*start, *end, &shifts) {
                out.push(CoverageGap {
                    line: line.clone(),
                    window: window.clone(),
                    start: gap_start,
                    end: gap_end,
                });
            }
        }
    }
    out
}

/// The parts of `[start, end)` not covered by any of the half-open
/// intervals `shifts`, as maximal disjoint intervals in time order.
///
/// Shifts may overlap, touch or lie outside the range, in any order; empty
/// or inverted shifts cover nothing. An empty or inverted range has no gaps.
pub fn uncovered(
    start: Timestamp,
    end: Timestamp,
    shifts: &[(Timestamp, Timestamp)],
) -> Vec<(Timestamp, Timestamp)> {
    let mut sorted: Vec<(Timestamp, Timestamp)> = shifts
        .iter()
        .copied()
        .filter(|(s, e)| s < e && *e > start && *s < end)
        .collect();
    sorted.sort();
    let mut out = Vec::new();
    let mut cursor = start;
    for (s, e) in sorted {
        if cursor >= end {
            break;
        }
        if s > cursor {
            out.push((cursor, s.min(end)));
        }
        if e > cursor {
            cursor = e;
        }
    }
    if cursor < end {
        out.push((cursor, end));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BusinessLine, FreezeWindow, Person, Window};
    use crate::time::parse_time;
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

    fn shift(
        lines: &[&str],
        start: &str,
        end: &str,
        primary: &str,
        secondary: Option<&str>,
    ) -> Shift {
        Shift {
            lines: lines.iter().map(|s| s.to_string()).collect(),
            window: w(start, end),
            primary: primary.to_string(),
            secondary: secondary.map(str::to_string),
            at: Default::default(),
        }
    }

    fn two_line_plan() -> Plan {
        let mut plan = Plan::default();
        plan.people.insert(
            "ann".into(),
            Person {
                name: "Ann".into(),
                phone: Some("+86 100".into()),
                ..Default::default()
            },
        );
        plan.people.insert(
            "bob".into(),
            Person {
                name: "Bob".into(),
                ..Default::default()
            },
        );
        plan.organization.business_lines.insert(
            "bike".into(),
            BusinessLine {
                name: "Bike".into(),
                ..Default::default()
            },
        );
        plan.organization
            .business_lines
            .insert("food".into(), BusinessLine::default());
        plan.event
            .phases
            .insert("peak".into(), w("2026-09-30T10:00", "2026-09-30T14:00"));
        plan.event
            .phases
            .insert("freeze".into(), w("2026-09-30T00:00", "2026-10-01T00:00"));
        plan
    }

    #[test]
    fn uncovered_subtracts_intervals() {
        let (a, b, c, d, e, f) = (
            t("2026-09-30T00:00"),
            t("2026-09-30T01:00"),
            t("2026-09-30T02:00"),
            t("2026-09-30T03:00"),
            t("2026-09-30T04:00"),
            t("2026-09-30T05:00"),
        );
        // No shifts: everything is uncovered.
        assert_eq!(uncovered(a, f, &[]), vec![(a, f)]);
        // Overlapping, unordered and out-of-range shifts.
        assert_eq!(uncovered(b, e, &[(c, d), (a, c), (e, f)]), vec![(d, e)]);
        // Adjacent shifts leave no gap.
        assert_eq!(uncovered(a, c, &[(a, b), (b, c)]), vec![]);
        // Holes in the middle and at both ends.
        assert_eq!(
            uncovered(a, f, &[(b, c), (d, e)]),
            vec![(a, b), (c, d), (e, f)]
        );
        // A shift covering another one entirely.
        assert_eq!(uncovered(a, f, &[(a, e), (b, c)]), vec![(e, f)]);
        // Empty and inverted inputs.
        assert_eq!(uncovered(c, c, &[]), vec![]);
        assert_eq!(uncovered(d, c, &[]), vec![]);
        assert_eq!(uncovered(a, c, &[(c, a), (b, b)]), vec![(a, c)]);
    }

    #[test]
    fn on_call_prefers_line_specific_shifts() {
        let mut plan = two_line_plan();
        plan.oncall.rota = vec![
            shift(&[], "2026-09-30T00:00", "2026-10-01T00:00", "bob", None),
            shift(
                &["bike"],
                "2026-09-30T08:00",
                "2026-09-30T16:00",
                "ann",
                Some("bob"),
            ),
        ];
        let duty = on_call(&plan, t("2026-09-30T10:00"));
        assert_eq!(duty.len(), 2);
        assert_eq!(duty[0].line, "bike");
        assert_eq!(duty[0].line_name, "Bike");
        assert_eq!(duty[0].shift, Some(1));
        let primary = duty[0].primary.as_ref().expect("primary");
        assert_eq!(primary.name, "Ann");
        assert_eq!(primary.phone.as_deref(), Some("+86 100"));
        assert_eq!(
            duty[0].secondary.as_ref().map(|p| p.id.as_str()),
            Some("bob")
        );
        assert_eq!(duty[1].line, "food");
        assert_eq!(duty[1].line_name, "food");
        assert_eq!(
            duty[1].primary.as_ref().map(|p| p.name.as_str()),
            Some("Bob")
        );
        assert_eq!(duty[1].secondary, None);

        // Before any shift nobody is on call.
        let duty = on_call(&plan, t("2026-09-29T23:00"));
        assert!(
            duty.iter()
                .all(|d| d.primary.is_none() && d.shift.is_none())
        );
    }

    #[test]
    fn pseudo_line_without_business_lines() {
        let mut plan = Plan::default();
        plan.oncall.rota = vec![shift(
            &[],
            "2026-09-30T00:00",
            "2026-10-01T00:00",
            "zed",
            None,
        )];
        let duty = on_call(&plan, t("2026-09-30T12:00"));
        assert_eq!(duty.len(), 1);
        assert_eq!(duty[0].line, ALL_LINES);
        // Unknown people keep their id as name.
        let p = duty[0].primary.as_ref().expect("primary");
        assert_eq!((p.id.as_str(), p.name.as_str()), ("zed", "zed"));
    }

    #[test]
    fn gaps_per_line_and_window() {
        let mut plan = two_line_plan();
        plan.freeze.windows.insert(
            "national-day".into(),
            FreezeWindow {
                window: w("2026-10-01T00:00", "2026-10-02T00:00"),
                kinds: vec![],
                services: vec![],
                reason: None,
                at: Default::default(),
            },
        );
        plan.oncall.rota = vec![
            // Everyone covered the whole freeze phase except 03:00–04:00.
            shift(&[], "2026-09-30T00:00", "2026-09-30T03:00", "bob", None),
            shift(&[], "2026-09-30T04:00", "2026-10-01T00:00", "bob", None),
            // Bike also covers the national-day window, food only its first half.
            shift(
                &["bike"],
                "2026-10-01T00:00",
                "2026-10-02T00:00",
                "ann",
                None,
            ),
            shift(
                &["food"],
                "2026-10-01T00:00",
                "2026-10-01T12:00",
                "ann",
                None,
            ),
        ];
        let gaps = gaps(&plan);
        let got: Vec<(&str, &str, String, String)> = gaps
            .iter()
            .map(|g| {
                (
                    g.line.as_str(),
                    g.window.as_str(),
                    g.start.to_string(),
                    g.end.to_string(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "bike",
                    "freeze",
                    "2026-09-30T03:00:00Z".into(),
                    "2026-09-30T04:00:00Z".into()
                ),
                (
                    "food",
                    "freeze",
                    "2026-09-30T03:00:00Z".into(),
                    "2026-09-30T04:00:00Z".into()
                ),
                (
                    "food",
                    "national-day",
                    "2026-10-01T12:00:00Z".into(),
                    "2026-10-02T00:00:00Z".into()
                ),
            ]
        );
        let json = serde_json::to_value(&gaps[0]).expect("json");
        assert_eq!(json["start"], "2026-09-30T03:00:00Z");
    }

    #[test]
    fn empty_rota_leaves_peak_uncovered() {
        let plan = two_line_plan();
        let gaps = gaps(&plan);
        assert_eq!(gaps.len(), 4);
        assert_eq!(gaps[0].window, "peak");
        assert_eq!(gaps[0].start, t("2026-09-30T10:00"));
        assert_eq!(gaps[0].end, t("2026-09-30T14:00"));
    }
}
