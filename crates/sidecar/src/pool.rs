//! The HTTP/1.1 upstream client: hyper's connection-level client
//! (`hyper::client::conn::http1`) with a small pool of idle connections per
//! upstream. The sidecar talks to one or two fixed origins, so it needs no
//! pool keyed by scheme and host, no checkout racing a connect, and no task
//! per request to return a connection: a stack of idle senders is enough,
//! and a connection goes back on it when its response body has ended.
//! (An HTTP/2 upstream keeps hyper-util's client: one multiplexed
//! connection, where those costs are shared by every stream.)

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Why an upstream exchange failed.
#[derive(Debug)]
pub(crate) enum UpstreamError {
    /// No connection could be made (refused, unresolvable, timed out).
    Connect(std::io::Error),
    /// The connection failed during the exchange.
    Exchange(hyper::Error),
    /// The HTTP/2 client failed (connect or exchange).
    Legacy(hyper_util::client::legacy::Error),
}

impl UpstreamError {
    pub(crate) fn is_connect(&self) -> bool {
        match self {
            Self::Connect(_) => true,
            Self::Exchange(_) => false,
            Self::Legacy(e) => e.is_connect(),
        }
    }
}

impl fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "{e}"),
            Self::Exchange(e) => write!(f, "{e}"),
            Self::Legacy(e) => write!(f, "{e}"),
        }
    }
}

/// An idle connection and since when it waits.
#[derive(Debug)]
struct Idle {
    sender: SendRequest<Incoming>,
    since: Instant,
}

/// Where an upstream is and how long a connection to it may take.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    host: String,
    port: u16,
    connect_timeout: Duration,
}

impl Origin {
    pub(crate) fn new(upstream: &crate::Upstream, connect_timeout: Duration) -> Self {
        let (host, port) = upstream.host_port();
        // A bracketed IPv6 host is connected to without its brackets.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Self {
            host: host.to_owned(),
            port,
            connect_timeout,
        }
    }

    /// A new TCP connection (no Nagle delay), within the connect timeout.
    pub(crate) async fn connect(&self) -> std::io::Result<TcpStream> {
        let connecting = TcpStream::connect((self.host.as_str(), self.port));
        let stream = match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "connect timed out after {} ms",
                        self.connect_timeout.as_millis()
                    ),
                ));
            }
        };
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

/// The idle connections to one upstream.
#[derive(Debug)]
pub(crate) struct Pool {
    origin: Origin,
    idle_timeout: Duration,
    max_idle: usize,
    idle: Mutex<Vec<Idle>>,
}

/// A connection lent to one exchange; give it back with [`Pool::put`] once
/// the response body has ended.
#[derive(Debug)]
pub(crate) struct Lent(SendRequest<Incoming>);

impl Pool {
    /// A pool for connections to `origin`.
    pub(crate) fn new(origin: Origin, idle_timeout: Duration, max_idle: usize) -> Arc<Self> {
        Arc::new(Self {
            origin,
            idle_timeout,
            max_idle,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Sends `req` on an idle connection, else on a new one, and returns the
    /// response head with the connection to give back. A request that an
    /// idle connection could not take (it was closing) goes to the next one.
    pub(crate) async fn send(
        &self,
        mut req: Request<Incoming>,
        now: Instant,
    ) -> Result<(Response<Incoming>, Lent), UpstreamError> {
        while let Some(mut sender) = self.take(now) {
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok((resp, Lent(sender))),
                Err(mut e) => match e.take_message() {
                    // Not sent: the connection was closing; try another.
                    Some(r) => req = r,
                    None => return Err(UpstreamError::Exchange(e.into_error())),
                },
            }
        }
        let mut sender = self.connect().await?;
        match sender.send_request(req).await {
            Ok(resp) => Ok((resp, Lent(sender))),
            Err(e) => Err(UpstreamError::Exchange(e)),
        }
    }

    /// The newest idle connection that is ready; closed, busy and stale
    /// ones are dropped.
    fn take(&self, now: Instant) -> Option<SendRequest<Incoming>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(i) = idle.pop() {
            if i.sender.is_ready() && now.saturating_duration_since(i.since) < self.idle_timeout {
                return Some(i.sender);
            }
        }
        None
    }

    async fn connect(&self) -> Result<SendRequest<Incoming>, UpstreamError> {
        let stream = self
            .origin
            .connect()
            .await
            .map_err(UpstreamError::Connect)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(UpstreamError::Exchange)?;
        tokio::spawn(async move {
            // A broken upstream connection shows in its exchange's result.
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Gives a connection back after its response body ended. One that is
    /// not ready yet (the upstream still reads the request body) is waited
    /// for on a task of its own; a closed one, or one beyond `max_idle`,
    /// is dropped (which closes it).
    pub(crate) fn put(self: &Arc<Self>, lent: Lent) {
        let mut sender = lent.0;
        if sender.is_ready() {
            self.push(sender);
        } else if !sender.is_closed()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let pool = Arc::clone(self);
            rt.spawn(async move {
                if sender.ready().await.is_ok() {
                    pool.push(sender);
                }
            });
        }
    }

    fn push(&self, sender: SendRequest<Incoming>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }
}
