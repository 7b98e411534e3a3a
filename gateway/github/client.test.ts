// The shared octokit client against the simulator: token and App auth, Enterprise baseUrl, retries on
// 5xx, rate-limit waits, and the per-client write and notification pace.
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createGitHubClient } from './client.ts';
import { openApiChecker } from '../testing/github-sim/openapi-check.ts';
import { simulatorPulls } from '../testing/github-sim/pulls.ts';
import { startGitHubSimulator, type GitHubSimulator, type SimulatorOptions } from '../testing/github-sim/simulator.ts';

const TOKEN = 'ghp_clienttesttoken';
const checker = openApiChecker();
const sims: GitHubSimulator[] = [];
const silent = { debug() {}, info() {}, warn() {}, error() {} };
const fast = { retryBaseMs: 5, rateLimitUnitMs: 5, writesPerMinute: Number.POSITIVE_INFINITY, log: silent };

async function sim(options: SimulatorOptions = {}) {
  const s = await startGitHubSimulator({ tokens: [{ token: TOKEN, login: 'octo' }], ...options });
  sims.push(s);
  s.createRepo('acme', 'ev').commitFiles('main', { 'a.txt': 'a\n' }, 'init');
  return s;
}

afterEach(async () => {
  for (const s of sims.splice(0)) {
    try {
      checker.assertAll(s.requests);
    } finally {
      await s.close();
    }
  }
});

describe('createGitHubClient', () => {
  it('authenticates with a token against a GitHub Enterprise baseUrl', async () => {
    const s = await sim({ pathPrefix: '/api/v3' });
    const gh = await createGitHubClient({ baseUrl: `${s.baseUrl}/`, auth: { token: TOKEN }, ...fast });
    const { data } = await gh.rest.repos.get({ owner: 'acme', repo: 'ev' });
    expect(data.full_name).toBe('acme/ev');
    expect(s.requests.map((r) => [r.path, r.actor])).toEqual([['/repos/acme/ev', 'octo']]);
  });

  it('retries a request that meets 502s, and gives up after its retry budget', async () => {
    const s = await sim();
    const gh = await createGitHubClient({ baseUrl: s.baseUrl, auth: { token: TOKEN }, ...fast, retries: 2 });
    s.inject({ status: 502, times: 2 });
    expect((await gh.rest.repos.get({ owner: 'acme', repo: 'ev' })).status).toBe(200);
    expect(s.requests.map((r) => r.status)).toEqual([502, 502, 200]);
    s.inject({ status: 502, times: 3 });
    expect((await gh.rest.repos.get({ owner: 'acme', repo: 'ev' }).catch((e) => e)).status).toBe(502);
  });

  it('sits out a short secondary rate limit but fails fast on a long one', async () => {
    const s = await sim();
    const gh = await createGitHubClient({ baseUrl: s.baseUrl, auth: { token: TOKEN }, ...fast, maxRateLimitWaitSeconds: 10 });
    s.inject({ kind: 'secondary-rate-limit', retryAfter: 2, times: 1 });
    expect((await gh.rest.git.createBlob({ owner: 'acme', repo: 'ev', content: 'x' })).status).toBe(201);
    s.inject({ kind: 'secondary-rate-limit', retryAfter: 3600, times: 1 });
    const err = await gh.rest.git.createBlob({ owner: 'acme', repo: 'ev', content: 'y' }).catch((e) => e);
    expect(err.status).toBe(403);
    expect(s.requests.map((r) => r.status)).toEqual([403, 201, 403]);
  });

  it('paces content-creating requests to writesPerMinute', async () => {
    const s = await sim();
    const gh = await createGitHubClient({ baseUrl: s.baseUrl, auth: { token: TOKEN }, ...fast, writesPerMinute: 600 });
    await Promise.all([1, 2, 3, 4].map((i) => gh.rest.git.createBlob({ owner: 'acme', repo: 'ev', content: String(i) })));
    const arrivals = s.requests.map((r) => r.at);
    expect(arrivals).toHaveLength(4);
    // 600 per minute: released 100 ms apart; the span allows for scheduling jitter on a loaded machine.
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThanOrEqual(250);
  });

  it('paces notifying writes (PRs, comments) to notificationsPerMinute instead of octokit\'s 3 s', async () => {
    const pulls = simulatorPulls();
    const s = await sim({ plugins: [pulls.plugin] });
    s.repo('acme', 'ev').commitFiles('feature', { 'b.txt': 'b\n' }, 'b');
    const gh = await createGitHubClient({ baseUrl: s.baseUrl, auth: { token: TOKEN }, ...fast, notificationsPerMinute: 600 });
    const t0 = Date.now();
    const { data: pr } = await gh.rest.pulls.create({ owner: 'acme', repo: 'ev', head: 'feature', base: 'main', title: 't' });
    await Promise.all([1, 2, 3].map((i) => gh.rest.issues.createComment({ owner: 'acme', repo: 'ev', issue_number: pr.number, body: String(i) })));
    const arrivals = s.requests.map((r) => r.at);
    expect(arrivals).toHaveLength(4);
    // 600 per minute: 100 ms apart, so the four take ≥ 300 ms; octokit's own pace would take ≥ 9 s.
    expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThanOrEqual(250);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('authenticates as a GitHub App installation with a PKCS#1 key and reuses the installation token', async () => {
    const keys = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    const s = await sim({ apps: [{ id: 4242, slug: 'verdict', publicKey: keys.publicKey, installations: [{ id: 99, account: 'acme' }] }] });
    const gh = await createGitHubClient({ baseUrl: s.baseUrl, auth: { appId: 4242, privateKey: keys.privateKey, installationId: 99 }, ...fast });
    await gh.rest.repos.get({ owner: 'acme', repo: 'ev' });
    await gh.rest.git.getRef({ owner: 'acme', repo: 'ev', ref: 'heads/main' });
    expect(s.requests.map((r) => `${r.method} ${r.route} ${r.status} ${r.actor}`)).toEqual([
      'POST /app/installations/{installation_id}/access_tokens 201 app:4242',
      'GET /repos/{owner}/{repo} 200 verdict[bot]',
      'GET /repos/{owner}/{repo}/git/ref/{ref} 200 verdict[bot]',
    ]);
  });
});
