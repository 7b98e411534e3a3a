// The demo's clinic data in the local Snowflake: CLINIC.PUBLIC.PATIENTS and VISITS with the rows of
// gateway/demo/clinic.sql (read from that file, so the PostgreSQL and Snowflake demos cannot drift apart).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const CLINIC_SQL = fileURLToPath(new URL('../../demo/clinic.sql', import.meta.url));

/**
 * Snowflake's form of the clinic tables. PostgreSQL's serial ids become explicit NUMBER ids, timestamptz becomes
 * TIMESTAMP_LTZ, and there are no PRIMARY KEY / REFERENCES clauses: Snowflake does not enforce them (DuckDB would,
 * and a DELETE that Snowflake runs would then fail here).
 */
export const CLINIC_TABLES_SQL = [
  'CREATE DATABASE IF NOT EXISTS CLINIC',
  `CREATE OR REPLACE TABLE CLINIC.PUBLIC.PATIENTS (
     ID NUMBER(38,0) NOT NULL,
     NAME VARCHAR NOT NULL,
     SSN VARCHAR NOT NULL,
     DOB DATE NOT NULL,
     EMAIL VARCHAR,
     DIAGNOSIS VARCHAR,
     CREATED_AT TIMESTAMP_LTZ NOT NULL DEFAULT '2026-01-05 09:00:00+00'
   )`,
  `CREATE OR REPLACE TABLE CLINIC.PUBLIC.VISITS (
     ID NUMBER(38,0) NOT NULL,
     PATIENT_ID NUMBER(38,0) NOT NULL,
     VISIT_DATE DATE NOT NULL,
     REASON VARCHAR,
     NOTES VARCHAR
   )`,
];

/**
 * Creates CLINIC.PUBLIC.PATIENTS and VISITS and loads the clinic rows, numbering ids 1, 2, … in file order as
 * PostgreSQL's serial columns do.
 *
 * @example
 * const sf = await startSnowflakeEmulator();
 * await seedClinic(sf);
 */
export async function seedClinic(emulator: { exec(sql: string): Promise<unknown> }): Promise<void> {
  for (const sql of CLINIC_TABLES_SQL) await emulator.exec(sql);
  const text = readFileSync(CLINIC_SQL, 'utf8');
  for (const table of ['patients', 'visits'] as const) {
    const m = new RegExp(`INSERT INTO ${table} \\(([^)]*)\\) VALUES([\\s\\S]*?);`, 'i').exec(text);
    if (!m) throw new Error(`clinic seed: no INSERT INTO ${table} in ${CLINIC_SQL}`);
    const tuples = splitTuples(m[2]!).map((t, i) => `(${i + 1}, ${t.slice(1)}`);
    await emulator.exec(`INSERT INTO CLINIC.PUBLIC.${table.toUpperCase()} (ID, ${m[1]}) VALUES ${tuples.join(', ')}`);
  }
}

/** `(a, 'b, c'), (d, 'e''f')` → ["(a, 'b, c')", "(d, 'e''f')"], respecting quotes and nesting. */
function splitTuples(values: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = -1;
  for (let i = 0; i < values.length; i++) {
    const c = values[i];
    if (quoted) {
      if (c === "'") quoted = values[i + 1] === "'" ? (i++, true) : false;
      continue;
    }
    if (c === "'") quoted = true;
    else if (c === '(') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === ')') {
      depth--;
      if (depth === 0) out.push(values.slice(start, i + 1));
    }
  }
  return out;
}
