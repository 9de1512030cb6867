(import 'slo.libsonnet') +
(import 'predictive.libsonnet') +
(import 'integrity.libsonnet') +
(import 'agents.libsonnet') +
(import 'cairn.libsonnet')
