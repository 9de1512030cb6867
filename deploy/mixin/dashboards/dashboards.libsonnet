(import 'agents.libsonnet') +
(import 'tools.libsonnet') +
(import 'reasoning.libsonnet') +
(import 'slo.libsonnet') +
(import 'internals.libsonnet')
