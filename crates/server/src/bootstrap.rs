//! The first admin token. On a start with no tokens at all, the server
//! makes an admin token named `admin` and writes its secret to
//! `<data-dir>/admin-token` (mode 0600, whole or not at all) — and only
//! there: the [`notice`] the caller prints names the file, never the
//! secret, so it does not end up in terminal scrollback, container logs or
//! log shippers. Any later start finds a token and does nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use seawall_store::{NewToken, Role, StoreError};

use crate::auth::{new_secret, secret_hash};
use crate::state::AppState;

/// Name of the bootstrap token.
pub const ADMIN_NAME: &str = "admin";
/// Actor recorded for its creation.
pub const BOOTSTRAP_ACTOR: &str = "bootstrap";
/// File in the data directory holding its secret.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// The admin token made on first start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapToken {
    /// Its secret.
    pub secret: String,
    /// Where the secret was written.
    pub path: PathBuf,
}

/// Why the bootstrap token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The store failed.
    #[error("cannot make the first admin token")]
    Store(#[from] StoreError),
    /// No randomness.
    #[error("cannot make the first admin token: {0}")]
    Random(String),
    /// The secret file cannot be written.
    #[error("cannot write the admin token to {path} (check the data directory's permissions)")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Make the admin token if the store has no token at all.
pub async fn ensure_admin(state: &AppState) -> Result<Option<BootstrapToken>, BootstrapError> {
    if !state.store.tokens().await?.is_empty() {
        finish_interrupted(state).await?;
        return Ok(None);
    }

    let secret = new_secret().map_err(|e| BootstrapError::Random(e.to_string()))?;
    let path = state.data_dir().join(ADMIN_TOKEN_FILE);
    let tmp = state
        .data_dir()
        .join(format!(".{ADMIN_TOKEN_FILE}.{}.tmp", std::process::id()));
    // A file left by a start that died here (same pid: PID 1 in a container).
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, secret.as_bytes()).map_err(|source| BootstrapError::File {
        path: tmp.clone(),
        source,
    })?;
    let created = state
        .store
        .create_token(
            &state.ctx(BOOTSTRAP_ACTOR),
            &NewToken {
                name: ADMIN_NAME.to_owned(),
                role: Role::Admin,
                business_line: None,
                secret_sha256: secret_hash(&secret),
                expires_ms: None,
                service: None,
                event: None,
            },
        )
        .await;
    match created {
        Ok(_) => {}
        // Another replica made it first (PostgreSQL): its secret stands.
        Err(StoreError::Conflict(_)) => {
            let _ = std::fs::remove_file(&tmp);
            return Ok(None);
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
    }
    std::fs::rename(&tmp, &path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        BootstrapError::File {
            path: path.clone(),
            source,
        }
    })?;
    Ok(Some(BootstrapToken { secret, path }))
}

/// A first start killed after its token was stored but before the
/// secret's file was renamed into place left the secret in its temporary
/// file only: finish the rename, so the admin token is not stranded and
/// nobody has to go looking for it. Only a file whose secret is the
/// stored `admin` token's is taken; others (secrets never stored) are
/// removed. Files of a process still running (another replica sharing
/// the data directory, finishing its own start) are left to it.
async fn finish_interrupted(state: &AppState) -> Result<(), BootstrapError> {
    let path = state.data_dir().join(ADMIN_TOKEN_FILE);
    let pending = pending_files(state.data_dir());
    if pending.is_empty() {
        return Ok(());
    }
    for (tmp, secret) in pending {
        let ours = match state.store.token_by_hash(&secret_hash(&secret)).await? {
            Some(t) => t.name == ADMIN_NAME && t.created_by == BOOTSTRAP_ACTOR,
            None => false,
        };
        if ours && !path.exists() && std::fs::rename(&tmp, &path).is_ok() {
            tracing::warn!(
                file = %path.display(),
                "the first start was interrupted before the admin token's file was in place; \
                 it is now"
            );
        } else {
            let _ = std::fs::remove_file(&tmp);
        }
    }
    Ok(())
}

/// `.admin-token.<pid>.tmp` files in the data directory left by a process
/// that no longer runs (or by an earlier life of this process id), and the
/// secret each holds.
fn pending_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let prefix = format!(".{ADMIN_TOKEN_FILE}.");
    let running = |pid: &str| {
        pid != std::process::id().to_string()
            && Path::new("/proc/self").exists()
            && Path::new("/proc").join(pid).exists()
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name().to_str().is_some_and(|n| {
                n.strip_prefix(&prefix)
                    .and_then(|rest| rest.strip_suffix(".tmp"))
                    .is_some_and(|pid| !running(pid))
            })
        })
        .map(|e| {
            let secret = std::fs::read_to_string(e.path())
                .map(|s| s.trim().to_owned())
                .unwrap_or_default();
            (e.path(), secret)
        })
        .collect()
}

/// Write a new file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// The notice shown once on the first start: where the secret is, never
/// the secret itself.
pub fn notice(token: &BootstrapToken) -> String {
    format!(
        "First start: made the admin token `{ADMIN_NAME}`; its secret is in {} (mode 0600, \
         readable by this user only). Read it from there (SEAWALL_TOKEN=$(cat {})), make other \
         tokens with `seawall token create`, and keep the file safe or delete it once you have \
         made your own admin token.",
        token.path.display(),
        token.path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn state(dir: &Path) -> AppState {
        let store = seawall_store::open(&seawall_store::StoreSpec::Sqlite(dir.join("seawall.db")))
            .await
            .expect("store");
        AppState::new(store, dir)
    }

    #[tokio::test]
    async fn a_first_start_killed_before_the_rename_is_finished_by_the_next() {
        let dir = seawall_store::testing::TempDir::new().expect("dir");
        let first = state(dir.path()).await;
        let made = ensure_admin(&first)
            .await
            .expect("first start")
            .expect("made");
        // As if killed between the token's commit and the rename: the
        // secret is in a temporary file only.
        // (A process id that runs no process.)
        let tmp = dir
            .path()
            .join(format!(".{ADMIN_TOKEN_FILE}.999999999.tmp"));
        std::fs::rename(&made.path, &tmp).expect("undo the rename");
        // And a start that died before storing its token left another.
        let stale = dir
            .path()
            .join(format!(".{ADMIN_TOKEN_FILE}.999999998.tmp"));
        // A file of a process that runs (init: as another replica finishing
        // its start would) is left alone.
        let live = dir.path().join(format!(".{ADMIN_TOKEN_FILE}.1.tmp"));
        std::fs::write(&live, "sw_in_progress\n").expect("write");
        std::fs::write(&stale, "sw_not_stored\n").expect("write");

        let again = state(dir.path()).await;
        assert!(ensure_admin(&again).await.expect("restart").is_none());
        let kept = std::fs::read_to_string(&made.path).expect("admin-token in place");
        assert_eq!(kept.trim(), made.secret);
        assert!(
            !tmp.exists() && !stale.exists(),
            "no secret left in temporary files"
        );
        assert!(live.exists(), "a running process's file is its own");
    }

    #[test]
    fn the_notice_names_the_file_and_never_holds_the_secret() {
        let token = BootstrapToken {
            secret: "sw_0123456789abcdef".into(),
            path: PathBuf::from("/var/lib/seawall/admin-token"),
        };
        let text = notice(&token);
        assert!(text.contains("/var/lib/seawall/admin-token"), "{text}");
        assert!(!text.contains("sw_0123456789abcdef"), "{text}");
        assert!(!text.contains("0123456789abcdef"), "{text}");
    }
}
