//! Integration tests of the evaluation core (one test binary).

mod alerts;
mod burn;
mod common;
mod export;
mod history;
mod live;
mod props;
