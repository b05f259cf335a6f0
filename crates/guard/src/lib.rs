//! Seawall's guard decision core: flow control, per-caller quotas,
//! hot-parameter limits, circuit breakers, degradation switches, gray
//! routing, test-traffic isolation and fault injection in front of a
//! service, with Alibaba Sentinel's rule semantics.
//!
//! The core is plain synchronous Rust with no async runtime: time comes from
//! a [`Clock`] (tests use [`ManualClock`]), a check never sleeps (pace rules
//! return [`Decision::Wait`]), and the hot path is atomics only: the rule
//! set in force is loaded through `arc-swap` (no lock, no shared write), and
//! a plain `check` allocates nothing.
//!
//! ```
//! use seawall_guard::{Decision, Guard, ManualClock, Outcome, RuleSet};
//! use std::sync::Arc;
//!
//! let rules = RuleSet::from_yaml(
//!     "version: 1\nresources:\n  - name: order.create\n    flow:\n      - id: order-qps\n        count: 2\n",
//! )?;
//! let clock = Arc::new(ManualClock::new());
//! let guard = Guard::with_clock(rules, Arc::clone(&clock))?;
//! for _ in 0..2 {
//!     match guard.check("order.create", None) {
//!         Decision::Pass(permit) => guard.finish(permit, Outcome::Ok),
//!         other => panic!("expected a pass, got {other:?}"),
//!     }
//! }
//! assert_eq!(guard.check("order.create", None).rule_id(), Some("order-qps"));
//! # Ok::<(), seawall_guard::GuardError>(())
//! ```
//!
//! Proxies and middleware evaluate whole requests: the route picks the
//! resource, and the [`Verdict`] also says where to send the request, whether
//! it is test traffic, which fault to inject and which timeout to apply.
//!
//! ```
//! use seawall_guard::{Guard, ManualClock, RequestParts, RuleSet, Upstream};
//! use std::sync::Arc;
//!
//! let rules = RuleSet::from_yaml(
//!     "version: 1
//! gray: { id: staff, whitelist: ['42'] }
//! resources:
//!   - name: order.get
//!     routes: [{ method: GET, path: '/api/orders/{id}' }]
//!     timeout_ms: 800
//! ",
//! )?;
//! let guard = Guard::with_clock(rules, Arc::new(ManualClock::new()))?;
//! let headers = [("x-user-id", "42")];
//! let v = guard.evaluate(&RequestParts::new("GET", "/api/orders/7").with_headers(&headers));
//! assert_eq!(v.resource.as_deref(), Some("order.get"));
//! assert_eq!(v.upstream, Upstream::Gray);
//! assert_eq!(v.timeout, Some(std::time::Duration::from_millis(800)));
//! assert!(v.decision.is_admitted() && !v.test);
//! assert_eq!(v.reason(), "pass");
//! # Ok::<(), seawall_guard::GuardError>(())
//! ```

mod breaker;
mod canon;
mod clock;
pub mod cluster;
mod decision;
#[cfg(feature = "plan")]
pub mod derive;
mod flow;
mod fx;
mod gray;
mod guard;
mod hot;
mod request;
mod route;
pub mod rules;
#[cfg(feature = "tower")]
pub mod tower;
pub mod whitelist;
mod window;

pub use breaker::{BreakerEvent, BreakerState};
pub use canon::{PathError, canonical_path, decode_query_value};
pub use clock::{Clock, CoarseClock, ManualClock, MonotonicClock};
pub use cluster::{ClusterMode, ClusterQuota};
pub use decision::{Blocked, Decision, Fallback, Outcome, Permit};
pub use gray::{GrayReason, gray_bucket};
pub use guard::{Guard, RuleStats, SwapReport};
pub use request::{
    Fault, FaultAction, RequestMeta, RequestParts, Upstream, Verdict, baggage_has, query_param,
};
pub use rules::{FallbackResponse, RuleSet};
pub use whitelist::sticky_hash;

/// Why a call was blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BlockReason {
    /// A QPS limit (reject behaviour, or a pace rule with `count: 0`).
    QpsLimit,
    /// A warm-up rule's current, still rising, limit.
    WarmingUp,
    /// A pace rule would make the call wait longer than its `max_queueing_ms`.
    QueueTooLong,
    /// A concurrency limit.
    ConcurrencyLimit,
    /// A circuit breaker is open (or half-open with its probe in flight).
    CircuitOpen,
    /// A hot-parameter value is over its limit.
    HotParam,
    /// Test traffic is over its own quota.
    TestQuota,
    /// Test traffic bound for an upstream not marked shadow-safe.
    NotShadowSafe,
    /// A hot-parameter rule's query parameter appears more than once
    /// (`?sku=a&sku=b`): the guard would count one value while the upstream's
    /// framework may serve another (parameter pollution), so it is refused.
    AmbiguousParam,
}

impl BlockReason {
    /// The HTTP status to answer a blocked request with: 503 for an open
    /// breaker or an unsafe upstream (the service cannot take it), 400 for a
    /// request that can be read two ways, 429 for every quota.
    pub fn status(self) -> u16 {
        match self {
            BlockReason::CircuitOpen | BlockReason::NotShadowSafe => 503,
            BlockReason::AmbiguousParam => 400,
            _ => 429,
        }
    }

    /// The reason as its snake_case name (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            BlockReason::QpsLimit => "qps_limit",
            BlockReason::WarmingUp => "warming_up",
            BlockReason::QueueTooLong => "queue_too_long",
            BlockReason::ConcurrencyLimit => "concurrency_limit",
            BlockReason::CircuitOpen => "circuit_open",
            BlockReason::HotParam => "hot_param",
            BlockReason::TestQuota => "test_quota",
            BlockReason::NotShadowSafe => "not_shadow_safe",
            BlockReason::AmbiguousParam => "ambiguous_param",
        }
    }
}

/// Errors from reading rules or operating the guard.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GuardError {
    /// The document is not valid YAML/JSON for the schema.
    #[error("rules document: {0}")]
    Syntax(String),
    /// A rule's values are out of range or contradict each other.
    #[error("rule `{rule}`: {message}")]
    Invalid {
        /// The rule's id (empty when the problem is not in a rule).
        rule: String,
        /// What is wrong.
        message: String,
    },
    /// Two rules share an id.
    #[error("rule id `{0}` is used more than once")]
    DuplicateRule(String),
    /// Two resources share a name.
    #[error("resource `{0}` is listed more than once")]
    DuplicateResource(String),
    /// No degradation switch has this id.
    #[error("no degradation switch `{0}`")]
    UnknownSwitch(String),
}
