//! Circuit breakers: closed → open (on the configured slow-call ratio, error
//! ratio or error count, after `min_requests`) → half-open after `open_ms`,
//! where exactly one probe is let through; its outcome closes or re-opens.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::rules::{BreakerRule, Strategy};
use crate::window::Window;

const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

const TOTAL: usize = 0;
const ERRORS: usize = 1;
const SLOW: usize = 2;

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls pass; outcomes are measured.
    Closed,
    /// Calls are blocked until the open period ends.
    Open,
    /// One probe call is in flight; others are blocked.
    HalfOpen,
}

fn state_of(v: u8) -> BreakerState {
    match v {
        OPEN => BreakerState::Open,
        HALF_OPEN => BreakerState::HalfOpen,
        _ => BreakerState::Closed,
    }
}

/// A breaker changed state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BreakerEvent {
    /// The breaker rule's id.
    pub rule_id: String,
    /// The resource it protects.
    pub resource: String,
    /// State before.
    pub from: BreakerState,
    /// State after.
    pub to: BreakerState,
    /// Clock instant of the change, in nanoseconds.
    pub at_nanos: u64,
    /// The measured value that opened the breaker (ratio or count), if it was opened by a measurement.
    pub value: Option<f64>,
}

/// A bounded log of breaker state changes, oldest dropped first.
#[derive(Debug)]
pub(crate) struct EventLog {
    events: Mutex<VecDeque<BreakerEvent>>,
    capacity: usize,
}

impl EventLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            events: Mutex::new(VecDeque::new()),
            capacity,
        }
    }

    fn push(&self, e: BreakerEvent) {
        let mut q = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if q.len() >= self.capacity {
            q.pop_front();
        }
        q.push_back(e);
    }

    pub(crate) fn drain(&self) -> Vec<BreakerEvent> {
        let mut q = self.events.lock().unwrap_or_else(|e| e.into_inner());
        q.drain(..).collect()
    }
}

/// Result of asking a breaker to let a call through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    Pass,
    Probe,
    Blocked,
}

#[derive(Debug)]
pub(crate) struct Breaker {
    pub(crate) rule: BreakerRule,
    pub(crate) id: Arc<str>,
    resource: String,
    state: AtomicU8,
    next_retry: AtomicU64,
    stats: Window<3>,
    log: Arc<EventLog>,
    pub(crate) blocked: AtomicU64,
    pub(crate) would_block: AtomicU64,
}

impl Breaker {
    pub(crate) fn new(rule: BreakerRule, resource: &str, log: Arc<EventLog>) -> Self {
        Self {
            id: Arc::from(rule.id.as_str()),
            stats: Window::new(1, rule.stat_window_ms.saturating_mul(1_000_000)),
            rule,
            resource: resource.to_owned(),
            state: AtomicU8::new(CLOSED),
            next_retry: AtomicU64::new(0),
            log,
            blocked: AtomicU64::new(0),
            would_block: AtomicU64::new(0),
        }
    }

    pub(crate) fn state(&self) -> BreakerState {
        state_of(self.state.load(Ordering::Acquire))
    }

    fn transition(&self, from: u8, to: u8, now: u64, value: Option<f64>) -> bool {
        if self
            .state
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        if to == OPEN {
            self.next_retry.store(
                now.saturating_add(self.rule.open_ms.saturating_mul(1_000_000)),
                Ordering::Release,
            );
        }
        if to == CLOSED {
            self.stats.reset();
        }
        self.log.push(BreakerEvent {
            rule_id: self.rule.id.clone(),
            resource: self.resource.clone(),
            from: state_of(from),
            to: state_of(to),
            at_nanos: now,
            value,
        });
        true
    }

    #[inline]
    pub(crate) fn admit(&self, now: u64) -> Admit {
        match self.state.load(Ordering::Acquire) {
            CLOSED => Admit::Pass,
            OPEN => {
                if now >= self.next_retry.load(Ordering::Acquire)
                    && self.transition(OPEN, HALF_OPEN, now, None)
                {
                    Admit::Probe
                } else {
                    Admit::Blocked
                }
            }
            _ => Admit::Blocked,
        }
    }

    /// A probe that was admitted but will never complete (blocked by a later
    /// check, or dropped unfinished): back to open.
    pub(crate) fn abandon_probe(&self, now: u64) {
        self.transition(HALF_OPEN, OPEN, now, None);
    }

    pub(crate) fn complete(&self, now: u64, rt_nanos: u64, error: bool, probe: bool) {
        let slow = rt_nanos > self.rule.slow_rt_ms.saturating_mul(1_000_000);
        let bucket = self.stats.current(now);
        bucket.add(TOTAL, 1);
        if error {
            bucket.add(ERRORS, 1);
        }
        if slow {
            bucket.add(SLOW, 1);
        }
        match self.state.load(Ordering::Acquire) {
            OPEN => {}
            HALF_OPEN => {
                if probe {
                    let failed = match self.rule.strategy {
                        Strategy::SlowRatio => slow,
                        Strategy::ErrorRatio | Strategy::ErrorCount => error,
                    };
                    if failed {
                        self.transition(HALF_OPEN, OPEN, now, None);
                    } else {
                        self.transition(HALF_OPEN, CLOSED, now, None);
                    }
                }
            }
            _ => {
                let total = self.stats.sum(now, TOTAL);
                if total < self.rule.min_requests || total == 0 {
                    return;
                }
                let t = self.rule.threshold;
                let (value, trips) = match self.rule.strategy {
                    Strategy::ErrorCount => {
                        let n = self.stats.sum(now, ERRORS) as f64;
                        (n, n > t)
                    }
                    Strategy::ErrorRatio | Strategy::SlowRatio => {
                        let field = if self.rule.strategy == Strategy::SlowRatio {
                            SLOW
                        } else {
                            ERRORS
                        };
                        let r = self.stats.sum(now, field) as f64 / total as f64;
                        (r, r > t || (t >= 1.0 && r >= 1.0))
                    }
                };
                if trips {
                    self.transition(CLOSED, OPEN, now, Some(value));
                }
            }
        }
    }
}
