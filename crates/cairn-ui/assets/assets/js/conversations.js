// Conversations: runs grouped by conversation (session) id.
//
// /conversations scans the most recent runs and groups them. Trace summaries do not carry the
// conversation id, so each run's id is read from its spans (gen_ai.conversation.id), fetched a few
// at a time and cached for the session; a summary field `conversation_id`, when a server sends
// one, is used directly. Runs with more than LARGE spans are not downloaded for this.
// /conversations/{id} lists one conversation's runs with the API's exact `conversation` filter.

import { getJson, mapLimit } from './api.js';
import { h, notice, replace } from './dom.js';
import { ago, duration, int, nanos, num, timestamp } from './format.js';
import { conversationOf } from './model.js';

const SCAN = 100;
const LARGE = 2000;
const cache = new Map();

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

/** Mounts /conversations or /conversations/{id}. */
export function mount(root, { params }) {
  if (params[0]) return mountOne(root, params[0]);
  let cancelled = false;
  const progress = h('p.muted', { 'aria-live': 'polite' }, 'Scanning recent runs…');
  const body = h('div');
  replace(root,
    h('header.page-head', null, h('h1', null, 'Conversations'),
      h('p.muted', null, `Runs grouped by conversation (gen_ai.conversation.id), from the ${SCAN} most recent runs.`)),
    progress, body);

  (async () => {
    let page;
    try {
      page = await getJson('/traces', { limit: SCAN });
    } catch (err) {
      replace(body, notice(`Cannot load runs: ${err.message}`, 'error'));
      return;
    }
    const runs = page.traces ?? [];
    let done = 0;
    let skipped = 0;
    await mapLimit(runs, 4, async (t) => {
      if (cancelled) return;
      const direct = t.conversation_id ?? t.conversation;
      if (typeof direct === 'string' && direct) cache.set(t.trace_id, direct);
      if (!cache.has(t.trace_id)) {
        if (num(t.span_count) > LARGE) {
          skipped++;
        } else {
          try {
            cache.set(t.trace_id, conversationOf(await getJson(`/traces/${encodeURIComponent(t.trace_id)}`)));
          } catch {
            cache.set(t.trace_id, null);
          }
        }
      }
      done++;
      if (!cancelled) progress.textContent = `Scanned ${done} of ${runs.length} runs…`;
    });
    if (cancelled) return;
    const groups = new Map();
    let loose = 0;
    for (const t of runs) {
      const conv = cache.get(t.trace_id);
      if (!conv) {
        loose++;
        continue;
      }
      if (!groups.has(conv)) groups.set(conv, []);
      groups.get(conv).push(t);
    }
    const rows = [...groups.entries()].map(([id, list]) => {
      const starts = list.map((t) => nanos(t.start_unix_nano) ?? 0n);
      const first = starts.reduce((a, b) => (b < a ? b : a));
      const last = starts.reduce((a, b) => (b > a ? b : a));
      return {
        id, runs: list, first, last,
        tokens: list.reduce((s, t) => s + num(t.input_tokens) + num(t.output_tokens), 0),
        errors: list.reduce((s, t) => s + num(t.error_count), 0),
        agents: [...new Set(list.map((t) => t.agent).filter(Boolean))],
      };
    }).sort((a, b) => (a.last < b.last ? 1 : a.last > b.last ? -1 : 0));
    progress.textContent = `${rows.length} conversations in ${runs.length} recent runs` +
      `${loose ? `; ${loose} runs without a conversation id` : ''}${skipped ? ` (${skipped} runs over ${LARGE} spans not scanned)` : ''}.`;
    replace(body, rows.length ? h('table.conversations-table', null,
      h('thead', null, h('tr', null, ['Conversation', 'Runs', 'Agents', 'First', 'Last activity', 'Tokens', 'Errors'].map((c, i) => h(`th${[1, 5, 6].includes(i) ? '.num' : ''}`, { scope: 'col' }, c)))),
      h('tbody', null, rows.map((c) => h('tr', { dataset: { conversation: c.id } },
        h('td', null, h('a', { href: `/conversations/${encodeURIComponent(c.id)}` }, c.id)),
        h('td.num', null, int(c.runs.length)),
        h('td', null, c.agents.join(', ') || '—'),
        h('td', null, timestamp(c.first)),
        h('td', { title: timestamp(c.last) }, ago(c.last)),
        h('td.num', null, int(c.tokens)),
        h(`td.num${c.errors ? '.has-errors' : ''}`, null, int(c.errors)))))) : notice('No conversation ids in the recent runs.'));
  })();
  return { unmount: () => { cancelled = true; } };
}
