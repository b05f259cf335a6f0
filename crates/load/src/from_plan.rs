//! What only the plan knows about a run: the plan it came from, each
//! entry's service, and each service's capacity per instance implied by
//! its entries' knees. Shared by `seawall rehearse` and `seawall demo`, so
//! a run document means the same whoever wrote it.

use seawall_plan::Plan;

use crate::result::{RunResult, ServiceResult};

/// Add what only the plan knows: the plan (`plan_label`, its file name), each entry's service, and
/// each service's capacity per instance implied by its entries' knees
/// (`Σ knee_qps of its entries / instances`; only services with a knee).
pub fn complete(result: &mut RunResult, plan: &Plan, plan_label: &str) {
    result.plan = Some(plan_label.to_owned());
    let mut services: Vec<ServiceResult> = Vec::new();
    for e in &mut result.entries {
        let Some(entry) = plan.entries.get(&e.id) else {
            continue;
        };
        e.service.clone_from(&entry.service);
        let Some(knee) = e.knee_qps else {
            continue;
        };
        let Some(instances) = plan
            .services
            .get(&entry.service)
            .and_then(|s| s.instances)
            .filter(|&n| n > 0)
        else {
            continue;
        };
        match services.iter_mut().find(|s| s.id == entry.service) {
            Some(s) => s.knee_qps += knee,
            None => services.push(ServiceResult {
                id: entry.service.clone(),
                instances,
                knee_qps: knee,
                capacity_per_instance: 0.0,
            }),
        }
    }
    for s in &mut services {
        s.capacity_per_instance = s.knee_qps / f64::from(s.instances);
    }
    // Services in plan order.
    services.sort_by_key(|s| plan.services.get_index_of(&s.id));
    result.services = services;
}
