// Tools: call volume, failures, latency against the SLO threshold, and tool-loop signals.
local d = import '../lib/dashboards.libsonnet';
local u = import '../lib/utils.libsonnet';

{
  grafanaDashboards+:: {
    local cfg = $._config,
    local s = u.sel(cfg, 'agent=~"$agent", tool=~"$tool"'),
    local sa = u.sel(cfg, 'agent=~"$agent"'),
    local r = '$__rate_interval',
    local thr = cfg.slo.toolLatency.thresholdSeconds,
    local loop = cfg.agents.toolLoopThreshold,

    'cairn-tools.json': d.dashboard(
      cfg,
      'tools',
      'Cairn / Tools',
      'Tool calls made by agents: volume, failures, latency and loops.',
      variables=[
        d.labelVariable('agent', 'Agent', 'cairn_tool_calls_total{%s}' % cfg.cairnSelector),
        d.labelVariable('tool', 'Tool', 'cairn_tool_calls_total{%s, agent=~"$agent"}' % cfg.cairnSelector),
      ],
      rows=[
        {
          title: 'Summary',
          panels: [
            d.stat('Tool calls per second', 'Tool calls finished per second for the selected agents and tools.', 'cps', [
              d.target('sum(rate(cairn_tool_calls_total%s[%s]))' % [s, r], instant=true),
            ], w=6),
            d.stat('Tool failure ratio', 'Share of tool calls that returned an error. The tool-call SLO allows %s %%.' % u.num((1 - cfg.slo.toolCallSuccess.objective) * 100), 'percentunit', [
              d.target(|||
                (sum(rate(cairn_tool_calls_total%(e)s[%(r)s])) or vector(0))
                /
                sum(rate(cairn_tool_calls_total%(s)s[%(r)s]))
              ||| % { e: u.sel(cfg, 'agent=~"$agent", tool=~"$tool", status="error"'), s: s, r: r }, instant=true),
            ], w=6, steps=[{ color: 'orange', value: 1 - cfg.slo.toolCallSuccess.objective }, { color: 'red', value: 6 * (1 - cfg.slo.toolCallSuccess.objective) }]),
            d.stat('Calls within %ss' % u.num(thr), 'Share of tool calls that completed within %ss, the tool-latency SLO threshold (objective %s %%).' % [u.num(thr), u.num(cfg.slo.toolLatency.objective * 100)], 'percentunit', [
              d.target(|||
                sum(rate(cairn_tool_call_duration_seconds_bucket%(fast)s[%(r)s]))
                /
                sum(rate(cairn_tool_call_duration_seconds_count%(s)s[%(r)s]))
              ||| % { fast: u.sel(cfg, 'agent=~"$agent", tool=~"$tool", ' + u.le(thr)), s: s, r: r }, instant=true),
            ], w=6, baseColor='red', steps=[{ color: 'orange', value: cfg.slo.toolLatency.objective - 0.05 }, { color: 'green', value: cfg.slo.toolLatency.objective }]),
            d.stat('p95 tool latency', '95th percentile of tool call duration over all selected tools.', 's', [
              d.target('histogram_quantile(0.95, sum by (le) (rate(cairn_tool_call_duration_seconds_bucket%s[%s])))' % [s, r], instant=true),
            ], w=6, steps=[{ color: 'orange', value: thr }]),
          ],
        },
        {
          title: 'Calls',
          panels: [
            d.timeseries('Calls by tool', 'Tool calls per second by agent and tool.', 'cps', [
              d.target('sum by (agent, tool) (rate(cairn_tool_calls_total%s[%s]))' % [s, r], '{{agent}} / {{tool}}'),
            ], stack=true),
            d.timeseries('Failure ratio by tool', "Share of each tool's calls that returned an error.", 'percentunit', [
              d.target(|||
                (
                  sum by (agent, tool) (rate(cairn_tool_calls_total%(e)s[%(r)s]))
                  or
                  0 * sum by (agent, tool) (rate(cairn_tool_calls_total%(s)s[%(r)s]))
                )
                /
                sum by (agent, tool) (rate(cairn_tool_calls_total%(s)s[%(r)s]))
              ||| % { e: u.sel(cfg, 'agent=~"$agent", tool=~"$tool", status="error"'), s: s, r: r }, '{{agent}} / {{tool}}'),
            ], min=0, thresholds=[1 - cfg.slo.toolCallSuccess.objective]),
          ],
        },
        {
          title: 'Latency',
          panels: [
            d.timeseries('p95 latency by tool', '95th percentile of tool call duration; the dashed line is the %ss SLO threshold.' % u.num(thr), 's', [
              d.target('histogram_quantile(0.95, sum by (agent, tool, le) (rate(cairn_tool_call_duration_seconds_bucket%s[%s])))' % [s, r], '{{agent}} / {{tool}}'),
            ], thresholds=[thr]),
            d.timeseries('p50 latency by tool', 'Median tool call duration.', 's', [
              d.target('histogram_quantile(0.5, sum by (agent, tool, le) (rate(cairn_tool_call_duration_seconds_bucket%s[%s])))' % [s, r], '{{agent}} / {{tool}}'),
            ]),
            d.heatmap('Latency distribution',
                      'Tool calls per duration bucket over time, all selected tools.',
                      's',
                      'sum by (le) (increase(cairn_tool_call_duration_seconds_bucket%s[%s]))' % [s, r],
                      w=24),
          ],
        },
        {
          title: 'Tool use per run',
          panels: [
            d.timeseries('Tool calls per run', 'Median and 95th percentile of the number of tool calls in one run, per agent.', 'short', [
              d.target('histogram_quantile(0.5, sum by (agent, le) (rate(cairn_tool_calls_per_run_bucket%s[%s])))' % [sa, r], '{{agent}} p50'),
              d.target('histogram_quantile(0.95, sum by (agent, le) (rate(cairn_tool_calls_per_run_bucket%s[%s])))' % [sa, r], '{{agent}} p95'),
            ], w=8),
            d.timeseries('Most calls of one tool per run', '95th percentile, per agent, of how often the most-used tool was called within one run. The dashed line is the tool-loop threshold (%d).' % loop, 'short', [
              d.target('histogram_quantile(0.95, sum by (agent, le) (rate(cairn_run_max_same_tool_calls_bucket%s[%s])))' % [sa, r], '{{agent}}'),
            ], w=8, thresholds=[loop]),
            d.timeseries('Runs over the loop threshold', 'Runs per second in which one tool was called more than %d times — what CairnAgentToolLoop alerts on.' % loop, 'cps', [
              d.target(|||
                sum by (agent) (rate(cairn_run_max_same_tool_calls_count%(s)s[%(r)s]))
                -
                sum by (agent) (rate(cairn_run_max_same_tool_calls_bucket%(le)s[%(r)s]))
              ||| % { s: sa, le: u.sel(cfg, 'agent=~"$agent", ' + u.le(loop)), r: r }, '{{agent}}'),
            ], w=8),
          ],
        },
      ],
    ),
  },
}
