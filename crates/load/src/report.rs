//! The HTML report (`--report run.html`): one self-contained file with
//! inline SVG charts, no scripts and no external assets, so it opens
//! offline, can be mailed or attached to a ticket, and diffs as text.
//!
//! A [`Report`] is plain data (series, buckets, rows) built from a
//! load-test [`Summary`] or a scenario [`RunResult`]; [`Report::to_html`]
//! renders it deterministically (same input, same bytes).

use std::fmt::Write as _;

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

/// A named line of `(seconds since start, value)` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Points in increasing time.
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed (a target rather than a measurement).
    pub dashed: bool,
}

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
            let knee = search
                .knee_multiple
                .map_or_else(|| "none".to_owned(), |m| format!("{}×", number(m)));
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

    /// The whole page. Deterministic; no scripts, no external references.
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(32 * 1024);
        let title = escape(&self.title);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
        );
        h.push_str("<table class=\"facts\">\n");
        for (k, v) in &self.facts {
            let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(v));
        }
        h.push_str("</table>\n");

        h.push_str("<h2>Rate</h2>\n");
        h.push_str(&line_chart(&self.rate, "requests / s"));
        h.push_str("<h2>Latency percentiles over time</h2>\n");
        h.push_str(&line_chart(&self.latency, "ms"));
        h.push_str("<h2>Latency histogram</h2>\n");
        if self.histogram.iter().any(|b| b.count > 0) {
            h.push_str(&bar_chart(&self.histogram));
        } else {
            h.push_str("<p class=\"none\">No histogram in this result.</p>\n");
        }

        h.push_str(
            "<h2>Entries</h2>\n<table>\n<tr><th>entry</th><th>target rps</th>\
                    <th>achieved rps</th><th>requests</th><th>errors</th><th>dropped</th>\
                    <th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th>\
                    <th>max ms</th><th>verdict</th></tr>\n",
        );
        for e in &self.entries {
            let l = &e.latency_ms;
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&e.id),
                e.target_rps.map_or_else(|| "—".to_owned(), number),
                number(e.achieved_rps),
                e.requests,
                e.errors,
                e.dropped,
                ms(l.p50),
                ms(l.p90),
                ms(l.p99),
                ms(l.p999),
                ms(l.max),
                escape(&e.verdict),
            );
        }
        h.push_str("</table>\n<h2>Guard events</h2>\n");
        if self.guard_events.is_empty() {
            h.push_str("<p class=\"none\">No guard broke.</p>\n");
        } else {
            h.push_str(
                "<table>\n<tr><th>t (s)</th><th>entry</th><th>action</th><th>what</th></tr>\n",
            );
            for g in &self.guard_events {
                let _ = writeln!(
                    h,
                    "<tr><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    g.t_s,
                    escape(&g.entry),
                    escape(&g.action),
                    escape(&g.message)
                );
            }
            h.push_str("</table>\n");
        }
        h.push_str(
            "<p class=\"foot\">Latency is measured from each request's intended send time. \
             Generated by seawall.</p>\n</body>\n</html>\n",
        );
        h
    }
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

/// Line colours, in legend order (repeat after the last).
const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 36.0;

fn series(name: &str, points: impl Iterator<Item = (f64, f64)>) -> Series {
    Series {
        name: name.to_owned(),
        points: points
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .collect(),
        dashed: false,
    }
}

/// A line chart of `series` over time (seconds), y from 0.
fn line_chart(series: &[Series], unit: &str) -> String {
    let points = series.iter().flat_map(|s| s.points.iter());
    let (x_max, y_max) = points.fold((0.0_f64, 0.0_f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
    if series.iter().all(|s| s.points.is_empty()) {
        return "<p class=\"none\">No data.</p>\n".to_owned();
    }
    // At least 5 s wide, so the five x ticks fall on whole seconds.
    let x_top = nice(x_max.max(5.0));
    let y_top = nice(y_max.max(f64::MIN_POSITIVE));
    let sx = |x: f64| LEFT + x / x_top * (WIDTH - LEFT - RIGHT);
    let sy = |y: f64| HEIGHT - BOTTOM - y / y_top * (HEIGHT - TOP - BOTTOM);
    let mut svg = open_svg();
    axes(&mut svg, y_top, unit, |i| {
        (sy(y_top * f64::from(i) / 5.0), y_top * f64::from(i) / 5.0)
    });
    for i in 0..=5 {
        let x = x_top * f64::from(i) / 5.0;
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            sx(x),
            HEIGHT - BOTTOM + 14.0,
            number(x)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">seconds since start</text>",
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 4.0
    );
    for (i, s) in series.iter().enumerate() {
        if s.points.is_empty() {
            continue;
        }
        let mut path = String::new();
        for &(x, y) in &s.points {
            let _ = write!(path, "{:.1},{:.1} ", sx(x), sy(y));
        }
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"{} points=\"{}\"><title>{}</title></polyline>",
            PALETTE[i % PALETTE.len()],
            if s.dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            },
            path.trim_end(),
            escape(&s.name)
        );
    }
    svg.push_str("</svg>\n<p class=\"legend\">");
    for (i, s) in series.iter().enumerate() {
        let _ = write!(
            svg,
            "<span><i style=\"background:{}\"></i>{}</span>",
            PALETTE[i % PALETTE.len()],
            escape(&s.name)
        );
    }
    svg.push_str("</p>\n");
    svg
}

/// Bars of equal width, one per bucket, labelled with the bucket's bound.
fn bar_chart(buckets: &[Bucket]) -> String {
    // Trim empty buckets at both ends.
    let first = buckets.iter().position(|b| b.count > 0).unwrap_or(0);
    let last = buckets.iter().rposition(|b| b.count > 0).unwrap_or(0);
    let shown = buckets.get(first..=last).unwrap_or_default();
    let y_top = nice(shown.iter().map(|b| b.count).max().unwrap_or(1).max(1) as f64);
    let sy = |y: f64| HEIGHT - BOTTOM - y / y_top * (HEIGHT - TOP - BOTTOM);
    let slot = (WIDTH - LEFT - RIGHT) / shown.len().max(1) as f64;
    let mut svg = open_svg();
    axes(&mut svg, y_top, "responses", |i| {
        (sy(y_top * f64::from(i) / 5.0), y_top * f64::from(i) / 5.0)
    });
    for (i, b) in shown.iter().enumerate() {
        let x = LEFT + slot * i as f64;
        let top = sy(b.count as f64);
        let label = if b.le_ms.is_finite() {
            format!("≤{}", number(b.le_ms))
        } else {
            "more".to_owned()
        };
        let _ = writeln!(
            svg,
            "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} ms: {}</title></rect>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x + 1.0,
            (slot - 2.0).max(1.0),
            (HEIGHT - BOTTOM - top).max(0.0),
            PALETTE[0],
            escape(&label),
            b.count,
            x + slot / 2.0,
            HEIGHT - BOTTOM + 14.0,
            escape(&label)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">latency bucket (ms)</text>\n</svg>",
        (LEFT + WIDTH - RIGHT) / 2.0,
        HEIGHT - 4.0
    );
    svg
}

fn open_svg() -> String {
    format!(
        "<svg width=\"{WIDTH}\" height=\"{HEIGHT}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\">\n"
    )
}

/// The y axis with six labelled grid lines (five steps); `tick(i)` is `(y pixel, value)`.
fn axes(svg: &mut String, _top: f64, unit: &str, tick: impl Fn(i32) -> (f64, f64)) {
    for i in 0..=5 {
        let (y, value) = tick(i);
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e4e4e4\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            number(value)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"12\" y=\"{:.1}\" transform=\"rotate(-90 12 {:.1})\" text-anchor=\"middle\">{}</text>",
        (TOP + HEIGHT - BOTTOM) / 2.0,
        (TOP + HEIGHT - BOTTOM) / 2.0,
        escape(unit)
    );
}

/// The smallest of 1, 2, 2.5, 5 × 10^k at or above `x` (an axis top).
fn nice(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&v| v >= x * (1.0 - 1e-12))
        .unwrap_or(10.0 * magnitude)
}

/// A number for people: integers without decimals, others to 3 significant figures.
fn number(x: f64) -> String {
    if !x.is_finite() {
        return "—".to_owned();
    }
    if (x - x.round()).abs() < 1e-9 && x.abs() < 1e15 {
        return format!("{}", x.round() as i64);
    }
    let digits = if x.abs() >= 100.0 {
        0
    } else if x.abs() >= 10.0 {
        1
    } else if x.abs() >= 1.0 {
        2
    } else {
        3
    };
    let text = format!("{x:.digits$}");
    // 0.100 → 0.1, 2.50 → 2.5: no trailing zeros after the point.
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

fn ms(x: f64) -> String {
    format!("{x:.2}")
}

/// Text and attribute values are escaped, so no input can open a tag.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_axis_tops() {
        assert_eq!(nice(0.7), 1.0);
        assert_eq!(nice(1.0), 1.0);
        assert_eq!(nice(1.1), 2.0);
        assert_eq!(nice(2.2), 2.5);
        assert_eq!(nice(3.0), 5.0);
        assert_eq!(nice(2001.0), 2500.0);
        assert_eq!(nice(f64::NAN), 1.0);
        assert_eq!(nice(0.0), 1.0);
    }

    #[test]
    fn numbers_and_escaping() {
        assert_eq!(number(2000.0), "2000");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(f64::INFINITY), "—");
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

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
        assert!(line_chart(&[], "ms").contains("No data"));
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
