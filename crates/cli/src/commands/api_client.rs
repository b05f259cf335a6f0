//! Talking to a control plane (`seawall serve`) from the command line:
//! the shared `--server` / `--token` / `--timeout` flags (or
//! `SEAWALL_SERVER` / `SEAWALL_TOKEN`), one current-thread runtime, and
//! answers turned into values or into errors that carry the server's own
//! message, its code and a hint of what to fix. `push`, `token` and
//! `audit verify` use it; any verb that calls the API can.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::Args;
use seawall_api::{Client, ClientError};

use crate::input;

/// Where the control plane is and how to authenticate.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// The control plane's URL (https://HOST:PORT, or http://HOST:PORT).
    #[arg(long, env = "SEAWALL_SERVER", value_name = "URL")]
    pub server: String,
    /// For an https:// --server: the PEM file of the CA that signed its
    /// certificate [default: the system's trust store].
    #[arg(long, env = "SEAWALL_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// API token (`sw_…`; the first admin token is in <data-dir>/admin-token).
    #[arg(
        long,
        env = "SEAWALL_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: String,
    /// Give up on the server after this long: `30s`, `500ms`, `1m`.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = input::duration)]
    pub timeout: Duration,
}

/// A client for one control plane and a runtime to drive it.
pub struct Api {
    client: Client,
    runtime: tokio::runtime::Runtime,
}

impl Api {
    /// From the flags.
    pub fn new(args: &ServerArgs) -> anyhow::Result<Api> {
        let client = Client::new_with_ca(&args.server, args.ca.as_deref())
            .map_err(|e| anyhow!("{e}; check --server (SEAWALL_SERVER) and --ca (SEAWALL_CA)"))?
            .with_token(args.token.trim())
            .with_timeout(args.timeout);
        Ok(Api {
            client,
            runtime: runtime()?,
        })
    }

    /// Run a future on this client's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// The typed client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A typed call's answer, or an error with the server's message (as
    /// [`refused`]) or saying that it could not be reached.
    pub fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, ClientError>>,
    ) -> anyhow::Result<T> {
        self.block_on(call).map_err(|e| self.failed(e))
    }

    /// A typed call's error, said for people.
    pub fn failed(&self, e: ClientError) -> anyhow::Error {
        match e {
            ClientError::Api {
                url,
                status,
                code,
                message,
                ..
            } => refusal(&url, status, code.as_deref(), message),
            ClientError::Body { ref url, .. } => {
                anyhow!("{e}; is {url} a Seawall control plane?")
            }
            other => unreachable(other, self.client.base()),
        }
    }
}

/// A current-thread runtime with IO and time.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A failed exchange, said so that a log shows what to fix (with the
/// error's causes, each once: `{:#}`).
pub fn unreachable(e: ClientError, base: &str) -> anyhow::Error {
    let (what, hint) = match e {
        ClientError::Tls { .. } => (
            format!("cannot reach the control plane at {base} over TLS"),
            "; check --ca (or SEAWALL_CA)",
        ),
        ClientError::Connect { .. } | ClientError::Timeout { .. } | ClientError::Http { .. } => (
            format!("cannot reach the control plane at {base}"),
            "; check --server (or SEAWALL_SERVER) and that `seawall serve` is running there",
        ),
        _ => (format!("control plane at {base}"), ""),
    };
    anyhow!("{what}: {:#}{hint}", anyhow::Error::new(e))
}

/// The server's refusal: its message and code, a hint for 401 and 403,
/// the status and URL.
fn refusal(url: &str, status: u16, code: Option<&str>, message: String) -> anyhow::Error {
    let hint = match status {
        401 => "; pass a valid --token (or SEAWALL_TOKEN)",
        403 => "; this needs a token with another role (docs/control-plane.md#roles)",
        _ => "",
    };
    let code = code.map(|c| format!(" {c}")).unwrap_or_default();
    anyhow!("{message}{hint} [HTTP {status}{code} from {url}]")
}
