//! `seawall agent --control URL --token T [--name N] [--index I]`: a
//! rehearsal agent. It registers with the control plane and long-polls it
//! for work; given a share of a run, it runs the load engine on that share
//! from the agreed start (`seawall_load::rehearse_with`), streams every
//! closed second to the control plane (an empty batch each second while
//! there is none: its heartbeat), stops when the control plane says so
//! (a long poll on the run's control), sends each search step for the
//! verdict over every agent, and at its end sends its own result. Then it
//! waits for the next run. `docs/scale-out.md`, "Rehearsal agents".

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow};
use clap::Args;
use seawall_api::Client;
use seawall_api::fleet::{AgentEnd, AgentSecond, Assignment, RegisterAgent, Seconds, StepReport};
use seawall_load::Scenario;
use seawall_load::fleet::{
    EntrySecond, Hooks, LocalStep, MergedStep, Share, StepFuture, StepJudge, Stop,
};

/// Arguments of `seawall agent`.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The control plane's URL (`seawall serve`).
    #[arg(long, env = "SEAWALL_CONTROL", value_name = "URL")]
    pub control: String,
    /// API token (`sw_…`) of an admin, commander or ci token; viewer and
    /// sidecar tokens are refused.
    #[arg(
        long,
        env = "SEAWALL_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub token: String,
    /// For an https:// --control: the PEM file of its CA.
    #[arg(long, env = "SEAWALL_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// This agent's name [default: the host name].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Its index in an Indexed Job: agents with an index take the shares
    /// in index order.
    #[arg(long, env = "JOB_COMPLETION_INDEX", value_name = "I")]
    pub index: Option<u32>,
    /// Exit after this many runs [default: never].
    #[arg(long, value_name = "N")]
    pub runs: Option<u32>,
}

/// Run the verb: serve runs until killed (or `--runs`).
pub fn run(args: &AgentArgs) -> anyhow::Result<ExitCode> {
    let client = Client::new_with_ca(&args.control, args.ca.as_deref())
        .map_err(|e| anyhow!("{e}; check --control and --ca"))?
        .with_token(args.token.trim())
        .with_timeout(Duration::from_secs(40));
    let name = match &args.name {
        Some(n) => n.clone(),
        None => host_name(),
    };
    let runtime = super::load::runtime(None)?;
    runtime.block_on(serve(Arc::new(client), name, args.index, args.runs))?;
    Ok(ExitCode::SUCCESS)
}

/// The host name, or `agent-<pid>` when it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("agent-{}", std::process::id()))
}

/// Register, poll, run; again after a refusal to know the agent (the
/// control plane restarted). A refused token ends the agent.
async fn serve(
    client: Arc<Client>,
    name: String,
    index: Option<u32>,
    runs: Option<u32>,
) -> anyhow::Result<()> {
    let mut done = 0u32;
    // Runs until killed, or until `runs` runs are done.
    loop {
        let agent = match client
            .register_agent(&RegisterAgent {
                name: name.clone(),
                index,
            })
            .await
        {
            Ok(a) => a,
            Err(e) if matches!(e.status(), Some(401 | 403)) => {
                return Err(anyhow!("the control plane refused this agent: {e}"));
            }
            Err(e) => {
                eprintln!("agent {name}: cannot register ({e}); retrying in 2 s");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        eprintln!("agent {name}: registered as {}", agent.id);
        loop {
            match client.agent_work(&agent.id, 20).await {
                Ok(Some(work)) => {
                    let run = work.run.clone();
                    eprintln!(
                        "agent {name}: run {run}, share {} of {}",
                        work.index, work.count
                    );
                    if let Err(e) = run_share(&client, &agent.id, work).await {
                        eprintln!("agent {name}: run {run} failed: {e:#}");
                    }
                    done += 1;
                    if runs.is_some_and(|n| done >= n) {
                        return Ok(());
                    }
                }
                Ok(None) => {}
                Err(e) if e.status() == Some(404) => break,
                Err(e) if matches!(e.status(), Some(401 | 403)) => {
                    return Err(anyhow!("the control plane refused this agent: {e}"));
                }
                Err(e) => {
                    eprintln!("agent {name}: {e}; polling again in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }
}

/// The control plane's verdict on a search step.
struct RemoteJudge {
    client: Arc<Client>,
    run: String,
    agent: String,
}

impl StepJudge for RemoteJudge {
    fn judge(&self, step: LocalStep) -> StepFuture {
        let (client, run, agent) = (
            Arc::clone(&self.client),
            self.run.clone(),
            self.agent.clone(),
        );
        Box::pin(async move {
            let step = serde_json::to_value(&step).ok()?;
            let verdict = client
                .report_step(&run, &StepReport { agent, step })
                .await
                .ok()?;
            serde_json::from_value::<MergedStep>(verdict.merged).ok()
        })
    }
}

/// Run one share of a run.
async fn run_share(client: &Arc<Client>, agent: &str, work: Assignment) -> anyhow::Result<()> {
    let scenario: Scenario =
        serde_json::from_value(work.scenario).context("the run's scenario cannot be read")?;
    let run = work.run.clone();
    let stop = Stop::default();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<EntrySecond>>();
    let start_at = UNIX_EPOCH + Duration::from_millis(u64::try_from(work.start_at_ms).unwrap_or(0));
    let mut hooks = Hooks {
        share: Some(Share {
            index: work.index,
            count: work.count,
        }),
        start_at: Some(start_at.max(SystemTime::now())),
        stop: stop.clone(),
        seconds: Some(tx),
        judge: Some(Arc::new(RemoteJudge {
            client: Arc::clone(client),
            run: run.clone(),
            agent: agent.to_owned(),
        })),
        totals: Arc::default(),
    };
    // Stream closed seconds; an empty batch each second is the heartbeat.
    let streamer = {
        let (client, run, agent, stop) = (
            Arc::clone(client),
            run.clone(),
            agent.to_owned(),
            stop.clone(),
        );
        tokio::spawn(async move {
            // Ends when the run drops its sender.
            loop {
                let batch = match tokio::time::timeout(Duration::from_secs(1), rx.recv()).await {
                    Ok(Some(batch)) => batch,
                    Ok(None) => break,
                    Err(_) => Vec::new(),
                };
                let seconds = Seconds {
                    agent: agent.clone(),
                    seconds: batch
                        .into_iter()
                        .map(|s| AgentSecond {
                            entry: u32::try_from(s.entry).unwrap_or(u32::MAX),
                            t_s: s.t_s,
                            requests: s.requests,
                            errors: s.errors,
                            dropped: s.dropped,
                            hdr: s.hdr,
                        })
                        .collect(),
                };
                match client.send_seconds(&run, &seconds).await {
                    Ok(c) => {
                        if let Some(reason) = c.stop {
                            stop.stop(&reason);
                        }
                    }
                    Err(e) => eprintln!("run {run}: seconds not delivered: {e}"),
                }
            }
        })
    };
    // The stop, as soon as the control plane says it.
    let watcher = {
        let (client, run, stop) = (Arc::clone(client), run.clone(), stop.clone());
        tokio::spawn(async move {
            // Ends with the run (aborted below) or at the stop.
            loop {
                match client.fleet_control(&run, 10).await {
                    Ok(c) => {
                        if let Some(reason) = c.stop {
                            stop.stop(&reason);
                            return;
                        }
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            }
        })
    };
    let result = seawall_load::rehearse_with(&scenario, &hooks, |_| {}).await;
    watcher.abort();
    // Closing the sender lets the streamer send what is left and end.
    hooks.seconds = None;
    let _ = streamer.await;
    let result = result.context("the run could not start")?;
    let latency_hdr = hooks.totals.lock().map(|t| t.clone()).unwrap_or_default();
    client
        .end_agent_run(
            &run,
            &AgentEnd {
                agent: agent.to_owned(),
                result: serde_json::to_value(&result)?,
                latency_hdr,
            },
        )
        .await?;
    Ok(())
}
