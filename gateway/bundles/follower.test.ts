// A running gateway follows its policy source: a newly signed bundle is picked up within seconds while a psql-
// style session stays open, and that session's next decision carries the new revision; an older signed bundle,
// an unsigned one and a tampered one are refused, each recorded, and the last good bundle keeps serving.
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createTarGzip } from 'nanotar';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveFiles } from '../../engine/policy/bundle.ts';
import { policiesDir } from '../policy/paths.ts';
import { policyBuild } from '../policy/toolchain.ts';
import { startStack, type TestStack } from '../testing/stack.ts';
import { evidenceEvents } from '../testing/evidence.ts';
import { until } from '../testing/until.ts';
import { createBundleFollower } from './follower.ts';
import { fileSource } from './sources.ts';

let dir: string;
let keyFile: string;
let pubFile: string;
let live: string;
let stack: TestStack;
let alice: pg.Client;

/** Builds a bundle from `source` (default policies/) and moves it over the live path the gateway follows. */
function publish(revision: string, options: { sequence?: number; rollback?: boolean; signed?: boolean; source?: string } = {}): string {
  const out = join(dir, `${revision}.tar.gz`);
  policyBuild({
    out,
    revision,
    ...(options.signed === false ? {} : { signingKey: keyFile, keyId: 'ci', sequence: options.sequence ?? 0, ...(options.rollback ? { rollback: true } : {}) }),
    ...(options.source ? { source: options.source } : {}),
  });
  install(out);
  return out;
}

function install(bundle: string): void {
  const tmp = `${live}.next`;
  cpSync(bundle, tmp);
  renameSync(tmp, live);
}


async function status(): Promise<{ policy: { revision: string; sequence: number; last_error: { reason: string; revision: string | null } | null; activations: number } }> {
  const a = stack.gateway.adminAddress!;
  return (await fetch(`http://${a.host}:${a.port}/status`)).json() as never;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'verdict-follow-'));
  const k = generateKeyPairSync('rsa', { modulusLength: 2048 });
  keyFile = join(dir, 'ci.pem');
  pubFile = join(dir, 'ci.pub.pem');
  writeFileSync(keyFile, k.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(pubFile, k.publicKey.export({ type: 'spki', format: 'pem' }));
  live = join(dir, 'live.tar.gz');
  publish('rev-100', { sequence: 100 });
  stack = await startStack({
    policy: { source: { file: live, poll_seconds: 1 }, verification_keys: { ci: pubFile }, state_file: join(dir, 'policy-state.json') },
  });
  alice = new pg.Client(await stack.client('alice'));
  await alice.connect();
});

afterAll(async () => {
  await alice?.end().catch(() => undefined);
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('following the policy source', () => {
  it('starts on the signed bundle and reports it on /status', async () => {
    expect(stack.gateway.revision).toBe('rev-100');
    const s = await status();
    expect(s.policy).toMatchObject({ revision: 'rev-100', sequence: 100, last_error: null, activations: 1 });
    const r = await alice.query('SELECT name FROM patients ORDER BY id LIMIT 1');
    expect(r.rows[0].name).not.toMatch(/REDACTED/); // clinicians see names
  });

  it('picks up a newer signed bundle within seconds; the open session keeps working under the new revision', async () => {
    // The edit: clinicians no longer see names raw.
    const edited = join(dir, 'policies-edited');
    cpSync(policiesDir, edited, { recursive: true });
    const access = join(edited, 'access', 'data.yaml');
    writeFileSync(access, readFileSync(access, 'utf8').replace('phi_types: [name, email, phone, date, address, identifier, clinical]', 'phi_types: [email, phone, date, address, identifier, clinical]'));
    const t0 = Date.now();
    publish('rev-200', { sequence: 200, source: edited });
    await until('rev-200 active', () => stack.gateway.revision, (r) => r === 'rev-200');
    expect(Date.now() - t0).toBeLessThan(10_000);
    const r = await alice.query('SELECT name FROM patients ORDER BY id LIMIT 1'); // same connection
    expect(r.rows[0].name).not.toBe(null);
    expect(String(r.rows[0].name)).not.toMatch(/^[A-Z][a-z]+ [A-Z][a-z]+$/); // no longer a raw name
    await until(
      'the decision under rev-200 in evidence',
      () => evidenceEvents(join(stack.dir, 'evidence')).filter((e) => e.type === 'statement' && e.data.text === 'SELECT name FROM patients ORDER BY id LIMIT 1').map((e) => e.data.policy_revision),
      (revs) => revs.includes('rev-100') && revs.includes('rev-200'),
    );
    expect((await status()).policy).toMatchObject({ revision: 'rev-200', sequence: 200, activations: 2 });
  });

  it('an open psql session keeps working across a reload, its next statement decided by the new revision', async () => {
    const url = await stack.url('alice');
    // stdbuf: psql's stdout is block-buffered on a pipe; line buffering shows each answer as it comes.
    const psql = spawn('stdbuf', ['-oL', 'psql', url, '-X', '-A', '-t', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    psql.stdout.on('data', (b: Buffer) => (out += b.toString()));
    psql.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const ask = async (marker: string) => {
      psql.stdin.write(`SELECT '${marker}' AS m, name FROM patients ORDER BY id LIMIT 1;\n`);
      const got = await until(marker, async () => new RegExp(`${marker}\\|(.*)`).exec(out)?.[1] ?? null, (v) => v !== null).catch(() => null);
      if (got === null) throw new Error(`psql said: ${JSON.stringify(out)}`);
      return got;
    };
    try {
      const before = await ask('before');
      expect(before).toMatch(/REDACTED/); // under rev-200 clinicians no longer see names raw
      const edited = join(dir, 'policies-names');
      cpSync(policiesDir, edited, { recursive: true });
      publish('rev-250', { sequence: 250, source: edited }); // names visible again
      await until('rev-250 active', () => stack.gateway.revision, (r) => r === 'rev-250');
      const after = await ask('after');
      expect(after).not.toMatch(/REDACTED/);
      expect(psql.exitCode).toBeNull(); // the same psql process, the same connection
    } finally {
      psql.stdin.end();
      psql.kill();
    }
  });

  it('refuses an older signed bundle; the last good one keeps serving', async () => {
    publish('rev-150', { sequence: 150 });
    const s = await until('the refusal', status, (x) => x.policy.last_error?.revision === 'rev-150');
    expect(s.policy.last_error!.reason).toMatch(/not newer than revision rev-250/);
    expect(stack.gateway.revision).toBe('rev-250');
    expect((await alice.query('SELECT 1 AS one')).rows[0].one).toBe(1);
  });

  it('refuses an unsigned bundle where keys are configured', async () => {
    publish('rev-300-unsigned', { signed: false });
    const s = await until('the refusal', status, (x) => x.policy.last_error?.revision === 'rev-300-unsigned');
    expect(s.policy.last_error!.reason).toMatch(/not signed/);
    expect(stack.gateway.revision).toBe('rev-250');
  });

  it('refuses a tampered bundle (data changed after signing)', async () => {
    const signed = publish('rev-400', { sequence: 400 });
    await until('rev-400 active', () => stack.gateway.revision, (r) => r === 'rev-400');
    // Same signature, different data: grant contractors every PHI type.
    const files = archiveFiles(readFileSync(signed));
    const data = JSON.parse(Buffer.from(files.get('data.json')!).toString('utf8'));
    data.access.roles.contractor.phi_types = ['name', 'ssn', 'clinical'];
    data.verdict_note = 'tampered';
    files.set('data.json', Buffer.from(JSON.stringify(data)));
    const tampered = join(dir, 'tampered.tar.gz');
    writeFileSync(tampered, await createTarGzip([...files].map(([name, bytes]) => ({ name, data: bytes }))));
    install(tampered);
    const s = await until('the refusal', status, (x) => x.policy.last_error?.revision === 'rev-400' && /modified after the bundle was signed/.test(x.policy.last_error.reason));
    expect(s.policy.revision).toBe('rev-400');
    const bob = new pg.Client(await stack.client('bob'));
    await bob.connect();
    const r = await bob.query('SELECT ssn FROM patients ORDER BY id LIMIT 1');
    await bob.end();
    expect(String(r.rows[0].ssn)).not.toMatch(/^\d{3}-\d{2}-\d{4}$/);
  });

  it('accepts a signed rollback (an earlier revision signed later), and refuses replaying an older one after', async () => {
    publish('rev-100', { sequence: 500, rollback: true });
    await until('the rollback active', () => stack.gateway.revision, (r) => r === 'rev-100');
    expect((await status()).policy).toMatchObject({ revision: 'rev-100', sequence: 500 });
    publish('rev-400', { sequence: 400 });
    await until('the refusal', status, (x) => x.policy.last_error?.revision === 'rev-400' && /not newer/.test(x.policy.last_error.reason));
    expect(stack.gateway.revision).toBe('rev-100');
  });

  it('records every activation and refusal as evidence, with the reason', async () => {
    const events = await until(
      'policy events published',
      () => evidenceEvents(join(stack.dir, 'evidence')).filter((e) => e.type.startsWith('policy_bundle_')),
      (ev) => ev.filter((e) => e.type === 'policy_bundle_rejected').length >= 4,
    );
    const loaded = events.filter((e) => e.type === 'policy_bundle_loaded').map((e) => [e.data.revision, e.data.previous_revision, e.data.sequence]);
    expect(loaded).toEqual([
      ['rev-100', null, 100],
      ['rev-200', 'rev-100', 200],
      ['rev-250', 'rev-200', 250],
      ['rev-400', 'rev-250', 400],
      ['rev-100', 'rev-400', 500],
    ]);
    const rejected = events.filter((e) => e.type === 'policy_bundle_rejected').map((e) => e.data.revision);
    expect(rejected).toEqual(['rev-150', 'rev-300-unsigned', 'rev-400', 'rev-400']);
    for (const e of events) expect(e.data.source ?? '').toMatch(/^file:/);
  });

  it('a restart is not fooled by an older signed bundle either (the floor is kept)', async () => {
    const floor = JSON.parse(readFileSync(join(dir, 'policy-state.json'), 'utf8'));
    expect(floor).toEqual({ revision: 'rev-100', sequence: 500 });
  });

  it('a kept bundle older than the floor is not served at restart, and the refusal is logged with its code', async () => {
    const statePath = join(dir, 'restart', 'policy-state.json');
    mkdirSync(dirname(statePath), { recursive: true });
    writeFileSync(statePath, JSON.stringify({ revision: 'rev-100', sequence: 500 }));
    cpSync(join(dir, 'rev-200.tar.gz'), `${statePath}.bundle.tar.gz`); // signed with sequence 200
    const warnings: { message: string; fields?: Record<string, unknown> }[] = [];
    const rejected: (string | null)[] = [];
    const activated: string[] = [];
    const follower = createBundleFollower({
      source: fileSource(join(dir, 'nowhere.tar.gz')),
      verification: { keys: { ci: readFileSync(pubFile, 'utf8') } },
      statePath,
      activate: async (b) => void activated.push(b.revision),
      onWarning: (message, fields) => void warnings.push({ message, ...(fields ? { fields } : {}) }),
      onRejected: (_reason, _revision, _active, _source, code) => void rejected.push(code),
    });
    expect(await follower.check()).toMatchObject({ outcome: 'rejected', revision: null });
    follower.close();
    expect(activated).toEqual([]);
    expect(warnings).toEqual([{ message: expect.stringMatching(/revision rev-200 \(sequence 200\) is older than revision rev-100 \(sequence 500\)/), fields: { code: 'BUNDLE_ROLLBACK' } }]);
    expect(rejected).toEqual(['SOURCE_FILE_UNREADABLE']);
  });
});
