// The measuring count of a write, checked against a real PostgreSQL: for each write, the count the module
// builds equals the rows the write then changes (inside a rolled-back transaction); unmeasurable writes say why.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPostgres, type TestPostgres } from '../testing/postgres.ts';
import { analyzeSql, loadParser } from '../../engine/sql/postgres/analyze.ts';
import { measurementQuery } from '../../engine/sql/postgres/blast-radius.ts';

let server: TestPostgres;
let c: pg.Client;

beforeAll(async () => {
  await loadParser();
  server = await startTestPostgres();
  c = new pg.Client({ connectionString: server.url });
  await c.connect();
  await c.query(`CREATE TABLE people (id int PRIMARY KEY, name text, team int);
    CREATE TABLE teams (id int PRIMARY KEY, active bool);
    INSERT INTO teams SELECT g, g % 2 = 0 FROM generate_series(1, 10) g;
    INSERT INTO people SELECT g, 'p' || g, 1 + g % 10 FROM generate_series(1, 200) g;`);
}, 120_000);
afterAll(async () => {
  await c?.end();
  await server?.stop();
});

const first = (sql: string) => analyzeSql(sql)[0]!;

describe('measurementQuery', () => {
  const writes = [
    'DELETE FROM people WHERE id > 150',
    'DELETE FROM people WHERE name IS NOT NULL',
    'UPDATE people SET name = upper(name) WHERE id % 3 = 0',
    'UPDATE people p SET name = name FROM teams t WHERE p.team = t.id AND t.active',
    'DELETE FROM ONLY public.people AS p USING teams t WHERE p.team = t.id AND NOT t.active',
    "WITH doomed AS (SELECT id FROM people WHERE name LIKE 'p1%') DELETE FROM people WHERE id IN (SELECT id FROM doomed)",
    'UPDATE people SET team = 1 WHERE id = 7',
    'DELETE FROM people WHERE false',
  ];
  for (const sql of writes) {
    it(`counts exactly the rows of: ${sql}`, async () => {
      const m = measurementQuery(first(sql));
      if (!('sql' in m)) throw new Error(JSON.stringify(m));
      await c.query('BEGIN');
      try {
        const counted = (await c.query(m.sql)).rows[0] as { rows: string; table_rows: string };
        const changed = (await c.query(sql)).rowCount;
        expect(Number(counted.rows)).toBe(changed);
        expect(Number(counted.table_rows)).toBe(200);
      } finally {
        await c.query('ROLLBACK');
      }
    });
  }

  it('bounds a MERGE by its source rows', async () => {
    const sql = 'MERGE INTO people p USING teams t ON p.id = t.id WHEN MATCHED THEN UPDATE SET name = name WHEN NOT MATCHED THEN INSERT VALUES (t.id + 1000, null, t.id)';
    const m = measurementQuery(first(sql));
    if (!('sql' in m)) throw new Error(JSON.stringify(m));
    await c.query('BEGIN');
    try {
      const counted = Number((await c.query(m.sql)).rows[0].rows);
      expect(counted).toBeGreaterThanOrEqual((await c.query(sql)).rowCount ?? 0);
    } finally {
      await c.query('ROLLBACK');
    }
  });

  it('bounds an upsert by its proposed rows, and a MERGE whose one source row matches every target row by the pairs', async () => {
    for (const sql of [
      'INSERT INTO people (id, name, team) SELECT g, null, 1 FROM generate_series(150, 260) g ON CONFLICT (id) DO UPDATE SET team = 2',
      "MERGE INTO people p USING (SELECT 1 AS x) s ON true WHEN MATCHED THEN UPDATE SET name = 'm'",
    ]) {
      const m = measurementQuery(first(sql));
      if (!('sql' in m)) throw new Error(JSON.stringify(m));
      await c.query('BEGIN');
      try {
        const counted = Number((await c.query(m.sql)).rows[0].rows);
        const changed = (await c.query(sql)).rowCount ?? 0;
        expect(changed).toBeGreaterThan(100);
        expect(counted).toBeGreaterThanOrEqual(changed);
      } finally {
        await c.query('ROLLBACK');
      }
    }
  });

  it.each([
    ['DELETE FROM people WHERE random() < 0.5', 'random'],
    ['DELETE FROM people WHERE id = nextval(\'s\')', 'nextval'],
    ['UPDATE people SET name = f(name) WHERE g(id)', 'g'],
    ['WITH d AS (DELETE FROM people RETURNING id) DELETE FROM teams WHERE id IN (SELECT id FROM d)', 'nested'],
    ['SELECT 1', 'not an UPDATE, DELETE or MERGE'],
  ])('refuses to measure %s', (sql, why) => {
    const m = measurementQuery(first(sql));
    expect('error' in m && m.error).toContain(why);
  });

  it('knows WHERE CURRENT OF changes one row', () => {
    expect(measurementQuery(first('DELETE FROM people WHERE CURRENT OF c'))).toEqual({ current_of: true });
  });
});
