#!/usr/bin/env bash
# Index rebuild comparison: each given `cairn` build rebuilds the index of the same ledger, all of
# them at the same time, each on its own copy of the ledger and its own ports.
#
# Running the builds at once rather than one after the other is deliberate: on a shared or
# virtual machine the CPU's speed drifts between runs (by up to 40% within one session on the
# development machine), and builds running together see the same machine. Each build gets a
# share of the cores, so the rates are lower than a build alone would reach; compare the builds
# with each other, not with single-build numbers.
#
# For each build it prints the rebuild rate (ledger entries ÷ time until /readyz reports no lag),
# the process's CPU time per entry (utime + stime from /proc/<pid>/stat), the bytes it wrote per
# entry (/proc/<pid>/io), the index files' size and the CPU of each index thread.
#
# Not part of any test command. Usage:
#   scripts/bench-rebuild.sh LEDGER_DIR CAIRN_BINARY [CAIRN_BINARY ...]
# LEDGER_DIR is the `ledger` directory of a data directory that `cairn serve` filled (for example
# with `cairn bench ingest`); it is copied, never written. Environment (defaults in brackets):
#   ROUNDS [1]  how many times to repeat the comparison
#   TIMEOUT [900]  seconds to wait for a rebuild
set -euo pipefail

[[ $# -ge 2 ]] || { sed -n '2,20p' "$0" >&2; exit 2; }
LEDGER=$1
shift
BINS=("$@")
[[ -d $LEDGER ]] || { echo "no ledger directory at $LEDGER" >&2; exit 1; }
for bin in "${BINS[@]}"; do
  [[ -x $bin ]] || { echo "no cairn binary at $bin" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }
ROUNDS=${ROUNDS:-1}
TIMEOUT=${TIMEOUT:-900}
TICK=$(getconf CLK_TCK)

WORK=$(mktemp -d -t cairn-bench-rebuild.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
cpu_secs() { awk -v t="$TICK" '{print ($14 + $15) / t}' "$1"; }

for round in $(seq 1 "$ROUNDS"); do
  PIDS=()
  APIS=()
  STARTS=()
  for n in "${!BINS[@]}"; do
    rm -rf "${WORK:?}/$n"
    mkdir -p "$WORK/$n/data"
    cp -r "$LEDGER" "$WORK/$n/data/ledger"
  done
  sync
  for n in "${!BINS[@]}"; do
    api=127.0.0.1:$(free_port)
    "${BINS[$n]}" serve --data-dir "$WORK/$n/data" --otlp-http-addr "127.0.0.1:$(free_port)" \
      --otlp-grpc-addr "127.0.0.1:$(free_port)" --api-addr "$api" >"$WORK/$n/server.log" 2>&1 &
    PIDS+=($!)
    APIS+=("$api")
    STARTS+=("$(python3 -c 'import time; print(time.time())')")
  done
  # Poll every build until each has indexed the whole ledger; each one's figures are read the
  # moment it finishes (a build that finishes first leaves the machine to the others).
  declare -A DONE=()
  deadline=$((SECONDS + TIMEOUT))
  while ((${#DONE[@]} < ${#BINS[@]})); do
    for n in "${!PIDS[@]}"; do
      [[ -n ${DONE[$n]:-} ]] && continue
      pid=${PIDS[$n]}
      bin=${BINS[$n]}
      r=$(curl -s "http://${APIS[$n]}/readyz" 2>/dev/null || true)
      if [[ -n $r ]] && [[ $(field "$r" index_lag_entries 2>/dev/null || echo x) == 0 ]] &&
        [[ $(field "$r" ledger_entries) != 0 ]]; then
        elapsed=$(python3 -c "import time; print(time.time() - ${STARTS[$n]})")
        entries=$(field "$r" indexed_entries)
        cpu=$(cpu_secs "/proc/$pid/stat")
        written=$(awk '/^write_bytes/ {print $2}' "/proc/$pid/io")
        threads=""
        for task in /proc/"$pid"/task/*; do
          name=$(cat "$task/comm")
          case $name in cairn-index*) threads="$threads $name=$(cpu_secs "$task/stat")s" ;; esac
        done
        kill -TERM "$pid"
        wait "$pid" || true
        size=$(cat "$WORK/$n"/data/index*.sqlite | wc -c)
        python3 -c "
entries, elapsed, cpu, written, size = $entries, $elapsed, $cpu, $written, $size
print(f'round $round  $bin: {entries:,} entries in {elapsed:.1f} s = {entries / elapsed:,.0f}/s; '
      f'CPU {cpu / entries * 1e6:.1f} µs/entry; written {written / entries:,.0f} B/entry; '
      f'index files {size / 1e9:.2f} GB;$threads')"
        DONE[$n]=1
      elif ((SECONDS > deadline)) || ! kill -0 "$pid" 2>/dev/null; then
        echo "round $round, $bin: no rebuild within ${TIMEOUT}s (see $WORK/$n/server.log)" >&2
        exit 1
      fi
    done
    sleep 0.2
  done
  unset DONE
done
