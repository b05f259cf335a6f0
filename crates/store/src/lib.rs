//! Seawall's control-plane store: everything `seawall serve` must not lose
//! — events, plan versions, rehearsal results, API tokens, gate decisions,
//! freeze exceptions, guard rule versions and the audit log.
//!
//! One [`Store`] trait, two backends, each with its own migrations applied
//! on open: SQLite (the default, one file in the data dir, WAL) and
//! PostgreSQL (`--db postgres://…`, for several control-plane replicas). The
//! same behaviour suite runs against both (`tests/behaviour.rs`).
//!
//! Invariants the backends keep:
//! - The store never reads the clock: every timestamp (integer milliseconds
//!   UTC, [`Millis`]) comes in with the call, so tests are deterministic.
//! - Every change appends an [`AuditEntry`] in the same transaction as the
//!   change itself: a change is either stored with its audit entry or not
//!   at all. Entries are hash-chained ([`audit`]); [`audit::verify`] finds
//!   any edited or deleted entry. Records of use are not changes and are
//!   not audited: history points, session touches and cluster-quota
//!   leases ([`Store::lease_tokens`]).
//! - Versions (plan versions per event, rule versions per service) are
//!   dense, start at 1 and are assigned inside the writing transaction.
//! - Secrets are never stored: tokens are kept as their SHA-256.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

mod api_shapes;
pub mod audit;
pub mod drill;
pub mod election;
pub mod emergency;
mod error;
pub mod incident;
pub mod monitoring;
mod open;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

pub use drill::{DrillWrite, StoredDrill};
pub use emergency::{EmergencyRun, EmergencyRunUpdate, NewEmergencyRun, TriggerEpisode};
pub use error::StoreError;
pub use incident::{IncidentWrite, StoredIncident};
pub use monitoring::{HistoryPoint, StoredTransition};
pub use open::{StoreSpec, open};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Result of a store operation.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Who makes a change, and when: recorded in the change and its audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ctx {
    /// The actor's name (a token's name, or `bootstrap`).
    pub actor: String,
    /// When the change is made.
    pub at_ms: Millis,
}

impl Ctx {
    /// A context for `actor` at `at_ms`.
    pub fn new(actor: impl Into<String>, at_ms: Millis) -> Self {
        Self {
            actor: actor.into(),
            at_ms,
        }
    }
}

/// A token's role (the server checks it; the store only keeps it): the
/// API's own type, stored as its lower-case name.
pub use seawall_api::tokens::Role;

/// An event (a 618, a Double-11): the unit plans and decisions belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Store id.
    pub id: i64,
    /// Unique short name used in URLs (`double11-2026`).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Creation time.
    pub created_ms: Millis,
    /// Creator.
    pub created_by: String,
}

/// A new event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    /// Unique short name.
    pub slug: String,
    /// Display name.
    pub name: String,
}

/// A stored plan version without its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanVersionInfo {
    /// Event the plan belongs to.
    pub event_id: i64,
    /// 1, 2, … per event.
    pub version: i64,
    /// Lower-case hex SHA-256 of the text.
    pub sha256: String,
    /// File name it was pushed from (shown in diagnostics).
    pub file_name: String,
    /// Push time.
    pub created_ms: Millis,
    /// Pusher.
    pub created_by: String,
}

/// A stored plan version with its text, exactly as pushed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanVersion {
    /// Everything but the text.
    #[serde(flatten)]
    pub info: PlanVersionInfo,
    /// The YAML as pushed (already validated by the server).
    pub text: String,
}

/// A plan version to store (validated by the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPlanVersion {
    /// File name it was pushed from.
    pub file_name: String,
    /// The YAML text.
    pub text: String,
}

/// A stored rehearsal result (`run.json`, schema `seawall.run/v1`) without
/// its document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// Store id.
    pub id: i64,
    /// Event the run belongs to.
    pub event_id: i64,
    /// Plan version current when it was uploaded, if any.
    pub plan_version: Option<i64>,
    /// Scenario name from the run.
    pub scenario: String,
    /// Lower-case hex SHA-256 of the document.
    pub sha256: String,
    /// Upload time.
    pub uploaded_ms: Millis,
    /// Uploader.
    pub uploaded_by: String,
}

/// A stored rehearsal result with its document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// Everything but the document.
    #[serde(flatten)]
    pub info: RunInfo,
    /// The `run.json` text, exactly as uploaded.
    pub json: String,
}

/// A rehearsal result to store (validated by the caller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRun {
    /// Plan version current at upload, if any.
    pub plan_version: Option<i64>,
    /// Scenario name.
    pub scenario: String,
    /// The `run.json` text.
    pub json: String,
}

/// An API token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Store id.
    pub id: i64,
    /// Unique name: the actor recorded for its changes.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The business line a `pm` token is scoped to.
    pub business_line: Option<String>,
    /// Creation time.
    pub created_ms: Millis,
    /// Creator.
    pub created_by: String,
    /// When it was revoked; a revoked token authenticates nothing.
    pub revoked_ms: Option<Millis>,
    /// When it expires; from then on it authenticates nothing (`None`:
    /// never).
    pub expires_ms: Option<Millis>,
    /// The one service a `sidecar` token is scoped to.
    pub service: Option<String>,
    /// The event (slug) a `ci` token is bound to.
    pub event: Option<String>,
}

/// A token to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    /// Unique name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Business line (required for `pm`, the server checks).
    pub business_line: Option<String>,
    /// Lower-case hex SHA-256 of the secret (see [`sha256_hex`]).
    pub secret_sha256: String,
    /// Expiry time, if any.
    pub expires_ms: Option<Millis>,
    /// Service (required for `sidecar`, the server checks).
    pub service: Option<String>,
    /// Event slug (required for `ci`, the server checks).
    pub event: Option<String>,
}

/// A logged-in web UI session. The browser holds a random id; the store
/// keeps only its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Lower-case hex SHA-256 of the session id.
    pub id_sha256: String,
    /// The token the user logged in with.
    pub token_id: i64,
    /// Login time.
    pub created_ms: Millis,
    /// Last time the session was seen (moved forward at most once a
    /// minute or so, as the server decides).
    pub seen_ms: Millis,
    /// The session ends at this time unless it is used again (idle expiry).
    pub idle_until_ms: Millis,
    /// The session ends at this time whatever happens (absolute expiry).
    pub expires_ms: Millis,
}

/// Kind of change asked about at the gate: the plan's own type (which the
/// API re-exports), so the store, the gate and every client of the API
/// share one definition.
pub use seawall_api::ChangeKind;

/// A gate decision, recorded whether the change was allowed or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    /// Store id.
    pub id: i64,
    /// Decision time.
    pub at_ms: Millis,
    /// Event whose plan decided, if any.
    pub event_id: Option<i64>,
    /// Service asked about.
    pub service: String,
    /// Change kind.
    pub kind: ChangeKind,
    /// Who asks (the pipeline's user, from the request).
    pub actor: String,
    /// The change's reference (MR, commit, ticket).
    pub change_ref: String,
    /// Whether it was let through.
    pub allowed: bool,
    /// Why, in a sentence.
    pub reason: String,
    /// The freeze window that froze it (or that an exception overrode).
    pub window: Option<String>,
    /// The exception that let it through.
    pub exception_id: Option<i64>,
}

/// A gate decision to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewChangeRecord {
    /// Event whose plan decided, if any.
    pub event_id: Option<i64>,
    /// Service asked about.
    pub service: String,
    /// Change kind.
    pub kind: ChangeKind,
    /// Who asks.
    pub actor: String,
    /// The change's reference.
    pub change_ref: String,
    /// Whether it was let through.
    pub allowed: bool,
    /// Why.
    pub reason: String,
    /// Freeze window involved.
    pub window: Option<String>,
    /// Exception that let it through.
    pub exception_id: Option<i64>,
}

/// Which change records to list (newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeFilter {
    /// Only this event's.
    pub event_id: Option<i64>,
    /// Only this service's.
    pub service: Option<String>,
    /// Only decisions at or after this time.
    pub since_ms: Option<Millis>,
    /// Only allowed (`Some(true)`) or refused (`Some(false)`) ones.
    pub allowed: Option<bool>,
    /// At most this many (the backend caps it at 10,000).
    pub limit: Option<u32>,
}

/// Where a freeze exception stands (the plan's own type, stored as its
/// lower-case name). Expiry is not stored: an approved exception whose
/// window has ended is expired, computed at read time.
pub use seawall_plan::gate::ExceptionStatus;

/// A request to let some changes through a freeze.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreezeException {
    /// Store id.
    pub id: i64,
    /// Event it belongs to.
    pub event_id: i64,
    /// Service globs it covers.
    pub services: Vec<String>,
    /// Change kinds it covers.
    pub kinds: Vec<ChangeKind>,
    /// Window start, inclusive.
    pub starts_ms: Millis,
    /// Window end, exclusive.
    pub ends_ms: Millis,
    /// Why it is needed.
    pub reason: String,
    /// Requester.
    pub requested_by: String,
    /// Request time.
    pub requested_ms: Millis,
    /// Decision so far.
    pub status: ExceptionStatus,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When.
    pub decided_ms: Option<Millis>,
    /// The decider's note.
    pub decision_note: Option<String>,
}

/// An exception request to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewException {
    /// Service globs.
    pub services: Vec<String>,
    /// Change kinds.
    pub kinds: Vec<ChangeKind>,
    /// Window start, inclusive.
    pub starts_ms: Millis,
    /// Window end, exclusive.
    pub ends_ms: Millis,
    /// Why.
    pub reason: String,
}

/// Where a guard rule version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleSource {
    /// Derived from the plan and measured capacity.
    Derived,
    /// Adjusted by a commander.
    Adjusted,
    /// Written by an emergency-plan run (an action, or its rollback).
    Emergency,
}

impl RuleSource {
    /// Lower-case name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleSource::Derived => "derived",
            RuleSource::Adjusted => "adjusted",
            RuleSource::Emergency => "emergency",
        }
    }

    /// Parse a lower-case name.
    pub fn parse(name: &str) -> Option<RuleSource> {
        [
            RuleSource::Derived,
            RuleSource::Adjusted,
            RuleSource::Emergency,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// One version of a service's guard rule set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleVersion {
    /// Service the sidecars of which apply it.
    pub service: String,
    /// 1, 2, … per service.
    pub version: i64,
    /// The rule set document (JSON, seawall-guard's schema).
    pub document: String,
    /// Lower-case hex SHA-256 of the document.
    pub sha256: String,
    /// Derived or adjusted.
    pub source: RuleSource,
    /// Plan version it was derived from, if any.
    pub plan_version: Option<i64>,
    /// Why this version (a commander's note, or what it was derived from).
    pub note: String,
    /// Creation time.
    pub created_ms: Millis,
    /// Creator.
    pub created_by: String,
}

/// A rule set version to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRuleVersion {
    /// Service.
    pub service: String,
    /// The document (validated by the caller).
    pub document: String,
    /// Derived or adjusted.
    pub source: RuleSource,
    /// Plan version it was derived from.
    pub plan_version: Option<i64>,
    /// Why.
    pub note: String,
}

/// One version of a service's gray-release whitelist, without its keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhitelistInfo {
    /// Service whose sidecars route by it.
    pub service: String,
    /// 1, 2, … per service.
    pub version: i64,
    /// Distinct ids (keys) in the set.
    pub count: i64,
    /// Size of the stored keys in bytes.
    pub bytes: i64,
    /// Lower-case hex SHA-256 of the stored keys.
    pub sha256: String,
    /// Why this version.
    pub note: String,
    /// Creation time.
    pub created_ms: Millis,
    /// Creator.
    pub created_by: String,
}

/// A whitelist version to store: the whole set in seawall-guard's wire
/// form (`whitelist::Delta::encode` of the full set), checked by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWhitelist {
    /// Service.
    pub service: String,
    /// The encoded set.
    pub keys: Vec<u8>,
    /// Distinct ids in it.
    pub count: i64,
    /// Why.
    pub note: String,
}

/// What a sidecar last reported having applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SidecarReport {
    /// Service it guards.
    pub service: String,
    /// Instance name (host:port or pod name), unique per service.
    pub instance: String,
    /// Rule version in force there.
    pub applied_version: i64,
    /// Report time.
    pub reported_ms: Millis,
    /// Its admin `host:port` (serving `/metrics`), if it reported one: a
    /// target of the control plane's built-in scrape.
    pub admin_addr: Option<String>,
}

/// One sidecar's lease of tokens for its service's `scope: cluster` flow
/// rules (docs/scale-out.md#cluster-wide-guard-quotas).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseRound {
    /// Service.
    pub service: String,
    /// The sidecar instance leasing.
    pub instance: String,
    /// Now (the store never reads the clock).
    pub now_ms: Millis,
    /// An instance that leased within this many ms counts as live.
    pub live_ms: Millis,
    /// One ask per rule.
    pub asks: Vec<LeaseAsk>,
}

/// What a sidecar asks for one cluster rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseAsk {
    /// Rule id.
    pub rule_id: String,
    /// The rule's limit (tokens per second), from the service's rules in
    /// force at the control plane, never from the sidecar.
    pub rate: f64,
    /// Tokens asked for.
    pub asked: u64,
    /// The sidecar's recent demand, requests offered per second.
    pub demand: f64,
}

/// What a lease round granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseGrant {
    /// Tokens granted per ask, in order.
    pub granted: Vec<u64>,
    /// Instances of the service that leased within `live_ms` (this one
    /// included).
    pub instances: u32,
}

/// One audit log entry. `hash` covers every other field and `prev_hash`
/// (see [`audit::entry_hash`]), so an edit or a deletion breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1, 2, … without gaps.
    pub seq: i64,
    /// When.
    pub at_ms: Millis,
    /// Who.
    pub actor: String,
    /// What, dotted (`plan.push`, `gate.check`, `token.create`, …).
    pub action: String,
    /// On what (`event:double11`, `service:order`, `token:7`, …).
    pub target: String,
    /// Details as compact JSON text, hashed exactly as stored.
    pub detail: String,
    /// The previous entry's hash ([`audit::GENESIS`] for the first).
    pub prev_hash: String,
    /// This entry's hash, lower-case hex SHA-256.
    pub hash: String,
}

/// An audit entry to append on its own (changes append theirs themselves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewAudit {
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// Details (serialized compactly with sorted keys).
    pub detail: serde_json::Value,
}

/// Lower-case hex SHA-256 of `data`: plan and run hashes, token secrets.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data);
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The control plane's persistent state. Every mutating method takes a
/// [`Ctx`] and appends its audit entry in the same transaction.
///
/// Errors: [`StoreError::NotFound`] for a missing id/slug the operation
/// needs, [`StoreError::Conflict`] for a unique name taken or a decision on
/// a non-pending exception; database failures otherwise.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Whether the database answers (readiness probe).
    async fn ping(&self) -> Result<()>;

    // ------------------------------------------------------------ events
    /// Create an event (audit `event.create`). Conflict if the slug exists.
    async fn create_event(&self, ctx: &Ctx, new: &NewEvent) -> Result<Event>;
    /// Every event, oldest first.
    async fn events(&self) -> Result<Vec<Event>>;
    /// The event with this slug.
    async fn event(&self, slug: &str) -> Result<Option<Event>>;

    // ------------------------------------------------------------ plans
    /// Append a plan version (audit `plan.push` with version and hash).
    /// NotFound if the event does not exist.
    async fn push_plan(
        &self,
        ctx: &Ctx,
        event_id: i64,
        new: &NewPlanVersion,
    ) -> Result<PlanVersion>;
    /// An event's plan versions, oldest first, without text.
    async fn plan_versions(&self, event_id: i64) -> Result<Vec<PlanVersionInfo>>;
    /// One plan version with its text; `None` asks for the latest.
    async fn plan_version(
        &self,
        event_id: i64,
        version: Option<i64>,
    ) -> Result<Option<PlanVersion>>;

    // ------------------------------------------------------------ runs
    /// Store a rehearsal result (audit `run.upload`). NotFound if the event
    /// does not exist.
    async fn add_run(&self, ctx: &Ctx, event_id: i64, new: &NewRun) -> Result<RunInfo>;
    /// An event's runs, oldest first, without documents.
    async fn runs(&self, event_id: i64) -> Result<Vec<RunInfo>>;
    /// One run with its document.
    async fn run(&self, id: i64) -> Result<Option<Run>>;

    // ------------------------------------------------------------ tokens
    /// Store a token (audit `token.create`, never the secret). Conflict if
    /// the name is taken.
    async fn create_token(&self, ctx: &Ctx, new: &NewToken) -> Result<Token>;
    /// The token whose secret hashes to `secret_sha256`, revoked or not.
    async fn token_by_hash(&self, secret_sha256: &str) -> Result<Option<Token>>;
    /// Every token, oldest first.
    async fn tokens(&self) -> Result<Vec<Token>>;
    /// Revoke a token (audit `token.revoke`) and end its UI sessions in
    /// the same transaction (their `expires_ms` becomes the revocation
    /// time). NotFound if absent; revoking twice keeps the first time.
    async fn revoke_token(&self, ctx: &Ctx, id: i64) -> Result<Token>;

    // ------------------------------------------------------------ sessions
    /// Store a new UI session (audit `session.start`, never the id) and
    /// drop every session that has ended by `ctx.at_ms`. NotFound if the
    /// token does not exist.
    async fn create_session(&self, ctx: &Ctx, session: &Session) -> Result<()>;
    /// The session whose id hashes to `id_sha256`, with its token, ended
    /// or not (the caller checks the times).
    async fn session_by_hash(&self, id_sha256: &str) -> Result<Option<(Session, Token)>>;
    /// Move a session's `seen_ms` and `idle_until_ms` forward (not
    /// audited: use, not a change). No error if it is gone.
    async fn touch_session(
        &self,
        id_sha256: &str,
        seen_ms: Millis,
        idle_until_ms: Millis,
    ) -> Result<()>;
    /// End a session (logout; audit `session.end`). Whether it existed.
    async fn end_session(&self, ctx: &Ctx, id_sha256: &str) -> Result<bool>;

    // ------------------------------------------------------------ gate
    /// Record a gate decision (audit `gate.check`, allowed or not).
    async fn record_change(&self, ctx: &Ctx, new: &NewChangeRecord) -> Result<ChangeRecord>;
    /// Record several gate decisions in ONE transaction (group commit: one
    /// durable flush for many), each with its own audit entry, in order.
    /// An item whose event or exception does not exist gets its own
    /// NotFound and is not stored; the others are. `Err` when the
    /// transaction itself fails (then nothing is stored).
    async fn record_changes(
        &self,
        batch: &[(Ctx, NewChangeRecord)],
    ) -> Result<Vec<Result<ChangeRecord>>>;
    /// Recorded decisions matching `filter`, newest first.
    async fn changes(&self, filter: &ChangeFilter) -> Result<Vec<ChangeRecord>>;

    // ------------------------------------------------------------ exceptions
    /// Request a freeze exception (audit `exception.request`), pending.
    async fn request_exception(
        &self,
        ctx: &Ctx,
        event_id: i64,
        new: &NewException,
    ) -> Result<FreezeException>;
    /// Approve or reject a pending exception (audit `exception.approve` /
    /// `exception.reject`). NotFound if absent, Conflict if not pending.
    async fn decide_exception(
        &self,
        ctx: &Ctx,
        id: i64,
        approve: bool,
        note: Option<&str>,
    ) -> Result<FreezeException>;
    /// One exception.
    async fn exception(&self, id: i64) -> Result<Option<FreezeException>>;
    /// An event's exceptions, oldest first.
    async fn exceptions(&self, event_id: i64) -> Result<Vec<FreezeException>>;

    // ------------------------------------------------------------ guard rules
    /// Append a rule set version for a service (audit `rules.derive` or
    /// `rules.adjust`, or `rules.emergency` for an emergency-plan run).
    async fn put_rules(&self, ctx: &Ctx, new: &NewRuleVersion) -> Result<RuleVersion>;
    /// A service's rule set; `None` asks for the latest.
    async fn rules(&self, service: &str, version: Option<i64>) -> Result<Option<RuleVersion>>;
    /// A service's versions, oldest first.
    async fn rule_history(&self, service: &str) -> Result<Vec<RuleVersion>>;
    /// Every service with rules and its latest version, by name.
    async fn rule_services(&self) -> Result<Vec<(String, i64)>>;

    // ------------------------------------------------------------ gray whitelists
    /// Append a whitelist version for a service (audit `whitelist.upload`,
    /// with its count and SHA-256); returns what was stored.
    async fn put_whitelist(&self, ctx: &Ctx, new: &NewWhitelist) -> Result<WhitelistInfo>;
    /// A service's whitelist versions, oldest first, without their keys.
    async fn whitelist_history(&self, service: &str) -> Result<Vec<WhitelistInfo>>;
    /// One version's encoded keys (`None`: the latest), with its info.
    async fn whitelist_keys(
        &self,
        service: &str,
        version: Option<i64>,
    ) -> Result<Option<(WhitelistInfo, Vec<u8>)>>;
    /// Record what a sidecar applied (upsert on service + instance; audit
    /// `sidecar.applied` with the instance and version).
    async fn report_applied(&self, ctx: &Ctx, report: &SidecarReport) -> Result<()>;
    /// A service's sidecars and what they applied, by instance.
    async fn sidecar_reports(&self, service: &str) -> Result<Vec<SidecarReport>>;
    /// Every sidecar that reported an admin address, by service and
    /// instance: the built-in scrape's targets in one query per tick, not
    /// one per service.
    async fn sidecar_admin_reports(&self) -> Result<Vec<SidecarReport>>;
    /// Lease tokens from the service's shared buckets, one per cluster
    /// rule, in one write transaction (so every replica on one database
    /// leases from the same buckets): each bucket refilled at its rate
    /// ([`seawall_guard::cluster::Bucket`]), each grant capped by the
    /// instance's credit, a bucket of its own refilled at its fair share
    /// ([`seawall_guard::cluster::fair_share`]) of the rate plus what
    /// fills the shared bucket past half (left unused by the others), and the
    /// instance's demand, lease time and credit recorded; rows of the
    /// service idle ten `live_ms` are deleted. Not audited: leases are
    /// operational state that changes many times a second.
    async fn lease_tokens(&self, round: &LeaseRound) -> Result<LeaseGrant>;

    // ------------------------------------------------------------ monitoring
    /// Store one evaluation tick's alert transitions of an event, in order,
    /// each with its audit entry (`alert.pending`, `alert.fired`,
    /// `alert.resolved`, `alert.cancelled`; target `event:<slug>`), and the
    /// alert states after them, in one transaction. NotFound if the event
    /// does not exist.
    async fn record_alerts(
        &self,
        ctx: &Ctx,
        event_id: i64,
        transitions: &[seawall_monitor::Transition],
        snapshot: &seawall_monitor::alert::Snapshot,
    ) -> Result<()>;
    /// The alert states last stored for an event.
    async fn alert_snapshot(
        &self,
        event_id: i64,
    ) -> Result<Option<seawall_monitor::alert::Snapshot>>;
    /// An event's alert transitions with `id > after_id`, oldest first, at
    /// most `limit` (capped at 10,000).
    async fn alert_transitions(
        &self,
        event_id: i64,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<StoredTransition>>;
    /// Upsert telemetry history points of an event (observations, not
    /// changes: not audited), in one transaction. A point takes its tier's
    /// slot (`t_s ÷ step mod length`), so each series stays bounded.
    async fn put_history(&self, event_id: i64, points: &[HistoryPoint]) -> Result<()>;
    /// One series' stored points of `tier` (0: 10 s, 1: 1 min, 2: 5 min),
    /// oldest first.
    async fn history(
        &self,
        event_id: i64,
        kind: seawall_monitor::sample::TargetKind,
        target: &str,
        tier: u8,
    ) -> Result<Vec<seawall_monitor::history::Point>>;

    // ------------------------------------------------------------ emergency runs
    /// Store a new emergency-plan run at version 1 (audit
    /// `emergency.run.requested`, target `emergency_run:<id>`). NotFound if
    /// the event does not exist; Conflict if an unfinished run of the same
    /// plan exists for the event.
    async fn create_emergency_run(
        &self,
        ctx: &Ctx,
        event_id: i64,
        new: &NewEmergencyRun,
    ) -> Result<EmergencyRun>;
    /// One run.
    async fn emergency_run(&self, id: i64) -> Result<Option<EmergencyRun>>;
    /// An event's runs, oldest first.
    async fn emergency_runs(&self, event_id: i64) -> Result<Vec<EmergencyRun>>;
    /// Every unfinished run of every event, oldest first (what a restart
    /// recovers).
    async fn unfinished_emergency_runs(&self) -> Result<Vec<EmergencyRun>>;
    /// Replace run `id`'s state if it is still at `version` (it becomes
    /// `version + 1`), with the update's audit entry, in one transaction.
    /// NotFound if absent; Conflict if the run is at another version (a
    /// stale read), or if it would become a second unfinished run of its
    /// plan.
    async fn update_emergency_run(
        &self,
        ctx: &Ctx,
        id: i64,
        version: i64,
        update: &EmergencyRunUpdate,
    ) -> Result<EmergencyRun>;
    /// The episode of emergency plan `plan_id`'s metric trigger in event
    /// `event_id`, started at `now_ms` unless one is stored already (then
    /// it is returned unchanged: a restart keeps the episode's start).
    /// NotFound if the event does not exist.
    async fn hold_trigger(
        &self,
        event_id: i64,
        plan_id: &str,
        now_ms: Millis,
    ) -> Result<TriggerEpisode>;
    /// Mark the episode that started at `since_ms` started; true only for
    /// the one call that changed it (false if it is started already,
    /// ended, or another episode).
    async fn claim_trigger(&self, event_id: i64, plan_id: &str, since_ms: Millis) -> Result<bool>;
    /// End the episode (the condition stopped holding); nothing if none.
    async fn end_trigger(&self, event_id: i64, plan_id: &str) -> Result<()>;

    // ------------------------------------------------------------ incidents
    /// Store a new incident at version 1 (audit `incident.opened`, target
    /// `incident:<id>`). NotFound if the event does not exist; Conflict if
    /// an unresolved incident with the same dedup key exists for the event.
    async fn create_incident(
        &self,
        ctx: &Ctx,
        event_id: i64,
        new: &IncidentWrite,
    ) -> Result<StoredIncident>;
    /// One incident.
    async fn incident(&self, id: i64) -> Result<Option<StoredIncident>>;
    /// An event's incidents, oldest first.
    async fn incidents(&self, event_id: i64) -> Result<Vec<StoredIncident>>;
    /// Every incident of every event whose next page is due at `now_ms`
    /// (`next_page_ms <= now_ms`), earliest first.
    async fn due_incidents(&self, now_ms: Millis) -> Result<Vec<StoredIncident>>;
    /// Replace incident `id`'s state if it is still at `version` (it
    /// becomes `version + 1`), with the update's audit entry, in one
    /// transaction. NotFound if absent; Conflict if the incident is at
    /// another version (a stale read).
    async fn update_incident(
        &self,
        ctx: &Ctx,
        id: i64,
        version: i64,
        update: &IncidentWrite,
    ) -> Result<StoredIncident>;

    // ------------------------------------------------------------ drills
    /// Store a new drill at version 1 with its audit entry (target
    /// `drill:<id>`). NotFound if the event does not exist; Conflict if an
    /// unfinished drill of the same plan exists for the event.
    async fn create_drill(&self, ctx: &Ctx, event_id: i64, new: &DrillWrite)
    -> Result<StoredDrill>;
    /// One drill.
    async fn drill(&self, id: i64) -> Result<Option<StoredDrill>>;
    /// An event's drills, oldest first.
    async fn drills(&self, event_id: i64) -> Result<Vec<StoredDrill>>;
    /// Replace drill `id`'s state if it is still at `version` (it becomes
    /// `version + 1`), with the update's audit entry, in one transaction.
    /// NotFound if absent; Conflict if the drill is at another version.
    async fn update_drill(
        &self,
        ctx: &Ctx,
        id: i64,
        version: i64,
        update: &DrillWrite,
    ) -> Result<StoredDrill>;

    // ------------------------------------------------------------ audit
    /// Append an entry that goes with no other change (e.g. a denied
    /// request worth keeping).
    async fn append_audit(&self, ctx: &Ctx, new: &NewAudit) -> Result<AuditEntry>;
    /// Entries with `seq > after_seq`, in order, at most `limit`.
    async fn audit(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEntry>>;
}
