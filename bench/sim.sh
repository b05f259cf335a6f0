#!/usr/bin/env bash
# Simulator benchmark: what `seawall sim` costs per simulated request, and
# how sharp its knee is, with `seawall load` as the generator on 127.0.0.1.
#
#   bash bench/sim.sh          # ~2 minutes after the build
#
# What it measures (results in docs/benchmarks.md, "Simulator"):
#   - cost: an entry on `front` (strong call to `back`, weak call to `side`
#     on every other request: 2.5 simulated requests and 1.5 loopback calls
#     per entry request) far below its capacity, at RATES entry requests per
#     second; the sim's CPU time (user + system from /proc) per entry
#     request, and the entry's p50/p99 next to its 5 + 2 ms service times;
#   - the knee: an entry of capacity KNEE (the sim's ground truth) at
#     0.9×, 0.95×, 1.05× and 1.1× it; p99 and the error rate show where the
#     SLO breaks.
#
# Settings (environment):
#   RATES="500 1000 2000"   entry rates of the cost runs
#   KNEE=400                capacity of the knee entry (requests per second)
#   SECS=10                 duration of each run
#   SIM_CPU=0 GEN_CPU=1     cores for taskset (sim, generator)
#   BASE=127.0.0.1:19300    --listen-base of the sim (4 ports from it)
#   SEAWALL=PATH            use this seawall binary instead of building one
#
# Needs jq; only 127.0.0.1 is loaded and every run is bounded by SECS.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
RATES=${RATES:-500 1000 2000}
KNEE=${KNEE:-400}
SECS=${SECS:-10}
SIM_CPU=${SIM_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
BASE=${BASE:-127.0.0.1:19300}
target_dir=${CARGO_TARGET_DIR:-$root/target}

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
command -v jq >/dev/null || {
    echo "error: jq not found (apt-get install jq)" >&2
    exit 1
}

build_seawall

work=$(mktemp -d "${TMPDIR:-/tmp}/seawall-sim-bench.XXXXXX")
sim_pid=""
cleanup() {
    if [[ -n $sim_pid ]]; then
        kill "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

host=${BASE%:*}
port=${BASE##*:}
cat >"$work/plan.yaml" <<EOF
event: {name: sim benchmark}
entries:
  cost: {service: front, method: GET, path: /api/cost, slo: {p99_ms: 100}}
  knee: {service: gate, method: GET, path: /api/knee, slo: {p99_ms: 100, error_rate: 0.01}}
services:
  front:
    instances: 1
    capacity_per_instance: 1000000
    latency_ms: 5
    dependencies:
      - {to: back, strength: strong, timeout_ms: 500}
      - {to: side, strength: weak, calls: 0.5, timeout_ms: 100, fallback: skip}
  back: {instances: 1, capacity_per_instance: 1000000, latency_ms: 2}
  side: {instances: 1, capacity_per_instance: 1000000, latency_ms: 1}
  gate: {instances: 1, capacity_per_instance: $KNEE, latency_ms: 5, timeout_ms: 1000}
EOF

say "seawall sim on core $SIM_CPU, listen base $BASE"
# taskset execs the sim, so $! is the sim's own pid (its CPU time is read
# from /proc and cleanup stops it).
sim=("$seawall" sim "$work/plan.yaml" --listen-base "$BASE" --format json)
if taskset -c "$SIM_CPU" true 2>/dev/null; then
    taskset -c "$SIM_CPU" "${sim[@]}" >"$work/truth.json" 2>"$work/sim.log" &
else
    "${sim[@]}" >"$work/truth.json" 2>"$work/sim.log" &
fi
sim_pid=$!
started() { kill -0 "$sim_pid" 2>/dev/null && jq -e '.entries | length > 0' "$work/truth.json" >/dev/null 2>&1; }
for _ in $(seq 50); do
    started && break
    sleep 0.1
done
started || {
    echo "error: seawall sim did not start:" >&2
    cat "$work/sim.log" >&2
    exit 1
}
knee=$(jq '.entries[] | select(.id == "knee") | .knee_qps' "$work/truth.json")

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$sim_pid/stat"; }

load() { # load URL RATE: the JSON summary
    pin "$GEN_CPU" "$seawall" load "$1" -r "$2" -d "${SECS}s" -c 1000 --timeout 5s \
        --threads 1 --json
}

printf '\n%-28s %10s %10s %9s %9s %8s %14s\n' "run" "rate" "achieved" "p50 ms" "p99 ms" "errors" "sim CPU µs/req"
for rate in $RATES; do
    before=$(cpu_ticks)
    summary=$(load "http://$host:$port/api/cost" "$rate")
    after=$(cpu_ticks)
    jq -r --arg run "cost (2.5 sim req / req)" --argjson cpu "$((after - before))" \
        --argjson ticks "$ticks" '
        [$run, .target_rps, (.achieved_rps | floor), .latency_ms.p50, .latency_ms.p99,
         (.errors.total + .dropped),
         (($cpu / $ticks * 1e6) / ([.requests, 1] | max) | floor)]
        | @tsv' <<<"$summary" |
        awk -F'\t' '{printf "%-28s %10s %10s %9.2f %9.2f %8s %14s\n", $1, $2, $3, $4, $5, $6, $7}'
done

gate=$(jq -r '.entries[] | select(.id == "knee") | .url' "$work/truth.json")
for mult in 0.9 0.95 1.05 1.1; do
    rate=$(awk -v k="$knee" -v m="$mult" 'BEGIN { printf "%.0f", k * m }')
    summary=$(load "$gate" "$rate")
    jq -r --arg run "knee ${mult}× of $knee" '
        [$run, .target_rps, (.achieved_rps | floor), .latency_ms.p50, .latency_ms.p99,
         (((.errors.total + .dropped) / ([.requests, 1] | max) * 1000 | floor) / 10 | tostring + " %"), "-"]
        | @tsv' <<<"$summary" |
        awk -F'\t' '{printf "%-28s %10s %10s %9.2f %9.2f %8s %14s\n", $1, $2, $3, $4, $5, $6, $7}'
    sleep 2 # let the queue drain between runs
done
