// Table-driven tests of analyzeSql: the facts every policy decision is built on.
import { describe, it, expect, beforeAll } from 'vitest';
import { analyzeSql, loadParser } from './analyze.ts';
import { unknownStatement } from '../dialect.ts';
import type { AnalyzeOptions, StatementAnalysis } from '../types.ts';

const catalog = {
  tables: {
    'public.people': ['id', 'name', 'ssn', 'email'],
    'public.orders': ['id', 'person_id', 'total'],
    'app.accounts': ['id', 'owner', 'balance'],
  },
};
const C: AnalyzeOptions = { catalog };

function one(sql: string, o?: AnalyzeOptions): StatementAnalysis {
  const r = analyzeSql(sql, o);
  expect(r).toHaveLength(1);
  return r[0] as StatementAnalysis;
}
const col = (table: string, column: string, schema = 'public') => ({ schema, table, column });
const acc = (table: string, columns: string[], schema = 'public') => ({ schema, table, columns });

beforeAll(async () => {
  await loadParser();
});

describe('splitting and parse errors', () => {
  it('splits multi-statement strings and slices each text', () => {
    const r = analyzeSql("SELECT 'é' FROM t;  UPDATE t SET a = 1 WHERE id = 2 ;\nDELETE FROM u");
    expect(r.map((a) => [a.text, a.kind, a.command])).toEqual([
      ["SELECT 'é' FROM t", 'select', 'SELECT'],
      ['UPDATE t SET a = 1 WHERE id = 2', 'update', 'UPDATE'],
      ['DELETE FROM u', 'delete', 'DELETE'],
    ]);
  });
  it.each(['', '   ', '-- only a comment', '/* c */ ;;'])('%j has no statements', (sql) => {
    expect(analyzeSql(sql)).toEqual([]);
  });
  it('a string with more statements than maxStatements is one unknown analysis, before any is analyzed', () => {
    expect(analyzeSql('SELECT 1;'.repeat(5), { maxStatements: 5 })).toHaveLength(5);
    const over = analyzeSql('SELECT 1;'.repeat(6), { maxStatements: 5 });
    expect(over).toHaveLength(1);
    expect(over[0]!.kind).toBe('unknown');
    expect(over[0]!.parse_error).toMatch(/6 statements; the limit is 5/);
    const t = performance.now();
    expect(analyzeSql('SELECT 1;'.repeat(20_000))[0]!.kind).toBe('unknown'); // default limit 1000
    expect(performance.now() - t).toBeLessThan(5_000);
  });

  it('a syntax error yields exactly one unknown analysis for the whole input', () => {
    const r = analyzeSql('SELECT 1; SELEC 2');
    expect(r).toEqual([unknownStatement('SELECT 1; SELEC 2', 'syntax error at or near "SELEC"')]);
    expect(r[0]).toMatchObject({ kind: 'unknown', command: 'UNKNOWN', reads: [], result_columns: [], literal_dependent: true });
  });

});

describe('kind and command', () => {
  const cases: [string, string, string][] = [
    ['SELECT 1', 'select', 'SELECT'],
    ['INSERT INTO t VALUES (1)', 'insert', 'INSERT'],
    ['UPDATE t SET a = 1', 'update', 'UPDATE'],
    ['DELETE FROM t', 'delete', 'DELETE'],
    ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE', 'merge', 'MERGE'],
    ['COPY t TO STDOUT', 'copy', 'COPY'],
    ['SELECT a INTO t2 FROM t', 'ddl', 'SELECT INTO'],
    ['CREATE TABLE t (a int)', 'ddl', 'CREATE TABLE'],
    ['CREATE TABLE t2 AS SELECT 1', 'ddl', 'CREATE TABLE AS'],
    ['CREATE MATERIALIZED VIEW mv AS SELECT 1', 'ddl', 'CREATE MATERIALIZED VIEW'],
    ['CREATE VIEW v AS SELECT 1', 'ddl', 'CREATE VIEW'],
    ['CREATE INDEX i ON t (a)', 'ddl', 'CREATE INDEX'],
    ['ALTER TABLE t ADD COLUMN b int', 'ddl', 'ALTER TABLE'],
    ['ALTER TABLE t RENAME COLUMN a TO b', 'ddl', 'ALTER TABLE'],
    ['DROP TABLE t', 'ddl', 'DROP TABLE'],
    ['DROP MATERIALIZED VIEW mv', 'ddl', 'DROP MATERIALIZED VIEW'],
    ['TRUNCATE t', 'ddl', 'TRUNCATE'],
    ["COMMENT ON TABLE t IS 'x'", 'ddl', 'COMMENT'],
    ['CREATE EXTENSION dblink', 'ddl', 'CREATE EXTENSION'],
    ['CREATE SCHEMA s', 'ddl', 'CREATE SCHEMA'],
    ['CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$', 'ddl', 'CREATE FUNCTION'],
    ['CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$', 'ddl', 'CREATE PROCEDURE'],
    ['CREATE SEQUENCE sq', 'ddl', 'CREATE SEQUENCE'],
    ['CREATE DATABASE d', 'ddl', 'CREATE DATABASE'],
    ['GRANT SELECT ON t TO bob', 'dcl', 'GRANT'],
    ['REVOKE SELECT ON t FROM bob', 'dcl', 'REVOKE'],
    ['GRANT admin TO bob', 'dcl', 'GRANT'],
    ["CREATE ROLE r LOGIN PASSWORD 'x'", 'dcl', 'CREATE ROLE'],
    ['ALTER ROLE r SUPERUSER', 'dcl', 'ALTER ROLE'],
    ['DROP ROLE r', 'dcl', 'DROP ROLE'],
    ['BEGIN', 'tcl', 'BEGIN'],
    ['START TRANSACTION', 'tcl', 'START TRANSACTION'],
    ['COMMIT', 'tcl', 'COMMIT'],
    ['ROLLBACK', 'tcl', 'ROLLBACK'],
    ['SAVEPOINT s1', 'tcl', 'SAVEPOINT'],
    ['RELEASE SAVEPOINT s1', 'tcl', 'RELEASE'],
    ["SET search_path = 'x'", 'utility', 'SET'],
    ['RESET ALL', 'utility', 'RESET'],
    ['SET ROLE postgres', 'utility', 'SET ROLE'],
    ['SET LOCAL role TO x', 'utility', 'SET ROLE'],
    ['RESET ROLE', 'utility', 'RESET ROLE'],
    ['SET SESSION AUTHORIZATION bob', 'utility', 'SET SESSION AUTHORIZATION'],
    ['SHOW search_path', 'utility', 'SHOW'],
    ['EXPLAIN SELECT 1', 'utility', 'EXPLAIN'],
    ['PREPARE q AS SELECT 1', 'utility', 'PREPARE'],
    ['EXECUTE q', 'utility', 'EXECUTE'],
    ['DEALLOCATE q', 'utility', 'DEALLOCATE'],
    ['DECLARE c CURSOR FOR SELECT 1', 'utility', 'DECLARE CURSOR'],
    ['FETCH 10 FROM c', 'utility', 'FETCH'],
    ['CLOSE c', 'utility', 'CLOSE CURSOR'],
    ['LISTEN ch', 'utility', 'LISTEN'],
    ["NOTIFY ch, 'x'", 'utility', 'NOTIFY'],
    ['VACUUM t', 'utility', 'VACUUM'],
    ['ANALYZE t', 'utility', 'ANALYZE'],
    ['CHECKPOINT', 'utility', 'CHECKPOINT'],
    ['DISCARD ALL', 'utility', 'DISCARD ALL'],
    ['LOCK TABLE t', 'utility', 'LOCK TABLE'],
    ["LOAD 'auto_explain'", 'utility', 'LOAD'],
    ['DO $$ BEGIN END $$', 'utility', 'DO'],
    ['CALL p(1)', 'utility', 'CALL'],
    ["ALTER SYSTEM SET work_mem = '1GB'", 'utility', 'ALTER SYSTEM'],
  ];
  it.each(cases)('%s → %s / %s', (sql, kind, command) => {
    const a = one(sql);
    expect([a.kind, a.command, a.parse_error]).toEqual([kind, command, null]);
  });
});

describe('tables and schemas', () => {
  it('resolves qualified, unqualified, pg_ and quoted names without a catalog', () => {
    const a = one('SELECT 1 FROM s.t, u, pg_roles, "Mixed"', { searchPath: ['app', 'public'] });
    expect(a.reads).toEqual([acc('t', [], 's'), acc('u', [], 'app'), acc('pg_roles', [], 'pg_catalog'), acc('Mixed', [], 'app')]);
  });
  it('resolves unqualified names through the search path with a catalog', () => {
    const a = one('SELECT owner FROM accounts', { catalog, searchPath: ['public', 'app'] });
    expect(a.reads).toEqual([acc('accounts', ['owner'], 'app')]);
    expect(a.result_columns).toEqual([{ name: 'owner', sources: [col('accounts', 'owner', 'app')], derived: false }]);
  });
  it('CTE names are not tables; the CTE body reads are', () => {
    const a = one('WITH people AS (SELECT id, name FROM orders) SELECT name FROM people');
    expect(a.reads).toEqual([acc('orders', ['id', 'name'])]);
    expect(a.result_columns).toEqual([{ name: 'name', sources: [col('orders', 'name')], derived: false }]);
  });
  it('recursive CTE: self reference is not a table, lineage flows through both arms', () => {
    const a = one(
      'WITH RECURSIVE tree(id, parent) AS (SELECT id, parent FROM nodes WHERE parent IS NULL UNION ALL SELECT n.id, n.parent FROM nodes n JOIN tree t ON n.parent = t.id) SELECT id FROM tree',
    );
    expect(a.reads).toEqual([acc('nodes', ['parent', 'id'])]);
    expect(a.result_columns).toEqual([{ name: 'id', sources: [col('nodes', 'id')], derived: false }]);
    expect(a.predicates_on).toEqual([col('nodes', 'parent'), col('nodes', 'id')]);
  });
  it('merges duplicate table accesses and columns in order of first appearance', () => {
    const a = one('SELECT a FROM t WHERE a > 1 UNION SELECT b FROM t x WHERE x.a < 0');
    expect(a.reads).toEqual([acc('t', ['a', 'b'])]);
  });
});

describe('columns and lineage', () => {
  it('resolves aliases', () => {
    const a = one('SELECT p.name AS n, o.total FROM people p JOIN orders o ON o.person_id = p.id', C);
    expect(a.result_columns).toEqual([
      { name: 'n', sources: [col('people', 'name')], derived: false },
      { name: 'total', sources: [col('orders', 'total')], derived: false },
    ]);
    expect(a.predicates_on).toEqual([col('orders', 'person_id'), col('people', 'id')]);
  });
  it('ambiguous unqualified column without catalog goes to every candidate table', () => {
    const a = one('SELECT ssn FROM people, orders');
    expect(a.reads).toEqual([acc('people', ['ssn']), acc('orders', ['ssn'])]);
    expect(a.result_columns[0]?.sources).toEqual([col('people', 'ssn'), col('orders', 'ssn')]);
  });
  it('with a catalog only the table that has the column gets it', () => {
    const a = one('SELECT ssn, total FROM people, orders', C);
    expect(a.reads).toEqual([acc('people', ['ssn']), acc('orders', ['total'])]);
  });
  it('with a catalog an unknown column goes to every candidate', () => {
    const a = one('SELECT nope FROM people, orders', C);
    expect(a.reads).toEqual([acc('people', ['nope']), acc('orders', ['nope'])]);
  });
  it('expands * from the catalog', () => {
    const a = one('SELECT * FROM orders', C);
    expect(a.result_columns).toEqual([
      { name: 'id', sources: [col('orders', 'id')], derived: false },
      { name: 'person_id', sources: [col('orders', 'person_id')], derived: false },
      { name: 'total', sources: [col('orders', 'total')], derived: false },
    ]);
    expect(a.reads).toEqual([acc('orders', ['id', 'person_id', 'total'])]);
  });
  it('keeps * without a catalog', () => {
    const a = one('SELECT t.*, u.x FROM t, u');
    expect(a.result_columns).toEqual([
      { name: '*', sources: [col('t', '*')], derived: false },
      { name: 'x', sources: [col('u', 'x')], derived: false },
    ]);
    expect(a.reads).toEqual([acc('t', ['*']), acc('u', ['x'])]);
  });
  it('follows subqueries in FROM, expressions and default names', () => {
    const a = one("SELECT s.x, upper(s.n), s.n || '!', count(*), 1, s.n::text FROM (SELECT ssn AS x, name AS n FROM people) s", C);
    expect(a.result_columns).toEqual([
      { name: 'x', sources: [col('people', 'ssn')], derived: false },
      { name: 'upper', sources: [col('people', 'name')], derived: true, through: [{ ...col('people', 'name'), functions: ['upper'] }] },
      { name: '?column?', sources: [col('people', 'name')], derived: true },
      { name: 'count', sources: [], derived: true },
      { name: '?column?', sources: [], derived: true },
      // A cast to text is still a direct copy.
      { name: 'n', sources: [col('people', 'name')], derived: false },
    ]);
    expect(a.functions).toEqual(['upper', 'count']);
  });
  it('follows CASE, COALESCE, scalar subqueries and aggregates', () => {
    const a = one(
      'SELECT CASE WHEN p.id > 0 THEN p.ssn ELSE p.email END AS c, coalesce(p.name, p.email), (SELECT max(total) FROM orders o WHERE o.person_id = p.id) AS m FROM people p',
      C,
    );
    expect(a.result_columns).toEqual([
      { name: 'c', sources: [col('people', 'id'), col('people', 'ssn'), col('people', 'email')], derived: true },
      { name: 'coalesce', sources: [col('people', 'name'), col('people', 'email')], derived: true },
      { name: 'm', sources: [col('orders', 'total')], derived: true, through: [{ ...col('orders', 'total'), functions: ['max'] }] },
    ]);
  });
  it('set operations merge columns by position', () => {
    const a = one('SELECT name FROM people UNION SELECT email FROM people EXCEPT SELECT ssn FROM people', C);
    expect(a.result_columns).toEqual([
      { name: 'name', sources: [col('people', 'name'), col('people', 'email'), col('people', 'ssn')], derived: false },
    ]);
  });
  it('LATERAL subqueries see earlier FROM items', () => {
    const a = one('SELECT l.t FROM people p, LATERAL (SELECT o.total AS t FROM orders o WHERE o.person_id = p.id) l', C);
    expect(a.result_columns).toEqual([{ name: 't', sources: [col('orders', 'total')], derived: false }]);
    expect(a.predicates_on).toEqual([col('orders', 'person_id'), col('people', 'id')]);
  });
  it('whole-row references carry every column', () => {
    const a = one('SELECT row_to_json(p), p, ROW(p.*) FROM people p', C);
    const all = [col('people', 'id'), col('people', 'name'), col('people', 'ssn'), col('people', 'email')];
    const keys = ['id', 'name', 'ssn', 'email'].map((c) => ({ key: c, sources: [col('people', c)], derived: false }));
    expect(a.result_columns).toEqual([
      { name: 'row_to_json', sources: all, derived: true, json_keys: keys },
      { name: 'p', sources: all, derived: true },
      { name: 'row', sources: all, derived: true },
    ]);
  });
  it('whole-row references without catalog use *', () => {
    const a = one('SELECT to_jsonb(p.*) FROM people p');
    expect(a.result_columns).toEqual([{ name: 'to_jsonb', sources: [col('people', '*')], derived: true }]);
  });
  it('FROM functions: recorded and their columns derive from the arguments', () => {
    const a = one("SELECT x.value FROM orders o, pg_ls_dir('.') f, jsonb_each(o.total::jsonb) x", C);
    expect(a.functions).toEqual(['pg_ls_dir', 'jsonb_each']);
    expect(a.result_columns).toEqual([{ name: 'value', sources: [col('orders', 'total')], derived: true }]);
    expect(one("SELECT f FROM orders, pg_ls_dir('.') f", C).result_columns).toEqual([{ name: 'f', sources: [], derived: true }]);
    // Without a catalog, `f` may also be a column of t.
    expect(one("SELECT f FROM pg_ls_dir('.') f, t").result_columns).toEqual([{ name: 'f', sources: [col('t', 'f')], derived: true }]);
  });
  it('collects predicates from WHERE, JOIN USING, GROUP BY, HAVING, ORDER BY, window, DISTINCT ON', () => {
    const a = one(
      'SELECT DISTINCT ON (p.email) p.name, rank() OVER (PARTITION BY p.id ORDER BY o.total) FROM people p JOIN orders o USING (id) WHERE p.ssn LIKE $1 GROUP BY 1, p.email HAVING sum(o.total) > 3 ORDER BY p.name',
      C,
    );
    expect(a.predicates_on).toEqual([
      col('people', 'id'),
      col('orders', 'id'),
      col('people', 'ssn'),
      col('orders', 'total'),
      col('people', 'name'),
      col('people', 'email'),
    ]);
    expect(a.functions).toEqual(['rank', 'sum']);
  });
  it('qualified and SQL-syntax functions', () => {
    const a = one("SELECT pg_catalog.set_config('x', 'y', false), extract(year from now()), trim(' a '), public.f(1)");
    expect(a.functions).toEqual(['pg_catalog.set_config', 'extract', 'now', 'btrim', 'public.f']);
    expect(a.result_columns.map((c) => c.name)).toEqual(['set_config', 'extract', 'btrim', 'f']);
  });
});

describe('WHERE', () => {
  const cases: [string, boolean, boolean, boolean][] = [
    // sql, has_where, trivial, literal_dependent
    ['DELETE FROM t', false, false, false],
    ['DELETE FROM t WHERE id = 1', true, false, false],
    ['DELETE FROM t WHERE a OR b', true, false, false],
    ['DELETE FROM t WHERE true', true, true, true],
    ['DELETE FROM t WHERE false', true, false, true],
    ["DELETE FROM t WHERE 't'::boolean", true, true, true],
    ["DELETE FROM t WHERE 'yes'", true, true, true],
    ['DELETE FROM t WHERE 1=1', true, true, true],
    ['DELETE FROM t WHERE 1=2', true, false, true],
    ["DELETE FROM t WHERE 'a'='a'", true, true, true],
    ['DELETE FROM t WHERE 2 > 1', true, true, true],
    ["DELETE FROM t WHERE 1 = '1'", true, true, true],
    ['DELETE FROM t WHERE NOT false', true, true, true],
    ['DELETE FROM t WHERE id = 5 OR true', true, true, true],
    ['DELETE FROM t WHERE true AND true', true, true, true],
    ['DELETE FROM t WHERE true AND id = 3', true, false, true],
    ['DELETE FROM t WHERE id IS NOT NULL OR 1=1', true, true, true],
    ['DELETE FROM t WHERE id = id', true, true, false],
    ['DELETE FROM t WHERE NULL', true, false, true],
    ['DELETE FROM t WHERE 1 IN (1, 2)', true, true, true],
    ['DELETE FROM t WHERE $1', true, true, false],
    ['DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.x = 1)', true, true, false],
    ['DELETE FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.x = t.id)', true, false, false],
    ['UPDATE t SET a = 1 WHERE 1=1', true, true, true],
    ['UPDATE t SET a = 1 WHERE CURRENT OF c', true, false, false],
    ['SELECT * FROM t WHERE 1=1', true, true, true],
    ['SELECT * FROM t WHERE x = 1', true, false, false],
    ['WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', false, false, false],
    ['WITH d AS (DELETE FROM t WHERE 1=1 RETURNING *) SELECT * FROM d', false, true, true],
  ];
  it.each(cases)('%s', (sql, has, trivial, lit) => {
    const a = one(sql);
    expect([a.has_where, a.where_is_trivial, a.literal_dependent]).toEqual([has, trivial, lit]);
  });
});

describe('writes', () => {
  it('INSERT with column list and SELECT source', () => {
    const a = one('INSERT INTO archive (id, ssn) SELECT id, ssn FROM people WHERE id < 10', C);
    expect(a.writes).toEqual([acc('archive', ['id', 'ssn'])]);
    expect(a.reads).toEqual([acc('people', ['id', 'ssn'])]);
  });
  it('INSERT without column list writes *; RETURNING is a result', () => {
    const a = one('INSERT INTO people VALUES (1, lower($1)) RETURNING ssn', C);
    expect(a.writes).toEqual([acc('people', ['*'])]);
    expect(a.functions).toEqual(['lower']);
    expect(a.result_columns).toEqual([{ name: 'ssn', sources: [col('people', 'ssn')], derived: false }]);
    expect(a.reads).toEqual([acc('people', ['ssn'])]);
  });
  it('INSERT ON CONFLICT DO UPDATE', () => {
    const a = one('INSERT INTO people AS p (id, name) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET name = excluded.name WHERE p.ssn IS NULL', C);
    expect(a.writes).toEqual([acc('people', ['id', 'name'])]);
    expect(a.reads).toEqual([acc('people', ['name', 'ssn'])]);
  });
  it('UPDATE with FROM', () => {
    const a = one('UPDATE orders o SET total = p.id, person_id = 1 FROM people p WHERE p.id = o.person_id AND p.ssn = $1', C);
    expect(a.writes).toEqual([acc('orders', ['total', 'person_id'])]);
    expect(a.reads).toEqual([acc('people', ['id', 'ssn']), acc('orders', ['person_id'])]);
    expect(a.has_where).toBe(true);
    expect(a.where_is_trivial).toBe(false);
  });
  it('UPDATE multi-assignment', () => {
    const a = one('UPDATE t SET (a, b) = (SELECT x, y FROM u) WHERE id = 1');
    expect(a.writes).toEqual([acc('t', ['a', 'b'])]);
    // Without a catalog the subquery's x and y might also be outer columns of t.
    expect(a.reads).toEqual([acc('u', ['x', 'y']), acc('t', ['x', 'y', 'id'])]);
    const c = one('UPDATE people SET (name, email) = (SELECT id, total FROM orders) WHERE id = 1', C);
    expect(c.reads).toEqual([acc('orders', ['id', 'total']), acc('people', ['id'])]);
  });
  it('DELETE USING', () => {
    const a = one('DELETE FROM orders o USING people p WHERE o.person_id = p.id AND p.name = $1', C);
    expect(a.writes).toEqual([acc('orders', ['*'])]);
    expect(a.reads).toEqual([acc('people', ['id', 'name']), acc('orders', ['person_id'])]);
  });
  it('MERGE', () => {
    const a = one(
      'MERGE INTO accounts a USING (SELECT id, total FROM orders) s ON a.id = s.id WHEN MATCHED THEN UPDATE SET balance = s.total WHEN NOT MATCHED THEN INSERT (id, balance) VALUES (s.id, s.total)',
      { catalog, searchPath: ['app', 'public'] },
    );
    expect(a.writes).toEqual([acc('accounts', ['balance', 'id'], 'app')]);
    expect(a.reads).toEqual([acc('orders', ['id', 'total'], 'public'), acc('accounts', ['id'], 'app')]);
  });
  it('data-modifying CTE', () => {
    const a = one('WITH moved AS (DELETE FROM people WHERE id = 1 RETURNING ssn) INSERT INTO archive SELECT ssn FROM moved', C);
    expect(a.data_modifying_cte).toBe(true);
    expect(a.kind).toBe('insert');
    expect(a.writes).toEqual([acc('people', ['*']), acc('archive', ['*'])]);
    expect(a.reads).toEqual([acc('people', ['id', 'ssn'])]);
  });
  it('SELECT INTO creates a table from the query', () => {
    const a = one('SELECT ssn, name INTO TEMP leak FROM people', C);
    expect([a.kind, a.command, a.creates_table_from_query]).toEqual(['ddl', 'SELECT INTO', true]);
    expect(a.writes).toEqual([acc('leak', ['ssn', 'name'])]);
    expect(a.reads).toEqual([acc('people', ['ssn', 'name'])]);
    // No rows reach the client, but the lineage of what the new table holds is carried forward.
    expect(a.result_columns).toEqual([
      { name: 'ssn', sources: [col('people', 'ssn')], derived: false },
      { name: 'name', sources: [col('people', 'name')], derived: false },
    ]);
  });
  it('CTAS and materialized views', () => {
    for (const sql of ['CREATE TABLE s.copy AS SELECT ssn FROM people', 'CREATE MATERIALIZED VIEW s.copy AS SELECT ssn FROM people']) {
      const a = one(sql, C);
      expect(a.creates_table_from_query).toBe(true);
      expect(a.writes).toEqual([acc('copy', ['ssn'], 's')]);
      expect(a.reads).toEqual([acc('people', ['ssn'])]);
    }
  });
  it('DDL targets are writes', () => {
    expect(one('DROP TABLE a, s.b').writes).toEqual([acc('a', ['*']), acc('b', ['*'], 's')]);
    expect(one('TRUNCATE people, orders').writes).toEqual([acc('people', ['*']), acc('orders', ['*'])]);
    expect(one('ALTER TABLE people DROP COLUMN ssn').writes).toEqual([acc('people', ['*'])]);
    const v = one('CREATE VIEW v AS SELECT name FROM people', C);
    expect(v.writes).toEqual([acc('v', ['name'])]);
    expect(v.reads).toEqual([acc('people', ['name'])]);
  });
  it('DEFAULT expressions contribute functions', () => {
    const a = one("CREATE TABLE t (a text DEFAULT pg_read_file('/etc/passwd'))");
    expect(a.functions).toEqual(['pg_read_file']);
    expect(a.literal_dependent).toBe(true);
  });
});

describe('COPY', () => {
  const cases: [string, object, boolean][] = [
    ['COPY people FROM STDIN', { direction: 'from', target: 'stdin', table: { schema: 'public', table: 'people' } }, false],
    ['COPY people (id, name) TO STDOUT', { direction: 'to', target: 'stdout', table: { schema: 'public', table: 'people' } }, false],
    ["COPY people TO '/tmp/x'", { direction: 'to', target: 'file', table: { schema: 'public', table: 'people' } }, true],
    ["COPY people FROM PROGRAM 'curl x'", { direction: 'from', target: 'program', table: { schema: 'public', table: 'people' } }, true],
    ['COPY (SELECT ssn FROM people) TO STDOUT', { direction: 'to', target: 'stdout', table: null }, false],
  ];
  it.each(cases)('%s', (sql, copy, lit) => {
    const a = one(sql, C);
    expect(a.copy).toEqual(copy);
    expect(a.literal_dependent).toBe(lit);
  });
  it('COPY FROM writes, COPY TO reads with lineage', () => {
    expect(one('COPY people (id, name) FROM STDIN', C).writes).toEqual([acc('people', ['id', 'name'])]);
    const out = one('COPY (SELECT ssn FROM people) TO STDOUT', C);
    expect(out.reads).toEqual([acc('people', ['ssn'])]);
    expect(out.result_columns).toEqual([{ name: 'ssn', sources: [col('people', 'ssn')], derived: false }]);
    expect(one('COPY people (id, name) TO STDOUT', C).reads).toEqual([acc('people', ['id', 'name'])]);
  });
});

describe('nested statements', () => {
  it('EXPLAIN ANALYZE analyzes the inner statement and bubbles its facts', () => {
    const a = one('EXPLAIN (ANALYZE, FORMAT JSON) DELETE FROM people WHERE 1=1', C);
    expect(a.nested).toHaveLength(1);
    const n = a.nested[0] as StatementAnalysis;
    expect([n.text, n.kind, n.has_where, n.where_is_trivial]).toEqual(['DELETE FROM people WHERE 1=1', 'delete', true, true]);
    expect(a.writes).toEqual([acc('people', ['*'])]);
    // One column, the plan's text: no table value flows into it.
    expect(a.result_columns).toEqual([{ name: 'QUERY PLAN', sources: [], derived: true }]);
    expect(a.explain_options).toEqual(['analyze', 'format']);
    expect(one('EXPLAIN (ANALYZE false, VERBOSE off, BUFFERS) SELECT 1', C).explain_options).toEqual(['buffers']);
    expect(one('EXPLAIN ANALYZE VERBOSE SELECT 1', C).explain_options).toEqual(['analyze', 'verbose']);
  });
  it('PREPARE and DECLARE CURSOR carry the inner query and its lineage', () => {
    const p = one('PREPARE q(int) AS SELECT ssn FROM people WHERE id = $1', C);
    expect(p.nested.map((n) => [n.text, n.kind])).toEqual([['SELECT ssn FROM people WHERE id = $1', 'select']]);
    expect(p.reads).toEqual([acc('people', ['id', 'ssn'])]);
    const d = one('DECLARE c CURSOR WITH HOLD FOR SELECT ssn FROM people', C);
    expect(d.nested.map((n) => n.text)).toEqual(['SELECT ssn FROM people']);
    expect(d.reads).toEqual([acc('people', ['ssn'])]);
    expect(d.result_columns).toEqual([{ name: 'ssn', sources: [col('people', 'ssn')], derived: false }]);
  });
  it('EXECUTE of a prepared statement is not opaque', () => {
    const a = one('EXECUTE q(1)');
    expect(a.opaque).toBe(false);
    expect(a.nested).toEqual([]);
  });
  it('DO block: statements nested, facts bubbled, EXECUTE opaque', () => {
    const a = one("DO $$ DECLARE n int; BEGIN SELECT count(*) INTO n FROM people; UPDATE orders SET total = 0; PERFORM pg_sleep(1); EXECUTE format('DROP TABLE %I', 'x'); END $$");
    expect(a.opaque).toBe(true);
    expect(a.literal_dependent).toBe(true);
    expect(a.nested.map((n) => [n.kind, n.text])).toEqual([
      ['select', 'SELECT count(*)        FROM people'],
      ['update', 'UPDATE orders SET total = 0'],
      ['select', 'SELECT pg_sleep(1)'],
      ['select', "SELECT format('DROP TABLE %I', 'x')"],
    ]);
    expect(a.reads).toEqual([acc('people', [])]);
    expect(a.writes).toEqual([acc('orders', ['total'])]);
    expect(a.functions).toEqual(['count', 'pg_sleep', 'format']);
  });
  it('DO block whose body contains the wrapper tag', () => {
    const a = one('DO $x$ BEGIN PERFORM 1 FROM t WHERE c = \'$verdict$\'; END $x$');
    expect(a.reads).toEqual([acc('t', ['c'])]);
    expect(a.opaque).toBe(false);
  });
  it('DO with another language is opaque', () => {
    const a = one("DO LANGUAGE plpython3u $$ import os; os.system('id') $$");
    expect([a.opaque, a.nested]).toEqual([true, []]);
  });
  it('DO with a broken body is opaque and reports the error', () => {
    const a = one('DO $$ BEGIN SELEC 1; END $$');
    expect(a.opaque).toBe(true);
    expect(a.nested.map((n) => n.kind)).toEqual(['unknown']);
  });
  it('CREATE FUNCTION LANGUAGE sql parses the body', () => {
    const a = one("CREATE FUNCTION f() RETURNS text LANGUAGE sql AS 'SELECT ssn FROM people; DELETE FROM orders'", C);
    expect(a.nested.map((n) => n.command)).toEqual(['SELECT', 'DELETE']);
    expect(a.reads).toEqual([acc('people', ['ssn'])]);
    // The new function itself is a write (columns: none); its body's DELETE bubbles up.
    expect(a.writes).toEqual([acc('f', []), acc('orders', ['*'])]);
    expect(a.result_columns).toEqual([{ name: 'f', sources: [col('people', 'ssn')], derived: true }]);
  });
  it('CREATE FUNCTION BEGIN ATOMIC and RETURN bodies', () => {
    const a = one('CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT pg_sleep(a); UPDATE t SET x = 1; END');
    expect(a.nested.map((n) => n.kind)).toEqual(['select', 'update']);
    expect(a.functions).toEqual(['pg_sleep']);
    expect(a.writes).toEqual([acc('f', []), acc('t', ['x'])]);
    const r = one('CREATE FUNCTION g(a int) RETURNS int LANGUAGE sql RETURN lo_import(a)');
    expect(r.functions).toEqual(['lo_import']);
  });
  it('CREATE FUNCTION LANGUAGE plpgsql with dynamic SQL', () => {
    const a = one(
      "CREATE FUNCTION f(t text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN IF (SELECT count(*) FROM people) > 0 THEN EXECUTE 'TRUNCATE ' || t; END IF; END $$",
    );
    expect(a.opaque).toBe(true);
    expect(a.reads).toEqual([acc('people', [])]);
    expect(a.functions).toEqual(['count']);
  });
  it('CREATE FUNCTION in C is opaque', () => {
    expect(one("CREATE FUNCTION f() RETURNS int LANGUAGE c AS 'evil.so', 'f'").opaque).toBe(true);
  });
  it('DO inside a function body is analyzed recursively, and nesting is flattened', () => {
    const a = one("CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $f$ DO $d$ BEGIN PERFORM dblink_exec('x'); END $d$ $f$");
    expect(a.functions).toEqual(['dblink_exec']);
    expect(a.nested.map((n) => n.command)).toEqual(['DO', 'SELECT']);
    expect(a.nested[1]?.functions).toEqual(['dblink_exec']);
    expect(a.nested.every((n) => n.nested.length === 0)).toBe(true);
  });
});

describe('settings', () => {
  it.each([
    ["SET search_path = 'x'", 'search_path'],
    ['SET ROLE postgres', 'role'],
    ['RESET ALL', '*'],
    ['SHOW work_mem', 'work_mem'],
    ['SELECT 1', null],
  ])('%s names %s', (sql, setting) => {
    expect(one(sql).setting).toBe(setting);
  });
});

describe('literal dependence', () => {
  it.each([
    ['SELECT a FROM t WHERE b = 5', false],
    ["INSERT INTO t VALUES ('x')", false],
    ["SET search_path = 'evil'", true],
    ['SHOW search_path', false],
    ['BEGIN', false],
  ])('%s → %s', (sql, lit) => {
    expect(one(sql).literal_dependent).toBe(lit);
  });
});

describe('depth limits and parser robustness', () => {
  it('rejects nesting deeper than maxDepth', () => {
    const sql = 'SELECT ' + '(SELECT '.repeat(30) + '1' + ')'.repeat(30);
    expect(one(sql, { maxDepth: 10 }).parse_error).toBe('statement nesting exceeds the limit of 10 levels');
    expect(one(sql).kind).toBe('select');
  });
  it('rejects deep operator chains', () => {
    const a = one('SELECT ' + '1+'.repeat(500) + '1');
    expect([a.kind, a.parse_error]).toEqual(['unknown', 'statement nesting exceeds the limit of 200 levels']);
  });
  it('survives 100000 parentheses', () => {
    const sql = 'SELECT ' + '('.repeat(100000) + '1' + ')'.repeat(100000);
    const a = one(sql);
    expect([a.kind, a.parse_error, a.text.length]).toEqual(['unknown', 'statement nesting exceeds the limit of 200 levels', sql.length]);
    expect(one('SELECT 1').kind).toBe('select');
  });
  it('survives a WASM stack overflow and keeps parsing', async () => {
    const sql = 'SELECT ' + '1+'.repeat(30000) + '1';
    expect(one(sql).parse_error).toBe('statement nesting exceeds the limit of 200 levels');
    expect(one('SELECT a FROM t').reads).toEqual([acc('t', ['a'])]);
    await loadParser();
    expect(one(sql).parse_error).toBe('statement nesting exceeds the limit of 200 levels');
    await loadParser();
    for (let i = 0; i < 50; i++) expect(one('SELECT b FROM u').reads).toEqual([acc('u', ['b'])]);
  });
  it('bison stack exhaustion is a parse error', () => {
    const a = one('SELECT 1 WHERE ' + 'NOT '.repeat(30000) + 'true', { maxDepth: 100000 });
    expect(a.parse_error).toMatch(/^memory exhausted at or near "NOT"/);
  });
});

describe('object names (cursors and prepared statements)', () => {
  it.each([
    ['DECLARE c1 CURSOR FOR SELECT 1', 'c1'],
    ['FETCH 5 FROM c1', 'c1'],
    ['MOVE NEXT IN c1', 'c1'],
    ['CLOSE c1', 'c1'],
    ['CLOSE ALL', '*'],
    ['PREPARE p1(int) AS SELECT $1', 'p1'],
    ['EXECUTE p1(3)', 'p1'],
    ['DEALLOCATE p1', 'p1'],
    ['DEALLOCATE ALL', '*'],
    ['DECLARE "Big" BINARY CURSOR WITH HOLD FOR SELECT 1', 'Big'],
    ['SELECT 1', null],
  ])('%s names %s', (sql, name) => {
    expect(one(sql).name).toBe(name);
  });
});
