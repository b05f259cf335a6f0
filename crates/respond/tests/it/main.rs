//! seawall-respond's behaviour: escalation, runs and incidents.

mod escalation;
mod incident;
mod run;
