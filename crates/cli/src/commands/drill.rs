//! `seawall drill PLAN_ID --event E --scenario S --base-url URL`: drill an
//! emergency plan end to end (`docs/respond.md#drills`). The control plane
//! injects the plan's `drill.fault` with a lease (a simulator fault is set
//! here, on `--base-url`, with the lease as its TTL); this command runs
//! the tagged rehearsal scenario — the same scenario `seawall rehearse`
//! runs, bounded by `--duration` — waits (bounded by `--wait`) for the
//! plan's run to take effect, finishes the drill with whether the SLO
//! held, prints each step's verdict and time, and writes JUnit XML for CI
//! (`--junit`, one test case per step). Exit 0 when the drill passed, 1
//! when it failed, 2 on usage or connection errors.
//!
//! `seawall drill stop --event E` is the global stop: every running drill
//! of the event ends and its fault is removed.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use seawall_api::drills::{Drill, DrillList, FinishDrill, StartDrill};
use seawall_load::HttpVersion;
use seawall_load::from_plan::ScenarioOptions;
use seawall_load::result::Outcome;
use serde_json::json;

use super::api_client::{Api, ServerArgs};
use super::{INVALID, USAGE};
use crate::input;
use crate::output::{self, Align, Format, Grid, Page};

/// Arguments of `seawall drill`.
#[derive(Debug, Args)]
pub struct DrillArgs {
    /// The emergency plan's id, or `stop` to end every running drill of
    /// the event (the global stop).
    #[arg(value_name = "PLAN_ID|stop")]
    id: String,
    /// The event (its slug).
    #[arg(long, value_name = "SLUG")]
    event: String,
    /// The rehearsal scenario that sends the tagged traffic [default: the
    /// plan's `drill.scenario`].
    #[arg(long, short = 's', value_name = "NAME")]
    scenario: Option<String>,
    /// Where the system under test listens (as for `seawall rehearse`);
    /// required to drill.
    #[arg(long, value_name = "URL")]
    base_url: Option<String>,
    /// The plan file the scenario is read from [default: the drilled plan
    /// version, fetched from the control plane].
    #[arg(long, value_name = "PLAN.yaml")]
    plan: Option<PathBuf>,
    /// How long the rehearsal runs (at the scenario's rate).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = input::duration)]
    duration: Duration,
    /// After the rehearsal, how long to wait for the plan's run to take
    /// effect before judging.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = input::duration)]
    wait: Duration,
    /// Write the verdict as JUnit XML (one test case per step).
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
    /// Output format: a table, Markdown, or the API's JSON.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    format: Format,
}

/// Run `seawall drill`.
pub fn run(a: &DrillArgs) -> anyhow::Result<ExitCode> {
    let api = Api::new(&a.server)?;
    if a.id == "stop" {
        let list = api.call(api.client().stop_drills(&a.event))?;
        if a.format == Format::Json {
            output::emit_json(&list)?;
        } else {
            output::emit_page(&stopped_page(&a.event, &list), a.format)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(base_url) = a.base_url.clone() else {
        eprintln!(
            "error: a drill sends the rehearsal's tagged traffic: give --base-url URL (where the \
             system under test listens), or `seawall drill stop --event {}` to stop drills",
            a.event
        );
        return Ok(ExitCode::from(USAGE));
    };
    if let Some(path) = &a.junit {
        input::writable(path)?;
    }
    let start = StartDrill {
        scenario: a.scenario.clone(),
    };
    let drill = api.call(api.client().start_drill(&a.event, &a.id, &start))?;
    eprintln!(
        "drill {}: fault injected, lease until {} (stop all: seawall drill stop --event {})",
        drill.id, drill.lease_until_ms, a.event
    );
    let traffic = api.block_on(traffic(&api, a, &drill, &base_url));
    let (slo_held, note) = match traffic {
        Ok(t) => t,
        Err(e) => {
            // Nothing was measured: end the drill (its fault goes) and say why.
            let _ = api.call(api.client().stop_drills(&a.event));
            return Err(e.context(format!("drill {} stopped", drill.id)));
        }
    };
    wait_for_effect(&api, &a.event, drill.id, a.wait)?;
    let finish = FinishDrill {
        slo_held,
        note: Some(note),
    };
    let done = api.call(api.client().finish_drill(&a.event, drill.id, &finish))?;
    if let Some(path) = &a.junit {
        input::write_whole(path, junit(&a.event, &done).as_bytes())?;
    }
    if a.format == Format::Json {
        output::emit_json(&done)?;
    } else {
        output::emit_page(&drill_page(&a.event, &done), a.format)?;
    }
    Ok(if done.status == "passed" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    })
}

/// Set a simulator fault (if the drill's is one), then run the tagged
/// rehearsal: whether every SLO held, and what the rehearsal saw.
async fn traffic(
    api: &Api,
    a: &DrillArgs,
    drill: &Drill,
    base_url: &str,
) -> anyhow::Result<(bool, String)> {
    if drill.fault.get("kind").and_then(|k| k.as_str()) == Some("sim") {
        let body = json!({
            "target": drill.fault["node"],
            "fault": drill.fault["fault"],
            "ttl_ms": (drill.lease_until_ms - drill.started_ms).max(1),
        });
        let sim = seawall_api::Client::new(base_url).map_err(|e| anyhow!("{e}"))?;
        let r = sim
            .send(
                http::Method::PUT,
                "/_sim/fault",
                Some(("application/json", serde_json::to_vec(&body)?.into())),
            )
            .await
            .map_err(|e| anyhow!("setting the simulator's drill switch: {e}"))?;
        if r.status != http::StatusCode::OK {
            return Err(anyhow!(
                "the simulator refused the drill switch ({}): {}",
                r.status,
                r.text()
            ));
        }
    }
    let scenario = drill.scenario.clone().context(
        "the drill names no rehearsal scenario: give --scenario or write drill.scenario",
    )?;
    let plan = match &a.plan {
        Some(path) => input::load(path, Format::Table)?
            .ok_or_else(|| anyhow!("`{}` is not a valid plan", path.display()))?,
        None => {
            let stored = api
                .client()
                .plan_version(&a.event, drill.plan_version)
                .await
                .map_err(|e| api.failed(e))?;
            seawall_plan::parse(&stored.text, &stored.info.file_name)
                .map_err(|d| anyhow!("plan version {} does not parse: {d}", drill.plan_version))?
        }
    };
    let opts = ScenarioOptions {
        scenario: scenario.clone(),
        base_url: base_url.to_owned(),
        rate_multiple: None,
        duration: Some(a.duration),
        untagged: false,
        run_id: Some(format!("drill-{}", drill.id)),
        seed: 1,
        connections: 64,
        timeout: Duration::from_secs(10),
        http: HttpVersion::Http1,
    };
    let path = a.plan.clone().unwrap_or_else(|| PathBuf::from("plan.yaml"));
    let s = seawall_load::from_plan::scenario(&plan, &path, &opts)?;
    let result = seawall_load::rehearse(&s, |_| {}).await?;
    let said = match result.outcome {
        Outcome::Completed => "completed, every SLO held",
        Outcome::SloFailed => "an entry broke its SLO",
        Outcome::Aborted => "aborted by a guard",
    };
    Ok((
        result.outcome == Outcome::Completed,
        format!(
            "rehearsal {scenario} (run drill-{}, {:.1} s): {said}",
            drill.id, result.duration_s
        ),
    ))
}

/// Polls the drill until its `took_effect` step is judged, at most `wait`.
fn wait_for_effect(api: &Api, event: &str, n: i64, wait: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let d = api.call(api.client().drill(event, n))?;
        let judged = d
            .steps
            .iter()
            .find(|s| s.name == "took_effect")
            .is_some_and(|s| s.status != "pending");
        if judged || d.is_finished() || started.elapsed() >= wait {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn seconds(ms: Option<i64>) -> String {
    ms.map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
        .unwrap_or_default()
}

fn drill_page(event: &str, d: &Drill) -> Page {
    let mut page = Page::new();
    page.heading(format!(
        "Drill {} of {} in {event}: {}",
        d.id,
        d.plan_id,
        d.status.to_uppercase()
    ));
    let expected = d
        .expected_minutes
        .map(|m| format!(" (expected {} min)", output::count(m)))
        .unwrap_or_default();
    page.line(format!(
        "SLO expected to {}; fault to effect: {}{expected}",
        d.expect,
        match d.total_ms {
            Some(_) => seconds(d.total_ms),
            None => "not reached".to_owned(),
        }
    ));
    if let Some(n) = &d.note {
        page.line(n.clone());
    }
    let mut g = Grid::new(&[
        ("step", Align::Left),
        ("verdict", Align::Left),
        ("after", Align::Right),
        ("detail", Align::Left),
    ]);
    for s in &d.steps {
        g.row(vec![
            s.name.as_str().into(),
            s.status.as_str().into(),
            seconds(s.after_ms).into(),
            s.detail.as_str().into(),
        ]);
    }
    page.grid(g);
    page
}

fn stopped_page(event: &str, list: &DrillList) -> Page {
    let mut page = Page::new();
    page.heading(format!("Drills stopped in {event}: {}", list.drills.len()));
    let mut g = Grid::new(&[("drill", Align::Right), ("plan", Align::Left)]);
    for d in &list.drills {
        g.row(vec![d.id.to_string().into(), d.plan_id.as_str().into()]);
    }
    page.grid(g);
    page
}

/// XML text with `&`, `<`, `>`, `"` and `'` escaped, and control
/// characters XML 1.0 cannot hold dropped.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

/// The drill as JUnit XML: one test suite, one test case per step (a
/// pending or failed step is a failure), and one for the expected time.
pub fn junit(event: &str, d: &Drill) -> String {
    let mut cases = String::new();
    let mut failures = 0;
    let mut case = |name: &str, ms: Option<i64>, failure: Option<String>| {
        let _ = write!(
            cases,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
            xml(&format!("seawall.drill.{}", d.plan_id)),
            xml(name),
            ms.unwrap_or(0).max(0) as f64 / 1000.0
        );
        match failure {
            Some(f) => {
                failures += 1;
                let _ = write!(
                    cases,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>\n",
                    xml(&f),
                    xml(&f)
                );
            }
            None => cases.push_str("/>\n"),
        }
    };
    for s in &d.steps {
        let failure = match s.status.as_str() {
            "passed" => None,
            "pending" => Some(format!("{} did not happen: {}", s.name, s.detail)),
            _ => Some(format!("{} failed: {}", s.name, s.detail)),
        };
        case(&s.name, s.after_ms, failure);
    }
    let failure = match (d.within_expected, d.expected_minutes) {
        (Some(false), Some(m)) => Some(format!(
            "from fault to effect took {}, more than the expected {m} min",
            seconds(d.total_ms)
        )),
        _ => None,
    };
    case("within_expected_minutes", d.total_ms, failure);
    let tests = d.steps.len() + 1;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"{}\" \
         tests=\"{tests}\" failures=\"{failures}\" errors=\"0\">\n{cases}  </testsuite>\n</testsuites>\n",
        xml(&format!(
            "seawall drill {} of {} in {event}",
            d.id, d.plan_id
        ))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drill(steps: &[(&str, &str, Option<i64>)]) -> Drill {
        Drill {
            id: 7,
            plan_id: "limit<&>".into(),
            plan_version: 1,
            status: "failed".into(),
            requested_by: "ana".into(),
            scenario: Some("peak".into()),
            expect: "hold".into(),
            fault: json!({"kind": "guard"}),
            started_ms: 0,
            lease_until_ms: 600_000,
            ended_ms: Some(10_000),
            run: Some(3),
            steps: steps
                .iter()
                .map(|(name, status, after)| seawall_api::drills::DrillStep {
                    name: (*name).into(),
                    status: (*status).into(),
                    at_ms: *after,
                    after_ms: *after,
                    detail: "alert \"orders-hot\" fired <quickly> & 'well'".into(),
                })
                .collect(),
            total_ms: Some(180_000),
            expected_minutes: Some(2.0),
            within_expected: Some(false),
            slo_held: Some(true),
            note: None,
            version: 3,
        }
    }

    #[test]
    fn junit_has_one_escaped_case_per_step_and_counts_failures() {
        let d = drill(&[
            ("fault_injected", "passed", Some(0)),
            ("detected", "passed", Some(1_500)),
            ("decided", "pending", None),
        ]);
        let x = junit("carnival", &d);
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>"));
        assert!(x.contains("tests=\"4\" failures=\"2\""), "{x}");
        assert!(
            x.contains("classname=\"seawall.drill.limit&lt;&amp;&gt;\""),
            "{x}"
        );
        assert!(x.contains("name=\"detected\" time=\"1.500\"/>"), "{x}");
        assert!(
            x.contains("&quot;orders-hot&quot; fired &lt;quickly&gt; &amp; &apos;well&apos;"),
            "{x}"
        );
        assert!(x.contains("more than the expected 2 min"), "{x}");
        assert_eq!(x.matches("<testcase ").count(), 4);
        assert_eq!(x.matches("<failure ").count(), 2);
        assert!(!x.contains("<quickly>"), "nothing unescaped");
    }

    #[test]
    fn xml_drops_control_characters() {
        assert_eq!(xml("a\u{1}b\tc"), "ab\tc");
    }
}
