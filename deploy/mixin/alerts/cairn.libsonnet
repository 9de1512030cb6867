// Alerts about Cairn itself: reachable, stable, keeping up, not leaking, not saturated.
local u = import '../lib/utils.libsonnet';

{
  prometheusAlerts+:: {
    local cfg = $._config,
    local c = cfg.cairn,
    local s = u.sel(cfg),
    local inst = u.labelList(cfg.instanceLabels),

    groups+: [
      {
        name: 'cairn-health',
        file:: 'cairn-health',
        rules: [
          u.alert(
            cfg,
            'CairnDown',
            'up{job="%(j)s"} == 0\nor\nabsent(up{job="%(j)s"})\n' % { j: cfg.cairnJob },
            'critical',
            'Cairn is down{{ with $labels.instance }} on {{ . }}{{ end }}',
            'Prometheus has not scraped Cairn (job "%s"){{ with $labels.instance }} at {{ . }}{{ end }} for %s. '
            % [cfg.cairnJob, c.downFor]
            + 'While Cairn is down agents cannot deliver spans; SDKs buffer and then drop them.',
            c.downFor,
          ),
          u.alert(
            cfg,
            'CairnRestartLoop',
            'changes(process_start_time_seconds%s[30m]) > %d\n' % [s, c.restartsIn30m],
            'warning',
            '{{ $labels.instance }}: Cairn is restarting repeatedly',
            'Cairn restarted {{ $value | printf "%.0f" }} times in the last 30 minutes.',
          ),
          u.alert(
            cfg,
            'CairnIndexLagHigh',
            'cairn_index_lag_seconds%s > %s\n' % [s, u.num(c.indexLagSeconds)],
            'warning',
            '{{ $labels.instance }}: Cairn index lags behind the ledger',
            'The query index is {{ $value | humanizeDuration }} behind the ledger: new spans are durable but '
            + 'queries, the CLI and the UI do not show them yet.',
            '10m',
          ),
          u.alert(
            cfg,
            'CairnMemoryGrowth',
            |||
              process_resident_memory_bytes%(s)s > %(min)s
              and
              process_resident_memory_bytes%(s)s / min_over_time(process_resident_memory_bytes%(s)s[%(w)s]) > %(ratio)s
              and
              deriv(process_resident_memory_bytes%(s)s[1h]) > 0
              and on (%(inst)s)
              time() - process_start_time_seconds%(s)s > 3600
            ||| % { s: s, min: u.num(c.memoryMinBytes), w: c.memoryWindow, ratio: u.num(c.memoryGrowthRatio), inst: inst },
            'warning',
            '{{ $labels.instance }}: Cairn memory keeps growing',
            ("Cairn's resident memory is {{ $value | humanize1024 }}B, more than %s× its minimum over the last %s, "
             + 'and still growing: a leak or an unbounded buffer.') % [u.num(c.memoryGrowthRatio), c.memoryWindow],
            '1h',
          ),
          u.alert(
            cfg,
            'CairnRuntimeSaturated',
            'cairn_runtime_busy_ratio%s > %s\n' % [s, u.num(c.runtimeBusyRatio)],
            'warning',
            '{{ $labels.instance }}: Cairn async runtime saturated',
            "Cairn's async runtime workers are busy {{ $value | humanizePercentage }} of the time; requests queue up and ingest latency grows.",
            '15m',
          ),
          u.alert(
            cfg,
            'CairnMetricsLabelOverflow',
            'sum by (%s, metric, label) (increase(cairn_metrics_label_overflow_total%s[1h])) > 0\n' % [inst, s],
            'info',
            '{{ $labels.instance }}: label {{ $labels.label }} of {{ $labels.metric }} hit its cardinality cap',
            "Label {{ $labels.label }} of metric {{ $labels.metric }} has more distinct values than Cairn's cap; "
            + '{{ $value | printf "%.0f" }} samples in the last hour went to the "__other__" series.',
          ),
        ],
      },
    ],
  },
}
