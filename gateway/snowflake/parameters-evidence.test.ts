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

async function run(user: string, sqlText: string, binds: snowflake.Binds): Promise<unknown[]> {
  const conn = snowflake.createConnection({ account: SF_ACCOUNT, username: user, authenticator: 'OAUTH', token: await stack.issuer.mint(user), accessUrl: stack.url } as snowflake.ConnectionOptions);
  await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
  try {
    return await new Promise((resolve, reject) =>
      conn.execute({ sqlText, binds, fetchAsString: ['Number'], complete: (err, _s, rows) => (err ? reject(err) : resolve(rows ?? [])) }),
    );
  } finally {
    await new Promise((r) => conn.destroy(() => r(undefined)));
  }
}

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
