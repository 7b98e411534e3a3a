// The embedded-default evidence publisher: commits sealed batches into a local git repository with the
// real `git` CLI, fast-forward only via `git update-ref <new> <old>` (compare-and-swap), retried on a lost race.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { EvidenceError } from '../../engine/evidence/errors.ts';
import { PublishError } from './errors.ts';
import type { EvidenceFile, EvidencePublisher, PublishResult } from './publisher.ts';

export interface LocalGitOptions {
  /** Repository directory; created (`git init --bare`) on first use. Auditors `git clone` it. */
  repo: string;
  branch?: string;
  /** Commit author/committer (default "Verdict evidence <evidence@verdict.invalid>"). */
  author?: { name: string; email: string };
  /** Attempts when another writer moved the branch between our read and our update (default 50). */
  maxAttempts?: number;
}

const ZERO = '0000000000000000000000000000000000000000';

interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A publisher into a local git repository. Several processes may publish into one repository at once:
 * each builds its commit in a private index, then moves the branch with `git update-ref ref new old`,
 * which git applies only if the branch is still at `old` (under git's own ref lock); on a lost race it
 * re-reads the head and rebuilds. Files already present with identical bytes are skipped.
 *
 * @example
 * const publisher = createLocalGitPublisher({ repo: '.verdict/evidence/repo' })
 * await publisher.publish([{ path: 'streams/gw-1/2026/01/05/000000000001.jsonl', content }], 'gw-1: seq 1-1000')
 */
export function createLocalGitPublisher(options: LocalGitOptions): EvidencePublisher & { readonly repo: string; head(): Promise<string | null> } {
  const repo = resolve(options.repo);
  const branch = options.branch ?? 'main';
  const ref = `refs/heads/${branch}`;
  const author = options.author ?? { name: 'Verdict evidence', email: 'evidence@verdict.invalid' };
  const maxAttempts = options.maxAttempts ?? 50;
  let initialized: Promise<void> | null = null;

  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: author.name,
    GIT_COMMITTER_EMAIL: author.email,
    GIT_TERMINAL_PROMPT: '0',
  };

  function git(args: string[], opts: { input?: string | Buffer; env?: Record<string, string>; cwd?: string } = {}): Promise<GitResult> {
    return new Promise((done, fail) => {
      const child = spawn('git', args, { cwd: opts.cwd ?? repo, env: { ...env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e) => fail(new EvidenceError('GIT_FAILED', `cannot run git: ${e.message}`, { cause: e })));
      child.on('close', (code) => done({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input ?? '');
    });
  }

  async function must(args: string[], opts: Parameters<typeof git>[1] = {}): Promise<string> {
    const r = await git(args, opts);
    if (r.code !== 0) throw new PublishError('RETRYABLE', `git ${args[0]} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
    return r.stdout;
  }

  async function init(): Promise<void> {
    await mkdir(dirname(repo), { recursive: true });
    const entries = await readdir(repo).catch(() => null);
    if (entries && entries.length > 0) {
      if ((await git(['rev-parse', '--git-dir'])).code === 0) return;
      throw new PublishError('FATAL', `${repo} exists and is not a git repository`);
    }
    // Several gateways may start at once: each initializes a private directory and renames it into place;
    // rename onto an absent or empty directory succeeds once, the losers find a repository and use it.
    const tmp = `${repo}.init-${process.pid}-${randomBytes(4).toString('hex')}`;
    const r = await git(['init', '--quiet', '--bare', `--initial-branch=${branch}`, tmp], { cwd: dirname(repo) });
    if (r.code !== 0) throw new PublishError('FATAL', `git init ${tmp} failed: ${r.stderr.trim()}`);
    try {
      await rename(tmp, repo);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      if (!['ENOTEMPTY', 'EEXIST'].includes((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
  }

  function ensureInit(): Promise<void> {
    initialized ??= init().catch((err: unknown) => {
      initialized = null;
      throw err;
    });
    return initialized;
  }

  async function head(): Promise<string | null> {
    await ensureInit();
    const r = await git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
    return r.code === 0 ? r.stdout.trim() : null;
  }

  /** Blob ids of `paths` at `commit` (missing paths are absent from the map). */
  async function existing(commit: string, paths: string[]): Promise<Map<string, string>> {
    const out = await must(['ls-tree', '-z', '--full-tree', commit, '--', ...paths]);
    const map = new Map<string, string>();
    for (const entry of out.split('\0')) {
      if (!entry) continue;
      const tab = entry.indexOf('\t');
      const [, type, sha] = entry.slice(0, tab).split(' ');
      if (type === 'blob' && sha) map.set(entry.slice(tab + 1), sha);
    }
    return map;
  }

  async function writeBlobs(files: EvidenceFile[]): Promise<string[]> {
    // One `git hash-object` per file would cost a process each; `--stdin-paths` takes them all at once.
    const dir = join(tmpdir(), `verdict-blobs-${process.pid}-${randomBytes(6).toString('hex')}`);
    await mkdir(dir, { recursive: true });
    try {
      const paths = await Promise.all(
        files.map(async (f, i) => {
          const p = join(dir, String(i));
          await writeFile(p, f.content);
          return p;
        }),
      );
      const out = await must(['hash-object', '-w', '--no-filters', '--stdin-paths'], { input: paths.join('\n') + '\n' });
      const shas = out.trim().split('\n');
      if (shas.length !== files.length) throw new PublishError('RETRYABLE', 'git hash-object returned a wrong number of ids');
      return shas;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async function attempt(files: EvidenceFile[], blobs: string[], message: string): Promise<PublishResult | 'retry'> {
    const parent = await head();
    const present = parent ? await existing(parent, files.map((f) => f.path)) : new Map<string, string>();
    const alreadyPresent: string[] = [];
    const toAdd: { path: string; sha: string }[] = [];
    files.forEach((f, i) => {
      const have = present.get(f.path);
      if (have === undefined) toAdd.push({ path: f.path, sha: blobs[i]! });
      else if (have === blobs[i]) alreadyPresent.push(f.path);
      else throw new PublishError('CONFLICT', `${f.path} is already published with different content (blob ${have}, ours ${blobs[i]}); published files are never rewritten`);
    });
    if (toAdd.length === 0) return { commit: parent ?? '', alreadyPresent };

    const index = join(tmpdir(), `verdict-index-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      const ienv = { GIT_INDEX_FILE: index };
      if (parent) await must(['read-tree', parent], { env: ienv });
      else await must(['read-tree', '--empty'], { env: ienv });
      await must(['update-index', '--add', '--index-info'], { env: ienv, input: toAdd.map((a) => `100644 ${a.sha}\t${a.path}`).join('\n') + '\n' });
      const tree = (await must(['write-tree'], { env: ienv })).trim();
      const commit = (await must(['commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', message])).trim();
      const upd = await git(['update-ref', '-m', 'verdict evidence publish', ref, commit, parent ?? ZERO]);
      if (upd.code !== 0) return 'retry'; // someone else moved the branch (or holds its lock): re-read and rebuild
      return { commit, alreadyPresent };
    } finally {
      await rm(index, { force: true });
      await rm(`${index}.lock`, { force: true });
    }
  }

  return {
    name: 'local-git',
    repo,
    head,
    async publish(files: EvidenceFile[], message: string): Promise<PublishResult> {
      await ensureInit();
      const seen = new Set<string>();
      for (const f of files) {
        if (seen.has(f.path)) throw new PublishError('CONFLICT', `${f.path} appears twice in one publish`);
        seen.add(f.path);
      }
      if (files.length === 0) return { commit: (await head()) ?? '', alreadyPresent: [] };
      const blobs = await writeBlobs(files);
      for (let i = 0; i < maxAttempts; i++) {
        const r = await attempt(files, blobs, message);
        if (r !== 'retry') return r;
        // Jittered backoff: writers that collided once should not collide again in lockstep.
        await new Promise((res) => setTimeout(res, Math.min(200, 5 * 2 ** Math.min(i, 5)) * (0.5 + Math.random())));
      }
      throw new PublishError('RETRYABLE', `could not move ${ref} in ${repo} after ${maxAttempts} attempts (heavy contention?)`);
    },
    async read(path: string): Promise<Buffer | null> {
      const h = await head();
      if (!h) return null;
      return new Promise((done) => {
        execFile('git', ['cat-file', 'blob', `${h}:${path}`], { cwd: repo, encoding: 'buffer', maxBuffer: 1 << 30 }, (err, stdout) => done(err ? null : stdout));
      });
    },
  };
}
