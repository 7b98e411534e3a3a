// Catalog freshness without a server: which relations a statement reads, what the catalog cannot account for,
// which statements are checked at all (none that read no relation), how a version check reads, and the result-time
// ground truth — a RowDescription column from a relation the catalog does not know is never sent as it is.
import { describe, expect, it } from 'vitest';
import type { Verdict } from '../../engine/engine.ts';
import type { Decision } from '../../engine/decision/decision.ts';
import type { StatementAnalysis } from '../../engine/sql/types.ts';
import { functionsCalled, relationGaps, relationsChanged, relationsRead, temporaryRelationsCreated, type RelationCatalog, type RelationCatalogAccess } from './catalog-freshness.ts';
import { catalogGate, type Resolved } from './catalog-gate.ts';
import { FailedTransaction } from './errors.ts';
import { ResponseTracker } from './responses.ts';
import { SessionModel } from './session-model.ts';
import { commandComplete, dataRow, i16, msg, parseAll, ready } from '../testing/backend-messages.ts';

function analysis(command: string, extra: Partial<StatementAnalysis> = {}): StatementAnalysis {
  const kind = (({ SELECT: 'select', DELETE: 'delete', INSERT: 'insert', UPDATE: 'update', 'CREATE TABLE': 'ddl', SET: 'utility' }) as Record<string, StatementAnalysis['kind']>)[command] ?? 'utility';
  return {
    text: command, kind, command, reads: [], writes: [], has_where: false, where_is_trivial: false, functions: [], predicates_on: [],
    result_columns: [], unresolved: [], data_modifying_cte: false, creates_table_from_query: false, copy: null, setting: null, setting_value: null, explain_options: null, on_conflict: null,
    name: null, nested: [], opaque: false, parse_error: null, literal_dependent: false, ...extra,
  };
}
function verdictOf(...statements: StatementAnalysis[]): Verdict {
  const decisions = statements.map((_, i) => ({ action: 'allow', reasons: [], masks: [], measure: [], decision_id: `d${i}`, policy_revision: 'r', fingerprint: null, cached: false, input_hash: 'h' }) as unknown as Decision);
  return { action: 'allow', decisions, statements };
}
const reads = (table: string, schema = 'public') => ({ schema, table, columns: ['*'] });

/** A function row of VERSIONS_CHECK. */
const fn = (name: string, version: string) => ['f', '', 'public', name, version];

const CATALOG: RelationCatalog = {
  relations: new Map([['public.patients', 16400], ['public.patient_view', 16410]]),
  versions: new Map([[16400, '700'], [16410, '710/16411:710']]),
  columns: new Set(['16400:1', '16400:2', '16410:1']),
  functions: new Map([['public.get_ssn', '16420:720']]),
  builtins: new Set(['count', 'upper', 'generate_series', 'now']),
  readOnlyBuiltins: new Set(['count', 'upper', 'generate_series', 'now']),
  userFunctionNames: new Set(['get_ssn']),
};

/** A RowDescription whose columns come from (table OID, attnum) origins. */
function describedFrom(origins: readonly [number, number][]): Buffer {
  const parts = [i16(origins.length)];
  for (const [i, [oid, attnum]] of origins.entries()) {
    const meta = Buffer.alloc(18);
    meta.writeUInt32BE(oid, 0);
    meta.writeInt16BE(attnum, 4);
    meta.writeUInt32BE(25, 6); // text
    meta.writeInt16BE(-1, 10);
    meta.writeInt32BE(-1, 12);
    parts.push(Buffer.from(`c${i}\0`), meta);
  }
  return msg('T', Buffer.concat(parts));
}

describe('relationsRead / relationGaps', () => {
  it('reads, and the targets of writes that hand rows or counts back; never PostgreSQL\'s own schemas', () => {
    const v = verdictOf(
      analysis('SELECT', { reads: [reads('late_view'), reads('pg_class', 'pg_catalog'), reads('tables', 'information_schema')] }),
      analysis('INSERT', { writes: [reads('log')] }), // takes nothing from its target
      analysis('DELETE', { writes: [reads('late_t')] }), // its count is an oracle
      analysis('INSERT', { writes: [reads('ret_t')], result_columns: [{ name: 'x', sources: [], derived: false }] }),
    );
    expect(relationsRead(v.statements).sort()).toEqual(['public.late_t', 'public.late_view', 'public.ret_t']);
  });

  it('a relation the catalog does not know is a gap, unless it is a temporary table this session made', () => {
    expect(relationGaps(['public.patients', 'public.late_view'], CATALOG, () => false)).toEqual([{ relation: 'public.late_view', reason: 'unknown' }]);
    expect(relationGaps(['public.scratch', 'pg_temp.scratch'], CATALOG, (n) => n === 'scratch')).toEqual([]);
    expect(relationGaps(['public.patients'], null, () => false)).toEqual([{ relation: 'public.patients', reason: 'no_catalog' }]);
  });

  it('temporary relations a statement creates, by its text', () => {
    expect(temporaryRelationsCreated([analysis('CREATE TABLE', { text: 'CREATE TEMP TABLE s (a int)', writes: [reads('s')] })])).toEqual(['s']);
    expect(temporaryRelationsCreated([analysis('CREATE TABLE', { text: 'create temporary table s2 as select 1', writes: [reads('s2')] })])).toEqual(['s2']);
    expect(temporaryRelationsCreated([analysis('SELECT', { text: 'SELECT 1 INTO TEMP s3', writes: [reads('s3')] })])).toEqual(['s3']);
    expect(temporaryRelationsCreated([analysis('CREATE TABLE', { text: 'CREATE TABLE temp_stuff (a int)', writes: [reads('temp_stuff')] })])).toEqual([]);
  });
});

describe('relationsChanged', () => {
  const row = (oid: number, name: string, version: string) => ['r', String(oid), 'public', name, version];
  it('unchanged when every name is the relation it was, at the version it was', () => {
    expect(relationsChanged(CATALOG, ['public.patient_view'], [row(16410, 'patient_view', '710/16411:710'), row(16400, 'patients', '700')])).toBe(false);
  });
  it('a view redefined in place (CREATE OR REPLACE: same OID, new rule version)', () => {
    expect(relationsChanged(CATALOG, ['public.patient_view'], [row(16410, 'patient_view', '710/16411:900'), row(16400, 'patients', '700')])).toBe(true);
  });
  it('dropped and made again (a new OID), or gone', () => {
    expect(relationsChanged(CATALOG, ['public.patient_view'], [row(16500, 'patient_view', '900/16501:900')])).toBe(true);
    expect(relationsChanged(CATALOG, ['public.patient_view'], [])).toBe(true);
  });
  it('a relation a view reads changed (or is one the catalog does not know); system relations are not compared', () => {
    expect(relationsChanged(CATALOG, ['public.patient_view'], [row(16410, 'patient_view', '710/16411:710'), row(16400, 'patients', '901')])).toBe(true);
    expect(relationsChanged(CATALOG, ['public.patient_view'], [row(16410, 'patient_view', '710/16411:710'), row(16600, 'other', '1')])).toBe(true);
    expect(relationsChanged(CATALOG, ['public.patient_view'], [row(16410, 'patient_view', '710/16411:710'), row(1259, 'pg_class', '1')])).toBe(false);
  });
});

describe('functions', () => {
  it('functionsCalled: user functions as schema.name; builtins and PostgreSQL\'s own schemas left out', () => {
    const v = verdictOf(analysis('SELECT', { functions: ['count', 'upper', 'leak', 'pg_catalog.lower', 'information_schema._pg_expandarray', 'billing.total', 'clinic.public.f2'] }));
    expect(functionsCalled(v.statements, CATALOG).sort()).toEqual(['billing.total', 'public.f2', 'public.leak']);
  });
  it('a function replaced in place (new pg_proc row version) or dropped is a change', () => {
    const rows = [['r', '16400', 'public', 'patients', '700']];
    expect(relationsChanged(CATALOG, ['public.patients'], [...rows, fn('get_ssn', '16420:720')], ['public.get_ssn'])).toBe(false);
    expect(relationsChanged(CATALOG, ['public.patients'], [...rows, fn('get_ssn', '16420:999')], ['public.get_ssn'])).toBe(true);
    expect(relationsChanged(CATALOG, ['public.patients'], rows, ['public.get_ssn'])).toBe(true);
    // A function a view calls (reached through its rule's dependencies) that the catalog does not know.
    expect(relationsChanged(CATALOG, ['public.patients'], [...rows, fn('new_fn', '16900:900')])).toBe(true);
  });
});

describe('catalogGate', () => {
  const access = (changed: boolean): RelationCatalogAccess & { checks: number } => {
    const a = {
      checks: 0,
      current: () => CATALOG,
      refresh: async () => true,
      changed: async () => {
        a.checks++;
        return changed;
      },
    };
    return a;
  };

  it('statements that read no relation (SELECT 1, SET, BEGIN) and denied ones are not checked: no round trip', () => {
    const a = access(false);
    const gate = catalogGate({ access: a, decide: () => verdictOf(analysis('SELECT')), resolve: async (rs) => new Map(rs.map((r) => [r, null])) });
    expect(gate.beforeRun(verdictOf(analysis('SELECT')), 'SELECT 1')).toBeNull();
    expect(gate.beforeRun(verdictOf(analysis('SELECT', { functions: ['now', 'generate_series'] })), 'SELECT now()')).toBeNull();
    expect(gate.beforeRun(verdictOf(analysis('SET')), 'SET x = 1')).toBeNull();
    const denied = { ...verdictOf(analysis('SELECT', { reads: [reads('late_view')] })), action: 'deny' as const };
    expect(gate.beforeRun(denied, 'SELECT * FROM late_view')).toBeNull();
    expect(gate.beforePrepare(verdictOf(analysis('SET')), 'SET x = 1')).toBeNull();
    expect(gate.beforeBind(verdictOf(analysis('SELECT')), 0, 'SELECT 1', performance.now())).toBeNull();
    expect(a.checks).toBe(0);
  });

  it('extended protocol: one check at Parse serves a Bind that had arrived before it began; a later Bind checks again', async () => {
    const a = access(false);
    const v = verdictOf(analysis('SELECT', { reads: [reads('patients')] }));
    const gate = catalogGate({ access: a, decide: () => v, resolve: async () => new Map() });
    const bindArrived = performance.now();
    expect(await gate.beforePrepare(v, 'SELECT * FROM patients')).toBeNull();
    gate.passed(v); // decided again after the gate, as the session does
    expect(a.checks).toBe(1);
    expect(gate.beforeBind(v, 0, 'SELECT * FROM patients', bindArrived)).toBeNull();
    await new Promise((r) => setTimeout(r, 2));
    expect(await gate.beforeBind(v, 0, 'SELECT * FROM patients', performance.now())).toBeNull();
    expect(a.checks).toBe(2);
  });

  it('a Bind of a statement decided on an older catalog is decided again; a different decision is refused', async () => {
    let cat = CATALOG;
    const a = { ...access(false), current: () => cat };
    const v = verdictOf(analysis('SELECT', { reads: [reads('patient_view')] }));
    const masked = { ...v, decisions: [{ ...v.decisions[0]!, action: 'mask', masks: [{ column: { schema: 'public', table: 'patients', column: 'ssn' } }] } as unknown as Decision] };
    let now = v;
    const gate = catalogGate({ access: a, decide: () => now, resolve: async () => new Map() });
    expect(await gate.beforePrepare(v, 'SELECT v FROM patient_view')).toBeNull();
    gate.passed(v);
    cat = { ...CATALOG }; // re-read since
    expect(await gate.beforeBind(v, 0, 'SELECT v FROM patient_view', performance.now())).toBeNull(); // decided alike
    cat = { ...CATALOG };
    now = masked;
    expect((await gate.beforeBind(v, 0, 'SELECT v FROM patient_view', performance.now()))?.message).toMatch(/prepare it again/);
  });

  it('a statement reading known relations is checked once; a change with an unchanged decision passes', async () => {
    const a = access(false);
    const v = verdictOf(analysis('SELECT', { reads: [reads('patients')] }));
    const gate = catalogGate({ access: a, decide: () => v, resolve: async (rs) => new Map(rs.map((r) => [r, null])) });
    expect(await gate.beforeRun(v, 'SELECT * FROM patients')).toBeNull();
    expect(a.checks).toBe(1);
  });

  it('an unknown relation, still unknown after the re-read, is refused with its name', async () => {
    const v = verdictOf(analysis('SELECT', { reads: [reads('late_view')] }));
    let refreshed = 0;
    const a = { ...access(false), refresh: async () => (refreshed++, true) };
    const gate = catalogGate({ access: a, decide: () => v, resolve: async (rs) => new Map(rs.map((r) => [r, null])) });
    expect(await gate.beforeRun(v, 'SELECT * FROM late_view')).toEqual({ code: '42P01', message: 'relation "late_view" does not exist' });
    expect(refreshed).toBe(1);
    // It exists on the session's connection, yet not in the catalog even re-read: refused as uncataloged.
    const seen = catalogGate({ access: a, decide: () => v, resolve: async () => new Map([['public.late_view', { oid: 17500, temporary: false }]]) });
    expect((await seen.beforeRun(v, 'SELECT * FROM late_view'))?.message).toMatch(/public\.late_view is not in Verdict's catalog/);
    expect(refreshed).toBe(2);
  });

  it('an unknown function: re-read, then 42883 when nothing of that name exists, else refused as uncataloged', async () => {
    const v = verdictOf(analysis('SELECT', { functions: ['leak'] }));
    const a = access(false);
    const none = catalogGate({ access: a, decide: () => v, resolve: async (_, fs) => new Map(fs.map((f) => [`function ${f}`, null])) });
    expect(await none.beforeRun(v, 'SELECT leak()')).toEqual({ code: '42883', message: 'function leak does not exist' });
    const some = catalogGate({ access: a, decide: () => v, resolve: async (_, fs) => new Map(fs.map((f) => [`function ${f}`, { oid: 17600, temporary: false }])) });
    expect(await some.beforeRun(v, 'SELECT leak()')).toMatchObject({ code: '42501', message: expect.stringMatching(/function public\.leak is not in Verdict's catalog/) });
    const known = verdictOf(analysis('SELECT', { functions: ['get_ssn'] }));
    expect(await none.beforeRun(known, 'SELECT get_ssn(1)')).toBeNull(); // known: its version is checked
    expect(a.checks).toBe(1);
  });

  it("a version check that cannot be made refuses (fail closed)", async () => {
    const v = verdictOf(analysis('SELECT', { reads: [reads('patients')] }));
    const a = { ...access(false), changed: async () => Promise.reject(new Error('connection refused')) };
    const gate = catalogGate({ access: a, decide: () => v, resolve: async (rs) => new Map(rs.map((r) => [r, null])) });
    expect((await gate.beforeRun(v, 'SELECT * FROM patients'))?.message).toMatch(/could not confirm .*connection refused/);
  });

  it('a temporary table must resolve on the session\'s own connection', async () => {
    const create = verdictOf(analysis('CREATE TABLE', { text: 'CREATE TEMP TABLE s (a int)', writes: [reads('s')] }));
    const read = verdictOf(analysis('SELECT', { reads: [reads('s')] }));
    let found = new Map<string, Resolved | null>([['public.s', null]]);
    const gate = catalogGate({ access: access(false), decide: () => read, resolve: async () => found });
    expect(await gate.beforeRun(read, 'SELECT * FROM s')).toEqual({ code: '42P01', message: 'relation "s" does not exist' });
    found = new Map([['public.s', { oid: 17000, temporary: true }]]);
    // A temporary table this session did not create through Verdict (a function made it): not its own.
    expect((await gate.beforeRun(read, 'SELECT * FROM s'))?.message).toMatch(/public\.s is not in Verdict's catalog/);
    expect(gate.beforeRun(create, 'CREATE TEMP TABLE s (a int)')).toBeNull();
    expect(await gate.beforeRun(read, 'SELECT * FROM s')).toBeNull();
    expect(gate.knownOrigin(17000, 1)).toBe(true);
    const aborted = catalogGate({ access: access(false), decide: () => read, resolve: async () => Promise.reject(new FailedTransaction('aborted')) });
    expect(aborted.beforeRun(create, 'CREATE TEMP TABLE s (a int)')).toBeNull();
    expect((await aborted.beforeRun(read, 'SELECT * FROM s'))?.code).toBe('25P02');
    expect(gate.knownOrigin(17001, 1)).toBe(false);
    expect(gate.knownOrigin(16400, 2)).toBe(true);
    expect(gate.knownOrigin(16400, 3)).toBe(false); // a column added behind Verdict's back
    expect(gate.knownOrigin(1259, 1)).toBe(true); // pg_class: the cluster's own
  });
});

describe('result-time ground truth (ResponseTracker.knownOrigin)', () => {
  const known = (oid: number, attnum: number) => oid < 16384 || CATALOG.columns.has(`${oid}:${attnum}`);
  const select = analysis('SELECT', { reads: [reads('late_view')] });

  it('simple Query: a column from an unknown relation makes every value of its rows NULL, and says so', () => {
    const stream = Buffer.concat([describedFrom([[16400, 1], [17777, 2]]), dataRow(['1', '123-45-6789']), commandComplete('SELECT 1'), ready('I')]);
    for (let i = 0; i <= stream.length; i++) {
      const t = new ResponseTracker(new SessionModel(() => null));
      const told: number[] = [];
      t.knownOrigin = known;
      t.onUnknownOrigin = (oid) => told.push(oid);
      t.push({ type: 'query', verdict: verdictOf(select), own: [{ plan: null, scrub: false, ref: null }] });
      const out = Buffer.concat([t.transform(stream.subarray(0, i)), t.transform(stream.subarray(i))]);
      expect(parseAll(out).filter((m) => m.name === 'dataRow').map((m) => m.fields)).toEqual([[null, null]]);
      expect(told).toEqual([17777]);
    }
  });

  it('known origins and computed columns (OID 0) pass as they are', () => {
    const t = new ResponseTracker(new SessionModel(() => null));
    t.knownOrigin = known;
    t.push({ type: 'query', verdict: verdictOf(select), own: [{ plan: null, scrub: false, ref: null }] });
    const out = t.transform(Buffer.concat([describedFrom([[16400, 1], [0, 0], [1259, 1]]), dataRow(['1', '2', '3']), commandComplete('SELECT 1'), ready('I')]));
    expect(parseAll(out).filter((m) => m.name === 'dataRow').map((m) => m.fields)).toEqual([['1', '2', '3']]);
  });

  it('extended protocol: a Describe of the portal with an unknown origin makes its execution send NULLs', () => {
    const t = new ResponseTracker(new SessionModel(() => null));
    t.knownOrigin = known;
    const v = verdictOf(select);
    const portal = { verdict: v, index: 0, plan: null, scrub: false, cursor: false, holdable: false, uncommitted: false };
    t.push({ type: 'parse', name: '', entry: { verdict: v, index: 0, sql: 'SELECT * FROM late_view', source: 'protocol' } });
    t.push({ type: 'bind', portal: '', entry: portal });
    t.push({ type: 'describe', target: 'P', name: '' });
    t.push({ type: 'execute', portal: '' });
    t.push({ type: 'sync' });
    const out = t.transform(Buffer.concat([msg('1', Buffer.alloc(0)), msg('2', Buffer.alloc(0)), describedFrom([[17777, 1]]), dataRow(['Ada Lovelace']), commandComplete('SELECT 1'), ready('I')]));
    expect(parseAll(out).filter((m) => m.name === 'dataRow').map((m) => m.fields)).toEqual([[null]]);
  });
});
