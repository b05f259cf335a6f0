//! Seawall's SVG charts, for the load report (`seawall load --report`) and
//! the web UI alike. One place makes chart markup, so one place escapes it:
//! everything is built with [`Element`], whose text and attribute values
//! are escaped when rendered, and comes out as [`Markup`], which nothing
//! else constructs. A page may embed a `Markup` unescaped because of that,
//! and only that.
//!
//! Pure functions of their input: no I/O, no clock (callers pass "now"),
//! deterministic (same input, same bytes), so charts are tested without a
//! server and reports diff as text.

pub mod gauge;
pub mod graph;
pub mod line;
pub mod markup;
pub mod scale;
pub mod sparkline;
pub mod standalone;
pub mod timeline;

pub use markup::{Element, Entities, Markup, Node};

#[cfg(test)]
pub(crate) mod test_rng {
    /// xorshift64*: a seeded generator for the randomized checks.
    pub struct Rng(pub u64);
    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        /// A value that is sometimes NaN, ±∞, huge, tiny, negative or zero.
        pub fn wild(&mut self) -> f64 {
            match self.next() % 10 {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => f64::NEG_INFINITY,
                3 => 0.0,
                4 => 1e300,
                5 => -1e-300,
                _ => (self.next() % 2_000_000) as f64 / 7.0 - 50_000.0,
            }
        }
    }
}
