//! `seawall rehearse PLAN.yaml --scenario NAME --base-url URL`: run one of
//! the plan's `rehearsals` with the `seawall-load` scenario runner.
//!
//! Flags to `seawall_load::from_plan::ScenarioOptions`; the plan scenario
//! becomes a [`seawall_load::Scenario`] in `seawall_load::from_plan` (the
//! rate formula of docs/rehearse.md, "Rates", lives there, shared with
//! `seawall demo`). This module runs it with a progress line on a terminal,
//! adds what only the plan knows to the result (services, capacity per
//! instance) and writes `--out`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use seawall_load::from_plan::ScenarioOptions;
use seawall_load::result::{Outcome, RunMode, RunResult};
use seawall_load::{HttpVersion, RehearseProgress, Scenario};
use seawall_plan::Plan;

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
    /// Run across N rehearsal agents (`seawall agent`) registered with
    /// `--control`: each takes every N-th arrival from an agreed start, the
    /// control plane merges their histograms and guards the merged view.
    #[arg(long, value_name = "N", requires_all = ["control", "token"], conflicts_with = "metrics_listen")]
    pub agents: Option<u32>,
    /// The control plane the agents follow (with --agents).
    #[arg(long, env = "SEAWALL_CONTROL", value_name = "URL")]
    pub control: Option<String>,
    /// API token for --control (admin, commander or ci).
    #[arg(
        long,
        env = "SEAWALL_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
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
    let runtime = super::load::runtime(None)?;
    let live = std::io::stderr().is_terminal();
    if let Some(agents) = args.agents {
        let result = runtime.block_on(across_agents(args, &scenario, agents))?;
        return finish(args, &plan, result);
    }
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
    finish(args, &plan, result?)
}

/// What the run gave, completed with what only the plan knows, written
/// and printed; the exit code (a `partial` run across agents is 1).
fn finish(args: &RehearseArgs, plan: &Plan, mut result: RunResult) -> anyhow::Result<ExitCode> {
    seawall_load::from_plan::complete(&mut result, plan, &args.plan.display().to_string());
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
    let partial = result
        .fleet
        .as_ref()
        .is_some_and(|f| f.status != "complete");
    Ok(match result.outcome {
        Outcome::Completed if !partial => ExitCode::SUCCESS,
        Outcome::Completed | Outcome::Aborted | Outcome::SloFailed => ExitCode::from(INVALID),
    })
}

/// Run `scenario` across `agents` agents of the control plane: start it,
/// wait for the merged result, abort every agent on Ctrl-C.
async fn across_agents(
    args: &RehearseArgs,
    scenario: &Scenario,
    agents: u32,
) -> anyhow::Result<RunResult> {
    let (Some(control), Some(token)) = (&args.control, &args.token) else {
        anyhow::bail!("--agents needs --control URL and --token");
    };
    let client = seawall_api::Client::new(control)
        .map_err(|e| anyhow::anyhow!("{e}; check --control"))?
        .with_token(token.trim())
        .with_timeout(Duration::from_secs(40));
    let start = seawall_api::fleet::StartFleetRun {
        scenario: serde_json::to_value(scenario)?,
        agents,
    };
    let run = client
        .start_fleet_run(&start)
        .await
        .context("the control plane did not start the run")?;
    eprintln!("run {} across {agents} agents", run.id);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut aborted = false;
    // Bounded: the control plane ends the run when every agent ended or
    // went silent (3 s without a word).
    loop {
        tokio::select! {
            r = client.fleet_run(&run.id, 10) => {
                let r = r.context("lost the run on the control plane")?;
                if let Some(result) = r.result {
                    return serde_json::from_value(result)
                        .context("the control plane's result is not a seawall.run/v1 document");
                }
            }
            _ = &mut ctrl_c, if !aborted => {
                aborted = true;
                eprintln!("stopping every agent of run {}", run.id);
                client
                    .abort_fleet_run(&run.id, "interrupted (Ctrl-C) by the operator")
                    .await
                    .context("the abort did not reach the control plane")?;
            }
        }
    }
}

/// The plan's scenario `args.scenario` as a load-engine scenario
/// (`seawall_load::from_plan::scenario`, shared with `seawall demo`).
pub fn build(plan: &Plan, plan_path: &Path, args: &RehearseArgs) -> anyhow::Result<Scenario> {
    let opts = ScenarioOptions {
        scenario: args.scenario.clone(),
        base_url: args.base_url.clone(),
        rate_multiple: args.rate_multiple,
        duration: args.duration,
        untagged: args.untagged,
        run_id: args.run_id.clone(),
        seed: args.seed,
        connections: args.connections,
        timeout: args.timeout,
        http: if args.http2 {
            HttpVersion::Http2
        } else {
            HttpVersion::Http1
        },
    };
    Ok(seawall_load::from_plan::scenario(plan, plan_path, &opts)?)
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
            match (e.knee_qps, e.lower_bound_qps) {
                (None, Some(lower)) => Cell::toned(
                    format!("≥ {} (generator-bound)", output::rate(lower)),
                    Tone::Warn,
                ),
                (knee, _) => output::opt(knee, output::rate).into(),
            },
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
            ("generator", Align::Left),
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
                match &st.generator {
                    Some(g) if g.bound => Cell::toned("limit", Tone::Warn),
                    Some(_) => Cell::from("ok"),
                    None => Cell::from("-"),
                },
            ]);
        }
        page.grid(steps);
        for st in &s.steps {
            if let Some(g) = st.generator.as_ref().filter(|g| g.bound) {
                page.line(format!(
                    "generator-bound at ×{:.3}: {}",
                    st.multiple,
                    g.reasons.join("; ")
                ));
            }
        }
        page.line(format!(
            "knee: {}  ({}); bottlenecks: {}",
            match (s.knee_multiple, s.lower_bound_multiple) {
                (None, Some(m)) => format!("≥ ×{m:.3}, generator-bound"),
                (knee, _) => output::opt(knee, |m| format!("×{m:.3}")),
            },
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
