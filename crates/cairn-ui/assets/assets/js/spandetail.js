// The detail panel of one span: what it did (reasoning, tool call, decision, LLM call), how it
// failed, its events and attributes, and the "Prove inclusion" action.

import { proofPanel } from './audit.js';
import { h } from './dom.js';
import { contentValue, duration, int, nanos, pretty, timestamp, usd } from './format.js';
import { interpret, llmCost } from './model.js';

const SMALL = 4000;

function section(title, cls, ...children) {
  return h(`section.detail-section.${cls}`, null, h('h3', null, title), ...children);
}

function kv(pairs) {
  const items = pairs.filter(([, v]) => v !== null && v !== undefined && v !== '');
  if (!items.length) return null;
  return h('dl.kv', null, items.flatMap(([k, v, cls]) => [h('dt', null, k), h(`dd${cls ? `.${cls}` : ''}`, null, v)]));
}

/** Pretty JSON in a collapsible block; open by default unless large. */
function jsonBlock(title, value, cls) {
  const body = pretty(value);
  return h(`details.json-block.${cls}`, { open: body.length <= SMALL },
    h('summary', null, title, h('span.muted', null, ` (${int(body.length)} chars)`)),
    h('pre.json', { tabIndex: 0 }, body));
}

function messageParts(message) {
  if (typeof message === 'string') return [h('p.msg-text', null, message)];
  const parts = Array.isArray(message?.parts) ? message.parts : null;
  if (!parts) {
    if (typeof message?.content === 'string') return [h('p.msg-text', null, message.content)];
    return [h('pre.json', null, pretty(message))];
  }
  return parts.map((p) => {
    if ((p?.type === 'text' || p?.type === 'reasoning') && typeof p.content === 'string') {
      return h(`p.msg-text${p.type === 'reasoning' ? '.msg-reasoning' : ''}`, null, p.content);
    }
    if (p?.type === 'tool_call') {
      return h('div.msg-tool', null, h('span.msg-label', null, `tool call ${p.name ?? ''}`),
        h('pre.json', null, pretty(p.arguments ?? {})));
    }
    if (p?.type === 'tool_call_response') {
      return h('div.msg-tool', null, h('span.msg-label', null, `tool result ${p.id ?? ''}`),
        h('pre.json', null, pretty(p.response ?? p.result ?? '')));
    }
    return h('pre.json', null, pretty(p));
  });
}

function messages(title, value) {
  const v = contentValue(value);
  if (v === undefined || v === null) return null;
  const list = Array.isArray(v) ? v : [v];
  return h('details.messages', { open: true },
    h('summary', null, `${title} (${list.length})`),
    list.map((m) => h(`div.msg.msg-${String(m?.role ?? 'other').replace(/[^a-z_]/gi, '')}`, null,
      h('span.msg-role', null, m?.role ?? 'message'),
      ...messageParts(m),
      Array.isArray(m?.finish_reason) || typeof m?.finish_reason === 'string'
        ? h('span.muted', null, `finish: ${m.finish_reason}`) : null)));
}

function confidenceBar(confidence) {
  const pct = Math.round(confidence * 100);
  const level = confidence >= 0.75 ? 'high' : confidence >= 0.4 ? 'mid' : 'low';
  return h('div.confidence', {
    role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct),
    'aria-label': 'confidence', dataset: { confidence: String(confidence) },
  },
  h('div.confidence-track', null, h(`div.confidence-fill.confidence-${level}`, { style: { width: `${pct}%` } })),
  h('span.confidence-value', null, `${pct}%`));
}

/** An LLM call's cost: its attribute, else an estimate from the price table (marked), else "—". */
function costCell(span, trace) {
  const c = llmCost(span.attributes ?? {}, trace.prices);
  if (c.usd === null) {
    if (!c.unpriced) return null;
    return h('span', { title: `no price for ${c.unpriced} in the server's price table ([metrics.price_table])` }, '—');
  }
  if (!c.estimated) return usd(c.usd);
  return h('span', { title: `estimated: tokens × the server's price for ${c.price.key} ($${c.price.input} in / $${c.price.output} out per million tokens); the span carries no cost attribute` },
    `≈ ${usd(c.usd)} `, h('span.estimated', null, 'estimated'));
}

/**
 * Renders the details of one span.
 * @param {object} node a SpanNode of the run
 * @param {object} trace the built trace (for offsets and the price table)
 */
export function spanDetail(node, trace) {
  const span = node.raw;
  const info = interpret(span);
  const startAbs = trace.start === null ? null : trace.start + BigInt(node.start);
  const statusCode = span.status?.code ?? 'unset';
  const parts = [];

  parts.push(h('header.detail-head', null,
    h(`span.kind-badge.kind-${node.kind}`, null, node.kind),
    h('h2.detail-title', null, node.name),
    h(`span.status-pill.status-${node.error ? 'error' : 'ok'}`, null, node.error ? 'error' : String(statusCode))));

  parts.push(kv([
    ['Duration', duration(node.duration), 'detail-duration'],
    ['Starts', `+${duration(node.start)} (${timestamp(startAbs)})`],
    ['Agent', info.agent],
    ['Operation', info.operation],
    ['Span id', span.span_id, 'mono'],
    ['Parent', node.parentId ? `${node.parentId}${node.orphan ? ' (not in this trace)' : ''}` : null, 'mono'],
    ['Conversation', info.conversation],
    ['Ledger index', node.ledgerIndex === null ? null : String(node.ledgerIndex), 'mono'],
  ]));

  if (typeof span.content_unavailable === 'string') {
    // The index keeps no span content: the server reads it from the ledger, and says why it
    // could not (an archived segment, an entry that does not decode).
    const why = h('p.notice.notice-warn.content-unavailable', { role: 'status' },
      `Attributes and events cannot be shown: ${span.content_unavailable}. `
      + 'The span\'s timing, status and ledger index come from the index.');
    parts.push(why);
  }

  if (info.error) {
    parts.push(section('Error', 'detail-error',
      kv([['Type', info.error.type], ['Message', info.error.message]]),
      info.error.exceptions.map((ex) => h('div.exception', null,
        h('p', null, h('strong', null, ex.type ?? 'exception'), ex.message ? `: ${ex.message}` : ''),
        ex.stacktrace ? h('pre.stacktrace', { tabIndex: 0 }, ex.stacktrace) : null))));
  }

  if (info.reasoning) {
    parts.push(section(info.reasoning.step !== null ? `Reasoning (step ${info.reasoning.step})` : 'Reasoning',
      'detail-reasoning', h('div.reasoning-text', null, info.reasoning.content)));
  }

  if (info.decision) {
    const d = info.decision;
    parts.push(section(d.name ? `Decision: ${d.name}` : 'Decision', 'detail-decision',
      d.options.length
        ? h('ul.options', null, d.options.map((o) => h(`li.option${o === d.chosen ? '.chosen' : ''}`,
          { 'aria-current': o === d.chosen ? 'true' : false }, o === d.chosen ? `✓ ${o}` : o)))
        : null,
      d.chosen && !d.options.includes(d.chosen) ? kv([['Chosen', d.chosen, 'chosen']]) : null,
      d.confidence !== null ? h('div.confidence-row', null, h('span', null, 'Confidence'), confidenceBar(d.confidence)) : null,
      d.rationale ? h('p.rationale', null, d.rationale) : null));
  }

  if (info.guardrail) {
    const g = info.guardrail;
    parts.push(section(g.name ? `Guardrail: ${g.name}` : 'Guardrail', 'detail-guardrail',
      g.passed === null ? null : h(`p.verdict.verdict-${g.passed ? 'pass' : 'fail'}`, null, g.passed ? 'passed' : 'blocked'),
      g.reason ? h('p', null, g.reason) : null));
  }

  if (info.evaluation) {
    const ev = info.evaluation;
    parts.push(section(ev.name ? `Evaluation: ${ev.name}` : 'Evaluation', 'detail-evaluation',
      kv([['Score', ev.score === null ? null : String(ev.score)], ['Label', ev.label], ['Explanation', ev.explanation]])));
  }

  if (info.tool) {
    const t = info.tool;
    parts.push(section(t.name ? `Tool call: ${t.name}` : 'Tool call', 'detail-tool',
      kv([['Tool', t.name], ['Call id', t.callId, 'mono'], ['Type', t.type], ['Latency', duration(node.duration), 'tool-latency'], ['Description', t.description]]),
      t.arguments !== undefined ? jsonBlock('Arguments', t.arguments, 'tool-args') : h('p.muted', null, 'No arguments recorded.'),
      t.result !== undefined ? jsonBlock('Result', t.result, 'tool-result') : h('p.muted', null, 'No result recorded.')));
  }

  if (info.llm) {
    const l = info.llm;
    parts.push(section('LLM call', 'detail-llm',
      kv([
        ['Provider', l.provider],
        ['Model', l.responseModel && l.responseModel !== l.requestModel ? `${l.requestModel ?? '—'} → ${l.responseModel}` : l.requestModel ?? l.responseModel, 'llm-model'],
        ['Tokens', l.input !== null || l.output !== null ? `${int(l.input ?? 0)} in / ${int(l.output ?? 0)} out` : null, 'llm-tokens'],
        ['Cache read', l.cacheRead === null ? null : int(l.cacheRead)],
        ['Reasoning tokens', l.reasoningTokens === null ? null : int(l.reasoningTokens)],
        ['Cost', costCell(span, trace), 'llm-cost'],
        ['Temperature', l.temperature === undefined ? null : String(l.temperature)],
        ['Max tokens', l.maxTokens === undefined ? null : String(l.maxTokens)],
        ['Finish', l.finishReasons.length ? l.finishReasons.join(', ') : null],
        ['Latency', duration(node.duration)],
      ]),
      l.systemInstructions !== undefined ? messages('System instructions', l.systemInstructions) : null,
      l.inputMessages !== undefined ? messages('Input messages', l.inputMessages) : null,
      l.outputMessages !== undefined ? messages('Output messages', l.outputMessages) : null));
  }

  const otherEvents = (span.events ?? []).filter((e) => e?.name !== 'exception');
  if (otherEvents.length) {
    parts.push(section(`Events (${otherEvents.length})`, 'detail-events',
      h('ol.events', null, otherEvents.map((e) => {
        const t = nanos(e?.time_unix_nano);
        const off = t === null || trace.start === null ? null : Number(t - trace.start);
        return h('li', null, h('span.mono', null, off === null ? '' : `+${duration(off)} `), h('strong', null, e?.name ?? 'event'),
          e?.attributes && Object.keys(e.attributes).length ? h('pre.json', null, pretty(e.attributes)) : null,
          e?.body !== undefined ? h('pre.json', null, pretty(e.body)) : null);
      }))));
  }

  if (node.ledgerIndex !== null) {
    const holder = h('div.proof-holder');
    parts.push(section('Audit', 'detail-audit',
      h('p.muted', null, `This span is entry ${node.ledgerIndex} of the ledger.`),
      h('div.actions', null,
        h('button.primary.prove', {
          type: 'button',
          onclick: (e) => {
            e.currentTarget.disabled = true;
            holder.replaceChildren(proofPanel(node.ledgerIndex));
          },
        }, 'Prove inclusion'),
        h('a.button', { href: `/audit?index=${encodeURIComponent(node.ledgerIndex)}` }, 'Open in Audit')),
      holder));
  }

  const attributes = span.attributes ?? {};
  const keys = Object.keys(attributes).sort();
  parts.push(h('details.detail-section.detail-attributes', null,
    h('summary', null, `All attributes (${keys.length})`),
    keys.length ? h('table.attr-table', null, h('tbody', null, keys.map((k) => h('tr', null,
      h('th.mono', { scope: 'row' }, k),
      h('td', null, typeof attributes[k] === 'object' && attributes[k] !== null
        ? h('pre.json', null, pretty(attributes[k])) : String(attributes[k])))))) : h('p.muted', null, 'None.')));

  return h('article.span-detail', { dataset: { spanId: String(span.span_id ?? '') } }, parts);
}
