// Which columns each bind parameter meets: comparisons of every shape, calls, writes, and the fail-closed
// fallback for names the analysis resolved through aliases.
import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeSql, loadParser } from './analyze.ts';

beforeAll(() => loadParser());
const uses = (sql: string) => Object.fromEntries((analyzeSql(sql)[0]!.parameters ?? []).map((p) => [p.position, p.columns.map((c) => `${c.table}.${c.column}`).sort()]));

describe('parameterUses', () => {
  it('finds the column a parameter is compared with, on either side and in IN / LIKE / BETWEEN / ANY', () => {
    expect(uses('SELECT name FROM patients p WHERE p.ssn = $1 AND $2 = id')).toEqual({ 1: ['patients.ssn'], 2: ['patients.id'] });
    expect(uses("SELECT 1 FROM patients WHERE upper(name) LIKE $1 AND id IN ($2, 3) AND dob BETWEEN $3 AND '2020-01-01'")).toEqual({
      1: ['patients.name'],
      2: ['patients.id'],
      3: ['patients.dob'],
    });
    expect(uses('SELECT 1 FROM patients WHERE $1 = ANY(ARRAY[ssn, phone])')).toEqual({ 1: ['patients.phone', 'patients.ssn'] });
    expect(uses('SELECT 1 FROM patients WHERE id = $1 AND coalesce(ssn, $2) IS NOT NULL')).toEqual({ 1: ['patients.id'], 2: ['patients.ssn'] });
  });

  it('follows writes: INSERT VALUES and SELECT by position, UPDATE SET by name, ON CONFLICT', () => {
    expect(uses('INSERT INTO patients (name, ssn) VALUES ($1, $2), ($3, $4)')).toEqual({ 1: ['patients.name'], 2: ['patients.ssn'], 3: ['patients.name'], 4: ['patients.ssn'] });
    expect(uses('INSERT INTO patients (name, ssn) SELECT $1, $2')).toEqual({ 1: ['patients.name'], 2: ['patients.ssn'] });
    expect(uses('UPDATE patients SET ssn = $1 WHERE id = $2')).toEqual({ 1: ['patients.ssn'], 2: ['patients.id'] });
  });

  it('resolves a renamed column to everything the statement filters on (over-count, never under-count)', () => {
    expect(uses('WITH x AS (SELECT ssn AS s FROM patients) SELECT * FROM x WHERE s = $1')).toEqual({ 1: ['patients.ssn'] });
    expect(uses('SELECT $1::text, 1 FROM patients')).toEqual({ 1: [] });
    expect(analyzeSql('SELECT 1')[0]!.parameters).toEqual([]);
  });
});
