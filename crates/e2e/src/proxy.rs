//! A recording HTTP proxy on 127.0.0.1: Chromium is told to send every
//! request that is not for the control plane through it. It answers each
//! with 502 and remembers the request line (`GET http://host/path …` or
//! `CONNECT host:443 …`), so "no page made an external request" is a fact a
//! test checks, not a hope.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::E2eError;

/// Hosts Debian's Chromium (148 to 156) contacts on its own even with
/// `--disable-background-networking` and the other flags the harness
/// passes: its default search engine (preconnected), the extension
/// updater, and the sign-in check. They are the browser's, not a page's,
/// so the "no external request" check leaves them out; a page that used
/// one would still be caught by the CSP and same-origin resource checks.
pub const BROWSER_OWN_HOSTS: &[&str] = &[
    "start.duckduckgo.com",
    "update.googleapis.com",
    "accounts.google.com",
];

/// The host a proxy request line names: `CONNECT host:443 …` or
/// `GET http://host[:port]/path …`.
pub fn host_of(line: &str) -> &str {
    let target = line.split_whitespace().nth(1).unwrap_or("");
    let authority = match target.split_once("://") {
        Some((_, rest)) => rest.split('/').next().unwrap_or(""),
        None => target,
    };
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

/// The most of a request head read to find its first line.
const HEAD_LIMIT: usize = 16 * 1024;

/// A proxy that records what it was asked for and forwards nothing.
#[derive(Debug)]
pub struct RecordingProxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl RecordingProxy {
    /// Listen on a free port of 127.0.0.1.
    pub async fn start() -> Result<RecordingProxy, E2eError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(E2eError::io("bind the recording proxy"))?;
        let addr = listener
            .local_addr()
            .map_err(E2eError::io("the recording proxy's address"))?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, record.clone()));
            }
        });
        Ok(RecordingProxy { addr, seen, task })
    }

    /// `http://127.0.0.1:<port>`, for `--proxy-server`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request lines received so far, in order.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The request lines received so far, less those for Chromium's own
    /// background services ([`BROWSER_OWN_HOSTS`]): what pages asked for.
    pub fn seen_from_pages(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .filter(|line| !BROWSER_OWN_HOSTS.contains(&host_of(line)))
            .collect()
    }

    /// Forget what was received so far.
    pub fn clear(&self) {
        if let Ok(mut s) = self.seen.lock() {
            s.clear();
        }
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Read the request head (bounded in size and time), record its first
/// line, answer 502 and close.
async fn answer(mut stream: TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    let read = async {
        while head.len() < HEAD_LIMIT && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), read).await;
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return;
    }
    if let Ok(mut s) = seen.lock() {
        s.push(line.to_owned());
    }
    let body = "seawall e2e: external requests are not allowed\n";
    let reply = format!(
        "HTTP/1.1 502 Bad Gateway\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_from_request_lines() {
        for (line, host) in [
            (
                "CONNECT accounts.google.com:443 HTTP/1.1",
                "accounts.google.com",
            ),
            ("GET http://example.invalid/ HTTP/1.1", "example.invalid"),
            ("POST http://127.0.0.2:9/x?y=1 HTTP/1.1", "127.0.0.2"),
            (
                "GET http://update.googleapis.com HTTP/1.1",
                "update.googleapis.com",
            ),
            ("garbage", ""),
        ] {
            assert_eq!(host_of(line), host, "{line}");
        }
    }

    /// A plain-HTTP proxy request and a CONNECT are both recorded, and
    /// both get 502.
    #[tokio::test]
    async fn records_request_lines_and_answers_502() {
        let proxy = RecordingProxy::start().await.expect("proxy");
        assert!(proxy.seen().is_empty());
        for request in [
            "GET http://example.invalid/a.css HTTP/1.1\r\nHost: example.invalid\r\n\r\n",
            "CONNECT fonts.example.invalid:443 HTTP/1.1\r\nHost: fonts.example.invalid:443\r\n\r\n",
        ] {
            let mut s = TcpStream::connect(proxy.addr).await.expect("connect");
            s.write_all(request.as_bytes()).await.expect("write");
            let mut reply = String::new();
            s.read_to_string(&mut reply).await.expect("read");
            assert!(reply.starts_with("HTTP/1.1 502 "), "{reply}");
        }
        assert_eq!(
            proxy.seen(),
            [
                "GET http://example.invalid/a.css HTTP/1.1",
                "CONNECT fonts.example.invalid:443 HTTP/1.1"
            ]
        );
        assert!(proxy.seen_from_pages().len() == 2);
        proxy.clear();
        assert!(proxy.seen().is_empty());
    }
}
