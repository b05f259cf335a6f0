//! The audit log detects tampering: an entry edited or deleted with raw
//! SQL in the SQLite file is found by verification through the API and
//! straight from the database, with the entry's seq and the kind of break.

use crate::common;

use common::{TestServer, event_with_plan, upload_run};
use seawall_store::StoreSpec;
use seawall_store::audit::{Break, verify};
use sqlx::Connection;

/// A server with a few changes: token, event, plan, run.
async fn busy_server() -> TestServer {
    let server = TestServer::start().await;
    event_with_plan(&server, "e").await;
    upload_run(&server, "e").await;
    server
}

/// Run SQL against the server's SQLite file with a connection of its own.
async fn tamper(server: &TestServer, sql: &str) {
    let path = server.dir.path().join("seawall.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open the database file");
    let done = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await
        .expect(sql);
    assert_eq!(done.rows_affected(), 1, "{sql}");
    conn.close().await.expect("close");
}

async fn verify_both(server: &TestServer) -> (Result<i64, Break>, Result<i64, Break>) {
    let via_api = seawall_server::verify::fetch_all(&server.admin().client)
        .await
        .expect("read through the API");
    let store = seawall_store::open(&StoreSpec::Sqlite(server.dir.path().join("seawall.db")))
        .await
        .expect("open store");
    let via_db = seawall_server::verify::read_store(store.as_ref())
        .await
        .expect("read the database");
    assert_eq!(via_api, via_db, "the API serves the log as stored");
    (
        verify(&via_api).map(|h| h.entries),
        verify(&via_db).map(|h| h.entries),
    )
}

#[tokio::test]
async fn an_intact_log_verifies_to_its_head() {
    let server = busy_server().await;
    assert_eq!(verify_both(&server).await, (Ok(4), Ok(4)));
}

#[tokio::test]
async fn an_edited_entry_is_found() {
    let server = busy_server().await;
    tamper(&server, "UPDATE audit SET actor = 'mallory' WHERE seq = 3").await;
    let edited = Err(Break::Edited { seq: 3 });
    assert_eq!(verify_both(&server).await, (edited.clone(), edited));
}

#[tokio::test]
async fn an_edited_detail_is_found() {
    let server = busy_server().await;
    tamper(
        &server,
        "UPDATE audit SET detail = replace(detail, 'plan', 'PLAN') WHERE seq = 3",
    )
    .await;
    let edited = Err(Break::Edited { seq: 3 });
    assert_eq!(verify_both(&server).await, (edited.clone(), edited));
}

#[tokio::test]
async fn a_deleted_entry_is_found() {
    let server = busy_server().await;
    tamper(&server, "DELETE FROM audit WHERE seq = 2").await;
    let gap = Err(Break::Gap {
        expected_after: 1,
        found: 3,
    });
    assert_eq!(verify_both(&server).await, (gap.clone(), gap));
}

#[tokio::test]
async fn a_rehashed_entry_breaks_the_next_link() {
    let server = busy_server().await;
    // Edit entry 2 and give it a matching hash: entry 3 no longer links.
    let entries = seawall_server::verify::fetch_all(&server.admin().client)
        .await
        .expect("read");
    let e = &entries[1];
    let hash = seawall_store::audit::entry_hash(
        e.seq,
        e.at_ms,
        "mallory",
        &e.action,
        &e.target,
        &e.detail,
        &e.prev_hash,
    );
    tamper(
        &server,
        &format!("UPDATE audit SET actor = 'mallory', hash = '{hash}' WHERE seq = 2"),
    )
    .await;
    let link = Err(Break::Link { seq: 3 });
    assert_eq!(verify_both(&server).await, (link.clone(), link));
}
