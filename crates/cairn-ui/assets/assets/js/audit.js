// The Audit page (latest signed checkpoint, verifier key, last verification result, proving an
// entry) and the proof panel the run view opens from a span's "Prove" action.

import { getBytes, getJson, getText } from './api.js';
import { download, h, notice, replace } from './dom.js';
import { timestamp } from './format.js';
import { bytesToBase64, cryptoAvailable, parseCheckpoint, verifyBundle, verifyCheckpoint } from './tlog.js';

const LAST_KEY = 'cairn.audit.lastVerification';

/** The last verification result this browser computed, or null. */
export function lastVerification() {
  try {
    const v = JSON.parse(localStorage.getItem(LAST_KEY) ?? 'null');
    return v && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
}

function remember(result) {
  try {
    localStorage.setItem(LAST_KEY, JSON.stringify({ ...result, at: Date.now() }));
  } catch {
    // Storage disabled or full: the result is still shown on screen.
  }
  document.dispatchEvent(new CustomEvent('cairn:verified'));
}

function checkList(checks) {
  return h('ul.checks', null, checks.map((c) =>
    h(`li.check.check-${c.ok === true ? 'pass' : c.ok === false ? 'fail' : 'skip'}`, { dataset: { check: c.name } },
      h('span.check-mark', { 'aria-hidden': 'true' }, c.ok === true ? '✓' : c.ok === false ? '✗' : '–'),
      h('strong', null, c.name), ' ', c.ok === true ? 'passed' : c.ok === false ? 'failed' : 'not checked',
      c.detail ? h('span.check-detail', null, ` — ${c.detail}`) : null)));
}

function verdict(ok, label) {
  const cls = ok === true ? 'pass' : ok === false ? 'fail' : 'skip';
  const word = ok === true ? 'verified' : ok === false ? 'verification failed' : 'partially checked';
  return h(`p.verdict.verdict-${cls}`, { dataset: { verdict: cls } }, `${label}: ${word}`);
}

/**
 * A panel that fetches, shows, checks and offers to download the inclusion proof of ledger entry
 * `index`. Loads asynchronously; the returned element fills in when done.
 */
export function proofPanel(index) {
  const panel = h('section.proof', { 'aria-live': 'polite', dataset: { proofIndex: String(index) } },
    h('h3', null, `Inclusion proof of ledger entry ${index}`), notice('Fetching the proof…'));
  (async () => {
    let text;
    try {
      text = await getText('/audit/proof', { index });
    } catch (err) {
      replace(panel, h('h3', null, `Inclusion proof of ledger entry ${index}`), notice(`Cannot get the proof: ${err.message}`, 'error'));
      return;
    }
    const [key, entry] = await Promise.all([
      getText('/audit/key').catch(() => null),
      getBytes(`/audit/entries/${index}`).catch(() => null),
    ]);
    const result = await verifyBundle(text, key ?? '', entry);
    const filename = `cairn-entry-${index}.tlog-proof`;
    const path = result.bundle?.proof ?? [];
    const cp = result.checkpoint;
    replace(panel,
      h('h3', null, `Inclusion proof of ledger entry ${index}`),
      verdict(result.ok, `Entry ${index}`),
      checkList(result.checks),
      cp ? h('dl.kv', null,
        h('dt', null, 'Tree size'), h('dd.proof-size', null, String(cp.size)),
        h('dt', null, 'Signed root'), h('dd.mono', null, bytesToBase64(cp.root)),
        h('dt', null, 'Origin'), h('dd.mono', null, cp.origin)) : null,
      h('h4', null, `Inclusion path (${path.length} hashes, leaf sibling first)`),
      path.length
        ? h('ol.proof-path.mono', { start: '0' }, path.map((p) => h('li', null, bytesToBase64(p))))
        : h('p.muted', null, 'Empty path: the entry is the only leaf of the tree.'),
      h('div.actions', null,
        h('button.primary.download-proof', { type: 'button', onclick: () => download(filename, text) }, `Download ${filename}`),
        entry ? h('button.download-entry', {
          type: 'button',
          onclick: () => download(`cairn-entry-${index}.bin`, entry, 'application/octet-stream'),
        }, 'Download entry bytes') : null),
      h('p.muted', null, 'Check it offline with ', h('code', null, 'cairn verify-proof'),
        ', the bundle, the entry and the verifier key.'),
      h('details', null, h('summary', null, 'Bundle text'), h('pre.bundle-text.mono', null, text)));
    remember({ what: `inclusion proof of entry ${index}`, ok: result.ok, checks: result.checks.map(({ name, ok, detail }) => ({ name, ok, detail })) });
  })();
  return panel;
}

function lastVerificationView() {
  const v = lastVerification();
  if (!v) return h('p.muted', null, 'Nothing verified in this browser yet.');
  return h('div', null,
    verdict(v.ok, v.what ?? 'last check'),
    h('p.muted', null, `at ${timestamp(BigInt(Math.round(v.at ?? 0)) * 1_000_000n)}`),
    Array.isArray(v.checks) ? checkList(v.checks) : null);
}

/** The server's latest background verification of the whole ledger. */
function serverVerificationView(v) {
  if (!v || v.status === 'pending' || !v.last) {
    return h('p.muted', null, 'The server has not finished a background verification yet (the first one runs shortly after startup).');
  }
  const last = v.last;
  const at = timestamp(BigInt(Math.round(last.finished_at * 1000)) * 1_000_000n);
  return h('div', null,
    verdict(last.ok, 'whole ledger'),
    h('dl.kv', null,
      h('dt', null, 'Finished'), h('dd', null, at),
      h('dt', null, 'Entries re-hashed'), h('dd.server-verify-entries', null, String(last.entries)),
      h('dt', null, 'Checkpoints checked'), h('dd', null, String(last.checkpoints)),
      h('dt', null, 'Problems'), h('dd', null, String(last.problems)),
      h('dt', null, 'Took'), h('dd', null, `${last.duration_seconds.toFixed(2)} s`)),
    last.first_problem ? notice(last.first_problem, 'error') : null);
}

/** Mounts the Audit page. */
export function mount(root, { query, navigate }) {
  const checkpointBox = h('div', null, notice('Loading the checkpoint…'));
  const keyBox = h('div', null, notice('Loading the verifier key…'));
  const lastBox = h('div.last-verification', null, lastVerificationView());
  const serverBox = h('div.server-verification', null, notice('Loading the server verification…'));
  const proofBox = h('div');
  const indexInput = h('input#proof-index', {
    type: 'number', min: '0', step: '1', inputMode: 'numeric', placeholder: 'ledger index',
    value: query.get('index') ?? '', dataset: { search: '' },
  });
  const form = h('form.inline-form', {
    onsubmit: (e) => {
      e.preventDefault();
      const v = indexInput.value.trim();
      if (!/^\d+$/.test(v)) {
        replace(proofBox, notice('Enter a ledger index (a non-negative integer).', 'error'));
        return;
      }
      navigate(`/audit?index=${v}`, { replace: true });
    },
  }, h('label', { for: 'proof-index' }, 'Ledger index'), indexInput, h('button.primary', { type: 'submit' }, 'Prove'));

  const onVerified = () => replace(lastBox, lastVerificationView());
  document.addEventListener('cairn:verified', onVerified);

  replace(root,
    h('header.page-head', null, h('h1', null, 'Audit'),
      h('p.muted', null, 'Every span is an entry of a tamper-evident Merkle log. Checkpoints sign its root; proofs show an entry is in it.')),
    h('div.cards', null,
      h('section.card', null, h('h2', null, 'Latest signed checkpoint'), checkpointBox),
      h('section.card', null, h('h2', null, 'Verifier key'), keyBox),
      h('section.card', null, h('h2', null, 'Server verification'), serverBox),
      h('section.card', null, h('h2', null, 'Verified in this browser'), lastBox)),
    h('section.card', null, h('h2', null, 'Prove an entry'),
      h('p.muted', null, 'Open a span in a run and use "Prove inclusion", or enter its ledger index.'),
      form, proofBox));

  getJson('/audit/verification')
    .then((v) => replace(serverBox, serverVerificationView(v)))
    .catch((err) => replace(serverBox, notice(`Cannot load the verification status: ${err.message}`, 'error')));

  (async () => {
    const [note, key] = await Promise.all([
      getText('/audit/checkpoint').catch((err) => err),
      getText('/audit/key').catch((err) => err),
    ]);
    if (key instanceof Error) replace(keyBox, notice(`Cannot load the key: ${key.message}`, 'error'));
    else {
      replace(keyBox, h('pre.mono.verifier-key', null, key.trim()),
        h('button', { type: 'button', onclick: () => navigator.clipboard?.writeText(key.trim()).catch(() => {}) }, 'Copy'));
    }
    if (note instanceof Error) {
      replace(checkpointBox, notice(note.status === 404 ? 'No checkpoint has been signed yet.' : `Cannot load the checkpoint: ${note.message}`, note.status === 404 ? 'info' : 'error'));
      return;
    }
    let parsed = null;
    try {
      parsed = parseCheckpoint(note);
    } catch {
      // Shown as a failed check below.
    }
    const check = key instanceof Error ? null : await verifyCheckpoint(note, key);
    replace(checkpointBox,
      parsed ? h('dl.kv', null,
        h('dt', null, 'Origin'), h('dd.mono', null, parsed.origin),
        h('dt', null, 'Entries'), h('dd.checkpoint-size', null, String(parsed.size)),
        h('dt', null, 'Root'), h('dd.mono', null, bytesToBase64(parsed.root))) : null,
      h('pre.mono.checkpoint-note', null, note),
      check ? checkList([check]) : null);
    if (check) remember({ what: `checkpoint of ${parsed?.size ?? '?'} entries`, ok: check.ok, checks: [{ name: check.name, ok: check.ok, detail: check.detail }] });
  })();

  const index = query.get('index');
  if (index !== null && /^\d+$/.test(index)) replace(proofBox, proofPanel(Number(index)));
  if (!cryptoAvailable()) {
    proofBox.before(notice('This page is not a secure context (https or localhost): signatures and hashes cannot be checked here; use cairn verify-proof.', 'warn'));
  }

  return { unmount: () => document.removeEventListener('cairn:verified', onVerified) };
}
