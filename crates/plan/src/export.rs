//! The freeze calendar in the formats other tools read: an iCalendar feed
//! (RFC 5545) for people's calendars, GitLab freeze periods for CI, and Argo
//! CD sync windows for GitOps.
//!
//! Every function is pure and deterministic (the caller passes `now` where a
//! format wants one), so exports are snapshot-tested and diffable. Instants
//! are written in UTC: iCal as `…Z`, and the crons of GitLab and Argo CD with
//! time zone `UTC`, because a cron in a zone with DST is ill-defined for a
//! window that starts or ends at a skipped or repeated local time, while a
//! UTC cron names exactly the plan's instant. Crons cannot say "once": a
//! GitLab freeze period or Argo CD window repeats every year, so remove it
//! after the event (docs/change-gate.md).

use std::fmt::Write as _;

use jiff::{SignedDuration, Timestamp, Unit};
use serde_saphyr::DoubleQuoted;

use crate::freeze::{CalendarWindow, applies, calendar};
use crate::gate::{ExceptionStatus, FreezeException};
use crate::model::{ChangeKind, Plan};
use crate::time::format_time;

/// `PRODID` of the iCal feed.
pub const ICAL_PRODID: &str = "-//Seawall//Seawall freeze calendar//EN";

/// The event's phases, freeze windows and approved freeze exceptions as an
/// iCalendar (RFC 5545) `VCALENDAR`.
///
/// One `VEVENT` per phase (plan order), per freeze window (by start) and per
/// approved exception (by start; pending and rejected ones are left out).
/// `UID`s depend only on the event name, the item's kind and id, so a
/// calendar that re-imports the feed updates events instead of duplicating
/// them; `DTSTAMP` is `now`. Lines end in CRLF and are folded at 75 octets
/// without splitting a UTF-8 character; TEXT values escape `\`, `;`, `,` and
/// newlines.
pub fn ical(plan: &Plan, exceptions: &[FreezeException], now: Timestamp) -> String {
    let name = &plan.event.name;
    let span = |start: Timestamp, end: Timestamp| {
        let tz = &plan.event.tz;
        let (s, e) = (format_time(start, tz), format_time(end, tz));
        format!("{s} to {e} ({})", plan.event.timezone)
    };
    let mut items: Vec<Item> = Vec::new();
    for (id, w) in &plan.event.phases {
        items.push(Item {
            kind: "phase",
            id: id.clone(),
            start: w.start,
            end: w.end,
            summary: format!("{name}: {id} phase"),
            description: format!("Phase `{id}` of {name}, {}.", span(w.start, w.end)),
            categories: vec!["phase".to_string(), id.clone()],
        });
    }
    for w in calendar(plan) {
        let mut description = String::new();
        if let Some(r) = w.reason.as_deref().filter(|r| !r.is_empty()) {
            description.push_str(r);
            description.push('\n');
        }
        let _ = write!(
            description,
            "Frozen change kinds: {}\nServices: {}\n{}.\nAsk the change gate before any change; exceptions need a commander's approval.",
            w.kinds.join(", "),
            w.services.join(", "),
            span(w.start, w.end),
        );
        let mut categories = vec!["freeze".to_string()];
        categories.extend(w.kinds.iter().map(|k| k.to_string()));
        items.push(Item {
            kind: "freeze",
            summary: format!("Change freeze: {} ({})", w.id, w.kinds.join(", ")),
            id: w.id,
            start: w.start,
            end: w.end,
            description,
            categories,
        });
    }
    for e in approved_by_start(exceptions) {
        let kinds: Vec<&str> = e.kinds.iter().map(|k| k.as_str()).collect();
        let mut description = format!(
            "{}\nLets through: {} changes to {}\n{}.",
            e.reason,
            kinds.join(", "),
            e.services.join(", "),
            span(e.start, e.end),
        );
        if let Some(by) = &e.decided_by {
            let _ = write!(description, "\nApproved by {by}.");
        }
        if let Some(r) = &e.change_ref {
            let _ = write!(description, "\nChange: {r}.");
        }
        let mut categories = vec!["freeze-exception".to_string()];
        categories.extend(kinds.iter().map(|k| k.to_string()));
        items.push(Item {
            kind: "exception",
            id: e.id.clone(),
            start: e.start,
            end: e.end,
            summary: format!("Freeze exception: {} ({})", e.id, e.services.join(", ")),
            description,
            categories,
        });
    }

    let mut out = String::new();
    let mut line = |name: &str, value: &str| fold_into(&mut out, name, value);
    line("BEGIN", "VCALENDAR");
    line("VERSION", "2.0");
    line("PRODID", ICAL_PRODID);
    line("CALSCALE", "GREGORIAN");
    line("METHOD", "PUBLISH");
    line(
        "X-WR-CALNAME",
        &text(&format!("{name}: phases and change freezes")),
    );
    let stamp = ical_time(now, false);
    for it in &items {
        line("BEGIN", "VEVENT");
        line("UID", &text(&uid(name, it.kind, &it.id)));
        line("DTSTAMP", &stamp);
        line("DTSTART", &ical_time(it.start, false));
        line("DTEND", &ical_time(it.end, true));
        line("SUMMARY", &text(&it.summary));
        line("DESCRIPTION", &text(&it.description));
        let cats: Vec<String> = it.categories.iter().map(|c| text(c)).collect();
        line("CATEGORIES", &cats.join(","));
        line("TRANSP", "OPAQUE");
        line("END", "VEVENT");
    }
    line("END", "VCALENDAR");
    out
}

/// One `VEVENT` of the feed.
struct Item {
    kind: &'static str,
    id: String,
    start: Timestamp,
    end: Timestamp,
    summary: String,
    description: String,
    categories: Vec<String>,
}

/// Approved exceptions sorted by start, then end, then id.
fn approved_by_start(exceptions: &[FreezeException]) -> Vec<&FreezeException> {
    let mut v: Vec<&FreezeException> = exceptions
        .iter()
        .filter(|e| e.status == ExceptionStatus::Approved && e.start < e.end)
        .collect();
    v.sort_by(|a, b| (a.start, a.end, &a.id).cmp(&(b.start, b.end, &b.id)));
    v
}

/// `20260927T160000Z`; an end with a fraction of a second is rounded up so
/// a window is never shortened.
fn ical_time(t: Timestamp, round_up: bool) -> String {
    let t = if round_up {
        ceil_to(t, Unit::Second)
    } else {
        t
    };
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// `t` rounded up to a whole `unit` (second or minute).
fn ceil_to(t: Timestamp, unit: Unit) -> Timestamp {
    let floor = floor_to(t, unit);
    if floor == t {
        return t;
    }
    let step = match unit {
        Unit::Minute => SignedDuration::from_mins(1),
        _ => SignedDuration::from_secs(1),
    };
    floor.checked_add(step).unwrap_or(t)
}

/// `t` rounded down to a whole `unit` (second or minute).
fn floor_to(t: Timestamp, unit: Unit) -> Timestamp {
    let per = match unit {
        Unit::Minute => 60,
        _ => 1,
    };
    let secs = t.as_second().div_euclid(per) * per;
    Timestamp::from_second(secs).unwrap_or(t)
}

/// A UID that depends only on the event name, the item's kind and its id:
/// `freeze-carnival-1a2b3c4d5e6f7a8b@seawall`.
fn uid(event: &str, kind: &str, id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in event
        .bytes()
        .chain([0])
        .chain(kind.bytes())
        .chain([0])
        .chain(id.bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let slug: String = id
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{kind}-{slug}-{h:016x}@seawall")
}

/// RFC 5545 TEXT escaping: `\` `;` `,` and newlines (CR LF, LF or CR → `\n`).
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            // Other control characters are not allowed in TEXT.
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Append `name:value` as a content line folded at 75 octets (RFC 5545
/// 3.1): a continuation line starts with one space, which counts; a UTF-8
/// character is never split.
fn fold_into(out: &mut String, name: &str, value: &str) {
    const LIMIT: usize = 75;
    let mut used = 0usize;
    for c in name.chars().chain([':']).chain(value.chars()) {
        let len = c.len_utf8();
        if used + len > LIMIT {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += len;
    }
    out.push_str("\r\n");
}

/// GitLab freeze periods (the shape of its Freeze Periods API: one object per
/// period with `freeze_start`, `freeze_end` crons and `cron_timezone`) for
/// the plan's windows that freeze `kind` changes to `service` (every
/// window that freezes `kind` for some service when `service` is `None`).
///
/// Each one-off window becomes a cron for its start and end minute in UTC:
/// the start is rounded down and the end up to the minute, so the freeze is
/// never shorter than the plan's. GitLab repeats the period every year; a
/// window of 364 days or more is cut into consecutive periods. Exceptions
/// cannot be expressed (CI must ask the gate). Pretty JSON, one period per
/// window in calendar order.
pub fn gitlab_freeze_periods(plan: &Plan, service: Option<&str>, kind: ChangeKind) -> String {
    let periods: Vec<FreezePeriod> = selected(plan, service, kind)
        .iter()
        .flat_map(|w| yearly_pieces(w.start, w.end))
        .map(|(start, end)| FreezePeriod {
            freeze_start: cron(start),
            freeze_end: cron(end),
            cron_timezone: "UTC",
        })
        .collect();
    // Serializing strings and a list of structs cannot fail.
    let mut out = serde_json::to_string_pretty(&periods).unwrap_or_default();
    out.push('\n');
    out
}

/// One GitLab freeze period, as its Freeze Periods API takes it (the
/// control plane's OpenAPI document declares the same shape,
/// `seawall_api::exports::FreezePeriod`).
#[derive(serde::Serialize)]
struct FreezePeriod {
    freeze_start: String,
    freeze_end: String,
    cron_timezone: &'static str,
}

/// Argo CD `syncWindows` for an AppProject's `spec`: one `deny` window per
/// plan window that freezes `kind` changes to `service` (or to any service
/// when `None`), with the window's service globs as `applications`
/// (`["*"]` when it names none), `manualSync: false` (no manual sync during
/// a freeze), a UTC cron for its start minute and its length as `duration`.
///
/// Argo CD repeats the window every year. An `allow` window cannot open a
/// hole in a `deny` one (deny wins), so exceptions are not exported; ask
/// the gate in a PreSync hook instead.
pub fn argocd_sync_windows(plan: &Plan, service: Option<&str>, kind: ChangeKind) -> String {
    let tz = &plan.event.tz;
    let mut out = format!(
        "# Argo CD sync windows for {}: {} changes frozen by the plan.\n\
         # Paste under the AppProject's spec. Crons are in UTC and repeat yearly: remove them after the event.\n",
        comment(&plan.event.name),
        kind.as_str()
    );
    let windows = selected(plan, service, kind);
    if windows.is_empty() {
        out.push_str("syncWindows: []\n");
        return out;
    }
    out.push_str("syncWindows:\n");
    for w in windows {
        let start = floor_to(w.start, Unit::Minute);
        let end = ceil_to(w.end, Unit::Minute);
        // Each window is serialized on its own (a one-item list, indented
        // under `syncWindows:`) so its comment can stand above it.
        let window = [SyncWindow {
            kind: "deny",
            schedule: DoubleQuoted(cron(start)),
            duration: go_duration(end.duration_since(start)),
            applications: w
                .services
                .iter()
                .map(|g| DoubleQuoted(argo_glob(g)))
                .collect(),
            manual_sync: false,
            time_zone: "UTC",
        }];
        let _ = writeln!(
            out,
            "  # {}: {} to {}{}",
            comment(&w.id),
            format_time(w.start, tz),
            format_time(w.end, tz),
            w.reason
                .as_deref()
                .map(|r| format!(" ({})", comment(r)))
                .unwrap_or_default()
        );
        for line in window_yaml(&window).lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// `windows` as a YAML block list, written by serde-saphyr (which quotes
/// and escapes what a YAML reader would take otherwise: quotes, `\`,
/// control characters, line separators), list items indented under their
/// key as people write them.
fn window_yaml(windows: &[SyncWindow]) -> String {
    let options = serde_saphyr::ser_options! { compact_list_indent: false };
    // Serializing strings, a bool and lists of strings cannot fail.
    serde_saphyr::to_string_with_options(&windows, options).unwrap_or_default()
}

/// One Argo CD sync window (the control plane's OpenAPI document declares
/// the same shape, `seawall_api::exports::SyncWindow`). Crons and globs are
/// written double-quoted: `*` would otherwise start a YAML alias.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SyncWindow {
    kind: &'static str,
    schedule: DoubleQuoted<String>,
    duration: String,
    applications: Vec<DoubleQuoted<String>>,
    manual_sync: bool,
    time_zone: &'static str,
}

/// Windows (calendar order) freezing `kind` for `service`, or for any service.
fn selected(plan: &Plan, service: Option<&str>, kind: ChangeKind) -> Vec<CalendarWindow> {
    calendar(plan)
        .into_iter()
        .filter(|c| {
            plan.freeze
                .windows
                .get(&c.id)
                .is_some_and(|w| match service {
                    Some(s) => applies(w, s, kind),
                    None => w.kinds.is_empty() || w.kinds.contains(&kind),
                })
        })
        .collect()
}

/// `[start, end)` rounded out to minutes and cut into pieces shorter than
/// 364 days, so a yearly cron pair can express each.
fn yearly_pieces(start: Timestamp, end: Timestamp) -> Vec<(Timestamp, Timestamp)> {
    let max = SignedDuration::from_hours(363 * 24);
    let (mut s, end) = (floor_to(start, Unit::Minute), ceil_to(end, Unit::Minute));
    let mut out = Vec::new();
    // A plan's windows are finite; the bound only guards the loop.
    for _ in 0..10_000 {
        if s >= end {
            break;
        }
        let e = match s.checked_add(max) {
            Ok(e) if e < end => e,
            _ => end,
        };
        out.push((s, e));
        s = e;
    }
    out
}

/// `minute hour day month *` of `t` in UTC.
fn cron(t: Timestamp) -> String {
    t.strftime("%-M %-H %-d %-m *").to_string()
}

/// A Go `time.ParseDuration` text for whole minutes: `96h`, `1h30m`, `45m`.
fn go_duration(d: SignedDuration) -> String {
    let mins = d.as_secs().max(0) / 60;
    match (mins / 60, mins % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

/// A plan glob (`*`, `?`, everything else literal) as an Argo CD glob,
/// whose `[ ] { } \` are special: those are escaped.
fn argo_glob(g: &str) -> String {
    let mut out = String::with_capacity(g.len());
    for c in g.chars() {
        if matches!(c, '[' | ']' | '{' | '}' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Characters a YAML reader may take as a line break or refuse as
/// non-printable: control characters, YAML 1.1's line and paragraph
/// separators, the byte-order mark and the non-characters U+FFFE/U+FFFF.
fn unsafe_in_yaml(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

/// Text safe inside a one-line YAML comment.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if unsafe_in_yaml(c) { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text() {
        assert_eq!(text(r"a\b;c,d"), r"a\\b\;c\,d");
        assert_eq!(text("one\ntwo\r\nthree\rfour"), r"one\ntwo\nthree\nfour");
        assert_eq!(text("bell\u{7}"), "bell");
    }

    #[test]
    fn folds_at_75_octets_without_splitting_characters() {
        let mut out = String::new();
        let value = "支".repeat(60);
        fold_into(&mut out, "SUMMARY", &value);
        for l in out.split_terminator("\r\n") {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
        let unfolded = out.trim_end_matches("\r\n").replace("\r\n ", "");
        assert_eq!(unfolded, format!("SUMMARY:{value}"));
        let mut short = String::new();
        fold_into(&mut short, "A", &"x".repeat(73));
        assert_eq!(short.len(), 77, "exactly 75 octets stay on one line");
        let mut long = String::new();
        fold_into(&mut long, "A", &"x".repeat(74));
        assert!(long.contains("\r\n x\r\n"), "{long:?}");
    }

    #[test]
    fn rounds_outwards_to_minutes() {
        let t: Timestamp = "2026-09-30T10:00:30.5Z".parse().expect("ts");
        assert_eq!(
            floor_to(t, Unit::Minute).to_string(),
            "2026-09-30T10:00:00Z"
        );
        assert_eq!(ceil_to(t, Unit::Minute).to_string(), "2026-09-30T10:01:00Z");
        assert_eq!(ceil_to(t, Unit::Second).to_string(), "2026-09-30T10:00:31Z");
        let whole: Timestamp = "2026-09-30T10:00:00Z".parse().expect("ts");
        assert_eq!(ceil_to(whole, Unit::Minute), whole);
    }

    #[test]
    fn durations_and_globs() {
        assert_eq!(go_duration(SignedDuration::from_hours(96)), "96h");
        assert_eq!(go_duration(SignedDuration::from_mins(90)), "1h30m");
        assert_eq!(go_duration(SignedDuration::from_mins(45)), "45m");
        assert_eq!(argo_glob("pay-*"), "pay-*");
        assert_eq!(argo_glob("a[1]{x}\\"), "a\\[1\\]\\{x\\}\\\\");
        // Quotes, backslashes, control characters and line separators in a
        // glob are escaped: nothing raw in the text, the same glob read back.
        let tricky = ["a\"b\\c", "x\u{7}\u{2028}y"];
        let yaml = window_yaml(&[SyncWindow {
            kind: "deny",
            schedule: DoubleQuoted("0 0 1 1 *".into()),
            duration: "1h".into(),
            applications: tricky
                .iter()
                .map(|s| DoubleQuoted((*s).to_owned()))
                .collect(),
            manual_sync: false,
            time_zone: "UTC",
        }]);
        assert!(!yaml.contains(['\u{7}', '\u{2028}']), "{yaml:?}");
        let back: Vec<serde_json::Value> = serde_saphyr::from_str(&yaml).expect("yaml");
        assert_eq!(back[0]["applications"], serde_json::json!(tricky), "{yaml}");
        assert_eq!(comment("a\nb\u{2029}c"), "a b c");
    }

    #[test]
    fn long_windows_are_cut_into_yearly_pieces() {
        let s: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let e: Timestamp = "2027-06-01T00:00:00Z".parse().expect("ts");
        let pieces = yearly_pieces(s, e);
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[0].0, s);
        assert_eq!(pieces[0].1, pieces[1].0);
        assert_eq!(pieces[1].1, e);
    }

    #[test]
    fn uids_are_stable_and_distinct() {
        assert_eq!(uid("E", "freeze", "a"), uid("E", "freeze", "a"));
        assert_ne!(uid("E", "freeze", "a"), uid("E", "phase", "a"));
        assert_ne!(uid("E", "freeze", "a"), uid("F", "freeze", "a"));
        assert!(uid("E", "freeze", "a b;c").starts_with("freeze-a-b-c-"));
    }
}
