//! One run of an emergency plan, as a state machine the control plane
//! stores after every transition: approval, one action at a time, what
//! each action changed, rollback, and what a restart found.
//!
//! The executors (guard rules, switches, Kubernetes, webhooks, channels)
//! live with the control plane; this module decides what may happen next,
//! so the rules — a requester never approves their own run, two approvals
//! come from two people, nothing runs before approval, a dry run changes
//! nothing, rollback undoes only what succeeded and in reverse — hold for
//! every caller and survive a restart.
//!
//! A restart never re-applies anything by itself. An action or an undo is
//! stored as started (`running`, `undoing`) before the executor touches
//! anything; a restart that finds one marks it `unknown` or
//! `undo_unknown` with what to check, and the run waits for a commander:
//! [`resume`](Run::resume) goes on (after an interrupted undo: the
//! commander checked that it took effect, so it counts as undone and the
//! rollback goes on with the rest), [`begin_rollback`](Run::begin_rollback)
//! undoes (after an interrupted undo: it is applied again, by that
//! decision). This holds for guard rule changes too, although setting a
//! value is idempotent by value: the model cannot prove that nobody set
//! that value since the undo started (a commander's adjustment, another
//! run), and re-applying would overwrite it, so no step kind is exempt.

use serde::{Deserialize, Serialize};

/// How many commanders must approve a run; the plan states it
/// (`emergency_plans.<id>.approval`), so it is defined with the plan.
pub use seawall_plan::model::Approval;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting for approvals.
    AwaitingApproval,
    /// Actions are running (or the next one is about to).
    Running,
    /// A restart found an action whose outcome is unknown: a commander
    /// decides whether to go on or roll back.
    NeedsAttention,
    /// Every action succeeded (or, for a dry run, was shown).
    Succeeded,
    /// An action failed; the rest were skipped.
    Failed,
    /// Rolling back what succeeded.
    RollingBack,
    /// Rolled back.
    RolledBack,
    /// Cancelled before it ran.
    Cancelled,
}

impl RunStatus {
    /// Snake-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::AwaitingApproval => "awaiting_approval",
            RunStatus::Running => "running",
            RunStatus::NeedsAttention => "needs_attention",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::RollingBack => "rolling_back",
            RunStatus::RolledBack => "rolled_back",
            RunStatus::Cancelled => "cancelled",
        }
    }

    /// Whether nothing more happens without a person.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::RolledBack | RunStatus::Cancelled
        )
    }
}

/// Where one action is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Started, not finished.
    Running,
    /// Done.
    Succeeded,
    /// Failed.
    Failed,
    /// Not run, because an earlier action failed or the run was cancelled.
    Skipped,
    /// Started before a restart; whether it took effect is not known.
    Unknown,
    /// Undone.
    RolledBack,
    /// Undoing it failed.
    RollbackFailed,
    /// Its undo started, not finished.
    Undoing,
    /// Its undo started before a restart; whether it took effect is not
    /// known (the step keeps what it captured, `before` and `after`).
    UndoUnknown,
}

/// One action of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The action's kind (`rate_limit`, `scale`, …).
    pub kind: String,
    /// What it works on (entry, service, partner, channel), if anything.
    pub target: Option<String>,
    /// Where it is.
    pub status: StepStatus,
    /// When it started (ms).
    pub started_ms: Option<i64>,
    /// When it ended (ms).
    pub ended_ms: Option<i64>,
    /// What it found before changing anything (what rollback restores).
    pub before: Option<serde_json::Value>,
    /// What it left.
    pub after: Option<serde_json::Value>,
    /// The error, when it failed, or what to check, when unknown.
    pub error: Option<String>,
    /// Whether it can be undone (a message sent cannot).
    pub reversible: bool,
}

/// Who approved, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approved {
    /// Person id.
    pub by: String,
    /// When (ms).
    pub at_ms: i64,
}

/// Why a transition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The requester tried to approve.
    #[error("{0} requested this run and cannot approve it; another commander must")]
    SelfApproval(String),
    /// The same person approved twice.
    #[error("{0} has approved this run already; a second commander must")]
    SecondApprovalBySamePerson(String),
    /// Not a commander.
    #[error("{0} is not a commander of this event (the guarantee group or the plan's owner)")]
    NotCommander(String),
    /// The transition does not apply in this status.
    #[error("the run is {status}; {what} is not possible now")]
    WrongStatus {
        /// Current status.
        status: &'static str,
        /// What was tried.
        what: &'static str,
    },
    /// A step index that is not the one running or next.
    #[error("action {got} is not the next one (expected {expected})")]
    WrongStep {
        /// The step that may change.
        expected: usize,
        /// The step given.
        got: usize,
    },
}

/// What the executor reports for one action.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It took effect.
    Done {
        /// What it found.
        before: Option<serde_json::Value>,
        /// What it left.
        after: Option<serde_json::Value>,
    },
    /// It failed (the executor undid any half-change).
    Failed {
        /// Why.
        error: String,
    },
}

/// One run, serialisable as the control plane stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// The emergency plan's id.
    pub plan_id: String,
    /// Who asked (person id, or `trigger:<alert>` for a triggered run).
    pub requested_by: String,
    /// When (ms).
    pub requested_ms: i64,
    /// A dry run shows each action's effect and changes nothing.
    pub dry_run: bool,
    /// Approvals required.
    pub approval: Approval,
    /// Approvals given.
    pub approvals: Vec<Approved>,
    /// The actions, in the plan's order.
    pub steps: Vec<Step>,
    /// Where it is.
    pub status: RunStatus,
    /// The plan's expected duration in minutes.
    pub expected_minutes: Option<f64>,
}

impl Run {
    /// A new run of `steps` (kind, target, reversible). A dry run needs no
    /// approval: it changes nothing.
    pub fn new(
        plan_id: &str,
        requested_by: &str,
        requested_ms: i64,
        dry_run: bool,
        approval: Approval,
        steps: impl IntoIterator<Item = (String, Option<String>, bool)>,
        expected_minutes: Option<f64>,
    ) -> Run {
        let approval = if dry_run { Approval::None } else { approval };
        Run {
            plan_id: plan_id.to_owned(),
            requested_by: requested_by.to_owned(),
            requested_ms,
            dry_run,
            approval,
            approvals: Vec::new(),
            steps: steps
                .into_iter()
                .map(|(kind, target, reversible)| Step {
                    kind,
                    target,
                    status: StepStatus::Pending,
                    started_ms: None,
                    ended_ms: None,
                    before: None,
                    after: None,
                    error: None,
                    reversible,
                })
                .collect(),
            status: if approval.needed() == 0 {
                RunStatus::Running
            } else {
                RunStatus::AwaitingApproval
            },
            expected_minutes,
        }
    }

    fn wrong(&self, what: &'static str) -> RunError {
        RunError::WrongStatus {
            status: self.status.as_str(),
            what,
        }
    }

    /// A commander approves. `is_commander` is the caller's judgement of
    /// `by` (the guarantee group, or the plan's owner).
    pub fn approve(&mut self, by: &str, is_commander: bool, now_ms: i64) -> Result<(), RunError> {
        if self.status != RunStatus::AwaitingApproval {
            return Err(self.wrong("approving"));
        }
        if !is_commander {
            return Err(RunError::NotCommander(by.to_owned()));
        }
        if by == self.requested_by {
            return Err(RunError::SelfApproval(by.to_owned()));
        }
        if self.approvals.iter().any(|a| a.by == by) {
            return Err(RunError::SecondApprovalBySamePerson(by.to_owned()));
        }
        self.approvals.push(Approved {
            by: by.to_owned(),
            at_ms: now_ms,
        });
        if self.approvals.len() >= self.approval.needed() {
            self.status = RunStatus::Running;
        }
        Ok(())
    }

    /// Cancel a run that has not started an action.
    pub fn cancel(&mut self) -> Result<(), RunError> {
        let started = self.steps.iter().any(|s| s.status != StepStatus::Pending);
        if started
            || !matches!(
                self.status,
                RunStatus::AwaitingApproval | RunStatus::Running
            )
        {
            return Err(self.wrong("cancelling"));
        }
        for s in &mut self.steps {
            s.status = StepStatus::Skipped;
        }
        self.status = RunStatus::Cancelled;
        Ok(())
    }

    /// The action to start next, if the run is running and none is.
    pub fn next(&self) -> Option<usize> {
        if self.status != RunStatus::Running {
            return None;
        }
        if self.steps.iter().any(|s| s.status == StepStatus::Running) {
            return None;
        }
        self.steps
            .iter()
            .position(|s| s.status == StepStatus::Pending)
    }

    /// Mark action `i` started (recorded before the executor touches
    /// anything, so a restart knows it may have).
    pub fn start(&mut self, i: usize, now_ms: i64) -> Result<(), RunError> {
        match self.next() {
            Some(n) if n == i => {}
            Some(n) => {
                return Err(RunError::WrongStep {
                    expected: n,
                    got: i,
                });
            }
            None => return Err(self.wrong("starting an action")),
        }
        if let Some(s) = self.steps.get_mut(i) {
            s.status = StepStatus::Running;
            s.started_ms = Some(now_ms);
        }
        Ok(())
    }

    /// Record action `i`'s outcome. A failure skips the rest and fails the
    /// run; the last success completes it.
    pub fn finish(&mut self, i: usize, outcome: Outcome, now_ms: i64) -> Result<(), RunError> {
        let running = self
            .steps
            .iter()
            .position(|s| s.status == StepStatus::Running);
        if running != Some(i) {
            return Err(match running {
                Some(r) => RunError::WrongStep {
                    expected: r,
                    got: i,
                },
                None => self.wrong("finishing an action"),
            });
        }
        let failed = matches!(outcome, Outcome::Failed { .. });
        if let Some(s) = self.steps.get_mut(i) {
            s.ended_ms = Some(now_ms);
            match outcome {
                Outcome::Done { before, after } => {
                    s.status = StepStatus::Succeeded;
                    s.before = before;
                    s.after = after;
                }
                Outcome::Failed { error } => {
                    s.status = StepStatus::Failed;
                    s.error = Some(error);
                }
            }
        }
        if failed {
            for s in &mut self.steps {
                if s.status == StepStatus::Pending {
                    s.status = StepStatus::Skipped;
                }
            }
            self.status = RunStatus::Failed;
        } else if self.steps.iter().all(|s| s.status == StepStatus::Succeeded) {
            self.status = RunStatus::Succeeded;
        }
        Ok(())
    }

    /// After a restart: an action that was running, or whose undo was,
    /// may or may not have taken effect. It becomes `unknown` (or
    /// `undo_unknown`), with `what_to_check` naming what to look at (it
    /// sees the step still `running` or `undoing`), and the run waits for
    /// a commander ([`resume`](Self::resume) or
    /// [`begin_rollback`](Self::begin_rollback)); nothing is re-applied.
    /// Returns the indexes marked.
    pub fn recover(&mut self, what_to_check: impl Fn(&Step) -> String) -> Vec<usize> {
        let mut marked = Vec::new();
        for (i, s) in self.steps.iter_mut().enumerate() {
            let became = match s.status {
                StepStatus::Running => StepStatus::Unknown,
                StepStatus::Undoing => StepStatus::UndoUnknown,
                _ => continue,
            };
            s.error = Some(what_to_check(s));
            s.status = became;
            marked.push(i);
        }
        if !marked.is_empty() {
            self.status = RunStatus::NeedsAttention;
        }
        marked
    }

    /// A commander checked the unknown actions and goes on with the rest.
    /// After an interrupted rollback, the commander checked that the
    /// unknown undos took effect: they count as rolled back and the
    /// rollback goes on with what is left (mark done).
    pub fn resume(&mut self) -> Result<(), RunError> {
        if self.status != RunStatus::NeedsAttention {
            return Err(self.wrong("resuming"));
        }
        let mut undone = false;
        for s in &mut self.steps {
            if s.status == StepStatus::UndoUnknown {
                s.status = StepStatus::RolledBack;
                s.error = None;
                undone = true;
            }
        }
        if undone {
            self.status = RunStatus::RollingBack;
            if self.rollback_order().is_empty() {
                self.status = RunStatus::RolledBack;
            }
            return Ok(());
        }
        self.status = if self.steps.iter().any(|s| s.status == StepStatus::Pending) {
            RunStatus::Running
        } else {
            RunStatus::Succeeded
        };
        Ok(())
    }

    /// Start rolling back: returns the actions to undo, last first — those
    /// that succeeded or whose outcome is unknown, and can be undone. After
    /// an interrupted rollback this resumes it: the undo whose outcome is
    /// unknown is applied again, by the commander's decision.
    pub fn begin_rollback(&mut self) -> Result<Vec<usize>, RunError> {
        if self.dry_run {
            return Err(self.wrong("rolling back a dry run"));
        }
        if !matches!(
            self.status,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::NeedsAttention
        ) {
            return Err(self.wrong("rolling back"));
        }
        for s in &mut self.steps {
            if s.status == StepStatus::Pending {
                s.status = StepStatus::Skipped;
            }
        }
        self.status = RunStatus::RollingBack;
        let order = self.rollback_order();
        if order.is_empty() {
            // Nothing it did can be undone: rolled back at once, not
            // waiting for an undo that will never be recorded.
            self.status = RunStatus::RolledBack;
        }
        Ok(order)
    }

    /// The actions rollback still has to undo, last first (what
    /// [`begin_rollback`](Self::begin_rollback) returned, less those
    /// recorded since): a driver resumed after a restart reads it here.
    /// An undo in progress is first.
    pub fn rollback_order(&self) -> Vec<usize> {
        (0..self.steps.len())
            .rev()
            .filter(|&i| {
                self.steps.get(i).is_some_and(|s| {
                    s.reversible
                        && matches!(
                            s.status,
                            StepStatus::Succeeded
                                | StepStatus::Unknown
                                | StepStatus::Undoing
                                | StepStatus::UndoUnknown
                        )
                })
            })
            .collect()
    }

    /// Mark action `i`'s undo started (recorded before the executor touches
    /// anything, so a restart knows it may have). `i` must be the next in
    /// [`rollback_order`](Self::rollback_order) and not already undoing.
    pub fn begin_undo(&mut self, i: usize) -> Result<(), RunError> {
        if self.status != RunStatus::RollingBack {
            return Err(self.wrong("starting an undo"));
        }
        match self.rollback_order().first() {
            Some(&n) if n == i => {}
            Some(&n) => {
                return Err(RunError::WrongStep {
                    expected: n,
                    got: i,
                });
            }
            None => return Err(self.wrong("starting an undo")),
        }
        match self.steps.get_mut(i) {
            Some(s) if s.status != StepStatus::Undoing => {
                s.status = StepStatus::Undoing;
                Ok(())
            }
            _ => Err(self.wrong("starting an undo twice")),
        }
    }

    /// Record one action undone (or not), whether or not its start was
    /// recorded with [`begin_undo`](Self::begin_undo). The run is rolled
    /// back when no action is left to undo.
    pub fn rolled_back(&mut self, i: usize, error: Option<String>) -> Result<(), RunError> {
        if self.status != RunStatus::RollingBack {
            return Err(self.wrong("recording a rollback"));
        }
        let order = self.rollback_order();
        match order.first() {
            Some(&n) if n == i => {}
            Some(&n) => {
                return Err(RunError::WrongStep {
                    expected: n,
                    got: i,
                });
            }
            None => return Err(self.wrong("recording a rollback")),
        }
        if let Some(s) = self.steps.get_mut(i) {
            match error {
                None => s.status = StepStatus::RolledBack,
                Some(e) => {
                    s.status = StepStatus::RollbackFailed;
                    s.error = Some(e);
                }
            }
        }
        if self.rollback_order().is_empty() {
            self.status = RunStatus::RolledBack;
        }
        Ok(())
    }

    /// Milliseconds from the first action's start to the last action's end
    /// (none before an action ended).
    pub fn duration_ms(&self) -> Option<i64> {
        let start = self.steps.iter().filter_map(|s| s.started_ms).min()?;
        let end = self.steps.iter().filter_map(|s| s.ended_ms).max()?;
        Some(end - start)
    }

    /// Whether the run took no longer than the plan expects (none without
    /// an expectation or before it ended).
    pub fn within_expected(&self) -> Option<bool> {
        if !self.status.is_final() {
            return None;
        }
        let expected = self.expected_minutes?;
        let took = self.duration_ms()?;
        Some(took as f64 <= expected * 60_000.0)
    }
}
