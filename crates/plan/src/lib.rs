//! Seawall's guarantee plan as code.
//!
//! An event's guarantee plan is one YAML file. This crate turns its text into
//! a validated [`Plan`] (or a list of [`Diagnostic`]s pointing at lines and
//! columns) and computes every analysis the rest of Seawall builds on: target
//! decomposition, link-risk findings, the capacity water-level table, freeze
//! and on-call evaluation and the readiness scorecard.
//!
//! The crate does no IO and never panics on input: callers hand it `&str`
//! and get values back. Formulas are those of `docs/plan-reference.md`.
//!
//! ```
//! let plan = seawall_plan::parse("event: {name: demo}\n", "plan.yaml").unwrap();
//! assert_eq!(plan.event.name, "demo");
//! ```

pub mod capacity;
pub mod diag;
pub mod export;
pub mod freeze;
pub mod gate;
pub mod generate;
pub mod graph;
pub mod limits;
pub mod links;
pub mod model;
pub mod oncall;
pub mod outbound;
#[cfg(feature = "promql")]
pub mod promql;
pub mod query;
pub mod readiness;
pub mod scale;
pub mod targets;
pub mod time;
pub mod whitelist;

mod decode;
mod node;
mod parse;
mod validate;

pub use diag::{At, Diagnostic, Diagnostics, Loc, Location, Severity};
pub use model::Plan;
pub use parse::parse;
