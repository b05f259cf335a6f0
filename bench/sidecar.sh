#!/usr/bin/env bash
# Sidecar benchmark: `seawall sidecar` beside nginx `proxy_pass` and nginx
# `limit_req`, all in front of the same upstream (one nginx worker serving
# a small static file), driven by wrk on 127.0.0.1.
#
#   bash bench/sidecar.sh          # ~3 minutes after the release build
#
# For each target — direct upstream, nginx proxy_pass, nginx limit_req,
# sidecar with pass-through rules, sidecar with a rate-limit rule — two wrk
# runs:
#   throughput: CONNS connections, SECS seconds, closed loop. Throughput
#               per proxy core = requests/s ÷ (proxy CPU seconds / wall
#               seconds), the proxy's CPU read from /proc (user + system).
#   latency:    one connection, requests back to back (no queueing), p50
#               and p99 from wrk --latency; "added" = proxy − direct.
#   fixed rate: RATE requests/s for SECS seconds, open model (`seawall load
#               -r RATE -c CONNS --untagged`, latency from the intended send
#               time): the proxy's CPU microseconds per request at the same
#               offered load for every proxy — the fairest per-request cost
#               when a proxy is not the bottleneck of the closed loop.
# Results and discussion: docs/benchmarks.md ("Sidecar").
#
# Settings (environment):
#   CONNS=64 SECS=10 LAT_SECS=10   wrk connections and durations
#   RATE=10000                     the fixed-rate run's requests/s (0: none)
#   ROUNDS=3                       rounds over all targets (interleaved, so
#                                  noise from a shared machine spreads over
#                                  all of them); the table shows medians
#   BASE_PORT=18180                ports BASE_PORT … BASE_PORT+4 on 127.0.0.1
#   PROXY_CPU=0 LOAD_CPU=1         the proxy alone on one core; wrk and the
#                                  upstream on the other (taskset)
#   SKIP_INSTALL=1                 do not apt-get anything
#   SEAWALL=PATH                   use this seawall binary (else a release build)
#   BASELINE=PATH                  also run this (older) seawall binary's two
#                                  sidecar targets, interleaved with the
#                                  others: an A/B under the same load
#
# Instruction counts instead (repeatable on a loaded machine, user space
# only — the kernel's socket work is not counted):
#   CALLGRIND=1 bash bench/sidecar.sh    # with BASELINE=PATH for an A/B
# runs each sidecar (pass-through and rate-limit rules) under valgrind
# --tool=callgrind, counts instructions only while wrk (8 connections,
# CG_SECS=10 seconds, after a 3 s warm-up) drives it, and prints
# instructions per proxied request. CG_KEEP=DIR keeps the profiles there
# (BINARY-RULES.callgrind, for callgrind_annotate).
#
# Only 127.0.0.1 is loaded; every run is bounded by its duration.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
CONNS=${CONNS:-64}
SECS=${SECS:-10}
LAT_SECS=${LAT_SECS:-10}
RATE=${RATE:-10000}
ROUNDS=${ROUNDS:-3}
BASE_PORT=${BASE_PORT:-18180}
PROXY_CPU=${PROXY_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

log() { printf '==> %s\n' "$*" >&2; }

if [[ "${SKIP_INSTALL:-}" != 1 ]]; then
    missing=()
    tools=(nginx:nginx-light wrk:wrk taskset:util-linux)
    [[ "${CALLGRIND:-}" == 1 ]] && tools+=(valgrind:valgrind)
    for tool in "${tools[@]}"; do
        command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]} with apt-get"
        as_root=()
        [[ $(id -u) -eq 0 ]] || as_root=(sudo)
        "${as_root[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
fi

# Command prefixes that pin to a core (empty when taskset cannot).
pinned() { if taskset -c "$1" true 2>/dev/null; then echo "taskset -c $1"; fi; }
read -ra on_proxy_core <<<"$(pinned "$PROXY_CPU")"
read -ra on_load_core <<<"$(pinned "$LOAD_CPU")"

seawall=${SEAWALL:-${CARGO_TARGET_DIR:-$repo/target}/release/seawall}
if [[ -z "${SEAWALL:-}" ]]; then
    log "cargo build --release -p seawall"
    cargo build --release -q -p seawall
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/seawall-sidecar-bench.XXXXXX")
pids=()
stop_all() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap stop_all EXIT
mkdir -p "$dir/www" "$dir/tmp"
chmod 755 "$dir" "$dir/www" # nginx workers may run as another user
printf 'seawall sidecar benchmark: a small static answer\n' >"$dir/www/index.html"

up_port=$BASE_PORT
pass_port=$((BASE_PORT + 1))
limit_port=$((BASE_PORT + 2))
sidecar_port=$((BASE_PORT + 3))
admin_port=$((BASE_PORT + 4))

# nginx_conf NAME SERVER-BLOCK [HTTP-EXTRA]: one worker, own pid, logs and temp dirs.
nginx_conf() {
    cat >"$dir/$1.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/$1.pid;
error_log $dir/$1.error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_body_temp_path $dir/tmp/$1-body;
    proxy_temp_path $dir/tmp/$1-proxy;
    ${3:-}
    upstream backend { server 127.0.0.1:$up_port; keepalive 256; }
    server { $2 }
}
EOF
}
proxy_block="proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection \"\";"
nginx_conf upstream "listen 127.0.0.1:$up_port; location / { root $dir/www; }"
nginx_conf pass "listen 127.0.0.1:$pass_port; location / { $proxy_block }"
nginx_conf limit "listen 127.0.0.1:$limit_port; location / { limit_req zone=all burst=100000 nodelay; $proxy_block }" \
    "limit_req_zone \$binary_remote_addr zone=all:1m rate=10000000r/s;"

printf 'version: 1\n' >"$dir/pass.yaml"
cat >"$dir/limit.yaml" <<'EOF'
version: 1
resources:
  - name: everything
    routes: [{ path: "/*" }]
    flow:
      - { id: everything-qps, count: 10000000 }
EOF

wait_port() {
    for _ in $(seq "${2:-100}"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "error: nothing listens on 127.0.0.1:$1" >&2
    return 1
}

# proc_cpu PID...: user + system seconds of these processes and their children threads.
proc_cpu() {
    local tck total=0 p
    tck=$(getconf CLK_TCK)
    for p in "$@"; do
        [[ -r /proc/$p/stat ]] || continue
        # Fields 14 and 15 after the ")" that ends the command name.
        total=$((total + $(sed 's/.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')))
    done
    awk -v t="$total" -v k="$tck" 'BEGIN { printf "%.3f", t / k }'
}
family() { # the pid and its children (nginx master + worker)
    echo "$1"
    pgrep -P "$1" || true
}

# to_ms VALUE: wrk's 1.23ms / 456.00us / 1.20s as milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
        else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
        else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
        else printf "nan"
    }'
}
percentile() { to_ms "$(awk -v p="$1%" '$1 == p { print $2 }' "$2")"; }
rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
non2xx() { awk '/Non-2xx/ { n = $NF } END { print n + 0 }' "$1"; }

log "upstream: nginx on 127.0.0.1:$up_port (one worker, core $LOAD_CPU)"
"${on_load_core[@]}" nginx -p "$dir" -c "$dir/upstream.conf" &
pids+=($!)
wait_port "$up_port"

# callgrind_run BINARY RULES: instructions per request of one sidecar under callgrind.
callgrind_run() {
    local out=$dir/cg-$2-$RANDOM pid n ir
    "${on_proxy_core[@]}" valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
        "$1" sidecar --listen "127.0.0.1:$sidecar_port" --admin-listen "127.0.0.1:$admin_port" \
        --upstream "http://127.0.0.1:$up_port" --rules "$dir/$2.yaml" --threads 1 2>"$out.log" &
    pid=$!
    pids+=("$pid")
    wait_port "$sidecar_port" 600
    local url="http://127.0.0.1:$sidecar_port/index.html"
    "${on_load_core[@]}" wrk -t1 -c8 -d3s "$url" >/dev/null
    callgrind_control -i on "$pid" >/dev/null 2>&1
    "${on_load_core[@]}" wrk -t1 -c8 -d"${CG_SECS:-10}s" "$url" >"$out.wrk"
    callgrind_control -i off "$pid" >/dev/null 2>&1
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [[ -n "${CG_KEEP:-}" ]]; then
        mkdir -p "$CG_KEEP" && cp "$out.1" "$CG_KEEP/$(basename "$1")-$2.callgrind"
    fi
    n=$(awk '/requests in/ { print $1 }' "$out.wrk")
    ir=$(awk '/^totals:/ { print $2 }' "$out.1")
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$n" "$ir" \
        "$(awk -v i="$ir" -v n="$n" 'BEGIN { if (n > 0) printf "%.0f", i / n; else print "-" }')"
}
if [[ "${CALLGRIND:-}" == 1 ]]; then
    printf '\n| seawall binary | rules | requests | instructions | instructions per request |\n|---|---|---|---|---|\n'
    for bin in "$seawall" ${BASELINE:+"$BASELINE"}; do
        for rules in pass limit; do callgrind_run "$bin" "$rules"; done
    done
    exit 0
fi

declare -A port name_of cpu_pids
targets=(direct nginx-proxy nginx-limit-req sidecar-pass sidecar-limit)
if [[ -n "${BASELINE:-}" ]]; then
    [[ -x $BASELINE ]] || {
        echo "error: BASELINE=$BASELINE is not an executable seawall binary" >&2
        exit 1
    }
    targets+=(sidecar-pass-base sidecar-limit-base)
fi
name_of[direct]="direct upstream"
name_of[nginx-proxy]="nginx proxy_pass"
name_of[nginx-limit-req]="nginx limit_req"
name_of[sidecar-pass]="seawall sidecar, pass-through rules"
name_of[sidecar-limit]="seawall sidecar, rate-limit rule"
name_of[sidecar-pass-base]="baseline sidecar, pass-through rules"
name_of[sidecar-limit-base]="baseline sidecar, rate-limit rule"

start_target() {
    case $1 in
        direct) port[$1]=$up_port ;;
        nginx-proxy | nginx-limit-req)
            local conf=pass
            [[ $1 == nginx-limit-req ]] && conf=limit
            port[$1]=$([[ $conf == pass ]] && echo "$pass_port" || echo "$limit_port")
            "${on_proxy_core[@]}" nginx -p "$dir" -c "$dir/$conf.conf" &
            pids+=($!)
            cpu_pids[$1]=$!
            ;;
        sidecar-*)
            port[$1]=$sidecar_port
            local bin=$seawall rules=${1#sidecar-}
            if [[ $1 == *-base ]]; then
                bin=$BASELINE
                rules=${rules%-base}
            fi
            "${on_proxy_core[@]}" "$bin" sidecar --listen "127.0.0.1:$sidecar_port" \
                --admin-listen "127.0.0.1:$admin_port" --upstream "http://127.0.0.1:$up_port" \
                --rules "$dir/$rules.yaml" --threads 1 2>"$dir/$1.log" &
            pids+=($!)
            cpu_pids[$1]=$!
            ;;
    esac
    wait_port "${port[$1]}"
}
stop_target() {
    local p=${cpu_pids[$1]:-}
    [[ -n $p ]] || return 0
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

printf '\n%s; %s cores; nginx %s; wrk %s; seawall %s\n' "$(uname -sm)" "$(nproc)" \
    "$(nginx -v 2>&1 | sed 's/.*\///')" "$(dpkg-query -W -f '${Version}' wrk 2>/dev/null || echo '?')" \
    "$("$seawall" --version | awk '{ print $2 }')"
printf 'proxy on core %s; wrk and upstream on core %s; throughput: %s connections %ss; latency: 1 connection %ss\n' \
    "$PROXY_CPU" "$LOAD_CPU" "$CONNS" "$SECS" "$LAT_SECS"
printf 'load average before: %s\n\n' "$(cut -d' ' -f1-3 /proc/loadavg)"

# median V...: the middle value (the mean of the two middle ones for an even count).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) print "nan"
        else if (NR % 2) printf "%.3f", v[(NR + 1) / 2]
        else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

declare -A runs # "$target $metric" -> space-separated values, one per round
record() { runs["$1 $2"]="${runs["$1 $2"]:-} $3"; }
for round in $(seq "$ROUNDS"); do
    for t in "${targets[@]}"; do
        log "round $round/$ROUNDS: ${name_of[$t]}"
        start_target "$t"
        url="http://127.0.0.1:${port[$t]}/index.html"
        "${on_load_core[@]}" wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null # warm-up: pools, caches
        procs=()
        [[ -n ${cpu_pids[$t]:-} ]] && mapfile -t procs < <(family "${cpu_pids[$t]}")
        # The closed loop's CPU, kept apart from the fixed-rate run's below.
        tput_before=$(proc_cpu "${procs[@]}")
        "${on_load_core[@]}" wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "$url" >"$dir/$t.tput"
        tput_after=$(proc_cpu "${procs[@]}")
        "${on_load_core[@]}" wrk -t1 -c1 -d"${LAT_SECS}s" --latency "$url" >"$dir/$t.lat"
        if ((RATE > 0)); then
            before=$(proc_cpu "${procs[@]}")
            "${on_load_core[@]}" "$seawall" load "$url" -r "$RATE" -d "${SECS}s" -c "$CONNS" \
                --untagged --json >"$dir/$t.rate" 2>/dev/null || true
            after=$(proc_cpu "${procs[@]}")
            flat=$(tr -d ' \n' <"$dir/$t.rate")
            ok=$(grep -o '"ok":[0-9]*' <<<"$flat" | head -1 | cut -d: -f2)
            lat=$(grep -o '"latency_ms":{[^}]*}' <<<"$flat" | head -1)
            record "$t" rate_ok "${ok:-0}"
            record "$t" rate_p50 "$(grep -o '"p50":[0-9.]*' <<<"$lat" | cut -d: -f2)"
            record "$t" rate_p99 "$(grep -o '"p99":[0-9.]*' <<<"$lat" | cut -d: -f2)"
            record "$t" cpu_us "$(awk -v a="$before" -v b="$after" -v n="${ok:-0}" \
                'BEGIN { if (n > 0) printf "%.2f", (b - a) * 1e6 / n; else print 0 }')"
        fi
        stop_target "$t"
        rate=$(rps "$dir/$t.tput")
        share=$(awk -v a="$tput_before" -v b="$tput_after" -v s="$SECS" 'BEGIN { printf "%.3f", (b - a) / s }')
        record "$t" rps "$rate"
        record "$t" share "$share"
        record "$t" per_core "$(awk -v r="$rate" -v c="$share" 'BEGIN { if (c > 0) printf "%.0f", r / c; else print 0 }')"
        record "$t" p50 "$(percentile 50 "$dir/$t.tput")"
        record "$t" p99 "$(percentile 99 "$dir/$t.tput")"
        record "$t" lp50 "$(percentile 50 "$dir/$t.lat")"
        record "$t" lp99 "$(percentile 99 "$dir/$t.lat")"
        record "$t" errors "$(($(non2xx "$dir/$t.tput") + $(non2xx "$dir/$t.lat")))"
        printf '%s round %s: %s req/s, proxy %s cores, p50/p99 %s / %s ms (1 conn)\n' "$t" "$round" "$rate" "$share" \
            "$(percentile 50 "$dir/$t.lat")" "$(percentile 99 "$dir/$t.lat")"
    done
done
echo

declare -A tput core_share per_core p50 p99 lp50 lp99 errors rate_ok rate_p50 rate_p99 cpu_us
for t in "${targets[@]}"; do
    # shellcheck disable=SC2086 # the recorded values are space-separated on purpose
    {
        tput[$t]=$(median ${runs["$t rps"]})
        core_share[$t]=$(median ${runs["$t share"]})
        per_core[$t]=$(median ${runs["$t per_core"]})
        p50[$t]=$(median ${runs["$t p50"]})
        p99[$t]=$(median ${runs["$t p99"]})
        lp50[$t]=$(median ${runs["$t lp50"]})
        lp99[$t]=$(median ${runs["$t lp99"]})
        errors[$t]=$(echo ${runs["$t errors"]} | tr ' ' '\n' | awk '{ n += $1 } END { print n + 0 }')
        if ((RATE > 0)); then
            rate_ok[$t]=$(median ${runs["$t rate_ok"]})
            rate_p50[$t]=$(median ${runs["$t rate_p50"]})
            rate_p99[$t]=$(median ${runs["$t rate_p99"]})
            cpu_us[$t]=$(median ${runs["$t cpu_us"]})
        fi
    }
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "-") printf "%.2f", a / b; else print "-" }'; }
added() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

printf 'medians of %s rounds\n\n' "$ROUNDS"
printf '| target | req/s (%s conn) | proxy CPU (cores) | req/s per proxy core | vs nginx proxy_pass | p50 / p99 ms (%s conn) | p50 / p99 ms (1 conn) | added p50 / p99 ms (1 conn) | non-2xx |\n' "$CONNS" "$CONNS"
printf '|---|---|---|---|---|---|---|---|---|\n'
for t in "${targets[@]}"; do
    if [[ $t == direct ]]; then
        share="-" pc="-" vs="-" add="-"
    else
        share=${core_share[$t]}
        pc=$(printf '%.0f' "${per_core[$t]}")
        vs=$(ratio "$pc" "${per_core[nginx-proxy]}")
        add="$(added "${lp50[$t]}" "${lp50[direct]}") / $(added "${lp99[$t]}" "${lp99[direct]}")"
    fi
    printf '| %s | %.0f | %s | %s | %s | %s / %s | %s / %s | %s | %s |\n' "${name_of[$t]}" "${tput[$t]}" \
        "$share" "$pc" "$vs" "${p50[$t]}" "${p99[$t]}" "${lp50[$t]}" "${lp99[$t]}" "$add" "${errors[$t]}"
done
if ((RATE > 0)); then
    printf '\nat a fixed %s requests/s for %ss (open model, seawall load, %s connections at most)\n\n' "$RATE" "$SECS" "$CONNS"
    printf '| target | answered | proxy CPU µs per request | vs nginx proxy_pass | p50 / p99 ms | added p50 / p99 ms |\n'
    printf '|---|---|---|---|---|---|\n'
    for t in "${targets[@]}"; do
        if [[ $t == direct ]]; then
            us="-" vs="-" add="-"
        else
            us=${cpu_us[$t]}
            vs=$(ratio "${cpu_us[nginx-proxy]}" "$us")
            add="$(added "${rate_p50[$t]}" "${rate_p50[direct]}") / $(added "${rate_p99[$t]}" "${rate_p99[direct]}")"
        fi
        printf '| %s | %.0f | %s | %s | %s / %s | %s |\n' "${name_of[$t]}" "${rate_ok[$t]}" "$us" "$vs" \
            "${rate_p50[$t]}" "${rate_p99[$t]}" "$add"
    done
    echo "(vs nginx: nginx's CPU per request ÷ this one's — above 1 is cheaper than nginx)"
fi
printf '\nload average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
