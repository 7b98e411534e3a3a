// Approvals as GitHub pull-request reviews end to end: a contractor's unfiltered DELETE through the
// gateway opens a PR; the approving review's signed webhook wakes the gateway and the statement runs once.
import { spawn } from 'node:child_process';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPROVALS_REPO, startGitHubStack, type GitHubStack } from '../testing/github-stack.ts';

let gh: GitHubStack;
beforeAll(async () => {
  gh = await startGitHubStack();
}, 120_000);
afterAll(async () => gh?.stop());

type Notice = { message?: string; detail?: string; hint?: string };

async function held(user: string, sql: string) {
  const notices: Notice[] = [];
  const c = new pg.Client(await gh.stack.client(user));
  c.on('notice', (n) => notices.push(n));
  await c.connect();
  const running = c.query(sql).then(
    (r) => ({ rows: r.rowCount, at: Date.now() }),
    (e: pg.DatabaseError) => ({ error: e, at: Date.now() }),
  );
  for (let i = 0; i < 400 && notices.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
  const hint = notices[0]?.hint ?? '';
  const pr = Number(/\/pull\/(\d+)/.exec(hint)?.[1]);
  return { c, running, notices, pr };
}

describe('GitHub pull-request approvals through the gateway', () => {
  it('shows the PR link, runs once after an approving review by a team member (woken by the webhook)', { timeout: 60_000 }, async () => {
    const { c, running, notices, pr } = await held('bob', 'DELETE FROM visits');
    expect(notices[0]!.hint).toMatch(/^approve it with: http.*\/acme\/approvals\/pull\/\d+$/);
    expect(Number.isInteger(pr)).toBe(true);
    const body = gh.pulls.pull(APPROVALS_REPO, pr).body ?? '';
    expect(body).toContain('DELETE FROM visits');
    // The requester's own GitHub account cannot approve; a non-member's review does not count.
    gh.pulls.review(APPROVALS_REPO, pr, { login: 'bob-gh', state: 'APPROVED' });
    gh.pulls.review(APPROVALS_REPO, pr, { login: 'mallory', state: 'APPROVED' });
    await new Promise((r) => setTimeout(r, 500));
    const before = await Promise.race([running, new Promise((r) => setTimeout(() => r('still waiting'), 10))]);
    expect(before).toBe('still waiting');
    const approvedAt = Date.now();
    gh.pulls.review(APPROVALS_REPO, pr, { login: 'carol', state: 'APPROVED' });
    const result = (await running) as { rows?: number; at: number };
    expect(result.rows).toBe(6);
    expect(result.at - approvedAt).toBeLessThan(5000); // poll interval is 60 s: the webhook woke it
    await c.end();
    await gh.webhooks.settled();
    for (let i = 0; i < 100 && gh.pulls.pull(APPROVALS_REPO, pr).state !== 'closed'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(gh.pulls.pull(APPROVALS_REPO, pr).state).toBe('closed'); // used once, then closed with the outcome
  });

  it('a CHANGES_REQUESTED review rejects the statement', { timeout: 60_000 }, async () => {
    const { c, running, pr } = await held('bob', 'TRUNCATE visits');
    gh.pulls.review(APPROVALS_REPO, pr, { login: 'dave', state: 'CHANGES_REQUESTED', body: 'not now' });
    const result = (await running) as { error?: pg.DatabaseError };
    expect(result.error?.code).toBe('42501');
    expect(result.error?.message).toContain('rejected');
    await c.end();
  });
});

describe('psql user experience', () => {
  it('psql shows a clickable PR link while the statement waits, then the result', { timeout: 60_000 }, async () => {
    const c = await gh.stack.client('bob');
    const psql = spawn('psql', [`host=127.0.0.1 port=${c.port} dbname=clinic user=bob sslmode=disable`, '-X', '-c', 'TRUNCATE visits'], {
      env: { ...process.env, PGPASSWORD: c.password, PGGSSENCMODE: 'disable' },
    });
    let stderr = '';
    let stdout = '';
    psql.stderr.on('data', (d) => (stderr += d));
    psql.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number>((r) => psql.on('close', (code) => r(code ?? -1)));
    for (let i = 0; i < 400 && !/pull\/\d+/.test(stderr); i++) await new Promise((r) => setTimeout(r, 25));
    expect(stderr).toMatch(/NOTICE: {2}Verdict: this statement needs approval/);
    const link = /HINT: {2}approve it with: (\S+\/pull\/(\d+))/.exec(stderr);
    expect(link).not.toBeNull();
    gh.pulls.review(APPROVALS_REPO, Number(link![2]), { login: 'carol', state: 'APPROVED' });
    expect(await exited).toBe(0);
    expect(stdout.trim()).toBe('TRUNCATE TABLE');
  });
});

