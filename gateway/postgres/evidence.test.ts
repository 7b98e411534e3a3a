// Evidence from real sessions: every decision, result, session and approval lands in the evidence
// repository, an auditor's clone verifies clean; and a spool that cannot be written refuses statements.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvidenceError } from '../../engine/evidence/errors.ts';
import { verifyRepository } from '../evidence/verify.ts';
import { readFileSync, readdirSync } from 'node:fs';
import { startGateway } from '../server.ts';
import { createLogger } from '../ops/log.ts';
import { startStack, type TestStack } from '../testing/stack.ts';

const run = promisify(execFile);
let stack: TestStack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => stack?.stop());

describe('evidence from gateway sessions', () => {
  it('records sessions, decisions and results, and a clone of the repository verifies clean', async () => {
    const c = new pg.Client(await stack.client('bob'));
    await c.connect();
    await c.query('SELECT name, ssn FROM patients WHERE id = 1');
    await c.query("SELECT pg_read_file('/etc/passwd')").catch(() => undefined);
    for (const id of [1, 2]) await c.query({ name: 'visit', text: 'SELECT id FROM visits WHERE id = $1', values: [id] });
    await c.end();
    await stack.gateway.close(); // seals and publishes
    const repo = join(stack.dir, 'evidence', 'repo');
    const clone = join(stack.dir, 'clone');
    await run('git', ['clone', '-q', repo, clone]);
    const report = await verifyRepository(clone);
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    const lines = readdirSync(clone, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.jsonl') && !e.parentPath.includes('.git'))
      .sort((a, b) => join(a.parentPath, a.name).localeCompare(join(b.parentPath, b.name)))
      .flatMap((e) => readFileSync(join(e.parentPath, e.name), 'utf8').trim().split('\n'))
      .map((l) => ({ event: JSON.parse(l) as { type: string; data: Record<string, unknown> } }));
    const types = lines.map((l) => l.event.type);
    expect(types).toContain('gateway_start');
    expect(types).toContain('policy_bundle_loaded');
    expect(types).toContain('session_start');
    expect(types).toContain('session_end');
    expect(types).toContain('gateway_stop');
    const statements = lines.filter((l) => l.event.type === 'statement').map((l) => l.event.data);
    expect(statements.map((s) => [s.text, s.action])).toEqual([
      ['SELECT name, ssn FROM patients WHERE id = 1', 'mask'],
      ["SELECT pg_read_file('/etc/passwd')", 'deny'],
      ['SELECT id FROM visits WHERE id = $1', 'allow'], // decided once at Parse
    ]);
    expect(statements[0]!.input_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(statements[0]!.policy_revision).toBe('test-stack');
    const results = lines.filter((l) => l.event.type === 'statement_result').map((l) => l.event.data);
    expect(results.map((r) => [r.decision_id, r.outcome, r.rows])).toEqual([
      [statements[0]!.decision_id, 'ok', 1],
      [statements[1]!.decision_id, 'refused', null],
      [statements[2]!.decision_id, 'ok', 1], // every execution of the prepared statement
      [statements[2]!.decision_id, 'ok', 1],
    ]);
  });
});

describe('require_durable', () => {
  it('refuses statements when evidence cannot be made durable, and keeps serving', async () => {
    const broken = {
      stream: 'broken',
      requireDurable: true,
      recovery: {} as never,
      append: async () => {
        throw new EvidenceError('SPOOL_UNAVAILABLE', 'disk full');
      },
      flush: async () => true,
      rotateKey: async () => 'k',
      status: () => ({ writable: false }) as never,
      close: async () => undefined,
    };
    const gw = await startGateway({ ...stack.config, listen: { postgres: { host: '127.0.0.1', port: 0 }, admin: null } }, { log: createLogger('error'), evidence: broken });
    try {
      const c = new pg.Client({ ...(await stack.client('alice')), port: gw.address.port });
      await c.connect();
      const err = (await c.query("INSERT INTO visits (patient_id, visit_date) VALUES (1, '2026-05-01')").catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
      expect(err.code).toBe('58030');
      expect(err.message).toContain('audit evidence could not be written');
      await c.end();
      const admin = new pg.Client({ connectionString: stack.pg.url });
      await admin.connect();
      expect((await admin.query("SELECT count(*)::int AS n FROM visits WHERE visit_date = '2026-05-01'")).rows[0].n).toBe(0);
      await admin.end();
    } finally {
      await gw.close();
    }
  });
});

describe('evidence published to GitHub', () => {
  it('commits sealed batches to the evidence repository through the git data API (simulator)', { timeout: 60_000 }, async () => {
    const { startGitHubSimulator } = await import('../testing/github-sim/simulator.ts');
    const sim = await startGitHubSimulator({ tokens: [{ token: 'ghp_evidence_test', login: 'verdict-bot' }] });
    const repo = sim.createRepo('acme', 'evidence');
    repo.commitFiles('main', { 'README.md': '# evidence\n' }, 'init');
    process.env.VERDICT_TEST_GH_TOKEN = 'ghp_evidence_test';
    const gh = await startStack({
      evidence: {
        instance: 'gh-gw',
        spool_dir: join(stack.dir, 'gh-spool'),
        batch: { max_lines: 1000, max_age_ms: 200 },
        publisher: { kind: 'github', owner: 'acme', repo: 'evidence', branch: 'main', base_url: sim.baseUrl, token: { env: 'VERDICT_TEST_GH_TOKEN' } },
      },
    });
    try {
      const c = new pg.Client(await gh.client('alice'));
      await c.connect();
      await c.query('SELECT name FROM patients WHERE id = 2');
      await c.end();
      await gh.gateway.close();
      const files = [...repo.files('main').keys()];
      expect(files.some((f) => /^streams\/gh-gw\/\d{4}\/\d{2}\/\d{2}\/000000000001\.jsonl$/.test(f))).toBe(true);
      expect(files.some((f) => f.endsWith('.checkpoint.jws'))).toBe(true);
      const text = [...repo.files('main').entries()].filter(([f]) => f.endsWith('.jsonl')).map(([, b]) => b.toString()).join('');
      expect(text).toContain('SELECT name FROM patients WHERE id = 2');
    } finally {
      await gh.stop();
      await sim.close();
    }
  });
});
