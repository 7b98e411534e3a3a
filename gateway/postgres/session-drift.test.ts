// The kinds of session-model drift public bug reports show in PostgreSQL proxies, each tried as bob (who sees
// PHI masked) against a real PostgreSQL through the gateway: server-owned names, which response belongs to
// which statement, settings that change how text is read or whose rights apply, a server that does more
// than was decided — and the evidence each leaves. Every byte bob receives is scanned for raw values.
import { join } from 'node:path';
import { readFileSync, readdirSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../testing/stack.ts';
import { verifyRepository } from '../evidence/verify.ts';
import { Backend, connectGateway, errorsIn, exchange, leaksIn, rowsIn, frontend, type WireClient } from '../testing/wire-client.ts';
import { SECRETS } from '../testing/session-model.ts';

const run = promisify(execFile);

const SEED = `
CREATE TABLE scratch(a int, b text);
CREATE TABLE scratch_rule(a int);
CREATE ROLE verdict_contractor NOLOGIN;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO verdict_contractor;
GRANT ALL ON scratch, scratch_rule, visits TO verdict_contractor;
-- A rule that makes an INSERT also return rows: the server does more than the statement says.
CREATE RULE leak AS ON INSERT TO scratch_rule DO ALSO SELECT ssn, name FROM patients;
CREATE FUNCTION open_named(n text) RETURNS refcursor LANGUAGE plpgsql AS $$
  DECLARE c refcursor := n; BEGIN OPEN c FOR SELECT ssn, name FROM patients; RETURN c; END $$;
GRANT EXECUTE ON FUNCTION open_named(text) TO PUBLIC;
`;

let stack: TestStack;

beforeAll(async () => {
  stack = await startStack({}, { seedSql: SEED, roleByGroup: { contractors: 'verdict_contractor' } });
}, 120_000);
afterAll(async () => stack?.stop());

async function session(user = 'bob'): Promise<WireClient> {
  const { host, port, database, password } = await stack.client(user);
  return connectGateway({ host, port, user, database, password });
}


const leaks = (c: WireClient) => leaksIn(c, SECRETS);

const errors = errorsIn;
const rows = rowsIn;

describe('server-owned names', () => {
  it('a DECLARE the server rejects does not replace the cursor the server keeps', async () => {
    const c = await session();
    try {
      await exchange(c, [frontend.query('DECLARE c1 CURSOR WITH HOLD FOR SELECT ssn, name FROM patients')]);
      const again = await exchange(c, [frontend.query("DECLARE c1 CURSOR WITH HOLD FOR SELECT 'a'::text, 'b'::text")]);
      expect(errors(again)).toEqual(['42P03']);
      const fetched = await exchange(c, [frontend.query('FETCH ALL FROM c1')]);
      expect(rows(fetched)).toHaveLength(6);
      expect(rows(fetched)[0]).toEqual(['***-**-6789', '[REDACTED]']);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('a SQL PREPARE and a protocol Bind share one namespace: the Bind runs under the PREPARE decision', async () => {
    const c = await session();
    try {
      await exchange(c, [frontend.query('PREPARE p2 AS SELECT ssn, name FROM patients')]);
      const out = await exchange(c, [frontend.bind('', 'p2', [], []), frontend.execute('', 0), frontend.sync()]);
      expect(errors(out)).toEqual([]);
      expect(rows(out)).toHaveLength(6);
      expect(rows(out)[0]).toEqual(['***-**-6789', '[REDACTED]']);
      // and a protocol Parse is executable with SQL EXECUTE, masked the same way
      await exchange(c, [frontend.parse('pp', 'SELECT name FROM patients WHERE id = 1'), frontend.sync()]);
      const executed = await exchange(c, [frontend.query('EXECUTE pp')]);
      expect(rows(executed)).toEqual([['[REDACTED]']]);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('a PREPARE the server rejects keeps the first plan; DEALLOCATE and DISCARD ALL forget names', async () => {
    const c = await session();
    try {
      await exchange(c, [frontend.query('PREPARE p3 AS SELECT ssn FROM patients')]);
      const dup = await exchange(c, [frontend.query("PREPARE p3 AS SELECT 'x'::text")]);
      expect(errors(dup)).toEqual(['42P05']);
      expect(rows(await exchange(c, [frontend.query('EXECUTE p3')]))[0]).toEqual(['***-**-6789']);
      await exchange(c, [frontend.query('DEALLOCATE p3')]);
      const gone = await exchange(c, [frontend.bind('', 'p3', [], []), frontend.execute('', 0), frontend.sync()]);
      expect(errors(gone)).toEqual(['42501']); // unknown to the model: refused before the server sees it
      await exchange(c, [frontend.query('PREPARE p4 AS SELECT ssn FROM patients; DECLARE c4 CURSOR WITH HOLD FOR SELECT ssn FROM patients')]);
      await exchange(c, [frontend.query('DISCARD ALL')]);
      expect(errors(await exchange(c, [frontend.query('EXECUTE p4')]))).toEqual(['42501']);
      expect(errors(await exchange(c, [frontend.query('FETCH ALL FROM c4')]))).toEqual(['42501']);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('CREATE TABLE AS EXECUTE of a masked prepared statement is refused: the copy would hold raw values', async () => {
    const c = await session();
    try {
      await exchange(c, [frontend.query('PREPARE p6 AS SELECT ssn FROM patients')]);
      expect(errors(await exchange(c, [frontend.query('CREATE TEMP TABLE t6 AS EXECUTE p6')]))).toEqual(['42501']);
      expect(errors(await exchange(c, [frontend.query('CREATE TEMP TABLE t7 AS EXECUTE nosuch')]))).toEqual(['42501']);
      expect(errors(await exchange(c, [frontend.query('SELECT * FROM t6')]))).toEqual(['42P01']);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('a protocol Execute of a SQL cursor is masked by the cursor’s plan', async () => {
    const c = await session();
    try {
      await exchange(c, [frontend.query('BEGIN; DECLARE c5 CURSOR FOR SELECT id, ssn FROM patients')]);
      const out = await exchange(c, [frontend.describe('P', 'c5'), frontend.execute('c5', 2), frontend.execute('c5', 0), frontend.sync()]);
      expect(errors(out)).toEqual([]);
      expect(rows(out)).toHaveLength(6);
      expect(rows(out).every((r) => r![1]!.startsWith('***-**-'))).toBe(true);
      await exchange(c, [frontend.query('COMMIT')]);
      // the transaction closed c5: a new cursor of that name opened by a function is not the old one
      await exchange(c, [frontend.query("SELECT open_named('c5')")]);
      const after = await exchange(c, [frontend.execute('c5', 0), frontend.sync()]);
      expect(rows(after)).toEqual([]);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('a portal opened behind the gateway’s back is refused, through SQL and through the protocol', async () => {
    const c = await session();
    try {
      await exchange(c, [frontend.query('BEGIN')]);
      await exchange(c, [frontend.query("SELECT open_named('hidden')")]);
      expect(errors(await exchange(c, [frontend.query('FETCH ALL FROM hidden')]))).toEqual(['42501']);
      await exchange(c, [frontend.query('ROLLBACK; BEGIN')]);
      await exchange(c, [frontend.query("SELECT open_named('hidden2')")]);
      const viaProtocol = await exchange(c, [frontend.describe('P', 'hidden2'), frontend.execute('hidden2', 0), frontend.sync()]);
      expect(rows(viaProtocol)).toEqual([]);
      expect(errors(viaProtocol)).toContain('42501');
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });
});

describe('which response belongs to which statement', () => {
  it('libpq-style COPY in the extended protocol (Sync right after Execute) keeps the next SELECT masked', async () => {
    const c = await session();
    try {
      const copy = await exchange(
        c,
        [
          frontend.parse('', 'COPY scratch FROM STDIN'),
          frontend.bind('', '', [], []),
          frontend.describe('P', ''),
          frontend.execute('', 0),
          frontend.sync(),
          frontend.copyData('1\tone\n2\ttwo\n'),
          frontend.copyDone(),
          frontend.sync(),
        ],
        1,
      );
      expect(copy.map((m) => m.type)).toEqual([Backend.ParseComplete, Backend.BindComplete, Backend.NoData, Backend.CopyInResponse, Backend.CommandComplete, Backend.ReadyForQuery]);
      const select = await exchange(c, [frontend.query('SELECT ssn, name FROM patients')]);
      expect(rows(select)[0]).toEqual(['***-**-6789', '[REDACTED]']);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('a COPY that fails on its data, then a Sync sent during copy-in, still leaves every answer in place', async () => {
    const c = await session();
    try {
      const out = await exchange(c, [frontend.query('COPY scratch FROM STDIN'), frontend.copyData('oops\tz\n'), frontend.sync(), frontend.query('SELECT ssn FROM patients')], 3);
      expect(errors(out)).toEqual(['22P02']);
      expect(rows(out)).toHaveLength(6);
      expect(rows(out).every((r) => r![0]!.startsWith('***-**-'))).toBe(true);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('an error mid-batch skips to Sync, including messages that arrive after the error', async () => {
    const c = await session();
    try {
      const out = await exchange(c, [
        frontend.parse('', 'SELECT 1/0'),
        frontend.bind('', '', [], []),
        frontend.execute('', 0),
        frontend.parse('s2', "SELECT 'a'::text"),
        frontend.sync(),
        frontend.query('SELECT ssn FROM patients'),
      ], 2);
      expect(errors(out)).toEqual(['22012']);
      expect(rows(out).every((r) => r![0]!.startsWith('***-**-'))).toBe(true);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });
});

describe('settings that change how text is read, or whose rights apply', () => {
  it('refuses standard_conforming_strings = off, so a quote trick cannot hide a DELETE', async () => {
    const c = new pg.Client(await stack.client('bob'));
    await c.connect();
    try {
      const before = (await c.query('SELECT count(*)::int AS n FROM visits')).rows[0].n as number;
      await expect(c.query('SET standard_conforming_strings = off')).rejects.toMatchObject({ code: '42501' });
      await expect(c.query("SELECT set_config('standard_conforming_strings', 'off', false)")).rejects.toMatchObject({ code: '42501' });
      await expect(c.query("DO $$ BEGIN SET standard_conforming_strings = off; END $$")).rejects.toMatchObject({ code: '42501' });
      // With standard_conforming_strings on (the only value the session may have) this is one string literal.
      const literal = await c.query("SELECT '\\''; DELETE FROM visits; -- ' AS s");
      expect(literal.rows).toEqual([{ s: "\\'; DELETE FROM visits; -- " }]);
      expect((await c.query('SELECT count(*)::int AS n FROM visits')).rows[0].n).toBe(before);
      await c.query('SET standard_conforming_strings = on'); // the value the analysis assumes stays allowed
      await expect(c.query("SET client_encoding TO 'SJIS'")).rejects.toMatchObject({ code: '42501' });
      await c.query("SET client_encoding TO 'UTF8'");
    } finally {
      await c.end();
    }
  });

  it('DISCARD ALL and RESET ROLE keep the role the gateway chose for the identity', async () => {
    const c = new pg.Client(await stack.client('bob'));
    await c.connect();
    try {
      expect((await c.query('SELECT current_user AS u')).rows).toEqual([{ u: 'verdict_contractor' }]);
      await c.query('DISCARD ALL');
      expect((await c.query('SELECT current_user AS u')).rows).toEqual([{ u: 'verdict_contractor' }]);
      await c.query('RESET ALL');
      expect((await c.query('SELECT current_user AS u')).rows).toEqual([{ u: 'verdict_contractor' }]);
      await expect(c.query('RESET ROLE')).rejects.toMatchObject({ code: '42501' });
    } finally {
      await c.end();
    }
  });

  it('refuses a session whose upstream starts with settings the analysis cannot read under', async () => {
    await stack.pg.exec(`ALTER ROLE ${stack.pg.user} SET standard_conforming_strings = off`);
    try {
      const c = new pg.Client(await stack.client('alice'));
      await expect(c.connect()).rejects.toMatchObject({ code: '08006', message: expect.stringContaining('standard_conforming_strings') });
    } finally {
      await stack.pg.exec(`ALTER ROLE ${stack.pg.user} RESET standard_conforming_strings`);
    }
  });
});

describe('the server did more than was decided', () => {
  it('rows returned by an INSERT (a rule) end the session instead of reaching the client', async () => {
    const c = await session();
    try {
      const out = await exchange(c, [frontend.query('INSERT INTO scratch_rule VALUES (1)')]);
      expect(out.find((m) => m.type === Backend.ErrorResponse)).toMatchObject({ severity: 'FATAL', sqlstate: 'XX000' });
      expect(rows(out)).toEqual([]);
      expect(c.closed || (await c.until(() => false, 500)) === 'closed').toBe(true);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });
});

describe('evidence for every decided message', () => {
  it('records refusals (FunctionCall, unknown portals), executions of SQL cursors, real SQLSTATEs and breaches', async () => {
    const c = await session();
    // FunctionCall of pg_backend_pid (OID 2026): refused, and recorded.
    const fn = Buffer.alloc(15);
    fn[0] = 0x46;
    fn.writeUInt32BE(14, 1);
    fn.writeUInt32BE(2026, 5);
    fn.writeUInt16BE(0, 9);
    fn.writeUInt16BE(0, 11);
    fn.writeUInt16BE(0, 13);
    expect(errors(await exchange(c, [fn]))).toEqual(['42501']);
    expect(errors(await exchange(c, [frontend.query('SELECT 1/0')]))).toEqual(['22012']);
    await exchange(c, [frontend.query('BEGIN; DECLARE ev CURSOR FOR SELECT id FROM visits')]);
    await exchange(c, [frontend.execute('ev', 0), frontend.sync()]);
    await exchange(c, [frontend.execute('nosuch', 0), frontend.sync()]);
    await exchange(c, [frontend.query('COMMIT')]);
    c.close();
    await new Promise((r) => setTimeout(r, 200));
    await stack.gateway.close(); // seals and publishes
    const clone = join(stack.dir, 'drift-clone');
    await run('git', ['clone', '-q', join(stack.dir, 'evidence', 'repo'), clone]);
    const verified = await verifyRepository(clone); // the new event types verify like the others
    expect(verified.findings).toEqual([]);
    expect(verified.ok).toBe(true);
    const events = readdirSync(clone, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.jsonl') && !e.parentPath.includes('.git'))
      .flatMap((e) => readFileSync(join(e.parentPath, e.name), 'utf8').trim().split('\n'))
      .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
    const statements = events.filter((e) => e.type === 'statement').map((e) => e.data);
    const results = events.filter((e) => e.type === 'statement_result').map((e) => e.data);
    const resultOf = (decisionId: unknown) => results.filter((r) => r.decision_id === decisionId);

    const fnCall = statements.find((s) => String(s.text).startsWith('FunctionCall'));
    expect(fnCall).toMatchObject({ action: 'deny', text: 'FunctionCall (function OID 2026)' });
    expect(resultOf(fnCall!.decision_id)).toEqual([expect.objectContaining({ outcome: 'refused', sqlstate: '42501' })]);

    const divides = statements.filter((s) => s.text === 'SELECT 1/0'); // a Parse in an earlier test (fails at Bind), and a Query
    expect(divides).toHaveLength(2);
    for (const d of divides) expect(resultOf(d.decision_id)).toEqual([expect.objectContaining({ outcome: 'error', sqlstate: '22012' })]);

    const declare = statements.find((s) => String(s.text).startsWith('DECLARE ev'));
    expect(resultOf(declare!.decision_id).map((r) => r.command_tag)).toEqual(['DECLARE CURSOR', 'SELECT 6']);

    const unknownPortal = statements.find((s) => s.text === 'Execute of portal "nosuch"');
    expect(resultOf(unknownPortal!.decision_id)).toEqual([expect.objectContaining({ outcome: 'refused' })]);

    // The INSERT whose rule returned rows: the breach is on record.
    expect(events.filter((e) => e.type === 'session_breach').map((e) => e.data.reason)).toEqual([expect.stringContaining('rows')]);
  });
});
