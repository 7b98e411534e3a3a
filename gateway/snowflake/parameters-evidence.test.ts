// Snowflake binds are evidence of each execution: the real snowflake-sdk binds through the door; the
// analysis cannot tell which column a `?` meets, so every bind of a statement over PHI is keyed-hashed.
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import snowflake from 'snowflake-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evidenceEvents } from '../testing/evidence.ts';
import { SF_ACCOUNT, startSnowflakeStack, type SnowflakeStack } from '../testing/snowflake-stack.ts';

let stack: SnowflakeStack;
beforeAll(async () => {
  stack = await startSnowflakeStack();
}, 180_000);
afterAll(async () => stack?.stop());

async function run(user: string, sqlText: string, binds: snowflake.Binds, claims: Record<string, unknown> = {}): Promise<unknown[]> {
  const token = await stack.issuer.mint(user, { claims });
  const conn = snowflake.createConnection({ account: SF_ACCOUNT, username: user, authenticator: 'OAUTH', token, accessUrl: stack.url } as snowflake.ConnectionOptions);
  await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  try {
    return await new Promise((resolve, reject) =>
      conn.execute({ sqlText, binds, fetchAsString: ['Number'], complete: (err, _s, rows) => (err ? reject(err) : resolve(rows ?? [])) }),
    );
  } finally {
    await new Promise((r) => conn.destroy(() => r(undefined)));
  }
}

/** A login and one query over the door's REST API, as a driver that sends session parameters (gosnowflake's Params) would. */
async function rawQuery(user: string, sessionParameters: Record<string, string>, sqlText: string): Promise<unknown[][]> {
  const login = await fetch(`${stack.url}/session/v1/login-request`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ data: { ACCOUNT_NAME: SF_ACCOUNT, LOGIN_NAME: user, AUTHENTICATOR: 'OAUTH', TOKEN: await stack.issuer.mint(user, { claims: { purpose: null } }), SESSION_PARAMETERS: sessionParameters } }),
  });
  const l = (await login.json()) as { success: boolean; data: { token: string } };
  expect(l.success).toBe(true);
  const q = await fetch(`${stack.url}/queries/v1/query-request?requestId=${crypto.randomUUID()}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/snowflake', authorization: `Snowflake Token="${l.data.token}"` },
    body: JSON.stringify({ sqlText, asyncExec: false }),
  });
  const r = (await q.json()) as { success: boolean; data: { rowset: unknown[][] } };
  expect(r.success).toBe(true);
  return r.data.rowset;
}

describe('purpose of use through the Snowflake door', () => {
  it('takes the VERDICT_PURPOSE session parameter at login, and a leading comment from snowflake-sdk', async () => {
    const sql = 'SELECT NAME FROM PATIENTS WHERE ID = 1';
    expect((await rawQuery('alice', {}, sql))[0]![0]).not.toBe('Ada Lovelace');
    expect((await rawQuery('alice', { VERDICT_PURPOSE: 'treatment' }, sql))[0]![0]).toBe('Ada Lovelace');
    expect(await run('alice', sql, [], { purpose: null })).not.toEqual([{ NAME: 'Ada Lovelace' }]);
    expect(await run('alice', `/* purpose: payment */ ${sql}`, [], { purpose: null })).toEqual([{ NAME: 'Ada Lovelace' }]);
  });
});

describe('Snowflake binds in evidence', () => {
  it('records the binds of each execution, hashed for a statement over PHI, and the result names the execution', async () => {
    expect(await run('alice', 'SELECT ID FROM PATIENTS WHERE EMAIL = ?', ['ada@example.org'])).toEqual([{ ID: '1' }]);
    await stack.gateway.close();
    const events = evidenceEvents(join(stack.dir, 'evidence'));
    expect(JSON.stringify(events)).not.toContain('ada@example.org');
    const statement = events.find((e) => e.type === 'statement' && e.data.text === 'SELECT ID FROM PATIENTS WHERE EMAIL = ?')!;
    const execution = events.find((e) => e.type === 'statement_execution' && e.data.decision_id === statement.data.decision_id)!;
    const key = createHmac('sha256', String(stack.config.masking.hash_key && 'value' in stack.config.masking.hash_key ? stack.config.masking.hash_key.value : ''))
      .update('verdict/evidence/parameters')
      .digest();
    expect(execution.data.parameters).toEqual([{ position: 1, hmac_sha256: createHmac('sha256', key).update('ada@example.org').digest('hex') }]);
    const result = events.find((e) => e.type === 'statement_result' && e.data.decision_id === statement.data.decision_id)!;
    expect(result.data).toMatchObject({ outcome: 'ok', execution_id: execution.data.execution_id });
  });
});
