#!/usr/bin/env bash
# Monitoring memory benchmark: is the control plane's memory flat over a
# whole event day?
#
#   bash bench/monitor-memory.sh     # ~10 minutes after the release build
#
# Runs crates/server/examples/monitor_day.rs: the real monitoring tick
# (built-in scrape over HTTP of a stand-in sidecar on 127.0.0.1, the
# evaluator, alert transitions and the telemetry history in a real SQLite
# store) every 5 simulated seconds on a ManualClock, HOURS simulated hours
# (24: 17,280 ticks) without sleeping, for a generated plan of ENTRIES
# entries and SERVICES services (about 1,000 series). Prints the process'
# resident memory (VmRSS) and the store's size every simulated hour, then
# start, peak and end RSS and the growth over the last half of the run.
#
# Settings (environment):
#   HOURS=24 ENTRIES=500 SERVICES=500
#   CPU=0                  the core for taskset
# Results and discussion: docs/benchmarks.md ("Monitoring: memory over a
# simulated day").
#
# Only 127.0.0.1 is used; the run is bounded by HOURS × 720 ticks.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
HOURS=${HOURS:-24}
ENTRIES=${ENTRIES:-500}
SERVICES=${SERVICES:-500}
CPU=${CPU:-0}
target_dir=${CARGO_TARGET_DIR:-target}
# shellcheck source=bench/lib.sh
source bench/lib.sh

say "cargo build --release -p seawall-server --example monitor_day"
cargo build --release -q -p seawall-server --example monitor_day
say "a simulated day: $HOURS hours, $ENTRIES entries, $SERVICES services"
pin "$CPU" "$target_dir/release/examples/monitor_day" \
    --hours "$HOURS" --entries "$ENTRIES" --services "$SERVICES"
