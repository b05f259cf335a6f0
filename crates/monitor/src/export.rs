//! The built-in evaluator's alerts as files for teams on Prometheus,
//! Alertmanager and Grafana (`seawall plan monitoring --export`).
//!
//! Why here: the rules must be the evaluator's own — the same derived
//! alerts ([`derive_alerts`]), thresholds, for-durations, severities and
//! burn-rate windows — so they are generated from the values this crate
//! evaluates with, not from a second description. The PromQL of each
//! figure (a plan's own query or the sidecar default) is the caller's
//! ([`TargetQueries`]): the templates live in `seawall-scrape`, which this
//! pure crate does not depend on. Every file is built as a value and
//! written by serde (serde-saphyr for YAML, serde_json for JSON); only the
//! PromQL expressions are text.
//!
//! Layout: `seawall-sources.rules.yml` records the figures from the raw
//! queries (`seawall:qps`, `seawall:p99_ms`, `seawall:error_rate`,
//! `seawall:funnel_rate`, `seawall:query`); `seawall-alerts.rules.yml`
//! derives water levels, traffic ratios and burn rates from them and holds
//! the alerts, so `promtool test rules` can feed the recorded figures
//! directly. Prometheus has no hysteresis: an alert keeps firing for
//! [`KEEP_FIRING_FOR_MS`] after its condition stops (`keep_firing_for`)
//! instead of until the value falls below 95 % of the threshold.

use std::collections::BTreeMap;

use seawall_plan::Plan;
use seawall_plan::capacity::{self, CapacitySource, Measured};
use seawall_plan::targets;
use serde::Serialize;
use serde_json::{Value, json};

use crate::alert::{AlertRule, Direction, Signal, derive_alerts, plan_alerts};
use crate::burn::{BurnWindow, rescale_workbook};
use crate::eval::{Config, slo_period_ms};
use crate::sample::{Metrics, TargetKind};

/// How long a Prometheus alert keeps firing after its condition stops:
/// the stand-in for the evaluator's hysteresis.
pub const KEEP_FIRING_FOR_MS: u64 = 60_000;
/// The Grafana datasource uid the dashboard and the provisioning share.
pub const DATASOURCE_UID: &str = "seawall-prometheus";
/// File name of the recording rules from the raw queries.
pub const SOURCES_FILE: &str = "seawall-sources.rules.yml";
/// File name of the derived recordings and the alerts.
pub const ALERTS_FILE: &str = "seawall-alerts.rules.yml";

/// The PromQL of one entry's, service's or partner's figures, with the
/// placeholders already filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetQueries {
    /// Entry, service or partner.
    pub kind: TargetKind,
    /// Its id.
    pub id: String,
    /// Requests per second.
    pub qps: String,
    /// 99th-percentile latency, milliseconds.
    pub p99_ms: String,
    /// Errors over requests.
    pub error_rate: String,
}

/// Why a file cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The YAML serializer failed.
    #[error("cannot write YAML: {0}")]
    Yaml(String),
    /// The JSON serializer failed.
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
}

fn yaml<T: Serialize>(value: &T) -> Result<String, ExportError> {
    serde_saphyr::to_string(value).map_err(|e| ExportError::Yaml(e.to_string()))
}

/// A Prometheus rule file.
#[derive(Debug, Clone, Serialize)]
struct RuleFile {
    groups: Vec<Group>,
}

#[derive(Debug, Clone, Serialize)]
struct Group {
    name: String,
    interval: String,
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, Serialize)]
struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alert: Option<String>,
    expr: String,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    for_: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    keep_firing_for: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: BTreeMap<String, String>,
}

impl Rule {
    fn record(name: &str, expr: String, labels: &[(&str, &str)]) -> Rule {
        Rule {
            record: Some(name.to_owned()),
            alert: None,
            expr,
            for_: None,
            keep_firing_for: None,
            labels: labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            annotations: BTreeMap::new(),
        }
    }
}

/// A Prometheus duration in its largest whole unit (`1h`, `5m`, `40s`,
/// `1500ms`).
pub fn duration(ms: u64) -> String {
    match ms {
        0 => "0s".to_owned(),
        _ if ms.is_multiple_of(3_600_000) => format!("{}h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) => format!("{}m", ms / 60_000),
        _ if ms.is_multiple_of(1000) => format!("{}s", ms / 1000),
        _ => format!("{ms}ms"),
    }
}

/// A PromQL double-quoted string.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The selector of one target's recorded series.
fn sel(kind: TargetKind, id: &str) -> String {
    format!(
        "{{seawall_kind={},seawall_target={}}}",
        quoted(kind.as_str()),
        quoted(id)
    )
}

/// A rule id as an alert name: characters outside `[A-Za-z0-9_]` become `_`.
pub fn alert_name(rule_id: &str) -> String {
    let mut s: String = rule_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if s.chars().next().is_none_or(|c| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// A number as PromQL writes it (shortest round-trip form).
fn num(v: f64) -> String {
    format!("{v}")
}

/// What the generator knows about one entry or service.
#[derive(Debug, Clone)]
struct Row {
    capacity: Option<f64>,
    target_qps: f64,
    budget: Option<f64>,
}

/// Everything the files are generated from: the rules the evaluator runs
/// and what their expressions need.
#[derive(Debug, Clone)]
pub struct Model {
    config: Config,
    rules: Vec<AlertRule>,
    rows: BTreeMap<(TargetKind, String), Row>,
    windows: Vec<Option<BurnWindow>>,
    funnel: Vec<String>,
    planned_conversions: BTreeMap<String, Option<f64>>,
    prometheus_url: Option<String>,
}

/// One alert of the generated rules: its Prometheus form and the case
/// that makes it fire.
#[derive(Debug, Clone)]
pub struct Alerting {
    /// The evaluator's rule.
    pub rule: AlertRule,
    /// Alert name in Prometheus.
    pub name: String,
    expr: String,
    /// Labels the expression's result carries (besides the rule's).
    series_labels: BTreeMap<String, String>,
}

/// One input of a test case: a recorded figure held constant.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// Whose figure.
    pub kind: TargetKind,
    /// Id (a funnel step's name; a plan alert's id for `Query`).
    pub id: String,
    /// The figures (a funnel step's rate or a query's value in `qps`).
    pub metrics: Metrics,
}

/// A generated test case: constant inputs from time 0, and whether the
/// alert fires at `eval_ms`.
#[derive(Debug, Clone)]
pub struct Case {
    /// The alert.
    pub alert: Alerting,
    /// Whether it should be firing at `eval_ms`.
    pub fires: bool,
    /// The inputs (none: the source is down).
    pub inputs: Vec<Input>,
    /// When to look.
    pub eval_ms: u64,
}

impl Model {
    /// The model of `plan`'s alerts as the evaluator with `config` runs them.
    pub fn new(plan: &Plan, measured: &Measured, config: Config) -> Self {
        let t = targets::decompose(plan);
        let table = capacity::table(plan, &t, measured);
        let mut rows = BTreeMap::new();
        let slo = |kind, id: &str| match kind {
            TargetKind::Entry => plan.entries.get(id).and_then(|e| e.slo),
            _ => plan.services.get(id).and_then(|s| s.slo),
        };
        for (kind, list) in [
            (TargetKind::Entry, &table.entries),
            (TargetKind::Service, &table.services),
        ] {
            for r in list {
                let budget = slo(kind, &r.id)
                    .and_then(|s| s.error_rate)
                    .filter(|b| b.is_finite() && *b > 0.0);
                rows.insert(
                    (kind, r.id.clone()),
                    Row {
                        capacity: r
                            .capacity_qps
                            .filter(|_| r.capacity_source != CapacitySource::Unknown),
                        target_qps: r.target_qps,
                        budget,
                    },
                );
            }
        }
        for (id, p) in &plan.partners {
            rows.insert(
                (TargetKind::Partner, id.clone()),
                Row {
                    capacity: p.quota_qps,
                    target_qps: t.partner(id).unwrap_or(0.0),
                    budget: None,
                },
            );
        }
        let period = config.slo_period_ms.unwrap_or_else(|| slo_period_ms(plan));
        let windows = rescale_workbook(period, config.scrape_interval_ms)
            .into_iter()
            .map(Result::ok)
            .collect();
        let mut rules = plan_alerts(plan);
        rules.extend(derive_alerts(plan));
        Model {
            config,
            rules,
            rows,
            windows,
            funnel: plan
                .monitoring
                .funnel
                .iter()
                .map(|s| s.name.clone())
                .collect(),
            planned_conversions: plan
                .monitoring
                .funnel
                .iter()
                .map(|s| s.name.clone())
                .zip(crate::live::planned_conversions(plan))
                .collect(),
            prometheus_url: plan.monitoring.prometheus_url.clone(),
        }
    }

    fn interval(&self) -> String {
        duration(self.config.scrape_interval_ms)
    }

    fn tick_s(&self) -> f64 {
        self.config.scrape_interval_ms as f64 / 1000.0
    }

    /// The alerts Prometheus can run, in rule order. Rules the evaluator
    /// never fires are left out: burn pairs refused for short windows,
    /// water levels without a capacity, traffic without a target.
    pub fn alerts(&self) -> Vec<Alerting> {
        self.rules.iter().filter_map(|r| self.alerting(r)).collect()
    }

    fn row(&self, rule: &AlertRule) -> Option<&Row> {
        self.rows.get(&(rule.target.kind, rule.target.id.clone()))
    }

    fn alerting(&self, rule: &AlertRule) -> Option<Alerting> {
        let (kind, id) = (rule.target.kind, rule.target.id.as_str());
        let s = sel(kind, id);
        let op = match rule.direction {
            Direction::Above => ">",
            Direction::Below => "<",
        };
        let t = num(rule.threshold);
        let mut series_labels = BTreeMap::from([
            ("seawall_kind".to_owned(), kind.as_str().to_owned()),
            ("seawall_target".to_owned(), id.to_owned()),
        ]);
        let expr = match rule.signal {
            Signal::WaterLevel => {
                self.row(rule)?.capacity?;
                format!("seawall:water_level{s} {op} {t}")
            }
            Signal::TrafficRatio => {
                let row = self.row(rule)?;
                if !(row.target_qps.is_finite() && row.target_qps > 0.0) {
                    return None;
                }
                format!("seawall:traffic_ratio{s} {op} {t}")
            }
            Signal::Qps => format!("seawall:qps{s} {op} {t}"),
            Signal::P99Ms => format!("seawall:p99_ms{s} {op} {t}"),
            Signal::ErrorRate => format!("seawall:error_rate{s} {op} {t}"),
            Signal::Query => {
                series_labels = BTreeMap::from([("seawall_rule".to_owned(), rule.id.clone())]);
                format!(
                    "seawall:query{{seawall_rule={}}} {op} {t}",
                    quoted(&rule.id)
                )
            }
            Signal::BurnRate { pair } => {
                let w = (*self.windows.get(pair)?)?;
                self.row(rule)?.budget?;
                let (long, short) = (duration(w.long_ms), duration(w.short_ms));
                let on = "on(seawall_kind, seawall_target)";
                let min = num(self.config.min_requests.max(f64::MIN_POSITIVE));
                let window = |name: &str, win: &str| {
                    format!(
                        "{name}{{seawall_kind={},seawall_target={},seawall_window={}}}",
                        quoted(kind.as_str()),
                        quoted(id),
                        quoted(win)
                    )
                };
                series_labels.insert("seawall_window".to_owned(), long.clone());
                format!(
                    "{} {op} {t} and {on} {} {op} {t} and {on} {} >= {min} and {on} {} >= {min}",
                    window("seawall:burn_rate", &long),
                    window("seawall:burn_rate", &short),
                    window("seawall:requests", &long),
                    window("seawall:requests", &short),
                )
            }
            Signal::FunnelConversion => {
                let k = self.funnel.iter().position(|n| n == id)?;
                let previous = self.funnel.get(k.checked_sub(1)?)?;
                let planned = self.planned(rule)?;
                format!(
                    "seawall:funnel_rate{s} / on() seawall:funnel_rate{} / {} {op} {t}",
                    sel(TargetKind::FunnelStep, previous),
                    num(planned)
                )
            }
            Signal::SourceDown => {
                let series = match kind {
                    TargetKind::FunnelStep => "seawall:funnel_rate",
                    _ => "seawall:qps",
                };
                format!("absent({series}{s})")
            }
        };
        Some(Alerting {
            rule: rule.clone(),
            name: alert_name(&rule.id),
            expr,
            series_labels,
        })
    }

    /// A funnel rule's planned conversion (kept on the model's plan view).
    fn planned(&self, rule: &AlertRule) -> Option<f64> {
        self.planned_conversions
            .get(&rule.target.id)
            .copied()
            .flatten()
    }
}

/// One target's recorded series (a funnel step: its rate only).
fn source_rules(queries: &[TargetQueries], funnel: &[(String, String)]) -> Vec<Rule> {
    let mut rules = Vec::new();
    for q in queries {
        let labels = [
            ("seawall_kind", q.kind.as_str()),
            ("seawall_target", q.id.as_str()),
        ];
        for (name, expr) in [
            ("seawall:qps", &q.qps),
            ("seawall:p99_ms", &q.p99_ms),
            ("seawall:error_rate", &q.error_rate),
        ] {
            rules.push(Rule::record(name, expr.clone(), &labels));
        }
    }
    for (name, query) in funnel {
        rules.push(Rule::record(
            "seawall:funnel_rate",
            query.clone(),
            &[
                ("seawall_kind", TargetKind::FunnelStep.as_str()),
                ("seawall_target", name),
            ],
        ));
    }
    rules
}

impl Model {
    /// The rules of `seawall-sources.rules.yml`: each figure recorded from
    /// its query (`queries` for entries, services and partners; the plan's
    /// funnel and query alerts).
    pub fn sources_rules(
        &self,
        plan: &Plan,
        queries: &[TargetQueries],
    ) -> Result<String, ExportError> {
        let funnel: Vec<(String, String)> = plan
            .monitoring
            .funnel
            .iter()
            .map(|s| (s.name.clone(), s.query.clone()))
            .collect();
        let mut rules = source_rules(queries, &funnel);
        for (id, a) in &plan.monitoring.alerts {
            if let Some(q) = &a.query {
                rules.push(Rule::record(
                    "seawall:query",
                    q.clone(),
                    &[("seawall_rule", id)],
                ));
            }
        }
        yaml(&RuleFile {
            groups: vec![Group {
                name: "seawall-sources".to_owned(),
                interval: self.interval(),
                rules,
            }],
        })
    }

    /// The derived recordings: water level, traffic ratio, errors per
    /// second and, per usable burn window, requests and burn rate.
    fn derived_rules(&self) -> Vec<Rule> {
        let mut rules = Vec::new();
        let tick = num(self.tick_s());
        for ((kind, id), row) in &self.rows {
            let s = sel(*kind, id);
            let labels = [
                ("seawall_kind", kind.as_str()),
                ("seawall_target", id.as_str()),
            ];
            if let Some(cap) = row.capacity {
                rules.push(Rule::record(
                    "seawall:water_level",
                    format!("seawall:qps{s} / {}", num(cap)),
                    &labels,
                ));
            }
            if row.target_qps.is_finite() && row.target_qps > 0.0 {
                rules.push(Rule::record(
                    "seawall:traffic_ratio",
                    format!("seawall:qps{s} / {}", num(row.target_qps)),
                    &labels,
                ));
            }
            let Some(budget) = row.budget else { continue };
            rules.push(Rule::record(
                "seawall:errors_qps",
                format!("seawall:qps{s} * seawall:error_rate{s}"),
                &labels,
            ));
            let mut seen: Vec<u64> = Vec::new();
            for w in self.windows.iter().flatten() {
                for ms in [w.long_ms, w.short_ms] {
                    if seen.contains(&ms) {
                        continue;
                    }
                    seen.push(ms);
                    let d = duration(ms);
                    let win = [
                        ("seawall_kind", kind.as_str()),
                        ("seawall_target", id.as_str()),
                        ("seawall_window", d.as_str()),
                    ];
                    rules.push(Rule::record(
                        "seawall:requests",
                        format!("sum_over_time(seawall:qps{s}[{d}]) * {tick}"),
                        &win,
                    ));
                    rules.push(Rule::record(
                        "seawall:burn_rate",
                        format!(
                            "sum_over_time(seawall:errors_qps{s}[{d}]) / sum_over_time(seawall:qps{s}[{d}]) / {}",
                            num(budget)
                        ),
                        &win,
                    ));
                }
            }
        }
        rules
    }

    fn alert_rule(&self, a: &Alerting) -> Rule {
        let for_ms = match a.rule.signal {
            Signal::SourceDown => self
                .config
                .scrape_interval_ms
                .saturating_mul(u64::from(crate::alert::SOURCE_DOWN_TICKS - 1)),
            _ => a.rule.for_ms,
        };
        Rule {
            record: None,
            alert: Some(a.name.clone()),
            expr: a.expr.clone(),
            for_: (for_ms > 0).then(|| duration(for_ms)),
            keep_firing_for: (a.rule.signal != Signal::SourceDown)
                .then(|| duration(KEEP_FIRING_FOR_MS)),
            labels: a.rule_labels(),
            annotations: a.annotations(),
        }
    }

    /// `seawall-alerts.rules.yml`: the derived recordings, then every alert.
    pub fn alert_rules(&self) -> Result<String, ExportError> {
        let alerts: Vec<Rule> = self.alerts().iter().map(|a| self.alert_rule(a)).collect();
        yaml(&RuleFile {
            groups: vec![
                Group {
                    name: "seawall-derived".to_owned(),
                    interval: self.interval(),
                    rules: self.derived_rules(),
                },
                Group {
                    name: "seawall-alerts".to_owned(),
                    interval: self.interval(),
                    rules: alerts,
                },
            ],
        })
    }
}

impl Alerting {
    /// The labels the rule adds: severity, the Seawall rule id, the target.
    fn rule_labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "severity".to_owned(),
                self.rule.severity.as_str().to_owned(),
            ),
            ("seawall_rule".to_owned(), self.rule.id.clone()),
            (
                "seawall_kind".to_owned(),
                self.rule.target.kind.as_str().to_owned(),
            ),
            ("seawall_target".to_owned(), self.rule.target.id.clone()),
        ])
    }

    fn annotations(&self) -> BTreeMap<String, String> {
        let side = match self.rule.direction {
            Direction::Above => "above",
            Direction::Below => "below",
        };
        BTreeMap::from([(
            "summary".to_owned(),
            format!(
                "{} of {} {} {side} {}",
                self.rule.signal.as_str(),
                self.rule.target.kind.as_str(),
                self.rule.target.id,
                self.rule.threshold
            ),
        )])
    }

    /// Every label a firing alert carries.
    fn labels(&self) -> BTreeMap<String, String> {
        let mut l = self.series_labels.clone();
        l.extend(self.rule_labels());
        l
    }
}

/// Input series by name and their constant values (`None`: absent).
type SeriesValues = BTreeMap<String, Option<f64>>;

/// `promtool test rules` files.
#[derive(Debug, Clone, Serialize)]
struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: String,
    tests: Vec<TestGroup>,
}

#[derive(Debug, Clone, Serialize)]
struct TestGroup {
    name: String,
    interval: String,
    input_series: Vec<InputSeries>,
    alert_rule_test: Vec<AlertTest>,
}

#[derive(Debug, Clone, Serialize)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Debug, Clone, Serialize)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Clone, Serialize)]
struct ExpAlert {
    exp_labels: BTreeMap<String, String>,
    exp_annotations: BTreeMap<String, String>,
}

/// A value above (`k` > 1) or below a threshold, for a test case.
fn scaled(threshold: f64, k: f64) -> f64 {
    if threshold > 0.0 {
        threshold * k
    } else if k > 1.0 {
        1.0
    } else {
        0.0
    }
}

impl Model {
    /// A fire and a no-fire case per alert (only the no-fire one where no
    /// input can breach the threshold, e.g. a burn factor over 100 %
    /// errors).
    pub fn cases(&self) -> Vec<Case> {
        let mut out = Vec::new();
        for a in self.alerts() {
            for fires in [true, false] {
                if let Some(case) = self.case(&a, fires) {
                    out.push(case);
                }
            }
        }
        out
    }

    fn case(&self, a: &Alerting, fires: bool) -> Option<Case> {
        let rule = &a.rule;
        let (kind, id) = (rule.target.kind, rule.target.id.clone());
        // Breach by 20 % (or fall to half) of the threshold.
        let k = if fires { 1.2 } else { 0.5 };
        let one = |kind, id: &str, m: Metrics| Input {
            kind,
            id: id.to_owned(),
            metrics: m,
        };
        let qps = |v: f64| Metrics {
            qps: Some(v),
            ..Metrics::default()
        };
        let round = |ms: u64| {
            let i = self.config.scrape_interval_ms.max(1);
            ms.div_ceil(i) * i
        };
        let mut eval_ms = round(rule.for_ms + 60_000);
        let inputs = match rule.signal {
            Signal::WaterLevel => {
                let cap = self.row(rule)?.capacity?;
                vec![one(kind, &id, qps(cap * scaled(rule.threshold, k)))]
            }
            Signal::TrafficRatio => {
                let target = self.row(rule)?.target_qps;
                vec![one(kind, &id, qps(target * scaled(rule.threshold, k)))]
            }
            Signal::Qps => vec![one(kind, &id, qps(scaled(rule.threshold, k)))],
            Signal::P99Ms => vec![one(
                kind,
                &id,
                Metrics {
                    p99_ms: Some(scaled(rule.threshold, k)),
                    ..Metrics::default()
                },
            )],
            Signal::ErrorRate => vec![one(
                kind,
                &id,
                Metrics {
                    error_rate: Some(scaled(rule.threshold, k)),
                    ..Metrics::default()
                },
            )],
            Signal::Query => vec![one(
                TargetKind::Query,
                &rule.id,
                qps(scaled(rule.threshold, k)),
            )],
            Signal::BurnRate { .. } => {
                let budget = self.row(rule)?.budget?;
                let errors = if fires {
                    let e = budget * rule.threshold * 1.2;
                    if e > 1.0 {
                        return None;
                    }
                    e
                } else {
                    0.0
                };
                // Constant traffic: every window has the same ratio, so
                // two minutes (enough requests in any window) decide.
                eval_ms = round(120_000);
                vec![one(
                    kind,
                    &id,
                    Metrics {
                        qps: Some(100.0),
                        p99_ms: None,
                        error_rate: Some(errors),
                    },
                )]
            }
            Signal::FunnelConversion => {
                let k_step = self.funnel.iter().position(|n| *n == id)?;
                let previous = self.funnel.get(k_step.checked_sub(1)?)?;
                let planned = self.planned(rule)?;
                // Fire: a quarter of the planned conversion; quiet: as planned.
                let share = if fires { 0.25 } else { 1.0 };
                vec![
                    one(TargetKind::FunnelStep, previous, qps(100.0)),
                    one(kind, &id, qps(100.0 * planned * share)),
                ]
            }
            Signal::SourceDown => {
                if fires {
                    Vec::new()
                } else {
                    vec![one(kind, &id, qps(1.0))]
                }
            }
        };
        Some(Case {
            alert: a.clone(),
            fires,
            inputs,
            eval_ms,
        })
    }

    /// The series a case reads and their values (`None`: absent). Every
    /// figure of the targets it involves is listed, so two cases can share
    /// a promtool test group only when they agree on all of them.
    fn case_series(&self, c: &Case) -> SeriesValues {
        let mut out = BTreeMap::new();
        let rule = &c.alert.rule;
        let mut involved = vec![(rule.target.kind, rule.target.id.clone())];
        match rule.signal {
            Signal::Query => involved = vec![(TargetKind::Query, rule.id.clone())],
            Signal::FunnelConversion => {
                involved.extend(c.inputs.iter().map(|i| (i.kind, i.id.clone())));
            }
            _ => {}
        }
        for (kind, id) in involved {
            let given = c.inputs.iter().find(|i| i.kind == kind && i.id == id);
            let m = given.map(|i| i.metrics).unwrap_or_default();
            let figures = match kind {
                TargetKind::FunnelStep => vec![("seawall:funnel_rate", m.qps)],
                TargetKind::Query => vec![("seawall:query", m.qps)],
                _ => vec![
                    ("seawall:qps", m.qps),
                    ("seawall:p99_ms", m.p99_ms),
                    ("seawall:error_rate", m.error_rate),
                ],
            };
            for (name, v) in figures {
                let series = match kind {
                    TargetKind::Query => format!("{name}{{seawall_rule={}}}", quoted(&id)),
                    _ => format!("{name}{}", sel(kind, &id)),
                };
                out.insert(series, v);
            }
        }
        out
    }

    /// The promtool test file of [`Model::cases`], on
    /// `seawall-alerts.rules.yml`. Cases are packed into as few test groups
    /// as agree on every series they read (each group re-evaluates every
    /// rule, so one group per case would be slow on a large plan).
    pub fn promtool_tests(&self) -> Result<String, ExportError> {
        let interval = self.interval();
        let step = self.config.scrape_interval_ms.max(1);
        let mut groups: Vec<(SeriesValues, Vec<Case>)> = Vec::new();
        for c in self.cases() {
            let series = self.case_series(&c);
            let fits = |g: &BTreeMap<String, Option<f64>>| {
                series.iter().all(|(k, v)| g.get(k).is_none_or(|w| w == v))
            };
            match groups.iter_mut().find(|(g, _)| fits(g)) {
                Some((g, cases)) => {
                    g.extend(series);
                    cases.push(c);
                }
                None => groups.push((series, vec![c])),
            }
        }
        let tests = groups
            .iter()
            .enumerate()
            .map(|(i, (series, cases))| {
                let last = cases.iter().map(|c| c.eval_ms).max().unwrap_or(0);
                let n = last / step + 1;
                TestGroup {
                    name: format!("seawall cases, group {}", i + 1),
                    interval: interval.clone(),
                    input_series: series
                        .iter()
                        .filter_map(|(name, v)| {
                            v.map(|v| InputSeries {
                                series: name.clone(),
                                values: format!("{}+0x{n}", num(v)),
                            })
                        })
                        .collect(),
                    alert_rule_test: cases
                        .iter()
                        .map(|c| AlertTest {
                            eval_time: duration(c.eval_ms),
                            alertname: c.alert.name.clone(),
                            exp_alerts: if c.fires {
                                vec![ExpAlert {
                                    exp_labels: c.alert.labels(),
                                    exp_annotations: c.alert.annotations(),
                                }]
                            } else {
                                Vec::new()
                            },
                        })
                        .collect(),
                }
            })
            .collect();
        yaml(&TestFile {
            rule_files: vec![ALERTS_FILE.to_owned()],
            evaluation_interval: interval,
            tests,
        })
    }

    /// Alertmanager configuration skeleton: a receiver per severity
    /// (without integrations: fill them in), routes by severity, and the
    /// evaluator's inhibition (critical silences warn, page silences
    /// ticket, on the same target).
    pub fn alertmanager(&self) -> Result<String, ExportError> {
        let severities = ["page", "critical", "ticket", "warn"];
        let routes: Vec<Value> = severities
            .iter()
            .map(|s| {
                json!({
                    "matchers": [format!("severity=\"{s}\"")],
                    "receiver": format!("seawall-{s}"),
                })
            })
            .collect();
        let mut receivers = vec![json!({"name": "seawall-default"})];
        receivers.extend(
            severities
                .iter()
                .map(|s| json!({"name": format!("seawall-{s}")})),
        );
        let inhibit = |source: &str, target: &str| {
            json!({
                "source_matchers": [format!("severity=\"{source}\"")],
                "target_matchers": [format!("severity=\"{target}\"")],
                "equal": ["seawall_kind", "seawall_target"],
            })
        };
        yaml(&json!({
            "route": {
                "receiver": "seawall-default",
                "group_by": ["alertname", "seawall_kind", "seawall_target"],
                "group_wait": "10s",
                "group_interval": "1m",
                "repeat_interval": "1h",
                "routes": routes,
            },
            "receivers": receivers,
            "inhibit_rules": [inhibit("critical", "warn"), inhibit("page", "ticket")],
        }))
    }

    /// Grafana's file provisioning: `(datasources.yaml, dashboards.yaml)`,
    /// the datasource with the dashboard's fixed uid.
    pub fn grafana_provisioning(&self) -> Result<(String, String), ExportError> {
        let url = self
            .prometheus_url
            .clone()
            .unwrap_or_else(|| "http://localhost:9090".to_owned());
        let datasources = yaml(&json!({
            "apiVersion": 1,
            "datasources": [{
                "name": "Seawall Prometheus",
                "type": "prometheus",
                "uid": DATASOURCE_UID,
                "access": "proxy",
                "url": url,
                "isDefault": false,
                "editable": false,
            }],
        }))?;
        let dashboards = yaml(&json!({
            "apiVersion": 1,
            "providers": [{
                "name": "seawall",
                "orgId": 1,
                "folder": "Seawall",
                "type": "file",
                "disableDeletion": false,
                "allowUiUpdates": false,
                "options": {"path": "/var/lib/grafana/dashboards/seawall", "foldersFromFilesStructure": false},
            }],
        }))?;
        Ok((datasources, dashboards))
    }

    /// The Grafana dashboard (JSON model, schemaVersion 39): water levels
    /// against the plan's levels, burn rates, the funnel, partners.
    pub fn grafana_dashboard(&self, title: &str) -> Result<String, ExportError> {
        let ds = json!({"type": "prometheus", "uid": DATASOURCE_UID});
        let panel = |id: u32,
                     title: &str,
                     y: u32,
                     x: u32,
                     targets: Vec<(&str, &str)>,
                     unit: &str,
                     steps: Vec<Value>| {
            json!({
                "id": id,
                "type": "timeseries",
                "title": title,
                "datasource": ds,
                "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
                "fieldConfig": {
                    "defaults": {
                        "unit": unit,
                        "thresholds": {"mode": "absolute", "steps": steps},
                        "custom": {"thresholdsStyle": {"mode": "line"}},
                    },
                    "overrides": [],
                },
                "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": true}},
                "targets": targets.iter().enumerate().map(|(i, (expr, legend))| json!({
                    "refId": char::from(b'A' + u8::try_from(i % 26).unwrap_or(0)).to_string(),
                    "datasource": ds,
                    "expr": expr,
                    "legendFormat": legend,
                })).collect::<Vec<_>>(),
            })
        };
        let base = json!({"color": "green", "value": null});
        let warn = self
            .rules
            .iter()
            .find(|r| r.signal == Signal::WaterLevel && r.severity == crate::Severity::Warn)
            .map(|r| r.threshold);
        let critical = self
            .rules
            .iter()
            .find(|r| r.signal == Signal::WaterLevel && r.severity == crate::Severity::Critical)
            .map(|r| r.threshold);
        let mut level_steps = vec![base.clone()];
        if let Some(w) = warn {
            level_steps.push(json!({"color": "orange", "value": w}));
        }
        if let Some(c) = critical {
            level_steps.push(json!({"color": "red", "value": c}));
        }
        let panels = vec![
            panel(
                1,
                "Water levels (qps ÷ capacity)",
                0,
                0,
                vec![("seawall:water_level", "{{seawall_kind}} {{seawall_target}}")],
                "percentunit",
                level_steps,
            ),
            panel(
                2,
                "Traffic against target",
                0,
                12,
                vec![(
                    "seawall:traffic_ratio",
                    "{{seawall_kind}} {{seawall_target}}",
                )],
                "none",
                vec![
                    base.clone(),
                    json!({"color": "orange", "value": crate::alert::TRAFFIC_OVER_TARGET}),
                ],
            ),
            panel(
                3,
                "SLO burn rate",
                8,
                0,
                vec![(
                    "seawall:burn_rate",
                    "{{seawall_kind}} {{seawall_target}} {{seawall_window}}",
                )],
                "none",
                vec![base.clone(), json!({"color": "red", "value": 1})],
            ),
            panel(
                4,
                "Funnel",
                8,
                12,
                vec![("seawall:funnel_rate", "{{seawall_target}}")],
                "reqps",
                vec![base.clone()],
            ),
            panel(
                5,
                "Partners: p99",
                16,
                0,
                vec![(
                    "seawall:p99_ms{seawall_kind=\"partner\"}",
                    "{{seawall_target}}",
                )],
                "ms",
                vec![base.clone()],
            ),
            panel(
                6,
                "Partners: error rate",
                16,
                12,
                vec![(
                    "seawall:error_rate{seawall_kind=\"partner\"}",
                    "{{seawall_target}}",
                )],
                "percentunit",
                vec![base],
            ),
        ];
        let dashboard = json!({
            "uid": "seawall-event",
            "title": title,
            "tags": ["seawall"],
            "timezone": "browser",
            "editable": true,
            "graphTooltip": 1,
            "schemaVersion": 39,
            "version": 1,
            "refresh": "5s",
            "time": {"from": "now-1h", "to": "now"},
            "timepicker": {},
            "templating": {"list": []},
            "annotations": {"list": []},
            "links": [],
            "panels": panels,
        });
        Ok(serde_json::to_string_pretty(&dashboard)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_use_their_largest_whole_unit() {
        assert_eq!(duration(0), "0s");
        assert_eq!(duration(3_600_000), "1h");
        assert_eq!(duration(300_000), "5m");
        assert_eq!(duration(40_000), "40s");
        assert_eq!(duration(1_700), "1700ms");
    }

    #[test]
    fn rule_ids_become_valid_alert_names() {
        assert_eq!(alert_name("entry:home:water-warn"), "entry_home_water_warn");
        assert_eq!(
            alert_name("funnel_step:coupon grabbed:drop"),
            "funnel_step_coupon_grabbed_drop"
        );
        assert_eq!(alert_name("9lives"), "_9lives");
        assert_eq!(alert_name(""), "_");
    }

    #[test]
    fn label_values_are_escaped_for_promql() {
        assert_eq!(
            sel(TargetKind::Entry, r#"a"b\c"#),
            r#"{seawall_kind="entry",seawall_target="a\"b\\c"}"#
        );
    }
}
