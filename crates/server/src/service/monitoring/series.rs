//! One stored telemetry series through the API
//! (`GET /events/{slug}/history`): the review reads the points the monitor
//! kept (`seawall_monitor::history`, stored by `Store::put_history`) at one
//! of the three resolutions, optionally between two times.
//!
//! Why the series is checked against the plan: a typo (`entry:creat-order`)
//! must say so rather than answer an empty list that reads as "no
//! traffic". A series the current plan no longer has but the store still
//! holds (an entry removed in a later plan version) is served too.

use seawall_api::monitoring::{History, HistoryPoint, HistoryQuery, HistoryResolution};
use seawall_monitor::history::{Point, TIERS};
use seawall_monitor::sample::TargetKind;
use seawall_plan::Plan;
use seawall_store::Event;

use crate::error::ApiError;
use crate::service::gate::current_plan;
use crate::state::AppState;

/// The kinds a series may name, as written before the `:`.
const KINDS: [(&str, TargetKind); 4] = [
    ("entry", TargetKind::Entry),
    ("service", TargetKind::Service),
    ("partner", TargetKind::Partner),
    ("funnel_step", TargetKind::FunnelStep),
];

/// `kind:id` split and checked.
fn parse(series: &str) -> Result<(TargetKind, &str), ApiError> {
    let bad = || {
        ApiError::unprocessable(
            "invalid_series",
            format!(
                "`series` must be `<kind>:<id>` with kind entry, service, partner or funnel_step \
                 (`entry:create-order`), not `{series}`"
            ),
        )
    };
    let (kind, id) = series.split_once(':').ok_or_else(bad)?;
    let kind = KINDS
        .iter()
        .find(|(name, _)| *name == kind)
        .map(|(_, k)| *k)
        .ok_or_else(bad)?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok((kind, id))
}

/// The ids of `kind` in `plan`.
fn ids(plan: &Plan, kind: TargetKind) -> Vec<&str> {
    match kind {
        TargetKind::Entry => plan.entries.keys().map(String::as_str).collect(),
        TargetKind::Service => plan.services.keys().map(String::as_str).collect(),
        TargetKind::Partner => plan.partners.keys().map(String::as_str).collect(),
        TargetKind::FunnelStep => plan
            .monitoring
            .funnel
            .iter()
            .map(|s| s.name.as_str())
            .collect(),
        TargetKind::Query => Vec::new(),
    }
}

/// The store's tier of a resolution.
fn tier(resolution: HistoryResolution) -> u8 {
    match resolution {
        HistoryResolution::TenSeconds => 0,
        HistoryResolution::OneMinute => 1,
        HistoryResolution::FiveMinutes => 2,
    }
}

/// A stored `f32` as JSON: `NaN` (no value) is null.
fn value(v: f32) -> Option<f64> {
    (!v.is_nan()).then_some(f64::from(v))
}

/// A stored point with its time made absolute (`origin_ms`: the event's
/// creation, where the monitor's series count from).
fn point(origin_ms: i64, p: &Point) -> HistoryPoint {
    HistoryPoint {
        t: origin_ms.saturating_add(i64::from(p.t_s) * 1000),
        samples: u32::from(p.samples),
        qps_min: value(p.qps_min),
        qps_avg: value(p.qps_avg),
        qps_max: value(p.qps_max),
        p99_ms: value(p.p99_ms),
        error_rate: value(p.error_rate),
    }
}

/// The stored points of `q.series` in `event` at `q.resolution`, from
/// `q.from` to `q.to` (inclusive, by a point's start). 422 for a series
/// that is not `<kind>:<id>` (`invalid_series`) or names nothing the plan
/// or the store has (`unknown_series`), and for a negative time or `from`
/// after `to` (`invalid_range`).
pub async fn history(
    state: &AppState,
    event: &Event,
    q: &HistoryQuery,
) -> Result<History, ApiError> {
    let (kind, id) = parse(&q.series)?;
    for (name, t) in [("from", q.from), ("to", q.to)] {
        if let Some(t) = t
            && t < 0
        {
            return Err(ApiError::unprocessable(
                "invalid_range",
                format!("`{name}` must be a time in ms since the epoch (0 or more), not {t}"),
            ));
        }
    }
    if let (Some(from), Some(to)) = (q.from, q.to)
        && from > to
    {
        return Err(ApiError::unprocessable(
            "invalid_range",
            format!("`from` ({from}) is after `to` ({to})"),
        ));
    }
    debug_assert_eq!(
        TIERS[usize::from(tier(q.resolution))].0,
        q.resolution.step_s()
    );
    let stored = state
        .store
        .history(event.id, kind, id, tier(q.resolution))
        .await?;
    if stored.is_empty() {
        let plan = current_plan(state, event).await?;
        let known = plan.as_ref().map(|(_, p)| ids(p, kind)).unwrap_or_default();
        if !known.contains(&id) {
            let listed = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            return Err(ApiError::unprocessable(
                "unknown_series",
                format!(
                    "event `{}` has no {kind} `{id}` in its current plan and no stored history \
                     of one ({kind} ids in the plan: {listed})",
                    event.slug,
                    kind = kind.as_str(),
                ),
            ));
        }
    }
    let points = stored
        .iter()
        .map(|p| point(event.created_ms, p))
        .filter(|p| q.from.is_none_or(|from| p.t >= from) && q.to.is_none_or(|to| p.t <= to))
        .collect();
    Ok(History {
        series: q.series.clone(),
        kind: api_kind(kind),
        id: id.to_owned(),
        resolution: q.resolution,
        step_s: q.resolution.step_s(),
        points,
    })
}

/// The API's name of a monitor's target kind (the live view's and the
/// alerts' too).
pub(super) fn api_kind(kind: TargetKind) -> seawall_api::monitoring::TargetKind {
    use seawall_api::monitoring::TargetKind as K;
    match kind {
        TargetKind::Entry => K::Entry,
        TargetKind::Service => K::Service,
        TargetKind::Partner => K::Partner,
        TargetKind::FunnelStep => K::FunnelStep,
        TargetKind::Query => K::Query,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_is_a_kind_and_an_id() {
        assert!(matches!(
            parse("entry:create-order"),
            Ok((TargetKind::Entry, "create-order"))
        ));
        // The id may hold colons; the kind ends at the first.
        assert!(matches!(
            parse("funnel_step:a:b"),
            Ok((TargetKind::FunnelStep, "a:b"))
        ));
        for bad in ["entry", "entry:", "query:x", "Entry:x", ":x"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resolutions_are_the_store_s_tiers() {
        for r in [
            HistoryResolution::TenSeconds,
            HistoryResolution::OneMinute,
            HistoryResolution::FiveMinutes,
        ] {
            assert_eq!(TIERS[usize::from(tier(r))].0, r.step_s());
        }
    }
}
