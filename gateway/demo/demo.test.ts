// The embedded default as a new user meets it: PGlite + dev issuer + gateway, a token minted the way
// `npx verdict token` does, psql through the gateway, the admin endpoints, and a clean stop.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import snowflake from 'snowflake-sdk';
import pg from 'pg';
import { decideLocally } from '../approvals/local.ts';
import { mintWithStoredKey } from '../identity/dev-issuer.ts';
import { policyBuild } from '../policy/toolchain.ts';
import { startDemo, walkthrough, type Demo } from './demo.ts';

const run = promisify(execFile);
snowflake.configure({ logLevel: 'OFF' });
let demo: Demo;
let state: string;

beforeAll(async () => {
  policyBuild({}); // the demo serves the default bundle, as `npm start` builds it
  state = mkdtempSync(join(tmpdir(), 'verdict-demo-'));
  demo = await startDemo({ ports: { gateway: 0, admin: 0, issuer: 0, mcp: 0, snowflake: 0 }, stateDir: state, quiet: true });
}, 120_000);
afterAll(async () => {
  await demo?.stop();
  if (state) rmSync(state, { recursive: true, force: true });
});

describe('embedded default (npm start)', () => {
  it('prints a walkthrough with working commands', () => {
    const text = walkthrough(demo.gateway);
    expect(text).toContain(`port=${demo.gateway.address.port} dbname=clinic`);
    expect(text).toContain('npx verdict token bob');
    expect(text).toContain('npx verdict approve <request-id> --as carol');
    expect(text).toContain(demo.gateway.mcp!.url);
    expect(text).toContain('npx verdict token bob --mcp');
  });

  it('serves the same masked rows to an MCP agent with a token for the MCP endpoint', async () => {
    const token = await mintWithStoredKey(join(state, 'dev-issuer'), 'bob', { audience: demo.gateway.mcp!.url });
    const client = new Client({ name: 'demo-agent', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new StreamableHTTPClientTransport(new URL(demo.gateway.mcp!.url), { authProvider: { token: async () => token } }));
    const r = (await client.callTool({ name: 'query', arguments: { sql: 'SELECT name, ssn, dob FROM patients ORDER BY id LIMIT 2' } })) as { structuredContent: { results: { rows: string[][] }[] } };
    expect(r.structuredContent.results[0]!.rows).toEqual([['[REDACTED]', '***-**-6789', '1815-01-01'], ['[REDACTED]', '***-**-7890', '1912-01-01']]);
    await client.close();
  });

  it('serves the clinic through psql with a token from the stored dev key', async () => {
    const token = await mintWithStoredKey(join(state, 'dev-issuer'), 'bob');
    const env = { ...process.env, PGPASSWORD: token, PGGSSENCMODE: 'disable' };
    const conn = `host=127.0.0.1 port=${demo.gateway.address.port} dbname=clinic user=bob sslmode=disable`;
    const { stdout } = await run('psql', [conn, '-X', '-A', '-t', '-c', 'SELECT name, ssn, dob FROM patients ORDER BY id LIMIT 2'], { env });
    expect(stdout.trim().split('\n')).toEqual(['[REDACTED]|***-**-6789|1815-01-01', '[REDACTED]|***-**-7890|1912-01-01']);
    const denied = await run('psql', [conn, '-X', '-c', "SELECT pg_read_file('/etc/passwd')"], { env }).catch((e: { stderr: string }) => e);
    expect((denied as { stderr: string }).stderr).toContain('ERROR:  Verdict denied this statement');
    const alice = await mintWithStoredKey(join(state, 'dev-issuer'), 'alice');
    const a = await run('psql', [conn.replace('user=bob', 'user=alice'), '-X', '-A', '-t', '-c', 'SELECT name, diagnosis FROM patients WHERE id = 1'], {
      env: { ...env, PGPASSWORD: alice },
    });
    expect(a.stdout.trim()).toBe('Ada Lovelace|J45.909 asthma');
  });

  it('serves the Snowflake clinic to an unmodified snowflake-sdk: masked for bob, names for alice', async () => {
    const query = async (user: string, sqlText: string) => {
      const token = await mintWithStoredKey(join(state, 'dev-issuer'), user);
      const conn = snowflake.createConnection({ account: 'CLINIC_DEMO', username: user, authenticator: 'OAUTH', token, accessUrl: demo.gateway.snowflake!.url, database: 'CLINIC', schema: 'PUBLIC' });
      await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
      try {
        return await new Promise<unknown[]>((resolve, reject) => conn.execute({ sqlText, complete: (err, _s, rows) => (err ? reject(err) : resolve(rows ?? [])) }));
      } finally {
        await new Promise<void>((resolve) => conn.destroy(() => resolve()));
      }
    };
    const bob = (await query('bob', 'SELECT NAME, SSN FROM PATIENTS ORDER BY ID LIMIT 2')) as { NAME: string; SSN: string }[];
    expect(bob).toEqual([{ NAME: '[REDACTED]', SSN: '***-**-6789' }, { NAME: '[REDACTED]', SSN: '***-**-7890' }]);
    const alice = (await query('alice', 'SELECT NAME, DIAGNOSIS FROM PATIENTS WHERE ID = 1')) as { NAME: string; DIAGNOSIS: string }[];
    expect(alice).toEqual([{ NAME: 'Ada Lovelace', DIAGNOSIS: 'J45.909 asthma' }]);
    expect(walkthrough(demo.gateway)).toContain(demo.gateway.snowflake!.url);
  });

  it('the approval HINT names a demo approver, and that approver can approve as printed', async () => {
    const bob = new pg.Client({ host: '127.0.0.1', port: demo.gateway.address.port, user: 'bob', database: 'clinic', password: await mintWithStoredKey(join(state, 'dev-issuer'), 'bob') });
    const notices: { hint?: string; detail?: string }[] = [];
    bob.on('notice', (n) => notices.push(n));
    await bob.connect();
    try {
      await bob.query('BEGIN');
      const running = bob.query('DELETE FROM visits');
      for (let i = 0; i < 200 && notices.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      const id = /request (req-[0-9a-z]+)/.exec(notices[0]?.detail ?? '')?.[1];
      expect(notices[0]?.hint).toBe(`approve it with: npx verdict approve ${id} --as carol`);
      // What `npx verdict approve <id> --as carol` does, on this demo's state folder.
      await decideLocally(join(state, 'approvals'), id!, 'approved', { sub: 'user:carol', username: 'carol', groups: ['phi-approvers'] });
      expect((await running).rowCount).toBeGreaterThan(0);
    } finally {
      await bob.query('ROLLBACK').catch(() => undefined);
      await bob.end();
    }
  });

  it('answers /healthz, /readyz and /metrics', async () => {
    const base = `http://127.0.0.1:${demo.gateway.adminAddress!.port}`;
    expect(await (await fetch(`${base}/healthz`)).text()).toBe('ok\n');
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/verdict_statements_total\{action="mask"\} [1-9]/);
    expect(metrics).toContain('verdict_decision_seconds_bucket');
  });
});
