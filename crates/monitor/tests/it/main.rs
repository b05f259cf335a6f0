//! Integration tests of the evaluation core (one test binary).

mod alerts;
mod burn;
mod export;
mod common;
mod history;
mod live;
mod props;
