#!/usr/bin/env bash
# Checks the monitoring mixin and the deploy/ configuration; exits non-zero when any check fails and
# names the failing checks at the end:
#   - jsonnet sources are jsonnetfmt-formatted;
#   - the checked-in rules and dashboards equal a fresh render of deploy/mixin (no drift);
#   - promtool check config / check rules / test rules;
#   - every alert has severity, summary, description, a runbook_url whose section exists in
#     docs/runbooks.md, and promtool tests in which it fires and in which it must not;
#   - dashboards: datasource variable, no ${DS_...} inputs, unique panel ids, no overlapping panels,
#     description and unit on every panel, $__rate_interval in rate()/increase(), valid PromQL;
#   - amtool check-config on the Alertmanager example.
# Installs the Debian packages it needs when they are missing (prometheus, prometheus-alertmanager,
# jsonnet, python3-yaml).
set -uo pipefail
cd "$(dirname "$0")/.."

failed=()
log() { printf '\n==> %s\n' "$*"; }
fail() {
  printf 'FAIL: %s\n' "$1" >&2
  failed+=("$1")
}
run() { # <name> <command...>
  local name="$1"
  shift
  log "$name"
  "$@" || fail "$name"
}

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

if command -v dpkg >/dev/null 2>&1; then
  apt_install prometheus prometheus-alertmanager jsonnet python3-yaml || {
    echo "check-mixin: cannot install the required packages" >&2
    exit 1
  }
fi
for tool in jsonnet jsonnetfmt promtool; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "check-mixin: $tool not found" >&2
    exit 1
  }
done

# A Python with PyYAML: the one on PATH, else Debian's.
py=""
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c 'import yaml' >/dev/null 2>&1; then
    py="$candidate"
    break
  fi
done
[ -n "$py" ] || {
  echo "check-mixin: no python3 with PyYAML (apt-get install python3-yaml)" >&2
  exit 1
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

run "jsonnetfmt --test deploy/mixin" \
  bash -c 'find deploy/mixin -name "*.libsonnet" -o -name "*.jsonnet" | sort | xargs jsonnetfmt --test'

drift() {
  scripts/render-mixin.sh "$tmp/render" || return 1
  local ok=0
  diff -ru deploy/prometheus/rules "$tmp/render/prometheus/rules" || ok=1
  diff -ru deploy/grafana/dashboards "$tmp/render/grafana/dashboards" || ok=1
  if [ "$ok" -ne 0 ]; then
    echo "rendered files differ from deploy/mixin: run scripts/render-mixin.sh and commit the result" >&2
  fi
  return "$ok"
}
run "rendered rules and dashboards match deploy/mixin" drift

run "promtool check config" promtool check config deploy/prometheus/prometheus.yml
run "promtool check rules" bash -c 'promtool check rules deploy/prometheus/rules/*.yml'
run "promtool test rules" bash -c 'promtool test rules deploy/prometheus/tests/*.yml'

alert_contract() {
  "$py" - <<'EOF'
import glob, re, sys, yaml

errors = []
alerts = {}
for path in sorted(glob.glob("deploy/prometheus/rules/*.alerts.yml")):
    for group in yaml.safe_load(open(path))["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                errors.append(f"{path}: recording rule {rule.get('record')} in an alerts file")
                continue
            alerts.setdefault(rule["alert"], []).append(rule)
for path in sorted(glob.glob("deploy/prometheus/rules/*.rules.yml")):
    for group in yaml.safe_load(open(path))["groups"]:
        for rule in group["rules"]:
            if "record" not in rule:
                errors.append(f"{path}: alert {rule.get('alert')} in a recording-rules file")

runbooks = open("docs/runbooks.md").read()
anchors = {m.lower() for m in re.findall(r"^## (Cairn\w*)\s*$", runbooks, re.M)}
for name, rules in sorted(alerts.items()):
    for rule in rules:
        sev = rule.get("labels", {}).get("severity")
        if sev not in ("critical", "warning", "info"):
            errors.append(f"{name}: severity {sev!r} is not critical, warning or info")
        ann = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not ann.get(key):
                errors.append(f"{name}: missing annotation {key}")
        url = ann.get("runbook_url", "")
        if not url.endswith("docs/runbooks.md#" + name.lower()):
            errors.append(f"{name}: runbook_url {url!r} does not point at docs/runbooks.md#{name.lower()}")
    if name.lower() not in anchors:
        errors.append(f"{name}: no '## {name}' section in docs/runbooks.md")
for anchor in sorted(anchors - {n.lower() for n in alerts}):
    errors.append(f"docs/runbooks.md: section {anchor!r} names no alert")

fires, quiet = set(), set()
for path in sorted(glob.glob("deploy/prometheus/tests/*.yml")):
    for test in yaml.safe_load(open(path)).get("tests", []):
        for case in test.get("alert_rule_test", []) or []:
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
for name in sorted(alerts):
    if name not in fires:
        errors.append(f"{name}: no promtool test in which it fires")
    if name not in quiet:
        errors.append(f"{name}: no promtool test in which it must not fire")
for name in sorted((fires | quiet) - set(alerts)):
    errors.append(f"tests name an unknown alert {name}")

for e in errors:
    print(e, file=sys.stderr)
print(f"{len(alerts)} alerts: severity, annotations, runbook sections and fire/quiet tests checked")
sys.exit(1 if errors else 0)
EOF
}
run "alert contract (labels, annotations, runbooks, tests)" alert_contract

dashboards() {
  local ok=0
  "$py" - "$tmp/dashboard-queries.yml" <<'EOF' || ok=1
import glob, json, re, sys, yaml

errors = []
uids = {}
queries = []

def rate_ranges(expr):
    """Yields (function, range) for every rate()/irate()/increase() call."""
    for m in re.finditer(r"\b(rate|irate|increase)\s*\(", expr):
        depth, i = 1, m.end()
        while i < len(expr) and depth:
            depth += {"(": 1, ")": -1}.get(expr[i], 0)
            i += 1
        ranges = re.findall(r"\[([^\]]*)\]", expr[m.end():i])
        yield m.group(1), (ranges[-1] if ranges else None)

for path in sorted(glob.glob("deploy/grafana/dashboards/*.json")):
    text = open(path).read()
    d = json.loads(text)
    where = path
    if "${DS_" in text or "__inputs" in d:
        errors.append(f"{where}: uses ${{DS_...}} import inputs")
    uid = d.get("uid")
    if not uid:
        errors.append(f"{where}: no uid")
    elif uid in uids:
        errors.append(f"{where}: uid {uid} also used by {uids[uid]}")
    else:
        uids[uid] = path
    if d.get("schemaVersion", 0) < 36:
        errors.append(f"{where}: schemaVersion {d.get('schemaVersion')} is older than 36")
    for key in ("title", "description"):
        if not d.get(key):
            errors.append(f"{where}: no {key}")
    variables = d.get("templating", {}).get("list", [])
    if not any(v.get("name") == "datasource" and v.get("type") == "datasource"
               and v.get("query") == "prometheus" for v in variables):
        errors.append(f"{where}: no `datasource` template variable of type datasource")
    names = {v.get("name") for v in variables}
    ids, cells = set(), {}
    for p in d.get("panels", []):
        pid = p.get("id")
        label = f"{where}: panel {pid} {p.get('title')!r}"
        if not isinstance(pid, int) or pid in ids:
            errors.append(f"{label}: id missing or not unique")
        ids.add(pid)
        g = p.get("gridPos", {})
        for x in range(g.get("x", 0), g.get("x", 0) + g.get("w", 0)):
            for y in range(g.get("y", 0), g.get("y", 0) + g.get("h", 0)):
                if (x, y) in cells:
                    errors.append(f"{label}: overlaps panel {cells[(x, y)]}")
                    break
                cells[(x, y)] = pid
        if p.get("type") == "row":
            continue
        if not p.get("description"):
            errors.append(f"{label}: no description")
        if not p.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            errors.append(f"{label}: no unit in fieldConfig.defaults")
        if p.get("datasource", {}).get("uid") != "${datasource}":
            errors.append(f"{label}: panel data source is not ${{datasource}}")
        targets = p.get("targets") or []
        if not targets:
            errors.append(f"{label}: no queries")
        for t in targets:
            expr = t.get("expr", "")
            if not expr.strip():
                errors.append(f"{label}: empty query {t.get('refId')}")
                continue
            if t.get("datasource", {}).get("uid") != "${datasource}":
                errors.append(f"{label}: query {t.get('refId')} data source is not ${{datasource}}")
            for fn, rng in rate_ranges(expr):
                if rng != "$__rate_interval":
                    errors.append(f"{label}: {fn}() over [{rng}] instead of [$__rate_interval]")
            for var in re.findall(r"\$(\w+)", expr):
                if not var.startswith("__") and var not in names:
                    errors.append(f"{label}: query uses undefined variable ${var}")
            concrete = (expr.replace("$__rate_interval", "1m").replace("$__range", "1h")
                        .replace("$__interval", "1m"))
            concrete = re.sub(r"\$\w+", ".*", concrete)
            queries.append({"record": f"dashboard:query:{len(queries)}", "expr": concrete})

# promtool validates the PromQL of every panel query as a recording rule.
yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": queries}]}, open(sys.argv[1], "w"))
for e in errors:
    print(e, file=sys.stderr)
print(f"{len(uids)} dashboards, {len(queries)} queries checked")
sys.exit(1 if errors else 0)
EOF
  if [ -s "$tmp/dashboard-queries.yml" ] && ! promtool check rules "$tmp/dashboard-queries.yml" >/dev/null; then
    promtool check rules "$tmp/dashboard-queries.yml"
    echo "dashboard queries are not valid PromQL" >&2
    ok=1
  fi
  return "$ok"
}
run "dashboards (variables, ids, units, descriptions, queries)" dashboards

if command -v amtool >/dev/null 2>&1; then
  run "amtool check-config" amtool check-config deploy/alertmanager/alertmanager.yml
else
  log "amtool not found; skipping the Alertmanager config check"
fi

if [ ${#failed[@]} -ne 0 ]; then
  printf '\ncheck-mixin: %d check(s) failed:\n' "${#failed[@]}" >&2
  printf '  - %s\n' "${failed[@]}" >&2
  exit 1
fi
printf '\ncheck-mixin: all checks passed\n'
