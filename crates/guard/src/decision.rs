//! What a check answers: [`Decision`] (pass with a [`Permit`], wait, block,
//! fallback), and how an admitted call ended ([`Outcome`]). Its own module
//! so the request-level types (`request.rs`) name a decision without
//! importing the guard that computes it (the guard's modules form a DAG,
//! `.ci/module-dag.sh`).

use std::sync::Arc;
use std::time::Duration;

use crate::BlockReason;
use crate::breaker::Breaker;
use crate::flow::FlowCounter;
use crate::rules::FallbackResponse;

/// The answer to one check.
#[derive(Debug)]
#[must_use = "a passed call holds a permit; finish it with `Guard::finish`"]
pub enum Decision {
    /// Go ahead; report the outcome with [`Guard::finish`](crate::Guard::finish).
    Pass(Permit),
    /// Go ahead after waiting `wait` (pace-with-queue); report the outcome
    /// with [`Guard::finish`](crate::Guard::finish).
    Wait {
        /// How long the caller should wait before calling upstream.
        wait: Duration,
        /// The admission.
        permit: Permit,
    },
    /// Refused by a rule.
    Block(Blocked),
    /// A degradation switch is on: answer with its fallback, do not call upstream.
    Fallback(Fallback),
}

impl Decision {
    /// The id of the rule that blocked or degraded the call, if any.
    pub fn rule_id(&self) -> Option<&str> {
        match self {
            Decision::Block(b) => Some(&b.rule_id),
            Decision::Fallback(f) => Some(&f.rule_id),
            Decision::Pass(_) | Decision::Wait { .. } => None,
        }
    }

    /// Whether the call may go ahead (now or after a wait).
    pub fn is_admitted(&self) -> bool {
        matches!(self, Decision::Pass(_) | Decision::Wait { .. })
    }
}

/// A call refused by a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    /// The rule that refused it.
    pub rule_id: Arc<str>,
    /// Why.
    pub reason: BlockReason,
}

/// A call answered by a degradation switch's fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fallback {
    /// The switch that is on.
    pub rule_id: Arc<str>,
    /// The response to serve.
    pub response: Arc<FallbackResponse>,
}

/// How an admitted call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Success.
    Ok,
    /// Failure (an error response, an exception, a timeout).
    Error,
}

/// An admitted call. Hand it back with [`Guard::finish`](crate::Guard::finish) so concurrency
/// limits are released and breakers learn the outcome; dropping it releases
/// the concurrency slots only (and an unfinished half-open probe re-opens its
/// breaker).
#[derive(Debug)]
pub struct Permit {
    pub(crate) breakers: Option<Arc<BreakerSet>>,
    pub(crate) concurrency: Vec<Arc<FlowCounter>>,
    pub(crate) acquire: u64,
    pub(crate) probes: u64,
    pub(crate) started: u64,
}

impl Permit {
    pub(crate) fn empty(acquire: u64, started: u64) -> Self {
        Self {
            breakers: None,
            concurrency: Vec::new(),
            acquire,
            probes: 0,
            started,
        }
    }

    /// Whether this call is a half-open breaker's probe.
    pub fn is_probe(&self) -> bool {
        self.probes != 0
    }

    pub(crate) fn abandon_probes(&mut self, now: u64) {
        if self.probes == 0 {
            return;
        }
        if let Some(set) = &self.breakers {
            for (i, b) in set.0.iter().enumerate() {
                if self.probes & (1 << i) != 0 {
                    b.abandon_probe(now);
                }
            }
        }
        self.probes = 0;
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        for c in &self.concurrency {
            c.release(self.acquire);
        }
        let started = self.started;
        self.abandon_probes(started);
    }
}

/// A resource's breakers as a permit holds them. Each handle is its own
/// allocation on its own cache line, so threads admitting calls at once bump
/// different reference counts instead of ping-ponging one line.
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct BreakerSet(pub(crate) Vec<Arc<Breaker>>);
