//! `seawall review --event E [--format html|markdown|json] [--out FILE]
//! [--compare E2]`: the post-event review (docs/review.md) through the
//! typed `seawall_api::Client` only (`GET /events/{slug}/review`). The
//! server computes and renders it; this verb prints the text or writes it
//! to a file, so the CLI, the API and the UI give the same bytes.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use seawall_api::review::ReviewFormat;

use super::api_client::{Api, ServerArgs};
use crate::output;

/// Arguments of `seawall review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// The event (its slug).
    #[arg(long, value_name = "SLUG")]
    event: String,
    /// Markdown (for a wiki), one self-contained HTML page (prints on A4,
    /// opens offline) or the JSON document (`schema_version`).
    #[arg(long, short = 'f', value_enum, default_value_t = ReviewFormat::Markdown)]
    format: ReviewFormat,
    /// Write the review to this file instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    out: Option<PathBuf>,
    /// An earlier event (its slug) to compare with.
    #[arg(long, value_name = "SLUG")]
    compare: Option<String>,
    #[command(flatten)]
    server: ServerArgs,
}

/// Run `seawall review`: exit 0, 2 on any error.
pub fn run(args: &ReviewArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&args.server)?;
    let text = api.call(
        api.client()
            .review(&args.event, args.format, args.compare.as_deref()),
    )?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write the review to {}", path.display()))?;
            output::emit(&format!(
                "review of {} written to {} ({} bytes, {})\n",
                args.event,
                path.display(),
                text.len(),
                args.format.as_str()
            ))?;
        }
        None => output::emit(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}
