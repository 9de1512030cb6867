// Predictive alerts: something runs out before anyone would notice from a static threshold — the LLM
// budget before midnight, the data volume or file descriptors within hours, an exporter that never
// catches up.
local u = import '../lib/utils.libsonnet';

{
  prometheusAlerts+:: {
    local cfg = $._config,
    local b = cfg.budget,
    local secondsToMidnight = '(86400 - time() % 86400)',
    local hours(s) = u.num(s / 3600),

    groups+: [
      {
        name: 'cairn-predictive',
        file:: 'cairn-predictive',
        rules: (
          if b.dailyCostUsd > 0 then [
            u.alert(
              cfg,
              'CairnLLMCostBudgetExhaustion',
              |||
                cairn:llm_cost_usd:spent_today
                + cairn:llm_cost_usd:rate%(w)s * %(left)s
                > %(budget)s
              ||| % { w: b.rateWindow, left: secondsToMidnight, budget: u.num(b.dailyCostUsd) },
              'warning',
              'LLM spend will exceed the daily budget of $%s before midnight UTC' % u.num(b.dailyCostUsd),
              ('At the spend rate of the last %s, LLM spend for today (UTC) is projected to reach '
               + '${{ $value | printf "%%.2f" }} by midnight, over the daily budget of $%s '
               + '(spent so far: ${{ with query "cairn:llm_cost_usd:spent_today" }}{{ . | first | value | printf "%%.2f" }}{{ end }}).')
              % [b.rateWindow, u.num(b.dailyCostUsd)],
              b['for'],
            ),
          ] else []
        ) + (
          if b.dailyTokens > 0 then [
            u.alert(
              cfg,
              'CairnLLMTokenBudgetExhaustion',
              |||
                cairn:llm_tokens:spent_today
                + cairn:llm_tokens:rate%(w)s * %(left)s
                > %(budget)s
              ||| % { w: b.rateWindow, left: secondsToMidnight, budget: u.num(b.dailyTokens) },
              'warning',
              'LLM token usage will exceed the daily budget of %s tokens before midnight UTC' % u.num(b.dailyTokens),
              ("At the token rate of the last %s, today's (UTC) token usage is projected to reach "
               + '{{ $value | humanize }} tokens by midnight, over the daily budget of %s '
               + '(used so far: {{ with query "cairn:llm_tokens:spent_today" }}{{ . | first | value | humanize }}{{ end }}).')
              % [b.rateWindow, u.num(b.dailyTokens)],
              b['for'],
            ),
          ] else []
        ) + [
          local v = cfg.dataVolume;
          u.alert(
            cfg,
            'CairnDataVolumeFillingUp',
            |||
              cairn_data_volume_free_bytes%(s)s / cairn_data_volume_size_bytes%(s)s < %(ratio)s
              and
              predict_linear(cairn_data_volume_free_bytes%(s)s[%(lb)s], %(h)d) < 0
            ||| % { s: u.sel(cfg), ratio: u.num(v.predictBelowFreeRatio), lb: v.lookback, h: v.horizonSeconds },
            'warning',
            '{{ $labels.instance }}: Cairn data volume will be full within %s h' % hours(v.horizonSeconds),
            ("Cairn's data volume has {{ $value | humanizePercentage }} free and, at the rate it filled over "
             + 'the last %s, runs out of space within %s h. When it is full the ledger cannot append and '
             + 'ingestion is refused.') % [v.lookback, hours(v.horizonSeconds)],
            '10m',
          ),
          u.alert(
            cfg,
            'CairnDataVolumeFull',
            'cairn_data_volume_free_bytes%(s)s / cairn_data_volume_size_bytes%(s)s < %(ratio)s\n'
            % { s: u.sel(cfg), ratio: u.num(cfg.dataVolume.criticalFreeRatio) },
            'critical',
            '{{ $labels.instance }}: Cairn data volume is almost full',
            "Only {{ $value | humanizePercentage }} of Cairn's data volume is free. When it is full the ledger cannot append and ingestion is refused.",
            '5m',
          ),
          local f = cfg.fds;
          u.alert(
            cfg,
            'CairnFileDescriptorsExhaustion',
            |||
              process_open_fds%(s)s / process_max_fds%(s)s > %(ratio)s
              and
              predict_linear(process_open_fds%(s)s[%(lb)s], %(h)d) > process_max_fds%(s)s
            ||| % { s: u.sel(cfg), ratio: u.num(f.predictAboveUsedRatio), lb: f.lookback, h: f.horizonSeconds },
            'warning',
            '{{ $labels.instance }}: Cairn will run out of file descriptors within %s h' % hours(f.horizonSeconds),
            ('Cairn uses {{ $value | humanizePercentage }} of its file-descriptor limit and, at the growth of '
             + 'the last %s, reaches the limit within %s h; then it can accept no connections and open no '
             + 'segment files.') % [f.lookback, hours(f.horizonSeconds)],
            '10m',
          ),
          u.alert(
            cfg,
            'CairnFileDescriptorsNearLimit',
            'process_open_fds%(s)s / process_max_fds%(s)s > %(ratio)s\n'
            % { s: u.sel(cfg), ratio: u.num(cfg.fds.criticalUsedRatio) },
            'critical',
            '{{ $labels.instance }}: Cairn is close to its file-descriptor limit',
            'Cairn uses {{ $value | humanizePercentage }} of its file-descriptor limit; new connections and segment files will fail soon.',
            '5m',
          ),
          local e = cfg.exporters;
          u.alert(
            cfg,
            'CairnExporterLagGrowing',
            |||
              cairn_exporter_lag_entries%(s)s > %(min)s
              and
              deriv(cairn_exporter_lag_entries%(s)s[%(w)s]) > 0
            ||| % { s: u.sel(cfg), min: u.num(e.minLagEntries), w: e.window },
            'warning',
            '{{ $labels.instance }}: exporter {{ $labels.exporter }} keeps falling behind',
            ('Exporter {{ $labels.exporter }} is {{ $value | humanize }} entries behind the ledger and the lag '
             + 'has grown for %s: the destination is slower than ingestion or failing.') % e.window,
            e.window,
          ),
        ],
      },
    ],
  },
}
