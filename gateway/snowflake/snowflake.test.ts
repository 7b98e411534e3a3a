// The Snowflake door end to end: the real snowflake-sdk and gosnowflake, pointed at Verdict with an OIDC token as
// their OAuth token, through Verdict to the local Snowflake via the snowflake-sdk upstream: login, binds,
// masking in every chunk, denial, approval (rerun), async polling, evidence.
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import snowflake from 'snowflake-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideLocally } from '../approvals/local.ts';
import { evidenceEvents } from '../testing/evidence.ts';
import { buildGoClient, runGoClient, type GoClientConfig } from '../testing/snowflake/go-client.ts';
import { SF_ACCOUNT, startSnowflakeStack, type SnowflakeStack } from '../testing/snowflake-stack.ts';

snowflake.configure({ logLevel: 'OFF' });

let stack: SnowflakeStack;
let goBin: string;

beforeAll(async () => {
  [stack, goBin] = await Promise.all([startSnowflakeStack({ chunk_rows: 2 }), buildGoClient()]);
}, 180_000);
afterAll(async () => stack?.stop());

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

  it('holds a DELETE without WHERE for approval, then runs it once after carol approves', async () => {
    const conn = await connectAs('alice');
    const first = await failure(run(conn, 'DELETE FROM VISITS'));
    expect(first.sqlState).toBe('42501');
    const id = /Request (\S+) was filed/.exec(first.message)?.[1];
    expect(id, first.message).toBeTruthy();
    await decideLocally(join(stack.dir, 'approvals'), id!, 'approved', { sub: 'carol', username: 'carol', groups: ['phi-approvers'] });
    const done = await run(conn, 'DELETE FROM VISITS');
    expect(Number(done[0]!['number of rows deleted'])).toBeGreaterThan(0);
    const again = await failure(run(conn, 'DELETE FROM VISITS'));
    expect(again.message).toMatch(/needs approval/);
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
