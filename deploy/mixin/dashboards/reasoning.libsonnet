// Reasoning and decisions: what agents decide, how confident they are, how long they think.
local d = import '../lib/dashboards.libsonnet';
local u = import '../lib/utils.libsonnet';

{
  grafanaDashboards+:: {
    local cfg = $._config,
    local a = cfg.agents,
    local s = u.sel(cfg, 'agent=~"$agent"'),
    local r = '$__rate_interval',

    'cairn-reasoning.json': d.dashboard(
      cfg,
      'reasoning',
      'Cairn / Reasoning and decisions',
      'Decisions, decision confidence and reasoning effort of agents, each against its own baseline.',
      variables=[d.labelVariable('agent', 'Agent', 'cairn_decisions_total{%s}' % cfg.cairnSelector)],
      rows=[
        {
          title: 'Summary',
          panels: [
            d.stat('Decisions per second', 'Decisions recorded per second for the selected agents.', 'cps', [
              d.target('sum(rate(cairn_decisions_total%s[%s]))' % [s, r], instant=true),
            ], w=6),
            d.stat('Mean decision confidence', 'Mean confidence of recorded decisions (0–1), selected agents.', 'percentunit', [
              d.target('sum(rate(cairn_decision_confidence_sum%(s)s[%(r)s])) / sum(rate(cairn_decision_confidence_count%(s)s[%(r)s]))' % { s: s, r: r }, instant=true),
            ], w=6, baseColor='red', steps=[{ color: 'orange', value: 0.5 }, { color: 'green', value: 0.7 }]),
            d.stat('Reasoning steps per run', 'Mean number of reasoning steps in one run, selected agents.', 'short', [
              d.target('sum(rate(cairn_reasoning_steps_per_run_sum%(s)s[%(r)s])) / sum(rate(cairn_reasoning_steps_per_run_count%(s)s[%(r)s]))' % { s: s, r: r }, instant=true),
            ], w=6, decimals=1),
            d.stat('Decision kinds seen', 'Distinct decision labels recorded since Cairn started.', 'short', [
              d.target('count(count by (decision) (cairn_decisions_total%s))' % s, instant=true),
            ], w=6),
          ],
        },
        {
          title: 'Decisions',
          panels: [
            d.timeseries('Decisions by kind', 'Decisions per second by agent and decision label.', 'cps', [
              d.target('sum by (agent, decision) (rate(cairn_decisions_total%s[%s]))' % [s, r], '{{agent}} {{decision}}'),
            ], stack=true),
            d.timeseries('Confidence against baseline', 'Mean decision confidence per agent over %s (solid) and over %s (baseline, recording rules). CairnAgentConfidenceDrift fires when the first drops %s %% below the second.' % [a.shortWindow, a.baselineWindow, u.num(a.confidenceDropRatio * 100)], 'percentunit', [
              d.target('agent:cairn_decision_confidence:mean%s{agent=~"$agent"}' % a.shortWindow, '{{agent}} %s' % a.shortWindow),
              d.target('agent:cairn_decision_confidence:mean%s{agent=~"$agent"}' % a.baselineWindow, '{{agent}} %s baseline' % a.baselineWindow),
            ], min=0, max=1),
            d.timeseries('Mean confidence', 'Mean decision confidence per agent at dashboard resolution.', 'percentunit', [
              d.target('sum by (agent) (rate(cairn_decision_confidence_sum%(s)s[%(r)s])) / sum by (agent) (rate(cairn_decision_confidence_count%(s)s[%(r)s]))' % { s: s, r: r }, '{{agent}}'),
            ], min=0, max=1),
            d.heatmap('Confidence distribution',
                      'Decisions per confidence bucket (0.1 … 1.0) over time.',
                      'percentunit',
                      'sum by (le) (increase(cairn_decision_confidence_bucket%s[%s]))' % [s, r]),
          ],
        },
        {
          title: 'Reasoning',
          panels: [
            d.timeseries('Steps per run against baseline', 'Mean reasoning steps per run over %s and over %s (baseline). CairnAgentReasoningStepsSpike fires above %s× the baseline.' % [a.shortWindow, a.baselineWindow, u.num(a.reasoningSpikeFactor)], 'short', [
              d.target('agent:cairn_reasoning_steps_per_run:mean%s{agent=~"$agent"}' % a.shortWindow, '{{agent}} %s' % a.shortWindow),
              d.target('agent:cairn_reasoning_steps_per_run:mean%s{agent=~"$agent"}' % a.baselineWindow, '{{agent}} %s baseline' % a.baselineWindow),
            ], w=8),
            d.timeseries('Steps per run percentiles', 'Median and 95th percentile of reasoning steps per run.', 'short', [
              d.target('histogram_quantile(0.5, sum by (agent, le) (rate(cairn_reasoning_steps_per_run_bucket%s[%s])))' % [s, r], '{{agent}} p50'),
              d.target('histogram_quantile(0.95, sum by (agent, le) (rate(cairn_reasoning_steps_per_run_bucket%s[%s])))' % [s, r], '{{agent}} p95'),
            ], w=8),
            d.heatmap('Steps per run distribution',
                      'Runs per reasoning-step bucket over time.',
                      'short',
                      'sum by (le) (increase(cairn_reasoning_steps_per_run_bucket%s[%s]))' % [s, r],
                      w=8),
          ],
        },
      ],
    ),
  },
}
