//! Seawall's `scale` emergency action: set a deployment's replicas through
//! the Kubernetes scale subresource and wait for them, capturing what was
//! there so a rollback can put it back.
//!
//! - [`config`]: credentials from a kubeconfig (a context's cluster, CA
//!   and bearer token) or the pod's service account; anything Seawall
//!   cannot use safely (`insecure-skip-tls-verify`, client certificates,
//!   exec plugins, plain http off loopback) is refused with what to do;
//! - [`name`]: namespace and deployment names checked as DNS-1123 labels
//!   and subdomains before they go into a path;
//! - [`client`]: `GET` and merge-patch `PATCH` of
//!   `/apis/apps/v1/namespaces/{ns}/deployments/{name}/scale` over
//!   `seawall_api::Client`, `Status` answers read into [`KubeError`];
//! - [`scale`]: read, patch with the version read (409 → read again,
//!   bounded), poll `status.replicas` until the target or the timeout;
//! - `testing` (feature `testing`): a fake API server on loopback, since
//!   no kube-apiserver exists as a Debian package.
//!
//! Modules form a DAG: `config`, `name` (leaves) ← `client` ← `scale`;
//! `testing` uses `client`'s constants only. Only the scale subresource is
//! ever touched, and nothing here logs or returns a token. The API shapes
//! followed, with links to the Kubernetes reference: `docs/respond.md`.

#![forbid(unsafe_code)]

pub mod client;
pub mod config;
pub mod name;
pub mod scale;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{KubeClient, KubeError, Scale, Status};
pub use config::{CaSource, ConfigError, Credentials, Token, TokenSource};
pub use name::NameError;
pub use scale::ScaleOutcome;
