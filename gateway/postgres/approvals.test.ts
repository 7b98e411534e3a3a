// Approvals through the gateway against a real PostgreSQL: hold mode (NOTICE, wait, run once on
// approval, error on rejection, CancelRequest withdraws), rerun mode (error, then the identical
// statement by the same identity runs once; a different statement is not covered).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideLocally, listLocalRequests } from '../approvals/local.ts';
import { startStack, type TestStack } from '../testing/stack.ts';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The fields of a NoticeResponse as node-postgres reports them. */
type Notice = { message?: string; detail?: string; hint?: string };

let stack: TestStack;
const carol = { sub: 'user:carol', username: 'carol', groups: ['phi-approvers'] };

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.stop());

async function connect(user: string, notices: Notice[] = []): Promise<pg.Client> {
  const c = new pg.Client(await stack.client(user));
  c.on('notice', (n) => notices.push(n));
  await c.connect();
  return c;
}

async function upstreamCount(sql: string): Promise<number> {
  const c = new pg.Client({ connectionString: stack.pg.url });
  await c.connect();
  try {
    return (await c.query(sql)).rows[0].n as number;
  } finally {
    await c.end();
  }
}

async function nextRequestId(notices: Notice[]): Promise<string> {
  for (let i = 0; i < 200 && notices.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
  const id = /request (req-[0-9a-z]+)/.exec(notices[0]?.detail ?? '')?.[1];
  if (!id) throw new Error(`no approval notice: ${JSON.stringify(notices)}`);
  return id;
}

describe('hold mode', () => {
  it('waits with a NOTICE, runs once approved by another identity', async () => {
    const notices: Notice[] = [];
    const bob = await connect('bob', notices);
    try {
      const running = bob.query("DELETE FROM visits WHERE reason = 'cough' OR true");
      const id = await nextRequestId(notices);
      expect(notices[0]!.message).toContain('needs approval');
      expect(notices[0]!.hint).toBe(`approve it with: npx verdict approve ${id}`);
      expect(await upstreamCount('SELECT count(*)::int AS n FROM visits')).toBe(6); // not run yet
      await expect(decideLocally(join(stack.dir, 'approvals'), id, 'approved', { sub: 'user:bob', username: 'bob', groups: [] })).rejects.toMatchObject({
        code: 'SELF_APPROVAL',
      });
      await decideLocally(join(stack.dir, 'approvals'), id, 'approved', carol);
      const result = await running;
      expect(result.rowCount).toBe(6);
      expect(await upstreamCount('SELECT count(*)::int AS n FROM visits')).toBe(0);
    } finally {
      await bob.end();
      await stack.pg.exec("INSERT INTO visits (patient_id, visit_date, reason) SELECT 1, '2026-01-01', 'restored' FROM generate_series(1, 6)");
    }
  });

  it('refuses the statement when an approver rejects it', async () => {
    const notices: Notice[] = [];
    const bob = await connect('bob', notices);
    try {
      const running = bob.query('TRUNCATE visits').catch((e: pg.DatabaseError) => e);
      const id = await nextRequestId(notices);
      await decideLocally(join(stack.dir, 'approvals'), id, 'rejected', carol, 'not during clinic hours');
      const err = (await running) as pg.DatabaseError;
      expect(err.code).toBe('42501');
      expect(err.message).toContain(`approval request ${id} was rejected by carol: not during clinic hours`);
      expect(await upstreamCount('SELECT count(*)::int AS n FROM visits')).toBe(6);
      expect((await bob.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      await bob.end();
    }
  });

  it('CancelRequest withdraws a held statement (57014)', async () => {
    const notices: Notice[] = [];
    const bob = await connect('bob', notices);
    try {
      const running = bob.query('DELETE FROM visits').catch((e: pg.DatabaseError) => e);
      const id = await nextRequestId(notices);
      // node-postgres sends CancelRequest with the BackendKeyData the gateway gave it.
      const canceller = new pg.Client(await stack.client('bob'));
      await (canceller as unknown as { cancel(c: pg.Client, q: unknown): void }).cancel(bob, (bob as unknown as { activeQuery: unknown }).activeQuery);
      const err = (await running) as pg.DatabaseError;
      expect(err.code).toBe('57014');
      expect(err.message).toContain(`approval request ${id} was withdrawn`);
      const files = readdirSync(join(stack.dir, 'approvals'));
      expect(files).toContain(`${id}.withdrawn`);
      await expect(decideLocally(join(stack.dir, 'approvals'), id, 'approved', carol)).rejects.toMatchObject({ code: 'ALREADY_DECIDED' });
      expect(await upstreamCount('SELECT count(*)::int AS n FROM visits')).toBe(6);
    } finally {
      await bob.end();
    }
  });
});

describe('hold or rerun, chosen by who is asking', () => {
  it('holds an extended-protocol statement with the NOTICE at once, and runs it once approved', async () => {
    const notices: Notice[] = [];
    const bob = await connect('bob', notices);
    try {
      const started = Date.now();
      const running = bob.query({ text: 'UPDATE visits SET notes = $1', values: ['reviewed'] });
      const id = await nextRequestId(notices);
      expect(Date.now() - started).toBeLessThan(3_000); // the NOTICE does not wait for the hold to end
      expect(notices[0]!.hint).toBe(`approve it with: npx verdict approve ${id}`);
      await decideLocally(join(stack.dir, 'approvals'), id, 'approved', carol);
      expect((await running).rowCount).toBe(6);
      expect(await upstreamCount("SELECT count(*)::int AS n FROM visits WHERE notes = 'reviewed'")).toBe(6);
    } finally {
      await bob.end();
    }
  });

  it('answers a non-interactive client (by application_name) at once with the request; the approved rerun runs once', async () => {
    const job = new pg.Client({ ...(await stack.client('bob')), application_name: 'ci-nightly-cleanup' });
    await job.connect();
    try {
      const sql = "UPDATE visits SET notes = 'archived'";
      const first = (await job.query(sql).catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
      expect(first.code).toBe('42501');
      const id = /Request (req-[0-9a-z]+) was filed/.exec(first.message)?.[1];
      expect(id, first.message).toMatch(/^req-[0-9a-z]+$/);
      expect(first.message).toContain('run the identical statement again');
      expect(await upstreamCount("SELECT count(*)::int AS n FROM visits WHERE notes = 'archived'")).toBe(0);
      await decideLocally(join(stack.dir, 'approvals'), id!, 'approved', carol);
      expect((await job.query(sql)).rowCount).toBe(6);
      expect(await upstreamCount("SELECT count(*)::int AS n FROM visits WHERE notes = 'archived'")).toBe(6);
      const again = (await job.query(sql).catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
      expect(again.code).toBe('42501'); // the approval ran its statement once; this is a new request
      expect(again.message).not.toContain(id!);
    } finally {
      await job.end();
    }
  });
});

describe('approvals sized by the measured blast radius', () => {
  it('holds a filtered write that would change most of the table, runs one that changes a row, refuses one it cannot measure', async () => {
    const notices: Notice[] = [];
    const bob = await connect('bob', notices);
    try {
      // 6 of 6 rows: over the share threshold, though the WHERE is not trivial.
      const running = bob.query("UPDATE visits SET reason = 'checked' WHERE id > 0");
      const id = await nextRequestId(notices);
      expect(notices[0]!.message).toMatch(/would change 6 of the 6 rows of public\.visits/);
      expect(await upstreamCount("SELECT count(*)::int AS n FROM visits WHERE reason = 'checked'")).toBe(0);
      await decideLocally(join(stack.dir, 'approvals'), id, 'approved', carol);
      expect((await running).rowCount).toBe(6);
      // One row: measured under the thresholds, runs at once — in the simple and the extended protocol.
      expect((await bob.query("UPDATE visits SET reason = 'one' WHERE id = (SELECT min(id) FROM visits)")).rowCount).toBe(1);
      expect((await bob.query({ text: 'UPDATE visits SET reason = $1 WHERE id = $2', values: ['two', 2] })).rowCount).toBeLessThanOrEqual(1);
      // The same statement with a parameter that reaches every row is held: measured with the Bind's values.
      notices.length = 0;
      const wide = bob.query({ text: 'UPDATE visits SET reason = $1 WHERE id > $2', values: ['wide', 0] });
      const wideId = await nextRequestId(notices);
      expect(notices[0]!.message).toMatch(/would change 6 of the 6 rows/);
      await decideLocally(join(stack.dir, 'approvals'), wideId, 'rejected', carol, 'too wide');
      await expect(wide).rejects.toMatchObject({ code: '42501' });
      // Unmeasurable: a volatile function in the predicate.
      const err = (await bob.query('DELETE FROM visits WHERE id > random() * 10').catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
      expect(err.code).toBe('42501');
      expect(err.message).toContain('cannot be measured before it runs');
      expect(await upstreamCount('SELECT count(*)::int AS n FROM visits')).toBe(6);
      // A count that fails fails the statement with the server's own error, in and out of a transaction.
      // (bob sees visits' PHI masked: data errors of such a statement come as one generic 22000, text withheld)
      await expect(bob.query("DELETE FROM visits WHERE id = 'x'")).rejects.toMatchObject({ code: '22000' });
      await bob.query('BEGIN');
      expect((await bob.query('DELETE FROM visits WHERE id = -1')).rowCount).toBe(0);
      await expect(bob.query("DELETE FROM visits WHERE id = 'y'")).rejects.toMatchObject({ code: '22000' });
      await bob.query('ROLLBACK');
    } finally {
      await bob.end();
    }
  });
});

describe('CancelRequest for a running query', () => {
  it('is forwarded to the right upstream backend', async () => {
    const alice = await connect('alice');
    try {
      const started = Date.now();
      const running = alice.query('SELECT pg_sleep(20)').catch((e: pg.DatabaseError) => e);
      await new Promise((r) => setTimeout(r, 300));
      const canceller = new pg.Client(await stack.client('alice'));
      (canceller as unknown as { cancel(c: pg.Client, q: unknown): void }).cancel(alice, (alice as unknown as { activeQuery: unknown }).activeQuery);
      const err = (await running) as pg.DatabaseError;
      expect(err.code).toBe('57014');
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await alice.end();
    }
  });
});

describe('catalog refresh after approved DDL', () => {
  it('a view created through the gateway is traced at once: its PHI is masked for others', async () => {
    const notices: Notice[] = [];
    const alice = await connect('alice', notices);
    const creating = alice.query('CREATE VIEW patient_names AS SELECT id, name FROM patients');
    const id = await nextRequestId(notices);
    await decideLocally(join(stack.dir, 'approvals'), id, 'approved', carol);
    await creating;
    await alice.end();
    await new Promise((r) => setTimeout(r, 800)); // the reload is scheduled 200 ms after the DDL completes
    const bob = await connect('bob');
    try {
      const rows = (await bob.query('SELECT id, name FROM patient_names ORDER BY id LIMIT 1')).rows;
      expect(rows).toEqual([{ id: 1, name: '[REDACTED]' }]);
    } finally {
      await bob.end();
    }
  });
});


describe('a denied write is not measured', () => {
  it('refuses it before anything runs upstream (a count of ssn::int would fail with a data error)', async () => {
    const bob = await connect('bob');
    try {
      for (const run of [(sql: string) => bob.query(sql), (sql: string) => bob.query({ text: sql.replace('0', '$1'), values: [0] })]) {
        const err = (await run('DELETE FROM patients WHERE ssn::int > 0').catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
        expect(err.code).toBe('42501'); // the policy's denial (filtering on PHI bob sees masked), not the count's 22000
      }
    } finally {
      await bob.end();
    }
  });
});

describe('writes prepared with SQL PREPARE', () => {
  it('refuses EXECUTE of a prepared write (its blast radius depends on the arguments), keeps EXECUTE of reads', async () => {
    const bob = await connect('bob');
    try {
      await bob.query('PREPARE wipe(int) AS DELETE FROM visits WHERE id > $1');
      const err = (await bob.query('EXECUTE wipe(0)').catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
      expect(err.code).toBe('42501');
      expect(err.message).toContain('writes rows, and how many must be measured');
      expect(await upstreamCount('SELECT count(*)::int AS n FROM visits')).toBe(6);
      await bob.query('PREPARE ids AS SELECT id FROM visits');
      expect((await bob.query('EXECUTE ids')).rowCount).toBe(6);
    } finally {
      await bob.end();
    }
  });
});

describe('break-glass', () => {
  // A member of the break-glass group runs a statement that needs approval at once, on a stated reason; every
  // execution files its after-the-fact review, whichever protocol carried it.
  const dana = { username: 'dana', email: 'dana@clinic.example', groups: ['contractors', 'break-glass'] };
  const reason = 'restore after INC-4711';

  async function breakGlassRequests() {
    return (await listLocalRequests(join(stack.dir, 'approvals'))).filter((r) => r.requester.username === 'dana' && r.break_glass?.reason.includes(reason));
  }

  async function until<T>(what: () => Promise<T[]>, n: number): Promise<T[]> {
    for (let i = 0; i < 200; i++) {
      const got = await what();
      if (got.length >= n) return got;
      await new Promise((r) => setTimeout(r, 25));
    }
    return what();
  }

  it('runs at once and files one review per execution, in the simple and the extended protocol alike', async () => {
    const c = new pg.Client({ ...(await stack.client('bob')), user: 'dana', password: await stack.issuer.mint(dana) });
    await c.connect();
    try {
      const before = await upstreamCount('SELECT count(*)::int AS n FROM visits');
      const simple = await c.query(`/* break-glass: ${reason} */ DELETE FROM visits WHERE reason = 'cough' OR true`);
      expect(simple.rowCount).toBe(before);
      expect(await until(breakGlassRequests, 1)).toHaveLength(1);
      await stack.pg.exec("INSERT INTO visits (patient_id, visit_date, reason) SELECT 1, '2026-01-01', 'restored' FROM generate_series(1, 3)");
      // Parse / Bind / Execute with a parameter: the review carries the execution's parameters.
      const text = `/* break-glass: ${reason} */ DELETE FROM visits WHERE reason = $1 OR true`;
      const extended = await c.query({ name: 'bg', text, values: ['restored'] });
      expect(extended.rowCount).toBe(3);
      await c.query({ name: 'bg', text, values: ['again'] }); // a second execution of the same prepared statement
      const filed = await until(breakGlassRequests, 3);
      expect(filed).toHaveLength(3);
      expect(filed.map((r) => r.parameters).sort()).toEqual([[], ['again'], ['restored']]);
      for (const r of filed) expect(r.requirement.approvers).toEqual(['team:break-glass-review']);
    } finally {
      await c.end();
      await stack.pg.exec("INSERT INTO visits (patient_id, visit_date, reason) SELECT 1, '2026-01-01', 'restored' FROM generate_series(1, 6)");
    }
  });
});
