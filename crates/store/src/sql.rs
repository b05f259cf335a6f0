//! The SQL both backends share. SQLite and PostgreSQL accept the same
//! statements here (`$N` parameters, `RETURNING`, `ON CONFLICT`), so one
//! body implements [`Store`](crate::Store) for each through the
//! [`sql_store!`] macro: a backend supplies its pool and how it starts a
//! write transaction that excludes every other writer (`BEGIN IMMEDIATE`
//! on SQLite, an advisory lock on PostgreSQL). Keeping one body keeps the
//! two backends' behaviour identical by construction; the behaviour suite
//! checks it.

use serde::de::DeserializeOwned;

use crate::{ChangeKind, ExceptionStatus, Role, RuleSource, StoreError};

/// The most change records one `changes` call returns.
pub(crate) const CHANGES_CAP: u32 = 10_000;

/// A database error, with unique violations mapped to
/// [`StoreError::Conflict`] and foreign-key violations to
/// [`StoreError::NotFound`]. Writers check names and parents first and
/// say which; this is the backstop the schema's constraints give.
pub(crate) fn db_error(error: sqlx::Error) -> StoreError {
    if let Some(db) = error.as_database_error() {
        if db.is_unique_violation() {
            return StoreError::Conflict(db.message().to_owned());
        }
        if db.is_foreign_key_violation() {
            return StoreError::NotFound {
                what: format!("a row this change refers to ({})", db.message()),
            };
        }
    }
    StoreError::Database(error)
}

pub(crate) fn role(name: &str) -> Result<Role, StoreError> {
    Role::parse(name).ok_or_else(|| StoreError::Corrupt(format!("unknown token role {name:?}")))
}

pub(crate) fn kind(name: &str) -> Result<ChangeKind, StoreError> {
    ChangeKind::parse(name)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown change kind {name:?}")))
}

pub(crate) fn status(name: &str) -> Result<ExceptionStatus, StoreError> {
    ExceptionStatus::parse(name)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown exception status {name:?}")))
}

pub(crate) fn source(name: &str) -> Result<RuleSource, StoreError> {
    RuleSource::parse(name)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown rule source {name:?}")))
}

/// A list stored as JSON text.
pub(crate) fn list_text<T: serde::Serialize>(items: &[T]) -> Result<String, StoreError> {
    serde_json::to_string(items).map_err(|e| StoreError::Corrupt(format!("cannot store list: {e}")))
}

/// A list read back from JSON text.
pub(crate) fn list<T: DeserializeOwned>(text: &str, what: &str) -> Result<Vec<T>, StoreError> {
    serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("{what} is not a JSON list of names: {e}")))
}

/// `limit` for `changes`: the caller's, capped.
pub(crate) fn changes_limit(limit: Option<u32>) -> i64 {
    i64::from(limit.unwrap_or(CHANGES_CAP).min(CHANGES_CAP))
}

/// Implements `Store` for `$store` (a struct with `pool: sqlx::Pool<$db>`
/// and `async fn begin_write(&self) -> Result<Transaction<'static, $db>>`).
macro_rules! sql_store {
    ($store:ident, $db:ty) => {
        use async_trait::async_trait;
        use serde_json::json;
        use sqlx::Row as _;

        use $crate::sql::{db_error, kind, list, list_text, role, source, status};
        use $crate::{
            AuditEntry, ChangeFilter, ChangeRecord, Ctx, Event, ExceptionStatus,
            FreezeException, NewAudit, NewChangeRecord, NewEvent, NewException,
            Millis, NewPlanVersion, NewRuleVersion, NewRun, NewToken, PlanVersion,
            PlanVersionInfo, Result, RuleSource, RuleVersion, Run, RunInfo, Session,
            SidecarReport, Store, StoreError, Token, audit, sha256_hex,
        };
        use $crate::monitoring::{self as mon, HistoryPoint, StoredTransition};
        use $crate::{EmergencyRun, EmergencyRunUpdate, NewEmergencyRun, TriggerEpisode};
        use $crate::{IncidentWrite, StoredIncident};
        use $crate::{DrillWrite, StoredDrill};

        type Conn = <$db as sqlx::Database>::Connection;
        type DbRow = <$db as sqlx::Database>::Row;

        /// Refuses an update of row `id` of `table` read at another version
        /// (optimistic concurrency: a stale writer reads again, nothing is
        /// lost). `table` is one of the store's own table names.
        async fn expect_version(
            conn: &mut Conn,
            table: &'static str,
            what: &str,
            id: i64,
            version: i64,
        ) -> Result<()> {
            let sql = sqlx::AssertSqlSafe(format!("SELECT version FROM {table} WHERE id = $1"));
            let current = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await?;
            let Some(current) = current else {
                return Err(StoreError::NotFound {
                    what: format!("{what} {id}"),
                });
            };
            let current: i64 = current.try_get(0)?;
            if current != version {
                return Err(StoreError::Conflict(format!(
                    "{what} {id} is at version {current}, not {version}: \
                     someone else changed it; read it again"
                )));
            }
            Ok(())
        }

        /// The new status, finished flag and state of a versioned row
        /// (emergency runs, drills), with its audit action and detail.
        struct Versioned<'a> {
            status: &'a str,
            finished: bool,
            state: &'a str,
            action: &'a str,
            detail: &'a serde_json::Value,
        }

        /// Updates row `id` of `table` (one of the store's own tables with
        /// `status`, `finished`, `state`, `version` and `updated_ms`) from
        /// `version` to `version + 1`, with its audit entry on target
        /// `<what>:<id>`, inside the caller's write transaction; a stale
        /// `version` is refused first.
        async fn update_versioned(
            conn: &mut Conn,
            ctx: &Ctx,
            table: &'static str,
            (what, target): (&str, &str),
            id: i64,
            version: i64,
            w: Versioned<'_>,
        ) -> Result<()> {
            expect_version(conn, table, what, id, version).await?;
            let sql = sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET status = $1, finished = $2, state = $3, \
                 version = version + 1, updated_ms = $4 WHERE id = $5 AND version = $6"
            ));
            sqlx::query(sql)
                .bind(w.status)
                .bind(i32::from(w.finished))
                .bind(w.state)
                .bind(ctx.at_ms)
                .bind(id)
                .bind(version)
                .execute(&mut *conn)
                .await
                .map_err(db_error)?;
            let mut detail = w.detail.clone();
            if let Some(obj) = detail.as_object_mut() {
                obj.insert("status".into(), json!(w.status));
                obj.insert("version".into(), json!(version + 1));
            }
            append(conn, ctx, w.action, &format!("{target}:{id}"), &detail).await?;
            Ok(())
        }

        /// Appends one audit entry inside the caller's write transaction
        /// (which excludes every other writer, so `seq` and `prev_hash`
        /// are the log's head).
        async fn append(
            conn: &mut Conn,
            ctx: &Ctx,
            action: &str,
            target: &str,
            detail: &serde_json::Value,
        ) -> Result<AuditEntry> {
            let last = sqlx::query("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *conn)
                .await?;
            let (prev_seq, prev_hash) = match last {
                Some(row) => (row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?),
                None => (0, audit::GENESIS.to_owned()),
            };
            let seq = prev_seq + 1;
            let detail = audit::detail_text(detail);
            let hash = audit::entry_hash(
                seq, ctx.at_ms, &ctx.actor, action, target, &detail, &prev_hash,
            );
            sqlx::query(
                "INSERT INTO audit (seq, at_ms, actor, action, target, detail, prev_hash, hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(seq)
            .bind(ctx.at_ms)
            .bind(&ctx.actor)
            .bind(action)
            .bind(target)
            .bind(&detail)
            .bind(&prev_hash)
            .bind(&hash)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
            Ok(AuditEntry {
                seq,
                at_ms: ctx.at_ms,
                actor: ctx.actor.clone(),
                action: action.to_owned(),
                target: target.to_owned(),
                detail,
                prev_hash,
                hash,
            })
        }

    /// Inserts one change record and its audit entry inside the
    /// caller's write transaction; NotFound (before any write) when its
    /// event or exception does not exist.
    async fn insert_change(
        tx: &mut Conn,
        ctx: &Ctx,
        new: &NewChangeRecord,
    ) -> Result<ChangeRecord> {
            if let Some(event_id) = new.event_id {
                event_slug(&mut *tx, event_id).await?;
            }
            if let Some(exception_id) = new.exception_id {
                let sql = "SELECT 1 FROM exceptions WHERE id = $1";
                if !exists(&mut *tx, sql, exception_id, None).await? {
                    return Err(StoreError::NotFound {
                        what: format!("exception {exception_id}"),
                    });
                }
            }
            let row = sqlx::query(
                "INSERT INTO change_records (at_ms, event_id, service, kind, actor, \
                 change_ref, allowed, reason, window_name, exception_id) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(ctx.at_ms)
            .bind(new.event_id)
            .bind(&new.service)
            .bind(new.kind.as_str())
            .bind(&new.actor)
            .bind(&new.change_ref)
            .bind(new.allowed)
            .bind(&new.reason)
            .bind(&new.window)
            .bind(new.exception_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
            let record = ChangeRecord {
                id: row.try_get(0)?,
                at_ms: ctx.at_ms,
                event_id: new.event_id,
                service: new.service.clone(),
                kind: new.kind,
                actor: new.actor.clone(),
                change_ref: new.change_ref.clone(),
                allowed: new.allowed,
                reason: new.reason.clone(),
                window: new.window.clone(),
                exception_id: new.exception_id,
            };
            append(
                &mut *tx,
                ctx,
                "gate.check",
                &format!("service:{}", record.service),
                &json!({
                    "change_id": record.id,
                    "event_id": record.event_id,
                    "kind": record.kind.as_str(),
                    "actor": record.actor,
                    "change_ref": record.change_ref,
                    "allowed": record.allowed,
                    "reason": record.reason,
                    "window": record.window,
                    "exception_id": record.exception_id,
                }),
            )
            .await?;
            Ok(record)
        }

        /// The slug of event `id`, or NotFound.
        async fn event_slug(conn: &mut Conn, id: i64) -> Result<String> {
            let row = sqlx::query("SELECT slug FROM events WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            match row {
                Some(row) => Ok(row.try_get(0)?),
                None => Err(StoreError::NotFound {
                    what: format!("event {id}"),
                }),
            }
        }

        async fn exists(conn: &mut Conn, sql: &'static str, a: i64, b: Option<i64>) -> Result<bool> {
            let mut query = sqlx::query(sql).bind(a);
            if let Some(b) = b {
                query = query.bind(b);
            }
            Ok(query.fetch_optional(&mut *conn).await?.is_some())
        }

        const EVENT: &str = "SELECT id, slug, name, created_ms, created_by FROM events";

        fn event_row(r: &DbRow) -> Result<Event> {
            Ok(Event {
                id: r.try_get("id")?,
                slug: r.try_get("slug")?,
                name: r.try_get("name")?,
                created_ms: r.try_get("created_ms")?,
                created_by: r.try_get("created_by")?,
            })
        }

        fn plan_info_row(r: &DbRow) -> Result<PlanVersionInfo> {
            Ok(PlanVersionInfo {
                event_id: r.try_get("event_id")?,
                version: r.try_get("version")?,
                sha256: r.try_get("sha256")?,
                file_name: r.try_get("file_name")?,
                created_ms: r.try_get("created_ms")?,
                created_by: r.try_get("created_by")?,
            })
        }

        fn run_info_row(r: &DbRow) -> Result<RunInfo> {
            Ok(RunInfo {
                id: r.try_get("id")?,
                event_id: r.try_get("event_id")?,
                plan_version: r.try_get("plan_version")?,
                scenario: r.try_get("scenario")?,
                sha256: r.try_get("sha256")?,
                uploaded_ms: r.try_get("uploaded_ms")?,
                uploaded_by: r.try_get("uploaded_by")?,
            })
        }

        const TOKEN_COLUMNS: &str = "id, name, role, business_line, created_ms, created_by, \
                                     revoked_ms, expires_ms, service, event";
        const TOKEN: &str = "SELECT id, name, role, business_line, created_ms, created_by, \
                             revoked_ms, expires_ms, service, event FROM tokens";

        fn token_row(r: &DbRow) -> Result<Token> {
            Ok(Token {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                role: role(r.try_get("role")?)?,
                business_line: r.try_get("business_line")?,
                created_ms: r.try_get("created_ms")?,
                created_by: r.try_get("created_by")?,
                revoked_ms: r.try_get("revoked_ms")?,
                expires_ms: r.try_get("expires_ms")?,
                service: r.try_get("service")?,
                event: r.try_get("event")?,
            })
        }

        const SESSION_COLUMNS: &str =
            "s.id_sha256, s.token_id, s.created_ms, s.seen_ms, s.idle_until_ms, s.expires_ms";

        fn session_row(r: &DbRow) -> Result<Session> {
            Ok(Session {
                id_sha256: r.try_get("id_sha256")?,
                token_id: r.try_get("token_id")?,
                created_ms: r.try_get("created_ms")?,
                seen_ms: r.try_get("seen_ms")?,
                idle_until_ms: r.try_get("idle_until_ms")?,
                expires_ms: r.try_get("expires_ms")?,
            })
        }

        fn change_row(r: &DbRow) -> Result<ChangeRecord> {
            Ok(ChangeRecord {
                id: r.try_get("id")?,
                at_ms: r.try_get("at_ms")?,
                event_id: r.try_get("event_id")?,
                service: r.try_get("service")?,
                kind: kind(r.try_get("kind")?)?,
                actor: r.try_get("actor")?,
                change_ref: r.try_get("change_ref")?,
                allowed: r.try_get("allowed")?,
                reason: r.try_get("reason")?,
                window: r.try_get("window_name")?,
                exception_id: r.try_get("exception_id")?,
            })
        }

        const EXCEPTION: &str = "SELECT id, event_id, services, kinds, starts_ms, ends_ms, \
                                 reason, requested_by, requested_ms, status, decided_by, \
                                 decided_ms, decision_note FROM exceptions";

        fn exception_row(r: &DbRow) -> Result<FreezeException> {
            Ok(FreezeException {
                id: r.try_get("id")?,
                event_id: r.try_get("event_id")?,
                services: list(r.try_get("services")?, "an exception's services")?,
                kinds: list(r.try_get("kinds")?, "an exception's kinds")?,
                starts_ms: r.try_get("starts_ms")?,
                ends_ms: r.try_get("ends_ms")?,
                reason: r.try_get("reason")?,
                requested_by: r.try_get("requested_by")?,
                requested_ms: r.try_get("requested_ms")?,
                status: status(r.try_get("status")?)?,
                decided_by: r.try_get("decided_by")?,
                decided_ms: r.try_get("decided_ms")?,
                decision_note: r.try_get("decision_note")?,
            })
        }

        const RULES: &str = "SELECT service, version, document, sha256, source, plan_version, \
                             note, created_ms, created_by FROM rule_versions";

        fn sidecar_row(r: &DbRow) -> Result<SidecarReport> {
            Ok(SidecarReport {
                service: r.try_get("service")?,
                instance: r.try_get("instance")?,
                applied_version: r.try_get("applied_version")?,
                reported_ms: r.try_get("reported_ms")?,
                admin_addr: r.try_get("admin_addr")?,
            })
        }

        const WHITELISTS: &str = "SELECT service, version, id_count, CAST(LENGTH(keys) AS BIGINT) AS bytes, \
                                  sha256, note, created_ms, created_by FROM gray_whitelists";

        fn whitelist_row(r: &DbRow) -> Result<$crate::WhitelistInfo> {
            Ok($crate::WhitelistInfo {
                service: r.try_get("service")?,
                version: r.try_get("version")?,
                count: r.try_get("id_count")?,
                bytes: r.try_get("bytes")?,
                sha256: r.try_get("sha256")?,
                note: r.try_get("note")?,
                created_ms: r.try_get("created_ms")?,
                created_by: r.try_get("created_by")?,
            })
        }

        fn rule_row(r: &DbRow) -> Result<RuleVersion> {
            Ok(RuleVersion {
                service: r.try_get("service")?,
                version: r.try_get("version")?,
                document: r.try_get("document")?,
                sha256: r.try_get("sha256")?,
                source: source(r.try_get("source")?)?,
                plan_version: r.try_get("plan_version")?,
                note: r.try_get("note")?,
                created_ms: r.try_get("created_ms")?,
                created_by: r.try_get("created_by")?,
            })
        }

        fn audit_row(r: &DbRow) -> Result<AuditEntry> {
            Ok(AuditEntry {
                seq: r.try_get("seq")?,
                at_ms: r.try_get("at_ms")?,
                actor: r.try_get("actor")?,
                action: r.try_get("action")?,
                target: r.try_get("target")?,
                detail: r.try_get("detail")?,
                prev_hash: r.try_get("prev_hash")?,
                hash: r.try_get("hash")?,
            })
        }

        const EMERGENCY_RUN: &str = "SELECT id, event_id, plan_id, plan_version, status, finished, state, \
            version, requested_by, created_ms, updated_ms FROM emergency_runs";

        fn emergency_run_row(r: &DbRow) -> Result<EmergencyRun> {
            Ok(EmergencyRun {
                id: r.try_get("id")?,
                event_id: r.try_get("event_id")?,
                plan_id: r.try_get("plan_id")?,
                plan_version: r.try_get("plan_version")?,
                status: r.try_get("status")?,
                finished: r.try_get::<i32, _>("finished")? != 0,
                state: r.try_get("state")?,
                version: r.try_get("version")?,
                requested_by: r.try_get("requested_by")?,
                created_ms: r.try_get("created_ms")?,
                updated_ms: r.try_get("updated_ms")?,
            })
        }

        const INCIDENT: &str = "SELECT id, event_id, status, severity, dedup_key, state, escalation, \
            next_page_ms, version, created_ms, updated_ms FROM incidents";

        fn incident_row(r: &DbRow) -> Result<StoredIncident> {
            Ok(StoredIncident {
                id: r.try_get("id")?,
                event_id: r.try_get("event_id")?,
                status: r.try_get("status")?,
                severity: r.try_get("severity")?,
                dedup_key: r.try_get("dedup_key")?,
                state: r.try_get("state")?,
                escalation: r.try_get("escalation")?,
                next_page_ms: r.try_get("next_page_ms")?,
                version: r.try_get("version")?,
                created_ms: r.try_get("created_ms")?,
                updated_ms: r.try_get("updated_ms")?,
            })
        }

        const DRILL: &str = "SELECT id, event_id, plan_id, status, finished, state, version, \
            created_ms, updated_ms FROM drills";

        fn drill_row(r: &DbRow) -> Result<StoredDrill> {
            Ok(StoredDrill {
                id: r.try_get("id")?,
                event_id: r.try_get("event_id")?,
                plan_id: r.try_get("plan_id")?,
                status: r.try_get("status")?,
                finished: r.try_get::<i32, _>("finished")? != 0,
                state: r.try_get("state")?,
                version: r.try_get("version")?,
                created_ms: r.try_get("created_ms")?,
                updated_ms: r.try_get("updated_ms")?,
            })
        }

        fn rows<T>(rows: Vec<DbRow>, f: fn(&DbRow) -> Result<T>) -> Result<Vec<T>> {
            rows.iter().map(f).collect()
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                <$store>::BACKEND
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn create_event(&self, ctx: &Ctx, new: &NewEvent) -> Result<Event> {
                let mut tx = self.begin_write().await?;
                let taken = sqlx::query("SELECT 1 FROM events WHERE slug = $1")
                    .bind(&new.slug)
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "an event with slug {:?} exists already",
                        new.slug
                    )));
                }
                let row = sqlx::query(
                    "INSERT INTO events (slug, name, created_ms, created_by) \
                     VALUES ($1, $2, $3, $4) \
                     RETURNING id, slug, name, created_ms, created_by",
                )
                .bind(&new.slug)
                .bind(&new.name)
                .bind(ctx.at_ms)
                .bind(&ctx.actor)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                let event = event_row(&row)?;
                append(
                    &mut tx,
                    ctx,
                    "event.create",
                    &format!("event:{}", event.slug),
                    &json!({"id": event.id, "slug": event.slug, "name": event.name}),
                )
                .await?;
                tx.commit().await?;
                Ok(event)
            }

            async fn events(&self) -> Result<Vec<Event>> {
                let sql = sqlx::AssertSqlSafe(format!("{EVENT} ORDER BY id"));
                rows(sqlx::query(sql).fetch_all(&self.pool).await?, event_row)
            }

            async fn event(&self, slug: &str) -> Result<Option<Event>> {
                let sql = sqlx::AssertSqlSafe(format!("{EVENT} WHERE slug = $1"));
                let row = sqlx::query(sql).bind(slug).fetch_optional(&self.pool).await?;
                row.as_ref().map(event_row).transpose()
            }

            async fn push_plan(
                &self,
                ctx: &Ctx,
                event_id: i64,
                new: &NewPlanVersion,
            ) -> Result<PlanVersion> {
                let mut tx = self.begin_write().await?;
                let slug = event_slug(&mut tx, event_id).await?;
                let sha256 = sha256_hex(new.text.as_bytes());
                let row = sqlx::query(
                    "INSERT INTO plan_versions \
                     (event_id, version, sha256, file_name, text, created_ms, created_by) \
                     SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6 \
                     FROM plan_versions WHERE event_id = $1 \
                     RETURNING event_id, version, sha256, file_name, created_ms, created_by",
                )
                .bind(event_id)
                .bind(&sha256)
                .bind(&new.file_name)
                .bind(&new.text)
                .bind(ctx.at_ms)
                .bind(&ctx.actor)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                let info = plan_info_row(&row)?;
                append(
                    &mut tx,
                    ctx,
                    "plan.push",
                    &format!("event:{slug}"),
                    &json!({
                        "event_id": event_id,
                        "version": info.version,
                        "sha256": info.sha256,
                        "file_name": info.file_name,
                    }),
                )
                .await?;
                tx.commit().await?;
                Ok(PlanVersion {
                    info,
                    text: new.text.clone(),
                })
            }

            async fn plan_versions(&self, event_id: i64) -> Result<Vec<PlanVersionInfo>> {
                let found = sqlx::query(
                    "SELECT event_id, version, sha256, file_name, created_ms, created_by \
                     FROM plan_versions WHERE event_id = $1 ORDER BY version",
                )
                .bind(event_id)
                .fetch_all(&self.pool)
                .await?;
                rows(found, plan_info_row)
            }

            async fn plan_version(
                &self,
                event_id: i64,
                version: Option<i64>,
            ) -> Result<Option<PlanVersion>> {
                let row = sqlx::query(
                    "SELECT event_id, version, sha256, file_name, created_ms, created_by, text \
                     FROM plan_versions WHERE event_id = $1 AND ($2 IS NULL OR version = $2) \
                     ORDER BY version DESC LIMIT 1",
                )
                .bind(event_id)
                .bind(version)
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    Some(row) => Ok(Some(PlanVersion {
                        info: plan_info_row(&row)?,
                        text: row.try_get("text")?,
                    })),
                    None => Ok(None),
                }
            }

            async fn add_run(&self, ctx: &Ctx, event_id: i64, new: &NewRun) -> Result<RunInfo> {
                let mut tx = self.begin_write().await?;
                let slug = event_slug(&mut tx, event_id).await?;
                if let Some(version) = new.plan_version {
                    let sql = "SELECT 1 FROM plan_versions WHERE event_id = $1 AND version = $2";
                    if !exists(&mut tx, sql, event_id, Some(version)).await? {
                        return Err(StoreError::NotFound {
                            what: format!("plan version {version} of event {slug}"),
                        });
                    }
                }
                let sha256 = sha256_hex(new.json.as_bytes());
                let row = sqlx::query(
                    "INSERT INTO runs \
                     (event_id, plan_version, scenario, sha256, json, uploaded_ms, uploaded_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     RETURNING id, event_id, plan_version, scenario, sha256, uploaded_ms, \
                     uploaded_by",
                )
                .bind(event_id)
                .bind(new.plan_version)
                .bind(&new.scenario)
                .bind(&sha256)
                .bind(&new.json)
                .bind(ctx.at_ms)
                .bind(&ctx.actor)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                let info = run_info_row(&row)?;
                append(
                    &mut tx,
                    ctx,
                    "run.upload",
                    &format!("event:{slug}"),
                    &json!({
                        "run_id": info.id,
                        "event_id": event_id,
                        "plan_version": info.plan_version,
                        "scenario": info.scenario,
                        "sha256": info.sha256,
                    }),
                )
                .await?;
                tx.commit().await?;
                Ok(info)
            }

            async fn runs(&self, event_id: i64) -> Result<Vec<RunInfo>> {
                let found = sqlx::query(
                    "SELECT id, event_id, plan_version, scenario, sha256, uploaded_ms, \
                     uploaded_by FROM runs WHERE event_id = $1 ORDER BY id",
                )
                .bind(event_id)
                .fetch_all(&self.pool)
                .await?;
                rows(found, run_info_row)
            }

            async fn run(&self, id: i64) -> Result<Option<Run>> {
                let row = sqlx::query(
                    "SELECT id, event_id, plan_version, scenario, sha256, uploaded_ms, \
                     uploaded_by, json FROM runs WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                match row {
                    Some(row) => Ok(Some(Run {
                        info: run_info_row(&row)?,
                        json: row.try_get("json")?,
                    })),
                    None => Ok(None),
                }
            }

            async fn create_token(&self, ctx: &Ctx, new: &NewToken) -> Result<Token> {
                let mut tx = self.begin_write().await?;
                let taken = sqlx::query("SELECT 1 FROM tokens WHERE name = $1")
                    .bind(&new.name)
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "a token named {:?} exists already",
                        new.name
                    )));
                }
                let sql = sqlx::AssertSqlSafe(format!(
                    "INSERT INTO tokens (name, role, business_line, secret_sha256, created_ms, \
                     created_by, expires_ms, service, event) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {TOKEN_COLUMNS}"
                ));
                let row = sqlx::query(sql)
                .bind(&new.name)
                .bind(new.role.as_str())
                .bind(&new.business_line)
                .bind(&new.secret_sha256)
                .bind(ctx.at_ms)
                .bind(&ctx.actor)
                .bind(new.expires_ms)
                .bind(&new.service)
                .bind(&new.event)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                let token = token_row(&row)?;
                append(
                    &mut tx,
                    ctx,
                    "token.create",
                    &format!("token:{}", token.id),
                    &json!({
                        "id": token.id,
                        "name": token.name,
                        "role": token.role.as_str(),
                        "business_line": token.business_line,
                        "expires_ms": token.expires_ms,
                        "service": token.service,
                        "event": token.event,
                    }),
                )
                .await?;
                tx.commit().await?;
                Ok(token)
            }

            async fn token_by_hash(&self, secret_sha256: &str) -> Result<Option<Token>> {
                let sql = sqlx::AssertSqlSafe(format!("{TOKEN} WHERE secret_sha256 = $1"));
                let row = sqlx::query(sql)
                    .bind(secret_sha256)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(token_row).transpose()
            }

            async fn tokens(&self) -> Result<Vec<Token>> {
                let sql = sqlx::AssertSqlSafe(format!("{TOKEN} ORDER BY id"));
                rows(sqlx::query(sql).fetch_all(&self.pool).await?, token_row)
            }

            async fn revoke_token(&self, ctx: &Ctx, id: i64) -> Result<Token> {
                let mut tx = self.begin_write().await?;
                let sql = sqlx::AssertSqlSafe(format!(
                    "UPDATE tokens SET revoked_ms = COALESCE(revoked_ms, $2) WHERE id = $1 \
                     RETURNING {TOKEN_COLUMNS}"
                ));
                let row = sqlx::query(sql)
                .bind(id)
                .bind(ctx.at_ms)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Err(StoreError::NotFound {
                        what: format!("token {id}"),
                    });
                };
                let token = token_row(&row)?;
                // Its sessions end now (their rows stay until the next
                // login's sweep, so the UI can say why they ended).
                let ended = sqlx::query(
                    "UPDATE sessions SET expires_ms = $2 WHERE token_id = $1 AND expires_ms > $2",
                )
                .bind(id)
                .bind(ctx.at_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                append(
                    &mut tx,
                    ctx,
                    "token.revoke",
                    &format!("token:{id}"),
                    &json!({
                        "id": id,
                        "name": token.name,
                        "revoked_ms": token.revoked_ms,
                        "sessions_ended": ended,
                    }),
                )
                .await?;
                tx.commit().await?;
                Ok(token)
            }

            async fn create_session(&self, ctx: &Ctx, session: &Session) -> Result<()> {
                let mut tx = self.begin_write().await?;
                let name = sqlx::query("SELECT name FROM tokens WHERE id = $1")
                    .bind(session.token_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(name) = name else {
                    return Err(StoreError::NotFound {
                        what: format!("token {}", session.token_id),
                    });
                };
                let name: String = name.try_get(0)?;
                sqlx::query("DELETE FROM sessions WHERE expires_ms <= $1 OR idle_until_ms <= $1")
                    .bind(ctx.at_ms)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO sessions (id_sha256, token_id, created_ms, seen_ms, \
                     idle_until_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&session.id_sha256)
                .bind(session.token_id)
                .bind(session.created_ms)
                .bind(session.seen_ms)
                .bind(session.idle_until_ms)
                .bind(session.expires_ms)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                append(
                    &mut tx,
                    ctx,
                    "session.start",
                    &format!("token:{}", session.token_id),
                    &json!({
                        "token_id": session.token_id,
                        "token": name,
                        "idle_until_ms": session.idle_until_ms,
                        "expires_ms": session.expires_ms,
                    }),
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn session_by_hash(&self, id_sha256: &str) -> Result<Option<(Session, Token)>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {SESSION_COLUMNS}, t.id, t.name, t.role, t.business_line, \
                     t.created_ms AS token_created_ms, t.created_by, t.revoked_ms, \
                     t.expires_ms AS token_expires_ms, t.service, t.event \
                     FROM sessions s JOIN tokens t ON t.id = s.token_id WHERE s.id_sha256 = $1"
                ));
                let row = sqlx::query(sql).bind(id_sha256).fetch_optional(&self.pool).await?;
                let Some(r) = row else { return Ok(None) };
                let token = Token {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    role: role(r.try_get("role")?)?,
                    business_line: r.try_get("business_line")?,
                    created_ms: r.try_get("token_created_ms")?,
                    created_by: r.try_get("created_by")?,
                    revoked_ms: r.try_get("revoked_ms")?,
                    expires_ms: r.try_get("token_expires_ms")?,
                    service: r.try_get("service")?,
                    event: r.try_get("event")?,
                };
                Ok(Some((session_row(&r)?, token)))
            }

            async fn touch_session(
                &self,
                id_sha256: &str,
                seen_ms: Millis,
                idle_until_ms: Millis,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE sessions SET seen_ms = $2, idle_until_ms = $3 \
                     WHERE id_sha256 = $1 AND idle_until_ms < $3",
                )
                .bind(id_sha256)
                .bind(seen_ms)
                .bind(idle_until_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn end_session(&self, ctx: &Ctx, id_sha256: &str) -> Result<bool> {
                let mut tx = self.begin_write().await?;
                let row = sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1 RETURNING token_id")
                    .bind(id_sha256)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Ok(false);
                };
                let token_id: i64 = row.try_get(0)?;
                append(
                    &mut tx,
                    ctx,
                    "session.end",
                    &format!("token:{token_id}"),
                    &json!({"token_id": token_id}),
                )
                .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn record_change(
                &self,
                ctx: &Ctx,
                new: &NewChangeRecord,
            ) -> Result<ChangeRecord> {
                let mut tx = self.begin_write().await?;
                let record = insert_change(&mut tx, ctx, new).await?;
                tx.commit().await?;
                Ok(record)
            }

            async fn record_changes(
                &self,
                batch: &[(Ctx, NewChangeRecord)],
            ) -> Result<Vec<Result<ChangeRecord>>> {
                let mut tx = self.begin_write().await?;
                let mut out = Vec::with_capacity(batch.len());
                for (ctx, new) in batch {
                    match insert_change(&mut tx, ctx, new).await {
                        // Checked before anything is written: the
                        // transaction goes on without this item.
                        Err(e @ StoreError::NotFound { .. }) => out.push(Err(e)),
                        Err(e) => return Err(e),
                        Ok(record) => out.push(Ok(record)),
                    }
                }
                tx.commit().await?;
                Ok(out)
            }

            async fn changes(&self, filter: &ChangeFilter) -> Result<Vec<ChangeRecord>> {
                let found = sqlx::query(
                    "SELECT id, at_ms, event_id, service, kind, actor, change_ref, allowed, \
                     reason, window_name, exception_id FROM change_records \
                     WHERE ($1 IS NULL OR event_id = $1) AND ($2 IS NULL OR service = $2) \
                     AND ($3 IS NULL OR at_ms >= $3) AND ($4 IS NULL OR allowed = $4) \
                     ORDER BY at_ms DESC, id DESC LIMIT $5",
                )
                .bind(filter.event_id)
                .bind(&filter.service)
                .bind(filter.since_ms)
                .bind(filter.allowed)
                .bind($crate::sql::changes_limit(filter.limit))
                .fetch_all(&self.pool)
                .await?;
                rows(found, change_row)
            }

            async fn request_exception(
                &self,
                ctx: &Ctx,
                event_id: i64,
                new: &NewException,
            ) -> Result<FreezeException> {
                let mut tx = self.begin_write().await?;
                event_slug(&mut tx, event_id).await?;
                let row = sqlx::query(
                    "INSERT INTO exceptions (event_id, services, kinds, starts_ms, ends_ms, \
                     reason, requested_by, requested_ms, status) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                )
                .bind(event_id)
                .bind(list_text(&new.services)?)
                .bind(list_text(&new.kinds)?)
                .bind(new.starts_ms)
                .bind(new.ends_ms)
                .bind(&new.reason)
                .bind(&ctx.actor)
                .bind(ctx.at_ms)
                .bind(ExceptionStatus::Pending.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                let exception = FreezeException {
                    id: row.try_get(0)?,
                    event_id,
                    services: new.services.clone(),
                    kinds: new.kinds.clone(),
                    starts_ms: new.starts_ms,
                    ends_ms: new.ends_ms,
                    reason: new.reason.clone(),
                    requested_by: ctx.actor.clone(),
                    requested_ms: ctx.at_ms,
                    status: ExceptionStatus::Pending,
                    decided_by: None,
                    decided_ms: None,
                    decision_note: None,
                };
                append(
                    &mut tx,
                    ctx,
                    "exception.request",
                    &format!("exception:{}", exception.id),
                    &json!({
                        "id": exception.id,
                        "event_id": event_id,
                        "services": exception.services,
                        "kinds": exception.kinds,
                        "starts_ms": exception.starts_ms,
                        "ends_ms": exception.ends_ms,
                        "reason": exception.reason,
                    }),
                )
                .await?;
                tx.commit().await?;
                Ok(exception)
            }

            async fn decide_exception(
                &self,
                ctx: &Ctx,
                id: i64,
                approve: bool,
                note: Option<&str>,
            ) -> Result<FreezeException> {
                let mut tx = self.begin_write().await?;
                let sql = sqlx::AssertSqlSafe(format!("{EXCEPTION} WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_optional(&mut *tx).await?;
                let Some(row) = row else {
                    return Err(StoreError::NotFound {
                        what: format!("exception {id}"),
                    });
                };
                let mut exception = exception_row(&row)?;
                if exception.status != ExceptionStatus::Pending {
                    return Err(StoreError::Conflict(format!(
                        "exception {id} is {} already, not pending",
                        exception.status.as_str()
                    )));
                }
                let decided = if approve {
                    ExceptionStatus::Approved
                } else {
                    ExceptionStatus::Rejected
                };
                sqlx::query(
                    "UPDATE exceptions SET status = $2, decided_by = $3, decided_ms = $4, \
                     decision_note = $5 WHERE id = $1",
                )
                .bind(id)
                .bind(decided.as_str())
                .bind(&ctx.actor)
                .bind(ctx.at_ms)
                .bind(note)
                .execute(&mut *tx)
                .await?;
                exception.status = decided;
                exception.decided_by = Some(ctx.actor.clone());
                exception.decided_ms = Some(ctx.at_ms);
                exception.decision_note = note.map(str::to_owned);
                let action = if approve {
                    "exception.approve"
                } else {
                    "exception.reject"
                };
                append(
                    &mut tx,
                    ctx,
                    action,
                    &format!("exception:{id}"),
                    &json!({
                        "id": id,
                        "event_id": exception.event_id,
                        "status": decided.as_str(),
                        "note": note,
                    }),
                )
                .await?;
                tx.commit().await?;
                Ok(exception)
            }

            async fn exception(&self, id: i64) -> Result<Option<FreezeException>> {
                let sql = sqlx::AssertSqlSafe(format!("{EXCEPTION} WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(exception_row).transpose()
            }

            async fn exceptions(&self, event_id: i64) -> Result<Vec<FreezeException>> {
                let sql = sqlx::AssertSqlSafe(format!("{EXCEPTION} WHERE event_id = $1 ORDER BY id"));
                let found = sqlx::query(sql).bind(event_id).fetch_all(&self.pool).await?;
                rows(found, exception_row)
            }

            async fn put_rules(&self, ctx: &Ctx, new: &NewRuleVersion) -> Result<RuleVersion> {
                let mut tx = self.begin_write().await?;
                let sha256 = sha256_hex(new.document.as_bytes());
                let row = sqlx::query(
                    "INSERT INTO rule_versions (service, version, document, sha256, source, \
                     plan_version, note, created_ms, created_by) \
                     SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8 \
                     FROM rule_versions WHERE service = $1 RETURNING version",
                )
                .bind(&new.service)
                .bind(&new.document)
                .bind(&sha256)
                .bind(new.source.as_str())
                .bind(new.plan_version)
                .bind(&new.note)
                .bind(ctx.at_ms)
                .bind(&ctx.actor)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                let rules = RuleVersion {
                    service: new.service.clone(),
                    version: row.try_get(0)?,
                    document: new.document.clone(),
                    sha256,
                    source: new.source,
                    plan_version: new.plan_version,
                    note: new.note.clone(),
                    created_ms: ctx.at_ms,
                    created_by: ctx.actor.clone(),
                };
                let action = match rules.source {
                    RuleSource::Derived => "rules.derive",
                    RuleSource::Adjusted => "rules.adjust",
                    RuleSource::Emergency => "rules.emergency",
                };
                append(
                    &mut tx,
                    ctx,
                    action,
                    &format!("service:{}", rules.service),
                    &json!({
                        "service": rules.service,
                        "version": rules.version,
                        "sha256": rules.sha256,
                        "source": rules.source.as_str(),
                        "plan_version": rules.plan_version,
                        "note": rules.note,
                    }),
                )
                .await?;
                tx.commit().await?;
                Ok(rules)
            }

            async fn rules(&self, service: &str, version: Option<i64>) -> Result<Option<RuleVersion>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "{RULES} WHERE service = $1 AND ($2 IS NULL OR version = $2) \
                     ORDER BY version DESC LIMIT 1"
                ));
                let row = sqlx::query(sql)
                    .bind(service)
                    .bind(version)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(rule_row).transpose()
            }

            async fn rule_history(&self, service: &str) -> Result<Vec<RuleVersion>> {
                let sql = sqlx::AssertSqlSafe(format!("{RULES} WHERE service = $1 ORDER BY version"));
                let found = sqlx::query(sql).bind(service).fetch_all(&self.pool).await?;
                rows(found, rule_row)
            }

            async fn rule_services(&self) -> Result<Vec<(String, i64)>> {
                let found = sqlx::query(
                    "SELECT service, MAX(version) AS latest FROM rule_versions \
                     GROUP BY service ORDER BY service",
                )
                .fetch_all(&self.pool)
                .await?;
                found
                    .iter()
                    .map(|r| Ok((r.try_get("service")?, r.try_get("latest")?)))
                    .collect()
            }

            async fn put_whitelist(
                &self,
                ctx: &Ctx,
                new: &$crate::NewWhitelist,
            ) -> Result<$crate::WhitelistInfo> {
                let mut tx = self.begin_write().await?;
                let sha256 = sha256_hex(&new.keys);
                let row = sqlx::query(
                    "INSERT INTO gray_whitelists (service, version, keys, id_count, sha256, note, \
                     created_ms, created_by) \
                     SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3, $4, $5, $6, $7 \
                     FROM gray_whitelists WHERE service = $1 RETURNING version",
                )
                .bind(&new.service)
                .bind(&new.keys)
                .bind(new.count)
                .bind(&sha256)
                .bind(&new.note)
                .bind(ctx.at_ms)
                .bind(&ctx.actor)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                let info = $crate::WhitelistInfo {
                    service: new.service.clone(),
                    version: row.try_get(0)?,
                    count: new.count,
                    bytes: i64::try_from(new.keys.len()).unwrap_or(i64::MAX),
                    sha256,
                    note: new.note.clone(),
                    created_ms: ctx.at_ms,
                    created_by: ctx.actor.clone(),
                };
                append(
                    &mut tx,
                    ctx,
                    "whitelist.upload",
                    &format!("service:{}", info.service),
                    &json!({
                        "service": info.service,
                        "version": info.version,
                        "count": info.count,
                        "sha256": info.sha256,
                        "note": info.note,
                    }),
                )
                .await?;
                tx.commit().await?;
                Ok(info)
            }

            async fn whitelist_history(&self, service: &str) -> Result<Vec<$crate::WhitelistInfo>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "{WHITELISTS} WHERE service = $1 ORDER BY version"
                ));
                let found = sqlx::query(sql).bind(service).fetch_all(&self.pool).await?;
                rows(found, whitelist_row)
            }

            async fn whitelist_keys(
                &self,
                service: &str,
                version: Option<i64>,
            ) -> Result<Option<($crate::WhitelistInfo, Vec<u8>)>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT keys, {} WHERE service = $1 AND ($2 IS NULL OR version = $2) \
                     ORDER BY version DESC LIMIT 1",
                    WHITELISTS.trim_start_matches("SELECT ")
                ));
                let row = sqlx::query(sql)
                    .bind(service)
                    .bind(version)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| Ok((whitelist_row(&r)?, r.try_get("keys")?)))
                    .transpose()
            }

            async fn report_applied(&self, ctx: &Ctx, report: &SidecarReport) -> Result<()> {
                let mut tx = self.begin_write().await?;
                sqlx::query(
                    "INSERT INTO sidecar_reports \
                     (service, instance, applied_version, reported_ms, admin_addr) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (service, instance) DO UPDATE SET \
                     applied_version = excluded.applied_version, \
                     reported_ms = excluded.reported_ms, \
                     admin_addr = excluded.admin_addr",
                )
                .bind(&report.service)
                .bind(&report.instance)
                .bind(report.applied_version)
                .bind(report.reported_ms)
                .bind(&report.admin_addr)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                let mut detail = json!({
                    "service": report.service,
                    "instance": report.instance,
                    "applied_version": report.applied_version,
                });
                if let Some(addr) = &report.admin_addr {
                    detail["admin_addr"] = json!(addr);
                }
                append(
                    &mut tx,
                    ctx,
                    "sidecar.applied",
                    &format!("service:{}", report.service),
                    &detail,
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn sidecar_reports(&self, service: &str) -> Result<Vec<SidecarReport>> {
                let found = sqlx::query(
                    "SELECT service, instance, applied_version, reported_ms, admin_addr \
                     FROM sidecar_reports WHERE service = $1 ORDER BY instance",
                )
                .bind(service)
                .fetch_all(&self.pool)
                .await?;
                found.iter().map(sidecar_row).collect()
            }

            async fn lease_tokens(&self, round: &$crate::LeaseRound) -> Result<$crate::LeaseGrant> {
                use seawall_guard::cluster::{Bucket, depth, fair_share};
                let now = round.now_ms;
                let since = now.saturating_sub(round.live_ms);
                let mut tx = self.begin_write().await?;
                let mut granted = Vec::with_capacity(round.asks.len());
                for ask in &round.asks {
                    let row = sqlx::query(
                        "SELECT tokens, updated_ms FROM cluster_buckets \
                         WHERE service = $1 AND rule_id = $2",
                    )
                    .bind(&round.service)
                    .bind(&ask.rule_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let mut bucket = match row {
                        Some(r) => Bucket {
                            tokens: r.try_get("tokens")?,
                            updated_ms: r.try_get("updated_ms")?,
                        },
                        None => Bucket::new(ask.rate, now),
                    };
                    let leases = sqlx::query(
                        "SELECT instance, demand, seen_ms, credit, credit_ms FROM cluster_leases \
                         WHERE service = $1 AND rule_id = $2 AND seen_ms >= $3",
                    )
                    .bind(&round.service)
                    .bind(&ask.rule_id)
                    .bind(since)
                    .fetch_all(&mut *tx)
                    .await?;
                    let mut demands = vec![ask.demand];
                    let mut credit = None;
                    for r in &leases {
                        let instance: String = r.try_get("instance")?;
                        if instance == round.instance {
                            credit = Some(Bucket {
                                tokens: r.try_get("credit")?,
                                updated_ms: r.try_get("credit_ms")?,
                            });
                        } else {
                            demands.push(r.try_get("demand")?);
                        }
                    }
                    let share = fair_share(ask.rate, &demands, ask.demand);
                    let mut credit = credit.unwrap_or_else(|| Bucket::new(share, now));
                    credit.refill(share, now);
                    // Beyond its credit, what fills the bucket past half
                    // (nobody used it): the rate is not lost to an
                    // instance using less than its share, and the half
                    // kept back leaves room for every other one's credit.
                    bucket.refill(ask.rate, now);
                    let surplus = bucket
                        .available()
                        .saturating_sub((depth(ask.rate) / 2.0).ceil() as u64);
                    let cap = credit.available().saturating_add(surplus);
                    let got = bucket.take(ask.rate, now, ask.asked.min(cap));
                    credit.spend(got);
                    granted.push(got);
                    sqlx::query(
                        "INSERT INTO cluster_buckets (service, rule_id, tokens, updated_ms) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (service, rule_id) DO UPDATE SET \
                         tokens = excluded.tokens, updated_ms = excluded.updated_ms",
                    )
                    .bind(&round.service)
                    .bind(&ask.rule_id)
                    .bind(bucket.tokens)
                    .bind(bucket.updated_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    sqlx::query(
                        "INSERT INTO cluster_leases \
                         (service, rule_id, instance, demand, seen_ms, credit, credit_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) \
                         ON CONFLICT (service, rule_id, instance) DO UPDATE SET \
                         demand = excluded.demand, seen_ms = excluded.seen_ms, \
                         credit = excluded.credit, credit_ms = excluded.credit_ms",
                    )
                    .bind(&round.service)
                    .bind(&ask.rule_id)
                    .bind(&round.instance)
                    .bind(ask.demand)
                    .bind(now)
                    .bind(credit.tokens)
                    .bind(credit.updated_ms)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                sqlx::query("DELETE FROM cluster_leases WHERE service = $1 AND seen_ms < $2")
                    .bind(&round.service)
                    .bind(now.saturating_sub(round.live_ms.saturating_mul(10)))
                    .execute(&mut *tx)
                    .await?;
                let live: i64 = sqlx::query(
                    "SELECT COUNT(DISTINCT instance) AS n FROM cluster_leases \
                     WHERE service = $1 AND seen_ms >= $2",
                )
                .bind(&round.service)
                .bind(since)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
                tx.commit().await?;
                Ok($crate::LeaseGrant {
                    granted,
                    instances: u32::try_from(live.max(1)).unwrap_or(u32::MAX),
                })
            }

            async fn sidecar_admin_reports(&self) -> Result<Vec<SidecarReport>> {
                let found = sqlx::query(
                    "SELECT service, instance, applied_version, reported_ms, admin_addr \
                     FROM sidecar_reports WHERE admin_addr IS NOT NULL \
                     ORDER BY service, instance",
                )
                .fetch_all(&self.pool)
                .await?;
                found.iter().map(sidecar_row).collect()
            }

            async fn record_alerts(
                &self,
                ctx: &Ctx,
                event_id: i64,
                transitions: &[seawall_monitor::Transition],
                snapshot: &seawall_monitor::alert::Snapshot,
            ) -> Result<()> {
                let mut tx = self.begin_write().await?;
                let slug = event_slug(&mut tx, event_id).await?;
                let target = format!("event:{slug}");
                for t in transitions {
                    let text = mon::to_json(t, "an alert transition")?;
                    let row = sqlx::query(
                        "INSERT INTO alert_transitions (event_id, rule, change, at_ms, transition) \
                         VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    )
                    .bind(event_id)
                    .bind(&t.rule)
                    .bind(mon::action(t))
                    .bind(mon::at_ms(t))
                    .bind(&text)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_error)?;
                    let id: i64 = row.try_get(0)?;
                    append(
                        &mut tx,
                        ctx,
                        mon::action(t),
                        &target,
                        &json!({
                            "id": id,
                            "rule": t.rule,
                            "state": t.state.name(),
                            "severity": t.severity.as_str(),
                            "at_ms": t.at_ms,
                            "value": t.value,
                            "threshold": t.threshold,
                            "inhibited_by": t.inhibited_by,
                        }),
                    )
                    .await?;
                }
                sqlx::query(
                    "INSERT INTO alert_snapshots (event_id, snapshot, updated_ms) VALUES ($1, $2, $3) \
                     ON CONFLICT (event_id) DO UPDATE SET snapshot = excluded.snapshot, \
                     updated_ms = excluded.updated_ms",
                )
                .bind(event_id)
                .bind(mon::to_json(snapshot, "the alert states")?)
                .bind(ctx.at_ms)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                tx.commit().await?;
                Ok(())
            }

            async fn alert_snapshot(
                &self,
                event_id: i64,
            ) -> Result<Option<seawall_monitor::alert::Snapshot>> {
                let row = sqlx::query("SELECT snapshot FROM alert_snapshots WHERE event_id = $1")
                    .bind(event_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| {
                    let text: String = r.try_get(0)?;
                    mon::from_json(&text, "stored alert states")
                })
                .transpose()
            }

            async fn alert_transitions(
                &self,
                event_id: i64,
                after_id: i64,
                limit: u32,
            ) -> Result<Vec<StoredTransition>> {
                let found = sqlx::query(
                    "SELECT id, event_id, transition FROM alert_transitions \
                     WHERE event_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                )
                .bind(event_id)
                .bind(after_id)
                .bind(i64::from(limit.min($crate::sql::CHANGES_CAP)))
                .fetch_all(&self.pool)
                .await?;
                found
                    .iter()
                    .map(|r| {
                        let text: String = r.try_get("transition")?;
                        Ok(StoredTransition {
                            id: r.try_get("id")?,
                            event_id: r.try_get("event_id")?,
                            transition: mon::from_json(&text, "a stored alert transition")?,
                        })
                    })
                    .collect()
            }

            async fn put_history(&self, event_id: i64, points: &[HistoryPoint]) -> Result<()> {
                if points.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await?;
                let mut ids: std::collections::HashMap<(&'static str, &str), i64> =
                    std::collections::HashMap::new();
                for p in points {
                    let Some(slot) = p.slot() else {
                        return Err(StoreError::Corrupt(format!(
                            "history tier {} does not exist",
                            p.tier
                        )));
                    };
                    let key = (p.kind.as_str(), p.target.as_str());
                    let series = match ids.get(&key) {
                        Some(id) => *id,
                        None => {
                            sqlx::query(
                                "INSERT INTO history_series (event_id, kind, target) \
                                 VALUES ($1, $2, $3) ON CONFLICT (event_id, kind, target) DO NOTHING",
                            )
                            .bind(event_id)
                            .bind(key.0)
                            .bind(key.1)
                            .execute(&mut *tx)
                            .await
                            .map_err(db_error)?;
                            let row = sqlx::query(
                                "SELECT id FROM history_series \
                                 WHERE event_id = $1 AND kind = $2 AND target = $3",
                            )
                            .bind(event_id)
                            .bind(key.0)
                            .bind(key.1)
                            .fetch_one(&mut *tx)
                            .await?;
                            let id: i64 = row.try_get(0)?;
                            ids.insert(key, id);
                            id
                        }
                    };
                    sqlx::query(
                        "INSERT INTO history_points (series_id, tier, slot, point) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (series_id, tier, slot) \
                         DO UPDATE SET point = excluded.point",
                    )
                    .bind(series)
                    .bind(i32::from(p.tier))
                    .bind(slot)
                    .bind(mon::encode_point(&p.point))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn history(
                &self,
                event_id: i64,
                kind: seawall_monitor::sample::TargetKind,
                target: &str,
                tier: u8,
            ) -> Result<Vec<seawall_monitor::history::Point>> {
                let found = sqlx::query(
                    "SELECT p.point FROM history_points p \
                     JOIN history_series s ON s.id = p.series_id \
                     WHERE s.event_id = $1 AND s.kind = $2 AND s.target = $3 AND p.tier = $4",
                )
                .bind(event_id)
                .bind(kind.as_str())
                .bind(target)
                .bind(i32::from(tier))
                .fetch_all(&self.pool)
                .await?;
                let mut points = found
                    .iter()
                    .map(|r| {
                        let bytes: Vec<u8> = r.try_get(0)?;
                        mon::decode_point(&bytes)
                    })
                    .collect::<Result<Vec<_>>>()?;
                points.sort_by_key(|p| p.t_s);
                Ok(points)
            }

            async fn create_emergency_run(
                &self,
                ctx: &Ctx,
                event_id: i64,
                new: &NewEmergencyRun,
            ) -> Result<EmergencyRun> {
                let mut tx = self.begin_write().await?;
                let slug = event_slug(&mut tx, event_id).await?;
                if !new.finished {
                    let open = sqlx::query(
                        "SELECT id FROM emergency_runs \
                         WHERE event_id = $1 AND plan_id = $2 AND finished = 0",
                    )
                    .bind(event_id)
                    .bind(&new.plan_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(open) = open {
                        let id: i64 = open.try_get(0)?;
                        return Err(StoreError::Conflict(format!(
                            "run {id} of emergency plan `{}` is not finished; \
                             finish, roll back or cancel it first",
                            new.plan_id
                        )));
                    }
                }
                let row = sqlx::query(
                    "INSERT INTO emergency_runs (event_id, plan_id, status, finished, state, \
                     version, requested_by, created_ms, updated_ms, plan_version) \
                     VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $7, $8) RETURNING id",
                )
                .bind(event_id)
                .bind(&new.plan_id)
                .bind(&new.status)
                .bind(i32::from(new.finished))
                .bind(&new.state)
                .bind(&new.requested_by)
                .bind(ctx.at_ms)
                .bind(new.plan_version)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                let run = EmergencyRun {
                    id: row.try_get(0)?,
                    event_id,
                    plan_id: new.plan_id.clone(),
                    plan_version: new.plan_version,
                    status: new.status.clone(),
                    finished: new.finished,
                    state: new.state.clone(),
                    version: 1,
                    requested_by: new.requested_by.clone(),
                    created_ms: ctx.at_ms,
                    updated_ms: ctx.at_ms,
                };
                append(
                    &mut tx,
                    ctx,
                    "emergency.run.requested",
                    &format!("emergency_run:{}", run.id),
                    &json!({
                        "event": slug,
                        "plan_id": run.plan_id,
                        "plan_version": run.plan_version,
                        "status": run.status,
                        "requested_by": run.requested_by,
                    }),
                )
                .await?;
                tx.commit().await?;
                Ok(run)
            }

            async fn emergency_run(&self, id: i64) -> Result<Option<EmergencyRun>> {
                let sql = sqlx::AssertSqlSafe(format!("{EMERGENCY_RUN} WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(emergency_run_row).transpose()
            }

            async fn emergency_runs(&self, event_id: i64) -> Result<Vec<EmergencyRun>> {
                let sql =
                    sqlx::AssertSqlSafe(format!("{EMERGENCY_RUN} WHERE event_id = $1 ORDER BY id"));
                let found = sqlx::query(sql).bind(event_id).fetch_all(&self.pool).await?;
                rows(found, emergency_run_row)
            }

            async fn unfinished_emergency_runs(&self) -> Result<Vec<EmergencyRun>> {
                let sql =
                    sqlx::AssertSqlSafe(format!("{EMERGENCY_RUN} WHERE finished = 0 ORDER BY id"));
                let found = sqlx::query(sql).fetch_all(&self.pool).await?;
                rows(found, emergency_run_row)
            }

            async fn update_emergency_run(
                &self,
                ctx: &Ctx,
                id: i64,
                version: i64,
                update: &EmergencyRunUpdate,
            ) -> Result<EmergencyRun> {
                let mut tx = self.begin_write().await?;
                let w = Versioned {
                    status: &update.status,
                    finished: update.finished,
                    state: &update.state,
                    action: &update.action,
                    detail: &update.detail,
                };
                let names = ("emergency run", "emergency_run");
                update_versioned(&mut tx, ctx, "emergency_runs", names, id, version, w).await?;
                let sql = sqlx::AssertSqlSafe(format!("{EMERGENCY_RUN} WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_one(&mut *tx).await?;
                let run = emergency_run_row(&row)?;
                tx.commit().await?;
                Ok(run)
            }

            async fn hold_trigger(
                &self,
                event_id: i64,
                plan_id: &str,
                now_ms: Millis,
            ) -> Result<TriggerEpisode> {
                const ONE: &str = "SELECT since_ms, started FROM trigger_episodes \
                                   WHERE event_id = $1 AND plan_id = $2";
                let episode = |row: &DbRow| -> Result<TriggerEpisode> {
                    Ok(TriggerEpisode {
                        event_id,
                        plan_id: plan_id.to_owned(),
                        since_ms: row.try_get(0)?,
                        started: row.try_get::<i32, _>(1)? != 0,
                    })
                };
                // Read first: an episode that holds is read every tick and
                // written once.
                let found = sqlx::query(ONE)
                    .bind(event_id)
                    .bind(plan_id)
                    .fetch_optional(&self.pool)
                    .await?;
                if let Some(row) = found {
                    return episode(&row);
                }
                sqlx::query(
                    "INSERT INTO trigger_episodes (event_id, plan_id, since_ms, started) \
                     VALUES ($1, $2, $3, 0) ON CONFLICT (event_id, plan_id) DO NOTHING",
                )
                .bind(event_id)
                .bind(plan_id)
                .bind(now_ms)
                .execute(&self.pool)
                .await
                .map_err(db_error)?;
                let row = sqlx::query(ONE)
                    .bind(event_id)
                    .bind(plan_id)
                    .fetch_one(&self.pool)
                    .await?;
                episode(&row)
            }

            async fn claim_trigger(
                &self,
                event_id: i64,
                plan_id: &str,
                since_ms: Millis,
            ) -> Result<bool> {
                let changed = sqlx::query(
                    "UPDATE trigger_episodes SET started = 1 \
                     WHERE event_id = $1 AND plan_id = $2 AND since_ms = $3 AND started = 0",
                )
                .bind(event_id)
                .bind(plan_id)
                .bind(since_ms)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(changed == 1)
            }

            async fn end_trigger(&self, event_id: i64, plan_id: &str) -> Result<()> {
                sqlx::query("DELETE FROM trigger_episodes WHERE event_id = $1 AND plan_id = $2")
                    .bind(event_id)
                    .bind(plan_id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn create_incident(
                &self,
                ctx: &Ctx,
                event_id: i64,
                new: &IncidentWrite,
            ) -> Result<StoredIncident> {
                let mut tx = self.begin_write().await?;
                let slug = event_slug(&mut tx, event_id).await?;
                if let (Some(key), true) = (&new.dedup_key, new.status != "resolved") {
                    let open = sqlx::query(
                        "SELECT id FROM incidents \
                         WHERE event_id = $1 AND dedup_key = $2 AND status <> 'resolved'",
                    )
                    .bind(event_id)
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(open) = open {
                        let id: i64 = open.try_get(0)?;
                        return Err(StoreError::Conflict(format!(
                            "incident {id} for `{key}` is not resolved; add to it or resolve it first"
                        )));
                    }
                }
                let row = sqlx::query(
                    "INSERT INTO incidents (event_id, status, severity, dedup_key, state, \
                     escalation, next_page_ms, version, created_ms, updated_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8) RETURNING id",
                )
                .bind(event_id)
                .bind(&new.status)
                .bind(&new.severity)
                .bind(&new.dedup_key)
                .bind(&new.state)
                .bind(&new.escalation)
                .bind(new.next_page_ms)
                .bind(ctx.at_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                let id: i64 = row.try_get(0)?;
                let mut detail = new.detail.clone();
                if let Some(obj) = detail.as_object_mut() {
                    obj.insert("event".into(), json!(slug));
                    obj.insert("severity".into(), json!(new.severity));
                    obj.insert("dedup_key".into(), json!(new.dedup_key));
                }
                append(&mut tx, ctx, "incident.opened", &format!("incident:{id}"), &detail)
                    .await?;
                tx.commit().await?;
                Ok(StoredIncident {
                    id,
                    event_id,
                    status: new.status.clone(),
                    severity: new.severity.clone(),
                    dedup_key: new.dedup_key.clone(),
                    state: new.state.clone(),
                    escalation: new.escalation.clone(),
                    next_page_ms: new.next_page_ms,
                    version: 1,
                    created_ms: ctx.at_ms,
                    updated_ms: ctx.at_ms,
                })
            }

            async fn incident(&self, id: i64) -> Result<Option<StoredIncident>> {
                let sql = sqlx::AssertSqlSafe(format!("{INCIDENT} WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(incident_row).transpose()
            }

            async fn incidents(&self, event_id: i64) -> Result<Vec<StoredIncident>> {
                let sql = sqlx::AssertSqlSafe(format!("{INCIDENT} WHERE event_id = $1 ORDER BY id"));
                let found = sqlx::query(sql).bind(event_id).fetch_all(&self.pool).await?;
                rows(found, incident_row)
            }

            async fn due_incidents(&self, now_ms: Millis) -> Result<Vec<StoredIncident>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "{INCIDENT} WHERE next_page_ms IS NOT NULL AND next_page_ms <= $1 \
                     ORDER BY next_page_ms, id"
                ));
                let found = sqlx::query(sql).bind(now_ms).fetch_all(&self.pool).await?;
                rows(found, incident_row)
            }

            async fn update_incident(
                &self,
                ctx: &Ctx,
                id: i64,
                version: i64,
                update: &IncidentWrite,
            ) -> Result<StoredIncident> {
                let mut tx = self.begin_write().await?;
                expect_version(&mut tx, "incidents", "incident", id, version).await?;
                sqlx::query(
                    "UPDATE incidents SET status = $1, severity = $2, state = $3, escalation = $4, \
                     next_page_ms = $5, version = version + 1, updated_ms = $6 \
                     WHERE id = $7 AND version = $8",
                )
                .bind(&update.status)
                .bind(&update.severity)
                .bind(&update.state)
                .bind(&update.escalation)
                .bind(update.next_page_ms)
                .bind(ctx.at_ms)
                .bind(id)
                .bind(version)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
                let mut detail = update.detail.clone();
                if let Some(obj) = detail.as_object_mut() {
                    obj.insert("status".into(), json!(update.status));
                    obj.insert("version".into(), json!(version + 1));
                }
                append(&mut tx, ctx, &update.action, &format!("incident:{id}"), &detail).await?;
                let sql = sqlx::AssertSqlSafe(format!("{INCIDENT} WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_one(&mut *tx).await?;
                let incident = incident_row(&row)?;
                tx.commit().await?;
                Ok(incident)
            }

            async fn create_drill(
                &self,
                ctx: &Ctx,
                event_id: i64,
                new: &DrillWrite,
            ) -> Result<StoredDrill> {
                let mut tx = self.begin_write().await?;
                let slug = event_slug(&mut tx, event_id).await?;
                if !new.finished {
                    let open = sqlx::query(
                        "SELECT id FROM drills WHERE event_id = $1 AND plan_id = $2 AND finished = 0",
                    )
                    .bind(event_id)
                    .bind(&new.plan_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(open) = open {
                        let id: i64 = open.try_get(0)?;
                        return Err(StoreError::Conflict(format!(
                            "drill {id} of emergency plan `{}` is still running; \
                             wait for its verdict or stop it first",
                            new.plan_id
                        )));
                    }
                }
                let row = sqlx::query(
                    "INSERT INTO drills (event_id, plan_id, status, finished, state, version, \
                     created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, 1, $6, $6) RETURNING id",
                )
                .bind(event_id)
                .bind(&new.plan_id)
                .bind(&new.status)
                .bind(i32::from(new.finished))
                .bind(&new.state)
                .bind(ctx.at_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                let id: i64 = row.try_get(0)?;
                let mut detail = new.detail.clone();
                if let Some(obj) = detail.as_object_mut() {
                    obj.insert("event".into(), json!(slug));
                    obj.insert("plan_id".into(), json!(new.plan_id));
                }
                append(&mut tx, ctx, &new.action, &format!("drill:{id}"), &detail).await?;
                tx.commit().await?;
                Ok(StoredDrill {
                    id,
                    event_id,
                    plan_id: new.plan_id.clone(),
                    status: new.status.clone(),
                    finished: new.finished,
                    state: new.state.clone(),
                    version: 1,
                    created_ms: ctx.at_ms,
                    updated_ms: ctx.at_ms,
                })
            }

            async fn drill(&self, id: i64) -> Result<Option<StoredDrill>> {
                let sql = sqlx::AssertSqlSafe(format!("{DRILL} WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(drill_row).transpose()
            }

            async fn drills(&self, event_id: i64) -> Result<Vec<StoredDrill>> {
                let sql = sqlx::AssertSqlSafe(format!("{DRILL} WHERE event_id = $1 ORDER BY id"));
                let found = sqlx::query(sql).bind(event_id).fetch_all(&self.pool).await?;
                rows(found, drill_row)
            }

            async fn update_drill(
                &self,
                ctx: &Ctx,
                id: i64,
                version: i64,
                update: &DrillWrite,
            ) -> Result<StoredDrill> {
                let mut tx = self.begin_write().await?;
                let w = Versioned {
                    status: &update.status,
                    finished: update.finished,
                    state: &update.state,
                    action: &update.action,
                    detail: &update.detail,
                };
                update_versioned(&mut tx, ctx, "drills", ("drill", "drill"), id, version, w).await?;
                let sql = sqlx::AssertSqlSafe(format!("{DRILL} WHERE id = $1"));
                let row = sqlx::query(sql).bind(id).fetch_one(&mut *tx).await?;
                let drill = drill_row(&row)?;
                tx.commit().await?;
                Ok(drill)
            }

            async fn append_audit(&self, ctx: &Ctx, new: &NewAudit) -> Result<AuditEntry> {
                let mut tx = self.begin_write().await?;
                let entry = append(&mut tx, ctx, &new.action, &new.target, &new.detail).await?;
                tx.commit().await?;
                Ok(entry)
            }

            async fn audit(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEntry>> {
                let found = sqlx::query(
                    "SELECT seq, at_ms, actor, action, target, detail, prev_hash, hash \
                     FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(after_seq)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows(found, audit_row)
            }
        }
    };
}

pub(crate) use sql_store;
