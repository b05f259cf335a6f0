//! Statistics with flat memory: one HDR histogram for the current
//! one-second interval, a short ring of recent ones (for windowed guards),
//! and a merged total. A closed interval is reduced to an
//! [`IntervalSummary`] of a few numbers; no per-request sample is kept.

use std::collections::VecDeque;
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use crate::report::{Bucket, buckets};

/// How many closed one-second histograms are kept for windowed views.
const RECENT: usize = 10;
/// Significant figures of every histogram (0.1 % resolution).
pub(crate) const SIGFIG: u8 = 3;

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The TCP connection or protocol handshake failed.
    Connect,
    /// No complete response within the timeout.
    Timeout,
    /// An established connection failed mid-request (reset, closed).
    Io,
    /// The response status was 4xx.
    Status4xx,
    /// The response status was 5xx.
    Status5xx,
    /// The response body could not be read.
    Body,
}

/// Failed requests by class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorCounts {
    /// Sum of all classes.
    pub total: u64,
    /// Connection or handshake failures.
    pub connect: u64,
    /// Timeouts.
    pub timeout: u64,
    /// Failures of established connections.
    pub io: u64,
    /// 4xx responses.
    pub status_4xx: u64,
    /// 5xx responses.
    pub status_5xx: u64,
    /// Unreadable response bodies.
    pub body: u64,
}

impl ErrorCounts {
    fn add(&mut self, class: ErrorClass) {
        self.total += 1;
        let slot = match class {
            ErrorClass::Connect => &mut self.connect,
            ErrorClass::Timeout => &mut self.timeout,
            ErrorClass::Io => &mut self.io,
            ErrorClass::Status4xx => &mut self.status_4xx,
            ErrorClass::Status5xx => &mut self.status_5xx,
            ErrorClass::Body => &mut self.body,
        };
        *slot += 1;
    }
}

/// Latency percentiles in milliseconds (microsecond resolution).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest observed.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// A histogram's 99th percentile in milliseconds (0 when empty).
fn p99_ms(h: &Histogram<u64>) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(0.99) as f64 / 1000.0
    }
}

impl Latency {
    pub(crate) fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            mean: h.mean() / 1000.0,
        }
    }
}

/// One second of a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct IntervalSummary {
    /// Seconds since the start (this interval covers `[t_s, t_s + 1)`).
    pub t_s: u64,
    /// Requests completed in the interval (responses and errors).
    pub requests: u64,
    /// Of those, failures.
    pub errors: u64,
    /// Arrivals dropped in the interval (no free connection slot).
    pub dropped: u64,
    /// Latency of the responses completed in the interval.
    pub latency_ms: Latency,
}

/// Load model of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Open model: arrivals at intended times.
    Open,
    /// Closed loop: each connection sends as soon as the previous response arrived.
    Closed,
}

/// Result of a run. Its JSON form (`seawall load --json`) is documented in
/// `docs/rehearse.md`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Schema name and version of this object.
    pub schema: &'static str,
    /// The test tag's run id (`None` when untagged).
    pub run_id: Option<String>,
    /// Open or closed model.
    pub mode: Mode,
    /// Intended rate (open model).
    pub target_rps: Option<f64>,
    /// Requests completed: responses of any status plus failed requests.
    /// Dropped arrivals are not requests.
    pub requests: u64,
    /// Responses with a status below 400.
    pub ok: u64,
    /// Seconds from the start until the last arrival was issued.
    pub duration_s: f64,
    /// `requests / duration_s`.
    pub achieved_rps: f64,
    /// Open-model arrivals that found the connection cap reached.
    pub dropped: u64,
    /// Failed requests by class.
    pub errors: ErrorCounts,
    /// Latency of every response (any status), from the intended send time.
    pub latency_ms: Latency,
    /// The same latencies as counts per bucket (bounds in
    /// [`crate::report::BOUNDS_MS`], not cumulative, the last unbounded).
    pub latency_histogram: Vec<Bucket>,
    /// Per-second series.
    pub intervals: Vec<IntervalSummary>,
}

/// A once-a-second view of a run in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Time since the start.
    pub elapsed: Duration,
    /// The run's configured duration.
    pub duration: Duration,
    /// The last complete second.
    pub last: IntervalSummary,
    /// Requests completed so far.
    pub requests: u64,
    /// Failures so far.
    pub errors: u64,
    /// Dropped arrivals so far.
    pub dropped: u64,
    /// Responses with a status below 400 so far.
    pub ok: u64,
    /// Failures so far, by class.
    pub errors_by_class: ErrorCounts,
    /// Requests in flight at the time of the view (filled in by the runner).
    pub in_flight: u64,
    /// Latencies so far, per bucket as in [`Summary::latency_histogram`].
    pub latency_histogram: Vec<Bucket>,
    /// Sum of the latencies so far, in milliseconds.
    pub latency_sum_ms: f64,
}

/// The current interval's counters and histogram.
#[derive(Debug, Clone)]
struct Interval {
    index: u64,
    requests: u64,
    errors: ErrorCounts,
    dropped: u64,
    histogram: Histogram<u64>,
}

impl Interval {
    fn summary(&self) -> IntervalSummary {
        IntervalSummary {
            t_s: self.index,
            requests: self.requests,
            errors: self.errors.total,
            dropped: self.dropped,
            latency_ms: Latency::of(&self.histogram),
        }
    }
}

impl ClosedSecond {
    fn of(interval: &Interval) -> Self {
        Self {
            t_s: interval.index,
            requests: interval.requests,
            errors: interval.errors.total,
            dropped: interval.dropped,
            histogram: interval.histogram.clone(),
        }
    }
}

/// Collects outcomes; owned behind a mutex by the runner.
#[derive(Debug)]
pub(crate) struct Recorder {
    start: Instant,
    current: Interval,
    /// The last closed intervals' histograms, newest last (at most `RECENT`).
    recent: VecDeque<Histogram<u64>>,
    intervals: Vec<IntervalSummary>,
    total: Histogram<u64>,
    requests: u64,
    ok: u64,
    dropped: u64,
    errors: ErrorCounts,
    /// How many closed histograms `recent` keeps (at least `RECENT`).
    keep: usize,
    /// Counters since the start of the current phase (scenario runs).
    phase: Option<Phase>,
    /// Closed seconds not yet taken by [`Recorder::take_closed`], kept only
    /// when a rehearsal agent streams them (`None` otherwise).
    outbox: Option<Vec<ClosedSecond>>,
}

/// One closed second of an entry, with its histogram: what a rehearsal
/// agent streams to the control plane.
#[derive(Debug, Clone)]
pub(crate) struct ClosedSecond {
    pub t_s: u64,
    pub requests: u64,
    pub errors: u64,
    pub dropped: u64,
    pub histogram: Histogram<u64>,
}

/// Counters and histogram since a phase began (a capacity-search step).
#[derive(Debug, Clone)]
struct Phase {
    requests: u64,
    errors: u64,
    dropped: u64,
    histogram: Histogram<u64>,
}

/// Requests, failures and latency over a stretch of a run (a guard window
/// or a search step).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct View {
    /// Requests completed.
    pub requests: u64,
    /// Of those, failures.
    pub errors: u64,
    /// Dropped arrivals or steps.
    pub dropped: u64,
    /// 99th-percentile latency in ms (0 without responses).
    pub p99_ms: f64,
}

impl View {
    /// `errors / requests`, 0 without requests.
    pub(crate) fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

impl Recorder {
    /// A recorder whose histograms track latencies up to `highest`
    /// (larger values are clamped to it).
    pub(crate) fn new(
        start: Instant,
        highest: Duration,
    ) -> Result<Self, hdrhistogram::CreationError> {
        let high = u64::try_from(highest.as_micros())
            .unwrap_or(u64::MAX / 4)
            .max(1000);
        let histogram = Histogram::new_with_bounds(1, high, SIGFIG)?;
        Ok(Self {
            start,
            current: Interval {
                index: 0,
                requests: 0,
                errors: ErrorCounts::default(),
                dropped: 0,
                histogram: histogram.clone(),
            },
            recent: VecDeque::with_capacity(RECENT + 1),
            intervals: Vec::new(),
            total: histogram,
            requests: 0,
            ok: 0,
            dropped: 0,
            errors: ErrorCounts::default(),
            keep: RECENT,
            phase: None,
            outbox: None,
        })
    }

    /// Keep every closed second (with its histogram) until
    /// [`Recorder::take_closed`] takes it.
    pub(crate) fn keep_closed(&mut self) {
        self.outbox.get_or_insert_with(Vec::new);
    }

    /// The seconds closed since the last call, oldest first.
    pub(crate) fn take_closed(&mut self) -> Vec<ClosedSecond> {
        self.outbox.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Every latency recorded so far.
    pub(crate) fn total_histogram(&self) -> &Histogram<u64> {
        &self.total
    }

    /// The latencies recorded since [`Recorder::start_phase`].
    pub(crate) fn phase_histogram(&self) -> Option<&Histogram<u64>> {
        self.phase.as_ref().map(|p| &p.histogram)
    }

    /// Keep enough closed one-second histograms for a window of `seconds`
    /// (at most 60: each one is a full histogram).
    pub(crate) fn keep_window(&mut self, seconds: usize) {
        self.keep = seconds.clamp(RECENT, 60);
    }

    /// Start (or restart) counting a phase: [`Recorder::phase_view`]
    /// covers what completes from now on.
    pub(crate) fn start_phase(&mut self) {
        match &mut self.phase {
            Some(p) => {
                p.requests = 0;
                p.errors = 0;
                p.dropped = 0;
                p.histogram.reset();
            }
            None => {
                let mut histogram = self.total.clone();
                histogram.reset();
                self.phase = Some(Phase {
                    requests: 0,
                    errors: 0,
                    dropped: 0,
                    histogram,
                });
            }
        }
    }

    /// What completed since [`Recorder::start_phase`] (empty before it).
    pub(crate) fn phase_view(&self) -> View {
        self.phase.as_ref().map_or_else(View::default, |p| View {
            requests: p.requests,
            errors: p.errors,
            dropped: p.dropped,
            p99_ms: p99_ms(&p.histogram),
        })
    }

    /// What completed in the last `seconds` whole seconds before the
    /// current one, plus the current (partial) second, as of `now`.
    pub(crate) fn window_view(&mut self, now: Instant, seconds: usize) -> View {
        self.roll_to(now);
        let closed = seconds.saturating_sub(1).min(self.recent.len());
        let mut view = View {
            requests: self.current.requests,
            errors: self.current.errors.total,
            dropped: self.current.dropped,
            p99_ms: 0.0,
        };
        for summary in self.intervals.iter().rev().take(closed) {
            view.requests += summary.requests;
            view.errors += summary.errors;
            view.dropped += summary.dropped;
        }
        let mut merged = self.current.histogram.clone();
        for h in self.recent.iter().rev().take(closed) {
            // Same bounds by construction; a failed add only loses precision.
            let _ = merged.add(h);
        }
        view.p99_ms = p99_ms(&merged);
        view
    }

    fn second(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_secs()
    }

    /// Close intervals up to (not including) the one containing `at`.
    pub(crate) fn roll_to(&mut self, at: Instant) {
        let second = self.second(at);
        // Bounded: one iteration per elapsed second, at most.
        while self.current.index < second {
            // Reuse the oldest recent histogram once the ring is full, so a
            // long run allocates no new histograms.
            let recycled = if self.recent.len() >= self.keep {
                self.recent.pop_front()
            } else {
                None
            };
            let mut histogram = recycled.unwrap_or_else(|| self.current.histogram.clone());
            histogram.reset();
            let next = Interval {
                index: self.current.index + 1,
                requests: 0,
                errors: ErrorCounts::default(),
                dropped: 0,
                histogram,
            };
            let closed = std::mem::replace(&mut self.current, next);
            if let Some(outbox) = &mut self.outbox {
                outbox.push(ClosedSecond::of(&closed));
            }
            self.intervals.push(closed.summary());
            self.recent.push_back(closed.histogram);
        }
    }

    /// A response (any status) completed at `done` for an arrival intended
    /// at `intended`; `error` is its class when the status is 4xx or 5xx.
    pub(crate) fn response(&mut self, intended: Instant, done: Instant, error: Option<ErrorClass>) {
        self.roll_to(done);
        let us = u64::try_from(done.saturating_duration_since(intended).as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        self.current.histogram.saturating_record(us);
        self.total.saturating_record(us);
        self.current.requests += 1;
        self.requests += 1;
        if let Some(p) = &mut self.phase {
            p.histogram.saturating_record(us);
            p.requests += 1;
            p.errors += u64::from(error.is_some());
        }
        match error {
            Some(class) => {
                self.current.errors.add(class);
                self.errors.add(class);
            }
            None => self.ok += 1,
        }
    }

    /// A request that failed without a response.
    pub(crate) fn failure(&mut self, done: Instant, class: ErrorClass) {
        self.roll_to(done);
        self.current.requests += 1;
        self.requests += 1;
        self.current.errors.add(class);
        self.errors.add(class);
        if let Some(p) = &mut self.phase {
            p.requests += 1;
            p.errors += 1;
        }
    }

    /// An arrival dropped at `at` for lack of a connection slot.
    pub(crate) fn drop_arrival(&mut self, at: Instant) {
        self.roll_to(at);
        self.current.dropped += 1;
        self.dropped += 1;
        if let Some(p) = &mut self.phase {
            p.dropped += 1;
        }
    }

    /// The running view, closing intervals up to `now`.
    pub(crate) fn progress(&mut self, now: Instant, duration: Duration) -> Progress {
        self.roll_to(now);
        let last = self.intervals.last().cloned().unwrap_or(IntervalSummary {
            t_s: 0,
            requests: 0,
            errors: 0,
            dropped: 0,
            latency_ms: Latency::default(),
        });
        Progress {
            elapsed: now.saturating_duration_since(self.start),
            duration,
            last,
            requests: self.requests,
            errors: self.errors.total,
            dropped: self.dropped,
            ok: self.ok,
            errors_by_class: self.errors,
            in_flight: 0,
            latency_histogram: buckets(&self.total),
            latency_sum_ms: self.total.mean() * self.total.len() as f64 / 1000.0,
        }
    }

    /// Close the run: the final (possibly partial) interval is kept. The
    /// per-second series moves into the summary.
    pub(crate) fn finish(
        &mut self,
        mode: Mode,
        target_rps: Option<f64>,
        run_id: Option<String>,
        issued: Duration,
    ) -> Summary {
        let end = Instant::now();
        self.roll_to(end);
        if self.current.requests > 0 || self.current.dropped > 0 {
            if let Some(outbox) = &mut self.outbox {
                outbox.push(ClosedSecond::of(&self.current));
            }
            self.intervals.push(self.current.summary());
        }
        let duration_s = issued.as_secs_f64();
        Summary {
            schema: "seawall.load/v1",
            run_id,
            mode,
            target_rps,
            requests: self.requests,
            ok: self.ok,
            duration_s,
            achieved_rps: if duration_s > 0.0 {
                self.requests as f64 / duration_s
            } else {
                0.0
            },
            dropped: self.dropped,
            errors: self.errors,
            latency_ms: Latency::of(&self.total),
            latency_histogram: buckets(&self.total),
            intervals: std::mem::take(&mut self.intervals),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_roll_and_memory_stays_bounded() {
        let start = Instant::now();
        let mut r = Recorder::new(start, Duration::from_secs(10)).expect("histogram");
        for s in 0..100u64 {
            let at = start + Duration::from_millis(s * 1000 + 500);
            r.response(at - Duration::from_millis(s + 1), at, None);
        }
        r.failure(start + Duration::from_millis(100_100), ErrorClass::Timeout);
        r.drop_arrival(start + Duration::from_millis(100_200));
        assert!(r.recent.len() <= RECENT);
        let s = r.finish(Mode::Open, Some(1.0), None, Duration::from_secs(100));
        assert_eq!(s.requests, 101);
        assert_eq!(s.ok, 100);
        assert_eq!(s.dropped, 1);
        assert_eq!(s.errors.timeout, 1);
        assert_eq!(s.intervals.len(), 101);
        // HDR values are exact to 3 significant figures.
        assert!((s.intervals[5].latency_ms.max - 6.0).abs() < 0.01);
        assert!((s.latency_ms.max - 100.0).abs() < 0.1);
        assert!((s.achieved_rps - 1.01).abs() < 1e-9);
    }

    #[test]
    fn empty_seconds_are_reported() {
        let start = Instant::now();
        let mut r = Recorder::new(start, Duration::from_secs(1)).expect("histogram");
        r.response(
            start,
            start + Duration::from_millis(3500),
            Some(ErrorClass::Status5xx),
        );
        let p = r.progress(start + Duration::from_millis(4100), Duration::from_secs(5));
        assert_eq!(p.last.t_s, 3);
        assert_eq!(p.last.errors, 1);
        assert_eq!(p.requests, 1);
        let s = r.finish(Mode::Closed, None, None, Duration::from_secs(4));
        assert_eq!(s.intervals[0].requests, 0);
        assert_eq!(s.errors.status_5xx, 1);
        // clamped to the histogram's highest trackable value (1 s)
        assert!(s.latency_ms.max <= 1001.0);
    }

    /// 10 requests a second for 20 s on a paused clock: 5 ms each, but
    /// second 12 fails and second 14 takes 50 ms. Windows and phases count
    /// exactly the seconds they say.
    #[tokio::test(start_paused = true)]
    async fn windows_and_phases_cover_what_they_say() {
        let start = Instant::now();
        let mut r = Recorder::new(start, Duration::from_secs(10)).expect("histogram");
        r.keep_window(15);
        let mut views = Vec::new();
        for k in 1..=200u64 {
            tokio::time::advance(Duration::from_millis(100)).await;
            let now = Instant::now();
            let second = (k - 1) / 10;
            let latency = if second == 14 { 50 } else { 5 };
            let error = (second == 12).then_some(ErrorClass::Status5xx);
            // k-th request completes at k × 100 ms (1 µs before, so it
            // stays in its second).
            let done = now - Duration::from_micros(1);
            r.response(done - Duration::from_millis(latency), done, error);
            if k == 50 {
                r.start_phase();
            }
            if k == 80 {
                views.push(("phase", r.phase_view()));
            }
            if k == 135 || k == 185 || k == 150 {
                views.push(("window", r.window_view(now, 5)));
            }
        }
        let [(_, phase), (_, at_13_5), (_, at_15), (_, at_18_5)] = views[..] else {
            panic!("four views, got {views:?}");
        };
        // requests 51..=80 completed after the phase began
        assert_eq!((phase.requests, phase.errors), (30, 0));
        // at 13.5 s: seconds 9–12 closed (40) plus 13.0–13.5 (5); second 12 failed
        assert_eq!((at_13_5.requests, at_13_5.errors), (45, 10));
        assert!((at_13_5.error_rate() - 10.0 / 45.0).abs() < 1e-12);
        assert!((at_13_5.p99_ms - 5.0).abs() < 0.01, "{at_13_5:?}");
        // at 15.0 s: seconds 11–14, the slow one included; 15 is empty yet
        assert_eq!(at_15.requests, 40);
        assert!((at_15.p99_ms - 50.0).abs() < 0.1, "{at_15:?}");
        // at 18.5 s: seconds 14–17 and half of 18; the failures are out
        assert_eq!((at_18_5.requests, at_18_5.errors), (45, 0));
        assert!(r.recent.len() <= 15);
    }
}
