// The blast radius of a Snowflake write through the door: the measuring count runs upstream in Snowflake's own
// dialect, so a narrow UPDATE runs at once and a wide one waits for approval with its numbers.
import { join } from 'node:path';
import snowflake from 'snowflake-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evidenceEvents } from '../testing/evidence.ts';
import { SF_ACCOUNT, startSnowflakeStack, type SnowflakeStack } from '../testing/snowflake-stack.ts';

snowflake.configure({ logLevel: 'OFF' });

let stack: SnowflakeStack;
beforeAll(async () => {
  stack = await startSnowflakeStack();
}, 180_000);
afterAll(async () => stack?.stop());

function run(conn: snowflake.Connection, sqlText: string, binds: snowflake.Binds = []): Promise<{ rows: Array<Record<string, unknown>> } | { error: snowflake.SnowflakeError }> {
  return new Promise((resolve) => {
    conn.execute({ sqlText, binds, complete: (err, _stmt, rows) => resolve(err ? { error: err } : { rows: (rows ?? []) as Array<Record<string, unknown>> }) });
  });
}

describe('blast radius of a Snowflake write', () => {
  it("runs alice's narrow UPDATE and holds the one that would change every row", async () => {
    const conn = snowflake.createConnection({ account: SF_ACCOUNT, username: 'alice', authenticator: 'OAUTH', token: await stack.issuer.mint('alice'), accessUrl: stack.url } as snowflake.ConnectionOptions);
    await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
    const total = Number((await stack.sf.exec('SELECT COUNT(*) FROM CLINIC.PUBLIC.VISITS')).rows[0]![0]);
    expect(total).toBe(6);

    const narrow = await run(conn, "UPDATE VISITS SET REASON = 'x' WHERE ID = 1");
    expect(narrow).toHaveProperty('rows');
    expect((await stack.sf.exec('SELECT REASON FROM CLINIC.PUBLIC.VISITS WHERE ID = 1')).rows[0]![0]).toBe('x');

    const wide = await run(conn, "UPDATE VISITS SET REASON = 'x' WHERE ID > 0");
    expect(wide).toHaveProperty('error');
    const message = 'error' in wide ? wide.error.message : '';
    // Held for approval (the stack's hold mode: nobody approves, the request expires after 20 s).
    expect(message).toMatch(/approval request \S+ expired|needs approval/);
    const decisions = evidenceEvents(join(stack.dir, 'evidence')).filter((e) => e.type === 'statement' && e.data.text === "UPDATE VISITS SET REASON = 'x' WHERE ID > 0");
    expect(decisions).toHaveLength(1);
    expect(decisions[0]!.data).toMatchObject({ action: 'approve', reasons: [{ rule: 'approvals.blast_radius', message: expect.stringMatching(/^UPDATE would change 6 of the 6 rows of CLINIC\.PUBLIC\.VISITS/) }] });
    expect((await stack.sf.exec("SELECT COUNT(*) FROM CLINIC.PUBLIC.VISITS WHERE REASON = 'x'")).rows[0]![0]).toEqual('1');
    await new Promise<void>((resolve) => conn.destroy(() => resolve()));
  });

  it('measures writes with bind variables: the count runs with the binds of the predicate', async () => {
    const conn = snowflake.createConnection({ account: SF_ACCOUNT, username: 'alice', authenticator: 'OAUTH', token: await stack.issuer.mint('alice'), accessUrl: stack.url } as snowflake.ConnectionOptions);
    await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
    const statements = () => evidenceEvents(join(stack.dir, 'evidence')).filter((e) => e.type === 'statement');
    const narrowSql = 'UPDATE VISITS SET REASON = ? WHERE ID = ?';
    const wideSql = 'UPDATE VISITS SET REASON = ? WHERE ID > ?';
    // The wide one waits for an approval nobody gives (20 s); the narrow one runs meanwhile, at once.
    const wide = run(conn, wideSql, ['bound', 0]);
    const other = snowflake.createConnection({ account: SF_ACCOUNT, username: 'alice', authenticator: 'OAUTH', token: await stack.issuer.mint('alice'), accessUrl: stack.url } as snowflake.ConnectionOptions);
    await new Promise<void>((resolve, reject) => other.connect((err) => (err ? reject(err) : resolve())));
    const narrow = await run(other, narrowSql, ['bound', 2]);
    expect(narrow).toHaveProperty('rows');
    expect((await stack.sf.exec("SELECT ID FROM CLINIC.PUBLIC.VISITS WHERE REASON = 'bound'")).rows).toEqual([['2']]);
    const narrowDecision = statements().find((e) => e.data.text === narrowSql);
    expect(narrowDecision?.data.action).toBe('allow');
    // The count ran upstream with the predicate's bind (2), not the SET's.
    expect(stack.sf.queries().some((q) => q.sqlText === 'SELECT COUNT(*) AS ROWS, (SELECT COUNT(*) FROM VISITS) AS TABLE_ROWS FROM VISITS WHERE ID = ?')).toBe(true);
    const w = await wide;
    expect(w).toHaveProperty('error');
    const wideDecision = statements().find((e) => e.data.text === wideSql);
    expect(wideDecision?.data).toMatchObject({ action: 'approve', reasons: [{ rule: 'approvals.blast_radius', message: expect.stringMatching(/^UPDATE would change 6 of the 6 rows of CLINIC\.PUBLIC\.VISITS/) }] });
    expect((await stack.sf.exec("SELECT COUNT(*) FROM CLINIC.PUBLIC.VISITS WHERE REASON = 'bound'")).rows[0]![0]).toEqual('1');
    for (const c of [conn, other]) await new Promise<void>((resolve) => c.destroy(() => resolve()));
  }, 60_000);
});
