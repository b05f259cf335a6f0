//! Writes a large generated plan as YAML, and optionally times each phase
//! of `seawall plan readiness` on it.
//!
//! ```text
//! cargo run --release -p seawall-plan --example plan-gen -- 10000 50000 > big.yaml
//! cargo run --release -p seawall-plan --example plan-gen -- 10000 50000 --phases
//! ```
//!
//! The YAML comes from `seawall_plan::generate::yaml` with
//! `Spec::sized(services, edges)`: deterministic, so benchmark runs on
//! different machines read the same file (`bench/plan-readiness.sh`).

use std::process::ExitCode;
use std::time::Instant;

use seawall_plan::capacity::{self, Measured};
use seawall_plan::generate::{self, Spec};
use seawall_plan::{links, readiness, targets};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let phases = args.iter().any(|a| a == "--phases");
    let numbers: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let (services, edges) = match numbers.as_slice() {
        [] => (10_000, 50_000),
        [s, e] => (*s, *e),
        _ => {
            eprintln!("usage: plan-gen [SERVICES EDGES] [--phases]");
            return ExitCode::from(2);
        }
    };
    let text = generate::yaml(&Spec::sized(services, edges));
    if !phases {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    let t = Instant::now();
    let plan = match seawall_plan::parse(&text, "generated.yaml") {
        Ok(plan) => plan,
        Err(diags) => {
            eprint!("{}", diags.render());
            return ExitCode::FAILURE;
        }
    };
    let parse = t.elapsed();
    let t = Instant::now();
    let targets = targets::decompose(&plan);
    let decompose = t.elapsed();
    let t = Instant::now();
    let table = capacity::table(&plan, &targets, &Measured::default());
    let table_time = t.elapsed();
    let t = Instant::now();
    let findings = links::analyze(&plan, &targets, &table);
    let links_time = t.elapsed();
    let t = Instant::now();
    let card = readiness::scorecard(&plan, &targets, &table, &findings);
    let score = t.elapsed();
    println!(
        "{} bytes, {} services, {} findings, go: {}",
        text.len(),
        plan.services.len(),
        findings.len(),
        card.go
    );
    for (name, d) in [
        ("parse+validate", parse),
        ("decompose", decompose),
        ("table", table_time),
        ("links", links_time),
        ("scorecard", score),
    ] {
        println!("{name:>15}: {:>8.1} ms", d.as_secs_f64() * 1e3);
    }
    ExitCode::SUCCESS
}
