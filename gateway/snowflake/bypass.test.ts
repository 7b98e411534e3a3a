// The masking bypass suite of the Snowflake door: each attempt runs through Verdict with the real snowflake-sdk
// as bob (a contractor, who sees every PHI column masked), and any raw PHI value of the clinic — read from the
// local Snowflake itself as ground truth — in the rows or in an error message fails the test. Attempts that infer
// a value through a predicate (WHERE, ORDER BY, GROUP BY, QUALIFY, CASE conditions, joins) must be refused.
// Keep adding attempts: every way around masking someone thinks of belongs here (the PostgreSQL door's is
// gateway/postgres/bypass.test.ts).
import snowflake from 'snowflake-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SF_ACCOUNT, startSnowflakeStack, type SnowflakeStack } from '../testing/snowflake-stack.ts';

snowflake.configure({ logLevel: 'OFF' });

let stack: SnowflakeStack;
/** Every raw PHI value of CLINIC.PUBLIC.PATIENTS that bob must never receive, in the forms a derivation could take. */
let secrets: string[] = [];

/**
 * Views made on the local Snowflake directly, outside Verdict, before the gateway starts: the door must learn them
 * from INFORMATION_SCHEMA and follow their definitions to the PHI beneath.
 */
const VIEWS = [
  'CREATE VIEW CLINIC.PUBLIC.PATIENT_VIEW AS SELECT ID, NAME, SSN, DIAGNOSIS FROM PATIENTS',
  // A view over a view over a view, with derivations on the way.
  'CREATE VIEW CLINIC.PUBLIC.PATIENT_VIEW_2 AS SELECT * FROM PATIENT_VIEW',
  'create or replace view clinic.public.patient_view_3 as select ssn as x, upper(name) as n, diagnosis from patient_view_2 where id > 0',
  // Column names given by the view, not by its query.
  'CREATE VIEW CLINIC.PUBLIC.RENAMED (A, B, C) AS SELECT SSN, NAME, EMAIL FROM CLINIC.PUBLIC.PATIENTS',
  // Another schema: unqualified names in its body resolve where the view lives.
  'CREATE SCHEMA CLINIC.REPORTS',
  'CREATE VIEW CLINIC.REPORTS.ROSTER AS SELECT P.NAME, P.DOB, V.REASON FROM PUBLIC.PATIENTS P JOIN PUBLIC.VISITS V ON V.PATIENT_ID = P.ID',
  // A secure view owned by another role: Snowflake hides its definition from Verdict's role.
  'CREATE SECURE VIEW CLINIC.PUBLIC.SECURE_PATIENTS AS SELECT ID, SSN, NAME FROM PATIENTS',
  // A secure view owned by Verdict's role (ANALYST): its definition is readable, so it is followed.
  'USE ROLE ANALYST; CREATE SECURE VIEW CLINIC.PUBLIC.OWNED_SECURE AS SELECT ID, SSN, NAME FROM CLINIC.PUBLIC.PATIENTS; USE ROLE ACCOUNTADMIN',
];

beforeAll(async () => {
  stack = await startSnowflakeStack({}, { setup: VIEWS });
  const truth = await stack.sf.exec("SELECT NAME, SSN, TO_VARCHAR(DOB, 'YYYY-MM-DD') AS DOB, EMAIL, DIAGNOSIS FROM CLINIC.PUBLIC.PATIENTS");
  const values = new Set<string>();
  for (const [name, ssn, dob, email, diagnosis] of truth.rows.map((r) => r.map((c) => (c == null ? '' : String(c))))) {
    values.add(name!);
    for (const part of name!.split(/\s+/)) if (part.length >= 5) values.add(part); // surnames (a SPLIT_PART)
    values.add(ssn!);
    values.add(ssn!.replace(/-/g, '')); // a REPLACE or a TO_NUMBER strips the dashes
    values.add(dob!);
    if (email) values.add(email);
    if (diagnosis) values.add(diagnosis);
  }
  secrets = [...values].filter((v) => v.length >= 4);
  if (secrets.length < 20) throw new Error(`bypass suite: too little ground truth (${secrets.length} values)`);
}, 180_000);
afterAll(async () => stack?.stop());

type Conn = snowflake.Connection;

async function connectAs(user: string): Promise<Conn> {
  const conn = snowflake.createConnection({ account: SF_ACCOUNT, username: user, authenticator: 'OAUTH', token: await stack.issuer.mint(user), accessUrl: stack.url } as snowflake.ConnectionOptions);
  // connect() through its callback: connectAsync() without one resolves even when the login fails.
  return new Promise((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve(conn))));
}

const destroy = (conn: Conn) => new Promise<void>((resolve) => conn.destroy(() => resolve()));

interface Outcome {
  rows: Array<Record<string, unknown>> | null;
  error: (snowflake.SnowflakeError & { data?: unknown }) | null;
}

function run(conn: Conn, sqlText: string): Promise<Outcome> {
  return new Promise((resolve) => {
    conn.execute({
      sqlText,
      fetchAsString: ['Date', 'Number', 'JSON'],
      complete: (err, _stmt, rows) => resolve(err ? { rows: null, error: err } : { rows: (rows ?? []) as Array<Record<string, unknown>>, error: null }),
    });
  });
}

/** Every raw value found in what arrived: rows, error message, error data. */
function leaks(o: Outcome): string[] {
  const text = JSON.stringify(o.rows) + (o.error ? `${o.error.message} ${JSON.stringify(o.error.data ?? null)} ${String(o.error.sqlState)}` : '');
  return secrets.filter((s) => text.includes(s));
}

/** Attempts whose result may come back masked (or be refused): nothing raw may arrive. */
const MASKED: Record<string, string[]> = {
  aliases: [
    'SELECT SSN AS X, NAME AS Y, DOB AS Z, EMAIL AS W, DIAGNOSIS AS V FROM PATIENTS',
    'SELECT P.SSN, P.NAME FROM CLINIC.PUBLIC.PATIENTS AS P',
    'SELECT p.ssn, p."NAME" FROM clinic.public.patients p',
    'SELECT "SSN" "x" FROM PATIENTS',
  ],
  derivations: [
    'SELECT UPPER(SSN), LOWER(NAME), INITCAP(EMAIL), TRIM(DIAGNOSIS) FROM PATIENTS',
    "SELECT SSN || '', '' || NAME, CONCAT(EMAIL, '') FROM PATIENTS",
    'SELECT SUBSTR(SSN, 1, 3) || SUBSTR(SSN, 4), LEFT(NAME, 100) FROM PATIENTS',
    "SELECT REPLACE(SSN, '-', ''), SPLIT_PART(NAME, ' ', 2) FROM PATIENTS",
    'SELECT SSN::VARCHAR, CAST(NAME AS VARCHAR), TO_VARCHAR(DOB), DOB::VARCHAR FROM PATIENTS',
    "SELECT TO_VARCHAR(DOB, 'YYYY-MM-DD'), DATEADD(day, 0, DOB) FROM PATIENTS",
    "SELECT TO_NUMBER(REPLACE(SSN, '-', '')) + 0 FROM PATIENTS",
    'SELECT IFF(TRUE, SSN, NULL), NVL(NULL, NAME), COALESCE(NULL, EMAIL) FROM PATIENTS',
    'SELECT CASE WHEN TRUE THEN DIAGNOSIS END FROM PATIENTS',
    "SELECT LISTAGG(SSN, ',') FROM PATIENTS",
    'SELECT MAX(SSN), MIN(NAME) FROM PATIENTS',
    // A count returns no content and stays usable (as on the PostgreSQL door: policy-tests/decisions.yaml).
    'SELECT COUNT(DISTINCT DIAGNOSIS), COUNT(SSN) FROM PATIENTS',
  ],
  'whole rows': [
    'SELECT * FROM PATIENTS',
    'SELECT P.* FROM PATIENTS P',
    'SELECT OBJECT_CONSTRUCT(*) FROM PATIENTS',
    'SELECT TO_JSON(OBJECT_CONSTRUCT(*)) FROM PATIENTS',
    "SELECT TO_JSON(OBJECT_CONSTRUCT('a', SSN)) FROM PATIENTS",
    'SELECT * EXCLUDE (ID) FROM PATIENTS',
  ],
  'set operations': [
    "SELECT 'x' UNION ALL SELECT SSN FROM PATIENTS",
    'SELECT NAME FROM PATIENTS UNION ALL SELECT EMAIL FROM PATIENTS',
  ],
  'subqueries and CTEs': [
    'SELECT (SELECT SSN FROM PATIENTS LIMIT 1)',
    'WITH T AS (SELECT SSN AS S, NAME FROM PATIENTS) SELECT * FROM T',
    'SELECT * FROM (SELECT SSN AS S FROM PATIENTS) SUB',
    'WITH A AS (SELECT * FROM PATIENTS), B AS (SELECT SSN AS X FROM A) SELECT X FROM B',
  ],
  'FLATTEN and VARIANT paths': [
    "SELECT O:s::STRING FROM (SELECT OBJECT_CONSTRUCT('s', SSN) AS O FROM PATIENTS)",
    'SELECT F.VALUE FROM PATIENTS, LATERAL FLATTEN(INPUT => ARRAY_CONSTRUCT(SSN, NAME)) F',
    'SELECT F.VALUE::STRING FROM PATIENTS P, TABLE(FLATTEN(INPUT => OBJECT_CONSTRUCT(*))) F',
    "SELECT PARSE_JSON(TO_JSON(OBJECT_CONSTRUCT('d', DIAGNOSIS))):d FROM PATIENTS",
  ],
  'VARIANT, OBJECT and ARRAY results': [
    'SELECT ARRAY_AGG(NAME) FROM PATIENTS',
    "SELECT OBJECT_CONSTRUCT('s', SSN, 'n', NAME) FROM PATIENTS",
    'SELECT ARRAY_CONSTRUCT(SSN, NAME, EMAIL, DIAGNOSIS) FROM PATIENTS',
    "SELECT PARSE_JSON('{\"a\": 1}') AS J, SSN FROM PATIENTS",
  ],
  lateral: ['SELECT L.X FROM PATIENTS P, LATERAL (SELECT P.SSN AS X) L'],
  sample: ['SELECT SSN, NAME FROM PATIENTS SAMPLE (100)', 'SELECT SSN FROM PATIENTS TABLESAMPLE BERNOULLI (100 ROWS)'],
  'time travel': ["SELECT SSN, NAME FROM PATIENTS AT(OFFSET => -1)", "SELECT SSN FROM PATIENTS BEFORE(TIMESTAMP => '2030-01-01'::TIMESTAMP_LTZ)"],
  views: [
    'SELECT SSN, NAME, DIAGNOSIS FROM PATIENT_VIEW',
    'SELECT * FROM CLINIC.PUBLIC.PATIENT_VIEW',
    'SELECT * FROM PATIENT_VIEW_2',
    'SELECT X, N, DIAGNOSIS FROM PATIENT_VIEW_3',
    'SELECT A, B, C FROM RENAMED',
    'SELECT R.* FROM RENAMED R',
    'SELECT * FROM CLINIC.REPORTS.ROSTER',
    'SELECT * FROM OWNED_SECURE',
    'WITH T AS (SELECT * FROM PATIENT_VIEW_2) SELECT SSN FROM T',
    "SELECT OBJECT_CONSTRUCT(*) FROM PATIENT_VIEW",
  ],
  'side channels': [
    // Failing casts: the error message of a failed conversion may quote the value.
    'SELECT TO_NUMBER(SSN) FROM PATIENTS',
    'SELECT SSN::NUMBER FROM PATIENTS',
    'SELECT NAME::DATE FROM PATIENTS',
    'SELECT TO_DATE(EMAIL) FROM PATIENTS',
    'SELECT PARSE_JSON(NAME) FROM PATIENTS',
    'SELECT CAST(DIAGNOSIS AS INTEGER) FROM PATIENTS',
    'SELECT 1 / (SSN::NUMBER) FROM PATIENTS',
  ],
};

/** Attempts that infer PHI through a predicate or ordering: refused. */
const REFUSED: Record<string, string[]> = {
  'inference by predicate': [
    "SELECT ID FROM PATIENTS WHERE SSN LIKE '1%'",
    "SELECT ID FROM PATIENTS WHERE STARTSWITH(NAME, 'A')",
    "SELECT COUNT(*) FROM PATIENTS WHERE DIAGNOSIS = 'x'",
    'SELECT ID FROM PATIENTS ORDER BY SSN',
    'SELECT COUNT(*) FROM PATIENTS GROUP BY NAME',
    'SELECT ID FROM PATIENTS QUALIFY ROW_NUMBER() OVER (ORDER BY SSN) = 1',
    "SELECT ID, CASE WHEN SSN LIKE '1%' THEN 1 ELSE 0 END FROM PATIENTS",
    "SELECT ID, IFF(DOB < '1900-01-01', 'old', 'new') FROM PATIENTS",
    'SELECT A.ID, B.ID FROM PATIENTS A JOIN PATIENTS B ON A.SSN = B.SSN',
    "SELECT ID FROM PATIENTS WHERE ID IN (SELECT ID FROM PATIENTS WHERE EMAIL LIKE 'a%')",
    "SELECT ID FROM PATIENTS HAVING MAX(SSN) > '1'",
    "SELECT ID FROM PATIENTS WHERE SSN LIKE '1%' UNION ALL SELECT 1",
    "SELECT SUBSTR(SSN, 1, 1) FROM PATIENTS WHERE ID = 1 INTERSECT SELECT '1'",
  ],
  'inference through views': [
    "SELECT ID FROM PATIENT_VIEW WHERE SSN LIKE '1%'",
    "SELECT COUNT(*) FROM PATIENT_VIEW_3 WHERE X LIKE '1%'",
    'SELECT A FROM RENAMED ORDER BY B',
  ],
  'views Verdict cannot see into': [
    'SELECT * FROM SECURE_PATIENTS',
    'SELECT ID FROM CLINIC.PUBLIC.SECURE_PATIENTS',
    'SELECT COUNT(*) FROM SECURE_PATIENTS',
  ],
  'objects Verdict does not know': ['SELECT * FROM NO_SUCH_TABLE', 'SELECT * FROM OTHERDB.PUBLIC.PATIENTS'],
};

/** View attempts that must come back with rows (masked), not merely refused. */
const VIEWS_ANSWERED = ['SELECT * FROM PATIENT_VIEW_2', 'SELECT X, N, DIAGNOSIS FROM PATIENT_VIEW_3', 'SELECT A, B, C FROM RENAMED', 'SELECT * FROM OWNED_SECURE'];

const flatten = (cases: Record<string, string[]>) => Object.entries(cases).flatMap(([kind, sqls]) => sqls.map((sql) => [kind, sql] as const));

describe('Snowflake masking bypass suite (bob, through the door, rows and errors scanned)', () => {
  let bob: Conn;
  beforeAll(async () => {
    bob = await connectAs('bob');
  });
  afterAll(async () => bob && destroy(bob));

  it('the suite can see a leak: alice, a clinician, does see names and diagnoses', async () => {
    const alice = await connectAs('alice');
    const o = await run(alice, 'SELECT NAME, DIAGNOSIS FROM PATIENTS');
    await destroy(alice);
    expect(o.error).toBeNull();
    expect(leaks(o).length).toBeGreaterThan(2);
    // …and bob's plain select arrives, masked.
    const b = await run(bob, 'SELECT ID, NAME, SSN FROM PATIENTS');
    expect(b.error).toBeNull();
    expect(b.rows!.length).toBeGreaterThan(4);
    expect(leaks(b)).toEqual([]);
  });

  it.each(flatten(MASKED))('%s: %s leaks nothing', async (_kind, sql) => {
    expect(leaks(await run(bob, sql))).toEqual([]);
  });

  it.each(VIEWS_ANSWERED)('views: %s is answered, masked', async (sql) => {
    const o = await run(bob, sql);
    expect(o.error).toBeNull();
    expect(o.rows!.length).toBeGreaterThan(4);
    expect(leaks(o)).toEqual([]);
    // …and alice, who may see PHI, gets the raw values through the same view (the view is really over PHI).
    const alice = await connectAs('alice');
    const a = await run(alice, sql);
    await destroy(alice);
    expect(a.error).toBeNull();
    expect(leaks(a).length).toBeGreaterThan(0);
  });

  it.each(MASKED['VARIANT, OBJECT and ARRAY results']!)('%s: snowflake-sdk parses the masked JSON values itself', async (sql) => {
    // No fetchAsString: the driver parses each VARIANT / OBJECT / ARRAY value, and a value that is not JSON makes
    // it fail inside its row parser without ever completing the statement.
    const o = await new Promise<Outcome>((resolve) => {
      const timer = setTimeout(() => resolve({ rows: null, error: Object.assign(new Error('the statement never completed'), { code: 'timeout' }) as never }), 20_000);
      bob.execute({ sqlText: sql, complete: (err, _stmt, rows) => (clearTimeout(timer), resolve(err ? { rows: null, error: err } : { rows: (rows ?? []) as Array<Record<string, unknown>>, error: null })) });
    });
    expect(o.error).toBeNull();
    expect(o.rows!.length).toBeGreaterThan(0);
    expect(leaks(o)).toEqual([]);
  });

  it('a view made on Snowflake after the gateway started is learned at once and masked', async () => {
    await stack.sf.exec('CREATE VIEW CLINIC.PUBLIC.LATE_VIEW AS SELECT NAME AS WHO, SSN AS ID_NUMBER FROM CLINIC.PUBLIC.PATIENTS');
    const o = await run(bob, 'SELECT WHO, ID_NUMBER FROM LATE_VIEW');
    expect(o.error).toBeNull();
    expect(o.rows!.length).toBeGreaterThan(4);
    expect(leaks(o)).toEqual([]);
    // Replaced behind Verdict's back with one over other columns: the next statement through it is still masked.
    await stack.sf.exec('CREATE OR REPLACE VIEW CLINIC.PUBLIC.LATE_VIEW AS SELECT DIAGNOSIS AS WHO, EMAIL AS ID_NUMBER FROM CLINIC.PUBLIC.PATIENTS');
    const again = await run(bob, 'SELECT * FROM LATE_VIEW');
    expect(leaks(again)).toEqual([]);
  });

  it('a view replaced behind Verdict\'s back is judged by its new definition at once', async () => {
    await stack.sf.exec('CREATE VIEW CLINIC.PUBLIC.SWAP_VIEW AS SELECT ID AS V, DOB AS W FROM CLINIC.PUBLIC.PATIENTS');
    const before = await run(bob, 'SELECT V FROM SWAP_VIEW');
    expect(before.error).toBeNull();
    // An id is no PHI: bob sees the numbers.
    expect(before.rows!.map((r) => String(r.V)).sort()).toEqual(['1', '2', '3', '4', '5', '6']);
    // The same name and shape, now over SSN: the next statement must mask it, not trust the old definition.
    await stack.sf.exec('CREATE OR REPLACE VIEW CLINIC.PUBLIC.SWAP_VIEW AS SELECT SSN AS V, NAME AS W FROM CLINIC.PUBLIC.PATIENTS');
    const after = await run(bob, 'SELECT V, W FROM SWAP_VIEW');
    expect(after.error).toBeNull();
    expect(after.rows!.length).toBe(6);
    expect(leaks(after)).toEqual([]);
    expect(JSON.stringify(after.rows)).toMatch(/\*\*\*-\*\*-\d{4}/); // masked, not emptied
    // …and a filter on it is now an inference oracle, refused.
    const oracle = await run(bob, "SELECT COUNT(*) FROM SWAP_VIEW WHERE V LIKE '1%'");
    expect(oracle.error?.message).toMatch(/Verdict denied this statement/);
  });

  it('a table dropped for a view of the same name behind Verdict\'s back is judged as the view at once', async () => {
    await stack.sf.exec('CREATE TABLE CLINIC.PUBLIC.SWAP_TABLE (V VARCHAR); INSERT INTO CLINIC.PUBLIC.SWAP_TABLE SELECT ID FROM CLINIC.PUBLIC.PATIENTS');
    const before = await run(bob, 'SELECT V FROM SWAP_TABLE');
    expect(before.rows!.map((r) => String(r.V)).sort()).toEqual(['1', '2', '3', '4', '5', '6']);
    await stack.sf.exec('DROP TABLE CLINIC.PUBLIC.SWAP_TABLE; CREATE VIEW CLINIC.PUBLIC.SWAP_TABLE AS SELECT SSN AS V FROM CLINIC.PUBLIC.PATIENTS');
    const after = await run(bob, 'SELECT V FROM SWAP_TABLE');
    expect(after.error).toBeNull();
    expect(after.rows!.length).toBe(6);
    expect(leaks(after)).toEqual([]);
  });

  it('an object Verdict cannot classify is refused with a message that says why', async () => {
    const o = await run(bob, 'SELECT * FROM SECURE_PATIENTS');
    expect(o.error!.message).toMatch(/secure view whose definition Verdict's role on the upstream cannot read/);
    expect(o.error!.message).toMatch(/rule snowflake\.uncataloged_relation, decision [0-9a-f-]{36}/);
    const u = await run(bob, 'SELECT * FROM NO_SUCH_TABLE');
    expect(u.error!.message).toMatch(/CLINIC\.PUBLIC\.NO_SUCH_TABLE is not in Verdict's catalog of the upstream, even re-read just now/);
    // The session keeps serving.
    expect((await run(bob, 'SELECT ID FROM PATIENTS')).error).toBeNull();
  });

  it.each(flatten(REFUSED))('%s: %s is refused and leaks nothing', async (_kind, sql) => {
    const o = await run(bob, sql);
    expect(leaks(o)).toEqual([]);
    expect(o.error, JSON.stringify(o.rows)).not.toBeNull();
    expect(o.error!.message).toMatch(/Verdict denied this statement/);
  });
});
