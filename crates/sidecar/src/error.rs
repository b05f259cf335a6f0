//! The sidecar's errors: everything that can stop it from starting, each
//! naming the file or address involved and what to do.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the sidecar cannot start (or a rules file cannot be loaded).
#[derive(Debug, thiserror::Error)]
pub enum SidecarError {
    /// An upstream URL is malformed or uses something the sidecar cannot speak.
    #[error("upstream `{url}`: {message}")]
    Upstream {
        /// The URL as given.
        url: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The rules file cannot be read.
    #[error("rules file {}", path.display())]
    RulesRead {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The rules file is not a valid rule document.
    #[error("rules file {}: {problem}; fix the file (schema in docs/guard-rules.md)", path.display())]
    RulesInvalid {
        /// The file.
        path: PathBuf,
        /// What the guard found wrong: part of the message (before the
        /// hint), so not a `source()` — said once.
        problem: seawall_guard::GuardError,
    },
    /// A listening socket cannot be opened.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The IO error.
        source: std::io::Error,
    },
    /// The guard's coarse clock thread cannot be started.
    #[error("cannot start the guard's clock thread: {0}")]
    Clock(std::io::Error),
    /// The `--control` settings are unusable.
    #[error("{0}")]
    Control(String),
    /// A `trusted_peers` network or the untrusted-headers mode is malformed.
    #[error("trusted peer `{value}`: {message}")]
    TrustedPeer {
        /// The value as given.
        value: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// The admin API would listen off loopback without a token.
    #[error(
        "the admin API would listen on {addr} (not loopback) without a token: anyone who \
         reaches it could flip switches; set an admin token (--admin-token) or listen on 127.0.0.1"
    )]
    AdminExposed {
        /// The admin address.
        addr: SocketAddr,
    },
    /// A feature that is planned but not built yet.
    #[error("not yet: {0}")]
    NotYet(&'static str),
}

/// An error and its causes on one line (`outer: cause: cause`): each
/// message says its own part only, the causes come from `source()`.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
