//! The event-day version of the demo's plan, edited as text so it reads
//! like the plan it came from (comments and layout kept) and parses with
//! the same rules: every written time shifted so the peak starts now, the
//! peak as long as the compressed day, each alert's and trigger's `for`
//! compressed like the day, the built-in scrape instead of an external
//! Prometheus, and the on-call channels posting to the demo's loopback
//! receiver (listed in `emergency.allow_hosts`, which E080 asks for).
//!
//! Why text and not a re-serialised model: the control plane stores and
//! shows the plan as written; a plan re-emitted from the model would lose
//! what its authors wrote around the numbers.

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// What the day's plan changes.
#[derive(Debug, Clone)]
pub struct DayEdit {
    /// When the peak starts (now).
    pub start: Timestamp,
    /// Length of the compressed peak.
    pub length: SignedDuration,
    /// The receiver's base URL (`http://127.0.0.1:PORT`); each channel
    /// posts to `{base}/{channel id}`.
    pub receiver: String,
    /// Secret reference of the channels (`file:/…`).
    pub secret: String,
}

/// Why the plan could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The plan has no `peak` phase to move to now.
    #[error(
        "the plan has no `event.phases.peak`; the event day needs one to know when the peak is"
    )]
    NoPeak,
    /// The time arithmetic failed.
    #[error("a plan time cannot be shifted: {0}")]
    Time(String),
}

/// The plan text `src` (parsed as `plan`) made into the day's plan.
pub fn day_plan(src: &str, plan: &seawall_plan::Plan, edit: &DayEdit) -> Result<String, EditError> {
    let peak = plan.event.phases.get("peak").ok_or(EditError::NoPeak)?;
    let tz = plan.event.tz.clone();
    let shift = edit.start.duration_since(peak.start);
    let peak_secs = peak.end.duration_since(peak.start).as_secs_f64().max(1.0);
    let ratio = (edit.length.as_secs_f64() / peak_secs).min(1.0);
    let mut text = shift_times(src, &tz, shift)?;
    text = set_peak_end(&text, &tz, edit.start, edit.length)?;
    text = compress_for(&text, ratio);
    text = drop_prometheus(&text);
    text = replace_channels(&text, plan, edit);
    text = allow_loopback(&text);
    Ok(text)
}

/// `"YYYY-MM-DDTHH:MM[:SS]"` at `i` (quoted either way): its end.
fn time_at(bytes: &[u8], i: usize) -> Option<usize> {
    let q = *bytes.get(i)?;
    if q != b'"' && q != b'\'' {
        return None;
    }
    let pattern = b"dddd-dd-ddTdd:dd";
    let body = bytes.get(i + 1..i + 1 + pattern.len())?;
    let fits = body.iter().zip(pattern).all(|(c, p)| {
        if *p == b'd' {
            c.is_ascii_digit()
        } else {
            c == p
        }
    });
    if !fits {
        return None;
    }
    let mut end = i + 1 + pattern.len();
    if bytes.get(end) == Some(&b':')
        && bytes
            .get(end + 1..end + 3)
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    {
        end += 3;
    }
    (bytes.get(end) == Some(&q)).then_some(end)
}

/// A civil time in `tz`, seconds kept.
fn civil(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// Every quoted civil time moved by `shift`.
fn shift_times(src: &str, tz: &TimeZone, shift: SignedDuration) -> Result<String, EditError> {
    let bytes = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut last = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(end) = time_at(bytes, i) {
            let old = &src[i + 1..end];
            let t = seawall_plan::time::parse_time(old, tz).map_err(EditError::Time)?;
            let moved = t
                .checked_add(shift)
                .map_err(|e| EditError::Time(e.to_string()))?;
            out.push_str(&src[last..=i]);
            out.push_str(&civil(moved, tz));
            last = end;
            i = end + 1;
        } else {
            i += 1;
        }
    }
    out.push_str(&src[last..]);
    Ok(out)
}

/// The `peak:` phase's `end` set to `start + length` (flow style on one
/// line, or an `end:` line just below).
fn set_peak_end(
    src: &str,
    tz: &TimeZone,
    start: Timestamp,
    length: SignedDuration,
) -> Result<String, EditError> {
    let end = start
        .checked_add(length)
        .map_err(|e| EditError::Time(e.to_string()))?;
    let mut lines: Vec<String> = src.lines().map(str::to_owned).collect();
    let mut in_phases = false;
    let mut peak_line = None;
    for (n, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if t.starts_with("phases:") {
            in_phases = true;
        } else if in_phases && t.starts_with("peak:") {
            peak_line = Some(n);
            break;
        }
    }
    let Some(first) = peak_line else {
        return Ok(src.to_owned());
    };
    for line in lines.iter_mut().skip(first).take(4) {
        if let Some(k) = line.find("end:") {
            let bytes = line.as_bytes();
            if let Some(q) = (k..bytes.len()).find(|&j| time_at(bytes, j).is_some())
                && let Some(e) = time_at(bytes, q)
            {
                *line = format!("{}{}{}", &line[..=q], civil(end, tz), &line[e..]);
            }
            break;
        }
    }
    let mut out = lines.join("\n");
    if src.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// Every `for: D` multiplied by `ratio`, rounded up to whole seconds (at
/// least 1 s, never longer than written).
fn compress_for(src: &str, ratio: f64) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(k) = rest.find("for:") {
        let before_ok = k == 0
            || rest[..k]
                .chars()
                .next_back()
                .is_some_and(|c| c == ' ' || c == '{' || c == ',');
        out.push_str(&rest[..k + 4]);
        rest = &rest[k + 4..];
        if !before_ok {
            continue;
        }
        let value_start = rest.len() - rest.trim_start_matches(' ').len();
        let value = &rest[value_start..];
        let len = value.find([',', '}', '\n', '#']).unwrap_or(value.len());
        let written = value[..len].trim_end();
        if let Ok(secs) = seawall_plan::time::parse_duration(written.trim_matches('"')) {
            let short = (secs * ratio)
                .ceil()
                .clamp(1.0_f64.min(secs), secs.max(1.0));
            out.push_str(&rest[..value_start]);
            out.push_str(&format!("{short}s"));
            rest = &value[written.len()..];
        }
    }
    out.push_str(rest);
    out
}

/// The external Prometheus removed: the control plane scrapes the
/// sidecars itself.
fn drop_prometheus(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for line in src.split_inclusive('\n') {
        let t = line.trim_start();
        let indented = line.len() > t.len();
        if indented && (t.starts_with("prometheus:") || t.starts_with("prometheus_url:")) {
            continue;
        }
        out.push_str(line);
    }
    out
}

/// Indentation of a line (spaces).
fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// `oncall.channels` replaced by the plan's channel ids, each a signed
/// webhook to the receiver (a plan without channels gets `war-room`).
fn replace_channels(src: &str, plan: &seawall_plan::Plan, edit: &DayEdit) -> String {
    let mut ids: Vec<&str> = plan.oncall.channels.iter().map(|c| c.id.as_str()).collect();
    if ids.is_empty() {
        ids.push("war-room");
    }
    let block = |pad: &str| -> String {
        let mut b = format!("{pad}channels:\n");
        for id in &ids {
            b.push_str(&format!(
                "{pad}  {id}: {{kind: webhook, webhook: \"{}/{id}\", secret_env: \"{}\"}}\n",
                edit.receiver, edit.secret
            ));
        }
        b
    };
    let lines: Vec<&str> = src.split_inclusive('\n').collect();
    let Some(oncall) = lines.iter().position(|l| l.starts_with("oncall:")) else {
        let mut out = src.to_owned();
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("oncall:\n");
        out.push_str(&block("  "));
        return out;
    };
    let section_end = lines
        .iter()
        .enumerate()
        .skip(oncall + 1)
        .find(|(_, l)| !l.trim().is_empty() && indent(l) == 0 && !l.starts_with('#'))
        .map_or(lines.len(), |(n, _)| n);
    let channels =
        (oncall + 1..section_end).find(|&n| lines[n].trim_start().starts_with("channels:"));
    let mut out = String::with_capacity(src.len());
    match channels {
        Some(c) => {
            let pad = indent(lines[c]);
            let until = (c + 1..section_end)
                .find(|&n| {
                    let t = lines[n].trim();
                    !t.is_empty() && !t.starts_with('#') && indent(lines[n]) <= pad
                })
                .unwrap_or(section_end);
            lines[..c].iter().for_each(|l| out.push_str(l));
            out.push_str(&block(&" ".repeat(pad)));
            lines[until..].iter().for_each(|l| out.push_str(l));
        }
        None => {
            lines[..=oncall].iter().for_each(|l| out.push_str(l));
            out.push_str(&block("  "));
            lines[oncall + 1..].iter().for_each(|l| out.push_str(l));
        }
    }
    out
}

/// `127.0.0.1` in `emergency.allow_hosts` (the receiver is on loopback).
fn allow_loopback(src: &str) -> String {
    let lines: Vec<&str> = src.split_inclusive('\n').collect();
    let mut out = String::with_capacity(src.len() + 64);
    match lines.iter().position(|l| l.starts_with("emergency:")) {
        Some(e) if lines[e].trim_end() == "emergency:" => {
            lines[..=e].iter().for_each(|l| out.push_str(l));
            // An existing list gets the host prepended in flow style.
            let mut done = false;
            for l in &lines[e + 1..] {
                if !done && indent(l) > 0 && l.trim_start().starts_with("allow_hosts:") {
                    let pad = indent(l);
                    let value = l.trim_start()["allow_hosts:".len()..].trim();
                    let inner = value.trim_start_matches('[').trim_end_matches(']').trim();
                    if inner.is_empty() {
                        out.push_str(&format!(
                            "{}allow_hosts: [\"127.0.0.1\"]\n",
                            " ".repeat(pad)
                        ));
                    } else {
                        out.push_str(&format!(
                            "{}allow_hosts: [\"127.0.0.1\", {inner}]\n",
                            " ".repeat(pad)
                        ));
                    }
                    done = true;
                } else {
                    out.push_str(l);
                }
            }
            if !done {
                // Put it right under `emergency:`.
                let head: String = lines[..=e].concat();
                let tail: String = lines[e + 1..].concat();
                return format!("{head}  allow_hosts: [\"127.0.0.1\"]\n{tail}");
            }
        }
        _ => {
            out.push_str(src);
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("\nemergency:\n  allow_hosts: [\"127.0.0.1\"]\n");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARNIVAL: &str = include_str!("../../../../examples/carnival/plan.yaml");

    #[test]
    fn the_carnival_day_plan_parses_with_its_peak_now() {
        let plan = seawall_plan::parse(CARNIVAL, "plan.yaml").expect("carnival parses");
        let start: Timestamp = "2027-01-05T09:30:00Z".parse().expect("time");
        let edit = DayEdit {
            start,
            length: SignedDuration::from_secs(300),
            receiver: "http://127.0.0.1:4321".to_owned(),
            secret: "file:/tmp/pager-secret".to_owned(),
        };
        let text = day_plan(CARNIVAL, &plan, &edit).expect("edited");
        let day = seawall_plan::parse(&text, "plan.yaml").expect("the day plan parses");
        let peak = &day.event.phases["peak"];
        assert_eq!(peak.start, start);
        assert_eq!(peak.end.duration_since(start).as_secs(), 300);
        assert!(day.monitoring.prometheus_url.is_none());
        assert_eq!(day.emergency.allow_hosts, vec!["127.0.0.1".to_owned()]);
        let ids: Vec<&str> = day.oncall.channels.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["war-room", "sre", "customer-service"]);
        for c in &day.oncall.channels {
            assert_eq!(c.kind, "webhook");
            assert_eq!(
                c.webhook.as_deref(),
                Some(format!("http://127.0.0.1:4321/{}", c.id).as_str())
            );
        }
        // 30 s and 1 m over a 4-hour peak pressed into 5 minutes: 1 s and 2 s.
        assert_eq!(day.monitoring.alerts["coupon-grab-water"].for_seconds, 1.0);
        assert_eq!(day.monitoring.alerts["home-p99"].for_seconds, 2.0);
        // The freeze moved with the peak: it still covers it.
        let freeze = &day.event.phases["freeze"];
        assert!(freeze.start <= start && start < freeze.end);
        // Comments stay.
        assert!(text.contains("# RISK L010"));
    }

    #[test]
    fn a_plan_with_an_emergency_section_gets_the_host_in_its_list() {
        let src = "a: 1\nemergency:\n  allow_hosts: [\"relay.example\"]\nb: 2\n";
        assert_eq!(
            allow_loopback(src),
            "a: 1\nemergency:\n  allow_hosts: [\"127.0.0.1\", \"relay.example\"]\nb: 2\n"
        );
        let bare = "emergency:\n  other: 1\n";
        assert_eq!(
            allow_loopback(bare),
            "emergency:\n  allow_hosts: [\"127.0.0.1\"]\n  other: 1\n"
        );
    }

    #[test]
    fn for_is_compressed_but_not_below_a_second_or_above_what_is_written() {
        assert_eq!(
            compress_for("x: {for: 10m, a: 1}", 0.01),
            "x: {for: 6s, a: 1}"
        );
        assert_eq!(compress_for("for: 30s\n", 0.001), "for: 1s\n");
        assert_eq!(compress_for("before: 3\n", 0.5), "before: 3\n");
    }
}
