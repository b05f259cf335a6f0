//! `seawall whitelist push|list`: a service's gray-release whitelist on the
//! control plane (docs/scale-out.md, "Gray release at the size of a real
//! whitelist"). `push` uploads a file of ids (one per line) — named on the
//! command line, or the `whitelist_file`s of the plan's gray releases of
//! the service, united — after judging it here exactly as `plan check`
//! does (a bad id is reported at its line and column, nothing is sent);
//! the server stores it as the service's next version and the service's
//! following sidecars pick it up. `list` shows the stored versions.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use seawall_api::whitelists::{WhitelistHistory, WhitelistInfo};

use super::api_client::{Api, ServerArgs};
use crate::input;
use crate::output::{self, Align, Cell, Format, Grid, Page};

/// `seawall whitelist …`.
#[derive(Debug, Subcommand)]
pub enum WhitelistCommand {
    /// Upload a service's whitelist (a file, or the plan's files for it) as its next version.
    Push(PushArgs),
    /// A service's stored whitelist versions.
    List(ListArgs),
}

/// Arguments of `whitelist push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The service whose sidecars route by it.
    #[arg(long, value_name = "SERVICE")]
    service: String,
    /// A file with one user id per line.
    #[arg(
        value_name = "FILE",
        required_unless_present = "plan",
        conflicts_with = "plan"
    )]
    file: Option<PathBuf>,
    /// Take the `whitelist_file`s of the plan's gray releases of SERVICE.
    #[arg(long, value_name = "PLAN.yaml")]
    plan: Option<PathBuf>,
    /// Why this version (kept with it and in the audit log).
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Arguments of `whitelist list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The service.
    #[arg(long, value_name = "SERVICE")]
    service: String,
    #[command(flatten)]
    server: ServerArgs,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Run `seawall whitelist …`: exit 0 done, 1 a bad file or plan, 2 anything else.
pub fn run(command: &WhitelistCommand) -> anyhow::Result<ExitCode> {
    match command {
        WhitelistCommand::Push(a) => push(a),
        WhitelistCommand::List(a) => list(a),
    }
}

/// The ids to upload (one per line), judged: `None` when a file is bad
/// (reported already).
fn ids_text(args: &PushArgs) -> anyhow::Result<Option<String>> {
    let files: Vec<PathBuf> = match (&args.file, &args.plan) {
        (Some(file), _) => vec![file.clone()],
        (None, Some(plan_path)) => {
            // Judges every whitelist file of the plan, like `plan check`.
            let Some(plan) = input::load(plan_path, args.format)? else {
                return Ok(None);
            };
            let dir = plan_path.parent().unwrap_or(std::path::Path::new("."));
            let files: Vec<PathBuf> = plan
                .gray
                .releases
                .values()
                .filter(|r| r.service == args.service)
                .filter_map(|r| r.whitelist_file.as_ref())
                .map(|f| dir.join(f))
                .collect();
            if files.is_empty() {
                bail!(
                    "no gray release of `{}` in `{}` names a whitelist_file",
                    args.service,
                    plan_path.display()
                );
            }
            files
        }
        (None, None) => bail!("give a FILE or --plan"),
    };
    let mut ids = BTreeSet::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read whitelist file `{}`", file.display()))?;
        match seawall_plan::whitelist::ids(&text) {
            Ok(found) => ids.extend(found.into_iter().map(str::to_owned)),
            Err(b) => {
                eprintln!(
                    "{}:{}:{}: error[E096]: not a user id: {}",
                    file.display(),
                    b.line,
                    b.column,
                    b.message
                );
                return Ok(None);
            }
        }
    }
    if ids.len() > seawall_plan::whitelist::MAX_IDS {
        bail!(
            "{} ids: a whitelist holds at most {}",
            ids.len(),
            seawall_plan::whitelist::MAX_IDS
        );
    }
    let mut text = String::new();
    for id in ids {
        text.push_str(&id);
        text.push('\n');
    }
    Ok(Some(text))
}

fn push(args: &PushArgs) -> anyhow::Result<ExitCode> {
    let Some(text) = ids_text(args)? else {
        return Ok(super::invalid());
    };
    let api = Api::new(&args.server)?;
    let stored: WhitelistInfo = api.call(api.client().upload_whitelist(
        &args.service,
        text.into(),
        args.note.as_deref(),
    ))?;
    if args.format == Format::Json {
        output::emit_json(&stored)?;
    } else {
        output::emit(&format!(
            "stored version {} of `{}`'s whitelist: {} ids ({} bytes, sha256 {})\n",
            stored.version,
            stored.service,
            stored.count,
            stored.bytes,
            &stored.sha256[..stored.sha256.len().min(12)]
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn list(args: &ListArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.server)?;
    let history: WhitelistHistory = api.call(api.client().whitelist_history(&args.service))?;
    if args.format == Format::Json {
        output::emit_json(&history)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut page = Page::new();
    let mut g = Grid::new(&[
        ("version", Align::Right),
        ("ids", Align::Right),
        ("bytes", Align::Right),
        ("by", Align::Left),
        ("note", Align::Left),
    ]);
    for v in &history.versions {
        g.row(vec![
            Cell::from(v.version.to_string()),
            Cell::from(v.count.to_string()),
            Cell::from(v.bytes.to_string()),
            Cell::from(v.created_by.clone()),
            Cell::from(v.note.clone()),
        ]);
    }
    if g.is_empty() {
        page.line(format!("`{}` has no whitelist", args.service));
    } else {
        page.heading(format!("whitelist versions of `{}`", args.service));
        page.grid(g);
    }
    output::emit_page(&page, args.format)?;
    Ok(ExitCode::SUCCESS)
}
