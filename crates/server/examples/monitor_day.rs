//! A simulated event day of the control plane's monitor, for its memory:
//! the real tick (`service::monitoring::tick`: the built-in scrape over
//! HTTP, the evaluator, alert transitions and history written to a real
//! SQLite store) driven by a `ManualClock` every 5 simulated seconds for
//! `--hours` simulated hours (24: 17,280 ticks), with no sleeping.
//!
//! The source is a stand-in sidecar on 127.0.0.1 whose `/metrics` page has
//! a request counter (ok and 5xx) and a latency histogram for every entry
//! of a generated plan and every dependency edge (`caller->callee`, which
//! feed the services and partners), growing at a daily sine of traffic so
//! water levels cross their warn and critical levels and alerts fire and
//! resolve. Every simulated hour it prints the process' resident memory
//! (`VmRSS` of `/proc/self/status`) and the store's size; at the end the
//! start, peak and end figures and the growth over the last 12 hours.
//!
//! ```sh
//! cargo run --release -p seawall-server --example monitor_day -- \
//!     [--hours 24] [--entries 500] [--services 500]
//! ```
//!
//! `bench/monitor-memory.sh` runs it; results in `docs/benchmarks.md`
//! ("Monitoring: memory over a simulated day").

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use seawall_plan::generate::{Spec, yaml};
use seawall_server::service::monitoring::{self, MonitorOptions};
use seawall_server::{AppState, ManualClock};
use seawall_store::{NewEvent, NewPlanVersion, StoreSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Simulated seconds between ticks (the default scrape interval).
const TICK_S: i64 = 5;
/// 2026-09-30T00:00 in Asia/Shanghai (the generated plan's zone and day).
const START_MS: i64 = 1_759_161_600_000;
/// Histogram bounds (seconds) and the share of requests at or under each.
const BUCKETS: [(&str, f64); 6] = [
    ("0.05", 0.5),
    ("0.1", 0.8),
    ("0.25", 0.95),
    ("0.5", 0.99),
    ("1", 0.999),
    ("+Inf", 1.0),
];
/// Share of requests answered 5xx.
const ERRORS: f64 = 0.0005;

/// Command-line settings.
struct Args {
    hours: u32,
    entries: usize,
    services: usize,
}

fn args() -> Result<Args, String> {
    let mut out = Args {
        hours: 24,
        entries: 500,
        services: 500,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let n: usize = value
            .parse()
            .map_err(|_| format!("{flag} takes a whole number, not {value:?}"))?;
        match flag.as_str() {
            "--hours" => out.hours = u32::try_from(n).map_err(|e| e.to_string())?,
            "--entries" => out.entries = n,
            "--services" => out.services = n,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if out.hours == 0 || out.hours > 72 || out.entries == 0 || out.services == 0 {
        return Err("--hours must be 1 to 72, --entries and --services at least 1".into());
    }
    Ok(out)
}

/// The stand-in sidecar's counters: one per resource, at a base rate
/// times the time of day's shape.
///
/// The scrape rates counters over the real time between two scrapes (a
/// monotonic clock, as it must in a server), while the ticks come every few
/// milliseconds of real time: so the counters grow by the simulated rate
/// times the *real* time since the previous page, and the rate the scrape
/// computes is the simulated one.
struct Traffic {
    resources: Vec<(String, f64)>,
    /// Requests so far per resource (fractional: no rounding noise).
    totals: Vec<f64>,
    /// The traffic shape at the current simulated time.
    shape: f64,
    /// When the previous page was served.
    last: Option<Instant>,
}

impl Traffic {
    /// Move to simulated time `t_s` (seconds into the day): quiet at
    /// night, a peak at noon, 0.2× to 1.8× the base rates.
    fn at(&mut self, t_s: i64) {
        let day = std::f64::consts::TAU * (t_s as f64) / 86_400.0;
        self.shape = 1.0 - 0.8 * day.cos();
    }

    /// Grow the counters for the real time since the previous page.
    fn grow(&mut self) {
        let now = Instant::now();
        if let Some(last) = self.last {
            let dt = now.duration_since(last).as_secs_f64();
            for (total, (_, base)) in self.totals.iter_mut().zip(&self.resources) {
                *total += base * self.shape * dt;
            }
        }
        self.last = Some(now);
    }

    /// The `/metrics` page now.
    fn page(&self) -> String {
        let mut out = String::with_capacity(self.resources.len() * 600);
        out.push_str("# TYPE seawall_sidecar_requests_total counter\n");
        for ((name, _), total) in self.resources.iter().zip(&self.totals) {
            let errors = total * ERRORS;
            let _ = writeln!(
                out,
                "seawall_sidecar_requests_total{{resource=\"{name}\",result=\"ok\"}} {:.4}\n\
                 seawall_sidecar_requests_total{{resource=\"{name}\",result=\"upstream_5xx\"}} {errors:.4}",
                total - errors
            );
        }
        out.push_str("# TYPE seawall_sidecar_request_duration_seconds histogram\n");
        for ((name, _), total) in self.resources.iter().zip(&self.totals) {
            for (le, share) in BUCKETS {
                let _ = writeln!(
                    out,
                    "seawall_sidecar_request_duration_seconds_bucket{{resource=\"{name}\",le=\"{le}\"}} {:.4}",
                    total * share
                );
            }
            let _ = writeln!(
                out,
                "seawall_sidecar_request_duration_seconds_count{{resource=\"{name}\"}} {total:.4}"
            );
        }
        out
    }
}

/// Serve `traffic`'s page to every connection (one request each).
async fn stand_in(traffic: Arc<Mutex<Traffic>>) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let traffic = Arc::clone(&traffic);
            tokio::spawn(async move {
                let mut buf = vec![0_u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => seen.extend_from_slice(&buf[..k]),
                    }
                }
                let body = traffic
                    .lock()
                    .map(|mut t| {
                        t.grow();
                        t.page()
                    })
                    .unwrap_or_default();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes()).await;
                let _ = conn.write_all(body.as_bytes()).await;
            });
        }
    });
    Ok(addr)
}

/// This process' resident set and its peak, in KiB (`/proc/self/status`).
fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The SQLite database with its WAL, in bytes.
fn db_bytes(db: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            let mut p = db.as_os_str().to_owned();
            p.push(suffix);
            std::fs::metadata(p).ok().map(|m| m.len())
        })
        .sum()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("seawall.db");
    let store = seawall_store::open(&StoreSpec::Sqlite(db.clone())).await?;
    let clock = ManualClock::new(START_MS);
    let state = AppState::new(store, dir.path())
        .with_clock(clock.clock())
        .with_monitoring(MonitorOptions {
            scrape_interval: Duration::from_secs(TICK_S.unsigned_abs()),
            ..MonitorOptions::default()
        });

    // A generated plan on one layer of services (each entry on one), its
    // monitoring read from the stand-in rather than Prometheus.
    let spec = Spec {
        entries: args.entries,
        partners: (args.services / 100).max(1),
        layers: 2,
        ..Spec::sized(args.services, args.services)
    };
    let plan_text = yaml(&spec);
    let plan = seawall_plan::parse(&plan_text, "plan.yaml")
        .map_err(|d| format!("the generated plan does not parse: {d:?}"))?;
    let mut resources: BTreeSet<String> = plan.entries.keys().cloned().collect();
    for (caller, service) in &plan.services {
        for edge in &service.dependencies {
            resources.insert(format!("{caller}->{}", edge.to));
        }
    }
    // Base rates: each resource at 20–60 % of a nominal 100 qps, spread
    // deterministically.
    let resources: Vec<(String, f64)> = resources
        .into_iter()
        .enumerate()
        .map(|(i, r)| (r, 20.0 + (i * 37 % 41) as f64))
        .collect();
    let page_resources = resources.len();
    let traffic = Arc::new(Mutex::new(Traffic {
        totals: vec![0.0; resources.len()],
        resources,
        shape: 0.2,
        last: None,
    }));
    let target = stand_in(Arc::clone(&traffic)).await?;
    let text = plan_text.replace(
        "  prometheus: {url: \"http://127.0.0.1:9090\"}",
        &format!("  scrape: [\"{target}\"]"),
    );
    let ctx = state.ctx("bench");
    let event = state
        .store
        .create_event(
            &ctx,
            &NewEvent {
                slug: "day".into(),
                name: "A simulated day".into(),
            },
        )
        .await?;
    state
        .store
        .push_plan(
            &ctx,
            event.id,
            &NewPlanVersion {
                file_name: "plan.yaml".into(),
                text,
            },
        )
        .await?;
    let series_planned = plan.entries.len() + plan.services.len() + plan.partners.len();

    let ticks_per_hour = 3_600 / TICK_S;
    let hours = i64::from(args.hours);
    let (start_rss, _) = rss_kib();
    let started = Instant::now();
    println!(
        "plan: {} entries, {} services, {} partners ({series_planned} series); page: {page_resources} resources",
        plan.entries.len(),
        plan.services.len(),
        plan.partners.len()
    );
    println!("hour  ticks  rss_mib  peak_mib  db_mib  wall_s");
    println!(
        "{:>4}  {:>5}  {:>7.1}  {:>8.1}  {:>6.1}  {:>6.1}",
        0,
        0,
        mib(start_rss),
        mib(rss_kib().1),
        db_bytes(&db) as f64 / 1_048_576.0,
        0.0
    );
    let mut by_hour = vec![start_rss];
    let mut tick_max = Duration::ZERO;
    for tick in 1..=hours * ticks_per_hour {
        clock.advance(TICK_S * 1_000);
        if let Ok(mut t) = traffic.lock() {
            t.at(tick * TICK_S);
        }
        let one = Instant::now();
        monitoring::tick(&state, clock.now()).await?;
        tick_max = tick_max.max(one.elapsed());
        if tick % ticks_per_hour == 0 {
            let (rss, peak) = rss_kib();
            by_hour.push(rss);
            println!(
                "{:>4}  {:>5}  {:>7.1}  {:>8.1}  {:>6.1}  {:>6.1}",
                tick / ticks_per_hour,
                tick,
                mib(rss),
                mib(peak),
                db_bytes(&db) as f64 / 1_048_576.0,
                started.elapsed().as_secs_f64()
            );
        }
    }
    let (end_rss, peak_rss) = rss_kib();
    let half = by_hour.len() / 2;
    let growth = end_rss as f64 - by_hour[half] as f64;
    let series_stored: Vec<(String, String)> = {
        let mut out = Vec::new();
        for (kind, ids) in [
            (
                seawall_monitor::sample::TargetKind::Entry,
                plan.entries.keys().collect::<Vec<_>>(),
            ),
            (
                seawall_monitor::sample::TargetKind::Service,
                plan.services.keys().collect(),
            ),
            (
                seawall_monitor::sample::TargetKind::Partner,
                plan.partners.keys().collect(),
            ),
        ] {
            for id in ids {
                if !state.store.history(event.id, kind, id, 2).await?.is_empty() {
                    out.push((kind.as_str().to_owned(), id.clone()));
                }
            }
        }
        out
    };
    let stored = state.store.alert_transitions(event.id, 0, 10_000).await?;
    let transitions = stored.len();
    let mut by_rule: std::collections::BTreeMap<String, usize> = Default::default();
    for t in &stored {
        let rule = t
            .transition
            .rule
            .rsplit(':')
            .next()
            .unwrap_or("")
            .to_owned();
        *by_rule
            .entry(format!("{rule} {:?}", t.transition.change))
            .or_default() += 1;
    }
    println!("transitions by rule and change: {by_rule:?}");
    println!(
        "ticks {}; series with stored history {} of {series_planned}; alert transitions {}{}",
        hours * ticks_per_hour,
        series_stored.len(),
        transitions,
        if transitions >= 10_000 { "+" } else { "" }
    );
    println!(
        "rss start {:.1} MiB, peak {:.1} MiB, end {:.1} MiB; growth over the last {} hours {:+.1} MiB ({:+.1} %)",
        mib(start_rss),
        mib(peak_rss),
        mib(end_rss),
        by_hour.len() - 1 - half,
        growth / 1024.0,
        100.0 * growth / by_hour[half] as f64
    );
    let file = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!(
        "store {:.1} MiB ({:.1} MiB file + WAL); wall {:.0} s, slowest tick {:.1} ms",
        db_bytes(&db) as f64 / 1_048_576.0,
        file as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64(),
        tick_max.as_secs_f64() * 1000.0
    );
    Ok(())
}
