//! `seawall serve`: the control plane. Thin glue over `seawall-server`:
//! flags → `Config`, structured logs on stderr (tracing; text or JSON
//! lines), on the first start the name of the file holding the admin
//! token's secret (never the secret), run until SIGTERM or ctrl-c, then
//! drain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use seawall_server::service::monitoring::MonitorOptions;
use seawall_server::{Config, Server, TlsConfig, TransportLimits, bootstrap};
use seawall_sidecar::PeerNet;
use seawall_sidecar::shutdown_signal;

use crate::input::duration;

/// Arguments of `seawall serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on. Without --tls-cert the API is plain HTTP: keep
    /// it on loopback or behind a TLS proxy.
    #[arg(long, value_name = "ADDR", default_value = seawall_server::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate chain, leaf first (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A connection with no request in progress this long is closed: from
    /// accept (TLS handshake included) to a complete request head, and idle
    /// between requests.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    header_timeout: Duration,
    /// Longest an ordinary request may take, body included; then 503.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    request_timeout: Duration,
    /// Longest a long poll (`?wait=`, the sidecars' rule polls, which wait up
    /// to 60 s) may take; then 503.
    #[arg(long, value_name = "DURATION", default_value = "90s", value_parser = duration)]
    long_poll_timeout: Duration,
    /// A response whose client has not read on for this long is abandoned
    /// and the connection closed (a slow reader).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration)]
    send_timeout: Duration,
    /// Connections served at once; one more is answered 503 and closed.
    #[arg(long, value_name = "N", default_value_t = seawall_server::DEFAULT_MAX_CONNECTIONS,
        value_parser = at_least_one)]
    max_connections: usize,
    /// Database: `postgres://USER:PASSWORD@HOST:PORT/DB` (several replicas),
    /// or `sqlite://PATH` [default: <data-dir>/seawall.db].
    #[arg(long, env = "SEAWALL_DB", value_name = "URL", hide_env_values = true)]
    db: Option<String>,
    /// Data directory: the SQLite file and `admin-token` (made if missing, mode 0700).
    #[arg(
        long,
        env = "SEAWALL_DATA_DIR",
        value_name = "DIR",
        default_value = "seawall-data"
    )]
    data_dir: PathBuf,
    /// Largest request body in bytes (a bigger one gets 413).
    #[arg(long, value_name = "BYTES", default_value_t = seawall_server::state::DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    /// On SIGTERM or ctrl-c, how long requests under way may take to finish.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    drain_timeout: Duration,
    /// Sustained writes (POST, PUT, PATCH, DELETE) per second per token; more get 429.
    #[arg(long, value_name = "N", default_value_t = seawall_server::state::DEFAULT_WRITE_RATE,
        value_parser = clap::value_parser!(u32).range(1..))]
    write_rate: u32,
    /// Writes a token may make at once before --write-rate applies.
    #[arg(long, value_name = "N", default_value_t = seawall_server::state::DEFAULT_WRITE_BURST,
        value_parser = clap::value_parser!(u32).range(1..))]
    write_burst: u32,
    /// Most active freeze exceptions (pending, or approved and not ended) per event.
    #[arg(long, value_name = "N",
        default_value_t = seawall_server::state::DEFAULT_MAX_ACTIVE_EXCEPTIONS)]
    max_active_exceptions: usize,
    /// A web UI session unused this long ends.
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = duration)]
    session_idle: Duration,
    /// A web UI session ends this long after login, used or not.
    #[arg(long, value_name = "DURATION", default_value = "12h", value_parser = duration)]
    session_max: Duration,
    /// Time between two monitoring ticks: the sidecars' `/metrics` are
    /// scraped (or Prometheus queried) and the event day evaluated (at
    /// least 1s; shorter is raised to 1s).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = duration)]
    scrape_interval: Duration,
    /// Bearer token for the sidecars' admin `/metrics` (sidecars started
    /// with --admin-token).
    #[arg(
        long,
        env = "SEAWALL_SCRAPE_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    scrape_token: Option<String>,
    /// A network whose addresses sidecars may report as their admin
    /// address although their connection comes from another address
    /// (sidecars behind NAT or a proxy); repeatable. Otherwise a sidecar
    /// may only name its own address, and link-local addresses
    /// (169.254.0.0/16, fe80::/10: cloud metadata) never (docs/security.md).
    #[arg(long, value_name = "CIDR", value_parser = scrape_net)]
    scrape_allow: Vec<PeerNet>,
    /// Push the event day's alerts to this Alertmanager
    /// (`POST URL/api/v2/alerts`; firing ones again every minute).
    #[arg(long, env = "SEAWALL_ALERTMANAGER", value_name = "URL")]
    alertmanager: Option<String>,
    /// A kubeconfig the `scale` emergency action uses to reach Kubernetes
    /// (its current context, or --kube-context); without it or
    /// --kube-in-cluster, `scale` actions fail `not configured`.
    #[arg(long, value_name = "PATH", conflicts_with = "kube_in_cluster")]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig's context to use instead of its current one.
    #[arg(long, value_name = "NAME", requires = "kubeconfig")]
    kube_context: Option<String>,
    /// Reach Kubernetes as the pod's service account (the token and CA
    /// mounted under /var/run/secrets/kubernetes.io/serviceaccount).
    #[arg(long)]
    kube_in_cluster: bool,
    /// Where people's browsers reach this server (`https://seawall.example.com`):
    /// pages then carry a signed link that acknowledges the incident
    /// (`URL/ack/…`); without it they carry none.
    #[arg(long, env = "SEAWALL_PUBLIC_URL", value_name = "URL", value_parser = public_url)]
    public_url: Option<String>,
    /// The key the links are signed with (at least 32 bytes; give every
    /// replica the same file). Without it the server makes one in the data
    /// directory (`ack-key`).
    #[arg(long, value_name = "PATH", requires = "public_url")]
    ack_key_file: Option<PathBuf>,
    /// Least severe log level: error, warn, info, debug, trace [default:
    /// info, moved by -v/-q].
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<tracing_subscriber::filter::LevelFilter>,
}

impl ServeArgs {
    /// The base log level (-v/-q move it; `RUST_LOG` overrides it).
    pub fn log_level(&self) -> tracing_subscriber::filter::LevelFilter {
        self.log_level
            .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO)
    }
}

/// The application-level limits from the flags.
fn limits(args: &ServeArgs) -> seawall_server::state::Limits {
    let defaults = seawall_server::state::Limits::default();
    seawall_server::state::Limits {
        write_rate: std::num::NonZeroU32::new(args.write_rate).unwrap_or(defaults.write_rate),
        write_burst: std::num::NonZeroU32::new(args.write_burst).unwrap_or(defaults.write_burst),
        max_active_exceptions: args.max_active_exceptions,
        session_idle: args.session_idle,
        session_max: args.session_max,
        ..defaults
    }
}

/// A count of 1 or more.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{text}` must be a whole number of 1 or more")),
    }
}

/// `--scrape-allow`: one CIDR.
fn scrape_net(text: &str) -> Result<PeerNet, String> {
    PeerNet::parse(text).map_err(|e| e.to_string())
}

/// `--public-url`: an absolute http(s) URL.
fn public_url(text: &str) -> Result<String, String> {
    let url = text.trim().trim_end_matches('/');
    match url.split_once("://") {
        Some(("http" | "https", rest)) if !rest.is_empty() => Ok(url.to_owned()),
        _ => Err(format!("`{text}` is not an http:// or https:// URL")),
    }
}

/// The link key `--ack-key-file` names, if it does.
fn ack_key(args: &ServeArgs) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(path) = &args.ack_key_file else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --ack-key-file {}", path.display()))?;
    let key = seawall_server::service::incidents::pager::check_key(text.trim().as_bytes().to_vec())
        .map_err(|e| anyhow::anyhow!("--ack-key-file {}: {e}", path.display()))?;
    Ok(Some(key))
}

/// The Kubernetes client `--kubeconfig` or `--kube-in-cluster` asks for.
fn kube(args: &ServeArgs) -> anyhow::Result<Option<seawall_kube::KubeClient>> {
    let credentials = match (&args.kubeconfig, args.kube_in_cluster) {
        (Some(path), _) => {
            seawall_kube::Credentials::from_kubeconfig(path, args.kube_context.as_deref())?
        }
        (None, true) => seawall_kube::Credentials::in_cluster_from_env()?,
        (None, false) => return Ok(None),
    };
    Ok(Some(seawall_kube::KubeClient::new(&credentials)?))
}

/// Run the verb until a shutdown signal.
pub fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let kube = kube(args)?;
    let ack_key = ack_key(args)?;
    runtime.block_on(async {
        let server = Server::bind(Config {
            listen: args.listen,
            db: args.db.clone(),
            data_dir: args.data_dir.clone(),
            body_limit: args.body_limit,
            drain_timeout: args.drain_timeout,
            tls: args
                .tls_cert
                .clone()
                .zip(args.tls_key.clone())
                .map(|(cert, key)| TlsConfig { cert, key }),
            transport: TransportLimits {
                header_timeout: args.header_timeout,
                request_timeout: args.request_timeout,
                long_poll_timeout: args.long_poll_timeout,
                send_timeout: args.send_timeout,
                max_connections: args.max_connections,
            },
        })
        .await?
        .with_limits(limits(args))
        .with_monitoring(MonitorOptions {
            scrape_interval: args.scrape_interval,
            scrape_token: args.scrape_token.clone(),
            background: true,
            alertmanager: args.alertmanager.clone(),
            scrape_allow: args.scrape_allow.clone(),
        });
        let server = match kube {
            Some(client) => server.with_kube(client),
            None => server,
        }
        .with_links(args.public_url.clone(), ack_key);
        if let Some(token) = server.bootstrap_token() {
            // Where the secret is, never the secret (docs/security.md).
            eprintln!("{}", bootstrap::notice(token));
        }
        server.run(shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}
