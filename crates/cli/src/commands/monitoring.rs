//! `seawall plan monitoring --export …`: the event-day alerts as files for
//! teams on Prometheus, Alertmanager and Grafana (docs/monitoring.md#exports).
//! Generation is `seawall_monitor::export`'s; the figures' PromQL comes from
//! `seawall_scrape::templates` (the plan's query, else the sidecar default).
//! This verb only writes the files, each atomically.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use seawall_monitor::Config;
use seawall_monitor::export::{ALERTS_FILE, Model, SOURCES_FILE, TargetQueries};
use seawall_monitor::sample::TargetKind;
use seawall_plan::Plan;
use seawall_plan::capacity::Measured;
use seawall_scrape::templates::{Subject, plan_queries};

use crate::input;
use crate::output::{self, Format};

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Export {
    /// Recording and alerting rules (`seawall-sources.rules.yml`, `seawall-alerts.rules.yml`).
    PrometheusRules,
    /// `promtool test rules` cases: a fire and a no-fire case per alert.
    PromtoolTests,
    /// Grafana dashboard JSON plus its file-provisioning YAML.
    Grafana,
    /// Alertmanager configuration skeleton: routes by severity, inhibitions.
    Alertmanager,
}

/// Arguments of `plan monitoring`.
#[derive(Debug, Args)]
pub struct MonitoringArgs {
    /// Path of the plan (YAML).
    #[arg(value_name = "PLAN.yaml")]
    pub plan: PathBuf,
    /// What to generate.
    #[arg(long, value_enum)]
    pub export: Export,
    /// Directory to write the files into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Rehearsal results (`seawall.run/v1` JSON); measured capacities win over declared ones.
    #[arg(long, value_name = "run.json")]
    pub results: Option<PathBuf>,
    /// Rule evaluation interval in seconds (the scrape interval; burn windows must span four).
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    pub interval: u64,
}

/// The figures' PromQL for every entry, service and partner.
fn queries(plan: &Plan) -> anyhow::Result<Vec<TargetQueries>> {
    let ids = plan
        .entries
        .keys()
        .map(|id| (TargetKind::Entry, Subject::Entry, id))
        .chain(
            plan.services
                .keys()
                .map(|id| (TargetKind::Service, Subject::Service, id)),
        )
        .chain(
            plan.partners
                .keys()
                .map(|id| (TargetKind::Partner, Subject::Partner, id)),
        );
    ids.map(|(kind, subject, id)| {
        let q = plan_queries(plan, subject, id)
            .with_context(|| format!("the monitoring queries of `{id}`"))?;
        Ok(TargetQueries {
            kind,
            id: id.clone(),
            qps: q.qps,
            p99_ms: q.p99_ms,
            error_rate: q.error_rate,
        })
    })
    .collect()
}

/// Run the verb.
pub fn run(args: &MonitoringArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = input::load(&args.plan, Format::Table)? else {
        return Ok(super::invalid());
    };
    if args.interval == 0 {
        anyhow::bail!("--interval must be at least 1 second");
    }
    let measured = match &args.results {
        Some(path) => input::measured(path, &plan)?,
        None => Measured::default(),
    };
    let config = Config {
        scrape_interval_ms: args.interval.saturating_mul(1000),
        ..Config::default()
    };
    let model = Model::new(&plan, &measured, config);
    let files: Vec<(&str, String)> = match args.export {
        Export::PrometheusRules => vec![
            (SOURCES_FILE, model.sources_rules(&plan, &queries(&plan)?)?),
            (ALERTS_FILE, model.alert_rules()?),
        ],
        Export::PromtoolTests => vec![
            ("seawall-alerts.test.yml", model.promtool_tests()?),
            (ALERTS_FILE, model.alert_rules()?),
        ],
        Export::Grafana => {
            let (datasources, dashboards) = model.grafana_provisioning()?;
            vec![
                (
                    "seawall-dashboard.json",
                    model.grafana_dashboard(&plan.event.name)?,
                ),
                ("provisioning/datasources/seawall.yaml", datasources),
                ("provisioning/dashboards/seawall.yaml", dashboards),
            ]
        }
        Export::Alertmanager => vec![("alertmanager.yml", model.alertmanager()?)],
    };
    let mut written = String::new();
    for (name, text) in files {
        let path = args.out.join(name);
        write(&path, &text)?;
        written.push_str(&format!("wrote {}\n", path.display()));
    }
    output::emit(&written)?;
    Ok(ExitCode::SUCCESS)
}

/// Create the file's directory, then write it whole (temp file + rename).
fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory `{}`", dir.display()))?;
    }
    input::write_whole(path, text.as_bytes())
}
