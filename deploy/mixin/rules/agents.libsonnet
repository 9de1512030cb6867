// Recording rules behind the agent-behaviour alerts and dashboards: each signal over a short window and
// over a longer baseline of the same agent, so alerts compare an agent with its own history instead of
// with a fixed number. Names follow Prometheus' `level:metric:operations` convention.
local u = import '../lib/utils.libsonnet';

{
  prometheusRules+:: {
    local cfg = $._config,
    local a = cfg.agents,
    local by = u.labelList(cfg.agentLabels),
    local byTool = u.labelList(cfg.agentLabels + ['tool']),
    local all = u.sel(cfg),

    // Mean of a histogram over a window: rate(sum) / rate(count); absent without observations.
    local mean(metric, w) =
      'sum by (%(by)s) (rate(%(m)s_sum%(s)s[%(w)s]))\n/\n(sum by (%(by)s) (rate(%(m)s_count%(s)s[%(w)s])) > 0)\n'
      % { by: by, m: metric, s: all, w: w },
    local p95(metric, labels, w) =
      'histogram_quantile(0.95, sum by (%(l)s, le) (rate(%(m)s_bucket%(s)s[%(w)s])))\n'
      % { l: labels, m: metric, s: all, w: w },

    groups+: [
      {
        name: 'cairn-agent-baselines',
        file:: 'cairn-agents',
        rules: std.flattenArrays([
          [
            {
              record: 'agent:cairn_decision_confidence:mean%s' % w,
              expr: mean('cairn_decision_confidence', w),
            },
            {
              record: 'agent:cairn_reasoning_steps_per_run:mean%s' % w,
              expr: mean('cairn_reasoning_steps_per_run', w),
            },
            {
              record: 'agent_tool:cairn_tool_call_duration_seconds:p95_%s' % w,
              expr: p95('cairn_tool_call_duration_seconds', byTool, w),
            },
            {
              record: 'model:gen_ai_client_operation_duration_seconds:p95_%s' % w,
              expr: p95('gen_ai_client_operation_duration_seconds', 'gen_ai_request_model, gen_ai_operation_name', w),
            },
          ]
          for w in [a.shortWindow, a.baselineWindow]
        ]),
      },
    ],
  },
}
