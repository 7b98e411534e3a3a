// Masking methods as pure functions over one value in PostgreSQL text format; null means SQL NULL.
// The method and its params come from the policy decision (docs/decision-contract.md).
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { Mask, MaskMethod } from '../decision/decision.ts';

export interface MaskContext {
  /** Key for `hash`: HMAC-SHA256, deterministic per key so joins and counts still work. */
  hashKey: Buffer;
}

/**
 * Masks one value given as text; null means SQL NULL. May carry a byte-level form for the hot path, the
 * method it implements (so values of other types get a form valid for their type: engine/masking/types.ts)
 * and, for JSON columns, which object keys trace to columns.
 */
export type MaskFn = ((value: string) => string | null) & { bytes?: ByteMask; method?: MaskMethod; jsonKeys?: JsonKeys };

/**
 * Object keys of a JSON column that are known to be column names (row_to_json / to_jsonb of a row,
 * json_build_object with literal keys), each with the mask of the column it carries, or null when that
 * column is not masked. Keys listed are shown; a value under a null key is passed as is, so a key may map to
 * null only if no value under it anywhere in the column derives from a masked source. Keys not listed are
 * masked like values (they may be data: json_object_agg(ssn, …)).
 */
export type JsonKeys = ReadonlyMap<string, MaskFn | null>;

/**
 * The same mask on the value's UTF-8 bytes, without decoding it: what the gateway uses per row, because a
 * string round trip per value made masked streaming several times slower than unmasked (bench:masking).
 * One call per value writes it: an earlier size()-then-write() pair scanned each value twice and cost a
 * second call (~8–10 ns of each SSN and email value, bench:masking-rows).
 */
export interface ByteMask {
  /** At most how many bytes the masked form of a value of `len` bytes takes. */
  max(len: number): number;
  /**
   * Writes the masked form of src[s, e) at out[o], where max(e - s) bytes are free; returns its length, -1 for
   * NULL, or undefined when this value needs the text path (out[o, o + max) may then hold anything).
   */
  put(src: Uint8Array, s: number, e: number, out: Uint8Array, o: number): number | undefined;
}

function withBytes(fn: (value: string) => string | null, bytes: ByteMask): MaskFn {
  return Object.assign(fn, { bytes });
}

/**
 * The same mask with a JSON key plan attached (see JsonKeys), for a JSON result column whose keys trace to
 * columns.
 *
 * @example
 * withJsonKeys(maskFunction({ method: 'redact', params: {} }, ctx), new Map([['id', null], ['ssn', ssnMask]]))
 */
export function withJsonKeys(mask: MaskFn, keys: JsonKeys): MaskFn {
  return Object.assign((v: string) => mask(v), { ...(mask.bytes ? { bytes: mask.bytes } : {}), ...(mask.method ? { method: mask.method } : {}), jsonKeys: keys });
}

/** 1 for the ASCII letters and digits: one load per byte instead of three range tests. */
const ALNUM_BYTE = new Uint8Array(256);
for (let c = 0; c < 128; c++) ALNUM_BYTE[c] = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ? 1 : 0;

/**
 * partial / format_preserving on ASCII bytes: same length, letters and digits outside the kept ones replaced.
 * With only a tail kept (keep_last, format_preserving: the usual SSN and phone masks) one backward pass decides
 * each byte, with only a head kept one forward pass; keeping both needs the count of letters and digits first.
 * On an SSN ~79 → ~36 ns a value with the one-call ByteMask (bench:masking-rows, Node 20).
 */
function partialBytes(keepFirst: number, keepLast: number, maskChar: string): ByteMask {
  const m = maskChar.charCodeAt(0);
  return {
    max: (len) => len,
    put(src, s, e, out, o) {
      if (m > 0x7f) return undefined; // a multi-byte mask character: the string path
      const len = e - s;
      if (keepFirst === 0) {
        // Kept: the last keepLast letters and digits, found walking back.
        let fromEnd = 0;
        for (let i = e - 1, j = o + len - 1; i >= s; i--, j--) {
          const c = src[i]!;
          if (c > 0x7f) return undefined; // multi-byte text: the string path
          out[j] = ALNUM_BYTE[c] === 0 || ++fromEnd <= keepLast ? c : m;
        }
        return len;
      }
      let lastFrom = Infinity; // keep_last 0: no letter or digit is kept for being among the last
      if (keepLast > 0) {
        let alnum = 0;
        for (let i = s; i < e; i++) alnum += ALNUM_BYTE[src[i]!]!;
        lastFrom = Math.max(keepFirst, alnum - keepLast);
      }
      let seen = 0;
      for (let i = s, j = o; i < e; i++, j++) {
        const c = src[i]!;
        if (c > 0x7f) return undefined;
        if (ALNUM_BYTE[c] === 0) out[j] = c;
        else {
          out[j] = seen < keepFirst || seen >= lastFrom ? c : m;
          seen++;
        }
      }
      return len;
    },
  };
}

/**
 * hash on ASCII bytes (the same bytes the text path's UTF-8 string encodes to): HMAC-SHA256, the first `length`
 * hex digits. Other values take the text path, where decoding replaces invalid UTF-8 before hashing.
 */
function hashBytes(key: KeyObject, length: number): ByteMask {
  return {
    max: () => length,
    put(src, s, e, out, o) {
      for (let i = s; i < e; i++) if (src[i]! > 0x7f) return undefined;
      // digest('hex'): digest() as a Buffer costs ~1.5 µs more in Node 20.
      const hex = createHmac('sha256', key).update(src.subarray(s, e)).digest('hex');
      for (let j = 0; j < length; j++) out[o + j] = hex.charCodeAt(j);
      return length;
    },
  };
}

/**
 * email on bytes: '***' and the domain from the last '@', whose bytes copy as is ('@' is one byte in UTF-8 and
 * never inside a multi-byte sequence). Short values are scanned and copied in loops: Buffer#lastIndexOf and
 * Buffer#copy cost ~50 ns a call each in Node 20, more than the loop over a typical address: ~98 → ~42 ns a
 * value with the one-call ByteMask (bench:masking-rows).
 */
const EMAIL_BYTES: ByteMask = {
  max: (len) => len + 3,
  put(src, s, e, out, o) {
    out[o] = out[o + 1] = out[o + 2] = 0x2a; // '***'
    const at = lastAt(src, s, e);
    if (at <= s) return 3;
    if (e - at < 64) for (let i = at, j = o + 3; i < e; i++, j++) out[j] = src[i]!;
    else out.set(src.subarray(at, e), o + 3);
    return 3 + (e - at);
  },
};

/** The offset of the last '@' in src[s, e), or -1. */
function lastAt(src: Uint8Array, s: number, e: number): number {
  if (e - s > 256) {
    const at = (src as Buffer).lastIndexOf(0x40, e - 1);
    return at >= s ? at : -1;
  }
  for (let i = e - 1; i >= s; i--) if (src[i] === 0x40) return i;
  return -1;
}

const ALNUM = /[\p{L}\p{N}]/u;

/** Keeps `keepFirst`/`keepLast` letters and digits, replaces the others with `mask`; separators stay. */
function partial(value: string, keepFirst: number, keepLast: number, mask: string): string {
  // Fast path for ASCII (SSNs, phone numbers, ids): char codes, no regex, no arrays (bench:masking).
  let ascii = true;
  let alnum = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c > 0x7f) {
      ascii = false;
      break;
    }
    if (isAsciiAlnum(c)) alnum++;
  }
  if (ascii) {
    let out = '';
    let seen = 0;
    const lastFrom = Math.max(keepFirst, alnum - keepLast);
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (!isAsciiAlnum(c)) {
        out += value[i];
        continue;
      }
      out += seen < keepFirst || seen >= lastFrom ? value[i] : mask;
      seen++;
    }
    return out;
  }
  const chars = [...value];
  const positions = chars.flatMap((c, i) => (ALNUM.test(c) ? [i] : []));
  const keep = new Set([...positions.slice(0, keepFirst), ...positions.slice(Math.max(keepFirst, positions.length - keepLast))]);
  return chars.map((c, i) => (ALNUM.test(c) && !keep.has(i) ? mask : c)).join('');
}

function isAsciiAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

const int = (v: unknown, d: number): number => (Number.isInteger(v) && (v as number) >= 0 ? (v as number) : d);

/**
 * Compiles a mask decision into a function applied to every value of the column.
 *
 * @example
 * maskFunction({ method: 'partial', params: { keep_last: 4 } } as Mask, ctx)('123-45-6789') // '***-**-6789'
 */
export function maskFunction(mask: Pick<Mask, 'method' | 'params'>, ctx: MaskContext): MaskFn {
  return Object.assign(methodFunction(mask, ctx), { method: mask.method });
}

function methodFunction(mask: Pick<Mask, 'method' | 'params'>, ctx: MaskContext): MaskFn {
  const p = mask.params;
  const method: MaskMethod = mask.method;
  switch (method) {
    case 'redact': {
      const placeholder = typeof p.placeholder === 'string' ? p.placeholder : '[REDACTED]';
      const bytes = Buffer.from(placeholder, 'utf8');
      const n = bytes.length;
      const put: ByteMask['put'] = (_src, _s, _e, out, o) => (out.set(bytes, o), n);
      return withBytes(() => placeholder, { max: () => n, put });
    }
    case 'null':
      return withBytes(() => null, { max: () => 0, put: () => -1 });
    case 'partial': {
      const first = int(p.keep_first, 0);
      const last = int(p.keep_last, p.keep_first === undefined ? 4 : 0);
      const m = typeof p.mask_char === 'string' && p.mask_char.length === 1 ? p.mask_char : '*';
      return withBytes((v) => partial(v, first, last, m), partialBytes(first, last, m));
    }
    case 'format_preserving': {
      // SSN-like values keep their shape and last four digits: 123-45-6789 → XXX-XX-6789.
      const last = int(p.keep_last, 4);
      return withBytes((v) => partial(v, 0, last, 'X'), partialBytes(0, last, 'X'));
    }
    case 'hash': {
      const length = Math.min(64, Math.max(8, int(p.length, 16)));
      // The key imported once per mask, not per value, and ASCII values hashed from their bytes with the hex
      // written in place (no string round trip): within noise of the text path per value (~1.7 µs, bench:masking-rows),
      // since creating the Hmac costs ~1.3 µs of it, but no strings or buffers are made per value in the row writer.
      const key = createSecretKey(ctx.hashKey);
      return withBytes((v) => createHmac('sha256', key).update(v).digest('hex').slice(0, length), hashBytes(key, length));
    }
    case 'email':
      return withBytes(
        (v) => {
          const at = v.lastIndexOf('@');
          return at > 0 ? `***${v.slice(at)}` : '***';
        },
        EMAIL_BYTES,
      );
    case 'year':
      // Dates keep only their year (as a valid date of the same type), timestamps likewise.
      return (v) => {
        const m = /^(\d{4,})-\d{2}-\d{2}(.*)$/.exec(v);
        if (!m) return null;
        const rest = m[2] ? m[2].replace(/\d/g, '0') : '';
        return `${m[1]}-01-01${rest}`;
      };
    default: {
      const never: never = method;
      throw new Error(`unknown masking method ${String(never)}`);
    }
  }
}
