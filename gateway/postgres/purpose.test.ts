// Purpose of use, end to end: a clinician's token without a purpose sees PHI masked and is told how to declare
// one; declared by the startup option (pg, psql with PGOPTIONS), a leading comment, the MCP purpose argument,
// or the token's claim, the same PHI is shown; every decision and session records the purpose in force.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evidenceEvents } from '../testing/evidence.ts';
import { callTool, v2Client } from '../testing/mcp-clients.ts';
import { startStack, type TestStack } from '../testing/stack.ts';

const run = promisify(execFile);
let stack: TestStack;
beforeAll(async () => {
  stack = await startStack({ mcp: { host: '127.0.0.1', port: 0 } });
});
afterAll(async () => stack?.stop());

/** alice without the purpose claim the dev issuer stamps on her tokens. */
const noClaim = () => stack.issuer.mint('alice', { claims: { purpose: null } });

async function names(options?: string, sql = 'SELECT name FROM patients WHERE id = 1'): Promise<{ name: string; notices: string[] }> {
  const c = new pg.Client({ ...(await stack.client('alice')), password: await noClaim(), ...(options ? { options } : {}) });
  await c.connect();
  try {
    const r = await c.query(sql);
    return { name: r.rows[0].name as string, notices: [] };
  } finally {
    await c.end();
  }
}

describe('purpose of use', () => {
  it('masks PHI for an entitled role without a purpose, and shows it once one is declared', async () => {
    expect((await names()).name).not.toBe('Ada Lovelace');
    expect((await names('-c verdict.purpose=treatment')).name).toBe('Ada Lovelace');
    expect((await names('-c verdict.purpose=marketing')).name).not.toBe('Ada Lovelace');
    expect((await names(undefined, '/* purpose: payment */ SELECT name FROM patients WHERE id = 1')).name).toBe('Ada Lovelace');
    // the token's claim (the dev issuer stamps treatment on alice's tokens)
    const c = new pg.Client(await stack.client('alice'));
    await c.connect();
    expect((await c.query('SELECT name FROM patients WHERE id = 1')).rows[0].name).toBe('Ada Lovelace');
    await c.end();
  });

  it('works from psql with PGOPTIONS', async () => {
    const url = (await stack.url('alice')).replace(/:[^:@/]+@/, `:${encodeURIComponent(await noClaim())}@`);
    const q = ['-X', '-A', '-t', '-c', 'SELECT name FROM patients WHERE id = 1', url];
    const without = await run('psql', q, { env: { ...process.env, PGOPTIONS: '' } });
    expect(without.stdout.trim()).not.toBe('Ada Lovelace');
    const withPurpose = await run('psql', q, { env: { ...process.env, PGOPTIONS: '-c verdict.purpose=treatment' } });
    expect(withPurpose.stdout.trim()).toBe('Ada Lovelace');
  });

  it('takes the MCP query tool purpose argument', async () => {
    const url = stack.gateway.mcp!.url;
    const mcp = await v2Client(url, await stack.issuer.mint('alice', { audience: url, claims: { purpose: null } }));
    const rows = async (args: Record<string, unknown>) => (await callTool(mcp, 'query', { sql: 'SELECT name FROM patients WHERE id = 1', ...args })).structuredContent as { results: { rows: unknown[][] }[] };
    expect((await rows({})).results[0]!.rows[0]![0]).not.toBe('Ada Lovelace');
    expect((await rows({ purpose: 'treatment' })).results[0]!.rows[0]![0]).toBe('Ada Lovelace');
    await mcp.close();
  });

  it('records the purpose on every decision and session, and the reason when it is missing', async () => {
    await stack.gateway.close();
    const events = evidenceEvents(join(stack.dir, 'evidence'));
    const decided = events.filter((e) => e.type === 'statement' && String(e.data.text).includes('FROM patients WHERE id = 1'));
    expect(decided.map((e) => e.data.purpose)).toEqual([null, 'treatment', 'marketing', 'payment', 'treatment', null, 'treatment', null, 'treatment']);
    const missing = decided[0]!.data.reasons as { rule: string; message: string }[];
    expect(missing).toEqual([{ rule: 'masking.purpose_required', message: expect.stringContaining('none was declared') }]);
    expect(missing[0]!.message).toContain("options='-c verdict.purpose=treatment'");
    const starts = events.filter((e) => e.type === 'session_start').map((e) => e.data.purpose);
    expect(starts).toContain('treatment');
    expect(starts).toContain(null);
  });
});
