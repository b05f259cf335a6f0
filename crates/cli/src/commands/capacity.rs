//! `seawall plan capacity`: the water-level table.

use std::process::ExitCode;

use seawall_plan::capacity::{self, CapacitySource, CapacityTable, Measured, Row, Status};
use seawall_plan::targets;

use crate::CapacityArgs;
use crate::commands::check::plural;
use crate::input;
use crate::output::{self, Align, Cell, Format, Grid, Page, Tone, count, opt, percent, rate};

/// Run the verb.
pub fn run(args: &CapacityArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = input::load(&args.common.plan, args.common.format)? else {
        return Ok(super::invalid());
    };
    let (measured, notes) = match &args.results {
        Some(path) => input::measured_with_notes(path, &plan)?,
        None => (Measured::default(), Vec::new()),
    };
    let targets = targets::decompose(&plan);
    let table = capacity::table(&plan, &targets, &measured);
    match args.common.format {
        Format::Json => {
            for note in &notes {
                eprintln!("note: {note}");
            }
            output::emit_json(&table)?
        }
        format => {
            let mut page = page(&table, &measured);
            for note in notes {
                page.line(note);
            }
            output::emit_page(&page, format)?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Status cell.
pub fn status(s: Status) -> Cell {
    match s {
        Status::Ok => Cell::toned("ok", Tone::Good),
        Status::Warn => Cell::toned("warn", Tone::Warn),
        Status::Critical => Cell::toned("critical", Tone::Bad),
        Status::Unknown => Cell::toned("unknown", Tone::Dim),
    }
}

fn source(s: CapacitySource) -> &'static str {
    match s {
        CapacitySource::Declared => "declared",
        CapacitySource::Measured => "measured",
        CapacitySource::Unknown => "unknown",
    }
}

fn level(row: &Row) -> Cell {
    let text = opt(row.water_level, percent);
    match row.status {
        Status::Ok | Status::Unknown => text.into(),
        Status::Warn => Cell::toned(text, Tone::Warn),
        Status::Critical => Cell::toned(text, Tone::Bad),
    }
}

fn scale(row: &Row) -> Cell {
    if row.needs_scaling {
        Cell::toned("yes", Tone::Bad)
    } else {
        "no".into()
    }
}

fn instances(n: Option<u32>) -> String {
    opt(n, |n| count(f64::from(n)))
}

/// The human-readable report.
pub fn page(t: &CapacityTable, measured: &Measured) -> Page {
    let mut page = Page::new();
    if let Some(src) = &measured.source {
        page.line(format!(
            "Measured capacities from {src} ({}, {}) override declared ones.",
            plural(measured.entries.len(), "entry", "entries"),
            plural(measured.services_per_instance.len(), "service", "services")
        ));
    }

    page.heading("Entries");
    let mut g = Grid::new(&[
        ("entry", Align::Left),
        ("target qps", Align::Right),
        ("capacity qps", Align::Right),
        ("source", Align::Left),
        ("water level", Align::Right),
        ("required qps", Align::Right),
        ("scale", Align::Left),
        ("needed", Align::Right),
        ("current level", Align::Right),
        ("status", Align::Left),
        ("bottleneck", Align::Left),
    ]);
    for r in &t.entries {
        g.row(vec![
            r.id.as_str().into(),
            rate(r.target_qps).into(),
            opt(r.capacity_qps, rate).into(),
            source(r.capacity_source).into(),
            level(r),
            rate(r.required_qps).into(),
            scale(r),
            instances(r.instances_needed).into(),
            opt(r.current_level, percent).into(),
            status(r.status),
            opt(r.bottleneck.as_deref(), str::to_string).into(),
        ]);
    }
    page.grid(g);

    page.heading("Services");
    let mut g = Grid::new(&[
        ("service", Align::Left),
        ("target qps", Align::Right),
        ("capacity qps", Align::Right),
        ("source", Align::Left),
        ("water level", Align::Right),
        ("required qps", Align::Right),
        ("scale", Align::Left),
        ("instances", Align::Right),
        ("needed", Align::Right),
        ("status", Align::Left),
    ]);
    for r in &t.services {
        g.row(vec![
            r.id.as_str().into(),
            rate(r.target_qps).into(),
            opt(r.capacity_qps, rate).into(),
            source(r.capacity_source).into(),
            level(r),
            rate(r.required_qps).into(),
            scale(r),
            instances(r.instances).into(),
            instances(r.instances_needed).into(),
            status(r.status),
        ]);
    }
    page.grid(g);

    page.heading("Partners");
    let mut g = Grid::new(&[
        ("partner", Align::Left),
        ("target qps", Align::Right),
        ("quota qps", Align::Right),
        ("water level", Align::Right),
        ("required qps", Align::Right),
        ("over quota", Align::Left),
        ("status", Align::Left),
    ]);
    for r in &t.partners {
        g.row(vec![
            r.id.as_str().into(),
            rate(r.target_qps).into(),
            opt(r.capacity_qps, rate).into(),
            level(r),
            rate(r.required_qps).into(),
            scale(r),
            status(r.status),
        ]);
    }
    page.grid(g);
    page
}
