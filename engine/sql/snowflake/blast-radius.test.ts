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

  it('refuses what a count cannot show: volatile functions, joins, binds, other statements', () => {
    expect(measure('DELETE FROM VISITS WHERE UNIFORM(1, 10, RANDOM()) > 5')).toMatchObject({ error: expect.stringMatching(/^it calls .*random/i) });
    expect(measure('DELETE FROM VISITS USING PATIENTS P WHERE VISITS.PATIENT_ID = P.ID')).toMatchObject({ error: expect.stringMatching(/joins other tables/) });
    expect(measure('UPDATE VISITS SET REASON = V.X FROM (SELECT 1 AS X) V WHERE VISITS.ID = 1')).toMatchObject({ error: expect.stringMatching(/joins other tables/) });
    expect(measure('DELETE FROM VISITS WHERE ID = ?')).toMatchObject({ error: expect.stringMatching(/bind variables/) });
    expect(measure('SELECT 1')).toMatchObject({ error: expect.stringMatching(/not an UPDATE or DELETE/) });
    expect(measure("MERGE INTO VISITS USING PATIENTS P ON VISITS.PATIENT_ID = P.ID WHEN MATCHED THEN DELETE")).toHaveProperty('error');
  });
});
