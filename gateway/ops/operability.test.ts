// What operators see: /metrics after real traffic (decisions by door, upstream round trips, evidence,
// approvals, bundle revision), and a frozen upstream — the client's own error (08006 naming the upstream,
// within the upstream's connect timeout) and /readyz not ready until an upstream answers again.
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideLocally, readLocalRequest } from '../approvals/local.ts';
import { policyBuild } from '../policy/toolchain.ts';
import { startStack, startTestGateway, type TestStack } from '../testing/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startStack();
}, 180_000);
afterAll(async () => stack?.stop());

async function scrape(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** The value of one sample (`name{labels}`) in a Prometheus text exposition, or null. */
function sample(text: string, series: string): number | null {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : null;
}

describe('/metrics after traffic', () => {
  it('counts decisions by action and door, observes upstream round trips, evidence and the bundle', async () => {
    const c = new pg.Client(await stack.client('bob'));
    await c.connect();
    try {
      await c.query('SELECT name FROM patients WHERE id = 1'); // mask
      await c.query({ text: 'SELECT count(*) FROM visits WHERE id > $1', values: [0] }); // allow, extended protocol
      await c.query("SELECT pg_read_file('/etc/passwd')").catch(() => undefined); // deny
    } finally {
      await c.end();
    }
    const m = await scrape(stack.gateway.adminAddress!.port);
    expect(sample(m, 'verdict_decisions_total{action="mask",front_door="postgres"}')).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'verdict_decisions_total{action="deny",front_door="postgres"}')).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'verdict_decisions_total{action="allow",front_door="postgres"}')).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'verdict_statements_total{action="deny"}')).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'verdict_upstream_seconds_count')).toBeGreaterThanOrEqual(2); // the masked Query and the Sync (a denial's stand-in is not timed)
    expect(sample(m, 'verdict_evidence_durable_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'verdict_evidence_queue_events')).not.toBeNull();
    expect(sample(m, 'verdict_evidence_publish_lag_seconds')).not.toBeNull();
    expect(sample(m, 'verdict_evidence_publish_failures_total')).toBe(0);
    expect(sample(m, 'verdict_policy_revision_info{revision="test-stack",sequence=""}')).toBe(1);
    expect(sample(m, 'verdict_policy_reloads_total{outcome="activated"}')).toBe(1);
    expect(sample(m, 'verdict_upstream_up{upstream="clinic"}')).toBe(1);
  });

  it('counts an approval requested, pending while held, and its outcome and wait', async () => {
    const notices: { detail?: string }[] = [];
    const bob = new pg.Client(await stack.client('bob'));
    bob.on('notice', (n) => notices.push(n));
    await bob.connect();
    try {
      const running = bob.query("DELETE FROM visits WHERE reason <> 'none'").catch((e: Error) => e);
      for (let i = 0; i < 200 && notices.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      const id = /request (req-[0-9a-z]+)/.exec(notices[0]?.detail ?? '')?.[1];
      expect(id).toMatch(/^req-[0-9a-z]+$/);
      // The approver sees the write's measured blast radius (verdict approvals show).
      expect((await readLocalRequest(join(stack.dir, 'approvals'), id!)).blast_radius).toEqual({ method: 'count', rows: 6, table_rows: 6, error: null });
      const held = await scrape(stack.gateway.adminAddress!.port);
      expect(sample(held, 'verdict_approvals_pending')).toBe(1);
      expect(sample(held, 'verdict_approvals_requested_total{mode="hold"}')).toBe(1);
      await decideLocally(join(stack.dir, 'approvals'), id!, 'rejected', { sub: 'user:carol', username: 'carol', groups: ['phi-approvers'] });
      expect(await running).toBeInstanceOf(Error);
      const after = await scrape(stack.gateway.adminAddress!.port);
      expect(sample(after, 'verdict_approvals_pending')).toBe(0);
      expect(sample(after, 'verdict_approvals_decided_total{outcome="rejected"}')).toBe(1);
      expect(sample(after, 'verdict_approval_wait_seconds_count')).toBe(1);
    } finally {
      await bob.end();
    }
  });
});

describe('a frozen upstream', () => {
  let dir: string;
  let frozen: net.Server;
  const held: net.Socket[] = [];
  let gw: Awaited<ReturnType<typeof startTestGateway>> | null = null;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'verdict-frozen-'));
    // Accepts and never answers: a server that hangs (a stopped VM, a full accept queue behind a proxy).
    frozen = net.createServer((s) => void held.push(s));
    await new Promise<void>((resolve) => frozen.listen(0, '127.0.0.1', resolve));
    const port = (frozen.address() as net.AddressInfo).port;
    gw = await startTestGateway(dir, 'frozen-gw', (issuer) => ({
      listen: { postgres: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
      identity: { issuer: issuer.issuer, audience: 'verdict', jwks_url: issuer.jwksUrl },
      upstreams: { frozen: { host: '127.0.0.1', port, database: 'frozen', user: 'verdict', password: { value: 'x' }, tls: { mode: 'disable' }, connect_timeout_ms: 400 } },
      limits: { auth_timeout_ms: 10_000 },
      policy: { bundle: policyBuild({ out: join(dir, 'bundle.tar.gz'), revision: 'frozen' }).path },
    }));
  }, 180_000);
  afterAll(async () => {
    await gw?.gateway.close();
    await gw?.issuer.close();
    for (const s of held) s.destroy();
    frozen?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the client is told 08006 naming the upstream, within its connect timeout, not that its own authentication timed out', async () => {
    const started = Date.now();
    const c = new pg.Client({ host: '127.0.0.1', port: gw!.gateway.address.port, user: 'alice', database: 'frozen', password: await gw!.issuer.mint('alice') });
    const err = (await c.connect().then(
      () => null,
      (e: pg.DatabaseError) => e,
    )) as pg.DatabaseError | null;
    expect(err?.code).toBe('08006');
    expect(err?.message).toContain('upstream database "frozen"');
    expect(err?.message).toContain('did not answer within 400 ms');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('/readyz is not ready while no upstream is reachable, and says why', async () => {
    const r = await fetch(`http://127.0.0.1:${gw!.gateway.adminAddress!.port}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.text()).toContain('no upstream is reachable (frozen)');
    const m = await scrape(gw!.gateway.adminAddress!.port);
    expect(sample(m, 'verdict_upstream_up{upstream="frozen"}')).toBe(0);
  });

  it('/readyz of a gateway whose upstream answers is ready', async () => {
    const r = await fetch(`http://127.0.0.1:${stack.gateway.adminAddress!.port}/readyz`);
    expect(r.status).toBe(200);
  });
});
