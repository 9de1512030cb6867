(import 'slo.libsonnet') +
(import 'agents.libsonnet') +
(import 'budget.libsonnet')
