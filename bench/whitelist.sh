#!/usr/bin/env bash
# Gray whitelists at the size of a real one: 2 million ids.
#
#   bash bench/whitelist.sh       # ~1 minute after the release build
#
# Runs crates/server/examples/whitelist_bench.rs, one bounded process on
# 127.0.0.1: the compact set built from IDS ids (10-digit user numbers, one
# in ten a string id), its heap size and the process' resident-memory
# growth; 4,000,000 lookups in random order (half listed, half not) and a
# gray decision through `Guard::evaluate`; then a real control plane
# (SQLite in a temporary directory) and a real sidecar following it: the
# upload of the whole list, the time until the sidecar routes a listed id
# to gray, and the same for a version that changes 1,000 ids (a delta).
#
# Settings (environment):
#   IDS=2000000     ids in the list
#   CPUS=0,1        the cores for taskset
# Results and discussion: docs/benchmarks.md ("Gray whitelists at 2
# million ids").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
IDS=${IDS:-2000000}
CPUS=${CPUS:-0,1}
target_dir=${CARGO_TARGET_DIR:-target}
# shellcheck source=bench/lib.sh
source bench/lib.sh

say "cargo build --release -p seawall-server --example whitelist_bench"
cargo build --release -q -p seawall-server --example whitelist_bench
say "$IDS ids"
timeout 600 taskset -c "$CPUS" "$target_dir/release/examples/whitelist_bench" --ids "$IDS"
