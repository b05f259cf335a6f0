//! Seawall's event-day evaluation core.
//!
//! Every evaluation tick the control plane hands this crate the plan, one
//! [`sample::Reading`] per entry, service, partner and funnel step, and the
//! time in milliseconds; it answers the live view (water levels, traffic
//! against target, time to critical, partner health, the funnel) and the
//! alert transitions (plan alerts plus alerts derived from the plan: water
//! levels, SLO burn, partner SLA, funnel drops, traffic over target).
//!
//! The crate does no IO, reads no clock and never panics on input: `NaN`,
//! infinities, empty series and zero traffic are values like any other.
//! Scraping and Prometheus queries live elsewhere; storing alert state and
//! history is the caller's (everything here that must survive a restart is
//! serde). Formulas: `docs/monitoring.md`.
//!
//! ```
//! use seawall_monitor::{Config, Evaluator, Metrics, Reading, Readings};
//! use seawall_plan::capacity::{Measured, Status};
//!
//! let plan = seawall_plan::parse(
//!     "event: {name: demo}\n\
//!      entries: {home: {service: web}}\n\
//!      services: {web: {instances: 2, capacity_per_instance: 100}}\n",
//!     "plan.yaml",
//! )
//! .unwrap();
//! let mut ev = Evaluator::new(&plan, &Measured::default(), Config::default());
//! let mut readings = Readings::default();
//! let m = Metrics { qps: Some(150.0), p99_ms: Some(40.0), error_rate: Some(0.0) };
//! readings.entries.insert("home".into(), Reading::Value(m));
//! let tick = ev.evaluate(&readings, 5_000);
//! assert_eq!(tick.live.entries[0].water_level, Some(0.75));
//! assert_eq!(tick.live.entries[0].status, Status::Warn);
//! ```
//!
//! Modules form a DAG: `sample` ← `live` ← `burn` ← `alert` ← `history` ←
//! `eval` ← `export` (each only uses modules to its left).

pub mod alert;
pub mod burn;
pub mod eval;
pub mod export;
pub mod history;
pub mod live;
pub mod sample;

pub use alert::{AlertRule, Severity, Transition, derive_alerts};
pub use eval::{Config, Evaluator, LiveRow, LiveView, TickOutput};
pub use sample::{Metrics, Reading, Readings};
