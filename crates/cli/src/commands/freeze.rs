//! `seawall plan freeze`: may this service take this kind of change at this time?

use std::process::ExitCode;

use seawall_plan::freeze::{self, FreezeDecision};
use seawall_plan::model::{ChangeKind, Plan};
use seawall_plan::time::format_time;

use crate::input;
use crate::output::{self, Align, Cell, Format, Grid, Page, Tone, opt};
use crate::{FreezeArgs, Kind};

impl From<Kind> for ChangeKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Release => ChangeKind::Release,
            Kind::Config => ChangeKind::Config,
            Kind::Ops => ChangeKind::Ops,
        }
    }
}

/// Run the verb.
pub fn run(args: &FreezeArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = input::load(&args.common.plan, args.common.format)? else {
        return Ok(super::invalid());
    };
    let at = input::time(args.at.as_deref(), &plan)?;
    if !plan.services.contains_key(&args.service) {
        eprintln!(
            "warning: service `{}` is not in the plan; evaluating the freeze windows' globs anyway",
            args.service
        );
    }
    let decision = freeze::evaluate(&plan, &args.service, args.kind.into(), at);
    match args.common.format {
        Format::Json => output::emit_json(&decision)?,
        format => output::emit_page(&page(&decision, &plan), format)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The human-readable report; times in the event's time zone.
pub fn page(d: &FreezeDecision, plan: &Plan) -> Page {
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
    page.line(format!("{head} FROZEN."));
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
