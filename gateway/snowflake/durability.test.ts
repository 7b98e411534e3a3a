// The evidence rule at the Snowflake door, under fault injection (a spool whose group writes are held back or
// fail), with the real snowflake-sdk: no result reaches the driver before its decision is durable; a write does
// not reach Snowflake before its decision is durable; a read may run meanwhile (its answer waits); a spool that
// cannot write refuses the statement and nothing else is lost.
import snowflake from 'snowflake-sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SF_ACCOUNT, startSnowflakeStack, type SnowflakeStack } from '../testing/snowflake-stack.ts';

let held: Promise<void> | null = null;
let release: () => void = () => undefined;
let failing = false;

function holdWrites(): void {
  held = new Promise((resolve) => {
    release = () => {
      held = null;
      resolve();
    };
  });
}

let stack: SnowflakeStack;
let conn: snowflake.Connection;
beforeAll(async () => {
  stack = await startSnowflakeStack(
    {},
    {
      evidenceIo: {
        async writeAndSync(fh, data) {
          if (held) await held;
          if (failing) throw new Error('EIO: simulated spool failure');
          await fh.write(data);
        },
      },
    },
  );
  const token = await stack.issuer.mint('alice');
  conn = snowflake.createConnection({ account: SF_ACCOUNT, username: 'alice', authenticator: 'OAUTH', token, accessUrl: stack.url } as snowflake.ConnectionOptions);
  await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
}, 180_000);
afterAll(async () => {
  release();
  failing = false;
  if (conn) await new Promise((r) => conn.destroy(() => r(undefined)));
  await stack?.stop();
});
beforeEach(() => {
  release();
  failing = false;
});

function run(sqlText: string): Promise<unknown[]> {
  return new Promise((resolve, reject) => conn.execute({ sqlText, fetchAsString: ['Number'], complete: (err, _s, rows) => (err ? reject(err) : resolve(rows ?? [])) }));
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
const visitCount = async (reason: string) => Number(Object.values((await stack.sf.exec(`SELECT COUNT(*) AS N FROM CLINIC.PUBLIC.VISITS WHERE REASON = '${reason}'`)).rows[0] ?? {})[0]);

describe('Snowflake door: nothing before the decision is durable', () => {
  it('a read answers only once its decision is durable', async () => {
    await settle(300);
    holdWrites();
    let answered = false;
    const rows = run('SELECT ID, NAME FROM CLINIC.PUBLIC.PATIENTS').then((r) => ((answered = true), r));
    await settle(500);
    expect(answered).toBe(false);
    release();
    expect((await rows).length).toBeGreaterThan(0);
  });

  it('a write does not reach Snowflake before its decision is durable', async () => {
    await settle(300);
    holdWrites();
    const reason = `durable-${Date.now()}`;
    const done = run(`INSERT INTO CLINIC.PUBLIC.VISITS (ID, PATIENT_ID, VISIT_DATE, REASON) VALUES (${900 + (Date.now() % 90)}, 1, '2026-03-01', '${reason}')`);
    await settle(500);
    expect(await visitCount(reason)).toBe(0);
    release();
    await done;
    expect(await visitCount(reason)).toBe(1);
  });

  it('a spool that cannot write: the read is refused (no rows), the write does not happen, then all is well again', async () => {
    await settle(300);
    failing = true;
    const read = await run('SELECT ID, SSN FROM CLINIC.PUBLIC.PATIENTS').then(
      () => null,
      (e: snowflake.SnowflakeError) => e,
    );
    expect(read?.code).toBe('390201');
    const reason = `refused-${Date.now()}`;
    const write = await run(`INSERT INTO CLINIC.PUBLIC.VISITS (ID, PATIENT_ID, VISIT_DATE, REASON) VALUES (899, 1, '2026-03-01', '${reason}')`).then(
      () => null,
      (e: snowflake.SnowflakeError) => e,
    );
    expect(write?.code).toBe('390201');
    expect(await visitCount(reason)).toBe(0);
    failing = false;
    await settle(1_100); // the spool tries the disk again at most once a second
    expect((await run('SELECT COUNT(*) AS N FROM CLINIC.PUBLIC.PATIENTS')).length).toBe(1);
  });
});
