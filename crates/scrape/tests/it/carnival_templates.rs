//! The carnival plan's `monitoring.templates` against the queries it wrote
//! out per entry and per service before: rendered for every id through
//! the one resolution the control plane and the exports use
//! ([`plan_queries`]), each entry query is the old one (white space
//! aside), and each service reads the sidecar defaults.

use seawall_plan::model::QueryKind;
use seawall_scrape::templates::{Subject, default_templates, plan_queries, queries_for};

const CARNIVAL: &str = include_str!("../../../../examples/carnival/plan.yaml");

/// `monitoring.queries` of the carnival plan before its templates: every
/// entry's three queries, written out.
const ENTRIES_BEFORE: [(&str, &str, &str); 21] = [
    (
        "home",
        "qps",
        r#"sum(rate(http_requests_total{entry="home"}[1m]))"#,
    ),
    (
        "home",
        "p99_ms",
        r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{entry="home"}[1m]))) * 1000"#,
    ),
    (
        "home",
        "error_rate",
        r#"sum(rate(http_requests_total{entry="home",code=~"5.."}[1m])) / sum(rate(http_requests_total{entry="home"}[1m]))"#,
    ),
    (
        "scan-unlock",
        "qps",
        r#"sum(rate(http_requests_total{entry="scan-unlock"}[1m]))"#,
    ),
    (
        "scan-unlock",
        "p99_ms",
        r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{entry="scan-unlock"}[1m]))) * 1000"#,
    ),
    (
        "scan-unlock",
        "error_rate",
        r#"sum(rate(http_requests_total{entry="scan-unlock",code=~"5.."}[1m])) / sum(rate(http_requests_total{entry="scan-unlock"}[1m]))"#,
    ),
    (
        "ebike-unlock",
        "qps",
        r#"sum(rate(http_requests_total{entry="ebike-unlock"}[1m]))"#,
    ),
    (
        "ebike-unlock",
        "p99_ms",
        r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{entry="ebike-unlock"}[1m]))) * 1000"#,
    ),
    (
        "ebike-unlock",
        "error_rate",
        r#"sum(rate(http_requests_total{entry="ebike-unlock",code=~"5.."}[1m])) / sum(rate(http_requests_total{entry="ebike-unlock"}[1m]))"#,
    ),
    (
        "coupon-grab",
        "qps",
        r#"sum(rate(http_requests_total{entry="coupon-grab"}[1m]))"#,
    ),
    (
        "coupon-grab",
        "p99_ms",
        r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{entry="coupon-grab"}[1m]))) * 1000"#,
    ),
    (
        "coupon-grab",
        "error_rate",
        r#"sum(rate(http_requests_total{entry="coupon-grab",code=~"5.."}[1m])) / sum(rate(http_requests_total{entry="coupon-grab"}[1m]))"#,
    ),
    (
        "create-order",
        "qps",
        r#"sum(rate(http_requests_total{entry="create-order"}[1m]))"#,
    ),
    (
        "create-order",
        "p99_ms",
        r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{entry="create-order"}[1m]))) * 1000"#,
    ),
    (
        "create-order",
        "error_rate",
        r#"sum(rate(http_requests_total{entry="create-order",code=~"5.."}[1m])) / sum(rate(http_requests_total{entry="create-order"}[1m]))"#,
    ),
    (
        "pay",
        "qps",
        r#"sum(rate(http_requests_total{entry="pay"}[1m]))"#,
    ),
    (
        "pay",
        "p99_ms",
        r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{entry="pay"}[1m]))) * 1000"#,
    ),
    (
        "pay",
        "error_rate",
        r#"sum(rate(http_requests_total{entry="pay",code=~"5.."}[1m])) / sum(rate(http_requests_total{entry="pay"}[1m]))"#,
    ),
    (
        "call-car",
        "qps",
        r#"sum(rate(http_requests_total{entry="call-car"}[1m]))"#,
    ),
    (
        "call-car",
        "p99_ms",
        r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{entry="call-car"}[1m]))) * 1000"#,
    ),
    (
        "call-car",
        "error_rate",
        r#"sum(rate(http_requests_total{entry="call-car",code=~"5.."}[1m])) / sum(rate(http_requests_total{entry="call-car"}[1m]))"#,
    ),
];

/// The services' queries before: `seawall_requests_total{service,outcome}`,
/// a counter no part of Seawall exposes (the sidecar's is
/// `seawall_sidecar_requests_total{resource,result}`).
const SERVICES_BEFORE: [(&str, &str, &str); 10] = [
    (
        "home-bff",
        r#"sum(rate(seawall_requests_total{service="home-bff"}[1m]))"#,
        r#"sum(rate(seawall_requests_total{service="home-bff",outcome="error"}[1m])) / sum(rate(seawall_requests_total{service="home-bff"}[1m]))"#,
    ),
    (
        "unlock-svc",
        r#"sum(rate(seawall_requests_total{service="unlock-svc"}[1m]))"#,
        r#"sum(rate(seawall_requests_total{service="unlock-svc",outcome="error"}[1m])) / sum(rate(seawall_requests_total{service="unlock-svc"}[1m]))"#,
    ),
    (
        "ebike-svc",
        r#"sum(rate(seawall_requests_total{service="ebike-svc"}[1m]))"#,
        r#"sum(rate(seawall_requests_total{service="ebike-svc",outcome="error"}[1m])) / sum(rate(seawall_requests_total{service="ebike-svc"}[1m]))"#,
    ),
    (
        "order-svc",
        r#"sum(rate(seawall_requests_total{service="order-svc"}[1m]))"#,
        r#"sum(rate(seawall_requests_total{service="order-svc",outcome="error"}[1m])) / sum(rate(seawall_requests_total{service="order-svc"}[1m]))"#,
    ),
    (
        "coupon-svc",
        r#"sum(rate(seawall_requests_total{service="coupon-svc"}[1m]))"#,
        r#"sum(rate(seawall_requests_total{service="coupon-svc",outcome="error"}[1m])) / sum(rate(seawall_requests_total{service="coupon-svc"}[1m]))"#,
    ),
    (
        "ride-svc",
        r#"sum(rate(seawall_requests_total{service="ride-svc"}[1m]))"#,
        r#"sum(rate(seawall_requests_total{service="ride-svc",outcome="error"}[1m])) / sum(rate(seawall_requests_total{service="ride-svc"}[1m]))"#,
    ),
    (
        "pay-gateway",
        r#"sum(rate(seawall_requests_total{service="pay-gateway"}[1m]))"#,
        r#"sum(rate(seawall_requests_total{service="pay-gateway",outcome="error"}[1m])) / sum(rate(seawall_requests_total{service="pay-gateway"}[1m]))"#,
    ),
    (
        "user-svc",
        r#"sum(rate(seawall_requests_total{service="user-svc"}[1m]))"#,
        r#"sum(rate(seawall_requests_total{service="user-svc",outcome="error"}[1m])) / sum(rate(seawall_requests_total{service="user-svc"}[1m]))"#,
    ),
    (
        "risk-svc",
        r#"sum(rate(seawall_requests_total{service="risk-svc"}[1m]))"#,
        r#"sum(rate(seawall_requests_total{service="risk-svc",outcome="error"}[1m])) / sum(rate(seawall_requests_total{service="risk-svc"}[1m]))"#,
    ),
    (
        "map-svc",
        r#"sum(rate(seawall_requests_total{service="map-svc"}[1m]))"#,
        r#"sum(rate(seawall_requests_total{service="map-svc",outcome="error"}[1m])) / sum(rate(seawall_requests_total{service="map-svc"}[1m]))"#,
    ),
];

fn squash(q: &str) -> String {
    q.split_whitespace().collect()
}

#[test]
fn carnival_templates_render_the_queries_written_out_before() {
    let plan = seawall_plan::parse(CARNIVAL, "plan.yaml").expect("carnival plan");
    assert!(plan.monitoring.queries.is_empty(), "templates only");
    assert_eq!(plan.entries.len() * 3, ENTRIES_BEFORE.len());
    for (id, figure, before) in ENTRIES_BEFORE {
        assert!(plan.entries.contains_key(id), "{id}");
        let q = plan_queries(&plan, Subject::Entry, id).expect("renders");
        let now = match figure {
            "qps" => q.qps,
            "p99_ms" => q.p99_ms,
            _ => q.error_rate,
        };
        assert_eq!(squash(&now), squash(before), "{id}.{figure}");
    }
    assert_eq!(plan.services.len(), SERVICES_BEFORE.len());
    for (id, qps_before, errors_before) in SERVICES_BEFORE {
        assert!(plan.services.contains_key(id), "{id}");
        let q = plan_queries(&plan, Subject::Service, id).expect("renders");
        let defaults = queries_for(Subject::Service, id, [None; 3]).expect("defaults");
        assert_eq!(q, defaults, "{id}: the sidecar defaults");
        // The same figures, on the counter the sidecar really exposes.
        assert_eq!(
            squash(&q.qps),
            squash(&qps_before.replace("seawall_requests_total", "seawall_sidecar_requests_total")),
            "{id}"
        );
        assert!(errors_before.contains("outcome=\"error\""), "{id}");
        assert!(
            q.error_rate.contains(&format!(
                "service=\"{id}\",result=~\"upstream_5xx|bad_gateway|timeout|fault\""
            )),
            "{}",
            q.error_rate
        );
    }
}

#[test]
fn a_per_id_query_wins_over_the_template_which_wins_over_the_default() {
    let src = CARNIVAL.replace(
        "  templates:\n",
        "  queries:\n    pay:\n      qps: 'own_qps{entry=\"{entry}\"}'\n  templates:\n",
    );
    let plan = seawall_plan::parse(&src, "plan.yaml").expect("plan");
    let pay = plan_queries(&plan, Subject::Entry, "pay").expect("pay");
    assert_eq!(pay.qps, "own_qps{entry=\"pay\"}");
    assert!(
        pay.p99_ms
            .contains("http_request_duration_seconds_bucket{entry=\"pay\"}"),
        "{}",
        pay.p99_ms
    );
    let home = plan_queries(&plan, Subject::Entry, "home").expect("home");
    assert_eq!(
        home.qps,
        "sum(rate(http_requests_total{entry=\"home\"}[1m]))"
    );
    assert_eq!(
        plan.monitoring.written(QueryKind::Entry, "pay")[0],
        Some("own_qps{entry=\"{entry}\"}")
    );
    // Partners have no template: the defaults, with `{partner}`.
    let partner = plan_queries(&plan, Subject::Partner, "pay-partner").expect("partner");
    let d = default_templates(Subject::Partner);
    assert_eq!(partner.qps, d.qps.replace("{partner}", "pay-partner"));
}
