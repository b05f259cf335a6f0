//! Integration tests of the evaluation core (one test binary).
