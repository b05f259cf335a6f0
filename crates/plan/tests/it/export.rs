//! The freeze-calendar exports, parsed back: iCal by a small RFC 5545
//! checker (CRLF, folding, nesting, required properties, TEXT unescaping),
//! GitLab freeze periods by serde_json, Argo CD sync windows by
//! serde-saphyr; and insta snapshots on the carnival plan.

use jiff::{SignedDuration, Timestamp};
use seawall_plan::export::{ICAL_PRODID, argocd_sync_windows, gitlab_freeze_periods, ical};
use seawall_plan::gate::FreezeException;
use seawall_plan::model::ChangeKind::{self, Config, Ops, Release};
use serde::Deserialize;

use crate::common;
use common::{carnival, plan, ts};

const NOW: &str = "2026-09-01T00:00:00Z";

fn exceptions() -> Vec<FreezeException> {
    let e = |id: &str, services: &[&str], approve: Option<bool>| {
        let e = FreezeException::request(
            id,
            services.iter().map(|s| s.to_string()).collect(),
            vec![Release],
            ts("2026-09-30T03:00:00Z"),
            ts("2026-09-30T04:00:00Z"),
            "hotfix; payment timeouts, see INC-7\\retry",
        )
        .expect("valid");
        match approve {
            Some(a) => e.decide(a, "lin-wei", ts(NOW), None).expect("decide"),
            None => e,
        }
    };
    vec![
        e("EX-1", &["pay-*"], Some(true)),
        e("EX-2", &["*"], None),
        e("EX-3", &["order-svc"], Some(false)),
    ]
}

// ------------------------------------------------------------ a small RFC 5545 reader

/// One component: its name, properties (name, params+value unescaped) and children.
#[derive(Debug, Default)]
struct Component {
    name: String,
    props: Vec<(String, String)>,
    children: Vec<Component>,
}

impl Component {
    fn get(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Check the physical format and parse into components; panics (the test
/// fails) on anything RFC 5545 forbids that the export could get wrong.
fn read_ical(text: &str) -> Component {
    assert!(text.ends_with("\r\n"), "ends with CRLF");
    assert!(!text.replace("\r\n", "").contains('\n'), "bare LF");
    assert!(!text.replace("\r\n", "").contains('\r'), "bare CR");
    let physical: Vec<&str> = text.split_terminator("\r\n").collect();
    for l in &physical {
        assert!(l.len() <= 75, "line of {} octets: {l:?}", l.len());
        assert!(!l.is_empty(), "empty line");
    }
    // Unfold.
    let mut lines: Vec<String> = Vec::new();
    for l in physical {
        match l.strip_prefix(' ') {
            Some(rest) => lines
                .last_mut()
                .expect("continuation after a line")
                .push_str(rest),
            None => lines.push(l.to_string()),
        }
    }
    let mut stack: Vec<Component> = vec![Component::default()];
    for l in lines {
        let (name, value) = l.split_once(':').expect("name:value");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'),
            "property name {name:?}"
        );
        match name {
            "BEGIN" => stack.push(Component {
                name: value.to_string(),
                ..Component::default()
            }),
            "END" => {
                let done = stack.pop().expect("open component");
                assert_eq!(done.name, value, "END matches BEGIN");
                stack.last_mut().expect("parent").children.push(done);
            }
            _ => {
                let top = stack.last_mut().expect("component");
                assert!(!top.name.is_empty(), "property outside a component: {name}");
                top.props.push((name.to_string(), unescape(value)));
            }
        }
    }
    assert_eq!(stack.len(), 1, "unclosed component");
    let mut root = stack.pop().expect("root");
    assert_eq!(root.children.len(), 1, "one VCALENDAR");
    root.children.remove(0)
}

/// TEXT unescaping; panics on an unescaped `;` or `,` or a bad escape.
fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some(';') => out.push(';'),
                Some(',') => out.push(','),
                Some('n' | 'N') => out.push('\n'),
                other => panic!("bad escape \\{other:?} in {v:?}"),
            },
            // The only unescaped comma allowed is CATEGORIES' list separator,
            // turned into `|` here so tests can tell them apart.
            ',' => out.push('|'),
            ';' => panic!("unescaped ; in {v:?}"),
            c => out.push(c),
        }
    }
    out
}

fn utc(v: &str) -> Timestamp {
    let dt = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", v).expect("UTC date-time");
    jiff::tz::TimeZone::UTC.to_timestamp(dt).expect("utc")
}

// ------------------------------------------------------------ iCal

#[test]
fn ical_feed_is_valid_and_complete() {
    let p = carnival();
    let text = ical(&p, &exceptions(), ts(NOW));
    let cal = read_ical(&text);
    assert_eq!(cal.name, "VCALENDAR");
    assert_eq!(cal.get("VERSION"), Some("2.0"));
    assert_eq!(cal.get("PRODID"), Some(ICAL_PRODID));
    let events: Vec<&Component> = cal.children.iter().filter(|c| c.name == "VEVENT").collect();
    // 5 phases, 2 freeze windows, 1 approved exception (pending and rejected left out).
    assert_eq!(events.len(), 5 + 2 + 1);
    let mut uids = std::collections::BTreeSet::new();
    for e in &events {
        for prop in ["UID", "DTSTAMP", "DTSTART", "DTEND", "SUMMARY"] {
            assert!(e.get(prop).is_some(), "{prop} missing in {e:?}");
        }
        assert!(
            uids.insert(e.get("UID").expect("uid").to_string()),
            "duplicate UID"
        );
        assert_eq!(e.get("DTSTAMP"), Some("20260901T000000Z"));
        assert!(utc(e.get("DTSTART").expect("start")) < utc(e.get("DTEND").expect("end")));
    }
    // Every phase and window, with the plan's instants.
    for (id, w) in &p.event.phases {
        let e = events
            .iter()
            .find(|e| e.get("SUMMARY") == Some(&format!("930 Holiday Carnival: {id} phase")))
            .unwrap_or_else(|| panic!("phase {id}"));
        assert_eq!(utc(e.get("DTSTART").expect("start")), w.start);
        assert_eq!(utc(e.get("DTEND").expect("end")), w.end);
    }
    for (id, w) in &p.freeze.windows {
        let e = events
            .iter()
            .find(|e| {
                e.get("SUMMARY")
                    .is_some_and(|s| s.starts_with(&format!("Change freeze: {id} ")))
            })
            .unwrap_or_else(|| panic!("window {id}"));
        assert_eq!(utc(e.get("DTSTART").expect("start")), w.window.start);
        assert_eq!(utc(e.get("DTEND").expect("end")), w.window.end);
        assert!(
            e.get("CATEGORIES")
                .expect("categories")
                .starts_with("freeze|")
        );
    }
    let ex = events
        .iter()
        .find(|e| {
            e.get("CATEGORIES")
                .is_some_and(|c| c.starts_with("freeze-exception"))
        })
        .expect("approved exception");
    assert_eq!(ex.get("SUMMARY"), Some("Freeze exception: EX-1 (pay-*)"));
    assert!(
        ex.get("DESCRIPTION").expect("description").starts_with(
            "hotfix; payment timeouts, see INC-7\\retry\nLets through: release changes to pay-*\n"
        ),
        "{:?}",
        ex.get("DESCRIPTION")
    );
    insta::assert_snapshot!("carnival_ical", text.replace("\r\n", "\n"));
}

#[test]
fn ical_uids_are_stable_and_dtstamp_is_now() {
    let p = carnival();
    let a = read_ical(&ical(&p, &[], ts(NOW)));
    let b = read_ical(&ical(&p, &[], ts("2026-09-20T12:34:56Z")));
    let uids = |c: &Component| -> Vec<String> {
        c.children
            .iter()
            .filter_map(|e| e.get("UID").map(str::to_string))
            .collect()
    };
    assert_eq!(uids(&a), uids(&b));
    assert_eq!(b.children[0].get("DTSTAMP"), Some("20260920T123456Z"));
}

#[test]
fn ical_escapes_and_folds_long_non_ascii_text() {
    let long = "支付网关的配置;不可变更,请联系 \\ 指挥官\n第二行 ".repeat(6);
    let src = format!(
        "event: {{name: \"大促, 双11; \\\\ test\", timezone: Asia/Shanghai}}\nfreeze:\n  windows:\n    w:\n      start: \"2026-11-10T00:00\"\n      end: \"2026-11-12T00:00:30.5+08:00\"\n      reason: {}\n",
        serde_json::to_string(&long).expect("json string")
    );
    let p = plan(&src);
    let text = ical(&p, &[], ts(NOW));
    let cal = read_ical(&text);
    assert_eq!(
        cal.get("X-WR-CALNAME"),
        Some("大促, 双11; \\ test: phases and change freezes")
    );
    let e = &cal.children[0];
    assert!(
        e.get("DESCRIPTION")
            .expect("description")
            .starts_with(&long),
        "{:?}",
        e.get("DESCRIPTION")
    );
    // The end's half second is rounded up, never down.
    assert_eq!(e.get("DTEND"), Some("20261111T160031Z"));
}

#[test]
fn empty_plan_is_an_empty_calendar() {
    let p = plan("event: {name: e}\n");
    let cal = read_ical(&ical(&p, &[], ts(NOW)));
    assert!(cal.children.is_empty());
    assert_eq!(gitlab_freeze_periods(&p, None, Release), "[]\n");
    let argo: ArgoDoc =
        serde_saphyr::from_str(&argocd_sync_windows(&p, None, Release)).expect("yaml");
    assert!(argo.sync_windows.is_empty());
}

// ------------------------------------------------------------ GitLab

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FreezePeriod {
    freeze_start: String,
    freeze_end: String,
    cron_timezone: String,
}

/// The next instant in `year` a 5-field `M H D Mon *` cron fires (UTC).
fn cron_instant(cron: &str, year: i16) -> Timestamp {
    let f: Vec<&str> = cron.split(' ').collect();
    assert_eq!(f.len(), 5, "{cron}");
    assert_eq!(f[4], "*", "{cron}");
    let n = |i: usize| -> i8 {
        f[i].parse()
            .unwrap_or_else(|_| panic!("field {i} of {cron}"))
    };
    let dt = jiff::civil::date(year, n(3), n(2)).at(n(1), n(0), 0, 0);
    jiff::tz::TimeZone::UTC.to_timestamp(dt).expect("utc")
}

#[test]
fn gitlab_periods_name_the_windows_in_utc() {
    let p = carnival();
    let all: Vec<FreezePeriod> =
        serde_json::from_str(&gitlab_freeze_periods(&p, None, Config)).expect("JSON");
    assert_eq!(all.len(), 2, "{all:?}");
    // Calendar order: payments-config, then carnival.
    assert_eq!(
        cron_instant(&all[0].freeze_start, 2026),
        p.freeze.windows["payments-config"].window.start
    );
    assert_eq!(
        cron_instant(&all[0].freeze_end, 2026),
        p.freeze.windows["payments-config"].window.end
    );
    assert_eq!(
        cron_instant(&all[1].freeze_start, 2026),
        p.freeze.windows["carnival"].window.start
    );
    assert_eq!(
        cron_instant(&all[1].freeze_end, 2026),
        p.freeze.windows["carnival"].window.end
    );
    assert!(all.iter().all(|f| f.cron_timezone == "UTC"));
    // Releases, or config for a service outside pay-*/coupon-*: only the carnival window.
    let rel: Vec<FreezePeriod> =
        serde_json::from_str(&gitlab_freeze_periods(&p, None, Release)).expect("JSON");
    assert_eq!(rel.len(), 1);
    let order: Vec<FreezePeriod> =
        serde_json::from_str(&gitlab_freeze_periods(&p, Some("order-svc"), Config)).expect("JSON");
    assert_eq!(order.len(), 1);
    let pay: Vec<FreezePeriod> =
        serde_json::from_str(&gitlab_freeze_periods(&p, Some("pay-gateway"), Config))
            .expect("JSON");
    assert_eq!(pay.len(), 2);
    insta::assert_snapshot!("carnival_gitlab", gitlab_freeze_periods(&p, None, Release));
}

#[test]
fn gitlab_rounds_outwards_to_minutes_and_crosses_years() {
    let p = plan(
        "event: {name: e}\nfreeze:\n  windows:\n    ny: {start: \"2026-12-31T22:00:30Z\", end: \"2027-01-01T02:00:01Z\"}\n",
    );
    let periods: Vec<FreezePeriod> =
        serde_json::from_str(&gitlab_freeze_periods(&p, None, Ops)).expect("JSON");
    assert_eq!(periods[0].freeze_start, "0 22 31 12 *");
    assert_eq!(periods[0].freeze_end, "1 2 1 1 *");
}

// ------------------------------------------------------------ Argo CD

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ArgoDoc {
    #[serde(rename = "syncWindows")]
    sync_windows: Vec<SyncWindow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SyncWindow {
    kind: String,
    schedule: String,
    duration: String,
    applications: Vec<String>,
    manual_sync: bool,
    time_zone: String,
}

/// A Go duration of hours and minutes.
fn go_duration(s: &str) -> SignedDuration {
    let (h, rest) = s.split_once('h').unwrap_or(("0", s));
    let m = rest.strip_suffix('m').unwrap_or("0");
    let m = if m.is_empty() { "0" } else { m };
    SignedDuration::from_hours(h.parse().expect("hours"))
        + SignedDuration::from_mins(m.parse().expect("minutes"))
}

#[test]
fn argocd_windows_parse_back() {
    let p = carnival();
    let text = argocd_sync_windows(&p, None, Config);
    let doc: ArgoDoc = serde_saphyr::from_str(&text).expect("YAML");
    assert_eq!(doc.sync_windows.len(), 2);
    let pay = &doc.sync_windows[0];
    assert_eq!(pay.kind, "deny");
    assert!(!pay.manual_sync);
    assert_eq!(pay.time_zone, "UTC");
    assert_eq!(pay.applications, ["pay-*", "coupon-*"]);
    let w = &p.freeze.windows["payments-config"].window;
    assert_eq!(cron_instant(&pay.schedule, 2026), w.start);
    assert_eq!(go_duration(&pay.duration), w.end.duration_since(w.start));
    assert_eq!(doc.sync_windows[1].applications, ["*"]);
    assert_eq!(doc.sync_windows[1].duration, "96h");
    insta::assert_snapshot!("carnival_argocd", argocd_sync_windows(&p, None, Release));
}

#[test]
fn argocd_duration_is_elapsed_time_across_dst() {
    // 47 hours of wall-clock "two days" across Berlin's spring-forward.
    let p = plan(
        "event: {name: e, timezone: Europe/Berlin}\nfreeze:\n  windows:\n    w: {start: \"2026-03-28T12:00\", end: \"2026-03-30T12:00\", services: [\"a[1]*\", \"b-?\"]}\n",
    );
    let doc: ArgoDoc =
        serde_saphyr::from_str(&argocd_sync_windows(&p, None, Release)).expect("YAML");
    let w = &doc.sync_windows[0];
    assert_eq!(w.schedule, "0 11 28 3 *");
    assert_eq!(w.duration, "47h");
    // Argo's glob treats brackets as a class: they are escaped.
    assert_eq!(w.applications, ["a\\[1\\]*", "b-?"]);
    let g = gitlab_freeze_periods(&p, None, Release);
    let periods: Vec<FreezePeriod> = serde_json::from_str(&g).expect("JSON");
    assert_eq!(periods[0].freeze_end, "0 10 30 3 *");
}

#[test]
fn exports_filter_by_service_and_kind() {
    let p = carnival();
    for kind in ChangeKind::ALL {
        let doc: ArgoDoc =
            serde_saphyr::from_str(&argocd_sync_windows(&p, Some("order-svc"), kind))
                .expect("YAML");
        assert_eq!(doc.sync_windows.len(), 1, "{kind:?}");
    }
    let doc: ArgoDoc =
        serde_saphyr::from_str(&argocd_sync_windows(&p, Some("coupon-svc"), Config)).expect("YAML");
    assert_eq!(doc.sync_windows.len(), 2);
}

// ------------------------------------------------------------ property

mod property {
    use super::*;
    use proptest::prelude::*;
    use seawall_plan::model::{FreezeWindow, Window};

    /// Any text, weighted towards what breaks formats: separators, escapes,
    /// quotes, newlines, controls, multi-byte characters, YAML's specials.
    fn nasty() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop_oneof![
                prop::sample::select(vec![
                    ";", ",", "\\", "\n", "\r\n", "\r", "\"", "'", ":", "#", "- ", "*", "?", "[",
                    "]", "{", "}", "&", "!", "|", ">", "%", "@", "`", "\t", "\u{7}", "\u{85}",
                    "\u{2028}", "\u{feff}", "支付", "é", "🙂", " ",
                ])
                .prop_map(str::to_string),
                "[a-z0-9-]{1,12}",
                any::<String>(),
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat())
    }

    fn instant() -> impl Strategy<Value = Timestamp> {
        // 1970 to 2100, to the nanosecond.
        (0i64..4_102_444_800, 0i32..1_000_000_000)
            .prop_map(|(s, ns)| Timestamp::new(s, ns).expect("in range"))
    }

    /// id, start, length in seconds, service globs, reason.
    type Spec = (String, Timestamp, i64, Vec<String>, Option<String>);

    fn windows() -> impl Strategy<Value = Vec<Spec>> {
        prop::collection::vec(
            (
                nasty(),
                instant(),
                1i64..800 * 24 * 3600,
                prop::collection::vec(nasty(), 0..3),
                prop::option::of(nasty()),
            ),
            0..5,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        /// Whatever the names, reasons, globs and times, every export parses
        /// back and keeps the plan's instants (minutes rounded outwards).
        #[test]
        fn exports_always_parse_back(name in nasty(), ws in windows(), now in instant()) {
            let mut p = seawall_plan::Plan::default();
            p.event.name = name;
            for (i, (id, start, secs, services, reason)) in ws.iter().enumerate() {
                let window = Window {
                    start: *start,
                    end: *start + SignedDuration::from_secs(*secs),
                    at: Default::default(),
                };
                p.event.phases.insert(format!("{id}{i}"), window.clone());
                p.freeze.windows.insert(
                    format!("{id}{i}"),
                    FreezeWindow {
                        window,
                        kinds: vec![],
                        services: services.clone(),
                        reason: reason.clone(),
                        at: Default::default(),
                    },
                );
            }
            let cal = read_ical(&ical(&p, &[], now));
            prop_assert_eq!(cal.children.len(), 2 * ws.len());
            for e in &cal.children {
                let start = utc(e.get("DTSTART").expect("start"));
                let end = utc(e.get("DTEND").expect("end"));
                prop_assert!(start < end);
            }
            let periods: Vec<FreezePeriod> =
                serde_json::from_str(&gitlab_freeze_periods(&p, None, Release)).expect("JSON");
            prop_assert!(periods.len() >= ws.len());
            let argo = argocd_sync_windows(&p, None, Release);
            let doc: ArgoDoc = serde_saphyr::from_str(&argo).expect("YAML");
            prop_assert_eq!(doc.sync_windows.len(), ws.len());
            for (sw, w) in doc.sync_windows.iter().zip(seawall_plan::freeze::calendar(&p)) {
                prop_assert_eq!(sw.applications.len(), w.services.len());
                let d = go_duration(&sw.duration);
                prop_assert!(d >= w.end.duration_since(w.start));
                prop_assert!(d - w.end.duration_since(w.start) < SignedDuration::from_mins(2));
            }
        }
    }
}
