// Adversarial attempts against the PostgreSQL front door, as bob (group contractors: PHI masked, writes that
// change many rows need approval). Each attempt asserts the safe outcome: no seeded raw value in any byte bob
// receives; a write that needs approval did not run without it; the session answers in order or ends with an
// error. Attempts that once succeeded say so and how, and stay as regression tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../testing/stack.ts';
import { Backend, connectGateway, errorsIn, exchange, leaksIn, noticesIn, rowsIn, tagsIn, frontend, type BackendFrame, type WireClient } from '../testing/wire-client.ts';
import { SECRETS } from '../testing/session-model.ts';

let stack: TestStack;
let approvalsDir = '';

beforeAll(async () => {
  // A short hold, so a write that (rightly) waits for approval answers within a test.
  approvalsDir = mkdtempSync(join(tmpdir(), 'verdict-adv-approvals-'));
  stack = await startStack({ approvals: { state_dir: approvalsDir, hold_timeout_seconds: 2 } }, {});
}, 180_000);
afterAll(async () => {
  await stack?.stop();
  if (approvalsDir) rmSync(approvalsDir, { recursive: true, force: true });
});

async function session(user = 'bob'): Promise<WireClient> {
  const { host, port, database, password } = await stack.client(user);
  return connectGateway({ host, port, user, database, password });
}


const leaks = (c: WireClient) => leaksIn(c, SECRETS);

const errors = errorsIn;
const notices = noticesIn;
const rows = rowsIn;
const tags = tagsIn;

/** Rows of visits as the server holds them (read directly, not through the gateway). */
async function visitsDirect(where = 'true'): Promise<number> {
  const c = new pg.Client({ connectionString: stack.pg.url });
  await c.connect();
  try {
    const r = await c.query(`SELECT count(*)::int AS n FROM visits WHERE ${where}`);
    return (r.rows[0] as { n: number }).n;
  } finally {
    await c.end();
  }
}

/**
 * The write did not run: the probe counts no change, or — when a refusal aborted the transaction, so the probe
 * itself failed — no write's CommandComplete came back.
 */
function expectNotRun(changed: number, out: BackendFrame[]): void {
  const writes = tags(out).filter((t) => /^(INSERT|UPDATE|DELETE|MERGE)\b/.test(t ?? ''));
  if (Number.isNaN(changed)) expect(writes).toEqual([]);
  else expect({ changed, writes }).toEqual({ changed: 0, writes: [] });
}

/** Runs `steps` as bob inside BEGIN … ROLLBACK and returns how many original visits the transaction changed. */
async function changedInTransaction(c: WireClient, steps: () => Promise<BackendFrame[]>, probe: string): Promise<{ changed: number; out: BackendFrame[] }> {
  await exchange(c, [frontend.query('BEGIN')]);
  const out = await steps();
  const counted = await exchange(c, [frontend.query(probe)]);
  const n = Number(rows(counted)[0]?.[0] ?? NaN);
  await exchange(c, [frontend.query('ROLLBACK')]);
  return { changed: n, out };
}

describe('blast radius: writes that change many rows wait for approval', () => {
  it('control: an UPDATE of every visit through a WHERE waits for approval and does not run', async () => {
    const c = await session();
    try {
      const before = await visitsDirect("reason = 'ctl'");
      const out = await exchange(c, [frontend.query("UPDATE visits SET reason = 'ctl' WHERE id > 0")]);
      expect(notices(out).join(' ')).toContain('needs approval');
      expect(errors(out)).toEqual(['42501']);
      expect(await visitsDirect("reason = 'ctl'")).toBe(before);
    } finally {
      c.close();
    }
  });

  // Was a bug (fixed; kept as a regression test): MERGE is measured by counting its *source* rows ("each source row acts at most once"), but one source
  // row can match every target row. Reproduction (simple Query, as bob):
  //   MERGE INTO visits v USING (SELECT 1 AS x) s ON true WHEN MATCHED THEN UPDATE SET reason = 'merged'
  // is measured as 1 row (of 6), allowed without approval, and updates all 6 visits.
  // Cause: engine/sql/postgres/blast-radius.ts measurementQuery, case 'MergeStmt' (selectOf over [b.sourceRelation]
  // only, no join with the target on the ON condition).
  it('a MERGE whose one source row matches every target row does not run without approval', async () => {
    const c = await session();
    try {
      const { changed, out } = await changedInTransaction(
        c,
        () => exchange(c, [frontend.query("MERGE INTO visits v USING (SELECT 1 AS x) s ON true WHEN MATCHED THEN UPDATE SET reason = 'merged'")]),
        "SELECT count(*) FROM visits WHERE reason = 'merged'",
      );
      expectNotRun(changed, out);
    } finally {
      c.close();
    }
  });

  // Was a bug (fixed; kept as a regression test): a SQL PREPAREd filtered write is allowed (PREPARE itself runs nothing, so the policy measures nothing),
  // and a protocol Bind of it runs under the PREPARE's decision, which has no `measure`: the Bind is never
  // measured. Reproduction: Query "PREPARE d AS DELETE FROM visits WHERE id > 0"; then Bind('', 'd'),
  // Execute(''), Sync → "DELETE 6" without approval (EXECUTE d is refused, the protocol path is not).
  // Cause: gateway/postgres/session.ts (now session-extended.ts onBind) onReady case 'bind' checks stmt.verdict.decisions[stmt.index].measure of
  // the PREPARE decision, not of the statement it prepares (executedStatement); policies/verdict/approvals.rego
  // executes_nested excludes PREPARE.
  it('a SQL-PREPAREd filtered DELETE bound through the protocol is measured (not run without approval)', async () => {
    const c = await session();
    try {
      const prepared = await exchange(c, [frontend.query('PREPARE bigdel AS DELETE FROM visits WHERE id > 0')]);
      expect(errors(prepared)).toEqual([]);
      const { changed, out } = await changedInTransaction(
        c,
        () => exchange(c, [frontend.bind('', 'bigdel', [], []), frontend.execute('', 0), frontend.sync()]),
        'SELECT 6 - count(*) FROM visits',
      );
      expectNotRun(changed, out);
    } finally {
      c.close();
    }
  });

  // Was a bug (fixed; kept as a regression test): in the extended protocol the count runs at Bind, but a DELETE/UPDATE portal takes its snapshot at
  // Execute. Messages of the same session between Bind and Execute can change what the predicate matches.
  // Reproduction (one pipelined batch, as bob):
  //   Parse d "DELETE FROM visits v USING visits m WHERE m.reason = 'marker' AND m.patient_id = v.patient_id"
  //   Bind p d            -- measured: 0 rows → allowed
  //   Parse i "INSERT INTO visits (patient_id, visit_date, reason) SELECT id, '2026-03-01', 'marker' FROM patients"
  //   Bind '' i; Execute ''   -- an INSERT: never measured
  //   Execute p; Sync     -- deletes every visit (6 originals + 6 markers)
  // Cause: gateway/postgres/session.ts (now session-extended.ts) onReady case 'bind' → measureThenDecide measures at Bind; case 'execute'
  // forwards the Execute of a measured portal without measuring again.
  it('a DELETE portal measured at Bind does not delete what an INSERT between Bind and Execute made it match', async () => {
    const c = await session();
    try {
      const { changed, out } = await changedInTransaction(
        c,
        () =>
          exchange(c, [
            frontend.parse('gapdel', "DELETE FROM visits v USING visits m WHERE m.reason = 'marker' AND m.patient_id = v.patient_id"),
            frontend.bind('gap', 'gapdel', [], []),
            frontend.parse('gapins', "INSERT INTO visits (patient_id, visit_date, reason) SELECT id, '2026-03-01', 'marker' FROM patients"),
            frontend.bind('', 'gapins', [], []),
            frontend.execute('', 0),
            frontend.execute('gap', 0),
            frontend.sync(),
          ]),
        "SELECT 6 - count(*) FROM visits WHERE reason IS DISTINCT FROM 'marker'",
      );
      expect(Number.isNaN(changed) || changed === 0).toBe(true);
      expect(tags(out).filter((t) => /^DELETE\b/.test(t ?? ''))).toEqual([]); // the INSERT ran; the DELETE did not
      expect(errors(out)).toContain('42501');
    } finally {
      c.close();
    }
  });

  it('a protocol DELETE whose Bind parameter makes it match every row waits for approval', async () => {
    const c = await session();
    try {
      const before = await visitsDirect();
      const out = await exchange(c, [frontend.parse('pd', 'DELETE FROM visits WHERE id > $1'), frontend.bind('', 'pd', ['0'], []), frontend.execute('', 0), frontend.sync()]);
      expect(notices(out).join(' ')).toContain('needs approval');
      expect(errors(out)).toContain('42501');
      expect(await visitsDirect()).toBe(before);
    } finally {
      c.close();
    }
  });

  it('WHERE CURRENT OF a cursor over every row changes one row per statement', async () => {
    const c = await session();
    try {
      const { changed, out } = await changedInTransaction(
        c,
        async () => [
          ...(await exchange(c, [frontend.query('DECLARE wc CURSOR FOR SELECT id FROM visits FOR UPDATE')])),
          ...(await exchange(c, [frontend.query('FETCH 3 FROM wc')])),
          ...(await exchange(c, [frontend.query('DELETE FROM visits WHERE CURRENT OF wc')])),
        ],
        'SELECT 6 - count(*) FROM visits',
      );
      expect(tags(out)).toContain('DELETE 1');
      expect(changed).toBeLessThanOrEqual(1);
    } finally {
      c.close();
    }
  });

  // BUG (policy): INSERT … ON CONFLICT DO UPDATE is an UPDATE of every conflicting row, but the policy measures
  // only UPDATE / DELETE / MERGE. Reproduction: "INSERT INTO visits (id, patient_id, visit_date) SELECT g, 1,
  // '2026-01-01' FROM generate_series(1, 6) g ON CONFLICT (id) DO UPDATE SET reason = 'upserted'" updates all 6
  // visits without approval. Cause: policies/verdict/approvals.rego measured_write (kind insert never
  // measured); engine/sql/postgres/blast-radius.ts measurementQuery has no case for InsertStmt with onConflictClause.
  it('an upsert that updates every row does not run without approval', async () => {
    const c = await session();
    try {
      const { changed, out } = await changedInTransaction(
        c,
        () => exchange(c, [frontend.query("INSERT INTO visits (id, patient_id, visit_date) SELECT g, 1, '2026-01-01' FROM generate_series(1, 6) g ON CONFLICT (id) DO UPDATE SET reason = 'upserted'")]),
        "SELECT count(*) FROM visits WHERE reason = 'upserted'",
      );
      expectNotRun(changed, out);
    } finally {
      c.close();
    }
  });
});

describe('session model: names, portals, pipelining', () => {
  // Was a bug (fixed; kept as a regression test): a named Parse of a name that already exists fails on the server (42P05) and leaves the old statement,
  // but a Bind pipelined behind it (after a Sync, so the server runs it) is planned with the *new* Parse's
  // decision. Reproduction (as bob): Parse "dup" "SELECT ssn, name FROM patients"; Sync (masked, confirmed).
  // Then in one write: Parse "dup" "SELECT 'a'::text, 'b'::text"; Sync; Bind '' "dup"; Execute ''; Sync →
  // 42P05 for the Parse, then six raw rows (123-45-6789, Ada Lovelace, …) with no masks.
  // Cause: gateway/postgres/session.ts (now session-extended.ts) statementFor() returns the entry of the newest unanswered Parse of the
  // name without regard to whether it can succeed (a named statement cannot be redefined); onBound() fixes the
  // portal's plan from that entry at push time, and ResponseTracker applies it on BindComplete
  // (SessionModel.bound) even though the Parse it came from failed.
  it('a Bind pipelined behind a failing re-Parse of an existing name keeps the old statement’s masks', async () => {
    const c = await session();
    try {
      await exchange(c, [frontend.parse('dup', 'SELECT ssn, name FROM patients'), frontend.sync()]);
      const out = await exchange(
        c,
        [frontend.parse('dup', "SELECT 'a'::text, 'b'::text"), frontend.sync(), frontend.bind('', 'dup', [], []), frontend.execute('', 0), frontend.sync()],
        2,
      );
      expect(errors(out)[0]).toBe('42P05');
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  // Was a bug (fixed; kept as a regression test): the same with a SQL PREPARE that defines the name first (pipelined, unconfirmed).
  it('a Bind behind a PREPARE and a failing Parse of the same name keeps the PREPARE’s masks', async () => {
    const c = await session();
    try {
      const out = await exchange(
        c,
        [
          frontend.query('PREPARE dup2 AS SELECT ssn, name FROM patients'),
          frontend.parse('dup2', "SELECT 'a'::text, 'b'::text"),
          frontend.sync(),
          frontend.bind('', 'dup2', [], []),
          frontend.execute('', 0),
          frontend.sync(),
        ],
        3,
      );
      expect(errors(out)).toContain('42P05');
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('a named portal re-bound (42P03) and executed after Sync keeps the first portal’s masks', async () => {
    const c = await session();
    try {
      await exchange(c, [frontend.query('BEGIN')]);
      await exchange(c, [frontend.parse('m1', 'SELECT ssn, name FROM patients'), frontend.parse('u1', "SELECT 'a'::text, 'b'::text"), frontend.bind('pp', 'm1', [], []), frontend.sync()]);
      const out = await exchange(c, [frontend.bind('pp', 'u1', [], []), frontend.sync(), frontend.execute('pp', 0), frontend.sync()], 2);
      expect(errors(out)[0]).toBe('42P03'); // and the transaction is aborted: the Execute fails too
      expect(rows(out).every((r) => r[0]!.startsWith('***-**-'))).toBe(true);
      await exchange(c, [frontend.query('ROLLBACK')]);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('a cursor executed with a row limit, then closed and redeclared over PHI in the same pipeline, is masked', async () => {
    const c = await session();
    try {
      await exchange(c, [frontend.query("BEGIN; DECLARE rc CURSOR FOR SELECT 'a'::text, 'b'::text FROM generate_series(1, 5)")]);
      const out = await exchange(
        c,
        [
          frontend.execute('rc', 1),
          frontend.query('CLOSE rc; DECLARE rc CURSOR FOR SELECT ssn, name FROM patients'),
          frontend.execute('rc', 2),
          frontend.execute('rc', 0),
          frontend.sync(),
        ],
        2,
      );
      expect(out.some((m) => m.type === Backend.PortalSuspended)).toBe(true);
      await exchange(c, [frontend.query('COMMIT')]);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('DEALLOCATE and re-PREPARE of a name inside one Query string is masked by the new statement', async () => {
    const c = await session();
    try {
      await exchange(c, [frontend.query("PREPARE rp AS SELECT 'a'::text")]);
      const out = await exchange(c, [frontend.query('DEALLOCATE rp; PREPARE rp AS SELECT ssn FROM patients; EXECUTE rp')]);
      expect(rows(out)).toHaveLength(6);
      const again = await exchange(c, [frontend.bind('', 'rp', [], [1]), frontend.execute('', 0), frontend.sync()]);
      expect(rows(again)).toHaveLength(6);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('DEALLOCATE ALL / CLOSE ALL in a string, then names reused through the protocol, stay masked', async () => {
    const c = await session();
    try {
      await exchange(c, [frontend.query("BEGIN; DECLARE ca CURSOR FOR SELECT 'x'::text; PREPARE pa AS SELECT 'y'::text")]);
      const out = await exchange(c, [
        frontend.query('CLOSE ALL; DEALLOCATE ALL'),
        frontend.parse('pa', 'SELECT ssn FROM patients'),
        frontend.bind('ca', 'pa', [], []),
        frontend.execute('ca', 0),
        frontend.sync(),
        frontend.query('FETCH ALL FROM ca'),
      ], 3);
      expect(rows(out).length).toBeGreaterThan(0);
      await exchange(c, [frontend.query('COMMIT')]);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('ROLLBACK TO SAVEPOINT around a redeclared cursor: the cursor is refused or masked', async () => {
    const c = await session();
    try {
      await exchange(c, [frontend.query("BEGIN; DECLARE sc CURSOR FOR SELECT ssn FROM patients; SAVEPOINT s1; CLOSE sc; DECLARE sc CURSOR FOR SELECT 'x'::text")]);
      await exchange(c, [frontend.query('ROLLBACK TO SAVEPOINT s1')]);
      await exchange(c, [frontend.query('FETCH ALL FROM sc')]);
      await exchange(c, [frontend.execute('sc', 0), frontend.sync()]);
      await exchange(c, [frontend.query('ROLLBACK')]);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('FETCH prepared through the protocol with binary results takes the cursor’s masks', async () => {
    const c = await session();
    try {
      await exchange(c, [frontend.query('BEGIN; DECLARE fc CURSOR FOR SELECT ssn, name, dob, array_agg(diagnosis) OVER () FROM patients')]);
      const out = await exchange(c, [frontend.parse('', 'FETCH ALL FROM fc'), frontend.bind('', '', [], [1]), frontend.execute('', 0), frontend.sync()]);
      await exchange(c, [frontend.query("DECLARE bc BINARY CURSOR FOR SELECT ssn, name, dob, to_jsonb(diagnosis) FROM patients")]);
      await exchange(c, [frontend.parse('', 'FETCH ALL FROM bc'), frontend.bind('', '', [], [0]), frontend.execute('', 0), frontend.sync()]);
      await exchange(c, [frontend.query('ROLLBACK')]);
      expect(errors(out)).toEqual([]);
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('names that look like the gateway’s own (quoted, Unicode-escaped) are refused', async () => {
    const c = await session();
    try {
      const out = await exchange(c, [frontend.query('PREPARE U&"verdict\\005fdenied" AS SELECT ssn FROM patients')]);
      const out2 = await exchange(c, [frontend.query('BEGIN; DECLARE "verdict_denied" CURSOR FOR SELECT ssn FROM patients')]);
      const out3 = await exchange(c, [frontend.query("SELECT 1"), frontend.execute('verdict_denied', 0), frontend.sync()], 2);
      await exchange(c, [frontend.query('ROLLBACK')]);
      expect(errors(out)).toEqual(['42501']);
      expect(errors(out2)).toContain('42501');
      void out3;
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });
});

describe('COPY FROM STDIN pipelining', () => {
  const afterCopy = async (c: WireClient, messages: Buffer[], readies: number) => {
    const out = await exchange(c, messages, readies);
    if (!c.closed) {
      const sel = await exchange(c, [frontend.query('SELECT ssn, name FROM patients')]);
      if (!c.closed) expect(rows(sel).every((r) => (r[0] ?? '***-**-').startsWith('***-**-'))).toBe(true);
    }
    expect(leaks(c)).toEqual([]);
    return out;
  };

  it('a Query sent inside copy-in ends the COPY (or the session), never unmasked', async () => {
    const c = await session();
    try {
      const out = await afterCopy(c, [frontend.query('COPY visits (patient_id, visit_date) FROM STDIN'), frontend.copyData('1\t2026-01-01\n'), frontend.query('SELECT ssn, name FROM patients')], 2);
      expect(errors(out).length).toBeGreaterThan(0);
    } finally {
      c.close();
    }
  });

  it('a bad row, several Syncs and Flushes, CopyFail, then a SELECT, all in one write', async () => {
    const c = await session();
    try {
      await afterCopy(c, [
        frontend.parse('', 'COPY visits (patient_id, visit_date) FROM STDIN'),
        frontend.bind('', '', [], []),
        frontend.execute('', 0),
        frontend.flush(),
        frontend.copyData('x\ty\n'),
        frontend.sync(),
        frontend.flush(),
        frontend.sync(),
        frontend.copyFail('stop'),
        frontend.sync(),
        frontend.query('SELECT ssn, name FROM patients'),
      ], 3);
    } finally {
      c.close();
    }
  });

  it('copy-in data error followed by a protocol SELECT in the same write', async () => {
    const c = await session();
    try {
      await afterCopy(c, [
        frontend.query('COPY visits (patient_id, visit_date) FROM STDIN'),
        frontend.copyData('bad\n'),
        frontend.parse('', 'SELECT ssn, name FROM patients'),
        frontend.bind('', '', [], [1]),
        frontend.execute('', 0),
        frontend.sync(),
      ], 2);
    } finally {
      c.close();
    }
  });

  it('a COPY in an extended batch with Flush and a second COPY behind it', async () => {
    const c = await session();
    try {
      await afterCopy(c, [
        frontend.query('BEGIN'),
        frontend.parse('', 'COPY visits (patient_id, visit_date) FROM STDIN'),
        frontend.bind('', '', [], []),
        frontend.execute('', 0),
        frontend.flush(),
        frontend.copyData('1\t2026-01-01\n'),
        frontend.copyDone(),
        frontend.query('COPY visits (patient_id, visit_date) FROM STDIN; SELECT ssn FROM patients'),
        frontend.copyData('1\t2026-01-01\n'),
        frontend.copyDone(),
        frontend.sync(),
        frontend.query('ROLLBACK'),
      ], 3);
    } finally {
      c.close();
    }
  });
});

describe('settings and roles', () => {
  it.each([
    ["SET standard_conforming_strings = 'of' 'f'"],
    ['SET "standard_conforming_strings" TO off'],
    ['SET LOCAL standard_conforming_strings TO false'],
    ["SET NAMES 'SJIS'"],
    ["SET client_encoding = 'LATIN1'"],
    ['SET search_path TO pg_temp, public'],
    ['SET SESSION search_path = public'],
    ['SET LOCAL ROLE pg_read_all_data'],
    ['SET "role" = pg_read_all_data'],
    ["SELECT pg_catalog.set_config('search_path', 'x', false)"],
    ["SELECT * FROM pg_catalog.set_config('standard_conforming_strings', 'off', false)"],
    ["DO $$ BEGIN PERFORM set_config('standard_conforming_strings', 'off', false); END $$"],
    ["BEGIN; SET TRANSACTION SNAPSHOT '00000003-00000001-1'; COMMIT"],
  ])('%s does not change what the analysis assumes', async (sql) => {
    const c = await session();
    try {
      await exchange(c, [frontend.query(sql)]);
      if (!c.closed) {
        const probe = await exchange(c, [frontend.query("SELECT current_setting('standard_conforming_strings'), current_setting('client_encoding'), current_setting('search_path'), current_user = session_user")]);
        if (!c.closed && rows(probe).length) expect(rows(probe)[0]).toEqual(['on', 'UTF8', '"$user", public', 't']);
      }
      expect(leaks(c)).toEqual([]);
    } finally {
      c.close();
    }
  });
});
