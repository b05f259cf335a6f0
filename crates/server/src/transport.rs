//! The control plane's accept loop: HTTP/1.1 and HTTP/2 (hyper-util's
//! auto builder) over plain TCP or TLS (rustls, the `ring` provider), with
//! the limits a service exposed to a whole organisation needs
//! (`docs/security.md`, "Control plane: transport limits"):
//!
//! - **Connection cap.** At most [`TransportLimits::max_connections`]
//!   connections are served at once. One more is answered `503` at once
//!   and closed (over TLS it is closed without a handshake): a flood gets a
//!   fast refusal instead of a queue that grows until everything times out.
//! - **Header timeout.** A connection with no request in progress — from
//!   accept, through the TLS handshake and HTTP version detection, to the
//!   complete head of its first request; and between requests on a
//!   keep-alive connection — is closed after
//!   [`TransportLimits::header_timeout`]. A slowloris client that trickles
//!   its headers, or opens connections and sends nothing, holds a
//!   connection slot for that long at most. One watchdog per connection
//!   covers TLS, HTTP/1.1 and HTTP/2 alike (hyper's own HTTP/1 header
//!   timeout covers neither the handshake nor version detection).
//! - **Request timeout.** A request's handler (which reads the body) must
//!   produce its answer within [`TransportLimits::request_timeout`], else
//!   the answer is 503 `unavailable`. Long polls (the sidecars'
//!   `GET /api/v1/guard/rules?…&wait=N`) are bounded by
//!   [`TransportLimits::long_poll_timeout`] instead.
//! - **Send timeout.** A response that cannot be written because the
//!   client stopped reading (the socket's send buffer stays full) for
//!   [`TransportLimits::send_timeout`] is abandoned and the connection
//!   closed: a slow reader cannot hold a connection slot for ever (nginx's
//!   `send_timeout`).
//! - **Drain.** On shutdown the listener closes, every connection is told
//!   to finish (HTTP/1 after its request under way, HTTP/2 with GOAWAY),
//!   long polls answer at once, and whatever is still open after the drain
//!   timeout is dropped.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::{ServerError, TlsConfig, TransportLimits};

/// A server-side TLS configuration from PEM files: the certificate chain
/// (leaf first) and its private key; ALPN offers `h2` and `http/1.1`.
pub(crate) fn server_tls(tls: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let bad = |path: &Path, reason: String| ServerError::Tls {
        path: path.to_owned(),
        reason,
    };
    let read = |path: &Path| std::fs::read(path).map_err(|e| bad(path, e.to_string()));
    let cert_pem = read(&tls.cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&tls.cert, format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(bad(
            &tls.cert,
            "holds no CERTIFICATE block; give the PEM certificate chain, leaf first".to_owned(),
        ));
    }
    let key_pem = read(&tls.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        bad(
            &tls.key,
            format!("no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}"),
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(crate::client::ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&tls.cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            bad(
                &tls.key,
                format!(
                    "does not go with the certificate in {}: {e}",
                    tls.cert.display()
                ),
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Middleware: bound a request by the request timeout, or a long poll
/// (a `wait` query parameter) by the long-poll timeout; past it, 503.
pub(crate) async fn deadline(
    State(limits): State<TransportLimits>,
    req: Request,
    next: Next,
) -> Response {
    let long_poll = is_long_poll(req.uri());
    let bound = if long_poll {
        limits.long_poll_timeout
    } else {
        limits.request_timeout
    };
    match tokio::time::timeout(bound, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            let what = if long_poll { "long poll" } else { "request" };
            let mut response = ApiError::Unavailable(format!(
                "the {what} took longer than the server's {} ms bound and was stopped; \
                 retry, with a smaller request if it is large",
                bound.as_millis()
            ))
            .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
    }
}

/// Whether the request is a long poll: a long-polling endpoint asked to
/// `wait`.
fn is_long_poll(uri: &http::Uri) -> bool {
    LONG_POLLS.contains(&uri.path())
        && uri
            .query()
            .is_some_and(|q| q.split('&').any(|p| p == "wait" || p.starts_with("wait=")))
}

/// The endpoints that wait on purpose when asked to (`wait=`): a `wait`
/// elsewhere does not lengthen a request's bound.
const LONG_POLLS: &[&str] = &["/api/v1/guard/rules", "/api/v1/guard/whitelist"];

/// The answer to a connection over the cap (plain HTTP).
const OVER_CAP: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 99\r\n\r\n\
{\"error\":{\"code\":\"unavailable\",\"message\":\"too many connections; retry in a second\",\"details\":null}}";

/// Connections over the cap being closed gracefully at once (each for a
/// second at most); past this many they are simply dropped.
const REFUSING: usize = 64;

/// What the accept loop needs besides the listener.
pub(crate) struct Serving {
    pub(crate) router: axum::Router,
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
    pub(crate) limits: TransportLimits,
    pub(crate) drain_timeout: Duration,
    pub(crate) state: crate::AppState,
}

/// Accept and serve until `shutdown`, then drain (module docs).
pub(crate) async fn serve(
    listener: TcpListener,
    serving: Serving,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let Serving {
        router,
        tls,
        limits,
        drain_timeout,
        state,
    } = serving;
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let refusing = Arc::new(Semaphore::new(REFUSING));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The watchdog below bounds header reads for both protocols.
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(None);
    builder.http2().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let (drain, _) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Usually out of file descriptors: back off briefly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::warn!(
                %peer,
                max_connections = limits.max_connections,
                "connection refused: too many connections"
            );
            refuse(stream, acceptor.is_none(), &refusing);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn {
            peer,
            router: router.clone(),
            builder: Arc::clone(&builder),
            limits,
            drain: drain.subscribe(),
        };
        let acceptor = acceptor.clone();
        connections.spawn(async move {
            let _slot = slot;
            match acceptor {
                None => conn.serve(stream).await,
                Some(acceptor) => {
                    let deadline = Instant::now() + limits.header_timeout;
                    match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => conn.serve_from(tls, deadline).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: finishing requests under way");
    state.begin_shutdown();
    let _ = drain.send(true);
    let drained = tokio::time::timeout(drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            drain_timeout_ms = u64::try_from(drain_timeout.as_millis()).unwrap_or(u64::MAX),
            open = connections.len(),
            "requests still under way after the drain timeout; dropping them"
        );
        connections.shutdown().await;
    }
}

/// Answer a connection over the cap: `503` at once on plain HTTP (a
/// short, bounded close so the client reads it), a bare close on TLS.
fn refuse(stream: TcpStream, plain: bool, refusing: &Arc<Semaphore>) {
    if !plain {
        return;
    }
    let _ = stream.try_write(OVER_CAP);
    let Ok(permit) = Arc::clone(refusing).try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let mut stream = stream;
        // Half-close, then read what the client sent (a second at most) so
        // closing does not reset the connection before it reads the 503.
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            for _ in 0..16 {
                match tokio::io::AsyncReadExt::read(&mut stream, &mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
    });
}

/// One accepted connection.
struct Conn {
    peer: SocketAddr,
    router: axum::Router,
    builder: Arc<auto::Builder<TokioExecutor>>,
    limits: TransportLimits,
    drain: watch::Receiver<bool>,
}

impl Conn {
    async fn serve<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let deadline = Instant::now() + self.limits.header_timeout;
        self.serve_from(io, deadline).await;
    }

    /// Serve `io` until it ends; `deadline` bounds the wait for the first
    /// request's head (the watchdog in the module docs).
    async fn serve_from<I>(self, io: I, mut deadline: Instant)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Conn {
            peer,
            router,
            builder,
            limits,
            mut drain,
        } = self;
        // Requests in progress on this connection: from the head parsed to
        // the response body finished (or dropped).
        let busy = Arc::new(watch::Sender::new(0usize));
        let service = {
            let busy = Arc::clone(&busy);
            hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                let guard = InFlight::begin(&busy);
                req.extensions_mut().insert(ConnectInfo(peer));
                let call = tower::Service::call(&mut router.clone(), req.map(Body::new));
                async move {
                    let response = call.await?;
                    Ok::<_, std::convert::Infallible>(response.map(move |body| {
                        Body::new(body.map_frame(move |frame| {
                            let _held = &guard;
                            frame
                        }))
                    }))
                }
            })
        };
        let stalled = Arc::new(Stall::default());
        let io = Watched {
            io,
            stall: Arc::clone(&stalled),
        };
        let served = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
        let mut served = std::pin::pin!(served);
        let mut requests = busy.subscribe();
        let mut draining = false;
        let mut was_busy = false;
        let mut stall_check = tokio::time::interval(
            (limits.send_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1)),
        );
        stall_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let idle = *requests.borrow_and_update() == 0;
            if idle && was_busy {
                deadline = Instant::now() + limits.header_timeout;
            }
            was_busy = !idle;
            tokio::select! {
                result = served.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                changed = requests.changed() => {
                    if changed.is_err() {
                        // Cannot happen while `busy` lives; end rather than spin.
                        return;
                    }
                }
                () = tokio::time::sleep_until(deadline), if idle => {
                    // A response may still be going out after its request
                    // ended (hyper drops a whole body once it is queued):
                    // the wait counts from the last write, and a stalled
                    // write is the send timeout's business.
                    let writes = stalled.state();
                    if writes.since.is_some() {
                        deadline = Instant::now() + limits.header_timeout;
                        continue;
                    }
                    if let Some(last) = writes.last_write
                        && last + limits.header_timeout > Instant::now()
                    {
                        deadline = last + limits.header_timeout;
                        continue;
                    }
                    tracing::debug!(
                        %peer,
                        header_timeout_ms = u64::try_from(limits.header_timeout.as_millis()).unwrap_or(u64::MAX),
                        "closing a connection that sent no complete request head in time"
                    );
                    return;
                }
                _ = stall_check.tick() => {
                    if stalled.longer_than(limits.send_timeout) {
                        tracing::debug!(
                            %peer,
                            send_timeout_ms = u64::try_from(limits.send_timeout.as_millis()).unwrap_or(u64::MAX),
                            "closing a connection whose client stopped reading"
                        );
                        return;
                    }
                }
                _ = drain.changed(), if !draining => {
                    draining = true;
                    served.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// A connection's writes: since when they have been stalled (its client
/// not reading), if they are, and when one last went through.
#[derive(Debug, Default)]
struct Stall(std::sync::Mutex<Writes>);

#[derive(Debug, Default, Clone, Copy)]
struct Writes {
    since: Option<Instant>,
    last_write: Option<Instant>,
}

impl Stall {
    fn lock(&self) -> std::sync::MutexGuard<'_, Writes> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pending(&self) {
        self.lock().since.get_or_insert_with(Instant::now);
    }

    fn progressed(&self) {
        let mut writes = self.lock();
        writes.since = None;
        writes.last_write = Some(Instant::now());
    }

    fn state(&self) -> Writes {
        *self.lock()
    }

    fn longer_than(&self, bound: Duration) -> bool {
        self.lock()
            .since
            .is_some_and(|since| since.elapsed() > bound)
    }
}

/// A connection's stream, noting when writes stall and when they move.
struct Watched<I> {
    io: I,
    stall: Arc<Stall>,
}

impl<I> Watched<I> {
    /// A write: pending is a stall, bytes written are progress.
    fn note(
        &self,
        polled: std::task::Poll<std::io::Result<usize>>,
    ) -> std::task::Poll<std::io::Result<usize>> {
        match &polled {
            std::task::Poll::Pending => self.stall.pending(),
            std::task::Poll::Ready(Ok(n)) if *n > 0 => self.stall.progressed(),
            std::task::Poll::Ready(_) => {}
        }
        polled
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.io).poll_write(cx, buf);
        self.note(polled)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let polled = std::pin::Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.note(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        // hyper flushes an idle connection too: only a flush that cannot
        // finish (TLS records queued) says anything.
        let polled = std::pin::Pin::new(&mut self.io).poll_flush(cx);
        if polled.is_pending() {
            self.stall.pending();
        }
        polled
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// One request in progress on a connection; ends on drop.
struct InFlight(Arc<watch::Sender<usize>>);

impl InFlight {
    fn begin(busy: &Arc<watch::Sender<usize>>) -> Self {
        busy.send_modify(|n| *n += 1);
        Self(Arc::clone(busy))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_polls_are_requests_with_wait() {
        let poll: http::Uri = "/api/v1/guard/rules?service=a&since=1&wait=30"
            .parse()
            .expect("uri");
        assert!(is_long_poll(&poll));
        let plain: http::Uri = "/api/v1/guard/rules?service=await".parse().expect("uri");
        assert!(!is_long_poll(&plain));
        let none: http::Uri = "/api/v1/events".parse().expect("uri");
        assert!(!is_long_poll(&none));
        let elsewhere: http::Uri = "/api/v1/events?wait=60".parse().expect("uri");
        assert!(!is_long_poll(&elsewhere), "only endpoints that long-poll");
    }

    #[test]
    fn the_over_cap_answer_is_well_formed() {
        let text = std::str::from_utf8(OVER_CAP).expect("utf8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|n| n.parse().ok())
            .expect("content-length");
        assert_eq!(body.len(), length);
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["error"]["code"], "unavailable");
    }
}
