//! Channel secrets: signing keys and credential-bearing webhook URLs come
//! from the environment or from files, never in clear from a plan. A plan
//! names a reference (`$SEAWALL_LARK_SECRET`, a bare upper-case variable
//! name as `secret_env` holds, or `file:/run/secrets/lark`); this module
//! turns it into a [`Secret`] whose `Debug` never shows the value, and an
//! error names the variable or file, never a value.

use std::fmt;
use std::path::{Path, PathBuf};

// `[A-Z_][A-Z0-9_]*`: the plan checks the same references at plan check.
use seawall_plan::outbound::is_env_name;

/// Where a secret lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An environment variable, by name.
    Env(String),
    /// A file whose content (without its trailing newline) is the secret.
    File(PathBuf),
}

/// A secret value. `Debug` shows `Secret(<redacted>)`; there is no
/// `Display`, so it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value (tests and callers that already hold one).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for signing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a secret cannot be had. No variant carries the value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    /// The text is not a reference (`$NAME`, `NAME`, `file:/path`); a
    /// secret written in clear is refused.
    #[error(
        "{what} is not a secret reference: write $VARIABLE or file:/path (a secret in clear is refused)"
    )]
    NotAReference {
        /// What was being read (`channel war-room secret`).
        what: String,
    },
    /// The variable is not set.
    #[error("{what}: environment variable {name} is not set")]
    MissingEnv {
        /// What was being read.
        what: String,
        /// Variable name.
        name: String,
    },
    /// The variable or file is empty.
    #[error("{what}: {source_name} is empty")]
    Empty {
        /// What was being read.
        what: String,
        /// Variable name or file path.
        source_name: String,
    },
    /// The file cannot be read.
    #[error("{what}: cannot read secret file {path}: {message}")]
    File {
        /// What was being read.
        what: String,
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
}

impl SecretRef {
    /// Parses `$NAME`, `${NAME}`, a bare upper-case `NAME` (the plan's
    /// `secret_env`) or `file:/path`. `what` names the secret in errors.
    pub fn parse(text: &str, what: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        if let Some(path) = text.strip_prefix("file:") {
            if !path.is_empty() {
                return Ok(Self::File(PathBuf::from(path)));
            }
        } else {
            let name = text
                .strip_prefix("${")
                .and_then(|n| n.strip_suffix('}'))
                .or_else(|| text.strip_prefix('$'))
                .unwrap_or(text);
            if is_env_name(name) {
                return Ok(Self::Env(name.to_owned()));
            }
        }
        Err(SecretError::NotAReference {
            what: what.to_owned(),
        })
    }

    /// Reads the secret with `env` as the environment (tests pass a map;
    /// [`SecretRef::resolve`] passes the process's).
    pub fn resolve_with(
        &self,
        what: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Secret, SecretError> {
        let (value, source_name) = match self {
            Self::Env(name) => {
                let value = env(name).ok_or_else(|| SecretError::MissingEnv {
                    what: what.to_owned(),
                    name: name.clone(),
                })?;
                (value, format!("environment variable {name}"))
            }
            Self::File(path) => (read_file(path, what)?, format!("file {}", path.display())),
        };
        let value = value.trim_end_matches(['\n', '\r']).to_owned();
        if value.is_empty() {
            return Err(SecretError::Empty {
                what: what.to_owned(),
                source_name,
            });
        }
        Ok(Secret(value))
    }

    /// Reads the secret from the process's environment or the file.
    pub fn resolve(&self, what: &str) -> Result<Secret, SecretError> {
        self.resolve_with(what, &|name| std::env::var(name).ok())
    }
}

fn read_file(path: &Path, what: &str) -> Result<String, SecretError> {
    std::fs::read_to_string(path).map_err(|e| SecretError::File {
        what: what.to_owned(),
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_clear_text_is_refused() {
        let env = |t: &str| SecretRef::parse(t, "s");
        assert_eq!(
            env("$LARK_SECRET"),
            Ok(SecretRef::Env("LARK_SECRET".into()))
        );
        assert_eq!(
            env("${LARK_SECRET}"),
            Ok(SecretRef::Env("LARK_SECRET".into()))
        );
        assert_eq!(env("LARK_SECRET"), Ok(SecretRef::Env("LARK_SECRET".into())));
        assert_eq!(
            env("file:/run/secrets/lark"),
            Ok(SecretRef::File("/run/secrets/lark".into()))
        );
        for clear in ["SEC0123456789abcdef", "gX9kq2", "", "file:", "$", "$lower"] {
            assert!(
                matches!(env(clear), Err(SecretError::NotAReference { .. })),
                "{clear:?}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_value() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2")),
            "Secret(<redacted>)"
        );
    }
}
