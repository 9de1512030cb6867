// SLOs and error budgets, one row per SLO, all from the Sloth-style recording rules.
local d = import '../lib/dashboards.libsonnet';
local slos = import '../lib/slos.libsonnet';
local u = import '../lib/utils.libsonnet';

{
  grafanaDashboards+:: {
    local cfg = $._config,
    local period = '%dd' % cfg.slo.periodDays,

    'cairn-slo.json': d.dashboard(
      cfg,
      'slo',
      'Cairn / SLOs and error budgets',
      'Service-level objectives of the observed agents: SLI, remaining error budget and burn rate per agent.',
      variables=[d.labelVariable('agent', 'Agent', 'slo:sli_error:ratio_rate5m')],
      rows=[
        local sel = '{slo="%s", agent=~"$agent"}' % slo.name;
        local budget = 1 - slo.objective;
        {
          title: '%s — objective %s %%: %s' % [slo.title, u.num(slo.objective * 100), slo.description],
          panels: [
            d.stat('Objective', 'Target share of good events for "%s" over %d days.' % [slo.title, cfg.slo.periodDays], 'percentunit', [
              d.target('slo:objective:ratio{slo="%s"}' % slo.name, instant=true),
            ], w=4, h=8, baseColor='blue', decimals=2),
            d.bargauge('SLI over %d days' % cfg.slo.periodDays, 'Share of good events per agent over the SLO period (mean of the 5m SLI while there was traffic).', 'percentunit', [
              d.target('1 - slo:sli_error:ratio_rate%s%s' % [period, sel], '{{agent}}', instant=true),
            ], w=6, min=slo.objective - 4 * budget, max=1, baseColor='red', steps=[{ color: 'green', value: slo.objective }]),
            d.bargauge('Error budget remaining', 'Share of the %d-day error budget (%s %% of events) left per agent; below 0 the SLO is breached.' % [cfg.slo.periodDays, u.num(budget * 100)], 'percentunit', [
              d.target('slo:period_error_budget_remaining:ratio%s' % sel, '{{agent}}', instant=true),
            ], w=6, min=-1, max=1, baseColor='red', steps=[{ color: 'orange', value: 0 }, { color: 'green', value: 0.25 }]),
            d.timeseries('Burn rate', 'How fast each agent spends its error budget (error ratio over 5m ÷ budget); 1× spends it exactly over %d days, the page thresholds are %s×.' % [cfg.slo.periodDays, std.join('× and ', [u.num(b.factor) for b in cfg.burnRateWindows if b.severity == 'critical'])], 'suffix:×', [
              d.target('slo:current_burn_rate:ratio%s' % sel, '{{agent}}'),
            ], w=8, h=8, thresholds=[1]),
            d.timeseries('Error ratio by window', 'SLI error ratio per agent over the windows the burn-rate alerts use. The dashed line is the error budget (%s %%).' % u.num(budget * 100), 'percentunit', [
              d.target('slo:sli_error:ratio_rate5m%s' % sel, '{{agent}} 5m'),
              d.target('slo:sli_error:ratio_rate1h%s' % sel, '{{agent}} 1h'),
              d.target('slo:sli_error:ratio_rate6h%s' % sel, '{{agent}} 6h'),
              d.target('slo:sli_error:ratio_rate1d%s' % sel, '{{agent}} 1d'),
            ], w=12, min=0, thresholds=[budget]),
            d.timeseries('Events per second', "Events counted by this SLO per agent (the low-traffic guard needs %s per hour over an alert's long window)." % u.num(cfg.slo.minEventsPerHour), 'cps', [
              d.target('slo:sli_events:rate5m%s' % sel, '{{agent}}'),
            ], w=12),
          ],
        }
        for slo in slos(cfg)
      ],
    ),
  },
}
