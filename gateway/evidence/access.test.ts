// The accounting of disclosures from real sessions: a clinician (purpose declared) and a contractor read the
// same PHI through the gateway; `verdict evidence access` says who received which columns unmasked and which
// masked, for what purpose, and its filters select by identity, column, table, purpose and period.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type TestStack } from '../testing/stack.ts';
import type { Disclosure, SessionRow } from './access.ts';
import { evidenceCli as cli } from '../testing/evidence.ts';

const run = promisify(execFile);
let stack: TestStack;
let clone: string;

beforeAll(async () => {
  stack = await startStack();
  const sql = 'SELECT name, ssn FROM patients WHERE id = 1';
  for (const [user, password] of [
    ['alice', undefined],
    ['bob', undefined],
    ['alice', await stack.issuer.mint('alice', { claims: { purpose: null } })], // no purpose: masked, said so
  ] as const) {
    const c = new pg.Client({ ...(await stack.client(user)), ...(password ? { password } : {}) });
    await c.connect();
    await c.query(sql);
    await c.query('SELECT id FROM visits WHERE id = 1'); // no PHI: not a disclosure
    await c.end();
  }
  await stack.gateway.close();
  clone = join(stack.dir, 'clone');
  await run('git', ['clone', '-q', join(stack.dir, 'evidence', 'repo'), clone]);
}, 180_000);
afterAll(async () => stack?.stop());

const access = async (...filters: string[]) => {
  const r = await cli('access', '--repo', clone, '--json', ...filters);
  expect(r.code).toBe(0);
  return (JSON.parse(r.out) as { disclosures: Disclosure[] }).disclosures;
};

describe('verdict evidence access', () => {
  it('says who received which PHI columns unmasked and which masked, and for what purpose', async () => {
    const all = await access();
    expect(all.map((d) => [d.sub, d.purpose, d.unmasked, d.masked, d.outcome, d.rows])).toEqual([
      ['user:alice', 'treatment', ['public.patients.name'], [{ column: 'public.patients.ssn', method: 'partial' }], 'ok', 1],
      ['user:bob', null, [], [{ column: 'public.patients.name', method: 'redact' }, { column: 'public.patients.ssn', method: 'partial' }], 'ok', 1],
      ['user:alice', null, [], [{ column: 'public.patients.name', method: 'redact' }, { column: 'public.patients.ssn', method: 'partial' }], 'ok', 1],
    ]);
  });

  it('filters by identity, column, table, purpose and period', async () => {
    expect((await access('--identity', 'user:bob', '--unmasked')).length).toBe(0);
    expect((await access('--identity', 'alice@clinic.example')).length).toBe(2);
    expect((await access('--column', 'patients.name', '--unmasked')).map((d) => [d.sub, d.unmasked])).toEqual([['user:alice', ['public.patients.name']]]);
    expect((await access('--column', 'ssn')).every((d) => d.unmasked.length === 0 && d.masked.every((m) => m.column === 'public.patients.ssn'))).toBe(true);
    expect((await access('--table', 'visits')).length).toBe(0);
    expect((await access('--purpose', 'treatment')).map((d) => d.sub)).toEqual(['user:alice']);
    expect((await access('--since', '2999-01-01')).length).toBe(0);
    const today = new Date().toISOString().slice(0, 10);
    expect((await access('--since', today, '--until', today)).length).toBe(3);
  });

  it('prints a table, and lists sessions', async () => {
    const table = await cli('access', '--repo', clone, '--identity', 'user:alice');
    expect(table.out.split('\n')[0]).toMatch(/^time\s+identity\s+purpose\s+unmasked\s+masked\s+approval\s+outcome\s+decision$/);
    expect(table.out).toContain('public.patients.name');
    const r = await cli('sessions', '--repo', clone, '--json');
    const sessions = (JSON.parse(r.out) as { sessions: SessionRow[] }).sessions;
    expect(sessions.map((s) => [s.sub, s.purpose, s.statements, s.end_reason])).toEqual([
      ['user:alice', 'treatment', 2, 'client_closed'],
      ['user:bob', null, 2, 'client_closed'],
      ['user:alice', null, 2, 'client_closed'],
    ]);
    expect((await cli('sessions', '--repo', clone)).out).toMatch(/^start\s+end\s+identity/);
  });
});
