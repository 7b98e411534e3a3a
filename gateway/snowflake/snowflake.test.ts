// The Snowflake door end to end: the real snowflake-sdk and gosnowflake, pointed at Verdict with an OIDC token as
// their OAuth token, through Verdict to the local Snowflake via the snowflake-sdk upstream: login, binds,
// masking in every chunk, denial, approval (hold, rerun, cancel), statement cancel, async polling, evidence that verifies.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import snowflake from 'snowflake-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideLocally } from '../approvals/local.ts';
import { verifyRepository } from '../evidence/verify.ts';
import { evidenceEvents } from '../testing/evidence.ts';
import { buildGoClient, runGoClient, type GoClientConfig } from '../testing/snowflake/go-client.ts';
import { SF_ACCOUNT, startSnowflakeStack, type SnowflakeStack } from '../testing/snowflake-stack.ts';

snowflake.configure({ logLevel: 'OFF' });

let stack: SnowflakeStack;
let goBin: string;

beforeAll(async () => {
  [stack, goBin] = await Promise.all([startSnowflakeStack({ chunk_rows: 2 }), buildGoClient()]);
}, 180_000);
let stopped = false;
afterAll(async () => {
  if (!stopped) await stack?.stop();
});

type Conn = snowflake.Connection;

async function connectAs(user: string, token?: string, extra: Record<string, unknown> = {}): Promise<Conn> {
  const conn = snowflake.createConnection({
    account: SF_ACCOUNT,
    username: user,
    authenticator: 'OAUTH',
    token: token ?? (await stack.issuer.mint(user)),
    accessUrl: stack.url,
    ...extra,
  } as snowflake.ConnectionOptions);
  // connect() through its callback: connectAsync() without one resolves even when the login fails.
  return new Promise((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve(conn))));
}

function run(conn: Conn, sqlText: string, binds: snowflake.Binds = []): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    conn.execute({ sqlText, binds, fetchAsString: ['Date', 'Number'], complete: (err, _stmt, rows) => (err ? reject(err) : resolve((rows ?? []) as Array<Record<string, unknown>>)) });
  });
}

function failure(p: Promise<unknown>): Promise<snowflake.SnowflakeError & { data?: Record<string, unknown> }> {
  return p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: snowflake.SnowflakeError) => e,
  );
}

/** Ids of the local approval requests filed so far. */
function requestIds(): Set<string> {
  const dir = join(stack.dir, 'approvals');
  return new Set(existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.request.json')).map((f) => f.slice(0, -'.request.json'.length)) : []);
}

/** The id of the request filed after `before` was taken. */
async function newRequest(before: Set<string>): Promise<string> {
  for (let i = 0; i < 400; i++) {
    const fresh = [...requestIds()].filter((id) => !before.has(id));
    if (fresh.length > 0) return fresh[0]!;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error('no approval request was filed');
}

/** A session opened with a hand-built login-request: the headers of its requests. */
async function rawLogin(user: string): Promise<Record<string, string>> {
  const login = (await (await fetch(`${stack.url}/session/v1/login-request`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { ACCOUNT_NAME: SF_ACCOUNT, LOGIN_NAME: user, AUTHENTICATOR: 'OAUTH', TOKEN: await stack.issuer.mint(user), CLIENT_APP_ID: 'raw' } }) })).json()) as { data: { token: string } };
  return { 'content-type': 'application/json', authorization: `Snowflake Token="${login.data.token}"` };
}

const destroy = (conn: Conn) => new Promise<void>((resolve) => conn.destroy(() => resolve()));

const evidence = () => evidenceEvents(join(stack.dir, 'evidence'));

async function goConfig(user: string): Promise<GoClientConfig> {
  const u = new URL(stack.url);
  return { account: SF_ACCOUNT, user, authenticator: 'oauth', token: await stack.issuer.mint(user), host: u.hostname, port: Number(u.port), protocol: 'http' };
}

describe('snowflake-sdk through the Snowflake door', () => {
  it('logs in with the OIDC token and runs a select with binds', async () => {
    const conn = await connectAs('alice');
    const rows = await run(conn, 'SELECT ID, NAME FROM PATIENTS WHERE ID <= ? ORDER BY ID', [2]);
    expect(rows).toEqual([
      { ID: '1', NAME: 'Ada Lovelace' },
      { ID: '2', NAME: 'Alan Turing' },
    ]);
    // The upstream session runs as the role of alice's group; Snowflake's tokens never reach the driver.
    expect(stack.sf.sessions().at(-1)).toMatchObject({ role: 'CLINICIAN' });
    await destroy(conn);
  });

  it('refuses a bad token, and every authenticator but OAUTH, with Snowflake codes', async () => {
    const bad = await failure(connectAs('alice', 'not-a-token'));
    expect(String(bad.code)).toBe('390303');
    const other = await failure(
      new Promise((resolve, reject) => {
        const c = snowflake.createConnection({ account: SF_ACCOUNT, username: 'alice', password: 'x', accessUrl: stack.url });
        c.connect((err) => (err ? reject(err) : resolve(c)));
      }),
    );
    expect(String(other.code)).toBe('390100');
    const raw = await fetch(`${stack.url}/queries/v1/query-request`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Snowflake Token="forged"' }, body: JSON.stringify({ sqlText: 'SELECT 1' }) });
    expect(raw.status).toBe(401);
    expect(((await raw.json()) as { code: string }).code).toBe('390104');
  });

  it('answers a body declared past the limit with BAD_REQUEST in Snowflake\'s shape, and closes the connection', async () => {
    const answer = await new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
      const req = httpRequest(`${stack.url}/queries/v1/query-request`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(65 * 1024 * 1024) } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
      });
      req.on('error', reject);
      req.write('{"sqlText":"SELECT ');
    });
    expect(answer.status).toBe(200);
    expect(answer.connection).toBe('close');
    expect(JSON.parse(answer.body)).toMatchObject({ success: false, code: '390400', message: 'the request body is too large' });
  });

  it('renews a session token with the master token only, and the old session token stops working', async () => {
    const login = (await (await fetch(`${stack.url}/session/v1/login-request`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { ACCOUNT_NAME: SF_ACCOUNT, LOGIN_NAME: 'alice', AUTHENTICATOR: 'OAUTH', TOKEN: await stack.issuer.mint('alice'), CLIENT_APP_ID: 'raw' } }) })).json()) as { data: { token: string; masterToken: string } };
    const renew = async (token: string) =>
      (await (await fetch(`${stack.url}/session/token-request`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Snowflake Token="${token}"` }, body: JSON.stringify({ oldSessionToken: login.data.token, requestType: 'RENEW' }) })).json()) as { success: boolean; code: string | null; data: { sessionToken: string } | null };
    const query = async (token: string) =>
      (await (await fetch(`${stack.url}/queries/v1/query-request`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Snowflake Token="${token}"` }, body: JSON.stringify({ sqlText: 'SELECT 1' }) })).json()) as { success: boolean; code: string | null };
    expect(await renew(login.data.token)).toMatchObject({ success: false, code: '390104' }); // a session token is no master token
    const renewed = await renew(login.data.masterToken);
    expect(renewed.success).toBe(true);
    expect(await query(login.data.token)).toMatchObject({ success: false, code: '390104' });
    expect(await query(renewed.data!.sessionToken)).toMatchObject({ success: true });
  });

  it('masks PHI for a contractor in the rowset and in every chunk, which Verdict serves itself', async () => {
    const conn = await connectAs('bob');
    const rows = await run(conn, 'SELECT ID, NAME, SSN, DOB FROM PATIENTS ORDER BY ID');
    expect(rows.length).toBeGreaterThan(4); // chunk_rows 2: several chunks
    const text = JSON.stringify(rows);
    expect(text).not.toContain('123-45-6789');
    expect(text).not.toContain('Ada Lovelace');
    expect(rows[0]!.SSN).toBe('***-**-6789');
    await destroy(conn);

    // The wire itself: chunk URLs point at Verdict, and every chunk is masked.
    const login = (await (await fetch(`${stack.url}/session/v1/login-request`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ data: { ACCOUNT_NAME: SF_ACCOUNT, LOGIN_NAME: 'bob', AUTHENTICATOR: 'OAUTH', TOKEN: await stack.issuer.mint('bob'), CLIENT_APP_ID: 'raw' } }) })).json()) as { data: { token: string } };
    const auth = { 'content-type': 'application/json', authorization: `Snowflake Token="${login.data.token}"` };
    const r = (await (await fetch(`${stack.url}/queries/v1/query-request?requestId=r1`, { method: 'POST', headers: auth, body: JSON.stringify({ sqlText: 'SELECT NAME, SSN FROM PATIENTS ORDER BY ID' }) })).json()) as { data: { rowset: unknown[]; chunks: { url: string }[]; chunkHeaders: Record<string, string> } };
    expect(r.data.chunks.length).toBeGreaterThan(1);
    let all = JSON.stringify(r.data.rowset);
    for (const c of r.data.chunks) {
      expect(c.url.startsWith(`${stack.url}/verdict-chunks/`)).toBe(true);
      expect((await fetch(c.url)).status).toBe(403); // without the session's chunk key
      const res = await fetch(c.url, { headers: r.data.chunkHeaders });
      expect(res.status).toBe(200);
      all += await res.text();
    }
    expect(all).toContain('***-**-6789');
    expect(all).not.toMatch(/\d{3}-\d{2}-\d{4}/);
    await fetch(`${stack.url}/session?delete=true`, { method: 'POST', headers: auth });
  });

  it("denies a statement outside the contractor's schemas with Snowflake's error shape", async () => {
    const conn = await connectAs('bob');
    const err = await failure(run(conn, 'SELECT * FROM CLINIC.BILLING.CLAIMS'));
    expect(String(err.code)).toBe('003001');
    expect(err.sqlState).toBe('42501');
    expect(err.message).toMatch(/^Verdict denied this statement: .*\(rule \S+, decision \S+\)$/);
    // The table is still there.
    expect((await stack.sf.exec('SELECT COUNT(*) AS N FROM CLINIC.PUBLIC.PATIENTS')).rows.length).toBe(1);
    await destroy(conn);
  });

  it('refuses USE DATABASE / SCHEMA / ROLE: names and rights stay those the session was decided under', async () => {
    const conn = await connectAs('bob');
    for (const sql of ['USE SCHEMA CLINIC.BILLING', 'USE DATABASE OTHER', 'USE ROLE ACCOUNTADMIN']) {
      const err = await failure(run(conn, sql));
      expect(String(err.code), sql).toBe('003001');
      expect(err.message, sql).toMatch(/^Verdict denied this statement: USE /);
    }
    await destroy(conn);
  });

  it('holds a DELETE without WHERE as a running query that completes once carol approves, and runs it once', async () => {
    const conn = await connectAs('alice');
    const before = requestIds();
    const started = Date.now();
    const running = run(conn, 'DELETE FROM VISITS');
    const id = await newRequest(before);
    // The driver keeps polling: nothing ran upstream yet, and no HTTP request stayed open past result_wait_ms.
    expect(await Promise.race([running.then(() => 'done', () => 'failed'), new Promise((r) => setTimeout(() => r('waiting'), 1500))])).toBe('waiting');
    expect(stack.sf.queries().filter((q) => q.sqlText === 'DELETE FROM VISITS')).toEqual([]);
    await decideLocally(join(stack.dir, 'approvals'), id, 'approved', { sub: 'carol', username: 'carol', groups: ['phi-approvers'] });
    const done = await running;
    expect(Number(done[0]!['number of rows deleted'])).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(stack.sf.queries().filter((q) => q.sqlText === 'DELETE FROM VISITS').length).toBe(1);
    expect(existsSync(join(stack.dir, 'approvals', `${id}.consumed`))).toBe(true);
    await destroy(conn);
  });

  it('refuses an approved statement whose view was replaced while it waited for approval', async () => {
    await stack.sf.exec('CREATE TABLE CLINIC.PUBLIC.HOLD_T (ID NUMBER, REASON VARCHAR); INSERT INTO CLINIC.PUBLIC.HOLD_T SELECT ID, NAME FROM CLINIC.PUBLIC.PATIENTS');
    await stack.sf.exec('CREATE VIEW CLINIC.PUBLIC.HOLD_V AS SELECT ID FROM CLINIC.PUBLIC.PATIENTS');
    const conn = await connectAs('alice');
    const before = requestIds();
    const sql = "UPDATE HOLD_T SET REASON = 'x' WHERE ID IN (SELECT ID FROM HOLD_V)";
    const running = failure(run(conn, sql));
    const id = await newRequest(before);
    await stack.sf.exec('CREATE OR REPLACE VIEW CLINIC.PUBLIC.HOLD_V AS SELECT PATIENT_ID AS ID FROM CLINIC.PUBLIC.VISITS');
    await decideLocally(join(stack.dir, 'approvals'), id, 'approved', { sub: 'carol', username: 'carol', groups: ['phi-approvers'] });
    const err = await running;
    expect(err.message).toMatch(/changed \(or could not be checked\) while it waited for approval/);
    expect(stack.sf.queries().filter((q) => q.sqlText === sql)).toEqual([]);
    expect((await stack.sf.exec("SELECT COUNT(*) FROM CLINIC.PUBLIC.HOLD_T WHERE REASON = 'x'")).rows[0]![0]).toBe('0');
    await destroy(conn);
  });

  it('withdraws the approval request when the driver cancels a held statement (000604)', async () => {
    const conn = await connectAs('alice');
    const before = requestIds();
    let st: snowflake.RowStatement | undefined;
    const err = new Promise<snowflake.SnowflakeError | undefined>((resolve) => {
      st = conn.execute({ sqlText: 'DELETE FROM VISITS', complete: (e) => resolve(e) });
    });
    const id = await newRequest(before);
    st!.cancel();
    const e = await err;
    expect(e?.code).toBe('000604');
    expect(e?.message).toMatch(/^SQL execution canceled/);
    await expect.poll(() => existsSync(join(stack.dir, 'approvals', `${id}.withdrawn`)), { timeout: 10_000 }).toBe(true);
    expect(stack.sf.queries().filter((q) => q.sqlText === 'DELETE FROM VISITS').length).toBe(1); // only the approved one
    await destroy(conn);
  });

  it("shows a held async query's request and link in its status, and refuses it in Snowflake's shape when rejected", async () => {
    const auth = await rawLogin('alice');
    const before = requestIds();
    const started = (await (await fetch(`${stack.url}/queries/v1/query-request?requestId=held-1`, { method: 'POST', headers: auth, body: JSON.stringify({ sqlText: 'DELETE FROM VISITS', asyncExec: true }) })).json()) as { code: string; data: { queryId: string } };
    expect(started.code).toBe('333334');
    const id = await newRequest(before);
    const status = (await (await fetch(`${stack.url}/monitoring/queries/${started.data.queryId}`, { headers: auth })).json()) as { data: { queries: Array<{ status: string; errorMessage: string; verdictApproval: { requestId: string; link: string } }> } };
    const q = status.data.queries[0]!;
    expect(q.status).toBe('RUNNING');
    expect(q.errorMessage).toContain(`approval request ${id}`);
    expect(q.verdictApproval.requestId).toBe(id);
    expect(q.errorMessage).toContain(q.verdictApproval.link);
    await decideLocally(join(stack.dir, 'approvals'), id, 'rejected', { sub: 'carol', username: 'carol', groups: ['phi-approvers'] }, 'not today');
    let result: { success: boolean; code: string; message: string; data: { sqlState?: string } } | undefined;
    for (let i = 0; i < 50; i++) {
      const t0 = Date.now();
      result = (await (await fetch(`${stack.url}/queries/${started.data.queryId}/result`, { headers: auth })).json()) as typeof result;
      expect(Date.now() - t0).toBeLessThan(3000); // bounded by result_wait_ms
      if (result!.code !== '333333' && result!.code !== '333334') break;
    }
    expect(result).toMatchObject({ success: false, code: '003001', data: { sqlState: '42501' } });
    expect(result!.message).toMatch(/rejected by carol: not today/);
    await fetch(`${stack.url}/session?delete=true`, { method: 'POST', headers: auth });
  });

  it('answers in rerun mode for a rerun_for group: an error naming the request, then the identical statement runs once', async () => {
    const ci = { username: 'ci-bot', email: 'ci-bot@example.com', groups: ['ci', 'clinicians'] };
    const conn = await connectAs('ci-bot', await stack.issuer.mint(ci));
    const first = await failure(run(conn, 'DELETE FROM VISITS'));
    expect(first.sqlState).toBe('42501');
    const id = /Request (\S+) was filed/.exec(first.message)?.[1];
    expect(id, first.message).toBeTruthy();
    await decideLocally(join(stack.dir, 'approvals'), id!, 'approved', { sub: 'carol', username: 'carol', groups: ['phi-approvers'] });
    await run(conn, 'DELETE FROM VISITS');
    expect(stack.sf.queries().filter((q) => q.sqlText === 'DELETE FROM VISITS').length).toBe(2);
    expect((await failure(run(conn, 'DELETE FROM VISITS'))).message).toMatch(/needs approval/);
    await destroy(conn);
  });

  it('cancels a long upstream query with 000604 and aborts it upstream', async () => {
    const conn = await connectAs('alice');
    const sqlText = 'SELECT SYSTEM$WAIT(30)';
    const started = Date.now();
    const err = await new Promise<snowflake.SnowflakeError | undefined>((resolve) => {
      const st = conn.execute({ sqlText, complete: (e) => resolve(e) });
      const poll = setInterval(() => {
        if (stack.sf.queries().some((q) => q.sqlText.includes('SYSTEM$WAIT(30)') && q.status === 'RUNNING')) {
          clearInterval(poll);
          st.cancel();
        }
      }, 20);
    });
    expect(err?.code).toBe('000604');
    expect(Date.now() - started).toBeLessThan(15_000);
    await expect.poll(() => stack.sf.queries().find((q) => q.sqlText.includes('SYSTEM$WAIT(30)'))?.status, { timeout: 10_000 }).toBe('ABORTED');
    await destroy(conn);
  });

  it('records session_start with front_door snowflake', async () => {
    await expect.poll(() => evidence().some((e) => e.type === 'session_start' && e.data.front_door === 'snowflake'), { timeout: 10_000 }).toBe(true);
  });
});

describe('gosnowflake through the Snowflake door', () => {
  it('runs a select with binds, an async query polled to completion, and a masked select', async () => {
    const report = await runGoClient(goBin, {
      config: await goConfig('bob'),
      steps: [
        { op: 'query', sql: 'SELECT ID, NAME FROM PATIENTS WHERE ID = ?', args: [{ int: 2 }] },
        { op: 'async', sql: 'SELECT COUNT(*) AS N FROM PATIENTS', pollStatus: true },
        { op: 'query', sql: 'SELECT ID, SSN FROM PATIENTS ORDER BY ID' },
        { op: 'query', sql: 'SELECT * FROM CLINIC.BILLING.CLAIMS' },
      ],
    });
    expect(report.fatal).toBeUndefined();
    const [sel, async, masked, denied] = report.steps;
    expect(sel!.error).toBeUndefined();
    expect(sel!.rows).toEqual([['2', '[REDACTED]']]);
    expect(async!.error).toBeUndefined();
    expect(async!.rows?.[0]?.[0]).toMatch(/^\d+$/);
    expect(masked!.rows!.length).toBeGreaterThan(4);
    expect(JSON.stringify(masked!.rows)).not.toMatch(/\d{3}-\d{2}-\d{4}/);
    expect(denied!.error?.sqlState).toBe('42501');
    expect(denied!.error?.message).toMatch(/Verdict denied this statement/);
  }, 120_000);
});

describe('gosnowflake binds, approvals and cancel through the Snowflake door', () => {
  it('takes named binds (sql.Named) as Snowflake does, next to VARIANT paths, positional and array binds', async () => {
    // A table made on Snowflake behind Verdict's back: the door learns it when a statement names it.
    await stack.sf.exec('CREATE TABLE CLINIC.PUBLIC.GO_NOTES (ID NUMBER, BODY VARCHAR)');
    const report = await runGoClient(goBin, {
      config: await goConfig('alice'),
      steps: [
        { op: 'query', sql: 'SELECT ID, NAME FROM PATIENTS WHERE ID = :id OR ID = :other OR ID = :id ORDER BY ID', args: [{ name: 'other', int: 3 }, { name: 'id', int: 1 }] },
        { op: 'query', sql: `SELECT PARSE_JSON('{"k": 7}'):k AS P, :k AS B`, args: [{ name: 'k', string: 'bound' }] },
        { op: 'exec', sql: 'INSERT INTO GO_NOTES (ID, BODY) VALUES (?, ?)', args: [{ ints: [1, 2, 3] }, { strings: ['a', 'b', 'c'] }] },
        { op: 'exec', sql: 'INSERT INTO GO_NOTES (ID, BODY) VALUES (:i, :b)', args: [{ name: 'i', ints: [4, 5] }, { name: 'b', strings: ['d', 'e'] }] },
        { op: 'query', sql: 'SELECT COUNT(*), MAX(BODY) FROM GO_NOTES WHERE ID > :floor', args: [{ name: 'floor', int: 0 }] },
        { op: 'query', sql: 'SELECT :missing', args: [{ name: 'given', int: 1 }] },
        { op: 'exec', sql: 'DELETE FROM GO_NOTES WHERE ID = ?', args: [{ ints: [1, 2] }] },
      ],
    });
    expect(report.fatal).toBeUndefined();
    const [named, path, positionalArray, namedArray, count, missing, arrayDelete] = report.steps;
    // A write run once per row of array binds has no one blast radius: refused as unmeasurable.
    expect(arrayDelete!.error?.message).toMatch(/Verdict denied this statement: .*array binds/);
    expect(named!.error).toBeUndefined();
    // The same statement and named bindings straight to the local Snowflake: the same rows.
    const direct = await stack.sf.exec('SELECT ID, NAME FROM CLINIC.PUBLIC.PATIENTS WHERE ID = :id OR ID = :other OR ID = :id ORDER BY ID', { id: { type: 'FIXED', value: '1' }, other: { type: 'FIXED', value: '3' } });
    expect(named!.rows).toEqual(direct.rows.map((r) => r.map((c) => (c === null ? null : String(c)))));
    expect(named!.rows!.length).toBe(2);
    expect(path!.error).toBeUndefined();
    expect(path!.rows).toEqual([['7', 'bound']]);
    expect(positionalArray!.error).toBeUndefined();
    expect(positionalArray!.rowsAffected).toBe(3);
    expect(namedArray!.error).toBeUndefined();
    expect(namedArray!.rowsAffected).toBe(2);
    expect(count!.rows).toEqual([['5', 'e']]);
    expect(missing!.error?.number).toBe(2049);
    expect(missing!.error?.message).toMatch(/Bind variable :missing not set/);
    // A masked select with a named bind: bob sees the name redacted.
    const bob = await runGoClient(goBin, { config: await goConfig('bob'), steps: [{ op: 'query', sql: 'SELECT ID, NAME FROM PATIENTS WHERE ID = :id', args: [{ name: 'id', int: 2 }] }] });
    expect(bob.steps[0]!.rows).toEqual([['2', '[REDACTED]']]);
  }, 120_000);

  it('keeps the sub-millisecond digits of times and timestamps (rowset text, gosnowflake)', async () => {
    const sql = "SELECT '2026-01-05 09:00:00.123456'::TIMESTAMP_NTZ AS N, '2026-01-05 09:00:00.654321+00'::TIMESTAMP_LTZ AS L, '13:45:10.000789'::TIME AS T";
    const auth = await rawLogin('alice');
    const raw = (await (await fetch(`${stack.url}/queries/v1/query-request?requestId=precision-1`, { method: 'POST', headers: auth, body: JSON.stringify({ sqlText: sql }) })).json()) as { data: { rowset: string[][] } };
    expect(raw.data.rowset).toEqual([[`${Date.UTC(2026, 0, 5, 9) / 1000}.123456000`, `${Date.UTC(2026, 0, 5, 9) / 1000}.654321000`, `${13 * 3600 + 45 * 60 + 10}.000789000`]]);
    await fetch(`${stack.url}/session?delete=true`, { method: 'POST', headers: auth });
    const report = await runGoClient(goBin, { config: await goConfig('alice'), steps: [{ op: 'query', sql }] });
    expect(report.steps[0]!.rows?.[0]?.slice(0, 2)).toEqual(['2026-01-05T09:00:00.123456Z', '2026-01-05T09:00:00.654321Z']);
    expect(report.steps[0]!.rows?.[0]?.[2]).toMatch(/13:45:10\.000789Z$/);
  }, 120_000);

  it('holds a DELETE without WHERE until approved through the local provider, then runs it once', async () => {
    await stack.sf.exec("INSERT INTO CLINIC.PUBLIC.VISITS (ID, PATIENT_ID, VISIT_DATE) VALUES (901, 1, '2026-02-01'), (902, 2, '2026-02-02')");
    const upstreamDeletes = () => stack.sf.queries().filter((q) => q.sqlText === 'DELETE FROM VISITS').length;
    const ran = upstreamDeletes();
    const before = requestIds();
    const running = runGoClient(goBin, { config: await goConfig('alice'), steps: [{ op: 'exec', sql: 'DELETE FROM VISITS' }] }, 90_000);
    const id = await newRequest(before);
    await new Promise((r) => setTimeout(r, 1500)); // gosnowflake keeps polling; nothing runs upstream meanwhile
    expect(upstreamDeletes()).toBe(ran);
    await decideLocally(join(stack.dir, 'approvals'), id, 'approved', { sub: 'carol', username: 'carol', groups: ['phi-approvers'] });
    const report = await running;
    expect(report.steps[0]!.error).toBeUndefined();
    expect(report.steps[0]!.rowsAffected).toBe(2);
    expect(upstreamDeletes()).toBe(ran + 1);
    expect(existsSync(join(stack.dir, 'approvals', `${id}.consumed`))).toBe(true);
  }, 120_000);

  it('a gosnowflake cancel (context deadline) withdraws a held request, and aborts a long upstream query', async () => {
    const before = requestIds();
    const report = await runGoClient(goBin, {
      config: await goConfig('alice'),
      steps: [
        { op: 'cancel', sql: 'DELETE FROM VISITS', afterMs: 3000 },
        { op: 'cancel', sql: 'SELECT SYSTEM$WAIT(31)', afterMs: 2000 },
        { op: 'query', sql: 'SELECT 1 AS STILL_SERVING' },
      ],
    }, 90_000);
    const [held, long, after] = report.steps;
    expect(held!.error, JSON.stringify(held)).toBeTruthy();
    expect(held!.elapsedMs).toBeLessThan(15_000);
    const id = [...requestIds()].find((x) => !before.has(x));
    expect(id).toBeTruthy();
    await expect.poll(() => existsSync(join(stack.dir, 'approvals', `${id}.withdrawn`)), { timeout: 10_000 }).toBe(true);
    expect(long!.error).toBeTruthy();
    expect(long!.elapsedMs).toBeLessThan(15_000);
    await expect.poll(() => stack.sf.queries().find((q) => q.sqlText.includes('SYSTEM$WAIT(31)'))?.status, { timeout: 10_000 }).toBe('ABORTED');
    expect(after!.error).toBeUndefined();
    expect(after!.rows).toEqual([['1']]);
  }, 120_000);
});

// Last: it stops the stack (the gateway seals and publishes its evidence on close).
describe('evidence from the Snowflake door', () => {
  it('verifies clean from a clone of the repository, like the PostgreSQL door', async () => {
    stopped = true;
    await stack.stop({ keepDir: true });
    try {
      const clone = join(stack.dir, 'clone');
      await promisify(execFile)('git', ['clone', '-q', join(stack.dir, 'evidence', 'repo'), clone]);
      const report = await verifyRepository(clone);
      expect(report.findings).toEqual([]);
      expect(report.ok).toBe(true);
      const events = readdirSync(clone, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile() && e.name.endsWith('.jsonl') && !e.parentPath.includes('.git'))
        .flatMap((e) => readFileSync(join(e.parentPath, e.name), 'utf8').trim().split('\n'))
        .map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
      expect(events.some((e) => e.type === 'session_start' && e.data.front_door === 'snowflake')).toBe(true);
      const types = new Set(events.map((e) => e.type));
      for (const t of ['statement', 'statement_result', 'approval_requested', 'approval_granted', 'approval_rejected', 'session_end', 'gateway_stop']) expect(types, t).toContain(t);
    } finally {
      rmSync(stack.dir, { recursive: true, force: true });
    }
  });
});
