//! Rehearsal results at `/ui/events/{slug}/rehearsals`: the event's
//! uploaded runs (`seawall.run/v1`, as `seawall rehearse --out` writes
//! them and `POST /api/v1/events/{slug}/runs` stores them), newest first;
//! one run's charts (achieved rate and latency percentiles per second per
//! entry, the capacity search's steps with each entry's knee); and two
//! runs side by side (`…/rehearsals/compare?a=ID&b=ID`).
//!
//! The run document is read leniently here (every field optional): the
//! control plane stores what was uploaded, checked only for the parts the
//! analyses use (`api::runs::check`), and a page must show what a run has
//! rather than refuse it for what it lacks.

use askama::Template;
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Html;
use axum::routing::get;
use serde::Deserialize;

use super::chart::{LineChart, Marker, Markup, Point, Series, fin, fmt_num};
use super::chrome::fmt_ms;
use super::{Chrome, Nav, Session, UiError, render};
use crate::auth::READERS;
use crate::error::ApiError;
use crate::service::gate::current_plan;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events/{slug}/rehearsals", get(list))
        .route("/events/{slug}/rehearsals/compare", get(compare))
        .route("/events/{slug}/rehearsals/{id}", get(detail))
}

/// The parts of a `seawall.run/v1` document the pages show.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RunView {
    /// Scenario.
    pub scenario: String,
    /// Test-tag run id.
    pub run_id: Option<String>,
    /// Start, RFC 3339.
    pub started: Option<String>,
    /// Seconds of arrivals.
    pub duration_s: f64,
    /// `fixed`, `stages`, `search`.
    pub mode: Option<String>,
    /// `completed`, `slo_failed`, `aborted`.
    pub outcome: Option<String>,
    /// Requests over all entries.
    pub requests: u64,
    /// Failures over all entries.
    pub errors: u64,
    /// Dropped arrivals.
    pub dropped: u64,
    /// Per entry.
    pub entries: Vec<EntryView>,
    /// Guards that broke.
    pub guard_events: Vec<GuardView>,
    /// Capacity search.
    pub search: Option<SearchView>,
}

/// One entry of a run.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EntryView {
    /// Entry id.
    pub id: String,
    /// Service.
    pub service: String,
    /// Plan target, QPS.
    pub target_qps: f64,
    /// Intended QPS.
    pub intended_qps: f64,
    /// Requests.
    pub requests: u64,
    /// Achieved requests per second.
    pub achieved_rps: f64,
    /// Errors.
    pub errors: ErrorsView,
    /// Latency summary (ms).
    pub latency_ms: LatencyView,
    /// SLO.
    pub slo: Option<SloView>,
    /// Whether the SLO held.
    pub slo_held: Option<bool>,
    /// Knee, QPS.
    pub knee_qps: Option<f64>,
    /// Highest rate that held, QPS.
    pub held_qps: Option<f64>,
    /// Lower bound of capacity when the search was generator-bound, QPS.
    pub lower_bound_qps: Option<f64>,
    /// Per second.
    pub series: Vec<SecondView>,
}

/// Error counts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ErrorsView {
    /// All failures.
    pub total: u64,
}

/// Latency summary in ms.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LatencyView {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
}

/// An entry's objective.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SloView {
    /// p99 bound, ms.
    pub p99_ms: Option<f64>,
    /// Error-rate bound.
    pub error_rate: Option<f64>,
}

/// One second of one entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SecondView {
    /// Seconds since the start.
    pub t_s: u64,
    /// Requests completed in the second.
    pub rate: u64,
    /// Failures.
    pub errors: u64,
    /// Median latency, ms.
    pub p50: f64,
    /// p99 latency, ms.
    pub p99: f64,
}

/// A guard that broke.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct GuardView {
    /// Seconds since the start.
    pub t_s: f64,
    /// `abort` or `step_failed`.
    pub action: String,
    /// For people.
    pub message: String,
}

/// A capacity search.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SearchView {
    /// Steps in order.
    pub steps: Vec<StepView>,
    /// Highest multiple that held.
    pub knee_multiple: Option<f64>,
    /// Highest multiple that held when the generator was the limit.
    pub lower_bound_multiple: Option<f64>,
    /// Lowest multiple that broke.
    pub broken_multiple: Option<f64>,
    /// Whether the hold confirmed the knee.
    pub confirmed: bool,
    /// Entries that broke first.
    pub bottlenecks: Vec<String>,
    /// Why it stopped.
    pub stopped: String,
}

/// One search step.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StepView {
    /// `step`, `bisect`, `hold`.
    pub kind: String,
    /// Rate multiple.
    pub multiple: f64,
    /// Start, s.
    pub start_s: f64,
    /// Length, s.
    pub duration_s: f64,
    /// Whether every entry held.
    pub held: bool,
    /// Per entry.
    pub entries: Vec<StepEntryView>,
}

/// One entry during one step.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StepEntryView {
    /// Entry id.
    pub id: String,
    /// Achieved requests per second.
    pub achieved_rps: f64,
    /// Error rate.
    pub error_rate: f64,
    /// p99, ms.
    pub p99_ms: f64,
    /// SLO held.
    pub held: Option<bool>,
}

/// `errors / requests`, 0 without requests.
pub fn error_rate(errors: u64, requests: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        errors as f64 / requests as f64
    }
}

/// A ratio as a percentage: `0.12 %`, `3.4 %`.
pub fn fmt_pct(ratio: f64) -> String {
    format!("{} %", fmt_num(fin(ratio) * 100.0))
}

/// One run as stored, with its document read.
struct Loaded {
    info: seawall_store::RunInfo,
    doc: Result<RunView, String>,
}

async fn load_run(
    state: &AppState,
    event: &seawall_store::Event,
    id: i64,
) -> Result<Loaded, UiError> {
    match state.store.run(id).await? {
        Some(run) if run.info.event_id == event.id => Ok(Loaded {
            doc: serde_json::from_str::<RunView>(&run.json).map_err(|e| e.to_string()),
            info: run.info,
        }),
        _ => Err(UiError(ApiError::not_found(format!(
            "run {id} of event `{}`; the event's runs are listed at /ui/events/{}/rehearsals",
            event.slug, event.slug
        )))),
    }
}

fn parse_id(text: &str) -> Result<i64, UiError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| {
            UiError(ApiError::bad_request(
                "bad_run_id",
                format!("run id {text:?} is not a number; run ids are whole numbers like 3"),
            ))
        })
}

async fn event_tz(state: &AppState, event: &seawall_store::Event) -> Result<String, UiError> {
    Ok(current_plan(state, event)
        .await?
        .map_or_else(|| "UTC".to_owned(), |(_, p)| p.event.timezone.clone()))
}

/// A run in the list.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// Store id.
    pub id: i64,
    /// Scenario.
    pub scenario: String,
    /// Start (or upload) time, event zone.
    pub when: String,
    /// Duration.
    pub duration: String,
    /// Requests.
    pub requests: u64,
    /// Error rate.
    pub error_rate: String,
    /// Error rate above 1 %.
    pub errors_high: bool,
    /// Outcome.
    pub outcome: String,
    /// `entry knee` pairs.
    pub knees: Vec<(String, String)>,
    /// Uploader.
    pub by: String,
    /// Plan version at upload.
    pub plan_version: String,
    /// Why the document cannot be shown, if it cannot.
    pub unreadable: Option<String>,
}

fn started_ms(doc: &RunView) -> Option<i64> {
    doc.started
        .as_deref()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
        .map(|t| t.as_millisecond())
}

fn run_row(l: &Loaded, tz: &str) -> RunRow {
    let info = &l.info;
    let mut row = RunRow {
        id: info.id,
        scenario: info.scenario.clone(),
        when: fmt_ms(info.uploaded_ms, tz),
        duration: String::new(),
        requests: 0,
        error_rate: String::new(),
        errors_high: false,
        outcome: String::new(),
        knees: Vec::new(),
        by: info.uploaded_by.clone(),
        plan_version: info.plan_version.map(|v| v.to_string()).unwrap_or_default(),
        unreadable: None,
    };
    match &l.doc {
        Ok(doc) => {
            if let Some(ms) = started_ms(doc) {
                row.when = fmt_ms(ms, tz);
            }
            row.duration = format!("{} s", fmt_num(doc.duration_s));
            row.requests = doc.requests;
            let rate = error_rate(doc.errors, doc.requests);
            row.error_rate = fmt_pct(rate);
            row.errors_high = rate > 0.01;
            row.outcome = doc.outcome.clone().unwrap_or_default();
            row.knees = doc
                .entries
                .iter()
                .filter_map(|e| {
                    e.knee_qps
                        .map(|k| (e.id.clone(), format!("{} /s", fmt_num(k))))
                        .or_else(|| {
                            e.lower_bound_qps.map(|k| {
                                (
                                    e.id.clone(),
                                    format!("≥ {} /s, generator-bound", fmt_num(k)),
                                )
                            })
                        })
                })
                .collect();
        }
        Err(e) => row.unreadable = Some(e.clone()),
    }
    row
}

#[derive(Template)]
#[template(path = "rehearsals.html")]
struct ListPage {
    chrome: Chrome,
    runs: Vec<RunRow>,
}

async fn list(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let (chrome, event) = Chrome::event(&state, &session, &slug, Nav::Rehearsals).await?;
    let tz = event_tz(&state, &event).await?;
    let mut runs = Vec::new();
    for info in state.store.runs(event.id).await?.into_iter().rev() {
        let l = load_run(&state, &event, info.id).await?;
        runs.push(run_row(&l, &tz));
    }
    render(&ListPage { chrome, runs })
}

/// An entry's line in the detail table.
#[derive(Debug, Clone)]
pub struct EntryRow {
    /// Entry id.
    pub id: String,
    /// Service.
    pub service: String,
    /// Target, intended and achieved QPS.
    pub target: String,
    /// Intended.
    pub intended: String,
    /// Achieved.
    pub achieved: String,
    /// Requests.
    pub requests: u64,
    /// Error rate.
    pub error_rate: String,
    /// p50, p90, p99, p99.9 (ms).
    pub latency: [String; 4],
    /// SLO text.
    pub slo: String,
    /// `held`, `broken`, ``.
    pub held: Option<bool>,
    /// Knee.
    pub knee: String,
    /// Highest held rate.
    pub held_qps: String,
}

fn entry_row(e: &EntryView) -> EntryRow {
    let slo = e
        .slo
        .as_ref()
        .map(|s| {
            let mut parts = Vec::new();
            if let Some(p) = s.p99_ms {
                parts.push(format!("p99 ≤ {} ms", fmt_num(p)));
            }
            if let Some(r) = s.error_rate {
                parts.push(format!("errors ≤ {}", fmt_pct(r)));
            }
            parts.join(", ")
        })
        .unwrap_or_default();
    let l = &e.latency_ms;
    EntryRow {
        id: e.id.clone(),
        service: e.service.clone(),
        target: fmt_num(e.target_qps),
        intended: fmt_num(e.intended_qps),
        achieved: fmt_num(e.achieved_rps),
        requests: e.requests,
        error_rate: fmt_pct(error_rate(e.errors.total, e.requests)),
        latency: [l.p50, l.p90, l.p99, l.p999].map(fmt_num),
        slo,
        held: e.slo_held,
        knee: match (e.knee_qps, e.lower_bound_qps) {
            (Some(k), _) => fmt_num(k),
            (None, Some(k)) => format!("≥ {} (generator-bound)", fmt_num(k)),
            (None, None) => String::new(),
        },
        held_qps: e.held_qps.map(fmt_num).unwrap_or_default(),
    }
}

/// A series of one entry's per-second values.
fn per_second(
    e: &EntryView,
    name: String,
    color: usize,
    dashed: bool,
    value: impl Fn(&SecondView) -> f64,
    unit: &str,
) -> Series {
    Series {
        points: e
            .series
            .iter()
            .map(|p| {
                let v = value(p);
                Point {
                    x: p.t_s as f64,
                    y: v,
                    title: format!("{name} at {} s: {} {unit}", p.t_s, fmt_num(v)),
                }
            })
            .collect(),
        name,
        color,
        dashed,
        dots: false,
    }
}

/// Achieved rate over time, one line per entry, each knee marked.
pub fn rate_chart(run: &RunView) -> LineChart {
    let mut c = LineChart::new(
        "rate-chart",
        "Achieved rate per entry over time",
        "time since start (s)",
        "requests/s",
    );
    for (i, e) in run.entries.iter().enumerate() {
        c.series.push(per_second(
            e,
            e.id.clone(),
            i,
            false,
            |p| p.rate as f64,
            "req/s",
        ));
        if let Some(k) = e.knee_qps {
            c.markers.push(Marker {
                vertical: false,
                at: k,
                label: format!("knee {} {} /s", e.id, fmt_num(k)),
                class: "stroke-critical",
            });
        }
    }
    c
}

/// One entry's latency percentiles over time (the per-second series holds
/// p50 and p99), its SLO's p99 bound marked.
pub fn latency_chart(e: &EntryView) -> LineChart {
    let mut c = LineChart::new(
        &format!("latency-{}", e.id),
        &format!("Latency of {} over time", e.id),
        "time since start (s)",
        "latency (ms)",
    );
    c.series
        .push(per_second(e, "p50".into(), 0, false, |p| p.p50, "ms"));
    c.series
        .push(per_second(e, "p99".into(), 2, false, |p| p.p99, "ms"));
    if let Some(bound) = e.slo.as_ref().and_then(|s| s.p99_ms) {
        c.markers.push(Marker {
            vertical: false,
            at: bound,
            label: format!("SLO p99 {} ms", fmt_num(bound)),
            class: "stroke-warn",
        });
    }
    c
}

/// The capacity search: achieved rate per entry at each step's rate
/// multiple (dots; broken steps named in the tooltip), the knee multiple
/// and each entry's knee marked.
pub fn search_chart(run: &RunView) -> Option<LineChart> {
    let search = run.search.as_ref()?;
    if search.steps.is_empty() {
        return None;
    }
    let mut c = LineChart::new(
        "search-chart",
        "Capacity search steps",
        "rate multiple of the plan's targets (×)",
        "requests/s",
    );
    for (i, e) in run.entries.iter().enumerate() {
        let mut points: Vec<Point> = search
            .steps
            .iter()
            .filter_map(|s| {
                s.entries.iter().find(|se| se.id == e.id).map(|se| Point {
                    x: s.multiple,
                    y: se.achieved_rps,
                    title: format!(
                        "{} {} at {}×: {} req/s, p99 {} ms, errors {} — {}",
                        s.kind,
                        e.id,
                        fmt_num(s.multiple),
                        fmt_num(se.achieved_rps),
                        fmt_num(se.p99_ms),
                        fmt_pct(se.error_rate),
                        match se.held {
                            Some(true) => "held",
                            Some(false) => "broken",
                            None => "no SLO",
                        }
                    ),
                })
            })
            .collect();
        points.sort_by(|a, b| a.x.total_cmp(&b.x));
        c.series.push(Series {
            name: e.id.clone(),
            color: i,
            dashed: false,
            dots: true,
            points,
        });
        if let Some(k) = e.knee_qps {
            c.markers.push(Marker {
                vertical: false,
                at: k,
                label: format!("knee {} {} /s", e.id, fmt_num(k)),
                class: "stroke-critical",
            });
        }
    }
    if let Some(m) = search.knee_multiple {
        c.markers.push(Marker {
            vertical: true,
            at: m,
            label: format!("knee {}×", fmt_num(m)),
            class: "stroke-ok",
        });
    }
    if let Some(m) = search.broken_multiple {
        c.markers.push(Marker {
            vertical: true,
            at: m,
            label: format!("broke {}×", fmt_num(m)),
            class: "stroke-critical",
        });
    }
    Some(c)
}

/// A search step in the table.
#[derive(Debug, Clone)]
pub struct StepRow {
    /// Kind.
    pub kind: String,
    /// Multiple.
    pub multiple: String,
    /// Start.
    pub start: String,
    /// Length.
    pub duration: String,
    /// Held.
    pub held: bool,
    /// Entries that broke.
    pub broken: Vec<String>,
}

#[derive(Template)]
#[template(path = "rehearsals_run.html")]
struct DetailPage {
    chrome: Chrome,
    id: i64,
    when: String,
    by: String,
    facts: Vec<(&'static str, String)>,
    entries: Vec<EntryRow>,
    rate_chart: Option<Markup>,
    latency_charts: Vec<(String, Markup)>,
    search_chart: Option<Markup>,
    steps: Vec<StepRow>,
    search_summary: Option<String>,
    guards: Vec<String>,
    others: Vec<(i64, String)>,
    unreadable: Option<String>,
}

async fn detail(
    State(state): State<AppState>,
    session: Session,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let id = parse_id(&id)?;
    let (mut chrome, event) = Chrome::event(&state, &session, &slug, Nav::Rehearsals).await?;
    let l = load_run(&state, &event, id).await?;
    let tz = event_tz(&state, &event).await?;
    let row = run_row(&l, &tz);
    chrome.title = format!("Rehearsal run {} · {}", l.info.id, l.info.scenario);
    let others = state
        .store
        .runs(event.id)
        .await?
        .into_iter()
        .rev()
        .filter(|r| r.id != l.info.id)
        .map(|r| (r.id, format!("#{} {}", r.id, r.scenario)))
        .collect();
    let mut page = DetailPage {
        chrome,
        id: l.info.id,
        when: row.when.clone(),
        by: row.by.clone(),
        facts: Vec::new(),
        entries: Vec::new(),
        rate_chart: None,
        latency_charts: Vec::new(),
        search_chart: None,
        steps: Vec::new(),
        search_summary: None,
        guards: Vec::new(),
        others,
        unreadable: row.unreadable.clone(),
    };
    if let Ok(doc) = &l.doc {
        page.facts = vec![
            ("mode", doc.mode.clone().unwrap_or_default()),
            ("outcome", doc.outcome.clone().unwrap_or_default()),
            ("duration", row.duration.clone()),
            ("requests", doc.requests.to_string()),
            ("errors", format!("{} ({})", doc.errors, row.error_rate)),
            ("dropped", doc.dropped.to_string()),
            (
                "test tag",
                doc.run_id.clone().unwrap_or_else(|| "untagged".into()),
            ),
            ("plan version", row.plan_version.clone()),
        ];
        page.entries = doc.entries.iter().map(entry_row).collect();
        let rate = rate_chart(doc);
        page.rate_chart = (!rate.is_empty()).then(|| rate.svg());
        page.latency_charts = doc
            .entries
            .iter()
            .map(latency_chart)
            .filter(|c| !c.is_empty())
            .map(|c| (c.id.trim_start_matches("latency-").to_owned(), c.svg()))
            .collect();
        page.search_chart = search_chart(doc).map(|c| c.svg());
        if let Some(s) = &doc.search {
            page.steps = s
                .steps
                .iter()
                .map(|st| StepRow {
                    kind: st.kind.clone(),
                    multiple: format!("{}×", fmt_num(st.multiple)),
                    start: format!("{} s", fmt_num(st.start_s)),
                    duration: format!("{} s", fmt_num(st.duration_s)),
                    held: st.held,
                    broken: st
                        .entries
                        .iter()
                        .filter(|e| e.held == Some(false))
                        .map(|e| e.id.clone())
                        .collect(),
                })
                .collect();
            page.search_summary = Some(format!(
                "knee {}{}; broke at {}; bottlenecks: {}. {}",
                match (s.knee_multiple, s.lower_bound_multiple) {
                    (Some(m), _) => format!("{}×", fmt_num(m)),
                    (None, Some(m)) => format!("≥ {}×, generator-bound", fmt_num(m)),
                    (None, None) => "not found".to_owned(),
                },
                if s.confirmed {
                    " (confirmed by the hold)"
                } else {
                    ""
                },
                s.broken_multiple
                    .map_or_else(|| "no step".to_owned(), |m| format!("{}×", fmt_num(m))),
                if s.bottlenecks.is_empty() {
                    "none".to_owned()
                } else {
                    s.bottlenecks.join(", ")
                },
                s.stopped
            ));
        }
        page.guards = doc
            .guard_events
            .iter()
            .map(|g| format!("{} s · {} · {}", fmt_num(g.t_s), g.action, g.message))
            .collect();
    }
    render(&page)
}

/// The query of the comparison page.
#[derive(Debug, Default, Deserialize)]
pub struct CompareQuery {
    /// The first run (the baseline).
    pub a: Option<String>,
    /// The second run.
    pub b: Option<String>,
}

/// One figure of two runs: both values, the difference and the change.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    /// Run A's value.
    pub a: String,
    /// Run B's value.
    pub b: String,
    /// `b − a` with a sign.
    pub delta: String,
    /// `(b − a) / a` in percent with a sign (empty when a is 0 or absent).
    pub pct: String,
    /// `ok` when B is better, `critical` when worse, `` when equal or unknown.
    pub class: &'static str,
}

/// Compare `a` and `b`; `higher_is_better` says which direction is good;
/// `scale` multiplies values for display (100 for ratios shown in %).
pub fn diff(a: Option<f64>, b: Option<f64>, higher_is_better: bool, scale: f64) -> Diff {
    let show = |v: Option<f64>| v.map(|v| fmt_num(v * scale)).unwrap_or_else(|| "–".into());
    let (delta, pct, class) = match (a, b) {
        (Some(a), Some(b)) if a.is_finite() && b.is_finite() => {
            let d = b - a;
            let sign = if d > 0.0 { "+" } else { "" };
            let pct = if a != 0.0 {
                let p = d / a * 100.0;
                format!("{}{} %", if p > 0.0 { "+" } else { "" }, fmt_num(p))
            } else {
                String::new()
            };
            let class = if d == 0.0 {
                ""
            } else if (d > 0.0) == higher_is_better {
                "ok"
            } else {
                "critical"
            };
            (format!("{sign}{}", fmt_num(d * scale)), pct, class)
        }
        _ => (String::new(), String::new(), ""),
    };
    Diff {
        a: show(a),
        b: show(b),
        delta,
        pct,
        class,
    }
}

/// One entry of a comparison.
#[derive(Debug, Clone)]
pub struct CompareRow {
    /// Entry id.
    pub id: String,
    /// Knee (req/s), p99 over the run (ms), error rate (%), achieved rate
    /// (req/s), in this order.
    pub diffs: [Diff; 4],
}

/// Per entry (A's order, then entries only B has): knee, p99, error rate,
/// achieved rate of both runs with their differences.
pub fn compare_rows(a: &RunView, b: &RunView) -> Vec<CompareRow> {
    let mut ids: Vec<&str> = a.entries.iter().map(|e| e.id.as_str()).collect();
    for e in &b.entries {
        if !ids.contains(&e.id.as_str()) {
            ids.push(&e.id);
        }
    }
    let find = |r: &RunView, id: &str| r.entries.iter().find(|e| e.id == id).cloned();
    ids.into_iter()
        .map(|id| {
            let (ea, eb) = (find(a, id), find(b, id));
            let er =
                |e: &Option<EntryView>| e.as_ref().map(|e| error_rate(e.errors.total, e.requests));
            CompareRow {
                id: id.to_owned(),
                diffs: [
                    diff(
                        ea.as_ref().and_then(|e| e.knee_qps),
                        eb.as_ref().and_then(|e| e.knee_qps),
                        true,
                        1.0,
                    ),
                    diff(
                        ea.as_ref().map(|e| e.latency_ms.p99),
                        eb.as_ref().map(|e| e.latency_ms.p99),
                        false,
                        1.0,
                    ),
                    diff(er(&ea), er(&eb), false, 100.0),
                    diff(
                        ea.as_ref().map(|e| e.achieved_rps),
                        eb.as_ref().map(|e| e.achieved_rps),
                        true,
                        1.0,
                    ),
                ],
            }
        })
        .collect()
}

/// Overlaid charts of one entry in two runs: rate and p99 over time, run
/// A solid, run B dashed.
pub fn overlay_charts(id: &str, a: (i64, &RunView), b: (i64, &RunView)) -> [LineChart; 2] {
    let mut rate = LineChart::new(
        &format!("compare-rate-{id}"),
        &format!("Achieved rate of {id}: run {} vs run {}", a.0, b.0),
        "time since start (s)",
        "requests/s",
    );
    let mut p99 = LineChart::new(
        &format!("compare-p99-{id}"),
        &format!("p99 latency of {id}: run {} vs run {}", a.0, b.0),
        "time since start (s)",
        "p99 latency (ms)",
    );
    for (k, (run_id, run)) in [a, b].into_iter().enumerate() {
        let Some(e) = run.entries.iter().find(|e| e.id == id) else {
            continue;
        };
        let dashed = k == 1;
        rate.series.push(per_second(
            e,
            format!("run {run_id}"),
            k,
            dashed,
            |p| p.rate as f64,
            "req/s",
        ));
        p99.series.push(per_second(
            e,
            format!("run {run_id}"),
            k,
            dashed,
            |p| p.p99,
            "ms",
        ));
        if let Some(knee) = e.knee_qps {
            rate.markers.push(Marker {
                vertical: false,
                at: knee,
                label: format!("knee run {run_id} {} /s", fmt_num(knee)),
                class: if dashed {
                    "stroke-warn"
                } else {
                    "stroke-accent"
                },
            });
        }
    }
    [rate, p99]
}

#[derive(Template)]
#[template(path = "rehearsals_compare.html")]
struct ComparePage {
    chrome: Chrome,
    a: RunRow,
    b: RunRow,
    rows: Vec<CompareRow>,
    charts: Vec<(String, Vec<Markup>)>,
}

async fn compare(
    State(state): State<AppState>,
    session: Session,
    Path(slug): Path<String>,
    query: Result<Query<CompareQuery>, QueryRejection>,
) -> Result<Html<String>, UiError> {
    session.auth.require(READERS)?;
    let Query(q) = query.map_err(|e| {
        UiError(ApiError::bad_request(
            "bad_query",
            format!("bad query: {}", e.body_text()),
        ))
    })?;
    let (Some(a), Some(b)) = (q.a.as_deref(), q.b.as_deref()) else {
        return Err(UiError(ApiError::bad_request(
            "bad_query",
            "name the two runs to compare: …/rehearsals/compare?a=ID&b=ID",
        )));
    };
    let (ia, ib) = (parse_id(a)?, parse_id(b)?);
    let (mut chrome, event) = Chrome::event(&state, &session, &slug, Nav::Rehearsals).await?;
    let la = load_run(&state, &event, ia).await?;
    let lb = load_run(&state, &event, ib).await?;
    let tz = event_tz(&state, &event).await?;
    chrome.title = format!("Compare runs {ia} and {ib}");
    let empty = RunView::default();
    let da = la.doc.as_ref().unwrap_or(&empty);
    let db = lb.doc.as_ref().unwrap_or(&empty);
    let rows = compare_rows(da, db);
    let charts = rows
        .iter()
        .map(|r| {
            let svgs = overlay_charts(&r.id, (ia, da), (ib, db))
                .into_iter()
                .filter(|c| !c.is_empty())
                .map(|c| c.svg())
                .collect();
            (r.id.clone(), svgs)
        })
        .collect();
    render(&ComparePage {
        chrome,
        a: run_row(&la, &tz),
        b: run_row(&lb, &tz),
        rows,
        charts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_say_better_or_worse() {
        let d = diff(Some(100.0), Some(120.0), true, 1.0);
        assert_eq!(
            (d.delta.as_str(), d.pct.as_str(), d.class),
            ("+20", "+20 %", "ok")
        );
        let d = diff(Some(100.0), Some(120.0), false, 1.0);
        assert_eq!(d.class, "critical");
        let d = diff(Some(0.01), Some(0.005), false, 100.0);
        assert_eq!(
            (d.a.as_str(), d.b.as_str(), d.delta.as_str()),
            ("1", "0.5", "-0.5")
        );
        assert_eq!((d.pct.as_str(), d.class), ("-50 %", "ok"));
        let d = diff(Some(0.0), Some(5.0), true, 1.0);
        assert_eq!((d.delta.as_str(), d.pct.as_str()), ("+5", ""));
        let d = diff(None, Some(5.0), true, 1.0);
        assert_eq!((d.a.as_str(), d.delta.as_str(), d.class), ("–", "", ""));
    }

    #[test]
    fn a_minimal_document_reads() {
        let doc: RunView = serde_json::from_str(
            r#"{"schema":"seawall.run/v1","scenario":"s","entries":[{"id":"a","knee_qps":8}]}"#,
        )
        .expect("lenient");
        assert_eq!(doc.entries[0].knee_qps, Some(8.0));
        assert!(rate_chart(&doc).is_empty());
        assert!(search_chart(&doc).is_none());
        assert_eq!(error_rate(1, 0), 0.0);
    }

    #[test]
    fn a_generator_bound_entry_shows_a_lower_bound_not_a_knee() {
        let doc: RunView = serde_json::from_str(
            r#"{"schema":"seawall.run/v1","scenario":"s","entries":[{"id":"home","knee_qps":null,"lower_bound_qps":971}],
                "search":{"knee_multiple":null,"lower_bound_multiple":0.97,"generator_bound":true}}"#,
        )
        .expect("lenient");
        assert_eq!(entry_row(&doc.entries[0]).knee, "≥ 971 (generator-bound)");
        let search = doc.search.as_ref().expect("search");
        assert_eq!(search.lower_bound_multiple, Some(0.97));
    }
}
