// Three gateway processes behind HAProxy, sharing one PostgreSQL, the GitHub simulator, one policy source and
// one evidence repository. Approvals: requested through replica A, the review's webhook delivered to replica B
// only, A's client released once, in under 2 s. Policy: a newer signed bundle reaches all three, an older one
// is refused by all. kill -9 of a replica mid-session: its client gets a clean error and reconnects through
// HAProxy; no approved statement runs twice. MCP calls spread over the replicas with no affinity. Every
// replica's chain verifies with no gaps.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyRepository } from '../evidence/verify.ts';
import { rolloutStatus } from '../ops/status.ts';
import { callTool, v2Client } from '../testing/mcp-clients.ts';
import { evidenceEvents } from '../testing/evidence.ts';
import { startReplicaSet, type ReplicaSet } from '../testing/replicas.ts';
import { WEBHOOK_SECRET } from '../testing/github-stack.ts';
import { until } from '../testing/until.ts';

let set: ReplicaSet;

beforeAll(async () => {
  set = await startReplicaSet(3);
}, 240_000);
afterAll(async () => set?.stop(), 60_000);


const direct = async (port: number, user: string) => {
  const c = new pg.Client({ host: '127.0.0.1', port, user, database: 'clinic', password: await set.issuer.mint(user) });
  c.on('error', () => undefined);
  await c.connect();
  return c;
};
const visits = async () => {
  const c = new pg.Client({ connectionString: set.pg.url });
  await c.connect();
  try {
    return Number((await c.query('SELECT count(*)::int AS n FROM visits')).rows[0].n);
  } finally {
    await c.end();
  }
};

describe('three replicas behind HAProxy', () => {
  it('all serve the same signed revision: the rollout is complete', async () => {
    await set.balanced();
    const s = await rolloutStatus(set.replicas.map((r) => r.adminUrl));
    expect(s.replicas.map((r) => [r.instance, r.ready, r.revision])).toEqual([
      ['gw-a', true, 'rev-100'],
      ['gw-b', true, 'rev-100'],
      ['gw-c', true, 'rev-100'],
    ]);
    expect(s.complete).toBe(true);
  });

  it('a review delivered to replica B releases the client waiting on replica A, once, within 2 s', async () => {
    const [a, b] = set.replicas;
    set.webhooks.removeHooks();
    set.webhooks.addHook({ url: `${b!.adminUrl}/github/webhook`, secret: WEBHOOK_SECRET });
    const before = await visits();
    const bob = await direct(a!.pgPort, 'bob');
    const notices: { detail?: string }[] = [];
    bob.on('notice', (n) => notices.push(n));
    const held = bob.query("DELETE FROM visits WHERE reason = 'cough' OR true");
    await until('the request', async () => notices.length, (n) => n > 0);
    const id = /request (req-[0-9a-z]+)/.exec(notices[0]!.detail ?? '')![1]!;
    const pr = set.pulls.pulls('acme/approvals').find((p) => p.title.includes(id))!;
    expect(pr).toBeDefined();
    const t0 = Date.now();
    set.pulls.review('acme/approvals', pr.number, { login: 'carol', state: 'APPROVED' });
    const result = await held;
    const released = Date.now() - t0;
    expect(result.rowCount).toBe(before);
    expect(released).toBeLessThan(2000);
    // B got the webhook, A did not: A found the approval itself, with GitHub as the shared truth.
    expect(set.webhooks.deliveries.filter((d) => d.event === 'pull_request_review').every((d) => d.url.startsWith(b!.adminUrl))).toBe(true);
    // Executed once: the once-only tag exists, and a second consume anywhere would fail.
    const tags = set.sim.repo('acme', 'approvals').refs;
    expect([...tags.keys()].filter((r) => r === `refs/tags/verdict-used/${id}`)).toHaveLength(1);
    expect(await visits()).toBe(0);
    await bob.end();
    await set.pg.exec("INSERT INTO visits (patient_id, visit_date, reason) SELECT 1, '2026-01-01', 'restored' FROM generate_series(1, 6)");
    for (const r of set.replicas) set.webhooks.addHook({ url: `${r.adminUrl}/github/webhook`, secret: WEBHOOK_SECRET });
  });

  it('a newer signed bundle reaches all three; an older one is refused by all', async () => {
    set.publishBundle('rev-200', 200);
    const s = await until('rev-200 everywhere', () => rolloutStatus(set.replicas.map((r) => r.adminUrl)), (x) => x.complete && x.revisions[0]?.revision === 'rev-200');
    expect(s.revisions).toEqual([{ revision: 'rev-200', replicas: 3 }]);
    set.publishBundle('rev-150', 150);
    const refused = await until('rev-150 refused everywhere', () => rolloutStatus(set.replicas.map((r) => r.adminUrl)), (x) => x.replicas.every((r) => /rev-150/.test(r.last_error ?? '')));
    expect(refused.replicas.map((r) => r.revision)).toEqual(['rev-200', 'rev-200', 'rev-200']);
    expect(refused.complete).toBe(true);
  });

  it('kill -9 of a replica mid-session: a clean error, a reconnect through HAProxy works, nothing runs twice', async () => {
    const clients = [];
    for (let i = 0; i < 3; i++) clients.push(await direct(set.balancer.pgPort, 'alice'));
    for (const c of clients) expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    const before = await visits();
    const victim = set.replicas[2]!;
    await set.kill(victim, 'SIGKILL');
    const outcomes = await Promise.all(
      clients.map((c) =>
        Promise.race([
          c.query('SELECT 1 AS one').then(() => 'ok', (e: Error) => `error: ${e.message}`),
          new Promise<string>((r) => setTimeout(() => r('hung'), 10_000)),
        ]),
      ),
    );
    expect(outcomes.filter((o) => o === 'hung')).toEqual([]);
    expect(outcomes.filter((o) => o.startsWith('error')).length).toBe(1); // round robin: one client was on the victim
    expect(outcomes.filter((o) => o === 'ok').length).toBe(2);
    for (const c of clients) await c.end().catch(() => undefined);
    // Reconnect through HAProxy: every new session lands on a live replica.
    for (let i = 0; i < 4; i++) {
      const c = await direct(set.balancer.pgPort, 'alice');
      expect((await c.query('SELECT count(*)::int AS n FROM patients')).rows[0].n).toBeGreaterThan(0);
      await c.end();
    }
    expect(await visits()).toBe(before);
    await set.start(victim); // it comes back, recovers its spool and publishes what it had
    await set.balanced();
  });

  it('MCP calls spread over the replicas without affinity', async () => {
    const token = await set.issuer.mint('bob', { audience: set.balancer.mcpUrl });
    const client = await v2Client(set.balancer.mcpUrl, token, { name: 'scale-test', version: '1.0.0' });
    try {
      for (let i = 0; i < 6; i++) {
        const r = await callTool(client, 'query', { sql: 'SELECT id, name FROM patients ORDER BY id LIMIT 2' });
        expect(r.isError ?? false, JSON.stringify(r)).toBe(false);
        expect(JSON.stringify(r.structuredContent)).not.toMatch(/Ada Lovelace/); // masked for bob on every replica
      }
    } finally {
      await client.close();
    }
    const streams = await until(
      'MCP sessions in evidence',
      async () => [...new Set(evidenceEvents(join(set.dir, 'evidence')).filter((e) => e.type === 'session_start' && e.data.front_door === 'mcp').map((e) => (e as unknown as { stream: string }).stream))].sort(),
      (s) => s.length >= 3,
    );
    expect(streams).toEqual(['gw-a', 'gw-b', 'gw-c']);
  });

  it('every replica has its own chain in the shared repository; all verify with no gaps', async () => {
    for (const r of set.replicas) await set.kill(r, 'SIGTERM'); // graceful: seal and publish
    const clone = join(set.dir, 'clone');
    execFileSync('git', ['clone', '-q', join(set.dir, 'evidence', 'repo'), clone]);
    const report = await verifyRepository(clone);
    expect(report.findings.filter((f) => f.severity === 'error'), JSON.stringify(report.findings.slice(0, 5))).toEqual([]);
    expect(report.findings.filter((f) => f.code === 'GAP_RECORDED')).toEqual([]);
    expect(report.streams.map((s) => s.stream).sort()).toEqual(['gw-a', 'gw-b', 'gw-c']);
    for (const s of report.streams) expect(s.lines).toBeGreaterThan(3);
  });
});
