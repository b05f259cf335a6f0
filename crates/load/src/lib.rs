//! `seawall-load`: Seawall's pressure-test engine (the **Rehearse** verb).
//!
//! Why a load generator of our own, when wrk, oha, hey, vegeta and k6
//! exist? A rehearsal for a promotional event has to answer "how many
//! requests per second does this entry take before its SLO breaks", and the
//! answer is only honest when the generator:
//!
//! - runs an **open model**: arrivals happen at *intended* times (constant
//!   spacing or Poisson), whether or not the server keeps up, and latency is
//!   measured from the intended send time. A closed-loop tool slows down
//!   with the server and hides stalls (coordinated omission);
//! - **never silently delays** an arrival: one that finds no free connection
//!   slot (the connection cap is reached) is counted as `dropped`;
//! - **tags every request** (`x-seawall-test: <run id>` and W3C
//!   `baggage: seawall-test=<run id>`) so services, guards and partners can
//!   tell rehearsal traffic from real users, and refuses to run untagged
//!   unless told so;
//! - keeps **statistics with flat memory**: one HDR histogram per
//!   one-second interval, folded into a per-second summary and a merged
//!   total; no per-request samples are kept, so an hour-long run needs the
//!   same histograms as a minute-long one.
//!
//! This crate is the engine only: it never prints. The `seawall load`
//! command renders its [`Progress`] and [`Summary`].
//!
//! Today it implements the ad-hoc single-target mode ([`run`] with a
//! [`LoadConfig`]); journeys, guards, stages and capacity search from the
//! plan's `rehearsals` build on the same scheduler, pool and recorder.
//!
//! ```no_run
//! # async fn demo() -> Result<(), seawall_load::LoadError> {
//! use std::time::Duration;
//! use seawall_load::{LoadConfig, TestTag};
//!
//! let mut config = LoadConfig::new("http://127.0.0.1:8080/");
//! config.rate = Some(500.0);
//! config.duration = Duration::from_secs(10);
//! config.tag = Some(TestTag::new("rehearsal-1"));
//! let summary = seawall_load::run(&config, |_progress| {}).await?;
//! println!("p99 {} ms, dropped {}", summary.latency_ms.p99, summary.dropped);
//! # Ok(()) }
//! ```

mod arrivals;
mod client;
mod config;
mod data;
mod error;
pub mod fleet;
#[cfg(feature = "plan")]
pub mod from_plan;
pub mod generator;
pub mod metrics;
mod ramp;
mod rehearse;
pub mod report;
pub mod result;
mod run;
mod scenario;
mod search;
mod stats;
mod timer_grid;

pub use arrivals::{Arrivals, Schedule};
pub use config::{HttpVersion, LoadConfig, TestTag};
pub use data::DataSet;
pub use error::LoadError;
pub use rehearse::{MIN_JUDGED_REQUESTS, RehearseProgress, rehearse, rehearse_with};
pub use result::{RUN_SCHEMA, RunResult};
pub use run::run;
pub use scenario::{
    EntrySpec, GuardSpec, JourneySpec, LoadProfile, Scenario, SearchSpec, StepSpec,
};
pub use stats::{ErrorClass, ErrorCounts, IntervalSummary, Latency, Mode, Progress, Summary};
pub use timer_grid::runtime;
