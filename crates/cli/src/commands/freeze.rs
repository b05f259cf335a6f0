//! `seawall plan freeze`: may this service take this kind of change at this
//! time (the change gate's answer, with `--exceptions` applied)? With
//! `--export`, the freeze calendar as an iCal feed, GitLab freeze periods or
//! Argo CD sync windows instead (docs/change-gate.md).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::ValueEnum;
use jiff::Timestamp;
use seawall_plan::export;
use seawall_plan::gate::{self, FreezeException, GateDecision};
use seawall_plan::model::{ChangeKind, Plan};
use seawall_plan::time::format_time;

use crate::FreezeArgs;
use crate::input;
use crate::output::{self, Align, Cell, Format, Grid, Page, Tone, opt};

/// Freeze-calendar export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Export {
    /// iCalendar (RFC 5545) feed: phases, freeze windows, approved exceptions.
    Ical,
    /// GitLab freeze periods (JSON list for the Freeze Periods API).
    Gitlab,
    /// Argo CD `syncWindows` for an AppProject's spec (YAML).
    Argocd,
}

/// Run the verb.
pub fn run(args: &FreezeArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = input::load(&args.common.plan, args.common.format)? else {
        return Ok(super::invalid());
    };
    let exceptions = match &args.exceptions {
        Some(path) => read_exceptions(path)?,
        None => Vec::new(),
    };
    for e in &exceptions {
        for s in e.unknown_services(&plan) {
            eprintln!(
                "warning: exception `{}` names service `{s}`, which is not in the plan; it lets nothing through there",
                e.id
            );
        }
    }
    if let Some(service) = &args.service
        && !plan.services.contains_key(service)
    {
        eprintln!(
            "warning: service `{service}` is not in the plan; evaluating the freeze windows' globs anyway"
        );
    }
    if let Some(format) = args.export {
        return export(args, format, &plan, &exceptions);
    }
    let (Some(service), Some(kind)) = (args.service.as_deref(), args.kind) else {
        anyhow::bail!("--service and --kind are required unless --export is given");
    };
    let at = input::time(args.at.as_deref(), &plan)?;
    let decision = gate::gate(&plan, service, kind, at, &exceptions);
    match args.common.format {
        Format::Json => output::emit_json(&decision)?,
        format => output::emit_page(&page(&decision, &plan, &exceptions), format)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Read and check an exceptions file.
fn read_exceptions(path: &Path) -> anyhow::Result<Vec<FreezeException>> {
    let src = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read exceptions file `{}`", path.display()))?;
    Ok(gate::parse_exceptions(&src, &path.display().to_string())?)
}

/// `--export`: render the calendar, then print it or write it whole.
fn export(
    args: &FreezeArgs,
    format: Export,
    plan: &Plan,
    exceptions: &[FreezeException],
) -> anyhow::Result<ExitCode> {
    let kind = args.kind.unwrap_or(ChangeKind::Release);
    let service = args.service.as_deref();
    let text = match format {
        Export::Ical => {
            let now = match &args.at {
                Some(_) => input::time(args.at.as_deref(), plan)?,
                None => Timestamp::now(),
            };
            export::ical(plan, exceptions, now)
        }
        Export::Gitlab => export::gitlab_freeze_periods(plan, service, kind),
        Export::Argocd => export::argocd_sync_windows(plan, service, kind),
    };
    match &args.out {
        Some(path) => {
            input::writable(path)?;
            input::write_whole(path, text.as_bytes())?;
        }
        None => output::emit(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The human-readable report; times in the event's time zone.
pub fn page(d: &GateDecision, plan: &Plan, exceptions: &[FreezeException]) -> Page {
    let tz = &plan.event.tz;
    let mut page = Page::new();
    let head = format!(
        "{} change to `{}` at {}:",
        d.kind.as_str(),
        d.service,
        format_time(d.at, tz)
    );
    if !d.frozen {
        page.line(format!("{head} not frozen, the change may go ahead."));
        return page;
    }
    match exceptions
        .iter()
        .find(|e| d.exception.as_ref() == Some(&e.id))
    {
        Some(e) => page.line(format!(
            "{head} frozen, but let through by approved exception `{}` until {}: {}",
            e.id,
            format_time(e.end, tz),
            e.reason
        )),
        None => page.line(format!("{head} FROZEN.")),
    }
    page.heading("Frozen by");
    let mut g = Grid::new(&[
        ("window", Align::Left),
        ("start", Align::Left),
        ("end", Align::Left),
        ("reason", Align::Left),
    ]);
    for w in &d.windows {
        g.row(vec![
            Cell::toned(w.id.as_str(), Tone::Bad),
            format_time(w.start, tz).into(),
            format_time(w.end, tz).into(),
            opt(w.reason.as_deref(), str::to_string).into(),
        ]);
    }
    page.grid(g);
    page.line(format!(
        "Next free: {}.",
        opt(d.next_free, |t| format_time(t, tz))
    ));
    if !plan.freeze.approvers.is_empty() {
        page.line(format!(
            "Exceptions are approved by: {}.",
            plan.freeze
                .approvers
                .iter()
                .map(|id| match plan.people.get(id) {
                    Some(p) if !p.name.is_empty() => format!("{} ({id})", p.name),
                    _ => id.clone(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    page
}
