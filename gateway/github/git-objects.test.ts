// Git object hashing checked against the real git CLI: blob, tree (nested, git's sort order) and commit SHAs.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MODE, ObjectStore, blobSha, fromGitTime, toGitTime } from './git-objects.ts';
import { SimRepository } from '../testing/github-sim/simulator.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function gitRepo(): { dir: string; git: (args: string[], input?: string | Buffer, env?: Record<string, string>) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'verdict-git-'));
  dirs.push(dir);
  const git = (args: string[], input?: string | Buffer, env: Record<string, string> = {}) =>
    execFileSync('git', args, { cwd: dir, input, env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: dir, ...env } }).toString().trim();
  git(['init', '-q']);
  return { dir, git };
}

describe('git objects', () => {
  it('blob SHAs match git hash-object for text, empty and binary content', () => {
    const { git } = gitRepo();
    for (const content of [Buffer.from('hello\n'), Buffer.alloc(0), Buffer.from([0, 255, 1, 128, 10, 13])]) {
      expect(blobSha(content)).toBe(git(['hash-object', '--stdin'], content));
    }
  });

  it('nested trees built from paths match git write-tree, including git sort order', () => {
    const { dir, git } = gitRepo();
    const files: Record<string, string> = {
      'a.b': 'dot\n',
      'a/inner.txt': 'dir a\n',
      'a-b': 'dash\n',
      a0: 'zero\n',
      'streams/gw-1/2026/11/21/000000000001.jsonl': '{"seq":1}\n',
      'streams/gw-1/2026/11/21/000000000002.jsonl': '{"seq":2}\n',
      'keys/jwks.json': '{"keys":[]}\n',
    };
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
    git(['add', '-A']);
    const expected = git(['write-tree']);

    const repo = new SimRepository(1, { login: 'o', id: 1, type: 'User' }, 'r', 'main', true, Date.now);
    const sha = repo.editTree(
      null,
      Object.entries(files).map(([path, content]) => ({
        path,
        entry: { mode: MODE.file, type: 'blob' as const, sha: repo.objects.putBlob(Buffer.from(content)) },
      })),
    );
    expect(sha).toBe(expected);
    expect(repo.listTree(sha).size).toBe(Object.keys(files).length);
  });

  it('commit SHAs match git commit-tree with the same author, committer, dates and parents', () => {
    const { git } = gitRepo();
    const tree = git(['write-tree']); // the empty tree
    const env = {
      GIT_AUTHOR_NAME: 'Verdict gateway',
      GIT_AUTHOR_EMAIL: 'verdict@example.com',
      GIT_AUTHOR_DATE: '1795248000 +0200',
      GIT_COMMITTER_NAME: 'Verdict gateway',
      GIT_COMMITTER_EMAIL: 'verdict@example.com',
      GIT_COMMITTER_DATE: '1795248000 +0200',
    };
    const first = git(['commit-tree', tree, '-m', 'first'], undefined, env);
    const second = git(['commit-tree', tree, '-p', first, '-m', 'second'], undefined, env);

    const db = new ObjectStore();
    const emptyTree = db.putTree([]);
    expect(emptyTree).toBe(tree);
    const sig = { name: 'Verdict gateway', email: 'verdict@example.com', seconds: 1795248000, tz: '+0200' };
    const c1 = db.putCommit({ tree, parents: [], author: sig, committer: sig, message: 'first\n' });
    const c2 = db.putCommit({ tree, parents: [c1], author: sig, committer: sig, message: 'second\n' });
    expect([c1, c2]).toEqual([first, second]);
    expect(db.isAncestor(c1, c2)).toBe(true);
    expect(db.isAncestor(c2, c1)).toBe(false);
  });

  it('converts ISO dates to git time and back, keeping the offset', () => {
    expect(toGitTime('2026-11-21T10:00:00+02:00')).toEqual({ seconds: 1795248000, tz: '+0200' });
    expect(toGitTime('2026-11-21T08:00:00Z')).toEqual({ seconds: 1795248000, tz: '+0000' });
    expect(fromGitTime(1795248000, '+0200')).toBe('2026-11-21T10:00:00+02:00');
    expect(fromGitTime(1795248000, '-0530')).toBe('2026-11-21T02:30:00-05:30');
    expect(fromGitTime(1795248000, '+0000')).toBe('2026-11-21T08:00:00Z');
    expect(toGitTime('yesterday')).toBeNull();
  });
});
