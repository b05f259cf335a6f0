//! `seawall push PLAN.yaml`: store the plan as the next version of an
//! event on the control plane. The plan is checked here first, exactly
//! like `seawall plan check` (same diagnostics, exit 1, nothing sent); the
//! server checks it again with the same library and keeps its text and
//! SHA-256.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use seawall_server::api::events::{Event, EventList};
use seawall_server::api::plans::PlanVersionInfo;
use serde_json::{Value, json};

use super::api_client::{Api, ServerArgs, expect, refused};
use crate::input;
use crate::output::{self, Format};

/// Arguments of `seawall push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Path of the plan (YAML).
    #[arg(value_name = "PLAN.yaml")]
    plan: PathBuf,
    /// The event to push to [default: the server's only event].
    #[arg(long, value_name = "SLUG")]
    event: Option<String>,
    /// Create the event (named after the plan's `event.name`) if it does not exist.
    #[arg(long, requires = "event")]
    create: bool,
    #[command(flatten)]
    server: ServerArgs,
    /// Output format: the stored version as text or JSON.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Run the verb: exit 0 stored, 1 invalid plan, 2 anything else.
pub fn run(args: &PushArgs) -> anyhow::Result<ExitCode> {
    // The same check and the same report as `plan check`.
    let Some(plan) = input::load(&args.plan, args.format)? else {
        return Ok(super::invalid());
    };
    let text = std::fs::read_to_string(&args.plan)
        .with_context(|| format!("cannot read plan file `{}`", args.plan.display()))?;
    let file_name = args.plan.file_name().map_or_else(
        || "plan.yaml".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let api = Api::new(&args.server)?;
    let slug = event_slug(&api, args, &plan.event.name)?;
    let r = api.post(
        &format!("/api/v1/events/{slug}/plans"),
        &json!({"file_name": file_name, "text": text}),
    )?;
    if r.status.as_u16() == 422 {
        // The server's library disagrees with ours (another version):
        // show its diagnostics the way `plan check` prints them.
        if let Some(body) = r.error()
            && body.error.code == "invalid_plan"
        {
            if args.format == Format::Json {
                output::emit_json(&body.error.details)?;
            }
            eprint!("{}", diagnostics(&body.error.details, &body.error.message));
            return Ok(super::invalid());
        }
    }
    let version: PlanVersionInfo = expect(&r, 201)?;
    if args.format == Format::Json {
        output::emit_json(&version)?;
    } else {
        output::emit(&format!(
            "{}: stored as version {} of event `{slug}` (sha256 {})\n",
            args.plan.display(),
            version.version,
            version.sha256
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The event to push to: `--event` (made first with `--create`), or the
/// server's only event.
fn event_slug(api: &Api, args: &PushArgs, plan_name: &str) -> anyhow::Result<String> {
    if let Some(slug) = &args.event {
        if args.create {
            let r = api.post("/api/v1/events", &json!({"slug": slug, "name": plan_name}))?;
            match r.status.as_u16() {
                201 => {
                    let event: Event = expect(&r, 201)?;
                    eprintln!("created event `{}` ({})", event.slug, event.name);
                }
                409 => {}
                _ => return Err(refused(&r)),
            }
        }
        return Ok(slug.clone());
    }
    let list: EventList = api.get("/api/v1/events")?;
    match list.events.as_slice() {
        [one] => Ok(one.slug.clone()),
        [] => bail!(
            "the server has no event yet; give --event SLUG --create to make one with this plan"
        ),
        many => bail!(
            "the server has {} events; say which with --event ({})",
            many.len(),
            many.iter()
                .map(|e| e.slug.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The server's diagnostics as `file:line:col: error[CODE]: message` lines
/// with their help, then the total.
fn diagnostics(details: &Option<Value>, message: &str) -> String {
    let mut out = String::new();
    let list = details
        .as_ref()
        .and_then(|d| d["diagnostics"].as_array())
        .cloned()
        .unwrap_or_default();
    for d in &list {
        out.push_str(&format!(
            "{}:{}:{}: {}[{}]: {}\n",
            d["file"].as_str().unwrap_or("?"),
            d["line"],
            d["column"],
            d["severity"].as_str().unwrap_or("error"),
            d["code"].as_str().unwrap_or("?"),
            d["message"].as_str().unwrap_or("")
        ));
        if let Some(help) = d["help"].as_str() {
            out.push_str(&format!("  help: {help}\n"));
        }
    }
    out.push_str(&format!("error: the server refused the plan: {message}\n"));
    out
}
