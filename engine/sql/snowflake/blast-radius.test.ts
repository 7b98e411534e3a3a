// The Snowflake blast-radius count: built from the parsed write, its predicate read back unchanged, and refused
// (with the reason) where a count could not show what the write changes.
import { beforeAll, describe, expect, it } from 'vitest';
import { measurementQuery } from './blast-radius.ts';
import { snowflake } from './dialect.ts';

beforeAll(() => snowflake.load());

const measure = (sql: string) => measurementQuery(snowflake.analyze(sql, { database: 'CLINIC', schema: 'PUBLIC' })[0]!);

describe('Snowflake measurementQuery', () => {
  it('counts the rows an UPDATE / DELETE selects, and the whole table', () => {
    expect(measure("UPDATE VISITS SET REASON = 'x' WHERE ID > 0")).toEqual({
      sql: 'SELECT COUNT(*) AS ROWS, (SELECT COUNT(*) FROM VISITS) AS TABLE_ROWS FROM VISITS WHERE ID > 0',
      params: [],
    });
    expect(measure("DELETE FROM CLINIC.PUBLIC.VISITS v WHERE v.REASON LIKE 'a%' AND v.ID IN (1, 2)")).toEqual({
      sql: "SELECT COUNT(*) AS ROWS, (SELECT COUNT(*) FROM CLINIC.PUBLIC.VISITS) AS TABLE_ROWS FROM CLINIC.PUBLIC.VISITS AS v WHERE v.REASON LIKE 'a%' AND v.ID IN (1, 2)",
      params: [],
    });
    expect(measure('DELETE FROM VISITS')).toEqual({ sql: 'SELECT COUNT(*) AS ROWS, (SELECT COUNT(*) FROM VISITS) AS TABLE_ROWS FROM VISITS', params: [] });
  });

  it("carries the predicate's bind variables into the count, each taking the write's bind it stood for", () => {
    expect(measure('DELETE FROM VISITS WHERE ID = ?')).toEqual({ sql: 'SELECT COUNT(*) AS ROWS, (SELECT COUNT(*) FROM VISITS) AS TABLE_ROWS FROM VISITS WHERE ID = ?', params: [1] });
    // SET's markers come first: the count's two take the write's 2nd and 3rd.
    expect(measure('UPDATE VISITS SET REASON = ? WHERE ID > ? AND PATIENT_ID IN (?)')).toEqual({
      sql: 'SELECT COUNT(*) AS ROWS, (SELECT COUNT(*) FROM VISITS) AS TABLE_ROWS FROM VISITS WHERE ID > ? AND PATIENT_ID IN (?)',
      params: [2, 3],
    });
    // :n markers name their bind: the count gets the binds up to the highest it names.
    expect(measure('UPDATE VISITS SET REASON = :1 WHERE ID = :3 OR ID = :3')).toEqual({
      sql: 'SELECT COUNT(*) AS ROWS, (SELECT COUNT(*) FROM VISITS) AS TABLE_ROWS FROM VISITS WHERE ID = :3 OR ID = :3',
      params: [1, 2, 3],
    });
    expect(measure("UPDATE VISITS SET REASON = ? WHERE ID = 1")).toMatchObject({ params: [] });
  });

  it('refuses what a count cannot show: volatile functions, joins, mixed or named binds, other statements', () => {
    expect(measure('DELETE FROM VISITS WHERE ID = ? OR ID = :2')).toMatchObject({ error: expect.stringMatching(/mixes \? and :n/) });
    expect(measure('DELETE FROM VISITS WHERE ID = :id')).toMatchObject({ error: expect.stringMatching(/bind variables other than/) });
    expect(measure('DELETE FROM VISITS WHERE UNIFORM(1, 10, RANDOM()) > 5')).toMatchObject({ error: expect.stringMatching(/^it calls .*random/i) });
    expect(measure('DELETE FROM VISITS USING PATIENTS P WHERE VISITS.PATIENT_ID = P.ID')).toMatchObject({ error: expect.stringMatching(/joins other tables/) });
    expect(measure('UPDATE VISITS SET REASON = V.X FROM (SELECT 1 AS X) V WHERE VISITS.ID = 1')).toMatchObject({ error: expect.stringMatching(/joins other tables/) });
    expect(measure('SELECT 1')).toMatchObject({ error: expect.stringMatching(/not an UPDATE or DELETE/) });
    expect(measure("MERGE INTO VISITS USING PATIENTS P ON VISITS.PATIENT_ID = P.ID WHEN MATCHED THEN DELETE")).toHaveProperty('error');
  });
});
