//! The review's one test binary: the formulas' properties, and the
//! numbers and renderings of a fixed event.

mod fixture;
mod formulas;
mod sections;
