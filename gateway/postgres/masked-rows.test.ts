// DataRow rewriting with type-valid masked forms, on hand-built backend messages split at every byte and
// checked against pg-protocol's parser (what node-postgres uses): the types come from RowDescription.
import { describe, expect, it } from 'vitest';
import type { Verdict } from '../../engine/engine.ts';
import type { Decision } from '../../engine/decision/decision.ts';
import { maskFunction } from '../../engine/masking/methods.ts';
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import { decodeFrame } from '../testing/wire-client.ts';
import { commandComplete, dataRow, i32, parseAll, ready as readyFor, rowDescription } from '../testing/backend-messages.ts';

const ready = readyFor('I');
import { rewriteDataRow } from './data-row.ts';
import { ResponseTracker } from './responses.ts';
import { describeColumns } from './row-description.ts';
import type { RowPlan } from './row-plan.ts';
import { SessionModel, type Rows } from './session-model.ts';

const ctx = { hashKey: Buffer.from('k') };
const redact = maskFunction({ method: 'redact', params: {} }, ctx);
const partial = maskFunction({ method: 'partial', params: { keep_last: 4 } }, ctx);
const year = maskFunction({ method: 'year', params: {} }, ctx);

/** Every DataRow of a stream, each column's bytes (framing checked by pg-protocol first). */
function rowsOf(buf: Buffer): (Buffer | null)[][] {
  expect(parseAll(buf).some((m) => m.name === 'error')).toBe(false);
  const rows: (Buffer | null)[][] = [];
  for (let p = 0; p < buf.length; ) {
    const end = p + 1 + buf.readUInt32BE(p + 1);
    if (buf[p] === 0x44) rows.push(decodeFrame(buf.subarray(p, end)).columns!.map((c) => (c ? Buffer.from(c) : null)));
    p = end;
  }
  return rows;
}

const select = {
  text: 'SELECT', kind: 'select', command: 'SELECT', reads: [], writes: [], has_where: false, where_is_trivial: false, functions: [], predicates_on: [],
  result_columns: [], unresolved: [], data_modifying_cte: false, creates_table_from_query: false, copy: null, setting: null, setting_value: null,
  name: null, nested: [], opaque: false, parse_error: null, literal_dependent: false,
} as unknown as StatementAnalysis;
const verdict = { action: 'allow', decisions: [{ action: 'allow', reasons: [], masks: [], decision_id: 'd', policy_revision: 'r', fingerprint: null, cached: false, input_hash: 'h' } as unknown as Decision], statements: [select] } as unknown as Verdict;

/** Streams RowDescription + rows + CommandComplete + ReadyForQuery through a tracker, split at byte `at`. */
function stream(plan: RowPlan, types: number[], rows: (Buffer | string | null)[][], at: number, format = 0): Buffer {
  const t = new ResponseTracker(new SessionModel(() => null));
  const own: Rows = { plan, scrub: true, ref: null };
  t.push({ type: 'query', verdict, own: [own] });
  const all = Buffer.concat([rowDescription(types, format), ...rows.map(dataRow), commandComplete(`SELECT ${rows.length}`), ready]);
  return Buffer.concat([t.transform(all.subarray(0, at)), t.transform(all.subarray(at))]);
}

describe('typed masked forms in the DataRow stream', () => {
  const types = [23, 3802, 2950, 25, 1007, 1082, 16];
  const rows = [
    ['42', '{"name": "Ada Lovelace", "ssn": "123-45-6789"}', '6f1c0e55-1111-4222-8333-444455556666', '123-45-6789', '{1,NULL,3}', '1815-12-10', 't'],
    [null, '[1, "x"]', null, 'Ada', '{}', '1912-06-23', 'f'],
  ];

  it('text format: each masked value is valid for its type, at every split point', () => {
    const masks = [redact, redact, redact, partial, redact, year, redact];
    const total = Buffer.concat([rowDescription(types), ...rows.map(dataRow), commandComplete('SELECT 2'), ready]).length;
    for (let at = 0; at <= total; at++) {
      const plan: RowPlan = { masks: [...masks], formats: [0] };
      const out = rowsOf(stream(plan, types, rows, at)).map((r) => r.map((c) => (c === null ? null : c.toString())));
      expect(out).toEqual([
        ['0', '{"[REDACTED]":"[REDACTED]","[REDACTED]":"[REDACTED]"}', '00000000-0000-0000-0000-000000000000', '***-**-6789', '{0,NULL,0}', '1815-01-01', 'f'],
        [null, '[0,"[REDACTED]"]', null, 'Ada', '{}', '1912-01-01', 'f'],
      ]);
    }
  });

  it('binary format: binary forms of the type, at every split point; unknown types NULL', () => {
    const int4 = i32(42);
    const arr = Buffer.concat([i32(1), i32(0), i32(23), i32(1), i32(1), i32(4), i32(987654321)]);
    const date = i32(-67000);
    const binRows = [[int4, Buffer.from('\x01{"ssn": "123-45-6789"}'), Buffer.alloc(16, 7), Buffer.from('123-45-6789'), arr, date, Buffer.from([1]), Buffer.from('raw')]];
    const binTypes = [...types, 999999];
    const total = Buffer.concat([rowDescription(binTypes, 1), ...binRows.map(dataRow), commandComplete('SELECT 1'), ready]).length;
    for (let at = 0; at <= total; at++) {
      const plan: RowPlan = { masks: [redact, redact, redact, partial, redact, year, redact, redact], formats: [1] };
      const [row] = rowsOf(stream(plan, binTypes, binRows, at, 1));
      expect(row![0]).toEqual(i32(0));
      expect(row![1]!.toString()).toBe('\x01{"[REDACTED]":"[REDACTED]"}');
      expect(row![2]).toEqual(Buffer.alloc(16));
      expect(row![3]!.toString()).toBe('***-**-6789'); // text in binary is its bytes: the method applies
      expect(row![4]).toEqual(Buffer.concat([i32(1), i32(0), i32(23), i32(1), i32(1), i32(4), i32(0)]));
      expect(row![5]!.readInt32BE(0)).toBe(Math.round((Date.UTC(1816, 0, 1) - Date.UTC(2000, 0, 1)) / 86400000)); // -67000 days is in 1816
      expect(row![6]).toEqual(Buffer.from([0]));
      expect(row![7]).toBeNull(); // a type with no known binary form
    }
  });

  it('without a RowDescription (types unknown) text keeps the method text and binary is NULL, as before', () => {
    const plan: RowPlan = { masks: [redact, partial], formats: [0] };
    const row = dataRow(['42', '123-45-6789']);
    expect(parseAll(rewriteDataRow(row, 0, row.length, plan))[0]!.fields).toEqual(['[REDACTED]', '***-**-6789']);
    expect(parseAll(rewriteDataRow(row, 0, row.length, { ...plan, formats: [1] }))[0]!.fields).toEqual([null, null]);
  });

  it('a plan changed in place applies from the next row on: masks, types and formats are never taken stale', () => {
    const rows = Buffer.concat([dataRow(['42', '123-45-6789']), dataRow(['43', '987-65-4321']), dataRow(['44', '555-12-3456'])]);
    const a = rows.readUInt32BE(1) + 1;
    const b = a + rows.readUInt32BE(a + 1) + 1;
    const plan: RowPlan = { masks: [null, null], formats: [0] };
    expect(parseAll(rewriteDataRow(rows, 0, a, plan))[0]!.fields).toEqual(['42', '123-45-6789']);
    plan.masks[1] = partial; // adjacent row, same buffer, same plan object
    expect(parseAll(rewriteDataRow(rows, a, b, plan))[0]!.fields).toEqual(['43', '***-**-4321']);
    plan.types = Uint32Array.from([23, 25]);
    plan.types[1] = 23; // in place: the masked column is now an integer
    expect(parseAll(rewriteDataRow(rows, b, rows.length, plan))[0]!.fields).toEqual(['44', '0']);
  });

  it('through the tracker: ground truth from a RowDescription masks the next rows of a plan already streamed', () => {
    const plan: RowPlan = { masks: [null, null], formats: [0], byOrigin: new Map([['16385:2', partial]]) };
    const t = new ResponseTracker(new SessionModel(() => null));
    t.push({ type: 'query', verdict: { ...verdict, decisions: [verdict.decisions[0]!, verdict.decisions[0]!], statements: [select, select] } as Verdict, own: [{ plan, scrub: true, ref: null }, { plan, scrub: true, ref: null }] });
    // The second statement's RowDescription says column 2 comes from table 16385, attribute 2: a masked column.
    const origin = Buffer.from(rowDescription([23, 25]));
    const second = origin.indexOf(Buffer.from('c1\0')) + 3;
    origin.writeUInt32BE(16385, second);
    origin.writeInt16BE(2, second + 4);
    const out = t.transform(Buffer.concat([dataRow(['1', '123-45-6789']), commandComplete('SELECT 1'), origin, dataRow(['2', '987-65-4321']), commandComplete('SELECT 1'), ready]));
    expect(rowsOf(out).map((r) => r.map((c) => c?.toString()))).toEqual([['1', '123-45-6789'], ['2', '***-**-4321']]);
  });

  it('describeColumns records each column type; a row of another width is all NULL', () => {
    const plan: RowPlan = { masks: [redact, null], formats: [0] };
    const desc = rowDescription([23, 25]);
    describeColumns(desc, 0, plan);
    expect([...plan.types!]).toEqual([23, 25]);
    const row = dataRow(['42', 'x']);
    expect(parseAll(rewriteDataRow(row, 0, row.length, plan))[0]!.fields).toEqual(['0', 'x']);
    const wide = dataRow(['1', '2', '3']);
    expect(parseAll(rewriteDataRow(wide, 0, wide.length, plan))[0]!.fields).toEqual([null, null, null]);
  });
});
