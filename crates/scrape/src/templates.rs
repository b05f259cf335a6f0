//! Query templates, and the same three figures computed from the built-in
//! scrape's samples, so both sources give comparable numbers.
//!
//! Why: a plan that watches forty entries should not carry forty copies of
//! the same three PromQL lines differing in one label. A template names
//! the varying part with `{entry}`, `{service}` or `{partner}`, and the
//! defaults here fit what Seawall's own sidecar exposes
//! (`seawall_sidecar_requests_total{resource,result}` and the
//! `seawall_sidecar_request_duration_seconds` histogram), so a plan whose
//! traffic goes through sidecars needs no PromQL at all. The same
//! definitions are then applied to scraped pages without Prometheus:
//! a counter's rate from two scrapes (a reset — the value going down —
//! counts the new value as the increase, as PromQL's `rate` does), p99 by
//! linear interpolation inside the histogram bucket that holds the rank
//! (Prometheus' `histogram_quantile`), and the error rate weighted by
//! traffic (the sum of error rates over the sum of request rates, never an
//! average of per-target ratios). A figure that cannot be computed (no
//! traffic for a ratio, no observation for a quantile) is `None`, never 0.

use std::collections::HashMap;

use seawall_plan::Plan;
use seawall_plan::model::QueryKind;
use seawall_plan::query;

use crate::exposition::{Exposition, Sample, parse_float};

/// The sidecar's request counter (by `resource` and `result`).
pub const REQUESTS: &str = "seawall_sidecar_requests_total";
/// The sidecar's latency histogram's buckets (by `resource`, `le`).
pub const DURATION_BUCKETS: &str = "seawall_sidecar_request_duration_seconds_bucket";
/// The `result` label values that are errors: the upstream failed, could
/// not be reached or did not answer in time, or a drill's fault answered.
/// Refusals by a rule (`blocked`) and fallbacks are the guard working,
/// not errors; they show in the guard's own metrics.
pub const ERROR_RESULTS: [&str; 4] = ["upstream_5xx", "bad_gateway", "timeout", "fault"];
/// The rate window of the default templates.
pub const RATE_WINDOW: &str = "1m";

/// What a query watches; it picks the placeholder and the default label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A traffic entry: the sidecar's `resource` label is the entry id.
    Entry,
    /// A service: the `service` target label the scrape configuration
    /// gives each of the service's sidecars.
    Service,
    /// A partner (third party): the `resource` label of the calls to it.
    Partner,
}

impl Subject {
    /// The placeholder's name.
    pub fn placeholder(self) -> &'static str {
        match self {
            Self::Entry => "entry",
            Self::Service => "service",
            Self::Partner => "partner",
        }
    }

    /// The plan's kind of id.
    pub fn kind(self) -> QueryKind {
        match self {
            Self::Entry => QueryKind::Entry,
            Self::Service => QueryKind::Service,
            Self::Partner => QueryKind::Partner,
        }
    }

    /// The label the default templates select on.
    pub fn label(self) -> &'static str {
        match self {
            Self::Entry | Self::Partner => "resource",
            Self::Service => "service",
        }
    }
}

/// Values of the placeholders.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vars<'a> {
    /// `{entry}`.
    pub entry: Option<&'a str>,
    /// `{service}`.
    pub service: Option<&'a str>,
    /// `{partner}`.
    pub partner: Option<&'a str>,
}

impl<'a> Vars<'a> {
    /// Only `subject`'s placeholder, set to `id`.
    pub fn of(subject: Subject, id: &'a str) -> Self {
        let mut v = Self::default();
        match subject {
            Subject::Entry => v.entry = Some(id),
            Subject::Service => v.service = Some(id),
            Subject::Partner => v.partner = Some(id),
        }
        v
    }
}

/// Why a template cannot be filled in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{name}` is none of `{entry}`, `{service}`, `{partner}`.
    #[error(
        "unknown placeholder {{{name}}} at byte {at} (known: {{entry}}, {{service}}, {{partner}})"
    )]
    Unknown {
        /// The name between the braces.
        name: String,
        /// Its byte offset.
        at: usize,
    },
    /// The placeholder has no value here.
    #[error("placeholder {{{name}}} has no value for this query")]
    Missing {
        /// The placeholder.
        name: String,
    },
}

/// Fills in `{entry}`, `{service}` and `{partner}`. Only a word of
/// letters and underscores between braces is a placeholder, so PromQL's
/// own braces (`{resource="a"}`) are left alone; values are escaped for a
/// PromQL double-quoted string. What a placeholder is, is defined once in
/// `seawall_plan::query` (plan check reports the same ones, E071).
pub fn render(template: &str, vars: &Vars<'_>) -> Result<String, TemplateError> {
    query::fill(template, |kind| match kind {
        QueryKind::Entry => vars.entry,
        QueryKind::Service => vars.service,
        QueryKind::Partner => vars.partner,
    })
    .map_err(|p| match query::placeholder_kind(p.name) {
        None => TemplateError::Unknown {
            name: p.name.to_owned(),
            at: p.start,
        },
        Some(_) => TemplateError::Missing {
            name: p.name.to_owned(),
        },
    })
}

/// The three queries of one entry, service or partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuerySet {
    /// Requests per second.
    pub qps: String,
    /// 99th-percentile latency, milliseconds.
    pub p99_ms: String,
    /// Errors over requests.
    pub error_rate: String,
}

/// The default templates for `subject`, on the sidecar's metrics.
pub fn default_templates(subject: Subject) -> QuerySet {
    let sel = format!("{}=\"{{{}}}\"", subject.label(), subject.placeholder());
    let errors = ERROR_RESULTS.join("|");
    QuerySet {
        qps: format!("sum(rate({REQUESTS}{{{sel}}}[{RATE_WINDOW}]))"),
        p99_ms: format!(
            "1000 * histogram_quantile(0.99, sum by (le) (rate({DURATION_BUCKETS}{{{sel}}}[{RATE_WINDOW}])))"
        ),
        error_rate: format!(
            "sum(rate({REQUESTS}{{{sel},result=~\"{errors}\"}}[{RATE_WINDOW}])) / sum(rate({REQUESTS}{{{sel}}}[{RATE_WINDOW}]))"
        ),
    }
}

/// The queries of `id` (of `subject`'s kind) in `plan`: per figure its
/// own `monitoring.queries.<id>`, else the plan's template of the kind
/// (`monitoring.templates`), else the default here — the one resolution
/// the control plane's sources and the exports share.
pub fn plan_queries(plan: &Plan, subject: Subject, id: &str) -> Result<QuerySet, TemplateError> {
    queries_for(subject, id, plan.monitoring.written(subject.kind(), id))
}

/// The queries of `id`: each of `written` (a plan's own query or
/// template) or else the default, with the placeholders filled in.
pub fn queries_for(
    subject: Subject,
    id: &str,
    written: [Option<&str>; 3],
) -> Result<QuerySet, TemplateError> {
    let defaults = default_templates(subject);
    let vars = Vars::of(subject, id);
    let [qps, p99, err] = written;
    Ok(QuerySet {
        qps: render(qps.unwrap_or(&defaults.qps), &vars)?,
        p99_ms: render(p99.unwrap_or(&defaults.p99_ms), &vars)?,
        error_rate: render(err.unwrap_or(&defaults.error_rate), &vars)?,
    })
}

/// Per-second rates over one window between two scrapes, of the series
/// a selector picks; windows of several targets add up.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rates {
    /// Requests per second.
    pub requests: f64,
    /// Errors per second.
    pub errors: f64,
    /// Cumulative bucket rates by upper bound (`le`), ascending.
    pub buckets: Vec<(f64, f64)>,
}

/// The three figures.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Figures {
    /// Requests per second.
    pub qps: Option<f64>,
    /// 99th-percentile latency, milliseconds (`None` with no observation).
    pub p99_ms: Option<f64>,
    /// Errors over requests (`None` with no traffic).
    pub error_rate: Option<f64>,
}

type SeriesKey = Vec<(String, String)>;

fn key(s: &Sample) -> SeriesKey {
    let mut k = s.labels.clone();
    k.sort();
    k
}

/// The increase of every series named `name` matching `selector`, from
/// `before` to `after`: a value that went down is a counter reset, and the
/// new value is the increase; a series new in `after` started at zero.
fn increases<'a>(
    before: &Exposition,
    after: &'a Exposition,
    name: &str,
    selector: &[(&str, &str)],
) -> Vec<(&'a Sample, f64)> {
    increases_by(before, after, |s| s.name == name && s.matches(selector))
}

/// [`increases`] of the series `pick` selects (by name and labels).
pub(crate) fn increases_by<'a>(
    before: &Exposition,
    after: &'a Exposition,
    pick: impl Fn(&Sample) -> bool,
) -> Vec<(&'a Sample, f64)> {
    let old: HashMap<SeriesKey, f64> = before
        .samples()
        .filter(|s| pick(s))
        .map(|s| (key(s), s.value))
        .collect();
    after
        .samples()
        .filter(|s| pick(s) && s.value.is_finite())
        .map(|s| {
            let inc = match old.get(&key(s)) {
                Some(prev) if *prev <= s.value => s.value - prev,
                _ => s.value,
            };
            (s, inc)
        })
        .collect()
}

/// The per-second rate of any counter between two scrapes `seconds`
/// apart, summed over its series labelled `selector` (a business counter
/// of a funnel step, say `coupons_redeemed_total`): resets counted as
/// [`Rates`] counts them. `None` when `seconds` is not positive or no
/// series matches (no data, not zero).
pub fn counter_rate(
    before: &Exposition,
    after: &Exposition,
    seconds: f64,
    name: &str,
    selector: &[(&str, &str)],
) -> Option<f64> {
    if seconds.is_nan() || seconds <= 0.0 {
        return None;
    }
    let incs = increases(before, after, name, selector);
    (!incs.is_empty()).then(|| incs.iter().map(|(_, inc)| inc).sum::<f64>() / seconds)
}

impl Rates {
    /// The rates of the sidecar series labelled `selector` between two
    /// scrapes of one target, `seconds` apart. `None` when `seconds` is
    /// not positive.
    pub fn between(
        before: &Exposition,
        after: &Exposition,
        seconds: f64,
        selector: &[(&str, &str)],
    ) -> Option<Self> {
        if seconds.is_nan() || seconds <= 0.0 {
            return None;
        }
        let mut rates = Self::default();
        for (s, inc) in increases(before, after, REQUESTS, selector) {
            rates.requests += inc / seconds;
            if s.label("result")
                .is_some_and(|r| ERROR_RESULTS.contains(&r))
            {
                rates.errors += inc / seconds;
            }
        }
        for (s, inc) in increases(before, after, DURATION_BUCKETS, selector) {
            if let Some(le) = s.label("le").and_then(parse_float) {
                rates.add_bucket(le, inc / seconds);
            }
        }
        Some(rates)
    }

    /// [`Rates::between`] for every value of `label` at once, in one pass
    /// over the pages rather than one per value (a page of 1,000
    /// resources, read per resource, is a million sample comparisons a
    /// scrape): the rates by the series' `label` value, series without the
    /// label left out. Empty when `seconds` is not positive.
    pub fn by_label(
        before: &Exposition,
        after: &Exposition,
        seconds: f64,
        label: &str,
    ) -> HashMap<String, Self> {
        let mut out: HashMap<String, Self> = HashMap::new();
        if seconds.is_nan() || seconds <= 0.0 {
            return out;
        }
        let has = |s: &Sample, name: &str| s.name == name && s.label(label).is_some();
        for (s, inc) in increases_by(before, after, |s| has(s, REQUESTS)) {
            let Some(value) = s.label(label) else {
                continue;
            };
            let rates = out.entry(value.to_owned()).or_default();
            rates.requests += inc / seconds;
            if s.label("result")
                .is_some_and(|r| ERROR_RESULTS.contains(&r))
            {
                rates.errors += inc / seconds;
            }
        }
        for (s, inc) in increases_by(before, after, |s| has(s, DURATION_BUCKETS)) {
            if let (Some(value), Some(le)) = (s.label(label), s.label("le").and_then(parse_float)) {
                out.entry(value.to_owned())
                    .or_default()
                    .add_bucket(le, inc / seconds);
            }
        }
        out
    }

    fn add_bucket(&mut self, le: f64, rate: f64) {
        match self.buckets.binary_search_by(|(b, _)| b.total_cmp(&le)) {
            Ok(i) => self.buckets[i].1 += rate,
            Err(i) => self.buckets.insert(i, (le, rate)),
        }
    }

    /// Adds another target's rates (sums, as PromQL's `sum` does).
    pub fn add(&mut self, other: &Self) {
        self.requests += other.requests;
        self.errors += other.errors;
        for (le, r) in &other.buckets {
            self.add_bucket(*le, *r);
        }
    }

    /// qps, p99 (ms) and error rate.
    pub fn figures(&self) -> Figures {
        let p99 = histogram_quantile(0.99, &self.buckets);
        Figures {
            qps: Some(self.requests),
            p99_ms: p99.is_finite().then_some(p99 * 1000.0),
            error_rate: (self.requests > 0.0).then(|| self.errors / self.requests),
        }
    }
}

/// Prometheus' `histogram_quantile` over cumulative `(le, count)` buckets
/// sorted by `le`: NaN without a `+Inf` bucket, with fewer than two
/// buckets or with no observation; the rank's bucket is interpolated
/// linearly (the first bucket from 0 when its bound is positive); a rank
/// in the `+Inf` bucket gives the largest finite bound.
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if buckets.len() < 2 || buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
        return f64::NAN;
    }
    // Cumulative counts must not go down (float noise of summed rates):
    // Prometheus fixes them the same way.
    let mut counts: Vec<f64> = Vec::with_capacity(buckets.len());
    let mut max = 0.0_f64;
    for (_, c) in buckets {
        max = max.max(*c);
        counts.push(max);
    }
    let total = counts[counts.len() - 1];
    if total <= 0.0 || !total.is_finite() {
        return f64::NAN;
    }
    let rank = q * total;
    let b = counts
        .iter()
        .position(|c| *c >= rank)
        .unwrap_or(counts.len() - 1);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    let upper = buckets[b].0;
    if b == 0 && upper <= 0.0 {
        return upper;
    }
    let (start, below) = if b == 0 {
        (0.0, 0.0)
    } else {
        (buckets[b - 1].0, counts[b - 1])
    };
    let in_bucket = counts[b] - below;
    if in_bucket <= 0.0 {
        return upper;
    }
    start + (upper - start) * ((rank - below) / in_bucket)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::parse;

    #[test]
    fn placeholders() {
        let v = Vars::of(Subject::Entry, "coupon\"grab");
        assert_eq!(
            render(r#"x{resource="{entry}"} > 1"#, &v).expect("ok"),
            r#"x{resource="coupon\"grab"} > 1"#
        );
        assert_eq!(
            render("{ {} {a=\"b\"}", &v).expect("braces"),
            "{ {} {a=\"b\"}"
        );
        assert_eq!(
            render("x{entyr}", &v),
            Err(TemplateError::Unknown {
                name: "entyr".into(),
                at: 1
            })
        );
        assert_eq!(
            render("{service}", &v),
            Err(TemplateError::Missing {
                name: "service".into()
            })
        );
        let q = queries_for(
            Subject::Entry,
            "pay",
            [None, None, Some("up{entry=\"{entry}\"}")],
        )
        .expect("defaults");
        assert_eq!(
            q.qps,
            "sum(rate(seawall_sidecar_requests_total{resource=\"pay\"}[1m]))"
        );
        assert!(q.p99_ms.contains("histogram_quantile(0.99"), "{}", q.p99_ms);
        assert_eq!(q.error_rate, "up{entry=\"pay\"}");
        let q = default_templates(Subject::Service);
        assert!(
            q.error_rate.contains(
                "service=\"{service}\",result=~\"upstream_5xx|bad_gateway|timeout|fault\""
            ),
            "{}",
            q.error_rate
        );
    }

    #[test]
    fn quantile_matches_prometheus() {
        let b = [
            (0.1, 50.0),
            (0.2, 90.0),
            (0.4, 100.0),
            (f64::INFINITY, 100.0),
        ];
        // rank 99 lies in (0.2, 0.4]: 0.2 + 0.2 * (99-90)/10.
        assert!((histogram_quantile(0.99, &b) - 0.38).abs() < 1e-12);
        // rank 25 in the first bucket, from 0.
        assert!((histogram_quantile(0.25, &b) - 0.05).abs() < 1e-12);
        // a rank in +Inf gives the largest finite bound.
        let b2 = [(0.1, 1.0), (f64::INFINITY, 10.0)];
        assert_eq!(histogram_quantile(0.99, &b2), 0.1);
        assert!(histogram_quantile(0.99, &[(0.1, 0.0), (f64::INFINITY, 0.0)]).is_nan());
        assert!(histogram_quantile(0.99, &[(0.1, 5.0)]).is_nan());
    }

    #[test]
    fn rates_handle_resets_and_weight_by_traffic() {
        let before = parse(
            "seawall_sidecar_requests_total{resource=\"a\",result=\"ok\"} 100\n\
             seawall_sidecar_requests_total{resource=\"a\",result=\"upstream_5xx\"} 50\n\
             seawall_sidecar_requests_total{resource=\"b\",result=\"ok\"} 7\n",
        )
        .expect("before");
        // ok went from 100 to 30: a restart; 5xx went up by 10.
        let after = parse(
            "seawall_sidecar_requests_total{result=\"ok\",resource=\"a\"} 30\n\
             seawall_sidecar_requests_total{resource=\"a\",result=\"upstream_5xx\"} 60\n\
             seawall_sidecar_requests_total{resource=\"a\",result=\"blocked\"} 20\n\
             seawall_sidecar_requests_total{resource=\"b\",result=\"ok\"} 9\n",
        )
        .expect("after");
        let r = Rates::between(&before, &after, 10.0, &[("resource", "a")]).expect("rates");
        assert_eq!(r.requests, (30.0 + 10.0 + 20.0) / 10.0);
        assert_eq!(r.errors, 1.0);
        // A quiet second target with one error in one request must not
        // pull the ratio to an average of ratios.
        let mut total = r.clone();
        total.add(&Rates {
            requests: 0.1,
            errors: 0.1,
            buckets: vec![],
        });
        let f = total.figures();
        assert!((f.error_rate.expect("traffic") - 1.1 / 6.1).abs() < 1e-12);
        assert_eq!(f.p99_ms, None, "no histogram, no p99");
        assert_eq!(Rates::default().figures().error_rate, None);
        assert!(Rates::between(&before, &after, 0.0, &[]).is_none());
        let name = "seawall_sidecar_requests_total";
        assert_eq!(
            counter_rate(&before, &after, 2.0, name, &[("resource", "b")]),
            Some(1.0)
        );
        assert_eq!(
            counter_rate(&before, &after, 2.0, "nothing_total", &[]),
            None
        );
        assert_eq!(counter_rate(&before, &after, 0.0, name, &[]), None);
        // All resources at once: the same rates as one at a time.
        let all = Rates::by_label(&before, &after, 10.0, "resource");
        assert_eq!(all.len(), 2);
        for resource in ["a", "b"] {
            assert_eq!(
                all.get(resource),
                Rates::between(&before, &after, 10.0, &[("resource", resource)]).as_ref()
            );
        }
        assert!(Rates::by_label(&before, &after, 0.0, "resource").is_empty());
    }
}
