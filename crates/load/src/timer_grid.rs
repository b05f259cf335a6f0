//! Where a schedule starts against the runtime timer's 1 ms grid.
//!
//! tokio's timer counts whole milliseconds from the instant its runtime
//! was built and wakes a sleeper on the first tick at or after its
//! deadline. How many arrivals share one wake-up of the issuer — so how
//! late they go out (the lateness counts as latency) and how much CPU a
//! request costs — depends on where the arrivals fall between two ticks.
//! Every generator therefore starts its schedule on a tick: `seawall
//! load`, `seawall rehearse` and an agent batch alike, and one run like
//! the next. The origin is known only for a runtime built by [`runtime`];
//! elsewhere a schedule starts when asked.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// When the last runtime built by [`runtime`] started its timer.
static ORIGIN: Mutex<Option<std::time::Instant>> = Mutex::new(None);

/// The generators' runtime: current-thread for one thread, else
/// multi-threaded with `threads` workers; time and I/O enabled. Records
/// where its timer's ticks start (a few microseconds after tokio's own
/// origin, inside the same tick).
pub fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let runtime = builder.enable_all().build()?;
    // Just after tokio's origin: arrivals then fall just after a tick,
    // and each wake-up takes every arrival of the tick before it.
    *ORIGIN.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
    Ok(runtime)
}

/// `now`, moved forward to the next tick of the grid of the runtime built
/// by [`runtime`] (at most 1 ms later); `now` itself when no such runtime
/// was built or its origin is later.
pub(crate) fn on_timer_grid(now: Instant) -> Instant {
    let origin = *ORIGIN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(origin) = origin.map(Instant::from_std) else {
        return now;
    };
    grid_after(origin, now)
}

/// The first instant `origin + k ms` (k ≥ 0) at or after `now`; `now`
/// when it is before `origin`.
fn grid_after(origin: Instant, now: Instant) -> Instant {
    if now < origin {
        return now;
    }
    let since = now - origin;
    let ticks = since.as_nanos().div_ceil(1_000_000);
    u64::try_from(ticks)
        .ok()
        .and_then(|t| origin.checked_add(Duration::from_millis(t)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The start moves forward by less than a tick, onto a whole
        /// number of milliseconds from the origin.
        #[test]
        fn starts_on_the_next_tick(offset_ns in 0u64..10_000_000_000) {
            let origin = Instant::now();
            let now = origin + Duration::from_nanos(offset_ns);
            let start = grid_after(origin, now);
            proptest::prop_assert!(start >= now);
            proptest::prop_assert!(start - now < Duration::from_millis(1));
            proptest::prop_assert_eq!((start - origin).as_nanos() % 1_000_000, 0);
        }
    }

    #[test]
    fn before_the_origin_nothing_moves() {
        let now = Instant::now();
        let origin = now + Duration::from_millis(5);
        assert_eq!(grid_after(origin, now), now);
        assert_eq!(grid_after(now, now), now);
        assert_eq!(
            grid_after(now, now + Duration::from_micros(1)),
            now + Duration::from_millis(1)
        );
    }
}
