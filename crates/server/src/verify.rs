//! Reading the whole audit log for `seawall audit verify`, from a server
//! (page by page through `GET /api/v1/audit`) or straight from the
//! database; [`seawall_store::audit::verify`] then re-hashes every entry
//! on the caller's side.

use seawall_store::{AuditEntry, Store, StoreError};

use crate::api::audit::{AuditPage, MAX_LIMIT};
use crate::client::{Client, ClientError};

/// Why the log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// No answer, or not the expected one.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server refused (bad token, role).
    #[error("{url} answered {status}: {message}")]
    Refused {
        /// URL asked.
        url: String,
        /// Status.
        status: u16,
        /// The API's message.
        message: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server's pages do not follow each other.
    #[error("the server's audit pages do not follow each other (after {after}, got seq {seq})")]
    Paging {
        /// Asked after.
        after: i64,
        /// First seq received.
        seq: i64,
    },
}

/// Every entry, through the API.
pub async fn fetch_all(client: &Client) -> Result<Vec<AuditEntry>, ReadError> {
    let mut all = Vec::new();
    let mut after = 0i64;
    loop {
        let r = client
            .get(&format!("/api/v1/audit?after={after}&limit={MAX_LIMIT}"))
            .await?;
        if !r.status.is_success() {
            let message = r
                .error()
                .map(|e| e.error.message)
                .unwrap_or_else(|| r.text());
            return Err(ReadError::Refused {
                url: r.url.clone(),
                status: r.status.as_u16(),
                message,
            });
        }
        let page: AuditPage = r.json()?;
        if let Some(first) = page.entries.first()
            && first.seq <= after
        {
            return Err(ReadError::Paging {
                after,
                seq: first.seq,
            });
        }
        let last = page.entries.last().map(|e| e.seq);
        all.extend(page.entries.into_iter().map(AuditEntry::from));
        match (page.next_after, last) {
            (Some(next), Some(_)) if next > after => after = next,
            _ => break,
        }
    }
    Ok(all)
}

/// Every entry, from the database.
pub async fn read_store(store: &dyn Store) -> Result<Vec<AuditEntry>, ReadError> {
    let mut all: Vec<AuditEntry> = Vec::new();
    let mut after = 0i64;
    loop {
        let page = store.audit(after, MAX_LIMIT).await?;
        let Some(last) = page.last().map(|e| e.seq) else {
            break;
        };
        let full = page.len() == MAX_LIMIT as usize;
        all.extend(page);
        if !full || last <= after {
            break;
        }
        after = last;
    }
    Ok(all)
}
