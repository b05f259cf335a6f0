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
    #[error("cannot make the first admin token: {0}")]
    Store(#[from] StoreError),
    /// No randomness.
    #[error("cannot make the first admin token: {0}")]
    Random(String),
    /// The secret file cannot be written.
    #[error(
        "cannot write the admin token to {path}: {source}; check the data directory's permissions"
    )]
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
