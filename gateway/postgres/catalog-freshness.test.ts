// Catalog freshness: relations made, replaced or renamed directly on PostgreSQL after the gateway read its catalog
// must never be taken for unclassified tables. Each case changes the upstream behind Verdict's back (stack.pg), then
// reads through Verdict as bob (a contractor: PHI masked) with node-postgres (extended protocol) and psql (simple
// protocol); no raw value may arrive. alice (a clinician) is the control: she sees names.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideLocally } from '../approvals/local.ts';
import { evidenceEvents, type EvidenceLine } from '../testing/evidence.ts';
import { startStack, type TestStack } from '../testing/stack.ts';
import { upstreamTarget } from '../server.ts';
import { connectUpstream } from '../upstream/postgres/upstream.ts';
import { loadRelationCatalog, versionChecker } from './catalog-freshness.ts';

const run = promisify(execFile);

/** Raw values seeded by gateway/demo/clinic.sql that bob must never receive. */
const SECRETS = ['123-45-6789', '234-56-7890', '345-67-8901', 'Ada Lovelace', 'Alan Turing', 'Grace Hopper'];

const SEED = `
CREATE VIEW swap_view AS SELECT id::text AS v FROM patients;
CREATE VIEW cor_view AS SELECT id::text AS v FROM patients;
CREATE TABLE notes_t (id int, note text);
CREATE VIEW who_view AS SELECT id, name AS who FROM patients;
CREATE FUNCTION harmless() RETURNS SETOF text LANGUAGE sql AS 'SELECT id::text FROM patients';
CREATE VIEW fn_view AS SELECT harmless() AS v;
INSERT INTO notes_t VALUES (1, 'nothing here');
GRANT SELECT ON swap_view, cor_view, notes_t, fn_view, who_view TO PUBLIC;
`;

let stack: TestStack;

beforeAll(async () => {
  stack = await startStack({}, { seedSql: SEED });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
});

/** Runs `sql` directly on the upstream, as someone who bypasses Verdict would. */
const behindTheBack = (sql: string) => stack.pg.exec(sql);

interface Outcome {
  rows: unknown[][];
  error: { code: string; message: string } | null;
}

/** `sql` through Verdict with node-postgres over the extended protocol. */
async function viaPg(user: string, sql: string): Promise<Outcome> {
  const c = new pg.Client(await stack.client(user));
  c.on('error', () => undefined);
  await c.connect();
  try {
    // Parse / Bind / Describe / Execute / Sync, as node-postgres sends any query with parameters.
    const r = await c.query({ text: sql, rowMode: 'array', queryMode: 'extended' } as pg.QueryConfig & { queryMode: 'extended' });
    return { rows: r.rows as unknown[][], error: null };
  } catch (err) {
    const e = err as { code: string; message: string };
    return { rows: [], error: { code: e.code, message: e.message } };
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function viaPsql(user: string, sql: string): Promise<{ out: string; err: string }> {
  const url = await stack.url(user);
  const r = await run('psql', [url, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: { ...process.env, PGGSSENCMODE: 'disable', PGCONNECT_TIMEOUT: '10', PGAPPNAME: '' } }).catch(
    (e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
  return { out: r.stdout, err: r.stderr };
}

/** Runs `steps` while carol approves every pending request (DDL, temporary tables included, needs approval). */
async function approving<T>(steps: () => Promise<T>): Promise<T> {
  const dir = join(stack.dir, 'approvals');
  const carol = { sub: 'user:carol', username: 'carol', groups: ['phi-approvers'] };
  const timer = setInterval(() => {
    for (const f of readdirSync(dir)) {
      const id = /^(req-[0-9a-z]+)\.request\.json$/.exec(f)?.[1];
      if (id && !existsSync(join(dir, `${id}.decision.json`))) void decideLocally(dir, id, 'approved', carol).catch(() => undefined);
    }
  }, 50);
  try {
    return await steps();
  } finally {
    clearInterval(timer);
  }
}

async function viaPsqlScript(user: string, commands: string[]): Promise<{ out: string; err: string }> {
  const url = await stack.url(user);
  const args = [url, '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', ...commands.flatMap((c) => ['-c', c])];
  const r = await run('psql', args, { env: { ...process.env, PGGSSENCMODE: 'disable', PGCONNECT_TIMEOUT: '10', PGAPPNAME: '' } }).catch((e: { stdout?: string; stderr?: string }) => ({
    stdout: e.stdout ?? '',
    stderr: e.stderr ?? '',
  }));
  return { out: r.stdout, err: r.stderr };
}

const leaked = (text: string) => SECRETS.filter((s) => text.includes(s));

describe('a relation made after the gateway started', () => {
  it('a view over PHI: select *, named columns — masked for bob (pg and psql), shown to alice', async () => {
    await behindTheBack('CREATE VIEW late_view AS SELECT name, ssn FROM patients; GRANT SELECT ON late_view TO PUBLIC');
    const star = await viaPg('bob', 'SELECT * FROM late_view');
    expect(star.error).toBeNull(); // re-read on demand: known and followed, not refused
    expect(star.rows.length).toBeGreaterThan(0);
    expect(leaked(JSON.stringify(star.rows))).toEqual([]);
    const named = await viaPg('bob', 'SELECT name, ssn FROM late_view');
    expect(named.rows.length).toBe(star.rows.length);
    expect(leaked(JSON.stringify(named.rows))).toEqual([]);
    const psql = await viaPsql('bob', 'SELECT * FROM late_view');
    expect(psql.out.trim().split('\n').length).toBe(star.rows.length);
    expect(leaked(psql.out + psql.err)).toEqual([]);
    // The control: alice sees the names (the view is followed to patients, not blanked).
    const alice = await viaPg('alice', 'SELECT name FROM late_view ORDER BY name');
    expect(alice.error).toBeNull();
    expect(alice.rows.flat()).toContain('Ada Lovelace');
  });

  it('a predicate oracle over a late view is decided as the same predicate over patients', async () => {
    await behindTheBack('CREATE VIEW late_oracle AS SELECT name, ssn FROM patients; GRANT SELECT ON late_oracle TO PUBLIC');
    const direct = await viaPg('bob', "SELECT count(*) FROM patients WHERE ssn LIKE '1%'");
    const late = await viaPg('bob', "SELECT count(*) FROM late_oracle WHERE ssn LIKE '1%'");
    expect(late.error?.code ?? null).toBe(direct.error?.code ?? null);
    expect(late.rows).toEqual(direct.rows);
    const psqlDirect = await viaPsql('bob', "SELECT count(*) FROM patients WHERE ssn LIKE '1%'");
    const psqlLate = await viaPsql('bob', "SELECT count(*) FROM late_oracle WHERE ssn LIKE '1%'");
    expect(psqlLate.out).toBe(psqlDirect.out);
    expect(psqlLate.err.replace(/decision [0-9a-f-]+/g, '')).toBe(psqlDirect.err.replace(/decision [0-9a-f-]+/g, ''));
  });

  it('a relation that does not exist at all gets what PostgreSQL says (42P01), and the session goes on', async () => {
    const direct = await stack.pg.exec('SELECT * FROM no_such_relation').then(() => null, (e: { code: string; message: string }) => e);
    const c = new pg.Client(await stack.client('bob'));
    await c.connect();
    try {
      const err = await c.query('SELECT * FROM no_such_relation').then(() => null, (e: { code: string; message: string }) => e);
      expect({ code: err?.code, message: err?.message }).toEqual({ code: direct?.code, message: direct?.message });
      expect(err?.code).toBe('42P01');
      expect((await c.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      // In a failed transaction PostgreSQL would refuse it anyway: the same answer.
      await c.query('BEGIN');
      await c.query('SELECT 1 / 0').catch(() => undefined);
      const aborted = await c.query('SELECT * FROM also_missing').then(() => null, (e: { code: string }) => e);
      expect(aborted?.code).toBe('25P02');
      await c.query('ROLLBACK');
    } finally {
      await c.end();
    }
    const psql = await viaPsql('bob', 'SELECT * FROM no_such_relation');
    expect(psql.err).toMatch(/relation "no_such_relation" does not exist/);
  });

  it('a relation that exists but is not in the catalog even re-read (a temporary table a function made) is refused (42501)', async () => {
    await behindTheBack(`CREATE FUNCTION make_temp() RETURNS int LANGUAGE plpgsql AS $$ BEGIN CREATE TEMP TABLE made_by_fn AS SELECT id FROM patients; RETURN 1; END $$`);
    const c = new pg.Client(await stack.client('alice'));
    c.on('notice', () => undefined);
    await c.connect();
    try {
      const made = await approving(() => c.query('SELECT make_temp()')).then(() => 'ok', (e: Error) => e.message);
      expect(made).toBe('ok'); // approved: it makes a temporary table Verdict did not see made
      const err = await c.query('SELECT * FROM made_by_fn').then(() => null, (e: { code: string; message: string }) => e);
      expect(err?.code).toBe('42501');
      expect(err?.message).toMatch(/postgres\.uncataloged_relation/);
      // Recorded as evidence: a denial under the rule, with the statement's text.
      const decision = /decision ([0-9a-f-]{36})/.exec(String((err as { detail?: string } | null)?.detail))?.[1];
      expect(decision).toBeDefined();
      let recorded: EvidenceLine | undefined;
      for (let i = 0; i < 50 && !recorded; i++) {
        recorded = evidenceEvents(join(stack.dir, 'evidence')).find((e) => e.type === 'statement' && e.data.decision_id === decision);
        if (!recorded) await new Promise((r) => setTimeout(r, 100));
      }
      expect(recorded?.data).toMatchObject({ text: 'SELECT * FROM made_by_fn', action: 'deny', reasons: [{ rule: 'postgres.uncataloged_relation' }] });
    } finally {
      await c.end();
    }
  });
});

describe('a function made or replaced after the gateway started', () => {
  it('a new SQL function over PHI is re-read and traced (pg and psql); one that does not exist gets 42883', async () => {
    await behindTheBack(`CREATE FUNCTION late_fn() RETURNS SETOF text LANGUAGE sql AS 'SELECT ssn FROM patients'`);
    const r = await viaPg('bob', 'SELECT * FROM late_fn()');
    expect(leaked(JSON.stringify(r))).toEqual([]);
    expect(r.error).toBeNull();
    expect(r.rows.length).toBe(6);
    const one = await viaPsql('bob', 'SELECT late_fn() LIMIT 1');
    expect(leaked(one.out + one.err)).toEqual([]);
    expect(one.out.trim()).not.toBe('');
    const alice = await viaPg('alice', 'SELECT count(*)::int FROM late_fn()');
    expect(alice).toEqual({ rows: [[6]], error: null });
    const missing = await viaPg('bob', 'SELECT no_such_fn()');
    expect(missing.error?.code).toBe('42883');
  });

  it('a PL/pgSQL function over PHI made behind Verdict is never passed raw', async () => {
    await behindTheBack(`CREATE FUNCTION late_pl() RETURNS SETOF text LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY SELECT ssn FROM patients; END $$`);
    const r = await viaPg('bob', 'SELECT * FROM late_pl()');
    expect(leaked(JSON.stringify(r))).toEqual([]);
    const psql = await viaPsql('bob', 'SELECT * FROM late_pl()');
    expect(leaked(psql.out + psql.err)).toEqual([]);
  });

  it('CREATE OR REPLACE FUNCTION: a function over id made one over ssn, called directly and through a view', async () => {
    expect(leaked(JSON.stringify(await viaPg('bob', 'SELECT * FROM harmless()')))).toEqual([]);
    expect((await viaPg('bob', 'SELECT v FROM fn_view')).rows.length).toBe(6);
    await behindTheBack(`CREATE OR REPLACE FUNCTION harmless() RETURNS SETOF text LANGUAGE sql AS 'SELECT ssn FROM patients'`);
    const direct = await viaPg('bob', 'SELECT * FROM harmless()');
    expect(leaked(JSON.stringify(direct))).toEqual([]);
    expect(direct.rows.length).toBe(6);
    const view = await viaPg('bob', 'SELECT v FROM fn_view');
    expect(leaked(JSON.stringify(view))).toEqual([]);
    const psql = await viaPsql('bob', 'SELECT v FROM fn_view');
    expect(leaked(psql.out + psql.err)).toEqual([]);
  });
});

describe('a relation replaced under the same name', () => {
  it('DROP + CREATE: a view over id made a view over ssn is judged by its new definition', async () => {
    expect((await viaPg('bob', 'SELECT v FROM swap_view')).rows.length).toBeGreaterThan(0); // judged as the view over id
    await behindTheBack('DROP VIEW swap_view; CREATE VIEW swap_view AS SELECT ssn AS v FROM patients; GRANT SELECT ON swap_view TO PUBLIC');
    const r = await viaPg('bob', 'SELECT v FROM swap_view');
    expect(leaked(JSON.stringify(r))).toEqual([]);
    expect(r.rows.length).toBeGreaterThan(0);
    const psql = await viaPsql('bob', 'SELECT v FROM swap_view');
    expect(leaked(psql.out + psql.err)).toEqual([]);
    expect(psql.out.trim()).not.toBe('');
  });

  it('CREATE OR REPLACE VIEW (same OID, new rule) is judged by its new definition', async () => {
    expect(leaked(JSON.stringify(await viaPg('bob', 'SELECT v FROM cor_view')))).toEqual([]);
    await behindTheBack('CREATE OR REPLACE VIEW cor_view AS SELECT ssn AS v FROM patients');
    const r = await viaPg('bob', 'SELECT v FROM cor_view');
    expect(r.error).toBeNull();
    expect(r.rows.length).toBeGreaterThan(0);
    expect(leaked(JSON.stringify(r.rows))).toEqual([]);
    await behindTheBack('CREATE OR REPLACE VIEW cor_view AS SELECT name AS v FROM patients');
    const psql = await viaPsql('bob', 'SELECT v FROM cor_view');
    expect(leaked(psql.out + psql.err)).toEqual([]);
    expect(psql.out.trim()).not.toBe('');
    // A prepared statement decided on the old definition is not executed under it.
    const c = new pg.Client(await stack.client('bob'));
    await c.connect();
    try {
      await c.query({ name: 'cor', text: 'SELECT v FROM cor_view WHERE $1::int > 0', values: [1] });
      await behindTheBack('CREATE OR REPLACE VIEW cor_view AS SELECT ssn AS v FROM patients');
      const again = await c.query({ name: 'cor', text: 'SELECT v FROM cor_view WHERE $1::int > 0', values: [1], rowMode: 'array' }).then(
        (x) => JSON.stringify(x.rows),
        (e: Error) => e.message,
      );
      expect(leaked(again)).toEqual([]);
    } finally {
      await c.end();
    }
  });

  it('a table renamed away and a view over ssn renamed into its place', async () => {
    expect(await viaPg('bob', 'SELECT note FROM notes_t')).toEqual({ rows: [['nothing here']], error: null });
    await behindTheBack(
      'ALTER TABLE notes_t RENAME TO notes_old; CREATE VIEW notes_new AS SELECT id, ssn AS note FROM patients; ALTER VIEW notes_new RENAME TO notes_t; GRANT SELECT ON notes_t TO PUBLIC',
    );
    const r = await viaPg('bob', 'SELECT note FROM notes_t');
    expect(leaked(JSON.stringify(r))).toEqual([]);
    expect(r.rows.length).toBeGreaterThan(0); // re-read: the view is followed to patients.ssn and masked
    const psql = await viaPsql('bob', 'SELECT * FROM notes_t');
    expect(leaked(psql.out + psql.err)).toEqual([]);
  });
});

describe('columns renamed behind Verdict\'s back (no new relation, no new OID)', () => {
  it('a view over a column whose name changed is judged by the catalog as it is now (pg and psql)', async () => {
    // who_view's column reads patients' column by position: after ssn and name swap names, PostgreSQL itself
    // renders the view as reading ssn, and the classification (by name) says ssn. RENAME COLUMN writes
    // pg_attribute only: the relations' pg_class rows keep their versions.
    const swap = 'ALTER TABLE patients RENAME COLUMN ssn TO tmp_swap; ALTER TABLE patients RENAME COLUMN name TO ssn; ALTER TABLE patients RENAME COLUMN tmp_swap TO name';
    expect(JSON.stringify(await viaPg('alice', 'SELECT who FROM who_view'))).toContain('Ada Lovelace'); // control: names raw for alice
    await behindTheBack(swap);
    try {
      const r = await viaPg('alice', 'SELECT who FROM who_view');
      expect(r.error).toBeNull();
      expect(r.rows.length).toBeGreaterThan(0);
      expect(JSON.stringify(r)).not.toContain('Ada Lovelace'); // an ssn to alice now: masked
      const psql = await viaPsql('alice', 'SELECT who FROM who_view');
      expect(psql.out + psql.err).not.toContain('Ada Lovelace');
    } finally {
      await behindTheBack(swap);
    }
  });
});

describe('legitimate relations the catalog does not hold', () => {
  it("the session's own temporary tables, CTEs, set-returning functions and pg_catalog still work (pg and psql)", async () => {
    const c = new pg.Client(await stack.client('bob'));
    await c.connect();
    try {
      await approving(() => c.query('CREATE TEMP TABLE scratch (a int, b text)'));
      await approving(() => c.query("INSERT INTO scratch VALUES (1, 'one'), (2, 'two')"));
      expect((await c.query('SELECT a, b FROM scratch ORDER BY a')).rows).toEqual([{ a: 1, b: 'one' }, { a: 2, b: 'two' }]);
      expect((await c.query('WITH x AS (SELECT 1 AS n) SELECT n FROM x')).rows).toEqual([{ n: 1 }]);
      expect((await c.query('SELECT count(*)::int AS n FROM generate_series(1, 3)')).rows).toEqual([{ n: 3 }]);
      expect((await c.query("SELECT relname FROM pg_catalog.pg_class WHERE relname = 'patients'")).rows).toEqual([{ relname: 'patients' }]);
      expect((await c.query("SELECT table_name FROM information_schema.tables WHERE table_name = 'patients'")).rows).toEqual([{ table_name: 'patients' }]);
    } finally {
      await c.end();
    }
    const psql = await approving(() => viaPsqlScript('bob', ['CREATE TEMP TABLE s2 AS SELECT 7 AS n', 'SELECT n FROM s2']));
    expect(psql.err).not.toMatch(/ERROR/);
    expect(psql.out.trim().split('\n').pop()).toBe('7');
  });

  it('a temporary table this session failed to create is not taken for its own', async () => {
    const c = new pg.Client(await stack.client('bob'));
    c.on('notice', () => undefined);
    await c.connect();
    try {
      const made = await approving(() => c.query('CREATE TEMP TABLE never_made AS SELECT 1 / 0 AS x')).catch((e: { code: string }) => e.code);
      expect(made).toBe('22012'); // division by zero: nothing was created
      // In the failed transaction? No: it ended with the error (autocommit). The name resolves to nothing.
      const err = await c.query('SELECT x FROM never_made').then(() => null, (e: { code: string; message: string }) => e);
      expect(err?.code).toBe('42P01');
      expect(err?.message).toBe('relation "never_made" does not exist');
    } finally {
      await c.end();
    }
  });

  it('a table holding a copy of PHI (CREATE TABLE AS behind Verdict) is known after a re-read but unclassified', async () => {
    // The catalog can say that phi_copy exists and what its columns are, not that they hold PHI: its lineage was
    // made outside Verdict. Classification is the policy's (policies/classification/data.yaml); until phi_copy is
    // classified, or the policy treats unclassified tables as restricted, its rows pass as any unclassified
    // table's do. What this door guarantees is that it is judged as what it is, never refused as unknown.
    await behindTheBack('CREATE TABLE phi_copy AS SELECT name, ssn FROM patients; GRANT SELECT ON phi_copy TO PUBLIC');
    const r = await viaPg('alice', 'SELECT count(*)::int FROM phi_copy');
    expect(r).toEqual({ rows: [[6]], error: null });
    const bob = await viaPg('bob', 'SELECT ssn FROM phi_copy');
    expect(bob.error?.message ?? '').not.toMatch(/uncataloged/);
  });
});

describe('a read whose answer was shaped by the catalog before a change', () => {
  it('SELECT * over a table that gained a column behind Verdict runs again and gets every column (simple and extended)', async () => {
    // The read is sent while its check runs; the check sees the new column, the catalog is re-read, and the read
    // is decided the same — but its rows have a column its row plan has no place for, so its held answer is
    // dropped unseen and it runs again on the catalog as it is now (not answered with its rows blanked).
    await behindTheBack("CREATE TABLE shape_t (id int, note text); INSERT INTO shape_t VALUES (1, 'nothing here'); GRANT SELECT ON shape_t TO PUBLIC");
    const c = new pg.Client(await stack.client('alice'));
    c.on('error', () => undefined);
    await c.connect();
    try {
      const cases: [string, string | pg.QueryConfig][] = [
        ['extra_simple', 'SELECT * FROM shape_t WHERE id = 1'],
        ['extra_extended', { text: 'SELECT * FROM shape_t WHERE id = $1', values: [1] }],
      ];
      for (const [column, query] of cases) {
        expect((await c.query(query)).rows).toEqual([{ id: 1, note: 'nothing here' }]);
        await behindTheBack(`ALTER TABLE shape_t ADD COLUMN ${column} text DEFAULT 'added behind the back'`);
        try {
          expect((await c.query(query)).rows).toEqual([{ id: 1, note: 'nothing here', [column]: 'added behind the back' }]);
        } finally {
          await behindTheBack(`ALTER TABLE shape_t DROP COLUMN ${column}`);
        }
      }
    } finally {
      await c.end().catch(() => undefined);
      await behindTheBack('DROP TABLE shape_t');
    }
  });
});

describe('the version checker (a connection of the gateway\'s own)', () => {
  /** The clinic upstream's target and its relation catalog as loaded now (over a connection closed after). */
  async function clinicCatalog() {
    const target = upstreamTarget('clinic', stack.config.upstreams.clinic!);
    const conn = await connectUpstream(target);
    try {
      return { target, cat: await loadRelationCatalog(conn) };
    } finally {
      conn.close();
    }
  }

  it('answers concurrent checks, sees a change, reopens a connection the server ended, and closes', async () => {
    const { target, cat } = await clinicCatalog();
    let opened = 0;
    const checker = versionChecker(() => (opened++, connectUpstream(target)), () => cat, 5_000);
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, () => checker.changed(['public.patients', 'public.patient_view'])));
      expect(answers).toEqual(Array(20).fill(false));
      expect(await checker.changed(['public.patients'], ['public.harmless'])).toBe(false);
      // Ended by the server (an administrator, a restart): the next check opens a new connection, or fails closed.
      await behindTheBack("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE '%RECURSIVE named%'");
      await new Promise((r) => setTimeout(r, 200));
      const after = await checker.changed(['public.patients']).catch((e: Error) => e);
      expect(after === false || after instanceof Error).toBe(true);
      expect(await checker.changed(['public.patients'])).toBe(false);
      expect(opened).toBeGreaterThanOrEqual(2);
      await behindTheBack('ALTER TABLE patients ADD COLUMN late_col text');
      expect(await checker.changed(['public.patients'])).toBe(true);
      await behindTheBack('ALTER TABLE patients DROP COLUMN late_col');
    } finally {
      checker.close();
    }
  });

  it('starts a check asked for while another runs on a second connection, and a change before either is seen by both', async () => {
    const { target, cat } = await clinicCatalog();
    let opened = 0;
    const checker = versionChecker(() => (opened++, connectUpstream(target)), () => cat, 5_000, 2);
    const turn = () => new Promise((r) => setImmediate(r));
    try {
      const first = checker.changed(['public.patients']);
      await turn(); // the first check has begun (its connection opening)
      const second = checker.changed(['public.patient_view']);
      expect(await Promise.all([first, second])).toEqual([false, false]);
      expect(opened).toBe(2);
      await behindTheBack('ALTER TABLE patients ADD COLUMN lane_col text');
      const a = checker.changed(['public.patients']);
      await turn();
      const b = checker.changed(['public.patients', 'public.patient_view']); // on the other connection
      expect(await Promise.all([a, b])).toEqual([true, true]);
      expect(opened).toBe(2);
    } finally {
      checker.close();
      await behindTheBack('ALTER TABLE patients DROP COLUMN lane_col');
    }
  });

  it('passes any relation name through its array parameters (quotes, backslashes, commas, braces, spaces, NULL)', async () => {
    const odd = ['we"ird', 'back\\slash', 'a,b', '{braced}', 'two words', 'NULL', 'ümlaut'];
    for (const name of odd) await behindTheBack(`CREATE TABLE "${name.replace(/"/g, '""')}" (id int)`);
    const { target, cat } = await clinicCatalog();
    const checker = versionChecker(() => connectUpstream(target), () => cat, 5_000);
    try {
      const keys = odd.map((n) => `public.${n}`);
      for (const k of keys) expect(cat.relations.has(k)).toBe(true);
      expect(await checker.changed(keys)).toBe(false);
      await behindTheBack(`ALTER TABLE "a,b" ADD COLUMN late int`);
      expect(await checker.changed(keys)).toBe(true);
      expect(await checker.changed(keys.filter((k) => k !== 'public.a,b'))).toBe(false);
    } finally {
      checker.close();
      for (const name of odd) await behindTheBack(`DROP TABLE "${name.replace(/"/g, '""')}"`);
    }
  });
});
