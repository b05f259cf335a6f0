//! Capacity search as a pure state machine: which rate multiple to run
//! next, given whether the previous step held every entry's SLO and
//! whether the generator, not the system, was the limit during it.
//!
//! 1. **Step up** from `start` while every judged entry holds its SLO:
//!    the k-th step up adds `step · 2^(k−1)` (`start + step`,
//!    `start + 3·step`, `start + 7·step`, …), never more than doubling the
//!    previous multiple, the last one capped at `max`,
//!    so a knee several times above `start` is reached in a handful of
//!    steps while one near `start` is bracketed as tightly as by fixed
//!    increments. When `start` itself breaks, **step down** the same way
//!    (`start − step`, `start − 3·step`, …), never by more than half the
//!    previous multiple, at most [`MAX_DOWN`] times: a start ten times too
//!    high still finds a multiple that holds.
//! 2. **Bisect** between the last good and the first bad multiple until
//!    they are within [`PRECISION`] of each other (at most [`MAX_BISECT`]
//!    steps). Every bracket the steps leave spans at most a factor of two
//!    (no step more than doubles or halves the multiple), so [`MAX_BISECT`]
//!    bisections always reach [`PRECISION`] (`1/2^6 < 2 %`).
//! 3. **Hold** the best good multiple for the hold time. If it breaks, the
//!    next lower good multiple is held instead (at most [`MAX_HOLDS`]
//!    holds in all).
//!
//! A step during which the generator was the limit (it dropped arrivals
//! it could not carry, fell behind its schedule, or ran out of CPU; see
//! `crate::generator`) and broke says nothing about the system: when the
//! lowest multiple that broke was such a step, the verdict is a **lower
//! bound** (`generator_bound`), never a knee.
//!
//! The number of steps is bounded: at most [`MAX_UP`] step-ups (fewer:
//! `⌈log2((max − start) / step + 1)⌉ + ⌈log2(max / start)⌉`), [`MAX_DOWN`] step-downs,
//! [`MAX_BISECT`] bisections and [`MAX_HOLDS`] holds.

/// Bisection stops when `(bad − good) / bad` is at most this.
pub(crate) const PRECISION: f64 = 0.02;
/// Most bisection steps.
pub(crate) const MAX_BISECT: usize = 6;
/// Most hold steps.
pub(crate) const MAX_HOLDS: usize = 2;
/// Most steps down from a `start` that broke (from ×0.8 by 0.1, the last
/// one is ×0.0078: a hundredth of the start).
pub(crate) const MAX_DOWN: usize = 8;
/// Most steps up from `start` (a safety bound; `max` usually ends them
/// sooner).
pub(crate) const MAX_UP: usize = 16;

/// What a step is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Step,
    Bisect,
    Hold,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Step => "step",
            Kind::Bisect => "bisect",
            Kind::Hold => "hold",
        }
    }
}

/// The next step to run, or the verdict.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Next {
    Run { kind: Kind, multiple: f64 },
    Done(Verdict),
}

/// How the search ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    /// Highest multiple that held (confirmed or not). When
    /// `generator_bound`, a lower bound of the knee, not the knee.
    pub knee: Option<f64>,
    /// Lowest multiple that broke.
    pub broken: Option<f64>,
    /// Whether the knee held through a hold step.
    pub confirmed: bool,
    /// Whether the lowest multiple that broke was a step the generator
    /// limited: the system's knee is somewhere above `knee`, unmeasured.
    pub generator_bound: bool,
    /// For people.
    pub stopped: String,
}

/// The search's state.
#[derive(Debug, Clone)]
pub(crate) struct Search {
    start: f64,
    step: f64,
    max: f64,
    /// Multiples that held, any kind.
    good: Vec<f64>,
    /// Lowest multiple that broke, and whether the generator limited that step.
    bad: Option<(f64, bool)>,
    bisects: usize,
    holds: usize,
    downs: usize,
    ups: usize,
    current: Option<(Kind, f64)>,
}

impl Search {
    /// `start`, `step`, `max` are validated by the caller (positive,
    /// finite, `start ≤ max`).
    pub(crate) fn new(start: f64, step: f64, max: f64) -> Self {
        Self {
            start,
            step,
            max,
            good: Vec::new(),
            bad: None,
            bisects: 0,
            holds: 0,
            downs: 0,
            ups: 0,
            current: None,
        }
    }

    fn best_good(&self) -> Option<f64> {
        self.good.iter().copied().fold(None, |m, g| match m {
            Some(m) if m >= g => Some(m),
            _ => Some(g),
        })
    }

    fn bad(&self) -> Option<f64> {
        self.bad.map(|(b, _)| b)
    }

    fn run(&mut self, kind: Kind, multiple: f64) -> Next {
        self.current = Some((kind, multiple));
        Next::Run { kind, multiple }
    }

    /// The first step.
    pub(crate) fn first(&mut self) -> Next {
        self.run(Kind::Step, self.start)
    }

    /// Record whether the step just run held (the generator keeping up),
    /// and choose the next one.
    #[cfg(test)]
    pub(crate) fn next(&mut self, held: bool) -> Next {
        self.next_step(held, false)
    }

    /// Record whether the step just run held and whether the generator
    /// was the limit during it, and choose the next one.
    pub(crate) fn next_step(&mut self, held: bool, generator_bound: bool) -> Next {
        let Some((kind, multiple)) = self.current.take() else {
            return self.first();
        };
        if held {
            self.good.push(multiple);
        } else {
            if self.bad().is_none_or(|b| multiple < b) {
                self.bad = Some((multiple, generator_bound));
            }
            // A multiple above a failed one is no longer trusted as good.
            self.good.retain(|&g| g < multiple);
        }
        match kind {
            // A step down that held: the knee lies between it and the
            // broken one above.
            Kind::Step if held && self.bad.is_some() => self.narrow(),
            Kind::Step if held => {
                let up = (multiple + self.step * 2f64.powi(self.ups as i32))
                    .min(2.0 * multiple)
                    .min(self.max);
                if multiple < self.max * (1.0 - 1e-9) && self.ups < MAX_UP {
                    self.ups += 1;
                    self.run(Kind::Step, up)
                } else {
                    Next::Done(Verdict {
                        knee: Some(multiple),
                        broken: None,
                        confirmed: false,
                        generator_bound: false,
                        stopped: format!(
                            "every entry held up to ×{}, the search's highest multiple; the knee is above it",
                            round(multiple)
                        ),
                    })
                }
            }
            Kind::Step if self.good.is_empty() && self.downs < MAX_DOWN => {
                let down =
                    (multiple - self.step * 2f64.powi(self.downs as i32)).max(multiple / 2.0);
                if down > 0.0 {
                    self.downs += 1;
                    self.run(Kind::Step, down)
                } else {
                    self.narrow()
                }
            }
            Kind::Step | Kind::Bisect => self.narrow(),
            Kind::Hold if held => {
                let generator_bound = self.bad.is_some_and(|(_, g)| g);
                Next::Done(Verdict {
                    knee: Some(multiple),
                    broken: self.bad(),
                    confirmed: true,
                    generator_bound,
                    stopped: if generator_bound {
                        format!(
                            "held ×{} for the hold time; the generator was the limit at ×{}, so the knee is at least ×{}",
                            round(multiple),
                            round(self.bad().unwrap_or(multiple)),
                            round(multiple)
                        )
                    } else {
                        format!("held ×{} for the hold time", round(multiple))
                    },
                })
            }
            Kind::Hold => self.hold_or_give_up(),
        }
    }

    /// Bisect while the gap is wide, then hold.
    fn narrow(&mut self) -> Next {
        let (Some(good), Some(bad)) = (self.best_good(), self.bad()) else {
            let generator_bound = self.bad.is_some_and(|(_, g)| g);
            return Next::Done(Verdict {
                knee: None,
                broken: self.bad(),
                confirmed: false,
                generator_bound,
                stopped: if generator_bound {
                    format!(
                        "the generator was the limit down to ×{}: no multiple from ×{} down was measured; drive the search from more or faster generators",
                        round(self.bad().unwrap_or(self.start)),
                        round(self.start),
                    )
                } else {
                    format!(
                        "an SLO broke at every multiple from ×{} down to ×{}; lower search.start",
                        round(self.start),
                        round(self.bad().unwrap_or(self.start))
                    )
                },
            });
        };
        if (bad - good) / bad > PRECISION && self.bisects < MAX_BISECT {
            self.bisects += 1;
            return self.run(Kind::Bisect, (good + bad) / 2.0);
        }
        self.hold_or_give_up()
    }

    fn hold_or_give_up(&mut self) -> Next {
        match self.best_good() {
            Some(good) if self.holds < MAX_HOLDS => {
                self.holds += 1;
                self.run(Kind::Hold, good)
            }
            knee => {
                let generator_bound = self.bad.is_some_and(|(_, g)| g);
                Next::Done(Verdict {
                    knee,
                    broken: self.bad(),
                    confirmed: false,
                    generator_bound,
                    stopped: if generator_bound {
                        "no good multiple held for the hold time; the generator was the limit at the lowest multiple that broke".to_owned()
                    } else {
                        "no good multiple held for the hold time".to_owned()
                    },
                })
            }
        }
    }
}

/// Round to 4 significant decimals for messages.
fn round(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Run a search against a system whose knee is `knee` (multiples at or
    /// below it hold); return the verdict and the number of steps.
    fn against(knee: f64, start: f64, step: f64, max: f64) -> (Verdict, usize) {
        against_model(start, step, max, |m| (m <= knee, false))
    }

    /// Run a search against a model: `model(multiple)` is whether the step
    /// held and whether the generator was the limit during it.
    fn against_model(
        start: f64,
        step: f64,
        max: f64,
        model: impl Fn(f64) -> (bool, bool),
    ) -> (Verdict, usize) {
        let mut s = Search::new(start, step, max);
        let mut next = s.first();
        let mut steps = 0;
        loop {
            match next {
                Next::Run { multiple, .. } => {
                    steps += 1;
                    assert!(steps < 100, "unbounded search");
                    let (held, generator_bound) = model(multiple);
                    next = s.next_step(held, generator_bound);
                }
                Next::Done(v) => return (v, steps),
            }
        }
    }

    /// Most steps a search can take.
    fn bound(start: f64, step: f64, max: f64) -> usize {
        let ups = ((max - start) / step + 1.0).log2().ceil().max(0.0) as usize
            + (max / start).log2().ceil().max(0.0) as usize;
        ups.min(MAX_UP) + 1 + MAX_DOWN + MAX_BISECT + MAX_HOLDS
    }

    #[test]
    fn steps_bisects_and_holds() {
        let (v, steps) = against(1.3, 0.5, 0.25, 3.0);
        let knee = v.knee.expect("knee");
        assert!(v.confirmed);
        assert!((1.3 * (1.0 - PRECISION)..=1.3).contains(&knee), "{knee}");
        assert!(v.broken.expect("broken") > 1.3);
        // 0.5, 0.75, 1.25, 2.25 (broke), bisections, 1 hold
        assert!(steps <= 4 + MAX_BISECT + 1, "{steps}");
    }

    #[test]
    fn breaking_at_start_and_holding_to_max() {
        // 0.5 and 0.25 break, 0.125 too, 0.0625 holds: found below a
        // fifth of the start.
        let (v, steps) = against(0.1, 0.5, 0.25, 3.0);
        let knee = v.knee.expect("knee");
        assert!((0.1 * (1.0 - PRECISION)..=0.1).contains(&knee), "{knee}");
        assert!(v.confirmed && !v.generator_bound);
        assert!(steps <= 4 + MAX_BISECT + 1, "{steps}");
        // 0.5, 1.0, 2.0 (the max): held to the end.
        let (v, steps) = against(10.0, 0.5, 0.5, 2.0);
        assert_eq!(v.knee, Some(2.0));
        assert_eq!(v.broken, None);
        assert_eq!(steps, 3);
        assert!(v.stopped.contains("up to ×2,"), "{}", v.stopped);
    }

    #[test]
    fn a_start_above_the_knee_steps_down_then_bisects() {
        let (v, steps) = against(0.4, 0.5, 0.25, 3.0);
        let knee = v.knee.expect("knee");
        assert!(v.confirmed);
        assert!((0.4 * (1.0 - PRECISION)..=0.4).contains(&knee), "{knee}");
        assert!(v.broken.expect("broken") > 0.4);
        // 0.5 (broke), 0.25 (held), bisections, 1 hold
        assert!(steps <= 2 + MAX_BISECT + 1, "{steps}");
        // At most MAX_DOWN steps down.
        let (v, steps) = against(0.001, 1.0, 0.1, 3.0);
        assert_eq!(v.knee, None);
        assert_eq!(steps, 1 + MAX_DOWN);
        assert!(!v.generator_bound);
        assert!(v.stopped.contains("lower search.start"), "{}", v.stopped);
    }

    #[test]
    fn a_failed_hold_falls_back_to_a_lower_good_multiple() {
        let mut s = Search::new(1.0, 1.0, 3.0);
        assert_eq!(
            s.first(),
            Next::Run {
                kind: Kind::Step,
                multiple: 1.0
            }
        );
        assert!(matches!(
            s.next(true),
            Next::Run {
                kind: Kind::Step,
                ..
            }
        )); // 2.0
        // 2.0 breaks: bisect 1.5
        assert!(
            matches!(s.next(false), Next::Run { kind: Kind::Bisect, multiple } if (multiple - 1.5).abs() < 1e-9)
        );
        let mut next = s.next(true); // 1.5 held
        // keep bisecting (all hold) until the hold
        while let Next::Run {
            kind: Kind::Bisect, ..
        } = next
        {
            next = s.next(true);
        }
        let Next::Run {
            kind: Kind::Hold,
            multiple: first_hold,
        } = next
        else {
            panic!("expected a hold, got {next:?}");
        };
        // the hold fails: the next hold is lower
        let Next::Run {
            kind: Kind::Hold,
            multiple: second,
        } = s.next(false)
        else {
            panic!("expected a second hold");
        };
        assert!(second < first_hold);
        // a second failure ends the search unconfirmed
        let Next::Done(v) = s.next(false) else {
            panic!("expected the end");
        };
        assert!(!v.confirmed);
    }

    /// `seawall demo`'s search around a declared capacity (multiples of
    /// it: from ×0.8 by 0.1), with room up to ×5.
    const DEMO: (f64, f64, f64) = (0.8, 0.1, 5.0);

    #[test]
    fn a_declared_capacity_three_times_or_a_third_of_the_truth_finds_the_knee() {
        let (start, step, max) = DEMO;
        // Declared 3× the truth: the knee is at ×1/3 of the declared capacity.
        // Declared a third of the truth: at ×3.
        for truth in [1.0 / 3.0, 3.0] {
            let (v, steps) = against(truth, start, step, max);
            let knee = v.knee.expect("knee");
            assert!(
                (knee - truth).abs() / truth <= 0.05,
                "truth ×{truth}: knee ×{knee}"
            );
            assert!(v.confirmed && !v.generator_bound, "{v:?}");
            assert!(steps <= 14, "truth ×{truth}: {steps} steps");
        }
    }

    #[test]
    fn a_generator_limit_below_the_knee_is_a_lower_bound() {
        // The system holds up to ×2; the generator cannot drive above ×1.2
        // (those steps break, generator-bound).
        let (v, _) = against_model(0.8, 0.1, 5.0, |m| {
            if m > 1.2 {
                (false, true)
            } else {
                (m <= 2.0, false)
            }
        });
        assert!(v.generator_bound, "{v:?}");
        let knee = v.knee.expect("lower bound");
        assert!((1.2 * (1.0 - PRECISION)..=1.2).contains(&knee), "{knee}");
        assert!(v.stopped.contains("at least ×"), "{}", v.stopped);
        // The generator cannot even drive the lowest step.
        let (v, steps) = against_model(0.8, 0.1, 5.0, |_| (false, true));
        assert!(v.generator_bound && v.knee.is_none(), "{v:?}");
        assert_eq!(steps, 1 + MAX_DOWN);
        assert!(
            v.stopped.contains("generator was the limit"),
            "{}",
            v.stopped
        );
        // A generator limit above the system's knee changes nothing.
        let (v, _) = against_model(0.8, 0.1, 5.0, |m| {
            if m > 3.0 {
                (false, true)
            } else {
                (m <= 1.5, false)
            }
        });
        assert!(!v.generator_bound, "{v:?}");
        let knee = v.knee.expect("knee");
        assert!((1.5 * (1.0 - PRECISION)..=1.5).contains(&knee), "{knee}");
    }

    proptest! {
        #[test]
        fn search_is_bounded_and_brackets_the_knee(
            knee in 0.05f64..5.0, start in 0.1f64..1.0, step in 0.05f64..1.0, extra in 0.0f64..4.0,
        ) {
            let max = start + extra;
            let (v, steps) = against(knee, start, step, max);
            let bound = bound(start, step, max);
            prop_assert!(steps <= bound, "{steps} > {bound}");
            if let Some(k) = v.knee {
                prop_assert!(k <= knee + 1e-9);
            }
            if let Some(b) = v.broken {
                prop_assert!(b > knee);
            }
            if let (Some(k), Some(b), true) = (v.knee, v.broken, v.confirmed) {
                // bisection narrowed the gap to the precision
                prop_assert!((b - k) / b <= PRECISION + 1e-9, "×{k} .. ×{b}");
            }
        }

        /// Anywhere from a tenth to several times the declared capacity,
        /// `seawall demo`'s settings find the knee within 5 % (the
        /// bisection's 2 %), confirmed, in a bounded number of steps.
        #[test]
        fn finds_the_knee_from_a_tenth_to_several_times_the_declared_capacity(
            truth in 0.1f64..4.9,
        ) {
            let (start, step, max) = DEMO;
            let (v, steps) = against(truth, start, step, max);
            let knee = v.knee.expect("knee");
            prop_assert!((truth - knee) / truth <= PRECISION + 1e-9, "truth ×{truth}: knee ×{knee}");
            prop_assert!(v.confirmed && !v.generator_bound);
            prop_assert!(steps <= 16, "truth ×{truth}: {steps} steps");
        }

        /// A system that breaks above `truth` driven by a generator that
        /// cannot go above `limit`: below the limit the knee is found;
        /// above it the verdict is a lower bound, never a knee above the
        /// limit.
        #[test]
        fn a_generator_limit_is_never_reported_as_a_knee(
            truth in 0.1f64..4.9, limit in 0.1f64..4.9,
        ) {
            let (start, step, max) = DEMO;
            let (v, steps) = against_model(start, step, max, |m| {
                if m > limit { (false, true) } else { (m <= truth, false) }
            });
            prop_assert!(steps <= bound(start, step, max));
            if truth < limit * (1.0 - PRECISION) - 1e-9 {
                // The bracket's broken end lies within the precision above
                // the truth, below the limit: an honest break.
                prop_assert!(!v.generator_bound, "{v:?}");
                let knee = v.knee.expect("knee");
                prop_assert!((truth - knee) / truth <= PRECISION + 1e-9);
            } else if truth >= limit {
                prop_assert!(v.generator_bound, "{v:?}");
                if let Some(k) = v.knee {
                    prop_assert!(k <= limit + 1e-9);
                }
            }
        }
    }
}
