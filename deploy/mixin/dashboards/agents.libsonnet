// Agent overview: what the agents do, how often they fail, what they cost.
local d = import '../lib/dashboards.libsonnet';
local u = import '../lib/utils.libsonnet';

{
  grafanaDashboards+:: {
    local cfg = $._config,
    local s = u.sel(cfg, 'agent=~"$agent"'),
    local all = u.sel(cfg),
    local r = '$__rate_interval',

    'cairn-agents-overview.json': d.dashboard(
      cfg,
      'agents-overview',
      'Cairn / Agents overview',
      'Runs, failures, errors and LLM usage of the agents Cairn observes.',
      variables=[d.labelVariable('agent', 'Agent', 'cairn_agent_runs_total{%s}' % cfg.cairnSelector)],
      rows=[
        {
          title: 'Summary',
          panels: [
            d.stat('Runs per second', 'Agent runs finished per second, all selected agents.', 'cps', [
              d.target('sum(rate(cairn_agent_runs_total%s[%s]))' % [s, r], instant=true),
            ]),
            d.stat('Run failure ratio', 'Share of finished runs that ended with an error. The run-success SLO allows %s %%.' % u.num((1 - cfg.slo.agentRunSuccess.objective) * 100), 'percentunit', [
              d.target(|||
                (sum(rate(cairn_agent_runs_total%(e)s[%(r)s])) or vector(0))
                /
                sum(rate(cairn_agent_runs_total%(s)s[%(r)s]))
              ||| % { e: u.sel(cfg, 'agent=~"$agent", status="error"'), s: s, r: r }, instant=true),
            ], steps=[{ color: 'orange', value: 1 - cfg.slo.agentRunSuccess.objective }, { color: 'red', value: 14.4 * (1 - cfg.slo.agentRunSuccess.objective) }]),
            d.stat('Agents seen', 'Distinct agents with at least one finished run since Cairn started (label values are capped; the overflow shows as "__other__").', 'short', [
              d.target('count(count by (agent) (cairn_agent_runs_total%s))' % s, instant=true),
            ]),
            d.stat('LLM spend today (UTC)', "Spend of all agents since 00:00 UTC (recording rule cairn:llm_cost_usd:spent_today; prices from Cairn's price table).", 'currencyUSD', [
              d.target('cairn:llm_cost_usd:spent_today', instant=true),
            ], steps=[{ color: 'orange', value: cfg.budget.dailyCostUsd * 0.8 }, { color: 'red', value: cfg.budget.dailyCostUsd }], decimals=2),
            d.stat('Projected spend by midnight', "Spend so far today plus the last %s's spend rate carried to midnight UTC — what CairnLLMCostBudgetExhaustion compares with the daily budget of $%s." % [cfg.budget.rateWindow, u.num(cfg.budget.dailyCostUsd)], 'currencyUSD', [
              d.target('cairn:llm_cost_usd:spent_today + cairn:llm_cost_usd:rate%s * (86400 - time() %% 86400)' % cfg.budget.rateWindow, instant=true),
            ], steps=[{ color: 'red', value: cfg.budget.dailyCostUsd }], decimals=2),
            d.stat('Tokens today (UTC)', 'LLM tokens (input and output) of all agents since 00:00 UTC; daily budget %s.' % u.num(cfg.budget.dailyTokens), 'short', [
              d.target('cairn:llm_tokens:spent_today', instant=true),
            ], steps=[{ color: 'orange', value: cfg.budget.dailyTokens * 0.8 }, { color: 'red', value: cfg.budget.dailyTokens }]),
          ],
        },
        {
          title: 'Runs',
          panels: [
            d.timeseries('Runs by agent and status', 'Finished agent runs per second, split by outcome.', 'cps', [
              d.target('sum by (agent, status) (rate(cairn_agent_runs_total%s[%s]))' % [s, r], '{{agent}} {{status}}'),
            ]),
            d.timeseries('Run failure ratio by agent', "Share of each agent's runs that ended with an error.", 'percentunit', [
              d.target(|||
                (
                  sum by (agent) (rate(cairn_agent_runs_total%(e)s[%(r)s]))
                  or
                  0 * sum by (agent) (rate(cairn_agent_runs_total%(s)s[%(r)s]))
                )
                /
                sum by (agent) (rate(cairn_agent_runs_total%(s)s[%(r)s]))
              ||| % { e: u.sel(cfg, 'agent=~"$agent", status="error"'), s: s, r: r }, '{{agent}}'),
            ], min=0, thresholds=[1 - cfg.slo.agentRunSuccess.objective]),
            d.timeseries('Run duration', 'Median and 95th percentile of run duration per agent (from the cairn_agent_run_duration_seconds histogram).', 's', [
              d.target('histogram_quantile(0.5, sum by (agent, le) (rate(cairn_agent_run_duration_seconds_bucket%s[%s])))' % [s, r], '{{agent}} p50'),
              d.target('histogram_quantile(0.95, sum by (agent, le) (rate(cairn_agent_run_duration_seconds_bucket%s[%s])))' % [s, r], '{{agent}} p95'),
            ]),
            d.timeseries('Errors by agent and type', 'Errors recorded in agent spans per second, by error type.', 'cps', [
              d.target('sum by (agent, error_type) (rate(cairn_errors_total%s[%s]))' % [s, r], '{{agent}} {{error_type}}'),
            ], stack=true),
          ],
        },
        {
          title: 'LLM usage',
          panels: [
            d.timeseries('Tokens by model', 'LLM tokens per second by model and direction (input = prompt, output = completion).', 'short', [
              d.target('sum by (model, type) (rate(cairn_llm_tokens_total%s[%s]))' % [s, r], '{{model}} {{type}}'),
            ], stack=true),
            d.timeseries('Spend rate by model', "LLM spend per hour by model, priced from Cairn's configurable price table.", 'currencyUSD', [
              d.target('sum by (model) (rate(cairn_llm_cost_usd_total%s[%s])) * 3600' % [s, r], '{{model}}'),
            ], stack=true),
            d.timeseries('LLM call duration', '95th percentile of GenAI client operation duration (gen_ai.client.operation.duration) by model and operation.', 's', [
              d.target('histogram_quantile(0.95, sum by (gen_ai_request_model, gen_ai_operation_name, le) (rate(gen_ai_client_operation_duration_seconds_bucket%s[%s])))' % [all, r], '{{gen_ai_request_model}} {{gen_ai_operation_name}} p95'),
            ]),
            d.timeseries('Tokens per LLM call', 'Median tokens per call by model and token type (gen_ai.client.token.usage histogram).', 'short', [
              d.target('histogram_quantile(0.5, sum by (gen_ai_request_model, gen_ai_token_type, le) (rate(gen_ai_client_token_usage_bucket%s[%s])))' % [all, r], '{{gen_ai_request_model}} {{gen_ai_token_type}} p50'),
            ]),
            d.timeseries('LLM calls by outcome', 'GenAI client operations per second by model; error_type is empty for successful calls.', 'cps', [
              d.target('sum by (gen_ai_request_model, error_type) (rate(gen_ai_client_operation_duration_seconds_count%s[%s]))' % [all, r], '{{gen_ai_request_model}} {{error_type}}'),
            ], w=24),
          ],
        },
      ],
    ),
  },
}
