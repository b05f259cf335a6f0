//! `seawall demo [--plan PLAN.yaml]`: Seawall's whole loop on this machine
//! in one command (`seawall-demo`): control plane and war-room UI, the
//! plan's simulated system, a guard sidecar per entry service, a capacity
//! search per entry, results uploaded, guard rules derived from them. It
//! prints each step, then the UI's address and a token, and runs until
//! ctrl-c. The embedded parts' log lines go to `demo.log` in the data
//! directory (named at the end of the summary), or to stderr with -v: the
//! narrative stays readable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use seawall_demo::{Options, Step};

use crate::output::{self, Align, Cell, Format, Grid, Page, Tone};

/// The flagship plan, built in so `seawall demo` works from any directory.
const CARNIVAL: &str = include_str!("../../../../examples/carnival/plan.yaml");

/// Arguments of `seawall demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// The plan to bring to life [default: the built-in carnival plan,
    /// examples/carnival/plan.yaml].
    #[arg(long, value_name = "PLAN.yaml")]
    plan: Option<PathBuf>,
    /// Scale the plan to this machine: every rate and capacity × F
    /// (`seawall plan scale`); water levels stay those of the plan
    /// [default: calibrated — the largest factor, at most 0.04, at which
    /// the top of every entry's search fits what this machine drives,
    /// measured in a few seconds first].
    #[arg(long, value_name = "F")]
    factor: Option<f64>,
    /// Control plane and UI address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:7878")]
    listen: SocketAddr,
    /// Data directory (SQLite database, admin token) [default: a new
    /// temporary directory, removed on exit].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Seed of the simulated system.
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Rehearse only these entries (comma-separated ids) [default: every
    /// entry of the plan].
    #[arg(long, value_name = "ID,…", value_delimiter = ',')]
    entries: Option<Vec<String>>,
    /// Length of the compressed event day after the rehearsal, in minutes
    /// (fractions allowed); 0 skips the day.
    #[arg(long, value_name = "N", default_value_t = seawall_demo::day::DEFAULT_DAY_MINUTES)]
    day_minutes: f64,
    /// Stop after the review instead of running until ctrl-c (for scripts
    /// and tests).
    #[arg(long)]
    exit: bool,
}

/// Run the verb: 0 after ctrl-c (or at once with --exit), 1 when the plan
/// is invalid, 2 when a part cannot start.
pub fn run(args: &DemoArgs, logging: &crate::logs::Logging) -> anyhow::Result<ExitCode> {
    let (text, file) = match &args.plan {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read plan file `{}`", path.display()))?,
            path.display().to_string(),
        ),
        None => (
            CARNIVAL.to_owned(),
            "examples/carnival/plan.yaml".to_owned(),
        ),
    };
    if let Err(d) = seawall_plan::parse(&text, &file) {
        crate::input::report(&text, &file, &d.0);
        return Ok(ExitCode::from(super::INVALID));
    }
    let (data_dir, temporary) = match &args.data_dir {
        Some(dir) => (dir.clone(), false),
        None => {
            let dir = std::env::temp_dir().join(format!(
                "seawall-demo-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis())
            ));
            (dir, true)
        }
    };
    let log_file = if logging.verbose > 0 {
        // -v: info on stderr, -vv debug, -vvv trace.
        logging.to_stderr(tracing_subscriber::filter::LevelFilter::WARN);
        None
    } else {
        let path = data_dir.join(LOG_FILE);
        let opened = make_private_dir(&data_dir)
            .and_then(|()| logging.to_file(tracing_subscriber::filter::LevelFilter::INFO, &path));
        if let Err(e) = opened {
            eprintln!("seawall demo: cannot write logs to {}: {e}", path.display());
            return Ok(ExitCode::from(super::USAGE));
        }
        Some(path)
    };
    if !(args.day_minutes.is_finite() && (0.0..=24.0 * 60.0).contains(&args.day_minutes)) {
        eprintln!(
            "seawall demo: --day-minutes {} is not a length; give minutes between 0 (no event day) and 1440",
            args.day_minutes
        );
        return Ok(ExitCode::from(super::USAGE));
    }
    let mut opts = Options::new(text, file, data_dir.clone());
    match args.factor {
        Some(f) => opts.factor = f,
        None => opts.calibrate = true,
    }
    opts.listen = args.listen;
    opts.seed = args.seed;
    if let Some(only) = &args.entries {
        let plan = seawall_plan::parse(&opts.plan_text, &opts.plan_file).ok();
        if let Some(unknown) = only.iter().find(|id| {
            plan.as_ref()
                .is_some_and(|p| !p.entries.contains_key(id.as_str()))
        }) {
            eprintln!(
                "seawall demo: --entries: `{unknown}` is not an entry of the plan; its entries are: {}",
                plan.map(|p| p.entries.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            );
            return Ok(ExitCode::from(super::USAGE));
        }
        opts.only = Some(only.clone());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let started = Instant::now();
    let result = runtime.block_on(async {
        let mut demo = seawall_demo::start(&opts, |step| {
            eprintln!(
                "[{:>5.1}s] {}",
                started.elapsed().as_secs_f64(),
                describe(step)
            );
        })
        .await?;
        output::emit_page(&summary(&demo), Format::Table)?;
        println!();
        println!("War-room UI: {}", demo.ui_url());
        println!("Token:       {}", demo.admin_token);
        println!("             (paste it on the login page; also the API's bearer token)");
        println!("Data dir:    {}", data_dir.display());
        if let Some(path) = &log_file {
            println!("Logs:        {} (-v: on stderr instead)", path.display());
        }
        if args.day_minutes > 0.0 {
            let day = seawall_demo::day::DayOptions {
                minutes: args.day_minutes,
                ..seawall_demo::day::DayOptions::default()
            };
            eprintln!(
                "[{:>5.1}s] the event day: {} minutes of peak, nobody touching anything",
                started.elapsed().as_secs_f64(),
                args.day_minutes
            );
            let report = demo
                .live_day(&day, |line| {
                    eprintln!("[{:>5.1}s] {line}", started.elapsed().as_secs_f64());
                })
                .await?;
            println!();
            output::emit_page(&day_summary(&report), Format::Table)?;
            println!();
            // A temporary data dir goes on exit; the review stays, beside it.
            let review = if temporary {
                let kept = std::env::temp_dir()
                    .join(format!("seawall-demo-review-{}.html", std::process::id()));
                std::fs::copy(&report.review_path, &kept)
                    .with_context(|| format!("cannot keep the review as {}", kept.display()))?;
                kept
            } else {
                report.review_path.clone()
            };
            println!("Review:      {}", review.display());
            println!("             {} (while the demo runs)", report.review_url);
        }
        if !args.exit {
            eprintln!(
                "seawall demo: ready in {:.0} s; running until ctrl-c",
                started.elapsed().as_secs_f64()
            );
            seawall_sidecar::shutdown_signal().await;
        }
        eprintln!("seawall demo: stopping");
        demo.shutdown().await;
        anyhow::Ok(())
    });
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("seawall demo: {e:#}");
            Ok(ExitCode::from(super::USAGE))
        }
    }
}

/// The embedded parts' log file, in the data directory.
const LOG_FILE: &str = "demo.log";

/// The data directory, made private (0700) like the control plane makes it.
fn make_private_dir(path: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

fn describe(step: &Step) -> String {
    match step {
        Step::Calibrated {
            rate_rps,
            took,
            factor,
            out_of_reach,
        } => {
            let mut line = match rate_rps {
                Ok(rate) => format!(
                    "scaled by {factor}: this machine drives about {rate:.0} rps (measured in {:.1} s)",
                    took.as_secs_f64()
                ),
                Err(why) => format!("scaled by {factor}, as without calibration: {why}"),
            };
            for (entry, top) in out_of_reach {
                line.push_str(&format!(
                    "\n  {entry} is not within reach: its search goes up to {top:.0} QPS, more than this machine drives; its result will be a lower bound (generator-bound)"
                ));
            }
            line
        }
        Step::Scaled {
            factor,
            entries,
            services,
        } => {
            format!("plan scaled ×{factor} to this machine: {entries} entries, {services} services")
        }
        Step::ControlPlane { url } => format!("control plane and war-room UI on {url}"),
        Step::Sim { servers } => format!("simulated system up: {servers} services and partners"),
        Step::Sidecars { services } => format!(
            "guard sidecars in front of {}",
            services
                .iter()
                .map(|(s, a)| format!("{s} ({a})"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Step::Pushed { event, version } => {
            format!("event `{event}`: plan version {version} pushed")
        }
        Step::Searching { entry, index, of } => {
            format!("capacity search {index}/{of}: {entry} (tagged test traffic)")
        }
        Step::Searched(e) => format!(
            "  {}: knee {} (simulator's truth {}), run {} uploaded",
            e.entry,
            match (e.knee_qps, e.lower_bound_qps) {
                (Some(k), _) => format!("{k:.1} QPS"),
                (None, Some(k)) => format!("≥ {k:.1} QPS, generator-bound"),
                (None, None) => "none".to_owned(),
            },
            e.truth_qps.map_or("?".to_owned(), |k| format!("{k:.1}")),
            e.run_id
        ),
        Step::Derived { changed } => format!(
            "guard rules derived from the measured capacity; new versions for {} services, applied by the sidecars",
            changed.len()
        ),
    }
}

/// What the event day did: each emergency run and its figures, the pages.
fn day_summary(report: &seawall_demo::day::DayReport) -> Page {
    let mut page = Page::new();
    page.heading(format!(
        "The event day (plan version {}): {} messages to on-call, {} incidents",
        report.plan_version,
        report.pages.len(),
        report.incidents.len()
    ));
    let mut grid = Grid::new(&[
        ("emergency plan", Align::Left),
        ("run", Align::Left),
        ("took", Align::Right),
        ("expected", Align::Right),
        ("afterwards", Align::Left),
    ]);
    let took = |run: &Option<seawall_api::emergency::EmergencyRun>| {
        run.as_ref()
            .and_then(|r| r.duration_ms)
            .map_or("–".to_owned(), |d| format!("{:.1} s", d as f64 / 1000.0))
    };
    let expected = |run: &Option<seawall_api::emergency::EmergencyRun>| {
        run.as_ref()
            .and_then(|r| r.expected_minutes)
            .map_or("–".to_owned(), |m| format!("{m} min"))
    };
    let status = |run: &Option<seawall_api::emergency::EmergencyRun>| {
        run.as_ref().map_or("did not run".to_owned(), |r| {
            format!("{} {}", r.id, r.status)
        })
    };
    if let Some(r) = &report.rate_limit {
        grid.row(vec![
            Cell::from(r.plan.clone()),
            Cell::from(status(&r.run)),
            Cell::from(took(&r.run)),
            Cell::from(expected(&r.run)),
            Cell::from(format!(
                "{}: {} admitted of {:.0} offered, limit {:.1}",
                r.entry,
                r.admitted_qps
                    .map_or("?".to_owned(), |q| format!("{q:.1} QPS")),
                r.offered_qps,
                r.limit_qps
            )),
        ]);
    }
    if let Some(f) = &report.fallback {
        grid.row(vec![
            Cell::from(f.plan.clone()),
            Cell::from(status(&f.run)),
            Cell::from(took(&f.run)),
            Cell::from(expected(&f.run)),
            Cell::from(format!(
                "{}: error rate {} over {} requests (SLO {}); approved by {}",
                f.entries.join(", "),
                f.error_rate
                    .map_or("?".to_owned(), |e| format!("{:.3}%", e * 100.0)),
                f.requests,
                f.slo_error_rate
                    .map_or("–".to_owned(), |e| format!("{:.3}%", e * 100.0)),
                if f.approved_by.is_empty() {
                    "nobody".to_owned()
                } else {
                    f.approved_by.join(", ")
                }
            )),
        ]);
    }
    page.grid(grid);
    page
}

fn summary(demo: &seawall_demo::Demo) -> Page {
    let mut page = Page::new();
    page.heading(format!(
        "The loop on event `{}` (plan scaled ×{}): each entry's target, the knee the rehearsal measured, the simulator's truth",
        demo.event, demo.factor
    ));
    let mut grid = Grid::new(&[
        ("entry", Align::Left),
        ("service", Align::Left),
        ("target qps", Align::Right),
        ("knee qps", Align::Right),
        ("truth qps", Align::Right),
        ("off", Align::Right),
        ("sidecar", Align::Left),
    ]);
    for e in &demo.entries {
        let off = match (e.knee_qps, e.truth_qps) {
            (Some(k), Some(t)) if t > 0.0 => {
                let pct = (k / t - 1.0) * 100.0;
                let tone = if pct.abs() <= 5.0 {
                    Tone::Good
                } else {
                    Tone::Warn
                };
                Cell::toned(format!("{pct:+.1}%"), tone)
            }
            _ => Cell::from("–"),
        };
        grid.row(vec![
            Cell::from(e.entry.clone()),
            Cell::from(e.service.clone()),
            Cell::from(format!("{:.1}", e.target_qps)),
            match (e.knee_qps, e.lower_bound_qps) {
                (Some(k), _) => Cell::from(format!("{k:.1}")),
                (None, Some(k)) => Cell::toned(format!("≥ {k:.1} (generator-bound)"), Tone::Warn),
                (None, None) => Cell::from("–"),
            },
            Cell::from(e.truth_qps.map_or("–".to_owned(), |k| format!("{k:.1}"))),
            off,
            Cell::from(
                demo.sidecar(&e.service)
                    .map_or("–".to_owned(), |a| format!("http://{a}")),
            ),
        ]);
    }
    page.grid(grid);
    page
}
