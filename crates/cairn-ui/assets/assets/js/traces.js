// The Traces page: filters, a sortable list of runs, pagination with next_cursor and live
// updates by polling.
//
// Filters and the sort live in the URL query (/traces?agent=planner&status=error&sort=tokens&order=asc),
// so a view can be shared. Sorting is the server's (`sort`/`order` of GET /api/v1/traces, keyset
// pages that stay in that order): clicking a column header, or Enter/Space on it, reloads the
// first page in the new order. Live updates poll the first page every few seconds while the tab
// is visible: runs still receiving spans are updated in place, new runs are merged in sort order
// (those that sort after the loaded rows while more pages exist arrive with "Load more").

import { getJson } from './api.js';
import { h, notice, replace } from './dom.js';
import { ago, duration, int, nanos, num, timeParam, timestamp } from './format.js';
import { KINDS } from './model.js';

const FILTERS = ['q', 'agent', 'status', 'kind', 'tool', 'model', 'conversation', 'since', 'until', 'min_duration_ms'];
const PAGE = 50;
const POLL_MS = 5000;
const RANGES = [['', 'any time'], ['15m', 'last 15 min'], ['1h', 'last hour'], ['6h', 'last 6 hours'],
  ['24h', 'last 24 hours'], ['7d', 'last 7 days'], ['30d', 'last 30 days']];

/** Sort keys of the API's `sort` parameter, as the server computes them. */
export const SORTS = {
  start: (t) => t.startNs,
  duration: (t) => num(t.duration_ns),
  tokens: (t) => num(t.input_tokens) + num(t.output_tokens),
  errors: (t) => num(t.error_count),
};

/** A summary row, with its start time parsed once. */
function row(summary) {
  return { ...summary, startNs: nanos(summary.start_unix_nano) ?? 0n };
}

/** The server's order: the key, then the trace id, both in the same direction. */
export function compare(key, dir) {
  const get = SORTS[key] ?? SORTS.start;
  const sign = dir === 'asc' ? 1 : -1;
  return (a, b) => {
    const x = get(a);
    const y = get(b);
    return ((x < y ? -1 : x > y ? 1 : 0) || (a.trace_id < b.trace_id ? -1 : a.trace_id > b.trace_id ? 1 : 0)) * sign;
  };
}

/** Mounts the Traces page. */
export function mount(root, { query, navigate }) {
  const state = {
    filters: Object.fromEntries(FILTERS.map((k) => [k, query.get(k) ?? ''])),
    sort: SORTS[query.get('sort')] ? query.get('sort') : 'start',
    // `dir` is what older links used.
    dir: (query.get('order') ?? query.get('dir')) === 'asc' ? 'asc' : 'desc',
    rows: [],
    cursor: null,
    selected: -1,
    live: query.get('live') !== 'off',
    generation: 0,
  };
  let timer = 0;
  let controller = null;
  let loadingKey = null;

  // ---- filter form ----
  const field = (name, label, input) => h('label.field', { for: `f-${name}` }, h('span.field-label', null, label), input);
  const text = (name, placeholder, listId) => h(`input#f-${name}`, {
    type: 'text', name, value: state.filters[name], placeholder, autocomplete: 'off', spellcheck: 'false', list: listId ?? false,
  });
  const select = (name, options) => {
    const el = h(`select#f-${name}`, { name }, options.map(([v, l]) => h('option', { value: v }, l)));
    el.value = state.filters[name];
    return el;
  };
  const search = h('input#f-q', {
    type: 'search', name: 'q', value: state.filters.q, placeholder: 'Search reasoning, tool arguments, messages, errors…  ( / )',
    autocomplete: 'off', spellcheck: 'false', dataset: { search: '' }, 'aria-label': 'full-text search',
  });
  const rangeKnown = RANGES.some(([v]) => v === state.filters.since) && !state.filters.until;
  const range = h('select#f-range', { name: 'range' },
    RANGES.map(([v, l]) => h('option', { value: v }, l)), h('option', { value: 'custom' }, 'custom…'));
  range.value = rangeKnown ? state.filters.since : 'custom';
  const since = text('since', 'since: RFC 3339 or 2h');
  const until = text('until', 'until: RFC 3339 or 10m');
  const custom = h('div.custom-range', { hidden: rangeKnown }, field('since', 'Since', since), field('until', 'Until', until));
  const formError = h('p.form-error', { role: 'alert', hidden: true });
  const agentsList = h('datalist#agents-list');
  const toolsList = h('datalist#tools-list');
  const modelsList = h('datalist#models-list');

  const inputs = {
    q: search,
    agent: text('agent', 'any agent', 'agents-list'),
    status: select('status', [['', 'any'], ['ok', 'ok'], ['error', 'error']]),
    kind: select('kind', [['', 'any'], ...KINDS.map((k) => [k, k])]),
    tool: text('tool', 'any tool', 'tools-list'),
    model: text('model', 'any model', 'models-list'),
    conversation: text('conversation', 'conversation / session id'),
    since,
    until,
    min_duration_ms: h('input#f-min_duration_ms', { type: 'number', min: '0', step: '1', name: 'min_duration_ms', value: state.filters.min_duration_ms, placeholder: 'ms' }),
  };

  const liveToggle = h('input#live', { type: 'checkbox', checked: state.live });
  const liveStatus = h('span.live-status.muted', { 'aria-live': 'polite' });
  const form = h('form.filters', { role: 'search', onsubmit: (e) => { e.preventDefault(); apply(); } },
    h('div.search-row', null, search, h('button.primary', { type: 'submit' }, 'Search')),
    h('div.filter-grid', null,
      field('agent', 'Agent', inputs.agent),
      field('status', 'Status', inputs.status),
      field('kind', 'Kind', inputs.kind),
      field('tool', 'Tool', inputs.tool),
      field('model', 'Model', inputs.model),
      field('conversation', 'Conversation', inputs.conversation),
      field('range', 'Time range', range),
      field('min_duration_ms', 'Min duration (ms)', inputs.min_duration_ms),
      h('div.field.filter-buttons', null,
        h('button', { type: 'button', onclick: () => { for (const k of FILTERS) state.filters[k] = ''; navigate('/traces', { replace: true }); } }, 'Clear'),
        h('label.live', { for: 'live' }, liveToggle, ' Live'), liveStatus)),
    custom, formError, agentsList, toolsList, modelsList);

  for (const el of [inputs.status, inputs.kind]) el.addEventListener('change', () => apply());
  range.addEventListener('change', () => {
    custom.hidden = range.value !== 'custom';
    if (range.value !== 'custom') {
      since.value = range.value;
      until.value = '';
      apply();
    } else {
      since.focus();
    }
  });
  for (const el of [inputs.agent, inputs.tool, inputs.model, inputs.conversation, inputs.min_duration_ms, since, until]) {
    el.addEventListener('change', () => apply());
  }
  liveToggle.addEventListener('change', () => {
    state.live = liveToggle.checked;
    schedule();
  });

  // ---- table ----
  const header = (key, label, cls) => {
    const sortable = Boolean(SORTS[key]);
    const th = h(`th${cls ? `.${cls}` : ''}`, { scope: 'col' });
    if (!sortable) th.textContent = label;
    else {
      th.append(h('button.sort', { type: 'button', dataset: { sort: key }, onclick: () => sortBy(key), title: `sort by ${label.toLowerCase()}` },
        label, h('span.sort-mark', { 'aria-hidden': 'true' })));
    }
    return th;
  };
  const thead = h('thead', null, h('tr', null,
    header('start', 'Start'), header('name', 'Run'), header('agent', 'Agent'), header('duration', 'Duration', 'num'),
    header('spans', 'Spans', 'num'), header('tools', 'Tools', 'num'), header('tokens', 'Tokens', 'num'),
    header('errors', 'Errors', 'num'), header('status', 'Status')));
  const tbody = h('tbody');
  const table = h('table.traces-table', { 'aria-label': 'traces' }, thead, tbody);
  const listStatus = h('div.list-status');
  const more = h('button.load-more', { type: 'button', hidden: true, onclick: () => loadMore() }, 'Load more');

  replace(root,
    h('header.page-head', null, h('h1', null, 'Traces'), h('p.muted', null, 'Agent runs, newest first; click a column header to sort. j/k to move, Enter to open, / to search.')),
    form,
    h('div.table-wrap', null, table),
    listStatus,
    more);

  function updateSortHeaders() {
    for (const th of thead.querySelectorAll('th')) {
      const b = th.querySelector('button.sort');
      if (!b) continue;
      const active = b.dataset.sort === state.sort;
      th.setAttribute('aria-sort', active ? (state.dir === 'asc' ? 'ascending' : 'descending') : 'none');
      b.querySelector('.sort-mark').textContent = active ? (state.dir === 'asc' ? ' ▲' : ' ▼') : '';
      b.setAttribute('aria-label', `${b.firstChild.textContent}, ${active ? `sorted ${state.dir === 'asc' ? 'ascending' : 'descending'}; activate to reverse` : 'activate to sort'}`);
    }
  }

  function sortBy(key) {
    if (state.sort === key) state.dir = state.dir === 'asc' ? 'desc' : 'asc';
    else {
      state.sort = key;
      state.dir = 'desc';
    }
    syncUrl();
    updateSortHeaders();
    load();
  }

  function renderRows(fresh = new Set()) {
    const selectedId = state.rows[state.selected]?.trace_id;
    state.selected = selectedId === undefined ? state.selected : state.rows.findIndex((r) => r.trace_id === selectedId);
    updateSortHeaders();
    tbody.replaceChildren(...state.rows.map((t, i) => {
      const href = `/runs/${encodeURIComponent(t.trace_id)}`;
      const error = t.status === 'error' || num(t.error_count) > 0;
      return h(`tr.trace-row${i === state.selected ? '.selected' : ''}${fresh.has(t.trace_id) ? '.fresh' : ''}`,
        { dataset: { traceId: t.trace_id, index: String(i) }, 'aria-selected': String(i === state.selected), onclick: (e) => {
          if (e.target.closest('a')) return;
          navigate(href);
        } },
        h('td.start', { title: ago(t.startNs) }, timestamp(t.startNs)),
        h('td.name', null, h('a', { href }, t.name || '(unnamed)')),
        h('td.agent', null, t.agent ?? '—'),
        h('td.num.duration', null, duration(t.duration_ns)),
        h('td.num.spans', null, int(t.span_count)),
        h('td.num.tools', null, int(t.tool_call_count)),
        h('td.num.tokens', { title: `${int(t.input_tokens)} in / ${int(t.output_tokens)} out` }, int(num(t.input_tokens) + num(t.output_tokens))),
        h(`td.num.errors${num(t.error_count) ? '.has-errors' : ''}`, null, int(t.error_count)),
        h('td.status', null, h(`span.status-pill.status-${error ? 'error' : 'ok'}`, null, error ? 'error' : 'ok')));
    }));
    more.hidden = !state.cursor;
  }

  function params(extra = {}) {
    const p = { limit: PAGE, ...extra };
    for (const k of FILTERS) if (state.filters[k]) p[k] = state.filters[k];
    if (state.sort !== 'start') p.sort = state.sort;
    if (state.dir !== 'desc') p.order = state.dir;
    return p;
  }

  function syncUrl() {
    const q = new URLSearchParams();
    for (const k of FILTERS) if (state.filters[k]) q.set(k, state.filters[k]);
    if (state.sort !== 'start') q.set('sort', state.sort);
    if (state.dir !== 'desc') q.set('order', state.dir);
    if (!state.live) q.set('live', 'off');
    const s = q.toString();
    history.replaceState(history.state, '', s ? `/traces?${s}` : '/traces');
  }

  function validate() {
    for (const k of ['since', 'until']) {
      const raw = inputs[k].value.trim();
      if (raw && timeParam(raw) === null) return `"${raw}" is not a time: use RFC 3339 (2025-01-31T12:00:00Z) or a duration like 2h`;
    }
    const m = inputs.min_duration_ms.value.trim();
    if (m && !/^\d+$/.test(m)) return 'min duration must be a whole number of milliseconds';
    return null;
  }

  function apply() {
    const problem = validate();
    formError.hidden = !problem;
    formError.textContent = problem ?? '';
    if (problem) return;
    for (const k of FILTERS) {
      const v = inputs[k].value.trim();
      state.filters[k] = k === 'since' || k === 'until' ? (timeParam(v) ?? '') : v;
    }
    syncUrl();
    load();
  }

  async function load() {
    // Enter in a filter field fires both `change` and `submit`: one request is enough.
    const key = JSON.stringify(params());
    if (loadingKey === key) return;
    loadingKey = key;
    const generation = ++state.generation;
    controller?.abort();
    controller = new AbortController();
    listStatus.replaceChildren(notice('Loading…'));
    try {
      const page = await getJson('/traces', params(), { signal: controller.signal });
      if (generation !== state.generation) return;
      state.rows = (page.traces ?? []).map(row);
      state.cursor = page.next_cursor ?? null;
      state.selected = state.rows.length ? 0 : -1;
      renderRows();
      listStatus.replaceChildren(state.rows.length ? h('span.muted.row-count', null, `${state.rows.length} runs${state.cursor ? ' (more available)' : ''}`)
        : notice(Object.values(state.filters).some(Boolean) ? 'No runs match these filters.'
          : 'No runs yet. Point an OpenTelemetry exporter at Cairn\'s OTLP endpoint (http://127.0.0.1:4318).'));
      liveStatus.textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (err) {
      if (err?.name === 'AbortError') return;
      listStatus.replaceChildren(notice(`Cannot load runs: ${err.message}`, 'error'));
    } finally {
      if (generation === state.generation) loadingKey = null;
    }
    schedule();
  }

  async function loadMore() {
    if (!state.cursor) return;
    more.disabled = true;
    try {
      const page = await getJson('/traces', params({ cursor: state.cursor }));
      const known = new Set(state.rows.map((r) => r.trace_id));
      for (const t of page.traces ?? []) if (!known.has(t.trace_id)) state.rows.push(row(t));
      state.cursor = page.next_cursor ?? null;
      renderRows();
      listStatus.replaceChildren(h('span.muted.row-count', null, `${state.rows.length} runs${state.cursor ? ' (more available)' : ''}`));
    } catch (err) {
      listStatus.replaceChildren(notice(`Cannot load more runs: ${err.message}`, 'error'));
    } finally {
      more.disabled = false;
    }
  }

  async function poll() {
    timer = 0;
    if (!state.live) return;
    if (document.hidden) {
      schedule();
      return;
    }
    const generation = state.generation;
    try {
      const page = await getJson('/traces', params());
      if (generation !== state.generation) return;
      const byId = new Map(state.rows.map((r) => [r.trace_id, r]));
      const fresh = new Set();
      const order = compare(state.sort, state.dir);
      const lastLoaded = state.rows[state.rows.length - 1];
      for (const t of page.traces ?? []) {
        const old = byId.get(t.trace_id);
        if (old) Object.assign(old, row(t));
        else {
          const r = row(t);
          // Past the loaded rows while more pages exist: it comes with "Load more".
          if (state.cursor && lastLoaded && order(r, lastLoaded) > 0) continue;
          state.rows.push(r);
          fresh.add(t.trace_id);
        }
      }
      if (state.cursor === null && page.next_cursor && fresh.size) state.cursor = page.next_cursor;
      const selectedId = state.rows[state.selected]?.trace_id;
      state.rows.sort(order);
      if (selectedId !== undefined) state.selected = state.rows.findIndex((r) => r.trace_id === selectedId);
      renderRows(fresh);
      liveStatus.textContent = `updated ${new Date().toLocaleTimeString()}${fresh.size ? ` · ${fresh.size} new` : ''}`;
    } catch (err) {
      liveStatus.textContent = `live update failed: ${err.message}`;
    }
    schedule();
  }

  function schedule() {
    clearTimeout(timer);
    timer = state.live ? setTimeout(poll, POLL_MS) : 0;
  }

  function moveSelection(delta) {
    if (!state.rows.length) return;
    state.selected = Math.max(0, Math.min(state.rows.length - 1, state.selected + delta));
    for (const tr of tbody.children) {
      const on = Number(tr.dataset.index) === state.selected;
      tr.classList.toggle('selected', on);
      tr.setAttribute('aria-selected', String(on));
      if (on) tr.scrollIntoView({ block: 'nearest' });
    }
  }

  // Datalists for the agent, tool and model filters, from the stats endpoint (best effort).
  for (const [group, list] of [['agent', agentsList], ['tool', toolsList], ['model', modelsList]]) {
    getJson('/stats', { group_by: group }).then((report) => {
      replace(list, (report.groups ?? []).map((g) => h('option', { value: g.key })));
    }).catch(() => {});
  }

  load();

  return {
    onKey: (e) => {
      switch (e.key) {
        case 'j': case 'ArrowDown': moveSelection(1); return true;
        case 'k': case 'ArrowUp': moveSelection(-1); return true;
        case 'Enter': {
          const t = state.rows[state.selected];
          if (!t) return false;
          navigate(`/runs/${encodeURIComponent(t.trace_id)}`);
          return true;
        }
        default: return false;
      }
    },
    unmount: () => {
      clearTimeout(timer);
      state.generation++;
      controller?.abort();
    },
  };
}
