//! The typed guarantee plan.
//!
//! These types are what analyses work on: a plan that reached them has been
//! fully decoded and validated, so every reference resolves, every number is
//! in range and the dependency graph is acyclic. Each item keeps an [`At`] so
//! findings can point back into the YAML. Named collections are
//! [`IndexMap`]s to keep the file's order in every report.

use indexmap::IndexMap;
use jiff::Timestamp;

use crate::diag::At;

/// Default share of a goal's daily units that fall in the peak hour.
pub const DEFAULT_PEAK_HOUR_SHARE: f64 = 0.1;
/// Default ratio of the peak second's rate to the peak hour's mean rate.
pub const DEFAULT_PEAK_FACTOR: f64 = 1.0;
/// Default capacity headroom.
pub const DEFAULT_HEADROOM: f64 = 0.3;
/// Default warn water level.
pub const DEFAULT_WARN_LEVEL: f64 = 0.7;
/// Default critical water level.
pub const DEFAULT_CRITICAL_LEVEL: f64 = 0.9;
/// Default limit for retry amplification along a path (rule L004).
pub const DEFAULT_MAX_RETRY_AMPLIFICATION: f64 = 3.0;
/// Default time a page waits for an acknowledgement before escalating.
pub const DEFAULT_ACK_TIMEOUT_SECONDS: f64 = 300.0;
/// Shortest `oncall.ack_timeout` accepted.
pub const MIN_ACK_TIMEOUT_SECONDS: f64 = 1.0;
/// Default request rate of a `cache_warmup` action, per second.
pub const DEFAULT_WARMUP_RATE: f64 = 10.0;
/// Highest request rate of a `cache_warmup` action, per second.
pub const MAX_WARMUP_RATE: f64 = 1000.0;
/// Default timeout of one `webhook` action attempt, in seconds.
pub const DEFAULT_WEBHOOK_TIMEOUT_SECONDS: f64 = 5.0;
/// Default retries of a `webhook` action after its first attempt.
pub const DEFAULT_WEBHOOK_RETRIES: u32 = 2;
/// Most retries of a `webhook` action.
pub const MAX_WEBHOOK_RETRIES: u32 = 5;

/// One event's guarantee plan.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// File name the plan was read from (for locations).
    pub file: String,
    /// The event and its phases.
    pub event: Event,
    /// People by id.
    pub people: IndexMap<String, Person>,
    /// Guarantee group and business lines.
    pub organization: Organization,
    /// Business goals by id.
    pub goals: IndexMap<String, Goal>,
    /// Traffic defaults and journeys.
    pub traffic: Traffic,
    /// System entry points by id.
    pub entries: IndexMap<String, Entry>,
    /// Services by id.
    pub services: IndexMap<String, Service>,
    /// External partners by id.
    pub partners: IndexMap<String, Partner>,
    /// Water-level thresholds and headroom.
    pub capacity: CapacityPolicy,
    /// Link-analysis settings.
    pub links: LinkPolicy,
    /// Metrics source, queries, funnel and alerts.
    pub monitoring: Monitoring,
    /// Change-freeze windows.
    pub freeze: Freeze,
    /// Gray releases.
    pub gray: Gray,
    /// On-call rota and war-room channels.
    pub oncall: Oncall,
    /// What emergency actions may reach (`emergency.allow_hosts`).
    pub emergency: EmergencyPolicy,
    /// Emergency plans by id.
    pub emergency_plans: IndexMap<String, EmergencyPlan>,
    /// Rehearsal scenarios by id.
    pub rehearsals: IndexMap<String, Scenario>,
}

/// A half-open time window `[start, end)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
    /// Where the window is written.
    pub at: At,
}

impl Window {
    /// Whether `t` falls in the window.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

/// The event: name, time zone and phases.
#[derive(Debug, Clone)]
pub struct Event {
    /// Display name.
    pub name: String,
    /// IANA time zone name; plan times without an offset are in it.
    pub timezone: String,
    /// Parsed time zone.
    pub tz: jiff::tz::TimeZone,
    /// Named phases (planning, rehearsal, freeze, peak, review).
    pub phases: IndexMap<String, Window>,
    /// Where the event section is.
    pub at: At,
}

impl Default for Event {
    fn default() -> Self {
        Self {
            name: String::new(),
            timezone: "UTC".to_string(),
            tz: jiff::tz::TimeZone::UTC,
            phases: IndexMap::new(),
            at: At::default(),
        }
    }
}

/// The known phase names, in their natural order.
pub const PHASES: [&str; 5] = ["planning", "rehearsal", "freeze", "peak", "review"];

/// A person who can be named in the organisation, rota and plans.
#[derive(Debug, Clone, Default)]
pub struct Person {
    /// Display name.
    pub name: String,
    /// Phone number.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// IM handles by platform (lark, dingtalk, wecom, slack, …).
    pub im: IndexMap<String, String>,
    /// Where the person is defined.
    pub at: At,
}

/// Who decides and who owns each business line.
#[derive(Debug, Clone, Default)]
pub struct Organization {
    /// People ids of the guarantee group (the decision makers).
    pub guarantee_group: Vec<String>,
    /// Business lines by id.
    pub business_lines: IndexMap<String, BusinessLine>,
    /// Where the section is.
    pub at: At,
}

/// One business line with its technical PM.
#[derive(Debug, Clone, Default)]
pub struct BusinessLine {
    /// Display name.
    pub name: String,
    /// Person id of the line's technical PM.
    pub tech_pm: Option<String>,
    /// Service ids the line owns (in addition to services whose `line` names it).
    pub services: Vec<String>,
    /// Where the line is defined.
    pub at: At,
}

/// A business goal: a count over the event day, given or derived.
#[derive(Debug, Clone, Default)]
pub struct Goal {
    /// Display name.
    pub name: Option<String>,
    /// Unit (orders, yuan, users…), for display.
    pub unit: Option<String>,
    /// Where the total comes from.
    pub source: GoalSource,
    /// Override of `traffic.peak_hour_share`.
    pub peak_hour_share: Option<f64>,
    /// Override of `traffic.peak_factor`.
    pub peak_factor: Option<f64>,
    /// Where the goal is defined.
    pub at: At,
}

/// How a goal's total is known.
#[derive(Debug, Clone, PartialEq)]
pub enum GoalSource {
    /// Given directly.
    Total(f64),
    /// `total(goal) × ratio`.
    From {
        /// Source goal id.
        goal: String,
        /// Multiplier.
        ratio: f64,
    },
}

impl Default for GoalSource {
    fn default() -> Self {
        GoalSource::Total(0.0)
    }
}

/// Traffic defaults and user journeys.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// Default share of daily units in the peak hour.
    pub peak_hour_share: f64,
    /// Default peak factor (peak second over peak-hour mean).
    pub peak_factor: f64,
    /// Journeys by id.
    pub journeys: IndexMap<String, Journey>,
    /// Where the section is.
    pub at: At,
}

impl Default for Traffic {
    fn default() -> Self {
        Self {
            peak_hour_share: DEFAULT_PEAK_HOUR_SHARE,
            peak_factor: DEFAULT_PEAK_FACTOR,
            journeys: IndexMap::new(),
            at: At::default(),
        }
    }
}

/// A user path through entries, tied to a goal.
#[derive(Debug, Clone, Default)]
pub struct Journey {
    /// Goal id whose units drive this journey.
    pub goal: String,
    /// Fraction of the goal's units that take this journey (default 1).
    pub share: f64,
    /// Index into `steps` of the anchor step (default 0).
    pub anchor: usize,
    /// Mean session length, for online users (Little's law).
    pub session_seconds: Option<f64>,
    /// Ordered steps.
    pub steps: Vec<Step>,
    /// Where the journey is defined.
    pub at: At,
}

/// One step of a journey.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// Entry id.
    pub entry: String,
    /// Fraction of the previous step's users that reach this one (1 for the first step).
    pub conversion: f64,
    /// Requests to the entry per visit (default 1).
    pub calls: f64,
    /// Think time before the step, in seconds (rehearsals).
    pub think_seconds: f64,
    /// Templated path overriding the entry's path (rehearsals), e.g. `/api/orders/{{order_id}}`.
    pub path: Option<String>,
    /// Templated request body (rehearsals).
    pub body: Option<String>,
    /// Extra request headers (rehearsals).
    pub headers: IndexMap<String, String>,
    /// Variables extracted from the JSON response: name → JSON pointer.
    pub extract: IndexMap<String, String>,
    /// Where the step is written.
    pub at: At,
}

/// HTTP method of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl Method {
    /// Upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }
}

/// Service-level objective of an entry or service.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Slo {
    /// 99th-percentile latency bound in milliseconds.
    pub p99_ms: Option<f64>,
    /// Error-rate bound in [0, 1].
    pub error_rate: Option<f64>,
}

/// A system entry point.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// Display name.
    pub name: Option<String>,
    /// Service id that serves the entry.
    pub service: String,
    /// HTTP method (default GET).
    pub method: Option<Method>,
    /// HTTP path (route pattern).
    pub path: Option<String>,
    /// SLO, if any.
    pub slo: Option<Slo>,
    /// Hotspot multiplier (default 1).
    pub burst: f64,
    /// Today's observed peak rate.
    pub current_qps: Option<f64>,
    /// Configured rate limit in QPS.
    pub rate_limit: Option<f64>,
    /// Where the entry is defined.
    pub at: At,
}

impl Entry {
    /// The entry's method, GET when not given.
    pub fn method_or_default(&self) -> Method {
        self.method.unwrap_or(Method::Get)
    }
}

/// A service's tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Tier {
    /// User-facing business service.
    #[default]
    Frontend,
    /// Shared middle platform.
    Midend,
    /// Infrastructure / back-end.
    Backend,
}

impl Tier {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Frontend => "frontend",
            Tier::Midend => "midend",
            Tier::Backend => "backend",
        }
    }
}

/// A service of the system under guarantee.
#[derive(Debug, Clone, Default)]
pub struct Service {
    /// Display name.
    pub name: Option<String>,
    /// Business line id.
    pub line: Option<String>,
    /// Tier.
    pub tier: Tier,
    /// Running instances.
    pub instances: Option<u32>,
    /// QPS one instance sustains at its SLO.
    pub capacity_per_instance: Option<f64>,
    /// Maximum concurrent requests per instance.
    pub max_concurrency: Option<f64>,
    /// Mean latency in milliseconds.
    pub latency_ms: Option<f64>,
    /// Its own time budget as a callee, in milliseconds.
    pub timeout_ms: Option<f64>,
    /// SLO, if any.
    pub slo: Option<Slo>,
    /// Outgoing dependency edges.
    pub dependencies: Vec<Edge>,
    /// Its Kubernetes deployment, which `scale` actions scale.
    pub kubernetes: Option<Kubernetes>,
    /// Where the service is defined.
    pub at: At,
}

/// Where a service runs in Kubernetes (`services.<id>.kubernetes`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Kubernetes {
    /// Namespace (a DNS-1123 label).
    pub namespace: String,
    /// Deployment name (a DNS-1123 label; default: the service id).
    pub deployment: String,
    /// Where it is written.
    pub at: At,
}

/// Strong dependencies fail the caller; weak ones can be skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Strength {
    /// The caller fails when the callee fails.
    #[default]
    Strong,
    /// The caller can do without the callee.
    Weak,
}

impl Strength {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Strength::Strong => "strong",
            Strength::Weak => "weak",
        }
    }
}

/// Circuit-breaker settings on an edge (Sentinel semantics).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Breaker {
    /// Open when the error ratio exceeds this.
    pub error_ratio: Option<f64>,
    /// Open when this many errors happen in the window.
    pub error_count: Option<f64>,
    /// Open when the ratio of calls slower than `slow_ms` exceeds this.
    pub slow_ratio: Option<f64>,
    /// Slow-call threshold in milliseconds.
    pub slow_ms: Option<f64>,
    /// Minimum calls in the window before the breaker may open.
    pub min_requests: Option<f64>,
    /// How long the breaker stays open before a half-open probe, in seconds.
    pub open_seconds: Option<f64>,
}

/// Per-caller quota at the callee.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Isolation {
    /// Maximum QPS this caller may send.
    pub qps: Option<f64>,
    /// Maximum concurrent calls this caller may hold.
    pub concurrency: Option<f64>,
}

/// A dependency edge from a service to a service or partner.
#[derive(Debug, Clone, Default)]
pub struct Edge {
    /// Callee id (service or partner).
    pub to: String,
    /// Strong or weak.
    pub strength: Strength,
    /// Calls to the callee per request to the caller (default 1).
    pub calls: f64,
    /// Call timeout in milliseconds.
    pub timeout_ms: Option<f64>,
    /// Retries after the first attempt (default 0).
    pub retries: u32,
    /// What the caller does without the callee.
    pub fallback: Option<String>,
    /// Circuit breaker.
    pub breaker: Option<Breaker>,
    /// Per-caller quota at the callee.
    pub isolation: Option<Isolation>,
    /// Where the edge is written.
    pub at: At,
}

/// An external system.
#[derive(Debug, Clone, Default)]
pub struct Partner {
    /// Display name.
    pub name: Option<String>,
    /// Agreed service level.
    pub sla: Option<Slo>,
    /// What we do when the partner fails.
    pub fallback: Option<String>,
    /// Contract quota in QPS, if any (its capacity for water levels).
    pub quota_qps: Option<f64>,
    /// Whether the partner accepts test traffic.
    pub shadow_safe: bool,
    /// Contacts: people ids or free text.
    pub contacts: Vec<String>,
    /// Where the partner is defined.
    pub at: At,
}

/// Headroom and water-level thresholds.
#[derive(Debug, Clone)]
pub struct CapacityPolicy {
    /// Extra capacity required above the target (0.3 = 30 %).
    pub headroom: f64,
    /// Water level from which status is `warn`.
    pub warn_level: f64,
    /// Water level above which status is `critical`.
    pub critical_level: f64,
    /// Where the section is.
    pub at: At,
}

impl Default for CapacityPolicy {
    fn default() -> Self {
        Self {
            headroom: DEFAULT_HEADROOM,
            warn_level: DEFAULT_WARN_LEVEL,
            critical_level: DEFAULT_CRITICAL_LEVEL,
            at: At::default(),
        }
    }
}

/// Settings of the link analysis.
#[derive(Debug, Clone)]
pub struct LinkPolicy {
    /// L004 limit on the product of `retries + 1` along a path.
    pub max_retry_amplification: f64,
    /// Accepted findings: each silences one rule at one path prefix.
    pub accept: Vec<Acceptance>,
    /// Where the section is.
    pub at: At,
}

impl Default for LinkPolicy {
    fn default() -> Self {
        Self {
            max_retry_amplification: DEFAULT_MAX_RETRY_AMPLIFICATION,
            accept: Vec::new(),
            at: At::default(),
        }
    }
}

/// A consciously accepted risk: findings of `rule` whose location path starts
/// with `path` are reported as accepted instead of counted.
#[derive(Debug, Clone, Default)]
pub struct Acceptance {
    /// Rule id, e.g. `L008`.
    pub rule: String,
    /// YAML path prefix, e.g. `services.user-svc`.
    pub path: String,
    /// Why the risk is accepted, and by whom.
    pub reason: String,
    /// Where it is written.
    pub at: At,
}

/// Monitoring: metrics source, queries, funnel, alerts.
#[derive(Debug, Clone, Default)]
pub struct Monitoring {
    /// Prometheus base URL.
    pub prometheus_url: Option<String>,
    /// Built-in scrape targets (`host:port` or URLs).
    pub scrape: Vec<String>,
    /// Queries by entry or service id.
    pub queries: IndexMap<String, Queries>,
    /// Plan-level query templates, one set per kind of id.
    pub templates: Templates,
    /// Business funnel steps, in order.
    pub funnel: Vec<FunnelStep>,
    /// Alerts by id.
    pub alerts: IndexMap<String, Alert>,
    /// Where the section is.
    pub at: At,
}

/// Plan-level query templates (`monitoring.templates`): one set of
/// queries per kind of id, applied to every id of that kind whose
/// `monitoring.queries.<id>` does not give the figure.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    /// For every entry (`{entry}`).
    pub entry: Option<Queries>,
    /// For every service (`{service}`).
    pub service: Option<Queries>,
    /// For every partner (`{partner}`).
    pub partner: Option<Queries>,
}

/// The kind of id a monitoring query is for: it picks the plan template
/// and the placeholder the query may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryKind {
    /// A traffic entry.
    Entry,
    /// A service.
    Service,
    /// A partner (third party).
    Partner,
}

impl QueryKind {
    /// Every kind, in the order of `monitoring.templates`.
    pub const ALL: [QueryKind; 3] = [QueryKind::Entry, QueryKind::Service, QueryKind::Partner];

    /// The key under `monitoring.templates` and the placeholder's name.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryKind::Entry => "entry",
            QueryKind::Service => "service",
            QueryKind::Partner => "partner",
        }
    }
}

/// The three figures a query set gives, in the order of [`Queries::figures`].
pub const FIGURES: [&str; 3] = ["qps", "p99_ms", "error_rate"];

impl Templates {
    /// The template set of `kind`.
    pub fn of(&self, kind: QueryKind) -> Option<&Queries> {
        match kind {
            QueryKind::Entry => self.entry.as_ref(),
            QueryKind::Service => self.service.as_ref(),
            QueryKind::Partner => self.partner.as_ref(),
        }
    }
}

impl Monitoring {
    /// The queries written for `id` (of `kind`), figure by figure
    /// (`qps`, `p99_ms`, `error_rate`): `monitoring.queries.<id>` first,
    /// else the plan template of `kind`; `None` where neither gives the
    /// figure, and the built-in default template then applies
    /// (`seawall_scrape::templates::queries_for`). Placeholders are left
    /// in; the one place that decides which query a figure of an id reads.
    pub fn written(&self, kind: QueryKind, id: &str) -> [Option<&str>; 3] {
        let own = self.queries.get(id).map(Queries::figures);
        let template = self.templates.of(kind).map(Queries::figures);
        std::array::from_fn(|i| {
            own.and_then(|f| f[i])
                .or_else(|| template.and_then(|f| f[i]))
        })
    }

    /// Whether the built-in default templates are expected to give `id`'s
    /// figures: the plan names a metric source (`prometheus.url` or
    /// `scrape` targets), which the defaults are written for (Seawall's
    /// sidecar metrics, scraped directly or through Prometheus). Lint L005
    /// counts that as a monitoring query; a plan without a source (or
    /// without a `monitoring` section) does not get the benefit.
    pub fn defaults_apply(&self) -> bool {
        self.prometheus_url.is_some() || !self.scrape.is_empty()
    }

    /// Whether `id` (of `kind`) has at least one figure's query: its own,
    /// a plan template, or the built-in defaults ([`Self::defaults_apply`]).
    pub fn covers(&self, kind: QueryKind, id: &str) -> bool {
        self.defaults_apply() || self.written(kind, id).iter().any(Option::is_some)
    }
}

/// PromQL queries for one entry or service.
#[derive(Debug, Clone, Default)]
pub struct Queries {
    /// Request rate.
    pub qps: Option<String>,
    /// 99th-percentile latency in milliseconds.
    pub p99_ms: Option<String>,
    /// Error ratio.
    pub error_rate: Option<String>,
    /// Where it is written.
    pub at: At,
}

impl Queries {
    /// The three figures' queries, in the order of [`FIGURES`].
    pub fn figures(&self) -> [Option<&str>; 3] {
        [
            self.qps.as_deref(),
            self.p99_ms.as_deref(),
            self.error_rate.as_deref(),
        ]
    }
}

/// One step of the business funnel (coupon exposure → redemption → order).
#[derive(Debug, Clone, Default)]
pub struct FunnelStep {
    /// Step name.
    pub name: String,
    /// PromQL giving the step's rate.
    pub query: String,
    /// Where it is written.
    pub at: At,
}

/// What an alert watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertMetric {
    /// Target over capacity.
    WaterLevel,
    /// Request rate.
    Qps,
    /// 99th-percentile latency.
    P99Ms,
    /// Error ratio.
    ErrorRate,
    /// A custom query.
    Query,
}

impl AlertMetric {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertMetric::WaterLevel => "water_level",
            AlertMetric::Qps => "qps",
            AlertMetric::P99Ms => "p99_ms",
            AlertMetric::ErrorRate => "error_rate",
            AlertMetric::Query => "query",
        }
    }
}

/// An alert on an entry, service or partner.
#[derive(Debug, Clone)]
pub struct Alert {
    /// Entry, service or partner id.
    pub target: String,
    /// Watched metric.
    pub metric: AlertMetric,
    /// Fires when the metric is above this.
    pub above: f64,
    /// How long the condition must hold, in seconds.
    pub for_seconds: f64,
    /// Custom PromQL (required for metric `query`).
    pub query: Option<String>,
    /// Severity label (page, ticket…).
    pub severity: Option<String>,
    /// Where it is written.
    pub at: At,
}

/// Kind of change: what a freeze window or exception covers and what the
/// gate is asked about (`release`, `config`, `ops`).
///
/// The one definition for the whole workspace: the control plane's API
/// (`seawall_api::ChangeKind`) and store re-export it, and the CLI takes it
/// as an argument through the `clap` feature. Serialized as its lower-case
/// name; reading an unknown name says which ones exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ChangeKind {
    /// Application releases.
    Release,
    /// Configuration changes.
    Config,
    /// Operational changes (scaling, migrations, infrastructure).
    Ops,
}

impl serde::Serialize for ChangeKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ChangeKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for ChangeKind {
    type Err = UnknownKind;

    fn from_str(name: &str) -> Result<Self, UnknownKind> {
        Self::parse(name).ok_or_else(|| UnknownKind(name.to_owned()))
    }
}

/// A name that is not a [`ChangeKind`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown change kind `{0}`; use release, config or ops")]
pub struct UnknownKind(pub String);

impl ChangeKind {
    /// All kinds.
    pub const ALL: [ChangeKind; 3] = [ChangeKind::Release, ChangeKind::Config, ChangeKind::Ops];

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Release => "release",
            ChangeKind::Config => "config",
            ChangeKind::Ops => "ops",
        }
    }

    /// Parse a lower-case name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Change freeze.
#[derive(Debug, Clone, Default)]
pub struct Freeze {
    /// Windows by id.
    pub windows: IndexMap<String, FreezeWindow>,
    /// People ids who may approve exceptions.
    pub approvers: Vec<String>,
    /// Where the section is.
    pub at: At,
}

/// One freeze window.
#[derive(Debug, Clone)]
pub struct FreezeWindow {
    /// When it holds.
    pub window: Window,
    /// Frozen change kinds (default all).
    pub kinds: Vec<ChangeKind>,
    /// Service globs (`*`, `pay-*`); default all services.
    pub services: Vec<String>,
    /// Why.
    pub reason: Option<String>,
    /// Where it is written.
    pub at: At,
}

/// Gray releases.
#[derive(Debug, Clone, Default)]
pub struct Gray {
    /// Releases by id.
    pub releases: IndexMap<String, GrayRelease>,
    /// Where the section is.
    pub at: At,
}

/// Data isolation of a gray release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GrayIsolation {
    /// Gray traffic shares real data.
    #[default]
    None,
    /// Gray traffic is shadowed: writes go to shadow data, no real rewards.
    Shadow,
}

/// A gray (canary) release to a whitelist or a percentage.
#[derive(Debug, Clone, Default)]
pub struct GrayRelease {
    /// Feature name.
    pub feature: String,
    /// Service id.
    pub service: String,
    /// Whitelisted user ids.
    pub whitelist: Vec<String>,
    /// File with one whitelisted id per line (read by the sidecar, not here).
    pub whitelist_file: Option<String>,
    /// Header carrying the user id (default `x-user-id`).
    pub header: Option<String>,
    /// Percent of users (sticky hash), 0–100.
    pub percent: f64,
    /// Data isolation.
    pub isolation: GrayIsolation,
    /// When the release runs.
    pub window: Option<Window>,
    /// Where it is written.
    pub at: At,
}

/// On-call rota and war room.
#[derive(Debug, Clone)]
pub struct Oncall {
    /// Shifts.
    pub rota: Vec<Shift>,
    /// War-room channels.
    pub channels: Vec<Channel>,
    /// Seconds a page waits for an acknowledgement before the next tier
    /// is paged (`ack_timeout`, default 5 minutes, at least 1 s).
    pub ack_timeout_seconds: f64,
    /// Rounds through the tiers before paging stops (`escalation_rounds`);
    /// `None`: until someone acknowledges.
    pub escalation_rounds: Option<u32>,
    /// Where the section is.
    pub at: At,
}

impl Default for Oncall {
    fn default() -> Self {
        Self {
            rota: Vec::new(),
            channels: Vec::new(),
            ack_timeout_seconds: DEFAULT_ACK_TIMEOUT_SECONDS,
            escalation_rounds: None,
            at: At::default(),
        }
    }
}

/// One on-call shift.
#[derive(Debug, Clone)]
pub struct Shift {
    /// Business line ids covered (empty: every line).
    pub lines: Vec<String>,
    /// When.
    pub window: Window,
    /// Person id on first call.
    pub primary: String,
    /// Person id on second call.
    pub secondary: Option<String>,
    /// Where it is written.
    pub at: At,
}

/// A war-room channel.
#[derive(Debug, Clone, Default)]
pub struct Channel {
    /// Channel id.
    pub id: String,
    /// Platform: lark, dingtalk, wecom, slack, webhook.
    pub kind: String,
    /// IM group name.
    pub group: Option<String>,
    /// Webhook URL.
    pub webhook: Option<String>,
    /// Name of the environment variable holding the signing secret.
    pub secret_env: Option<String>,
    /// Where it is written.
    pub at: At,
}

/// When an emergency plan applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlanPhase {
    /// Before the event (expansion, warm-up).
    Pre,
    /// During the event.
    During,
    /// After the event (scale-down, clean-up).
    Post,
}

impl PlanPhase {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanPhase::Pre => "pre",
            PlanPhase::During => "during",
            PlanPhase::Post => "post",
        }
    }
}

/// What starts an emergency plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    /// A person decides.
    Manual,
    /// A metric condition on an entry, service or partner.
    Metric {
        /// Target id.
        target: String,
        /// Metric.
        metric: AlertMetric,
        /// Threshold.
        above: f64,
        /// Duration the condition must hold, in seconds.
        for_seconds: f64,
    },
    /// A named alert of `monitoring.alerts`.
    Alert(String),
}

/// One action of an emergency plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Scale a service to `instances`.
    Scale {
        /// Service id.
        service: String,
        /// Target instance count.
        instances: u32,
    },
    /// Set a rate limit on an entry.
    RateLimit {
        /// Entry id.
        entry: String,
        /// Limit in QPS.
        qps: f64,
    },
    /// Turn on a degradation switch.
    Degrade {
        /// Service id.
        service: String,
        /// Switch / feature name.
        switch: String,
    },
    /// Warm a cache.
    CacheWarmup {
        /// Service id.
        service: String,
        /// What to warm, in words.
        keys: Option<String>,
        /// Absolute http(s) URLs fetched with GET (hosts checked against
        /// `emergency.allow_hosts` at plan check).
        urls: Vec<String>,
        /// Requests per second (default 10, at most 1000).
        rate: f64,
    },
    /// Switch a dependency to its fallback.
    Fallback {
        /// Service or partner id whose fallback is used.
        target: String,
    },
    /// Notify a channel.
    Notify {
        /// Channel id.
        channel: String,
        /// Message.
        message: Option<String>,
    },
    /// Call a webhook.
    Webhook {
        /// URL.
        url: String,
        /// HTTP method (default POST).
        method: String,
        /// Body.
        body: Option<String>,
        /// Reference to the signing secret: an environment variable name
        /// (`NAME`, `$NAME`, `${NAME}`) or `file:/path`, never the secret.
        secret_env: Option<String>,
        /// Timeout of one attempt, in seconds (default 5).
        timeout_seconds: f64,
        /// Retries after the first attempt (0–5, default 2).
        retries: u32,
    },
}

impl Action {
    /// Snake-case kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Scale { .. } => "scale",
            Action::RateLimit { .. } => "rate_limit",
            Action::Degrade { .. } => "degrade",
            Action::CacheWarmup { .. } => "cache_warmup",
            Action::Fallback { .. } => "fallback",
            Action::Notify { .. } => "notify",
            Action::Webhook { .. } => "webhook",
        }
    }

    /// The entry, service or partner id the action works on, if any.
    pub fn target(&self) -> Option<&str> {
        match self {
            Action::Scale { service, .. }
            | Action::Degrade { service, .. }
            | Action::CacheWarmup { service, .. } => Some(service),
            Action::RateLimit { entry, .. } => Some(entry),
            Action::Fallback { target } => Some(target),
            Action::Notify { .. } | Action::Webhook { .. } => None,
        }
    }
}

/// A drill of an emergency plan.
#[derive(Debug, Clone)]
pub struct Drill {
    /// When it ran.
    pub at_time: Timestamp,
    /// How long the execution took, in minutes.
    pub minutes: Option<f64>,
    /// Whether it worked.
    pub passed: bool,
    /// Notes.
    pub notes: Option<String>,
    /// Where it is written.
    pub at: At,
}

/// How many commanders must approve a run of an emergency plan before any
/// action runs (`approval: none | one | two`). Defined here, with the plan
/// that states it; `seawall-respond` enforces it on runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// Runs at once.
    #[default]
    None,
    /// One commander other than the requester.
    One,
    /// Two different commanders, neither the requester.
    Two,
}

impl Approval {
    /// Every value, in the order of the plan's spelling.
    pub const ALL: [Approval; 3] = [Approval::None, Approval::One, Approval::Two];

    /// Approvals needed.
    pub fn needed(self) -> usize {
        match self {
            Approval::None => 0,
            Approval::One => 1,
            Approval::Two => 2,
        }
    }

    /// The plan's spelling (`none`, `one`, `two`).
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::None => "none",
            Approval::One => "one",
            Approval::Two => "two",
        }
    }
}

/// An emergency plan (a page of the manual).
#[derive(Debug, Clone)]
pub struct EmergencyPlan {
    /// Display name.
    pub name: Option<String>,
    /// Before, during or after the event.
    pub phase: PlanPhase,
    /// Business line id, if the plan belongs to one.
    pub line: Option<String>,
    /// What starts it (absent: not written, rule L012).
    pub trigger: Option<Trigger>,
    /// What it does.
    pub actions: Vec<Action>,
    /// Where each action is written, in the order of `actions`.
    pub action_at: Vec<At>,
    /// Where a `{alert}` or metric trigger is written (its keys' locations).
    pub trigger_at: Option<At>,
    /// Business impact of running it.
    pub impact: Option<String>,
    /// Person id responsible.
    pub owner: Option<String>,
    /// Expected execution time in minutes.
    pub expected_minutes: Option<f64>,
    /// Approvals a run needs before any action runs (default none).
    pub approval: Approval,
    /// Drills run so far.
    pub drills: Vec<Drill>,
    /// How to drill it (`drill`): the fault to inject and what to expect.
    pub drill: Option<DrillSpec>,
    /// Where it is defined.
    pub at: At,
}

/// How an emergency plan is drilled (`emergency_plans.<id>.drill`): the
/// fault a drill injects during a tagged rehearsal, and whether the SLO is
/// expected to hold or to break while the plan runs.
#[derive(Debug, Clone, PartialEq)]
pub struct DrillSpec {
    /// The fault to inject.
    pub fault: DrillFault,
    /// What the SLO does during the drill.
    pub expect: DrillExpect,
    /// The rehearsal scenario that drives the tagged traffic, if named.
    pub scenario: Option<String>,
    /// How long the fault's lease lasts, in seconds (default 600): the
    /// fault is removed by itself after this, even if Seawall is down.
    pub lease_seconds: f64,
    /// Where the `drill` map is, with its keys' locations.
    pub at: At,
    /// Where the `fault` map is, with its keys' locations.
    pub fault_at: At,
}

/// Default lease of a drill's fault, in seconds.
pub const DEFAULT_DRILL_LEASE_SECONDS: f64 = 600.0;

/// Longest lease of a drill's fault, in seconds (one hour).
pub const MAX_DRILL_LEASE_SECONDS: f64 = 3_600.0;

/// Where a drill's fault goes.
#[derive(Debug, Clone, PartialEq)]
pub enum DrillFault {
    /// The guard's fault injection, on tagged test traffic only.
    Guard {
        /// An entry (one guard resource) or a service (every resource of
        /// its rules).
        target: FaultTarget,
        /// Delay each faulted request by this many milliseconds.
        delay_ms: Option<u64>,
        /// Answer faulted requests with this status instead.
        abort_status: Option<u16>,
        /// Share (0–100) of tagged requests that get the fault.
        percent: f64,
    },
    /// The simulator's drill switch on one node (`PUT /_sim/fault`).
    Sim {
        /// Service or partner id.
        node: String,
        /// Slow or failing.
        kind: SimFaultKind,
    },
}

/// What a guard drill fault is applied to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultTarget {
    /// One entry.
    Entry(String),
    /// Every resource of a service.
    Service(String),
}

/// The simulator's drill switch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SimFaultKind {
    /// Every request takes `ms` longer.
    Slow {
        /// Added latency, milliseconds.
        ms: f64,
    },
    /// This share (0–1) of requests fails.
    Fail {
        /// Share of failed requests.
        ratio: f64,
    },
}

/// What a drill expects of the SLO while the plan runs.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DrillExpect {
    /// The plan keeps the SLO.
    #[default]
    Hold,
    /// The SLO breaks (the plan limits the damage but cannot prevent it).
    Break,
}

impl DrillExpect {
    /// Every value, in the order of the plan's spelling.
    pub const ALL: [DrillExpect; 2] = [DrillExpect::Hold, DrillExpect::Break];

    /// The plan's spelling (`hold`, `break`).
    pub fn as_str(self) -> &'static str {
        match self {
            DrillExpect::Hold => "hold",
            DrillExpect::Break => "break",
        }
    }
}

/// Plan-wide settings of emergency actions (`emergency`).
#[derive(Debug, Clone, Default)]
pub struct EmergencyPolicy {
    /// Hosts, IP addresses and CIDR ranges that actions may call even
    /// though they are loopback, link-local or a metadata address.
    pub allow_hosts: Vec<String>,
    /// Where the section is.
    pub at: At,
}

/// How arrivals are spaced in a rehearsal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrival {
    /// Evenly spaced.
    #[default]
    Constant,
    /// Exponential gaps.
    Poisson,
}

/// The rate of a rehearsal.
#[derive(Debug, Clone, PartialEq)]
pub enum RateSpec {
    /// A multiple of the plan's targets (`1.2x`).
    TargetMultiple(f64),
    /// Arrivals per second of journeys.
    PerSecond(f64),
}

/// Capacity search settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// First multiple of the target.
    pub start: f64,
    /// Increment of the multiple per step.
    pub step: f64,
    /// Highest multiple tried.
    pub max: f64,
    /// Seconds each step is held.
    pub step_seconds: f64,
    /// Seconds the found knee is held to confirm.
    pub hold_seconds: f64,
    /// Seconds without traffic after a step that broke, so queues drain
    /// before the next step is judged (0: none).
    pub cooldown_seconds: f64,
}

/// One linear ramp stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// Rate at the end of the stage (multiple of target or per second).
    pub rate: RateSpec,
    /// Stage length in seconds.
    pub seconds: f64,
}

/// Windowed abort thresholds of a rehearsal.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Guards {
    /// Abort when the windowed error rate exceeds this.
    pub error_rate: Option<f64>,
    /// Abort when the windowed p99 exceeds this.
    pub p99_ms: Option<f64>,
    /// Window length in seconds (default 10).
    pub window_seconds: f64,
}

/// Test-traffic tag names.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    /// Header carrying the run id.
    pub header: String,
    /// W3C baggage key carrying the run id.
    pub baggage_key: String,
}

impl Default for Tag {
    fn default() -> Self {
        Self {
            header: "x-seawall-test".to_string(),
            baggage_key: "seawall-test".to_string(),
        }
    }
}

/// A rehearsal scenario.
#[derive(Debug, Clone, Default)]
pub struct Scenario {
    /// Journey weights.
    pub mix: IndexMap<String, f64>,
    /// Fixed rate (absent with `search` or `stages`).
    pub rate: Option<RateSpec>,
    /// Capacity search.
    pub search: Option<Search>,
    /// Ramp stages.
    pub stages: Vec<Stage>,
    /// Total duration in seconds (fixed-rate runs).
    pub duration_seconds: Option<f64>,
    /// Arrival process.
    pub arrival: Arrival,
    /// Abort guards.
    pub guards: Guards,
    /// Test tag names.
    pub tag: Tag,
    /// CSV data files: variable-set name → path.
    pub data: IndexMap<String, String>,
    /// Emergency plans drilled during the scenario.
    pub drills: Vec<String>,
    /// Where it is defined.
    pub at: At,
}
