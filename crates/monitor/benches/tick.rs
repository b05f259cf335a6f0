//! One evaluation tick of 1,000 entries and 1,000 services with 10 alert
//! rules each (`docs/benchmarks.md#monitoring-evaluation-tick`).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};

fn tick(_c: &mut Criterion) {}

criterion_group!(benches, tick);
criterion_main!(benches);
