// The response tracker and DataRow rewriting on hand-built backend messages, checked against
// pg-protocol's parser (what node-postgres uses), including rows split at every byte.
import { Parser } from 'pg-protocol/dist/parser.js';
import { describe, expect, it } from 'vitest';
import { ResponseTracker, rewriteDataRow, type RowPlan } from './responses.ts';

function msg(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out[0] = type.charCodeAt(0);
  out.writeUInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}
function dataRow(values: (string | null)[]): Buffer {
  const parts: Buffer[] = [Buffer.from([values.length >> 8, values.length & 255])];
  for (const v of values) {
    const len = Buffer.alloc(4);
    if (v === null) len.writeInt32BE(-1);
    else len.writeInt32BE(Buffer.byteLength(v));
    parts.push(len);
    if (v !== null) parts.push(Buffer.from(v));
  }
  return msg('D', Buffer.concat(parts));
}
const cstr = (s: string) => Buffer.from(`${s}\0`);
const commandComplete = (tag: string) => msg('C', cstr(tag));
const ready = (s: 'I' | 'T' | 'E') => msg('Z', Buffer.from(s));
const errorResponse = (code: string, m: string) => msg('E', Buffer.concat([cstr(`SERROR`), cstr(`C${code}`), cstr(`M${m}`), Buffer.from([0])]));

function parseAll(buf: Buffer): { name: string; fields?: unknown[]; message?: string; code?: string; status?: string }[] {
  const out: { name: string }[] = [];
  new Parser().parse(Buffer.from(buf), (m) => out.push(m as unknown as { name: string }));
  return out as never;
}

const upper: RowPlan = { masks: [null, (v) => v.toUpperCase(), () => null], formats: [0] };

describe('rewriteDataRow', () => {
  it('masks chosen columns, copies the others, and frames the row exactly', () => {
    const row = dataRow(['1', 'ada', 'secret']);
    const out = rewriteDataRow(row, 0, row.length, upper);
    expect(parseAll(out)).toEqual([expect.objectContaining({ name: 'dataRow', fields: ['1', 'ADA', null] })]);
    expect(out.readUInt32BE(1)).toBe(out.length - 1);
  });

  it('keeps NULLs, masks binary values to NULL, and NULLs every value of a row of unexpected width', () => {
    const row = dataRow([null, 'ada', 'x']);
    expect(parseAll(rewriteDataRow(row, 0, row.length, upper))[0]!.fields).toEqual([null, 'ADA', null]);
    const bin = rewriteDataRow(row, 0, row.length, { ...upper, formats: [1] });
    expect(parseAll(bin)[0]!.fields).toEqual([null, null, null]);
    const wide = dataRow(['1', '2', '3', '4']);
    expect(parseAll(rewriteDataRow(wide, 0, wide.length, upper))[0]!.fields).toEqual([null, null, null, null]);
  });
});

describe('ResponseTracker', () => {
  it('masks the rows of the right statement of a multi-statement query, at every split point', () => {
    const stream = Buffer.concat([
      dataRow(['1', 'a', 'b']),
      commandComplete('SELECT 1'),
      dataRow(['2', 'c', 'd']),
      commandComplete('SELECT 1'),
      ready('I'),
    ]);
    for (let i = 0; i <= stream.length; i++) {
      const t = new ResponseTracker();
      t.push({ type: 'query', plans: [null, upper] });
      const out = Buffer.concat([t.transform(stream.subarray(0, i)), t.transform(stream.subarray(i))]);
      const rows = parseAll(out).filter((m) => m.name === 'dataRow').map((m) => m.fields);
      expect(rows).toEqual([
        ['1', 'a', 'b'],
        ['2', 'C', null],
      ]);
      expect(t.idle).toBe(true);
    }
  });

  it('replaces the stand-in error of a denied Parse and drops the rest of the batch', () => {
    const t = new ResponseTracker();
    const denial = { bytes: errorResponse('42501', 'denied by Verdict') };
    t.push({ type: 'parse' });
    t.push({ type: 'bind' });
    t.push({ type: 'execute', plan: null });
    t.push({ type: 'parse', denial });
    t.push({ type: 'bind' });
    t.push({ type: 'execute', plan: null });
    t.push({ type: 'sync' });
    const upstream = Buffer.concat([
      msg('1', Buffer.alloc(0)),
      msg('2', Buffer.alloc(0)),
      commandComplete('SELECT 0'),
      errorResponse('42601', 'syntax error at or near "verdict_denied"'),
      ready('T'),
    ]);
    const out = parseAll(t.transform(upstream));
    expect(out.map((m) => m.name)).toEqual(['parseComplete', 'bindComplete', 'commandComplete', 'error', 'readyForQuery']);
    expect(out[3]).toMatchObject({ code: '42501', message: 'denied by Verdict' });
    expect(t.status).toBe('T');
    expect(t.idle).toBe(true);
  });

  it('forwards an untouched chunk as the very same buffer', () => {
    const t = new ResponseTracker();
    t.push({ type: 'query', plans: [null] });
    const chunk = Buffer.concat([dataRow(['1']), commandComplete('SELECT 1'), ready('I')]);
    expect(t.transform(chunk)).toBe(chunk);
  });
});

describe('RowDescription ground truth', () => {
  function rowDescription(fields: { name: string; table: number; attnum: number }[]): Buffer {
    const parts: Buffer[] = [Buffer.from([fields.length >> 8, fields.length & 255])];
    for (const f of fields) {
      const meta = Buffer.alloc(18);
      meta.writeUInt32BE(f.table, 0);
      meta.writeInt16BE(f.attnum, 4);
      meta.writeUInt32BE(25, 6); // text
      meta.writeInt16BE(-1, 10);
      meta.writeInt32BE(-1, 12);
      meta.writeInt16BE(0, 16);
      parts.push(cstr(f.name), meta);
    }
    return msg('T', Buffer.concat(parts));
  }

  it('masks a column the server says comes from a masked column, even if the analysis missed it', () => {
    const redact = Object.assign(() => '[REDACTED]', {});
    const plan: RowPlan = { masks: [null, null], formats: [0], byOrigin: new Map([['16385:2', redact]]) };
    const t = new ResponseTracker();
    t.push({ type: 'query', plans: [plan] });
    const stream = Buffer.concat([
      rowDescription([{ name: 'id', table: 16385, attnum: 1 }, { name: 'x', table: 16385, attnum: 2 }]),
      dataRow(['1', '123-45-6789']),
      commandComplete('SELECT 1'),
      ready('I'),
    ]);
    const rows = parseAll(t.transform(stream)).filter((m) => m.name === 'dataRow').map((m) => m.fields);
    expect(rows).toEqual([['1', '[REDACTED]']]);
  });
});
