//! Integration tests of seawall-scrape: real sidecars, a real upstream and
//! Debian's real Prometheus on 127.0.0.1.

mod carnival_templates;
mod common;
#[cfg(feature = "promql")]
mod eval_props;
mod prometheus;
mod scrape_sidecar;
