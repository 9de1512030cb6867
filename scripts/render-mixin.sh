#!/usr/bin/env bash
# Renders the monitoring mixin (deploy/mixin) into the files Prometheus and Grafana load:
#   <out>/prometheus/rules/<area>.rules.yml   recording rules
#   <out>/prometheus/rules/<area>.alerts.yml  alerting rules
#   <out>/grafana/dashboards/<name>.json      one file per dashboard
# <out> defaults to deploy/. scripts/check-mixin.sh renders into a temporary directory and diffs.
# Needs Debian's `jsonnet` (apt-get install jsonnet); no jsonnet libraries are used.
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-deploy}"
mixin=deploy/mixin
header='# Generated from deploy/mixin by scripts/render-mixin.sh. Do not edit; edit the jsonnet and re-render.'

if ! command -v jsonnet >/dev/null 2>&1; then
  echo "render-mixin: jsonnet not found (apt-get install jsonnet)" >&2
  exit 1
fi

mkdir -p "$out/prometheus/rules" "$out/grafana/dashboards"

# Rule files: one per area (the hidden `file` field of each group), recording and alerting rules apart.
# Both output directories hold only generated files, so stale ones are deleted first.
find "$out/prometheus/rules" -maxdepth 1 -name '*.yml' -delete
jsonnet -J "$mixin" -S -m "$out/prometheus/rules" --ext-str header="$header" -e '
  local m = import "mixin.libsonnet";
  local render(groups, suffix) = {
    [f + suffix]: std.extVar("header") + "\n"
      + std.manifestYamlDoc({ groups: [g for g in groups if g.file == f] }, indent_array_in_object=true, quote_keys=false)
    for f in std.set([g.file for g in groups])
  };
  render(m.prometheusRules.groups, ".rules.yml") + render(m.prometheusAlerts.groups, ".alerts.yml")
' >/dev/null

# Dashboards: every key of grafanaDashboards is a file name. Stale files from renamed dashboards are
# removed so the directory mirrors the mixin exactly.
find "$out/grafana/dashboards" -maxdepth 1 -name '*.json' -delete
jsonnet -J "$mixin" -m "$out/grafana/dashboards" -e "(import 'mixin.libsonnet').grafanaDashboards" >/dev/null
