//! Capacity search as a pure state machine: which rate multiple to run
//! next, given whether the previous step held every entry's SLO.
//!
//! 1. **Step up** from `start` by `step` while every judged entry holds
//!    its SLO, up to `max`. When `start` itself breaks, **step down** by
//!    `step` (at most [`MAX_DOWN`] times, never to 0) until a multiple
//!    holds: a search started a little too high still finds the knee.
//! 2. **Bisect** between the last good and the first bad multiple until
//!    they are within [`PRECISION`] of each other (at most [`MAX_BISECT`]
//!    steps).
//! 3. **Hold** the best good multiple for the hold time. If it breaks, the
//!    next lower good multiple is held instead (at most [`MAX_HOLDS`]
//!    holds in all).
//!
//! The number of steps is bounded: `⌊(max − start) / step⌋ + 1` step-ups,
//! [`MAX_DOWN`] step-downs, [`MAX_BISECT`] bisections and [`MAX_HOLDS`]
//! holds.

/// Bisection stops when `(bad − good) / bad` is at most this.
pub(crate) const PRECISION: f64 = 0.02;
/// Most bisection steps.
pub(crate) const MAX_BISECT: usize = 6;
/// Most hold steps.
pub(crate) const MAX_HOLDS: usize = 2;
/// Most steps down from a `start` that broke.
pub(crate) const MAX_DOWN: usize = 3;

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
    /// Highest multiple that held (confirmed or not).
    pub knee: Option<f64>,
    /// Lowest multiple that broke.
    pub broken: Option<f64>,
    /// Whether the knee held through a hold step.
    pub confirmed: bool,
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
    bad: Option<f64>,
    bisects: usize,
    holds: usize,
    downs: usize,
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
            current: None,
        }
    }

    fn best_good(&self) -> Option<f64> {
        self.good.iter().copied().fold(None, |m, g| match m {
            Some(m) if m >= g => Some(m),
            _ => Some(g),
        })
    }

    fn run(&mut self, kind: Kind, multiple: f64) -> Next {
        self.current = Some((kind, multiple));
        Next::Run { kind, multiple }
    }

    /// The first step.
    pub(crate) fn first(&mut self) -> Next {
        self.run(Kind::Step, self.start)
    }

    /// Record whether the step just run held, and choose the next one.
    pub(crate) fn next(&mut self, held: bool) -> Next {
        let Some((kind, multiple)) = self.current.take() else {
            return self.first();
        };
        if held {
            self.good.push(multiple);
        } else {
            self.bad = Some(self.bad.map_or(multiple, |b: f64| b.min(multiple)));
            // A multiple above a failed one is no longer trusted as good.
            self.good.retain(|&g| g < multiple);
        }
        match kind {
            // A step down that held: the knee lies between it and the
            // broken one above.
            Kind::Step if held && self.bad.is_some() => self.narrow(),
            Kind::Step if held => {
                let up = multiple + self.step;
                if up <= self.max * (1.0 + 1e-9) {
                    self.run(Kind::Step, up)
                } else {
                    Next::Done(Verdict {
                        knee: Some(multiple),
                        broken: None,
                        confirmed: false,
                        stopped: format!(
                            "every entry held up to the search's max ×{}; the knee is above it",
                            round(self.max)
                        ),
                    })
                }
            }
            Kind::Step if self.good.is_empty() && self.downs < MAX_DOWN => {
                let down = multiple - self.step;
                if down > 0.0 {
                    self.downs += 1;
                    self.run(Kind::Step, down)
                } else {
                    self.narrow()
                }
            }
            Kind::Step | Kind::Bisect => self.narrow(),
            Kind::Hold if held => Next::Done(Verdict {
                knee: Some(multiple),
                broken: self.bad,
                confirmed: true,
                stopped: format!("held ×{} for the hold time", round(multiple)),
            }),
            Kind::Hold => self.hold_or_give_up(),
        }
    }

    /// Bisect while the gap is wide, then hold.
    fn narrow(&mut self) -> Next {
        let (Some(good), Some(bad)) = (self.best_good(), self.bad) else {
            return Next::Done(Verdict {
                knee: None,
                broken: self.bad,
                confirmed: false,
                stopped: format!(
                    "an SLO broke at every multiple from ×{} down to ×{}; lower search.start",
                    round(self.start),
                    round(self.bad.unwrap_or(self.start))
                ),
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
            knee => Next::Done(Verdict {
                knee,
                broken: self.bad,
                confirmed: false,
                stopped: "no good multiple held for the hold time".to_owned(),
            }),
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
        let mut s = Search::new(start, step, max);
        let mut next = s.first();
        let mut steps = 0;
        loop {
            match next {
                Next::Run { multiple, .. } => {
                    steps += 1;
                    assert!(steps < 100, "unbounded search");
                    next = s.next(multiple <= knee);
                }
                Next::Done(v) => return (v, steps),
            }
        }
    }

    #[test]
    fn steps_bisects_and_holds() {
        let (v, steps) = against(1.3, 0.5, 0.25, 3.0);
        let knee = v.knee.expect("knee");
        assert!(v.confirmed);
        assert!((1.3 * (1.0 - PRECISION)..=1.3).contains(&knee), "{knee}");
        assert!(v.broken.expect("broken") > 1.3);
        // 0.5 .. 1.5: 5 steps, bisections, 1 hold
        assert!(steps <= 5 + MAX_BISECT + 1, "{steps}");
    }

    #[test]
    fn breaking_at_start_and_holding_to_max() {
        // 0.5 breaks, 0.25 breaks, 0 is not a rate: no knee.
        let (v, steps) = against(0.1, 0.5, 0.25, 3.0);
        assert_eq!(v.knee, None);
        assert_eq!(steps, 2);
        assert!(
            v.stopped.contains("from ×0.5 down to ×0.25"),
            "{}",
            v.stopped
        );
        let (v, steps) = against(10.0, 0.5, 0.5, 2.0);
        assert_eq!(v.knee, Some(2.0));
        assert_eq!(v.broken, None);
        assert_eq!(steps, 4);
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

    proptest! {
        #[test]
        fn search_is_bounded_and_brackets_the_knee(
            knee in 0.05f64..5.0, start in 0.1f64..1.0, step in 0.05f64..1.0, extra in 0.0f64..4.0,
        ) {
            let max = start + extra;
            let (v, steps) = against(knee, start, step, max);
            let bound = ((max - start) / step).floor() as usize + 1 + MAX_DOWN + MAX_BISECT + MAX_HOLDS;
            prop_assert!(steps <= bound, "{steps} > {bound}");
            if let Some(k) = v.knee {
                prop_assert!(k <= knee + 1e-9);
            }
            if let Some(b) = v.broken {
                prop_assert!(b > knee);
            }
            if let (Some(k), Some(b), true) = (v.knee, v.broken, v.confirmed) {
                // bisection narrowed the gap, unless it ran out of steps
                prop_assert!((b - k) / b <= PRECISION + 1e-9 || (b - k) <= step / 2f64.powi(MAX_BISECT as i32) + 1e-9);
            }
        }
    }
}
