// Result-column lineage for masking: every output column must name every source column it can carry,
// whatever the SQL looks like (bypass attempts included), and what cannot be followed is reported.
import { describe, it, expect, beforeAll } from 'vitest';
import { analyzeSql, loadParser } from './analyze.ts';
import type { AnalyzeOptions, Catalog, ColumnRef, ResultColumn, StatementAnalysis } from '../types.ts';

const catalog: Catalog = {
  tables: {
    'public.patients': ['id', 'name', 'ssn', 'dob', 'email'],
    'public.visits': ['id', 'patient_id', 'notes'],
    'public.patient_view': ['id', 'name', 'ssn'],
    'public.view2': ['s'],
    'public.loop_v': ['x'],
    'public.broken_v': ['x'],
  },
  views: {
    // As pg_get_viewdef prints them.
    'public.patient_view': ' SELECT patients.id,\n    patients.name,\n    patients.ssn\n   FROM patients;',
    'public.view2': ' SELECT patient_view.ssn AS s\n   FROM patient_view;',
    'public.loop_v': ' SELECT loop_v.x FROM loop_v;',
    'public.broken_v': 'SELEC nope',
  },
  functions: {
    'public.f': { language: 'sql', body: 'SELECT ssn FROM patients WHERE id = $1' },
    'public.g': { language: 'plpgsql', body: 'BEGIN RETURN (SELECT notes FROM visits WHERE patient_id = $1 LIMIT 1); END' },
    'public.h': { language: 'c', body: 'h_impl' },
    'public.dyn': { language: 'plpgsql', body: "BEGIN RETURN QUERY EXECUTE 'SELECT ssn FROM patients'; END", returns_set: true },
    'public.sq': { language: 'sql', body: 'RETURN (SELECT email FROM patients LIMIT 1)' },
    'public.rows': { language: 'sql', body: 'SELECT id, ssn FROM patients', returns_set: true },
    'public.loopf': { language: 'sql', body: 'SELECT loopf(1)' },
  },
};
const C: AnalyzeOptions = { catalog };

function one(sql: string, o: AnalyzeOptions = C): StatementAnalysis {
  const r = analyzeSql(sql, o);
  expect(r).toHaveLength(1);
  return r[0] as StatementAnalysis;
}

/** 'patients.ssn' → public.patients.ssn */
function ref(s: string): ColumnRef {
  const [table, column] = s.split('.') as [string, string];
  return { schema: 'public', table, column };
}

/**
 * Compact result columns: 'x = patients.ssn' is a plain reference (a direct copy), 'x ~ patients.ssn visits.notes'
 * a derived value (nothing after '~': derived from no table column); '| patients.ssn:upper,lower' lists the
 * sources that reach it only through those calls (ResultColumn.through).
 */
function cols(...specs: string[]): ResultColumn[] {
  return specs.map((s) => {
    const m = /^(\S+) ([=~])([^|]*)(?:\|(.*))?$/.exec(s);
    if (!m) throw new Error(`bad spec ${s}`);
    const srcs = (m[3] as string).trim();
    const rc: ResultColumn = { name: m[1] as string, sources: srcs ? srcs.split(/\s+/).map(ref) : [], derived: m[2] === '~' };
    const through = (m[4] ?? '').trim();
    if (through) {
      rc.through = through.split(/\s+/).map((t) => {
        const [c, fns] = t.split(':') as [string, string];
        return { ...ref(c), functions: fns.split(',') };
      });
    }
    return rc;
  });
}

/** Unresolved entries as 'code' or 'code@column'. */
function unres(a: StatementAnalysis): string[] {
  return a.unresolved.map((u) => u.reason.slice(0, u.reason.indexOf(':')) + (u.column !== undefined ? '@' + u.column : ''));
}

const ALL = 'patients.id patients.name patients.ssn patients.dob patients.email';

beforeAll(async () => {
  await loadParser();
});

// [sql, result columns, unresolved]
type Case = [string, ResultColumn[], string[]];

describe('bypass attempts keep the source', () => {
  const cases: Case[] = [
    ['SELECT ssn FROM patients', cols('ssn = patients.ssn'), []],
    ['SELECT ssn AS x FROM patients', cols('x = patients.ssn'), []],
    ['SELECT p.ssn AS "Innocent" FROM patients p', cols('Innocent = patients.ssn'), []],
    ['SELECT upper(ssn) FROM patients', cols('upper ~ patients.ssn | patients.ssn:upper'), []],
    ["SELECT ssn || '' FROM patients", cols('?column? ~ patients.ssn'), []],
    ['SELECT substr(ssn, 1, 3) FROM patients', cols('substr ~ patients.ssn | patients.ssn:substr'), []],
    ['SELECT ssn::varchar FROM patients', cols('ssn = patients.ssn'), []],
    ['SELECT ssn::varchar(3) FROM patients', cols('ssn ~ patients.ssn'), []],
    ['SELECT CAST(ssn AS pg_catalog.text) AS t FROM patients', cols('t = patients.ssn'), []],
    ['SELECT ssn::char(3) FROM patients', cols('ssn ~ patients.ssn'), []],
    ['SELECT CAST(ssn AS bytea) AS b FROM patients', cols('b ~ patients.ssn'), []],
    ["SELECT format('%s', ssn) FROM patients", cols('format ~ patients.ssn | patients.ssn:format'), []],
    ["SELECT string_agg(ssn, ',') FROM patients", cols('string_agg ~ patients.ssn | patients.ssn:string_agg'), []],
    ['SELECT (SELECT ssn FROM patients LIMIT 1)', cols('ssn ~ patients.ssn'), []],
    ['WITH t AS (SELECT ssn FROM patients) SELECT * FROM t', cols('ssn = patients.ssn'), []],
    ['WITH t(a) AS (SELECT ssn FROM patients) SELECT a FROM t', cols('a = patients.ssn'), []],
    ['SELECT * FROM (SELECT ssn FROM patients) s', cols('ssn = patients.ssn'), []],
    ['SELECT x FROM patients, LATERAL (SELECT ssn AS x) l', cols('x = patients.ssn'), []],
    ['SELECT id, notes FROM visits UNION ALL SELECT id, ssn FROM patients', cols('id = visits.id patients.id', 'notes = visits.notes patients.ssn'), []],
    ['SELECT notes FROM visits INTERSECT SELECT upper(ssn) FROM patients', cols('notes ~ visits.notes patients.ssn | patients.ssn:upper'), []],
    ['SELECT (p).ssn FROM patients p', cols('ssn = patients.ssn'), []],
    ['SELECT ARRAY[ssn] FROM patients', cols('array ~ patients.ssn'), []],
    ['SELECT ARRAY(SELECT ssn FROM patients)', cols('array ~ patients.ssn'), []],
    ["SELECT jsonb_build_object('a', ssn) FROM patients", cols('jsonb_build_object ~ patients.ssn | patients.ssn:jsonb_build_object'), []],
    ['SELECT CASE WHEN true THEN ssn END FROM patients', cols('case ~ patients.ssn'), []],
    ['SELECT CASE WHEN ssn LIKE $1 THEN 1 ELSE 0 END AS hit FROM patients', cols('hit ~ patients.ssn'), []],
    ['SELECT coalesce(null, ssn) FROM patients', cols('coalesce ~ patients.ssn'), []],
    ['SELECT greatest(ssn, name) FROM patients', cols('greatest ~ patients.ssn patients.name'), []],
    ['SELECT x FROM unnest(ARRAY[(SELECT ssn FROM patients LIMIT 1)]) x', cols('x ~ patients.ssn'), []],
    ['SELECT pg_catalog.upper(ssn) FROM patients', cols('upper ~ patients.ssn | patients.ssn:pg_catalog.upper'), []],
    ['SELECT now(), version(), random()', cols('now ~', 'version ~', 'random ~'), []],
  ];
  it.each(cases)('%s', (sql, rc, u) => {
    const a = one(sql);
    expect(a.result_columns).toEqual(rc);
    expect(unres(a)).toEqual(u);
  });
});

describe('whole-row values carry every column', () => {
  const cases: Case[] = [
    ['SELECT p FROM patients p', cols(`p ~ ${ALL}`), []],
    ['SELECT row_to_json(p) FROM patients p', cols(`row_to_json ~ ${ALL}`), []],
    ['SELECT to_jsonb(p) FROM patients p', cols(`to_jsonb ~ ${ALL}`), []],
    ['SELECT p::text FROM patients p', cols(`p ~ ${ALL}`), []],
    ['SELECT ROW(p.*) FROM patients p', cols(`row ~ ${ALL}`), []],
    ['SELECT json_agg(p) FROM patients p', cols(`json_agg ~ ${ALL}`), []],
    ['SELECT hstore(p) FROM patients p', cols(`hstore ~ ${ALL}`), []],
    ['SELECT array_agg(p) FROM patients p', cols(`array_agg ~ ${ALL}`), []],
    ['SELECT md5(p.*::text) FROM patients p', cols(`md5 ~ ${ALL}`), []],
    ['SELECT row_to_json(patients) FROM patients', cols(`row_to_json ~ ${ALL}`), []],
    ['SELECT (p).* FROM patients p', cols('id = patients.id', 'name = patients.name', 'ssn = patients.ssn', 'dob = patients.dob', 'email = patients.email'), []],
    ['SELECT to_json(v) FROM patient_view v', cols('to_json ~ patients.id patients.name patients.ssn'), []],
    ["SELECT query_to_xml('SELECT ssn FROM patients', true, false, '')", cols('query_to_xml ~'), ['dynamic_sql@query_to_xml']],
    ["SELECT table_to_xml('patients', true, false, '') AS x", cols('x ~'), ['dynamic_sql@x']],
    ["SELECT cursor_to_xml('c', 10, false, false, '')", cols('cursor_to_xml ~'), ['dynamic_sql@cursor_to_xml']],
    ["SELECT * FROM dblink('db', 'SELECT ssn FROM patients') AS t(s text)", cols('s ~'), ['dynamic_sql']],
  ];
  it.each(cases)('%s', (sql, rc, u) => {
    const a = one(sql);
    // json_keys (checked below) aside, every column flows into the value.
    expect(a.result_columns.map(({ json_keys: _keys, ...rest }) => rest)).toEqual(rc);
    expect(unres(a)).toEqual(u);
  });
  it('a whole row serialized to JSON names its keys, each with its own lineage', () => {
    for (const sql of ['SELECT row_to_json(p) FROM patients p', 'SELECT to_jsonb(p) FROM patients p', 'SELECT json_agg(p) FROM patients p']) {
      const keys = one(sql).result_columns[0]!.json_keys!;
      expect(keys.find((k) => k.key === 'ssn')).toEqual({ key: 'ssn', sources: [ref('patients.ssn')], derived: false });
      expect(keys.length).toBeGreaterThan(3);
    }
    expect(one('SELECT p::text FROM patients p').result_columns[0]!.json_keys).toBeUndefined();
    expect(one("SELECT json_build_object('ssn', name) FROM patients").result_columns[0]!.json_keys).toBeUndefined();
  });
  it('without a catalog a whole row is table.* (no bogus column named after the alias)', () => {
    for (const sql of ['SELECT row_to_json(p) FROM patients p', 'SELECT p FROM patients p', 'SELECT p::text FROM patients p']) {
      const a = one(sql, {});
      expect(a.result_columns.map((c) => [c.sources, c.derived])).toEqual([[[ref('patients.*')], true]]);
      expect(a.reads).toEqual([{ schema: 'public', table: 'patients', columns: ['*'] }]);
    }
  });
});

describe('views are analyzed through their definitions', () => {
  const cases: Case[] = [
    ['SELECT ssn FROM patient_view', cols('ssn = patients.ssn'), []],
    ['SELECT * FROM patient_view', cols('id = patients.id', 'name = patients.name', 'ssn = patients.ssn'), []],
    ['SELECT public.patient_view.ssn FROM public.patient_view', cols('ssn = patients.ssn'), []],
    ['SELECT a, c FROM patient_view AS v(a, b, c)', cols('a = patients.id', 'c = patients.ssn'), []],
    ['SELECT upper(s) FROM view2', cols('upper ~ patients.ssn | patients.ssn:upper'), []],
    ['SELECT * FROM patient_view JOIN visits ON visits.patient_id = patient_view.id', cols('id = patients.id', 'name = patients.name', 'ssn = patients.ssn', 'id = visits.id', 'patient_id = visits.patient_id', 'notes = visits.notes'), []],
    ['SELECT x FROM loop_v', cols('x = loop_v.x'), ['view']],
    ['SELECT x FROM broken_v', cols('x = broken_v.x'), ['view']],
  ];
  it.each(cases)('%s', (sql, rc, u) => {
    const a = one(sql);
    expect(a.result_columns).toEqual(rc);
    expect(unres(a)).toEqual(u);
  });
  it('reads name the view and the tables under it; predicates resolve through it', () => {
    const a = one("SELECT v.id FROM patient_view v WHERE v.ssn LIKE '1%'");
    expect(a.reads).toEqual([
      { schema: 'public', table: 'patients', columns: ['id', 'name', 'ssn'] },
      { schema: 'public', table: 'patient_view', columns: ['ssn', 'id'] },
    ]);
    expect(a.predicates_on).toEqual([ref('patients.ssn')]);
  });
  it('nested views record every level', () => {
    expect(one('SELECT s FROM view2').reads.map((r) => r.table)).toEqual(['patients', 'patient_view', 'view2']);
  });
  it('without a catalog entry a view is a table', () => {
    const a = one('SELECT ssn FROM patient_view', { catalog: { tables: catalog.tables } });
    expect(a.result_columns).toEqual(cols('ssn = patient_view.ssn'));
  });
  it('the loop and parse-error reasons are specific', () => {
    expect(one('SELECT x FROM loop_v').unresolved).toEqual([{ reason: 'view: public.loop_v is nested too deeply (or in itself) to follow' }]);
    expect(one('SELECT x FROM broken_v').unresolved[0]?.reason).toMatch(/^view: the definition of public.broken_v cannot be analyzed \(syntax error/);
  });
});

describe('functions', () => {
  const cases: Case[] = [
    ['SELECT f(id) FROM patients', cols('f ~ patients.id patients.ssn'), []],
    ['SELECT public.f(1) AS v', cols('v ~ patients.ssn'), []],
    ['SELECT * FROM f(1)', cols('f ~ patients.ssn'), []],
    ['SELECT * FROM rows() r', cols('id ~ patients.id patients.ssn', 'ssn ~ patients.id patients.ssn'), []],
    ['SELECT sq()', cols('sq ~ patients.email'), []],
    ['SELECT g(id) FROM patients', cols('g ~ patients.id visits.patient_id visits.notes'), []],
    ['SELECT h(ssn) FROM patients', cols('h ~ patients.ssn'), ['opaque_function@h']],
    ['SELECT * FROM dyn()', cols('* ~'), ['dynamic_sql']],
    ['SELECT loopf(1)', cols('loopf ~'), []],
    ['SELECT leak(ssn) FROM patients', cols('leak ~ patients.ssn'), ['unknown_function@leak']],
    ['SELECT leak() AS z', cols('z ~'), ['unknown_function@z']],
    ['SELECT public.upper(ssn) FROM patients', cols('upper ~ patients.ssn'), ['unknown_function@upper']],
    ["SELECT pg_read_file('/etc/passwd')", cols('pg_read_file ~'), ['unknown_function@pg_read_file']],
    ['SELECT id FROM patients WHERE leak(ssn)', cols('id = patients.id'), []],
    ['SELECT * FROM generate_series(1, 2)', cols('generate_series ~'), []],
    ['SELECT n FROM generate_series(1, 2) AS n', cols('n ~'), []],
    ['SELECT * FROM unknown_srf()', cols('* ~'), ['unknown_set_function']],
    ['SELECT * FROM unknown_srf(ssn_of(1)) u', cols('* ~'), ['unknown_function', 'unknown_set_function']],
    ["SELECT * FROM json_each('{}') WITH ORDINALITY", cols('key ~', 'value ~', 'ordinality ~'), []],
    ['SELECT * FROM jsonb_to_recordset($1) AS t(a int, b text)', cols('a ~', 'b ~'), []],
    ['SELECT * FROM patients p, unnest(ARRAY[p.ssn]) AS u(s) WHERE false', cols('id = patients.id', 'name = patients.name', 'ssn = patients.ssn', 'dob = patients.dob', 'email = patients.email', 's ~ patients.ssn'), []],
    ['SELECT (f(1)).*', cols('* ~ patients.ssn'), ['unknown_shape@f']],
    ['SELECT * FROM jsonb_populate_record(null::patients, $1)', cols('* ~'), ['unknown_shape']],
    ['SELECT * FROM ROWS FROM (generate_series(1, 2), unnest(ARRAY[1], ARRAY[2])) AS r(a, b, c)', cols('a ~', 'b ~', 'c ~'), []],
    ['CALL unknown_proc(1)', [], ['unknown_function']],
  ];
  it.each(cases)('%s', (sql, rc, u) => {
    const a = one(sql);
    expect(a.result_columns).toEqual(rc);
    expect(unres(a)).toEqual(u);
  });
  it('a catalog function body counts for reads and predicates', () => {
    const a = one('SELECT f(id) FROM patients');
    expect(a.reads).toEqual([{ schema: 'public', table: 'patients', columns: ['id', 'ssn'] }]);
    expect(a.predicates_on).toEqual([ref('patients.id')]);
  });
  it('dynamic SQL in a catalog plpgsql body is opaque and unresolved', () => {
    const a = one('SELECT * FROM dyn()');
    expect(a.opaque).toBe(true);
    expect(a.unresolved).toEqual([{ reason: 'dynamic_sql: public.dyn() runs SQL that cannot be known before it runs (EXECUTE, or a body that does not parse)' }]);
  });
  it('unknown function reasons are specific', () => {
    expect(one('SELECT leak(ssn) AS z FROM patients').unresolved).toEqual([
      { reason: 'unknown_function: leak() is not in the catalog and not a known pure built-in; it may read any table', column: 'z' },
    ]);
  });
});

describe('clauses, predicates and positions', () => {
  const cases: [string, ResultColumn[], string[]][] = [
    // [sql, result columns, predicates_on]
    ["SELECT id FROM patients WHERE EXISTS (SELECT 1 FROM visits v WHERE v.patient_id = patients.id AND v.notes LIKE 'x%')", cols('id = patients.id'), ['visits.patient_id', 'patients.id', 'visits.notes']],
    ["SELECT count(*) FILTER (WHERE ssn LIKE '1%') FROM patients", cols('count ~'), ['patients.ssn']],
    ['SELECT lag(ssn) OVER (PARTITION BY email ORDER BY dob) FROM patients', cols('lag ~ patients.ssn | patients.ssn:lag'), ['patients.email', 'patients.dob']],
    ['SELECT lag(ssn) OVER w FROM patients WINDOW w AS (PARTITION BY name)', cols('lag ~ patients.ssn | patients.ssn:lag'), ['patients.name']],
    ['SELECT name, count(*) FROM patients GROUP BY GROUPING SETS ((name), (ssn))', cols('name = patients.name', 'count ~'), ['patients.name', 'patients.ssn']],
    ['SELECT name FROM patients GROUP BY ROLLUP (name, dob) HAVING max(ssn) > $1', cols('name = patients.name'), ['patients.name', 'patients.dob', 'patients.ssn']],
    ["SELECT * FROM (VALUES (1, 'a')) v(a, b)", cols('a ~', 'b ~'), []],
    ['SELECT * FROM (VALUES ((SELECT ssn FROM patients LIMIT 1))) v', cols('column1 ~ patients.ssn'), []],
    ['SELECT DISTINCT ON (ssn) id FROM patients', cols('id = patients.id'), ['patients.ssn']],
    ['SELECT ssn AS s, name FROM patients ORDER BY 1, s', cols('s = patients.ssn', 'name = patients.name'), ['patients.ssn']],
    ['SELECT email, count(*) FROM patients GROUP BY 1', cols('email = patients.email', 'count ~'), ['patients.email']],
    ['SELECT v.notes FROM visits v JOIN patients p ON p.id = v.patient_id AND p.ssn = $1', cols('notes = visits.notes'), ['patients.id', 'visits.patient_id', 'patients.ssn']],
    ['SELECT * FROM patients JOIN visits USING (id)', cols('id = patients.id visits.id', 'name = patients.name', 'ssn = patients.ssn', 'dob = patients.dob', 'email = patients.email', 'patient_id = visits.patient_id', 'notes = visits.notes'), ['patients.id', 'visits.id']],
    ['SELECT * FROM patients NATURAL JOIN visits', cols('id = patients.id visits.id', 'name = patients.name', 'ssn = patients.ssn', 'dob = patients.dob', 'email = patients.email', 'patient_id = visits.patient_id', 'notes = visits.notes'), ['patients.id', 'visits.id']],
    ['SELECT * FROM patients FULL JOIN visits USING (id) WHERE false', cols('id ~ patients.id visits.id', 'name = patients.name', 'ssn = patients.ssn', 'dob = patients.dob', 'email = patients.email', 'patient_id = visits.patient_id', 'notes = visits.notes'), ['patients.id', 'visits.id']],
    ['SELECT j.ssn FROM (patients JOIN visits USING (id)) AS j', cols('ssn = patients.ssn'), ['patients.id', 'visits.id']],
    ['WITH RECURSIVE r(a, b) AS (SELECT id, ssn FROM patients UNION ALL SELECT b, a FROM r) SELECT a FROM r', cols('a = patients.id patients.ssn'), []],
    ['WITH RECURSIVE r(a, b, c) AS (SELECT id, name, ssn FROM patients UNION ALL SELECT b, c, a FROM r) SELECT a FROM r', cols('a = patients.id patients.name patients.ssn'), []],
    // UNION without ALL compares the rows it returns: its output columns are predicates too.
    ["SELECT id FROM patient_view WHERE ssn = '1' UNION SELECT patient_id FROM visits WHERE notes > 'a'", cols('id = patients.id visits.patient_id'), ['patients.ssn', 'visits.notes', 'patients.id', 'visits.patient_id']],
    ["SELECT id FROM patients UNION ALL SELECT patient_id FROM visits", cols('id = patients.id visits.patient_id'), []],
    ['SELECT DISTINCT name FROM patients', cols('name = patients.name'), ['patients.name']],
    ['SELECT 1 FROM patients LIMIT (SELECT ascii(ssn) FROM patients LIMIT 1)', cols('?column? ~'), ['patients.ssn']],
    ['SELECT generate_series(1, ascii(ssn)) FROM patients', cols('generate_series ~ patients.ssn | patients.ssn:ascii'), ['patients.ssn']],
    ['SELECT count(*) FROM patients p, generate_series(1, length(p.name)) g', cols('count ~'), ['patients.name']],
    ['SELECT * FROM patients p, LATERAL (SELECT p.ssn AS s) l WHERE p.id = 1', cols('id = patients.id', 'name = patients.name', 'ssn = patients.ssn', 'dob = patients.dob', 'email = patients.email', 's = patients.ssn'), ['patients.id']],
    ['SELECT name FROM patients WHERE id IN (SELECT patient_id FROM visits WHERE notes ~ $1)', cols('name = patients.name'), ['patients.id', 'visits.notes', 'visits.patient_id']],
  ];
  it.each(cases)('%s', (sql, rc, preds) => {
    const a = one(sql);
    expect(a.result_columns).toEqual(rc);
    expect(a.predicates_on).toEqual(preds.map(ref));
    expect(a.unresolved).toEqual([]);
  });
});

describe('every channel that returns or keeps rows', () => {
  const cases: Case[] = [
    ['DECLARE c CURSOR FOR SELECT ssn FROM patients', cols('ssn = patients.ssn'), []],
    ['DECLARE c CURSOR FOR SELECT leak(ssn) FROM patients', cols('leak ~ patients.ssn'), ['unknown_function@leak']],
    ['PREPARE p AS SELECT ssn FROM patients', cols('ssn = patients.ssn'), []],
    ['PREPARE p(int) AS SELECT * FROM patient_view WHERE id = $1', cols('id = patients.id', 'name = patients.name', 'ssn = patients.ssn'), []],
    ['COPY patients TO STDOUT', cols('id = patients.id', 'name = patients.name', 'ssn = patients.ssn', 'dob = patients.dob', 'email = patients.email'), []],
    ['COPY patients (ssn) TO STDOUT', cols('ssn = patients.ssn'), []],
    ['COPY (SELECT ssn FROM patients) TO STDOUT', cols('ssn = patients.ssn'), []],
    ['COPY (SELECT * FROM patient_view) TO STDOUT', cols('id = patients.id', 'name = patients.name', 'ssn = patients.ssn'), []],
    ['INSERT INTO visits(notes) SELECT ssn FROM patients RETURNING notes', cols('notes ~ visits.notes patients.ssn'), []],
    ['INSERT INTO visits SELECT id, id, ssn FROM patients RETURNING *', cols('id ~ visits.id patients.id', 'patient_id ~ visits.patient_id patients.id', 'notes ~ visits.notes patients.ssn'), []],
    ["INSERT INTO visits (id, notes) VALUES (1, 'x') RETURNING *", cols('id = visits.id', 'patient_id = visits.patient_id', 'notes = visits.notes'), []],
    [
      "INSERT INTO visits AS v (id, notes) SELECT id, name FROM patients ON CONFLICT (id) DO UPDATE SET notes = excluded.notes || (SELECT ssn FROM patients LIMIT 1) RETURNING v.notes",
      cols('notes ~ visits.notes patients.name patients.ssn'),
      [],
    ],
    ['UPDATE patients SET name = name RETURNING *', cols('id = patients.id', 'name ~ patients.name', 'ssn = patients.ssn', 'dob = patients.dob', 'email = patients.email'), []],
    ['UPDATE patients SET name = ssn RETURNING name', cols('name ~ patients.name patients.ssn'), []],
    ['UPDATE patients SET name = ssn RETURNING old.name, new.name', cols('name = patients.name', 'name ~ patients.name patients.ssn'), []],
    ['UPDATE patients SET name = ssn RETURNING WITH (OLD AS o, NEW AS n) o.name AS before, n.name AS after', cols('before = patients.name', 'after ~ patients.name patients.ssn'), []],
    ['UPDATE patients SET (name, email) = (SELECT notes, notes FROM visits LIMIT 1) RETURNING email', cols('email ~ patients.email visits.notes'), []],
    [
      'UPDATE patients SET name = v.notes FROM visits v WHERE v.patient_id = patients.id RETURNING patients.name, v.*',
      cols('name ~ patients.name visits.notes', 'id = visits.id', 'patient_id = visits.patient_id', 'notes = visits.notes'),
      [],
    ],
    ['UPDATE patient_view SET name = $1 WHERE id = 1 RETURNING ssn', cols('ssn = patients.ssn'), []],
    ['DELETE FROM patients WHERE id = 1 RETURNING *', cols('id = patients.id', 'name = patients.name', 'ssn = patients.ssn', 'dob = patients.dob', 'email = patients.email'), []],
    ['DELETE FROM visits v USING patients p WHERE p.id = v.patient_id RETURNING p.ssn', cols('ssn = patients.ssn'), []],
    [
      'MERGE INTO visits v USING patients p ON v.patient_id = p.id WHEN MATCHED THEN UPDATE SET notes = p.ssn WHEN NOT MATCHED THEN INSERT (patient_id, notes) VALUES (p.id, p.email) RETURNING merge_action(), v.*',
      cols('merge_action ~', 'id = visits.id', 'patient_id ~ visits.patient_id patients.id', 'notes ~ visits.notes patients.ssn patients.email'),
      [],
    ],
    ['WITH moved AS (DELETE FROM patients WHERE id = 1 RETURNING ssn) SELECT * FROM moved', cols('ssn = patients.ssn'), []],
  ];
  it.each(cases)('%s', (sql, rc, u) => {
    const a = one(sql);
    expect(a.result_columns).toEqual(rc);
    expect(unres(a)).toEqual(u);
  });
});

describe('new objects carry the lineage of what they copy', () => {
  it('CREATE TEMP TABLE AS', () => {
    const a = one('CREATE TEMP TABLE t AS SELECT ssn FROM patients');
    expect([a.kind, a.creates_table_from_query]).toEqual(['ddl', true]);
    expect(a.writes).toEqual([{ schema: 'public', table: 't', columns: ['ssn'] }]);
    expect(a.result_columns).toEqual(cols('ssn = patients.ssn'));
  });
  it('CREATE TABLE AS with column names, SELECT INTO', () => {
    // A column list renames, as an alias list does: what reaches a column only through calls stays so (`through`).
    const upperSsn = [{ schema: 'public', table: 'patients', column: 'ssn', functions: ['upper'] }];
    expect(one('CREATE TABLE t (x) AS SELECT upper(ssn) FROM patient_view').result_columns).toEqual([{ ...cols('x ~ patients.ssn')[0]!, through: upperSsn }]);
    const a = one('SELECT ssn INTO TEMP leak FROM patients');
    expect(a.writes).toEqual([{ schema: 'public', table: 'leak', columns: ['ssn'] }]);
    expect(a.result_columns).toEqual(cols('ssn = patients.ssn'));
  });
  it('CREATE TEMP VIEW', () => {
    const a = one('CREATE TEMP VIEW tv (u) AS SELECT upper(ssn) FROM patients');
    expect(a.writes).toEqual([{ schema: 'public', table: 'tv', columns: ['u'] }]);
    expect(a.result_columns).toEqual([{ ...cols('u ~ patients.ssn')[0]!, through: [{ schema: 'public', table: 'patients', column: 'ssn', functions: ['upper'] }] }]);
    // The same lineage as the alias form.
    expect(a.result_columns).toEqual(one('CREATE TEMP VIEW tv AS SELECT upper(ssn) AS u FROM patients').result_columns);
  });
  it('CREATE FUNCTION: the routine is written, its body lineage is its result', () => {
    const a = one("CREATE FUNCTION s.leakf() RETURNS text LANGUAGE sql AS 'SELECT ssn FROM patients'");
    expect(a.writes).toEqual([{ schema: 's', table: 'leakf', columns: [] }]);
    expect(a.result_columns).toEqual([{ name: 'leakf', sources: [ref('patients.ssn')], derived: true }]);
    const p = one('CREATE FUNCTION pl() RETURNS text LANGUAGE plpgsql AS $$ BEGIN IF (SELECT count(*) FROM patients WHERE dob > now()) > 0 THEN RETURN 1; END IF; RETURN 0; END $$');
    expect(p.result_columns).toEqual([{ name: 'pl', sources: [ref('patients.dob')], derived: true }]);
  });
  it('dynamic SQL in DO and function bodies is unresolved', () => {
    expect(one("DO $$ BEGIN EXECUTE 'SELECT 1'; END $$").unresolved).toEqual([{ reason: 'dynamic_sql: plpgsql EXECUTE runs SQL built at run time' }]);
    expect(one("DO LANGUAGE plpython3u $$ plpy.execute('SELECT 1') $$").unresolved).toEqual([{ reason: 'dynamic_sql: a body in LANGUAGE plpython3u cannot be analyzed' }]);
    expect(one('EXPLAIN ANALYZE SELECT leak(ssn) FROM patients').unresolved).toEqual([
      { reason: 'unknown_function: leak() is not in the catalog and not a known pure built-in; it may read any table', column: 'leak' },
    ]);
  });
});

