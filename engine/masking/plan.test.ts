// Unit tests for the result-column mask plan: a shape-keeping method only ever reaches a direct copy.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Mask } from '../decision/decision.ts';
import { analyzeSql, loadParser } from '../sql/postgres/analyze.ts';
import type { Catalog, ResultColumn } from '../sql/types.ts';
import { planJsonKeys, planMasks } from './plan.ts';

const ssn = { schema: 'public', table: 'patients', column: 'ssn' };
const dob = { schema: 'public', table: 'patients', column: 'dob' };
const name = { schema: 'public', table: 'patients', column: 'name' };
const masks: Mask[] = [
  { column: ssn, method: 'partial', params: { keep_last: 4 }, derived: { method: 'redact', params: {} }, content_free: ['count'] },
  { column: dob, method: 'year', params: {}, derived: { method: 'redact', params: {} }, content_free: ['count'] },
];
const catalog: Catalog = {
  tables: { 'public.patients': ['id', 'name', 'ssn', 'dob'], 'public.v': ['s', 'c'] },
  views: { 'public.v': ' SELECT patients.ssn::text AS s, count(patients.ssn) AS c FROM patients;' },
};
// A user function named like a content-free one (PostgreSQL may prefer it for an exact argument type).
const shadowed: Catalog = { ...catalog, functions: { 'public.count': { language: 'sql', body: 'SELECT $1' } } };

beforeAll(loadParser);

/** The method per result column of `sql` under `ms` ('none' when shown as it is). */
function plan(sql: string, ms: Mask[] = masks, cat: Catalog = catalog): string[] {
  const [a] = analyzeSql(sql, { catalog: cat });
  return planMasks(a!.result_columns, ms).map((m) => m?.method ?? 'none');
}

describe('planMasks', () => {
  it.each([
    ['SELECT ssn, ssn AS x, p.ssn::text, CAST(ssn AS varchar) FROM patients p', ['partial', 'partial', 'partial', 'partial']],
    ['SELECT s FROM v', ['partial']],
    ['WITH c AS (SELECT ssn FROM patients) SELECT ssn FROM c UNION SELECT ssn FROM (SELECT ssn FROM patients) q', ['partial']],
    ['SELECT substr(ssn, 1, 3), substr(ssn, 4, 3), substr(ssn, 7) FROM patients', ['redact', 'redact', 'redact']],
    ["SELECT reverse(ssn), ascii(ssn), md5(ssn), ssn || '', length(ssn), ssn::varchar(3) FROM patients", ['redact', 'redact', 'redact', 'redact', 'redact', 'redact']],
    ["SELECT dob, dob + 1, to_char(dob, 'DD'), dob::text FROM patients", ['year', 'redact', 'redact', 'year']],
    ["SELECT min(ssn), max(dob), string_agg(ssn, ','), array_agg(ssn), json_agg(ssn) FROM patients", ['redact', 'redact', 'redact', 'redact', 'redact']],
    ['SELECT count(ssn), count(DISTINCT ssn), pg_catalog.count(ssn::text), count(*), c FROM patients, v', ['none', 'none', 'none', 'none', 'none']],
    ['SELECT (SELECT count(ssn) FROM patients) + 1 AS n', ['none']],
    ["SELECT count(nullif(ssn, 'x')), count(ssn) || ssn FROM patients GROUP BY ssn", ['redact', 'redact']],
    ['SELECT id, name FROM patients', ['none', 'none']],
  ])('%s', (sql, want) => {
    expect(plan(sql)).toEqual(want);
  });

  it('several masked sources mix into one value: redact, or NULL when every derived mask says null', () => {
    expect(plan('SELECT ssn || dob::text, greatest(ssn, dob::text) FROM patients')).toEqual(['redact', 'redact']);
    const nulls = masks.map((m) => ({ ...m, derived: { method: 'null' as const, params: {} } }));
    expect(plan('SELECT ssn || dob::text FROM patients', nulls)).toEqual(['null']);
    expect(plan('SELECT upper(ssn) FROM patients', nulls)).toEqual(['null']);
  });

  it('without derived / content_free in the decision, derivations are redacted and counts masked too', () => {
    const bare: Mask[] = [{ column: ssn, method: 'partial', params: {} }];
    expect(plan('SELECT ssn, upper(ssn), count(ssn) FROM patients', bare)).toEqual(['partial', 'redact', 'redact']);
  });

  it('a shape-keeping derived method is never used', () => {
    const bad: Mask[] = [{ column: ssn, method: 'partial', params: {}, derived: { method: 'partial', params: {} } }];
    expect(plan('SELECT left(ssn, 3) FROM patients', bad)).toEqual(['redact']);
  });

  it('a user function that shadows a content-free one is no content-free call', () => {
    expect(plan('SELECT count(ssn), public.count(ssn) FROM patients', masks, shadowed)).toEqual(['redact', 'redact']);
  });

  it('a content-free list only covers the functions it names', () => {
    const onlyMax: Mask[] = [{ ...masks[0]!, content_free: ['max'] }];
    expect(plan('SELECT max(ssn), count(ssn), max(ssn) || count(ssn) FROM patients', onlyMax)).toEqual(['none', 'redact', 'redact']);
  });

  it('an unexpanded * over a masked table is NULL; a column of another table stays', () => {
    const rc: ResultColumn[] = [
      { name: '*', sources: [{ schema: 'public', table: 'patients', column: '*' }], derived: false },
      { name: 'x', sources: [name], derived: false },
    ];
    expect(planMasks(rc, masks).map((m) => m?.method ?? 'none')).toEqual(['null', 'none']);
  });
});

describe('planJsonKeys', () => {
  it('keeps the keys of a row serialized to JSON, each value masked as its own column', () => {
    const [a] = analyzeSql('SELECT row_to_json(p), to_jsonb(s) FROM patients p, (SELECT ssn AS name, id FROM patients) s', { catalog });
    const keys = (i: number) => Object.fromEntries([...planJsonKeys(a!.result_columns[i]!, masks)!].map(([k, m]) => [k, m?.method ?? 'none']));
    expect(keys(0)).toEqual({ id: 'none', name: 'none', ssn: 'partial', dob: 'year' });
    expect(keys(1)).toEqual({ name: 'partial', id: 'none' }); // the key says "name", the value is the SSN
  });

  it('has no key plan for JSON whose keys do not name the columns under them', () => {
    const [a] = analyzeSql("SELECT json_build_object('ssn', name), row_to_json(x) FROM (SELECT ssn AS k, id AS k FROM patients) x", { catalog });
    expect(a!.result_columns.map((c) => planJsonKeys(c, masks))).toEqual([null, null]);
  });
});
