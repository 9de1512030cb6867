// Unit tests of the UI's pure modules (no DOM): timestamps, the span tree, attribute
// interpretation and the in-browser audit checks. Run with `node --test` (run.sh does).

import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { test } from 'node:test';

import { contentValue, duration, pretty, splitNanos } from '../../crates/cairn-ui/assets/assets/js/format.js';
import { buildTrace, interpret, visibleRows } from '../../crates/cairn-ui/assets/assets/js/model.js';
import { parseBundle, parseCheckpoint, parseVerifierKey, rootFromInclusion, verifyBundle, verifyCheckpoint } from '../../crates/cairn-ui/assets/assets/js/tlog.js';

test('splitNanos takes decimal strings and numbers, rejects junk', () => {
  assert.deepEqual(splitNanos('1796000000123456789'), [1796000000, 123456789]);
  assert.deepEqual(splitNanos('42'), [0, 42]);
  assert.deepEqual(splitNanos(1_500_000_000), [1, 500_000_000]);
  assert.deepEqual(splitNanos(10n ** 18n + 7n), [1_000_000_000, 7]);
  for (const bad of ['', '-1', '1e9', ' 12', 'abc', -5, NaN, Infinity, null, undefined, {}]) {
    assert.equal(splitNanos(bad), null, String(bad));
  }
});

test('durations read naturally', () => {
  assert.equal(duration(800), '800 ns');
  assert.equal(duration(1500), '1.50 µs');
  assert.equal(duration(12_300_000), '12.3 ms');
  assert.equal(duration('2400000000'), '2.40 s');
  assert.equal(duration('x'), '—');
});

test('content values: JSON strings are parsed, other strings kept', () => {
  assert.deepEqual(contentValue('{"q":"rust"}'), { q: 'rust' });
  assert.equal(contentValue('{not json'), '{not json');
  assert.equal(pretty('[1,2]'), '[\n  1,\n  2\n]');
  assert.equal(pretty('plain'), 'plain');
});

const span = (id, parent, start, end, extra = {}) => ({
  span_id: id, parent_span_id: parent, name: id, kind: 'other',
  start_unix_nano: start, end_unix_nano: end, status: { code: 'unset', message: '' }, attributes: {}, events: [], ...extra,
});

test('buildTrace: exact offsets from string nanos, pre-order by start, orphans become roots', () => {
  const t = buildTrace({
    trace_id: 't',
    spans: [
      span('c2', 'root', '1796000000000000300', '1796000000000000400'),
      span('root', null, '1796000000000000000', '1796000000000001000'),
      span('c1', 'root', 1796000000000000100, '1796000000000000200'),
      span('orphan', 'gone', '1796000000000000050', '1796000000000000060'),
      span('g1', 'c1', '1796000000000000150', null),
    ],
  });
  assert.equal(t.start, 1796000000000000000n);
  assert.deepEqual(t.order.map((n) => n.id), ['root', 'c1', 'g1', 'c2', 'orphan']);
  assert.deepEqual(t.roots.map((n) => n.id), ['root', 'orphan']);
  const byId = Object.fromEntries(t.nodes.map((n) => [n.id, n]));
  assert.equal(byId.c2.start, 300);
  assert.equal(byId.c2.duration, 100);
  assert.equal(byId.g1.duration, 0, 'a missing end counts as the start');
  assert.equal(byId.g1.depth, 2);
  assert.equal(byId.orphan.orphan, true);
  assert.equal(t.duration, 1000);
});

test('buildTrace: spans in a parent cycle are each shown exactly once', () => {
  const t = buildTrace({ spans: [span('a', 'b', '10', '20'), span('b', 'a', '11', '19'), span('r', null, '0', '30')] });
  assert.equal(t.order.length, 3);
  assert.equal(new Set(t.order.map((n) => n.id)).size, 3);
  assert.equal(visibleRows(t.roots, new Set()).length, 3);
});

test('visibleRows skips descendants of collapsed spans', () => {
  const t = buildTrace({ spans: [span('r', null, '0', '9'), span('a', 'r', '1', '2'), span('b', 'a', '1', '2'), span('c', 'r', '3', '4')] });
  const a = t.byId.get('a');
  assert.deepEqual(visibleRows(t.roots, new Set([a])).map((n) => n.id), ['r', 'a', 'c']);
  assert.deepEqual(visibleRows(t.roots, new Set([t.byId.get('r')])).map((n) => n.id), ['r']);
});

test('totals count LLM usage once, errors, tool calls and cost', () => {
  const t = buildTrace({
    spans: [
      span('agent', null, '0', '100', { kind: 'agent', attributes: { 'gen_ai.usage.input_tokens': 30, 'gen_ai.agent.name': 'planner', 'gen_ai.conversation.id': 'c-1' } }),
      span('llm1', 'agent', '1', '2', { kind: 'llm', attributes: { 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': '5', 'gen_ai.usage.cost': 0.5 } }),
      span('llm2', 'agent', '3', '4', { kind: 'llm', attributes: { 'gen_ai.usage.prompt_tokens': 20, 'gen_ai.usage.completion_tokens': 1 } }),
      span('tool', 'agent', '5', '6', { kind: 'tool', status: { code: 'error', message: 'boom' } }),
      span('x', 'agent', '7', '8', { attributes: { 'error.type': 'Timeout' } }),
    ],
  });
  assert.deepEqual(
    { ...t.totals, agents: t.totals.agents.join() },
    // llm2 reports usage but names no model: without a price table it stays unpriced.
    { duration: 100, spans: 5, inputTokens: 30, outputTokens: 6, cost: 0.5, costEstimated: 0, unpriced: ['unknown model'], toolCalls: 1, llmCalls: 2, errors: 2, agents: 'planner', conversation: 'c-1' },
  );
});

test('interpret: tool call, decision, reasoning, LLM call and exceptions', () => {
  const info = interpret(span('s', null, '0', '1', {
    kind: 'tool',
    status: { code: 'error', message: 'timed out' },
    attributes: {
      'gen_ai.tool.name': 'search', 'gen_ai.tool.call.arguments': '{"q":"x"}', 'gen_ai.tool.call.result': 'plain',
      'cairn.decision.options': '["a","b"]', 'cairn.decision.chosen': 'b', 'cairn.decision.confidence': '0.25',
      'cairn.reasoning.content': 'because', 'cairn.reasoning.step': 2, 'error.type': 'Timeout',
      'gen_ai.request.model': 'm', 'gen_ai.usage.input_tokens': 3,
    },
    events: [{ name: 'exception', time_unix_nano: '5', attributes: { 'exception.type': 'E', 'exception.message': 'm', 'exception.stacktrace': 'at x' } }],
  }));
  assert.deepEqual(info.tool.arguments, { q: 'x' });
  assert.equal(info.tool.result, 'plain');
  assert.deepEqual(info.decision, { name: null, options: ['a', 'b'], chosen: 'b', confidence: 0.25, rationale: null });
  assert.deepEqual(info.reasoning, { content: 'because', step: 2 });
  assert.equal(info.llm.requestModel, 'm');
  assert.equal(info.llm.input, 3);
  assert.equal(info.error.type, 'Timeout');
  assert.equal(info.error.message, 'timed out');
  assert.deepEqual(info.error.exceptions.map((e) => [e.type, e.stacktrace]), [['E', 'at x']]);
  assert.equal(interpret(span('d', null, '0', '1', { attributes: { 'cairn.decision.confidence': 1.5 } })).decision, null,
    'a confidence outside 0..1 is not a decision');
});

// ---- audit: a tiny RFC 6962 log signed like cairn-ledger ----

const sha = (...parts) => createHash('sha256').update(Buffer.concat(parts)).digest();
const leafOf = (e) => sha(Buffer.from([0]), e);
const split = (n) => { let k = 1; while (k * 2 < n) k *= 2; return k; };
const mth = (leaves) => (leaves.length === 1 ? leaves[0]
  : sha(Buffer.from([1]), mth(leaves.slice(0, split(leaves.length))), mth(leaves.slice(split(leaves.length)))));
const path = (m, leaves) => {
  if (leaves.length <= 1) return [];
  const k = split(leaves.length);
  return m < k ? [...path(m, leaves.slice(0, k)), mth(leaves.slice(k))] : [...path(m - k, leaves.slice(k)), mth(leaves.slice(0, k))];
};

function log(size) {
  const entries = Array.from({ length: size }, (_, i) => Buffer.from(`entry ${i}`));
  const leaves = entries.map(leafOf);
  const origin = 'example.test/log';
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
  const keyId = sha(Buffer.from(`${origin}\n`), Buffer.from([1]), pub).subarray(0, 4);
  const vkey = `${origin}+${keyId.toString('hex')}+${Buffer.concat([Buffer.from([1]), pub]).toString('base64')}`;
  const body = `${origin}\n${size}\n${mth(leaves).toString('base64')}\n`;
  const note = `${body}\n\u2014 ${origin} ${Buffer.concat([keyId, sign(null, Buffer.from(body), privateKey)]).toString('base64')}\n`;
  const bundle = (i) => `c2sp.org/tlog-proof@v1\nindex ${i}\n${path(i, leaves).map((h) => `${h.toString('base64')}\n`).join('')}\n${note}`;
  return { entries, leaves, vkey, note, bundle };
}

test('verifier keys whose base64 contains "+" parse', () => {
  const pub = Buffer.from([0xff, 0xff, ...[...Array(10)].flatMap(() => [0xfb, 0xef, 0xbe])]);
  const b64 = Buffer.concat([Buffer.from([1]), pub]).toString('base64');
  assert.ok(b64.includes('+'));
  const key = parseVerifierKey(`log.example+0a0b0c0d+${b64}\n`);
  assert.equal(key.name, 'log.example');
  assert.deepEqual(Buffer.from(key.publicKey), pub);
  assert.deepEqual([...key.keyId], [10, 11, 12, 13]);
  assert.throws(() => parseVerifierKey('no-plus-signs'));
  assert.throws(() => parseVerifierKey(`n+0a0b0c0d+${Buffer.from([2, ...pub]).toString('base64')}`), /not an Ed25519 key/);
});

test('inclusion proofs verify for every index of trees of size 1..17', async () => {
  for (let size = 1; size <= 17; size++) {
    const { leaves } = log(size);
    const root = mth(leaves);
    for (let i = 0; i < size; i++) {
      const got = await rootFromInclusion(BigInt(i), BigInt(size), new Uint8Array(leaves[i]), path(i, leaves).map((h) => new Uint8Array(h)));
      assert.deepEqual(Buffer.from(got), root, `size ${size} index ${i}`);
    }
    if (size > 1) {
      const wrong = await rootFromInclusion(0n, BigInt(size), new Uint8Array(leaves[1]), path(0, leaves).map((h) => new Uint8Array(h)));
      assert.notDeepEqual(Buffer.from(wrong ?? []), root, 'a different leaf does not verify');
    }
  }
});

test('bundles: signed and included passes; tampering fails', async () => {
  const l = log(11);
  const ok = await verifyBundle(l.bundle(6), l.vkey, new Uint8Array(l.entries[6]));
  assert.equal(ok.ok, true, ok.checks.map((c) => `${c.name}: ${c.detail}`).join('; '));
  assert.equal(parseBundle(l.bundle(6)).proof.length, 4);
  assert.equal(parseCheckpoint(l.note).size, 11n);

  const wrongEntry = await verifyBundle(l.bundle(6), l.vkey, new Uint8Array(l.entries[5]));
  assert.equal(wrongEntry.ok, false);
  assert.equal(wrongEntry.checks.find((c) => c.name === 'inclusion').ok, false);

  const other = log(11);
  assert.equal((await verifyCheckpoint(l.note, other.vkey)).ok, false, 'another key');
  const forged = l.note.replace('\n11\n', '\n12\n');
  assert.equal((await verifyCheckpoint(forged, l.vkey)).ok, false, 'changed size');

  const noEntry = await verifyBundle(l.bundle(0), l.vkey, null);
  assert.equal(noEntry.ok, null, 'inclusion not checked without the entry');
  assert.equal((await verifyBundle('garbage', l.vkey, null)).ok, false);
});

test('prices: exact model name, else the longest prefix key', async () => {
  const { priceOf } = await import('../../crates/cairn-ui/assets/assets/js/model.js');
  const table = {
    'gpt-4o': { input_per_mtok_usd: 2.5, output_per_mtok_usd: 10 },
    'gpt-4o-mini': { input_per_mtok_usd: 0.15, output_per_mtok_usd: 0.6 },
    broken: { input_per_mtok_usd: 'x', output_per_mtok_usd: 1 },
  };
  assert.equal(priceOf(table, 'gpt-4o').key, 'gpt-4o');
  assert.equal(priceOf(table, 'gpt-4o-mini-2024-07-18').key, 'gpt-4o-mini');
  assert.equal(priceOf(table, 'gpt-4o-2024-08-06').key, 'gpt-4o');
  assert.equal(priceOf(table, 'o3-mini'), null);
  assert.equal(priceOf(table, 'broken'), null);
  assert.equal(priceOf(null, 'gpt-4o'), null);
  assert.equal(priceOf(table, ''), null);
});

test('LLM cost: the attribute wins, else an estimate, else the unpriced model', async () => {
  const { llmCost, totals } = await import('../../crates/cairn-ui/assets/assets/js/model.js');
  const table = { 'gpt-4o': { input_per_mtok_usd: 2.5, output_per_mtok_usd: 10 } };
  const usage = { 'gen_ai.usage.input_tokens': 1_000_000, 'gen_ai.usage.output_tokens': 500_000 };
  assert.deepEqual(llmCost({ ...usage, 'gen_ai.request.model': 'gpt-4o', 'gen_ai.usage.cost': 0.5 }, table), { usd: 0.5, estimated: false });
  const est = llmCost({ ...usage, 'gen_ai.request.model': 'o3', 'gen_ai.response.model': 'gpt-4o-2024-08-06' }, table);
  assert.equal(est.estimated, true);
  assert.equal(est.usd, 7.5);
  assert.equal(est.price.key, 'gpt-4o');
  assert.deepEqual(llmCost({ ...usage, 'gen_ai.request.model': 'o3-mini' }, table), { usd: null, unpriced: 'o3-mini' });
  assert.deepEqual(llmCost({ 'gen_ai.request.model': 'gpt-4o' }, table), { usd: null, unpriced: null });
  // Run totals: one explicit cost, one estimate, one unpriced call; non-LLM spans never count.
  const node = (kind, attributes) => ({ kind, error: false, raw: { attributes } });
  const t = totals([
    node('llm', { ...usage, 'gen_ai.request.model': 'gpt-4o', 'cairn.cost.usd': 1 }),
    node('llm', { ...usage, 'gen_ai.request.model': 'gpt-4o' }),
    node('llm', { ...usage, 'gen_ai.request.model': 'o3-mini' }),
    node('agent', { ...usage, 'gen_ai.request.model': 'gpt-4o' }),
  ], 10, table);
  assert.equal(t.cost, 8.5);
  assert.equal(t.costEstimated, 1);
  assert.deepEqual(t.unpriced, ['o3-mini']);
  // Without a table only cost attributes count.
  const bare = totals([node('llm', { ...usage, 'gen_ai.request.model': 'gpt-4o' })], 10, null);
  assert.equal(bare.cost, null);
  assert.deepEqual(bare.unpriced, ['gpt-4o']);
});

test('traces order matches the server: key, then trace id, same direction', async () => {
  const { compare } = await import('../../crates/cairn-ui/assets/assets/js/traces.js');
  const rows = [
    { trace_id: 'b', startNs: 1n, duration_ns: 5, input_tokens: 1, output_tokens: 1, error_count: 0 },
    { trace_id: 'a', startNs: 2n, duration_ns: 5, input_tokens: 3, output_tokens: '0', error_count: 2 },
    { trace_id: 'c', startNs: 3n, duration_ns: '9', input_tokens: 0, output_tokens: 0, error_count: 0 },
  ];
  const ids = (key, dir) => [...rows].sort(compare(key, dir)).map((r) => r.trace_id).join('');
  assert.equal(ids('start', 'desc'), 'cab');
  assert.equal(ids('duration', 'desc'), 'cba');
  assert.equal(ids('duration', 'asc'), 'abc');
  assert.equal(ids('tokens', 'desc'), 'abc');
  assert.equal(ids('errors', 'asc'), 'bca');
});
