//! A sidecar's `/metrics` page as the control plane's monitor scrapes it,
//! for browser tests of the Live page: one entry's request counter that
//! grows by a fixed step at every scrape, so two ticks give a rate. Plain
//! HTTP/1.1 on 127.0.0.1, one answer per connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::E2eError;

/// The page, served until dropped.
pub struct MetricsPage {
    /// `127.0.0.1:<port>`, as a plan's `monitoring.scrape` names it.
    pub addr: String,
    task: JoinHandle<()>,
}

impl MetricsPage {
    /// Serve `seawall_sidecar_requests_total{resource="<resource>"}`,
    /// `step` more at each scrape.
    pub async fn start(resource: &str, step: u64) -> Result<MetricsPage, E2eError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(E2eError::io("bind the metrics page"))?;
        let addr = listener
            .local_addr()
            .map_err(E2eError::io("the metrics page's address"))?
            .to_string();
        let resource = resource.to_owned();
        let scrapes = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let total = (scrapes.fetch_add(1, Ordering::SeqCst) + 1).saturating_mul(step);
                tokio::spawn(answer(conn, resource.clone(), total));
            }
        });
        Ok(MetricsPage { addr, task })
    }
}

impl Drop for MetricsPage {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Read the request head, then send the page and close.
async fn answer(mut conn: TcpStream, resource: String, total: u64) {
    let mut head = Vec::new();
    let mut chunk = [0_u8; 1024];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
    let page = format!(
        "# TYPE seawall_sidecar_requests_total counter\n\
         seawall_sidecar_requests_total{{resource=\"{resource}\",result=\"ok\"}} {total}\n"
    );
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{page}",
        page.len()
    );
    // A failed write only means the scraper went away; its next scrape
    // connects again.
    let _ = conn.write_all(reply.as_bytes()).await;
}
