//! `seawall plan targets`: business goals decomposed into QPS.

use std::process::ExitCode;

use seawall_plan::targets::{self, Targets};

use crate::PlanArgs;
use crate::input;
use crate::output::{self, Align, Format, Grid, Page, count, opt, rate, ratio};

/// Run the verb.
pub fn run(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = input::load(&args.plan, args.format)? else {
        return Ok(super::invalid());
    };
    let targets = targets::decompose(&plan);
    match args.format {
        Format::Json => output::emit_json(&targets)?,
        format => output::emit_page(&page(&targets), format)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The human-readable report.
pub fn page(t: &Targets) -> Page {
    let mut page = Page::new();

    page.heading("Goals");
    let mut g = Grid::new(&[
        ("goal", Align::Left),
        ("total", Align::Right),
        ("peak-hour share", Align::Right),
        ("peak factor", Align::Right),
        ("peak rate /s", Align::Right),
    ]);
    for goal in &t.goals {
        g.row(vec![
            goal.id.as_str().into(),
            count(goal.total).into(),
            ratio(goal.peak_hour_share).into(),
            ratio(goal.peak_factor).into(),
            rate(goal.rate).into(),
        ]);
    }
    page.grid(g);

    page.heading("Journeys");
    let mut g = Grid::new(&[
        ("journey", Align::Left),
        ("goal", Align::Left),
        ("#", Align::Right),
        ("entry", Align::Left),
        ("users /s", Align::Right),
        ("calls", Align::Right),
        ("qps", Align::Right),
        ("online users", Align::Right),
    ]);
    for j in &t.journeys {
        for (i, s) in j.steps.iter().enumerate() {
            let first = i == 0;
            g.row(vec![
                if first { j.id.as_str() } else { "" }.into(),
                if first { j.goal.as_str() } else { "" }.into(),
                (i + 1).to_string().into(),
                s.entry.as_str().into(),
                rate(s.rate).into(),
                ratio(s.calls).into(),
                rate(s.qps).into(),
                if first {
                    opt(j.online_users, count)
                } else {
                    String::new()
                }
                .into(),
            ]);
        }
    }
    page.grid(g);

    page.heading("Entries");
    let mut g = Grid::new(&[
        ("entry", Align::Left),
        ("service", Align::Left),
        ("target qps", Align::Right),
    ]);
    for e in &t.entries {
        g.row(vec![
            e.id.as_str().into(),
            e.service.as_str().into(),
            rate(e.target_qps).into(),
        ]);
    }
    page.grid(g);

    page.heading("Services");
    let mut g = Grid::new(&[
        ("service", Align::Left),
        ("target qps", Align::Right),
        ("in flight", Align::Right),
    ]);
    for s in &t.services {
        g.row(vec![
            s.id.as_str().into(),
            rate(s.target_qps).into(),
            opt(s.in_flight, rate).into(),
        ]);
    }
    page.grid(g);

    page.heading("Partners");
    let mut g = Grid::new(&[("partner", Align::Left), ("target qps", Align::Right)]);
    for p in &t.partners {
        g.row(vec![p.id.as_str().into(), rate(p.target_qps).into()]);
    }
    page.grid(g);
    page
}
