//! A sliding window of time buckets with atomic counters (Sentinel's
//! "leap array"): `buckets` buckets of `interval / buckets` each, reused in a
//! ring. A bucket is valid while its start lies within the last `interval`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Start value of a bucket that has never been used. Clock instants stay
/// below 2⁶³ (292 years), so `now - start` wraps to at least 2⁶³ for both
/// markers and one comparison in [`Window::sum`] skips them.
const NEVER: u64 = 1 << 63;
/// Start value of a bucket being reset by another thread.
const RESETTING: u64 = NEVER + 1;

#[derive(Debug)]
pub(crate) struct Bucket<const N: usize> {
    start: AtomicU64,
    counts: [AtomicU64; N],
}

impl<const N: usize> Bucket<N> {
    fn new() -> Self {
        Self {
            start: AtomicU64::new(NEVER),
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    #[inline]
    pub(crate) fn add(&self, field: usize, v: u64) {
        if let Some(c) = self.counts.get(field) {
            c.fetch_add(v, Ordering::Relaxed);
        }
    }
}

/// `N` counters per bucket.
#[derive(Debug)]
pub(crate) struct Window<const N: usize> {
    buckets: Box<[Bucket<N>]>,
    bucket_nanos: u64,
    interval_nanos: u64,
}

impl<const N: usize> Window<N> {
    /// `buckets` ≥ 1 buckets covering `interval_nanos` ≥ `buckets`.
    pub(crate) fn new(buckets: usize, interval_nanos: u64) -> Self {
        let buckets = buckets.max(1);
        let bucket_nanos = (interval_nanos / buckets as u64).max(1);
        Self {
            buckets: (0..buckets).map(|_| Bucket::new()).collect(),
            bucket_nanos,
            interval_nanos: bucket_nanos * buckets as u64,
        }
    }

    /// Start of the bucket containing `now`.
    #[inline]
    pub(crate) fn bucket_start(&self, now: u64) -> u64 {
        now - now % self.bucket_nanos
    }

    /// The bucket for `now`, reset first if it still holds an older period.
    #[inline]
    pub(crate) fn current(&self, now: u64) -> &Bucket<N> {
        let n = now / self.bucket_nanos;
        let start = n * self.bucket_nanos;
        let idx = (n % self.buckets.len() as u64) as usize;
        let bucket = &self.buckets[idx];
        loop {
            let seen = bucket.start.load(Ordering::Acquire);
            if seen == start || (seen != NEVER && seen != RESETTING && seen > start) {
                // Current, or a later period another thread (with a later
                // clock reading) already opened: count into it.
                return bucket;
            }
            if seen == RESETTING {
                std::hint::spin_loop();
                continue;
            }
            if bucket
                .start
                .compare_exchange(seen, RESETTING, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                for c in &bucket.counts {
                    c.store(0, Ordering::Relaxed);
                }
                bucket.start.store(start, Ordering::Release);
                return bucket;
            }
        }
    }

    /// Adds `v` to counter `field` of the current bucket.
    #[inline]
    pub(crate) fn add(&self, now: u64, field: usize, v: u64) {
        self.current(now).add(field, v);
    }

    /// Sum of counter `field` over the buckets within the window ending at `now`.
    #[inline]
    pub(crate) fn sum(&self, now: u64, field: usize) -> u64 {
        let Some(_) = self.buckets.first().and_then(|b| b.counts.get(field)) else {
            return 0;
        };
        let mut total = 0;
        for b in self.buckets.iter() {
            let start = b.start.load(Ordering::Acquire);
            // Skips the markers, later buckets (start > now) and expired ones.
            if now.wrapping_sub(start) < self.interval_nanos {
                total += b.counts[field].load(Ordering::Relaxed);
            }
        }
        total
    }

    /// Counter `field` of the bucket just before the one containing `now`
    /// (0 if that bucket has been reused or never used).
    pub(crate) fn previous(&self, now: u64, field: usize) -> u64 {
        let Some(prev_start) = self.bucket_start(now).checked_sub(self.bucket_nanos) else {
            return 0;
        };
        let idx = ((prev_start / self.bucket_nanos) % self.buckets.len() as u64) as usize;
        let b = &self.buckets[idx];
        if b.start.load(Ordering::Acquire) != prev_start {
            return 0;
        }
        b.counts.get(field).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Clears every bucket.
    pub(crate) fn reset(&self) {
        for b in self.buckets.iter() {
            b.start.store(NEVER, Ordering::Release);
            for c in &b.counts {
                c.store(0, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn sums_only_the_last_interval() {
        let w: Window<1> = Window::new(10, 1000 * MS);
        w.add(0, 0, 5);
        w.add(150 * MS, 0, 3);
        assert_eq!(w.sum(150 * MS, 0), 8);
        assert_eq!(w.sum(999 * MS, 0), 8);
        assert_eq!(w.sum(1000 * MS, 0), 3);
        assert_eq!(w.sum(1100 * MS, 0), 0);
        // The ring slot of bucket 0 is reused a second later and starts at 0.
        w.add(1000 * MS, 0, 1);
        assert_eq!(w.sum(1000 * MS, 0), 4);
    }

    #[test]
    fn previous_bucket() {
        let w: Window<1> = Window::new(2, 2000 * MS);
        w.add(500 * MS, 0, 7);
        assert_eq!(w.previous(1500 * MS, 0), 7);
        assert_eq!(w.previous(2500 * MS, 0), 0);
        assert_eq!(w.previous(100 * MS, 0), 0);
    }
}
