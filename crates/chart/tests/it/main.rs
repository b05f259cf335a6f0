//! The chart crate's integration tests: escaping holds for any input, and
//! each chart kind draws the shapes its data asks for.

mod escaping;
mod shapes;
