// Which statements count as reads (and so may travel upstream before their decision is durable): a fail-closed
// classification — anything not shown to be a plain read of PostgreSQL's own stable functions is a write.
import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeSql, loadParser } from '../../engine/sql/postgres/analyze.ts';
import { onlyReads, readOnlyCall } from './side-effects.ts';

beforeAll(() => loadParser());

const builtins = new Set(['upper', 'count', 'now', 'coalesce', 'lower', 'txid_current', 'pg_current_xact_id']);
const userFunctions = new Set(['leak']);
const readOnly = (schema: string | null, name: string) => readOnlyCall(schema, name, builtins, userFunctions);
const reads = (sql: string) => onlyReads(analyzeSql(sql), readOnly);

describe('onlyReads', () => {
  it.each([
    'SELECT abalance FROM pgbench_accounts WHERE aid = 1',
    'SELECT upper(name), count(*) FROM patients GROUP BY 1',
    'SELECT pg_catalog.lower(name) FROM patients',
    'WITH x AS (SELECT id FROM patients) SELECT * FROM x',
    'SELECT * FROM patients WHERE id IN (SELECT patient_id FROM visits)',
  ])('a plain read: %s', (sql) => {
    expect(reads(sql)).toBe(true);
  });

  it.each([
    ["INSERT INTO visits (reason) VALUES ('x')", 'a write'],
    ["UPDATE visits SET reason = 'x' WHERE id = 1", 'a write'],
    ['CREATE TABLE t (id int)', 'DDL'],
    ["SELECT nextval('s')", 'a volatile builtin the set does not list'],
    ['SELECT random()', 'a volatile builtin'],
    ['SELECT txid_current()', 'a stable builtin that assigns a transaction id'],
    ['SELECT pg_current_xact_id()', 'a stable builtin that assigns a transaction id'],
    ['SELECT leak(id) FROM patients', 'a user function (unqualified, shadowing nothing)'],
    ['SELECT public.upper(name) FROM patients', 'a function outside pg_catalog, whatever its name'],
    ['SELECT id FROM patients FOR UPDATE', 'row locks'],
    ['SELECT id FROM patients FOR NO KEY UPDATE', 'row locks'],
    ['SELECT id FROM patients FOR SHARE', 'row locks'],
    ['SELECT id FROM patients FOR KEY SHARE', 'row locks'],
    ['WITH d AS (DELETE FROM visits RETURNING id) SELECT * FROM d', 'a data-modifying WITH'],
    ['SELECT id INTO copy FROM patients', 'SELECT INTO makes a table'],
    ['COPY patients TO STDOUT', 'COPY'],
    ['SELECT 1; INSERT INTO visits DEFAULT VALUES', 'a read with a write in the same Query'],
    ['EXPLAIN ANALYZE SELECT 1', 'EXPLAIN'],
    ['SET search_path = x', 'a setting'],
    ["SELECT 'for update' AS words FROM patients", 'the words of a lock clause (a false positive costs only speed)'],
    ['SELEC broken', 'what does not parse'],
    ['', 'nothing at all'],
  ])('%s is not a read (%s)', (sql) => {
    expect(reads(sql)).toBe(false);
  });

  it('an unqualified call that a user function of the same name could take is not a read', () => {
    const shadowed = (schema: string | null, name: string) => readOnlyCall(schema, name, builtins, new Set(['upper']));
    expect(onlyReads(analyzeSql('SELECT upper(name) FROM patients'), shadowed)).toBe(false);
    expect(onlyReads(analyzeSql('SELECT pg_catalog.upper(name) FROM patients'), shadowed)).toBe(true);
  });

  it('with no builtin known read-only (no catalog), every call makes a write', () => {
    expect(onlyReads(analyzeSql('SELECT upper(name) FROM patients'), (s, n) => readOnlyCall(s, n, new Set(), new Set()))).toBe(false);
    expect(onlyReads(analyzeSql('SELECT name FROM patients'), (s, n) => readOnlyCall(s, n, new Set(), new Set()))).toBe(true);
  });
});
