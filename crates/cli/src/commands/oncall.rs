//! `seawall plan oncall`: who is on call now, and where the rota has gaps.

use std::process::ExitCode;

use jiff::Timestamp;
use seawall_plan::model::Plan;
use seawall_plan::oncall::{self, CoverageGap, LineDuty, PersonRef};
use seawall_plan::time::format_time;
use serde::Serialize;

use crate::OncallArgs;
use crate::input;
use crate::output::{self, Align, Cell, DASH, Format, Grid, Page, Tone};

/// `{"at": ..., "on_call": [...], "gaps": [...]}`.
#[derive(Serialize)]
struct Report {
    at: String,
    on_call: Vec<LineDuty>,
    gaps: Vec<CoverageGap>,
}

/// Run the verb.
pub fn run(args: &OncallArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = input::load(&args.common.plan, args.common.format)? else {
        return Ok(super::invalid());
    };
    let at = input::time(args.at.as_deref(), &plan)?;
    let report = Report {
        at: at.to_string(),
        on_call: oncall::on_call(&plan, at),
        gaps: oncall::gaps(&plan),
    };
    match args.common.format {
        Format::Json => output::emit_json(&report)?,
        format => output::emit_page(&page(&report, at, &plan), format)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// How to reach someone: phone, else the first IM handle, else e-mail.
fn contact(p: &PersonRef) -> String {
    if let Some(phone) = &p.phone {
        return phone.clone();
    }
    if let Some((platform, handle)) = p.im.iter().next() {
        return format!("{platform}: {handle}");
    }
    p.email.clone().unwrap_or_else(|| DASH.to_string())
}

fn person(p: Option<&PersonRef>) -> (Cell, Cell) {
    match p {
        Some(p) => (p.name.as_str().into(), contact(p).into()),
        None => (Cell::toned("nobody", Tone::Bad), DASH.into()),
    }
}

fn page(r: &Report, at: Timestamp, plan: &Plan) -> Page {
    let tz = &plan.event.tz;
    let mut page = Page::new();
    page.heading(format!("On call at {}", format_time(at, tz)));
    let mut g = Grid::new(&[
        ("line", Align::Left),
        ("name", Align::Left),
        ("shift", Align::Right),
        ("primary", Align::Left),
        ("contact", Align::Left),
        ("secondary", Align::Left),
        ("contact", Align::Left),
    ]);
    for d in &r.on_call {
        let (primary, primary_contact) = person(d.primary.as_ref());
        let (secondary, secondary_contact) = match &d.secondary {
            Some(p) => (p.name.as_str().into(), contact(p).into()),
            None => (DASH.into(), DASH.into()),
        };
        g.row(vec![
            d.line.as_str().into(),
            d.line_name.as_str().into(),
            d.shift
                .map_or_else(|| DASH.to_string(), |i| format!("#{}", i + 1))
                .into(),
            primary,
            primary_contact,
            secondary,
            secondary_contact,
        ]);
    }
    page.grid(g);

    page.heading("Coverage gaps (peak and freeze windows without a primary)");
    if r.gaps.is_empty() {
        page.line("None: every line has a primary on call throughout.");
    } else {
        let mut g = Grid::new(&[
            ("line", Align::Left),
            ("window", Align::Left),
            ("from", Align::Left),
            ("until", Align::Left),
        ]);
        for gap in &r.gaps {
            g.row(vec![
                gap.line.as_str().into(),
                gap.window.as_str().into(),
                Cell::toned(format_time(gap.start, tz), Tone::Warn),
                Cell::toned(format_time(gap.end, tz), Tone::Warn),
            ]);
        }
        page.grid(g);
    }
    page
}
