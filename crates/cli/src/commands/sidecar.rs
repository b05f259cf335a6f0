//! `seawall sidecar`: the guard in front of one service as a reverse proxy.
//! Thin glue over `seawall-sidecar`: flags → `Config`, a tokio runtime,
//! run until SIGTERM or ctrl-c, then drain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use seawall_sidecar::{Config, Sidecar, Upstream, shutdown_signal};

use crate::input::duration;

/// Arguments of `seawall sidecar`.
#[derive(Debug, Args)]
pub struct SidecarArgs {
    /// Address the proxy listens on (HTTP/1.1 and HTTP/2 cleartext), e.g. 0.0.0.0:8000.
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// Where admitted requests go: `http://host:port[/base-path]`.
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// Where the rules' `gray` rule sends its requests (required when the rules have one).
    #[arg(long, value_name = "URL")]
    gray_upstream: Option<String>,
    /// The guard's rule document (YAML, or JSON if it ends in .json);
    /// re-read when it changes (docs/guard-rules.md).
    #[arg(long, value_name = "FILE")]
    rules: PathBuf,
    /// Address of the admin API: /metrics, /rules, /status, /switches/{id}, /healthz.
    /// It has no authentication: keep it on loopback or a private interface.
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<SocketAddr>,
    /// Longest wait for the upstream's response head (a resource's
    /// `timeout_ms` overrides it); then 504. `30s`, `500ms`, `1m`.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    timeout: Duration,
    /// Longest wait for a connection to the upstream; then 502.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = duration)]
    connect_timeout: Duration,
    /// On SIGTERM or ctrl-c, how long in-flight requests may take to finish.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    drain_timeout: Duration,
    /// How often the rules file is checked for changes.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = duration)]
    reload_interval: Duration,
    /// Speak HTTP/2 with prior knowledge (h2c) to the upstream.
    #[arg(long)]
    upstream_http2: bool,
    /// Worker threads [default: the CPUs this process may run on]; 1 runs
    /// the current-thread scheduler.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
}

/// Run the verb: serve until SIGTERM or ctrl-c. Exit 0 when every in-flight
/// request finished within the drain timeout, 1 when some were cut off.
pub fn run(args: &SidecarArgs) -> anyhow::Result<ExitCode> {
    let mut config = Config::new(args.listen, &args.upstream, &args.rules)?;
    config.gray_upstream = args
        .gray_upstream
        .as_deref()
        .map(Upstream::parse)
        .transpose()?;
    config.admin_listen = args.admin_listen;
    config.upstream_timeout = args.timeout;
    config.connect_timeout = args.connect_timeout;
    config.drain_timeout = args.drain_timeout;
    config.reload_interval = args.reload_interval;
    config.upstream_http2 = args.upstream_http2;

    // One thread: tokio's current-thread scheduler (no work stealing, no
    // cross-thread wake-ups); more: the multi-thread scheduler.
    let mut runtime = match args.threads {
        Some(0) => anyhow::bail!("--threads must be at least 1"),
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = runtime
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let report = runtime.block_on(async {
        let sidecar = Sidecar::bind(config).await?;
        let addr = sidecar.local_addr().context("no local address")?;
        let admin = sidecar
            .admin_addr()
            .map_or_else(|| "none".to_owned(), |a| a.to_string());
        eprintln!(
            "seawall sidecar: listening on {addr}, upstream {}, admin {admin}, rules {}",
            args.upstream,
            args.rules.display()
        );
        anyhow::Ok(sidecar.run(shutdown_signal()).await)
    })?;
    Ok(if report.drained {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(super::INVALID)
    })
}
