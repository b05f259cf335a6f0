//! Rehearsal agents and runs across them (`/fleet/…`): agents register and
//! long-poll for work; a run gives each of N live agents a share of the
//! arrivals and an agreed start; agents stream one HDR snapshot per entry
//! per second, which the control plane merges, guards and turns into one
//! `seawall.run/v1` result. The scenario, a search step and the result are
//! the load engine's documents (`seawall_load::Scenario`,
//! `seawall_load::fleet::LocalStep` / `MergedStep`, `RunResult`), carried
//! here as JSON objects so this crate does not depend on the engine.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /fleet/agents`: an agent introduces itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterAgent {
    /// The agent's name (the host name by default); another agent of the
    /// same name replaces it (a restarted pod).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    /// Its index in an Indexed Job (`JOB_COMPLETION_INDEX`): agents with
    /// an index take the shares in index order.
    #[serde(default)]
    pub index: Option<u32>,
}

/// A registered agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Agent {
    /// Id to poll with (`a-<n>`).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its Job index, if it has one.
    pub index: Option<u32>,
    /// `idle`, `busy` (in a run) or `silent` (not heard from lately).
    pub status: String,
    /// The run it is in, when busy.
    pub run: Option<String>,
    /// Last heard from, ms since the Unix epoch.
    pub last_seen_ms: i64,
}

/// Every agent known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentList {
    /// By id.
    pub agents: Vec<Agent>,
}

/// The long polls' question.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
pub struct WaitQuery {
    /// Seconds to wait for news before answering (0: at once).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", param(minimum = 0, maximum = 20))]
    pub wait: Option<u64>,
}

/// Work for an agent: its share of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Assignment {
    /// The run.
    pub run: String,
    /// This agent's share: the arrivals whose index ≡ `index` (mod `count`).
    pub index: u32,
    /// Agents in the run.
    pub count: u32,
    /// The agreed start, ms since the Unix epoch.
    pub start_at_ms: i64,
    /// The scenario (`seawall_load::Scenario` as JSON).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub scenario: Value,
}

/// `POST /fleet/runs`: run a scenario across agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StartFleetRun {
    /// The scenario (`seawall_load::Scenario` as JSON, as `seawall
    /// rehearse --agents` builds it from the plan).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub scenario: Value,
    /// How many live idle agents to use.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub agents: u32,
}

/// An agent's part in a run, as the run shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RunAgent {
    /// Agent id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its share index.
    pub index: u32,
    /// `running`, `finished` or `silent`.
    pub status: String,
    /// The last second it streamed.
    pub last_second: Option<u64>,
}

/// A run across agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FleetRun {
    /// Run id (`f-<n>`).
    pub id: String,
    /// Scenario name.
    pub scenario: String,
    /// `running`, or when over `complete` or `partial` (an agent went
    /// silent: its share after its last second is missing).
    pub status: String,
    /// Why every agent was told to stop (a guard on the merged view, an
    /// operator's abort), if they were.
    pub stop: Option<String>,
    /// The agreed start, ms since the Unix epoch.
    pub start_at_ms: i64,
    /// Requests merged so far.
    pub requests: u64,
    /// The agents, by share index.
    pub agents: Vec<RunAgent>,
    /// The merged `seawall.run/v1` result, once the run is over.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub result: Option<Value>,
}

/// `POST /fleet/runs/{id}/abort`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AbortRun {
    /// Why, for the result and the agents.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 500))]
    pub reason: String,
}

/// One closed second of one entry on one agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentSecond {
    /// Entry index in the scenario.
    pub entry: u32,
    /// Seconds since the start.
    pub t_s: u64,
    /// Requests completed in it.
    pub requests: u64,
    /// Of those, failures.
    pub errors: u64,
    /// Arrivals dropped in it.
    pub dropped: u64,
    /// Latency histogram: HdrHistogram V2, deflate-compressed, base64.
    pub hdr: String,
}

/// `POST /fleet/runs/{id}/seconds`: an agent's closed seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Seconds {
    /// Agent id.
    pub agent: String,
    /// Oldest first.
    pub seconds: Vec<AgentSecond>,
}

/// What the control plane tells a running agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Control {
    /// Stop now, and why.
    pub stop: Option<String>,
}

/// `POST /fleet/runs/{id}/steps`: an agent's measurements of a search step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StepReport {
    /// Agent id.
    pub agent: String,
    /// `seawall_load::fleet::LocalStep` as JSON.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub step: Value,
}

/// A search step judged over every agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StepVerdict {
    /// `seawall_load::fleet::MergedStep` as JSON.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub merged: Value,
}

/// `POST /fleet/runs/{id}/end`: an agent's own result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentEnd {
    /// Agent id.
    pub agent: String,
    /// Its `seawall.run/v1` result over its share.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub result: Value,
    /// Per entry, its latency histogram over the run (as `AgentSecond::hdr`).
    pub latency_hdr: Vec<String>,
}

/// Typed calls of `/api/v1/fleet` (beside the area's types, so the shared
/// client file stays as it is).
impl crate::Client {
    /// `POST /api/v1/fleet/agents`.
    pub async fn register_agent(&self, agent: &RegisterAgent) -> Result<Agent, crate::ClientError> {
        self.post_json("/api/v1/fleet/agents", agent)
            .await?
            .expect(201)
    }

    /// `GET /api/v1/fleet/agents`.
    pub async fn agents(&self) -> Result<AgentList, crate::ClientError> {
        self.get("/api/v1/fleet/agents").await?.expect(200)
    }

    /// `GET /api/v1/fleet/agents/{id}/work?wait=`: an assignment, or
    /// `None` when nothing came within the wait.
    pub async fn agent_work(
        &self,
        id: &str,
        wait_secs: u64,
    ) -> Result<Option<Assignment>, crate::ClientError> {
        let path = format!(
            "/api/v1/fleet/agents/{}/work?wait={wait_secs}",
            crate::client::segment(id)
        );
        let answer = self.get(&path).await?;
        match answer.status.as_u16() {
            200 => Ok(Some(answer.json()?)),
            204 => Ok(None),
            _ => Err(answer.into_error()),
        }
    }

    /// `POST /api/v1/fleet/runs`.
    pub async fn start_fleet_run(
        &self,
        start: &StartFleetRun,
    ) -> Result<FleetRun, crate::ClientError> {
        self.post_json("/api/v1/fleet/runs", start)
            .await?
            .expect(201)
    }

    /// `GET /api/v1/fleet/runs/{id}?wait=`: the run, once over or after
    /// the wait.
    pub async fn fleet_run(
        &self,
        id: &str,
        wait_secs: u64,
    ) -> Result<FleetRun, crate::ClientError> {
        let path = format!(
            "/api/v1/fleet/runs/{}?wait={wait_secs}",
            crate::client::segment(id)
        );
        self.get(&path).await?.expect(200)
    }

    /// `POST /api/v1/fleet/runs/{id}/abort`.
    pub async fn abort_fleet_run(
        &self,
        id: &str,
        reason: &str,
    ) -> Result<FleetRun, crate::ClientError> {
        let path = format!("/api/v1/fleet/runs/{}/abort", crate::client::segment(id));
        self.post_json(
            &path,
            &AbortRun {
                reason: reason.to_owned(),
            },
        )
        .await?
        .expect(200)
    }

    /// `POST /api/v1/fleet/runs/{id}/seconds`.
    pub async fn send_seconds(
        &self,
        run: &str,
        seconds: &Seconds,
    ) -> Result<Control, crate::ClientError> {
        let path = format!("/api/v1/fleet/runs/{}/seconds", crate::client::segment(run));
        self.post_json(&path, seconds).await?.expect(200)
    }

    /// `GET /api/v1/fleet/runs/{id}/control?wait=`: answers at once when
    /// the run is stopped, else after the wait.
    pub async fn fleet_control(
        &self,
        run: &str,
        wait_secs: u64,
    ) -> Result<Control, crate::ClientError> {
        let path = format!(
            "/api/v1/fleet/runs/{}/control?wait={wait_secs}",
            crate::client::segment(run)
        );
        self.get(&path).await?.expect(200)
    }

    /// `POST /api/v1/fleet/runs/{id}/steps`: waits for every live agent's
    /// step, answers the merged verdict.
    pub async fn report_step(
        &self,
        run: &str,
        report: &StepReport,
    ) -> Result<StepVerdict, crate::ClientError> {
        let path = format!("/api/v1/fleet/runs/{}/steps", crate::client::segment(run));
        self.post_json(&path, report).await?.expect(200)
    }

    /// `POST /api/v1/fleet/runs/{id}/end`.
    pub async fn end_agent_run(&self, run: &str, end: &AgentEnd) -> Result<(), crate::ClientError> {
        let path = format!("/api/v1/fleet/runs/{}/end", crate::client::segment(run));
        self.post_json(&path, end).await?.expect_empty(204)
    }
}
