// Snowflake analysis: each Snowflake form, lineage (views, CTEs, subqueries, VARIANT paths, FLATTEN), the bypass
// kinds, names, the fingerprint and its cache, and failing closed on what cannot be parsed or resolved.
import { beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../engine.ts';
import { normalizeConnection, normalizeIdentity } from '../../policy/input.ts';
import type { AnalyzeOptions, Catalog, ColumnRef, ResultColumn, StatementAnalysis } from '../types.ts';
import { snowflake } from './dialect.ts';

const NS = { database: 'CLINIC', schema: 'PUBLIC' };
const catalog: Catalog = {
  tables: {
    'CLINIC.PUBLIC.PATIENTS': ['ID', 'NAME', 'SSN', 'DOB', 'PROFILE'],
    'CLINIC.PUBLIC.VISITS': ['ID', 'PATIENT_ID', 'NOTE'],
    'CLINIC.PUBLIC.PATIENT_SSNS': ['PID', 'SSN'],
    'CLINIC.REPORTING.MASKED': ['PID', 'INITIALS'],
  },
  views: {
    'CLINIC.PUBLIC.PATIENT_SSNS': 'SELECT id AS pid, ssn FROM patients',
    // A view's unqualified names resolve in its own schema: REPORTING has no PATIENTS, so it is qualified.
    'CLINIC.REPORTING.MASKED': 'create or replace view masked as select v.pid, left(v.ssn, 1) as initials from public.patient_ssns v',
  },
};

const P = (column: string): ColumnRef => ({ schema: 'CLINIC.PUBLIC', table: 'PATIENTS', column });
const V = (column: string): ColumnRef => ({ schema: 'CLINIC.PUBLIC', table: 'VISITS', column });

function all(sql: string, o: AnalyzeOptions = NS): StatementAnalysis[] {
  return snowflake.analyze(sql, o);
}
function one(sql: string, o: AnalyzeOptions = NS): StatementAnalysis {
  const r = all(sql, o);
  expect(r).toHaveLength(1);
  return r[0] as StatementAnalysis;
}
const withCatalog = (sql: string): StatementAnalysis => one(sql, { ...NS, catalog });
const col = (a: StatementAnalysis, name: string): ResultColumn => {
  const c = a.result_columns.find((x) => x.name === name);
  if (!c) throw new Error(`no result column ${name} in ${a.result_columns.map((x) => x.name).join(', ')}`);
  return c;
};
const sorted = (refs: ColumnRef[]): string[] => refs.map((r) => `${r.schema}.${r.table}.${r.column}`).sort();

beforeAll(async () => {
  await snowflake.load();
});

describe('Snowflake forms', () => {
  it('QUALIFY: its window partition and order are predicates', () => {
    const a = one('SELECT name FROM patients QUALIFY ROW_NUMBER() OVER (PARTITION BY ssn ORDER BY dob) = 1');
    expect(a.kind).toBe('select');
    expect(sorted(a.predicates_on)).toEqual(sorted([P('SSN'), P('DOB')]));
    expect(a.result_columns).toEqual([{ name: 'NAME', sources: [P('NAME')], derived: false }]);
  });

  it('VARIANT paths: v:a.b::string is derived from the column v', () => {
    const a = one('SELECT profile:address.city::string AS city, profile[\'phone\'] AS phone FROM patients');
    expect(col(a, 'CITY')).toEqual({ name: 'CITY', sources: [P('PROFILE')], derived: true });
    expect(col(a, 'PHONE')).toEqual({ name: 'PHONE', sources: [P('PROFILE')], derived: true });
  });

  it('LATERAL FLATTEN: its columns derive from the input, which decides how many rows come back', () => {
    const a = one('SELECT p.id, f.value:code::string AS code, f.index FROM patients p, LATERAL FLATTEN(input => p.profile:diagnoses) f');
    expect(col(a, 'CODE')).toEqual({ name: 'CODE', sources: [P('PROFILE')], derived: true });
    expect(col(a, 'INDEX').sources).toEqual([P('PROFILE')]);
    expect(a.predicates_on).toEqual([P('PROFILE')]);
    expect(a.functions).toContain('flatten');
    const t = one('SELECT f.value FROM patients, TABLE(FLATTEN(patients.profile)) f');
    expect(col(t, 'VALUE').sources).toEqual([P('PROFILE')]);
  });

  it('SAMPLE and time travel (AT / BEFORE / CHANGES) read the table like a plain FROM', () => {
    for (const sql of [
      'SELECT ssn FROM patients SAMPLE (10)',
      "SELECT ssn FROM patients AT(TIMESTAMP => '2026-01-01'::timestamp)",
      'SELECT ssn FROM patients AT(OFFSET => -60)',
      "SELECT ssn FROM patients BEFORE(STATEMENT => '8e5d0ca9-005e-44e6-b858-a8f5b37c5726')",
      'SELECT ssn FROM patients CHANGES(INFORMATION => DEFAULT) AT(OFFSET => -60)',
    ]) {
      const a = one(sql);
      expect(a.kind, sql).toBe('select');
      expect(a.reads, sql).toEqual([{ schema: 'CLINIC.PUBLIC', table: 'PATIENTS', columns: ['SSN'] }]);
      expect(a.result_columns, sql).toEqual([{ name: 'SSN', sources: [P('SSN')], derived: false }]);
    }
  });

  it('MERGE: the target columns each action writes, the source columns it reads, ON and WHEN as predicates', () => {
    const a = one(
      "MERGE INTO patients t USING (SELECT patient_id, note FROM visits) s ON t.id = s.patient_id WHEN MATCHED AND s.note = 'gone' THEN DELETE WHEN MATCHED THEN UPDATE SET t.name = s.note WHEN NOT MATCHED THEN INSERT (id, name) VALUES (s.patient_id, s.note)",
    );
    expect(a.kind).toBe('merge');
    expect(a.command).toBe('MERGE');
    expect(a.writes).toEqual([{ schema: 'CLINIC.PUBLIC', table: 'PATIENTS', columns: ['*', 'NAME', 'ID'] }]);
    expect(a.reads).toContainEqual({ schema: 'CLINIC.PUBLIC', table: 'VISITS', columns: ['PATIENT_ID', 'NOTE'] });
    expect(sorted(a.predicates_on)).toEqual(sorted([P('ID'), V('PATIENT_ID'), V('NOTE')]));
  });

  it('COPY INTO a stage or location unloads rows (their lineage is the result); into a table loads them', () => {
    const unload = one('COPY INTO @exports/patients/ FROM (SELECT name, ssn FROM patients)');
    expect(unload.kind).toBe('copy');
    expect(unload.copy).toEqual({ direction: 'to', target: 'file', table: null });
    expect(unload.result_columns.map((c) => c.sources)).toEqual([[P('NAME')], [P('SSN')]]);
    expect(unload.writes).toEqual([{ schema: 'CLINIC.PUBLIC', table: '@EXPORTS', columns: ['*'] }]);
    expect(unload.literal_dependent).toBe(true);
    const location = withCatalog("COPY INTO 's3://bucket/dump/' FROM patients CREDENTIALS = (AWS_KEY_ID = 'k' AWS_SECRET_KEY = 's')");
    expect(location.copy).toEqual({ direction: 'to', target: 'file', table: { schema: 'CLINIC.PUBLIC', table: 'PATIENTS' } });
    expect(location.result_columns.map((c) => c.name)).toEqual(['ID', 'NAME', 'SSN', 'DOB', 'PROFILE']);
    const load = one('COPY INTO visits (id, note) FROM (SELECT $1, $2 FROM @landing/visits.csv)');
    expect(load.copy).toEqual({ direction: 'from', target: 'file', table: { schema: 'CLINIC.PUBLIC', table: 'VISITS' } });
    expect(load.writes).toEqual([{ schema: 'CLINIC.PUBLIC', table: 'VISITS', columns: ['ID', 'NOTE'] }]);
    expect(load.reads[0]).toMatchObject({ schema: 'CLINIC.PUBLIC', table: '@LANDING' });
  });

  it('stages: reading staged files, PUT and GET (files on the server side)', () => {
    const a = one("SELECT t.$1, t.$2 FROM @landing/patients.csv (FILE_FORMAT => 'csv') t");
    expect(a.reads).toEqual([{ schema: 'CLINIC.PUBLIC', table: '@LANDING', columns: ['$1', '$2'] }]);
    // polyglot glues this alias onto the path: the alias then names nothing, and the statement is refused.
    expect(one('SELECT t.$1 FROM @landing/patients.csv t').kind).toBe('unknown');
    expect(one('PUT file:///tmp/patients.csv @~/uploads').copy).toEqual({ direction: 'from', target: 'file', table: null });
    const get = one('GET @exports/patients/ file:///tmp/out/');
    expect(get).toMatchObject({ command: 'GET', copy: { direction: 'to', target: 'file', table: null } });
    expect(one('CREATE STAGE exports URL = \'s3://bucket/\'')).toMatchObject({ kind: 'ddl', command: 'CREATE STAGE' });
    expect(one('CREATE STORAGE INTEGRATION s3 TYPE = EXTERNAL_STAGE STORAGE_PROVIDER = S3 ENABLED = TRUE')).toMatchObject({ kind: 'ddl', command: 'CREATE STORAGE INTEGRATION' });
  });

  it('CLONE copies every row of its source into a new table', () => {
    const a = withCatalog('CREATE TABLE patients_copy CLONE patients');
    expect(a).toMatchObject({ kind: 'ddl', command: 'CREATE TABLE', creates_table_from_query: true });
    expect(col(a, 'SSN')).toEqual({ name: 'SSN', sources: [P('SSN')], derived: false });
    expect(a.writes[0]).toMatchObject({ schema: 'CLINIC.PUBLIC', table: 'PATIENTS_COPY' });
    const ctas = one('CREATE OR REPLACE TABLE t2 AS SELECT UPPER(ssn) AS s FROM patients');
    expect(ctas.creates_table_from_query).toBe(true);
    expect(col(ctas, 'S')).toMatchObject({ name: 'S', sources: [P('SSN')], derived: true });
    expect(one('CREATE SCHEMA backup CLONE public')).toMatchObject({ kind: 'ddl', creates_table_from_query: true, reads: [{ schema: 'CLINIC.PUBLIC', table: '*', columns: ['*'] }] });
  });

  it('EXECUTE IMMEDIATE of a literal is analyzed as nested statements; of anything else it is opaque', () => {
    const a = one("EXECUTE IMMEDIATE 'SELECT ssn FROM patients WHERE name LIKE ''A%'''");
    expect(a).toMatchObject({ kind: 'utility', command: 'EXECUTE IMMEDIATE', opaque: false, literal_dependent: true });
    expect(a.nested).toHaveLength(1);
    expect(a.nested[0]!.reads).toEqual([{ schema: 'CLINIC.PUBLIC', table: 'PATIENTS', columns: ['SSN', 'NAME'] }]);
    // The client gets the executed statement's rows: the same lineage, so the same masks.
    expect(a.result_columns).toEqual([{ name: 'SSN', sources: [P('SSN')], derived: false }]);
    expect(a.predicates_on).toEqual([P('NAME')]);
    const dollar = one('EXECUTE IMMEDIATE $$DELETE FROM visits$$');
    expect(dollar.nested[0]).toMatchObject({ kind: 'delete', has_where: false });
    for (const sql of ['EXECUTE IMMEDIATE :stmt', 'EXECUTE IMMEDIATE $stmt', 'EXECUTE IMMEDIATE FROM @scripts/run.sql']) {
      const o = one(sql);
      expect(o.opaque, sql).toBe(true);
      expect(o.unresolved[0]!.reason, sql).toMatch(/^dynamic_sql:/);
    }
    expect(one("EXECUTE IMMEDIATE 'SELEC 1'").nested[0]).toMatchObject({ kind: 'unknown' });
  });

  it('CALL runs a procedure whose statements cannot be known: opaque', () => {
    expect(one('CALL clinic.public.purge(30)')).toMatchObject({ command: 'CALL', opaque: true, functions: ['clinic.public.purge'] });
  });

  it('DML: INSERT (OVERWRITE, multi-table), UPDATE, DELETE with their writes and WHERE', () => {
    expect(one('INSERT INTO visits (id, note) SELECT id, ssn FROM patients')).toMatchObject({
      kind: 'insert',
      writes: [{ schema: 'CLINIC.PUBLIC', table: 'VISITS', columns: ['ID', 'NOTE'] }],
      reads: [{ schema: 'CLINIC.PUBLIC', table: 'PATIENTS', columns: ['ID', 'SSN'] }],
    });
    expect(one('INSERT OVERWRITE INTO visits SELECT * FROM visits').command).toBe('INSERT OVERWRITE');
    const multi = one('INSERT ALL INTO visits (id) VALUES (pid) INTO patients (id) VALUES (pid) SELECT id AS pid FROM patients');
    expect(multi.command).toBe('INSERT ALL');
    expect(multi.writes.map((x) => x.table)).toEqual(['VISITS', 'PATIENTS']);
    expect(one("UPDATE patients p SET p.name = 'x' WHERE p.id = 7")).toMatchObject({
      kind: 'update',
      writes: [{ schema: 'CLINIC.PUBLIC', table: 'PATIENTS', columns: ['NAME'] }],
      has_where: true,
      where_is_trivial: false,
    });
    expect(one('DELETE FROM visits')).toMatchObject({ kind: 'delete', has_where: false });
    expect(one('DELETE FROM visits v USING patients p WHERE v.patient_id = p.id').predicates_on).toEqual([V('PATIENT_ID'), P('ID')]);
  });

  it('a WHERE that filters nothing counts as trivial, and depends on its literals', () => {
    for (const where of ['TRUE', '1 = 1', "'a' = 'a'", 'id = id', 'id > 3 OR TRUE', 'NOT FALSE', '(1 = 1) AND (2 = 2)', 'NULL IS NULL']) {
      const a = one(`DELETE FROM visits WHERE ${where}`);
      expect(a.where_is_trivial, where).toBe(true);
    }
    for (const where of ['id = 3', '1 = 2 OR id = 3', 'id IN (SELECT patient_id FROM visits)']) expect(one(`DELETE FROM visits WHERE ${where}`).where_is_trivial, where).toBe(false);
    expect(one('DELETE FROM visits WHERE 1 = 1').literal_dependent).toBe(true);
    expect(one('DELETE FROM visits WHERE id = 3').literal_dependent).toBe(false);
  });

  it('session statements: USE, SET, ALTER SESSION, transactions, SHOW, DESCRIBE, EXPLAIN, GRANT', () => {
    expect(one('USE SCHEMA clinic.reporting')).toMatchObject({ kind: 'utility', command: 'USE SCHEMA', setting: 'schema', setting_value: 'CLINIC.REPORTING' });
    expect(one('USE ROLE accountadmin')).toMatchObject({ command: 'USE ROLE', setting: 'role', setting_value: 'ACCOUNTADMIN' });
    expect(one("SET tbl = 'patients'")).toMatchObject({ command: 'SET', setting: 'tbl', setting_value: 'patients', literal_dependent: true });
    expect(one("ALTER SESSION SET QUERY_TAG = 'x'")).toMatchObject({ command: 'ALTER SESSION', setting: 'query_tag', setting_value: 'x' });
    expect(all('BEGIN; DELETE FROM visits WHERE id = 1; COMMIT').map((a) => [a.kind, a.command])).toEqual([['tcl', 'BEGIN'], ['delete', 'DELETE'], ['tcl', 'COMMIT']]);
    expect(one('SHOW TABLES')).toMatchObject({ kind: 'utility', command: 'SHOW' });
    expect(one('DESCRIBE TABLE patients')).toMatchObject({ command: 'DESCRIBE', reads: [{ schema: 'CLINIC.PUBLIC', table: 'PATIENTS', columns: [] }] });
    const ex = one('EXPLAIN SELECT ssn FROM patients');
    expect(ex).toMatchObject({ command: 'EXPLAIN', explain_options: [], result_columns: [{ name: 'QUERY PLAN', sources: [], derived: true }] });
    expect(ex.nested[0]!.result_columns).toEqual([{ name: 'SSN', sources: [P('SSN')], derived: false }]);
    expect(one('GRANT SELECT ON TABLE patients TO ROLE contractor')).toMatchObject({ kind: 'dcl', command: 'GRANT' });
    expect(one('CREATE ROLE auditors')).toMatchObject({ kind: 'dcl', command: 'CREATE ROLE' });
  });

  it('dangerous built-ins are named in functions; RESULT_SCAN of another query is dynamic', () => {
    const a = one('SELECT * FROM TABLE(RESULT_SCAN(LAST_QUERY_ID(-2)))');
    expect(a.functions).toEqual(['result_scan', 'last_query_id']);
    expect(a.unresolved.map((u) => u.reason.split(':')[0])).toEqual(['dynamic_sql']);
    expect(one("SELECT SYSTEM$ALLOWLIST(), SYSTEM$GET_PRIVATELINK_CONFIG()").functions).toEqual(['system$allowlist', 'system$get_privatelink_config']);
  });
});

describe('lineage', () => {
  it('through catalog views, resolved in the view\'s own schema', () => {
    const a = withCatalog('SELECT pid, ssn FROM patient_ssns');
    expect(a.result_columns).toEqual([
      { name: 'PID', sources: [P('ID')], derived: false },
      { name: 'SSN', sources: [P('SSN')], derived: false },
    ]);
    expect(a.reads).toContainEqual({ schema: 'CLINIC.PUBLIC', table: 'PATIENTS', columns: ['ID', 'SSN'] });
    const nested = withCatalog('SELECT initials FROM reporting.masked');
    expect(nested.result_columns).toEqual([{ name: 'INITIALS', sources: [P('SSN')], derived: true, through: [{ ...P('SSN'), functions: ['left'] }] }]);
  });

  it('through CTEs (recursive too) and subqueries', () => {
    const cte = one('WITH c AS (SELECT ssn AS s FROM patients) SELECT s FROM c');
    expect(cte.result_columns).toEqual([{ name: 'S', sources: [P('SSN')], derived: false }]);
    const rec = one('WITH RECURSIVE r (a, b) AS (SELECT id, ssn FROM patients UNION ALL SELECT b, a FROM r) SELECT a FROM r');
    expect(sorted(col(rec, 'A').sources)).toEqual(sorted([P('ID'), P('SSN')]));
    const sub = one('SELECT x.s FROM (SELECT ssn AS s FROM patients) x');
    expect(sub.result_columns).toEqual([{ name: 'S', sources: [P('SSN')], derived: false }]);
    const scalar = one('SELECT (SELECT MAX(ssn) FROM patients) AS m');
    expect(col(scalar, 'M')).toMatchObject({ sources: [P('SSN')], derived: true });
    const setop = one('SELECT ssn FROM patients UNION SELECT note FROM visits');
    expect(setop.result_columns).toEqual([{ name: 'SSN', sources: [P('SSN'), V('NOTE')], derived: false }]);
    expect(sorted(setop.predicates_on)).toEqual(sorted([P('SSN'), V('NOTE')]));
  });

  it('expands * with the catalog (EXCLUDE, REPLACE, RENAME), else shows it as one * column', () => {
    expect(withCatalog('SELECT * EXCLUDE (profile) FROM patients').result_columns.map((c) => c.name)).toEqual(['ID', 'NAME', 'SSN', 'DOB']);
    const rep = withCatalog('SELECT * REPLACE (UPPER(name) AS ssn) RENAME (id AS pid) FROM patients');
    expect(rep.result_columns.map((c) => c.name)).toEqual(['PID', 'NAME', 'SSN', 'DOB', 'PROFILE']);
    expect(col(rep, 'SSN')).toEqual({ name: 'SSN', sources: [P('NAME')], derived: true });
    expect(one('SELECT * FROM patients').result_columns).toEqual([{ name: '*', sources: [P('*')], derived: false }]);
    // USING / NATURAL joins show their columns once, at positions not modelled: every output carries every source.
    const using = withCatalog('SELECT * FROM patients JOIN visits USING (id)');
    expect(using.result_columns.every((c) => c.derived && c.sources.length === 8)).toBe(true);
  });
});

describe('bypass kinds', () => {
  it('aliases keep a direct copy', () => {
    expect(one('SELECT p.ssn AS not_phi FROM patients p').result_columns).toEqual([{ name: 'NOT_PHI', sources: [P('SSN')], derived: false }]);
    expect(one('SELECT ssn::varchar AS s, ssn::string AS t FROM patients').result_columns.map((c) => c.derived)).toEqual([false, false]);
    expect(col(one('SELECT ssn::varchar(3) AS s FROM patients'), 'S').derived).toBe(true);
  });

  it('derivations (UPPER, SUBSTR, ||, CONCAT, IFF, hashes) are derived from their sources', () => {
    const a = one("SELECT UPPER(ssn) a, SUBSTR(ssn, 1, 3) b, ssn || 'x' c, CONCAT(name, ssn) d, IFF(dob > '2000-01-01', ssn, NULL) e, SHA2(ssn) f FROM patients");
    for (const c of a.result_columns) {
      expect(c.derived, c.name).toBe(true);
      expect(c.sources, c.name).toContainEqual(P('SSN'));
    }
    expect(col(a, 'D').sources).toEqual([P('NAME'), P('SSN')]);
    expect(col(a, 'E').sources).toEqual([P('DOB'), P('SSN')]);
  });

  it('COUNT(ssn) reaches the value only through count (content-free per policy); an unknown function is unresolved', () => {
    const a = one('SELECT COUNT(DISTINCT ssn) AS n FROM patients');
    expect(col(a, 'N')).toEqual({ name: 'N', sources: [P('SSN')], derived: true, through: [{ ...P('SSN'), functions: ['count'] }] });
    const udf = one('SELECT clinic.public.decode_ssn(ssn) AS x FROM patients');
    expect(udf.unresolved).toEqual([{ reason: 'unknown_function: clinic.public.decode_ssn() is not a known pure built-in; it may read any table', column: 'X' }]);
    expect(col(udf, 'X')).toMatchObject({ sources: [P('SSN')], derived: true });
  });

  it('whole rows: OBJECT_CONSTRUCT(*), HASH(t.*) carry every column', () => {
    const a = withCatalog('SELECT OBJECT_CONSTRUCT(*) AS o, HASH(p.*) AS h FROM patients p');
    for (const c of a.result_columns) {
      expect(c.derived).toBe(true);
      expect(sorted(c.sources)).toEqual(sorted(['ID', 'NAME', 'SSN', 'DOB', 'PROFILE'].map(P)));
    }
    expect(col(one('SELECT OBJECT_CONSTRUCT(*) AS o FROM patients'), 'O').sources).toEqual([P('*')]);
  });

  it('positional $n is the n-th column (by the catalog; every column without one)', () => {
    expect(withCatalog('SELECT $3 AS x FROM patients').result_columns).toEqual([{ name: 'X', sources: [P('SSN')], derived: false }]);
    expect(one('SELECT $3 AS x FROM patients').result_columns[0]!.sources).toEqual([P('$3'), P('*')]);
    expect(withCatalog("SELECT id FROM patients WHERE $3 LIKE '1%'").predicates_on).toEqual([P('SSN')]);
  });

  it('inference by predicate: WHERE / JOIN / GROUP BY / ORDER BY / QUALIFY columns are predicates, through aliases too', () => {
    expect(one("SELECT id FROM patients WHERE ssn LIKE '1%'").predicates_on).toEqual([P('SSN')]);
    expect(withCatalog("SELECT id, ssn AS x FROM patients WHERE x LIKE '1%'").predicates_on).toEqual([P('SSN')]);
    // Without a catalog, X may be a column of PATIENTS or the alias: both count.
    expect(sorted(one("SELECT id, ssn AS x FROM patients WHERE x LIKE '1%'").predicates_on)).toEqual(sorted([P('X'), P('SSN')]));
    expect(one('SELECT id FROM patients ORDER BY ssn').predicates_on).toEqual([P('SSN')]);
    expect(one('SELECT LEFT(ssn, 1) AS d, COUNT(*) FROM patients GROUP BY 1').predicates_on).toEqual([P('SSN')]);
    expect(one('SELECT DISTINCT LEFT(ssn, 3) FROM patients').predicates_on).toEqual([P('SSN')]);
    expect(one('SELECT id FROM patients WHERE EXISTS (SELECT 1 FROM visits v WHERE v.note = patients.ssn)').predicates_on).toEqual([V('NOTE'), P('SSN')]);
  });
});

describe('names', () => {
  it('fold to upper case unless quoted, and resolve to DATABASE.SCHEMA', () => {
    const a = one('SELECT "MixedCase", Ssn FROM "Other".reporting."Pat"');
    expect(a.reads).toEqual([{ schema: 'Other.REPORTING', table: 'Pat', columns: ['MixedCase', 'SSN'] }]);
    expect(one('SELECT ssn FROM reporting.t').reads[0]).toMatchObject({ schema: 'CLINIC.REPORTING', table: 'T' });
  });

  it('without a current database or schema, an unqualified name cannot be resolved: unknown', () => {
    const a = one('SELECT ssn FROM patients', {});
    expect(a.kind).toBe('unknown');
    expect(a.parse_error).toMatch(/no current database/);
    expect(one('SELECT ssn FROM patients', { database: 'CLINIC' }).parse_error).toMatch(/no current schema/);
    expect(one('SELECT ssn FROM clinic.public.patients', {}).reads[0]).toMatchObject({ schema: 'CLINIC.PUBLIC', table: 'PATIENTS' });
  });
});

describe('failing closed', () => {
  it('a parse error is an unknown statement with the parser\'s message', () => {
    const a = one('SELEC ssn FROM patients');
    expect(a).toMatchObject({ kind: 'unknown', command: 'UNKNOWN', literal_dependent: true });
    expect(a.parse_error).toMatch(/Parse error/);
    expect(one("CREATE EXTERNAL FUNCTION exfil(x string) RETURNS variant API_INTEGRATION = api AS 'https://x'").kind).toBe('unknown');
  });

  it('statements the analysis does not know, or that the parser misreads, are unknown', () => {
    expect(one('UNSET tbl').kind).toBe('unknown');
    expect(one('FROBNICATE @stage').kind).toBe('unknown');
    expect(one('SELECT a FROM nowhere.x.y.z.t').kind).toBe('unknown');
    expect(one('SELECT q.ssn FROM patients p').parse_error).toMatch(/names no table/);
    expect(one('WITH x AS (SELECT ssn FROM patients) INSERT INTO visits SELECT * FROM x').kind).toBe('unknown');
    // Snowflake Scripting blocks are not analyzed: their pieces are unknown, directly or through EXECUTE IMMEDIATE.
    expect(all('BEGIN DELETE FROM visits; END').map((a) => a.kind)).toEqual(['unknown', 'unknown']);
    expect(one('EXECUTE IMMEDIATE $$ BEGIN DELETE FROM visits; END $$').nested.map((a) => a.kind)).toEqual(['unknown', 'unknown']);
  });

  it('a dynamic table name is unresolved lineage; a literal one is resolved (and never shared)', () => {
    const lit = one("SELECT ssn FROM IDENTIFIER('clinic.public.patients')");
    expect(lit).toMatchObject({ reads: [{ schema: 'CLINIC.PUBLIC', table: 'PATIENTS', columns: ['SSN'] }], literal_dependent: true });
    expect(one('SELECT * FROM IDENTIFIER($tbl)').unresolved[0]!.reason).toMatch(/^dynamic_sql:/);
  });

  it('nesting beyond the parser\'s limit is unknown, not a crash', () => {
    expect(one(`SELECT ${'('.repeat(400)}1${')'.repeat(400)}`).kind).toBe('unknown');
  });
});

describe('fingerprint and cache', () => {
  it('normalizes literals and case; keeps quoted names, binds, positions and keywords apart', () => {
    const fp = snowflake.fingerprint;
    expect(fp("select ssn from patients where id = 7 and name = 'x'")).toBe(fp("SELECT SSN FROM PATIENTS WHERE ID = 8 AND NAME = 'y'"));
    expect(fp("SELECT ssn FROM patients WHERE note = $$a$$ -- comment")).toBe(fp("SELECT ssn FROM patients WHERE note = 'b'"));
    expect(fp('SELECT "ssn" FROM patients')).not.toBe(fp('SELECT ssn FROM patients'));
    expect(fp('SELECT ssn FROM patients ORDER BY 1')).not.toBe(fp('SELECT ssn FROM patients ORDER BY 2'));
    expect(fp('SELECT ssn FROM patients GROUP BY 1, 2 LIMIT 5')).toBe(fp('SELECT ssn FROM patients GROUP BY 1, 2 LIMIT 6'));
    expect(fp('SELECT ? FROM patients')).not.toBe(fp('SELECT 1 FROM patients'));
    expect(fp('SELECT $1 FROM patients')).not.toBe(fp('SELECT $2 FROM patients'));
    expect(fp('DELETE FROM visits WHERE TRUE')).not.toBe(fp('DELETE FROM visits WHERE FALSE'));
    expect(fp("SELECT X'AB'")).not.toBe(fp("SELECT 'AB'"));
    expect(fp("SELECT 'unterminated")).toBeNull();
  });

  it('reuses an analysis for the same shape with the new text, never one a literal decided', () => {
    const a = one('SELECT name FROM patients WHERE id = 1');
    const b = one('SELECT name FROM patients WHERE id = 2');
    expect(b.text).toBe('SELECT name FROM patients WHERE id = 2');
    expect({ ...b, text: a.text }).toEqual(a);
    expect(one('DELETE FROM visits WHERE 1 = 1').where_is_trivial).toBe(true);
    expect(one('DELETE FROM visits WHERE 1 = 2').where_is_trivial).toBe(false);
    // Different namespaces never share an analysis.
    expect(one('SELECT name FROM patients WHERE id = 3', { database: 'OTHER', schema: 'PUBLIC' }).reads[0]!.schema).toBe('OTHER.PUBLIC');
  });

  it('splits statements at top-level semicolons, keeping leading comments with their statement', () => {
    const r = all("/* break-glass: INC-1 */ SELECT 'a;b' AS x; SELECT $$c;d$$ AS y;");
    expect(r.map((a) => a.text)).toEqual(["/* break-glass: INC-1 */ SELECT 'a;b' AS x", 'SELECT $$c;d$$ AS y']);
    expect(all(';; ')).toEqual([]);
  });
});

describe('the engine with the Snowflake dialect', () => {
  it('loads only the Snowflake parser and analyzes with the current database and schema', async () => {
    const engine = await createEngine({ bundle: null, dialect: 'snowflake', database: 'CLINIC', schema: 'PUBLIC' });
    const ctx = { identity: normalizeIdentity({ sub: 'bob', groups: ['contractors'] }), connection: normalizeConnection({ engine: 'snowflake', front_door: 'snowflake', database: 'CLINIC' }) };
    const v = engine.decide('SELECT ssn FROM patients; SELEC 1', ctx);
    expect(v.action).toBe('deny');
    expect(v.statements.map((s) => s.kind)).toEqual(['select', 'unknown']);
    expect(v.statements[0]!.reads).toEqual([{ schema: 'CLINIC.PUBLIC', table: 'PATIENTS', columns: ['SSN'] }]);
  });
});
