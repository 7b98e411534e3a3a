// Rerun-mode approvals (policy variant) and graceful shutdown, each on a stack of its own.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { decideLocally } from '../approvals/local.ts';
import { policiesDir } from '../policy/paths.ts';
import { policyBuild } from '../policy/toolchain.ts';
import { startStack, type TestStack } from '../testing/stack.ts';

const dirs: string[] = [];
const stacks: TestStack[] = [];
afterAll(async () => {
  for (const s of stacks) await s.stop().catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The default policy with approvals in rerun mode, compiled to its own bundle. */
function rerunBundle(): string {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-rerun-'));
  dirs.push(dir);
  cpSync(policiesDir, join(dir, 'policies'), { recursive: true });
  const data = join(dir, 'policies', 'access', 'data.yaml');
  writeFileSync(data, readFileSync(data, 'utf8').replace('  mode: hold', '  mode: rerun'));
  return policyBuild({ out: join(dir, 'bundle.tar.gz'), revision: 'rerun', source: join(dir, 'policies') }).path;
}

describe('rerun mode', () => {
  it('refuses with a request id; once approved, the identical statement by the same identity runs once', { timeout: 60_000 }, async () => {
    const stack = await startStack({}, { bundle: rerunBundle() });
    stacks.push(stack);
    const bob = new pg.Client(await stack.client('bob'));
    await bob.connect();
    const first = (await bob.query('DELETE FROM visits').catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
    expect(first.code).toBe('42501');
    const id = /Request (req-[0-9a-z]+) was filed/.exec(first.message)?.[1];
    expect(id).toMatch(/^req-[0-9a-z]+$/);
    expect(first.message).toContain('run the identical statement again');
    await decideLocally(join(stack.dir, 'approvals'), id!, 'approved', { sub: 'user:carol', username: 'carol', groups: ['phi-approvers'] });
    // A different statement is not covered, even by the same identity.
    const other = (await bob.query('DELETE FROM patients').catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
    expect(other.code).toBe('42501');
    expect(other.message).not.toContain(id!);
    // Another identity re-running the identical statement is not covered either.
    const alice = new pg.Client(await stack.client('alice'));
    await alice.connect();
    const foreign = (await alice.query('DELETE FROM visits').catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
    expect(foreign.code).toBe('42501');
    await alice.end();
    // The requester re-runs it: it executes, once.
    expect((await bob.query('DELETE FROM visits')).rowCount).toBe(6);
    const again = (await bob.query('DELETE FROM visits').catch((e: pg.DatabaseError) => e)) as pg.DatabaseError;
    expect(again.code).toBe('42501');
    expect(again.message).not.toContain(id!);
    await bob.end();
  });
});

describe('graceful shutdown', () => {
  it('lets an in-flight statement finish, then ends sessions with 57P01 and stops accepting', { timeout: 60_000 }, async () => {
    const stack = await startStack({ limits: { shutdown_grace_ms: 5000, max_message_bytes: 16777216, auth_timeout_ms: 10000, max_connections: 100 } });
    const c = new pg.Client(await stack.client('alice'));
    const errors: (Error & { code?: string })[] = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    const running = c.query('SELECT pg_sleep(0.8), 42 AS answer');
    await new Promise((r) => setTimeout(r, 100));
    const closing = stack.gateway.close();
    expect((await running).rows[0].answer).toBe(42);
    await closing;
    await new Promise((r) => setTimeout(r, 100));
    expect(errors.map((e) => e.code)).toContain('57P01');
    const late = new pg.Client(await stack.client('alice'));
    await expect(late.connect()).rejects.toThrow(/ECONNREFUSED/);
    await c.end().catch(() => undefined);
    await stack.issuer.close();
    await stack.pg.stop();
    rmSync(stack.dir, { recursive: true, force: true });
  });
});
