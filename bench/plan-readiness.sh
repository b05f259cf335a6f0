#!/usr/bin/env bash
# Large-plan benchmark: `seawall plan readiness` on a generated plan of
# 10,000 services and 50,000 dependency edges (about 5 MB of YAML), whole
# process — read the file, parse within the reader's limits, validate,
# decompose targets, the water-level table, link analysis, the scorecard,
# print it.
#
#   bash bench/plan-readiness.sh      # seconds after the release builds
#
# The plan comes from `seawall_plan::generate::yaml` through the plan
# crate's example `plan-gen` (deterministic: every machine reads the same
# file). Each of RUNS runs is timed from fork to exit; the median, min and
# max wall time and the median CPU time (user + system) are printed, then
# where the time goes inside one process (`plan-gen --phases`).
#
# Settings (environment):
#   SERVICES=10000 EDGES=50000  size of the generated plan
#   RUNS=11                     timed runs (each bounded by 60 s)
#   CPUS=0,1                    the cores the runs may use (taskset), 2 cores
#   MAX_MS=                     fail (exit 1) when the median is above this
#   SEAWALL=PATH PLAN_GEN=PATH  use these binaries (else release builds in
#                               CARGO_TARGET_DIR, default target/)
#   OUT=DIR                     keep the plan and the timings there
# Results and discussion: docs/benchmarks.md ("Large plans").
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
SERVICES=${SERVICES:-10000}
EDGES=${EDGES:-50000}
RUNS=${RUNS:-11}
CPUS=${CPUS:-0,1}
target_dir=${CARGO_TARGET_DIR:-target}
# shellcheck source=bench/lib.sh
source bench/lib.sh

build_seawall
plan_gen=${PLAN_GEN:-$target_dir/release/examples/plan-gen}
if [[ -z "${PLAN_GEN:-}" ]]; then
    say "cargo build --release -p seawall-plan --example plan-gen"
    cargo build --release -q -p seawall-plan --example plan-gen
fi

work=${OUT:-$(mktemp -d /tmp/seawall-plan-bench.XXXXXX)}
mkdir -p "$work"
cleanup() { [[ -n "${OUT:-}" ]] || rm -rf "$work"; }
trap cleanup EXIT

plan=$work/plan.yaml
say "generating a plan of $SERVICES services and $EDGES edges"
timeout 120 "$plan_gen" "$SERVICES" "$EDGES" >"$plan"
printf 'plan: %s bytes, %s lines\n' "$(wc -c <"$plan")" "$(wc -l <"$plan")"

say "warm-up run"
pin "$CPUS" timeout 60 "$seawall" plan readiness "$plan" >"$work/out.txt"
head -n 8 "$work/out.txt"

say "$RUNS timed runs of seawall plan readiness (cores $CPUS)"
# Wall time from fork to exit and the child's CPU time (user + system),
# per run; then the median, min and max.
cpu_list=$CPUS RUNS=$RUNS python3 - "$seawall" "$plan" "$work" <<'PY' | tee "$work/summary.txt"
import os, resource, shutil, statistics, subprocess, sys, time
seawall, plan, work = sys.argv[1:4]
runs = int(os.environ["RUNS"])
cmd = [seawall, "plan", "readiness", plan]
if shutil.which("taskset"):
    cmd = ["taskset", "-c", os.environ["cpu_list"]] + cmd
walls, cpus = [], []
for i in range(runs):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(os.path.join(work, "out.txt"), "wb") as out:
        subprocess.run(cmd, stdout=out, check=True, timeout=60)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    walls.append(wall)
    cpus.append(cpu)
    print(f"run {i + 1:2d}: {wall:6.0f} ms wall, {cpu:6.0f} ms CPU")
print()
print(f"median {statistics.median(walls):.0f} ms wall (min {min(walls):.0f}, max {max(walls):.0f}), "
      f"median {statistics.median(cpus):.0f} ms CPU over {runs} runs")
with open(os.path.join(work, "median_ms"), "w") as f:
    f.write(f"{statistics.median(walls):.0f}\n")
PY
med=$(cat "$work/median_ms")
printf 'load average: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"

say "phases inside one process (plan-gen --phases)"
pin "$CPUS" timeout 120 "$plan_gen" "$SERVICES" "$EDGES" --phases

if [[ -n "${MAX_MS:-}" && "$med" -gt "$MAX_MS" ]]; then
    echo "median $med ms is above MAX_MS=$MAX_MS" >&2
    exit 1
fi
