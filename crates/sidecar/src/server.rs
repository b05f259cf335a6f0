//! Listening and shutting down: the proxy's accept loop (HTTP/1.1 and h2c
//! on one port), the admin port, the rules poller, and a graceful shutdown
//! that stops accepting and drains in-flight requests for a bounded time.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use seawall_guard::{CoarseClock, Guard};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::config::Config;
use crate::proxy::{self, Shared};
use crate::reload::{self, RulesStatus};
use crate::{SidecarError, admin, control, fast};

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
            control::prime(c, &config.rules_path, config.gray_upstream.is_some()).await;
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
        let follower = config
            .control
            .clone()
            .map(|c| tokio::spawn(control::follow(Arc::clone(&shared), c)));
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

/// hyper's server (HTTP/1.1 and h2c on one port): every connection when
/// the fast path is off, and those the fast path leaves to it.
#[derive(Debug)]
pub(crate) struct HyperServer {
    builder: auto::Builder<TokioExecutor>,
    /// A connection with no bytes moving either way this long is shut
    /// down gracefully (its open requests finish first).
    idle: Duration,
}

impl HyperServer {
    fn new(config: &Config) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // hyper arms this timer whenever a connection waits for a head, so
        // it also bounds an idle keep-alive connection on this path.
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout.min(config.keepalive_timeout));
        builder.http2().timer(TokioTimer::new());
        Self {
            builder,
            idle: config.keepalive_timeout,
        }
    }

    /// Serves one connection until it ends; when `drain` turns true it
    /// finishes its open requests and closes.
    pub(crate) async fn serve<I>(
        &self,
        io: I,
        conn: Arc<proxy::Connection>,
        mut drain: watch::Receiver<bool>,
    ) where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let svc = service_fn(move |req| proxy::handle(Arc::clone(&conn), req));
        let activity = Arc::new(AtomicU64::new(0));
        let epoch = tokio::time::Instant::now();
        let io = Watched {
            io,
            epoch,
            last: Arc::clone(&activity),
        };
        let served = self.builder.serve_connection(TokioIo::new(io), svc);
        let mut served = std::pin::pin!(served);
        // Until a shutdown begins or nothing moves for `idle` (HTTP/2 has
        // no idle timer of its own; HTTP/1.1's head timer is shorter).
        let mut seen = u64::MAX;
        while !*drain.borrow_and_update() {
            let last = activity.load(Ordering::Relaxed);
            if last == seen {
                break;
            }
            seen = last;
            let deadline = epoch + Duration::from_millis(last) + self.idle;
            tokio::select! {
                // A client's broken connection concerns nobody else.
                _ = served.as_mut() => return,
                _ = drain.changed() => break,
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
        served.as_mut().graceful_shutdown();
        let _ = served.await;
    }
}

/// A client connection's stream that notes when bytes last moved (in
/// milliseconds since `epoch`), for the idle timeout on hyper's path.
struct Watched<I> {
    io: I,
    epoch: tokio::time::Instant,
    last: Arc<AtomicU64>,
}

impl<I> Watched<I> {
    fn moved(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(ms, Ordering::Relaxed);
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.moved();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
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

/// Writes `answer` (a whole response with `connection: close`), then closes
/// so that the client can read it: the write side shut first, what the
/// client sent read and dropped for a moment, so the close is not a reset
/// that loses the answer. Bounded to 1 s.
pub(crate) async fn answer_and_close(stream: &mut TcpStream, answer: &[u8]) {
    let answer = async {
        stream.write_all(answer).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut total = 0usize;
        while total < 64 * 1024 {
            match stream.read(&mut sink).await? {
                0 => break,
                n => total += n,
            }
        }
        Ok::<(), std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
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
