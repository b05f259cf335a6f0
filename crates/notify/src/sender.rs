//! One message to one channel over HTTP: the request of [`render`] posted
//! with `seawall_api::Client` (hyper 1, one connection per request,
//! rustls with the `ring` provider and the system's roots or a CA file:
//! the workspace's one HTTP client stack), a deadline per attempt, and
//! bounded retries with exponential backoff on 5xx, throttling, timeouts
//! and connection failures. A refusal (4xx, an error code) is not retried:
//! the same request would be refused again, and the queue falls back to
//! the next channel instead. Errors and logs name the channel and the
//! webhook's scheme and host, never its credential.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderName, Method, header};
use seawall_api::{Client, ClientError};
use seawall_plan::outbound::{self, Allow, Host};

use crate::message::Message;
use crate::render::{Channel, Outgoing, render};
use crate::response::{Verdict, classify};

/// How hard to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Deadline of one attempt (connect, send, whole answer).
    pub timeout: Duration,
    /// Wait before the second attempt; doubled each time.
    pub backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured; a longer one ends the tries (the
    /// queue keeps the message and the budget catches up).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            timeout: Duration::from_secs(10),
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// The wall clock in Unix milliseconds (signatures carry it).
pub type WallClock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A message the channel took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Attempts it took (1 = first time).
    pub attempts: u32,
}

/// Why a channel did not take a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The provider refused it; retrying would not help.
    #[error("channel {channel} ({url}): refused: {detail}")]
    Refused {
        /// Channel id.
        channel: String,
        /// Scheme and host of the webhook.
        url: String,
        /// The provider's code and words.
        detail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// Still throttled after the last attempt.
    #[error("channel {channel} ({url}): throttled after {attempts} attempts: {detail}")]
    Throttled {
        /// Channel id.
        channel: String,
        /// Scheme and host of the webhook.
        url: String,
        /// The provider's words.
        detail: String,
        /// The last `Retry-After`.
        retry_after: Option<Duration>,
        /// Attempts made.
        attempts: u32,
    },
    /// 5xx, timeouts or connection failures until the last attempt.
    #[error("channel {channel} ({url}): unavailable after {attempts} attempts: {detail}")]
    Unavailable {
        /// Channel id.
        channel: String,
        /// Scheme and host of the webhook.
        url: String,
        /// The last failure.
        detail: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The request cannot be made (a bad URL, TLS settings).
    #[error("channel {channel} ({url}): cannot send: {detail}")]
    Setup {
        /// Channel id.
        channel: String,
        /// Scheme and host of the webhook.
        url: String,
        /// What is wrong.
        detail: String,
    },
}

impl SendError {
    /// Attempts made (0 when none could be).
    pub fn attempts(&self) -> u32 {
        match self {
            SendError::Refused { attempts, .. }
            | SendError::Throttled { attempts, .. }
            | SendError::Unavailable { attempts, .. } => *attempts,
            SendError::Setup { .. } => 0,
        }
    }
}

/// Sends messages to channels.
#[derive(Clone)]
pub struct Sender {
    policy: RetryPolicy,
    ca: Option<PathBuf>,
    clock: WallClock,
    hosts: Option<Arc<Vec<Allow>>>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("policy", &self.policy)
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

/// What one attempt came to.
enum Attempt {
    Verdict(Verdict),
    /// No answer: worth a retry.
    Transport(String),
    /// The request cannot be made.
    Setup(String),
}

impl Sender {
    /// A sender with `policy`, the system's roots and the system clock.
    pub fn new(policy: RetryPolicy) -> Self {
        let clock: WallClock = Arc::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        });
        Self {
            policy,
            ca: None,
            clock,
            hosts: None,
        }
    }

    /// Refuse, before connecting, a webhook whose host is, or resolves
    /// to, a loopback, unspecified, link-local or metadata address that
    /// `allow` (the plan's `emergency.allow_hosts`) does not list — the
    /// check plan check makes of the written host (E080), made again with
    /// every address the name resolves to now. Such a send fails at once
    /// (no retry), so the queue falls back to the next channel.
    pub fn with_host_check(mut self, allow: Vec<Allow>) -> Self {
        self.hosts = Some(Arc::new(allow));
        self
    }

    /// Trust the CA certificates in this PEM file for `https://` webhooks
    /// (a corporate relay), instead of the system's roots.
    pub fn with_ca(mut self, ca: PathBuf) -> Self {
        self.ca = Some(ca);
        self
    }

    /// Sign with this clock (tests fix it to check signatures exactly).
    pub fn with_clock(mut self, clock: WallClock) -> Self {
        self.clock = clock;
        self
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Sends `message` to `channel`: rendered and signed afresh for each
    /// attempt (a retry carries a current timestamp).
    pub async fn send(&self, channel: &Channel, message: &Message) -> Result<Delivery, SendError> {
        let url = channel.redacted_url();
        let attempts = self.policy.attempts.max(1);
        let mut backoff = self.policy.backoff;
        for attempt in 1..=attempts {
            let outgoing = render(channel, message, (self.clock)());
            let last = attempt == attempts;
            let wait = match self.attempt(channel, &outgoing).await {
                Attempt::Verdict(Verdict::Delivered) => {
                    tracing::debug!(channel = %channel.id, %url, attempt, "message delivered");
                    return Ok(Delivery { attempts: attempt });
                }
                Attempt::Verdict(Verdict::Refused(detail)) => {
                    tracing::warn!(channel = %channel.id, %url, attempt, %detail, "message refused");
                    return Err(SendError::Refused {
                        channel: channel.id.clone(),
                        url,
                        detail,
                        attempts: attempt,
                    });
                }
                Attempt::Setup(detail) => {
                    return Err(SendError::Setup {
                        channel: channel.id.clone(),
                        url,
                        detail,
                    });
                }
                Attempt::Verdict(Verdict::Throttled {
                    retry_after,
                    detail,
                }) => {
                    tracing::info!(channel = %channel.id, %url, attempt, %detail, "throttled");
                    let too_long = retry_after.is_some_and(|r| r > self.policy.max_retry_after);
                    if last || too_long {
                        return Err(SendError::Throttled {
                            channel: channel.id.clone(),
                            url,
                            detail,
                            retry_after,
                            attempts: attempt,
                        });
                    }
                    retry_after.unwrap_or(backoff).max(backoff)
                }
                Attempt::Verdict(Verdict::Retry(detail)) | Attempt::Transport(detail) => {
                    tracing::info!(channel = %channel.id, %url, attempt, %detail, "send failed");
                    if last {
                        return Err(SendError::Unavailable {
                            channel: channel.id.clone(),
                            url,
                            detail,
                            attempts: attempt,
                        });
                    }
                    backoff
                }
            };
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.policy.max_backoff);
        }
        // The loop returns on its last attempt; this is for the compiler.
        Err(SendError::Unavailable {
            channel: channel.id.clone(),
            url,
            detail: "no attempt made".to_owned(),
            attempts,
        })
    }

    /// One POST.
    async fn attempt(&self, channel: &Channel, outgoing: &Outgoing) -> Attempt {
        let Some((base, path)) = split_url(&outgoing.url) else {
            return Attempt::Setup("the webhook is not an http(s) URL with a host".to_owned());
        };
        if let Some(allow) = &self.hosts
            && let Err(why) = check_host(&outgoing.url, allow).await
        {
            return Attempt::Setup(why);
        }
        let client = match Client::new_with_ca(base, self.ca.as_deref()) {
            Ok(c) => c.with_timeout(self.policy.timeout),
            Err(e) => return Attempt::Setup(redacted(&e)),
        };
        let mut headers = vec![(header::CONTENT_TYPE, "application/json".to_owned())];
        for (name, value) in &outgoing.headers {
            headers.push((HeaderName::from_static(name), value.clone()));
        }
        let body = bytes::Bytes::from(outgoing.body.clone());
        match client.send_raw(Method::POST, path, &headers, body).await {
            Ok(answer) => {
                let retry_after = answer
                    .headers
                    .get(header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok());
                Attempt::Verdict(classify(
                    channel.provider,
                    answer.status.as_u16(),
                    retry_after,
                    &answer.body,
                ))
            }
            Err(e @ (ClientError::Url { .. } | ClientError::Build(_))) => {
                Attempt::Setup(redacted(&e))
            }
            Err(ClientError::Timeout { .. }) => Attempt::Transport(format!(
                "no answer within {} ms",
                self.policy.timeout.as_millis()
            )),
            Err(e) => Attempt::Transport(redacted(&e)),
        }
    }
}

/// Whether `url`'s host, and every address it resolves to now, may be
/// called under `allow` (`seawall_plan::outbound`'s rule); the refusal
/// names the host, never the URL (it carries the credential).
async fn check_host(url: &str, allow: &[Allow]) -> Result<(), String> {
    let host = outbound::url_host(url).map_err(|e| format!("bad URL: {e}"))?;
    let judge = |h: &Host| match outbound::refused(h) {
        Some(why) if !outbound::allowed(h, allow) => Err(format!(
            "refused to call {host}: it is {why}{}; list it in emergency.allow_hosts if this is \
             meant",
            if *h == host {
                String::new()
            } else {
                format!(" (it resolves to {h})")
            }
        )),
        _ => Ok(()),
    };
    judge(&host)?;
    if let Host::Name(name) = &host
        && !outbound::allowed(&host, allow)
    {
        let found = tokio::net::lookup_host((name.as_str(), 0))
            .await
            .map_err(|e| format!("cannot resolve {name}: {e}"))?;
        for addr in found {
            judge(&Host::Ip(addr.ip()))?;
        }
    }
    Ok(())
}

/// `https://host[:port]` and the rest (`/path?query`).
fn split_url(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    if end == 0 {
        return None;
    }
    let split = scheme.len() + 3 + end;
    let path = &url[split..];
    Some((&url[..split], if path.is_empty() { "/" } else { path }))
}

/// A client error without the URL (which carries the credential).
fn redacted(e: &ClientError) -> String {
    match e {
        ClientError::Connect { addr, source } => format!("cannot connect to {addr}: {source}"),
        ClientError::Http { message, .. } => format!("request failed: {message}"),
        ClientError::Timeout { secs, .. } => format!("no answer within {secs} s"),
        ClientError::Tls { addr, message } => format!("TLS with {addr}: {message}"),
        ClientError::Url { reason, .. } => format!("bad URL: {reason}"),
        ClientError::Build(message) => format!("cannot build the request: {message}"),
        ClientError::Body { status, .. } | ClientError::Api { status, .. } => {
            format!("unexpected answer {status}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_base_and_path() {
        assert_eq!(
            split_url("https://oapi.dingtalk.com/robot/send?access_token=T"),
            Some(("https://oapi.dingtalk.com", "/robot/send?access_token=T"))
        );
        assert_eq!(
            split_url("http://127.0.0.1:9?key=K"),
            Some(("http://127.0.0.1:9", "?key=K"))
        );
        assert_eq!(split_url("http://h"), Some(("http://h", "/")));
        assert_eq!(split_url("ftp://h/x"), None);
        assert_eq!(split_url("http:///x"), None);
    }
}
