//! `seawall review` as a user runs it, against a real `seawall serve`:
//! an event with a pushed plan and an earlier one to compare with. The
//! Markdown and JSON outputs are insta snapshots; `--out` writes the HTML
//! page to a file; an unknown event exits 2 with the server's message.

use crate::common::serve::{Serve, TempDir};
use crate::live::{ok, run};

const PLAN: &str = "event: {name: Review Sale, timezone: UTC}
goals:
  orders: {total: 360000, peak_hour_share: 0.1, peak_factor: 1.0}
traffic:
  journeys:
    buy:
      goal: orders
      steps:
        - {entry: create-order}
entries:
  create-order: {service: order-api, method: POST, path: /api/orders, slo: {p99_ms: 300}}
services:
  order-api: {instances: 2, capacity_per_instance: 10}
monitoring:
  alerts:
    order-p99: {target: create-order, metric: p99_ms, above: 300, for: 1m, severity: page}
";

#[test]
fn review_prints_markdown_and_json_and_writes_html() {
    let dir = TempDir::new("review");
    let data = dir.0.join("data");
    let server = Serve::start(&data, &[]);
    let url = server.url.clone();
    let admin = std::fs::read_to_string(data.join("admin-token")).expect("admin token");
    let admin = admin.trim();
    let plan = dir.0.join("plan.yaml");
    std::fs::write(&plan, PLAN).expect("plan");
    let plan = plan.to_str().expect("utf-8 path");
    for slug in ["sale-2026", "sale-2025"] {
        ok(&url, admin, &["push", plan, "--event", slug, "--create"]);
    }

    let md = ok(&url, admin, &["review", "--event", "sale-2026"]);
    let json = ok(
        &url,
        admin,
        &[
            "review",
            "--event",
            "sale-2026",
            "--format",
            "json",
            "--compare",
            "sale-2025",
        ],
    );
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        insta::assert_snapshot!("review_markdown", md);
        insta::assert_snapshot!("review_json_compared", json);
    });

    let out = dir.0.join("review.html");
    let said = ok(
        &url,
        admin,
        &[
            "review",
            "--event",
            "sale-2026",
            "--format",
            "html",
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    assert!(said.starts_with("review of sale-2026 written to"), "{said}");
    let html = std::fs::read_to_string(&out).expect("the page");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("Review of Review Sale"));
    for banned in ["<script", "<link", "src=", "href=", "url("] {
        assert!(!html.contains(banned), "{banned}");
    }

    let o = run(&url, admin, &["review", "--event", "nope"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nope"));
    drop(server);
}
