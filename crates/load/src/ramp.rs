//! Time-varying arrival rates: a piecewise-linear rate profile (stages
//! ramp linearly; a fixed rate or a search step is a flat piece) and the
//! intended arrival offsets it implies.
//!
//! Arrivals of a varying rate `λ(t)` come from a unit-rate process (evenly
//! spaced `u_k = k`, or Poisson with mean gap 1) mapped through the inverse
//! of the cumulative rate `Λ(t) = ∫₀ᵗ λ`: arrival `k` is at `Λ⁻¹(u_k)`.
//! Within a piece from rate `r0` to `r1` over `T` seconds, `Λ` grows by
//! `r0·τ + (r1 − r0)/(2T)·τ²` after `τ` seconds, and the inverse is the
//! root `τ = 2A / (r0 + √(r0² + 2A(r1 − r0)/T))` (stable for ramps up,
//! down and flat).

use std::time::Duration;

use crate::arrivals::{Arrivals, Schedule};

/// One linear piece: the rate goes from `from` to `to` (per second) over
/// `seconds`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Piece {
    pub seconds: f64,
    pub from: f64,
    pub to: f64,
}

impl Piece {
    /// Arrivals during the whole piece: `(from + to) / 2 × seconds`.
    fn area(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.seconds
    }

    /// Seconds into the piece at which the cumulative rate reaches `a`
    /// (`0 ≤ a ≤ area`).
    fn time_for(&self, a: f64) -> f64 {
        if a <= 0.0 {
            return 0.0;
        }
        let slope = (self.to - self.from) / self.seconds;
        let disc = (self.from * self.from + 2.0 * slope * a).max(0.0);
        let denom = self.from + disc.sqrt();
        if denom <= 0.0 {
            return self.seconds;
        }
        (2.0 * a / denom).min(self.seconds)
    }

    /// Rate at `tau` seconds into the piece.
    fn rate_at(&self, tau: f64) -> f64 {
        self.from + (self.to - self.from) * (tau / self.seconds).clamp(0.0, 1.0)
    }
}

/// A rate profile: pieces back to back from offset 0.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Profile {
    pub pieces: Vec<Piece>,
}

impl Profile {
    /// A flat rate for `seconds`.
    pub(crate) fn flat(rate: f64, seconds: f64) -> Self {
        Self {
            pieces: vec![Piece {
                seconds,
                from: rate,
                to: rate,
            }],
        }
    }

    /// Linear ramps from 0 through each `(rate at the end, seconds)`.
    pub(crate) fn stages(stages: &[(f64, f64)]) -> Self {
        let mut from = 0.0;
        let pieces = stages
            .iter()
            .map(|&(to, seconds)| {
                let p = Piece { seconds, from, to };
                from = to;
                p
            })
            .collect();
        Self { pieces }
    }

    /// Total length in seconds.
    pub(crate) fn seconds(&self) -> f64 {
        self.pieces.iter().map(|p| p.seconds).sum()
    }

    /// Expected arrivals over the whole profile.
    #[cfg(test)]
    pub(crate) fn area(&self) -> f64 {
        self.pieces.iter().map(Piece::area).sum()
    }

    /// The intended rate at `t` seconds (0 past the end).
    pub(crate) fn rate_at(&self, t: f64) -> f64 {
        let mut start = 0.0;
        for p in &self.pieces {
            if t < start + p.seconds {
                return p.rate_at(t - start);
            }
            start += p.seconds;
        }
        0.0
    }

    /// Intended arrival offsets, in order, until the end of the profile.
    pub(crate) fn arrivals(&self, arrivals: Arrivals) -> ProfileArrivals {
        ProfileArrivals {
            pieces: self.pieces.clone(),
            unit: Schedule::new(1.0, arrivals),
            index: 0,
            piece_start_s: 0.0,
            area_before: 0.0,
        }
    }
}

/// Iterator over intended offsets of a [`Profile`].
#[derive(Debug, Clone)]
pub(crate) struct ProfileArrivals {
    pieces: Vec<Piece>,
    unit: Schedule,
    index: usize,
    piece_start_s: f64,
    area_before: f64,
}

impl Iterator for ProfileArrivals {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let u = self.unit.next()?.as_secs_f64();
        // Bounded: the index only moves forward over the pieces.
        while let Some(piece) = self.pieces.get(self.index) {
            let area = piece.area();
            if u < self.area_before + area {
                let t = self.piece_start_s + piece.time_for(u - self.area_before);
                return Duration::try_from_secs_f64(t).ok();
            }
            self.area_before += area;
            self.piece_start_s += piece.seconds;
            self.index += 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn flat_profile_is_evenly_spaced() {
        let offsets: Vec<u128> = Profile::flat(4.0, 1.0)
            .arrivals(Arrivals::Constant)
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(offsets, [0, 250, 500, 750]);
    }

    #[test]
    fn ramp_from_zero_follows_the_square_root() {
        // 0 → 100/s over 10 s: Λ(t) = 5 t², so arrival k is at √(k / 5).
        let p = Profile::stages(&[(100.0, 10.0)]);
        let offsets: Vec<f64> = p
            .arrivals(Arrivals::Constant)
            .map(|d| d.as_secs_f64())
            .collect();
        assert_eq!(offsets.len(), 500);
        for (k, t) in offsets.iter().enumerate() {
            let expected = (k as f64 / 5.0).sqrt();
            assert!((t - expected).abs() < 1e-6, "k {k}: {t} vs {expected}");
        }
        assert!((p.rate_at(5.0) - 50.0).abs() < 1e-9);
        assert_eq!(p.rate_at(11.0), 0.0);
    }

    proptest! {
        /// Any stages: the count of arrivals is the area under the rate,
        /// offsets increase, and the arrivals in each piece match its area.
        #[test]
        fn arrivals_follow_the_area(stages in prop::collection::vec((0.0f64..300.0, 0.5f64..5.0), 1..5)) {
            let p = Profile::stages(&stages);
            let offsets: Vec<f64> = p.arrivals(Arrivals::Constant).map(|d| d.as_secs_f64()).collect();
            prop_assert!(offsets.windows(2).all(|w| w[0] <= w[1] + 1e-12));
            prop_assert!((offsets.len() as f64 - p.area()).abs() <= 1.0 + 1e-6);
            let mut start = 0.0;
            let mut before = 0.0;
            for piece in &p.pieces {
                let end = start + piece.seconds;
                let n = offsets.iter().filter(|&&t| t >= start && t < end).count() as f64;
                // Each piece's count is within one of its area.
                let expected = piece.area();
                prop_assert!((n - expected).abs() <= 2.0, "piece {piece:?}: {n} vs {expected}");
                before += expected;
                start = end;
            }
            prop_assert!((before - p.area()).abs() < 1e-6);
            prop_assert!(offsets.iter().all(|&t| t <= p.seconds() + 1e-9));
        }
    }
}
