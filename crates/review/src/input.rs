//! What a review is computed from: a plain copy of what the control
//! plane's store holds for one event, gathered by the server
//! (`crates/server/src/service/review.rs`).
//!
//! Why a copy rather than the store: the review is a pure function of
//! these values (no IO, no clock), so every number in it can be tested
//! with a fixed input and snapshotted. The types the evaluator and the
//! responders already use (`seawall-monitor`'s history points and alert
//! transitions, `seawall-respond`'s runs, incidents and escalations) are
//! taken as they are; the store's own records (gate decisions, exceptions,
//! rule versions) are copied into small structs here because the store
//! crate carries a database driver this crate must not depend on.

use serde::{Deserialize, Serialize};

use seawall_monitor::Transition;
use seawall_monitor::history::Point;
use seawall_monitor::sample::TargetKind;
use seawall_respond::escalation::Escalation;
use seawall_respond::incident::Incident;
use seawall_respond::run::Run;

/// Everything the store holds of one event that a review reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Event slug.
    pub slug: String,
    /// Event display name.
    pub name: String,
    /// Event creation time (ms): the origin of the telemetry history's
    /// `t_s`.
    pub created_ms: i64,
    /// The plan version the review reads (the latest), if any was pushed.
    pub plan: Option<PlanInput>,
    /// Measured capacities from the event's rehearsal runs.
    pub rehearsal: Rehearsal,
    /// Stored telemetry series, every tier.
    pub series: Vec<SeriesInput>,
    /// Alert transitions, oldest first.
    pub transitions: Vec<Transition>,
    /// Emergency-plan runs, oldest first.
    pub emergency_runs: Vec<EmergencyRunInput>,
    /// Incidents, oldest first.
    pub incidents: Vec<IncidentInput>,
    /// Gate decisions of the event, any order.
    pub changes: Vec<ChangeInput>,
    /// Freeze exceptions of the event, oldest first.
    pub exceptions: Vec<ExceptionInput>,
    /// Guard rule versions of the plan's services, oldest first.
    pub rule_changes: Vec<RuleChangeInput>,
}

/// One stored plan version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanInput {
    /// Version number.
    pub version: i64,
    /// File name it was pushed from (the recommendations' `file:line`).
    pub file_name: String,
    /// The YAML text as pushed.
    pub text: String,
}

/// Measured capacities from the event's rehearsal runs (a later run's
/// figure replaces an earlier one's, as `plan capacity --results` reads
/// them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rehearsal {
    /// Run ids the figures come from.
    pub runs: Vec<i64>,
    /// Knee (QPS) per entry id.
    pub entry_knees: Vec<(String, f64)>,
    /// Measured capacity per instance (QPS) per service id.
    pub service_per_instance: Vec<(String, f64)>,
    /// Entries whose search was generator-bound: the rate they held is a
    /// lower bound of their capacity, never a knee.
    #[serde(default)]
    pub entry_lower_bounds: Vec<LowerBound>,
}

/// An entry a generator-bound search could not push to its knee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LowerBound {
    /// Entry id.
    pub entry: String,
    /// The highest rate at which its SLO held (QPS): capacity is at least this.
    pub qps: f64,
    /// The run.
    pub run: i64,
    /// The run's scenario (a key under the plan's `rehearsals`).
    pub scenario: String,
}

/// One rehearsal run's figures (its `run.json`), for [`Rehearsal::add_run`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunFigures {
    /// The run's id.
    pub run: i64,
    /// Its scenario.
    pub scenario: String,
    /// `entries[].knee_qps` that are set.
    pub knees: Vec<(String, f64)>,
    /// `entries[].lower_bound_qps` that are set (generator-bound).
    pub lower_bounds: Vec<(String, f64)>,
    /// `services[].capacity_per_instance`.
    pub services: Vec<(String, f64)>,
}

impl Rehearsal {
    /// Add run `f` (runs oldest first). For an entry, the latest run that
    /// says anything wins: a knee drops an earlier lower bound, and a
    /// lower bound drops an earlier knee — a later rehearsal the generator
    /// could not finish says the earlier knee may no longer hold, and the
    /// review then shows the bound, as `plan capacity --results` keeps the
    /// declared capacity for it.
    pub fn add_run(&mut self, f: RunFigures) {
        if f.knees.is_empty() && f.lower_bounds.is_empty() && f.services.is_empty() {
            return;
        }
        self.runs.push(f.run);
        let said: Vec<&String> = f
            .knees
            .iter()
            .chain(&f.lower_bounds)
            .map(|(e, _)| e)
            .collect();
        self.entry_knees.retain(|(e, _)| !said.contains(&e));
        self.entry_lower_bounds
            .retain(|b| !said.contains(&&b.entry));
        self.entry_lower_bounds
            .extend(f.lower_bounds.iter().map(|(entry, qps)| LowerBound {
                entry: entry.clone(),
                qps: *qps,
                run: f.run,
                scenario: f.scenario.clone(),
            }));
        self.entry_knees.extend(f.knees);
        self.service_per_instance.extend(f.services);
    }

    /// Entry `id`'s knee, when its latest rehearsal found one.
    pub fn knee(&self, id: &str) -> Option<f64> {
        self.entry_knees
            .iter()
            .rev()
            .find(|(e, _)| e == id)
            .map(|(_, k)| *k)
    }

    /// Entry `id`'s lower bound, when its latest rehearsal was
    /// generator-bound.
    pub fn lower_bound(&self, id: &str) -> Option<&LowerBound> {
        self.entry_lower_bounds.iter().rev().find(|b| b.entry == id)
    }
}

/// One stored telemetry series at one tier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesInput {
    /// Kind of target.
    pub kind: TargetKind,
    /// Target id.
    pub id: String,
    /// Tier (0: 10 s, 1: 1 min, 2: 5 min).
    pub tier: u8,
    /// Points, oldest first.
    pub points: Vec<Point>,
}

/// One emergency-plan run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmergencyRunInput {
    /// Store id.
    pub id: i64,
    /// The run's state.
    pub run: Run,
}

/// One incident with its paging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentInput {
    /// Store id.
    pub id: i64,
    /// The incident.
    pub incident: Incident,
    /// Its escalation, if anybody was paged.
    pub escalation: Option<Escalation>,
}

/// One gate decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeInput {
    /// Store id.
    pub id: i64,
    /// Decision time (ms).
    pub at_ms: i64,
    /// Service asked about.
    pub service: String,
    /// Change kind name (`deploy`, `config`, …).
    pub kind: String,
    /// The change's reference.
    pub change_ref: String,
    /// Who asked.
    pub actor: String,
    /// Whether it was let through.
    pub allowed: bool,
    /// The freeze window involved, if any.
    pub window: Option<String>,
    /// The exception that let it through.
    pub exception_id: Option<i64>,
}

/// One freeze exception.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionInput {
    /// Store id.
    pub id: i64,
    /// Status name (`pending`, `approved`, `rejected`).
    pub status: String,
    /// Service globs.
    pub services: Vec<String>,
    /// Window start (ms).
    pub starts_ms: i64,
    /// Window end (ms).
    pub ends_ms: i64,
    /// Who asked.
    pub requested_by: String,
    /// Who decided.
    pub decided_by: Option<String>,
}

/// One guard rule version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleChangeInput {
    /// Service.
    pub service: String,
    /// Version.
    pub version: i64,
    /// Source name (`derived`, `adjusted`, `emergency`).
    pub source: String,
    /// Creation time (ms).
    pub at_ms: i64,
    /// Creator.
    pub by: String,
    /// Why.
    pub note: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(n: i64, knees: &[(&str, f64)], lower: &[(&str, f64)]) -> RunFigures {
        let v = |l: &[(&str, f64)]| l.iter().map(|(e, q)| ((*e).to_owned(), *q)).collect();
        RunFigures {
            run: n,
            scenario: "peak".into(),
            knees: v(knees),
            lower_bounds: v(lower),
            services: Vec::new(),
        }
    }

    #[test]
    fn the_latest_run_of_an_entry_wins_knee_or_lower_bound() {
        let mut r = Rehearsal::default();
        r.add_run(run(1, &[("home", 800.0), ("search", 300.0)], &[]));
        r.add_run(run(2, &[], &[("home", 971.0)]));
        r.add_run(run(3, &[], &[]));
        assert_eq!(r.runs, vec![1, 2], "a run with no figure is not a source");
        assert_eq!(r.entry_knees, vec![("search".to_owned(), 300.0)]);
        let b = r.lower_bound("home").expect("home's bound");
        assert_eq!((b.qps, b.run, b.scenario.as_str()), (971.0, 2, "peak"));
        r.add_run(run(4, &[("home", 2000.0)], &[]));
        assert_eq!(r.lower_bound("home"), None);
        assert!(r.entry_knees.contains(&("home".to_owned(), 2000.0)));
    }
}
