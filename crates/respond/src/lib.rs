//! Seawall's event-day response decisions, without IO and without a clock.
//!
//! The control plane asks this crate what happens next and stores the
//! answer: who is paged and when ([`escalation`]), what an emergency-plan
//! run may do next and what rollback undoes ([`run`]), and how an incident
//! and its timeline move ([`incident`]). Executors, channels, timers and
//! storage live with the control plane; every state here is serde, so a
//! restart resumes from what was stored. Time is milliseconds since the
//! Unix epoch, passed in.
//!
//! Modules are independent of each other (no module uses another).

pub mod escalation;
pub mod incident;
pub mod run;

pub use escalation::{Escalation, Level, Policy, Tier, responders};
pub use incident::{Incident, Severity};
pub use run::{Approval, Outcome, Run, RunStatus, StepStatus};
