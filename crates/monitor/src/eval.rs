//! The evaluator: one tick of readings in, the live view and the alert
//! transitions out.
//!
//! It holds what must outlive a tick — water-level trends, burn series and
//! the alert engine — and precomputes from the plan what does not change
//! (capacities, targets, SLO budgets, planned conversions, each rule's
//! target row), so a tick is arithmetic over vectors. Time is an argument:
//! the same readings at the same times give the same output.

use std::collections::{HashMap, VecDeque};

use seawall_plan::Plan;
use seawall_plan::capacity::{self, CapacitySource, Measured, Status, status_of};
use seawall_plan::model::{CapacityPolicy, Slo};
use seawall_plan::targets;
use serde::Serialize;

use crate::alert::{
    AlertRule, AlertView, Engine, Signal, Snapshot, Transition, derive_alerts, plan_alerts,
};
use crate::burn::{
    BurnError, BurnSeries, BurnWindow, Counts, REFERENCE_PERIOD_MS, WORKBOOK, rescale_workbook,
};
use crate::history::History;
use crate::live;
use crate::sample::{Metrics, Reading, Readings, TargetKind, finite};

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Scrape (and tick) interval in milliseconds (burn windows must span four).
    pub scrape_interval_ms: u64,
    /// Fewest requests in a burn window for it to count.
    pub min_requests: f64,
    /// Window of the water-level trend, in milliseconds.
    pub trend_window_ms: u64,
    /// SLO period; `None`: the plan's `peak` phase, else 30 days.
    pub slo_period_ms: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            scrape_interval_ms: 5_000,
            min_requests: 100.0,
            trend_window_ms: 300_000,
            slo_period_ms: None,
        }
    }
}

/// Most points a trend keeps, whatever the window.
pub const MAX_TREND_POINTS: usize = 1_000;

/// The state of a target's metric source at this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceState {
    /// Fresh values.
    Ok,
    /// No fresh value (see `updated_at`).
    Stale,
    /// The source failed (see `error`).
    Failed,
    /// No reading was given for the target.
    Missing,
}

/// One row of the live view. Fields that do not apply to the row's kind
/// are `None` (null in JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveRow {
    /// Entry, service or partner id, or funnel step name.
    pub id: String,
    /// Rate per second (a funnel step's rate).
    pub qps: Option<f64>,
    /// Capacity: measured when runs exist, else declared (partners: quota).
    pub capacity_qps: Option<f64>,
    /// `qps ÷ capacity_qps`.
    pub water_level: Option<f64>,
    /// 99th-percentile latency.
    pub p99_ms: Option<f64>,
    /// Error ratio.
    pub error_rate: Option<f64>,
    /// Status under the plan's thresholds (partners: the worse of water
    /// level and SLA; funnel: conversion against the plan).
    pub status: Status,
    /// Metric source state.
    pub source: SourceState,
    /// The source's error text when failed.
    pub error: Option<String>,
    /// Milliseconds of the values shown (stale: of the last good value).
    pub updated_at: Option<u64>,
    /// Planned peak rate.
    pub target_qps: Option<f64>,
    /// `qps ÷ target_qps`.
    pub traffic_ratio: Option<f64>,
    /// Seconds until the critical level at the recent trend.
    pub time_to_critical_s: Option<f64>,
    /// Highest burn rate of the usable workbook pairs.
    pub burn_rate: Option<f64>,
    /// Partners: the worse of p99 and error rate over the SLA.
    pub sla_ratio: Option<f64>,
    /// Funnel: `rate ÷ previous step's rate`.
    pub conversion: Option<f64>,
    /// Funnel: the conversion the plan's journeys assume.
    pub planned_conversion: Option<f64>,
}

impl LiveRow {
    fn new(id: &str, reading: Option<&Reading>, now_ms: u64) -> (LiveRow, Option<Metrics>) {
        let (source, error, updated_at, metrics) = match reading {
            Some(Reading::Value(m)) => (SourceState::Ok, None, Some(now_ms), Some(*m)),
            Some(Reading::Stale { since_ms }) => (SourceState::Stale, None, Some(*since_ms), None),
            Some(Reading::Failed { error }) => {
                (SourceState::Failed, Some(error.clone()), None, None)
            }
            None => (SourceState::Missing, None, None, None),
        };
        let m = metrics.unwrap_or_default();
        let row = LiveRow {
            id: id.to_owned(),
            qps: finite(m.qps),
            capacity_qps: None,
            water_level: None,
            p99_ms: finite(m.p99_ms),
            error_rate: finite(m.error_rate),
            status: Status::Unknown,
            source,
            error,
            updated_at,
            target_qps: None,
            traffic_ratio: None,
            time_to_critical_s: None,
            burn_rate: None,
            sla_ratio: None,
            conversion: None,
            planned_conversion: None,
        };
        (row, metrics)
    }
}

/// The live view of one tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveView {
    /// Tick time in milliseconds.
    pub at_ms: u64,
    /// Entries in plan order.
    pub entries: Vec<LiveRow>,
    /// Services in plan order.
    pub services: Vec<LiveRow>,
    /// Partners in plan order.
    pub partners: Vec<LiveRow>,
    /// Funnel steps in order.
    pub funnel: Vec<LiveRow>,
}

impl LiveView {
    /// The fresh values of every row, for the history: `(kind, id,
    /// metrics)` (a funnel step's rate is its `qps`); stale, failed and
    /// missing rows give none.
    pub fn samples(&self) -> impl Iterator<Item = (TargetKind, &str, Metrics)> {
        [
            (TargetKind::Entry, &self.entries),
            (TargetKind::Service, &self.services),
            (TargetKind::Partner, &self.partners),
            (TargetKind::FunnelStep, &self.funnel),
        ]
        .into_iter()
        .flat_map(|(kind, rows)| {
            rows.iter()
                .filter(|r| r.source == SourceState::Ok)
                .map(move |r| {
                    let m = Metrics {
                        qps: r.qps,
                        p99_ms: r.p99_ms,
                        error_rate: r.error_rate,
                    };
                    (kind, r.id.as_str(), m)
                })
        })
    }

    /// Record this tick's fresh values in `history`.
    pub fn record(&self, history: &mut History) {
        for (kind, id, m) in self.samples() {
            history.push(kind, id, self.at_ms, &m);
        }
    }
}

/// What one tick produces.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TickOutput {
    /// The live view.
    pub live: LiveView,
    /// Alert state changes at this tick.
    pub transitions: Vec<Transition>,
}

/// An entry or service, with what the plan says about it and its trend.
#[derive(Debug, Clone)]
struct Capacity {
    id: String,
    capacity: Option<f64>,
    target_qps: f64,
    budget: Option<f64>,
    trend: VecDeque<(u64, f64)>,
    /// One series per workbook pair (none for refused pairs); empty
    /// without an SLO error rate.
    burn: Vec<Option<BurnSeries>>,
}

/// A partner.
#[derive(Debug, Clone)]
struct PartnerInfo {
    id: String,
    quota: Option<f64>,
    target_qps: f64,
    sla: Option<Slo>,
}

/// Where a rule's value comes from.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Entry(usize),
    Service(usize),
    Partner(usize),
    Funnel(usize),
    None,
}

/// Row values an alert may watch.
#[derive(Debug, Clone, Copy, Default)]
struct Values {
    qps: Option<f64>,
    p99_ms: Option<f64>,
    error_rate: Option<f64>,
    water_level: Option<f64>,
    traffic_ratio: Option<f64>,
    burn: [Option<f64>; WORKBOOK.len()],
    conversion_share: Option<f64>,
    /// Consecutive ticks the source has been stale or failed.
    down_ticks: Option<f64>,
}

impl Values {
    /// The row's own numbers (burn and conversion are added by the caller).
    fn of_row(row: &LiveRow) -> Values {
        Values {
            qps: row.qps,
            p99_ms: row.p99_ms,
            error_rate: row.error_rate,
            water_level: row.water_level,
            traffic_ratio: row.traffic_ratio,
            ..Values::default()
        }
    }

    fn of(&self, signal: Signal) -> Option<f64> {
        match signal {
            Signal::WaterLevel => self.water_level,
            Signal::Qps => self.qps,
            Signal::P99Ms => self.p99_ms,
            Signal::ErrorRate => self.error_rate,
            Signal::TrafficRatio => self.traffic_ratio,
            Signal::BurnRate { pair } => self.burn.get(pair).copied().flatten(),
            Signal::FunnelConversion => self.conversion_share,
            Signal::SourceDown => self.down_ticks,
            Signal::Query => None,
        }
    }
}

/// The event-day evaluator of one plan.
#[derive(Debug, Clone)]
pub struct Evaluator {
    config: Config,
    policy: CapacityPolicy,
    entries: Vec<Capacity>,
    services: Vec<Capacity>,
    partners: Vec<PartnerInfo>,
    funnel: Vec<(String, Option<f64>)>,
    /// Consecutive stale or failed ticks of entries, services, partners
    /// and funnel steps, by row.
    down: [Vec<u32>; 4],
    windows: Vec<Result<BurnWindow, BurnError>>,
    engine: Engine,
    slots: Vec<Slot>,
    last_tick_ms: Option<u64>,
}

/// The plan's SLO period: its `peak` phase's length, else the workbook's 30 days.
pub fn slo_period_ms(plan: &Plan) -> u64 {
    plan.event
        .phases
        .get("peak")
        .and_then(|w| {
            u64::try_from(
                w.end
                    .as_millisecond()
                    .saturating_sub(w.start.as_millisecond()),
            )
            .ok()
        })
        .filter(|&ms| ms > 0)
        .unwrap_or(REFERENCE_PERIOD_MS)
}

impl Evaluator {
    /// An evaluator of the plan's alerts and the derived ones.
    pub fn new(plan: &Plan, measured: &Measured, config: Config) -> Self {
        let mut rules = plan_alerts(plan);
        rules.extend(derive_alerts(plan));
        Self::with_rules(plan, measured, config, rules)
    }

    /// An evaluator of the given rules.
    pub fn with_rules(
        plan: &Plan,
        measured: &Measured,
        config: Config,
        rules: Vec<AlertRule>,
    ) -> Self {
        let t = targets::decompose(plan);
        let table = capacity::table(plan, &t, measured);
        let period = config.slo_period_ms.unwrap_or_else(|| slo_period_ms(plan));
        let windows = rescale_workbook(period, config.scrape_interval_ms);
        for w in windows.iter().filter_map(|w| w.as_ref().err()) {
            tracing::warn!(error = %w, "burn-rate pair refused");
        }
        let row = |r: &capacity::Row, slo: Option<Slo>| {
            let budget = slo
                .and_then(|s| s.error_rate)
                .filter(|b| b.is_finite() && *b > 0.0);
            Capacity {
                id: r.id.clone(),
                capacity: r
                    .capacity_qps
                    .filter(|_| r.capacity_source != CapacitySource::Unknown),
                target_qps: r.target_qps,
                budget,
                trend: VecDeque::new(),
                burn: match budget {
                    Some(_) => windows
                        .iter()
                        .map(|w| w.as_ref().ok().map(BurnSeries::for_pair))
                        .collect(),
                    None => Vec::new(),
                },
            }
        };
        let entries: Vec<Capacity> = table
            .entries
            .iter()
            .map(|r| row(r, plan.entries.get(&r.id).and_then(|e| e.slo)))
            .collect();
        let services: Vec<Capacity> = table
            .services
            .iter()
            .map(|r| row(r, plan.services.get(&r.id).and_then(|s| s.slo)))
            .collect();
        let partners: Vec<PartnerInfo> = plan
            .partners
            .iter()
            .map(|(id, p)| PartnerInfo {
                id: id.clone(),
                quota: p.quota_qps,
                target_qps: t.partner(id).unwrap_or(0.0),
                sla: p.sla,
            })
            .collect();
        let funnel: Vec<(String, Option<f64>)> = plan
            .monitoring
            .funnel
            .iter()
            .map(|s| s.name.clone())
            .zip(live::planned_conversions(plan))
            .collect();
        let index = |ids: &mut dyn Iterator<Item = &String>| -> HashMap<String, usize> {
            ids.enumerate().map(|(i, id)| (id.clone(), i)).collect()
        };
        let (ei, si, pi, fi) = (
            index(&mut entries.iter().map(|r| &r.id)),
            index(&mut services.iter().map(|r| &r.id)),
            index(&mut partners.iter().map(|r| &r.id)),
            index(&mut funnel.iter().map(|r| &r.0)),
        );
        let engine = Engine::new(rules);
        let slots = engine
            .rules()
            .iter()
            .map(|r| {
                let found = match r.target.kind {
                    TargetKind::Entry => ei.get(&r.target.id).map(|&i| Slot::Entry(i)),
                    TargetKind::Service => si.get(&r.target.id).map(|&i| Slot::Service(i)),
                    TargetKind::Partner => pi.get(&r.target.id).map(|&i| Slot::Partner(i)),
                    TargetKind::FunnelStep => fi.get(&r.target.id).map(|&i| Slot::Funnel(i)),
                    TargetKind::Query => None,
                };
                found.unwrap_or(Slot::None)
            })
            .collect();
        Evaluator {
            config,
            policy: plan.capacity.clone(),
            entries,
            services,
            partners,
            funnel,
            windows,
            engine,
            slots,
            down: Default::default(),
            last_tick_ms: None,
        }
    }

    /// The burn-rate pairs rescaled to the SLO period, each usable or refused.
    pub fn burn_windows(&self) -> &[Result<BurnWindow, BurnError>] {
        &self.windows
    }

    /// The alert rules.
    pub fn rules(&self) -> &[AlertRule] {
        self.engine.rules()
    }

    /// The alert states to persist.
    pub fn alert_snapshot(&self) -> Snapshot {
        self.engine.snapshot()
    }

    /// Restore persisted alert states (after a restart). A `source-down`
    /// alert restored firing has its row's streak of stale or failed ticks
    /// restored to [`crate::alert::SOURCE_DOWN_TICKS`] too (the count is
    /// not in the snapshot): a source still down after the restart keeps
    /// the alert firing rather than resolving it at the first tick and
    /// firing it again three ticks later.
    pub fn restore_alerts(&mut self, snapshot: &Snapshot) {
        self.engine = Engine::restore(self.engine.rules().to_vec(), snapshot);
        for (rule, slot) in self.engine.rules().iter().zip(&self.slots) {
            let firing = snapshot
                .rules
                .get(&rule.id)
                .is_some_and(|s| s.state.is_firing());
            if rule.signal != Signal::SourceDown || !firing {
                continue;
            }
            let (row, k) = match *slot {
                Slot::Entry(k) => (0, k),
                Slot::Service(k) => (1, k),
                Slot::Partner(k) => (2, k),
                Slot::Funnel(k) => (3, k),
                Slot::None => continue,
            };
            let streaks = &mut self.down[row];
            if streaks.len() <= k {
                streaks.resize(k + 1, 0);
            }
            streaks[k] = streaks[k].max(crate::alert::SOURCE_DOWN_TICKS);
        }
    }

    /// Pending and firing alerts (and resolved ones with `with_resolved`).
    pub fn alerts(&self, with_resolved: bool) -> Vec<AlertView> {
        self.engine.alerts(with_resolved)
    }

    /// Evaluate one tick at `now_ms`.
    pub fn evaluate(&mut self, readings: &Readings, now_ms: u64) -> TickOutput {
        let tick_ms = match self.last_tick_ms {
            Some(last) if now_ms > last => now_ms - last,
            Some(_) => 0,
            None => self.config.scrape_interval_ms,
        };
        self.last_tick_ms = Some(self.last_tick_ms.map_or(now_ms, |l| l.max(now_ms)));
        let ctx = Tick {
            config: &self.config,
            policy: &self.policy,
            windows: &self.windows,
            now_ms,
            tick_ms,
        };
        let (entries, entry_values) = ctx.rows(&mut self.entries, &readings.entries);
        let (services, service_values) = ctx.rows(&mut self.services, &readings.services);
        let (partners, partner_values) = ctx.partners(&self.partners, &readings.partners);
        let (funnel, funnel_values) = ctx.funnel(&self.funnel, &readings.funnel);
        let [d0, d1, d2, d3] = &mut self.down;
        let mut values = [entry_values, service_values, partner_values, funnel_values];
        let [ev, sv, pv, fv] = &mut values;
        down_streaks(d0, &entries, ev);
        down_streaks(d1, &services, sv);
        down_streaks(d2, &partners, pv);
        down_streaks(d3, &funnel, fv);
        let [entry_values, service_values, partner_values, funnel_values] = values;
        let slots = &self.slots;
        let transitions = self.engine.step(now_ms, |i, rule| {
            if rule.signal == Signal::Query {
                return readings
                    .queries
                    .get(&rule.id)
                    .and_then(Reading::metrics)
                    .and_then(|m| finite_any(m.qps));
            }
            let values = match slots.get(i).copied().unwrap_or(Slot::None) {
                Slot::Entry(k) => entry_values.get(k),
                Slot::Service(k) => service_values.get(k),
                Slot::Partner(k) => partner_values.get(k),
                Slot::Funnel(k) => funnel_values.get(k),
                Slot::None => None,
            };
            values.and_then(|v| v.of(rule.signal))
        });
        TickOutput {
            live: LiveView {
                at_ms: now_ms,
                entries,
                services,
                partners,
                funnel,
            },
            transitions,
        }
    }
}

/// A query's value may be negative (e.g. `1 − ratio`); only NaN and
/// infinities are not values.
fn finite_any(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

/// Count consecutive stale or failed ticks per row (reset by a fresh
/// value; a row without a reading has none).
fn down_streaks(streaks: &mut Vec<u32>, rows: &[LiveRow], values: &mut [Values]) {
    streaks.resize(rows.len(), 0);
    for ((n, row), v) in streaks.iter_mut().zip(rows).zip(values) {
        *n = match row.source {
            SourceState::Stale | SourceState::Failed => n.saturating_add(1),
            SourceState::Ok | SourceState::Missing => 0,
        };
        v.down_ticks = (row.source != SourceState::Missing).then_some(f64::from(*n));
    }
}

/// The worse of two statuses (`unknown` loses to any known one).
fn worse(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Unknown => 0,
        Status::Ok => 1,
        Status::Warn => 2,
        Status::Critical => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// One tick's fixed inputs.
struct Tick<'a> {
    config: &'a Config,
    policy: &'a CapacityPolicy,
    windows: &'a [Result<BurnWindow, BurnError>],
    now_ms: u64,
    tick_ms: u64,
}

impl Tick<'_> {
    fn rows(
        &self,
        rows: &mut [Capacity],
        readings: &HashMap<String, Reading>,
    ) -> (Vec<LiveRow>, Vec<Values>) {
        let mut out = Vec::with_capacity(rows.len());
        let mut values = Vec::with_capacity(rows.len());
        for r in rows.iter_mut() {
            let (mut row, metrics) = LiveRow::new(&r.id, readings.get(&r.id), self.now_ms);
            row.capacity_qps = r.capacity;
            row.target_qps = Some(r.target_qps);
            let mut v = Values::default();
            if let Some(m) = metrics {
                row.water_level = live::water_level(m.qps, r.capacity);
                row.traffic_ratio = live::traffic_ratio(m.qps, r.target_qps);
                row.status = status_of(row.water_level, self.policy);
                if let Some(level) = row.water_level.filter(|l| l.is_finite()) {
                    r.trend.push_back((self.now_ms, level));
                }
                let oldest = self.now_ms.saturating_sub(self.config.trend_window_ms);
                while r.trend.front().is_some_and(|&(t, _)| t < oldest)
                    || r.trend.len() > MAX_TREND_POINTS
                {
                    r.trend.pop_front();
                }
                let slope = live::slope_per_second(r.trend.iter().copied());
                row.time_to_critical_s =
                    live::time_to_critical(row.water_level, slope, self.policy.critical_level);
                if let Some(counts) =
                    Counts::from_rates(self.now_ms, self.tick_ms, m.qps, m.error_rate)
                {
                    r.burn.iter_mut().flatten().for_each(|s| s.push(counts));
                }
                v = Values::of_row(&row);
            }
            if let Some(budget) = r.budget {
                for ((slot, w), series) in v.burn.iter_mut().zip(self.windows).zip(&r.burn) {
                    if let (Ok(w), Some(series)) = (w, series) {
                        *slot = series.pair_rate(self.now_ms, w, budget, self.config.min_requests);
                    }
                }
                row.burn_rate = v.burn.iter().flatten().copied().reduce(f64::max);
            }
            out.push(row);
            values.push(v);
        }
        (out, values)
    }

    fn partners(
        &self,
        partners: &[PartnerInfo],
        readings: &HashMap<String, Reading>,
    ) -> (Vec<LiveRow>, Vec<Values>) {
        partners
            .iter()
            .map(|p| {
                let (mut row, metrics) = LiveRow::new(&p.id, readings.get(&p.id), self.now_ms);
                row.capacity_qps = p.quota;
                row.target_qps = (p.target_qps > 0.0).then_some(p.target_qps);
                let mut v = Values::default();
                if let Some(m) = metrics {
                    row.water_level = live::water_level(m.qps, p.quota);
                    row.traffic_ratio = live::traffic_ratio(m.qps, p.target_qps);
                    row.sla_ratio = live::sla_ratio(m.p99_ms, m.error_rate, p.sla.as_ref());
                    row.status = worse(
                        status_of(row.water_level, self.policy),
                        live::sla_status(row.sla_ratio, self.policy),
                    );
                    v = Values::of_row(&row);
                }
                (row, v)
            })
            .unzip()
    }

    fn funnel(
        &self,
        steps: &[(String, Option<f64>)],
        readings: &HashMap<String, Reading>,
    ) -> (Vec<LiveRow>, Vec<Values>) {
        let mut previous: Option<f64> = None;
        steps
            .iter()
            .map(|(name, planned)| {
                let (mut row, metrics) = LiveRow::new(name, readings.get(name), self.now_ms);
                row.planned_conversion = *planned;
                let rate = metrics.and_then(|m| finite(m.qps));
                row.conversion = live::conversion(rate, previous);
                row.status = if metrics.is_some() {
                    live::funnel_status(row.conversion, *planned)
                } else {
                    Status::Unknown
                };
                previous = rate;
                let share = match (row.conversion, *planned) {
                    (Some(c), Some(p)) if p > 0.0 => Some(c / p),
                    _ => None,
                };
                (
                    row,
                    Values {
                        qps: rate,
                        conversion_share: share,
                        ..Values::default()
                    },
                )
            })
            .unzip()
    }
}
