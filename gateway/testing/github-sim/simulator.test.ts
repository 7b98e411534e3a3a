// The GitHub simulator driven by octokit and plain fetch; every response is checked against GitHub's
// OpenAPI description after each test, so behaviour and shapes both have to match the real API.
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, importPKCS8 } from 'jose';
import { Octokit } from 'octokit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { blobSha } from '../../github/git-objects.ts';
import { openApiChecker } from './openapi-check.ts';
import { startGitHubSimulator, type GitHubSimulator } from './simulator.ts';

const TOKEN = 'ghp_simulatortesttoken000000000000000000';
const checker = openApiChecker();
const sims: GitHubSimulator[] = [];

async function sim(options: Parameters<typeof startGitHubSimulator>[0] = {}) {
  const s = await startGitHubSimulator({ tokens: [{ token: TOKEN, login: 'octo' }], ...options });
  sims.push(s);
  return s;
}

function octokit(s: GitHubSimulator, auth: string = TOKEN) {
  return new Octokit({ baseUrl: s.baseUrl, auth, retry: { enabled: false }, throttle: { enabled: false } });
}

async function call(s: GitHubSimulator, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${s.baseUrl}${path}`, {
    method,
    headers: { authorization: `token ${TOKEN}`, accept: 'application/vnd.github+json', ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? null : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: res.status, headers: res.headers, json };
}

afterEach(async () => {
  for (const s of sims.splice(0)) {
    try {
      // assertAll throws listing every exchange that does not match GitHub's description.
      expect(() => checker.assertAll(s.requests)).not.toThrow();
    } finally {
      await s.close();
    }
  }
});

describe('GitHub simulator: repositories and auth', () => {
  let s: GitHubSimulator;
  beforeEach(async () => {
    s = await sim();
    s.createRepo('acme', 'evidence').commitFiles('main', { 'README.md': '# evidence\n' }, 'init');
  });

  it('serves GET /repos/{owner}/{repo} as a full-repository with rate-limit and request-id headers', async () => {
    const { data, headers, status } = await octokit(s).rest.repos.get({ owner: 'acme', repo: 'evidence' });
    expect(status).toBe(200);
    expect(data).toMatchObject({ full_name: 'acme/evidence', default_branch: 'main', private: true, owner: { login: 'acme' } });
    expect(headers['x-github-request-id']).toMatch(/^[0-9A-F:]+$/);
    expect(headers['x-ratelimit-limit']).toBe('5000');
    expect(Number(headers['x-ratelimit-remaining'])).toBe(4999);
    expect(headers.etag).toMatch(/^W\/"[0-9a-f]{32}"$/);
  });

  it('answers a matching If-None-Match with 304 that does not count against the rate limit', async () => {
    const first = await call(s, 'GET', '/repos/acme/evidence');
    const etag = first.headers.get('etag')!;
    const second = await call(s, 'GET', '/repos/acme/evidence', undefined, { 'if-none-match': etag });
    expect(second.status).toBe(304);
    expect(second.headers.get('x-ratelimit-used')).toBe('1');
  });

  it('rejects unknown tokens with 401 Bad credentials, hides private repositories from anonymous callers', async () => {
    const bad = await fetch(`${s.baseUrl}/repos/acme/evidence`, { headers: { authorization: 'Bearer nope' } });
    expect(bad.status).toBe(401);
    expect(await bad.json()).toMatchObject({ message: 'Bad credentials' });
    const anon = await fetch(`${s.baseUrl}/repos/acme/evidence`);
    expect(anon.status).toBe(404);
    expect((await octokit(s).rest.repos.get({ owner: 'acme', repo: 'missing' }).catch((e) => e)).status).toBe(404);
  });

  it('refuses writes to a read-only token with 403 and the permission GitHub would want', async () => {
    s.addToken('ghp_readonly', 'reader', { contents: 'read', metadata: 'read' });
    const gh = octokit(s, 'ghp_readonly');
    await expect(gh.rest.git.getRef({ owner: 'acme', repo: 'evidence', ref: 'heads/main' })).resolves.toMatchObject({ status: 200 });
    const err = await gh.rest.git.createBlob({ owner: 'acme', repo: 'evidence', content: 'x' }).catch((e) => e);
    expect(err.status).toBe(403);
    expect(err.response.headers['x-accepted-github-permissions']).toBe('contents=write');
  });
});

describe('GitHub simulator: git data API', () => {
  let s: GitHubSimulator;
  beforeEach(async () => {
    s = await sim();
  });

  it('answers 409 "Git Repository is empty." until the contents API creates the first commit', async () => {
    s.createRepo('acme', 'empty');
    const gh = octokit(s);
    for (const attempt of [
      gh.rest.git.getRef({ owner: 'acme', repo: 'empty', ref: 'heads/main' }),
      gh.rest.git.createBlob({ owner: 'acme', repo: 'empty', content: 'x' }),
      gh.rest.git.createTree({ owner: 'acme', repo: 'empty', tree: [{ path: 'a', mode: '100644', type: 'blob', content: 'a' }] }),
    ]) {
      const err = await attempt.catch((e) => e);
      expect(err.status).toBe(409);
      expect(err.response.data.message).toBe('Git Repository is empty.');
    }
    expect((await gh.rest.repos.getContent({ owner: 'acme', repo: 'empty', path: 'a' }).catch((e) => e)).response.data.message).toBe('This repository is empty.');

    const put = await gh.rest.repos.createOrUpdateFileContents({
      owner: 'acme', repo: 'empty', path: 'dir/first.txt', branch: 'evidence', message: 'start',
      content: Buffer.from('first\n').toString('base64'),
    });
    expect(put.status).toBe(201);
    expect(put.data.content?.sha).toBe(blobSha(Buffer.from('first\n')));
    const repo = s.repo('acme', 'empty');
    expect(repo.defaultBranch).toBe('evidence');
    expect(repo.head('evidence')).toBe(put.data.commit.sha);
    expect(repo.readFile('evidence', 'dir/first.txt')?.toString()).toBe('first\n');
  });

  it('creates blobs, nested trees on a base tree, commits and fast-forwards a branch', async () => {
    const repo = s.createRepo('acme', 'ev');
    const init = repo.commitFiles('main', { 'README.md': 'hi\n' }, 'init');
    const gh = octokit(s);
    const o = { owner: 'acme', repo: 'ev' };

    const binary = Buffer.from([0, 1, 2, 250, 251]);
    const blob = await gh.rest.git.createBlob({ ...o, content: binary.toString('base64'), encoding: 'base64' });
    expect(blob.status).toBe(201);
    expect(blob.data.sha).toBe(blobSha(binary));
    const got = await gh.rest.git.getBlob({ ...o, file_sha: blob.data.sha });
    expect(Buffer.from(got.data.content, 'base64')).toEqual(binary);

    const baseTree = (await gh.rest.git.getCommit({ ...o, commit_sha: init })).data.tree.sha;
    const tree = await gh.rest.git.createTree({
      ...o,
      base_tree: baseTree,
      tree: [
        { path: 'streams/gw-1/2026/11/21/1.jsonl', mode: '100644', type: 'blob', content: '{"seq":1}\n' },
        { path: 'streams/gw-1/2026/11/21/bin', mode: '100644', type: 'blob', sha: blob.data.sha },
      ],
    });
    expect(tree.data.tree.map((e) => e.path).sort()).toEqual(['README.md', 'streams']);
    const recursive = await gh.rest.git.getTree({ ...o, tree_sha: tree.data.sha, recursive: 'true' });
    expect(recursive.data.tree.filter((e) => e.type === 'blob').map((e) => e.path).sort()).toEqual([
      'README.md',
      'streams/gw-1/2026/11/21/1.jsonl',
      'streams/gw-1/2026/11/21/bin',
    ]);

    const commit = await gh.rest.git.createCommit({
      ...o, message: 'batch 1', tree: tree.data.sha, parents: [init],
      author: { name: 'Verdict', email: 'verdict@example.com', date: '2026-11-21T10:00:00+02:00' },
    });
    expect(commit.data.author).toMatchObject({ name: 'Verdict', date: '2026-11-21T10:00:00+02:00' });
    expect(commit.data.parents.map((p) => p.sha)).toEqual([init]);
    const updated = await gh.rest.git.updateRef({ ...o, ref: 'heads/main', sha: commit.data.sha, force: false });
    expect(updated.data.object.sha).toBe(commit.data.sha);
    expect(repo.readFile('main', 'streams/gw-1/2026/11/21/1.jsonl')?.toString()).toBe('{"seq":1}\n');

    // Deleting through sha: null, and an empty directory disappears.
    const pruned = await gh.rest.git.createTree({ ...o, base_tree: tree.data.sha, tree: [
      { path: 'streams/gw-1/2026/11/21/1.jsonl', mode: '100644', type: 'blob', sha: null },
      { path: 'streams/gw-1/2026/11/21/bin', mode: '100644', type: 'blob', sha: null },
    ] });
    expect(pruned.data.sha).toBe(baseTree);
  });

  it('refuses a non-fast-forward ref update with 422 "Update is not a fast forward", allows it with force', async () => {
    const repo = s.createRepo('acme', 'ff');
    const a = repo.commitFiles('main', { 'a.txt': 'a' }, 'a');
    const b = repo.commitFiles('main', { 'b.txt': 'b' }, 'b');
    const gh = octokit(s);
    const sibling = await gh.rest.git.createCommit({ owner: 'acme', repo: 'ff', message: 'sibling', tree: repo.commit(a)!.tree, parents: [a] });
    const res = await call(s, 'PATCH', '/repos/acme/ff/git/refs/heads/main', { sha: sibling.data.sha, force: false });
    expect(res.status).toBe(422);
    expect(res.json).toEqual({
      message: 'Update is not a fast forward',
      documentation_url: 'https://docs.github.com/rest/git/refs#update-a-reference',
      status: '422',
    });
    expect(repo.head('main')).toBe(b);
    const forced = await gh.rest.git.updateRef({ owner: 'acme', repo: 'ff', ref: 'heads/main', sha: sibling.data.sha, force: true });
    expect(forced.data.object.sha).toBe(sibling.data.sha);
  });

  it('creates, reads, lists and deletes refs with GitHub validation messages', async () => {
    const repo = s.createRepo('acme', 'refs');
    const head = repo.commitFiles('main', { 'a.txt': 'a' }, 'a');
    const gh = octokit(s);
    const o = { owner: 'acme', repo: 'refs' };
    const created = await gh.rest.git.createRef({ ...o, ref: 'refs/heads/feature/x', sha: head });
    expect(created.status).toBe(201);
    expect((await gh.rest.git.getRef({ ...o, ref: 'heads/feature/x' })).data).toMatchObject({ ref: 'refs/heads/feature/x', object: { sha: head, type: 'commit' } });
    expect((await gh.rest.git.listMatchingRefs({ ...o, ref: 'heads/' })).data.map((r) => r.ref)).toEqual(['refs/heads/feature/x', 'refs/heads/main']);
    const again = await gh.rest.git.createRef({ ...o, ref: 'refs/heads/feature/x', sha: head }).catch((e) => e);
    expect([again.status, again.response.data.message]).toEqual([422, 'Reference already exists']);
    const ghost = await gh.rest.git.createRef({ ...o, ref: 'refs/heads/ghost', sha: 'f'.repeat(40) }).catch((e) => e);
    expect([ghost.status, ghost.response.data.message]).toEqual([422, 'Object does not exist']);
    const missing = await gh.rest.git.updateRef({ ...o, ref: 'heads/nope', sha: head }).catch((e) => e);
    expect([missing.status, missing.response.data.message]).toEqual([422, 'Reference does not exist']);
    expect((await gh.rest.git.getRef({ ...o, ref: 'heads/nope' }).catch((e) => e)).status).toBe(404);
    expect((await gh.rest.git.deleteRef({ ...o, ref: 'heads/feature/x' })).status).toBe(204);
  });

  it('validates commits: unknown tree or parent → 422', async () => {
    const repo = s.createRepo('acme', 'val');
    const head = repo.commitFiles('main', { 'a.txt': 'a' }, 'a');
    const gh = octokit(s);
    const badTree = await gh.rest.git.createCommit({ owner: 'acme', repo: 'val', message: 'm', tree: 'a'.repeat(40) }).catch((e) => e);
    expect([badTree.status, badTree.response.data.message]).toEqual([422, 'Tree SHA does not exist']);
    const badParent = await gh.rest.git.createCommit({ owner: 'acme', repo: 'val', message: 'm', tree: repo.commit(head)!.tree, parents: ['b'.repeat(40)] }).catch((e) => e);
    expect([badParent.status, badParent.response.data.message]).toEqual([422, 'Parent SHA does not exist or is not a commit object']);
  });

  it('serves contents: files (base64 and raw), directories, and other refs', async () => {
    const repo = s.createRepo('acme', 'contents');
    repo.commitFiles('main', { 'dir/a.json': '{"a":1}\n', 'dir/b.json': '{"b":2}\n' }, 'one');
    repo.commitFiles('other', { 'x.txt': 'x' }, 'other');
    const gh = octokit(s);
    const file = await gh.rest.repos.getContent({ owner: 'acme', repo: 'contents', path: 'dir/a.json' });
    expect(Array.isArray(file.data)).toBe(false);
    expect(Buffer.from((file.data as { content: string }).content, 'base64').toString()).toBe('{"a":1}\n');
    const dir = await gh.rest.repos.getContent({ owner: 'acme', repo: 'contents', path: 'dir' });
    expect((dir.data as Array<{ name: string }>).map((e) => e.name)).toEqual(['a.json', 'b.json']);
    const raw = await fetch(`${s.baseUrl}/repos/acme/contents/contents/dir/b.json`, { headers: { authorization: `token ${TOKEN}`, accept: 'application/vnd.github.raw' } });
    expect(await raw.text()).toBe('{"b":2}\n');
    expect((await gh.rest.repos.getContent({ owner: 'acme', repo: 'contents', path: 'x.txt', ref: 'other' })).status).toBe(200);
    expect((await gh.rest.repos.getContent({ owner: 'acme', repo: 'contents', path: 'x.txt' }).catch((e) => e)).status).toBe(404);
  });
});

describe('GitHub simulator: failures, limits, Enterprise prefix', () => {
  it('injects 502s for the next N requests and for an outage window', async () => {
    const s = await sim();
    s.createRepo('acme', 'r');
    const fault = s.inject({ status: 502, times: 2 });
    expect((await call(s, 'GET', '/repos/acme/r')).status).toBe(502);
    expect((await call(s, 'GET', '/repos/acme/r')).status).toBe(502);
    expect((await call(s, 'GET', '/repos/acme/r')).status).toBe(200);
    expect(fault.hits).toBe(2);
    s.inject({ status: 503, durationMs: 150 });
    expect((await call(s, 'GET', '/repos/acme/r')).status).toBe(503);
    await new Promise((r) => setTimeout(r, 200));
    expect((await call(s, 'GET', '/repos/acme/r')).status).toBe(200);
    expect(s.requests.filter((r) => r.fault)).toHaveLength(3);
  });

  it('answers secondary and primary rate limits the way octokit recognises them', async () => {
    const s = await sim();
    s.createRepo('acme', 'r');
    s.inject({ kind: 'secondary-rate-limit', retryAfter: 7, times: 1 });
    const secondary = await call(s, 'GET', '/repos/acme/r');
    expect(secondary.status).toBe(403);
    expect(secondary.headers.get('retry-after')).toBe('7');
    expect(secondary.json.message).toMatch(/secondary rate limit/);
    s.inject({ kind: 'primary-rate-limit', times: 1 });
    const primary = await call(s, 'GET', '/repos/acme/r');
    expect(primary.status).toBe(403);
    expect(primary.headers.get('x-ratelimit-remaining')).toBe('0');
  });

  it('enforces a configured primary limit and a secondary limit on content-creating requests', async () => {
    const s = await sim({ rateLimit: { limit: 3 }, secondaryRateLimit: { maxWrites: 2, windowMs: 60_000, retryAfter: 30 } });
    s.createRepo('acme', 'r').commitFiles('main', { a: 'a' }, 'a');
    expect((await call(s, 'POST', '/repos/acme/r/git/blobs', { content: '1' })).status).toBe(201);
    expect((await call(s, 'POST', '/repos/acme/r/git/blobs', { content: '2' })).status).toBe(201);
    const third = await call(s, 'POST', '/repos/acme/r/git/blobs', { content: '3' });
    expect([third.status, third.headers.get('retry-after')]).toEqual([403, '30']);
    const over = await call(s, 'GET', '/repos/acme/r');
    expect(over.status).toBe(403);
    expect(over.json.message).toMatch(/API rate limit exceeded/);
    expect(over.headers.get('x-ratelimit-remaining')).toBe('0');
  });

  it('serves under /api/v3 like GitHub Enterprise Server', async () => {
    const s = await sim({ pathPrefix: '/api/v3' });
    s.createRepo('acme', 'r');
    expect(s.baseUrl).toMatch(/\/api\/v3$/);
    const { data } = await octokit(s).rest.repos.get({ owner: 'acme', repo: 'r' });
    expect(data.url).toBe(`${s.baseUrl}/repos/acme/r`);
    expect((await fetch(`${s.baseUrl.replace('/api/v3', '')}/repos/acme/r`)).status).toBe(404);
  });
});

describe('GitHub simulator: GitHub App installation tokens', () => {
  const keys = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const other = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });

  async function jwt(privateKey: string, iss: number, expInSeconds = 540) {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setIssuer(String(iss)).setIssuedAt(now - 30).setExpirationTime(now + expInSeconds).sign(await importPKCS8(privateKey, 'RS256'));
  }

  it('mints an installation token for a valid RS256 app JWT; the token reads the installation account repositories until it expires', async () => {
    let clock = Date.now();
    const s = await sim({
      now: () => clock,
      apps: [{ id: 42, slug: 'verdict', publicKey: keys.publicKey, installations: [{ id: 7, account: 'acme' }] }],
    });
    s.createRepo('acme', 'ev');
    s.createRepo('other', 'secret');
    const res = await call(s, 'POST', '/app/installations/7/access_tokens', {}, { authorization: `Bearer ${await jwt(keys.privateKey, 42)}` });
    expect(res.status).toBe(201);
    expect(res.json.token).toMatch(/^ghs_[A-Za-z0-9]{36}$/);
    expect(Date.parse(res.json.expires_at)).toBeGreaterThan(clock + 59 * 60_000);
    const gh = octokit(s, res.json.token);
    expect((await gh.rest.repos.get({ owner: 'acme', repo: 'ev' })).status).toBe(200);
    expect((await gh.rest.repos.get({ owner: 'other', repo: 'secret' }).catch((e) => e)).status).toBe(404);
    clock += 61 * 60_000;
    expect((await gh.rest.repos.get({ owner: 'acme', repo: 'ev' }).catch((e) => e)).status).toBe(401);
  });

  it('rejects JWTs signed with another key, too far in the future, or for an unknown installation', async () => {
    const s = await sim({ apps: [{ id: 42, publicKey: keys.publicKey, installations: [{ id: 7, account: 'acme' }] }] });
    const forged = await call(s, 'POST', '/app/installations/7/access_tokens', {}, { authorization: `Bearer ${await jwt(other.privateKey, 42)}` });
    expect([forged.status, forged.json.message]).toEqual([401, 'A JSON web token could not be decoded']);
    const long = await call(s, 'POST', '/app/installations/7/access_tokens', {}, { authorization: `Bearer ${await jwt(keys.privateKey, 42, 3600)}` });
    expect([long.status, long.json.message]).toEqual([401, "'Expiration time' claim ('exp') is too far in the future"]);
    const unknown = await call(s, 'POST', '/app/installations/8/access_tokens', {}, { authorization: `Bearer ${await jwt(keys.privateKey, 42)}` });
    expect(unknown.status).toBe(404);
    const asToken = await call(s, 'POST', '/app/installations/7/access_tokens', {});
    expect(asToken.status).toBe(401);
  });
});
