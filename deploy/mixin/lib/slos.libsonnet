// The service-level objectives of the agents Cairn observes, as data. Recording rules, burn-rate alerts
// and the SLO dashboard are all generated from this list, so adding an SLO is one entry here.
//
// Each SLO defines, for a PromQL range `w`:
//   errors(w): rate of bad events per agent,
//   total(w):  rate of all events per agent.
// The SLI error ratio is errors/total; when no event was bad the ratio is 0, when there were no events at
// all it is absent (not NaN), so the 30-day average only covers periods with traffic.
local u = import 'utils.libsonnet';

function(cfg)
  local by = u.labelList(cfg.agentLabels);
  local runs = 'cairn_agent_runs_total';
  local calls = 'cairn_tool_calls_total';
  local dur = 'cairn_tool_call_duration_seconds';
  local thr = cfg.slo.toolLatency.thresholdSeconds;
  [
    {
      name: 'agent-run-success',
      alertname: 'CairnAgentRunErrorBudgetBurn',
      title: 'Agent run success',
      objective: cfg.slo.agentRunSuccess.objective,
      description: 'runs end without error',
      bad: 'of agent runs failed',
      good: 'succeed',
      errors(w): 'sum by (%s) (rate(%s%s[%s]))' % [by, runs, u.sel(cfg, 'status="error"'), w],
      total(w): 'sum by (%s) (rate(%s%s[%s]))' % [by, runs, u.sel(cfg), w],
    },
    {
      name: 'tool-call-success',
      alertname: 'CairnToolCallErrorBudgetBurn',
      title: 'Tool call success',
      objective: cfg.slo.toolCallSuccess.objective,
      description: 'tool calls return without error',
      bad: 'of tool calls failed',
      good: 'succeed',
      errors(w): 'sum by (%s) (rate(%s%s[%s]))' % [by, calls, u.sel(cfg, 'status="error"'), w],
      total(w): 'sum by (%s) (rate(%s%s[%s]))' % [by, calls, u.sel(cfg), w],
    },
    {
      name: 'tool-latency',
      alertname: 'CairnToolLatencyErrorBudgetBurn',
      title: 'Tool latency',
      objective: cfg.slo.toolLatency.objective,
      description: 'tool calls complete within %ss' % u.num(thr),
      bad: 'of tool calls took longer than %ss' % u.num(thr),
      good: 'are faster',
      // Bad events are calls above the threshold bucket: count minus the bucket's cumulative count.
      errors(w): |||
        (
          sum by (%(by)s) (rate(%(dur)s_count%(all)s[%(w)s]))
          -
          sum by (%(by)s) (rate(%(dur)s_bucket%(fast)s[%(w)s]))
        )
      ||| % { by: by, dur: dur, w: w, all: u.sel(cfg), fast: u.sel(cfg, u.le(thr)) },
      total(w): 'sum by (%s) (rate(%s_count%s[%s]))' % [by, dur, u.sel(cfg), w],
    },
  ]
