//! `seawall plan check`: validate a plan and summarise it.

use std::process::ExitCode;

use serde::Serialize;

use crate::PlanArgs;
use crate::input;
use crate::output::{self, Format};

/// How many of each thing the plan declares.
#[derive(Debug, Serialize)]
struct Counts {
    goals: usize,
    journeys: usize,
    entries: usize,
    services: usize,
    partners: usize,
    emergency_plans: usize,
}

/// `{"valid": true, "event": ..., "counts": {...}}`.
#[derive(Debug, Serialize)]
struct Summary<'a> {
    valid: bool,
    event: &'a str,
    counts: Counts,
}

/// Run the verb.
pub fn run(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let Some(plan) = input::load(&args.plan, args.format)? else {
        return Ok(super::invalid());
    };
    let counts = Counts {
        goals: plan.goals.len(),
        journeys: plan.traffic.journeys.len(),
        entries: plan.entries.len(),
        services: plan.services.len(),
        partners: plan.partners.len(),
        emergency_plans: plan.emergency_plans.len(),
    };
    if args.format == Format::Json {
        output::emit_json(&Summary {
            valid: true,
            event: &plan.event.name,
            counts,
        })?;
    } else {
        output::emit(&format!(
            "{}: valid plan for \"{}\": {}, {}, {}, {}, {}, {}\n",
            args.plan.display(),
            plan.event.name,
            plural(counts.goals, "goal", "goals"),
            plural(counts.journeys, "journey", "journeys"),
            plural(counts.entries, "entry", "entries"),
            plural(counts.services, "service", "services"),
            plural(counts.partners, "partner", "partners"),
            plural(counts.emergency_plans, "emergency plan", "emergency plans"),
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `1 goal`, `3 goals`.
pub fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
