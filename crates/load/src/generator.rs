//! Whether the generator, not the system under test, was the limit during
//! a capacity-search step.
//!
//! Why: a knee is the rate at which the *system* breaks its SLO. On a small
//! machine the generator runs out first — it cannot send on schedule, its
//! connection cap cannot carry the rate, or its process has no CPU left —
//! and latency measured from the intended send time then grows although
//! the system is idle. Such a step's break says nothing about the system;
//! the search reports the highest multiple that held as a lower bound
//! ("≥ 971 QPS, generator-bound"), never as the knee.
//!
//! Three signs, each measured over the step:
//! - **fell behind its schedule**: more than [`Limits::late_share`] of the
//!   sends started later than intended by more than the lag limit — a
//!   quarter of the tightest p99 SLO ([`Limits::lag_of_slo`]), at least
//!   [`Limits::min_lag`]. A busy generator delays a request twice, late
//!   to send and late to read the response, so sends a quarter of the
//!   budget late can cost half of it for more than the 1 % of requests a
//!   p99 is about: enough to explain a broken p99;
//! - **dropped arrivals it could not carry**: arrivals were dropped at the
//!   connection cap while the cap is below the connections the step's rate
//!   needs even at the SLO's latency (Little's law: Σ rate × p99 bound,
//!   the timeout for an entry without one). Drops with a cap that would
//!   carry the rate at the SLO's latency follow from the system's own
//!   slowness and are the system's break;
//! - **ran out of CPU**: the process's CPU time over the step, divided by
//!   the step's wall time and the cores it can use (the fewer of the
//!   machine's cores open to it and the runtime's worker threads), above
//!   [`Limits::cpu_share`] (90 %). Measured from `/proc/self/stat` on
//!   Linux; elsewhere the CPU is reported as unknown and only the other
//!   two signs count.
//!
//! [`judge`] is a pure function of the measurements, so the thresholds are
//! tested without load.

use std::time::Duration;

use crate::result::GeneratorCheck;

/// When a step counts as generator-bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Process CPU share of the usable cores above which the generator is
    /// out of CPU.
    pub cpu_share: f64,
    /// A send later than this share of the tightest p99 SLO is late.
    pub lag_of_slo: f64,
    /// A send is never judged late below this lag.
    pub min_lag: Duration,
    /// Lag limit when no entry has a p99 SLO.
    pub default_lag: Duration,
    /// Share of late sends above which the step fell behind its schedule.
    pub late_share: f64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cpu_share: 0.9,
            lag_of_slo: 0.25,
            min_lag: Duration::from_millis(10),
            default_lag: Duration::from_millis(50),
            late_share: 0.01,
        }
    }
}

impl Limits {
    /// The lag above which a send is late, given the tightest p99 SLO (ms).
    pub fn lag_limit(&self, tightest_p99_ms: Option<f64>) -> Duration {
        match tightest_p99_ms {
            Some(ms) if ms.is_finite() && ms > 0.0 => {
                Duration::try_from_secs_f64(ms / 1000.0 * self.lag_of_slo)
                    .unwrap_or(self.default_lag)
                    .max(self.min_lag)
            }
            _ => self.default_lag,
        }
    }
}

/// What the generator did during one step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Measured {
    /// Requests it began to send.
    pub sends: u64,
    /// Of those, how many began later than the lag limit.
    pub late: u64,
    /// The lag limit applied (ms).
    pub lag_limit_ms: f64,
    /// Largest lag of a send (ms).
    pub max_lag_ms: f64,
    /// Arrivals and steps dropped at the connection cap.
    pub dropped: u64,
    /// The connection cap.
    pub connections: u64,
    /// Connections the step's rate needs at the SLO's latency.
    pub needed_connections: f64,
    /// Process CPU over the step as a share of the usable cores (`None`:
    /// unknown on this platform).
    pub cpu_share: Option<f64>,
    /// Cores the process can use.
    pub cores: u64,
}

/// Judge one step: generator-bound when any sign is present, with a
/// sentence per sign for people.
pub fn judge(limits: &Limits, m: &Measured) -> GeneratorCheck {
    let mut reasons = Vec::new();
    let late_share = if m.sends == 0 {
        0.0
    } else {
        m.late as f64 / m.sends as f64
    };
    if late_share > limits.late_share {
        reasons.push(format!(
            "fell behind its schedule: {:.1} % of sends started more than {:.0} ms late (at most {:.0} ms)",
            late_share * 100.0,
            m.lag_limit_ms,
            m.max_lag_ms
        ));
    }
    if m.dropped > 0 && (m.connections as f64) < m.needed_connections {
        reasons.push(format!(
            "dropped {} arrivals: the connection cap {} cannot carry the rate at the SLO's latency (needs about {:.0})",
            m.dropped, m.connections, m.needed_connections
        ));
    }
    if let Some(cpu) = m.cpu_share
        && cpu > limits.cpu_share
    {
        reasons.push(format!(
            "ran its process at {:.0} % of {} core{} (limit {:.0} %)",
            cpu * 100.0,
            m.cores,
            if m.cores == 1 { "" } else { "s" },
            limits.cpu_share * 100.0
        ));
    }
    GeneratorCheck {
        bound: !reasons.is_empty(),
        reasons,
        cpu_share: m.cpu_share,
        cores: m.cores,
        late_share,
        lag_limit_ms: m.lag_limit_ms,
        max_lag_ms: m.max_lag_ms,
        dropped: m.dropped,
        connections: m.connections,
        needed_connections: m.needed_connections,
    }
}

/// CPU time (user + system) this process has used, or `None` where it is
/// not known (not Linux, or `/proc` unreadable).
pub fn process_cpu() -> Option<Duration> {
    if cfg!(target_os = "linux") {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        parse_stat(&stat)
    } else {
        None
    }
}

/// `utime + stime` of a `/proc/<pid>/stat` line, in clock ticks of
/// `USER_HZ` (100 a second on every Linux architecture `/proc` reports
/// to user space). The command name (field 2) is in parentheses and may
/// hold spaces, so fields are counted after its closing parenthesis.
pub(crate) fn parse_stat(stat: &str) -> Option<Duration> {
    const USER_HZ: u64 = 100;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // After the name: state (3), ppid … cmajflt (4–12), utime (14), stime (15).
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime.checked_add(stime)?;
    Some(Duration::from_millis(ticks.checked_mul(1000 / USER_HZ)?))
}

/// Cores this process's generator can use: the fewer of the cores open to
/// it (affinity, cgroup quota) and the current runtime's worker threads.
pub fn cores() -> u64 {
    let open = std::thread::available_parallelism().map_or(1, |n| n.get());
    let workers = tokio::runtime::Handle::try_current()
        .map(|h| h.metrics().num_workers())
        .unwrap_or(open);
    open.min(workers.max(1)) as u64
}

/// Process CPU share of `cores` between two readings `wall` apart.
pub fn cpu_share(
    before: Option<Duration>,
    after: Option<Duration>,
    wall: Duration,
    cores: u64,
) -> Option<f64> {
    let used = after?.checked_sub(before?)?;
    let available = wall.as_secs_f64() * cores.max(1) as f64;
    (available > 0.0).then(|| used.as_secs_f64() / available)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calm() -> Measured {
        Measured {
            sends: 1000,
            late: 0,
            lag_limit_ms: 25.0,
            max_lag_ms: 3.0,
            dropped: 0,
            connections: 256,
            needed_connections: 20.0,
            cpu_share: Some(0.3),
            cores: 2,
        }
    }

    #[test]
    fn a_calm_step_is_not_generator_bound() {
        let c = judge(&Limits::default(), &calm());
        assert!(!c.bound, "{c:?}");
        assert!(c.reasons.is_empty());
        // unknown CPU alone is not a sign
        let c = judge(
            &Limits::default(),
            &Measured {
                cpu_share: None,
                ..calm()
            },
        );
        assert!(!c.bound);
        assert_eq!(c.cpu_share, None);
    }

    #[test]
    fn cpu_above_the_threshold_is_generator_bound() {
        let limits = Limits::default();
        let at = |cpu| {
            judge(
                &limits,
                &Measured {
                    cpu_share: Some(cpu),
                    ..calm()
                },
            )
        };
        assert!(!at(0.9).bound);
        let c = at(0.95);
        assert!(c.bound);
        assert!(c.reasons[0].contains("95 % of 2 cores"), "{:?}", c.reasons);
        // the threshold is a setting
        let strict = Limits {
            cpu_share: 0.5,
            ..limits
        };
        assert!(
            judge(
                &strict,
                &Measured {
                    cpu_share: Some(0.6),
                    ..calm()
                }
            )
            .bound
        );
    }

    #[test]
    fn lagging_sends_are_generator_bound() {
        let limits = Limits::default();
        // 1 % late is tolerated, 2 % is not
        let ten = judge(&limits, &Measured { late: 10, ..calm() });
        assert!(!ten.bound);
        let c = judge(
            &limits,
            &Measured {
                late: 20,
                max_lag_ms: 180.0,
                ..calm()
            },
        );
        assert!(c.bound);
        assert!(
            c.reasons[0].contains("fell behind its schedule"),
            "{:?}",
            c.reasons
        );
        assert!((c.late_share - 0.02).abs() < 1e-12);
        // no sends: nothing to judge
        assert!(
            !judge(
                &limits,
                &Measured {
                    sends: 0,
                    late: 0,
                    ..calm()
                }
            )
            .bound
        );
    }

    #[test]
    fn drops_count_only_when_the_cap_cannot_carry_the_rate() {
        let limits = Limits::default();
        // 2,000 rps at a 200 ms p99 needs 400 connections; 256 cannot.
        let c = judge(
            &limits,
            &Measured {
                dropped: 2039,
                connections: 256,
                needed_connections: 400.0,
                ..calm()
            },
        );
        assert!(c.bound);
        assert!(
            c.reasons[0].contains("dropped 2039 arrivals"),
            "{:?}",
            c.reasons
        );
        // The cap carries the rate at the SLO's latency: the drops follow
        // from the system's slowness, its own break.
        assert!(
            !judge(
                &limits,
                &Measured {
                    dropped: 2039,
                    connections: 512,
                    needed_connections: 400.0,
                    ..calm()
                }
            )
            .bound
        );
    }

    #[test]
    fn the_lag_limit_follows_the_tightest_slo() {
        let l = Limits::default();
        assert_eq!(l.lag_limit(Some(200.0)), Duration::from_millis(50));
        assert_eq!(l.lag_limit(Some(20.0)), Duration::from_millis(10));
        assert_eq!(l.lag_limit(None), Duration::from_millis(50));
        assert_eq!(l.lag_limit(Some(f64::NAN)), Duration::from_millis(50));
    }

    #[test]
    fn parses_proc_stat() {
        // A name with spaces and parentheses; utime 1234, stime 66 ticks.
        let line = "4242 (sea wall (x)) S 1 4242 4242 0 -1 4194560 5000 0 0 0 1234 66 0 0 20 0 9 0 100 0 0";
        assert_eq!(parse_stat(line), Some(Duration::from_millis(13_000)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 1 2"), None);
        if cfg!(target_os = "linux") {
            assert!(process_cpu().is_some());
        } else {
            assert_eq!(process_cpu(), None);
        }
    }

    #[test]
    fn cpu_share_over_cores() {
        let s = cpu_share(
            Some(Duration::from_millis(100)),
            Some(Duration::from_millis(1900)),
            Duration::from_secs(1),
            2,
        );
        assert!((s.expect("share") - 0.9).abs() < 1e-9);
        assert_eq!(
            cpu_share(None, Some(Duration::ZERO), Duration::from_secs(1), 2),
            None
        );
        assert_eq!(
            cpu_share(
                Some(Duration::ZERO),
                Some(Duration::ZERO),
                Duration::ZERO,
                2
            ),
            None
        );
    }
}
