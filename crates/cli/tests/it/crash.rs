//! Crash safety: `seawall serve` (the real binary) is SIGKILLed while 200
//! clients push plans and ask the gate, then started again on the same
//! data — SQLite in the data directory, and PostgreSQL. Every write that
//! was answered 2xx must be there, versions stay dense, the audit chain
//! verifies (`seawall audit verify`), and the restart needs no repair: it
//! serves, and takes new writes, at once.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use seawall_server::client::Client;

use crate::common::serve::{Serve, TempDir};
use serde_json::{Value, json};

/// The flagship example plan.
pub const CARNIVAL: &str = include_str!("../../../../examples/carnival/plan.yaml");

/// What the clients were told was stored.
#[derive(Default)]
struct Acknowledged {
    /// Gate decision record ids answered 200.
    records: BTreeSet<i64>,
    /// Plan versions answered 201.
    versions: BTreeSet<i64>,
}

fn admin_token(data: &Path) -> String {
    std::fs::read_to_string(data.join("admin-token"))
        .expect("admin-token written on the first start")
        .trim()
        .to_owned()
}

/// 200 clients, each alternating plan pushes and gate checks until the
/// server goes away (at most 25 requests each); the server is SIGKILLed
/// once `kill_after` answers have come back.
async fn load_then_kill(serve: &mut Serve, token: &str, kill_after: usize) -> Acknowledged {
    let answered = Arc::new(AtomicUsize::new(0));
    let client = Client::new(&serve.url)
        .expect("client")
        .with_token(token)
        .with_timeout(Duration::from_secs(60));
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..200usize {
        let client = client.clone();
        let answered = Arc::clone(&answered);
        workers.spawn(async move {
            let mut acked = Acknowledged::default();
            for round in 0..25usize {
                let push = (worker + round) % 2 == 0;
                let result = if push {
                    client
                        .post_json(
                            "/api/v1/events/crash/plans",
                            &json!({"file_name": "plan.yaml", "text": CARNIVAL}),
                        )
                        .await
                } else {
                    client
                        .post_json(
                            "/api/v1/gate/check",
                            &json!({
                                "service": "order-svc", "kind": "release", "actor": "ci",
                                "change_ref": format!("crash-{worker}-{round}"), "event": "crash"
                            }),
                        )
                        .await
                };
                let Ok(r) = result else { break };
                answered.fetch_add(1, Ordering::SeqCst);
                if r.status.is_success() {
                    let v: Value = r.json().expect("a 2xx answer is JSON");
                    if push {
                        acked
                            .versions
                            .insert(v["version"].as_i64().expect("version"));
                    } else {
                        acked.records.insert(v["record"].as_i64().expect("record"));
                    }
                }
            }
            acked
        });
    }
    let started = Instant::now();
    while answered.load(Ordering::SeqCst) < kill_after {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {} answers in 120 s",
            answered.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    serve.kill();
    let in_flight_at_kill = 200 * 25 - answered.load(Ordering::SeqCst);
    assert!(in_flight_at_kill > 0, "the kill came after the load");
    let mut all = Acknowledged::default();
    while let Some(acked) = workers.join_next().await {
        let acked = acked.expect("worker");
        all.records.extend(acked.records);
        all.versions.extend(acked.versions);
    }
    all
}

/// Kill under load, restart on the same data, check (module docs).
async fn crash_and_recover(data: &Path, extra: &[OsString]) {
    let mut serve = Serve::start(data, extra);
    let token = admin_token(data);
    let client = Client::new(&serve.url).expect("client").with_token(&token);
    let r = client
        .post_json(
            "/api/v1/events",
            &json!({"slug": "crash", "name": "Crash test"}),
        )
        .await
        .expect("create the event");
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    let r = client
        .post_json(
            "/api/v1/events/crash/plans",
            &json!({"file_name": "plan.yaml", "text": CARNIVAL}),
        )
        .await
        .expect("the first plan");
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());

    let acked = load_then_kill(&mut serve, &token, 150).await;
    assert!(
        !acked.versions.is_empty() && !acked.records.is_empty(),
        "some writes were answered before the kill"
    );
    drop(serve);

    // Started again on the same data: no repair step, it just serves.
    let serve = Serve::start(data, extra);
    let client = Client::new(&serve.url).expect("client").with_token(&token);
    let plans: Value = client
        .get("/api/v1/events/crash/plans")
        .await
        .expect("plans")
        .json()
        .expect("json");
    let stored: BTreeSet<i64> = plans["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["version"].as_i64().expect("version"))
        .collect();
    let missing: Vec<_> = acked.versions.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "acknowledged plan versions lost: {missing:?}"
    );
    let top = stored.last().copied().unwrap_or(0);
    assert_eq!(
        stored,
        (1..=top).collect::<BTreeSet<_>>(),
        "versions are dense"
    );
    let changes: Value = client
        .get("/api/v1/gate/changes?limit=10000")
        .await
        .expect("changes")
        .json()
        .expect("json");
    let recorded: BTreeSet<i64> = changes["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["id"].as_i64().expect("id"))
        .collect();
    let missing: Vec<_> = acked.records.difference(&recorded).collect();
    assert!(
        missing.is_empty(),
        "acknowledged gate records lost: {missing:?} (acknowledged {} from {:?} to {:?}; \
         stored {} from {:?} to {:?})",
        acked.records.len(),
        acked.records.first(),
        acked.records.last(),
        recorded.len(),
        recorded.first(),
        recorded.last()
    );

    // The audit chain verifies through the API …
    let verify = Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args(["audit", "verify", "--server", &serve.url, "--token", &token])
        .env("NO_COLOR", "1")
        .env_remove("SEAWALL_DB")
        .output()
        .expect("run audit verify");
    assert!(
        verify.status.success(),
        "audit verify after the crash: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );

    // … and new writes go on from where the store is.
    let r = client
        .post_json(
            "/api/v1/events/crash/plans",
            &json!({"file_name": "plan.yaml", "text": CARNIVAL}),
        )
        .await
        .expect("push after the restart");
    assert_eq!(r.status.as_u16(), 201, "{}", r.text());
    let v: Value = r.json().expect("json");
    assert_eq!(v["version"].as_i64(), Some(top + 1));
    eprintln!(
        "crash test: {} plan versions and {} gate records acknowledged before SIGKILL, all kept",
        acked.versions.len(),
        acked.records.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_write_on_sqlite() {
    let dir = TempDir::new("crash-sqlite");
    let data = dir.0.join("data");
    crash_and_recover(&data, &[]).await;
    // The file itself verifies too, read without the server.
    let verify = Command::new(env!("CARGO_BIN_EXE_seawall"))
        .args(["audit", "verify", "--data-dir"])
        .arg(&data)
        .env("NO_COLOR", "1")
        .env_remove("SEAWALL_DB")
        .env_remove("SEAWALL_SERVER")
        .output()
        .expect("run audit verify");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_acknowledged_write_on_postgres() {
    let pg = seawall_store::testing::TempPostgres::start().expect("PostgreSQL");
    let url = pg.create_database().expect("database");
    let dir = TempDir::new("crash-postgres");
    let data = dir.0.join("data");
    crash_and_recover(&data, &[OsString::from("--db"), OsString::from(url)]).await;
}
