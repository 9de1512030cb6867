#!/usr/bin/env bash
# End-to-end checks against a real `cairn serve --demo`, with real peers:
#   1. the web UI in headless Chromium (tests/browser/run.sh); with CAIRN_OTLP_URL set, the browser
#      test also sends a generated 10,000-span run (if the demo has none) and a 100,000-span run over
#      OTLP/HTTP, so the render benchmark and the "100,000 spans stay usable" check run against this
#      real server (about a minute of extra ingest and indexing in a debug build);
#   2. the monitoring mixin with Debian's Prometheus scraping the live /metrics
#      (scripts/live-prometheus-test.sh), including an injected misbehaviour that must raise its alert.
# Usage: scripts/e2e.sh [path-to-cairn-binary]   (default: target/debug/cairn, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-target/debug/cairn}
[ -x "$bin" ] || cargo build -p cairn --locked
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" serve --data-dir "$work/data" --otlp-http-addr 127.0.0.1:0 --otlp-grpc-addr 127.0.0.1:0 \
  --api-addr 127.0.0.1:0 --addrs-file "$work/addrs.json" --demo >"$work/serve.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  [ -s "$work/addrs.json" ] && break
  kill -0 "${pids[0]}" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.2
done
[ -s "$work/addrs.json" ] || { echo "e2e: cairn serve did not start" >&2; cat "$work/serve.log" >&2; exit 1; }
api=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["api"])' "$work/addrs.json")
otlp=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["otlp_http"])' "$work/addrs.json")
echo "e2e: cairn serve --demo at api=$api otlp=$otlp"

echo "e2e: web UI in headless Chromium"
CAIRN_OTLP_URL="http://$otlp" tests/browser/run.sh "http://$api"

echo "e2e: monitoring mixin against live Prometheus"
# Misbehaviour the alerting must catch: a demo that calls one tool in a loop. It starts here, not
# earlier, and runs until the end: the alert needs the loop counters to grow while Prometheus
# scrapes (a workload that finished before Prometheus started would show no increase).
# `--inject-after 0`: loop from the first run (the default waits for half of the 15 minutes).
"$bin" demo --endpoint "http://$otlp" --inject tool-loop --inject-after 0 --duration 15m --rate 4 \
  >"$work/demo.log" 2>&1 &
pids+=($!)
# Panels allowed to stay empty in this run, because their series only exist after an event the run
# does not cause: the demo sends no invalid span and stays under the label caps, and no exporter is
# configured here (exporters have their own tests). The background ledger verification runs 5 s
# after startup, so its panel must have data.
allow='^(Records accepted and rejected|Label overflow|Exported|Exporter lag)$'
scripts/live-prometheus-test.sh --allow-empty "$allow" --wait-alert CairnAgentToolLoop \
  --panel-timeout 45 --alert-timeout 240 "$api"

echo "e2e: all end-to-end checks passed"
