//! A rehearsal scenario, independent of the plan file: journeys of
//! templated steps with conversions, calls and think time, a rate profile
//! (fixed, stages or capacity search), guards and the test tag. The CLI
//! builds one from the plan's `rehearsals`; this crate never reads a plan.
//!
//! [`Scenario::compile`] checks everything before the first request —
//! templates against the variables each step can see, JSON pointers,
//! rates and stages — so an error means nothing was sent.

use std::time::Duration;

use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Uri};

use crate::data::{DataSet, Template};
use crate::{Arrivals, HttpVersion, LoadError, TestTag};

/// Highest accepted journey arrival rate (per second) at any multiple.
const MAX_RATE: f64 = 1_000_000.0;
/// Longest accepted run, stage, step or think time.
const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// A scenario ready to run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Scenario {
    /// Scenario id (reported in the result).
    pub name: String,
    /// `http://host[:port][/prefix]`; each step's path is appended.
    pub base_url: String,
    /// Entries the journeys reach, in report order.
    pub entries: Vec<EntrySpec>,
    /// The mix: each journey's arrival rate at multiple 1 is also its weight.
    pub journeys: Vec<JourneySpec>,
    /// How the rate multiple evolves.
    pub load: LoadProfile,
    /// Arrival spacing of journeys.
    pub arrivals: Arrivals,
    /// Abort thresholds.
    pub guards: GuardSpec,
    /// CSV data sets for templates.
    pub data: Vec<DataSet>,
    /// Test tag; required unless `untagged`.
    pub tag: Option<TestTag>,
    /// Send without a tag.
    pub untagged: bool,
    /// Connection cap (HTTP/1.1 connections or HTTP/2 streams in flight).
    pub connections: usize,
    /// Per-request deadline.
    pub timeout: Duration,
    /// Protocol.
    pub http: HttpVersion,
}

/// An entry the journeys reach.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EntrySpec {
    /// Entry id.
    pub id: String,
    /// The plan's target QPS (multiple 1), for the report.
    pub target_qps: f64,
    /// The SLO the entry is judged by in a capacity search.
    pub slo: Option<crate::result::SloSpec>,
    /// `entry`, `guards` or `none`: where `slo` came from.
    pub slo_source: String,
}

/// One journey of the mix.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct JourneySpec {
    /// Journey id.
    pub id: String,
    /// Journey arrivals per second at rate multiple 1; also the journey's
    /// weight in the mix: journey `j` takes `rate_j / Σ rate` of the
    /// arrivals (smooth weighted round robin, exact to one arrival).
    pub rate: f64,
    /// Ordered steps.
    pub steps: Vec<StepSpec>,
}

/// One step of a journey.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepSpec {
    /// Index into [`Scenario::entries`].
    pub entry: usize,
    /// HTTP method.
    pub method: String,
    /// Path template, starting with `/` (`/api/orders/{{order_id}}`).
    pub path: String,
    /// Body template.
    pub body: Option<String>,
    /// Header templates.
    pub headers: Vec<(String, String)>,
    /// Fraction of the previous step's visitors that reach this one
    /// (ignored for the first step); applied by error diffusion, so the
    /// `n`-th visitor continues iff `⌊(n+1)·c⌋ > ⌊n·c⌋`.
    pub conversion: f64,
    /// Mean requests per visit; a fraction is spread by error diffusion
    /// (`2.5` makes 2, 3, 2, 3, … calls).
    pub calls: f64,
    /// Think time before the step.
    pub think: Duration,
    /// Variables taken from the JSON response: `(name, JSON pointer)`.
    pub extract: Vec<(String, String)>,
}

/// How the rate multiple of the journeys' base rates evolves.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum LoadProfile {
    /// One multiple for the whole duration.
    Fixed {
        /// Rate multiple.
        multiple: f64,
        /// How long arrivals are issued.
        duration: Duration,
    },
    /// Linear ramps: from 0 to the first stage's multiple over its
    /// duration, then from each stage's multiple to the next.
    Stages(Vec<(f64, Duration)>),
    /// Capacity search over multiples.
    Search(SearchSpec),
}

/// Capacity search settings (multiples of the base rates).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchSpec {
    /// First multiple.
    pub start: f64,
    /// Increment per step.
    pub step: f64,
    /// Highest multiple tried.
    pub max: f64,
    /// How long each step and bisection runs.
    pub step_duration: Duration,
    /// How long the knee is held to confirm it.
    pub hold: Duration,
    /// Pause without traffic after a step that broke, so the system's
    /// queues drain before the next step is judged.
    pub cooldown: Duration,
}

/// Windowed abort thresholds, per entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GuardSpec {
    /// Abort when an entry's error rate over the window exceeds this.
    pub error_rate: Option<f64>,
    /// Abort when an entry's p99 (ms) over the window exceeds this.
    pub p99_ms: Option<f64>,
    /// Window length.
    pub window: Duration,
}

impl Default for GuardSpec {
    fn default() -> Self {
        Self {
            error_rate: None,
            p99_ms: None,
            window: Duration::from_secs(10),
        }
    }
}

/// Checked and parsed form of a scenario.
#[derive(Debug)]
pub(crate) struct Compiled {
    pub journeys: Vec<CJourney>,
    /// Σ journey rates at multiple 1.
    pub base_rate: f64,
    /// Expected requests per second per entry at multiple 1.
    pub entry_rate: Vec<f64>,
    /// Host and port to resolve.
    pub host_port: (String, u16),
    /// `host[:port]` for the Host header / `:authority`.
    pub authority: String,
    /// Path prefix of the base URL, without a trailing `/`.
    pub prefix: String,
    /// Headers every request carries (Host, tag, baggage).
    pub headers: hyper::HeaderMap,
    pub run_id: Option<String>,
}

#[derive(Debug)]
pub(crate) struct CJourney {
    /// Arrivals per second at multiple 1 (the journey's weight).
    pub rate: f64,
    pub steps: Vec<CStep>,
}

#[derive(Debug)]
pub(crate) struct CStep {
    pub entry: usize,
    pub method: Method,
    pub path: Template,
    pub body: Option<Template>,
    pub headers: Vec<(HeaderName, Template)>,
    pub conversion: f64,
    pub calls: f64,
    pub think: Duration,
    pub extract: Vec<(String, String)>,
}

impl Scenario {
    /// Check the scenario and parse its templates. An error means nothing
    /// was sent.
    pub(crate) fn compile(&self) -> Result<Compiled, LoadError> {
        let bad = |m: String| LoadError::Scenario(m);
        if self.journeys.is_empty() {
            return Err(bad("the mix has no journeys".into()));
        }
        if self.connections == 0 || self.connections > 100_000 {
            return Err(bad(format!(
                "connections {} is not in 1..=100000",
                self.connections
            )));
        }
        if self.timeout.is_zero() || self.timeout.as_secs_f64() > MAX_SECONDS {
            return Err(bad("timeout must be positive and at most 7 days".into()));
        }
        self.check_profile()?;
        if let Some(e) = self.guards.error_rate
            && !(0.0..=1.0).contains(&e)
        {
            return Err(bad(format!("guards.error_rate {e} is not in [0, 1]")));
        }
        if let Some(p) = self.guards.p99_ms
            && !(p > 0.0 && p.is_finite())
        {
            return Err(bad(format!("guards.p99_ms {p} must be > 0")));
        }
        // A window keeps one histogram per second per entry: bounded memory.
        if self.guards.window.is_zero() || self.guards.window > Duration::from_secs(60) {
            return Err(bad(format!(
                "guards.window {:?} must be more than 0 and at most 60 s",
                self.guards.window
            )));
        }
        if matches!(self.load, LoadProfile::Search(_))
            && self.guards.error_rate.is_none()
            && self.guards.p99_ms.is_none()
            && self.entries.iter().all(|e| e.slo.is_none())
        {
            return Err(bad(
                "a capacity search needs something to break: give the entries an `slo` (p99_ms, error_rate) or the scenario `guards`".into(),
            ));
        }
        for (i, d) in self.data.iter().enumerate() {
            if self.data[..i].iter().any(|o| o.name == d.name) {
                return Err(bad(format!("data set `{}` is given twice", d.name)));
            }
        }

        // Where to send: base URL → host, port, prefix.
        let uri: Uri = self.base_url.parse().map_err(|e| LoadError::InvalidUrl {
            url: self.base_url.clone(),
            reason: format!("{e}"),
        })?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => return Err(LoadError::UnsupportedScheme(other.to_owned())),
            None => {
                return Err(LoadError::InvalidUrl {
                    url: self.base_url.clone(),
                    reason: "missing scheme (http://)".into(),
                });
            }
        }
        let Some(authority) = uri.authority().cloned() else {
            return Err(LoadError::InvalidUrl {
                url: self.base_url.clone(),
                reason: "missing host".into(),
            });
        };
        if uri.query().is_some() {
            return Err(LoadError::InvalidUrl {
                url: self.base_url.clone(),
                reason: "a base URL takes no query; put it in the steps' paths".into(),
            });
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = authority.port_u16().unwrap_or(80);
        let prefix = uri.path().trim_end_matches('/').to_owned();

        // Tag headers, through the same code as `seawall load`.
        let mut probe = crate::LoadConfig::new(format!("http://{authority}/"));
        probe.tag = self.tag.clone();
        probe.untagged = self.untagged;
        let target = probe.prepare()?;

        // Data variables every step sees.
        let mut data_vars: Vec<String> = Vec::new();
        for d in &self.data {
            for c in &d.columns {
                data_vars.push(c.clone());
                data_vars.push(format!("{}.{c}", d.name));
            }
        }

        let mut journeys = Vec::with_capacity(self.journeys.len());
        let mut entry_rate = vec![0.0; self.entries.len()];
        let mut base_rate = 0.0;
        for j in &self.journeys {
            if !(j.rate >= 0.0 && j.rate.is_finite()) {
                return Err(bad(format!(
                    "journey `{}` has rate {}; it must be a number ≥ 0",
                    j.id, j.rate
                )));
            }
            if j.steps.is_empty() {
                return Err(bad(format!("journey `{}` has no steps", j.id)));
            }
            base_rate += j.rate;
            let mut visible = data_vars.clone();
            let mut reach = 1.0;
            let mut steps = Vec::with_capacity(j.steps.len());
            for (i, s) in j.steps.iter().enumerate() {
                let step = compile_step(j, i, s, &self.entries, &visible)?;
                if i > 0 {
                    reach *= step.conversion;
                }
                entry_rate[step.entry] += j.rate * reach * step.calls;
                visible.extend(step.extract.iter().map(|(name, _)| name.clone()));
                steps.push(step);
            }
            journeys.push(CJourney {
                rate: j.rate,
                steps,
            });
        }
        if base_rate <= 0.0 {
            return Err(bad(
                "every journey of the mix has rate 0 (their goals have no target); nothing to send"
                    .into(),
            ));
        }
        if base_rate * self.max_multiple() > MAX_RATE {
            return Err(bad(format!(
                "{} journeys per second at the highest multiple is above {MAX_RATE}",
                base_rate * self.max_multiple()
            )));
        }
        Ok(Compiled {
            journeys,
            base_rate,
            entry_rate,
            host_port: (host, port),
            authority: authority.to_string(),
            prefix,
            headers: target.headers,
            run_id: target.run_id,
        })
    }

    /// Highest rate multiple the profile reaches.
    pub(crate) fn max_multiple(&self) -> f64 {
        match &self.load {
            LoadProfile::Fixed { multiple, .. } => *multiple,
            LoadProfile::Stages(stages) => stages.iter().map(|s| s.0).fold(0.0, f64::max),
            LoadProfile::Search(s) => s.max,
        }
    }

    fn check_profile(&self) -> Result<(), LoadError> {
        let bad = |m: String| LoadError::Scenario(m);
        let multiple_ok = |m: f64| m.is_finite() && m >= 0.0;
        let duration_ok = |d: &Duration| !d.is_zero() && d.as_secs_f64() <= MAX_SECONDS;
        match &self.load {
            LoadProfile::Fixed { multiple, duration } => {
                if !(multiple_ok(*multiple) && *multiple > 0.0) {
                    return Err(bad(format!("rate multiple {multiple} must be > 0")));
                }
                if !duration_ok(duration) {
                    return Err(bad("duration must be positive and at most 7 days".into()));
                }
            }
            LoadProfile::Stages(stages) => {
                if stages.is_empty() {
                    return Err(bad("stages: at least one stage is needed".into()));
                }
                for (i, (m, d)) in stages.iter().enumerate() {
                    if !multiple_ok(*m) || !duration_ok(d) {
                        return Err(bad(format!(
                            "stage {}: rate must be ≥ 0 and duration positive (at most 7 days)",
                            i + 1
                        )));
                    }
                }
                if stages.iter().all(|s| s.0 == 0.0) {
                    return Err(bad("stages: every stage has rate 0".into()));
                }
            }
            LoadProfile::Search(s) => {
                let ok = |x: f64| x.is_finite() && x > 0.0;
                if !(ok(s.start) && ok(s.step) && ok(s.max) && s.start <= s.max) {
                    return Err(bad(format!(
                        "search: start {}, step {}, max {} must be > 0 with start ≤ max",
                        s.start, s.step, s.max
                    )));
                }
                if !duration_ok(&s.step_duration) || !duration_ok(&s.hold) {
                    return Err(bad(
                        "search: step_duration and hold must be positive (at most 7 days)".into(),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn compile_step(
    journey: &JourneySpec,
    index: usize,
    s: &StepSpec,
    entries: &[EntrySpec],
    visible: &[String],
) -> Result<CStep, LoadError> {
    let entry_id = entries.get(s.entry).map_or("?", |e| e.id.as_str());
    let err = |reason: String| LoadError::Step {
        journey: journey.id.clone(),
        step: index + 1,
        entry: entry_id.to_owned(),
        reason,
    };
    if s.entry >= entries.len() {
        return Err(err(format!(
            "entry index {} is out of range ({} entries)",
            s.entry,
            entries.len()
        )));
    }
    if index > 0 && !(0.0..=1.0).contains(&s.conversion) {
        return Err(err(format!("conversion {} is not in [0, 1]", s.conversion)));
    }
    if !(s.calls >= 0.0 && s.calls <= 1000.0) {
        return Err(err(format!("calls {} is not in [0, 1000]", s.calls)));
    }
    if s.think.as_secs_f64() > MAX_SECONDS {
        return Err(err("think time above 7 days".into()));
    }
    let method = Method::from_bytes(s.method.as_bytes())
        .map_err(|_| err(format!("invalid HTTP method `{}`", s.method)))?;
    if !s.path.starts_with('/') {
        return Err(err(format!("path `{}` must start with `/`", s.path)));
    }
    let check = |what: &str, text: &str| -> Result<Template, LoadError> {
        let t = Template::parse(text).map_err(|e| err(format!("{what}: {e}")))?;
        for v in t.vars() {
            if !visible.iter().any(|x| x == v) {
                let known = if visible.is_empty() {
                    "none: add a CSV data set, or extract a value in an earlier step".to_owned()
                } else {
                    visible.join(", ")
                };
                return Err(err(format!(
                    "{what} uses `{{{{{v}}}}}`, which no data set column or earlier step's extract provides (known: {known})"
                )));
            }
        }
        Ok(t)
    };
    let path = check("path", &s.path)?;
    if path.is_static() && crate::client::target(&s.path).is_none() {
        return Err(err(format!("path `{}` is not a valid URI path", s.path)));
    }
    let body = s.body.as_deref().map(|b| check("body", b)).transpose()?;
    let mut headers = Vec::with_capacity(s.headers.len());
    for (name, value) in &s.headers {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| err(format!("header `{name}`: {e}")))?;
        let t = check(&format!("header `{name}`"), value)?;
        if t.is_static() {
            HeaderValue::from_str(value).map_err(|e| err(format!("header `{name}`: {e}")))?;
        }
        headers.push((n, t));
    }
    for (name, pointer) in &s.extract {
        if !(pointer.is_empty() || pointer.starts_with('/')) {
            return Err(err(format!(
                "extract `{name}`: `{pointer}` is not a JSON pointer (write `/data/order_id`)"
            )));
        }
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(err(format!(
                "extract: `{name}` is not a variable name (letters, digits, `_`, `-`, `.`)"
            )));
        }
    }
    Ok(CStep {
        entry: s.entry,
        method,
        path,
        body,
        headers,
        conversion: if index == 0 { 1.0 } else { s.conversion },
        calls: s.calls,
        think: s.think,
        extract: s.extract.clone(),
    })
}
