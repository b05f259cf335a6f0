#!/usr/bin/env bash
# Rehearsal-agent benchmark: what streaming to the control plane costs.
#
#   bash bench/agents.sh          # ~11 minutes after the builds
#
# What it measures (results in docs/benchmarks.md, "Rehearsal agents"):
#   (a) CPU per request: one `seawall agent` (its whole process: the
#       engine, the once-a-second HDR snapshots, their posts, the control
#       long poll) running a one-entry scenario at RATE against one nginx
#       worker, next to `seawall rehearse` in one process and `seawall
#       load` at the same rate to the same URL; each pinned to core
#       GEN_CPU, with nginx, the control plane and the fleet's client on
#       NGINX_CPU. Each generator runs for SHORT and for SECS seconds: the
#       marginal CPU per request, (CPU at SECS − CPU at SHORT) ÷ (requests
#       at SECS − requests at SHORT), is what a request costs with every
#       once-a-second cost (snapshots, posts, guards) included and each
#       process's start (plan, registration) left out; the whole-process
#       figure is shown too. CPU from `perf stat -e task-clock` (exact)
#       where perf works, else user + system from /usr/bin/time (10 ms
#       ticks). A virtual machine's CPU per request moves by ±20 % from
#       one run to the next, so every round yields its own ratios (the
#       generators take turns in an order rotated each round) and the
#       verdict is their median, shown with the range; the pooled figure
#       over all rounds is shown too;
#   (b) merge cost: seawall-load's `merge_cost_per_agent_second` (ignored
#       by default) in release: one entry-second of 5,000 requests decoded
#       (V2, deflate, base64) and added, 2,000 times.
#
# Settings (environment):
#   RATE=2000         requests per second of every run
#   SECS=20           duration of each long run
#   SHORT=5           duration of each short run
#   REPS=7            rounds; the three generators take turns in each
#   CONNS=256         connection cap
#   PORT=18082 CONTROL_PORT=18083   nginx's and the control plane's ports
#   NGINX_CPU=0 GEN_CPU=1           cores for taskset (nginx, generator)
#   SEAWALL=PATH      use this seawall binary instead of building one
#
# Needs nginx, jq and /usr/bin/time (Debian: nginx-light jq time); only
# 127.0.0.1 is loaded and every run is bounded by SECS.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
RATE=${RATE:-2000}
SECS=${SECS:-20}
SHORT=${SHORT:-5}
REPS=${REPS:-7}
CONNS=${CONNS:-256}
PORT=${PORT:-18082}
CONTROL_PORT=${CONTROL_PORT:-18083}
NGINX_CPU=${NGINX_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
target_dir=${CARGO_TARGET_DIR:-$root/target}

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
need_tools "apt-get install nginx-light jq time" nginx jq /usr/bin/time

build_seawall

work=$(mktemp -d "${TMPDIR:-/tmp}/seawall-agents-bench.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/www" "$work/logs" "$work/tmp" "$work/data"
head -c 1024 /dev/zero | tr '\0' 'x' >"$work/www/home"
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process off;
pid $work/nginx.pid;
error_log $work/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_temp_path $work/tmp;
    server {
        listen 127.0.0.1:$PORT;
        location = /home { root $work/www; }
    }
}
EOF

# 3.6e6 visits x 0.1 / 3600 = 100 arrivals/s at multiple 1.
cat >"$work/plan.yaml" <<'EOF'
event: {name: "agents bench", timezone: UTC}
goals:
  visits: {total: 3600000}
traffic:
  journeys:
    visit:
      goal: visits
      steps:
        - {entry: home}
entries:
  home: {service: web, path: /home}
services:
  web: {instances: 1, capacity_per_instance: 1000000}
rehearsals:
  bench:
    mix: {visit: 1}
    rate: "1x"
    duration: 10s
EOF
mult=$(awk -v r="$RATE" 'BEGIN { print r / 100 }')

# Background processes are started under taskset itself (not through
# `pin`, a function: killing its subshell would leave the process behind).
on_nginx_cpu=()
taskset -c "$NGINX_CPU" true 2>/dev/null && on_nginx_cpu=(taskset -c "$NGINX_CPU")
say "nginx on 127.0.0.1:$PORT (one worker, core $NGINX_CPU)"
"${on_nginx_cpu[@]}" nginx -p "$work" -c "$work/nginx.conf" &
pids+=($!)
say "seawall serve on 127.0.0.1:$CONTROL_PORT (core $NGINX_CPU)"
"${on_nginx_cpu[@]}" "$seawall" serve --listen "127.0.0.1:$CONTROL_PORT" --data-dir "$work/data" \
    >"$work/serve.log" 2>&1 &
pids+=($!)
control=http://127.0.0.1:$CONTROL_PORT
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null &&
        (exec 3<>"/dev/tcp/127.0.0.1/$CONTROL_PORT") 2>/dev/null &&
        [[ -s $work/data/admin-token ]] && break
    sleep 0.1
done
token=$(cat "$work/data/admin-token")

# CPU seconds of a whole process: perf's task-clock (exact) where it
# works, else /usr/bin/time's user + system.
if perf stat -e task-clock -x, -o /dev/null true 2>/dev/null; then
    clock=perf
else
    clock=time
fi
measure() { # measure NAME COMMAND...: pinned, CPU recorded
    local name=$1
    shift
    local timer=(/usr/bin/time -f '%U %S %M' -o "$work/$name.time")
    [[ $clock == perf ]] && timer=(perf stat -e task-clock -x, -o "$work/$name.time")
    pin "$GEN_CPU" "${timer[@]}" "$@" \
        >"$work/$name.out" 2>"$work/$name.err" || {
        [[ $? == 1 ]] || { cat "$work/$name.err" >&2; return 1; }
    }
}
cpu_s() {
    if [[ $clock == perf ]]; then
        awk -F, '/task-clock/ { printf "%.4f", $1 / 1000 }' "$work/$1.time"
    else
        awk '{ printf "%.3f", $1 + $2 }' "$work/$1.time"
    fi
}

# Totals per generator and duration ("load short", "load long", ...).
# and each generator's last run of each length (for the round's figure).
declare -A cpu=() reqs=() last=() per=()
add() { # add KIND LENGTH NAME REQUESTS
    cpu[$1 $2]=$(awk -v a="${cpu[$1 $2]:-0}" -v b="$(cpu_s "$3")" 'BEGIN { print a + b }')
    reqs[$1 $2]=$((${reqs[$1 $2]:-0} + $4))
    last[$1 $2]=$4
}
run() { # run KIND LENGTH SECONDS NAME
    local kind=$1 length=$2 secs=$3 name=$4
    case $kind in
    load)
        measure "$name" "$seawall" load "http://127.0.0.1:$PORT/home" -r "$RATE" \
            -d "${secs}s" -c "$CONNS" --run-id bench --json
        add load "$length" "$name" "$(jq '.requests' "$work/$name.out")"
        ;;
    rehearse)
        measure "$name" "$seawall" rehearse "$work/plan.yaml" --scenario bench \
            --base-url "http://127.0.0.1:$PORT" --rate-multiple "$mult" --duration "${secs}s" \
            -c "$CONNS" --run-id bench --json
        add rehearse "$length" "$name" "$(jq '.requests' "$work/$name.out")"
        ;;
    agent)
        # The agent's whole process, from registration to its exit after one run.
        measure "$name" "$seawall" agent --control "$control" --token "$token" \
            --name "bench-agent" --runs 1 &
        local agent=$! id=""
        # This agent, by the id it registered as: it replaces the one of
        # the same name before it, which may still count as live.
        for _ in $(seq 100); do
            id=$(sed -n 's/.*registered as \(a-[0-9]*\).*/\1/p' "$work/$name.err" | head -1)
            [[ -n $id ]] &&
                pin "$NGINX_CPU" curl -fs -H "authorization: Bearer $token" "$control/api/v1/fleet/agents" 2>/dev/null |
                jq -e --arg id "$id" '[.agents[] | select(.status == "idle")] | length == 1 and .[0].id == $id' \
                    >/dev/null && break
            sleep 0.1
        done
        SEAWALL_TOKEN=$token pin "$NGINX_CPU" "$seawall" rehearse "$work/plan.yaml" --scenario bench \
            --base-url "http://127.0.0.1:$PORT" --rate-multiple "$mult" --duration "${secs}s" \
            -c "$CONNS" --run-id bench --agents 1 --control "$control" --json \
            >"$work/$name.fleet.json" 2>"$work/$name.fleet.err" || true
        wait "$agent" || true
        add agent "$length" "$name" "$(jq '.requests' "$work/$name.fleet.json")"
        ;;
    esac
}
kinds=(load rehearse agent)
for round in $(seq "$REPS"); do
    # Rotated each round, so no generator always runs first or last.
    order=()
    for i in 0 1 2; do order+=("${kinds[$(((round + i) % 3))]}"); done
    say "round $round of $REPS: ${order[*]} at $RATE rps for ${SHORT}s and ${SECS}s"
    for kind in "${order[@]}"; do
        run "$kind" short "$SHORT" "$kind-$round-short"
        run "$kind" long "$SECS" "$kind-$round-long"
        # This round's marginal CPU per request, in µs.
        per[$kind $round]=$(awk -v c1="$(cpu_s "$kind-$round-short")" -v c2="$(cpu_s "$kind-$round-long")" \
            -v n1="${last[$kind short]}" -v n2="${last[$kind long]}" \
            'BEGIN { printf "%.3f", (c2 - c1) / (n2 - n1) * 1e6 }')
    done
done

printf '\nmachine: %s, %s cores, load average %s; nginx %s\n' "$(uname -m)" "$(nproc)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nginx -v 2>&1 | sed 's/.*\///')"
printf '\n(a) %s rounds x (%s s and %s s) at %s rps; CPU from %s\n' "$REPS" "$SHORT" "$SECS" "$RATE" \
    "$([[ $clock == perf ]] && echo "perf task-clock" || echo "/usr/bin/time")"
printf '\nmarginal µs per request, each round:\n%-6s %9s %9s %9s %12s %12s %12s\n' round load rehearse \
    agent "agent/load" "reh./load" "agent/reh."
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
declare -A ratios=()
for round in $(seq "$REPS"); do
    l=${per[load $round]} r=${per[rehearse $round]} a=${per[agent $round]}
    ratios[agent/load]+="$(ratio "$a" "$l") "
    ratios[rehearse/load]+="$(ratio "$r" "$l") "
    ratios[agent/rehearse]+="$(ratio "$a" "$r") "
    printf '%-6s %9s %9s %9s %12s %12s %12s\n' "$round" "$l" "$r" "$a" "$(ratio "$a" "$l")" \
        "$(ratio "$r" "$l")" "$(ratio "$a" "$r")"
done
median_range() { # the median of the numbers given, and their range
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.3f (range %.3f-%.3f)", m, v[1], v[NR] }'
}
printf '\nmedian of the rounds:\n'
for k in agent/load rehearse/load agent/rehearse; do
    # shellcheck disable=SC2086 # one number per word
    printf '  %-15s %s\n' "$k" "$(median_range ${ratios[$k]})"
done

printf '\npooled over the rounds:\n%-9s %9s %8s %15s %9s %12s %15s\n' generator requests "CPU s" \
    "marginal µs/req" "vs load" "vs rehearse" "whole µs/req"
marginal() {
    awk -v c1="${cpu[$1 short]}" -v c2="${cpu[$1 long]}" -v n1="${reqs[$1 short]}" -v n2="${reqs[$1 long]}" \
        'BEGIN { printf "%.2f", (c2 - c1) / (n2 - n1) * 1e6 }'
}
whole() { awk -v c="${cpu[$1 long]}" -v n="${reqs[$1 long]}" 'BEGIN { printf "%.2f", c / n * 1e6 }'; }
for k in load rehearse agent; do
    printf '%-9s %9s %8s %15s %9s %12s %15s\n' "$k" "${reqs[$k long]}" "${cpu[$k long]}" "$(marginal "$k")" \
        "$(awk -v a="$(marginal "$k")" -v b="$(marginal load)" 'BEGIN { printf "%.3f", a / b }')" \
        "$(awk -v a="$(marginal "$k")" -v b="$(marginal rehearse)" 'BEGIN { printf "%.3f", a / b }')" \
        "$(whole "$k")"
done

say "(b) merge cost (cargo test --release -p seawall-load merge_cost_per_agent_second)"
cargo test --release -q -p seawall-load --lib merge_cost_per_agent_second -- --ignored --nocapture 2>&1 |
    grep '^merge:'
