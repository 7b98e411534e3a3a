// Nothing left dangling: the real gateway as a child process. Killed with SIGKILL while a session is open and a
// statement waits for approval, its next start records the unclean stop, ends the session and withdraws the
// request, each with a reason. Stopped with SIGTERM after its stdout and stderr went away, it still records
// its stop.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvidenceRecord } from '../../engine/evidence/events.ts';
import { verifyEvidence } from '../../engine/evidence/verify.ts';
import { decideLocally } from '../approvals/local.ts';
import { startDevIssuer, type DevIssuer } from '../identity/dev-issuer.ts';
import { policyBuild } from '../policy/toolchain.ts';
import { startTestPostgres, type TestPostgres } from '../testing/postgres.ts';
import { CLINIC_SQL } from '../testing/stack.ts';
import { directoryFiles, verifyRepository } from './verify.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let pgServer: TestPostgres;
let issuer: DevIssuer;
let bundle: string;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'verdict-unclean-'));
  pgServer = await startTestPostgres({ auth: 'scram-sha-256', password: 'gateway-secret-pw' });
  await pgServer.exec(CLINIC_SQL);
  issuer = await startDevIssuer({ audience: 'verdict' });
  bundle = policyBuild({ out: join(dir, 'bundle.tar.gz'), revision: 'unclean-stop' }).path;
}, 180_000);
afterAll(async () => {
  await issuer?.close();
  await pgServer?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A config for one gateway instance whose files live under `base`. */
function writeConfig(base: string): string {
  const config = {
    listen: { postgres: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 } },
    identity: { issuer: issuer.issuer, audience: 'verdict', jwks_url: issuer.jwksUrl },
    upstreams: { clinic: { host: '127.0.0.1', port: pgServer.port, database: pgServer.database, user: pgServer.user, password: { value: 'gateway-secret-pw' }, tls: { mode: 'disable' } } },
    policy: { bundle },
    approvals: { state_dir: join(base, 'approvals'), hold_timeout_seconds: 120 },
    masking: { hash_key: { value: 'test-hash-key' } },
    evidence: { instance: 'gw-unclean', spool_dir: join(base, 'spool'), publisher: { kind: 'local-git', repo: join(base, 'repo'), branch: 'main' }, batch: { max_lines: 1000, max_age_ms: 100 } },
    log: { level: 'info' },
  };
  const path = join(base, 'verdict.yaml');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/** Starts `verdict gateway` as one node process (tsx as a loader, so signals reach the gateway itself); resolves with its port once it listens. */
async function startChild(config: string): Promise<{ child: ChildProcess; port: number; exited: Promise<{ code: number | null; signal: string | null }> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'gateway', 'cli', 'main.ts'), 'gateway', '--config', config], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let out = '';
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /gateway on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    void exited.then(({ code }) => reject(new Error(`gateway exited ${code} before listening: ${err.slice(-2000)}`)));
  });
  return { child, port, exited };
}

async function connect(port: number, user: string, notices: string[] = []): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user, database: 'clinic', password: await issuer.mint(user) });
  c.on('notice', (n) => notices.push(n.detail ?? ''));
  c.on('error', () => undefined); // the gateway is killed under it
  await c.connect();
  return c;
}

/** Every line of a published evidence repository, after checking it verifies without errors. */
async function publishedRecords(base: string): Promise<EvidenceRecord[]> {
  const clone = join(base, `clone-${Date.now()}`);
  execFileSync('git', ['clone', '-q', join(base, 'repo'), clone]);
  const report = await verifyRepository(clone);
  expect(report.findings.filter((f) => f.severity === 'error')).toEqual([]);
  const out: EvidenceRecord[] = [];
  await verifyEvidence(directoryFiles(clone), { onRecord: (r) => out.push(r) });
  return out;
}

async function waitGone(pid: number): Promise<void> {
  for (let i = 0; i < 200 && existsSync(`/proc/${pid}`) && !/\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); i++) await new Promise((r) => setTimeout(r, 50));
}

describe('an unclean stop (kill -9) is closed on the next start', () => {
  it('records the stop, ends the open sessions and withdraws the held approval, each with a reason', { timeout: 180_000 }, async () => {
    const base = mkdtempSync(join(dir, 'kill-'));
    const config = writeConfig(base);
    const first = await startChild(config);
    const alice = await connect(first.port, 'alice');
    expect((await alice.query('SELECT count(*)::int AS n FROM visits')).rows).toEqual([{ n: 6 }]);
    const notices: string[] = [];
    const bob = await connect(first.port, 'bob', notices);
    const held = bob.query("DELETE FROM visits WHERE reason = 'cough' OR true").catch((e: Error) => e);
    for (let i = 0; i < 400 && notices.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    const requestId = /request (req-[0-9a-z]+)/.exec(notices[0] ?? '')?.[1];
    expect(requestId).toBeDefined();
    await new Promise((r) => setTimeout(r, 500)); // the request's evidence is posted before the NOTICE; let it reach the disk

    const pid = Number(readFileSync(join(base, 'spool', 'gw-unclean', 'LOCK'), 'utf8'));
    expect(pid).toBe(first.child.pid);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    await waitGone(pid);
    expect(await held).toBeInstanceOf(Error); // the connection died with the gateway
    await Promise.all([alice.end().catch(() => undefined), bob.end().catch(() => undefined)]);

    const second = await startChild(config);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);

    const records = await publishedRecords(base);
    const sessions = records.filter((r) => r.type === 'session_start').map((r) => (r.type === 'session_start' ? r.data.session_id : ''));
    expect(sessions).toHaveLength(2);
    const unclean = records.findIndex((r) => r.type === 'gateway_unclean_stop');
    expect(unclean).toBeGreaterThan(0);
    const stop = records[unclean]!;
    expect(stop.data).toMatchObject({ open_sessions: 2, held_approvals: 1, detail: expect.stringContaining('stopped without recording its stop') });
    // the unclean stop is recorded before the new run starts, and every closing line says why
    const nextStart = records.findIndex((r, i) => i > unclean && r.type === 'gateway_start');
    expect(nextStart).toBeGreaterThan(unclean);
    const ends = records.filter((r) => r.type === 'session_end');
    expect(ends.map((r) => (r.type === 'session_end' ? [r.data.session_id, r.data.reason] : [])).sort()).toEqual(sessions.map((s) => [s, 'gateway_unclean_stop']).sort());
    const aliceEnd = ends.find((r) => r.type === 'session_end' && r.data.statements === 1);
    expect(aliceEnd).toBeDefined();
    const withdrawn = records.filter((r) => r.type === 'approval_withdrawn');
    expect(withdrawn.map((r) => r.data)).toEqual([{ request_id: requestId, by: null, reason: expect.stringContaining('gateway_unclean_stop') }]);
    expect(records.filter((r) => r.type === 'gateway_stop').map((r) => (r.type === 'gateway_stop' ? r.data.reason : ''))).toEqual(['shutdown']);
    // and the provider no longer takes an approval for it: the statement can never run
    await expect(decideLocally(join(base, 'approvals'), requestId!, 'approved', { sub: 'user:carol', username: 'carol', groups: ['phi-approvers'] })).rejects.toThrow(/withdrawn/);
  });
});

describe('a stop after stdout and stderr went away', () => {
  it('is still recorded (gateway_stop), with no unclean stop on the next start', { timeout: 180_000 }, async () => {
    const base = mkdtempSync(join(dir, 'epipe-'));
    const config = writeConfig(base);
    const gw = await startChild(config);
    gw.child.stdout!.destroy();
    gw.child.stderr!.destroy();
    const alice = await connect(gw.port, 'alice'); // sessions log to the broken stderr
    await alice.query('SELECT 1');
    await alice.end();
    gw.child.kill('SIGTERM');
    expect(await gw.exited).toEqual({ code: 0, signal: null });
    const records = await publishedRecords(base);
    expect(records.at(-1)).toMatchObject({ type: 'gateway_stop', data: { reason: 'shutdown' } });
    expect(records.some((r) => r.type === 'gateway_unclean_stop')).toBe(false);
  });
});
