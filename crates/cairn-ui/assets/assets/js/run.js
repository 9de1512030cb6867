// The run view: totals, then the span tree and its waterfall side by side (one virtualized list,
// so both scroll together), and the selected span's details.
//
// URL: /runs/{trace_id}?span={span_id}. The selection is kept in the URL (replaceState), so any
// view of a span can be shared. Keys: j/k or ↓/↑ move, ←/→ (h/l) collapse/expand or go to the
// parent, Enter toggles, Home/End jump, PageUp/PageDown page.

import { ApiError, getBlob, getJsonTimed, prices } from './api.js';
import { h, notice, replace } from './dom.js';
import { duration, int, nanos, pretty, timestamp, usd } from './format.js';
import { KINDS, buildTrace, visibleRows } from './model.js';
import { spanDetail } from './spandetail.js';
import { VirtualList } from './virtual.js';

const ROW_HEIGHT = 26;
const INDENT = 14;

function ruler(total) {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return h('div.ruler', { 'aria-hidden': 'true' }, ticks.map((f) =>
    h('span.tick', { style: { left: `${f * 100}%` } }, f === 0 ? '0' : duration(total * f))));
}

function legend(present) {
  return h('ul.legend', { 'aria-label': 'colours by agent kind' }, KINDS.filter((k) => present.has(k)).map((k) =>
    h('li', null, h(`span.swatch.kind-bg-${k}`, { 'aria-hidden': 'true' }), k)));
}

function totalsBar(trace) {
  const t = trace.totals;
  const item = (label, value, cls) => h(`div.total${cls ? `.${cls}` : ''}`, null, h('span.total-label', null, label), h('span.total-value', null, value));
  return h('div.totals', { dataset: { spans: String(t.spans) } },
    item('Duration', duration(t.duration), 'total-duration'),
    item('Spans', int(t.spans), 'total-spans'),
    item('LLM calls', int(t.llmCalls)),
    item('Tool calls', int(t.toolCalls), 'total-tools'),
    item('Tokens', `${int(t.inputTokens)} in / ${int(t.outputTokens)} out`, 'total-tokens'),
    costItem(t),
    item('Errors', int(t.errors), t.errors ? 'total-errors.has-errors' : 'total-errors'));
}

/**
 * The run's cost: cost attributes, plus estimates from the price table for LLM calls without one
 * (then marked "≈ … estimated"); "—" with the reason when no call could be priced.
 */
function costItem(t) {
  const unpriced = t.unpriced.length ? `no price for ${t.unpriced.join(', ')} (set [metrics.price_table])` : '';
  let value;
  let title;
  if (t.cost === null) {
    value = '—';
    title = unpriced || 'no LLM call reports tokens or a cost';
  } else if (t.costEstimated) {
    value = [`≈ ${usd(t.cost)}`, h('span.estimated', null, ' estimated')];
    title = `estimated from the server's model prices for ${t.costEstimated} LLM call${t.costEstimated === 1 ? '' : 's'} without a cost attribute${unpriced ? `; ${unpriced}` : ''}`;
  } else {
    value = usd(t.cost);
    title = unpriced || 'from the spans\' cost attributes';
  }
  if (t.cost !== null && unpriced) value = [value, h('span.estimated', null, ' + unpriced calls')];
  return h('div.total.total-cost', { title, dataset: { estimated: String(t.costEstimated > 0) } },
    h('span.total-label', null, 'Cost'), h('span.total-value', null, value));
}

/** Downloads the trace JSON with the API key the UI uses (a plain link would send none). */
async function downloadJson(traceId, button) {
  button.disabled = true;
  try {
    const blob = await getBlob(`/traces/${encodeURIComponent(traceId)}`);
    const url = URL.createObjectURL(blob);
    const a = h('a', { href: url, download: `trace-${traceId}.json`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (err) {
    button.title = `download failed: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

/** Mounts the run view for `/runs/{trace_id}`. */
export function mount(root, { params, query, navigate }) {
  const traceId = params[0];
  const began = performance.now();
  const controller = new AbortController();
  let list = null;
  let onKey = null;

  replace(root, h('header.page-head', null, h('h1', null, 'Run'), h('p.mono.muted', null, traceId)), notice('Loading the run…'));

  Promise.all([getJsonTimed(`/traces/${encodeURIComponent(traceId)}`, {}, { signal: controller.signal }), prices()]).then(([{ value: detail, networkMs, parseMs }, priceTable]) => {
    const fetched = performance.now();
    const received = fetched - parseMs;
    const trace = buildTrace(detail, priceTable);
    const built = performance.now();
    if (!trace.nodes.length) {
      replace(root, h('header.page-head', null, h('h1', null, 'Run'), h('p.mono.muted', null, traceId)), notice('This trace has no spans.'));
      return;
    }
    const collapsed = new Set();
    let rows = visibleRows(trace.roots, collapsed);
    let selected = null;
    const total = Math.max(trace.duration, 1);

    const detailPane = h('div.detail-pane', { tabIndex: -1, 'aria-label': 'span details' });
    const viewport = h('div.span-list', {
      tabIndex: 0, role: 'tree', 'aria-label': `spans of run ${traceId}`, 'aria-multiselectable': 'false',
    });

    const createRow = () => {
      const toggle = h('button.toggle', { type: 'button', tabIndex: -1 });
      const badge = h('span.kind-badge');
      const name = h('span.span-name');
      const errorMark = h('span.error-mark', { title: 'error' }, '!');
      const tree = h('div.tree-cell', null, h('span.indent'), toggle, badge, name, errorMark);
      const bar = h('div.bar');
      const label = h('span.bar-label');
      const wf = h('div.wf-cell', null, bar, label);
      const row = h('div.span-row', { role: 'treeitem' }, tree, wf);
      row.parts = { toggle, badge, name, errorMark, indent: tree.firstChild, bar, label };
      return row;
    };

    const renderRow = (row, node) => {
      const p = row.parts;
      row.node = node;
      row.dataset.spanId = node.id;
      row.dataset.kind = node.kind;
      row.className = `span-row${node === selected ? ' selected' : ''}${node.error ? ' has-error' : ''}`;
      row.setAttribute('aria-level', String(node.depth + 1));
      row.setAttribute('aria-selected', String(node === selected));
      row.id = node === selected ? 'span-row-selected' : '';
      p.indent.style.width = `${node.depth * INDENT}px`;
      if (node.children.length) {
        const open = !collapsed.has(node);
        p.toggle.textContent = open ? '▾' : '▸';
        p.toggle.style.visibility = 'visible';
        p.toggle.setAttribute('aria-label', `${open ? 'collapse' : 'expand'} ${node.children.length} children`);
        row.setAttribute('aria-expanded', String(open));
      } else {
        p.toggle.textContent = '';
        p.toggle.style.visibility = 'hidden';
        row.removeAttribute('aria-expanded');
      }
      p.badge.className = `kind-badge kind-${node.kind}`;
      p.badge.textContent = node.kind;
      p.name.textContent = node.name;
      p.name.title = node.name;
      p.errorMark.hidden = !node.error;
      const left = (node.start / total) * 100;
      const width = (node.duration / total) * 100;
      p.bar.className = `bar kind-bg-${node.kind}${node.error ? ' bar-error' : ''}`;
      p.bar.style.left = `${left}%`;
      p.bar.style.width = `${width}%`;
      p.label.textContent = duration(node.duration);
      // The label goes inside a wide bar, else beside it on the side with room.
      p.label.classList.toggle('inside', width > 30);
      if (width > 30) {
        p.label.style.left = '';
        p.label.style.right = `calc(${100 - left - width}% + 4px)`;
      } else if (left + width > 75) {
        p.label.style.left = '';
        p.label.style.right = `calc(${100 - left}% + 4px)`;
      } else {
        p.label.style.right = '';
        p.label.style.left = `calc(${left + width}% + 4px)`;
      }
    };

    list = new VirtualList(viewport, { rowHeight: ROW_HEIGHT, createRow, renderRow });

    const setRows = () => {
      rows = visibleRows(trace.roots, collapsed);
      list.setItems(rows);
    };

    const select = (node, { scroll = true, focusDetail = false } = {}) => {
      if (!node) return;
      selected = node;
      let up = node.parent;
      let reveal = false;
      while (up) {
        if (collapsed.delete(up)) reveal = true;
        up = up.parent;
      }
      if (reveal) setRows();
      const index = rows.indexOf(node);
      if (scroll) list.scrollToIndex(index); else list.refresh();
      viewport.setAttribute('aria-activedescendant', 'span-row-selected');
      replace(detailPane, spanDetail(node, trace));
      const u = new URL(location.href);
      u.searchParams.set('span', node.id);
      history.replaceState(history.state, '', u.pathname + u.search);
      if (focusDetail) detailPane.focus();
    };

    const toggle = (node) => {
      if (!node.children.length) return;
      if (collapsed.has(node)) collapsed.delete(node); else collapsed.add(node);
      setRows();
    };

    viewport.addEventListener('click', (e) => {
      const row = e.target.closest('.span-row');
      if (!row?.node) return;
      if (e.target.closest('.toggle')) toggle(row.node);
      else select(row.node, { scroll: false });
      viewport.focus({ preventScroll: true });
    });

    const move = (delta) => {
      const i = selected ? rows.indexOf(selected) : -1;
      const next = Math.max(0, Math.min(rows.length - 1, i + delta));
      select(rows[next]);
    };

    onKey = (e) => {
      const inList = document.activeElement === viewport || document.activeElement === document.body ||
        detailPane.contains(document.activeElement);
      if (!inList) return false;
      const page = Math.max(1, Math.floor(viewport.clientHeight / ROW_HEIGHT) - 1);
      switch (e.key) {
        case 'j': case 'ArrowDown': move(1); break;
        case 'k': case 'ArrowUp': move(-1); break;
        case 'PageDown': move(page); break;
        case 'PageUp': move(-page); break;
        case 'Home': select(rows[0]); break;
        case 'End': select(rows[rows.length - 1]); break;
        case 'l': case 'ArrowRight':
          if (selected && collapsed.has(selected)) toggle(selected); else if (selected?.children.length) move(1);
          break;
        case 'h': case 'ArrowLeft':
          if (selected && selected.children.length && !collapsed.has(selected)) toggle(selected);
          else if (selected?.parent) select(selected.parent);
          break;
        case 'Enter': if (selected) toggle(selected); break;
        case 'Escape': navigate('/traces'); break;
        default: return false;
      }
      if (document.activeElement === document.body) viewport.focus({ preventScroll: true });
      return true;
    };

    const kinds = new Set(trace.nodes.map((n) => n.kind));
    const t = trace.totals;
    const rootNode = trace.roots[0];
    replace(root,
      h('header.page-head.run-head', null,
        h('div', null,
          h('h1.run-title', null, rootNode.name),
          h('p.muted', null,
            h('span.mono', null, trace.traceId || traceId), ' · started ', timestamp(trace.start),
            t.agents.length ? ` · agents: ${t.agents.join(', ')}` : '',
            t.conversation ? [' · conversation ', h('a', { href: `/conversations/${encodeURIComponent(t.conversation)}` }, t.conversation)] : '')),
        h('div.run-actions', null,
          h('button', { type: 'button', onclick: () => { collapsed.clear(); setRows(); list.scrollToIndex(rows.indexOf(selected)); } }, 'Expand all'),
          h('button', { type: 'button', onclick: () => { for (const n of trace.nodes) if (n.children.length && n.depth >= 1) collapsed.add(n); setRows(); if (selected) select(selected.depth >= 1 ? ancestorAt(selected, 1) : selected); } }, 'Collapse'),
          h('button.download-json', { type: 'button', title: 'download the trace as JSON', onclick: (e) => downloadJson(traceId, e.currentTarget) }, 'JSON'))),
      totalsBar(trace),
      logsSection(detail.logs, trace),
      legend(kinds),
      h('div.run-body', null,
        h('div.span-panel', null,
          h('div.span-head', null, h('div.tree-head', null, 'Span'), h('div.wf-head', null, ruler(total))),
          viewport),
        detailPane));

    list.setItems(rows);
    const wanted = query.get('span');
    const initial = (wanted && trace.byId.get(wanted)) || rootNode;
    select(initial, { scroll: true });
    if (wanted) list.scrollToIndex(rows.indexOf(initial), 'center');
    viewport.focus({ preventScroll: true });

    // Rendered: measured after the browser painted the first frame of rows. For benchmarks:
    // data-render-ms is the UI's part (JSON parse, tree building, DOM and first paint, from the
    // moment the response body had arrived); data-total-ms adds the request (server time).
    requestAnimationFrame(() => requestAnimationFrame(() => {
      const painted = performance.now();
      root.dataset.renderPhases = `network=${networkMs.toFixed(1)} parse=${parseMs.toFixed(1)} build=${(built - fetched).toFixed(1)} paint=${(painted - built).toFixed(1)}`;
      root.dataset.totalMs = (painted - began).toFixed(1);
      root.dataset.renderMs = (painted - received).toFixed(1);
      root.dataset.renderSpans = String(trace.nodes.length);
      performance.measure?.('cairn:run-render', { start: received, end: painted });
    }));
  }).catch((err) => {
    if (err?.name === 'AbortError') return;
    const missing = err instanceof ApiError && err.status === 404;
    replace(root, h('header.page-head', null, h('h1', null, 'Run'), h('p.mono.muted', null, traceId)),
      notice(missing ? `No trace ${traceId} is indexed (yet).` : `Cannot load the run: ${err.message}`, missing ? 'info' : 'error'),
      h('p', null, h('a', { href: '/traces' }, '← all traces')));
  });

  return {
    onKey: (e) => (onKey ? onKey(e) : false),
    unmount: () => {
      controller.abort();
      list?.destroy();
    },
  };
}

/** Log records of the trace that are not attached to one of its spans, or null when none. */
function logsSection(logs, trace) {
  if (!Array.isArray(logs) || !logs.length) return null;
  return h('details.card.trace-logs', null,
    h('summary', null, `Log records not attached to a span (${logs.length})`),
    h('ol.events', null, logs.slice(0, 1000).map((l) => {
      const t = nanos(l?.time_unix_nano);
      const off = t === null || trace.start === null || t === 0n ? null : Number(t - trace.start);
      return h('li', null,
        h('span.mono', null, off === null ? '' : `+${duration(off)} `),
        h('strong', null, l?.event_name || l?.severity_text || 'log'),
        l?.span_id ? h('span.muted', null, ` (span ${l.span_id}, not in this trace)`) : null,
        l?.body !== undefined && l?.body !== null ? h('pre.json', null, pretty(l.body)) : null,
        l?.attributes && Object.keys(l.attributes).length ? h('pre.json', null, pretty(l.attributes)) : null);
    })),
    logs.length > 1000 ? h('p.muted', null, `First 1000 of ${logs.length} shown.`) : null);
}

function ancestorAt(node, depth) {
  let n = node;
  while (n.parent && n.depth > depth) n = n.parent;
  return n;
}
