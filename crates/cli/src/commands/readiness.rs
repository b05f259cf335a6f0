//! `seawall plan readiness`: the go / no-go scorecard.
//!
//! A no-go is a finding of the report, not a failure of the command: the
//! exit status is 0 whenever the plan is valid.

use std::process::ExitCode;

use seawall_plan::capacity::{self, Measured};
use seawall_plan::readiness::{self, LineReadiness, Readiness};
use seawall_plan::{links, targets};

use crate::PlanArgs;
use crate::input;
use crate::output::{self, Align, Cell, Format, Grid, Page, Tone, rate};

/// Run the verb.
pub fn run(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = input::load(&args.plan, args.format)? else {
        return Ok(super::invalid());
    };
    let targets = targets::decompose(&plan);
    let table = capacity::table(&plan, &targets, &Measured::default());
    let findings = links::analyze(&plan, &targets, &table);
    let card = readiness::scorecard(&plan, &targets, &table, &findings);
    match args.format {
        Format::Json => output::emit_json(&card)?,
        format => output::emit_page(&page(&card, &plan.event.name), format)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn verdict(go: bool) -> Cell {
    if go {
        Cell::toned("GO", Tone::Good)
    } else {
        Cell::toned("NO-GO", Tone::Bad)
    }
}

fn row(r: &LineReadiness) -> Vec<Cell> {
    let f = &r.findings;
    let e = &r.emergency_plans;
    vec![
        r.line.as_str().into(),
        r.name.as_str().into(),
        verdict(r.go),
        rate(r.target_qps).into(),
        if f.error > 0 {
            Cell::toned(f.error.to_string(), Tone::Bad)
        } else {
            "0".into()
        },
        f.warning.to_string().into(),
        f.info.to_string().into(),
        f.accepted.to_string().into(),
        r.scaling.len().to_string().into(),
        r.critical.len().to_string().into(),
        format!("{}/{}", e.drilled, e.total).into(),
        r.coverage_gaps.len().to_string().into(),
    ]
}

/// The human-readable report.
pub fn page(card: &Readiness, event: &str) -> Page {
    let mut page = Page::new();
    page.line(format!(
        "{event}: {}",
        if card.go {
            "GO: every business line is ready."
        } else {
            "NO-GO."
        }
    ));
    page.heading("Scorecard");
    let mut g = Grid::new(&[
        ("line", Align::Left),
        ("name", Align::Left),
        ("verdict", Align::Left),
        ("target qps", Align::Right),
        ("errors", Align::Right),
        ("warnings", Align::Right),
        ("infos", Align::Right),
        ("accepted", Align::Right),
        ("to scale", Align::Right),
        ("critical", Align::Right),
        ("drilled", Align::Right),
        ("on-call gaps", Align::Right),
    ]);
    for r in card.lines.iter().chain(std::iter::once(&card.event)) {
        g.row(row(r));
    }
    page.grid(g);

    if !card.reasons.is_empty() {
        page.heading("Why no-go");
        for reason in &card.reasons {
            page.line(format!("- {reason}"));
        }
    }

    let scaling: Vec<_> = card
        .lines
        .iter()
        .chain(std::iter::once(&card.event))
        .flat_map(|r| r.scaling.iter().map(move |s| (r, s)))
        .collect();
    if !scaling.is_empty() {
        page.heading("Scaling needed");
        let mut g = Grid::new(&[
            ("line", Align::Left),
            ("service", Align::Left),
            ("target qps", Align::Right),
            ("capacity qps", Align::Right),
            ("instances", Align::Right),
            ("needed", Align::Right),
        ]);
        for (r, s) in scaling {
            g.row(vec![
                r.line.as_str().into(),
                s.service.as_str().into(),
                rate(s.target_qps).into(),
                output::opt(s.capacity_qps, rate).into(),
                output::opt(s.instances, |n| output::count(f64::from(n))).into(),
                Cell::toned(
                    output::opt(s.instances_needed, |n| output::count(f64::from(n))),
                    Tone::Warn,
                ),
            ]);
        }
        page.grid(g);
    }
    page
}
