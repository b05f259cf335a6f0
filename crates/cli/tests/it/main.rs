//! cli's integration tests, one binary: each module was its own test
//! binary once, and every test binary links the whole dependency tree, so
//! one binary per crate keeps CI's disk and link time small. nextest still
//! runs every test in its own process.

mod agents;
mod cli;
mod common;
mod crash;
mod demo;
mod drill;
mod emergency;
mod fleet_knee;
mod freeze_export;
mod gate;
mod guard;
mod incident;
mod kubernetes;
mod live;
mod load;
mod monitoring;
mod rehearse;
mod replicas;
mod review;
mod scale;
mod server;
mod sidecar;
mod sim;
mod tls;
mod whitelist;
