// Cairn internals: ingest, ledger, index, exporters, process and async runtime.
local d = import '../lib/dashboards.libsonnet';
local u = import '../lib/utils.libsonnet';

{
  grafanaDashboards+:: {
    local cfg = $._config,
    local s = u.sel(cfg, 'instance=~"$instance"'),
    local r = '$__rate_interval',

    'cairn-internals.json': d.dashboard(
      cfg,
      'internals',
      'Cairn / Internals',
      'Health of Cairn itself: ingest, ledger, index, exporters, process and async runtime.',
      variables=[d.labelVariable('instance', 'Instance', 'process_start_time_seconds{%s}' % cfg.cairnSelector)],
      rows=[
        {
          title: 'Overview',
          panels: [
            d.stat('Up', 'Whether Prometheus can scrape each Cairn instance.', 'none', [
              d.target('up{job="%s", instance=~"$instance"}' % cfg.cairnJob, '{{instance}}', instant=true),
            ], baseColor='red', steps=[{ color: 'green', value: 1 }], mappings=[
              { type: 'value', options: { '0': { text: 'DOWN', color: 'red' }, '1': { text: 'UP', color: 'green' } } },
            ]),
            d.stat('Version', 'Cairn build running on each instance (cairn_build_info).', 'none', [
              d.target('cairn_build_info%s' % s, '{{version}}', instant=true),
            ], textMode='name', baseColor='blue'),
            d.stat('Uptime', 'Time since the Cairn process started.', 's', [
              d.target('time() - process_start_time_seconds%s' % s, '{{instance}}', instant=true),
            ], baseColor='red', steps=[{ color: 'green', value: 600 }]),
            d.stat('Ledger verification', 'Result of the last background ledger verification: anything but OK means the audit record does not match its signed tree.', 'none', [
              d.target('cairn_ledger_verify_last_success%s' % s, '{{instance}}', instant=true),
            ], baseColor='red', steps=[{ color: 'green', value: 1 }], mappings=[
              { type: 'value', options: { '0': { text: 'FAILED', color: 'red' }, '1': { text: 'OK', color: 'green' } } },
            ]),
            d.stat('Since last checkpoint', 'Time since the ledger last signed a checkpoint.', 's', [
              d.target('time() - cairn_ledger_last_checkpoint_timestamp_seconds%s' % s, '{{instance}}', instant=true),
            ], steps=[{ color: 'orange', value: cfg.ledger.checkpointMaxAgeSeconds / 2 }, { color: 'red', value: cfg.ledger.checkpointMaxAgeSeconds }]),
            d.stat('Data volume free', "Free share of the volume holding Cairn's data directory.", 'percentunit', [
              d.target('cairn_data_volume_free_bytes%(s)s / cairn_data_volume_size_bytes%(s)s' % { s: s }, '{{instance}}', instant=true),
            ], baseColor='red', steps=[{ color: 'orange', value: cfg.dataVolume.criticalFreeRatio }, { color: 'green', value: cfg.dataVolume.predictBelowFreeRatio }]),
          ],
        },
        {
          title: 'Ingest',
          panels: [
            d.timeseries('Requests', 'OTLP export requests per second by protocol, signal and response code.', 'reqps', [
              d.target('sum by (protocol, signal, code) (rate(cairn_ingest_requests_total%s[%s]))' % [s, r], '{{protocol}} {{signal}} {{code}}'),
            ], w=8),
            d.timeseries('Records accepted and rejected', 'Spans and log records accepted per second, and rejected ones by reason (shown negative).', 'cps', [
              d.target('sum by (signal) (rate(cairn_ingest_spans_accepted_total%s[%s]))' % [s, r], 'accepted {{signal}}'),
              d.target('-sum by (signal, reason) (rate(cairn_ingest_spans_rejected_total%s[%s]))' % [s, r], 'rejected {{signal}} {{reason}}'),
            ], w=8),
            d.timeseries('Request duration', '99th and 50th percentile of OTLP request handling time (includes the durable ledger append before the ack).', 's', [
              d.target('histogram_quantile(0.99, sum by (protocol, signal, le) (rate(cairn_ingest_request_duration_seconds_bucket%s[%s])))' % [s, r], '{{protocol}} {{signal}} p99'),
              d.target('histogram_quantile(0.5, sum by (protocol, signal, le) (rate(cairn_ingest_request_duration_seconds_bucket%s[%s])))' % [s, r], '{{protocol}} {{signal}} p50'),
            ], w=8),
            d.timeseries('Received bytes', 'Request payload bytes received per second.', 'Bps', [
              d.target('sum by (protocol, signal) (rate(cairn_ingest_received_bytes_total%s[%s]))' % [s, r], '{{protocol}} {{signal}}'),
            ], w=12),
            d.timeseries('Label overflow', 'Samples per second that went to the "__other__" series because a label hit its cardinality cap.', 'cps', [
              d.target('sum by (metric, label) (rate(cairn_metrics_label_overflow_total%s[%s]))' % [s, r], '{{metric}} {{label}}'),
            ], w=12),
          ],
        },
        {
          title: 'Ledger',
          panels: [
            d.timeseries('Entries', 'Entries in the ledger (its Merkle tree size).', 'short', [
              d.target('cairn_ledger_entries%s' % s, '{{instance}}'),
            ], w=6),
            d.timeseries('Size', 'Bytes of ledger segment files.', 'bytes', [
              d.target('cairn_ledger_bytes%s' % s, '{{instance}}'),
            ], w=6),
            d.timeseries('Append and fsync latency', '99th percentile of one group commit (append including fsync) and of the fsync alone.', 's', [
              d.target('histogram_quantile(0.99, sum by (instance, le) (rate(cairn_ledger_append_duration_seconds_bucket%s[%s])))' % [s, r], '{{instance}} append p99'),
              d.target('histogram_quantile(0.99, sum by (instance, le) (rate(cairn_ledger_fsync_duration_seconds_bucket%s[%s])))' % [s, r], '{{instance}} fsync p99'),
            ], w=6),
            d.timeseries('Checkpoints signed', 'Signed checkpoints per second.', 'cps', [
              d.target('sum by (instance) (rate(cairn_ledger_checkpoints_signed_total%s[%s]))' % [s, r], '{{instance}}'),
            ], w=6),
            d.timeseries('Since last checkpoint and verification', 'Age of the newest signed checkpoint and of the last background verification run.', 's', [
              d.target('time() - cairn_ledger_last_checkpoint_timestamp_seconds%s' % s, '{{instance}} checkpoint'),
              d.target('time() - cairn_ledger_verify_last_run_timestamp_seconds%s' % s, '{{instance}} verification'),
            ], w=12, thresholds=[cfg.ledger.checkpointMaxAgeSeconds]),
            d.timeseries('Data volume free', 'Free bytes on the data volume, with the linear prediction %s h ahead that CairnDataVolumeFillingUp uses.' % u.num(cfg.dataVolume.horizonSeconds / 3600), 'bytes', [
              d.target('cairn_data_volume_free_bytes%s' % s, '{{instance}} free'),
              d.target('predict_linear(cairn_data_volume_free_bytes%s[%s], %d)' % [s, cfg.dataVolume.lookback, cfg.dataVolume.horizonSeconds], '{{instance}} predicted in %s h' % u.num(cfg.dataVolume.horizonSeconds / 3600)),
            ], w=12),
          ],
        },
        {
          title: 'Index',
          panels: [
            d.timeseries('Index lag (entries)', 'Ledger entries not yet in the query index.', 'short', [
              d.target('cairn_index_lag_entries%s' % s, '{{instance}}'),
            ]),
            d.timeseries('Index lag (time)', 'Age of the oldest ledger entry not yet in the query index.', 's', [
              d.target('cairn_index_lag_seconds%s' % s, '{{instance}}'),
            ], thresholds=[cfg.cairn.indexLagSeconds]),
          ],
        },
        {
          title: 'Exporters',
          panels: [
            d.timeseries('Exported', 'Entries per second sent, failed, retried and dead-lettered, by exporter.', 'cps', [
              d.target('sum by (exporter) (rate(cairn_exporter_sent_total%s[%s]))' % [s, r], '{{exporter}} sent'),
              d.target('sum by (exporter) (rate(cairn_exporter_failed_total%s[%s]))' % [s, r], '{{exporter}} failed'),
              d.target('sum by (exporter) (rate(cairn_exporter_retried_total%s[%s]))' % [s, r], '{{exporter}} retried'),
              d.target('sum by (exporter) (rate(cairn_exporter_dead_lettered_total%s[%s]))' % [s, r], '{{exporter}} dead-lettered'),
            ]),
            d.timeseries('Exporter lag', 'Ledger entries each exporter has not delivered yet.', 'short', [
              d.target('cairn_exporter_lag_entries%s' % s, '{{instance}} {{exporter}}'),
            ]),
          ],
        },
        {
          title: 'Process',
          panels: [
            d.timeseries('CPU', 'CPU time used per second (1 = one core busy).', 'short', [
              d.target('rate(process_cpu_seconds_total%s[%s])' % [s, r], '{{instance}}'),
            ], w=8),
            d.timeseries('Memory', 'Resident and virtual memory of the Cairn process.', 'bytes', [
              d.target('process_resident_memory_bytes%s' % s, '{{instance}} resident'),
              d.target('process_virtual_memory_bytes%s' % s, '{{instance}} virtual'),
            ], w=8),
            d.timeseries('File descriptors', 'Open file descriptors against the process limit.', 'short', [
              d.target('process_open_fds%s' % s, '{{instance}} open'),
              d.target('process_max_fds%s' % s, '{{instance}} limit'),
            ], w=8),
            d.timeseries('Threads', 'OS threads of the Cairn process.', 'short', [
              d.target('process_threads%s' % s, '{{instance}}'),
            ], w=8),
            d.timeseries('Restarts', 'Process restarts within each interval (changes of process_start_time_seconds).', 'short', [
              d.target('changes(process_start_time_seconds%s[%s])' % [s, r], '{{instance}}'),
            ], w=8),
            d.timeseries('Scrape duration', 'How long Prometheus takes to scrape /metrics; growth hints at label cardinality.', 's', [
              d.target('scrape_duration_seconds{job="%s", instance=~"$instance"}' % cfg.cairnJob, '{{instance}}'),
            ], w=8),
          ],
        },
        {
          title: 'Async runtime',
          panels: [
            d.timeseries('Busy ratio', "Share of time the runtime's worker threads were busy; sustained values near 100 % mean saturation.", 'percentunit', [
              d.target('cairn_runtime_busy_ratio%s' % s, '{{instance}}'),
            ], w=6, min=0, max=1, thresholds=[cfg.cairn.runtimeBusyRatio]),
            d.timeseries('Workers', 'Worker threads of the async runtime.', 'short', [
              d.target('cairn_runtime_workers%s' % s, '{{instance}}'),
            ], w=6),
            d.timeseries('Alive tasks', 'Tasks alive in the async runtime.', 'short', [
              d.target('cairn_runtime_alive_tasks%s' % s, '{{instance}}'),
            ], w=6),
            d.timeseries('Global queue depth', "Tasks waiting in the runtime's global queue; growth means workers cannot keep up.", 'short', [
              d.target('cairn_runtime_global_queue_depth%s' % s, '{{instance}}'),
            ], w=6),
          ],
        },
      ],
    ),
  },
}
