#!/usr/bin/env bash
# Side-by-side ingest comparison: the same `cairn bench ingest` load aimed at `cairn serve` and at
# a peer OpenTelemetry collector, rotel (https://github.com/streamfold/rotel), back to back.
#
# rotel is installed from PyPI (its wheel carries the binary) into a venv under target/. Each run
# starts its server on a fresh data directory and fresh ports, runs the bench with --json, and
# reads the server's CPU time (utime + stime from /proc/<pid>/stat, before and after the run) and
# peak RSS (VmHWM from /proc/<pid>/status). For Cairn it also reads /readyz at the end of the run
# (how much of what was acknowledged the indexer had indexed by then) and, unless CATCHUP=0,
# waits until the index has caught up and reports the CPU time of the whole ingest + index work,
# the durable-and-indexed rate (ledger entries / (run + catch-up)) and the cores the server kept
# busy during the catch-up.
#
# Not part of any test command. Usage:
#   cargo build --release -p cairn && scripts/bench-peer.sh
# Environment (defaults in brackets):
#   CAIRN      the cairn binary [target/release/cairn]
#   CLIENT     the cairn binary that runs `bench ingest` [$CAIRN]; set it to compare two server
#              builds under exactly the same load generator
#   PROTOCOLS  [http-proto grpc]
#   SERVERS    [cairn rotel]; also cairn-nofsync (cairn serve --ledger-fsync before-checkpoint:
#              acknowledged once written, not once fsynced) and cairn-noredact (ingest-time
#              redaction turned off), to see what those two cost
#   CLIENTS [8]  BATCH [512]  DURATION [15]  PAYLOAD [realistic]  RATE [0 = as fast as answered]
#   INTERLEAVE [unset = the client's default, 1]: traces in progress at once (bench ingest --interleave)
#   ROTEL_VERSION [0.0.1a15]  CATCHUP [1]  CATCHUP_TIMEOUT [300] (seconds)
#   KEEP_JSON  a directory to keep each run's bench JSON and metrics in
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
CAIRN=${CAIRN:-$ROOT/target/release/cairn}
CLIENT=${CLIENT:-$CAIRN}
PROTOCOLS=${PROTOCOLS:-"http-proto grpc"}
SERVERS=${SERVERS:-"cairn rotel"}
CLIENTS=${CLIENTS:-8}
BATCH=${BATCH:-512}
DURATION=${DURATION:-15}
PAYLOAD=${PAYLOAD:-realistic}
RATE=${RATE:-0}
ROTEL_VERSION=${ROTEL_VERSION:-0.0.1a15}
CATCHUP=${CATCHUP:-1}
CATCHUP_TIMEOUT=${CATCHUP_TIMEOUT:-300}
VENV=$ROOT/target/peer-venv

[[ -x $CAIRN ]] || { echo "no cairn binary at $CAIRN (cargo build --release -p cairn, or set CAIRN)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed (rotel is installed from PyPI)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "GNU time (/usr/bin/time) is needed for the client's CPU time" >&2; exit 1; }

# --- rotel ------------------------------------------------------------------------------------
if ! "$VENV/bin/python" -c "import rotel" 2>/dev/null ||
   [[ $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("rotel"))') != "$ROTEL_VERSION" ]]; then
  echo "installing rotel $ROTEL_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "rotel==$ROTEL_VERSION"
fi
ROTEL=$("$VENV/bin/python" -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')
[[ -x $ROTEL ]] || { echo "the rotel wheel has no binary at $ROTEL" >&2; exit 1; }

WORK=$(mktemp -d -t cairn-bench-peer.XXXXXX)
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
SERVER_PID=""
# SIGTERM makes cairn serve index its whole backlog before it exits; its data directory is thrown
# away here, so a server with a backlog is killed outright (acknowledged spans are fsynced; the
# ledger recovers from a kill, which the crash suite tests).
stop_server() {
  kill "-$1" "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}
cleanup() {
  if [[ -n $SERVER_PID ]]; then stop_server KILL; fi
  if [[ -n ${KEEP_JSON:-} ]]; then mkdir -p "$KEEP_JSON" && cp "$WORK"/*.json "$RESULTS" "$KEEP_JSON"/ 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TICK=$(getconf CLK_TCK)
# utime + stime of a process, in seconds.
cpu_secs() { awk -v t="$TICK" '{ print ($14 + $15) / t }' "/proc/$1/stat"; }
# utime + stime of a process's threads named $2 (the thread name, /proc/<pid>/task/<tid>/comm).
thread_cpu_secs() {
  local sum=0 t
  for t in /proc/"$1"/task/*; do
    [[ $(cat "$t/comm" 2>/dev/null) == "$2" ]] && sum=$(awk -v s="$sum" -v t="$TICK" '{ print s + ($14 + $15) / t }' "$t/stat")
  done
  echo "$sum"
}
# Peak resident set size of a process, in KiB.
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { # port, pid
  for _ in $(seq 1 200); do
    kill -0 "$2" 2>/dev/null || { echo "server exited during startup" >&2; return 1; }
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "server did not listen on port $1" >&2; return 1
}
readyz() { curl -sf "http://$API/readyz" || curl -s "http://$API/readyz"; }

CAIRN_VERSION=$("$CAIRN" --version)
ROTEL_BIN_VERSION=$("$ROTEL" --version)
echo "cairn: $CAIRN_VERSION ($CAIRN); rotel: wheel $ROTEL_VERSION, binary '$ROTEL_BIN_VERSION', exporter blackhole" >&2
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start" >&2

run=0
for proto in $PROTOCOLS; do
  for server in $SERVERS; do
    run=$((run + 1))
    dir=$WORK/$run-$server-$proto
    mkdir -p "$dir"
    http_port=$(free_port)
    grpc_port=$(free_port)
    case $server in
      cairn | cairn-nofsync | cairn-noredact)
        api_port=$(free_port)
        API=127.0.0.1:$api_port
        extra=()
        [[ $server == cairn-nofsync ]] && extra=(--ledger-fsync before-checkpoint)
        if [[ $server == cairn-noredact ]]; then
          printf '[privacy.redaction]\nenabled = false\n' >"$dir/cairn.toml"
          extra=(--config "$dir/cairn.toml")
        fi
        "$CAIRN" serve --data-dir "$dir/data" --otlp-http-addr "127.0.0.1:$http_port" \
          --otlp-grpc-addr "127.0.0.1:$grpc_port" --api-addr "$API" "${extra[@]}" \
          >"$dir/server.log" 2>&1 &
        ;;
      rotel)
        # --exporter blackhole: accept, batch and drop (rotel has no file exporter).
        "$ROTEL" start --exporter blackhole --otlp-http-endpoint "127.0.0.1:$http_port" \
          --otlp-grpc-endpoint "127.0.0.1:$grpc_port" --pid-file "$dir/rotel.pid" \
          --log-file "$dir/rotel.log" >"$dir/server.log" 2>&1 &
        ;;
      *) echo "unknown server $server" >&2; exit 2 ;;
    esac
    SERVER_PID=$!
    wait_port "$http_port" "$SERVER_PID"
    wait_port "$grpc_port" "$SERVER_PID"
    if [[ $proto == grpc ]]; then endpoint=http://127.0.0.1:$grpc_port; else endpoint=http://127.0.0.1:$http_port; fi
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    cpu0=$(cpu_secs "$SERVER_PID")
    idx0=$(thread_cpu_secs "$SERVER_PID" cairn-indexer)
    echo "run $run: $server, $proto, ${DURATION}s ..." >&2
    /usr/bin/time -f '%U %S' -o "$dir/client.time" \
      "$CLIENT" bench ingest --protocol "$proto" --endpoint "$endpoint" --clients "$CLIENTS" \
      --batch "$BATCH" --duration "$DURATION" --payload "$PAYLOAD" --rate "$RATE" \
      ${INTERLEAVE:+--interleave "$INTERLEAVE"} --json \
      >"$WORK/$run-$server-$proto.json"
    cpu1=$(cpu_secs "$SERVER_PID")
    idx1=$(thread_cpu_secs "$SERVER_PID" cairn-indexer)
    hwm_run=$(hwm_kib "$SERVER_PID")
    load_after=$(cut -d' ' -f1 /proc/loadavg)
    ledger=None indexed_at_end=None cpu_catchup=None catchup_secs=None hwm_catchup=None
    if [[ $server == cairn* ]]; then
      r=$(readyz)
      ledger=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ledger_entries"])' "$r")
      indexed_at_end=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["indexed_entries"])' "$r")
      if [[ $CATCHUP == 1 ]]; then
        t0=$(date +%s.%N)
        while :; do
          lag=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["index_lag_entries"])' "$(readyz)")
          [[ $lag == 0 ]] && break
          if (($(date +%s) - ${t0%.*} > CATCHUP_TIMEOUT)); then echo "index did not catch up in ${CATCHUP_TIMEOUT}s" >&2; break; fi
          sleep 0.5
        done
        if [[ $lag == 0 ]]; then
          catchup_secs=$(python3 -c "import time; print(round(time.time() - $t0, 1))")
          cpu_catchup=$(cpu_secs "$SERVER_PID")
          hwm_catchup=$(hwm_kib "$SERVER_PID")
        fi
      fi
    fi
    if [[ $server == cairn* && $cpu_catchup == None ]]; then stop_server KILL; else stop_server TERM; fi
    read -r cu cs <"$dir/client.time"
    python3 - "$WORK/$run-$server-$proto.json" >>"$RESULTS" <<EOF
import json, sys
b = json.load(open(sys.argv[1]))
print(json.dumps({"server": "$server", "protocol": "$proto", "bench": b,
    "cpu_secs": $cpu1 - $cpu0, "indexer_cpu_secs": $idx1 - $idx0, "hwm_kib": $hwm_run, "client_cpu_secs": $cu + $cs,
    "load_before": $load_before, "load_after": $load_after,
    "ledger_entries": $ledger, "indexed_at_end": $indexed_at_end,
    "catchup_secs": $catchup_secs,
    "cpu_secs_with_index": None if "$cpu_catchup" == "None" else $cpu_catchup - $cpu0,
    "catchup_cpu_secs": None if "$cpu_catchup" == "None" else $cpu_catchup - $cpu1,
    "hwm_kib_with_index": None if "$hwm_catchup" == "None" else $hwm_catchup}))
EOF
    rm -rf "$dir"
  done
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at the end" >&2

python3 - "$RESULTS" "$CLIENTS" "$BATCH" "$DURATION" "$PAYLOAD" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
clients, batch, duration, payload = sys.argv[2:]
print(f"\n{clients} clients x {batch} spans per request, {duration} s, payload {payload}\n")
print("| server | protocol | acked spans/s | MB/s | p50 / p99 ms | errors | server CPU s (indexer) | spans per CPU-s (without the indexer) | peak RSS MiB | client CPU s | load | indexed at end of run |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    b = r["bench"]
    per_cpu = b["spans"] / r["cpu_secs"] if r["cpu_secs"] > 0 else float("nan")
    cpu_s, per_cpu_s = f'{r["cpu_secs"]:.2f}', f"{per_cpu:,.0f}"
    if r["server"].startswith("cairn"):
        ack_cpu = r["cpu_secs"] - r["indexer_cpu_secs"]
        cpu_s += f' ({r["indexer_cpu_secs"]:.2f})'
        per_cpu_s += f' ({b["spans"] / ack_cpu:,.0f})' if ack_cpu > 0 else ""
    idx = "—"
    if r["ledger_entries"] is not None:
        idx = f'{r["indexed_at_end"]:,} of {r["ledger_entries"]:,}'
        if r.get("cpu_secs_with_index"):
            secs = b["duration_secs"] + r["catchup_secs"]
            cores = r["catchup_cpu_secs"] / r["catchup_secs"] if r["catchup_secs"] > 0 else float("nan")
            idx += (f'; all after {r["catchup_secs"]} s more: {r["ledger_entries"] / secs:,.0f} spans/s '
                    f'durable and indexed, {b["spans"] / r["cpu_secs_with_index"]:,.0f} '
                    f'spans per CPU-s with the index, {cores:.2f} cores busy during the catch-up, '
                    f'peak RSS {r["hwm_kib_with_index"] / 1024:.0f} MiB')
    print(f'| {r["server"]} | {r["protocol"]} | {b["spans_per_sec"]:,.0f} | {b["mb_per_sec"]:.1f} | '
          f'{b["latency_p50_ms"]:.0f} / {b["latency_p99_ms"]:.0f} | {b["errors"]} | {cpu_s} | '
          f'{per_cpu_s} | {r["hwm_kib"] / 1024:.0f} | {r["client_cpu_secs"]:.1f} | '
          f'{r["load_before"]:.1f}→{r["load_after"]:.1f} | {idx} |')
by = {(r["server"], r["protocol"]): r for r in rows}
print()
for proto in dict.fromkeys(r["protocol"] for r in rows):
    c, p = by.get(("cairn", proto)), by.get(("rotel", proto))
    if not (c and p):
        continue
    rate = c["bench"]["spans_per_sec"] / p["bench"]["spans_per_sec"]
    cpu = (c["bench"]["spans"] / c["cpu_secs"]) / (p["bench"]["spans"] / p["cpu_secs"])
    ack = (c["bench"]["spans"] / (c["cpu_secs"] - c["indexer_cpu_secs"])) / (p["bench"]["spans"] / p["cpu_secs"])
    print(f"{proto}: cairn / rotel = {rate:.2f}x acked spans/s, {cpu:.2f}x spans per CPU-second "
          f"({ack:.2f}x without Cairn's indexer thread)")
EOF
