//! `seawall load URL`: an ad-hoc load test of one URL. Thin glue over
//! `seawall-load`: flags → `LoadConfig`, a live progress line on a terminal,
//! the summary as a table or JSON.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use seawall_load::metrics::Metrics;
use seawall_load::report::Report;
use seawall_load::{Arrivals, HttpVersion, LoadConfig, Progress, RunResult, Summary, TestTag};

use crate::input::{duration, writable, write_whole};
use crate::output::{self, Align, Cell, Format, Grid, Page, Tone};

/// Arguments of `seawall load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Target URL (`http://host[:port]/path?query`).
    #[arg(value_name = "URL")]
    url: String,
    /// Open model: intended requests per second, sent on schedule whether or
    /// not the server keeps up. Omit for a closed loop: `-c` connections
    /// sending back to back as fast as the server answers.
    #[arg(long, short = 'r', value_name = "RPS")]
    rate: Option<f64>,
    /// How long to issue requests: `10s`, `500ms`, `2m`, `1h` (a bare number is seconds).
    #[arg(long, short = 'd', value_name = "DURATION", default_value = "10s", value_parser = duration)]
    duration: Duration,
    /// Connection cap (HTTP/2: streams in flight). An open-model arrival that
    /// finds every connection busy is counted as dropped, never delayed.
    #[arg(long, short = 'c', value_name = "N", default_value_t = 50)]
    connections: usize,
    /// HTTP method.
    #[arg(long, short = 'm', default_value = "GET")]
    method: String,
    /// Extra request header `Name: value` (repeatable).
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = header)]
    headers: Vec<(String, String)>,
    /// Request body (a string; `@FILE` reads the file).
    #[arg(long, value_name = "BODY")]
    body: Option<String>,
    /// Per-request timeout, connect included.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = duration)]
    timeout: Duration,
    /// Open-model arrival spacing.
    #[arg(long, value_enum, default_value_t = Spacing::Constant)]
    arrivals: Spacing,
    /// Seed of the Poisson arrivals (same seed, same schedule).
    #[arg(long, value_name = "N", default_value_t = 1)]
    seed: u64,
    /// Use HTTP/2 with prior knowledge (h2c) over one connection.
    #[arg(long)]
    http2: bool,
    /// Run id for the test tag [default: generated, `sw-<time>-<pid>`].
    #[arg(long, value_name = "ID", conflicts_with = "untagged")]
    run_id: Option<String>,
    /// Send requests without the test tag (`x-seawall-test`, `baggage`).
    #[arg(long)]
    untagged: bool,
    /// Print the summary as one JSON object (schema in docs/rehearse.md).
    #[arg(long)]
    json: bool,
    /// Threads of the async runtime [default: the cores this process may
    /// use]. With 1 the whole run is one event loop on one thread, the
    /// cheapest per request (e.g. under `taskset -c 1`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,
    /// Write the result file (schema `seawall.run/v1`, docs/rehearse.md):
    /// one entry with per-second series, readable by `seawall plan
    /// capacity --results`. Written whole or not at all.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write a self-contained HTML report (inline SVG charts: rate and
    /// latency percentiles over time, latency histogram, totals); opens offline.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Serve Prometheus metrics (OpenMetrics text) at http://ADDR/metrics
    /// while the run lasts, e.g. `127.0.0.1:9464` (port 0 picks a free one;
    /// the address is printed on stderr).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
}

/// Open-model arrival spacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Spacing {
    /// Evenly spaced arrivals.
    Constant,
    /// Poisson arrivals (exponential gaps).
    Poisson,
}

/// Run the verb.
pub fn run(args: &LoadArgs) -> anyhow::Result<ExitCode> {
    let config = config(args)?;
    // Refuse unwritable outputs before any traffic is sent.
    for path in [&args.out, &args.report].into_iter().flatten() {
        writable(path)?;
    }
    let runtime = runtime(args.threads)?;
    let live = std::io::stderr().is_terminal();
    let metrics = Metrics::new(config.tag.as_ref().map(|t| t.run_id.clone()));
    let entry = format!("{} {}", config.method, path_of(&config.url));
    let started = unix_ms();
    let summary = runtime.block_on(async {
        let server = match args.metrics_listen {
            Some(addr) => {
                let listener = seawall_load::metrics::bind(addr).await?;
                let bound = listener.local_addr().unwrap_or(addr);
                eprintln!("metrics: http://{bound}/metrics");
                Some(metrics.serve(listener))
            }
            None => None,
        };
        let summary = seawall_load::run(&config, |p| {
            if server.is_some() {
                metrics.update(&entry, p, config.rate);
            }
            if live {
                progress_line(p);
            }
        })
        .await;
        if let Some(server) = server {
            server.abort();
        }
        anyhow::Ok(summary?)
    });
    if live {
        // Clear the progress line.
        eprint!("\r\x1b[2K");
    }
    let summary = summary?;
    let finished = unix_ms();
    if let Some(path) = &args.out {
        let result = RunResult::from_load(&config, &summary, started, finished);
        let mut json = serde_json::to_string_pretty(&result)?;
        json.push('\n');
        write_whole(path, json.as_bytes())?;
    }
    if let Some(path) = &args.report {
        let html = Report::from_summary(&args.url, &summary).to_html();
        write_whole(path, html.as_bytes())?;
    }
    if args.json {
        output::emit_json(&summary)?;
    } else {
        output::emit_page(&page(&args.url, &summary), Format::Table)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The path and query of `url` (`/` when it has none or does not parse;
/// the run itself reports a bad URL).
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    match rest.find(['/', '?']) {
        Some(i) if rest[i..].starts_with('/') => rest[i..].to_owned(),
        Some(i) => format!("/{}", &rest[i..]),
        None => "/".to_owned(),
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// One thread: a current-thread runtime (no work stealing, no cross-thread
/// wake-ups); more: the multi-threaded scheduler with that many workers.
/// `None`: one per core this process may use. `seawall rehearse` and
/// `seawall agent` take the same, so their CPU per request is `load`'s.
pub(crate) fn runtime(threads: Option<u16>) -> anyhow::Result<tokio::runtime::Runtime> {
    let threads = match threads {
        Some(n) => usize::from(n),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    seawall_load::runtime(threads).context("cannot start the async runtime")
}

fn config(args: &LoadArgs) -> anyhow::Result<LoadConfig> {
    let mut c = LoadConfig::new(&args.url);
    c.rate = args.rate;
    c.duration = args.duration;
    c.connections = args.connections;
    c.method.clone_from(&args.method);
    c.headers.clone_from(&args.headers);
    c.body = match args.body.as_deref() {
        Some(text) => Some(match text.strip_prefix('@') {
            Some(path) => {
                std::fs::read(path).with_context(|| format!("cannot read body file {path}"))?
            }
            None => text.as_bytes().to_vec(),
        }),
        None => None,
    };
    c.timeout = args.timeout;
    c.arrivals = match args.arrivals {
        Spacing::Constant => Arrivals::Constant,
        Spacing::Poisson => Arrivals::Poisson { seed: args.seed },
    };
    c.http = if args.http2 {
        HttpVersion::Http2
    } else {
        HttpVersion::Http1
    };
    c.untagged = args.untagged;
    if !args.untagged {
        c.tag = Some(match &args.run_id {
            Some(id) => TestTag::new(id.clone()),
            None => TestTag::generate(),
        });
    }
    Ok(c)
}

/// `Name: value`.
fn header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("`{text}` is not `Name: value`"))?;
    Ok((name.trim().to_string(), value.trim().to_string()))
}

fn progress_line(p: &Progress) {
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r\x1b[2K{:>4}s/{}s  {} rps  p50 {} ms  p99 {} ms  errors {}  dropped {}",
        p.elapsed.as_secs(),
        p.duration.as_secs(),
        output::rate(p.last.requests as f64),
        ms(p.last.latency_ms.p50),
        ms(p.last.latency_ms.p99),
        p.errors,
        p.dropped,
    );
    let _ = err.flush();
}

fn ms(x: f64) -> String {
    format!("{x:.2}")
}

fn page(url: &str, s: &Summary) -> Page {
    let mut page = Page::new();
    page.heading(format!("Load: {url}"));
    page.line(format!(
        "run id: {}",
        s.run_id.as_deref().unwrap_or("(untagged)")
    ));
    page.line(match s.target_rps {
        Some(rps) => format!("open model, target {} rps", output::rate(rps)),
        None => "closed loop".to_string(),
    });
    let mut totals = Grid::new(&[
        ("requests", Align::Right),
        ("ok", Align::Right),
        ("errors", Align::Right),
        ("dropped", Align::Right),
        ("duration s", Align::Right),
        ("achieved rps", Align::Right),
    ]);
    let tone = |n: u64| if n > 0 { Tone::Bad } else { Tone::Plain };
    totals.row(vec![
        s.requests.to_string().into(),
        s.ok.to_string().into(),
        Cell::toned(s.errors.total.to_string(), tone(s.errors.total)),
        Cell::toned(s.dropped.to_string(), tone(s.dropped)),
        format!("{:.2}", s.duration_s).into(),
        output::rate(s.achieved_rps).into(),
    ]);
    page.grid(totals);
    page.heading("Latency (ms, from the intended send time)");
    let mut latency = Grid::new(&[
        ("p50", Align::Right),
        ("p90", Align::Right),
        ("p99", Align::Right),
        ("p99.9", Align::Right),
        ("max", Align::Right),
        ("mean", Align::Right),
    ]);
    let l = &s.latency_ms;
    latency.row(
        [l.p50, l.p90, l.p99, l.p999, l.max, l.mean]
            .into_iter()
            .map(|x| ms(x).into())
            .collect(),
    );
    page.grid(latency);
    if s.errors.total > 0 {
        page.heading("Errors");
        let mut errors = Grid::new(&[("class", Align::Left), ("count", Align::Right)]);
        let e = &s.errors;
        for (class, n) in [
            ("connect", e.connect),
            ("timeout", e.timeout),
            ("io", e.io),
            ("status_4xx", e.status_4xx),
            ("status_5xx", e.status_5xx),
            ("body", e.body),
        ] {
            if n > 0 {
                errors.row(vec![class.into(), n.to_string().into()]);
            }
        }
        page.grid(errors);
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(path_of("http://h:1/a/b?c=d"), "/a/b?c=d");
        assert_eq!(path_of("http://h:1"), "/");
        assert_eq!(path_of("http://h?x=1"), "/?x=1");
    }

    #[test]
    fn headers() {
        assert_eq!(
            header("Authorization: Bearer a:b"),
            Ok(("Authorization".into(), "Bearer a:b".into()))
        );
        assert!(header("no-colon").is_err());
    }
}
