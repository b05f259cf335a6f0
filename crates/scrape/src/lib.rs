//! Seawall's event-day metric sources.
//!
//! The control plane watches an event through one of two sources, and this
//! crate is both of them, with nothing of the evaluation (water levels,
//! burn rates, alerts live in `seawall-monitor`):
//!
//! - the **built-in scrape** ([`scrape`]): the sidecars' admin `/metrics`
//!   read every scrape interval and parsed by [`exposition`], so the demo
//!   and small events need no Prometheus;
//! - an organisation's **Prometheus** ([`prometheus`]): PromQL instant
//!   queries through its HTTP API.
//!
//! [`templates`] ties them: query templates with `{entry}`, `{service}`
//! and `{partner}` whose defaults read the sidecar's own metrics, and the
//! same figures (qps, p99, error rate) computed from scraped pages, so the
//! two sources give comparable numbers. A source that fails gives its
//! error text, never a zero.
//!
//! Modules form a DAG: `exposition` (no dependency) ← `scrape`,
//! `templates`, `prometheus` (which reuses the float spellings of
//! `exposition`).

pub mod eval;
pub mod exposition;
pub mod prometheus;
pub mod scrape;
pub mod templates;

pub use exposition::{Exposition, Family, MetricType, ParseError, Sample};
pub use prometheus::{PromClient, PromConfig, PromError, QueryData, QueryResult};
pub use scrape::{
    Board, Health, Outcome, ScrapeError, ScrapeOptions, Scraper, Streak, Target, TargetResult,
};
pub use templates::{Figures, QuerySet, Rates, Subject, TemplateError, Vars};

mod transport;
