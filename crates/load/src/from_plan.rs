//! What only the plan knows about a run: a plan scenario translated into a
//! load-engine [`Scenario`] ([`scenario`]: journey rates from the target
//! decomposition, SLOs from the entries, CSV files read relative to the
//! plan), and, after the run, the plan it came from, each entry's service,
//! and each service's capacity per instance implied by its entries' knees
//! ([`complete`]). Shared by `seawall rehearse` and `seawall demo`, so a
//! run means the same whoever started it; behind the `plan` feature so the
//! engine itself never needs a plan.

use std::path::Path;
use std::time::Duration;

use seawall_plan::Plan;
use seawall_plan::model::{Arrival, RateSpec, Scenario as Rehearsal};
use seawall_plan::targets::Targets;
use thiserror::Error;

use crate::result::{RunResult, ServiceResult, SloSpec};
use crate::{
    Arrivals, DataSet, EntrySpec, GuardSpec, HttpVersion, JourneySpec, LoadError, LoadProfile,
    Scenario, SearchSpec, StepSpec, TestTag,
};

/// Add what only the plan knows: the plan (`plan_label`, its file name), each entry's service, and
/// each service's capacity per instance implied by its entries' knees
/// (`Σ knee_qps of its entries / instances`; only services with a knee).
pub fn complete(result: &mut RunResult, plan: &Plan, plan_label: &str) {
    result.plan = Some(plan_label.to_owned());
    let mut services: Vec<ServiceResult> = Vec::new();
    for e in &mut result.entries {
        let Some(entry) = plan.entries.get(&e.id) else {
            continue;
        };
        e.service.clone_from(&entry.service);
        let Some(knee) = e.knee_qps else {
            continue;
        };
        let Some(instances) = plan
            .services
            .get(&entry.service)
            .and_then(|s| s.instances)
            .filter(|&n| n > 0)
        else {
            continue;
        };
        match services.iter_mut().find(|s| s.id == entry.service) {
            Some(s) => s.knee_qps += knee,
            None => services.push(ServiceResult {
                id: entry.service.clone(),
                instances,
                knee_qps: knee,
                capacity_per_instance: 0.0,
            }),
        }
    }
    for s in &mut services {
        s.capacity_per_instance = s.knee_qps / f64::from(s.instances);
    }
    // Services in plan order.
    services.sort_by_key(|s| plan.services.get_index_of(&s.id));
    result.services = services;
}

/// A plan scenario's run, as the caller chose it (`seawall rehearse`'s
/// flags): everything [`scenario`] needs beyond the plan.
#[derive(Debug, Clone)]
pub struct ScenarioOptions {
    /// Scenario id: a key under the plan's `rehearsals`.
    pub scenario: String,
    /// Where the system under test listens; every step's path is appended.
    pub base_url: String,
    /// Run at this fixed multiple of the targets instead of the scenario's
    /// rate, stages or search.
    pub rate_multiple: Option<f64>,
    /// Run for this long instead of the scenario's `duration`.
    pub duration: Option<Duration>,
    /// Send requests without the test tag.
    pub untagged: bool,
    /// Run id for the test tag (generated when absent).
    pub run_id: Option<String>,
    /// Seed of Poisson arrivals.
    pub seed: u64,
    /// Connection cap.
    pub connections: usize,
    /// Per-request timeout, connect included.
    pub timeout: Duration,
    /// HTTP protocol of the pool.
    pub http: HttpVersion,
}

/// Why a plan scenario cannot be run; nothing was sent.
#[derive(Debug, Error)]
pub enum FromPlanError {
    /// The scenario does not fit the plan or the options (the message
    /// says what to change).
    #[error("{0}")]
    Scenario(String),
    /// A data file could not be read.
    #[error("cannot read data file `{path}` (rehearsals.{scenario}.data.{set})")]
    DataFile {
        /// The file, relative to the working directory.
        path: String,
        /// The scenario naming it.
        scenario: String,
        /// The data set's name.
        set: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A data file is not valid CSV.
    #[error(transparent)]
    Data(#[from] LoadError),
}

fn bad(message: String) -> FromPlanError {
    FromPlanError::Scenario(message)
}

/// The plan's scenario `opts.scenario` as a load-engine [`Scenario`]
/// (docs/rehearse.md, "Rates"): journey `j` arrives at `x · r_j[first]`
/// per second for a multiple `x` of the targets (its first step's
/// decomposed rate) and each step's calls are multiplied by its entry's
/// `burst`, so entry `e` receives `x · target(e)` from the mixed journeys;
/// with only absolute rates `R` (journeys per second), journey `j` arrives
/// at `R · w_j / Σ w` from the mix weights. CSV data files are read
/// relative to `plan_path`'s directory, before any load.
pub fn scenario(
    plan: &Plan,
    plan_path: &Path,
    opts: &ScenarioOptions,
) -> Result<Scenario, FromPlanError> {
    let name = &opts.scenario;
    let sc = find_scenario(plan, plan_path, name)?;
    let targets = seawall_plan::targets::decompose(plan);
    let absolute = only_absolute_rates(sc, opts);
    let entry_ids = entry_ids(plan, sc, name)?;
    let entries = entry_specs(plan, sc, &targets, &entry_ids);
    let journeys = journey_specs(plan, sc, &targets, &entry_ids, absolute)?;
    let base: f64 = journeys.iter().map(|j| j.rate).sum();
    if base <= 0.0 {
        return Err(bad(format!(
            "scenario `{name}`: the mix's journeys have no target rate (their goals decompose to 0 per second)"
        )));
    }
    let load = load_profile(sc, opts, base)?;
    let data = data_sets(sc, plan_path, name)?;
    let tag = test_tag(sc, opts);
    Ok(Scenario {
        name: name.clone(),
        base_url: opts.base_url.clone(),
        entries,
        journeys,
        load,
        arrivals: match sc.arrival {
            Arrival::Constant => Arrivals::Constant,
            Arrival::Poisson => Arrivals::Poisson { seed: opts.seed },
        },
        guards: GuardSpec {
            error_rate: sc.guards.error_rate,
            p99_ms: sc.guards.p99_ms,
            window: seconds(sc.guards.window_seconds, "guards.window")?,
        },
        data,
        tag,
        untagged: opts.untagged,
        connections: opts.connections,
        timeout: opts.timeout,
        http: opts.http,
    })
}

/// The scenario named `name`, or what the plan offers instead.
fn find_scenario<'p>(
    plan: &'p Plan,
    plan_path: &Path,
    name: &str,
) -> Result<&'p Rehearsal, FromPlanError> {
    if let Some(sc) = plan.rehearsals.get(name) {
        return Ok(sc);
    }
    if plan.rehearsals.is_empty() {
        return Err(bad(format!(
            "the plan `{}` has no `rehearsals`; add a scenario (docs/plan-reference.md#rehearsals)",
            plan_path.display()
        )));
    }
    let names: Vec<&str> = plan.rehearsals.keys().map(String::as_str).collect();
    Err(bad(format!(
        "no scenario `{name}` in `{}`; its scenarios are: {}",
        plan_path.display(),
        names.join(", ")
    )))
}

/// Rates are a multiple of the targets unless only absolute rates are given.
fn only_absolute_rates(sc: &Rehearsal, opts: &ScenarioOptions) -> bool {
    let mut specs: Vec<&RateSpec> = sc.stages.iter().map(|s| &s.rate).collect();
    specs.extend(sc.rate.iter());
    opts.rate_multiple.is_none()
        && sc.search.is_none()
        && specs.iter().all(|s| matches!(s, RateSpec::PerSecond(_)))
}

/// The entries the mix's journeys reach, in plan order.
fn entry_ids<'p>(
    plan: &'p Plan,
    sc: &Rehearsal,
    name: &str,
) -> Result<Vec<&'p str>, FromPlanError> {
    let mut reached: Vec<&str> = Vec::new();
    for j in sc.mix.keys() {
        let journey = plan.traffic.journeys.get(j).ok_or_else(|| {
            bad(format!(
                "scenario `{name}`: journey `{j}` in `mix` is not in `traffic.journeys`"
            ))
        })?;
        reached.extend(journey.steps.iter().map(|s| s.entry.as_str()));
    }
    Ok(plan
        .entries
        .keys()
        .map(String::as_str)
        .filter(|id| reached.contains(id))
        .collect())
}

/// Each entry's target and SLO: its own, else the scenario's guards.
fn entry_specs(
    plan: &Plan,
    sc: &Rehearsal,
    targets: &Targets,
    entry_ids: &[&str],
) -> Vec<EntrySpec> {
    let guard_slo =
        (sc.guards.error_rate.is_some() || sc.guards.p99_ms.is_some()).then_some(SloSpec {
            p99_ms: sc.guards.p99_ms,
            error_rate: sc.guards.error_rate,
        });
    entry_ids
        .iter()
        .map(|id| {
            let own = plan
                .entries
                .get(*id)
                .and_then(|e| e.slo)
                .filter(|s| s.p99_ms.is_some() || s.error_rate.is_some())
                .map(|s| SloSpec {
                    p99_ms: s.p99_ms,
                    error_rate: s.error_rate,
                });
            let (slo, source) = match (own, guard_slo) {
                (Some(s), _) => (Some(s), "entry"),
                (None, Some(g)) => (Some(g), "guards"),
                (None, None) => (None, "none"),
            };
            EntrySpec {
                id: (*id).to_owned(),
                target_qps: targets.entry(id).unwrap_or(0.0),
                slo,
                slo_source: source.to_owned(),
            }
        })
        .collect()
}

/// The mix's journeys in mix order, each at its rate at multiple 1.
fn journey_specs(
    plan: &Plan,
    sc: &Rehearsal,
    targets: &Targets,
    entry_ids: &[&str],
    absolute: bool,
) -> Result<Vec<JourneySpec>, FromPlanError> {
    let weight_sum: f64 = sc.mix.values().sum();
    let mut journeys = Vec::with_capacity(sc.mix.len());
    for (j, weight) in &sc.mix {
        let Some(journey) = plan.traffic.journeys.get(j.as_str()) else {
            continue; // `entry_ids` refused it already
        };
        let rate = if absolute {
            weight / weight_sum
        } else {
            targets
                .journeys
                .iter()
                .find(|t| &t.id == j)
                .and_then(|t| t.steps.first())
                .map_or(0.0, |s| s.rate)
        };
        let mut steps = Vec::with_capacity(journey.steps.len());
        for (i, s) in journey.steps.iter().enumerate() {
            let entry = plan.entries.get(&s.entry).ok_or_else(|| {
                bad(format!(
                    "journey `{j}`, step {}: unknown entry `{}`",
                    i + 1,
                    s.entry
                ))
            })?;
            let path = s.path.clone().or_else(|| entry.path.clone()).ok_or_else(|| {
                bad(format!(
                    "journey `{j}`, step {} (`{}`): neither the step nor the entry has a `path`; add `path: /…` to entry `{}`",
                    i + 1,
                    s.entry,
                    s.entry
                ))
            })?;
            steps.push(StepSpec {
                entry: entry_ids
                    .iter()
                    .position(|id| *id == s.entry)
                    .unwrap_or_default(),
                method: entry.method_or_default().as_str().to_owned(),
                path,
                body: s.body.clone(),
                headers: s
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                conversion: s.conversion,
                calls: s.calls * entry.burst,
                think: seconds(s.think_seconds, "think_seconds")?,
                extract: s
                    .extract
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            });
        }
        journeys.push(JourneySpec {
            id: j.clone(),
            rate,
            steps,
        });
    }
    Ok(journeys)
}

/// Fixed (`--rate-multiple`, or the scenario's `rate`), search or stages;
/// `base` is the journeys' summed rate at multiple 1.
fn load_profile(
    sc: &Rehearsal,
    opts: &ScenarioOptions,
    base: f64,
) -> Result<LoadProfile, FromPlanError> {
    let name = &opts.scenario;
    let to_multiple = |r: &RateSpec| match r {
        RateSpec::TargetMultiple(x) => *x,
        RateSpec::PerSecond(per_s) => per_s / base,
    };
    if let Some(m) = opts.rate_multiple {
        let duration = opts
            .duration
            .or(sc
                .duration_seconds
                .and_then(|s| seconds(s, "duration").ok()))
            .ok_or_else(|| {
                bad(format!(
                    "scenario `{name}` has no `duration`; pass --duration"
                ))
            })?;
        return Ok(LoadProfile::Fixed {
            multiple: m,
            duration,
        });
    }
    if let Some(search) = &sc.search {
        if opts.duration.is_some() {
            return Err(bad(format!(
                "scenario `{name}` is a capacity search: its length follows search.step_duration and search.hold, not --duration (or pass --rate-multiple for a fixed run)"
            )));
        }
        return Ok(LoadProfile::Search(SearchSpec {
            start: search.start,
            step: search.step,
            max: search.max,
            step_duration: seconds(search.step_seconds, "search.step_duration")?,
            hold: seconds(search.hold_seconds, "search.hold")?,
            cooldown: seconds(search.cooldown_seconds, "search.cooldown")?,
        }));
    }
    if !sc.stages.is_empty() {
        if opts.duration.is_some() {
            return Err(bad(format!(
                "scenario `{name}` has stages: its length is the sum of theirs, not --duration (or pass --rate-multiple for a fixed run)"
            )));
        }
        let mut stages = Vec::with_capacity(sc.stages.len());
        for s in &sc.stages {
            stages.push((to_multiple(&s.rate), seconds(s.seconds, "stages.duration")?));
        }
        return Ok(LoadProfile::Stages(stages));
    }
    let Some(rate) = &sc.rate else {
        return Err(bad(format!(
            "scenario `{name}` has no `rate`, `stages` or `search`"
        )));
    };
    let duration = match opts.duration {
        Some(d) => d,
        None => match sc.duration_seconds {
            Some(s) => seconds(s, "duration")?,
            None => {
                return Err(bad(format!(
                    "scenario `{name}` has no `duration`; pass --duration"
                )));
            }
        },
    };
    Ok(LoadProfile::Fixed {
        multiple: to_multiple(rate),
        duration,
    })
}

/// The scenario's CSV data files, relative to the plan's directory.
fn data_sets(sc: &Rehearsal, plan_path: &Path, name: &str) -> Result<Vec<DataSet>, FromPlanError> {
    let dir = plan_path.parent().unwrap_or_else(|| Path::new("."));
    let mut data = Vec::with_capacity(sc.data.len());
    for (set, file) in &sc.data {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).map_err(|source| FromPlanError::DataFile {
            path: path.display().to_string(),
            scenario: name.to_owned(),
            set: set.clone(),
            source,
        })?;
        data.push(DataSet::parse_csv_bytes(
            set,
            &path.display().to_string(),
            &bytes,
        )?);
    }
    Ok(data)
}

/// The test tag (the scenario's header and baggage key), unless untagged.
fn test_tag(sc: &Rehearsal, opts: &ScenarioOptions) -> Option<TestTag> {
    (!opts.untagged).then(|| {
        let mut tag = match &opts.run_id {
            Some(id) => TestTag::new(id.clone()),
            None => TestTag::generate(),
        };
        tag.header.clone_from(&sc.tag.header);
        tag.baggage_key.clone_from(&sc.tag.baggage_key);
        tag
    })
}

/// A capacity search of one entry alone: one journey of one step at the
/// entry's target rate, constant arrivals, judged by the entry's SLO (or,
/// without one, 1 % errors and no latency bound), tagged as test traffic
/// with `tag`.
/// `seawall demo` searches each entry this way.
pub fn entry_scenario(
    plan: &Plan,
    target_qps: f64,
    entry_id: &str,
    base_url: &str,
    search: &SearchSpec,
    tag: TestTag,
) -> Result<Scenario, FromPlanError> {
    let entry = plan
        .entries
        .get(entry_id)
        .ok_or_else(|| bad("no such entry in the plan".into()))?;
    if target_qps <= 0.0 {
        return Err(bad(
            "its target is 0 QPS: no journey reaches it, so there is no rate to search from".into(),
        ));
    }
    let path = entry
        .path
        .as_deref()
        .ok_or_else(|| bad("the entry has no `path`".into()))?
        // Route parameters get a value the simulator accepts.
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                "1"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    let slo = entry
        .slo
        .filter(|s| s.p99_ms.is_some() || s.error_rate.is_some())
        .map(|s| SloSpec {
            p99_ms: s.p99_ms,
            error_rate: s.error_rate,
        });
    let (slo, slo_source) = match slo {
        Some(s) => (s, "entry"),
        None => (
            SloSpec {
                p99_ms: None,
                error_rate: Some(0.01),
            },
            "none",
        ),
    };
    Ok(Scenario {
        name: format!("capacity-{entry_id}"),
        base_url: base_url.to_owned(),
        entries: vec![EntrySpec {
            id: entry_id.to_owned(),
            target_qps,
            slo: Some(slo),
            slo_source: slo_source.to_owned(),
        }],
        journeys: vec![JourneySpec {
            id: entry_id.to_owned(),
            rate: target_qps,
            steps: vec![StepSpec {
                entry: 0,
                method: entry.method_or_default().as_str().to_owned(),
                path,
                body: None,
                headers: Vec::new(),
                conversion: 1.0,
                calls: 1.0,
                think: Duration::ZERO,
                extract: Vec::new(),
            }],
        }],
        load: LoadProfile::Search(search.clone()),
        arrivals: Arrivals::Constant,
        guards: GuardSpec {
            error_rate: None,
            p99_ms: None,
            window: Duration::from_secs(10),
        },
        data: Vec::new(),
        tag: Some(tag),
        untagged: false,
        connections: 512,
        timeout: Duration::from_secs(5),
        http: HttpVersion::Http1,
    })
}

fn seconds(s: f64, what: &str) -> Result<Duration, FromPlanError> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| bad(format!("{what}: {s} is not a duration in seconds")))
}
