// The JSON result format's value encoding, bind decoding and chunking, on hand-built values.
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { maskFunction } from '../../engine/masking/methods.ts';
import { bindsOf, encodeValue, maskedValue, splitRows, wireValue } from './wire.ts';

describe('wire values', () => {
  it.each([
    ['boolean', 'TRUE', '1'],
    ['boolean', 'false', '0'],
    ['date', '1970-01-02', '1'],
    ['date', '1815-12-10', String(Date.UTC(1815, 11, 10) / 86_400_000)],
    ['timestamp_ntz', '2026-01-05 09:00:00.250', `${Date.UTC(2026, 0, 5, 9) / 1000}.250000000`],
    ['timestamp_ltz', '2026-01-05 10:00:00.000 +0100', `${Date.UTC(2026, 0, 5, 9) / 1000}.000000000`],
    ['time', '01:00:01', '3601.000000000'],
    ['fixed', '-12.50', '-12.50'],
    ['text', 'x', 'x'],
  ])('%s %s → %s', (type, v, want) => expect(encodeValue(type, v)).toBe(want));

  it('keeps masked values parseable: a redacted date becomes the epoch, a redacted number 0', () => {
    expect(wireValue('date', '[REDACTED]')).toBe('0');
    expect(wireValue('fixed', 'abcdef')).toBe('0');
    expect(wireValue('date', '1815-01-01')).toBe(String(Date.UTC(1815, 0, 1) / 86_400_000));
    expect(wireValue('text', null)).toBeNull();
  });
});

describe('masked values', () => {
  const ctx = { hashKey: Buffer.from('k') };
  const m = (method: 'redact' | 'null' | 'partial' | 'year' | 'hash') => maskFunction({ method, params: {} }, ctx);
  it.each([
    ['redact', 'variant', '{"ssn":"123-45-6789","n":3,"ok":true}', '{"[REDACTED]":"[REDACTED]","[REDACTED]":0,"[REDACTED]":false}'],
    ['redact', 'array', '["a", 2]', '["[REDACTED]",0]'],
    ['redact', 'object', 'not json', 'null'],
    ['null', 'variant', '{"a":1}', null],
    ['null', 'fixed', '12', null],
    ['redact', 'fixed', '123456789', '0'],
    ['hash', 'real', '1.5', '0'],
    ['partial', 'boolean', 'TRUE', 'FALSE'],
    ['redact', 'date', '1984-07-14', '1970-01-01'],
    ['year', 'date', '1984-07-14', '1984-01-01'],
    ['year', 'timestamp_ltz', '1984-07-14 13:45:10.123 +0200', '1984-01-01 00:00:00.000 +0000'],
    ['year', 'fixed', '1984', '0'],
    ['redact', 'binary', 'DEADBEEF', ''],
    ['partial', 'text', '123-45-6789', '***-**-6789'],
    ['redact', 'map', '{"k":"v"}', '{"[REDACTED]":"[REDACTED]"}'],
    ['redact', 'geography', '{"type":"Point","coordinates":[1,2]}', null],
    ['hash', 'vector', '[1,2,3]', null],
  ] as const)('%s of %s %s → %s', (method, type, v, want) => {
    const out = maskedValue(m(method), type, v);
    expect(out).toBe(want);
    // …and what the wire gets is a value of the type (JSON stays JSON).
    const wire = wireValue(type, out);
    if (wire !== null && ['variant', 'object', 'array'].includes(type)) expect(() => JSON.parse(wire)).not.toThrow();
    if (wire !== null && type !== 'text' && type !== 'binary' && !['variant', 'object', 'array'].includes(type)) expect(encodeValue(type, out!)).not.toBeNull();
  });
});

describe('binds', () => {
  it('takes positional binds, dates and timestamps as drivers send them, and numbered 1…n', () => {
    expect(bindsOf({ '1': { type: 'FIXED', value: '2' }, '2': { type: 'TEXT', value: null } }, 'SELECT ?, ?')).toEqual({ sql: 'SELECT ?, ?', binds: ['2', null], text: ['2', null] });
    expect(bindsOf({ '1': { type: 'DATE', value: '86400000' } }).binds).toEqual(['1970-01-02']);
    expect(bindsOf({ '1': { type: 'TIMESTAMP_NTZ', value: '1500000000' } }).binds).toEqual(['1970-01-01 00:00:01.500000000']);
    expect(bindsOf({ '1': { type: 'FIXED', value: ['1', '2'] } }).binds).toEqual([['1', '2']]);
    expect(() => bindsOf({ '2': { type: 'TEXT', value: 'x' } }, 'SELECT ?')).toThrow(/numbered 1…1/);
  });

  it('turns named binds into positional ones, leaving VARIANT paths, strings and comments alone', () => {
    const b = { id: { type: 'FIXED', value: '7' }, who: { type: 'TEXT', value: 'ann' } };
    expect(bindsOf(b, "SELECT v:id, 'x:id' /* :who */, :who FROM t WHERE id = :id OR id2 = :ID -- :nope")).toEqual({
      sql: "SELECT v:id, 'x:id' /* :who */, :1 FROM t WHERE id = :2 OR id2 = :2 -- :nope",
      binds: ['ann', '7'],
      text: ['ann', '7'],
    });
    // Offsets count code points: text before the marker with characters outside the BMP.
    expect(bindsOf(b, "SELECT '😀é', :who, f(x):who, a[0]:id").sql).toBe("SELECT '😀é', :1, f(x):who, a[0]:id");
    expect(bindsOf({ d: { type: 'DATE', value: '86400000' } }, 'SELECT :d').binds).toEqual(['1970-01-02']);
    expect(bindsOf({ ids: { type: 'FIXED', value: ['1', '2'] } }, 'INSERT INTO t VALUES (:ids)')).toMatchObject({ sql: 'INSERT INTO t VALUES (:1)', binds: [['1', '2']] });
  });

  it('refuses named binds that do not fit the statement', () => {
    expect(() => bindsOf({ id: { type: 'FIXED', value: '1' } }, 'SELECT :other')).toThrow(/Bind variable :other not set/);
    expect(() => bindsOf({ id: { type: 'FIXED', value: '1' }, '1': { type: 'FIXED', value: '1' } }, 'SELECT :id')).toThrow(/mix names and positions/);
    expect(() => bindsOf({ id: { type: 'FIXED', value: '1' } }, 'SELECT :id, ?')).toThrow(/positional markers/);
    expect(() => bindsOf({ id: { type: 'FIXED', value: '1' } }, 'SELECT :id, :1')).toThrow(/positional markers/);
  });
});

describe('chunks', () => {
  it('keeps the first rows inline and gzips the rest as rows without brackets', () => {
    const rows = [['1'], ['2'], ['3'], ['4'], ['5']];
    const { inline, chunks } = splitRows(rows, 2);
    expect(inline).toEqual([['1'], ['2']]);
    expect(chunks.map((c) => c.rowCount)).toEqual([2, 1]);
    expect(gunzipSync(chunks[0]!.body).toString()).toBe('["3"],["4"]');
    expect(splitRows(rows, 5).chunks).toEqual([]);
  });
});
