//! The fast path's upstream connections (a module of their own, below the
//! proxy's shared state that holds the pools and the fast path that uses
//! them): plain keep-alive TCP streams with
//! their read buffers, on a stack of idle ones per upstream. A connection
//! is given back only after a complete exchange with nothing left over, so
//! the next request on it starts on a clean stream.

use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::net::TcpStream;

use crate::pool::Origin;

/// One HTTP/1.1 connection to the upstream.
#[derive(Debug)]
pub(crate) struct UpConn {
    pub(crate) stream: TcpStream,
    /// Bytes read from the upstream and not yet relayed.
    pub(crate) buf: BytesMut,
    /// It came from the idle stack (it may have been closed meanwhile).
    pub(crate) reused: bool,
}

/// The idle connections to one upstream.
#[derive(Debug)]
pub(crate) struct RawPool {
    origin: Origin,
    idle_timeout: Duration,
    max_idle: usize,
    idle: Mutex<Vec<(UpConn, Instant)>>,
}

/// Initial read buffer of an upstream connection.
const BUF: usize = 16 * 1024;

impl RawPool {
    /// A pool for connections to `origin`.
    pub(crate) fn new(origin: Origin, idle_timeout: Duration, max_idle: usize) -> Self {
        Self {
            origin,
            idle_timeout,
            max_idle,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The newest idle connection that is still open and quiet; stale,
    /// closed ones and ones with unexpected bytes are dropped.
    pub(crate) fn take(&self, now: Instant) -> Option<UpConn> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((mut c, since)) = idle.pop() {
            if now.saturating_duration_since(since) < self.idle_timeout && quiet(&mut c.stream) {
                c.reused = true;
                return Some(c);
            }
        }
        None
    }

    /// A new connection (within the connect timeout).
    pub(crate) async fn connect(&self) -> std::io::Result<UpConn> {
        Ok(UpConn {
            stream: self.origin.connect().await?,
            buf: BytesMut::with_capacity(BUF),
            reused: false,
        })
    }

    /// Gives back a connection whose exchange ended cleanly.
    pub(crate) fn put(&self, c: UpConn) {
        if !c.buf.is_empty() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push((c, Instant::now()));
        }
    }
}

/// Whether an idle stream has neither been closed by the upstream nor sent
/// anything unasked. Uses the readiness the runtime already knows, so the
/// usual case (nothing happened) costs no system call.
fn quiet(stream: &mut TcpStream) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    match stream.poll_read_ready(&mut cx) {
        Poll::Pending => true,
        Poll::Ready(Err(_)) => false,
        Poll::Ready(Ok(())) => {
            let mut probe = [0u8; 1];
            matches!(stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn idle_connections_are_checked_before_reuse() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let upstream = crate::Upstream::parse(&format!("http://{addr}")).expect("url");
        let origin = Origin::new(&upstream, Duration::from_secs(2));
        let pool = RawPool::new(origin, Duration::from_secs(60), 4);
        let a = pool.connect().await.expect("connect");
        let (mut a_srv, _) = listener.accept().await.expect("accept");
        let b = pool.connect().await.expect("connect");
        let (b_srv, _) = listener.accept().await.expect("accept");
        let c = pool.connect().await.expect("connect");
        let (_c_srv, _) = listener.accept().await.expect("accept");
        pool.put(c);
        pool.put(b);
        pool.put(a);
        // a: stray bytes; b: closed; c: fine.
        a_srv
            .write_all(b"HTTP/1.1 200 OK\r\n")
            .await
            .expect("write");
        drop(b_srv);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let got = pool.take(Instant::now()).expect("one is usable");
        assert!(got.reused);
        assert!(pool.take(Instant::now()).is_none());
        // Stale by the idle timeout.
        pool.put(got);
        assert!(
            pool.take(Instant::now() + Duration::from_secs(61))
                .is_none()
        );
    }
}
