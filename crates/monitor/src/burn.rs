//! SLO error-budget burn with multi-window, multi-burn-rate alerts.
//!
//! The SRE workbook's windows are for a 30-day SLO period; an event's SLO
//! period is its peak phase (hours), so the windows are rescaled by
//! `period ÷ 30 days` and any window shorter than four scrape intervals is
//! refused (too few points to mean anything). Ratios are traffic-weighted
//! — `Σ errors ÷ Σ requests` over the window, never a mean of per-tick
//! ratios — and a window with less traffic than the minimum, zero traffic
//! or non-numbers never fires.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// The workbook's reference SLO period: 30 days, in milliseconds.
pub const REFERENCE_PERIOD_MS: u64 = 30 * 24 * 3_600_000;
/// A window must span at least this many scrape intervals.
pub const MIN_SCRAPES_PER_WINDOW: u64 = 4;
/// Most points one series keeps, whatever the windows (bounded memory).
pub const MAX_POINTS: usize = 100_000;

/// Page or ticket: what a burn-rate pair raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    /// Wake someone up.
    Page,
    /// Look at it during working hours (on the event day: soon).
    Ticket,
}

/// One multi-window pair: fires when the burn rate over both the long and
/// the short window exceeds `factor`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BurnWindow {
    /// Long window in milliseconds.
    pub long_ms: u64,
    /// Short window in milliseconds.
    pub short_ms: u64,
    /// Burn-rate factor (14.4 = the 30-day budget gone in ~2 days).
    pub factor: f64,
    /// What it raises.
    pub urgency: Urgency,
}

const HOUR: u64 = 3_600_000;
const MINUTE: u64 = 60_000;

/// The SRE workbook's pairs for a 30-day period: page at 14.4× over 1 h and
/// 5 m or 6× over 6 h and 30 m; ticket at 3× over 1 d and 2 h or 1× over
/// 3 d and 6 h.
pub const WORKBOOK: [BurnWindow; 4] = [
    BurnWindow {
        long_ms: HOUR,
        short_ms: 5 * MINUTE,
        factor: 14.4,
        urgency: Urgency::Page,
    },
    BurnWindow {
        long_ms: 6 * HOUR,
        short_ms: 30 * MINUTE,
        factor: 6.0,
        urgency: Urgency::Page,
    },
    BurnWindow {
        long_ms: 24 * HOUR,
        short_ms: 2 * HOUR,
        factor: 3.0,
        urgency: Urgency::Ticket,
    },
    BurnWindow {
        long_ms: 72 * HOUR,
        short_ms: 6 * HOUR,
        factor: 1.0,
        urgency: Urgency::Ticket,
    },
];

/// Why a burn window cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BurnError {
    /// The rescaled window is shorter than four scrape intervals.
    #[error(
        "burn window of {window_ms} ms (rescaled from {reference_ms} ms) is shorter than four scrape intervals ({min_ms} ms)"
    )]
    WindowTooShort {
        /// The rescaled window.
        window_ms: u64,
        /// The 30-day reference window it comes from.
        reference_ms: u64,
        /// Four scrape intervals.
        min_ms: u64,
    },
    /// The SLO period or scrape interval is zero.
    #[error("SLO period and scrape interval must be positive")]
    ZeroPeriod,
}

/// `reference × period ÷ 30 days`, in whole milliseconds (saturating).
pub fn rescale_ms(reference_ms: u64, period_ms: u64) -> u64 {
    let scaled = u128::from(reference_ms) * u128::from(period_ms) / u128::from(REFERENCE_PERIOD_MS);
    u64::try_from(scaled).unwrap_or(u64::MAX)
}

/// Rescale one workbook pair to an SLO period, refusing it when either
/// window is shorter than four scrape intervals.
pub fn rescale(
    pair: &BurnWindow,
    period_ms: u64,
    scrape_interval_ms: u64,
) -> Result<BurnWindow, BurnError> {
    if period_ms == 0 || scrape_interval_ms == 0 {
        return Err(BurnError::ZeroPeriod);
    }
    let min_ms = scrape_interval_ms.saturating_mul(MIN_SCRAPES_PER_WINDOW);
    let long_ms = rescale_ms(pair.long_ms, period_ms);
    let short_ms = rescale_ms(pair.short_ms, period_ms);
    for (window_ms, reference_ms) in [(short_ms, pair.short_ms), (long_ms, pair.long_ms)] {
        if window_ms < min_ms {
            return Err(BurnError::WindowTooShort {
                window_ms,
                reference_ms,
                min_ms,
            });
        }
    }
    Ok(BurnWindow {
        long_ms,
        short_ms,
        ..*pair
    })
}

/// All four workbook pairs rescaled (each one usable or refused).
pub fn rescale_workbook(
    period_ms: u64,
    scrape_interval_ms: u64,
) -> Vec<Result<BurnWindow, BurnError>> {
    WORKBOOK
        .iter()
        .map(|p| rescale(p, period_ms, scrape_interval_ms))
        .collect()
}

/// One tick's traffic: requests and errors counted in it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// End of the tick, in milliseconds.
    pub at_ms: u64,
    /// Requests in the tick.
    pub requests: f64,
    /// Errors among them.
    pub errors: f64,
}

impl Counts {
    /// Counts of a tick of `tick_ms` at `qps` with `error_rate`; `None` on
    /// non-numbers or negative values (such a tick adds nothing).
    pub fn from_rates(
        at_ms: u64,
        tick_ms: u64,
        qps: Option<f64>,
        error_rate: Option<f64>,
    ) -> Option<Counts> {
        let qps = qps.filter(|q| q.is_finite() && *q >= 0.0)?;
        let rate = error_rate.filter(|r| r.is_finite() && (0.0..=1.0).contains(r))?;
        let requests = qps * tick_ms as f64 / 1000.0;
        Some(Counts {
            at_ms,
            requests,
            errors: requests * rate,
        })
    }
}

/// Buckets per short window in a pair's series: window sums are exact to
/// a tenth of the short window, and a series holds about `10 × long ÷
/// short` = 120 buckets for every workbook pair, whatever the SLO period.
pub const BUCKETS_PER_SHORT_WINDOW: u64 = 10;

/// A bounded series of counts for one SLO target, in buckets of
/// `resolution_ms` (ticks falling in the same bucket are added up).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BurnSeries {
    points: VecDeque<Counts>,
    /// Points older than this before the newest are dropped.
    keep_ms: u64,
    /// Bucket width (at least 1 ms).
    resolution_ms: u64,
}

impl BurnSeries {
    /// A series keeping `keep_ms` of history in buckets of `resolution_ms`.
    pub fn new(keep_ms: u64, resolution_ms: u64) -> Self {
        BurnSeries {
            points: VecDeque::new(),
            keep_ms,
            resolution_ms: resolution_ms.max(1),
        }
    }

    /// The series a pair needs: its long window, in buckets of a tenth of
    /// its short window.
    pub fn for_pair(pair: &BurnWindow) -> Self {
        BurnSeries::new(pair.long_ms, pair.short_ms / BUCKETS_PER_SHORT_WINDOW)
    }

    /// Add a tick; ticks with non-numbers, negatives or going back in time
    /// are ignored.
    pub fn push(&mut self, c: Counts) {
        let valid = c.requests.is_finite()
            && c.errors.is_finite()
            && c.requests >= 0.0
            && c.errors >= 0.0
            && self.points.back().is_none_or(|b| b.at_ms < c.at_ms);
        if !valid {
            return;
        }
        match self.points.back_mut() {
            Some(b) if b.at_ms / self.resolution_ms == c.at_ms / self.resolution_ms => {
                b.at_ms = c.at_ms;
                b.requests += c.requests;
                b.errors += c.errors;
            }
            _ => self.points.push_back(c),
        }
        let oldest = c.at_ms.saturating_sub(self.keep_ms);
        while self.points.front().is_some_and(|p| p.at_ms <= oldest)
            || self.points.len() > MAX_POINTS
        {
            self.points.pop_front();
        }
    }

    /// Points held.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the series is empty.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// `(Σ requests, Σ errors)` over buckets whose last tick is in
    /// `(now − window, now]`.
    pub fn sums(&self, now_ms: u64, window_ms: u64) -> (f64, f64) {
        let from = now_ms.saturating_sub(window_ms);
        self.points
            .iter()
            .rev()
            .take_while(|p| p.at_ms > from)
            .filter(|p| p.at_ms <= now_ms)
            .fold((0.0, 0.0), |(r, e), p| (r + p.requests, e + p.errors))
    }

    /// Traffic-weighted error ratio over the window, `Σ errors ÷ Σ
    /// requests`; `None` below `min_requests` (at least one request is
    /// always required) or on non-numbers.
    pub fn error_ratio(&self, now_ms: u64, window_ms: u64, min_requests: f64) -> Option<f64> {
        let (requests, errors) = self.sums(now_ms, window_ms);
        let floor = if min_requests.is_finite() {
            min_requests.max(f64::MIN_POSITIVE)
        } else {
            f64::MIN_POSITIVE
        };
        if !(requests.is_finite() && errors.is_finite()) || requests < floor {
            return None;
        }
        Some(errors / requests)
    }

    /// Burn rate over the window: the error ratio ÷ the error budget (the
    /// SLO's `error_rate`); `None` without a positive budget or a ratio.
    pub fn burn_rate(
        &self,
        now_ms: u64,
        window_ms: u64,
        budget: f64,
        min_requests: f64,
    ) -> Option<f64> {
        if !(budget.is_finite() && budget > 0.0) {
            return None;
        }
        self.error_ratio(now_ms, window_ms, min_requests)
            .map(|r| r / budget)
    }

    /// The pair's burn rate: the lower of the long and short windows' rates
    /// (the pair fires when it exceeds the factor, i.e. both do).
    pub fn pair_rate(
        &self,
        now_ms: u64,
        pair: &BurnWindow,
        budget: f64,
        min_requests: f64,
    ) -> Option<f64> {
        let long = self.burn_rate(now_ms, pair.long_ms, budget, min_requests)?;
        let short = self.burn_rate(now_ms, pair.short_ms, budget, min_requests)?;
        Some(long.min(short))
    }

    /// Whether the pair fires now.
    pub fn fires(&self, now_ms: u64, pair: &BurnWindow, budget: f64, min_requests: f64) -> bool {
        self.pair_rate(now_ms, pair, budget, min_requests)
            .is_some_and(|r| r > pair.factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_rescale_to_a_six_hour_peak() {
        let six_hours = 6 * HOUR;
        // 1 h × 6 h / 720 h = 30 s; 5 m → 2.5 s, refused at a 1 s scrape (4 s minimum).
        assert_eq!(rescale_ms(HOUR, six_hours), 30_000);
        assert_eq!(rescale_ms(5 * MINUTE, six_hours), 2_500);
        let all = rescale_workbook(six_hours, 1_000);
        assert_eq!(
            all[0],
            Err(BurnError::WindowTooShort {
                window_ms: 2_500,
                reference_ms: 5 * MINUTE,
                min_ms: 4_000
            })
        );
        assert_eq!(
            all[1],
            Ok(BurnWindow {
                long_ms: 180_000,
                short_ms: 15_000,
                factor: 6.0,
                urgency: Urgency::Page
            })
        );
        assert!(all[2].is_ok() && all[3].is_ok());
        assert_eq!(rescale(&WORKBOOK[0], 0, 1_000), Err(BurnError::ZeroPeriod));
        // The reference period itself keeps the workbook's windows.
        assert_eq!(
            rescale(&WORKBOOK[0], REFERENCE_PERIOD_MS, 5_000),
            Ok(WORKBOOK[0])
        );
    }

    #[test]
    fn series_forgets_beyond_its_window() {
        let mut s = BurnSeries::new(10_000, 1);
        for i in 1..=100u64 {
            s.push(Counts {
                at_ms: i * 1_000,
                requests: 10.0,
                errors: 1.0,
            });
        }
        assert_eq!(s.len(), 10);
        assert_eq!(s.sums(100_000, 5_000), (50.0, 5.0));
        s.push(Counts {
            at_ms: 50_000,
            requests: 1.0,
            errors: 1.0,
        });
        assert_eq!(s.len(), 10, "a tick back in time is ignored");
        // Buckets of 5 s: two ticks each.
        let mut s = BurnSeries::for_pair(&BurnWindow {
            long_ms: 60_000,
            short_ms: 50_000,
            factor: 1.0,
            urgency: Urgency::Page,
        });
        for i in 1..=100u64 {
            s.push(Counts {
                at_ms: i * 2_500,
                requests: 1.0,
                errors: 0.0,
            });
        }
        // Buckets 38..=50 end after 190 s; the last one holds one tick.
        assert_eq!(s.len(), 13);
        assert_eq!(s.sums(250_000, 10_000), (5.0, 0.0));
    }
}
