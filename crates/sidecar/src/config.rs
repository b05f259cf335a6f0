//! What the sidecar is told: addresses, the upstream(s), the rules file and
//! the timeouts. Checked once, before anything listens.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::SidecarError;
use crate::trust::{PeerNet, UntrustedHeaders};
pub use crate::upstream::Upstream;

/// The sidecar's configuration. Build it with [`Config::new`], then adjust
/// the public fields.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the proxy listens (HTTP/1.1 and HTTP/2 cleartext).
    pub listen: SocketAddr,
    /// Where admitted requests go.
    pub upstream: Upstream,
    /// Where requests the rules' `gray` rule picks go. A rule set with a
    /// `gray` rule is refused without one.
    pub gray_upstream: Option<Upstream>,
    /// The rule document (YAML, or JSON when the name ends in `.json`).
    pub rules_path: PathBuf,
    /// Follow this control plane for the rules (the rules file then keeps
    /// the last version received, see `docs/sidecar.md`).
    pub control: Option<crate::Control>,
    /// Where the admin API (`/metrics`, `/rules`, `/switches/{id}`,
    /// `/status`, `/healthz`) listens; `None` for no admin port.
    pub admin_listen: Option<SocketAddr>,
    /// Longest wait for the upstream's response head (connect included);
    /// past it the client gets 504.
    pub upstream_timeout: Duration,
    /// Longest wait for a TCP connection to the upstream; past it, 502.
    pub connect_timeout: Duration,
    /// How long a shutdown waits for in-flight requests to finish.
    pub drain_timeout: Duration,
    /// How often the rules file is checked for changes.
    pub reload_interval: Duration,
    /// Speak HTTP/2 with prior knowledge (h2c) to the upstream instead of
    /// HTTP/1.1.
    pub upstream_http2: bool,
    /// Idle keep-alive connections kept per upstream.
    pub max_idle_per_upstream: usize,
    /// Serve plain HTTP/1.1 requests on the sidecar's own fast path (one
    /// task per connection, heads parsed in place, bodies relayed as they
    /// come; see `docs/sidecar.md`). `false` sends every connection through
    /// hyper, as HTTP/2 clients and anything unusual always are. Ignored
    /// with an HTTP/2 upstream.
    pub fast_path: bool,
    /// Peers whose identity headers are believed: the caller and test-tag
    /// headers, the gray rule's headers, the test member of `baggage` and
    /// the forwarding headers (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`).
    /// Loopback by default (`127.0.0.0/8`, `::1`): list the ingress and the
    /// calling services' networks, see `docs/security.md`.
    pub trusted_peers: Vec<PeerNet>,
    /// What a believed header from any other peer gets: stripped (the
    /// default) or the request refused with 403.
    pub untrusted_headers: UntrustedHeaders,
    /// Longest time a client may take to send a request head (from the
    /// connection's start, or from a later request's first byte); then the
    /// connection closes (with 408 on the fast path).
    pub header_read_timeout: Duration,
    /// How long an idle keep-alive client connection (no request under
    /// way) stays open. hyper's path starts its head timer as soon as a
    /// connection is idle, so there the shorter of the two applies.
    pub keepalive_timeout: Duration,
    /// Most client connections open at once; the next one is answered
    /// `503` with `Connection: close` and closed.
    pub max_connections: usize,
    /// Bearer token the admin API asks for (`Authorization: Bearer …`);
    /// `None` for none, allowed only on a loopback admin address.
    pub admin_token: Option<String>,
    /// Serve `/metrics` without the admin token (`/healthz` always is).
    pub admin_open_metrics: bool,
    /// The guard's clock; `None` (the default) for a 1 ms
    /// [`CoarseClock`](seawall_guard::CoarseClock) of the system's
    /// monotonic time. Tests pass [`seawall_guard::CoarseClock::manual`]
    /// to decide when time moves.
    pub clock: Option<seawall_guard::CoarseClock>,
}

/// Default [`Config::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`Config::keepalive_timeout`] (nginx's; longer than the common
/// load balancers' 60 s, so they close first and never reuse a connection
/// the sidecar is closing).
pub const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(75);
/// Default [`Config::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// The admin address a bare port means (`--admin-listen 9901`).
pub const ADMIN_LOOPBACK: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

impl Config {
    /// A configuration with defaults: 30 s upstream timeout, 2 s connect
    /// timeout, 10 s drain, rules checked every second, HTTP/1.1 to the
    /// upstream, no gray upstream, no admin port, the HTTP/1.1 fast path on;
    /// identity headers believed from loopback peers only (stripped from
    /// others), 10 s to send a request head, idle keep-alive connections
    /// closed after 75 s, at most 10,000 client connections, no admin token.
    pub fn new(
        listen: SocketAddr,
        upstream: &str,
        rules_path: impl Into<PathBuf>,
    ) -> Result<Self, SidecarError> {
        Ok(Self {
            listen,
            upstream: Upstream::parse(upstream)?,
            gray_upstream: None,
            rules_path: rules_path.into(),
            control: None,
            admin_listen: None,
            upstream_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(2),
            drain_timeout: Duration::from_secs(10),
            reload_interval: Duration::from_secs(1),
            upstream_http2: false,
            max_idle_per_upstream: 1024,
            fast_path: true,
            trusted_peers: PeerNet::loopback(),
            untrusted_headers: UntrustedHeaders::Strip,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            keepalive_timeout: DEFAULT_KEEPALIVE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            admin_token: None,
            admin_open_metrics: false,
            clock: None,
        })
    }
}
