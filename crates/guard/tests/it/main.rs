//! guard's integration tests, one binary: each module was its own test
//! binary once, and every test binary links the whole dependency tree, so
//! one binary per crate keeps CI's disk and link time small. nextest still
//! runs every test in its own process.

mod breakers;
mod callers;
mod canon;
mod cluster;
mod common;
mod derive;
mod flow;
mod fuzz_rules;
mod module_dag;
mod props;
mod request;
mod swap;
mod tower;
mod whitelist;
