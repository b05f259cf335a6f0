//! Seawall's control-plane API as a library: every request and response
//! type of `/api/v1` and one typed async [`Client`].
//!
//! Why a crate of its own: the server, the CLI, the sidecar's `--control`,
//! the demo and the browser tests all speak this API. With the shapes in
//! one place, a field renamed on the server is a compile error in every
//! client instead of a `null` at run time, and no client hand-writes JSON
//! keys, percent-encoding or error parsing.
//!
//! Invariants: no axum and no sqlx here (a client must not pull in a web
//! server or a database driver); OpenAPI schemas (utoipa `ToSchema`,
//! `IntoParams`) only behind the `openapi` feature, which the server
//! enables; the wire format is the server's (the OpenAPI document snapshot
//! in `crates/server/tests` pins it).

pub mod analyses;
pub mod audit;
pub mod client;
pub mod drills;
pub mod emergency;
pub mod error;
pub mod events;
pub mod exceptions;
pub mod exports;
pub mod fleet;
pub mod gate;
pub mod health;
pub mod im;
pub mod incidents;
pub mod monitoring;
pub mod plans;
pub mod review;
pub mod rules;
pub mod runs;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod tokens;
pub mod whitelists;

pub use client::{Client, ClientError, Poll, Response};
pub use error::{ErrorBody, ErrorDetail};

/// Kind of change asked about at the gate (`release`, `config`, `ops`):
/// the plan's own type, so a kind the API carries is the kind the gate
/// decides on, with no conversion between them.
pub use seawall_plan::model::ChangeKind;
