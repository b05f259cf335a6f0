//! Guard rule distribution as the API serves it (and later pages will):
//! rules derived from an event's plan and measured capacity, a
//! commander's adjustment, the sidecars' long poll and their reports of
//! what they applied. Every change is a new stored, audited version per
//! service.
//!
//! Thousands of sidecars follow a service, so the long poll never reads
//! the store per poll: it is served from [`RuleCache`] (see
//! `service::rule_cache`), which the requests that store a version fill.

use std::net::IpAddr;
use std::time::Duration;

pub use seawall_api::rules::{Adjust, Applied, DeriveResult, Derived, PollQuery, Rules, RulesInfo};
use seawall_guard::RuleSet;
use seawall_guard::derive;
use seawall_plan::{capacity, targets};
use seawall_store::{NewAudit, NewRuleVersion, RuleSource, RuleVersion, SidecarReport};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::service::monitoring::admission;
use crate::service::plans;
pub(crate) use crate::service::rule_cache::served;
pub use crate::service::rule_cache::{CacheReads, RECHECK, RuleCache};
use crate::state::AppState;

/// Longest long poll, in seconds.
pub const MAX_WAIT_SECONDS: u64 = 60;

pub(crate) fn info(v: &RuleVersion) -> RulesInfo {
    RulesInfo {
        version: v.version,
        sha256: v.sha256.clone(),
        source: v.source.as_str().to_owned(),
        plan_version: v.plan_version,
        note: v.note.clone(),
        created_ms: v.created_ms,
        created_by: v.created_by.clone(),
    }
}

/// The document as stored: the rule set as JSON with version 0 (the store
/// numbers versions), so equal rules give equal text.
pub(crate) fn document(mut rules: RuleSet) -> Result<String, ApiError> {
    rules.version = 0;
    serde_json::to_string(&rules)
        .map_err(|e| ApiError::Internal(format!("cannot serialise rules: {e}")))
}

pub(crate) fn check_service(service: &str) -> Result<(), ApiError> {
    let ok = !service.is_empty()
        && service.len() <= 200
        && !service.chars().any(|c| c.is_control() || c == '/');
    if ok {
        Ok(())
    } else {
        Err(ApiError::unprocessable(
            "invalid_service",
            format!("service {service:?} is not a service name (1–200 characters, no `/`)"),
        ))
    }
}

/// Derive every service's rules from event `slug`'s current plan and runs
/// (`safety`: the derive's factor, default [`derive::DEFAULT_SAFETY`]) and
/// store each that changed as its next version, as `auth`.
pub(crate) async fn derive(
    state: &AppState,
    auth: &Auth,
    slug: &str,
    safety: Option<f64>,
) -> Result<DeriveResult, ApiError> {
    let safety = safety.unwrap_or(derive::DEFAULT_SAFETY);
    if !(safety > 0.0 && safety <= 1.0) {
        return Err(ApiError::unprocessable(
            "invalid_safety",
            format!("safety {safety} is out of range: give a factor above 0 and at most 1"),
        ));
    }
    let plans::Analysed {
        version: plan_version,
        plan,
        measured,
    } = plans::analysed(state, slug, None).await?;
    let table = capacity::table(&plan, &targets::decompose(&plan), &measured);
    let whole = derive::from_plan(&plan, &table, safety)
        .map_err(|e| ApiError::unprocessable("invalid_rules", e.to_string()))?;
    let source = measured.source.clone().unwrap_or_else(|| "none".to_owned());
    let ctx = auth.ctx(state);
    let mut out = Vec::new();
    for service in plan.services.keys() {
        let rules = derive::for_service(&plan, &whole.rules, service)
            .map_err(|e| ApiError::unprocessable("invalid_rules", format!("{service}: {e}")))?;
        let doc = document(rules)?;
        let latest = state.store.rules(service, None).await?;
        if let Some(l) = latest.as_ref().filter(|l| l.document == doc) {
            out.push(Derived {
                service: service.clone(),
                version: l.version,
                changed: false,
            });
            continue;
        }
        let stored = state
            .store
            .put_rules(
                &ctx,
                &NewRuleVersion {
                    service: service.clone(),
                    document: doc,
                    source: RuleSource::Derived,
                    plan_version: Some(plan_version),
                    note: format!(
                        "derived from {slug} plan v{plan_version}, safety {safety}, measured: {source}"
                    ),
                },
            )
            .await?;
        state.rule_cache().stored(&stored).await?;
        out.push(Derived {
            service: service.clone(),
            version: stored.version,
            changed: true,
        });
    }
    state.notify_change();
    let changed: Vec<String> = out
        .iter()
        .filter(|d| d.changed)
        .map(|d| format!("{} v{}", d.service, d.version))
        .collect();
    if !changed.is_empty() {
        let said = format!(
            "guard rules derived from plan v{plan_version} (safety {safety}): {}",
            changed.join(", ")
        );
        if let Ok(event) = crate::service::events::find(state, slug).await {
            crate::service::incidents::hooks::on_rules_derived(
                state,
                event.id,
                auth.actor(),
                &said,
            )
            .await;
        }
    }
    Ok(DeriveResult {
        plan_version,
        measured: source,
        services: out,
    })
}

/// Store a commander's rule set for `service` as its next version, as
/// `auth` (a note says why; the guard must accept the rules).
pub(crate) async fn adjust_rules(
    state: &AppState,
    auth: &Auth,
    service: String,
    req: &Adjust,
) -> Result<Rules, ApiError> {
    check_service(&service)?;
    crate::extract::cap("note", &req.note, crate::state::MAX_NOTE_CHARS)?;
    let note = req.note.trim();
    if note.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_note",
            "say why the rules change in `note`; it is kept with the version for the review",
        ));
    }
    let rules = RuleSet::from_json(&req.rules.to_string()).map_err(|e| {
        ApiError::unprocessable(
            "invalid_rules",
            format!("the rules are not a valid rule document (docs/guard-rules.md): {e}"),
        )
    })?;
    let stored = state
        .store
        .put_rules(
            &auth.ctx(state),
            &NewRuleVersion {
                service,
                document: document(rules)?,
                source: RuleSource::Adjusted,
                plan_version: None,
                note: note.to_owned(),
            },
        )
        .await?;
    state.rule_cache().stored(&stored).await?;
    state.notify_change();
    let said = format!(
        "guard rules of {} adjusted to v{}: {note}",
        stored.service, stored.version
    );
    crate::service::incidents::hooks::on_rules_adjusted(
        state,
        &stored.service,
        auth.actor(),
        &said,
    )
    .await;
    served(stored)
}

/// The long poll: `service`'s latest rules once they differ from
/// `since` (`None`: nothing newer within `wait`, or the server is
/// shutting down). Served from [`RuleCache`]: a waiting poll wakes when
/// the cache's versions move, and at most every [`RECHECK`] to let the
/// cache ask the store about other replicas' versions.
pub(crate) async fn wait_for_rules(
    state: &AppState,
    q: &PollQuery,
) -> Result<Option<Rules>, ApiError> {
    check_service(&q.service)?;
    let wait = Duration::from_secs(q.wait.unwrap_or(30).min(MAX_WAIT_SECONDS));
    let deadline = tokio::time::Instant::now() + wait;
    let cache = state.rule_cache();
    let mut moved = cache.subscribe();
    loop {
        // Subscribed before reading: a version cached after the read wakes us.
        moved.borrow_and_update();
        if let Some(latest) = cache
            .latest_after(state.store.as_ref(), &q.service, q.since)
            .await?
            && latest.version != q.since
        {
            return Ok(Some(Rules::clone(&latest)));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let nap = (deadline - now).min(RECHECK);
        tokio::select! {
            _ = moved.changed() => {}
            () = tokio::time::sleep(nap) => {}
            () = state.shutting_down() => return Ok(None),
        }
    }
}

/// Whether `addr` is an admin address as the API document's pattern says:
/// `^[A-Za-z0-9.:\[\]_-]+:[0-9]{1,5}$`, 3 to 200 characters.
fn admin_addr_ok(addr: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".:[]_-".contains(c);
    let Some((host, port)) = addr.rsplit_once(':') else {
        return false;
    };
    (3..=200).contains(&addr.chars().count())
        && !host.is_empty()
        && host.chars().all(allowed)
        && (1..=5).contains(&port.len())
        && port.chars().all(|c| c.is_ascii_digit())
}

/// Record what a sidecar applied, as `auth` (a sidecar token for its own
/// service) over a connection from `peer`: a bounded instance name, a
/// version that exists, at most
/// [`crate::state::Limits::max_sidecars_per_service`] instances. An admin
/// address the built-in scrape may not use
/// ([`crate::service::monitoring::admission`]) is left out of the stored
/// report, logged and audited (`sidecar.admin_addr_refused`); the report
/// itself is recorded, so the sidecar keeps following.
pub(crate) async fn record_applied(
    state: &AppState,
    auth: &Auth,
    peer: Option<IpAddr>,
    mut a: Applied,
) -> Result<(), ApiError> {
    check_service(&a.service)?;
    let instance = a.instance.trim();
    if instance.is_empty() || instance.len() > 200 || instance.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "invalid_instance",
            "`instance` must name the sidecar (1–200 characters, no control characters)",
        ));
    }
    if let Some(addr) = &a.admin_addr
        && !admin_addr_ok(addr)
    {
        return Err(ApiError::unprocessable(
            "invalid_admin_addr",
            "`admin_addr` must be the sidecar's admin `host:port` (3–200 characters: letters, \
             digits, `.`, `:`, `[`, `]`, `_`, `-`, then `:` and a port of 1–5 digits)",
        ));
    }
    // The cache's version, or the store's when the sidecar names a newer
    // one (stored through another replica since the cache last looked).
    let mut latest = state
        .rule_cache()
        .latest(state.store.as_ref(), &a.service)
        .await?
        .map_or(0, |v| v.version);
    if a.version > latest {
        latest = state
            .store
            .rules(&a.service, None)
            .await?
            .map_or(0, |v| v.version);
    }
    if a.version < 0 || a.version > latest {
        return Err(ApiError::unprocessable(
            "invalid_version",
            format!(
                "`version` {} is not a version of `{}`'s rules (0 to {latest})",
                a.version, a.service
            ),
        ));
    }
    let known = state.store.sidecar_reports(&a.service).await?;
    let max = state.limits().max_sidecars_per_service;
    if known.len() >= max && !known.iter().any(|r| r.instance == instance) {
        return Err(ApiError::Conflict(format!(
            "service `{}` has {} sidecar instances reporting already, the most this server \
             keeps; reuse instance names (--instance) or raise the limit",
            a.service,
            known.len()
        )));
    }
    if let Some(addr) = a.admin_addr.take() {
        let allow = &state.monitor().options.scrape_allow;
        match admission::admit(&addr, peer, allow) {
            Ok(()) => a.admin_addr = Some(addr),
            Err(why) => refuse_admin_addr(state, auth, peer, &a, instance, &addr, &why).await?,
        }
    }
    state
        .store
        .report_applied(
            &auth.ctx(state),
            &SidecarReport {
                service: a.service,
                instance: instance.to_owned(),
                applied_version: a.version,
                reported_ms: state.now(),
                admin_addr: a.admin_addr,
            },
        )
        .await?;
    Ok(())
}

/// Log and audit an admin address the built-in scrape will not use.
async fn refuse_admin_addr(
    state: &AppState,
    auth: &Auth,
    peer: Option<IpAddr>,
    a: &Applied,
    instance: &str,
    addr: &str,
    why: &admission::Refusal,
) -> Result<(), ApiError> {
    let peer = peer.map(|p| p.to_canonical().to_string());
    tracing::warn!(
        service = %a.service,
        instance,
        admin_addr = addr,
        peer = peer.as_deref().unwrap_or("unknown"),
        "sidecar admin address refused for scraping: {why}"
    );
    state
        .store
        .append_audit(
            &auth.ctx(state),
            &NewAudit {
                action: "sidecar.admin_addr_refused".to_owned(),
                target: format!("service:{}", a.service),
                detail: serde_json::json!({
                    "instance": instance,
                    "admin_addr": addr,
                    "peer": peer,
                    "reason": why.to_string(),
                }),
            },
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use seawall_store::{Ctx, NewToken, Role, StoreSpec};

    /// Two replicas (two server states, each with its own cache) on one
    /// database, and an admin of it.
    async fn replicas() -> (tempfile::TempDir, AppState, AppState, Auth) {
        let dir = tempfile::tempdir().expect("dir");
        let store = seawall_store::open(&StoreSpec::Sqlite(dir.path().join("s.db")))
            .await
            .expect("store");
        let a = AppState::new(Arc::clone(&store), dir.path());
        let b = AppState::new(store, dir.path());
        let token = a
            .store
            .create_token(
                &Ctx::new("setup", 1),
                &NewToken {
                    name: "ana".into(),
                    role: Role::Admin,
                    business_line: None,
                    secret_sha256: seawall_store::sha256_hex(b"not a secret"),
                    expires_ms: None,
                    service: None,
                    event: None,
                },
            )
            .await
            .expect("token");
        let auth = Auth::from_token(&a, token).expect("auth");
        (dir, a, b, auth)
    }

    async fn adjust(state: &AppState, auth: &Auth, count: u32) -> i64 {
        let req = Adjust {
            rules: serde_json::json!({"version": 0, "resources": [{"name": "create-order",
                "flow": [{"id": "qps", "count": count}]}]}),
            note: format!("limit {count}"),
        };
        adjust_rules(state, auth, "order-api".into(), &req)
            .await
            .expect("adjust")
            .version
    }

    /// 2,000 sidecars follow the service on each of two replicas: a change
    /// through one wakes every poll on both with the new version, and
    /// costs each replica at most one read of the rules (the version
    /// queries are shared by all the polls, at most one per `RECHECK`).
    #[tokio::test]
    async fn a_change_reaches_4000_polls_on_two_replicas_with_one_read_each() {
        const POLLS: usize = 2_000;
        let (_dir, a, b, auth) = replicas().await;
        let v1 = adjust(&a, &auth, 100).await;
        let mut polls = tokio::task::JoinSet::new();
        for state in [&a, &b] {
            for _ in 0..POLLS {
                let state = state.clone();
                polls.spawn(async move {
                    let q = PollQuery {
                        service: "order-api".into(),
                        since: v1,
                        wait: Some(30),
                    };
                    wait_for_rules(&state, &q).await
                });
            }
        }
        // Every poll is waiting (subscribed, has read the cache, asleep).
        let started = tokio::time::Instant::now();
        while a.rule_cache().waiting() < POLLS || b.rule_cache().waiting() < POLLS {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "polls did not start"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let before = [a.rule_cache().reads(), b.rule_cache().reads()];
        assert!(
            before.iter().all(|r| r.body_reads <= 1),
            "one read of the rules per replica for all the polls: {before:?}"
        );

        let changed = tokio::time::Instant::now();
        let v2 = adjust(&a, &auth, 200).await;
        assert_eq!(v2, v1 + 1);
        let mut woken = 0;
        while let Some(answer) = tokio::time::timeout(RECHECK * 5, polls.join_next())
            .await
            .expect("every poll wakes")
        {
            let rules = answer
                .expect("poll task")
                .expect("poll")
                .expect("new rules");
            assert_eq!(rules.version, v2);
            assert_eq!(rules.rules["resources"][0]["flow"][0]["count"], 200.0);
            woken += 1;
        }
        let took = changed.elapsed();
        assert_eq!(woken, 2 * POLLS);
        assert!(
            took < RECHECK * 3,
            "the other replica's polls woke within a recheck: {took:?}"
        );

        let after = [a.rule_cache().reads(), b.rule_cache().reads()];
        // The replica that stored the change serves it without a read; the
        // other reads it once.
        assert_eq!(after[0].body_reads, before[0].body_reads, "{after:?}");
        assert_eq!(after[1].body_reads, before[1].body_reads + 1, "{after:?}");
        // Version queries: at most one per RECHECK while polls waited
        // (the change took under three), whatever the number of polls.
        for (b, a) in before.iter().zip(&after) {
            assert!(
                a.version_queries - b.version_queries <= 4,
                "version queries are shared: {before:?} → {after:?}"
            );
        }
    }

    /// A sidecar that got a version from one replica and then polls
    /// another whose cache has not seen it yet is never sent back to the
    /// older version: the cache asks the store at once.
    #[tokio::test]
    async fn a_poll_naming_a_version_the_cache_has_not_seen_gets_no_older_one() {
        let (_dir, a, b, auth) = replicas().await;
        let v1 = adjust(&a, &auth, 100).await;
        let poll = |since| PollQuery {
            service: "order-api".into(),
            since,
            wait: Some(0),
        };
        let got = wait_for_rules(&b, &poll(0))
            .await
            .expect("poll")
            .expect("v1");
        assert_eq!(got.version, v1);
        // Stored through A; B's cache was filled just now and still says v1.
        let v2 = adjust(&a, &auth, 200).await;
        let got = wait_for_rules(&b, &poll(v2)).await.expect("poll");
        assert!(
            got.is_none(),
            "nothing newer than v{v2}, not v{v1}: {got:?}"
        );
        let got = wait_for_rules(&b, &poll(v1))
            .await
            .expect("poll")
            .expect("v2");
        assert_eq!(got.version, v2);
    }

    /// A sidecar's report of a version stored through another replica a
    /// moment ago is accepted (the cache is asked, then the store).
    #[tokio::test]
    async fn a_report_of_a_version_newer_than_the_cache_is_checked_in_the_store() {
        let (_dir, a, b, auth) = replicas().await;
        let v1 = adjust(&a, &auth, 100).await;
        let report = |version| Applied {
            service: "order-api".into(),
            instance: "i-1".into(),
            version,
            admin_addr: None,
        };
        record_applied(&b, &auth, None, report(v1))
            .await
            .expect("v1");
        let v2 = adjust(&a, &auth, 200).await;
        record_applied(&b, &auth, None, report(v2))
            .await
            .expect("v2 from the store");
        let err = record_applied(&b, &auth, None, report(v2 + 1))
            .await
            .expect_err("no such version");
        assert!(
            matches!(
                err,
                ApiError::Unprocessable {
                    code: "invalid_version",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
