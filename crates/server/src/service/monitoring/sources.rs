//! Where an event's readings come from at each tick: the built-in scrape
//! of the sidecars' `/metrics`, or PromQL instant queries to the plan's
//! Prometheus. Both give `seawall-monitor` one reading per entry, service,
//! partner and funnel step; a source that fails gives its error (stale or
//! failed), never a zero (`docs/monitoring.md#control-plane`).
//!
//! How the sidecar's `resource` label maps to the plan
//! (`seawall_guard::derive`): an entry's resource is named by the entry
//! id; a dependency edge's by `<caller>-><callee>`. So an entry's figures
//! are its resource's series over every target; a service's are those of
//! the entries it serves plus the edges into it; a partner's are a
//! resource named by the partner plus the edges into it.

use std::collections::{BTreeSet, HashMap};

use seawall_monitor::sample::TargetKind;
use seawall_monitor::{Metrics, Reading, Readings};
use seawall_plan::Plan;
use seawall_plan::model::AlertMetric;
use seawall_scrape::eval::{self, PagePair};
use seawall_scrape::scrape::{Board, Health, Target};
use seawall_scrape::templates::{self, REQUESTS, Rates, Subject};
use seawall_scrape::{Exposition, PromClient};

/// Error texts of stale or failed rows, by kind and id.
pub type Errors = HashMap<(TargetKind, String), String>;

/// A scrape target and the service whose sidecar it is (`None`: a static
/// target of the plan's `monitoring.scrape`).
#[derive(Debug, Clone)]
pub(crate) struct Scraped {
    /// The target.
    pub target: Target,
    /// The reporting sidecar's service.
    pub service: Option<String>,
}

/// A target that gave no fresh page this round.
struct Down {
    service: Option<String>,
    /// Resources of its last good page (`None`: it never gave one).
    resources: Option<BTreeSet<String>>,
    reading: Reading,
    error: String,
}

/// The `resource` label values of a page's request counters.
fn resources_of(page: &Exposition) -> BTreeSet<String> {
    page.select(REQUESTS, &[])
        .filter_map(|s| s.label("resource").map(str::to_owned))
        .collect()
}

/// The resources that make up one row (see the module docs).
fn row_has(plan: &Plan, kind: TargetKind, id: &str, resource: &str) -> bool {
    let into = |callee: &str| {
        resource
            .rsplit_once("->")
            .is_some_and(|(_, to)| to == callee)
    };
    match kind {
        TargetKind::Entry => resource == id,
        TargetKind::Service => {
            plan.entries.get(resource).is_some_and(|e| e.service == id) || into(id)
        }
        TargetKind::Partner => resource == id || into(id),
        TargetKind::FunnelStep | TargetKind::Query => false,
    }
}

/// Every row's summed rates, in one pass over the resources: the rows
/// [`row_has`] gives each resource (asking it for every row and resource
/// is quadratic, most of a tick at 1,000 rows).
fn row_sums<'a>(
    plan: &'a Plan,
    rates: &'a HashMap<String, Rates>,
) -> HashMap<(TargetKind, &'a str), Rates> {
    let mut out: HashMap<(TargetKind, &str), Rates> = HashMap::new();
    for (r, x) in rates {
        let callee = r.rsplit_once("->").map(|(_, to)| to);
        let mut rows: Vec<(TargetKind, &str)> = vec![(TargetKind::Entry, r.as_str())];
        if let Some(entry) = plan.entries.get(r.as_str()) {
            rows.push((TargetKind::Service, entry.service.as_str()));
        }
        rows.push((TargetKind::Partner, r.as_str()));
        if let Some(callee) = callee {
            rows.push((TargetKind::Service, callee));
            rows.push((TargetKind::Partner, callee));
        }
        for (i, row) in rows.iter().enumerate() {
            if !rows[..i].contains(row) {
                out.entry(*row).or_default().add(x);
            }
        }
    }
    out
}

impl Down {
    /// Whether this target's failure leaves the row without fresh figures.
    fn touches(&self, plan: &Plan, kind: TargetKind, id: &str) -> bool {
        let own_service = self.service.as_deref().is_some_and(|s| match kind {
            TargetKind::Service => s == id,
            TargetKind::Entry => plan.entries.get(id).is_some_and(|e| e.service == s),
            _ => false,
        });
        match &self.resources {
            _ if own_service => true,
            Some(resources) => resources.iter().any(|r| row_has(plan, kind, id, r)),
            // A static target that never answered: nobody knows what it serves.
            None => self.service.is_none() && kind != TargetKind::FunnelStep,
        }
    }
}

/// One tick's readings from the scrape board: rates between each
/// target's last two good pages, summed per row; rows a failing target
/// touches are stale (it gave pages before; since its last good round
/// `last_good_ms`) or failed (it never did), with its error.
pub(crate) fn from_board(
    plan: &Plan,
    targets: &[Scraped],
    unusable: &[(String, String)],
    board: &Board,
    last_good_ms: &HashMap<String, u64>,
) -> (Readings, Errors) {
    let mut rates: HashMap<String, Rates> = HashMap::new();
    let mut pairs: Vec<PagePair<'_>> = Vec::new();
    let mut down: Vec<Down> = unusable
        .iter()
        .map(|(spec, error)| Down {
            service: None,
            resources: None,
            reading: Reading::Failed {
                error: error.clone(),
            },
            error: format!("{spec}: {error}"),
        })
        .collect();
    for t in targets {
        let Some(state) = board.get(t.target.name()) else {
            continue;
        };
        match state.health() {
            Health::Up => {
                let (Some(last), Some(prev)) = (&state.last, &state.previous) else {
                    continue;
                };
                let secs = last.at.duration_since(prev.at).as_secs_f64();
                if secs > 0.0 {
                    let by = Rates::by_label(&prev.page, &last.page, secs, "resource");
                    for r in resources_of(&last.page) {
                        let x = by.get(&r).cloned().unwrap_or_default();
                        rates.entry(r).or_default().add(&x);
                    }
                }
                pairs.push(PagePair {
                    instance: t.target.name(),
                    before: &prev.page,
                    after: &last.page,
                    seconds: secs,
                });
            }
            Health::Failed { error, .. } | Health::Down { error, .. } => {
                let since = last_good_ms.get(t.target.name()).copied();
                let reading = match (&state.last, since) {
                    (Some(_), Some(since_ms)) => Reading::Stale { since_ms },
                    _ => Reading::Failed {
                        error: error.clone(),
                    },
                };
                down.push(Down {
                    service: t.service.clone(),
                    resources: state.last.as_ref().map(|s| resources_of(&s.page)),
                    reading,
                    error,
                });
            }
        }
    }
    let sums = row_sums(plan, &rates);
    let mut readings = Readings::default();
    let mut errors = Errors::new();
    let mut row = |kind: TargetKind, id: &str, readings: &mut HashMap<String, Reading>| {
        if let Some(d) = down.iter().find(|d| d.touches(plan, kind, id)) {
            errors.insert((kind, id.to_owned()), d.error.clone());
            readings.insert(id.to_owned(), d.reading.clone());
            return;
        }
        let m = sums
            .get(&(kind, id))
            .map(Rates::figures)
            .map_or_else(Metrics::default, |f| Metrics {
                qps: f.qps,
                p99_ms: f.p99_ms,
                error_rate: f.error_rate,
            });
        readings.insert(id.to_owned(), Reading::Value(m));
    };
    for id in plan.entries.keys() {
        row(TargetKind::Entry, id, &mut readings.entries);
    }
    for id in plan.services.keys() {
        row(TargetKind::Service, id, &mut readings.services);
    }
    for id in plan.partners.keys() {
        row(TargetKind::Partner, id, &mut readings.partners);
    }
    // Funnel steps and query alerts: their PromQL over the pages
    // (`seawall_scrape::eval`). A shape the scrape cannot evaluate leaves
    // the row without a reading (missing, not zero) and its reason in
    // `errors`; no series is no data.
    let queried = plan
        .monitoring
        .funnel
        .iter()
        .map(|s| (TargetKind::FunnelStep, &s.name, &s.query))
        .chain(plan.monitoring.alerts.iter().filter_map(|(id, a)| {
            (a.metric == AlertMetric::Query).then_some((TargetKind::Query, id, a.query.as_ref()?))
        }));
    for (kind, id, query) in queried {
        let out = match kind {
            TargetKind::FunnelStep => &mut readings.funnel,
            _ => &mut readings.queries,
        };
        let value = eval::evaluate(query, &pairs);
        if let Err(reason) = &value {
            errors.insert((kind, id.clone()), reason.to_string());
        } else if let Some(d) = down.first() {
            errors.insert((kind, id.clone()), d.error.clone());
            out.insert(id.clone(), d.reading.clone());
        } else if let Ok(Some(v)) = value {
            let m = Metrics {
                qps: Some(v),
                ..Metrics::default()
            };
            out.insert(id.clone(), Reading::Value(m));
        }
    }
    (readings, errors)
}

/// One PromQL job: a row and its queries (qps, p99, error rate; funnel
/// steps and query alerts have one, read as `qps`).
struct Job {
    kind: TargetKind,
    id: String,
    queries: Result<Vec<String>, String>,
}

fn jobs(plan: &Plan) -> Vec<Job> {
    let mut out = Vec::new();
    let mut rows = |kind: TargetKind, subject: Subject, ids: Vec<&String>| {
        for id in ids {
            let queries = templates::plan_queries(plan, subject, id)
                .map(|q| vec![q.qps, q.p99_ms, q.error_rate])
                .map_err(|e| e.to_string());
            out.push(Job {
                kind,
                id: id.clone(),
                queries,
            });
        }
    };
    rows(
        TargetKind::Entry,
        Subject::Entry,
        plan.entries.keys().collect(),
    );
    rows(
        TargetKind::Service,
        Subject::Service,
        plan.services.keys().collect(),
    );
    rows(
        TargetKind::Partner,
        Subject::Partner,
        plan.partners.keys().collect(),
    );
    for step in &plan.monitoring.funnel {
        out.push(Job {
            kind: TargetKind::FunnelStep,
            id: step.name.clone(),
            queries: Ok(vec![step.query.clone()]),
        });
    }
    for (id, alert) in &plan.monitoring.alerts {
        if let (AlertMetric::Query, Some(q)) = (alert.metric, &alert.query) {
            out.push(Job {
                kind: TargetKind::Query,
                id: id.clone(),
                queries: Ok(vec![q.clone()]),
            });
        }
    }
    out
}

/// Runs one row's queries: its metrics, or the first error.
async fn run(client: PromClient, queries: Vec<String>, at_s: f64) -> Result<Metrics, String> {
    let mut values = [None; 3];
    for (slot, q) in values.iter_mut().zip(&queries) {
        let result = client
            .query(q, Some(at_s))
            .await
            .map_err(|e| e.to_string())?;
        *slot = result.single_value().filter(|v| !v.is_nan());
    }
    let [qps, p99_ms, error_rate] = values;
    Ok(Metrics {
        qps,
        p99_ms,
        error_rate,
    })
}

/// Most queries in flight at once against one Prometheus.
const PROM_CONCURRENCY: usize = 16;

/// One tick's readings from Prometheus: every row's queries at `at_s`
/// (Unix seconds), at most [`PROM_CONCURRENCY`] rows at once. A rejected
/// query or an unreachable server fails its row with the error's text;
/// an empty answer is no data.
pub(crate) async fn from_prometheus(
    plan: &Plan,
    client: &PromClient,
    at_s: f64,
) -> (Readings, Errors) {
    let mut readings = Readings::default();
    let mut errors = Errors::new();
    let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(PROM_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for job in jobs(plan) {
        let client = client.clone();
        let limit = std::sync::Arc::clone(&limit);
        set.spawn(async move {
            let result = match job.queries {
                Ok(queries) => match limit.acquire_owned().await {
                    Ok(_permit) => run(client, queries, at_s).await,
                    Err(e) => Err(e.to_string()),
                },
                Err(e) => Err(e),
            };
            (job.kind, job.id, result)
        });
    }
    while let Some(done) = set.join_next().await {
        let Ok((kind, id, result)) = done else {
            continue;
        };
        let reading = match result {
            Ok(m) => Reading::Value(m),
            Err(error) => {
                errors.insert((kind, id.clone()), error.clone());
                Reading::Failed { error }
            }
        };
        let map = match kind {
            TargetKind::Entry => &mut readings.entries,
            TargetKind::Service => &mut readings.services,
            TargetKind::Partner => &mut readings.partners,
            TargetKind::FunnelStep => &mut readings.funnel,
            TargetKind::Query => &mut readings.queries,
        };
        map.insert(id, reading);
    }
    (readings, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;
    use std::time::Duration;

    use seawall_scrape::scrape::{Outcome, TargetResult};

    /// The built-in scrape evaluates funnel steps and query alerts with
    /// PromQL's meaning over two pages; an unsupported shape is missing
    /// with its reason, never zero.
    #[test]
    fn funnel_steps_and_query_alerts_are_evaluated_over_scraped_pages() {
        let src = format!(
            "{}monitoring:\n  scrape: [\"127.0.0.1:9\"]\n  funnel:\n    - {{name: exposed, query: 'sum(rate(exposures_total[1m]))'}}\n    - {{name: redeemed, query: 'redeemed_total'}}\n    - {{name: p90, query: 'histogram_quantile(0.9, sum by (le) (rate(x_bucket[1m])))'}}\n  alerts:\n    drop: {{target: checkout, metric: query, above: 0.5, query: '1 - sum(rate(redeemed_total[5m])) / sum(rate(exposures_total[5m]))'}}\n",
            include_str!("../../../../../examples/minimal/plan.yaml")
        );
        let plan = seawall_plan::parse(&src, "plan.yaml").expect("plan");
        let target = Target::parse("127.0.0.1:9").expect("target");
        let targets = [Scraped {
            target: target.clone(),
            service: None,
        }];
        let t0 = tokio::time::Instant::now();
        let mut board = Board::default();
        for (at, text) in [
            (t0, "exposures_total 100\nredeemed_total 10\n"),
            (
                t0 + Duration::from_secs(5),
                "exposures_total 150\nredeemed_total 20\n",
            ),
        ] {
            board.record([TargetResult {
                target: target.name().to_owned(),
                at,
                took: Duration::from_millis(1),
                outcome: Outcome::Samples(Arc::new(
                    seawall_scrape::exposition::parse(text).expect("page"),
                )),
            }]);
        }
        let (readings, errors) = from_board(&plan, &targets, &[], &board, &HashMap::new());
        let value = |r: Option<&Reading>| r.and_then(|r| r.metrics()).and_then(|m| m.qps);
        assert_eq!(value(readings.funnel.get("exposed")), Some(10.0));
        // A bare name is the counter's value, as in PromQL.
        assert_eq!(value(readings.funnel.get("redeemed")), Some(20.0));
        assert_eq!(value(readings.queries.get("drop")), Some(1.0 - 2.0 / 10.0));
        assert!(!readings.funnel.contains_key("p90"), "missing, not zero");
        let reason = errors
            .get(&(TargetKind::FunnelStep, "p90".to_owned()))
            .expect("a reason");
        assert!(reason.contains("histogram_quantile"), "{reason}");
    }
}
