#!/usr/bin/env bash
# Browser end-to-end test of Cairn's web UI in headless Chromium.
#
#   tests/browser/run.sh <base-url>   test a running Cairn, e.g. http://127.0.0.1:7070
#                                     (`cairn serve --demo` gives the data the test needs)
#   tests/browser/run.sh --mock       start mock-server.mjs on a free port and test it
#
# Needs Node.js >= 18 and Chromium (Debian: apt-get install chromium; or set CHROMIUM_PATH).
# Installs playwright-core from package-lock.json on first use, runs the unit tests of the UI's
# pure modules, then the browser test. Screenshots, the downloaded proof bundle and
# browser-report.json go to tests/artifacts/. Environment: see e2e.mjs (CAIRN_OTLP_URL,
# CAIRN_PERF_TRACE_ID, CAIRN_PERF_BUDGET_MS, ...) and docs/ui.md.
set -euo pipefail

dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [ $# -ne 1 ]; then
  sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
command -v node >/dev/null || { echo "run.sh: node (Node.js >= 18) is required" >&2; exit 2; }
chromium=${CHROMIUM_PATH:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "run.sh: no Chromium at $chromium (apt-get install chromium, or set CHROMIUM_PATH)" >&2; exit 2; }
export CHROMIUM_PATH=$chromium

if [ ! -d "$dir/node_modules/playwright-core" ]; then
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

if [ "$1" = "--mock" ]; then
  log=$(mktemp)
  node "$dir/mock-server.mjs" --port 0 >"$log" 2>&1 &
  mock_pid=$!
  trap 'kill "$mock_pid" 2>/dev/null || true; rm -f "$log"' EXIT
  base=
  for _ in $(seq 1 240); do
    base=$(sed -n 's/^listening //p' "$log")
    [ -n "$base" ] && break
    kill -0 "$mock_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.5
  done
  [ -n "$base" ] || { echo "run.sh: mock server did not start" >&2; cat "$log" >&2; exit 1; }
  echo "# mock server at $base"
else
  base=$1
fi

node --test "$dir/unit.test.mjs"
node "$dir/e2e.mjs" "$base"
