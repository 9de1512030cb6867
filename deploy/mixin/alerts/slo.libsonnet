// Multi-window multi-burn-rate alerts (Google SRE workbook, "Alerting on SLOs", table 5-8): for each
// SLO and each (long, short, factor) pair of `_config.burnRateWindows`, fire when the error ratio over
// both windows is above factor × error budget and the long window saw enough traffic. The short window
// makes the alert stop soon after the problem stops; the guard keeps a handful of events from paging.
local slos = import '../lib/slos.libsonnet';
local u = import '../lib/utils.libsonnet';

{
  prometheusAlerts+:: {
    local cfg = $._config,
    local on = u.labelList(['slo'] + cfg.agentLabels),
    groups+: [
      {
        name: 'cairn-slo-alerts',
        file:: 'cairn-slo',
        rules: [
          local budget = '(%s * (1 - %s))' % [u.num(b.factor), u.num(slo.objective)];
          local s = '{slo="%s"}' % slo.name;
          u.alert(
            cfg,
            slo.alertname,
            |||
              (
                slo:sli_error:ratio_rate%(long)s%(s)s > %(budget)s
                and
                slo:sli_error:ratio_rate%(short)s%(s)s > %(budget)s
              )
              and on (%(on)s)
              slo:sli_events:rate%(long)s%(s)s * 3600 >= %(min)s
            ||| % { long: b.long, short: b.short, s: s, budget: budget, on: on, min: u.num(cfg.slo.minEventsPerHour) },
            b.severity,
            '{{ $labels.agent }}: %s SLO error budget burning %s× too fast' % [slo.title, u.num(b.factor)],
            ('Over the last %s, {{ $value | humanizePercentage }} %s (objective: %s %% %s; this alert fires '
             + 'at %s× the error budget): at this pace the %d-day error budget is gone in %s.')
            % [
              b.long,
              slo.bad,
              u.num(slo.objective * 100),
              slo.good,
              u.num(b.factor),
              cfg.slo.periodDays,
              local hours = cfg.slo.periodDays * 24 / b.factor;
              if hours < 72 then '%s h' % u.num(std.floor(hours * 10 + 0.5) / 10) else '%d days' % std.floor(hours / 24 + 0.5),
            ],
            b['for'],
            { long_window: b.long, short_window: b.short },
          )
          for slo in slos(cfg)
          for b in cfg.burnRateWindows
        ],
      },
    ],
  },
}
