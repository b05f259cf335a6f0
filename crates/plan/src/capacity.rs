//! The capacity water-level table: target vs capacity per entry and service.
//!
//! Formulas: `docs/plan-reference.md#capacity-water-levels`.

use indexmap::IndexMap;
use serde::Serialize;

use crate::model::Plan;
use crate::targets::Targets;

/// Capacities measured by a rehearsal; they win over declared ones.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Measured {
    /// Measured capacity (knee) of an entry in QPS, by entry id.
    pub entries: IndexMap<String, f64>,
    /// Measured capacity per instance of a service in QPS, by service id.
    pub services_per_instance: IndexMap<String, f64>,
    /// Where the measurements come from (run id or file), for display.
    pub source: Option<String>,
}

/// Water-level status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Below `warn_level`.
    Ok,
    /// From `warn_level` up to `critical_level`.
    Warn,
    /// Above `critical_level`.
    Critical,
    /// Capacity unknown.
    Unknown,
}

/// Where a capacity figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CapacitySource {
    /// `instances × capacity_per_instance` from the plan.
    Declared,
    /// From rehearsal results.
    Measured,
    /// Not known.
    Unknown,
}

/// One row of the table (entry, service or partner).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Entry, service or partner id.
    pub id: String,
    /// Target QPS.
    pub target_qps: f64,
    /// Capacity QPS (for entries: the bottleneck's effective capacity).
    pub capacity_qps: Option<f64>,
    /// Where the capacity comes from.
    pub capacity_source: CapacitySource,
    /// `target / capacity`.
    pub water_level: Option<f64>,
    /// `target × (1 + headroom)`.
    pub required_qps: f64,
    /// `required > capacity`.
    pub needs_scaling: bool,
    /// Instances now (services).
    pub instances: Option<u32>,
    /// `ceil(required / capacity_per_instance)` (services; for entries, of the bottleneck service).
    pub instances_needed: Option<u32>,
    /// `current_qps / capacity`.
    pub current_level: Option<f64>,
    /// Status by water level.
    pub status: Status,
    /// Entries: id of the bottleneck service (or partner); services: none.
    pub bottleneck: Option<String>,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct CapacityTable {
    /// Entries in plan order.
    pub entries: Vec<Row>,
    /// Services in plan order.
    pub services: Vec<Row>,
    /// Partners with a quota or traffic, in plan order.
    pub partners: Vec<Row>,
}

impl CapacityTable {
    /// Row of an entry.
    pub fn entry(&self, id: &str) -> Option<&Row> {
        self.entries.iter().find(|r| r.id == id)
    }
    /// Row of a service.
    pub fn service(&self, id: &str) -> Option<&Row> {
        self.services.iter().find(|r| r.id == id)
    }
}

/// Build the water-level table.
pub fn table(plan: &Plan, targets: &Targets, measured: &Measured) -> CapacityTable {
    let _ = (plan, targets, measured);
    CapacityTable::default()
}
