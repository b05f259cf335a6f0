//! The small, fast hasher of the guard's small-key maps (resource names,
//! route segments, hot-parameter values): rustc-hash's FxHash. Its own
//! module so the router and the hot-parameter tables use it without
//! importing the guard itself (the guard's modules form a DAG,
//! `.ci/module-dag.sh`).
//!
//! FxHash is not keyed: a client that picks hot-parameter values could aim
//! them at one bucket. The hot tables track a fixed number of values per
//! rule (`top_k` slots), so a collision chain is at most that long.

use std::collections::HashMap;

/// Hasher builder for the guard's small-key maps.
pub(crate) type FxBuild = rustc_hash::FxBuildHasher;
/// A map with the guard's small-key hasher.
pub(crate) type FxMap<K, V> = HashMap<K, V, FxBuild>;
