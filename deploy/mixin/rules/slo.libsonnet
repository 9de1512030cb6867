// Sloth-style SLO recording rules (https://sloth.dev): per SLO, the SLI error ratio over every window the
// burn-rate alerts use (`slo:sli_error:ratio_rate<window>`), the event rate behind it
// (`slo:sli_events:rate<window>`, for the low-traffic guard), and the metadata the SLO dashboard shows
// (objective, error budget, current and period burn rate, remaining budget). Every series carries an
// `slo` label naming its SLO.
local slos = import '../lib/slos.libsonnet';
local u = import '../lib/utils.libsonnet';

{
  prometheusRules+:: {
    local cfg = $._config,
    local windows = ['5m', '30m', '1h', '2h', '6h', '1d', '3d'],
    local period = '%dd' % cfg.slo.periodDays,
    groups+: std.flattenArrays([
      [
        {
          name: 'cairn-slo-sli-%s' % slo.name,
          file:: 'cairn-slo',
          rules: [
            {
              record: 'slo:sli_error:ratio_rate%s' % w,
              expr: |||
                (
                  %(errors)s
                  or
                  0 * %(total)s
                )
                /
                (%(total)s > 0)
              ||| % { errors: std.stripChars(slo.errors(w), '\n'), total: slo.total(w) },
              labels: { slo: slo.name },
            }
            for w in windows
          ] + [
            {
              record: 'slo:sli_events:rate%s' % w,
              expr: slo.total(w),
              labels: { slo: slo.name },
            }
            for w in windows
          ],
        },
        {
          name: 'cairn-slo-meta-%s' % slo.name,
          file:: 'cairn-slo',
          local s = '{slo="%s"}' % slo.name,
          rules: [
            {
              record: 'slo:objective:ratio',
              expr: 'vector(%s)' % u.num(slo.objective),
              labels: { slo: slo.name },
            },
            {
              record: 'slo:error_budget:ratio',
              expr: 'vector(1 - %s)' % u.num(slo.objective),
              labels: { slo: slo.name },
            },
            {
              record: 'slo:time_period:days',
              expr: 'vector(%d)' % cfg.slo.periodDays,
              labels: { slo: slo.name },
            },
            {
              // Average of the 5m ratio over the whole period, as Sloth does: cheap, and it only counts
              // periods that had traffic.
              record: 'slo:sli_error:ratio_rate%s' % period,
              expr: |||
                sum_over_time(slo:sli_error:ratio_rate5m%(s)s[%(p)s])
                /
                count_over_time(slo:sli_error:ratio_rate5m%(s)s[%(p)s])
              ||| % { s: s, p: period },
              labels: { slo: slo.name },
            },
            {
              record: 'slo:current_burn_rate:ratio',
              expr: 'slo:sli_error:ratio_rate5m%s / on (slo) group_left () slo:error_budget:ratio%s' % [s, s],
              labels: { slo: slo.name },
            },
            {
              record: 'slo:period_burn_rate:ratio',
              expr: 'slo:sli_error:ratio_rate%s%s / on (slo) group_left () slo:error_budget:ratio%s' % [period, s, s],
              labels: { slo: slo.name },
            },
            {
              record: 'slo:period_error_budget_remaining:ratio',
              expr: '1 - slo:period_burn_rate:ratio%s' % s,
              labels: { slo: slo.name },
            },
          ],
        },
      ]
      for slo in slos(cfg)
    ]),
  },
}
