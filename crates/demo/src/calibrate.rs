//! The demo's scale factor, picked from what this machine can drive.
//!
//! Why: a fixed factor (0.04) fits the carnival plan on a laptop, but a plan
//! the demo has never seen may ask for more than the generator and the
//! simulator can carry on this machine; its searches then break because the
//! generator ran out, and the knees they could report would be wrong. So,
//! unless the user gives `--factor`, the demo first measures, in a few
//! seconds, the highest rate the open-model generator sustains against a
//! fast simulated node on loopback without going generator-bound (the
//! capacity search's own judge, `seawall_load::generator`), then scales the
//! plan so that the top of every entry's search fits in a share of it
//! ([`choose`], a pure function, tested by properties).

use std::time::{Duration, Instant};

use seawall_load::{LoadProfile, Scenario, SearchSpec, TestTag};
use seawall_plan::Plan;
use seawall_sim::{Sim, SimOptions};

/// The largest factor the calibration picks: the carnival plan stays as it
/// was on a machine fast enough for it.
pub const MAX_FACTOR: f64 = crate::DEFAULT_FACTOR;

/// The smallest factor the calibration picks; below it an entry's rates
/// are too small to measure in a search step, and the entries that still
/// do not fit are named instead.
pub const MIN_FACTOR: f64 = 0.0001;

/// Share of the calibrated rate one entry's search may reach at its top.
/// The calibration's node is one service that answers at once; in the demo
/// each request also crosses a guard sidecar and a simulated system of
/// several services, and the generator walks journeys. On 2 cores (debug
/// build) the calibration measures about 16,000 rps while a plan's demo
/// searches ran out of CPU near 1,000 rps: about a sixteenth.
pub const BUDGET_SHARE: f64 = 0.0625;

/// Upper bound of the calibration's wall time.
pub const MAX_CALIBRATION: Duration = Duration::from_secs(5);

/// Base rate of the calibration's search (its multiples scale it).
const BASE_RPS: f64 = 250.0;

/// The fast node: one service far above anything a generator reaches.
const FAST_NODE: &str = r#"
event: {name: seawall demo calibration}
entries:
  ping: {service: fast, method: GET, path: /ping, slo: {p99_ms: 50, error_rate: 0.01}}
services:
  fast:
    instances: 1
    capacity_per_instance: 10000000
    latency_ms: 1
    timeout_ms: 1000
"#;

/// What the calibration measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Highest rate (requests per second) sustained without the generator
    /// being the limit.
    pub rate_rps: f64,
    /// How long the calibration took.
    pub took: Duration,
}

/// Why the calibration gave no rate.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    /// The fast node's plan or scenario could not be built.
    #[error("calibration setup: {0}")]
    Setup(String),
    /// The simulated node did not start.
    #[error("the calibration's simulated node did not start")]
    Sim(#[from] seawall_sim::SimError),
    /// The load run failed.
    #[error("the calibration's load run failed: {0}")]
    Load(String),
    /// It did not end within [`MAX_CALIBRATION`].
    #[error("the calibration did not end within {} s", MAX_CALIBRATION.as_secs())]
    Timeout,
    /// It sustained no rate at all, and why the search stopped.
    #[error("the calibration sustained no rate: {0}")]
    NoRate(String),
}

/// Measure the rate this machine's generator drives against a fast
/// simulated node on loopback: a capacity search from 250 rps doubling to
/// 16,000 rps in 0.25 s steps (at most 15 steps: 3.75 s), where a step
/// the generator could not carry ends the climb; the rate is the highest
/// one a step achieved while it held and the generator was not the limit.
/// Bounded by [`MAX_CALIBRATION`].
pub async fn calibrate() -> Result<Calibration, CalibrationError> {
    let began = Instant::now();
    let plan = seawall_plan::parse(FAST_NODE, "calibration.yaml")
        .map_err(|d| CalibrationError::Setup(format!("{:?}", d.0)))?;
    let sim = Sim::start(
        &plan,
        SimOptions {
            seed: 1,
            scale: 1.0,
            listen_base: None,
        },
    )
    .await?;
    let measured = tokio::time::timeout(MAX_CALIBRATION, search(&plan, &sim)).await;
    sim.shutdown().await;
    let rate_rps = measured.map_err(|_| CalibrationError::Timeout)??;
    Ok(Calibration {
        rate_rps,
        took: began.elapsed(),
    })
}

/// The search against the running node: the highest rate that held.
async fn search(plan: &Plan, sim: &Sim) -> Result<f64, CalibrationError> {
    let addr = sim
        .addr("fast")
        .ok_or_else(|| CalibrationError::Setup("no fast node".into()))?;
    let spec = SearchSpec {
        start: 1.0,
        step: 1.0,
        max: 64.0,
        step_duration: Duration::from_millis(250),
        hold: Duration::from_millis(250),
        cooldown: Duration::ZERO,
    };
    let scenario = seawall_load::from_plan::entry_scenario(
        plan,
        BASE_RPS,
        "ping",
        &format!("http://{addr}"),
        &spec,
        TestTag::new("demo-calibration".to_owned()),
    )
    .map_err(|e| CalibrationError::Setup(e.to_string()))?;
    // Connections first, unjudged.
    let warm = Scenario {
        load: LoadProfile::Fixed {
            multiple: 0.5,
            duration: Duration::from_millis(200),
        },
        ..scenario.clone()
    };
    seawall_load::rehearse(&warm, |_| {})
        .await
        .map_err(|e| CalibrationError::Load(e.to_string()))?;
    let result = seawall_load::rehearse(&scenario, |_| {})
        .await
        .map_err(|e| CalibrationError::Load(e.to_string()))?;
    // The highest rate a step achieved while it held and the generator
    // was not the limit (a search that held up to its top has no knee).
    let steps = result.search.as_ref().map_or(&[][..], |s| &s.steps[..]);
    for step in steps {
        tracing::debug!(
            multiple = step.multiple,
            held = step.held,
            achieved = step.entries.first().map(|e| e.achieved_rps),
            bound = step.generator.as_ref().map(|g| g.bound),
            "calibration step"
        );
    }
    steps
        .iter()
        .filter(|s| s.held && s.generator.as_ref().is_none_or(|g| !g.bound))
        .filter_map(|s| s.entries.first().map(|e| e.achieved_rps))
        .filter(|r| r.is_finite() && *r > 0.0)
        .reduce(f64::max)
        .ok_or_else(|| {
            CalibrationError::NoRate(
                result
                    .search
                    .as_ref()
                    .map(|s| s.stopped.clone())
                    .unwrap_or_default(),
            )
        })
}

/// The factor chosen for a plan, and the entries it leaves out of reach.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// Scale factor, in [`MIN_FACTOR`, `MAX_FACTOR`].
    pub factor: f64,
    /// The rate one entry's search may reach (share of the calibrated rate).
    pub budget_rps: f64,
    /// Entries whose search top (scaled) is above the budget even at
    /// [`MIN_FACTOR`]: their searches may be generator-bound.
    pub out_of_reach: Vec<(String, f64)>,
}

/// Choose the factor: the largest one, at most [`MAX_FACTOR`], at which the
/// top of every entry's search (`top_multiple` × its declared capacity ×
/// the factor) is within [`BUDGET_SHARE`] of the calibrated `rate_rps`;
/// never below [`MIN_FACTOR`], in which case the entries still above the
/// budget are named. Capacities that are not positive numbers are ignored.
pub fn choose(capacities: &[(String, f64)], rate_rps: f64, top_multiple: f64) -> Choice {
    let budget_rps = if rate_rps.is_finite() && rate_rps > 0.0 {
        rate_rps * BUDGET_SHARE
    } else {
        0.0
    };
    let top = if top_multiple.is_finite() && top_multiple > 0.0 {
        top_multiple
    } else {
        1.0
    };
    let largest = capacities
        .iter()
        .map(|(_, c)| *c)
        .filter(|c| c.is_finite() && *c > 0.0)
        .fold(0.0_f64, f64::max);
    let factor = if largest > 0.0 {
        two_digits_down(budget_rps / (top * largest)).clamp(MIN_FACTOR, MAX_FACTOR)
    } else {
        MAX_FACTOR
    };
    let out_of_reach = capacities
        .iter()
        .filter(|(_, c)| c.is_finite() && *c > 0.0)
        .map(|(id, c)| (id.clone(), top * c * factor))
        .filter(|(_, t)| *t > budget_rps)
        .collect();
    Choice {
        factor,
        budget_rps,
        out_of_reach,
    }
}

/// `x` rounded down to two significant digits, so the narrative says
/// "0.023", not "0.0234567…" (down: the entries stay within reach).
fn two_digits_down(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return 0.0;
    }
    let exp = x.log10().floor() as i32 - 1;
    let mut digits = (x / 10f64.powi(exp)).floor();
    // Parsed from decimal text, the factor prints as it reads ("0.023").
    let mut rounded: f64 = format!("{digits}e{exp}").parse().unwrap_or(0.0);
    if rounded > x {
        digits -= 1.0;
        rounded = format!("{digits}e{exp}").parse().unwrap_or(0.0);
    }
    rounded
}

/// Each entry's declared capacity in the (unscaled) plan, its target when
/// it declares none.
pub fn entry_capacities(plan: &Plan) -> Vec<(String, f64)> {
    let targets = seawall_plan::targets::decompose(plan);
    let table =
        seawall_plan::capacity::table(plan, &targets, &seawall_plan::capacity::Measured::default());
    plan.entries
        .keys()
        .map(|id| {
            let cap = table
                .entry(id)
                .and_then(|r| r.capacity_qps)
                .filter(|c| *c > 0.0)
                .or_else(|| targets.entry(id))
                .unwrap_or(0.0);
            (id.clone(), cap)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn caps() -> impl Strategy<Value = Vec<(String, f64)>> {
        proptest::collection::vec(0.01_f64..1e7, 1..8).prop_map(|v| {
            v.into_iter()
                .enumerate()
                .map(|(i, c)| (format!("e{i}"), c))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn the_factor_stays_between_its_bounds(c in caps(), rate in 0.0_f64..1e6, top in 0.1_f64..5.0) {
            let f = choose(&c, rate, top).factor;
            prop_assert!((MIN_FACTOR..=MAX_FACTOR).contains(&f), "{f}");
        }

        #[test]
        fn every_entry_is_within_reach_unless_the_floor_is_hit(c in caps(), rate in 1.0_f64..1e6, top in 0.1_f64..5.0) {
            let choice = choose(&c, rate, top);
            if choice.factor > MIN_FACTOR {
                prop_assert!(choice.out_of_reach.is_empty(), "{choice:?}");
            }
            for (id, cap) in &c {
                let scaled_top = top * cap * choice.factor;
                let named = choice.out_of_reach.iter().any(|(o, _)| o == id);
                prop_assert_eq!(named, scaled_top > choice.budget_rps);
            }
        }

        #[test]
        fn a_faster_machine_never_gets_a_smaller_factor(c in caps(), rate in 1.0_f64..1e6, more in 1.0_f64..10.0, top in 0.1_f64..5.0) {
            prop_assert!(choose(&c, rate * more, top).factor >= choose(&c, rate, top).factor);
        }

        #[test]
        fn the_factor_never_rounds_up(x in 1e-9_f64..1e3) {
            let r = two_digits_down(x);
            prop_assert!(r <= x && r >= x * 0.9 - 1e-15, "{x} → {r}");
        }

        #[test]
        fn a_machine_fast_enough_keeps_the_cap(c in caps(), top in 0.1_f64..5.0) {
            let largest = c.iter().map(|(_, c)| *c).fold(0.0_f64, f64::max);
            let rate = top * largest * MAX_FACTOR / BUDGET_SHARE * 1.01;
            let choice = choose(&c, rate, top);
            prop_assert_eq!(choice.factor, MAX_FACTOR);
            prop_assert!(choice.out_of_reach.is_empty());
        }
    }

    #[test]
    fn the_carnival_at_full_speed_stays_at_today_s_factor() {
        // Largest entry 10,000 QPS, search top 1.6×: 0.04 needs 640 rps
        // of budget.
        let c = vec![
            ("home".to_owned(), 10_000.0),
            ("call-car".to_owned(), 320.0),
        ];
        assert_eq!(choose(&c, 640.0 / BUDGET_SHARE, 1.6).factor, MAX_FACTOR);
        let slow = choose(&c, 320.0 / BUDGET_SHARE, 1.6);
        assert!((slow.factor - 0.02).abs() < 1e-12, "{slow:?}");
        assert!(slow.out_of_reach.is_empty());
    }

    #[test]
    fn the_factor_has_two_significant_digits() {
        assert_eq!(two_digits_down(0.023_456), 0.023);
        assert_eq!(two_digits_down(0.04), 0.04);
        assert_eq!(two_digits_down(0.0), 0.0);
        assert_eq!(format!("{}", two_digits_down(0.029_999)), "0.029");
        assert_eq!(format!("{}", two_digits_down(0.000_123_9)), "0.00012");
    }

    #[test]
    fn an_unreachable_plan_names_its_entries() {
        let c = vec![("huge".to_owned(), 1e12), ("small".to_owned(), 10.0)];
        let choice = choose(&c, 1_000.0, 1.6);
        assert_eq!(choice.factor, MIN_FACTOR);
        assert_eq!(choice.out_of_reach.len(), 1);
        assert_eq!(choice.out_of_reach[0].0, "huge");
    }

    #[test]
    fn no_rate_measured_gives_the_floor_and_names_every_entry() {
        let c = vec![("a".to_owned(), 100.0)];
        let choice = choose(&c, 0.0, 1.6);
        assert_eq!(choice.factor, MIN_FACTOR);
        assert_eq!(choice.out_of_reach.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_calibration_measures_a_rate_within_its_bound() {
        let c = calibrate().await.expect("calibration");
        assert!(c.took <= MAX_CALIBRATION + Duration::from_secs(2), "{c:?}");
        assert!(
            c.rate_rps >= BASE_RPS * 0.5 && c.rate_rps <= BASE_RPS * 64.0 * 1.1,
            "{c:?}"
        );
    }
}
