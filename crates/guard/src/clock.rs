//! Time sources. The decision core never reads the system clock directly:
//! every [`Guard`](crate::Guard) asks its [`Clock`] for a monotonic instant in
//! nanoseconds, so tests drive time by hand with [`ManualClock`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic time source: nanoseconds since an arbitrary, fixed origin.
///
/// Implementations must never go backwards.
pub trait Clock: Send + Sync {
    /// The current instant, in nanoseconds since the clock's origin.
    fn now_nanos(&self) -> u64;

    /// Wall-clock time in milliseconds since the Unix epoch, for leases
    /// that must end at an agreed instant (a fault's `expires_at_ms`). The
    /// system clock by default; [`ManualClock`] reads its own instant as
    /// time since the epoch, so tests move leases by hand.
    fn unix_millis(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    #[inline]
    fn now_nanos(&self) -> u64 {
        (**self).now_nanos()
    }

    fn unix_millis(&self) -> u64 {
        (**self).unix_millis()
    }
}

/// The process's monotonic clock (`std::time::Instant`), with its origin at
/// construction.
#[derive(Debug, Clone, Copy)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for MonotonicClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for MonotonicClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A clock read from an atomic that a background thread (a plain OS
/// thread, no async runtime) refreshes from [`MonotonicClock`] every
/// `resolution`: one atomic load per read instead of a system call, at the
/// price of that resolution (Sentinel's time tick does the same). The thread
/// stops when the last clone of the clock is dropped.
#[derive(Debug, Clone)]
pub struct CoarseClock {
    nanos: Arc<AtomicU64>,
}

impl CoarseClock {
    /// A clock refreshed every `resolution` (1 ms is a good default).
    /// Fails only if the refresh thread cannot be spawned.
    pub fn new(resolution: Duration) -> std::io::Result<Self> {
        let source = MonotonicClock::new();
        let nanos = Arc::new(AtomicU64::new(source.now_nanos()));
        let weak = Arc::downgrade(&nanos);
        std::thread::Builder::new()
            .name("seawall-guard-clock".into())
            .spawn(move || {
                while let Some(n) = weak.upgrade() {
                    n.store(source.now_nanos(), Ordering::Release);
                    drop(n);
                    std::thread::sleep(resolution);
                }
            })?;
        Ok(Self { nanos })
    }
}

impl CoarseClock {
    /// A coarse clock with no refresh thread: it stays at instant 0 until
    /// [`CoarseClock::advance`] moves it. For tests of a program built on
    /// `CoarseClock` (the sidecar), as [`ManualClock`] is for the guard's.
    pub fn manual() -> Self {
        Self {
            nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves a [`CoarseClock::manual`] clock (and its clones) forward by
    /// `by`. On a clock from [`CoarseClock::new`] the refresh thread
    /// overwrites the move at its next tick.
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(duration_nanos(by), Ordering::AcqRel);
    }
}

impl Clock for CoarseClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::Acquire)
    }
}

/// A clock that only moves when told to: for deterministic tests and
/// simulations. Starts at 0 unless built with [`ManualClock::starting_at`].
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    /// A manual clock at instant 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// A manual clock at the given instant.
    pub fn starting_at(at: Duration) -> Self {
        Self {
            nanos: AtomicU64::new(duration_nanos(at)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(duration_nanos(by), Ordering::AcqRel);
    }

    /// Moves the clock to `at` if that is later than now (a clock never goes
    /// backwards).
    pub fn set(&self, at: Duration) {
        self.nanos.fetch_max(duration_nanos(at), Ordering::AcqRel);
    }

    /// The current instant as a duration since the origin.
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::Acquire))
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::Acquire)
    }

    /// The manual instant, read as time since the Unix epoch.
    fn unix_millis(&self) -> u64 {
        self.now_nanos() / 1_000_000
    }
}

pub(crate) fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_forward() {
        let c = ManualClock::new();
        c.advance(Duration::from_millis(5));
        assert_eq!(c.now_nanos(), 5_000_000);
        c.set(Duration::from_millis(1));
        assert_eq!(c.now_nanos(), 5_000_000);
        c.set(Duration::from_secs(1));
        assert_eq!(c.elapsed(), Duration::from_secs(1));
    }

    #[test]
    fn coarse_clock_ticks() {
        let c = CoarseClock::new(Duration::from_millis(1)).expect("thread spawns");
        let a = c.now_nanos();
        std::thread::sleep(Duration::from_millis(20));
        assert!(c.now_nanos() > a);
    }

    #[test]
    fn monotonic_clock_does_not_go_backwards() {
        let c = MonotonicClock::new();
        let a = c.now_nanos();
        let b = c.now_nanos();
        assert!(b >= a);
    }
}
