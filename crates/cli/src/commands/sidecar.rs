//! `seawall sidecar`: the guard in front of one service as a reverse proxy.
//! Thin glue over `seawall-sidecar`: flags → `Config`, a tokio runtime,
//! run until SIGTERM or ctrl-c, then drain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use seawall_sidecar::{
    ADMIN_LOOPBACK, Config, Control, PeerNet, Sidecar, UntrustedHeaders, Upstream, shutdown_signal,
};

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
    /// Address of the admin API: /metrics, /rules, /status, /switches/{id},
    /// /healthz. A bare port listens on 127.0.0.1; an address off loopback
    /// needs --admin-token [default: no admin API].
    #[arg(long, value_name = "ADDR|PORT", value_parser = admin_addr)]
    admin_listen: Option<SocketAddr>,
    /// Bearer token the admin API asks for (`Authorization: Bearer TOKEN`);
    /// /healthz never does, /metrics unless --admin-open-metrics.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "SEAWALL_SIDECAR_ADMIN_TOKEN",
        hide_env_values = true
    )]
    admin_token: Option<String>,
    /// Serve /metrics without the admin token.
    #[arg(long)]
    admin_open_metrics: bool,
    /// Peers whose identity headers are believed (caller, test tag, gray
    /// routing, baggage's test member, X-Forwarded-*, Forwarded,
    /// X-Real-IP): comma-separated CIDRs. List the ingress and the calling
    /// services' networks (docs/security.md).
    #[arg(
        long,
        value_name = "CIDR,...",
        value_delimiter = ',',
        default_value = "127.0.0.0/8,::1/128",
        value_parser = peer_net
    )]
    trusted_peers: Vec<PeerNet>,
    /// What those headers get from any other peer: `strip` them, or
    /// `refuse` the request (403).
    #[arg(long, value_name = "strip|refuse", default_value = "strip", value_parser = untrusted_mode)]
    untrusted_headers: UntrustedHeaders,
    /// Longest time a client may take to send a request head; then the
    /// connection closes (408).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    header_read_timeout: Duration,
    /// How long an idle keep-alive client connection stays open.
    #[arg(long, value_name = "DURATION", default_value = "75s", value_parser = duration)]
    keepalive_timeout: Duration,
    /// Most client connections open at once; more are answered 503 and
    /// closed. Keep the open-files limit (ulimit -n) above twice this.
    #[arg(long, value_name = "N", default_value_t = seawall_sidecar::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
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
    /// For an https:// --control: the PEM file of the CA that signed its
    /// certificate [default: the system's trust store].
    #[arg(long, value_name = "FILE", env = "SEAWALL_CA")]
    ca: Option<PathBuf>,
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
    config.admin_token = args.admin_token.clone().filter(|t| !t.is_empty());
    config.admin_open_metrics = args.admin_open_metrics;
    config.trusted_peers = args.trusted_peers.clone();
    config.untrusted_headers = args.untrusted_headers;
    config.header_read_timeout = args.header_read_timeout;
    config.keepalive_timeout = args.keepalive_timeout;
    config.max_connections = args.max_connections;
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
        config.control = Some(Control::new_with_ca(
            url,
            service.as_str(),
            token.as_str(),
            instance,
            args.ca.as_deref(),
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

/// `--admin-listen`: an address, or a bare port on loopback.
fn admin_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.trim().parse::<u16>() {
        return Ok(SocketAddr::new(ADMIN_LOOPBACK, port));
    }
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is neither a port nor an address like 127.0.0.1:9901"))
}

/// `--trusted-peers`: one CIDR.
fn peer_net(text: &str) -> Result<PeerNet, String> {
    PeerNet::parse(text).map_err(|e| e.to_string())
}

/// `--untrusted-headers`.
fn untrusted_mode(text: &str) -> Result<UntrustedHeaders, String> {
    text.parse()
        .map_err(|e: seawall_sidecar::SidecarError| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: SidecarArgs,
    }

    fn parse(extra: &[&str]) -> SidecarArgs {
        let mut argv = vec![
            "seawall",
            "--listen",
            "127.0.0.1:8000",
            "--upstream",
            "http://127.0.0.1:8080",
            "--rules",
            "r.yaml",
        ];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).expect("parses").args
    }

    #[test]
    fn the_limits_default_as_the_library_does_and_the_admin_port_to_loopback() {
        let a = parse(&[]);
        let c = Config::new(a.listen, &a.upstream, &a.rules).expect("config");
        assert_eq!(a.trusted_peers, c.trusted_peers);
        assert_eq!(a.untrusted_headers, c.untrusted_headers);
        assert_eq!(a.header_read_timeout, c.header_read_timeout);
        assert_eq!(a.keepalive_timeout, c.keepalive_timeout);
        assert_eq!(a.max_connections, c.max_connections);
        assert_eq!(a.admin_listen, None);
        assert!(!a.admin_open_metrics);
        let a = parse(&["--admin-listen", "9901"]);
        assert_eq!(
            a.admin_listen,
            Some("127.0.0.1:9901".parse().expect("addr"))
        );
        let a = parse(&[
            "--admin-listen",
            "0.0.0.0:9901",
            "--trusted-peers",
            "10.0.0.0/8,fd00::/8",
            "--untrusted-headers",
            "refuse",
            "--header-read-timeout",
            "2s",
        ]);
        assert_eq!(a.admin_listen, Some("0.0.0.0:9901".parse().expect("addr")));
        let nets: Vec<String> = a.trusted_peers.iter().map(ToString::to_string).collect();
        assert_eq!(nets, ["10.0.0.0/8", "fd00::/8"]);
        assert_eq!(a.untrusted_headers, UntrustedHeaders::Refuse);
        assert_eq!(a.header_read_timeout, Duration::from_secs(2));
        for bad in [
            &["--trusted-peers", "10.0.0.1/8"][..],
            &["--untrusted-headers", "drop"],
            &["--admin-listen", "nowhere"],
        ] {
            let mut argv = vec![
                "seawall",
                "--listen",
                "127.0.0.1:1",
                "--upstream",
                "http://x:1",
                "--rules",
                "r",
            ];
            argv.extend_from_slice(bad);
            assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
        }
    }
}
