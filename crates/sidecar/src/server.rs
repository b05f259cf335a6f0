//! Listening and shutting down: the proxy's accept loop (HTTP/1.1 and h2c
//! on one port), the admin port, the rules poller, and a graceful shutdown
//! that stops accepting and drains in-flight requests for a bounded time.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use seawall_guard::{CoarseClock, Guard};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::config::Config;
use crate::conn::{HyperServer, answer_and_close};
use crate::proxy::{self, Shared};
use crate::reload::{self, RulesStatus};
use crate::{SidecarError, admin, fast, follow, lease};

/// A sidecar whose sockets are bound and whose rules are loaded; [`run`](Sidecar::run) it.
#[derive(Debug)]
pub struct Sidecar {
    shared: Arc<Shared>,
    listener: TcpListener,
    admin: Option<TcpListener>,
    config: Config,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Connections still open when shutdown began.
    pub open_connections: usize,
    /// Whether they all finished within the drain timeout.
    pub drained: bool,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, SidecarError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| SidecarError::Bind { addr, source })
}

impl Sidecar {
    /// Loads the rules file (a bad one is an error: nothing starts) and
    /// binds the proxy and admin sockets.
    pub async fn bind(config: Config) -> Result<Self, SidecarError> {
        if let Some(c) = &config.control {
            follow::prime(c, &config.rules_path, config.gray_upstream.is_some()).await;
        }
        let (rules, hash) =
            reload::load(&config.rules_path, config.gray_upstream.is_some()).await?;
        // A clock read once a millisecond by a background thread: a check
        // then reads an atomic instead of the system clock (78 ns against
        // 125 ns per check on the benchmark machine, docs/benchmarks.md);
        // 1 ms is far finer than the 100 ms buckets and the breakers' periods.
        let clock = match &config.clock {
            Some(clock) => clock.clone(),
            None => CoarseClock::new(std::time::Duration::from_millis(1))
                .map_err(SidecarError::Clock)?,
        };
        let guard = Guard::with_clock(rules.clone(), clock).map_err(|problem| {
            SidecarError::RulesInvalid {
                path: config.rules_path.clone(),
                problem,
            }
        })?;
        let admin = match config.admin_listen {
            // Switches flip with one unauthenticated PUT: off loopback, only
            // behind a token.
            Some(a)
                if !a.ip().to_canonical().is_loopback()
                    && config.admin_token.as_deref().is_none_or(str::is_empty) =>
            {
                return Err(SidecarError::AdminExposed { addr: a });
            }
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        let listener = bind(config.listen).await?;
        let status = RulesStatus::new(&config.rules_path, rules.version, hash);
        let shared = Shared::new(&config, guard, &rules, status);
        Ok(Self {
            shared,
            listener,
            admin,
            config,
        })
    }

    /// The proxy's address (useful after binding port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, std::io::Error> {
        self.listener.local_addr()
    }

    /// The admin API's address, if it has one.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then stops accepting and waits up
    /// to the drain timeout for open requests to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> ShutdownReport {
        let Self {
            shared,
            listener,
            admin,
            config,
        } = self;
        let reloader = tokio::spawn(reload::watch(Arc::clone(&shared), config.reload_interval));
        let admin_addr = admin
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .filter(|a| !a.ip().is_unspecified())
            .map(|a| a.to_string());
        let leaser = config
            .control
            .clone()
            .map(|c| tokio::spawn(lease::lease(Arc::clone(&shared), c)));
        let follower = config.control.clone().map(|mut c| {
            c.admin_addr = c.admin_addr.or(admin_addr);
            tokio::spawn(follow::follow(Arc::clone(&shared), c))
        });
        let admin = admin.map(|l| tokio::spawn(admin::serve(l, Arc::clone(&shared))));
        let hyper = Arc::new(HyperServer::new(&config));
        // One permit per open client connection; past the cap a connection
        // is answered 503 and closed at once rather than left in the accept
        // queue (where clients time out with no answer) or served with
        // descriptors the upstream connections need. Refusals in progress
        // are bounded too: past that, a connection is just closed.
        let slots = Arc::new(Semaphore::new(
            config.max_connections.min(Semaphore::MAX_PERMITS),
        ));
        let refusals = Arc::new(Semaphore::new(REFUSALS));
        // Every connection holds a receiver: `true` starts its graceful
        // end; the count of receivers is the count of open connections.
        let (drain, _) = watch::channel(false);
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        // Usually out of file descriptors: back off briefly.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
            };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                shared.metrics.connections_refused.inc();
                if let Ok(r) = Arc::clone(&refusals).try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse_connection(stream).await;
                        drop(r);
                    });
                }
                continue;
            };
            let _ = stream.set_nodelay(true);
            let conn = proxy::Connection::new(Arc::clone(&shared), peer.ip());
            let rx = drain.subscribe();
            let hyper = Arc::clone(&hyper);
            if shared.fast_path {
                tokio::spawn(async move {
                    fast::serve(stream, conn, rx, hyper).await;
                    drop(slot);
                });
            } else {
                tokio::spawn(async move {
                    hyper.serve(stream, conn, rx).await;
                    drop(slot);
                });
            }
        }
        drop(listener);
        let open_connections = drain.receiver_count();
        tracing::info!(
            "shutting down: stopped accepting; draining {open_connections} connection(s) for up to {} ms",
            config.drain_timeout.as_millis()
        );
        let _ = drain.send(true);
        let drained = tokio::time::timeout(config.drain_timeout, drain.closed())
            .await
            .is_ok();
        reloader.abort();
        if let Some(f) = &follower {
            f.abort();
        }
        if let Some(l) = &leaser {
            l.abort();
        }
        if let Some(a) = admin {
            a.abort();
        }
        tracing::info!(
            "stopped ({})",
            if drained {
                "all requests finished"
            } else {
                "drain timeout: open requests cut off"
            }
        );
        ShutdownReport {
            open_connections,
            drained,
        }
    }
}

/// Connections being refused (503) at once, at most.
const REFUSALS: usize = 256;

/// What a connection past `max_connections` gets.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\
    content-type: text/plain; charset=utf-8\r\nx-seawall-reason-kind: max_connections\r\n\
    content-length: 44\r\n\r\nthe sidecar has too many open connections.\r\n";

/// Answers a connection past the cap with 503 and closes it.
async fn refuse_connection(mut stream: TcpStream) {
    answer_and_close(&mut stream, REFUSED).await;
}

/// Completes on ctrl-c (SIGINT) or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
