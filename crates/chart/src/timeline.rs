//! Time lines for the web UI: rows of bars over a time axis in an event's
//! time zone (the freeze calendar, the on-call rota), shaded bands for
//! event phases, and "now". Tick labels are local wall-clock times (jiff's
//! time-zone database), so a calendar reads the way the event is planned.

use crate::markup::{Element, Markup, f1, line};
use crate::scale::Scale;

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
    pub fn svg(&self) -> Markup {
        let (start, end) = if self.end > self.start {
            (self.start, self.end)
        } else {
            (self.start, self.start + 3_600_000)
        };
        let height = T_TOP + T_ROW * self.rows.len().max(1) as f64 + 26.0;
        let sx = Scale::new(start as f64, end as f64, T_LEFT, T_W - 30.0);
        let mut s = Element::new("svg")
            .attr("id", &self.id)
            .attr("class", "timeline")
            .attr("viewBox", format!("0 0 {T_W} {height:.0}"))
            .attr("role", "img")
            .attr("aria-label", &self.title)
            .title(self.title.as_str());
        let bottom = height - 26.0;
        for b in &self.bands {
            let (x0, x1) = (sx.map(b.start as f64), sx.map(b.end as f64));
            if x1 - x0 < 0.5 {
                continue;
            }
            s.push(
                Element::new("g")
                    .attr("class", "band")
                    .attr("data-band", &b.label)
                    .title(b.label.as_str())
                    .child(
                        Element::new("rect")
                            .attr("class", "fill-track")
                            .attr("x", f1(x0))
                            .attr("y", 2)
                            .attr("width", f1(x1 - x0))
                            .attr("height", f1(bottom - 2.0))
                            .attr("opacity", "0.35"),
                    )
                    .child(
                        Element::new("text")
                            .attr("x", f1((x0 + x1) / 2.0))
                            .attr("y", 13)
                            .attr("text-anchor", "middle")
                            .text(b.label.as_str()),
                    ),
            );
        }
        for (ms, label) in time_ticks(start, end, &self.tz, 8) {
            let x = sx.map(ms as f64);
            s.push(line(
                "grid-line",
                f1(x),
                f1(T_TOP - 4.0),
                f1(x),
                f1(bottom),
                "1",
            ));
            s.push(
                Element::new("text")
                    .attr("x", f1(x))
                    .attr("y", f1(bottom + 16.0))
                    .attr("text-anchor", "middle")
                    .text(label),
            );
        }
        for (i, row) in self.rows.iter().enumerate() {
            let y = T_TOP + T_ROW * i as f64;
            let mut g = Element::new("g")
                .attr("class", "row")
                .attr("data-row", &row.data)
                .child(
                    Element::new("text")
                        .attr("x", f1(T_LEFT - 8.0))
                        .attr("y", f1(y + T_ROW / 2.0 + 4.0))
                        .attr("text-anchor", "end")
                        .text(truncate(&row.label, 26)),
                );
            for b in &row.bars {
                let (x0, x1) = (sx.map(b.start as f64), sx.map(b.end as f64));
                let w = (x1 - x0).max(1.5);
                let (by, bh) = if b.thin {
                    (y + T_ROW - 9.0, 6.0)
                } else {
                    (y + 4.0, T_ROW - 8.0)
                };
                let mut bar = Element::new("g")
                    .attr("class", "bar")
                    .attr("data-bar", &b.data)
                    .title(b.title.as_str())
                    .child(
                        Element::new("rect")
                            .attr("class", b.class)
                            .attr("x", f1(x0))
                            .attr("y", f1(by))
                            .attr("width", f1(w))
                            .attr("height", f1(bh))
                            .attr("rx", 3),
                    );
                let chars = (w / 7.0) as usize;
                if !b.thin && chars >= 4 && !b.label.is_empty() {
                    bar.push(
                        Element::new("text")
                            .attr("class", "on-bar")
                            .attr("x", f1(x0 + 4.0))
                            .attr("y", f1(y + T_ROW / 2.0 + 4.0))
                            .text(truncate(&b.label, chars)),
                    );
                }
                g.push(bar);
            }
            s.push(g);
        }
        if let Some(now) = self.now
            && now >= start
            && now <= end
        {
            let x = sx.map(now as f64);
            let right = x > T_W - 80.0;
            s.push(
                Element::new("g")
                    .attr("id", format!("{}-now", self.id))
                    .attr("class", "now")
                    .child(line(
                        "stroke-critical",
                        f1(x),
                        f1(T_TOP - 16.0),
                        f1(x),
                        f1(bottom),
                        "2",
                    ))
                    .child(
                        Element::new("text")
                            .attr("x", f1(if right { x - 4.0 } else { x + 4.0 }))
                            .attr("y", f1(T_TOP - 6.0))
                            .attr("text-anchor", if right { "end" } else { "start" })
                            .attr("class", "critical")
                            .text("now"),
                    ),
            );
        }
        s.render()
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
