// Integrity alerts: the audit record itself is at risk — verification failed or stopped, checkpoints are
// not being signed, or spans never reached the ledger.
local u = import '../lib/utils.libsonnet';

{
  prometheusAlerts+:: {
    local cfg = $._config,
    local l = cfg.ledger,
    local inst = u.labelList(cfg.instanceLabels),
    local s = u.sel(cfg),

    groups+: [
      {
        name: 'cairn-integrity',
        file:: 'cairn-integrity',
        rules: [
          u.alert(
            cfg,
            'CairnLedgerVerificationFailed',
            'cairn_ledger_verify_last_success%s == 0\n' % s,
            'critical',
            '{{ $labels.instance }}: background ledger verification failed',
            'The last background verification of the ledger failed: the stored entries no longer match the '
            + 'signed Merkle tree. The audit record may have been altered or corrupted; treat it as an incident.',
          ),
          u.alert(
            cfg,
            'CairnLedgerVerificationStale',
            |||
              time() - cairn_ledger_verify_last_run_timestamp_seconds%(s)s > %(max)d
              and on (%(inst)s)
              time() - process_start_time_seconds%(s)s > %(max)d
            ||| % { s: s, max: l.verifyMaxAgeSeconds, inst: inst },
            'warning',
            '{{ $labels.instance }}: ledger verification has not run recently',
            'The background ledger verification last ran {{ $value | humanizeDuration }} ago; without it a '
            + 'corrupted or altered ledger goes unnoticed.',
            '15m',
          ),
          u.alert(
            cfg,
            'CairnLedgerCheckpointStale',
            |||
              time() - cairn_ledger_last_checkpoint_timestamp_seconds%(s)s > %(max)d
              and on (%(inst)s)
              sum by (%(inst)s) (rate(cairn_ingest_spans_accepted_total%(s)s[5m])) > 0
              and on (%(inst)s)
              time() - process_start_time_seconds%(s)s > %(max)d
            ||| % { s: s, max: l.checkpointMaxAgeSeconds, inst: inst },
            'warning',
            '{{ $labels.instance }}: no ledger checkpoint signed for {{ $value | humanizeDuration }}',
            'Cairn is ingesting but has not signed a checkpoint for {{ $value | humanizeDuration }}. Entries '
            + 'appended since the last checkpoint are durable but not yet covered by a signed tree head, so '
            + 'auditors cannot check them.',
            '5m',
          ),
          u.alert(
            cfg,
            'CairnSpansRejected',
            |||
              sum by (%(inst)s, signal, reason) (rate(cairn_ingest_spans_rejected_total%(s)s[5m]))
              / on (%(inst)s, signal) group_left ()
              (
                sum by (%(inst)s, signal) (rate(cairn_ingest_spans_rejected_total%(s)s[5m]))
                +
                (
                  sum by (%(inst)s, signal) (rate(cairn_ingest_spans_accepted_total%(s)s[5m]))
                  or
                  0 * sum by (%(inst)s, signal) (rate(cairn_ingest_spans_rejected_total%(s)s[5m]))
                )
              )
              > %(ratio)s
            ||| % { s: s, inst: inst, ratio: u.num(cfg.ingest.rejectedRatio) },
            'warning',
            '{{ $labels.instance }}: Cairn rejects {{ $labels.signal }} ({{ $labels.reason }})',
            '{{ $value | humanizePercentage }} of incoming {{ $labels.signal }} are rejected with reason '
            + '"{{ $labels.reason }}". Rejected records never reach the ledger: the audit trail has gaps.',
            '10m',
          ),
          u.alert(
            cfg,
            'CairnExporterDeadLetters',
            'sum by (%(inst)s, exporter) (increase(cairn_exporter_dead_lettered_total%(s)s[%(w)s])) > 0\n'
            % { s: s, inst: inst, w: cfg.exporters.dlqWindow },
            'warning',
            '{{ $labels.instance }}: exporter {{ $labels.exporter }} dead-letters entries',
            'Exporter {{ $labels.exporter }} gave up on {{ $value | humanize }} entries in the last %s after '
            % cfg.exporters.dlqWindow + 'exhausting its retries; the destination is missing them (the ledger still has them).',
          ),
        ],
      },
    ],
  },
}
