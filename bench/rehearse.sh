#!/usr/bin/env bash
# Scenario-runner benchmark: `seawall rehearse` walking a three-step
# journey (templated body and header from CSV, a JSON value extracted from
# one response into the next step's path) against one nginx worker on
# 127.0.0.1, next to `seawall load` sending the same total rate to one URL.
#
#   bash bench/rehearse.sh        # ~1 minute after the build
#
# What it measures (results in docs/benchmarks.md, "Scenario runner"):
#   - the generator's own CPU time (user + system, /usr/bin/time) per
#     completed request, for `rehearse` and for `load` at the same rate;
#   - per-entry accuracy: achieved / intended requests per second;
#   - peak RSS of each run.
#
# Settings (environment):
#   MULTS="1 2.5"     rate multiples; at 1x the plan sends 2,000 rps
#                     (home 1,000, orders 500, pay 500)
#   SECS=10           duration of each run
#   CONNS=256         connection cap
#   PORT=18081        nginx's port on 127.0.0.1
#   NGINX_CPU=0 GEN_CPU=1   cores for taskset (nginx, generator)
#   SEAWALL=PATH      use this seawall binary instead of building one
#
# Needs nginx, jq and /usr/bin/time (Debian: nginx-light jq time); only
# 127.0.0.1 is loaded and every run is bounded by SECS.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
MULTS=${MULTS:-1 2.5}
SECS=${SECS:-10}
CONNS=${CONNS:-256}
PORT=${PORT:-18081}
NGINX_CPU=${NGINX_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
target_dir=${CARGO_TARGET_DIR:-$root/target}

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
need_tools "apt-get install nginx-light jq time" nginx jq /usr/bin/time

build_seawall

work=$(mktemp -d "${TMPDIR:-/tmp}/seawall-rehearse-bench.XXXXXX")
nginx_pid=""
cleanup() {
    if [[ -n $nginx_pid ]]; then
        kill "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/www" "$work/logs" "$work/tmp"
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
        location = /orders { default_type application/json; return 200 '{"data": {"order_id": "o-12345"}}'; }
        location /pay/ { return 200 'paid'; }
    }
}
EOF

# 36e6 orders x 0.1 / 3600 = 1,000 arrivals/s at the first step.
cat >"$work/plan.yaml" <<'EOF'
event: {name: "rehearse bench", timezone: UTC}
goals:
  orders: {total: 36000000}
traffic:
  journeys:
    buy:
      goal: orders
      steps:
        - {entry: home}
        - entry: orders
          conversion: 0.5
          body: '{"user": "{{user_id}}", "city": "{{city}}"}'
          headers: {content-type: application/json}
          extract: {order_id: /data/order_id}
        - entry: pay
          path: "/pay/{{order_id}}"
          headers: {x-user: "{{users.user_id}}"}
entries:
  home: {service: web, path: /home}
  orders: {service: shop, method: POST, path: /orders}
  pay: {service: shop, method: POST, path: /pay}
services:
  web: {instances: 1, capacity_per_instance: 100000}
  shop: {instances: 1, capacity_per_instance: 100000}
rehearsals:
  bench:
    mix: {buy: 1}
    rate: "1x"
    duration: 10s
    data: {users: users.csv}
EOF
{
    echo "user_id,city"
    for i in $(seq 1000); do echo "u-$i,city-$((i % 17))"; done
} >"$work/users.csv"

say "nginx on 127.0.0.1:$PORT (one worker, core $NGINX_CPU)"
if taskset -c "$NGINX_CPU" true 2>/dev/null; then
    taskset -c "$NGINX_CPU" nginx -p "$work" -c "$work/nginx.conf" &
else
    nginx -p "$work" -c "$work/nginx.conf" &
fi
nginx_pid=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

measure() { # measure NAME COMMAND...: pinned, stdout kept, CPU and RSS recorded
    local name=$1
    shift
    pin "$GEN_CPU" /usr/bin/time -f '%U %S %M' -o "$work/$name.time" "$@" \
        >"$work/$name.out" 2>"$work/$name.err" || {
        # exit 1 is a broken SLO or guard: still a measurement
        [[ $? == 1 ]] || { cat "$work/$name.err" >&2; return 1; }
    }
}
cpu_s() { awk '{ printf "%.3f", $1 + $2 }' "$work/$1.time"; }
rss_mib() { awk '{ printf "%.1f", $3 / 1024 }' "$work/$1.time"; }

printf '\nmachine: %s, %s cores, load average %s; nginx %s\n' "$(uname -m)" "$(nproc)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nginx -v 2>&1 | sed 's/.*\///')"
printf '%-9s %-8s %9s %9s %10s %8s %9s  %s\n' run mult "rps" requests "µs CPU/req" "RSS MiB" dropped \
    "achieved / intended per entry"
for m in $MULTS; do
    rate=$(awk -v m="$m" 'BEGIN { print m * 2000 }')
    measure "rehearse-$m" "$seawall" rehearse "$work/plan.yaml" --scenario bench \
        --base-url "http://127.0.0.1:$PORT" --rate-multiple "$m" --duration "${SECS}s" \
        -c "$CONNS" --run-id bench --json
    out=$work/rehearse-$m.out
    n=$(jq '.requests' "$out")
    acc=$(jq -r '[.entries[] | "\(.id) \(.achieved_rps / .intended_qps * 100 | . * 100 | round / 100)%"] | join(", ")' "$out")
    printf '%-9s %-8s %9s %9s %10.2f %8s %9s  %s\n' rehearse "${m}x" "$rate" "$n" \
        "$(awk -v c="$(cpu_s "rehearse-$m")" -v n="$n" 'BEGIN { print c / n * 1e6 }')" \
        "$(rss_mib "rehearse-$m")" "$(jq '.dropped' "$out")" "$acc"
    measure "load-$m" "$seawall" load "http://127.0.0.1:$PORT/home" -r "$rate" -d "${SECS}s" \
        -c "$CONNS" --run-id bench --json
    out=$work/load-$m.out
    n=$(jq '.requests' "$out")
    printf '%-9s %-8s %9s %9s %10.2f %8s %9s  %s\n' load "${rate}rps" "$rate" "$n" \
        "$(awk -v c="$(cpu_s "load-$m")" -v n="$n" 'BEGIN { print c / n * 1e6 }')" \
        "$(rss_mib "load-$m")" "$(jq '.dropped' "$out")" \
        "$(jq -r '"/home \(.achieved_rps / .target_rps * 100 | . * 100 | round / 100)%"' "$out")"
done
