//! Charts for the rehearsal, change-control and on-call pages, drawn on the
//! server as inline SVG strings: line charts (rate and latency over time,
//! capacity-search steps) and time lines (freeze calendar, on-call rota).
//!
//! Pure functions of their input, so they are tested without a server.
//! Every coordinate passes through [`fin`]: whatever a run document holds,
//! the SVG never contains `NaN` or `inf`. Styling is by the classes of
//! `assets/seawall.css` (`series-N`, `fill-*`, `stroke-*`), never `style=""`.

use std::fmt::Write as _;

use super::svg::esc;

/// A finite value: `v`, or 0 for NaN and ±∞.
pub fn fin(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

/// A linear map from a data domain onto a pixel range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Scale {
    /// Map `[d0, d1]` onto `[r0, r1]`. A non-finite or empty domain maps
    /// everything to the middle of the range.
    pub fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Scale {
        Scale {
            d0: fin(d0),
            d1: fin(d1),
            r0: fin(r0),
            r1: fin(r1),
        }
    }

    /// The pixel position of `v` (finite; values outside the domain are
    /// extrapolated, then clamped to the range).
    pub fn map(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        let (lo, hi) = if self.r0 <= self.r1 {
            (self.r0, self.r1)
        } else {
            (self.r1, self.r0)
        };
        if !(span.is_finite() && span.abs() > f64::EPSILON * self.d0.abs().max(1.0)) {
            return (self.r0 + self.r1) / 2.0;
        }
        let t = (fin(v) - self.d0) / span;
        fin(self.r0 + t * (self.r1 - self.r0)).clamp(lo, hi)
    }
}

/// "Nice" tick values (steps of 1, 2 or 5 × 10ⁿ) covering `[lo, hi]`,
/// about `target` of them (at most `2 × target + 2`), ascending. The first
/// tick is ≤ `lo` and the last ≥ `hi`, so they also give the axis bounds.
/// Non-finite input is treated as 0; an empty range gets a unit around it.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let (mut lo, mut hi) = (fin(lo), fin(hi));
    if lo > hi {
        std::mem::swap(&mut lo, &mut hi);
    }
    if hi - lo < 1e-9 * lo.abs().max(1.0) {
        let orig = lo;
        let pad = (lo.abs() * 0.1).max(1.0);
        lo -= pad;
        hi += pad;
        if orig >= 0.0 && lo < 0.0 {
            lo = 0.0;
        }
    }
    let target = target.clamp(1, 20) as f64;
    let raw = (hi - lo) / target;
    // step = m × 10^e with m in {1, 2, 5, 10}; ticks are n × m × 10^e for
    // whole n, computed so that decimals come out exact (0.6, not 0.6000…1).
    let e = raw.log10().floor();
    if !e.is_finite() {
        return vec![lo, hi];
    }
    let e = e as i32;
    let pow = 10f64.powi(e.abs());
    let at = |n: f64, m: f64| if e < 0 { n * m / pow } else { n * m * pow };
    // The step whose interval count is nearest the target (never above
    // twice it; 10 × 10^e ≥ raw always qualifies).
    let span = hi - lo;
    let m = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .filter(|m| span / at(1.0, *m) <= 2.0 * target)
        .min_by(|a, b| {
            let off = |m: f64| (span / at(1.0, m) - target).abs();
            off(*a).total_cmp(&off(*b))
        })
        .unwrap_or(10.0);
    let step = at(1.0, m);
    if !(step.is_finite() && step > 0.0) {
        return vec![lo, hi];
    }
    let first = (lo / step).floor();
    let mut ticks = Vec::new();
    let limit = 2 * target as usize + 2;
    for k in 0..limit {
        let t = at(first + k as f64, m);
        ticks.push(if t == 0.0 { 0.0 } else { t });
        if t >= hi - step * 1e-9 {
            break;
        }
    }
    if ticks.len() < 2 {
        ticks.push(at(first + 1.0, m));
    }
    ticks
}

/// A number for an axis or a table: `12`, `1.5`, `0.25`, `12.3k`, `4.1M`.
pub fn fmt_num(v: f64) -> String {
    let v = fin(v);
    let a = v.abs();
    let (x, suffix) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = if x.fract().abs() < 1e-9 || x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else if x.abs() >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    format!("{s}{suffix}")
}

/// One point of a series, with the tooltip shown on hover.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// X value in data units.
    pub x: f64,
    /// Y value in data units.
    pub y: f64,
    /// `<title>` text.
    pub title: String,
}

/// A named line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Colour: the `series-N` class (N modulo 5).
    pub color: usize,
    /// Drawn dashed (the second run of a comparison).
    pub dashed: bool,
    /// Whether each point gets a dot (sparse data such as search steps).
    pub dots: bool,
    /// Points in drawing order.
    pub points: Vec<Point>,
}

/// A horizontal or vertical reference line with a label (a knee, an SLO).
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Vertical (at an x value) or horizontal (at a y value).
    pub vertical: bool,
    /// Position in data units.
    pub at: f64,
    /// Label.
    pub label: String,
    /// Colour class (`stroke-critical`, `stroke-ok`, …).
    pub class: &'static str,
}

/// A line chart with axes, ticks, units, a legend and tooltips.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// `id` of the `<svg>` (stable, for tests and links).
    pub id: String,
    /// Accessible title.
    pub title: String,
    /// X axis label with unit, like `time since start (s)`.
    pub x_label: String,
    /// Y axis label with unit, like `requests/s`.
    pub y_label: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Reference lines.
    pub markers: Vec<Marker>,
    /// Start the y axis at zero (rates) rather than at the data's minimum.
    pub y_from_zero: bool,
}

const W: f64 = 640.0;
const H: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 58.0;

impl LineChart {
    /// A chart without series yet.
    pub fn new(id: &str, title: &str, x_label: &str, y_label: &str) -> LineChart {
        LineChart {
            id: id.to_owned(),
            title: title.to_owned(),
            x_label: x_label.to_owned(),
            y_label: y_label.to_owned(),
            series: Vec::new(),
            markers: Vec::new(),
            y_from_zero: true,
        }
    }

    fn extent(&self, vertical: bool) -> (f64, f64) {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        let values = self
            .series
            .iter()
            .flat_map(|s| &s.points)
            .map(|p| if vertical { p.y } else { p.x })
            .chain(
                self.markers
                    .iter()
                    .filter(|m| m.vertical != vertical)
                    .map(|m| m.at),
            )
            .filter(|v| v.is_finite());
        for v in values {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo > hi { (0.0, 1.0) } else { (lo, hi) }
    }

    /// Whether the chart has any point to draw.
    pub fn is_empty(&self) -> bool {
        self.series.iter().all(|s| s.points.is_empty())
    }

    /// The chart as an `<svg>` element.
    pub fn svg(&self) -> String {
        let (x_lo, x_hi) = self.extent(false);
        let (mut y_lo, y_hi) = self.extent(true);
        if self.y_from_zero {
            y_lo = y_lo.min(0.0);
        }
        let xt = nice_ticks(x_lo, x_hi, 6);
        let yt = nice_ticks(y_lo, y_hi, 5);
        let (x0, x1) = (xt[0], xt[xt.len() - 1]);
        let (y0, y1) = (yt[0], yt[yt.len() - 1]);
        let sx = Scale::new(x0, x1, LEFT, W - RIGHT);
        let sy = Scale::new(y0, y1, H - BOTTOM, TOP);
        // Legend under the x label, wrapping onto more lines as needed.
        let mut legend = Vec::new();
        let (mut lx, mut ly) = (LEFT, H - 8.0);
        for se in &self.series {
            let width = 40.0 + 7.5 * se.name.chars().count() as f64;
            if lx + width > W - RIGHT && lx > LEFT {
                lx = LEFT;
                ly += 16.0;
            }
            legend.push((lx, ly));
            lx += width;
        }
        let height = ly + 8.0;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg id="{}" class="chart" viewBox="0 0 {W} {height}" role="img" aria-label="{}"><title>{}</title>"#,
            esc(&self.id),
            esc(&self.title),
            esc(&self.title)
        );
        // Grid and y ticks.
        for &t in &yt {
            let y = sy.map(t);
            let _ = write!(
                s,
                r#"<line class="grid-line" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke-width="1"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                W - RIGHT,
                LEFT - 4.0,
                y + 4.0,
                esc(&fmt_num(t))
            );
        }
        for &t in &xt {
            let x = sx.map(t);
            let _ = write!(
                s,
                r#"<line class="axis" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke-width="1"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                H - BOTTOM,
                H - BOTTOM + 4.0,
                H - BOTTOM + 16.0,
                esc(&fmt_num(t))
            );
        }
        let _ = write!(
            s,
            r#"<line class="axis" x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke-width="1"/><line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke-width="1"/>"#,
            H - BOTTOM,
            W - RIGHT,
            H - BOTTOM,
            H - BOTTOM
        );
        let _ = write!(
            s,
            r#"<text class="muted" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text class="muted" x="4" y="{:.1}" text-anchor="start">{}</text>"#,
            (LEFT + W - RIGHT) / 2.0,
            H - BOTTOM + 32.0,
            esc(&self.x_label),
            TOP - 12.0,
            esc(&self.y_label)
        );
        let mut horizontal = 0;
        for m in &self.markers {
            let (xa, ya, xb, yb, tx, ty, anchor) = if m.vertical {
                let x = sx.map(m.at);
                // Labels of lines in the right half go to their left.
                if x > (LEFT + W - RIGHT) / 2.0 {
                    (x, TOP, x, H - BOTTOM, x - 3.0, TOP + 10.0, "end")
                } else {
                    (x, TOP, x, H - BOTTOM, x + 3.0, TOP + 10.0, "start")
                }
            } else {
                let y = sy.map(m.at);
                horizontal += 1;
                // Alternate right and left so labels of close lines do not
                // cover each other.
                if horizontal % 2 == 1 {
                    (LEFT, y, W - RIGHT, y, W - RIGHT - 2.0, y - 3.0, "end")
                } else {
                    (LEFT, y, W - RIGHT, y, LEFT + 4.0, y - 3.0, "start")
                }
            };
            let _ = write!(
                s,
                r#"<g class="marker" data-marker="{}"><title>{}</title><line class="{}" x1="{xa:.1}" y1="{ya:.1}" x2="{xb:.1}" y2="{yb:.1}" stroke-width="1.5" stroke-dasharray="6 3"/><text x="{tx:.1}" y="{ty:.1}" text-anchor="{anchor}">{}</text></g>"#,
                esc(&m.label),
                esc(&m.label),
                m.class,
                esc(&m.label)
            );
        }
        for se in &self.series {
            let class = format!("series-{}", se.color % 5);
            let pts: Vec<String> = se
                .points
                .iter()
                .map(|p| format!("{:.1},{:.1}", sx.map(p.x), sy.map(p.y)))
                .collect();
            let _ = write!(s, r#"<g class="series" data-series="{}">"#, esc(&se.name));
            if pts.len() > 1 {
                let _ = write!(
                    s,
                    r#"<polyline class="{class}" fill="none" stroke-width="2"{} points="{}"/>"#,
                    if se.dashed {
                        r#" stroke-dasharray="5 4""#
                    } else {
                        ""
                    },
                    pts.join(" ")
                );
            }
            let r = if se.dots || se.points.len() == 1 {
                3.5
            } else {
                2.0
            };
            for p in &se.points {
                // Transparent unless a dot (filled by `circle.dot` in the
                // stylesheet); the circle still takes the hover for its tooltip.
                let _ = write!(
                    s,
                    r#"<circle class="{class}{}" cx="{:.1}" cy="{:.1}" r="{r}" fill="transparent" stroke-width="1.5"><title>{}</title></circle>"#,
                    if se.dots { " dot" } else { "" },
                    sx.map(p.x),
                    sy.map(p.y),
                    esc(&p.title)
                );
            }
            s.push_str("</g>");
        }
        for (se, (lx, ly)) in self.series.iter().zip(legend) {
            let _ = write!(
                s,
                r#"<g class="legend"><line class="series-{}" x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke-width="3"{}/><text x="{:.1}" y="{ly:.1}">{}</text></g>"#,
                se.color % 5,
                ly - 4.0,
                lx + 18.0,
                ly - 4.0,
                if se.dashed {
                    r#" stroke-dasharray="5 4""#
                } else {
                    ""
                },
                lx + 22.0,
                esc(&se.name)
            );
        }
        s.push_str("</svg>");
        s
    }
}

/// One bar of a time line.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Start, ms since the epoch.
    pub start: i64,
    /// End, ms since the epoch (exclusive).
    pub end: i64,
    /// Fill class (`fill-info`, `fill-critical`, …).
    pub class: &'static str,
    /// Text drawn inside the bar when it fits.
    pub label: String,
    /// `<title>` tooltip.
    pub title: String,
    /// Value of the bar's `data-bar` attribute (for tests and the browser).
    pub data: String,
    /// Draw as a thin hatched stripe under the bar row (gaps, holes).
    pub thin: bool,
}

/// A row of a time line (a freeze window, a business line).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Label left of the row.
    pub label: String,
    /// Value of the row's `data-row` attribute.
    pub data: String,
    /// Bars.
    pub bars: Vec<Bar>,
}

/// A shaded band across all rows (an event phase).
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Start, ms since the epoch.
    pub start: i64,
    /// End, ms since the epoch.
    pub end: i64,
    /// Label at the top.
    pub label: String,
}

/// Horizontal bars over a time axis in the event's time zone, with "now".
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// `id` of the `<svg>`.
    pub id: String,
    /// Accessible title.
    pub title: String,
    /// IANA time zone of the tick labels.
    pub tz: String,
    /// Start of the axis, ms since the epoch.
    pub start: i64,
    /// End of the axis, ms since the epoch.
    pub end: i64,
    /// The rows, top to bottom.
    pub rows: Vec<Row>,
    /// Shaded bands.
    pub bands: Vec<Band>,
    /// "Now", drawn when inside the axis.
    pub now: Option<i64>,
}

/// Time tick step candidates, in hours.
const TIME_STEPS_H: [i64; 10] = [1, 2, 3, 6, 12, 24, 48, 96, 168, 336];

/// Tick instants (ms) for `[start, end]` at whole local hours or local
/// midnights of zone `tz`, at most about `target` + 1, and the label of each.
pub fn time_ticks(start: i64, end: i64, tz: &str, target: usize) -> Vec<(i64, String)> {
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    if end <= start {
        return Vec::new();
    }
    let span_h = (end - start) as f64 / 3_600_000.0;
    let step_h = TIME_STEPS_H
        .into_iter()
        .find(|h| span_h / (*h as f64) <= target.max(1) as f64)
        .unwrap_or(TIME_STEPS_H[TIME_STEPS_H.len() - 1]);
    let Ok(ts) = jiff::Timestamp::from_millisecond(start) else {
        return Vec::new();
    };
    let local = ts.to_zoned_datetime(zone);
    // First tick: the local hour (or midnight for day steps) at or before start.
    let day_steps = step_h >= 24;
    let base = if day_steps {
        local.start_of_day().ok()
    } else {
        let hour = i64::from(local.hour());
        let back = hour % step_h;
        local
            .with()
            .minute(0)
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .ok()
            .and_then(|z| z.checked_sub(jiff::Span::new().hours(back)).ok())
    };
    let Some(mut t) = base else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for _ in 0..(target.max(1) * 3 + 4) {
        let ms = t.timestamp().as_millisecond();
        if ms > end {
            break;
        }
        if ms >= start {
            let label = if day_steps || (t.hour() == 0 && t.minute() == 0) {
                t.strftime("%m-%d").to_string()
            } else {
                t.strftime("%m-%d %H:%M").to_string()
            };
            out.push((ms, label));
        }
        let next = if day_steps {
            t.checked_add(jiff::Span::new().days(step_h / 24))
        } else {
            t.checked_add(jiff::Span::new().hours(step_h))
        };
        match next {
            Ok(n) => t = n,
            Err(_) => break,
        }
    }
    out
}

const T_LEFT: f64 = 170.0;
const T_W: f64 = 980.0;
const T_TOP: f64 = 40.0;
const T_ROW: f64 = 30.0;

impl Timeline {
    /// The same time line over `[start, end)` only: bars and bands cut to
    /// it, those outside dropped (a zoom, such as the next 24 hours).
    pub fn window(mut self, id: &str, start: i64, end: i64) -> Timeline {
        self.id = id.to_owned();
        self.start = start;
        self.end = end;
        for row in &mut self.rows {
            row.bars.retain(|b| b.end > start && b.start < end);
            for b in &mut row.bars {
                b.start = b.start.max(start);
                b.end = b.end.min(end);
            }
        }
        self.bands.retain(|b| b.end > start && b.start < end);
        for b in &mut self.bands {
            b.start = b.start.max(start);
            b.end = b.end.min(end);
        }
        self
    }

    /// The time line as an `<svg>` element.
    pub fn svg(&self) -> String {
        let (start, end) = if self.end > self.start {
            (self.start, self.end)
        } else {
            (self.start, self.start + 3_600_000)
        };
        let height = T_TOP + T_ROW * self.rows.len().max(1) as f64 + 26.0;
        let sx = Scale::new(start as f64, end as f64, T_LEFT, T_W - 30.0);
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg id="{}" class="timeline" viewBox="0 0 {T_W} {height:.0}" role="img" aria-label="{}"><title>{}</title>"#,
            esc(&self.id),
            esc(&self.title),
            esc(&self.title)
        );
        let bottom = height - 26.0;
        for b in &self.bands {
            let (x0, x1) = (sx.map(b.start as f64), sx.map(b.end as f64));
            if x1 - x0 < 0.5 {
                continue;
            }
            let _ = write!(
                s,
                r#"<g class="band" data-band="{}"><title>{}</title><rect class="fill-track" x="{x0:.1}" y="2" width="{:.1}" height="{:.1}" opacity="0.35"/><text x="{:.1}" y="13" text-anchor="middle">{}</text></g>"#,
                esc(&b.label),
                esc(&b.label),
                x1 - x0,
                bottom - 2.0,
                (x0 + x1) / 2.0,
                esc(&b.label)
            );
        }
        for (ms, label) in time_ticks(start, end, &self.tz, 8) {
            let x = sx.map(ms as f64);
            let _ = write!(
                s,
                r#"<line class="grid-line" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke-width="1"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                T_TOP - 4.0,
                bottom + 16.0,
                esc(&label)
            );
        }
        for (i, row) in self.rows.iter().enumerate() {
            let y = T_TOP + T_ROW * i as f64;
            let _ = write!(
                s,
                r#"<g class="row" data-row="{}"><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                esc(&row.data),
                T_LEFT - 8.0,
                y + T_ROW / 2.0 + 4.0,
                esc(&truncate(&row.label, 26))
            );
            for b in &row.bars {
                let (x0, x1) = (sx.map(b.start as f64), sx.map(b.end as f64));
                let w = (x1 - x0).max(1.5);
                let (by, bh) = if b.thin {
                    (y + T_ROW - 9.0, 6.0)
                } else {
                    (y + 4.0, T_ROW - 8.0)
                };
                let _ = write!(
                    s,
                    r#"<g class="bar" data-bar="{}"><title>{}</title><rect class="{}" x="{x0:.1}" y="{by:.1}" width="{w:.1}" height="{bh:.1}" rx="3"/>"#,
                    esc(&b.data),
                    esc(&b.title),
                    b.class
                );
                let chars = (w / 7.0) as usize;
                if !b.thin && chars >= 4 && !b.label.is_empty() {
                    let _ = write!(
                        s,
                        r#"<text class="on-bar" x="{:.1}" y="{:.1}">{}</text>"#,
                        x0 + 4.0,
                        y + T_ROW / 2.0 + 4.0,
                        esc(&truncate(&b.label, chars))
                    );
                }
                s.push_str("</g>");
            }
            s.push_str("</g>");
        }
        if let Some(now) = self.now
            && now >= start
            && now <= end
        {
            let x = sx.map(now as f64);
            let _ = write!(
                s,
                r#"<g id="{}-now" class="now"><line class="stroke-critical" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke-width="2"/><text x="{:.1}" y="{:.1}" text-anchor="{}" class="critical">now</text></g>"#,
                esc(&self.id),
                T_TOP - 16.0,
                if x > T_W - 80.0 { x - 4.0 } else { x + 4.0 },
                T_TOP - 6.0,
                if x > T_W - 80.0 { "end" } else { "start" }
            );
        }
        s.push_str("</svg>");
        s
    }
}

fn truncate(s: &str, chars: usize) -> String {
    if s.chars().count() <= chars {
        s.to_owned()
    } else {
        let keep: String = s.chars().take(chars.saturating_sub(1)).collect();
        format!("{keep}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: a seeded generator for the randomized checks below.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        /// A value that is sometimes NaN, ±∞, huge, tiny, negative or zero.
        fn wild(&mut self) -> f64 {
            match self.next() % 10 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                3 => 0.0,
                4 => 1e300,
                5 => -1e-300,
                _ => (self.next() % 2_000_000) as f64 / 7.0 - 50_000.0,
            }
        }
    }

    #[test]
    fn scale_maps_ends_and_middle() {
        let s = Scale::new(0.0, 100.0, 10.0, 210.0);
        assert_eq!(s.map(0.0), 10.0);
        assert_eq!(s.map(100.0), 210.0);
        assert_eq!(s.map(50.0), 110.0);
        // Inverted range (SVG y grows downwards).
        let y = Scale::new(0.0, 10.0, 200.0, 0.0);
        assert_eq!(y.map(10.0), 0.0);
        assert_eq!(y.map(2.5), 150.0);
        // Clamped outside, middle for an empty domain, finite for NaN.
        assert_eq!(y.map(20.0), 0.0);
        assert_eq!(Scale::new(5.0, 5.0, 0.0, 100.0).map(5.0), 50.0);
        assert!(
            Scale::new(f64::NAN, 1.0, 0.0, 1.0)
                .map(f64::NAN)
                .is_finite()
        );
    }

    #[test]
    fn ticks_are_nice_and_cover_the_range() {
        assert_eq!(
            nice_ticks(0.0, 100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(
            nice_ticks(3.0, 97.0, 4),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(
            nice_ticks(0.0, 5400.0, 5),
            vec![0.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 6000.0]
        );
        let t = nice_ticks(7.0, 7.0, 5);
        assert!(t[0] <= 7.0 && *t.last().expect("ticks") >= 7.0 && t.len() >= 2);
    }

    #[test]
    fn ticks_hold_for_any_input() {
        let mut rng = Rng(0x5EA_0A11);
        for _ in 0..5000 {
            let (a, b) = (rng.wild(), rng.wild());
            let target = (rng.next() % 12) as usize;
            let t = nice_ticks(a, b, target);
            assert!(t.len() >= 2, "{a} {b} {target}: {t:?}");
            assert!(t.len() <= 2 * target.clamp(1, 20) + 3, "{a} {b}: {t:?}");
            assert!(t.iter().all(|v| v.is_finite()), "{a} {b}: {t:?}");
            assert!(t.windows(2).all(|w| w[0] < w[1]), "{a} {b}: {t:?}");
            let (lo, hi) = (fin(a).min(fin(b)), fin(a).max(fin(b)));
            // Covering holds where steps are representable.
            if (hi - lo).abs() < 1e15 && hi.abs() < 1e15 && lo.abs() < 1e15 {
                assert!(t[0] <= lo + 1e-9 * lo.abs().max(1.0), "{lo} {hi}: {t:?}");
                let last = t[t.len() - 1];
                assert!(last >= hi - 1e-9 * hi.abs().max(1.0), "{lo} {hi}: {t:?}");
            }
        }
    }

    #[test]
    fn numbers_read_short() {
        assert_eq!(fmt_num(12.0), "12");
        assert_eq!(fmt_num(1.5), "1.5");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(5400.0), "5400");
        assert_eq!(fmt_num(12_300.0), "12.3k");
        assert_eq!(fmt_num(4_100_000.0), "4.1M");
        assert_eq!(fmt_num(f64::NAN), "0");
    }

    fn chart_of(points: &[(f64, f64)]) -> LineChart {
        let mut c = LineChart::new("c", "A <chart>", "time (s)", "requests/s");
        c.series.push(Series {
            name: "home".into(),
            color: 0,
            dashed: false,
            dots: false,
            points: points
                .iter()
                .map(|&(x, y)| Point {
                    x,
                    y,
                    title: format!("{} s: {} req/s", fmt_num(x), fmt_num(y)),
                })
                .collect(),
        });
        c
    }

    #[test]
    fn line_chart_has_axes_legend_and_tooltips() {
        let mut c = chart_of(&[(0.0, 100.0), (1.0, 200.0), (2.0, 150.0)]);
        c.markers.push(Marker {
            vertical: false,
            at: 180.0,
            label: "knee 180/s".into(),
            class: "stroke-critical",
        });
        let svg = c.svg();
        assert!(svg.starts_with(r#"<svg id="c""#));
        assert!(svg.contains("A &#60;chart&#62;"), "title escaped");
        assert!(svg.contains("<title>1 s: 200 req/s</title>"), "{svg}");
        assert!(svg.contains(r#"data-series="home""#));
        assert!(svg.contains("requests/s") && svg.contains("time (s)"));
        assert!(svg.contains(r#"data-marker="knee 180/s""#));
        assert!(svg.contains("<polyline"));
        // y ticks 0…200 include 200 as a label.
        assert!(svg.contains(">200</text>"));
        assert!(!svg.contains("style="));
    }

    #[test]
    fn charts_never_contain_nan() {
        let mut rng = Rng(42);
        for _ in 0..500 {
            let n = (rng.next() % 6) as usize;
            let pts: Vec<(f64, f64)> = (0..n).map(|_| (rng.wild(), rng.wild())).collect();
            let mut c = chart_of(&pts);
            c.markers.push(Marker {
                vertical: rng.next().is_multiple_of(2),
                at: rng.wild(),
                label: "m".into(),
                class: "stroke-ok",
            });
            let svg = c.svg();
            assert!(
                !svg.contains("NaN") && !svg.contains("inf"),
                "{pts:?}: {svg}"
            );
        }
        let empty = LineChart::new("e", "empty", "x", "y");
        assert!(empty.is_empty());
        assert!(!empty.svg().contains("NaN"));
    }

    #[test]
    fn time_ticks_are_local_hours() {
        // 2026-09-30T00:00+08:00 .. 12:00+08:00 in 2-hour steps at most 8.
        let start = 1_790_697_600_000; // 2026-09-29T16:00:00Z
        let end = start + 12 * 3_600_000;
        let ticks = time_ticks(start, end, "Asia/Shanghai", 8);
        assert_eq!(ticks[0], (start, "09-30".to_owned()));
        assert_eq!(ticks[1].1, "09-30 02:00");
        assert_eq!(ticks.len(), 7);
        // Days when the span is long.
        let days = time_ticks(start, start + 10 * 86_400_000, "Asia/Shanghai", 8);
        assert!(days.iter().all(|(_, l)| l.len() == 5), "{days:?}");
        assert!(time_ticks(end, start, "UTC", 8).is_empty());
    }

    #[test]
    fn timeline_marks_now_and_escapes() {
        let t = Timeline {
            id: "freeze-calendar".into(),
            title: "Freeze".into(),
            tz: "UTC".into(),
            start: 0,
            end: 10 * 3_600_000,
            rows: vec![Row {
                label: "pay-* <config>".into(),
                data: "w".into(),
                bars: vec![Bar {
                    start: 3_600_000,
                    end: 5 * 3_600_000,
                    class: "fill-critical",
                    label: "frozen".into(),
                    title: "w: 01:00–05:00".into(),
                    data: "w".into(),
                    thin: false,
                }],
            }],
            bands: vec![Band {
                start: 0,
                end: 3_600_000,
                label: "peak".into(),
            }],
            now: Some(2 * 3_600_000),
        };
        let svg = t.svg();
        assert!(svg.contains(r#"id="freeze-calendar-now""#));
        assert!(svg.contains("pay-* &#60;config&#62;"));
        assert!(svg.contains(r#"data-bar="w""#));
        assert!(!svg.contains("NaN"));
        let outside = Timeline {
            now: Some(-5),
            ..t.clone()
        };
        assert!(!outside.svg().contains("freeze-calendar-now"));
        // A zoom cuts bars to the window and drops what lies outside.
        let zoom = t.clone().window("zoom", 4 * 3_600_000, 8 * 3_600_000);
        assert_eq!(zoom.rows[0].bars[0].start, 4 * 3_600_000);
        assert_eq!(zoom.rows[0].bars[0].end, 5 * 3_600_000);
        assert!(zoom.bands.is_empty());
        let later = t.window("later", 6 * 3_600_000, 8 * 3_600_000);
        assert!(later.rows[0].bars.is_empty());
        assert!(!later.svg().contains("data-bar="));
    }
}
