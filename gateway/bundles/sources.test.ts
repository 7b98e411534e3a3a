// The bundle sources against real servers: an HTTP server with ETags (OPA's bundle-service polling), and
// GitHub release assets through octokit against the GitHub simulator, whose answers are checked against
// GitHub's OpenAPI description; a gateway following a GitHub release end to end.
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitHubClient } from '../github/client.ts';
import { openApiChecker } from '../testing/github-sim/openapi-check.ts';
import { startGitHubSimulator, type GitHubSimulator } from '../testing/github-sim/simulator.ts';
import { simulatorReleases, type ReleasesSimulator } from '../testing/github-sim/releases.ts';
import { policyBuild } from '../policy/toolchain.ts';
import { startStack } from '../testing/stack.ts';
import { BundleSourceError } from './errors.ts';
import { githubReleaseSource, httpSource } from './sources.ts';

let dir: string;
let bundleA: Buffer;
let bundleB: Buffer;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'verdict-sources-'));
  bundleA = readFileSync(policyBuild({ out: join(dir, 'a.tar.gz'), revision: 'rev-a' }).path);
  bundleB = readFileSync(policyBuild({ out: join(dir, 'b.tar.gz'), revision: 'rev-b' }).path);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const manifestRevision = (files: Map<string, Uint8Array>) => JSON.parse(Buffer.from(files.get('.manifest')!).toString()).revision;

describe('httpSource (polled with ETag)', () => {
  let server: Server;
  let url: string;
  let current: Buffer;
  const seen: { inm: string | undefined; auth: string | undefined; status: number }[] = [];
  beforeAll(async () => {
    current = bundleA;
    server = createServer((req, res) => {
      const etag = `"${createHash('sha256').update(current).digest('hex').slice(0, 16)}"`;
      const status = req.headers['if-none-match'] === etag ? 304 : 200;
      seen.push({ inm: req.headers['if-none-match'], auth: req.headers.authorization, status });
      if (status === 304) return void res.writeHead(304, { etag }).end();
      res.writeHead(200, { etag, 'content-type': 'application/gzip' }).end(current);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bundles/verdict.tar.gz`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('fetches, then asks with If-None-Match and gets nothing new until the bundle changes', async () => {
    const src = httpSource({ url, pollMs: 1000, token: 'bundle-token' });
    const first = await src.fetch(null);
    expect(manifestRevision(first!.files)).toBe('rev-a');
    expect(await src.fetch(first!.version)).toBeNull();
    current = bundleB;
    const next = await src.fetch(first!.version);
    expect(manifestRevision(next!.files)).toBe('rev-b');
    expect(seen.map((s) => s.status)).toEqual([200, 304, 200]);
    expect(seen[1]!.inm).toBe(first!.version);
    expect(seen.every((s) => s.auth === 'Bearer bundle-token')).toBe(true);
  });

  it('refuses plain http off loopback (the token would travel in the clear), and reports HTTP errors', async () => {
    expect(() => httpSource({ url: 'http://bundles.example.com/b.tar.gz', pollMs: 1000 })).toThrow(/must use https/);
    expect(() => httpSource({ url: 'http://bundles.example.com/b.tar.gz', pollMs: 1000 })).toThrow(expect.objectContaining({ code: 'SOURCE_INSECURE_URL' }));
    const missing = httpSource({ url: url.replace('/bundles/', '/nothing/'), pollMs: 1000 });
    server.removeAllListeners('request');
    server.on('request', (_req, res) => res.writeHead(404).end());
    await expect(missing.fetch(null)).rejects.toThrow(BundleSourceError);
    await expect(missing.fetch(null)).rejects.toMatchObject({ code: 'SOURCE_FETCH_FAILED', message: expect.stringMatching(/answered HTTP 404/) });
  });
});

describe('githubReleaseSource (octokit against the simulator)', () => {
  let sim: GitHubSimulator;
  let releases: ReleasesSimulator;
  const checker = openApiChecker();
  beforeAll(async () => {
    releases = simulatorReleases();
    sim = await startGitHubSimulator({ tokens: [{ token: 'gw-token', login: 'verdict-gateway', permissions: { contents: 'read' } }], repos: [{ owner: 'acme', name: 'policies', private: true }], plugins: [releases.plugin] });
  });
  afterAll(async () => {
    checker.assertAll(sim.requests);
    await sim.close();
  });

  it('reads the latest release asset, polls with ETags, and follows a new release', async () => {
    const r1 = releases.publish('acme/policies', { tag: 'policy-1' });
    releases.attach('acme/policies', r1, 'bundle.tar.gz', bundleA);
    const client = await createGitHubClient({ auth: { token: 'gw-token' }, baseUrl: sim.baseUrl });
    const src = githubReleaseSource({ client, owner: 'acme', repo: 'policies', asset: 'bundle.tar.gz', pollMs: 60_000 });
    const first = await src.fetch(null);
    expect(manifestRevision(first!.files)).toBe('rev-a');
    expect(await src.fetch(first!.version)).toBeNull();
    const latest = sim.requests.filter((r) => r.route === '/repos/{owner}/{repo}/releases/latest').map((r) => r.status);
    expect(latest).toEqual([200, 304]); // the second poll costs no rate limit
    const r2 = releases.publish('acme/policies', { tag: 'policy-2' });
    releases.attach('acme/policies', r2, 'bundle.tar.gz', bundleB);
    const next = await src.fetch(first!.version);
    expect(manifestRevision(next!.files)).toBe('rev-b');
    const other = githubReleaseSource({ client, owner: 'acme', repo: 'policies', asset: 'nope.tar.gz', pollMs: 60_000 });
    await expect(other.fetch(null)).rejects.toThrow(/has no asset named nope\.tar\.gz/);
    await expect(other.fetch(null)).rejects.toMatchObject({ code: 'SOURCE_RELEASE_UNAVAILABLE' });
    const pinned = githubReleaseSource({ client, owner: 'acme', repo: 'policies', asset: 'bundle.tar.gz', tag: 'policy-1', pollMs: 60_000 });
    expect(manifestRevision((await pinned.fetch(null))!.files)).toBe('rev-a');
  });

  it('a gateway follows the release: policy.source.github', async () => {
    const r3 = releases.publish('acme/policies', { tag: 'policy-3' });
    releases.attach('acme/policies', r3, 'bundle.tar.gz', bundleA);
    const stack = await startStack({
      policy: { source: { github: { owner: 'acme', repo: 'policies', token: { value: 'gw-token' }, base_url: sim.baseUrl }, poll_seconds: 60 } },
    });
    try {
      expect(stack.gateway.revision).toBe('rev-a');
      const c = new pg.Client(await stack.client('alice'));
      await c.connect();
      const r4 = releases.publish('acme/policies', { tag: 'policy-4' });
      releases.attach('acme/policies', r4, 'bundle.tar.gz', bundleB);
      expect(await stack.gateway.policy.check()).toMatchObject({ outcome: 'activated', revision: 'rev-b', previous: 'rev-a' });
      expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
      await c.end();
      expect(stack.gateway.policy.status()).toMatchObject({ revision: 'rev-b', source: 'github:acme/policies@latest#bundle.tar.gz' });
    } finally {
      await stack.stop();
    }
  });
});
