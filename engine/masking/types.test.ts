// Unit tests for type-valid masked forms: text forms parse with node-postgres's own type parsers, binary
// forms have the layout PostgreSQL's send functions produce, and no raw value survives in JSON or arrays.
import pgTypes from 'pg-types';
import { describe, expect, it } from 'vitest';
import { maskFunction, withJsonKeys, type MaskFn } from './methods.ts';
import { FIXED_FORMS, Oid, maskArrayText, maskJson, maskedBinary, maskedText, typedForm } from './types.ts';

const ctx = { hashKey: Buffer.from('test-key') };
const m = (method: string, params: Record<string, unknown> = {}) => maskFunction({ method: method as never, params }, ctx);
const redact = m('redact');
const partial = m('partial', { keep_last: 4 });
const year = m('year');
const parseText = (oid: number, v: string) => pgTypes.getTypeParser(oid, 'text')(v);

describe('fixed forms by type', () => {
  it('every text form parses with node-postgres and every method but null and year uses it', () => {
    for (const [oid, form] of FIXED_FORMS) {
      expect(() => parseText(oid, form.text), `oid ${oid}`).not.toThrow();
      for (const mask of [redact, partial, m('hash'), m('email')]) expect(maskedText(mask, oid, 'anything')).toBe(form.text);
      expect(maskedText(m('null'), oid, 'x')).toBeNull();
    }
    expect(parseText(Oid.uuid, maskedText(redact, Oid.uuid, '6f1c0e55-1111-4222-8333-444455556666')!)).toBe('00000000-0000-0000-0000-000000000000');
    expect(parseText(Oid.int4, maskedText(redact, Oid.int4, '987654321')!)).toBe(0);
    expect(parseText(Oid.bool, maskedText(redact, Oid.bool, 't')!)).toBe(false);
  });

  it('binary forms have the send functions\' layout', () => {
    const bin = (oid: number, v: Buffer = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8])) => Buffer.from(maskedBinary(redact, oid, v, 0, v.length)!);
    expect(bin(Oid.int4)).toEqual(Buffer.alloc(4));
    expect(bin(Oid.int8)).toEqual(Buffer.alloc(8));
    expect(bin(Oid.uuid)).toEqual(Buffer.alloc(16));
    expect(bin(Oid.numeric)).toEqual(Buffer.alloc(8));
    expect(bin(Oid.date).readInt32BE(0)).toBe(-10957); // 1970-01-01
    expect(bin(Oid.inet)).toEqual(Buffer.from([2, 32, 0, 4, 0, 0, 0, 0]));
    expect(bin(Oid.int4range)).toEqual(Buffer.from([1])); // empty
    expect(maskedBinary(redact, 123456, Buffer.from('x'), 0, 1)).toBeNull(); // unknown type: NULL
  });

  it('text-like types take the method\'s own form, in both formats', () => {
    expect(maskedText(partial, Oid.varchar, '123-45-6789')).toBe('***-**-6789');
    const src = Buffer.from('123-45-6789');
    expect(Buffer.from(maskedBinary(partial, Oid.text, src, 0, src.length)!).toString()).toBe('***-**-6789');
    expect(typedForm(partial, Oid.text, 0)).toBeNull(); // the byte path applies
    expect(typedForm(partial, 0, 0)).toBeNull(); // unknown type, text format: the method's text (as before)
    expect(typedForm(partial, 0, 1)!(src, 0, src.length)).toBeNull(); // unknown type, binary: NULL
  });

  it('bit strings keep their length', () => {
    expect(maskedText(redact, Oid.bit, '10110')).toBe('00000');
    const b = Buffer.from([0, 0, 0, 5, 0b10110000]);
    expect(Buffer.from(maskedBinary(redact, Oid.varbit, b, 0, b.length)!)).toEqual(Buffer.from([0, 0, 0, 5, 0]));
  });

  it('anonymous records keep their field count', () => {
    expect(maskedText(redact, Oid.record, '(1,"Ada Lovelace",123-45-6789)')).toBe('(,,)');
    expect(maskedText(redact, Oid.record, '("a,b",x)')).toBe('(,)');
    // record_send: nfields, then per field its type OID, length, bytes
    const rec = Buffer.concat([i32(2), i32(Oid.int4), i32(4), i32(42), i32(Oid.text), i32(3), Buffer.from('Ada')]);
    const out = Buffer.from(maskedBinary(redact, Oid.record, rec, 0, rec.length)!);
    expect(out).toEqual(Buffer.concat([i32(2), i32(Oid.int4), i32(4), i32(0), i32(Oid.text), i32(10), Buffer.from('[REDACTED]')]));
  });
});

describe('year keeps a valid value of the same type', () => {
  it('text', () => {
    expect(parseText(Oid.date, maskedText(year, Oid.date, '1815-12-10')!)).toEqual(parseText(Oid.date, '1815-01-01'));
    expect(maskedText(year, Oid.timestamptz, '2026-03-05 10:11:12+00')).toBe('2026-01-01 00:00:00+00');
    expect(maskedText(year, Oid.date, 'infinity')).toBe('infinity');
    expect(maskedText(year, Oid.date, '10/12/1815')).toBe('1970-01-01'); // not ISO: the fixed form
    expect(maskedText(year, Oid.int4, '1815')).toBe('0');
  });
  it('binary date and timestamps', () => {
    const days = Math.round((Date.UTC(1815, 11, 10) - Date.UTC(2000, 0, 1)) / 86400000);
    const d = i32(days);
    expect(Buffer.from(maskedBinary(year, Oid.date, d, 0, 4)!).readInt32BE(0)).toBe(Math.round((Date.UTC(1815, 0, 1) - Date.UTC(2000, 0, 1)) / 86400000));
    for (const [at, want] of [
      [Date.UTC(2026, 2, 5, 10, 11, 12, 500), Date.UTC(2026, 0, 1)],
      [Date.UTC(1906, 11, 9, 23, 59, 59, 999), Date.UTC(1906, 0, 1)],
      [Date.UTC(2000, 0, 1), Date.UTC(2000, 0, 1)],
    ]) {
      const us = Buffer.alloc(8);
      us.writeBigInt64BE(BigInt(at! - Date.UTC(2000, 0, 1)) * 1000n + 123n);
      const out = Buffer.from(maskedBinary(year, Oid.timestamptz, us, 0, 8)!);
      expect(Number(out.readBigInt64BE(0) / 1000n) + Date.UTC(2000, 0, 1)).toBe(want);
    }
  });
});

describe('JSON stays valid JSON, values masked', () => {
  const raw = '{"id": 1, "name": "Ada Lovelace", "ssn": "123-45-6789", "ok": true, "tags": ["asthma", null, 3.5e2], "nested": {"dob": "1815-12-10"}}';
  it('without a key plan every key and leaf is masked', () => {
    const out = maskJson(redact, raw);
    expect(() => JSON.parse(out)).not.toThrow();
    expect(out).toBe('{"[REDACTED]":0,"[REDACTED]":"[REDACTED]","[REDACTED]":"[REDACTED]","[REDACTED]":false,"[REDACTED]":["[REDACTED]",null,0],"[REDACTED]":{"[REDACTED]":"[REDACTED]"}}');
    expect(JSON.parse(maskJson(partial, raw)).tags).toEqual(['**thma', null, 0]);
  });
  it('with a key plan, keys that are column names stay and each value takes its column\'s mask', () => {
    const keys = new Map<string, MaskFn | null>([['id', null], ['name', redact], ['ssn', partial], ['ok', null], ['tags', redact], ['nested', null]]);
    const out = JSON.parse(maskJson(withJsonKeys(redact, keys), `[${raw},${raw}]`));
    expect(out[1]).toEqual({ id: 1, name: '[REDACTED]', ssn: '***-**-6789', ok: true, tags: ['[REDACTED]', null, 0], nested: { dob: '1815-12-10' } });
    // a key not in the plan is masked with the column's mask, and so is everything under it
    expect(JSON.parse(maskJson(withJsonKeys(redact, keys), '{"123-45-6789": {"id": 7}}'))).toEqual({ '[REDACTED]': { '[REDACTED]': 0 } });
  });
  it('keeps big numbers and odd keys exact where the plan passes them, and never fails open', () => {
    const keys = new Map<string, MaskFn | null>([['n', null], ['__proto__', redact]]);
    expect(maskJson(withJsonKeys(redact, keys), '{"n": 123456789012345678901234567890, "__proto__": "x"}')).toBe('{"n":123456789012345678901234567890,"__proto__":"[REDACTED]"}');
    expect(maskJson(redact, '{"a": tru')).toBe('null');
    expect(maskJson(redact, '"\\u0041da \\"L\\""')).toBe('"[REDACTED]"');
    expect(maskJson(year, '["1815-12-10", "x"]')).toBe('["1815-01-01",null]');
  });
  it('jsonb binary keeps its version byte', () => {
    const b = Buffer.from('\x01{"social": "123-45-6789"}');
    expect(Buffer.from(maskedBinary(partial, Oid.jsonb, b, 0, b.length)!).toString()).toBe('\x01{"**cial":"***-**-6789"}');
  });
});

describe('arrays stay valid array literals, each element masked', () => {
  const parseArray = (oid: number, v: string) => parseText(oid, v) as unknown[];
  it('text arrays', () => {
    expect(maskArrayText(partial, Oid.text, '{123-45-6789,"234-56-7890",NULL,"ab \\"qu\\" bc"}')).toBe('{***-**-6789,***-**-7890,NULL,"** \\"qu\\" bc"}');
    expect(parseArray(1009, maskedText(redact, 1009, '{"Ada Lovelace","Alan Turing"}')!)).toEqual(['[REDACTED]', '[REDACTED]']);
    expect(maskedText(redact, 1009, '{{a,b},{c,NULL}}')).toBe('{{[REDACTED],[REDACTED]},{[REDACTED],NULL}}');
    expect(maskedText(redact, 1009, '[0:1]={a,b}')).toBe('[0:1]={[REDACTED],[REDACTED]}');
    expect(maskedText(redact, 1009, '{""}')).toBe('{[REDACTED]}');
    expect(maskedText(m('redact', { placeholder: '' }), 1009, '{x}')).toBe('{""}');
  });
  it('typed arrays', () => {
    expect(parseArray(1007, maskedText(redact, 1007, '{1,2,NULL}')!)).toEqual([0, 0, null]);
    expect(parseArray(1182, maskedText(year, 1182, '{1815-12-10,1912-06-23}')!).map((d) => (d as Date).getFullYear())).toEqual([1815, 1912]);
    expect(maskedText(redact, 1115, '{"2026-01-05 10:00:00"}')).toBe('{"1970-01-01 00:00:00"}');
    expect(maskedText(redact, 1020, '{(1,1),(0,0);(2,2),(1,1)}')).toBe('{(0,0),(0,0);(0,0),(0,0)}');
    expect(maskedText(redact, 3807, '{"{\\"ssn\\": \\"123-45-6789\\"}"}')).toBe('{"{\\"[REDACTED]\\":\\"[REDACTED]\\"}"}');
    expect(maskedText(redact, 2287, '{"(1,x)"}')).toBe('{"(,)"}');
  });
  it('binary arrays: header kept, elements masked for the element type the header names', () => {
    const arr = (elem: number, els: (Buffer | null)[]) =>
      Buffer.concat([i32(1), i32(els.includes(null) ? 1 : 0), i32(elem), i32(els.length), i32(1), ...els.flatMap((e) => (e === null ? [i32(-1)] : [i32(e.length), e]))]);
    const ints = arr(Oid.int4, [i32(987654321), null]);
    expect(Buffer.from(maskedBinary(redact, 1007, ints, 0, ints.length)!)).toEqual(arr(Oid.int4, [i32(0), null]));
    const texts = arr(Oid.text, [Buffer.from('123-45-6789')]);
    expect(Buffer.from(maskedBinary(partial, 1009, texts, 0, texts.length)!)).toEqual(arr(Oid.text, [Buffer.from('***-**-6789')]));
    const unknown = arr(99999, [Buffer.from('raw')]);
    const out = Buffer.from(maskedBinary(redact, 1009, unknown, 0, unknown.length)!);
    expect(out.readInt32BE(4)).toBe(1); // has nulls now
    expect(out.includes('raw')).toBe(false);
    expect(maskedBinary(redact, 1007, ints, 0, ints.length - 2)).toBeNull(); // malformed: NULL
  });
});

function i32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(v | 0);
  return b;
}
