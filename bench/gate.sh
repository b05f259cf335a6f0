#!/usr/bin/env bash
# Control-plane benchmark: the change gate's throughput and latency on
# SQLite and on PostgreSQL, and how long a guard rule change takes from
# the API to a following sidecar.
#
#   bash bench/gate.sh            # ~2 minutes after the release build
#
# For each database (SQLite in a fresh data dir; PostgreSQL in a throwaway
# cluster made with initdb under $work, on a Unix socket, default
# durability settings) a release `seawall serve` gets an event whose plan
# freezes releases to order-api around now, and a ci token. Then:
#   open model:  `seawall load -r RATE -d SECS` POSTs the same gate question
#                (`/api/v1/gate/check`, a refused release, recorded like any
#                other) at a fixed rate, latency from the intended send time;
#                achieved rate, p50/p99/max, errors and dropped arrivals.
#   closed loop: `seawall load -c CONNS -d CLOSED_SECS`: the most checks per
#                second the server completes with CONNS requests in flight.
# Every check writes a change record and its hash-chained audit entry in
# one transaction, so these are write rates.
#
# Rule push-to-applied (SQLite server): `seawall sidecar --control` follows
# order-api's rules; PUSHES times, PUT a changed rule set
# (`/api/v1/guard/services/order-api/rules`) and poll the sidecar's admin
# `GET /status` every 5 ms until its `version` is the new one; the time
# from sending the PUT to seeing the version: median, p99, max.
#
# Settings (environment):
#   RATE=1000 SECS=15         open-model rate and duration
#   P99_TARGET_MS=50          the open model's target: RATE held (nothing
#                             dropped, no errors) with p99 under this; each
#                             backend's verdict is printed with the table
#   CONNS=16 CLOSED_SECS=10   closed-loop connections and duration
#   PUSHES=20                 rule pushes
#   BASE_PORT=18280           ports BASE_PORT … BASE_PORT+3 on 127.0.0.1
#   BACKENDS="sqlite postgres"
#   SERVER_CPU=0 LOAD_CPU=1   the server (and PostgreSQL) on one core, the
#                             load generator on the other (taskset)
#   SERVER_ARGS="..."         more `seawall serve` flags (e.g. --header-timeout 30s)
#   SEAWALL=PATH              use this seawall binary (else a release build
#                             in CARGO_TARGET_DIR, default /work/target-bench)
#   SKIP_INSTALL=1            do not apt-get anything
#   OUT=DIR                   keep the load summaries, the table and logs there
# Results and discussion: docs/benchmarks.md ("Control plane").
#
# Only 127.0.0.1 is loaded; every run and every wait is bounded.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RATE=${RATE:-1000}
SECS=${SECS:-15}
P99_TARGET_MS=${P99_TARGET_MS:-50}
CONNS=${CONNS:-16}
CLOSED_SECS=${CLOSED_SECS:-10}
PUSHES=${PUSHES:-20}
BASE_PORT=${BASE_PORT:-18280}
BACKENDS=${BACKENDS:-sqlite postgres}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-bench}
target_dir=$CARGO_TARGET_DIR
# shellcheck source=bench/lib.sh
source bench/lib.sh

if [[ "${SKIP_INSTALL:-}" != 1 ]]; then
    missing=()
    for tool in curl:curl jq:jq python3:python3 taskset:util-linux; do
        command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
    done
    [[ " $BACKENDS " == *" postgres "* ]] && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null &&
        missing+=(postgresql)
    if [[ ${#missing[@]} -gt 0 ]]; then
        say "apt-get install ${missing[*]}"
        sudo=""
        [[ $(id -u) -ne 0 ]] && sudo="sudo"
        $sudo apt-get update -q
        $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
fi

build_seawall

work=$(mktemp -d /tmp/seawall-gate-bench.XXXXXX)
chmod 755 "$work"
pids=()
pg_bin=""
pg_user=""
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n "$pg_bin" && -f "$work/pg/postmaster.pid" ]]; then
        pg "$pg_bin/pg_ctl" -D "$work/pg" -m immediate -w -s stop || true
    fi
    if [[ -n "${OUT:-}" ]]; then
        mkdir -p "$OUT"
        cp "$work"/*.json "$work"/*.md "$work"/*.txt "$work"/*.log "$OUT"/ 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

spawn() { # spawn CPU COMMAND...: in the background on that core; sets `spawned`
    local cpu=$1
    shift
    if taskset -c "$cpu" true 2>/dev/null; then
        taskset -c "$cpu" "$@" &
    else
        "$@" &
    fi
    spawned=$!
    pids+=("$spawned")
}

pg() { # run a PostgreSQL program as the postgres user when we are root
    if [[ -n "$pg_user" ]]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi
}

port=$BASE_PORT
base="http://127.0.0.1:$port"

wait_http() { # wait_http URL: until it answers, at most 30 s
    local i
    for ((i = 0; i < 300; i++)); do
        curl -sf -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "error: $1 did not answer within 30 s" >&2
    return 1
}

api() { # api METHOD PATH [BODY]: with the admin token, fail on HTTP errors
    local args=(-sS --fail-with-body -X "$1" -H "authorization: Bearer $admin")
    [[ $# -ge 3 ]] && args+=(-H 'content-type: application/json' --data-binary "$3")
    curl "${args[@]}" "$base$2"
}

iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

start_server() { # start_server NAME [DB_URL]: sets server_pid, admin
    local name=$1 db=${2:-}
    local dir="$work/$name"
    # The per-token write rate (default 20/s) is a policy, not the store's
    # throughput, which this measures: lifted here.
    local args=(serve --listen "127.0.0.1:$port" --data-dir "$dir" --log-level warn
        --write-rate 1000000 --write-burst 1000000)
    # shellcheck disable=SC2206 # split on purpose: several flags
    [[ -n "${SERVER_ARGS:-}" ]] && args+=($SERVER_ARGS)
    [[ -n "$db" ]] && args+=(--db "$db")
    if curl -s -o /dev/null "$base/healthz"; then
        echo "error: something already answers on $base; stop it or set BASE_PORT" >&2
        exit 1
    fi
    spawn "$SERVER_CPU" "$seawall" "${args[@]}" 2>"$work/$name.log"
    server_pid=$spawned
    wait_http "$base/healthz"
    admin=$(cat "$dir/admin-token")
    local now
    now=$(date +%s)
    cat >"$work/plan.yaml" <<EOF
event: {name: Gate Bench, timezone: UTC}
organization:
  business_lines:
    bike: {name: Bike, services: [order-api]}
goals:
  orders: {total: 360000, peak_hour_share: 0.1, peak_factor: 1.0}
traffic:
  journeys:
    ride:
      goal: orders
      steps:
        - {entry: create-order}
entries:
  create-order: {service: order-api, method: POST, path: /api/orders}
services:
  order-api: {line: bike, tier: frontend, instances: 2, capacity_per_instance: 10}
freeze:
  windows:
    bench:
      start: "$(iso $((now - 3600)))"
      end: "$(iso $((now + 3600)))"
      kinds: [release]
      reason: benchmark freeze
EOF
    api POST /api/v1/events '{"slug": "bench", "name": "Gate Bench"}' >/dev/null
    api POST /api/v1/events/bench/plans \
        "$(jq -n --rawfile text "$work/plan.yaml" '{file_name: "plan.yaml", text: $text}')" >/dev/null
    ci=$(api POST /api/v1/tokens '{"name": "bench-ci", "role": "ci", "event": "bench"}' | jq -r .secret)
    printf '%s' '{"service": "order-api", "kind": "release", "change_ref": "bench"}' >"$work/check.json"
    # One check by hand: the answer the load repeats.
    local answer
    answer=$(curl -sS --fail-with-body -X POST -H "authorization: Bearer $ci" \
        -H 'content-type: application/json' --data-binary @"$work/check.json" \
        "$base/api/v1/gate/check")
    [[ $(jq -r .allowed <<<"$answer") == false ]] || {
        echo "error: the bench plan should freeze the check: $answer" >&2
        exit 1
    }
}

stop_server() {
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
}

load() { # load NAME ARGS...: seawall load against the gate, JSON summary to $work/NAME.json
    local name=$1
    shift
    pin "$LOAD_CPU" "$seawall" load "$base/api/v1/gate/check" -m POST --body @"$work/check.json" \
        -H "authorization: Bearer $ci" -H 'content-type: application/json' \
        --json "$@" >"$work/$name.json" 2>"$work/$name.err"
}

verdict() { # verdict LABEL FILE: whether an open-model run held RATE with p99 under target
    jq -r --arg what "$1" --argjson rate "$RATE" --argjson p99 "$P99_TARGET_MS" '
        (.dropped == 0 and .errors.total == 0 and .latency_ms.p99 < $p99) as $met
        | "\($what): \(.achieved_rps | round) checks/s of \($rate) offered, \(.dropped) dropped, "
          + "\(.errors.total) errors, p99 \(.latency_ms.p99 * 100 | round / 100) ms — target "
          + "(\($rate)/s, nothing dropped, p99 < \($p99) ms) \(if $met then "met" else "NOT met" end)"' "$2"
}

row() { # row LABEL FILE: a Markdown table row from a load summary
    jq -r --arg what "$1" '
        def ms: . * 100 | round / 100;
        "| \($what) | \(.achieved_rps | round) | \(.latency_ms.p50 | ms) | \(.latency_ms.p99 | ms) | \(.latency_ms.max | ms) | \(.errors.total) | \(.dropped) |"' "$2"
}

start_postgres() { # sets pg_url
    pg_bin=$(dirname "$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -1)")
    [[ $(id -u) -eq 0 ]] && pg_user=postgres
    mkdir -p "$work/pg"
    [[ -n "$pg_user" ]] && chown "$pg_user" "$work/pg"
    pg "$pg_bin/initdb" -D "$work/pg" -U postgres --auth=trust -E UTF8 >"$work/initdb.log"
    pg "$pg_bin/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w -t 60 -s \
        -o "-c listen_addresses='' -k $work/pg" start
    # Pin PostgreSQL to the server's core too: together they are "the control plane".
    if taskset -c "$SERVER_CPU" true 2>/dev/null; then
        local pid
        pid=$(head -1 "$work/pg/postmaster.pid")
        taskset -a -p -c "$SERVER_CPU" "$pid" >/dev/null || true
    fi
    pg_url="postgres://postgres@localhost/postgres?host=$work/pg"
}

say "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
{
    echo "| database | mode | checks/s | p50 ms | p99 ms | max ms | errors | dropped |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
} >"$work/table.md"

for backend in $BACKENDS; do
    case $backend in
        sqlite) start_server sqlite ;;
        postgres)
            start_postgres
            start_server postgres "$pg_url"
            ;;
        *)
            echo "error: unknown backend $backend (sqlite, postgres)" >&2
            exit 2
            ;;
    esac
    say "$backend: open model, $RATE checks/s for ${SECS}s"
    load "$backend-open" -r "$RATE" -d "${SECS}s"
    row "$backend | open $RATE/s" "$work/$backend-open.json" | tee -a "$work/table.md"
    verdict "$backend" "$work/$backend-open.json" | tee -a "$work/verdict.txt"
    say "$backend: closed loop, $CONNS connections for ${CLOSED_SECS}s"
    load "$backend-closed" -c "$CONNS" -d "${CLOSED_SECS}s"
    row "$backend | closed -c $CONNS" "$work/$backend-closed.json" | tee -a "$work/table.md"
    records=$(api GET "/api/v1/gate/changes?event=bench&limit=10000" | jq '.changes | length')
    say "$backend: $records change records listed (at most 10,000)"
    stop_server
    if [[ $backend == postgres ]]; then
        pg "$pg_bin/pg_ctl" -D "$work/pg" -m fast -w -s stop
    fi
done

# ------------------------------------------------------------ rule push-to-applied
say "rule push-to-applied: $PUSHES pushes through a following sidecar (SQLite)"
rm -rf "$work/sqlite"
start_server sqlite
viewer=$(api POST /api/v1/tokens '{"name": "bench-sidecar", "role": "sidecar", "service": "order-api"}' | jq -r .secret)
rules() { # rules COUNT: a rule document for order-api with this QPS limit
    jq -n --argjson n "$1" '{rules: {version: 0, resources: [{name: "order-api",
        flow: [{id: "order-qps", count: $n}]}]}, note: "bench push \($n)"}'
}
api PUT /api/v1/guard/services/order-api/rules "$(rules 1000)" >/dev/null
admin_port=$((port + 3))
spawn "$SERVER_CPU" "$seawall" sidecar --listen "127.0.0.1:$((port + 1))" \
    --upstream "http://127.0.0.1:$((port + 2))" --rules "$work/rules.json" \
    --admin-listen "127.0.0.1:$admin_port" \
    --control "$base" --service order-api --token "$viewer" 2>"$work/sidecar.log"
wait_http "http://127.0.0.1:$admin_port/healthz"

PUSHES=$PUSHES BASE=$base ADMIN="$admin" STATUS="http://127.0.0.1:$admin_port/status" \
    python3 - <<'EOF' | tee "$work/push.txt"
import http.client, json, os, statistics, time, urllib.parse

base = urllib.parse.urlparse(os.environ["BASE"])
status = urllib.parse.urlparse(os.environ["STATUS"])
headers = {"authorization": "Bearer " + os.environ["ADMIN"], "content-type": "application/json"}

def sidecar_version(conn):
    conn.request("GET", status.path)
    r = conn.getresponse()
    return json.loads(r.read())["version"]

api = http.client.HTTPConnection(base.hostname, base.port, timeout=10)
side = http.client.HTTPConnection(status.hostname, status.port, timeout=10)
# The first version must be in force before the first push is timed.
deadline = time.monotonic() + 10
while sidecar_version(side) != 1:
    if time.monotonic() > deadline:
        raise SystemExit("the sidecar did not apply version 1 within 10 s")
    time.sleep(0.005)
samples = []
for i in range(int(os.environ["PUSHES"])):
    body = json.dumps({"rules": {"version": 0, "resources": [{"name": "order-api",
            "flow": [{"id": "order-qps", "count": 1001 + i}]}]}, "note": f"bench push {i}"})
    t0 = time.monotonic()
    api.request("PUT", base.path + "/api/v1/guard/services/order-api/rules", body, headers)
    r = api.getresponse()
    answer = json.loads(r.read())
    if r.status != 201:
        raise SystemExit(f"PUT answered {r.status}: {answer}")
    want = answer["version"]
    deadline = t0 + 10
    while sidecar_version(side) != want:
        if time.monotonic() > deadline:
            raise SystemExit(f"version {want} not applied within 10 s")
        time.sleep(0.005)
    samples.append((time.monotonic() - t0) * 1000)
    time.sleep(0.2)  # let the sidecar's report and next long poll settle
samples.sort()
p99 = samples[min(len(samples) - 1, int(round(0.99 * (len(samples) - 1))))]
print(f"push-to-applied over {len(samples)} pushes: median {statistics.median(samples):.1f} ms, "
      f"p99 {p99:.1f} ms, max {samples[-1]:.1f} ms, min {samples[0]:.1f} ms")
EOF

say "results"
cat "$work/table.md"
cat "$work/verdict.txt"
cat "$work/push.txt"
say "machine after the runs: load average $(cut -d' ' -f1-3 /proc/loadavg)"
