//! Who is paged, and when: the on-call escalation as a state machine the
//! control plane stores after every step.
//!
//! A page goes to the primary of the affected business line's shift, then,
//! each time `ack_timeout` passes without an acknowledgement, to the next
//! tier (the secondary, then the guarantee group), and round again until
//! somebody acknowledges. The next page is due `ack_timeout` after the
//! previous one was *recorded*, not after it was scheduled: after the
//! control plane was down for ten minutes, the secondary still gets a full
//! `ack_timeout` to answer before the group is woken, and nobody is paged
//! twice for one step. A step is recorded before it is handed to a channel,
//! so a restart between the two never pages again; a page that was lost
//! that way is covered by the next tier, `ack_timeout` later.

use std::collections::BTreeSet;

use seawall_plan::{Plan, oncall};

pub use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Default time a tier has to acknowledge before the next one is paged.
pub const DEFAULT_ACK_TIMEOUT_MS: i64 = 5 * 60 * 1000;

/// Who is paged at one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The shift's primary.
    Primary,
    /// The shift's secondary.
    Secondary,
    /// The event's guarantee group (the decision makers).
    GuaranteeGroup,
}

impl Tier {
    /// Snake-case name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Primary => "primary",
            Tier::Secondary => "secondary",
            Tier::GuaranteeGroup => "guarantee_group",
        }
    }
}

/// One tier and the people in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    /// Which tier.
    pub tier: Tier,
    /// Person ids paged together.
    pub people: Vec<String>,
}

/// The tiers for a business line at a time, from the plan's rota.
///
/// The shift is the one the war room shows as on call
/// ([`seawall_plan::oncall::shift_for`]: a shift naming the line wins over a
/// shift for every line; without a line, the first shift on duty). Tiers
/// without anybody are left out (a shift without a secondary escalates
/// straight to the group); a person already paged in an earlier tier is
/// not repeated in a later one.
pub fn responders(plan: &Plan, line: Option<&str>, at: Timestamp) -> Vec<Level> {
    let line = line.unwrap_or(oncall::ALL_LINES);
    let shift = oncall::shift_for(plan, line, at).map(|(_, s)| s);
    let mut seen = BTreeSet::new();
    let mut levels = Vec::new();
    let mut push = |tier: Tier, people: Vec<String>| {
        let people: Vec<String> = people
            .into_iter()
            .filter(|p| seen.insert(p.clone()))
            .collect();
        if !people.is_empty() {
            levels.push(Level { tier, people });
        }
    };
    if let Some(s) = shift {
        push(Tier::Primary, vec![s.primary.clone()]);
        push(Tier::Secondary, s.secondary.iter().cloned().collect());
    }
    push(
        Tier::GuaranteeGroup,
        plan.organization.guarantee_group.clone(),
    );
    levels
}

/// How an escalation proceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Milliseconds a tier has to acknowledge (at least one second).
    pub ack_timeout_ms: i64,
    /// Rounds through every tier before giving up (`None`: until
    /// acknowledged).
    pub max_rounds: Option<u32>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            ack_timeout_ms: DEFAULT_ACK_TIMEOUT_MS,
            max_rounds: None,
        }
    }
}

/// A page recorded as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// Step number, from 0.
    pub step: u32,
    /// Index into the levels.
    pub level: usize,
    /// Round through the tiers, from 0.
    pub round: u32,
    /// When it was recorded (ms).
    pub at_ms: i64,
}

/// Who acknowledged, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Person id, or the name of the API token that acknowledged.
    pub by: String,
    /// When (ms).
    pub at_ms: i64,
}

/// A page that is due now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Step number to record.
    pub step: u32,
    /// Index into the levels.
    pub level: usize,
    /// Which tier.
    pub tier: Tier,
    /// Person ids to page.
    pub people: Vec<String>,
    /// Round through the tiers, from 0.
    pub round: u32,
}

/// What an escalation waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The next page is due at this time (ms).
    Until(i64),
    /// Acknowledged: nothing more to page.
    Acked,
    /// Every round was paged without an acknowledgement.
    Exhausted,
    /// Nobody to page (no shift and no guarantee group).
    Nobody,
}

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscalationError {
    /// Already acknowledged.
    #[error("already acknowledged by {by}")]
    AlreadyAcked {
        /// Who acknowledged first.
        by: String,
    },
    /// The step recorded is not the one due.
    #[error("step {got} recorded, but step {expected} is the next one")]
    OutOfOrder {
        /// The next step.
        expected: u32,
        /// The step given.
        got: u32,
    },
    /// A policy outside its bounds.
    #[error("ack_timeout must be at least 1 s (got {0} ms)")]
    BadTimeout(i64),
}

/// One escalation, serialisable as the control plane stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// When it was opened (ms).
    pub opened_ms: i64,
    /// The policy.
    pub policy: Policy,
    /// The tiers, fixed when it was opened.
    pub levels: Vec<Level>,
    /// Pages recorded, in order.
    pub sent: Vec<Sent>,
    /// The acknowledgement, once there is one.
    pub ack: Option<Ack>,
}

impl Escalation {
    /// A new escalation; its first page is due at once.
    pub fn open(
        opened_ms: i64,
        policy: Policy,
        levels: Vec<Level>,
    ) -> Result<Self, EscalationError> {
        if policy.ack_timeout_ms < 1000 {
            return Err(EscalationError::BadTimeout(policy.ack_timeout_ms));
        }
        Ok(Escalation {
            opened_ms,
            policy,
            levels,
            sent: Vec::new(),
            ack: None,
        })
    }

    fn next_step(&self) -> u32 {
        self.sent.last().map_or(0, |s| s.step.saturating_add(1))
    }

    /// What the escalation waits for.
    pub fn wait(&self) -> Wait {
        if self.ack.is_some() {
            return Wait::Acked;
        }
        let n = self.levels.len();
        if n == 0 {
            return Wait::Nobody;
        }
        let step = self.next_step();
        let round = step / n as u32;
        if self.policy.max_rounds.is_some_and(|max| round >= max) {
            return Wait::Exhausted;
        }
        match self.sent.last() {
            None => Wait::Until(self.opened_ms),
            Some(last) => Wait::Until(last.at_ms.saturating_add(self.policy.ack_timeout_ms)),
        }
    }

    /// The page due at `now_ms`, if any. Calling it again without
    /// [`record`](Self::record) returns the same page: it changes nothing.
    pub fn due(&self, now_ms: i64) -> Option<Due> {
        match self.wait() {
            Wait::Until(t) if now_ms >= t => {}
            _ => return None,
        }
        let n = self.levels.len();
        let step = self.next_step();
        let level = step as usize % n;
        let l = self.levels.get(level)?;
        Some(Due {
            step,
            level,
            tier: l.tier,
            people: l.people.clone(),
            round: step / n as u32,
        })
    }

    /// Record that the due page was handed over at `now_ms` (before it is
    /// sent: a restart then never sends it twice).
    pub fn record(&mut self, due: &Due, now_ms: i64) -> Result<(), EscalationError> {
        if let Some(a) = &self.ack {
            return Err(EscalationError::AlreadyAcked { by: a.by.clone() });
        }
        let expected = self.next_step();
        if due.step != expected {
            return Err(EscalationError::OutOfOrder {
                expected,
                got: due.step,
            });
        }
        self.sent.push(Sent {
            step: due.step,
            level: due.level,
            round: due.round,
            at_ms: now_ms,
        });
        Ok(())
    }

    /// Acknowledge. The first acknowledgement stops the escalation; a second
    /// one is refused with the name of the first.
    pub fn acknowledge(&mut self, by: &str, now_ms: i64) -> Result<(), EscalationError> {
        if let Some(a) = &self.ack {
            return Err(EscalationError::AlreadyAcked { by: a.by.clone() });
        }
        self.ack = Some(Ack {
            by: by.to_owned(),
            at_ms: now_ms,
        });
        Ok(())
    }

    /// Milliseconds from opening to the acknowledgement (time to acknowledge).
    pub fn time_to_ack_ms(&self) -> Option<i64> {
        self.ack.as_ref().map(|a| a.at_ms - self.opened_ms)
    }

    /// Pages per person so far.
    pub fn pages_per_person(&self) -> Vec<(String, usize)> {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for s in &self.sent {
            for p in self.levels.get(s.level).map_or(&[][..], |l| &l.people[..]) {
                match counts.iter_mut().find(|(q, _)| q == p) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((p.clone(), 1)),
                }
            }
        }
        counts
    }
}
