//! The HTML report (`--report run.html`): one self-contained file with
//! inline SVG charts, no scripts and no external assets, so it opens
//! offline, can be mailed or attached to a ticket, and diffs as text.
//!
//! A [`Report`] is plain data (series, buckets, rows) built from a
//! load-test [`Summary`] or a scenario [`RunResult`]; [`Report::to_html`]
//! renders it deterministically (same input, same bytes).

use seawall_chart::markup::{Element, Entities, Node};
use seawall_chart::scale::number;
use seawall_chart::standalone::{Bar, bar_chart, line_chart};

use crate::arrivals::Arrivals;
use crate::config::LoadConfig;
use crate::result::{
    EntryResult, Outcome, RUN_SCHEMA, RunMode, RunResult, SecondPoint, TagInfo, rfc3339_utc,
};
use crate::stats::{Latency, Summary};

/// Everything the report shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Page title, e.g. `Load: http://127.0.0.1:8080/`.
    pub title: String,
    /// Key facts shown at the top, in order (`run id`, `mode`, …).
    pub facts: Vec<(String, String)>,
    /// Requests completed per second (one series per entry, or totals).
    pub rate: Vec<Series>,
    /// Latency percentiles per second in milliseconds.
    pub latency: Vec<Series>,
    /// Latency histogram of the whole run (may be empty).
    pub histogram: Vec<Bucket>,
    /// One row per entry (or one for the single URL).
    pub entries: Vec<EntryRow>,
    /// Guards that broke, in time order.
    pub guard_events: Vec<GuardRow>,
}

/// A named line of `(seconds since start, value)` points (legend label,
/// points in increasing time, dashed for a target rather than a
/// measurement): the chart crate's line of a standalone chart.
pub use seawall_chart::standalone::Line as Series;

/// One histogram bucket: how many responses took at most `le_ms` and
/// more than the previous bucket's bound (not cumulative).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bucket {
    /// Upper bound in milliseconds (`f64::INFINITY` for the last).
    pub le_ms: f64,
    /// Responses in the bucket.
    pub count: u64,
}

/// One row of the per-entry table.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryRow {
    /// Entry id (or the URL).
    pub id: String,
    /// Intended rate, when there was one.
    pub target_rps: Option<f64>,
    /// Requests completed per second over the run.
    pub achieved_rps: f64,
    /// Requests completed.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Dropped arrivals.
    pub dropped: u64,
    /// Latency percentiles.
    pub latency_ms: Latency,
    /// SLO verdict or knee, free text (`held`, `broken`, `knee 812 rps`, `—`).
    pub verdict: String,
}

/// One broken guard.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardRow {
    /// Seconds since the start.
    pub t_s: f64,
    /// Entry id.
    pub entry: String,
    /// What happened, for people.
    pub message: String,
    /// `abort` or `step_failed`.
    pub action: String,
}

/// Upper bounds (milliseconds) of the latency histogram's buckets, a 1-2-5
/// series from 50 µs to 60 s; one more bucket takes everything above.
pub const BOUNDS_MS: [f64; 20] = [
    0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1_000.0, 2_000.0,
    5_000.0, 10_000.0, 20_000.0, 30_000.0, 60_000.0,
];

/// Counts of a microsecond HDR histogram per [`BOUNDS_MS`] bucket, plus the
/// unbounded last one. A value counts in the first bucket whose bound is at
/// least the value's (HDR-rounded) size.
pub(crate) fn buckets(h: &hdrhistogram::Histogram<u64>) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = BOUNDS_MS
        .iter()
        .map(|&le_ms| Bucket { le_ms, count: 0 })
        .chain(std::iter::once(Bucket {
            le_ms: f64::INFINITY,
            count: 0,
        }))
        .collect();
    for v in h.iter_recorded() {
        let us = h.highest_equivalent(v.value_iterated_to()) as f64;
        let i = BOUNDS_MS
            .iter()
            .position(|&b| us <= b * 1000.0)
            .unwrap_or(BOUNDS_MS.len());
        if let Some(b) = out.get_mut(i) {
            b.count += v.count_at_value();
        }
    }
    out
}

impl Report {
    /// The report of a single-URL load test (`seawall load`).
    pub fn from_summary(url: &str, s: &Summary) -> Self {
        let mut facts = vec![
            (
                "run id".to_owned(),
                s.run_id.clone().unwrap_or_else(|| "(untagged)".to_owned()),
            ),
            (
                "model".to_owned(),
                match s.target_rps {
                    Some(rps) => format!("open, target {} rps", number(rps)),
                    None => "closed loop".to_owned(),
                },
            ),
            ("duration".to_owned(), format!("{:.2} s", s.duration_s)),
            ("requests".to_owned(), s.requests.to_string()),
            (
                "achieved".to_owned(),
                format!("{} rps", number(s.achieved_rps)),
            ),
            ("errors".to_owned(), s.errors.total.to_string()),
            ("dropped".to_owned(), s.dropped.to_string()),
        ];
        if s.errors.total > 0 {
            let e = &s.errors;
            facts.push((
                "errors by class".to_owned(),
                format!(
                    "connect {}, timeout {}, io {}, 4xx {}, 5xx {}, body {}",
                    e.connect, e.timeout, e.io, e.status_4xx, e.status_5xx, e.body
                ),
            ));
        }
        let t = |i: &crate::stats::IntervalSummary| i.t_s as f64;
        let mut rate = vec![series(
            "requests",
            s.intervals.iter().map(|i| (t(i), i.requests as f64)),
        )];
        if let Some(target) = s.target_rps {
            let mut target = series("target", s.intervals.iter().map(|i| (t(i), target)));
            target.dashed = true;
            rate.push(target);
        }
        if s.errors.total > 0 {
            rate.push(series(
                "errors",
                s.intervals.iter().map(|i| (t(i), i.errors as f64)),
            ));
        }
        if s.dropped > 0 {
            rate.push(series(
                "dropped",
                s.intervals.iter().map(|i| (t(i), i.dropped as f64)),
            ));
        }
        let latency = vec![
            series("p50", s.intervals.iter().map(|i| (t(i), i.latency_ms.p50))),
            series("p90", s.intervals.iter().map(|i| (t(i), i.latency_ms.p90))),
            series("p99", s.intervals.iter().map(|i| (t(i), i.latency_ms.p99))),
        ];
        Self {
            title: format!("Load: {url}"),
            facts,
            rate,
            latency,
            histogram: s.latency_histogram.clone(),
            entries: vec![EntryRow {
                id: url.to_owned(),
                target_rps: s.target_rps,
                achieved_rps: s.achieved_rps,
                requests: s.requests,
                errors: s.errors.total,
                dropped: s.dropped,
                latency_ms: s.latency_ms,
                verdict: "—".to_owned(),
            }],
            guard_events: Vec::new(),
        }
    }

    /// The report of a scenario run (`seawall rehearse`). A run result
    /// keeps p50 and p99 per entry and second, and no histogram.
    pub fn from_run(r: &RunResult) -> Self {
        let outcome = match r.outcome {
            Outcome::Completed => "completed",
            Outcome::SloFailed => "SLO failed",
            Outcome::Aborted => "aborted by a guard",
        };
        let mode = match r.mode {
            RunMode::Fixed => "fixed rate",
            RunMode::Stages => "stages",
            RunMode::Search => "capacity search",
        };
        let mut facts = vec![
            (
                "run id".to_owned(),
                r.run_id.clone().unwrap_or_else(|| "(untagged)".to_owned()),
            ),
            ("scenario".to_owned(), r.scenario.clone()),
        ];
        if let Some(plan) = &r.plan {
            facts.push(("plan".to_owned(), plan.clone()));
        }
        facts.extend([
            ("base URL".to_owned(), r.base_url.clone()),
            ("started".to_owned(), r.started.clone()),
            ("finished".to_owned(), r.finished.clone()),
            ("duration".to_owned(), format!("{:.2} s", r.duration_s)),
            (
                "mode".to_owned(),
                format!("{mode}, {} arrivals", r.arrivals),
            ),
            ("outcome".to_owned(), outcome.to_owned()),
            ("requests".to_owned(), r.requests.to_string()),
            ("errors".to_owned(), r.errors.to_string()),
            ("dropped".to_owned(), r.dropped.to_string()),
        ]);
        if let Some(search) = &r.search {
            let knee = match (search.knee_multiple, search.lower_bound_multiple) {
                (Some(m), _) => format!("{}×", number(m)),
                (None, Some(m)) => format!("≥ {}×, generator-bound", number(m)),
                (None, None) => "none".to_owned(),
            };
            facts.push((
                "capacity search".to_owned(),
                format!("knee {knee}; {}", search.stopped),
            ));
        }
        let per_entry = |f: fn(&crate::result::SecondPoint) -> f64, suffix: &str| {
            r.entries
                .iter()
                .map(|e| {
                    series(
                        &format!("{}{suffix}", e.id),
                        e.series.iter().map(|p| (p.t_s as f64, f(p))),
                    )
                })
                .collect::<Vec<_>>()
        };
        let rate = per_entry(|p| p.rate as f64, "");
        let mut latency = per_entry(|p| p.p99, " p99");
        latency.extend(per_entry(|p| p.p50, " p50"));
        let entries = r
            .entries
            .iter()
            .map(|e| EntryRow {
                id: e.id.clone(),
                target_rps: Some(e.intended_qps),
                achieved_rps: e.achieved_rps,
                requests: e.requests,
                errors: e.errors.total,
                dropped: e.dropped,
                latency_ms: e.latency_ms,
                verdict: match (e.knee_qps, e.slo_held) {
                    (Some(knee), _) => format!("knee {} rps", number(knee)),
                    (None, _) if e.lower_bound_qps.is_some() => format!(
                        "knee ≥ {} rps, generator-bound",
                        number(e.lower_bound_qps.unwrap_or_default())
                    ),
                    (None, Some(true)) => "SLO held".to_owned(),
                    (None, Some(false)) => "SLO broken".to_owned(),
                    (None, None) => "—".to_owned(),
                },
            })
            .collect();
        let guard_events = r
            .guard_events
            .iter()
            .map(|g| GuardRow {
                t_s: g.t_s,
                entry: g.entry.clone(),
                message: g.message.clone(),
                action: g.action.clone(),
            })
            .collect();
        Self {
            title: format!("Rehearsal: {}", r.scenario),
            facts,
            rate,
            latency,
            histogram: Vec::new(),
            entries,
            guard_events,
        }
    }

    /// The whole page, built with the chart crate's [`Element`] (text and
    /// attributes escaped by construction, the report's `&lt;` spelling).
    /// Deterministic; no scripts, no external references.
    pub fn to_html(&self) -> String {
        let head = Element::new("head").children([
            newline(),
            Element::void("meta").attr("charset", "utf-8").into(),
            newline(),
            Element::new("title").text(&self.title).into(),
            newline(),
            // STYLE holds none of `&<>"'`, so escaping leaves it as it is
            // (a `<style>` is raw text to a browser).
            Element::new("style").text(STYLE).into(),
            newline(),
        ]);
        let mut body = vec![newline(), Element::new("h1").text(&self.title).into()];
        body.push(newline());
        body.push(
            table(
                self.facts
                    .iter()
                    .map(|(k, v)| row([("th", k.clone()), ("td", v.clone())])),
            )
            .attr("class", "facts")
            .into(),
        );
        body.push(newline());
        heading(&mut body, "Rate");
        body.extend(line_chart(&self.rate, "requests / s"));
        heading(&mut body, "Latency percentiles over time");
        body.extend(line_chart(&self.latency, "ms"));
        heading(&mut body, "Latency histogram");
        if self.histogram.iter().any(|b| b.count > 0) {
            body.extend(histogram_chart(&self.histogram));
        } else {
            note(&mut body, "none", "No histogram in this result.");
        }
        heading(&mut body, "Entries");
        let header = [
            "entry",
            "target rps",
            "achieved rps",
            "requests",
            "errors",
            "dropped",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            "verdict",
        ];
        let rows = self.entries.iter().map(|e| {
            let l = &e.latency_ms;
            row([
                e.id.clone(),
                e.target_rps.map_or_else(|| "—".to_owned(), number),
                number(e.achieved_rps),
                e.requests.to_string(),
                e.errors.to_string(),
                e.dropped.to_string(),
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.p999),
                ms(l.max),
                e.verdict.clone(),
            ]
            .map(|v| ("td", v)))
        });
        body.push(table(std::iter::once(header_row(&header)).chain(rows)).into());
        body.push(newline());
        heading(&mut body, "Guard events");
        if self.guard_events.is_empty() {
            note(&mut body, "none", "No guard broke.");
        } else {
            let rows = self.guard_events.iter().map(|g| {
                row([
                    format!("{:.1}", g.t_s),
                    g.entry.clone(),
                    g.action.clone(),
                    g.message.clone(),
                ]
                .map(|v| ("td", v)))
            });
            let header = header_row(&["t (s)", "entry", "action", "what"]);
            body.push(table(std::iter::once(header).chain(rows)).into());
            body.push(newline());
        }
        note(
            &mut body,
            "foot",
            "Latency is measured from each request's intended send time. Generated by seawall.",
        );
        let html = Element::new("html")
            .attr("lang", "en")
            .children([newline(), head.into(), newline()])
            .child(Element::new("body").children(body))
            .children([newline()]);
        format!("<!DOCTYPE html>\n{}\n", html.render_with(Entities::Named))
    }
}

fn newline() -> Node {
    Node::Text("\n".to_owned())
}

/// `<h2>text</h2>` and a line break.
fn heading(body: &mut Vec<Node>, text: &str) {
    body.push(Element::new("h2").text(text).into());
    body.push(newline());
}

/// `<p class="…">text</p>` and a line break.
fn note(body: &mut Vec<Node>, class: &'static str, text: &str) {
    body.push(Element::new("p").attr("class", class).text(text).into());
    body.push(newline());
}

/// A row of `(th | td, text)` cells.
fn row<const N: usize>(cells: [(&'static str, String); N]) -> Element {
    Element::new("tr").children(
        cells
            .into_iter()
            .map(|(tag, text)| Element::new(tag).text(text).into()),
    )
}

/// A row of `<th>` cells.
fn header_row(names: &[&str]) -> Element {
    Element::new("tr").children(names.iter().map(|n| Element::new("th").text(*n).into()))
}

/// A `<table>` with one row a line.
fn table(rows: impl Iterator<Item = Element>) -> Element {
    let mut t = Element::new("table").text("\n");
    for r in rows {
        t.push(r);
        t.push_text("\n");
    }
    t
}

/// The latency histogram: the buckets from the first to the last non-empty
/// one, labelled with their bounds.
fn histogram_chart(buckets: &[Bucket]) -> Vec<Node> {
    let first = buckets.iter().position(|b| b.count > 0).unwrap_or(0);
    let last = buckets.iter().rposition(|b| b.count > 0).unwrap_or(0);
    let shown = buckets.get(first..=last).unwrap_or_default();
    let bars: Vec<Bar> = shown
        .iter()
        .map(|b| {
            let label = if b.le_ms.is_finite() {
                format!("≤{}", number(b.le_ms))
            } else {
                "more".to_owned()
            };
            Bar {
                title: format!("{label} ms: {}", b.count),
                label,
                value: b.count as f64,
            }
        })
        .collect();
    bar_chart(&bars, "responses", "latency bucket (ms)")
}

impl RunResult {
    /// The result file (`--out run.json`, schema `seawall.run/v1`) of a
    /// single-URL load test: one entry named `METHOD /path`, mode `fixed`,
    /// arrivals `constant`, `poisson` or `closed` (closed loop, whose
    /// `target_qps` and `intended_qps` are 0). `started_unix_ms` and
    /// `finished_unix_ms` are wall-clock milliseconds since the Unix epoch.
    pub fn from_load(
        config: &LoadConfig,
        s: &Summary,
        started_unix_ms: u64,
        finished_unix_ms: u64,
    ) -> Self {
        let path = config
            .url
            .parse::<hyper::Uri>()
            .ok()
            .and_then(|u| u.path_and_query().map(|pq| pq.as_str().to_owned()))
            .unwrap_or_else(|| "/".to_owned());
        let arrivals = match (config.rate, config.arrivals) {
            (None, _) => "closed",
            (Some(_), Arrivals::Constant) => "constant",
            (Some(_), Arrivals::Poisson { .. }) => "poisson",
        };
        let intended = config.rate.unwrap_or(0.0);
        let entry = EntryResult {
            id: format!("{} {path}", config.method),
            service: String::new(),
            target_qps: intended,
            intended_qps: intended,
            requests: s.requests,
            ok: s.ok,
            achieved_rps: s.achieved_rps,
            dropped: s.dropped,
            errors: s.errors,
            latency_ms: s.latency_ms,
            slo: None,
            slo_source: "none".to_owned(),
            slo_held: None,
            knee_qps: None,
            held_qps: None,
            lower_bound_qps: None,
            series: s
                .intervals
                .iter()
                .map(|i| SecondPoint {
                    t_s: i.t_s,
                    rate: i.requests,
                    errors: i.errors,
                    dropped: i.dropped,
                    p50: i.latency_ms.p50,
                    p99: i.latency_ms.p99,
                })
                .collect(),
        };
        Self {
            schema: RUN_SCHEMA.to_owned(),
            run_id: s.run_id.clone(),
            scenario: "load".to_owned(),
            plan: None,
            base_url: config.url.clone(),
            started: rfc3339_utc(started_unix_ms),
            finished: rfc3339_utc(finished_unix_ms),
            duration_s: s.duration_s,
            mode: RunMode::Fixed,
            arrivals: arrivals.to_owned(),
            tag: match (&config.tag, config.untagged) {
                (Some(t), false) => Some(TagInfo {
                    header: t.header.clone(),
                    baggage_key: t.baggage_key.clone(),
                }),
                _ => None,
            },
            outcome: Outcome::Completed,
            abort: None,
            requests: s.requests,
            errors: s.errors.total,
            dropped: s.dropped,
            journeys: Vec::new(),
            entries: vec![entry],
            services: Vec::new(),
            guard_events: Vec::new(),
            search: None,
            fleet: None,
        }
    }
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:980px}\
h1{font-size:20px}h2{font-size:16px;margin-top:28px}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}\
th{background:#f3f3f3}table.facts th,table.facts td{text-align:left}\
td:first-child{text-align:left}.none,.foot{color:#666}\
svg{display:block}svg text{font:11px system-ui,sans-serif;fill:#444}\
.legend span{display:inline-block;margin-right:14px}\
.legend i{display:inline-block;width:18px;height:3px;margin-right:4px;vertical-align:middle}";

fn series(name: &str, points: impl Iterator<Item = (f64, f64)>) -> Series {
    Series {
        name: name.to_owned(),
        points: points
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect(),
        dashed: false,
    }
}

fn ms(x: f64) -> String {
    format!("{x:.2}")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::stats::{ErrorCounts, IntervalSummary, Mode};

    fn latency(base: f64) -> Latency {
        Latency {
            p50: base,
            p90: base * 2.0,
            p99: base * 5.0,
            p999: base * 9.0,
            max: base * 10.0,
            mean: base * 1.5,
        }
    }

    /// A small open-model run: 3 seconds at 100 rps, a slow third second.
    fn summary() -> Summary {
        let intervals = (0..3)
            .map(|t| IntervalSummary {
                t_s: t,
                requests: 100,
                errors: u64::from(t == 2),
                dropped: 0,
                latency_ms: latency(if t == 2 { 40.0 } else { 1.0 }),
            })
            .collect();
        let mut histogram: Vec<Bucket> = BOUNDS_MS
            .iter()
            .map(|&le_ms| Bucket { le_ms, count: 0 })
            .collect();
        histogram.push(Bucket {
            le_ms: f64::INFINITY,
            count: 0,
        });
        histogram[4].count = 150; // ≤ 1 ms
        histogram[5].count = 50; // ≤ 2 ms
        histogram[10].count = 99; // ≤ 100 ms
        Summary {
            schema: "seawall.load/v1",
            run_id: Some("r-<1>".to_owned()),
            mode: Mode::Open,
            target_rps: Some(100.0),
            requests: 300,
            ok: 299,
            duration_s: 3.0,
            achieved_rps: 100.0,
            dropped: 0,
            errors: ErrorCounts {
                total: 1,
                status_5xx: 1,
                ..ErrorCounts::default()
            },
            latency_ms: latency(1.2),
            latency_histogram: histogram,
            intervals,
        }
    }

    /// The page stands alone: no scripts, no stylesheets or images to
    /// fetch, no links; three inline SVG charts.
    fn assert_self_contained(html: &str) {
        for banned in [
            "<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import",
        ] {
            assert!(!html.contains(banned), "{banned} in the report");
        }
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
    }

    #[test]
    fn summary_report_is_self_contained_with_three_charts() {
        let html = Report::from_summary("http://127.0.0.1:8080/a?b=<c>", &summary()).to_html();
        assert_self_contained(&html);
        assert_eq!(html.matches("<svg").count(), 3, "rate, latency, histogram");
        assert_eq!(html.matches("</svg>").count(), 3);
        // rate: requests, dashed target, errors; latency: p50, p90, p99
        assert_eq!(html.matches("<polyline").count(), 6);
        assert_eq!(html.matches("stroke-dasharray").count(), 1);
        // histogram: the buckets from the first to the last non-empty one
        assert_eq!(html.matches("<rect").count(), 7);
        assert!(html.contains("<title>≤100 ms: 99</title>"));
        // escaped input
        assert!(html.contains("a?b=&lt;c&gt;"));
        assert!(html.contains("r-&lt;1&gt;"));
        assert!(!html.contains("<c>"));
        insta::assert_snapshot!("summary_report", html);
    }

    #[test]
    fn run_result_report_has_entries_and_guard_events() {
        let run: RunResult = serde_json::from_str(
            r#"{
            "schema": "seawall.run/v1", "run_id": "rh-1", "scenario": "peak",
            "plan": "plan.yaml", "base_url": "http://127.0.0.1:9/",
            "started": "2026-09-30T10:00:00.000Z", "finished": "2026-09-30T10:00:03.000Z",
            "duration_s": 2.5, "mode": "fixed", "arrivals": "constant",
            "tag": {"header": "x-seawall-test", "baggage_key": "seawall-test"},
            "outcome": "aborted", "abort": null, "requests": 30, "errors": 12, "dropped": 0,
            "journeys": [], "services": [], "search": null,
            "entries": [{
                "id": "order-submit", "service": "order-svc", "target_qps": 10.0,
                "intended_qps": 12.0, "requests": 30, "ok": 18, "achieved_rps": 12.0,
                "dropped": 0,
                "errors": {"total": 12, "connect": 0, "timeout": 0, "io": 0,
                           "status_4xx": 0, "status_5xx": 12, "body": 0},
                "latency_ms": {"p50": 2.0, "p90": 3.0, "p99": 4.0, "p999": 4.0,
                               "max": 4.0, "mean": 2.2},
                "slo": {"p99_ms": 100.0, "error_rate": 0.01}, "slo_source": "entry",
                "slo_held": false, "knee_qps": null, "held_qps": null,
                "series": [
                    {"t_s": 0, "rate": 12, "errors": 0, "dropped": 0, "p50": 2.0, "p99": 4.0},
                    {"t_s": 1, "rate": 12, "errors": 7, "dropped": 0, "p50": 2.0, "p99": 4.0}
                ]
            }],
            "guard_events": [{
                "t_s": 2.0, "entry": "order-submit", "guard": "error_rate", "value": 0.58,
                "threshold": 0.05, "window_s": 2.0, "requests": 12, "action": "abort",
                "message": "error rate 58% > 5% over 2 s <order-submit>"
            }]
        }"#,
        )
        .expect("a valid run result");
        let html = Report::from_run(&run).to_html();
        assert_self_contained(&html);
        assert_eq!(
            html.matches("<svg").count(),
            2,
            "no histogram in a run result"
        );
        assert!(html.contains("No histogram in this result."));
        assert!(html.contains("<td>order-submit</td>"));
        assert!(html.contains("SLO broken"));
        assert!(html.contains("aborted by a guard"));
        assert!(html.contains("error rate 58% &gt; 5% over 2 s &lt;order-submit&gt;"));
        assert!(!html.contains("No guard broke"));
    }

    #[test]
    fn a_generator_bound_search_reports_a_lower_bound() {
        let run: RunResult = serde_json::from_str(
            r#"{
            "schema": "seawall.run/v1", "run_id": "rh-2", "scenario": "search",
            "base_url": "http://127.0.0.1:9/",
            "started": "2026-09-30T10:00:00.000Z", "finished": "2026-09-30T10:00:09.000Z",
            "duration_s": 9.0, "mode": "search", "arrivals": "constant", "tag": null,
            "outcome": "completed", "abort": null, "requests": 9000, "errors": 0, "dropped": 0,
            "journeys": [], "guard_events": [],
            "entries": [{
                "id": "home", "target_qps": 1000.0, "intended_qps": 1000.0,
                "requests": 9000, "ok": 9000, "achieved_rps": 1000.0, "dropped": 0,
                "errors": {"total": 0, "connect": 0, "timeout": 0, "io": 0,
                           "status_4xx": 0, "status_5xx": 0, "body": 0},
                "latency_ms": {"p50": 2.0, "p90": 3.0, "p99": 4.0, "p999": 4.0,
                               "max": 4.0, "mean": 2.2},
                "slo": {"p99_ms": 100.0, "error_rate": 0.01}, "slo_source": "entry",
                "slo_held": null, "knee_qps": null, "held_qps": 971.0,
                "lower_bound_qps": 971.0, "series": []
            }],
            "search": {"steps": [], "knee_multiple": null, "lower_bound_multiple": 0.971,
                       "generator_bound": true, "broken_multiple": 1.0, "confirmed": true,
                       "bottlenecks": [], "stopped": "held ×0.971 for the hold time"}
        }"#,
        )
        .expect("a valid run result");
        let html = Report::from_run(&run).to_html();
        assert_self_contained(&html);
        assert!(html.contains("knee ≥ 971 rps, generator-bound"), "{html}");
        assert!(html.contains("knee ≥ 0.971×, generator-bound"), "{html}");
        assert!(!html.contains("knee 971 rps"));
    }

    #[test]
    fn a_load_test_becomes_a_run_result_that_reads_back() {
        let mut config = LoadConfig::new("http://127.0.0.1:8080/a?b=1");
        config.rate = Some(100.0);
        config.tag = Some(crate::TestTag::new("r-1"));
        let run = RunResult::from_load(&config, &summary(), 1_790_762_400_000, 1_790_762_403_500);
        assert_eq!(run.schema, RUN_SCHEMA);
        assert_eq!(run.started, "2026-09-30T10:00:00.000Z");
        assert_eq!(run.finished, "2026-09-30T10:00:03.500Z");
        assert_eq!(run.arrivals, "constant");
        assert_eq!(run.entries.len(), 1);
        let e = &run.entries[0];
        assert_eq!(e.id, "GET /a?b=1");
        assert_eq!((e.requests, e.ok, e.errors.status_5xx), (300, 299, 1));
        assert_eq!(e.series.len(), 3);
        assert_eq!(e.series[2].p99, 200.0);
        assert_eq!(
            run.tag.as_ref().map(|t| t.header.as_str()),
            Some("x-seawall-test")
        );
        let json = serde_json::to_string(&run).expect("serialise");
        let back: RunResult = serde_json::from_str(&json).expect("reads back");
        // (serde_json may round the last bit of a float: compare fields)
        assert_eq!(back.entries[0].id, e.id);
        assert_eq!(back.entries[0].series, e.series);
        assert_eq!((back.started, back.requests), (run.started.clone(), 300));

        config.rate = None;
        config.untagged = true;
        let closed = RunResult::from_load(&config, &summary(), 0, 0);
        assert_eq!(closed.arrivals, "closed");
        assert_eq!(closed.entries[0].target_qps, 0.0);
        assert_eq!(closed.tag, None);
    }

    #[test]
    fn histogram_buckets_count_every_value_once() {
        let mut h =
            hdrhistogram::Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("histogram");
        for us in [10, 50, 51, 999, 1000, 1001, 250_000, 90_000_000] {
            h.record(us).expect("in range");
        }
        let b = buckets(&h);
        assert_eq!(b.len(), BOUNDS_MS.len() + 1);
        assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 8);
        assert_eq!(b[0].count, 2, "≤ 50 µs: {b:?}");
        assert_eq!(b[4].count, 2, "≤ 1 ms: {b:?}");
        assert_eq!(b[5].count, 1, "≤ 2 ms: {b:?}");
        assert_eq!(b[12].count, 1, "≤ 500 ms: {b:?}");
        assert_eq!(b[20].count, 1, "over 60 s: {b:?}");
        assert!(b[20].le_ms.is_infinite());
    }

    #[test]
    fn empty_series_and_histogram_render_a_note() {
        assert!(
            seawall_chart::markup::render_nodes(&line_chart(&[], "ms"), Entities::Named)
                .contains("No data")
        );
        let r = Report {
            title: "t".into(),
            facts: Vec::new(),
            rate: Vec::new(),
            latency: Vec::new(),
            histogram: vec![Bucket {
                le_ms: 1.0,
                count: 0,
            }],
            entries: Vec::new(),
            guard_events: Vec::new(),
        };
        let html = r.to_html();
        assert!(html.contains("No histogram"));
        assert!(html.contains("No guard broke"));
        assert!(!html.contains("<svg"));
    }
}
