//! The built-in scrape: the control plane GETs each sidecar's admin
//! `/metrics` itself, so an event needs no Prometheus for its live view.
//!
//! Why this shape: a scrape of 200 sidecars every few seconds must neither
//! stall on one slow sidecar nor open 200 connections at once, and a
//! sidecar that stops answering must show as failed with its error text,
//! never as zero traffic. So each target has its own deadline and a cap on
//! its body, at most [`ScrapeOptions::concurrency`] are in flight, every
//! round gives one [`TargetResult`] per target (samples, or `Failed` with
//! the error), and a [`Board`] keeps the last good page of each target
//! (stale while it fails) and says when a target has failed for
//! [`DOWN_AFTER`] rounds in a row ([`Health::Down`], what a `source-down`
//! alert reads). Time is `tokio::time::Instant`, passed in by the caller
//! or the loop, so tests can pause it.
//!
//! The HTTP stack is the workspace's: hyper 1 through hyper-util's pooled
//! client (keep-alive, so a round reuses each sidecar's connection).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::exposition::{self, Exposition, ParseError};

/// Default time between two rounds.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
/// The shortest interval [`run`] accepts (shorter ones are raised to it).
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Rounds in a row a target must fail to be [`Health::Down`].
pub const DOWN_AFTER: u32 = 3;

/// A sidecar's `/metrics` address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    name: String,
    uri: Uri,
}

impl Target {
    /// `host:port` (then `http://host:port/metrics`) or an `http://` URL
    /// (its path, or `/metrics` when it has none).
    pub fn parse(spec: &str) -> Result<Self, ScrapeError> {
        let bad = |reason: &str| ScrapeError::Target {
            target: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = spec.trim();
        if trimmed.is_empty() {
            return Err(bad("empty"));
        }
        let full = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            format!("http://{trimmed}")
        };
        let uri: Uri = full.parse().map_err(|_| bad("not host:port or a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(bad(
                    "https is not scraped yet: give the sidecar's plain admin address",
                ));
            }
            _ => return Err(bad("the scheme must be http")),
        }
        let Some(authority) = uri.authority() else {
            return Err(bad("no host"));
        };
        if authority.port_u16().is_none() {
            return Err(bad("no port"));
        }
        let path = match uri.path_and_query().map(|p| p.as_str()) {
            None | Some("/") | Some("") => "/metrics",
            Some(p) => p,
        };
        let uri: Uri = format!("http://{authority}{path}")
            .parse()
            .map_err(|_| bad("not a URL"))?;
        Ok(Self {
            name: trimmed.to_owned(),
            uri,
        })
    }

    /// The name it was given by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL scraped.
    pub fn url(&self) -> String {
        self.uri.to_string()
    }
}

/// How the scrape behaves.
#[derive(Debug, Clone)]
pub struct ScrapeOptions {
    /// Deadline of one target's exchange (connect, head and body).
    pub timeout: Duration,
    /// Largest body read; a larger one fails the target.
    pub max_body_bytes: usize,
    /// Targets scraped at once.
    pub concurrency: usize,
    /// Sent as `Authorization: Bearer …` (sidecars with `--admin-token`).
    pub bearer_token: Option<String>,
}

impl Default for ScrapeOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3),
            max_body_bytes: 8 << 20,
            concurrency: 64,
            bearer_token: None,
        }
    }
}

/// Why one target gave no page.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    /// The target cannot be scraped as written.
    #[error("scrape target {target:?}: {reason}")]
    Target {
        /// As given.
        target: String,
        /// Why.
        reason: String,
    },
    /// No connection, or the exchange broke.
    #[error("{url}: {message}")]
    Http {
        /// URL scraped.
        url: String,
        /// What failed.
        message: String,
    },
    /// No whole answer within the deadline.
    #[error("{url} did not answer within {ms} ms")]
    Timeout {
        /// URL scraped.
        url: String,
        /// The deadline.
        ms: u128,
    },
    /// An answer other than 200.
    #[error("{url} answered {status}")]
    Status {
        /// URL scraped.
        url: String,
        /// Its status.
        status: u16,
    },
    /// The body passed the cap.
    #[error("{url}: body larger than {limit} bytes")]
    TooLarge {
        /// URL scraped.
        url: String,
        /// The cap.
        limit: usize,
    },
    /// The body is not the exposition format.
    #[error("{url}: {source}")]
    Parse {
        /// URL scraped.
        url: String,
        /// Where and why.
        source: ParseError,
    },
}

/// What one target gave in one round.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Its page.
    Samples(Arc<Exposition>),
    /// No page; the error's text.
    Failed {
        /// What went wrong, as shown to people.
        error: String,
    },
}

/// One target's result of one round.
#[derive(Debug, Clone)]
pub struct TargetResult {
    /// The target's name.
    pub target: String,
    /// When the round started.
    pub at: Instant,
    /// How long the exchange took.
    pub took: Duration,
    /// Samples or the failure.
    pub outcome: Outcome,
}

/// Scrapes targets; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Scraper {
    client: crate::transport::HttpClient<Empty<Bytes>>,
    options: Arc<ScrapeOptions>,
}

impl Scraper {
    /// A scraper with its own connection pool.
    pub fn new(options: ScrapeOptions) -> Self {
        let client = crate::transport::client(options.timeout, None);
        Self {
            client,
            options: Arc::new(options),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &ScrapeOptions {
        &self.options
    }

    /// GETs and parses one target's page.
    pub async fn scrape(&self, target: &Target) -> Result<Exposition, ScrapeError> {
        let url = target.url();
        let timeout = self.options.timeout;
        match tokio::time::timeout(timeout, self.exchange(target, &url)).await {
            Ok(result) => result,
            Err(_) => Err(ScrapeError::Timeout {
                url,
                ms: timeout.as_millis(),
            }),
        }
    }

    async fn exchange(&self, target: &Target, url: &str) -> Result<Exposition, ScrapeError> {
        let http = |message: String| ScrapeError::Http {
            url: url.to_owned(),
            message,
        };
        let request = crate::transport::bearer(
            Request::get(target.uri.clone()).header(
                header::ACCEPT,
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
            ),
            self.options.bearer_token.as_deref(),
        );
        let response = crate::transport::send(&self.client, request.body(Empty::new()))
            .await
            .map_err(http)?;
        let status = response.status();
        if status != http::StatusCode::OK {
            return Err(ScrapeError::Status {
                url: url.to_owned(),
                status: status.as_u16(),
            });
        }
        let limit = self.options.max_body_bytes;
        let too_large = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > limit as u64);
        if too_large {
            return Err(ScrapeError::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        let body = Limited::new(response.into_body(), limit)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    ScrapeError::TooLarge {
                        url: url.to_owned(),
                        limit,
                    }
                } else {
                    http(e.to_string())
                }
            })?
            .to_bytes();
        exposition::parse_bytes(&body).map_err(|source| ScrapeError::Parse {
            url: url.to_owned(),
            source,
        })
    }

    /// One round: every target once, at most `concurrency` at a time;
    /// the results in the order of `targets`.
    pub async fn scrape_all(&self, targets: &[Target], at: Instant) -> Vec<TargetResult> {
        let gate = Arc::new(Semaphore::new(self.options.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for (i, target) in targets.iter().enumerate() {
            let me = self.clone();
            let target = target.clone();
            let gate = Arc::clone(&gate);
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await;
                let started = Instant::now();
                let outcome = match me.scrape(&target).await {
                    Ok(page) => Outcome::Samples(Arc::new(page)),
                    Err(e) => {
                        tracing::debug!(target = %target.name, error = %e, "scrape failed");
                        Outcome::Failed {
                            error: e.to_string(),
                        }
                    }
                };
                (i, started.elapsed(), outcome)
            });
        }
        let mut slots: Vec<Option<(Duration, Outcome)>> = vec![None; targets.len()];
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((i, took, outcome)) => {
                    if let Some(slot) = slots.get_mut(i) {
                        *slot = Some((took, outcome));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "a scrape task ended abnormally"),
            }
        }
        targets
            .iter()
            .zip(slots)
            .map(|(t, slot)| {
                let (took, outcome) = slot.unwrap_or_else(|| {
                    (
                        Duration::ZERO,
                        Outcome::Failed {
                            error: "the scrape task ended abnormally".to_owned(),
                        },
                    )
                });
                TargetResult {
                    target: t.name.clone(),
                    at,
                    took,
                    outcome,
                }
            })
            .collect()
    }
}

/// A page and when it was scraped.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Start of the round that got it.
    pub at: Instant,
    /// The page.
    pub page: Arc<Exposition>,
}

/// What the board knows of one target.
#[derive(Debug, Clone, Default)]
pub struct TargetState {
    /// The latest good page (stale while the target fails).
    pub last: Option<Snapshot>,
    /// The good page before it (rates need two).
    pub previous: Option<Snapshot>,
    /// Its failures in a row.
    pub streak: Streak,
}

/// A source's failures in a row: a scrape target's rounds, or the
/// Prometheus source's ticks (the evaluator keeps one for its server, so
/// an unreachable Prometheus is [`Health::Down`] after [`DOWN_AFTER`]
/// ticks, as a sidecar is).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Streak {
    /// Rounds failed in a row.
    pub failures: u32,
    /// Start of the first round of the current streak.
    pub since: Option<Instant>,
    /// The latest failure's text.
    pub error: Option<String>,
}

impl Streak {
    /// A round that worked: the streak ends.
    pub fn succeed(&mut self) {
        *self = Self::default();
    }

    /// A round started at `at` that failed with `error`.
    pub fn fail(&mut self, at: Instant, error: String) {
        self.failures = self.failures.saturating_add(1);
        self.since.get_or_insert(at);
        self.error = Some(error);
    }

    /// The health it means.
    pub fn health(&self) -> Health {
        match (&self.error, self.since) {
            (Some(error), Some(since)) if self.failures > 0 => {
                let (error, rounds) = (error.clone(), self.failures);
                if rounds >= DOWN_AFTER {
                    Health::Down {
                        error,
                        since,
                        rounds,
                    }
                } else {
                    Health::Failed {
                        error,
                        since,
                        rounds,
                    }
                }
            }
            _ => Health::Up,
        }
    }
}

/// A target's health.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// Its latest round gave a page.
    Up,
    /// It failed its latest rounds, fewer than [`DOWN_AFTER`]; its last
    /// page, if any, is stale since `since`.
    Failed {
        /// The latest error.
        error: String,
        /// Start of the failure streak.
        since: Instant,
        /// Rounds failed in a row.
        rounds: u32,
    },
    /// It failed [`DOWN_AFTER`] or more rounds in a row: a `source-down`.
    Down {
        /// The latest error.
        error: String,
        /// Start of the failure streak.
        since: Instant,
        /// Rounds failed in a row.
        rounds: u32,
    },
}

impl TargetState {
    /// Its health now.
    pub fn health(&self) -> Health {
        self.streak.health()
    }
}

/// Every target's latest pages and failure streak.
#[derive(Debug, Clone, Default)]
pub struct Board {
    targets: BTreeMap<String, TargetState>,
}

impl Board {
    /// Takes one round's results.
    pub fn record(&mut self, results: impl IntoIterator<Item = TargetResult>) {
        for r in results {
            let state = self.targets.entry(r.target).or_default();
            match r.outcome {
                Outcome::Samples(page) => {
                    state.previous = state.last.take();
                    state.last = Some(Snapshot { at: r.at, page });
                    state.streak.succeed();
                }
                Outcome::Failed { error } => state.streak.fail(r.at, error),
            }
        }
    }

    /// Forgets targets not in `keep` (a sidecar that deregistered).
    pub fn retain(&mut self, keep: &[Target]) {
        self.targets
            .retain(|name, _| keep.iter().any(|t| t.name == *name));
    }

    /// One target's state.
    pub fn get(&self, target: &str) -> Option<&TargetState> {
        self.targets.get(target)
    }

    /// Every target's state, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TargetState)> {
        self.targets.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// Scrapes the targets in `targets` every `interval` (at least
/// [`MIN_INTERVAL`]; a round that overruns delays the next, none is
/// bunched up) and publishes the board after each round. Ends when the
/// sender of `targets` is dropped.
pub async fn run(
    scraper: Scraper,
    mut targets: watch::Receiver<Vec<Target>>,
    interval: Duration,
    board: watch::Sender<Board>,
) {
    let mut ticks = tokio::time::interval(interval.max(MIN_INTERVAL));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            at = ticks.tick() => {
                let list = targets.borrow_and_update().clone();
                let results = scraper.scrape_all(&list, at).await;
                board.send_modify(|b| {
                    b.retain(&list);
                    b.record(results);
                });
            }
            changed = targets.changed() => {
                if changed.is_err() {
                    return;
                }
                // Seen: the next tick scrapes the new list (without this,
                // `changed` would fire again at once until then).
                targets.borrow_and_update();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t = Target::parse("127.0.0.1:9901").expect("host:port");
        assert_eq!(t.url(), "http://127.0.0.1:9901/metrics");
        let t = Target::parse("http://side:9901/admin/metrics").expect("url");
        assert_eq!(t.url(), "http://side:9901/admin/metrics");
        assert!(Target::parse("side").is_err());
        assert!(Target::parse("https://side:1").is_err());
        assert!(Target::parse("ftp://side:1").is_err());
        assert!(Target::parse(" ").is_err());
    }

    fn failed(target: &str, at: Instant) -> TargetResult {
        TargetResult {
            target: target.to_owned(),
            at,
            took: Duration::ZERO,
            outcome: Outcome::Failed {
                error: "connection refused".to_owned(),
            },
        }
    }

    #[tokio::test(start_paused = true)]
    async fn three_failed_rounds_are_down_and_the_last_page_stays_stale() {
        let mut board = Board::default();
        let t0 = Instant::now();
        board.record([TargetResult {
            target: "a".into(),
            at: t0,
            took: Duration::ZERO,
            outcome: Outcome::Samples(Arc::new(Exposition::default())),
        }]);
        assert_eq!(board.get("a").map(TargetState::health), Some(Health::Up));
        tokio::time::advance(DEFAULT_INTERVAL).await;
        let t1 = Instant::now();
        board.record([failed("a", t1)]);
        for round in 2..=3 {
            tokio::time::advance(DEFAULT_INTERVAL).await;
            let before = board.get("a").map(TargetState::health);
            assert!(
                matches!(before, Some(Health::Failed { rounds, since, .. }) if rounds == round - 1 && since == t1),
                "{before:?}"
            );
            board.record([failed("a", Instant::now())]);
        }
        let state = board.get("a").expect("a");
        assert_eq!(
            state.health(),
            Health::Down {
                error: "connection refused".into(),
                since: t1,
                rounds: 3
            }
        );
        assert_eq!(
            state.last.as_ref().map(|s| s.at),
            Some(t0),
            "stale page kept"
        );
        board.retain(&[]);
        assert!(board.get("a").is_none());
    }
}
