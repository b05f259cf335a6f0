//! `seawall push [PLAN.yaml] [--results run.json]…`: store the plan as the
//! next version of an event on the control plane, and upload rehearsal
//! results to it (the server uses them as measured capacity). The plan is
//! checked here first, exactly like `seawall plan check` (same
//! diagnostics, exit 1, nothing sent); the server checks it again with the
//! same library and keeps its text and SHA-256.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use seawall_api::ClientError;
use seawall_api::events::{EventList, NewEvent};
use seawall_api::plans::{PlanVersionInfo, PushPlan};
use seawall_api::runs::RunInfo;
use serde::Serialize;
use serde_json::Value;

use super::api_client::{Api, ServerArgs};
use crate::input;
use crate::output::{self, Format};

/// Arguments of `seawall push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Path of the plan (YAML).
    #[arg(value_name = "PLAN.yaml", required_unless_present = "results")]
    plan: Option<PathBuf>,
    /// Rehearsal results (`seawall.run/v1`, from `seawall rehearse --out`) to
    /// upload after the plan; may be given more than once.
    #[arg(long, value_name = "run.json")]
    results: Vec<PathBuf>,
    /// The event to push to [default: the server's only event].
    #[arg(long, value_name = "SLUG")]
    event: Option<String>,
    /// Create the event (named after the plan's `event.name`, else the slug) if it does not exist.
    #[arg(long, requires = "event")]
    create: bool,
    #[command(flatten)]
    server: ServerArgs,
    /// Output format: what was stored, as text or JSON (`{"plan", "runs"}`).
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// `{"plan": …, "runs": […]}` as printed with `--format json`.
#[derive(Debug, Serialize)]
struct Pushed {
    plan: Option<PlanVersionInfo>,
    runs: Vec<RunInfo>,
}

/// Run the verb: exit 0 stored, 1 invalid plan, 2 anything else.
pub fn run(args: &PushArgs) -> anyhow::Result<ExitCode> {
    // The same check and the same report as `plan check`.
    let plan = match &args.plan {
        Some(path) => {
            let Some(plan) = input::load(path, args.format)? else {
                return Ok(super::invalid());
            };
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read plan file `{}`", path.display()))?;
            Some((path, plan, text))
        }
        None => None,
    };
    // Every results file is read before anything is sent.
    let mut results = Vec::new();
    for path in &args.results {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read results file `{}`", path.display()))?;
        // The server's own check, so nothing is sent when one file is bad.
        seawall_server::api::runs::check(&text)
            .map_err(|e| anyhow::anyhow!("`{}`: {e}", path.display()))?;
        results.push((path, text));
    }
    let api = Api::new(&args.server)?;
    let name = plan.as_ref().map(|(_, p, _)| p.event.name.as_str());
    let slug = event_slug(&api, args, name)?;
    let mut pushed = Pushed {
        plan: None,
        runs: Vec::new(),
    };
    if let Some((path, _, text)) = &plan {
        let file_name = path.file_name().map_or_else(
            || "plan.yaml".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        let push = PushPlan {
            file_name: Some(file_name),
            text: text.clone(),
        };
        let version: PlanVersionInfo = match api.block_on(api.client().push_plan(&slug, &push)) {
            Ok(version) => version,
            // The server's library disagrees with ours (another version):
            // show its diagnostics the way `plan check` prints them.
            Err(ClientError::Api {
                status: 422,
                code: Some(code),
                message,
                details,
                ..
            }) if code == "invalid_plan" => {
                if args.format == Format::Json {
                    output::emit_json(&details)?;
                }
                eprint!("{}", diagnostics(&details, &message));
                return Ok(super::invalid());
            }
            Err(e) => return Err(api.failed(e)),
        };
        if args.format != Format::Json {
            output::emit(&format!(
                "{}: stored as version {} of event `{slug}` (sha256 {})\n",
                path.display(),
                version.version,
                version.sha256
            ))?;
        }
        pushed.plan = Some(version);
    }
    for (path, text) in results {
        let run: RunInfo = api
            .call(api.client().upload_run(&slug, text))
            .with_context(|| format!("`{}` was not stored", path.display()))?;
        if args.format != Format::Json {
            output::emit(&format!(
                "{}: stored as run {} of event `{slug}` (scenario {}, plan version {})\n",
                path.display(),
                run.id,
                run.scenario,
                run.plan_version
                    .map_or_else(|| "none".to_owned(), |v| v.to_string())
            ))?;
        }
        pushed.runs.push(run);
    }
    if args.format == Format::Json {
        output::emit_json(&pushed)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The event to push to: `--event` (made first with `--create`), or the
/// server's only event.
fn event_slug(api: &Api, args: &PushArgs, plan_name: Option<&str>) -> anyhow::Result<String> {
    if let Some(slug) = &args.event {
        if args.create {
            let name = plan_name.unwrap_or(slug);
            let new = NewEvent {
                slug: slug.clone(),
                name: name.to_owned(),
            };
            match api.block_on(api.client().create_event(&new)) {
                Ok(event) => {
                    eprintln!("created event `{}` ({})", event.slug, event.name);
                }
                Err(ClientError::Api { status: 409, .. }) => {}
                Err(e) => return Err(api.failed(e)),
            }
        }
        return Ok(slug.clone());
    }
    let list: EventList = api.call(api.client().events())?;
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
