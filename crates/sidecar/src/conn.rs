//! One client connection's two ways of being served, below both the
//! accept loop (`server`) and the fast path (`fast`), which hand
//! connections to each other: hyper's server with its idle timeout, and
//! the bounded write-then-close of an answer that ends a connection.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::config::Config;
use crate::proxy;

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
    pub(crate) fn new(config: &Config) -> Self {
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
