#!/usr/bin/env bash
# Cairn's test command: installs what the tests need when it is missing, then runs every check and test.
# CI (.ci/run) calls exactly this script.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "need root to run: $*" >&2
    return 1
  fi
}

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Debian packages: Prometheus + promtool + Alertmanager (mixin checks and the live alerting test),
# jsonnet (renders the mixin), Chromium (the web UI test), Node.js >= 18 + npm (drives Chromium;
# Debian 12's nodejs is 18).
apt_install prometheus prometheus-alertmanager jsonnet chromium
# gcc and make build the bundled SQLite and jemalloc (the binary's allocator).
apt_install gcc make
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi

# Python OpenTelemetry SDK: the integration tests drive `cairn serve` with the real client. Debian's
# system Python refuses `pip install` (PEP 668, externally managed), so the packages go into a
# virtual environment under target/ unless the interpreter already has them.
if ! "${CAIRN_TEST_PYTHON:-python3}" -c 'import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, opentelemetry.exporter.otlp.proto.grpc' 2>/dev/null; then
  venv=target/python-venv
  if [ ! -x "$venv/bin/python" ]; then
    command -v python3 >/dev/null 2>&1 || apt_install python3
    python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
    log "creating a Python virtual environment in $venv"
    python3 -m venv "$venv"
  fi
  log "installing Python test dependencies into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  CAIRN_TEST_PYTHON="$(pwd)/$venv/bin/python"
  export CAIRN_TEST_PYTHON
fi

log "cargo fmt --check"
cargo fmt --all --check

log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

# The disk-full suite mounts a small tmpfs, which needs root (or password-less sudo) and the right
# to mount. Where neither works, say so loudly and tell the test to skip itself explicitly; it
# fails otherwise, so a missing capability is never mistaken for a pass.
probe=$(mktemp -d)
if as_root mount -t tmpfs -o size=1m tmpfs "$probe" 2>/dev/null; then
  as_root umount "$probe"
else
  printf '\n!!!!!!!! cannot mount a tmpfs here: the disk-full test is SKIPPED (CAIRN_SKIP_DISKFULL=1) !!!!!!!!\n\n'
  export CAIRN_SKIP_DISKFULL=1
fi
rmdir "$probe"

log "cargo test"
cargo test --workspace --locked

log "monitoring mixin: render drift, promtool check/test, dashboards"
scripts/check-mixin.sh

log "end to end: cairn serve --demo with the web UI in Chromium and alerts in Prometheus"
scripts/e2e.sh

log "all checks passed"
