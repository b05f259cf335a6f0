//! Seawall's sidecar: a reverse proxy that runs the guard engine
//! (`seawall-guard`) in front of one upstream service, so a service gets
//! rate limits, circuit breakers and degradation switches without code
//! changes.
//!
//! It is built on hyper 1: the server speaks HTTP/1.1 and HTTP/2 cleartext
//! on one port, the client keeps a pool of keep-alive connections to the
//! upstream, and bodies stream through in both directions (never buffered
//! whole). Each request is evaluated by the guard's request-level API
//! (`Guard::evaluate`: route → resource, caller, test tag, gray routing,
//! rules, faults), then refused (429 for quotas, 503 for breakers and
//! test traffic bound for an upstream that is not shadow-safe, with
//! `x-seawall-reason: <rule id>`), answered by a switch's fallback or an
//! injected fault, or forwarded to the primary or gray upstream under the
//! resource's timeout; its outcome (5xx, errors, latency) goes back to the
//! guard when the response body ends. The rules file is polled and hot-swapped; the
//! admin port serves `/metrics` and the rules. It logs with `tracing` and
//! never prints: the program that embeds it installs the subscriber. See
//! `docs/sidecar.md`.
//!
//! ```no_run
//! # async fn f() -> Result<(), seawall_sidecar::SidecarError> {
//! use seawall_sidecar::{Config, Sidecar, shutdown_signal};
//! let mut config = Config::new("127.0.0.1:8000".parse().unwrap(), "http://127.0.0.1:8080", "rules.yaml")?;
//! config.admin_listen = Some("127.0.0.1:9901".parse().unwrap());
//! let sidecar = Sidecar::bind(config).await?;
//! sidecar.run(shutdown_signal()).await;
//! # Ok(()) }
//! ```

mod admin;
mod catalog;
mod config;
mod conn;
mod control;
mod error;
mod fast;
mod follow;
mod headers;
mod lease;
mod metrics;
mod pool;
mod proxy;
mod raw_pool;
mod reload;
mod server;
mod status;
mod trust;
mod upstream;
mod whitelist;

pub use config::{
    ADMIN_LOOPBACK, Config, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_KEEPALIVE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, Upstream,
};
pub use control::Control;
pub use error::SidecarError;
pub use proxy::{KIND_HEADER, ProxyBody, REASON_HEADER};
pub use server::{ShutdownReport, Sidecar, shutdown_signal};
pub use trust::{PeerNet, UntrustedHeaders};
