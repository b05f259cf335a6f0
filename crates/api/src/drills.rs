//! Drills of emergency plans: inject the plan's fault (a leased guard fault
//! on tagged traffic, or the simulator's drill switch) during a tagged
//! rehearsal, then judge each step — the trigger fired, the run was
//! approved, its actions took effect, the SLO held or broke as the plan
//! expects — with its time, against the plan's `expected_minutes`
//! (`docs/respond.md#drills`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /events/{slug}/emergency-plans/{id}/drills`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StartDrill {
    /// The rehearsal scenario that drives the tagged traffic (default: the
    /// plan's `drill.scenario`).
    #[serde(default)]
    pub scenario: Option<String>,
}

/// `POST /events/{slug}/drills/{n}/finish`: what the rehearsal saw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FinishDrill {
    /// Whether every entry of the rehearsal kept its SLO.
    pub slo_held: bool,
    /// What the rehearsal saw, in words (its outcome, the run id).
    #[serde(default)]
    pub note: Option<String>,
}

/// One judged step of a drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DrillStep {
    /// `fault_injected`, `detected`, `decided`, `took_effect` or `slo`.
    pub name: String,
    /// `passed`, `failed` or `pending`.
    pub status: String,
    /// When it happened, ms since the Unix epoch (UTC).
    pub at_ms: Option<i64>,
    /// Time from the fault's injection to this step, ms.
    pub after_ms: Option<i64>,
    /// What was seen (the alert, the run, the approvers, the error).
    pub detail: String,
}

/// One drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Drill {
    /// Drill number (unique on the server).
    pub id: i64,
    /// The emergency plan drilled.
    pub plan_id: String,
    /// The plan version it drills.
    pub plan_version: i64,
    /// `running`, `passed`, `failed` or `stopped`.
    pub status: String,
    /// Who started it.
    pub requested_by: String,
    /// The rehearsal scenario named for it, if any.
    pub scenario: Option<String>,
    /// `hold` or `break`: what the plan expects of the SLO.
    pub expect: String,
    /// The fault: `{"guard": {...}, "rules": [{service, rule, version}]}`
    /// or `{"sim": {node, kind, ms|ratio}}`.
    pub fault: Value,
    /// When the fault was injected, ms since the Unix epoch.
    pub started_ms: i64,
    /// When the fault's lease ends by itself.
    pub lease_until_ms: i64,
    /// When the drill got its verdict.
    pub ended_ms: Option<i64>,
    /// The emergency-plan run the drill saw, if one started.
    pub run: Option<i64>,
    /// The judged steps, in order.
    pub steps: Vec<DrillStep>,
    /// From injection to the plan's actions taking effect, ms.
    pub total_ms: Option<i64>,
    /// The plan's `expected_minutes`.
    pub expected_minutes: Option<f64>,
    /// Whether `total_ms` is within `expected_minutes` (none when either
    /// is unknown).
    pub within_expected: Option<bool>,
    /// What the rehearsal reported: whether the SLO held.
    pub slo_held: Option<bool>,
    /// Notes (the rehearsal's, a stop's, an expired lease's).
    pub note: Option<String>,
    /// The stored record's version.
    pub version: i64,
}

impl Drill {
    /// Whether the drill has its verdict.
    pub fn is_finished(&self) -> bool {
        self.status != "running"
    }
}

/// Drills, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DrillList {
    /// The drills.
    pub drills: Vec<Drill>,
}

impl crate::Client {
    /// `POST /api/v1/events/{slug}/emergency-plans/{id}/drills`: inject
    /// emergency plan `plan`'s drill fault and start judging.
    pub async fn start_drill(
        &self,
        slug: &str,
        plan: &str,
        start: &StartDrill,
    ) -> Result<Drill, crate::ClientError> {
        let path = format!(
            "/api/v1/events/{}/emergency-plans/{}/drills",
            crate::client::segment(slug),
            crate::client::segment(plan)
        );
        self.post_json(&path, start).await?.expect(201)
    }

    /// `GET /api/v1/events/{slug}/emergency-plans/{id}/drills`.
    pub async fn plan_drills(
        &self,
        slug: &str,
        plan: &str,
    ) -> Result<DrillList, crate::ClientError> {
        let path = format!(
            "/api/v1/events/{}/emergency-plans/{}/drills",
            crate::client::segment(slug),
            crate::client::segment(plan)
        );
        self.get(&path).await?.expect(200)
    }

    /// `GET /api/v1/events/{slug}/drills/{n}`: the drill with its steps
    /// judged now.
    pub async fn drill(&self, slug: &str, n: i64) -> Result<Drill, crate::ClientError> {
        let path = format!("/api/v1/events/{}/drills/{n}", crate::client::segment(slug));
        self.get(&path).await?.expect(200)
    }

    /// `POST /api/v1/events/{slug}/drills/{n}/finish`: report what the
    /// rehearsal saw; the fault is removed and the verdict recorded.
    pub async fn finish_drill(
        &self,
        slug: &str,
        n: i64,
        finish: &FinishDrill,
    ) -> Result<Drill, crate::ClientError> {
        let path = format!(
            "/api/v1/events/{}/drills/{n}/finish",
            crate::client::segment(slug)
        );
        self.post_json(&path, finish).await?.expect(200)
    }

    /// `POST /api/v1/events/{slug}/drills/stop`: end every running drill
    /// of the event and remove their faults.
    pub async fn stop_drills(&self, slug: &str) -> Result<DrillList, crate::ClientError> {
        let path = format!(
            "/api/v1/events/{}/drills/stop",
            crate::client::segment(slug)
        );
        self.post_json(&path, &serde_json::json!({}))
            .await?
            .expect(200)
    }
}
