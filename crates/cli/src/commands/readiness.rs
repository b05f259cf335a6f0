//! `seawall plan readiness` (waiting for `seawall_plan::readiness`).

use std::process::ExitCode;

use crate::PlanArgs;
use crate::input;

/// Run the verb.
pub fn run(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let Some(_plan) = input::load(&args.plan, args.format)? else {
        return Ok(super::invalid());
    };
    anyhow::bail!("`plan readiness` is not available in this build yet")
}
