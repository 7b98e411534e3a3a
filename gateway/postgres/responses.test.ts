// The response tracker and DataRow rewriting on hand-built backend messages, checked against
// pg-protocol's parser (what node-postgres uses), including rows split at every byte.
import { describe, expect, it } from 'vitest';
import type { Verdict } from '../../engine/engine.ts';
import type { Decision } from '../../engine/decision/decision.ts';
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import { rewriteDataRow } from './data-row.ts';
import { ResponseTracker } from './responses.ts';
import type { RowPlan } from './row-plan.ts';
import { commandComplete, cstr, dataRow, errorResponse, msg, parseAll, ready } from '../testing/backend-messages.ts';
import { SessionModelBreach } from './errors.ts';
import { SessionModel, type Planner, type Rows } from './session-model.ts';


const upper: RowPlan = { masks: [null, (v) => v.toUpperCase(), () => null], formats: [0] };

/** A statement analysis with only what the tracker and the model read. */
function analysis(command: string, extra: Partial<StatementAnalysis> = {}): StatementAnalysis {
  const kind = (({ SELECT: 'select', DELETE: 'delete', INSERT: 'insert', COPY: 'copy' }) as Record<string, StatementAnalysis['kind']>)[command] ?? 'utility';
  return {
    text: command, kind, command, reads: [], writes: [], has_where: false, where_is_trivial: false, functions: [], predicates_on: [],
    result_columns: [], unresolved: [], data_modifying_cte: false, creates_table_from_query: false, copy: null, setting: null, setting_value: null, explain_options: null, on_conflict: null,
    name: null, nested: [], opaque: false, parse_error: null, literal_dependent: false, ...extra,
  };
}
function verdictOf(...statements: StatementAnalysis[]): Verdict {
  const decisions = statements.map((_, i) => ({ action: 'allow', reasons: [], masks: [], decision_id: `d${i}`, policy_revision: 'r', fingerprint: null, cached: false, input_hash: 'h' }) as unknown as Decision);
  return { action: 'allow', decisions, statements };
}
const rowsOf = (plan: RowPlan | null): Rows => ({ plan, scrub: plan !== null, ref: null });
/** A planner that masks the second column of every statement whose text mentions ssn. */
const planner: Planner = (a) => (/ssn/.test(a.text) ? { masks: [null, () => '***'], formats: [0] } : null);
const tracker = () => new ResponseTracker(new SessionModel(planner));
const select = analysis('SELECT');

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
      const t = tracker();
      t.push({ type: 'query', verdict: verdictOf(select, select), own: [rowsOf(null), rowsOf(upper)] });
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
    const t = tracker();
    const denial = { bytes: errorResponse('42501', 'denied by Verdict') };
    const v = verdictOf(select);
    const portal = { verdict: v, index: 0, plan: null, scrub: false, cursor: false, holdable: false, uncommitted: false };
    t.push({ type: 'parse', name: '', entry: { verdict: v, index: 0, sql: 'SELECT', source: 'protocol' } });
    t.push({ type: 'bind', portal: '', entry: portal });
    t.push({ type: 'execute', portal: '' });
    t.push({ type: 'parse', name: '', entry: null, denial });
    t.push({ type: 'bind', portal: '', entry: portal });
    t.push({ type: 'execute', portal: '' });
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
    const t = tracker();
    t.push({ type: 'query', verdict: verdictOf(select), own: [rowsOf(null)] });
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
    const t = tracker();
    t.push({ type: 'query', verdict: verdictOf(select), own: [rowsOf(plan)] });
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

describe('session model: the picture changes only on what the server confirms', () => {
  const declare = (name: string, text: string) => analysis('DECLARE CURSOR', { name, text });
  const fetch = (name: string) => analysis('FETCH', { name, text: `FETCH ALL FROM ${name}` });

  it('keeps the first plan when the server rejects a second DECLARE of the same name', () => {
    const t = tracker();
    const first = verdictOf(declare('c1', 'DECLARE c1 CURSOR WITH HOLD FOR SELECT id, ssn FROM patients'));
    t.push({ type: 'query', verdict: first, own: [rowsOf(null)] });
    t.transform(Buffer.concat([commandComplete('DECLARE CURSOR'), ready('I')]));
    const second = verdictOf(declare('c1', "DECLARE c1 CURSOR WITH HOLD FOR SELECT 'a', 'b'"));
    t.push({ type: 'query', verdict: second, own: [rowsOf(null)] });
    t.transform(Buffer.concat([errorResponse('42P03', 'cursor "c1" already exists'), ready('I')]));
    t.push({ type: 'query', verdict: verdictOf(fetch('c1')), own: [rowsOf(null)] });
    const out = parseAll(t.transform(Buffer.concat([dataRow(['1', '123-45-6789']), commandComplete('FETCH 1'), ready('I')])));
    expect(out.find((m) => m.name === 'dataRow')!.fields).toEqual(['1', '***']);
  });

  it('blanks every column of rows fetched from a cursor whose DECLARE never completed', () => {
    const t = tracker();
    t.push({ type: 'query', verdict: verdictOf(declare('c2', 'DECLARE c2 CURSOR FOR SELECT 1'), fetch('c2')), own: [rowsOf(null), rowsOf(null)] });
    const out = parseAll(t.transform(Buffer.concat([errorResponse('25P01', 'DECLARE CURSOR can only be used in transaction blocks'), ready('I')])));
    expect(out.map((m) => m.name)).toEqual(['error', 'readyForQuery']);
    t.push({ type: 'query', verdict: verdictOf(fetch('c2')), own: [rowsOf(null)] });
    const rows = parseAll(t.transform(Buffer.concat([dataRow(['1', 'x']), commandComplete('FETCH 1'), ready('I')])));
    expect(rows.find((m) => m.name === 'dataRow')!.fields).toEqual([null, null]);
  });

  it('forgets non-holdable cursors when the transaction ends, and holdable ones when it rolls back', () => {
    const t = tracker();
    t.push({ type: 'query', verdict: verdictOf(analysis('BEGIN'), declare('a', 'DECLARE a CURSOR FOR SELECT 1'), declare('b', 'DECLARE b CURSOR WITH HOLD FOR SELECT 1')), own: [rowsOf(null), rowsOf(null), rowsOf(null)] });
    t.transform(Buffer.concat([commandComplete('BEGIN'), commandComplete('DECLARE CURSOR'), commandComplete('DECLARE CURSOR'), ready('T')]));
    expect([...t.model.portals.keys()]).toEqual(['a', 'b']);
    t.push({ type: 'query', verdict: verdictOf(analysis('COMMIT')), own: [rowsOf(null)] });
    t.transform(Buffer.concat([commandComplete('COMMIT'), ready('I')]));
    expect([...t.model.portals.keys()]).toEqual(['b']);
    t.push({ type: 'query', verdict: verdictOf(analysis('BEGIN'), declare('c', 'DECLARE c CURSOR WITH HOLD FOR SELECT 1'), analysis('ROLLBACK')), own: [rowsOf(null), rowsOf(null), rowsOf(null)] });
    t.transform(Buffer.concat([commandComplete('BEGIN'), commandComplete('DECLARE CURSOR'), commandComplete('ROLLBACK'), ready('I')]));
    expect([...t.model.portals.keys()]).toEqual(['b']);
  });

  it('follows extended-protocol COPY FROM STDIN: one ReadyForQuery answers the Sync after CopyDone', () => {
    const t = tracker();
    const copy = analysis('COPY', { copy: { direction: 'from', target: 'stdin', table: { schema: 'public', table: 't' } } });
    const v = verdictOf(copy);
    t.push({ type: 'parse', name: '', entry: { verdict: v, index: 0, sql: 'COPY t FROM STDIN', source: 'protocol' } });
    t.push({ type: 'bind', portal: '', entry: { verdict: v, index: 0, plan: null, scrub: false, cursor: false, holdable: false, uncommitted: false } });
    t.push({ type: 'describe', target: 'P', name: '' });
    t.push({ type: 'execute', portal: '' });
    t.transform(Buffer.concat([msg('1', Buffer.alloc(0)), msg('2', Buffer.alloc(0)), msg('n', Buffer.alloc(0)), msg('G', Buffer.from([0, 0, 1, 0, 0]))]));
    expect(t.copyIn).toBe(true); // the session forwards no Sync until the COPY ends
    t.push({ type: 'sync' });
    t.transform(Buffer.concat([commandComplete('COPY 1'), ready('I')]));
    expect(t.idle).toBe(true);
    t.push({ type: 'query', verdict: verdictOf(analysis('SELECT', { text: 'SELECT id, ssn FROM patients' })), own: [rowsOf(upper)] });
    const out = parseAll(t.transform(Buffer.concat([dataRow(['1', 'ssn', 'x']), commandComplete('SELECT 1'), ready('I')])));
    expect(out.find((m) => m.name === 'dataRow')!.fields).toEqual(['1', 'SSN', null]);
  });

  const breaches: [string, () => Buffer, (t: ResponseTracker) => void][] = [
    ['a row nobody asked for', () => dataRow(['123-45-6789']), () => undefined],
    ['more statements than were decided', () => Buffer.concat([commandComplete('SELECT 1'), dataRow(['x']), commandComplete('DELETE 3')]), (t) => t.push({ type: 'query', verdict: verdictOf(select), own: [rowsOf(null)] })],
    ['a write reported for a SELECT', () => commandComplete('DELETE 3'), (t) => t.push({ type: 'query', verdict: verdictOf(select), own: [rowsOf(null)] })],
    ['rows for a statement that returns none', () => dataRow(['x']), (t) => t.push({ type: 'query', verdict: verdictOf(analysis('SET')), own: [rowsOf(null)] })],
    ['rows answering a refused statement', () => dataRow(['x']), (t) => t.push({ type: 'query', verdict: null, own: [], denial: { bytes: errorResponse('42501', 'no') } })],
    ['a ReadyForQuery no Sync asked for', () => ready('I'), () => undefined],
    ['standard_conforming_strings turned off', () => msg('S', Buffer.concat([cstr('standard_conforming_strings'), cstr('off')])), () => undefined],
    ['a client encoding other than UTF8', () => msg('S', Buffer.concat([cstr('client_encoding'), cstr('SJIS')])), () => undefined],
    ['COPY FROM STDIN for a statement decided as SELECT', () => msg('G', Buffer.from([0, 0, 0])), (t) => t.push({ type: 'query', verdict: verdictOf(select), own: [rowsOf(null)] })],
    ['a FunctionCallResponse', () => msg('V', Buffer.from([0, 0, 0, 1, 0x41])), (t) => t.push({ type: 'query', verdict: verdictOf(select), own: [rowsOf(null)] })],
  ];
  for (const [what, stream, setup] of breaches) {
    it(`ends the session on ${what}, forwarding nothing of the chunk`, () => {
      const t = tracker();
      setup(t);
      expect(() => t.transform(stream())).toThrow(SessionModelBreach);
    });
  }
});
