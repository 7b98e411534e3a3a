// RFC 8785 (JSON Canonicalization Scheme) serialization and sha256: what the evidence format and the policy
// input's content addressing are built on, below both. Hand-rolled because it runs once per line on the write
// and verify hot paths.
import { hash } from 'node:crypto';
import canonicalize from 'canonicalize';

// ECMAScript's JSON.stringify already produces RFC 8785 output for strings (minimal escapes, \u00XX
// lower-case) and numbers (shortest round-trip form); what JCS adds is key order by UTF-16 code units,
// which is exactly what Array.prototype.sort() does on strings. The `canonicalize` package does the same
// but tracks a Set of visited objects per call; this is ~3x faster (measured in evidence-bench) and is
// checked against it in engine/evidence/format.test.ts.
function write(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('RFC 8785 has no representation for NaN or Infinity');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const v: unknown = value[i];
          if (i > 0) out += ',';
          out += v === undefined || typeof v === 'function' || typeof v === 'symbol' ? 'null' : write(v);
        }
        return out + ']';
      }
      const obj = value as Record<string, unknown>;
      if (typeof (obj as { toJSON?: unknown }).toJSON === 'function') return write((obj as { toJSON(): unknown }).toJSON());
      const keys = Object.keys(obj);
      if (keys.length === 0) return '{}';
      const shape = shapeOf(keys);
      const sorted = shape.sorted;
      const names = shape.names;
      let out = '{';
      let first = true;
      for (let i = 0; i < sorted.length; i++) {
        const v = obj[sorted[i]!];
        if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
        if (!first) out += ',';
        first = false;
        out += names[i]! + write(v);
      }
      return out + '}';
    }
    default:
      throw new TypeError(`RFC 8785 cannot serialize a ${typeof value}`);
  }
}

// Sorting each object's keys and escaping each name dominated the serializer (micro-benchmark, pgbench
// statement: appendToChain 6.7 → 4.4 µs with this memo, canonicalJson of its policy input 11.3 → 7.3 µs;
// native JSON.stringify of the same line is ~3 µs). Objects of one kind
// come with one key order, so the sorted order and the escaped `"name":` prefixes are kept per insertion
// order, found by the first key and compared name by name (property names are internalized strings, so
// each comparison is a pointer check). Bounded: past MAX_SHAPES new orders are sorted without being kept.
interface Shape {
  keys: string[];
  sorted: string[];
  names: string[];
}
const shapesByFirstKey = new Map<string, Shape[]>();
let shapeCount = 0;
const MAX_SHAPES = 1024;

function shapeOf(keys: string[]): Shape {
  const list = shapesByFirstKey.get(keys[0]!);
  if (list) {
    outer: for (const s of list) {
      const k = s.keys;
      if (k.length !== keys.length) continue;
      for (let i = 1; i < k.length; i++) if (k[i] !== keys[i]) continue outer;
      return s;
    }
  }
  const sorted = keys.slice().sort();
  const shape: Shape = { keys, sorted, names: sorted.map((k) => JSON.stringify(k) + ':') };
  if (shapeCount < MAX_SHAPES) {
    shapeCount++;
    if (list) list.push(shape);
    else shapesByFirstKey.set(keys[0]!, [shape]);
  }
  return shape;
}

// JSON.stringify escapes a lone surrogate as \udXXX where RFC 8785 rejects the string. Only when the
// fast output contains such an escape do we ask the reference implementation, which throws precisely.
const SURROGATE_ESCAPE = /\\ud[89a-f]/i;

/**
 * The RFC 8785 canonical JSON text of `value`. Throws a TypeError for values JCS cannot represent
 * (NaN, Infinity, lone surrogates, bigint).
 *
 * @example
 * canonicalJson({ b: 1, a: [true, 'x'] }) // '{"a":[true,"x"],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  const out = write(value);
  if (SURROGATE_ESCAPE.test(out)) {
    const ref = canonicalize(value); // throws on a lone surrogate
    if (ref === undefined) throw new TypeError('value has no JSON representation');
    return ref;
  }
  return out;
}

/**
 * The RFC 8785 form of one string (JSON.stringify's), or null when it holds a lone surrogate, which
 * RFC 8785 cannot represent (callers then take canonicalJson's exact path, which throws).
 *
 * @example
 * canonicalString('a"b') // '"a\\"b"'
 */
export function canonicalString(s: string): string | null {
  const out = JSON.stringify(s);
  return SURROGATE_ESCAPE.test(out) ? null : out;
}

/**
 * Lowercase hex sha256 of a string (as UTF-8) or bytes.
 *
 * @example
 * sha256Hex('') // 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
 */
export function sha256Hex(data: string | Uint8Array): string {
  // crypto.hash (one-shot) is ~2x faster than createHash().update().digest() for line-sized inputs.
  return hash('sha256', data, 'hex');
}

/** Matches a lowercase hex sha256. */
export const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Replaces lone UTF-16 surrogates in every string of a JSON-like value by U+FFFD, so text that came off
 * the wire malformed can still be recorded (RFC 8785 cannot represent lone surrogates).
 *
 * @example
 * wellFormed({ text: 'a\ud800b' }) // { text: 'a\ufffdb' }
 */
export function wellFormed<T>(value: T): T {
  if (typeof value === 'string') return value.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd') as T;
  if (Array.isArray(value)) return value.map((v: unknown) => wellFormed(v)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[wellFormed(k)] = wellFormed(v);
    return out as T;
  }
  return value;
}

function keysSorted(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (Array.isArray(value)) {
    for (const v of value) if (!keysSorted(v)) return false;
    return true;
  }
  let prev: string | null = null;
  for (const k in value as Record<string, unknown>) {
    if (prev !== null && !(prev < k)) return false;
    prev = k;
    if (!keysSorted((value as Record<string, unknown>)[k])) return false;
  }
  return true;
}

/**
 * Whether `text` is exactly the RFC 8785 canonical JSON of `parsed` (= JSON.parse(text)).
 *
 * @example
 * isCanonicalJson('{"a":1,"b":2}', { a: 1, b: 2 }) // true
 * isCanonicalJson('{"b":2,"a":1}', { b: 2, a: 1 }) // false
 */
export function isCanonicalJson(text: string, parsed: unknown): boolean {
  // Fast path, ~2.5x cheaper than re-serializing with sorted keys (the verifier's hottest step): if
  // JSON.stringify reproduces the text byte for byte, the text has no whitespace, minimal escapes and
  // shortest numbers, and its key order is the enumeration order — so it is canonical iff that order is
  // sorted. Anything else (integer-like keys, which JS enumerates first; escaped surrogates) takes the
  // exact path.
  if (!SURROGATE_ESCAPE.test(text) && JSON.stringify(parsed) === text && keysSorted(parsed)) return true;
  try {
    return canonicalJson(parsed) === text;
  } catch {
    return false;
  }
}
