#!/usr/bin/env bash
# Live test of the monitoring mixin against a running Cairn, with Debian's real Prometheus.
#
#   scripts/live-prometheus-test.sh [options] <cairn-api-address>
#
# Starts Prometheus on loopback in a temporary directory (1 s scrape and evaluation interval, the
# mixin's rules), scraping <cairn-api-address> (host:port or http://host:port of `cairn serve`'s API
# port, which serves /metrics), then:
#   1. lints the live /metrics with `promtool check metrics`;
#   2. checks that every rule group loaded and that no rule fails to evaluate on real data;
#   3. evaluates every dashboard panel query through the HTTP API and reports the ones that return no
#      data (re-checking them until --panel-timeout, since some series appear only after events);
#   4. with --wait-alert NAME (repeatable), waits until that alert is pending or firing.
# Exits non-zero if any step fails; prints which panels, rules or alerts failed.
#
# Options:
#   --wait-alert NAME     wait for alert NAME to become pending or firing (repeatable)
#   --alert-timeout SECS  how long to wait for each alert (default 300)
#   --warmup SECS         seconds between the first successful scrape and the panel check (default 20)
#   --panel-timeout SECS  how long to keep re-checking panels without data (default 120)
#   --skip-panels         do not check dashboard queries
#   --allow-empty REGEX   panels whose title matches REGEX may return no data (reported, not failed):
#                         for series that only exist after an event the run does not cause
#   --allow-lint          report `promtool check metrics` findings without failing
#   --keep                keep the temporary directory (Prometheus config, data, log)
#   --port N              Prometheus listen port on 127.0.0.1 (default: a free port)
#
# Example (the demo feeds a collector; the inject mode makes the tool-loop alert fire):
#   cairn serve & cairn demo --inject tool-loop &
#   scripts/live-prometheus-test.sh --wait-alert CairnAgentToolLoop 127.0.0.1:7070
#
# Rules are rendered from deploy/mixin with one override: the LLM-budget group evaluates every 15 s
# instead of every 5 min, so its "spent today" series exists within a short test.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() {
  echo "live-prometheus-test: $*" >&2
  exit 2
}

alerts=()
alert_timeout=300
warmup=20
panel_timeout=120
skip_panels=0
allow_empty='^$'
allow_lint=0
keep=0
port=""
target=""
while [ $# -gt 0 ]; do
  case "$1" in
    --wait-alert) alerts+=("${2:?--wait-alert needs a name}"); shift 2 ;;
    --alert-timeout) alert_timeout="${2:?}"; shift 2 ;;
    --warmup) warmup="${2:?}"; shift 2 ;;
    --panel-timeout) panel_timeout="${2:?}"; shift 2 ;;
    --skip-panels) skip_panels=1; shift ;;
    --allow-empty) allow_empty="${2:?--allow-empty needs a regex}"; shift 2 ;;
    --allow-lint) allow_lint=1; shift ;;
    --keep) keep=1; shift ;;
    --port) port="${2:?}"; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$target" ] || die "more than one address given"; target="$1"; shift ;;
  esac
done
[ -n "$target" ] || { usage >&2; exit 2; }
for n in "$alert_timeout" "$warmup" "$panel_timeout" ${port:+"$port"}; do
  [[ "$n" =~ ^[0-9]+$ ]] || die "not a number: $n"
done
target="${target#http://}"
target="${target%/}"

for tool in prometheus promtool jsonnet curl python3; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "$tool not found (apt-get install prometheus jsonnet curl python3)"
done

tmp="$(mktemp -d)"
prom_pid=""
cleanup() {
  local rc=$?
  if [ -n "$prom_pid" ] && kill -0 "$prom_pid" 2>/dev/null; then
    kill "$prom_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$prom_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$prom_pid" 2>/dev/null || true
    wait "$prom_pid" 2>/dev/null || true
  fi
  if [ "$keep" -eq 1 ]; then
    echo "kept $tmp (prometheus.yml, rules/, data/, prometheus.log)"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

failures=()
step() { printf '\n==> %s\n' "$*"; }

# 1. Lint the live exposition.
step "promtool check metrics on http://$target/metrics"
if ! curl -fsS --max-time 10 "http://$target/metrics" -o "$tmp/metrics.txt"; then
  die "cannot fetch http://$target/metrics — is cairn serve running there?"
fi
echo "$(grep -vc '^#' "$tmp/metrics.txt") samples"
if lint="$(promtool check metrics <"$tmp/metrics.txt" 2>&1)" && [ -z "$lint" ]; then
  echo "clean"
else
  printf '%s\n' "$lint"
  [ "$allow_lint" -eq 1 ] || failures+=("promtool check metrics")
fi

# 2. Rules and Prometheus configuration.
mkdir -p "$tmp/rules" "$tmp/data"
jsonnet -J deploy/mixin -S -m "$tmp/rules" -e '
  local m = (import "mixin.libsonnet") + { _config+:: { budget+: { resolution: "15s" } } };
  local render(groups, suffix) = {
    [f + suffix]: std.manifestYamlDoc({ groups: [g for g in groups if g.file == f] }, indent_array_in_object=true, quote_keys=false)
    for f in std.set([g.file for g in groups])
  };
  render(m.prometheusRules.groups, ".rules.yml") + render(m.prometheusAlerts.groups, ".alerts.yml")
' >/dev/null

if [ -z "$port" ]; then
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
fi
prom="http://127.0.0.1:$port"
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - rules/*.yml
scrape_configs:
  - job_name: cairn
    static_configs:
      - targets: ['$target']
EOF
promtool check config "$tmp/prometheus.yml" >/dev/null || die "generated Prometheus config is invalid"

step "starting Prometheus on $prom (log: $tmp/prometheus.log)"
prometheus \
  --config.file="$tmp/prometheus.yml" \
  --storage.tsdb.path="$tmp/data" \
  --web.listen-address="127.0.0.1:$port" \
  --storage.tsdb.retention.time=1d \
  >"$tmp/prometheus.log" 2>&1 &
prom_pid=$!

# api <path+query> — GET against Prometheus' HTTP API, JSON on stdout.
api() { curl -fsS --max-time 10 "$prom$1"; }
wait_for() { # <timeout seconds> <description> <command...>
  local deadline=$((SECONDS + $1)) what="$2"
  shift 2
  until "$@" >/dev/null 2>&1; do
    kill -0 "$prom_pid" 2>/dev/null || {
      tail -20 "$tmp/prometheus.log" >&2
      die "Prometheus exited"
    }
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 1
  done
  echo "$what"
}
wait_for 60 "ready" curl -fsS --max-time 2 "$prom/-/ready" || die "Prometheus not ready after 60 s"

target_up() {
  api "/api/v1/query?query=up%7Bjob%3D%22cairn%22%7D%3D%3D1" |
    python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)'
}
wait_for 60 "scraping $target" target_up || die "Prometheus cannot scrape $target (see $prom/targets)"

step "warming up for ${warmup}s (rates need two samples, rules a few evaluations)"
sleep "$warmup"

# 3. Rule health on real data.
step "rule groups and evaluation errors"
if ! api "/api/v1/rules" | python3 -c '
import json, sys, glob
groups = json.load(sys.stdin)["data"]["groups"]
expected = sum(1 for _ in glob.glob(sys.argv[1] + "/rules/*.yml"))
bad = [(g["name"], r.get("name"), r.get("lastError")) for g in groups for r in g["rules"] if r.get("health") == "err"]
rules = sum(len(g["rules"]) for g in groups)
print(f"{len(groups)} groups, {rules} rules loaded from {expected} files")
for g, r, e in bad:
    print(f"  rule {r} in {g}: {e}")
sys.exit(1 if bad or not groups else 0)
' "$tmp"; then
  failures+=("rule evaluation")
fi

# 4. Dashboard queries.
if [ "$skip_panels" -eq 0 ]; then
  step "dashboard panel queries (re-checking empty ones for up to ${panel_timeout}s)"
  if ! python3 - "$prom" "$panel_timeout" "$allow_empty" deploy/grafana/dashboards/*.json <<'EOF'; then
import json, re, sys, time, urllib.parse, urllib.request

prom, timeout, allow, paths = sys.argv[1], int(sys.argv[2]), re.compile(sys.argv[3]), sys.argv[4:]

def concrete(expr):
    # What Grafana would send with every multi-value variable at "All".
    expr = expr.replace("$__rate_interval", "1m").replace("$__interval", "15s").replace("$__range", "5m")
    return re.sub(r"\$\{?\w+\}?", ".*", expr)

queries = []
for path in paths:
    d = json.load(open(path))
    for p in d["panels"]:
        for t in p.get("targets", []):
            queries.append((d["title"], p["id"], p["title"], t["refId"], concrete(t["expr"])))

def run(expr):
    url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        return "error", json.load(e).get("error", str(e))
    except Exception as e:  # network hiccup: treat as no data and retry
        return "empty", str(e)
    result = body["data"]["result"]
    return ("ok", len(result)) if result else ("empty", "")

status = {}
deadline = time.time() + timeout
pending = list(range(len(queries)))
while True:
    still = []
    for i in pending:
        state, detail = run(queries[i][4])
        status[i] = (state, detail)
        if state == "empty":
            still.append(i)
    pending = still
    if not pending or time.time() >= deadline:
        break
    time.sleep(5)

errors = [i for i, (s, _) in status.items() if s == "error"]
empty = [i for i, (s, _) in status.items() if s == "empty" and not allow.search(queries[i][2])]
allowed = [i for i, (s, _) in status.items() if s == "empty" and allow.search(queries[i][2])]
print(f"{len(queries)} queries: {len(queries) - len(errors) - len(empty) - len(allowed)} with data, "
      f"{len(empty)} empty, {len(allowed)} empty as allowed, {len(errors)} failed")
for kind, idx in (("FAILED", errors), ("NO DATA", empty), ("NO DATA (allowed)", allowed)):
    for i in idx:
        dash, pid, title, ref, expr = queries[i]
        print(f"  {kind}: {dash} / panel {pid} {title!r} query {ref}: {status[i][1] or expr}")
sys.exit(1 if errors or empty else 0)
EOF
    failures+=("dashboard queries")
  fi
fi

# 5. Alerts.
for name in ${alerts[@]+"${alerts[@]}"}; do
  step "waiting up to ${alert_timeout}s for alert $name to be pending or firing"
  alert_state() {
    api "/api/v1/alerts" | python3 -c '
import json, sys
name = sys.argv[1]
hits = [a for a in json.load(sys.stdin)["data"]["alerts"] if a["labels"].get("alertname") == name]
for a in hits:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(a["labels"].items()) if k != "alertname")
    state, value = a["state"], a.get("value")
    print(f"{state}: {name} {{{labels}}} value={value}")
sys.exit(0 if hits else 1)
' "$name"
  }
  deadline=$((SECONDS + alert_timeout))
  until out="$(alert_state)"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      out=""
      break
    fi
    sleep 2
  done
  if [ -n "$out" ]; then
    printf '%s\n' "$out"
  else
    echo "alert $name did not become pending or firing"
    failures+=("alert $name")
  fi
done

if [ ${#failures[@]} -ne 0 ]; then
  printf '\nlive-prometheus-test: %d check(s) failed:\n' "${#failures[@]}" >&2
  printf '  - %s\n' "${failures[@]}" >&2
  exit 1
fi
printf '\nlive-prometheus-test: all checks passed\n'
