// Small helpers shared by alerts, recording rules and dashboards. No external libraries: the mixin
// renders with a plain `jsonnet` binary.
{
  // `a, b, c` for `by (...)` / `on (...)` clauses.
  labelList(labels):: std.join(', ', labels),

  // Selector body: the Cairn target selector plus extra matchers, e.g. sel(cfg, 'status="error"').
  sel(cfg, extra=''):: '{' + cfg.cairnSelector + (if extra == '' then '' else ', ' + extra) + '}',

  // Renders a number the way a human writes it in a PromQL expression: 15 significant digits drop
  // float noise such as 0.14400000000000002 (std.toString prints 17).
  num(x):: std.format('%.15g', x),

  // `le` matcher for a histogram bucket boundary. Exporters spell integral boundaries either as "8"
  // or "8.0" (prometheus-client writes the latter), so integral boundaries match both spellings.
  le(x)::
    if std.floor(x) == x then 'le=~"%d(\\\\.0)?"' % x else 'le="%s"' % self.num(x),

  // Runbook link for an alert: one section per alert in docs/runbooks.md, anchored by the lowercased
  // alert name (GitHub's heading anchors).
  runbook(cfg, alertname):: cfg.runbookUrl + '#' + std.asciiLower(alertname),

  // One alerting rule with the annotations every Cairn alert carries.
  alert(cfg, name, expr, severity, summary, description, forDuration='', labels={}):: {
    alert: name,
    expr: expr,
    [if forDuration != '' then 'for']: forDuration,
    labels: { severity: severity } + labels,
    annotations: {
      summary: summary,
      description: description,
      runbook_url: $.runbook(cfg, name),
    },
  },
}
