//! Which metric-triggered emergency plans' conditions hold, per event and
//! plan (`trigger: {target, metric, above, for}`), tick after tick.
//!
//! A module of its own, without imports from the rest of the crate: the
//! state keeps one [`Holding`], and `service::emergency` (which uses the
//! state) starts the plans it says are due, so neither imports the other
//! in a cycle.
//!
//! Why the store: an episode (since when the condition has held, and
//! whether it started a run) is stored (`seawall_store::TriggerEpisode`),
//! so a restart in the middle of a `for` window keeps the episode's start
//! instead of waiting the whole `for` again, and a trigger that fired does
//! not fire again after a restart. A plan is due only for the caller whose
//! claim turned the stored episode's `started` from false to true, so two
//! control planes on one database start one run per episode.

use std::collections::HashSet;

use seawall_plan::Plan;
use seawall_plan::model::{AlertMetric, Trigger};
use seawall_store::Store;

/// The metric-triggered plans known not to hold, per event and plan: their
/// episode is ended in the store once, not at every tick. Everything else
/// about an episode is in the store.
#[derive(Debug, Default)]
pub struct Holding(std::sync::Mutex<HashSet<(i64, String)>>);

impl Holding {
    fn known_ended(&self, key: &(i64, String)) -> bool {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(key)
    }

    fn mark(&self, key: (i64, String), ended: bool) {
        let mut set = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ended {
            set.insert(key);
        } else {
            set.remove(&key);
        }
    }

    /// The plans of `plan` whose `trigger: {target, metric, above, for}`
    /// has held for its `for` at `now_ms` (by `value`, the latest reading
    /// of a target's metric) and whose stored episode this call claimed;
    /// an episode starts in the store when its condition starts holding
    /// and ends there when it stops. A store error is logged and that plan
    /// is not due this tick (the next tick tries again).
    pub async fn due(
        &self,
        store: &dyn Store,
        event_id: i64,
        plan: &Plan,
        now_ms: u64,
        value: impl Fn(&str, AlertMetric) -> Option<f64>,
    ) -> Vec<String> {
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
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
                if !self.known_ended(&key) {
                    match store.end_trigger(event_id, id).await {
                        Ok(()) => self.mark(key, true),
                        Err(e) => {
                            tracing::warn!(event_id, plan = %id, "ending a trigger episode: {e}")
                        }
                    }
                }
                continue;
            }
            self.mark(key, false);
            let episode = match store.hold_trigger(event_id, id, now).await {
                Ok(episode) => episode,
                Err(e) => {
                    tracing::warn!(event_id, plan = %id, "reading a trigger episode: {e}");
                    continue;
                }
            };
            let held_ms = now.saturating_sub(episode.since_ms) as f64;
            if episode.started || held_ms < for_seconds * 1000.0 {
                continue;
            }
            match store.claim_trigger(event_id, id, episode.since_ms).await {
                Ok(true) => due.push(id.clone()),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(event_id, plan = %id, "claiming a trigger episode: {e}")
                }
            }
        }
        due
    }
}
