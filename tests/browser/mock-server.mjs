#!/usr/bin/env node
// A stand-in for `cairn serve` for UI development and browser tests: serves the UI's asset files
// from crates/cairn-ui/assets with the same fallback rule as the cairn-ui crate, and the query and
// audit API (shapes of the "Query API" section of the serve issue) over generated demo data:
//
// - ~60 agent runs (agents, LLM calls with messages, reasoning, decisions, tool calls, failures
//   with exception stack traces) over a few conversations;
// - one run with exactly 10,000 spans and one with 100,000 spans (ids in GET /__mock/info);
// - a real RFC 6962 Merkle log over the spans (entry = the span's JSON bytes), an Ed25519-signed
//   C2SP checkpoint and tlog-proof@v1 bundles, so the UI's in-browser verification is exercised.
//
// Mock-only endpoints: GET /__mock/info, POST /__mock/add-trace (a new run "now", for live updates).
//
// With --proxy <url> no data is generated: the UI files are served from disk and every other
// request is forwarded to a real Cairn at <url>, so UI changes can be tried against a real API
// without rebuilding the binary.
//
// Usage: node mock-server.mjs [--port N] [--host H] [--proxy URL]; prints "listening <url>" once ready.

import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const ASSETS = join(here, '..', '..', 'crates', 'cairn-ui', 'assets');
const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
};
const PORT = Number(opt('port', process.env.PORT ?? '0'));
const HOST = opt('host', '127.0.0.1');
const PROXY = opt('proxy', null)?.replace(/\/+$/, '') ?? null;

export const BIG_TRACE_ID = 'c0ffee00000000000000000000010000';
export const HUGE_TRACE_ID = 'c0ffee00000000000000000000100000';

// ---------------------------------------------------------------------------------------------
// Deterministic data

let seed = 42;
function rand() {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  return seed / 2 ** 32;
}
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const hex = (n) => Array.from({ length: n }, () => Math.floor(rand() * 16).toString(16)).join('');

const AGENTS = ['planner', 'researcher', 'support-bot', 'coder'];
const MODELS = [['openai', 'gpt-4o'], ['anthropic', 'claude-sonnet-4'], ['openai', 'gpt-4o-mini']];
const TOOLS = {
  web_search: () => [{ query: pick(['rust merkle tree', 'weather in Paris', 'otel genai semconv', 'refund policy']), max_results: 5 },
    { results: [{ title: 'Result one', url: 'https://example.org/1' }, { title: 'Result two', url: 'https://example.org/2' }] }],
  get_weather: () => [{ city: pick(['Paris', 'Berlin', 'Lisbon']), unit: 'celsius' }, { temperature: Math.round(rand() * 30), conditions: 'cloudy' }],
  lookup_order: () => [{ order_id: `ord_${hex(6)}` }, { status: 'shipped', items: 2, total_usd: 41.5 }],
  run_tests: () => [{ package: 'cairn-ledger', filter: 'proof' }, { passed: 42, failed: 0 }],
};
const CONVERSATIONS = Array.from({ length: 8 }, (_, i) => `conv-${String(i + 1).padStart(3, '0')}`);

const spansByTrace = new Map(); // trace_id -> span JSON objects
const logsByTrace = new Map(); // trace_id -> log records not attached to a span
const ledger = []; // Buffer entries
const NOW_NS = BigInt(Date.now()) * 1_000_000n;
const STARTED_AT = Date.now() / 1000;

/** Half the timestamps are JSON numbers, half decimal strings: the UI must take both. */
const ts = (ns, asString) => (asString ? ns.toString() : Number(ns));

function addTrace(traceId, spans, logs = []) {
  for (const s of [...spans, ...logs]) {
    s.ledger_index = ledger.length;
    ledger.push(Buffer.from(JSON.stringify({ trace_id: traceId, ...s, ledger_index: undefined })));
  }
  spansByTrace.set(traceId, spans);
  logsByTrace.set(traceId, logs);
  summaries = null;
  treeCache.clear();
  ownersCache.clear();
}

function span(fields) {
  return {
    span_id: hex(16),
    parent_span_id: null,
    events: [],
    status: { code: 'unset', message: '' },
    ...fields,
  };
}

function demoRun(traceId, start, index) {
  const agent = AGENTS[index % AGENTS.length];
  const [provider, model] = MODELS[index % MODELS.length];
  const conversation = index % 5 === 4 ? null : CONVERSATIONS[index % CONVERSATIONS.length];
  const asString = index % 2 === 0;
  const spans = [];
  let t = start;
  const ms = (x) => BigInt(Math.round(x * 1e6));
  const common = { 'gen_ai.agent.name': agent, ...(conversation ? { 'gen_ai.conversation.id': conversation } : {}) };
  const root = span({ name: `invoke_agent ${agent}`, kind: 'agent', attributes: { 'gen_ai.operation.name': 'invoke_agent', ...common } });
  spans.push(root);
  const userText = pick(['What is the weather in Paris?', 'Find my order status', 'Plan a research summary on Merkle logs', 'Fix the failing proof test']);
  const steps = 1 + (index % 3);
  let failed = false;
  for (let step = 0; step < steps; step++) {
    const inTok = 200 + Math.floor(rand() * 800);
    const outTok = 20 + Math.floor(rand() * 200);
    const chatStart = t + ms(2);
    const chatEnd = chatStart + ms(300 + rand() * 900);
    spans.push(span({
      name: `chat ${model}`, kind: 'llm', parent_span_id: root.span_id,
      start_unix_nano: ts(chatStart, asString), end_unix_nano: ts(chatEnd, asString),
      attributes: {
        'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': provider, 'gen_ai.request.model': model,
        'gen_ai.response.model': `${model}-2025-01-01`, 'gen_ai.usage.input_tokens': inTok, 'gen_ai.usage.output_tokens': outTok,
        // Only the first call reports its cost, as few senders do: the UI estimates the others.
        ...(step === 0 ? { 'gen_ai.usage.cost': Number(((inTok * 2.5 + outTok * 10) / 1e6).toFixed(6)) } : {}),
        'gen_ai.response.finish_reasons': ['tool_call'],
        'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: userText }] }]),
        'gen_ai.output.messages': JSON.stringify([{ role: 'assistant', parts: [{ type: 'reasoning', content: 'I should call a tool.' }, { type: 'tool_call', id: `call_${step}`, name: 'web_search', arguments: { query: userText } }], finish_reason: 'tool_call' }]),
        ...common,
      },
    }));
    const reasonStart = chatEnd + ms(1);
    const reasonEnd = reasonStart + ms(5);
    spans.push(span({
      name: 'reasoning', kind: 'reasoning', parent_span_id: root.span_id,
      start_unix_nano: ts(reasonStart, asString), end_unix_nano: ts(reasonEnd, asString),
      attributes: {
        'cairn.kind': 'reasoning', 'cairn.reasoning.step': step + 1,
        'cairn.reasoning.content': `Step ${step + 1}: the user asked "${userText}".\nI need fresh data, so a tool call is the best next action.`,
        ...common,
      },
    }));
    const toolName = pick(Object.keys(TOOLS));
    const options = ['answer_directly', toolName, 'ask_clarification'];
    const confidence = Number((0.55 + rand() * 0.44).toFixed(2));
    const decStart = reasonEnd + ms(1);
    const decEnd = decStart + ms(3);
    spans.push(span({
      name: 'decide next action', kind: 'decision', parent_span_id: root.span_id,
      start_unix_nano: ts(decStart, asString), end_unix_nano: ts(decEnd, asString),
      attributes: {
        'cairn.kind': 'decision', 'cairn.decision.name': 'next_action', 'cairn.decision.options': options,
        'cairn.decision.chosen': toolName, 'cairn.decision.confidence': confidence,
        'cairn.decision.rationale': 'fresh data is needed before answering', ...common,
      },
    }));
    const [toolArgs, toolResult] = TOOLS[toolName]();
    const toolFails = index % 7 === 3 && step === steps - 1;
    failed ||= toolFails;
    const toolStart = decEnd + ms(1);
    const toolEnd = toolStart + ms(50 + rand() * 400);
    spans.push(span({
      name: `execute_tool ${toolName}`, kind: 'tool', parent_span_id: root.span_id,
      start_unix_nano: ts(toolStart, asString), end_unix_nano: ts(toolEnd, asString),
      status: toolFails ? { code: 'error', message: `${toolName} timed out after 30s` } : { code: 'ok', message: '' },
      attributes: {
        'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': toolName, 'gen_ai.tool.call.id': `call_${hex(8)}`,
        'gen_ai.tool.call.arguments': JSON.stringify(toolArgs),
        ...(toolFails ? { 'error.type': 'TimeoutError' } : { 'gen_ai.tool.call.result': JSON.stringify(toolResult) }),
        ...common,
      },
      events: toolFails ? [{
        time_unix_nano: ts(toolEnd, asString), name: 'exception',
        attributes: {
          'exception.type': 'TimeoutError', 'exception.message': `${toolName} timed out after 30s`,
          'exception.stacktrace': `Traceback (most recent call last):\n  File "agent/tools.py", line 88, in call\n    return client.${toolName}(**args)\n  File "agent/client.py", line 41, in ${toolName}\n    raise TimeoutError("timed out after 30s")\nTimeoutError: ${toolName} timed out after 30s`,
        },
      }] : [],
    }));
    t = toolEnd;
  }
  root.start_unix_nano = ts(start, asString);
  root.end_unix_nano = ts(t + 2_000_000n, asString);
  if (failed) root.status = { code: 'error', message: 'a tool call failed' };
  return spans;
}

function bigRun(traceId, count, start) {
  const spans = [];
  const root = span({ name: `invoke_agent bulk-${count}`, kind: 'agent', attributes: { 'gen_ai.agent.name': 'bulk-agent', 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.conversation.id': 'conv-bulk' } });
  spans.push(root);
  const kinds = ['llm', 'tool', 'reasoning', 'decision', 'retrieval', 'memory'];
  let t = start;
  let step = null;
  for (let i = 1; i < count; i++) {
    const asString = i % 2 === 0;
    if (i % 10 === 1 || !step) {
      step = span({ name: `step ${Math.ceil(i / 10)}`, kind: 'workflow', parent_span_id: root.span_id, start_unix_nano: ts(t, asString), end_unix_nano: ts(t + 10_000_000n, asString), attributes: {} });
      spans.push(step);
      continue;
    }
    const kind = kinds[i % kinds.length];
    const s = span({
      name: kind === 'tool' ? 'execute_tool web_search' : kind === 'llm' ? 'chat gpt-4o-mini' : `${kind} ${i}`,
      kind, parent_span_id: step.span_id,
      start_unix_nano: ts(t, asString), end_unix_nano: ts(t + 900_000n, asString),
      attributes: kind === 'tool' ? { 'gen_ai.tool.name': 'web_search', 'gen_ai.tool.call.arguments': `{"query":"item ${i}"}` }
        : kind === 'llm' ? { 'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 2 }
          : kind === 'decision' ? { 'cairn.decision.options': ['a', 'b'], 'cairn.decision.chosen': 'a', 'cairn.decision.confidence': 0.5 } : {},
    });
    spans.push(s);
    t += 1_000_000n;
  }
  root.start_unix_nano = ts(start, false);
  root.end_unix_nano = ts(t, false);
  return spans;
}

let liveCounter = 0;
function generate() {
  for (let i = 0; i < 60; i++) {
    const id = hex(32);
    const start = NOW_NS - BigInt(60 - i) * 9n * 60_000_000_000n - BigInt(Math.floor(rand() * 1e9));
    const spans = demoRun(id, start, i);
    // Some runs carry an evaluation result logged without a span id.
    const logs = i % 6 === 0 ? [{
      span_id: null, time_unix_nano: Number(start) + 1_500_000_000, observed_time_unix_nano: Number(start) + 1_500_000_000,
      severity_number: 9, severity_text: 'INFO', event_name: 'gen_ai.evaluation.result',
      body: { explanation: 'the answer cites its sources' },
      attributes: { 'gen_ai.evaluation.name': 'groundedness', 'gen_ai.evaluation.score.value': 0.83 },
    }] : [];
    addTrace(id, spans, logs);
  }
  addTrace(BIG_TRACE_ID, bigRun(BIG_TRACE_ID, 10_000, NOW_NS - 3n * 86_400_000_000_000n));
  addTrace(HUGE_TRACE_ID, bigRun(HUGE_TRACE_ID, 100_000, NOW_NS - 4n * 86_400_000_000_000n));
}

// ---------------------------------------------------------------------------------------------
// Summaries, filters, stats

const n = (v) => (typeof v === 'string' ? BigInt(v) : BigInt(Math.round(v ?? 0)));
const isErr = (s) => s.status?.code === 'error' || s.attributes?.['error.type'] !== undefined;

let summaries = null;
function allSummaries() {
  if (summaries) return summaries;
  summaries = [];
  for (const [trace_id, spans] of spansByTrace) {
    let min = null; let max = null; let errors = 0; let tools = 0; let inTok = 0; let outTok = 0;
    for (const s of spans) {
      const a = n(s.start_unix_nano); const b = n(s.end_unix_nano);
      if (min === null || a < min) min = a;
      if (max === null || b > max) max = b;
      if (isErr(s)) errors++;
      if (s.kind === 'tool') tools++;
      if (s.kind === 'llm') {
        inTok += s.attributes['gen_ai.usage.input_tokens'] ?? 0;
        outTok += s.attributes['gen_ai.usage.output_tokens'] ?? 0;
      }
    }
    const root = spans.find((s) => !s.parent_span_id) ?? spans[0];
    summaries.push({
      trace_id, name: root.name, agent: root.attributes['gen_ai.agent.name'] ?? null,
      start_unix_nano: Number(min), duration_ns: Number(max - min), span_count: spans.length,
      error_count: errors, tool_call_count: tools, input_tokens: inTok, output_tokens: outTok,
      status: errors ? 'error' : 'ok',
    });
  }
  summaries.sort((a, b) => b.start_unix_nano - a.start_unix_nano || (a.trace_id < b.trace_id ? -1 : 1));
  return summaries;
}

class BadRequest extends Error {}

function parseTime(text) {
  const m = /^(\d+)\s*(ms|s|m|min|h|d|days?|w)$/.exec(text);
  if (m) {
    const unit = { ms: 1e-3, s: 1, m: 60, min: 60, h: 3600, d: 86400, day: 86400, days: 86400, w: 604800 }[m[2]];
    return NOW_NOW() - BigInt(Math.round(Number(m[1]) * unit * 1e3)) * 1_000_000n;
  }
  const t = Date.parse(text);
  if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}T/.test(text)) throw new BadRequest(`query parameter: cannot parse time ${JSON.stringify(text)}`);
  return BigInt(t) * 1_000_000n;
}
const NOW_NOW = () => BigInt(Date.now()) * 1_000_000n;

function strictParams(searchParams, allowed) {
  const out = {};
  for (const [k, v] of searchParams) {
    if (!allowed.includes(k)) throw new BadRequest(`unknown query parameter ${JSON.stringify(k)}; accepted: ${allowed.join(', ')}`);
    if (k in out) throw new BadRequest(`query parameter ${JSON.stringify(k)} given more than once`);
    if (v !== '') out[k] = v;
  }
  return out;
}

const KINDS = ['agent', 'workflow', 'llm', 'tool', 'retrieval', 'reasoning', 'decision', 'guardrail', 'evaluation', 'memory', 'other'];
const TRACE_PARAMS = ['agent', 'status', 'kind', 'tool', 'model', 'conversation', 'q', 'since', 'until', 'min_duration_ms', 'limit', 'cursor', 'sort', 'order'];
const SORT_KEYS = {
  start: (t) => BigInt(t.start_unix_nano),
  duration: (t) => BigInt(t.duration_ns),
  tokens: (t) => BigInt(t.input_tokens) + BigInt(t.output_tokens),
  errors: (t) => BigInt(t.error_count),
};

function searchable(s) {
  const a = s.attributes ?? {};
  return [a['cairn.reasoning.content'], a['gen_ai.tool.call.arguments'], a['gen_ai.tool.call.result'],
    a['gen_ai.input.messages'], a['gen_ai.output.messages'], s.status?.message,
    ...(s.events ?? []).map((e) => e.attributes?.['exception.message'])].filter(Boolean).join('\n').toLowerCase();
}

function listTraces(searchParams) {
  const p = strictParams(searchParams, TRACE_PARAMS);
  if (p.status && !['ok', 'error'].includes(p.status)) throw new BadRequest('query parameter "status": unknown value, expected ok|error');
  if (p.kind && !KINDS.includes(p.kind)) throw new BadRequest(`query parameter "kind": unknown value, expected ${KINDS.join('|')}`);
  for (const k of ['limit', 'min_duration_ms']) if (p[k] !== undefined && !/^\d+$/.test(p[k])) throw new BadRequest(`query parameter "${k}" must be a non-negative integer, got ${JSON.stringify(p[k])}`);
  const since = p.since ? parseTime(p.since) : null;
  const until = p.until ? parseTime(p.until) : null;
  const limit = Math.min(1000, Math.max(1, Number(p.limit ?? 50)));
  const sort = p.sort ?? 'start';
  if (!SORT_KEYS[sort]) throw new BadRequest(`query parameter "sort": unknown value, expected start|duration|tokens|errors, got ${JSON.stringify(p.sort)}`);
  const order = p.order ?? 'desc';
  if (!['desc', 'asc'].includes(order)) throw new BadRequest(`query parameter "order": unknown value, expected desc|asc, got ${JSON.stringify(p.order)}`);
  let offset = 0;
  if (p.cursor) {
    const [o, s2, d2] = Buffer.from(p.cursor, 'base64url').toString().split(':');
    offset = Number(o);
    if (!Number.isInteger(offset) || offset < 0) throw new BadRequest('invalid cursor');
    if (s2 !== sort || d2 !== order) throw new BadRequest('invalid cursor: the cursor belongs to another sort or order');
  }
  const q = p.q?.toLowerCase();
  const matches = allSummaries().filter((t) => {
    if (p.status && t.status !== p.status) return false;
    if (since !== null && BigInt(t.start_unix_nano) < since) return false;
    if (until !== null && BigInt(t.start_unix_nano) >= until) return false;
    if (p.min_duration_ms && t.duration_ns < Number(p.min_duration_ms) * 1e6) return false;
    const spans = spansByTrace.get(t.trace_id);
    const any = (f) => spans.some(f);
    if (p.agent && !any((s) => s.attributes['gen_ai.agent.name'] === p.agent)) return false;
    if (p.kind && !any((s) => s.kind === p.kind)) return false;
    if (p.tool && !any((s) => s.attributes['gen_ai.tool.name'] === p.tool)) return false;
    if (p.model && !any((s) => s.attributes['gen_ai.request.model'] === p.model || s.attributes['gen_ai.response.model'] === p.model)) return false;
    if (p.conversation && !any((s) => s.attributes['gen_ai.conversation.id'] === p.conversation)) return false;
    if (q && (spans.length > 1000 || !any((s) => searchable(s).includes(q)))) return false;
    return true;
  });
  const key = SORT_KEYS[sort];
  const sign = order === 'asc' ? 1 : -1;
  matches.sort((a, b) => {
    const x = key(a); const y = key(b);
    return ((x < y ? -1 : x > y ? 1 : 0) || (a.trace_id < b.trace_id ? -1 : a.trace_id > b.trace_id ? 1 : 0)) * sign;
  });
  const page = matches.slice(offset, offset + limit).map((t) => (
    // Strings for some numbers: the UI must accept both encodings.
    t.span_count % 2 ? { ...t, start_unix_nano: String(t.start_unix_nano) } : t));
  const next = offset + limit < matches.length ? Buffer.from(`${offset + limit}:${sort}:${order}`).toString('base64url') : null;
  return { traces: page, next_cursor: next };
}

function percentile(sorted, p) {
  if (!sorted.length) return 0;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((sorted.length * p) / 100)));
  return sorted[rank - 1];
}

/** The agent each span belongs to: the nearest span, itself or an ancestor, naming one. */
const ownersCache = new Map();
function ownerAgents(spans) {
  if (ownersCache.has(spans)) return ownersCache.get(spans);
  const byId = new Map(spans.map((s, i) => [s.span_id, i]));
  const out = spans.map((s) => s.attributes?.['gen_ai.agent.name'] ?? undefined);
  const resolve = (i) => {
    const seen = new Set();
    let at = i;
    while (at !== undefined && !seen.has(at)) {
      if (out[at] !== undefined && out[at] !== null) return out[at];
      seen.add(at);
      at = spans[at].parent_span_id ? byId.get(spans[at].parent_span_id) : undefined;
    }
    return null;
  };
  const owners = spans.map((_, i) => resolve(i));
  ownersCache.set(spans, owners);
  return owners;
}

function conversations(searchParams) {
  const p = strictParams(searchParams, ['since', 'until', 'limit', 'cursor']);
  if (p.limit !== undefined && !/^[1-9]\d*$/.test(p.limit)) throw new BadRequest('query parameter "limit" must be at least 1');
  const since = p.since ? parseTime(p.since) : null;
  const until = p.until ? parseTime(p.until) : null;
  const limit = Math.min(1000, Number(p.limit ?? 50));
  const offset = p.cursor ? Number(Buffer.from(p.cursor, 'base64url').toString()) : 0;
  if (!Number.isInteger(offset) || offset < 0) throw new BadRequest('invalid cursor');
  const groups = new Map();
  for (const t of allSummaries()) {
    const start = BigInt(t.start_unix_nano);
    if ((since !== null && start < since) || (until !== null && start >= until)) continue;
    const spans = spansByTrace.get(t.trace_id);
    const ids = new Set(spans.map((s) => s.attributes?.['gen_ai.conversation.id']).filter(Boolean));
    for (const id of ids) {
      if (!groups.has(id)) groups.set(id, { conversation_id: id, runs: 0, first_start_unix_nano: null, last_start_unix_nano: null, last_end_unix_nano: 0, input_tokens: 0, output_tokens: 0, error_count: 0, failed_runs: 0, agents: new Set() });
      const g = groups.get(id);
      g.runs++;
      const s0 = Number(t.start_unix_nano);
      g.first_start_unix_nano = g.first_start_unix_nano === null ? s0 : Math.min(g.first_start_unix_nano, s0);
      g.last_start_unix_nano = g.last_start_unix_nano === null ? s0 : Math.max(g.last_start_unix_nano, s0);
      g.last_end_unix_nano = Math.max(g.last_end_unix_nano, s0 + t.duration_ns);
      g.input_tokens += t.input_tokens; g.output_tokens += t.output_tokens;
      g.error_count += t.error_count; g.failed_runs += t.error_count ? 1 : 0;
      for (const s of spans) if (s.attributes?.['gen_ai.agent.name']) g.agents.add(s.attributes['gen_ai.agent.name']);
    }
  }
  const all = [...groups.values()].map((g) => ({ ...g, agents: [...g.agents].sort() }))
    .sort((a, b) => b.last_start_unix_nano - a.last_start_unix_nano || (a.conversation_id < b.conversation_id ? 1 : -1));
  const page = all.slice(offset, offset + limit);
  return { conversations: page, next_cursor: offset + limit < all.length ? Buffer.from(String(offset + limit)).toString('base64url') : null };
}

/** A small price table, like the server's default (USD per million tokens). */
const PRICES = { currency: 'USD', unit: 'per million tokens', match: 'exact model name, else the longest key that prefixes it',
  models: { 'gpt-4o': { input_per_mtok_usd: 2.5, output_per_mtok_usd: 10 }, 'gpt-4o-mini': { input_per_mtok_usd: 0.15, output_per_mtok_usd: 0.6 },
    'claude-sonnet-4': { input_per_mtok_usd: 3, output_per_mtok_usd: 15 } } };

function stats(searchParams) {
  const p = strictParams(searchParams, ['since', 'until', 'group_by', 'agent']);
  const groupBy = p.group_by ?? 'agent';
  if (!['agent', 'tool', 'model'].includes(groupBy)) throw new BadRequest('query parameter "group_by": unknown value, expected agent|tool|model');
  const since = p.since ? parseTime(p.since) : null;
  const until = p.until ? parseTime(p.until) : null;
  const inWindow = (start) => (since === null || start >= since) && (until === null || start < until);
  const groups = new Map();
  const add = (key, dur, err, inTok, outTok) => {
    if (!groups.has(key)) groups.set(key, { key, durs: [], errors: 0, inTok: 0, outTok: 0 });
    const g = groups.get(key);
    g.durs.push(dur); g.errors += err ? 1 : 0; g.inTok += inTok; g.outTok += outTok;
  };
  // Like the server: every span belongs to its nearest named agent (itself or an ancestor).
  for (const [traceId, spans] of spansByTrace) {
    const agentOf = ownerAgents(spans);
    if (groupBy === 'agent') {
      const summary = allSummaries().find((t) => t.trace_id === traceId);
      if (!inWindow(BigInt(summary.start_unix_nano))) continue;
      const parts = new Map();
      spans.forEach((s, i) => {
        const a = agentOf[i];
        if (!a || (p.agent && a !== p.agent)) return;
        if (!parts.has(a)) parts.set(a, { start: null, end: null, failed: false, llmIn: 0, llmOut: 0, llm: false, otherIn: 0, otherOut: 0 });
        const part = parts.get(a);
        if (s.attributes['gen_ai.agent.name'] === a) {
          const st = n(s.start_unix_nano); const en = n(s.end_unix_nano);
          if (part.start === null || st < part.start) part.start = st;
          if (part.end === null || en > part.end) part.end = en;
        }
        part.failed ||= isErr(s);
        const inTok = s.attributes['gen_ai.usage.input_tokens']; const outTok = s.attributes['gen_ai.usage.output_tokens'];
        if (s.kind === 'llm' && (inTok !== undefined || outTok !== undefined)) { part.llmIn += inTok ?? 0; part.llmOut += outTok ?? 0; part.llm = true; } else { part.otherIn += inTok ?? 0; part.otherOut += outTok ?? 0; }
      });
      for (const [a, part] of parts) add(a, Number(part.end - part.start), part.failed, part.llm ? part.llmIn : part.otherIn, part.llm ? part.llmOut : part.otherOut);
    } else {
      spans.forEach((s, i) => {
        if (p.agent && agentOf[i] !== p.agent) return;
        const key = groupBy === 'tool' ? (s.kind === 'tool' ? s.attributes['gen_ai.tool.name'] : null)
          : (s.attributes['gen_ai.response.model'] ?? s.attributes['gen_ai.request.model']);
        if (!key || !inWindow(n(s.start_unix_nano))) return;
        add(key, Number(n(s.end_unix_nano) - n(s.start_unix_nano)), isErr(s), s.attributes['gen_ai.usage.input_tokens'] ?? 0, s.attributes['gen_ai.usage.output_tokens'] ?? 0);
      });
    }
  }
  const out = [...groups.values()].map((g) => {
    g.durs.sort((a, b) => a - b);
    return {
      key: g.key, count: g.durs.length, error_count: g.errors, error_rate: g.errors / g.durs.length,
      p50_duration_ns: percentile(g.durs, 50), p95_duration_ns: percentile(g.durs, 95), p99_duration_ns: percentile(g.durs, 99),
      input_tokens: g.inTok, output_tokens: g.outTok,
    };
  }).sort((a, b) => b.count - a.count || (a.key < b.key ? -1 : 1));
  return { group_by: groupBy, since: since === null ? null : Number(since), until: until === null ? null : Number(until), groups: out };
}

// ---------------------------------------------------------------------------------------------
// Merkle log (RFC 6962), checkpoint (C2SP signed note) and proofs (tlog-proof@v1)

const sha = (...parts) => createHash('sha256').update(Buffer.concat(parts)).digest();
const leafHashes = [];
const treeCache = new Map();
function leaf(i) {
  while (leafHashes.length <= i) leafHashes.push(sha(Buffer.from([0]), ledger[leafHashes.length]));
  return leafHashes[i];
}
function largestPow2Below(k) {
  let p = 1;
  while (p * 2 < k) p *= 2;
  return p;
}
function mth(start, size) {
  if (size === 1) return leaf(start);
  const key = `${start}:${size}`;
  const hit = treeCache.get(key);
  if (hit) return hit;
  const k = largestPow2Below(size);
  const h = sha(Buffer.from([1]), mth(start, k), mth(start + k, size - k));
  // Complete subtrees never change as the log grows; cache those only.
  if ((size & (size - 1)) === 0) treeCache.set(key, h);
  return h;
}
function path(m, start, size) {
  if (size <= 1) return [];
  const k = largestPow2Below(size);
  return m < k ? [...path(m, start, k), mth(start + k, size - k)] : [...path(m - k, start + k, size - k), mth(start, k)];
}

const ORIGIN = 'cairn.example/mock';
const { publicKey, privateKey } = generateKeyPairSync('ed25519');
const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
const keyId = sha(Buffer.from(`${ORIGIN}\n`), Buffer.from([1]), pub).subarray(0, 4);
const VKEY = `${ORIGIN}+${keyId.toString('hex')}+${Buffer.concat([Buffer.from([1]), pub]).toString('base64')}`;

let checkpointCache = null;
function checkpoint() {
  if (checkpointCache?.size === ledger.length) return checkpointCache.text;
  const body = `${ORIGIN}\n${ledger.length}\n${mth(0, ledger.length).toString('base64')}\n`;
  const sig = sign(null, Buffer.from(body), privateKey);
  const text = `${body}\n\u2014 ${ORIGIN} ${Buffer.concat([keyId, sig]).toString('base64')}\n`;
  checkpointCache = { size: ledger.length, text };
  return text;
}

function proof(searchParams) {
  const p = strictParams(searchParams, ['index', 'size']);
  if (p.index === undefined) throw new BadRequest('query parameter "index" is required');
  if (!/^\d+$/.test(p.index)) throw new BadRequest(`query parameter "index" must be a non-negative integer, got ${JSON.stringify(p.index)}`);
  const index = Number(p.index);
  if (index >= ledger.length) return null;
  const cp = checkpoint();
  const hashes = path(index, 0, ledger.length).map((x) => x.toString('base64'));
  return `c2sp.org/tlog-proof@v1\nindex ${index}\n${hashes.map((x) => `${x}\n`).join('')}\n${cp}`;
}

// ---------------------------------------------------------------------------------------------
// HTTP

const TYPES = { '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml' };
const detailCache = new Map();

function send(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-cache' });
  res.end(body);
}
const sendJson = (res, status, value) => send(res, status, JSON.stringify(value));
const apiError = (res, status, code, message) => sendJson(res, status, { error: { code, message } });

async function serveAsset(res, pathname) {
  let rel = pathname.replace(/^\/+/, '') || 'index.html';
  const reserved = /^(api|tlog|assets)(\/|$)/.test(rel) || (rel.split('/').pop() ?? '').includes('.');
  const file = normalize(join(ASSETS, rel));
  if (!file.startsWith(ASSETS + sep)) return send(res, 404, 'not found', 'text/plain');
  try {
    return send(res, 200, await readFile(file), TYPES[extname(file)] ?? 'application/octet-stream');
  } catch {
    if (reserved) return send(res, 404, 'not found', 'text/plain');
    rel = 'index.html';
    return send(res, 200, await readFile(join(ASSETS, rel)), TYPES['.html']);
  }
}

async function proxy(req, res, u) {
  const upstream = await fetch(`${PROXY}${u.pathname}${u.search}`, { method: req.method, headers: { accept: req.headers.accept ?? '*/*' } });
  const headers = {};
  for (const h of ['content-type', 'cache-control', 'retry-after']) {
    const v = upstream.headers.get(h);
    if (v) headers[h] = v;
  }
  res.writeHead(upstream.status, headers);
  res.end(Buffer.from(await upstream.arrayBuffer()));
}

async function handle(req, res) {
  const u = new URL(req.url, 'http://localhost');
  const p = u.pathname;
  if (PROXY) {
    const isAsset = p === '/' || p.startsWith('/assets/') || !/^\/(api|tlog|v1|metrics|healthz|readyz)(\/|$)/.test(p);
    return isAsset ? serveAsset(res, p) : proxy(req, res, u);
  }
  try {
    if (p === '/__mock/info') return sendJson(res, 200, { mock: true, big_trace_id: BIG_TRACE_ID, huge_trace_id: HUGE_TRACE_ID, entries: ledger.length });
    if (p === '/__mock/add-trace' && req.method === 'POST') {
      const id = hex(32);
      addTrace(id, demoRun(id, NOW_NOW() - 3_000_000_000n, 1000 + liveCounter++));
      return sendJson(res, 200, { trace_id: id });
    }
    if (p === '/healthz' || p === '/readyz') return send(res, 200, 'ok\n', 'text/plain');
    if (p === '/api/v1/traces') return sendJson(res, 200, listTraces(u.searchParams));
    const m = /^\/api\/v1\/traces\/([^/]+)$/.exec(p);
    if (m) {
      const id = decodeURIComponent(m[1]);
      const spans = spansByTrace.get(id);
      if (!spans) return apiError(res, 404, 'not_found', `trace ${id} not found`);
      if (!detailCache.has(id)) detailCache.set(id, JSON.stringify({ trace_id: id, spans, logs: logsByTrace.get(id) ?? [] }));
      return send(res, 200, detailCache.get(id));
    }
    if (p === '/api/v1/stats') return sendJson(res, 200, stats(u.searchParams));
    if (p === '/api/v1/conversations') return sendJson(res, 200, conversations(u.searchParams));
    if (p === '/api/v1/prices') {
      strictParams(u.searchParams, []);
      return sendJson(res, 200, PRICES);
    }
    if (p === '/api/v1/audit/checkpoint' || p === '/tlog/checkpoint') return send(res, 200, checkpoint(), 'text/plain; charset=utf-8');
    if (p === '/api/v1/audit/key') return send(res, 200, `${VKEY}\n`, 'text/plain; charset=utf-8');
    if (p === '/api/v1/audit/verification') {
      // The mock's log is built in memory and consistent: report one passed whole-ledger run.
      const last = { ok: true, finished_at: STARTED_AT, duration_seconds: 0.05, entries: ledger.length, checkpoints: 1,
        latest_checkpoint_size: ledger.length, problems: 0, first_problem: null, warnings: 0 };
      return sendJson(res, 200, { status: 'ok', runs: 1, last });
    }
    if (p === '/api/v1/audit/proof') {
      const bundle = proof(u.searchParams);
      if (bundle === null) return apiError(res, 404, 'not_found', `entry does not exist (the ledger has ${ledger.length} entries)`);
      return send(res, 200, bundle, 'text/plain; charset=utf-8');
    }
    const e = /^\/api\/v1\/audit\/entries\/(\d+)$/.exec(p);
    if (e) {
      const entry = ledger[Number(e[1])];
      return entry ? send(res, 200, entry, 'application/octet-stream') : apiError(res, 404, 'not_found', 'no such entry');
    }
    if (p.startsWith('/api/')) return apiError(res, 404, 'not_found', `no API route ${p}`);
    return serveAsset(res, p);
  } catch (err) {
    if (err instanceof BadRequest) return apiError(res, 400, 'bad_request', err.message);
    console.error(err);
    return apiError(res, 500, 'internal', String(err?.message ?? err));
  }
}

if (!PROXY) {
  generate();
  checkpoint();
}
const server = createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error(err);
    res.destroy();
  });
});
server.listen(PORT, HOST, () => {
  const { port } = server.address();
  console.log(`listening http://${HOST}:${port}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => server.close(() => process.exit(0)));
