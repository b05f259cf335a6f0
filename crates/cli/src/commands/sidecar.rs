//! `seawall sidecar`: the guard in front of one service as a reverse proxy.
//! Thin glue over `seawall-sidecar`: flags → `Config`, a tokio runtime,
//! run until SIGTERM or ctrl-c, then drain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use seawall_sidecar::{Config, Control, Sidecar, Upstream, shutdown_signal};

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
    /// Follow this control plane (`seawall serve`) for the rules of
    /// --service: new versions are applied within a second and written to
    /// --rules, which keeps the last good rules when the control plane is
    /// unreachable (docs/sidecar.md).
    #[arg(long, value_name = "URL", requires_all = ["service", "token"])]
    control: Option<String>,
    /// The service whose rules to follow (with --control).
    #[arg(long, value_name = "SERVICE", requires = "control")]
    service: Option<String>,
    /// API token for the control plane (with --control); any role may read rules.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "SEAWALL_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// This sidecar's name in the control plane's applied-version reports
    /// [default: HOSTNAME:PORT of --listen].
    #[arg(long, value_name = "NAME", requires = "control")]
    instance: Option<String>,
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
    if let (Some(url), Some(service), Some(token)) = (&args.control, &args.service, &args.token) {
        let instance = args.instance.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "sidecar".to_owned());
            format!("{host}:{}", args.listen.port())
        });
        config.control = Some(Control::new(
            url,
            service.as_str(),
            token.as_str(),
            instance,
        )?);
    }

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
