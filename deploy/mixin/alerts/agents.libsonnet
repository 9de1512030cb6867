// Agent-behaviour alerts: an agent acting unlike itself. Each compares a short window with the same
// agent's own baseline (recording rules in rules/agents.libsonnet) and needs a minimum number of events,
// so quiet agents do not alert on noise.
local u = import '../lib/utils.libsonnet';

{
  prometheusAlerts+:: {
    local cfg = $._config,
    local a = cfg.agents,
    local s = u.sel(cfg),
    local by = u.labelList(cfg.agentLabels),
    local byTool = u.labelList(cfg.agentLabels + ['tool']),
    local byModel = 'gen_ai_request_model, gen_ai_operation_name',

    groups+: [
      {
        name: 'cairn-agent-behaviour',
        file:: 'cairn-agents',
        rules: [
          u.alert(
            cfg,
            'CairnAgentToolLoop',
            // Runs whose most-repeated tool exceeded the threshold: the histogram's count minus the
            // threshold bucket. > 0.5 rather than >= 1 because increase() extrapolates.
            |||
              (
                sum by (%(by)s) (increase(cairn_run_max_same_tool_calls_count%(s)s[%(w)s]))
                -
                sum by (%(by)s) (increase(cairn_run_max_same_tool_calls_bucket%(le)s[%(w)s]))
              ) > 0.5
            ||| % { by: by, s: s, le: u.sel(cfg, u.le(a.toolLoopThreshold)), w: a.toolLoopWindow },
            'warning',
            '{{ $labels.agent }}: a run called the same tool more than %d times' % a.toolLoopThreshold,
            ('{{ $value | printf "%%.0f" }} run(s) of agent {{ $labels.agent }} in the last %s called one tool '
             + 'more than %d times: the agent is probably stuck in a tool loop, burning tokens and time.')
            % [a.toolLoopWindow, a.toolLoopThreshold],
          ),
          u.alert(
            cfg,
            'CairnAgentConfidenceDrift',
            |||
              agent:cairn_decision_confidence:mean%(sw)s
                < (1 - %(drop)s) * agent:cairn_decision_confidence:mean%(bw)s
              and on (%(by)s)
              sum by (%(by)s) (increase(cairn_decision_confidence_count%(s)s[%(sw)s])) >= %(min)s
            ||| % { sw: a.shortWindow, bw: a.baselineWindow, drop: u.num(a.confidenceDropRatio), by: by, s: s, min: u.num(a.minDecisions) },
            'warning',
            '{{ $labels.agent }}: decision confidence dropped below its %s baseline' % a.baselineWindow,
            ('Mean decision confidence of agent {{ $labels.agent }} over the last %(sw)s is {{ $value | printf "%%.2f" }}, '
             + 'more than %(pct)s %% below its %(bw)s baseline of '
             + '{{ with printf "agent:cairn_decision_confidence:mean%(bw)s{agent=%%q}" $labels.agent | query }}{{ . | first | value | printf "%%.2f" }}{{ end }}. '
             + 'Inputs, prompts, tools or the model may have changed.')
            % { sw: a.shortWindow, bw: a.baselineWindow, pct: u.num(a.confidenceDropRatio * 100) },
            '15m',
          ),
          u.alert(
            cfg,
            'CairnAgentReasoningStepsSpike',
            |||
              agent:cairn_reasoning_steps_per_run:mean%(sw)s
                > %(f)s * agent:cairn_reasoning_steps_per_run:mean%(bw)s
              and on (%(by)s)
              sum by (%(by)s) (increase(cairn_reasoning_steps_per_run_count%(s)s[%(sw)s])) >= %(min)s
            ||| % { sw: a.shortWindow, bw: a.baselineWindow, f: u.num(a.reasoningSpikeFactor), by: by, s: s, min: u.num(a.minRuns) },
            'warning',
            '{{ $labels.agent }}: reasoning steps per run spiking',
            ('Runs of agent {{ $labels.agent }} took {{ $value | printf "%%.1f" }} reasoning steps on average over '
             + 'the last %(sw)s, more than %(f)s× its %(bw)s baseline of '
             + '{{ with printf "agent:cairn_reasoning_steps_per_run:mean%(bw)s{agent=%%q}" $labels.agent | query }}{{ . | first | value | printf "%%.1f" }}{{ end }}.')
            % { sw: a.shortWindow, bw: a.baselineWindow, f: u.num(a.reasoningSpikeFactor) },
            '15m',
          ),
          u.alert(
            cfg,
            'CairnAgentErrorBurst',
            |||
              sum by (%(by)s) (increase(cairn_errors_total%(s)s[%(w)s])) >= %(min)s
              and on (%(by)s)
              sum by (%(by)s) (rate(cairn_errors_total%(s)s[%(w)s]))
                > %(f)s * sum by (%(by)s) (rate(cairn_errors_total%(s)s[%(bw)s]))
            ||| % { by: by, s: s, w: a.errorBurstWindow, min: u.num(a.errorBurstMin), f: u.num(a.errorBurstFactor), bw: a.baselineWindow },
            'warning',
            '{{ $labels.agent }}: burst of errors',
            ('Agent {{ $labels.agent }} recorded {{ $value | printf "%%.0f" }} errors in the last %(w)s, more than '
             + '%(f)s× its usual rate over %(bw)s.')
            % { w: a.errorBurstWindow, f: u.num(a.errorBurstFactor), bw: a.baselineWindow },
          ),
          u.alert(
            cfg,
            'CairnToolLatencySpike',
            |||
              agent_tool:cairn_tool_call_duration_seconds:p95_%(sw)s
                > %(f)s * agent_tool:cairn_tool_call_duration_seconds:p95_%(bw)s
              and
              agent_tool:cairn_tool_call_duration_seconds:p95_%(sw)s > %(floor)s
              and on (%(by)s)
              sum by (%(by)s) (increase(cairn_tool_call_duration_seconds_count%(s)s[%(sw)s])) >= %(min)s
            ||| % { sw: a.shortWindow, bw: a.baselineWindow, f: u.num(a.latencySpikeFactor), floor: u.num(a.latencyMinSeconds), by: byTool, s: s, min: u.num(a.latencyMinCalls) },
            'warning',
            '{{ $labels.agent }}: tool {{ $labels.tool }} latency spike',
            ('p95 latency of tool {{ $labels.tool }} called by {{ $labels.agent }} is {{ $value | humanizeDuration }} '
             + 'over the last %(sw)s, more than %(f)s× its %(bw)s baseline.')
            % { sw: a.shortWindow, bw: a.baselineWindow, f: u.num(a.latencySpikeFactor) },
            '10m',
          ),
          u.alert(
            cfg,
            'CairnLLMLatencySpike',
            |||
              model:gen_ai_client_operation_duration_seconds:p95_%(sw)s
                > %(f)s * model:gen_ai_client_operation_duration_seconds:p95_%(bw)s
              and
              model:gen_ai_client_operation_duration_seconds:p95_%(sw)s > %(floor)s
              and on (%(by)s)
              sum by (%(by)s) (increase(gen_ai_client_operation_duration_seconds_count%(s)s[%(sw)s])) >= %(min)s
            ||| % { sw: a.shortWindow, bw: a.baselineWindow, f: u.num(a.latencySpikeFactor), floor: u.num(a.llmLatencyMinSeconds), by: byModel, s: s, min: u.num(a.latencyMinCalls) },
            'warning',
            '{{ $labels.gen_ai_request_model }}: LLM {{ $labels.gen_ai_operation_name }} latency spike',
            ('p95 duration of {{ $labels.gen_ai_operation_name }} calls to {{ $labels.gen_ai_request_model }} is '
             + '{{ $value | humanizeDuration }} over the last %(sw)s, more than %(f)s× its %(bw)s baseline.')
            % { sw: a.shortWindow, bw: a.baselineWindow, f: u.num(a.latencySpikeFactor) },
            '10m',
          ),
        ],
      },
    ],
  },
}
