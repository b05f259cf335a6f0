//! One module per `seawall plan` verb: load the plan, run the analysis from
//! `seawall-plan`, render the result. No formulas live here. `load` is
//! `seawall load`: flags to the `seawall-load` engine, its summary rendered.

pub mod agent;
pub mod api_client;
pub mod audit;
pub mod capacity;
pub mod check;
pub mod demo;
pub mod drill;
pub mod emergency;
pub mod freeze;
pub mod gate;
pub mod guard;
pub mod incident;
pub mod links;
pub mod live;
pub mod load;
pub mod monitoring;
pub mod oncall;
pub mod push;
pub mod readiness;
pub mod rehearse;
pub mod review;
pub mod scale;
pub mod serve;
pub mod sidecar;
pub mod sim;
pub mod targets;
pub mod token;
pub mod whitelist;

use std::process::ExitCode;

/// Exit status: the plan is invalid, or `plan links` found blocking risks.
pub const INVALID: u8 = 1;
/// Exit status: usage or input error (clap uses it too).
pub const USAGE: u8 = 2;

/// Exit code for an invalid plan.
pub fn invalid() -> ExitCode {
    ExitCode::from(INVALID)
}
