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
use seawall_server::client::{Client, ClientError, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

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

    /// `GET path`, expecting 200 and a `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let r = self.answer(self.block_on(self.client.get(path)))?;
        expect(&r, 200)
    }

    /// `POST path` with a JSON body; the raw answer (callers branch on it).
    pub fn post(&self, path: &str, body: &impl Serialize) -> anyhow::Result<Response> {
        self.answer(self.block_on(self.client.post_json(path, body)))
    }

    /// `POST path` with a JSON text sent byte for byte; the raw answer.
    pub fn post_text(&self, path: &str, text: String) -> anyhow::Result<Response> {
        self.answer(self.block_on(self.client.post_json_text(path, text)))
    }

    /// `DELETE path`, expecting 200 and a `T`.
    pub fn delete<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let r = self.answer(self.block_on(self.client.delete(path)))?;
        expect(&r, 200)
    }

    /// An exchange's result, or an error saying the server could not be
    /// reached and what to check.
    pub fn answer(&self, result: Result<Response, ClientError>) -> anyhow::Result<Response> {
        result.map_err(|e| unreachable(&e, self.client.base()))
    }
}

/// A current-thread runtime with IO and time.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A failed exchange, said so that a log shows what to fix.
pub fn unreachable(e: &ClientError, base: &str) -> anyhow::Error {
    match e {
        ClientError::Tls { .. } => anyhow!(
            "cannot reach the control plane at {base} over TLS: {e}; check --ca (or SEAWALL_CA)"
        ),
        ClientError::Connect { .. } | ClientError::Timeout { .. } | ClientError::Http { .. } => {
            anyhow!(
                "cannot reach the control plane at {base}: {e}; check --server (or \
                 SEAWALL_SERVER) and that `seawall serve` is running there"
            )
        }
        other => anyhow!("control plane at {base}: {other}"),
    }
}

/// The body of an answer with status `ok` as a `T`, or an error with the
/// server's message.
pub fn expect<T: DeserializeOwned>(r: &Response, ok: u16) -> anyhow::Result<T> {
    if r.status.as_u16() == ok {
        return r
            .json::<T>()
            .map_err(|e| anyhow!("{e}; is {} a Seawall control plane?", r.url));
    }
    Err(refused(r))
}

/// An error for an answer that is not the one hoped for: the server's
/// message and code, a hint for 401 and 403, the status and URL.
pub fn refused(r: &Response) -> anyhow::Error {
    let (message, code) = match r.error() {
        Some(body) => (body.error.message, Some(body.error.code)),
        None => {
            let text = r.text();
            let text = text.trim();
            let text = if text.is_empty() {
                "(no message)".to_owned()
            } else {
                text.chars().take(300).collect()
            };
            (text, None)
        }
    };
    let status = r.status.as_u16();
    let hint = match status {
        401 => "; pass a valid --token (or SEAWALL_TOKEN)",
        403 => "; this needs a token with another role (docs/control-plane.md#roles)",
        _ => "",
    };
    let code = code.map(|c| format!(" {c}")).unwrap_or_default();
    anyhow!("{message}{hint} [HTTP {status}{code} from {}]", r.url)
}
