// LLM spend per UTC day, for the budget alerts and the overview dashboard.
//
// "Spent today" needs an increase over a range that starts at midnight, and PromQL ranges are fixed.
// So the rule walks the last day in `budget.resolution` steps (a subquery); each step contributes the
// spend of the interval ending at it (rate over one resolution × its length), and only steps whose
// interval lies in the same UTC day as the evaluation time are kept. A step at t covers (t - res, t], so
// its day is that of t - 1 s; the evaluation time inside the subquery comes from `@ end()`, which
// Prometheus pins to the rule's evaluation timestamp. The sum is exact at step granularity (the part of
// the current interval since the last step is not counted yet) and survives counter resets (restarts)
// because each step uses rate().
local u = import '../lib/utils.libsonnet';

{
  prometheusRules+:: {
    local cfg = $._config,
    local b = cfg.budget,
    local res = b.resolution,
    local resSeconds =
      local unit = res[std.length(res) - 1];
      local n = std.parseInt(res[:std.length(res) - 1]);
      n * { s: 1, m: 60, h: 3600 }[unit],

    local spentToday(counter) = |||
      sum_over_time(
        (
          sum(rate(%(c)s%(s)s[%(r)s]))
          and on ()
          floor((vector(time()) - 1) / 86400)
            == on ()
          floor(max_over_time(vector(time())[1s:1s] @ end()) / 86400)
        )[1d:%(r)s]
      ) * %(rs)d
    ||| % { c: counter, s: u.sel(cfg), r: res, rs: resSeconds },

    groups+: [
      {
        name: 'cairn-llm-budget',
        file:: 'cairn-budget',
        interval: res,
        rules: [
          { record: 'cairn:llm_cost_usd:spent_today', expr: spentToday('cairn_llm_cost_usd_total') },
          { record: 'cairn:llm_tokens:spent_today', expr: spentToday('cairn_llm_tokens_total') },
          {
            record: 'cairn:llm_cost_usd:rate%s' % b.rateWindow,
            expr: 'sum(rate(cairn_llm_cost_usd_total%s[%s]))' % [u.sel(cfg), b.rateWindow],
          },
          {
            record: 'cairn:llm_tokens:rate%s' % b.rateWindow,
            expr: 'sum(rate(cairn_llm_tokens_total%s[%s]))' % [u.sel(cfg), b.rateWindow],
          },
        ],
      },
    ],
  },
}
