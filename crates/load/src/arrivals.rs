//! Intended arrival times of the open model.
//!
//! A [`Schedule`] yields the offsets from the start of the run at which
//! requests are *meant* to be sent. The scheduler never moves an arrival:
//! it sends it late (and the lateness counts as latency) or drops it.

use std::time::Duration;

/// How arrivals are spaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly spaced: arrival `k` at `k / rate` seconds.
    #[default]
    Constant,
    /// A Poisson process: exponentially distributed gaps with mean
    /// `1 / rate`, from a deterministic generator seeded by `seed`.
    Poisson {
        /// Seed of the pseudo-random generator (same seed, same arrivals).
        seed: u64,
    },
}

/// Offsets of intended arrivals, strictly increasing.
#[derive(Debug, Clone)]
pub struct Schedule {
    rate: f64,
    arrivals: Arrivals,
    index: u64,
    offset_s: f64,
    rng: XorShift,
}

impl Schedule {
    /// A schedule of `rate` arrivals per second; `rate` must be positive
    /// and finite (the caller validates it).
    pub fn new(rate: f64, arrivals: Arrivals) -> Self {
        let seed = match arrivals {
            Arrivals::Constant => 0,
            Arrivals::Poisson { seed } => seed,
        };
        Self {
            rate,
            arrivals,
            index: 0,
            offset_s: 0.0,
            rng: XorShift::new(seed),
        }
    }
}

impl Iterator for Schedule {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let offset = match self.arrivals {
            // Multiplying (not accumulating) keeps constant spacing free of
            // rounding drift over millions of arrivals.
            Arrivals::Constant => self.index as f64 / self.rate,
            Arrivals::Poisson { .. } => {
                let now = self.offset_s;
                self.offset_s += self.rng.exponential() / self.rate;
                now
            }
        };
        self.index = self.index.saturating_add(1);
        Duration::try_from_secs_f64(offset).ok()
    }
}

/// xorshift64*: a tiny, fast, deterministic generator; plenty for spacing
/// arrivals (not for cryptography).
#[derive(Debug, Clone)]
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // The state must never be zero; mix the seed so small seeds differ.
        Self((seed ^ 0x9E37_79B9_7F4A_7C15).max(1))
    }

    fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Exponential with mean 1.
    fn exponential(&mut self) -> f64 {
        -(1.0 - self.uniform()).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_spacing_is_exact() {
        let offsets: Vec<_> = Schedule::new(4.0, Arrivals::Constant).take(5).collect();
        let ms: Vec<u128> = offsets.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 250, 500, 750, 1000]);
    }

    #[test]
    fn poisson_has_the_right_mean_and_is_deterministic() {
        let rate = 1000.0;
        let n = 100_000;
        let a: Vec<_> = Schedule::new(rate, Arrivals::Poisson { seed: 7 })
            .take(n)
            .collect();
        let b: Vec<_> = Schedule::new(rate, Arrivals::Poisson { seed: 7 })
            .take(n)
            .collect();
        assert_eq!(a, b);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        let last = a.last().expect("arrivals").as_secs_f64();
        let achieved = (n - 1) as f64 / last;
        assert!(
            (achieved - rate).abs() / rate < 0.02,
            "achieved {achieved} for {rate}"
        );
    }

    #[test]
    fn uniform_stays_in_range() {
        let mut rng = XorShift::new(0);
        for _ in 0..10_000 {
            let u = rng.uniform();
            assert!((0.0..1.0).contains(&u));
        }
    }
}
