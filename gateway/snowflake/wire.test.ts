// The JSON result format's value encoding, bind decoding and chunking, on hand-built values.
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { bindsOf, encodeValue, splitRows, wireValue } from './wire.ts';

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

describe('binds', () => {
  it('takes positional binds, dates and timestamps as drivers send them, and refuses named ones', () => {
    expect(bindsOf({ '1': { type: 'FIXED', value: '2' }, '2': { type: 'TEXT', value: null } })).toEqual({ binds: ['2', null], text: ['2', null] });
    expect(bindsOf({ '1': { type: 'DATE', value: '86400000' } }).binds).toEqual(['1970-01-02']);
    expect(bindsOf({ '1': { type: 'TIMESTAMP_NTZ', value: '1500000000' } }).binds).toEqual(['1970-01-01 00:00:01.500000000']);
    expect(bindsOf({ '1': { type: 'FIXED', value: ['1', '2'] } }).binds).toEqual([['1', '2']]);
    expect(() => bindsOf({ name: { type: 'TEXT', value: 'x' } })).toThrow(/named binds/);
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
