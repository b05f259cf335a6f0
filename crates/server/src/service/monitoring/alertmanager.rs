//! Optional push of the event day's alerts to an Alertmanager
//! (`seawall serve --alertmanager URL`): `POST {url}/api/v2/alerts` with
//! the API's `postableAlerts` — a JSON array of alerts, each with its
//! `labels` (`alertname` and the rest), `annotations`, `startsAt` and
//! `endsAt` (RFC 3339). As Prometheus does, a firing alert is sent when it
//! fires and again every [`RESEND_MS`] while it fires, with an `endsAt`
//! far enough ahead ([`ends_at`]) that Alertmanager keeps it between two
//! sends; a resolved one is sent once with `endsAt` its resolution time.
//! Alertmanager does its own grouping, silences and routing; alerts the
//! evaluator's inhibition silences are not sent.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

/// A firing alert is sent again after this long (Prometheus' default
/// `--rules.alert.resend-delay` is one minute).
pub const RESEND_MS: u64 = 60_000;

/// Deadline of one push.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// One alert as Alertmanager's API v2 takes it (`postableAlert`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Postable {
    /// Identifying labels; `alertname` names it.
    pub labels: BTreeMap<String, String>,
    /// Informational labels.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing (RFC 3339).
    pub starts_at: String,
    /// When it ends: ahead while firing, the resolution time once resolved.
    pub ends_at: String,
}

/// An alert to push: what the tick knows of it.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    /// Event slug.
    pub event: &'a str,
    /// Rule id.
    pub rule: &'a str,
    /// Target kind and id.
    pub target: (&'a str, &'a str),
    /// Signal name.
    pub metric: &'a str,
    /// Severity name.
    pub severity: &'a str,
    /// Last value.
    pub value: Option<f64>,
    /// Threshold.
    pub threshold: f64,
    /// When it fired, ms.
    pub fired_ms: u64,
    /// When it resolved, ms (`None`: firing).
    pub resolved_ms: Option<u64>,
}

/// `endsAt` of a firing alert sent at `now_ms`: four resend periods (or
/// ticks, if longer) ahead, as Prometheus computes it.
pub fn ends_at(now_ms: u64, interval_ms: u64) -> u64 {
    now_ms.saturating_add(4 * interval_ms.max(RESEND_MS))
}

/// RFC 3339 text of a time in milliseconds.
fn rfc3339(ms: u64) -> String {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_string()
}

/// The API's form of one alert at `now_ms` (ticks `interval_ms` apart).
pub fn postable(a: &Outgoing<'_>, now_ms: u64, interval_ms: u64) -> Postable {
    let labels = [
        ("alertname", a.rule.to_owned()),
        ("event", a.event.to_owned()),
        ("target_kind", a.target.0.to_owned()),
        ("target", a.target.1.to_owned()),
        ("metric", a.metric.to_owned()),
        ("severity", a.severity.to_owned()),
        ("source", "seawall".to_owned()),
    ];
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "summary".to_owned(),
        format!(
            "{} {} of {} {} past {}",
            a.severity, a.metric, a.target.0, a.target.1, a.threshold
        ),
    );
    annotations.insert("threshold".to_owned(), a.threshold.to_string());
    if let Some(v) = a.value.filter(|v| v.is_finite()) {
        annotations.insert("value".to_owned(), v.to_string());
    }
    Postable {
        labels: labels.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
        annotations,
        starts_at: rfc3339(a.fired_ms),
        ends_at: rfc3339(
            a.resolved_ms
                .unwrap_or_else(|| ends_at(now_ms, interval_ms)),
        ),
    }
}

/// Sends `alerts` in one request; the error's text when Alertmanager does
/// not answer 200.
pub async fn push(url: &str, alerts: &[Postable]) -> Result<(), String> {
    if alerts.is_empty() {
        return Ok(());
    }
    let client = seawall_api::Client::new(url)
        .map_err(|e| format!("alertmanager {url}: {e}"))?
        .with_timeout(PUSH_TIMEOUT);
    let r = client
        .post_json("/api/v2/alerts", &alerts)
        .await
        .map_err(|e| format!("alertmanager {url}: {e}"))?;
    if r.status.as_u16() == 200 {
        Ok(())
    } else {
        Err(format!(
            "alertmanager {url} answered {}: {}",
            r.status.as_u16(),
            String::from_utf8_lossy(&r.body)
                .chars()
                .take(200)
                .collect::<String>()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firing_ends_ahead_and_resolved_ends_when_it_resolved() {
        let mut a = Outgoing {
            event: "e",
            rule: "entry:home:water-critical",
            target: ("entry", "home"),
            metric: "water_level",
            severity: "critical",
            value: Some(f64::INFINITY),
            threshold: 0.9,
            fired_ms: 0,
            resolved_ms: None,
        };
        let p = postable(&a, 60_000, 5_000);
        assert_eq!(p.starts_at, "1970-01-01T00:00:00Z");
        assert_eq!(p.ends_at, "1970-01-01T00:05:00Z");
        assert_eq!(p.labels["alertname"], "entry:home:water-critical");
        assert!(!p.annotations.contains_key("value"), "∞ is not sent");
        a.resolved_ms = Some(61_500);
        assert_eq!(
            postable(&a, 61_500, 5_000).ends_at,
            "1970-01-01T00:01:01.5Z"
        );
    }
}
