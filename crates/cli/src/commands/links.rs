//! `seawall plan links`: link-risk findings (rules L001–L015).

use std::process::ExitCode;

use seawall_plan::Severity;
use seawall_plan::capacity::{self, Measured};
use seawall_plan::links::{self, Finding};
use seawall_plan::targets;
use serde::Serialize;

use crate::PlanArgs;
use crate::commands::check::plural;
use crate::input;
use crate::output::{self, Align, Cell, Format, Grid, Page, Tone};

/// `{"findings": [...]}`.
#[derive(Serialize)]
struct Report<'a> {
    findings: &'a [Finding],
}

/// Run the verb: exit 1 when a finding of severity error is not accepted.
pub fn run(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = input::load(&args.plan, args.format)? else {
        return Ok(super::invalid());
    };
    let targets = targets::decompose(&plan);
    let table = capacity::table(&plan, &targets, &Measured::default());
    let findings = links::analyze(&plan, &targets, &table);
    match args.format {
        Format::Json => output::emit_json(&Report {
            findings: &findings,
        })?,
        format => output::emit_page(&page(&findings), format)?,
    }
    Ok(if blocking(&findings) {
        super::invalid()
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether some error-severity finding is not accepted by the plan.
pub fn blocking(findings: &[Finding]) -> bool {
    findings
        .iter()
        .any(|f| f.severity == Severity::Error && f.accepted.is_none())
}

/// Severity cell.
pub fn severity(s: Severity) -> Cell {
    match s {
        Severity::Error => Cell::toned("error", Tone::Bad),
        Severity::Warning => Cell::toned("warning", Tone::Warn),
        Severity::Info => Cell::toned("info", Tone::Dim),
    }
}

/// The human-readable report: open findings, then accepted ones.
pub fn page(findings: &[Finding]) -> Page {
    let count = |s: Severity| {
        findings
            .iter()
            .filter(|f| f.severity == s && f.accepted.is_none())
            .count()
    };
    let accepted: Vec<&Finding> = findings.iter().filter(|f| f.accepted.is_some()).collect();
    let open: Vec<&Finding> = findings.iter().filter(|f| f.accepted.is_none()).collect();

    let mut page = Page::new();
    page.line(format!(
        "{}, {}, {}; {} accepted.",
        plural(count(Severity::Error), "error", "errors"),
        plural(count(Severity::Warning), "warning", "warnings"),
        plural(count(Severity::Info), "info", "infos"),
        accepted.len()
    ));
    if !open.is_empty() {
        page.heading("Findings");
        let mut g = Grid::new(&[
            ("rule", Align::Left),
            ("severity", Align::Left),
            ("line:col", Align::Right),
            ("path", Align::Left),
            ("finding", Align::Left),
            ("fix", Align::Left),
        ])
        .prose(&[4, 5]);
        for f in open {
            g.row(vec![
                f.rule.into(),
                severity(f.severity),
                format!("{}:{}", f.location.line, f.location.column).into(),
                f.location.path.as_str().into(),
                f.message.as_str().into(),
                f.fix.as_str().into(),
            ]);
        }
        page.grid(g);
    }
    if !accepted.is_empty() {
        page.heading("Accepted risks");
        let mut g = Grid::new(&[
            ("rule", Align::Left),
            ("severity", Align::Left),
            ("line:col", Align::Right),
            ("path", Align::Left),
            ("finding", Align::Left),
            ("accepted because", Align::Left),
        ])
        .prose(&[4, 5]);
        for f in accepted {
            g.row(vec![
                f.rule.into(),
                Cell::toned(f.severity.as_str(), Tone::Dim),
                format!("{}:{}", f.location.line, f.location.column).into(),
                f.location.path.as_str().into(),
                f.message.as_str().into(),
                f.accepted.as_deref().unwrap_or_default().into(),
            ]);
        }
        page.grid(g);
    }
    page
}
