#!/usr/bin/env bash
# Paging latency benchmark: from a page-severity alert firing to the first
# page handed to the channel, p50 / p99 over ALERTS alerts, and the same
# path through Alertmanager (an alert POSTed to it, to its webhook
# receiver) for comparison.
#
#   bash bench/paging.sh            # ~4 minutes after the build
#
# Seawall: crates/server/examples/page_latency.rs — a real server over
# SQLite on 127.0.0.1, the real monitoring tick (a Prometheus stand-in
# refusing a query: `source-down`, severity page), the pager's queue and
# sender, a loopback webhook receiver; one alert every INTERVAL_MS (the
# webhook channel's budget is 60 messages a minute).
# Alertmanager: /usr/bin/prometheus-alertmanager on 127.0.0.1 with
# group_wait 0s and one group per alert (group_by: [alertname]), a
# loopback webhook receiver; each alert POSTed to /api/v2/alerts and timed
# to its webhook. Skipped when the binary is missing.
#
# Settings (environment):
#   ALERTS=200 INTERVAL_MS=1050
#   PROFILE=release        or dev (a debug build, quicker to build)
#   CPU=0                  the core for taskset
# Results and discussion: docs/benchmarks.md ("Paging: alert to page").
#
# Only 127.0.0.1 is used; every loop is bounded by ALERTS.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ALERTS=${ALERTS:-200}
INTERVAL_MS=${INTERVAL_MS:-1050}
PROFILE=${PROFILE:-release}
CPU=${CPU:-0}
target_dir=${CARGO_TARGET_DIR:-target}
# shellcheck source=bench/lib.sh
source bench/lib.sh

if [[ "$PROFILE" == release ]]; then
    say "cargo build --release -p seawall-server --example page_latency"
    cargo build --release -q -p seawall-server --example page_latency
    bin=$target_dir/release/examples/page_latency
else
    say "cargo build -p seawall-server --example page_latency (debug build)"
    cargo build -q -p seawall-server --example page_latency
    bin=$target_dir/debug/examples/page_latency
fi
say "Seawall: $ALERTS alerts, one every $INTERVAL_MS ms"
seawall_json=$(pin "$CPU" "$bin" --alerts "$ALERTS" --interval-ms "$INTERVAL_MS" | tee /dev/stderr | tail -1)

am=/usr/bin/prometheus-alertmanager
if [[ ! -x "$am" ]]; then
    say "no $am: the Alertmanager comparison is skipped"
    exit 0
fi
say "Alertmanager: $ALERTS alerts to its webhook receiver, group_wait 0s"
work=$(mktemp -d)
trap 'kill "${am_pid:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
python3 - "$work" "$ALERTS" "$am" "$seawall_json" "$CPU" <<'PY'
import http.server, json, socket, subprocess, sys, threading, time, urllib.request

work, n, am, seawall, cpu = sys.argv[1], int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4]), sys.argv[5]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

arrived = {}
lock = threading.Lock()
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        at = time.perf_counter()
        for a in json.loads(body).get("alerts", []):
            name = a["labels"].get("alertname")
            with lock:
                arrived.setdefault(name, at)
        self.send_response(200); self.end_headers()
    def log_message(self, *a):
        pass
hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=hook.serve_forever, daemon=True).start()
am_port = free_port()
with open(f"{work}/am.yml", "w") as f:
    f.write(f"""route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{hook.server_address[1]}/hook
        send_resolved: false
""")
cmd = ["taskset", "-c", cpu] if subprocess.run(["taskset", "-c", cpu, "true"]).returncode == 0 else []
proc = subprocess.Popen(cmd + [am, f"--config.file={work}/am.yml", f"--storage.path={work}/data",
    f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address=",
    "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    base = f"http://127.0.0.1:{am_port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/-/ready", timeout=1); break
        except Exception:
            time.sleep(0.05)
    samples = []
    for i in range(n):
        name = f"bench-{i}"
        body = json.dumps([{"labels": {"alertname": name, "severity": "page"},
                            "annotations": {"summary": "bench"}}]).encode()
        req = urllib.request.Request(base + "/api/v2/alerts", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
        start = time.perf_counter()
        urllib.request.urlopen(req, timeout=5).read()
        deadline = start + 20
        while True:
            with lock:
                at = arrived.get(name)
            if at is not None:
                break
            if time.perf_counter() > deadline:
                raise SystemExit(f"alert {name}: no webhook within 20 s")
            time.sleep(0.0002)
        samples.append((at - start) * 1000)
finally:
    proc.terminate(); proc.wait(timeout=10)
samples.sort()
pct = lambda p: samples[max(1, min(len(samples), -(-int(p * len(samples)) // 100))) - 1]
p50, p99 = pct(50), pct(99)
print(f"{n} alerts: Alertmanager POST to its webhook: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {samples[-1]:.2f} ms")
print(f"Seawall p50 {seawall['p50_ms']:.2f} ms, p99 {seawall['p99_ms']:.2f} ms; "
      f"ratio Seawall/Alertmanager: p50 {seawall['p50_ms'] / p50:.2f}, p99 {seawall['p99_ms'] / p99:.2f}")
PY
