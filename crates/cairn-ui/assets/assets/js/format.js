// Formatting of times, durations, counts and JSON values.
//
// Timestamps are unix nanoseconds. The API may send them as JSON numbers or as decimal strings;
// numbers above 2^53 have already lost precision in JSON.parse (about 0.25 µs today), so the UI
// keeps absolute times as BigInt and computes offsets inside a trace exactly, as Numbers.

/**
 * Unix nanoseconds from a JSON number or decimal string.
 * @returns {bigint|null} null when the value is missing or not a non-negative integer
 */
export function nanos(value) {
  if (typeof value === 'bigint') return value >= 0n ? value : null;
  if (typeof value === 'number') {
    return Number.isFinite(value) && value >= 0 ? BigInt(Math.round(value)) : null;
  }
  if (typeof value === 'string' && /^\d{1,30}$/.test(value.trim())) return BigInt(value.trim());
  return null;
}

/**
 * Unix nanoseconds split into whole seconds and nanoseconds, both exact Numbers, without BigInt
 * (this runs for every span of a run, where BigInt allocation dominated the build time).
 * Offsets `(sec - sec0) * 1e9 + (ns - ns0)` are exact for spans within 104 days of each other.
 * @returns {[number, number]|null} null when missing or not a non-negative integer
 */
export function splitNanos(value) {
  if (typeof value === 'string') {
    const len = value.length;
    if (len === 0 || len > 30) return null;
    for (let i = 0; i < len; i++) {
      const c = value.charCodeAt(i);
      if (c < 48 || c > 57) return null;
    }
    return len <= 9 ? [0, Number(value)] : [Number(value.slice(0, len - 9)), Number(value.slice(len - 9))];
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) return null;
    const sec = Math.floor(value / 1e9);
    return [sec, Math.min(999_999_999, Math.max(0, Math.round(value - sec * 1e9)))];
  }
  if (typeof value === 'bigint') {
    return value >= 0n ? [Number(value / 1_000_000_000n), Number(value % 1_000_000_000n)] : null;
  }
  return null;
}

/** A count from a JSON number or decimal string; `fallback` when absent or malformed. */
export function num(value, fallback = 0) {
  if (typeof value === 'number') return Number.isFinite(value) ? value : fallback;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : fallback;
  }
  return fallback;
}

/** A duration in nanoseconds as "1.24 s", "12.3 ms", "450 µs" or "800 ns". */
export function duration(ns) {
  const v = num(ns, NaN);
  if (!Number.isFinite(v)) return '—';
  const abs = Math.abs(v);
  if (abs >= 3_600e9) return `${(v / 3_600e9).toFixed(1)} h`;
  if (abs >= 60e9) return `${(v / 60e9).toFixed(1)} min`;
  if (abs >= 1e9) return `${trim(v / 1e9)} s`;
  if (abs >= 1e6) return `${trim(v / 1e6)} ms`;
  if (abs >= 1e3) return `${trim(v / 1e3)} µs`;
  return `${Math.round(v)} ns`;
}

function trim(x) {
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** Unix nanoseconds (BigInt) as local "YYYY-MM-DD HH:MM:SS.mmm". */
export function timestamp(ns) {
  if (ns === null || ns === undefined) return '—';
  const d = new Date(Number(ns / 1_000_000n));
  if (Number.isNaN(d.getTime())) return '—';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Unix nanoseconds (BigInt) relative to now: "12 s ago", "3 min ago", "2 d ago". */
export function ago(ns, nowMs = Date.now()) {
  if (ns === null || ns === undefined) return '';
  const s = Math.round((nowMs - Number(ns / 1_000_000n)) / 1000);
  if (s < 0) return 'in the future';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

const intFormat = new Intl.NumberFormat('en-US');

/** An integer with thousands separators. */
export function int(n) {
  const v = num(n, NaN);
  return Number.isFinite(v) ? intFormat.format(Math.round(v)) : '—';
}

/** A ratio 0..1 as a percentage. */
export function percent(ratio, digits = 0) {
  const v = num(ratio, NaN);
  return Number.isFinite(v) ? `${(v * 100).toFixed(digits)}%` : '—';
}

/** A cost in US dollars, with enough digits for sub-cent LLM calls. */
export function usd(amount) {
  const v = num(amount, NaN);
  if (!Number.isFinite(v)) return '—';
  if (v === 0) return '$0';
  return v < 0.01 ? `$${v.toPrecision(2)}` : `$${v.toFixed(v < 10 ? 4 : 2)}`;
}

/**
 * A content value (tool arguments, results, messages) parsed when it is a string holding JSON.
 * Senders use both encodings: a JSON string, or a structured attribute.
 */
export function contentValue(value) {
  if (typeof value === 'string') {
    const t = value.trimStart();
    if (t.startsWith('{') || t.startsWith('[')) {
      try {
        return JSON.parse(value);
      } catch {
        return value;
      }
    }
  }
  return value;
}

/** Pretty-printed content: JSON indented by two spaces, plain strings as they are. */
export function pretty(value) {
  const v = contentValue(value);
  if (typeof v === 'string') return v;
  if (v === undefined) return '';
  try {
    return JSON.stringify(v, null, 2);
  } catch {
    return String(v);
  }
}

/** Parses an input like "1h", "30m", "2d" or an RFC 3339 time to what the API accepts, or null. */
export function timeParam(text) {
  const t = (text ?? '').trim();
  if (!t) return null;
  if (/^\d+(ms|s|m|h|d|w)$/.test(t)) return t;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}
