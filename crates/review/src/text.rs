//! How numbers and times read in the Markdown and HTML renderings (one
//! spelling for both, so the two agree to the digit).

/// A time (ms since the epoch) as `2026-11-11 00:00:10 UTC`.
pub fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| format!("{ms} ms"))
}

/// The rehearsed knee of `t`, or its lower bound when its rehearsal was
/// generator-bound (`≥ 971, generator-bound`), `—` for neither: a lower
/// bound never reads as a knee.
pub fn knee(t: &crate::model::TargetReview) -> String {
    match (t.knee_qps, t.lower_bound_qps) {
        (None, Some(b)) => format!("≥ {}, generator-bound", num(Some(b))),
        (k, _) => num(k),
    }
}

/// An optional time, `—` for none.
pub fn time_opt(ms: Option<i64>) -> String {
    ms.map_or_else(dash, time)
}

/// A number with at most one decimal, `—` for none.
pub fn num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => {
            if (v - v.round()).abs() < 0.05 {
                format!("{v:.0}")
            } else {
                format!("{v:.1}")
            }
        }
        _ => dash(),
    }
}

/// A ratio as a percentage, `—` for none.
pub fn pct(v: Option<f64>) -> String {
    match v {
        Some(v) if v.is_finite() => format!("{:.1} %", v * 100.0),
        _ => dash(),
    }
}

/// A duration in ms as seconds or minutes, `—` for none.
pub fn dur(ms: Option<f64>) -> String {
    match ms {
        Some(ms) if ms.is_finite() => {
            let s = ms / 1000.0;
            if s.abs() < 120.0 {
                format!("{s:.1} s")
            } else {
                format!("{:.1} min", s / 60.0)
            }
        }
        _ => dash(),
    }
}

/// An integer duration in ms.
pub fn dur_i(ms: Option<i64>) -> String {
    dur(ms.map(|m| m as f64))
}

/// Yes, no or `—`.
pub fn yes(v: Option<bool>) -> String {
    match v {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => dash(),
    }
}

/// The empty cell.
pub fn dash() -> String {
    "—".to_owned()
}

use crate::model::Review;

/// One section of the rendered review: a heading, sentences and tables.
/// Markdown and HTML both render this list, so they show the same cells.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Heading.
    pub title: &'static str,
    /// Anchor id (`entries`, `alerts`, …).
    pub id: &'static str,
    /// Sentences before the tables.
    pub lines: Vec<String>,
    /// Tables: header and rows.
    pub tables: Vec<(Vec<&'static str>, Vec<Vec<String>>)>,
}

/// Every section, in the order of `docs/review.md`.
pub fn sections(r: &Review) -> Vec<Section> {
    let mut out = Vec::new();
    let mut head = Section {
        title: "Event",
        id: "event",
        ..Section::default()
    };
    head.lines
        .push(format!("Event `{}` ({}).", r.event, r.name));
    head.lines.push(match (r.plan_version, &r.plan_file) {
        (Some(v), Some(f)) => format!("Plan version {v} ({f})."),
        _ => "No plan.".to_owned(),
    });
    head.lines.push(match r.window {
        Some(w) => format!(
            "Window: {} to {} ({}).",
            time(w.from_ms),
            time(w.to_ms),
            r.window_source
        ),
        None => "No telemetry.".to_owned(),
    });
    if !r.rehearsal_runs.is_empty() {
        let runs: Vec<String> = r.rehearsal_runs.iter().map(i64::to_string).collect();
        head.lines
            .push(format!("Knees from rehearsal runs {}.", runs.join(", ")));
        let bound: Vec<&str> = r
            .entries
            .iter()
            .filter(|e| e.lower_bound_qps.is_some())
            .map(|e| e.id.as_str())
            .collect();
        if !bound.is_empty() {
            head.lines.push(format!(
                "Generator-bound (rehearsed only to a lower bound, knee unknown): {}.",
                bound.join(", ")
            ));
        }
    }
    head.lines
        .extend(r.notes.iter().map(|n| format!("Note: {n}.")));
    out.push(head);

    let target_header = vec![
        "id",
        "target qps",
        "knee qps",
        "capacity qps",
        "peak qps",
        "peak at",
        "p99 ms",
        "errors",
        "utilisation",
        "headroom ok",
        "actual ÷ target",
        "saturated",
        "peak ÷ knee",
    ];
    let target_rows = |list: &[crate::model::TargetReview]| -> Vec<Vec<String>> {
        list.iter()
            .map(|t| {
                vec![
                    t.id.clone(),
                    num(t.target_qps),
                    knee(t),
                    format!("{} ({})", num(t.capacity_qps), t.capacity_source),
                    num(t.peak_qps),
                    time_opt(t.peak_at_ms),
                    num(t.p99_ms_at_peak),
                    pct(t.error_rate_at_peak),
                    format!(
                        "{} / {}",
                        pct(t.utilisation),
                        pct(Some(t.utilisation_target))
                    ),
                    yes(t.within_headroom),
                    pct(t.estimate_error),
                    if t.saturated {
                        "yes".into()
                    } else {
                        "no".into()
                    },
                    match (t.capacity_vs_knee, t.capacity_vs_lower_bound) {
                        (None, Some(c)) => format!("{} of the lower bound", pct(Some(c))),
                        (c, _) => pct(c),
                    },
                ]
            })
            .collect()
    };
    out.push(Section {
        title: "Entries",
        id: "entries",
        lines: Vec::new(),
        tables: vec![(target_header.clone(), target_rows(&r.entries))],
    });
    out.push(Section {
        title: "Services",
        id: "services",
        lines: Vec::new(),
        tables: vec![(target_header, target_rows(&r.services))],
    });
    out.push(Section {
        title: "Funnel",
        id: "funnel",
        lines: Vec::new(),
        tables: vec![(
            vec![
                "step",
                "planned conversion",
                "actual conversion",
                "actual ÷ planned",
            ],
            r.funnel
                .iter()
                .map(|f| vec![f.step.clone(), pct(f.planned), pct(f.actual), pct(f.ratio)])
                .collect(),
        )],
    });
    out.push(Section {
        title: "Partners",
        id: "partners",
        lines: Vec::new(),
        tables: vec![(
            vec![
                "partner",
                "SLA p99 ms",
                "SLA errors",
                "points",
                "within SLA",
                "worst p99 ms",
                "worst errors",
            ],
            r.partners
                .iter()
                .map(|p| {
                    vec![
                        p.id.clone(),
                        num(p.sla_p99_ms),
                        pct(p.sla_error_rate),
                        p.points.to_string(),
                        pct(p.compliance),
                        num(p.worst_p99_ms),
                        pct(p.worst_error_rate),
                    ]
                })
                .collect(),
        )],
    });
    let a = &r.alerts;
    let mut alerts = Section {
        title: "Alerts",
        id: "alerts",
        lines: vec![format!(
            "{} firings; {} without SLO impact (noise); {} SLO breaks with no page (misses).",
            a.fired,
            a.noise,
            a.misses.len()
        )],
        tables: vec![(
            vec![
                "rule",
                "target",
                "signal",
                "severity",
                "fired",
                "first fired",
                "crossing → firing",
                "noise",
                "with impact",
            ],
            a.rules
                .iter()
                .map(|x| {
                    vec![
                        x.rule.clone(),
                        x.target.clone(),
                        x.signal.clone(),
                        x.severity.clone(),
                        x.fired.to_string(),
                        time_opt(x.first_fired_ms),
                        dur(x.crossing_to_fire_ms),
                        x.noise.to_string(),
                        x.with_impact.to_string(),
                    ]
                })
                .collect(),
        )],
    };
    if !a.misses.is_empty() {
        alerts.tables.push((
            vec!["missed target", "SLO broken from", "points"],
            a.misses
                .iter()
                .map(|m| vec![m.target.clone(), time(m.from_ms), m.points.to_string()])
                .collect(),
        ));
    }
    if !a.never_fired.is_empty() {
        alerts.lines.push(format!(
            "Plan alerts that never fired: {}.",
            a.never_fired.join(", ")
        ));
    }
    out.push(alerts);
    let mut em = Section {
        title: "Emergency plans",
        id: "emergency",
        lines: Vec::new(),
        tables: vec![(
            vec![
                "run",
                "plan",
                "status",
                "requested by",
                "approvals",
                "to approval",
                "took",
                "expected",
                "run ÷ expected",
                "in time",
                "rolled back",
            ],
            r.emergency
                .iter()
                .map(|e| {
                    vec![
                        e.id.to_string(),
                        e.plan.clone(),
                        e.status.clone(),
                        e.requested_by.clone(),
                        if e.approvals.is_empty() {
                            dash()
                        } else {
                            e.approvals.join(", ")
                        },
                        dur_i(e.time_to_approval_ms),
                        dur_i(e.duration_ms),
                        e.expected_minutes
                            .map_or_else(dash, |m| format!("{} min", num(Some(m)))),
                        pct(e.run_vs_expected),
                        yes(e.within_expected),
                        if e.rolled_back {
                            "yes".into()
                        } else {
                            "no".into()
                        },
                    ]
                })
                .collect(),
        )],
    };
    let actions: Vec<Vec<String>> = r
        .emergency
        .iter()
        .flat_map(|e| {
            e.actions.iter().map(move |s| {
                vec![
                    e.id.to_string(),
                    s.kind.clone(),
                    s.target.clone().unwrap_or_else(dash),
                    s.status.clone(),
                    dur_i(s.duration_ms),
                ]
            })
        })
        .collect();
    if !actions.is_empty() {
        em.tables
            .push((vec!["run", "action", "target", "status", "took"], actions));
    }
    out.push(em);
    let c = &r.change_control;
    out.push(Section {
        title: "Change control",
        id: "change-control",
        lines: vec![
            format!(
                "{} gate decisions inside freeze windows: {} refused, {} let through by an exception.",
                c.decisions_in_freeze, c.refused_in_freeze, c.allowed_by_exception
            ),
            format!(
                "Exceptions: {} requested, {} approved, {} rejected. Guard rule versions written in the window: {}.",
                c.exceptions_requested, c.exceptions_approved, c.exceptions_rejected, c.rule_changes
            ),
        ],
        tables: if c.before_incidents.is_empty() {
            Vec::new()
        } else {
            vec![(
                vec!["incident", "change in the hour before", "minutes before"],
                c.before_incidents
                    .iter()
                    .map(|b| vec![b.incident.to_string(), b.change.clone(), num(Some(b.minutes_before))])
                    .collect(),
            )]
        },
    });
    let i = &r.incidents;
    let mut inc = Section {
        title: "Incidents",
        id: "incidents",
        lines: vec![format!(
            "{} incidents; MTTA {}, MTTR {}.",
            i.list.len(),
            dur(i.mtta_ms),
            dur(i.mttr_ms)
        )],
        tables: vec![(
            vec![
                "incident",
                "title",
                "severity",
                "status",
                "opened",
                "to ack",
                "to resolve",
            ],
            i.list
                .iter()
                .map(|x| {
                    vec![
                        x.id.to_string(),
                        x.title.clone(),
                        x.severity.clone(),
                        x.status.clone(),
                        time_opt(x.opened_ms),
                        dur_i(x.time_to_ack_ms),
                        dur_i(x.time_to_resolve_ms),
                    ]
                })
                .collect(),
        )],
    };
    let timeline: Vec<Vec<String>> = i
        .list
        .iter()
        .flat_map(|x| {
            x.timeline.iter().map(move |e| {
                vec![
                    x.id.to_string(),
                    time(e.at_ms),
                    e.kind.clone(),
                    e.actor.clone(),
                    e.text.clone(),
                ]
            })
        })
        .collect();
    if !timeline.is_empty() {
        inc.tables
            .push((vec!["incident", "at", "kind", "actor", "what"], timeline));
    }
    out.push(inc);
    let o = &r.oncall;
    let mut on = Section {
        title: "On-call",
        id: "oncall",
        lines: vec![format!("{} pages sent.", o.pages)],
        tables: vec![(
            vec!["person", "pages"],
            o.pages_per_person
                .iter()
                .map(|(p, n)| vec![p.clone(), n.to_string()])
                .collect(),
        )],
    };
    if o.shifts == 0 {
        on.lines.push("The plan has no on-call rota.".into());
    } else if o.gaps.is_empty() {
        on.lines.push(format!(
            "{} shifts; every stretch of the peak and freeze phases and freeze windows had a primary on call.",
            o.shifts
        ));
    } else {
        on.lines
            .push(format!("Not covered: {}.", o.gaps.join("; ")));
    }
    out.push(on);
    out.push(Section {
        title: "Recommendations",
        id: "recommendations",
        lines: if r.recommendations.is_empty() {
            vec!["None: no rule of docs/review.md#recommendations applies.".into()]
        } else {
            Vec::new()
        },
        tables: if r.recommendations.is_empty() {
            Vec::new()
        } else {
            vec![(
                vec!["rule", "why", "change", "plan line"],
                r.recommendations
                    .iter()
                    .map(|x| {
                        vec![
                            x.rule.clone(),
                            x.why.clone(),
                            x.change.clone(),
                            x.plan_line.clone().unwrap_or_else(dash),
                        ]
                    })
                    .collect(),
            )]
        },
    });
    if let Some(c) = &r.comparison {
        let pair = |a: &(u32, u32)| vec![a.0.to_string(), a.1.to_string()];
        let mut rows: Vec<Vec<String>> = c
            .entries
            .iter()
            .map(|e| {
                vec![
                    format!("{} peak qps", e.id),
                    num(e.peak_qps.0),
                    num(e.peak_qps.1),
                ]
            })
            .collect();
        for (name, v) in [
            ("alert firings", &c.fired),
            ("noise", &c.noise),
            ("misses", &c.misses),
            ("incidents", &c.incidents),
            ("runs within expected", &c.runs_within_expected),
        ] {
            let mut row = vec![name.to_owned()];
            row.extend(pair(v));
            rows.push(row);
        }
        rows.push(vec!["MTTA".into(), dur(c.mtta_ms.0), dur(c.mtta_ms.1)]);
        rows.push(vec!["MTTR".into(), dur(c.mttr_ms.0), dur(c.mttr_ms.1)]);
        out.push(Section {
            title: "Comparison",
            id: "comparison",
            lines: vec![format!("This event against `{}`.", c.earlier)],
            tables: vec![(vec!["", "now", "then"], rows)],
        });
    }
    out
}
