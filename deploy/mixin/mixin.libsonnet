// Cairn monitoring mixin (https://monitoring.mixins.dev layout).
//
//   prometheusRules   — recording rules → deploy/prometheus/rules/<group.file>.rules.yml
//   prometheusAlerts  — alerting rules  → deploy/prometheus/rules/<group.file>.alerts.yml
//   grafanaDashboards — one entry per file → deploy/grafana/dashboards/<name>.json
//
// Every rule group carries a hidden `file` field naming the rendered file it goes to, so the rule
// files stay small and the promtool tests load only the areas they test.
//
// Render with scripts/render-mixin.sh; scripts/check-mixin.sh fails when the checked-in files drift.
(import 'config.libsonnet') +
(import 'alerts/alerts.libsonnet') +
(import 'rules/rules.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
