// Conversations: runs grouped by conversation (session) id.
//
// /conversations lists GET /api/v1/conversations (the server groups runs by conversation id, most
// recently active first, in keyset pages: "Load more" fetches the next). /conversations/{id}
// lists one conversation's runs with the API's exact `conversation` filter of /api/v1/traces.
// Neither reads span content.

import { getJson } from './api.js';
import { h, notice, replace } from './dom.js';
import { ago, duration, int, nanos, num, timestamp } from './format.js';

const PAGE = 50;
const RANGES = [['', 'all time'], ['1h', 'last hour'], ['24h', 'last 24 hours'], ['7d', 'last 7 days'], ['30d', 'last 30 days']];

function runsTable(runs) {
  return h('table.runs-table', null,
    h('thead', null, h('tr', null, ['Start', 'Run', 'Agent', 'Duration', 'Spans', 'Tokens', 'Errors'].map((c, i) => h(`th${i >= 3 ? '.num' : ''}`, { scope: 'col' }, c)))),
    h('tbody', null, runs.map((t) => h('tr', null,
      h('td', null, timestamp(nanos(t.start_unix_nano))),
      h('td', null, h('a', { href: `/runs/${encodeURIComponent(t.trace_id)}` }, t.name || '(unnamed)')),
      h('td', null, t.agent ?? '—'),
      h('td.num', null, duration(t.duration_ns)),
      h('td.num', null, int(t.span_count)),
      h('td.num', null, int(num(t.input_tokens) + num(t.output_tokens))),
      h(`td.num${num(t.error_count) ? '.has-errors' : ''}`, null, int(t.error_count))))));
}

function mountOne(root, id) {
  replace(root, h('header.page-head', null, h('h1', null, 'Conversation'), h('p.mono.muted', null, id)), notice('Loading runs…'));
  getJson('/traces', { conversation: id, limit: 1000 }).then((page) => {
    const runs = (page.traces ?? []).slice().sort((a, b) => {
      const x = nanos(a.start_unix_nano) ?? 0n;
      const y = nanos(b.start_unix_nano) ?? 0n;
      return x < y ? -1 : x > y ? 1 : 0;
    });
    const tokens = runs.reduce((s, t) => s + num(t.input_tokens) + num(t.output_tokens), 0);
    const errors = runs.reduce((s, t) => s + num(t.error_count), 0);
    replace(root,
      h('header.page-head', null, h('h1', null, 'Conversation'), h('p.mono.muted', null, id),
        h('p', null, h('a', { href: `/traces?conversation=${encodeURIComponent(id)}` }, 'Filter traces by this conversation'))),
      runs.length ? [
        h('div.totals', null,
          h('div.total', null, h('span.total-label', null, 'Runs'), h('span.total-value', null, int(runs.length))),
          h('div.total', null, h('span.total-label', null, 'Tokens'), h('span.total-value', null, int(tokens))),
          h('div.total', null, h('span.total-label', null, 'Errors'), h('span.total-value', null, int(errors)))),
        runsTable(runs),
        page.next_cursor ? h('p.muted', null, 'Showing the first 1000 runs.') : null,
      ] : notice('No runs in this conversation.'));
  }).catch((err) => replace(root, notice(`Cannot load the conversation: ${err.message}`, 'error')));
  return {};
}

function conversationRow(c) {
  const last = nanos(c.last_start_unix_nano);
  const errors = num(c.error_count);
  return h('tr', { dataset: { conversation: c.conversation_id, runs: String(num(c.runs)) } },
    h('td', null, h('a', { href: `/conversations/${encodeURIComponent(c.conversation_id)}` }, c.conversation_id)),
    h('td.num', null, int(c.runs)),
    h('td', null, (c.agents ?? []).join(', ') || '—'),
    h('td', null, timestamp(nanos(c.first_start_unix_nano))),
    h('td', { title: timestamp(last) }, ago(last)),
    h('td.num', null, int(num(c.input_tokens) + num(c.output_tokens))),
    h(`td.num${errors ? '.has-errors' : ''}`, { title: `${int(c.failed_runs)} failed runs` }, int(errors)));
}

/** Mounts /conversations or /conversations/{id}. */
export function mount(root, { params, query, navigate }) {
  if (params[0]) return mountOne(root, params[0]);
  const controller = new AbortController();
  const since = query.get('since') ?? '';
  const range = h('select#conversations-range', null, RANGES.map(([v, l]) => h('option', { value: v }, l)));
  range.value = RANGES.some(([v]) => v === since) ? since : '';
  range.addEventListener('change', () => navigate(range.value ? `/conversations?since=${range.value}` : '/conversations', { replace: true }));
  const status = h('p.muted', { 'aria-live': 'polite' }, 'Loading…');
  const tbody = h('tbody');
  const table = h('table.conversations-table', { hidden: true },
    h('thead', null, h('tr', null, ['Conversation', 'Runs', 'Agents', 'First run', 'Last run', 'Tokens', 'Errors'].map((c, i) => h(`th${[1, 5, 6].includes(i) ? '.num' : ''}`, { scope: 'col' }, c)))),
    tbody);
  let cursor = null;
  const more = h('button.load-more', { type: 'button', hidden: true, onclick: () => load() }, 'Load more');
  replace(root,
    h('header.page-head', null, h('h1', null, 'Conversations'),
      h('label.field.inline', { for: 'conversations-range' }, h('span.field-label', null, 'Runs started'), range)),
    h('p.muted', null, 'Runs grouped by conversation id (gen_ai.conversation.id), most recently active first.'),
    status, h('div.table-wrap', null, table), more);

  async function load() {
    more.disabled = true;
    try {
      const page = await getJson('/conversations', { limit: PAGE, since: range.value, cursor }, { signal: controller.signal });
      const rows = page.conversations ?? [];
      tbody.append(...rows.map(conversationRow));
      cursor = page.next_cursor ?? null;
      more.hidden = !cursor;
      table.hidden = !tbody.children.length;
      status.textContent = tbody.children.length ? `${tbody.children.length} conversations${cursor ? ' (more available)' : ''}.`
        : 'No runs with a conversation id in this time range.';
    } catch (err) {
      if (err?.name === 'AbortError') return;
      replace(status, notice(`Cannot load conversations: ${err.message}`, 'error'));
    } finally {
      more.disabled = false;
    }
  }
  load();
  return { unmount: () => controller.abort() };
}
