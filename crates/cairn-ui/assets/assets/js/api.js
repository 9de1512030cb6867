// The query API client. Same-origin relative URLs: the UI is served by the API server.
//
// Errors come back as {"error":{"code","message"}}; they are thrown as ApiError with the HTTP
// status, so pages can tell "not found" from "server trouble".

export const API = '/api/v1';

/** An API request that failed: HTTP status (0 for a network failure), error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Builds `path?query` from an object, leaving out empty values (the API rejects unknown keys). */
export function url(path, params = {}) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === '') continue;
    q.set(key, String(value));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** Where the API key (when the server requires one) is kept: this tab only, never on disk. */
const KEY_STORAGE = 'cairn.apiKey';

function storedKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

/** Asks for an API key (read scope) after a 401; returns it, or null when the user cancels. */
function askForKey(message) {
  const key = window.prompt(`${message}\nEnter a Cairn API key (read scope):`, '');
  if (!key) return null;
  try {
    sessionStorage.setItem(KEY_STORAGE, key.trim());
  } catch {
    // Storage disabled: the key is used for this request only.
  }
  return key.trim();
}

async function send(target, signal, accept, key) {
  const headers = { accept };
  if (key) headers.authorization = `Bearer ${key}`;
  try {
    return await fetch(target, { signal, headers });
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    throw new ApiError(0, 'network', `cannot reach the server: ${err?.message ?? err}`);
  }
}

async function request(path, params, { signal, accept }) {
  const target = url(`${API}${path}`, params);
  const sent = storedKey();
  let response = await send(target, signal, accept, sent);
  if (response.status === 401) {
    // Another request may have asked already while this one was in flight.
    let key = storedKey();
    if (!key || key === sent) {
      key = askForKey(sent ? 'The saved API key was refused.' : 'This server requires an API key.');
    }
    if (key) response = await send(target, signal, accept, key);
  }
  if (response.ok) return response;
  let code = `http_${response.status}`;
  let message = `${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    if (body?.error) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
    }
  } catch {
    // Not a JSON error body (e.g. a proxy's HTML page): keep the status line.
  }
  throw new ApiError(response.status, code, message);
}

/** GET a JSON resource under /api/v1. */
export async function getJson(path, params = {}, options = {}) {
  const response = await request(path, params, { ...options, accept: 'application/json' });
  return response.json();
}

/**
 * GET a JSON resource and time it: `networkMs` until the whole body arrived (server time
 * included), `parseMs` for JSON.parse. Used by the run view, whose render time is benchmarked.
 */
export async function getJsonTimed(path, params = {}, options = {}) {
  const t0 = performance.now();
  const response = await request(path, params, { ...options, accept: 'application/json' });
  const text = await response.text();
  const t1 = performance.now();
  const value = JSON.parse(text);
  return { value, networkMs: t1 - t0, parseMs: performance.now() - t1 };
}

/** GET a text resource under /api/v1 (checkpoints, keys, proof bundles). */
export async function getText(path, params = {}, options = {}) {
  const response = await request(path, params, { ...options, accept: 'text/plain' });
  return response.text();
}

/** GET raw bytes under /api/v1 (ledger entries). */
export async function getBytes(path, params = {}, options = {}) {
  const response = await request(path, params, { ...options, accept: 'application/octet-stream' });
  return new Uint8Array(await response.arrayBuffer());
}

/** GET a resource under /api/v1 as a Blob (downloads that must carry the API key). */
export async function getBlob(path, params = {}, { accept = 'application/json', ...options } = {}) {
  const response = await request(path, params, { ...options, accept });
  return response.blob();
}

let pricesPromise = null;

/**
 * The server's model price table (`models` of GET /api/v1/prices), fetched once per page load;
 * null when the server has none or the request fails (costs are then shown only from cost
 * attributes).
 */
export function prices() {
  pricesPromise ??= getJson('/prices').then((p) => (p && typeof p.models === 'object' ? p.models : null)).catch(() => null);
  return pricesPromise;
}

/** Runs `task(item)` for every item with at most `limit` in flight; results in input order. */
export async function mapLimit(items, limit, task) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
