//! server's integration tests, one binary: each module was its own test
//! binary once, and every test binary links the whole dependency tree, so
//! one binary per crate keeps CI's disk and link time small. nextest still
//! runs every test in its own process.

mod api;
mod audit;
mod bad_input;
mod common;
mod contract;
mod drills;
mod duties;
mod emergency;
mod evaluator;
mod exports;
mod fleet;
mod fuzz_api;
mod gate;
mod history_api;
mod incident_changes;
mod incidents;
mod limits;
mod module_dag;
mod monitoring;
mod openapi;
mod paging;
mod quota;
mod review;
mod roles;
mod roles_ops;
mod rules;
mod scopes;
mod scrape_admission;
mod sessions;
mod shutdown;
mod tls;
mod transport;
mod ui_agents;
mod ui_live;
mod ui_pages_a;
mod ui_pages_b;
mod ui_session;
mod whitelists;
