//! `GET /metrics`: the control plane's own state for Prometheus (text
//! exposition format 0.0.4) — today the evaluator's election: whether this
//! replica leads, the terms it won and lost, and when its term started.
//!
//! Why: `/readyz` says which replica leads to someone who asks; at 3 a.m.
//! an alert must say that *no* replica leads (`SeawallNoEvaluator`, in
//! `deploy/prometheus/seawall-control-plane.rules.yml`: the sum of
//! `seawall_evaluator_leader` over the replicas is 0) or that the lead
//! flaps (`seawall_evaluator_terms_total` rising). Public like `/readyz`:
//! nothing about events, plans or people is exposed here.

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::service::monitoring::registry::Leadership;
use crate::state::AppState;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The control plane's metrics, for Prometheus.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "This replica's metrics in the Prometheus text format: \
        `seawall_evaluator_leader`, `seawall_evaluator_terms_total`, `seawall_evaluator_fenced_total`, \
        `seawall_evaluator_fenced_writes_total`, `seawall_evaluator_term_start_timestamp_seconds`",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String)))]
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        render(
            state.monitor().leadership(),
            seawall_store::election::refused_writes(),
        ),
    )
        .into_response()
}

/// The exposition of `leadership`, with `refused_writes` evaluator writes
/// the store refused by the fence.
pub fn render(leadership: &Leadership, refused_writes: u64) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, value: String| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        );
    };
    family(
        "seawall_evaluator_leader",
        "gauge",
        "Whether this replica is the evaluator (1) or a standby (0); the sum over the replicas is 1 when all is well.",
        u8::from(leadership.is_leader()).to_string(),
    );
    family(
        "seawall_evaluator_terms_total",
        "counter",
        "Terms this replica won as the evaluator since it started.",
        leadership.terms().to_string(),
    );
    family(
        "seawall_evaluator_fenced_total",
        "counter",
        "Terms this replica lost to the election (its session failed or another replica holds the lock); the store refuses every later write of such a term.",
        leadership.lost_terms().to_string(),
    );
    family(
        "seawall_evaluator_fenced_writes_total",
        "counter",
        "Evaluator writes the store refused because the term they belonged to was lost (a paused or cut-off leader writing after another replica took over).",
        refused_writes.to_string(),
    );
    let start = leadership
        .term_start_ms()
        .map_or(0.0, |ms| ms as f64 / 1000.0);
    family(
        "seawall_evaluator_term_start_timestamp_seconds",
        "gauge",
        "When this replica's current term as the evaluator started (Unix seconds; 0 while standby).",
        format!("{start}"),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_always_leads_and_a_standby() {
        let leadership = Leadership::default();
        let text = render(&leadership, 3);
        assert!(
            text.contains("# TYPE seawall_evaluator_leader gauge\nseawall_evaluator_leader 1\n")
        );
        assert!(text.contains("seawall_evaluator_fenced_writes_total 3\n"));
        assert!(text.contains("seawall_evaluator_terms_total 0\n"));
        assert!(text.contains("seawall_evaluator_term_start_timestamp_seconds 0\n"));
        leadership.won_term(1_700_000_000_500);
        let text = render(&leadership, 0);
        assert!(text.contains("seawall_evaluator_terms_total 1\n"));
        assert!(
            text.contains("seawall_evaluator_term_start_timestamp_seconds 1700000000.5\n"),
            "{text}"
        );
        for line in text.lines() {
            let ok = line.starts_with("# HELP seawall_")
                || line.starts_with("# TYPE seawall_")
                || line.starts_with("seawall_evaluator_");
            assert!(ok, "{line}");
        }
        assert_eq!(text.matches("# TYPE").count(), 5);
        leadership.start_election();
        let text = render(&leadership, 0);
        assert!(text.contains("seawall_evaluator_leader 0\n"), "{text}");
        assert!(text.contains("seawall_evaluator_term_start_timestamp_seconds 0\n"));
    }
}
