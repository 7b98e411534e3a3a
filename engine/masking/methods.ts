// Masking methods as pure functions over one value in PostgreSQL text format; null means SQL NULL.
// The method and its params come from the policy decision (docs/decision-contract.md).
import { createHmac } from 'node:crypto';
import type { Mask, MaskMethod } from '../decision/decision.ts';

export interface MaskContext {
  /** Key for `hash`: HMAC-SHA256, deterministic per key so joins and counts still work. */
  hashKey: Buffer;
}

export type MaskFn = (value: string) => string | null;

const ALNUM = /[\p{L}\p{N}]/u;

/** Keeps `keepFirst`/`keepLast` letters and digits, replaces the others with `mask`; separators stay. */
function partial(value: string, keepFirst: number, keepLast: number, mask: string): string {
  const chars = [...value];
  const positions = chars.flatMap((c, i) => (ALNUM.test(c) ? [i] : []));
  const keep = new Set([...positions.slice(0, keepFirst), ...positions.slice(Math.max(keepFirst, positions.length - keepLast))]);
  return chars.map((c, i) => (ALNUM.test(c) && !keep.has(i) ? mask : c)).join('');
}

const int = (v: unknown, d: number): number => (Number.isInteger(v) && (v as number) >= 0 ? (v as number) : d);

/**
 * Compiles a mask decision into a function applied to every value of the column.
 *
 * @example
 * maskFunction({ method: 'partial', params: { keep_last: 4 } } as Mask, ctx)('123-45-6789') // '***-**-6789'
 */
export function maskFunction(mask: Pick<Mask, 'method' | 'params'>, ctx: MaskContext): MaskFn {
  const p = mask.params;
  const method: MaskMethod = mask.method;
  switch (method) {
    case 'redact': {
      const placeholder = typeof p.placeholder === 'string' ? p.placeholder : '[REDACTED]';
      return () => placeholder;
    }
    case 'null':
      return () => null;
    case 'partial': {
      const first = int(p.keep_first, 0);
      const last = int(p.keep_last, p.keep_first === undefined ? 4 : 0);
      const m = typeof p.mask_char === 'string' && p.mask_char.length === 1 ? p.mask_char : '*';
      return (v) => partial(v, first, last, m);
    }
    case 'format_preserving':
      // SSN-like values keep their shape and last four digits: 123-45-6789 → XXX-XX-6789.
      return (v) => partial(v, 0, int(p.keep_last, 4), 'X');
    case 'hash': {
      const length = Math.min(64, Math.max(8, int(p.length, 16)));
      return (v) => createHmac('sha256', ctx.hashKey).update(v).digest('hex').slice(0, length);
    }
    case 'email':
      return (v) => {
        const at = v.lastIndexOf('@');
        return at > 0 ? `***${v.slice(at)}` : '***';
      };
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
