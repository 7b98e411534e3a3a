// The GitHub evidence publisher against the local GitHub simulator: read-back, idempotence, conflicts,
// concurrent instances racing for one branch, outages, rate limits, bad credentials and App auth.
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createGitHubClient } from '../github/client.ts';
import { blobSha } from '../github/git-objects.ts';
import { openApiChecker } from '../testing/github-sim/openapi-check.ts';
import { startGitHubSimulator, type GitHubSimulator, type SimulatorOptions } from '../testing/github-sim/simulator.ts';
import { githubPublisher, type GitHubPublisherOptions } from './github-publisher.ts';
import { PublishError } from './errors.ts';
import type { EvidenceFile, EvidencePublisher } from './publisher.ts';

const TOKEN = 'ghp_publishertesttoken';
const checker = openApiChecker();
const sims: GitHubSimulator[] = [];
const silent = { debug() {}, info() {}, warn() {}, error() {} };

async function sim(options: SimulatorOptions = {}) {
  const s = await startGitHubSimulator({ tokens: [{ token: TOKEN, login: 'verdict-bot' }], ...options });
  sims.push(s);
  return s;
}

function publisher(s: GitHubSimulator, overrides: Partial<GitHubPublisherOptions> = {}): EvidencePublisher {
  return githubPublisher({
    owner: 'acme',
    repo: 'evidence',
    branch: 'main',
    baseUrl: s.baseUrl,
    auth: { token: TOKEN },
    author: { name: 'Verdict gateway', email: 'verdict@acme.example' },
    client: { retries: 1, retryBaseMs: 5, rateLimitUnitMs: 5, writesPerMinute: Number.POSITIVE_INFINITY, maxRateLimitWaitSeconds: 5, log: silent },
    backoff: { baseMs: 2, maxMs: 40 },
    ...overrides,
  });
}

function batch(instance: string, seq: number): EvidenceFile[] {
  const name = String(seq).padStart(12, '0');
  return [
    { path: `streams/${instance}/2026/11/21/${name}.jsonl`, content: Buffer.from(`{"instance":"${instance}","seq":${seq}}\n`) },
    { path: `streams/${instance}/2026/11/21/${name}.checkpoint.json`, content: Buffer.from(`{"head":"${instance}-${seq}"}\n`) },
  ];
}

async function failure(p: Promise<unknown>): Promise<PublishError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(PublishError);
  return err as PublishError;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  return (await failure(p)).code;
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

describe('githubPublisher', () => {
  it('commits a batch on top of the branch head and reads it back', async () => {
    const s = await sim();
    const repo = s.createRepo('acme', 'evidence');
    const init = repo.commitFiles('main', { 'README.md': '# evidence\n' }, 'init');
    const p = publisher(s);
    const files = batch('gw-1', 1);
    const result = await p.publish(files, 'evidence gw-1 #1');
    expect(result.alreadyPresent).toEqual([]);
    expect(repo.head('main')).toBe(result.commit);
    const commit = repo.commit(result.commit)!;
    expect(commit.parents).toEqual([init]);
    expect(commit.message).toBe('evidence gw-1 #1');
    expect(commit.author).toMatchObject({ name: 'Verdict gateway', email: 'verdict@acme.example' });
    for (const f of files) {
      expect(repo.readFile('main', f.path)).toEqual(f.content);
      expect(await p.read(f.path)).toEqual(f.content);
    }
    expect(repo.readFile('main', 'README.md')?.toString()).toBe('# evidence\n');
    expect(await p.read('streams/gw-1/2026/11/21/missing.jsonl')).toBeNull();
    expect(await p.read('README.md/nested')).toBeNull();
    // One commit costs three content-creating requests: tree (content inline), commit, ref.
    expect(s.requests.filter((r) => r.method !== 'GET').map((r) => r.route)).toEqual([
      '/repos/{owner}/{repo}/git/trees',
      '/repos/{owner}/{repo}/git/commits',
      '/repos/{owner}/{repo}/git/refs/{ref}',
    ]);
  });

  it('keeps non-UTF-8 bytes exact by uploading them as blobs', async () => {
    const s = await sim();
    s.createRepo('acme', 'evidence').commitFiles('main', { 'README.md': 'x' }, 'init');
    const p = publisher(s);
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x0a]);
    await p.publish([{ path: 'keys/blob.bin', content: bytes }], 'binary');
    expect(s.repo('acme', 'evidence').readFile('main', 'keys/blob.bin')).toEqual(bytes);
    expect(await p.read('keys/blob.bin')).toEqual(bytes);
    expect(s.requests.some((r) => r.route === '/repos/{owner}/{repo}/git/blobs' && r.status === 201)).toBe(true);
  });

  it('starts an empty repository (no commits) and creates the branch on the first publish', async () => {
    const s = await sim();
    const repo = s.createRepo('acme', 'evidence');
    const p = publisher(s, { branch: 'evidence' });
    expect(await p.read('anything')).toBeNull();
    const files = [...batch('gw-1', 1), ...batch('gw-1', 2)];
    const result = await p.publish(files, 'first evidence');
    expect(result.alreadyPresent).toEqual([]);
    expect(repo.head('evidence')).toBe(result.commit);
    expect([...repo.files('evidence').keys()].sort()).toEqual(files.map((f) => f.path).sort());
    expect(repo.history('evidence').every((c) => c.parents.length <= 1)).toBe(true);
    // The git data API answered 409 until the contents API made the first commit.
    expect(s.requests.some((r) => r.status === 409)).toBe(true);
  });

  it('creates a missing branch as its own root commit in a repository that has other branches', async () => {
    const s = await sim();
    const repo = s.createRepo('acme', 'evidence');
    repo.commitFiles('main', { 'README.md': 'code\n' }, 'init');
    const result = await publisher(s, { branch: 'evidence' }).publish(batch('gw-1', 1), 'first');
    expect(repo.head('evidence')).toBe(result.commit);
    expect(repo.commit(result.commit)!.parents).toEqual([]);
    expect(repo.files('evidence').has('README.md')).toBe(false);
  });

  it('is idempotent: re-publishing identical files makes no commit and reports them as already present', async () => {
    const s = await sim();
    const repo = s.createRepo('acme', 'evidence');
    repo.commitFiles('main', { 'README.md': 'x' }, 'init');
    const p = publisher(s);
    const first = await p.publish(batch('gw-1', 1), 'b1');
    const again = await publisher(s).publish(batch('gw-1', 1), 'b1 again');
    expect(again).toEqual({ commit: first.commit, alreadyPresent: batch('gw-1', 1).map((f) => f.path) });
    // Half published before a crash: only the missing file is committed.
    const mixed = [batch('gw-1', 1)[0]!, ...batch('gw-1', 2)];
    const third = await p.publish(mixed, 'b2');
    expect(third.alreadyPresent).toEqual([batch('gw-1', 1)[0]!.path]);
    expect(repo.history('main')).toHaveLength(3);
  });

  it('fails with CONFLICT when a path exists with other content, and commits nothing', async () => {
    const s = await sim();
    const repo = s.createRepo('acme', 'evidence');
    const [a, b] = batch('gw-1', 1);
    const head = repo.commitFiles('main', { [a!.path]: 'tampered\n' }, 'someone else');
    const p = publisher(s);
    const err = await failure(p.publish([b!, a!], 'b1'));
    expect(err).toBeInstanceOf(PublishError);
    expect(err.code).toBe('CONFLICT');
    expect(err.message).toContain(a!.path);
    expect(err.message).toContain(blobSha(a!.content));
    expect(repo.head('main')).toBe(head);
    // A file standing where a directory is needed is a conflict too.
    repo.commitFiles('main', { 'streams/gw-2': 'file, not a directory' }, 'blocker');
    expect(await codeOf(p.publish(batch('gw-2', 1), 'b'))).toBe('CONFLICT');
  });

  it('three instances with separate clients publish 20 batches each into one branch: all 60 exactly once, linear history', { timeout: 60_000 }, async () => {
    const s = await sim();
    const repo = s.createRepo('acme', 'evidence');
    repo.commitFiles('main', { 'README.md': '# evidence\n' }, 'init');
    const instances = ['gw-1', 'gw-2', 'gw-3'];
    const commits = new Set<string>();
    await Promise.all(
      instances.map(async (instance) => {
        const p = publisher(s); // each has its own octokit client
        for (let seq = 1; seq <= 20; seq++) {
          // Like the spool: a RETRYABLE failure leaves the batch queued and it is published again.
          for (;;) {
            try {
              const r = await p.publish(batch(instance, seq), `evidence ${instance} #${seq}`);
              commits.add(r.commit);
              break;
            } catch (err) {
              if (!(err instanceof PublishError) || err.code !== 'RETRYABLE') throw err;
            }
          }
        }
      }),
    );
    const expected = instances.flatMap((i) => Array.from({ length: 20 }, (_, k) => batch(i, k + 1))).flat();
    const files = repo.files('main');
    expect(files.size).toBe(expected.length + 1);
    for (const f of expected) expect(files.get(f.path)).toEqual(f.content);

    const history = repo.history('main');
    expect(history).toHaveLength(61); // 60 batches + init: nothing committed twice
    expect(history.every((c) => c.parents.length <= 1)).toBe(true);
    expect(history.at(-1)!.message).toBe('init');
    expect(new Set(history.map((c) => c.message)).size).toBe(61);
    for (const c of commits) expect(history.some((h) => h.sha === c)).toBe(true);
    // They really raced: GitHub's fast-forward check turned some updates away.
    const rejected = s.requests.filter((r) => r.status === 422 && (r.responseBody as { message?: string }).message === 'Update is not a fast forward');
    expect(rejected.length).toBeGreaterThan(0);
  });

  it('re-reads the head after each lost race and gives up with RETRYABLE after maxAttempts rounds', async () => {
    const s = await sim();
    const repo = s.createRepo('acme', 'evidence');
    repo.commitFiles('main', { 'README.md': 'x' }, 'init');
    const octokit = await createGitHubClient({ baseUrl: s.baseUrl, auth: { token: TOKEN }, writesPerMinute: Number.POSITIVE_INFINITY, log: silent });
    let competitor = 0;
    // Another instance always gets its commit in just before our ref update.
    octokit.hook.before('request', (options) => {
      if (options.method === 'PATCH') repo.commitFiles('main', { [`streams/gw-9/${++competitor}.jsonl`]: 'x\n' }, `gw-9 #${competitor}`);
    });
    const err = await failure(publisher(s, { octokit, maxAttempts: 3 }).publish(batch('gw-1', 1), 'b1'));
    expect(err.code).toBe('RETRYABLE');
    const refUpdates = s.requests.filter((r) => r.method === 'PATCH');
    expect(refUpdates.map((r) => (r.responseBody as { message: string }).message)).toEqual(Array(3).fill('Update is not a fast forward'));
    // Each round built on the head it had just read, so each PATCH named a different parent.
    const parents = s.requests.filter((r) => r.route === '/repos/{owner}/{repo}/git/commits').map((r) => (r.requestBody as { parents: string[] }).parents[0]);
    expect(new Set(parents).size).toBe(3);
    expect(repo.files('main').has(batch('gw-1', 1)[0]!.path)).toBe(false);
  });

  it('reports RETRYABLE during an outage (502s) and publishes once GitHub is back', async () => {
    const s = await sim();
    const repo = s.createRepo('acme', 'evidence');
    repo.commitFiles('main', { 'README.md': 'x' }, 'init');
    const p = publisher(s);
    const outage = s.inject({ status: 502, durationMs: 60_000 });
    expect(await codeOf(p.publish(batch('gw-1', 1), 'b1'))).toBe('RETRYABLE');
    expect(await codeOf(p.read('README.md'))).toBe('RETRYABLE');
    outage.clear();
    const r = await p.publish(batch('gw-1', 1), 'b1');
    expect(repo.head('main')).toBe(r.commit);
    expect(repo.history('main')).toHaveLength(2);
  });

  it('recovers from an outage that starts mid-publish, after the tree and commit were created', async () => {
    const s = await sim();
    const repo = s.createRepo('acme', 'evidence');
    repo.commitFiles('main', { 'README.md': 'x' }, 'init');
    const p = publisher(s);
    s.inject({ status: 503, match: (r) => r.method === 'PATCH' });
    expect(await codeOf(p.publish(batch('gw-1', 1), 'b1'))).toBe('RETRYABLE');
    s.clearFaults();
    const r = await p.publish(batch('gw-1', 1), 'b1');
    expect(r.alreadyPresent).toEqual([]);
    expect(repo.history('main').map((c) => c.message)).toEqual(['b1', 'init']);
  });

  it('reports RETRYABLE on a rate limit too long to wait out', async () => {
    const s = await sim();
    s.createRepo('acme', 'evidence').commitFiles('main', { 'README.md': 'x' }, 'init');
    s.inject({ kind: 'secondary-rate-limit', retryAfter: 600, times: 1 });
    expect(await codeOf(publisher(s).publish(batch('gw-1', 1), 'b1'))).toBe('RETRYABLE');
    s.inject({ kind: 'primary-rate-limit', retryAfter: 3000, times: 1 });
    expect(await codeOf(publisher(s).publish(batch('gw-1', 1), 'b1'))).toBe('RETRYABLE');
  });

  it('stays under a secondary write limit by pacing its writes', async () => {
    const s = await sim({ secondaryRateLimit: { maxWrites: 6, windowMs: 1_000, retryAfter: 60 } });
    const repo = s.createRepo('acme', 'evidence');
    repo.commitFiles('main', { 'README.md': 'x' }, 'init');
    const p = publisher(s, { client: { writesPerMinute: 300, retries: 0, maxRateLimitWaitSeconds: 0, log: silent } });
    const t0 = Date.now();
    for (let seq = 1; seq <= 3; seq++) await p.publish(batch('gw-1', seq), `b${seq}`);
    expect(s.requests.filter((r) => r.status === 403)).toEqual([]);
    expect(repo.history('main')).toHaveLength(4);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(8 * 200 - 200); // nine writes released 200 ms apart
  });

  it('refuses to commit when the tree GitHub built differs from the locally hashed one (bytes altered in transit)', async () => {
    const s = await sim();
    const repo = s.createRepo('acme', 'evidence');
    const head = repo.commitFiles('main', { 'README.md': 'x' }, 'init');
    const octokit = await createGitHubClient({ baseUrl: s.baseUrl, auth: { token: TOKEN }, writesPerMinute: Number.POSITIVE_INFINITY, log: silent });
    // A middlebox that rewrites line endings: the request still succeeds, the content does not survive.
    octokit.hook.before('request', (options) => {
      const tree = (options as { tree?: Array<{ content?: string }> }).tree;
      for (const e of tree ?? []) if (e.content) e.content = e.content.replaceAll('\n', '\r\n');
    });
    const err = await failure(publisher(s, { octokit }).publish(batch('gw-1', 1), 'b1'));
    expect(err.code).toBe('FATAL');
    expect(err.message).toMatch(/was expected/);
    expect(repo.head('main')).toBe(head);
    expect(s.requests.some((r) => r.route === '/repos/{owner}/{repo}/git/commits')).toBe(false);
  });

  it('fails FATAL when the token is rejected, lacks write access, or the repository is not visible', async () => {
    const s = await sim();
    s.createRepo('acme', 'evidence').commitFiles('main', { 'README.md': 'x' }, 'init');
    const rejected = publisher(s, { auth: { token: 'ghp_revoked' } });
    const err = await failure(rejected.publish(batch('gw-1', 1), 'b1'));
    expect(err.code).toBe('FATAL');
    expect(err.message).toMatch(/401/);
    expect(err.message).not.toContain('ghp_revoked');
    s.addToken('ghp_reader', 'reader', { contents: 'read', metadata: 'read' });
    expect(await codeOf(publisher(s, { auth: { token: 'ghp_reader' } }).publish(batch('gw-1', 1), 'b1'))).toBe('FATAL');
    expect(await codeOf(publisher(s, { repo: 'nope' }).publish(batch('gw-1', 1), 'b1'))).toBe('FATAL');
  });

  it('publishes as a GitHub App installation (JWT → installation token), under a GitHub Enterprise prefix', async () => {
    const keys = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    const wrong = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' } });
    const s = await sim({ pathPrefix: '/api/v3', apps: [{ id: 314, slug: 'verdict', publicKey: keys.publicKey, installations: [{ id: 2718, account: 'acme' }] }] });
    const repo = s.createRepo('acme', 'evidence');
    const p = publisher(s, { auth: { appId: 314, privateKey: keys.privateKey, installationId: 2718 }, author: undefined });
    const r1 = await p.publish(batch('gw-1', 1), 'b1');
    const r2 = await p.publish(batch('gw-1', 2), 'b2');
    expect(repo.head('main')).toBe(r2.commit);
    expect(repo.commit(r1.commit)!.author.name).toBe('verdict[bot]');
    const tokenRequests = s.requests.filter((r) => r.route === '/app/installations/{installation_id}/access_tokens');
    expect(tokenRequests.map((r) => r.status)).toEqual([201]);
    expect(s.requests.filter((r) => r.route?.startsWith('/repos/')).every((r) => r.actor === 'verdict[bot]')).toBe(true);

    const forged = publisher(s, { auth: { appId: 314, privateKey: wrong.privateKey, installationId: 2718 } });
    expect(await codeOf(forged.publish(batch('gw-1', 3), 'b3'))).toBe('FATAL');
    const notInstalled = publisher(s, { auth: { appId: 314, privateKey: keys.privateKey, installationId: 1 } });
    expect(await codeOf(notInstalled.publish(batch('gw-1', 3), 'b3'))).toBe('FATAL');
  });
});
