// Configuration of the Cairn monitoring mixin.
//
// Everything a deployment may want to tune lives here; alerts, recording rules and dashboards read
// only `$._config`. Override from your own jsonnet:
//
//   (import 'cairn-mixin/mixin.libsonnet') + { _config+:: { cairnSelector: 'job="cairn-prod"' } }
//
// Durations are PromQL duration strings; ratios are fractions (0.2 = 20 %). Histogram thresholds must
// be bucket boundaries of the metric they apply to (checked by assertions below), because a
// `le` selector on a boundary that does not exist silently matches nothing.
{
  _config+:: {
    // Label selector that picks Cairn's scrape target(s) in every query.
    cairnSelector: 'job="cairn"',
    // Job name used by the "Cairn is down" alert (`up{job=...}` and `absent(...)`).
    cairnJob: 'cairn',

    // Base of every alert's runbook_url; each alert appends `#<alertname in lower case>`.
    runbookUrl: 'https://github.com/cairn-observability/cairn/blob/main/docs/runbooks.md',

    // Labels per-agent aggregations keep. SLOs are computed per agent so one failing agent is not
    // averaged away by healthy ones.
    agentLabels: ['agent'],

    // Labels that identify one Cairn process (used by Cairn-health alerts).
    instanceLabels: ['job', 'instance'],

    slo: {
      // Length of the error-budget period (Sloth's `slo:time_period:days`).
      periodDays: 30,
      // Low-traffic guard: a burn-rate alert needs at least this many events per hour, averaged over
      // the alert's long window. With 10 runs an hour, one failed run is already a 10 % error ratio —
      // too noisy to page on.
      minEventsPerHour: 10,
      agentRunSuccess: { objective: 0.99 },
      toolCallSuccess: { objective: 0.995 },
      toolLatency: {
        objective: 0.99,
        // A tool call is "fast enough" at or under this many seconds; must be a bucket boundary of
        // cairn_tool_call_duration_seconds.
        thresholdSeconds: 2.5,
      },
    },

    // Multi-window multi-burn-rate alerting (Google SRE workbook, chapter 5). An alert fires when the
    // error ratio over both the long and the short window exceeds factor × error budget.
    burnRateWindows: [
      { long: '1h', short: '5m', factor: 14.4, severity: 'critical', 'for': '2m' },
      { long: '6h', short: '30m', factor: 6, severity: 'critical', 'for': '15m' },
      { long: '1d', short: '2h', factor: 3, severity: 'warning', 'for': '1h' },
      { long: '3d', short: '6h', factor: 1, severity: 'warning', 'for': '3h' },
    ],

    budget: {
      // Daily budgets for LLM usage across all agents, per UTC day. Set to 0 to disable an alert.
      dailyCostUsd: 100,
      dailyTokens: 20000000,
      // The current spending rate is the average over this window; it is projected to midnight UTC.
      rateWindow: '1h',
      // Resolution of the "spent today" sum, and how often the budget rules run: the sum walks a day
      // of steps at every evaluation, so it runs less often than the default group interval.
      resolution: '5m',
      'for': '15m',
    },

    dataVolume: {
      // Fire when a linear fit over `lookback` says the volume is full within `horizonSeconds`.
      lookback: '1h',
      horizonSeconds: 4 * 3600,
      // ... but only once less than this fraction is free, so a fast-filling empty disk stays quiet.
      predictBelowFreeRatio: 0.4,
      // Free fraction under which the volume counts as (almost) full right now.
      criticalFreeRatio: 0.05,
    },

    fds: {
      lookback: '1h',
      horizonSeconds: 4 * 3600,
      // Predict only once this fraction of the limit is in use.
      predictAboveUsedRatio: 0.5,
      criticalUsedRatio: 0.9,
    },

    exporters: {
      // Lag must grow (positive slope over `window`) and be above this many entries.
      minLagEntries: 1000,
      window: '30m',
      dlqWindow: '15m',
    },

    ledger: {
      // Longest tolerated gap between two signed checkpoints while spans are being ingested.
      checkpointMaxAgeSeconds: 900,
      // Longest tolerated gap between two background verification runs.
      verifyMaxAgeSeconds: 6 * 3600,
    },

    ingest: {
      // Fraction of spans/log records rejected over 5 m that raises an alert.
      rejectedRatio: 0.01,
    },

    agents: {
      // A run counts as looping when one tool was called more than this many times; must be a bucket
      // boundary of cairn_run_max_same_tool_calls.
      toolLoopThreshold: 8,
      toolLoopWindow: '15m',
      // Short window compared against a longer baseline of the same agent.
      shortWindow: '10m',
      baselineWindow: '6h',
      // Mean decision confidence over the short window lower than the baseline by this fraction.
      confidenceDropRatio: 0.2,
      minDecisions: 20,
      // Mean reasoning steps per run over the short window above baseline × factor.
      reasoningSpikeFactor: 2,
      minRuns: 10,
      // Error burst: at least `errorBurstMin` errors in `errorBurstWindow`, and that rate is
      // `errorBurstFactor` times the agent's baseline error rate.
      errorBurstMin: 10,
      errorBurstWindow: '5m',
      errorBurstFactor: 5,
      // Latency spike: p95 over the short window above baseline p95 × factor, and above a floor so that
      // 5 ms → 12 ms does not page anyone.
      latencySpikeFactor: 2,
      latencyMinSeconds: 0.5,
      llmLatencyMinSeconds: 2,
      latencyMinCalls: 20,
    },

    cairn: {
      downFor: '5m',
      restartsIn30m: 3,
      indexLagSeconds: 60,
      // Resident memory grew by this factor over `memoryWindow` and is still growing.
      memoryGrowthRatio: 1.5,
      memoryWindow: '6h',
      memoryMinBytes: 256 * 1024 * 1024,
      runtimeBusyRatio: 0.9,
    },

    // Dashboards.
    dashboardTags: ['cairn'],
    dashboardRefresh: '30s',
    dashboardTimezone: 'utc',
    dashboardUidPrefix: 'cairn-',
  },

  local buckets = import 'lib/buckets.libsonnet',
  assert std.member(buckets.toolCallDuration, self._config.slo.toolLatency.thresholdSeconds) :
         'slo.toolLatency.thresholdSeconds must be a bucket of cairn_tool_call_duration_seconds: %s' % [buckets.toolCallDuration],
  assert std.member(buckets.maxSameToolCalls, self._config.agents.toolLoopThreshold) :
         'agents.toolLoopThreshold must be a bucket of cairn_run_max_same_tool_calls: %s' % [buckets.maxSameToolCalls],
}
