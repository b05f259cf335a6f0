//! The store's behaviour suite: every behaviour is one async function over
//! a [`Db`] (a `&dyn Store` plus raw SQL access for tampering), and
//! `suite!` runs each against every backend — SQLite in a temporary
//! directory, PostgreSQL on a private server (`seawall_store::testing`).
//! A backend passes only if it behaves exactly like the other.

use std::collections::BTreeSet;
use std::sync::Arc;

use seawall_monitor::Transition;
use seawall_monitor::alert::{Change, RuleState, Severity, Signal, Snapshot, State, Target};
use seawall_monitor::history::{POINTS_PER_SERIES, Point};
use seawall_monitor::sample::TargetKind;
use seawall_store::audit::{self, Break};
use seawall_store::testing::TempDir;
use seawall_store::*;

/// One backend under test.
struct Db {
    store: Arc<dyn Store>,
    raw: Raw,
    spec: StoreSpec,
    _dir: Option<TempDir>,
    #[cfg(feature = "postgres")]
    _server: Option<Arc<testing::TempPostgres>>,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

impl Db {
    fn s(&self) -> &dyn Store {
        &*self.store
    }

    /// Run raw SQL against the database behind the store's back.
    async fn exec(&self, sql: &'static str) -> u64 {
        match &self.raw {
            Raw::Sqlite(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            #[cfg(feature = "postgres")]
            Raw::Postgres(pool) => sqlx::query(sql)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        }
        .expect("raw SQL runs")
    }

    /// [`Db::exec`] with a statement per backend, where their SQL differs.
    async fn exec_each(&self, sqlite: &'static str, postgres: &'static str) -> u64 {
        match &self.raw {
            Raw::Sqlite(_) => self.exec(sqlite).await,
            #[cfg(feature = "postgres")]
            Raw::Postgres(_) => self.exec(postgres).await,
        }
    }

    /// Open the same database again (a restart).
    async fn reopen(&self) -> Arc<dyn Store> {
        open(&self.spec).await.expect("reopen")
    }

    async fn all_audit(&self) -> Vec<AuditEntry> {
        self.s().audit(0, u32::MAX).await.expect("audit")
    }
}

async fn sqlite_db() -> Db {
    let dir = TempDir::new().expect("temp dir");
    let spec = StoreSpec::Sqlite(dir.path().join("data").join("seawall.db"));
    let StoreSpec::Sqlite(path) = &spec else {
        unreachable!()
    };
    let store = sqlite::SqliteStore::open(path).await.expect("open sqlite");
    Db {
        raw: Raw::Sqlite(store.pool().clone()),
        store: Arc::new(store),
        spec,
        _dir: Some(dir),
        #[cfg(feature = "postgres")]
        _server: None,
    }
}

#[cfg(feature = "postgres")]
async fn postgres_db() -> Db {
    let server = Arc::new(testing::TempPostgres::start().expect("start PostgreSQL"));
    let url = server.create_database().expect("create database");
    let store = postgres::PgStore::open(&url).await.expect("open postgres");
    Db {
        raw: Raw::Postgres(store.pool().clone()),
        store: Arc::new(store),
        spec: StoreSpec::Postgres(url),
        _dir: None,
        _server: Some(server),
    }
}

/// `#[tokio::test]`s running each named behaviour against each backend.
macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::sqlite_db().await;
                    super::$name(&db).await;
                }
            )*
        }
        #[cfg(feature = "postgres")]
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::postgres_db().await;
                    super::$name(&db).await;
                }
            )*
        }
    };
}

suite!(
    events,
    plan_versions,
    runs,
    tokens,
    token_expiry_and_scopes,
    sessions,
    change_records,
    change_records_in_one_batch,
    exceptions,
    rule_versions,
    sidecar_reports,
    gray_whitelists,
    cluster_leases,
    alert_states_and_transitions,
    history_points,
    history_stays_bounded,
    every_change_is_audited_once,
    concurrent_changes_keep_one_chain,
    audit_tampering_is_found,
    data_survives_reopening,
    unknown_stored_names_are_corrupt,
    a_newer_schema_is_refused,
    emergency_runs,
    trigger_episodes,
    incidents,
    drills,
);

fn ctx(at_ms: i64) -> Ctx {
    Ctx::new("ana", at_ms)
}

fn new_event(slug: &str) -> NewEvent {
    NewEvent {
        slug: slug.into(),
        name: format!("Event {slug}"),
    }
}

fn is_conflict<T: std::fmt::Debug>(r: &Result<T>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

fn is_not_found<T: std::fmt::Debug>(r: &Result<T>) -> bool {
    matches!(r, Err(StoreError::NotFound { .. }))
}

async fn events(db: &Db) {
    let s = db.s();
    assert!(s.events().await.expect("events").is_empty());
    let a = s
        .create_event(&ctx(1_000), &new_event("double11-2026"))
        .await
        .expect("create");
    assert_eq!(a.slug, "double11-2026");
    assert_eq!(a.name, "Event double11-2026");
    assert_eq!((a.created_ms, a.created_by.as_str()), (1_000, "ana"));
    let b = s
        .create_event(&ctx(2_000), &new_event("618"))
        .await
        .expect("create");
    assert_ne!(a.id, b.id);

    let before = db.all_audit().await.len();
    let taken = s.create_event(&ctx(3_000), &new_event("618")).await;
    assert!(is_conflict(&taken), "same slug: {taken:?}");
    assert_eq!(
        db.all_audit().await.len(),
        before,
        "a refused change leaves no audit entry"
    );

    assert_eq!(s.events().await.expect("events"), vec![a.clone(), b]);
    assert_eq!(s.event("double11-2026").await.expect("event"), Some(a));
    assert_eq!(s.event("nope").await.expect("event"), None);
    s.ping().await.expect("ping");
}

async fn plan_versions(db: &Db) {
    let s = db.s();
    let missing = s
        .push_plan(
            &ctx(1),
            999,
            &NewPlanVersion {
                file_name: "plan.yaml".into(),
                text: "event: {}".into(),
            },
        )
        .await;
    assert!(is_not_found(&missing), "{missing:?}");

    let e = s
        .create_event(&ctx(1), &new_event("e"))
        .await
        .expect("event");
    let other = s
        .create_event(&ctx(1), &new_event("f"))
        .await
        .expect("event");
    let texts = [
        "event:\n  name: 双十一 🎉\n".to_owned(),
        "event:\r\n  name: \"tabs\\tand quotes\"\t \r\n\n\n".to_owned(),
        format!("# {}\nevent: {{}}\n", "ß".repeat(5_000)),
    ];
    for (i, text) in texts.iter().enumerate() {
        let v = s
            .push_plan(
                &Ctx::new("bob", 10 + i as i64),
                e.id,
                &NewPlanVersion {
                    file_name: format!("plan-{i}.yaml"),
                    text: text.clone(),
                },
            )
            .await
            .expect("push");
        assert_eq!(v.info.version, i as i64 + 1, "dense versions from 1");
        assert_eq!(v.info.sha256, sha256_hex(text.as_bytes()));
        assert_eq!(&v.text, text);
    }
    // Versions are per event.
    let first_of_other = s
        .push_plan(
            &ctx(20),
            other.id,
            &NewPlanVersion {
                file_name: "p.yaml".into(),
                text: "x".into(),
            },
        )
        .await
        .expect("push");
    assert_eq!(first_of_other.info.version, 1);

    let infos = s.plan_versions(e.id).await.expect("versions");
    assert_eq!(
        infos.iter().map(|v| v.version).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(infos[1].file_name, "plan-1.yaml");
    assert_eq!(
        (infos[1].created_ms, infos[1].created_by.as_str()),
        (11, "bob")
    );

    let latest = s
        .plan_version(e.id, None)
        .await
        .expect("latest")
        .expect("some");
    assert_eq!(latest.info.version, 3);
    assert_eq!(latest.text, texts[2]);
    for (i, text) in texts.iter().enumerate() {
        let v = s
            .plan_version(e.id, Some(i as i64 + 1))
            .await
            .expect("version")
            .expect("some");
        assert_eq!(&v.text, text, "text kept exactly");
        assert_eq!(v.info, infos[i]);
    }
    assert_eq!(s.plan_version(e.id, Some(4)).await.expect("v4"), None);
    assert_eq!(s.plan_version(999, None).await.expect("none"), None);
    assert!(s.plan_versions(999).await.expect("none").is_empty());
}

async fn runs(db: &Db) {
    let s = db.s();
    let e = s
        .create_event(&ctx(1), &new_event("e"))
        .await
        .expect("event");
    let plan = NewPlanVersion {
        file_name: "plan.yaml".into(),
        text: "event: {}".into(),
    };
    s.push_plan(&ctx(2), e.id, &plan).await.expect("push");
    let json = r#"{"schema":"seawall.run/v1","scenario":"峰值","x":[1,2.50,3e3]}"#;
    let run = |plan_version| NewRun {
        plan_version,
        scenario: "峰值".into(),
        json: json.into(),
    };

    let a = s.add_run(&ctx(3), e.id, &run(None)).await.expect("run");
    let b = s.add_run(&ctx(4), e.id, &run(Some(1))).await.expect("run");
    assert_eq!(a.plan_version, None);
    assert_eq!(b.plan_version, Some(1));
    assert_eq!(a.sha256, sha256_hex(json.as_bytes()));
    assert_eq!((b.uploaded_ms, b.uploaded_by.as_str()), (4, "ana"));

    let wrong_version = s.add_run(&ctx(5), e.id, &run(Some(2))).await;
    assert!(is_not_found(&wrong_version), "{wrong_version:?}");
    let wrong_event = s.add_run(&ctx(5), 999, &run(None)).await;
    assert!(is_not_found(&wrong_event), "{wrong_event:?}");

    assert_eq!(s.runs(e.id).await.expect("runs"), vec![a.clone(), b]);
    let full = s.run(a.id).await.expect("run").expect("some");
    assert_eq!(full.info, a);
    assert_eq!(full.json, json, "document kept exactly");
    assert_eq!(s.run(a.id + 1000).await.expect("run"), None);
}

fn new_token(name: &str, role: Role, secret: &str) -> NewToken {
    NewToken {
        name: name.into(),
        role,
        business_line: (role == Role::Pm).then(|| "retail".to_owned()),
        secret_sha256: sha256_hex(secret.as_bytes()),
        expires_ms: None,
        service: (role == Role::Sidecar).then(|| "order".to_owned()),
        event: (role == Role::Ci).then(|| "double11".to_owned()),
    }
}

async fn tokens(db: &Db) {
    let s = db.s();
    let admin = s
        .create_token(
            &Ctx::new("bootstrap", 1),
            &new_token("root", Role::Admin, "s1"),
        )
        .await
        .expect("token");
    let pm = s
        .create_token(&ctx(2), &new_token("pm-retail", Role::Pm, "s2"))
        .await
        .expect("token");
    assert_eq!(admin.role, Role::Admin);
    assert_eq!(pm.business_line.as_deref(), Some("retail"));
    assert_eq!(admin.created_by, "bootstrap");
    assert_eq!(admin.revoked_ms, None);

    let taken = s
        .create_token(&ctx(3), &new_token("root", Role::Viewer, "s3"))
        .await;
    assert!(is_conflict(&taken), "{taken:?}");

    let found = s
        .token_by_hash(&sha256_hex(b"s2"))
        .await
        .expect("lookup")
        .expect("some");
    assert_eq!(found, pm);
    assert_eq!(
        s.token_by_hash(&sha256_hex(b"s9")).await.expect("lookup"),
        None
    );
    for role in Role::ALL {
        let t = s
            .create_token(
                &ctx(4),
                &new_token(&format!("t-{}", role.as_str()), role, role.as_str()),
            )
            .await
            .expect("token");
        assert_eq!(t.role, role, "every role round-trips");
    }
    let all = s.tokens().await.expect("tokens");
    assert_eq!(all.len(), 2 + Role::ALL.len());
    assert_eq!(all[..2], [admin.clone(), pm.clone()]);

    let revoked = s.revoke_token(&ctx(50), pm.id).await.expect("revoke");
    assert_eq!(revoked.revoked_ms, Some(50));
    let again = s.revoke_token(&ctx(60), pm.id).await.expect("revoke");
    assert_eq!(
        again.revoked_ms,
        Some(50),
        "revoking twice keeps the first time"
    );
    let found = s.token_by_hash(&sha256_hex(b"s2")).await.expect("lookup");
    assert_eq!(found.and_then(|t| t.revoked_ms), Some(50));
    assert!(is_not_found(&s.revoke_token(&ctx(70), 999_999).await));

    // The audit log never holds a secret or its hash.
    for entry in db.all_audit().await {
        for secret in ["s1", "s2"] {
            assert!(!entry.detail.contains(&sha256_hex(secret.as_bytes())));
        }
    }
}

async fn token_expiry_and_scopes(db: &Db) {
    let s = db.s();
    let mut new = new_token("ci-pay", Role::Ci, "c1");
    new.expires_ms = Some(30 * 86_400_000);
    let ci = s.create_token(&ctx(1), &new).await.expect("token");
    assert_eq!(ci.expires_ms, Some(30 * 86_400_000));
    assert_eq!(ci.event.as_deref(), Some("double11"));
    assert_eq!(ci.service, None);
    let sidecar = s
        .create_token(&ctx(2), &new_token("sc-order", Role::Sidecar, "c2"))
        .await
        .expect("token");
    assert_eq!(sidecar.role, Role::Sidecar);
    assert_eq!(sidecar.service.as_deref(), Some("order"));
    assert_eq!(sidecar.expires_ms, None);
    let found = s
        .token_by_hash(&sha256_hex(b"c1"))
        .await
        .expect("lookup")
        .expect("some");
    assert_eq!(found, ci);
    assert_eq!(s.tokens().await.expect("tokens"), vec![ci, sidecar]);
    let entries = db.all_audit().await;
    let detail: serde_json::Value = serde_json::from_str(&entries[0].detail).expect("json");
    assert_eq!(detail["expires_ms"], 30 * 86_400_000_i64);
    assert_eq!(detail["event"], "double11");
}

async fn sessions(db: &Db) {
    let s = db.s();
    let t = s
        .create_token(&ctx(1), &new_token("ana", Role::Viewer, "v1"))
        .await
        .expect("token");
    let other = s
        .create_token(&ctx(1), &new_token("bo", Role::Viewer, "v2"))
        .await
        .expect("token");
    let session = |id: &str, token_id: i64, at: i64| Session {
        id_sha256: sha256_hex(id.as_bytes()),
        token_id,
        created_ms: at,
        seen_ms: at,
        idle_until_ms: at + 100,
        expires_ms: at + 1_000,
    };
    let a = session("a", t.id, 10);
    s.create_session(&ctx(10), &a).await.expect("session");
    s.create_session(&ctx(11), &session("b", t.id, 11))
        .await
        .expect("session");
    s.create_session(&ctx(12), &session("c", other.id, 12))
        .await
        .expect("session");
    let missing = s.create_session(&ctx(13), &session("d", 999_999, 13)).await;
    assert!(is_not_found(&missing), "{missing:?}");

    let (found, token) = s
        .session_by_hash(&sha256_hex(b"a"))
        .await
        .expect("lookup")
        .expect("some");
    assert_eq!((found, token), (a.clone(), t.clone()));
    assert_eq!(
        s.session_by_hash(&sha256_hex(b"z")).await.expect("lookup"),
        None
    );

    // Use moves the idle deadline forward, never back.
    s.touch_session(&a.id_sha256, 50, 150).await.expect("touch");
    s.touch_session(&a.id_sha256, 40, 140).await.expect("touch");
    let (found, _) = s
        .session_by_hash(&a.id_sha256)
        .await
        .expect("lookup")
        .expect("some");
    assert_eq!((found.seen_ms, found.idle_until_ms), (50, 150));
    s.touch_session(&sha256_hex(b"gone"), 1, 2)
        .await
        .expect("no error");

    // Logout ends one session.
    assert!(s.end_session(&ctx(60), &a.id_sha256).await.expect("end"));
    assert!(!s.end_session(&ctx(61), &a.id_sha256).await.expect("end"));
    assert_eq!(s.session_by_hash(&a.id_sha256).await.expect("lookup"), None);

    // Revoking the token ends every session of it at once, and only of it.
    s.revoke_token(&ctx(70), t.id).await.expect("revoke");
    let (b, token) = s
        .session_by_hash(&sha256_hex(b"b"))
        .await
        .expect("lookup")
        .expect("kept until the sweep");
    assert_eq!((b.expires_ms, token.revoked_ms), (70, Some(70)));
    let (c, _) = s
        .session_by_hash(&sha256_hex(b"c"))
        .await
        .expect("lookup")
        .expect("some");
    assert_eq!(c.expires_ms, 1_012, "another token's session is untouched");

    // A new login sweeps sessions that have ended (b at its revocation,
    // c idled out at 112).
    s.create_session(&ctx(500), &session("e", other.id, 500))
        .await
        .expect("session");
    assert_eq!(
        s.session_by_hash(&sha256_hex(b"b")).await.expect("lookup"),
        None
    );
    assert_eq!(
        s.session_by_hash(&sha256_hex(b"c")).await.expect("lookup"),
        None
    );

    // Audited, never with an id or its hash.
    let entries = db.all_audit().await;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "token.create",
            "token.create",
            "session.start",
            "session.start",
            "session.start",
            "session.end",
            "token.revoke",
            "session.start"
        ]
    );
    let revoke: serde_json::Value = serde_json::from_str(&entries[6].detail).expect("json");
    assert_eq!(revoke["sessions_ended"], 1);
    for entry in &entries {
        for id in ["a", "b", "c", "e"] {
            assert!(!entry.detail.contains(&sha256_hex(id.as_bytes())));
        }
    }
    audit::verify(&entries).expect("chain verifies");
}

fn change(service: &str, event_id: Option<i64>, allowed: bool) -> NewChangeRecord {
    NewChangeRecord {
        event_id,
        service: service.into(),
        kind: ChangeKind::Release,
        actor: "ci-bot".into(),
        change_ref: format!("MR-{service}"),
        allowed,
        reason: if allowed { "not frozen" } else { "frozen" }.into(),
        window: (!allowed).then(|| "peak".to_owned()),
        exception_id: None,
    }
}

async fn change_records(db: &Db) {
    let s = db.s();
    let e = s
        .create_event(&ctx(1), &new_event("e"))
        .await
        .expect("event");
    let mut made = Vec::new();
    // (time, service, event, allowed); times deliberately out of order.
    let plan = [
        (300, "order", Some(e.id), false),
        (100, "order", Some(e.id), true),
        (200, "pay", None, true),
        (300, "pay", Some(e.id), false),
        (400, "order", None, true),
    ];
    for (at, service, event_id, allowed) in plan {
        let mut new = change(service, event_id, allowed);
        new.kind = if allowed {
            ChangeKind::Config
        } else {
            ChangeKind::Ops
        };
        let r = s.record_change(&ctx(at), &new).await.expect("record");
        assert_eq!(
            (r.at_ms, r.service.as_str(), r.allowed),
            (at, service, allowed)
        );
        assert_eq!(r.kind, new.kind);
        assert_eq!(r.window, new.window);
        made.push(r);
    }
    let ids = |records: Vec<ChangeRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let id = |i: usize| made[i].id;

    let all = s.changes(&ChangeFilter::default()).await.expect("all");
    assert_eq!(all[0], made[4], "records read back as written");
    // Newest first; equal times newest id first.
    assert_eq!(ids(all), [id(4), id(3), id(0), id(2), id(1)]);
    let filter = |f: ChangeFilter| async move { ids(s.changes(&f).await.expect("changes")) };
    assert_eq!(
        filter(ChangeFilter {
            service: Some("order".into()),
            ..Default::default()
        })
        .await,
        [id(4), id(0), id(1)]
    );
    assert_eq!(
        filter(ChangeFilter {
            event_id: Some(e.id),
            ..Default::default()
        })
        .await,
        [id(3), id(0), id(1)]
    );
    assert_eq!(
        filter(ChangeFilter {
            since_ms: Some(300),
            ..Default::default()
        })
        .await,
        [id(4), id(3), id(0)]
    );
    assert_eq!(
        filter(ChangeFilter {
            allowed: Some(false),
            ..Default::default()
        })
        .await,
        [id(3), id(0)]
    );
    assert_eq!(
        filter(ChangeFilter {
            allowed: Some(true),
            service: Some("order".into()),
            event_id: Some(e.id),
            ..Default::default()
        })
        .await,
        [id(1)]
    );
    assert_eq!(
        filter(ChangeFilter {
            limit: Some(2),
            ..Default::default()
        })
        .await,
        [id(4), id(3)]
    );
    assert!(
        filter(ChangeFilter {
            limit: Some(0),
            ..Default::default()
        })
        .await
        .is_empty()
    );

    let bad_event = s
        .record_change(&ctx(1), &change("x", Some(999), true))
        .await;
    assert!(is_not_found(&bad_event), "{bad_event:?}");
    let mut bad_exception = change("x", None, true);
    bad_exception.exception_id = Some(999);
    let bad_exception = s.record_change(&ctx(1), &bad_exception).await;
    assert!(is_not_found(&bad_exception), "{bad_exception:?}");
}

fn new_exception(services: &[&str], kinds: &[ChangeKind]) -> NewException {
    NewException {
        services: services.iter().map(|s| (*s).to_owned()).collect(),
        kinds: kinds.to_vec(),
        starts_ms: 1_000,
        ends_ms: 2_000,
        reason: "hotfix for 支付".into(),
    }
}

async fn change_records_in_one_batch(db: &Db) {
    let s = db.s();
    let e = s
        .create_event(&ctx(1), &new_event("e"))
        .await
        .expect("event");
    let mut missing_exception = change("order", Some(e.id), true);
    missing_exception.exception_id = Some(999);
    let batch = vec![
        (Ctx::new("ci-1", 10), change("order", Some(e.id), false)),
        (Ctx::new("ci-2", 11), change("pay", None, true)),
        (
            Ctx::new("ci-3", 12),
            change("ghost", Some(e.id + 1000), true),
        ),
        (Ctx::new("ci-4", 13), missing_exception),
        (Ctx::new("ci-5", 14), change("order", Some(e.id), true)),
    ];
    let results = s.record_changes(&batch).await.expect("one transaction");
    assert_eq!(results.len(), batch.len());
    // The items whose event or exception is missing are refused alone.
    assert!(is_not_found(&results[2]), "{:?}", results[2]);
    assert!(is_not_found(&results[3]), "{:?}", results[3]);
    let stored: Vec<&ChangeRecord> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(stored.len(), 3);
    assert_eq!(
        stored
            .iter()
            .map(|r| (r.at_ms, r.service.as_str()))
            .collect::<Vec<_>>(),
        [(10, "order"), (11, "pay"), (14, "order")]
    );
    assert!(stored.windows(2).all(|w| w[0].id < w[1].id), "ids in order");
    let listed = s.changes(&ChangeFilter::default()).await.expect("list");
    assert_eq!(listed.len(), 3);
    // One audit entry per stored record, in batch order, chain intact.
    let log = db.all_audit().await;
    let gate: Vec<&str> = log
        .iter()
        .filter(|a| a.action == "gate.check")
        .map(|a| a.actor.as_str())
        .collect();
    assert_eq!(gate, ["ci-1", "ci-2", "ci-5"]);
    audit::verify(&log).expect("chain intact");
    assert!(s.record_changes(&[]).await.expect("empty").is_empty());
}

async fn exceptions(db: &Db) {
    let s = db.s();
    let e = s
        .create_event(&ctx(1), &new_event("e"))
        .await
        .expect("event");
    let missing = s
        .request_exception(&ctx(1), 999, &new_exception(&["x"], &[]))
        .await;
    assert!(is_not_found(&missing), "{missing:?}");

    let services = ["order-*", "pay", "库存\"quoted\""];
    let kinds = [ChangeKind::Release, ChangeKind::Ops];
    let a = s
        .request_exception(&Ctx::new("pm", 10), e.id, &new_exception(&services, &kinds))
        .await
        .expect("request");
    assert_eq!(a.status, ExceptionStatus::Pending);
    assert_eq!((a.requested_by.as_str(), a.requested_ms), ("pm", 10));
    let b = s
        .request_exception(&ctx(11), e.id, &new_exception(&[], &[]))
        .await
        .expect("request");
    let c = s
        .request_exception(
            &ctx(12),
            e.id,
            &new_exception(&["*"], &[ChangeKind::Config]),
        )
        .await
        .expect("request");
    assert_eq!(s.exception(a.id).await.expect("get"), Some(a.clone()));
    assert_eq!(
        s.exceptions(e.id).await.expect("list"),
        vec![a.clone(), b.clone(), c.clone()]
    );

    let approved = s
        .decide_exception(&Ctx::new("cmdr", 20), a.id, true, Some("ok, watch it"))
        .await
        .expect("approve");
    assert_eq!(approved.status, ExceptionStatus::Approved);
    assert_eq!(approved.decided_by.as_deref(), Some("cmdr"));
    assert_eq!(approved.decided_ms, Some(20));
    assert_eq!(approved.decision_note.as_deref(), Some("ok, watch it"));
    assert_eq!(approved.services, a.services, "lists round-trip exactly");
    assert_eq!(approved.kinds, a.kinds);
    assert_eq!(
        s.exception(a.id).await.expect("get"),
        Some(approved.clone())
    );

    let rejected = s
        .decide_exception(&ctx(21), b.id, false, None)
        .await
        .expect("reject");
    assert_eq!(rejected.status, ExceptionStatus::Rejected);
    assert_eq!(rejected.decision_note, None);

    for (id, approve) in [(a.id, true), (a.id, false), (b.id, true)] {
        let twice = s.decide_exception(&ctx(30), id, approve, None).await;
        assert!(is_conflict(&twice), "deciding twice: {twice:?}");
    }
    assert_eq!(s.exception(a.id).await.expect("get"), Some(approved));
    let missing = s.decide_exception(&ctx(30), 999, true, None).await;
    assert!(is_not_found(&missing), "{missing:?}");
    assert_eq!(s.exception(999).await.expect("get"), None);
    assert_eq!(
        s.exception(c.id).await.expect("get").map(|x| x.status),
        Some(ExceptionStatus::Pending)
    );
}

fn new_rules(service: &str, source: RuleSource, n: usize) -> NewRuleVersion {
    NewRuleVersion {
        service: service.into(),
        document: format!("{{\"version\":1,\"rules\":[{n}],\"note\":\"限流\"}}"),
        source,
        plan_version: (source == RuleSource::Derived).then_some(3),
        note: format!("change {n}"),
    }
}

/// Whitelist versions: dense per service, keys kept byte for byte, the
/// latest or a given one, history without keys, every upload audited.
async fn gray_whitelists(db: &Db) {
    let s = db.s();
    assert_eq!(s.whitelist_keys("shop", None).await.expect("keys"), None);
    let mut stored = Vec::new();
    for n in 0..3u8 {
        let keys: Vec<u8> = (0..=n).map(|i| i.wrapping_mul(37)).collect();
        let info = s
            .put_whitelist(
                &ctx(100 + i64::from(n)),
                &seawall_store::NewWhitelist {
                    service: "shop".into(),
                    keys: keys.clone(),
                    count: i64::from(n) * 1000,
                    note: format!("upload {n}"),
                },
            )
            .await
            .expect("put");
        assert_eq!(info.version, i64::from(n) + 1, "dense per service");
        assert_eq!(
            (info.count, info.bytes),
            (i64::from(n) * 1000, i64::from(n) + 1)
        );
        assert_eq!(info.sha256, sha256_hex(&keys));
        stored.push((info, keys));
    }
    let other = s
        .put_whitelist(
            &ctx(200),
            &seawall_store::NewWhitelist {
                service: "pay".into(),
                keys: vec![0xff; 3],
                count: 1,
                note: String::new(),
            },
        )
        .await
        .expect("put");
    assert_eq!(other.version, 1, "versions are per service");
    assert_eq!(
        s.whitelist_keys("shop", None).await.expect("latest"),
        Some(stored[2].clone())
    );
    assert_eq!(
        s.whitelist_keys("shop", Some(1)).await.expect("v1"),
        Some(stored[0].clone())
    );
    assert_eq!(s.whitelist_keys("shop", Some(9)).await.expect("v9"), None);
    let history: Vec<_> = stored.iter().map(|(i, _)| i.clone()).collect();
    assert_eq!(s.whitelist_history("shop").await.expect("history"), history);
    let audited = s
        .audit(0, 10_000)
        .await
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "whitelist.upload")
        .count();
    assert_eq!(audited, 4);
}

async fn rule_versions(db: &Db) {
    let s = db.s();
    assert_eq!(s.rules("order", None).await.expect("rules"), None);
    let mut order = Vec::new();
    for n in 0..3 {
        let source = if n == 0 {
            RuleSource::Derived
        } else {
            RuleSource::Adjusted
        };
        let v = s
            .put_rules(&ctx(10 + n as i64), &new_rules("order", source, n))
            .await
            .expect("put");
        assert_eq!(v.version, n as i64 + 1, "dense per service");
        assert_eq!(v.sha256, sha256_hex(v.document.as_bytes()));
        order.push(v);
    }
    // Upper case sorts before lower case bytewise; a linguistic collation
    // would put "alpha" first.
    for service in ["alpha", "Zeta"] {
        let v = s
            .put_rules(&ctx(20), &new_rules(service, RuleSource::Derived, 9))
            .await
            .expect("put");
        assert_eq!(v.version, 1, "versions are per service");
    }
    assert_eq!(
        s.rules("order", None).await.expect("latest"),
        Some(order[2].clone())
    );
    assert_eq!(
        s.rules("order", Some(1)).await.expect("v1"),
        Some(order[0].clone())
    );
    assert_eq!(s.rules("order", Some(4)).await.expect("v4"), None);
    assert_eq!(s.rule_history("order").await.expect("history"), order);
    assert!(s.rule_history("nope").await.expect("history").is_empty());
    assert_eq!(
        s.rule_services().await.expect("services"),
        vec![
            ("Zeta".to_owned(), 1),
            ("alpha".to_owned(), 1),
            ("order".to_owned(), 3)
        ]
    );
    let actions: Vec<String> = db.all_audit().await.into_iter().map(|a| a.action).collect();
    assert_eq!(
        actions,
        [
            "rules.derive",
            "rules.adjust",
            "rules.adjust",
            "rules.derive",
            "rules.derive"
        ]
    );
}

/// Cluster quota leases: one bucket per service and rule, refilled at the
/// rule's rate, grants capped at each instance's fair share, live
/// instances counted from recent leases, nothing audited.
async fn cluster_leases(db: &Db) {
    let s = db.s();
    let round = |service: &str, instance: &str, now_ms, asked, demand| LeaseRound {
        service: service.into(),
        instance: instance.into(),
        now_ms,
        live_ms: 5_000,
        asks: vec![LeaseAsk {
            rule_id: "api-cluster".into(),
            rate: 900.0,
            asked,
            demand,
        }],
    };
    let lease = |r: LeaseRound| async move { s.lease_tokens(&r).await.expect("lease") };
    // Alone: the bucket's depth, 0.2 s of the rate.
    let g = lease(round("order", "pod-a", 1_000, 1_000, 2_000.0)).await;
    assert_eq!((g.granted.clone(), g.instances), (vec![180], 1));
    let g = lease(round("order", "pod-b", 1_000, 50, 100.0)).await;
    assert_eq!((g.granted.clone(), g.instances), (vec![0], 2));
    // 100 ms later, 90 more: the light instance first gets what it asks
    // (its demand is under an equal split, so its share is its demand)…
    let g = lease(round("order", "pod-b", 1_100, 50, 100.0)).await;
    assert_eq!(g.granted, vec![20]);
    // …the heavy one the rest, and asking again at once gets nothing.
    let g = lease(round("order", "pod-a", 1_100, 1_000, 2_000.0)).await;
    assert_eq!(g.granted, vec![70]);
    let g = lease(round("order", "pod-a", 1_100, 1_000, 2_000.0)).await;
    assert_eq!(g.granted, vec![0]);
    // A flood of leases from one instance takes its share, 800/s, and
    // what the idle one leaves past half the bucket, never the rate…
    let mut flood = 0;
    for t in 0..100 {
        flood += lease(round("order", "pod-a", 1_110 + t * 10, 1_000, 2_000.0))
            .await
            .granted[0];
    }
    assert!((800..=900).contains(&flood), "{flood}");
    // …and the half kept back is there for the light one's credit (20,
    // 0.2 s of its 100/s, and the odd token past half).
    let g = lease(round("order", "pod-b", 2_110, 50, 100.0)).await;
    assert!((20..=25).contains(&g.granted[0]), "{:?}", g.granted);
    // The bucket holds 180 at most (0.2 s of the rate): after a quiet
    // minute a lone instance drains it, and no more.
    let mut total = 0;
    for _ in 0..10 {
        total += lease(round("order", "pod-a", 61_000, 1_000, 2_000.0))
            .await
            .granted[0];
    }
    assert_eq!(total, 180);
    // pod-b has not leased for a minute: not live any more.
    assert_eq!(
        lease(round("order", "pod-a", 61_100, 0, 0.0))
            .await
            .instances,
        1
    );
    // Another service has buckets and instances of its own.
    let g = lease(round("pay", "pod-a", 61_100, 5, 5.0)).await;
    assert_eq!((g.granted.clone(), g.instances), (vec![5], 1));
    assert!(db.all_audit().await.is_empty(), "leases are not audited");
}

async fn sidecar_reports(db: &Db) {
    let s = db.s();
    let report = |service: &str, instance: &str, v, at| SidecarReport {
        service: service.into(),
        instance: instance.into(),
        applied_version: v,
        reported_ms: at,
        admin_addr: None,
    };
    s.report_applied(&ctx(1), &report("order", "pod-b", 1, 10))
        .await
        .expect("report");
    s.report_applied(&ctx(1), &report("order", "pod-a", 1, 11))
        .await
        .expect("report");
    s.report_applied(&ctx(1), &report("pay", "pod-a", 7, 12))
        .await
        .expect("report");
    s.report_applied(&ctx(1), &report("order", "pod-b", 2, 20))
        .await
        .expect("upsert");
    assert_eq!(
        s.sidecar_reports("order").await.expect("reports"),
        vec![
            report("order", "pod-a", 1, 11),
            report("order", "pod-b", 2, 20)
        ]
    );
    assert_eq!(
        s.sidecar_reports("pay").await.expect("reports"),
        vec![report("pay", "pod-a", 7, 12)]
    );
    assert!(s.sidecar_reports("none").await.expect("reports").is_empty());
    // Each report is audited with what was applied where.
    let entries = db.all_audit().await;
    assert_eq!(entries.len(), 4, "every report is audited");
    assert!(
        !entries[3].detail.contains("admin_addr"),
        "no admin address reported, none in the detail"
    );
    assert!(entries.iter().all(|e| e.action == "sidecar.applied"));
    assert_eq!(entries[3].target, "service:order");
    let detail: serde_json::Value = serde_json::from_str(&entries[3].detail).expect("json");
    assert_eq!(detail["instance"], "pod-b");
    assert_eq!(detail["applied_version"], 2);
    audit::verify(&entries).expect("chain verifies");
    // A sidecar that reports its admin address has it kept (a scrape
    // target of the control plane) and audited; a later report without
    // one clears it.
    let with_admin = SidecarReport {
        admin_addr: Some("127.0.0.1:9901".into()),
        ..report("pay", "pod-a", 7, 30)
    };
    s.report_applied(&ctx(2), &with_admin)
        .await
        .expect("report");
    assert_eq!(
        s.sidecar_reports("pay").await.expect("reports"),
        vec![with_admin.clone()]
    );
    let last = db.all_audit().await.pop().expect("entry");
    let detail: serde_json::Value = serde_json::from_str(&last.detail).expect("json");
    assert_eq!(detail["admin_addr"], "127.0.0.1:9901");
    // The scrape's view: only sidecars with an admin address, every
    // service at once, by service and instance.
    let order_admin = SidecarReport {
        admin_addr: Some("[::1]:9902".into()),
        ..report("order", "pod-c", 2, 31)
    };
    s.report_applied(&ctx(2), &order_admin)
        .await
        .expect("report");
    assert_eq!(
        s.sidecar_admin_reports().await.expect("reports"),
        vec![order_admin.clone(), with_admin.clone()]
    );
    s.report_applied(&ctx(3), &report("pay", "pod-a", 7, 40))
        .await
        .expect("report");
    assert_eq!(
        s.sidecar_reports("pay").await.expect("reports")[0].admin_addr,
        None
    );
    assert_eq!(
        s.sidecar_admin_reports().await.expect("reports"),
        vec![order_admin]
    );
}

fn transition(rule: &str, change: Change, state: State, at_ms: u64) -> Transition {
    Transition {
        rule: rule.into(),
        target: Target::new(TargetKind::Entry, "home"),
        signal: Signal::WaterLevel,
        severity: Severity::Critical,
        change,
        state,
        at_ms,
        value: 0.95,
        threshold: 0.9,
        inhibited_by: None,
    }
}

async fn alert_states_and_transitions(db: &Db) {
    let s = db.s();
    let e = s
        .create_event(&ctx(1), &new_event("day"))
        .await
        .expect("event");
    assert_eq!(s.alert_snapshot(e.id).await.expect("snapshot"), None);
    let rule = "entry:home:water-critical";
    let pending = transition(
        rule,
        Change::Pending,
        State::Pending { since_ms: 5_000 },
        5_000,
    );
    let firing_state = State::Firing {
        since_ms: 5_000,
        fired_ms: 35_000,
    };
    let mut fired = transition(rule, Change::Fired, firing_state, 35_000);
    fired.value = f64::INFINITY; // a water level over zero capacity
    let snapshot = |state| {
        let mut snap = Snapshot::default();
        snap.rules.insert(
            rule.to_owned(),
            RuleState {
                state,
                value: Some(0.95),
            },
        );
        snap
    };
    s.record_alerts(
        &ctx(5_000),
        e.id,
        std::slice::from_ref(&pending),
        &snapshot(pending.state),
    )
    .await
    .expect("pending");
    s.record_alerts(
        &ctx(35_000),
        e.id,
        std::slice::from_ref(&fired),
        &snapshot(firing_state),
    )
    .await
    .expect("fired");
    // The states read back exactly (a restart restores them).
    assert_eq!(
        s.alert_snapshot(e.id).await.expect("snapshot"),
        Some(snapshot(firing_state))
    );
    let again = db.reopen().await;
    assert_eq!(
        again.alert_snapshot(e.id).await.expect("snapshot"),
        Some(snapshot(firing_state))
    );
    // The history, oldest first, with paging; +∞ reads back as +∞.
    let all = s.alert_transitions(e.id, 0, 100).await.expect("history");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].transition, pending);
    assert_eq!(all[1].transition.state, firing_state);
    assert_eq!(all[1].transition.value, f64::INFINITY);
    assert!(all[0].id < all[1].id);
    let rest = s
        .alert_transitions(e.id, all[0].id, 100)
        .await
        .expect("page");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, all[1].id);
    assert_eq!(
        s.alert_transitions(e.id, 0, 1).await.expect("limit").len(),
        1
    );
    // Each transition is audited once, on the event, through the chain.
    let entries = db.all_audit().await;
    let actions: Vec<&str> = entries.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(actions, ["event.create", "alert.pending", "alert.fired"]);
    assert!(entries[1..].iter().all(|a| a.target == "event:day"));
    let detail: serde_json::Value = serde_json::from_str(&entries[2].detail).expect("json");
    assert_eq!(detail["rule"], rule);
    assert_eq!(detail["state"], "firing");
    assert_eq!(detail["id"], all[1].id);
    audit::verify(&entries).expect("chain verifies");
    // A tick without transitions updates the states, audits nothing.
    s.record_alerts(&ctx(40_000), e.id, &[], &Snapshot::default())
        .await
        .expect("states only");
    assert_eq!(db.all_audit().await.len(), 3);
    assert_eq!(
        s.alert_snapshot(e.id).await.expect("snapshot"),
        Some(Snapshot::default())
    );
    // An unknown event is NotFound, and nothing is stored.
    let r = s
        .record_alerts(
            &ctx(50_000),
            999,
            std::slice::from_ref(&pending),
            &Snapshot::default(),
        )
        .await;
    assert!(is_not_found(&r), "{r:?}");
    assert_eq!(db.all_audit().await.len(), 3);
    assert!(
        s.alert_transitions(999, 0, 10)
            .await
            .expect("none")
            .is_empty()
    );
}

fn point(t_s: u32, qps: f32) -> Point {
    Point {
        t_s,
        samples: 2,
        qps_min: qps - 1.0,
        qps_avg: qps,
        qps_max: qps + 1.0,
        p99_ms: f32::NAN,
        error_rate: 0.01,
    }
}

/// A point's bytes: NaN equals NaN.
fn bits(p: &Point) -> Vec<u8> {
    monitoring::encode_point(p)
}

fn hp(kind: TargetKind, target: &str, tier: u8, p: Point) -> HistoryPoint {
    HistoryPoint {
        kind,
        target: target.into(),
        tier,
        point: p,
    }
}

async fn history_points(db: &Db) {
    let s = db.s();
    let e = s
        .create_event(&ctx(1), &new_event("day"))
        .await
        .expect("event");
    let before = db.all_audit().await.len();
    s.put_history(
        e.id,
        &[
            hp(TargetKind::Entry, "home", 0, point(20, 5.0)),
            hp(TargetKind::Entry, "home", 0, point(10, 4.0)),
            hp(TargetKind::Service, "home", 0, point(10, 9.0)),
            hp(TargetKind::Entry, "home", 1, point(0, 4.5)),
        ],
    )
    .await
    .expect("put");
    let home = s
        .history(e.id, TargetKind::Entry, "home", 0)
        .await
        .expect("read");
    assert_eq!(home.len(), 2);
    assert_eq!((home[0].t_s, home[0].qps_avg), (10, 4.0), "oldest first");
    assert!(home[0].p99_ms.is_nan(), "NaN stays NaN");
    assert_eq!(bits(&home[1]), bits(&point(20, 5.0)));
    let service = s
        .history(e.id, TargetKind::Service, "home", 0)
        .await
        .expect("read");
    assert_eq!(service.len(), 1, "series are per kind");
    assert_eq!(bits(&service[0]), bits(&point(10, 9.0)));
    // The open point is written again as it fills: an upsert, not a new row.
    s.put_history(e.id, &[hp(TargetKind::Entry, "home", 0, point(20, 6.0))])
        .await
        .expect("upsert");
    let home = s
        .history(e.id, TargetKind::Entry, "home", 0)
        .await
        .expect("read");
    assert_eq!(home.len(), 2);
    assert_eq!(home[1].qps_avg, 6.0);
    // A full ring wraps: an hour later the 10 s slot is reused.
    s.put_history(e.id, &[hp(TargetKind::Entry, "home", 0, point(3_610, 7.0))])
        .await
        .expect("wrap");
    let home = s
        .history(e.id, TargetKind::Entry, "home", 0)
        .await
        .expect("read");
    assert_eq!(
        home.iter().map(|p| p.t_s).collect::<Vec<_>>(),
        [20, 3_610],
        "t_s 3610 took t_s 10's slot"
    );
    // Observations are not audited; a tier that does not exist is refused.
    assert_eq!(db.all_audit().await.len(), before);
    let r = s
        .put_history(e.id, &[hp(TargetKind::Entry, "home", 3, point(0, 1.0))])
        .await;
    assert!(matches!(r, Err(StoreError::Corrupt(_))), "{r:?}");
    assert!(
        s.history(e.id, TargetKind::Partner, "x", 0)
            .await
            .expect("read")
            .is_empty()
    );
}

/// Every series full (1,296 points), written the way the control plane
/// writes them (one transaction per tick, every series each time): the
/// rows stay at 1,296 per series and, in SQLite, the bytes per point stay
/// within the documented budget.
async fn history_stays_bounded(db: &Db) {
    const SERIES: usize = 20;
    let s = db.s();
    let e = s
        .create_event(&ctx(1), &new_event("day"))
        .await
        .expect("event");
    let mut written = 0usize;
    for (tier, &(step, len)) in seawall_monitor::history::TIERS.iter().enumerate() {
        // One lap and a bit more: the extra points reuse slots.
        for k in 0..(len + 10) {
            let t_s = u32::try_from(k).expect("small") * step;
            let batch: Vec<HistoryPoint> = (0..SERIES)
                .map(|i| {
                    hp(
                        TargetKind::Entry,
                        &format!("entry-{i:04}"),
                        u8::try_from(tier).expect("tier"),
                        point(t_s, 10.0),
                    )
                })
                .collect();
            written += batch.len();
            s.put_history(e.id, &batch).await.expect("put");
        }
    }
    let kept = POINTS_PER_SERIES * SERIES;
    assert!(written > kept);
    for tier in 0..3u8 {
        let n = s
            .history(e.id, TargetKind::Entry, "entry-0007", tier)
            .await
            .expect("read")
            .len();
        assert_eq!(n, seawall_monitor::history::TIERS[usize::from(tier)].1);
    }
    if let Raw::Sqlite(pool) = &db.raw {
        // Pages of the points table and its index, as SQLite's dbstat counts them.
        let (pages, page_size): (i64, i64) = (
            sqlx::query_scalar(
                "SELECT count(*) FROM dbstat WHERE name IN ('history_points', 'history_series')",
            )
            .fetch_one(pool)
            .await
            .expect("dbstat"),
            sqlx::query_scalar("PRAGMA page_size")
                .fetch_one(pool)
                .await
                .expect("page size"),
        );
        let per_point = usize::try_from(pages * page_size).expect("size") / kept;
        assert!(
            per_point <= monitoring::SQLITE_BYTES_PER_POINT,
            "{per_point} bytes per point in SQLite, budget {}",
            monitoring::SQLITE_BYTES_PER_POINT
        );
        eprintln!("history: {per_point} bytes per point in SQLite ({kept} points)");
    }
}

async fn every_change_is_audited_once(db: &Db) {
    let s = db.s();
    let mut expected: Vec<(&str, String)> = Vec::new();
    let mut check = |action: &'static str, target: String| {
        expected.push((action, target));
        expected.clone()
    };
    async fn log(db: &Db) -> Vec<(String, String)> {
        db.all_audit()
            .await
            .into_iter()
            .map(|a| (a.action, a.target))
            .collect()
    }
    fn owned(v: Vec<(&str, String)>) -> Vec<(String, String)> {
        v.into_iter().map(|(a, t)| (a.to_owned(), t)).collect()
    }

    let e = s
        .create_event(&ctx(1), &new_event("d11"))
        .await
        .expect("event");
    assert_eq!(
        log(db).await,
        owned(check("event.create", "event:d11".into()))
    );
    let plan = NewPlanVersion {
        file_name: "plan.yaml".into(),
        text: "event: {}".into(),
    };
    let v = s.push_plan(&ctx(2), e.id, &plan).await.expect("push");
    assert_eq!(log(db).await, owned(check("plan.push", "event:d11".into())));
    let run = NewRun {
        plan_version: Some(1),
        scenario: "peak".into(),
        json: "{}".into(),
    };
    let r = s.add_run(&ctx(3), e.id, &run).await.expect("run");
    assert_eq!(
        log(db).await,
        owned(check("run.upload", "event:d11".into()))
    );
    let t = s
        .create_token(&ctx(4), &new_token("ci", Role::Ci, "secret"))
        .await
        .expect("token");
    let t_target = format!("token:{}", t.id);
    assert_eq!(
        log(db).await,
        owned(check("token.create", t_target.clone()))
    );
    s.revoke_token(&ctx(5), t.id).await.expect("revoke");
    assert_eq!(log(db).await, owned(check("token.revoke", t_target)));
    let x = s
        .request_exception(
            &ctx(6),
            e.id,
            &new_exception(&["pay"], &[ChangeKind::Release]),
        )
        .await
        .expect("exception");
    let x_target = format!("exception:{}", x.id);
    assert_eq!(
        log(db).await,
        owned(check("exception.request", x_target.clone()))
    );
    s.decide_exception(&ctx(7), x.id, true, None)
        .await
        .expect("approve");
    assert_eq!(log(db).await, owned(check("exception.approve", x_target)));
    let y = s
        .request_exception(&ctx(8), e.id, &new_exception(&["pay"], &[]))
        .await
        .expect("exception");
    let y_target = format!("exception:{}", y.id);
    check("exception.request", y_target.clone());
    s.decide_exception(&ctx(9), y.id, false, Some("no"))
        .await
        .expect("reject");
    assert_eq!(log(db).await, owned(check("exception.reject", y_target)));
    let mut gate = change("pay", Some(e.id), true);
    gate.exception_id = Some(x.id);
    let c = s.record_change(&ctx(10), &gate).await.expect("gate");
    assert_eq!(
        log(db).await,
        owned(check("gate.check", "service:pay".into()))
    );
    s.put_rules(&ctx(11), &new_rules("pay", RuleSource::Derived, 1))
        .await
        .expect("rules");
    check("rules.derive", "service:pay".into());
    s.put_rules(&ctx(12), &new_rules("pay", RuleSource::Adjusted, 2))
        .await
        .expect("rules");
    assert_eq!(
        log(db).await,
        owned(check("rules.adjust", "service:pay".into()))
    );
    let own = s
        .append_audit(
            &Ctx::new("mallory", 13),
            &NewAudit {
                action: "auth.denied".into(),
                target: "token:unknown".into(),
                detail: serde_json::json!({"z": 1, "a": [true, null], "m": "ü"}),
            },
        )
        .await
        .expect("append");
    assert_eq!(
        log(db).await,
        owned(check("auth.denied", "token:unknown".into()))
    );
    assert_eq!(
        own.detail, r#"{"a":[true,null],"m":"ü","z":1}"#,
        "keys sorted, compact"
    );
    assert_eq!(own.actor, "mallory");

    // Nothing else appends: reads (reports are audited: `sidecar_reports`).
    s.events().await.expect("read");
    let entries = db.all_audit().await;
    assert_eq!(entries.len(), expected.len());

    // Details say what changed.
    let detail = |i: usize| -> serde_json::Value {
        serde_json::from_str(&entries[i].detail).expect("detail is JSON")
    };
    assert_eq!(detail(1)["version"], v.info.version);
    assert_eq!(detail(1)["sha256"], v.info.sha256.as_str());
    assert_eq!(detail(2)["run_id"], r.id);
    assert_eq!(detail(3)["role"], "ci");
    assert!(!entries[3].detail.contains(&sha256_hex(b"secret")));
    assert_eq!(detail(9)["change_id"], c.id);
    assert_eq!(detail(9)["exception_id"], x.id);
    assert_eq!(detail(11)["version"], 2);
    assert!(
        entries
            .iter()
            .enumerate()
            .all(|(i, a)| a.at_ms == i as i64 + 1)
    );

    let head = audit::verify(&entries).expect("chain verifies");
    assert_eq!(head.entries, entries.len() as i64);
    assert_eq!(head.hash, own.hash);
    // Paging.
    let page = s.audit(3, 4).await.expect("page");
    assert_eq!(page, entries[3..7]);
    assert!(
        s.audit(entries.len() as i64, 10)
            .await
            .expect("end")
            .is_empty()
    );
}

async fn concurrent_changes_keep_one_chain(db: &Db) {
    let e = db
        .s()
        .create_event(&ctx(0), &new_event("e"))
        .await
        .expect("event");
    let tasks = 5;
    let per_task = 10;
    // Two stores on one database, like two control-plane replicas (on
    // SQLite: two pools on one file).
    let replica = db.reopen().await;
    let mut handles = Vec::new();
    for task in 0..tasks {
        let store = if task % 2 == 0 {
            db.store.clone()
        } else {
            replica.clone()
        };
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                let c = Ctx::new(format!("writer-{task}"), i64::from(task * 100 + i));
                match i % 3 {
                    0 => store
                        .put_rules(&c, &new_rules("shared", RuleSource::Adjusted, 0))
                        .await
                        .map(|_| ()),
                    1 => {
                        let plan = NewPlanVersion {
                            file_name: "p.yaml".into(),
                            text: format!("{task}/{i}"),
                        };
                        store.push_plan(&c, e.id, &plan).await.map(|_| ())
                    }
                    _ => store
                        .record_change(&c, &change("svc", None, true))
                        .await
                        .map(|_| ()),
                }
                .expect("concurrent change");
            }
        }));
    }
    for handle in handles {
        handle.await.expect("task");
    }
    let entries = db.all_audit().await;
    assert_eq!(entries.len() as u32, 1 + tasks * per_task);
    let head = audit::verify(&entries).expect("one gap-free chain");
    assert_eq!(head.entries, entries.len() as i64);

    let s = db.s();
    let rules: Vec<i64> = s
        .rule_history("shared")
        .await
        .expect("history")
        .iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(rules, (1..=rules.len() as i64).collect::<Vec<_>>());
    assert_eq!(rules.len() as u32, tasks * 4, "i % 3 == 0 for 4 of 10");
    let plans: Vec<i64> = s
        .plan_versions(e.id)
        .await
        .expect("versions")
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(plans, (1..=plans.len() as i64).collect::<Vec<_>>());
    let texts: BTreeSet<String> = {
        let mut texts = BTreeSet::new();
        for v in &plans {
            let p = s
                .plan_version(e.id, Some(*v))
                .await
                .expect("v")
                .expect("some");
            texts.insert(p.text);
        }
        texts
    };
    assert_eq!(texts.len(), plans.len(), "no version overwrote another");
}

async fn audit_tampering_is_found(db: &Db) {
    let s = db.s();
    for n in 0..5 {
        s.create_event(&ctx(n), &new_event(&format!("e{n}")))
            .await
            .expect("event");
    }
    let intact = audit::verify(&db.all_audit().await).expect("intact");
    assert_eq!(intact.entries, 5);

    // Someone with database access edits entry 3's detail.
    let edited = db
        .exec(r#"UPDATE audit SET detail = '{"id":3,"name":"innocent","slug":"e2"}' WHERE seq = 3"#)
        .await;
    assert_eq!(edited, 1);
    assert_eq!(
        audit::verify(&db.all_audit().await),
        Err(Break::Edited { seq: 3 })
    );

    // ... and deletes entry 2.
    assert_eq!(db.exec("DELETE FROM audit WHERE seq = 2").await, 1);
    assert_eq!(
        audit::verify(&db.all_audit().await),
        Err(Break::Gap {
            expected_after: 1,
            found: 3
        })
    );

    // Renumbering to hide the gap breaks the link instead.
    // (One row at a time, upwards: PostgreSQL checks the key per row.)
    db.exec("UPDATE audit SET seq = 2 WHERE seq = 3").await;
    db.exec("UPDATE audit SET seq = 3 WHERE seq = 4").await;
    db.exec("UPDATE audit SET seq = 4 WHERE seq = 5").await;
    assert_eq!(
        audit::verify(&db.all_audit().await),
        Err(Break::Link { seq: 2 })
    );
}

async fn data_survives_reopening(db: &Db) {
    let s = db.s();
    let e = s
        .create_event(&ctx(1), &new_event("keep"))
        .await
        .expect("event");
    let plan = NewPlanVersion {
        file_name: "plan.yaml".into(),
        text: "event: keep ✓\n".into(),
    };
    s.push_plan(&ctx(2), e.id, &plan).await.expect("push");
    let before = db.all_audit().await;

    // Opening again applies no migration twice and loses nothing.
    let again = db.reopen().await;
    let third = db.reopen().await;
    assert_eq!(again.backend(), s.backend());
    assert_eq!(again.event("keep").await.expect("event"), Some(e.clone()));
    let kept = third
        .plan_version(e.id, None)
        .await
        .expect("plan")
        .expect("some");
    assert_eq!(kept.text, plan.text);
    assert_eq!(again.audit(0, 100).await.expect("audit"), before);
    // The chain goes on across the restart.
    let next = again.push_plan(&ctx(3), e.id, &plan).await.expect("push");
    assert_eq!(next.info.version, 2);
    let all = third.audit(0, 100).await.expect("audit");
    assert_eq!(audit::verify(&all).expect("chain").entries, 3);
}

async fn unknown_stored_names_are_corrupt(db: &Db) {
    let s = db.s();
    s.create_token(&ctx(1), &new_token("t", Role::Viewer, "x"))
        .await
        .expect("token");
    db.exec("UPDATE tokens SET role = 'overlord'").await;
    match s.tokens().await {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("overlord"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let e = s
        .create_event(&ctx(1), &new_event("e"))
        .await
        .expect("event");
    let x = s
        .request_exception(&ctx(2), e.id, &new_exception(&["a"], &[ChangeKind::Ops]))
        .await
        .expect("exception");
    db.exec(r#"UPDATE exceptions SET kinds = '["rollout"]'"#)
        .await;
    assert!(matches!(
        s.exception(x.id).await,
        Err(StoreError::Corrupt(_))
    ));
    db.exec(r#"UPDATE exceptions SET kinds = 'not json'"#).await;
    assert!(matches!(
        s.exceptions(e.id).await,
        Err(StoreError::Corrupt(_))
    ));
}

async fn a_newer_schema_is_refused(db: &Db) {
    // A newer Seawall migrated this database; this one must not guess.
    db.exec_each(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
         execution_time) VALUES (99990101000000, 'from the future', TRUE, x'00', 0)",
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, \
         execution_time) VALUES (99990101000000, 'from the future', TRUE, '\\x00', 0)",
    )
    .await;
    match open(&db.spec).await {
        Err(StoreError::Migrate(e)) => {
            assert!(e.to_string().contains("99990101000000"), "{e}");
        }
        Err(other) => panic!("expected a migration error, got {other:?}"),
        Ok(_) => panic!("opened a database with an unknown migration"),
    }
}

fn new_emergency_run(plan_id: &str, status: &str, finished: bool) -> NewEmergencyRun {
    NewEmergencyRun {
        plan_id: plan_id.into(),
        plan_version: 1,
        status: status.into(),
        finished,
        state: format!(r#"{{"status":"{status}"}}"#),
        requested_by: "ana".into(),
    }
}

fn emergency_update(status: &str, finished: bool, action: &str) -> EmergencyRunUpdate {
    EmergencyRunUpdate {
        status: status.into(),
        finished,
        state: format!(r#"{{"status":"{status}"}}"#),
        action: action.into(),
        detail: serde_json::json!({"step": 0}),
    }
}

/// Events `d11` and `other`, created at 1 ms.
async fn two_events(db: &Db) -> (Event, Event) {
    let s = db.s();
    let e = s
        .create_event(&ctx(1), &new_event("d11"))
        .await
        .expect("event");
    let other = s
        .create_event(&ctx(1), &new_event("other"))
        .await
        .expect("event");
    (e, other)
}

/// A metric trigger's episode keeps its start across calls (a restart),
/// is claimed by exactly one caller, and starts afresh once ended.
async fn trigger_episodes(db: &Db) {
    let s = db.s();
    let (e, other) = two_events(db).await;
    assert!(is_not_found(&s.hold_trigger(999, "p", 1_000).await));
    let first = s.hold_trigger(e.id, "p", 1_000).await.expect("hold");
    assert_eq!(
        first,
        TriggerEpisode {
            event_id: e.id,
            plan_id: "p".into(),
            since_ms: 1_000,
            started: false
        }
    );
    assert_eq!(
        s.hold_trigger(e.id, "p", 9_000).await.expect("hold"),
        first,
        "the start is kept"
    );
    assert_eq!(
        s.hold_trigger(other.id, "p", 2_000)
            .await
            .expect("hold")
            .since_ms,
        2_000
    );
    assert!(
        !s.claim_trigger(e.id, "p", 999).await.expect("claim"),
        "another episode"
    );
    assert!(
        !s.claim_trigger(e.id, "q", 1_000).await.expect("claim"),
        "no episode"
    );
    // Two claims at once: exactly one wins.
    let (a, b) = tokio::join!(
        s.claim_trigger(e.id, "p", 1_000),
        s.claim_trigger(e.id, "p", 1_000)
    );
    assert_eq!(
        [a.expect("claim"), b.expect("claim")]
            .iter()
            .filter(|w| **w)
            .count(),
        1
    );
    assert!(
        !s.claim_trigger(e.id, "p", 1_000).await.expect("claim"),
        "once an episode"
    );
    assert!(
        s.hold_trigger(e.id, "p", 10_000)
            .await
            .expect("hold")
            .started
    );
    assert!(
        !s.hold_trigger(other.id, "p", 10_000)
            .await
            .expect("hold")
            .started
    );
    s.end_trigger(e.id, "p").await.expect("end");
    s.end_trigger(e.id, "p")
        .await
        .expect("ending twice changes nothing");
    let next = s.hold_trigger(e.id, "p", 20_000).await.expect("hold");
    assert_eq!(
        (next.since_ms, next.started),
        (20_000, false),
        "a new episode"
    );
    assert!(s.claim_trigger(e.id, "p", 20_000).await.expect("claim"));
    assert_eq!(
        s.hold_trigger(other.id, "p", 30_000)
            .await
            .expect("hold")
            .since_ms,
        2_000
    );
}

async fn emergency_runs(db: &Db) {
    let s = db.s();
    let (e, other) = two_events(db).await;
    assert!(is_not_found(
        &s.create_emergency_run(&ctx(2), 999, &new_emergency_run("p", "running", false))
            .await
    ));
    let run = s
        .create_emergency_run(
            &ctx(2),
            e.id,
            &new_emergency_run("coupon", "running", false),
        )
        .await
        .expect("create");
    assert_eq!((run.version, run.created_ms, run.updated_ms), (1, 2, 2));
    assert_eq!(
        s.emergency_run(run.id).await.expect("get"),
        Some(run.clone())
    );
    // A second unfinished run of the same plan is refused; another plan's,
    // or the same plan's in another event, is not.
    let again = s
        .create_emergency_run(
            &ctx(3),
            e.id,
            &new_emergency_run("coupon", "running", false),
        )
        .await;
    match &again {
        Err(StoreError::Conflict(m)) => assert!(m.contains("coupon"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let degrade = s
        .create_emergency_run(
            &ctx(3),
            e.id,
            &new_emergency_run("degrade", "awaiting_approval", false),
        )
        .await
        .expect("another plan");
    s.create_emergency_run(
        &ctx(3),
        other.id,
        &new_emergency_run("coupon", "running", false),
    )
    .await
    .expect("another event");

    // Update if the version is the one read; a stale version is refused
    // and changes nothing.
    let started = s
        .update_emergency_run(
            &ctx(4),
            run.id,
            1,
            &emergency_update("running", false, "emergency.step.started"),
        )
        .await
        .expect("update");
    assert_eq!(
        (started.version, started.updated_ms, started.created_ms),
        (2, 4, 2)
    );
    let stale = s
        .update_emergency_run(
            &ctx(5),
            run.id,
            1,
            &emergency_update("failed", true, "emergency.step.finished"),
        )
        .await;
    match &stale {
        Err(StoreError::Conflict(m)) => assert!(m.contains("version 2, not 1"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        s.emergency_run(run.id).await.expect("get"),
        Some(started.clone())
    );
    assert!(is_not_found(
        &s.update_emergency_run(&ctx(5), 999, 1, &emergency_update("failed", true, "x"))
            .await
    ));
    let done = s
        .update_emergency_run(
            &ctx(6),
            run.id,
            2,
            &emergency_update("succeeded", true, "emergency.step.finished"),
        )
        .await
        .expect("finish");
    assert!(done.finished);
    assert_eq!(done.state, r#"{"status":"succeeded"}"#);

    // Lists: per event oldest first; unfinished across events.
    let listed: Vec<i64> = s
        .emergency_runs(e.id)
        .await
        .expect("list")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed, vec![run.id, degrade.id]);
    let unfinished: Vec<(i64, String)> = s
        .unfinished_emergency_runs()
        .await
        .expect("unfinished")
        .into_iter()
        .map(|r| (r.event_id, r.plan_id))
        .collect();
    assert_eq!(
        unfinished,
        vec![
            (e.id, "degrade".to_owned()),
            (other.id, "coupon".to_owned())
        ]
    );
    // Once finished, the plan may run again; rolling the old run back
    // (unfinished again) while the new one runs is refused.
    let next = s
        .create_emergency_run(
            &ctx(7),
            e.id,
            &new_emergency_run("coupon", "running", false),
        )
        .await
        .expect("a new run after the first finished");
    assert!(is_conflict(
        &s.update_emergency_run(
            &ctx(8),
            run.id,
            3,
            &emergency_update("rolling_back", false, "emergency.run.rolling_back")
        )
        .await
    ));
    assert_eq!(
        s.emergency_run(run.id)
            .await
            .expect("get")
            .map(|r| r.version),
        Some(3)
    );
    assert_ne!(next.id, run.id);

    // Every transition is audited once, on the run.
    let log: Vec<(String, String)> = db
        .all_audit()
        .await
        .into_iter()
        .filter(|a| a.action.starts_with("emergency."))
        .map(|a| (a.action, a.target))
        .collect();
    let t = |id: i64| format!("emergency_run:{id}");
    assert_eq!(log.len(), 6, "{log:?}");
    assert_eq!(log[0], ("emergency.run.requested".to_owned(), t(run.id)));
    assert_eq!(log[3], ("emergency.step.started".to_owned(), t(run.id)));
    assert_eq!(log[4], ("emergency.step.finished".to_owned(), t(run.id)));
    let last = db.all_audit().await.pop().expect("entry");
    assert!(
        last.detail.contains("\"plan_id\":\"coupon\""),
        "{}",
        last.detail
    );
    audit::verify(&db.all_audit().await).expect("chain intact");

    // Reopened (a restart), the runs are there.
    let reopened = db.reopen().await;
    assert_eq!(
        reopened
            .emergency_run(run.id)
            .await
            .expect("get")
            .map(|r| r.version),
        Some(3)
    );
}

// ---------------------------------------------------------------- bad input

#[test]
fn db_specs_that_are_neither_backend_are_refused() {
    let dir = std::path::Path::new("/var/lib/seawall");
    for bad in [
        "mysql://x@y/z",
        "",
        "seawall.db",
        "sqlite://",
        "sqlite:",
        "postgres:/x",
    ] {
        match StoreSpec::from_args(Some(bad), dir) {
            Err(StoreError::Spec { spec, reason }) => {
                assert_eq!(spec, bad);
                assert!(!reason.is_empty());
            }
            other => panic!("{bad:?}: expected a Spec error, got {other:?}"),
        }
    }
    assert_eq!(
        StoreSpec::from_args(None, dir).expect("default"),
        StoreSpec::Sqlite(dir.join("seawall.db"))
    );
    assert_eq!(
        StoreSpec::from_args(Some("sqlite:///tmp/x.db"), dir).expect("sqlite"),
        StoreSpec::Sqlite("/tmp/x.db".into())
    );
}

#[tokio::test]
async fn sqlite_file_is_created_private_with_its_directory() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("a").join("b").join("seawall.db");
    let store = open(&StoreSpec::Sqlite(path.clone())).await.expect("open");
    store.ping().await.expect("ping");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
    let wal: String = match sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(sqlite::SqliteStore::open(&path).await.expect("open").pool())
        .await
    {
        Ok(mode) => mode,
        Err(e) => panic!("journal mode: {e}"),
    };
    assert_eq!(wal, "wal");
}

#[tokio::test]
async fn sqlite_data_dir_that_cannot_be_made_is_a_clear_error() {
    let dir = TempDir::new().expect("temp dir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let err = open(&StoreSpec::Sqlite(file.join("seawall.db")))
        .await
        .map(|_| ())
        .expect_err("a file where the directory should be");
    assert!(matches!(err, StoreError::DataDir { .. }), "{err:?}");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn unreachable_postgres_is_a_clear_error_not_a_hang() {
    use std::time::{Duration, Instant};

    // Refused: a loopback port nobody listens on.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr").port()
    };
    let url = format!("postgres://seawall:hunter2@127.0.0.1:{port}/seawall");
    let started = Instant::now();
    let err = postgres::PgStore::open_with_timeout(&url, Duration::from_secs(2))
        .await
        .map(|_| ())
        .expect_err("nothing listens");
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("127.0.0.1:{port}")), "{msg}");
    assert!(
        !msg.contains("hunter2"),
        "the password is never shown: {msg}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));

    // Silent: a server that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "postgres://seawall@127.0.0.1:{}/seawall",
        silent.local_addr().expect("addr").port()
    );
    let started = Instant::now();
    let err = postgres::PgStore::open_with_timeout(&url, Duration::from_secs(1))
        .await
        .map(|_| ())
        .expect_err("no answer");
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("no answer within"), "{err}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "gave up early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(60), "hung: {waited:?}");

    // Not a URL at all.
    let err = postgres::PgStore::open("postgres://[::1").await.map(|_| ());
    assert!(matches!(err, Err(StoreError::Spec { .. })), "{err:?}");
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_that_requires_tls_is_refused_clearly() {
    // This build has no TLS client (docs/operations.md says so); asking
    // for it must stop the start with a message, not connect in plain text.
    let server = testing::TempPostgres::start().expect("start PostgreSQL");
    let url = server.create_database().expect("database");
    let plain = postgres::PgStore::open(&url).await;
    assert!(plain.is_ok(), "the same URL without sslmode: {plain:?}");
    let err = postgres::PgStore::open(&format!("{url}&sslmode=require"))
        .await
        .map(|_| ())
        .expect_err("TLS required");
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("TLS"), "{err}");
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_write_waits_for_the_lock_only_so_long() {
    use std::time::{Duration, Instant};

    let server = testing::TempPostgres::start().expect("start PostgreSQL");
    let url = server.create_database().expect("database");
    let store = postgres::PgStore::open_with_timeout(&url, Duration::from_secs(1))
        .await
        .expect("open");
    store
        .create_event(&ctx(1), &new_event("e"))
        .await
        .expect("event");

    // Another replica's write transaction holds the lock.
    let mut other = store.pool().begin().await.expect("begin");
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(postgres::WRITE_LOCK)
        .execute(&mut *other)
        .await
        .expect("lock");
    let started = Instant::now();
    let blocked = tokio::time::timeout(
        Duration::from_secs(60),
        store.create_event(&ctx(2), &new_event("f")),
    )
    .await
    .expect("the write gave up by itself");
    let waited = started.elapsed();
    assert!(
        matches!(blocked, Err(StoreError::Database(_))),
        "{blocked:?}"
    );
    assert!(
        waited >= Duration::from_millis(900),
        "gave up early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(60), "waited {waited:?}");
    assert_eq!(
        store.events().await.expect("events").len(),
        1,
        "nothing written"
    );

    // Once the other transaction ends, writes go through again.
    other.rollback().await.expect("rollback");
    store
        .create_event(&ctx(3), &new_event("f"))
        .await
        .expect("event after the lock is free");
    let log = store.audit(0, 10).await.expect("audit");
    assert_eq!(audit::verify(&log).expect("chain").entries, 2);
}

fn incident_write(
    status: &str,
    key: Option<&str>,
    next: Option<i64>,
    action: &str,
) -> IncidentWrite {
    IncidentWrite {
        status: status.into(),
        severity: "P1".into(),
        dedup_key: key.map(str::to_owned),
        state: format!(r#"{{"status":"{status}"}}"#),
        escalation: next.map(|n| format!(r#"{{"next":{n}}}"#)),
        next_page_ms: next,
        action: action.into(),
        detail: serde_json::json!({"why": "test"}),
    }
}

async fn incidents(db: &Db) {
    let s = db.s();
    let (e, other) = two_events(db).await;
    assert!(is_not_found(
        &s.create_incident(&ctx(2), 999, &incident_write("open", None, None, "x"))
            .await
    ));
    let first = s
        .create_incident(
            &ctx(2),
            e.id,
            &incident_write("open", Some("entry:pay"), Some(2), "x"),
        )
        .await
        .expect("create");
    assert_eq!(
        (first.version, first.created_ms, first.next_page_ms),
        (1, 2, Some(2))
    );
    assert_eq!(
        s.incident(first.id).await.expect("get"),
        Some(first.clone())
    );
    // One unresolved incident per event and key; another key, another
    // event or no key at all is fine.
    match &s
        .create_incident(
            &ctx(3),
            e.id,
            &incident_write("open", Some("entry:pay"), None, "x"),
        )
        .await
    {
        Err(StoreError::Conflict(m)) => assert!(m.contains("entry:pay"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let by_hand = s
        .create_incident(&ctx(3), e.id, &incident_write("open", None, Some(10), "x"))
        .await
        .expect("no key");
    s.create_incident(&ctx(3), e.id, &incident_write("open", None, None, "x"))
        .await
        .expect("a second without a key");
    s.create_incident(
        &ctx(3),
        other.id,
        &incident_write("open", Some("entry:pay"), Some(5), "x"),
    )
    .await
    .expect("another event");

    // Due pages across events, earliest first.
    let due: Vec<Option<i64>> = s
        .due_incidents(5)
        .await
        .expect("due")
        .iter()
        .map(|i| i.next_page_ms)
        .collect();
    assert_eq!(due, vec![Some(2), Some(5)]);

    // Update if the version is the one read; a stale version changes nothing.
    let paged = s
        .update_incident(
            &ctx(4),
            first.id,
            1,
            &incident_write("open", None, Some(60), "incident.paged"),
        )
        .await
        .expect("update");
    assert_eq!(
        (paged.version, paged.updated_ms, paged.created_ms),
        (2, 4, 2)
    );
    assert_eq!(
        paged.dedup_key.as_deref(),
        Some("entry:pay"),
        "the key never changes"
    );
    match &s
        .update_incident(
            &ctx(5),
            first.id,
            1,
            &incident_write("open", None, Some(7), "incident.paged"),
        )
        .await
    {
        Err(StoreError::Conflict(m)) => assert!(m.contains("version 2, not 1"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        s.incident(first.id).await.expect("get"),
        Some(paged.clone())
    );
    assert!(is_not_found(
        &s.update_incident(&ctx(5), 999, 1, &incident_write("open", None, None, "x"))
            .await
    ));
    let acked = s
        .update_incident(
            &ctx(6),
            first.id,
            2,
            &incident_write("acknowledged", None, None, "incident.acknowledged"),
        )
        .await
        .expect("ack");
    assert_eq!(acked.next_page_ms, None);
    assert_eq!(acked.escalation, None);
    let resolved = s
        .update_incident(
            &ctx(7),
            first.id,
            3,
            &incident_write("resolved", None, None, "incident.resolved"),
        )
        .await
        .expect("resolve");
    assert_eq!(resolved.state, r#"{"status":"resolved"}"#);
    // Once resolved, the key is free again.
    let again = s
        .create_incident(
            &ctx(8),
            e.id,
            &incident_write("open", Some("entry:pay"), None, "x"),
        )
        .await
        .expect("a new incident for the key");
    let listed: Vec<i64> = s
        .incidents(e.id)
        .await
        .expect("list")
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(listed.len(), 4);
    assert_eq!(
        (listed[0], listed[1], listed[3]),
        (first.id, by_hand.id, again.id)
    );
    let due: Vec<i64> = s
        .due_incidents(100)
        .await
        .expect("due")
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(due.len(), 2, "{due:?}");
    assert_eq!(due[1], by_hand.id);

    // Every change audited once, with its action and target.
    let audit = s.audit(0, 1000).await.expect("audit");
    let mine: Vec<&str> = audit
        .iter()
        .filter(|a| a.target == format!("incident:{}", first.id))
        .map(|a| a.action.as_str())
        .collect();
    assert_eq!(
        mine,
        vec![
            "incident.opened",
            "incident.paged",
            "incident.acknowledged",
            "incident.resolved"
        ]
    );
    audit::verify(&audit).expect("chain verifies");
}

fn drill_write(plan_id: &str, status: &str, finished: bool, action: &str) -> DrillWrite {
    DrillWrite {
        plan_id: plan_id.into(),
        status: status.into(),
        finished,
        state: format!(r#"{{"status":"{status}"}}"#),
        action: action.into(),
        detail: serde_json::json!({"fault": "coupon"}),
    }
}

async fn drills(db: &Db) {
    let s = db.s();
    let e = s
        .create_event(&ctx(1), &new_event("d15"))
        .await
        .expect("event");
    let running = drill_write("limit", "running", false, "drill.started");
    assert!(is_not_found(&s.create_drill(&ctx(2), 999, &running).await));
    let d = s
        .create_drill(&ctx(2), e.id, &running)
        .await
        .expect("create");
    assert_eq!((d.version, d.created_ms, d.finished), (1, 2, false));
    assert_eq!(s.drill(d.id).await.expect("get"), Some(d.clone()));
    // One running drill per plan: a second is refused and stores nothing.
    match s.create_drill(&ctx(3), e.id, &running).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("limit"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let other = s
        .create_drill(
            &ctx(3),
            e.id,
            &drill_write("degrade", "running", false, "drill.started"),
        )
        .await
        .expect("another plan");
    assert_eq!(s.drills(e.id).await.expect("list").len(), 2);
    // Updates from the version read; a stale one is refused.
    let done = drill_write("limit", "passed", true, "drill.finished");
    let passed = s
        .update_drill(&ctx(4), d.id, 1, &done)
        .await
        .expect("update");
    assert_eq!(
        (passed.version, passed.status.as_str(), passed.finished),
        (2, "passed", true)
    );
    match s.update_drill(&ctx(5), d.id, 1, &done).await {
        Err(StoreError::Conflict(m)) => assert!(m.contains("version 2, not 1"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(is_not_found(&s.update_drill(&ctx(5), 999, 1, &done).await));
    // Finished, the plan may be drilled again.
    let again = s
        .create_drill(&ctx(6), e.id, &running)
        .await
        .expect("again");
    let listed: Vec<i64> = s
        .drills(e.id)
        .await
        .expect("list")
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed, vec![d.id, other.id, again.id]);
    let audit = s.audit(0, 1000).await.expect("audit");
    let actions: Vec<&str> = audit
        .iter()
        .filter(|a| a.target.starts_with("drill:"))
        .map(|a| a.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "drill.started",
            "drill.started",
            "drill.finished",
            "drill.started"
        ]
    );
}
