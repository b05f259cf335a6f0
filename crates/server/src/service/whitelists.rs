//! Gray-release whitelists at the size of a real one (docs/scale-out.md,
//! "Gray release at the size of a real whitelist"): a commander uploads a
//! service's whitelist as text (one id per line, judged by the plan's own
//! rules for whitelist files); it is stored, audited, as the service's next
//! version in seawall-guard's compact form; sidecars follow it with a long
//! poll that answers with the change from the version they have (or the
//! whole set) in the binary wire form.
//!
//! Why not inside the rules document: two million ids are 20 MB of JSON a
//! sidecar would parse on every rule change, and every rule version would
//! carry them again. A whitelist has its own versions and travels as
//! sorted 64-bit keys, so a new version costs a sidecar only its delta.
//!
//! Bounds: an upload of at most [`MAX_UPLOAD_BYTES`] and
//! `seawall_plan::whitelist::MAX_IDS` ids; a refused upload stores
//! nothing. Polls share one read of a service's versions per [`RECHECK`]
//! (per replica), are woken at once by an upload through this replica, and
//! decoded sets are cached by their SHA-256 (a few at a time), so 2,000
//! following sidecars do not each decode 16 MB.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
pub use seawall_api::whitelists::{WhitelistInfo, WhitelistPollQuery};
use seawall_guard::whitelist::{Delta, Whitelist};
use seawall_store::NewWhitelist;
use tokio::sync::Notify;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::service::rules::{MAX_WAIT_SECONDS, check_service};
use crate::state::AppState;

/// Largest upload body (bytes): ten million ids of up to ~12 characters.
pub const MAX_UPLOAD_BYTES: usize = 128 * 1024 * 1024;

/// Longest note (characters).
pub const MAX_NOTE_CHARS: usize = 2_000;

/// How often a waiting poll re-reads the versions (another replica's
/// uploads are seen within this).
pub const RECHECK: Duration = Duration::from_secs(1);

/// Decoded sets kept (by SHA-256 of their stored form).
const DECODED: usize = 4;

/// Wakes this replica's waiting polls after an upload.
static UPLOADED: Notify = Notify::const_new();

/// When each (store, service)'s latest version was read, and what it was.
type Latest = HashMap<(usize, String), (Instant, i64)>;

/// The latest version per (store, service), read at most once per RECHECK.
static LATEST: Mutex<Option<Latest>> = Mutex::new(None);

/// Decoded sets by SHA-256, most recent last.
static SETS: Mutex<Vec<(String, Arc<Whitelist>)>> = Mutex::new(Vec::new());

fn store_key(state: &AppState) -> usize {
    Arc::as_ptr(&state.store).cast::<()>() as usize
}

fn info(i: seawall_store::WhitelistInfo) -> WhitelistInfo {
    WhitelistInfo {
        service: i.service,
        version: i.version,
        count: i.count,
        bytes: i.bytes,
        sha256: i.sha256,
        note: i.note,
        created_ms: i.created_ms,
        created_by: i.created_by,
    }
}

/// Store `body` (text, one id per line) as `service`'s next whitelist
/// version. 415 unless `text/plain`, 413 past [`MAX_UPLOAD_BYTES`], 422
/// `invalid_whitelist` (with the line and column) for a bad id, too many
/// ids or text that is not UTF-8; nothing is stored then.
pub(crate) async fn upload(
    state: &AppState,
    auth: &Auth,
    service: String,
    content_type: Option<&str>,
    body: Body,
    note: Option<String>,
) -> Result<WhitelistInfo, ApiError> {
    check_service(&service)?;
    let note = note.unwrap_or_default();
    let chars = note.chars().count();
    if chars > MAX_NOTE_CHARS {
        return Err(ApiError::too_long("note", MAX_NOTE_CHARS, chars));
    }
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .unwrap_or("");
    if !mime.eq_ignore_ascii_case(seawall_api::whitelists::UPLOAD_CONTENT_TYPE) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "a whitelist is text, one id per line: send `Content-Type: text/plain` (got {})",
            if mime.is_empty() {
                "no Content-Type".to_owned()
            } else {
                format!("`{mime}`")
            }
        )));
    }
    let bytes = Limited::new(body, MAX_UPLOAD_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::PayloadTooLarge(format!(
                    "a whitelist upload is at most {MAX_UPLOAD_BYTES} bytes"
                ))
            } else {
                ApiError::bad_request("bad_body", format!("cannot read the body: {e}"))
            }
        })?
        .to_bytes();
    // Parsing and sorting millions of ids takes a while: off the runtime.
    let encoded = tokio::task::spawn_blocking(move || encode(&bytes))
        .await
        .map_err(|e| ApiError::Internal(format!("whitelist parser: {e}")))??;
    let (keys, count) = encoded;
    let stored = state
        .store
        .put_whitelist(
            &auth.ctx(state),
            &NewWhitelist {
                service,
                keys,
                count,
                note,
            },
        )
        .await?;
    forget(state, &stored.service);
    UPLOADED.notify_waiters();
    Ok(info(stored))
}

/// The stored form of an upload's text and its distinct ids, or why not.
fn encode(bytes: &[u8]) -> Result<(Vec<u8>, i64), ApiError> {
    let invalid = |message: String, details: Option<serde_json::Value>| ApiError::Unprocessable {
        code: "invalid_whitelist",
        message,
        details,
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        invalid(
            format!("the whitelist is not UTF-8 text (byte {})", e.valid_up_to()),
            None,
        )
    })?;
    let ids = seawall_plan::whitelist::ids(text).map_err(|b| {
        invalid(
            format!("not a user id at {b}"),
            Some(serde_json::json!({"line": b.line, "column": b.column})),
        )
    })?;
    let set = Whitelist::from_ids(0, ids);
    let count = i64::try_from(set.len()).unwrap_or(i64::MAX);
    Ok((set.full().encode(), count))
}

/// Drops the cached latest version of `service` (an upload through this
/// replica).
fn forget(state: &AppState, service: &str) {
    let mut latest = LATEST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(map) = latest.as_mut() {
        map.remove(&(store_key(state), service.to_owned()));
    }
}

/// The latest version of `service` (0: none), read at most once per
/// [`RECHECK`].
async fn latest_version(state: &AppState, service: &str) -> Result<i64, ApiError> {
    let key = (store_key(state), service.to_owned());
    {
        let latest = LATEST.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, v)) = latest.as_ref().and_then(|m| m.get(&key))
            && at.elapsed() < RECHECK
        {
            return Ok(*v);
        }
    }
    let history = state.store.whitelist_history(service).await?;
    let v = history.last().map_or(0, |i| i.version);
    let mut latest = LATEST.lock().unwrap_or_else(|e| e.into_inner());
    let map = latest.get_or_insert_with(HashMap::new);
    // Bounded by the services followed; stale entries are simply re-read.
    if map.len() > 10_000 {
        map.clear();
    }
    map.insert(key, (Instant::now(), v));
    Ok(v)
}

/// Version `version` of `service`'s set, decoded (cached by SHA-256; the
/// set's own version number is not used).
async fn set(
    state: &AppState,
    service: &str,
    version: i64,
) -> Result<Option<Arc<Whitelist>>, ApiError> {
    let Some((stored, bytes)) = state.store.whitelist_keys(service, Some(version)).await? else {
        return Ok(None);
    };
    {
        let sets = SETS.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, w)) = sets.iter().find(|(sha, _)| *sha == stored.sha256) {
            return Ok(Some(Arc::clone(w)));
        }
    }
    let decoded = tokio::task::spawn_blocking(move || {
        Delta::decode(&bytes).and_then(|d| Whitelist::default().apply(&d))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("whitelist decoder: {e}")))?
    .map_err(|e| ApiError::Internal(format!("stored whitelist of `{service}`: {e}")))?;
    let w = Arc::new(decoded);
    let mut sets = SETS.lock().unwrap_or_else(|e| e.into_inner());
    sets.retain(|(sha, _)| *sha != stored.sha256);
    sets.push((stored.sha256, Arc::clone(&w)));
    if sets.len() > DECODED {
        sets.remove(0);
    }
    Ok(Some(w))
}

/// The long poll: the latest version in the wire form — the change from
/// `since` when the server has that version and the change is smaller than
/// the set, else the whole set — as soon as it differs from `since`;
/// `None` after `wait` (or when the service has no whitelist).
pub(crate) async fn wait_for_whitelist(
    state: &AppState,
    q: &WhitelistPollQuery,
) -> Result<Option<(i64, Bytes)>, ApiError> {
    check_service(&q.service)?;
    let wait = Duration::from_secs(q.wait.unwrap_or(30).min(MAX_WAIT_SECONDS));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let woken = UPLOADED.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let latest = latest_version(state, &q.service).await?;
        if latest != 0 && latest != q.since {
            let Some(new) = set(state, &q.service, latest).await? else {
                return Ok(None);
            };
            let old = if q.since > 0 && q.since < latest {
                set(state, &q.service, q.since).await?
            } else {
                None
            };
            let (since, version) = (
                u64::try_from(q.since).unwrap_or(0),
                u64::try_from(latest).unwrap_or(0),
            );
            let bytes = tokio::task::spawn_blocking(move || {
                let mut delta = match old {
                    Some(old) => {
                        let mut d = new.delta_from(&old);
                        d.base = since;
                        if d.added.len() + d.removed.len() < new.len() {
                            d
                        } else {
                            new.full()
                        }
                    }
                    None => new.full(),
                };
                delta.version = version;
                Bytes::from(delta.encode())
            })
            .await
            .map_err(|e| ApiError::Internal(format!("whitelist encoder: {e}")))?;
            return Ok(Some((latest, bytes)));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        let nap = (deadline - now).min(RECHECK);
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(nap) => {}
            () = state.shutting_down() => return Ok(None),
        }
    }
}

/// A service's versions, oldest first.
pub(crate) async fn history(
    state: &AppState,
    service: &str,
) -> Result<Vec<WhitelistInfo>, ApiError> {
    check_service(service)?;
    Ok(state
        .store
        .whitelist_history(service)
        .await?
        .into_iter()
        .map(info)
        .collect())
}
