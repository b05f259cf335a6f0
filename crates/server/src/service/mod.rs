//! The control plane's service layer: what the API handlers (`crate::api`)
//! and the UI pages (`crate::ui`) both do, in one place — finding events,
//! the plan cache and the analyses, the gate's writer and current plans,
//! freeze exceptions, rule distribution.
//!
//! Why a layer of its own: the handlers and the pages are two front ends
//! over the same rules. When a page called a helper inside a handler
//! module, the UI could not change without reading the API, and a rule
//! kept in a handler could be skipped by a page. Here the rules live once;
//! a handler decodes the request, checks the role, calls a service
//! function and encodes the answer; a page does the same with HTML.
//!
//! Layering (ARCHITECTURE.md, "server"; checked by the server's
//! `layering` test): `service` uses the state, the store, auth and errors,
//! never `crate::api` or `crate::ui`; `ui` never imports `crate::api`, and
//! `api` never imports `crate::ui` — they meet only here.

pub mod drills;
pub mod drills_record;
pub mod emergency;
pub mod events;
pub mod exceptions;
pub mod fleet;
pub mod fleet_keep;
pub mod fleet_registry;
pub mod gate;
pub mod gate_cache;
pub mod gate_writer;
pub mod incidents;
pub mod leader;
pub mod monitoring;
pub mod plans;
pub mod quota;
pub mod review;
pub mod rule_cache;
pub mod rules;
pub mod runs;
pub mod triggers;
pub mod whitelists;
