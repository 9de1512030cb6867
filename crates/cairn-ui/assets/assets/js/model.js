// The trace model: builds the span tree of a run and interprets span attributes.
//
// Attribute names follow the OpenTelemetry GenAI semantic conventions (gen_ai.*) plus Cairn's own
// (cairn.kind, cairn.reasoning.*, cairn.decision.*); common aliases from older conventions and
// OpenInference are accepted, in the same order of preference as cairn-model's accessors.
//
// Invariants of buildTrace():
// - every span of the response appears exactly once in `order` (pre-order, children by start);
// - a span whose parent is missing (not in the trace, or its own ancestor) becomes a root;
// - `start`/`end` are exact nanosecond offsets from the earliest span start (Numbers), end >= start.

import { contentValue, nanos, num, splitNanos } from './format.js';

/** Agent kinds, in legend order. */
export const KINDS = ['agent', 'workflow', 'llm', 'tool', 'retrieval', 'reasoning', 'decision',
  'guardrail', 'evaluation', 'memory', 'other'];

const KIND_SET = new Set(KINDS);

/** The first attribute among `keys` that is present and not null. */
export function attr(attributes, ...keys) {
  if (!attributes) return undefined;
  for (const key of keys) {
    const v = attributes[key];
    if (v !== undefined && v !== null && v !== '') return v;
  }
  return undefined;
}

const text = (v) => (v === undefined || v === null ? null : typeof v === 'string' ? v : JSON.stringify(v));

const tokenCount = (v) => {
  const n = num(v, NaN);
  return Number.isFinite(n) && n >= 0 ? n : null;
};

/** Whether a span failed: an error status or an `error.type` attribute. */
export function isError(span) {
  const code = span?.status?.code;
  return code === 'error' || code === 'ERROR' || code === 'STATUS_CODE_ERROR' || code === 2 ||
    attr(span?.attributes, 'error.type') !== undefined;
}

/** Input/output token usage of a span, or null when it reports none. */
export function usage(attributes) {
  const input = tokenCount(attr(attributes, 'gen_ai.usage.input_tokens', 'gen_ai.usage.prompt_tokens'));
  const output = tokenCount(attr(attributes, 'gen_ai.usage.output_tokens', 'gen_ai.usage.completion_tokens'));
  if (input === null && output === null) return null;
  return { input: input ?? 0, output: output ?? 0 };
}

/** Cost attributes the UI understands, in US dollars. */
export const COST_KEYS = ['gen_ai.usage.cost', 'cairn.usage.cost_usd', 'cairn.cost.usd', 'llm.cost.total'];

/** The cost of a span in US dollars, or null. */
export function cost(attributes) {
  const v = num(attr(attributes, ...COST_KEYS), NaN);
  return Number.isFinite(v) && v >= 0 ? v : null;
}

/**
 * The price of `model` in a price table (`models` of GET /api/v1/prices): the exact name, else
 * the longest key that prefixes it, as the server's metrics do. Returns { key, input, output }
 * (USD per million tokens) or null.
 */
export function priceOf(table, model) {
  if (!table || typeof model !== 'string' || !model) return null;
  let key = Object.hasOwn(table, model) ? model : null;
  if (key === null) {
    for (const k of Object.keys(table)) {
      if (k && model.startsWith(k) && (key === null || k.length > key.length)) key = k;
    }
  }
  if (key === null) return null;
  const input = num(table[key]?.input_per_mtok_usd, NaN);
  const output = num(table[key]?.output_per_mtok_usd, NaN);
  return Number.isFinite(input) && Number.isFinite(output) ? { key, input, output } : null;
}

/**
 * The cost of an LLM call: its cost attribute when it has one ({ usd, estimated: false }), else an
 * estimate from its model's price and its tokens ({ usd, estimated: true, price }), else null
 * with `unpriced` naming the model that has no price (or null when the span reports no usage).
 */
export function llmCost(attributes, table) {
  const explicit = cost(attributes);
  if (explicit !== null) return { usd: explicit, estimated: false };
  const u = usage(attributes);
  if (!u) return { usd: null, unpriced: null };
  const models = [attr(attributes, 'gen_ai.request.model', 'llm.model_name'), attr(attributes, 'gen_ai.response.model')];
  for (const m of models) {
    const price = priceOf(table, typeof m === 'string' ? m : null);
    if (price) return { usd: (u.input * price.input + u.output * price.output) / 1e6, estimated: true, price };
  }
  const named = models.find((m) => typeof m === 'string' && m);
  return { usd: null, unpriced: named ?? 'unknown model' };
}

function list(value) {
  const v = contentValue(value);
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter(Boolean);
  return [];
}

function decision(a) {
  for (const prefix of ['cairn.decision.', 'decision.']) {
    const get = (field) => a[`${prefix}${field}`];
    const name = text(get('name'));
    const options = get('options') === undefined ? [] : list(get('options'));
    const chosen = text(get('chosen'));
    const c = num(get('confidence'), NaN);
    const confidence = Number.isFinite(c) && c >= 0 && c <= 1 ? c : null;
    const rationale = text(get('rationale'));
    if (name || options.length || chosen || confidence !== null || rationale) {
      return { name, options, chosen, confidence, rationale };
    }
  }
  return null;
}

function reasoningParts(messages) {
  const v = contentValue(messages);
  if (!Array.isArray(v)) return null;
  const parts = [];
  for (const m of v) {
    for (const p of Array.isArray(m?.parts) ? m.parts : []) {
      if (p?.type === 'reasoning' && typeof p.content === 'string') parts.push(p.content);
    }
  }
  return parts.length ? parts.join('\n\n') : null;
}

/**
 * What a span is about, derived from its attributes and events. Computed on demand (the detail
 * panel), never for all spans of a large trace.
 */
export function interpret(span) {
  const a = span.attributes ?? {};
  const info = {
    operation: text(attr(a, 'gen_ai.operation.name')),
    agent: text(attr(a, 'gen_ai.agent.name', 'cairn.agent.name', 'agent.name')),
    conversation: text(attr(a, 'gen_ai.conversation.id', 'session.id')),
    tool: null,
    llm: null,
    decision: decision(a),
    reasoning: null,
    error: null,
    guardrail: null,
    evaluation: null,
  };

  const guardName = text(attr(a, 'cairn.guardrail.name'));
  const passed = attr(a, 'cairn.guardrail.passed');
  if (guardName || passed !== undefined) {
    info.guardrail = {
      name: guardName,
      passed: passed === undefined ? null : passed === true || passed === 'true' || passed === 'True',
      reason: text(attr(a, 'cairn.guardrail.reason', 'cairn.guardrail.message')),
    };
  }
  const evalName = text(attr(a, 'gen_ai.evaluation.name'));
  const score = attr(a, 'gen_ai.evaluation.score.value');
  if (evalName || score !== undefined) {
    info.evaluation = {
      name: evalName,
      score: score === undefined ? null : num(score, null),
      label: text(attr(a, 'gen_ai.evaluation.score.label')),
      explanation: text(attr(a, 'gen_ai.evaluation.explanation')),
    };
  }

  const toolName = text(attr(a, 'gen_ai.tool.name', 'tool.name'));
  const args = attr(a, 'gen_ai.tool.call.arguments', 'tool.arguments', 'tool_call.arguments');
  const result = attr(a, 'gen_ai.tool.call.result', 'tool.result', 'tool_call.result');
  if (toolName || args !== undefined || result !== undefined || span.kind === 'tool') {
    info.tool = {
      name: toolName,
      callId: text(attr(a, 'gen_ai.tool.call.id', 'tool_call.id')),
      type: text(attr(a, 'gen_ai.tool.type')),
      description: text(attr(a, 'gen_ai.tool.description')),
      arguments: args === undefined ? undefined : contentValue(args),
      result: result === undefined ? undefined : contentValue(result),
    };
  }

  const requestModel = text(attr(a, 'gen_ai.request.model', 'llm.model_name'));
  const responseModel = text(attr(a, 'gen_ai.response.model', 'llm.model_name'));
  const u = usage(a);
  if (requestModel || responseModel || u || span.kind === 'llm') {
    const finish = attr(a, 'gen_ai.response.finish_reasons');
    info.llm = {
      provider: text(attr(a, 'gen_ai.provider.name', 'gen_ai.system')),
      requestModel,
      responseModel,
      input: u?.input ?? null,
      output: u?.output ?? null,
      cacheRead: tokenCount(attr(a, 'gen_ai.usage.cache_read.input_tokens', 'gen_ai.usage.cache_read_input_tokens')),
      reasoningTokens: tokenCount(attr(a, 'gen_ai.usage.reasoning.output_tokens', 'gen_ai.usage.reasoning_tokens')),
      cost: cost(a),
      temperature: attr(a, 'gen_ai.request.temperature'),
      maxTokens: attr(a, 'gen_ai.request.max_tokens'),
      finishReasons: finish === undefined ? [] : list(finish),
      systemInstructions: attr(a, 'gen_ai.system_instructions'),
      inputMessages: attr(a, 'gen_ai.input.messages'),
      outputMessages: attr(a, 'gen_ai.output.messages'),
    };
  }

  const reasoning = text(attr(a, 'cairn.reasoning.content', 'cairn.reasoning.summary')) ??
    reasoningParts(a['gen_ai.output.messages']);
  if (reasoning) {
    info.reasoning = { content: reasoning, step: attr(a, 'cairn.reasoning.step') ?? null };
  }

  const exceptions = (span.events ?? [])
    .filter((e) => e?.name === 'exception' || e?.attributes?.['exception.type'] !== undefined ||
      e?.attributes?.['exception.message'] !== undefined)
    .map((e) => ({
      time: nanos(e.time_unix_nano),
      type: text(e.attributes?.['exception.type']),
      message: text(e.attributes?.['exception.message']),
      stacktrace: text(e.attributes?.['exception.stacktrace']),
    }));
  if (isError(span) || exceptions.length) {
    info.error = {
      type: text(attr(a, 'error.type')),
      message: span.status?.message || null,
      exceptions,
    };
  }
  return info;
}

/** One node of the span tree. */
class SpanNode {
  /**
   * @param {object} raw the span as the API sent it
   * @param {number} index its position in the response
   * @param {number} start offset of its start from the trace start, nanoseconds
   * @param {number} end offset of its end, nanoseconds (>= start)
   */
  constructor(raw, index, start, end) {
    this.raw = raw;
    this.index = index;
    this.id = String(raw.span_id ?? `#${index}`);
    const parent = raw.parent_span_id;
    this.parentId = parent === undefined || parent === null || parent === '' ? null : String(parent);
    this.name = typeof raw.name === 'string' && raw.name ? raw.name : '(unnamed)';
    this.kind = KIND_SET.has(raw.kind) ? raw.kind : 'other';
    this.start = start;
    this.end = end;
    this.error = isError(raw);
    this.ledgerIndex = raw.ledger_index ?? null;
    this.parent = null;
    this.children = [];
    this.depth = 0;
    this.orphan = false;
  }

  get duration() {
    return this.end - this.start;
  }
}

const byStart = (x, y) => x.start - y.start || x.index - y.index;

/**
 * Builds the tree of a GET /api/v1/traces/{id} response.
 * @returns {{traceId: string, start: bigint|null, duration: number, nodes: SpanNode[],
 *   byId: Map<string, SpanNode>, roots: SpanNode[], order: SpanNode[], totals: object}}
 */
export function buildTrace(detail, prices = null) {
  const raws = Array.isArray(detail?.spans) ? detail.spans : [];
  const count = raws.length;
  // Times as (seconds, nanoseconds) pairs; a missing start counts as the trace start, a missing
  // or earlier end as the span's start.
  const startSec = new Float64Array(count).fill(NaN);
  const startNs = new Float64Array(count);
  const endSec = new Float64Array(count).fill(NaN);
  const endNs = new Float64Array(count);
  let baseSec = Infinity;
  let baseNs = 0;
  for (let i = 0; i < count; i++) {
    const s = raws[i];
    const a = splitNanos(s?.start_unix_nano);
    if (a) {
      startSec[i] = a[0];
      startNs[i] = a[1];
      if (a[0] < baseSec || (a[0] === baseSec && a[1] < baseNs)) {
        baseSec = a[0];
        baseNs = a[1];
      }
    }
    const b = splitNanos(s?.end_unix_nano);
    if (b) {
      endSec[i] = b[0];
      endNs[i] = b[1];
    }
  }
  const hasBase = baseSec !== Infinity;
  const offset = (sec, ns) => (Number.isNaN(sec) || !hasBase ? null : (sec - baseSec) * 1e9 + (ns - baseNs));
  const nodes = new Array(count);
  for (let i = 0; i < count; i++) {
    const start = offset(startSec[i], startNs[i]) ?? 0;
    const end = offset(endSec[i], endNs[i]) ?? start;
    nodes[i] = new SpanNode(raws[i] ?? {}, i, start, Math.max(start, end));
  }
  const base = hasBase ? BigInt(baseSec) * 1_000_000_000n + BigInt(baseNs) : null;
  const byId = new Map();
  for (const n of nodes) if (!byId.has(n.id)) byId.set(n.id, n);

  const roots = [];
  for (const n of nodes) {
    const p = n.parentId === null ? undefined : byId.get(n.parentId);
    if (p && p !== n) {
      n.parent = p;
      p.children.push(n);
    } else {
      n.orphan = n.parentId !== null;
      roots.push(n);
    }
  }
  for (const n of nodes) if (n.children.length > 1) n.children.sort(byStart);
  roots.sort(byStart);

  // Pre-order walk; spans caught in a parent cycle are unreachable from the roots and are
  // detached and promoted to roots, so every span is shown exactly once.
  const order = [];
  const seen = new Uint8Array(nodes.length);
  const walk = (root) => {
    const stack = [root];
    root.depth = 0;
    while (stack.length) {
      const n = stack.pop();
      if (seen[n.index]) continue;
      seen[n.index] = 1;
      order.push(n);
      for (let i = n.children.length - 1; i >= 0; i--) {
        const c = n.children[i];
        c.depth = n.depth + 1;
        stack.push(c);
      }
    }
  };
  for (const r of roots) walk(r);
  if (order.length < nodes.length) {
    for (const n of nodes) {
      if (seen[n.index]) continue;
      if (n.parent) n.parent.children = n.parent.children.filter((c) => c !== n);
      n.parent = null;
      n.orphan = true;
      roots.push(n);
      walk(n);
    }
  }

  let end = 0;
  for (const n of nodes) if (n.end > end) end = n.end;
  return {
    traceId: String(detail?.trace_id ?? ''),
    start: base,
    duration: end,
    nodes,
    byId,
    roots,
    order,
    totals: totals(nodes, end, prices),
    prices,
  };
}

/**
 * Totals of a run. Tokens are summed over LLM spans when any reports usage (agent spans often
 * repeat their children's usage), else over every span that reports it, like the index does.
 * Cost sums the LLM spans' cost attributes and, for those without one, an estimate from the price
 * table (`prices`, the `models` of GET /api/v1/prices): `costEstimated` counts estimated calls,
 * `unpriced` lists the models of calls with usage but neither a cost nor a price.
 */
export function totals(nodes, duration, prices = null) {
  let llmIn = 0, llmOut = 0, llmUsage = 0, otherIn = 0, otherOut = 0;
  let costSum = 0, costSpans = 0, costEstimated = 0, tools = 0, llms = 0, errors = 0;
  const unpriced = new Set();
  const agents = new Set();
  let conversation = null;
  for (const n of nodes) {
    const a = n.raw.attributes;
    if (n.kind === 'tool') tools++;
    if (n.kind === 'llm') llms++;
    if (n.error) errors++;
    if (!a) continue;
    const u = usage(a);
    if (u) {
      if (n.kind === 'llm') { llmIn += u.input; llmOut += u.output; llmUsage++; }
      else { otherIn += u.input; otherOut += u.output; }
    }
    if (n.kind === 'llm') {
      const c = llmCost(a, prices);
      if (c.usd !== null) {
        costSum += c.usd;
        costSpans++;
        if (c.estimated) costEstimated++;
      } else if (c.unpriced) unpriced.add(c.unpriced);
    }
    const agent = attr(a, 'gen_ai.agent.name', 'cairn.agent.name', 'agent.name');
    if (typeof agent === 'string') agents.add(agent);
    if (conversation === null) {
      const conv = attr(a, 'gen_ai.conversation.id', 'session.id');
      if (conv !== undefined) conversation = String(conv);
    }
  }
  return {
    duration,
    spans: nodes.length,
    inputTokens: llmUsage ? llmIn : otherIn,
    outputTokens: llmUsage ? llmOut : otherOut,
    cost: costSpans ? costSum : null,
    costEstimated,
    unpriced: [...unpriced],
    toolCalls: tools,
    llmCalls: llms,
    errors,
    agents: [...agents],
    conversation,
  };
}

/**
 * The rows to show: pre-order, skipping the descendants of collapsed spans.
 * @param {SpanNode[]} roots
 * @param {Set<SpanNode>} collapsed
 */
export function visibleRows(roots, collapsed) {
  const rows = [];
  const stack = [];
  for (let i = roots.length - 1; i >= 0; i--) stack.push(roots[i]);
  while (stack.length) {
    const n = stack.pop();
    rows.push(n);
    if (collapsed.has(n)) continue;
    for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
  }
  return rows;
}

/** The conversation id of a trace detail (first span that names one), or null. */
export function conversationOf(detail) {
  for (const s of Array.isArray(detail?.spans) ? detail.spans : []) {
    const v = attr(s?.attributes, 'gen_ai.conversation.id', 'session.id');
    if (v !== undefined) return String(v);
  }
  return null;
}
