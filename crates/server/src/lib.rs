//! Seawall's control plane (`seawall serve`): a JSON API under `/api/v1`
//! over the [`seawall_store::Store`], with an OpenAPI document at
//! `/api/v1/openapi.json`, `/healthz` and `/readyz`, bearer-token auth with
//! roles, and a hash-chained audit log of every change. The API's JSON
//! shapes are `seawall-api`'s types (`docs/control-plane.md`).
//!
//! # Writing an API module
//!
//! One module per area in `src/api/`, each with `pub fn router() ->
//! OpenApiRouter<AppState>` merged in [`api::v1`] with one line. A handler:
//!
//! ```ignore
//! /// One event.                                   // the operation's summary
//! #[utoipa::path(get, path = "/events/{slug}", tag = "events",
//!     security(("bearer" = [])),                     // every /api/v1 route but none
//!     params(("slug" = String, Path, description = "Event slug")),
//!     responses(
//!         (status = 200, description = "The event", body = Event),
//!         (status = 404, description = "No such event", body = ErrorBody),
//!         AuthErrors))]                              // + BodyErrors if it takes a body
//! async fn get_event(
//!     State(state): State<AppState>,
//!     auth: Auth,                                    // 401 unless a valid token
//!     ApiPath(slug): ApiPath<String>,                // JSON 400 on a bad path
//! ) -> Result<Json<Event>, ApiError> {
//!     auth.require(READERS)?;                        // 403 naming the roles; first line
//!     Ok(Json(service::events::find(&state, &slug).await?.into()))
//! }
//! // in router(): OpenApiRouter::new().routes(routes!(get_event))
//! ```
//!
//! Rules the modules keep:
//! - Handlers are thin: the work (finding events, the plan cache and the
//!   analyses, the gate and its writer, exceptions, rule distribution) is
//!   the service layer's ([`service`]), which the UI's pages call too. An
//!   API module never imports `crate::ui`, a page never imports
//!   `crate::api`, and `service` imports neither (`.ci/module-dag.sh
//!   --forbid`, the test `module_dag`).
//! - Register routes only with `routes!(…)`: what is served is what the
//!   OpenAPI document says (the tests check both ways). Paths use axum 0.8
//!   `{param}` syntax, relative to `/api/v1`.
//! - Every handler takes [`Auth`] and calls [`Auth::require`] (or
//!   [`Auth::require_line`] for a pm's business line) before anything else.
//! - Request bodies come through [`JsonBody`] (415, 413, 400 with line and
//!   column, 422) into types with `#[serde(deny_unknown_fields)]`; query and
//!   path through [`ApiQuery`] / [`ApiPath`]. Errors are [`ApiError`]s
//!   (`StoreError` converts: NotFound 404, Conflict 409).
//! - Request and response types are `seawall-api`'s (not the store's),
//!   re-exported from the area's module, with `deny_unknown_fields` so the
//!   tests' decoding is strict.
//! - Changes go through the store with `auth.ctx(&state)` (the actor and
//!   the server's clock; the store appends the audit entry in the same
//!   transaction) and then call [`AppState::notify_change`]; long polls
//!   wait on [`AppState::subscribe_changes`] and [`AppState::shutting_down`].

pub mod api;
pub mod auth;
pub mod bootstrap;
pub use seawall_api::client;
pub mod error;
pub mod extract;
mod log;
pub mod openapi;
pub mod service;
pub mod state;
mod transport;
pub mod ui;
pub mod verify;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use seawall_store::{StoreError, StoreSpec};

pub use auth::Auth;
pub use bootstrap::BootstrapToken;
pub use error::{ApiError, ErrorBody};
pub use extract::{ApiPath, ApiQuery, JsonBody, RawJson};
pub use state::{AppState, Clock, ManualClock};

/// Default bound of the drain on shutdown.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Default listen address of `seawall serve`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `--db`: a database URL; `None` is `<data_dir>/seawall.db`.
    pub db: Option<String>,
    /// Data directory (SQLite file, `admin-token`); made if missing.
    pub data_dir: PathBuf,
    /// Largest request body in bytes.
    pub body_limit: usize,
    /// On shutdown, how long requests under way may take to finish.
    pub drain_timeout: Duration,
    /// `--tls-cert`/`--tls-key`: serve HTTPS; `None` is plain HTTP (keep it
    /// on loopback or behind a TLS proxy). Session cookies are `Secure`
    /// when this is set.
    pub tls: Option<TlsConfig>,
    /// Timeouts and the connection cap of the accept loop.
    pub transport: TransportLimits,
}

/// The server's certificate chain and private key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The certificate chain, leaf first (PEM).
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Default time a client has to send a request's headers.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound of one ordinary request, headers read to response started.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bound of a long poll (`?wait=`), which may hold a request longer.
pub const DEFAULT_LONG_POLL_TIMEOUT: Duration = Duration::from_secs(90);
/// Default longest a response may wait for the client to read on.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Default most connections served at once; more are answered 503.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Timeouts and the connection cap of the control plane's accept loop
/// (`docs/security.md`, "Control plane: transport limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportLimits {
    /// Time a connection may go without a request in progress: from
    /// accept (TLS handshake included) to its first complete request head,
    /// and between requests on a keep-alive connection. Then it is closed.
    pub header_timeout: Duration,
    /// Bound of an ordinary request, body read included: past it the
    /// answer is 503.
    pub request_timeout: Duration,
    /// Bound of a long poll (`GET /api/v1/guard/rules?…&wait=N`), which waits up to
    /// 60 s by design.
    pub long_poll_timeout: Duration,
    /// Longest a response may wait for the client to read on (the socket's
    /// send buffer full): a client that stops reading is disconnected.
    pub send_timeout: Duration,
    /// Connections served at once; one more is answered 503 and closed.
    pub max_connections: usize,
}

impl Default for TransportLimits {
    fn default() -> Self {
        Self {
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            long_poll_timeout: DEFAULT_LONG_POLL_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The data directory cannot be made.
    #[error("data directory {path}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The store cannot be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The first admin token cannot be made.
    #[error(transparent)]
    Bootstrap(#[from] bootstrap::BootstrapError),
    /// The address cannot be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("server failed")]
    Serve(#[source] std::io::Error),
    /// The TLS certificate or key cannot be used.
    #[error("TLS: {path}: {reason}")]
    Tls {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A server bound to its address, store open, not yet serving.
#[derive(Debug)]
pub struct Server {
    listener: tokio::net::TcpListener,
    state: AppState,
    bootstrap: Option<BootstrapToken>,
    drain_timeout: Duration,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    limits: TransportLimits,
    election: Option<seawall_store::election::PgElection>,
}

impl Server {
    /// Make the data directory, open the store (migrations run), make the
    /// first admin token if there is no token, and bind the address.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        make_data_dir(&config.data_dir)?;
        let spec = StoreSpec::from_args(config.db.as_deref(), &config.data_dir)?;
        let store = seawall_store::open(&spec).await?;
        let state =
            AppState::new(store, config.data_dir.clone()).with_body_limit(config.body_limit);
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind {
                addr: config.listen,
                source,
            })?;
        let mut server = Server::with_state(listener, state).await?;
        if let StoreSpec::Postgres(url) = &spec {
            server = server.with_election(url)?;
        }
        let server = server
            .with_drain_timeout(config.drain_timeout)
            .with_transport(config.transport)
            .with_monitoring(service::monitoring::MonitorOptions {
                background: true,
                ..service::monitoring::MonitorOptions::default()
            });
        match &config.tls {
            Some(tls) => server.with_tls(tls),
            None => Ok(server),
        }
    }

    /// A server over an existing listener and state (tests: a fixed clock,
    /// an opened store).
    pub async fn with_state(
        listener: tokio::net::TcpListener,
        state: AppState,
    ) -> Result<Server, ServerError> {
        let bootstrap = bootstrap::ensure_admin(&state).await?;
        Ok(Server {
            listener,
            state,
            bootstrap,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            tls: None,
            limits: TransportLimits::default(),
            election: None,
        })
    }

    /// Take part in the election of the one evaluator among the replicas
    /// on the PostgreSQL database `url` (`seawall serve --db postgres://…`
    /// does; `service::leader`). Without it the server always evaluates.
    pub fn with_election(mut self, url: &str) -> Result<Self, ServerError> {
        self.election = Some(seawall_store::election::PgElection::new(url)?);
        Ok(self)
    }

    /// Scale deployments through this Kubernetes API server
    /// (`seawall serve --kubeconfig PATH | --kube-in-cluster`).
    pub fn with_kube(mut self, client: seawall_kube::KubeClient) -> Self {
        self.state = self.state.with_kube(client);
        self
    }

    /// Pages carry signed acknowledgement links to `public_url`, signed
    /// with `key` or the data directory's `ack-key`
    /// (`seawall serve --public-url URL [--ack-key-file PATH]`;
    /// `AppState::with_links`).
    pub fn with_links(mut self, public_url: Option<String>, key: Option<Vec<u8>>) -> Self {
        self.state = self.state.with_links(public_url, key);
        self
    }

    /// Serve HTTPS with this certificate chain and key (read now: a bad
    /// file is an error before anything is served).
    pub fn with_tls(mut self, tls: &TlsConfig) -> Result<Self, ServerError> {
        self.tls = Some(transport::server_tls(tls)?);
        self.state = self.state.with_secure_cookies(true);
        Ok(self)
    }

    /// Replace the timeouts and the connection cap.
    pub fn with_transport(mut self, limits: TransportLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Watch events with these options (`seawall serve` runs the tick
    /// loop every `scrape_interval`; see `service::monitoring`).
    pub fn with_monitoring(mut self, options: service::monitoring::MonitorOptions) -> Self {
        self.state = self.state.with_monitoring(options);
        self
    }

    /// Whether the server speaks HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Bound the drain on shutdown (default 10 s): connections still busy
    /// after it are dropped.
    pub fn with_drain_timeout(mut self, drain: Duration) -> Self {
        self.drain_timeout = drain;
        self
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin token made on this start (first start only).
    pub fn bootstrap_token(&self) -> Option<&BootstrapToken> {
        self.bootstrap.as_ref()
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown` resolves, then stop accepting, let requests
    /// under way finish (long polls are told to answer), and return.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let (router, _) = api::app(self.state.clone(), ui::routes());
        let router = router.layer(axum::middleware::from_fn_with_state(
            self.limits,
            transport::deadline,
        ));
        let addr = self
            .listener
            .local_addr()
            .map_or_else(|e| format!("({e})"), |a| a.to_string());
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        // The background evaluator runs on the elected replica only
        // (`service::leader`); without an election (SQLite) it always runs.
        if let Some(election) = self.election {
            let port = self.listener.local_addr().map_or(0, |a| a.port());
            let replica = service::leader::Replica::here(port);
            self.state.monitor().leadership().start_election();
            tokio::spawn(service::leader::elect(
                self.state.clone(),
                election,
                replica,
            ));
        } else {
            service::leader::sole_term(&self.state);
        }
        tokio::spawn(service::leader::evaluate(self.state.clone()));
        tracing::info!(
            %addr,
            scheme,
            backend = self.state.store.backend(),
            data_dir = %self.state.data_dir().display(),
            max_connections = self.limits.max_connections,
            "seawall control plane listening"
        );
        transport::serve(
            self.listener,
            transport::Serving {
                router,
                tls: self.tls,
                limits: self.limits,
                drain_timeout: self.drain_timeout,
                state: self.state,
            },
            shutdown,
        )
        .await;
        tracing::info!("seawall control plane stopped");
        Ok(())
    }
}

/// Bind, log where the first admin token's secret was written (first
/// start only; never the secret), and serve until `shutdown` resolves.
pub async fn serve(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let server = Server::bind(config).await?;
    if let Some(token) = server.bootstrap_token() {
        tracing::warn!(file = %token.path.display(), "{}", bootstrap::notice(token));
    }
    server.run(shutdown).await
}

fn make_data_dir(path: &std::path::Path) -> Result<(), ServerError> {
    let err = |source| ServerError::DataDir {
        path: path.to_owned(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(err)?;
    if !path.is_dir() {
        return Err(err(std::io::Error::other("not a directory")));
    }
    Ok(())
}
