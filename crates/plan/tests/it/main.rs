//! plan's integration tests, one binary: each module was its own test
//! binary once, and every test binary links the whole dependency tree, so
//! one binary per crate keeps CI's disk and link time small. nextest still
//! runs every test in its own process.

mod common;
mod emergency;
mod export;
mod fuzz_parser;
mod gate;
mod invalid;
mod limits;
mod props;
mod templates;
mod whitelist_files;
