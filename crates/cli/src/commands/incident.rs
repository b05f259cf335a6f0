//! `seawall incident list|show|ack|resolve`: an event's incidents from a
//! terminal, through the typed `seawall_api::Client` only
//! (`docs/respond.md#incidents`).
//!
//! `list` shows the event's incidents with their status and paging;
//! `show N` one incident's timeline and the pages sent; `ack N`
//! acknowledges it (the paging stops); `resolve N [--text T]` resolves it.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use seawall_api::incidents::{Incident, IncidentList};

use super::api_client::{Api, ServerArgs};
use crate::output::{self, Align, Format, Grid, Page};

/// `seawall incident …`.
#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// The event's incidents, oldest first.
    List(EventArgs),
    /// Incident N: its timeline and pages.
    Show(Number),
    /// Acknowledge incident N: its paging stops.
    Ack(Number),
    /// Resolve incident N.
    Resolve(ResolveArgs),
}

/// Arguments naming an event.
#[derive(Debug, Args)]
pub struct EventArgs {
    /// The event (its slug).
    #[arg(long, value_name = "SLUG")]
    event: String,
    #[command(flatten)]
    server: ServerArgs,
    /// Output format: a table, Markdown, or the API's JSON.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Arguments naming an incident.
#[derive(Debug, Args)]
pub struct Number {
    /// The incident's number.
    n: i64,
    #[command(flatten)]
    at: EventArgs,
}

/// Arguments of `seawall incident resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The incident's number.
    n: i64,
    /// What ended it.
    #[arg(long)]
    text: Option<String>,
    #[command(flatten)]
    at: EventArgs,
}

/// Run a `seawall incident` command: exit 0, 2 on any error.
pub fn run(command: &IncidentCommand) -> anyhow::Result<ExitCode> {
    match command {
        IncidentCommand::List(a) => {
            let api = Api::new(&a.server)?;
            let list = api.call(api.client().incidents(&a.event))?;
            if a.format == Format::Json {
                output::emit_json(&list)?;
            } else {
                output::emit_page(&list_page(&a.event, &list), a.format)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        IncidentCommand::Show(a) => {
            let api = Api::new(&a.at.server)?;
            let i = api.call(api.client().incident(&a.at.event, a.n))?;
            show(&a.at.event, &i, a.at.format)
        }
        IncidentCommand::Ack(a) => {
            let api = Api::new(&a.at.server)?;
            let i = api.call(api.client().ack_incident(&a.at.event, a.n))?;
            show(&a.at.event, &i, a.at.format)
        }
        IncidentCommand::Resolve(a) => {
            let api = Api::new(&a.at.server)?;
            let i = api.call(
                api.client()
                    .resolve_incident(&a.at.event, a.n, a.text.as_deref()),
            )?;
            show(&a.at.event, &i, a.at.format)
        }
    }
}

fn show(event: &str, i: &Incident, format: Format) -> anyhow::Result<ExitCode> {
    if format == Format::Json {
        output::emit_json(i)?;
    } else {
        output::emit_page(&incident_page(event, i), format)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Milliseconds as a time of day in UTC (`HH:MM:SS`), or the number if
/// out of range.
fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(
        |_| ms.to_string(),
        |t| t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn minutes(ms: Option<i64>) -> String {
    ms.map(|m| format!("{:.1} min", m as f64 / 60_000.0))
        .unwrap_or_default()
}

fn list_page(event: &str, list: &IncidentList) -> Page {
    let mut page = Page::new();
    page.heading(format!("Incidents: {event}"));
    let mut g = Grid::new(&[
        ("#", Align::Right),
        ("severity", Align::Left),
        ("status", Align::Left),
        ("title", Align::Left),
        ("opened (UTC)", Align::Left),
        ("pages", Align::Right),
        ("to ack", Align::Right),
        ("to resolve", Align::Right),
    ]);
    for i in &list.incidents {
        g.row(vec![
            i.id.to_string().into(),
            i.severity.as_str().into(),
            i.status.as_str().into(),
            i.title.as_str().into(),
            time(i.opened_ms).into(),
            i.paging
                .as_ref()
                .map_or(0, |p| p.sent.len())
                .to_string()
                .into(),
            minutes(i.time_to_ack_ms).into(),
            minutes(i.time_to_resolve_ms).into(),
        ]);
    }
    page.grid(g);
    page
}

fn incident_page(event: &str, i: &Incident) -> Page {
    let mut page = Page::new();
    page.heading(format!(
        "Incident {} of {event} ({}, {}): {}",
        i.id, i.severity, i.status, i.title
    ));
    let mut g = Grid::new(&[
        ("time (UTC)", Align::Left),
        ("kind", Align::Left),
        ("by", Align::Left),
        ("what", Align::Left),
    ]);
    for e in &i.timeline {
        g.row(vec![
            time(e.at_ms).into(),
            e.kind.as_str().into(),
            e.actor.as_str().into(),
            e.text.as_str().into(),
        ]);
    }
    page.grid(g);
    if let Some(p) = &i.paging {
        let mut g = Grid::new(&[
            ("step", Align::Right),
            ("tier", Align::Left),
            ("people", Align::Left),
            ("round", Align::Right),
            ("paged (UTC)", Align::Left),
        ]);
        for s in &p.sent {
            g.row(vec![
                s.step.to_string().into(),
                s.tier.as_str().into(),
                s.people.join(", ").into(),
                (s.round + 1).to_string().into(),
                time(s.at_ms).into(),
            ]);
        }
        page.grid(g);
    }
    page
}
