//! `seawall gate check`: ask the control plane's change gate whether a
//! service may take a kind of change now, from a CI/CD job
//! (docs/change-gate.md#cicd-snippets). The exit code is the answer — 0
//! allowed, 3 frozen, 2 anything else — so a deploy job fails while its
//! change is frozen and never goes ahead when the gate cannot be asked.
//!
//! The decision is the server's (`POST /api/v1/gate/check`, recorded as a
//! change record either way); this module only sends the question through
//! the CLI's control-plane client (`api_client`) and prints the answer.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use seawall_api::ChangeKind;
use seawall_api::gate::{GateAnswer, GateCheck};

use crate::commands::api_client::{Api, ServerArgs};
use crate::output;

/// Exit status: the gate refused the change (it is frozen).
pub const FROZEN: u8 = 3;

/// `seawall gate …`.
#[derive(Debug, Subcommand)]
pub enum GateCommand {
    /// May this service take this kind of change now? Exit 0 allowed, 3 frozen, 2 error.
    Check(CheckArgs),
}

/// Arguments of `gate check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Service id, as in the plan.
    #[arg(long, short = 's')]
    pub service: String,
    /// Kind of change.
    #[arg(long, short = 'k', value_enum)]
    pub kind: ChangeKind,
    /// Who makes the change (the pipeline's user) [default: the token's name].
    #[arg(long)]
    pub actor: Option<String>,
    /// The change's reference: merge request, commit, ticket.
    #[arg(long, value_name = "REF")]
    pub change_ref: Option<String>,
    /// Only this event's plan decides [default: every event with a plan].
    #[arg(long, value_name = "SLUG")]
    pub event: Option<String>,
    /// Print the server's decision as JSON instead of text.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    server: ServerArgs,
}

/// Run `seawall gate …`.
pub fn run(command: &GateCommand) -> anyhow::Result<ExitCode> {
    match command {
        GateCommand::Check(args) => check(args),
    }
}

fn check(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let check = GateCheck {
        service: args.service.clone(),
        kind: args.kind,
        actor: args.actor.clone(),
        change_ref: args.change_ref.clone(),
        event: args.event.clone(),
    };
    let api = Api::new(&args.server)?;
    let answer: GateAnswer = api
        .call(api.client().gate_check(&check))
        .context("cannot ask the change gate")?;
    if args.json {
        output::emit_json(&answer)?;
    } else {
        output::emit(&render(&answer))?;
    }
    Ok(if answer.allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(FROZEN)
    })
}

/// The decision for people and CI logs: a verdict line with the reason,
/// then the window, the next free time, the exception, and where it was
/// decided and recorded.
pub fn render(a: &GateAnswer) -> String {
    let verdict = if a.allowed { "ALLOWED" } else { "FROZEN" };
    let mut out = format!("{verdict}: {}\n", a.reason);
    let mut field = |name: &str, value: String| {
        out.push_str(&format!("  {:<11}{value}\n", format!("{name}:")));
    };
    if let Some(w) = &a.window {
        let reason = w
            .reason
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        field(
            "window",
            format!("{} from {} to {}{reason}", w.id, w.start, w.end),
        );
    }
    if a.frozen
        && let Some(t) = &a.next_free
    {
        field("next free", t.clone());
    }
    if let Some(id) = a.exception {
        field("exception", format!("#{id} (approved)"));
    }
    match (&a.event, a.plan_version) {
        (Some(event), Some(v)) => field("event", format!("{event} (plan version {v})")),
        (Some(event), None) => field("event", event.clone()),
        _ => field("event", "none with a plan".to_owned()),
    }
    field("record", format!("change record #{}", a.record));
    out
}
