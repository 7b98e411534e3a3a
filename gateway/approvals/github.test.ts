// The GitHub approval provider against the simulator (real octokit, no mocks): what counts as an approval,
// what voids or rejects one, once-only use across instances, webhooks as wake-ups, ETag polling, break-glass.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Octokit } from 'octokit';
import { afterEach, describe, expect, it } from 'vitest';
import { openApiChecker } from '../testing/github-sim/openapi-check.ts';
import { simulatorPulls, type PullsSimulator } from '../testing/github-sim/pulls.ts';
import { simulatorTeams, type TeamsSimulator } from '../testing/github-sim/teams.ts';
import { webhookSender, type WebhookSender } from '../testing/github-sim/webhooks.ts';
import { startGitHubSimulator, type GitHubSimulator } from '../testing/github-sim/simulator.ts';
import { defaultRiskLabels, githubApprovals, openBreakGlassPullRequest, type GitHubApprovalProvider, type GitHubApprovalsOptions } from './github.ts';
import { subjectHash, type ApprovalSubject } from './provider.ts';
import { createWebhookHandler } from './webhook.ts';

const TOKEN = 'ghp_verdictgateway0000000000000000000000';
const REPO = 'acme/approvals';
const SECRET = 'whsec_test';
const checker = openApiChecker();

const bob = { sub: 'user:bob', username: 'bob', email: 'bob@clinic.example', groups: ['contractors'] };
const subject = (statement = 'DELETE FROM visits', o: Partial<ApprovalSubject> = {}): ApprovalSubject => ({
  statement,
  parameters: [],
  fingerprint: statement.toLowerCase(),
  requester: bob,
  target: { upstream: 'clinic', database: 'clinic' },
  reasons: [{ rule: 'approvals.unfiltered_write', message: 'DELETE without WHERE' }],
  policy_revision: 'rev-1',
  requirement: { approvers: ['team:dba'], min_approvals: 1, ttl_seconds: 600, mode: 'hold' },
  analysis: { kind: 'delete', tables: ['public.visits'], unfiltered_write: true },
  ...o,
});

interface Env {
  sim: GitHubSimulator;
  pulls: PullsSimulator;
  teams: TeamsSimulator;
  webhooks: WebhookSender;
  provider: GitHubApprovalProvider;
  make(o?: Partial<GitHubApprovalsOptions>): GitHubApprovalProvider;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(o: Partial<GitHubApprovalsOptions> = {}): Promise<Env> {
  const webhooks = webhookSender();
  const pulls = simulatorPulls({ webhooks });
  const teams = simulatorTeams();
  const sim = await startGitHubSimulator({ tokens: [{ token: TOKEN, login: 'verdict-gateway' }], plugins: [pulls.plugin, teams.plugin] });
  const providers: GitHubApprovalProvider[] = [];
  cleanups.push(async () => {
    for (const p of providers) await p.settled();
    await webhooks.settled();
    try {
      // assertAll throws listing every exchange that does not match GitHub's description.
      expect(() => checker.assertAll(sim.requests)).not.toThrow();
    } finally {
      await sim.close();
    }
  });
  sim.createRepo('acme', 'approvals').commitFiles('main', { 'README.md': '# approvals\n' }, 'init');
  teams.user('renovate[bot]', 'Bot');
  for (const m of ['carol', 'dave', 'bob-gh', 'bob', 'renovate[bot]']) teams.addMember('acme', 'dba', m);
  teams.addMember('acme', 'dba', 'erin', { state: 'pending' });
  const make = (extra: Partial<GitHubApprovalsOptions> = {}) => {
    const p = githubApprovals({
      owner: 'acme',
      repo: 'approvals',
      team: { org: 'acme', slug: 'dba' },
      auth: { token: TOKEN },
      baseUrl: sim.baseUrl,
      client: { writesPerMinute: Number.POSITIVE_INFINITY, retries: 0 },
      octokit: fastClient(sim),
      author: { name: 'Verdict gateway', email: 'verdict@acme.example' },
      identities: { logins: { carol: 'user:carol', dave: 'user:dave', 'bob-gh': 'user:bob', erin: 'user:erin', mallory: 'user:mallory', 'renovate[bot]': 'bot:renovate' } },
      pollMs: 25,
      log: { info() {}, warn() {} },
      ...o,
      ...extra,
    });
    providers.push(p);
    return p;
  };
  return { sim, pulls, teams, webhooks, provider: make(), make };
}

// octokit's throttling spaces notification-triggering writes (PRs, comments) 3 s apart per process;
// the simulator needs no such care, so tests pass a client without it (one test uses the real factory).
const fastClient = (sim: GitHubSimulator) => new Octokit({ baseUrl: sim.baseUrl, auth: TOKEN, throttle: { enabled: false }, retry: { enabled: false } });

const prNumber = (link: string) => Number(link.split('/').pop());

describe('github approvals: filing a request', () => {
  it('commits requests/<id>.json once on a new branch and opens a labelled PR rendering the statement', async () => {
    const { sim, pulls, provider } = await setup({ octokit: undefined }); // the real client factory, token auth
    const { request, link } = await provider.create(subject('DELETE FROM visits'));
    expect(request.id).toMatch(/^req-[0-9a-z]{12}$/);
    expect(request.hash).toBe(subjectHash(subject()));
    expect(link).toBe(`${new URL(sim.baseUrl).origin}/${REPO}/pull/1`);
    const repo = sim.repo('acme', 'approvals');
    const branch = `verdict/${request.id}`;
    const history = repo.history(branch);
    expect(history).toHaveLength(2); // the gateway's one commit on top of main
    expect(history[1]!.sha).toBe(repo.head('main'));
    const commit = repo.commit(history[0]!.sha)!;
    expect(commit.author).toMatchObject({ name: 'Verdict gateway', email: 'verdict@acme.example' });
    expect(JSON.parse(repo.readFile(branch, `requests/${request.id}.json`)!.toString())).toEqual(request);
    const pr = pulls.pull(REPO, 1);
    expect(pr.labels).toEqual(['verdict:approval', 'risk:high']);
    expect(pr.body).toContain('```sql\nDELETE FROM visits\n```');
    expect(pr.body).toContain(`sha256:${request.hash}`);
    expect(pr.body).toContain('user:bob');
    expect(pr.body).toContain('`approvals.unfiltered_write`: DELETE without WHERE');
    expect(pr.body).toContain('- `public.visits`'); // the tables the gateway's analysis found
    expect(await provider.info(request.id)).toEqual({ id: request.id, number: 1, link, commit: history[0]!.sha, hash: request.hash });
    expect(await provider.state(request.id)).toEqual({ status: 'pending' });
  });

  it('cannot be broken out of by backticks in the statement; labels follow the risk', async () => {
    const { pulls, provider } = await setup();
    await provider.create(subject("SELECT '```' || note FROM visits WHERE id = 1"));
    expect(pulls.pull(REPO, 1).body).toContain("````sql\nSELECT '```' || note FROM visits WHERE id = 1\n````");
    // Risk from the gateway's analysis of the statement, never from its text.
    const analysis = (kind: string, unfiltered_write = false) => ({ kind, tables: ['public.visits'], unfiltered_write });
    expect(defaultRiskLabels({ analysis: analysis('ddl') })).toEqual(['verdict:approval', 'risk:high']);
    expect(defaultRiskLabels({ analysis: analysis('delete', true) })).toEqual(['verdict:approval', 'risk:high']);
    expect(defaultRiskLabels({ analysis: analysis('update') })).toEqual(['verdict:approval', 'risk:medium']);
    expect(defaultRiskLabels({ analysis: analysis('select') })).toEqual(['verdict:approval', 'risk:low']);
    expect(defaultRiskLabels({})).toEqual(['verdict:approval', 'risk:high']); // not known: treated as high
    // What runs inside counts: a DO block that drops a table is DDL, one that inserts is a write.
    expect(defaultRiskLabels({ analysis: { ...analysis('utility'), nested_kinds: ['ddl'] } })).toEqual(['verdict:approval', 'risk:high']);
    expect(defaultRiskLabels({ analysis: { ...analysis('utility'), nested_kinds: ['insert', 'select'] } })).toEqual(['verdict:approval', 'risk:medium']);
    // What the analysis cannot classify, or a utility that runs what it cannot see (CALL), is high; BEGIN is low.
    expect(defaultRiskLabels({ analysis: analysis('unknown') })).toEqual(['verdict:approval', 'risk:high']);
    expect(defaultRiskLabels({ analysis: analysis('utility') })).toEqual(['verdict:approval', 'risk:high']);
    expect(defaultRiskLabels({ analysis: { ...analysis('select'), nested_kinds: ['unknown'] } })).toEqual(['verdict:approval', 'risk:high']);
    expect(defaultRiskLabels({ analysis: analysis('tcl') })).toEqual(['verdict:approval', 'risk:low']);
    // A rule's name is not evidence of what the statement does (it used to be matched against /unfiltered|ddl|…/).
    const namedLikeDdl = { reasons: [{ rule: 'approvals.ddl_window', message: '' }], analysis: analysis('select') };
    expect(defaultRiskLabels(namedLikeDdl)).toEqual(['verdict:approval', 'risk:low']);
  });
});

describe('github approvals: what counts', () => {
  it('approve → approved, used exactly once (concurrent consumers), PR commented with the outcome and closed', async () => {
    const { sim, pulls, provider } = await setup();
    const { request, link } = await provider.create(subject());
    const n = prNumber(link);
    const review = pulls.review(REPO, n, { login: 'carol', state: 'APPROVED' });
    expect(await provider.state(request.id)).toEqual({ status: 'approved', approved_by: ['carol'], review_ids: [String(review.id)] });
    const results = await Promise.all([
      provider.consume(request.id, { executedAt: new Date('2026-01-02T03:04:05Z'), rowsAffected: 3, evidence: 'dec-123' }),
      provider.consume(request.id),
      provider.consume(request.id),
    ]);
    expect(results).toEqual([true, false, false]);
    expect(await provider.consume(request.id)).toBe(false);
    expect(await provider.state(request.id)).toEqual({ status: 'consumed' });
    await provider.settled();
    const pr = pulls.pull(REPO, n);
    expect(pr.state).toBe('closed');
    expect(pr.merged).toBe(false);
    expect(pr.labels).toContain('verdict:used');
    expect(pr.comments.at(-1)!.body).toMatch(/Used once by the gateway at .*approved by @carol/);
    expect(pr.comments.at(-1)!.body).toContain('Executed at: 2026-01-02T03:04:05.000Z');
    expect(pr.comments.at(-1)!.body).toContain('Rows affected: 3');
    expect(pr.comments.at(-1)!.body).toContain('Evidence: `dec-123`');
    expect(sim.repo('acme', 'approvals').refs.get(`refs/tags/verdict-used/${request.id}`)).toBe((await provider.info(request.id)).commit);
    // A fresh instance (no memory) sees it consumed too, and cannot use it again.
    const other = (await setupOther(sim, provider)).make();
    expect(await other.state(request.id)).toEqual({ status: 'consumed' });
    expect(await other.consume(request.id)).toBe(false);
  });

  it('self-approval does not count: a login mapped to the requester, or the requester\'s own username', async () => {
    const { pulls, provider, make } = await setup();
    const { request, link } = await provider.create(subject());
    pulls.review(REPO, prNumber(link), { login: 'bob-gh', state: 'APPROVED' });
    pulls.review(REPO, prNumber(link), { login: 'bob', state: 'APPROVED' });
    expect(await provider.state(request.id)).toEqual({ status: 'pending' });
    // The claim route: the gateway knows the requester's GitHub login.
    const viaClaim = make({ identities: { requesterLogin: (r) => (r.sub === 'user:bob' ? 'dave' : null) } });
    const second = await viaClaim.create(subject());
    pulls.review(REPO, prNumber(second.link), { login: 'dave', state: 'APPROVED' });
    expect(await viaClaim.state(second.request.id)).toEqual({ status: 'pending' });
  });

  it('non-members, pending members, unmapped reviewers and bots do not count', async () => {
    const { pulls, teams, provider, make } = await setup();
    const { request, link } = await provider.create(subject());
    const n = prNumber(link);
    pulls.review(REPO, n, { login: 'mallory', state: 'APPROVED' }); // not in the team
    pulls.review(REPO, n, { login: 'erin', state: 'APPROVED' }); // invited, not active
    pulls.review(REPO, n, { login: 'renovate[bot]', state: 'APPROVED' }); // a Bot, even in the team
    teams.addMember('acme', 'dba', 'frank');
    pulls.review(REPO, n, { login: 'frank', state: 'APPROVED' }); // member, but nothing maps frank to a subject
    expect(await provider.state(request.id)).toEqual({ status: 'pending' });
    const lax = make({ identities: { logins: {}, allowUnmapped: true } });
    expect(await lax.state(request.id)).toMatchObject({ status: 'approved', approved_by: ['frank'] });
  });

  it('a review on another commit does not count', async () => {
    const { sim, pulls, provider } = await setup();
    const { request, link } = await provider.create(subject());
    const n = prNumber(link);
    const { commit } = await provider.info(request.id);
    pulls.review(REPO, n, { login: 'carol', state: 'APPROVED', commitId: sim.repo('acme', 'approvals').head('main')! });
    expect(await provider.state(request.id)).toEqual({ status: 'pending' });
    // Someone pushes, dave approves that commit, the branch is force-pushed back: dave approved other content.
    pulls.push(REPO, n, { 'requests/x.json': '{}' });
    pulls.review(REPO, n, { login: 'dave', state: 'APPROVED' });
    pulls.forcePush(REPO, n, commit);
    expect(await provider.state(request.id)).toEqual({ status: 'pending' });
  });

  it('any push to the branch voids the request, approvals and all', async () => {
    const { pulls, provider } = await setup();
    const { request, link } = await provider.create(subject());
    const n = prNumber(link);
    pulls.review(REPO, n, { login: 'carol', state: 'APPROVED' });
    pulls.push(REPO, n);
    expect(await provider.state(request.id)).toMatchObject({ status: 'rejected', by: 'github', reason: expect.stringMatching(/^void: the request branch was pushed to/) });
    expect(await provider.consume(request.id)).toBe(false);
    await provider.settled();
    expect(pulls.pull(REPO, n)).toMatchObject({ state: 'closed', labels: expect.arrayContaining(['verdict:rejected']) });
  });

  it('an approval withdrawn between its read and its use: the request is spent, nothing runs, the PR says why', async () => {
    const { sim, pulls, provider } = await setup();
    const { request, link } = await provider.create(subject());
    const n = prNumber(link);
    const r = pulls.review(REPO, n, { login: 'carol', state: 'APPROVED' });
    expect(await provider.state(request.id)).toMatchObject({ status: 'approved' });
    pulls.dismissReview(REPO, n, r.id, { message: 'wrong PR' });
    // The re-read at use (alongside the once-only tag) decides: not approved any more.
    expect(await provider.consume(request.id)).toBe(false);
    expect(sim.repo('acme', 'approvals').refs.get(`refs/tags/verdict-used/${request.id}`)).toBeDefined();
    expect(await provider.state(request.id)).toEqual({ status: 'consumed' });
    expect(await provider.consume(request.id)).toBe(false);
    await provider.settled();
    const pr = pulls.pull(REPO, n);
    expect(pr).toMatchObject({ state: 'closed', labels: expect.arrayContaining(['verdict:used']) });
    expect(pr.comments.at(-1)!.body).toMatch(/^Not run: at its use the request was no longer approved/);
  });

  it('a request never read as approved is verified before any tag: using a void one leaves no tag', async () => {
    const { sim, pulls, provider } = await setup();
    const { request, link } = await provider.create(subject());
    pulls.review(REPO, prNumber(link), { login: 'mallory', state: 'APPROVED' });
    expect(await provider.consume(request.id)).toBe(false);
    expect(sim.repo('acme', 'approvals').refs.get(`refs/tags/verdict-used/${request.id}`)).toBeUndefined();
    expect(await provider.state(request.id)).toEqual({ status: 'pending' });
  });

  it('CHANGES_REQUESTED by an approver rejects; a later one by an approving reviewer withdraws their approval', async () => {
    const { pulls, provider } = await setup();
    const first = await provider.create(subject());
    const r = pulls.review(REPO, prNumber(first.link), { login: 'carol', state: 'CHANGES_REQUESTED', body: 'not on a Friday' });
    expect(await provider.state(first.request.id)).toEqual({ status: 'rejected', by: 'carol', reason: `changes requested in review ${r.id}` });
    await provider.settled();
    expect(pulls.pull(REPO, prNumber(first.link)).state).toBe('closed'); // rejection is final, also for others

    const second = await provider.create(subject(), new Date());
    const n = prNumber(second.link);
    pulls.review(REPO, n, { login: 'carol', state: 'APPROVED' });
    pulls.review(REPO, n, { login: 'carol', state: 'COMMENTED', body: 'fine by me' }); // a comment withdraws nothing
    expect(await provider.state(second.request.id)).toMatchObject({ status: 'approved', approved_by: ['carol'] });
    pulls.review(REPO, n, { login: 'carol', state: 'CHANGES_REQUESTED', body: 'on second thought, no' });
    expect(await provider.state(second.request.id)).toMatchObject({ status: 'rejected', by: 'carol' });
    expect(await provider.consume(second.request.id)).toBe(false);
  });

  it('CHANGES_REQUESTED from someone who could not approve rejects nothing', async () => {
    const { pulls, provider } = await setup();
    const { request, link } = await provider.create(subject());
    pulls.review(REPO, prNumber(link), { login: 'mallory', state: 'CHANGES_REQUESTED', body: 'no' });
    expect(await provider.state(request.id)).toEqual({ status: 'pending' });
  });

  it('a dismissed approval is withdrawn; approving again restores it', async () => {
    const { pulls, provider } = await setup();
    const { request, link } = await provider.create(subject());
    const n = prNumber(link);
    const r = pulls.review(REPO, n, { login: 'carol', state: 'APPROVED' });
    expect(await provider.state(request.id)).toMatchObject({ status: 'approved' });
    pulls.dismissReview(REPO, n, r.id, { message: 'approved the wrong PR' });
    expect(await provider.state(request.id)).toEqual({ status: 'pending' });
    const again = pulls.review(REPO, n, { login: 'carol', state: 'APPROVED' });
    expect(await provider.state(request.id)).toEqual({ status: 'approved', approved_by: ['carol'], review_ids: [String(again.id)] });
  });

  it('min_approvals = 2 needs two distinct approvers', async () => {
    const { pulls, provider } = await setup();
    const two = subject('TRUNCATE visits', { requirement: { approvers: ['team:dba'], min_approvals: 2, ttl_seconds: 600, mode: 'hold' } });
    const { request, link } = await provider.create(two);
    const n = prNumber(link);
    pulls.review(REPO, n, { login: 'carol', state: 'APPROVED' });
    pulls.review(REPO, n, { login: 'carol', state: 'APPROVED' });
    expect(await provider.state(request.id)).toEqual({ status: 'pending' });
    pulls.review(REPO, n, { login: 'dave', state: 'APPROVED' });
    expect(await provider.state(request.id)).toMatchObject({ status: 'approved', approved_by: ['carol', 'dave'] });
  });

  it('uses the team the policy names when it is mapped', async () => {
    const { pulls, teams, provider: _unused, make } = await setup();
    teams.addMember('acme', 'phi-approvers', 'dave');
    const p = make({ teams: { 'phi-approvers': 'phi-approvers' } });
    const { request, link } = await p.create(subject('DELETE FROM visits', { requirement: { approvers: ['team:phi-approvers'], min_approvals: 1, ttl_seconds: 600, mode: 'hold' } }));
    pulls.review(REPO, prNumber(link), { login: 'carol', state: 'APPROVED' }); // dba, not phi-approvers
    expect(await p.state(request.id)).toEqual({ status: 'pending' });
    pulls.review(REPO, prNumber(link), { login: 'dave', state: 'APPROVED' });
    expect(await p.state(request.id)).toMatchObject({ status: 'approved', approved_by: ['dave'] });
  });

  it('expires on time, even when approved late; the PR is closed as expired', async () => {
    const { pulls, provider } = await setup();
    const { request, link } = await provider.create(subject());
    pulls.review(REPO, prNumber(link), { login: 'carol', state: 'APPROVED' });
    expect(await provider.state(request.id, new Date(Date.parse(request.expires_at) + 1))).toEqual({ status: 'expired' });
    await provider.settled();
    expect(pulls.pull(REPO, prNumber(link))).toMatchObject({ state: 'closed', labels: expect.arrayContaining(['verdict:expired']) });
    expect(await provider.state(request.id)).toEqual({ status: 'expired' });
    const old = await provider.create(subject(), new Date(Date.now() - 601_000));
    expect(await provider.wait(old.request.id, { signal: new AbortController().signal, timeoutMs: 5000 })).toEqual({ status: 'expired' });
  });

  it('closed without merging, or merged, is rejected', async () => {
    const { pulls, provider } = await setup();
    const a = await provider.create(subject());
    pulls.review(REPO, prNumber(a.link), { login: 'carol', state: 'APPROVED' });
    pulls.close(REPO, prNumber(a.link), { by: 'dave' });
    expect(await provider.state(a.request.id)).toMatchObject({ status: 'rejected', reason: expect.stringContaining('closed without merging') });
    const b = await provider.create(subject());
    pulls.review(REPO, prNumber(b.link), { login: 'carol', state: 'APPROVED' });
    pulls.close(REPO, prNumber(b.link), { merged: true });
    expect(await provider.state(b.request.id)).toMatchObject({ status: 'rejected', reason: expect.stringContaining('merged') });
  });

  it('a cancelled wait withdraws the request and closes the PR', async () => {
    const { pulls, provider } = await setup();
    const { request, link } = await provider.create(subject());
    const ac = new AbortController();
    const waiting = provider.wait(request.id, { signal: ac.signal, timeoutMs: 5000 });
    setTimeout(() => ac.abort(), 30);
    expect(await waiting).toEqual({ status: 'withdrawn' });
    expect(await provider.state(request.id)).toEqual({ status: 'withdrawn' });
    await provider.settled();
    expect(pulls.pull(REPO, prNumber(link))).toMatchObject({ state: 'closed', labels: expect.arrayContaining(['verdict:withdrawn']) });
  });
});

/** A second gateway instance on the same simulator: no shared memory with the first. */
async function setupOther(sim: GitHubSimulator, _first: GitHubApprovalProvider) {
  return {
    make: (o: Partial<GitHubApprovalsOptions> = {}) => {
      const p = githubApprovals({
        owner: 'acme', repo: 'approvals', team: { org: 'acme', slug: 'dba' }, auth: { token: TOKEN }, baseUrl: sim.baseUrl, octokit: fastClient(sim),
        client: { writesPerMinute: Number.POSITIVE_INFINITY, retries: 0 },
        author: { name: 'Verdict gateway', email: 'verdict@acme.example' },
        identities: { logins: { carol: 'user:carol', dave: 'user:dave' } }, pollMs: 25, log: { info() {}, warn() {} }, ...o,
      });
      cleanups.unshift(() => p.settled());
      return p;
    },
  };
}

describe('github approvals: rerun mode and several instances', () => {
  it('findApproved finds only the exact subject and requester, approved and unused', async () => {
    const { pulls, provider, sim } = await setup();
    const { request, link } = await provider.create(subject());
    expect(await provider.findApproved(request.hash, 'user:bob')).toBeNull(); // still pending
    pulls.review(REPO, prNumber(link), { login: 'carol', state: 'APPROVED' });
    expect(await provider.findApproved(request.hash, 'user:bob')).toMatchObject({ id: request.id, statement: 'DELETE FROM visits' });
    expect(await provider.findApproved(subjectHash(subject('DELETE FROM patients')), 'user:bob')).toBeNull();
    expect(await provider.findApproved(subjectHash(subject('DELETE FROM visits', { parameters: ['1'] })), 'user:bob')).toBeNull();
    expect(await provider.findApproved(request.hash, 'user:mallory')).toBeNull();
    // Another instance finds and verifies it from GitHub alone (branch, marker, commit, file hash).
    const other = (await setupOther(sim, provider)).make();
    expect(await other.findApproved(request.hash, 'user:bob')).toEqual(request);
    // Two instances race to use it: exactly one wins (the tag on the request commit).
    expect((await Promise.all([provider.consume(request.id), other.consume(request.id)])).filter(Boolean)).toHaveLength(1);
    expect(await provider.findApproved(request.hash, 'user:bob')).toBeNull();
    await provider.settled();
    expect(await other.findApproved(request.hash, 'user:bob')).toBeNull();
  });

  it('another instance refuses a request whose PR marker was edited to point elsewhere', async () => {
    const { pulls, provider, sim } = await setup();
    const { request, link } = await provider.create(subject());
    const pr = pulls.pull(REPO, prNumber(link));
    pr.body = pr.body!.replace(/<!-- verdict-request [^ ]+ -->/, '<!-- verdict-request e30 -->');
    const other = (await setupOther(sim, provider)).make();
    await expect(other.state(request.id)).rejects.toMatchObject({ code: 'TAMPERED' });
    await expect(other.state('req-doesnotexist')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('github approvals: webhooks and polling', () => {
  async function listen(handler: (req: any, res: any) => void): Promise<{ url: string; server: Server }> {
    const server = createServer(handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/github/webhook`, server };
  }

  it('a signed review webhook wakes wait() long before the next poll', async () => {
    const env = await setup({ pollMs: 60_000 });
    const { provider, pulls, webhooks } = env;
    const handler = createWebhookHandler({ secret: SECRET, onEvent: (e) => provider.wake(e) });
    webhooks.addHook({ url: (await listen(handler)).url, secret: SECRET, events: ['pull_request', 'pull_request_review'] });
    const { request, link } = await provider.create(subject());
    const waiting = provider.wait(request.id, { signal: new AbortController().signal, timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 50)); // wait() has read "pending" and sleeps for a minute
    const t0 = performance.now();
    pulls.review(REPO, prNumber(link), { login: 'carol', state: 'APPROVED' });
    expect(await waiting).toMatchObject({ status: 'approved', approved_by: ['carol'] });
    expect(performance.now() - t0).toBeLessThan(1000);
    await webhooks.settled();
    expect(webhooks.deliveries.filter((d) => d.event === 'pull_request_review').map((d) => d.status)).toEqual([202]);
    expect(handler.stats.accepted).toBeGreaterThanOrEqual(2); // opened + submitted
  });

  it('a webhook arriving while wait() reads GitHub is not lost: the read that missed the review is done again', async () => {
    const webhooks = webhookSender();
    const pulls = simulatorPulls({ webhooks });
    const teams = simulatorTeams();
    const sim = await startGitHubSimulator({ tokens: [{ token: TOKEN, login: 'verdict-gateway' }], plugins: [pulls.plugin, teams.plugin] });
    cleanups.push(async () => {
      await webhooks.settled();
      await sim.close();
    });
    sim.createRepo('acme', 'approvals').commitFiles('main', { 'README.md': '# approvals\n' }, 'init');
    teams.addMember('acme', 'dba', 'carol');
    // The first answer wait() gets for the review list is held back until the review exists and its webhook
    // was handled: that read says "no review", the wake-up came during it.
    const octokit = fastClient(sim);
    let pr = 0;
    let held = false;
    octokit.hook.wrap('request', async (request, options) => {
      const res = await request(options);
      if (pr > 0 && !held && options.url.endsWith('/reviews')) {
        held = true;
        pulls.review(REPO, pr, { login: 'carol', state: 'APPROVED' });
        await webhooks.settled();
      }
      return res;
    });
    const provider = githubApprovals({
      owner: 'acme', repo: 'approvals', team: { org: 'acme', slug: 'dba' }, octokit, pollMs: 60_000,
      identities: { logins: { carol: 'user:carol' } }, log: { info() {}, warn() {} },
    });
    cleanups.unshift(() => provider.settled());
    const handler = createWebhookHandler({ secret: SECRET, onEvent: (e) => provider.wake(e) });
    webhooks.addHook({ url: (await listen(handler)).url, secret: SECRET, events: ['pull_request_review'] });
    const { request, link } = await provider.create(subject());
    pr = prNumber(link);
    const t0 = performance.now();
    expect(await provider.wait(request.id, { signal: new AbortController().signal, timeoutMs: 30_000 })).toMatchObject({ status: 'approved', approved_by: ['carol'] });
    expect(held).toBe(true);
    expect(handler.stats.accepted).toBe(1);
    expect(performance.now() - t0).toBeLessThan(5000); // not the 60 s poll
  });

  it('a webhook\'s reviewer is only whom to ask first: it approves nothing GitHub does not say', async () => {
    const env = await setup({ pollMs: 60_000 });
    const { provider, pulls, teams, sim } = env;
    const { request, link } = await provider.create(subject());
    const n = prNumber(link);
    const waiting = provider.wait(request.id, { signal: new AbortController().signal, timeoutMs: 30_000 });
    await new Promise((r) => setTimeout(r, 50));
    // A wake-up naming carol, who has not reviewed: still pending.
    provider.wake({ pullNumber: n, headRef: `verdict/${request.id}`, repository: REPO, reviewer: 'carol' });
    await new Promise((r) => setTimeout(r, 100));
    expect(await provider.state(request.id)).toEqual({ status: 'pending' });
    // mallory reviews and is named, but is not in the team: her membership is read (404) and she does not count.
    teams.user('mallory');
    pulls.review(REPO, n, { login: 'mallory', state: 'APPROVED' });
    provider.wake({ pullNumber: n, headRef: `verdict/${request.id}`, repository: REPO, reviewer: 'mallory' });
    await new Promise((r) => setTimeout(r, 100));
    expect(sim.requests.some((r) => r.path === '/orgs/acme/teams/dba/memberships/mallory' && r.status === 404)).toBe(true);
    expect(await provider.state(request.id)).toEqual({ status: 'pending' });
    pulls.review(REPO, n, { login: 'dave', state: 'APPROVED' });
    provider.wake({ pullNumber: n, headRef: `verdict/${request.id}`, repository: REPO, reviewer: 'dave' });
    expect(await waiting).toMatchObject({ status: 'approved', approved_by: ['dave'] });
  });

  it('a forged signature is refused with 401 and causes no GitHub read; a replayed delivery is ignored', async () => {
    const env = await setup({ pollMs: 60_000 });
    const { provider, pulls, webhooks, sim } = env;
    let events = 0;
    const handler = createWebhookHandler({ secret: SECRET, onEvent: (e) => void (events++, provider.wake(e)) });
    const { url } = await listen(handler);
    webhooks.addHook({ url, secret: 'not-the-secret' });
    const { request, link } = await provider.create(subject());
    await webhooks.settled();
    const before = sim.requests.length;
    pulls.review(REPO, prNumber(link), { login: 'carol', state: 'APPROVED' });
    await webhooks.settled();
    expect(webhooks.deliveries.map((d) => d.status)).toEqual([401, 401]);
    expect(events).toBe(0);
    expect(sim.requests.length).toBe(before);

    webhooks.removeHooks();
    webhooks.addHook({ url, secret: SECRET });
    pulls.review(REPO, prNumber(link), { login: 'dave', state: 'COMMENTED', body: 'looks fine' });
    await webhooks.settled();
    const good = webhooks.deliveries.at(-1)!;
    expect(good.status).toBe(202);
    expect((await webhooks.redeliver(good.id)).status).toBe(200);
    expect(events).toBe(1);
    expect(handler.stats).toMatchObject({ accepted: 1, duplicates: 1, badSignature: 2 });
    expect(await provider.state(request.id)).toMatchObject({ status: 'approved' });
  });

  it('polls with conditional requests: unchanged state costs only 304s', async () => {
    const { sim, pulls, provider } = await setup();
    const { request, link } = await provider.create(subject());
    pulls.review(REPO, prNumber(link), { login: 'carol', state: 'APPROVED' });
    expect(await provider.state(request.id)).toMatchObject({ status: 'approved' });
    const from = sim.requests.length;
    const notModified = provider.stats.notModified;
    expect(await provider.state(request.id)).toMatchObject({ status: 'approved' });
    const polled = sim.requests.slice(from);
    expect(polled.length).toBeGreaterThanOrEqual(3); // PR, reviews, membership
    expect(polled.every((r) => r.status === 304)).toBe(true);
    expect(provider.stats.notModified - notModified).toBe(polled.length);
    expect(polled.at(-1)!.responseHeaders['x-ratelimit-used']).toBe(sim.requests[from - 1]!.responseHeaders['x-ratelimit-used']);
    // A change is seen at once: the ETag no longer matches.
    pulls.push(REPO, prNumber(link));
    expect(await provider.state(request.id)).toMatchObject({ status: 'rejected' });
  });

  it('an outage while waiting keeps the request pending, never approved', async () => {
    const { sim, pulls, provider } = await setup();
    const { request, link } = await provider.create(subject());
    pulls.review(REPO, prNumber(link), { login: 'carol', state: 'APPROVED' });
    const fault = sim.inject({ status: 502 });
    await expect(provider.state(request.id)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    const waiting = provider.wait(request.id, { signal: new AbortController().signal, timeoutMs: 5000 });
    setTimeout(() => fault.clear(), 80);
    expect(await waiting).toMatchObject({ status: 'approved' });
    sim.requests.splice(0); // the injected 502s are not GitHub's documented answers for these routes
  });
});

describe('github approvals: break-glass', () => {
  it('opens an after-the-fact PR labelled break-glass, with the request JSON and the reason; never found as an approval', async () => {
    const { sim, pulls, teams, make } = await setup();
    teams.addMember('acme', 'break-glass-review', 'dave');
    const provider = make({ teams: { 'break-glass-review': 'break-glass-review' } });
    // Who reviews comes from the policy's decision (its approval, mode break_glass).
    const review = { approvers: ['team:break-glass-review'], min_approvals: 1, ttl_seconds: 604800, mode: 'break_glass' as const };
    const s = subject('DELETE FROM visits', { requirement: review });
    const { request, link, number } = await openBreakGlassPullRequest(provider, s, { reason: 'INC-4711: runaway job', executedAt: new Date('2026-03-01T10:00:00Z'), evidence: 'dec-9' });
    expect(link).toContain(`/pull/${number}`);
    const pr = pulls.pull(REPO, number);
    expect(pr.labels).toEqual(['break-glass', 'risk:high']);
    expect(pr.title).toMatch(/^Break-glass: DELETE FROM visits/);
    expect(pr.body).toContain('INC-4711: runaway job');
    expect(pr.body).toContain('2026-03-01T10:00:00.000Z');
    expect(pr.body).toContain('| Reviewers | 1 from @acme/break-glass-review, after the fact');
    const file = JSON.parse(sim.repo('acme', 'approvals').readFile(pr.head, `break-glass/${request.id}.json`)!.toString());
    expect(file).toEqual(request);
    expect(file).toMatchObject({ id: request.id, hash: subjectHash(s), requirement: review, break_glass: { reason: 'INC-4711: runaway job', evidence: 'dec-9' } });
    pulls.review(REPO, number, { login: 'carol', state: 'APPROVED' });
    expect(await provider.findApproved(request.hash, 'user:bob')).toBeNull();
    await expect(openBreakGlassPullRequest(provider, s, { reason: '  ' })).rejects.toMatchObject({ code: 'CONFIG' });
  });
});
