// The local Snowflake driven by the real drivers: snowflake-sdk (Node) and gosnowflake (Go, built from
// gateway/testing/snowflake/goclient/), plus raw HTTP where the exact wire shape matters. Also the record of which
// protocol features it covers.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import snowflake from 'snowflake-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, startSnowflakeEmulator, type SnowflakeEmulator } from './emulator.ts';
import { buildGoClient, runGoClient, type GoClientConfig, type GoReport } from '../../testing/snowflake/go-client.ts';

/**
 * What the emulator covers, each proven below by a real driver (or raw HTTP for wire details drivers hide).
 * Every route in ROUTES must appear here, and the last test checks each one was actually exercised.
 */
const COVERED: ReadonlyArray<{ route: string; feature: string; by: string }> = [
  { route: 'POST /session/v1/login-request', feature: 'SNOWFLAKE_JWT key pair (iss ACCOUNT.USER.SHA256:fp, RS256), password, OAUTH; 390100/390144/390303 refusals', by: 'snowflake-sdk, gosnowflake, raw' },
  { route: 'POST /session/token-request', feature: 'RENEW with the master token after 390112 (expired session token)', by: 'snowflake-sdk, raw' },
  { route: 'POST /session/heartbeat', feature: 'heartbeat (isValidAsync)', by: 'snowflake-sdk' },
  { route: 'POST /session', feature: 'logout ?delete=true; the old token then answers 390111', by: 'snowflake-sdk, gosnowflake, raw' },
  { route: 'POST /queries/v1/query-request', feature: 'sqlText; binds ?, :1, :name, array binds; describeOnly; asyncExec (333334); 333333 after resultWaitMs; errors 001003/002003; 401 390101/390104', by: 'snowflake-sdk, gosnowflake, raw' },
  { route: 'GET /queries/:queryId/result', feature: 'result polling via getResultUrl (sync 333333 and async 333334)', by: 'snowflake-sdk, gosnowflake' },
  { route: 'GET /monitoring/queries/:queryId', feature: 'query status RUNNING/SUCCESS/ABORTED (getQueryStatus, GetQueryStatus)', by: 'snowflake-sdk, gosnowflake' },
  { route: 'POST /queries/v1/abort-request', feature: 'cancel by requestId: statement.cancel() while pending, Go context cancel', by: 'snowflake-sdk, gosnowflake' },
  { route: 'POST /queries/:queryId/abort-request', feature: 'cancel by query id (snowflake-sdk once it knows the id)', by: 'raw' },
  { route: 'POST /telemetry/send', feature: 'telemetry accepted and recorded', by: 'snowflake-sdk, gosnowflake' },
  { route: 'GET /__chunks/:queryId/:index', feature: 'JSON chunks (gzip, rows without brackets) behind chunkHeaders SSE-C key + signed URL; rowset inline or empty', by: 'snowflake-sdk, gosnowflake, raw' },
];

/** Protocol features the emulator does not serve (drivers using them fail or fall back). */
const NOT_COVERED = [
  'Arrow result format (rowsetBase64, queryResultFormat "arrow"): the session parameters ask every driver for JSON',
  'multi-statement results (resultIds / MULTI_STATEMENT_COUNT > 1 returns only the last statement)',
  'binds uploaded to a stage (bindStage, over CLIENT_STAGE_ARRAY_BINDING_THRESHOLD = 65280 values), PUT/GET file transfer, stages',
  'external browser, Okta, MFA, PAT, workload identity authenticators (answered 390100)',
  'query context cache (queryContext entries), HTAP, result reuse / RESULT_SCAN',
  'TIMESTAMP_TZ results with offsets (TIMESTAMPTZ columns come back as timestamp_ltz)',
  'Snowflake SQL beyond what @polyglot-sql/sdk transpiles plus the macros; DATEADD on a DATE returns TIMESTAMP_NTZ',
  'heartbeat from gosnowflake (its minimum interval is 900 s), console login, SSO endpoints',
  'statement-level rollback: an error inside BEGIN … COMMIT aborts the whole transaction (DuckDB), and DDL does not auto-commit',
  'PRIMARY KEY / UNIQUE / FOREIGN KEY are enforced by DuckDB when declared (Snowflake does not enforce them)',
];

const ACCOUNT = 'VERDICT_TEST';

let sf: SnowflakeEmulator;
let goBin: string;
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }) as string;
/** The emulator answers "in progress" after this long; longer statements are polled. */
const RESULT_WAIT_MS = 1000;

snowflake.configure({ logLevel: 'OFF' });

beforeAll(async () => {
  [sf, goBin] = await Promise.all([
    startSnowflakeEmulator({
      account: ACCOUNT,
      clinic: true,
      users: [
        { name: 'svc_verdict', publicKeys: [keys.publicKey], roles: ['ANALYST', 'ADMIN'], defaultRole: 'ANALYST' },
        { name: 'alice', password: 'wonderland' },
      ],
      oauth: (token) => (token === 'oidc-token-for-bob' ? { user: 'bob', role: 'CONTRACTOR' } : null),
      resultChunkRows: 400,
      firstChunkRows: 100,
      resultWaitMs: RESULT_WAIT_MS,
    }),
    buildGoClient(),
  ]);
  await sf.exec('CREATE TABLE CLINIC.PUBLIC.SCRATCH (ID NUMBER(38,0), NOTE VARCHAR)');
}, 180_000);

afterAll(async () => {
  await sf?.close();
});

// ---------------------------------------------------------------------------------------------
// snowflake-sdk helpers

type Conn = snowflake.Connection;

function nodeConnection(extra: Partial<snowflake.ConnectionOptions> = {}): Conn {
  return snowflake.createConnection({
    account: ACCOUNT,
    username: 'svc_verdict',
    authenticator: 'SNOWFLAKE_JWT',
    privateKey: pem(keys.privateKey),
    accessUrl: sf.url,
    database: 'clinic',
    schema: 'public',
    warehouse: 'verdict_wh',
    ...extra,
  } as snowflake.ConnectionOptions);
}

/** connect() through its callback: `connectAsync()` without one resolves even when the login fails. */
function connect(conn: Conn): Promise<Conn> {
  return new Promise((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve(conn))));
}

function destroy(conn: Conn): Promise<void> {
  return new Promise((resolve, reject) => conn.destroy((err) => (err ? reject(err) : resolve())));
}

interface Ran {
  rows: Array<Record<string, unknown>>;
  stmt: snowflake.RowStatement;
}

function run(conn: Conn, sqlText: string, options: Partial<snowflake.StatementOption> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    conn.execute({
      sqlText,
      fetchAsString: ['Date', 'Number', 'Boolean'],
      ...options,
      complete: (err, stmt, rows) => (err ? reject(err) : resolve({ rows: (rows ?? []) as Array<Record<string, unknown>>, stmt: stmt as snowflake.RowStatement })),
    } as snowflake.StatementOption);
  });
}

function failure(p: Promise<unknown>): Promise<snowflake.SnowflakeError & { data?: { queryId?: string } }> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: snowflake.SnowflakeError) => e,
  );
}

function streamAll(stmt: snowflake.RowStatement | snowflake.FileAndStageBindStatement): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const rows: Array<Record<string, unknown>> = [];
    stmt.streamRows().on('data', (r: Record<string, unknown>) => rows.push(r)).on('error', reject).on('end', () => resolve(rows));
  });
}

// ---------------------------------------------------------------------------------------------
// raw HTTP helpers

async function post(path: string, body: unknown, token?: string): Promise<{ status: number; json: Record<string, any> }> {
  const res = await fetch(`${sf.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/snowflake', ...(token !== undefined ? { Authorization: `Snowflake Token="${token}"` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

async function rawLogin(): Promise<Record<string, any>> {
  const r = await post('/session/v1/login-request?databaseName=CLINIC&schemaName=PUBLIC', {
    data: { ACCOUNT_NAME: ACCOUNT, LOGIN_NAME: 'alice', PASSWORD: 'wonderland', CLIENT_APP_ID: 'raw-test', CLIENT_APP_VERSION: '0' },
  });
  expect(r.status).toBe(200);
  expect(r.json.success).toBe(true);
  return r.json.data as Record<string, any>;
}

function goConfig(extra: Partial<GoClientConfig> = {}): GoClientConfig {
  return {
    account: ACCOUNT,
    user: 'svc_verdict',
    authenticator: 'jwt',
    privateKeyPem: pem(keys.privateKey),
    host: sf.host,
    port: sf.port,
    protocol: 'http',
    database: 'CLINIC',
    schema: 'PUBLIC',
    warehouse: 'VERDICT_WH',
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------

describe('snowflake-sdk against the emulator', () => {
  it('logs in with a key-pair JWT and sees its session (user, default role, database, schema, warehouse)', async () => {
    const conn = await connect(nodeConnection());
    const { rows } = await run(conn, 'SELECT CURRENT_USER() AS u, CURRENT_ROLE() AS r, CURRENT_DATABASE() AS d, CURRENT_SCHEMA() AS s, CURRENT_WAREHOUSE() AS w');
    expect(rows).toEqual([{ U: 'SVC_VERDICT', R: 'ANALYST', D: 'CLINIC', S: 'PUBLIC', W: 'VERDICT_WH' }]);
    const s = sf.sessions().at(-1)!;
    expect(s.authenticator).toBe('SNOWFLAKE_JWT');
    expect(s.clientAppId).toBe('JavaScript');
    await destroy(conn);
    expect(s.closed).toBe(true);
  });

  it('logs in with a password and with OAuth (the token decides user and role)', async () => {
    const pw = await connect(nodeConnection({ username: 'alice', authenticator: 'SNOWFLAKE', password: 'wonderland', privateKey: undefined }));
    expect((await run(pw, 'SELECT CURRENT_USER() AS u')).rows).toEqual([{ U: 'ALICE' }]);
    await destroy(pw);
    const oauth = await connect(nodeConnection({ username: 'bob', authenticator: 'OAUTH', token: 'oidc-token-for-bob', privateKey: undefined }));
    expect((await run(oauth, 'SELECT CURRENT_USER() AS u, CURRENT_ROLE() AS r')).rows).toEqual([{ U: 'BOB', R: 'CONTRACTOR' }]);
    await destroy(oauth);
  });

  it("refuses bad credentials with Snowflake's codes — and connectAsync() without a callback hides it", async () => {
    const wrongPassword = await failure(connect(nodeConnection({ username: 'alice', authenticator: 'SNOWFLAKE', password: 'nope', privateKey: undefined })));
    expect(wrongPassword.code).toBe('390100');
    expect(wrongPassword.message).toBe('Incorrect username or password was specified.');
    const wrongKey = await failure(connect(nodeConnection({ privateKey: pem(otherKeys.privateKey) })));
    expect(wrongKey.code).toBe('390144');
    const badToken = await failure(connect(nodeConnection({ username: 'bob', authenticator: 'OAUTH', token: 'forged', privateKey: undefined })));
    expect(badToken.code).toBe('390303');
    const notGranted = await failure(connect(nodeConnection({ role: 'ACCOUNTADMIN' })));
    expect(notGranted.code).toBe('390189');
    // The trap: the promise form resolves although the login failed; only isUp() tells.
    const trap = nodeConnection({ username: 'alice', authenticator: 'SNOWFLAKE', password: 'nope', privateKey: undefined });
    await expect(trap.connectAsync()).resolves.toBe(trap); // resolves with the connection, login failed or not
    expect(trap.isUp()).toBe(false);
  });

  it('binds positionally (? and :1), returns Snowflake rowtype metadata, and inserts with array binds', async () => {
    const conn = await connect(nodeConnection());
    const q = await run(conn, 'SELECT id, name, dob, email FROM patients WHERE id = ? OR name = ? ORDER BY id', { binds: [1, 'Grace Hopper'] });
    expect(q.rows).toEqual([
      { ID: '1', NAME: 'Ada Lovelace', DOB: '1815-12-10', EMAIL: 'ada@example.org' },
      { ID: '3', NAME: 'Grace Hopper', DOB: '1906-12-09', EMAIL: 'grace@example.org' },
    ]);
    const cols = (q.stmt.getColumns() ?? []).map((c) => ({ name: c.getName(), type: c.getType(), scale: c.getScale(), precision: c.getPrecision(), nullable: c.isNullable() }));
    expect(cols).toEqual([
      { name: 'ID', type: 'fixed', scale: 0, precision: 38, nullable: false },
      { name: 'NAME', type: 'text', scale: null, precision: null, nullable: false },
      { name: 'DOB', type: 'date', scale: null, precision: null, nullable: false },
      { name: 'EMAIL', type: 'text', scale: null, precision: null, nullable: true },
    ]);
    const colon = await run(conn, 'SELECT COUNT(*), MAX(visit_date) FROM visits WHERE patient_id = :1', { binds: [1] });
    expect(colon.rows).toEqual([{ 'COUNT(*)': '2', 'MAX(VISIT_DATE)': '2026-02-02' }]);

    const ins = await run(conn, 'INSERT INTO scratch (id, note) VALUES (?, ?)', { binds: [[1, 'one'], [2, 'two'], [3, null]] });
    expect(ins.stmt.getNumUpdatedRows()).toBe(3);
    expect(ins.rows).toEqual([{ 'number of rows inserted': '3' }]);
    const back = await run(conn, 'SELECT id, note FROM scratch ORDER BY id');
    expect(back.rows).toEqual([
      { ID: '1', NOTE: 'one' },
      { ID: '2', NOTE: 'two' },
      { ID: '3', NOTE: null },
    ]);
    await run(conn, 'DELETE FROM scratch');
    await destroy(conn);
  });

  it('folds unquoted names to UPPER, keeps quoted ones, and resolves three-part names, USE, SHOW and DESCRIBE', async () => {
    const conn = await connect(nodeConnection());
    await run(conn, 'CREATE DATABASE demo_db');
    expect((await run(conn, 'SELECT CURRENT_DATABASE() AS d, CURRENT_SCHEMA() AS s')).rows).toEqual([{ D: 'DEMO_DB', S: 'PUBLIC' }]);
    const created = await run(conn, 'CREATE TABLE t1 (Id NUMBER(38,0), "MixedCase" VARCHAR)');
    expect(created.rows).toEqual([{ status: 'Table T1 successfully created.' }]);
    await run(conn, "INSERT INTO demo_db.public.t1 VALUES (1, 'x')");
    const q = await run(conn, 'SELECT id, "MixedCase", id + 1 FROM DEMO_DB.PUBLIC.T1');
    expect(q.rows).toEqual([{ ID: '1', MixedCase: 'x', 'ID + 1': '2' }]);
    expect((q.stmt.getColumns() ?? []).map((c) => [c.getName(), c.getType()])).toEqual([
      ['ID', 'fixed'],
      ['MixedCase', 'text'],
      ['ID + 1', 'fixed'],
    ]);
    const described = await run(conn, 'DESC TABLE demo_db.public.t1');
    expect(described.rows.map((r) => [r.name, r.type, r['null?']])).toEqual([
      ['ID', 'NUMBER(38,0)', 'Y'],
      ['MixedCase', `VARCHAR(16777216)`, 'Y'],
    ]);
    await run(conn, 'USE SCHEMA clinic.public');
    const tables = await run(conn, 'SHOW TABLES');
    expect(tables.rows.map((r) => `${r.database_name}.${r.schema_name}.${r.name}`)).toEqual(['CLINIC.PUBLIC.PATIENTS', 'CLINIC.PUBLIC.SCRATCH', 'CLINIC.PUBLIC.VISITS']);
    expect((await run(conn, "SHOW TABLES LIKE 't%' IN DATABASE demo_db")).rows.map((r) => r.name)).toEqual(['T1']);
    await run(conn, 'DROP DATABASE demo_db');
    expect((await failure(run(conn, 'SELECT * FROM demo_db.public.t1'))).code).toBe('002003');
    await destroy(conn);
  });

  it('serves INFORMATION_SCHEMA COLUMNS, TABLES and VIEWS per database: the CREATE VIEW text as submitted, a secure view shown to its owner only', async () => {
    await sf.exec('CREATE VIEW CLINIC.PUBLIC.IS_OPEN (X) AS SELECT SSN FROM PATIENTS');
    await sf.exec('CREATE OR REPLACE SECURE VIEW CLINIC.PUBLIC.IS_SECURE AS SELECT ID FROM CLINIC.PUBLIC.PATIENTS');
    const conn = await connect(nodeConnection()); // role ANALYST: not the secure view's owner (ACCOUNTADMIN)
    try {
      const cols = await run(conn, "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, DATA_TYPE, IS_NULLABLE FROM CLINIC.INFORMATION_SCHEMA.COLUMNS WHERE TABLE_NAME IN ('PATIENTS', 'IS_OPEN') ORDER BY TABLE_NAME, ORDINAL_POSITION");
      expect(cols.rows.map((r) => `${r.TABLE_NAME}.${r.COLUMN_NAME}:${r.ORDINAL_POSITION}:${r.DATA_TYPE}:${r.IS_NULLABLE}`)).toEqual([
        'IS_OPEN.X:1:TEXT:YES',
        'PATIENTS.ID:1:NUMBER:NO',
        'PATIENTS.NAME:2:TEXT:NO',
        'PATIENTS.SSN:3:TEXT:NO',
        'PATIENTS.DOB:4:DATE:NO',
        'PATIENTS.EMAIL:5:TEXT:YES',
        'PATIENTS.DIAGNOSIS:6:TEXT:YES',
        'PATIENTS.CREATED_AT:7:TIMESTAMP_LTZ:NO',
      ]);
      const tables = await run(conn, "SELECT TABLE_NAME, TABLE_TYPE FROM INFORMATION_SCHEMA.TABLES WHERE TABLE_NAME LIKE 'IS\\_%' OR TABLE_NAME = 'PATIENTS' ORDER BY 1");
      expect(tables.rows).toEqual([
        { TABLE_NAME: 'IS_OPEN', TABLE_TYPE: 'VIEW' },
        { TABLE_NAME: 'IS_SECURE', TABLE_TYPE: 'VIEW' },
        { TABLE_NAME: 'PATIENTS', TABLE_TYPE: 'BASE TABLE' },
      ]);
      const views = await run(conn, "SELECT TABLE_NAME, VIEW_DEFINITION, IS_SECURE FROM clinic.information_schema.views WHERE TABLE_NAME LIKE 'IS%' ORDER BY 1");
      expect(views.rows).toEqual([
        { TABLE_NAME: 'IS_OPEN', VIEW_DEFINITION: 'CREATE VIEW CLINIC.PUBLIC.IS_OPEN (X) AS SELECT SSN FROM PATIENTS', IS_SECURE: 'NO' },
        { TABLE_NAME: 'IS_SECURE', VIEW_DEFINITION: null, IS_SECURE: 'YES' },
      ]);
      await run(conn, 'USE ROLE ADMIN');
      await run(conn, 'CREATE SECURE VIEW CLINIC.PUBLIC.IS_MINE AS SELECT ID FROM PATIENTS');
      expect((await run(conn, "SELECT VIEW_DEFINITION FROM INFORMATION_SCHEMA.VIEWS WHERE TABLE_NAME = 'IS_MINE'")).rows).toEqual([{ VIEW_DEFINITION: 'CREATE SECURE VIEW CLINIC.PUBLIC.IS_MINE AS SELECT ID FROM PATIENTS' }]);
      expect((await run(conn, 'SELECT COUNT(*) AS N FROM IS_SECURE')).rows).toEqual([{ N: '6' }]);
      await failure(run(conn, 'SELECT * FROM NO_DB.INFORMATION_SCHEMA.VIEWS')).then((e) => expect(e.code).toBe('002003'));
    } finally {
      for (const v of ['IS_OPEN', 'IS_SECURE', 'IS_MINE']) await sf.exec(`DROP VIEW IF EXISTS CLINIC.PUBLIC.${v}`);
      await destroy(conn);
    }
  });

  it('downloads a multi-chunk result from chunk URLs with the chunk headers, all rows in order', async () => {
    const conn = await connect(nodeConnection());
    const before = sf.requests.filter((r) => r.route === '/__chunks/:queryId/:index').length;
    const { rows, stmt } = await run(conn, 'SELECT seq4() AS n, n * 2 AS twice FROM TABLE(GENERATOR(ROWCOUNT => 2500)) ORDER BY n');
    expect(rows).toHaveLength(2500);
    expect(rows.every((r, i) => r.N === String(i) && r.TWICE === String(2 * i))).toBe(true);
    const chunkGets = sf.requests.filter((r) => r.route === '/__chunks/:queryId/:index').slice(before);
    // 100 rows inline, then 2400 rows in chunks of 400.
    expect(chunkGets).toHaveLength(6);
    expect(chunkGets.every((r) => r.status === 200 && r.path.includes(stmt.getQueryId()))).toBe(true);
    await destroy(conn);
  });

  it('describeOnly returns the columns without running the statement', async () => {
    const conn = await connect(nodeConnection());
    const d = await run(conn, 'SELECT name, dob FROM patients WHERE id = ?', { binds: [1], describeOnly: true });
    expect(d.rows).toEqual([]);
    expect((d.stmt.getColumns() ?? []).map((c) => `${c.getName()}:${c.getType()}`)).toEqual(['NAME:text', 'DOB:date']);
    await run(conn, 'DELETE FROM visits', { describeOnly: true });
    expect((await run(conn, 'SELECT COUNT(*) AS n FROM visits')).rows).toEqual([{ N: '6' }]);
    await destroy(conn);
  });

  it('runs asyncExec statements and serves their status and results by query id', async () => {
    const conn = await connect(nodeConnection());
    const started = performance.now();
    const { stmt } = await run(conn, "SELECT SYSTEM$WAIT(600, 'MILLISECONDS') AS w, 42 AS answer", { asyncExec: true });
    expect(performance.now() - started).toBeLessThan(500);
    const queryId = stmt.getQueryId();
    expect(await conn.getQueryStatus(queryId)).toBe('RUNNING');
    const result = await conn.getResultsFromQueryId({ queryId, fetchAsString: ['Number'] });
    expect(await streamAll(result)).toEqual([{ W: 'waited 600 milliseconds', ANSWER: '42' }]);
    expect(await conn.getQueryStatus(queryId)).toBe('SUCCESS');
    await destroy(conn);
  });

  it('polls getResultUrl when a synchronous statement outlives the server wait (333333)', async () => {
    const conn = await connect(nodeConnection());
    const { rows } = await run(conn, `SELECT SYSTEM$WAIT(${RESULT_WAIT_MS + 300}, 'MILLISECONDS') AS w`);
    expect(rows).toEqual([{ W: `waited ${RESULT_WAIT_MS + 300} milliseconds` }]);
    const q = sf.queries().at(-1)!;
    expect(sf.requests.some((r) => r.route === '/queries/:queryId/result' && r.path.includes(q.queryId))).toBe(true);
    await destroy(conn);
  });

  it('cancels a running statement (timer and DuckDB work alike) with 000604', async () => {
    const conn = await connect(nodeConnection());
    for (const sqlText of ['SELECT SYSTEM$WAIT(30)', 'SELECT COUNT(*) AS n FROM TABLE(GENERATOR(ROWCOUNT => 50000000000))']) {
      const started = performance.now();
      const err = await new Promise<snowflake.SnowflakeError | undefined>((resolve) => {
        const st = conn.execute({ sqlText, complete: (e) => resolve(e) });
        // Cancel once the statement runs (a cancel that overtakes its query-request finds nothing to stop).
        const poll = setInterval(() => {
          if (sf.queries().some((q) => q.sqlText === sqlText && q.status === 'RUNNING')) {
            clearInterval(poll);
            st.cancel();
          }
        }, 20);
      });
      expect(err?.code).toBe('000604');
      expect(err?.message).toBe('SQL execution canceled');
      expect(performance.now() - started).toBeLessThan(15_000);
      expect(sf.queries().find((q) => q.sqlText === sqlText)?.status).toBe('ABORTED');
    }
    await destroy(conn);
  });

  it("reports bad SQL in Snowflake's error shape", async () => {
    const conn = await connect(nodeConnection());
    const syntax = await failure(run(conn, 'SELEC name FROM patients'));
    expect(syntax.code).toBe('001003');
    expect(syntax.sqlState).toBe('42000');
    expect(syntax.message).toMatch(/^SQL compilation error:\nsyntax error line 1 at position \d+ unexpected/);
    expect(syntax.data?.queryId).toMatch(/^[0-9a-f-]{36}$/);
    const missing = await failure(run(conn, 'SELECT * FROM no_such_table'));
    expect(missing.code).toBe('002003');
    expect(missing.sqlState).toBe('42S02');
    expect(missing.message).toBe("SQL compilation error:\nObject 'NO_SUCH_TABLE' does not exist or not authorized.");
    const many = await failure(run(conn, 'SELECT 1; SELECT 2'));
    expect(many.code).toBe('000008');
    await destroy(conn);
  });

  it('renews an expired session token with the master token, heartbeats, and logs out', async () => {
    const conn = await connect(nodeConnection());
    const s = sf.sessions().at(-1)!;
    const firstToken = s.sessionToken;
    sf.expireSessionTokens();
    expect((await run(conn, 'SELECT 1 AS one')).rows).toEqual([{ ONE: '1' }]);
    expect(s.renewals).toBe(1);
    expect(s.sessionToken).not.toBe(firstToken);
    expect(await conn.isValidAsync()).toBe(true);
    expect(s.heartbeats).toBe(1);
    await destroy(conn);
    expect(s.closed).toBe(true);
    expect(sf.telemetry.some((t) => (t as { message?: { driver_type?: string } }).message?.driver_type === 'JavaScript')).toBe(true);
  });
});

describe('raw protocol shapes', () => {
  it('login returns tokens, validity, a numeric session id for clients without SESSION_ID_AS_STRING, and JSON result parameters', async () => {
    const data = await rawLogin();
    expect(typeof data.token).toBe('string');
    expect(typeof data.masterToken).toBe('string');
    expect(data.validityInSeconds).toBe(3600);
    expect(data.masterValidityInSeconds).toBe(14400);
    expect(typeof data.sessionId).toBe('number');
    expect(data.sessionInfo).toEqual({ databaseName: 'CLINIC', schemaName: 'PUBLIC', warehouseName: null, roleName: 'PUBLIC' });
    const params = new Map((data.parameters as Array<{ name: string; value: unknown }>).map((p) => [p.name, p.value]));
    expect(params.get('GO_QUERY_RESULT_FORMAT')).toBe('JSON');
    expect(params.get('TIMEZONE')).toBe('UTC');
  });

  it('answers 401 for a missing or unknown token and 390111 once the session is gone', async () => {
    const none = await post('/queries/v1/query-request', { sqlText: 'SELECT 1' });
    expect(none.status).toBe(401);
    expect(none.json).toMatchObject({ success: false, code: '390101' });
    const unknown = await post('/queries/v1/query-request', { sqlText: 'SELECT 1' }, 'not-a-token');
    expect(unknown.status).toBe(401);
    expect(unknown.json).toMatchObject({ success: false, code: '390104' });
    const data = await rawLogin();
    const renewWithSessionToken = await post('/session/token-request', { oldSessionToken: data.token, requestType: 'RENEW' }, data.token);
    expect(renewWithSessionToken.status).toBe(401);
    const renewed = await post('/session/token-request', { oldSessionToken: data.token, requestType: 'RENEW' }, data.masterToken);
    expect(renewed.json.data).toMatchObject({ validityInSecondsST: 3600, validityInSecondsMT: 14400, sessionId: data.sessionId });
    const token = renewed.json.data.sessionToken as string;
    expect((await post('/session?delete=true', undefined, token)).json.success).toBe(true);
    const gone = await post('/queries/v1/query-request', { sqlText: 'SELECT 1' }, token);
    expect(gone.status).toBe(200);
    expect(gone.json).toMatchObject({ success: false, code: '390111' });
  });

  it('sends errors as HTTP 200 success:false with code, message, sqlState and queryId', async () => {
    const { token } = await rawLogin();
    const r = await post('/queries/v1/query-request?requestId=11111111-2222-3333-4444-555555555555', { sqlText: 'SELECT FROM WHERE' }, token);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ success: false, code: '001003', data: { sqlState: '42000', errorCode: '001003' } });
    expect(r.json.data.queryId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('describes chunks (url, rowCount, sizes) and serves them gzip-compressed only with the chunk headers', async () => {
    const { token } = await rawLogin();
    const r = await post('/queries/v1/query-request', { sqlText: 'SELECT seq4() AS n FROM TABLE(GENERATOR(ROWCOUNT => 900)) ORDER BY n' }, token);
    const data = r.json.data;
    expect(data.queryResultFormat).toBe('json');
    expect(data.total).toBe(900);
    expect(data.rowset).toHaveLength(100);
    expect(data.rowtype[0]).toMatchObject({ name: 'N', type: 'fixed', precision: 38, scale: 0, nullable: true, database: '', schema: '', table: '' });
    expect(data.chunks.map((c: { rowCount: number }) => c.rowCount)).toEqual([400, 400]);
    const chunk = data.chunks[1] as { url: string; rowCount: number; uncompressedSize: number; compressedSize: number };
    expect(chunk.url.startsWith(sf.url)).toBe(true);
    const denied = await fetch(chunk.url);
    expect(denied.status).toBe(403);
    const res = await fetch(chunk.url, { headers: data.chunkHeaders as Record<string, string> });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-encoding')).toBe('gzip');
    // fetch already gunzipped it: rows joined by commas, no enclosing brackets.
    const text = await res.text();
    expect(text.length).toBe(chunk.uncompressedSize);
    const rows = JSON.parse(`[${text}]`) as string[][];
    expect(rows[0]).toEqual(['500']);
    expect(rows).toHaveLength(400);
  });

  it('cancels by query id (/queries/{id}/abort-request) and says 000605 for a statement not running', async () => {
    const { token } = await rawLogin();
    const started = await post('/queries/v1/query-request?requestId=aaaaaaaa-0000-0000-0000-000000000001', { sqlText: 'SELECT SYSTEM$WAIT(20)', asyncExec: true }, token);
    expect(started.json.code).toBe('333334');
    const id = started.json.data.queryId as string;
    expect(started.json.data.getResultUrl).toBe(`/queries/${id}/result`);
    expect((await post(`/queries/${id}/abort-request`, {}, token)).json.success).toBe(true);
    const again = await post('/queries/v1/abort-request', { requestId: 'aaaaaaaa-0000-0000-0000-000000000001' }, token);
    expect(again.json).toMatchObject({ success: false, code: '000605' });
  });
});

describe('gosnowflake against the emulator', () => {
  let report: GoReport;

  beforeAll(async () => {
    report = await runGoClient(goBin, {
      config: goConfig(),
      steps: [
        { op: 'ping' },
        { op: 'query', sql: 'SELECT ID, NAME, DOB FROM PATIENTS WHERE ID = ?', args: [{ int: 2 }] },
        { op: 'query', sql: 'SELECT NAME FROM PATIENTS WHERE ID = :1 OR NAME = :2 ORDER BY ID', args: [{ int: 1 }, { string: 'Grace Hopper' }] },
        { op: 'query', sql: 'SELECT NAME FROM PATIENTS WHERE ID = :pid', args: [{ name: 'pid', int: 5 }] },
        { op: 'query', sql: 'SELECT SEQ4() AS N FROM TABLE(GENERATOR(ROWCOUNT => 2500)) ORDER BY N' },
        { op: 'describe', sql: 'SELECT NAME, DOB FROM PATIENTS WHERE ID = ?', args: [{ int: 1 }] },
        { op: 'exec', sql: 'INSERT INTO SCRATCH (ID, NOTE) VALUES (?, ?)', args: [{ ints: [10, 11, 12] }, { strings: ['a', 'b', 'c'] }] },
        { op: 'query', sql: 'SELEC 1' },
        { op: 'async', sql: "SELECT SYSTEM$WAIT(600, 'MILLISECONDS') AS W", pollStatus: true },
        { op: 'cancel', sql: 'SELECT SYSTEM$WAIT(20)', afterMs: 300 },
        { op: 'query', sql: `SELECT SYSTEM$WAIT(${RESULT_WAIT_MS + 300}, 'MILLISECONDS') AS W` },
        { op: 'query', sql: 'SELECT CURRENT_USER(), ? AS TS', args: [{ timestamp: '2026-01-05T09:00:00.123456Z' }] },
      ],
    });
  }, 60_000);

  it('logs in with a key-pair JWT and runs selects with ?, :1 and :name binds', () => {
    expect(report.fatal).toBeUndefined();
    const [ping, byId, colon, named] = report.steps;
    expect(ping!.error).toBeUndefined();
    expect(byId!.columns).toEqual([
      { name: 'ID', type: 'FIXED' },
      { name: 'NAME', type: 'TEXT' },
      { name: 'DOB', type: 'DATE' },
    ]);
    expect(byId!.rows).toEqual([['2', 'Alan Turing', '1912-06-23T00:00:00Z']]);
    expect(colon!.rows).toEqual([['Ada Lovelace'], ['Grace Hopper']]);
    expect(named!.rows).toEqual([['Barbara Liskov']]);
    expect(report.steps.at(-1)!.rows).toEqual([['SVC_VERDICT', '2026-01-05T09:00:00.123456Z']]);
  });

  it('reads a multi-chunk result in order and describes without running', () => {
    const big = report.steps[4]!;
    expect(big.error).toBeUndefined();
    expect(big.rows).toHaveLength(2500);
    expect(big.rows!.every((r, i) => r[0] === String(i))).toBe(true);
    expect(report.steps[5]!.columns).toEqual([
      { name: 'NAME', type: 'TEXT' },
      { name: 'DOB', type: 'DATE' },
    ]);
    expect(report.steps[5]!.rows).toEqual([]);
  });

  it('inserts with array binds and reports rows affected', () => {
    expect(report.steps[6]!.rowsAffected).toBe(3);
  });

  it("gets Snowflake's error number, SQLSTATE and query id for bad SQL", () => {
    const e = report.steps[7]!.error!;
    expect(e.number).toBe(1003);
    expect(e.sqlState).toBe('42000');
    expect(e.queryId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('runs async queries (immediate return, RUNNING status, rows later) and polls long synchronous ones', () => {
    const a = report.steps[8]!;
    expect(a.error ?? null, JSON.stringify(a)).toBeNull();
    expect(a.returnMs ?? 0).toBeLessThan(500); // omitted by the Go client's JSON (omitempty) when it returned within 1 ms
    expect(a.status).toBe('RUNNING');
    expect(a.rows).toEqual([['waited 600 milliseconds']]);
    expect(report.steps[10]!.rows).toEqual([[`waited ${RESULT_WAIT_MS + 300} milliseconds`]]);
  });

  it('cancels through abort-request when the context ends', () => {
    const c = report.steps[9]!;
    expect(c.error?.text).toMatch(/context deadline exceeded/);
    expect(c.elapsedMs).toBeLessThan(5000);
    expect(sf.queries().find((q) => q.sqlText === 'SELECT SYSTEM$WAIT(20)' && q.requestId !== 'aaaaaaaa-0000-0000-0000-000000000001')?.status).toBe('ABORTED');
  });

  it('logs out at close and sends its telemetry', () => {
    expect(report.close).toBeUndefined();
    const goSessions = sf.sessions().filter((s) => s.clientAppId === 'Go');
    expect(goSessions.length).toBeGreaterThan(0);
    expect(goSessions.every((s) => s.closed && s.authenticator === 'SNOWFLAKE_JWT')).toBe(true);
    expect(sf.telemetry.some((t) => (t as { message?: { source?: string } }).message?.source === 'golang_driver')).toBe(true);
  });

  it('logs in with a password and refuses a wrong one with 390100', async () => {
    const [good, bad] = await Promise.all([
      runGoClient(goBin, { config: goConfig({ user: 'alice', authenticator: 'snowflake', password: 'wonderland' }), steps: [{ op: 'query', sql: 'SELECT CURRENT_USER()' }] }),
      runGoClient(goBin, { config: goConfig({ user: 'alice', authenticator: 'snowflake', password: 'nope' }), steps: [{ op: 'ping' }] }),
    ]);
    expect(good.steps[0]!.rows).toEqual([['ALICE']]);
    expect(bad.steps[0]!.error?.number).toBe(390100);
  });
});

describe('coverage record', () => {
  it('lists every served route as covered, and every route was exercised by the tests above', () => {
    const served = ROUTES.map((r) => `${r.method} ${r.path}`).sort();
    expect(COVERED.map((c) => c.route).sort()).toEqual(served);
    const hit = new Set(sf.requests.filter((r) => r.route !== null).map((r) => `${r.method} ${r.route}`));
    expect(served.filter((r) => !hit.has(r))).toEqual([]);
    expect(NOT_COVERED.length).toBeGreaterThan(0);
  });
});
