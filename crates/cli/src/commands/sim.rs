//! `seawall sim`: the plan's simulated system on loopback, for demos,
//! drills and end-to-end tests. Thin glue over `seawall-sim`: flags →
//! `SimOptions`, print where each service and partner listens and the
//! ground truth, run until SIGTERM or ctrl-c, then shut down.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use seawall_sim::{MAX_SCALE, NodeKind, Sim, SimOptions, Truth};

use crate::input;
use crate::output::{self, Align, Cell, Format, Grid, Page, Tone, opt, rate};

/// Arguments of `seawall sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Path of the plan (YAML).
    #[arg(value_name = "PLAN.yaml")]
    plan: PathBuf,
    /// Address of the first server: services, then partners, in plan order,
    /// then the gateway (every entry at one address) get consecutive ports
    /// from it; port 0 gives each an ephemeral port.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen_base: SocketAddr,
    /// Seed of the random draws (latency jitter, `fail` sampling).
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Multiply every capacity and partner quota, e.g. 0.05 so a
    /// 10,000-QPS service fits a laptop; in (0, 1000].
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = scale)]
    scale: f64,
    /// Format of the startup report (json: the ground truth, as `GET /_sim/truth`).
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// `--scale`: a number in (0, 1000].
fn scale(text: &str) -> Result<f64, String> {
    let x: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number; use e.g. 0.05"))?;
    if x > 0.0 && x <= MAX_SCALE {
        Ok(x)
    } else {
        Err(format!("{text} is not in (0, {MAX_SCALE}]; use e.g. 0.05"))
    }
}

/// Run the verb: serve until SIGTERM or ctrl-c.
pub fn run(args: &SimArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = input::load(&args.plan, args.format)? else {
        return Ok(super::invalid());
    };
    let opts = SimOptions {
        seed: args.seed,
        scale: args.scale,
        listen_base: Some(args.listen_base),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let sim = Sim::start(&plan, opts).await?;
        match args.format {
            Format::Json => output::emit_json(sim.truth())?,
            format => output::emit_page(&page(sim.truth()), format)?,
        }
        eprintln!("seawall sim: running; ctrl-c stops");
        seawall_sidecar::shutdown_signal().await;
        eprintln!("seawall sim: stopping");
        sim.shutdown().await;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The startup report: nodes, entries, control endpoints.
fn page(truth: &Truth) -> Page {
    let mut page = Page::new();
    page.heading(format!(
        "Simulated services and partners (scale {}, seed {})",
        truth.scale, truth.seed
    ));
    let mut nodes = Grid::new(&[
        ("id", Align::Left),
        ("kind", Align::Left),
        ("address", Align::Left),
        ("capacity qps", Align::Right),
        ("latency ms", Align::Right),
        ("queue limit ms", Align::Right),
        ("test traffic", Align::Left),
    ]);
    for n in &truth.nodes {
        let kind = match n.kind {
            NodeKind::Service => "service",
            NodeKind::Partner => "partner",
        };
        let test = match n.shadow_safe {
            Some(true) => Cell::toned("shadow", Tone::Good),
            Some(false) => Cell::toned("leaks (not shadow_safe)", Tone::Bad),
            None => Cell::from("shadow store"),
        };
        nodes.row(vec![
            Cell::from(n.id.as_str()),
            Cell::from(kind),
            Cell::from(n.addr.to_string()),
            Cell::from(n.capacity_qps.map_or_else(|| "unlimited".to_owned(), rate)),
            Cell::from(rate(n.latency_ms)),
            Cell::from(rate(n.queue_limit_ms)),
            test,
        ]);
    }
    page.grid(nodes);
    page.line(format!(
        "Gateway: http://{} answers every entry (e.g. seawall rehearse --base-url http://{})",
        truth.gateway, truth.gateway
    ));
    page.heading("Entries: ground truth (each loaded alone)");
    let mut entries = Grid::new(&[
        ("entry", Align::Left),
        ("method", Align::Left),
        ("url", Align::Left),
        ("knee qps", Align::Right),
        ("bottleneck", Align::Left),
        ("calls at bottleneck", Align::Right),
    ]);
    for e in &truth.entries {
        entries.row(vec![
            Cell::from(e.id.as_str()),
            Cell::from(e.method.as_str()),
            Cell::from(e.url.as_deref().unwrap_or("(no path: not served)")),
            Cell::from(opt(e.knee_qps, rate)),
            Cell::from(e.bottleneck.as_deref().unwrap_or(output::DASH)),
            Cell::from(opt(e.bottleneck_calls, rate)),
        ]);
    }
    page.grid(entries);
    page.line(format!(
        "Control (on every server): GET http://{}/_sim/truth, GET /_sim/counters, \
         PUT /_sim/fault {{\"target\": …, \"fault\": {{\"kind\": \"slow\", \"ms\": 300}}}}, \
         POST /_sim/reset (docs/sim.md)",
        truth.gateway
    ));
    page
}
