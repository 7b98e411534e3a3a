// The pull-request, team and webhook plugins driven by octokit; REST answers are checked against GitHub's
// OpenAPI description and webhook payloads against its webhook schemas, signatures against the secret.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { Ajv } from 'ajv';
import { Octokit } from 'octokit';
import { afterEach, describe, expect, it } from 'vitest';
import { openApiChecker } from './openapi-check.ts';
import { simulatorPulls } from './pulls.ts';
import { simulatorTeams } from './teams.ts';
import { signWebhookBody, webhookSender } from './webhooks.ts';
import { startGitHubSimulator, type GitHubSimulator } from './simulator.ts';

const TOKEN = 'ghp_pullstest000000000000000000000000000';
const CAROL = 'ghp_carol0000000000000000000000000000000';
const checker = openApiChecker();
const require = createRequire(import.meta.url);
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** Validates a webhook payload against the webhook schema GitHub publishes for it. */
function webhookValidator() {
  const spec = require('@octokit/openapi/generated/api.github.com.json') as { components: unknown };
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  (require('ajv-formats') as (a: Ajv) => void)(ajv);
  // Some webhook schemas say `nullable` without a `type`, which ajv refuses; those become plain (any) schemas.
  const loosen = (x: unknown): unknown => {
    if (Array.isArray(x)) return x.map(loosen);
    if (typeof x !== 'object' || x === null) return x;
    const o = Object.fromEntries(Object.entries(x).map(([k, v]) => [k, loosen(v)]));
    if ('nullable' in o && !('type' in o)) delete o.nullable;
    return o;
  };
  const components = loosen(JSON.parse(JSON.stringify(spec.components).replaceAll('"$ref":"#/', '"$ref":"gh#/')));
  ajv.addSchema({ $id: 'gh', components } as object, undefined, false, false);
  return (schema: string, payload: unknown) => {
    const v = ajv.getSchema(`gh#/components/schemas/${schema}`)!;
    return v(payload) ? [] : (v.errors ?? []).slice(0, 5).map((e) => `${e.instancePath} ${e.message}`);
  };
}

async function setup() {
  const webhooks = webhookSender();
  const pulls = simulatorPulls({ webhooks });
  const teams = simulatorTeams();
  const sim: GitHubSimulator = await startGitHubSimulator({
    tokens: [
      { token: TOKEN, login: 'gateway' },
      { token: CAROL, login: 'carol' },
    ],
    plugins: [pulls.plugin, teams.plugin],
  });
  cleanups.push(async () => {
    await webhooks.settled();
    try {
      expect(checker.assertAll(sim.requests)).toBeGreaterThan(0);
    } finally {
      await sim.close();
    }
  });
  const repo = sim.createRepo('acme', 'approvals');
  repo.commitFiles('main', { 'README.md': '# approvals\n' }, 'init');
  repo.commitFiles('feature', { 'requests/a.json': '{}\n' }, 'request a');
  const gh = (auth = TOKEN) => new Octokit({ baseUrl: sim.baseUrl, auth, retry: { enabled: false }, throttle: { enabled: false } });
  return { sim, pulls, teams, webhooks, repo, gh };
}

describe('GitHub simulator: pull requests and reviews', () => {
  it('creates, lists (filtered, paginated), reads and closes pull requests as GitHub does', async () => {
    const { gh, repo } = await setup();
    const o = gh();
    const { data: pr, status } = await o.rest.pulls.create({ owner: 'acme', repo: 'approvals', head: 'feature', base: 'main', title: 'Approve a', body: 'body' });
    expect(status).toBe(201);
    expect(pr).toMatchObject({ number: 1, state: 'open', head: { ref: 'feature', sha: repo.head('feature') }, base: { ref: 'main' }, user: { login: 'gateway', type: 'User' }, commits: 1 });
    const dup = await o.rest.pulls.create({ owner: 'acme', repo: 'approvals', head: 'feature', base: 'main', title: 'again' }).catch((e) => e);
    expect(dup.status).toBe(422);
    expect(dup.response.data.errors[0].message).toBe('A pull request already exists for acme:feature.');
    expect((await o.rest.pulls.create({ owner: 'acme', repo: 'approvals', head: 'nope', base: 'main', title: 'x' }).catch((e) => e)).status).toBe(422);

    for (let i = 0; i < 3; i++) {
      repo.commitFiles(`b${i}`, { [`f${i}`]: `${i}` }, `c${i}`);
      await o.rest.pulls.create({ owner: 'acme', repo: 'approvals', head: `b${i}`, base: 'main', title: `t${i}` });
    }
    const all = await o.paginate(o.rest.pulls.list, { owner: 'acme', repo: 'approvals', per_page: 2 });
    expect(all.map((p) => p.number)).toEqual([4, 3, 2, 1]);
    const { data: byHead } = await o.rest.pulls.list({ owner: 'acme', repo: 'approvals', head: 'acme:b1', state: 'all' });
    expect(byHead.map((p) => p.number)).toEqual([3]);

    const { data: closed } = await o.rest.pulls.update({ owner: 'acme', repo: 'approvals', pull_number: 1, state: 'closed' });
    expect(closed).toMatchObject({ state: 'closed', merged: false, merged_at: null });
    expect(closed.closed_at).toMatch(/Z$/);
    expect((await o.rest.pulls.list({ owner: 'acme', repo: 'approvals' })).data.map((p) => p.number)).toEqual([4, 3, 2]);
  });

  it('reviews: submit as another user, no self-approval, dismiss; helpers for bots and other commits', async () => {
    const { gh, pulls, repo, teams } = await setup();
    await gh().rest.pulls.create({ owner: 'acme', repo: 'approvals', head: 'feature', base: 'main', title: 'Approve a' });
    const self = await gh().rest.pulls.createReview({ owner: 'acme', repo: 'approvals', pull_number: 1, event: 'APPROVE' }).catch((e) => e);
    expect(self.status).toBe(422);
    const { data: review } = await gh(CAROL).rest.pulls.createReview({ owner: 'acme', repo: 'approvals', pull_number: 1, event: 'APPROVE' });
    expect(review).toMatchObject({ state: 'APPROVED', commit_id: repo.head('feature'), user: { login: 'carol', type: 'User' } });
    teams.user('ci[bot]', 'Bot');
    pulls.review('acme/approvals', 1, { login: 'ci[bot]', state: 'APPROVED' });
    pulls.review('acme/approvals', 1, { login: 'dave', state: 'CHANGES_REQUESTED', commitId: repo.head('main')! });
    const { data: dismissed } = await gh().rest.pulls.dismissReview({ owner: 'acme', repo: 'approvals', pull_number: 1, review_id: review.id, message: 'stale' });
    expect(dismissed.state).toBe('DISMISSED');
    const { data: reviews } = await gh().rest.pulls.listReviews({ owner: 'acme', repo: 'approvals', pull_number: 1 });
    expect(reviews.map((r) => [r.user?.login, r.user?.type, r.state, r.commit_id === repo.head('feature')])).toEqual([
      ['carol', 'User', 'DISMISSED', true],
      ['ci[bot]', 'Bot', 'APPROVED', true],
      ['dave', 'User', 'CHANGES_REQUESTED', false],
    ]);
    const before = repo.head('feature');
    const after = pulls.push('acme/approvals', 1);
    expect((await gh().rest.pulls.get({ owner: 'acme', repo: 'approvals', pull_number: 1 })).data.head.sha).toBe(after);
    pulls.forcePush('acme/approvals', 1, before!);
    expect((await gh().rest.pulls.get({ owner: 'acme', repo: 'approvals', pull_number: 1 })).data.head.sha).toBe(before);
  });

  it('issue comments and labels on a pull request; GETs answer 304 to a matching ETag', async () => {
    const { gh, sim } = await setup();
    const o = gh();
    await o.rest.pulls.create({ owner: 'acme', repo: 'approvals', head: 'feature', base: 'main', title: 'Approve a' });
    const { data: labels } = await o.rest.issues.addLabels({ owner: 'acme', repo: 'approvals', issue_number: 1, labels: ['verdict:approval', 'risk:high'] });
    expect(labels.map((l) => l.name)).toEqual(['verdict:approval', 'risk:high']);
    expect((await o.rest.issues.removeLabel({ owner: 'acme', repo: 'approvals', issue_number: 1, name: 'risk:high' })).data.map((l) => l.name)).toEqual(['verdict:approval']);
    expect((await o.rest.issues.listLabelsOnIssue({ owner: 'acme', repo: 'approvals', issue_number: 1 })).data).toHaveLength(1);
    const { data: c } = await o.rest.issues.createComment({ owner: 'acme', repo: 'approvals', issue_number: 1, body: 'executed' });
    expect(c).toMatchObject({ body: 'executed', user: { login: 'gateway' } });
    expect((await o.rest.issues.listComments({ owner: 'acme', repo: 'approvals', issue_number: 1 })).data.map((x) => x.body)).toEqual(['executed']);
    expect((await o.rest.issues.createComment({ owner: 'acme', repo: 'approvals', issue_number: 9, body: 'x' }).catch((e) => e)).status).toBe(404);

    const first = await o.rest.pulls.get({ owner: 'acme', repo: 'approvals', pull_number: 1 });
    const again = await o.rest.pulls.get({ owner: 'acme', repo: 'approvals', pull_number: 1, headers: { 'if-none-match': first.headers.etag } }).catch((e) => e);
    expect(again.status).toBe(304);
    expect(sim.requests.at(-1)!.status).toBe(304);
  });
});

describe('GitHub simulator: teams and users', () => {
  it('answers team membership as active, pending or 404, and users with their type', async () => {
    const { gh, teams } = await setup();
    teams.addMember('acme', 'dba', 'carol');
    teams.addMember('acme', 'dba', 'erin', { state: 'pending', role: 'maintainer' });
    const o = gh();
    expect((await o.rest.teams.getMembershipForUserInOrg({ org: 'acme', team_slug: 'dba', username: 'carol' })).data).toMatchObject({ state: 'active', role: 'member' });
    expect((await o.rest.teams.getMembershipForUserInOrg({ org: 'acme', team_slug: 'dba', username: 'erin' })).data).toMatchObject({ state: 'pending', role: 'maintainer' });
    expect((await o.rest.teams.getMembershipForUserInOrg({ org: 'acme', team_slug: 'dba', username: 'mallory' }).catch((e) => e)).status).toBe(404);
    teams.removeMember('acme', 'dba', 'carol');
    expect((await o.rest.teams.getMembershipForUserInOrg({ org: 'acme', team_slug: 'dba', username: 'carol' }).catch((e) => e)).status).toBe(404);
    teams.user('ci[bot]', 'Bot');
    expect((await o.rest.users.getByUsername({ username: 'ci[bot]' })).data).toMatchObject({ login: 'ci[bot]', type: 'Bot' });
    expect((await o.rest.users.getAuthenticated()).data).toMatchObject({ login: 'gateway', type: 'User' });
  });
});

describe('GitHub simulator: webhook deliveries', () => {
  it('signs each delivery, shapes payloads per the webhook schemas, and redelivers with the same id', async () => {
    const { gh, pulls, webhooks } = await setup();
    const received: Array<{ headers: Record<string, string | string[] | undefined>; body: string }> = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(202).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    webhooks.addHook({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, secret: 'whsec', events: ['pull_request', 'pull_request_review'] });

    await gh().rest.pulls.create({ owner: 'acme', repo: 'approvals', head: 'feature', base: 'main', title: 'Approve a' });
    const r = pulls.review('acme/approvals', 1, { login: 'carol', state: 'APPROVED' });
    pulls.dismissReview('acme/approvals', 1, r.id, { message: 'stale' });
    pulls.push('acme/approvals', 1);
    pulls.close('acme/approvals', 1, { by: 'dave' });
    await webhooks.settled();

    const validate = webhookValidator();
    expect(validate('webhook-pull-request-closed', { action: 'closed' })).not.toEqual([]); // the check has teeth
    const schemaOf: Record<string, string> = {
      'pull_request/opened': 'webhook-pull-request-opened',
      'pull_request_review/submitted': 'webhook-pull-request-review-submitted',
      'pull_request_review/dismissed': 'webhook-pull-request-review-dismissed',
      'pull_request/synchronize': 'webhook-pull-request-synchronize',
      'pull_request/closed': 'webhook-pull-request-closed',
    };
    expect(received.map((x) => `${x.headers['x-github-event']}/${JSON.parse(x.body).action}`)).toEqual(Object.keys(schemaOf));
    for (const x of received) {
      expect(x.headers['x-hub-signature-256']).toBe(signWebhookBody('whsec', x.body));
      expect(x.headers['x-github-delivery']).toMatch(/^[0-9a-f-]{36}$/);
      const payload = JSON.parse(x.body);
      expect(validate(schemaOf[`${x.headers['x-github-event']}/${payload.action}`]!, payload)).toEqual([]);
    }
    const submitted = JSON.parse(received[1]!.body);
    expect(submitted).toMatchObject({ review: { state: 'approved', user: { login: 'carol' } }, pull_request: { number: 1, head: { ref: 'feature' } }, sender: { login: 'carol' } });
    expect(new Set(received.map((x) => x.headers['x-github-delivery'])).size).toBe(received.length);

    const again = await webhooks.redeliver(webhooks.deliveries[1]!.id);
    expect(again).toMatchObject({ id: webhooks.deliveries[1]!.id, status: 202, redelivery: true });
    expect(received.at(-1)!.body).toBe(received[1]!.body);
  });
});
