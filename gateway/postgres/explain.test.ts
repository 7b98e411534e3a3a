// EXPLAIN through the gateway: the plan comes back as the server wrote it (never blank rows), for every role;
// ANALYZE and VERBOSE over PHI a role sees masked are refused with a clear message.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../testing/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.stop());

async function as<T>(user: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client(await stack.client(user));
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

describe('EXPLAIN', () => {
  for (const user of ['alice', 'bob']) {
    it(`returns the plan as the server sent it to ${user}, in the simple and the extended protocol`, async () => {
      await as(user, async (c) => {
        const direct = new pg.Client({ connectionString: stack.pg.url });
        await direct.connect();
        const expected = (await direct.query('EXPLAIN SELECT * FROM patients WHERE id = 1')).rows;
        await direct.end();
        const simple = (await c.query('EXPLAIN SELECT * FROM patients WHERE id = 1')).rows;
        expect(simple).toEqual(expected);
        expect(simple.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Scan.*patients/);
        const extended = (await c.query({ text: 'EXPLAIN SELECT * FROM patients WHERE id = $1', values: [1] })).rows;
        expect(extended.every((r) => typeof r['QUERY PLAN'] === 'string' && r['QUERY PLAN'].length > 0)).toBe(true);
        const json = (await c.query('EXPLAIN (FORMAT JSON) SELECT name FROM patients')).rows[0]['QUERY PLAN'];
        expect(json[0].Plan['Relation Name']).toBe('patients');
      });
    });
  }

  it('refuses EXPLAIN ANALYZE / VERBOSE of a statement reading PHI the role sees masked, and says why', async () => {
    await as('bob', async (c) => {
      for (const sql of ['EXPLAIN ANALYZE SELECT ssn FROM patients', 'EXPLAIN (VERBOSE) SELECT name FROM patients']) {
        const err = (await c.query(sql).catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
        expect(err.code).toBe('42501');
        expect(err.message).toMatch(/EXPLAIN (ANALYZE|VERBOSE) of a statement that reads PHI you see masked/);
      }
      // ANALYZE over columns that are not PHI is fine
      const plan = (await c.query('EXPLAIN ANALYZE SELECT id FROM visits')).rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(plan).toContain('actual time');
    });
  });

  it('runs EXPLAIN ANALYZE for a role entitled to what it reads', async () => {
    const plan = await as('alice', async (c) => (await c.query('EXPLAIN ANALYZE SELECT name FROM patients')).rows.map((r) => r['QUERY PLAN']).join('\n'));
    expect(plan).toMatch(/Seq Scan on patients .*actual time/);
  });
});
