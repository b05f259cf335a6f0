//! sidecar's integration tests, one binary: each module was its own test
//! binary once, and every test binary links the whole dependency tree, so
//! one binary per crate keeps CI's disk and link time small. nextest still
//! runs every test in its own process.

mod canon;
mod common;
mod control;
mod differential;
mod fast;
mod limits;
mod module_dag;
mod policies;
mod proxy;
mod smuggling;
