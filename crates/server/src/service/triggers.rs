//! Which metric-triggered emergency plans' conditions hold, per event and
//! plan (`trigger: {target, metric, above, for}`), tick after tick.
//!
//! A module of its own, without imports from the rest of the crate: the
//! state keeps one [`Holding`], and `service::emergency` (which uses the
//! state) starts the plans it says are due, so neither imports the other
//! in a cycle.

use seawall_plan::Plan;
use seawall_plan::model::{AlertMetric, Trigger};

/// Metric-triggered plans whose condition holds, per event and plan: since
/// when (ms), and whether this episode started a run already. In memory:
/// after a restart the wait starts afresh, like an alert's `for`.
#[derive(Debug, Default)]
pub struct Holding(std::sync::Mutex<std::collections::HashMap<(i64, String), (u64, bool)>>);

impl Holding {
    /// The plans of `plan` whose `trigger: {target, metric, above, for}`
    /// has held for its `for` at `now_ms` (by `value`, the latest reading
    /// of a target's metric) and has not started a run in this episode;
    /// they are marked started. A condition that stops holding ends its
    /// episode.
    pub fn due(
        &self,
        event_id: i64,
        plan: &Plan,
        now_ms: u64,
        value: impl Fn(&str, AlertMetric) -> Option<f64>,
    ) -> Vec<String> {
        let mut holding = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut due = Vec::new();
        for (id, ep) in &plan.emergency_plans {
            let Some(Trigger::Metric {
                target,
                metric,
                above,
                for_seconds,
            }) = &ep.trigger
            else {
                continue;
            };
            let key = (event_id, id.clone());
            if !value(target, *metric).is_some_and(|v| v > *above) {
                holding.remove(&key);
                continue;
            }
            let (since, started) = holding.entry(key).or_insert((now_ms, false));
            let held_ms = now_ms.saturating_sub(*since) as f64;
            if !*started && held_ms >= for_seconds * 1000.0 {
                *started = true;
                due.push(id.clone());
            }
        }
        due
    }
}
