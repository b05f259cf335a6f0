//! A tiny seeded generator (SplitMix64): one independent stream per
//! request, keyed by the seed, the node and the request's arrival number at
//! that node, so the same seed and the same request sequence give the same
//! draws however the runtime schedules tasks.

/// SplitMix64 state.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// The stream of the `n`-th request at `node` under `seed`.
    pub fn new(seed: u64, node: usize, n: u64) -> Self {
        let mut r = Rng(seed
            ^ (node as u64)
                .wrapping_add(1)
                .wrapping_mul(0xA24B_AED4_963E_E407));
        r.0 ^= r.next_u64() ^ n.wrapping_mul(0x9FB2_1C65_1E98_DF25);
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|n| Rng::new(7, 1, n).next_u64()).collect();
        let b: Vec<u64> = (0..4).map(|n| Rng::new(7, 1, n).next_u64()).collect();
        assert_eq!(a, b);
        assert_ne!(Rng::new(7, 1, 0).next_u64(), Rng::new(8, 1, 0).next_u64());
        assert_ne!(Rng::new(7, 1, 0).next_u64(), Rng::new(7, 2, 0).next_u64());
        assert_ne!(a[0], a[1]);
    }

    #[test]
    fn uniform_draws_cover_the_unit_interval() {
        let draws: Vec<f64> = (0..10_000).map(|n| Rng::new(1, 0, n).next_f64()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "mean {mean}");
        let below = draws.iter().filter(|&&u| u < 0.1).count();
        assert!((800..1200).contains(&below), "{below} of 10,000 below 0.1");
    }
}
