//! The event day in the control plane: every scrape interval, for each
//! event whose current plan has a `monitoring` section or sidecars that
//! report an admin address, read the metric source (the built-in scrape
//! of the sidecars' `/metrics`, or Prometheus when
//! `monitoring.prometheus_url` is set), evaluate the tick with
//! `seawall-monitor`, store the alert transitions (audited) with the
//! alert states and the telemetry history, and keep the latest live view
//! in memory for the API and the pages (`docs/monitoring.md#control-plane`).
//!
//! Why here and not in a crate of its own: the tick needs the store, the
//! server's clock, the parsed-plan cache and the measured capacities, all
//! of which the service layer already holds; `seawall-monitor` stays pure
//! and `seawall-scrape` knows no plan.
//!
//! Time is the server's clock ([`AppState::now`]): the background loop
//! calls [`tick`] with it every interval, and tests call [`tick`]
//! themselves with a `ManualClock`'s time, so no test waits for a timer.
//! Alert states are restored from the store when an event's evaluator is
//! made (a restart, a new plan version, a new run), so a firing alert is
//! neither lost nor fired twice.

pub mod admission;
pub mod alertmanager;
pub mod registry;
mod series;
mod sources;

use std::collections::HashMap;
use std::sync::Arc;

use seawall_monitor::history::{History, TIERS};
use seawall_monitor::sample::TargetKind;
use seawall_monitor::{Config as EvalConfig, Evaluator, LiveView};
use seawall_plan::Plan;
use seawall_scrape::scrape::{Board, Outcome, Target};
use seawall_scrape::{PromClient, PromConfig};
use seawall_store::{Ctx, Event, HistoryPoint, Millis, SidecarReport};

use crate::error::ApiError;
use crate::state::AppState;

pub use registry::{
    ACTOR, DEFAULT_SCRAPE_INTERVAL, MIN_SCRAPE_INTERVAL, Monitor, MonitorOptions, Published,
};
use registry::{EventMonitor, Inputs};
use series::api_kind;
pub use series::history;
pub use sources::Errors;
use sources::Scraped;

/// Whether the plan asks to be watched: a `monitoring` section with
/// anything in it.
fn has_monitoring(plan: &Plan) -> bool {
    let m = &plan.monitoring;
    m.prometheus_url.is_some()
        || !m.scrape.is_empty()
        || !m.queries.is_empty()
        || !m.funnel.is_empty()
        || !m.alerts.is_empty()
}

/// Milliseconds as the monitor's `u64` (times before 1970 are 0).
fn ms(at: Millis) -> u64 {
    u64::try_from(at).unwrap_or(0)
}

/// The scrape targets of a plan: its static `monitoring.scrape` list
/// (unparsable ones apart, with their error) and the admin addresses its
/// services' sidecars reported.
async fn targets(
    state: &AppState,
    plan: &Plan,
) -> Result<(Vec<Scraped>, Vec<(String, String)>), ApiError> {
    let mut out: Vec<Scraped> = Vec::new();
    let mut unusable = Vec::new();
    for spec in &plan.monitoring.scrape {
        match Target::parse(spec) {
            Ok(target) => out.push(Scraped {
                target,
                service: None,
            }),
            Err(e) => unusable.push((spec.clone(), e.to_string())),
        }
    }
    // One query for every service's sidecars (one per service cost a tick
    // some 500 queries at 1,000 series), in the plan's service order.
    let mut reports: Vec<(usize, SidecarReport)> = state
        .store
        .sidecar_admin_reports()
        .await?
        .into_iter()
        .filter_map(|r| Some((plan.services.get_index_of(&r.service)?, r)))
        .collect();
    reports.sort_by_key(|(i, _)| *i);
    for (_, report) in reports {
        let Some(addr) = report.admin_addr else {
            continue;
        };
        if let Err(why) = admission::still_admitted(&addr, &state.monitor().options.scrape_allow) {
            unusable.push((addr, why.to_string()));
            continue;
        }
        if out.iter().any(|s| s.target.name() == addr) {
            continue;
        }
        match Target::parse(&addr) {
            Ok(target) => out.push(Scraped {
                target,
                service: Some(report.service),
            }),
            Err(e) => unusable.push((addr, e.to_string())),
        }
    }
    Ok((out, unusable))
}

/// The event's monitor, made (or remade, with the alert states restored
/// from the store) when its plan version or its runs changed. `None` when
/// the event has no plan.
async fn engine<'a>(
    state: &AppState,
    engines: &'a mut HashMap<i64, EventMonitor>,
    event: &Event,
) -> Result<Option<&'a mut EventMonitor>, ApiError> {
    let Some(latest) = state.store.plan_versions(event.id).await?.last().cloned() else {
        engines.remove(&event.id);
        return Ok(None);
    };
    let runs: Vec<i64> = state
        .store
        .runs(event.id)
        .await?
        .iter()
        .map(|r| r.id)
        .collect();
    let inputs = Inputs {
        plan_version: latest.version,
        runs,
    };
    if engines.get(&event.id).is_none_or(|m| m.inputs != inputs) {
        let analysed =
            crate::service::plans::analysed(state, &event.slug, Some(inputs.plan_version)).await?;
        let options = &state.monitor().options;
        let config = EvalConfig {
            scrape_interval_ms: u64::try_from(options.interval().as_millis()).unwrap_or(u64::MAX),
            ..EvalConfig::default()
        };
        let mut evaluator = Evaluator::new(&analysed.plan, &analysed.measured, config);
        if let Some(snapshot) = state.store.alert_snapshot(event.id).await? {
            evaluator.restore_alerts(&snapshot);
        }
        let prometheus = analysed.plan.monitoring.prometheus_url.as_ref().map(|url| {
            let mut config = PromConfig::new(url.clone());
            config.timeout = options.interval().min(config.timeout);
            PromClient::new(config).map_err(|e| e.to_string())
        });
        let (board, last_good_ms, history, pushed) = match engines.remove(&event.id) {
            // The sources' memory and the history outlive a new plan version.
            Some(old) => (old.board, old.last_good_ms, old.history, old.pushed),
            None => (
                Board::default(),
                HashMap::new(),
                History::new(ms(event.created_ms)),
                HashMap::new(),
            ),
        };
        engines.insert(
            event.id,
            EventMonitor {
                inputs,
                plan: analysed.plan,
                evaluator,
                history,
                board,
                last_good_ms,
                prometheus,
                pushed,
            },
        );
    }
    Ok(engines.get_mut(&event.id))
}

/// One tick for every watched event at `now` (the server's clock): read
/// the sources, evaluate, store transitions, states and history, publish
/// the live view. An event that fails is logged and the others go on.
pub async fn tick(state: &AppState, now: Millis) -> Result<(), ApiError> {
    let monitor = state.monitor();
    let mut engines = monitor.engines.lock().await;
    for event in state.store.events().await? {
        if let Err(e) = tick_event(state, &mut engines, &event, now).await {
            tracing::warn!(event = %event.slug, "monitoring tick failed: {e}");
        }
    }
    Ok(())
}

async fn tick_event(
    state: &AppState,
    engines: &mut HashMap<i64, EventMonitor>,
    event: &Event,
    now: Millis,
) -> Result<(), ApiError> {
    let Some(m) = engine(state, engines, event).await? else {
        return Ok(());
    };
    let plan = Arc::clone(&m.plan);
    let now_ms = ms(now);
    let (readings, errors) = match &m.prometheus {
        Some(Ok(client)) => sources::from_prometheus(&plan, client, now as f64 / 1000.0).await,
        Some(Err(error)) => failed_everywhere(&plan, error),
        None => {
            let (targets, unusable) = targets(state, &plan).await?;
            if targets.is_empty() && unusable.is_empty() && !has_monitoring(&plan) {
                return Ok(());
            }
            let list: Vec<Target> = targets.iter().map(|s| s.target.clone()).collect();
            let results = state
                .monitor()
                .scraper
                .scrape_all(&list, tokio::time::Instant::now())
                .await;
            for r in &results {
                if matches!(r.outcome, Outcome::Samples(_)) {
                    m.last_good_ms.insert(r.target.clone(), now_ms);
                }
            }
            m.board.retain(&list);
            m.last_good_ms
                .retain(|name, _| list.iter().any(|t| t.name() == name));
            m.board.record(results);
            sources::from_board(&plan, &targets, &unusable, &m.board, &m.last_good_ms)
        }
    };
    let out = m.evaluator.evaluate(&readings, now_ms);
    crate::service::emergency::on_readings(state, event, &plan, &out.live, now_ms).await;
    out.live.record(&mut m.history);
    let ctx = Ctx::new(ACTOR, now);
    if !out.transitions.is_empty() {
        state
            .store
            .record_alerts(
                &ctx,
                event.id,
                &out.transitions,
                &m.evaluator.alert_snapshot(),
            )
            .await?;
        crate::service::emergency::on_transitions(state, event, &plan, &out.transitions).await;
        crate::service::incidents::on_transitions(state, event, &plan, &out.transitions).await;
    }
    if let Some(url) = &state.monitor().options.alertmanager {
        let interval_ms =
            u64::try_from(state.monitor().options.interval().as_millis()).unwrap_or(u64::MAX);
        push_alerts(url, &event.slug, m, &out.transitions, now_ms, interval_ms).await;
    }
    let points = history_points(&out.live, &m.history);
    state.store.put_history(event.id, &points).await?;
    state.monitor().publish(
        event.id,
        Published {
            alerts: m.evaluator.alerts(true),
            live: out.live,
            errors,
        },
    );
    Ok(())
}

/// Sends Alertmanager what changed for it: alerts that fired (and, every
/// [`alertmanager::RESEND_MS`], those still firing), and the resolution of
/// those it was sent. A failed push is logged and tried again next tick.
async fn push_alerts(
    url: &str,
    slug: &str,
    m: &mut EventMonitor,
    transitions: &[seawall_monitor::Transition],
    now_ms: u64,
    interval_ms: u64,
) {
    use alertmanager::{Outgoing, RESEND_MS, postable};
    let mut out = Vec::new();
    let mut sent = Vec::new();
    let mut resolved = Vec::new();
    for t in transitions {
        let seawall_monitor::alert::State::Resolved { at_ms } = t.state else {
            continue;
        };
        if let Some(&(fired_ms, _)) = m.pushed.get(&t.rule) {
            out.push(postable(
                &Outgoing {
                    event: slug,
                    rule: &t.rule,
                    target: (t.target.kind.as_str(), &t.target.id),
                    metric: t.signal.as_str(),
                    severity: t.severity.as_str(),
                    value: Some(t.value),
                    threshold: t.threshold,
                    fired_ms,
                    resolved_ms: Some(at_ms),
                },
                now_ms,
                interval_ms,
            ));
            resolved.push(t.rule.clone());
        }
    }
    for a in m.evaluator.alerts(false) {
        if a.state != "firing" || a.inhibited_by.is_some() {
            continue;
        }
        let fired_ms = a.since.unwrap_or(now_ms);
        let due = m
            .pushed
            .get(&a.id)
            .is_none_or(|&(_, last)| now_ms.saturating_sub(last) >= RESEND_MS);
        if !due {
            continue;
        }
        out.push(postable(
            &Outgoing {
                event: slug,
                rule: &a.id,
                target: (a.target.kind.as_str(), &a.target.id),
                metric: a.metric,
                severity: a.severity.as_str(),
                value: a.value,
                threshold: a.threshold,
                fired_ms,
                resolved_ms: None,
            },
            now_ms,
            interval_ms,
        ));
        sent.push((a.id.clone(), fired_ms));
    }
    match alertmanager::push(url, &out).await {
        Ok(()) => {
            for rule in resolved {
                m.pushed.remove(&rule);
            }
            for (rule, fired_ms) in sent {
                m.pushed.insert(rule, (fired_ms, now_ms));
            }
        }
        Err(e) => tracing::warn!(event = %slug, "{e}"),
    }
}

/// Every row failed with `error` (a Prometheus URL that cannot be used).
fn failed_everywhere(plan: &Plan, error: &str) -> (seawall_monitor::Readings, Errors) {
    let mut readings = seawall_monitor::Readings::default();
    let mut errors = Errors::new();
    let failed = || seawall_monitor::Reading::Failed {
        error: error.to_owned(),
    };
    let kinds = [
        (
            TargetKind::Entry,
            plan.entries.keys().cloned().collect::<Vec<_>>(),
        ),
        (TargetKind::Service, plan.services.keys().cloned().collect()),
        (TargetKind::Partner, plan.partners.keys().cloned().collect()),
        (
            TargetKind::FunnelStep,
            plan.monitoring
                .funnel
                .iter()
                .map(|s| s.name.clone())
                .collect(),
        ),
    ];
    for (kind, ids) in kinds {
        for id in ids {
            errors.insert((kind, id.clone()), error.to_owned());
            let map = match kind {
                TargetKind::Entry => &mut readings.entries,
                TargetKind::Service => &mut readings.services,
                TargetKind::Partner => &mut readings.partners,
                _ => &mut readings.funnel,
            };
            map.insert(id, failed());
        }
    }
    (readings, errors)
}

/// The open point of every tier of every series this tick fed: written
/// again as it fills (an upsert in its slot), so the store always holds
/// each point's latest aggregate.
fn history_points(live: &LiveView, history: &History) -> Vec<HistoryPoint> {
    let mut out = Vec::new();
    for (kind, id, _) in live.samples() {
        let Some(series) = history.get(kind, id) else {
            continue;
        };
        for tier in 0..TIERS.len() {
            if let (Some(point), Ok(tier)) = (series.open(tier), u8::try_from(tier)) {
                out.push(HistoryPoint {
                    kind,
                    target: id.to_owned(),
                    tier,
                    point,
                });
            }
        }
    }
    out
}

/// The event's latest tick; before the first one, its alerts as stored
/// (restored into an evaluator of its current plan) and no live rows. On
/// a replica that does not evaluate (`service::leader`), always the
/// alerts as stored now: nothing is kept, since the evaluator replica
/// moves them on.
pub async fn current(state: &AppState, event: &Event) -> Result<Arc<Published>, ApiError> {
    if let Some(p) = state.monitor().published(event.id) {
        return Ok(p);
    }
    let mut engines = state.monitor().engines.lock().await;
    if let Some(p) = state.monitor().published(event.id) {
        return Ok(p);
    }
    let mut scratch = HashMap::new();
    let engines = if state.monitor().leadership().is_leader() {
        &mut *engines
    } else {
        &mut scratch
    };
    let alerts = match engine(state, engines, event).await? {
        Some(m) => m.evaluator.alerts(true),
        None => Vec::new(),
    };
    Ok(Arc::new(Published {
        live: LiveView {
            at_ms: 0,
            entries: Vec::new(),
            services: Vec::new(),
            partners: Vec::new(),
            funnel: Vec::new(),
        },
        errors: Errors::new(),
        alerts,
    }))
}

/// The API's shape of a tick's alerts.
pub fn alert_list(p: &Published) -> seawall_api::monitoring::AlertList {
    use seawall_api::monitoring as api;
    let alerts = p
        .alerts
        .iter()
        .filter_map(|a| {
            let state = match a.state {
                "pending" => api::AlertState::Pending,
                "firing" => api::AlertState::Firing,
                "resolved" => api::AlertState::Resolved,
                _ => return None,
            };
            Some(api::Alert {
                id: a.id.clone(),
                target: api::AlertTarget {
                    kind: api_kind(a.target.kind),
                    id: a.target.id.clone(),
                },
                metric: a.metric.to_owned(),
                severity: match a.severity {
                    seawall_monitor::Severity::Page => api::AlertSeverity::Page,
                    seawall_monitor::Severity::Ticket => api::AlertSeverity::Ticket,
                    seawall_monitor::Severity::Warn => api::AlertSeverity::Warn,
                    seawall_monitor::Severity::Critical => api::AlertSeverity::Critical,
                },
                state,
                value: a.value.filter(|v| v.is_finite()),
                threshold: a.threshold,
                since: a.since.and_then(|t| i64::try_from(t).ok()),
                inhibited_by: a.inhibited_by.clone(),
            })
        })
        .collect();
    api::AlertList { alerts }
}

/// The API's shape of a tick's live view; stale and failed rows carry
/// their source's error.
pub fn live_view(p: &Published) -> seawall_api::monitoring::LiveView {
    use seawall_api::monitoring as api;
    use seawall_monitor::eval::SourceState;
    use seawall_plan::capacity::Status;
    let finite = |v: Option<f64>| v.filter(|x| x.is_finite());
    let rows = |kind: TargetKind, rows: &[seawall_monitor::LiveRow]| -> Vec<api::LiveRow> {
        rows.iter()
            .map(|r| api::LiveRow {
                id: r.id.clone(),
                qps: finite(r.qps),
                capacity_qps: finite(r.capacity_qps),
                water_level: finite(r.water_level),
                p99_ms: finite(r.p99_ms),
                error_rate: finite(r.error_rate),
                status: match r.status {
                    Status::Ok => api::LiveStatus::Ok,
                    Status::Warn => api::LiveStatus::Warn,
                    Status::Critical => api::LiveStatus::Critical,
                    Status::Unknown => api::LiveStatus::Unknown,
                },
                source: match r.source {
                    SourceState::Ok => api::SourceState::Ok,
                    SourceState::Stale => api::SourceState::Stale,
                    SourceState::Failed => api::SourceState::Failed,
                    SourceState::Missing => api::SourceState::Missing,
                },
                error: r
                    .error
                    .clone()
                    .or_else(|| p.errors.get(&(kind, r.id.clone())).cloned())
                    // Missing: why the built-in scrape cannot evaluate it.
                    .filter(|_| r.source != SourceState::Ok),
                updated_at: r.updated_at.and_then(|t| i64::try_from(t).ok()),
                target_qps: finite(r.target_qps),
                traffic_ratio: finite(r.traffic_ratio),
                time_to_critical_s: finite(r.time_to_critical_s),
                burn_rate: finite(r.burn_rate),
                sla_ratio: finite(r.sla_ratio),
                conversion: finite(r.conversion),
                planned_conversion: finite(r.planned_conversion),
            })
            .collect()
    };
    api::LiveView {
        at: (p.live.at_ms > 0)
            .then(|| i64::try_from(p.live.at_ms).ok())
            .flatten(),
        entries: rows(TargetKind::Entry, &p.live.entries),
        services: rows(TargetKind::Service, &p.live.services),
        partners: rows(TargetKind::Partner, &p.live.partners),
        funnel: rows(TargetKind::FunnelStep, &p.live.funnel),
    }
}

/// Ticks every interval until the server shuts down.
///
/// Each tick is judged at the instant it was due, as Prometheus stamps a
/// rule group's evaluation with its scheduled time: a tick that starts a
/// few milliseconds late would otherwise see a `for` of one interval as
/// not yet over, and fire a whole interval later.
pub(crate) async fn run(state: AppState) {
    let mut ticks = tokio::time::interval(state.monitor().options.interval());
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            due = ticks.tick() => {
                let late = tokio::time::Instant::now().saturating_duration_since(due);
                let late_ms = Millis::try_from(late.as_millis()).unwrap_or(0);
                if let Err(e) = tick(&state, state.now().saturating_sub(late_ms)).await {
                    tracing::warn!("monitoring tick failed: {e}");
                }
            }
            () = state.shutting_down() => return,
        }
    }
}
