//! `seawall live --event E` and `seawall alerts --event E`: the event day
//! from a terminal, through the typed `seawall_api::Client` only (the
//! control plane's `GET /events/{slug}/live` and `/alerts`).
//!
//! `live` refreshes a table like `top`: every entry, service, partner and
//! funnel step with its qps, capacity, water level, p99, error rate,
//! status and source, redrawn every `--every` until Ctrl-C. Off a terminal
//! (a pipe, a file, CI) and with `--once` it prints one table and exits,
//! so scripts never hang; `--format json` prints the API's JSON once.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use seawall_api::monitoring::{
    Alert, AlertList, AlertSeverity, AlertState, LiveRow, LiveStatus, LiveView, SourceState,
    TargetKind,
};

use super::api_client::{Api, ServerArgs};
use crate::input;
use crate::output::{self, Align, Cell, Format, Grid, Page, Tone};

/// Arguments of `seawall live`.
#[derive(Debug, Args)]
pub struct LiveArgs {
    /// The event (its slug).
    #[arg(long, value_name = "SLUG")]
    event: String,
    /// Print one table and exit (also what happens when stdout is not a terminal).
    #[arg(long)]
    once: bool,
    /// Time between two refreshes: `5s`, `500ms`, `1m` (at least 200ms).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = input::duration)]
    every: Duration,
    #[command(flatten)]
    server: ServerArgs,
    /// Output format: a table, Markdown, or the API's JSON (printed once).
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Arguments of `seawall alerts`.
#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// The event (its slug).
    #[arg(long, value_name = "SLUG")]
    event: String,
    #[command(flatten)]
    server: ServerArgs,
    /// Output format: a table, Markdown, or the API's JSON.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// The shortest refresh interval.
const MIN_EVERY: Duration = Duration::from_millis(200);
/// Clear the screen and go home (ANSI), before each redraw on a terminal.
const CLEAR: &str = "\x1b[H\x1b[2J";

/// Run `seawall live`: exit 0 (also on Ctrl-C), 2 on any error.
pub fn run_live(args: &LiveArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.server)?;
    let live = api.call(api.client().live(&args.event))?;
    if args.format == Format::Json {
        output::emit_json(&live)?;
        return Ok(ExitCode::SUCCESS);
    }
    let tty = std::io::stdout().is_terminal();
    if args.once || !tty {
        output::emit_page(&live_page(&args.event, &live), args.format)?;
        return Ok(ExitCode::SUCCESS);
    }
    let every = args.every.max(MIN_EVERY);
    let mut view = live;
    api.block_on(async {
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            let mut text = String::from(CLEAR);
            text.push_str(&live_page(&args.event, &view).render(args.format, true, true));
            text.push_str(&format!("refreshed every {every:?} · Ctrl-C to quit\n"));
            output::emit(&text)?;
            tokio::select! {
                _ = &mut ctrl_c => return anyhow::Ok(()),
                () = tokio::time::sleep(every) => {}
            }
            // A failed refresh is shown and retried; the table stays.
            match api.client().live(&args.event).await {
                Ok(v) => view = v,
                Err(e) => output::emit(&format!("refresh failed: {}\n", api.failed(e)))?,
            }
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Run `seawall alerts`: exit 0, 2 on any error.
pub fn run_alerts(args: &AlertsArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.server)?;
    let list = api.call(api.client().alerts(&args.event))?;
    if args.format == Format::Json {
        output::emit_json(&list)?;
    } else {
        output::emit_page(&alerts_page(&args.event, &list), args.format)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A time in ms since the epoch as RFC 3339 UTC, to the second.
fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| format!("{ms} ms"))
}

fn kind_name(k: TargetKind) -> &'static str {
    match k {
        TargetKind::Entry => "entry",
        TargetKind::Service => "service",
        TargetKind::Partner => "partner",
        TargetKind::FunnelStep => "funnel",
        TargetKind::Query => "query",
    }
}

fn status_cell(s: LiveStatus) -> Cell {
    match s {
        LiveStatus::Ok => Cell::toned("ok", Tone::Good),
        LiveStatus::Warn => Cell::toned("warn", Tone::Warn),
        LiveStatus::Critical => Cell::toned("critical", Tone::Bad),
        LiveStatus::Unknown => Cell::toned("unknown", Tone::Dim),
    }
}

fn source_cell(s: SourceState) -> Cell {
    match s {
        SourceState::Ok => Cell::toned("ok", Tone::Good),
        SourceState::Stale => Cell::toned("stale", Tone::Warn),
        SourceState::Failed => Cell::toned("failed", Tone::Bad),
        SourceState::Missing => Cell::toned("missing", Tone::Dim),
    }
}

/// The live table: one row per entry, service, partner and funnel step.
fn live_page(event: &str, live: &LiveView) -> Page {
    let mut page = Page::new();
    page.heading(format!("Live: {event}"));
    page.line(match live.at {
        Some(at) => format!("latest tick {}", when(at)),
        None => "no tick yet: the monitor has not read this event's sources".to_owned(),
    });
    let mut g = Grid::new(&[
        ("kind", Align::Left),
        ("id", Align::Left),
        ("qps", Align::Right),
        ("capacity", Align::Right),
        ("water level", Align::Right),
        ("p99 ms", Align::Right),
        ("error rate", Align::Right),
        ("status", Align::Left),
        ("source", Align::Left),
    ]);
    let kinds: [(&str, &[LiveRow]); 4] = [
        ("entry", &live.entries),
        ("service", &live.services),
        ("partner", &live.partners),
        ("funnel", &live.funnel),
    ];
    let mut errors = Vec::new();
    for (kind, rows) in kinds {
        for r in rows {
            g.row(vec![
                kind.into(),
                r.id.as_str().into(),
                output::opt(r.qps, output::rate).into(),
                output::opt(r.capacity_qps, output::rate).into(),
                output::opt(r.water_level, output::percent).into(),
                output::opt(r.p99_ms, output::rate).into(),
                output::opt(r.error_rate, output::percent).into(),
                status_cell(r.status),
                source_cell(r.source),
            ]);
            if let Some(e) = &r.error {
                errors.push(format!("{kind} {}: {e}", r.id));
            }
        }
    }
    page.grid(g);
    for e in errors {
        page.line(e);
    }
    page
}

fn state_cell(a: &Alert) -> Cell {
    match a.state {
        AlertState::Pending => Cell::toned("pending", Tone::Warn),
        AlertState::Firing => Cell::toned("firing", Tone::Bad),
        AlertState::Resolved => Cell::toned("resolved", Tone::Good),
    }
}

fn severity_name(s: AlertSeverity) -> &'static str {
    match s {
        AlertSeverity::Page => "page",
        AlertSeverity::Ticket => "ticket",
        AlertSeverity::Warn => "warn",
        AlertSeverity::Critical => "critical",
    }
}

/// The alert list.
fn alerts_page(event: &str, list: &AlertList) -> Page {
    let mut page = Page::new();
    page.heading(format!("Alerts: {event}"));
    let mut g = Grid::new(&[
        ("state", Align::Left),
        ("alert", Align::Left),
        ("target", Align::Left),
        ("signal", Align::Left),
        ("severity", Align::Left),
        ("value", Align::Right),
        ("threshold", Align::Right),
        ("since", Align::Left),
        ("silenced by", Align::Left),
    ]);
    for a in &list.alerts {
        g.row(vec![
            state_cell(a),
            a.id.as_str().into(),
            format!("{} {}", kind_name(a.target.kind), a.target.id).into(),
            a.metric.as_str().into(),
            severity_name(a.severity).into(),
            output::opt(a.value, output::ratio).into(),
            output::ratio(a.threshold).into(),
            output::opt(a.since, when).into(),
            a.inhibited_by.as_deref().unwrap_or("").into(),
        ]);
    }
    page.grid(g);
    page
}
