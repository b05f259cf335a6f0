#!/usr/bin/env bash
# Control-plane read benchmark: what the API's read paths cost on SQLite.
#
#   bash bench/api.sh            # ~1 minute after the release build
#
# A release `seawall serve` (SQLite in a fresh data dir) gets the event
# `carnival` with examples/carnival/plan.yaml and one rehearsal result,
# and a viewer token. Then, for each endpoint, `seawall load -r RATE -d
# SECS` sends GETs at a fixed rate (open model: latency from the intended
# send time) with the token, and prints the achieved rate, p50 / p99 / max
# latency, errors and dropped arrivals:
#   /healthz                                  no auth, no database
#   /api/v1/events/carnival                   token lookup + one read
#   /api/v1/events/carnival/plan/targets      + the plan read and parsed
#   /api/v1/events/carnival/plan/capacity     + runs read, water levels
#   /api/v1/events/carnival/plan/readiness    + link analysis, scorecard
#
# Settings (environment):
#   RATE=500 SECS=10          rate and duration per endpoint
#   PORT=18380                the server's port on 127.0.0.1
#   SERVER_CPU=0 LOAD_CPU=1   the server on one core, the load on the other
#   SEAWALL=PATH              use this seawall binary (else a release build)
# Results and discussion: docs/benchmarks.md ("Control plane: reads").
#
# Only 127.0.0.1 is loaded; every run and every wait is bounded.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RATE=${RATE:-500}
SECS=${SECS:-10}
PORT=${PORT:-18380}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
target_dir=${CARGO_TARGET_DIR:-target}
# shellcheck source=bench/lib.sh
source bench/lib.sh
command -v python3 >/dev/null || { echo "bench/api.sh needs python3" >&2; exit 2; }

build_seawall

work=$(mktemp -d /tmp/seawall-api-bench.XXXXXX)
server_pid=""
cleanup() {
    [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

say "seawall serve on 127.0.0.1:$PORT (SQLite in $work)"
serve=("$seawall" serve --listen "127.0.0.1:$PORT" --data-dir "$work/data" --log-level warn)
# taskset execs the server, so $! is the server itself (cleanup kills it).
if taskset -c "$SERVER_CPU" true 2>/dev/null; then
    taskset -c "$SERVER_CPU" "${serve[@]}" 2>"$work/serve.log" &
else
    "${serve[@]}" 2>"$work/serve.log" &
fi
server_pid=$!
for _ in $(seq 1 100); do
    [[ -s "$work/data/admin-token" ]] && break
    sleep 0.1
done
[[ -s "$work/data/admin-token" ]] || { cat "$work/serve.log" >&2; exit 1; }
export SEAWALL_SERVER="http://127.0.0.1:$PORT"
SEAWALL_TOKEN=$(cat "$work/data/admin-token")
export SEAWALL_TOKEN

cat >"$work/run.json" <<'EOF'
{"schema": "seawall.run/v1", "scenario": "bench", "entries": [], "services": []}
EOF
"$seawall" push examples/carnival/plan.yaml --event carnival --create --results "$work/run.json" >&2
viewer=$("$seawall" token create bench-viewer --role viewer 2>/dev/null)

printf '%-42s %10s %9s %9s %9s %7s %8s\n' endpoint "rps" "p50 ms" "p99 ms" "max ms" errors dropped
for path in /healthz /api/v1/events/carnival /api/v1/events/carnival/plan/targets \
    /api/v1/events/carnival/plan/capacity /api/v1/events/carnival/plan/readiness; do
    pin "$LOAD_CPU" "$seawall" load "$SEAWALL_SERVER$path" -r "$RATE" -d "${SECS}s" \
        -H "authorization: Bearer $viewer" --json >"$work/load.json" 2>/dev/null || true
    python3 - "$path" "$work/load.json" <<'EOF'
import json, sys
path, file = sys.argv[1], sys.argv[2]
s = json.load(open(file))
l = s["latency_ms"]
print(f'{path:<42} {s["achieved_rps"]:10.1f} {l["p50"]:9.2f} {l["p99"]:9.2f} {l["max"]:9.2f} '
      f'{s["errors"]["total"]:7d} {s["dropped"]:8d}')
EOF
done
