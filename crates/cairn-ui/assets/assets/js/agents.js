// Agents: per-agent runs, error rate, latency percentiles and tokens, with the most used and the
// most failing tools and the models in use — all from GET /api/v1/stats.
//
// Every agent that took part in a run has a row, sub-agents included (the server attributes each
// span to its nearest agent). /agents?agent=NAME shows the tools and models of that agent only
// (`agent=` of /api/v1/stats); the agent picker and each row's "tools" link set it.

import { getJson } from './api.js';
import { h, notice, replace } from './dom.js';
import { duration, int, num, percent } from './format.js';

const RANGES = [['', 'all time'], ['1h', 'last hour'], ['24h', 'last 24 hours'], ['7d', 'last 7 days'], ['30d', 'last 30 days']];

function rateBar(rate) {
  const r = Math.max(0, Math.min(1, num(rate)));
  return h('div.rate', { title: percent(r, 1) },
    h('div.rate-track', null, h(`div.rate-fill${r > 0.2 ? '.rate-bad' : r > 0 ? '.rate-some' : ''}`, { style: { width: `${r * 100}%` } })),
    h('span.rate-value', null, percent(r, 1)));
}

/**
 * A table of stats groups. `compact` (tools side by side) leaves out p99 and token columns, which
 * are zero for tool calls anyway.
 */
function statsTable(cls, groups, keyLabel, link, { compact = false, action = null } = {}) {
  if (!groups.length) return notice('No data in this time range.');
  const columns = [
    ['Count', (g) => int(g.count)],
    ['Errors', (g) => int(g.error_count), (g) => (num(g.error_count) ? 'has-errors' : '')],
    ['Error rate', (g) => rateBar(g.error_rate)],
    ['p50', (g) => duration(g.p50_duration_ns)],
    ['p95', (g) => duration(g.p95_duration_ns)],
    ...(compact ? [] : [
      ['p99', (g) => duration(g.p99_duration_ns)],
      ['Tokens in', (g) => int(g.input_tokens)],
      ['Tokens out', (g) => int(g.output_tokens)],
    ]),
  ];
  return h('div.table-wrap', null, h(`table.stats-table.${cls}`, null,
    h('thead', null, h('tr', null, h('th', { scope: 'col' }, keyLabel), columns.map(([label]) => h('th.num', { scope: 'col' }, label)),
      action ? h('th', { scope: 'col' }, h('span.visually-hidden', null, 'actions')) : null)),
    h('tbody', null, groups.map((g) => h('tr', { dataset: { key: g.key } },
      h('th', { scope: 'row' }, link ? h('a', { href: link(g.key) }, g.key) : g.key),
      columns.map(([, cell, cls2]) => h(`td.num${cls2?.(g) ? `.${cls2(g)}` : ''}`, null, cell(g))),
      action ? h('td.row-action', null, action(g)) : null)))));
}

/** Mounts the Agents page. */
export function mount(root, { query, navigate }) {
  const since = query.get('since') ?? '';
  const agent = query.get('agent') ?? '';
  const go = (next) => {
    const q = new URLSearchParams();
    if (next.since) q.set('since', next.since);
    if (next.agent) q.set('agent', next.agent);
    const s = q.toString();
    navigate(s ? `/agents?${s}` : '/agents', { replace: true });
  };
  const range = h('select#agents-range', null, RANGES.map(([v, l]) => h('option', { value: v }, l)));
  range.value = RANGES.some(([v]) => v === since) ? since : '';
  range.addEventListener('change', () => go({ since: range.value, agent }));
  const picker = h('select#agents-agent', null, h('option', { value: '' }, 'all agents'), agent ? h('option', { value: agent }, agent) : null);
  picker.value = agent;
  picker.addEventListener('change', () => go({ since: range.value, agent: picker.value }));
  const agents = h('div', null, notice('Loading…'));
  const topTools = h('div', null, notice('Loading…'));
  const failing = h('div', null, notice('Loading…'));
  const models = h('div', null, notice('Loading…'));
  const of = agent ? ` of ${agent}` : '';
  replace(root,
    h('header.page-head', null, h('h1', null, 'Agents'),
      h('label.field.inline', { for: 'agents-range' }, h('span.field-label', null, 'Time range'), range),
      h('label.field.inline', { for: 'agents-agent' }, h('span.field-label', null, 'Tools and models of'), picker)),
    h('section.card', null, h('h2', null, 'Agents'),
      h('p.muted', null, 'Runs each agent took part in, sub-agents included; duration percentiles are per run; a run failed when a span of that agent failed.'), agents),
    h('div.cards', null,
      h('section.card.agent-tools', { dataset: { agent } }, h('h2', null, `Top tools${of}`), topTools),
      h('section.card.agent-failing', { dataset: { agent } }, h('h2', null, `Failing tools${of}`), failing)),
    h('section.card', null, h('h2', null, `Models${of}`), models));

  const load = (group, extra = {}) => getJson('/stats', { group_by: group, since: range.value, ...extra });
  const scoped = agent ? { agent } : {};
  load('agent').then((r) => {
    const groups = r.groups ?? [];
    replace(agents, statsTable('agents-table', groups, 'Agent', (k) => `/traces?agent=${encodeURIComponent(k)}`, {
      action: (g) => h('a.agent-tools-link', { href: `/agents?${new URLSearchParams({ ...(range.value ? { since: range.value } : {}), agent: g.key })}`, 'aria-label': `tools of ${g.key}` },
        g.key === agent ? 'tools ✓' : 'tools'),
    }));
    replace(picker, h('option', { value: '' }, 'all agents'),
      [...new Set([...groups.map((g) => g.key), ...(agent ? [agent] : [])])].map((k) => h('option', { value: k }, k)));
    picker.value = agent;
  }).catch((err) => replace(agents, notice(`Cannot load agent stats: ${err.message}`, 'error')));
  load('tool', scoped).then((r) => {
    const groups = r.groups ?? [];
    const toolLink = (k) => `/traces?tool=${encodeURIComponent(k)}${agent ? `&agent=${encodeURIComponent(agent)}` : ''}`;
    replace(topTools, statsTable('tools-table', groups.slice(0, 10), 'Tool', toolLink, { compact: true }));
    const bad = groups.filter((g) => num(g.error_count) > 0)
      .sort((a, b) => num(b.error_rate) - num(a.error_rate) || num(b.error_count) - num(a.error_count)).slice(0, 10);
    replace(failing, bad.length ? statsTable('failing-table', bad, 'Tool', (k) => `${toolLink(k)}&status=error`, { compact: true })
      : notice(`No tool call${of} failed in this time range.`));
  }).catch((err) => {
    replace(topTools, notice(`Cannot load tool stats: ${err.message}`, 'error'));
    replace(failing, h('span'));
  });
  load('model', scoped).then((r) => replace(models, statsTable('models-table', r.groups ?? [], 'Model', (k) => `/traces?model=${encodeURIComponent(k)}`)))
    .catch((err) => replace(models, notice(`Cannot load model stats: ${err.message}`, 'error')));
  return {};
}
