// Offline checks of Cairn's audit artifacts, in the browser: C2SP signed notes (checkpoints),
// tlog-proof@v1 bundles and RFC 6962 / RFC 9162 Merkle inclusion proofs.
//
// Formats (see cairn-ledger):
//   checkpoint note   "<origin>\n<size>\n<base64 root>\n[ext\n...]\n— <name> <base64(keyid4 || sig64)>\n"
//   verifier key      "<name>+<8 hex key id>+<base64(0x01 || ed25519 public key)>"
//   key id            first 4 bytes of SHA-256(name || "\n" || 0x01 || public key)
//   proof bundle      "c2sp.org/tlog-proof@v1\n[extra <b64>\n]index <n>\n<b64 hash>\n...\n\n<note>"
//   leaf hash         SHA-256(0x00 || entry), node hash SHA-256(0x01 || left || right)
//
// WebCrypto (SHA-256, Ed25519) exists only in secure contexts (https, localhost); elsewhere the
// checks report "not checked" instead of failing.

const encoder = new TextEncoder();

/** Whether this page can compute hashes and check signatures. */
export function cryptoAvailable() {
  return Boolean(globalThis.crypto?.subtle);
}

export function base64ToBytes(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToBase64(bytes) {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

export const leafHash = (entry) => sha256(concat(Uint8Array.of(0), entry));
const nodeHash = (left, right) => sha256(concat(Uint8Array.of(1), left, right));

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A parse failure of a note, key or bundle. */
export class FormatError extends Error {}

/**
 * Splits a signed note into its text and signatures.
 * @returns {{text: string, origin: string, size: bigint, root: Uint8Array, extensions: string[],
 *   signatures: {name: string, keyId: Uint8Array, signature: Uint8Array}[]}}
 */
export function parseCheckpoint(note) {
  const split = note.indexOf('\n\n');
  if (split < 0) throw new FormatError('checkpoint has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw new FormatError('checkpoint body needs origin, size and root lines');
  const [origin, sizeLine, rootLine, ...extensions] = lines;
  if (!/^(0|[1-9]\d*)$/.test(sizeLine)) throw new FormatError('checkpoint size is not a decimal number');
  let root;
  try {
    root = base64ToBytes(rootLine);
  } catch {
    throw new FormatError('checkpoint root is not base64');
  }
  if (root.length !== 32) throw new FormatError('checkpoint root is not 32 bytes');
  const signatures = [];
  for (const line of note.slice(split + 2).split('\n')) {
    if (!line) continue;
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) throw new FormatError('malformed signature line');
    let raw;
    try {
      raw = base64ToBytes(m[2]);
    } catch {
      throw new FormatError('signature is not base64');
    }
    if (raw.length < 5) throw new FormatError('signature is too short');
    signatures.push({ name: m[1], keyId: raw.slice(0, 4), signature: raw.slice(4) });
  }
  return { text, origin, size: BigInt(sizeLine), root, extensions, signatures };
}

/** Parses a verifier key `<name>+<hex id>+<base64(0x01 || key)>`. */
export function parseVerifierKey(vkey) {
  // The base64 key may itself contain '+': split at the first two only.
  const text = vkey.trim();
  const first = text.indexOf('+');
  const second = first < 0 ? -1 : text.indexOf('+', first + 1);
  if (first <= 0 || second < 0) throw new FormatError('verifier key must be name+id+key');
  const name = text.slice(0, first);
  const idHex = text.slice(first + 1, second);
  const keyB64 = text.slice(second + 1);
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new FormatError('verifier key id must be 8 hex digits');
  let raw;
  try {
    raw = base64ToBytes(keyB64);
  } catch {
    throw new FormatError('verifier key is not base64');
  }
  if (raw.length !== 33 || raw[0] !== 1) throw new FormatError('verifier key is not an Ed25519 key');
  const keyId = Uint8Array.from(idHex.match(/../g), (x) => parseInt(x, 16));
  return { name, keyId, publicKey: raw.slice(1), text };
}

/** Parses a tlog-proof@v1 bundle. */
export function parseBundle(text) {
  const header = 'c2sp.org/tlog-proof@v1\n';
  if (!text.startsWith(header)) throw new FormatError('not a c2sp.org/tlog-proof@v1 bundle');
  const split = text.indexOf('\n\n', header.length - 1);
  if (split < 0) throw new FormatError('bundle has no blank line before its checkpoint');
  const lines = text.slice(header.length, split).split('\n');
  let i = 0;
  let extra = null;
  if (lines[i]?.startsWith('extra ')) extra = lines[i++].slice(6);
  const m = /^index (0|[1-9]\d*)$/.exec(lines[i++] ?? '');
  if (!m) throw new FormatError('bundle has no index line');
  const proof = lines.slice(i).map((line) => {
    let h;
    try {
      h = base64ToBytes(line);
    } catch {
      throw new FormatError('proof hash is not base64');
    }
    if (h.length !== 32) throw new FormatError('proof hash is not 32 bytes');
    return h;
  });
  const checkpoint = text.slice(split + 2);
  return { index: BigInt(m[1]), proof, extra, checkpoint, text };
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or null when the proof is malformed. */
export async function rootFromInclusion(index, size, leaf, proof) {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) return null;
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n ? r : null;
}

/** Checks a checkpoint's Ed25519 signature by `vkey`. Resolves to a check result. */
export async function verifyCheckpoint(note, vkey) {
  if (!cryptoAvailable()) return notChecked('signature', 'WebCrypto needs a secure context (https or localhost)');
  let cp;
  let key;
  try {
    cp = parseCheckpoint(note);
    key = parseVerifierKey(vkey);
  } catch (err) {
    return fail('signature', err.message);
  }
  const expectedId = (await sha256(concat(encoder.encode(`${key.name}\n`), Uint8Array.of(1), key.publicKey))).slice(0, 4);
  if (!equalBytes(expectedId, key.keyId)) return fail('signature', 'verifier key id does not match its key');
  const sig = cp.signatures.find((s) => s.name === key.name && equalBytes(s.keyId, key.keyId));
  if (!sig) return fail('signature', `no signature by ${key.name}+${bytesToHex(key.keyId)}`);
  let ok;
  try {
    const pub = await crypto.subtle.importKey('raw', key.publicKey, { name: 'Ed25519' }, false, ['verify']);
    ok = await crypto.subtle.verify({ name: 'Ed25519' }, pub, sig.signature, encoder.encode(cp.text));
  } catch (err) {
    return notChecked('signature', `this browser cannot check Ed25519 signatures (${err?.message ?? err})`);
  }
  return ok
    ? pass('signature', `signed by ${key.name}+${bytesToHex(key.keyId)}`, { checkpoint: cp })
    : fail('signature', `signature by ${key.name} does not verify`);
}

/**
 * Checks a proof bundle: the checkpoint signature and, with the entry bytes, that the entry's
 * leaf hash and the inclusion path lead to the signed root.
 * @returns {Promise<{ok: boolean|null, checks: object[], bundle: object|null, checkpoint: object|null}>}
 *   ok is null when something could not be checked in this browser
 */
export async function verifyBundle(text, vkey, entry) {
  const checks = [];
  let bundle;
  let cp;
  try {
    bundle = parseBundle(text);
    cp = parseCheckpoint(bundle.checkpoint);
    checks.push(pass('format', `tlog-proof@v1, index ${bundle.index}, tree size ${cp.size}, ${bundle.proof.length} path hashes`));
  } catch (err) {
    checks.push(fail('format', err.message));
    return { ok: false, checks, bundle: null, checkpoint: null };
  }
  checks.push(await verifyCheckpoint(bundle.checkpoint, vkey));
  if (!cryptoAvailable()) {
    checks.push(notChecked('inclusion', 'WebCrypto needs a secure context (https or localhost)'));
  } else if (!entry) {
    checks.push(notChecked('inclusion', 'entry bytes unavailable'));
  } else {
    const leaf = await leafHash(entry);
    const root = await rootFromInclusion(bundle.index, cp.size, leaf, bundle.proof);
    if (root === null) checks.push(fail('inclusion', 'the path does not fit the tree size'));
    else if (equalBytes(root, cp.root)) checks.push(pass('inclusion', `entry ${bundle.index} (leaf ${bytesToHex(leaf).slice(0, 16)}…) leads to the signed root`));
    else checks.push(fail('inclusion', 'the path leads to a different root than the checkpoint'));
  }
  const ok = checks.some((c) => c.ok === false) ? false : checks.every((c) => c.ok === true) ? true : null;
  return { ok, checks, bundle, checkpoint: cp };
}

function pass(name, detail, extra = {}) {
  return { name, ok: true, detail, ...extra };
}
function fail(name, detail) {
  return { name, ok: false, detail };
}
function notChecked(name, detail) {
  return { name, ok: null, detail };
}
