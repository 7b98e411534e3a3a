// Unit tests for the masking methods (text format).
import { describe, expect, it } from 'vitest';
import { maskFunction, withJsonKeys } from './methods.ts';

const ctx = { hashKey: Buffer.from('test-key') };
const m = (method: string, params: Record<string, unknown> = {}) => maskFunction({ method: method as never, params }, ctx);

describe('masking methods', () => {
  it('redact replaces the value with a placeholder', () => {
    expect(m('redact')('Ada Lovelace')).toBe('[REDACTED]');
    expect(m('redact', { placeholder: '***' })('x')).toBe('***');
  });
  it('partial keeps the last / first N letters and digits, separators stay', () => {
    expect(m('partial', { keep_last: 4 })('123-45-6789')).toBe('***-**-6789');
    expect(m('partial', { keep_first: 2 })('5551234')).toBe('55*****');
    expect(m('partial', { keep_last: 2 })('(555) 123-4567')).toBe('(***) ***-**67');
    expect(m('partial', { keep_last: 10 })('12')).toBe('12');
  });
  it('format_preserving keeps the shape of SSN-like values', () => {
    expect(m('format_preserving')('123-45-6789')).toBe('XXX-XX-6789');
  });
  it('hash is keyed and deterministic', () => {
    const a = m('hash')('MRN-1');
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(m('hash')('MRN-1')).toBe(a);
    expect(m('hash')('MRN-2')).not.toBe(a);
    expect(maskFunction({ method: 'hash', params: {} }, { hashKey: Buffer.from('other') })('MRN-1')).not.toBe(a);
  });
  it('email keeps the domain', () => {
    expect(m('email')('ada@example.com')).toBe('***@example.com');
    expect(m('email')('not-an-email')).toBe('***');
  });
  it('year keeps a valid date of the same type', () => {
    expect(m('year')('1815-12-10')).toBe('1815-01-01');
    expect(m('year')('2026-01-05 10:11:12.5+00')).toBe('2026-01-01 00:00:00.0+00');
    expect(m('year')('garbage')).toBeNull();
  });
  it('null returns SQL NULL', () => {
    expect(m('null')('x')).toBeNull();
  });
});

describe('byte-level masks agree with the text masks', () => {
  const samples = ['123-45-6789', '(555) 123-4567', 'ada@example.org', 'x', '', 'Zoë Ünicode', 'josé@münchen.example', 'no-at-sign', 'a@b@c.example', '@lead', 'MRN-000123', `${'a'.repeat(300)}@${'d'.repeat(300)}`];
  it.each([
    ['redact', {}],
    ['redact', { placeholder: '•••' }],
    ['null', {}],
    ['partial', { keep_last: 4 }],
    ['partial', { keep_first: 2, mask_char: '#' }],
    ['partial', { keep_first: 3 }],
    ['partial', { keep_first: 1, keep_last: 2 }],
    ['partial', { keep_last: 0 }],
    ['format_preserving', {}],
    ['email', {}],
    ['hash', {}],
    ['hash', { length: 64 }],
  ] as [string, Record<string, unknown>][])('%s %j', (method, params) => {
    const fn = maskFunction({ method: method as never, params }, ctx);
    expect(typeof fn.bytes?.put).toBe('function'); // these methods have a byte path
    for (const v of samples) {
      const src = Buffer.concat([Buffer.from('pre'), Buffer.from(v, 'utf8'), Buffer.from('post')]);
      const s = 3;
      const e = 3 + Buffer.byteLength(v, 'utf8');
      const max = fn.bytes!.max(e - s);
      const out = Buffer.alloc(max + 8, 0xee);
      const n = fn.bytes!.put(src, s, e, out, 4);
      if (n === undefined) continue; // this value takes the text path
      const text = fn(v);
      if (n < 0) {
        expect(text).toBeNull();
        continue;
      }
      expect(n).toBeLessThanOrEqual(max);
      expect(out.subarray(4, 4 + n).toString('utf8')).toBe(text);
      expect(out.subarray(0, 4).equals(Buffer.alloc(4, 0xee))).toBe(true); // nothing written before o
      expect(out.subarray(4 + max).equals(Buffer.alloc(4, 0xee))).toBe(true); // nor past max
    }
  });

  it('hash takes the text path for bytes that are not ASCII (decoding would replace invalid UTF-8)', () => {
    const fn = m('hash');
    for (const v of [Buffer.from('José'), Buffer.from([0x41, 0xff, 0x42])]) expect(fn.bytes!.put(v, 0, v.length, Buffer.alloc(64), 0)).toBeUndefined();
  });
});

describe('mask functions carry what typed forms need', () => {
  it('the method, and a JSON key plan when one is attached', () => {
    const partial = m('partial', { keep_last: 4 });
    expect(partial.method).toBe('partial');
    const keyed = withJsonKeys(partial, new Map([['id', null]]));
    expect(keyed.method).toBe('partial');
    expect(keyed.bytes).toBe(partial.bytes);
    expect(keyed.jsonKeys?.has('id')).toBe(true);
    expect(keyed('123-45-6789')).toBe('***-**-6789');
  });
});
