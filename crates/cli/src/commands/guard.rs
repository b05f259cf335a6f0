//! `seawall plan guard`: print the guard rule set derived from the plan
//! (`seawall_guard::derive`), as YAML the guard and the sidecar read, or
//! JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use seawall_guard::derive::{self, Derived, LimitSource};
use seawall_plan::capacity::{self, Measured};
use seawall_plan::targets;

use crate::input;
use crate::output::{self, Format};

/// Output formats of `plan guard`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RulesFormat {
    /// The rules document as YAML, with a comment per derived limit.
    Yaml,
    /// The rules document as JSON.
    Json,
}

/// Arguments of `plan guard`.
#[derive(Debug, Args)]
pub struct GuardArgs {
    /// Path of the plan (YAML).
    #[arg(value_name = "PLAN.yaml")]
    pub plan: PathBuf,
    /// Rehearsal results (`seawall.run/v1` JSON); measured capacities win over declared ones.
    #[arg(long, value_name = "run.json")]
    pub results: Option<PathBuf>,
    /// Share of an entry's bottleneck capacity its limit allows, when the
    /// entry has no explicit `rate_limit` (0 < safety ≤ 1).
    #[arg(long, default_value_t = derive::DEFAULT_SAFETY, value_name = "FACTOR")]
    pub safety: f64,
    /// Only the rules one service's sidecars apply: its entries, its
    /// outgoing dependency edges and its gray releases (as the control
    /// plane distributes them).
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = RulesFormat::Yaml)]
    pub format: RulesFormat,
}

/// Run the verb.
pub fn run(args: &GuardArgs) -> anyhow::Result<ExitCode> {
    if !(args.safety > 0.0 && args.safety <= 1.0) {
        anyhow::bail!(
            "--safety {} is out of range: give a factor above 0 and at most 1 (default {})",
            args.safety,
            derive::DEFAULT_SAFETY
        );
    }
    let diag_format = match args.format {
        RulesFormat::Json => Format::Json,
        RulesFormat::Yaml => Format::Table,
    };
    let Some(plan) = input::load(&args.plan, diag_format)? else {
        return Ok(super::invalid());
    };
    let measured = match &args.results {
        Some(path) => input::measured(path, &plan)?,
        None => Measured::default(),
    };
    let table = capacity::table(&plan, &targets::decompose(&plan), &measured);
    let mut derived = derive::from_plan(&plan, &table, args.safety)
        .map_err(|e| anyhow::anyhow!("cannot derive guard rules: {e}"))?;
    if let Some(service) = &args.service {
        derived.rules = derive::for_service(&plan, &derived.rules, service)
            .map_err(|e| anyhow::anyhow!("--service {service}: {e}"))?;
        derived
            .limits
            .retain(|l| derived.rules.resources.iter().any(|r| r.name == l.entry));
    }
    match args.format {
        RulesFormat::Json => output::emit_json(&derived.rules)?,
        RulesFormat::Yaml => output::emit(&yaml(&derived, args, &measured)?)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The YAML document with a header comment naming its inputs and how each
/// entry's limit was found.
fn yaml(derived: &Derived, args: &GuardArgs, measured: &Measured) -> anyhow::Result<String> {
    let mut out = format!(
        "# Guard rules derived by `seawall plan guard` from {} (safety factor {}).\n",
        args.plan.display(),
        args.safety
    );
    if let Some(src) = &measured.source {
        out.push_str(&format!("# Measured capacities from {src}.\n"));
    }
    out.push_str("# Entry limits:\n");
    for l in &derived.limits {
        let line = match (l.source, l.qps, l.capacity_qps) {
            (LimitSource::RateLimit, Some(q), _) => {
                format!("{} QPS, the plan's rate_limit", output::rate(q))
            }
            (LimitSource::Capacity, Some(q), Some(c)) => format!(
                "{} QPS = ⌊capacity {} × {}⌋",
                output::rate(q),
                output::rate(c),
                args.safety
            ),
            _ => "none (no rate_limit, capacity unknown)".to_owned(),
        };
        out.push_str(&format!("#   {}: {line}\n", l.entry));
    }
    out.push_str(&serde_saphyr::to_string(&derived.rules)?);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}
