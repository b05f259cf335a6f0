//! Connection pool on hyper 1's low-level client API: HTTP/1.1 keep-alive
//! connections (one request in flight each) or one shared HTTP/2
//! connection. The cap on concurrent requests is the runner's semaphore;
//! the pool itself only keeps idle connections and opens new ones.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::{http1, http2};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::config::{HttpVersion, Target};
use crate::stats::ErrorClass;

type Body = Full<Bytes>;

/// Keep-alive connections and how to make more.
#[derive(Debug)]
pub(crate) struct Pool {
    addr: SocketAddr,
    http: HttpVersion,
    timeout: Duration,
    /// Idle HTTP/1.1 connections, most recently used last.
    idle: Mutex<Vec<http1::SendRequest<Body>>>,
    /// The shared HTTP/2 connection, opened on first use and reopened
    /// when it closes.
    h2: tokio::sync::Mutex<Option<http2::SendRequest<Body>>>,
}

impl Pool {
    pub(crate) fn new(addr: SocketAddr, http: HttpVersion, timeout: Duration) -> Self {
        Self {
            addr,
            http,
            timeout,
            idle: Mutex::new(Vec::new()),
            h2: tokio::sync::Mutex::new(None),
        }
    }

    /// Send one request and read the whole response within the timeout.
    /// `Ok` carries the status of a complete response.
    pub(crate) async fn send(&self, target: &Target) -> Result<StatusCode, ErrorClass> {
        let request = build(target);
        match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(result) => result,
            Err(_) => Err(ErrorClass::Timeout),
        }
    }

    async fn exchange(&self, request: Request<Body>) -> Result<StatusCode, ErrorClass> {
        match self.http {
            HttpVersion::Http1 => {
                let mut sender = match self.take_idle() {
                    Some(s) => s,
                    None => self.connect_h1().await?,
                };
                sender.ready().await.map_err(|_| ErrorClass::Io)?;
                let status = complete(sender.send_request(request)).await?;
                self.put_idle(sender);
                Ok(status)
            }
            HttpVersion::Http2 => {
                let mut sender = self.h2_sender().await?;
                sender.ready().await.map_err(|_| ErrorClass::Io)?;
                complete(sender.send_request(request)).await
            }
        }
    }

    fn take_idle(&self) -> Option<http1::SendRequest<Body>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded by the number of idle connections; closed ones are dropped.
        while let Some(sender) = idle.pop() {
            if !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    fn put_idle(&self, sender: http1::SendRequest<Body>) {
        if !sender.is_closed() {
            self.idle
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sender);
        }
    }

    async fn tcp(&self) -> Result<TokioIo<TcpStream>, ErrorClass> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|_| ErrorClass::Connect)?;
        // Small requests must not wait for Nagle's algorithm.
        stream.set_nodelay(true).map_err(|_| ErrorClass::Connect)?;
        Ok(TokioIo::new(stream))
    }

    async fn connect_h1(&self) -> Result<http1::SendRequest<Body>, ErrorClass> {
        let io = self.tcp().await?;
        let (sender, connection) = http1::handshake(io)
            .await
            .map_err(|_| ErrorClass::Connect)?;
        // The connection task ends when the sender is dropped or the peer
        // closes; its error surfaces on the sender, so it is ignored here.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    async fn h2_sender(&self) -> Result<http2::SendRequest<Body>, ErrorClass> {
        let mut shared = self.h2.lock().await;
        if let Some(sender) = shared.as_ref()
            && !sender.is_closed()
        {
            return Ok(sender.clone());
        }
        let io = self.tcp().await?;
        let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
            .await
            .map_err(|_| ErrorClass::Connect)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        *shared = Some(sender.clone());
        Ok(sender)
    }
}

/// Await the response head, then read the whole body. The body's frames
/// are dropped as they arrive: nothing is buffered or copied per request.
async fn complete(
    response: impl Future<Output = hyper::Result<Response<Incoming>>>,
) -> Result<StatusCode, ErrorClass> {
    let response = response.await.map_err(|_| ErrorClass::Io)?;
    let status = response.status();
    let mut body = response.into_body();
    // Bounded by the body's length; the caller's deadline bounds the time.
    while let Some(frame) = body.frame().await {
        frame.map_err(|_| ErrorClass::Body)?;
    }
    Ok(status)
}

/// The request for one arrival, from the checked template.
fn build(target: &Target) -> Request<Body> {
    let mut request = Request::new(Full::new(target.body.clone()));
    *request.method_mut() = target.method.clone();
    *request.uri_mut() = target.uri.clone();
    *request.headers_mut() = target.headers.clone();
    request
}

// ---- Scenario runs: arbitrary requests whose response body is kept. ----

impl Pool {
    /// Send one request built from its parts and return the status and the
    /// whole response body, within the timeout (scenario steps extract
    /// values from the body).
    pub(crate) async fn fetch(
        &self,
        method: hyper::Method,
        uri: hyper::Uri,
        headers: hyper::HeaderMap,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), ErrorClass> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        match tokio::time::timeout(self.timeout, self.fetch_exchange(request)).await {
            Ok(result) => result,
            Err(_) => Err(ErrorClass::Timeout),
        }
    }

    async fn fetch_exchange(
        &self,
        request: Request<Body>,
    ) -> Result<(StatusCode, Bytes), ErrorClass> {
        match self.http {
            HttpVersion::Http1 => {
                let mut sender = match self.take_idle() {
                    Some(s) => s,
                    None => self.connect_h1().await?,
                };
                sender.ready().await.map_err(|_| ErrorClass::Io)?;
                let response = read_all(sender.send_request(request)).await?;
                self.put_idle(sender);
                Ok(response)
            }
            HttpVersion::Http2 => {
                let mut sender = self.h2_sender().await?;
                sender.ready().await.map_err(|_| ErrorClass::Io)?;
                read_all(sender.send_request(request)).await
            }
        }
    }
}

/// Await the response head, then read and keep the whole body.
async fn read_all(
    response: impl Future<Output = hyper::Result<Response<Incoming>>>,
) -> Result<(StatusCode, Bytes), ErrorClass> {
    let response = response.await.map_err(|_| ErrorClass::Io)?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|_| ErrorClass::Body)?;
    Ok((status, body.to_bytes()))
}
