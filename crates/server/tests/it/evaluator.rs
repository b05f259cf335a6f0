//! The evaluator's election seen from outside, as an operator sees it at
//! 3 a.m.: two replicas on one PostgreSQL, each with its `/metrics`
//! (`seawall_evaluator_leader`, `…_terms_total`, `…_fenced_total`, the
//! term's start) and the audit log (`evaluator.elected`,
//! `evaluator.lost`). Exactly one replica leads; stopping it hands the
//! lead to the other; killing the leader's election session (as a crashed
//! connection or a vanished host does) ends its term — counted, audited —
//! and it wins a new one. Bounded waits only (rounds are 1 s apart). And
//! the shipped Prometheus rule `SeawallNoEvaluator` passes `promtool`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::StatusCode;
use serde_json::Value;

use crate::common::{T0, TestServer};

/// `/metrics` of a replica, each sample by name (the answer checked
/// against the OpenAPI document like every other).
async fn metrics(r: &TestServer) -> BTreeMap<String, f64> {
    let m = r.api(None).get("/metrics").await;
    assert_eq!(m.status, StatusCode::OK);
    let content_type = m
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    m.text()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name, value) = l.split_once(' ')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

fn sample(m: &BTreeMap<String, f64>, name: &str) -> f64 {
    *m.get(name)
        .unwrap_or_else(|| panic!("{name} missing from /metrics: {m:?}"))
}

/// `(leader, terms_total, fenced_total, term start)` of a replica.
async fn state(r: &TestServer) -> (f64, f64, f64, f64) {
    let m = metrics(r).await;
    (
        sample(&m, "seawall_evaluator_leader"),
        sample(&m, "seawall_evaluator_terms_total"),
        sample(&m, "seawall_evaluator_fenced_total"),
        sample(&m, "seawall_evaluator_term_start_timestamp_seconds"),
    )
}

/// Poll `probe` every 100 ms until it holds, for at most `limit`.
async fn wait_until<F, Fut>(limit: Duration, what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if probe().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `evaluator.*` entries of the audit log, through the audit API.
async fn terms_audited(r: &TestServer) -> Vec<Value> {
    let r = r.admin().get("/api/v1/audit?limit=10000").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let page: Value = r.json().expect("json");
    page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| {
            e["action"]
                .as_str()
                .is_some_and(|a| a.starts_with("evaluator."))
        })
        .map(|e| {
            // The detail is stored (and hashed) as compact JSON text.
            let mut e = e.clone();
            let detail: Value =
                serde_json::from_str(e["detail"].as_str().expect("detail")).expect("JSON detail");
            e["detail"] = detail;
            e
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_in_metrics_and_audit_and_the_lead_moves_when_it_stops_or_its_session_dies() {
    let pg = seawall_store::testing::TempPostgres::start().expect(
        "PostgreSQL for the server's tests (apt-get install postgresql; .ci/run installs it)",
    );
    let url = pg.create_database().expect("database");
    let first = TestServer::start_elected(&url, None).await;
    let second = TestServer::start_elected(&url, Some(&first.admin)).await;
    let limit = Duration::from_secs(10);

    // Exactly one replica leads (both start as standby; the first round
    // that takes the lock wins).
    wait_until(limit, "one replica leads", || async {
        state(&first).await.0 + state(&second).await.0 == 1.0
    })
    .await;
    let (lead, standby) = if state(&first).await.0 == 1.0 {
        (first, second)
    } else {
        (second, first)
    };
    let (leader, terms, fenced, start) = state(&lead).await;
    assert_eq!((leader, terms, fenced), (1.0, 1.0, 0.0));
    assert_eq!(
        start * 1000.0,
        T0 as f64,
        "the term started at the replica's clock"
    );
    assert_eq!(state(&standby).await, (0.0, 0.0, 0.0, 0.0));
    // No write was refused by the fence: nobody wrote after losing.
    let m = metrics(&lead).await;
    assert_eq!(sample(&m, "seawall_evaluator_fenced_writes_total"), 0.0);
    // The record follows the role by one write.
    wait_until(limit, "the term is audited", || async {
        !terms_audited(&standby).await.is_empty()
    })
    .await;
    let audited = terms_audited(&standby).await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    let elected = &audited[0];
    assert_eq!(elected["action"], "evaluator.elected");
    assert_eq!(elected["actor"], "evaluator");
    let lead_id = elected["detail"]["replica"]
        .as_str()
        .expect("replica")
        .to_owned();
    assert!(
        lead_id.ends_with(&lead.base[lead.base.rfind(':').expect("port")..]),
        "{elected}"
    );
    assert_eq!(elected["target"], format!("replica:{lead_id}"));
    assert_eq!(elected["detail"]["term"], 1);
    assert!(elected["detail"]["session"].as_i64().is_some(), "{elected}");
    assert!(
        elected["detail"]["host"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    );

    // The leader stops: it lets the lock go and says so; the standby's
    // gauge becomes 1 and its terms counter moves.
    lead.stop().await.expect("stops");
    wait_until(limit, "the other replica leads", || async {
        state(&standby).await.0 == 1.0
    })
    .await;
    let (_, terms, fenced, _) = state(&standby).await;
    assert_eq!((terms, fenced), (1.0, 0.0));

    // The leader's election session is killed (what a crashed connection
    // or a vanished host ends in): its term is lost — counted in
    // `fenced_total`, audited — and, alone now, it wins the next one.
    wait_until(limit, "the new term is audited", || async {
        terms_audited(&standby).await.len() == 3
    })
    .await;
    let audited = terms_audited(&standby).await;
    let second_term = audited.last().expect("elected");
    assert_eq!(second_term["action"], "evaluator.elected", "{audited:?}");
    let session = second_term["detail"]["session"].as_i64().expect("session");
    let killed = pg
        .psql(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE pid = {session} AND application_name = 'seawall-evaluator'"
        ))
        .expect("psql");
    assert!(
        killed.contains('t'),
        "the session was there to kill: {killed}"
    );
    wait_until(
        limit,
        "the killed term is counted and a new one won",
        || async {
            let (leader, terms, fenced, _) = state(&standby).await;
            leader == 1.0 && terms == 2.0 && fenced == 1.0
        },
    )
    .await;

    // The audit log tells the whole story, in order.
    wait_until(limit, "the third term is audited", || async {
        terms_audited(&standby).await.len() == 5
    })
    .await;
    let audited = terms_audited(&standby).await;
    let story: Vec<(String, String, i64)> = audited
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or("").to_owned(),
                e["detail"]["replica"].as_str().unwrap_or("").to_owned(),
                e["detail"]["term"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let other_id = story[2].1.clone();
    assert_ne!(other_id, lead_id);
    assert_eq!(
        story,
        [
            ("evaluator.elected".to_owned(), lead_id.clone(), 1),
            ("evaluator.lost".to_owned(), lead_id, 1),
            ("evaluator.elected".to_owned(), other_id.clone(), 1),
            ("evaluator.lost".to_owned(), other_id.clone(), 1),
            ("evaluator.elected".to_owned(), other_id, 2),
        ]
    );
    let reasons: Vec<&str> = audited
        .iter()
        .filter_map(|e| e["detail"]["reason"].as_str())
        .collect();
    assert!(reasons[0].contains("shut down"), "{reasons:?}");
    assert!(reasons[1].contains("session failed"), "{reasons:?}");
    standby.stop().await.expect("stops");
}

/// `deploy/prometheus` in the workspace.
fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus")
}

fn promtool(args: &[&str]) -> String {
    let path = "/usr/bin/promtool";
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install Debian's `prometheus` package (apt-get install prometheus; .ci/run does)"
    );
    let out = std::process::Command::new(path)
        .args(args)
        .current_dir(rules_dir())
        .output()
        .expect("promtool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?} failed:\n{text}");
    text
}

/// The shipped rule for "no replica evaluates" is valid and fires (and
/// only) when the sum of the replicas' gauges stays 0 for 30 s.
#[test]
fn the_no_evaluator_rule_passes_promtool() {
    promtool(&["check", "rules", "seawall-control-plane.rules.yml"]);
    let out = promtool(&["test", "rules", "seawall-control-plane.test.yml"]);
    assert!(out.contains("SUCCESS"), "{out}");
}
