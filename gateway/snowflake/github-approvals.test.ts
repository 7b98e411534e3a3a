// The Snowflake door with approvals as GitHub pull-request reviews, against the local GitHub simulator: alice's
// DELETE without WHERE through snowflake-sdk, then through gosnowflake, waits as a running query, a PR review
// approves it, it runs once.
import snowflake from 'snowflake-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PullsSimulator } from '../testing/github-sim/pulls.ts';
import type { WebhookSender } from '../testing/github-sim/webhooks.ts';
import type { GitHubSimulator } from '../testing/github-sim/simulator.ts';
import { startApprovalsGitHub, WEBHOOK_SECRET } from '../testing/github-stack.ts';
import { buildGoClient, runGoClient } from '../testing/snowflake/go-client.ts';
import { SF_ACCOUNT, startSnowflakeStack, type SnowflakeStack } from '../testing/snowflake-stack.ts';

snowflake.configure({ logLevel: 'OFF' });

const REPO = 'acme/approvals';

let stack: SnowflakeStack;
let sim: GitHubSimulator;
let pulls: PullsSimulator;
let webhooks: WebhookSender;
let goBin: string;

beforeAll(async () => {
  const gh = await startApprovalsGitHub();
  ({ sim, pulls, webhooks } = gh);
  const built = buildGoClient();
  // poll_seconds long: the webhook has to be what wakes the gateway
  stack = await startSnowflakeStack({}, { admin: true, approvals: gh.approvalsConfig({ tokenEnv: 'VERDICT_SF_GH_TOKEN', pollSeconds: 60 }) });
  webhooks.addHook({ url: `http://127.0.0.1:${stack.gateway.adminAddress!.port}/github/webhook`, secret: WEBHOOK_SECRET });
  goBin = await built;
}, 300_000);
afterAll(async () => {
  await stack?.stop();
  await webhooks?.settled();
  await sim?.close();
});

async function connectAs(user: string): Promise<snowflake.Connection> {
  const conn = snowflake.createConnection({ account: SF_ACCOUNT, username: user, authenticator: 'OAUTH', token: await stack.issuer.mint(user), accessUrl: stack.url } as snowflake.ConnectionOptions);
  return new Promise((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve(conn))));
}

describe('GitHub pull-request approvals through the Snowflake door', () => {
  it('holds a DELETE without WHERE until a team member approves the PR, then runs it once', { timeout: 60_000 }, async () => {
    const conn = await connectAs('alice');
    const running = new Promise<{ rows?: Array<Record<string, unknown>>; error?: snowflake.SnowflakeError }>((resolve) => {
      conn.execute({ sqlText: 'DELETE FROM VISITS', complete: (error, _st, rows) => resolve(error ? { error } : { rows: rows as Array<Record<string, unknown>> }) });
    });
    for (let i = 0; i < 400 && pulls.pulls(REPO).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    const pr = pulls.pulls(REPO)[0]!;
    expect(pr.body ?? '').toContain('DELETE FROM VISITS');
    // A review by someone outside the team does not count: still waiting, nothing ran upstream.
    pulls.review(REPO, pr.number, { login: 'mallory', state: 'APPROVED' });
    await new Promise((r) => setTimeout(r, 500));
    expect(await Promise.race([running.then(() => 'done'), new Promise((r) => setTimeout(() => r('waiting'), 10))])).toBe('waiting');
    expect(stack.sf.queries().filter((q) => q.sqlText === 'DELETE FROM VISITS')).toEqual([]);
    const approvedAt = Date.now();
    pulls.review(REPO, pr.number, { login: 'carol', state: 'APPROVED' });
    const result = await running;
    expect(result.error).toBeUndefined();
    expect(Number(result.rows![0]!['number of rows deleted'])).toBe(6);
    expect(Date.now() - approvedAt).toBeLessThan(5000); // the webhook woke it, not the 60 s poll
    expect(stack.sf.queries().filter((q) => q.sqlText === 'DELETE FROM VISITS').length).toBe(1);
    await new Promise<void>((resolve) => conn.destroy(() => resolve()));
    await webhooks.settled();
    for (let i = 0; i < 100 && pulls.pull(REPO, pr.number).state !== 'closed'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(pulls.pull(REPO, pr.number).state).toBe('closed'); // used once, then closed
  });

  it('holds gosnowflake\'s DELETE without WHERE until a team member approves the PR, then runs it once', { timeout: 90_000 }, async () => {
    await stack.sf.exec("INSERT INTO CLINIC.PUBLIC.VISITS (ID, PATIENT_ID, VISIT_DATE) VALUES (801, 1, '2026-03-01'), (802, 2, '2026-03-02'), (803, 3, '2026-03-03')");
    const prsBefore = pulls.pulls(REPO).length;
    const ran = () => stack.sf.queries().filter((q) => q.sqlText === 'DELETE FROM VISITS').length;
    const ranBefore = ran();
    const u = new URL(stack.url);
    const running = runGoClient(goBin, {
      config: { account: SF_ACCOUNT, user: 'alice', authenticator: 'oauth', token: await stack.issuer.mint('alice'), host: u.hostname, port: Number(u.port), protocol: 'http' },
      steps: [{ op: 'exec', sql: 'DELETE FROM VISITS' }],
    }, 80_000);
    for (let i = 0; i < 800 && pulls.pulls(REPO).length === prsBefore; i++) await new Promise((r) => setTimeout(r, 25));
    const pr = pulls.pulls(REPO).find((p) => p.state === 'open')!;
    expect(pr).toBeDefined();
    expect(pr.body ?? '').toContain('DELETE FROM VISITS');
    // A review by someone outside the team does not count.
    pulls.review(REPO, pr.number, { login: 'mallory', state: 'APPROVED' });
    await new Promise((r) => setTimeout(r, 1000));
    expect(ran()).toBe(ranBefore);
    const approvedAt = Date.now();
    pulls.review(REPO, pr.number, { login: 'dave', state: 'APPROVED' });
    const report = await running;
    expect(report.fatal).toBeUndefined();
    expect(report.steps[0]!.error).toBeUndefined();
    expect(report.steps[0]!.rowsAffected).toBe(3);
    expect(Date.now() - approvedAt).toBeLessThan(8000);
    expect(ran()).toBe(ranBefore + 1);
    await webhooks.settled();
    for (let i = 0; i < 100 && pulls.pull(REPO, pr.number).state !== 'closed'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(pulls.pull(REPO, pr.number).state).toBe('closed');
  });
});
