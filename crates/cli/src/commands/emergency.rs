//! `seawall emergency run|runs|approve|rollback|resume|cancel`: emergency plans
//! that execute, from a terminal, through the typed `seawall_api::Client`
//! only (`docs/respond.md#emergency-plans-that-execute`).
//!
//! `run` starts a run (or `--dry-run`: each action's effect, nothing
//! changed) and prints it; `runs` lists the event's runs; `approve`,
//! `rollback`, `resume` and `cancel` are a commander's decisions on run
//! N. Each
//! prints the run's actions with their status, before and after.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use seawall_api::emergency::{EmergencyRun, EmergencyRunList};

use super::api_client::{Api, ServerArgs};
use crate::output::{self, Align, Format, Grid, Page};

/// `seawall emergency …`.
#[derive(Debug, Subcommand)]
pub enum EmergencyCommand {
    /// Start a run of emergency plan ID (or a dry run that changes nothing).
    Run(RunArgs),
    /// The event's runs, oldest first.
    Runs(EventArgs),
    /// Approve run N (a commander of the plan other than the requester).
    Approve(RunNumber),
    /// Roll back what run N did, last action first.
    Rollback(RunNumber),
    /// Go on with run N after a restart left an action unknown.
    Resume(RunNumber),
    /// Cancel run N before any action started (e.g. waiting for approval).
    Cancel(RunNumber),
}

/// Arguments of `seawall emergency run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The emergency plan's id.
    id: String,
    /// The event (its slug).
    #[arg(long, value_name = "SLUG")]
    event: String,
    /// Show each action's effect and change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    server: ServerArgs,
    /// Output format: a table, Markdown, or the API's JSON.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
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

/// Arguments naming a run.
#[derive(Debug, Args)]
pub struct RunNumber {
    /// The run's number.
    n: i64,
    #[command(flatten)]
    at: EventArgs,
}

/// Run a `seawall emergency` command: exit 0, 2 on any error.
pub fn run(command: &EmergencyCommand) -> anyhow::Result<ExitCode> {
    match command {
        EmergencyCommand::Run(a) => {
            let api = Api::new(&a.server)?;
            let run = api.call(api.client().start_emergency_run(&a.event, &a.id, a.dry_run))?;
            show(&a.event, &run, a.format)
        }
        EmergencyCommand::Runs(a) => {
            let api = Api::new(&a.server)?;
            let list = api.call(api.client().emergency_runs(&a.event))?;
            if a.format == Format::Json {
                output::emit_json(&list)?;
            } else {
                output::emit_page(&runs_page(&a.event, &list), a.format)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        EmergencyCommand::Approve(a) => decide(a, "approve"),
        EmergencyCommand::Rollback(a) => decide(a, "rollback"),
        EmergencyCommand::Resume(a) => decide(a, "resume"),
        EmergencyCommand::Cancel(a) => decide(a, "cancel"),
    }
}

fn decide(a: &RunNumber, what: &str) -> anyhow::Result<ExitCode> {
    let at = &a.at;
    let api = Api::new(&at.server)?;
    let run = api.call(api.client().emergency_run_action(&at.event, a.n, what))?;
    show(&at.event, &run, at.format)
}

fn show(event: &str, run: &EmergencyRun, format: Format) -> anyhow::Result<ExitCode> {
    if format == Format::Json {
        output::emit_json(run)?;
    } else {
        output::emit_page(&run_page(event, run), format)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn runs_page(event: &str, list: &EmergencyRunList) -> Page {
    let mut page = Page::new();
    page.heading(format!("Emergency runs: {event}"));
    let mut g = Grid::new(&[
        ("run", Align::Right),
        ("plan", Align::Left),
        ("status", Align::Left),
        ("dry run", Align::Left),
        ("requested by", Align::Left),
        ("approvals", Align::Right),
        ("actions", Align::Left),
    ]);
    for r in &list.runs {
        let steps: Vec<String> = r
            .steps
            .iter()
            .map(|s| format!("{} {}", s.kind, s.status))
            .collect();
        g.row(vec![
            r.id.to_string().into(),
            r.plan_id.as_str().into(),
            r.status.as_str().into(),
            if r.dry_run { "yes" } else { "" }.into(),
            r.requested_by.as_str().into(),
            format!("{}/{}", r.approvals.len(), needed(&r.approval)).into(),
            steps.join(", ").into(),
        ]);
    }
    page.grid(g);
    page
}

fn needed(approval: &str) -> usize {
    match approval {
        "one" => 1,
        "two" => 2,
        _ => 0,
    }
}

fn run_page(event: &str, r: &EmergencyRun) -> Page {
    let mut page = Page::new();
    let dry = if r.dry_run { " (dry run)" } else { "" };
    page.heading(format!(
        "Emergency run {} of {} in {event}{dry}: {}",
        r.id, r.plan_id, r.status
    ));
    let mut g = Grid::new(&[
        ("#", Align::Right),
        ("action", Align::Left),
        ("target", Align::Left),
        ("status", Align::Left),
        ("before", Align::Left),
        ("after", Align::Left),
        ("error", Align::Left),
    ]);
    let json =
        |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    for (i, s) in r.steps.iter().enumerate() {
        g.row(vec![
            (i + 1).to_string().into(),
            s.kind.as_str().into(),
            s.target.as_deref().unwrap_or("").into(),
            s.status.as_str().into(),
            json(&s.before).into(),
            json(&s.after).into(),
            s.error.as_deref().unwrap_or("").into(),
        ]);
    }
    page.grid(g);
    page
}
