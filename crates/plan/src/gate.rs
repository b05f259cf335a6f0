//! The change gate: may this change go ahead *now*, given the plan's freeze
//! windows and the freeze exceptions commanders have decided?
//!
//! The control plane stores exceptions and records every decision; the
//! answer itself is a pure function of the plan, the exceptions and one
//! instant, so it lives here and is tested across window edges, time zones
//! and DST without a server. The gate is meant to be asked when the deploying
//! job **runs**, not when its pipeline was created: a pipeline created the
//! evening before a freeze whose deploy job starts inside it is frozen (the
//! hole GitLab's `CI_DEPLOY_FREEZE`, fixed at pipeline creation, leaves open).
//!
//! Exceptions never widen: an approved exception lets through exactly the
//! services its globs match (see [`matches_glob`]: whole-name, case-sensitive,
//! so `pay-*` covers `pay-gateway` but not `payroll`), exactly its kinds, and
//! only inside its own `[start, end)`. Empty `services` or `kinds` cover
//! nothing (unlike a freeze window, where empty means "all").

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use thiserror::Error;

use crate::freeze::{FrozenBy, evaluate, matches_glob};
use crate::model::{ChangeKind, Plan};
use crate::time::format_time;

/// Where a freeze exception stands in its request → decision life.
///
/// Expiry is not a stored status: it follows from the exception's `end` and
/// the instant asked about (see [`FreezeException::state_at`]).
///
/// The one definition for the workspace: the control plane's store keeps
/// it as it is (`seawall_store::ExceptionStatus` re-exports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExceptionStatus {
    /// Requested, not yet decided: lets nothing through.
    Pending,
    /// Approved by a commander: lets its scope through inside its window.
    Approved,
    /// Rejected by a commander: lets nothing through.
    Rejected,
}

impl ExceptionStatus {
    /// Every status, in life order.
    pub const ALL: [ExceptionStatus; 3] = [
        ExceptionStatus::Pending,
        ExceptionStatus::Approved,
        ExceptionStatus::Rejected,
    ];

    /// Lower-case name, as serialized and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            ExceptionStatus::Pending => "pending",
            ExceptionStatus::Approved => "approved",
            ExceptionStatus::Rejected => "rejected",
        }
    }

    /// Parse a lower-case name.
    pub fn parse(name: &str) -> Option<ExceptionStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// An exception's state at one instant, for listings and the review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExceptionState {
    /// Requested and undecided, and its window has not ended.
    Pending,
    /// Approved; its window has not started yet.
    Scheduled,
    /// Approved and its window contains the instant: it lets its scope through.
    Active,
    /// Rejected.
    Rejected,
    /// Its window has ended (whether it was approved or never decided).
    Expired,
}

/// A request to let a scoped set of changes through the freeze for a while.
///
/// Serialized with lower-case kinds and status and RFC 3339 UTC times; the
/// exceptions file of `seawall plan freeze --exceptions` is a YAML or JSON
/// list of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeException {
    /// Stable id (assigned by the control plane, or the file's author).
    pub id: String,
    /// Service globs it covers (same matching as freeze windows); empty covers nothing.
    pub services: Vec<String>,
    /// Change kinds it covers; empty covers nothing.
    #[serde(deserialize_with = "kind_names")]
    pub kinds: Vec<ChangeKind>,
    /// Inclusive start of the exception's own window.
    #[serde(with = "ts_serde")]
    pub start: Timestamp,
    /// Exclusive end: at and after it the exception has expired.
    #[serde(with = "ts_serde")]
    pub end: Timestamp,
    /// Why the change cannot wait.
    pub reason: String,
    /// Pending, approved or rejected.
    pub status: ExceptionStatus,
    /// Who asked for it.
    #[serde(default)]
    pub requested_by: Option<String>,
    /// The change it is for (merge request, ticket, commit).
    #[serde(default)]
    pub change_ref: Option<String>,
    /// Who approved or rejected it.
    #[serde(default)]
    pub decided_by: Option<String>,
    /// When it was approved or rejected.
    #[serde(default, with = "opt_ts_serde")]
    pub decided_at: Option<Timestamp>,
    /// The decider's note.
    #[serde(default)]
    pub decision_note: Option<String>,
}

/// A freeze exception that cannot be requested, decided or read.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ExceptionError {
    /// The id is empty.
    #[error("the exception has no id; give it a non-empty `id`")]
    EmptyId,
    /// No service glob.
    #[error(
        "exception `{id}` covers no service; list the services (globs such as `pay-*`) it lets through"
    )]
    NoServices {
        /// Exception id.
        id: String,
    },
    /// No change kind.
    #[error("exception `{id}` covers no change kind; list some of release, config, ops")]
    NoKinds {
        /// Exception id.
        id: String,
    },
    /// No reason.
    #[error("exception `{id}` has no reason; say why the change cannot wait for the freeze to end")]
    EmptyReason {
        /// Exception id.
        id: String,
    },
    /// `end` is not after `start`.
    #[error(
        "exception `{id}` ends ({end}) at or before it starts ({start}); its window is [start, end), so end must be later"
    )]
    EmptyWindow {
        /// Exception id.
        id: String,
        /// Its start.
        start: Timestamp,
        /// Its end.
        end: Timestamp,
    },
    /// Only a pending exception can be decided.
    #[error(
        "exception `{id}` is already {status}; only a pending exception can be approved or rejected (request a new one)"
    )]
    AlreadyDecided {
        /// Exception id.
        id: String,
        /// Its current status.
        status: &'static str,
    },
    /// Approving after the exception's window ended.
    #[error(
        "exception `{id}` expired at {end}; an expired exception cannot be approved, request a new one"
    )]
    Expired {
        /// Exception id.
        id: String,
        /// Its end.
        end: Timestamp,
    },
    /// The decider's id is empty.
    #[error("exception `{id}` cannot be decided by an anonymous user; name who decides")]
    NoDecider {
        /// Exception id.
        id: String,
    },
    /// An exceptions file that is not a list of exceptions.
    #[error("{file}:{line}:{column}: {message}")]
    Syntax {
        /// File name, as given.
        file: String,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// What is wrong, and what the file should look like.
        message: String,
    },
    /// One exception in a file is invalid.
    #[error("{file}:{line}:{column}: {problem}")]
    Invalid {
        /// File name, as given.
        file: String,
        /// 1-based line of the exception.
        line: u64,
        /// 1-based column of the exception.
        column: u64,
        /// What is wrong with it.
        problem: Box<ExceptionError>,
    },
    /// Two exceptions in a file share an id.
    #[error("{file}:{line}:{column}: a second exception has id `{id}`; ids must be unique")]
    DuplicateId {
        /// File name, as given.
        file: String,
        /// 1-based line of the second one.
        line: u64,
        /// 1-based column of the second one.
        column: u64,
        /// The repeated id.
        id: String,
    },
}

impl FreezeException {
    /// A new pending exception, checked with [`FreezeException::validate`].
    pub fn request(
        id: impl Into<String>,
        services: Vec<String>,
        kinds: Vec<ChangeKind>,
        start: Timestamp,
        end: Timestamp,
        reason: impl Into<String>,
    ) -> Result<Self, ExceptionError> {
        let e = FreezeException {
            id: id.into(),
            services,
            kinds,
            start,
            end,
            reason: reason.into(),
            status: ExceptionStatus::Pending,
            requested_by: None,
            change_ref: None,
            decided_by: None,
            decided_at: None,
            decision_note: None,
        };
        e.validate()?;
        Ok(e)
    }

    /// Check the exception's shape: an id, at least one service glob and
    /// kind, a reason, and `end` after `start`. An invalid exception never
    /// lets anything through, but the control plane should refuse it.
    pub fn validate(&self) -> Result<(), ExceptionError> {
        let id = || self.id.clone();
        if self.id.trim().is_empty() {
            return Err(ExceptionError::EmptyId);
        }
        if self.services.iter().all(|s| s.is_empty()) {
            return Err(ExceptionError::NoServices { id: id() });
        }
        if self.kinds.is_empty() {
            return Err(ExceptionError::NoKinds { id: id() });
        }
        if self.reason.trim().is_empty() {
            return Err(ExceptionError::EmptyReason { id: id() });
        }
        if self.end <= self.start {
            return Err(ExceptionError::EmptyWindow {
                id: id(),
                start: self.start,
                end: self.end,
            });
        }
        Ok(())
    }

    /// Approve (`approve = true`) or reject a pending exception, by `by` at
    /// `at`. Deciding twice, approving after the window ended, or an empty
    /// decider is an error and changes nothing. Whether `by` may decide
    /// (a commander) is the control plane's check.
    pub fn decide(
        &self,
        approve: bool,
        by: &str,
        at: Timestamp,
        note: Option<String>,
    ) -> Result<FreezeException, ExceptionError> {
        if self.status != ExceptionStatus::Pending {
            return Err(ExceptionError::AlreadyDecided {
                id: self.id.clone(),
                status: self.status.as_str(),
            });
        }
        if by.trim().is_empty() {
            return Err(ExceptionError::NoDecider {
                id: self.id.clone(),
            });
        }
        if approve && at >= self.end {
            return Err(ExceptionError::Expired {
                id: self.id.clone(),
                end: self.end,
            });
        }
        Ok(FreezeException {
            status: if approve {
                ExceptionStatus::Approved
            } else {
                ExceptionStatus::Rejected
            },
            decided_by: Some(by.to_string()),
            decided_at: Some(at),
            decision_note: note,
            ..self.clone()
        })
    }

    /// Whether `(service, kind, at)` lies inside the exception's scope —
    /// one of its globs matches the service, its kinds contain the kind, and
    /// `at` is in `[start, end)` — whatever its status.
    pub fn covers(&self, service: &str, kind: ChangeKind, at: Timestamp) -> bool {
        self.start <= at
            && at < self.end
            && self.kinds.contains(&kind)
            && self.services.iter().any(|g| matches_glob(g, service))
    }

    /// Whether the exception lets `(service, kind)` through a freeze at
    /// `at`: approved, and [`covers`](Self::covers) it.
    pub fn lets_through(&self, service: &str, kind: ChangeKind, at: Timestamp) -> bool {
        self.status == ExceptionStatus::Approved && self.covers(service, kind, at)
    }

    /// The exception's globs without `*` or `?` that name no service of
    /// `plan`: most likely typos, since such a glob lets nothing through.
    /// (The plan refuses the same in a freeze window, E020; for an
    /// exception the caller decides whether to warn or refuse.)
    pub fn unknown_services<'a>(&'a self, plan: &Plan) -> Vec<&'a str> {
        self.services
            .iter()
            .filter(|g| !g.contains(['*', '?']) && !plan.services.contains_key(g.as_str()))
            .map(String::as_str)
            .collect()
    }

    /// The exception's state at `at` (expiry follows from `end`).
    pub fn state_at(&self, at: Timestamp) -> ExceptionState {
        match self.status {
            ExceptionStatus::Rejected => ExceptionState::Rejected,
            _ if at >= self.end => ExceptionState::Expired,
            ExceptionStatus::Pending => ExceptionState::Pending,
            ExceptionStatus::Approved if at < self.start => ExceptionState::Scheduled,
            ExceptionStatus::Approved => ExceptionState::Active,
        }
    }
}

/// The gate's answer for one change at one instant; what the control plane
/// returns and records as a change record (and what a client reads back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateDecision {
    /// Service id asked about.
    pub service: String,
    /// Change kind asked about (lower-case).
    pub kind: ChangeKind,
    /// Instant asked about (RFC 3339 UTC).
    #[serde(with = "ts_serde")]
    pub at: Timestamp,
    /// Whether the change may go ahead.
    pub allowed: bool,
    /// Whether a freeze window covers the change (true for a change an
    /// exception let through).
    pub frozen: bool,
    /// One sentence: which window froze it and until when, or which
    /// exception let it through; times in the event's time zone.
    pub reason: String,
    /// The first window (plan order) that freezes the change.
    pub window: Option<FrozenBy>,
    /// Every window that freezes the change, in plan order.
    pub windows: Vec<FrozenBy>,
    /// Id of the approved exception that let a frozen change through.
    pub exception: Option<String>,
    /// When the freeze on this change ends (exceptions aside): the earliest
    /// instant ≥ `at` that no window covers; `at` itself when not frozen.
    #[serde(with = "opt_ts_serde")]
    pub next_free: Option<Timestamp>,
}

/// May `service` take a `kind` change at `at`?
///
/// Not frozen (no window of the plan covers the change at `at`, see
/// [`evaluate`]): allowed. Frozen: allowed only when an exception in
/// `exceptions` is approved and covers the service, the kind and `at`
/// ([`FreezeException::lets_through`]); the first such exception in the
/// given order is named. Pending, rejected and expired exceptions never let
/// a change through; the reason mentions a pending one that would.
pub fn gate(
    plan: &Plan,
    service: &str,
    kind: ChangeKind,
    at: Timestamp,
    exceptions: &[FreezeException],
) -> GateDecision {
    let tz = &plan.event.tz;
    let f = evaluate(plan, service, kind, at);
    let what = format!("{} change to `{}`", kind.as_str(), service);
    let mut decision = GateDecision {
        service: service.to_string(),
        kind,
        at,
        allowed: true,
        frozen: f.frozen,
        reason: String::new(),
        window: f.windows.first().cloned(),
        windows: f.windows,
        exception: None,
        next_free: f.next_free,
    };
    let Some(w) = decision.window.clone() else {
        decision.reason = format!(
            "{what} allowed: no freeze window covers it at {}",
            format_time(at, tz)
        );
        return decision;
    };
    let frozen_by = {
        let mut s = format!(
            "frozen by window `{}` ({} to {})",
            w.id,
            format_time(w.start, tz),
            format_time(w.end, tz)
        );
        if let Some(r) = w.reason.as_deref().filter(|r| !r.is_empty()) {
            s.push_str(&format!(" [{r}]"));
        }
        let others: Vec<String> = decision.windows[1..]
            .iter()
            .map(|o| format!("`{}`", o.id))
            .collect();
        if !others.is_empty() {
            s.push_str(&format!(" and by {}", others.join(", ")));
        }
        s
    };
    if let Some(e) = exceptions
        .iter()
        .find(|e| e.lets_through(service, kind, at))
    {
        decision.exception = Some(e.id.clone());
        decision.reason = format!(
            "{what} allowed: {frozen_by}, let through by approved exception `{}` (until {}): {}",
            e.id,
            format_time(e.end, tz),
            e.reason
        );
        return decision;
    }
    decision.allowed = false;
    let until = match decision.next_free {
        Some(t) => format!("free again at {}", format_time(t, tz)),
        None => "no end in sight".to_string(),
    };
    let mut reason = format!("{what} refused: {frozen_by}; {until}");
    match exceptions
        .iter()
        .find(|e| e.status == ExceptionStatus::Pending && e.covers(service, kind, at))
    {
        Some(p) => reason.push_str(&format!(
            "; exception `{}` would let it through but is still pending approval",
            p.id
        )),
        None => reason.push_str("; a commander can approve a freeze exception"),
    }
    decision.reason = reason;
    decision
}

/// The gate for a CI job: decided at `job_runs`, the instant the job asks,
/// never at `pipeline_created`. When the freeze began between the two, the
/// reason says so (the pipeline predates the freeze but its job is frozen);
/// when it ended between them, the job is allowed.
pub fn gate_job(
    plan: &Plan,
    service: &str,
    kind: ChangeKind,
    pipeline_created: Timestamp,
    job_runs: Timestamp,
    exceptions: &[FreezeException],
) -> GateDecision {
    let mut d = gate(plan, service, kind, job_runs, exceptions);
    if d.frozen && pipeline_created < job_runs {
        let then = evaluate(plan, service, kind, pipeline_created);
        if !then.frozen {
            d.reason.push_str(&format!(
                "; the pipeline was created at {}, before the freeze, but the gate checks when the job runs",
                format_time(pipeline_created, &plan.event.tz)
            ));
        }
    }
    d
}

/// Read an exceptions file: a YAML (or JSON) list of [`FreezeException`]s.
/// Every exception is validated and ids must be unique; the first problem is
/// returned with its file, line and column.
pub fn parse_exceptions(src: &str, file: &str) -> Result<Vec<FreezeException>, ExceptionError> {
    if src.trim().is_empty() {
        return Ok(Vec::new());
    }
    let items: Vec<serde_saphyr::Spanned<FreezeException>> =
        serde_saphyr::from_str(src).map_err(|e| {
            let (line, column) = e
                .location()
                .map_or((0, 0), |l| (l.line(), l.column()));
            ExceptionError::Syntax {
                file: file.to_string(),
                line,
                column,
                message: format!(
                    "{}; the file must be a list of exceptions with id, services, kinds, start, end, reason, status",
                    bare_message(&e.to_string())
                ),
            }
        })?;
    let mut out: Vec<FreezeException> = Vec::with_capacity(items.len());
    for item in items {
        let (line, column) = (item.referenced.line(), item.referenced.column());
        if let Err(problem) = item.value.validate() {
            return Err(ExceptionError::Invalid {
                file: file.to_string(),
                line,
                column,
                problem: Box::new(problem),
            });
        }
        if out.iter().any(|e| e.id == item.value.id) {
            return Err(ExceptionError::DuplicateId {
                file: file.to_string(),
                line,
                column,
                id: item.value.id,
            });
        }
        out.push(item.value);
    }
    Ok(out)
}

/// serde-saphyr's message without its `error: line L column C:` prefix
/// (the location is reported separately) or anything after the first line.
fn bare_message(s: &str) -> &str {
    let first = s.lines().next().unwrap_or(s);
    let rest = first.strip_prefix("error: ").unwrap_or(first);
    match rest.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((pos, msg)) if pos.split(' ').count() == 3 && pos.contains("column") => msg,
        _ => rest,
    }
}

/// An exception's kinds, read as names first so that an unknown one is
/// reported where the list starts in the file.
fn kind_names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ChangeKind>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|name| name.parse().map_err(serde::de::Error::custom))
        .collect()
}

/// Serde for a [`Timestamp`] as RFC 3339 text (written in UTC; read with
/// any offset).
pub mod ts_serde {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Serialize as `2026-09-30T02:00:00Z`.
    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(t)
    }

    /// Deserialize from RFC 3339 text with an offset.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(D::Error::custom)
    }

    pub(super) fn parse(s: &str) -> Result<Timestamp, String> {
        s.trim().parse::<Timestamp>().map_err(|_| {
            format!("`{s}` is not an instant; write RFC 3339 with an offset, e.g. 2026-09-30T10:00:00+08:00")
        })
    }
}

/// Serde for an optional [`Timestamp`] (RFC 3339 text or null).
pub mod opt_ts_serde {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Serialize as RFC 3339 UTC text, or null.
    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.collect_str(t),
            None => s.serialize_none(),
        }
    }

    /// Deserialize RFC 3339 text with an offset, or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => super::ts_serde::parse(&s)
                .map(Some)
                .map_err(D::Error::custom),
        }
    }
}
