//! load's integration tests, one binary: each module was its own test
//! binary once, and every test binary links the whole dependency tree, so
//! one binary per crate keeps CI's disk and link time small. nextest still
//! runs every test in its own process.

mod honest_knee;
mod keep_alive;
mod loopback;
mod open_model;
mod scenario;
