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
//!   the step's wall time and the CPU it can use (the fewer of the
//!   machine's cores open to it and the runtime's worker threads, and its
//!   cgroup's CPU quota where that is lower — an agent in a pod with
//!   `limits.cpu: 500m` has half a core, though all its threads run),
//!   above [`Limits::cpu_share`] (90 %). Measured with the process CPU
//!   clock and, on Linux, the cgroup files; elsewhere the CPU is reported
//!   as unknown and only the other two signs count.
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
    /// Process CPU over the step as a share of the usable CPU (`None`:
    /// unknown on this platform).
    pub cpu_share: Option<f64>,
    /// Cores the process can use.
    pub cores: u64,
    /// Its cgroup's CPU quota in cores, where that is below `cores`.
    pub cpu_quota: Option<f64>,
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
        let of = match m.cpu_quota {
            Some(q) => format!("its cgroup's CPU quota of {q:.2} cores"),
            None => format!("{} core{}", m.cores, if m.cores == 1 { "" } else { "s" }),
        };
        reasons.push(format!(
            "ran its process at {:.0} % of {of} (limit {:.0} %)",
            cpu * 100.0,
            limits.cpu_share * 100.0
        ));
    }
    GeneratorCheck {
        bound: !reasons.is_empty(),
        reasons,
        cpu_share: m.cpu_share,
        cores: m.cores,
        cpu_quota: m.cpu_quota,
        late_share,
        lag_limit_ms: m.lag_limit_ms,
        max_lag_ms: m.max_lag_ms,
        dropped: m.dropped,
        connections: m.connections,
        needed_connections: m.needed_connections,
    }
}

/// CPU time (user + system) this process has used, or `None` where it is
/// not known (not Unix).
///
/// Why not `/proc/self/stat`: it counts in ticks of 10 ms, so a step of a
/// second under a quarter-core quota (250 ms of CPU) reads to within 4 %
/// of it, as much as the margin the 90 % limit leaves. The process CPU
/// clock is exact.
pub fn process_cpu() -> Option<Duration> {
    #[cfg(unix)]
    {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        let secs = u64::try_from(t.tv_sec).ok()?;
        let nanos = u32::try_from(t.tv_nsec).ok()?;
        Some(Duration::new(secs, nanos))
    }
    #[cfg(not(unix))]
    {
        None
    }
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

/// The CPU this process may use, in cores: its `cores` (threads that can
/// run at once), or its cgroup's CPU quota where that is lower.
pub fn usable(cores: u64, quota: Option<f64>) -> f64 {
    let cores = cores.max(1) as f64;
    quota
        .filter(|q| q.is_finite() && *q > 0.0)
        .map_or(cores, |q| q.min(cores))
}

/// Process CPU share of `usable` cores (see [`usable`]) between two
/// readings `wall` apart.
pub fn cpu_share(
    before: Option<Duration>,
    after: Option<Duration>,
    wall: Duration,
    usable: f64,
) -> Option<f64> {
    let used = after?.checked_sub(before?)?;
    let available = wall.as_secs_f64() * usable;
    (available > 0.0).then(|| used.as_secs_f64() / available)
}

/// This process's CPU quota in cores, from its cgroup (v1's
/// `cpu.cfs_quota_us` ÷ `cpu.cfs_period_us`, v2's `cpu.max`), the lowest
/// along its cgroup's path up to the hierarchy's root (a parent's limit
/// binds its children too); `None` without a quota or off Linux.
///
/// Why not `available_parallelism`: it rounds a quota to whole cores (at
/// least one), so half a core reads as one and a generator at its limit
/// looks half idle.
pub fn cpu_quota() -> Option<f64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let dirs = cgroup_cpu_dirs(&cgroups, &mountinfo)?;
    let read = |dir: &std::path::Path, file: &str| std::fs::read_to_string(dir.join(file)).ok();
    let quota = |(dir, v2): &(std::path::PathBuf, bool)| {
        if *v2 {
            parse_cpu_max(&read(dir, "cpu.max")?)
        } else {
            parse_cfs(
                &read(dir, "cpu.cfs_quota_us")?,
                &read(dir, "cpu.cfs_period_us")?,
            )
        }
    };
    dirs.iter().filter_map(quota).reduce(f64::min)
}

/// The directories holding this process's CPU limits, its own cgroup's
/// first and then each parent's up to the hierarchy's mount point, and
/// whether they are cgroup v2's; from `/proc/self/cgroup` and
/// `/proc/self/mountinfo`. A v1 `cpu` hierarchy wins over v2 (on a
/// hybrid system the controller lives on v1).
pub(crate) fn cgroup_cpu_dirs(
    cgroups: &str,
    mountinfo: &str,
) -> Option<Vec<(std::path::PathBuf, bool)>> {
    // /proc/self/cgroup: "ID:controllers:path"; v2 is "0::path".
    let mut v1 = None;
    let mut v2 = None;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if controllers.is_empty() {
            v2 = Some(path);
        } else if controllers.split(',').any(|c| c == "cpu") {
            v1 = Some(path);
        }
    }
    // mountinfo: "ID PARENT MAJ:MIN ROOT MOUNT OPTIONS [TAGS] - FSTYPE SOURCE SUPER".
    let mount = |want_v2: bool| {
        mountinfo.lines().find_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut l = left.split_whitespace();
            let root = l.nth(3)?;
            let point = l.next()?;
            let mut r = right.split_whitespace();
            let fstype = r.next()?;
            let options = r.nth(1).unwrap_or("");
            let fits = if want_v2 {
                fstype == "cgroup2"
            } else {
                fstype == "cgroup" && options.split(',').any(|o| o == "cpu")
            };
            fits.then(|| (root.to_owned(), point.to_owned()))
        })
    };
    let (path, (root, point), is_v2) = match (v1, v2) {
        (Some(path), _) => (path, mount(false)?, false),
        (None, Some(path)) => (path, mount(true)?, true),
        (None, None) => return None,
    };
    // The cgroup's path below the mount's root (a container sees its own
    // cgroup as the root of the mount).
    let below = path
        .strip_prefix(root.as_str())
        .unwrap_or(path)
        .trim_start_matches('/');
    let mut dirs = Vec::new();
    let mut dir = std::path::PathBuf::from(point);
    dirs.push((dir.clone(), is_v2));
    for part in below.split('/').filter(|p| !p.is_empty() && *p != "..") {
        dir.push(part);
        dirs.push((dir.clone(), is_v2));
    }
    dirs.reverse();
    Some(dirs)
}

/// v2's `cpu.max`: "QUOTA PERIOD" in µs, or "max PERIOD" (no quota).
pub(crate) fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut it = text.split_whitespace();
    let quota = it.next()?;
    let period: f64 = it.next().map_or(Some(100_000.0), |p| p.parse().ok())?;
    if quota == "max" {
        return None;
    }
    let quota: f64 = quota.parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// v1's `cpu.cfs_quota_us` (−1: no quota) over `cpu.cfs_period_us`.
pub(crate) fn parse_cfs(quota: &str, period: &str) -> Option<f64> {
    let quota: i64 = quota.trim().parse().ok()?;
    let period: i64 = period.trim().parse().ok()?;
    (quota > 0 && period > 0).then(|| quota as f64 / period as f64)
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
            cpu_quota: None,
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
    fn the_process_cpu_clock_counts_work() {
        if !cfg!(unix) {
            assert_eq!(process_cpu(), None);
            return;
        }
        let before = process_cpu().expect("a CPU clock");
        // Bounded busy work until the clock has counted 20 ms of CPU: it
        // fails if the clock does not advance within 5 s.
        let began = std::time::Instant::now();
        let mut x = 0u64;
        while process_cpu().expect("clock") < before + Duration::from_millis(20) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            assert!(began.elapsed() < Duration::from_secs(5), "{x}");
        }
    }

    #[test]
    fn cpu_share_over_cores() {
        let s = cpu_share(
            Some(Duration::from_millis(100)),
            Some(Duration::from_millis(1900)),
            Duration::from_secs(1),
            usable(2, None),
        );
        assert!((s.expect("share") - 0.9).abs() < 1e-9);
        assert_eq!(
            cpu_share(None, Some(Duration::ZERO), Duration::from_secs(1), 2.0),
            None
        );
        assert_eq!(
            cpu_share(
                Some(Duration::ZERO),
                Some(Duration::ZERO),
                Duration::ZERO,
                2.0
            ),
            None
        );
    }

    #[test]
    fn a_cgroup_quota_below_the_cores_is_the_cpu_to_judge_by() {
        // Half a core used over a second: idle on 2 cores, the limit under
        // a quota of half a core.
        let used = (Some(Duration::ZERO), Some(Duration::from_millis(480)));
        let wall = Duration::from_secs(1);
        let free = cpu_share(used.0, used.1, wall, usable(2, None)).expect("share");
        assert!((free - 0.24).abs() < 1e-9);
        let capped = cpu_share(used.0, used.1, wall, usable(2, Some(0.5))).expect("share");
        assert!((capped - 0.96).abs() < 1e-9);
        // a quota above the cores does not add CPU; a nonsense one is none
        assert_eq!(usable(2, Some(3.5)), 2.0);
        assert_eq!(usable(2, Some(0.0)), 2.0);
        assert_eq!(usable(0, None), 1.0);
        let c = judge(
            &Limits::default(),
            &Measured {
                cpu_share: Some(capped),
                cpu_quota: Some(0.5),
                ..calm()
            },
        );
        assert!(c.bound);
        assert!(
            c.reasons[0].contains("96 % of its cgroup's CPU quota of 0.50 cores"),
            "{:?}",
            c.reasons
        );
        assert_eq!(c.cpu_quota, Some(0.5));
    }

    #[test]
    fn parses_cgroup_quotas() {
        assert_eq!(parse_cpu_max("50000 100000\n"), Some(0.5));
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("250000"), Some(2.5));
        assert_eq!(parse_cpu_max(""), None);
        assert_eq!(parse_cpu_max("x 100000"), None);
        assert_eq!(parse_cfs("-1\n", "100000\n"), None);
        assert_eq!(parse_cfs("2500\n", "10000\n"), Some(0.25));
        assert_eq!(parse_cfs("0", "10000"), None);
        assert_eq!(parse_cfs("1000", "0"), None);
    }

    #[test]
    fn finds_the_cpu_cgroup_and_its_parents() {
        // cgroup v1 (hybrid: v2 mounted too, the cpu controller on v1).
        let cgroups = "9:name=systemd:/\n2:cpuacct:/\n1:cpu:/agents/a-0\n0::/\n";
        let mountinfo = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
            33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n\
            40 31 0:40 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n";
        let dirs = cgroup_cpu_dirs(cgroups, mountinfo).expect("dirs");
        let names: Vec<_> = dirs
            .iter()
            .map(|(d, v2)| (d.to_string_lossy().into_owned(), *v2))
            .collect();
        assert_eq!(
            names,
            [
                ("/sys/fs/cgroup/cpu/agents/a-0".to_owned(), false),
                ("/sys/fs/cgroup/cpu/agents".to_owned(), false),
                ("/sys/fs/cgroup/cpu".to_owned(), false),
            ]
        );
        // cgroup v2 only, in a container whose cgroup is the mount's root;
        // "cpu,cpuacct" is not mistaken for a v2 line.
        let cgroups = "0::/kubepods/pod1/c1\n";
        let mountinfo =
            "50 40 0:26 /kubepods/pod1/c1 /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n";
        let dirs = cgroup_cpu_dirs(cgroups, mountinfo).expect("dirs");
        assert_eq!(dirs, [(std::path::PathBuf::from("/sys/fs/cgroup"), true)]);
        // a joint v1 controller
        let cgroups = "4:cpu,cpuacct:/x\n";
        let mountinfo =
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let dirs = cgroup_cpu_dirs(cgroups, mountinfo).expect("dirs");
        assert_eq!(
            dirs[0].0,
            std::path::PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/x")
        );
        // nothing to go by
        assert_eq!(cgroup_cpu_dirs("", mountinfo), None);
        assert_eq!(cgroup_cpu_dirs("0::/\n", ""), None);
    }
}
