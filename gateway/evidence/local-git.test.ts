// The local git publisher and the auditor's commands against real git: publish, idempotent re-publish,
// never-overwrite, several processes publishing into one repository at once, clone + verify, git-level tampering.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildRepository, sessionEvents, testKey } from '../../engine/fixtures/evidence.ts';
import { createLocalGitPublisher } from './local-git.ts';
import { PublishError } from './errors.ts';
import { verifyRepository } from './verify.ts';
import { evidenceCli as cli } from '../testing/evidence.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const dirs: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'verdict-git-'));
  dirs.push(d);
  return d;
}
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });

let sample: Map<string, Uint8Array>;
beforeAll(async () => {
  sample = await buildRepository([...sessionEvents(1), ...sessionEvents(2)], { key: await testKey('a') });
});
const asFiles = (m: Map<string, Uint8Array>) => [...m].map(([path, content]) => ({ path, content: Buffer.from(content) }));

/** Publishes the sample repository and returns a fresh clone of it. */
async function publishedClone(): Promise<{ repo: string; clone: string }> {
  const d = tempDir();
  const repo = join(d, 'evidence.git');
  await createLocalGitPublisher({ repo }).publish(asFiles(sample), 'sample');
  const clone = join(d, 'clone');
  git(d, 'clone', '-q', repo, clone);
  return { repo, clone };
}


describe('local git publisher', () => {
  it('creates the repository on first use and commits only new files; re-publishing is idempotent', async () => {
    const repo = join(tempDir(), 'evidence.git');
    const p = createLocalGitPublisher({ repo });
    const files = asFiles(sample);
    const first = await p.publish(files.slice(0, 3), 'first');
    expect(first.alreadyPresent).toEqual([]);
    const second = await p.publish(files, 'second');
    expect(second.alreadyPresent.sort()).toEqual(files.slice(0, 3).map((f) => f.path).sort());
    const again = await p.publish(files, 'again');
    expect(again).toEqual({ commit: second.commit, alreadyPresent: files.map((f) => f.path) });
    expect(git(repo, 'rev-list', '--count', 'main').trim()).toBe('2');
    expect(await p.read(files[0]!.path)).toEqual(files[0]!.content);
    expect(await p.read('nope')).toBeNull();
  });

  it('never overwrites a published file: different bytes at the same path is a CONFLICT', async () => {
    const p = createLocalGitPublisher({ repo: join(tempDir(), 'evidence.git') });
    await p.publish([{ path: 'streams/x/a.jsonl', content: Buffer.from('one\n') }], 'one');
    const err = await p.publish([{ path: 'streams/x/a.jsonl', content: Buffer.from('two\n') }], 'two').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect(err).toMatchObject({ code: 'CONFLICT' });
  });

  it('publishers racing in one process lose nothing (update-ref compare-and-swap, retried)', async () => {
    const repo = join(tempDir(), 'evidence.git');
    const ps = Array.from({ length: 8 }, () => createLocalGitPublisher({ repo }));
    await Promise.all(ps.map((p, i) => p.publish([{ path: `streams/s${i}/f.jsonl`, content: Buffer.from(`${i}\n`) }], `p${i}`)));
    const tree = git(repo, 'ls-tree', '-r', '--name-only', 'main').trim().split('\n');
    expect(tree.sort()).toEqual(Array.from({ length: 8 }, (_, i) => `streams/s${i}/f.jsonl`).sort());
    expect(git(repo, 'rev-list', '--count', 'main').trim()).toBe('8');
  });

  it('several gateway processes publish into one repository concurrently without loss or duplication', { timeout: 180_000 }, async () => {
    const d = tempDir();
    const repo = join(d, 'evidence.git');
    const streams = ['gw-a', 'gw-b', 'gw-c', 'gw-d'];
    const count = 120;
    const outputs = await Promise.all(
      streams.map(
        (s) =>
          new Promise<string>((resolve, reject) => {
            const c = spawn('npx', ['tsx', join(here, 'testdata', 'publish-child.ts'), repo, join(d, 'spool'), s, String(count)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
            let out = '';
            let err = '';
            c.stdout.on('data', (b: Buffer) => (out += b.toString()));
            c.stderr.on('data', (b: Buffer) => (err += b.toString()));
            c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${s} exited ${code}: ${err}`))));
          }),
      ),
    );
    for (const o of outputs) expect(JSON.parse(o.trim().split('\n').at(-1)!)).toMatchObject({ drained: true });
    // every file added exactly once across all commits, never modified
    const log = git(repo, 'log', '--format=', '--name-status', '--no-renames', 'main');
    const added = log.split('\n').filter((l) => l.startsWith('A\t')).map((l) => l.slice(2));
    expect(new Set(added).size).toBe(added.length);
    expect(log.split('\n').filter((l) => /^[MD]\t/.test(l))).toEqual([]);
    const clone = join(d, 'clone');
    git(d, 'clone', '-q', repo, clone);
    const report = await verifyRepository(clone);
    expect(report.findings).toEqual([]);
    expect(report.streams.map((s) => s.stream)).toEqual(streams);
    // key announcement + gateway_start + events + gateway_stop per stream
    for (const s of report.streams) expect(s.lines).toBe(count + 3);
  });
});

describe('verdict evidence verify on a clone', () => {
  it('accepts an untouched clone (exit 0) and reports JSON with heads', async () => {
    const { clone } = await publishedClone();
    const text = await cli('verify', clone, '--quiet');
    expect(text.code).toBe(0);
    expect(text.out).toContain('OK: ');
    const json = await cli('verify', clone, '--json', '--quiet');
    expect(json.code).toBe(0);
    const report = JSON.parse(json.out) as { ok: boolean; heads: Record<string, { seq: number }>; commit: string };
    expect(report).toMatchObject({ ok: true, clean: true, commit: git(clone, 'rev-parse', 'HEAD').trim() });
    expect(report.heads['gw-1']!.seq).toBeGreaterThan(20);
  });

  it('finds a line edited in the clone (exit 1, file:line and both hashes)', async () => {
    const { clone } = await publishedClone();
    const batch = [...sample.keys()].find((p) => p.endsWith('.jsonl'))!;
    const text = readFileSync(join(clone, batch), 'utf8').replace('"action":"deny"', '"action":"allow"');
    writeFileSync(join(clone, batch), text);
    const r = await cli('verify', clone, '--quiet');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(new RegExp(`${batch.replace(/[./]/g, '\\$&')}: error CHECKPOINT_BATCH_HASH_MISMATCH`));
    expect(r.out).toContain('PUBLISHED_FILE_CHANGED'); // the working tree differs from the commit
    expect(r.out).toMatch(/FAILED: \d+ error/);
  });

  it('finds a published file deleted by a later commit, even though what remains is consistent', async () => {
    const { clone } = await publishedClone();
    const last = [...sample.keys()].filter((p) => p.endsWith('.jsonl')).sort().at(-1)!;
    git(clone, 'rm', '-q', last, last.replace('.jsonl', '.checkpoint.jws'));
    git(clone, 'commit', '-q', '-m', 'drop the last batch');
    const report = await verifyRepository(clone);
    expect(report.ok).toBe(false);
    expect(report.findings.map((f) => f.code)).toEqual(['PUBLISHED_FILE_CHANGED', 'PUBLISHED_FILE_CHANGED']);
  });

  it('detects rewritten history against a recorded head (--head)', async () => {
    const { clone } = await publishedClone();
    const recorded = git(clone, 'rev-parse', 'HEAD').trim();
    expect((await cli('verify', clone, '--head', recorded, '--quiet')).code).toBe(0);
    // rewrite: an orphan history with one batch missing, committed as if it had always been that way
    const last = [...sample.keys()].filter((p) => p.endsWith('.jsonl')).sort().at(-1)!;
    git(clone, 'checkout', '-q', '--orphan', 'rewritten');
    git(clone, 'rm', '-q', '--cached', last, last.replace('.jsonl', '.checkpoint.jws'));
    rmSync(join(clone, last));
    rmSync(join(clone, last.replace('.jsonl', '.checkpoint.jws')));
    git(clone, 'commit', '-q', '-m', 'history, rewritten');
    git(clone, 'branch', '-q', '-D', 'main');
    git(clone, 'reflog', 'expire', '--expire=now', '--all');
    git(clone, 'gc', '-q', '--prune=now');
    const r = await verifyRepository(clone, { head: recorded });
    expect(r.findings.map((f) => f.code)).toEqual(['HISTORY_REWRITTEN']);
    expect(r.findings[0]).toMatchObject({ expected: recorded });
    // and without git: the heads of an earlier report catch the same truncation
    const heads = join(tempDir(), 'heads.json');
    writeFileSync(heads, JSON.stringify({ heads: { 'gw-1': { seq: 30, hash: 'x'.repeat(64) } } }));
    const byHeads = await cli('verify', clone, '--heads', heads, '--quiet');
    expect(byHeads.code).toBe(1);
    expect(byHeads.out).toContain('RECORDED_HEAD_MISSING');
  });

  it('prints the first key to pin; pinned, the clone verifies, and one rewritten under another key does not', async () => {
    const { clone } = await publishedClone();
    const first = await cli('verify', clone, '--quiet');
    const pin = /^pin: --pin (\S+)$/m.exec(first.out)?.[1];
    expect(pin).toBe((await testKey('a')).thumbprint);
    expect((await cli('verify', clone, '--quiet', '--pin', pin!)).code).toBe(0);
    const rewritten = tempDir();
    for (const [p, b] of await buildRepository([...sessionEvents(1), ...sessionEvents(2)], { key: await testKey('intruder') })) {
      mkdirSync(dirname(join(rewritten, p)), { recursive: true });
      writeFileSync(join(rewritten, p), b);
    }
    expect((await cli('verify', rewritten, '--quiet')).code).toBe(0);
    const pinned = await cli('verify', rewritten, '--quiet', '--pin', pin!);
    expect(pinned.code).toBe(1);
    expect(pinned.out).toContain('KEY_NOT_PINNED');
    const help = await cli('verify', '--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('--pin <thumbprint>');
  });

  it('exit 2 for bad usage or a missing repository', async () => {
    expect((await cli('verify')).code).toBe(2);
    expect((await cli('verify', join(tempDir(), 'nope'))).code).toBe(2);
    expect((await cli('frobnicate')).code).toBe(2);
  });

  it('replays a session as a timeline and writes a static HTML report', async () => {
    const { clone } = await publishedClone();
    const r = await cli('replay', 's-0002', '--repo', clone);
    expect(r.code).toBe(0);
    expect(r.out).toContain('session s-0002: 12 event(s); evidence verified clean');
    expect(r.out).toMatch(/statement +DENY +DROP TABLE patients/);
    expect(r.out).toContain('approval given req-2 by carol');
    expect((await cli('replay', 'no-such-session', '--repo', clone)).code).toBe(1);
    const out = join(tempDir(), 'report.html');
    expect((await cli('report', '--repo', clone, '--out', out)).code).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('VERIFIED — nothing altered, removed or forged');
    expect(html).toContain('<code>s-0001</code>');
    expect(html).toContain('req-2');
    expect(html).not.toMatch(/<script|https?:\/\/(?!idp)/);
  });
});
