//! `seawall`: the one command-line tool of Seawall.
//!
//! Thin glue over the `seawall-plan` library: parse arguments, read files,
//! call an analysis, render its result as a table, Markdown or JSON; and
//! over `seawall-load` for `seawall load`. This is the only crate that knows
//! about terminals.
//!
//! Exit codes: 0 success; 1 the plan is invalid (or `plan links` found an
//! error-severity risk that the plan does not accept); 2 usage or input
//! error (bad flag, unreadable file, malformed results file); 3 the change
//! gate refused the change (`gate check`: it is frozen).

// The argument structs' doc comments are clap's `--help` text, written for a
// terminal (`<data-dir>`, `[default: …]`), not Markdown: rustdoc's link and
// HTML checks do not apply to them.
#![allow(rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags)]

mod commands;
mod input;
mod logs;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

/// Seawall carries an engineering organisation through a large promotional
/// event: plan, rehearse, protect, respond, review.
#[derive(Debug, Parser)]
#[command(name = "seawall", version, about, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    logging: logs::Logging,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with a guarantee plan (one YAML file per event).
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Load-test one URL: open model at a fixed rate, or closed loop (docs/rehearse.md).
    Load(commands::load::LoadArgs),
    /// Run a rehearsal scenario from the plan: journeys, guards, stages, capacity search (docs/rehearse.md).
    Rehearse(commands::rehearse::RehearseArgs),
    /// A rehearsal agent: register with the control plane, run shares of
    /// scenario runs across agents (`seawall rehearse --agents N`).
    Agent(commands::agent::AgentArgs),
    /// Reverse proxy that runs the guard's rules in front of a service (docs/sidecar.md).
    Sidecar(commands::sidecar::SidecarArgs),
    /// Run the plan's simulated system on loopback: services and partners with known capacity (docs/sim.md).
    Sim(commands::sim::SimArgs),
    /// The whole loop on this machine: control plane + UI, simulated system, sidecars, rehearsal, derived limits.
    Demo(commands::demo::DemoArgs),
    /// Ask the control plane's change gate (for CI/CD; docs/change-gate.md).
    #[command(subcommand)]
    Gate(commands::gate::GateCommand),
    /// Run the control plane: JSON API, tokens and roles, audit log (docs/control-plane.md).
    Serve(commands::serve::ServeArgs),
    /// Store a plan as the next version of an event on the control plane.
    Push(commands::push::PushArgs),
    /// API tokens on the control plane (admin).
    #[command(subcommand)]
    Token(commands::token::TokenCommand),
    /// Gray-release whitelists on the control plane: push a service's ids (millions), list its versions (docs/scale-out.md).
    #[command(subcommand)]
    Whitelist(commands::whitelist::WhitelistCommand),
    /// The control plane's hash-chained audit log.
    #[command(subcommand)]
    Audit(commands::audit::AuditCommand),
    /// An event's live values, refreshed like top: qps, capacity, water level, p99, errors, status (docs/monitoring.md).
    Live(commands::live::LiveArgs),
    /// An event's pending, firing and resolved alerts (docs/monitoring.md).
    Alerts(commands::live::AlertsArgs),
    /// Emergency plans that execute: run (or dry-run), list, approve, roll back, resume (docs/respond.md).
    #[command(subcommand)]
    Emergency(commands::emergency::EmergencyCommand),
    /// Drill an emergency plan: inject its fault (leased), run the tagged rehearsal, judge each step; `drill stop` ends every drill (docs/respond.md).
    Drill(commands::drill::DrillArgs),
    /// Incidents: list, show the timeline and pages, acknowledge, resolve (docs/respond.md).
    #[command(subcommand)]
    Incident(commands::incident::IncidentCommand),
    /// The post-event review: estimate, rehearsal and actual compared, with recommendations (docs/review.md).
    Review(commands::review::ReviewArgs),
}

#[derive(Debug, Subcommand)]
enum PlanCommand {
    /// Validate the plan and summarise what it declares.
    Check(PlanArgs),
    /// Decompose business goals into QPS per journey step, entry, service and partner.
    Targets(PlanArgs),
    /// Link-risk findings (rules L001–L015); exits 1 on an unaccepted error.
    Links(PlanArgs),
    /// Capacity water-level table per entry, service and partner.
    Capacity(CapacityArgs),
    /// Whether a service may take a kind of change at a time.
    Freeze(FreezeArgs),
    /// Who is on call at a time, and gaps in the rota.
    Oncall(OncallArgs),
    /// Go / no-go scorecard per business line and overall.
    Readiness(PlanArgs),
    /// Guard rules derived from the plan: entry limits, edge breakers, timeouts, fallbacks.
    Guard(commands::guard::GuardArgs),
    /// The plan scaled to a smaller environment: every rate and capacity × F, water levels kept.
    Scale(commands::scale::ScaleArgs),
    /// Prometheus rules, promtool tests, a Grafana dashboard or an Alertmanager skeleton from the plan's monitoring.
    Monitoring(commands::monitoring::MonitoringArgs),
}

/// The plan file and the output format.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Path of the plan (YAML).
    #[arg(value_name = "PLAN.yaml")]
    pub plan: PathBuf,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Arguments of `plan capacity`.
#[derive(Debug, Args)]
pub struct CapacityArgs {
    #[command(flatten)]
    common: PlanArgs,
    /// Rehearsal results (`seawall.run/v1` JSON); measured capacities win over declared ones.
    #[arg(long, value_name = "run.json")]
    results: Option<PathBuf>,
}

/// Arguments of `plan freeze`.
#[derive(Debug, Args)]
pub struct FreezeArgs {
    #[command(flatten)]
    common: PlanArgs,
    /// Service id (with --export: only the windows that freeze it).
    #[arg(long, short = 's', required_unless_present = "export")]
    service: Option<String>,
    /// Kind of change (with --export: the kind whose windows are exported) [export default: release].
    #[arg(long, short = 'k', value_enum, required_unless_present = "export")]
    kind: Option<seawall_plan::model::ChangeKind>,
    /// When: `YYYY-MM-DDTHH:MM` in the event's time zone, or RFC 3339 with an offset [default: now]; with --export ical, the DTSTAMP.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Export the freeze calendar instead: iCal feed, GitLab freeze periods or Argo CD syncWindows (docs/change-gate.md).
    #[arg(long, value_enum, value_name = "FORMAT")]
    export: Option<commands::freeze::Export>,
    /// With --export: write to this file (whole, or not at all) instead of stdout.
    #[arg(long, value_name = "FILE", requires = "export")]
    out: Option<PathBuf>,
    /// Freeze exceptions (YAML or JSON list): approved ones let their scope through and appear in the iCal feed.
    #[arg(long, value_name = "FILE")]
    exceptions: Option<PathBuf>,
}

/// Arguments of `plan oncall`.
#[derive(Debug, Args)]
pub struct OncallArgs {
    #[command(flatten)]
    common: PlanArgs,
    /// When: `YYYY-MM-DDTHH:MM` in the event's time zone, or RFC 3339 with an offset [default: now].
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

fn main() -> ExitCode {
    // clap prints usage errors itself and exits 2 (0 for --help/--version).
    let cli = Cli::parse();
    // Where the libraries' log lines go: stderr, except `seawall demo`,
    // which sends them to a file unless -v (it installs that itself).
    match &cli.command {
        Command::Demo(_) => {}
        Command::Serve(a) => cli.logging.to_stderr(a.log_level()),
        _ => cli
            .logging
            .to_stderr(tracing_subscriber::filter::LevelFilter::INFO),
    }
    let result = match &cli.command {
        Command::Plan(cmd) => match cmd {
            PlanCommand::Check(a) => commands::check::run(a),
            PlanCommand::Targets(a) => commands::targets::run(a),
            PlanCommand::Links(a) => commands::links::run(a),
            PlanCommand::Capacity(a) => commands::capacity::run(a),
            PlanCommand::Freeze(a) => commands::freeze::run(a),
            PlanCommand::Oncall(a) => commands::oncall::run(a),
            PlanCommand::Readiness(a) => commands::readiness::run(a),
            PlanCommand::Guard(a) => commands::guard::run(a),
            PlanCommand::Scale(a) => commands::scale::run(a),
            PlanCommand::Monitoring(a) => commands::monitoring::run(a),
        },
        Command::Load(a) => commands::load::run(a),
        Command::Rehearse(a) => commands::rehearse::run(a),
        Command::Agent(a) => commands::agent::run(a),
        Command::Sidecar(a) => commands::sidecar::run(a),
        Command::Sim(a) => commands::sim::run(a),
        Command::Demo(a) => commands::demo::run(a, &cli.logging),
        Command::Gate(c) => commands::gate::run(c),
        Command::Serve(a) => commands::serve::run(a),
        Command::Push(a) => commands::push::run(a),
        Command::Token(c) => commands::token::run(c),
        Command::Whitelist(c) => commands::whitelist::run(c),
        Command::Audit(c) => commands::audit::run(c),
        Command::Live(a) => commands::live::run_live(a),
        Command::Alerts(a) => commands::live::run_alerts(a),
        Command::Emergency(c) => commands::emergency::run(c),
        Command::Drill(a) => commands::drill::run(a),
        Command::Incident(c) => commands::incident::run(c),
        Command::Review(a) => commands::review::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(commands::USAGE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
