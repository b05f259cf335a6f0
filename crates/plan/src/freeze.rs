//! Change-freeze evaluation: may this service take this kind of change now?
//!
//! The change gate, the CLI and the calendar export all ask the same question
//! of `freeze.windows`, so the answer — which windows freeze the change and
//! when it next becomes free — is computed once, here.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::model::{ChangeKind, FreezeWindow, Plan};

/// The answer to "may `service` take a `kind` change at `at`?".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FreezeDecision {
    /// Service id asked about.
    pub service: String,
    /// Change kind asked about (serialized lower-case).
    pub kind: ChangeKind,
    /// Instant asked about (serialized as RFC 3339 UTC).
    #[serde(serialize_with = "serialize_ts")]
    pub at: Timestamp,
    /// Whether at least one window freezes the change at `at`.
    pub frozen: bool,
    /// Every window that freezes the change at `at`, in plan order.
    pub windows: Vec<FrozenBy>,
    /// The earliest instant ≥ `at` at which no window freezes the change,
    /// following chains of overlapping or adjacent windows. Equals `at` when
    /// the change is not frozen; always present for a plan's (finite)
    /// windows.
    #[serde(serialize_with = "serialize_opt_ts")]
    pub next_free: Option<Timestamp>,
}

/// One freeze window that freezes a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrozenBy {
    /// Window id (key under `freeze.windows`).
    pub id: String,
    /// Inclusive start (RFC 3339 UTC).
    #[serde(with = "crate::gate::ts_serde")]
    pub start: Timestamp,
    /// Exclusive end (RFC 3339 UTC).
    #[serde(with = "crate::gate::ts_serde")]
    pub end: Timestamp,
    /// Why the window exists, if the plan says.
    pub reason: Option<String>,
}

/// One freeze window as shown in a calendar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalendarWindow {
    /// Window id (key under `freeze.windows`).
    pub id: String,
    /// Inclusive start (RFC 3339 UTC).
    #[serde(serialize_with = "serialize_ts")]
    pub start: Timestamp,
    /// Exclusive end (RFC 3339 UTC).
    #[serde(serialize_with = "serialize_ts")]
    pub end: Timestamp,
    /// Frozen change kinds, spelled out (all three when the plan gives none).
    pub kinds: Vec<&'static str>,
    /// Service globs (`["*"]` when the plan gives none).
    pub services: Vec<String>,
    /// Why the window exists, if the plan says.
    pub reason: Option<String>,
}

/// Decide whether `service` may take a `kind` change at `at`.
///
/// A window freezes the change when `at` lies in `[start, end)`, its `kinds`
/// are empty or contain `kind`, and its `services` are empty or one of the
/// globs matches `service` (see [`matches_glob`]).
pub fn evaluate(plan: &Plan, service: &str, kind: ChangeKind, at: Timestamp) -> FreezeDecision {
    let relevant: Vec<(&String, &FreezeWindow)> = plan
        .freeze
        .windows
        .iter()
        .filter(|(_, w)| applies(w, service, kind))
        .collect();
    let windows: Vec<FrozenBy> = relevant
        .iter()
        .filter(|(_, w)| w.window.contains(at))
        .map(|(id, w)| FrozenBy {
            id: (*id).clone(),
            start: w.window.start,
            end: w.window.end,
            reason: w.reason.clone(),
        })
        .collect();
    let next_free = next_free(relevant.iter().map(|(_, w)| *w), at);
    FreezeDecision {
        service: service.to_string(),
        kind,
        at,
        frozen: !windows.is_empty(),
        windows,
        next_free,
    }
}

/// Whether a freeze window covers `service` and `kind` (ignoring time).
pub fn applies(window: &FreezeWindow, service: &str, kind: ChangeKind) -> bool {
    let kind_ok = window.kinds.is_empty() || window.kinds.contains(&kind);
    let service_ok =
        window.services.is_empty() || window.services.iter().any(|g| matches_glob(g, service));
    kind_ok && service_ok
}

/// Walk forward from `at` through the windows containing the current instant
/// until none does. Each step moves strictly forward to a window end, so at
/// most one step per window is needed; the bound guards against anything else.
fn next_free<'a>(
    windows: impl Iterator<Item = &'a FreezeWindow> + Clone,
    at: Timestamp,
) -> Option<Timestamp> {
    let mut t = at;
    let steps = windows.clone().count() + 1;
    for _ in 0..steps {
        let end = windows
            .clone()
            .filter(|w| w.window.contains(t))
            .map(|w| w.window.end)
            .max();
        match end {
            None => return Some(t),
            Some(end) => t = end,
        }
    }
    None
}

/// The plan's freeze windows sorted by start (then end, then id), for display.
pub fn calendar(plan: &Plan) -> Vec<CalendarWindow> {
    let mut out: Vec<CalendarWindow> = plan
        .freeze
        .windows
        .iter()
        .map(|(id, w)| CalendarWindow {
            id: id.clone(),
            start: w.window.start,
            end: w.window.end,
            kinds: if w.kinds.is_empty() {
                ChangeKind::ALL.iter().map(|k| k.as_str()).collect()
            } else {
                w.kinds.iter().map(|k| k.as_str()).collect()
            },
            services: if w.services.is_empty() {
                vec!["*".to_string()]
            } else {
                w.services.clone()
            },
            reason: w.reason.clone(),
        })
        .collect();
    out.sort_by(|a, b| (a.start, a.end, &a.id).cmp(&(b.start, b.end, &b.id)));
    out
}

/// Whether `name` matches the glob `pattern`: `*` matches any run of
/// characters (including none), `?` exactly one character, anything else
/// itself (case-sensitive).
pub fn matches_glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0usize, 0usize);
    // Position after the last `*` seen, and the name position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi + 1, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c == n[ni] => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    // Let the last `*` swallow one more character and retry.
                    pi = sp;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Serialize a timestamp as its RFC 3339 UTC text.
pub(crate) use crate::gate::ts_serde::serialize as serialize_ts;

/// Serialize an optional timestamp as RFC 3339 UTC text or null.
pub(crate) use crate::gate::opt_ts_serde::serialize as serialize_opt_ts;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Window;
    use crate::time::parse_time;
    use jiff::tz::TimeZone;

    fn t(s: &str) -> Timestamp {
        parse_time(s, &TimeZone::UTC).expect("test time")
    }

    fn window(start: &str, end: &str, kinds: &[ChangeKind], services: &[&str]) -> FreezeWindow {
        FreezeWindow {
            window: Window {
                start: t(start),
                end: t(end),
                at: Default::default(),
            },
            kinds: kinds.to_vec(),
            services: services.iter().map(|s| s.to_string()).collect(),
            reason: Some(format!("{start}..{end}")),
            at: Default::default(),
        }
    }

    fn plan(windows: Vec<(&str, FreezeWindow)>) -> Plan {
        let mut plan = Plan::default();
        for (id, w) in windows {
            plan.freeze.windows.insert(id.to_string(), w);
        }
        plan
    }

    #[test]
    fn globs() {
        assert!(matches_glob("*", "order-api"));
        assert!(matches_glob("*", ""));
        assert!(matches_glob("pay-*", "pay-gateway"));
        assert!(matches_glob("pay-*", "pay-"));
        assert!(!matches_glob("pay-*", "order-pay"));
        assert!(matches_glob("*-api", "order-api"));
        assert!(matches_glob("o?der-api", "order-api"));
        assert!(!matches_glob("o?der-api", "oder-api"));
        assert!(matches_glob("*a*b*c", "xxaxbxxbyc"));
        assert!(!matches_glob("*a*b*c", "xxaxbxxbyd"));
        assert!(matches_glob("order-api", "order-api"));
        assert!(!matches_glob("order-api", "Order-api"));
        assert!(!matches_glob("", "x"));
        assert!(matches_glob("", ""));
        assert!(matches_glob("**?", "x"));
        assert!(!matches_glob("??", "x"));
        assert!(matches_glob("支付-*", "支付-网关"));
    }

    #[test]
    fn not_frozen_outside_windows() {
        let p = plan(vec![(
            "main",
            window("2026-09-28T00:00", "2026-10-02T00:00", &[], &[]),
        )]);
        let d = evaluate(&p, "order-api", ChangeKind::Release, t("2026-09-27T23:59"));
        assert!(!d.frozen);
        assert!(d.windows.is_empty());
        assert_eq!(d.next_free, Some(t("2026-09-27T23:59")));
        // The end is exclusive.
        let d = evaluate(&p, "order-api", ChangeKind::Release, t("2026-10-02T00:00"));
        assert!(!d.frozen);
    }

    #[test]
    fn kinds_and_services_filter() {
        let p = plan(vec![
            (
                "pay",
                window(
                    "2026-09-28T00:00",
                    "2026-10-02T00:00",
                    &[ChangeKind::Release, ChangeKind::Config],
                    &["pay-*"],
                ),
            ),
            (
                "ops",
                window(
                    "2026-09-29T00:00",
                    "2026-09-30T00:00",
                    &[ChangeKind::Ops],
                    &[],
                ),
            ),
        ]);
        let at = t("2026-09-29T12:00");
        let d = evaluate(&p, "pay-gateway", ChangeKind::Release, at);
        assert!(d.frozen);
        assert_eq!(d.windows.len(), 1);
        assert_eq!(d.windows[0].id, "pay");
        assert_eq!(d.next_free, Some(t("2026-10-02T00:00")));

        let d = evaluate(&p, "order-api", ChangeKind::Release, at);
        assert!(!d.frozen);

        let d = evaluate(&p, "order-api", ChangeKind::Ops, at);
        assert!(d.frozen);
        assert_eq!(d.windows[0].id, "ops");
        assert_eq!(d.next_free, Some(t("2026-09-30T00:00")));

        let d = evaluate(&p, "pay-gateway", ChangeKind::Ops, at);
        assert_eq!(d.windows.len(), 1);
        assert_eq!(d.windows[0].id, "ops");
    }

    #[test]
    fn next_free_follows_chains() {
        // a: [00, 06) overlaps b: [04, 10); c: [10, 12) is adjacent to b;
        // d: [13, 14) is after a free hour; e applies to another service.
        let p = plan(vec![
            (
                "a",
                window("2026-09-30T00:00", "2026-09-30T06:00", &[], &[]),
            ),
            (
                "b",
                window("2026-09-30T04:00", "2026-09-30T10:00", &[], &[]),
            ),
            (
                "c",
                window("2026-09-30T10:00", "2026-09-30T12:00", &[], &[]),
            ),
            (
                "d",
                window("2026-09-30T13:00", "2026-09-30T14:00", &[], &[]),
            ),
            (
                "e",
                window("2026-09-30T12:00", "2026-09-30T20:00", &[], &["other"]),
            ),
        ]);
        let d = evaluate(&p, "svc", ChangeKind::Config, t("2026-09-30T05:00"));
        let ids: Vec<&str> = d.windows.iter().map(|w| w.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(d.next_free, Some(t("2026-09-30T12:00")));

        let d = evaluate(&p, "other", ChangeKind::Config, t("2026-09-30T05:00"));
        assert_eq!(d.next_free, Some(t("2026-09-30T20:00")));
    }

    #[test]
    fn serializes_times_as_text() {
        let p = plan(vec![(
            "main",
            window("2026-09-28T00:00", "2026-10-02T00:00", &[], &[]),
        )]);
        let d = evaluate(&p, "svc", ChangeKind::Ops, t("2026-09-29T00:00"));
        let json = serde_json::to_value(&d).expect("json");
        assert_eq!(json["kind"], "ops");
        assert_eq!(json["at"], "2026-09-29T00:00:00Z");
        assert_eq!(json["next_free"], "2026-10-02T00:00:00Z");
        assert_eq!(json["windows"][0]["start"], "2026-09-28T00:00:00Z");
        assert_eq!(json["frozen"], true);
    }

    #[test]
    fn calendar_is_sorted_and_spelled_out() {
        let p = plan(vec![
            (
                "late",
                window(
                    "2026-10-01T00:00",
                    "2026-10-02T00:00",
                    &[ChangeKind::Release],
                    &["pay-*", "order-api"],
                ),
            ),
            (
                "early",
                window("2026-09-28T00:00", "2026-10-02T00:00", &[], &[]),
            ),
        ]);
        let cal = calendar(&p);
        assert_eq!(cal.len(), 2);
        assert_eq!(cal[0].id, "early");
        assert_eq!(cal[0].kinds, ["release", "config", "ops"]);
        assert_eq!(cal[0].services, ["*"]);
        assert_eq!(cal[1].id, "late");
        assert_eq!(cal[1].kinds, ["release"]);
        assert_eq!(cal[1].services, ["pay-*", "order-api"]);
    }
}
