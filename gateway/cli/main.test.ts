// The `verdict` command line as an operator meets it: each command's --help and --version exit 0 and do
// nothing else; user errors are one line, never a stack trace; a config's missing secrets and files are
// reported together before anything opens; an upstream refusing the gateway's credentials stops the start;
// `approvals list|show` for the local provider; `token --config` mints for the config's dev issuer.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localApprovals } from '../approvals/local.ts';
import { policyBuild } from '../policy/toolchain.ts';
import { startTestPostgres, type TestPostgres } from '../testing/postgres.ts';
import { CLINIC_SQL } from '../testing/stack.ts';

const execFileP = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

/** Runs the verdict executable; resolves with its exit code and output whatever the code. */
async function verdict(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [join(root, 'gateway/cli/verdict.mjs'), ...args], { cwd: dir, env: { ...process.env, ...env }, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout, stderr: e.stderr };
  }
}

const STACK_LINE = /^\s+at .+\(.+:\d+:\d+\)$/m;
let dir: string;
let pgServer: TestPostgres;
let bundle: string;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A config file in the test folder, with ephemeral ports and this test's PostgreSQL unless `patch` says otherwise. */
function config(name: string, patch: Record<string, unknown> = {}): string {
  const path = join(dir, name);
  const base = {
    listen: { postgres: { host: '127.0.0.1', port: 0 }, admin: null },
    identity: { issuer: 'http://127.0.0.1:1', audience: 'verdict', jwks_url: 'http://127.0.0.1:1/jwks' },
    upstreams: { clinic: { host: '127.0.0.1', port: pgServer.port, database: pgServer.database, user: pgServer.user, password: { value: 'gateway-secret-pw' }, tls: { mode: 'disable' } } },
    policy: { bundle },
    approvals: { state_dir: join(dir, `${name}.approvals`) },
    evidence: { instance: 'cli-test', spool_dir: join(dir, `${name}.spool`), publisher: { kind: 'none' } },
    log: { level: 'error' },
  };
  writeFileSync(path, stringify({ ...base, ...patch }));
  return path;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'verdict-cli-'));
  pgServer = await startTestPostgres({ auth: 'scram-sha-256', password: 'gateway-secret-pw' });
  await pgServer.exec(CLINIC_SQL);
  bundle = policyBuild({ out: join(dir, 'bundle.tar.gz'), revision: 'cli-test' }).path;
}, 180_000);
afterAll(async () => {
  await pgServer?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('help and version', () => {
  it.each([
    ['start', 'usage: verdict start'],
    ['gateway', 'usage: verdict gateway'],
    ['policy check', 'usage: verdict policy check'],
    ['policy build', 'usage: verdict policy build'],
    ['decide', 'usage: verdict decide'],
    ['token', 'usage: verdict token'],
    ['approve', 'usage: verdict approve'],
    ['reject', 'usage: verdict reject'],
    ['approvals list', 'usage: verdict approvals list'],
    ['evidence verify', 'usage: verdict evidence'],
  ])('verdict %s --help prints its usage and exits 0', async (command, usage) => {
    const r = await verdict([...command.split(' '), '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith(usage)).toBe(true);
  }, 60_000);

  it('--help has no side effects: policy build --help --out writes no bundle', async () => {
    const out = join(dir, 'not-built.tar.gz');
    const r = await verdict(['policy', 'build', '--out', out, '--help']);
    expect(r.code).toBe(0);
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it('--version prints the version', async () => {
    const r = await verdict(['--version']);
    expect(r).toMatchObject({ code: 0, stdout: `verdict ${VERSION}\n` });
  }, 60_000);
});

describe('user errors', () => {
  it('token for an unknown user without a demo: one line and the usage, no stack trace', async () => {
    const r = await verdict(['token', 'dave']);
    // Without a demo issuer it is a usage error; after `npm start` made one, dave is simply not one of its users.
    expect([1, 2]).toContain(r.code);
    expect(r.stderr).toMatch(/verdict: (no demo issuer found|unknown dev user "dave")/);
    expect(r.stderr).not.toMatch(STACK_LINE);
  }, 60_000);

  it('every missing secret and file is reported together, by config path, before the evidence spool opens', async () => {
    const path = config('missing.yaml', {
      masking: { hash_key: { env: 'VERDICT_TEST_NO_SUCH_VAR' } },
      tls: { cert: join(dir, 'nope.crt'), key: join(dir, 'nope.key') },
      upstreams: { clinic: { host: '127.0.0.1', port: pgServer.port, database: pgServer.database, user: pgServer.user, password: { file: join(dir, 'no-password') }, tls: { mode: 'disable' } } },
    });
    const r = await verdict(['gateway', '--config', path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('4 secrets or files it refers to are missing');
    expect(r.stderr).toContain('masking.hash_key: environment variable VERDICT_TEST_NO_SUCH_VAR is not set');
    expect(r.stderr).toContain('upstreams.clinic.password: cannot read secret file');
    expect(r.stderr).toContain('tls.cert: cannot read');
    expect(r.stderr).toContain('tls.key: cannot read');
    expect(r.stderr).not.toMatch(STACK_LINE);
    expect(existsSync(join(dir, 'missing.yaml.spool'))).toBe(false);
  }, 60_000);

  it('an upstream that refuses the gateway\'s credentials stops the start, naming the upstream', async () => {
    const path = config('wrong-password.yaml', {
      upstreams: { clinic: { host: '127.0.0.1', port: pgServer.port, database: pgServer.database, user: pgServer.user, password: { value: 'not-the-password' }, tls: { mode: 'disable' } } },
    });
    const r = await verdict(['gateway', '--config', path]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("upstreams.clinic: the upstream refused the gateway's credentials");
    expect(r.stderr).toContain('28P01');
    expect(r.stderr).not.toMatch(STACK_LINE);
  }, 60_000);
});

describe('approvals list and show (local provider)', () => {
  it('lists what waits and shows one request in full', async () => {
    const path = config('approvals.yaml');
    const provider = await localApprovals({ dir: join(dir, 'approvals.yaml.approvals') });
    const { request } = await provider.create({
      statement: 'DELETE FROM visits WHERE patient_id = $1',
      parameters: ['4'],
      fingerprint: null,
      requester: { sub: 'user:bob', username: 'bob', email: 'bob@clinic.example', groups: ['contractors'] },
      target: { upstream: 'clinic', database: 'clinic' },
      reasons: [{ rule: 'approvals.blast_radius', message: 'DELETE changes 2 rows of 6' }],
      policy_revision: 'cli-test',
      requirement: { approvers: ['team:phi-approvers'], min_approvals: 1, ttl_seconds: 3600, mode: 'hold' },
      blast_radius: { method: 'count', rows: 2, table_rows: 6, error: null },
    });
    const list = await verdict(['approvals', 'list', '--config', path]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(request.id);
    expect(list.stdout).toContain('pending');
    expect(list.stdout).toContain('DELETE FROM visits WHERE patient_id = $1');
    const show = await verdict(['approvals', 'show', request.id, '--config', path]);
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/statement\s+DELETE FROM visits WHERE patient_id = \$1/);
    expect(show.stdout).toMatch(/parameters\s+\$1 = "4"/);
    expect(show.stdout).toMatch(/requester\s+bob \(user:bob, bob@clinic.example; groups contractors\)/);
    expect(show.stdout).toContain('DELETE changes 2 rows of 6 [approvals.blast_radius]');
    expect(show.stdout).toMatch(/blast\s+2 row\(s\) of 6 \(count\)/);
    expect(show.stdout).toMatch(new RegExp(`expires\\s+${request.expires_at}`));
    const unknown = await verdict(['approvals', 'show', 'req-000000000000', '--config', path]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no approval request req-000000000000');
  }, 90_000);
});

describe('token --config: a dev issuer named in the config', () => {
  let gw: ChildProcess | null = null;
  afterAll(() => {
    gw?.kill('SIGTERM');
  });

  it('the gateway runs the dev issuer; tokens minted with --config open a session', async () => {
    const issuerPort = await freePort();
    const issuer = `http://127.0.0.1:${issuerPort}`;
    const path = config('dev-issuer.yaml', {
      identity: {
        issuer,
        audience: 'verdict',
        jwks_url: `${issuer}/jwks`,
        dev_issuer: {
          key_dir: join(dir, 'dev-keys'),
          users: [
            { username: 'dana', email: 'dana@example.com', groups: ['clinicians'], purpose: 'treatment' },
            { username: 'erin', email: 'erin@example.com', groups: ['phi-approvers'] },
          ],
        },
      },
    });
    gw = spawn(process.execPath, [join(root, 'gateway/cli/verdict.mjs'), 'gateway', '--config', path], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      gw!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /gateway on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      gw!.on('exit', (code) => reject(new Error(`gateway exited ${code}: ${out}`)));
    });
    const token = await verdict(['token', 'dana', '--config', path]);
    expect(token.code).toBe(0);
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'dana', database: 'clinic', password: token.stdout.trim() });
    await c.connect();
    try {
      expect((await c.query('SELECT name FROM patients WHERE id = 1')).rows).toEqual([{ name: 'Ada Lovelace' }]);
    } finally {
      await c.end();
    }
    const unknown = await verdict(['token', 'alice', '--config', path]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown dev user "alice"; known users: dana, erin');
    expect(unknown.stderr).not.toMatch(STACK_LINE);

    // A held statement's HINT is a command an approver runs as printed (their token in $VERDICT_TOKEN).
    const notices: { hint?: string }[] = [];
    const held = new pg.Client({ host: '127.0.0.1', port, user: 'dana', database: 'clinic', password: (await verdict(['token', 'dana', '--config', path])).stdout.trim() });
    held.on('notice', (n) => notices.push(n));
    await held.connect();
    try {
      const running = held.query('DELETE FROM visits');
      for (let i = 0; i < 400 && notices.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      const printed = /^approve it with: npx verdict (.+)$/.exec(notices[0]?.hint ?? '')?.[1];
      expect(printed?.split(' ')).toEqual(['approve', expect.stringMatching(/^req-[0-9a-z]{12}$/), '--config', path]);
      const erin = (await verdict(['token', 'erin', '--config', path])).stdout.trim();
      const approved = await verdict(printed!.split(' '), { VERDICT_TOKEN: erin });
      expect(approved.stderr).toBe('');
      expect(approved.code).toBe(0);
      expect(approved.stdout).toContain('approved by erin');
      expect((await running).rowCount).toBe(6);
    } finally {
      await held.end();
    }
  }, 120_000);
});
