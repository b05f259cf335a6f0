//! Alert rules and their state machine.
//!
//! A rule watches one signal of one target; its state goes inactive →
//! pending (the condition holds) → firing (it held for the rule's
//! for-duration) → resolved (the value fell below the lower, hysteresis
//! threshold). Every change is a [`Transition`] value, for the audit log.
//! The whole state is serde so the store can keep it: an engine restored
//! from a snapshot taken mid-firing keeps firing without a second "fired".
//! Inhibition is Alertmanager's: on the same target, a firing `critical`
//! silences `warn` and a firing `page` silences `ticket`; silenced alerts
//! still change state, they are marked, not dropped.

use std::collections::{BTreeMap, HashMap};

use seawall_plan::Plan;
use seawall_plan::model::AlertMetric;
use serde::{Deserialize, Serialize};

use crate::burn::{Urgency, WORKBOOK};
use crate::live::FUNNEL_DROP;
use crate::sample::TargetKind;

/// How urgent an alert is. The plan writes `page` and `ticket`; derived
/// water-level alerts are `warn` and `critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Water level from the plan's warn level; traffic over target.
    Warn,
    /// Water level above the plan's critical level.
    Critical,
    /// Needs a person now.
    Page,
    /// Needs a look soon.
    Ticket,
}

impl Severity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warn => "warn",
            Severity::Critical => "critical",
            Severity::Page => "page",
            Severity::Ticket => "ticket",
        }
    }

    /// A plan's severity label: one of the four names; absent means
    /// `page` (a plan alert is written to be acted on), any other label is
    /// taken as `ticket`.
    pub fn from_plan(label: Option<&str>) -> Severity {
        match label {
            None | Some("page") => Severity::Page,
            Some("warn") => Severity::Warn,
            Some("critical") => Severity::Critical,
            Some(_) => Severity::Ticket,
        }
    }

    /// Whether a firing alert of this severity silences `other` on the same
    /// target.
    pub fn silences(self, other: Severity) -> bool {
        matches!(
            (self, other),
            (Severity::Critical, Severity::Warn) | (Severity::Page, Severity::Ticket)
        )
    }
}

/// What a rule watches. The plan's metrics ([`AlertMetric`]) plus the
/// derived ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// `qps ÷ capacity`.
    WaterLevel,
    /// Request rate.
    Qps,
    /// 99th-percentile latency in milliseconds.
    P99Ms,
    /// Error ratio.
    ErrorRate,
    /// A plan alert's own query (its value arrives under the alert's id).
    Query,
    /// `qps ÷ target_qps`.
    TrafficRatio,
    /// Burn rate of a workbook pair (index into [`WORKBOOK`]): the lower of
    /// its two windows' rates.
    BurnRate {
        /// Index of the pair.
        pair: usize,
    },
    /// A funnel step's conversion as a share of the planned conversion.
    FunnelConversion,
    /// Consecutive ticks the target's source has been stale or failed.
    SourceDown,
}

impl Signal {
    /// Snake-case name (the API's `metric`).
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::WaterLevel => "water_level",
            Signal::Qps => "qps",
            Signal::P99Ms => "p99_ms",
            Signal::ErrorRate => "error_rate",
            Signal::Query => "query",
            Signal::TrafficRatio => "traffic_ratio",
            Signal::BurnRate { .. } => "burn_rate",
            Signal::FunnelConversion => "funnel_conversion",
            Signal::SourceDown => "source_down",
        }
    }
}

impl From<AlertMetric> for Signal {
    fn from(m: AlertMetric) -> Self {
        match m {
            AlertMetric::WaterLevel => Signal::WaterLevel,
            AlertMetric::Qps => Signal::Qps,
            AlertMetric::P99Ms => Signal::P99Ms,
            AlertMetric::ErrorRate => Signal::ErrorRate,
            AlertMetric::Query => Signal::Query,
        }
    }
}

/// An entry, service, partner or funnel step.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Target {
    /// Kind of target.
    pub kind: TargetKind,
    /// Its id (a funnel step's name).
    pub id: String,
}

impl Target {
    /// A target.
    pub fn new(kind: TargetKind, id: impl Into<String>) -> Self {
        Target {
            kind,
            id: id.into(),
        }
    }
}

/// Which side of the threshold is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Fires above the threshold, resolves below the resolve threshold.
    Above,
    /// Fires below the threshold, resolves above the resolve threshold.
    Below,
}

/// Where a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The plan's `monitoring.alerts`.
    Plan,
    /// Derived from the plan by [`derive_alerts`].
    Derived,
}

/// Share of the threshold at which an `above` alert resolves (and the
/// inverse for `below`): 5 % hysteresis.
pub const HYSTERESIS: f64 = 0.95;

/// One alert rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    /// Unique id: the plan's alert id, or `kind:target:what` when derived.
    pub id: String,
    /// What it watches.
    pub target: Target,
    /// Which signal.
    pub signal: Signal,
    /// Which side is bad.
    pub direction: Direction,
    /// Fires beyond this.
    pub threshold: f64,
    /// Resolves only back beyond this (hysteresis).
    pub resolve: f64,
    /// How long the condition must hold before firing, in milliseconds.
    pub for_ms: u64,
    /// Severity.
    pub severity: Severity,
    /// Plan or derived.
    pub origin: Origin,
}

impl AlertRule {
    /// A derived rule with the default hysteresis and no for-duration
    /// (see [`AlertRule::held_for`] and [`AlertRule::origin`]).
    pub fn new(
        id: impl Into<String>,
        target: Target,
        signal: Signal,
        direction: Direction,
        threshold: f64,
        severity: Severity,
    ) -> Self {
        let resolve = match direction {
            Direction::Above => threshold * HYSTERESIS,
            Direction::Below => threshold / HYSTERESIS,
        };
        AlertRule {
            id: id.into(),
            target,
            signal,
            direction,
            threshold,
            resolve,
            for_ms: 0,
            severity,
            origin: Origin::Derived,
        }
    }

    /// The same rule with a for-duration in milliseconds.
    pub fn held_for(self, for_ms: u64) -> Self {
        AlertRule { for_ms, ..self }
    }

    /// The same rule from another origin.
    pub fn origin(self, origin: Origin) -> Self {
        AlertRule { origin, ..self }
    }

    fn breached(&self, v: f64) -> bool {
        match self.direction {
            Direction::Above => v > self.threshold,
            Direction::Below => v < self.threshold,
        }
    }

    fn cleared(&self, v: f64) -> bool {
        match self.direction {
            Direction::Above => v < self.resolve,
            Direction::Below => v > self.resolve,
        }
    }
}

/// Seconds to milliseconds for plan durations (saturating, NaN → 0).
fn ms(seconds: f64) -> u64 {
    (seconds * 1000.0) as u64
}

/// For-durations of derived alerts, in milliseconds.
pub mod for_ms {
    /// Water level above the warn level.
    pub const WATER_WARN: u64 = 60_000;
    /// Water level above the critical level.
    pub const WATER_CRITICAL: u64 = 30_000;
    /// Traffic above 1.2× target.
    pub const TRAFFIC: u64 = 60_000;
    /// Burn rates (the windows already require duration).
    pub const BURN: u64 = 0;
    /// Partner SLA breaches.
    pub const PARTNER_SLA: u64 = 60_000;
    /// Funnel drops.
    pub const FUNNEL: u64 = 300_000;
    /// A source down (the ticks already count the duration).
    pub const SOURCE_DOWN: u64 = 0;
}

/// A source stale or failed for this many consecutive ticks (scrape
/// intervals) raises `source-down`.
pub const SOURCE_DOWN_TICKS: u32 = 3;

/// Traffic above this multiple of the target raises a warning.
pub const TRAFFIC_OVER_TARGET: f64 = 1.2;

/// The plan's own `monitoring.alerts` as rules (target kind looked up among
/// entries, services and partners, in that order).
pub fn plan_alerts(plan: &Plan) -> Vec<AlertRule> {
    plan.monitoring
        .alerts
        .iter()
        .map(|(id, a)| {
            let kind = if plan.entries.contains_key(&a.target) {
                TargetKind::Entry
            } else if plan.services.contains_key(&a.target) {
                TargetKind::Service
            } else {
                TargetKind::Partner
            };
            AlertRule::new(
                id.clone(),
                Target::new(kind, a.target.clone()),
                a.metric.into(),
                Direction::Above,
                a.above,
                Severity::from_plan(a.severity.as_deref()),
            )
            .held_for(ms(a.for_seconds))
            .origin(Origin::Plan)
        })
        .collect()
}

/// Alerts derived from the plan (`docs/monitoring.md#derived-alerts`):
/// for every entry and service, water level above the plan's warn level
/// (`warn`, 1 m) and critical level (`critical`, 30 s) and traffic above
/// 1.2× target (`warn`, 1 m); for every entry and service with an SLO
/// error rate, the four workbook burn-rate pairs (`page` / `ticket`); for
/// every partner with an SLA, p99 and error rate above it (`page`, 1 m);
/// for every funnel step with a planned conversion, conversion below half
/// of it (`page`, 5 m); for every entry, service, partner and funnel step,
/// its source stale or failed for three ticks (`source-down`, `page`).
pub fn derive_alerts(plan: &Plan) -> Vec<AlertRule> {
    let mut rules = Vec::new();
    let policy = &plan.capacity;
    let targets = plan
        .entries
        .iter()
        .map(|(id, e)| (TargetKind::Entry, id, e.slo))
        .chain(
            plan.services
                .iter()
                .map(|(id, s)| (TargetKind::Service, id, s.slo)),
        );
    for (kind, id, slo) in targets {
        let target = Target::new(kind, id.clone());
        let derived = |what: &str| format!("{}:{id}:{what}", kind.as_str());
        rules.push(
            AlertRule::new(
                derived("water-warn"),
                target.clone(),
                Signal::WaterLevel,
                Direction::Above,
                policy.warn_level,
                Severity::Warn,
            )
            .held_for(for_ms::WATER_WARN),
        );
        rules.push(
            AlertRule::new(
                derived("water-critical"),
                target.clone(),
                Signal::WaterLevel,
                Direction::Above,
                policy.critical_level,
                Severity::Critical,
            )
            .held_for(for_ms::WATER_CRITICAL),
        );
        rules.push(
            AlertRule::new(
                derived("traffic"),
                target.clone(),
                Signal::TrafficRatio,
                Direction::Above,
                TRAFFIC_OVER_TARGET,
                Severity::Warn,
            )
            .held_for(for_ms::TRAFFIC),
        );
        if slo.and_then(|s| s.error_rate).is_some_and(|b| b > 0.0) {
            for (pair, w) in WORKBOOK.iter().enumerate() {
                let severity = match w.urgency {
                    Urgency::Page => Severity::Page,
                    Urgency::Ticket => Severity::Ticket,
                };
                rules.push(
                    AlertRule::new(
                        derived(&format!("burn-{pair}")),
                        target.clone(),
                        Signal::BurnRate { pair },
                        Direction::Above,
                        w.factor,
                        severity,
                    )
                    .held_for(for_ms::BURN),
                );
            }
        }
    }
    for (id, partner) in &plan.partners {
        let target = Target::new(TargetKind::Partner, id.clone());
        let Some(sla) = partner.sla else { continue };
        for (signal, bound, what) in [
            (Signal::P99Ms, sla.p99_ms, "sla-p99"),
            (Signal::ErrorRate, sla.error_rate, "sla-errors"),
        ] {
            if let Some(bound) = bound {
                rules.push(
                    AlertRule::new(
                        format!("partner:{id}:{what}"),
                        target.clone(),
                        signal,
                        Direction::Above,
                        bound,
                        Severity::Page,
                    )
                    .held_for(for_ms::PARTNER_SLA),
                );
            }
        }
    }
    for (step, planned) in plan
        .monitoring
        .funnel
        .iter()
        .zip(crate::live::planned_conversions(plan))
    {
        if planned.is_some() {
            rules.push(
                AlertRule::new(
                    format!("funnel_step:{}:drop", step.name),
                    Target::new(TargetKind::FunnelStep, step.name.clone()),
                    Signal::FunnelConversion,
                    Direction::Below,
                    FUNNEL_DROP,
                    Severity::Page,
                )
                .held_for(for_ms::FUNNEL),
            );
        }
    }
    let every = plan
        .entries
        .keys()
        .map(|id| (TargetKind::Entry, id))
        .chain(plan.services.keys().map(|id| (TargetKind::Service, id)))
        .chain(plan.partners.keys().map(|id| (TargetKind::Partner, id)))
        .chain(
            plan.monitoring
                .funnel
                .iter()
                .map(|s| (TargetKind::FunnelStep, &s.name)),
        );
    for (kind, id) in every {
        rules.push(
            AlertRule::new(
                format!("{}:{id}:source-down", kind.as_str()),
                Target::new(kind, id.clone()),
                Signal::SourceDown,
                Direction::Above,
                f64::from(SOURCE_DOWN_TICKS) - 0.5,
                Severity::Page,
            )
            .held_for(for_ms::SOURCE_DOWN),
        );
    }
    rules
}

/// State of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum State {
    /// Condition does not hold.
    #[default]
    Inactive,
    /// Condition holds since `since_ms`, not yet for long enough.
    Pending {
        /// When the condition started to hold.
        since_ms: u64,
    },
    /// Firing since `fired_ms` (condition held since `since_ms`).
    Firing {
        /// When the condition started to hold.
        since_ms: u64,
        /// When it fired.
        fired_ms: u64,
    },
    /// Resolved at `at_ms` after firing.
    Resolved {
        /// When it resolved.
        at_ms: u64,
    },
}

impl State {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            State::Inactive => "inactive",
            State::Pending { .. } => "pending",
            State::Firing { .. } => "firing",
            State::Resolved { .. } => "resolved",
        }
    }

    /// Whether firing.
    pub fn is_firing(self) -> bool {
        matches!(self, State::Firing { .. })
    }
}

/// What happened to a rule at one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// inactive/resolved → pending.
    Pending,
    /// pending (or, with no for-duration, inactive/resolved) → firing.
    Fired,
    /// firing → resolved.
    Resolved,
    /// pending → inactive (the condition stopped before the for-duration).
    Cancelled,
}

/// One state change, for the audit log and notifications.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Rule id.
    pub rule: String,
    /// Its target.
    pub target: Target,
    /// Its signal.
    pub signal: Signal,
    /// Its severity.
    pub severity: Severity,
    /// What changed.
    pub change: Change,
    /// State after the change.
    pub state: State,
    /// When, in milliseconds.
    pub at_ms: u64,
    /// The value that caused it (`+∞` is written as null in JSON and read
    /// back as `+∞`: the only non-finite value a rule sees is a water level
    /// over zero capacity).
    #[serde(deserialize_with = "null_is_infinity")]
    pub value: f64,
    /// The rule's threshold.
    pub threshold: f64,
    /// Rule id of a firing alert that silences this one, if any.
    pub inhibited_by: Option<String>,
}

fn null_is_infinity<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// State and last value of one rule (what is persisted).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct RuleState {
    /// State.
    pub state: State,
    /// Last numeric value seen.
    pub value: Option<f64>,
}

/// The persisted form of an engine: rule id → state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// States by rule id.
    pub rules: BTreeMap<String, RuleState>,
}

/// An alert as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertView {
    /// Rule id.
    pub id: String,
    /// Target.
    pub target: Target,
    /// Signal name.
    pub metric: &'static str,
    /// Severity.
    pub severity: Severity,
    /// State name.
    pub state: &'static str,
    /// Last value.
    pub value: Option<f64>,
    /// Threshold.
    pub threshold: f64,
    /// Since when the state holds, in milliseconds (none when inactive).
    pub since: Option<u64>,
    /// Rule id of a firing alert that silences this one.
    pub inhibited_by: Option<String>,
}

/// Rules and their states.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    rules: Vec<AlertRule>,
    states: Vec<RuleState>,
    /// Rule indices by target, for inhibition.
    by_target: HashMap<Target, Vec<usize>>,
}

impl Engine {
    /// An engine with every rule inactive. Rules with a duplicate id after
    /// the first are dropped (ids key the persisted state).
    pub fn new(rules: Vec<AlertRule>) -> Self {
        let mut seen = std::collections::HashSet::new();
        let rules: Vec<AlertRule> = rules
            .into_iter()
            .filter(|r| {
                let fresh = seen.insert(r.id.clone());
                if !fresh {
                    tracing::warn!(rule = %r.id, "duplicate alert id; the later rule is ignored");
                }
                fresh
            })
            .collect();
        let mut by_target: HashMap<Target, Vec<usize>> = HashMap::new();
        for (i, r) in rules.iter().enumerate() {
            by_target.entry(r.target.clone()).or_default().push(i);
        }
        let states = vec![RuleState::default(); rules.len()];
        Engine {
            rules,
            states,
            by_target,
        }
    }

    /// An engine with the states of a snapshot (rules not in it start
    /// inactive; snapshot entries without a rule are forgotten).
    pub fn restore(rules: Vec<AlertRule>, snapshot: &Snapshot) -> Self {
        let mut engine = Engine::new(rules);
        for (rule, state) in engine.rules.iter().zip(engine.states.iter_mut()) {
            if let Some(saved) = snapshot.rules.get(&rule.id) {
                *state = *saved;
            }
        }
        engine
    }

    /// The persisted form.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            rules: self
                .rules
                .iter()
                .zip(&self.states)
                .map(|(r, s)| (r.id.clone(), *s))
                .collect(),
        }
    }

    /// The rules.
    pub fn rules(&self) -> &[AlertRule] {
        &self.rules
    }

    /// Evaluate every rule at `now_ms`; `value_of` gives each rule's (index,
    /// rule) current
    /// value (`None`: no data — the state is kept, neither firing nor
    /// resolving on a source that is down; NaN counts as no data).
    pub fn step(
        &mut self,
        now_ms: u64,
        mut value_of: impl FnMut(usize, &AlertRule) -> Option<f64>,
    ) -> Vec<Transition> {
        let mut changed = Vec::new();
        for (i, (rule, st)) in self.rules.iter().zip(self.states.iter_mut()).enumerate() {
            let Some(v) = value_of(i, rule).filter(|v| !v.is_nan()) else {
                continue;
            };
            st.value = Some(v);
            let next = match st.state {
                State::Inactive | State::Resolved { .. } if rule.breached(v) => {
                    if rule.for_ms == 0 {
                        State::Firing {
                            since_ms: now_ms,
                            fired_ms: now_ms,
                        }
                    } else {
                        State::Pending { since_ms: now_ms }
                    }
                }
                State::Pending { since_ms } if rule.breached(v) => {
                    if now_ms.saturating_sub(since_ms) >= rule.for_ms {
                        State::Firing {
                            since_ms,
                            fired_ms: now_ms,
                        }
                    } else {
                        st.state
                    }
                }
                State::Pending { .. } => State::Inactive,
                State::Firing { .. } if rule.cleared(v) => State::Resolved { at_ms: now_ms },
                other => other,
            };
            let change = match (st.state, next) {
                (State::Pending { .. }, State::Inactive) => Some(Change::Cancelled),
                (State::Firing { .. }, State::Resolved { .. }) => Some(Change::Resolved),
                (State::Firing { .. }, _) => None,
                (_, State::Firing { .. }) => Some(Change::Fired),
                (State::Inactive | State::Resolved { .. }, State::Pending { .. }) => {
                    Some(Change::Pending)
                }
                _ => None,
            };
            st.state = next;
            if let Some(change) = change {
                changed.push((i, change, v));
            }
        }
        changed
            .into_iter()
            .map(|(i, change, value)| {
                let rule = &self.rules[i];
                Transition {
                    rule: rule.id.clone(),
                    target: rule.target.clone(),
                    signal: rule.signal,
                    severity: rule.severity,
                    change,
                    state: self.states[i].state,
                    at_ms: now_ms,
                    value,
                    threshold: rule.threshold,
                    inhibited_by: self.inhibitor(i).map(str::to_owned),
                }
            })
            .collect()
    }

    /// Id of a firing rule on the same target whose severity silences rule `i`.
    fn inhibitor(&self, i: usize) -> Option<&str> {
        let rule = &self.rules[i];
        self.by_target.get(&rule.target)?.iter().find_map(|&j| {
            (j != i
                && self.states[j].state.is_firing()
                && self.rules[j].severity.silences(rule.severity))
            .then(|| self.rules[j].id.as_str())
        })
    }

    /// Rules that are pending or firing (and those resolved, when
    /// `with_resolved`), in rule order, as the API lists them.
    pub fn alerts(&self, with_resolved: bool) -> Vec<AlertView> {
        self.rules
            .iter()
            .zip(&self.states)
            .enumerate()
            .filter_map(|(i, (rule, st))| {
                let since = match st.state {
                    State::Inactive => return None,
                    State::Resolved { .. } if !with_resolved => return None,
                    State::Pending { since_ms } => since_ms,
                    State::Firing { fired_ms, .. } => fired_ms,
                    State::Resolved { at_ms } => at_ms,
                };
                Some(AlertView {
                    id: rule.id.clone(),
                    target: rule.target.clone(),
                    metric: rule.signal.as_str(),
                    severity: rule.severity,
                    state: st.state.name(),
                    value: st.value,
                    threshold: rule.threshold,
                    since: Some(since),
                    inhibited_by: self.inhibitor(i).map(str::to_owned),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(for_ms: u64, severity: Severity) -> AlertRule {
        AlertRule::new(
            format!("r-{}", severity.as_str()),
            Target::new(TargetKind::Entry, "home"),
            Signal::WaterLevel,
            Direction::Above,
            0.8,
            severity,
        )
        .held_for(for_ms)
    }

    #[test]
    fn pending_firing_resolved_with_hysteresis() {
        let mut e = Engine::new(vec![rule(10_000, Severity::Page)]);
        let changes = |t: &[Transition]| t.iter().map(|t| t.change).collect::<Vec<_>>();
        assert_eq!(changes(&e.step(0, |_, _| Some(0.9))), [Change::Pending]);
        assert!(e.step(5_000, |_, _| Some(0.9)).is_empty());
        assert_eq!(changes(&e.step(10_000, |_, _| Some(0.9))), [Change::Fired]);
        // 0.78 is below the threshold but above the resolve level 0.76: still firing.
        assert!(e.step(15_000, |_, _| Some(0.78)).is_empty());
        assert!(
            e.step(16_000, |_, _| None).is_empty(),
            "no data keeps the state"
        );
        assert!(
            e.step(17_000, |_, _| Some(f64::NAN)).is_empty(),
            "NaN keeps the state"
        );
        assert_eq!(
            changes(&e.step(20_000, |_, _| Some(0.5))),
            [Change::Resolved]
        );
        assert_eq!(
            changes(&e.step(21_000, |_, _| Some(0.9))),
            [Change::Pending]
        );
        assert_eq!(
            changes(&e.step(22_000, |_, _| Some(0.1))),
            [Change::Cancelled]
        );
    }

    #[test]
    fn critical_silences_warn_on_the_same_target() {
        let mut e = Engine::new(vec![rule(0, Severity::Warn), rule(0, Severity::Critical)]);
        let t = e.step(0, |_, _| Some(0.9));
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].inhibited_by.as_deref(), Some("r-critical"));
        assert_eq!(t[1].inhibited_by, None);
        let listed = e.alerts(false);
        assert_eq!(listed[0].inhibited_by.as_deref(), Some("r-critical"));
        assert!(Severity::Page.silences(Severity::Ticket));
        let mut e = Engine::new(vec![rule(0, Severity::Page)]);
        let t = e.step(0, |_, _| Some(f64::INFINITY));
        let json = serde_json::to_string(&t).expect("serializes");
        let back: Vec<Transition> = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, t);
        assert!(!Severity::Ticket.silences(Severity::Page));
        assert!(!Severity::Critical.silences(Severity::Ticket));
    }
}
