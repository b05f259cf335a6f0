//! Numbers to pixels and to labels: the linear [`Scale`], "nice" axis
//! ticks, and the short number formats of axes and tables. Every
//! coordinate of a chart passes through [`fin`], so whatever a run document
//! holds, the SVG never contains `NaN` or `inf`.

/// A finite value: `v`, or 0 for NaN and ±∞.
pub fn fin(v: f64) -> f64 {
    if v.is_finite() { v } else { 0.0 }
}

/// A linear map from a data domain onto a pixel range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Scale {
    /// Map `[d0, d1]` onto `[r0, r1]`. A non-finite or empty domain maps
    /// everything to the middle of the range.
    pub fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Scale {
        Scale {
            d0: fin(d0),
            d1: fin(d1),
            r0: fin(r0),
            r1: fin(r1),
        }
    }

    /// The pixel position of `v` (finite; values outside the domain are
    /// extrapolated, then clamped to the range).
    pub fn map(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        let (lo, hi) = if self.r0 <= self.r1 {
            (self.r0, self.r1)
        } else {
            (self.r1, self.r0)
        };
        if !(span.is_finite() && span.abs() > f64::EPSILON * self.d0.abs().max(1.0)) {
            return (self.r0 + self.r1) / 2.0;
        }
        let t = (fin(v) - self.d0) / span;
        fin(self.r0 + t * (self.r1 - self.r0)).clamp(lo, hi)
    }
}

/// "Nice" tick values (steps of 1, 2 or 5 × 10ⁿ) covering `[lo, hi]`,
/// about `target` of them (at most `2 × target + 2`), ascending. The first
/// tick is ≤ `lo` and the last ≥ `hi`, so they also give the axis bounds.
/// Non-finite input is treated as 0; an empty range gets a unit around it.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let (mut lo, mut hi) = (fin(lo), fin(hi));
    if lo > hi {
        std::mem::swap(&mut lo, &mut hi);
    }
    if hi - lo < 1e-9 * lo.abs().max(1.0) {
        let orig = lo;
        let pad = (lo.abs() * 0.1).max(1.0);
        lo -= pad;
        hi += pad;
        if orig >= 0.0 && lo < 0.0 {
            lo = 0.0;
        }
    }
    let target = target.clamp(1, 20) as f64;
    let raw = (hi - lo) / target;
    // step = m × 10^e with m in {1, 2, 5, 10}; ticks are n × m × 10^e for
    // whole n, computed so that decimals come out exact (0.6, not 0.6000…1).
    let e = raw.log10().floor();
    if !e.is_finite() {
        return vec![lo, hi];
    }
    let e = e as i32;
    let pow = 10f64.powi(e.abs());
    let at = |n: f64, m: f64| if e < 0 { n * m / pow } else { n * m * pow };
    // The step whose interval count is nearest the target (never above
    // twice it; 10 × 10^e ≥ raw always qualifies).
    let span = hi - lo;
    let m = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .filter(|m| span / at(1.0, *m) <= 2.0 * target)
        .min_by(|a, b| {
            let off = |m: f64| (span / at(1.0, m) - target).abs();
            off(*a).total_cmp(&off(*b))
        })
        .unwrap_or(10.0);
    let step = at(1.0, m);
    if !(step.is_finite() && step > 0.0) {
        return vec![lo, hi];
    }
    let first = (lo / step).floor();
    let mut ticks = Vec::new();
    let limit = 2 * target as usize + 2;
    for k in 0..limit {
        let t = at(first + k as f64, m);
        ticks.push(if t == 0.0 { 0.0 } else { t });
        if t >= hi - step * 1e-9 {
            break;
        }
    }
    if ticks.len() < 2 {
        ticks.push(at(first + 1.0, m));
    }
    ticks
}

/// A number for an axis or a table: `12`, `1.5`, `0.25`, `12.3k`, `4.1M`.
pub fn fmt_num(v: f64) -> String {
    let v = fin(v);
    let a = v.abs();
    let (x, suffix) = if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = if x.fract().abs() < 1e-9 || x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else if x.abs() >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    };
    format!("{}{suffix}", trim_zeros(s))
}

/// `0.100` → `0.1`, `2.50` → `2.5`, `3.0` → `3`: no trailing zeros after
/// the point.
fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10^k at or above `x` (an axis top).
pub fn nice_top(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(x.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&v| v >= x * (1.0 - 1e-12))
        .unwrap_or(10.0 * magnitude)
}

/// A number for people: integers without decimals, others to 3
/// significant figures, `—` when not finite.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return "—".to_owned();
    }
    if (x - x.round()).abs() < 1e-9 && x.abs() < 1e15 {
        return format!("{}", x.round() as i64);
    }
    let digits = if x.abs() >= 100.0 {
        0
    } else if x.abs() >= 10.0 {
        1
    } else if x.abs() >= 1.0 {
        2
    } else {
        3
    };
    trim_zeros(format!("{x:.digits$}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    #[test]
    fn scale_maps_ends_and_middle() {
        let s = Scale::new(0.0, 100.0, 10.0, 210.0);
        assert_eq!(s.map(0.0), 10.0);
        assert_eq!(s.map(100.0), 210.0);
        assert_eq!(s.map(50.0), 110.0);
        // Inverted range (SVG y grows downwards).
        let y = Scale::new(0.0, 10.0, 200.0, 0.0);
        assert_eq!(y.map(10.0), 0.0);
        assert_eq!(y.map(2.5), 150.0);
        // Clamped outside, middle for an empty domain, finite for NaN.
        assert_eq!(y.map(20.0), 0.0);
        assert_eq!(Scale::new(5.0, 5.0, 0.0, 100.0).map(5.0), 50.0);
        assert!(
            Scale::new(f64::NAN, 1.0, 0.0, 1.0)
                .map(f64::NAN)
                .is_finite()
        );
    }

    #[test]
    fn ticks_are_nice_and_cover_the_range() {
        assert_eq!(
            nice_ticks(0.0, 100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(
            nice_ticks(3.0, 97.0, 4),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(
            nice_ticks(0.0, 5400.0, 5),
            vec![0.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0, 6000.0]
        );
        let t = nice_ticks(7.0, 7.0, 5);
        assert!(t[0] <= 7.0 && *t.last().expect("ticks") >= 7.0 && t.len() >= 2);
    }

    #[test]
    fn ticks_hold_for_any_input() {
        let mut rng = Rng(0x5EA_0A11);
        for _ in 0..5000 {
            let (a, b) = (rng.wild(), rng.wild());
            let target = (rng.next() % 12) as usize;
            let t = nice_ticks(a, b, target);
            assert!(t.len() >= 2, "{a} {b} {target}: {t:?}");
            assert!(t.len() <= 2 * target.clamp(1, 20) + 3, "{a} {b}: {t:?}");
            assert!(t.iter().all(|v| v.is_finite()), "{a} {b}: {t:?}");
            assert!(t.windows(2).all(|w| w[0] < w[1]), "{a} {b}: {t:?}");
            let (lo, hi) = (fin(a).min(fin(b)), fin(a).max(fin(b)));
            // Covering holds where steps are representable.
            if (hi - lo).abs() < 1e15 && hi.abs() < 1e15 && lo.abs() < 1e15 {
                assert!(t[0] <= lo + 1e-9 * lo.abs().max(1.0), "{lo} {hi}: {t:?}");
                let last = t[t.len() - 1];
                assert!(last >= hi - 1e-9 * hi.abs().max(1.0), "{lo} {hi}: {t:?}");
            }
        }
    }

    #[test]
    fn numbers_read_short() {
        assert_eq!(fmt_num(12.0), "12");
        assert_eq!(fmt_num(1.5), "1.5");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(5400.0), "5400");
        assert_eq!(fmt_num(12_300.0), "12.3k");
        assert_eq!(fmt_num(4_100_000.0), "4.1M");
        assert_eq!(fmt_num(f64::NAN), "0");
    }

    #[test]
    fn nice_axis_tops() {
        assert_eq!(nice_top(0.7), 1.0);
        assert_eq!(nice_top(1.0), 1.0);
        assert_eq!(nice_top(1.1), 2.0);
        assert_eq!(nice_top(2.2), 2.5);
        assert_eq!(nice_top(3.0), 5.0);
        assert_eq!(nice_top(2001.0), 2500.0);
        assert_eq!(nice_top(f64::NAN), 1.0);
        assert_eq!(nice_top(0.0), 1.0);
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(number(2000.0), "2000");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(0.1), "0.1");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(f64::INFINITY), "—");
    }
}
