//! `seawall rehearse PLAN.yaml --scenario NAME --base-url URL`: run one of
//! the plan's `rehearsals` with the `seawall-load` scenario runner.
//!
//! This module is the only place that knows both the plan and the load
//! engine: it turns a plan scenario into a plan-independent
//! [`seawall_load::Scenario`] (journey rates from the target decomposition,
//! CSV files read relative to the plan, SLOs from the entries), runs it with
//! a progress line on a terminal, adds what only the plan knows to the
//! result (services, capacity per instance) and writes `--out`.
//!
//! Rate formula (docs/rehearse.md, "Rates"): with a multiple `x` of the
//! targets, journey `j` arrives at `x · r_j[first]` per second (its first
//! step's decomposed rate) and each step's calls are multiplied by its
//! entry's `burst`, so entry `e` receives
//! `x · burst(e) · Σ r_j[i] · calls[i] = x · target(e)` from the mixed
//! journeys. With only absolute rates `R` (journeys per second), journey
//! `j` arrives at `R · w_j / Σ w` from the mix weights.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use seawall_load::result::{Outcome, RunMode, RunResult, SloSpec};
use seawall_load::{
    Arrivals, DataSet, EntrySpec, GuardSpec, HttpVersion, JourneySpec, LoadProfile,
    RehearseProgress, Scenario, SearchSpec, StepSpec, TestTag,
};
use seawall_plan::Plan;
use seawall_plan::model::{Arrival, RateSpec};

use crate::commands::{INVALID, USAGE};
use crate::input;
use crate::output::{self, Align, Cell, Format, Grid, Page, Tone};

/// Arguments of `seawall rehearse`. Fields are public so other flags
/// (`--report`, `--metrics-listen`) can be added next to them.
#[derive(Debug, Args)]
pub struct RehearseArgs {
    /// Path of the plan (YAML).
    #[arg(value_name = "PLAN.yaml")]
    pub plan: PathBuf,
    /// Scenario id: a key under the plan's `rehearsals`.
    #[arg(long, short = 's', value_name = "NAME")]
    pub scenario: String,
    /// Where the system under test listens: `http://host[:port][/prefix]`;
    /// every step's path is appended to it.
    #[arg(long, value_name = "URL")]
    pub base_url: String,
    /// Write the result file (schema `seawall.run/v1`, docs/rehearse.md),
    /// also when a guard aborts the run. Written whole or not at all.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Send requests without the test tag (`x-seawall-test`, `baggage`).
    #[arg(long)]
    pub untagged: bool,
    /// Run id for the test tag [default: generated, `sw-<time>-<pid>`].
    #[arg(long, value_name = "ID", conflicts_with = "untagged")]
    pub run_id: Option<String>,
    /// Run at a fixed rate for this long instead of the scenario's
    /// `duration` (`30s`, `2m`; a bare number is seconds).
    #[arg(long, value_name = "DURATION", value_parser = input::duration)]
    pub duration: Option<Duration>,
    /// Run at this fixed multiple of the plan's targets (`1.2` or `1.2x`)
    /// instead of the scenario's rate, stages or search.
    #[arg(long, value_name = "X", value_parser = multiple)]
    pub rate_multiple: Option<f64>,
    /// Connection cap (HTTP/2: streams in flight); a step that finds every
    /// connection busy is dropped, never delayed.
    #[arg(long, short = 'c', value_name = "N", default_value_t = 256)]
    pub connections: usize,
    /// Per-request timeout, connect included.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = input::duration)]
    pub timeout: Duration,
    /// Seed of Poisson arrivals (same seed, same schedule).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Use HTTP/2 with prior knowledge (h2c) over one connection.
    #[arg(long)]
    pub http2: bool,
    /// Print the result (the `--out` document) as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Write a self-contained HTML report of the run (inline SVG charts:
    /// rate and p50/p99 per entry over time, entries, guard events); also
    /// when a guard aborts the run.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics while the run lasts
    /// (per entry: requests by outcome, dropped, achieved rate, latency
    /// histogram); port 0 picks a free one, printed on stderr.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Run the verb: exit 0 when the run completed with every SLO held, 1 when
/// a guard aborted it or an SLO broke, 2 on usage or input errors.
pub fn run(args: &RehearseArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = input::load(&args.plan, Format::Table)? else {
        return Ok(ExitCode::from(USAGE));
    };
    let scenario = build(&plan, &args.plan, args)?;
    for path in [&args.out, &args.report].into_iter().flatten() {
        input::writable(path)?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let live = std::io::stderr().is_terminal();
    let metrics =
        seawall_load::metrics::Metrics::new(scenario.tag.as_ref().map(|t| t.run_id.clone()));
    let result = runtime.block_on(async {
        let server = match args.metrics_listen {
            Some(addr) => {
                let listener = seawall_load::metrics::bind(addr).await?;
                eprintln!(
                    "metrics: http://{}/metrics",
                    listener.local_addr().unwrap_or(addr)
                );
                Some(metrics.serve(listener))
            }
            None => None,
        };
        let result = seawall_load::rehearse(&scenario, |p| {
            if server.is_some() {
                for (entry, progress) in &p.entries {
                    let numbers =
                        seawall_load::metrics::EntryMetrics::from_progress(progress, None);
                    metrics.set_entry(entry, numbers);
                }
            }
            if live {
                progress_line(p);
            }
        })
        .await;
        if let Some(server) = server {
            server.abort();
        }
        anyhow::Ok(result?)
    });
    if live {
        eprint!("\r\x1b[2K");
    }
    let mut result = result?;
    seawall_load::from_plan::complete(&mut result, &plan, &args.plan.display().to_string());
    if let Some(path) = &args.out {
        let mut json = serde_json::to_string_pretty(&result)?;
        json.push('\n');
        input::write_whole(path, json.as_bytes())?;
    }
    if let Some(path) = &args.report {
        let html = seawall_load::report::Report::from_run(&result).to_html();
        input::write_whole(path, html.as_bytes())?;
    }
    if args.json {
        output::emit_json(&result)?;
    } else {
        output::emit_page(&page(&result), Format::Table)?;
    }
    Ok(match result.outcome {
        Outcome::Completed => ExitCode::SUCCESS,
        Outcome::Aborted | Outcome::SloFailed => ExitCode::from(INVALID),
    })
}

/// The plan's scenario `args.scenario` as a load-engine scenario.
pub fn build(plan: &Plan, plan_path: &Path, args: &RehearseArgs) -> anyhow::Result<Scenario> {
    let name = &args.scenario;
    let Some(sc) = plan.rehearsals.get(name) else {
        if plan.rehearsals.is_empty() {
            bail!(
                "the plan `{}` has no `rehearsals`; add a scenario (docs/plan-reference.md#rehearsals)",
                plan_path.display()
            );
        }
        let names: Vec<&str> = plan.rehearsals.keys().map(String::as_str).collect();
        bail!(
            "no scenario `{name}` in `{}`; its scenarios are: {}",
            plan_path.display(),
            names.join(", ")
        );
    };
    let targets = seawall_plan::targets::decompose(plan);

    // Rates: a multiple of the targets unless only absolute rates are given.
    let mut specs: Vec<&RateSpec> = sc.stages.iter().map(|s| &s.rate).collect();
    specs.extend(sc.rate.iter());
    let absolute = args.rate_multiple.is_none()
        && sc.search.is_none()
        && specs.iter().all(|s| matches!(s, RateSpec::PerSecond(_)));
    let weight_sum: f64 = sc.mix.values().sum();

    // Entries in plan order, journeys in mix order.
    let mut entry_ids: Vec<&str> = Vec::new();
    for j in sc.mix.keys() {
        let journey = plan.traffic.journeys.get(j).ok_or_else(|| {
            anyhow!("scenario `{name}`: journey `{j}` in `mix` is not in `traffic.journeys`")
        })?;
        entry_ids.extend(journey.steps.iter().map(|s| s.entry.as_str()));
    }
    let entry_ids: Vec<&str> = plan
        .entries
        .keys()
        .map(String::as_str)
        .filter(|id| entry_ids.contains(id))
        .collect();
    let guard_slo =
        (sc.guards.error_rate.is_some() || sc.guards.p99_ms.is_some()).then_some(SloSpec {
            p99_ms: sc.guards.p99_ms,
            error_rate: sc.guards.error_rate,
        });
    let entries: Vec<EntrySpec> = entry_ids
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
        .collect();

    let mut journeys = Vec::with_capacity(sc.mix.len());
    for (j, weight) in &sc.mix {
        let journey = &plan.traffic.journeys[j.as_str()];
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
                anyhow!("journey `{j}`, step {}: unknown entry `{}`", i + 1, s.entry)
            })?;
            let path = s.path.clone().or_else(|| entry.path.clone()).ok_or_else(|| {
                anyhow!(
                    "journey `{j}`, step {} (`{}`): neither the step nor the entry has a `path`; add `path: /…` to entry `{}`",
                    i + 1,
                    s.entry,
                    s.entry
                )
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
    let base: f64 = journeys.iter().map(|j| j.rate).sum();
    if base <= 0.0 {
        bail!(
            "scenario `{name}`: the mix's journeys have no target rate (their goals decompose to 0 per second)"
        );
    }
    let to_multiple = |r: &RateSpec| match r {
        RateSpec::TargetMultiple(x) => *x,
        RateSpec::PerSecond(per_s) => per_s / base,
    };

    let load = if let Some(m) = args.rate_multiple {
        let duration = args
            .duration
            .or(sc
                .duration_seconds
                .and_then(|s| seconds(s, "duration").ok()))
            .ok_or_else(|| anyhow!("scenario `{name}` has no `duration`; pass --duration"))?;
        LoadProfile::Fixed {
            multiple: m,
            duration,
        }
    } else if let Some(search) = &sc.search {
        if args.duration.is_some() {
            bail!(
                "scenario `{name}` is a capacity search: its length follows search.step_duration and search.hold, not --duration (or pass --rate-multiple for a fixed run)"
            );
        }
        LoadProfile::Search(SearchSpec {
            start: search.start,
            step: search.step,
            max: search.max,
            step_duration: seconds(search.step_seconds, "search.step_duration")?,
            hold: seconds(search.hold_seconds, "search.hold")?,
            cooldown: seconds(search.cooldown_seconds, "search.cooldown")?,
        })
    } else if !sc.stages.is_empty() {
        if args.duration.is_some() {
            bail!(
                "scenario `{name}` has stages: its length is the sum of theirs, not --duration (or pass --rate-multiple for a fixed run)"
            );
        }
        let mut stages = Vec::with_capacity(sc.stages.len());
        for s in &sc.stages {
            stages.push((to_multiple(&s.rate), seconds(s.seconds, "stages.duration")?));
        }
        LoadProfile::Stages(stages)
    } else if let Some(rate) = &sc.rate {
        let duration = match args.duration {
            Some(d) => d,
            None => match sc.duration_seconds {
                Some(s) => seconds(s, "duration")?,
                None => bail!("scenario `{name}` has no `duration`; pass --duration"),
            },
        };
        LoadProfile::Fixed {
            multiple: to_multiple(rate),
            duration,
        }
    } else {
        bail!("scenario `{name}` has no `rate`, `stages` or `search`");
    };

    // CSV data files, relative to the plan's directory, read before any load.
    let dir = plan_path.parent().unwrap_or_else(|| Path::new("."));
    let mut data = Vec::with_capacity(sc.data.len());
    for (set, file) in &sc.data {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read data file `{}` (rehearsals.{name}.data.{set})",
                path.display()
            )
        })?;
        data.push(DataSet::parse_csv(set, &path.display().to_string(), &text)?);
    }

    let tag = (!args.untagged).then(|| {
        let mut tag = match &args.run_id {
            Some(id) => TestTag::new(id.clone()),
            None => TestTag::generate(),
        };
        tag.header.clone_from(&sc.tag.header);
        tag.baggage_key.clone_from(&sc.tag.baggage_key);
        tag
    });

    Ok(Scenario {
        name: name.clone(),
        base_url: args.base_url.clone(),
        entries,
        journeys,
        load,
        arrivals: match sc.arrival {
            Arrival::Constant => Arrivals::Constant,
            Arrival::Poisson => Arrivals::Poisson { seed: args.seed },
        },
        guards: GuardSpec {
            error_rate: sc.guards.error_rate,
            p99_ms: sc.guards.p99_ms,
            window: seconds(sc.guards.window_seconds, "guards.window")?,
        },
        data,
        tag,
        untagged: args.untagged,
        connections: args.connections,
        timeout: args.timeout,
        http: if args.http2 {
            HttpVersion::Http2
        } else {
            HttpVersion::Http1
        },
    })
}

fn seconds(s: f64, what: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| anyhow!("{what}: {s} is not a duration in seconds"))
}

/// `1.2` or `1.2x`, > 0.
fn multiple(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let t = t.strip_suffix(['x', 'X']).unwrap_or(t);
    match t.parse::<f64>() {
        Ok(x) if x > 0.0 && x.is_finite() => Ok(x),
        _ => Err(format!(
            "`{text}` is not a positive multiple like 1.2 or 1.2x"
        )),
    }
}

fn progress_line(p: &RehearseProgress) {
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r\x1b[2K{:>4}s  {}  ×{:.2}  {} rps  p99 {:.1} ms  errors {}  dropped {}",
        p.elapsed.as_secs(),
        p.phase,
        p.multiple,
        output::rate(p.last_second as f64),
        p.p99_ms,
        p.errors,
        p.dropped,
    );
    let _ = err.flush();
}

fn page(r: &RunResult) -> Page {
    let mut page = Page::new();
    page.heading(format!("Rehearse: {} → {}", r.scenario, r.base_url));
    page.line(format!(
        "run id: {}   mode: {}   arrivals: {}   duration: {:.1} s",
        r.run_id.as_deref().unwrap_or("(untagged)"),
        match r.mode {
            RunMode::Fixed => "fixed rate",
            RunMode::Stages => "stages",
            RunMode::Search => "capacity search",
        },
        r.arrivals,
        r.duration_s
    ));
    page.line(match (&r.outcome, &r.abort) {
        (Outcome::Aborted, Some(a)) => format!("ABORTED: {}", a.message),
        (Outcome::SloFailed, _) => "SLO FAILED: an entry broke its SLO".to_owned(),
        _ => "completed".to_owned(),
    });
    let mut grid = Grid::new(&[
        ("entry", Align::Left),
        ("target qps", Align::Right),
        ("intended", Align::Right),
        ("achieved", Align::Right),
        ("requests", Align::Right),
        ("errors", Align::Right),
        ("dropped", Align::Right),
        ("p50 ms", Align::Right),
        ("p99 ms", Align::Right),
        ("SLO", Align::Left),
        ("knee qps", Align::Right),
    ]);
    let tone = |n: u64| if n > 0 { Tone::Bad } else { Tone::Plain };
    for e in &r.entries {
        let slo = match e.slo_held {
            Some(true) => Cell::toned("held", Tone::Good),
            Some(false) => Cell::toned("broken", Tone::Bad),
            None => Cell::from("-"),
        };
        grid.row(vec![
            e.id.clone().into(),
            output::rate(e.target_qps).into(),
            output::rate(e.intended_qps).into(),
            output::rate(e.achieved_rps).into(),
            e.requests.to_string().into(),
            Cell::toned(e.errors.total.to_string(), tone(e.errors.total)),
            Cell::toned(e.dropped.to_string(), tone(e.dropped)),
            format!("{:.2}", e.latency_ms.p50).into(),
            format!("{:.2}", e.latency_ms.p99).into(),
            slo,
            output::opt(e.knee_qps, output::rate).into(),
        ]);
    }
    page.grid(grid);
    if let Some(s) = &r.search {
        page.heading("Capacity search");
        let mut steps = Grid::new(&[
            ("step", Align::Left),
            ("multiple", Align::Right),
            ("seconds", Align::Right),
            ("held", Align::Left),
        ]);
        for st in &s.steps {
            steps.row(vec![
                st.kind.clone().into(),
                format!("×{:.3}", st.multiple).into(),
                format!("{:.1}", st.duration_s).into(),
                if st.held {
                    Cell::toned("yes", Tone::Good)
                } else {
                    Cell::toned("no", Tone::Bad)
                },
            ]);
        }
        page.grid(steps);
        page.line(format!(
            "knee: {}  ({}); bottlenecks: {}",
            output::opt(s.knee_multiple, |m| format!("×{m:.3}")),
            s.stopped,
            if s.bottlenecks.is_empty() {
                "none".to_owned()
            } else {
                s.bottlenecks.join(", ")
            }
        ));
        for svc in &r.services {
            page.line(format!(
                "service {}: {} qps at the knee over {} instances = {} per instance",
                svc.id,
                output::rate(svc.knee_qps),
                svc.instances,
                output::rate(svc.capacity_per_instance)
            ));
        }
    }
    if !r.guard_events.is_empty() {
        page.heading("Guard events");
        for g in &r.guard_events {
            page.line(g.message.clone());
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_multiples() {
        assert_eq!(multiple("1.2x"), Ok(1.2));
        assert_eq!(multiple("0.5"), Ok(0.5));
        assert!(multiple("-1").is_err());
        assert!(multiple("x").is_err());
    }
}
