//! `seawall plan scale PLAN --factor F`: the plan for an environment that
//! is a fraction of production (a rehearsal environment, a laptop demo):
//! every rate and capacity multiplied by F, comments and layout kept
//! (`seawall_plan::scale`). Water levels and instance counts are those of
//! the original.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use crate::commands::INVALID;
use crate::input;

/// Arguments of `plan scale`.
#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// Path of the plan (YAML).
    #[arg(value_name = "PLAN.yaml")]
    pub plan: PathBuf,
    /// Multiply every goal total, capacity per instance, quota, current
    /// rate, limit and absolute rehearsal rate by this (e.g. 0.02 for an
    /// environment 1/50 of production).
    #[arg(long, value_name = "F")]
    pub factor: f64,
    /// Write the scaled plan here (whole or not at all) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Run the verb: 0 written, 1 the plan or factor is refused (diagnostics
/// on stderr), 2 on unreadable or unwritable files.
pub fn run(args: &ScaleArgs) -> anyhow::Result<ExitCode> {
    let src = std::fs::read_to_string(&args.plan)
        .with_context(|| format!("cannot read plan file `{}`", args.plan.display()))?;
    let file = args.plan.display().to_string();
    match seawall_plan::scale::scale(&src, &file, args.factor) {
        Ok(text) => {
            match &args.out {
                Some(path) => input::write_whole(path, text.as_bytes())?,
                None => print!("{text}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => {
            input::report(&src, &file, &diagnostics.0);
            Ok(ExitCode::from(INVALID))
        }
    }
}
